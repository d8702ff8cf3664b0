"""The reporting mart: small per-period and per-day aggregate tables that the dashboards read instead of
scanning charge lines, allocations and balances (tables ``mart_*`` of hub/store/models.py).

What it holds (all money integer kopecks):

- ``mart_charges`` — charged / penalties per charge period × building × service × provider;
- ``mart_paid`` — paid (principal and advance allocations) per month paid × building × service × provider;
- ``mart_totals`` — both summed per period × district × management company × service × provider;
- ``mart_lines`` / ``mart_opening`` — recalculations, reductions and penalties by reason; opening debts;
- ``mart_debt`` / ``mart_aging`` / ``mart_debtors`` — as of one billing period: debt and advances per
  district × service × provider, the FIFO remainder per month of origin, and every owing account (all
  providers, and per provider) with a bit mask of the services it owes for;
- ``mart_money`` / ``mart_money_agents`` / ``mart_turnover`` — per payment day: allocations by provider ×
  service, payments by agent (whole, and each provider's part), allocations by days to the transfer.

Who writes it: :func:`refresh_billing` at the end of ``hub.billing.bill_period`` (the period's charges
and the debt as of it); ``hub.billing.settle_day`` through :func:`debt_delta` (around the rewrite of the
paid accounts' balances: their debt taken out, then put back) and :func:`refresh_after_settle` (the new
allocations' paid, the payment days touched); ``unipay reports refresh`` (:func:`refresh_mart`,
everything) for a store filled by other means. All of it is set-based SQL (``INSERT … SELECT … GROUP
BY``, ``ON CONFLICT … DO UPDATE`` to add to a row) that runs on SQLite and PostgreSQL inside the
caller's transaction.

Freshness: ``mart_state`` keeps, per part (``charges``, ``money``, ``debt:YYYYMM``), the fingerprint of
the source tables the refresh saw (their largest ids). :func:`is_fresh` compares it with the store's
current fingerprint; the reports use the mart only while it is fresh and otherwise compute from the
source tables (right, but slow on a big city) — the pages then say that the mart needs a refresh.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Engine,
    Integer,
    MetaData,
    Table,
    and_,
    case,
    delete,
    func,
    insert,
    literal,
    select,
    true,
    union_all,
)

from hub.store import models as m
from hub.store.db import bulk_insert

MASK_BITS = 62  # service ids up to 61 fit the services bit mask (a BIGINT); others are not masked
CHUNK = 5_000

SOURCES: dict[str, tuple[Any, ...]] = {
    "charges": (m.ChargeLine, m.PaymentAllocation, m.OpeningDebt),
    "debt": (m.ChargeLine, m.PaymentAllocation, m.OpeningDebt),
    "money": (m.Payment, m.PaymentAllocation, m.ProviderTransfer),
}


# ------------------------------------------------------------------------------------------------
# Freshness
# ------------------------------------------------------------------------------------------------


def _kind(part: str) -> str:
    return part.split(":", 1)[0]


def fingerprint(conn: Connection, part: str) -> str:
    """The largest ids of the tables ``part`` is computed from (one index probe each)."""
    tables = SOURCES[_kind(part)]
    row = conn.execute(select(*(select(func.max(t.id)).scalar_subquery() for t in tables))).one()
    return ":".join("" if v is None else str(int(v)) for v in row)


def is_fresh(conn: Connection, part: str) -> bool:
    """True when ``part`` was refreshed and its sources have not changed since."""
    stored = conn.execute(select(m.MartState.version).where(m.MartState.part == part)).scalar_one_or_none()
    return stored is not None and stored == fingerprint(conn, part)


def status(engine: Engine, period: int | None = None) -> dict[str, bool]:
    """Freshness of the parts a page reads (``debt`` = the debt as of ``period``)."""
    with engine.connect() as conn:
        out = {"charges": is_fresh(conn, "charges"), "money": is_fresh(conn, "money")}
        if period is not None:
            out["debt"] = is_fresh(conn, f"debt:{period}")
    return out


def _mark(conn: Connection, part: str, started: float) -> None:
    """Record that ``part`` is up to date with the sources as this transaction sees them (an upsert:
    billing runs of several districts may finish at the same time)."""
    values = {
        "part": part,
        "version": fingerprint(conn, part),
        "refreshed_at": dt.datetime.now(dt.UTC).replace(tzinfo=None),
        "seconds": Decimal(f"{time.perf_counter() - started:.3f}"),
    }
    stmt = _dialect_insert(conn)(m.MartState.__table__).values(**values)
    conn.execute(
        stmt.on_conflict_do_update(
            index_elements=["part"], set_={k: v for k, v in values.items() if k != "part"}
        )
    )


def _dialect_insert(conn: Connection) -> Any:
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as dialect_insert
    else:
        from sqlalchemy.dialects.sqlite import insert as dialect_insert
    return dialect_insert


# ------------------------------------------------------------------------------------------------
# Pieces
# ------------------------------------------------------------------------------------------------


def _geo(account_col: Any) -> tuple[Any, list[tuple[Any, Any]]]:
    """(buildings table, joins from an ``account_id`` column to its building)."""
    return m.Building, [
        (m.Account, m.Account.id == account_col),
        (m.Premises, m.Premises.id == m.Account.premises_id),
        (m.Building, m.Building.id == m.Premises.building_id),
    ]


def _joined(stmt: Any, joins: list[tuple[Any, Any]]) -> Any:
    for target, on in joins:
        stmt = stmt.join(target, on)
    return stmt


def _chunks(values: Sequence[int]) -> list[list[int]]:
    vals = sorted({int(v) for v in values})
    return [vals[k : k + CHUNK] for k in range(0, len(vals), CHUNK)]


def _upsert_add(
    conn: Connection, table: Any, cols: list[str], keys: list[str], add: list[str], sel: Any
) -> None:
    """``INSERT INTO table (cols) SELECT …`` that adds ``add`` to the rows already there (by ``keys``):
    ``ON CONFLICT … DO UPDATE SET x = x + new`` (SQLite and PostgreSQL)."""
    stmt = _dialect_insert(conn)(table).from_select(cols, sel)
    stmt = stmt.on_conflict_do_update(
        index_elements=keys, set_={c: table.c[c] + stmt.excluded[c] for c in add}
    )
    conn.execute(stmt)


def _scope(table: Any, period: int | None, districts: Sequence[int] | None) -> list[Any]:
    """WHERE terms on a mart table's ``period`` and ``district_id``."""
    terms: list[Any] = []
    if period is not None:
        terms.append(table.c.period == period)
    if districts is not None:
        terms.append(table.c.district_id.in_(list(districts)))
    return terms


