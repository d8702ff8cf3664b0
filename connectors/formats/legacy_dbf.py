"""Legacy billing DBF set in a zip, formats spec section 5 (d).

``LEGACY_{код системы}_{ГГГГММ}.zip`` holds five dBase III/IV tables: ``KART`` (accounts),
``PROPIS`` (residents), ``SCHET`` (meters), ``SALDO`` (opening balances) and ``ITOG`` (control
counts and sums). Code page from the language-driver byte: 0x26/0x65 → cp866, 0xC9 → cp1251,
0x00 → cp866 assumed; any other value is a file error.

Reading (:func:`parse`): the zip is checked first (path traversal, member count, total size and
compression ratio: :class:`ZipLimits`); then ITOG, KART, PROPIS, SCHET and SALDO are streamed
record by record straight from the zip members (nothing is extracted to disk). Numeric fields
are parsed from their ASCII text to :class:`~decimal.Decimal` (money to integer kopecks), never
through float. Deleted records (flag ``*``) are skipped and not counted. Line numbers are
physical record numbers (1-based, deleted records included), the field is ``TABLE.FIELD``.

Writing (:func:`write_set`, :class:`DbfWriter`): builds such sets (test and demo data), with ITOG
computed from the rows.

Why not dbfread/dbf for this: dbfread opens tables only by file name (members would have to be
extracted to disk), converts N fields through float unless overridden, and hides physical record
numbers and truncated files; the ``dbf`` package also goes through float for N fields. The
dBase layout itself is 32-byte header + 32-byte field descriptors + fixed-width ASCII records,
which is small enough to read and write here with exact control. Tests cross-check the writer's
output with dbfread.
"""

from __future__ import annotations

import datetime as dt
import io
import posixpath
import re
import shutil
import struct
import tempfile
import zipfile
import zlib
from collections.abc import Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import IO, Any, BinaryIO

from .common import (
    FieldValueError,
    LineError,
    ParsedFile,
    Period,
    RecordMeta,
    Source,
    SourceKind,
    format_decimal,
    open_dest,
    open_source,
    snils_is_valid,
    source_name,
)
from .protocol import ErrorCode

# what reading a damaged member can raise (bad local header or offset, corrupt deflate stream, CRC,
# truncation); DbfFormatError is caught before these
_ZIP_READ_ERRORS = (zipfile.BadZipFile, OSError, EOFError, ValueError, zlib.error, NotImplementedError)

__all__ = [
    "ZipLimits",
    "FieldSpec",
    "TABLES",
    "KartRecord",
    "PropisRecord",
    "SchetRecord",
    "SaldoRecord",
    "ItogRecord",
    "LegacyRecord",
    "LegacyFile",
    "parse",
    "DbfWriter",
    "write_dbf",
    "write_set",
    "LANGUAGE_DRIVERS",
    "DbfTable",
    "read_dbf",
]

LANGUAGE_DRIVERS = {0x26: "cp866", 0x65: "cp866", 0x00: "cp866", 0xC9: "cp1251"}
DBF_VERSIONS = {0x03, 0x04, 0x83, 0x8B}
RESIDENT_STATUSES = {
    1,
    2,
    3,
    4,
    6,
}  # S3 c_kart_pr: 1 пост. зарег., 2 врем. отсут., 3 врем. зарег., 4 выбыл, 6 врем. прожив.
COUNTED_STATUSES = {1, 3}  # KPR should equal residents with these statuses


@dataclass(frozen=True)
class ZipLimits:
    """Limits against zip bombs and hostile archives."""

    max_members: int = 32
    max_total_size: int = 2 << 30  # total uncompressed bytes
    max_member_size: int = 1 << 30
    max_ratio: int = 200  # uncompressed/compressed, checked for members larger than ratio_min_size
    ratio_min_size: int = 1 << 20


@dataclass(frozen=True)
class FieldSpec:
    name: str
    type: str  # C, N, D
    length: int
    decimals: int = 0


def _specs(text: str) -> tuple[FieldSpec, ...]:
    out = []
    for item in text.split():
        name, t = item.split(":")
        m = re.fullmatch(r"([CND])(\d+)(?:\.(\d+))?", t)
        assert m
        out.append(FieldSpec(name, m.group(1), int(m.group(2)), int(m.group(3) or 0)))
    return tuple(out)


