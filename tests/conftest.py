"""Session-wide test setup: environment (before anything imports Airflow), PostgreSQL, the small city.

Store tests take the ``store_url`` / ``city`` fixtures, which are parametrized over SQLite and
PostgreSQL, so every store test runs on both.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

_AIRFLOW_HOME = tempfile.mkdtemp(prefix="unipay_af_home_")
atexit.register(shutil.rmtree, _AIRFLOW_HOME, True)
os.environ.setdefault("AIRFLOW_HOME", _AIRFLOW_HOME)
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
os.environ.setdefault("AIRFLOW__CORE__UNIT_TEST_MODE", "True")
os.environ.setdefault("AIRFLOW__CORE__DAGS_FOLDER", str(Path(__file__).resolve().parent.parent / "dags"))
os.environ.pop("UNIPAY_DB_URL", None)  # tests never touch the developer's store
os.environ.pop("UNIPAY_CONFIG", None)

import pytest  # noqa: E402
from sqlalchemy import Engine  # noqa: E402

from tests.pgserver import PgServer  # noqa: E402

CITY_ACCOUNTS = 400
CITY_SEED = 20261130


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    server = PgServer()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def new_store_url(pg_server: PgServer, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """A factory: ``new_store_url("sqlite"|"postgresql")`` → URL of a fresh empty database."""

    def make(backend: str) -> str:
        if backend == "sqlite":
            return f"sqlite:///{tmp_path_factory.mktemp('store') / 'unipay.db'}"
        return pg_server.create_database()

    return make


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def store(backend: str, new_store_url) -> Iterator[Engine]:  # type: ignore[no-untyped-def]
    """A fresh, upgraded (schema + reference seed) store on each backend."""
    from hub.store import migrate
    from hub.store.db import make_engine

    engine = make_engine(new_store_url(backend))
    migrate.upgrade(engine)
    yield engine
    engine.dispose()


@dataclass
class City:
    backend: str
    url: str
    engine: Engine
    accounts: int
    seed: int
    rows: dict[str, int]


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def city(request: pytest.FixtureRequest, new_store_url) -> Iterator[City]:  # type: ignore[no-untyped-def]
    """The small synthetic city, built once per session on each backend. Tests must not modify it."""
    from hub.city.generate import generate_city
    from hub.store import migrate
    from hub.store.db import make_engine

    backend = str(request.param)
    url = new_store_url(backend)
    engine = make_engine(url)
    migrate.upgrade(engine)
    report = generate_city(engine, CITY_ACCOUNTS, CITY_SEED)
    c = City(backend, url, engine, CITY_ACCOUNTS, CITY_SEED, report.rows)
    yield c
    engine.dispose()
