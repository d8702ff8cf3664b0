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

from hub.reports import mart
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


def _fresh(engine: Engine, part: str) -> bool:
    with engine.connect() as conn:
        return mart.is_fresh(conn, part)


def _mart_dimension(by: str, t: Any) -> tuple[list[Any], list[Any], list[tuple[Any, Any]]]:
    """(key columns, group-by columns, joins) of a breakdown of a mart table (building grain)."""
    b, pr, s, mc = m.Building, m.Provider, m.Service, m.ManagementCompany
    if by == "period":
        return [t.c.period.label("key")], [t.c.period], []
    if by == "service":
        return [s.name.label("key")], [s.id, s.name, s.sort_order], [(s, s.id == t.c.service_id)]
    if by == "provider":
        return [pr.name.label("key")], [pr.id, pr.name], [(pr, pr.id == t.c.provider_id)]
    if by == "district":
        return (
            [m.District.name.label("key")],
            [m.District.id, m.District.name],
            [(m.District, m.District.id == t.c.district_id)],
        )
    if by == "mc":
        return [func.coalesce(mc.name, "—").label("key")], [mc.id, mc.name], [(mc, mc.id == t.c.mc_id)]
    if by == "building":
        return (
            [address_expr().label("key")],
            [b.id, b.street_type, b.street, b.house],
            [(b, b.id == t.c.building_id)],
        )
    raise ValueError(f"unknown breakdown {by!r}")


def _mart_terms(t: Any, filters: Filters, provider_id: int | None) -> list[Any]:
    """Filter and scope terms on a mart table's period, district, provider and service columns."""
    terms = [
        *period_clause(t.c.period, filters),
        *provider_clause(t.c.provider_id, filters, provider_id),
        *service_clause(t.c.service_id, filters),
    ]
    if filters.district_ids:
        terms.append(t.c.district_id.in_(filters.district_ids))
    return terms


def _mart_grouped(by: str, t: Any, values: list[Any], terms: list[Any]) -> Any:
    keys, group, joins = _mart_dimension(by, t)
    stmt = select(*keys, *values).select_from(t)
    for target, on in joins:
        stmt = stmt.outerjoin(target, on) if target is m.ManagementCompany else stmt.join(target, on)
    return apply(stmt, terms).group_by(*group)


def charged_paid(engine: Engine, by: str, filters: Filters, provider_id: int | None = None) -> pd.DataFrame:
    """Charged, penalties, paid and the collection rate, broken down by ``by`` (see :data:`DIMENSIONS`)."""
    if _fresh(engine, "charges") and by != "building":
        tt = m.MartTotals.__table__
        charged = _mart_grouped(
            by,
            tt,
            [
                func.sum(tt.c.charged_kop).label("charged_kop"),
                func.sum(tt.c.penalty_kop).label("penalty_kop"),
            ],
            _mart_terms(tt, filters, provider_id),
        )
        paid = _mart_grouped(
            by, tt, [func.sum(tt.c.paid_kop).label("paid_kop")], _mart_terms(tt, filters, provider_id)
        )
    elif _fresh(engine, "charges"):
        mc_, mp = m.MartCharges.__table__, m.MartPaid.__table__
        charged = _mart_grouped(
            by,
            mc_,
            [
                func.sum(mc_.c.charged_kop).label("charged_kop"),
                func.sum(mc_.c.penalty_kop).label("penalty_kop"),
            ],
            _mart_terms(mc_, filters, provider_id),
        )
        paid = _mart_grouped(
            by, mp, [func.sum(mp.c.paid_kop).label("paid_kop")], _mart_terms(mp, filters, provider_id)
        )
    else:
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
    providers = (provider_id,) if provider_id is not None else filters.provider_ids
    if (
        len(filters.periods) == 1
        and len(filters.service_ids) <= 1
        and (len(providers) <= 1 or filters.service_ids)
        and _fresh(engine, "charges")
    ):
        # the payments are counted once per mart row: rows of one period add up over districts, and
        # over providers for one service (a service of an account has one provider)
        t = m.MartPaidAgent.__table__
        terms = [
            t.c.period == filters.periods[0],
            t.c.service_id == (filters.service_ids[0] if filters.service_ids else 0),
            *provider_clause(t.c.provider_id, filters, provider_id),
        ]
        if not filters.service_ids and not providers:
            terms.append(t.c.provider_id == 0)
        elif filters.service_ids and not providers:
            terms.append(t.c.provider_id != 0)
        if filters.district_ids:
            terms.append(t.c.district_id.in_(filters.district_ids))
        stmt = (
            select(
                g.code,
                g.name.label("key"),
                g.kind,
                func.sum(t.c.payments).label("payments"),
                func.sum(t.c.paid_kop).label("paid_kop"),
            )
            .join(g, g.id == t.c.agent_id)
            .where(*terms)
            .group_by(g.code, g.name, g.kind)
            .order_by(func.sum(t.c.paid_kop).desc())
        )
        with engine.connect() as conn:
            df = frame(conn, stmt)
        if not df.empty:
            total = int(df["paid_kop"].sum())
            df["share"] = df["paid_kop"] / total if total else float("nan")
        return df
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


