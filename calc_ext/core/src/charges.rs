//! Monthly charges, domain spec §1 (Rules 354, Приложение 2).
//!
//! Each row yields one charge line: `amount = round_half_up(V × T × k × share)` kopecks, with the
//! volume `V` by method (see [`Method`]). Scales: volumes/readings/norms ×10⁶, tariffs ×10⁴ rub,
//! areas ×10⁴ m², coefficient ×10⁴, `share = share_num / share_den`.

use crate::date::days_in_period;
use crate::num::{CalcError, Q};
use crate::table::{Output, Table};

/// Scale of volumes, readings and norms.
pub const VOL: i64 = 1_000_000;
/// Scale of tariffs (rubles) and areas (m²) and coefficients.
pub const X4: i64 = 10_000;

/// Charge method codes (`method`, `method_applied` columns).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// ИПУ: `V = reading_curr − reading_prev`.
    Meter = 1,
    /// Norm: `V = N × person_days / days_in_month`, with the coefficient.
    Norm = 2,
    /// Heating by norm: `V = S × N_T`.
    HeatNorm = 3,
    /// Heating by ОДПУ: `V = V_D × S / S_об`.
    HeatOdpu = 4,
    /// Per-m² service: `V = S`.
    Area = 5,
    /// КР на СОИ (§1.2).
    Soi = 6,
    /// Volume given.
    Volume = 7,
    /// Readings missing (§1.3): average, then norm.
    Average = 8,
    /// Two-component hot water, heat part: `V = V_hw × q`.
    HwHeat = 9,
}

impl Method {
    /// Decode a method code.
    pub fn from_code(code: i64) -> Result<Method, CalcError> {
        Ok(match code {
            1 => Method::Meter,
            2 => Method::Norm,
            3 => Method::HeatNorm,
            4 => Method::HeatOdpu,
            5 => Method::Area,
            6 => Method::Soi,
            7 => Method::Volume,
            8 => Method::Average,
            9 => Method::HwHeat,
            _ => return Err(CalcError::Input(format!("unknown charge method {code}"))),
        })
    }
}

/// Inputs of one charge line (scaled integers).
#[derive(Debug, Clone, Copy, Default)]
pub struct ChargeRow {
    pub period: i64,
    pub method: i64,
    pub reading_prev_x6: i64,
    pub reading_curr_x6: i64,
    pub volume_x6: i64,
    pub tariff_x4: i64,
    pub norm_x6: i64,
    pub person_days: i64,
    pub area_x4: i64,
    pub total_area_x4: i64,
    pub common_area_x4: i64,
    pub house_volume_x6: i64,
    pub indiv_volume_x6: i64,
    pub has_house_meter: i64,
    pub soi_by_actual: i64,
    pub soi_allow_negative: i64,
    pub coef_x4: i64,
    pub share_num: i64,
    pub share_den: i64,
    pub hist_volume_x6: i64,
    pub hist_months: i64,
    pub missing_seq: i64,
    pub meter_failed: i64,
}

impl ChargeRow {
    /// A row with the documented defaults (coefficient 1, share 1/1, house meter present).
    pub fn new(period: i64, method: Method, tariff_x4: i64) -> Self {
        ChargeRow {
            period,
            method: method as i64,
            tariff_x4,
            has_house_meter: 1,
            coef_x4: X4,
            share_num: 1,
            share_den: 1,
            ..Default::default()
        }
    }
}

/// The computed charge line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChargeLine {
    pub method_applied: i64,
    pub volume_x6: i64,
    pub coef_x4: i64,
    pub amount_kop: i64,
    pub base_kop: i64,
    pub increase_kop: i64,
}

fn vol(x: i64) -> Result<Q, CalcError> {
    Q::scaled(x, VOL)
}

fn x4(x: i64) -> Result<Q, CalcError> {
    Q::scaled(x, X4)
}

/// Formula 4: `N × person_days / days_in_month`.
pub fn volume_norm(norm_x6: i64, person_days: i64, dim: i64) -> Result<Q, CalcError> {
    vol(norm_x6)?.mul_q(Q::new(person_days as i128, dim as i128)?)
}

/// §1.2: the КР на СОИ volume of one premises.
pub fn volume_soi(r: &ChargeRow) -> Result<Q, CalcError> {
    let cap = vol(r.norm_x6)?.mul_q(x4(r.common_area_x4)?)?;
    let dist = if r.has_house_meter == 0 {
        cap
    } else {
        let mut v = vol(r.house_volume_x6)?.sub_q(vol(r.indiv_volume_x6)?)?;
        if r.soi_allow_negative == 0 {
            v = v.max(Q::int(0))?;
        }
        if r.soi_by_actual == 0 {
            v = v.min(cap)?;
        }
        v
    };
    dist.mul_q(x4(r.area_x4)?)?.div_q(x4(r.total_area_x4)?)
}

