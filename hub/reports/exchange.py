"""Monitoring of the exchange: registry files per partner and day, rejected lines, late partners, DAG runs.

Incoming files only (``direction = 'in'``). A file's day is the day it was received. A *payment partner*
is a sender of bank, post or terminal registries; one that sent files in the seven days before a day but
none on that day is reported as late (its daily file is missing) — unless an explicit list of expected
senders is given, then exactly those are checked.

These reports show whole registries (the money of every provider at once): they are for the management
and operator roles; a provider's scope gets nothing (see :func:`check_scope`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import pandas as pd
from sqlalchemy import Date, Engine, and_, case, func, select

from hub.reports.common import frame
from hub.store import models as m

PAYMENT_KINDS = ("bank", "post", "terminal", "online")
STATUS_NAMES = {
    "received": "получен",
    "loaded": "загружен",
    "loaded_with_errors": "загружен с ошибками",
    "rejected": "отклонён",
    "duplicate": "повтор",
}
RUN_STATUS_NAMES = {"running": "выполняется", "success": "успешно", "failed": "ошибка"}


class ScopeError(PermissionError):
    """A provider's user asked for a report that holds other providers' money."""


def check_scope(provider_id: int | None) -> None:
    if provider_id is not None:
        raise ScopeError("реестры платёжных агентов содержат деньги всех поставщиков")


def _day(col):  # type: ignore[no-untyped-def]
    return func.date(col, type_=Date)


def _count_status(status: str):  # type: ignore[no-untyped-def]
    return func.sum(case((m.RegistryFile.status == status, 1), else_=0))


def files_by_partner_day(
    engine: Engine, date_from: dt.date, date_to: dt.date, provider_id: int | None = None
) -> pd.DataFrame:
    """Per day and sender: files by status, lines and sums against the control totals."""
    check_scope(provider_id)
    f = m.RegistryFile
    day = _day(f.received_at)
    stmt = (
        select(
            day.label("day"),
            f.sender,
            f.kind,
            func.count().label("files"),
            _count_status("received").label("received"),
            _count_status("loaded").label("loaded"),
            _count_status("loaded_with_errors").label("loaded_with_errors"),
            _count_status("rejected").label("rejected"),
            _count_status("duplicate").label("duplicate"),
            func.sum(f.lines_total).label("lines_total"),
            func.sum(f.lines_loaded).label("lines_loaded"),
            func.sum(f.lines_rejected).label("lines_rejected"),
            func.sum(f.control_sum_kop).label("control_sum_kop"),
            func.sum(f.amount_loaded_kop).label("amount_loaded_kop"),
            func.sum(f.amount_unidentified_kop).label("amount_unidentified_kop"),
        )
        .where(f.direction == "in", day >= date_from, day <= date_to)
        .group_by(day, f.sender, f.kind)
        .order_by(day.desc(), f.sender)
    )
    with engine.connect() as conn:
        df = frame(conn, stmt)
    if not df.empty:
        for col in df.columns[3:]:
            df[col] = df[col].astype("int64")
        df["difference_kop"] = df["control_sum_kop"] - df["amount_loaded_kop"]
    return df


def files_of_day(engine: Engine, day: dt.date, provider_id: int | None = None) -> pd.DataFrame:
    """Every incoming file of one day with its status, counts, sums and error protocol."""
    check_scope(provider_id)
    f = m.RegistryFile
    d = _day(f.received_at)
    stmt = (
        select(
            f.id,
            f.received_at,
            f.sender,
            f.kind,
            f.name,
            f.status,
            f.lines_total,
            f.lines_loaded,
            f.lines_rejected,
            f.control_sum_kop,
            f.amount_loaded_kop,
            f.amount_unidentified_kop,
            f.order_number,
            f.error_protocol,
            f.message,
        )
        .where(f.direction == "in", d == day)
        .order_by(f.received_at, f.id)
    )
    with engine.connect() as conn:
        return frame(conn, stmt)


def rejected_lines(
    engine: Engine, date_from: dt.date, date_to: dt.date, provider_id: int | None = None, limit: int = 2000
) -> tuple[pd.DataFrame, int]:
    """Rejected lines (whole-file errors are line 0) of files received in the range, and their count."""
    check_scope(provider_id)
    f, e = m.RegistryFile, m.RegistryError
    d = _day(f.received_at)
    where = and_(f.direction == "in", d >= date_from, d <= date_to)
    stmt = (
        select(
            f.received_at,
            f.sender,
            f.name.label("file_name"),
            e.line_no,
            e.field,
            e.code,
            e.message,
            e.severity,
            f.error_protocol,
            e.source_line,
        )
        .join(f, f.id == e.file_id)
        .where(where)
        .order_by(f.received_at.desc(), f.id, e.line_no)
        .limit(limit)
    )
    count = select(func.count()).select_from(e).join(f, f.id == e.file_id).where(where)
    with engine.connect() as conn:
        return frame(conn, stmt), int(conn.execute(count).scalar_one())


def late_partners(
    engine: Engine, day: dt.date, expected: Sequence[str] | None = None, provider_id: int | None = None
) -> pd.DataFrame:
    """Payment partners whose daily file has not arrived on ``day``: sender, last file received."""
    check_scope(provider_id)
    f = m.RegistryFile
    d = _day(f.received_at)
    incoming = and_(f.direction == "in", f.kind.in_(PAYMENT_KINDS))
    with engine.connect() as conn:
        today = set(conn.execute(select(f.sender).distinct().where(incoming, d == day)).scalars())
        if expected:
            senders = list(dict.fromkeys(expected))
        else:
            week = select(f.sender).distinct().where(incoming, d >= day - dt.timedelta(days=7), d < day)
            senders = sorted(conn.execute(week).scalars())
        missing = [s for s in senders if s not in today]
        if not missing:
            return pd.DataFrame(columns=["sender", "kind", "last_received_at"])
        last = (
            select(
                f.sender, func.max(f.kind).label("kind"), func.max(f.received_at).label("last_received_at")
            )
            .where(f.direction == "in", f.sender.in_(missing), d < day)
            .group_by(f.sender)
        )
        df = frame(conn, last)
    out = pd.DataFrame({"sender": missing}).merge(df, on="sender", how="left")
    return out[["sender", "kind", "last_received_at"]]


def last_days_with_files(engine: Engine, provider_id: int | None = None) -> dt.date | None:
    """The day of the latest incoming file (the monitoring page opens on it)."""
    check_scope(provider_id)
    with engine.connect() as conn:
        last = conn.execute(
            select(func.max(m.RegistryFile.received_at)).where(m.RegistryFile.direction == "in")
        ).scalar_one()
    return last.date() if last is not None else None


def runs(engine: Engine, limit: int = 50, provider_id: int | None = None) -> pd.DataFrame:
    """The latest DAG/CLI runs (newest first)."""
    check_scope(provider_id)
    r = m.RunLog
    stmt = (
        select(r.id, r.dag_id, r.run_id, r.task_id, r.status, r.started_at, r.finished_at, r.message)
        .order_by(r.started_at.desc(), r.id.desc())
        .limit(limit)
    )
    with engine.connect() as conn:
        return frame(conn, stmt)


def last_run_per_dag(engine: Engine, provider_id: int | None = None) -> pd.DataFrame:
    """Per DAG: its last run's status and time, how many of its runs failed and when last."""
    check_scope(provider_id)
    r = m.RunLog
    last = select(r.dag_id, func.max(r.started_at).label("started_at")).group_by(r.dag_id).subquery()
    stmt = (
        select(r.dag_id, r.status, r.started_at, r.finished_at, r.message)
        .join(last, and_(last.c.dag_id == r.dag_id, last.c.started_at == r.started_at))
        .order_by(r.dag_id, r.id.desc())
    )
    fails = (
        select(r.dag_id, func.count().label("failures"), func.max(r.started_at).label("last_failure"))
        .where(r.status == "failed")
        .group_by(r.dag_id)
    )
    with engine.connect() as conn:
        df = frame(conn, stmt).drop_duplicates("dag_id")
        failures = frame(conn, fails)
    if df.empty:
        return df
    df = df.merge(failures, on="dag_id", how="left")
    df["failures"] = df["failures"].fillna(0).astype("int64")
    return df.reset_index(drop=True)