TABLES: dict[str, tuple[FieldSpec, ...]] = {
    "KART": _specs(
        "LS:C20 FIO:C60 KUL:C4 ULICA:C40 ND:C6 KORP:C3 KW:C7 KOMN:C3 ADRES:C100 OPL:N9.2 PPL:N9.2 "
        "KPR:N3 PSCH:N1 DATN:D8 DATK:D8"
    ),
    "PROPIS": _specs(
        "LS:C20 ID:N10 FAM:C30 IM:C30 OT:C30 DROG:D8 POL:C1 STATUS:N1 DPROP:D8 DVYB:D8 SNILS:C14 KOD_L:N3"
    ),
    "SCHET": _specs("LS:C20 NSCH:C20 USL:C3 TARZ:N1 DUST:D8 DPOV:D8 POK:N14.3 DPOK:D8"),
    "SALDO": _specs("LS:C20 USL:C3 MG:C6 SALDO:N12.2 PENI:N12.2"),
    "ITOG": _specs("TABL:C12 NREC:N10 SUMMA:N15.2"),
}
DATA_TABLES = ("KART", "PROPIS", "SCHET", "SALDO")


# --------------------------------------------------------------------------------------------
# Records
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class KartRecord(RecordMeta):
    """KART: an account."""

    ls: str
    fio: str
    kul: str
    ulica: str
    nd: str
    korp: str
    kw: str
    komn: str
    adres: str
    opl: Decimal  # total area, m²
    ppl: Decimal  # living area, m²
    kpr: int  # registered persons
    psch: int  # 0 open, 8/9 closed
    datn: dt.date | None
    datk: dt.date | None

    table = "KART"

    @property
    def closed(self) -> bool:
        return self.psch in (8, 9)


@dataclass(frozen=True)
class PropisRecord(RecordMeta):
    """PROPIS: a resident."""

    ls: str
    id: int | None
    fam: str
    im: str
    ot: str
    drog: dt.date | None
    pol: str
    status: int | None
    dprop: dt.date | None
    dvyb: dt.date | None
    snils: str
    kod_l: int

    table = "PROPIS"


@dataclass(frozen=True)
class SchetRecord(RecordMeta):
    """SCHET: a meter."""

    ls: str
    nsch: str  # serial number
    usl: str
    tarz: int
    dust: dt.date | None
    dpov: dt.date | None
    pok: Decimal  # last reading
    dpok: dt.date | None

    table = "SCHET"


@dataclass(frozen=True)
class SaldoRecord(RecordMeta):
    """SALDO: opening balance of an account's service (+ debt, − overpaid)."""

    ls: str
    usl: str
    mg: Period | None
    saldo: int  # kopecks
    peni: int  # kopecks

    table = "SALDO"

    @property
    def amount(self) -> int:
        return self.saldo + self.peni


@dataclass(frozen=True)
class ItogRecord:
    tabl: str
    nrec: int
    summa: Decimal
    line_no: int = 0


LegacyRecord = KartRecord | PropisRecord | SchetRecord | SaldoRecord


# --------------------------------------------------------------------------------------------
# Low-level DBF reading
# --------------------------------------------------------------------------------------------


class DbfFormatError(Exception):
    def __init__(self, code: ErrorCode, detail: str) -> None:
        super().__init__(detail)
        self.code, self.detail = code, detail


@dataclass
class DbfField:
    name: str
    type: str
    length: int
    decimals: int
    offset: int  # within the record, after the deletion flag


@dataclass
class DbfTable:
    """Header of a DBF table being read from a binary stream."""

    stream: BinaryIO
    version: int
    numrecords: int
    headerlen: int
    recordlen: int
    language_driver: int
    encoding: str
    fields: list[DbfField] = field(default_factory=list)

    def field_map(self) -> dict[str, DbfField]:
        return {f.name: f for f in self.fields}

    def records(self) -> Iterator[tuple[int, bool, bytes]]:
        """Yield ``(record number, deleted, record bytes without the flag)``."""
        for recno in range(1, self.numrecords + 1):
            data = self.stream.read(self.recordlen)
            if len(data) < self.recordlen:
                if data[:1] == b"\x1a" and len(data) == 1:
                    raise DbfFormatError(
                        ErrorCode.DBF_HEADER, f"в заголовке {self.numrecords} записей, в файле {recno - 1}"
                    )
                raise DbfFormatError(ErrorCode.DBF_HEADER, f"запись {recno} обрезана (файл усечён)")
            flag = data[:1]
            if flag not in (b" ", b"*"):
                raise DbfFormatError(
                    ErrorCode.DBF_HEADER, f"запись {recno}: неверный признак удаления {flag!r}"
                )
            yield recno, flag == b"*", data[1:]


