"""Fixtures of the robustness tests: one real OpenSSH server for the module's SFTP tests, and a store
(SQLite and PostgreSQL, from the session's ``store`` fixture) holding a small generated city."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from sqlalchemy import Engine

from tests.robustness.helpers import make_city
from tests.sshd import SshdServer, start_sshd


@pytest.fixture(scope="session")
def robust_sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SshdServer]:
    with start_sshd(tmp_path_factory.mktemp("robust_sshd")) as server:
        yield server


@dataclass
class CityStore:
    engine: Engine
    accounts: list[str]


@pytest.fixture
def city_store(store: Engine) -> CityStore:
    """A fresh store on each backend with a 200-account city in it (no payments yet)."""
    return CityStore(store, make_city(store))


@pytest.fixture
def sftp_area(robust_sshd: SshdServer) -> str:
    """A fresh sub-folder (with inbox/archive/outbox) of the shared server's root."""
    sub = f"case_{uuid.uuid4().hex[:10]}"
    for folder in ("inbox", "archive", "outbox"):
        robust_sshd.mkdir(f"{sub}/{folder}")
    return sub
