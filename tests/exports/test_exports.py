"""Outbound files: written, parsed back with the connectors' parsers, totals equal to the store,
writer invariants, export_log and idempotency — on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, insert, select, update
from typer.testing import CliRunner

from connectors.formats import debts, szn, transfers
from hub.exports import ExportError, bank_profile, export_debts, export_szn_reply, export_transfers
from hub.ingest import ingest_file
from hub.ingest.cli import app
from hub.store import models as m
from tests.ingest.helpers import BANK, LEGACY, SZN_BEN, SZN_FILE_ID, TODAY, count, sample

DAY = dt.date(2025, 3, 17)


def _load(store, tmp_path: Path, *names: str) -> None:  # type: ignore[no-untyped-def]
    for name in names:
        assert ingest_file(store, sample(tmp_path, name), today=TODAY).status != "rejected"


def _ids(conn, model, key, values):  # type: ignore[no-untyped-def]
    return dict(conn.execute(select(key, model.id).where(key.in_(values))).all())


def _providers(conn) -> dict[str, int]:  # type: ignore[no-untyped-def]
    rows = [
        ("VODOKANAL", "6227000292", "МУП «Водоканал города Рязани»", "40702810400000012345", "0.01"),
        ("TEPLO", "6229054695", "ПАО «Квадра»", "40702810600000023456", "0.01"),
    ]
    for code, inn, name, acc, fee in rows:
        conn.execute(
            insert(m.Provider).values(code=code, inn=inn, name=name, bank_account=acc, fee_rate=Decimal(fee))
        )
    return _ids(conn, m.Provider, m.Provider.code, ["VODOKANAL", "TEPLO"])


# ----------------------------------------------------------------------------------------------
# debts
# ----------------------------------------------------------------------------------------------


def test_debts_file_from_opening_debts_then_balances(store, tmp_path: Path) -> None:
    _load(store, tmp_path, LEGACY)
    out = tmp_path / "out"
    f = export_debts(store, 202503, "SBER", out)
    assert f.path.name == "6234000011_40702810900000001234_001_0325.txt" and f.log == "new"
    parsed = debts.parse(f.path)
    lines = {d.account: d for d in parsed}
    assert parsed.ok and not parsed.line_errors
    assert {k: v.balance for k, v in lines.items()} == {"1000123456": 46_591, "1000123999": 0}
    assert lines["1000123456"].address == "Рязань г,Ленина ул,5,12"
    assert lines["1000123456"].fio == "ИВАНОВ ИВАН ИВАНОВИЧ" and lines["1000123456"].period == debts.Period(
        2025, 3
    )
    assert parsed.header.filesum == 46_591 == f.total_kop and f.lines == 2  # type: ignore[union-attr]
    data = f.path.read_bytes()
    again = export_debts(store, 202503, "SBER", out)
    assert (again.path, again.log) == (f.path, "unchanged") and again.path.read_bytes() == data
    assert count(store, m.ExportLog) == 1
    # balances of the period take over: overpayment written as 0.00 (default profile)
    with store.begin() as conn:
        acc = _ids(conn, m.Account, m.Account.number, ["1000123456", "1000123999"])
        hvs = conn.execute(select(m.Service.id).where(m.Service.code == "HVS")).scalar_one()
        prov = conn.execute(select(m.OpeningDebt.provider_id)).scalar_one()
        for number, closing in (("1000123456", 100_000), ("1000123999", -5_000)):
            conn.execute(
                insert(m.AccountBalance).values(
                    period=202503,
                    account_id=acc[number],
                    service_id=hvs,
                    provider_id=prov,
                    closing_kop=closing,
                )
            )
    f2 = export_debts(store, 202503, "SBER", out)
    assert f2.path.name == "6234000011_40702810900000001234_002_0325.txt" and f2.log == "new"
    parsed = debts.parse(f2.path)
    assert {d.account: d.balance for d in parsed} == {"1000123456": 100_000, "1000123999": 0}
    assert parsed.header.filesum == 100_000  # type: ignore[union-attr]
    with store.connect() as conn:
        store_sum = conn.execute(
            select(func.sum(m.AccountBalance.closing_kop)).where(m.AccountBalance.closing_kop > 0)
        ).scalar_one()
    assert f2.total_kop == store_sum
    # another bank gets its own number
    f3 = export_debts(store, 202503, "VTB", out)
    assert f3.path.name.endswith("_003_0325.txt") and count(store, m.ExportLog) == 3


def test_bank_profile_from_partners_file(tmp_path: Path) -> None:
    cfg = tmp_path / "partners.toml"
    cfg.write_text(
        '[partners.SBER]\nkind = "bank"\ndebts_variant = "sber_s5"\nencoding = "cp1251"\n'
        '[partners.SBER.local]\nroot = "x"\n',
        encoding="utf-8",
    )
    assert bank_profile("SBER", cfg).columns == debts.SBER_S5_PROFILE.columns
    assert bank_profile("VTB", cfg) == debts.DEFAULT_PROFILE
    assert bank_profile("SBER", tmp_path / "none.toml") == debts.DEFAULT_PROFILE


# ----------------------------------------------------------------------------------------------
# transfers
# ----------------------------------------------------------------------------------------------


def _settle_by_hand(store) -> dict[str, int]:  # type: ignore[no-untyped-def]
    """What settlement would prepare for 17.03.2025 (the §6.1 example): allocations + transfers."""
    with store.begin() as conn:
        prov = _providers(conn)
        svc = _ids(conn, m.Service, m.Service.code, ["HVS", "GVS", "OTOP"])
        pays = dict(
            conn.execute(
                select(m.Payment.operation_id, m.Payment.id).where(m.Payment.unidentified.is_(False))
            ).all()
        )
        acc = _ids(conn, m.Account, m.Account.number, ["1000123456", "1000123999"])
        t_vk = conn.execute(
            insert(m.ProviderTransfer)
            .values(
                provider_id=prov["VODOKANAL"],
                transfer_date=DAY,
                number=1187,
                date_from=dt.date(2025, 3, 10),
                date_to=dt.date(2025, 3, 16),
                lines=3,
                amount_kop=152_353,
                commission_kop=2_647,
                fee_kop=1_524,
                net_kop=148_182,
            )
            .returning(m.ProviderTransfer.id)
        ).scalar_one()
        t_tp = conn.execute(
            insert(m.ProviderTransfer)
            .values(
                provider_id=prov["TEPLO"],
                transfer_date=DAY,
                number=55,
                date_from=dt.date(2025, 3, 10),
                date_to=dt.date(2025, 3, 16),
                lines=2,
                amount_kop=226_647,
                commission_kop=4_533,
                fee_kop=2_266,
                net_kop=219_848,
            )
            .returning(m.ProviderTransfer.id)
        ).scalar_one()
        rows = [  # payment, account, service, provider, period, kind, amount, commission, transfer
            ("179225238746", "1000123456", "HVS", "VODOKANAL", 202502, "principal", 23_238, 465, t_vk),
            ("179225238746", "1000123456", "HVS", "VODOKANAL", 202502, "penalty", 115, 2, t_vk),
            ("179225238746", "1000123456", "GVS", "TEPLO", 202502, "principal", 45_000, 900, t_tp),
            ("179225238746", "1000123456", "OTOP", "TEPLO", 202502, "principal", 181_647, 3_633, t_tp),
            ("179224536493", "1000123999", "HVS", "VODOKANAL", 202502, "principal", 129_000, 2_580, t_vk),
        ]
        for op, number, code, p, per, kind, amount, comm, tid in rows:
            conn.execute(
                insert(m.PaymentAllocation).values(
                    payment_id=pays[op],
                    account_id=acc[number],
                    service_id=svc[code],
                    provider_id=prov[p],
                    period=per,
                    kind=kind,
                    amount_kop=amount,
                    commission_kop=comm,
                    fee_kop=transfers.center_fee(amount, Decimal("0.01")),
                    transfer_id=tid,
                )
            )
        conn.execute(update(m.Payment).where(m.Payment.unidentified.is_(False)).values(status="split"))
    return prov


def test_transfer_registries(store, tmp_path: Path) -> None:
    _load(store, tmp_path, LEGACY, BANK)
    with pytest.raises(ExportError, match="settle"):
        export_transfers(store, DAY, tmp_path / "out")
    _settle_by_hand(store)
    files = export_transfers(store, DAY, tmp_path / "out")
    assert [f.path.name for f in files] == [
        "TRANSF_6227000292_20250317_001.txt",
        "TRANSF_6229054695_20250317_001.txt",
    ]
    grand = 0
    with store.connect() as conn:
        for f in files:
            parsed = transfers.parse(f.path)
            lines = list(parsed)
            assert parsed.ok and not parsed.line_errors and parsed.header and parsed.control
            t = conn.execute(
                select(m.ProviderTransfer.id, m.ProviderTransfer.number, m.ProviderTransfer.file_name)
                .join(m.Provider)
                .where(m.Provider.inn == parsed.header.provider_inn)
            ).one()
            alloc = conn.execute(
                select(
                    func.count(),
                    func.sum(m.PaymentAllocation.amount_kop),
                    func.sum(m.PaymentAllocation.commission_kop),
                    func.sum(m.PaymentAllocation.fee_kop),
                ).where(m.PaymentAllocation.transfer_id == t.id)
            ).one()
            c = parsed.control
            assert (c.count, c.amount, c.agent_commission, c.center_fee) == tuple(int(x) for x in alloc)
            assert c.net == c.amount - c.agent_commission - c.center_fee
            assert (c.order_no, c.order_date, t.file_name) == (str(t.number), DAY, f.path.name)
            for ln in lines:
                assert ln.net == ln.amount - ln.agent_commission - ln.center_fee  # type: ignore[operator]
                assert ln.center_fee == transfers.center_fee(ln.amount, Decimal("0.01"))  # type: ignore[arg-type]
                assert ln.agent == "SBER" and ln.kind in ("01", "02")
            grand += c.amount
        split = conn.execute(
            select(func.sum(m.Payment.amount_kop)).where(m.Payment.status == "split")
        ).scalar_one()
    assert grand == split == 379_000
    first = files[0].path.read_text(encoding="cp1251").splitlines()
    assert (
        first[0] == "#PROVIDER 6227000292;40702810400000012345" and first[1] == "#DATES 10.03.2025;16.03.2025"
    )
    assert first[2].startswith(
        "14.03.2025;1000123456;ИВАНОВ ИВАН ИВАНОВИЧ;г Рязань, ул Ленина, д 5, кв 12;022025;HVS;"
    )
    data = [f.path.read_bytes() for f in files]
    again = export_transfers(store, DAY, tmp_path / "out")
    assert [f.log for f in again] == ["unchanged", "unchanged"]
    assert [f.path.read_bytes() for f in again] == data and count(store, m.ExportLog) == 2


def test_export_cli(store, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("UNIPAY_DB_URL", store.url.render_as_string(hide_password=False))
    monkeypatch.chdir(tmp_path)
    _load(store, tmp_path, LEGACY)
    runner = CliRunner()
    res = runner.invoke(app, ["export", "transfers", "--date", "2025-03-17", "--out", "o"])
    assert res.exit_code == 1 and "settle" in res.stderr
    res = runner.invoke(app, ["export", "debts", "--period", "2025-03", "--bank", "SBER", "--out", "o"])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "o" / "6234000011_40702810900000001234_001_0325.txt").exists()
    res = runner.invoke(app, ["export", "szn", "--reply-to", "SZN_BEN_0000_209901_001", "--out", "o"])
    assert res.exit_code == 1 and "не загружен" in res.stderr
    res = runner.invoke(app, ["export", "debts", "--period", "2025-13", "--bank", "SBER"])
    assert res.exit_code == 2


# ----------------------------------------------------------------------------------------------
# social protection reply
# ----------------------------------------------------------------------------------------------


def test_szn_reply(store, tmp_path: Path) -> None:
    _load(store, tmp_path, LEGACY, SZN_BEN)
    with store.begin() as conn:
        prov = _providers(conn)
        svc = _ids(conn, m.Service, m.Service.code, ["HVS", "OTOP"])
        acc = conn.execute(select(m.Account.id).where(m.Account.number == "1000123456")).scalar_one()
        lines = [
            ("HVS", "VODOKANAL", "regular", "meter", Decimal("6"), Decimal("38.73"), None, 23_238, ""),
            ("HVS", "VODOKANAL", "benefit", "", None, None, None, -5_810, "073"),
            (
                "OTOP",
                "TEPLO",
                "regular",
                "norm",
                Decimal("1.08486"),
                Decimal("2508.71"),
                Decimal("0.0246"),
                272_160,
                "",
            ),
            ("OTOP", "TEPLO", "benefit", "", None, None, None, -68_040, "073"),
        ]
        for code, p, kind, method, volume, tariff, norm, amount, reason in lines:
            conn.execute(
                insert(m.ChargeLine).values(
                    period=202503,
                    account_id=acc,
                    service_id=svc[code],
                    provider_id=prov[p],
                    kind=kind,
                    method=method,
                    volume=volume,
                    tariff=tariff,
                    norm=norm,
                    amount_kop=amount,
                    reason_code=reason,
                )
            )
    f = export_szn_reply(store, SZN_FILE_ID, tmp_path / "out")
    assert f.path.name == "SZN_CHG_0612_202503_001.xml" and f.log == "new"
    parsed = szn.parse_charges(f.path)
    answers = list(parsed)
    assert parsed.ok and parsed.header.reply_to == SZN_FILE_ID and parsed.header.center_inn == "6234000011"  # type: ignore[union-attr]
    assert [a.id for a in answers] == ["77001"]  # 77002 (STOP of an unknown id) was rejected on load
    a = answers[0]
    assert (a.status, a.account, a.area_total, a.registered, a.living) == (
        "FOUND",
        "1000123456",
        Decimal("44.10"),
        2,
        2,
    )
    assert a.debt == szn.Debt(1, 46_591, False)
    assert [(s.code, s.method, s.charged, s.benefit, s.benefit_code) for s in a.services] == [
        ("OTOP", "norm", 272_160, 68_040, "073"),
        ("HVS", "meter", 23_238, 5_810, "073"),
    ]
    assert a.services[0].norm == Decimal("0.024600") and a.services[1].quantity == Decimal("6.000000")
    with store.connect() as conn:
        charged = conn.execute(
            select(func.sum(m.ChargeLine.amount_kop)).where(m.ChargeLine.kind == "regular")
        ).scalar_one()
        benefit = conn.execute(
            select(func.sum(m.ChargeLine.amount_kop)).where(m.ChargeLine.kind == "benefit")
        ).scalar_one()
    assert parsed.declared["ChargedTotal"] == charged == f.total_kop
    assert parsed.declared["BenefitTotal"] == -benefit
    assert (parsed.declared["BeneficiaryCount"], parsed.declared["ServiceCount"]) == (1, 2)
    data = f.path.read_bytes()
    again = export_szn_reply(store, SZN_FILE_ID, tmp_path / "out")
    assert again.log == "unchanged" and again.path.read_bytes() == data and count(store, m.ExportLog) == 1


def test_szn_reply_not_found(store, tmp_path: Path) -> None:
    _load(store, tmp_path, SZN_BEN)
    f = export_szn_reply(store, SZN_FILE_ID, tmp_path / "out")
    answers = list(szn.parse_charges(f.path))
    assert [(a.id, a.status, a.services) for a in answers] == [("77001", "NOT_FOUND", ())]