def refresh_charges(
    conn: Connection, period: int | None = None, districts: Sequence[int] | None = None
) -> None:
    """Rebuild ``mart_charges`` and ``mart_lines`` of ``period`` (all periods when None), of
    ``districts`` when given."""
    t, lt, cl = m.MartCharges.__table__, m.MartLines.__table__, m.ChargeLine
    b, joins = _geo(cl.account_id)
    terms: list[Any] = []
    if period is not None:
        terms.append(cl.period == period)
    if districts is not None:
        terms.append(b.district_id.in_(list(districts)))
    for table in (t, lt):
        conn.execute(delete(table).where(true(), *_scope(table, period, districts)))
    stmt = _joined(
        select(
            cl.period,
            b.id,
            cl.service_id,
            cl.provider_id,
            func.min(b.district_id),
            func.min(b.mc_id),
            func.sum(case((cl.kind != "penalty", cl.amount_kop), else_=0)),
            func.sum(case((cl.kind == "penalty", cl.amount_kop), else_=0)),
        ).select_from(cl),
        joins,
    )
    stmt = stmt.where(true(), *terms).group_by(cl.period, b.id, cl.service_id, cl.provider_id)
    cols = ["period", "building_id", "service_id", "provider_id", "district_id", "mc_id"]
    conn.execute(insert(t).from_select([*cols, "charged_kop", "penalty_kop"], stmt))

    # recalculations, reductions and penalties by reason; penalties once more over all services
    line_cols = [
        "period",
        "kind",
        "reason_code",
        "district_id",
        "service_id",
        "provider_id",
        "lines",
        "accounts",
        "amount_kop",
        "example",
    ]
    values = [
        func.count(),
        func.count(func.distinct(cl.account_id)),
        func.sum(cl.amount_kop),
        func.min(cl.reason),
    ]
    by_reason = _joined(
        select(
            cl.period, cl.kind, cl.reason_code, b.district_id, cl.service_id, cl.provider_id, *values
        ).select_from(cl),
        joins,
    ).where(cl.kind.in_(("recalculation", "reduction")), *terms)
    conn.execute(
        insert(lt).from_select(
            line_cols,
            by_reason.group_by(
                cl.period, cl.kind, cl.reason_code, b.district_id, cl.service_id, cl.provider_id
            ),
        )
    )
    # penalties: reason "*" (all reasons), per service and over all services (service 0)
    for svc in (cl.service_id, literal(0)):
        pen = _joined(
            select(
                cl.period, literal("penalty"), literal("*"), b.district_id, svc, cl.provider_id, *values
            ).select_from(cl),
            joins,
        ).where(cl.kind == "penalty", *terms)
        group = [cl.period, b.district_id, cl.provider_id] + ([cl.service_id] if svc is cl.service_id else [])
        conn.execute(insert(lt).from_select(line_cols, pen.group_by(*group)))


