"""The benchmark runner: ``python -m benchmarks [--quick] [--only NAME …]``.

Every (benchmark, engine, size) case runs in its own subprocess (``python -m benchmarks.worker``), so
peak RSS is per engine: ``peak_rss_mb`` is the largest resident set sampled (every 5 ms) while the case
runs, ``process_peak_rss_mb`` the process's peak including data preparation. The runner prints the
peers side by side with rich and writes ``benchmarks/results.json``: one record per case with
``benchmark, engine, n, seconds, peak_rss_mb, checksum`` (+ phases, digest, accounts, load average).
Engines of one benchmark and size must agree on ``checksum`` and ``digest``; the exit code is 1 when
they do not (or a case fails).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results.json"
ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Case:
    benchmark: str
    engine: str
    accounts: int
    repeat: int = 1
    label: str = ""  # size label, e.g. "sample"
    options: dict[str, Any] = field(default_factory=dict)


BENCHMARKS = ("charges_core", "charges_full", "split", "bill_sqlite", "bill_pg", "ingest")
# Full sizes: 1,000,000 accounts (~8.5 lines each in charges_core, ~12.5 in charges_full) and payments;
# the python reference on a ~100k-line sample; the store-to-store run at 20,000 accounts.
SIZES = {
    "full": {"core": 1_000_000, "sample": 8_000, "big": 1_000_000, "split": 1_000_000, "bill": 20_000},
    "quick": {"core": 50_000, "sample": 800, "big": 50_000, "split": 50_000, "bill": 1_000},
    "tiny": {"core": 600, "sample": 80, "big": 300, "split": 600, "bill": 60},
}
# ingest (benchmarks/ingest.py): lines per registry (bank and post) and the city's accounts
INGEST_SIZES = {
    "full": {"lines": 1_000_000, "city": 50_000},
    "quick": {"lines": 50_000, "city": 5_000},
    "tiny": {"lines": 400, "city": 60},
}


def plan(scale: str, only: list[str] | None, pg_url: str | None) -> list[Case]:
    s, ing = SIZES[scale], INGEST_SIZES[scale]
    rep = 3 if scale != "full" else 2
    cases = [
        *(
            Case("charges_core", e, s["core"], rep)
            for e in ("rust", "rust-engine", "polars", "duckdb", "pandas")
        ),
        *(Case("charges_full", e, s["sample"], rep, "sample") for e in ("rust", "rust-kernel", "python")),
        *(Case("charges_full", e, s["big"], rep, "big") for e in ("rust", "rust-kernel")),
        *(Case("split", e, s["split"], rep) for e in ("rust", "rust-native", "polars")),
        Case("bill_sqlite", "rust", s["bill"]),
        Case("bill_pg", "rust", s["bill"], options={"pg_url": pg_url}),
        *(
            Case("ingest", e, ing["city"], options={"lines": ing["lines"], "pg_url": pg_url})
            for e in ("sqlite", "postgresql")
        ),
        Case("ingest", "pandas", ing["city"], label="read_csv", options={"lines": ing["lines"]}),
    ]
    if only:
        unknown = set(only) - set(BENCHMARKS)
        if unknown:
            raise SystemExit(f"unknown benchmark(s) {sorted(unknown)}; choose from {BENCHMARKS}")
        cases = [c for c in cases if c.benchmark in only]
    return cases


def run_case(case: Case, seed: int, timeout: float) -> dict[str, Any]:
    """Run one case in a fresh interpreter; returns its record (``error`` set when it failed)."""
    spec = json.dumps({**asdict(case), "seed": seed})
    started = time.perf_counter()
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "benchmarks.worker", spec],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        return _failed(case, f"timeout after {timeout:.0f} s")
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        return _failed(case, (proc.stderr or proc.stdout).strip()[-2000:])
    record: dict[str, Any] = json.loads(lines[-1])
    record["wall_seconds"] = round(time.perf_counter() - started, 2)
    return record


def _failed(case: Case, error: str) -> dict[str, Any]:
    return {
        "benchmark": case.benchmark,
        "engine": case.engine,
        "size": case.label,
        "accounts": case.accounts,
        "n": 0,
        "seconds": None,
        "peak_rss_mb": None,
        "checksum": None,
        "error": error,
    }


def check_agreement(records: list[dict[str, Any]]) -> list[str]:
    """Engines of one (benchmark, size) must give the same checksum and digest."""
    groups: dict[tuple[str, str, int], list[dict[str, Any]]] = {}
    for r in records:
        if r.get("error") or r.get("skipped"):
            continue
        family = "bill" if r["benchmark"].startswith("bill_") else r["benchmark"]  # same city on both stores
        groups.setdefault((family, r.get("size", ""), r["accounts"]), []).append(r)
    problems = []
    for key, rs in groups.items():
        sums = {(r["checksum"], r.get("digest")) for r in rs}
        agree = len(sums) == 1
        for r in rs:
            r["agree"] = agree
        if not agree:
            problems.append(
                f"{key}: " + ", ".join(f"{r['engine']}={r['checksum']}/{r.get('digest')}" for r in rs)
            )
    return problems


def _ratio_note(records: list[dict[str, Any]]) -> None:
    """``vs_rust``: how many times slower than the rust engine of the same benchmark and size."""
    base = {
        (r["benchmark"], r.get("size", ""), r["accounts"]): r["seconds"]
        for r in records
        if r["engine"] == "rust" and r.get("seconds")
    }
    for r in records:
        b = base.get((r["benchmark"], r.get("size", ""), r["accounts"]))
        if b and r.get("seconds"):
            r["vs_rust"] = round(r["seconds"] / b, 2)


def print_table(records: list[dict[str, Any]]) -> None:
    from rich.console import Console
    from rich.table import Table

    t = Table(title="unipay engine benchmarks", show_lines=False)
    for col in (
        "benchmark",
        "engine",
        "accounts",
        "n",
        "seconds",
        "n/s",
        "× rust",
        "peak RSS MB",
        "checksum",
        "ok",
    ):
        t.add_column(col, justify="left" if col in ("benchmark", "engine") else "right")
    for r in records:
        if r.get("error") or r.get("skipped"):
            t.add_row(
                r["benchmark"],
                r["engine"],
                f"{r['accounts']:,}",
                "",
                "",
                "",
                "",
                "",
                "",
                "skipped" if r.get("skipped") else "FAILED",
            )
            continue
        rate = r["n"] / r["seconds"] if r["seconds"] else 0
        t.add_row(
            r["benchmark"] + (f" ({r['size']})" if r.get("size") else ""),
            r["engine"],
            f"{r['accounts']:,}",
            f"{r['n']:,}",
            f"{r['seconds']:.3f}",
            f"{rate / 1e6:.2f} M" if rate >= 1e6 else f"{rate / 1e3:.1f} k",
            f"{r.get('vs_rust', '')}",
            f"{r['peak_rss_mb']:.0f}",
            f"{r['checksum']:,}",
            "✓" if r.get("agree", True) else "✗",
        )
    Console(width=150).print(t)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="small sizes (50k accounts), a minute or two")
    ap.add_argument("--tiny", action="store_true", help="toy sizes (the smoke test)")
    ap.add_argument(
        "--only", action="append", metavar="NAME", help=f"one of {', '.join(BENCHMARKS)} (repeatable)"
    )
    ap.add_argument(
        "--out", type=Path, default=RESULTS, help="results file (default benchmarks/results.json)"
    )
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument(
        "--pg-url",
        default=os.environ.get("UNIPAY_BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres"),
        help="PostgreSQL server for bill_pg (a database unipay_bench_<pid> is created and dropped)",
    )
    ap.add_argument("--timeout", type=float, default=3600, help="seconds per case")
    args = ap.parse_args(argv)
    scale = "tiny" if args.tiny else "quick" if args.quick else "full"
    records = []
    for case in plan(scale, args.only, args.pg_url):
        r = run_case(case, args.seed, args.timeout)
        status = r.get("error", "").splitlines()[-1:] if r.get("error") else ""
        print(
            f"{case.benchmark:13} {case.engine:12} {case.accounts:>9,} accounts: "
            + (f"{r['seconds']:.3f} s, n={r['n']:,}" if r.get("seconds") is not None else f"{status}"),
            flush=True,
        )
        records.append(r)
    if args.only and args.out.exists():  # keep the other benchmarks' records of an earlier run
        kept = [
            r for r in json.loads(args.out.read_text(encoding="utf-8")) if r["benchmark"] not in args.only
        ]
        records = kept + records
        records.sort(key=lambda r: BENCHMARKS.index(r["benchmark"]))
    problems = check_agreement(records)
    _ratio_note(records)
    print_table(records)
    meta = {  # of this invocation (records kept from an earlier run carry their own)
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "scale": scale,
        "finished": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    args.out.write_text(
        json.dumps([{"meta": meta, **r} for r in records], indent=1, ensure_ascii=False) + "\n",
        encoding="utf-8",
    )
    failed = [r for r in records if r.get("error")]
    for r in failed:
        print(f"FAILED {r['benchmark']} {r['engine']}: {r['error']}", file=sys.stderr)
    for p in problems:
        print(f"CHECKSUMS DIFFER {p}", file=sys.stderr)
    return 1 if failed or problems else 0
