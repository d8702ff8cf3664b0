//! Reductions for poor quality and interruptions, Rules 354 Приложение 1, domain spec §3.
//!
//! Shares are exact rationals over 60 × 10⁶ (minutes × ppm); the reduction of an (account, service,
//! period) is `round_half_up(P × min(Σ share, 1))`, once.

use crate::num::{round_half_up, CalcError};
use crate::table::{Output, Table};
use std::collections::HashMap;

/// Rule kinds of the Appendix 1 table.
pub const KIND_INTERRUPTION: i64 = 1;
/// Hot-water temperature (3 °C steps).
pub const KIND_HW_TEMP: i64 = 2;
/// Room temperature (per degree).
pub const KIND_HEAT_TEMP: i64 = 3;
/// Hot water below 40 °C is billed at the cold-water tariff.
pub const HW_COLD_LIMIT_DC: i64 = 400;

/// One rule of the table.
#[derive(Debug, Clone, Copy)]
pub struct Rule {
    pub kind: i64,
    pub allowed_min: i64,
    pub rate_ppm: i64,
    pub step_dc: i64,
    pub dev_day_dc: i64,
    pub dev_night_dc: i64,
}

/// Full steps below `norm − allowed deviation` (floored; 0 when within the allowance).
pub fn temperature_steps(rule: &Rule, norm_dc: i64, temp_dc: i64, night: bool) -> i64 {
    let dev = if night {
        rule.dev_night_dc
    } else {
        rule.dev_day_dc
    };
    let shortfall = norm_dc - dev - temp_dc;
    if shortfall > 0 && rule.step_dc > 0 {
        shortfall / rule.step_dc
    } else {
        0
    }
}

/// Share denominator: minutes per hour × ppm.
pub const SHARE_DEN: i128 = 60 * 1_000_000;

/// `round_half_up(charge × min(share, 1))` with `share = share_num / SHARE_DEN`.
pub fn reduction(charge_kop: i64, share_num: i128) -> Result<i64, CalcError> {
    if charge_kop <= 0 {
        return Ok(0);
    }
    round_half_up(charge_kop as i128 * share_num.min(SHARE_DEN), SHARE_DEN)
}

struct Group {
    key: (i64, i64, i64),
    charge: i64,
    minutes: Vec<(i64, i64)>, // (rule code, total minutes) of interruption rules, first-appearance order
    temp_share: i128,
    below_40: i64,
}