def read_dbf(stream: BinaryIO) -> DbfTable:
    """Read a DBF header and field descriptors; the stream is left at the first record."""

    def need(n: int) -> bytes:
        b = stream.read(n)
        if len(b) != n:
            raise DbfFormatError(ErrorCode.DBF_HEADER, "файл короче заголовка")
        return b

    head = need(32)
    version = head[0]
    if version not in DBF_VERSIONS:
        raise DbfFormatError(ErrorCode.DBF_HEADER, f"неизвестная версия DBF 0x{version:02X}")
    numrecords, headerlen, recordlen = struct.unpack("<IHH", head[4:12])
    ldid = head[29]
    if ldid not in LANGUAGE_DRIVERS:
        raise DbfFormatError(
            ErrorCode.DBF_CODEPAGE, f"байт драйвера языка 0x{ldid:02X} (ожидается 0x26, 0x65, 0xC9 или 0x00)"
        )
    table = DbfTable(stream, version, numrecords, headerlen, recordlen, ldid, LANGUAGE_DRIVERS[ldid])
    consumed = 32
    offset = 0
    while True:
        first = need(1)
        consumed += 1
        if first == b"\r":
            break
        if len(table.fields) >= 255 or consumed + 31 > headerlen:
            raise DbfFormatError(ErrorCode.DBF_HEADER, "нет конца описаний полей (0x0D)")
        desc = first + need(31)
        consumed += 31
        raw_name = desc[:11].split(b"\x00", 1)[0]
        try:
            name = raw_name.decode("ascii").strip().upper()
        except UnicodeDecodeError as exc:
            raise DbfFormatError(ErrorCode.DBF_HEADER, f"имя поля {raw_name!r} не ASCII") from exc
        ftype = chr(desc[11])
        length, decimals = desc[16], desc[17]
        if ftype == "C":  # lengths > 255: high byte in decimals
            length |= decimals << 8
            decimals = 0
        if not name or length == 0:
            raise DbfFormatError(ErrorCode.DBF_HEADER, f"пустое имя или нулевая длина поля {name!r}")
        table.fields.append(DbfField(name, ftype, length, decimals, offset))
        offset += length
    if offset + 1 != recordlen:
        raise DbfFormatError(
            ErrorCode.DBF_HEADER, f"длина записи {recordlen} ≠ 1 + сумма длин полей {offset}"
        )
    if headerlen < consumed:
        raise DbfFormatError(ErrorCode.DBF_HEADER, f"длина заголовка {headerlen} меньше описаний полей")
    need(headerlen - consumed)  # padding / VFP backlink
    return table


# --------------------------------------------------------------------------------------------
# Zip safety
# --------------------------------------------------------------------------------------------


def _check_zip(
    zf: zipfile.ZipFile, limits: ZipLimits
) -> tuple[dict[str, zipfile.ZipInfo], list[tuple[ErrorCode, str]]]:
    """Check the members of an archive; returns {TABLE: info} for the DBF tables and problems."""
    problems: list[tuple[ErrorCode, str]] = []
    infos = zf.infolist()
    if len(infos) > limits.max_members:
        problems.append(
            (ErrorCode.ZIP_LIMITS, f"{len(infos)} файлов в архиве, допустимо {limits.max_members}")
        )
        return {}, problems
    total = 0
    tables: dict[str, zipfile.ZipInfo] = {}
    for info in infos:
        name = info.filename
        norm = name.replace("\\", "/")
        parts = [p for p in norm.split("/") if p not in ("", ".")]
        if norm.startswith("/") or re.match(r"^[A-Za-z]:", norm) or ".." in parts or "\x00" in name:
            problems.append((ErrorCode.ZIP_UNSAFE, f"«{name}»"))
            continue
        if info.flag_bits & 0x1:
            problems.append((ErrorCode.ZIP_INVALID, f"«{name}» зашифрован"))
            continue
        total += info.file_size
        if info.file_size > limits.max_member_size:
            problems.append((ErrorCode.ZIP_LIMITS, f"«{name}»: {info.file_size} байт после распаковки"))
        if info.file_size >= limits.ratio_min_size and info.file_size > limits.max_ratio * max(
            info.compress_size, 1
        ):
            problems.append(
                (
                    ErrorCode.ZIP_LIMITS,
                    f"«{name}»: степень сжатия {info.file_size // max(info.compress_size, 1)}"
                    f":1 выше допустимой {limits.max_ratio}:1",
                )
            )
        if info.is_dir():
            continue
        base = posixpath.basename(norm).upper()
        stem, ext = posixpath.splitext(base)
        if ext == ".DBF" and stem in TABLES:
            if stem in tables:
                problems.append((ErrorCode.ZIP_UNSAFE, f"таблица {stem} встречается в архиве дважды"))
            tables[stem] = info
    if total > limits.max_total_size:
        problems.append(
            (ErrorCode.ZIP_LIMITS, f"{total} байт после распаковки, допустимо {limits.max_total_size}")
        )
    return tables, problems


