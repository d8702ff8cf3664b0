"""The run log: what the DAGs (and long CLI runs) did, written to the store's ``run_log`` table so the
dashboards can show last runs and failures.

``record(...)`` is a context manager around a unit of work; ``airflow_failure_callback`` and
``airflow_success_callback`` take an Airflow callback context (a mapping) and need no Airflow import.
"""

from __future__ import annotations

import datetime as dt
import traceback
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, insert, select, update

from hub.store import models as m
from hub.store.db import get_engine


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def start(engine: Engine, dag_id: str, run_id: str, task_id: str = "", message: str = "") -> int:
    values = dict(
        dag_id=dag_id, run_id=run_id, task_id=task_id, status="running", started_at=_now(), message=message
    )
    with engine.begin() as conn:
        key = conn.execute(insert(m.RunLog).values(**values)).inserted_primary_key
    assert key is not None
    return int(key[0])


def finish(
    engine: Engine, entry_id: int, status: str, message: str = "", details: dict[str, Any] | None = None
) -> None:
    with engine.begin() as conn:
        conn.execute(
            update(m.RunLog)
            .where(m.RunLog.id == entry_id)
            .values(status=status, finished_at=_now(), message=message[:4000], details=details)
        )


@contextmanager
def record(
    dag_id: str, run_id: str, task_id: str = "", engine: Engine | None = None
) -> Iterator[dict[str, Any]]:
    """Log a unit of work: ``running`` → ``success`` (with the details the body put in the dict) or
    ``failed`` (with the error); the error is re-raised."""
    eng = engine or get_engine()
    entry = start(eng, dag_id, run_id, task_id)
    details: dict[str, Any] = {}
    try:
        yield details
    except BaseException as exc:
        finish(
            eng,
            entry,
            "failed",
            f"{type(exc).__name__}: {exc}",
            {**details, "traceback": traceback.format_exc()},
        )
        raise
    finish(eng, entry, "success", str(details.pop("message", "")), details or None)


def _ids(context: Mapping[str, Any]) -> tuple[str, str, str]:
    ti = context.get("task_instance") or context.get("ti")
    dag_id = getattr(ti, "dag_id", None) or str(getattr(context.get("dag"), "dag_id", ""))
    run_id = getattr(ti, "run_id", None) or str(context.get("run_id", ""))
    task_id = getattr(ti, "task_id", "") or ""
    map_index = getattr(ti, "map_index", -1)
    if map_index is not None and map_index >= 0:
        task_id = f"{task_id}[{map_index}]"
    return dag_id, run_id, task_id


def airflow_failure_callback(context: Mapping[str, Any]) -> None:
    """``on_failure_callback`` of every unipay task: a clear ``failed`` record in ``run_log``."""
    dag_id, run_id, task_id = _ids(context)
    exc = context.get("exception")
    message = f"{type(exc).__name__}: {exc}" if exc is not None else "задача завершилась с ошибкой"
    eng = get_engine()
    entry = start(eng, dag_id, run_id, task_id)
    finish(eng, entry, "failed", message, {"try_number": getattr(context.get("ti"), "try_number", None)})


def airflow_success_callback(context: Mapping[str, Any]) -> None:
    """``on_success_callback`` of a DAG run: one ``success`` record for the run."""
    dag_id, run_id, _ = _ids(context)
    eng = get_engine()
    entry = start(eng, dag_id, run_id, "")
    finish(eng, entry, "success", "запуск завершён успешно")


def last_runs(engine: Engine, limit: int = 50) -> list[m.RunLog]:
    from sqlalchemy.orm import Session

    with Session(engine) as s:
        return list(
            s.scalars(select(m.RunLog).order_by(m.RunLog.started_at.desc(), m.RunLog.id.desc()).limit(limit))
        )
