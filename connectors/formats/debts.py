"""Debts file for banks (реестр задолженности), formats spec section 6.2.

Outbound. Default layout ("Город" style, S6): three header lines ``#FILESUM <Σ balances>``,
``#TYPE 7``, ``#SERVICE <service code>``, then ``ФИО;Адрес;ЛС;Баланс;Услуга;Период;ЕЛС`` lines,
cp1251, CRLF, decimal ``.``. Everything a bank may want differently (column set, decimal
separator, encoding, negative balances, header lines, name length limits) is a
:class:`BankProfile`: configuration, not code. :data:`SBER_S5_PROFILE` is the S5 variant
``ЛС;ЕЛС;ФИАС,кв;ФИО;Адрес;Период;Сумма`` without header lines.

API::

    write(dst, lines, profile=DEFAULT_PROFILE) -> WriteSummary   # count for the export log
    parse(source, file_name=None, profile=DEFAULT_PROFILE) -> DebtsFile
    debts_file_name(inn, account, number, period) -> "ИНН_РС_NNN_ММГГ.txt"

Writer invariants: ``#FILESUM`` = Σ written balances; closed accounts with zero balance are left
out (``DebtLine.closed``), open ones are written even with zero debt; ЛС unique (``ValueError``
otherwise); ФИО cut to ``profile.fio_max_len`` without ellipsis; no ``;`` in fields; a negative
balance (overpayment) is written only if ``profile.allow_negative``, else as 0.00.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import IO

from .common import (
    DuplicateTracker,
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
    format_money,
    iter_lines,
    open_dest,
    open_source,
    parse_money,
    source_name,
)
from .protocol import ErrorCode

__all__ = [
    "BankProfile",
    "DEFAULT_PROFILE",
    "SBER_S5_PROFILE",
    "DebtLine",
    "DebtsHeader",
    "DebtsFile",
    "parse",
    "write",
    "debts_file_name",
    "COLUMN_TITLES",
]

COLUMN_TITLES = {
    "fio": "ФИО",
    "address": "Адрес",
    "account": "Идентификатор ЛС",
    "balance": "Баланс",
    "service": "Услуга",
    "period": "Период",
    "els": "ЕЛС",
    "fias": "ФИАС,кв",
}


@dataclass(frozen=True)
class BankProfile:
    """How one bank wants its debts file. ``columns`` is an ordered subset of
    :data:`COLUMN_TITLES` keys."""

    name: str = "gorod"
    columns: tuple[str, ...] = ("fio", "address", "account", "balance", "service", "period", "els")
    decimal_sep: str = "."
    encoding: str = "cp1251"  # S4 also allows koi8_r and utf-8
    allow_negative: bool = False
    header_lines: bool = True  # #FILESUM / #TYPE / #SERVICE
    type_code: str = "7"
    service_code: str = ""  # value of #SERVICE (the bank's id of the center's service)
    service_name: str = "ЖКУ"  # default "Услуга" column
    fio_max_len: int = 25  # S3: Sber cuts ФИО to 25
    address_max_len: int | None = None  # S3 cut to 64 for some banks
    encode_errors: str = "replace"

    def __post_init__(self) -> None:
        unknown = set(self.columns) - set(COLUMN_TITLES)
        if unknown or "account" not in self.columns or "balance" not in self.columns:
            raise ValueError(f"bad column set {self.columns!r}")


DEFAULT_PROFILE = BankProfile()
SBER_S5_PROFILE = BankProfile(
    name="sber_s5",
    columns=("account", "els", "fias", "fio", "address", "period", "balance"),
    header_lines=False,
)


def debts_file_name(inn: str, account: str, number: int, period: Period) -> str:
    """S4 name ``ИНН_РС_НОМЕР_ММГГ.txt``, e.g. ``6234000011_40702810900000001234_001_0325.txt``."""
    return f"{inn}_{account}_{number:03d}_{period.mmyy}.txt"


@dataclass(frozen=True)
class DebtLine(RecordMeta):
    """One account's balance at the end of the period (debt + пени; negative = overpaid)."""

    account: str
    fio: str
    address: str  # "Рязань г,Ленина ул,5,12"
    balance: int | None  # kopecks
    service: str | None = None  # None -> profile.service_name
    period: Period | None = None
    els: str | None = None  # ЕЛС, 10 chars
    fias: str | None = None  # S5 "ФИАС,кв"
    closed: bool = field(default=False, compare=False)  # writer input only


@dataclass(frozen=True)
class DebtsHeader:
    filesum: int
    type_code: str
    service_code: str


def _line_values(d: DebtLine, profile: BankProfile, balance: int) -> list[str]:
    fio = clean_text(d.fio)[: profile.fio_max_len]
    address = clean_text(d.address)
    if profile.address_max_len is not None:
        address = address[: profile.address_max_len]
    values = {
        "fio": fio,
        "address": address,
        "account": clean_text(d.account),
        "balance": format_money(balance, profile.decimal_sep),
        "service": clean_text(d.service if d.service is not None else profile.service_name),
        "period": d.period.mmyyyy if d.period else "",
        "els": clean_text(d.els or ""),
        "fias": clean_text(d.fias or ""),
    }
    return [values[c] for c in profile.columns]