def refresh_opening(conn: Connection) -> None:
    """Rebuild ``mart_opening`` (opening debts change only when a legacy store is loaded)."""
    od, t = m.OpeningDebt, m.MartOpening.__table__
    b, joins = _geo(od.account_id)
    conn.execute(delete(t))
    conn.execute(
        insert(t).from_select(
            ["district_id", "service_id", "provider_id", "principal_kop", "penalty_kop"],
            _joined(
                select(
                    b.district_id,
                    od.service_id,
                    od.provider_id,
                    func.sum(od.principal_kop),
                    func.sum(od.penalty_kop),
                ).select_from(od),
                joins,
            ).group_by(b.district_id, od.service_id, od.provider_id),
        )
    )


def _paid_select(payment_ids: list[int] | None) -> Any:
    a = m.PaymentAllocation
    b, joins = _geo(a.account_id)
    stmt = _joined(
        select(
            a.period,
            b.id,
            a.service_id,
            a.provider_id,
            func.min(b.district_id),
            func.min(b.mc_id),
            func.sum(a.amount_kop),
        ).select_from(a),
        joins,
    )
    terms = [a.kind.in_(("principal", "advance"))]
    if payment_ids is not None:
        terms.append(a.payment_id.in_(payment_ids))
    return stmt.where(*terms).group_by(a.period, b.id, a.service_id, a.provider_id)


PAID_KEYS = ["period", "building_id", "service_id", "provider_id"]
PAID_COLS = [*PAID_KEYS, "district_id", "mc_id", "paid_kop"]


AGENT_KEYS = ["period", "district_id", "agent_id", "provider_id", "service_id"]


def _paid_agent_selects(payment_ids: list[int] | None) -> list[Any]:
    """Paid and payments per period × district × agent × (provider, service | provider | all)."""
    a, p = m.PaymentAllocation, m.Payment
    b, joins = _geo(a.account_id)
    terms = [a.kind.in_(("principal", "advance"))]
    if payment_ids is not None:
        terms.append(a.payment_id.in_(payment_ids))
    out = []
    zero = literal(0)
    for prov, svc, extra in (
        (a.provider_id, a.service_id, [a.provider_id, a.service_id]),
        (a.provider_id, zero, [a.provider_id]),
        (zero, zero, []),
    ):
        group = [a.period, b.district_id, p.agent_id, *extra]
        stmt = _joined(
            select(
                a.period,
                b.district_id,
                p.agent_id,
                prov,
                svc,
                func.count(func.distinct(a.payment_id)),
                func.sum(a.amount_kop),
            )
            .select_from(a)
            .join(p, p.id == a.payment_id),
            joins,
        )
        out.append(stmt.where(*terms).group_by(*group))
    return out


def refresh_paid(conn: Connection, payment_ids: Sequence[int] | None = None) -> None:
    """``mart_paid`` and ``mart_paid_agents``: rebuilt from every allocation, or — ``payment_ids`` — the
    allocations of those payments (just split, never counted before) added to them."""
    t, ta = m.MartPaid.__table__, m.MartPaidAgent.__table__
    agent_cols = [*AGENT_KEYS, "payments", "paid_kop"]
    if payment_ids is None:
        conn.execute(delete(t))
        conn.execute(insert(t).from_select(PAID_COLS, _paid_select(None)))
        conn.execute(delete(ta))
        for sel in _paid_agent_selects(None):
            conn.execute(insert(ta).from_select(agent_cols, sel))
        return
    for chunk in _chunks(payment_ids):
        _upsert_add(conn, t, PAID_COLS, PAID_KEYS, ["paid_kop"], _paid_select(chunk))
        for sel in _paid_agent_selects(chunk):
            _upsert_add(conn, ta, agent_cols, AGENT_KEYS, ["payments", "paid_kop"], sel)


