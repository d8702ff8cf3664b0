"""An ingest process killed with SIGKILL in the middle of its transaction (rows of the file already
written, not committed) leaves the store as it was; the next run loads the file fully. The ingest runs
in a subprocess (``tests/robustness/ingest_driver.py``) that stalls after N batches; the store is then
checked with a fresh connection. On SQLite and PostgreSQL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import text

from hub.ingest import ingest_file
from hub.store.db import make_engine
from tests.robustness.conftest import CityStore
from tests.robustness.helpers import TODAY, totals, write_bank

ROOT = Path(__file__).resolve().parents[2]
NAME = "6234000011_40702810900000001234_10112026_001.txt"
LINES = 25_000  # two batches of payments (hub.ingest.payments.FAST_BATCH = 20,000)


def _idle_in_transaction(engine_url: str, dbname: str) -> int:
    eng = make_engine(engine_url)
    try:
        with eng.connect() as conn:
            return int(
                conn.execute(
                    text(
                        "SELECT count(*) FROM pg_stat_activity WHERE datname = :d "
                        "AND state = 'idle in transaction' AND pid <> pg_backend_pid()"
                    ),
                    {"d": dbname},
                ).scalar_one()
            )
    finally:
        eng.dispose()


def test_sigkill_inside_the_transaction_leaves_the_store_unchanged(
    city_store: CityStore, tmp_path: Path
) -> None:
    engine = city_store.engine
    url = engine.url.render_as_string(hide_password=False)
    path = tmp_path / NAME
    control = write_bank(path, city_store.accounts, LINES)
    before = totals(engine)
    engine.dispose()  # the driver must be the only one at work
    marker = tmp_path / "stalled"
    env = {
        **os.environ,
        "UNIPAY_TEST_STALL_AFTER": "1",
        "UNIPAY_TEST_STALL_MARKER": str(marker),
        "PYTHONPATH": str(ROOT),
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.robustness.ingest_driver", url, str(path), TODAY.isoformat()],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while not marker.exists():
            if proc.poll() is not None:
                out, err = proc.communicate()
                pytest.fail(f"driver ended before stalling (rc={proc.returncode}): {out}\n{err[-3000:]}")
            if time.monotonic() > deadline:
                pytest.fail("driver did not reach the stall point in 120 s")
            time.sleep(0.05)
        inside = int(marker.read_text())  # a batch of payments written inside the open transaction
        assert 0 < inside < LINES
        if engine.dialect.name == "postgresql":
            assert _idle_in_transaction(url, engine.url.database or "") == 1
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(30)
        proc.communicate()
    assert proc.returncode == -signal.SIGKILL

    fresh = make_engine(url)
    try:
        if fresh.dialect.name == "postgresql":  # the server ends the dead client's backend
            deadline = time.monotonic() + 30
            while _idle_in_transaction(url, fresh.url.database or "") and time.monotonic() < deadline:
                time.sleep(0.1)
        assert totals(fresh) == before
        r = ingest_file(fresh, path, sender="SBER", today=TODAY)
        assert (r.status, r.lines_loaded, r.lines_rejected) == ("loaded", LINES, 0)
        assert r.amount_loaded_kop == control
        after = totals(fresh)
        assert after["payments"] == before["payments"] + LINES
        assert after["payments_kop"] == before["payments_kop"] + control
        assert after["registry_files"] == before["registry_files"] + 1
    finally:
        fresh.dispose()
