"""Store integrity: nothing doubled (unique keys), money round-trips exactly, decimals stay exact."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.exc import IntegrityError

from hub.store import models as m
from hub.store.db import bulk_insert, session_scope


def _account(session) -> m.Account:  # type: ignore[no-untyped-def]
    session.add(m.District(id=1, code="D1", name="Район"))
    session.flush()
    session.add(
        m.Building(
            id=1,
            district_id=1,
            settlement="г Рязань",
            street_type="ул",
            street="Ленина",
            house="5",
            korp="",
            total_area=Decimal("8450.70"),
            common_area=Decimal("620.00"),
            floors=9,
        )
    )
    session.flush()
    session.add(m.Premises(id=1, building_id=1, flat="12", total_area=Decimal("54.30")))
    session.flush()
    acc = m.Account(
        id=1, number="1000123456", premises_id=1, owner_name="Иванов И. И.", opened_on=dt.date(2001, 4, 15)
    )
    session.add(acc)
    session.flush()
    return acc


def _payment(agent_id: int, op: str, amount: int, account_id: int | None = 1) -> m.Payment:
    return m.Payment(
        agent_id=agent_id,
        operation_id=op,
        op_date=dt.date(2025, 3, 14),
        account_id=account_id,
        account_number="1000123456",
        amount_kop=amount,
        transfer_kop=amount,
        commission_kop=0,
    )


def test_duplicate_payment_is_refused(store: Engine) -> None:
    with session_scope(store) as s:
        _account(s)
        sber = s.scalar(select(m.PaymentAgent.id).where(m.PaymentAgent.code == "SBER"))
        post = s.scalar(select(m.PaymentAgent.id).where(m.PaymentAgent.code == "POST"))
        s.add(_payment(sber, "179225238746", 250_000))
        s.add(_payment(post, "179225238746", 250_000))  # same id from another agent: a different operation
    with pytest.raises(IntegrityError), session_scope(store) as s:
        s.add(_payment(sber, "179225238746", 100))
    with store.connect() as conn:
        rows = conn.execute(select(m.Payment.operation_id, m.Payment.amount_kop)).all()
    assert sorted(rows) == [("179225238746", 250_000), ("179225238746", 250_000)]


def test_duplicate_registry_file_is_refused(store: Engine) -> None:
    def file(status: str) -> m.RegistryFile:
        return m.RegistryFile(sender="BANK:8606", kind="bank", name="x.txt", sha256="ab" * 32, status=status)

    with session_scope(store) as s:
        s.add(file("loaded"))
    with pytest.raises(IntegrityError), session_scope(store) as s:
        s.add(file("loaded"))


def test_charge_line_natural_key_is_unique(store: Engine) -> None:
    with session_scope(store) as s:
        _account(s)
        s.add(m.Provider(id=1, code="P", inn="6227000292", name="Водоканал", bank_account="4" * 20))
        hvs = s.scalar(select(m.Service.id).where(m.Service.code == "HVS"))
        s.flush()
        line = dict(
            period=202504, account_id=1, service_id=hvs, provider_id=1, kind="regular", amount_kop=41_042
        )
        s.add(m.ChargeLine(**line))
        s.add(
            m.ChargeLine(**{**line, "kind": "recalculation", "corrected_period": 202503, "amount_kop": -876})
        )
    with pytest.raises(IntegrityError), session_scope(store) as s:
        s.add(m.ChargeLine(**line))


@pytest.mark.parametrize("amount", [1, 41_042, 999_999_999_999_99, 9_223_372_036_854_775_807])
def test_money_round_trips_exactly(store: Engine, amount: int) -> None:
    with session_scope(store) as s:
        _account(s)
        agent = s.scalar(select(m.PaymentAgent.id).where(m.PaymentAgent.code == "SBER"))
        s.add(
            m.Payment(
                agent_id=agent,
                operation_id="op",
                op_date=dt.date(2025, 3, 14),
                account_id=1,
                account_number="1000123456",
                amount_kop=amount,
                transfer_kop=amount - 1,
                commission_kop=1,
            )
        )
    with store.connect() as conn:
        got = conn.execute(select(m.Payment.amount_kop, m.Payment.transfer_kop)).one()
    assert got == (amount, amount - 1)
    assert all(type(v) is int for v in got)


def test_decimals_round_trip_exactly_and_bulk_insert_agrees(store: Engine) -> None:
    values = [Decimal("52.9300"), Decimal("2850.4000"), Decimal("0.0001"), Decimal("99999999.9999")]
    with session_scope(store) as s:
        hvs = s.scalar(select(m.Service.id).where(m.Service.code == "HVS"))
        s.add(m.Provider(id=1, code="P", inn="6227000292", name="Водоканал", bank_account="4" * 20))
        s.flush()
        for i, v in enumerate(values):
            s.add(m.Tariff(service_id=hvs, provider_id=1, zone=0, date_from=dt.date(2020, 1, 1 + i), value=v))
    with store.begin() as conn:
        bulk_insert(
            conn,
            m.Tariff.__table__,
            ("service_id", "provider_id", "zone", "date_from", "value"),
            [(hvs, 1, 1, dt.date(2021, 1, 1 + i), v) for i, v in enumerate(values)],
        )
    with store.connect() as conn:
        got = conn.execute(
            select(m.Tariff.zone, m.Tariff.value).order_by(m.Tariff.zone, m.Tariff.date_from)
        ).all()
    assert [v for z, v in got if z == 0] == values
    assert [v for z, v in got if z == 1] == values
    assert all(isinstance(v, Decimal) for _, v in got)


def test_failed_transaction_leaves_nothing(store: Engine) -> None:
    with pytest.raises(IntegrityError), session_scope(store) as s:
        _account(s)
        agent = s.scalar(select(m.PaymentAgent.id).where(m.PaymentAgent.code == "SBER"))
        s.add(_payment(agent, "1", 100))
        s.flush()
        s.add(_payment(agent, "1", 200))
    with store.connect() as conn:
        assert conn.execute(select(m.Payment.id)).all() == []
        assert conn.execute(select(m.Account.id)).all() == []


@pytest.mark.parametrize(
    "bad",
    [
        {"account_id": 999_999},  # no such account
        {"agent_id": 32_000},  # no such payment agent
        {"registry_file_id": 999_999},  # no such registry file
    ],
)
def test_payment_references_are_checked(store: Engine, bad: dict[str, int]) -> None:
    """A payment must point at an existing account, agent and registry file — a foreign key on
    SQLite, a set-based statement trigger on PostgreSQL (migration 0003) — on insert, on COPY
    (``bulk_insert``) and on update."""
    with session_scope(store) as s:
        _account(s)
        sber = s.scalar(select(m.PaymentAgent.id).where(m.PaymentAgent.code == "SBER"))
        s.add(_payment(sber, "OK-1", 100))
    payment = {**_payment(sber, "BAD-1", 100).__dict__}
    row = {k: payment.get(k) for k in ("agent_id", "operation_id", "op_date", "account_id", "account_number")}
    row.update(
        id=1_000, kind="payment", amount_kop=100, transfer_kop=100, commission_kop=0, unidentified=False
    )
    row["status"] = "new"
    row.update(bad)
    columns = list(row)
    import sqlite3

    import psycopg

    raw_errors = (IntegrityError, sqlite3.IntegrityError, psycopg.errors.IntegrityError)  # COPY: the driver's
    with pytest.raises(raw_errors, match="foreign key|FOREIGN KEY"), store.begin() as conn:
        bulk_insert(conn, m.Payment.__table__, columns, [tuple(row[c] for c in columns)])
    column, value = next(iter(bad.items()))
    with pytest.raises(IntegrityError, match="foreign key|FOREIGN KEY"), session_scope(store) as s:
        p = s.scalars(select(m.Payment).where(m.Payment.operation_id == "OK-1")).one()
        setattr(p, column, value)
        s.flush()
    with session_scope(store) as s:  # nothing of the above was written
        assert s.scalars(select(m.Payment.operation_id)).all() == ["OK-1"]


def test_referenced_parents_cannot_be_deleted(store: Engine) -> None:
    """Deleting an account, agent or registry file still referenced by a payment fails (on PostgreSQL
    the guard trigger of migration 0003, which looks payments up by ``registry_file_id`` — a BRIN
    index since 0004); an unreferenced registry file can be deleted."""

    def file(n: int) -> m.RegistryFile:
        return m.RegistryFile(
            sender="BANK:8606", kind="bank", name=f"{n}.txt", sha256=f"{n:064x}", status="loaded"
        )

    with session_scope(store) as s:
        _account(s)
        sber = s.scalar(select(m.PaymentAgent.id).where(m.PaymentAgent.code == "SBER"))
        loaded, rejected = file(1), file(2)
        s.add_all([loaded, rejected])
        s.flush()
        payment = _payment(sber, "OK-1", 100)
        payment.registry_file_id = loaded.id
        s.add(payment)
        loaded_id, rejected_id = loaded.id, rejected.id
    with store.begin() as conn:  # a file no payment refers to goes
        conn.execute(m.RegistryFile.__table__.delete().where(m.RegistryFile.__table__.c.id == rejected_id))
    for model, key in ((m.Account, 1), (m.PaymentAgent, sber), (m.RegistryFile, loaded_id)):
        with pytest.raises(IntegrityError, match="foreign key|FOREIGN KEY"), store.begin() as conn:
            conn.execute(model.__table__.delete().where(model.__table__.c.id == key))
    if store.dialect.name == "postgresql":
        from sqlalchemy import text

        with pytest.raises(IntegrityError, match="payments refer to it"), store.begin() as conn:
            conn.execute(text("TRUNCATE accounts CASCADE"))
    with session_scope(store) as s:
        assert s.scalar(select(m.Account.id)) == 1
        assert s.scalars(select(m.RegistryFile.id)).all() == [loaded_id]
