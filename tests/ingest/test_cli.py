"""The ``ingest`` command: the ``--json`` contract (stdout holds JSON lines only) and exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hub.ingest.cli import app
from tests.ingest.helpers import BANK, LEGACY, POST, sample

KEYS = {
    "file",
    "source",
    "status",
    "lines_loaded",
    "lines_rejected",
    "amount_loaded_kop",
    "amount_unidentified_kop",
    "errors",
}


@pytest.fixture
def run(store, monkeypatch):  # type: ignore[no-untyped-def]
    url = store.url.render_as_string(hide_password=False)
    monkeypatch.setenv("UNIPAY_DB_URL", url)
    runner = CliRunner()

    def invoke(*args: str):  # type: ignore[no-untyped-def]
        return runner.invoke(app, list(args), catch_exceptions=False)

    return invoke


def _lines(stdout: str) -> list[dict]:  # type: ignore[type-arg]
    return [json.loads(line) for line in stdout.splitlines()]


def test_json_contract_and_exit_codes(run, tmp_path: Path) -> None:
    legacy, bank_file = sample(tmp_path, LEGACY), sample(tmp_path, BANK)
    res = run("ingest", str(legacy), "--json")
    assert res.exit_code == 0
    (doc,) = _lines(res.stdout)
    assert set(doc) == KEYS and doc["status"] == "loaded" and doc["source"] == "legacy"
    res = run("ingest", "--json", str(bank_file), str(legacy))
    assert res.exit_code == 2  # bank: loaded with a rejected line; legacy: duplicate (counts as loaded)
    first, second = _lines(res.stdout)
    assert first == {
        "file": BANK,
        "source": "bank",
        "status": "loaded_with_errors",
        "lines_loaded": 2,
        "lines_rejected": 1,
        "amount_loaded_kop": 379_000,
        "amount_unidentified_kop": 33_000,
        "errors": [first["errors"][0]],
    }
    assert first["errors"][0]["line"] == 3 and first["errors"][0]["field"] == "Лицевой счёт"
    assert set(first["errors"][0]) == {"line", "field", "message"}
    assert second["status"] == "duplicate" and second["errors"] == []
    assert (tmp_path / f"{BANK}.err.txt").exists()


def test_rejected_file_beats_loaded_with_errors(run, tmp_path: Path) -> None:
    broken = sample(tmp_path, BANK)
    broken.write_bytes(broken.read_bytes().replace(b"=3;4120,00;", b"=3;4120,01;"))
    post = sample(tmp_path, POST)
    res = run("ingest", str(post), str(broken), "--json")
    assert res.exit_code == 1
    statuses = [d["status"] for d in _lines(res.stdout)]
    assert statuses == ["loaded_with_errors", "rejected"]


def test_table_output_and_bad_input(run, tmp_path: Path) -> None:
    res = run("ingest", str(sample(tmp_path, LEGACY)))
    assert res.exit_code == 0 and "465,91" in res.stdout  # the migrated balances
    res = run("ingest", str(tmp_path / "missing.txt"), "--json")
    assert res.exit_code == 1
    (doc,) = _lines(res.stdout)
    assert doc["status"] == "rejected" and "не найден" in doc["errors"][0]["message"]
    res = run("ingest", str(tmp_path / "x.txt"), "--source", "fax")
    assert res.exit_code == 1


def test_module_entry_point(store, tmp_path: Path) -> None:
    env = {**os.environ, "UNIPAY_DB_URL": store.url.render_as_string(hide_password=False)}
    proc = subprocess.run(
        [sys.executable, "-m", "hub.ingest.cli", "ingest", "--json", str(sample(tmp_path, BANK))],
        capture_output=True,
        text=True,
        env=env,
        cwd=Path(__file__).resolve().parents[2],
        timeout=120,
    )
    assert proc.returncode == 2, proc.stderr
    (doc,) = _lines(proc.stdout)
    assert doc["amount_unidentified_kop"] == 412_000 and doc["lines_rejected"] == 3