def _items(filters: Filters, provider_id: int | None, as_of: int, accounts: list[int] | None = None) -> Any:
    """Debits and credits per account × service × month up to ``as_of`` (a UNION ALL subquery), of
    ``accounts`` when given."""
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
            *([od.account_id.in_(accounts)] if accounts is not None else []),
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
            # for a few accounts: period = each billed month (seeks on the (period, account) key)
            ab.period.in_(select(m.BillingPeriod.period).where(m.BillingPeriod.period <= as_of))
            if accounts is not None
            else ab.period <= as_of,
            *([ab.account_id.in_(accounts)] if accounts is not None else []),
            *provider_clause(ab.provider_id, filters, provider_id),
            *service_clause(ab.service_id, filters),
            *district_clause(ab.account_id, filters),
        ],
    )
    return union_all(od_stmt, ab_stmt).subquery("items")


def _remaining(
    filters: Filters, provider_id: int | None, as_of: int, accounts: list[int] | None = None
) -> Any:
    """Per debit row: the part of it still unpaid (FIFO) — a subquery with ``remaining``."""
    it = _items(filters, provider_id, as_of, accounts)
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
    if _fresh(engine, f"debt:{as_of}"):
        return _mart_debt_by_origin(engine, filters, as_of, provider_id, by)
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


def _mart_debt_by_origin(
    engine: Engine, filters: Filters, as_of: int, provider_id: int | None, by: str | None
) -> pd.DataFrame:
    t = m.MartAging.__table__
    terms = [t.c.period == as_of, *_mart_terms(t, Filters((), *_rest(filters)), provider_id)]
    total = func.sum(t.c.remaining_kop)
    if by == "provider":
        stmt = select(
            m.Provider.name.label("key"), t.c.origin.label("period"), total.label("remaining_kop")
        ).join(m.Provider, m.Provider.id == t.c.provider_id)
        key: list[Any] = [m.Provider.id, m.Provider.name]
    elif by == "district":
        stmt = select(
            m.District.name.label("key"), t.c.origin.label("period"), total.label("remaining_kop")
        ).join(m.District, m.District.id == t.c.district_id)
        key = [m.District.id, m.District.name]
    else:
        stmt = select(t.c.origin.label("period"), total.label("remaining_kop")).select_from(t)
        key = []
    stmt = stmt.where(*terms).group_by(*key, t.c.origin).having(total != 0)
    with engine.connect() as conn:
        df = frame(conn, stmt)
    if not df.empty:
        df["remaining_kop"] = df["remaining_kop"].astype("int64")
        df["period"] = df["period"].astype("int64")
    return df


def _rest(filters: Filters) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]:
    """The filters but the periods (the debt is as of one period)."""
    return filters.district_ids, filters.provider_ids, filters.service_ids


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
    debtors_rows = _mart_debtors(engine, filters, as_of, provider_id)
    if debtors_rows is not None:
        t = m.MartDebt.__table__
        totals = select(
            func.coalesce(func.sum(t.c.debt_kop), 0), func.coalesce(func.sum(t.c.advance_kop), 0)
        ).where(t.c.period == as_of, *_mart_terms(t, Filters((), *_rest(filters)), provider_id))
        rows, single = debtors_rows
        count = func.count() if single else func.count(func.distinct(rows.c.account_id))
        with engine.connect() as conn:
            debt, advance = conn.execute(totals).one()
            debtors = conn.execute(select(count).select_from(rows)).scalar_one()
        return {"debt_kop": int(debt), "advance_kop": int(advance), "debtors": int(debtors)}
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


def _mart_debtors(
    engine: Engine, filters: Filters, as_of: int, provider_id: int | None
) -> tuple[Any, bool] | None:
    """The ``mart_debtors`` rows matching the filters as a subquery, and whether it holds one row per
    account (all providers, or one provider); None when the mart cannot answer (not fresh, or a
    service beyond the bit mask)."""
    if not _fresh(engine, f"debt:{as_of}"):
        return None
    t = m.MartDebtor.__table__
    terms: list[Any] = [t.c.period == as_of]
    chosen = provider_clause(t.c.provider_id, filters, provider_id)
    single = provider_id is not None or len(filters.provider_ids) <= 1
    terms += chosen if chosen else [t.c.provider_id == 0]
    if filters.district_ids:
        terms.append(t.c.district_id.in_(filters.district_ids))
    if filters.service_ids:
        if max(filters.service_ids) >= mart.MASK_BITS:
            return None
        mask = sum(1 << int(s) for s in set(filters.service_ids))
        terms.append(t.c.service_mask.op("&")(literal(mask)) != 0)
    return select(t.c.account_id, t.c.debt_kop).where(*terms).subquery("debtors"), single