# --------------------------------------------------------------------------------------------
# Parser
# --------------------------------------------------------------------------------------------


class _Row:
    """Typed access to one record's raw bytes, collecting line errors."""

    def __init__(self, owner: LegacyFile, table: str, tab: DbfTable, recno: int, data: bytes) -> None:
        self.owner, self.table, self.tab, self.recno, self.data = owner, table, tab, recno, data
        self.fields = tab.field_map()
        self.errors: list[LineError] = []
        self.warnings: list[LineError] = []

    def raw(self, name: str) -> bytes:
        f = self.fields[name]
        return self.data[f.offset : f.offset + f.length]

    def err(self, code: ErrorCode, name: str, detail: str = "") -> None:
        e = self.owner._line_error(code, self.recno, f"{self.table}.{name}", detail)
        (self.warnings if e.is_warning else self.errors).append(e)

    def c(self, name: str) -> str:
        try:
            return self.raw(name).decode(self.tab.encoding).strip(" \x00")
        except UnicodeDecodeError:
            self.err(ErrorCode.BAD_VALUE, name, f"байты не декодируются в {self.tab.encoding}")
            return ""

    def n(self, name: str, *, places: int | None = None) -> Decimal | None:
        """Numeric field as Decimal (None if blank)."""
        text = self.raw(name).decode("latin-1").strip(" \x00")
        if text == "":
            return None
        if not re.fullmatch(r"[+-]?(\d+\.?\d*|\.\d+)", text):
            self.err(ErrorCode.BAD_VALUE, name, f"«{text}» не является числом")
            return None
        try:
            value = Decimal(text)
        except InvalidOperation:  # pragma: no cover - regex guarantees a number
            self.err(ErrorCode.BAD_VALUE, name, f"«{text}» не является числом")
            return None
        if places is not None:  # a wider field may carry more decimals; the value must still fit
            q = value.quantize(Decimal(1).scaleb(-places))
            if q != value:
                self.err(ErrorCode.BAD_VALUE, name, f"«{text}»: более {places} знаков после точки")
                return None
            value = q
        return value

    def i(self, name: str, default: int | None = 0) -> int | None:
        v = self.n(name, places=0)
        return default if v is None else int(v)

    def dec(self, name: str, places: int) -> Decimal:
        v = self.n(name, places=places)
        return Decimal(0) if v is None else v

    def kop(self, name: str) -> int:
        v = self.n(name, places=2)
        return 0 if v is None else int(v * 100)

    def d(self, name: str) -> dt.date | None:
        text = self.raw(name).decode("latin-1")
        if text.strip(" \x00") in ("", "00000000"):
            return None
        if re.fullmatch(r"\d{8}", text):
            try:
                return dt.date(int(text[:4]), int(text[4:6]), int(text[6:8]))
            except ValueError:
                pass
        self.err(ErrorCode.BAD_DATE, name, f"«{text}» (ожидается ГГГГММДД)")
        return None

    def meta(self) -> dict[str, Any]:
        return {"line_no": self.recno, "errors": tuple(self.errors), "warnings": tuple(self.warnings)}


