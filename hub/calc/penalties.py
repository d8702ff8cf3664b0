"""Penalties (пени), ЖК РФ art. 155 part 14 / 14.1, domain spec §4 — the Python reference.

Per debt month: due date ``D`` (10th of the next month; 15th for charges due from March 2026); overdue
day ``k = d − D``; days 1–30 free, 31–90 at 1/300 of the rate, 91+ at 1/130 (капремонт: 1/300 from day 31,
no 1/130 step). The base of a day is the amount still unpaid at the start of that day (the payment day
accrues; the reduced base starts the next day). Each paid portion uses the rate of its payment day, the
unpaid rest the rate of the calculation date (§4.3); the rate is the key rate on that date, capped by the
regimes table (``min(key, 9.5 %)`` for 28.02.2022–31.12.2026). Pause windows (06.04.2020–31.12.2020; the
2022 bankruptcy moratorium for obligations of periods up to 03.2022, switchable) zero the daily penalty
while the overdue-day counter keeps running. Daily amounts are accumulated exactly and rounded once per
(debt month, calculation run).

Reference data (``hub/calc/data``): ``key_rates.csv`` (Bank of Russia key rate history) and
``penalty_regimes.csv`` (the special regimes table).
"""

from __future__ import annotations

import csv
import datetime as dt
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from hub.calc.units import BP, from_days, round_kop

DATA = Path(__file__).with_name("data")
REGIME_PAUSE, REGIME_CAP, REGIME_MORATORIUM = 1, 2, 3
FREE_DAYS = 30
STEP_DAY = 91  # first day at 1/130


@dataclass(frozen=True)
class Regime:
    """A special regime: ``kind`` 1 pause, 2 rate cap (value = cap in bp), 3 moratorium (value = last
    charge period YYYYMM it covers); dates inclusive."""

    kind: int
    date_from: dt.date
    date_to: dt.date
    value: int


def load_key_rates(path: Path | None = None) -> list[tuple[dt.date, int]]:
    """Key rate table ``[(date_from, rate_bp)]`` sorted by date (default: the shipped CBR history)."""
    with open(path or DATA / "key_rates.csv", encoding="utf-8") as f:
        rows = [r for r in csv.DictReader(line for line in f if not line.startswith("#"))]
    return sorted((dt.date.fromisoformat(r["date_from"]), int(r["rate_bp"])) for r in rows)


def load_regimes(path: Path | None = None, *, moratorium_2022: bool = True) -> list[Regime]:
    """Special regimes table (default: the shipped one); ``moratorium_2022=False`` drops kind 3 rows."""
    with open(path or DATA / "penalty_regimes.csv", encoding="utf-8") as f:
        rows = [r for r in csv.DictReader(line for line in f if not line.startswith("#"))]
    regs = [
        Regime(
            int(r["kind"]),
            dt.date.fromisoformat(r["date_from"]),
            dt.date.fromisoformat(r["date_to"]),
            int(r["value"]),
        )
        for r in rows
    ]
    return [g for g in regs if moratorium_2022 or g.kind != REGIME_MORATORIUM]


def key_rate_on(rates: list[tuple[dt.date, int]], day: dt.date) -> int:
    """Key rate (bp) in force on ``day``: the last entry with ``date_from ≤ day`` (0 before the first)."""
    rate = 0
    for since, bp in rates:
        if since <= day:
            rate = bp
    return rate


def penalty_rate_on(rates: list[tuple[dt.date, int]], regimes: list[Regime], day: dt.date) -> int:
    """Rate applied to a portion settled on ``day``: key rate, capped by any cap regime covering it."""
    rate = key_rate_on(rates, day)
    for g in regimes:
        if g.kind == REGIME_CAP and g.date_from <= day <= g.date_to:
            rate = min(rate, g.value)
    return rate


def day_paused(regimes: list[Regime], day: dt.date, period: int) -> bool:
    """No penalty accrues on ``day`` for a debt of charge ``period`` (pause or moratorium)."""
    for g in regimes:
        if g.date_from <= day <= g.date_to:
            if g.kind == REGIME_PAUSE or (g.kind == REGIME_MORATORIUM and period <= g.value):
                return True
    return False


