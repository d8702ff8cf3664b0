"""Benefits (льготы) from social protection, domain spec §1.5 — the Python reference.

``benefit = round_half_up(charged × share% × covered / registered × active_days / days_in_month)``,
rounded once, never above the charge, 0 for a non-positive charge. A benefit without a share
(``share_bp < 0``, kind SUBSIDY) reduces nothing.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from hub.calc.units import BP, days_in_month, round_kop


def benefit_amount(
    charged_kop: int, share_bp: int, covered: int, registered: int, active_days: int, dim: int
) -> int:
    """Benefit for one charge line in kopecks (``registered`` is at least 1)."""
    if share_bp < 0 or charged_kop <= 0:
        return 0
    amount = Fraction(charged_kop, 100) * Fraction(share_bp, BP) * Fraction(covered, max(registered, 1))
    amount *= Fraction(active_days, dim)
    return min(round_kop(amount), charged_kop)


OUTPUTS = ("benefit_kop",)


def compute_batch(cols: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Reference ``compute_benefits`` over a normalized batch."""
    n = len(cols["charge_kop"])
    out = np.zeros(n, dtype=np.int64)
    for i in range(n):
        out[i] = benefit_amount(
            int(cols["charge_kop"][i]),
            int(cols["share_bp"][i]),
            int(cols["covered"][i]),
            int(cols["registered"][i]),
            int(cols["active_days"][i]),
            days_in_month(int(cols["period"][i])),
        )
    return {"benefit_kop": out}