def refresh_totals(conn: Connection, districts: Sequence[int] | None = None) -> None:
    """Rebuild ``mart_totals`` (of ``districts``) from ``mart_charges`` and ``mart_paid`` (no source table
    is read)."""
    t, c, p = m.MartTotals.__table__, m.MartCharges.__table__, m.MartPaid.__table__
    zero = literal(0)
    both = union_all(
        select(
            c.c.period,
            c.c.district_id,
            func.coalesce(c.c.mc_id, 0).label("mc_id"),
            c.c.service_id,
            c.c.provider_id,
            c.c.charged_kop,
            c.c.penalty_kop,
            zero.label("paid_kop"),
        ).where(true(), *_scope(c, None, districts)),
        select(
            p.c.period,
            p.c.district_id,
            func.coalesce(p.c.mc_id, 0),
            p.c.service_id,
            p.c.provider_id,
            zero,
            zero,
            p.c.paid_kop,
        ).where(true(), *_scope(p, None, districts)),
    ).subquery()
    keys = [both.c.period, both.c.district_id, both.c.mc_id, both.c.service_id, both.c.provider_id]
    conn.execute(delete(t).where(true(), *_scope(t, None, districts)))
    conn.execute(
        insert(t).from_select(
            [
                "period",
                "district_id",
                "mc_id",
                "service_id",
                "provider_id",
                "charged_kop",
                "penalty_kop",
                "paid_kop",
            ],
            select(
                *keys, func.sum(both.c.charged_kop), func.sum(both.c.penalty_kop), func.sum(both.c.paid_kop)
            ).group_by(*keys),
        )
    )


# -- debt as of a period -----------------------------------------------------------------------------

_tmp_meta = MetaData()
_SALDO = Table(
    "tmp_mart_saldo",
    _tmp_meta,
    Column("account_id", Integer),
    Column("service_id", Integer),
    Column("provider_id", Integer),
    Column("district_id", Integer),
    Column("d", BigInteger),
    prefixes=["TEMPORARY"],
)


def refresh_debt(conn: Connection, period: int, districts: Sequence[int] | None = None) -> None:
    """Rebuild ``mart_debt``, ``mart_aging`` and ``mart_debtors`` as of ``period`` (of ``districts``).

    The same definitions as :mod:`hub.reports.analytics` (its ``_items`` / ``_remaining`` subqueries):
    saldo per account × service = Σ debits − Σ credits of the opening debts and billed months up to
    ``period``; the FIFO remainder per month of origin.
    """
    for table in (m.MartDebt.__table__, m.MartAging.__table__, m.MartDebtor.__table__):
        conn.execute(delete(table).where(*_scope(table, period, districts)))
    _add_debt(conn, period, districts, None, 1)


@contextmanager
def debt_delta(conn: Connection, period: int, accounts: Sequence[int]) -> Iterator[None]:
    """Around a rewrite of some accounts' balances of ``period`` (a settlement): take their debt out of
    the debt tables before, put the new one in after — the rest of the city is not read again."""
    kept = conn.execute(select(m.MartState.part).where(m.MartState.part == f"debt:{period}")).first()
    chunks = _chunks(accounts) if kept is not None else []
    for chunk in chunks:
        _add_debt(conn, period, None, chunk, -1)
    yield
    for chunk in chunks:
        _add_debt(conn, period, None, chunk, 1)


