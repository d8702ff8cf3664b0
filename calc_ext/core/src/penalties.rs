//! Penalties (пени), ЖК РФ art. 155 p.14 / 14.1, domain spec §4.
//!
//! Day counting uses intervals instead of a daily loop: for each paid portion the accruing days
//! `[due + 31, end]` are split into the 1/300 and 1/130 stages and the pause windows are subtracted.
//! The exact sum `Σ portion × rate × (n₃₀₀/300 + n₁₃₀/130)` is rounded once.

use crate::num::{round_half_up, CalcError};
use crate::table::{Output, Table};
use std::collections::BTreeMap;

/// Regime kinds of the special-regimes table.
pub const REGIME_PAUSE: i64 = 1;
/// Rate cap: `rate = min(key, value)`.
pub const REGIME_CAP: i64 = 2;
/// Moratorium for debts of charge periods up to `value` (YYYYMM).
pub const REGIME_MORATORIUM: i64 = 3;

/// A special regime (dates inclusive).
#[derive(Debug, Clone, Copy)]
pub struct Regime {
    pub kind: i64,
    pub from: i64,
    pub to: i64,
    pub value: i64,
}

/// Key rate (bp) in force on `day`: the last entry with `date_from ≤ day`, 0 before the first.
/// `rates` must be sorted by date.
pub fn key_rate_on(rates: &[(i64, i64)], day: i64) -> i64 {
    let k = rates.partition_point(|&(d, _)| d <= day);
    if k == 0 {
        0
    } else {
        rates[k - 1].1
    }
}

/// Rate applied to a portion settled on `day` (key rate capped by cap regimes).
pub fn penalty_rate_on(rates: &[(i64, i64)], regimes: &[Regime], day: i64) -> i64 {
    let mut rate = key_rate_on(rates, day);
    for g in regimes {
        if g.kind == REGIME_CAP && g.from <= day && day <= g.to {
            rate = rate.min(g.value);
        }
    }
    rate
}

fn overlap(a: (i64, i64), b: (i64, i64)) -> i64 {
    (a.1.min(b.1) - a.0.max(b.0) + 1).max(0)
}

/// Accruing (non-paused) days in `[lo, hi]` given disjoint sorted pauses.
fn accruing(lo: i64, hi: i64, pauses: &[(i64, i64)]) -> i64 {
    if hi < lo {
        return 0;
    }
    let paused: i64 = pauses.iter().map(|&p| overlap((lo, hi), p)).sum();
    hi - lo + 1 - paused
}

/// Paused windows applying to a debt of `period`, merged into disjoint sorted intervals.
pub fn pauses_for(regimes: &[Regime], period: i64) -> Vec<(i64, i64)> {
    let mut v: Vec<(i64, i64)> = regimes
        .iter()
        .filter(|g| g.kind == REGIME_PAUSE || (g.kind == REGIME_MORATORIUM && period <= g.value))
        .filter(|g| g.from <= g.to)
        .map(|g| (g.from, g.to))
        .collect();
    v.sort();
    let mut merged: Vec<(i64, i64)> = Vec::new();
    for (a, b) in v {
        match merged.last_mut() {
            Some(last) if a <= last.1 + 1 => last.1 = last.1.max(b),
            _ => merged.push((a, b)),
        }
    }
    merged
}

/// Result of one debt month.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PenaltyResult {
    pub penalty_kop: i64,
    pub days_300: i64,
    pub days_130: i64,
    pub rate_bp: i64,
    pub unpaid_kop: i64,
}

/// Inputs of one debt month.
#[derive(Debug, Clone, Copy)]
pub struct DebtMonth {
    pub period: i64,
    pub amount_kop: i64,
    pub due: i64,
    pub capital_repair: bool,
}

