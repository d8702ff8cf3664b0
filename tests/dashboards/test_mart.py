"""The reporting mart (hub/reports/mart.py): every report read from the mart equals the same report
computed from the source tables, for every scope and filter; billing and settlement keep it fresh; a
stale mart is noticed and the reports fall back to the source tables."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pandas as pd
import pytest
from sqlalchemy import Engine, select

from hub.reports import analytics, mart, money
from hub.reports.common import Filters, reference
from hub.store import models as m
from hub.store.db import session_scope
from tests.dashboards.conftest import VODOKANAL_INN, Store


def _same(a: Any, b: Any) -> None:
    if isinstance(a, pd.DataFrame):
        assert list(a.columns) == list(b.columns)
        pd.testing.assert_frame_equal(
            a.reset_index(drop=True), b.reset_index(drop=True), check_dtype=False, check_exact=True
        )
    elif isinstance(a, dict):
        assert a.keys() == b.keys()
        for k in a:
            _same(a[k], b[k])
    else:
        assert a == b


def _both(monkeypatch: pytest.MonkeyPatch, fn: Callable[..., Any], *args: Any) -> tuple[Any, Any]:
    """(from the mart, from the source tables) of one report call."""
    from_mart = fn(*args)
    with monkeypatch.context() as mp:
        mp.setattr(mart, "is_fresh", lambda conn, part: False)
        raw = fn(*args)
    return from_mart, raw


def _calls(engine: Engine, period: int, scope: int | None, f: Filters) -> list[tuple[str, Callable[[], Any]]]:
    a, b = dt.date(2026, 11, 1), dt.date(2026, 11, 30)
    one = dt.date(2026, 11, 10)
    out: list[tuple[str, Callable[[], Any]]] = [
        (f"charged_paid {by}", lambda by=by: analytics.charged_paid(engine, by, f, scope))
        for by in analytics.DIMENSIONS
    ]
    out += [
        ("paid_by_agent", lambda: analytics.paid_by_agent(engine, f, scope)),
        ("debt_totals", lambda: analytics.debt_totals(engine, f, period, scope)),
        ("aging", lambda: analytics.aging(engine, f, period, scope)),
        ("aging by provider", lambda: analytics.aging(engine, f, period, scope, "provider")),
        ("aging by district", lambda: analytics.aging(engine, f, period, scope, "district")),
        ("top_debtors", lambda: analytics.top_debtors(engine, f, period, scope, 20)),
        ("penalties", lambda: analytics.penalties(engine, f, scope)),
        ("opening_penalties", lambda: analytics.opening_penalties(engine, f, scope)),
        ("recalculations", lambda: analytics.recalculations(engine, f, scope)),
        ("money totals", lambda: money.totals(engine, a, b, scope)),
        ("money totals one day", lambda: money.totals(engine, one, one, scope)),
        ("collected_by_agent", lambda: money.collected_by_agent(engine, a, b, scope)),
        ("daily_by_agent", lambda: money.daily_by_agent(engine, a, b, scope)),
        ("split", lambda: money.split_by_provider_service(engine, a, b, scope)),
        ("turnover", lambda: money.turnover(engine, a, b, scope)),
    ]
    return out


def _ids(store: Store) -> dict[str, Any]:
    return {
        "period": int(store.scalar("SELECT MAX(period) FROM charge_lines")),
        "vodokanal": int(store.scalar("SELECT id FROM providers WHERE inn = :i", i=VODOKANAL_INN)),
        "providers": [int(r[0]) for r in store.rows("SELECT id FROM providers ORDER BY id")],
        "districts": [int(r[0]) for r in store.rows("SELECT id FROM districts ORDER BY id")],
        "hvs": int(store.scalar("SELECT id FROM services WHERE code = 'HVS'")),
        "gvs": int(store.scalar("SELECT id FROM services WHERE code = 'GVS'")),
    }


def test_the_mart_is_fresh_after_a_refresh(filled: Store) -> None:
    period = _ids(filled)["period"]
    assert mart.status(filled.engine, period) == {"charges": True, "money": True, "debt": True}
    assert mart.status(filled.engine, period - 1)["debt"] is False  # kept for the latest period only


@pytest.mark.parametrize("scope", ["center", "provider"])
def test_every_report_from_the_mart_equals_the_source_tables(
    filled: Store, scope: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = _ids(filled)
    period, vk = ids["period"], ids["vodokanal"]
    provider_id = vk if scope == "provider" else None
    others = [p for p in ids["providers"] if p != vk]
    filters = [
        Filters((period,)),
        Filters((period,), district_ids=(ids["districts"][0],)),
        Filters((period,), service_ids=(ids["hvs"],)),
        Filters((period,), service_ids=(ids["hvs"], ids["gvs"])),
        Filters((period,), provider_ids=(vk,)),
        Filters((period,), provider_ids=(vk, others[0])),
        Filters((period, period - 1, period - 2)),
        Filters(),
        Filters((period,), ids["districts"][:2], (others[0],), (ids["hvs"],)),
    ]
    for f in filters:
        for name, call in _calls(filled.engine, period, provider_id, f):
            from_mart, raw = _both(monkeypatch, call)
            try:
                _same(from_mart, raw)
            except AssertionError as exc:
                raise AssertionError(f"{name} {f} scope={scope}: {exc}") from exc
    _same(*_both(monkeypatch, reference, filled.engine, provider_id))


# ------------------------------------------------------------------------------------------------
# The runs keep it fresh
# ------------------------------------------------------------------------------------------------


def _add_payments(engine: Engine, day: dt.date, prefix: str, n: int = 12) -> None:
    with session_scope(engine) as s:
        sber = s.scalar(select(m.PaymentAgent.id).where(m.PaymentAgent.code == "SBER"))
        accounts = s.scalars(
            select(m.Account.id).where(m.Account.status == "open").order_by(m.Account.id).limit(n)
        ).all()
        for i, acc in enumerate(accounts):
            amount = 50_000 + 7_919 * i
            s.add(
                m.Payment(
                    agent_id=sber,
                    operation_id=f"{prefix}{i}",
                    op_date=day - dt.timedelta(days=i % 3),
                    account_id=acc,
                    account_number=str(acc),
                    amount_kop=amount,
                    transfer_kop=amount - amount // 100,
                    commission_kop=amount // 100,
                )
            )


def _check_all(engine: Engine, period: int, monkeypatch: pytest.MonkeyPatch) -> None:
    for f in (Filters((period,)), Filters((period,), service_ids=(1, 2))):
        for scope in (None, 1):
            for name, call in _calls(engine, period, scope, f):
                try:
                    _same(*_both(monkeypatch, call))
                except AssertionError as exc:
                    raise AssertionError(f"{name} {f} scope={scope}: {exc}") from exc


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_billing_and_settlement_keep_the_mart_fresh(
    backend: str, new_store_url: Callable[[str], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from hub.billing import bill_period, settle_day
    from hub.city.generate import generate_city
    from hub.store import migrate
    from hub.store.db import make_engine

    engine = make_engine(new_store_url(backend))
    try:
        migrate.upgrade(engine)
        generate_city(engine, 200, 5)
        period = 202611
        # a city without money: nothing refreshed yet — stale, and the reports still answer
        assert mart.status(engine, period) == {"charges": False, "money": False, "debt": False}
        with engine.begin() as conn:
            mart.refresh_mart(conn)
        assert all(mart.status(engine, period).values())
        bill_period(engine, period)
        assert all(mart.status(engine, period).values())
        _check_all(engine, period, monkeypatch)
        day = dt.date(2026, 11, 20)
        _add_payments(engine, day, "A")
        # loaded but not settled: the money part is stale until the settlement
        assert mart.status(engine, period) == {"charges": True, "money": False, "debt": True}
        settle_day(engine, day)
        assert all(mart.status(engine, period).values())
        _check_all(engine, period, monkeypatch)
        _add_payments(engine, day + dt.timedelta(days=2), "B", 5)
        settle_day(engine, day + dt.timedelta(days=2))
        assert all(mart.status(engine, period).values())
        _check_all(engine, period, monkeypatch)
        # a re-run of billing (it replaces the period's lines) keeps it right
        bill_period(engine, period)
        assert all(mart.status(engine, period).values())
        _check_all(engine, period, monkeypatch)
    finally:
        engine.dispose()


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_store_never_refreshed_gets_its_mart_from_the_runs(
    backend: str, new_store_url: Callable[[str], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The DAGs' order (settle every day, then billing district by district) builds and keeps the mart
    with no `unipay reports refresh`."""
    from hub.billing import bill_period, district_ids, settle_day
    from hub.city.generate import generate_city
    from hub.store import migrate
    from hub.store.db import make_engine

    engine = make_engine(new_store_url(backend))
    try:
        migrate.upgrade(engine)
        generate_city(engine, 150, 9)
        period = 202611
        day = dt.date(2026, 11, 5)
        _add_payments(engine, day, "F", 6)
        settle_day(engine, day)  # the first settlement builds every part
        assert all(mart.status(engine, period).values())
        for district in district_ids(engine):
            bill_period(engine, period, districts=[district])
        assert all(mart.status(engine, period).values())
        _check_all(engine, period, monkeypatch)
    finally:
        engine.dispose()
