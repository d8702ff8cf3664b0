"""What every report shares: filters, the provider scope, the data version and reference lists.

- :class:`Filters` — periods, districts, providers and services chosen on a page (empty = all).
- ``provider_id`` (an argument of every money query) — the scope of a provider's user: the query keeps
  only that provider's rows, whatever the filters say (an intersection, never a union).
- :func:`data_version` — a cheap fingerprint of the changing tables (max ids, latest balance period);
  the dashboards key their caches on it, so a new file, payment or billing run shows at once.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import pandas as pd
from sqlalchemy import Connection, Engine, Select, false, func, literal, select, union_all

from hub.reports import mart
from hub.reports.fmt import period_add
from hub.store import models as m


@dataclass(frozen=True)
class Filters:
    """Page filters; an empty tuple means "all"."""

    periods: tuple[int, ...] = ()
    district_ids: tuple[int, ...] = ()
    provider_ids: tuple[int, ...] = ()
    service_ids: tuple[int, ...] = ()


def frame(conn: Connection, stmt: Any, columns: list[str] | None = None) -> pd.DataFrame:
    """Run ``stmt`` and return its (small, aggregated) result as a DataFrame."""
    result = conn.execute(stmt)
    keys = list(result.keys())
    rows = [tuple(r) for r in result.all()]
    df = pd.DataFrame(rows, columns=keys)
    if columns is not None:
        df = df.reindex(columns=columns)
    return df


def provider_clause(column: Any, filters: Filters | None, provider_id: int | None) -> list[Any]:
    """WHERE terms for a ``provider_id`` column: the scope of the user and the provider filter."""
    terms: list[Any] = []
    if provider_id is not None:
        terms.append(column == provider_id)
    if filters and filters.provider_ids:
        terms.append(column.in_(filters.provider_ids))
    return terms


def district_clause(account_col: Any, filters: Filters | None) -> list[Any]:
    """WHERE terms restricting an ``account_id`` column to accounts of the chosen districts."""
    if not filters or not filters.district_ids:
        return []
    accounts = (
        select(m.Account.id)
        .join(m.Premises, m.Premises.id == m.Account.premises_id)
        .join(m.Building, m.Building.id == m.Premises.building_id)
        .where(m.Building.district_id.in_(filters.district_ids))
    )
    return [account_col.in_(accounts)]


def service_clause(column: Any, filters: Filters | None) -> list[Any]:
    return [column.in_(filters.service_ids)] if filters and filters.service_ids else []


def period_clause(column: Any, filters: Filters | None) -> list[Any]:
    return [column.in_(filters.periods)] if filters and filters.periods else []


def nothing() -> Any:
    """A WHERE term that keeps no row (used when a scope may not see a table at all)."""
    return false()


def data_version(engine: Engine) -> tuple[Any, ...]:
    """A fingerprint of the tables the dashboards read: it changes when rows are added or replaced."""
    tables = (
        m.ChargeLine,
        m.Payment,
        m.PaymentAllocation,
        m.ProviderTransfer,
        m.RegistryFile,
        m.RegistryError,
        m.RunLog,
        m.CalcRun,
        m.OpeningDebt,
        m.Account,
        m.AuditLog,
        m.MeterReading,
        m.Beneficiary,
    )
    cols = [select(func.max(t.id)).scalar_subquery() for t in tables]
    cols.append(select(func.max(m.AccountBalance.period)).scalar_subquery())
    cols.append(select(func.max(m.MartState.refreshed_at)).scalar_subquery())  # a mart refresh
    cols.append(
        select(func.count())
        .select_from(m.RegistryFile)
        .where(m.RegistryFile.status == "received")
        .scalar_subquery()
    )
    with engine.connect() as conn:
        row = conn.execute(select(*cols)).one()
    return tuple(row)


# ------------------------------------------------------------------------------------------------
# Reference lists for the filters
# ------------------------------------------------------------------------------------------------


def reference(engine: Engine, provider_id: int | None = None) -> dict[str, pd.DataFrame]:
    """Districts, providers, services and payment agents (a provider sees itself and its services)."""
    with engine.connect() as conn:
        districts = frame(conn, select(m.District.id, m.District.name).order_by(m.District.name))
        prov = select(m.Provider.id, m.Provider.code, m.Provider.inn, m.Provider.name).order_by(m.Provider.id)
        if provider_id is not None:
            prov = prov.where(m.Provider.id == provider_id)
        providers = frame(conn, prov)
        svc = select(m.Service.id, m.Service.code, m.Service.name, m.Service.short_name).order_by(
            m.Service.sort_order, m.Service.id
        )
        if provider_id is not None and mart.is_fresh(conn, "charges"):
            # the provider's services from the mart (charged, paid or owed) — account_services has no
            # index by provider
            own_any = union_all(
                *(
                    select(t.c.service_id).where(t.c.provider_id == provider_id)
                    for t in (m.MartCharges.__table__, m.MartPaid.__table__, m.MartOpening.__table__)
                )
            ).subquery()
            svc = svc.where(m.Service.id.in_(select(own_any.c.service_id)))
        elif provider_id is not None:
            own = select(m.AccountService.service_id).where(m.AccountService.provider_id == provider_id)
            own_charged = select(m.ChargeLine.service_id).where(m.ChargeLine.provider_id == provider_id)
            svc = svc.where(m.Service.id.in_(own) | m.Service.id.in_(own_charged))
        services = frame(conn, svc)
        agents = frame(
            conn,
            select(m.PaymentAgent.id, m.PaymentAgent.code, m.PaymentAgent.kind, m.PaymentAgent.name).order_by(
                m.PaymentAgent.id
            ),
        )
        mcs = frame(
            conn, select(m.ManagementCompany.id, m.ManagementCompany.name).order_by(m.ManagementCompany.id)
        )
    return {
        "districts": districts,
        "providers": providers,
        "services": services,
        "agents": agents,
        "mcs": mcs,
    }


def billing_periods(engine: Engine, provider_id: int | None = None) -> list[int]:
    """Periods that have charges or balances (newest first); the open period when there are none.

    Index seeks only: one EXISTS per row of ``billing_periods`` (charge lines and balances are keyed by
    period first; a provider's charge lines by (provider, period)).
    """
    bp, cl, ab = m.BillingPeriod, m.ChargeLine, m.AccountBalance
    has_lines = select(cl.id).where(cl.period == bp.period)
    has_balances = select(ab.account_id).where(ab.period == bp.period)
    if provider_id is not None:
        has_lines = has_lines.where(cl.provider_id == provider_id)
        has_balances = has_balances.where(ab.provider_id == provider_id)
    with engine.connect() as conn:
        all_periods = [int(p) for p in conn.execute(select(bp.period)).scalars()]
        billed = [
            int(p)
            for p in conn.execute(
                select(bp.period).where(has_lines.exists() | has_balances.exists())
            ).scalars()
        ]
    return sorted(billed or all_periods, reverse=True)


def report_periods(engine: Engine, provider_id: int | None = None, history: int = 24) -> list[int]:
    """The period filter's choices (newest first): the billed periods and the ``history`` months before
    the first of them (months of origin of opening debts and of the payments that paid them)."""
    billed = billing_periods(engine, provider_id)
    if not billed:
        return []
    first = min(billed)
    earlier = {period_add(first, -k) for k in range(1, history + 1)}
    return sorted(set(billed) | earlier, reverse=True)


def payment_date_range(engine: Engine) -> tuple[dt.date, dt.date] | None:
    """First and last operation dates of the payments (None when there are none)."""
    with engine.connect() as conn:  # two statements: each is one probe of the op_date index
        lo = conn.execute(select(func.min(m.Payment.op_date))).scalar_one()
        hi = conn.execute(select(func.max(m.Payment.op_date))).scalar_one()
    return (lo, hi) if lo is not None else None


def address_expr() -> Any:
    """``ул Победы, д 12`` of a building (SQL string concatenation, both backends)."""
    b = m.Building
    return b.street_type + literal(" ") + b.street + literal(", д ") + b.house


def apply(stmt: Select[Any], terms: list[Any]) -> Select[Any]:
    return stmt.where(*terms) if terms else stmt
