"""Time every dashboard page on a large synthetic city (the figures of docs/performance.md, "Dashboards").

    .venv/bin/python -m tests.dashboards.bench --accounts 100000 --db /tmp/dash-100k.db

Builds the store when the file does not exist (the city, then ``fill_activity`` of
tests/dashboards/activity.py), brings the schema to the newest revision and refreshes the reporting
mart when it is not fresh (``unipay reports refresh``, timed), then runs each page with Streamlit's
AppTest as a management user and as a provider: a *cold* run (empty ``st.cache_data``, every query hits
the database) and a *warm* run (the same page again: only the data-version query runs). Also times each
report function alone. ``--no-mart`` times the pages on the source tables instead (the fallback).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import time
from pathlib import Path

from sqlalchemy import func, select

ROOT = Path(__file__).resolve().parents[2]


def build(url: str, accounts: int, seed: int) -> None:
    from hub.city.generate import generate_city
    from hub.store import migrate
    from hub.store.db import make_engine
    from tests.dashboards.activity import fill_activity

    engine = make_engine(url)
    migrate.upgrade(engine)
    t = time.perf_counter()
    generate_city(engine, accounts, seed)
    print(f"city of {accounts} accounts: {time.perf_counter() - t:.1f} s")
    t = time.perf_counter()
    rows = fill_activity(engine)
    print(f"activity: {time.perf_counter() - t:.1f} s {rows}")
    engine.dispose()


def ensure_mart(url: str) -> None:
    """Schema at the newest revision, and the reporting mart refreshed unless it is fresh."""
    from hub.reports import mart
    from hub.reports.analytics import latest_period
    from hub.store import migrate
    from hub.store.db import make_engine

    engine = make_engine(url)
    migrate.upgrade(engine)
    period = latest_period(engine)
    if not all(mart.status(engine, period).values()):
        t = time.perf_counter()
        with engine.begin() as conn:
            parts = mart.refresh_mart(conn)
        each = ", ".join(f"{k} {v:.1f} s" for k, v in parts.items())
        print(f"mart refresh: {time.perf_counter() - t:.1f} s ({each})", flush=True)
    engine.dispose()


def time_pages(url: str) -> list[tuple[str, str, float, float]]:
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    from hub.auth import User
    from hub.store import models as m
    from hub.store.db import get_engine

    os.environ["UNIPAY_DB_URL"] = url
    with get_engine(url).connect() as conn:
        number = conn.execute(
            select(func.min(m.Payment.account_number)).where(m.Payment.account_id.is_not(None))
        ).scalar_one()
        pid, pname = conn.execute(
            select(m.Provider.id, m.Provider.name).where(m.Provider.inn == "6227000292")
        ).one()
    users = {
        "management": User("director", "management"),
        "provider": User("vk", "provider", provider_inn="6227000292", provider_id=pid, provider_name=pname),
    }
    # one run first, not timed: the imports and Streamlit's start-up, which a running server has done
    # before its first visitor, are not charged to the first page timed
    warm = AppTest.from_file(str(ROOT / "dashboards" / "app_pages" / "monitoring.py"), default_timeout=600)
    warm.session_state["user"] = users["management"]
    warm.run()
    out = []
    for page in ("monitoring", "money", "analytics", "account"):
        for role, user in users.items():
            if page == "monitoring" and role == "provider":
                continue
            st.cache_data.clear()
            times = []
            for _ in range(2):
                at = AppTest.from_file(
                    str(ROOT / "dashboards" / "app_pages" / f"{page}.py"), default_timeout=600
                )
                at.session_state["user"] = user
                t = time.perf_counter()
                at.run()
                if page == "account":
                    at.text_input(key="acc_query").set_value(number).run()
                times.append(time.perf_counter() - t)
                assert not at.exception, [e.value for e in at.exception]
            out.append((page, role, times[0], times[1]))
            print(f"{page:<11} {role:<11} cold {times[0]:6.2f} s   warm {times[1]:5.2f} s", flush=True)
    return out


def time_reports(url: str) -> list[tuple[str, float]]:
    from hub.reports import account, analytics, exchange, money
    from hub.reports.common import Filters, data_version
    from hub.store.db import get_engine

    e = get_engine(url)
    day = exchange.last_days_with_files(e)
    assert day is not None
    a, b = dt.date(2026, 11, 2), dt.date(2026, 11, 27)
    period = analytics.latest_period(e)
    assert period is not None
    f = Filters(periods=(period,))
    calls = {
        "data_version": lambda: data_version(e),
        "exchange.files_by_partner_day (7 days)": lambda: exchange.files_by_partner_day(
            e, day - dt.timedelta(6), day
        ),
        "exchange.rejected_lines": lambda: exchange.rejected_lines(e, day - dt.timedelta(6), day),
        "money.totals": lambda: money.totals(e, a, b),
        "money.split_by_provider_service": lambda: money.split_by_provider_service(e, a, b),
        "money.turnover": lambda: money.turnover(e, a, b),
        "analytics.charged_paid by period": lambda: analytics.charged_paid(e, "period", f),
        "analytics.charged_paid by building": lambda: analytics.charged_paid(e, "building", f),
        "analytics.aging": lambda: analytics.aging(e, f, period),
        "analytics.debt_totals": lambda: analytics.debt_totals(e, f, period),
        "analytics.top_debtors": lambda: analytics.top_debtors(e, f, period),
        "analytics.recalculations": lambda: analytics.recalculations(e, f),
        "account.search (address)": lambda: account.search(e, "Победы 1 5"),
        "account.statement": lambda: account.statement(e, 1),
    }
    out = []
    for name, call in calls.items():
        t = time.perf_counter()
        call()
        out.append((name, time.perf_counter() - t))
        print(f"{name:<42} {out[-1][1]:6.2f} s", flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--db", default="/tmp/unipay-dash-bench.db", help="SQLite file (built when missing)")
    parser.add_argument("--url", help="a database URL instead of --db (must already hold the city)")
    parser.add_argument("--no-mart", action="store_true", help="time the pages on the source tables")
    args = parser.parse_args()
    url = args.url or f"sqlite:///{Path(args.db).resolve()}"
    if not args.url and not Path(args.db).exists():
        build(url, args.accounts, args.seed)
    ensure_mart(url)
    if args.no_mart:
        from hub.reports import mart

        mart.is_fresh = lambda conn, part: False  # every report computes from the source tables
    time_reports(url)
    time_pages(url)


if __name__ == "__main__":
    main()
