//! Kopeck-exact splitting (largest remainder / Hamilton, domain spec §5.3) and the payment
//! allocation order of §5.2.

use crate::date::{add_years, due_date};
use crate::num::CalcError;
use crate::table::{Output, Table};
use std::collections::{BTreeMap, BTreeSet};

/// Split `total` kopecks among items in proportion to `weights`.
///
/// Negative weights count as zero. Leftover kopecks go one each to the items with the largest
/// fractional parts; ties go to the lower index. If every weight is zero, all parts are zero.
pub fn largest_remainder(total: i64, weights: &[i64]) -> Vec<i64> {
    let w: Vec<i128> = weights.iter().map(|&x| x.max(0) as i128).collect();
    let sum: i128 = w.iter().sum();
    if sum == 0 || weights.is_empty() {
        return vec![0; weights.len()];
    }
    let t = total as i128;
    let mut parts: Vec<i64> = Vec::with_capacity(w.len());
    let mut rems: Vec<(i128, usize)> = Vec::with_capacity(w.len());
    for (i, &wi) in w.iter().enumerate() {
        let num = t * wi;
        parts.push(num.div_euclid(sum) as i64);
        rems.push((num.rem_euclid(sum), i));
    }
    let given: i64 = parts.iter().sum();
    let mut left = total - given;
    rems.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    let mut k = 0;
    while left > 0 {
        parts[rems[k % rems.len()].1] += 1;
        left -= 1;
        k += 1;
    }
    parts
}

/// Largest remainder with `part_i ≤ cap_i`: items over their cap are fixed at it and the rest is
/// split again among the others until no cap binds. Items with a zero weight or cap get nothing;
/// if the caps cannot absorb `total`, the parts add up to less.
pub fn largest_remainder_capped(total: i64, weights: &[i64], caps: &[i64]) -> Vec<i64> {
    let n = weights.len();
    let mut parts = vec![0i64; n];
    let mut active: Vec<usize> = (0..n).filter(|&i| weights[i] > 0 && caps[i] > 0).collect();
    let mut remaining = total;
    while !active.is_empty() && remaining > 0 {
        let w: Vec<i64> = active.iter().map(|&i| weights[i]).collect();
        let trial = largest_remainder(remaining, &w);
        let over: Vec<usize> = active
            .iter()
            .zip(&trial)
            .filter(|(&i, &p)| p > caps[i])
            .map(|(&i, _)| i)
            .collect();
        if over.is_empty() {
            for (&i, &p) in active.iter().zip(&trial) {
                parts[i] = p;
            }
            break;
        }
        for &i in &over {
            parts[i] = caps[i];
            remaining -= caps[i];
        }
        active.retain(|i| !over.contains(i));
    }
    parts
}

/// Allocation kinds.
pub const KIND_PRINCIPAL: i64 = 0;
/// Penalty debt.
pub const KIND_PENALTY: i64 = 1;
/// Advance (overpayment).
pub const KIND_ADVANCE: i64 = 2;

/// Allocation steps (explanation column `step`).
pub mod step {
    pub const DESIGNATED: i64 = 1;
    pub const PENALTY_GIVEN: i64 = 2;
    pub const PERIOD: i64 = 3;
    pub const OLDEST: i64 = 4;
    pub const PENALTY: i64 = 5;
    pub const ADVANCE: i64 = 6;
    pub const EXCESS: i64 = 7;
}

/// Years of the limitation period.
pub const LIMITATION_YEARS: i64 = 3;

/// One debt item of an account.
#[derive(Debug, Clone)]
pub struct Debt {
    pub row: usize,
    pub account_id: i64,
    pub period: i64,
    pub service_id: i64,
    pub provider_id: i64,
    pub kind: i64,
    pub unpaid: i64,
    pub charge: i64,
    pub order: i64,
}

/// One payment.
#[derive(Debug, Clone)]
pub struct Payment {
    pub payment_id: i64,
    pub account_id: i64,
    pub amount: i64,
    pub pay_date: i64,
    pub period: i64,
    pub current_period: i64,
    pub penalty: i64,
    pub designations: Vec<(i64, i64)>,
}

