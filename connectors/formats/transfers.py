"""Provider transfer registry (реестр перечислений поставщику), formats spec section 6.1.

Outbound, same family as the bank registry: cp1251, ``;``, ``,`` decimals, CRLF. Two header
lines ``#PROVIDER <ИНН>;<р/с>`` and ``#DATES <с DD.MM.YYYY>;<по DD.MM.YYYY>``, then 14-field
lines, then the control line ``=<строк>;<Σ9>;<Σ10>;<Σ11>;<Σ12>;<№ п/п>;<дата п/п>;``.

API::

    write(dst, header, lines, order_no=..., order_date=..., fee_rate=None) -> WriteSummary
    center_fee(amount_kop, rate) -> int          # round half up of amount × rate
    parse(source, file_name=None) -> TransferFile  # streaming, for round trips and checks

Writer invariants (violations raise ``ValueError``): net = amount − agent commission − center
fee for every line; with ``fee_rate`` given, fee = round half up (amount × rate); kinds 01/02;
totals are the sums of the line values; ``;`` in text becomes ``,``.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
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
    clean_text,
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
    "TransferHeader",
    "TransferLine",
    "TransferControl",
    "TransferFile",
    "parse",
    "write",
    "center_fee",
    "ENCODING",
    "KIND_PAYMENT",
    "KIND_PENALTY",
]

ENCODING = "cp1251"
FIELD_COUNT = 14
KIND_PAYMENT = "01"
KIND_PENALTY = "02"
COLUMNS = (
    "Дата приёма",
    "Лицевой счёт",
    "ФИО",
    "Адрес",
    "Период",
    "Код услуги",
    "Наименование услуги",
    "Вид суммы",
    "Сумма распределена",
    "Комиссия агента",
    "Вознаграждение центра",
    "К перечислению",
    "Агент",
    "ID исходной операции",
)
WIDTHS = {1: 20, 2: 100, 3: 200, 5: 10, 6: 100, 12: 10, 13: 40}  # 0-based column -> max length
SUM_NAMES = ("amount", "agent_commission", "center_fee", "net")


def center_fee(amount_kop: int, rate: Decimal) -> int:
    """The center's fee on an allocation: round half up of ``amount × rate`` (kopecks)."""
    return int((Decimal(amount_kop) * rate).quantize(Decimal(1), rounding=ROUND_HALF_UP))


@dataclass(frozen=True)
class TransferHeader:
    provider_inn: str
    provider_account: str  # р/с поставщика
    date_from: dt.date
    date_to: dt.date


@dataclass(frozen=True)
class TransferLine(RecordMeta):
    """One allocation of a payment to this provider."""

    accepted_on: dt.date | None  # дата приёма платежа агентом
    account: str
    fio: str
    address: str
    period: Period | None
    service_code: str  # код услуги поставщика
    service_name: str
    kind: str  # "01" платёж / "02" пени
    amount: int | None  # сумма распределена
    agent_commission: int | None  # комиссия агента удержана
    center_fee: int | None  # вознаграждение центра удержано
    net: int | None  # к перечислению
    agent: str  # SBER, POST, ...
    source_op_id: str  # СУИП or OPS-GETD-NUM_1


@dataclass(frozen=True)
class TransferControl:
    count: int
    amount: int
    agent_commission: int
    center_fee: int
    net: int
    order_no: str
    order_date: dt.date
    line_no: int = 0


def _format_line(t: TransferLine) -> tuple[str, dict[str, int]]:
    if t.accepted_on is None or t.period is None:
        raise ValueError(f"transfer line for {t.account!r} has unset date/period")
    if t.kind not in (KIND_PAYMENT, KIND_PENALTY):
        raise ValueError(f"kind must be 01 or 02, got {t.kind!r}")
    values = {
        "amount": t.amount,
        "agent_commission": t.agent_commission,
        "center_fee": t.center_fee,
        "net": t.net,
    }
    if any(not isinstance(v, int) for v in values.values()):
        raise ValueError(f"transfer line for {t.account!r} has unset amounts")
    sums: dict[str, int] = values  # type: ignore[assignment]
    if any(v < 0 for v in sums.values()):
        raise ValueError(f"negative amount in transfer line for {t.account!r} op {t.source_op_id!r}")
    if sums["net"] != sums["amount"] - sums["agent_commission"] - sums["center_fee"]:
        raise ValueError(f"net ≠ amount − commission − fee for {t.account!r} op {t.source_op_id!r}")
    parts = [
        format_date(t.accepted_on, "DD.MM.YYYY"),
        clean_text(t.account),
        clean_text(t.fio),
        clean_text(t.address),
        t.period.mmyyyy,
        clean_text(t.service_code),
        clean_text(t.service_name),
        t.kind,
        *(format_money(sums[n]) for n in SUM_NAMES),
        clean_text(t.agent),
        clean_text(t.source_op_id),
    ]
    return ";".join(parts), sums


