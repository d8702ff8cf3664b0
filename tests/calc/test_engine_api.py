"""The engine facade: worked examples through the columnar API, input forms and validation."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from hub.calc import engine as E
from hub.calc import split as reference_split
from hub.calc.charges import Method
from hub.calc.penalties import load_key_rates, load_regimes, penalty_rate_on
from hub.calc.units import due_date, to_days

ENGINES: list[E.Engine] = ["rust", "python"] if E.rust_available() else ["python"]


@pytest.mark.parametrize("engine", ENGINES)
def test_worked_charges_in_one_batch(engine: E.Engine) -> None:
    s, s_ob, t, th = 543_000, 84_507_000, 529_300, 28_504_000
    batch = {
        "account_id": [1001] * 5,
        "service_id": [3, 3, 2, 2, 9],
        "period": [202504, 202504, 202501, 202501, 202504],
        "method": [Method.METER, Method.NORM, Method.HEAT_NORM, Method.HEAT_ODPU, Method.SOI],
        "reading_prev_x6": [123_456_000, 0, 0, 0, 0],
        "reading_curr_x6": [131_210_000, 0, 0, 0, 0],
        "tariff_x4": [t, t, th, th, 64_300],
        "norm_x6": [0, 4_850_000, 16_500, 0, 950_000],
        "person_days": [0, 90, 0, 0, 0],
        "coef_x4": [10_000, 15_000, 10_000, 10_000, 10_000],
        "area_x4": [s] * 5,
        "total_area_x4": [s_ob] * 5,
        "common_area_x4": [0, 0, 0, 0, 6_200_000],
        "house_volume_x6": [0, 0, 0, 185_320_000, 12_500_000_000],
        "indiv_volume_x6": [0, 0, 0, 0, 11_800_000_000],
    }
    out = E.compute_charges(batch, engine=engine)
    assert out["amount_kop"].tolist() == [41_042, 115_520, 255_382, 339_418, 2_434]
    assert out["increase_kop"].tolist() == [0, 38_507, 0, 0, 0]
    assert out["account_id"].tolist() == [1001] * 5
    assert out["method_applied"].tolist() == [1, 2, 3, 4, 6]


@pytest.mark.parametrize("engine", ENGINES)
def test_accepts_arrow_pandas_and_datetime64(engine: E.Engine) -> None:
    table = pa.table(
        {"period": [202504], "method": [1], "reading_curr_x6": [7_754_000], "tariff_x4": [529_300]}
    )
    assert E.compute_charges(table, engine=engine)["amount_kop"].tolist() == [41_042]
    frame = pd.DataFrame({"period": [202504], "method": [5], "area_x4": [543_000], "tariff_x4": [287_500]})
    assert E.compute_charges(frame, engine=engine)["amount_kop"].tolist() == [156_113]
    pen = E.compute_penalties(
        {"period": [202501], "amount_kop": [500_000]},
        {
            "debt_row": [0],
            "pay_date": np.array(["2025-06-30"], dtype="datetime64[D]"),
            "amount_kop": [500_000],
        },
        calc_date=np.datetime64("2025-06-30"),
        engine=engine,
    )
    assert pen["penalty_kop"].tolist() == [27_769]  # shipped key rates: 21 % → 9.5 % cap


@pytest.mark.parametrize("engine", ENGINES)
def test_validation_errors(engine: E.Engine) -> None:
    with pytest.raises(ValueError, match="required column 'tariff_x4'"):
        E.compute_charges({"period": [202504], "method": [1]}, engine=engine)
    with pytest.raises(TypeError, match="must be integer"):
        E.compute_charges({"period": [202504], "method": [1], "tariff_x4": [52.93]}, engine=engine)
    with pytest.raises(ValueError, match="total_area_x4"):
        E.compute_charges({"period": [202504], "method": [4], "tariff_x4": [1]}, engine=engine)
    with pytest.raises(ValueError, match="different lengths"):
        E.compute_charges({"period": [202504, 202505], "method": [1], "tariff_x4": [1]}, engine=engine)
    with pytest.raises(ValueError, match="YYYYMM"):
        E.compute_charges({"period": [202513], "method": [1], "tariff_x4": [1]}, engine=engine)
    with pytest.raises(ValueError, match="unknown engine"):
        E.compute_charges({"period": [202504], "method": [1], "tariff_x4": [1]}, engine="java")  # type: ignore[arg-type]


def test_empty_batches() -> None:
    for engine in ENGINES:
        out = E.compute_charges({"period": [], "method": [], "tariff_x4": []}, engine=engine)  # type: ignore[arg-type]
        assert all(len(v) == 0 for v in out.values())
        alloc = E.split_payments(
            {"account_id": [], "period": [], "service_id": [], "unpaid_kop": []},
            {"payment_id": [1], "account_id": [7], "amount_kop": [100], "current_period": [202504]},
            engine=engine,  # type: ignore[arg-type]
        )
        assert alloc["amount_kop"].tolist() == [100]
        assert alloc["kind"].tolist() == [reference_split.KIND_ADVANCE]


def test_shipped_reference_tables() -> None:
    rates = load_key_rates()
    regimes = load_regimes()
    assert rates[0][0] <= dt.date(2020, 1, 1)
    assert penalty_rate_on(rates, regimes, dt.date(2025, 6, 30)) == 950  # min(20 %, 9.5 %)
    assert penalty_rate_on(rates, regimes, dt.date(2022, 10, 1)) == 750  # key 7.5 % below the cap
    assert penalty_rate_on(rates, regimes, dt.date(2021, 11, 1)) == 750  # before the cap regime
    assert penalty_rate_on(rates, regimes, dt.date(2027, 1, 15)) == 1550  # cap regime over
    assert {g.kind for g in load_regimes(moratorium_2022=False)} == {1, 2}
    assert due_date(202602) == dt.date(2026, 3, 15)
    assert due_date(202601) == dt.date(2026, 2, 10)


@pytest.mark.parametrize("engine", ENGINES)
def test_recalc_and_aging_buckets(engine: E.Engine) -> None:
    rec = E.compute_recalc(
        {"period": [202503], "method": [1], "reading_curr_x6": [7_754_000], "tariff_x4": [518_000]},
        [41_042],
        post_period=202505,
        engine=engine,
    )
    assert rec["delta_kop"].tolist() == [-876]
    assert rec["corrected_period"].tolist() == [202503]
    assert rec["post_period"].tolist() == [202505]
    aged = E.aging(
        {
            "account_id": [1] * 4,
            "service_id": [2] * 4,
            "period": [202501, 202502, 202503, 202504],
            "charged_kop": [100_000, 120_000, 110_000, 115_000],
        },
        as_of=dt.date(2025, 4, 30),
        engine=engine,
    )
    b = E.aging_buckets(aged)
    assert dict(zip(b["bucket"].tolist(), b["amount_kop"].tolist(), strict=True)) == {
        0: 115_000,
        1: 110_000,
        2: 220_000,
    }
    assert b["months_of_debt_x4"].tolist() == [38_695] * 3  # 4450.00 / 1150.00
    assert aged["due_date"].tolist()[0] == to_days(dt.date(2025, 2, 10))
