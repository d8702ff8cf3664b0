"""Pieces shared by all partner-format modules.

* money: :func:`parse_money` turns ``2500,00`` straight into integer kopecks (never through
  float); :func:`format_money` does the reverse;
* dates, times and billing periods (:class:`Period`);
* the problem model: :class:`Problem` with its two subclasses :class:`FileError` (rejects the
  file) and :class:`LineError` (rejects a line, or is a warning), each carrying file name, line
  number, field name, :class:`~connectors.formats.protocol.ErrorCode` and a Russian message;
* :class:`ParsedFile`, the streaming result of every parser: iterate it to get typed records one
  by one, then read ``file_errors``, ``line_errors``, ``warnings``, counts and sums;
* input helpers: :func:`open_source` (path, bytes or binary stream), :func:`iter_lines`
  (CRLF/LF, one trailing empty line tolerated) and :func:`iter_line_blocks` (the same lines read a
  megabyte at a time), :class:`DuplicateTracker` (finds repeated keys with ~12 bytes of memory per
  line);
* :class:`Chunk`: what :meth:`ParsedFile.chunks` yields — the well-formed lines of a block
  column-wise (the fast path of the bank and post parsers) and the other lines as records;
* :class:`SourceKind`, the kinds of files :func:`connectors.formats.sniff` recognizes.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import functools
import io
import os
import re
import shutil
import tempfile
from array import array
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import IO, Any, BinaryIO, Generic, TypeVar

from .protocol import ErrorCode, ErrorKind

__all__ = [
    "SourceKind",
    "Period",
    "FieldValueError",
    "or_none",
    "parse_money",
    "format_money",
    "parse_decimal",
    "format_decimal",
    "parse_date",
    "format_date",
    "parse_time",
    "format_time",
    "snils_is_valid",
    "snils_checksum",
    "clean_text",
    "Problem",
    "FileError",
    "LineError",
    "RecordMeta",
    "ParsedFile",
    "WriteSummary",
    "Source",
    "open_source",
    "open_dest",
    "iter_lines",
    "iter_line_blocks",
    "find_control_chars",
    "Chunk",
    "FastRows",
    "money_column",
    "has_control_chars",
    "DuplicateTracker",
]


class SourceKind(StrEnum):
    """Kinds of partner files (returned by :func:`connectors.formats.sniff`)."""

    BANK = "bank"
    POST = "post"
    SZN = "szn"  # beneficiaries list from social protection (4.1)
    SZN_CHARGES = "szn_charges"  # our reply (4.2)
    LEGACY = "legacy"
    TRANSFER = "transfer"
    DEBTS = "debts"
    UNKNOWN = "unknown"


# --------------------------------------------------------------------------------------------
# Values
# --------------------------------------------------------------------------------------------


class FieldValueError(ValueError):
    """A field value could not be parsed; carries the error code and a Russian detail."""

    def __init__(self, code: ErrorCode, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


def or_none(parse: Callable[..., Any], *args: Any) -> Callable[[str], Any]:
    """``parse(s, *args)``, or None where the value is not valid (:class:`FieldValueError`): the
    converters the fast paths cache per distinct value."""

    def convert(s: str) -> Any:
        try:
            return parse(s, *args)
        except FieldValueError:
            return None

    return convert


@dataclass(frozen=True, order=True)
class Period:
    """A billing month."""

    year: int
    month: int

    def __post_init__(self) -> None:
        if not (1 <= self.month <= 12) or not (1 <= self.year <= 9999):
            raise ValueError(f"invalid period {self.year}-{self.month}")

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    @property
    def index(self) -> int:
        """Months since year 0 (for differences)."""
        return self.year * 12 + self.month - 1

    @property
    def as_int(self) -> int:
        """``YYYYMM`` as an integer (how the store keeps periods), e.g. 202503."""
        return self.year * 100 + self.month

    @classmethod
    def from_int(cls, value: int) -> Period:
        return cls(value // 100, value % 100)

    @property
    def first_day(self) -> dt.date:
        return dt.date(self.year, self.month, 1)

    @property
    def yyyymm(self) -> str:
        return f"{self.year:04d}{self.month:02d}"

    @property
    def mmyyyy(self) -> str:
        return f"{self.month:02d}{self.year:04d}"

    @property
    def mmyy(self) -> str:
        return f"{self.month:02d}{self.year % 100:02d}"

    @classmethod
    def of(cls, day: dt.date) -> Period:
        return cls(day.year, day.month)

    def add_months(self, n: int) -> Period:
        i = self.index + n
        return Period(i // 12, i % 12 + 1)

    @classmethod
    def parse(cls, text: str, fmt: str) -> Period:
        """Parse ``text`` (see :func:`_parse_period`; cached)."""
        return _parse_period(text, fmt)

    @classmethod
    def _parse(cls, text: str, fmt: str) -> Period:
        """Parse ``text`` in one of the formats ``MMYY`` (3 digits accepted: leading zero lost),
        ``MMYYYY``, ``YYYYMM``, ``YYYY-MM``. Raises :class:`FieldValueError` (BAD_PERIOD)."""
        patterns = {
            "MMYY": r"(\d{1,2})(\d{2})",
            "MMYYYY": r"(\d{2})(\d{4})",
            "YYYYMM": r"(\d{4})(\d{2})",
            "YYYY-MM": r"(\d{4})-(\d{2})",
        }
        m = re.fullmatch(patterns[fmt], text, re.ASCII)
        if not m or (fmt == "MMYY" and len(text) not in (3, 4)):
            raise FieldValueError(ErrorCode.BAD_PERIOD, f"«{text}» не соответствует формату {fmt}")
        a, b = int(m.group(1)), int(m.group(2))
        if fmt == "MMYY":
            month, year = a, 2000 + b
        elif fmt == "MMYYYY":
            month, year = a, b
        else:
            year, month = a, b
        if not 1 <= month <= 12 or year < 1:
            raise FieldValueError(ErrorCode.BAD_PERIOD, f"«{text}»: месяц {month:02d} вне 01–12")
        return cls(year, month)

    def format(self, fmt: str) -> str:
        return {"MMYY": self.mmyy, "MMYYYY": self.mmyyyy, "YYYYMM": self.yyyymm, "YYYY-MM": str(self)}[fmt]


@functools.lru_cache(maxsize=1024)
def _parse_period(text: str, fmt: str) -> Period:
    return Period._parse(text, fmt)


_MONEY_RE = re.compile(r"(-?)(\d+)(?:[.,](\d{1,2}))?", re.ASCII)
_MONEY_FAST = re.compile(r"(\d{1,15})([.,])(\d\d)", re.ASCII)


def parse_money(text: str, *, decimal_sep: str = ",.", allow_negative: bool = False) -> int:
    """Parse rubles to integer kopecks without float.

    ``decimal_sep`` lists the accepted separators. Accepted: ``2500,00``, ``2500.5``, ``2500``,
    ``-12,35`` (only with ``allow_negative``), leading zeros. Rejected (BAD_AMOUNT): empty, more
    than two decimals, thousands separators, exponent, ``+`` sign, spaces.
    """
    fast = _MONEY_FAST.fullmatch(text)
    if fast is not None:
        rub, sep, kop = fast.groups()
        if sep in decimal_sep:
            return int(rub) * 100 + int(kop)
    if text == "":
        raise FieldValueError(ErrorCode.BAD_AMOUNT, "сумма не указана")
    m = _MONEY_RE.fullmatch(text)
    if not m:
        if re.search(r"[eE]", text):
            why = "экспоненциальная запись недопустима"
        elif re.fullmatch(r"-?\d+[.,]\d{3,}", text):
            why = "более двух знаков после разделителя"
        elif re.search(r"\d[ \u00a0'’.,]\d{3}", text):
            why = "разделители разрядов недопустимы"
        else:
            why = "ожидается число с двумя знаками после разделителя"
        raise FieldValueError(ErrorCode.BAD_AMOUNT, f"«{text}»: {why}")
    sep_used = text[len(m.group(1)) + len(m.group(2))] if m.group(3) is not None else None
    if sep_used is not None and sep_used not in decimal_sep:
        raise FieldValueError(ErrorCode.BAD_AMOUNT, f"«{text}»: разделитель «{sep_used}» недопустим")
    if m.group(1) and not allow_negative:
        raise FieldValueError(ErrorCode.BAD_AMOUNT, f"«{text}»: отрицательная сумма")
    if len(m.group(2)) > 15:
        raise FieldValueError(ErrorCode.BAD_AMOUNT, f"«{text}»: слишком большое число")
    frac = (m.group(3) or "").ljust(2, "0")
    value = int(m.group(2)) * 100 + int(frac)
    return -value if m.group(1) else value


@functools.lru_cache(maxsize=8)
def _money_patterns(pattern: str) -> tuple[re.Pattern[str], re.Pattern[str]]:
    return re.compile(pattern, re.ASCII), re.compile(f"(?:{pattern}\n)*{pattern}", re.ASCII)


def money_column(values: Sequence[str], pattern: str = r"\d{1,15}[.,]\d\d") -> tuple[Any, Any]:
    """Kopecks of a column of amounts in their usual form (``pattern``: digits, one separator,
    two decimals) and the mask of the values in that form; the others get 0 and ``False`` (the
    caller sends them to :func:`parse_money`, which names the problem). NumPy arrays, no float:
    the digits without the separator are the kopecks."""
    import numpy as np

    one, every = _money_patterns(pattern)
    joined = "\n".join(values)
    if values and every.fullmatch(joined):
        digits = joined.replace(",", "").replace(".", "").split("\n")
        return np.array(digits, dtype=np.int64), np.ones(len(values), dtype=bool)
    ok = np.fromiter((one.fullmatch(v) is not None for v in values), dtype=bool, count=len(values))
    digits = [v.replace(",", "").replace(".", "") if g else "0" for v, g in zip(values, ok, strict=True)]
    return np.array(digits, dtype=np.int64).reshape(len(values)), ok


def format_money(kop: int, sep: str = ",", *, width: int = 0) -> str:
    """Format kopecks as rubles with exactly two decimals (``-`` for negatives); zero-pad to
    ``width`` if given."""
    if not isinstance(kop, int) or isinstance(kop, bool):
        raise TypeError(f"money must be int kopecks, got {type(kop).__name__}")
    sign = "-" if kop < 0 else ""
    a = abs(kop)
    body = f"{a // 100}{sep}{a % 100:02d}"
    if width:
        body = body.rjust(width - len(sign), "0")
    return sign + body


_DEC_RE = re.compile(r"-?\d+(?:[.,]\d+)?", re.ASCII)


def parse_decimal(text: str, *, max_places: int, allow_negative: bool = False) -> Decimal:
    """Parse a decimal quantity (meter reading, area) without float; ``,`` or ``.`` separator."""
    if not _DEC_RE.fullmatch(text):
        raise FieldValueError(ErrorCode.BAD_VALUE, f"«{text}» не является числом")
    if text.startswith("-") and not allow_negative:
        raise FieldValueError(ErrorCode.BAD_VALUE, f"«{text}»: отрицательное значение")
    frac = re.split(r"[.,]", text)[1] if re.search(r"[.,]", text) else ""
    if len(frac) > max_places:
        raise FieldValueError(ErrorCode.BAD_VALUE, f"«{text}»: более {max_places} знаков после разделителя")
    try:
        return Decimal(text.replace(",", "."))
    except InvalidOperation as exc:  # pragma: no cover - regex guarantees a number
        raise FieldValueError(ErrorCode.BAD_VALUE, f"«{text}» не является числом") from exc


def format_decimal(value: Decimal, sep: str = ".", *, min_places: int = 0) -> str:
    """Plain (non-exponent) decimal text, padded to at least ``min_places`` decimals."""
    if value.as_tuple().exponent > -min_places:  # type: ignore[operator]
        value = value.quantize(Decimal(1).scaleb(-min_places))
    return format(value, "f").replace(".", sep)


_DATE_FORMATS = {
    "DD-MM-YYYY": (re.compile(r"(\d{2})-(\d{2})-(\d{4})", re.ASCII), "dmy"),
    "DD.MM.YYYY": (re.compile(r"(\d{2})\.(\d{2})\.(\d{4})", re.ASCII), "dmy"),
    "DDMMYYYY": (re.compile(r"(\d{2})(\d{2})(\d{4})", re.ASCII), "dmy"),
    "YYYYMMDD": (re.compile(r"(\d{4})(\d{2})(\d{2})", re.ASCII), "ymd"),
    "YYYY-MM-DD": (re.compile(r"(\d{4})-(\d{2})-(\d{2})", re.ASCII), "ymd"),
}


@functools.lru_cache(maxsize=4096)
def parse_date(text: str, fmt: str) -> dt.date:
    """Parse a date in one of the formats of the partner files; raises BAD_DATE (cached: files
    repeat the same few dates)."""
    rx, order = _DATE_FORMATS[fmt]
    m = rx.fullmatch(text)
    if m:
        a, b, c = (int(g) for g in m.groups())
        d, mo, y = (a, b, c) if order == "dmy" else (c, b, a)
        try:
            return dt.date(y, mo, d)
        except ValueError:
            pass
    raise FieldValueError(ErrorCode.BAD_DATE, f"«{text}» не является датой в формате {fmt}")


def format_date(day: dt.date, fmt: str) -> str:
    d, m, y = f"{day.day:02d}", f"{day.month:02d}", f"{day.year:04d}"
    return {
        "DD-MM-YYYY": f"{d}-{m}-{y}",
        "DD.MM.YYYY": f"{d}.{m}.{y}",
        "DDMMYYYY": f"{d}{m}{y}",
        "YYYYMMDD": f"{y}{m}{d}",
        "YYYY-MM-DD": f"{y}-{m}-{d}",
    }[fmt]


def parse_time(text: str, sep: str = "-") -> dt.time:
    """Parse ``HH-MM-SS`` (separator configurable); raises BAD_TIME."""
    if len(text) == 8 and text[2] == sep and text[5] == sep:
        digits = text[:2] + text[3:5] + text[6:]
        if digits.isascii() and digits.isdigit():
            try:
                return dt.time(int(digits[:2]), int(digits[2:4]), int(digits[4:]))
            except ValueError:
                pass
        raise FieldValueError(ErrorCode.BAD_TIME, f"«{text}» не является временем ЧЧ{sep}ММ{sep}СС")
    m = re.fullmatch(rf"(\d{{2}}){re.escape(sep)}(\d{{2}}){re.escape(sep)}(\d{{2}})", text)
    if m:
        try:
            return dt.time(int(m.group(1)), int(m.group(2)), int(m.group(3)))
        except ValueError:
            pass
    raise FieldValueError(ErrorCode.BAD_TIME, f"«{text}» не является временем ЧЧ{sep}ММ{sep}СС")


def format_time(value: dt.time, sep: str = "-") -> str:
    return f"{value.hour:02d}{sep}{value.minute:02d}{sep}{value.second:02d}"


_SNILS_RE = re.compile(r"(\d{3})-(\d{3})-(\d{3}) (\d{2})", re.ASCII)


def snils_checksum(digits9: str) -> int:
    """Control number of a SNILS from its first 9 digits (weights 9..1; <100 → the sum,
    100/101 → 0, >101 → sum mod 101 then the same rule)."""
    s = sum(int(c) * w for c, w in zip(digits9, range(9, 0, -1), strict=True))
    if s > 101:
        s %= 101
    return 0 if s in (100, 101) else s


def snils_is_valid(snils: str) -> bool:
    """``True`` if ``snils`` (``NNN-NNN-NNN CC``) has a correct checksum. Numbers up to
    001-001-998 are not checked (always valid)."""
    m = _SNILS_RE.fullmatch(snils)
    if not m:
        return False
    digits = "".join(m.groups()[:3])
    if int(digits) <= 1001998:
        return True
    return snils_checksum(digits) == int(m.group(4))


_CTRL_RE = re.compile(r"[\x00-\x1f\x7f]")


_CTRL_BUT_LF_RE = re.compile(r"[\x00-\x09\x0b-\x1f\x7f]")


def has_control_chars(block: str) -> bool:
    """A block of lines joined with ``\\n`` holds a control character (line ends aside)."""
    return _CTRL_BUT_LF_RE.search(block) is not None


def find_control_chars(text: str) -> int:
    """Index of the first control character in ``text`` or -1."""
    m = _CTRL_RE.search(text)
    return m.start() if m else -1


def clean_text(text: str) -> str:
    """Make free text safe for a ``;`` file: ``;`` → ``,``, control characters → space."""
    return _CTRL_RE.sub(" ", text.replace(";", ","))


# --------------------------------------------------------------------------------------------
# Problems
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    """One reported problem. ``line_no`` 0 and ``field`` "" mean "the whole file"."""

    file_name: str
    line_no: int
    field: str
    code: ErrorCode
    detail: str = ""
    source: str = ""

    @property
    def kind(self) -> ErrorKind:
        return self.code.kind

    @property
    def is_warning(self) -> bool:
        return self.code.kind is ErrorKind.WARNING

    @property
    def message(self) -> str:
        """Full Russian message naming file, line and field."""
        where = f"Файл «{self.file_name}»"
        if self.line_no:
            where += f", строка {self.line_no}"
        if self.field:
            where += f", поле «{self.field}»"
        text = f"{where}: {self.code.title}"
        if self.detail:
            text += f": {self.detail}"
        return text

    def __str__(self) -> str:
        return f"[{self.code.code}] {self.message}"


@dataclass(frozen=True)
class FileError(Problem):
    """A problem that rejects the whole file."""


@dataclass(frozen=True)
class LineError(Problem):
    """A problem that rejects one line (or, with a warning code, only annotates it)."""


@dataclass(frozen=True, kw_only=True)
class RecordMeta:
    """Bookkeeping carried by every parsed record (not part of record equality).

    ``line_no`` is the 1-based line (or DBF record) number, ``raw`` the decoded source line,
    ``errors`` the line errors (non-empty = the line is rejected), ``warnings`` the warnings.
    When ``errors`` is empty every optional field that the format requires is set.
    """

    line_no: int = field(default=0, compare=False)
    raw: str = field(default="", compare=False, repr=False)
    errors: tuple[LineError, ...] = field(default=(), compare=False)
    warnings: tuple[LineError, ...] = field(default=(), compare=False)

    @property
    def ok(self) -> bool:
        return not self.errors

    def without_meta(self) -> Any:
        return dataclasses.replace(self, line_no=0, raw="", errors=(), warnings=())


R = TypeVar("R", bound=RecordMeta)


class ParsedFile(Generic[R]):
    """Streaming result of a parser.

    Iterate it (once) to get the records; file-level checks run while streaming and at the end,
    so ``file_errors`` is complete only when :attr:`finished` is true. :meth:`consume` runs the
    whole file without keeping records (validation only). Line errors and warnings are also
    attached to their records; the lists here keep at most ``max_kept_errors`` of each (the
    counters always count all).
    """

    kind: SourceKind = SourceKind.UNKNOWN
    max_file_errors = 1000

    def __init__(self, file_name: str, *, max_kept_errors: int = 100_000) -> None:
        self.file_name = file_name
        self.file_errors: list[FileError] = []
        self.line_errors: list[LineError] = []
        self.warnings: list[LineError] = []
        self.line_error_count = 0
        self.warning_count = 0
        self.record_count = 0
        self.rejected_count = 0
        self.total_kop = 0
        self.accepted_kop = 0
        self.finished = False
        self._started = False
        self._max_kept = max_kept_errors

    # -- to be provided by subclasses --------------------------------------------------------
    def _records(self) -> Iterator[R]:  # pragma: no cover - abstract
        raise NotImplementedError

    # -- public API --------------------------------------------------------------------------
    def __iter__(self) -> Iterator[R]:
        if self._started:
            raise RuntimeError("a ParsedFile can be iterated only once")
        self._started = True
        return self._run()

    def consume(self) -> ParsedFile[R]:
        """Read the whole file, discarding records; returns ``self``."""
        for _ in self:
            pass
        return self

    @property
    def ok(self) -> bool:
        """No file errors (meaningful once :attr:`finished`)."""
        return not self.file_errors

    @property
    def accepted_count(self) -> int:
        return self.record_count - self.rejected_count

    @property
    def problems(self) -> list[Problem]:
        """File errors, then line errors and warnings in line order."""
        lines: list[Problem] = sorted([*self.line_errors, *self.warnings], key=lambda p: p.line_no)
        return [*self.file_errors, *lines]

    # -- helpers for subclasses --------------------------------------------------------------
    def _chunks(self) -> Iterator[Chunk[R]]:
        """Blocks of the file; parsers with a fast path override this, others give records."""
        slow: list[R] = []
        for rec in self._records():
            slow.append(rec)
            if len(slow) >= 5_000:
                yield Chunk(None, slow)
                slow = []
        if slow:
            yield Chunk(None, slow)

    def chunks(self) -> Iterator[Chunk[R]]:
        """Iterate the file block by block (instead of record by record): the loaders' fast way
        in. Counters and error lists are kept exactly as record iteration keeps them."""
        if self._started:
            raise RuntimeError("a ParsedFile can be iterated only once")
        self._started = True
        return self._run_chunks()

    def _run_chunks(self) -> Iterator[Chunk[R]]:
        for chunk in self._chunks():
            for rec in chunk.slow:
                self._tally(rec)
            fast = chunk.fast
            if fast is not None and len(fast):
                self.record_count += len(fast)
                self.total_kop += fast.total_kop
                self.accepted_kop += fast.total_kop
            yield chunk
        self.finished = True

    def _run(self) -> Iterator[R]:
        for chunk in self._run_chunks():
            yield from chunk.records()

    def _tally(self, rec: R) -> None:
        self.record_count += 1
        amount = getattr(rec, "amount", None)
        if isinstance(amount, int):
            self.total_kop += amount
        if rec.errors:
            self.rejected_count += 1
            self.line_error_count += len(rec.errors)
            room = self._max_kept - len(self.line_errors)
            if room > 0:
                self.line_errors.extend(rec.errors[:room])
        elif isinstance(amount, int):
            self.accepted_kop += amount
        if rec.warnings:
            self._add_warnings(rec.warnings)

    def _add_warnings(self, warnings: tuple[LineError, ...] | list[LineError]) -> None:
        self.warning_count += len(warnings)
        room = self._max_kept - len(self.warnings)
        if room > 0:
            self.warnings.extend(list(warnings)[:room])

    def _file_error(
        self, code: ErrorCode, detail: str = "", *, line_no: int = 0, field: str = "", source: str = ""
    ) -> None:
        if len(self.file_errors) < self.max_file_errors:
            self.file_errors.append(FileError(self.file_name, line_no, field, code, detail, source))
        elif len(self.file_errors) == self.max_file_errors:
            self.file_errors.append(FileError(self.file_name, 0, "", ErrorCode.TOO_MANY_ERRORS))

    @property
    def _too_many_errors(self) -> bool:
        return len(self.file_errors) > self.max_file_errors

    def _line_error(
        self, code: ErrorCode, line_no: int, field: str, detail: str = "", source: str = ""
    ) -> LineError:
        return LineError(self.file_name, line_no, field, code, detail, source)


@dataclass(frozen=True)
class WriteSummary:
    """What a writer wrote: number of data lines and the totals of its money columns."""

    count: int
    total_kop: int
    sums: dict[str, int] = field(default_factory=dict)
    skipped: int = 0


# --------------------------------------------------------------------------------------------
# Input/output helpers
# --------------------------------------------------------------------------------------------

Source = str | os.PathLike[str] | bytes | bytearray | memoryview | IO[bytes]


def source_name(source: Source, file_name: str | None) -> str:
    if file_name:
        return file_name
    if isinstance(source, str | os.PathLike):
        return os.path.basename(os.fspath(source))
    name = getattr(source, "name", None)
    if isinstance(name, str):
        return os.path.basename(name)
    return "<поток>"


@contextlib.contextmanager
def open_source(source: Source) -> Iterator[BinaryIO]:
    """Open a path, bytes or binary stream as a seekable binary stream.

    Streams are not closed (the caller owns them). A non-seekable stream is spooled to a
    temporary file first (kept in memory up to 8 MiB).
    """
    if isinstance(source, str | os.PathLike):
        with open(source, "rb") as fh:
            yield fh
        return
    if isinstance(source, bytes | bytearray | memoryview):
        yield io.BytesIO(bytes(source))
        return
    stream: Any = source
    seekable = False
    with contextlib.suppress(Exception):
        seekable = bool(stream.seekable())
    if seekable:
        yield stream
        return
    with tempfile.SpooledTemporaryFile(max_size=8 << 20) as spool:
        shutil.copyfileobj(stream, spool)
        spool.seek(0)
        yield spool  # type: ignore[misc]


@contextlib.contextmanager
def open_dest(dst: str | os.PathLike[str] | IO[bytes]) -> Iterator[BinaryIO]:
    """Open a destination path for binary writing, or pass a binary stream through."""
    if isinstance(dst, str | os.PathLike):
        with open(dst, "wb") as fh:
            yield fh
    else:
        yield dst  # type: ignore[misc]


def iter_lines(stream: BinaryIO, *, max_line: int = 1 << 16) -> Iterator[tuple[int, bytes | None]]:
    """Yield ``(line_no, bytes without CRLF/LF)``; one trailing empty line is dropped.

    A line longer than ``max_line`` bytes is yielded as ``(line_no, None)`` and ends the
    iteration (the caller reports LINE_TOO_LONG).
    """
    line_no = 0
    pending_empty: int | None = None
    while True:
        raw = stream.readline(max_line + 2)
        if not raw:
            break
        line_no += 1
        if len(raw) > max_line and not raw.endswith(b"\n"):
            yield line_no, None
            return
        if raw.endswith(b"\n"):
            raw = raw[:-1]
            if raw.endswith(b"\r"):
                raw = raw[:-1]
        if pending_empty is not None:
            yield pending_empty, b""
            pending_empty = None
        if raw == b"":
            pending_empty = line_no
            continue
        yield line_no, raw
    # a single empty line at the very end is tolerated (dropped)


def iter_line_blocks(
    stream: BinaryIO, *, max_line: int = 1 << 16, block_bytes: int = 1 << 18
) -> Iterator[list[tuple[int, bytes | None]]]:
    """The lines of :func:`iter_lines` (the same numbers, bytes and end rules), read about
    ``block_bytes`` (256 KiB: ~2,000 registry lines) at a time and yielded as lists; after a
    ``(line_no, None)`` (line too long) nothing more is yielded."""
    line_no = 0
    pending_empty: int | None = None
    carry = b""
    while True:
        data = stream.read(block_bytes)
        out: list[tuple[int, bytes | None]] = []
        if not data:
            if carry:  # the last line, without a line end: no CR is stripped
                line_no += 1
                if len(carry) > max_line:
                    out.append((line_no, None))
                else:
                    if pending_empty is not None:
                        out.append((pending_empty, b""))
                    out.append((line_no, carry))
            if out:
                yield out
            return
        parts = (carry + data).split(b"\n")
        carry = parts.pop()
        too_long = len(carry) > max_line + 1  # an unfinished line already too long
        for raw in parts:
            line_no += 1
            if len(raw) > max_line + 1:
                out.append((line_no, None))
                yield out
                return
            if raw[-1:] == b"\r":
                raw = raw[:-1]
            if pending_empty is not None:
                out.append((pending_empty, b""))
                pending_empty = None
            if raw == b"":
                pending_empty = line_no
                continue
            out.append((line_no, raw))
        if too_long:
            out.append((line_no + 1, None))
            yield out
            return
        if out:
            yield out


class FastRows:
    """Well-formed lines of one block, column-wise. A format's fast path fills the columns named in
    its ``COLUMNS`` — ``line_no``, ``raw`` and fields of its ``RECORD`` class, by the same names;
    :meth:`record` turns row ``i`` back into the record the per-line parser gives for that line
    (the fields not in ``COLUMNS`` take ``CONSTANTS``)."""

    COLUMNS: tuple[str, ...] = ("line_no", "raw")
    RECORD: Any = None
    CONSTANTS: dict[str, Any] = {}
    __slots__ = ("cols", "total_kop")

    def __init__(self) -> None:
        self.cols: dict[str, list[Any]] = {c: [] for c in self.COLUMNS}
        self.total_kop = 0

    def __len__(self) -> int:
        return len(self.cols["line_no"])

    def extend(self, columns: dict[str, Sequence[Any]], keep: Sequence[int] | None) -> None:
        """Append the rows ``keep`` (all when None) of ``columns``."""
        for name, dst in self.cols.items():
            src = columns[name]
            dst.extend(src if keep is None else [src[i] for i in keep])

    def append(self, other: FastRows) -> None:
        """Append the rows of another block (same format)."""
        for name, dst in self.cols.items():
            dst.extend(other.cols[name])
        self.total_kop += other.total_kop

    def record(self, i: int) -> Any:
        """Row ``i`` as the format's record."""
        fields = {name: col[i] for name, col in self.cols.items()}
        return self.RECORD(**fields, **self.CONSTANTS)


