"""Money flow: what the agents collected, how it was split among providers and services, what has been
transferred and what is still to transfer, commissions and fees, unidentified payments, turnover time.

Dates are payment operation dates (``payments.op_date``) within ``[date_from, date_to]``.

Scope: the center (``provider_id=None``) sees whole payments; a provider sees only the allocations of
payments to itself (``payment_allocations.provider_id``) and its own transfers. Unidentified payments
belong to no provider yet: a provider's scope gets none of them.

Turnover time of a payment's part = days from the payment date to the date of the transfer that paid it
to the provider, per allocation; the median and the 95th percentile are taken per payment day from a
histogram aggregated in SQL (one row per payment day × transfer day).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Engine, and_, case, func, select

from hub.reports import mart
from hub.reports.common import frame, nothing
from hub.store import models as m

AGENT_KIND_NAMES = {"bank": "банк", "post": "почта", "terminal": "терминал", "online": "онлайн"}


def _range(col: Any, date_from: dt.date, date_to: dt.date) -> Any:
    return and_(col >= date_from, col <= date_to)


def _fresh(engine: Engine) -> bool:
    with engine.connect() as conn:
        return mart.is_fresh(conn, "money")


def _mart_totals(
    engine: Engine, date_from: dt.date, date_to: dt.date, provider_id: int | None
) -> dict[str, int]:
    mm, ma = m.MartMoney.__table__, m.MartMoneyAgent.__table__
    alloc = select(
        func.coalesce(func.sum(mm.c.amount_kop), 0),
        func.coalesce(func.sum(mm.c.commission_kop), 0),
        func.coalesce(func.sum(mm.c.fee_kop), 0),
        func.coalesce(func.sum(mm.c.transferred_kop), 0),
        func.coalesce(func.sum(mm.c.to_transfer_kop), 0),
    ).where(_range(mm.c.op_date, date_from, date_to))
    pay = select(
        func.coalesce(func.sum(ma.c.payments), 0),
        func.coalesce(func.sum(ma.c.amount_kop), 0),
        func.coalesce(func.sum(ma.c.commission_kop), 0),
        func.coalesce(func.sum(ma.c.unidentified_kop), 0),
        func.coalesce(func.sum(ma.c.unidentified), 0),
    ).where(_range(ma.c.op_date, date_from, date_to))
    if provider_id is not None:
        alloc = alloc.where(mm.c.provider_id == provider_id)
        pay = pay.where(ma.c.provider_id == provider_id)
    else:
        pay = pay.where(ma.c.provider_id == 0)
    with engine.connect() as conn:
        allocated, a_comm, fee, transferred, pending = (int(v) for v in conn.execute(alloc).one())
        count, collected, commission, unidentified, unidentified_n = (int(v) for v in conn.execute(pay).one())
    return {
        "payments": count,
        "collected_kop": collected,
        "commission_kop": commission,
        "allocated_kop": allocated,
        "fee_kop": fee,
        "transferred_kop": transferred,
        "to_transfer_kop": pending,
        "unidentified_kop": unidentified,
        "unidentified_count": unidentified_n,
    }


def totals(
    engine: Engine, date_from: dt.date, date_to: dt.date, provider_id: int | None = None
) -> dict[str, int]:
    """Headline figures: collected, agents' commission, center fee, transferred, to transfer, unidentified."""
    if _fresh(engine):
        return _mart_totals(engine, date_from, date_to, provider_id)
    p, a = m.Payment, m.PaymentAllocation
    in_range = _range(p.op_date, date_from, date_to)
    alloc = (
        select(
            func.coalesce(func.sum(a.amount_kop), 0),
            func.coalesce(func.sum(a.commission_kop), 0),
            func.coalesce(func.sum(a.fee_kop), 0),
            func.coalesce(
                func.sum(
                    case((a.transfer_id.is_not(None), a.amount_kop - a.commission_kop - a.fee_kop), else_=0)
                ),
                0,
            ),
            func.coalesce(
                func.sum(
                    case((a.transfer_id.is_(None), a.amount_kop - a.commission_kop - a.fee_kop), else_=0)
                ),
                0,
            ),
        )
        .join(p, p.id == a.payment_id)
        .where(in_range)
    )
    if provider_id is not None:
        alloc = alloc.where(a.provider_id == provider_id)
    with engine.connect() as conn:
        allocated, a_comm, fee, transferred, pending = (int(v) for v in conn.execute(alloc).one())
        if provider_id is None:
            pay = select(
                func.count(),
                func.coalesce(func.sum(p.amount_kop), 0),
                func.coalesce(func.sum(p.commission_kop), 0),
                func.coalesce(func.sum(case((p.unidentified.is_(True), p.amount_kop), else_=0)), 0),
                func.coalesce(func.sum(case((p.unidentified.is_(True), 1), else_=0)), 0),
            ).where(in_range)
            count, collected, commission, unidentified, unidentified_n = (
                int(v) for v in conn.execute(pay).one()
            )
        else:
            count = int(
                conn.execute(
                    select(func.count(func.distinct(a.payment_id)))
                    .join(p, p.id == a.payment_id)
                    .where(in_range, a.provider_id == provider_id)
                ).scalar_one()
            )
            collected, commission, unidentified, unidentified_n = allocated, a_comm, 0, 0
    return {
        "payments": count,
        "collected_kop": collected,
        "commission_kop": commission,
        "allocated_kop": allocated,
        "fee_kop": fee,
        "transferred_kop": transferred,
        "to_transfer_kop": pending,
        "unidentified_kop": unidentified,
        "unidentified_count": unidentified_n,
    }