def _ranked_from_mart(
    engine: Engine, filters: Filters, as_of: int, provider_id: int | None, limit: int
) -> pd.DataFrame | None:
    """The top ``limit`` (account_id, debt_kop) from the mart; exact under a service filter too: the
    accounts come by their whole debt (an upper bound of the filtered one) and are re-counted from the
    balances until no later account can beat the last one kept."""
    found = _mart_debtors(engine, filters, as_of, provider_id)
    if found is None:
        return None
    rows, single = found
    if single:
        bound = select(rows.c.account_id, rows.c.debt_kop.label("bound"))
    else:
        bound = select(rows.c.account_id, func.sum(rows.c.debt_kop).label("bound")).group_by(
            rows.c.account_id
        )
    bound_q = bound.subquery("b")
    ordered = select(bound_q.c.account_id, bound_q.c.bound).order_by(
        bound_q.c.bound.desc(), bound_q.c.account_id
    )
    with engine.connect() as conn:
        if not filters.service_ids:
            return frame(conn, ordered.limit(limit)).rename(columns={"bound": "debt_kop"})
        kept: list[tuple[int, int]] = []
        batch, offset = max(limit * 4, 200), 0
        while True:
            cand = conn.execute(ordered.limit(batch).offset(offset)).all()
            if not cand:
                break
            offset += len(cand)
            exact = _exact_debts(conn, filters, as_of, provider_id, [int(r[0]) for r in cand])
            kept += [(acc, d) for acc, d in exact.items() if d > 0]
            kept.sort(key=lambda x: (-x[1], x[0]))
            kept = kept[:limit]
            if len(kept) == limit and kept[-1][1] > int(cand[-1][1]):
                break
    return pd.DataFrame(kept, columns=["account_id", "debt_kop"])


def _exact_debts(
    conn: Any, filters: Filters, as_of: int, provider_id: int | None, accounts: list[int]
) -> dict[int, int]:
    """Σ positive saldo per account over the filtered services, for a few accounts."""
    it = _items(filters, provider_id, as_of, accounts)
    per = (
        select(it.c.account_id, (func.sum(it.c.debit) - func.sum(it.c.credit)).label("d"))
        .group_by(it.c.account_id, it.c.service_id)
        .subquery()
    )
    stmt = select(per.c.account_id, func.sum(case((per.c.d > 0, per.c.d), else_=0))).group_by(
        per.c.account_id
    )
    return {int(a): int(d) for a, d in conn.execute(stmt).all()}


def top_debtors(
    engine: Engine, filters: Filters, as_of: int, provider_id: int | None = None, limit: int = 50
) -> pd.DataFrame:
    """The accounts owing most as of ``as_of``, with address, owner and debt in months of charges."""
    ranked = _ranked_from_mart(engine, filters, as_of, provider_id, limit)
    if ranked is None:
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
    with engine.connect() as conn:
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
    if len(filters.service_ids) <= 1 and _fresh(engine, "charges"):
        t, pr = m.MartLines.__table__, m.Provider
        service = filters.service_ids[0] if filters.service_ids else 0
        terms = [
            t.c.kind == "penalty",
            t.c.service_id == service,
            *_mart_terms(
                t, Filters(filters.periods, filters.district_ids, filters.provider_ids), provider_id
            ),
        ]
        stmt = (
            select(
                t.c.period,
                pr.name.label("provider"),
                func.sum(t.c.accounts).label("accounts"),
                func.sum(t.c.amount_kop).label("penalty_kop"),
            )
            .join(pr, pr.id == t.c.provider_id)
            .where(*terms)
            .group_by(t.c.period, pr.id, pr.name)
            .order_by(t.c.period, pr.id)
        )
        with engine.connect() as conn:
            return frame(conn, stmt)
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
    if _fresh(engine, "charges"):
        t = m.MartOpening.__table__
        terms = [
            *provider_clause(t.c.provider_id, filters, provider_id),
            *service_clause(t.c.service_id, filters),
            *([t.c.district_id.in_(filters.district_ids)] if filters.district_ids else []),
        ]
        with engine.connect() as conn:
            return int(
                conn.execute(apply(select(func.coalesce(func.sum(t.c.penalty_kop), 0)), terms)).scalar_one()
            )
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
    if len(filters.periods) == 1 and _fresh(engine, "charges"):
        # accounts are distinct within a mart row; rows of one period add up (an account lies in one
        # district, and has one provider per service) — over several periods they would not
        t, sv = m.MartLines.__table__, m.Service
        stmt = (
            select(
                t.c.kind,
                t.c.reason_code,
                sv.name.label("service"),
                func.min(t.c.example).label("example"),
                func.sum(t.c.lines).label("lines"),
                func.sum(t.c.accounts).label("accounts"),
                func.sum(t.c.amount_kop).label("amount_kop"),
            )
            .join(sv, sv.id == t.c.service_id)
            .where(t.c.kind.in_(("recalculation", "reduction")), *_mart_terms(t, filters, provider_id))
            .group_by(t.c.kind, t.c.reason_code, sv.id, sv.name)
            .order_by(t.c.kind, func.sum(t.c.amount_kop))
        )
        with engine.connect() as conn:
            df = frame(conn, stmt)
        if not df.empty:
            df["kind_name"] = [KIND_NAMES.get(k, k) for k in df["kind"]]
        return df
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
