"""Pieces shared by the loaders of :mod:`hub.ingest`: the result of a load, limits on inputs, id
allocation for bulk writes, batched look-ups of accounts, and the file context that collects the
problems of one file (``registry_errors`` rows in the store and the ``.err.txt`` protocol).

A loader streams the records of its parser, checks what only the store can check, and writes in
batches of :data:`BATCH` records through :func:`hub.store.db.bulk_insert` inside the one
transaction of the file. Problems are :class:`connectors.formats.common.Problem` objects: the
parser's own ones and the store checks (same error codes, see ``connectors/formats/protocol.py``).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import os
import queue
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, func, select, text

from connectors.formats.common import FileError, LineError, Problem
from connectors.formats.protocol import ErrorCode, ErrorKind, protocol_name, write_protocol
from hub.store import models as m
from hub.store.db import bulk_insert

__all__ = [
    "BATCH",
    "DEFAULT_MAX_BYTES",
    "IngestError",
    "IngestResult",
    "FileContext",
    "IdAllocator",
    "check_file_name",
    "db_text",
    "default_max_bytes",
    "file_sha256",
    "lookup_accounts",
    "period_int",
    "prefetch",
    "select_in",
    "write_rows",
]

BATCH = 5_000
DEFAULT_MAX_BYTES = 2 << 30  # 2 GiB: a million-line bank registry is ~250 MB
MAX_KEPT_PROBLEMS = 100_000  # problems kept for the protocol; the store gets all of them
MAX_JSON_ERRORS = 1_000
STATUS_EXIT = {"loaded": 0, "duplicate": 0, "loaded_with_errors": 2, "rejected": 1}


class IngestError(ValueError):
    """The input cannot be taken at all (bad name, not a file, unknown format); Russian message."""


def default_max_bytes() -> int:
    """Size limit of an inbound file: ``UNIPAY_INGEST_MAX_BYTES`` or 2 GiB."""
    raw = os.environ.get("UNIPAY_INGEST_MAX_BYTES", "").strip()
    if raw:
        try:
            value = int(raw)
        except ValueError as exc:
            raise IngestError(
                f"UNIPAY_INGEST_MAX_BYTES должно быть целым числом байт, получено {raw!r}"
            ) from exc
        if value > 0:
            return value
    return DEFAULT_MAX_BYTES


def check_file_name(name: str) -> str:
    """A partner's file name must be a plain name: no path separators, no ``..``, no control chars."""
    bad = (
        not name
        or name in (".", "..")
        or "/" in name
        or "\\" in name
        or any(ord(c) < 32 or ord(c) == 127 for c in name)
        or len(name) > 200
    )
    if bad:
        raise IngestError(
            f"Недопустимое имя файла «{name!r}»: имя не должно содержать разделителей пути (/ или \\), "
            "«..», управляющих символов и быть длиннее 200 символов"
        )
    return name


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def period_int(period: Any) -> int | None:
    """A :class:`connectors.formats.common.Period` as ``YYYYMM``."""
    return None if period is None else period.year * 100 + period.month


@dataclass
class IngestResult:
    """What happened to one file. :meth:`to_json` gives the CLI's JSON contract."""

    file: str
    source: str
    status: str  # loaded | loaded_with_errors | rejected | duplicate
    lines_loaded: int = 0
    lines_rejected: int = 0
    amount_loaded_kop: int = 0
    amount_unidentified_kop: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)
    sender: str = ""
    registry_file_id: int | None = None
    protocol: Path | None = None
    warnings: int = 0
    lines_total: int = 0
    message: str = ""
    details: dict[str, int] = field(default_factory=dict)

    @property
    def exit_code(self) -> int:
        """0 loaded or duplicate, 1 rejected, 2 loaded with rejected lines."""
        return STATUS_EXIT[self.status]

    def to_json(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "source": self.source,
            "status": self.status,
            "lines_loaded": self.lines_loaded,
            "lines_rejected": self.lines_rejected,
            "amount_loaded_kop": self.amount_loaded_kop,
            "amount_unidentified_kop": self.amount_unidentified_kop,
            "errors": self.errors,
        }


