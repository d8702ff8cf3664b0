"""Engine and session helpers for the store, and the bulk writer (COPY on PostgreSQL).

``UNIPAY_DB_URL`` (via :mod:`hub.config`) selects the database; SQLite under ``./var/`` by default.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, insert
from sqlalchemy.orm import Session, sessionmaker

from hub.config import load_settings


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=30000")
    # 256 MiB page cache instead of SQLite's 2 MiB: loading a million payments touches the pages
    # of five indexes all over; with 2 MiB every insert went back to the OS for its pages
    # (allocated only as used)
    cur.execute("PRAGMA cache_size=-262144")
    cur.close()


def make_engine(url: str) -> Engine:
    """Create an engine for ``url``; SQLite files get their folder created and sane pragmas."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[1] if "///" in url else ""
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return create_engine(url, pool_pre_ping=True)


@lru_cache(maxsize=8)
def _cached_engine(url: str) -> Engine:
    return make_engine(url)


def get_engine(url: str | None = None) -> Engine:
    """The engine of the configured store (cached per URL)."""
    return _cached_engine(url or load_settings().db_url)


@contextmanager
def session_scope(engine: Engine | None = None) -> Iterator[Session]:
    """A session in one transaction: committed on success, rolled back on any error."""
    factory = sessionmaker(bind=engine or get_engine(), expire_on_commit=False)
    with factory() as session, session.begin():
        yield session


def _copy_text(value: Any) -> str:
    if value is None:
        return "\\N"
    if isinstance(value, bool):
        return "t" if value else "f"
    text = str(value)
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def bulk_insert(
    conn: Connection,
    table: Any,
    columns: Sequence[str],
    rows: Iterable[Sequence[Any]],
    chunk: int = 50_000,
    prepared: bool = False,
) -> int:
    """Insert many rows fast inside the caller's transaction; returns the row count.

    PostgreSQL: ``COPY … FROM STDIN`` through psycopg. Others: executemany of one INSERT.
    ``prepared``: the rows hold only ``int``/``str``/``None`` (decimals and dates already as text), so
    SQLite takes them as they are.
    """
    name = table.name if hasattr(table, "name") else str(table)
    count = 0
    if conn.dialect.name == "postgresql":
        raw: Any = conn.connection.dbapi_connection
        assert raw is not None
        cols = ", ".join(f'"{c}"' for c in columns)
        with raw.cursor() as cur, cur.copy(f'COPY "{name}" ({cols}) FROM STDIN') as copy:
            buf = io.StringIO()
            for row in rows:
                buf.write("\t".join(_copy_text(v) for v in row))
                buf.write("\n")
                count += 1
                if count % chunk == 0:
                    copy.write(buf.getvalue())
                    buf = io.StringIO()
            if buf.tell():
                copy.write(buf.getvalue())
        return count
    stmt = insert(table)
    batch: list[dict[str, Any]] = []
    raw_sqlite = conn.dialect.name == "sqlite"
    if raw_sqlite:
        dbapi = conn.connection.dbapi_connection
        assert dbapi is not None
        sql = f'INSERT INTO "{name}" ({", ".join(columns)}) VALUES ({", ".join("?" * len(columns))})'
        cur = dbapi.cursor()
        tuples: list[Sequence[Any]] = []
        for row in rows:
            tuples.append(row if prepared else tuple(_sqlite_value(v) for v in row))
            if len(tuples) >= chunk:
                cur.executemany(sql, tuples)
                count += len(tuples)
                tuples = []
        if tuples:
            cur.executemany(sql, tuples)
            count += len(tuples)
        cur.close()
        return count
    for row in rows:
        batch.append(dict(zip(columns, row, strict=True)))
        if len(batch) >= chunk:
            conn.execute(stmt, batch)
            count += len(batch)
            batch = []
    if batch:
        conn.execute(stmt, batch)
        count += len(batch)
    return count


def _sqlite_value(value: Any) -> Any:
    """SQLAlchemy stores Numeric as text-free REAL-ish values and dates as ISO strings on SQLite."""
    if value is None or isinstance(value, int | float | str | bytes):
        return value
    if hasattr(value, "isoformat"):
        return (
            value.isoformat(sep=" ")
            if hasattr(value, "hour") and hasattr(value, "day")
            else value.isoformat()
        )
    return str(value)
