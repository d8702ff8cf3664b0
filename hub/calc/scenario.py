"""YAML scenarios: small self-contained cases with expected lines, checked on one or both engines.

A scenario file holds reference data, inputs per section (charges, recalc, late_readings, absence,
benefits, reductions, penalties, splits, transfers, provider_balances, saldo, aging), settings, and
``expect`` with the expected lines in human units (rubles, m³, %, dates). The format is documented in
docs/scenarios.md. :func:`check_scenario` runs every section on the requested engines, compares the
results with the expectations and, with ``engine="both"``, the two engines with each other column by
column; :meth:`ScenarioResult.report` renders a readable diff.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from hub.calc import engine as E
from hub.calc.charges import Method
from hub.calc.units import days_in_month, from_days, to_days

KOP, X6, X4, BP, PPM = 100, 10**6, 10**4, 100, 10**4  # scales from human units (rubles, units, %)

DEFAULT_SERVICES = {
    "maintenance": 1,
    "heating": 2,
    "cold_water": 3,
    "hot_water": 4,
    "sewer": 5,
    "electricity": 6,
    "gas": 7,
    "capital_repair": 8,
    "soi_electricity": 9,
    "soi_cold_water": 10,
    "soi_hot_water": 11,
    "waste": 12,
    "hot_water_heat": 13,
    "penalty": 99,
}
METHODS = {m.name.lower(): int(m) for m in Method}
REASONS = {"absence": 1, "tariff": 2, "readings": 3, "quality": 4, "residents": 5, "court": 6, "other": 9}
QUALITY_RULES = {
    "cw_interruption": 1,
    "hw_interruption": 2,
    "hw_temperature": 3,
    "heat_interruption": 4,
    "heat_temperature": 5,
    "el_interruption_2src": 6,
    "el_interruption_1src": 7,
    "gas_interruption": 8,
}
BUCKETS = {"not_due": 0, "1-30": 1, "31-90": 2, "91-180": 3, "181-365": 4, "366-1095": 5, "over_1095": 6}
KINDS = {"principal": 0, "penalty": 1, "advance": 2}

#: Output columns compared with expectations: yaml name → (column, scale or None for plain ints).
OUT_FIELDS: dict[str, tuple[str, int | None]] = {
    "amount": ("amount_kop", KOP),
    "base": ("base_kop", KOP),
    "increase": ("increase_kop", KOP),
    "volume": ("volume_x6", X6),
    "coef": ("coef_x4", X4),
    "method_applied": ("method_applied", None),
    "delta": ("delta_kop", KOP),
    "charged": ("charged_kop", KOP),
    "absent_days": ("absent_days", None),
    "total_days": ("total_days", None),
    "benefit": ("benefit_kop", KOP),
    "reduction": ("reduction_kop", KOP),
    "share_ppm": ("share_ppm", None),
    "excess_min": ("excess_min", None),
    "below_40": ("below_40", None),
    "penalty": ("penalty_kop", KOP),
    "days_300": ("days_300", None),
    "days_130": ("days_130", None),
    "rate": ("rate_bp", BP),
    "unpaid": ("unpaid_kop", KOP),
    "due_date": ("due_date", None),
    "step": ("step", None),
    "gross": ("gross_kop", KOP),
    "commission": ("commission_kop", KOP),
    "fee": ("fee_kop", KOP),
    "net": ("net_kop", KOP),
    "closing": ("closing_kop", KOP),
    "transfer_due": ("transfer_due_kop", KOP),
    "opening": ("opening_kop", KOP),
    "account_total": ("account_total_kop", KOP),
    "to_pay": ("to_pay_kop", KOP),
    "remaining": ("remaining_kop", KOP),
    "days_past_due": ("days_past_due", None),
    "bucket": ("bucket", None),
    "advance": ("advance_kop", KOP),
}
#: Key fields used to select actual rows for an expected row.
KEY_FIELDS = {
    "account": "account_id",
    "service": "service_id",
    "provider": "provider_id",
    "period": "period",
    "component": "component",
    "payment": "payment_id",
    "kind": "kind",
}
MONEY = {k for k, (_, s) in OUT_FIELDS.items() if s == KOP}


class ScenarioError(ValueError):
    """The scenario file is malformed."""


# ------------------------------------------------------------------------------------------- parsing


def scaled(value: Any, scale: int, what: str) -> int:
    """Exact scaled integer of a YAML number (``52.93`` with scale 10⁴ → 529300)."""
    if value is None:
        return 0
    if isinstance(value, bool):
        return int(value) * scale
    d = Decimal(str(value)) * scale
    if d != d.to_integral_value():
        raise ScenarioError(f"{what}: {value} has more decimals than the scale 1/{scale} allows")
    return int(d)


def period_of(value: Any, what: str = "period") -> int:
    """``2025-04``, ``'2025-04'``, ``202504`` or a date → YYYYMM."""
    if isinstance(value, dt.date):
        return value.year * 100 + value.month
    if isinstance(value, int):
        return value
    s = str(value).strip()
    try:
        y, m = s.split("-")[:2]
        return int(y) * 100 + int(m)
    except ValueError as exc:
        raise ScenarioError(f"{what}: {value!r} is not a period YYYY-MM") from exc


def day_of(value: Any, what: str = "date") -> int:
    """A YAML date (``2025-06-30``) → day number."""
    if isinstance(value, dt.datetime):
        value = value.date()
    if isinstance(value, dt.date):
        return to_days(value)
    try:
        return to_days(dt.date.fromisoformat(str(value)))
    except ValueError as exc:
        raise ScenarioError(f"{what}: {value!r} is not a date YYYY-MM-DD") from exc


class Ids:
    """Names → integer ids (services, providers), from the scenario's reference section."""

    def __init__(self, given: dict[str, int] | None, defaults: dict[str, int] | None = None):
        self.map = dict(defaults or {})
        self.map.update(given or {})
        self.next = max(self.map.values(), default=0) + 1

    def __call__(self, value: Any) -> int:
        if value is None:
            return 0
        if isinstance(value, int):
            return value
        if value not in self.map:
            self.map[value] = self.next
            self.next += 1
        return self.map[value]

    def name(self, ident: int) -> str:
        for k, v in self.map.items():
            if v == ident:
                return k
        return str(ident)