/// Penalty of one debt month at `calc_date`; `payments` are (day, kopecks) applied to it.
pub fn penalty_for_debt(
    debt: DebtMonth,
    calc_date: i64,
    payments: &[(i64, i64)],
    rates: &[(i64, i64)],
    regimes: &[Regime],
) -> Result<PenaltyResult, CalcError> {
    let mut pays = payments.to_vec();
    pays.sort();
    let mut portions: Vec<(i64, i64)> = Vec::new();
    let mut left = debt.amount_kop;
    for (day, amt) in pays {
        if day > calc_date || left <= 0 {
            continue;
        }
        let a = amt.min(left);
        if a > 0 {
            portions.push((day, a));
            left -= a;
        }
    }
    if left > 0 {
        portions.push((calc_date, left));
    }
    let pauses = pauses_for(regimes, debt.period);
    // numerator in kopecks × bp × (1/300 → 130, 1/130 → 300); denominator 10 000 × 39 000
    let mut num: i128 = 0;
    let (mut d300, mut d130, mut rate_bp) = (0, 0, 0);
    for (end, portion) in portions {
        let rate = penalty_rate_on(rates, regimes, end);
        let start300 = debt.due + 31;
        let (n300, n130) = if debt.capital_repair {
            (accruing(start300, end, &pauses), 0)
        } else {
            (
                accruing(start300, end.min(debt.due + 90), &pauses),
                accruing(debt.due + 91, end, &pauses),
            )
        };
        let days = (n300 as i128) * 130 + (n130 as i128) * 300;
        let term = (portion as i128)
            .checked_mul(rate as i128)
            .and_then(|x| x.checked_mul(days))
            .ok_or_else(|| CalcError::Overflow("penalty".into()))?;
        num = num
            .checked_add(term)
            .ok_or_else(|| CalcError::Overflow("penalty".into()))?;
        d300 = n300;
        d130 = n130;
        rate_bp = rate;
    }
    Ok(PenaltyResult {
        penalty_kop: round_half_up(num, 10_000 * 39_000)?,
        days_300: d300,
        days_130: d130,
        rate_bp,
        unpaid_kop: left,
    })
}

