"""The run log records successes with details and failures with the error, on both backends."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine

from hub import runlog


def test_record_success_and_failure(store: Engine) -> None:
    with runlog.record("settle_daily", "manual__2026-11-30", "split", engine=store) as details:
        details["payments"] = 12
        details["message"] = "разнесено 12 платежей"
    with pytest.raises(ZeroDivisionError), runlog.record("bill_monthly", "r2", "bill", engine=store):
        1 / 0  # noqa: B018
    runs = runlog.last_runs(store)
    assert [(r.dag_id, r.status) for r in runs] == [("bill_monthly", "failed"), ("settle_daily", "success")]
    failed, ok = runs
    assert "ZeroDivisionError" in failed.message and "traceback" in (failed.details or {})
    assert ok.message == "разнесено 12 платежей" and ok.details == {"payments": 12}
    assert ok.finished_at is not None and ok.finished_at >= ok.started_at


def test_airflow_failure_callback_without_airflow(store: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    class TI:
        dag_id, run_id, task_id, map_index, try_number = "ingest_sber", "scheduled__x", "load", 2, 3

    monkeypatch.setattr(runlog, "get_engine", lambda: store)
    runlog.airflow_failure_callback(
        {"ti": TI(), "exception": ValueError("файл x.txt, строка 3: неверная сумма")}
    )
    (entry,) = runlog.last_runs(store)
    assert (entry.dag_id, entry.task_id, entry.status) == ("ingest_sber", "load[2]", "failed")
    assert "строка 3" in entry.message and entry.details == {"try_number": 3}
