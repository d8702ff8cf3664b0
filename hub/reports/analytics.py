"""Analytics: charged vs paid and the collection rate (by period, management company, district, building,
service, provider; paid by bank), debt and its aging, top debtors, penalties, recalculations and quality
reductions by reason.

Definitions (documented in docs/dashboards.md):

- *charged* of a period = Σ ``charge_lines.amount_kop`` of the period, every kind but ``penalty``
  (regular, recalculation, reduction, benefit); *penalties* are shown apart;
- *paid* of a period = Σ ``payment_allocations.amount_kop`` (principal and advance) whose ``period`` (the
  month the money paid) is that period; *collection rate* = paid / charged;
- *debt* of an account × service as of a period P = its saldo (``closing_kop`` of P, as hub.billing
  writes it): the debits are the opening debts by month of origin (``opening_debts``, principal and
  penalty, months ≤ P) and each billed month's charges (``account_balances``: charged + recalc + benefit
  + penalty + correction), the credits its payments (``paid_kop``) and negative debits. Domain §6
  aging: credits pay the oldest months first (FIFO), so the remaining debt sits in the newest months; a
  month's remaining debt is aged by days past its due date (the 10th of the next month, the 15th for
  due dates from 01.03.2026) at the last day of P.

Everything is aggregated in SQL (window functions for the FIFO); Python only buckets a few dozen rows.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pandas as pd
from sqlalchemy import Engine, case, func, literal, select, union_all

from hub.reports.common import (
    Filters,
    address_expr,
    apply,
    district_clause,
    frame,
    period_clause,
    provider_clause,
    service_clause,
)
from hub.reports.fmt import period_add, period_last_day
from hub.store import models as m

BUCKETS = (
    "не наступил срок",
    "1–30 дней",
    "31–90 дней",
    "91–180 дней",
    "181–365 дней",
    "366–1095 дней",
    "более 1095 дней",
)
BUCKET_LIMITS = (0, 30, 90, 180, 365, 1095)
DIMENSIONS = {
    "period": "Период",
    "mc": "Управляющая организация",
    "district": "Район",
    "building": "Дом",
    "service": "Услуга",
    "provider": "Поставщик",
}
KIND_NAMES = {
    "regular": "начисление",
    "recalculation": "перерасчёт",
    "reduction": "снижение за качество",
    "penalty": "пени",
    "benefit": "льгота",
}
DUE_DAY_CHANGE = dt.date(2026, 3, 1)


def due_date(period: int, day_before: int = 10, day_from: int = 15) -> dt.date:
    """The date a period's charges fall due: the 10th of the next month (15th from 01.03.2026)."""
    nxt = period_add(period, 1)
    first = dt.date(nxt // 100, nxt % 100, 1)
    return first.replace(day=day_from if first >= DUE_DAY_CHANGE else day_before)


def bucket_of(days_past_due: int) -> int:
    """Aging bucket (index into :data:`BUCKETS`) of a debt ``days_past_due`` days past due."""
    for code, limit in enumerate(BUCKET_LIMITS):
        if days_past_due <= limit:
            return code
    return len(BUCKET_LIMITS)


# ------------------------------------------------------------------------------------------------
# Charged vs paid
# ------------------------------------------------------------------------------------------------


def _dimension(
    by: str, account_col: Any, service_col: Any, provider_col: Any, period_col: Any
) -> tuple[list[Any], list[Any], list[tuple[Any, Any]]]:
    """(key columns, group-by columns, joins) of a breakdown."""
    b, pr, s = m.Building, m.Provider, m.Service
    via_building = [
        (m.Account, m.Account.id == account_col),
        (m.Premises, m.Premises.id == m.Account.premises_id),
        (b, b.id == m.Premises.building_id),
    ]
    if by == "period":
        return [period_col.label("key")], [period_col], []
    if by == "service":
        return [s.name.label("key")], [s.id, s.name, s.sort_order], [(s, s.id == service_col)]
    if by == "provider":
        return [pr.name.label("key")], [pr.id, pr.name], [(pr, pr.id == provider_col)]
    if by == "district":
        return (
            [m.District.name.label("key")],
            [m.District.id, m.District.name],
            [*via_building, (m.District, m.District.id == b.district_id)],
        )
    if by == "mc":
        mc = m.ManagementCompany
        return (
            [func.coalesce(mc.name, "—").label("key")],
            [mc.id, mc.name],
            [*via_building, (mc, mc.id == b.mc_id)],
        )
    if by == "building":
        return ([address_expr().label("key")], [b.id, b.street_type, b.street, b.house], via_building)
    raise ValueError(f"unknown breakdown {by!r}")


def _grouped(by: str, table: Any, value_cols: list[Any], terms: list[Any]) -> Any:
    keys, group, joins = _dimension(by, table.account_id, table.service_id, table.provider_id, table.period)
    stmt = select(*keys, *value_cols).select_from(table)
    for target, on in joins:
        stmt = stmt.outerjoin(target, on) if target is m.ManagementCompany else stmt.join(target, on)
    return apply(stmt, terms).group_by(*group)


def charged_paid(engine: Engine, by: str, filters: Filters, provider_id: int | None = None) -> pd.DataFrame:
    """Charged, penalties, paid and the collection rate, broken down by ``by`` (see :data:`DIMENSIONS`)."""
    cl, a = m.ChargeLine, m.PaymentAllocation
    c_terms = [
        *period_clause(cl.period, filters),
        *provider_clause(cl.provider_id, filters, provider_id),
        *service_clause(cl.service_id, filters),
        *district_clause(cl.account_id, filters),
    ]
    a_terms = [
        *period_clause(a.period, filters),
        *provider_clause(a.provider_id, filters, provider_id),
        *service_clause(a.service_id, filters),
        *district_clause(a.account_id, filters),
        a.kind.in_(("principal", "advance")),
    ]
    charged = _grouped(
        by,
        cl,
        [
            func.sum(case((cl.kind != "penalty", cl.amount_kop), else_=0)).label("charged_kop"),
            func.sum(case((cl.kind == "penalty", cl.amount_kop), else_=0)).label("penalty_kop"),
        ],
        c_terms,
    )
    paid = _grouped(by, a, [func.sum(a.amount_kop).label("paid_kop")], a_terms)
    with engine.connect() as conn:
        c = frame(conn, charged)
        p = frame(conn, paid)
    cols = ["key", "charged_kop", "penalty_kop", "paid_kop", "rate"]
    if c.empty and p.empty:
        return pd.DataFrame(columns=cols)
    df = c.merge(p, on="key", how="outer")
    for col in ("charged_kop", "penalty_kop", "paid_kop"):
        df[col] = df[col].fillna(0).astype("int64")
    df["rate"] = [
        pd_ if ch > 0 else float("nan")
        for pd_, ch in zip(
            (df["paid_kop"] / df["charged_kop"].where(df["charged_kop"] > 0)).tolist(),
            df["charged_kop"].tolist(),
            strict=True,
        )
    ]
    if by == "period":
        df = df.sort_values("key").reset_index(drop=True)
        df["key"] = df["key"].astype("int64")
    else:
        df = df.sort_values("charged_kop", ascending=False).reset_index(drop=True)
    return df[cols]


def paid_by_agent(engine: Engine, filters: Filters, provider_id: int | None = None) -> pd.DataFrame:
    """Paid (allocations of the chosen periods) by the bank / post / terminal that collected it."""
    a, p, g = m.PaymentAllocation, m.Payment, m.PaymentAgent
    terms = [
        *period_clause(a.period, filters),
        *provider_clause(a.provider_id, filters, provider_id),
        *service_clause(a.service_id, filters),
        *district_clause(a.account_id, filters),
        a.kind.in_(("principal", "advance")),
    ]
    stmt = apply(
        select(
            g.code,
            g.name.label("key"),
            g.kind,
            func.count(func.distinct(p.id)).label("payments"),
            func.sum(a.amount_kop).label("paid_kop"),
        )
        .join(p, p.id == a.payment_id)
        .join(g, g.id == p.agent_id),
        terms,
    )
    stmt = stmt.group_by(g.code, g.name, g.kind).order_by(func.sum(a.amount_kop).desc())
    with engine.connect() as conn:
        df = frame(conn, stmt)
    if not df.empty:
        total = int(df["paid_kop"].sum())
        df["share"] = df["paid_kop"] / total if total else float("nan")
    return df


# ------------------------------------------------------------------------------------------------
# Debt and aging
# ------------------------------------------------------------------------------------------------


def latest_period(engine: Engine) -> int | None:
    """The latest billed period (balances, else charges, else the open billing period)."""
    with engine.connect() as conn:
        for col in (m.AccountBalance.period, m.ChargeLine.period, m.BillingPeriod.period):
            value = conn.execute(select(func.max(col))).scalar_one()
            if value is not None:
                return int(value)
    return None


def _items(filters: Filters, provider_id: int | None, as_of: int) -> Any:
    """Debits and credits per account × service × month up to ``as_of`` (a UNION ALL subquery)."""
    od, ab = m.OpeningDebt, m.AccountBalance
    zero = literal(0)
    owed = od.principal_kop + od.penalty_kop
    od_stmt = select(
        od.account_id,
        od.service_id,
        od.provider_id,
        od.period,
        case((owed > 0, owed), else_=zero).label("debit"),
        case((owed < 0, -owed), else_=zero).label("credit"),
    )
    od_stmt = apply(
        od_stmt,
        [
            od.period <= as_of,
            *provider_clause(od.provider_id, filters, provider_id),
            *service_clause(od.service_id, filters),
            *district_clause(od.account_id, filters),
        ],
    )
    net = ab.charged_kop + ab.recalc_kop + ab.benefit_kop + ab.penalty_kop + ab.correction_kop
    ab_stmt = select(
        ab.account_id,
        ab.service_id,
        ab.provider_id,
        ab.period,
        case((net > 0, net), else_=zero).label("debit"),
        (ab.paid_kop + case((net < 0, -net), else_=zero)).label("credit"),
    )
    ab_stmt = apply(
        ab_stmt,
        [
            ab.period <= as_of,
            *provider_clause(ab.provider_id, filters, provider_id),
            *service_clause(ab.service_id, filters),
            *district_clause(ab.account_id, filters),
        ],
    )
    return union_all(od_stmt, ab_stmt).subquery("items")


def _remaining(filters: Filters, provider_id: int | None, as_of: int) -> Any:
    """Per debit row: the part of it still unpaid (FIFO) — a subquery with ``remaining``."""
    it = _items(filters, provider_id, as_of)
    part = [it.c.account_id, it.c.service_id]
    windowed = select(
        it.c.account_id,
        it.c.service_id,
        it.c.provider_id,
        it.c.period,
        it.c.debit,
        func.sum(it.c.debit - it.c.credit).over(partition_by=part).label("d"),
        func.sum(it.c.debit)
        .over(partition_by=part, order_by=[it.c.period.desc(), it.c.debit.desc()], rows=(None, 0))
        .label("newer_incl"),
    ).subquery("w")
    older_cover = windowed.c.d - (windowed.c.newer_incl - windowed.c.debit)
    remaining = case(
        (older_cover <= 0, 0), (older_cover >= windowed.c.debit, windowed.c.debit), else_=older_cover
    )
    return (
        select(
            windowed.c.account_id,
            windowed.c.service_id,
            windowed.c.provider_id,
            windowed.c.period,
            remaining.label("remaining"),
        )
        .where(windowed.c.debit > 0)
        .subquery("r")
    )


def debt_by_origin(
    engine: Engine, filters: Filters, as_of: int, provider_id: int | None = None, by: str | None = None
) -> pd.DataFrame:
    """Remaining debt per month of origin (and per provider / district when ``by`` says so)."""
    r = _remaining(filters, provider_id, as_of)
    key: list[Any] = []
    stmt = select(r.c.period, func.sum(r.c.remaining).label("remaining_kop")).select_from(r)
    if by == "provider":
        stmt = (
            select(m.Provider.name.label("key"), r.c.period, func.sum(r.c.remaining).label("remaining_kop"))
            .select_from(r)
            .join(m.Provider, m.Provider.id == r.c.provider_id)
        )
        key = [m.Provider.id, m.Provider.name]
    elif by == "district":
        stmt = (
            select(m.District.name.label("key"), r.c.period, func.sum(r.c.remaining).label("remaining_kop"))
            .select_from(r)
            .join(m.Account, m.Account.id == r.c.account_id)
            .join(m.Premises, m.Premises.id == m.Account.premises_id)
            .join(m.Building, m.Building.id == m.Premises.building_id)
            .join(m.District, m.District.id == m.Building.district_id)
        )
        key = [m.District.id, m.District.name]
    stmt = stmt.group_by(*key, r.c.period).having(func.sum(r.c.remaining) != 0)
    with engine.connect() as conn:
        df = frame(conn, stmt)
    if not df.empty:
        df["remaining_kop"] = df["remaining_kop"].astype("int64")
        df["period"] = df["period"].astype("int64")
    return df


def aging(
    engine: Engine,
    filters: Filters,
    as_of: int,
    provider_id: int | None = None,
    by: str | None = None,
    due_days: tuple[int, int] = (10, 15),
) -> pd.DataFrame:
    """Debt by aging bucket as of the last day of ``as_of`` (rows: [key,] bucket, name, remaining)."""
    origin = debt_by_origin(engine, filters, as_of, provider_id, by)
    cols = (["key"] if by else []) + ["bucket", "bucket_name", "remaining_kop"]
    if origin.empty:
        return pd.DataFrame(columns=cols)
    as_of_date = period_last_day(as_of)
    origin["bucket"] = [bucket_of((as_of_date - due_date(int(p), *due_days)).days) for p in origin["period"]]
    group = (["key"] if by else []) + ["bucket"]
    df = origin.groupby(group, as_index=False)["remaining_kop"].sum()
    df["bucket_name"] = [BUCKETS[b] for b in df["bucket"]]
    return df[cols].sort_values(group).reset_index(drop=True)


def debt_totals(
    engine: Engine, filters: Filters, as_of: int, provider_id: int | None = None
) -> dict[str, int]:
    """Debt (Σ positive per account × service), advances (Σ negative), debtor accounts."""
    it = _items(filters, provider_id, as_of)
    per = (
        select(it.c.account_id, (func.sum(it.c.debit) - func.sum(it.c.credit)).label("d"))
        .group_by(it.c.account_id, it.c.service_id)
        .subquery()
    )
    stmt = select(
        func.coalesce(func.sum(case((per.c.d > 0, per.c.d), else_=0)), 0),
        func.coalesce(func.sum(case((per.c.d < 0, -per.c.d), else_=0)), 0),
        func.count(func.distinct(case((per.c.d > 0, per.c.account_id)))),
    )
    with engine.connect() as conn:
        debt, advance, debtors = conn.execute(stmt).one()
    return {"debt_kop": int(debt), "advance_kop": int(advance), "debtors": int(debtors)}


def top_debtors(
    engine: Engine, filters: Filters, as_of: int, provider_id: int | None = None, limit: int = 50
) -> pd.DataFrame:
    """The accounts owing most as of ``as_of``, with address, owner and debt in months of charges."""
    it = _items(filters, provider_id, as_of)
    per = (
        select(it.c.account_id, (func.sum(it.c.debit) - func.sum(it.c.credit)).label("d"))
        .group_by(it.c.account_id, it.c.service_id)
        .subquery()
    )
    debt = func.sum(case((per.c.d > 0, per.c.d), else_=0))
    top = (
        select(per.c.account_id, debt.label("debt_kop"))
        .group_by(per.c.account_id)
        .having(debt > 0)
        .order_by(debt.desc(), per.c.account_id)
        .limit(limit)
    )
    with engine.connect() as conn:
        ranked = frame(conn, top)  # the expensive part runs once; the rest is for these few accounts
        if ranked.empty:
            return ranked
        ids = [int(x) for x in ranked["account_id"]]
        a, pm, b = m.Account, m.Premises, m.Building
        details = frame(
            conn,
            select(
                a.id.label("account_id"),
                a.number,
                a.owner_name,
                (address_expr() + literal(", кв ") + pm.flat).label("address"),
                m.District.name.label("district"),
            )
            .join(pm, pm.id == a.premises_id)
            .join(b, b.id == pm.building_id)
            .join(m.District, m.District.id == b.district_id)
            .where(a.id.in_(ids)),
        )
        cl = m.ChargeLine
        monthly = apply(
            select(cl.account_id, func.sum(cl.amount_kop).label("monthly_kop")).where(
                cl.period == as_of, cl.kind != "penalty", cl.account_id.in_(ids)
            ),
            [*provider_clause(cl.provider_id, filters, provider_id), *service_clause(cl.service_id, filters)],
        ).group_by(cl.account_id)
        mon = frame(conn, monthly)
    df = ranked.merge(details, on="account_id", how="left")
    df["debt_kop"] = df["debt_kop"].astype("int64")
    df = df.merge(mon, on="account_id", how="left") if not mon.empty else df.assign(monthly_kop=float("nan"))
    df["months"] = df["debt_kop"] / df["monthly_kop"].where(df["monthly_kop"] > 0)
    cols = ["account_id", "number", "owner_name", "address", "district", "debt_kop", "monthly_kop", "months"]
    return df[cols]


# ------------------------------------------------------------------------------------------------
# Penalties, recalculations and reductions
# ------------------------------------------------------------------------------------------------


def penalties(engine: Engine, filters: Filters, provider_id: int | None = None) -> pd.DataFrame:
    """Penalties charged (``kind = 'penalty'`` lines) per period and provider."""
    cl, pr = m.ChargeLine, m.Provider
    terms = [
        cl.kind == "penalty",
        *period_clause(cl.period, filters),
        *provider_clause(cl.provider_id, filters, provider_id),
        *service_clause(cl.service_id, filters),
        *district_clause(cl.account_id, filters),
    ]
    stmt = apply(
        select(
            cl.period,
            pr.name.label("provider"),
            func.count(func.distinct(cl.account_id)).label("accounts"),
            func.sum(cl.amount_kop).label("penalty_kop"),
        ).join(pr, pr.id == cl.provider_id),
        terms,
    )
    stmt = stmt.group_by(cl.period, pr.id, pr.name).order_by(cl.period, pr.id)
    with engine.connect() as conn:
        return frame(conn, stmt)


def opening_penalties(engine: Engine, filters: Filters, provider_id: int | None = None) -> int:
    """Penalties carried in with the opening debts."""
    od = m.OpeningDebt
    terms = [
        *provider_clause(od.provider_id, filters, provider_id),
        *service_clause(od.service_id, filters),
        *district_clause(od.account_id, filters),
    ]
    with engine.connect() as conn:
        return int(
            conn.execute(apply(select(func.coalesce(func.sum(od.penalty_kop), 0)), terms)).scalar_one()
        )


def recalculations(engine: Engine, filters: Filters, provider_id: int | None = None) -> pd.DataFrame:
    """Recalculations and quality reductions by kind, reason and service."""
    cl, s = m.ChargeLine, m.Service
    terms = [
        cl.kind.in_(("recalculation", "reduction")),
        *period_clause(cl.period, filters),
        *provider_clause(cl.provider_id, filters, provider_id),
        *service_clause(cl.service_id, filters),
        *district_clause(cl.account_id, filters),
    ]
    stmt = apply(
        select(
            cl.kind,
            cl.reason_code,
            s.name.label("service"),
            func.min(cl.reason).label("example"),
            func.count().label("lines"),
            func.count(func.distinct(cl.account_id)).label("accounts"),
            func.sum(cl.amount_kop).label("amount_kop"),
        ).join(s, s.id == cl.service_id),
        terms,
    )
    stmt = stmt.group_by(cl.kind, cl.reason_code, s.id, s.name).order_by(cl.kind, func.sum(cl.amount_kop))
    with engine.connect() as conn:
        df = frame(conn, stmt)
    if not df.empty:
        df["kind_name"] = [KIND_NAMES.get(k, k) for k in df["kind"]]
    return df
