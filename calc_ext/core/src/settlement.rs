//! Agent commissions, the ИРЦ fee, transfer registry lines and provider balances (§5.4).

use crate::num::{round_half_up, CalcError};
use crate::split::largest_remainder;
use crate::table::{Output, Table};
use std::collections::HashMap;

/// ИРЦ fee of one registry line: `round_half_up(gross × fee_ppm / 10⁶)`.
pub fn fee_for_line(gross_kop: i64, fee_ppm: i64) -> Result<i64, CalcError> {
    round_half_up(gross_kop as i128 * fee_ppm as i128, 1_000_000)
}

/// Columnar `transfers`: (commission per allocation, registry lines by (payment, provider)).
pub fn transfers(
    allocs: &Table,
    payments: &Table,
    fees: &Table,
) -> Result<(Output, Output), CalcError> {
    let (apay, aprov, aamt) = (
        allocs.get("payment_id")?,
        allocs.get("provider_id")?,
        allocs.get("amount_kop")?,
    );
    let commission: HashMap<i64, i64> = payments
        .get("payment_id")?
        .iter()
        .copied()
        .zip(payments.get("commission_kop")?.iter().copied())
        .collect();
    let fee_rate: HashMap<i64, i64> = fees
        .get("provider_id")?
        .iter()
        .copied()
        .zip(fees.get("fee_ppm")?.iter().copied())
        .collect();
    let n = allocs.len();
    let mut alloc_comm = vec![0i64; n];
    let mut order: Vec<i64> = Vec::new();
    let mut by_payment: HashMap<i64, Vec<usize>> = HashMap::new();
    for i in 0..n {
        by_payment
            .entry(apay[i])
            .or_insert_with(|| {
                order.push(apay[i]);
                Vec::new()
            })
            .push(i);
    }
    for pid in &order {
        let idx = &by_payment[pid];
        let w: Vec<i64> = idx.iter().map(|&i| aamt[i]).collect();
        let parts = largest_remainder(commission.get(pid).copied().unwrap_or(0), &w);
        for (&i, p) in idx.iter().zip(parts) {
            alloc_comm[i] = p;
        }
    }
    let mut keys: Vec<(i64, i64)> = Vec::new();
    let mut sums: HashMap<(i64, i64), (i64, i64)> = HashMap::new();
    for i in 0..n {
        let key = (apay[i], aprov[i]);
        let acc = sums.entry(key).or_insert_with(|| {
            keys.push(key);
            (0, 0)
        });
        acc.0 += aamt[i];
        acc.1 += alloc_comm[i];
    }
    let mut out: [Vec<i64>; 6] = Default::default();
    for key in &keys {
        let (gross, comm) = sums[key];
        let fee = fee_for_line(gross, fee_rate.get(&key.1).copied().unwrap_or(0))?;
        out[0].push(key.0);
        out[1].push(key.1);
        out[2].push(gross);
        out[3].push(comm);
        out[4].push(fee);
        out[5].push(gross - comm - fee);
    }
    let [a, b, c, d, e, f] = out;
    Ok((
        vec![("commission_kop", alloc_comm)],
        vec![
            ("payment_id", a),
            ("provider_id", b),
            ("gross_kop", c),
            ("commission_kop", d),
            ("fee_kop", e),
            ("net_kop", f),
        ],
    ))
}

/// Provider saldo: `opening + collected − commission − fee − transferred`.
pub fn provider_closing(
    opening: i64,
    collected: i64,
    commission: i64,
    fee: i64,
    transferred: i64,
) -> i64 {
    opening + collected - commission - fee - transferred
}

/// Columnar `provider_balances`.
pub fn balances(t: &Table) -> Result<Output, CalcError> {
    let names = [
        "opening_kop",
        "collected_kop",
        "commission_kop",
        "fee_kop",
        "transferred_kop",
    ];
    let c: Vec<&[i64]> = names.iter().map(|n| t.get(n)).collect::<Result<_, _>>()?;
    let closing: Vec<i64> = (0..t.len())
        .map(|i| provider_closing(c[0][i], c[1][i], c[2][i], c[3][i], c[4][i]))
        .collect();
    let due = closing.iter().map(|&x| x.max(0)).collect();
    Ok(vec![("closing_kop", closing), ("transfer_due_kop", due)])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn example_5d_commission_and_fees() {
        let alloc = [24_216, 39_615, 6_367, 8_219, 21_583];
        let comm = largest_remainder(1_000, &alloc);
        assert_eq!(comm, vec![242, 396, 64, 82, 216]);
        // providers: УК, Теплосеть, Водоканал (cold water + sewer), Энергосбыт
        let gross = [24_216, 39_615, 6_367 + 8_219, 21_583];
        let comm_p = [242, 396, 64 + 82, 216];
        let mut net = Vec::new();
        for (g, c) in gross.iter().zip(comm_p) {
            net.push(g - c - fee_for_line(*g, 15_000).unwrap());
        }
        assert_eq!(net, vec![23_611, 38_625, 14_221, 21_043]);
        assert_eq!(net.iter().sum::<i64>(), 97_500);
    }

    #[test]
    fn example_5e_provider_month() {
        assert_eq!(
            provider_closing(1_200_000, 4_850_000, 48_500, 72_750, 5_500_000),
            428_750
        );
    }
}
