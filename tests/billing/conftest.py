"""A small city billed for its open period, per backend (module-scoped: tests may add payments)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine

from hub.billing import bill_period
from hub.city.generate import generate_city
from hub.store import migrate
from hub.store.db import make_engine

PERIOD = 202611
ACCOUNTS = 300


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def billed(request: pytest.FixtureRequest, new_store_url) -> Iterator[Engine]:  # type: ignore[no-untyped-def]
    engine = make_engine(new_store_url(str(request.param)))
    migrate.upgrade(engine)
    generate_city(engine, ACCOUNTS, 11)
    bill_period(engine, PERIOD)
    yield engine
    engine.dispose()
