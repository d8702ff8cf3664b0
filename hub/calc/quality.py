"""Reductions for poor quality and interruptions, Rules 354 Приложение 1, domain spec §3 — reference.

``reduction = P_service_month × Σ(rate × units)``, capped at 100 % of ``P``, rounded once per
(account, service, period). Units per rule kind (table ``data/quality_rules.csv``):

* interruption — excess hours over the allowed total of the period (``Σ minutes − allowed``)/60;
* hw_temp — hours × full 3 °C steps below ``norm − allowed deviation`` (day 3 °C, night 00–05 5 °C);
  the partial step is ignored (floor);
* heat_temp — hours × full degrees below ``norm − allowed deviation`` (night 00–05: 3 °C).

Below 40 °C hot water is billed at the cold-water tariff: reported (``below_40``), re-pricing is the
caller's job (a recalculation line).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from hub.calc.units import PPM, round_kop, round_scaled

KIND_INTERRUPTION, KIND_HW_TEMP, KIND_HEAT_TEMP = 1, 2, 3
KINDS = {"interruption": KIND_INTERRUPTION, "hw_temp": KIND_HW_TEMP, "heat_temp": KIND_HEAT_TEMP}
HW_COLD_LIMIT_DC = 400  # 40 °C


@dataclass(frozen=True)
class QualityRule:
    code: int
    name: str
    kind: int
    allowed_min: int
    rate_ppm: int
    step_dc: int
    dev_day_dc: int
    dev_night_dc: int


def load_rules(path: Path | None = None) -> list[QualityRule]:
    """The Appendix 1 table (default: ``data/quality_rules.csv``)."""
    with open(path or Path(__file__).with_name("data") / "quality_rules.csv", encoding="utf-8") as f:
        rows = list(csv.DictReader(line for line in f if not line.startswith("#")))
    return [
        QualityRule(
            int(r["code"]),
            r["name"],
            KINDS[r["kind"]],
            int(r["allowed_min"]),
            int(r["rate_ppm"]),
            int(r["step_dc"]),
            int(r["dev_day_dc"]),
            int(r["dev_night_dc"]),
        )
        for r in rows
    ]


def rules_columns(rules: list[QualityRule]) -> dict[str, np.ndarray]:
    """The table as int64 columns (what both engines receive)."""
    names = ("code", "kind", "allowed_min", "rate_ppm", "step_dc", "dev_day_dc", "dev_night_dc")
    return {k: np.array([getattr(r, k) for r in rules], dtype=np.int64) for k in names}


def temperature_steps(rule: QualityRule, norm_dc: int, temp_dc: int, night: bool) -> int:
    """Full steps (3 °C for hot water, 1 °C for rooms) beyond the allowed deviation, floored."""
    shortfall = norm_dc - (rule.dev_night_dc if night else rule.dev_day_dc) - temp_dc
    return shortfall // rule.step_dc if shortfall > 0 and rule.step_dc > 0 else 0


def reduction_share(rule: QualityRule, events: list[tuple[int, int, int, bool]]) -> Fraction:
    """Share of the month's charge for one rule: events are (minutes, norm_dc, temp_dc, night)."""
    if rule.kind == KIND_INTERRUPTION:
        excess = max(0, sum(e[0] for e in events) - rule.allowed_min)
        return Fraction(rule.rate_ppm, PPM) * Fraction(excess, 60)
    total = Fraction(0)
    for minutes, norm_dc, temp_dc, night in events:
        total += (
            Fraction(rule.rate_ppm, PPM)
            * Fraction(minutes, 60)
            * temperature_steps(rule, norm_dc, temp_dc, night)
        )
    return total


def reduction(charge_kop: int, share: Fraction) -> int:
    """``round_half_up(P × min(share, 100 %))`` in kopecks (0 for a non-positive charge)."""
    if charge_kop <= 0:
        return 0
    return round_kop(Fraction(charge_kop, 100) * min(share, Fraction(1)))


OUTPUTS = (
    "account_id",
    "service_id",
    "period",
    "charge_kop",
    "reduction_kop",
    "share_ppm",
    "excess_min",
    "below_40",
)


def compute_batch(events: dict[str, np.ndarray], rules: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Reference ``reductions``: one output row per (account, service, period), first-appearance order."""
    table = {
        int(rules["code"][i]): QualityRule(
            int(rules["code"][i]),
            "",
            *(
                int(rules[k][i])
                for k in ("kind", "allowed_min", "rate_ppm", "step_dc", "dev_day_dc", "dev_night_dc")
            ),
        )
        for i in range(len(rules["code"]))
    }
    groups: dict[tuple[int, int, int], dict[int, list[tuple[int, int, int, bool]]]] = {}
    charge: dict[tuple[int, int, int], int] = {}
    for i in range(len(events["account_id"])):
        key = (int(events["account_id"][i]), int(events["service_id"][i]), int(events["period"][i]))
        charge.setdefault(key, int(events["charge_kop"][i]))
        code = int(events["rule_code"][i])
        if code not in table:
            raise ValueError(f"unknown quality rule code {code} at row {i}")
        groups.setdefault(key, {}).setdefault(code, []).append(
            (
                int(events["duration_min"][i]),
                int(events["norm_temp_dc"][i]),
                int(events["temp_dc"][i]),
                bool(events["night"][i]),
            )
        )
    rows = []
    for key, by_rule in groups.items():
        share = sum((reduction_share(table[c], ev) for c, ev in by_rule.items()), Fraction(0))
        excess = sum(
            max(0, sum(e[0] for e in ev) - table[c].allowed_min)
            for c, ev in by_rule.items()
            if table[c].kind == KIND_INTERRUPTION
        )
        below = sum(
            1
            for c, ev in by_rule.items()
            if table[c].kind == KIND_HW_TEMP
            for e in ev
            if e[2] < HW_COLD_LIMIT_DC
        )
        rows.append(
            (*key, charge[key], reduction(charge[key], share), round_scaled(share, PPM), excess, below)
        )
    return {c: np.array([r[j] for r in rows], dtype=np.int64) for j, c in enumerate(OUTPUTS)}