class IdAllocator:
    """Hands out primary keys for bulk inserts inside one transaction.

    PostgreSQL: ``nextval`` of the table's sequence (so later inserts never collide). SQLite: the
    largest id + 1, counted on in memory (a writing SQLite transaction holds the database lock).
    """

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.pg = conn.dialect.name == "postgresql"
        self._next: dict[str, int] = {}

    def take(self, table: str, n: int) -> list[int]:
        if n <= 0:
            return []
        if self.pg:
            # one row (an array) instead of n rows: fetching 5 000 rows one by one costs more
            # than taking the values from the sequence
            ids = self.conn.execute(
                text(
                    f"SELECT array_agg(x ORDER BY x) FROM (SELECT nextval(pg_get_serial_sequence('{table}', "
                    "'id')) AS x FROM generate_series(1, :n)) AS s"
                ),
                {"n": n},
            ).scalar_one()
            return [int(x) for x in ids]
        start = self._next.get(table)
        if start is None:
            start = int(
                self.conn.execute(text(f'SELECT COALESCE(MAX(id), 0) + 1 FROM "{table}"')).scalar_one()
            )
        self._next[table] = start + n
        return list(range(start, start + n))


def select_in(
    conn: Connection,
    sql: str,
    values: Iterable[Any],
    *,
    params: Sequence[Any] = (),
    array_type: str = "text",
) -> list[tuple[Any, ...]]:
    """Rows of ``sql`` whose ``{values}`` placeholder is replaced by a test against a whole list,
    in one statement on the driver's cursor (no SQLAlchemy compilation, no 1 000-parameter
    chunks): ``= ANY(%s::<array_type>[])`` on PostgreSQL, ``IN (SELECT value FROM json_each(?))``
    on SQLite. ``sql`` uses ``?`` for the other ``params`` (given in order, before the list);
    ``values`` must be ``str`` or ``int`` (JSON-representable). Written for batch look-ups of
    partner keys (accounts, operation ids, meters), e.g.
    ``select_in(conn, "SELECT id FROM accounts WHERE number {values}", numbers)``.

    PostgreSQL: the statement is never prepared (``prepare=False``), so each batch is planned for
    the table as it is now — a generic plan made while ``payments`` was still small (a sequential
    scan) would otherwise stay for the whole file while the transaction fills the table. (Setting
    ``plan_cache_mode = force_custom_plan`` for the transaction does the same but also re-plans
    the foreign-key checks of every row written, which made the COPYs 2.5× slower.)"""
    vals = list(values)
    if not vals:
        return []
    raw: Any = conn.connection.dbapi_connection
    assert raw is not None
    if conn.dialect.name == "postgresql":
        query = sql.replace("?", "%s").replace("{values}", f"= ANY(%s::{array_type}[])")
        with raw.cursor() as cur:
            cur.execute(query, (*params, vals), prepare=False)
            return [tuple(r) for r in cur.fetchall()]
    if conn.dialect.name == "sqlite":
        query = sql.replace("{values}", "IN (SELECT value FROM json_each(?))")
        cur = raw.cursor()
        try:
            cur.execute(query, (*params, json.dumps(vals)))
            return [tuple(r) for r in cur.fetchall()]
        finally:
            cur.close()
    out: list[tuple[Any, ...]] = []  # other dialects: chunks of plain parameters
    for k in range(0, len(vals), 500):
        chunk = vals[k : k + 500]
        query = sql.replace("{values}", f"IN ({', '.join('?' * len(chunk))})")
        out.extend(tuple(r) for r in conn.exec_driver_sql(query, (*params, *chunk)))
    return out


def lookup_accounts(conn: Connection, numbers: Iterable[str]) -> dict[str, tuple[int, str]]:
    """``{number: (account id, status)}`` for the given account numbers (one statement)."""
    wanted = sorted({n for n in numbers if n})
    return {
        number: (int(aid), status)
        for aid, number, status in select_in(
            conn, "SELECT id, number, status FROM accounts WHERE number {values}", wanted
        )
    }


def sqlite_ready(value: Any) -> Any:
    """A value as :func:`hub.store.db.bulk_insert` writes it to SQLite (dates as ISO text,
    decimals as text), for rows handed over with ``prepared=True``."""
    if value is None or isinstance(value, int | float | str | bytes):
        return value
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    return str(value)


