"""The cluster demo: PostgreSQL metadata and store, a broker, api-server, scheduler, dag-processor and
two Celery workers on this machine; bill_monthly's mapped tasks run on both workers and give what
``unipay bill`` gives. Every process the demo started is gone afterwards, also when it fails."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.dags.conftest import REPO
from tests.pgserver import PgServer

pytestmark = pytest.mark.cluster


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}").exists() and "zombie" not in Path(f"/proc/{pid}/status").read_text().lower()


def test_cluster_demo(pg_server: PgServer, tmp_path: Path) -> None:
    summary = tmp_path / "summary.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "UNIPAY_"))}
    proc = subprocess.Popen(
        [
            sys.executable,
            str(REPO / "scripts" / "cluster_demo.py"),
            "--accounts",
            "300",
            "--timeout",
            "240",
            "--pg-url",
            pg_server.base_url,
            "--json",
            str(summary),
            "--workdir",
            str(tmp_path / "work"),
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=REPO,
    )
    try:
        out, _ = proc.communicate(timeout=420)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGTERM)  # the demo stops everything it started on SIGTERM
        out, _ = proc.communicate(timeout=60)
        pytest.fail(f"cluster demo timed out:\n{out[-6000:]}")
    result = json.loads(summary.read_text())
    leftovers = [pid for pid in result["pids"] if alive(pid)]
    assert not leftovers, f"processes left running: {leftovers}"
    assert not (tmp_path / "work").exists()
    assert proc.returncode == 0, out[-8000:]
    assert result["ok"] and result["state"] == "success"
    assert set(result["bill_tasks_by_worker"]) == {"worker-a", "worker-b"}, result["bill_tasks_by_worker"]
    assert result["lines_equal"] and result["lines"] > 0
    assert result["totals_dag"] == result["totals_single_call"]
