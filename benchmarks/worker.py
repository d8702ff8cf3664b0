"""One benchmark case in its own process: ``python -m benchmarks.worker '<json spec>'``.

Prepares the data (not timed: ``prep_seconds``), runs the case ``repeat`` times (the best time is
reported, all are kept in ``runs``), samples the resident set every 5 ms while it runs, and prints
the record as one JSON line on stdout.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from typing import Any

import psutil


class RssSampler:
    """Peak RSS (MB) of this process while the ``with`` block runs."""

    def __init__(self, every: float = 0.005) -> None:
        self.every = every
        self.peak = 0
        self._stop = threading.Event()
        self._proc = psutil.Process()

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self._proc.memory_info().rss)
            self._stop.wait(self.every)

    def __enter__(self) -> RssSampler:
        self.peak = self._proc.memory_info().rss
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._proc.memory_info().rss)

    @property
    def mb(self) -> float:
        return self.peak / 2**20


def _timed(fn: Callable[[], dict[str, Any]], repeat: int) -> tuple[dict[str, Any], list[float], float]:
    runs: list[float] = []
    best: dict[str, Any] = {}
    with RssSampler() as rss:
        for _ in range(max(1, repeat)):
            t = time.perf_counter()
            out = fn()
            dt = out.pop("_seconds", None) or time.perf_counter() - t
            runs.append(dt)
            if dt <= min(runs):
                best = out
    return best, runs, rss.mb


# ---------------------------------------------------------------------------------------- in memory


def charges_core(engine: str, accounts: int, seed: int) -> tuple[Callable[[], dict[str, Any]], int]:
    from benchmarks import core, data

    lines, pays = data.core_batch(data.accounts(accounts, seed), seed)
    impl = core.IMPLEMENTATIONS[engine]
    return (lambda: core.summary(lines, impl(lines, pays))), len(lines["account_id"])


def charges_full(engine: str, accounts: int, seed: int) -> tuple[Callable[[], dict[str, Any]], int]:
    from benchmarks import data, full

    fb = data.full_batch(data.accounts(accounts, seed))

    def go() -> dict[str, Any]:
        out = full.run(fb, engine)
        out["_seconds"] = out.pop("seconds")
        return out

    return go, len(fb.charges["account_id"])


def split(engine: str, accounts: int, seed: int) -> tuple[Callable[[], dict[str, Any]], int]:
    from benchmarks import data
    from benchmarks import split as sp

    debts, pays = data.split_batch(data.accounts(accounts, seed), seed)
    impl = sp.IMPLEMENTATIONS[engine]

    def go() -> dict[str, Any]:
        out = sp.summary(impl(debts, pays))
        out["debt_rows"] = len(debts["account_id"])
        return out

    return go, len(pays["account_id"])


# ------------------------------------------------------------------------------------ store to store

PHASES = (  # bill_period's progress messages → phase names (the time until the next message)
    ("лицевые счета и жильцы", "read_scope"),
    ("входные данные начислений", "read_assemble"),
    ("начисления (движок)", "compute_charges"),
    ("льготы, качество, перерасчёты", "compute_benefits_quality_absence"),
    ("пени", "compute_penalties"),
    ("запись начислений", "write_lines"),
    ("сальдо", "write_balances_commit"),
)


def bill(store: str, accounts: int, seed: int, pg_url: str | None) -> dict[str, Any]:
    """Generate a city into a fresh store (prep), then time ``bill_period`` with its phases."""
    from hub.billing.bill import bill_period
    from hub.city.generate import DEFAULT_PERIOD, generate_city
    from hub.store import migrate
    from hub.store.db import make_engine

    tmp = tempfile.mkdtemp(prefix="unipay_bench_")
    dbname = f"unipay_bench_{os.getpid()}"
    admin = None
    try:
        if store == "sqlite":
            url = f"sqlite:///{tmp}/city.db"
        else:
            import psycopg

            try:
                admin = psycopg.connect(pg_url or "", autocommit=True, connect_timeout=5)
            except psycopg.OperationalError as exc:
                return {"skipped": f"PostgreSQL {pg_url} unreachable: {exc}".strip()}
            admin.execute(f'CREATE DATABASE "{dbname}"')
            base = (pg_url or "").rsplit("/", 1)[0]
            url = f"{base}/{dbname}"
        engine = make_engine(url)
        t = time.perf_counter()
        migrate.upgrade(engine)
        generate_city(engine, accounts, seed)
        prep = time.perf_counter() - t
        names = dict(PHASES)
        marks: list[tuple[str, float]] = [("read_ref", time.perf_counter())]

        def say(msg: str) -> None:
            marks.append((names.get(msg, msg), time.perf_counter()))

        with RssSampler() as rss:
            t0 = marks[0][1]
            report = bill_period(engine, DEFAULT_PERIOD, "rust", progress=say)
            end = time.perf_counter()
        engine.dispose()
        phases = {}
        for (name, start), (_n, stop) in zip(marks, [*marks[1:], ("end", end)], strict=True):
            phases[name] = round(stop - start, 3)
        groups = {"read": 0.0, "compute": 0.0, "write": 0.0}
        for name, sec in phases.items():
            groups[name.split("_")[0]] = groups.get(name.split("_")[0], 0.0) + sec
        return {
            "n": sum(report.lines.values()),
            "seconds": end - t0,
            "runs": [end - t0],
            "peak_rss_mb": rss.mb,
            "checksum": report.total_kop,
            "digest": report.total_kop,
            "phases": phases,
            "phase_groups": {k: round(v, 3) for k, v in groups.items()},
            "lines_by_kind": report.lines,
            "prep_seconds": prep,
            "store": store,
        }
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        if admin is not None:
            admin.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')
            admin.close()


# ------------------------------------------------------------------------------------------------


def run(spec: dict[str, Any]) -> dict[str, Any]:
    bench, engine, accounts, seed = spec["benchmark"], spec["engine"], spec["accounts"], spec["seed"]
    record: dict[str, Any] = {
        "benchmark": bench,
        "engine": engine,
        "size": spec.get("label", ""),
        "accounts": accounts,
        "load_avg_1m": round(os.getloadavg()[0], 2),
    }
    if bench.startswith("bill_"):
        out = bill(bench.removeprefix("bill_"), accounts, seed, spec.get("options", {}).get("pg_url"))
        if "skipped" in out:
            return {**record, "n": 0, "seconds": None, "peak_rss_mb": None, "checksum": None, **out}
        record.update(out)
    elif bench == "ingest":
        from benchmarks import ingest

        opts = spec.get("options", {})
        out = ingest.run(engine, accounts, opts["lines"], seed, opts.get("pg_url"))
        if "skipped" in out:
            return {**record, "n": 0, "seconds": None, "peak_rss_mb": None, "checksum": None, **out}
        record.update(out)
    else:
        t = time.perf_counter()
        fn, n = {"charges_core": charges_core, "charges_full": charges_full, "split": split}[bench](
            engine, accounts, seed
        )
        prep = time.perf_counter() - t
        best, runs, peak = _timed(fn, spec.get("repeat", 1))
        record.update({"n": n, "seconds": min(runs), "peak_rss_mb": peak, **best})
        record["runs"] = [round(x, 4) for x in runs]
        record["prep_seconds"] = round(prep, 2)
    record["seconds"] = round(record["seconds"], 4)
    record["peak_rss_mb"] = round(record["peak_rss_mb"], 1)
    record["process_peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    record["load_avg_1m_after"] = round(os.getloadavg()[0], 2)
    return record


def main() -> None:
    print(json.dumps(run(json.loads(sys.argv[1])), ensure_ascii=False), flush=True)


if __name__ == "__main__":
    main()
