"""Loading payment registries into the store: the bank registry (formats §2) and the post office
registry (formats §3).

Every line becomes a ``payments`` row unless its key (agent, operation id) is already in the store
(then it is reported as a duplicate line and nothing is written for it). A line that passes the
parser's and the store's checks is credited to its account (``status = 'new'``); a line rejected by
any check keeps its money as an unidentified payment (``unidentified = true``, ``account_id`` NULL,
``status = 'unidentified'``) because the agent has already paid it — unless its amount cannot be
read or is not positive (then there is no money to hold). Meter readings carried by accepted lines
(bank extras, post NUM_2) go to ``meter_readings``; a reading that cannot be matched to exactly
one meter is a warning and is dropped.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import Connection, select

from connectors.formats import bank, post
from connectors.formats.columnar import ArrowRows
from connectors.formats.common import FastRows, FileError, Problem
from connectors.formats.protocol import ErrorCode, ErrorKind
from hub.ingest.common import (
    BATCH,
    FileContext,
    copy_batch,
    lookup_accounts,
    prefetch,
    select_in,
    sqlite_ready,
    write_arrow,
)
from hub.ingest.common import write_rows as bulk_insert  # COPY on PostgreSQL; rows prepared on SQLite
from hub.store import models as m

__all__ = ["BankLoader", "PostLoader", "resolve_agent"]

PAYMENT_COLUMNS = (
    "id",
    "agent_id",
    "registry_file_id",
    "line_no",
    "operation_id",
    "op_date",
    "op_time",
    "branch",
    "account_id",
    "account_number",
    "payer_name",
    "payer_address",
    "period",
    "kind",
    "amount_kop",
    "transfer_kop",
    "commission_kop",
    "unidentified",
    "status",
)
READING_COLUMNS = ("id", "meter_id", "zone", "period", "reading_date", "value", "source", "registry_file_id")
LOADED_STATUSES = ("loaded", "loaded_with_errors")
FAST_BATCH = 20_000  # fast rows written at once (one savepoint each on PostgreSQL)
FIRST_FAST_BATCH = 4_000  # the first batch: the database starts working sooner


def resolve_agent(conn: Connection, sender: str, default_code: str) -> tuple[int, str]:
    """The payment agent of a file: the agent whose code is the sender (``SBER``, ``VTB``) or the
    part of the sender before ``:``; otherwise the default agent of the format (bank → SBER,
    post → POST)."""
    agents = {code: int(aid) for aid, code in conn.execute(select(m.PaymentAgent.id, m.PaymentAgent.code))}
    for candidate in (sender, sender.split(":", 1)[0]):
        if candidate.upper() in agents:
            return agents[candidate.upper()], candidate.upper()
    if default_code not in agents:
        raise LookupError(
            f"в справочнике нет платёжного агента {default_code} (выполните «unipay db upgrade»)"
        )
    return agents[default_code], default_code


class _PaymentLoader:
    """Common part of the two payment formats."""

    kind = ""
    source = ""  # meter_readings.source
    default_agent = ""

    def __init__(self, path: Path, name: str, sender: str, sha256: str, *, today: dt.date) -> None:
        self.path, self.name, self.sender, self.sha256, self.today = path, name, sender, sha256, today
        self.order_number: str | None = None
        self.order_date: dt.date | None = None
        self.file_date: dt.date | None = None
        self.message: str | None = None
        self.agent_id = 0
        self.agent_code = ""
        self._known_accounts: dict[str, tuple[int, str]] = {}
        self._asked_accounts: set[str] = set()  # looked up already (found or not)
        self._in_flight: tuple[Future[bool], tuple[Any, ...], dict[str, Any]] | None = None
        self._writer: ThreadPoolExecutor | None = None
        self._lookups: Connection | None = None  # a second connection for account look-ups
        self.order_hint: dt.date | None = None  # bank: the п/п date, known once the file is opened

    # -- to be provided -------------------------------------------------------------------------
    def _op_id(self, rec: Any) -> str | None:
        raise NotImplementedError

    def _row(self, rec: Any) -> tuple[Any, ...]:
        """(op_date, op_time, branch, payer, address, kind, transfer, commission) of a line."""
        raise NotImplementedError

    def _has_reading(self, rec: Any) -> bool:
        """The line carries a meter reading to match (then :meth:`_readings` is called)."""
        raise NotImplementedError

    def _readings(self, rec: Any, account_id: int, ctx: FileContext, meters: _Meters) -> list[Problem]:
        raise NotImplementedError

    # -- shared -------------------------------------------------------------------------------
    def _synthetic_id(self, line_no: int) -> str:
        return f"ERR:{self.sha256[:16]}:{line_no}"

    def _accounts_of(self, conn: Connection, numbers: Iterable[str]) -> dict[str, tuple[int, str]]:
        """Accounts of the batch's (stripped) numbers. Found accounts are kept for the whole file
        (the load does not change ``accounts``), and so are the numbers not found, so a batch only
        asks about numbers not seen yet."""
        known, asked = self._known_accounts, self._asked_accounts
        wanted = {n for n in numbers if n and n not in asked}
        if wanted:
            if self._lookups is not None:
                with self._lookups.begin():  # ends at once: no transaction left open between batches
                    known.update(lookup_accounts(self._lookups, wanted))
            else:
                known.update(lookup_accounts(conn, wanted))
            asked.update(wanted)
        return known

    def _loaded_ops(self, conn: Connection, keys: list[str]) -> set[str]:
        """Operation ids of the agent already in the store (one statement per batch)."""
        return {
            r[0]
            for r in select_in(
                conn,
                "SELECT operation_id FROM payments WHERE agent_id = ? AND operation_id {values}",
                keys,
                params=(self.agent_id,),
            )
        }

    def _flush(self, conn: Connection, ctx: FileContext, batch: list[Any]) -> None:
        if not batch:
            return
        self._settle(conn, ctx)
        accounts = self._accounts_of(conn, (r.account.strip() for r in batch))
        op_ids = [self._op_id(r) for r in batch]
        loaded = self._loaded_ops(conn, [k for k in op_ids if k])
        # meters only for the accounts of lines that carry a reading
        meters = _Meters(
            conn,
            [
                acc[0]
                for r in batch
                if self._has_reading(r) and (acc := accounts.get(r.account.strip())) is not None
            ],
        )
        iso = conn.dialect.name == "sqlite"  # rows for bulk_insert(prepared=True)
        agent_id, file_id = self.agent_id, ctx.file_id
        payments: list[tuple[Any, ...]] = []
        in_batch: set[str] = set()
        for rec, op_id in zip(batch, op_ids, strict=True):
            ctx.lines_total += 1
            problems: list[Problem] = [*rec.errors, *rec.warnings] if rec.errors or rec.warnings else []
            in_file_dup = bool(rec.errors) and any(e.code is ErrorCode.DUPLICATE_IN_FILE for e in rec.errors)
            if op_id and op_id in loaded:
                problems.append(
                    ctx.line_error(
                        ErrorCode.DUPLICATE_LOADED, rec.line_no, self._key_field, f"операция {op_id}", rec.raw
                    )
                )
                in_file_dup = True
            elif op_id and not in_file_dup and op_id in in_batch:  # the file is rejected (F011) anyway
                problems.append(
                    ctx.line_error(
                        ErrorCode.DUPLICATE_IN_FILE,
                        rec.line_no,
                        self._key_field,
                        f"операция {op_id}",
                        rec.raw,
                    )
                )
                in_file_dup = True
            elif op_id:
                in_batch.add(op_id)
            if in_file_dup:
                ctx.lines_rejected += 1
                ctx.bump("duplicate_lines")
                ctx.add(problems)
                continue
            number = rec.account.strip()
            acc = accounts.get(number) if number else None
            if acc is None:
                if number:
                    problems.append(
                        ctx.line_error(
                            ErrorCode.ACCOUNT_UNKNOWN,
                            rec.line_no,
                            self._account_field,
                            f"«{number}»",
                            rec.raw,
                        )
                    )
            elif acc[1] != "open":
                problems.append(
                    ctx.line_error(
                        ErrorCode.ACCOUNT_CLOSED, rec.line_no, self._account_field, f"«{number}»", rec.raw
                    )
                )
            rejected = bool(problems) and any(p.code.kind is not ErrorKind.WARNING for p in problems)
            amount = rec.amount
            if not rejected and acc is not None and self._has_reading(rec):
                problems.extend(self._readings(rec, acc[0], ctx, meters))
            if problems:
                ctx.add(problems)
            if rejected:
                ctx.lines_rejected += 1
            if amount is None or amount <= 0:
                continue  # nothing to hold
            op_date, op_time, branch, payer, address, kind, transfer, commission = self._row(rec)
            if not op_id or len(op_id) > 40:
                op_id = self._synthetic_id(rec.line_no)
            if rejected:
                ctx.amount_unidentified += amount
                account_id, unidentified, status = None, True, "unidentified"
            else:
                ctx.amount_loaded += amount
                account_id, unidentified, status = acc[0] if acc else None, False, "new"  # type: ignore[index]
            period = rec.period
            if iso:
                op_date = op_date.isoformat()
                if op_time is not None:
                    op_time = op_time.isoformat()
            payments.append(
                (
                    agent_id,
                    file_id,
                    rec.line_no,
                    op_id,
                    op_date,
                    op_time,
                    branch[:20] if branch else None,
                    account_id,
                    number[:20],
                    payer[:150] if payer else None,
                    address[:200] if address else None,
                    None if period is None else period.year * 100 + period.month,
                    kind,
                    amount,
                    transfer,
                    commission,
                    unidentified,
                    status,
                )
            )
        ids = ctx.ids.take("payments", len(payments))
        bulk_insert(
            conn, m.Payment.__table__, PAYMENT_COLUMNS, [(i, *p) for i, p in zip(ids, payments, strict=True)]
        )
        meters.write(ctx, self.source)

    def _run_chunks(self, conn: Connection, ctx: FileContext, parsed: Any) -> None:
        """Load a parsed file block by block: lines with problems or readings as records, in batches
        of :data:`BATCH`; fast rows gathered into batches of :data:`FAST_BATCH`, written column-wise."""
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="unipay-copy")
        if conn.engine.url.database not in (None, "", ":memory:"):
            # accounts are looked up on a connection of their own while the load's connection is
            # busy with the batch in flight (the load does not change accounts; a deleted one is
            # still caught by the store's reference checks at COPY)
            self._lookups = conn.engine.connect()
        try:
            self._load_chunks(conn, ctx, parsed)
            self._settle(conn, ctx)
        finally:
            if self._lookups is not None:
                self._lookups.close()
                self._lookups = None
            if self._in_flight is not None:  # an error: let the batch in flight end before rollback
                with contextlib.suppress(Exception):
                    self._in_flight[0].result()
                self._in_flight = None
            self._writer.shutdown()

    def _load_chunks(self, conn: Connection, ctx: FileContext, parsed: Any) -> None:
        pending: FastRows | None = None
        slow: list[Any] = []
        batch = FIRST_FAST_BATCH
        for chunk in prefetch(parsed.chunks(), depth=32):
            if self.order_hint is None:
                self.order_hint = getattr(parsed, "order_date_hint", None)
            slow.extend(chunk.slow)
            if len(slow) >= BATCH:
                self._flush(conn, ctx, slow)
                slow = []
            fast = chunk.fast
            if fast is not None and len(fast):
                if pending is not None and type(pending) is not type(fast):
                    self._flush_fast(conn, ctx, pending)  # Arrow rows and Python rows apart
                    pending = None
                if pending is None:
                    pending = fast
                else:
                    pending.append(fast)
                if len(pending) >= batch:
                    self._flush_fast(conn, ctx, pending)
                    pending = None
                    batch = FAST_BATCH
        if slow:
            self._flush(conn, ctx, slow)
        if pending is not None:
            self._flush_fast(conn, ctx, pending)

    def _fast_columns(self, cols: dict[str, list[Any]]) -> tuple[list[Any], ...]:
        """(op ids, op dates, op times, branches, payers, addresses, kinds, transfers, commissions)
        of fast rows, column-wise."""
        raise NotImplementedError

    def _flush_fast(self, conn: Connection, ctx: FileContext, rows: FastRows) -> None:
        """Fast rows (no parser problems, no meter readings): the store checks and the
        ``payments`` rows of a batch, column by column where possible.

        Operation ids already in the store: on SQLite one look-up per batch (an in-process index
        probe). On PostgreSQL the batch is written first, inside a savepoint, as if none were
        loaded: the unique key (agent, operation id) is the check, and only when it fires (a
        re-delivered operation, rare) is the batch rolled back to the savepoint, looked up and
        written again without the duplicates — probing the index for every line of a growing
        table inside the load's transaction cost more than the load itself (97 s of 166 s for a
        million lines). One savepoint per 20,000 lines keeps a million-line file under
        PostgreSQL's 64 cached subtransactions."""
        if isinstance(rows, ArrowRows):
            self._flush_arrow(conn, ctx, rows)
            return
        self._settle(conn, ctx)
        cols = rows.cols
        numbers = [a.strip() for a in cols["account"]]
        accounts = self._accounts_of(conn, set(numbers))
        columns = self._fast_columns(cols)
        if conn.dialect.name != "postgresql":
            built = self._fast_build(
                ctx, cols, numbers, accounts, columns, self._loaded_ops(conn, columns[0])
            )
            self._fast_write(conn, ctx, built)
            return
        import psycopg.errors

        savepoint = conn.begin_nested()
        try:
            built = self._fast_build(ctx, cols, numbers, accounts, columns, set())
            self._fast_write(conn, ctx, built, apply=False)
        except psycopg.errors.UniqueViolation as exc:
            if exc.diag.constraint_name != "uq_payments_agent_id_operation_id":
                raise
            savepoint.rollback()
            built = self._fast_build(
                ctx, cols, numbers, accounts, columns, self._loaded_ops(conn, columns[0])
            )
            self._fast_write(conn, ctx, built)
            return
        savepoint.commit()
        self._fast_apply(ctx, built)

    def _arrow_columns(self, table: Any) -> dict[str, Any]:
        """The ``payments`` values of Arrow fast rows, as Arrow arrays: ``account`` (the number as
        the store knows it), ``op_id``, ``op_date``, ``op_time``, ``branch``, ``payer``,
        ``address``, ``kind``, ``amount``, ``transfer``, ``commission``, ``period``, ``line_no``."""
        raise NotImplementedError

    def _flush_arrow(self, conn: Connection, ctx: FileContext, rows: ArrowRows) -> None:
        """:meth:`_flush_fast` for rows kept as an Arrow table: the store checks column-wise and
        the batch written as it is (CSV into COPY on PostgreSQL); Python runs only for the
        distinct account numbers and for the lines with a problem."""
        import pyarrow as pa
        import pyarrow.compute as pc

        table = rows.table
        cols = self._arrow_columns(table)
        uniq = pc.unique(cols["account"])
        keys = uniq.to_pylist()
        asked = self._asked_accounts
        if self._lookups is None and any(k not in asked for k in keys):
            self._settle(conn, ctx)  # the connection is needed: the batch in flight ends first
        accounts = self._accounts_of(conn, keys)
        found = [accounts.get(k) for k in keys]
        where = pc.index_in(cols["account"], value_set=uniq)
        open_ids = pa.array([f[0] if f is not None and f[1] == "open" else None for f in found], pa.int64())
        account_ids = pc.take(open_ids, where)
        args = (ctx, rows, table, cols, account_ids, found, where)
        assert self._writer is not None
        if conn.dialect.name != "postgresql":  # SQLite: look up first, then write in the background
            self._settle(conn, ctx)
            built = self._arrow_build(*args, self._loaded_ops(conn, cols["op_id"].to_pylist()))
            if conn.engine.url.database in (None, "", ":memory:"):  # one connection per thread there
                self._write_arrow(conn, ctx, built["table"])
                self._fast_apply(ctx, built)
                return
            self._in_flight = (self._writer.submit(self._write_plain, conn, ctx, built["table"]), args, built)
            return
        built = self._arrow_build(*args, set())
        payload = copy_batch(built["table"], m.Payment.__table__, PAYMENT_COLUMNS[1:])  # while the
        # database takes the batch in flight
        self._settle(conn, ctx)
        self._in_flight = (self._writer.submit(self._write_checked, conn, ctx, payload), args, built)

    def _write_plain(self, conn: Connection, ctx: FileContext, table: Any) -> bool:
        """Write an Arrow batch whose operations were looked up first (SQLite, writer thread)."""
        self._write_arrow(conn, ctx, table)
        return True

    def _write_checked(self, conn: Connection, ctx: FileContext, table: Any) -> bool:
        """Write an Arrow batch inside a savepoint (PostgreSQL, in the writer thread); False — and
        nothing written — when an operation of the batch is already in the store."""
        import psycopg.errors

        savepoint = conn.begin_nested()
        try:
            self._write_arrow(conn, ctx, table)
        except psycopg.errors.UniqueViolation as exc:
            if exc.diag.constraint_name != "uq_payments_agent_id_operation_id":
                raise
            savepoint.rollback()
            return False
        savepoint.commit()
        return True

    def _settle(self, conn: Connection, ctx: FileContext) -> None:
        """Wait for the Arrow batch in flight and count it. The batch is written in a writer thread
        (PostgreSQL: COPY; SQLite: ``executemany`` — both leave the GIL while the database works)
        while this thread prepares the next one; the connection is used by one thread at a time:
        every other use of it calls this first. A PostgreSQL batch refused by the unique key is
        looked up and written again without the operations already loaded."""
        if self._in_flight is None:
            return
        future, args, built = self._in_flight
        self._in_flight = None
        if not future.result():
            cols = args[3]
            loaded = self._loaded_ops(conn, cols["op_id"].to_pylist())
            built = self._arrow_build(*args, loaded)  # type: ignore[call-arg]
            self._write_arrow(conn, ctx, built["table"])
        self._fast_apply(ctx, built)

    @staticmethod
    def _write_arrow(conn: Connection, ctx: FileContext, table: Any) -> None:
        """Write a batch built by :meth:`_arrow_build`. On PostgreSQL the ids come from the
        column's default (the same sequence :class:`~hub.ingest.common.FileContext` takes from):
        one ``nextval`` per row inside COPY instead of fetching 20,000 values first (~0.2 s a batch)."""
        import pyarrow as pa

        if conn.dialect.name == "postgresql":
            write_arrow(conn, m.Payment.__table__, PAYMENT_COLUMNS[1:], table)
            return
        ids = ctx.ids.take("payments", table.num_rows)
        with_ids = table.add_column(0, "id", pa.array(ids, pa.int64()))
        write_arrow(conn, m.Payment.__table__, PAYMENT_COLUMNS, with_ids)

    def _arrow_build(
        self,
        ctx: FileContext,
        rows: ArrowRows,
        table: Any,
        cols: dict[str, Any],
        account_ids: Any,
        found: list[tuple[int, str] | None],
        where: Any,
        loaded: set[str],
    ) -> dict[str, Any]:
        """:meth:`_fast_build` in Arrow: the ``payments`` table (without ids) of the batch and its
        problems and totals; nothing is written or counted yet."""
        import numpy as np
        import pyarrow as pa
        import pyarrow.compute as pc

        n = table.num_rows
        op_ids = cols["op_id"]
        line_nos = cols["line_no"]
        amounts = cols["amount"]
        problems: list[Problem] = []
        dups: list[int] = []
        repeats: list[int] = []
        if loaded or pc.count_distinct(op_ids).as_py() < n:
            seen: set[str] = set()
            for i, op in enumerate(op_ids.to_pylist()):
                if op in loaded:
                    dups.append(i)
                elif op in seen:
                    repeats.append(i)
                seen.add(op)
        skip = sorted({*dups, *repeats})
        for code, where_rows in ((ErrorCode.DUPLICATE_LOADED, dups), (ErrorCode.DUPLICATE_IN_FILE, repeats)):
            if where_rows:
                raws = rows.raw_lines(table, where_rows)
                for i, raw in zip(where_rows, raws, strict=True):
                    problems.append(
                        ctx.line_error(
                            code, line_nos[i].as_py(), self._key_field, f"операция {op_ids[i].as_py()}", raw
                        )
                    )
        skipped = np.zeros(n, dtype=bool)
        skipped[skip] = True
        no_account = account_ids.is_null().to_numpy(zero_copy_only=False)
        bad = np.flatnonzero(no_account & ~skipped).tolist()
        if bad:
            raws = rows.raw_lines(table, bad)
            wheres = pc.take(where, pa.array(bad)).to_pylist()
            numbers = pc.take(cols["account"], pa.array(bad)).to_pylist()
            lines = pc.take(line_nos, pa.array(bad)).to_pylist()
            for k, raw in enumerate(raws):
                code = ErrorCode.ACCOUNT_UNKNOWN if found[wheres[k]] is None else ErrorCode.ACCOUNT_CLOSED
                problems.append(ctx.line_error(code, lines[k], self._account_field, f"«{numbers[k]}»", raw))
        kop = amounts.to_numpy(zero_copy_only=False)
        unidentified_kop = int(kop[no_account & ~skipped].sum())
        dup_kop = int(kop[skipped].sum())
        if pc.max(pc.utf8_length(op_ids)).as_py() > 40:
            op_ids = pa.array(
                [
                    op if len(op) <= 40 else self._synthetic_id(ln)
                    for op, ln in zip(op_ids.to_pylist(), line_nos.to_pylist(), strict=True)
                ],
                pa.string(),
            )
        unidentified = account_ids.is_null()
        out = pa.table(
            {
                "agent_id": pa.array(np.full(n, self.agent_id, dtype=np.int64)),
                "registry_file_id": pa.array(np.full(n, ctx.file_id, dtype=np.int64)),
                "line_no": line_nos,
                "operation_id": op_ids,
                "op_date": cols["op_date"],
                "op_time": cols["op_time"],
                "branch": cols["branch"],
                "account_id": account_ids,
                "account_number": cols["account"],
                "payer_name": cols["payer"],
                "payer_address": cols["address"],
                "period": cols["period"],
                "kind": cols["kind"],
                "amount_kop": amounts,
                "transfer_kop": cols["transfer"],
                "commission_kop": cols["commission"],
                "unidentified": unidentified,
                "status": pc.if_else(unidentified, "unidentified", "new"),
            }
        )
        if skip:
            out = out.filter(pa.array(~skipped))
        return {
            "n": n,
            "table": out,
            "problems": problems,
            "rejected": len(bad) + len(skip),
            "duplicates": len(skip),
            "loaded_kop": int(kop.sum()) - unidentified_kop - dup_kop,
            "unidentified_kop": unidentified_kop,
        }

    def _fast_build(
        self,
        ctx: FileContext,
        cols: dict[str, list[Any]],
        numbers: list[str],
        accounts: dict[str, tuple[int, str]],
        columns: tuple[list[Any], ...],
        loaded: set[str],
    ) -> dict[str, Any]:
        """The ``payments`` columns and the problems and totals of a batch of fast rows (nothing is
        written or counted yet). Column-wise: a line's own loop runs only for its problems."""
        op_ids, op_dates, op_times, branches, payers, addresses, kinds, transfers, commissions = columns
        n = len(numbers)
        if ctx.conn.dialect.name == "sqlite":
            days = {d: d.isoformat() for d in set(op_dates)}
            op_dates = [days[d] for d in op_dates]
            times = {t: t.isoformat() for t in set(op_times) if t is not None}
            op_times = [times.get(t) for t in op_times]  # type: ignore[arg-type]
        line_nos, raws, amounts, periods = cols["line_no"], cols["raw"], cols["amount"], cols["period"]
        period_ints = {p: p.year * 100 + p.month for p in set(periods)}
        found = [accounts.get(x) for x in numbers]
        account_ids = [a[0] if a is not None and a[1] == "open" else None for a in found]
        problems: list[Problem] = []
        total = sum(amounts)
        unidentified_kop = rejected = 0
        dups = [i for i, op in enumerate(op_ids) if op in loaded] if loaded else []
        if len(set(op_ids)) + len(dups) < n:  # repeated in the batch (the file is rejected: F011)
            seen: set[str] = set()
            repeats = []
            for i, op in enumerate(op_ids):
                if op in loaded:
                    continue
                if op in seen:
                    repeats.append(i)
                seen.add(op)
        else:
            repeats = []
        skip = set(dups) | set(repeats)
        for i in dups:
            problems.append(
                ctx.line_error(
                    ErrorCode.DUPLICATE_LOADED, line_nos[i], self._key_field, f"операция {op_ids[i]}", raws[i]
                )
            )
        for i in repeats:
            problems.append(
                ctx.line_error(
                    ErrorCode.DUPLICATE_IN_FILE,
                    line_nos[i],
                    self._key_field,
                    f"операция {op_ids[i]}",
                    raws[i],
                )
            )
        dups = sorted(skip)
        if None in account_ids:
            for i, acc_id in enumerate(account_ids):
                if acc_id is None and i not in skip:
                    code = ErrorCode.ACCOUNT_UNKNOWN if found[i] is None else ErrorCode.ACCOUNT_CLOSED
                    problems.append(
                        ctx.line_error(code, line_nos[i], self._account_field, f"«{numbers[i]}»", raws[i])
                    )
                    rejected += 1
                    unidentified_kop += amounts[i]
        dup_kop = sum(amounts[i] for i in dups)
        if any(len(op) > 40 for op in op_ids):
            op_ids = [
                op if len(op) <= 40 else self._synthetic_id(ln)
                for op, ln in zip(op_ids, line_nos, strict=True)
            ]
        unidentified = [a is None for a in account_ids]
        columns_out = [
            [self.agent_id] * n,
            [ctx.file_id] * n,
            line_nos,
            op_ids,
            op_dates,
            op_times,
            branches,
            account_ids,
            [x[:20] for x in numbers],
            payers,
            addresses,
            [period_ints[p] for p in periods],
            kinds,
            amounts,
            transfers,
            commissions,
            unidentified,
            ["unidentified" if u else "new" for u in unidentified],
        ]
        if dups:
            columns_out = [[v for i, v in enumerate(col) if i not in skip] for col in columns_out]
        return {
            "n": n,
            "columns": columns_out,
            "problems": problems,
            "rejected": rejected + len(dups),
            "duplicates": len(dups),
            "loaded_kop": total - unidentified_kop - dup_kop,
            "unidentified_kop": unidentified_kop,
        }

    def _fast_write(
        self, conn: Connection, ctx: FileContext, built: dict[str, Any], *, apply: bool = True
    ) -> None:
        columns = built["columns"]
        ids = ctx.ids.take("payments", len(columns[0]))
        bulk_insert(conn, m.Payment.__table__, PAYMENT_COLUMNS, list(zip(ids, *columns, strict=True)))
        if apply:
            self._fast_apply(ctx, built)

    @staticmethod
    def _fast_apply(ctx: FileContext, built: dict[str, Any]) -> None:
        ctx.lines_total += built["n"]
        ctx.lines_rejected += built["rejected"]
        ctx.amount_loaded += built["loaded_kop"]
        ctx.amount_unidentified += built["unidentified_kop"]
        if built["duplicates"]:
            ctx.bump("duplicate_lines", built["duplicates"])
        if built["problems"]:
            ctx.add(built["problems"])

    _key_field = ""
    _account_field = ""


