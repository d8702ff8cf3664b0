"""Every format sample loads into a fresh store with exactly the expected counts and sums, on
SQLite and PostgreSQL; duplicates, broken totals and store checks behave as the contract says."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from connectors.formats import bank
from connectors.formats.protocol import parse_protocol
from hub.ingest import IngestError, ingest_file
from hub.store import models as m
from tests.ingest.helpers import BANK, LEGACY, POST, SZN_BEN, TODAY, count, sample, snapshot, total


def load(store, path: Path, **kw):  # type: ignore[no-untyped-def]
    kw.setdefault("today", TODAY)
    return ingest_file(store, path, **kw)


def protocol(path: Path):  # type: ignore[no-untyped-def]
    return parse_protocol(Path(str(path) + ".err.txt").read_bytes())


def test_bank_sample_into_empty_store_is_held_unidentified(store, tmp_path: Path) -> None:
    r = load(store, sample(tmp_path, BANK))
    assert r.source == "bank" and r.sender == "BANK:8606"
    assert r.status == "loaded_with_errors" and r.exit_code == 2
    assert (r.lines_loaded, r.lines_rejected) == (0, 3)
    assert (r.amount_loaded_kop, r.amount_unidentified_kop) == (0, 412_000)
    assert count(store, m.Payment) == 3
    assert count(store, m.Payment, m.Payment.unidentified.is_(True), m.Payment.account_id.is_(None)) == 3
    assert count(store, m.Payment, m.Payment.status == "unidentified") == 3
    assert total(store, m.Payment.amount_kop) == 412_000
    assert total(store, m.Payment.commission_kop) == 8_240
    assert count(store, m.MeterReading) == 0  # readings of unidentified payments are dropped
    with Session(store) as conn:
        rf = conn.execute(select(m.RegistryFile)).scalars().one()
        codes = conn.execute(select(m.RegistryError.code).order_by(m.RegistryError.line_no)).scalars().all()
    assert (rf.status, rf.lines_total, rf.lines_loaded, rf.lines_rejected) == ("loaded_with_errors", 3, 0, 3)
    assert (rf.control_sum_kop, rf.amount_unidentified_kop, rf.order_number) == (412_000, 412_000, "654351")
    assert rf.order_date == dt.date(2025, 3, 14) and rf.sha256 and rf.error_protocol
    assert codes == ["L101", "L101", "L101"]
    rows, summary = protocol(tmp_path / BANK)
    assert [(x.line_no, x.field, x.code) for x in rows] == [(n, "Лицевой счёт", "L101") for n in (1, 2, 3)]
    assert "1000123456" in rows[0].message and "строка 1" in rows[0].message
    assert rows[2].source.startswith("14-03-2025;16-07-30;8606/00056")
    assert (summary.problems, summary.accepted_lines, summary.accepted_kop) == (3, 0, 0)
    assert [e["line"] for e in r.errors] == [1, 2, 3]


def test_legacy_sample_migrates_a_full_store(store, tmp_path: Path) -> None:
    r = load(store, sample(tmp_path, LEGACY))
    assert (r.source, r.status, r.exit_code) == ("legacy", "loaded", 0)
    assert (r.lines_loaded, r.lines_rejected, r.amount_loaded_kop) == (11, 0, 46_591)
    assert r.protocol is None and r.errors == []
    assert count(store, m.Account) == 2 and count(store, m.Building) == 2 and count(store, m.Premises) == 2
    assert count(store, m.Person) == 5 and count(store, m.Registration) == 5
    assert count(store, m.Registration, m.Registration.is_owner.is_(True)) == 2  # FIO = KART.FIO
    assert count(store, m.Meter) == 2 and count(store, m.MeterReading, m.MeterReading.source == "legacy") == 2
    assert count(store, m.OpeningDebt) == 1 and count(store, m.AccountService) == 3
    assert total(store, m.OpeningDebt.principal_kop) == 46_476
    assert total(store, m.OpeningDebt.penalty_kop) == 115
    with Session(store) as conn:
        acc = conn.execute(select(m.Account).where(m.Account.number == "1000123456")).scalars().one()
        b = (
            conn.execute(select(m.Building).join(m.Premises).where(m.Premises.id == acc.premises_id))
            .scalars()
            .one()
        )
        prem = conn.execute(select(m.Premises).where(m.Premises.id == acc.premises_id)).scalars().one()
        methods = dict(
            conn.execute(
                select(m.Service.code, m.AccountService.method)
                .join(m.Service)
                .where(m.AccountService.account_id == acc.id)
            ).all()
        )
        debt = conn.execute(select(m.OpeningDebt)).scalars().one()
        periods = conn.execute(select(m.BillingPeriod.period, m.BillingPeriod.status)).all()
        reading = conn.execute(
            select(m.MeterReading.value).join(m.Meter).where(m.Meter.serial == "0123456")
        ).scalar_one()
    assert (acc.status, acc.owner_name, acc.opened_on) == (
        "open",
        "ИВАНОВ ИВАН ИВАНОВИЧ",
        dt.date(2001, 4, 15),
    )
    assert (b.settlement, b.street_type, b.street, b.house) == ("г Рязань", "ул", "Ленина", "5")
    assert prem.flat == "12" and prem.total_area == Decimal("44.10") and b.total_area == Decimal("44.10")
    assert methods == {"HVS": "meter", "GVS": "meter"}
    assert (debt.period, debt.source) == (202503, "legacy")
    assert periods == [(202503, "open")]
    assert reading == Decimal("345.12")


def test_bank_sample_after_legacy_loads_two_lines(store, tmp_path: Path) -> None:
    load(store, sample(tmp_path, LEGACY))
    r = load(store, sample(tmp_path, BANK))
    assert (r.status, r.lines_loaded, r.lines_rejected) == ("loaded_with_errors", 2, 1)
    assert (r.amount_loaded_kop, r.amount_unidentified_kop) == (379_000, 33_000)
    assert r.amount_loaded_kop + r.amount_unidentified_kop == 412_000  # the control sum
    with Session(store) as conn:
        pays = conn.execute(
            select(
                m.Payment.account_number, m.Payment.status, m.Payment.amount_kop, m.Payment.period
            ).order_by(m.Payment.line_no)
        ).all()
        readings = conn.execute(
            select(m.Meter.serial, m.MeterReading.value, m.MeterReading.reading_date)
            .join(m.Meter)
            .where(m.MeterReading.source == "bank")
            .order_by(m.Meter.serial)
        ).all()
    assert pays == [
        ("1000123456", "new", 250_000, 202502),
        ("1000123999", "new", 129_000, 202502),
        ("1000124007", "unidentified", 33_000, 202501),
    ]
    assert readings == [
        ("0123456", Decimal("345.12"), dt.date(2025, 3, 14)),
        ("0654321", Decimal("101"), dt.date(2025, 3, 14)),
    ]
    rows, summary = protocol(tmp_path / BANK)
    assert [(x.line_no, x.code) for x in rows] == [(3, "L101")]
    assert (summary.accepted_lines, summary.accepted_kop) == (2, 379_000)


def test_post_sample(store, tmp_path: Path) -> None:
    r = load(store, sample(tmp_path, POST))
    assert (r.source, r.sender, r.status) == ("post", "POST:390000", "loaded_with_errors")
    assert (r.lines_loaded, r.lines_rejected, r.amount_unidentified_kop) == (0, 3, 284_235)
    other = tmp_path / "after"
    other.mkdir()
    # a fresh look with the accounts present
    load(store, sample(other, LEGACY))
    with store.begin() as conn:  # forget the first load to load the same bytes again
        conn.execute(m.Payment.__table__.delete())
        conn.execute(m.RegistryError.__table__.delete())
        conn.execute(m.RegistryFile.__table__.delete().where(m.RegistryFile.kind == "post"))
    r = load(store, sample(other, POST))
    assert (r.status, r.lines_loaded, r.lines_rejected) == ("loaded_with_errors", 2, 1)
    assert (r.amount_loaded_kop, r.amount_unidentified_kop) == (251_235, 33_000)
    assert r.warnings == 1  # NUM_2 for an account with two meters: dropped
    with Session(store) as conn:
        kinds = conn.execute(
            select(m.Payment.operation_id, m.Payment.kind, m.Payment.amount_kop).order_by(m.Payment.line_no)
        ).all()
    assert kinds == [
        ("390046-14032025-0000000041", "payment", 250_000),
        ("390046-14032025-0000000042", "penalty", 1_235),
        ("390046-14032025-0000000043", "payment", 33_000),
    ]
    rows, summary = protocol(other / POST)
    assert [(x.line_no, x.field, x.code) for x in rows] == [(3, "NUM_2", "W102"), (5, "LC", "L101")]
    assert (summary.accepted_lines, summary.accepted_kop) == (2, 251_235)


def test_szn_sample(store, tmp_path: Path) -> None:
    r = load(store, sample(tmp_path, SZN_BEN))
    assert (r.source, r.sender, r.status) == ("szn", "SZN:0612", "loaded_with_errors")
    assert (r.lines_loaded, r.lines_rejected) == (1, 1)
    assert r.errors[0]["field"] == "Beneficiary/@id" and "77002" in r.errors[0]["message"]
    with Session(store) as conn:
        ben = conn.execute(select(m.Beneficiary)).scalars().one()
        benefits = conn.execute(
            select(m.Benefit.code, m.Benefit.kind, m.Benefit.share_percent).order_by(m.Benefit.code)
        ).all()
    assert (ben.szn_code, ben.external_id, ben.account_id, ben.status) == ("0612", "77001", None, "active")
    assert benefits == [("073", "EDK", Decimal("50")), ("SUB", "SUBSIDY", None)]


def test_szn_sample_matches_the_migrated_account(store, tmp_path: Path) -> None:
    load(store, sample(tmp_path, LEGACY))
    r = load(store, sample(tmp_path, SZN_BEN))
    assert r.details == {"matched": 1, "benefits": 2}
    with Session(store) as conn:
        acc, person = conn.execute(
            select(m.Account.number, m.Person.first_name)
            .join(m.Beneficiary, m.Beneficiary.account_id == m.Account.id)
            .join(m.Person, m.Person.id == m.Beneficiary.person_id)
        ).one()
    assert (acc, person) == ("1000123456", "МАРИЯ")


def test_same_file_twice_changes_nothing(store, tmp_path: Path) -> None:
    for name in (LEGACY, BANK, POST, SZN_BEN):
        load(store, sample(tmp_path, name))
    before = snapshot(store)
    for name in (LEGACY, BANK, POST, SZN_BEN):
        r = load(store, tmp_path / name)
        assert r.status == "duplicate" and r.exit_code == 0
    assert snapshot(store) == before


def _bank_file(path: Path, ops: list[tuple[str, str, int]], order_no: str, day: dt.date) -> Path:
    lines = [
        bank.BankPayment(
            day,
            dt.time(10, 0, 0),
            "8606/00020",
            "860600020",
            op,
            acc,
            "ИВАНОВ И И",
            "НД",
            (),
            (),
            bank.Period(2025, 2),
            amount,
            amount - amount // 50,
            amount // 50,
        )
        for op, acc, amount in ops
    ]
    bank.write(str(path), lines, order_no=order_no, order_date=day)
    return path


def test_operation_in_a_second_file_is_a_duplicate_line(store, tmp_path: Path) -> None:
    load(store, sample(tmp_path, LEGACY))
    load(store, sample(tmp_path, BANK))
    second = _bank_file(
        tmp_path / "6234000011_40702810900000001234_15032025_001.txt",
        [("179225238746", "1000123456", 250_000), ("179300000001", "1000123999", 10_000)],
        "654352",
        dt.date(2025, 3, 15),
    )
    before = count(store, m.Payment)
    r = load(store, second)
    assert (r.status, r.lines_loaded, r.lines_rejected) == ("loaded_with_errors", 1, 1)
    assert (r.amount_loaded_kop, r.amount_unidentified_kop) == (10_000, 0)
    assert r.errors[0]["line"] == 1 and "179225238746" in r.errors[0]["message"]
    assert count(store, m.Payment) == before + 1
    rows, _ = protocol(second)
    assert [(x.line_no, x.code) for x in rows] == [(1, "L103")]


def test_same_payment_order_again_rejects_the_file(store, tmp_path: Path) -> None:
    load(store, sample(tmp_path, BANK))
    again = _bank_file(
        tmp_path / "6234000011_40702810900000001234_14032025_002.txt",
        [("179400000001", "1000123456", 10_000)],
        "654351",
        dt.date(2025, 3, 14),
    )
    before = snapshot(store)
    r = load(store, again)
    assert (r.status, r.exit_code) == ("rejected", 1)
    assert "654351" in r.errors[0]["message"] and "п/п" in r.errors[0]["message"]
    rows, _ = protocol(again)
    assert [(x.line_no, x.code) for x in rows] == [(0, "F102"), (1, "L101")]
    after = snapshot(store)
    assert after["payments"] == before["payments"] and after["registry_files"] == before["registry_files"] + 1


def test_broken_control_total_rejects_with_nothing_written(store, tmp_path: Path) -> None:
    path = sample(tmp_path, BANK)
    path.write_bytes(path.read_bytes().replace(b"=3;4120,00;", b"=3;4120,01;"))
    before = snapshot(store)
    r = load(store, path)
    assert (r.status, r.exit_code, r.lines_loaded, r.amount_loaded_kop, r.amount_unidentified_kop) == (
        "rejected",
        1,
        0,
        0,
        0,
    )
    after = snapshot(store)
    assert after["registry_files"] == 1 and after["payments"] == 0
    assert {k: v for k, v in after.items() if k not in ("registry_files", "registry_errors")} == {
        k: v for k, v in before.items() if k not in ("registry_files", "registry_errors")
    }
    with Session(store) as conn:
        rf = conn.execute(select(m.RegistryFile)).scalars().one()
        errs = conn.execute(select(m.RegistryError.line_no, m.RegistryError.code)).all()
    assert (rf.status, rf.lines_loaded, rf.amount_loaded_kop) == ("rejected", 0, 0)
    assert (0, "F010") in {(0 if c.startswith("F") else n, c) for n, c in errs}
    rows, summary = protocol(path)
    assert rows[0].line_no == 0 and rows[0].code == "F010" and rows[0].field == ""
    assert "4120,01" in rows[0].message
    assert (summary.accepted_lines, summary.accepted_kop) == (0, 0)
    # the same bytes again: rejected again, still one record of the file
    r2 = load(store, path)
    assert r2.status == "rejected" and count(store, m.RegistryFile) == 1


def test_closed_account_and_unknown_meter(store, tmp_path: Path) -> None:
    load(store, sample(tmp_path, LEGACY))
    with store.begin() as conn:
        conn.execute(update(m.Account).where(m.Account.number == "1000123999").values(status="closed"))
    path = sample(tmp_path, BANK)
    path.write_bytes(path.read_bytes().replace(b"\xc3\xc2\xd1-0654321", b"\xc3\xc2\xd1-7777777"))  # ГВС-…
    r = load(store, path)
    assert (r.lines_loaded, r.lines_rejected, r.amount_loaded_kop) == (1, 2, 250_000)
    rows, _ = protocol(path)
    assert [(x.line_no, x.code) for x in rows] == [(1, "W101"), (2, "L102"), (3, "L101")]
    assert rows[0].field == "Доп. реквизит 2"
    assert count(store, m.MeterReading, m.MeterReading.source == "bank") == 1


def test_szn_file_id_and_period_checks(store, tmp_path: Path) -> None:
    load(store, sample(tmp_path, SZN_BEN))
    copy = tmp_path / "SZN_BEN_0612_202503_002.xml"
    copy.write_bytes((tmp_path / SZN_BEN).read_bytes() + b"\n")
    r = load(store, copy)
    assert r.status == "rejected" and "F103" in Path(str(copy) + ".err.txt").read_bytes().decode("cp1251")
    load(store, sample(tmp_path, LEGACY))  # opens 2025-03
    later = tmp_path / "SZN_BEN_0612_202505_001.xml"
    later.write_bytes(
        (tmp_path / SZN_BEN)
        .read_bytes()
        .replace(b"<Period>2025-03</Period>", b"<Period>2025-05</Period>")
        .replace(b"SZN_BEN_0612_202503_001", b"SZN_BEN_0612_202505_001")
    )
    r = load(store, later)
    assert r.status == "rejected" and "2025-05" in r.errors[0]["message"]


def test_input_safety(store, tmp_path: Path) -> None:
    path = sample(tmp_path, BANK)
    r = load(store, path, max_bytes=100)
    assert r.status == "rejected" and "слишком велик" in r.errors[0]["message"]
    assert count(store, m.Payment) == 0
    with pytest.raises(IngestError, match="разделител"):
        load(store, path, name="../../etc/x.txt")
    with pytest.raises(IngestError, match="разделител"):
        load(store, path, name="a\\b.txt")
    with pytest.raises(IngestError, match="не найден"):
        load(store, tmp_path)
    odd = tmp_path / "unknown.bin"
    odd.write_bytes(b"\x00\x01garbage")
    with pytest.raises(IngestError, match="формат не распознан"):
        load(store, odd)


def test_legacy_never_touches_existing_accounts(store, tmp_path: Path) -> None:
    from connectors.formats import legacy_dbf

    load(store, sample(tmp_path, LEGACY))
    kart = [
        {
            "LS": ls,
            "FIO": "НОВЫЙ Н Н",
            "ULICA": "ПР-КТ ПОБЕДЫ",
            "ND": "10А",
            "KW": kw,
            "OPL": Decimal("30.00"),
            "KPR": 1,
            "PSCH": 0,
        }
        for ls, kw in (("1000123456", "1"), ("1000200000", "2"))
    ]
    propis = [
        {"LS": ls, "ID": 1, "FAM": "НОВЫЙ", "IM": "Н", "OT": "Н", "STATUS": 1}
        for ls in ("1000123456", "1000200000")
    ]
    saldo = [
        {"LS": "1000200000", "USL": "SOD", "MG": "202503", "SALDO": Decimal("10.00"), "PENI": Decimal(0)}
    ]
    path = tmp_path / "LEGACY_KVPL_202504.zip"
    legacy_dbf.write_set(
        str(path), kart=kart, propis=propis, schet=[], saldo=saldo, header_date=dt.date(2025, 4, 1)
    )
    r = load(store, path)
    assert (r.status, r.lines_loaded, r.lines_rejected) == ("loaded_with_errors", 3, 2)
    rows, _ = protocol(path)
    assert [(x.line_no, x.field, x.code) for x in rows] == [(1, "KART.LS", "L103"), (1, "PROPIS.LS", "L020")]
    with Session(store) as conn:
        b = conn.execute(
            select(m.Building.street_type, m.Building.street, m.Building.house, m.Building.total_area)
            .join(m.Premises)
            .join(m.Account)
            .where(m.Account.number == "1000200000")
        ).one()
        owner = conn.execute(
            select(m.Account.owner_name).where(m.Account.number == "1000123456")
        ).scalar_one()
    assert tuple(b) == ("пр-кт", "Победы", "10А", Decimal("30.00")) and owner == "ИВАНОВ ИВАН ИВАНОВИЧ"
    assert count(store, m.Account) == 3 and count(store, m.Person) == 6


@pytest.mark.parametrize("lines", [50, 30_000])  # repeats inside one written batch, and across batches
def test_bank_file_repeating_an_operation_is_rejected_cleanly(store, tmp_path: Path, lines: int) -> None:
    """A СУИП repeated inside the file rejects the file (F011) with its protocol — the loader must
    not stumble over the store's unique key on the way (in one batch: skipped as a repeat; across
    batches: found as already written in this transaction) — and nothing is left in the store."""
    from tests.formats.test_fast_path import _bank_file

    path = tmp_path / BANK
    path.write_bytes(_bank_file(lines, bad_every=1_000_000))  # line 50 repeats the СУИП of line 49, …
    before = snapshot(store)
    r = load(store, path, sender="SBER", today=TODAY)
    assert r.status == "rejected"
    assert any("СУИП повторяется в строках 49, 50" in e["message"] for e in r.errors)
    assert r.protocol is not None and r.protocol.exists()
    after = snapshot(store)
    assert (after["payments"], after["payments_kop"]) == (before["payments"], before["payments_kop"])