@dataclass
class Ctx:
    services: Ids
    providers: Ids
    settings: dict[str, Any]


def share_of(value: Any) -> tuple[int, int]:
    """``'31/120'``, ``[31, 120]`` or a number → (num, den)."""
    if value is None:
        return 1, 1
    if isinstance(value, (list, tuple)):
        return int(value[0]), int(value[1])
    f = Fraction(str(value))
    return f.numerator, f.denominator


def _cols(
    rows: list[dict[str, Any]], conv: Callable[[dict[str, Any], int], dict[str, int]]
) -> dict[str, np.ndarray]:
    converted = [conv(r, i) for i, r in enumerate(rows)]
    names: list[str] = []
    for c in converted:
        names.extend(k for k in c if k not in names)
    return {k: np.array([c.get(k, _DEFAULTS.get(k, 0)) for c in converted], dtype=np.int64) for k in names}


_DEFAULTS = {
    "coef_x4": 10_000,
    "share_num": 1,
    "share_den": 1,
    "has_house_meter": 1,
    "eligible": 1,
    "covered": 1,
    "registered": 1,
    "persons": 1,
    "penalty_kop": -1,
    "share_bp": -1,
}


def _known(row: dict[str, Any], allowed: set[str], what: str) -> None:
    unknown = set(row) - allowed
    if unknown:
        raise ScenarioError(f"{what}: unknown fields {sorted(unknown)}")


CHARGE_FIELDS = {
    "account",
    "service",
    "provider",
    "component",
    "period",
    "method",
    "tariff",
    "reading_prev",
    "reading_curr",
    "volume",
    "norm",
    "persons",
    "person_days",
    "area",
    "total_area",
    "common_area",
    "house_volume",
    "indiv_volume",
    "has_house_meter",
    "soi_by_actual",
    "soi_allow_negative",
    "coef",
    "share",
    "hist_volume",
    "hist_months",
    "missing_seq",
    "meter_failed",
    "charged",
    "note",
}