class _Meters:
    """Meters of the accounts of one batch, and the readings collected for them."""

    def __init__(self, conn: Connection, account_ids: Sequence[int]) -> None:
        self.conn = conn
        self.by_account: dict[int, list[tuple[int, str, int, bool]]] = {}
        ids = sorted(set(account_ids))
        if ids:
            for mid, acc, serial, svc, metered in select_in(
                conn,
                "SELECT meters.id, meters.account_id, meters.serial, meters.service_id, services.metered "
                "FROM meters JOIN services ON services.id = meters.service_id "
                "WHERE meters.status != 'removed' AND meters.account_id {values} ORDER BY meters.id",
                ids,
                array_type="bigint",
            ):
                self.by_account.setdefault(int(acc), []).append((int(mid), serial, int(svc), bool(metered)))
        self.readings: dict[tuple[int, int, dt.date], Decimal] = {}

    def add(self, meter_id: int, day: dt.date, value: Decimal) -> None:
        self.readings.setdefault((meter_id, 1, day), value)

    def write(self, ctx: FileContext, source: str) -> None:
        if not self.readings:
            return
        keys = list(self.readings)
        existing: set[tuple[int, int, dt.date]] = set()
        meter_ids = sorted({k[0] for k in keys})
        sqlite = self.conn.dialect.name == "sqlite"
        for mid, zone, day in select_in(
            self.conn,
            "SELECT meter_id, zone, reading_date FROM meter_readings WHERE source = ? AND meter_id {values}",
            meter_ids,
            params=(source,),
            array_type="bigint",
        ):
            # SQLite keeps dates as ISO text (read through the driver, not SQLAlchemy)
            existing.add((int(mid), int(zone), dt.date.fromisoformat(day) if sqlite else day))
        new = [k for k in keys if k not in existing]
        ctx.bump("readings", len(new))
        if len(new) < len(keys):
            ctx.bump("readings_already_loaded", len(keys) - len(new))
        ids = ctx.ids.take("meter_readings", len(new))
        ready = sqlite_ready if self.conn.dialect.name == "sqlite" else _same
        bulk_insert(
            self.conn,
            m.MeterReading.__table__,
            READING_COLUMNS,
            [
                (
                    i,
                    mid,
                    zone,
                    day.year * 100 + day.month,
                    ready(day),
                    ready(self.readings[(mid, zone, day)]),
                    source,
                    ctx.file_id,
                )
                for i, (mid, zone, day) in zip(ids, new, strict=True)
            ],
        )


