//! Fused, multi-threaded kernels for the hot paths of a monthly run (used by `benchmarks/`).
//!
//! They give exactly the numbers of the rule modules — the tests below compare them row by row —
//! but take shortcuts the general code cannot:
//!
//! * [`compute_charges`] evaluates every charge line as one exact `i128` fraction (no gcd, no
//!   intermediate [`Q`](crate::num::Q) objects), rounds with 64-bit division whenever the fraction fits,
//!   falls back to [`charges::charge_line`] for a row whose products would overflow or whose input is
//!   invalid (so errors and exotic rows are handled by the reference code), and splits the rows over
//!   threads.
//! * [`core_run`] computes the meter/norm/area lines of sorted accounts, splits each account's
//!   payment over its lines by largest remainder (§5.3) and sums charges and payments per provider,
//!   in one pass per thread.

use crate::charges::{self, ChargeRow, INPUTS};
use crate::date::days_in_period;
use crate::num::CalcError;
use crate::table::{Output, Table};
use std::collections::BTreeMap;

const E4: i128 = 10_000;
const E6: i128 = 1_000_000;

/// `num / den` (den > 0) rounded half away from zero; `None` when the result does not fit.
#[inline]
fn rhu(num: i128, den: i128) -> Option<i64> {
    if den <= 0 {
        return None;
    }
    let a = num.unsigned_abs();
    let d = den as u128;
    let r = if a < (1u128 << 62) && d < (1u128 << 62) {
        let (a, d) = (a as u64, d as u64);
        ((2 * a + d) / (2 * d)) as u128
    } else {
        (a.checked_mul(2)?.checked_add(d)?) / d.checked_mul(2)?
    };
    let r = i64::try_from(r).ok()?;
    Some(if num < 0 { -r } else { r })
}

#[inline]
fn mul(a: i128, b: i128) -> Option<i128> {
    a.checked_mul(b)
}

/// The fast evaluation of one line; `None` → use the reference [`charges::charge_line`].
#[inline]
fn fast_line(r: &ChargeRow, dim: i64) -> Option<charges::ChargeLine> {
    let w = |x: i64| x as i128;
    // V = vn / vd (exact), in natural units
    let (mut vn, mut vd, applied): (i128, i128, i64);
    match r.method {
        1 => {
            (vn, vd, applied) = (w(r.reading_curr_x6) - w(r.reading_prev_x6), E6, 1);
        }
        2 => {
            (vn, vd, applied) = (mul(w(r.norm_x6), w(r.person_days))?, E6 * w(dim), 2);
        }
        3 => {
            (vn, vd, applied) = (mul(w(r.area_x4), w(r.norm_x6))?, E4 * E6, 3);
        }
        4 => {
            if r.total_area_x4 <= 0 {
                return None;
            }
            (vn, vd, applied) = (
                mul(w(r.house_volume_x6), w(r.area_x4))?,
                E6 * w(r.total_area_x4),
                4,
            );
        }
        5 => {
            (vn, vd, applied) = (w(r.area_x4), E4, 5);
        }
        6 => {
            if r.total_area_x4 <= 0 {
                return None;
            }
            // in units of 1e-10: cap = N × S_ои, excess = (V_D − ΣV) × 1e4
            let cap = mul(w(r.norm_x6), w(r.common_area_x4))?;
            let dist = if r.has_house_meter == 0 {
                cap
            } else {
                let mut v = mul(w(r.house_volume_x6) - w(r.indiv_volume_x6), E4)?;
                if r.soi_allow_negative == 0 {
                    v = v.max(0);
                }
                if r.soi_by_actual == 0 {
                    v = v.min(cap);
                }
                v
            };
            (vn, vd, applied) = (
                mul(dist, w(r.area_x4))?,
                mul(E6 * E4, w(r.total_area_x4))?,
                6,
            );
        }
        7 => {
            (vn, vd, applied) = (w(r.volume_x6), E6, 7);
        }
        8 => {
            if charges::averaging_applies(r.hist_months, r.missing_seq) {
                (vn, vd, applied) = (w(r.hist_volume_x6), E6 * w(r.hist_months), 8);
            } else {
                (vn, vd, applied) = (mul(w(r.norm_x6), w(r.person_days))?, E6 * w(dim), 2);
            }
        }
        9 => {
            (vn, vd, applied) = (mul(w(r.volume_x6), w(r.norm_x6))?, E6 * E6, 9);
        }
        _ => return None,
    }
    if r.share_den <= 0 {
        return None;
    }
    vn = mul(vn, w(r.share_num))?;
    vd = mul(vd, w(r.share_den))?;
    let use_coef = applied == 2 && (r.method == 2 || r.meter_failed != 0);
    let coef = if use_coef { r.coef_x4 } else { 10_000 };
    // kopecks = V × T/1e4 × 100 → vn × T / (vd × 100)
    let money_n = mul(vn, w(r.tariff_x4))?;
    let money_d = mul(vd, 100)?;
    let base = rhu(money_n, money_d)?;
    let amount = if coef == 10_000 {
        base
    } else {
        rhu(mul(money_n, w(coef))?, mul(money_d, E4)?)?
    };
    Some(charges::ChargeLine {
        method_applied: applied,
        volume_x6: rhu(mul(vn, E6)?, vd)?,
        coef_x4: coef,
        amount_kop: amount,
        base_kop: base,
        increase_kop: amount - base,
    })
}