class LegacyFile(ParsedFile[LegacyRecord]):
    """Streaming result of :func:`parse`: KART, PROPIS, SCHET, SALDO records in that order.

    After iteration: ``itog`` ({table: ItogRecord}), ``period`` (the MG of SALDO), ``counts`` and
    ``encodings`` per table.
    """

    kind = SourceKind.LEGACY

    def __init__(
        self, source: Source, file_name: str, *, services: Collection[str] | None, limits: ZipLimits
    ) -> None:
        super().__init__(file_name)
        self._source = source
        self.services = None if services is None else frozenset(services)
        self.limits = limits
        self.itog: dict[str, ItogRecord] = {}
        self.period: Period | None = None
        self.counts: dict[str, int] = {}
        self.encodings: dict[str, str] = {}
        self._sums: dict[str, Decimal] = {}

    def _records(self) -> Iterator[LegacyRecord]:
        with open_source(self._source) as stream:
            try:
                zf = zipfile.ZipFile(stream)
            except (zipfile.BadZipFile, OSError, ValueError) as exc:
                self._file_error(ErrorCode.ZIP_INVALID, str(exc))
                return
            with zf:
                tables, problems = _check_zip(zf, self.limits)
                for code, detail in problems:
                    self._file_error(code, detail)
                if problems:
                    return
                for t in ("ITOG", *DATA_TABLES):
                    if t not in tables:
                        self._file_error(ErrorCode.TABLE_MISSING, f"{t}.DBF", field=t)
                if "ITOG" in tables:
                    self._read_itog(zf, tables["ITOG"])
                kart_ok = "KART" in tables
                ls_kpr: dict[str, tuple[int, int]] = {}  # LS -> (record no, KPR)
                counted: dict[str, int] = {}
                for t in DATA_TABLES:
                    if t not in tables:
                        continue
                    yield from self._read_table(zf, tables[t], t, ls_kpr if kart_ok else None, counted)
                    if t == "KART" and "KART" not in self.encodings:
                        kart_ok = False  # KART unreadable: no orphan checks against it
                    if t == "PROPIS" and kart_ok:
                        self._kpr_warnings(ls_kpr, counted)
        self._check_itog()

    # -- tables ---------------------------------------------------------------------------------
    def _open_table(self, zf: zipfile.ZipFile, info: zipfile.ZipInfo, table: str) -> DbfTable | None:
        try:
            stream = zf.open(info)  # a damaged local header raises here already
            tab = read_dbf(stream)  # type: ignore[arg-type]
        except DbfFormatError as exc:
            self._file_error(exc.code, f"{table}.DBF: {exc.detail}", field=table)
            return None
        except _ZIP_READ_ERRORS as exc:
            self._file_error(ErrorCode.ZIP_INVALID, f"{table}.DBF: {exc}", field=table)
            return None
        fields = tab.field_map()
        ok = True
        for spec in TABLES[table]:
            f = fields.get(spec.name)
            if f is None:
                self._file_error(
                    ErrorCode.DBF_FIELD, f"{table}.DBF: нет поля {spec.name}", field=f"{table}.{spec.name}"
                )
                ok = False
            elif (f.type if f.type != "F" else "N") != spec.type:  # dBase IV float: same ASCII storage
                self._file_error(
                    ErrorCode.DBF_FIELD,
                    f"{table}.DBF: поле {spec.name} типа {f.type}, нужен {spec.type}",
                    field=f"{table}.{spec.name}",
                )
                ok = False
            elif (
                f.length < spec.length
                or (spec.type == "N" and f.decimals < spec.decimals)
                or (spec.type == "D" and f.length != 8)
            ):
                self._file_error(
                    ErrorCode.DBF_FIELD,
                    f"{table}.DBF: поле {spec.name} {f.type}{f.length}.{f.decimals} "
                    f"уже, чем {spec.type}{spec.length}.{spec.decimals}",
                    field=f"{table}.{spec.name}",
                )
                ok = False
        if not ok:
            return None
        self.encodings[table] = tab.encoding
        return tab

    def _iter_rows(self, zf: zipfile.ZipFile, info: zipfile.ZipInfo, table: str) -> Iterator[_Row]:
        tab = self._open_table(zf, info, table)
        if tab is None:
            return
        count = 0
        try:
            for recno, deleted, data in tab.records():
                if deleted:
                    continue
                count += 1
                yield _Row(self, table, tab, recno, data)
        except DbfFormatError as exc:
            self._file_error(exc.code, f"{table}.DBF: {exc.detail}", field=table)
        except _ZIP_READ_ERRORS as exc:
            self._file_error(ErrorCode.ZIP_INVALID, f"{table}.DBF: {exc}", field=table)
        finally:
            self.counts[table] = count
            tab.stream.close()

    def _read_itog(self, zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> None:
        for row in self._iter_rows(zf, info, "ITOG"):
            tabl = row.c("TABL").upper()
            nrec = row.i("NREC")
            summa = row.n("SUMMA", places=2)
            if row.errors or nrec is None:
                self._file_error(
                    ErrorCode.CONTROL_FORMAT, "; ".join(e.message for e in row.errors), field="ITOG"
                )
                continue
            self.itog[tabl] = ItogRecord(tabl, nrec, summa if summa is not None else Decimal(0), row.recno)

    def _check_itog(self) -> None:
        if "ITOG" in self.counts or self.itog:
            for t in DATA_TABLES:
                if t not in self.counts:
                    continue
                it = self.itog.get(t)
                if it is None:
                    self._file_error(
                        ErrorCode.CONTROL_MISMATCH, f"в ITOG нет строки для {t}", field="ITOG.TABL"
                    )
                    continue
                if it.nrec != self.counts[t]:
                    self._file_error(
                        ErrorCode.CONTROL_MISMATCH,
                        f"{t}: NREC = {it.nrec}, записей (без удалённых) {self.counts[t]}",
                        line_no=it.line_no,
                        field="ITOG.NREC",
                    )
                actual = self._sums.get(t, Decimal(0)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
                if it.summa != actual:
                    self._file_error(
                        ErrorCode.CONTROL_MISMATCH,
                        f"{t}: SUMMA = {it.summa}, по таблице {actual}",
                        line_no=it.line_no,
                        field="ITOG.SUMMA",
                    )

    def _read_table(
        self,
        zf: zipfile.ZipFile,
        info: zipfile.ZipInfo,
        table: str,
        ls_kpr: dict[str, tuple[int, int]] | None,
        counted: dict[str, int],
    ) -> Iterator[LegacyRecord]:
        total = Decimal(0)
        mg_first: tuple[Period, int] | None = None
        for row in self._iter_rows(zf, info, table):
            ls = row.c("LS")
            rec: LegacyRecord
            if table == "KART":
                kart = self._kart(row, ls, ls_kpr)
                total += kart.opl
                rec = kart
            else:
                if ls_kpr is not None and ls and ls not in ls_kpr:
                    row.err(ErrorCode.ORPHAN_ACCOUNT, "LS", ls)
                if not ls:
                    row.err(ErrorCode.EMPTY_REQUIRED, "LS")
                if table == "PROPIS":
                    propis = self._propis(row, ls)
                    if propis.status in COUNTED_STATUSES:
                        counted[ls] = counted.get(ls, 0) + 1
                    rec = propis
                elif table == "SCHET":
                    schet = self._schet(row, ls)
                    total += schet.pok
                    rec = schet
                else:
                    saldo = self._saldo(row, ls)
                    total += Decimal(saldo.saldo + saldo.peni) / 100
                    rec = saldo
                    if saldo.mg is not None:
                        if mg_first is None:
                            mg_first = (saldo.mg, row.recno)
                            self.period = saldo.mg
                        elif saldo.mg != mg_first[0]:
                            self._file_error(
                                ErrorCode.MIXED_PERIOD,
                                f"MG {saldo.mg.yyyymm}, в записи {mg_first[1]} — {mg_first[0].yyyymm}",
                                line_no=row.recno,
                                field="SALDO.MG",
                            )
            yield rec
        self._sums[table] = total

    def _usl(self, row: _Row) -> str:
        usl = row.c("USL")
        if not usl:
            row.err(ErrorCode.EMPTY_REQUIRED, "USL")
        elif self.services is not None and usl not in self.services:
            row.err(ErrorCode.UNKNOWN_SERVICE, "USL", usl)
        return usl

    def _kart(self, row: _Row, ls: str, ls_kpr: dict[str, tuple[int, int]] | None) -> KartRecord:
        if not ls:
            row.err(ErrorCode.EMPTY_REQUIRED, "LS")
        elif ls_kpr is not None:
            if ls in ls_kpr:
                row.err(ErrorCode.DUPLICATE_IN_FILE, "LS", f"{ls} уже в записи {ls_kpr[ls][0]}")
        kpr = row.i("KPR") or 0
        if ls and ls_kpr is not None and ls not in ls_kpr:
            ls_kpr[ls] = (row.recno, kpr)
        rec = KartRecord(
            ls,
            row.c("FIO"),
            row.c("KUL"),
            row.c("ULICA"),
            row.c("ND"),
            row.c("KORP"),
            row.c("KW"),
            row.c("KOMN"),
            row.c("ADRES"),
            row.dec("OPL", 2),
            row.dec("PPL", 2),
            kpr,
            row.i("PSCH") or 0,
            row.d("DATN"),
            row.d("DATK"),
            **row.meta(),
        )
        return rec

    def _propis(self, row: _Row, ls: str) -> PropisRecord:
        pid = row.i("ID", None)
        if not row.raw("ID").strip(b" \x00"):
            row.err(ErrorCode.EMPTY_REQUIRED, "ID")
        status = row.i("STATUS", None)
        if status not in RESIDENT_STATUSES:
            row.err(
                ErrorCode.BAD_STATUS,
                "STATUS",
                f"«{status if status is not None else ''}», "
                f"допустимо {', '.join(map(str, sorted(RESIDENT_STATUSES)))}",
            )
        dprop, dvyb = row.d("DPROP"), row.d("DVYB")
        if dprop and dvyb and dvyb < dprop:
            row.err(ErrorCode.DATE_RANGE, "DVYB", f"{dvyb:%d.%m.%Y} < DPROP {dprop:%d.%m.%Y}")
        snils = row.c("SNILS")
        if snils and not snils_is_valid(snils):
            row.err(ErrorCode.SNILS_WARNING, "SNILS", snils)
        drog = row.d("DROG")
        return PropisRecord(
            ls,
            pid,
            row.c("FAM"),
            row.c("IM"),
            row.c("OT"),
            drog,
            row.c("POL"),
            status,
            dprop,
            dvyb,
            snils,
            row.i("KOD_L") or 0,
            **row.meta(),
        )

    def _schet(self, row: _Row, ls: str) -> SchetRecord:
        nsch = row.c("NSCH")
        if not nsch:
            row.err(ErrorCode.BLANK_METER_NUMBER, "NSCH")
        usl = self._usl(row)
        return SchetRecord(
            ls,
            nsch,
            usl,
            row.i("TARZ") or 0,
            row.d("DUST"),
            row.d("DPOV"),
            row.dec("POK", 3),
            row.d("DPOK"),
            **row.meta(),
        )

    def _saldo(self, row: _Row, ls: str) -> SaldoRecord:
        usl = self._usl(row)
        mg_text = row.c("MG")
        mg: Period | None = None
        try:
            mg = Period.parse(mg_text, "YYYYMM")
        except FieldValueError as exc:
            row.err(exc.code, "MG", exc.detail)
        return SaldoRecord(ls, usl, mg, row.kop("SALDO"), row.kop("PENI"), **row.meta())

    def _kpr_warnings(self, ls_kpr: dict[str, tuple[int, int]], counted: dict[str, int]) -> None:
        warnings = []
        for ls, (recno, kpr) in ls_kpr.items():
            n = counted.get(ls, 0)
            if n != kpr:
                warnings.append(
                    self._line_error(
                        ErrorCode.KPR_MISMATCH,
                        recno,
                        "KART.KPR",
                        f"ЛС {ls}: KPR = {kpr}, в PROPIS со статусом 1/3 — {n}",
                    )
                )
        self._add_warnings(warnings)


def parse(
    source: Source,
    file_name: str | None = None,
    *,
    services: Collection[str] | None = None,
    limits: ZipLimits | None = None,
) -> LegacyFile:
    """Parse a legacy set (zip path, bytes or stream). ``services``: legacy USL codes present in
    the service mapping; when given, other codes are line errors (UNKNOWN_SERVICE)."""
    return LegacyFile(source, source_name(source, file_name), services=services, limits=limits or ZipLimits())


# --------------------------------------------------------------------------------------------
# Writer
# --------------------------------------------------------------------------------------------


class DbfWriter:
    """Write one dBase III table to a seekable binary stream (record count patched on close)."""

    def __init__(
        self,
        out: BinaryIO,
        fields: Iterable[FieldSpec],
        *,
        encoding: str = "cp866",
        language_driver: int = 0x26,
        header_date: dt.date | None = None,
    ) -> None:
        self.out = out
        self.fields = list(fields)
        self.encoding = encoding
        self.count = 0
        self._start = out.tell()
        d = header_date or dt.date.today()
        headerlen = 32 + 32 * len(self.fields) + 1
        self.recordlen = 1 + sum(f.length for f in self.fields)
        head = struct.pack("<B3BIHH", 0x03, d.year - 1900, d.month, d.day, 0, headerlen, self.recordlen)
        head += bytes(17) + bytes([language_driver]) + bytes(2)
        out.write(head)
        for f in self.fields:
            name = f.name.encode("ascii").ljust(11, b"\x00")
            length, dec = (f.length & 0xFF, f.length >> 8) if f.type == "C" else (f.length, f.decimals)
            out.write(name + f.type.encode("ascii") + bytes(4) + bytes([length, dec]) + bytes(14))
        out.write(b"\r")

    def _value(self, f: FieldSpec, value: Any) -> bytes:
        if f.type == "C":
            text = "" if value is None else str(value)
            b = text.encode(self.encoding)
            if len(b) > f.length:
                raise ValueError(f"{f.name}: {text!r} longer than {f.length}")
            return b.ljust(f.length, b" ")
        if isinstance(value, str):  # raw text for N/D fields (test fixtures with bad values)
            b = value.encode("ascii")
            if len(b) > f.length:
                raise ValueError(f"{f.name}: {value!r} longer than {f.length}")
            return b.rjust(f.length, b" ")
        if f.type == "D":
            if value is None:
                return b" " * 8
            return f"{value.year:04d}{value.month:02d}{value.day:02d}".encode("ascii")
        if value is None:
            return b" " * f.length
        if isinstance(value, float):
            raise TypeError(f"{f.name}: float values are not accepted, use Decimal or int")
        dec = Decimal(value)
        q = dec.quantize(Decimal(1).scaleb(-f.decimals))
        if q != dec:
            raise ValueError(f"{f.name}: {value} has more than {f.decimals} decimals")
        text = format_decimal(q, ".", min_places=f.decimals) if f.decimals else str(int(q))
        if len(text) > f.length:
            raise ValueError(f"{f.name}: {value} does not fit N{f.length}.{f.decimals}")
        return text.rjust(f.length).encode("ascii")

    def add(self, values: Mapping[str, Any], *, deleted: bool = False) -> None:
        """Append a record; ``values`` maps field names (any case) to str/int/Decimal/date/None."""
        low = {k.upper(): v for k, v in values.items()}
        rec = (b"*" if deleted else b" ") + b"".join(self._value(f, low.get(f.name)) for f in self.fields)
        self.out.write(rec)
        self.count += 1

    def close(self) -> None:
        self.out.write(b"\x1a")
        end = self.out.tell()
        self.out.seek(self._start + 4)
        self.out.write(struct.pack("<I", self.count))
        self.out.seek(end)


def _record_values(rec: Any) -> dict[str, Any]:
    if isinstance(rec, Mapping):
        return dict(rec)
    values = {
        k: getattr(rec, k)
        for k in rec.__dataclass_fields__
        if k not in ("line_no", "raw", "errors", "warnings")
    }
    if isinstance(rec, SaldoRecord):
        values["saldo"] = Decimal(rec.saldo) / 100
        values["peni"] = Decimal(rec.peni) / 100
        values["mg"] = rec.mg.yyyymm if rec.mg else ""
    return values


def write_dbf(
    dst: BinaryIO,
    table: str,
    rows: Iterable[Any],
    *,
    encoding: str = "cp866",
    language_driver: int = 0x26,
    header_date: dt.date | None = None,
) -> int:
    """Write one table of the set (records or mappings) to a seekable stream; returns the count.
    A mapping row may carry ``"_deleted": True`` to write a deleted record (for tests)."""
    w = DbfWriter(
        dst, TABLES[table], encoding=encoding, language_driver=language_driver, header_date=header_date
    )
    for row in rows:
        values = _record_values(row)
        w.add(values, deleted=bool(values.pop("_deleted", False)))
    w.close()
    return w.count


def write_set(
    dst: str | IO[bytes],
    *,
    kart: Iterable[Any],
    propis: Iterable[Any],
    schet: Iterable[Any],
    saldo: Iterable[Any],
    encoding: str = "cp866",
    language_driver: int = 0x26,
    header_date: dt.date | None = None,
    zip_date_time: tuple[int, int, int, int, int, int] = (2025, 1, 1, 0, 0, 0),
) -> dict[str, ItogRecord]:
    """Write a complete legacy zip (KART, PROPIS, SCHET, SALDO and the computed ITOG).

    Rows are dataclass records of this module or mappings of field name → value (money in
    SALDO mappings as Decimal rubles, in SaldoRecord as kopecks). Tables are spooled to
    temporary files, so memory stays bounded. Returns the ITOG rows written.
    """
    itog: dict[str, ItogRecord] = {}
    with open_dest(dst) as out, zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for table, rows in (("KART", kart), ("PROPIS", propis), ("SCHET", schet), ("SALDO", saldo)):
            total = Decimal(0)
            counted = 0

            def tally(rows: Iterable[Any], table: str = table) -> Iterator[Any]:
                nonlocal total, counted
                for row in rows:
                    v = _record_values(row)
                    if not v.get("_deleted"):
                        counted += 1
                        if table == "KART":
                            total += Decimal(v.get("opl") or v.get("OPL") or 0)
                        elif table == "SCHET":
                            total += Decimal(v.get("pok") or v.get("POK") or 0)
                        elif table == "SALDO":
                            total += Decimal(v.get("saldo") or v.get("SALDO") or 0)
                            total += Decimal(v.get("peni") or v.get("PENI") or 0)
                    yield v

            with tempfile.TemporaryFile() as tmp:
                write_dbf(
                    tmp,
                    table,
                    tally(rows),
                    encoding=encoding,
                    language_driver=language_driver,
                    header_date=header_date,
                )
                tmp.seek(0)
                info = zipfile.ZipInfo(f"{table}.DBF", zip_date_time)
                info.compress_type = zipfile.ZIP_DEFLATED
                with zf.open(info, "w", force_zip64=True) as member:
                    shutil.copyfileobj(tmp, member)
            itog[table] = ItogRecord(table, counted, total.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))
        buf = io.BytesIO()
        write_dbf(
            buf,
            "ITOG",
            ({"TABL": i.tabl, "NREC": i.nrec, "SUMMA": i.summa} for i in itog.values()),
            encoding=encoding,
            language_driver=language_driver,
            header_date=header_date,
        )
        info = zipfile.ZipInfo("ITOG.DBF", zip_date_time)
        info.compress_type = zipfile.ZIP_DEFLATED
        zf.writestr(info, buf.getvalue())
    return itog