def _add_debt(
    conn: Connection, period: int, districts: Sequence[int] | None, accounts: list[int] | None, sign: int
) -> None:
    """Add ``sign`` × the debt of the accounts (all, of ``districts``, or ``accounts``) to ``mart_debt`` and
    ``mart_aging``; with sign +1 insert their ``mart_debtors`` rows, with −1 delete them."""
    from hub.reports.analytics import _items, _remaining
    from hub.reports.common import Filters

    flt = Filters(district_ids=tuple(districts)) if districts is not None else Filters()
    dt_, at_, dr_ = m.MartDebt.__table__, m.MartAging.__table__, m.MartDebtor.__table__
    if sign < 0 and accounts is not None:
        conn.execute(delete(dr_).where(dr_.c.period == period, dr_.c.account_id.in_(accounts)))
    _SALDO.create(conn)
    try:
        it = _items(flt, None, period, accounts)
        per = (
            select(
                it.c.account_id,
                it.c.service_id,
                func.min(it.c.provider_id).label("provider_id"),
                (func.sum(it.c.debit) - func.sum(it.c.credit)).label("d"),
            )
            .group_by(it.c.account_id, it.c.service_id)
            .subquery()
        )
        b, joins = _geo(per.c.account_id)
        conn.execute(
            insert(_SALDO).from_select(
                ["account_id", "service_id", "provider_id", "district_id", "d"],
                _joined(
                    select(per.c.account_id, per.c.service_id, per.c.provider_id, b.district_id, per.c.d)
                    .select_from(per)
                    .where(per.c.d != 0),
                    joins,
                ),
            )
        )
        s = _SALDO.c
        pos = case((s.d > 0, s.d), else_=0)
        _upsert_add(
            conn,
            dt_,
            ["period", "district_id", "service_id", "provider_id", "debt_kop", "advance_kop"],
            ["period", "district_id", "service_id", "provider_id"],
            ["debt_kop", "advance_kop"],
            select(
                literal(period),
                s.district_id,
                s.service_id,
                s.provider_id,
                literal(sign) * func.sum(pos),
                literal(sign) * func.sum(case((s.d < 0, -s.d), else_=0)),
            )
            .where(true())
            .group_by(s.district_id, s.service_id, s.provider_id),
        )
        if sign > 0:
            bit = case(
                (s.service_id < MASK_BITS, literal(1, BigInteger).op("<<")(s.service_id)), else_=literal(0)
            )
            cols = ["period", "provider_id", "account_id", "district_id", "debt_kop", "service_mask"]
            for prov in (literal(0), s.provider_id):
                group = [s.account_id] if prov is not s.provider_id else [s.provider_id, s.account_id]
                conn.execute(
                    insert(dr_).from_select(
                        cols,
                        select(
                            literal(period),
                            prov,
                            s.account_id,
                            func.min(s.district_id),
                            func.sum(s.d),
                            func.sum(bit),
                        )
                        .where(s.d > 0)
                        .group_by(*group),
                    )
                )
    finally:
        _SALDO.drop(conn)

    r = _remaining(flt, None, period, accounts)
    b, joins = _geo(r.c.account_id)
    _upsert_add(
        conn,
        at_,
        ["period", "district_id", "service_id", "provider_id", "origin", "remaining_kop"],
        ["period", "district_id", "service_id", "provider_id", "origin"],
        ["remaining_kop"],
        _joined(
            select(
                literal(period),
                b.district_id,
                r.c.service_id,
                r.c.provider_id,
                r.c.period,
                literal(sign) * func.sum(r.c.remaining),
            ).select_from(r),
            joins,
        )
        .where(true())
        .group_by(b.district_id, r.c.service_id, r.c.provider_id, r.c.period)
        .having(func.sum(r.c.remaining) != 0),
    )


# -- money per payment day ---------------------------------------------------------------------------


