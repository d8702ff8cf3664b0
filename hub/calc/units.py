"""Fixed-point scales, exact rounding and calendar helpers shared by the reference calculator.

Every batch column holds integers with a documented scale (docs/calc.md, "Scales"):

* money: kopecks (``*_kop``);
* volumes, meter readings, norms: millionths of a unit (``*_x6``);
* tariffs and per-m² rates: 1/10 000 ruble (``*_x4`` on a ruble amount);
* areas: 1/10 000 m² (``*_x4``); coefficients: 1/10 000 (``coef_x4``, 15 000 = 1.5);
* interest / key rates and benefit shares: basis points (``*_bp``, 950 = 9.5 %);
* small fractional rates (reductions, fees): parts per million (``*_ppm``, 15 000 = 1.5 %);
* periods: ``YYYYMM`` ints; dates: days since 1970-01-01 (int) or ``numpy.datetime64[D]``.

The reference converts these integers to exact rational values in natural units (``fractions.Fraction``,
so that ``V_D × S / S_об`` or ``N × person_days / days`` carry no intermediate rounding at all) and rounds
money ROUND_HALF_UP (half away from zero) to the kopeck once per line, exactly like the Rust engine does
with i128 rationals. ``Decimal`` is used for display (rubles with 2 decimals).
"""

from __future__ import annotations

import calendar
import datetime as dt
from decimal import Decimal
from fractions import Fraction

VOL = 10**6
PRICE = 10**4
AREA = 10**4
COEF = 10**4
BP = 10**4
PPM = 10**6
EPOCH = dt.date(1970, 1, 1)
KOPECK = Decimal("0.01")


def q(value: int, scale: int = 1) -> Fraction:
    """Exact rational of a scaled integer (``q(52_9300, PRICE) == Fraction('52.93')``)."""
    return Fraction(int(value), scale)


def round_half_up(x: Fraction) -> int:
    """Round to an integer, halves away from zero (Decimal ROUND_HALF_UP)."""
    n, d = abs(x.numerator), x.denominator
    r = (2 * n + d) // (2 * d)
    return r if x >= 0 else -r


def round_kop(rub: Fraction) -> int:
    """Round a ruble amount ROUND_HALF_UP to integer kopecks (once per line)."""
    return round_half_up(rub * 100)


def round_scaled(value: Fraction, scale: int) -> int:
    """Round a value ROUND_HALF_UP to an integer in the given scale (explanation columns)."""
    return round_half_up(value * scale)


def kop_to_rub(kop: int) -> Decimal:
    """Kopecks to a 2-decimal ruble Decimal (display)."""
    return (Decimal(int(kop)) / 100).quantize(KOPECK)


def period_year_month(period: int) -> tuple[int, int]:
    """Split ``YYYYMM`` into (year, month)."""
    return period // 100, period % 100


def days_in_month(period: int) -> int:
    """Number of days of the billing period ``YYYYMM``."""
    y, m = period_year_month(period)
    return calendar.monthrange(y, m)[1]


def add_months(period: int, months: int) -> int:
    """``YYYYMM`` shifted by a number of months."""
    y, m = period_year_month(period)
    idx = y * 12 + (m - 1) + months
    return (idx // 12) * 100 + idx % 12 + 1


def period_start(period: int) -> dt.date:
    """First day of the period."""
    y, m = period_year_month(period)
    return dt.date(y, m, 1)


def period_end(period: int) -> dt.date:
    """Last day of the period."""
    y, m = period_year_month(period)
    return dt.date(y, m, days_in_month(period))


def to_days(d: dt.date) -> int:
    """Date to days since 1970-01-01."""
    return (d - EPOCH).days


def from_days(n: int) -> dt.date:
    """Days since 1970-01-01 to a date."""
    return EPOCH + dt.timedelta(days=int(n))


def add_years(d: dt.date, years: int) -> dt.date:
    """Same calendar day ``years`` later (29 Feb → 28 Feb)."""
    try:
        return d.replace(year=d.year + years)
    except ValueError:
        return d.replace(year=d.year + years, day=28)


#: First charge period whose payment is due on the 15th (amounts due from March 2026, §4.1).
DUE_15_FROM_PERIOD = 202602


def due_date(period: int) -> dt.date:
    """Payment due date of the charges of ``period`` (§4.1): 10th of the next month, 15th from 03.2026."""
    nxt = add_months(period, 1)
    y, m = period_year_month(nxt)
    return dt.date(y, m, 15 if period >= DUE_15_FROM_PERIOD else 10)
