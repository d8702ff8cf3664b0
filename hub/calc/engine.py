"""The engine facade: one columnar API over the Rust engine (default) and the Python reference.

Every function takes columnar batches — a mapping of column name → array (numpy, lists), a pyarrow
Table/RecordBatch or a pandas DataFrame — and returns a ``dict[str, numpy.ndarray]`` of int64 columns.
Column names, units and defaults: :mod:`hub.calc.schema` and docs/calc.md. ``engine="rust"`` runs
``unipay_calc`` (no per-row Python, GIL released); ``engine="python"`` runs the Decimal/Fraction
reference of this package; both give identical results to the kopeck.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

import numpy as np

from hub.calc import benefits as _benefits
from hub.calc import charges as _charges
from hub.calc import penalties as _penalties
from hub.calc import quality as _quality
from hub.calc import recalc as _recalc
from hub.calc import saldo as _saldo
from hub.calc import schema as S
from hub.calc import settlement as _settlement
from hub.calc import split as _split
from hub.calc.units import days_in_month, due_date, to_days

Engine = Literal["rust", "python"]
Columns = dict[str, np.ndarray]
ENGINES: tuple[Engine, ...] = ("rust", "python")


def _native() -> Any:
    try:
        import unipay_calc._native as native
    except ImportError as exc:  # pragma: no cover - depends on the installation
        raise RuntimeError(
            "Rust engine unipay_calc is not installed (maturin build -m calc_ext/Cargo.toml); "
            "use engine='python'"
        ) from exc
    return native


def rust_available() -> bool:
    """True when the Rust extension can be imported."""
    try:
        _native()
    except RuntimeError:
        return False
    return True


def _check_engine(engine: str) -> None:
    if engine not in ENGINES:
        raise ValueError(f"unknown engine {engine!r}; expected one of {ENGINES}")


def _pick(cols: Columns, names: tuple[str, ...] | list[str]) -> Columns:
    return {k: cols[k] for k in names}


def _day(value: int | dt.date | np.datetime64) -> int:
    if isinstance(value, dt.date):
        return to_days(value)
    if isinstance(value, np.datetime64):
        return int(value.astype("datetime64[D]").astype(np.int64))
    return int(value)


def _due_dates(periods: np.ndarray) -> np.ndarray:
    return np.array([to_days(due_date(int(p))) for p in periods], dtype=np.int64)


# --------------------------------------------------------------------------------------------- splits


def split_largest_remainder(
    total: int, weights: Any, caps: Any = None, engine: Engine = "rust"
) -> np.ndarray:
    """§5.3: split ``total`` kopecks by ``weights`` (largest remainder), optionally capped per item."""
    _check_engine(engine)
    w = S.to_int64("weights", weights)
    if caps is None:
        if engine == "rust":
            return _native().split_largest_remainder(int(total), w)
        return np.array(_split.largest_remainder(int(total), w.tolist()), dtype=np.int64)
    c = S.to_int64("caps", caps)
    if len(c) != len(w):
        raise ValueError("weights and caps differ in length")
    if engine == "rust":
        return _native().split_capped(int(total), w, c)
    return np.array(_split.largest_remainder_capped(int(total), w.tolist(), c.tolist()), dtype=np.int64)


def _strictly_increasing(a: np.ndarray) -> bool:
    return bool(np.all(a[1:] > a[:-1])) if len(a) > 1 else True


def _latest_period(
    debt_account: np.ndarray, debt_period: np.ndarray, account: np.ndarray, fallback: np.ndarray
) -> np.ndarray:
    """``max(0, latest debt period)`` of each of ``account`` (any debt kind); ``fallback`` for an
    account without debts — the default ``current_period`` of a payment."""
    if len(debt_account) == 0:
        return fallback.copy()
    if len(debt_account) > 1 and not bool(np.all(debt_account[1:] >= debt_account[:-1])):
        o = np.argsort(debt_account)
        debt_account, debt_period = debt_account[o], debt_period[o]
    starts = np.flatnonzero(np.r_[True, debt_account[1:] != debt_account[:-1]])
    accounts = debt_account[starts]
    latest = np.maximum(np.maximum.reduceat(debt_period, starts), 0)
    k = np.minimum(np.searchsorted(accounts, account), len(accounts) - 1)
    return np.where(accounts[k] == account, latest[k], fallback)


def split_payments(debts: Any, payments: Any, designations: Any = None, engine: Engine = "rust") -> Columns:
    """§5.2: allocate payments to debts.

    ``debts`` (one row per account × period × service × kind): account_id, period, service_id,
    provider_id, kind (0 principal, 1 penalty), unpaid_kop, charge_kop (the period's charge, weights of
    the advance), order (service sort order, default service_id). ``payments``: payment_id, account_id,
    amount_kop, pay_date, period (0 = not designated), current_period (0 → latest debt period of the
    account), penalty_kop (−1 = not designated). ``designations``: payment_id, service_id, amount_kop.

    Returns allocations: payment_id, account_id, service_id, provider_id, period, kind (0 principal,
    1 penalty, 2 advance), step (see ``hub.calc.split``), amount_kop, debt_row (−1 for advances without
    a debt row). The allocations of a payment add up to its amount.
    """
    _check_engine(engine)
    d = S.normalize(debts, S.DEBTS, "debts")
    if "order" not in d:
        d["order"] = d["service_id"]  # read only by the engines: no copy
    p = S.normalize(payments, S.PAYMENTS, "payments")
    g = S.normalize(
        designations or {"payment_id": [], "service_id": [], "amount_kop": []}, S.DESIGNATIONS, "designations"
    )
    if np.any(p["amount_kop"] < 0) or np.any(g["amount_kop"] < 0):
        raise ValueError("payments: amounts must not be negative (refunds are corrections, not payments)")
    ids = p["payment_id"]
    if not _strictly_increasing(ids):
        s = np.sort(ids)
        if np.any(s[1:] == s[:-1]):
            raise ValueError("payments: payment_id must be unique")
    if len(g["payment_id"]):
        known = np.isin(g["payment_id"], ids)
        if not known.all():
            raise ValueError(
                f"designations refer to unknown payments {np.unique(g['payment_id'][~known]).tolist()}"
            )
    zero = p["current_period"] == 0
    if zero.any():
        cur = p["current_period"].copy()
        cur[zero] = _latest_period(d["account_id"], d["period"], p["account_id"][zero], p["period"][zero])
        p["current_period"] = cur
    dcols = _pick(
        d, ("account_id", "period", "service_id", "provider_id", "kind", "unpaid_kop", "charge_kop", "order")
    )
    pcols = _pick(
        p, ("payment_id", "account_id", "amount_kop", "pay_date", "period", "current_period", "penalty_kop")
    )
    gcols = _pick(g, ("payment_id", "service_id", "amount_kop"))
    if engine == "rust":
        return _native().split_payments(dcols, pcols, gcols)
    return _split.allocate_batch(dcols, pcols, gcols)


# -------------------------------------------------------------------------------------------- charges


def _validate_charges(c: Columns) -> None:
    m = c["method"]
    if np.any((m < 1) | (m > 9)):
        raise ValueError("charges: method must be 1..9 (see hub.calc.charges.Method)")
    if np.any(c["share_den"] <= 0):
        raise ValueError("charges: share_den must be positive")
    needs_total = np.isin(m, [_charges.Method.HEAT_ODPU, _charges.Method.SOI])
    if np.any(needs_total & (c["total_area_x4"] <= 0)):
        raise ValueError("charges: total_area_x4 (S_об) must be positive for HEAT_ODPU and SOI")
    per = c["period"]
    if np.any((per % 100 < 1) | (per % 100 > 12) | (per < 190001)):
        raise ValueError("charges: period must be YYYYMM")


def compute_charges(inputs: Any, engine: Engine = "rust") -> Columns:
    """§1: one charge line per input row (account × service × component × period).

    Output: the pass-through columns (account_id, service_id, provider_id, component, period, method,
    tariff_x4, norm_x6, person_days, area_x4, share_num, share_den) and the computed explanation:
    method_applied, volume_x6 (V × share, rounded to 1e-6), coef_x4 (the coefficient applied),
    amount_kop, base_kop (without the coefficient) and increase_kop (= amount − base, ЕПД "г(1)").
    """
    _check_engine(engine)
    c = S.normalize(inputs, S.CHARGES, "charges")
    _validate_charges(c)
    core = _pick(c, _charges.INPUTS)
    res = _native().compute_charges(core) if engine == "rust" else _charges.compute_batch(core)
    out = {k: c[k] for k in S.CHARGES_PASSTHROUGH}
    out.update(res)
    return out


def compute_recalc(
    corrected: Any,
    charged_kop: Any,
    *,
    post_period: int,
    reason: int = _recalc.REASON_TARIFF,
    engine: Engine = "rust",
) -> Columns:
    """§2.2: ``delta = recompute(corrected inputs) − charged``, posted in ``post_period``.

    ``corrected`` is a charges batch for the corrected periods; ``charged_kop`` what was billed for each
    row. Output: the charge lines of the corrected inputs plus ``charged_kop``, ``delta_kop``, ``reason``,
    ``corrected_period`` (= the row's period) and ``post_period``.
    """
    out = compute_charges(corrected, engine)
    charged = S.to_int64("charged_kop", charged_kop, len(out["period"]))
    if len(charged) != len(out["period"]):
        raise ValueError("compute_recalc: charged_kop length differs from the batch")
    n = len(charged)
    out["charged_kop"] = charged
    out["delta_kop"] = out["amount_kop"] - charged
    out["reason"] = np.full(n, reason, dtype=np.int64)
    out["corrected_period"] = out["period"].copy()
    out["post_period"] = np.full(n, post_period, dtype=np.int64)
    return out


def late_readings_recalc(
    volume_x6: int,
    periods: list[int],
    tariffs_x4: list[int],
    charged_kop: list[int],
    *,
    post_period: int,
    engine: Engine = "rust",
    **keys: int,
) -> Columns:
    """§2.3: re-price an actual volume over the unread months (pro rata by days), delta per month."""
    batch: dict[str, Any] = dict(_recalc.late_reading_rows(volume_x6, periods, tariffs_x4))
    for k, v in keys.items():
        batch[k] = np.full(len(periods), v, dtype=np.int64)
    return compute_recalc(
        batch, charged_kop, post_period=post_period, reason=_recalc.REASON_READINGS, engine=engine
    )


def absence_recalc(inputs: Any, *, post_period: int | None = None, engine: Engine = "rust") -> Columns:
    """§2.1: temporary-absence recalculation, one row per (absence × month to recalculate).

    Input: account_id, service_id, period, norm_x6, tariff_x4, coef_x4, persons (away), depart_date,
    return_date, eligible (norm-based service without ИПУ for lack of technical possibility).
    Output: the keys, absent_days (full days in the period), total_days (full days of the absence),
    delta_kop (≤ 0), reason (1), corrected_period, post_period.
    """
    _check_engine(engine)
    c = S.normalize(inputs, S.ABSENCE, "absence")
    core = _pick(
        c, ("period", "norm_x6", "tariff_x4", "coef_x4", "persons", "depart_date", "return_date", "eligible")
    )
    res = _native().absence_recalc(core) if engine == "rust" else _recalc.absence_batch(core)
    n = len(c["period"])
    out = {k: c[k] for k in ("account_id", "service_id", "period")}
    out.update(res)
    out["reason"] = np.full(n, _recalc.REASON_ABSENCE, dtype=np.int64)
    out["corrected_period"] = c["period"].copy()
    out["post_period"] = (
        c["period"].copy() if post_period is None else np.full(n, post_period, dtype=np.int64)
    )
    return out


def compute_benefits(inputs: Any, engine: Engine = "rust") -> Columns:
    """§1.5: benefit per (charge line × benefit). Input: account_id, service_id, period, charge_kop,
    share_bp (−1 = subsidy without share), covered, registered, active_days (default: whole month).
    Output: the keys, charge_kop and benefit_kop."""
    _check_engine(engine)
    c = S.normalize(inputs, S.BENEFITS, "benefits")
    if "active_days" not in c:
        c["active_days"] = np.array([days_in_month(int(p)) for p in c["period"]], dtype=np.int64)
    core = _pick(c, ("period", "charge_kop", "share_bp", "covered", "registered", "active_days"))
    res = _native().compute_benefits(core) if engine == "rust" else _benefits.compute_batch(core)
    out = {k: c[k] for k in ("account_id", "service_id", "period", "charge_kop")}
    out.update(res)
    return out


def reductions(events: Any, rules: Any = None, engine: Engine = "rust") -> Columns:
    """§3: reductions for poor quality. ``events``: account_id, service_id, period, rule_code, charge_kop
    (the month's charge before reduction), duration_min, norm_temp_dc, temp_dc (0.1 °C), night (00–05).
    ``rules``: the Appendix 1 table (default ``data/quality_rules.csv``). Output per (account, service,
    period), first-appearance order: account_id, service_id, period, charge_kop, reduction_kop, share_ppm,
    excess_min, below_40; plus delta_kop = −reduction_kop and reason 4 (a recalculation line)."""
    _check_engine(engine)
    e = S.normalize(events, S.QUALITY_EVENTS, "quality events")
    r = S.normalize(
        rules if rules is not None else _quality.rules_columns(_quality.load_rules()),
        S.QUALITY_RULES,
        "quality rules",
    )
    unknown = set(e["rule_code"].tolist()) - set(r["code"].tolist())
    if unknown:
        raise ValueError(f"quality events: unknown rule codes {sorted(unknown)}")
    ecore = _pick(e, tuple(S.QUALITY_EVENTS))
    rcore = _pick(r, tuple(S.QUALITY_RULES))
    out = _native().reductions(ecore, rcore) if engine == "rust" else _quality.compute_batch(ecore, rcore)
    out["delta_kop"] = -out["reduction_kop"]
    out["reason"] = np.full(len(out["delta_kop"]), _recalc.REASON_QUALITY, dtype=np.int64)
    return out


# ------------------------------------------------------------------------------------------ penalties


def default_key_rates() -> Columns:
    """The shipped Bank of Russia key-rate history as columns (date_from day numbers, rate_bp)."""
    rows = _penalties.load_key_rates()
    return {
        "date_from": np.array([to_days(d) for d, _ in rows], dtype=np.int64),
        "rate_bp": np.array([r for _, r in rows], dtype=np.int64),
    }


def default_regimes(moratorium_2022: bool = True) -> Columns:
    """The shipped special-regimes table as columns."""
    regs = _penalties.load_regimes(moratorium_2022=moratorium_2022)
    return {
        "kind": np.array([g.kind for g in regs], dtype=np.int64),
        "date_from": np.array([to_days(g.date_from) for g in regs], dtype=np.int64),
        "date_to": np.array([to_days(g.date_to) for g in regs], dtype=np.int64),
        "value": np.array([g.value for g in regs], dtype=np.int64),
    }


def compute_penalties(
    debts: Any,
    paid: Any = None,
    *,
    calc_date: int | dt.date | np.datetime64,
    key_rates: Any = None,
    regimes: Any = None,
    moratorium_2022: bool = True,
    engine: Engine = "rust",
) -> Columns:
    """§4: penalty of each debt month at ``calc_date``.

    ``debts``: account_id, service_id, provider_id, period, amount_kop (the month's principal due),
    capital_repair (1 = капремонт, ч.14.1), due_date (default: 10th / 15th of the next month), posted_kop
    (penalty posted before for this debt month). ``paid``: debt_row (row index in ``debts``), pay_date,
    amount_kop — the payments applied to each debt month (e.g. from :func:`split_payments`).
    ``key_rates`` (date_from, rate_bp) and ``regimes`` (kind, date_from, date_to, value) default to the
    shipped tables; ``moratorium_2022`` switches the 2022 moratorium row of the default regimes.

    Output: the keys, due_date, penalty_kop (total to date), delta_kop (= penalty − posted: the line to
    post), days_300, days_130, rate_bp, unpaid_kop.
    """
    _check_engine(engine)
    d = S.normalize(debts, S.PENALTY_DEBTS, "penalty debts")
    if "due_date" not in d:
        d["due_date"] = _due_dates(d["period"])
    pd_ = S.normalize(paid or {"debt_row": [], "pay_date": [], "amount_kop": []}, S.PENALTY_PAID, "paid")
    if len(pd_["debt_row"]) and (pd_["debt_row"].min() < 0 or pd_["debt_row"].max() >= len(d["period"])):
        raise ValueError("paid: debt_row out of range")
    kr = S.normalize(key_rates if key_rates is not None else default_key_rates(), S.KEY_RATES, "key rates")
    rg = S.normalize(
        regimes if regimes is not None else default_regimes(moratorium_2022), S.REGIMES, "regimes"
    )
    day = _day(calc_date)
    dcore = _pick(d, ("period", "amount_kop", "capital_repair", "due_date", "posted_kop"))
    pcore = _pick(pd_, tuple(S.PENALTY_PAID))
    kcore = _pick(kr, tuple(S.KEY_RATES))
    rcore = _pick(rg, tuple(S.REGIMES))
    if engine == "rust":
        res = _native().compute_penalties(dcore, pcore, kcore, rcore, day)
    else:
        res = _penalties.compute_batch(dcore, pcore, kcore, rcore, day)
    out = {k: d[k] for k in ("account_id", "service_id", "provider_id", "period", "due_date")}
    out.update(res)
    return out


# ---------------------------------------------------------------------------- transfers and balances


def transfers(allocations: Any, payments: Any, fees: Any, engine: Engine = "rust") -> tuple[Columns, Columns]:
    """§5.4: agent commission split and the transfer registry.

    ``allocations``: payment_id, provider_id, amount_kop (+ any columns, passed through);
    ``payments``: payment_id, commission_kop (withheld by the agent); ``fees``: provider_id, fee_ppm.
    Returns (allocations + commission_kop per allocation, registry lines: payment_id, provider_id,
    gross_kop, commission_kop, fee_kop, net_kop). Σ net + Σ commission + Σ fee = Σ gross.
    """
    _check_engine(engine)
    a = S.normalize(allocations, S.ALLOCATIONS, "allocations")
    p = S.normalize(payments, {"payment_id": S.REQUIRED, "commission_kop": 0}, "payments")
    f = S.normalize(fees, S.FEES, "fees")
    acore = _pick(a, tuple(S.ALLOCATIONS))
    pcore = _pick(p, ("payment_id", "commission_kop"))
    fcore = _pick(f, tuple(S.FEES))
    if engine == "rust":
        per_alloc, lines = _native().transfers(acore, pcore, fcore)
    else:
        per_alloc, lines = _settlement.transfers_batch(acore, pcore, fcore)
    out = dict(a)
    out.update(per_alloc)
    return out, lines


def provider_balances(rows: Any, engine: Engine = "rust") -> Columns:
    """§5.4 provider saldo: provider_id, opening_kop, collected_kop, commission_kop, fee_kop,
    transferred_kop → + closing_kop (payable to the provider), transfer_due_kop (max(0, closing))."""
    _check_engine(engine)
    c = S.normalize(rows, S.BALANCES, "balances")
    core = _pick(c, tuple(S.BALANCES)[1:])
    res = _native().provider_balances(core) if engine == "rust" else _settlement.balances_batch(core)
    out = dict(c)
    out.update(res)
    return out


# ------------------------------------------------------------------------------------- saldo and aging


def saldo(rows: Any, engine: Engine = "rust") -> Columns:
    """§6: account_id, service_id, period, opening_kop, charged_kop, recalc_kop, paid_kop, correction_kop →
    + opening_kop (chained), closing_kop, account_total_kop (Σ closing of the account × period),
    to_pay_kop (max(0, total))."""
    _check_engine(engine)
    c = S.normalize(rows, S.SALDO, "saldo")
    core = _pick(c, tuple(S.SALDO))
    res = _native().saldo(core) if engine == "rust" else _saldo.saldo_batch(core)
    out = dict(c)
    out.update(res)
    return out


def aging(rows: Any, *, as_of: int | dt.date | np.datetime64, engine: Engine = "rust") -> Columns:
    """§6 aging: account_id, service_id, period, charged_kop, credit_kop, due_date (default from period) →
    + remaining_kop, days_past_due, bucket (0 not due … 6 over 1095 days), advance_kop."""
    _check_engine(engine)
    c = S.normalize(rows, S.AGING, "aging")
    if "due_date" not in c:
        c["due_date"] = _due_dates(c["period"])
    core = _pick(c, ("account_id", "service_id", "period", "charged_kop", "credit_kop", "due_date"))
    day = _day(as_of)
    res = _native().aging(core, day) if engine == "rust" else _saldo.aging_batch(core, day)
    out = dict(c)
    out.update(res)
    return out


def aging_buckets(aged: Columns) -> Columns:
    """Totals per (account, bucket) of an :func:`aging` result, plus months_of_debt_x4 per account
    (total debt / the latest month's charge, ×10 000)."""
    acc = aged["account_id"]
    keys = sorted(set(zip(acc.tolist(), aged["bucket"].tolist(), strict=True)))
    total = {k: 0 for k in keys}
    for a, b, r in zip(acc.tolist(), aged["bucket"].tolist(), aged["remaining_kop"].tolist(), strict=True):
        total[(a, b)] += r
    keys = [k for k in keys if total[k]]
    latest: dict[int, tuple[int, int]] = {}
    debt: dict[int, int] = {}
    for a, p, ch, r in zip(
        acc.tolist(),
        aged["period"].tolist(),
        aged["charged_kop"].tolist(),
        aged["remaining_kop"].tolist(),
        strict=True,
    ):
        debt[a] = debt.get(a, 0) + r
        per, amt = latest.get(a, (0, 0))
        if p > per:
            latest[a] = (p, ch)
        elif p == per:
            latest[a] = (p, amt + ch)
    months = {a: (debt[a] * 10_000 // latest[a][1] if latest[a][1] > 0 else 0) for a in latest}
    return {
        "account_id": np.array([k[0] for k in keys], dtype=np.int64),
        "bucket": np.array([k[1] for k in keys], dtype=np.int64),
        "amount_kop": np.array([total[k] for k in keys], dtype=np.int64),
        "months_of_debt_x4": np.array([months[k[0]] for k in keys], dtype=np.int64),
    }
