"""The monthly run on the store: exact, explainable, re-runnable, partitionable, equal on both engines."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from hub.billing import BillingError, bill_period, close_period, district_ids
from hub.store import models as m
from tests.billing.conftest import PERIOD

LINE_KEY = (
    m.ChargeLine.account_id,
    m.ChargeLine.service_id,
    m.ChargeLine.kind,
    m.ChargeLine.component,
    m.ChargeLine.corrected_period,
    m.ChargeLine.reason_code,
    m.ChargeLine.amount_kop,
)


def _lines(engine: Engine) -> list[tuple[object, ...]]:
    with engine.connect() as conn:
        return sorted(tuple(r) for r in conn.execute(select(*LINE_KEY).where(m.ChargeLine.period == PERIOD)))


def test_every_kind_of_line_is_there(billed: Engine) -> None:
    with billed.connect() as conn:
        kinds = dict(conn.execute(select(m.ChargeLine.kind, func.count()).group_by(m.ChargeLine.kind)).all())
        methods = set(conn.scalars(select(m.ChargeLine.method).where(m.ChargeLine.kind == "regular")))
    assert {"regular", "penalty", "benefit"} <= set(kinds)
    assert {"meter", "norm", "norm_x15", "area", "soi"} <= methods


def test_rerun_replaces_and_python_equals_rust(billed: Engine) -> None:
    before = _lines(billed)
    report = bill_period(billed, PERIOD, calc_engine="python")
    assert _lines(billed) == before
    assert report.total_kop == sum(r[-1] for r in before)  # type: ignore[misc]
    bill_period(billed, PERIOD)
    assert _lines(billed) == before


def test_partitions_equal_the_single_call(billed: Engine) -> None:
    before = _lines(billed)
    for d in district_ids(billed):
        bill_period(billed, PERIOD, districts=[d])
    assert _lines(billed) == before


def test_lines_explain_themselves(billed: Engine) -> None:
    with Session(billed) as s:
        rows = s.execute(
            select(m.ChargeLine, m.Service.code).join(m.Service).where(m.ChargeLine.period == PERIOD)
        ).all()
    for line, code in rows:
        if line.kind == "regular":
            assert line.method and line.tariff is not None and line.volume is not None, (code, line.method)
            if line.method in ("norm", "norm_x15"):
                assert line.norm is not None and (line.persons is not None or line.area is not None)
            if line.method == "norm_x15":
                assert line.coefficient == Decimal("1.5000") and line.reason
            if line.method == "area":
                assert line.area is not None
        elif line.kind == "penalty":
            assert line.corrected_period < PERIOD and line.reason.startswith("пени")
        else:
            assert line.reason


def test_a_norm_line_by_hand(billed: Engine) -> None:
    """ХВС by norm × 1.5 for a premises without a meter: N × person-days/30 × T × 1.5, rounded once."""
    with Session(billed) as conn:
        line = (
            conn.execute(
                select(m.ChargeLine)
                .join(m.Service)
                .where(
                    m.Service.code == "HVS", m.ChargeLine.method == "norm_x15", m.ChargeLine.period == PERIOD
                )
            )
            .scalars()
            .first()
        )
        assert line is not None
        regs = (
            conn.execute(select(m.Registration).where(m.Registration.account_id == line.account_id))
            .scalars()
            .all()
        )
    import datetime as dt

    start, end = dt.date(2026, 11, 1), dt.date(2026, 11, 30)
    person_days = (
        sum(
            max(0, ((min(r.date_to, end) if r.date_to else end) - max(r.date_from, start)).days + 1)
            for r in regs
            if r.status in (1, 3, 6)
        )
        or 30
    )
    expected = (Decimal("4.85") * person_days / 30 * Decimal("58.22") * Decimal("1.5")).quantize(
        Decimal("0.01"), ROUND_HALF_UP
    )
    assert line.amount_kop == int(expected * 100)


def test_balances_add_up(billed: Engine) -> None:
    with Session(billed) as conn:
        rows = conn.execute(select(m.AccountBalance).where(m.AccountBalance.period == PERIOD)).scalars().all()
        opening_debts = conn.execute(
            select(func.sum(m.OpeningDebt.principal_kop + m.OpeningDebt.penalty_kop))
        ).scalar_one()
        charged = conn.execute(
            select(func.sum(m.ChargeLine.amount_kop)).where(
                m.ChargeLine.period == PERIOD, m.ChargeLine.kind == "regular"
            )
        ).scalar_one()
    assert rows
    for b in rows:
        assert b.closing_kop == (
            b.opening_kop
            + b.charged_kop
            + b.recalc_kop
            + b.benefit_kop
            + b.penalty_kop
            - b.paid_kop
            + b.correction_kop
        )
    assert sum(b.opening_kop for b in rows) == opening_debts
    assert sum(b.charged_kop for b in rows) == charged


def test_closed_period_is_never_rewritten(billed: Engine) -> None:
    before = _lines(billed)
    nxt = close_period(billed, PERIOD)
    try:
        assert nxt == 202612
        with pytest.raises(BillingError, match="закрыт"):
            bill_period(billed, PERIOD)
        assert _lines(billed) == before
        with pytest.raises(BillingError, match="не открыт"):
            bill_period(billed, 202702)
    finally:
        with billed.begin() as conn:  # reopen for the other tests of the module
            conn.execute(m.BillingPeriod.__table__.delete().where(m.BillingPeriod.period == 202612))
            conn.execute(
                m.BillingPeriod.__table__.update()
                .where(m.BillingPeriod.period == PERIOD)
                .values(status="open", closed_at=None)
            )
