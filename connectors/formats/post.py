"""Post office (Почта России) payment registry, fixed width, formats spec section 3 (b).

cp866, CRLF, every record exactly 172 characters. Order: ``H``, then one or more batches
(``B``, ``P``+, ``E``), then ``T``. Numbers right-aligned zero-padded, text left-aligned
space-padded, money with an explicit point (``000002500.00``).

API::

    result = parse(path_or_bytes_or_stream, file_name=None, center_inn=None)
    for payment in result:            # PostPayment (P records), streamed; .batch = its B record
        ...
    result.header, result.file_errors, result.line_errors, result.sender

    write(dst, header, batches)  # batches: iterable of (PostBatch, iterable of PostPayment)
    group_batches(payments)      # -> batches, for round trips

Line key: (OPS, GETD, NUM_1) = :attr:`PostPayment.key`; :attr:`PostPayment.operation_id` is the
``OPS-DDMMYYYY-NUM_1`` id used in transfer registries. TYPEP ``02`` (пени) goes to the penalty
balance. NUM_2 (a meter reading, integer) is matched by the loader (warning when the account has
no or several metered meters).
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import IO, Any

import numpy as np

from .columnar import ArrowRows, fixed_digits, fixed_distinct, fixed_fields, is_plain
from .common import (
    Chunk,
    FastRows,
    FieldValueError,
    LineError,
    ParsedFile,
    Period,
    RecordMeta,
    Source,
    SourceKind,
    WriteSummary,
    find_control_chars,
    format_date,
    format_money,
    has_control_chars,
    iter_line_blocks,
    money_column,
    open_dest,
    open_source,
    or_none,
    parse_date,
    parse_money,
    source_name,
)
from .protocol import ErrorCode

__all__ = [
    "PostHeader",
    "PostBatch",
    "PostPayment",
    "PostFile",
    "parse",
    "write",
    "group_batches",
    "RECORD_LEN",
    "ENCODING",
    "operation_id",
]

ENCODING = "cp866"
RECORD_LEN = 172
PERIOD_BACK_MONTHS = 36
PERIOD_AHEAD_MONTHS = 3

# P record layout: name -> (start (0-based), length)
P_LAYOUT = {
    "GETD": (1, 8),
    "OPER": (9, 3),
    "TYPEP": (12, 2),
    "LC": (14, 20),
    "YEAR": (34, 4),
    "MONTH": (38, 2),
    "FIO": (40, 40),
    "STREET": (80, 40),
    "HOUSE": (120, 10),
    "FLAT": (130, 10),
    "NUM_1": (140, 10),
    "NUM_2": (150, 10),
    "SUMMA": (160, 12),
}
_MONEY12 = re.compile(r"\d{9}\.\d{2}")
_IN_BATCH = ("in_batch", "in_batch_p")
_TYPEP = frozenset(("01", "02"))
_BLANK10_S = " " * 10
_BLANK10 = {_BLANK10_S}
# GETD, OPER, TYPEP, LC, FIO, STREET, HOUSE, FLAT, NUM_1: the text fields of a fast P record
_TEXT_SPANS = ((1, 9), (9, 12), (12, 14), (14, 34), (40, 80), (80, 120), (120, 130), (130, 140), (140, 150))
_NUM10 = re.compile(r"\d{10}")


def operation_id(ops: str, getd: dt.date, num1: int) -> str:
    """Source operation id of a post payment: ``OPS-DDMMYYYY-NUM_1`` (NUM_1 zero-padded to 10)."""
    return f"{ops}-{format_date(getd, 'DDMMYYYY')}-{num1:010d}"


@dataclass(frozen=True)
class PostHeader:
    """``H`` record."""

    sender_code: str  # код отправителя (почтамт/УФПС), 6 digits
    file_date: dt.date
    file_no: int  # номер файла за день
    center_inn: str  # ИНН центра (получателя)
    center_account: str  # р/с центра, 20 digits


@dataclass(frozen=True)
class PostBatch:
    """``B`` record (пачка): one post office (ОПС) and operating day."""

    ops: str  # индекс ОПС, 6 digits
    oper_date: dt.date  # дата опердня
    batch_no: int
    line_no: int = field(default=0, compare=False)


@dataclass(frozen=True)
class PostPayment(RecordMeta):
    """``P`` record. Fields that failed to parse are ``None`` (and ``errors`` is set)."""

    batch: PostBatch
    getd: dt.date | None  # дата приёма
    oper: str  # код оператора
    typep: str  # "01" платёж / "02" пени
    account: str  # LC
    period: Period | None
    fio: str
    street: str
    house: str
    flat: str
    num1: int | None  # номер операции в ОПС
    num2: int | None  # показание ПУ (целое) or None
    amount: int | None  # SUMMA, kopecks

    @property
    def is_penalty(self) -> bool:
        return self.typep == "02"

    @property
    def key(self) -> tuple[str, dt.date | None, int | None]:
        """Line key (OPS, GETD, NUM_1)."""
        return (self.batch.ops, self.getd, self.num1)

    @property
    def operation_id(self) -> str | None:
        if self.getd is None or self.num1 is None:
            return None
        return operation_id(self.batch.ops, self.getd, self.num1)


class _SeenKeys:
    """The keys (OPS, GETD, NUM_1) of the file's payments so far, as a set of tuples would hold
    them, kept per (OPS, GETD) as sets of NUM_1 numbers: the fast path checks and adds a run's
    numbers without making a tuple per record."""

    __slots__ = ("_by_day",)

    def __init__(self) -> None:
        self._by_day: dict[tuple[str, dt.date], set[int]] = {}

    def numbers(self, ops: str, day: dt.date) -> set[int]:
        return self._by_day.setdefault((ops, day), set())

    def __contains__(self, key: tuple[str, dt.date, int]) -> bool:
        got = self._by_day.get((key[0], key[1]))
        return got is not None and key[2] in got

    def add(self, key: tuple[str, dt.date, int]) -> None:
        self.numbers(key[0], key[1]).add(key[2])

    def update(self, keys: Iterable[tuple[str, dt.date, int]]) -> None:
        for key in keys:
            self.add(key)

    def isdisjoint(self, keys: Iterable[tuple[str, dt.date, int]]) -> bool:
        return not any(key in self for key in keys)


class _PostRows(FastRows):
    """Fast-path ``P`` records of a block (see :class:`~connectors.formats.common.FastRows`)."""

    COLUMNS = (
        "line_no",
        "raw",
        "batch",
        "getd",
        "oper",
        "typep",
        "account",
        "period",
        "fio",
        "street",
        "house",
        "flat",
        "num1",
        "amount",
    )
    RECORD = PostPayment
    CONSTANTS = {"num2": None}
    __slots__ = ()


class _PostArrowRows(ArrowRows):
    """Fast ``P`` records of a plain post block as an Arrow table: ``line_no``, ``raw`` (the
    record's cp866 bytes), the batch (``b_ops``, ``b_date``, ``b_no``, ``b_line``), ``getd``
    (date32) and ``getd_s`` as written, ``oper``, ``typep``, ``account`` (trimmed), ``period`` (int32
    ``YYYYMM``), ``fio``, ``street``, ``house``, ``flat`` (right-trimmed), ``num1`` (int64) and
    ``num1_s`` as written, ``amount`` (int64 kopecks)."""

    COLUMNS = _PostRows.COLUMNS
    RECORD = PostPayment
    CONSTANTS = _PostRows.CONSTANTS
    __slots__ = ()

    def raw_lines(self, table: Any, rows: Sequence[int]) -> list[str]:
        return [raw.decode(ENCODING) for raw in table.column("raw").take(list(rows)).to_pylist()]

    def python_columns(self, table: Any) -> dict[str, list[Any]]:
        col = {name: table.column(name).to_pylist() for name in table.column_names}
        col["raw"] = [raw.decode(ENCODING) for raw in col["raw"]]
        batches: dict[tuple[Any, ...], PostBatch] = {}
        for key in set(zip(col["b_ops"], col["b_date"], col["b_no"], col["b_line"], strict=True)):
            batches[key] = PostBatch(key[0], key[1], key[2], line_no=key[3])
        periods = {p: Period(p // 100, p % 100) for p in set(col["period"])}
        return {
            "line_no": col["line_no"],
            "raw": col["raw"],
            "batch": [
                batches[k] for k in zip(col["b_ops"], col["b_date"], col["b_no"], col["b_line"], strict=True)
            ],
            "getd": col["getd"],
            "oper": col["oper"],
            "typep": col["typep"],
            "account": col["account"],
            "period": [periods[p] for p in col["period"]],
            "fio": col["fio"],
            "street": col["street"],
            "house": col["house"],
            "flat": col["flat"],
            "num1": col["num1"],
            "amount": col["amount"],
        }


_date_or_none = or_none(parse_date, "DDMMYYYY")
_period_or_none = or_none(Period.parse, "YYYYMM")


ARROW_MIN_RUN = 64  # a block goes the Arrow way when its batches average this many records


class PostFile(ParsedFile[PostPayment]):
    """Streaming result of :func:`parse`; ``header`` is set once the ``H`` record is read."""

    kind = SourceKind.POST
    block_bytes = 1 << 18  # read this much at a time (the tests make it tiny)
    fast_path = True  # False: every record the per-record way (the tests compare the two)
    arrow = True  # plain blocks of long batches checked by pyarrow (False: the Python fast path)

    def __init__(self, source: Source, file_name: str, *, center_inn: str | None = None) -> None:
        super().__init__(file_name)
        self._source = source
        self.center_inn = center_inn
        self.header: PostHeader | None = None
        self.batch_count = 0
        self.payment_count = 0

    @property
    def sender(self) -> str | None:
        """Default sender ``POST:<код отправителя>`` from the ``H`` record."""
        return f"POST:{self.header.sender_code}" if self.header else None

    # state machine: "start" -> H -> "after_h" -> B -> "in_batch" -> P -> "in_batch_p" -> E -> "after_e"
    #                -> B ... | T -> "end"
    def _chunks(self) -> Iterator[Chunk[PostPayment]]:
        self._state = "start"
        self._cur: PostBatch | None = None
        self._batch_count = self._batch_sum = 0
        self._file_count = self._file_sum = self._batches = 0
        self._seen = _SeenKeys()
        self._dates: dict[str, dt.date | None] = {}
        self._periods: dict[str, Period | None] = {}
        any_line = False
        with open_source(self._source) as stream:
            for block in iter_line_blocks(stream, max_line=4096, block_bytes=self.block_bytes):
                any_line = True
                fast: _PostRows | _PostArrowRows = _PostRows()
                slow: list[PostPayment] = []
                texts: list[str] | None = None
                grid: Any = None  # Arrow: the block's bytes, and where each line starts
                if block[-1][1] is not None and self.fast_path:
                    data = b"\n".join(raw for _, raw in block)  # type: ignore[misc]
                    plain = self.arrow and is_plain(data, ENCODING)
                    joined = data.decode(ENCODING)
                    if plain or not has_control_chars(joined):
                        texts = joined.split("\n")
                    if plain and (joined.count("\nB") + 1) * ARROW_MIN_RUN <= len(block):
                        fast = _PostArrowRows()
                        starts = list(itertools.accumulate((len(raw) + 1 for _, raw in block), initial=0))  # type: ignore[arg-type]
                        grid = (np.frombuffer(data + b"\n", np.uint8), starts)
                run: list[tuple[int, str]] = []
                first = 0  # the run's first line in the block
                stop = False
                for i, (line_no, raw) in enumerate(block):
                    if texts is not None and self._cur is not None and self._state in _IN_BATCH:
                        text = texts[i]
                        if text[:1] == "P" and len(text) == RECORD_LEN:
                            if not run:
                                first = i
                            run.append((line_no, text))
                            continue
                    if run:
                        self._check_run(run, first, fast, slow, grid)
                        run = []
                    rec = self._line(line_no, raw)
                    if rec is not None:
                        slow.append(rec)
                    if raw is None or self._too_many_errors:
                        stop = True
                        break
                if run:
                    self._check_run(run, first, fast, slow, grid)
                yield Chunk(fast, slow)
                if stop:
                    break
        self.batch_count, self.payment_count = self._batches, self._file_count
        if not any_line:
            self._file_error(ErrorCode.EMPTY_FILE)
            return
        if self._state == "start":  # not a single usable record
            self._file_error(ErrorCode.MISSING_HEADER)
        if self._state != "end":
            self._file_error(ErrorCode.MISSING_TRAILER)

    def _check_run(
        self, run: list[tuple[int, str]], first: int, fast: Any, slow: list[PostPayment], grid: Any
    ) -> None:
        """A run of ``P`` records of a block (lines ``first``…): the Python fast path, or the Arrow
        one over the records' bytes when the block has a ``grid`` (its bytes, line starts)."""
        if grid is None:
            self._fast_run(run, fast, slow)
            return
        start, width = grid[1][first], RECORD_LEN + 1
        cells = grid[0][start : start + len(run) * width].reshape(len(run), width)
        self._arrow_run(run, fast, slow, cells[:, :RECORD_LEN])

    def _line(self, line_no: int, raw: bytes | None) -> PostPayment | None:
        """One record the slow way (anything the fast path does not take)."""
        if raw is None:
            self._file_error(ErrorCode.LINE_TOO_LONG, line_no=line_no)
            return None
        text = raw.decode(ENCODING)  # cp866 maps all 256 bytes
        pos = find_control_chars(text)
        if pos >= 0:
            self._file_error(
                ErrorCode.CONTROL_CHARS,
                f"символ с кодом {ord(text[pos])} в позиции {pos + 1}",
                line_no=line_no,
            )
            return None
        if len(text) != RECORD_LEN:
            self._file_error(
                ErrorCode.RECORD_LENGTH,
                f"{len(text)} символов вместо {RECORD_LEN}",
                line_no=line_no,
                source=text,
            )
            return None
        rtype = text[0]
        if rtype not in "HBPET":
            self._file_error(ErrorCode.RECORD_TYPE, f"«{rtype}»", line_no=line_no, source=text)
            return None
        state = self._state
        if state == "end":
            self._file_error(
                ErrorCode.RECORD_ORDER,
                f"запись {rtype} после итоговой записи T",
                line_no=line_no,
                source=text,
            )
            return None
        if state == "start" and rtype != "H":
            self._file_error(ErrorCode.MISSING_HEADER, f"первая запись — {rtype}", line_no=line_no)
            state = self._state = "after_h"
        allowed = {
            "start": "H",
            "after_h": "BT",
            "in_batch": "P",
            "in_batch_p": "PE",
            "after_e": "BT",
        }[state]
        if rtype not in allowed:
            self._file_error(
                ErrorCode.RECORD_ORDER,
                f"запись {rtype} не может следовать здесь (ожидается {', '.join(allowed)})",
                line_no=line_no,
                source=text,
            )
            if rtype == "H":
                return None
        if rtype == "H":
            self.header = self._header(text, line_no)
            self._state = "after_h"
        elif rtype == "B":
            if state in ("in_batch", "in_batch_p"):
                self._file_error(ErrorCode.RECORD_ORDER, "пачка не закрыта записью E", line_no=line_no)
            self._cur = self._batch(text, line_no)
            self._batch_count = self._batch_sum = 0
            self._batches += 1
            self._state = "in_batch"
        elif rtype == "P":
            if self._cur is None:
                return None  # order error already reported
            rec = self._payment(text, line_no, self._cur, self._seen)
            self._batch_count += 1
            self._file_count += 1
            if rec.amount is not None:
                self._batch_sum += rec.amount
                self._file_sum += rec.amount
            self._state = "in_batch_p"
            return rec
        elif rtype == "E":
            self._trailer_e(text, line_no, self._cur, self._batch_count, self._batch_sum)
            self._cur = None
            self._state = "after_e"
        else:  # T
            self._trailer_t(text, line_no, self._batches, self._file_count, self._file_sum)
            self._state = "end"
        return None

    def _fast_run(self, run: list[tuple[int, str]], fast: _PostRows, slow: list[PostPayment]) -> None:
        """Consecutive ``P`` records of one batch, checked column-wise. A record failing any check
        (or carrying a meter reading, or repeating a key) goes through :meth:`_payment`, which
        names the problem; the others become fast rows."""
        batch = self._cur
        assert batch is not None
        n = len(run)
        line_nos = [r[0] for r in run]
        texts = [r[1] for r in run]
        dates, periods = self._dates, self._periods
        getd_s = [t[1:9] for t in texts]
        for s in set(getd_s).difference(dates):
            dates[s] = _date_or_none(s)
        getd = [dates[s] for s in getd_s]
        num1_s = [t[140:150] for t in texts]
        joined = "".join(num1_s)
        if joined.isascii() and joined.isdigit():
            num1: list[int | None] = list(map(int, num1_s))
        else:
            num1 = [int(x) if _NUM10.fullmatch(x) else None for x in num1_s]
        ops = batch.ops
        keys = [(ops, d, k) for d, k in zip(getd, num1, strict=True) if d is not None and k is not None]
        if len(set(keys)) != len(keys) or not self._seen.isdisjoint(keys):
            for line_no, text in run:  # a repeated key: the per-record way, in order
                self._slow_payment(text, line_no, slow)
            slow.sort(key=lambda r: r.line_no)
            return
        bad = np.fromiter((d != batch.oper_date for d in getd), np.bool_, n)  # None too
        if None in num1:
            bad |= np.fromiter((k is None for k in num1), np.bool_, n)
        typep = [t[12:14] for t in texts]
        if not _TYPEP.issuperset(typep):
            bad |= np.fromiter((x not in _TYPEP for x in typep), np.bool_, n)
        account = [t[14:34].strip() for t in texts]
        if "" in account:
            bad |= np.fromiter((not x for x in account), np.bool_, n)
        per_s = [t[34:40] for t in texts]
        for s in set(per_s).difference(periods):
            periods[s] = _period_or_none(s)
        per = [periods[s] for s in per_s]
        if None in per:
            bad |= np.fromiter((p is None for p in per), np.bool_, n)
        for i in np.flatnonzero(~bad).tolist():
            d, p = getd[i], per[i]
            diff = d.year * 12 + d.month - 1 - p.index  # type: ignore[union-attr]
            if diff > PERIOD_BACK_MONTHS or diff < -PERIOD_AHEAD_MONTHS:
                bad[i] = True
        num2_s = [t[150:160] for t in texts]
        if set(num2_s) != _BLANK10:
            bad |= np.fromiter((x != _BLANK10_S for x in num2_s), np.bool_, n)  # readings: per record
        amount, ok = money_column([t[160:172] for t in texts], r"\d{9}\.\d{2}")
        bad |= ~ok | (amount <= 0)
        keep: list[int] | None = None
        if bad.any():
            keep = np.flatnonzero(~bad).tolist()
            for i in np.flatnonzero(bad).tolist():
                line_no, text = run[i]
                self._slow_payment(text, line_no, slow)
            slow.sort(key=lambda r: r.line_no)
            self._seen.update((ops, getd[i], num1[i]) for i in keep)  # type: ignore[misc]
        else:
            self._seen.update(keys)
        self._count_fast(fast, n if keep is None else len(keep), int(amount[~bad].sum()))
        fast.extend(
            {
                "line_no": line_nos,
                "raw": texts,
                "batch": [batch] * n,
                "getd": getd,
                "oper": [t[9:12].rstrip() for t in texts],
                "typep": typep,
                "account": account,
                "period": per,
                "fio": [t[40:80].rstrip() for t in texts],
                "street": [t[80:120].rstrip() for t in texts],
                "house": [t[120:130].rstrip() for t in texts],
                "flat": [t[130:140].rstrip() for t in texts],
                "num1": num1,
                "amount": amount.tolist(),
            },
            keep,
        )

    def _arrow_run(
        self, run: list[tuple[int, str]], fast: _PostArrowRows, slow: list[PostPayment], cells: Any
    ) -> None:
        """:meth:`_fast_run` for a run of a plain block, column-wise from the records' bytes —
        ``cells``, one row of :data:`RECORD_LEN` cp866 bytes per record: fields are column slices,
        numbers come from their digits, text through the code page's table; the same checks (at
        least as strict) — a record failing any goes through :meth:`_payment`."""
        import pyarrow as pa
        import pyarrow.compute as pc

        batch = self._cur
        assert batch is not None
        n = len(run)
        ops, day = batch.ops, batch.oper_date
        dates, d_idx = fixed_distinct(cells[:, 1:9], ENCODING, self._dates, _date_or_none)
        has_date = np.array([d is not None for d in dates])[d_idx]
        num1, num1_ok = fixed_digits(cells[:, 140:150])
        keyed = has_date & num1_ok
        for k, d in enumerate(dates):  # a repeated key (OPS, GETD, NUM_1): the per-record way, in order
            if d is None:
                continue
            nums = num1[keyed & (d_idx == k)]
            if len(np.unique(nums)) != len(nums) or not self._seen.numbers(ops, d).isdisjoint(nums.tolist()):
                for line_no, text in run:
                    self._slow_payment(text, line_no, slow)
                slow.sort(key=lambda r: r.line_no)
                return
        # fields that are ASCII in a fast record (a letter there: the per-record way words it)
        bad = ~((cells[:, :40] < 0x80).all(axis=1) & (cells[:, 140:] < 0x80).all(axis=1))
        bad |= ~num1_ok | ~np.array([d == day for d in dates])[d_idx]  # GETD = the batch's date
        types, t_idx = fixed_distinct(cells[:, 12:14], ENCODING, {}, lambda x: x in _TYPEP)
        bad |= ~np.array(types)[t_idx]
        bad |= (cells[:, 14:34] == 0x20).all(axis=1)  # LC empty
        periods, p_idx = fixed_distinct(cells[:, 34:40], ENCODING, self._periods, _period_or_none)
        month = day.year * 12 + day.month - 1  # GETD of every fast record
        in_range = [
            p is not None and -PERIOD_AHEAD_MONTHS <= month - p.index <= PERIOD_BACK_MONTHS for p in periods
        ]
        bad |= ~np.array(in_range)[p_idx]
        bad |= ~(cells[:, 150:160] == 0x20).all(axis=1)  # NUM_2: readings go per record
        rubles, rubles_ok = fixed_digits(cells[:, 160:169])
        kopecks, kopecks_ok = fixed_digits(cells[:, 170:172])
        amount = rubles * 100 + kopecks
        bad |= ~(rubles_ok & kopecks_ok & (cells[:, 169] == 0x2E) & (amount > 0))
        good = ~bad
        if bad.any():
            for i in np.flatnonzero(bad).tolist():
                line_no, text = run[i]
                self._slow_payment(text, line_no, slow)
            slow.sort(key=lambda r: r.line_no)
            cells, num1, amount, p_idx = cells[good], num1[good], amount[good], p_idx[good]
        k = len(num1)
        self._seen.numbers(ops, day).update(num1.tolist())
        self._count_fast(fast, k, int(amount.sum()))
        if not k:
            return
        line_nos = np.fromiter((r[0] for r in run), np.int64, n)[good]
        cells = np.ascontiguousarray(cells)
        period_of = np.array([p.year * 100 + p.month if p else 0 for p in periods], np.int32)
        getd_s, oper, typep, account, fio, street, house, flat, num1_s = fixed_fields(
            cells, ENCODING, _TEXT_SPANS
        )
        table = pa.table(
            {
                "line_no": pa.array(line_nos),
                "raw": pa.FixedSizeBinaryArray.from_buffers(
                    pa.binary(RECORD_LEN), k, [None, pa.py_buffer(cells)]
                ),
                "b_ops": pa.repeat(pa.scalar(ops, pa.string()), k),
                "b_date": pa.repeat(pa.scalar(day, pa.date32()), k),
                "b_no": pa.repeat(pa.scalar(batch.batch_no, pa.int64()), k),
                "b_line": pa.repeat(pa.scalar(batch.line_no, pa.int64()), k),
                "getd": pa.repeat(pa.scalar(day, pa.date32()), k),
                "getd_s": getd_s,
                "oper": oper,
                "typep": typep,
                "account": pc.utf8_ltrim(account, " "),
                "period": pa.array(period_of[p_idx]),
                "fio": fio,
                "street": street,
                "house": house,
                "flat": flat,
                "num1": pa.array(num1),
                "num1_s": num1_s,
                "amount": pa.array(amount),
            }
        )
        fast.tables.append(table)

    def _count_fast(self, fast: FastRows, k: int, good_sum: int) -> None:
        """Count ``k`` fast records worth ``good_sum`` kopecks into the batch and the file."""
        self._batch_count += k
        self._file_count += k
        self._batch_sum += good_sum
        self._file_sum += good_sum
        fast.total_kop += good_sum
        self._state = "in_batch_p"

    def _slow_payment(self, text: str, line_no: int, slow: list[PostPayment]) -> None:
        assert self._cur is not None
        rec = self._payment(text, line_no, self._cur, self._seen)
        self._batch_count += 1
        self._file_count += 1
        if rec.amount is not None:
            self._batch_sum += rec.amount
            self._file_sum += rec.amount
        self._state = "in_batch_p"
        slow.append(rec)

    # -- record parsers ------------------------------------------------------------------------
    def _fmt_error(self, rec: str, field: str, value: str, line_no: int, text: str) -> None:
        self._file_error(
            ErrorCode.RECORD_FORMAT, f"запись {rec}: «{value}»", line_no=line_no, field=field, source=text
        )

    def _header(self, text: str, line_no: int) -> PostHeader | None:
        sender, date_s, no_s, inn, acc, rest = (
            text[1:7],
            text[7:15],
            text[15:18],
            text[18:28],
            text[28:48],
            text[48:],
        )
        ok = True
        for name, value, rx in (
            ("код отправителя", sender, r"\d{6}"),
            ("номер файла", no_s, r"\d{3}"),
            ("ИНН центра", inn, r"\d{10}"),
            ("р/с центра", acc, r"\d{20}"),
        ):
            if not re.fullmatch(rx, value):
                self._fmt_error("H", name, value, line_no, text)
                ok = False
        try:
            file_date = parse_date(date_s, "DDMMYYYY")
        except FieldValueError:
            self._fmt_error("H", "дата файла", date_s, line_no, text)
            ok = False
        if rest.strip():
            self._fmt_error("H", "заполнитель", rest.strip(), line_no, text)
        if not ok:
            return None
        if self.center_inn is not None and inn != self.center_inn:
            self._file_error(
                ErrorCode.WRONG_RECIPIENT,
                f"ИНН в заголовке {inn}, ИНН центра {self.center_inn}",
                line_no=line_no,
                field="ИНН центра",
            )
        return PostHeader(sender, file_date, int(no_s), inn, acc)

    def _batch(self, text: str, line_no: int) -> PostBatch:
        ops, date_s, no_s, rest = text[1:7], text[7:15], text[15:20], text[20:]
        oper_date = dt.date.min
        if not re.fullmatch(r"\d{6}", ops):
            self._fmt_error("B", "OPS", ops, line_no, text)
        try:
            oper_date = parse_date(date_s, "DDMMYYYY")
        except FieldValueError:
            self._fmt_error("B", "дата опердня", date_s, line_no, text)
        if not re.fullmatch(r"\d{5}", no_s):
            self._fmt_error("B", "номер пачки", no_s, line_no, text)
        if rest.strip():
            self._fmt_error("B", "заполнитель", rest.strip(), line_no, text)
        return PostBatch(ops, oper_date, int(no_s) if no_s.isdigit() else 0, line_no=line_no)

    def _trailer_e(self, text: str, line_no: int, batch: PostBatch | None, count: int, total: int) -> None:
        ops, count_s, sum_s, rest = text[1:7], text[7:13], text[13:25], text[25:]
        if not re.fullmatch(r"\d{6}", count_s):
            self._fmt_error("E", "кол-во P в пачке", count_s, line_no, text)
            return
        if not _MONEY12.fullmatch(sum_s):
            self._fmt_error("E", "сумма пачки", sum_s, line_no, text)
            return
        if rest.strip():
            self._fmt_error("E", "заполнитель", rest.strip(), line_no, text)
        if batch is None:
            return
        if ops != batch.ops:
            self._file_error(
                ErrorCode.BATCH_MISMATCH,
                f"OPS в E {ops}, в B {batch.ops} (строка {batch.line_no})",
                line_no=line_no,
                field="OPS",
            )
        if int(count_s) != count:
            self._file_error(
                ErrorCode.BATCH_MISMATCH,
                f"количество платежей: в E {int(count_s)}, по записям {count}",
                line_no=line_no,
                field="кол-во P в пачке",
            )
        declared = parse_money(sum_s, decimal_sep=".")
        if declared != total:
            self._file_error(
                ErrorCode.BATCH_MISMATCH,
                f"сумма: в E {format_money(declared)}, по записям {format_money(total)}",
                line_no=line_no,
                field="сумма пачки",
            )

    def _trailer_t(self, text: str, line_no: int, batches: int, count: int, total: int) -> None:
        nb_s, count_s, sum_s, rest = text[1:5], text[5:13], text[13:28], text[28:]
        if (
            not re.fullmatch(r"\d{4}", nb_s)
            or not re.fullmatch(r"\d{8}", count_s)
            or not re.fullmatch(r"\d{12}\.\d{2}", sum_s)
        ):
            self._fmt_error("T", "итоги", text[1:28], line_no, text)
            return
        if rest.strip():
            self._fmt_error("T", "заполнитель", rest.strip(), line_no, text)
        declared = parse_money(sum_s, decimal_sep=".")
        for what, d, a in (
            ("количество пачек", int(nb_s), batches),
            ("количество платежей", int(count_s), count),
        ):
            if d != a:
                self._file_error(
                    ErrorCode.CONTROL_MISMATCH, f"{what}: в T {d}, по файлу {a}", line_no=line_no
                )
        if declared != total:
            self._file_error(
                ErrorCode.CONTROL_MISMATCH,
                f"сумма: в T {format_money(declared)}, по файлу {format_money(total)}",
                line_no=line_no,
            )

    def _payment(self, text: str, line_no: int, batch: PostBatch, seen: _SeenKeys) -> PostPayment:
        errors: list[LineError] = []
        # the fields of P_LAYOUT, sliced directly (hot path)
        f = {
            "GETD": text[1:9],
            "OPER": text[9:12],
            "TYPEP": text[12:14],
            "LC": text[14:34],
            "YEAR": text[34:38],
            "MONTH": text[38:40],
            "FIO": text[40:80],
            "STREET": text[80:120],
            "HOUSE": text[120:130],
            "FLAT": text[130:140],
            "NUM_1": text[140:150],
            "NUM_2": text[150:160],
            "SUMMA": text[160:172],
        }

        def err(code: ErrorCode, field: str, detail: str = "") -> None:
            errors.append(self._line_error(code, line_no, field, detail, text))

        getd: dt.date | None = None
        try:
            getd = parse_date(f["GETD"], "DDMMYYYY")
        except FieldValueError as exc:
            err(exc.code, "GETD", exc.detail)
        if getd is not None and getd != batch.oper_date:
            err(
                ErrorCode.DATE_MISMATCH,
                "GETD",
                f"{format_date(getd, 'DD.MM.YYYY')}, дата пачки {format_date(batch.oper_date, 'DD.MM.YYYY')}",
            )
        typep = f["TYPEP"]
        if typep not in ("01", "02"):
            err(ErrorCode.BAD_PAYMENT_TYPE, "TYPEP", f"«{typep}»")
        account = f["LC"].strip()
        if not account:
            err(ErrorCode.EMPTY_REQUIRED, "LC")
        period: Period | None = None
        try:
            period = Period.parse(f["YEAR"] + f["MONTH"], "YYYYMM")
        except FieldValueError as exc:
            err(exc.code, "YEAR/MONTH", exc.detail)
        if period is not None and getd is not None:
            diff = getd.year * 12 + getd.month - 1 - period.index
            if diff > PERIOD_BACK_MONTHS or diff < -PERIOD_AHEAD_MONTHS:
                err(
                    ErrorCode.PERIOD_OUT_OF_RANGE,
                    "YEAR/MONTH",
                    f"{period}: допустимо не более {PERIOD_BACK_MONTHS} мес. назад и "
                    f"{PERIOD_AHEAD_MONTHS} мес. вперёд от даты приёма",
                )
        num1: int | None = None
        if _NUM10.fullmatch(f["NUM_1"]):
            num1 = int(f["NUM_1"])
        else:
            err(ErrorCode.BAD_VALUE, "NUM_1", f"«{f['NUM_1']}»: ожидается 10 цифр")
        num2: int | None = None
        if f["NUM_2"].strip():
            if _NUM10.fullmatch(f["NUM_2"]):
                num2 = int(f["NUM_2"])
            else:
                err(ErrorCode.BAD_VALUE, "NUM_2", f"«{f['NUM_2']}»: ожидается 10 цифр или пробелы")
        amount: int | None = None
        if _MONEY12.fullmatch(f["SUMMA"]):
            amount = parse_money(f["SUMMA"], decimal_sep=".")
            if amount <= 0:
                err(ErrorCode.AMOUNT_NOT_POSITIVE, "SUMMA", f["SUMMA"])
        else:
            err(ErrorCode.BAD_AMOUNT, "SUMMA", f"«{f['SUMMA']}»: ожидается 000000000.00")
        if getd is not None and num1 is not None:
            key = (batch.ops, getd, num1)
            if key in seen:
                err(
                    ErrorCode.DUPLICATE_IN_FILE,
                    "NUM_1",
                    f"OPS {batch.ops}, GETD {f['GETD']}, NUM_1 {f['NUM_1']}",
                )
            seen.add(key)
        return PostPayment(
            batch,
            getd,
            f["OPER"].rstrip(),
            typep,
            account,
            period,
            f["FIO"].rstrip(),
            f["STREET"].rstrip(),
            f["HOUSE"].rstrip(),
            f["FLAT"].rstrip(),
            num1,
            num2,
            amount,
            line_no=line_no,
            raw=text,
            errors=tuple(errors),
        )


def parse(source: Source, file_name: str | None = None, *, center_inn: str | None = None) -> PostFile:
    """Parse a post registry. ``center_inn``: if given, an ``H`` record with another ИНН is a
    file error (WRONG_RECIPIENT)."""
    return PostFile(source, source_name(source, file_name), center_inn=center_inn)


# --------------------------------------------------------------------------------------------
# Writer
# --------------------------------------------------------------------------------------------


def _text(value: str, width: int, name: str) -> str:
    if len(value) > width:
        raise ValueError(f"{name} {value!r} is longer than {width}")
    return value.ljust(width)


def _num(value: int, width: int, name: str) -> str:
    s = f"{value:0{width}d}"
    if len(s) > width or value < 0:
        raise ValueError(f"{name} {value} does not fit {width} digits")
    return s


def _money(kop: int, width: int, name: str) -> str:
    if kop < 0:
        raise ValueError(f"{name} must not be negative")
    s = format_money(kop, ".", width=width)
    if len(s) > width:
        raise ValueError(f"{name} {kop} does not fit {width} characters")
    return s


def _record(body: str) -> bytes:
    if len(body) > RECORD_LEN:
        raise ValueError(f"record longer than {RECORD_LEN}: {body!r}")
    return (body.ljust(RECORD_LEN) + "\r\n").encode(ENCODING)


def format_payment(p: PostPayment) -> str:
    """The 172-character ``P`` record of a payment."""
    if p.getd is None or p.period is None or p.num1 is None or p.amount is None:
        raise ValueError(f"payment at line {p.line_no} has unset fields")
    return "".join(
        [
            "P",
            format_date(p.getd, "DDMMYYYY"),
            _text(p.oper, 3, "OPER"),
            _text(p.typep, 2, "TYPEP"),
            _text(p.account, 20, "LC"),
            f"{p.period.year:04d}{p.period.month:02d}",
            _text(p.fio, 40, "FIO"),
            _text(p.street, 40, "STREET"),
            _text(p.house, 10, "HOUSE"),
            _text(p.flat, 10, "FLAT"),
            _num(p.num1, 10, "NUM_1"),
            _num(p.num2, 10, "NUM_2") if p.num2 is not None else " " * 10,
            _money(p.amount, 12, "SUMMA"),
        ]
    )


def write(
    dst: str | IO[bytes],
    header: PostHeader,
    batches: Iterable[tuple[PostBatch, Iterable[PostPayment]]],
) -> WriteSummary:
    """Write a registry: ``H``, each batch as ``B``/``P``+/``E`` (totals computed), ``T``.

    Strict: a value that does not fit its width or cp866 raises ``ValueError``/``UnicodeEncodeError``.
    """
    total = count = nbatches = 0
    with open_dest(dst) as out:
        out.write(
            _record(
                "H"
                + _num(int(header.sender_code), 6, "код отправителя")
                + format_date(header.file_date, "DDMMYYYY")
                + _num(header.file_no, 3, "номер файла")
                + _text(header.center_inn, 10, "ИНН")
                + _text(header.center_account, 20, "р/с")
            )
        )
        for batch, payments in batches:
            nbatches += 1
            out.write(
                _record(
                    "B"
                    + _text(batch.ops, 6, "OPS")
                    + format_date(batch.oper_date, "DDMMYYYY")
                    + _num(batch.batch_no, 5, "номер пачки")
                )
            )
            bcount = bsum = 0
            for p in payments:
                out.write(_record(format_payment(p)))
                bcount += 1
                bsum += p.amount  # type: ignore[operator]
            if bcount == 0:
                raise ValueError(f"batch {batch.batch_no} has no payments")
            out.write(
                _record(
                    "E" + _text(batch.ops, 6, "OPS") + _num(bcount, 6, "кол-во") + _money(bsum, 12, "сумма")
                )
            )
            count += bcount
            total += bsum
        out.write(
            _record(
                "T"
                + _num(nbatches, 4, "кол-во пачек")
                + _num(count, 8, "кол-во P")
                + _money(total, 15, "сумма файла")
            )
        )
    return WriteSummary(count, total, {"batches": nbatches})


def group_batches(payments: Iterable[PostPayment]) -> Iterator[tuple[PostBatch, list[PostPayment]]]:
    """Group consecutive payments by their batch (input for :func:`write`)."""
    current: PostBatch | None = None
    items: list[PostPayment] = []
    for p in payments:
        if current is not None and p.batch is not current and p.batch != current:
            yield current, items
            items = []
        current = p.batch
        items.append(p)
    if current is not None:
        yield current, items