/// §1.3: average volume for at most 3 periods with ≥ 3 months of history.
pub fn averaging_applies(hist_months: i64, missing_seq: i64) -> bool {
    hist_months >= 3 && (1..=3).contains(&missing_seq)
}

/// Compute one line.
pub fn charge_line(r: &ChargeRow) -> Result<ChargeLine, CalcError> {
    let method = Method::from_code(r.method)?;
    let dim = days_in_period(r.period)?;
    if r.share_den <= 0 {
        return Err(CalcError::Input("share_den must be positive".into()));
    }
    let share = Q::new(r.share_num as i128, r.share_den as i128)?;
    let mut applied = method;
    let v = match method {
        Method::Meter => vol(r.reading_curr_x6)?.sub_q(vol(r.reading_prev_x6)?)?,
        Method::Norm => volume_norm(r.norm_x6, r.person_days, dim)?,
        Method::HeatNorm => x4(r.area_x4)?.mul_q(vol(r.norm_x6)?)?,
        Method::HeatOdpu => vol(r.house_volume_x6)?
            .mul_q(x4(r.area_x4)?)?
            .div_q(x4(r.total_area_x4)?)?,
        Method::Area => x4(r.area_x4)?,
        Method::Soi => volume_soi(r)?,
        Method::Volume => vol(r.volume_x6)?,
        Method::HwHeat => vol(r.volume_x6)?.mul_q(vol(r.norm_x6)?)?,
        Method::Average => {
            if averaging_applies(r.hist_months, r.missing_seq) {
                vol(r.hist_volume_x6)?.div_q(Q::int(r.hist_months))?
            } else {
                applied = Method::Norm;
                volume_norm(r.norm_x6, r.person_days, dim)?
            }
        }
    };
    let use_coef = applied == Method::Norm && (method == Method::Norm || r.meter_failed != 0);
    let coef = if use_coef { x4(r.coef_x4)? } else { Q::int(1) };
    let tariff = x4(r.tariff_x4)?;
    let base_q = v.mul_q(tariff)?.mul_q(share)?;
    let base = base_q.round_scaled(100)?;
    let amount = if coef.is_one() {
        base
    } else {
        base_q.mul_q(coef)?.round_scaled(100)?
    };
    Ok(ChargeLine {
        method_applied: applied as i64,
        volume_x6: v.mul_q(share)?.round_scaled(VOL)?,
        coef_x4: coef.round_scaled(X4)?,
        amount_kop: amount,
        base_kop: base,
        increase_kop: amount - base,
    })
}

/// Column names of the charges batch, in [`ChargeRow`] field order.
pub const INPUTS: [&str; 23] = [
    "period",
    "method",
    "reading_prev_x6",
    "reading_curr_x6",
    "volume_x6",
    "tariff_x4",
    "norm_x6",
    "person_days",
    "area_x4",
    "total_area_x4",
    "common_area_x4",
    "house_volume_x6",
    "indiv_volume_x6",
    "has_house_meter",
    "soi_by_actual",
    "soi_allow_negative",
    "coef_x4",
    "share_num",
    "share_den",
    "hist_volume_x6",
    "hist_months",
    "missing_seq",
    "meter_failed",
];