def charge_row(r: dict[str, Any], i: int, ctx: Ctx, what: str = "charges") -> dict[str, int]:
    """One charges input row from human units."""
    w = f"{what}[{i}]"
    _known(r, CHARGE_FIELDS, w)
    period = period_of(r.get("period", ctx.settings.get("period")), w)
    method = r.get("method", "meter")
    if method not in METHODS:
        raise ScenarioError(f"{w}: unknown method {method!r}; one of {sorted(METHODS)}")
    num, den = share_of(r.get("share"))
    person_days = r.get("person_days")
    if person_days is None:
        person_days = int(r.get("persons", 0)) * days_in_month(period)
    return {
        "account_id": int(r.get("account", 0)),
        "service_id": ctx.services(r.get("service")),
        "provider_id": ctx.providers(r.get("provider")),
        "component": int(r.get("component", 0)),
        "period": period,
        "method": METHODS[method],
        "tariff_x4": scaled(r.get("tariff"), X4, w + ".tariff"),
        "reading_prev_x6": scaled(r.get("reading_prev"), X6, w),
        "reading_curr_x6": scaled(r.get("reading_curr"), X6, w),
        "volume_x6": scaled(r.get("volume"), X6, w),
        "norm_x6": scaled(r.get("norm"), X6, w),
        "person_days": int(person_days),
        "area_x4": scaled(r.get("area"), X4, w),
        "total_area_x4": scaled(r.get("total_area"), X4, w),
        "common_area_x4": scaled(r.get("common_area"), X4, w),
        "house_volume_x6": scaled(r.get("house_volume"), X6, w),
        "indiv_volume_x6": scaled(r.get("indiv_volume"), X6, w),
        "has_house_meter": int(r.get("has_house_meter", 1)),
        "soi_by_actual": int(r.get("soi_by_actual", 0)),
        "soi_allow_negative": int(r.get("soi_allow_negative", 0)),
        "coef_x4": scaled(r.get("coef", 1), X4, w + ".coef"),
        "share_num": num,
        "share_den": den,
        "hist_volume_x6": scaled(r.get("hist_volume"), X6, w),
        "hist_months": int(r.get("hist_months", 0)),
        "missing_seq": int(r.get("missing_seq", 0)),
        "meter_failed": int(r.get("meter_failed", 0)),
    }


# ---------------------------------------------------------------------------------- section runners


def run_charges(sec: Any, ctx: Ctx, engine: E.Engine) -> dict[str, np.ndarray]:
    rows = sec if isinstance(sec, list) else sec.get("rows", [])
    return E.compute_charges(_cols(rows, lambda r, i: charge_row(r, i, ctx)), engine=engine)


def run_recalc(sec: Any, ctx: Ctx, engine: E.Engine) -> dict[str, np.ndarray]:
    rows = sec["rows"]
    batch = _cols(rows, lambda r, i: charge_row(r, i, ctx, "recalc"))
    charged = [scaled(r.get("charged"), KOP, f"recalc[{i}].charged") for i, r in enumerate(rows)]
    reason = sec.get("reason", "tariff")
    return E.compute_recalc(
        batch,
        charged,
        post_period=period_of(sec.get("post_period", ctx.settings.get("period"))),
        reason=REASONS[reason] if isinstance(reason, str) else int(reason),
        engine=engine,
    )


def run_late_readings(sec: Any, ctx: Ctx, engine: E.Engine) -> dict[str, np.ndarray]:
    periods = [period_of(p) for p in sec["periods"]]
    tariffs = sec["tariffs"] if isinstance(sec["tariffs"], list) else [sec["tariffs"]] * len(periods)
    return E.late_readings_recalc(
        scaled(sec["volume"], X6, "late_readings.volume"),
        periods,
        [scaled(t, X4, "tariff") for t in tariffs],
        [scaled(c, KOP, "charged") for c in sec["charged"]],
        post_period=period_of(sec.get("post_period", ctx.settings.get("period"))),
        engine=engine,
        account_id=int(sec.get("account", 0)),
        service_id=ctx.services(sec.get("service")),
    )


