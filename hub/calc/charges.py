"""Monthly charges, domain spec §1 (Rules 354, Приложение 2) — the Python reference.

One function per formula, in natural units (exact ``Fraction`` m³, kWh, Gcal, m², rubles); each returns the
volume of the line, and :func:`line_amount` prices it: ``amount = round_half_up(V × T × k × share)`` to
the kopeck, once per line. ``share`` is a generic fraction (days of a mid-month tariff change, 12-month
heating spread, allocation of a late reading over months).

:func:`compute_batch` applies the rules to a normalized columnar batch (see ``hub.calc.schema``).
"""

from __future__ import annotations

from enum import IntEnum
from fractions import Fraction

import numpy as np

from hub.calc.units import AREA, COEF, PRICE, VOL, days_in_month, q, round_kop, round_scaled


class Method(IntEnum):
    """Charge method codes (column ``method`` / ``method_applied``)."""

    METER = 1  # ИПУ, formula 1: V = reading_curr − reading_prev
    NORM = 2  # formula 4 / 4(1): V = N × person_days / days_in_month, × coefficient
    HEAT_NORM = 3  # formula 2: V = S × N_T
    HEAT_ODPU = 4  # formula 3: V = V_D × S / S_об
    AREA = 5  # per-m² services: V = S, tariff = rate per m²
    SOI = 6  # КР на СОИ (§1.2)
    VOLUME = 7  # volume given (сточные = ХВС + ГВС, late reading allocation, external volume)
    AVERAGE = 8  # readings missing (§1.3): average, then norm
    HW_HEAT = 9  # two-component hot water, heat part: V = V_hw × q (q in ``norm``)


def volume_meter(reading_prev: Fraction, reading_curr: Fraction) -> Fraction:
    """Formula 1: the metered volume of the month."""
    return reading_curr - reading_prev


def volume_norm(norm: Fraction, person_days: int, dim: int) -> Fraction:
    """Formula 4: ``n × N`` with ``n`` as person-days / days in month (temporary residents, §1.4 1i)."""
    return norm * person_days / dim


def volume_heat_norm(area: Fraction, norm: Fraction) -> Fraction:
    """Formula 2: heating by norm, ``S × N_T`` (Gcal)."""
    return area * norm


def volume_heat_odpu(house_volume: Fraction, area: Fraction, total_area: Fraction) -> Fraction:
    """Formula 3: heating by the building meter, ``V_D × S / S_об``."""
    return house_volume * area / total_area


def volume_soi(
    house_volume: Fraction,
    indiv_volume: Fraction,
    soi_norm: Fraction,
    common_area: Fraction,
    area: Fraction,
    total_area: Fraction,
    *,
    has_house_meter: bool = True,
    by_actual: bool = False,
    allow_negative: bool = False,
) -> Fraction:
    """§1.2 КР на СОИ: house excess over individual volumes, capped by ``N_СОИ × S_ои``, by area share."""
    cap = soi_norm * common_area
    if not has_house_meter:
        distributed = cap
    else:
        distributed = house_volume - indiv_volume
        if not allow_negative:
            distributed = max(distributed, Fraction(0))
        if not by_actual:
            distributed = min(distributed, cap)
    return distributed * area / total_area


def averaging_choice(hist_months: int, missing_seq: int) -> bool:
    """§1.3: True → charge the average volume; False → charge by norm.

    The average needs at least 3 months of history and applies to at most 3 consecutive periods
    without readings (``missing_seq`` = 1 for the first such period).
    """
    return hist_months >= 3 and 1 <= missing_seq <= 3


def volume_average(hist_volume: Fraction, hist_months: int) -> Fraction:
    """§1.3: average monthly volume over the history months."""
    return hist_volume / hist_months


def line_amount(volume: Fraction, tariff: Fraction, coef: Fraction, share: Fraction) -> int:
    """Price a line: ``round_half_up(V × T × k × share)`` in kopecks."""
    return round_kop(volume * tariff * coef * share)


def charge_row(r: dict[str, int]) -> dict[str, int]:
    """Compute one line from a row of scaled integers (keys as in the batch schema)."""
    method = Method(r["method"])
    dim = days_in_month(r["period"])
    tariff = q(r["tariff_x4"], PRICE)
    norm = q(r["norm_x6"], VOL)
    area = q(r["area_x4"], AREA)
    coef = q(r["coef_x4"], COEF)
    one = Fraction(1)
    share = Fraction(r["share_num"], r["share_den"])
    applied = method
    if method is Method.METER:
        v = volume_meter(q(r["reading_prev_x6"], VOL), q(r["reading_curr_x6"], VOL))
    elif method is Method.NORM:
        v = volume_norm(norm, r["person_days"], dim)
    elif method is Method.HEAT_NORM:
        v = volume_heat_norm(area, norm)
    elif method is Method.HEAT_ODPU:
        v = volume_heat_odpu(q(r["house_volume_x6"], VOL), area, q(r["total_area_x4"], AREA))
    elif method is Method.AREA:
        v = area
    elif method is Method.SOI:
        v = volume_soi(
            q(r["house_volume_x6"], VOL),
            q(r["indiv_volume_x6"], VOL),
            norm,
            q(r["common_area_x4"], AREA),
            area,
            q(r["total_area_x4"], AREA),
            has_house_meter=bool(r["has_house_meter"]),
            by_actual=bool(r["soi_by_actual"]),
            allow_negative=bool(r["soi_allow_negative"]),
        )
    elif method is Method.VOLUME:
        v = q(r["volume_x6"], VOL)
    elif method is Method.HW_HEAT:
        v = q(r["volume_x6"], VOL) * norm
    else:  # Method.AVERAGE
        if averaging_choice(r["hist_months"], r["missing_seq"]):
            v = volume_average(q(r["hist_volume_x6"], VOL), r["hist_months"])
            applied = Method.AVERAGE
        else:
            v = volume_norm(norm, r["person_days"], dim)
            applied = Method.NORM
    # The increasing coefficient applies to norm-based lines only; an average is never increased
    # and a norm fallback after missing readings is increased only when the meter failed (§1.3).
    if applied is not Method.NORM or (method is Method.AVERAGE and not r["meter_failed"]):
        coef = one
    amount = line_amount(v, tariff, coef, share)
    base = line_amount(v, tariff, one, share) if coef != one else amount
    shown = v * share
    return {
        "method_applied": int(applied),
        "volume_x6": round_scaled(shown, VOL),
        "coef_x4": round_scaled(coef, COEF),
        "amount_kop": amount,
        "base_kop": base,
        "increase_kop": amount - base,
    }


INPUTS = (
    "period",
    "method",
    "reading_prev_x6",
    "reading_curr_x6",
    "volume_x6",
    "tariff_x4",
    "norm_x6",
    "person_days",
    "area_x4",
    "total_area_x4",
    "common_area_x4",
    "house_volume_x6",
    "indiv_volume_x6",
    "has_house_meter",
    "soi_by_actual",
    "soi_allow_negative",
    "coef_x4",
    "share_num",
    "share_den",
    "hist_volume_x6",
    "hist_months",
    "missing_seq",
    "meter_failed",
)
OUTPUTS = ("method_applied", "volume_x6", "coef_x4", "amount_kop", "base_kop", "increase_kop")


def compute_batch(cols: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Reference implementation of ``compute_charges`` over a normalized batch (row by row)."""
    n = len(cols["method"])
    out = {k: np.zeros(n, dtype=np.int64) for k in OUTPUTS}
    for i in range(n):
        res = charge_row({k: int(cols[k][i]) for k in INPUTS})
        for k, v in res.items():
            out[k][i] = v
    return out
