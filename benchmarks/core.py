"""charges_core: one algorithm, five implementations (Rust kernel, Rust engine API, Polars, DuckDB, pandas).

The algorithm, in integers only (inputs: :func:`benchmarks.data.core_batch`, lines sorted by account):

1. charge of a line, kopecks, rounded half up once:
   meter (1) ``(curr − prev) × T / 10⁸``; norm (2) ``N × person_days × T × k / (days × 10¹²)`` with
   ``k = coef_x4`` (10⁴ = 1); area (5) ``S × T / 10⁶``. Exactly the engine's ``compute_charges`` of
   those rows. DataFrame engines have no 128-bit integers, so ``A × k / D`` is evaluated as
   ``q₁ + round((r₁ × 10⁴ + b × k) / D)`` with ``A = a × 10⁴ + b``, ``a × k = q₁ × D/10⁴ + r₁`` —
   every intermediate fits in int64 (inputs are non-negative, so half up is ``(2n + d) // 2d``);
2. the account's payment ``P`` split over its lines by largest remainder (§5.3) with the charges as
   weights: ``⌊P × w / W⌋``, the leftover kopecks to the largest remainders ``P × w mod W``, ties to
   the earlier line (lines are ordered by service, zone);
3. charges and payments summed per provider.

Every implementation returns ``(amount_kop per line, alloc_kop per line, provider totals)`` in the
input line order; :func:`summary` turns that into the checksums compared across engines.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from benchmarks.data import DAYS, PERIOD

Result = tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]
D_METER, D_AREA = 10**12, 10**10  # denominators of A × k for meter and area lines (k = 10⁴)
D_NORM = DAYS * 10**12


def _rhu_nonneg(n: Any, d: Any) -> Any:
    return (2 * n + d) // (2 * d)


# ------------------------------------------------------------------------------------------ numpy


def amounts_numpy(lines: dict[str, np.ndarray]) -> np.ndarray:
    """Step 1 with NumPy (also used to build the split benchmark's debts)."""
    m = lines["method"]
    t = lines["tariff_x4"]
    a_meter = (lines["reading_curr_x6"] - lines["reading_prev_x6"]) * t
    a_norm = lines["norm_x6"] * lines["person_days"] * t
    a_area = lines["area_x4"] * t
    big_a = np.where(m == 1, a_meter, np.where(m == 2, a_norm, a_area))
    d = np.where(m == 1, D_METER, np.where(m == 2, D_NORM, D_AREA))
    k = np.where(m == 2, lines["coef_x4"], 10_000)
    ak = big_a // 10_000 * k
    dp = d // 10_000
    return ak // dp + _rhu_nonneg((ak % dp) * 10_000 + (big_a % 10_000) * k, d)


def run_numpy(lines: dict[str, np.ndarray], pays: dict[str, np.ndarray]) -> Result:
    amount = amounts_numpy(lines)
    acc = lines["account_id"]
    starts = np.flatnonzero(np.r_[True, acc[1:] != acc[:-1]])
    group = np.cumsum(np.r_[True, acc[1:] != acc[:-1]]) - 1
    w_sum = np.add.reduceat(amount, starts)[group]
    pos = np.searchsorted(pays["account_id"], acc)
    pay = pays["amount_kop"][np.minimum(pos, len(pays["account_id"]) - 1)]
    pay = np.where(pays["account_id"][np.minimum(pos, len(pays["account_id"]) - 1)] == acc, pay, 0)
    num = pay * amount
    safe = np.maximum(w_sum, 1)
    part = np.where(w_sum > 0, num // safe, 0)
    rem = np.where(w_sum > 0, num % safe, 0)
    left = (pay[starts] - np.add.reduceat(part, starts))[group]
    order = np.lexsort((np.arange(len(acc)), -rem, group))
    rank = np.empty(len(acc), dtype=np.int64)
    rank[order] = np.arange(len(acc)) - starts[group[order]]
    alloc = part + (rank < left)
    prov, inv = np.unique(lines["provider_id"], return_inverse=True)
    totals = {
        "provider_id": prov,
        "charged_kop": np.bincount(inv, weights=amount, minlength=len(prov)).astype(np.int64),
        "paid_kop": np.bincount(inv, weights=alloc, minlength=len(prov)).astype(np.int64),
    }
    return amount, alloc.astype(np.int64), totals


# ------------------------------------------------------------------------------------------- rust


def run_rust(lines: dict[str, np.ndarray], pays: dict[str, np.ndarray]) -> Result:
    """The fused kernel (``unipay_calc._native.core_run``): one pass per thread."""
    from unipay_calc import _native

    per_line, per_prov = _native.core_run(lines, pays, PERIOD)
    return per_line["amount_kop"], per_line["alloc_kop"], per_prov


def run_rust_engine(lines: dict[str, np.ndarray], pays: dict[str, np.ndarray]) -> Result:
    """The public engine API: ``compute_charges`` + ``split_payments`` (§5.2, one month of debts: the
    oldest-first step splits by largest remainder, the advance step proportionally to the charges —
    together the same split) + provider sums with NumPy."""
    from hub.calc import engine

    n = len(lines["account_id"])
    batch = dict(lines)
    batch["period"] = np.full(n, PERIOD, dtype=np.int64)
    out = engine.compute_charges(batch, engine="rust")
    amount = out["amount_kop"]
    debts = {
        "account_id": lines["account_id"],
        "period": batch["period"],
        "service_id": lines["service_id"] * 4 + lines["component"],  # unique per line of an account
        "provider_id": lines["provider_id"],
        "unpaid_kop": amount,
        "charge_kop": amount,
    }
    payments = {
        "payment_id": pays["account_id"],
        "account_id": pays["account_id"],
        "amount_kop": pays["amount_kop"],
        "current_period": np.full(len(pays["account_id"]), PERIOD, dtype=np.int64),
    }
    al = engine.split_payments(debts, payments, engine="rust")
    alloc = np.zeros(n, dtype=np.int64)
    np.add.at(alloc, al["debt_row"], al["amount_kop"])
    prov, inv = np.unique(lines["provider_id"], return_inverse=True)
    totals = {
        "provider_id": prov,
        "charged_kop": np.bincount(inv, weights=amount, minlength=len(prov)).astype(np.int64),
        "paid_kop": np.bincount(inv, weights=alloc, minlength=len(prov)).astype(np.int64),
    }
    return amount, alloc, totals


# ----------------------------------------------------------------------------------------- polars


def run_polars(lines: dict[str, np.ndarray], pays: dict[str, np.ndarray]) -> Result:
    import polars as pl

    c = pl.col
    df = pl.DataFrame(lines).with_row_index("line")
    p = pl.DataFrame(pays).rename({"amount_kop": "pay"})
    m = c("method")
    big_a = (
        pl.when(m == 1)
        .then((c("reading_curr_x6") - c("reading_prev_x6")) * c("tariff_x4"))
        .when(m == 2)
        .then(c("norm_x6") * c("person_days") * c("tariff_x4"))
        .otherwise(c("area_x4") * c("tariff_x4"))
    )
    d = pl.when(m == 1).then(D_METER).when(m == 2).then(D_NORM).otherwise(D_AREA).cast(pl.Int64)
    k = pl.when(m == 2).then(c("coef_x4")).otherwise(10_000)
    out = (
        df.lazy()
        .with_columns(big_a.alias("A"), d.alias("D"), k.alias("k"))
        .with_columns((c("A") // 10_000 * c("k")).alias("ak"), (c("D") // 10_000).alias("dp"))
        .with_columns(
            (
                c("ak") // c("dp")
                + (2 * ((c("ak") % c("dp")) * 10_000 + (c("A") % 10_000) * c("k")) + c("D")) // (2 * c("D"))
            ).alias("amount")
        )
        .join(p.lazy(), on="account_id", how="left", maintain_order="left")
        .with_columns(c("pay").fill_null(0), c("amount").sum().over("account_id").alias("W"))
        .with_columns(
            pl.when(c("W") > 0).then(c("pay") * c("amount") // c("W")).otherwise(0).alias("part"),
            pl.when(c("W") > 0).then(c("pay") * c("amount") % c("W")).otherwise(0).alias("rem"),
        )
        .with_columns(
            (c("pay") - c("part").sum().over("account_id")).alias("left"),
            (c("rem").rank("ordinal", descending=True).over("account_id") - 1).alias("rank"),
        )
        .with_columns((c("part") + (c("rank") < c("left")).cast(pl.Int64)).alias("alloc"))
        .select("line", "provider_id", "amount", "alloc")
        .collect()
    )
    totals = (
        out.group_by("provider_id")
        .agg(c("amount").sum().alias("charged_kop"), c("alloc").sum().alias("paid_kop"))
        .sort("provider_id")
    )
    return (
        out["amount"].to_numpy(),
        out["alloc"].to_numpy(),
        {k: totals[k].to_numpy() for k in ("provider_id", "charged_kop", "paid_kop")},
    )


# ----------------------------------------------------------------------------------------- duckdb

_DUCK_SQL = f"""
WITH a AS (
  SELECT line, account_id, provider_id,
         CASE method WHEN 1 THEN (reading_curr_x6 - reading_prev_x6) * tariff_x4
                     WHEN 2 THEN norm_x6 * person_days * tariff_x4
                     ELSE area_x4 * tariff_x4 END AS A,
         CASE method WHEN 1 THEN {D_METER} WHEN 2 THEN {D_NORM} ELSE {D_AREA} END::BIGINT AS D,
         CASE method WHEN 2 THEN coef_x4 ELSE 10000 END AS k
  FROM lines),
b AS (SELECT *, (A // 10000) * k AS ak, D // 10000 AS dp FROM a),
c AS (SELECT line, account_id, provider_id,
             ak // dp + (2 * ((ak % dp) * 10000 + (A % 10000) * k) + D) // (2 * D) AS amount FROM b),
w AS (SELECT c.*, coalesce(p.amount_kop, 0) AS pay, sum(amount) OVER (PARTITION BY c.account_id) AS W
      FROM c LEFT JOIN pays p USING (account_id)),
s AS (SELECT *, CASE WHEN W > 0 THEN pay * amount // W ELSE 0 END AS part,
                CASE WHEN W > 0 THEN pay * amount % W ELSE 0 END AS rem FROM w),
r AS (SELECT *, pay - sum(part) OVER (PARTITION BY account_id) AS "left",
                row_number() OVER (PARTITION BY account_id ORDER BY rem DESC, line) - 1 AS rank FROM s)
SELECT line, provider_id, amount, part + CASE WHEN rank < "left" THEN 1 ELSE 0 END AS alloc FROM r
"""


def run_duckdb(lines: dict[str, np.ndarray], pays: dict[str, np.ndarray]) -> Result:
    import duckdb
    import pyarrow as pa

    con = duckdb.connect()
    n = len(lines["account_id"])
    con.register("lines", pa.table({**lines, "line": np.arange(n, dtype=np.int64)}))
    con.register("pays", pa.table(pays))
    con.execute(f"CREATE TEMP TABLE res AS {_DUCK_SQL}")
    got = con.execute("SELECT line, amount, alloc FROM res").fetchnumpy()
    tot = con.execute(
        "SELECT provider_id, sum(amount)::BIGINT AS charged_kop, sum(alloc)::BIGINT AS paid_kop "
        "FROM res GROUP BY provider_id ORDER BY provider_id"
    ).fetchnumpy()
    con.close()
    amount = np.empty(n, dtype=np.int64)
    alloc = np.empty(n, dtype=np.int64)
    amount[got["line"]] = got["amount"]
    alloc[got["line"]] = got["alloc"]
    return amount, alloc, {k: np.asarray(tot[k], dtype=np.int64) for k in tot}


# ----------------------------------------------------------------------------------------- pandas


def run_pandas(lines: dict[str, np.ndarray], pays: dict[str, np.ndarray]) -> Result:
    import pandas as pd

    df = pd.DataFrame(lines)
    m = df["method"]
    t = df["tariff_x4"]
    big_a = (df["area_x4"] * t).where(m == 5, 0)
    big_a = big_a.mask(m == 1, (df["reading_curr_x6"] - df["reading_prev_x6"]) * t)
    big_a = big_a.mask(m == 2, df["norm_x6"] * df["person_days"] * t)
    d = pd.Series(D_AREA, index=df.index).mask(m == 1, D_METER).mask(m == 2, D_NORM)
    k = df["coef_x4"].where(m == 2, 10_000)
    ak = big_a // 10_000 * k
    dp = d // 10_000
    df["amount"] = ak // dp + (2 * ((ak % dp) * 10_000 + (big_a % 10_000) * k) + d) // (2 * d)
    pay = pd.Series(pays["amount_kop"], index=pays["account_id"])
    df["pay"] = df["account_id"].map(pay).fillna(0).astype("int64")
    g = df.groupby("account_id", sort=False)
    w_sum = g["amount"].transform("sum")
    ok = w_sum > 0
    safe = w_sum.where(ok, 1)
    df["part"] = (df["pay"] * df["amount"] // safe).where(ok, 0)
    df["rem"] = (df["pay"] * df["amount"] % safe).where(ok, 0)
    left = df["pay"] - df.groupby("account_id", sort=False)["part"].transform("sum")
    df["line"] = np.arange(len(df))
    ordered = df.sort_values(["account_id", "rem", "line"], ascending=[True, False, True], kind="stable")
    rank = ordered.groupby("account_id", sort=False).cumcount().reindex(df.index)
    df["alloc"] = df["part"] + (rank < left).astype("int64")
    tot = (
        df.groupby("provider_id")
        .agg(charged_kop=("amount", "sum"), paid_kop=("alloc", "sum"))
        .reset_index()
        .sort_values("provider_id")
    )
    return (
        df["amount"].to_numpy(np.int64),
        df["alloc"].to_numpy(np.int64),
        {k: tot[k].to_numpy(np.int64) for k in ("provider_id", "charged_kop", "paid_kop")},
    )


IMPLEMENTATIONS = {
    "rust": run_rust,
    "rust-engine": run_rust_engine,
    "polars": run_polars,
    "duckdb": run_duckdb,
    "pandas": run_pandas,
    "numpy": run_numpy,
}


def summary(lines: dict[str, np.ndarray], result: Result) -> dict[str, int]:
    """Checksums of a result: total charged (the record's ``checksum``), total allocated, a digest of
    where every kopeck went (line × amount) and of the provider totals."""
    amount, alloc, totals = result
    weight = (lines["account_id"] * 7 + lines["service_id"] * 13 + lines["component"]) % 1009
    prov_digest = int(
        np.sum(totals["provider_id"] * 1_000_003 * totals["charged_kop"] + totals["paid_kop"] * 17)
    )
    return {
        "checksum": int(amount.sum()),
        "paid_kop": int(alloc.sum()),
        "digest": int(np.sum(alloc * weight)) + int(np.sum(amount * (weight + 1))) + prov_digest,
    }
