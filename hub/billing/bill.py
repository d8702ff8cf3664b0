"""The monthly run on the store: ``bill_period`` computes every account's charges for a period with the
engine (Rust by default), with benefits, quality reductions, temporary-absence recalculations and
penalties, and writes charge lines and balances back.

Re-running an open period replaces its lines (for the partition given), never duplicates them; a
closed period is never rewritten. A partition is a set of districts: every building lies in one
district, so the common-property (КР на СОИ) shares of a building are computed within one partition,
and billing all partitions one by one gives exactly the single-call result.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sqlalchemy import Connection, Engine, insert, select, text, update

from hub.billing.store_io import days, fetch, in_list, scaled
from hub.calc import engine as calc
from hub.calc.charges import Method
from hub.calc.units import add_months, days_in_month, due_date, period_end, period_start, to_days
from hub.reports import mart
from hub.store import models as m
from hub.store.db import bulk_insert

HEATING_MONTHS = (1, 2, 3, 4, 10, 11, 12)  # heating by norm is paid in the heating season [D]
SOI_OF = {"HVS_SOI": "HVS", "GVS_SOI": "GVS", "VOD_SOI": "VOD", "EL_SOI": "EL"}
LIVING_STATUSES = (1, 3, 6)  # permanently registered, temporarily registered, temporarily living
AVERAGE_WINDOW = 6  # months of history used for the average (Rules 354 p.59)
METHOD_NAMES = {
    Method.METER: "meter",
    Method.NORM: "norm",
    Method.HEAT_NORM: "norm",
    Method.HEAT_ODPU: "odpu",
    Method.AREA: "area",
    Method.SOI: "soi",
    Method.VOLUME: "meter",
    Method.AVERAGE: "average",
    Method.HW_HEAT: "meter",
}
QUALITY_RULE = {  # (service code, incident kind) → rule code of hub/calc/data/quality_rules.csv
    ("HVS", "interruption"): 1,
    ("GVS", "interruption"): 2,
    ("GVS", "temperature"): 3,
    ("OTOP", "interruption"): 4,
    ("OTOP", "temperature"): 5,
    ("EL", "interruption"): 7,
    ("GAS", "interruption"): 8,
}
ProgressFn = Callable[[str], None]


class BillingError(RuntimeError):
    """The period cannot be billed (closed, not open, or the store lacks reference data)."""


@dataclass
class BillReport:
    period: int
    engine: str
    districts: list[int] | None
    accounts: int = 0
    lines: dict[str, int] = field(default_factory=dict)
    totals_kop: dict[str, int] = field(default_factory=dict)

    @property
    def total_kop(self) -> int:
        return sum(self.totals_kop.values())


# ------------------------------------------------------------------------------------- periods


def ensure_open(conn: Connection, period: int) -> None:
    """The period must be open; it is opened when it is the first one or follows the last closed one."""
    row = conn.execute(select(m.BillingPeriod.status).where(m.BillingPeriod.period == period)).first()
    if row is not None:
        if row[0] != "open":
            raise BillingError(
                f"период {period // 100}-{period % 100:02d} закрыт: его начисления не меняются"
            )
        return
    last = conn.execute(select(m.BillingPeriod.period).order_by(m.BillingPeriod.period.desc())).first()
    if last is not None and add_months(int(last[0]), 1) != period:
        raise BillingError(
            f"период {period // 100}-{period % 100:02d} не открыт: последний период — "
            f"{last[0] // 100}-{last[0] % 100:02d}"
        )
    conn.execute(insert(m.BillingPeriod).values(period=period, status="open"))


def close_period(engine: Engine, period: int) -> int:
    """Close ``period`` (its lines are final) and open the next one; returns the next period."""
    with engine.begin() as conn:
        row = conn.execute(select(m.BillingPeriod.status).where(m.BillingPeriod.period == period)).first()
        if row is None or row[0] != "open":
            raise BillingError(f"период {period // 100}-{period % 100:02d} не открыт")
        billed = conn.execute(select(m.ChargeLine.id).where(m.ChargeLine.period == period).limit(1)).first()
        if billed is None:
            raise BillingError(f"период {period // 100}-{period % 100:02d} ещё не рассчитан (unipay bill)")
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        conn.execute(
            update(m.BillingPeriod)
            .where(m.BillingPeriod.period == period)
            .values(status="closed", closed_at=now, readings_closed=True)
        )
        nxt = add_months(period, 1)
        if conn.execute(select(m.BillingPeriod.period).where(m.BillingPeriod.period == nxt)).first() is None:
            conn.execute(insert(m.BillingPeriod).values(period=nxt, status="open"))
    return nxt


def open_period(engine: Engine) -> int | None:
    with engine.connect() as conn:
        row = conn.execute(
            select(m.BillingPeriod.period)
            .where(m.BillingPeriod.status == "open")
            .order_by(m.BillingPeriod.period)
        ).first()
    return int(row[0]) if row else None


def district_ids(engine: Engine) -> list[int]:
    with engine.connect() as conn:
        return [int(x) for x in conn.scalars(select(m.District.id).order_by(m.District.id))]


# ------------------------------------------------------------------------------------- inputs


@dataclass
class Ref:
    """Reference data valid for the period, as plain dicts of scaled integers."""

    svc_code: dict[int, str]
    svc_id: dict[str, int]
    coefficient: dict[int, bool]
    absence: dict[int, bool]
    capital: dict[int, bool]
    tariff: dict[tuple[int, int, int], int]  # (service, provider, zone) → tariff_x4
    norm: dict[tuple[int, str], int]  # (service, kind) → norm_x6


def load_ref(conn: Connection, period: int) -> Ref:
    start = period_start(period)
    svcs = conn.execute(
        select(
            m.Service.id,
            m.Service.code,
            m.Service.coefficient_applies,
            m.Service.absence_recalc,
            m.Service.is_capital_repair,
        )
    ).all()
    if not svcs:
        raise BillingError("справочник услуг пуст: выполните `unipay db upgrade`")
    tariff: dict[tuple[int, int, int], int] = {}
    for s, p, z, value in conn.execute(
        select(m.Tariff.service_id, m.Tariff.provider_id, m.Tariff.zone, m.Tariff.value).where(
            m.Tariff.date_from <= start, (m.Tariff.date_to.is_(None)) | (m.Tariff.date_to >= start)
        )
    ):
        tariff[(s, p, z)] = int(value * 10_000)
    norm: dict[tuple[int, str], int] = {}
    for s, kind, value in conn.execute(
        select(m.Norm.service_id, m.Norm.kind, m.Norm.value).where(
            m.Norm.date_from <= start, (m.Norm.date_to.is_(None)) | (m.Norm.date_to >= start)
        )
    ):
        norm[(s, kind)] = int(value * 1_000_000)
    return Ref(
        svc_code={r[0]: r[1] for r in svcs},
        svc_id={r[1]: r[0] for r in svcs},
        coefficient={r[0]: bool(r[2]) for r in svcs},
        absence={r[0]: bool(r[3]) for r in svcs},
        capital={r[0]: bool(r[4]) for r in svcs},
        tariff=tariff,
        norm=norm,
    )


def _overlap_days(d_from: np.ndarray, d_to: np.ndarray, start: int, end: int) -> np.ndarray:
    """Days of [d_from, d_to] inside [start, end] (inclusive; ``d_to`` < 0 means open-ended)."""
    hi = np.where(d_to < 0, end, np.minimum(d_to, end))
    return np.maximum(0, hi - np.maximum(d_from, start) + 1)


@dataclass
class Scope:
    """The accounts of the partition and their premises, building and residents."""

    account: np.ndarray
    building: np.ndarray
    area_x4: np.ndarray
    installable: np.ndarray
    person_days: np.ndarray
    registered: np.ndarray  # persons registered on the last day of the period
    b_total_x4: dict[int, int]
    b_common_x4: dict[int, int]
    b_flags: dict[int, tuple[int, int]]  # building → (soi_by_actual, soi_allow_negative)

    def index(self) -> dict[int, int]:
        return {int(a): i for i, a in enumerate(self.account)}


def load_scope(conn: Connection, period: int, districts: Sequence[int] | None) -> Scope:
    start, end = to_days(period_start(period)), to_days(period_end(period))
    flt, params = in_list("b.district_id", districts)
    acc = fetch(
        conn,
        f"""SELECT a.id AS account_id, p.building_id, {scaled(conn, "p.total_area", 4)} AS area_x4,
                   CASE WHEN p.meter_installable THEN 1 ELSE 0 END AS installable
            FROM accounts a JOIN premises p ON p.id = a.premises_id JOIN buildings b ON b.id = p.building_id
            WHERE {flt} AND (a.closed_on IS NULL OR a.closed_on >= :start)
            ORDER BY a.id""",
        {**params, "start": period_start(period)},
    )
    bld = fetch(
        conn,
        f"""SELECT b.id, {scaled(conn, "b.total_area", 4)} AS total_x4, {scaled(conn, "b.common_area", 4)} AS common_x4,
                   CASE WHEN b.odn_by_actual THEN 1 ELSE 0 END AS by_actual,
                   CASE WHEN b.odn_negative_allowed THEN 1 ELSE 0 END AS negative
            FROM buildings b WHERE {flt}""",
        params,
    )
    reg = fetch(
        conn,
        f"""SELECT r.account_id, {days(conn, "r.date_from")} AS d_from, {days(conn, "r.date_to")} AS d_to
            FROM registrations r JOIN accounts a ON a.id = r.account_id
            JOIN premises p ON p.id = a.premises_id JOIN buildings b ON b.id = p.building_id
            WHERE {flt} AND r.status IN {LIVING_STATUSES} AND r.date_from <= :end
              AND (r.date_to IS NULL OR r.date_to >= :start)""",
        {**params, "start": period_start(period), "end": period_end(period)},
        nulls={"d_to": -1},
    )
    n = len(acc["account_id"])
    pos = np.searchsorted(acc["account_id"], reg["account_id"])
    ok = (
        (pos < n) & (acc["account_id"][np.minimum(pos, max(n - 1, 0))] == reg["account_id"]) if n else pos < 0
    )
    pd_ = np.zeros(n, dtype=np.int64)
    regd = np.zeros(n, dtype=np.int64)
    if n:
        np.add.at(pd_, pos[ok], _overlap_days(reg["d_from"][ok], reg["d_to"][ok], start, end))
        on_last = (reg["d_from"][ok] <= end) & ((reg["d_to"][ok] < 0) | (reg["d_to"][ok] >= end))
        np.add.at(regd, pos[ok], on_last.astype(np.int64))
    dim = days_in_month(period)
    # Nobody lives there: the owners are charged (p.56(2)); one owner by default.
    person_days = np.where(pd_ > 0, pd_, dim)
    ids = bld["id"].tolist()
    return Scope(
        account=acc["account_id"],
        building=acc["building_id"],
        area_x4=acc["area_x4"],
        installable=acc["installable"],
        person_days=person_days,
        registered=np.maximum(regd, 1),
        b_total_x4=dict(zip(ids, bld["total_x4"].tolist(), strict=True)),
        b_common_x4=dict(zip(ids, bld["common_x4"].tolist(), strict=True)),
        b_flags={
            b: (x, y)
            for b, x, y in zip(ids, bld["by_actual"].tolist(), bld["negative"].tolist(), strict=True)
        },
    )


# ------------------------------------------------------------------------------------- charges


class Rows:
    """Column lists of an engine batch, appended row by row while the inputs are assembled."""

    def __init__(self) -> None:
        self.cols: dict[str, list[int]] = {}

    def add(self, **values: int) -> None:
        n = len(next(iter(self.cols.values()))) if self.cols else 0
        for k, v in values.items():
            col = self.cols.get(k)
            if col is None:
                col = self.cols[k] = [_DEFAULTS.get(k, 0)] * n
            col.append(int(v))
        for k, col in self.cols.items():
            if len(col) == n:
                col.append(_DEFAULTS.get(k, 0))

    def arrays(self) -> dict[str, np.ndarray]:
        return {k: np.asarray(v, dtype=np.int64) for k, v in self.cols.items()}

    def __len__(self) -> int:
        return len(next(iter(self.cols.values()))) if self.cols else 0


_DEFAULTS = {"coef_x4": 10_000, "share_num": 1, "share_den": 1, "has_house_meter": 1}


def _meter_inputs(
    conn: Connection, period: int, flt: str, params: dict[str, Any]
) -> dict[tuple[int, int], list]:
    """(account, service) → list of (zone, method, prev_x6, curr_x6, hist_x6, hist_months, missing_seq,
    failed) per meter zone, from the readings of the last year."""
    first = add_months(period, -12)
    mt = fetch(
        conn,
        f"""SELECT mt.id, mt.account_id, mt.service_id,
                   CASE WHEN mt.status <> 'working' OR (mt.verification_due IS NOT NULL
                        AND mt.verification_due < :start) THEN 1 ELSE 0 END AS failed
            FROM meters mt JOIN accounts a ON a.id = mt.account_id JOIN premises p ON p.id = a.premises_id
            JOIN buildings b ON b.id = p.building_id
            WHERE {flt} AND mt.status <> 'removed'""",
        {**params, "start": period_start(period)},
    )
    rd = fetch(
        conn,
        f"""SELECT r.meter_id, r.zone, r.period, MAX({scaled(conn, "r.value", 6)}) AS value_x6
            FROM meter_readings r JOIN meters mt ON mt.id = r.meter_id JOIN accounts a ON a.id = mt.account_id
            JOIN premises p ON p.id = a.premises_id JOIN buildings b ON b.id = p.building_id
            WHERE {flt} AND r.period BETWEEN :first AND :last
            GROUP BY r.meter_id, r.zone, r.period ORDER BY r.meter_id, r.zone, r.period""",
        {**params, "first": first, "last": period},
    )
    meter_info = {
        int(i): (int(a), int(s), int(f))
        for i, a, s, f in zip(mt["id"], mt["account_id"], mt["service_id"], mt["failed"], strict=True)
    }
    series: dict[tuple[int, int], list[tuple[int, int]]] = {}
    for mid, zone, per, val in zip(
        rd["meter_id"].tolist(),
        rd["zone"].tolist(),
        rd["period"].tolist(),
        rd["value_x6"].tolist(),
        strict=True,
    ):
        series.setdefault((mid, zone), []).append((per, val))
    out: dict[tuple[int, int], list] = {}
    for (mid, zone), pts in series.items():
        if mid not in meter_info:
            continue
        acc, svc, failed = meter_info[mid]
        by_per = dict(pts)
        prev_pts = [(p, v) for p, v in pts if p < period]
        if period in by_per and prev_pts:
            entry = (zone, Method.METER, prev_pts[-1][1], by_per[period], 0, 0, 0, failed)
        elif period in by_per:
            continue  # a new meter: its first reading starts the series
        else:
            last_p, last_v = pts[-1]
            missing = _months_between(last_p, period)
            window = [(p, v) for p, v in pts if _months_between(p, last_p) <= AVERAGE_WINDOW]
            first_p, first_v = window[0]
            months = _months_between(first_p, last_p)
            entry = (zone, Method.AVERAGE, 0, 0, last_v - first_v, months, missing, failed)
        out.setdefault((acc, svc), []).append(entry)
    return out


def _months_between(a: int, b: int) -> int:
    return (b // 100 * 12 + b % 100) - (a // 100 * 12 + a % 100)


def _house_volumes(
    conn: Connection, period: int, flt: str, params: dict[str, Any]
) -> dict[tuple[int, int], int]:
    hv = fetch(
        conn,
        f"""SELECT bm.building_id, bm.service_id, SUM({scaled(conn, "r.volume", 6)}) AS volume_x6
            FROM building_meter_readings r JOIN building_meters bm ON bm.id = r.meter_id
            JOIN buildings b ON b.id = bm.building_id
            WHERE {flt} AND r.period = :period GROUP BY bm.building_id, bm.service_id""",
        {**params, "period": period},
    )
    return {
        (int(b), int(s)): int(v)
        for b, s, v in zip(hv["building_id"], hv["service_id"], hv["volume_x6"], strict=True)
    }


def assemble_charges(
    conn: Connection, period: int, ref: Ref, scope: Scope, districts: Sequence[int] | None
) -> tuple[Rows, Rows, Rows]:
    """Engine input rows: (individual lines, water disposal by meter, КР на СОИ)."""
    flt, params = in_list("b.district_id", districts)
    services = fetch(
        conn,
        f"""SELECT s.account_id, s.service_id, s.provider_id, s.method
            FROM account_services s JOIN accounts a ON a.id = s.account_id JOIN premises p ON p.id = a.premises_id
            JOIN buildings b ON b.id = p.building_id
            WHERE {flt} AND s.date_from <= :end AND (s.date_to IS NULL OR s.date_to >= :start)
            ORDER BY s.account_id, s.service_id""",
        {**params, "start": period_start(period), "end": period_end(period)},
    )
    meters = _meter_inputs(conn, period, flt, params)
    house = _house_volumes(conn, period, flt, params)
    idx = scope.index()
    month = period % 100
    main, vod, soi = Rows(), Rows(), Rows()
    otop = ref.svc_id.get("OTOP")
    for acc, svc, prov, method in zip(
        services["account_id"].tolist(),
        services["service_id"].tolist(),
        services["provider_id"].tolist(),
        services["method"].tolist(),
        strict=True,
    ):
        i = idx.get(acc)
        if i is None:
            continue
        code = ref.svc_code[svc]
        b = int(scope.building[i])
        key = dict(account_id=acc, service_id=svc, provider_id=prov, period=period)
        area = int(scope.area_x4[i])
        pdays = int(scope.person_days[i])
        found = ref.tariff.get((svc, prov, 0))
        if found is None:
            raise BillingError(
                f"нет тарифа услуги {code} поставщика {prov} на {period // 100}-{period % 100:02d} "
                f"(лицевой счёт id {acc}): добавьте тариф в справочник"
            )
        tariff0: int = found
        coef = 15_000 if (ref.coefficient[svc] and scope.installable[i]) else 10_000
        if method == "area":
            main.add(**key, method=Method.AREA, tariff_x4=tariff0, area_x4=area)
        elif method in ("odpu",) or (method == "norm" and svc == otop):
            if month not in HEATING_MONTHS:
                continue
            hv = house.get((b, svc))
            if method == "odpu" and hv is not None:
                main.add(
                    **key,
                    method=Method.HEAT_ODPU,
                    tariff_x4=tariff0,
                    area_x4=area,
                    house_volume_x6=hv,
                    total_area_x4=scope.b_total_x4[b],
                )
            else:
                main.add(
                    **key,
                    method=Method.HEAT_NORM,
                    tariff_x4=tariff0,
                    area_x4=area,
                    norm_x6=ref.norm[(svc, "per_m2")],
                )
        elif method in ("norm", "norm_x15"):
            main.add(
                **key,
                method=Method.NORM,
                tariff_x4=tariff0,
                norm_x6=ref.norm[(svc, "per_person")],
                person_days=pdays,
                coef_x4=coef if method == "norm_x15" else 10_000,
            )
        elif method == "person":
            main.add(**key, method=Method.NORM, tariff_x4=tariff0, norm_x6=1_000_000, person_days=pdays)
        elif method == "soi":
            res = ref.svc_id[SOI_OF[code]]
            hv = house.get((b, res))
            by_actual, negative = scope.b_flags[b]
            soi.add(
                **key,
                method=Method.SOI,
                tariff_x4=tariff0,
                norm_x6=ref.norm[(svc, "soi_per_m2")],
                area_x4=area,
                total_area_x4=scope.b_total_x4[b],
                common_area_x4=scope.b_common_x4[b],
                house_volume_x6=hv or 0,
                has_house_meter=int(hv is not None),
                soi_by_actual=by_actual,
                soi_allow_negative=negative,
                component=b,
            )  # component: building, for Σ individual
        elif method == "meter" and code == "VOD":
            vod.add(
                **key,
                method=Method.VOLUME,
                tariff_x4=tariff0,
                norm_x6=ref.norm[(svc, "per_person")],
                person_days=pdays,
            )
        elif method == "meter":
            zones = meters.get((acc, svc), [])
            norm = ref.norm[(svc, "per_person")]
            if not zones or (len(zones) > 1 and any(z[6] > 3 for z in zones)):
                # no usable readings at all (or a multi-zone meter past averaging): by norm, single rate
                failed = int(any(z[7] for z in zones))
                main.add(
                    **key,
                    method=Method.NORM,
                    tariff_x4=tariff0,
                    norm_x6=norm,
                    person_days=pdays,
                    coef_x4=coef if failed else 10_000,
                )
                continue
            multi = len(zones) > 1
            for zone, meth, prev, curr, hist, hm, miss, failed in zones:
                tz = ref.tariff.get((svc, prov, zone if multi else 0), tariff0)
                main.add(
                    **key,
                    component=zone if multi else 0,
                    method=meth,
                    tariff_x4=tz,
                    reading_prev_x6=prev,
                    reading_curr_x6=curr,
                    hist_volume_x6=hist,
                    hist_months=hm,
                    missing_seq=miss,
                    meter_failed=failed,
                    norm_x6=norm,
                    person_days=pdays,
                    coef_x4=coef,
                )
    return main, vod, soi


# ------------------------------------------------------------------------------------- the run


LINE_COLUMNS = (
    "period",
    "account_id",
    "service_id",
    "provider_id",
    "kind",
    "component",
    "corrected_period",
    "reason_code",
    "reason",
    "method",
    "volume",
    "tariff",
    "norm",
    "coefficient",
    "persons",
    "area",
    "amount_kop",
    "calc_run_id",
)


def _dec(value: int, scale: int) -> str:
    sign = "-" if value < 0 else ""
    q, r = divmod(abs(int(value)), 10**scale)
    return f"{sign}{q}.{r:0{scale}d}"


def bill_period(
    db: Engine,
    period: int,
    calc_engine: str = "rust",
    districts: Sequence[int] | None = None,
    progress: ProgressFn | None = None,
) -> BillReport:
    """Bill ``period`` for every account (of ``districts``, when given) in one transaction.

    Without ``districts`` the store is billed district by district inside the same transaction, so
    memory stays bounded by the largest district (the result equals a single pass: buildings, and
    with them КР на СОИ shares, never cross districts).
    """
    report = BillReport(period=period, engine=calc_engine, districts=list(districts) if districts else None)
    say = progress or (lambda _msg: None)
    eng: Any = calc_engine
    for kind in ("regular", "recalculation", "reduction", "penalty", "benefit"):
        report.lines[kind] = 0
        report.totals_kop[kind] = 0
    with db.begin() as conn:
        ensure_open(conn, period)
        ref = load_ref(conn, period)
        started = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        run_id = conn.execute(
            insert(m.CalcRun).values(
                kind="bill",
                period=period,
                engine=calc_engine,
                partition=",".join(map(str, districts or [])),
                started_at=started,
            )
        ).inserted_primary_key[0]  # type: ignore[index]
        parts: list[Sequence[int]] = (
            [list(districts)]
            if districts is not None
            else [[int(d)] for d in conn.scalars(select(m.District.id).order_by(m.District.id))]
        )
        for part in parts:
            _bill_part(conn, period, ref, part, eng, int(run_id), report, say)
        conn.execute(
            update(m.CalcRun)
            .where(m.CalcRun.id == run_id)
            .values(
                finished_at=dt.datetime.now(dt.UTC).replace(tzinfo=None),
                lines=sum(report.lines.values()),
                total_kop=report.total_kop,
            )
        )
        say("витрина отчётов")
        mart.refresh_billing(conn, period, districts)  # the dashboards' aggregates of the period
    return report


def _bill_part(
    conn: Connection,
    period: int,
    ref: Ref,
    districts: Sequence[int],
    eng: Any,
    run_id: int,
    report: BillReport,
    say: ProgressFn,
) -> None:
    """Charges, benefits, reductions, recalculations, penalties and balances of one partition."""
    say("лицевые счета и жильцы")
    scope = load_scope(conn, period, districts)
    report.accounts += len(scope.account)
    say("входные данные начислений")
    main, vod, soi = assemble_charges(conn, period, ref, scope, districts)
    lines: list[tuple[Any, ...]] = []
    say("начисления (движок)")
    charged: dict[tuple[int, int], int] = {}
    volumes: dict[tuple[int, str], int] = {}  # (building, resource code) → Σ individual volume_x6
    acc_vol: dict[tuple[int, int], int] = {}  # (account, service) → volume_x6
    idx = scope.index()

    def take(batch: Rows) -> dict[str, np.ndarray] | None:
        if not len(batch):
            return None
        out = calc.compute_charges(batch.arrays(), engine=eng)
        for j in range(len(out["amount_kop"])):
            acc, svc = int(out["account_id"][j]), int(out["service_id"][j])
            amount = int(out["amount_kop"][j])
            applied = Method(int(out["method_applied"][j]))
            comp = int(out["component"][j])
            code = ref.svc_code[svc]
            is_soi = applied is Method.SOI
            lines.append(
                (
                    period,
                    acc,
                    svc,
                    int(out["provider_id"][j]),
                    "regular",
                    "" if is_soi or comp == 0 else f"z{comp}",
                    0,
                    "",
                    _reason(applied, int(out["coef_x4"][j])),
                    METHOD_NAMES[applied]
                    if not (applied is Method.NORM and int(out["coef_x4"][j]) != 10_000)
                    else "norm_x15",
                    _dec(int(out["volume_x6"][j]), 6),
                    _dec(int(out["tariff_x4"][j]), 4),
                    _dec(int(out["norm_x6"][j]), 6) if int(out["norm_x6"][j]) else None,
                    _dec(int(out["coef_x4"][j]), 4) if int(out["coef_x4"][j]) != 10_000 else None,
                    _dec(int(out["person_days"][j]) * 10_000 // days_in_month(period), 4)
                    if applied in (Method.NORM, Method.AVERAGE)
                    else None,
                    _dec(int(out["area_x4"][j]) // 100, 2) if int(out["area_x4"][j]) else None,
                    amount,
                    run_id,
                )
            )
            charged[(acc, svc)] = charged.get((acc, svc), 0) + amount
            if not is_soi:
                vol = int(out["volume_x6"][j])
                acc_vol[(acc, svc)] = acc_vol.get((acc, svc), 0) + vol
                b = int(scope.building[idx[acc]])
                volumes[(b, code)] = volumes.get((b, code), 0) + vol
        return out

    take(main)
    hvs, gvs = ref.svc_id.get("HVS"), ref.svc_id.get("GVS")
    if len(vod):
        cols = vod.cols
        vols = [acc_vol.get((a, hvs), 0) + acc_vol.get((a, gvs), 0) for a in cols["account_id"]]  # type: ignore[arg-type]
        cols["volume_x6"] = vols
        take(vod)
    if len(soi):
        cols = soi.cols
        cols["indiv_volume_x6"] = [
            volumes.get((b, SOI_OF[ref.svc_code[s]]), 0)
            for b, s in zip(cols["component"], cols["service_id"], strict=True)
        ]
        cols["component"] = [0] * len(cols["component"])
        take(soi)
    say("льготы, качество, перерасчёты")
    lines += _benefit_lines(conn, period, ref, scope, charged, districts, eng, run_id)
    lines += _quality_lines(conn, period, ref, scope, charged, districts, eng, run_id)
    lines += _absence_lines(conn, period, ref, scope, districts, eng, run_id)
    say("пени")
    lines += _penalty_lines(conn, period, ref, scope, districts, eng, run_id)
    say("запись начислений")
    acc_ids = scope.account.tolist()
    _delete_period_lines(conn, period, districts)
    bulk_insert(conn, m.ChargeLine.__table__, LINE_COLUMNS, lines, prepared=True)
    say("сальдо")
    write_balances(conn, period, acc_ids, districts)
    for line in lines:
        report.lines[line[4]] += 1
        report.totals_kop[line[4]] += line[16]


def _reason(method: Method, coef_x4: int) -> str:
    if method is Method.AVERAGE:
        return "по среднемесячному объёму: показания не переданы"
    if method is Method.NORM and coef_x4 != 10_000:
        return "по нормативу с повышающим коэффициентом: нет прибора учёта"
    return ""


def _delete_period_lines(conn: Connection, period: int, districts: Sequence[int] | None) -> None:
    """Remove the period's lines of every account of the partition (a re-run replaces them)."""
    flt, params = in_list("b.district_id", districts)
    conn.execute(
        text(
            f"""DELETE FROM charge_lines WHERE period = :period AND account_id IN (
                SELECT a.id FROM accounts a JOIN premises p ON p.id = a.premises_id
                JOIN buildings b ON b.id = p.building_id WHERE {flt})"""
        ),
        {**params, "period": period},
    )


