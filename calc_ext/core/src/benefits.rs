//! Benefits (льготы), domain spec §1.5:
//! `benefit = round_half_up(charged × share × covered / registered × active_days / days)`, ≤ charge.

use crate::date::days_in_period;
use crate::num::{round_half_up, CalcError};
use crate::table::{Output, Table};

/// Benefit of one charge line in kopecks (`share_bp < 0`: subsidy without share → 0).
pub fn benefit_amount(
    charged_kop: i64,
    share_bp: i64,
    covered: i64,
    registered: i64,
    active_days: i64,
    dim: i64,
) -> Result<i64, CalcError> {
    if share_bp < 0 || charged_kop <= 0 {
        return Ok(0);
    }
    let num = charged_kop as i128 * share_bp as i128 * covered as i128 * active_days as i128;
    let den = 10_000i128 * registered.max(1) as i128 * dim as i128;
    Ok(round_half_up(num, den)?.min(charged_kop))
}

/// Columnar `compute_benefits`.
pub fn compute(t: &Table) -> Result<Output, CalcError> {
    let (period, charge, share, covered, registered, active) = (
        t.get("period")?,
        t.get("charge_kop")?,
        t.get("share_bp")?,
        t.get("covered")?,
        t.get("registered")?,
        t.get("active_days")?,
    );
    let mut out = Vec::with_capacity(t.len());
    for i in 0..t.len() {
        out.push(benefit_amount(
            charge[i],
            share[i],
            covered[i],
            registered[i],
            active[i],
            days_in_period(period[i])?,
        )?);
    }
    Ok(vec![("benefit_kop", out)])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn example_1k() {
        let cw = benefit_amount(23_238, 5_000, 1, 2, 30, 30).unwrap();
        let heat = benefit_amount(272_160, 5_000, 1, 2, 30, 30).unwrap();
        assert_eq!(cw, 5_810);
        assert_eq!(heat, 68_040);
        assert_eq!(cw + heat, 73_850);
    }

    #[test]
    fn subsidy_reduces_nothing() {
        assert_eq!(benefit_amount(23_238, -1, 1, 2, 30, 30).unwrap(), 0);
    }
}