def refresh_money(conn: Connection, date_from: dt.date | None = None, date_to: dt.date | None = None) -> None:
    """Rebuild the money tables for the payment days ``[date_from, date_to]`` (every day when None)."""
    p, a, t = m.Payment, m.PaymentAllocation, m.ProviderTransfer
    mm, ma, mt = m.MartMoney.__table__, m.MartMoneyAgent.__table__, m.MartTurnover.__table__
    terms: list[Any] = []
    if date_from is not None:
        terms.append(p.op_date >= date_from)
    if date_to is not None:
        terms.append(p.op_date <= date_to)
    for table in (mm, ma, mt):
        dterms = []
        if date_from is not None:
            dterms.append(table.c.op_date >= date_from)
        if date_to is not None:
            dterms.append(table.c.op_date <= date_to)
        conn.execute(delete(table).where(and_(true(), *dterms)))
    net = a.amount_kop - a.commission_kop - a.fee_kop
    conn.execute(
        insert(mm).from_select(
            [
                "op_date",
                "provider_id",
                "service_id",
                "allocations",
                "amount_kop",
                "commission_kop",
                "fee_kop",
                "transferred_kop",
                "to_transfer_kop",
            ],
            select(
                p.op_date,
                a.provider_id,
                a.service_id,
                func.count(),
                func.sum(a.amount_kop),
                func.sum(a.commission_kop),
                func.sum(a.fee_kop),
                func.sum(case((a.transfer_id.is_not(None), net), else_=0)),
                func.sum(case((a.transfer_id.is_(None), net), else_=0)),
            )
            .select_from(a)
            .join(p, p.id == a.payment_id)
            .where(true(), *terms)
            .group_by(p.op_date, a.provider_id, a.service_id),
        )
    )
    agent_cols = [
        "op_date",
        "agent_id",
        "provider_id",
        "payments",
        "amount_kop",
        "commission_kop",
        "unidentified",
        "unidentified_kop",
    ]
    conn.execute(
        insert(ma).from_select(
            agent_cols,
            select(
                p.op_date,
                p.agent_id,
                literal(0),
                func.count(),
                func.sum(p.amount_kop),
                func.sum(p.commission_kop),
                func.sum(case((p.unidentified.is_(True), 1), else_=0)),
                func.sum(case((p.unidentified.is_(True), p.amount_kop), else_=0)),
            )
            .where(true(), *terms)
            .group_by(p.op_date, p.agent_id),
        )
    )
    conn.execute(
        insert(ma).from_select(
            agent_cols,
            select(
                p.op_date,
                p.agent_id,
                a.provider_id,
                func.count(func.distinct(a.payment_id)),
                func.sum(a.amount_kop),
                func.sum(a.commission_kop),
                literal(0),
                literal(0),
            )
            .select_from(a)
            .join(p, p.id == a.payment_id)
            .where(true(), *terms)
            .group_by(p.op_date, p.agent_id, a.provider_id),
        )
    )
    # a few thousand rows (days × providers × transfer days): the day difference is taken in Python
    hist = conn.execute(
        select(p.op_date, a.provider_id, t.transfer_date, func.count(), func.sum(a.amount_kop))
        .select_from(a)
        .join(p, p.id == a.payment_id)
        .outerjoin(t, t.id == a.transfer_id)
        .where(true(), *terms)
        .group_by(p.op_date, a.provider_id, t.transfer_date)
    ).all()
    merged: dict[tuple[dt.date, int, int], list[int]] = {}
    for op_date, prov, tdate, n, amount in hist:
        op_date = _as_date(op_date)
        lag = -1 if tdate is None else (_as_date(tdate) - op_date).days
        entry = merged.setdefault((op_date, int(prov), lag), [0, 0])
        entry[0] += int(n)
        entry[1] += int(amount)
    bulk_insert(
        conn,
        mt,
        ("op_date", "provider_id", "lag_days", "allocations", "amount_kop"),
        [(k[0], k[1], k[2], v[0], v[1]) for k, v in sorted(merged.items())],
    )


def _as_date(value: Any) -> dt.date:
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value))


# ------------------------------------------------------------------------------------------------
# Entry points (called inside the caller's transaction)
# ------------------------------------------------------------------------------------------------


def latest_period(conn: Connection) -> int | None:
    """The period the debt is kept for: the latest with balances, else charges, else the open one."""
    for col in (m.AccountBalance.period, m.ChargeLine.period, m.BillingPeriod.period):
        value = conn.execute(select(func.max(col))).scalar_one()
        if value is not None:
            return int(value)
    return None


