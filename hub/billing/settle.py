"""The daily settlement on the store: ``settle_day`` splits the identified payments received up to a day
among services, periods and providers (domain §5.2, Rust engine by default), withholds the agent's
commission and the center's fee per line (§5.4), prepares one transfer (п/п) per provider, and keeps
provider balances.

Safe to re-run: payments already split are not split again, allocations already in a transfer are not
transferred again, so a second run for the same day changes nothing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sqlalchemy import Connection, Engine, delete, func, insert, select, text, update

from hub.billing.bill import open_period, write_balances
from hub.billing.store_io import days, in_list
from hub.calc import engine as calc
from hub.calc.units import add_months, period_end, period_start, to_days
from hub.reports import mart
from hub.store import models as m
from hub.store.db import bulk_insert

KINDS = {0: "principal", 1: "penalty", 2: "advance"}


@dataclass
class SettleReport:
    day: dt.date
    engine: str
    payments: int = 0
    allocations: int = 0
    split_kop: int = 0
    transfers: list[dict[str, Any]] = field(default_factory=list)

    @property
    def transferred_kop(self) -> int:
        return sum(t["net_kop"] for t in self.transfers)


def _period_of(day: dt.date) -> int:
    return day.year * 100 + day.month


def settle_day(db: Engine, day: dt.date, calc_engine: str = "rust") -> SettleReport:
    """Split the day's payments (and any earlier ones left unsplit), prepare transfers, update balances."""
    report = SettleReport(day=day, engine=calc_engine)
    eng: Any = calc_engine
    current = open_period(db) or _period_of(day)
    with db.begin() as conn:
        pay = conn.execute(
            select(
                m.Payment.id,
                m.Payment.account_id,
                m.Payment.amount_kop,
                m.Payment.op_date,
                m.Payment.period,
                m.Payment.kind,
                m.Payment.commission_kop,
            )
            .where(
                m.Payment.status == "new",
                m.Payment.unidentified.is_(False),
                m.Payment.account_id.is_not(None),
                m.Payment.op_date <= day,
            )
            .order_by(m.Payment.account_id, m.Payment.op_date, m.Payment.id)
        ).all()
        if pay:
            _split(conn, pay, current, eng, report)
        _prepare_transfers(conn, day, report)
        _provider_balances(conn, _period_of(day))
        accounts = sorted({int(p[1]) for p in pay if p[1] is not None})
        if (
            accounts
            and conn.execute(
                select(m.AccountBalance.period).where(m.AccountBalance.period == current).limit(1)
            ).first()
        ):
            with mart.debt_delta(conn, current, accounts):  # the dashboards' debt of these accounts
                write_balances(conn, current, accounts, None, by_accounts=True)
        mart.refresh_after_settle(conn, current, [int(p[0]) for p in pay])  # the dashboards' aggregates
    return report


def _debts(conn: Connection, accounts: list[int], current: int) -> dict[str, np.ndarray]:
    """Unpaid principal and penalty per account × service × month (opening debts, billed lines), less
    what earlier allocations already covered."""
    owed: dict[
        tuple[int, int, int, int], list[int]
    ] = {}  # (acc, svc, period, kind) → [provider, unpaid, charge]

    def add(key: tuple[int, int, int, int], prov: int, amount: int, charge: int = 0) -> None:
        entry = owed.setdefault(key, [prov, 0, 0])
        entry[1] += amount
        entry[2] += charge

    for k in range(0, len(accounts), 2_000):
        flt, params = in_list("x.account_id", accounts[k : k + 2_000])
        for acc, svc, prov, per, principal, penalty in conn.execute(
            text(
                f"SELECT x.account_id, x.service_id, x.provider_id, x.period, x.principal_kop, x.penalty_kop "
                f"FROM opening_debts x WHERE {flt}"
            ),
            params,
        ):
            add((acc, svc, per, 0), prov, int(principal))
            if penalty:
                add((acc, svc, per, 1), prov, int(penalty))
        for acc, svc, prov, per, corrected, kind, amount in conn.execute(
            text(
                f"""SELECT x.account_id, x.service_id, MIN(x.provider_id), x.period, x.corrected_period, x.kind,
                       SUM(x.amount_kop)
                FROM charge_lines x WHERE {flt} AND x.period <= :current
                GROUP BY x.account_id, x.service_id, x.period, x.corrected_period, x.kind"""
            ),
            {**params, "current": current},
        ):
            if kind == "penalty":
                add((acc, svc, corrected, 1), prov, int(amount))
            else:
                add((acc, svc, per, 0), prov, int(amount), int(amount) if kind == "regular" else 0)
        for acc, svc, prov, per, kind, amount in conn.execute(
            text(
                f"""SELECT x.account_id, x.service_id, MIN(x.provider_id), x.period, x.kind, SUM(x.amount_kop)
                FROM payment_allocations x WHERE {flt} GROUP BY x.account_id, x.service_id, x.period, x.kind"""
            ),
            params,
        ):
            if kind != "advance":
                add((acc, svc, per, 0 if kind == "principal" else 1), prov, -int(amount))
    # Every active service of the account gets a row (zero debt), so that an advance can land on it; the
    # advance is split by the current period's charges, or evenly when the period is not billed yet.
    for k in range(0, len(accounts), 2_000):
        flt, params = in_list("x.account_id", accounts[k : k + 2_000])
        for acc, svc, prov in conn.execute(
            text(
                f"SELECT x.account_id, x.service_id, x.provider_id FROM account_services x WHERE {flt} "
                "AND x.date_from <= :end AND (x.date_to IS NULL OR x.date_to >= :start)"
            ),
            {**params, "start": period_start(current), "end": period_end(current)},
        ):
            owed.setdefault((acc, svc, current, 0), [prov, 0, 0])
    billed = {k[0] for k, v in owed.items() if k[2] == current and v[2] > 0}
    for key, entry in owed.items():
        if key[2] == current and key[3] == 0 and key[0] not in billed:
            entry[2] = 1
    keys = sorted(owed)
    # Advance weights: the current period's charge of each service (a service with no debt row yet
    # still receives a zero-debt row so that an advance can land on it).
    return {
        "account_id": np.array([k[0] for k in keys], dtype=np.int64),
        "service_id": np.array([k[1] for k in keys], dtype=np.int64),
        "period": np.array([k[2] for k in keys], dtype=np.int64),
        "kind": np.array([k[3] for k in keys], dtype=np.int64),
        "provider_id": np.array([owed[k][0] for k in keys], dtype=np.int64),
        "unpaid_kop": np.array([max(0, owed[k][1]) for k in keys], dtype=np.int64),
        "charge_kop": np.array([owed[k][2] if k[2] == current else 0 for k in keys], dtype=np.int64),
    }


