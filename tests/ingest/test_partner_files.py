"""Partner files for a small synthetic city: deterministic, and they load back with the expected
statuses (a store of its own per backend: loading writes)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import select

from connectors.formats import bank, szn
from hub.city.generate import generate_city
from hub.city.partner_files import LEGACY_ACCOUNTS, UNKNOWN_ACCOUNT, write_partner_files
from hub.ingest import ingest_file
from hub.store import migrate
from hub.store import models as m
from hub.store.db import make_engine
from tests.ingest.helpers import count, snapshot, total

PERIOD = 202611
TODAY = dt.date(2026, 11, 30)


@pytest.fixture
def small_city(backend: str, new_store_url):  # type: ignore[no-untyped-def]
    engine = make_engine(new_store_url(backend))
    migrate.upgrade(engine)
    generate_city(engine, 150, 11, PERIOD)
    yield engine
    engine.dispose()


def test_partner_files_load_back(small_city, tmp_path: Path) -> None:
    paths = write_partner_files(small_city, tmp_path / "a", PERIOD, seed=5)
    again = write_partner_files(small_city, tmp_path / "b", PERIOD, seed=5)
    assert [p.name for p in paths] == [p.name for p in again]
    assert all(p.read_bytes() == q.read_bytes() for p, q in zip(paths, again, strict=True))
    kinds = [p.name.split("_")[0] for p in paths]
    assert kinds == ["6234000011"] * 3 + ["POST", "SZN", "LEGACY"]

    results = [ingest_file(small_city, p, today=TODAY) for p in paths]
    assert [r.source for r in results] == ["bank", "bank", "bank", "post", "szn", "legacy"]
    assert [r.status for r in results] == [
        "loaded_with_errors",  # an unknown account
        "loaded_with_errors",  # transfer + commission ≠ amount
        "loaded",
        "loaded",
        "loaded",
        "loaded",
    ]
    for r, p in zip(results[:3], paths[:3], strict=True):
        parsed = bank.parse(p, today=TODAY)
        parsed.consume()
        assert r.amount_loaded_kop + r.amount_unidentified_kop == parsed.control.amount  # type: ignore[union-attr]
        assert r.lines_loaded + r.lines_rejected == parsed.record_count
    assert results[0].lines_rejected == 1 and UNKNOWN_ACCOUNT in results[0].errors[0]["message"]
    assert results[1].errors[0]["field"] == "Сумма операции"
    assert sum(r.details.get("readings", 0) for r in results[:3]) > 0
    assert count(small_city, m.Payment, m.Payment.kind == "penalty") == 1
    assert count(small_city, m.Payment, m.Payment.unidentified.is_(True)) == 2
    assert total(small_city, m.Payment.amount_kop, m.Payment.unidentified.is_(True)) == sum(
        r.amount_unidentified_kop for r in results
    )
    # the beneficiaries list: every city beneficiary matched, the stranger not
    ben = szn.parse(paths[4], today=TODAY)
    records = list(ben)
    assert results[4].lines_loaded == len(records)
    with small_city.connect() as conn:
        unmatched = (
            conn.execute(select(m.Beneficiary.external_id).where(m.Beneficiary.account_id.is_(None)))
            .scalars()
            .all()
        )
        legacy = (
            conn.execute(
                select(m.Account.number)
                .where(m.Account.number.in_(LEGACY_ACCOUNTS))
                .order_by(m.Account.number)
            )
            .scalars()
            .all()
        )
    assert unmatched == ["999001"]
    assert results[4].details["matched"] == len(records) - 1
    assert legacy == list(LEGACY_ACCOUNTS)
    # loading everything again changes nothing
    before = snapshot(small_city)
    assert {ingest_file(small_city, p, today=TODAY).status for p in paths} == {"duplicate"}
    assert snapshot(small_city) == before