def _line(
    period: int,
    acc: int,
    svc: int,
    prov: int,
    kind: str,
    amount: int,
    run_id: int,
    *,
    corrected: int = 0,
    reason_code: str = "",
    reason: str = "",
    method: str = "",
) -> tuple[Any, ...]:
    return (
        period,
        acc,
        svc,
        prov,
        kind,
        "",
        corrected,
        reason_code,
        reason,
        method,
        None,
        None,
        None,
        None,
        None,
        None,
        amount,
        run_id,
    )


def _providers_of(conn: Connection, period: int, accounts: list[int]) -> dict[tuple[int, int], int]:
    out: dict[tuple[int, int], int] = {}
    for k in range(0, len(accounts), 5_000):
        chunk = accounts[k : k + 5_000]
        for a, s, p in conn.execute(
            select(
                m.AccountService.account_id, m.AccountService.service_id, m.AccountService.provider_id
            ).where(m.AccountService.account_id.in_(chunk), m.AccountService.date_from <= period_end(period))
        ):
            out[(a, s)] = p
    return out


def _benefit_lines(
    conn: Connection,
    period: int,
    ref: Ref,
    scope: Scope,
    charged: dict[tuple[int, int], int],
    districts: Sequence[int] | None,
    eng: Any,
    run_id: int,
) -> list[tuple[Any, ...]]:
    flt, params = in_list("b.district_id", districts)
    start, end = to_days(period_start(period)), to_days(period_end(period))
    rows = conn.execute(
        text(f"""SELECT be.account_id, bf.code, {scaled(conn, "bf.share_percent", 2)} AS share_bp, bf.covered_persons,
                        {days(conn, "bf.date_from")} AS d_from, {days(conn, "bf.date_to")} AS d_to, bc.service_codes
                 FROM benefits bf JOIN beneficiaries be ON be.id = bf.beneficiary_id
                 JOIN benefit_codes bc ON bc.code = bf.code
                 JOIN accounts a ON a.id = be.account_id JOIN premises p ON p.id = a.premises_id
                 JOIN buildings b ON b.id = p.building_id
                 WHERE {flt} AND be.status = 'active' AND bf.share_percent IS NOT NULL"""),
        params,
    ).all()
    idx = scope.index()
    batch = Rows()
    meta: list[tuple[int, int, str]] = []
    by_account: dict[int, list[int]] = {}
    for (acc, svc), _amount in charged.items():
        by_account.setdefault(acc, []).append(svc)
    for acc, code, share_bp, covered, d_from, d_to, services in rows:
        i = idx.get(int(acc))
        if i is None:
            continue
        active = int(
            _overlap_days(np.array([d_from]), np.array([-1 if d_to is None else d_to]), start, end)[0]
        )
        if active <= 0:
            continue
        allowed = {c for c in (services or "").split(",") if c}
        for svc in by_account.get(int(acc), []):
            if allowed and ref.svc_code[svc] not in allowed:
                continue
            batch.add(
                account_id=acc,
                service_id=svc,
                period=period,
                charge_kop=charged[(int(acc), svc)],
                share_bp=int(share_bp),
                covered=int(covered),
                registered=int(scope.registered[i]),
                active_days=active,
            )
            meta.append((int(acc), svc, str(code)))
    if not len(batch):
        return []
    out = calc.compute_benefits(batch.arrays(), engine=eng)
    provs = _providers_of(conn, period, sorted({a for a, _s, _c in meta}))
    lines = []
    for j, (acc, svc, code) in enumerate(meta):
        amount = int(out["benefit_kop"][j])
        if amount:
            lines.append(
                _line(
                    period,
                    acc,
                    svc,
                    provs[(acc, svc)],
                    "benefit",
                    -amount,
                    run_id,
                    reason_code=code,
                    reason=f"льгота {code}",
                )
            )
    return _merge(lines)