def run_absence(sec: Any, ctx: Ctx, engine: E.Engine) -> dict[str, np.ndarray]:
    rows = sec if isinstance(sec, list) else sec["rows"]
    expanded: list[dict[str, Any]] = []
    for r in rows:  # one row per month touched by the absence unless the period is given
        if "period" in r:
            expanded.append(r)
            continue
        first = from_days(day_of(r["depart"]))
        last = from_days(day_of(r["return"]))
        p, end = first.year * 100 + first.month, last.year * 100 + last.month
        while p <= end:
            expanded.append({**r, "period": p})
            p = p + 1 if p % 100 < 12 else (p // 100 + 1) * 100 + 1

    def conv(r: dict[str, Any], i: int) -> dict[str, int]:
        w = f"absence[{i}]"
        _known(
            r,
            {
                "account",
                "service",
                "period",
                "norm",
                "tariff",
                "coef",
                "persons",
                "depart",
                "return",
                "eligible",
                "note",
            },
            w,
        )
        return {
            "account_id": int(r.get("account", 0)),
            "service_id": ctx.services(r.get("service")),
            "period": period_of(r["period"]),
            "norm_x6": scaled(r["norm"], X6, w),
            "tariff_x4": scaled(r["tariff"], X4, w),
            "coef_x4": scaled(r.get("coef", 1), X4, w),
            "persons": int(r.get("persons", 1)),
            "depart_date": day_of(r["depart"]),
            "return_date": day_of(r["return"]),
            "eligible": int(r.get("eligible", 1)),
        }

    post = ctx.settings.get("period")
    return E.absence_recalc(
        _cols(expanded, conv), post_period=period_of(post) if post else None, engine=engine
    )


def run_benefits(sec: Any, ctx: Ctx, engine: E.Engine) -> dict[str, np.ndarray]:
    rows = sec if isinstance(sec, list) else sec["rows"]

    def conv(r: dict[str, Any], i: int) -> dict[str, int]:
        w = f"benefits[{i}]"
        period = period_of(r.get("period", ctx.settings.get("period")), w)
        share = r.get("share")
        return {
            "account_id": int(r.get("account", 0)),
            "service_id": ctx.services(r.get("service")),
            "period": period,
            "charge_kop": scaled(r["charge"], KOP, w),
            "share_bp": -1 if share is None else scaled(share, BP, w),
            "covered": int(r.get("covered", 1)),
            "registered": int(r.get("registered", 1)),
            "active_days": int(r.get("active_days", days_in_month(period))),
        }

    return E.compute_benefits(_cols(rows, conv), engine=engine)


def run_reductions(sec: Any, ctx: Ctx, engine: E.Engine) -> dict[str, np.ndarray]:
    rows = sec if isinstance(sec, list) else sec["rows"]

    def conv(r: dict[str, Any], i: int) -> dict[str, int]:
        w = f"reductions[{i}]"
        rule = r["rule"]
        minutes = r.get("minutes")
        if minutes is None:
            minutes = scaled(r.get("hours", 0), 60, w + ".hours")
        return {
            "account_id": int(r.get("account", 0)),
            "service_id": ctx.services(r.get("service")),
            "period": period_of(r.get("period", ctx.settings.get("period")), w),
            "rule_code": QUALITY_RULES[rule] if isinstance(rule, str) else int(rule),
            "charge_kop": scaled(r["charge"], KOP, w),
            "duration_min": int(minutes),
            "norm_temp_dc": scaled(r.get("norm_temp"), 10, w),
            "temp_dc": scaled(r.get("temp"), 10, w),
            "night": int(r.get("night", 0)),
        }

    return E.reductions(_cols(rows, conv), engine=engine)


def _key_rates(ctx: Ctx) -> dict[str, np.ndarray] | None:
    rates = ctx.settings.get("key_rates")
    if rates is None:
        return None
    return {
        "date_from": np.array([day_of(r["from"]) for r in rates], dtype=np.int64),
        "rate_bp": np.array([scaled(r["rate"], BP, "key_rates.rate") for r in rates], dtype=np.int64),
    }


def run_penalties(sec: Any, ctx: Ctx, engine: E.Engine) -> dict[str, np.ndarray]:
    rows = sec if isinstance(sec, list) else sec["debts"]
    paid: dict[str, list[int]] = {"debt_row": [], "pay_date": [], "amount_kop": []}
    for i, r in enumerate(rows):
        for p in r.get("payments", []):
            paid["debt_row"].append(i)
            paid["pay_date"].append(day_of(p["date"]))
            paid["amount_kop"].append(scaled(p["amount"], KOP, f"penalties[{i}].payments"))

    def conv(r: dict[str, Any], i: int) -> dict[str, int]:
        w = f"penalties[{i}]"
        out = {
            "account_id": int(r.get("account", 0)),
            "service_id": ctx.services(r.get("service")),
            "provider_id": ctx.providers(r.get("provider")),
            "period": period_of(r["period"], w),
            "amount_kop": scaled(r["amount"], KOP, w),
            "capital_repair": int(r.get("capital_repair", 0)),
            "posted_kop": scaled(r.get("posted", 0), KOP, w),
        }
        if "due_date" in r:
            out["due_date"] = day_of(r["due_date"])
        return out

    debts = _cols(rows, conv)
    if any("due_date" in r for r in rows) and not all("due_date" in r for r in rows):
        raise ScenarioError("penalties: give due_date for every debt or for none")
    calc = (
        sec.get("calc_date", ctx.settings.get("calc_date"))
        if isinstance(sec, dict)
        else ctx.settings.get("calc_date")
    )
    if calc is None:
        raise ScenarioError("penalties: settings.calc_date is required")
    return E.compute_penalties(
        debts,
        {k: np.array(v, dtype=np.int64) for k, v in paid.items()},
        calc_date=day_of(calc),
        key_rates=_key_rates(ctx),
        moratorium_2022=bool(ctx.settings.get("moratorium_2022", True)),
        engine=engine,
    )


def _split_inputs(
    sec: Any, ctx: Ctx
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], dict[str, np.ndarray]]:
    def debt(r: dict[str, Any], i: int) -> dict[str, int]:
        w = f"splits.debts[{i}]"
        unpaid = r.get("unpaid", r.get("charge"))
        out = {
            "account_id": int(r.get("account", 0)),
            "period": period_of(r["period"], w),
            "service_id": ctx.services(r.get("service")),
            "provider_id": ctx.providers(r.get("provider")),
            "kind": KINDS[r.get("kind", "principal")],
            "unpaid_kop": scaled(unpaid, KOP, w),
            "charge_kop": scaled(r.get("charge", unpaid), KOP, w),
        }
        out["order"] = int(r.get("order", out["service_id"]))
        return out

    def pay(r: dict[str, Any], i: int) -> dict[str, int]:
        w = f"splits.payments[{i}]"
        return {
            "payment_id": int(r.get("id", i + 1)),
            "account_id": int(r.get("account", 0)),
            "amount_kop": scaled(r["amount"], KOP, w),
            "pay_date": day_of(r["date"]) if "date" in r else 0,
            "period": period_of(r["period"]) if r.get("period") else 0,
            "current_period": period_of(r["current_period"]) if r.get("current_period") else 0,
            "penalty_kop": scaled(r["penalty"], KOP, w) if r.get("penalty") is not None else -1,
        }

    pays = sec["payments"]
    des: dict[str, list[int]] = {"payment_id": [], "service_id": [], "amount_kop": []}
    for i, r in enumerate(pays):
        for s, a in (r.get("designations") or {}).items():
            des["payment_id"].append(int(r.get("id", i + 1)))
            des["service_id"].append(ctx.services(s))
            des["amount_kop"].append(scaled(a, KOP, "designations"))
    return (
        _cols(sec.get("debts", []), debt),
        _cols(pays, pay),
        {k: np.array(v, dtype=np.int64) for k, v in des.items()},
    )