def collected_by_agent(
    engine: Engine, date_from: dt.date, date_to: dt.date, provider_id: int | None = None
) -> pd.DataFrame:
    """Per payment agent (bank, post, terminal): payments, amount collected, agent's commission."""
    p, a, g = m.Payment, m.PaymentAllocation, m.PaymentAgent
    if _fresh(engine):
        ma = m.MartMoneyAgent.__table__
        stmt = (
            select(
                g.code,
                g.name,
                g.kind,
                func.sum(ma.c.payments).label("payments"),
                func.sum(ma.c.amount_kop).label("amount_kop"),
                func.sum(ma.c.commission_kop).label("commission_kop"),
            )
            .join(g, g.id == ma.c.agent_id)
            .where(_range(ma.c.op_date, date_from, date_to), ma.c.provider_id == (provider_id or 0))
            .group_by(g.code, g.name, g.kind)
            .order_by(func.sum(ma.c.amount_kop).desc())
        )
    elif provider_id is None:
        stmt = (
            select(
                g.code,
                g.name,
                g.kind,
                func.count().label("payments"),
                func.sum(p.amount_kop).label("amount_kop"),
                func.sum(p.commission_kop).label("commission_kop"),
            )
            .join(g, g.id == p.agent_id)
            .where(_range(p.op_date, date_from, date_to))
            .group_by(g.code, g.name, g.kind)
            .order_by(func.sum(p.amount_kop).desc())
        )
    else:
        stmt = (
            select(
                g.code,
                g.name,
                g.kind,
                func.count(func.distinct(p.id)).label("payments"),
                func.sum(a.amount_kop).label("amount_kop"),
                func.sum(a.commission_kop).label("commission_kop"),
            )
            .join(p, p.id == a.payment_id)
            .join(g, g.id == p.agent_id)
            .where(_range(p.op_date, date_from, date_to), a.provider_id == provider_id)
            .group_by(g.code, g.name, g.kind)
            .order_by(func.sum(a.amount_kop).desc())
        )
    with engine.connect() as conn:
        return frame(conn, stmt)


def daily_by_agent(
    engine: Engine, date_from: dt.date, date_to: dt.date, provider_id: int | None = None
) -> pd.DataFrame:
    """Per payment day and agent: the amount collected (for the trend chart)."""
    p, a, g = m.Payment, m.PaymentAllocation, m.PaymentAgent
    if _fresh(engine):
        ma = m.MartMoneyAgent.__table__
        stmt = (
            select(ma.c.op_date, g.code, func.sum(ma.c.amount_kop).label("amount_kop"))
            .join(g, g.id == ma.c.agent_id)
            .where(_range(ma.c.op_date, date_from, date_to), ma.c.provider_id == (provider_id or 0))
            .group_by(ma.c.op_date, g.code)
            .order_by(ma.c.op_date, g.code)
        )
    elif provider_id is None:
        stmt = (
            select(p.op_date, g.code, func.sum(p.amount_kop).label("amount_kop"))
            .join(g, g.id == p.agent_id)
            .where(_range(p.op_date, date_from, date_to))
            .group_by(p.op_date, g.code)
            .order_by(p.op_date, g.code)
        )
    else:
        stmt = (
            select(p.op_date, g.code, func.sum(a.amount_kop).label("amount_kop"))
            .join(p, p.id == a.payment_id)
            .join(g, g.id == p.agent_id)
            .where(_range(p.op_date, date_from, date_to), a.provider_id == provider_id)
            .group_by(p.op_date, g.code)
            .order_by(p.op_date, g.code)
        )
    with engine.connect() as conn:
        return frame(conn, stmt)


