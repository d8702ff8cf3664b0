//! Temporary-absence recalculation, domain spec §2.1 (Rules 354 pp.86–93).

use crate::date::{days_in_period, period_bounds};
use crate::num::{round_half_up, CalcError};
use crate::table::{Output, Table};

/// Absence must exceed 5 full days.
pub const MIN_ABSENCE_DAYS: i64 = 6;

/// Full days of absence (departure and return days excluded).
pub fn full_days(depart: i64, ret: i64) -> i64 {
    (ret - depart - 1).max(0)
}

/// Full absence days inside `period` (0 unless the absence exceeds 5 full days).
pub fn days_in(depart: i64, ret: i64, period: i64) -> Result<i64, CalcError> {
    if full_days(depart, ret) < MIN_ABSENCE_DAYS {
        return Ok(0);
    }
    let (start, end) = period_bounds(period)?;
    let first = (depart + 1).max(start);
    let last = (ret - 1).min(end);
    Ok((last - first + 1).max(0))
}

/// `−round_half_up(N × T × persons × days / days_in_month)` kopecks (N ×10⁶, T ×10⁴ rub).
pub fn delta(
    norm_x6: i64,
    tariff_x4: i64,
    persons: i64,
    days: i64,
    dim: i64,
) -> Result<i64, CalcError> {
    let num = norm_x6 as i128 * tariff_x4 as i128 * persons as i128 * days as i128 * 100;
    Ok(-round_half_up(num, 10_000_000_000i128 * dim as i128)?)
}

/// Columnar `absence_recalc`.
pub fn compute(t: &Table) -> Result<Output, CalcError> {
    let names = [
        "period",
        "norm_x6",
        "tariff_x4",
        "coef_x4",
        "persons",
        "depart_date",
        "return_date",
        "eligible",
    ];
    let c: Vec<&[i64]> = names.iter().map(|n| t.get(n)).collect::<Result<_, _>>()?;
    let mut out: [Vec<i64>; 3] = Default::default();
    for i in 0..t.len() {
        let (period, dep, ret) = (c[0][i], c[5][i], c[6][i]);
        let ok = c[7][i] != 0 && c[3][i] == 10_000;
        let days = days_in(dep, ret, period)?;
        out[0].push(if ok { days } else { 0 });
        out[1].push(full_days(dep, ret));
        out[2].push(if ok {
            delta(c[1][i], c[2][i], c[4][i], days, days_in_period(period)?)?
        } else {
            0
        });
    }
    let [a, b, d] = out;
    Ok(vec![
        ("absent_days", a),
        ("total_days", b),
        ("delta_kop", d),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::date::days_from_civil as ymd;

    #[test]
    fn example_2_1() {
        let days = days_in(ymd(2025, 4, 10), ymd(2025, 4, 25), 202_504).unwrap();
        assert_eq!(days, 14);
        let d = delta(4_850_000, 529_300, 1, days, 30).unwrap();
        assert_eq!(d, -11_980);
        assert_eq!(77_013 + d, 65_033);
        // 10.04 → 16.04: 5 full days, not more than 5
        assert_eq!(
            days_in(ymd(2025, 4, 10), ymd(2025, 4, 16), 202_504).unwrap(),
            0
        );
    }
}
