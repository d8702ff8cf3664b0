"""The DAGs themselves: they import, are documented, retried, owned, tagged and report failures to
``run_log``; bill_monthly's partitions equal the single call; the sensor waits (deferred) for files."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Mapping
from typing import Any

import pytest
from sqlalchemy import select

from hub import orchestration as orch
from hub.runlog import airflow_failure_callback
from hub.store import models as m
from tests.dags.conftest import DAGS, PERIOD, SEED, Center

DAG_IDS = {"ingest_bank", "ingest_post", "ingest_szn", "ingest_legacy", "settle_daily", "bill_monthly"}
LINE = (
    m.ChargeLine.account_id,
    m.ChargeLine.service_id,
    m.ChargeLine.kind,
    m.ChargeLine.component,
    m.ChargeLine.corrected_period,
    m.ChargeLine.reason_code,
    m.ChargeLine.amount_kop,
)


def test_every_dag_imports_and_is_complete(dagbag: Mapping[str, Any]) -> None:
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(DAGS))
    assert bag.import_errors == {}
    assert set(bag.dags) == DAG_IDS
    assert {p.stem for p in DAGS.glob("*.py")} == DAG_IDS  # one DAG per file, named after it
    for dag in bag.dags.values():
        assert dag.doc_md and len(dag.doc_md) > 200, dag.dag_id
        assert "unipay" in dag.tags, dag.dag_id
        assert dag.max_active_runs == 1 and not dag.catchup
        assert dag.on_failure_callback and dag.on_success_callback
        for t in dag.tasks:
            assert t.retries >= 1, (dag.dag_id, t.task_id)
            assert t.owner != "airflow", (dag.dag_id, t.task_id)
            callbacks = t.on_failure_callback
            callbacks = callbacks if isinstance(callbacks, list) else [callbacks]
            assert airflow_failure_callback in callbacks, (dag.dag_id, t.task_id)
    outlets = {d: [a.uri for t in bag.dags[d].tasks for a in t.outlets] for d in DAG_IDS}
    assert outlets["ingest_bank"] == outlets["ingest_post"] == ["unipay://store/payments"]
    assert outlets["ingest_szn"] == ["unipay://store/beneficiaries"]
    assert "unipay://store/charges" in outlets["bill_monthly"]


def _lines(engine: Any) -> list[tuple[Any, ...]]:
    with engine.connect() as conn:
        return sorted(tuple(r) for r in conn.execute(select(*LINE).where(m.ChargeLine.period == PERIOD)))


def test_bill_monthly_by_district_equals_the_single_call(center: Center, new_store_url) -> None:  # type: ignore[no-untyped-def]
    from hub.billing import bill_period, district_ids
    from hub.city.generate import generate_city
    from hub.store import migrate
    from hub.store.db import make_engine

    twin = make_engine(new_store_url(center.backend))
    try:
        migrate.upgrade(twin)
        generate_city(twin, 300, SEED, PERIOD)
        single = bill_period(twin, PERIOD)
        dr = center.run("bill_monthly", {"period": "2026-11"}, dt.datetime(2026, 12, 1, 3, tzinfo=dt.UTC))
        assert dr.state == "success"
        mapped = [ti for ti in dr.get_task_instances() if ti.task_id == "bill"]
        assert len(mapped) == len(district_ids(center.engine)) > 1
        assert all(str(ti.state) == "success" for ti in mapped)
        assert _lines(center.engine) == _lines(twin)
        assert orch.period_totals(center.engine, PERIOD) == orch.period_totals(twin, PERIOD)
        assert orch.period_totals(twin, PERIOD)["charged_kop"] == single.total_kop
        # the debts file went to the bank's outbox over SFTP; the period is closed
        assert [n for n in center.files("SBER", "outbox") if n.endswith("_1126.txt")]
        assert orch.period_status(center.engine, PERIOD) == "closed"
    finally:
        twin.dispose()


@pytest.mark.parametrize("backend", ["sqlite"])
def test_a_task_failure_lands_in_run_log(center: Center, monkeypatch: pytest.MonkeyPatch) -> None:
    """The bank's server presents a host key we did not pin: the sensor fails (not retried by the
    transport), the task fails after its retry, the failure callback writes ``run_log``."""
    bad_key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHKn2N/zn8WmDOQtSsRcBQ8XAqIN1MQELVNkmtnkkLwQ"
    monkeypatch.setenv(
        "AIRFLOW_CONN_SBER", center.server.airflow_conn(root=f"{center.sub}/SBER", host_key=bad_key)
    )
    dr = center.run("ingest_bank", {"wait_seconds": 0})
    assert dr.state == "failed"
    with center.engine.connect() as conn:
        rows = conn.execute(
            select(m.RunLog.task_id, m.RunLog.status, m.RunLog.message).where(
                m.RunLog.dag_id == "ingest_bank"
            )
        ).all()
    failed = [r for r in rows if r.status == "failed"]
    assert any(r.task_id == "wait_for_files[0]" and "HostKeyError" in r.message for r in failed), rows
    assert len(failed) >= 2, rows  # the task's record and the DAG run's own


@pytest.mark.parametrize("backend", ["sqlite"])
def test_the_sensor_defers_until_a_file_arrives(
    center: Center, partner_files: dict[str, list[Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Deferrable (``[operators] default_deferrable``): the wait runs in the trigger (dag.test runs it
    in line); a registry that appears a little later is picked up and loaded."""
    from airflow.dag_processing.dagbag import DagBag

    monkeypatch.setenv("AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE", "True")
    dag = DagBag(dag_folder=str(DAGS / "ingest_post.py")).dags["ingest_post"]
    assert dag.task_dict["wait_for_files"].partial_kwargs.get("deferrable") in (None, True)
    path = partner_files["POST_390000"][0]
    polls: list[int] = []
    real = orch.ready_files

    def counting(code: str) -> list[dict[str, Any]]:
        found = real(code)
        polls.append(len(found))
        return found

    monkeypatch.setattr(orch, "ready_files", counting)

    def later() -> None:  # the file comes after the sensor has looked once and deferred
        deadline = time.monotonic() + 60
        while not polls and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(1)
        center.put("POST_390000", path.name, path.read_bytes())

    writer = threading.Thread(target=later)
    writer.start()
    try:
        dr = dag.test(
            logical_date=dt.datetime(2026, 11, 30, 9, tzinfo=dt.UTC),
            run_conf={"wait_seconds": 60, "poke_seconds": 1},
        )
    finally:
        writer.join()
    assert dr.state == "success"
    assert polls[0] == 0 and polls[-1] == 1 and len(polls) >= 2, polls  # the trigger polled again
    assert center.files("POST_390000", "archive") == [path.name]
    with center.engine.connect() as conn:
        status = conn.execute(select(m.RegistryFile.status).where(m.RegistryFile.name == path.name)).scalar()
    assert status in ("loaded", "loaded_with_errors")
