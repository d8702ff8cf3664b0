"""charges_full: every rule of a month on engine batches — charges by all methods, benefits, quality
reductions and penalties — through the engine facade (``engine="rust"`` or ``"python"``), and with the
fused multi-threaded charges kernel (``rust-kernel``).

The checksum is the month's total in kopecks: Σ charges − Σ benefits − Σ reductions + Σ penalty deltas.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from benchmarks.data import PERIOD, FullBatch
from hub.calc import engine as calc
from hub.calc import schema as S
from hub.calc.units import period_end


def run(fb: FullBatch, engine: str) -> dict[str, Any]:
    """The pipeline; returns checksum, digest and per-phase seconds."""
    phases: dict[str, float] = {}
    t0 = time.perf_counter()
    if engine == "rust-kernel":
        from unipay_calc import _native

        ch = S.normalize(fb.charges, S.CHARGES, "charges")
        calc._validate_charges(ch)
        phases["normalize"] = time.perf_counter() - t0
        t1 = time.perf_counter()
        out = _native.compute_charges_par({k: ch[k] for k in S.CHARGES if k in _CORE})
        phases["charges"] = time.perf_counter() - t1
        eng = "rust"
    else:
        out = calc.compute_charges(fb.charges, engine=engine)  # type: ignore[arg-type]
        phases["charges"] = time.perf_counter() - t0
        eng = engine
    amount = out["amount_kop"]
    t = time.perf_counter()
    ben = calc.compute_benefits({**fb.benefits, "charge_kop": amount[fb.benefit_line]}, engine=eng)  # type: ignore[arg-type]
    phases["benefits"] = time.perf_counter() - t
    t = time.perf_counter()
    red = calc.reductions({**fb.events, "charge_kop": amount[fb.event_line]}, engine=eng)  # type: ignore[arg-type]
    phases["reductions"] = time.perf_counter() - t
    t = time.perf_counter()
    pen = calc.compute_penalties(fb.debts, calc_date=period_end(PERIOD), engine=eng)  # type: ignore[arg-type]
    phases["penalties"] = time.perf_counter() - t
    seconds = time.perf_counter() - t0
    total = int(amount.sum()) - int(ben["benefit_kop"].sum()) + int(red["delta_kop"].sum())
    total += int(pen["delta_kop"].sum())
    weight = (fb.charges["account_id"] * 7 + fb.charges["service_id"] * 13 + fb.charges["component"]) % 1009
    digest = int(np.sum(amount * weight)) + int(np.sum(out["volume_x6"] % 1_000_003))
    digest += int(np.sum(ben["benefit_kop"] * 3)) + int(np.sum(red["reduction_kop"] * 5))
    digest += int(np.sum(pen["penalty_kop"] * 7))
    return {
        "seconds": seconds,
        "checksum": total,
        "digest": digest,
        "phases": phases,
        "rows": {
            "charges": len(amount),
            "benefits": len(ben["benefit_kop"]),
            "events": len(fb.events["account_id"]),
            "debts": len(fb.debts["account_id"]),
        },
    }


_CORE = frozenset(
    (
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
)
