"""split: one payment per account allocated to its debts (§5.2 without designations or penalties).

Debts (:func:`benchmarks.data.split_batch`): the open month's lines plus the debtors' unpaid months.
The allocation: oldest month first; within a month largest remainder proportionally to the unpaid
amounts (§5.3, ties to the lower service key); what exceeds all debts is an advance split over the open
month's lines by their charges. Implementations: the engine (``split_payments`` through the facade,
``rust``; the native call on ready columns, ``rust-native``) and Polars.

Checksum: Σ allocated (= Σ payments); the digest weighs every allocation by its (account, month,
service, kind), so two results agree only if every kopeck went to the same place.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from benchmarks.data import PERIOD

Allocs = dict[str, np.ndarray]


def _payments(pays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    n = len(pays["account_id"])
    return {
        "payment_id": pays["account_id"],
        "account_id": pays["account_id"],
        "amount_kop": pays["amount_kop"],
        "pay_date": np.zeros(n, dtype=np.int64),
        "period": np.zeros(n, dtype=np.int64),
        "current_period": np.full(n, PERIOD, dtype=np.int64),
        "penalty_kop": np.full(n, -1, dtype=np.int64),
    }


def run_rust(debts: dict[str, np.ndarray], pays: dict[str, np.ndarray]) -> Allocs:
    from hub.calc import engine

    return engine.split_payments(debts, _payments(pays), engine="rust")


def run_rust_native(debts: dict[str, np.ndarray], pays: dict[str, np.ndarray]) -> Allocs:
    from unipay_calc import _native

    n = len(debts["account_id"])
    d = {**debts, "kind": np.zeros(n, dtype=np.int64), "order": debts["service_id"]}
    empty = np.zeros(0, dtype=np.int64)
    return _native.split_payments(
        d, _payments(pays), {"payment_id": empty, "service_id": empty, "amount_kop": empty}
    )


def run_polars(debts: dict[str, np.ndarray], pays: dict[str, np.ndarray]) -> Allocs:
    import polars as pl

    c = pl.col
    d = pl.DataFrame(debts).with_row_index("row").lazy()
    p = pl.DataFrame({"account_id": pays["account_id"], "pay": pays["amount_kop"]}).lazy()
    months = (
        d.group_by("account_id", "period")
        .agg(c("unpaid_kop").clip(lower_bound=0).sum().alias("T"))
        .join(p, on="account_id", how="inner")
        .sort("account_id", "period")
        .with_columns((c("T").cum_sum().over("account_id") - c("T")).alias("before"))
        .with_columns(pl.min_horizontal(pl.max_horizontal(c("pay") - c("before"), 0), c("T")).alias("m_amt"))
    )
    u = c("unpaid_kop").clip(lower_bound=0)
    principal = (
        d.join(months.select("account_id", "period", "T", "m_amt"), on=["account_id", "period"], how="inner")
        .filter(c("m_amt") > 0)
        .with_columns((c("m_amt") * u // c("T")).alias("part"), (c("m_amt") * u % c("T")).alias("rem"))
        .with_columns(
            (c("m_amt") - c("part").sum().over("account_id", "period")).alias("left"),
            (c("rem").rank("ordinal", descending=True).over("account_id", "period") - 1).alias("rank"),
        )
        .with_columns((c("part") + (c("rank") < c("left")).cast(pl.Int64)).alias("amount_kop"))
        .filter(c("amount_kop") != 0)
        .select(
            "account_id",
            "period",
            "service_id",
            "provider_id",
            pl.lit(0, pl.Int64).alias("kind"),
            "amount_kop",
        )
    )
    excess = (
        months.group_by("account_id").agg((c("pay").first() - c("T").sum()).alias("E")).filter(c("E") > 0)
    )
    w = c("charge_kop").clip(lower_bound=0)
    advance = (
        d.filter(c("period") == PERIOD)
        .join(excess, on="account_id", how="inner")
        .with_columns(w.sum().over("account_id").alias("W"))
        .with_columns((c("E") * w // c("W")).alias("part"), (c("E") * w % c("W")).alias("rem"))
        .with_columns(
            (c("E") - c("part").sum().over("account_id")).alias("left"),
            (c("rem").rank("ordinal", descending=True).over("account_id") - 1).alias("rank"),
        )
        .with_columns((c("part") + (c("rank") < c("left")).cast(pl.Int64)).alias("amount_kop"))
        .filter(c("amount_kop") != 0)
        .select(
            "account_id",
            "period",
            "service_id",
            "provider_id",
            pl.lit(2, pl.Int64).alias("kind"),
            "amount_kop",
        )
    )
    out = pl.concat([principal, advance]).collect()
    return {k: out[k].to_numpy() for k in out.columns}


IMPLEMENTATIONS = {"rust": run_rust, "rust-native": run_rust_native, "polars": run_polars}


def summary(allocs: Allocs) -> dict[str, Any]:
    acc = allocs["account_id"]
    weight = (acc * 7 + allocs["period"] % 100 * 31 + allocs["service_id"] * 13 + allocs["kind"] * 101) % 1009
    return {
        "checksum": int(allocs["amount_kop"].sum()),
        "digest": int(np.sum(allocs["amount_kop"] * (weight + 1))),
        "allocations": len(acc),
    }