def write_rows(conn: Connection, table: Any, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
    """Bulk-write rows inside the caller's transaction. PostgreSQL: ``COPY … FROM STDIN`` with
    psycopg's own row formatting (``Copy.write_row``, in C). Elsewhere
    :func:`hub.store.db.bulk_insert`; on SQLite the rows must already be :func:`sqlite_ready`
    (they are passed with ``prepared=True``)."""
    if conn.dialect.name != "postgresql":
        return bulk_insert(conn, table, columns, rows, prepared=conn.dialect.name == "sqlite")
    name = table.name if hasattr(table, "name") else str(table)
    raw: Any = conn.connection.dbapi_connection
    assert raw is not None
    cols = ", ".join(f'"{c}"' for c in columns)
    count = 0
    with raw.cursor() as cur, cur.copy(f'COPY "{name}" ({cols}) FROM STDIN') as copy:
        for row in rows:
            copy.write_row(row)
            count += 1
    return count


@dataclass
class CopyBatch:
    """An Arrow table already encoded in COPY's binary format (:func:`copy_batch`): the loader
    prepares it while the database takes the previous batch."""

    num_rows: int
    data: bytes


def _pg_arrow_type(column: Any) -> Any:
    """The Arrow type whose binary COPY form is the one PostgreSQL reads for ``column``'s type
    (binary COPY has no conversions: an ``integer`` column takes 4 bytes, a ``bigint`` 8)."""
    import pyarrow as pa
    import sqlalchemy as sa

    kind = column.type
    for sa_type, arrow_type in (
        (sa.BigInteger, pa.int64()),
        (sa.SmallInteger, pa.int16()),
        (sa.Integer, pa.int32()),
        (sa.Boolean, pa.bool_()),
        (sa.Date, pa.date32()),
        (sa.Time, pa.time64("us")),
        (sa.String, pa.string()),
    ):
        if isinstance(kind, sa_type):
            return arrow_type
    raise TypeError(f"{column.table.name}.{column.name}: no binary COPY form for {kind!r}")


def copy_batch(data: Any, table: Any, columns: Sequence[str]) -> CopyBatch:
    """``data`` (an Arrow table whose columns are ``columns`` of ``table``, in that order) in
    COPY's binary format, by pgpq: each column cast (safely: a value that does not fit raises)
    to the type the database column reads. Binary COPY spares the server parsing text — a third
    of its work for a million ``payments`` rows (docs/performance.md, "Ingest")."""
    import pyarrow as pa
    from pgpq import ArrowToPostgresBinaryEncoder

    fields = [pa.field(name, _pg_arrow_type(table.c[name])) for name in columns]
    columns_cast = [
        col if col.type == f.type else col.cast(f.type) for col, f in zip(data.columns, fields, strict=True)
    ]
    cast = pa.Table.from_arrays(columns_cast, schema=pa.schema(fields))
    encoder = ArrowToPostgresBinaryEncoder(cast.schema)
    parts = [encoder.write_header()]
    parts.extend(encoder.write_batch(batch) for batch in cast.to_batches())
    parts.append(encoder.finish())
    return CopyBatch(int(cast.num_rows), b"".join(parts))


def write_arrow(conn: Connection, table: Any, columns: Sequence[str], data: Any) -> int:
    """:func:`write_rows` for an Arrow table whose columns are ``columns`` in that order.
    PostgreSQL: the table in binary form (:func:`copy_batch`, or a :class:`CopyBatch` prepared
    already) into ``COPY … (FORMAT binary)``. SQLite: rows of Python values, dates and times as
    ISO text."""
    if not data.num_rows:
        return 0
    if conn.dialect.name != "postgresql":
        import pyarrow as pa
        import pyarrow.compute as pc

        cols = []
        for col in data.columns:
            if pa.types.is_date(col.type) or pa.types.is_time(col.type):
                col = pc.cast(col, pa.string())
            cols.append(col.to_pylist())
        return bulk_insert(conn, table, columns, list(zip(*cols, strict=True)), prepared=True)
    batch = data if isinstance(data, CopyBatch) else copy_batch(data, table, columns)
    raw: Any = conn.connection.dbapi_connection
    assert raw is not None
    names = ", ".join(f'"{c}"' for c in columns)
    with raw.cursor() as cur, cur.copy(f'COPY "{table.name}" ({names}) FROM STDIN (FORMAT binary)') as copy:
        copy.write(batch.data)
    return batch.num_rows


def prefetch(items: Iterable[Any], depth: int = 2) -> Iterator[Any]:
    """Iterate ``items`` in a background thread, up to ``depth`` items ahead: the parser reads and
    checks the next block while this thread waits for the database to take the previous one
    (COPY on PostgreSQL, SQLite's inserts — both release the GIL). Exceptions of the producer are
    raised here; leaving the loop early (an error while writing) stops the producer."""
    done = object()
    q: queue.Queue[Any] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        q.put((None, item), timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            q.put((None, done))
        except BaseException as exc:  # handed over to the consumer
            q.put((exc, None))

    worker = threading.Thread(target=produce, name="unipay-parse", daemon=True)
    worker.start()
    try:
        while True:
            exc, item = q.get()
            if exc is not None:
                raise exc
            if item is done:
                return
            yield item
    finally:
        stop.set()
        while worker.is_alive():  # unblock a producer waiting on a full queue
            with contextlib.suppress(queue.Empty):
                q.get_nowait()
            worker.join(0.05)


def db_text(value: str) -> str:
    """Text for a store column: NUL (which PostgreSQL refuses in text) becomes U+FFFD. A file with
    control characters is rejected (F002), but its problems — with the source line — are kept."""
    return value.replace("\x00", "\ufffd") if "\x00" in value else value


def _sev(problem: Problem) -> str:
    return "warning" if problem.code.kind is ErrorKind.WARNING else "error"


class FileContext:
    """One inbound file being loaded: its registry row, its problems and counters."""

    def __init__(self, conn: Connection, ids: IdAllocator, file_id: int, name: str) -> None:
        self.conn = conn
        self.ids = ids
        self.file_id = file_id
        self.name = name
        self.problems: list[Problem] = []
        self.problem_count = 0
        self.warning_count = 0
        self.error_count = 0
        self._pending: list[tuple[Any, ...]] = []
        self.lines_total = 0
        self.lines_rejected = 0
        self.amount_loaded = 0
        self.amount_unidentified = 0
        self.control_sum = 0
        self.details: dict[str, int] = {}

    # -- problems ----------------------------------------------------------------------------
    def line_error(
        self, code: ErrorCode, line_no: int, field: str, detail: str = "", source: str = ""
    ) -> LineError:
        return LineError(self.name, line_no, field, code, detail, source)

    def file_error(
        self, code: ErrorCode, detail: str = "", *, line_no: int = 0, field: str = ""
    ) -> FileError:
        return FileError(self.name, line_no, field, code, detail)

    def add(self, problems: Iterable[Problem]) -> None:
        for p in problems:
            self.problem_count += 1
            if p.code.kind is ErrorKind.WARNING:
                self.warning_count += 1
            else:
                self.error_count += 1
            if len(self.problems) < MAX_KEPT_PROBLEMS:
                self.problems.append(p)
            self._pending.append(
                (
                    self.file_id,
                    p.line_no,
                    db_text(p.field[:40]),
                    p.code.code,
                    db_text(p.message[:500]),
                    db_text(p.source) or None,
                    _sev(p),
                )
            )
        if len(self._pending) >= BATCH:
            self.flush()

    def flush(self) -> None:
        if not self._pending:
            return
        rows = self._pending
        self._pending = []
        ids = self.ids.take("registry_errors", len(rows))
        write_rows(
            self.conn,
            m.RegistryError.__table__,
            ("id", "file_id", "line_no", "field", "code", "message", "source_line", "severity"),
            ((i, *r) for i, r in zip(ids, rows, strict=True)),
        )

    def bump(self, key: str, n: int = 1) -> None:
        self.details[key] = self.details.get(key, 0) + n

    # -- results -----------------------------------------------------------------------------
    def json_errors(self) -> list[dict[str, Any]]:
        out = []
        for p in self.sorted_problems():
            if p.code.kind is ErrorKind.WARNING:
                continue
            out.append({"line": p.line_no, "field": p.field, "message": p.message})
            if len(out) >= MAX_JSON_ERRORS:
                break
        return out

    def sorted_problems(self) -> list[Problem]:
        files = [p for p in self.problems if p.code.kind is ErrorKind.FILE]
        lines = sorted(
            (p for p in self.problems if p.code.kind is not ErrorKind.FILE), key=lambda p: p.line_no
        )
        return [*files, *lines]


def write_protocol_file(
    directory: Path, name: str, problems: Sequence[Problem], *, accepted_lines: int, accepted_kop: int
) -> Path:
    """Write ``<name>.err.txt`` into ``directory`` (temp file + rename) and return its path."""
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / protocol_name(check_file_name(name))
    tmp = target.with_name(target.name + ".tmp")
    with open(tmp, "wb") as fh:
        write_protocol(fh, problems, accepted_lines=accepted_lines, accepted_kop=accepted_kop)
    os.replace(tmp, target)
    return target


def count_rows(conn: Connection, model: Any) -> int:
    return int(conn.execute(select(func.count()).select_from(model)).scalar_one())


def today() -> dt.date:
    return dt.date.today()