def split_by_provider_service(
    engine: Engine, date_from: dt.date, date_to: dt.date, provider_id: int | None = None
) -> pd.DataFrame:
    """Per provider and service: allocated, commission, fee, transferred and still to transfer (net)."""
    p, a, pr, s = m.Payment, m.PaymentAllocation, m.Provider, m.Service
    if _fresh(engine):
        mm = m.MartMoney.__table__
        stmt = (
            select(
                pr.name.label("provider"),
                s.code.label("service_code"),
                s.name.label("service"),
                func.sum(mm.c.allocations).label("allocations"),
                func.sum(mm.c.amount_kop).label("amount_kop"),
                func.sum(mm.c.commission_kop).label("commission_kop"),
                func.sum(mm.c.fee_kop).label("fee_kop"),
                func.sum(mm.c.transferred_kop).label("transferred_kop"),
                func.sum(mm.c.to_transfer_kop).label("to_transfer_kop"),
            )
            .join(pr, pr.id == mm.c.provider_id)
            .join(s, s.id == mm.c.service_id)
            .where(_range(mm.c.op_date, date_from, date_to))
            .group_by(pr.id, pr.name, s.code, s.name, s.sort_order)
            .order_by(pr.id, s.sort_order)
        )
        if provider_id is not None:
            stmt = stmt.where(mm.c.provider_id == provider_id)
        with engine.connect() as conn:
            return frame(conn, stmt)
    net = a.amount_kop - a.commission_kop - a.fee_kop
    stmt = (
        select(
            pr.name.label("provider"),
            s.code.label("service_code"),
            s.name.label("service"),
            func.count().label("allocations"),
            func.sum(a.amount_kop).label("amount_kop"),
            func.sum(a.commission_kop).label("commission_kop"),
            func.sum(a.fee_kop).label("fee_kop"),
            func.sum(case((a.transfer_id.is_not(None), net), else_=0)).label("transferred_kop"),
            func.sum(case((a.transfer_id.is_(None), net), else_=0)).label("to_transfer_kop"),
        )
        .join(p, p.id == a.payment_id)
        .join(pr, pr.id == a.provider_id)
        .join(s, s.id == a.service_id)
        .where(_range(p.op_date, date_from, date_to))
        .group_by(pr.id, pr.name, s.code, s.name, s.sort_order)
        .order_by(pr.id, s.sort_order)
    )
    if provider_id is not None:
        stmt = stmt.where(a.provider_id == provider_id)
    with engine.connect() as conn:
        return frame(conn, stmt)


def transfers(
    engine: Engine, date_from: dt.date, date_to: dt.date, provider_id: int | None = None
) -> pd.DataFrame:
    """Transfers (платёжные поручения) to providers dated within the range."""
    t, pr = m.ProviderTransfer, m.Provider
    stmt = (
        select(
            t.transfer_date,
            t.number,
            pr.name.label("provider"),
            t.date_from,
            t.date_to,
            t.lines,
            t.amount_kop,
            t.commission_kop,
            t.fee_kop,
            t.net_kop,
            t.status,
            t.file_name,
        )
        .join(pr, pr.id == t.provider_id)
        .where(_range(t.transfer_date, date_from, date_to))
        .order_by(t.transfer_date.desc(), pr.id, t.number)
    )
    if provider_id is not None:
        stmt = stmt.where(t.provider_id == provider_id)
    with engine.connect() as conn:
        return frame(conn, stmt)


def unidentified(
    engine: Engine, date_from: dt.date, date_to: dt.date, provider_id: int | None = None, limit: int = 1000
) -> pd.DataFrame:
    """Unidentified payments (no account found): they belong to no provider until resolved."""
    p, g, f = m.Payment, m.PaymentAgent, m.RegistryFile
    stmt = (
        select(
            p.op_date,
            g.code.label("agent"),
            p.account_number,
            p.payer_name,
            p.payer_address,
            p.amount_kop,
            p.operation_id,
            f.name.label("file_name"),
        )
        .join(g, g.id == p.agent_id)
        .outerjoin(f, f.id == p.registry_file_id)
        .where(p.unidentified.is_(True), _range(p.op_date, date_from, date_to))
        .order_by(p.op_date.desc(), p.id)
        .limit(limit)
    )
    if provider_id is not None:
        stmt = stmt.where(nothing())
    with engine.connect() as conn:
        return frame(conn, stmt)


