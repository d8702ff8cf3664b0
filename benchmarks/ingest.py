"""ingest: end-to-end loading of partner payment registries into a store.

Preparation (timed apart, ``prep_seconds``): a synthetic city (``hub.city.generate_city``) in a fresh
store — SQLite in a temp folder or a database ``unipay_bench_ingest_<pid>`` created (and dropped) on the
PostgreSQL server of ``--pg-url`` — and, written with the connectors' writers, a bank registry
(formats §2) and a post registry (§3) of ``lines`` payments each, spread over the city's open accounts,
with ~0.5 % bad lines (unknown account, or a payment period more than 36 months back: line errors
whose money is held as unidentified).

Timed: ``ingest_file`` of both files (parse, validate, match accounts, load in one transaction per
file, error protocol). ``checksum`` = Σ money the two files put into the store (credited +
unidentified); SQLite and PostgreSQL must agree. The ``pandas`` engine (size ``read_csv``) is the
comparison: a plain ``pandas.read_csv`` of the same bank file (checksum = Σ amounts of its lines).
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

DAY = dt.date(2026, 11, 10)  # inside the city's open period 2026-11
TODAY = dt.date(2026, 11, 30)
BAD_EVERY = 200  # one line in 200 is bad (0.5 %)
CENTER_INN = "6234000011"
CENTER_ACCOUNT = "40702810900000001234"
BANK_NAME = f"{CENTER_INN}_{CENTER_ACCOUNT}_{DAY:%d%m%Y}_001.txt"
POST_NAME = f"POST_390000_{DAY:%Y%m%d}_001.txt"


def amount_of(i: int) -> int:
    return 10_000 + (i * 7_919) % 500_000


def write_files(out: Path, accounts: list[str], lines: int) -> dict[str, Any]:
    """The bank and post registries of ``lines`` payments each; returns paths and control sums."""
    from connectors.formats import bank, post
    from connectors.formats.common import Period

    good, ancient = Period(2026, 10), Period(2019, 1)
    n_acc = len(accounts)

    def account(i: int) -> str:
        return "9999999999" if i % (2 * BAD_EVERY) == 7 else accounts[(i * 7_919) % n_acc]

    def period(i: int) -> Any:
        return ancient if i % (2 * BAD_EVERY) == 7 + BAD_EVERY else good

    def bank_lines() -> Any:
        for i in range(lines):
            amount = amount_of(i)
            commission = amount // 100
            yield bank.BankPayment(
                DAY,
                dt.time(8 + i % 12, i % 60, (i * 7) % 60),
                f"8606/{i % 60:05d}",
                "SBOL",
                f"B{i:015d}",
                account(i),
                "ИВАНОВ ИВАН ИВАНОВИЧ",
                "г Рязань, ул Ленина, д 5, кв 12",
                (),
                (),
                period(i),
                amount,
                amount - commission,
                commission,
            )

    def post_batches() -> Any:
        for b, start in enumerate(range(0, lines, 1_000), start=1):
            batch = post.PostBatch(f"{390000 + b % 1000:06d}", DAY, b)
            yield (
                batch,
                (
                    post.PostPayment(
                        batch,
                        DAY,
                        "001",
                        "01",
                        account(i),
                        period(i),
                        "ИВАНОВ И И",
                        "ЛЕНИНА УЛ",
                        "5",
                        "12",
                        i + 1,
                        None,
                        amount_of(i),
                    )
                    for i in range(start, min(lines, start + 1_000))
                ),
            )

    bank_path, post_path = out / BANK_NAME, out / POST_NAME
    bank_sum = bank.write(str(bank_path), bank_lines(), order_no="777", order_date=DAY).total_kop
    header = post.PostHeader("390000", DAY, 1, CENTER_INN, CENTER_ACCOUNT)
    post_sum = post.write(str(post_path), header, post_batches()).total_kop
    return {"bank": bank_path, "post": post_path, "bank_kop": bank_sum, "post_kop": post_sum}


def read_csv(path: Path) -> dict[str, Any]:
    """The comparison: ``pandas.read_csv`` of the bank file (no validation, no store)."""
    import pandas as pd

    t = time.perf_counter()
    df = pd.read_csv(
        path,
        sep=";",
        header=None,
        names=list(range(12)),
        encoding="cp1251",
        dtype={0: str, 1: str, 2: str, 3: str, 4: str, 5: str, 6: str, 7: str, 8: str},
        decimal=",",
    )
    body = df[~df[0].str.startswith("=")]
    kop = (body[9].astype("float64") * 100).round().astype("int64")
    seconds = time.perf_counter() - t
    return {"_seconds": seconds, "checksum": int(kop.sum()), "rows": len(body)}


def run(engine_name: str, accounts: int, lines: int, seed: int, pg_url: str | None) -> dict[str, Any]:
    """One case (see the module docstring); returns the worker's record fields."""
    from benchmarks.worker import RssSampler

    tmp = Path(tempfile.mkdtemp(prefix="unipay_bench_ingest_"))
    dbname = f"unipay_bench_ingest_{os.getpid()}"
    admin = engine = None
    try:
        t0 = time.perf_counter()
        if engine_name == "pandas":
            files = write_files(tmp, [f"{1_000_000_000 + i}" for i in range(accounts)], lines)
            prep = time.perf_counter() - t0
            with RssSampler() as rss:
                out = read_csv(files["bank"])
            return {
                "n": out["rows"],
                "seconds": out["_seconds"],
                "runs": [out["_seconds"]],
                "peak_rss_mb": rss.mb,
                "checksum": out["checksum"],
                "prep_seconds": round(prep, 2),
                "file_mb": round(files["bank"].stat().st_size / 2**20, 1),
            }
        from hub.city.generate import generate_city
        from hub.ingest import ingest_file
        from hub.store import migrate
        from hub.store.db import make_engine

        if engine_name == "sqlite":
            url = f"sqlite:///{tmp}/store.db"
        else:
            import psycopg

            try:
                admin = psycopg.connect(pg_url or "", autocommit=True, connect_timeout=5)
            except psycopg.OperationalError as exc:
                return {"skipped": f"PostgreSQL {pg_url} unreachable: {exc}".strip()}
            admin.execute(f'DROP DATABASE IF EXISTS "{dbname}"')
            admin.execute(f'CREATE DATABASE "{dbname}"')
            base = (pg_url or "").rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1)
            url = f"{base}/{dbname}"
        engine = make_engine(url)
        migrate.upgrade(engine)
        generate_city(engine, accounts, seed)
        from sqlalchemy import select

        from hub.store import models as m

        with engine.connect() as conn:
            numbers = list(
                conn.execute(
                    select(m.Account.number).where(m.Account.status == "open").order_by(m.Account.id)
                ).scalars()
            )
        files = write_files(tmp, numbers, lines)
        prep = time.perf_counter() - t0
        phases: dict[str, float] = {}
        results = {}
        with RssSampler() as rss:
            start = time.perf_counter()
            for kind in ("bank", "post"):
                t = time.perf_counter()
                results[kind] = ingest_file(
                    engine,
                    files[kind],
                    source=kind,
                    center_inn=CENTER_INN,
                    settlement="г Рязань",
                    today=TODAY,
                )
                phases[kind] = round(time.perf_counter() - t, 3)
            seconds = time.perf_counter() - start
        money = {k: r.amount_loaded_kop + r.amount_unidentified_kop for k, r in results.items()}
        for k, r in results.items():
            if r.status != "loaded_with_errors" or money[k] != files[f"{k}_kop"]:
                raise RuntimeError(f"{k}: {r.status}, {money[k]} ≠ {files[k + '_kop']}: {r.errors[:3]}")
        return {
            "n": sum(r.lines_total for r in results.values()),
            "seconds": seconds,
            "runs": [round(seconds, 3)],
            "peak_rss_mb": rss.mb,
            "checksum": sum(money.values()),
            "digest": sum(r.amount_unidentified_kop * 7 + r.lines_rejected for r in results.values()),
            "phases": phases,
            "files": {
                k: {
                    "lines": r.lines_total,
                    "rejected": r.lines_rejected,
                    "loaded_kop": r.amount_loaded_kop,
                    "unidentified_kop": r.amount_unidentified_kop,
                    "mb": round(files[k].stat().st_size / 2**20, 1),
                }
                for k, r in results.items()
            },
            "prep_seconds": round(prep, 2),
            "store": engine_name,
        }
    finally:
        if engine is not None:
            engine.dispose()
        shutil.rmtree(tmp, ignore_errors=True)
        if admin is not None:
            admin.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')
            admin.close()