def day_fraction(k: int, capital_repair: bool) -> Fraction:
    """Share of the rate for overdue day ``k``: 0, 1/300 or 1/130 (капремонт: never 1/130)."""
    if k <= FREE_DAYS:
        return Fraction(0)
    if k >= STEP_DAY and not capital_repair:
        return Fraction(1, 130)
    return Fraction(1, 300)


@dataclass
class PenaltyResult:
    penalty_kop: int
    days_300: int  # accruing days at 1/300 (counted on the unpaid rest or, if paid, the last portion)
    days_130: int
    rate_bp: int  # rate of the unpaid rest (calculation date) or of the last payment
    base_kop: int  # unpaid at the calculation date


def penalty_for_debt(
    amount_kop: int,
    period: int,
    due: dt.date,
    calc_date: dt.date,
    payments: list[tuple[dt.date, int]],
    rates: list[tuple[dt.date, int]],
    regimes: list[Regime],
    capital_repair: bool = False,
) -> PenaltyResult:
    """Penalty of one debt month up to ``calc_date``, summed day by day exactly, rounded once.

    ``payments``: (date, kopecks) applied to this debt month; those after ``calc_date`` are ignored and
    the total is capped at the debt amount. Each portion accrues from day 1 to its payment day inclusive
    at the rate of that day; the unpaid rest accrues to ``calc_date`` at the rate of ``calc_date``.
    """
    portions: list[tuple[dt.date, int]] = []
    left = amount_kop
    for day, amt in sorted(payments):
        if day > calc_date or left <= 0:
            continue
        a = min(amt, left)
        if a > 0:
            portions.append((day, a))
            left -= a
    if left > 0:
        portions.append((calc_date, left))
    total = Fraction(0)
    days_300 = days_130 = rate_bp = 0
    for end, portion in portions:
        rate = Fraction(penalty_rate_on(rates, regimes, end), BP)
        rate_bp = penalty_rate_on(rates, regimes, end)
        d300 = d130 = 0
        day = due + dt.timedelta(days=1)
        while day <= end:
            k = (day - due).days
            frac = day_fraction(k, capital_repair)
            if frac and not day_paused(regimes, day, period):
                total += Fraction(portion, 100) * rate * frac  # daily amount in rubles, unrounded
                if frac == Fraction(1, 300):
                    d300 += 1
                else:
                    d130 += 1
            day += dt.timedelta(days=1)
        days_300, days_130 = d300, d130
    return PenaltyResult(round_kop(total), days_300, days_130, rate_bp, left)


OUTPUTS = ("penalty_kop", "delta_kop", "days_300", "days_130", "rate_bp", "unpaid_kop")


def compute_batch(
    debts: dict[str, np.ndarray],
    paid: dict[str, np.ndarray],
    key_rates: dict[str, np.ndarray],
    regimes: dict[str, np.ndarray],
    calc_date: int,
) -> dict[str, np.ndarray]:
    """Reference ``compute_penalties`` over normalized batches (dates as day numbers)."""
    rates = sorted(
        (from_days(int(d)), int(r)) for d, r in zip(key_rates["date_from"], key_rates["rate_bp"], strict=True)
    )
    regs = [
        Regime(int(k), from_days(int(a)), from_days(int(b)), int(v))
        for k, a, b, v in zip(
            regimes["kind"], regimes["date_from"], regimes["date_to"], regimes["value"], strict=True
        )
    ]
    per_debt: dict[int, list[tuple[dt.date, int]]] = {}
    for r, d, a in zip(paid["debt_row"], paid["pay_date"], paid["amount_kop"], strict=True):
        per_debt.setdefault(int(r), []).append((from_days(int(d)), int(a)))
    n = len(debts["amount_kop"])
    out = {k: np.zeros(n, dtype=np.int64) for k in OUTPUTS}
    calc = from_days(calc_date)
    for i in range(n):
        res = penalty_for_debt(
            int(debts["amount_kop"][i]),
            int(debts["period"][i]),
            from_days(int(debts["due_date"][i])),
            calc,
            per_debt.get(i, []),
            rates,
            regs,
            bool(debts["capital_repair"][i]),
        )
        out["penalty_kop"][i] = res.penalty_kop
        out["delta_kop"][i] = res.penalty_kop - int(debts["posted_kop"][i])
        out["days_300"][i] = res.days_300
        out["days_130"][i] = res.days_130
        out["rate_bp"][i] = res.rate_bp
        out["unpaid_kop"][i] = res.base_kop
    return out