def run_splits(sec: Any, ctx: Ctx, engine: E.Engine) -> dict[str, np.ndarray]:
    d, p, g = _split_inputs(sec, ctx)
    return E.split_payments(d, p, g, engine=engine)


def run_transfers(
    sec: Any, ctx: Ctx, engine: E.Engine, results: dict[str, dict[str, np.ndarray]]
) -> dict[str, np.ndarray]:
    alloc = sec.get("allocations", "splits")
    if alloc == "splits":
        if "splits" not in results:
            raise ScenarioError("transfers: allocations from splits, but there is no splits section")
        a = results["splits"]
        acols = {
            "payment_id": a["payment_id"],
            "provider_id": a["provider_id"],
            "amount_kop": a["amount_kop"],
            "service_id": a["service_id"],
        }
    else:
        acols = _cols(
            alloc,
            lambda r, i: {
                "payment_id": int(r.get("payment", 1)),
                "provider_id": ctx.providers(r.get("provider")),
                "service_id": ctx.services(r.get("service")),
                "amount_kop": scaled(r["amount"], KOP, "transfers.allocations"),
            },
        )
    pays = _cols(
        sec.get("payments", []),
        lambda r, i: {
            "payment_id": int(r.get("id", i + 1)),
            "commission_kop": scaled(r.get("commission", 0), KOP, "commission"),
        },
    )
    fees = sec.get("fees", {})
    fcols = {
        "provider_id": np.array([ctx.providers(k) for k in fees], dtype=np.int64),
        "fee_ppm": np.array([scaled(v, PPM, "fees") for v in fees.values()], dtype=np.int64),
    }
    per_alloc, lines = E.transfers(acols, pays, fcols, engine=engine)
    results["transfers.allocations"] = per_alloc
    return lines


