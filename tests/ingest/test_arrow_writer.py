"""The loader's Arrow writer (``hub.ingest.common.write_arrow``): PostgreSQL gets COPY's binary form
(pgpq, each column cast to the type its table column reads), SQLite tuples; both stores read back
exactly what was written — empty strings apart from nulls, Cyrillic text, dates, times, 64-bit
money — and a value the column cannot hold is refused before anything is sent."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from hub.ingest.common import copy_batch, write_arrow

META = sa.MetaData()
SCRATCH = sa.Table(
    "arrow_writer_scratch",
    META,
    sa.Column("big", sa.BigInteger),
    sa.Column("small", sa.Integer),
    sa.Column("name", sa.String(40)),
    sa.Column("day", sa.Date),
    sa.Column("at", sa.Time),
    sa.Column("flag", sa.Boolean),
)
COLUMNS = ("big", "small", "name", "day", "at", "flag")
ROWS = [
    (9_000_000_000_000_000, 202611, "ИВАНОВ И И", dt.date(2026, 11, 10), dt.time(8, 0, 59), True),
    (-1, -2_147_483_648, "", dt.date(2000, 1, 1), dt.time(23, 59, 59), False),
    (None, None, None, None, None, None),
    (0, 2_147_483_647, "г Рязань, ул Ленина, д 5; «№ 12»", dt.date(1970, 1, 1), dt.time(0, 0), True),
]


def _table() -> pa.Table:
    """The rows as the loader builds them: int64 where the column is an ``integer``, time32[s]."""
    cols = list(zip(*ROWS, strict=True))
    return pa.table(
        {
            "big": pa.array(cols[0], pa.int64()),
            "small": pa.array(cols[1], pa.int64()),
            "name": pa.array(cols[2], pa.string()),
            "day": pa.array(cols[3], pa.date32()),
            "at": pa.array(cols[4], pa.time32("s")),
            "flag": pa.array(cols[5], pa.bool_()),
        }
    )


def test_both_stores_read_back_what_was_written(store: Engine) -> None:
    META.create_all(store)
    with store.begin() as conn:
        assert write_arrow(conn, SCRATCH, COLUMNS, _table()) == len(ROWS)
    with store.connect() as conn:
        got = [tuple(r) for r in conn.execute(sa.select(*SCRATCH.c))]
    assert sorted(got, key=repr) == sorted(ROWS, key=repr)


def test_a_value_the_column_cannot_hold_is_refused_before_sending() -> None:
    too_big = _table().set_column(1, "small", pa.array([2**31, 0, None, 1], pa.int64()))
    with pytest.raises(pa.ArrowInvalid):
        copy_batch(too_big, SCRATCH, COLUMNS)


def test_binary_form_is_cast_to_the_column_types() -> None:
    batch = copy_batch(_table(), SCRATCH, COLUMNS)
    assert batch.num_rows == len(ROWS)
    assert batch.data.startswith(b"PGCOPY\n\xff\r\n\x00")  # the binary COPY signature
    assert batch.data.endswith(b"\xff\xff")  # the trailer: a field count of -1


def test_a_column_type_without_binary_form_is_named() -> None:
    table = sa.Table("odd", sa.MetaData(), sa.Column("amount", sa.Numeric(12, 2)))
    with pytest.raises(TypeError, match=r"odd\.amount"):
        copy_batch(pa.table({"amount": pa.array([1], pa.int64())}), table, ["amount"])
