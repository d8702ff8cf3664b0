"""Saldo per account × service and debt aging, domain spec §6 — the Python reference.

* ``closing = opening + charged + recalc − paid + corrections``; ``opening(m+1) = closing(m)``: rows of the
  same (account, service) are chained in period order, the given ``opening_kop`` of a later row is ignored.
  Positive = debt, negative = advance. ``to_pay`` of an account for a period = max(0, Σ closing).
* Aging: credits (payments, negative charges) of an (account, service) are applied FIFO to its charge
  months, oldest first; a month's remaining debt is aged by the days past its due date at the as-of date.
  Buckets: 0 not due, 1 = 1–30, 2 = 31–90, 3 = 91–180, 4 = 181–365, 5 = 366–1095, 6 = over 1095 days.
"""

from __future__ import annotations

import numpy as np

BUCKET_LIMITS = (0, 30, 90, 180, 365, 1095)  # upper bounds of buckets 0..5 in days past due
BUCKET_NAMES = ("не наступил срок", "1–30", "31–90", "91–180", "181–365", "366–1095", "более 1095")


def closing(opening: int, charged: int, recalc: int, paid: int, correction: int = 0) -> int:
    """Closing saldo of one account × service × period."""
    return opening + charged + recalc - paid + correction


def bucket_of(days_past_due: int) -> int:
    """Aging bucket code of a debt ``days_past_due`` days past its due date."""
    for code, limit in enumerate(BUCKET_LIMITS):
        if days_past_due <= limit:
            return code
    return len(BUCKET_LIMITS)


def _groups(cols: dict[str, np.ndarray]) -> dict[tuple[int, int], list[int]]:
    """Row indices per (account, service), each list sorted by period (stable)."""
    g: dict[tuple[int, int], list[int]] = {}
    for i in range(len(cols["account_id"])):
        g.setdefault((int(cols["account_id"][i]), int(cols["service_id"][i])), []).append(i)
    return {k: sorted(v, key=lambda i: int(cols["period"][i])) for k, v in g.items()}


SALDO_OUTPUTS = ("opening_kop", "closing_kop", "account_total_kop", "to_pay_kop")


def saldo_batch(cols: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Reference ``saldo`` over a normalized batch."""
    n = len(cols["account_id"])
    out = {k: np.zeros(n, dtype=np.int64) for k in SALDO_OUTPUTS}
    for idx in _groups(cols).values():
        prev: int | None = None
        for i in idx:
            opening = int(cols["opening_kop"][i]) if prev is None else prev
            prev = closing(
                opening,
                int(cols["charged_kop"][i]),
                int(cols["recalc_kop"][i]),
                int(cols["paid_kop"][i]),
                int(cols["correction_kop"][i]),
            )
            out["opening_kop"][i] = opening
            out["closing_kop"][i] = prev
    totals: dict[tuple[int, int], int] = {}
    for i in range(n):
        key = (int(cols["account_id"][i]), int(cols["period"][i]))
        totals[key] = totals.get(key, 0) + int(out["closing_kop"][i])
    for i in range(n):
        t = totals[(int(cols["account_id"][i]), int(cols["period"][i]))]
        out["account_total_kop"][i] = t
        out["to_pay_kop"][i] = max(0, t)
    return out


AGING_OUTPUTS = ("remaining_kop", "days_past_due", "bucket", "advance_kop")


def aging_batch(cols: dict[str, np.ndarray], as_of: int) -> dict[str, np.ndarray]:
    """Reference ``aging``: FIFO per (account, service); ``as_of`` and ``due_date`` are day numbers."""
    n = len(cols["account_id"])
    out = {k: np.zeros(n, dtype=np.int64) for k in AGING_OUTPUTS}
    for idx in _groups(cols).values():
        credit = sum(int(cols["credit_kop"][i]) for i in idx)
        credit += sum(-int(cols["charged_kop"][i]) for i in idx if int(cols["charged_kop"][i]) < 0)
        for i in idx:
            charged = max(int(cols["charged_kop"][i]), 0)
            applied = min(charged, max(credit, 0))
            credit -= applied
            remaining = charged - applied
            dpd = as_of - int(cols["due_date"][i])
            out["remaining_kop"][i] = remaining
            out["days_past_due"][i] = max(dpd, 0)
            out["bucket"][i] = bucket_of(dpd) if remaining else 0
        out["advance_kop"][idx[-1]] = max(credit, 0)
    return out