/// One allocation row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Allocation {
    pub payment_id: i64,
    pub account_id: i64,
    pub service_id: i64,
    pub provider_id: i64,
    pub period: i64,
    pub kind: i64,
    pub step: i64,
    pub amount: i64,
    pub debt_row: i64,
}

fn expired(d: &Debt, pay_date: i64) -> bool {
    pay_date > add_years(due_date(d.period), LIMITATION_YEARS)
}

fn sort_items(debts: &[Debt], idx: &mut [usize]) {
    idx.sort_by_key(|&i| (debts[i].order, debts[i].service_id, debts[i].row));
}

/// Allocate up to `amount` over `idx` proportionally to the unpaid amounts (capped by them).
fn spread(
    debts: &mut [Debt],
    mut idx: Vec<usize>,
    amount: i64,
    pay: &Payment,
    step: i64,
    out: &mut Vec<Allocation>,
) -> i64 {
    sort_items(debts, &mut idx);
    let unpaid: Vec<i64> = idx.iter().map(|&i| debts[i].unpaid).collect();
    let total = amount.min(unpaid.iter().filter(|&&u| u > 0).sum());
    if total <= 0 {
        return 0;
    }
    let parts = largest_remainder_capped(total, &unpaid, &unpaid);
    for (&i, &p) in idx.iter().zip(&parts) {
        if p != 0 {
            let d = &mut debts[i];
            d.unpaid -= p;
            out.push(Allocation {
                payment_id: pay.payment_id,
                account_id: pay.account_id,
                service_id: d.service_id,
                provider_id: d.provider_id,
                period: d.period,
                kind: d.kind,
                step,
                amount: p,
                debt_row: d.row as i64,
            });
        }
    }
    parts.iter().sum()
}

fn periods_of(debts: &[Debt], idx: &[usize]) -> Vec<i64> {
    idx.iter()
        .map(|&i| debts[i].period)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect()
}

