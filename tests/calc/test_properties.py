"""Property tests: the Rust engine equals the Python reference on random inputs, and invariants hold.

Inputs are drawn in realistic ranges (volumes up to 10⁶ units, tariffs up to 10 000 ₽, areas up to
10⁵ m²); every output column must be identical between the engines.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hub.calc import engine as E
from hub.calc.units import to_days

pytestmark = pytest.mark.skipif(not E.rust_available(), reason="Rust engine not built")

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

periods = st.builds(lambda y, m: y * 100 + m, st.integers(2019, 2027), st.integers(1, 12))


def same(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> None:
    assert a.keys() == b.keys()
    for k in a:
        assert np.array_equal(a[k], b[k]), (k, a[k], b[k])


def columns(rows: list[dict[str, int]], names: list[str] | None = None) -> dict[str, np.ndarray]:
    names = names or (list(rows[0]) if rows else [])
    return {k: np.array([r[k] for r in rows], dtype=np.int64) for k in names}


charge_rows = st.fixed_dictionaries(
    {
        "account_id": st.integers(1, 5),
        "service_id": st.integers(1, 12),
        "period": periods,
        "method": st.integers(1, 9),
        "reading_prev_x6": st.integers(0, 10**12),
        "reading_curr_x6": st.integers(0, 10**12),
        "volume_x6": st.integers(-(10**9), 10**11),
        "tariff_x4": st.integers(0, 10**8),
        "norm_x6": st.integers(0, 10**8),
        "person_days": st.integers(0, 400),
        "area_x4": st.integers(0, 10**7),
        "total_area_x4": st.integers(1, 10**9),
        "common_area_x4": st.integers(0, 10**8),
        "house_volume_x6": st.integers(0, 10**13),
        "indiv_volume_x6": st.integers(0, 10**13),
        "has_house_meter": st.integers(0, 1),
        "soi_by_actual": st.integers(0, 1),
        "soi_allow_negative": st.integers(0, 1),
        "coef_x4": st.sampled_from([10_000, 15_000, 12_345]),
        "share_num": st.integers(0, 400),
        "share_den": st.integers(1, 400),
        "hist_volume_x6": st.integers(0, 10**9),
        "hist_months": st.integers(0, 12),
        "missing_seq": st.integers(0, 6),
        "meter_failed": st.integers(0, 1),
    }
)


@SETTINGS
@given(st.lists(charge_rows, min_size=1, max_size=25))
def test_charges_rust_equals_python(rows: list[dict[str, int]]) -> None:
    batch = columns(rows)
    same(E.compute_charges(batch, engine="rust"), E.compute_charges(batch, engine="python"))


@SETTINGS
@given(st.lists(charge_rows, min_size=1, max_size=10))
def test_charge_line_explains_itself(rows: list[dict[str, int]]) -> None:
    out = E.compute_charges(columns(rows), engine="rust")
    assert np.array_equal(out["amount_kop"] - out["base_kop"], out["increase_kop"])
    no_coef = out["coef_x4"] == 10_000
    assert np.all(out["increase_kop"][no_coef] == 0)


@SETTINGS
@given(st.integers(-(10**9), 10**12), st.lists(st.integers(-(10**6), 10**12), min_size=1, max_size=30))
def test_largest_remainder_rust_equals_python(total: int, weights: list[int]) -> None:
    r = E.split_largest_remainder(total, weights, engine="rust")
    p = E.split_largest_remainder(total, weights, engine="python")
    assert np.array_equal(r, p)
    if any(w > 0 for w in weights):
        assert int(r.sum()) == total
        w = np.maximum(np.array(weights, dtype=object), 0)
        raw = [total * int(x) / int(w.sum()) for x in w]
        assert all(abs(int(a) - b) < 1.0001 for a, b in zip(r, raw, strict=True))


@SETTINGS
@given(
    st.integers(0, 10**9),
    st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 10**6)), min_size=1, max_size=20),
)
def test_capped_split_rust_equals_python(total: int, items: list[tuple[int, int]]) -> None:
    w = [a for a, _ in items]
    c = [b for _, b in items]
    r = E.split_largest_remainder(total, w, c, engine="rust")
    p = E.split_largest_remainder(total, w, c, engine="python")
    assert np.array_equal(r, p)
    assert np.all(r <= np.array(c))
    capacity = sum(cap for wt, cap in items if wt > 0)
    assert int(r.sum()) == min(total, capacity)


debt_rows = st.fixed_dictionaries(
    {
        "account_id": st.integers(1, 3),
        "period": st.builds(lambda y, m: y * 100 + m, st.integers(2021, 2025), st.integers(1, 12)),
        "service_id": st.integers(1, 5),
        "provider_id": st.integers(1, 3),
        "kind": st.sampled_from([0, 0, 0, 1]),
        "unpaid_kop": st.integers(-5_000, 500_000),
        "charge_kop": st.integers(0, 500_000),
    }
)


@st.composite
def split_inputs(draw: Any) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], dict[str, np.ndarray]]:
    debts = draw(st.lists(debt_rows, max_size=15))
    n_pay = draw(st.integers(1, 5))
    pays = []
    for i in range(n_pay):
        pays.append(
            {
                "payment_id": i + 1,
                "account_id": draw(st.integers(1, 3)),
                "amount_kop": draw(st.integers(0, 2_000_000)),
                "pay_date": to_days(
                    draw(
                        st.dates(
                            min_value=dt.date(2024, 1, 1),
                            max_value=dt.date(2026, 12, 31),
                        )
                    )
                ),
                "period": draw(st.sampled_from([0, 0, 202501, 202412, 202503])),
                "current_period": draw(st.sampled_from([0, 202503, 202504])),
                "penalty_kop": draw(st.sampled_from([-1, -1, 0, 1_000, 100_000])),
            }
        )
    des = draw(
        st.lists(
            st.fixed_dictionaries(
                {
                    "payment_id": st.integers(1, n_pay),
                    "service_id": st.integers(1, 6),
                    "amount_kop": st.integers(0, 300_000),
                }
            ),
            max_size=4,
        )
    )
    dcols = columns(
        debts, ["account_id", "period", "service_id", "provider_id", "kind", "unpaid_kop", "charge_kop"]
    )
    return dcols, columns(pays, list(pays[0])), columns(des, ["payment_id", "service_id", "amount_kop"])


@SETTINGS
@given(split_inputs())
def test_split_payments_rust_equals_python_and_sums_to_payment(data: Any) -> None:
    debts, pays, des = data
    r = E.split_payments(debts, pays, des, engine="rust")
    p = E.split_payments(debts, pays, des, engine="python")
    same(r, p)
    for pid, amount in zip(pays["payment_id"], pays["amount_kop"], strict=True):
        assert int(r["amount_kop"][r["payment_id"] == pid].sum()) == int(amount)
    assert np.all(r["amount_kop"] > 0)
    # a debt row never receives more than it owed
    for row in set(r["debt_row"].tolist()) - {-1}:
        got = int(r["amount_kop"][(r["debt_row"] == row) & (r["kind"] != 2)].sum())
        assert got <= max(int(debts["unpaid_kop"][row]), 0)


@st.composite
def penalty_inputs(draw: Any) -> dict[str, Any]:
    n = draw(st.integers(1, 4))
    debts = []
    paid = []
    calc = draw(st.dates(min_value=dt.date(2020, 1, 1), max_value=dt.date(2026, 12, 31)))
    for i in range(n):
        per_date = draw(st.dates(min_value=dt.date(2019, 6, 1), max_value=calc))
        period = per_date.year * 100 + per_date.month
        amount = draw(st.integers(-1_000, 1_000_000))
        debts.append(
            {
                "period": period,
                "amount_kop": amount,
                "capital_repair": draw(st.integers(0, 1)),
                "posted_kop": draw(st.integers(0, 10_000)),
            }
        )
        for _ in range(draw(st.integers(0, 3))):
            day = draw(st.dates(min_value=per_date, max_value=dt.date(2027, 3, 1)))
            paid.append(
                {"debt_row": i, "pay_date": to_days(day), "amount_kop": draw(st.integers(-100, 600_000))}
            )
    own_rates = draw(st.booleans())
    key_rates = None
    regimes = None
    if own_rates:
        dates = sorted(
            draw(
                st.lists(
                    st.integers(to_days(dt.date(2018, 1, 1)), to_days(calc)),
                    min_size=1,
                    max_size=4,
                )
            )
        )
        key_rates = {"date_from": dates, "rate_bp": [draw(st.integers(0, 3_000)) for _ in dates]}
        start = draw(st.integers(to_days(dt.date(2019, 1, 1)), to_days(calc)))
        regimes = {
            "kind": [1, 2, 3],
            "date_from": [start, start - 100, start + 50],
            "date_to": [start + draw(st.integers(-5, 300)), start + 400, start + 250],
            "value": [0, draw(st.integers(0, 2_000)), draw(periods)],
        }
    return {
        "debts": columns(debts, ["period", "amount_kop", "capital_repair", "posted_kop"]),
        "paid": columns(paid, ["debt_row", "pay_date", "amount_kop"]),
        "calc_date": to_days(calc),
        "key_rates": key_rates,
        "regimes": regimes,
        "moratorium_2022": draw(st.booleans()),
    }


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(penalty_inputs())
def test_penalties_rust_equals_python(data: dict[str, Any]) -> None:
    r = E.compute_penalties(**data, engine="rust")
    p = E.compute_penalties(**data, engine="python")
    same(r, p)
    assert np.all(r["penalty_kop"] >= 0)
    assert np.array_equal(r["delta_kop"], r["penalty_kop"] - data["debts"]["posted_kop"])


@SETTINGS
@given(
    st.lists(
        st.fixed_dictionaries(
            {
                "account_id": st.integers(1, 3),
                "service_id": st.integers(1, 3),
                "period": st.sampled_from([202501, 202502]),
                "rule_code": st.integers(1, 8),
                "charge_kop": st.integers(-1_000, 1_000_000),
                "duration_min": st.integers(0, 3_000),
                "norm_temp_dc": st.integers(150, 750),
                "temp_dc": st.integers(0, 800),
                "night": st.integers(0, 1),
            }
        ),
        max_size=20,
    )
)
def test_reductions_rust_equals_python(rows: list[dict[str, int]]) -> None:
    names = [
        "account_id",
        "service_id",
        "period",
        "rule_code",
        "charge_kop",
        "duration_min",
        "norm_temp_dc",
        "temp_dc",
        "night",
    ]
    batch = columns(rows, names)
    r = E.reductions(batch, engine="rust")
    same(r, E.reductions(batch, engine="python"))
    assert np.all(r["reduction_kop"] <= np.maximum(r["charge_kop"], 0))
    assert np.all(r["reduction_kop"] >= 0)


@SETTINGS
@given(
    st.lists(
        st.fixed_dictionaries(
            {
                "period": periods,
                "charge_kop": st.integers(-10_000, 10**8),
                "share_bp": st.integers(-1, 10_000),
                "covered": st.integers(0, 6),
                "registered": st.integers(0, 6),
                "active_days": st.integers(0, 31),
            }
        ),
        max_size=20,
    ),
    st.lists(
        st.fixed_dictionaries(
            {
                "period": periods,
                "norm_x6": st.integers(0, 10**8),
                "tariff_x4": st.integers(0, 10**7),
                "coef_x4": st.sampled_from([10_000, 15_000]),
                "persons": st.integers(0, 5),
                "depart_date": st.integers(to_days(dt.date(2019, 1, 1)), to_days(dt.date(2027, 12, 31))),
                "return_delta": st.integers(-3, 200),
                "eligible": st.integers(0, 1),
            }
        ),
        max_size=20,
    ),
)
def test_benefits_and_absence_rust_equal_python(
    ben: list[dict[str, int]], absn: list[dict[str, int]]
) -> None:
    b = columns(ben, ["period", "charge_kop", "share_bp", "covered", "registered", "active_days"])
    rb = E.compute_benefits(b, engine="rust")
    same(rb, E.compute_benefits(b, engine="python"))
    assert np.all(rb["benefit_kop"] <= np.maximum(b["charge_kop"], 0))
    for r in absn:
        r["return_date"] = r["depart_date"] + r["return_delta"]
    a = columns(
        absn,
        ["period", "norm_x6", "tariff_x4", "coef_x4", "persons", "depart_date", "return_date", "eligible"],
    )
    ra = E.absence_recalc(a, engine="rust")
    same(ra, E.absence_recalc(a, engine="python"))
    assert np.all(ra["delta_kop"] <= 0)
    assert np.all(ra["absent_days"] <= ra["total_days"])


ledger_rows = st.fixed_dictionaries(
    {
        "account_id": st.integers(1, 3),
        "service_id": st.integers(1, 3),
        "period": st.sampled_from([202501, 202502, 202503, 202504]),
        "opening_kop": st.integers(-100_000, 100_000),
        "charged_kop": st.integers(-50_000, 500_000),
        "recalc_kop": st.integers(-50_000, 50_000),
        "paid_kop": st.integers(0, 500_000),
        "correction_kop": st.integers(-1_000, 1_000),
        "credit_kop": st.integers(-1_000, 300_000),
    }
)


@SETTINGS
@given(st.lists(ledger_rows, max_size=25), st.integers(20_000, 21_000))
def test_saldo_and_aging_rust_equal_python_and_balance(rows: list[dict[str, int]], as_of: int) -> None:
    sal = columns(
        rows,
        [
            "account_id",
            "service_id",
            "period",
            "opening_kop",
            "charged_kop",
            "recalc_kop",
            "paid_kop",
            "correction_kop",
        ],
    )
    r = E.saldo(sal, engine="rust")
    same(r, E.saldo(sal, engine="python"))
    assert np.array_equal(
        r["closing_kop"],
        r["opening_kop"] + sal["charged_kop"] + sal["recalc_kop"] - sal["paid_kop"] + sal["correction_kop"],
    )
    ag = columns(rows, ["account_id", "service_id", "period", "charged_kop", "credit_kop"])
    ra = E.aging(ag, as_of=as_of, engine="rust")
    same(ra, E.aging(ag, as_of=as_of, engine="python"))
    # per (account, service): remaining debt − advance = charged − credits (FIFO conserves money)
    keys = set(zip(ag["account_id"].tolist(), ag["service_id"].tolist(), strict=True))
    for a, s in keys:
        m = (ag["account_id"] == a) & (ag["service_id"] == s)
        balance = int(ag["charged_kop"][m].sum() - ag["credit_kop"][m].sum())
        left = int(ra["remaining_kop"][m].sum() - ra["advance_kop"][m].sum())
        if int(ag["credit_kop"][m].sum()) + int(np.maximum(-ag["charged_kop"][m], 0).sum()) >= 0:
            assert left == balance


@SETTINGS
@given(
    st.lists(
        st.fixed_dictionaries(
            {
                "payment_id": st.integers(1, 4),
                "provider_id": st.integers(1, 4),
                "amount_kop": st.integers(0, 10**7),
            }
        ),
        min_size=1,
        max_size=20,
    ),
    st.lists(st.integers(0, 50_000), min_size=4, max_size=4),
    st.lists(st.integers(0, 50_000), min_size=4, max_size=4),
)
def test_transfers_rust_equal_python_and_conserve_money(
    allocs: list[dict[str, int]], comm: list[int], fees: list[int]
) -> None:
    a = columns(allocs, ["payment_id", "provider_id", "amount_kop"])
    pays = {"payment_id": [1, 2, 3, 4], "commission_kop": comm}
    f = {"provider_id": [1, 2, 3, 4], "fee_ppm": fees}
    ra, rl = E.transfers(a, pays, f, engine="rust")
    pa, pl = E.transfers(a, pays, f, engine="python")
    same(ra, pa)
    same(rl, pl)
    collected = int(a["amount_kop"].sum())
    assert int(rl["net_kop"].sum() + rl["commission_kop"].sum() + rl["fee_kop"].sum()) == collected
    assert int(rl["gross_kop"].sum()) == collected
    bal = E.provider_balances(
        {
            "opening_kop": [0] * len(rl["provider_id"]),
            "collected_kop": rl["gross_kop"],
            "commission_kop": rl["commission_kop"],
            "fee_kop": rl["fee_kop"],
            "transferred_kop": rl["net_kop"],
        },
        engine="rust",
    )
    assert np.all(bal["closing_kop"] == 0)