def _split(conn: Connection, pay: Sequence[Any], current: int, eng: Any, report: SettleReport) -> None:
    accounts = sorted({int(p[1]) for p in pay})
    debts = _debts(conn, accounts, current)
    known = set(debts["period"].tolist())
    payments = {
        "payment_id": np.array([p[0] for p in pay], dtype=np.int64),
        "account_id": np.array([p[1] for p in pay], dtype=np.int64),
        "amount_kop": np.array([p[2] for p in pay], dtype=np.int64),
        "pay_date": np.array([to_days(p[3]) for p in pay], dtype=np.int64),
        # the period named by the payer counts only when there is something billed for it
        "period": np.array([p[4] if p[4] in known else 0 for p in pay], dtype=np.int64),
        "current_period": np.full(len(pay), current, dtype=np.int64),
        "penalty_kop": np.array([p[2] if p[5] == "penalty" else -1 for p in pay], dtype=np.int64),
    }
    out = calc.split_payments(debts, payments, engine=eng)
    commission = {int(p[0]): int(p[6] or 0) for p in pay}
    fees = dict(conn.execute(select(m.Provider.id, m.Provider.fee_rate)).all())
    providers = sorted({int(x) for x in out["provider_id"].tolist()})
    with_comm, _lines = calc.transfers(
        {"payment_id": out["payment_id"], "provider_id": out["provider_id"], "amount_kop": out["amount_kop"]},
        {
            "payment_id": np.array(list(commission), dtype=np.int64),
            "commission_kop": np.array(list(commission.values()), dtype=np.int64),
        },
        {
            "provider_id": np.array(providers, dtype=np.int64),
            "fee_ppm": np.array([int(fees[p] * 1_000_000) for p in providers], dtype=np.int64),
        },
        engine=eng,
    )
    merged: dict[tuple[int, int, int, str], list[int]] = {}
    for j in range(len(out["amount_kop"])):
        kind = KINDS[int(out["kind"][j])]
        per = int(out["period"][j]) or current
        key = (int(out["payment_id"][j]), int(out["service_id"][j]), per, kind)
        entry = merged.setdefault(key, [int(out["account_id"][j]), int(out["provider_id"][j]), 0, 0])
        entry[2] += int(out["amount_kop"][j])
        entry[3] += int(with_comm["commission_kop"][j])
    rows = []
    for (pid, svc, per, kind), (acc, prov, amount, comm) in merged.items():
        rate = fees[prov]
        fee = int((amount * rate * 100 + 50) // 100) if amount >= 0 else 0  # round half up, kopecks
        rows.append((pid, acc, svc, prov, per, kind, amount, comm, fee))
    bulk_insert(
        conn,
        m.PaymentAllocation.__table__,
        (
            "payment_id",
            "account_id",
            "service_id",
            "provider_id",
            "period",
            "kind",
            "amount_kop",
            "commission_kop",
            "fee_kop",
        ),
        rows,
    )
    ids = [int(p[0]) for p in pay]
    for k in range(0, len(ids), 5_000):
        conn.execute(update(m.Payment).where(m.Payment.id.in_(ids[k : k + 5_000])).values(status="split"))
    report.payments = len(pay)
    report.allocations = len(rows)
    report.split_kop = sum(r[6] for r in rows)


def _prepare_transfers(conn: Connection, day: dt.date, report: SettleReport) -> None:
    """One transfer (п/п) per provider for the allocations of payments up to ``day`` not yet transferred."""
    pending = conn.execute(
        text(
            f"""SELECT x.provider_id, COUNT(*), SUM(x.amount_kop), SUM(x.commission_kop), SUM(x.fee_kop),
                   MIN({days(conn, "pm.op_date")}), MAX({days(conn, "pm.op_date")})
            FROM payment_allocations x JOIN payments pm ON pm.id = x.payment_id
            WHERE x.transfer_id IS NULL AND pm.op_date <= :day
            GROUP BY x.provider_id ORDER BY x.provider_id"""
        ),
        {"day": day},
    ).all()
    epoch = dt.date(1970, 1, 1)
    for prov, lines, amount, comm, fee, first, last in pending:
        number = (
            int(
                conn.execute(
                    select(func.coalesce(func.max(m.ProviderTransfer.number), 0)).where(
                        m.ProviderTransfer.provider_id == prov
                    )
                ).scalar_one()
            )
            + 1
        )
        net = int(amount) - int(comm) - int(fee)
        tid = conn.execute(
            insert(m.ProviderTransfer).values(
                provider_id=prov,
                transfer_date=day,
                number=number,
                date_from=epoch + dt.timedelta(days=int(first)),
                date_to=epoch + dt.timedelta(days=int(last)),
                lines=int(lines),
                amount_kop=int(amount),
                commission_kop=int(comm),
                fee_kop=int(fee),
                net_kop=net,
                status="prepared",
            )
        ).inserted_primary_key[0]  # type: ignore[index]
        conn.execute(
            text(
                """UPDATE payment_allocations SET transfer_id = :tid WHERE transfer_id IS NULL AND provider_id = :prov
               AND payment_id IN (SELECT id FROM payments WHERE op_date <= :day)"""
            ),
            {"tid": tid, "prov": prov, "day": day},
        )
        report.transfers.append(
            {
                "provider_id": int(prov),
                "number": number,
                "lines": int(lines),
                "amount_kop": int(amount),
                "commission_kop": int(comm),
                "fee_kop": int(fee),
                "net_kop": net,
            }
        )


def _provider_balances(conn: Connection, period: int) -> None:
    """Provider saldo of ``period``: opening payable + collected − commissions − fee − transferred."""
    start, end = period_start(period), period_end(period)
    prev = add_months(period, -1)
    opening = dict(
        conn.execute(
            select(m.ProviderBalance.provider_id, m.ProviderBalance.closing_kop).where(
                m.ProviderBalance.period == prev
            )
        ).all()
    )
    collected = {
        r[0]: r[1:]
        for r in conn.execute(
            text(
                """SELECT x.provider_id, SUM(x.amount_kop), SUM(x.commission_kop), SUM(x.fee_kop)
           FROM payment_allocations x JOIN payments pm ON pm.id = x.payment_id
           WHERE pm.op_date BETWEEN :start AND :end GROUP BY x.provider_id"""
            ),
            {"start": start, "end": end},
        )
    }
    transferred = dict(
        conn.execute(
            select(m.ProviderTransfer.provider_id, func.sum(m.ProviderTransfer.net_kop))
            .where(m.ProviderTransfer.transfer_date.between(start, end))
            .group_by(m.ProviderTransfer.provider_id)
        ).all()
    )
    providers = sorted(set(opening) | set(collected) | set(transferred))
    if not providers:
        return
    rows = {
        "provider_id": np.array(providers, dtype=np.int64),
        "opening_kop": np.array([int(opening.get(p, 0)) for p in providers], dtype=np.int64),
        "collected_kop": np.array([int(collected.get(p, (0, 0, 0))[0]) for p in providers], dtype=np.int64),
        "commission_kop": np.array([int(collected.get(p, (0, 0, 0))[1]) for p in providers], dtype=np.int64),
        "fee_kop": np.array([int(collected.get(p, (0, 0, 0))[2]) for p in providers], dtype=np.int64),
        "transferred_kop": np.array([int(transferred.get(p, 0)) for p in providers], dtype=np.int64),
    }
    out = calc.provider_balances(rows)
    conn.execute(delete(m.ProviderBalance).where(m.ProviderBalance.period == period))
    bulk_insert(
        conn,
        m.ProviderBalance.__table__,
        (
            "period",
            "provider_id",
            "opening_kop",
            "collected_kop",
            "commission_kop",
            "fee_kop",
            "transferred_kop",
            "closing_kop",
        ),
        [
            (
                period,
                int(p),
                int(rows["opening_kop"][i]),
                int(rows["collected_kop"][i]),
                int(rows["commission_kop"][i]),
                int(rows["fee_kop"][i]),
                int(rows["transferred_kop"][i]),
                int(out["closing_kop"][i]),
            )
            for i, p in enumerate(providers)
        ],
    )