def turnover_histogram(
    engine: Engine, date_from: dt.date, date_to: dt.date, provider_id: int | None = None
) -> pd.DataFrame:
    """Allocations per (payment day, transfer day); transfer day is empty while not transferred."""
    p, a, t = m.Payment, m.PaymentAllocation, m.ProviderTransfer
    stmt = (
        select(
            p.op_date, t.transfer_date, func.count().label("n"), func.sum(a.amount_kop).label("amount_kop")
        )
        .select_from(a)
        .join(p, p.id == a.payment_id)
        .outerjoin(t, t.id == a.transfer_id)
        .where(_range(p.op_date, date_from, date_to))
        .group_by(p.op_date, t.transfer_date)
        .order_by(p.op_date, t.transfer_date)
    )
    if provider_id is not None:
        stmt = stmt.where(a.provider_id == provider_id)
    with engine.connect() as conn:
        return frame(conn, stmt)


def _weighted_quantile(values: np.ndarray, weights: np.ndarray, q: float) -> float:
    """The smallest value whose cumulative weight reaches ``q`` of the total (a lower quantile)."""
    order = np.argsort(values, kind="stable")
    cum = np.cumsum(weights[order])
    idx = int(np.searchsorted(cum, q * cum[-1] - 1e-9))
    return float(values[order][min(idx, len(values) - 1)])


def turnover_lags(
    engine: Engine, date_from: dt.date, date_to: dt.date, provider_id: int | None = None
) -> pd.DataFrame:
    """Allocations per (payment day, days to the transfer); ``lag_days`` is −1 while not transferred."""
    cols = ["op_date", "lag_days", "n", "amount_kop"]
    if _fresh(engine):
        t = m.MartTurnover.__table__
        stmt = (
            select(t.c.op_date, t.c.lag_days, func.sum(t.c.allocations).label("n"), func.sum(t.c.amount_kop))
            .where(_range(t.c.op_date, date_from, date_to))
            .group_by(t.c.op_date, t.c.lag_days)
            .order_by(t.c.op_date, t.c.lag_days)
        )
        if provider_id is not None:
            stmt = stmt.where(t.c.provider_id == provider_id)
        with engine.connect() as conn:
            df = frame(conn, stmt)
        df.columns = cols
        return df
    hist = turnover_histogram(engine, date_from, date_to, provider_id)
    if hist.empty:
        return pd.DataFrame(columns=cols)
    lags = [
        -1 if td is None or pd.isna(td) else (td - day).days
        for day, td in zip(hist["op_date"], hist["transfer_date"], strict=True)
    ]
    return pd.DataFrame(
        {"op_date": hist["op_date"], "lag_days": lags, "n": hist["n"], "amount_kop": hist["amount_kop"]}
    )


def turnover(
    engine: Engine, date_from: dt.date, date_to: dt.date, provider_id: int | None = None
) -> pd.DataFrame:
    """Per payment day: median and 95th percentile of days to transfer, parts transferred and waiting."""
    hist = turnover_lags(engine, date_from, date_to, provider_id)
    cols = ["op_date", "median_days", "p95_days", "transferred", "waiting", "waiting_kop"]
    if hist.empty:
        return pd.DataFrame(columns=cols)
    rows = []
    for day, grp in hist.groupby("op_date", sort=True):
        done = grp[grp["lag_days"] >= 0]
        waiting = grp[grp["lag_days"] < 0]
        if len(done):
            lags = done["lag_days"].to_numpy(dtype=float)
            w = done["n"].to_numpy(dtype=float)
            med, p95 = _weighted_quantile(lags, w, 0.5), _weighted_quantile(lags, w, 0.95)
        else:
            med = p95 = float("nan")
        rows.append(
            (
                day,
                med,
                p95,
                int(done["n"].sum()),
                int(waiting["n"].sum()),
                int(waiting["amount_kop"].sum()) if len(waiting) else 0,
            )
        )
    return pd.DataFrame(rows, columns=cols)


def agent_kind_name(kind: str) -> str:
    return AGENT_KIND_NAMES.get(kind, kind)