def write(
    dst: str | IO[bytes], lines: Iterable[DebtLine], profile: BankProfile = DEFAULT_PROFILE
) -> WriteSummary:
    """Write a debts file. The body is spooled (memory up to 16 MiB, then a temp file) so that
    ``#FILESUM`` can be written first; memory stays bounded for any number of accounts.
    Returns the count of written lines (for the export log), Σ balances and the skipped count."""
    total = count = skipped = 0
    dups = DuplicateTracker()
    with tempfile.SpooledTemporaryFile(max_size=16 << 20) as body:
        for d in lines:
            if d.balance is None:
                raise ValueError(f"account {d.account!r} has no balance")
            if d.closed and d.balance == 0:
                skipped += 1
                continue
            balance = d.balance if (d.balance >= 0 or profile.allow_negative) else 0
            text = ";".join(_line_values(d, profile, balance))
            body.write((text + "\r\n").encode(profile.encoding, errors=profile.encode_errors))
            dups.add(d.account, count + 1)
            count += 1
            total += balance
        dup = dups.duplicates()
        if dup:
            raise ValueError(f"accounts repeat in the debts file (data lines {dup[0]})")
        with open_dest(dst) as out:
            if profile.header_lines:
                out.write(
                    (
                        f"#FILESUM {format_money(total, profile.decimal_sep)}\r\n"
                        f"#TYPE {profile.type_code}\r\n"
                        f"#SERVICE {profile.service_code}\r\n"
                    ).encode(profile.encoding)
                )
            body.seek(0)
            shutil.copyfileobj(body, out)
    return WriteSummary(count, total, {"balance": total}, skipped=skipped)


class DebtsFile(ParsedFile[DebtLine]):
    """Streaming result of :func:`parse`; ``header`` set after the header lines."""

    kind = SourceKind.DEBTS

    def __init__(self, source: Source, file_name: str, profile: BankProfile) -> None:
        super().__init__(file_name)
        self._source = source
        self.profile = profile
        self.header: DebtsHeader | None = None

    def _records(self) -> Iterator[DebtLine]:
        p = self.profile
        head: dict[str, str] = {}
        dups = DuplicateTracker()
        total = 0
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
                    text = raw.decode(p.encoding)
                except UnicodeDecodeError:
                    self._file_error(ErrorCode.ENCODING, f"не {p.encoding}", line_no=line_no)
                    continue
                if find_control_chars(text) >= 0:
                    self._file_error(ErrorCode.CONTROL_CHARS, line_no=line_no, source=text)
                    continue
                if p.header_lines and line_no <= 3:
                    tag = ("#FILESUM", "#TYPE", "#SERVICE")[line_no - 1]
                    m = re.fullmatch(re.escape(tag) + r" (.*)", text)
                    if not m:
                        self._file_error(
                            ErrorCode.MISSING_HEADER, f"ожидается «{tag} …»", line_no=line_no, source=text
                        )
                    else:
                        head[tag] = m.group(1)
                    continue
                fields = text.split(";")
                if len(fields) != len(p.columns):
                    self._file_error(
                        ErrorCode.FIELD_COUNT,
                        f"найдено {len(fields)}, нужно {len(p.columns)}",
                        line_no=line_no,
                        source=text,
                    )
                    continue
                rec = self._line(dict(zip(p.columns, fields, strict=True)), line_no, text)
                if rec.balance is not None:
                    total += rec.balance
                dups.add(rec.account, line_no)
                yield rec
        if not any_line:
            self._file_error(ErrorCode.EMPTY_FILE)
            return
        for group in dups.duplicates():
            self._file_error(
                ErrorCode.DUPLICATE_KEY_IN_FILE,
                f"ЛС повторяется в строках {', '.join(map(str, group))}",
                line_no=group[1],
                field=COLUMN_TITLES["account"],
            )
        if p.header_lines and len(head) == 3:
            try:
                filesum = parse_money(head["#FILESUM"], decimal_sep=p.decimal_sep, allow_negative=True)
            except FieldValueError as exc:
                self._file_error(ErrorCode.CONTROL_FORMAT, exc.detail, line_no=1)
                return
            self.header = DebtsHeader(filesum, head["#TYPE"], head["#SERVICE"])
            if filesum != total:
                self._file_error(
                    ErrorCode.CONTROL_MISMATCH,
                    f"#FILESUM {format_money(filesum)}, сумма балансов {format_money(total)}",
                    line_no=1,
                )

    def _line(self, f: dict[str, str], line_no: int, text: str) -> DebtLine:
        errors: list[LineError] = []
        balance: int | None = None
        try:
            balance = parse_money(f["balance"], decimal_sep=self.profile.decimal_sep, allow_negative=True)
        except FieldValueError as exc:
            errors.append(self._line_error(exc.code, line_no, COLUMN_TITLES["balance"], exc.detail, text))
        period: Period | None = None
        if f.get("period"):
            try:
                period = Period.parse(f["period"], "MMYYYY")
            except FieldValueError as exc:
                errors.append(self._line_error(exc.code, line_no, COLUMN_TITLES["period"], exc.detail, text))
        if not f["account"]:
            errors.append(
                self._line_error(ErrorCode.EMPTY_REQUIRED, line_no, COLUMN_TITLES["account"], "", text)
            )
        return DebtLine(
            f["account"],
            f.get("fio", ""),
            f.get("address", ""),
            balance,
            f.get("service"),
            period,
            f.get("els") if "els" in f else None,
            f.get("fias") if "fias" in f else None,
            line_no=line_no,
            raw=text,
            errors=tuple(errors),
        )


def parse(source: Source, file_name: str | None = None, profile: BankProfile = DEFAULT_PROFILE) -> DebtsFile:
    """Parse a debts file written with ``profile`` (for round trips and checks)."""
    return DebtsFile(source, source_name(source, file_name), profile)