def write(
    dst: str | IO[bytes],
    header: TransferHeader,
    lines: Iterable[TransferLine],
    *,
    order_no: str,
    order_date: dt.date,
    fee_rate: Decimal | None = None,
    encode_errors: str = "replace",
) -> WriteSummary:
    """Write one provider's registry for one transfer (п/п); returns count and totals.

    Text not representable in cp1251 is replaced by ``?`` (``encode_errors``), so one odd
    character in a name does not block a payout.
    """
    totals = dict.fromkeys(SUM_NAMES, 0)
    count = 0
    with open_dest(dst) as out:
        out.write(
            f"#PROVIDER {clean_text(header.provider_inn)};{clean_text(header.provider_account)}\r\n".encode(
                ENCODING
            )
        )
        out.write(
            f"#DATES {format_date(header.date_from, 'DD.MM.YYYY')};"
            f"{format_date(header.date_to, 'DD.MM.YYYY')}\r\n".encode(ENCODING)
        )
        for t in lines:
            text, sums = _format_line(t)
            if fee_rate is not None and sums["center_fee"] != center_fee(sums["amount"], fee_rate):
                raise ValueError(
                    f"center fee {sums['center_fee']} ≠ round({sums['amount']} × {fee_rate}) "
                    f"for op {t.source_op_id!r}"
                )
            out.write((text + "\r\n").encode(ENCODING, errors=encode_errors))
            count += 1
            for n in SUM_NAMES:
                totals[n] += sums[n]
        control = (
            ";".join(
                [
                    str(count),
                    *(format_money(totals[n]) for n in SUM_NAMES),
                    clean_text(order_no),
                    format_date(order_date, "DD.MM.YYYY"),
                ]
            )
            + ";"
        )
        out.write(f"={control}\r\n".encode(ENCODING))
    return WriteSummary(count, totals["amount"], totals)