def run_provider_balances(sec: Any, ctx: Ctx, engine: E.Engine) -> dict[str, np.ndarray]:
    rows = sec if isinstance(sec, list) else sec["rows"]
    fields = ("opening", "collected", "commission", "fee", "transferred")
    return E.provider_balances(
        _cols(
            rows,
            lambda r, i: {
                "provider_id": ctx.providers(r.get("provider")),
                **{f + "_kop": scaled(r.get(f, 0), KOP, f"provider_balances[{i}]") for f in fields},
            },
        ),
        engine=engine,
    )


def run_saldo(sec: Any, ctx: Ctx, engine: E.Engine) -> dict[str, np.ndarray]:
    rows = sec if isinstance(sec, list) else sec["rows"]
    fields = ("opening", "charged", "recalc", "paid", "correction")
    return E.saldo(
        _cols(
            rows,
            lambda r, i: {
                "account_id": int(r.get("account", 0)),
                "service_id": ctx.services(r.get("service")),
                "period": period_of(r.get("period", ctx.settings.get("period"))),
                **{f + "_kop": scaled(r.get(f, 0), KOP, f"saldo[{i}]") for f in fields},
            },
        ),
        engine=engine,
    )


def run_aging(sec: Any, ctx: Ctx, engine: E.Engine) -> dict[str, np.ndarray]:
    rows = sec["rows"]
    as_of = sec.get("as_of", ctx.settings.get("as_of"))
    if as_of is None:
        raise ScenarioError("aging: as_of is required")

    def conv(r: dict[str, Any], i: int) -> dict[str, int]:
        out = {
            "account_id": int(r.get("account", 0)),
            "service_id": ctx.services(r.get("service")),
            "period": period_of(r["period"]),
            "charged_kop": scaled(r["charged"], KOP, f"aging[{i}]"),
            "credit_kop": scaled(r.get("credit", 0), KOP, f"aging[{i}]"),
        }
        if "due_date" in r:
            out["due_date"] = day_of(r["due_date"])
        return out

    return E.aging(_cols(rows, conv), as_of=day_of(as_of), engine=engine)


SECTIONS = (
    "charges",
    "recalc",
    "late_readings",
    "absence",
    "benefits",
    "reductions",
    "penalties",
    "splits",
    "transfers",
    "provider_balances",
    "saldo",
    "aging",
)


