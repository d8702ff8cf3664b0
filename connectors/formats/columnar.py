"""The Arrow form of the parsers' fast path: a block of ordinary registry lines read and checked as
columns by pyarrow (its CSV reader and compute kernels, in C++, mostly without the GIL) instead of
one Python object per field.

A format uses it only for a *plain* block — decoded, no control characters, no whitespace other
than the ASCII space (:func:`is_plain`), the expected number of fields on every line (the reader
fails otherwise). The checks here may be stricter than the per-line parser, never looser: a line
failing any of them goes through the per-line parser, which alone decides and words its problems
(``tests/formats/test_fast_path.py`` proves the paths equal).

* :func:`read_fields` — lines → a table of string columns;
* :func:`by_distinct` — a column mapped through a Python function called once per distinct value
  (files repeat the same few dates, times and periods);
* :func:`money_kop` — amounts in their usual form (``2500,00``) → int64 kopecks, never float;
* :func:`blank` — empty or spaces only;
* :func:`fixed_fields`, :func:`fixed_digits`, :func:`fixed_distinct` — the fields of fixed-width
  records (the post registry) cut from the raw bytes as a 2-D NumPy array, one row per record:
  text decoded by the codec in one go per run, numbers from their digits, few-valued fields
  converted once per distinct value;
* :class:`ArrowRows` — the fast rows of a block as an Arrow table; the loader writes it to the
  store as it is (``hub.ingest.payments``), ``cols``/``record`` give the records back.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from .common import FastRows

__all__ = [
    "ArrowRows",
    "blank",
    "by_distinct",
    "fixed_digits",
    "fixed_distinct",
    "fixed_fields",
    "is_plain",
    "money_kop",
    "read_fields",
]

# control characters but the line feed joining the lines
_CONTROL_BYTES = bytes(range(0x0A)) + bytes(range(0x0B, 0x20)) + b"\x7f"
# the bytes of an 8-bit code page that decode to whitespace beyond the ASCII space (str.isspace,
# str.strip): a block holding one goes the Python way, so that trims and blank checks agree exactly
ODD_SPACE_BYTES = {"cp1251": b"\xa0", "cp866": b"\xff"}
_MISSING = object()


def is_plain(data: bytes, encoding: str) -> bool:
    """``data`` (lines joined with ``\n``, in ``encoding``) holds no empty line, no control
    character and no whitespace but the space (a check of bytes: one pass, no decoding)."""
    if not data or data[:1] == b"\n" or data[-1:] == b"\n" or b"\n\n" in data:
        return False  # the CSV reader would make a row of empty fields of an empty line
    bad = _CONTROL_BYTES + ODD_SPACE_BYTES[encoding]
    return len(data.translate(None, bad)) == len(data)


def read_fields(text: str, names: Sequence[str], delimiter: str = ";") -> pa.Table | None:
    """The lines of ``text`` (joined with ``\\n``) as string columns ``names``: no quoting, no
    escapes, empty lines kept (so they fail). None when a line has another number of fields."""
    try:
        return pacsv.read_csv(
            pa.py_buffer(text.encode("utf-8")),
            read_options=pacsv.ReadOptions(column_names=list(names), use_threads=False, block_size=1 << 24),
            parse_options=pacsv.ParseOptions(
                delimiter=delimiter,
                quote_char=False,
                escape_char=False,
                newlines_in_values=False,
                ignore_empty_lines=False,
            ),
            convert_options=pacsv.ConvertOptions(
                column_types={n: pa.string() for n in names},
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
    except pa.ArrowInvalid:
        return None


def by_distinct(column: Any, cache: dict[str, Any], convert: Callable[[str], Any]) -> tuple[list[Any], Any]:
    """(the converted distinct values, the index of each row's value among them): ``convert`` is
    called once per value ever seen (``cache`` lives as long as the file)."""
    uniq = pc.unique(column)
    values = []
    for key in uniq.to_pylist():
        value = cache.get(key, _MISSING)
        if value is _MISSING:
            value = cache[key] = convert(key)
        values.append(value)
    return values, pc.index_in(column, value_set=uniq)


def money_kop(column: Any, pattern: str = r"^\d{1,15}[.,]\d\d$") -> tuple[Any, Any]:
    """Kopecks of a column of amounts in their usual form and the mask of the values in that
    form (the others: 0 and False). The digits without the separator are the kopecks."""
    ok = pc.match_substring_regex(column, pattern)
    if not pc.all(ok).as_py():
        column = pc.if_else(ok, column, "0,00")
    digits = pc.replace_substring(pc.replace_substring(column, ",", ""), ".", "")
    return pc.cast(digits, pa.int64()), ok


def fixed_fields(cells: Any, encoding: str, spans: Sequence[tuple[int, int]]) -> list[pa.Array]:
    """Fixed-width text fields of fixed-width records as Arrow string columns, right-trimmed of
    spaces (``str.rstrip`` in a plain block). ``cells``: a 2-D uint8 array, a row per record, in an
    8-bit ``encoding``; ``spans``: (start, stop) byte positions. The fields are laid out field by
    field with a line feed after each value (a plain block has none inside), decoded and encoded
    in one go by the codecs, and cut at the line feeds — no Python object per value."""
    n = cells.shape[0]
    parts = []
    for start, stop in spans:
        part = np.empty((n, stop - start + 1), np.uint8)
        part[:, :-1] = cells[:, start:stop]
        part[:, -1] = 0x0A
        parts.append(part.reshape(-1))
    data = np.concatenate(parts).tobytes().decode(encoding).encode("utf-8")
    ends = np.flatnonzero(np.frombuffer(data, np.uint8) == 0x0A) + 1
    offsets = np.zeros(len(ends) + 1, np.int32)
    offsets[1:] = ends
    values = pa.StringArray.from_buffers(len(ends), pa.py_buffer(offsets), pa.py_buffer(data))
    trimmed = pc.utf8_rtrim(values, " \n")
    return [trimmed.slice(k * n, n) for k in range(len(spans))]


def fixed_digits(cells: Any) -> tuple[Any, Any]:
    """(int64 values, mask of the rows that are ASCII digits only) of a fixed-width field of
    ``cells`` (a 2-D uint8 array, at most 18 digits); the values of other rows are meaningless."""
    digits = cells.astype(np.int64) - 0x30
    ok = ((digits >= 0) & (digits <= 9)).all(axis=1)
    powers = 10 ** np.arange(cells.shape[1] - 1, -1, -1, dtype=np.int64)
    return digits @ powers, ok


def fixed_distinct(
    cells: Any, encoding: str, cache: dict[str, Any], convert: Callable[[str], Any]
) -> tuple[list[Any], Any]:
    """:func:`by_distinct` for a fixed-width field of ``cells`` (a 2-D uint8 array): the converted
    distinct values and, per row, the index of its value among them (a NumPy array)."""
    keys = np.ascontiguousarray(cells).view(f"S{cells.shape[1]}").reshape(-1)
    uniq, where = np.unique(keys, return_inverse=True)
    values = []
    for raw in uniq.tolist():
        key = raw.ljust(cells.shape[1], b"\0").decode(encoding)  # NumPy drops trailing NULs
        value = cache.get(key, _MISSING)
        if value is _MISSING:
            value = cache[key] = convert(key)
        values.append(value)
    return values, where.reshape(-1)


def blank(column: Any) -> Any:
    """Empty or spaces only (in a plain block: exactly ``not s or s.isspace()``)."""
    return pc.match_substring_regex(column, r"^ *$")


def empty_to_null(column: Any) -> Any:
    """``""`` → null (the loader's ``value or None``)."""
    return pc.if_else(pc.equal(column, ""), pa.scalar(None, column.type), column)


class ArrowRows(FastRows):
    """Fast rows kept as Arrow tables (one per block, concatenated when read). A format's subclass
    names its table's columns and turns them into the record fields (:meth:`python_columns`)."""

    __slots__ = ("_cache", "tables")

    def __init__(self, table: pa.Table | None = None, total_kop: int = 0) -> None:
        self.tables: list[pa.Table] = [] if table is None or not table.num_rows else [table]
        self.total_kop = total_kop
        self._cache: dict[str, list[Any]] | None = None

    def __len__(self) -> int:
        return sum(t.num_rows for t in self.tables)

    @property
    def table(self) -> pa.Table:
        if len(self.tables) > 1:  # zero-copy: the columns become chunked arrays
            self.tables = [pa.concat_tables(self.tables)]
        return self.tables[0]

    def append(self, other: FastRows) -> None:
        assert isinstance(other, ArrowRows)
        self.tables.extend(other.tables)
        self.total_kop += other.total_kop
        self._cache = None

    def extend(self, columns: dict[str, Sequence[Any]], keep: Sequence[int] | None) -> None:
        raise TypeError("ArrowRows take whole tables (append)")

    @property
    def cols(self) -> dict[str, list[Any]]:  # type: ignore[override]
        if self._cache is None:
            self._cache = self.python_columns(self.table) if self.tables else {c: [] for c in self.COLUMNS}
        return self._cache

    def python_columns(self, table: pa.Table) -> dict[str, list[Any]]:
        """The columns named in ``COLUMNS`` as Python lists of the record's values."""
        raise NotImplementedError

    def raw_lines(self, table: pa.Table, rows: Sequence[int]) -> list[str]:
        """The source lines of ``rows`` of ``table`` (for the problems the loader finds)."""
        raise NotImplementedError