/// Apply the payments of one account, in (pay_date, payment_id) order, to its debts (§5.2).
pub fn allocate_account(debts: &mut [Debt], payments: &mut [Payment]) -> Vec<Allocation> {
    let mut out = Vec::new();
    payments.sort_by_key(|p| (p.pay_date, p.payment_id));
    for pay in payments.iter() {
        let mut rem = pay.amount;
        let live: Vec<usize> = (0..debts.len())
            .filter(|&i| !expired(&debts[i], pay.pay_date))
            .collect();
        let principal: Vec<usize> = live
            .iter()
            .copied()
            .filter(|&i| debts[i].kind == KIND_PRINCIPAL)
            .collect();
        let penalty: Vec<usize> = live
            .iter()
            .copied()
            .filter(|&i| debts[i].kind == KIND_PENALTY)
            .collect();
        // 1. designated services
        for &(service_id, wanted) in &pay.designations {
            let mut amt = wanted.min(rem);
            let mine: Vec<usize> = principal
                .iter()
                .copied()
                .filter(|&i| debts[i].service_id == service_id)
                .collect();
            let mut months = periods_of(debts, &mine);
            months.sort_by_key(|&p| (p != pay.period, p));
            for m in months {
                let items: Vec<usize> = mine
                    .iter()
                    .copied()
                    .filter(|&i| debts[i].period == m)
                    .collect();
                let got = spread(debts, items, amt, pay, step::DESIGNATED, &mut out);
                amt -= got;
                rem -= got;
            }
            if amt > 0 {
                let prov = debts
                    .iter()
                    .find(|d| d.service_id == service_id)
                    .map_or(0, |d| d.provider_id);
                out.push(Allocation {
                    payment_id: pay.payment_id,
                    account_id: pay.account_id,
                    service_id,
                    provider_id: prov,
                    period: pay.current_period,
                    kind: KIND_ADVANCE,
                    step: step::EXCESS,
                    amount: amt,
                    debt_row: -1,
                });
                rem -= amt;
            }
        }
        // 2. explicit penalty amount
        if pay.penalty >= 0 {
            let amt = pay.penalty.min(rem);
            rem -= spread(
                debts,
                penalty.clone(),
                amt,
                pay,
                step::PENALTY_GIVEN,
                &mut out,
            );
        }
        // 3. the designated period
        if pay.period != 0 {
            let items: Vec<usize> = principal
                .iter()
                .copied()
                .filter(|&i| debts[i].period == pay.period)
                .collect();
            rem -= spread(debts, items, rem, pay, step::PERIOD, &mut out);
        }
        // 4. oldest principal first
        for m in periods_of(debts, &principal) {
            let items: Vec<usize> = principal
                .iter()
                .copied()
                .filter(|&i| debts[i].period == m)
                .collect();
            rem -= spread(debts, items, rem, pay, step::OLDEST, &mut out);
        }
        // 5. penalties, oldest first
        for m in periods_of(debts, &penalty) {
            let items: Vec<usize> = penalty
                .iter()
                .copied()
                .filter(|&i| debts[i].period == m)
                .collect();
            rem -= spread(debts, items, rem, pay, step::PENALTY, &mut out);
        }
        // 6. advance, proportional to the current period's charges
        if rem > 0 {
            let mut cur: Vec<usize> = (0..debts.len())
                .filter(|&i| {
                    debts[i].kind == KIND_PRINCIPAL && debts[i].period == pay.current_period
                })
                .collect();
            sort_items(debts, &mut cur);
            if cur.is_empty() {
                out.push(Allocation {
                    payment_id: pay.payment_id,
                    account_id: pay.account_id,
                    service_id: 0,
                    provider_id: 0,
                    period: pay.current_period,
                    kind: KIND_ADVANCE,
                    step: step::ADVANCE,
                    amount: rem,
                    debt_row: -1,
                });
            } else {
                let mut w: Vec<i64> = cur.iter().map(|&i| debts[i].charge.max(0)).collect();
                if w.iter().sum::<i64>() == 0 {
                    w = vec![1; cur.len()];
                }
                for (&i, p) in cur.iter().zip(largest_remainder(rem, &w)) {
                    if p != 0 {
                        let d = &debts[i];
                        out.push(Allocation {
                            payment_id: pay.payment_id,
                            account_id: pay.account_id,
                            service_id: d.service_id,
                            provider_id: d.provider_id,
                            period: pay.current_period,
                            kind: KIND_ADVANCE,
                            step: step::ADVANCE,
                            amount: p,
                            debt_row: d.row as i64,
                        });
                    }
                }
            }
        }
    }
    out
}