def run_all(doc: dict[str, Any], engine: E.Engine) -> tuple[dict[str, dict[str, np.ndarray]], Ctx]:
    """Run every input section of a parsed scenario on one engine; returns (results, name maps)."""
    ref = doc.get("reference") or {}
    ctx = Ctx(
        Ids(ref.get("services"), DEFAULT_SERVICES), Ids(ref.get("providers")), doc.get("settings") or {}
    )
    results: dict[str, dict[str, np.ndarray]] = {}
    runners: dict[str, Callable[[Any, Ctx, E.Engine], dict[str, np.ndarray]]] = {
        "charges": run_charges,
        "recalc": run_recalc,
        "late_readings": run_late_readings,
        "absence": run_absence,
        "benefits": run_benefits,
        "reductions": run_reductions,
        "penalties": run_penalties,
        "splits": run_splits,
        "provider_balances": run_provider_balances,
        "saldo": run_saldo,
        "aging": run_aging,
    }
    for name in SECTIONS:
        if name not in doc:
            continue
        if name == "transfers":
            results[name] = run_transfers(doc[name], ctx, engine, results)
        else:
            results[name] = runners[name](doc[name], ctx, engine)
    if "aging" in results:
        results["aging.buckets"] = E.aging_buckets(results["aging"])
    return results, ctx


# -------------------------------------------------------------------------------------------- checks


@dataclass
class ScenarioResult:
    """Outcome of :func:`check_scenario`: ``ok`` and a readable list of differences."""

    path: str
    name: str
    engines: tuple[str, ...]
    checks: int = 0
    failures: list[str] = field(default_factory=list)
    results: dict[str, dict[str, dict[str, np.ndarray]]] = field(default_factory=dict, repr=False)

    @property
    def ok(self) -> bool:
        return not self.failures

    def report(self) -> str:
        """Human-readable summary (user-facing, Russian)."""
        head = f"{self.name} [{', '.join(self.engines)}]: "
        if self.ok:
            return head + f"OK — проверок: {self.checks}"
        lines = [head + f"РАСХОЖДЕНИЯ: {len(self.failures)} из {self.checks} проверок"]
        lines.extend("  - " + f for f in self.failures)
        return "\n".join(lines)


def _fmt(value: int, scale: int | None) -> str:
    if scale is None:
        return str(value)
    if scale == KOP:
        return f"{Decimal(value) / 100:.2f}"
    return str((Decimal(value) / scale).normalize())


def _expected_value(name: str, value: Any, ctx: Ctx) -> tuple[str, int, int | None]:
    if name not in OUT_FIELDS:
        raise ScenarioError(f"unknown expected field {name!r}")
    col, scale = OUT_FIELDS[name]
    if name == "method_applied" and isinstance(value, str):
        return col, METHODS[value], None
    if name == "due_date":
        return col, day_of(value), None
    return col, (int(value) if scale is None else scaled(value, scale, name)), scale


def _key_value(name: str, value: Any, ctx: Ctx) -> int:
    if name == "service":
        return ctx.services(value)
    if name == "provider":
        return ctx.providers(value)
    if name == "period":
        return period_of(value)
    if name == "kind":
        return KINDS[value] if isinstance(value, str) else int(value)
    return int(value)


def _check_rows(
    section: str, expected: Any, res: dict[str, np.ndarray], engine: str, ctx: Ctx, out: ScenarioResult
) -> None:
    rows = expected if isinstance(expected, list) else expected.get("rows", [])
    n = len(next(iter(res.values()))) if res else 0
    count = expected.get("count") if isinstance(expected, dict) else None
    if count is not None:
        out.checks += 1
        if n != count:
            out.failures.append(f"{section}: {engine} дал {n} строк, ожидалось {count}")
    for pos, exp in enumerate(rows):
        keys = {k: v for k, v in exp.items() if k in KEY_FIELDS}
        label = f"{section}[{exp.get('row', pos)}]" + (
            "" if not keys else " " + ", ".join(f"{k}={v}" for k, v in keys.items())
        )
        if "row" in exp:
            idx = [int(exp["row"])]
        elif keys:
            mask = np.ones(n, dtype=bool)
            for k, v in keys.items():
                mask &= res[KEY_FIELDS[k]] == _key_value(k, v, ctx)
            idx = list(np.flatnonzero(mask))
        else:
            idx = [pos]
        for name, value in exp.items():
            if name in KEY_FIELDS or name in ("row", "note"):
                continue
            col, want, scale = _expected_value(name, value, ctx)
            out.checks += 1
            if col not in res:
                out.failures.append(f"{label}: нет колонки {col} в результате")
                continue
            if (not idx and name not in MONEY) or (idx and max(idx) >= n):
                out.failures.append(f"{label}: {engine} не дал такой строки")
                continue
            got = int(sum(int(res[col][i]) for i in idx)) if name in MONEY else int(res[col][idx[0]])
            if name not in MONEY and len(idx) > 1:
                out.failures.append(f"{label}: неоднозначный выбор ({len(idx)} строк) для {name}")
            elif got != want:
                out.failures.append(
                    f"{label}: {name} ожидалось {_fmt(want, scale)}, {engine} дал {_fmt(got, scale)}"
                )
    totals = expected.get("total", {}) if isinstance(expected, dict) else {}
    for name, value in totals.items():
        col, want, scale = _expected_value(name, value, ctx)
        out.checks += 1
        total = int(res[col].sum()) if col in res else None
        if total != want:
            shown = "нет колонки" if total is None else _fmt(total, scale)
            out.failures.append(
                f"{section} итого {name}: ожидалось {_fmt(want, scale)}, {engine} дал {shown}"
            )


