"""The split fast path (account-grouped Rust kernel on several threads, NumPy facade) against the
Python reference: wider random batches than ``test_properties`` (many accounts, unsorted rows, an
``order`` column, several payments per account) and the facade's vectorized defaults."""

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

SETTINGS = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
DEBT_COLUMNS = (
    "account_id",
    "period",
    "service_id",
    "provider_id",
    "kind",
    "unpaid_kop",
    "charge_kop",
    "order",
)
PAY_COLUMNS = (
    "payment_id",
    "account_id",
    "amount_kop",
    "pay_date",
    "period",
    "current_period",
    "penalty_kop",
)


def same(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> None:
    assert list(a) == list(b)
    for k in a:
        assert a[k].dtype == b[k].dtype == np.int64, k
        assert np.array_equal(a[k], b[k]), (k, a[k], b[k])


def random_batch(rng: np.random.Generator, accounts: int, sort: bool) -> tuple[dict, dict, dict]:
    """Debts of 0–8 months × services per account (some expired, negative, penalty, other kinds)."""
    n = int(rng.integers(0, accounts * 12 + 1))
    periods = np.array([202112, 202201, 202212, 202305, 202410, 202501, 202502, 202503])
    d = {
        "account_id": rng.integers(1, accounts + 1, n),
        "period": rng.choice(periods, n),
        "service_id": rng.integers(1, 7, n),
        "provider_id": rng.integers(1, 4, n),
        "kind": rng.choice([0, 0, 0, 0, 1, 1, 2], n),
        "unpaid_kop": np.where(rng.random(n) < 0.1, -rng.integers(0, 5_000, n), rng.integers(0, 600_000, n)),
        "charge_kop": rng.choice([0, 0, 3, 41_042, 52_984, 1_000_000], n),
        "order": rng.integers(0, 4, n),
    }
    m = int(rng.integers(1, accounts * 2 + 2))
    p = {
        "payment_id": rng.permutation(m) * 7 + 3,
        "account_id": rng.integers(1, accounts + 3, m),
        "amount_kop": rng.choice([0, 1, 100, 5_000, 77_777, 1_000_000, 3_000_000], m),
        "pay_date": rng.integers(to_days(dt.date(2024, 1, 1)), to_days(dt.date(2026, 12, 31)), m),
        "period": rng.choice([0, 0, 0, 202501, 202112, 202503], m),
        "current_period": rng.choice([0, 202503, 202504], m),
        "penalty_kop": rng.choice([-1, -1, -1, 0, 1_000, 100_000], m),
    }
    if sort:
        o = np.lexsort((d["service_id"], d["period"], d["account_id"]))
        d = {k: v[o] for k, v in d.items()}
        o = np.argsort(p["account_id"], kind="stable")
        p = {k: v[o] for k, v in p.items()}
    k = int(rng.integers(0, m // 2 + 1))
    g = {
        "payment_id": p["payment_id"][rng.integers(0, m, k)],
        "service_id": rng.integers(1, 8, k),
        "amount_kop": rng.choice([0, 10, 5_000, 300_000], k),
    }
    return d, p, g


@SETTINGS
@given(st.integers(0, 2**32 - 1), st.sampled_from([1, 2, 5, 30]), st.booleans())
def test_split_rust_equals_python_on_wide_batches(seed: int, accounts: int, sort: bool) -> None:
    d, p, g = random_batch(np.random.default_rng(seed), accounts, sort)
    r = E.split_payments(d, p, g, engine="rust")
    same(r, E.split_payments(d, p, g, engine="python"))
    for pid, amount in zip(p["payment_id"].tolist(), p["amount_kop"].tolist(), strict=True):
        assert int(r["amount_kop"][r["payment_id"] == pid].sum()) == amount
    # accounts ascending, whatever the input order
    assert np.all(np.diff(r["account_id"]) >= 0)


@pytest.mark.parametrize("sort", [True, False])
def test_split_threads_give_the_same_rows(sort: bool) -> None:
    """Contiguous account ranges on 1–4 threads, concatenated in account order."""
    from unipay_calc import _native

    d, p, g = random_batch(np.random.default_rng(11), 400, sort)
    ref = E.split_payments(d, p, g, engine="python")
    cur = p["current_period"].copy()
    cur[cur == 0] = E._latest_period(
        d["account_id"], d["period"], p["account_id"][cur == 0], p["period"][cur == 0]
    )
    pcols = {**p, "current_period": cur}
    for threads in (1, 2, 3, 4):
        same(_native.split_payments(d, pcols, g, threads), ref)


def latest_by_loop(d_acc: list[int], d_per: list[int], acc: list[int], fallback: list[int]) -> list[int]:
    """The former per-row facade code for the default current_period."""
    latest: dict[int, int] = {}
    for a, per in zip(d_acc, d_per, strict=True):
        latest[a] = max(latest.get(a, 0), per)
    return [latest.get(a, f) for a, f in zip(acc, fallback, strict=True)]


@SETTINGS
@given(
    st.lists(st.tuples(st.integers(-3, 12), st.integers(-5, 202612)), max_size=40),
    st.lists(st.tuples(st.integers(-3, 14), st.integers(0, 202612)), max_size=20),
)
def test_latest_period_equals_the_loop(debts: list[tuple[int, int]], pays: list[tuple[int, int]]) -> None:
    d_acc = np.array([a for a, _ in debts], dtype=np.int64)
    d_per = np.array([p for _, p in debts], dtype=np.int64)
    acc = np.array([a for a, _ in pays], dtype=np.int64)
    fallback = np.array([p for _, p in pays], dtype=np.int64)
    got = E._latest_period(d_acc, d_per, acc, fallback)
    assert got.dtype == np.int64
    assert got.tolist() == latest_by_loop(d_acc.tolist(), d_per.tolist(), acc.tolist(), fallback.tolist())


def test_default_current_period_and_order() -> None:
    """current_period 0 → the account's latest debt period (any kind); order defaults to service_id."""
    debts = {
        "account_id": [2, 1, 2, 1],
        "period": [202502, 202503, 202504, 202501],
        "service_id": [1, 2, 2, 1],
        "kind": [0, 0, 1, 0],
        "unpaid_kop": [100, 100, 100, 100],
        "charge_kop": [10, 30, 0, 10],
    }
    pays = {
        "payment_id": [5, 6, 7],
        "account_id": [2, 1, 9],
        "amount_kop": [1_000, 1_000, 50],
        "period": [0, 0, 202411],
    }
    for engine in E.ENGINES:
        r = E.split_payments(debts, pays, engine=engine)
        adv = {
            int(a): int(p) for a, p, k in zip(r["account_id"], r["period"], r["kind"], strict=True) if k == 2
        }
        assert adv == {1: 202503, 2: 202504, 9: 202411}


def test_validation_is_unchanged() -> None:
    debts = {"account_id": [1], "period": [202501], "service_id": [1], "unpaid_kop": [10]}
    for engine in E.ENGINES:
        with pytest.raises(ValueError, match="payment_id must be unique"):
            E.split_payments(
                debts,
                {"payment_id": [3, 1, 3], "account_id": [1, 1, 1], "amount_kop": [1, 1, 1]},
                engine=engine,
            )
        with pytest.raises(ValueError, match=r"unknown payments \[4, 8\]"):
            E.split_payments(
                debts,
                {"payment_id": [1], "account_id": [1], "amount_kop": [1]},
                {"payment_id": [8, 4, 1, 8], "service_id": [1, 1, 1, 1], "amount_kop": [1, 1, 1, 1]},
                engine=engine,
            )
        with pytest.raises(ValueError, match="must not be negative"):
            E.split_payments(debts, {"payment_id": [1], "account_id": [1], "amount_kop": [-1]}, engine=engine)


def test_payment_columns_are_not_modified() -> None:
    debts: dict[str, Any] = {
        "account_id": np.array([1]),
        "period": np.array([202501]),
        "service_id": np.array([1]),
        "unpaid_kop": np.array([10]),
    }
    pays = {
        "payment_id": np.array([1]),
        "account_id": np.array([1]),
        "amount_kop": np.array([50]),
        "current_period": np.array([0]),
    }
    E.split_payments(debts, pays)
    assert pays["current_period"].tolist() == [0]
    assert "order" not in debts