@dataclass
class Chunk(Generic[R]):
    """One block of a file: ``fast`` rows (no line errors, see :class:`FastRows`) and ``slow``
    records (anything else: line errors, meter readings, unusual layouts). Together, in line
    order, they are exactly the records that iterating the parsed file yields."""

    fast: FastRows | None
    slow: list[R]

    def records(self) -> Iterator[R]:
        """The records of the block in line order."""
        fast = self.fast
        if fast is None or not len(fast):
            yield from self.slow
            return
        lines = fast.cols["line_no"]
        j = 0
        for i in range(len(lines)):
            while j < len(self.slow) and self.slow[j].line_no < lines[i]:
                yield self.slow[j]
                j += 1
            yield fast.record(i)
        yield from self.slow[j:]


class DuplicateTracker:
    """Detects repeated keys in a stream with bounded memory.

    Keys are reduced to 64-bit hashes (Python's ``hash`` of the string: fixed within one process,
    which is all a file needs) kept in an ``array`` together with their line numbers (12 bytes per
    key); duplicates are found at the end by sorting (numpy). A 64-bit collision could report a
    false duplicate with probability ~n²/2⁶⁵ (1e-8 for 1M lines).
    """

    def __init__(self) -> None:
        self._digests = array("q")
        self._lines = array("I")

    def add(self, key: str, line_no: int) -> None:
        self._digests.append(hash(key))
        self._lines.append(line_no)

    def add_many(self, keys: Iterable[str], line_nos: Iterable[int]) -> None:
        """:meth:`add` for a column of keys and their line numbers."""
        self._digests.extend(map(hash, keys))
        self._lines.extend(line_nos)

    def __len__(self) -> int:
        return len(self._digests)

    def duplicates(self) -> list[list[int]]:
        """Groups of line numbers sharing a key (each group sorted, groups by first line)."""
        if len(self._digests) < 2:
            return []
        import numpy as np

        digests = np.frombuffer(self._digests, dtype=np.int64)
        lines = np.frombuffer(self._lines, dtype=np.uint32)
        order = np.argsort(digests, kind="stable")
        sd = digests[order]
        dup_mask = np.zeros(len(sd), dtype=bool)
        eq = sd[1:] == sd[:-1]
        dup_mask[1:] |= eq
        dup_mask[:-1] |= eq
        groups: dict[int, list[int]] = {}
        for idx in np.nonzero(dup_mask)[0]:
            groups.setdefault(int(sd[idx]), []).append(int(lines[order[idx]]))
        return sorted((sorted(g) for g in groups.values()), key=lambda g: g[0])