def _check_buckets(
    expected: dict[str, Any], res: dict[str, np.ndarray], engine: str, out: ScenarioResult
) -> None:
    for account, buckets in expected.items():
        for b, value in buckets.items():
            code = BUCKETS[b] if isinstance(b, str) else int(b)
            want = scaled(value, KOP, "buckets")
            mask = (res["account_id"] == int(account)) & (res["bucket"] == code)
            got = int(res["amount_kop"][mask].sum())
            out.checks += 1
            if got != want:
                out.failures.append(
                    f"aging.buckets account={account} {b}: ожидалось {_fmt(want, KOP)}, "
                    f"{engine} дал {_fmt(got, KOP)}"
                )


def _compare_engines(
    a: dict[str, dict[str, np.ndarray]], b: dict[str, dict[str, np.ndarray]], out: ScenarioResult
) -> None:
    for section, cols in a.items():
        other = b.get(section, {})
        for col, values in cols.items():
            out.checks += 1
            ov = other.get(col)
            if ov is None or len(ov) != len(values) or not np.array_equal(np.asarray(values), np.asarray(ov)):
                out.failures.append(
                    f"{section}.{col}: rust и python расходятся ({values.tolist()} != "
                    f"{None if ov is None else ov.tolist()})"
                )


def load(path: str | Path) -> dict[str, Any]:
    """Parse a scenario file."""
    with open(path, encoding="utf-8") as f:
        doc = yaml.safe_load(f)
    if not isinstance(doc, dict):
        raise ScenarioError(f"{path}: a scenario is a YAML mapping")
    unknown = set(doc) - set(SECTIONS) - {"name", "spec", "description", "reference", "settings", "expect"}
    if unknown:
        raise ScenarioError(f"{path}: unknown top-level keys {sorted(unknown)}")
    return doc


def check_scenario(path: str | Path, engine: str = "both") -> ScenarioResult:
    """Run a scenario on ``engine`` ("rust", "python" or "both") and compare with its expectations."""
    doc = load(path)
    engines: tuple[E.Engine, ...] = ("rust", "python") if engine == "both" else (engine,)  # type: ignore[assignment]
    for e in engines:
        if e not in E.ENGINES:
            raise ValueError(f"unknown engine {e!r}")
    out = ScenarioResult(str(path), str(doc.get("name", Path(path).stem)), tuple(engines))
    expect = doc.get("expect") or {}
    unknown = set(expect) - set(SECTIONS) - {"aging.buckets", "transfers.allocations"}
    if unknown:
        raise ScenarioError(f"{path}: unknown expect sections {sorted(unknown)}")
    for e in engines:
        res, ctx = run_all(doc, e)
        out.results[e] = res
        for section, exp in expect.items():
            if section == "aging.buckets":
                _check_buckets(exp, res.get("aging.buckets", {}), e, out)
                continue
            if section not in res:
                out.checks += 1
                out.failures.append(f"{section}: в сценарии нет входных данных для этой секции")
                continue
            _check_rows(section, exp, res[section], e, ctx, out)
    if len(engines) == 2:
        _compare_engines(out.results["rust"], out.results["python"], out)
    return out
