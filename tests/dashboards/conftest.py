"""Fixtures of the dashboard tests: a city store with a month of activity per backend, a users file,
running a page with AppTest as a given user, capturing the files of the download buttons."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from sqlalchemy import Engine, text

from hub.auth import User, hash_password, save_users
from hub.reports.fmt import parse_rub

ROOT = Path(__file__).resolve().parents[2]
PAGES_DIR = ROOT / "dashboards" / "app_pages"
ACCOUNTS = 400
SEED = 20261130
VODOKANAL_INN = "6227000292"
PASSWORDS = {"director": "pw-director", "operator": "pw-operator", "vodokanal": "pw-vodokanal"}


@dataclass
class Store:
    backend: str
    url: str
    engine: Engine

    def scalar(self, sql: str, **params: Any) -> Any:
        with self.engine.connect() as conn:
            return conn.execute(text(sql), params).scalar()

    def rows(self, sql: str, **params: Any) -> list[Any]:
        with self.engine.connect() as conn:
            return list(conn.execute(text(sql), params).all())

    def day(self, column: str) -> str:
        """SQL for the calendar day of a timestamp column, as 'YYYY-MM-DD' text on both backends."""
        return f"date({column})" if self.backend == "sqlite" else f"to_char({column}, 'YYYY-MM-DD')"


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def filled(request: pytest.FixtureRequest, new_store_url: Callable[[str], str]) -> Iterator[Store]:
    """A 400-account city with a month of charges, payments, files, transfers and runs (our own store),
    its reporting mart refreshed (the pages read the mart; the tests check it against the raw tables)."""
    from hub.city.generate import generate_city
    from hub.reports.mart import refresh_mart
    from hub.store import migrate
    from hub.store.db import make_engine
    from tests.dashboards.activity import fill_activity

    url = new_store_url(str(request.param))
    engine = make_engine(url)
    migrate.upgrade(engine)
    generate_city(engine, ACCOUNTS, SEED)
    fill_activity(engine)
    with engine.begin() as conn:
        refresh_mart(conn)
    yield Store(str(request.param), url, engine)
    engine.dispose()


@pytest.fixture(scope="session")
def users_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("users") / "users.toml"
    save_users(
        {
            "director": {
                "role": "management",
                "name": "Директор",
                "password": hash_password(PASSWORDS["director"], iterations=1000),
            },
            "operator": {
                "role": "operator",
                "password": hash_password(PASSWORDS["operator"], iterations=1000),
            },
            "vodokanal": {
                "role": "provider",
                "provider_inn": VODOKANAL_INN,
                "password": hash_password(PASSWORDS["vodokanal"], iterations=1000),
            },
        },
        path,
    )
    return path


def management() -> User:
    return User("director", "management", "Директор")


def operator() -> User:
    return User("operator", "operator")


def provider(store: Store, inn: str = VODOKANAL_INN) -> User:
    pid, name = store.rows("SELECT id, name FROM providers WHERE inn = :inn", inn=inn)[0]
    return User("vodokanal", "provider", provider_inn=inn, provider_id=int(pid), provider_name=str(name))


@pytest.fixture
def downloads(monkeypatch: pytest.MonkeyPatch) -> dict[str, bytes]:
    """File name → bytes of every download button rendered during the test."""
    from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage

    captured: dict[str, bytes] = {}
    original = MemoryMediaFileStorage.load_and_get_id

    def load_and_get_id(
        self: Any, path_or_data: Any, mimetype: str, kind: Any, filename: str | None = None
    ) -> str:
        if filename is not None and isinstance(path_or_data, bytes):
            captured[filename] = path_or_data
        return original(self, path_or_data, mimetype, kind, filename)

    monkeypatch.setattr(MemoryMediaFileStorage, "load_and_get_id", load_and_get_id)
    return captured


@pytest.fixture
def open_page(monkeypatch: pytest.MonkeyPatch, users_file: Path) -> Callable[..., Any]:
    """``open_page("money", store, user)`` → the AppTest after its first run (asserted exception-free)."""
    from streamlit.testing.v1 import AppTest

    def run(page: str, store: Store | Any, user: User | None) -> AppTest:
        monkeypatch.setenv("UNIPAY_DB_URL", store.url)
        monkeypatch.setenv("UNIPAY_USERS", str(users_file))
        at = AppTest.from_file(str(PAGES_DIR / f"{page}.py"), default_timeout=60)
        if user is not None:
            at.session_state["user"] = user
        at.run()
        assert_ok(at)
        return at

    return run


# ------------------------------------------------------------------------------------------------
# Reading a page
# ------------------------------------------------------------------------------------------------


def assert_ok(at: Any) -> None:
    assert not at.exception, [e.value for e in at.exception]


def metric(at: Any, label: str) -> str:
    found = [m.value for m in at.metric if m.label == label]
    assert found, f"no metric {label!r}; have {[m.label for m in at.metric]}"
    return str(found[0])


def metric_kop(at: Any, label: str) -> int:
    return parse_rub(metric(at, label))


def metric_int(at: Any, label: str) -> int:
    return int(metric(at, label).replace("\u00a0", "").replace(" ", ""))


def table(at: Any, column: str, nth: int = 0) -> pd.DataFrame:
    """The ``nth`` displayed table that has a column ``column``."""
    frames = [d.value for d in at.dataframe if column in d.value.columns]
    assert len(frames) > nth, (
        f"no table with column {column!r}; have {[list(d.value.columns) for d in at.dataframe]}"
    )
    return frames[nth]


def kop(series: pd.Series) -> int:
    """Σ of a ruble column of a displayed table, in kopecks (each cell rounded back to kopecks)."""
    return int(sum(round(float(v) * 100) for v in series.dropna()))


def texts(at: Any) -> str:
    """All the text of the page's messages (info, warning, error, success, caption, markdown)."""
    parts = [
        e.value
        for kind in ("info", "warning", "error", "success", "caption", "markdown", "subheader")
        for e in getattr(at, kind)
    ]
    return "\n".join(str(p) for p in parts)


def csv_frame(data: bytes) -> pd.DataFrame:
    import io

    return pd.read_csv(
        io.BytesIO(data), sep=";", decimal=",", encoding="utf-8-sig", dtype=str, keep_default_na=False
    )


def iso(d: dt.date) -> str:
    return d.isoformat()