fn threads_for(n: usize, threads: usize) -> usize {
    let hw = std::thread::available_parallelism().map_or(1, |x| x.get());
    let t = if threads == 0 { hw } else { threads };
    t.clamp(1, (n / 50_000).max(1))
}

/// Columnar charges, identical to [`charges::compute`], on `threads` threads (0 = all cores).
pub fn compute_charges(t: &Table, threads: usize) -> Result<Output, CalcError> {
    let c: Vec<&[i64]> = INPUTS.iter().map(|n| t.get(n)).collect::<Result<_, _>>()?;
    let n = t.len();
    let mut out: [Vec<i64>; 6] = Default::default();
    for o in out.iter_mut() {
        o.resize(n, 0);
    }
    let nt = threads_for(n, threads);
    let step = n.div_ceil(nt).max(1);
    let [o0, o1, o2, o3, o4, o5] = &mut out;
    let errors: Vec<Option<CalcError>> = std::thread::scope(|s| {
        let handles: Vec<_> = o0
            .chunks_mut(step)
            .zip(o1.chunks_mut(step))
            .zip(o2.chunks_mut(step))
            .zip(o3.chunks_mut(step))
            .zip(o4.chunks_mut(step))
            .zip(o5.chunks_mut(step))
            .enumerate()
            .map(|(k, (((((a, b), cc), d), e), f))| {
                let c = &c;
                s.spawn(move || {
                    let lo = k * step;
                    let mut cache = (i64::MIN, 0i64);
                    for j in 0..a.len() {
                        let i = lo + j;
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
                        let fast = if cache.0 == r.period {
                            fast_line(&r, cache.1)
                        } else if let Ok(dim) = days_in_period(r.period) {
                            cache = (r.period, dim);
                            fast_line(&r, dim)
                        } else {
                            None
                        };
                        let l = match fast {
                            Some(l) => l,
                            None => match charges::charge_line(&r) {
                                Ok(l) => l,
                                Err(CalcError::Input(m)) => {
                                    return Some(CalcError::Input(format!("charges row {i}: {m}")))
                                }
                                Err(CalcError::Overflow(m)) => {
                                    return Some(CalcError::Overflow(format!(
                                        "charges row {i}: {m}"
                                    )))
                                }
                            },
                        };
                        a[j] = l.method_applied;
                        b[j] = l.volume_x6;
                        cc[j] = l.coef_x4;
                        d[j] = l.amount_kop;
                        e[j] = l.base_kop;
                        f[j] = l.increase_kop;
                    }
                    None
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("charges thread"))
            .collect()
    });
    if let Some(e) = errors.into_iter().flatten().next() {
        return Err(e);
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

/// Largest remainder of `total` over `weights` (all ≥ 0, Σ > 0) into `parts`; ties to the lower index.
/// Same result as [`crate::split::largest_remainder`], without allocating for small groups.
fn largest_remainder_into(total: i64, weights: &[i64], parts: &mut [i64]) -> Option<()> {
    let sum: i128 = weights.iter().map(|&x| x.max(0) as i128).sum();
    if sum == 0 {
        parts.fill(0);
        return Some(());
    }
    let mut rems = [0i128; 32];
    if weights.len() > rems.len() {
        let p = crate::split::largest_remainder(total, weights);
        parts.copy_from_slice(&p);
        return Some(());
    }
    let mut given: i64 = 0;
    let small = total >= 0 && sum < (1 << 31) && total < (1 << 31);
    for (i, &w) in weights.iter().enumerate() {
        let w = w.max(0);
        if small {
            // 64-bit division when total × w fits (w ≤ sum < 2³¹)
            let (num, s64) = (total as u64 * w as u64, sum as u64);
            parts[i] = (num / s64) as i64;
            rems[i] = (num % s64) as i128;
        } else {
            let num = total as i128 * w as i128;
            parts[i] = i64::try_from(num.div_euclid(sum)).ok()?;
            rems[i] = num.rem_euclid(sum);
        }
        given += parts[i];
    }
    let mut left = total - given;
    let k = weights.len();
    while left > 0 {
        // the largest remainder not yet served, lowest index on ties; Σ rem = left × sum, so
        // left < k and every round serves a distinct item
        let mut best = usize::MAX;
        for i in 0..k {
            if rems[i] >= 0 && (best == usize::MAX || rems[i] > rems[best]) {
                best = i;
            }
        }
        parts[best] += 1;
        rems[best] = -1;
        left -= 1;
    }
    Some(())
}

/// Charge of core line `j` (methods 1 meter, 2 norm, 5 area; `dim` days in the month); `c` holds the
/// columns method, tariff_x4, reading_prev_x6, reading_curr_x6, norm_x6, person_days, area_x4, coef_x4.
#[inline]
fn core_amount(c: &[&[i64]], j: usize, dim: i64) -> Option<i64> {
    let w = |k: usize| c[k][j] as i128;
    let method = c[0][j];
    let (n, d) = match method {
        1 => ((w(3) - w(2)) * w(1), 100 * E6),
        2 => (mul(mul(w(4), w(5))?, w(1))?, 100 * E6 * dim as i128),
        5 => (w(6) * w(1), 1_000_000),
        _ => return None,
    };
    if method != 2 || c[7][j] == 10_000 {
        rhu(n, d)
    } else {
        rhu(mul(n, w(7))?, d * E4)
    }
}

/// charges_core in one pass: lines (sorted by `account_id`) → `amount_kop`, `alloc_kop` per line (the
/// account's payment split over its lines by largest remainder, weights = the line charges), and per
/// provider: `charged_kop`, `paid_kop`. Payments (`account_id`, `amount_kop`) are sorted by account,
/// one per account; lines of accounts without a payment get no allocation.
pub fn core_run(
    lines: &Table,
    payments: &Table,
    period: i64,
    threads: usize,
) -> Result<(Output, Output), CalcError> {
    let names = [
        "account_id",
        "provider_id",
        "method",
        "tariff_x4",
        "reading_prev_x6",
        "reading_curr_x6",
        "norm_x6",
        "person_days",
        "area_x4",
        "coef_x4",
    ];
    let c: Vec<&[i64]> = names
        .iter()
        .map(|n| lines.get(n))
        .collect::<Result<_, _>>()?;
    let (pa, pm) = (payments.get("account_id")?, payments.get("amount_kop")?);
    if pa.windows(2).any(|x| x[0] >= x[1]) {
        return Err(CalcError::Input(
            "payments must be sorted by account_id, one per account".into(),
        ));
    }
    let acc = c[0];
    if acc.windows(2).any(|x| x[0] > x[1]) {
        return Err(CalcError::Input(
            "lines must be sorted by account_id".into(),
        ));
    }
    let dim = days_in_period(period)?;
    let n = lines.len();
    let nt = threads_for(n, threads);
    // chunk bounds at account boundaries
    let mut bounds = vec![0usize];
    for k in 1..nt {
        let mut b = (n * k / nt).max(*bounds.last().unwrap());
        while b < n && b > 0 && acc[b] == acc[b - 1] {
            b += 1;
        }
        bounds.push(b);
    }
    bounds.push(n);
    let mut amount = vec![0i64; n];
    let mut alloc = vec![0i64; n];
    type Prov = BTreeMap<i64, (i64, i64)>;
    let results: Vec<Result<Prov, CalcError>> = std::thread::scope(|s| {
        let mut rest_a: &mut [i64] = &mut amount;
        let mut rest_b: &mut [i64] = &mut alloc;
        let mut handles = Vec::new();
        for k in 0..bounds.len() - 1 {
            let (lo, hi) = (bounds[k], bounds[k + 1]);
            let (a, ra) = rest_a.split_at_mut(hi - lo);
            let (b, rb) = rest_b.split_at_mut(hi - lo);
            rest_a = ra;
            rest_b = rb;
            let c = &c;
            handles.push(s.spawn(move || -> Result<Prov, CalcError> {
                let mut dense: Vec<(i64, i64)> = vec![(0, 0); 64];
                let mut sparse: Prov = BTreeMap::new();
                let mut i = lo;
                let mut p = pa.partition_point(|&x| x < if lo < hi { c[0][lo] } else { 0 });
                while i < hi {
                    let account = c[0][i];
                    let mut j = i;
                    while j < hi && c[0][j] == account {
                        let v = core_amount(&c[2..], j, dim).ok_or_else(|| {
                            CalcError::Input(format!(
                                "core line {j}: method must be 1, 2 or 5 (or values overflow)"
                            ))
                        })?;
                        a[j - lo] = v;
                        j += 1;
                    }
                    while p < pa.len() && pa[p] < account {
                        p += 1;
                    }
                    if p < pa.len() && pa[p] == account {
                        largest_remainder_into(pm[p], &a[i - lo..j - lo], &mut b[i - lo..j - lo])
                            .ok_or_else(|| CalcError::Overflow("payment split".into()))?;
                    }
                    for q in i..j {
                        let prov = c[1][q];
                        let slot = if (0..64).contains(&prov) {
                            &mut dense[prov as usize]
                        } else {
                            sparse.entry(prov).or_insert((0, 0))
                        };
                        slot.0 += a[q - lo];
                        slot.1 += b[q - lo];
                    }
                    i = j;
                }
                for (prov, v) in dense.into_iter().enumerate() {
                    if v != (0, 0) {
                        let e = sparse.entry(prov as i64).or_insert((0, 0));
                        e.0 += v.0;
                        e.1 += v.1;
                    }
                }
                Ok(sparse)
            }));
        }
        handles
            .into_iter()
            .map(|h| h.join().expect("core thread"))
            .collect()
    });
    let mut total: Prov = BTreeMap::new();
    for r in results {
        for (prov, (x, y)) in r? {
            let e = total.entry(prov).or_insert((0, 0));
            e.0 += x;
            e.1 += y;
        }
    }
    let provs = vec![
        ("provider_id", total.keys().copied().collect()),
        ("charged_kop", total.values().map(|v| v.0).collect()),
        ("paid_kop", total.values().map(|v| v.1).collect()),
    ];
    Ok((vec![("amount_kop", amount), ("alloc_kop", alloc)], provs))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::split::largest_remainder;
    use crate::table::column;

    /// A deterministic pseudo-random generator (no dependencies).
    struct Lcg(u64);
    impl Lcg {
        fn next(&mut self, lo: i64, hi: i64) -> i64 {
            self.0 = self
                .0
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            lo + ((self.0 >> 33) as i64).rem_euclid(hi - lo)
        }
    }

    fn random_rows(n: usize, seed: u64, with_big: bool) -> Vec<Vec<i64>> {
        let mut g = Lcg(seed);
        let mut cols = vec![Vec::with_capacity(n); INPUTS.len()];
        for _ in 0..n {
            let method = g.next(1, 10);
            let prev = g.next(0, 900_000_000);
            let big = with_big && g.next(0, 20) == 0; // some rows overflow the fast path
            let row = [
                [202_402, 202_511, 202_611, 202_502][g.next(0, 4) as usize],
                method,
                prev,
                prev + g.next(-5_000_000, 400_000_000),
                g.next(-1_000_000, 90_000_000),
                g.next(1, 40_000_000),
                if big {
                    g.next(1, i64::MAX / 4)
                } else {
                    g.next(0, 100_000_000)
                },
                g.next(0, 200),
                g.next(0, 2_000_000),
                g.next(0, 3) * g.next(1, 500_000_000),
                g.next(0, 50_000_000),
                g.next(0, 50_000_000_000),
                g.next(0, 50_000_000_000),
                g.next(0, 2),
                g.next(0, 2),
                g.next(0, 2),
                [10_000, 15_000, 12_345][g.next(0, 3) as usize],
                g.next(1, 13),
                g.next(1, 13),
                g.next(0, 100_000_000),
                g.next(0, 7),
                g.next(0, 5),
                g.next(0, 2),
            ];
            for (k, v) in row.into_iter().enumerate() {
                cols[k].push(v);
            }
        }
        cols
    }

    fn table(cols: &[Vec<i64>]) -> Table<'_> {
        let mut t = Table::new();
        for (k, name) in INPUTS.iter().enumerate() {
            t.add(name, &cols[k]).unwrap();
        }
        t
    }

    #[test]
    fn charges_match_the_reference_row_by_row() {
        let cols = random_rows(20_000, 7, true);
        let (mut ok, mut failed) = (0, 0);
        for i in 0..cols[0].len() {
            let one: Vec<Vec<i64>> = cols.iter().map(|c| vec![c[i]]).collect();
            let t = table(&one);
            match (charges::compute(&t), compute_charges(&t, 1)) {
                (Ok(r), Ok(f)) => {
                    assert_eq!(r, f, "row {i}");
                    ok += 1;
                }
                (Err(a), Err(b)) => {
                    assert_eq!(a.to_string(), b.to_string(), "row {i}");
                    failed += 1;
                }
                (a, b) => panic!("row {i}: reference {a:?} vs kernel {b:?}"),
            }
        }
        assert!(ok > 10_000 && failed > 100, "{ok} {failed}");
    }

    #[test]
    fn charges_match_on_valid_batches_and_report_the_first_error() {
        let mut cols = random_rows(40_000, 11, false);
        for i in 0..cols[0].len() {
            cols[9][i] = cols[9][i].max(1); // S_об > 0
        }
        let t = table(&cols);
        assert_eq!(
            charges::compute(&t).unwrap(),
            compute_charges(&t, 3).unwrap()
        );
        cols[1][30_123] = 42;
        cols[1][35_000] = 0;
        let t = table(&cols);
        let err = compute_charges(&t, 3).unwrap_err();
        assert_eq!(
            err.to_string(),
            charges::compute(&t).unwrap_err().to_string()
        );
        assert!(err.to_string().contains("row 30123"), "{err}");
    }

    #[test]
    fn largest_remainder_matches() {
        let mut g = Lcg(3);
        for _ in 0..20_000 {
            let k = g.next(1, 16) as usize;
            let w: Vec<i64> = (0..k)
                .map(|_| {
                    if g.next(0, 4) == 0 {
                        0
                    } else {
                        g.next(0, 500_000)
                    }
                })
                .collect();
            let total = g.next(0, 3_000_000);
            let mut parts = vec![0; k];
            largest_remainder_into(total, &w, &mut parts).unwrap();
            assert_eq!(parts, largest_remainder(total, &w), "{total} {w:?}");
        }
    }

    #[test]
    fn core_run_splits_and_sums() {
        let acc = [1, 1, 1, 2, 2, 3];
        let prov = [7, 1, 2, 7, 1, 2];
        let method = [5, 1, 2, 5, 2, 5];
        let tariff = [287_500, 529_300, 529_300, 155_000, 529_300, 100_000];
        let prev = [0, 123_456_000, 0, 0, 0, 0];
        let curr = [0, 131_210_000, 0, 0, 0, 0];
        let norm = [0, 0, 4_850_000, 0, 4_850_000, 0];
        let pdays = [0, 0, 90, 0, 70, 0];
        let area = [543_000, 0, 0, 543_000, 0, 10_000];
        let coef = [10_000, 10_000, 15_000, 10_000, 10_000, 10_000];
        let mut lines = Table::new();
        for (name, col) in [
            ("account_id", &acc[..]),
            ("provider_id", &prov),
            ("method", &method),
            ("tariff_x4", &tariff),
            ("reading_prev_x6", &prev),
            ("reading_curr_x6", &curr),
            ("norm_x6", &norm),
            ("person_days", &pdays),
            ("area_x4", &area),
            ("coef_x4", &coef),
        ] {
            lines.add(name, col).unwrap();
        }
        let (pa, pm) = ([1, 2], [100_000, 10_000]);
        let pays = Table::new()
            .with("account_id", &pa)
            .unwrap()
            .with("amount_kop", &pm)
            .unwrap();
        for threads in [1, 2, 4] {
            let (out, provs) = core_run(&lines, &pays, 202_504, threads).unwrap();
            let amount = column(&out, "amount_kop");
            assert_eq!(amount, &[156_113, 41_042, 115_520, 84_165, 59_899, 1_000]);
            let alloc = column(&out, "alloc_kop");
            assert_eq!(&alloc[..3], &largest_remainder(100_000, &amount[..3])[..]);
            assert_eq!(alloc[3] + alloc[4], 10_000);
            assert_eq!(alloc[5], 0);
            assert_eq!(column(&provs, "provider_id"), &[1, 2, 7]);
            assert_eq!(
                column(&provs, "charged_kop"),
                &[41_042 + 59_899, 115_520 + 1_000, 156_113 + 84_165]
            );
            assert_eq!(column(&provs, "paid_kop").iter().sum::<i64>(), 110_000);
        }
    }
}