/// Columnar `split_payments`: accounts in ascending id order.
pub fn allocate(
    debts: &Table,
    payments: &Table,
    designations: &Table,
) -> Result<Output, CalcError> {
    let dn = [
        "account_id",
        "period",
        "service_id",
        "provider_id",
        "kind",
        "unpaid_kop",
        "charge_kop",
        "order",
    ];
    let dc: Vec<&[i64]> = dn.iter().map(|n| debts.get(n)).collect::<Result<_, _>>()?;
    let pn = [
        "payment_id",
        "account_id",
        "amount_kop",
        "pay_date",
        "period",
        "current_period",
        "penalty_kop",
    ];
    let pc: Vec<&[i64]> = pn
        .iter()
        .map(|n| payments.get(n))
        .collect::<Result<_, _>>()?;
    let (gp, gs, ga) = (
        designations.get("payment_id")?,
        designations.get("service_id")?,
        designations.get("amount_kop")?,
    );
    let mut by_acc: BTreeMap<i64, Vec<Debt>> = BTreeMap::new();
    for i in 0..debts.len() {
        by_acc.entry(dc[0][i]).or_default().push(Debt {
            row: i,
            account_id: dc[0][i],
            period: dc[1][i],
            service_id: dc[2][i],
            provider_id: dc[3][i],
            kind: dc[4][i],
            unpaid: dc[5][i],
            charge: dc[6][i],
            order: dc[7][i],
        });
    }
    let mut pays: BTreeMap<i64, Vec<Payment>> = BTreeMap::new();
    let mut where_is: BTreeMap<i64, (i64, usize)> = BTreeMap::new();
    for i in 0..payments.len() {
        let p = Payment {
            payment_id: pc[0][i],
            account_id: pc[1][i],
            amount: pc[2][i],
            pay_date: pc[3][i],
            period: pc[4][i],
            current_period: pc[5][i],
            penalty: pc[6][i],
            designations: Vec::new(),
        };
        let v = pays.entry(p.account_id).or_default();
        where_is.insert(p.payment_id, (p.account_id, v.len()));
        v.push(p);
    }
    for i in 0..designations.len() {
        let (acc, k) = *where_is.get(&gp[i]).ok_or_else(|| {
            CalcError::Input(format!("designation for unknown payment {}", gp[i]))
        })?;
        pays.get_mut(&acc).expect("account")[k]
            .designations
            .push((gs[i], ga[i]));
    }
    let mut rows: Vec<Allocation> = Vec::new();
    for (acc, ps) in pays.iter_mut() {
        let mut empty = Vec::new();
        let ds = by_acc.get_mut(acc).unwrap_or(&mut empty);
        rows.extend(allocate_account(ds, ps));
    }
    let col = |f: fn(&Allocation) -> i64| rows.iter().map(f).collect::<Vec<i64>>();
    Ok(vec![
        ("payment_id", col(|a| a.payment_id)),
        ("account_id", col(|a| a.account_id)),
        ("service_id", col(|a| a.service_id)),
        ("provider_id", col(|a| a.provider_id)),
        ("period", col(|a| a.period)),
        ("kind", col(|a| a.kind)),
        ("step", col(|a| a.step)),
        ("amount_kop", col(|a| a.amount)),
        ("debt_row", col(|a| a.debt_row)),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::table::column;

    #[test]
    fn example_5a() {
        let parts = largest_remainder(100_000, &[156_113, 255_382, 41_042, 52_984, 139_140]);
        assert_eq!(parts, vec![24_216, 39_615, 6_367, 8_219, 21_583]);
        assert_eq!(parts.iter().sum::<i64>(), 100_000);
    }

    #[test]
    fn example_5b() {
        assert_eq!(
            largest_remainder(10_000, &[1, 1, 1]),
            vec![3_334, 3_333, 3_333]
        );
    }

    #[test]
    fn caps_bind_and_redistribute() {
        let parts = largest_remainder_capped(1_000, &[1, 1, 1], &[100, 1_000, 1_000]);
        assert_eq!(parts, vec![100, 450, 450]);
    }

    #[test]
    fn example_5c_oldest_first() {
        let acc = [1, 1, 1, 1];
        let per = [202_501, 202_501, 202_502, 202_502];
        let srv = [1, 2, 1, 2];
        let zero = [0, 0, 0, 0];
        let unpaid = [40_000, 60_000, 45_000, 75_000];
        let debts = Table::new()
            .with("account_id", &acc)
            .unwrap()
            .with("period", &per)
            .unwrap()
            .with("service_id", &srv)
            .unwrap()
            .with("provider_id", &zero)
            .unwrap()
            .with("kind", &zero)
            .unwrap()
            .with("unpaid_kop", &unpaid)
            .unwrap()
            .with("charge_kop", &zero)
            .unwrap()
            .with("order", &srv)
            .unwrap();
        let one = [1];
        let amount = [150_000];
        let z = [0];
        let m1 = [-1];
        let cur = [202_502];
        let payments = Table::new()
            .with("payment_id", &one)
            .unwrap()
            .with("account_id", &one)
            .unwrap()
            .with("amount_kop", &amount)
            .unwrap()
            .with("pay_date", &z)
            .unwrap()
            .with("period", &z)
            .unwrap()
            .with("current_period", &cur)
            .unwrap()
            .with("penalty_kop", &m1)
            .unwrap();
        let e: [i64; 0] = [];
        let des = Table::new()
            .with("payment_id", &e)
            .unwrap()
            .with("service_id", &e)
            .unwrap()
            .with("amount_kop", &e)
            .unwrap();
        let out = allocate(&debts, &payments, &des).unwrap();
        assert_eq!(
            column(&out, "amount_kop"),
            &[40_000, 60_000, 18_750, 31_250]
        );
        assert_eq!(
            column(&out, "period"),
            &[202_501, 202_501, 202_502, 202_502]
        );
    }
}
