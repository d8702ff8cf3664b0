"""Bank payment registry (Sberbank style), formats spec section 2 (a).

cp1251, ``;`` separated, no quoting, no header. Payment lines have 12+K fields: 8 fixed at the
start, 4 fixed at the end and K ≥ 0 extra fields (meter readings) between them, so fields are
anchored from both ends. The file ends with exactly one control line
``=<count>;<Σ amount>;<Σ transfer>;<Σ commission>;<order no>;<order date>;`` or with ``=`` alone
and the totals on the next line. Decimal separator ``,``; ``.`` is accepted on input.

API::

    result = parse(path_or_bytes_or_stream, file_name=None, today=None)
    for payment in result:            # BankPayment, streamed
        ...
    result.file_errors, result.line_errors, result.control, result.sender

    write(dst, payments, order_no=..., order_date=...) -> WriteSummary

Checks needing the store (ЛС unknown/closed, СУИП already loaded, order already loaded, meter
unknown) are left to the loader: see :class:`BankPayment` ``key`` and :class:`BankControl`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import IO, Any

import numpy as np

from .columnar import ArrowRows, blank, by_distinct, is_plain, money_kop, read_fields
from .common import (
    Chunk,
    DuplicateTracker,
    FastRows,
    FieldValueError,
    LineError,
    ParsedFile,
    Period,
    RecordMeta,
    Source,
    SourceKind,
    WriteSummary,
    clean_text,
    find_control_chars,
    format_date,
    format_decimal,
    format_money,
    format_time,
    has_control_chars,
    iter_line_blocks,
    money_column,
    open_dest,
    open_source,
    or_none,
    parse_date,
    parse_money,
    parse_time,
    source_name,
)
from .protocol import ErrorCode

__all__ = ["MeterReading", "BankPayment", "BankControl", "BankFile", "parse", "write", "ENCODING"]

ENCODING = "cp1251"
FIXED_HEAD = 8
FIXED_TAIL = 4
MIN_FIELDS = FIXED_HEAD + FIXED_TAIL
PERIOD_BACK_MONTHS = 36
PERIOD_AHEAD_MONTHS = 3
TAIL_BYTES = 64 * 1024

# field names as in the spec (used in messages)
F_DATE, F_TIME, F_BRANCH, F_CASHIER = (
    "Дата операции",
    "Время операции",
    "Номер отделения/ВСП",
    "Номер кассира",
)
F_OPID, F_ACCOUNT, F_PAYER, F_ADDRESS = "СУИП", "Лицевой счёт", "ФИО плательщика", "Адрес"
F_EXTRA, F_PERIOD = "Доп. реквизит", "Период оплаты"
F_AMOUNT, F_TRANSFER, F_COMMISSION = "Сумма операции", "Сумма перевода", "Комиссия банка"
WIDTHS = {F_BRANCH: 20, F_CASHIER: 20, F_OPID: 32, F_ACCOUNT: 20, F_PAYER: 100, F_ADDRESS: 200}
EXTRA_WIDTH = 40

_READING_RE = re.compile(
    r"(?:(?P<svc>[A-Za-zА-Яа-яЁё]{1,10})-)?(?P<meter>[^:;\s-](?:[^:;]{0,28}[^:;\s-])?):(?P<val>\d{1,12}(?:[.,]\d{1,6})?)",
    re.ASCII,
)


@dataclass(frozen=True)
class MeterReading:
    """A meter reading carried in an extra field: ``[<service>-]<meter no>:<value>``."""

    service: str | None  # short service name as printed on the ЕПД (e.g. ``ХВС``), or None
    meter: str  # meter serial number
    value: Decimal
    position: int = 0  # 1-based index among the extra fields


@dataclass(frozen=True)
class BankPayment(RecordMeta):
    """One payment line. Fields that failed to parse are ``None`` (and ``errors`` is set)."""

    op_date: dt.date | None
    op_time: dt.time | None
    branch: str  # "8606/00020"
    cashier: str
    op_id: str  # СУИП, unique per bank
    account: str  # ЛС as printed on the ЕПД
    payer: str
    address: str
    extras: tuple[str, ...]  # raw extra fields (K of them, empty ones included)
    readings: tuple[MeterReading, ...]
    period: Period | None
    amount: int | None  # kopecks
    transfer: int | None
    commission: int | None

    @property
    def osb(self) -> str:
        """Bank branch (ОСБ): the part of field 3 before ``/`` (default sender ``BANK:<ОСБ>``)."""
        return self.branch.split("/", 1)[0]

    @property
    def key(self) -> str:
        """Line key within the sender: the СУИП."""
        return self.op_id


@dataclass(frozen=True)
class BankControl:
    """The control line."""

    count: int
    amount: int
    transfer: int
    commission: int
    order_no: str  # № платёжного поручения
    order_date: dt.date  # дата п/п
    line_no: int = 0
    split: bool = False  # "=" alone, totals on the next line


def _parse_control_fields(text: str) -> BankControl:
    parts = text.split(";")
    if parts and parts[-1] == "":
        parts.pop()
    if len(parts) != 6:
        raise FieldValueError(ErrorCode.CONTROL_FORMAT, f"ожидается 6 полей, найдено {len(parts)}")
    count_s, amount_s, transfer_s, commission_s, order_no, date_s = parts
    if not re.fullmatch(r"\d{1,9}", count_s):
        raise FieldValueError(ErrorCode.CONTROL_FORMAT, f"количество строк «{count_s}» не является числом")
    try:
        amount = parse_money(amount_s)
        transfer = parse_money(transfer_s)
        commission = parse_money(commission_s)
        order_date = parse_date(date_s, "DD-MM-YYYY")
    except FieldValueError as exc:
        raise FieldValueError(ErrorCode.CONTROL_FORMAT, exc.detail) from exc
    if not order_no.strip():
        raise FieldValueError(ErrorCode.CONTROL_FORMAT, "не указан номер платёжного поручения")
    return BankControl(int(count_s), amount, transfer, commission, order_no, order_date)


def _find_order_date(stream: IO[bytes]) -> dt.date | None:
    """Read the tail of the file to learn the п/п date before streaming the lines."""
    stream.seek(0, 2)
    size = stream.tell()
    stream.seek(max(0, size - TAIL_BYTES))
    tail = stream.read()
    stream.seek(0)
    lines = tail.replace(b"\r\n", b"\n").split(b"\n")
    for i in range(len(lines) - 1, -1, -1):
        if lines[i].startswith(b"="):
            text = lines[i][1:]
            if text.strip() == b"" and i + 1 < len(lines):
                text = lines[i + 1]
            try:
                return _parse_control_fields(text.decode(ENCODING)).order_date
            except (FieldValueError, UnicodeDecodeError):
                return None
    return None


class _BankRows(FastRows):
    """Fast-path rows of a bank registry block (see :class:`~connectors.formats.common.FastRows`)."""

    COLUMNS = (
        "line_no",
        "raw",
        "op_date",
        "op_time",
        "branch",
        "cashier",
        "op_id",
        "account",
        "payer",
        "address",
        "period",
        "amount",
        "transfer",
        "commission",
    )
    RECORD = BankPayment
    CONSTANTS = {"extras": (), "readings": ()}
    __slots__ = ()


_ARROW_FIELDS = (
    "d",
    "t",
    "branch",
    "cashier",
    "op_id",
    "account",
    "payer",
    "address",
    "per",
    "am",
    "tr",
    "co",
)


class _BankArrowRows(ArrowRows):
    """Fast rows of a plain bank block as an Arrow table: the twelve fields as read (``d`` … ``co``,
    see ``_ARROW_FIELDS``) and ``line_no``, ``op_date`` (date32), ``op_time`` (time32[s]),
    ``period`` (int32 ``YYYYMM``), ``amount``, ``transfer``, ``commission`` (int64 kopecks)."""

    COLUMNS = _BankRows.COLUMNS
    RECORD = BankPayment
    CONSTANTS = _BankRows.CONSTANTS
    __slots__ = ()

    def raw_lines(self, table: Any, rows: Sequence[int]) -> list[str]:
        part = table.take(list(rows))
        return [";".join(f) for f in zip(*(part.column(n).to_pylist() for n in _ARROW_FIELDS), strict=True)]

    def python_columns(self, table: Any) -> dict[str, list[Any]]:
        col = {name: table.column(name).to_pylist() for name in table.column_names}
        periods = {p: Period(p // 100, p % 100) for p in set(col["period"])}
        return {
            "line_no": col["line_no"],
            "raw": [";".join(f) for f in zip(*(col[n] for n in _ARROW_FIELDS), strict=True)],
            "op_date": col["op_date"],
            "op_time": col["op_time"],
            "branch": col["branch"],
            "cashier": col["cashier"],
            "op_id": col["op_id"],
            "account": col["account"],
            "payer": col["payer"],
            "address": col["address"],
            "period": [periods[p] for p in col["period"]],
            "amount": col["amount"],
            "transfer": col["transfer"],
            "commission": col["commission"],
        }


_time_or_none = or_none(parse_time)
_period_or_none = or_none(Period.parse, "MMYY")


class BankFile(ParsedFile[BankPayment]):
    """Streaming result of :func:`parse`. After iteration: ``control`` (or None) and ``sender``."""

    kind = SourceKind.BANK
    block_bytes = 1 << 18  # read this much at a time (the tests make it tiny)
    fast_path = True  # False: every line the per-line way (the tests compare the two)
    arrow = True  # plain blocks checked by pyarrow (False: the Python fast path; tests compare)

    def __init__(self, source: Source, file_name: str, *, today: dt.date | None = None) -> None:
        super().__init__(file_name)
        self._source = source
        self.today = today or dt.date.today()
        self.control: BankControl | None = None
        self.first_osb: str | None = None
        self.order_date_hint: dt.date | None = None
        self.sums = {"amount": 0, "transfer": 0, "commission": 0}

    @property
    def sender(self) -> str | None:
        """Default sender ``BANK:<ОСБ>`` from the first payment line (None if no line)."""
        return f"BANK:{self.first_osb}" if self.first_osb else None

    # -- reading: blocks of lines; well-formed payment lines take the fast path ---------------
    def _chunks(self) -> Iterator[Chunk[BankPayment]]:
        self._dups = DuplicateTracker()
        self._count = 0
        self._control_seen_at = 0
        self._expect_totals_line = 0
        self._ended = False  # control line fully read
        self._dates: dict[str, tuple[dt.date, int] | None] = {}
        self._times: dict[str, dt.time | None] = {}
        self._periods: dict[str, Period | None] = {}
        self._any_line = False
        with open_source(self._source) as stream:
            self.order_date_hint = _find_order_date(stream)
            for block in iter_line_blocks(stream, block_bytes=self.block_bytes):
                self._any_line = True
                fast = _BankRows()
                slow: list[BankPayment] = []
                texts: list[str] | None = None
                plain = False
                if block[-1][1] is not None:
                    with contextlib.suppress(UnicodeDecodeError):
                        data = b"\n".join(raw for _, raw in block)  # type: ignore[misc]
                        plain = self.arrow and is_plain(data, ENCODING)
                        joined = data.decode(ENCODING)
                        if plain or not has_control_chars(joined):
                            texts = []
                if (
                    texts is not None
                    and self.fast_path
                    and not (self._control_seen_at or self._ended)
                    and not joined.startswith("=")
                    and "\n=" not in joined
                ):  # the usual block: payment lines only — split and checked at once
                    if plain:
                        table = read_fields(joined, _ARROW_FIELDS)
                        if table is not None:
                            arrow_rows = _BankArrowRows()
                            self._arrow_run([ln for ln, _ in block], table, arrow_rows, slow)
                            yield Chunk(arrow_rows, slow)
                            continue
                    texts = joined.split("\n")
                    rows = [t.split(";") for t in texts]
                    if set(map(len, rows)) == {MIN_FIELDS}:
                        self._fast_run([ln for ln, _ in block], texts, rows, fast, slow)
                        yield Chunk(fast, slow)
                        continue
                run_lines: list[int] = []
                run_texts: list[str] = []
                run_rows: list[list[str]] = []
                stop = False
                if texts is not None and not texts:
                    texts = joined.split("\n")
                for i, (line_no, raw) in enumerate(block):
                    if texts is not None and self.fast_path and not (self._control_seen_at or self._ended):
                        text = texts[i]
                        if text[:1] != "=":
                            fields = text.split(";")
                            if len(fields) == MIN_FIELDS:
                                run_lines.append(line_no)
                                run_texts.append(text)
                                run_rows.append(fields)
                                continue
                    if run_lines:
                        self._fast_run(run_lines, run_texts, run_rows, fast, slow)
                        run_lines, run_texts, run_rows = [], [], []
                    rec = self._line(line_no, raw)
                    if rec is not None:
                        slow.append(rec)
                    if raw is None or self._too_many_errors:
                        stop = True
                        break
                if run_lines:
                    self._fast_run(run_lines, run_texts, run_rows, fast, slow)
                yield Chunk(fast, slow)
                if stop:
                    break
            if not self._any_line:
                self._file_error(ErrorCode.EMPTY_FILE)
        self._finish()

    def _line(self, line_no: int, raw: bytes | None) -> BankPayment | None:
        """One line the slow way (anything the fast path does not take)."""
        if raw is None:
            self._file_error(ErrorCode.LINE_TOO_LONG, "строка длиннее 65536 байт", line_no=line_no)
            return None
        try:
            text = raw.decode(ENCODING)
        except UnicodeDecodeError as exc:
            self._file_error(
                ErrorCode.ENCODING,
                f"байт 0x{raw[exc.start]:02X} в позиции {exc.start + 1} не является символом cp1251",
                line_no=line_no,
            )
            return None
        pos = find_control_chars(text)
        if pos >= 0:
            self._file_error(
                ErrorCode.CONTROL_CHARS,
                f"символ с кодом {ord(text[pos])} в позиции {pos + 1}",
                line_no=line_no,
                source=text,
            )
            return None
        if self._expect_totals_line:
            self._expect_totals_line = 0
            self._take_control(text, line_no, split=True)
            self._ended = True
            return None
        if text.startswith("="):
            if self._control_seen_at:
                self._file_error(
                    ErrorCode.MULTIPLE_CONTROL,
                    f"первая контрольная строка — {self._control_seen_at}",
                    line_no=line_no,
                    source=text,
                )
                return None
            self._control_seen_at = line_no
            if text[1:].strip() == "":
                self._expect_totals_line = line_no
            else:
                self._take_control(text[1:], line_no, split=False)
                self._ended = True
            return None
        if self._ended or self._control_seen_at:
            self._file_error(ErrorCode.AFTER_CONTROL, line_no=line_no, source=text)
            return None
        fields = text.split(";")
        if len(fields) < MIN_FIELDS:
            self._file_error(
                ErrorCode.FIELD_COUNT,
                f"найдено {len(fields)}, нужно не менее {MIN_FIELDS}",
                line_no=line_no,
                source=text,
            )
            return None
        rec = self._payment(fields, line_no, text)
        self._take_payment(rec)
        return rec

    def _take_payment(self, rec: BankPayment) -> None:
        self._count += 1
        if self.first_osb is None:
            self.first_osb = rec.osb
        sums = self.sums
        if rec.amount is not None:
            sums["amount"] += rec.amount
        if rec.transfer is not None:
            sums["transfer"] += rec.transfer
        if rec.commission is not None:
            sums["commission"] += rec.commission
        if rec.op_id:
            self._dups.add(rec.op_id, rec.line_no)

    def _fast_run(
        self,
        line_nos: list[int],
        texts: list[str],
        rows: list[list[str]],
        fast: _BankRows,
        slow: list[BankPayment],
    ) -> None:
        """Consecutive payment lines of 12 fields, checked column-wise. A line failing any check
        goes through :meth:`_payment` (which names the problem); the others become fast rows."""
        n = len(line_nos)
        (d_s, t_s, branch, cashier, op_id, account, payer, address, per_s, am_s, tr_s, co_s) = zip(
            *rows, strict=True
        )
        bad = np.zeros(n, dtype=bool)
        dates, times, periods = self._dates, self._times, self._periods
        for s in set(d_s).difference(dates):
            dates[s] = self._fast_date(s)
        for s in set(t_s).difference(times):
            times[s] = _time_or_none(s)
        for s in set(per_s).difference(periods):
            periods[s] = _period_or_none(s)
        day = [dates[s] for s in d_s]
        tm = [times[s] for s in t_s]
        per = [periods[s] for s in per_s]
        parsed_cols: tuple[list[Any], ...] = (day, tm, per)
        for parsed in parsed_cols:
            if None in parsed:
                bad |= np.fromiter((x is None for x in parsed), np.bool_, n)
        if not bad.any():  # the period within 36 months back / 3 ahead of the operation date
            months = np.fromiter((d[1] for d in day), np.int64, n)  # type: ignore[index]
            diff = months - np.fromiter((p.index for p in per), np.int64, n)  # type: ignore[union-attr,arg-type]
            bad |= (diff > PERIOD_BACK_MONTHS) | (diff < -PERIOD_AHEAD_MONTHS)
        else:
            for i in np.flatnonzero(~bad).tolist():
                back = day[i][1] - per[i].index  # type: ignore[index,union-attr]
                bad[i] = back > PERIOD_BACK_MONTHS or back < -PERIOD_AHEAD_MONTHS
        text_cols: tuple[tuple[str, ...], ...] = (branch, cashier, op_id, account, payer, address)
        for col, width in zip(text_cols, WIDTHS.values(), strict=True):
            if max(map(len, col)) > width:
                bad |= np.fromiter((len(x) > width for x in col), np.bool_, n)
        for col in (op_id, account):
            if "" in col or any(map(str.isspace, col)):
                bad |= np.fromiter((not x or x.isspace() for x in col), np.bool_, n)
        amount, ok_a = money_column(am_s)
        transfer, ok_t = money_column(tr_s)
        commission, ok_c = money_column(co_s)
        bad |= ~(ok_a & ok_t & ok_c) | (amount <= 0) | (transfer + commission != amount)
        if self.first_osb is None:  # the run's first line, before the lines with problems after it
            self.first_osb = branch[0].split("/", 1)[0]
        if bad.any():
            keep: list[int] | None = np.flatnonzero(~bad).tolist()
            for i in np.flatnonzero(bad).tolist():
                rec = self._payment(rows[i], line_nos[i], texts[i])
                self._take_payment(rec)
                slow.append(rec)
            slow.sort(key=lambda r: r.line_no)
        else:
            keep = None
        good = ~bad
        a, t, c = int(amount[good].sum()), int(transfer[good].sum()), int(commission[good].sum())
        self.sums["amount"] += a
        self.sums["transfer"] += t
        self.sums["commission"] += c
        fast.total_kop += a
        k = int(good.sum())
        self._count += k
        if k == n:
            self._dups.add_many(op_id, line_nos)
        else:
            assert keep is not None
            self._dups.add_many((op_id[i] for i in keep), (line_nos[i] for i in keep))
        fast.extend(
            {
                "line_no": line_nos,
                "raw": texts,
                "op_date": [d[0] if d else None for d in day],
                "op_time": tm,
                "branch": branch,
                "cashier": cashier,
                "op_id": op_id,
                "account": account,
                "payer": payer,
                "address": address,
                "period": per,
                "amount": amount.tolist(),
                "transfer": transfer.tolist(),
                "commission": commission.tolist(),
            },
            keep,
        )

    def _arrow_run(
        self, line_nos: list[int], table: Any, fast: _BankArrowRows, slow: list[BankPayment]
    ) -> None:
        """:meth:`_fast_run` for a plain block read by pyarrow: the same checks, column-wise in
        Arrow; a line failing any goes through :meth:`_payment`."""
        import pyarrow as pa
        import pyarrow.compute as pc

        col = {name: table.column(name).combine_chunks() for name in _ARROW_FIELDS}
        days, d_idx = by_distinct(col["d"], self._dates, self._fast_date)
        times, t_idx = by_distinct(col["t"], self._times, _time_or_none)
        pers, p_idx = by_distinct(col["per"], self._periods, _period_or_none)
        op_date = pc.take(pa.array([d[0] if d else None for d in days], pa.date32()), d_idx)
        month = pc.take(pa.array([d[1] if d else None for d in days], pa.int32()), d_idx)
        op_time = pc.take(pa.array(times, pa.time32("s")), t_idx)
        per_index = pc.take(pa.array([p.index if p else None for p in pers], pa.int32()), p_idx)
        period = pc.take(pa.array([p.year * 100 + p.month if p else None for p in pers], pa.int32()), p_idx)
        back = pc.subtract(month, per_index)  # null where the date or the period is bad
        bad = pc.fill_null(
            pc.or_(
                pc.or_(pc.greater(back, PERIOD_BACK_MONTHS), pc.less(back, -PERIOD_AHEAD_MONTHS)),
                pc.is_null(op_time),
            ),
            True,
        )
        for name, width in zip(
            ("branch", "cashier", "op_id", "account", "payer", "address"), WIDTHS.values(), strict=True
        ):
            bad = pc.or_(bad, pc.greater(pc.utf8_length(col[name]), width))
        bad = pc.or_(bad, pc.or_(blank(col["op_id"]), blank(col["account"])))
        amount, ok_a = money_kop(col["am"])
        transfer, ok_t = money_kop(col["tr"])
        commission, ok_c = money_kop(col["co"])
        ok = pc.and_(pc.and_(ok_a, ok_t), ok_c)
        ok = pc.and_(ok, pc.and_(pc.greater(amount, 0), pc.equal(pc.add(transfer, commission), amount)))
        bad = pc.or_(bad, pc.invert(ok))
        if self.first_osb is None:
            self.first_osb = col["branch"][0].as_py().split("/", 1)[0]
        lines = pa.array(line_nos, pa.int64())
        out = pa.table(
            {
                **col,
                "line_no": lines,
                "op_date": op_date,
                "op_time": op_time,
                "period": period,
                "amount": amount,
                "transfer": transfer,
                "commission": commission,
            }
        )
        if pc.any(bad).as_py():
            bad_np = bad.to_numpy(zero_copy_only=False)
            for i in np.flatnonzero(bad_np).tolist():
                fields = [col[name][i].as_py() for name in _ARROW_FIELDS]
                rec = self._payment(fields, line_nos[i], ";".join(fields))
                self._take_payment(rec)
                slow.append(rec)
            slow.sort(key=lambda r: r.line_no)
            out = out.filter(pc.invert(bad))
            good_lines = out.column("line_no").to_pylist()
        else:
            good_lines = line_nos
        sums = self.sums
        a = pc.sum(out.column("amount")).as_py() or 0
        sums["amount"] += a
        sums["transfer"] += pc.sum(out.column("transfer")).as_py() or 0
        sums["commission"] += pc.sum(out.column("commission")).as_py() or 0
        self._count += out.num_rows
        self._dups.add_many(out.column("op_id").to_pylist(), good_lines)
        if out.num_rows:
            fast.tables.append(out)
            fast.total_kop += a

    def _fast_date(self, s: str) -> tuple[dt.date, int] | None:
        """A date the fast path accepts (valid, not in the future, not after the п/п date)."""
        try:
            day = parse_date(s, "DD-MM-YYYY")
        except FieldValueError:
            return None
        if day > self.today or (self.order_date_hint is not None and day > self.order_date_hint):
            return None
        return day, day.year * 12 + day.month - 1

    def _finish(self) -> None:
        """Checks at the end of the file: the control line and its totals, duplicate СУИП."""
        if self._expect_totals_line:
            self._file_error(
                ErrorCode.CONTROL_FORMAT,
                "после строки «=» нет строки с итогами",
                line_no=self._expect_totals_line,
            )
        if not self._control_seen_at and self._any_line:
            self._file_error(ErrorCode.NO_CONTROL)
        for group in self._dups.duplicates():
            self._file_error(
                ErrorCode.DUPLICATE_KEY_IN_FILE,
                f"СУИП повторяется в строках {', '.join(map(str, group[:20]))}",
                line_no=group[1],
                field=F_OPID,
            )
        c = self.control
        if c is not None:
            checks = (
                ("количество строк", c.count, self._count, False),
                ("сумма операций", c.amount, self.sums["amount"], True),
                ("сумма перевода", c.transfer, self.sums["transfer"], True),
                ("сумма комиссий", c.commission, self.sums["commission"], True),
            )
            for what, declared, actual, money in checks:
                if declared != actual:
                    fmt = format_money if money else str
                    self._file_error(
                        ErrorCode.CONTROL_MISMATCH,
                        f"{what}: в контрольной строке {fmt(declared)}, по строкам {fmt(actual)}",
                        line_no=c.line_no,
                    )

    def _take_control(self, text: str, line_no: int, *, split: bool) -> None:
        try:
            c = _parse_control_fields(text)
        except FieldValueError as exc:
            self._file_error(ErrorCode.CONTROL_FORMAT, exc.detail, line_no=line_no, source=text)
            return
        self.control = BankControl(
            c.count,
            c.amount,
            c.transfer,
            c.commission,
            c.order_no,
            c.order_date,
            line_no=line_no,
            split=split,
        )

    def _payment(self, fields: list[str], line_no: int, text: str) -> BankPayment:
        # hot path: written for speed (~10 µs per line), errors are the rare case
        errors: list[LineError] = []

        def err(code: ErrorCode, field: str, detail: str = "") -> None:
            errors.append(self._line_error(code, line_no, field, detail, text))

        date_s, time_s, branch, cashier, op_id, account, payer, address = fields[:FIXED_HEAD]
        extras = tuple(fields[FIXED_HEAD:-FIXED_TAIL])
        period_s, amount_s, transfer_s, commission_s = fields[-FIXED_TAIL:]

        op_date: dt.date | None = None
        try:
            op_date = parse_date(date_s, "DD-MM-YYYY")
        except FieldValueError as exc:
            err(exc.code, F_DATE, exc.detail)
        if op_date is not None:
            if op_date > self.today:
                err(
                    ErrorCode.DATE_IN_FUTURE,
                    F_DATE,
                    f"{date_s} позже {format_date(self.today, 'DD-MM-YYYY')}",
                )
            elif self.order_date_hint is not None and op_date > self.order_date_hint:
                hint = format_date(self.order_date_hint, "DD-MM-YYYY")
                err(ErrorCode.DATE_AFTER_ORDER, F_DATE, f"{date_s} позже {hint}")
        op_time: dt.time | None = None
        try:
            op_time = parse_time(time_s)
        except FieldValueError as exc:
            err(exc.code, F_TIME, exc.detail)
        if (
            len(branch) > 20
            or len(cashier) > 20
            or len(op_id) > 32
            or len(account) > 20
            or len(payer) > 100
            or len(address) > 200
        ):
            for name, value in zip(WIDTHS, (branch, cashier, op_id, account, payer, address), strict=True):
                if len(value) > WIDTHS[name]:
                    err(ErrorCode.FIELD_TOO_LONG, name, f"{len(value)} символов, допустимо {WIDTHS[name]}")
        if not op_id or op_id.isspace():
            err(ErrorCode.EMPTY_REQUIRED, F_OPID)
        if not account or account.isspace():
            err(ErrorCode.EMPTY_REQUIRED, F_ACCOUNT)

        readings: list[MeterReading] = []
        for i, extra in enumerate(extras, start=1):
            if extra == "":
                continue
            m = _READING_RE.fullmatch(extra) if len(extra) <= EXTRA_WIDTH else None
            if m is None:
                detail = (
                    f"{len(extra)} символов, допустимо {EXTRA_WIDTH}"
                    if len(extra) > EXTRA_WIDTH
                    else f"«{extra}» не соответствует [<услуга>-]<номер ПУ>:<показание>"
                )
                err(ErrorCode.BAD_EXTRA, f"{F_EXTRA} {i}", detail)
                continue
            svc, meter, val = m.groups()
            readings.append(MeterReading(svc, meter, Decimal(val.replace(",", ".")), i))

        period: Period | None = None
        try:
            period = Period.parse(period_s, "MMYY")
        except FieldValueError as exc:
            err(exc.code, F_PERIOD, exc.detail)
        if period is not None:
            ref = op_date or self.today
            diff = ref.year * 12 + ref.month - 1 - period.index
            if diff > PERIOD_BACK_MONTHS or diff < -PERIOD_AHEAD_MONTHS:
                err(
                    ErrorCode.PERIOD_OUT_OF_RANGE,
                    F_PERIOD,
                    f"{period_s}: допустимо не более {PERIOD_BACK_MONTHS} мес. назад и "
                    f"{PERIOD_AHEAD_MONTHS} мес. вперёд от {Period.of(ref)}",
                )

        amount = transfer = commission = None
        try:
            amount = parse_money(amount_s, allow_negative=True)
        except FieldValueError as exc:
            err(exc.code, F_AMOUNT, exc.detail)
        try:
            transfer = parse_money(transfer_s)
        except FieldValueError as exc:
            err(exc.code, F_TRANSFER, exc.detail)
        try:
            commission = parse_money(commission_s)
        except FieldValueError as exc:
            err(exc.code, F_COMMISSION, exc.detail)
        if amount is not None and amount <= 0:
            err(ErrorCode.AMOUNT_NOT_POSITIVE, F_AMOUNT, amount_s)
        if (
            amount is not None
            and transfer is not None
            and commission is not None
            and transfer + commission != amount
        ):
            err(
                ErrorCode.AMOUNT_MISMATCH,
                F_AMOUNT,
                f"перевод {transfer_s} + комиссия {commission_s} ≠ сумма {amount_s}",
            )
        return BankPayment(
            op_date,
            op_time,
            branch,
            cashier,
            op_id,
            account,
            payer,
            address,
            extras,
            tuple(readings),
            period,
            amount,
            transfer,
            commission,
            line_no=line_no,
            raw=text,
            errors=tuple(errors),
        )


def parse(source: Source, file_name: str | None = None, *, today: dt.date | None = None) -> BankFile:
    """Parse a bank registry (path, bytes or binary stream). Nothing is read until iteration,
    except the last 64 KiB (to learn the п/п date used by the line checks)."""
    return BankFile(source, source_name(source, file_name), today=today)


def _reading_text(r: MeterReading, sep: str) -> str:
    value = format_decimal(r.value, sep)
    return f"{r.service}-{r.meter}:{value}" if r.service else f"{r.meter}:{value}"


def format_line(p: BankPayment, decimal_sep: str = ",") -> str:
    """One payment line (without line end)."""
    op_date, op_time, period = p.op_date, p.op_time, p.period
    amount, transfer, commission = p.amount, p.transfer, p.commission
    if (
        op_date is None
        or op_time is None
        or period is None
        or amount is None
        or transfer is None
        or commission is None
    ):
        raise ValueError(f"payment {p.op_id!r} has unset fields")
    extras = (
        p.extras if p.extras or not p.readings else tuple(_reading_text(r, decimal_sep) for r in p.readings)
    )
    parts = [
        format_date(op_date, "DD-MM-YYYY"),
        format_time(op_time),
        *(clean_text(x) for x in (p.branch, p.cashier, p.op_id, p.account, p.payer, p.address)),
        *(clean_text(x) for x in extras),
        period.mmyy,
        format_money(amount, decimal_sep),
        format_money(transfer, decimal_sep),
        format_money(commission, decimal_sep),
    ]
    return ";".join(parts)


def write(
    dst: str | IO[bytes],
    payments: Iterable[BankPayment],
    *,
    order_no: str,
    order_date: dt.date,
    decimal_sep: str = ",",
    split_control: bool = False,
) -> WriteSummary:
    """Write a registry (cp1251, CRLF) and its control line; returns the totals.

    ``extras`` are written as given; if a payment has no extras but has readings, the readings
    are written as extras. ``;`` in text becomes ``,``. Characters outside cp1251 raise
    ``UnicodeEncodeError`` (the bank registry is inbound; the writer exists for tests and demo
    data, so it is strict).
    """
    count = 0
    sums = {"amount": 0, "transfer": 0, "commission": 0}
    with open_dest(dst) as out:
        for p in payments:
            out.write((format_line(p, decimal_sep) + "\r\n").encode(ENCODING))
            count += 1
            sums["amount"] += p.amount  # type: ignore[operator]
            sums["transfer"] += p.transfer  # type: ignore[operator]
            sums["commission"] += p.commission  # type: ignore[operator]
        totals = (
            ";".join(
                [
                    str(count),
                    format_money(sums["amount"], decimal_sep),
                    format_money(sums["transfer"], decimal_sep),
                    format_money(sums["commission"], decimal_sep),
                    clean_text(order_no),
                    format_date(order_date, "DD-MM-YYYY"),
                ]
            )
            + ";"
        )
        control = f"=\r\n{totals}\r\n" if split_control else f"={totals}\r\n"
        out.write(control.encode(ENCODING))
    return WriteSummary(count, sums["amount"], sums)
