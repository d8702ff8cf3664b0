"""The report layer on its own: Russian formatting, the FIFO debt aging of domain §6 (example 6b) on both
backends, due dates, the data version, the turnover quantiles."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import Engine, insert, select

from hub.reports import analytics, fmt
from hub.reports.common import Filters, data_version
from hub.store import models as m


def test_formatting_is_russian() -> None:
    assert fmt.rub(123456789) == "1\u00a0234\u00a0567,89\u00a0₽"
    assert fmt.rub(-5) == "−0,05\u00a0₽"
    assert fmt.rub(0) == "0,00\u00a0₽"
    for kop in (0, 1, 99, 100, 123456789, -123456789, 10**15):
        assert fmt.parse_rub(fmt.rub(kop)) == kop
    assert fmt.parse_rub("1 234 567,89 ₽") == 123456789
    assert fmt.num(1234567) == "1\u00a0234\u00a0567"
    assert fmt.pct(0.8734) == "87,3\u00a0%"
    assert fmt.date_ru(dt.date(2026, 3, 1)) == "01.03.2026"
    assert fmt.date_ru(dt.datetime(2026, 11, 28, 7, 15)) == "28.11.2026 07:15"
    assert fmt.period_name(202611) == "ноябрь 2026"
    assert fmt.period_last_day(202602) == dt.date(2026, 2, 28)
    assert fmt.period_add(202612, 1) == 202701


def test_due_dates_and_buckets() -> None:
    assert analytics.due_date(202501) == dt.date(2025, 2, 10)
    assert analytics.due_date(202601) == dt.date(2026, 2, 10)
    assert analytics.due_date(202602) == dt.date(2026, 3, 15)  # due from 01.03.2026: the 15th
    assert [analytics.bucket_of(d) for d in (-5, 0, 1, 30, 31, 90, 91, 180, 181, 365, 366, 1095, 1096)] == [
        0,
        0,
        1,
        1,
        2,
        2,
        3,
        3,
        4,
        4,
        5,
        5,
        6,
    ]


def _minimal_accounts(engine: Engine, n: int) -> tuple[list[int], int, int]:
    """n accounts in one building; returns (account ids, service id of ХВС, provider id)."""
    with engine.begin() as conn:
        sid = conn.execute(select(m.Service.id).where(m.Service.code == "HVS")).scalar_one()
        conn.execute(insert(m.District).values(id=1, code="D1", name="Район"))
        conn.execute(
            insert(m.Provider).values(
                id=1, code="VK", inn="6227000292", name="Водоканал", bank_account="40702810400000012345"
            )
        )
        conn.execute(
            insert(m.Building).values(
                id=1,
                district_id=1,
                settlement="г Рязань",
                street_type="ул",
                street="Победы",
                house="1",
                korp="",
                total_area=1000,
                common_area=100,
                floors=5,
            )
        )
        for i in range(1, n + 1):
            conn.execute(insert(m.Premises).values(id=i, building_id=1, flat=str(i), room="", total_area=50))
            conn.execute(
                insert(m.Account).values(
                    id=i,
                    number=f"31{i:08d}",
                    premises_id=i,
                    owner_name="Иванов И. И.",
                    status="open",
                    opened_on=dt.date(2020, 1, 1),
                )
            )
    return list(range(1, n + 1)), sid, 1


def test_aging_is_fifo_by_month_of_origin(store: Engine) -> None:
    """Domain §6 example 6b (as of 30.04.2025, due the 10th): Jan 1000 (79 days past due), Feb 1200 (51),
    Mar 1100 (20), Apr 1150 (not due). A second account also owes 300 from 01.2023 and paid 500 in April:
    FIFO pays 01.2023 first, then 200 of January."""
    accounts, sid, pid = _minimal_accounts(store, 3)
    charges = {202501: 100_000, 202502: 120_000, 202503: 110_000, 202504: 115_000}
    with store.begin() as conn:
        for acc in accounts[:2]:
            for period, amount in charges.items():
                paid = 50_000 if (acc == 2 and period == 202504) else 0
                conn.execute(
                    insert(m.AccountBalance).values(
                        period=period,
                        account_id=acc,
                        service_id=sid,
                        provider_id=pid,
                        charged_kop=amount,
                        paid_kop=paid,
                        closing_kop=0,
                    )
                )
        conn.execute(
            insert(m.OpeningDebt).values(
                account_id=2,
                service_id=sid,
                provider_id=pid,
                period=202301,
                principal_kop=30_000,
                penalty_kop=0,
                source="test",
            )
        )
        conn.execute(
            insert(m.OpeningDebt).values(
                account_id=3,
                service_id=sid,
                provider_id=pid,
                period=202412,
                principal_kop=-5_000,
                penalty_kop=0,
                source="test",
            )
        )
    aging = analytics.aging(store, Filters(), 202504)
    assert dict(zip(aging["bucket_name"], aging["remaining_kop"], strict=True)) == {
        "не наступил срок": 230_000,
        "1–30 дней": 220_000,
        "31–90 дней": 420_000,
    }
    origin = analytics.debt_by_origin(store, Filters(), 202504)
    assert dict(zip(origin["period"], origin["remaining_kop"], strict=True)) == {
        202501: 180_000,
        202502: 240_000,
        202503: 220_000,
        202504: 230_000,
    }
    assert analytics.debt_totals(store, Filters(), 202504) == {
        "debt_kop": 870_000,
        "advance_kop": 5_000,
        "debtors": 2,
    }
    # as of March: April is not there yet, and the April payment neither
    march = analytics.aging(store, Filters(), 202503)
    assert dict(zip(march["bucket_name"], march["remaining_kop"], strict=True)) == {
        "не наступил срок": 220_000,
        "1–30 дней": 240_000,
        "31–90 дней": 200_000,
        "366–1095 дней": 30_000,
    }
    # the provider scope: another provider has no debt here
    assert analytics.aging(store, Filters(), 202504, provider_id=pid + 1).empty
    top = analytics.top_debtors(store, Filters(), 202504, limit=1)
    assert top["number"].tolist() == ["3100000001"] and top["debt_kop"].tolist() == [445_000]


def test_data_version_changes_with_new_rows(store: Engine) -> None:
    before = data_version(store)
    assert data_version(store) == before
    with store.begin() as conn:
        conn.execute(
            insert(m.RunLog).values(
                dag_id="ingest", run_id="r1", status="success", started_at=dt.datetime(2026, 11, 1, 9)
            )
        )
    assert data_version(store) != before


@pytest.mark.parametrize(
    ("values", "q", "expected"),
    [([1, 2, 3, 4], 0.5, 2), ([5], 0.95, 5), ([1] * 19 + [9], 0.95, 1), ([1] * 18 + [9, 9], 0.95, 9)],
)
def test_turnover_quantile(values: list[int], q: float, expected: int) -> None:
    import numpy as np

    from hub.reports.money import _weighted_quantile

    arr = np.array(sorted(set(values)), dtype=float)
    weights = np.array([values.count(int(v)) for v in arr], dtype=float)
    assert _weighted_quantile(arr, weights, q) == expected