def _same(value: Any) -> Any:
    return value


def _service_ids(conn: Connection) -> dict[str, int]:
    """Service names seen in bank readings (ЕПД short names, aliases and our codes) → service id."""
    out: dict[str, int] = {}
    for sid, code, short in conn.execute(select(m.Service.id, m.Service.code, m.Service.short_name)):
        out[code.upper()] = int(sid)
        out[short.upper()] = int(sid)
    for alias, sid in conn.execute(select(m.ServiceAlias.alias, m.ServiceAlias.service_id)):
        out[alias.upper()] = int(sid)
    return out


class BankLoader(_PaymentLoader):
    """Bank payment registry (formats §2)."""

    kind = "bank"
    source = "bank"
    default_agent = "SBER"
    _key_field = bank.F_OPID
    _account_field = bank.F_ACCOUNT

    def run(self, conn: Connection, ctx: FileContext) -> list[FileError]:
        self.agent_id, self.agent_code = resolve_agent(conn, self.sender, self.default_agent)
        self.services = _service_ids(conn)
        parsed = bank.parse(self.path, self.name, today=self.today)
        self.order_hint = None
        self._run_chunks(conn, ctx, parsed)
        errors = list(parsed.file_errors)
        c = parsed.control
        ctx.control_sum = c.amount if c is not None else parsed.sums["amount"]
        if c is not None:
            self.order_number, self.order_date, self.file_date = c.order_no[:20], c.order_date, c.order_date
            seen = conn.execute(
                select(m.RegistryFile.name).where(
                    m.RegistryFile.sender == self.sender,
                    m.RegistryFile.order_number == self.order_number,
                    m.RegistryFile.order_date == c.order_date,
                    m.RegistryFile.status.in_(LOADED_STATUSES),
                    m.RegistryFile.id != ctx.file_id,
                )
            ).first()
            if seen is not None:
                errors.append(
                    ctx.file_error(
                        ErrorCode.ORDER_ALREADY_LOADED,
                        f"п/п № {c.order_no} от {c.order_date:%d.%m.%Y} отправителя {self.sender} "
                        f"уже загружено в файле «{seen[0]}»",
                        line_no=c.line_no,
                    )
                )
        return errors

    def _op_id(self, rec: bank.BankPayment) -> str | None:
        return rec.op_id.strip() or None

    def _fast_columns(self, cols: dict[str, list[Any]]) -> tuple[list[Any], ...]:
        n = len(cols["line_no"])
        return (
            [o.strip() for o in cols["op_id"]],
            cols["op_date"],
            cols["op_time"],
            [b[:20] if b else None for b in cols["branch"]],
            [p[:150] if p else None for p in cols["payer"]],
            [None if not a or a.strip().upper() == "НД" else a[:200] for a in cols["address"]],
            ["payment"] * n,
            cols["transfer"],
            cols["commission"],
        )

    def _arrow_columns(self, table: Any) -> dict[str, Any]:
        import pyarrow as pa
        import pyarrow.compute as pc

        from connectors.formats.columnar import empty_to_null

        col = {name: table.column(name) for name in table.column_names}
        address = col["address"]
        no_address = pc.or_(pc.equal(address, ""), pc.equal(pc.utf8_upper(pc.utf8_trim(address, " ")), "НД"))
        return {
            "account": pc.utf8_trim(col["account"], " "),
            "op_id": pc.utf8_trim(col["op_id"], " "),
            "op_date": col["op_date"],
            "op_time": col["op_time"],
            "branch": empty_to_null(col["branch"]),
            "payer": empty_to_null(col["payer"]),
            "address": pc.if_else(no_address, pa.scalar(None, pa.string()), address),
            "kind": pa.array(["payment"] * table.num_rows, pa.string()),
            "amount": col["amount"],
            "transfer": col["transfer"],
            "commission": col["commission"],
            "period": col["period"],
            "line_no": col["line_no"],
        }

    def _row(self, rec: bank.BankPayment) -> tuple[Any, ...]:
        amount = rec.amount or 0
        commission = rec.commission if rec.commission is not None else 0
        transfer = rec.transfer if rec.transfer is not None else amount - commission
        return (
            rec.op_date or self.order_hint or self.today,
            rec.op_time,
            rec.branch,
            rec.payer,
            "" if rec.address.strip().upper() == "НД" else rec.address,
            "payment",
            transfer,
            commission,
        )

    def _has_reading(self, rec: bank.BankPayment) -> bool:
        return bool(rec.readings) and rec.op_date is not None

    def _readings(
        self, rec: bank.BankPayment, account_id: int, ctx: FileContext, meters: _Meters
    ) -> list[Problem]:
        out: list[Problem] = []
        if not rec.readings or rec.op_date is None:
            return out
        mine = meters.by_account.get(account_id, [])
        for r in rec.readings:
            field = f"{bank.F_EXTRA} {r.position}"
            svc = None
            if r.service:
                svc = self.services.get(r.service.upper())
                if svc is None:
                    out.append(
                        ctx.line_error(
                            ErrorCode.METER_UNKNOWN,
                            rec.line_no,
                            field,
                            f"услуга «{r.service}» неизвестна",
                            rec.raw,
                        )
                    )
                    continue
            found = [mid for mid, serial, s, _met in mine if serial == r.meter and (svc is None or s == svc)]
            if len(found) == 1:
                meters.add(found[0], rec.op_date, r.value)
            elif not found:
                out.append(
                    ctx.line_error(
                        ErrorCode.METER_UNKNOWN,
                        rec.line_no,
                        field,
                        f"ПУ № {r.meter} не найден у лицевого счёта {rec.account.strip()}",
                        rec.raw,
                    )
                )
            else:
                out.append(
                    ctx.line_error(
                        ErrorCode.METER_AMBIGUOUS,
                        rec.line_no,
                        field,
                        f"ПУ № {r.meter}: {len(found)} приборов",
                        rec.raw,
                    )
                )
        return out


