"""The synthetic city: realistic shares, twelve months of readings, deterministic row for row."""

from __future__ import annotations

import hashlib

import pytest
from sqlalchemy import Engine, distinct, func, select

from hub.city.generate import CityError, generate_city
from hub.store import migrate
from hub.store import models as m
from hub.store.db import make_engine
from tests.conftest import City


def _scalar(engine: Engine, stmt) -> int:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        return int(conn.execute(stmt).scalar_one())


def test_city_has_the_promised_shape(city: City) -> None:
    e = city.engine
    n = _scalar(e, select(func.count()).select_from(m.Account))
    assert n == city.accounts
    metered = _scalar(e, select(func.count(distinct(m.Meter.account_id))))
    assert (n - metered) / n >= 0.20, "at least 20 % of accounts have no meters"
    months = (
        select(m.OpeningDebt.account_id)
        .where(m.OpeningDebt.principal_kop > 0)
        .group_by(m.OpeningDebt.account_id)
        .having(func.count(distinct(m.OpeningDebt.period)) >= 3)
    )
    owing3 = _scalar(e, select(func.count()).select_from(months.subquery()))
    assert owing3 / n >= 0.10, "at least 10 % owe for 3 months or more"
    assert _scalar(e, select(func.count()).select_from(m.Beneficiary)) > 0
    assert _scalar(e, select(func.count()).select_from(m.Absence)) > 0
    assert _scalar(e, select(func.count()).select_from(m.QualityIncident)) > 0
    assert _scalar(e, select(func.count()).select_from(m.BuildingMeter)) > 0
    providers = _scalar(e, select(func.count(distinct(m.AccountService.provider_id))))
    services = _scalar(e, select(func.count(distinct(m.AccountService.service_id))))
    assert providers >= 5 and services >= 10


def test_every_meter_has_twelve_months_of_history(city: City) -> None:
    with city.engine.connect() as conn:
        spans = conn.execute(
            select(
                m.MeterReading.meter_id,
                func.min(m.MeterReading.period),
                func.max(m.MeterReading.period),
                func.count(),
            ).group_by(m.MeterReading.meter_id)
        ).all()
        meters = conn.execute(select(func.count()).select_from(m.Meter)).scalar_one()
    assert len(spans) == meters
    full = [s for s in spans if s[3] >= 13]
    assert len(full) / len(spans) > 0.8
    first, last = min(s[1] for s in spans), max(s[2] for s in spans)
    assert (last // 100 * 12 + last % 100) - (first // 100 * 12 + first % 100) >= 12
    # Some meters stop reporting before the period: the engine must average for them.
    assert any(s[2] < last for s in spans)


def test_readings_never_decrease(city: City) -> None:
    with city.engine.connect() as conn:
        rows = conn.execute(
            select(m.MeterReading.meter_id, m.MeterReading.zone, m.MeterReading.value).order_by(
                m.MeterReading.meter_id, m.MeterReading.zone, m.MeterReading.reading_date
            )
        ).all()
    prev: dict[tuple[int, int], object] = {}
    for meter, zone, value in rows:
        key = (meter, zone)
        if key in prev:
            assert value >= prev[key]  # type: ignore[operator]
        prev[key] = value


def _fingerprint(engine: Engine) -> dict[str, str]:
    """A hash of every table's rows, ordered by primary key (the same store gives the same hashes)."""
    out = {}
    with engine.connect() as conn:
        for table in m.Base.metadata.sorted_tables:
            cols = [c for c in table.c if c.name not in ("opened_at", "received_at", "created_at", "at")]
            rows = conn.execute(select(*cols).order_by(*table.primary_key.columns)).all()
            out[table.name] = hashlib.sha256(repr([tuple(r) for r in rows]).encode()).hexdigest()
    return out


def test_same_seed_same_store_on_both_backends(city: City, new_store_url) -> None:  # type: ignore[no-untyped-def]
    """A second city with the same seed equals the session city row for row, on either backend."""
    other = "sqlite" if city.backend == "postgresql" else "postgresql"
    engine = make_engine(new_store_url(other))
    try:
        migrate.upgrade(engine)
        generate_city(engine, city.accounts, city.seed)
        assert _fingerprint(engine) == _fingerprint(city.engine)
    finally:
        engine.dispose()


def test_another_seed_gives_another_city(new_store_url) -> None:  # type: ignore[no-untyped-def]
    engines = [make_engine(new_store_url("sqlite")) for _ in range(2)]
    try:
        for engine, seed in zip(engines, (1, 2), strict=True):
            migrate.upgrade(engine)
            generate_city(engine, 150, seed)
        a, b = (_fingerprint(e) for e in engines)
        assert a["persons"] != b["persons"] and a["meter_readings"] != b["meter_readings"]
        assert a["services"] == b["services"]  # the reference catalogue does not depend on the seed
    finally:
        for e in engines:
            e.dispose()


def test_city_refuses_a_store_that_has_accounts(city: City) -> None:
    with pytest.raises(CityError, match="уже есть лицевые счета"):
        generate_city(city.engine, 10, 1)
