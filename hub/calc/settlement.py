"""Commissions, the ИРЦ fee, transfers and provider balances, domain spec §5.4 — the Python reference.

* The consumer's account is credited with the full payment; the agent (bank) commission withheld from it
  is split over the payment's allocations by largest remainder (§5.3).
* A transfer-registry line is (payment, provider): gross = Σ its allocations; the ИРЦ fee of the line is
  ``round_half_up(gross × fee rate)``; net = gross − commission − fee.
* Provider balance: ``closing = opening_payable + collected − commissions − fee − transferred``.

Invariant: Σ net + Σ commission + Σ fee = Σ collected.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from hub.calc.split import largest_remainder
from hub.calc.units import PPM, round_half_up

LINE_OUTPUTS = ("payment_id", "provider_id", "gross_kop", "commission_kop", "fee_kop", "net_kop")


def fee_for_line(gross_kop: int, fee_ppm: int) -> int:
    """ИРЦ fee of one registry line: ``round_half_up(gross × rate)`` in kopecks."""
    return round_half_up(Fraction(gross_kop * fee_ppm, PPM))


def transfers_batch(
    allocs: dict[str, np.ndarray], payments: dict[str, np.ndarray], fees: dict[str, np.ndarray]
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Reference ``transfers``: (per-allocation commission, registry lines by (payment, provider)).

    ``allocs``: payment_id, provider_id, amount_kop (in allocation order); ``payments``: payment_id,
    commission_kop; ``fees``: provider_id, fee_ppm (a provider without a row pays no fee).
    Lines come in order of first appearance of (payment, provider) in ``allocs``.
    """
    commission = {
        int(p): int(c) for p, c in zip(payments["payment_id"], payments["commission_kop"], strict=True)
    }
    fee_rate = {int(p): int(r) for p, r in zip(fees["provider_id"], fees["fee_ppm"], strict=True)}
    n = len(allocs["payment_id"])
    alloc_comm = np.zeros(n, dtype=np.int64)
    by_payment: dict[int, list[int]] = {}
    for i in range(n):
        by_payment.setdefault(int(allocs["payment_id"][i]), []).append(i)
    for pid, idx in by_payment.items():
        parts = largest_remainder(commission.get(pid, 0), [int(allocs["amount_kop"][i]) for i in idx])
        for i, p in zip(idx, parts, strict=True):
            alloc_comm[i] = p
    lines: dict[tuple[int, int], list[int]] = {}
    for i in range(n):
        key = (int(allocs["payment_id"][i]), int(allocs["provider_id"][i]))
        acc = lines.setdefault(key, [0, 0])
        acc[0] += int(allocs["amount_kop"][i])
        acc[1] += int(alloc_comm[i])
    rows = []
    for (pid, prov), (gross, comm) in lines.items():
        fee = fee_for_line(gross, fee_rate.get(prov, 0))
        rows.append((pid, prov, gross, comm, fee, gross - comm - fee))
    out = {c: np.array([r[j] for r in rows], dtype=np.int64) for j, c in enumerate(LINE_OUTPUTS)}
    return {"commission_kop": alloc_comm}, out


def provider_closing(
    opening_kop: int, collected_kop: int, commission_kop: int, fee_kop: int, transferred_kop: int
) -> int:
    """Provider saldo: what the center still owes the provider at the end of the period."""
    return opening_kop + collected_kop - commission_kop - fee_kop - transferred_kop


def balances_batch(cols: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Reference ``provider_balances``: ``closing_kop`` and ``transfer_due_kop`` per row."""
    closing = np.array(
        [
            provider_closing(
                *(
                    int(cols[k][i])
                    for k in ("opening_kop", "collected_kop", "commission_kop", "fee_kop", "transferred_kop")
                )
            )
            for i in range(len(cols["opening_kop"]))
        ],
        dtype=np.int64,
    )
    return {"closing_kop": closing, "transfer_due_kop": np.maximum(closing, 0)}