/// Columnar `reductions`: one row per (account, service, period), first-appearance order.
pub fn compute(events: &Table, rules: &Table) -> Result<Output, CalcError> {
    let names = [
        "account_id",
        "service_id",
        "period",
        "rule_code",
        "charge_kop",
        "duration_min",
        "norm_temp_dc",
        "temp_dc",
        "night",
    ];
    let e: Vec<&[i64]> = names
        .iter()
        .map(|n| events.get(n))
        .collect::<Result<_, _>>()?;
    let rn = [
        "code",
        "kind",
        "allowed_min",
        "rate_ppm",
        "step_dc",
        "dev_day_dc",
        "dev_night_dc",
    ];
    let r: Vec<&[i64]> = rn.iter().map(|n| rules.get(n)).collect::<Result<_, _>>()?;
    let mut table: HashMap<i64, Rule> = HashMap::new();
    for i in 0..rules.len() {
        table.insert(
            r[0][i],
            Rule {
                kind: r[1][i],
                allowed_min: r[2][i],
                rate_ppm: r[3][i],
                step_dc: r[4][i],
                dev_day_dc: r[5][i],
                dev_night_dc: r[6][i],
            },
        );
    }
    let mut groups: Vec<Group> = Vec::new();
    let mut index: HashMap<(i64, i64, i64), usize> = HashMap::new();
    for i in 0..events.len() {
        let key = (e[0][i], e[1][i], e[2][i]);
        let g = *index.entry(key).or_insert_with(|| {
            groups.push(Group {
                key,
                charge: e[4][i],
                minutes: Vec::new(),
                temp_share: 0,
                below_40: 0,
            });
            groups.len() - 1
        });
        let code = e[3][i];
        let rule = table.get(&code).ok_or_else(|| {
            CalcError::Input(format!("unknown quality rule code {code} at row {i}"))
        })?;
        let grp = &mut groups[g];
        if rule.kind == KIND_INTERRUPTION {
            match grp.minutes.iter_mut().find(|(c, _)| *c == code) {
                Some(m) => m.1 += e[5][i],
                None => grp.minutes.push((code, e[5][i])),
            }
        } else {
            let steps = temperature_steps(rule, e[6][i], e[7][i], e[8][i] != 0);
            grp.temp_share += rule.rate_ppm as i128 * e[5][i] as i128 * steps as i128;
            if rule.kind == KIND_HW_TEMP && e[7][i] < HW_COLD_LIMIT_DC {
                grp.below_40 += 1;
            }
        }
    }
    let mut out: [Vec<i64>; 8] = Default::default();
    for g in &groups {
        let mut share = g.temp_share;
        let mut excess_total = 0;
        for &(code, minutes) in &g.minutes {
            let rule = &table[&code];
            let excess = (minutes - rule.allowed_min).max(0);
            excess_total += excess;
            share += rule.rate_ppm as i128 * excess as i128;
        }
        out[0].push(g.key.0);
        out[1].push(g.key.1);
        out[2].push(g.key.2);
        out[3].push(g.charge);
        out[4].push(reduction(g.charge, share)?);
        out[5].push(round_half_up(share, 60)?);
        out[6].push(excess_total);
        out[7].push(g.below_40);
    }
    let [a, b, c, d, f, s, x, w] = out;
    Ok(vec![
        ("account_id", a),
        ("service_id", b),
        ("period", c),
        ("charge_kop", d),
        ("reduction_kop", f),
        ("share_ppm", s),
        ("excess_min", x),
        ("below_40", w),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    const INTERRUPT: Rule = Rule {
        kind: KIND_INTERRUPTION,
        allowed_min: 480,
        rate_ppm: 1_500,
        step_dc: 0,
        dev_day_dc: 0,
        dev_night_dc: 0,
    };

    fn interruption(charge: i64, allowed_min: i64, hours: i64) -> i64 {
        let excess = (hours * 60 - allowed_min).max(0);
        reduction(charge, INTERRUPT.rate_ppm as i128 * excess as i128).unwrap()
    }

    #[test]
    fn example_3a_cold_water_interruption() {
        assert_eq!(interruption(77_013, 480, 20), 1_386);
    }

    #[test]
    fn example_3b_hot_water_temperature() {
        let hw = Rule {
            kind: KIND_HW_TEMP,
            allowed_min: 0,
            rate_ppm: 1_000,
            step_dc: 30,
            dev_day_dc: 30,
            dev_night_dc: 50,
        };
        let steps = temperature_steps(&hw, 600, 500, false);
        assert_eq!(steps, 2);
        assert_eq!(
            reduction(94_005, 1_000 * 100 * 60 * steps as i128).unwrap(),
            18_801
        );
    }

    #[test]
    fn example_3c_heating_interruption() {
        assert_eq!(interruption(255_382, 1_440, 40), 6_129);
    }

    #[test]
    fn example_3d_room_temperature() {
        let heat = Rule {
            kind: KIND_HEAT_TEMP,
            allowed_min: 0,
            rate_ppm: 1_500,
            step_dc: 10,
            dev_day_dc: 0,
            dev_night_dc: 30,
        };
        let degrees = temperature_steps(&heat, 180, 160, false);
        assert_eq!(degrees, 2);
        assert_eq!(
            reduction(255_382, 1_500 * 72 * 60 * degrees as i128).unwrap(),
            55_163
        );
    }

    #[test]
    fn example_3e_electricity_one_source() {
        assert_eq!(interruption(139_140, 1_440, 30), 1_252);
    }

    #[test]
    fn reduction_is_capped_at_the_charge() {
        assert_eq!(reduction(10_000, SHARE_DEN * 3), Ok(10_000));
    }
}
