"""Fixtures of the DAG tests: Airflow's metadata DB (SQLite, migrated once), the DagBag of ``dags/``,
a real sshd, and ``center``: a fresh synthetic city in a fresh store (SQLite and PostgreSQL) whose
partners (a bank, a post office, a social protection office, a legacy system) and providers are
reached over SFTP through ``AIRFLOW_CONN_*`` Connections, each in its own folder of the server.
"""

from __future__ import annotations

import datetime as dt
import os
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Set before the DagBag parses the DAGs: a failing task must not wait 5 minutes for its retry.
os.environ["UNIPAY_DAG_RETRIES"] = "1"
os.environ["UNIPAY_DAG_RETRY_DELAY"] = "1"

import pytest  # noqa: E402
from sqlalchemy import Engine  # noqa: E402

from tests.sshd import SshdServer, sshd_server  # noqa: E402,F401

REPO = Path(__file__).resolve().parents[2]
DAGS = REPO / "dags"
PERIOD = 202611
ACCOUNTS = 300
SEED = 7
#: the partners of the test center: code → kind
PARTNERS = {"SBER": "bank", "POST_390000": "post", "SZN_0612": "szn", "KVPL": "legacy"}
SENDERS = {"SBER": "SBER", "POST_390000": "POST:390000", "SZN_0612": "SZN:0612", "KVPL": "LEGACY:KVPL"}
#: runs happen at the end of the period (the partner files' dates lie before it)
MONTH_END = dt.datetime(2026, 11, 30, 9, 0, tzinfo=dt.UTC)


#: Airflow's own warnings (its in-process Execution API imports starlette's test client)
AIRFLOW_WARNINGS = ("ignore::starlette.exceptions.StarletteDeprecationWarning",)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "cluster: starts a multi-process Airflow deployment")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            for flt in AIRFLOW_WARNINGS:
                item.add_marker(pytest.mark.filterwarnings(flt))


@pytest.fixture(scope="session")
def airflow_db() -> None:
    """Airflow's metadata DB (the SQLite file of the session's AIRFLOW_HOME), created once."""
    from airflow.utils import db

    db.resetdb()


@pytest.fixture(scope="session")
def dagbag(airflow_db: None) -> Mapping[str, Any]:
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(DAGS))
    assert not bag.import_errors, bag.import_errors
    return bag.dags


def partners_toml(settle_seconds: int = 0) -> str:
    lines = ["version = 1", "", "[defaults]", f"settle_seconds = {settle_seconds}", ""]
    for code, kind in PARTNERS.items():
        lines += [
            f"[partners.{code}]",
            f'kind = "{kind}"',
            'transport = "sftp"',
            f'sender = "{SENDERS[code]}"',
            "",
        ]
    return "\n".join(lines)


@dataclass
class Center:
    """The test center: its store, its SFTP area and helpers to run DAGs and look at the results."""

    backend: str
    url: str
    engine: Engine
    server: SshdServer
    sub: str
    tmp: Path
    dags: Mapping[str, Any]

    @property
    def area(self) -> Path:
        """The test's folder on the SFTP server (one sub-folder per partner and ``providers``)."""
        return self.server.root / self.sub

    def put(self, code: str, name: str, data: bytes) -> Path:
        return self.server.write(f"{self.sub}/{code}/inbox/{name}", data)

    def files(self, code: str, folder: str) -> list[str]:
        path = self.area / code / folder
        return sorted(p.name for p in path.iterdir() if p.is_file()) if path.is_dir() else []

    def listing(self) -> list[tuple[str, int]]:
        """Every file on the test's SFTP area with its size."""
        return sorted(
            (str(p.relative_to(self.area)), p.stat().st_size) for p in self.area.rglob("*") if p.is_file()
        )

    def run(self, dag_id: str, conf: Mapping[str, Any] | None = None, when: dt.datetime = MONTH_END) -> Any:
        dr = self.dags[dag_id].test(logical_date=when, run_conf=dict(conf or {}))
        return dr


@pytest.fixture
def center(
    backend: str,
    new_store_url,  # type: ignore[no-untyped-def]
    sshd_server: SshdServer,  # noqa: F811
    dagbag: Mapping[str, Any],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Center]:
    from hub.city.generate import generate_city
    from hub.store import db, migrate

    url = new_store_url(backend)
    engine = db.make_engine(url)
    migrate.upgrade(engine)
    generate_city(engine, ACCOUNTS, SEED, PERIOD)
    sub = f"t_{uuid.uuid4().hex[:10]}"
    for code in PARTNERS:
        for folder in ("inbox", "archive", "outbox"):
            sshd_server.mkdir(f"{sub}/{code}/{folder}")
    sshd_server.mkdir(f"{sub}/providers")
    partners = tmp_path / "partners.toml"
    partners.write_text(partners_toml(), encoding="utf-8")
    monkeypatch.setenv("UNIPAY_DB_URL", url)
    monkeypatch.setenv("UNIPAY_PARTNERS", str(partners))
    monkeypatch.setenv("UNIPAY_WORK_DIR", str(tmp_path / "work"))
    monkeypatch.setenv("UNIPAY_EXCHANGE_DIR", str(tmp_path / "exchange"))
    for code in PARTNERS:
        monkeypatch.setenv(f"AIRFLOW_CONN_{code}", sshd_server.airflow_conn(root=f"{sub}/{code}"))
    monkeypatch.setenv("AIRFLOW_CONN_PROVIDERS", sshd_server.airflow_conn(root=f"{sub}/providers"))
    try:
        yield Center(backend, url, engine, sshd_server, sub, tmp_path, dagbag)
    finally:
        engine.dispose()
        db.get_engine(url).dispose()  # the cached engine the DAG tasks used
        db._cached_engine.cache_clear()


@pytest.fixture
def partner_files(center: Center, tmp_path: Path) -> dict[str, list[Path]]:
    """The month's partner files of the city (hub.city.partner_files), by partner code."""
    from connectors.formats import SourceKind, sniff
    from hub.city.partner_files import write_partner_files

    kinds = {
        SourceKind.BANK: "SBER",
        SourceKind.POST: "POST_390000",
        SourceKind.SZN: "SZN_0612",
        SourceKind.LEGACY: "KVPL",
    }
    out: dict[str, list[Path]] = {}
    for path in write_partner_files(center.engine, tmp_path / "partner_files", PERIOD, SEED):
        out.setdefault(kinds[sniff(path, path.name)], []).append(path)
    return out
