"""The `unipay` CLI as a user runs it: a real process, the store chosen by UNIPAY_DB_URL."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select

from hub.store import models as m
from hub.store.db import make_engine

UNIPAY = str(Path(sys.executable).parent / "unipay")


def run(args: list[str], env_extra: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "120", **env_extra}
    return subprocess.run([UNIPAY, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=300)


def test_help_lists_only_working_commands(tmp_path: Path) -> None:
    res = run(["--help"], {}, tmp_path)
    assert res.returncode == 0
    for cmd in ("db", "generate", "demo", "status"):
        assert cmd in res.stdout


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_upgrade_generate_status(backend: str, new_store_url, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    url = new_store_url(backend)
    env = {"UNIPAY_DB_URL": url}
    res = run(["db", "upgrade"], env, tmp_path)
    assert res.returncode == 0, res.stderr
    from alembic.script import ScriptDirectory

    from hub.store import migrate

    head = ScriptDirectory.from_config(migrate.alembic_config(url)).get_current_head()
    assert "services" in res.stdout and f"схема {head}" in res.stdout
    res = run(["db", "upgrade"], env, tmp_path)
    assert "добавлять нечего" in res.stdout
    res = run(["db", "check"], env, tmp_path)
    assert res.returncode == 0, res.stderr
    res = run(["generate", "--accounts", "120", "--seed", "3"], env, tmp_path)
    assert res.returncode == 0, res.stderr
    assert "accounts" in res.stdout
    engine = make_engine(url)
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(m.Account)).scalar_one() == 120
    engine.dispose()
    res = run(["generate", "--accounts", "120"], env, tmp_path)
    assert res.returncode == 1 and "уже есть лицевые счета" in res.stderr
    res = run(["status"], env, tmp_path)
    assert res.returncode == 0 and "120" in res.stdout


def test_default_store_is_sqlite_under_var(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "UNIPAY_DB_URL"}
    res = subprocess.run(
        [UNIPAY, "demo", "--accounts", "60"],
        env={**env, "COLUMNS": "120"},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert res.returncode == 0, res.stderr
    assert (tmp_path / "var" / "unipay.db").exists()
    assert "Лицевых счетов" in res.stdout


def test_bad_config_names_file_and_key(tmp_path: Path) -> None:
    cfg = tmp_path / "unipay.toml"
    cfg.write_text('[center]\ninn = "12345"\n', encoding="utf-8")
    res = run(["status"], {"UNIPAY_CONFIG": str(cfg)}, tmp_path)
    assert res.returncode == 2
    assert "unipay.toml" in res.stderr and "[center].inn" in res.stderr


def test_bad_period_is_explained(tmp_path: Path) -> None:
    res = run(["generate", "--period", "11-2026"], {"UNIPAY_DB_URL": f"sqlite:///{tmp_path}/x.db"}, tmp_path)
    assert res.returncode == 2
    assert "ГГГГ-ММ" in res.stderr