def _merge(lines: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """Sum lines sharing the natural key (e.g. two benefits of one account on one service)."""
    merged: dict[tuple[Any, ...], list[Any]] = {}
    for ln in lines:
        key = (ln[0], ln[1], ln[2], ln[4], ln[5], ln[6], ln[7])
        if key in merged:
            merged[key][16] += ln[16]
        else:
            merged[key] = list(ln)
    return [tuple(v) for v in merged.values() if v[16] != 0]


def _quality_lines(
    conn: Connection,
    period: int,
    ref: Ref,
    scope: Scope,
    charged: dict[tuple[int, int], int],
    districts: Sequence[int] | None,
    eng: Any,
    run_id: int,
) -> list[tuple[Any, ...]]:
    flt, params = in_list("b.district_id", districts)
    rows = conn.execute(
        text(f"""SELECT q.building_id, q.service_id, q.kind, {scaled(conn, "q.hours", 2)} AS hours_x100,
                        {scaled(conn, "q.measured_temp", 1)} AS temp_dc, {scaled(conn, "q.norm_temp", 1)} AS norm_dc,
                        CASE WHEN q.night THEN 1 ELSE 0 END AS night
                 FROM quality_incidents q JOIN buildings b ON b.id = q.building_id
                 WHERE {flt} AND q.started_at >= :start AND q.started_at < :next"""),
        {**params, "start": period_start(period), "next": period_start(add_months(period, 1))},
    ).all()
    if not rows:
        return []
    accounts_of: dict[int, list[int]] = {}
    for a, b in zip(scope.account.tolist(), scope.building.tolist(), strict=True):
        accounts_of.setdefault(b, []).append(a)
    batch = Rows()
    for b, svc, kind, hours_x100, temp_dc, norm_dc, night in rows:
        rule = QUALITY_RULE.get((ref.svc_code[svc], kind))
        if rule is None:
            continue
        for acc in accounts_of.get(int(b), []):
            charge = charged.get((acc, svc), 0)
            if charge <= 0:
                continue
            batch.add(
                account_id=acc,
                service_id=svc,
                period=period,
                rule_code=rule,
                charge_kop=charge,
                duration_min=int(hours_x100) * 60 // 100,
                norm_temp_dc=int(norm_dc or 0),
                temp_dc=int(temp_dc or 0),
                night=int(night),
            )
    if not len(batch):
        return []
    out = calc.reductions(batch.arrays(), engine=eng)
    provs = _providers_of(conn, period, sorted(set(out["account_id"].tolist())))
    lines = []
    for j in range(len(out["account_id"])):
        amount = int(out["delta_kop"][j])
        if amount:
            acc, svc = int(out["account_id"][j]), int(out["service_id"][j])
            lines.append(
                _line(
                    period,
                    acc,
                    svc,
                    provs[(acc, svc)],
                    "reduction",
                    amount,
                    run_id,
                    corrected=period,
                    reason_code="QUALITY",
                    reason="снижение платы за качество/перерыв (Прил. 1 к Правилам 354)",
                )
            )
    return lines


def _absence_lines(
    conn: Connection,
    period: int,
    ref: Ref,
    scope: Scope,
    districts: Sequence[int] | None,
    eng: Any,
    run_id: int,
) -> list[tuple[Any, ...]]:
    flt, params = in_list("b.district_id", districts)
    rows = conn.execute(
        text(f"""SELECT ab.account_id, s.service_id, s.provider_id, s.method,
                        {days(conn, "ab.date_from")} AS d_from, {days(conn, "ab.date_to")} AS d_to
                 FROM absences ab JOIN account_services s ON s.account_id = ab.account_id
                 JOIN accounts a ON a.id = ab.account_id JOIN premises p ON p.id = a.premises_id
                 JOIN buildings b ON b.id = p.building_id
                 WHERE {flt} AND ab.date_from <= :end AND ab.date_to >= :start
                   AND (s.method = 'person' OR (s.method = 'norm' AND NOT p.meter_installable))"""),
        {**params, "start": period_start(period), "end": period_end(period)},
    ).all()
    batch = Rows()
    provs: list[int] = []
    for acc, svc, prov, method, d_from, d_to in rows:
        if not ref.absence[svc]:
            continue
        norm = 1_000_000 if method == "person" else ref.norm.get((svc, "per_person"), 0)
        tariff = ref.tariff.get((svc, prov, 0), 0)
        batch.add(
            account_id=acc,
            service_id=svc,
            period=period,
            norm_x6=norm,
            tariff_x4=tariff,
            persons=1,
            depart_date=d_from,
            return_date=d_to,
            eligible=1,
        )
        provs.append(int(prov))
    if not len(batch):
        return []
    out = calc.absence_recalc(batch.arrays(), engine=eng)
    lines = []
    for j in range(len(out["account_id"])):
        amount = int(out["delta_kop"][j])
        if amount:
            lines.append(
                _line(
                    period,
                    int(out["account_id"][j]),
                    int(out["service_id"][j]),
                    provs[j],
                    "recalculation",
                    amount,
                    run_id,
                    corrected=period,
                    reason_code="ABSENCE",
                    reason=f"временное отсутствие, {int(out['absent_days'][j])} дн.",
                )
            )
    return _merge(lines)


def _penalty_lines(
    conn: Connection,
    period: int,
    ref: Ref,
    scope: Scope,
    districts: Sequence[int] | None,
    eng: Any,
    run_id: int,
) -> list[tuple[Any, ...]]:
    """Penalties on every unpaid debt month before ``period`` (opening debts and billed periods)."""
    flt, params = in_list("b.district_id", districts)
    base = f"""JOIN accounts a ON a.id = x.account_id JOIN premises p ON p.id = a.premises_id
               JOIN buildings b ON b.id = p.building_id WHERE {flt}"""
    debts: dict[tuple[int, int, int], list[int]] = {}  # (acc, svc, month) → [provider, amount]
    for acc, svc, prov, per, amount in conn.execute(
        text(
            f"SELECT x.account_id, x.service_id, x.provider_id, x.period, x.principal_kop FROM opening_debts x {base}"
            " AND x.principal_kop > 0 AND x.period < :period"
        ),
        {**params, "period": period},
    ):
        debts.setdefault((acc, svc, per), [prov, 0])[1] += amount
    for acc, svc, prov, per, amount in conn.execute(
        text(
            f"""SELECT x.account_id, x.service_id, x.provider_id, x.period, SUM(x.amount_kop) FROM charge_lines x {base}
            AND x.period < :period AND x.kind <> 'penalty'
            GROUP BY x.account_id, x.service_id, x.provider_id, x.period"""
        ),
        {**params, "period": period},
    ):
        debts.setdefault((acc, svc, per), [prov, 0])[1] += int(amount)
    posted: dict[tuple[int, int, int], int] = {}
    for acc, svc, per, amount in conn.execute(
        text(
            f"""SELECT x.account_id, x.service_id, x.corrected_period, SUM(x.amount_kop) FROM charge_lines x {base}
            AND x.kind = 'penalty' AND x.period < :period
            GROUP BY x.account_id, x.service_id, x.corrected_period"""
        ),
        {**params, "period": period},
    ):
        posted[(acc, svc, per)] = int(amount)
    paid_rows = conn.execute(
        text(
            f"""SELECT al.account_id, al.service_id, al.period, {days(conn, "pm.op_date")}, SUM(al.amount_kop)
            FROM payment_allocations al JOIN payments pm ON pm.id = al.payment_id
            JOIN accounts a ON a.id = al.account_id JOIN premises p ON p.id = a.premises_id
            JOIN buildings b ON b.id = p.building_id
            WHERE {flt} AND al.kind = 'principal' AND pm.op_date <= :end
            GROUP BY al.account_id, al.service_id, al.period, pm.op_date"""
        ),
        {**params, "end": period_end(period)},
    ).all()
    keys = [k for k, v in debts.items() if v[1] > 0]
    if not keys:
        return []
    row_of = {k: i for i, k in enumerate(keys)}
    debt_batch = {
        "account_id": np.array([k[0] for k in keys], dtype=np.int64),
        "service_id": np.array([k[1] for k in keys], dtype=np.int64),
        "provider_id": np.array([debts[k][0] for k in keys], dtype=np.int64),
        "period": np.array([k[2] for k in keys], dtype=np.int64),
        "amount_kop": np.array([debts[k][1] for k in keys], dtype=np.int64),
        "capital_repair": np.array([int(ref.capital[k[1]]) for k in keys], dtype=np.int64),
        "due_date": np.array([to_days(due_date(k[2])) for k in keys], dtype=np.int64),
        "posted_kop": np.array([posted.get(k, 0) for k in keys], dtype=np.int64),
    }
    paid: dict[str, list[int]] = {"debt_row": [], "pay_date": [], "amount_kop": []}
    for acc, svc, per, day, amount in paid_rows:
        r = row_of.get((acc, svc, per))
        if r is not None:
            paid["debt_row"].append(r)
            paid["pay_date"].append(int(day))
            paid["amount_kop"].append(int(amount))
    rates = conn.execute(select(m.KeyRate.date_from, m.KeyRate.rate).order_by(m.KeyRate.date_from)).all()
    key_rates = {
        "date_from": np.array([to_days(d) for d, _ in rates], dtype=np.int64),
        "rate_bp": np.array([int(r * 100) for _, r in rates], dtype=np.int64),
    }
    regimes = _regimes(conn)
    out = calc.compute_penalties(
        debt_batch,
        {k: np.asarray(v, dtype=np.int64) for k, v in paid.items()},
        calc_date=period_end(period),
        key_rates=key_rates,
        regimes=regimes,
        engine=eng,
    )
    lines = []
    for j in range(len(keys)):
        delta = int(out["delta_kop"][j])
        if delta:
            acc, svc, per = keys[j]
            lines.append(
                _line(
                    period,
                    acc,
                    svc,
                    debts[keys[j]][0],
                    "penalty",
                    delta,
                    run_id,
                    corrected=per,
                    reason_code="PENI",
                    reason=f"пени за {per % 100:02d}.{per // 100}",
                )
            )
    return lines


def _regimes(conn: Connection) -> dict[str, np.ndarray]:
    kinds = {"pause": 1, "rate_cap": 2, "moratorium": 3}
    rows = conn.execute(
        select(
            m.PenaltyRegime.kind, m.PenaltyRegime.date_from, m.PenaltyRegime.date_to, m.PenaltyRegime.cap_rate
        ).where(m.PenaltyRegime.enabled.is_(True))
    ).all()
    out: dict[str, list[int]] = {"kind": [], "date_from": [], "date_to": [], "value": []}
    for kind, d_from, d_to, cap in rows:
        out["kind"].append(kinds[kind])
        out["date_from"].append(to_days(d_from))
        out["date_to"].append(to_days(d_to))
        if kind == "rate_cap":
            out["value"].append(int((cap or 0) * 100))
        elif kind == "moratorium":
            out["value"].append(add_months(d_from.year * 100 + d_from.month, -1))
        else:
            out["value"].append(0)
    return {k: np.asarray(v, dtype=np.int64) for k, v in out.items()}


# ------------------------------------------------------------------------------------- balances


def write_balances(
    conn: Connection,
    period: int,
    accounts: list[int],
    districts: Sequence[int] | None,
    by_accounts: bool = False,
) -> None:
    """Account × service saldo of ``period`` for the accounts billed (domain §6).

    ``by_accounts``: recompute only ``accounts`` (e.g. those a settlement just paid), in chunks.
    """
    if by_accounts:
        for k in range(0, len(accounts), 2_000):
            chunk = accounts[k : k + 2_000]
            _write_balances(conn, period, chunk, *in_list("a.id", chunk))
    else:
        _write_balances(conn, period, accounts, *in_list("b.district_id", districts))


def _write_balances(
    conn: Connection, period: int, accounts: list[int], flt: str, params: dict[str, Any]
) -> None:
    """Gather opening, charges by kind and payments per account × service (NumPy), write the saldo rows."""
    prev = add_months(period, -1)
    base = f"""JOIN accounts a ON a.id = x.account_id JOIN premises p ON p.id = a.premises_id
               JOIN buildings b ON b.id = p.building_id WHERE {flt}"""
    has_prev = conn.execute(
        select(m.AccountBalance.period).where(m.AccountBalance.period == prev).limit(1)
    ).first()
    if has_prev:
        opening = fetch(
            conn,
            f"SELECT x.account_id, x.service_id, x.provider_id, x.closing_kop AS amount FROM account_balances x {base}"
            " AND x.period = :prev",
            {**params, "prev": prev},
        )
    else:
        opening = fetch(
            conn,
            f"""SELECT x.account_id, x.service_id, MIN(x.provider_id) AS provider_id,
                       SUM(x.principal_kop + x.penalty_kop) AS amount
                FROM opening_debts x {base} GROUP BY x.account_id, x.service_id""",
            params,
        )
    lines = fetch(
        conn,
        f"""SELECT x.account_id, x.service_id, MIN(x.provider_id) AS provider_id, x.kind, SUM(x.amount_kop) AS amount
            FROM charge_lines x {base} AND x.period = :period GROUP BY x.account_id, x.service_id, x.kind""",
        {**params, "period": period},
    )
    paid = fetch(
        conn,
        f"""SELECT x.account_id, x.service_id, MIN(x.provider_id) AS provider_id, SUM(x.amount_kop) AS amount
            FROM payment_allocations x JOIN payments pm ON pm.id = x.payment_id {base.replace("WHERE", "AND", 0)}
            AND pm.op_date BETWEEN :start AND :end GROUP BY x.account_id, x.service_id""",
        {**params, "start": period_start(period), "end": period_end(period)},
    )
    # columns: 0 opening, 1 charged, 2 recalc (recalculation + reduction), 3 benefit, 4 penalty, 5 paid
    kind_col = {"regular": 1, "recalculation": 2, "reduction": 2, "benefit": 3, "penalty": 4}
    line_cols = np.array(
        [kind_col[k] for k in lines.get("kind", np.array([], dtype=object)).tolist()], dtype=np.int64
    )
    parts = [
        (opening, np.zeros(len(opening["amount"]), dtype=np.int64)),
        (lines, line_cols),
        (paid, np.full(len(paid["amount"]), 5, dtype=np.int64)),
    ]
    acc = np.concatenate([p["account_id"] for p, _ in parts]) if parts else np.array([], dtype=np.int64)
    svc = np.concatenate([p["service_id"] for p, _ in parts])
    prov = np.concatenate([p["provider_id"] for p, _ in parts])
    amount = np.concatenate([p["amount"] for p, _ in parts])
    col = np.concatenate([c for _, c in parts])
    conn.execute(
        text(
            f"""DELETE FROM account_balances WHERE period = :period AND account_id IN (
                SELECT a.id FROM accounts a JOIN premises p ON p.id = a.premises_id
                JOIN buildings b ON b.id = p.building_id WHERE {flt})"""
        ),
        {**params, "period": period},
    )
    if not len(acc):
        return
    key = acc * 1_000_000 + svc
    uniq, first, inverse = np.unique(key, return_index=True, return_inverse=True)
    sums = np.zeros((len(uniq), 6), dtype=np.int64)
    np.add.at(sums, (inverse, col), amount)
    closing = sums[:, 0] + sums[:, 1] + sums[:, 2] + sums[:, 3] + sums[:, 4] - sums[:, 5]
    out = zip(
        [period] * len(uniq),
        (uniq // 1_000_000).tolist(),
        (uniq % 1_000_000).tolist(),
        prov[first].tolist(),
        *(sums[:, j].tolist() for j in range(6)),
        [0] * len(uniq),
        closing.tolist(),
        strict=True,
    )
    bulk_insert(
        conn,
        m.AccountBalance.__table__,
        (
            "period",
            "account_id",
            "service_id",
            "provider_id",
            "opening_kop",
            "charged_kop",
            "recalc_kop",
            "benefit_kop",
            "penalty_kop",
            "paid_kop",
            "correction_kop",
            "closing_kop",
        ),
        out,
        prepared=True,
    )
