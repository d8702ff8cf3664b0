//! Kopeck-exact splitting (largest remainder / Hamilton, domain spec §5.3) and the payment
//! allocation order of §5.2.

use crate::date::{add_years, due_date};
use crate::num::CalcError;
use crate::table::{Output, Table};
use std::collections::{BTreeMap, BTreeSet, HashMap};

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

/// Columnar `split_payments`, straightforward version: maps of accounts and [`allocate_account`]
/// per account. The oracle of the tests of [`allocate`] (same output, row for row).
pub fn allocate_reference(
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

// ------------------------------------------------------------------------------------ fast path
//
// `allocate` gives the same rows as `allocate_reference`, without maps or per-item vectors:
// debts and payments are grouped by account once (no copy when the columns are already in account
// order), each account's debts are ordered by (kind, period, order, service_id, row) so that every
// debt month is a contiguous run, and contiguous account ranges run on separate threads whose
// outputs are concatenated in account order.

/// Output columns of the allocations (the order of the result).
const ALLOC_COLUMNS: [&str; 9] = [
    "payment_id",
    "account_id",
    "service_id",
    "provider_id",
    "period",
    "kind",
    "step",
    "amount_kop",
    "debt_row",
];

type Cols9 = [Vec<i64>; 9];

/// Input columns of `allocate`, in the reference's order.
struct Inputs<'a> {
    acc: &'a [i64],
    period: &'a [i64],
    service: &'a [i64],
    provider: &'a [i64],
    kind: &'a [i64],
    unpaid: &'a [i64],
    charge: &'a [i64],
    order: &'a [i64],
    pid: &'a [i64],
    pacc: &'a [i64],
    amount: &'a [i64],
    pdate: &'a [i64],
    pperiod: &'a [i64],
    pcur: &'a [i64],
    ppen: &'a [i64],
    gservice: &'a [i64],
    gamount: &'a [i64],
    /// Input row of each debt position when the debt columns above are a copy in account order
    /// (`None`: the input already is in account order).
    drows: Option<Vec<usize>>,
    /// Payment rows in (account, pay_date, payment_id, row) order (`None`: already grouped by account).
    pperm: Option<Vec<usize>>,
    /// Designations of payment row `i`: `gidx[gstart[i]..gstart[i + 1]]` (empty without designations).
    gstart: Vec<usize>,
    gidx: Vec<usize>,
}