def refresh_mart(conn: Connection, period: int | None = None) -> dict[str, float]:
    """Rebuild the whole mart: charges and paid of every period, money of every day, and the debt as of
    ``period`` (default: the latest billed period). Returns seconds per part."""
    out: dict[str, float] = {}
    t0 = time.perf_counter()
    _build_charges(conn)
    _mark(conn, "charges", t0)
    out["charges"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    refresh_money(conn)
    _mark(conn, "money", t0)
    out["money"] = time.perf_counter() - t0
    as_of = period if period is not None else latest_period(conn)
    if as_of is not None:
        t0 = time.perf_counter()
        refresh_debt(conn, as_of)
        _mark(conn, f"debt:{as_of}", t0)
        out[f"debt:{as_of}"] = time.perf_counter() - t0
    return out


def _build_charges(conn: Connection) -> None:
    refresh_charges(conn)
    refresh_paid(conn)
    refresh_totals(conn)
    refresh_opening(conn)


def _never_built(conn: Connection, part: str) -> bool:
    return conn.execute(select(m.MartState.part).where(m.MartState.part == part)).first() is None


def refresh_billing(conn: Connection, period: int, districts: Sequence[int] | None = None) -> None:
    """After a billing run of ``period`` (of ``districts``): its charges and the debt as of it.

    A part stays marked fresh only when it was fresh before the run (a partial refresh does not make a
    stale mart right); the debt of the whole store is rebuilt, so it is always fresh afterwards. A run
    of the whole store builds the charges part the first time (a store upgraded to the mart)."""
    t0 = time.perf_counter()
    if districts is None and _never_built(conn, "charges"):
        _build_charges(conn)
        _mark(conn, "charges", t0)
    else:
        charges_ok = _was_fresh_except(conn, "charges", m.ChargeLine)
        refresh_charges(conn, period, districts)
        refresh_totals(conn, districts)
        if charges_ok:
            _mark(conn, "charges", t0)
    t0 = time.perf_counter()
    debt_ok = districts is None or _was_fresh_except(conn, f"debt:{period}", m.ChargeLine)
    refresh_debt(conn, period, districts)
    if debt_ok:
        _mark(conn, f"debt:{period}", t0)


def refresh_after_settle(conn: Connection, period: int | None, payment_ids: Sequence[int]) -> None:
    """After a settlement: add the new allocations (of ``payment_ids``) to ``mart_paid``; rebuild the
    payment days touched — the payments split, the days the new transfers cover, the payments loaded
    since the last refresh; keep the debt as of the current ``period`` marked fresh (its accounts were
    re-counted by :func:`debt_delta` around the rewrite of their balances). A part never built is built
    whole (the first settlement after the upgrade to the mart pays for it once).
    """
    t0 = time.perf_counter()
    if _never_built(conn, "charges"):
        _build_charges(conn)
        _mark(conn, "charges", t0)
    else:
        charges_ok = _was_fresh_except(conn, "charges", m.PaymentAllocation)
        if payment_ids:
            refresh_paid(conn, payment_ids)
            refresh_totals(conn)
        if charges_ok:
            _mark(conn, "charges", t0)

    t0 = time.perf_counter()
    stored = conn.execute(select(m.MartState.version).where(m.MartState.part == "money")).scalar_one_or_none()
    if stored is None:
        refresh_money(conn)
        _mark(conn, "money", t0)
    else:
        last_payment, _alloc, last_transfer = (int(v or 0) for v in stored.split(":"))
        p, t = m.Payment, m.ProviderTransfer
        spans = [
            conn.execute(select(func.min(p.op_date), func.max(p.op_date)).where(p.id > last_payment)).one(),
            conn.execute(
                select(func.min(t.date_from), func.max(t.date_to)).where(t.id > last_transfer)
            ).one(),
        ]
        for chunk in _chunks(payment_ids):
            spans.append(
                conn.execute(select(func.min(p.op_date), func.max(p.op_date)).where(p.id.in_(chunk))).one()
            )
        found = [(_as_date(lo), _as_date(hi)) for lo, hi in spans if lo is not None]
        if found:
            refresh_money(conn, min(lo for lo, _ in found), max(hi for _, hi in found))
        _mark(conn, "money", t0)

    # The debt: the current period's balances were rewritten inside ``debt_delta``; allocations do not
    # enter the debt otherwise, so every debt part fresh before stays fresh. The latest billed period
    # (what the analytics page shows first) is built when it never was.
    t0 = time.perf_counter()
    latest = latest_period(conn) if period is not None else None
    if latest is not None and _never_built(conn, f"debt:{latest}"):
        refresh_debt(conn, latest)
        _mark(conn, f"debt:{latest}", t0)
    parts = conn.execute(select(m.MartState.part).where(m.MartState.part.like("debt:%"))).scalars().all()
    for part in parts:
        if _was_fresh_except(conn, part, m.PaymentAllocation):
            _mark(conn, part, t0)


def _was_fresh_except(conn: Connection, part: str, *changed: Any) -> bool:
    """Was ``part`` fresh before this run, i.e. do its sources differ only in the tables the run wrote?"""
    stored = conn.execute(select(m.MartState.version).where(m.MartState.part == part)).scalar_one_or_none()
    if stored is None:
        return False
    now = fingerprint(conn, part).split(":")
    old = stored.split(":")
    tables = SOURCES[_kind(part)]
    return len(old) == len(now) and all(
        o == n or t in changed for o, n, t in zip(old, now, tables, strict=True)
    )