/// Columnar `compute_penalties`.
pub fn compute(
    debts: &Table,
    paid: &Table,
    key_rates: &Table,
    regimes: &Table,
    calc_date: i64,
) -> Result<Output, CalcError> {
    let (period, amount, capital, due, posted) = (
        debts.get("period")?,
        debts.get("amount_kop")?,
        debts.get("capital_repair")?,
        debts.get("due_date")?,
        debts.get("posted_kop")?,
    );
    let (prow, pday, pamt) = (
        paid.get("debt_row")?,
        paid.get("pay_date")?,
        paid.get("amount_kop")?,
    );
    let mut rates: Vec<(i64, i64)> = key_rates
        .get("date_from")?
        .iter()
        .copied()
        .zip(key_rates.get("rate_bp")?.iter().copied())
        .collect();
    rates.sort();
    // Same-date duplicates: the larger rate wins (sorted tuples), as in the Python reference.
    let (rk, rf, rt, rv) = (
        regimes.get("kind")?,
        regimes.get("date_from")?,
        regimes.get("date_to")?,
        regimes.get("value")?,
    );
    let regs: Vec<Regime> = (0..regimes.len())
        .map(|i| Regime {
            kind: rk[i],
            from: rf[i],
            to: rt[i],
            value: rv[i],
        })
        .collect();
    let mut per_debt: BTreeMap<usize, Vec<(i64, i64)>> = BTreeMap::new();
    for i in 0..paid.len() {
        let r = usize::try_from(prow[i])
            .ok()
            .filter(|&r| r < debts.len())
            .ok_or_else(|| CalcError::Input(format!("paid row {i}: debt_row out of range")))?;
        per_debt.entry(r).or_default().push((pday[i], pamt[i]));
    }
    let n = debts.len();
    let mut out: [Vec<i64>; 6] = Default::default();
    let empty = Vec::new();
    for i in 0..n {
        let res = penalty_for_debt(
            DebtMonth {
                period: period[i],
                amount_kop: amount[i],
                due: due[i],
                capital_repair: capital[i] != 0,
            },
            calc_date,
            per_debt.get(&i).unwrap_or(&empty),
            &rates,
            &regs,
        )?;
        out[0].push(res.penalty_kop);
        out[1].push(res.penalty_kop - posted[i]);
        out[2].push(res.days_300);
        out[3].push(res.days_130);
        out[4].push(res.rate_bp);
        out[5].push(res.unpaid_kop);
    }
    let [a, b, c, d, e, f] = out;
    Ok(vec![
        ("penalty_kop", a),
        ("delta_kop", b),
        ("days_300", c),
        ("days_130", d),
        ("rate_bp", e),
        ("unpaid_kop", f),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::date::{days_from_civil as ymd, due_date};

    fn rates() -> Vec<(i64, i64)> {
        vec![
            (ymd(2022, 9, 19), 750),
            (ymd(2023, 7, 24), 850),
            (ymd(2024, 10, 28), 2_100),
        ]
    }

    fn regimes() -> Vec<Regime> {
        vec![
            Regime {
                kind: REGIME_PAUSE,
                from: ymd(2020, 4, 6),
                to: ymd(2020, 12, 31),
                value: 0,
            },
            Regime {
                kind: REGIME_MORATORIUM,
                from: ymd(2022, 4, 1),
                to: ymd(2022, 9, 30),
                value: 202_203,
            },
            Regime {
                kind: REGIME_CAP,
                from: ymd(2022, 2, 28),
                to: ymd(2026, 12, 31),
                value: 950,
            },
        ]
    }

    fn jan25(amount: i64, capital: bool) -> DebtMonth {
        DebtMonth {
            period: 202_501,
            amount_kop: amount,
            due: due_date(202_501),
            capital_repair: capital,
        }
    }

    #[test]
    fn example_4a_paid_in_full() {
        let r = penalty_for_debt(
            jan25(500_000, false),
            ymd(2025, 6, 30),
            &[(ymd(2025, 6, 30), 500_000)],
            &rates(),
            &regimes(),
        )
        .unwrap();
        assert_eq!((r.days_300, r.days_130, r.rate_bp), (60, 50, 950));
        assert_eq!(r.penalty_kop, 27_769);
    }

    #[test]
    fn example_4b_unpaid_at_month_end() {
        let r = penalty_for_debt(
            jan25(500_000, false),
            ymd(2025, 3, 31),
            &[],
            &rates(),
            &regimes(),
        )
        .unwrap();
        assert_eq!(r.days_300, 19);
        assert_eq!(r.penalty_kop, 3_008);
    }

    #[test]
    fn example_4c_partial_payment() {
        let pays = [(ymd(2025, 4, 20), 200_000), (ymd(2025, 6, 30), 300_000)];
        let r = penalty_for_debt(
            jan25(500_000, false),
            ymd(2025, 6, 30),
            &pays,
            &rates(),
            &regimes(),
        )
        .unwrap();
        assert_eq!(r.penalty_kop, 19_132);
    }

    #[test]
    fn example_4d_key_rate_below_cap() {
        let d = DebtMonth {
            period: 202_211,
            amount_kop: 300_000,
            due: due_date(202_211),
            capital_repair: false,
        };
        let r = penalty_for_debt(
            d,
            ymd(2023, 3, 1),
            &[(ymd(2023, 3, 1), 300_000)],
            &rates(),
            &regimes(),
        )
        .unwrap();
        assert_eq!((r.days_300, r.rate_bp), (51, 750));
        assert_eq!(r.penalty_kop, 3_825);
    }

    #[test]
    fn example_4e_capital_repair() {
        let r = penalty_for_debt(
            jan25(84_165, true),
            ymd(2025, 6, 30),
            &[],
            &rates(),
            &regimes(),
        )
        .unwrap();
        assert_eq!((r.days_300, r.days_130), (110, 0));
        assert_eq!(r.penalty_kop, 2_932);
    }

    #[test]
    fn example_4f_due_on_the_15th() {
        let due = due_date(202_602);
        assert_eq!(due, ymd(2026, 3, 15));
        assert_eq!(due + 31, ymd(2026, 4, 15));
    }

    #[test]
    fn pause_2020_keeps_counting_days() {
        let d = DebtMonth {
            period: 202_002,
            amount_kop: 100_000,
            due: due_date(202_002),
            capital_repair: false,
        };
        let rates = vec![(ymd(2020, 2, 10), 600)];
        // due 10.03.2020: day 31 = 10.04.2020 is already paused; nothing accrues until 31.12.2020
        let r = penalty_for_debt(d, ymd(2020, 12, 31), &[], &rates, &regimes()).unwrap();
        assert_eq!(r.penalty_kop, 0);
        // from 01.01.2021 the counter is far past day 91: 1/130 at once
        let r = penalty_for_debt(d, ymd(2021, 1, 10), &[], &rates, &regimes()).unwrap();
        assert_eq!((r.days_300, r.days_130), (0, 10));
    }
}
