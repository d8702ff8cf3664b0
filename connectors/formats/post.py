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
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import IO

from .common import (
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
    iter_lines,
    open_dest,
    open_source,
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


class PostFile(ParsedFile[PostPayment]):
    """Streaming result of :func:`parse`; ``header`` is set once the ``H`` record is read."""

    kind = SourceKind.POST

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
    def _records(self) -> Iterator[PostPayment]:
        state = "start"
        batch: PostBatch | None = None
        batch_count = batch_sum = 0
        file_count = file_sum = batches = 0
        seen_keys: set[tuple[str, dt.date, int]] = set()
        any_line = False
        with open_source(self._source) as stream:
            for line_no, raw in iter_lines(stream, max_line=4096):
                if self._too_many_errors:
                    break
                any_line = True
                if raw is None:
                    self._file_error(ErrorCode.LINE_TOO_LONG, line_no=line_no)
                    break
                text = raw.decode(ENCODING)  # cp866 maps all 256 bytes
                pos = find_control_chars(text)
                if pos >= 0:
                    self._file_error(
                        ErrorCode.CONTROL_CHARS,
                        f"символ с кодом {ord(text[pos])} в позиции {pos + 1}",
                        line_no=line_no,
                    )
                    continue
                if len(text) != RECORD_LEN:
                    self._file_error(
                        ErrorCode.RECORD_LENGTH,
                        f"{len(text)} символов вместо {RECORD_LEN}",
                        line_no=line_no,
                        source=text,
                    )
                    continue
                rtype = text[0]
                if rtype not in "HBPET":
                    self._file_error(ErrorCode.RECORD_TYPE, f"«{rtype}»", line_no=line_no, source=text)
                    continue
                if state == "end":
                    self._file_error(
                        ErrorCode.RECORD_ORDER,
                        f"запись {rtype} после итоговой записи T",
                        line_no=line_no,
                        source=text,
                    )
                    continue
                if state == "start" and rtype != "H":
                    self._file_error(ErrorCode.MISSING_HEADER, f"первая запись — {rtype}", line_no=line_no)
                    state = "after_h"
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
                        continue
                if rtype == "H":
                    self.header = self._header(text, line_no)
                    state = "after_h"
                elif rtype == "B":
                    if state in ("in_batch", "in_batch_p"):
                        self._file_error(
                            ErrorCode.RECORD_ORDER, "пачка не закрыта записью E", line_no=line_no
                        )
                    batch = self._batch(text, line_no)
                    batch_count = batch_sum = 0
                    batches += 1
                    state = "in_batch"
                elif rtype == "P":
                    if batch is None:
                        continue  # order error already reported
                    rec = self._payment(text, line_no, batch, seen_keys)
                    batch_count += 1
                    file_count += 1
                    if rec.amount is not None:
                        batch_sum += rec.amount
                        file_sum += rec.amount
                    state = "in_batch_p"
                    yield rec
                elif rtype == "E":
                    self._trailer_e(text, line_no, batch, batch_count, batch_sum)
                    batch = None
                    state = "after_e"
                else:  # T
                    self._trailer_t(text, line_no, batches, file_count, file_sum)
                    state = "end"
        self.batch_count, self.payment_count = batches, file_count
        if not any_line:
            self._file_error(ErrorCode.EMPTY_FILE)
            return
        if state == "start":  # not a single usable record
            self._file_error(ErrorCode.MISSING_HEADER)
        if state != "end":
            self._file_error(ErrorCode.MISSING_TRAILER)

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

    def _payment(
        self, text: str, line_no: int, batch: PostBatch, seen: set[tuple[str, dt.date, int]]
    ) -> PostPayment:
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
