"""Payment splitting, domain spec §5.2–§5.3 — the Python reference.

* :func:`largest_remainder` — kopeck-exact Hamilton split of a total by weights (§5.3);
* :func:`largest_remainder_capped` — the same with per-item caps, iterating while a cap binds;
* :func:`allocate_payments` — the §5.2 order: designated services, explicit penalty, the period
  named by the payer, oldest debt first (skipping debts past the 3-year limitation), penalties
  (oldest first), advance proportional to the current period's charges.

Allocation ``step`` codes (explanation column): 1 designated service, 2 explicit penalty amount,
3 designated period, 4 oldest debt first, 5 penalties, 6 advance, 7 designated-service excess (advance).
Allocation ``kind``: 0 principal, 1 penalty, 2 advance.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from hub.calc.units import add_years, due_date, to_days

KIND_PRINCIPAL, KIND_PENALTY, KIND_ADVANCE = 0, 1, 2
STEP_DESIGNATED, STEP_PENALTY_GIVEN, STEP_PERIOD, STEP_OLDEST, STEP_PENALTY, STEP_ADVANCE, STEP_EXCESS = (
    1,
    2,
    3,
    4,
    5,
    6,
    7,
)
LIMITATION_YEARS = 3


def largest_remainder(total: int, weights: Sequence[int]) -> list[int]:
    """Split ``total`` kopecks in proportion to ``weights`` (negative weights count as 0).

    ``a_i = floor(total × w_i / Σw)``; the leftover kopecks go one each to the largest fractional
    parts, ties to the lower index. All weights zero → all parts zero.
    """
    w = [max(int(x), 0) for x in weights]
    s = sum(w)
    if s == 0:
        return [0] * len(w)
    parts = [total * wi // s for wi in w]
    rems = [total * wi % s for wi in w]
    left = total - sum(parts)
    order = sorted(range(len(w)), key=lambda i: (-rems[i], i))
    for k in range(left):
        parts[order[k % len(order)]] += 1
    return parts


def largest_remainder_capped(total: int, weights: Sequence[int], caps: Sequence[int]) -> list[int]:
    """Largest remainder with ``part_i ≤ cap_i``: items over their cap are fixed at the cap and the rest
    is split again among the others, until no cap binds. Items with a zero weight or cap get nothing;
    if the caps cannot absorb ``total`` the parts add up to less (the caller keeps the rest).
    """
    n = len(weights)
    parts = [0] * n
    active = [i for i in range(n) if weights[i] > 0 and caps[i] > 0]
    remaining = total
    while active and remaining > 0:
        trial = largest_remainder(remaining, [weights[i] for i in active])
        over = [i for i, p in zip(active, trial, strict=True) if p > caps[i]]
        if not over:
            for i, p in zip(active, trial, strict=True):
                parts[i] = p
            break
        for i in over:
            parts[i] = caps[i]
            remaining -= caps[i]
        active = [i for i in active if i not in over]
    return parts


@dataclass
class DebtItem:
    """One unpaid item of an account: principal or penalty of a (period, service)."""

    row: int
    account_id: int
    period: int
    service_id: int
    provider_id: int
    kind: int
    unpaid: int
    charge: int
    order: int


@dataclass
class PaymentIn:
    """One payment of an account (``period`` 0 = not designated; ``penalty`` < 0 = not designated)."""

    payment_id: int
    account_id: int
    amount: int
    pay_date: int
    period: int
    current_period: int
    penalty: int
    designations: list[tuple[int, int]] = field(default_factory=list)


@dataclass
class Allocation:
    payment_id: int
    account_id: int
    service_id: int
    provider_id: int
    period: int
    kind: int
    step: int
    amount: int
    debt_row: int


def _expired(item: DebtItem, pay_date: int) -> bool:
    """The debt is past the 3-year limitation on the payment date."""
    return pay_date > to_days(add_years(due_date(item.period), LIMITATION_YEARS))


def _spread(items: list[DebtItem], amount: int, pay: PaymentIn, step: int, out: list[Allocation]) -> int:
    """Allocate up to ``amount`` over ``items`` proportionally to their unpaid amounts (capped)."""
    items = sorted(items, key=lambda d: (d.order, d.service_id, d.row))
    unpaid = [d.unpaid for d in items]
    total = min(amount, sum(u for u in unpaid if u > 0))
    if total <= 0:
        return 0
    parts = largest_remainder_capped(total, unpaid, unpaid)
    for d, p in zip(items, parts, strict=True):
        if p:
            d.unpaid -= p
            out.append(
                Allocation(
                    pay.payment_id,
                    pay.account_id,
                    d.service_id,
                    d.provider_id,
                    d.period,
                    d.kind,
                    step,
                    p,
                    d.row,
                )
            )
    return sum(parts)


def allocate_account(debts: list[DebtItem], payments: list[PaymentIn]) -> list[Allocation]:
    """Apply the payments of one account, in (pay_date, payment_id) order, to its debt items (§5.2)."""
    out: list[Allocation] = []
    for pay in sorted(payments, key=lambda p: (p.pay_date, p.payment_id)):
        rem = pay.amount
        live = [d for d in debts if not _expired(d, pay.pay_date)]
        principal = [d for d in live if d.kind == KIND_PRINCIPAL]
        # 1. designated services: that service's period (if named), then its oldest debt; excess = advance
        for service_id, wanted in pay.designations:
            amt = min(wanted, rem)
            mine = [d for d in principal if d.service_id == service_id]
            months = sorted({d.period for d in mine}, key=lambda p: (p != pay.period, p))
            for m in months:
                amt_m = _spread([d for d in mine if d.period == m], amt, pay, STEP_DESIGNATED, out)
                amt -= amt_m
                rem -= amt_m
            if amt > 0:
                prov = next((d.provider_id for d in debts if d.service_id == service_id), 0)
                out.append(
                    Allocation(
                        pay.payment_id,
                        pay.account_id,
                        service_id,
                        prov,
                        pay.current_period,
                        KIND_ADVANCE,
                        STEP_EXCESS,
                        amt,
                        -1,
                    )
                )
                rem -= amt
        # 2. explicit penalty amount: over all penalty items proportionally to their debt
        if pay.penalty >= 0:
            pen = [d for d in live if d.kind == KIND_PENALTY]
            rem -= _spread(pen, min(pay.penalty, rem), pay, STEP_PENALTY_GIVEN, out)
        # 3. the designated period
        if pay.period:
            rem -= _spread([d for d in principal if d.period == pay.period], rem, pay, STEP_PERIOD, out)
        # 4. oldest principal first
        for m in sorted({d.period for d in principal}):
            rem -= _spread([d for d in principal if d.period == m], rem, pay, STEP_OLDEST, out)
        # 5. penalties, oldest debt month first
        pen = [d for d in live if d.kind == KIND_PENALTY]
        for m in sorted({d.period for d in pen}):
            rem -= _spread([d for d in pen if d.period == m], rem, pay, STEP_PENALTY, out)
        # 6. advance, proportional to the current period's charges
        if rem > 0:
            cur = sorted(
                [d for d in debts if d.kind == KIND_PRINCIPAL and d.period == pay.current_period],
                key=lambda d: (d.order, d.service_id, d.row),
            )
            weights = [max(d.charge, 0) for d in cur]
            if sum(weights) == 0:
                weights = [1] * len(cur)
            if not cur:
                out.append(
                    Allocation(
                        pay.payment_id,
                        pay.account_id,
                        0,
                        0,
                        pay.current_period,
                        KIND_ADVANCE,
                        STEP_ADVANCE,
                        rem,
                        -1,
                    )
                )
            else:
                for d, p in zip(cur, largest_remainder(rem, weights), strict=True):
                    if p:
                        out.append(
                            Allocation(
                                pay.payment_id,
                                pay.account_id,
                                d.service_id,
                                d.provider_id,
                                pay.current_period,
                                KIND_ADVANCE,
                                STEP_ADVANCE,
                                p,
                                d.row,
                            )
                        )
    return out


ALLOC_COLUMNS = (
    "payment_id",
    "account_id",
    "service_id",
    "provider_id",
    "period",
    "kind",
    "step",
    "amount_kop",
    "debt_row",
)


def allocate_batch(
    debts: dict[str, np.ndarray], payments: dict[str, np.ndarray], designations: dict[str, np.ndarray]
) -> dict[str, np.ndarray]:
    """Reference ``split_payments`` over normalized batches; accounts in ascending id order."""
    items: dict[int, list[DebtItem]] = {}
    for i in range(len(debts["account_id"])):
        d = DebtItem(
            i,
            *(
                int(debts[k][i])
                for k in (
                    "account_id",
                    "period",
                    "service_id",
                    "provider_id",
                    "kind",
                    "unpaid_kop",
                    "charge_kop",
                    "order",
                )
            ),
        )
        items.setdefault(d.account_id, []).append(d)
    pays: dict[int, list[PaymentIn]] = {}
    by_id: dict[int, PaymentIn] = {}
    for i in range(len(payments["payment_id"])):
        p = PaymentIn(
            payment_id=int(payments["payment_id"][i]),
            account_id=int(payments["account_id"][i]),
            amount=int(payments["amount_kop"][i]),
            pay_date=int(payments["pay_date"][i]),
            period=int(payments["period"][i]),
            current_period=int(payments["current_period"][i]),
            penalty=int(payments["penalty_kop"][i]),
        )
        pays.setdefault(p.account_id, []).append(p)
        by_id[p.payment_id] = p
    for i in range(len(designations["payment_id"])):
        by_id[int(designations["payment_id"][i])].designations.append(
            (int(designations["service_id"][i]), int(designations["amount_kop"][i]))
        )
    rows: list[Allocation] = []
    for acc in sorted(pays):
        rows.extend(allocate_account(items.get(acc, []), pays[acc]))
    names = {"amount_kop": "amount"}
    return {c: np.array([getattr(a, names.get(c, c)) for a in rows], dtype=np.int64) for c in ALLOC_COLUMNS}
