//! Calendar arithmetic on day numbers (days since 1970-01-01) and `YYYYMM` periods.

use crate::num::CalcError;

/// Day number of a civil date (proleptic Gregorian).
pub fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Civil date `(year, month, day)` of a day number.
pub fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

/// Days in a month.
pub fn month_days(y: i64, m: i64) -> i64 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if is_leap(y) => 29,
        _ => 28,
    }
}

/// Validate a `YYYYMM` period and split it.
pub fn split_period(period: i64) -> Result<(i64, i64), CalcError> {
    let (y, m) = (period / 100, period % 100);
    if !(1..=12).contains(&m) || y < 1900 {
        return Err(CalcError::Input(format!("period {period} is not YYYYMM")));
    }
    Ok((y, m))
}

/// Days of the billing period `YYYYMM`.
pub fn days_in_period(period: i64) -> Result<i64, CalcError> {
    let (y, m) = split_period(period)?;
    Ok(month_days(y, m))
}

/// Period shifted by `months`.
pub fn add_months(period: i64, months: i64) -> i64 {
    let (y, m) = (period / 100, period % 100);
    let idx = y * 12 + (m - 1) + months;
    idx.div_euclid(12) * 100 + idx.rem_euclid(12) + 1
}

/// First and last day numbers of a period.
pub fn period_bounds(period: i64) -> Result<(i64, i64), CalcError> {
    let (y, m) = split_period(period)?;
    let first = days_from_civil(y, m, 1);
    Ok((first, first + month_days(y, m) - 1))
}

/// First charge period whose payment is due on the 15th (due in March 2026 or later).
pub const DUE_15_FROM_PERIOD: i64 = 202_602;

/// Due date of the charges of `period`: the 10th of the next month, the 15th from March 2026 (§4.1).
pub fn due_date(period: i64) -> i64 {
    let next = add_months(period, 1);
    let day = if period >= DUE_15_FROM_PERIOD { 15 } else { 10 };
    days_from_civil(next / 100, next % 100, day)
}

/// The same calendar day `years` later (29 Feb → 28 Feb).
pub fn add_years(day: i64, years: i64) -> i64 {
    let (y, m, d) = civil_from_days(day);
    let ny = y + years;
    let d = d.min(month_days(ny, m));
    days_from_civil(ny, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip() {
        for z in [-1000, 0, 19_000, 20_129, 60_000] {
            let (y, m, d) = civil_from_days(z);
            assert_eq!(days_from_civil(y, m, d), z);
        }
        assert_eq!(days_from_civil(2025, 2, 10), 20_129);
    }

    #[test]
    fn due_dates() {
        assert_eq!(civil_from_days(due_date(202_501)), (2025, 2, 10));
        assert_eq!(civil_from_days(due_date(202_601)), (2026, 2, 10));
        // example 4f: February 2026 charges are due on 15.03.2026
        assert_eq!(civil_from_days(due_date(202_602)), (2026, 3, 15));
        assert_eq!(
            civil_from_days(add_years(days_from_civil(2024, 2, 29), 1)),
            (2025, 2, 28)
        );
    }
}
