"""Shared helpers for the ingest and export tests: the samples (copied into tests/data/ingest),
a snapshot of the store's exchange tables, and small store queries."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, func, select

from hub.store import models as m

DATA = Path(__file__).resolve().parent.parent / "data" / "ingest"

BANK = "6234000011_40702810900000001234_14032025_001.txt"
POST = "POST_390000_20250315_001.txt"
SZN_BEN = "SZN_BEN_0612_202503_001.xml"
LEGACY = "LEGACY_KVPL_202503.zip"
SZN_FILE_ID = "SZN_BEN_0612_202503_001"
TODAY = dt.date(2025, 3, 20)  # the samples' month; line checks compare dates with it

TABLES = (
    m.RegistryFile,
    m.RegistryError,
    m.Payment,
    m.MeterReading,
    m.Beneficiary,
    m.Benefit,
    m.Building,
    m.Premises,
    m.Account,
    m.Person,
    m.Registration,
    m.Meter,
    m.AccountService,
    m.OpeningDebt,
    m.BillingPeriod,
    m.Provider,
    m.District,
    m.ExportLog,
)


def sample(tmp_path: Path, name: str) -> Path:
    """A private copy of a sample (the protocol is written next to it)."""
    dst = tmp_path / name
    shutil.copyfile(DATA / name, dst)
    return dst


def count(engine: Engine, model: Any, *where: Any) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(model).where(*where)).scalar_one())


def total(engine: Engine, column: Any, *where: Any) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.coalesce(func.sum(column), 0)).where(*where)).scalar_one())


def snapshot(engine: Engine) -> dict[str, Any]:
    """Row counts of the tables ingest writes, and the money in them."""
    snap: dict[str, Any] = {t.__tablename__: count(engine, t) for t in TABLES}
    snap["payments_kop"] = total(engine, m.Payment.amount_kop)
    snap["unidentified_kop"] = total(engine, m.Payment.amount_kop, m.Payment.unidentified.is_(True))
    snap["opening_kop"] = total(engine, m.OpeningDebt.principal_kop + m.OpeningDebt.penalty_kop)
    return snap