impl Inputs<'_> {
    /// The input row (`debt_row`) of debt position `k`.
    #[inline]
    fn drow(&self, k: usize) -> i64 {
        self.drows.as_ref().map_or(k, |p| p[k]) as i64
    }
    #[inline]
    fn dacc(&self, k: usize) -> i64 {
        self.acc[k]
    }
    #[inline]
    fn prow(&self, k: usize) -> usize {
        self.pperm.as_ref().map_or(k, |p| p[k])
    }
    #[inline]
    fn pacc_at(&self, k: usize) -> i64 {
        self.pacc[self.prow(k)]
    }
    fn designations(&self, row: usize) -> &[usize] {
        if self.gstart.is_empty() {
            &[]
        } else {
            &self.gidx[self.gstart[row]..self.gstart[row + 1]]
        }
    }
    /// First debt position (in account order) whose account is ≥ `a`.
    fn debt_lower_bound(&self, a: i64) -> usize {
        let (mut lo, mut hi) = (0, self.acc.len());
        while lo < hi {
            let mid = (lo + hi) / 2;
            if self.dacc(mid) < a {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        lo
    }
    /// First payment position (in account order) whose account is ≥ `a`.
    fn pay_lower_bound(&self, a: i64) -> usize {
        let (mut lo, mut hi) = (0, self.pacc.len());
        while lo < hi {
            let mid = (lo + hi) / 2;
            if self.pacc_at(mid) < a {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        lo
    }
}

fn non_decreasing(v: &[i64]) -> bool {
    v.windows(2).all(|w| w[0] <= w[1])
}

/// One debt month of an account: a run of `ord[start..end]` with one (kind, period).
#[derive(Clone, Copy)]
struct Group {
    kind: i64,
    period: i64,
    start: usize,
    end: usize,
    /// Last day before the 3-year limitation (the debt is expired for later payment dates).
    expiry: i64,
}

/// The payment being applied.
#[derive(Clone, Copy)]
struct Pay {
    id: i64,
    account: i64,
    current: i64,
}

/// Direct-mapped cache of `add_years(due_date(period), LIMITATION_YEARS)`.
struct ExpiryCache {
    slots: Vec<(i64, i64)>,
}

impl ExpiryCache {
    fn new() -> Self {
        Self {
            slots: vec![(i64::MIN, 0); 256],
        }
    }
    #[inline]
    fn get(&mut self, period: i64) -> i64 {
        let h = ((period as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 56) as usize;
        let s = &mut self.slots[h];
        if s.0 != period {
            *s = (period, add_years(due_date(period), LIMITATION_YEARS));
        }
        s.1
    }
}

/// Largest remainder exactly as [`largest_remainder`], into reused buffers.
fn lr_into(total: i64, weights: &[i64], parts: &mut Vec<i64>, scratch: &mut Scratch) {
    parts.clear();
    let sum: i128 = weights.iter().map(|&x| x.max(0) as i128).sum();
    if sum == 0 || weights.is_empty() {
        parts.resize(weights.len(), 0);
        return;
    }
    let t = total as i128;
    const M32: u64 = u32::MAX as u64;
    if (0..=M32 as i64).contains(&total) && sum <= M32 as i128 && weights.len() <= M32 as usize {
        // total, Σw < 2³²: 64-bit products, remainders < 2³², and one u64 key per item ordered
        // as the reference orders the leftover kopecks (larger remainder, then lower index).
        let (t, s) = (total as u64, sum as u64);
        let keys = &mut scratch.keys;
        keys.clear();
        for (i, &wi) in weights.iter().enumerate() {
            let num = t * wi.max(0) as u64;
            parts.push((num / s) as i64);
            keys.push((num % s) << 32 | (M32 - i as u64));
        }
        let given: i64 = parts.iter().sum();
        let left = (total - given) as usize; // < number of items (Σ fractional parts)
        if left > 0 {
            keys.sort_unstable();
            for &k in &keys[keys.len() - left..] {
                parts[(M32 - (k & M32)) as usize] += 1;
            }
        }
        return;
    }
    let rems = &mut scratch.rems;
    rems.clear();
    for (i, &wi) in weights.iter().enumerate() {
        let num = t * wi.max(0) as i128;
        parts.push(num.div_euclid(sum) as i64);
        rems.push((num.rem_euclid(sum), i));
    }
    let given: i64 = parts.iter().sum();
    let mut left = total - given;
    if left > 0 {
        rems.sort_unstable_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        let mut k = 0;
        while left > 0 {
            parts[rems[k % rems.len()].1] += 1;
            left -= 1;
            k += 1;
        }
    }
}

/// Buffers of [`lr_into`].
#[derive(Default)]
struct Scratch {
    keys: Vec<u64>,
    rems: Vec<(i128, usize)>,
}

/// An empty output column with room for `capacity` rows. Large columns are backed by transparent
/// huge pages where the kernel offers them on request (`MADV_HUGEPAGE`): writing ~0.5 GB of fresh
/// allocations otherwise costs one page fault per 4 KiB, a third of the run time.
fn output_column(capacity: usize) -> Vec<i64> {
    let mut v: Vec<i64> = Vec::with_capacity(capacity);
    advise_huge_pages(&mut v);
    v
}

#[cfg(target_os = "linux")]
fn advise_huge_pages(v: &mut Vec<i64>) {
    extern "C" {
        fn madvise(addr: *mut std::ffi::c_void, len: usize, advice: i32) -> i32;
    }
    const MADV_HUGEPAGE: i32 = 14;
    const HUGE: usize = 1 << 21;
    let start = v.as_mut_ptr() as usize;
    let end = start + v.capacity() * std::mem::size_of::<i64>();
    let (lo, hi) = ((start + HUGE - 1) & !(HUGE - 1), end & !(HUGE - 1));
    if hi > lo {
        // SAFETY: a hint on whole pages inside the vector's own allocation; it changes neither
        // contents nor mapping, and a failure (old kernel, THP disabled) is harmless.
        unsafe {
            madvise(lo as *mut std::ffi::c_void, hi - lo, MADV_HUGEPAGE);
        }
    }
}

#[cfg(not(target_os = "linux"))]
fn advise_huge_pages(_: &mut Vec<i64>) {}

/// Per-thread state: the output columns and buffers reused across accounts.
struct Worker<'a> {
    inp: &'a Inputs<'a>,
    out: Cols9,
    /// Allocations of the current account, row by row (moved to `out` per account: one capacity
    /// check per column and account instead of one per value).
    rows: Vec<[i64; 9]>,
    /// Debt positions of the current account, ordered by (kind, period, order, service_id, row)
    /// (positions of an account are in row order).
    ord: Vec<usize>,
    /// Unpaid amount of `ord[k]`, updated as payments are applied.
    un: Vec<i64>,
    groups: Vec<Group>,
    pays: Vec<usize>,
    pos: Vec<usize>,
    w: Vec<i64>,
    act: Vec<usize>,
    parts: Vec<i64>,
    scratch: Scratch,
    expiry: ExpiryCache,
}

impl<'a> Worker<'a> {
    fn new(inp: &'a Inputs<'a>, capacity: usize) -> Self {
        Self {
            inp,
            out: std::array::from_fn(|_| output_column(capacity)),
            rows: Vec::new(),
            ord: Vec::new(),
            un: Vec::new(),
            groups: Vec::new(),
            pays: Vec::new(),
            pos: Vec::new(),
            w: Vec::new(),
            act: Vec::new(),
            parts: Vec::new(),
            scratch: Scratch::default(),
            expiry: ExpiryCache::new(),
        }
    }

    #[allow(clippy::too_many_arguments)]
    #[inline]
    fn push(
        &mut self,
        pay: Pay,
        service: i64,
        provider: i64,
        period: i64,
        kind: i64,
        step: i64,
        amount: i64,
        row: i64,
    ) {
        self.rows.push([
            pay.id,
            pay.account,
            service,
            provider,
            period,
            kind,
            step,
            amount,
            row,
        ]);
    }

    /// Move the staged rows of an account into the output columns.
    fn flush(&mut self) {
        for (c, col) in self.out.iter_mut().enumerate() {
            col.extend(self.rows.iter().map(|r| r[c]));
        }
        self.rows.clear();
    }

    /// Payment positions `ps..pe` (all of one account, in account order) and debt positions
    /// `ds..de` (that account's debts).
    fn account(&mut self, ds: usize, de: usize, ps: usize, pe: usize) {
        let inp = self.inp;
        self.ord.clear();
        self.ord.extend(ds..de);
        if !self.cut_months() {
            let key = |r: usize| (inp.kind[r], inp.period[r], inp.order[r], inp.service[r], r);
            self.ord.sort_unstable_by_key(|&r| key(r));
            let sorted = self.cut_months();
            debug_assert!(sorted);
        }
        self.un.clear();
        self.un.extend(self.ord.iter().map(|&r| inp.unpaid[r]));
        self.pays.clear();
        self.pays.extend((ps..pe).map(|k| inp.prow(k)));
        if inp.pperm.is_none() && self.pays.len() > 1 {
            self.pays.sort_by_key(|&r| (inp.pdate[r], inp.pid[r], r));
        }
        for j in 0..self.pays.len() {
            let r = self.pays[j];
            self.payment(r);
        }
        self.flush();
    }

    /// Cut `ord` (rows of one account, ascending) into debt months (`groups`); false when `ord` is
    /// not in (kind, period, order, service_id, row) order (the groups are then incomplete).
    fn cut_months(&mut self) -> bool {
        let inp = self.inp;
        self.groups.clear();
        let Some(&r0) = self.ord.first() else {
            return true;
        };
        let mut month = (inp.kind[r0], inp.period[r0]);
        let mut item = (inp.order[r0], inp.service[r0], r0);
        let mut start = 0;
        for k in 1..self.ord.len() {
            let r = self.ord[k];
            let m = (inp.kind[r], inp.period[r]);
            let it = (inp.order[r], inp.service[r], r);
            if m != month {
                if m < month {
                    return false;
                }
                self.push_month(month, start, k);
                (month, start) = (m, k);
            } else if it < item {
                return false;
            }
            item = it;
        }
        self.push_month(month, start, self.ord.len());
        true
    }

    fn push_month(&mut self, (kind, period): (i64, i64), start: usize, end: usize) {
        let expiry = if kind == KIND_PRINCIPAL || kind == KIND_PENALTY {
            self.expiry.get(period)
        } else {
            0
        };
        self.groups.push(Group {
            kind,
            period,
            start,
            end,
            expiry,
        });
    }

    /// Spread up to `amount` over the debt positions `pos` (in (order, service_id, row) order)
    /// proportionally to their unpaid amounts, capped by them. Returns the amount allocated.
    fn spread(&mut self, pos: &[usize], amount: i64, pay: Pay, step: i64) -> i64 {
        let mut positive: i64 = 0;
        for &k in pos {
            if self.un[k] > 0 {
                positive += self.un[k];
            }
        }
        let total = amount.min(positive);
        if total <= 0 {
            return 0;
        }
        // The capped split of the reference: with weights = caps = unpaid and total ≤ Σ positive
        // unpaid, one largest-remainder round never exceeds a cap (floor(total·u/Σ) ≤ u − 1 when
        // total < Σ, and = u when total = Σ), so its result is final.
        let inp = self.inp;
        let emit = |me: &mut Self, k: usize, p: i64| {
            me.un[k] -= p;
            let r = me.ord[k];
            me.push(
                pay,
                inp.service[r],
                inp.provider[r],
                inp.period[r],
                inp.kind[r],
                step,
                p,
                inp.drow(r),
            );
        };
        if total == positive {
            for &k in pos {
                let u = self.un[k];
                if u > 0 {
                    emit(self, k, u);
                }
            }
            return total;
        }
        let mut act = std::mem::take(&mut self.act);
        let mut w = std::mem::take(&mut self.w);
        let mut parts = std::mem::take(&mut self.parts);
        act.clear();
        w.clear();
        for &k in pos {
            if self.un[k] > 0 {
                act.push(k);
                w.push(self.un[k]);
            }
        }
        lr_into(total, &w, &mut parts, &mut self.scratch);
        let mut given = 0;
        for (&k, &p) in act.iter().zip(&parts) {
            given += p;
            if p != 0 {
                emit(self, k, p);
            }
        }
        self.act = act;
        self.w = w;
        self.parts = parts;
        given
    }

    /// Spread over the contiguous positions of group `g`.
    fn spread_group(&mut self, g: usize, amount: i64, pay: Pay, step: i64) -> i64 {
        let (s, e) = (self.groups[g].start, self.groups[g].end);
        let mut pos = std::mem::take(&mut self.pos);
        pos.clear();
        pos.extend(s..e);
        let got = self.spread(&pos, amount, pay, step);
        self.pos = pos;
        got
    }

    fn payment(&mut self, r: usize) {
        let inp = self.inp;
        let pay = Pay {
            id: inp.pid[r],
            account: inp.pacc[r],
            current: inp.pcur[r],
        };
        let (date, period, penalty) = (inp.pdate[r], inp.pperiod[r], inp.ppen[r]);
        let mut rem = inp.amount[r];
        let live = |g: &Group| date <= g.expiry;
        // Once nothing remains, every later step allocates nothing (as in the reference).
        // 1. designated services
        for &gi in inp.designations(r) {
            if rem <= 0 {
                return;
            }
            let (service, wanted) = (inp.gservice[gi], inp.gamount[gi]);
            let mut amt = wanted.min(rem);
            let mut months: Vec<usize> = Vec::new();
            for (g, grp) in self.groups.iter().enumerate() {
                if grp.kind == KIND_PRINCIPAL
                    && live(grp)
                    && (grp.start..grp.end).any(|k| inp.service[self.ord[k]] == service)
                {
                    months.push(g);
                }
            }
            months.sort_by_key(|&g| (self.groups[g].period != period, self.groups[g].period));
            for g in months {
                let grp = self.groups[g];
                let pos: Vec<usize> = (grp.start..grp.end)
                    .filter(|&k| inp.service[self.ord[k]] == service)
                    .collect();
                let got = self.spread(&pos, amt, pay, step::DESIGNATED);
                amt -= got;
                rem -= got;
            }
            if amt > 0 {
                let prov = self
                    .ord
                    .iter()
                    .copied()
                    .filter(|&d| inp.service[d] == service)
                    .min()
                    .map_or(0, |d| inp.provider[d]);
                self.push(
                    pay,
                    service,
                    prov,
                    pay.current,
                    KIND_ADVANCE,
                    step::EXCESS,
                    amt,
                    -1,
                );
                rem -= amt;
            }
        }
        if rem <= 0 {
            return;
        }
        // 2. explicit penalty amount, over all live penalty items
        if penalty >= 0 {
            let mut pos: Vec<usize> = Vec::new();
            for grp in &self.groups {
                if grp.kind == KIND_PENALTY && live(grp) {
                    pos.extend(grp.start..grp.end);
                }
            }
            let ord = &self.ord;
            pos.sort_by_key(|&k| (inp.order[ord[k]], inp.service[ord[k]], ord[k]));
            let amt = penalty.min(rem);
            rem -= self.spread(&pos, amt, pay, step::PENALTY_GIVEN);
            if rem <= 0 {
                return;
            }
        }
        // 3. the designated period
        if period != 0 {
            if let Some(g) = self
                .groups
                .iter()
                .position(|g| g.kind == KIND_PRINCIPAL && g.period == period)
            {
                if live(&self.groups[g]) {
                    rem -= self.spread_group(g, rem, pay, step::PERIOD);
                }
            }
        }
        // 4. oldest principal first, 5. penalties oldest first (groups are in (kind, period) order)
        for (kind, st) in [
            (KIND_PRINCIPAL, step::OLDEST),
            (KIND_PENALTY, step::PENALTY),
        ] {
            for g in 0..self.groups.len() {
                if rem <= 0 {
                    return;
                }
                let grp = self.groups[g];
                if grp.kind == kind && live(&grp) {
                    rem -= self.spread_group(g, rem, pay, st);
                }
            }
        }
        if rem <= 0 {
            return;
        }
        // 6. advance, proportional to the current period's charges (expired or not)
        let cur = self
            .groups
            .iter()
            .find(|g| g.kind == KIND_PRINCIPAL && g.period == pay.current)
            .copied();
        match cur {
            None => self.push(pay, 0, 0, pay.current, KIND_ADVANCE, step::ADVANCE, rem, -1),
            Some(grp) => {
                let mut w = std::mem::take(&mut self.w);
                let mut parts = std::mem::take(&mut self.parts);
                w.clear();
                w.extend((grp.start..grp.end).map(|k| inp.charge[self.ord[k]].max(0)));
                if w.iter().sum::<i64>() == 0 {
                    w.iter_mut().for_each(|x| *x = 1);
                }
                lr_into(rem, &w, &mut parts, &mut self.scratch);
                for (k, &p) in (grp.start..grp.end).zip(&parts) {
                    if p != 0 {
                        let d = self.ord[k];
                        self.push(
                            pay,
                            inp.service[d],
                            inp.provider[d],
                            pay.current,
                            KIND_ADVANCE,
                            step::ADVANCE,
                            p,
                            inp.drow(d),
                        );
                    }
                }
                self.w = w;
                self.parts = parts;
            }
        }
    }

    /// Payment positions `ps..pe` (whole accounts): walk the accounts and their debts.
    fn run(&mut self, ps: usize, pe: usize) {
        let inp = self.inp;
        if ps >= pe {
            return;
        }
        let nd = inp.acc.len();
        let mut d = inp.debt_lower_bound(inp.pacc_at(ps));
        let mut k = ps;
        while k < pe {
            let a = inp.pacc_at(k);
            let mut ke = k + 1;
            while ke < pe && inp.pacc_at(ke) == a {
                ke += 1;
            }
            while d < nd && inp.dacc(d) < a {
                d += 1;
            }
            let ds = d;
            while d < nd && inp.dacc(d) == a {
                d += 1;
            }
            self.account(ds, d, k, ke);
            k = ke;
        }
    }
}

/// Number of threads for `n` input rows (`threads` = 0: all cores, one per 100,000 rows).
fn threads_for(n: usize, threads: usize) -> usize {
    if threads > 0 {
        return threads;
    }
    let hw = std::thread::available_parallelism().map_or(1, |x| x.get());
    hw.clamp(1, (n / 100_000).max(1))
}

/// Columnar `split_payments` (§5.2) on all cores: accounts in ascending id order, the payments of
/// an account in (pay_date, payment_id) order. Same rows as [`allocate_reference`].
pub fn allocate(
    debts: &Table,
    payments: &Table,
    designations: &Table,
) -> Result<Output, CalcError> {
    allocate_par(debts, payments, designations, 0)
}

/// [`allocate`] on `threads` threads (0 = all cores; small batches use one).
pub fn allocate_par(
    debts: &Table,
    payments: &Table,
    designations: &Table,
    threads: usize,
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
    let (nd, np) = (debts.len(), payments.len());
    // designations of each payment row, in their order (a duplicated payment_id: the last row)
    let (mut gstart, mut gidx) = (Vec::new(), Vec::new());
    if !designations.is_empty() {
        let mut row_of: HashMap<i64, usize> = HashMap::with_capacity(np);
        for (i, &id) in pc[0].iter().enumerate() {
            row_of.insert(id, i);
        }
        let mut target = Vec::with_capacity(gp.len());
        for &id in gp {
            let r = *row_of
                .get(&id)
                .ok_or_else(|| CalcError::Input(format!("designation for unknown payment {id}")))?;
            target.push(r);
        }
        gstart = vec![0usize; np + 1];
        for &r in &target {
            gstart[r + 1] += 1;
        }
        for i in 0..np {
            gstart[i + 1] += gstart[i];
        }
        let mut fill = gstart.clone();
        gidx = vec![0usize; target.len()];
        for (g, &r) in target.iter().enumerate() {
            gidx[fill[r]] = g;
            fill[r] += 1;
        }
    }
    // debts not in account order: a copy of the columns in (account, row) order (sequential reads
    // afterwards instead of scattered ones), remembering the input rows
    let (drows, gathered): (Option<Vec<usize>>, Vec<Vec<i64>>) = if non_decreasing(dc[0]) {
        (None, Vec::new())
    } else {
        let mut kv: Vec<(i64, usize)> = dc[0].iter().copied().zip(0..).collect();
        kv.sort_unstable();
        let rows: Vec<usize> = kv.into_iter().map(|x| x.1).collect();
        let cols = dc
            .iter()
            .map(|c| rows.iter().map(|&r| c[r]).collect())
            .collect();
        (Some(rows), cols)
    };
    let dc: Vec<&[i64]> = if drows.is_some() {
        gathered.iter().map(|c| c.as_slice()).collect()
    } else {
        dc
    };
    let pperm = if non_decreasing(pc[1]) {
        None
    } else {
        let mut v: Vec<usize> = (0..np).collect();
        v.sort_unstable_by_key(|&r| (pc[1][r], pc[3][r], pc[0][r], r));
        Some(v)
    };
    let inp = Inputs {
        acc: dc[0],
        period: dc[1],
        service: dc[2],
        provider: dc[3],
        kind: dc[4],
        unpaid: dc[5],
        charge: dc[6],
        order: dc[7],
        pid: pc[0],
        pacc: pc[1],
        amount: pc[2],
        pdate: pc[3],
        pperiod: pc[4],
        pcur: pc[5],
        ppen: pc[6],
        gservice: gs,
        gamount: ga,
        drows,
        pperm,
        gstart,
        gidx,
    };
    let nt = if np == 0 {
        1
    } else {
        threads_for(nd + np, threads)
    };
    // split points: whole accounts, balanced by debt rows (by payments without debts)
    let mut cuts = vec![0usize];
    for t in 1..nt {
        let a = if nd > 0 {
            inp.dacc(nd * t / nt)
        } else {
            inp.pacc_at(np * t / nt)
        };
        let c = inp.pay_lower_bound(a).max(*cuts.last().expect("cut"));
        cuts.push(c);
    }
    cuts.push(np);
    let estimate = |ps: usize, pe: usize| -> usize {
        if np == 0 {
            0
        } else {
            (pe - ps) + (nd as u128 * (pe - ps) as u128 / np as u128) as usize
        }
    };
    let mut outs: Vec<Cols9> = if nt == 1 {
        let mut w = Worker::new(&inp, estimate(0, np));
        w.run(0, np);
        vec![w.out]
    } else {
        let inp = &inp;
        let cuts = &cuts;
        std::thread::scope(|s| {
            let handles: Vec<_> = (0..nt)
                .map(|t| {
                    s.spawn(move || {
                        let (ps, pe) = (cuts[t], cuts[t + 1]);
                        // the first thread's columns become the result: room for all of it
                        let cap = if t == 0 {
                            estimate(0, np)
                        } else {
                            estimate(ps, pe)
                        };
                        let mut w = Worker::new(inp, cap);
                        w.run(ps, pe);
                        w.out
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("split thread"))
                .collect()
        })
    };
    let mut first = outs.remove(0);
    if !outs.is_empty() {
        // append the other threads' columns, one column per thread
        std::thread::scope(|s| {
            for (c, col) in first.iter_mut().enumerate() {
                let rest: Vec<&Vec<i64>> = outs.iter().map(|o| &o[c]).collect();
                s.spawn(move || {
                    let more: usize = rest.iter().map(|v| v.len()).sum();
                    col.reserve(more);
                    for v in rest {
                        col.extend_from_slice(v);
                    }
                });
            }
        });
    }
    Ok(ALLOC_COLUMNS.iter().copied().zip(first).collect())
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
    /// Small deterministic generator (xorshift) for the randomized comparisons.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn int(&mut self, lo: i64, hi: i64) -> i64 {
            lo + (self.next() % (hi - lo + 1) as u64) as i64
        }
        fn pick(&mut self, xs: &[i64]) -> i64 {
            xs[(self.next() % xs.len() as u64) as usize]
        }
    }

    type Batch = (Vec<Vec<i64>>, Vec<Vec<i64>>, Vec<Vec<i64>>);

    const DN: [&str; 8] = [
        "account_id",
        "period",
        "service_id",
        "provider_id",
        "kind",
        "unpaid_kop",
        "charge_kop",
        "order",
    ];
    const PN: [&str; 7] = [
        "payment_id",
        "account_id",
        "amount_kop",
        "pay_date",
        "period",
        "current_period",
        "penalty_kop",
    ];
    const GN: [&str; 3] = ["payment_id", "service_id", "amount_kop"];

    fn random_batch(rng: &mut Rng, accounts: i64, sorted: bool) -> Batch {
        let periods = [
            202_112, 202_201, 202_212, 202_305, 202_410, 202_501, 202_502, 202_503,
        ];
        let mut d: Vec<Vec<i64>> = vec![Vec::new(); 8];
        let nd = rng.int(0, accounts * 8) as usize;
        for _ in 0..nd {
            let row = [
                rng.int(1, accounts),
                rng.pick(&periods),
                rng.int(1, 6),
                rng.int(1, 3),
                rng.pick(&[0, 0, 0, 0, 1, 1, 2]),
                if rng.int(0, 9) == 0 {
                    -rng.int(0, 5_000)
                } else {
                    rng.pick(&[0, 1, 7, 999, 12_345, 500_000, 1_000_000_000_000])
                },
                rng.pick(&[0, 0, 3, 41_042, 529_84, 1_000_000]),
                rng.int(0, 3),
            ];
            for (c, v) in d.iter_mut().zip(row) {
                c.push(v);
            }
        }
        if sorted {
            let mut idx: Vec<usize> = (0..nd).collect();
            idx.sort_by_key(|&i| d[0][i]);
            d = d
                .iter()
                .map(|c| idx.iter().map(|&i| c[i]).collect())
                .collect();
        }
        let np = rng.int(0, accounts * 3) as usize;
        let mut p: Vec<Vec<i64>> = vec![Vec::new(); 7];
        for i in 0..np {
            let row = [
                (np - i) as i64 * 5 + rng.int(0, 2),
                rng.int(1, accounts + 2),
                rng.pick(&[
                    0,
                    1,
                    100,
                    5_000,
                    77_777,
                    1_000_000,
                    3_000_000,
                    5_000_000_000_000,
                ]),
                rng.int(18_600, 20_700),
                rng.pick(&[0, 0, 0, 202_501, 202_112, 202_503, 202_212]),
                rng.pick(&[0, 202_503, 202_504, 202_501]),
                rng.pick(&[-1, -1, -1, 0, 1_000, 100_000]),
            ];
            for (c, v) in p.iter_mut().zip(row) {
                c.push(v);
            }
        }
        if sorted {
            let mut idx: Vec<usize> = (0..np).collect();
            idx.sort_by_key(|&i| p[1][i]);
            p = p
                .iter()
                .map(|c| idx.iter().map(|&i| c[i]).collect())
                .collect();
        }
        let mut g: Vec<Vec<i64>> = vec![Vec::new(); 3];
        if np > 0 {
            for _ in 0..rng.int(0, np as i64 / 2) {
                let k = rng.int(0, np as i64 - 1) as usize;
                g[0].push(p[0][k]);
                g[1].push(rng.int(1, 7));
                g[2].push(rng.pick(&[0, 10, 5_000, 300_000]));
            }
        }
        (d, p, g)
    }

    fn tables<'a>(names: &[&str], cols: &'a [Vec<i64>]) -> Table<'a> {
        let mut t = Table::new();
        for (n, c) in names.iter().zip(cols) {
            t.add(n, c).unwrap();
        }
        t
    }

    #[test]
    fn buffered_largest_remainder_equals_largest_remainder() {
        let mut rng = Rng(0xfeed_beef);
        let (mut parts, mut scratch) = (Vec::new(), Scratch::default());
        for case in 0..20_000 {
            let n = rng.int(0, 12) as usize;
            let big = case % 4 == 0;
            let w: Vec<i64> = (0..n)
                .map(|_| {
                    if big {
                        rng.pick(&[-7, 0, 1, 3, 1 << 31, 1 << 40, i64::MAX / 4])
                    } else {
                        rng.int(-50, 5_000)
                    }
                })
                .collect();
            let total = if big {
                rng.pick(&[-1_000_000, 0, 1, 99, 1 << 33, u32::MAX as i64])
            } else {
                rng.int(-10, 100_000)
            };
            lr_into(total, &w, &mut parts, &mut scratch);
            assert_eq!(parts, largest_remainder(total, &w), "{total} {w:?}");
        }
    }

    #[test]
    fn fast_path_equals_reference_on_random_batches() {
        let mut rng = Rng(0x5eed_1234_abcd_0001);
        for case in 0..1_500 {
            let accounts = [1, 2, 3, 5, 40][case % 5];
            let (d, p, g) = random_batch(&mut rng, accounts, case % 3 == 0);
            let (td, tp, tg) = (tables(&DN, &d), tables(&PN, &p), tables(&GN, &g));
            let want = allocate_reference(&td, &tp, &tg).unwrap();
            for threads in [1, 2, 3] {
                let got = allocate_par(&td, &tp, &tg, threads).unwrap();
                assert_eq!(got, want, "case {case}, {threads} threads");
            }
        }
    }

    #[test]
    fn fast_path_threads_split_whole_accounts() {
        let mut rng = Rng(0x0dd_ba11);
        for sorted in [true, false] {
            let (d, p, g) = random_batch(&mut rng, 30_000, sorted);
            let (td, tp, tg) = (tables(&DN, &d), tables(&PN, &p), tables(&GN, &g));
            let want = allocate_reference(&td, &tp, &tg).unwrap();
            for threads in [1, 2, 4] {
                assert_eq!(allocate_par(&td, &tp, &tg, threads).unwrap(), want);
            }
        }
    }

    #[test]
    fn unknown_designation_is_an_error() {
        let (d, p) = (vec![Vec::new(); 8], vec![vec![1]; 7]);
        let g = vec![vec![2], vec![1], vec![5]];
        let err = allocate(&tables(&DN, &d), &tables(&PN, &p), &tables(&GN, &g)).unwrap_err();
        assert_eq!(
            err,
            CalcError::Input("designation for unknown payment 2".into())
        );
    }
}