class PostLoader(_PaymentLoader):
    """Post office registry (formats §3). TYPEP 02 (пени) lines become payments of kind 'penalty'."""

    kind = "post"
    source = "post"
    default_agent = "POST"
    _key_field = "NUM_1"
    _account_field = "LC"

    def __init__(self, *args: Any, center_inn: str | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.center_inn = center_inn

    def run(self, conn: Connection, ctx: FileContext) -> list[FileError]:
        self.agent_id, self.agent_code = resolve_agent(conn, self.sender, self.default_agent)
        parsed = post.parse(self.path, self.name, center_inn=self.center_inn)
        self.order_hint = None
        self._run_chunks(conn, ctx, parsed)
        ctx.control_sum = parsed.total_kop
        if parsed.header is not None:
            self.file_date = parsed.header.file_date
        return list(parsed.file_errors)

    def _op_id(self, rec: post.PostPayment) -> str | None:
        return rec.operation_id

    def _fast_columns(self, cols: dict[str, list[Any]]) -> tuple[list[Any], ...]:
        n = len(cols["line_no"])
        days = {d: f"{d.day:02d}{d.month:02d}{d.year:04d}" for d in set(cols["getd"])}
        batches = cols["batch"]
        ops = [b.ops for b in batches]
        return (
            [f"{o}-{days[d]}-{k:010d}" for o, d, k in zip(ops, cols["getd"], cols["num1"], strict=True)],
            cols["getd"],
            [None] * n,
            ops,
            [f[:150] if f else None for f in cols["fio"]],
            [
                ", ".join(x for x in parts if x.strip())[:200] or None
                for parts in zip(cols["street"], cols["house"], cols["flat"], strict=True)
            ],
            ["penalty" if t == "02" else "payment" for t in cols["typep"]],
            cols["amount"],
            [0] * n,
        )

    def _arrow_columns(self, table: Any) -> dict[str, Any]:
        import pyarrow as pa
        import pyarrow.compute as pc

        from connectors.formats.columnar import empty_to_null

        col = {name: table.column(name) for name in table.column_names}
        amount = col["amount"]
        return {
            "account": col["account"],
            "op_id": pc.binary_join_element_wise(col["b_ops"], col["getd_s"], col["num1_s"], "-"),
            "op_date": col["getd"],
            "op_time": pa.nulls(table.num_rows, pa.time32("s")),
            "branch": col["b_ops"],
            "payer": empty_to_null(col["fio"]),
            "address": empty_to_null(
                pc.binary_join_element_wise(
                    *(empty_to_null(col[part]) for part in ("street", "house", "flat")),
                    ", ",
                    null_handling="skip",
                )
            ),
            "kind": pc.if_else(pc.equal(col["typep"], "02"), "penalty", "payment"),
            "amount": amount,
            "transfer": amount,
            "commission": pa.array(np.zeros(table.num_rows, dtype=np.int64)),
            "period": col["period"],
            "line_no": col["line_no"],
        }

    def _row(self, rec: post.PostPayment) -> tuple[Any, ...]:
        address = ", ".join(x for x in (rec.street, rec.house, rec.flat) if x.strip())
        return (
            rec.getd or (rec.batch.oper_date if rec.batch.oper_date != dt.date.min else self.today),
            None,
            rec.batch.ops,
            rec.fio,
            address,
            "penalty" if rec.typep == "02" else "payment",
            rec.amount,
            0,
        )

    def _has_reading(self, rec: post.PostPayment) -> bool:
        return rec.num2 is not None and rec.getd is not None

    def _readings(
        self, rec: post.PostPayment, account_id: int, ctx: FileContext, meters: _Meters
    ) -> list[Problem]:
        if rec.num2 is None or rec.getd is None:
            return []
        metered = [mid for mid, _serial, _s, met in meters.by_account.get(account_id, []) if met]
        if len(metered) == 1:
            meters.add(metered[0], rec.getd, Decimal(rec.num2))
            return []
        return [
            ctx.line_error(
                ErrorCode.METER_AMBIGUOUS,
                rec.line_no,
                "NUM_2",
                f"у лицевого счёта {rec.account} приборов учёта: {len(metered)}",
                rec.raw,
            )
        ]