class TransferFile(ParsedFile[TransferLine]):
    """Streaming result of :func:`parse`; ``header`` and ``control`` set while reading."""

    kind = SourceKind.TRANSFER

    def __init__(self, source: Source, file_name: str) -> None:
        super().__init__(file_name)
        self._source = source
        self.header: TransferHeader | None = None
        self.control: TransferControl | None = None
        self._provider: tuple[str, str] | None = None

    def _records(self) -> Iterator[TransferLine]:
        totals = dict.fromkeys(SUM_NAMES, 0)
        count = 0
        control_at = 0
        any_line = False
        with open_source(self._source) as stream:
            for line_no, raw in iter_lines(stream):
                if self._too_many_errors:
                    break
                any_line = True
                if raw is None:
                    self._file_error(ErrorCode.LINE_TOO_LONG, line_no=line_no)
                    break
                try:
                    text = raw.decode(ENCODING)
                except UnicodeDecodeError:
                    self._file_error(ErrorCode.ENCODING, "не cp1251", line_no=line_no)
                    continue
                if find_control_chars(text) >= 0:
                    self._file_error(ErrorCode.CONTROL_CHARS, line_no=line_no, source=text)
                    continue
                if line_no == 1:
                    self._header_line1(text)
                    continue
                if line_no == 2:
                    self._header_line2(text)
                    continue
                if text.startswith("="):
                    if control_at:
                        self._file_error(ErrorCode.MULTIPLE_CONTROL, line_no=line_no, source=text)
                    else:
                        control_at = line_no
                        self._take_control(text[1:], line_no)
                    continue
                if control_at:
                    self._file_error(ErrorCode.AFTER_CONTROL, line_no=line_no, source=text)
                    continue
                fields = text.split(";")
                if len(fields) != FIELD_COUNT:
                    self._file_error(
                        ErrorCode.FIELD_COUNT,
                        f"найдено {len(fields)}, нужно {FIELD_COUNT}",
                        line_no=line_no,
                        source=text,
                    )
                    continue
                rec = self._line(fields, line_no, text)
                count += 1
                for n in SUM_NAMES:
                    v = getattr(rec, n)
                    if v is not None:
                        totals[n] += v
                yield rec
        if not any_line:
            self._file_error(ErrorCode.EMPTY_FILE)
            return
        if not control_at:
            self._file_error(ErrorCode.NO_CONTROL)
        c = self.control
        if c is not None:
            if c.count != count:
                self._file_error(
                    ErrorCode.CONTROL_MISMATCH,
                    f"количество строк: {c.count}, по строкам {count}",
                    line_no=c.line_no,
                )
            for n in SUM_NAMES:
                if getattr(c, n) != totals[n]:
                    self._file_error(
                        ErrorCode.CONTROL_MISMATCH,
                        f"{n}: {format_money(getattr(c, n))}, по строкам {format_money(totals[n])}",
                        line_no=c.line_no,
                    )

    def _header_line1(self, text: str) -> None:
        m = re.fullmatch(r"#PROVIDER ([^;]*);([^;]*)", text)
        if not m:
            self._file_error(
                ErrorCode.MISSING_HEADER, "ожидается «#PROVIDER <ИНН>;<р/с>»", line_no=1, source=text
            )
            return
        self._provider = (m.group(1), m.group(2))

    def _header_line2(self, text: str) -> None:
        m = re.fullmatch(r"#DATES ([^;]*);([^;]*)", text)
        provider = self._provider
        if not m:
            self._file_error(ErrorCode.MISSING_HEADER, "ожидается «#DATES <с>;<по>»", line_no=2, source=text)
            return
        try:
            d1, d2 = parse_date(m.group(1), "DD.MM.YYYY"), parse_date(m.group(2), "DD.MM.YYYY")
        except FieldValueError as exc:
            self._file_error(ErrorCode.RECORD_FORMAT, exc.detail, line_no=2, source=text)
            return
        if provider is not None:
            self.header = TransferHeader(provider[0], provider[1], d1, d2)

    def _take_control(self, text: str, line_no: int) -> None:
        parts = text.split(";")
        if parts and parts[-1] == "":
            parts.pop()
        try:
            if len(parts) != 7 or not parts[0].isdigit():
                raise FieldValueError(ErrorCode.CONTROL_FORMAT, f"ожидается 7 полей, найдено {len(parts)}")
            amount, commission, fee, net = (parse_money(x) for x in parts[1:5])
            order_date = parse_date(parts[6], "DD.MM.YYYY")
            self.control = TransferControl(
                int(parts[0]), amount, commission, fee, net, parts[5], order_date, line_no=line_no
            )
        except FieldValueError as exc:
            self._file_error(ErrorCode.CONTROL_FORMAT, exc.detail, line_no=line_no, source=text)

    def _line(self, f: list[str], line_no: int, text: str) -> TransferLine:
        errors: list[LineError] = []

        def err(code: ErrorCode, col: int, detail: str = "") -> None:
            errors.append(self._line_error(code, line_no, COLUMNS[col], detail, text))

        accepted_on = period = None
        try:
            accepted_on = parse_date(f[0], "DD.MM.YYYY")
        except FieldValueError as exc:
            err(exc.code, 0, exc.detail)
        try:
            period = Period.parse(f[4], "MMYYYY")
        except FieldValueError as exc:
            err(exc.code, 4, exc.detail)
        if f[7] not in (KIND_PAYMENT, KIND_PENALTY):
            err(ErrorCode.BAD_PAYMENT_TYPE, 7, f"«{f[7]}»")
        for col, width in WIDTHS.items():
            if len(f[col]) > width:
                err(ErrorCode.FIELD_TOO_LONG, col, f"{len(f[col])} символов, допустимо {width}")
        for col in (1, 5, 12, 13):
            if not f[col]:
                err(ErrorCode.EMPTY_REQUIRED, col)
        amounts: list[int | None] = []
        for col in range(8, 12):
            try:
                amounts.append(parse_money(f[col], decimal_sep=","))
            except FieldValueError as exc:
                amounts.append(None)
                err(exc.code, col, exc.detail)
        a, c, fee, net = amounts
        if None not in amounts and net != a - c - fee:  # type: ignore[operator]
            err(ErrorCode.AMOUNT_MISMATCH, 11, f"{f[11]} ≠ {f[8]} − {f[9]} − {f[10]}")
        return TransferLine(
            accepted_on,
            f[1],
            f[2],
            f[3],
            period,
            f[5],
            f[6],
            f[7],
            a,
            c,
            fee,
            net,
            f[12],
            f[13],
            line_no=line_no,
            raw=text,
            errors=tuple(errors),
        )


def parse(source: Source, file_name: str | None = None) -> TransferFile:
    """Parse a transfer registry (used for round trips and for checking generated files)."""
    return TransferFile(source, source_name(source, file_name))
