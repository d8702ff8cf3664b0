"""hub.orchestration without Airflow running: the built-in partners on local folders (no Connection
configured → the local-folder transport), the per-partner file loop, the period of a monthly run."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from hub import orchestration as orch
from tests.dags.conftest import PERIOD, SEED


def test_period_of_a_run() -> None:
    assert orch.period_of_run(None, dt.date(2026, 12, 1)) == 202611
    assert orch.period_of_run("", dt.date(2027, 1, 1)) == 202612
    assert orch.period_of_run("2026-11", dt.date(2027, 5, 1)) == 202611
    with pytest.raises(ValueError, match="ГГГГ-ММ"):
        orch.parse_period("2026-13")


@pytest.mark.parametrize("backend", ["sqlite"])
def test_local_folders_without_connections(store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    from connectors.transport import LocalTransport
    from hub.city.generate import generate_city
    from hub.city.partner_files import write_partner_files

    monkeypatch.delenv("UNIPAY_PARTNERS", raising=False)
    monkeypatch.chdir(tmp_path)  # no ./partners.toml here: the built-in partners
    monkeypatch.setenv("UNIPAY_EXCHANGE_DIR", str(tmp_path / "exchange"))
    monkeypatch.setenv("UNIPAY_WORK_DIR", str(tmp_path / "work"))
    for code in ("SBER", "POST_390000", "SZN_0612", "KVPL"):
        monkeypatch.delenv(f"AIRFLOW_CONN_{code}", raising=False)
    assert {k: orch.partner_codes(k) for k in orch.KINDS} == {
        "bank": ["SBER"],
        "post": ["POST_390000"],
        "szn": ["SZN_0612"],
        "legacy": ["KVPL"],
    }
    assert isinstance(orch.open_transport(orch.partner("SBER")), LocalTransport)
    generate_city(store, 200, SEED, PERIOD)
    paths = write_partner_files(store, tmp_path / "files", PERIOD, SEED)
    placed = orch.place_partner_files(paths)
    assert sorted(placed) == ["KVPL", "POST_390000", "SBER", "SZN_0612"]
    bad = tmp_path / "exchange" / "SBER" / "inbox" / "6234000011_40702810900000001234_20112026_001.txt"
    bad.write_bytes(b"garbage\r\n")
    today = dt.date(2026, 11, 30)
    summaries = {k: orch.run_ingest(k, engine=store, today=today) for k in ("legacy", "szn", "bank", "post")}
    assert [f["status"] for f in summaries["bank"].rejected] == ["rejected"]
    assert len(summaries["bank"].loaded) == 3 and "отклонено 1" in summaries["bank"].message
    sber = tmp_path / "exchange" / "SBER"
    assert sorted(p.name for p in (sber / "archive").iterdir()) == sorted(placed["SBER"])
    assert [p.name for p in (sber / "rejected").iterdir()] == [bad.name]
    assert (sber / "outbox" / f"{bad.name}.err.txt").is_file()
    assert not list((sber / "inbox").iterdir())
    again = orch.run_ingest("bank", engine=store, today=today)  # nothing left: nothing changes
    assert again.files == [] and again.message == "новых файлов нет"
