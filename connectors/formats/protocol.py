"""Error codes of the hub and the error protocol file ``<name>.err.txt``.

Every problem a connector or the store loader reports carries one :class:`ErrorCode`. The code
knows its kind (file error, line error, warning), whether it is detected by the format parser or
by the store loader, and a short Russian title. The full Russian message (naming file, line and
field) is built by :class:`connectors.formats.common.Problem`.

The protocol returned to the partner over SFTP (formats spec, section 1)::

    номер строки;поле;код;сообщение по-русски;исходная строка
    ...
    =ошибок;принято строк;сумма принятых

cp1251, ``;`` separated, CRLF. File errors are written with line ``0`` and an empty field (their
message still names the line and field when known). The source line is the last column and is
written as is, so it may itself contain ``;``: a reader takes everything after the fourth ``;``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum, StrEnum
from typing import TYPE_CHECKING, BinaryIO

if TYPE_CHECKING:  # pragma: no cover
    from .common import Problem

__all__ = [
    "ErrorKind",
    "ErrorCode",
    "ProtocolRow",
    "ProtocolSummary",
    "protocol_name",
    "format_protocol_line",
    "write_protocol",
    "protocol_bytes",
    "parse_protocol",
]

PROTOCOL_ENCODING = "cp1251"


class ErrorKind(StrEnum):
    """How a problem affects the file."""

    FILE = "file"  # rejects the whole file (the loader rolls back)
    LINE = "line"  # rejects one line; its money goes to unidentified payments
    WARNING = "warning"  # the line is accepted, something in it is dropped or suspicious


class ErrorCode(Enum):
    """All error codes of the project, with their kind, origin and Russian title.

    ``origin`` is ``"parser"`` for problems found by the format modules and ``"store"`` for
    problems only the store loader can detect (it reports them with the same codes so the
    protocol is uniform).
    """

    kind: ErrorKind
    origin: str
    title: str

    def __new__(cls, code: str, kind: ErrorKind, origin: str, title: str) -> ErrorCode:
        obj = object.__new__(cls)
        obj._value_ = code
        obj.kind = kind
        obj.origin = origin
        obj.title = title
        return obj

    @property
    def code(self) -> str:
        return str(self.value)

    # --- file errors detected by the parsers -------------------------------------------------
    ENCODING = ("F001", ErrorKind.FILE, "parser", "файл не читается в ожидаемой кодировке")
    CONTROL_CHARS = ("F002", ErrorKind.FILE, "parser", "недопустимые управляющие символы")
    EMPTY_FILE = ("F003", ErrorKind.FILE, "parser", "файл пуст")
    LINE_TOO_LONG = ("F004", ErrorKind.FILE, "parser", "слишком длинная строка")
    FIELD_COUNT = ("F005", ErrorKind.FILE, "parser", "неверное количество полей в строке")
    NO_CONTROL = ("F006", ErrorKind.FILE, "parser", "нет контрольной строки")
    MULTIPLE_CONTROL = ("F007", ErrorKind.FILE, "parser", "более одной контрольной строки")
    AFTER_CONTROL = ("F008", ErrorKind.FILE, "parser", "строки после контрольной строки")
    CONTROL_FORMAT = ("F009", ErrorKind.FILE, "parser", "контрольная строка не разбирается")
    CONTROL_MISMATCH = ("F010", ErrorKind.FILE, "parser", "итоги не совпадают с содержимым файла")
    DUPLICATE_KEY_IN_FILE = ("F011", ErrorKind.FILE, "parser", "повтор ключа операции в файле")
    RECORD_LENGTH = ("F012", ErrorKind.FILE, "parser", "неверная длина записи")
    RECORD_TYPE = ("F013", ErrorKind.FILE, "parser", "неизвестный тип записи")
    RECORD_ORDER = ("F014", ErrorKind.FILE, "parser", "нарушен порядок записей")
    MISSING_HEADER = ("F015", ErrorKind.FILE, "parser", "нет заголовка файла")
    MISSING_TRAILER = ("F016", ErrorKind.FILE, "parser", "нет итоговой записи файла")
    RECORD_FORMAT = ("F017", ErrorKind.FILE, "parser", "неверный формат служебной записи")
    BATCH_MISMATCH = ("F018", ErrorKind.FILE, "parser", "итог пачки не совпадает с её платежами")
    WRONG_RECIPIENT = ("F019", ErrorKind.FILE, "parser", "файл адресован другому получателю")
    XML_MALFORMED = ("F020", ErrorKind.FILE, "parser", "XML-документ построен неправильно")
    XML_SCHEMA = ("F021", ErrorKind.FILE, "parser", "XML-документ не соответствует схеме XSD")
    XML_FORBIDDEN = ("F022", ErrorKind.FILE, "parser", "запрещённая конструкция XML (DTD, сущности)")
    FILE_TOO_LARGE = ("F023", ErrorKind.FILE, "parser", "файл слишком велик")
    ZIP_INVALID = ("F024", ErrorKind.FILE, "parser", "архив повреждён или не является ZIP")
    ZIP_UNSAFE = ("F025", ErrorKind.FILE, "parser", "небезопасное имя файла в архиве")
    ZIP_LIMITS = ("F026", ErrorKind.FILE, "parser", "архив превышает допустимые размеры")
    TABLE_MISSING = ("F027", ErrorKind.FILE, "parser", "нет обязательной таблицы")
    DBF_HEADER = ("F028", ErrorKind.FILE, "parser", "заголовок DBF не читается")
    DBF_FIELD = ("F029", ErrorKind.FILE, "parser", "поле таблицы отсутствует или не того типа/размера")
    DBF_CODEPAGE = ("F030", ErrorKind.FILE, "parser", "неподдерживаемая кодовая страница DBF")
    MIXED_PERIOD = ("F031", ErrorKind.FILE, "parser", "в таблице указаны разные периоды")
    TOO_MANY_ERRORS = ("F032", ErrorKind.FILE, "parser", "слишком много ошибок, разбор прекращён")
    # --- file errors detected by the store loader --------------------------------------------
    ALREADY_LOADED = ("F101", ErrorKind.FILE, "store", "файл уже загружен")
    ORDER_ALREADY_LOADED = ("F102", ErrorKind.FILE, "store", "платёжное поручение уже загружено")
    FILE_ID_ALREADY_LOADED = ("F103", ErrorKind.FILE, "store", "файл с таким FileId уже загружен")
    PERIOD_NOT_OPEN = ("F104", ErrorKind.FILE, "store", "период не является открытым или предыдущим")
    # --- line errors detected by the parsers -------------------------------------------------
    BAD_DATE = ("L001", ErrorKind.LINE, "parser", "неверная дата")
    BAD_TIME = ("L002", ErrorKind.LINE, "parser", "неверное время")
    DATE_IN_FUTURE = ("L003", ErrorKind.LINE, "parser", "дата в будущем")
    DATE_AFTER_ORDER = ("L004", ErrorKind.LINE, "parser", "дата позже даты платёжного поручения")
    BAD_PERIOD = ("L005", ErrorKind.LINE, "parser", "неверный период")
    PERIOD_OUT_OF_RANGE = ("L006", ErrorKind.LINE, "parser", "период вне допустимого диапазона")
    BAD_AMOUNT = ("L007", ErrorKind.LINE, "parser", "неверная сумма")
    AMOUNT_NOT_POSITIVE = ("L008", ErrorKind.LINE, "parser", "сумма должна быть больше нуля")
    AMOUNT_MISMATCH = ("L009", ErrorKind.LINE, "parser", "суммы в строке не согласованы")
    BAD_EXTRA = ("L010", ErrorKind.LINE, "parser", "неверный дополнительный реквизит (показание ПУ)")
    EMPTY_REQUIRED = ("L011", ErrorKind.LINE, "parser", "не заполнено обязательное поле")
    FIELD_TOO_LONG = ("L012", ErrorKind.LINE, "parser", "значение длиннее допустимого")
    BAD_VALUE = ("L013", ErrorKind.LINE, "parser", "неверное значение")
    DATE_MISMATCH = ("L014", ErrorKind.LINE, "parser", "дата не совпадает с датой пачки")
    BAD_PAYMENT_TYPE = ("L015", ErrorKind.LINE, "parser", "неверный вид платежа (ожидается 01 или 02)")
    DUPLICATE_IN_FILE = ("L016", ErrorKind.LINE, "parser", "повтор ключа в файле")
    SNILS_CHECKSUM = ("L017", ErrorKind.LINE, "parser", "неверная контрольная сумма СНИЛС")
    DATE_RANGE = ("L018", ErrorKind.LINE, "parser", "дата окончания раньше даты начала")
    UNKNOWN_BENEFIT = ("L019", ErrorKind.LINE, "parser", "неизвестный код льготы")
    ORPHAN_ACCOUNT = ("L020", ErrorKind.LINE, "parser", "лицевой счёт отсутствует в KART")
    BAD_STATUS = ("L021", ErrorKind.LINE, "parser", "неверный статус регистрации")
    UNKNOWN_SERVICE = ("L022", ErrorKind.LINE, "parser", "услуга отсутствует в справочнике соответствия")
    # --- line errors detected by the store loader --------------------------------------------
    ACCOUNT_UNKNOWN = ("L101", ErrorKind.LINE, "store", "лицевой счёт не найден")
    ACCOUNT_CLOSED = ("L102", ErrorKind.LINE, "store", "лицевой счёт закрыт")
    DUPLICATE_LOADED = ("L103", ErrorKind.LINE, "store", "операция уже загружена ранее")
    UNKNOWN_PERSON_ID = ("L104", ErrorKind.LINE, "store", "получатель с таким id не найден")
    # --- warnings ------------------------------------------------------------------------------
    METER_UNKNOWN = ("W101", ErrorKind.WARNING, "store", "прибор учёта не найден, показание не принято")
    METER_AMBIGUOUS = (
        "W102",
        ErrorKind.WARNING,
        "store",
        "нет или несколько подходящих приборов учёта, показание не принято",
    )
    KPR_MISMATCH = ("W001", ErrorKind.WARNING, "parser", "KPR не совпадает с числом зарегистрированных")
    SNILS_WARNING = ("W002", ErrorKind.WARNING, "parser", "СНИЛС неверен")
    BLANK_METER_NUMBER = ("W003", ErrorKind.WARNING, "parser", "не заполнен заводской номер ПУ")


_CLEAN_RE = re.compile(r"[;\r\n]")


def _clean(text: str) -> str:
    return _CLEAN_RE.sub(lambda m: "," if m.group() == ";" else " ", text)


def _money(kop: int) -> str:
    sign = "-" if kop < 0 else ""
    kop = abs(kop)
    return f"{sign}{kop // 100},{kop % 100:02d}"


def protocol_name(original_name: str) -> str:
    """Name of the protocol for an inbound file: ``<original name>.err.txt``."""
    return f"{original_name}.err.txt"


def format_protocol_line(problem: Problem) -> str:
    """One protocol line (without line end) for a problem."""
    is_file = problem.code.kind is ErrorKind.FILE
    line_no = 0 if is_file else problem.line_no
    field = "" if is_file else _clean(problem.field)
    source = problem.source.replace("\r", " ").replace("\n", " ")
    return f"{line_no};{field};{problem.code.code};{_clean(problem.message)};{source}"


@dataclass(frozen=True)
class ProtocolSummary:
    """The counts written on the last line of a protocol."""

    problems: int
    accepted_lines: int
    accepted_kop: int


def write_protocol(
    dst: BinaryIO,
    problems: Iterable[Problem],
    *,
    accepted_lines: int,
    accepted_kop: int,
    include_warnings: bool = True,
) -> ProtocolSummary:
    """Write the error protocol to a binary stream.

    ``accepted_lines``/``accepted_kop`` are the final figures after the store loader's checks.
    The count on the last line is the number of problem lines written above it (file errors,
    line errors and, unless ``include_warnings`` is false, warnings). Characters that cp1251
    cannot encode are replaced by ``?``.
    """
    count = 0
    for problem in problems:
        if not include_warnings and problem.code.kind is ErrorKind.WARNING:
            continue
        dst.write((format_protocol_line(problem) + "\r\n").encode(PROTOCOL_ENCODING, errors="replace"))
        count += 1
    dst.write(f"={count};{accepted_lines};{_money(accepted_kop)}\r\n".encode(PROTOCOL_ENCODING))
    return ProtocolSummary(count, accepted_lines, accepted_kop)


def protocol_bytes(
    problems: Iterable[Problem], *, accepted_lines: int, accepted_kop: int, include_warnings: bool = True
) -> bytes:
    """Convenience wrapper around :func:`write_protocol` returning bytes."""
    import io

    buf = io.BytesIO()
    write_protocol(
        buf,
        problems,
        accepted_lines=accepted_lines,
        accepted_kop=accepted_kop,
        include_warnings=include_warnings,
    )
    return buf.getvalue()


@dataclass(frozen=True)
class ProtocolRow:
    """One parsed protocol line."""

    line_no: int
    field: str
    code: str
    message: str
    source: str


def parse_protocol(data: bytes) -> tuple[list[ProtocolRow], ProtocolSummary]:
    """Parse a protocol produced by :func:`write_protocol` (used by tests and tools)."""
    text = data.decode(PROTOCOL_ENCODING)
    lines = text.split("\r\n")
    if lines and lines[-1] == "":
        lines.pop()
    if not lines or not lines[-1].startswith("="):
        raise ValueError("protocol has no summary line")
    rows = []
    for line in lines[:-1]:
        parts = line.split(";", 4)
        if len(parts) != 5:
            raise ValueError(f"bad protocol line: {line!r}")
        rows.append(ProtocolRow(int(parts[0]), parts[1], parts[2], parts[3], parts[4]))
    count, accepted, money = lines[-1][1:].split(";")
    rub, _, kop = money.lstrip("-").partition(",")
    total = int(rub) * 100 + int(kop)
    if money.startswith("-"):
        total = -total
    return rows, ProtocolSummary(int(count), int(accepted), total)
