//! Saldo per account × service and debt aging, domain spec §6.

use crate::num::CalcError;
use crate::table::{Output, Table};
use std::collections::HashMap;

/// Upper bounds (days past due) of aging buckets 0..5; bucket 6 is beyond the last.
pub const BUCKET_LIMITS: [i64; 6] = [0, 30, 90, 180, 365, 1095];

/// Aging bucket of a debt `dpd` days past due.
pub fn bucket_of(dpd: i64) -> i64 {
    BUCKET_LIMITS
        .iter()
        .position(|&l| dpd <= l)
        .unwrap_or(BUCKET_LIMITS.len()) as i64
}

/// Row indices per (account, service) in first-appearance order, each sorted by period (stable).
fn groups(acc: &[i64], srv: &[i64], period: &[i64]) -> Vec<Vec<usize>> {
    let mut keys: Vec<(i64, i64)> = Vec::new();
    let mut map: HashMap<(i64, i64), Vec<usize>> = HashMap::new();
    for i in 0..acc.len() {
        map.entry((acc[i], srv[i]))
            .or_insert_with(|| {
                keys.push((acc[i], srv[i]));
                Vec::new()
            })
            .push(i);
    }
    keys.iter()
        .map(|k| {
            let mut v = map.remove(k).unwrap_or_default();
            v.sort_by_key(|&i| period[i]);
            v
        })
        .collect()
}

/// Columnar `saldo`: chained closing balances and account totals per period.
pub fn saldo(t: &Table) -> Result<Output, CalcError> {
    let (acc, srv, period) = (t.get("account_id")?, t.get("service_id")?, t.get("period")?);
    let (opening, charged, recalc, paid, corr) = (
        t.get("opening_kop")?,
        t.get("charged_kop")?,
        t.get("recalc_kop")?,
        t.get("paid_kop")?,
        t.get("correction_kop")?,
    );
    let n = t.len();
    let mut open = vec![0i64; n];
    let mut close = vec![0i64; n];
    for g in groups(acc, srv, period) {
        let mut prev: Option<i64> = None;
        for i in g {
            let o = prev.unwrap_or(opening[i]);
            let c = o + charged[i] + recalc[i] - paid[i] + corr[i];
            open[i] = o;
            close[i] = c;
            prev = Some(c);
        }
    }
    let mut totals: HashMap<(i64, i64), i64> = HashMap::new();
    for i in 0..n {
        *totals.entry((acc[i], period[i])).or_insert(0) += close[i];
    }
    let total: Vec<i64> = (0..n).map(|i| totals[&(acc[i], period[i])]).collect();
    let to_pay = total.iter().map(|&x| x.max(0)).collect();
    Ok(vec![
        ("opening_kop", open),
        ("closing_kop", close),
        ("account_total_kop", total),
        ("to_pay_kop", to_pay),
    ])
}

/// Columnar `aging`: FIFO credits per (account, service), days past due at `as_of`.
pub fn aging(t: &Table, as_of: i64) -> Result<Output, CalcError> {
    let (acc, srv, period) = (t.get("account_id")?, t.get("service_id")?, t.get("period")?);
    let (charged, credit, due) = (
        t.get("charged_kop")?,
        t.get("credit_kop")?,
        t.get("due_date")?,
    );
    let n = t.len();
    let mut out: [Vec<i64>; 4] = [vec![0; n], vec![0; n], vec![0; n], vec![0; n]];
    for g in groups(acc, srv, period) {
        let mut cr: i64 = g.iter().map(|&i| credit[i]).sum::<i64>()
            + g.iter().map(|&i| (-charged[i]).max(0)).sum::<i64>();
        for &i in &g {
            let ch = charged[i].max(0);
            let applied = ch.min(cr.max(0));
            cr -= applied;
            let remaining = ch - applied;
            let dpd = as_of - due[i];
            out[0][i] = remaining;
            out[1][i] = dpd.max(0);
            out[2][i] = if remaining != 0 { bucket_of(dpd) } else { 0 };
        }
        if let Some(&last) = g.last() {
            out[3][last] = cr.max(0);
        }
    }
    let [a, b, c, d] = out;
    Ok(vec![
        ("remaining_kop", a),
        ("days_past_due", b),
        ("bucket", c),
        ("advance_kop", d),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::date::{days_from_civil as ymd, due_date};
    use crate::table::column;

    #[test]
    fn example_6a_saldo() {
        let acc = [1001, 1001];
        let srv = [1, 2];
        let per = [202_504, 202_504];
        let opening = [41_042, -10_000];
        let charged = [42_000, 255_382];
        let recalc = [-876, 0];
        let paid = [41_042, 0];
        let corr = [0, 0];
        let t = Table::new()
            .with("account_id", &acc)
            .and_then(|t| t.with("service_id", &srv))
            .and_then(|t| t.with("period", &per))
            .and_then(|t| t.with("opening_kop", &opening))
            .and_then(|t| t.with("charged_kop", &charged))
            .and_then(|t| t.with("recalc_kop", &recalc))
            .and_then(|t| t.with("paid_kop", &paid))
            .and_then(|t| t.with("correction_kop", &corr))
            .unwrap();
        let out = saldo(&t).unwrap();
        assert_eq!(column(&out, "closing_kop"), &[41_124, 245_382]);
        assert_eq!(column(&out, "to_pay_kop"), &[286_506, 286_506]);
    }

    #[test]
    fn example_6b_aging() {
        let acc = [1, 1, 1, 1];
        let srv = [1, 1, 1, 1];
        let per = [202_501, 202_502, 202_503, 202_504];
        let charged = [100_000, 120_000, 110_000, 115_000];
        let credit = [0, 0, 0, 0];
        let due: Vec<i64> = per.iter().map(|&p| due_date(p)).collect();
        let t = Table::new()
            .with("account_id", &acc)
            .and_then(|t| t.with("service_id", &srv))
            .and_then(|t| t.with("period", &per))
            .and_then(|t| t.with("charged_kop", &charged))
            .and_then(|t| t.with("credit_kop", &credit))
            .and_then(|t| t.with("due_date", &due))
            .unwrap();
        let out = aging(&t, ymd(2025, 4, 30)).unwrap();
        assert_eq!(column(&out, "days_past_due"), &[79, 51, 20, 0]);
        assert_eq!(column(&out, "bucket"), &[2, 2, 1, 0]);
    }
}