/// Columnar `compute_charges`.
pub fn compute(t: &Table) -> Result<Output, CalcError> {
    let c: Vec<&[i64]> = INPUTS.iter().map(|n| t.get(n)).collect::<Result<_, _>>()?;
    let n = t.len();
    let mut out: [Vec<i64>; 6] = Default::default();
    for o in out.iter_mut() {
        o.reserve(n);
    }
    for i in 0..n {
        let r = ChargeRow {
            period: c[0][i],
            method: c[1][i],
            reading_prev_x6: c[2][i],
            reading_curr_x6: c[3][i],
            volume_x6: c[4][i],
            tariff_x4: c[5][i],
            norm_x6: c[6][i],
            person_days: c[7][i],
            area_x4: c[8][i],
            total_area_x4: c[9][i],
            common_area_x4: c[10][i],
            house_volume_x6: c[11][i],
            indiv_volume_x6: c[12][i],
            has_house_meter: c[13][i],
            soi_by_actual: c[14][i],
            soi_allow_negative: c[15][i],
            coef_x4: c[16][i],
            share_num: c[17][i],
            share_den: c[18][i],
            hist_volume_x6: c[19][i],
            hist_months: c[20][i],
            missing_seq: c[21][i],
            meter_failed: c[22][i],
        };
        let l = charge_line(&r).map_err(|e| match e {
            CalcError::Input(m) => CalcError::Input(format!("charges row {i}: {m}")),
            CalcError::Overflow(m) => CalcError::Overflow(format!("charges row {i}: {m}")),
        })?;
        out[0].push(l.method_applied);
        out[1].push(l.volume_x6);
        out[2].push(l.coef_x4);
        out[3].push(l.amount_kop);
        out[4].push(l.base_kop);
        out[5].push(l.increase_kop);
    }
    let [a, b, c2, d, e, f] = out;
    Ok(vec![
        ("method_applied", a),
        ("volume_x6", b),
        ("coef_x4", c2),
        ("amount_kop", d),
        ("base_kop", e),
        ("increase_kop", f),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i64 = 543_000; // 54.3 m²
    const S_OB: i64 = 84_507_000; // 8450.7 m²
    const T_CW: i64 = 529_300; // 52.93 ₽/m³
    const T_HEAT: i64 = 28_504_000; // 2850.40 ₽/Gcal

    fn amount(r: ChargeRow) -> i64 {
        charge_line(&r).unwrap().amount_kop
    }

    #[test]
    fn example_1a_meter() {
        let mut r = ChargeRow::new(202_504, Method::Meter, T_CW);
        r.reading_prev_x6 = 123_456_000;
        r.reading_curr_x6 = 131_210_000;
        let l = charge_line(&r).unwrap();
        assert_eq!(l.volume_x6, 7_754_000);
        assert_eq!(l.amount_kop, 41_042);
    }

    #[test]
    fn example_1b_1c_norm_and_coefficient() {
        let mut r = ChargeRow::new(202_504, Method::Norm, T_CW);
        r.norm_x6 = 4_850_000;
        r.person_days = 90; // 3 persons × 30 days
        assert_eq!(amount(r), 77_013);
        r.coef_x4 = 15_000;
        let l = charge_line(&r).unwrap();
        assert_eq!(l.amount_kop, 115_520);
        assert_eq!(l.increase_kop, 38_507);
    }

    #[test]
    fn example_1d_heating_norm() {
        let mut r = ChargeRow::new(202_501, Method::HeatNorm, T_HEAT);
        r.area_x4 = S;
        r.norm_x6 = 16_500;
        assert_eq!(amount(r), 255_382);
    }

    #[test]
    fn example_1e_heating_odpu() {
        let mut r = ChargeRow::new(202_501, Method::HeatOdpu, T_HEAT);
        r.area_x4 = S;
        r.total_area_x4 = S_OB;
        r.house_volume_x6 = 185_320_000;
        let l = charge_line(&r).unwrap();
        assert_eq!(l.volume_x6, 1_190_774);
        assert_eq!(l.amount_kop, 339_418);
    }

    #[test]
    fn example_1f_two_zones() {
        let mut day = ChargeRow::new(202_504, Method::Meter, 64_300);
        day.reading_curr_x6 = 180_000_000;
        let mut night = ChargeRow::new(202_504, Method::Meter, 31_200);
        night.reading_curr_x6 = 75_000_000;
        assert_eq!(amount(day), 115_740);
        assert_eq!(amount(night), 23_400);
        assert_eq!(amount(day) + amount(night), 139_140);
    }

    #[test]
    fn example_1g_per_square_metre() {
        let mut r = ChargeRow::new(202_504, Method::Area, 287_500);
        r.area_x4 = S;
        assert_eq!(amount(r), 156_113);
        r.tariff_x4 = 155_000;
        assert_eq!(amount(r), 84_165);
    }

    #[test]
    fn example_1h_soi_cap() {
        let mut r = ChargeRow::new(202_504, Method::Soi, 64_300);
        r.area_x4 = S;
        r.total_area_x4 = S_OB;
        r.common_area_x4 = 6_200_000;
        r.norm_x6 = 950_000;
        r.house_volume_x6 = 12_500_000_000;
        r.indiv_volume_x6 = 11_800_000_000;
        let l = charge_line(&r).unwrap();
        assert_eq!(l.volume_x6, 3_784_621);
        assert_eq!(l.amount_kop, 2_434);
    }

    #[test]
    fn example_1i_person_days() {
        let mut r = ChargeRow::new(202_504, Method::Norm, T_CW);
        r.norm_x6 = 4_850_000;
        r.person_days = 70;
        assert_eq!(amount(r), 59_899);
    }

    #[test]
    fn example_1j_average_then_norm() {
        let mut r = ChargeRow::new(202_501, Method::Average, T_CW);
        r.hist_volume_x6 = 18_400_000;
        r.hist_months = 6;
        r.norm_x6 = 4_850_000;
        let mut total = 0;
        for (seq, period, days) in [(1, 202_501, 31), (2, 202_502, 28), (3, 202_503, 31)] {
            r.missing_seq = seq;
            r.period = period;
            r.person_days = 2 * days;
            let l = charge_line(&r).unwrap();
            assert_eq!(l.method_applied, Method::Average as i64);
            assert_eq!(l.amount_kop, 16_232);
            total += l.amount_kop;
        }
        r.missing_seq = 4;
        r.period = 202_504;
        r.person_days = 60;
        let l = charge_line(&r).unwrap();
        assert_eq!(l.method_applied, Method::Norm as i64);
        assert_eq!(l.amount_kop, 51_342);
        assert_eq!(total + l.amount_kop, 100_038);
    }
}
