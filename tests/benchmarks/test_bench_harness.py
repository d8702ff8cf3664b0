"""Smoke test of the benchmark harness (benchmarks/): toy sizes, every benchmark and engine, one
subprocess per case; every engine must agree on the checksums. Plus in-process checks of the
implementations the harness compares."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from benchmarks import core, data, full, harness
from benchmarks import split as sp
from tests.pgserver import PgServer

FIELDS = ("benchmark", "engine", "n", "seconds", "peak_rss_mb", "checksum")


def test_every_benchmark_runs_and_engines_agree(tmp_path: Path, pg_server: PgServer) -> None:
    out = tmp_path / "results.json"
    code = harness.main(["--tiny", "--out", str(out), "--pg-url", pg_server.base_url, "--timeout", "120"])
    records = json.loads(out.read_text(encoding="utf-8"))
    errors = [(r["benchmark"], r["engine"], r.get("error") or r.get("skipped")) for r in records]
    assert code == 0, errors
    assert {r["benchmark"] for r in records} == set(harness.BENCHMARKS)
    for r in records:
        assert not r.get("error") and not r.get("skipped"), r
        assert all(r[f] is not None for f in FIELDS), r
        assert r["n"] > 0 and r["seconds"] >= 0 and r["peak_rss_mb"] > 0
        assert r["agree"], r
    engines = {(r["benchmark"], r["engine"]) for r in records}
    assert {("charges_core", e) for e in ("rust", "polars", "duckdb", "pandas")} <= engines
    assert {("charges_full", "rust"), ("charges_full", "python"), ("split", "polars")} <= engines


def test_core_implementations_agree_in_process() -> None:
    a = data.accounts(400, seed=3)
    lines, pays = data.core_batch(a, seed=3)
    assert (lines["reading_curr_x6"] >= lines["reading_prev_x6"]).all()
    results = {name: core.summary(lines, f(lines, pays)) for name, f in core.IMPLEMENTATIONS.items()}
    assert len({tuple(v.values()) for v in results.values()}) == 1, results
    amount, alloc, _totals = core.run_rust(lines, pays)
    # every payment is split completely over the account's lines
    per_acc = np.bincount(lines["account_id"], weights=alloc, minlength=a.n + 1)[1:]
    assert (per_acc == pays["amount_kop"]).all()
    assert (amount == core.amounts_numpy(lines)).all()


def test_full_and_split_agree_in_process() -> None:
    a = data.accounts(150, seed=5)
    fb = data.full_batch(a)
    got = {e: full.run(fb, e) for e in ("rust", "rust-kernel", "python")}
    assert len({(g["checksum"], g["digest"]) for g in got.values()}) == 1
    debts, pays = data.split_batch(a, seed=5)
    sums = {name: sp.summary(f(debts, pays)) for name, f in sp.IMPLEMENTATIONS.items()}
    assert len({tuple(v.values()) for v in sums.values()}) == 1, sums
    assert sums["rust"]["checksum"] == int(pays["amount_kop"].sum())
