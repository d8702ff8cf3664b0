"""A month through the DAGs under ``dag.test()``, against a real sshd and the store (SQLite and
PostgreSQL): partner files (and one bad file) in the inboxes → the four ingest DAGs → bill_monthly →
settle_daily for every payment day (the demo settles before billing; both orders work). Every DAG
runs twice for the same date; the second run must leave the store totals and the SFTP listing
exactly as the first left them.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Engine, func, select

from hub import orchestration as orch
from hub.store import models as m
from tests.dags.conftest import MONTH_END, PERIOD, Center

BAD_NAME = "6234000011_40702810900000001234_20112026_001.txt"  # a bank registry name, broken content
BAD_BYTES = "это не реестр\r\nсовсем не реестр\r\n".encode("cp1251")


def snapshot(engine: Engine) -> dict[str, Any]:
    """Counts and money totals of everything the DAGs write (run_log aside)."""
    out: dict[str, Any] = {}
    tables = {
        "payments": (m.Payment, m.Payment.amount_kop),
        "allocations": (m.PaymentAllocation, m.PaymentAllocation.amount_kop),
        "transfers": (m.ProviderTransfer, m.ProviderTransfer.net_kop),
        "charge_lines": (m.ChargeLine, m.ChargeLine.amount_kop),
        "balances": (m.AccountBalance, m.AccountBalance.closing_kop),
        "provider_balances": (m.ProviderBalance, m.ProviderBalance.closing_kop),
        "registry_files": (m.RegistryFile, m.RegistryFile.amount_loaded_kop),
        "registry_errors": (m.RegistryError, None),
        "beneficiaries": (m.Beneficiary, None),
        "accounts": (m.Account, None),
        "meter_readings": (m.MeterReading, None),
        "export_log": (m.ExportLog, m.ExportLog.total_kop),
    }
    with engine.connect() as conn:
        for name, (model, money) in tables.items():
            count = conn.execute(select(func.count()).select_from(model)).scalar_one()
            total = (
                conn.execute(select(func.coalesce(func.sum(money), 0))).scalar_one()
                if money is not None
                else 0
            )
            out[name] = (int(count), int(total))
        out["periods"] = sorted(conn.execute(select(m.BillingPeriod.period, m.BillingPeriod.status)).all())
        out["payment_status"] = sorted(
            conn.execute(select(m.Payment.status, func.count()).group_by(m.Payment.status)).all()
        )
    return out


def run_twice(
    center: Center, dag_id: str, conf: dict[str, Any], when: dt.datetime = MONTH_END
) -> dict[str, str]:
    """Run ``dag_id`` twice for the same date; both runs succeed and the second changes nothing.
    Returns the task states of the first run."""
    first = center.run(dag_id, conf, when)
    states = task_states(first)
    assert first.state == "success", (dag_id, states)
    store, files = snapshot(center.engine), center.listing()
    second = center.run(dag_id, conf, when)
    assert second.state == "success", (dag_id, task_states(second))
    assert snapshot(center.engine) == store, dag_id
    assert center.listing() == files, dag_id
    return states


def task_states(dr: Any) -> dict[str, str]:
    return {
        f"{ti.task_id}[{ti.map_index}]" if ti.map_index >= 0 else ti.task_id: str(ti.state)
        for ti in dr.get_task_instances()
    }


def runs(engine: Engine, dag_id: str) -> list[Any]:
    with engine.connect() as conn:
        return list(
            conn.execute(
                select(m.RunLog.task_id, m.RunLog.status, m.RunLog.message, m.RunLog.details)
                .where(m.RunLog.dag_id == dag_id)
                .order_by(m.RunLog.id)
            ).all()
        )


def test_a_month_through_the_dags(center: Center, partner_files: dict[str, list[Any]]) -> None:
    for code, paths in partner_files.items():
        for path in paths:
            center.put(code, path.name, path.read_bytes())
    center.put("SBER", BAD_NAME, BAD_BYTES)
    bank_names = sorted(p.name for p in partner_files["SBER"])

    # -- ingest: legacy accounts first, then beneficiaries, then payments -------------------------
    for kind in ("legacy", "szn", "bank", "post"):
        states = run_twice(center, f"ingest_{kind}", {"wait_seconds": 0})
        assert states["report"] == "success", states
    for code in ("SBER", "POST_390000", "SZN_0612", "KVPL"):
        assert center.files(code, "inbox") == [], code
        assert center.files(code, "archive") == sorted(p.name for p in partner_files[code]), code
    # the bad file: rejected, its protocol in the bank's outbox, the good files beside it loaded
    assert center.files("SBER", "rejected") == [BAD_NAME]
    outbox = center.files("SBER", "outbox")
    assert BAD_NAME + ".err.txt" in outbox
    protocol = (center.area / "SBER" / "outbox" / (BAD_NAME + ".err.txt")).read_bytes().decode("cp1251")
    assert BAD_NAME in protocol
    with center.engine.connect() as conn:
        files = dict(conn.execute(select(m.RegistryFile.name, m.RegistryFile.status)).all())
        paid = conn.execute(
            select(func.count(), func.sum(m.Payment.amount_kop)).where(m.Payment.unidentified.is_(False))
        ).one()
        legacy_accounts = conn.execute(
            select(func.count()).where(m.Account.number.like("77000000%"))
        ).scalar_one()
        beneficiaries = conn.execute(
            select(func.count()).select_from(m.Beneficiary).where(m.Beneficiary.account_id.is_not(None))
        ).scalar_one()
    assert files[BAD_NAME] == "rejected"
    assert all(files[n] in ("loaded", "loaded_with_errors") for n in bank_names)
    assert paid[0] > 50 and paid[1] > 0
    assert legacy_accounts == 5 and beneficiaries > 0
    report = [r for r in runs(center.engine, "ingest_bank") if r.task_id == "report"][0]
    assert report.status == "success"
    assert "отклонено 1" in report.message and BAD_NAME in report.message
    assert report.details["rejected"] == 1 and report.details["loaded"] == len(bank_names)
    rejected_load = [
        r
        for r in runs(center.engine, "ingest_bank")
        if r.task_id.startswith("load") and BAD_NAME in r.message
    ]
    assert rejected_load and "отклонён" in rejected_load[0].message

    # -- the month: billing by district, exports, close ---------------------------------------
    states = run_twice(
        center, "bill_monthly", {"period": "2026-11"}, dt.datetime(2026, 12, 1, 3, tzinfo=dt.UTC)
    )
    from hub.billing import district_ids

    n_districts = len(district_ids(center.engine))
    assert sum(1 for k in states if k.startswith("bill[")) == n_districts >= 6
    assert set(states.values()) == {"success"}, states
    assert orch.period_status(center.engine, PERIOD) == "closed"
    assert orch.period_status(center.engine, 202612) == "open"
    totals = orch.period_totals(center.engine, PERIOD)
    assert totals["lines"] > 0 and totals["charged_kop"] > 0 and totals["balance_rows"] > 0
    debts = [n for n in center.files("SBER", "outbox") if n.endswith("_1126.txt")]
    assert len(debts) == 1
    assert center.files("SZN_0612", "outbox") == ["SZN_CHG_0612_202611_001.xml"]
    bill_log = runs(center.engine, "bill_monthly")
    assert (
        sum(1 for r in bill_log if r.task_id.startswith("bill[") and r.status == "success") == 2 * n_districts
    )
    assert any(r.task_id == "" and r.status == "success" for r in bill_log)  # the DAG run's own record

    # -- settlement: every payment day, transfer registries to the providers ------------------
    with center.engine.connect() as conn:
        days = sorted(set(conn.scalars(select(m.Payment.op_date).where(m.Payment.status == "new"))))
    assert len(days) >= 3
    for day in days:
        run_twice(center, "settle_daily", {"day": day.isoformat()})
    with center.engine.connect() as conn:
        left = conn.execute(
            select(func.count()).where(m.Payment.status == "new", m.Payment.unidentified.is_(False))
        ).scalar_one()
        transfers = conn.execute(
            select(m.Provider.code, m.ProviderTransfer.file_name)
            .join(m.Provider)
            .order_by(m.ProviderTransfer.id)
        ).all()
    assert left == 0 and transfers
    for code, name in transfers:
        assert (center.area / "providers" / code / "outbox" / name).is_file(), (code, name)
