"""Russian formatting of money, numbers, percentages, dates and billing periods for the dashboards.

Money: ``1 234 567,89 ₽`` (no-break spaces between thousands, a decimal comma); dates ``ДД.ММ.ГГГГ``;
periods ``ноябрь 2026`` (``YYYYMM`` ints in the store).
"""

from __future__ import annotations

import datetime as dt
import math
import re

NBSP = "\u00a0"
MONTHS = (
    "январь",
    "февраль",
    "март",
    "апрель",
    "май",
    "июнь",
    "июль",
    "август",
    "сентябрь",
    "октябрь",
    "ноябрь",
    "декабрь",
)


def _group(digits: int) -> str:
    return f"{digits:,}".replace(",", NBSP)


def rub(kop: int | None) -> str:
    """Kopecks → ``1 234 567,89 ₽`` (exact: integer arithmetic)."""
    if kop is None:
        return "—"
    kop = int(kop)
    sign = "−" if kop < 0 else ""
    whole, frac = divmod(abs(kop), 100)
    return f"{sign}{_group(whole)},{frac:02d}{NBSP}₽"


def rub_value(rubles: float | None) -> str:
    """Rubles (a float of a display table) → ``1 234 567,89 ₽``."""
    if rubles is None or (isinstance(rubles, float) and math.isnan(rubles)):
        return ""
    return rub(round(float(rubles) * 100))


def num(value: float | int | None, decimals: int = 0) -> str:
    """A count or a quantity: ``12 345`` or ``7,935``."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if decimals == 0:
        v = int(round(float(value)))
        return ("−" if v < 0 else "") + _group(abs(v))
    text = f"{abs(float(value)):,.{decimals}f}".replace(",", " ").replace(".", ",").replace(" ", NBSP)
    return ("−" if float(value) < 0 else "") + text


def pct(share: float | None, decimals: int = 1) -> str:
    """A share (0.873) → ``87,3 %``; None/NaN → ``—``."""
    if share is None or (isinstance(share, float) and math.isnan(share)):
        return "—"
    return f"{share * 100:.{decimals}f}".replace(".", ",") + f"{NBSP}%"


def date_ru(value: dt.date | dt.datetime | None) -> str:
    """``ДД.ММ.ГГГГ`` (datetimes keep ``ЧЧ:ММ``)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if hasattr(value, "to_pydatetime"):  # pandas Timestamp
        value = value.to_pydatetime()
    if isinstance(value, dt.datetime):
        return value.strftime("%d.%m.%Y %H:%M")
    if isinstance(value, dt.date):
        return value.strftime("%d.%m.%Y")
    return str(value)


def period_name(period: int | None) -> str:
    """``202611`` → ``ноябрь 2026``."""
    if not period:
        return ""
    return f"{MONTHS[int(period) % 100 - 1]} {int(period) // 100}"


def period_add(period: int, months: int) -> int:
    y, m = divmod(period // 100 * 12 + period % 100 - 1 + months, 12)
    return y * 100 + m + 1


def period_last_day(period: int) -> dt.date:
    nxt = period_add(period, 1)
    return dt.date(nxt // 100, nxt % 100, 1) - dt.timedelta(days=1)


_RUB = re.compile(r"^(−|-)?([\d\s\u00a0]+),(\d{2})\s?\u00a0?₽$")


def parse_rub(text: str) -> int:
    """``1 234 567,89 ₽`` → 123456789 kopecks (the inverse of :func:`rub`)."""
    match = _RUB.match(text.strip())
    if not match:
        raise ValueError(f"not a ruble amount: {text!r}")
    whole = int(re.sub(r"[\s\u00a0]", "", match.group(2)))
    kop = whole * 100 + int(match.group(3))
    return -kop if match.group(1) else kop
