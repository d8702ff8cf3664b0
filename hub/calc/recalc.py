"""Recalculations (перерасчеты), domain spec §2 — the Python reference.

* Temporary absence (§2.1, Rules 354 pp.86–93): services charged by norm, without an ИПУ because there is
  no technical possibility (``eligible``), never with the 1.5 coefficient. Absence must exceed 5 full days
  (departure and return days excluded); per month ``ΔP = −N × T × (persons × absent days) / days``.
* Past-period changes (§2.2): ``delta = recompute(corrected inputs) − charged``, posted in the current
  period with a reason code and the corrected period (see ``engine.compute_recalc``).
* Late readings after averaging (§2.3, p.61): the actual volume is allocated over the unread months
  pro rata by days and each month is re-priced with its own tariff (:func:`late_reading_rows`).

Reason codes (column ``reason``) are listed in :data:`REASONS`.
"""

from __future__ import annotations

import datetime as dt
from fractions import Fraction

import numpy as np

from hub.calc.units import COEF, PRICE, VOL, days_in_month, from_days, period_end, period_start, q, round_kop

MIN_ABSENCE_DAYS = 6  # "more than 5 full days"

REASONS = {
    1: "Временное отсутствие потребителя",
    2: "Корректировка тарифа",
    3: "Поступление показаний ИПУ",
    4: "Ненадлежащее качество / перерывы",
    5: "Временно проживающие",
    6: "Решение суда / проверки",
    9: "Прочее",
}
REASON_ABSENCE, REASON_TARIFF, REASON_READINGS, REASON_QUALITY = 1, 2, 3, 4


def full_absence_days(depart: dt.date, ret: dt.date) -> int:
    """Full days of absence, excluding the departure and the return days."""
    return max(0, (ret - depart).days - 1)


def absent_days_in_period(depart: dt.date, ret: dt.date, period: int) -> int:
    """Full absence days falling into ``period`` (0 unless the whole absence is longer than 5 days)."""
    if full_absence_days(depart, ret) < MIN_ABSENCE_DAYS:
        return 0
    first = max(depart + dt.timedelta(days=1), period_start(period))
    last = min(ret - dt.timedelta(days=1), period_end(period))
    return max(0, (last - first).days + 1)


def absence_delta(norm: Fraction, tariff: Fraction, persons: int, absent_days: int, dim: int) -> int:
    """``−round_half_up(N × T × person-days / days)`` in kopecks."""
    return -round_kop(norm * tariff * persons * absent_days / dim)


OUTPUTS = ("absent_days", "total_days", "delta_kop")


def absence_batch(cols: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Reference ``absence_recalc`` over a normalized batch (one row per absence × month)."""
    n = len(cols["period"])
    out = {k: np.zeros(n, dtype=np.int64) for k in OUTPUTS}
    for i in range(n):
        period = int(cols["period"][i])
        depart, ret = from_days(int(cols["depart_date"][i])), from_days(int(cols["return_date"][i]))
        total = full_absence_days(depart, ret)
        days = absent_days_in_period(depart, ret, period)
        ok = bool(cols["eligible"][i]) and int(cols["coef_x4"][i]) == COEF
        out["total_days"][i] = total
        out["absent_days"][i] = days if ok else 0
        out["delta_kop"][i] = (
            absence_delta(
                q(int(cols["norm_x6"][i]), VOL),
                q(int(cols["tariff_x4"][i]), PRICE),
                int(cols["persons"][i]),
                days,
                days_in_month(period),
            )
            if ok
            else 0
        )
    return out


def late_reading_rows(volume_x6: int, periods: list[int], tariffs_x4: list[int]) -> dict[str, np.ndarray]:
    """§2.3: a ``compute_charges`` batch re-pricing an actual volume over the unread months.

    Each month gets ``V × days_m / Σdays`` (method VOLUME with ``share_num/share_den``) at its own tariff.
    """
    days = [days_in_month(p) for p in periods]
    n = len(periods)
    return {
        "period": np.array(periods, dtype=np.int64),
        "method": np.full(n, 7, dtype=np.int64),
        "volume_x6": np.full(n, volume_x6, dtype=np.int64),
        "tariff_x4": np.array(tariffs_x4, dtype=np.int64),
        "share_num": np.array(days, dtype=np.int64),
        "share_den": np.full(n, sum(days), dtype=np.int64),
    }
