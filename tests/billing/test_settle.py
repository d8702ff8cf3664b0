"""The daily settlement: splits add up, commissions and fees per line, transfers once, balances hold."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from hub.billing import settle_day
from hub.store import models as m
from hub.store.db import session_scope

DAY = dt.date(2026, 11, 20)


def _pay(engine: Engine) -> list[m.Payment]:
    with session_scope(engine) as s:
        sber = s.scalar(select(m.PaymentAgent.id).where(m.PaymentAgent.code == "SBER"))
        post = s.scalar(select(m.PaymentAgent.id).where(m.PaymentAgent.code == "POST"))
        debtor = s.scalar(select(m.OpeningDebt.account_id).where(m.OpeningDebt.principal_kop > 0).limit(1))
        accounts = s.scalars(
            select(m.Account.id).where(m.Account.status == "open").order_by(m.Account.id).limit(6)
        )
        payments = []
        for i, acc in enumerate([debtor, *accounts]):
            amount = [250_000, 100_000, 333_33, 1_000_000, 77_777, 150_000, 42_00][i]
            commission = amount // 100 if i % 2 == 0 else 0
            payments.append(
                m.Payment(
                    agent_id=sber if i % 2 == 0 else post,
                    operation_id=f"T{i}",
                    op_date=DAY - dt.timedelta(days=i % 3),
                    account_id=acc,
                    account_number=str(acc),
                    amount_kop=amount,
                    transfer_kop=amount - commission,
                    commission_kop=commission,
                    period=202610 if i == 1 else None,
                )
            )
        s.add_all(payments)
    return payments


def test_settlement_adds_up_and_is_idempotent(billed: Engine) -> None:
    payments = _pay(billed)
    report = settle_day(billed, DAY)
    assert report.payments == len(payments)
    with Session(billed) as s:
        alloc = dict(
            s.execute(
                select(m.PaymentAllocation.payment_id, func.sum(m.PaymentAllocation.amount_kop)).group_by(
                    m.PaymentAllocation.payment_id
                )
            ).all()
        )
        comm = dict(
            s.execute(
                select(m.PaymentAllocation.payment_id, func.sum(m.PaymentAllocation.commission_kop)).group_by(
                    m.PaymentAllocation.payment_id
                )
            ).all()
        )
        paid = s.execute(
            select(m.Payment.id, m.Payment.amount_kop, m.Payment.commission_kop, m.Payment.status).where(
                m.Payment.operation_id.like("T%")
            )
        ).all()
        transfers = s.scalars(select(m.ProviderTransfer)).all()
        lines = s.scalars(select(m.PaymentAllocation)).all()
        balances = s.scalars(select(m.ProviderBalance).where(m.ProviderBalance.period == 202611)).all()
    for pid, amount, commission, status in paid:
        assert status == "split"
        assert alloc[pid] == amount  # the account is credited with the full payment
        assert comm[pid] == commission  # the agent's commission split over the allocations
    for line in lines:
        rate = {t.id: t for t in transfers}
        assert line.transfer_id in rate
    assert sum(t.amount_kop for t in transfers) == sum(a for _, a, _, _ in paid)
    for t in transfers:
        assert t.net_kop == t.amount_kop - t.commission_kop - t.fee_kop
        assert t.transfer_date == DAY
    assert report.transferred_kop == sum(t.net_kop for t in transfers)
    for b in balances:
        assert (
            b.closing_kop
            == b.opening_kop + b.collected_kop - b.commission_kop - b.fee_kop - b.transferred_kop
        )
    assert sum(b.closing_kop for b in balances) == 0  # everything collected was transferred
    # A second run for the same day changes nothing.
    again = settle_day(billed, DAY)
    assert again.payments == 0 and again.transfers == []
    with Session(billed) as s:
        assert s.scalar(select(func.count()).select_from(m.ProviderTransfer)) == len(transfers)
        assert s.scalar(select(func.count()).select_from(m.PaymentAllocation)) == len(lines)


def test_fee_is_round_half_up_per_line(billed: Engine) -> None:
    with Session(billed) as s:
        rows = s.execute(
            select(m.PaymentAllocation.amount_kop, m.PaymentAllocation.fee_kop, m.Provider.fee_rate).join(
                m.Provider, m.Provider.id == m.PaymentAllocation.provider_id
            )
        ).all()
    assert rows
    from decimal import ROUND_HALF_UP, Decimal

    for amount, fee, rate in rows:
        assert fee == int((Decimal(amount) * rate).quantize(Decimal(1), ROUND_HALF_UP))
