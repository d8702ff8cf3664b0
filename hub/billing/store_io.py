"""Columnar reads from the store for the engine: SQL that returns scaled integers, fetched into NumPy.

Decimals are scaled in SQL (``ROUND(x × 10^k)``) so that millions of rows never become Python
``Decimal`` objects; dates come back as days since 1970-01-01. Works on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from sqlalchemy import Connection, text


def scaled(conn: Connection, expr: str, scale: int) -> str:
    """SQL for ``expr`` × 10^scale as an exact integer."""
    return f"CAST(ROUND({expr} * {10**scale}) AS BIGINT)"


def days(conn: Connection, expr: str) -> str:
    """SQL for a DATE ``expr`` as days since 1970-01-01 (NULL stays NULL)."""
    if conn.dialect.name == "sqlite":
        return f"CAST(julianday({expr}) - 2440587.5 AS INTEGER)"
    return f"({expr} - DATE '1970-01-01')"


def in_list(name: str, values: Sequence[int] | None) -> tuple[str, dict[str, Any]]:
    """A ``name IN (…)`` filter with bound parameters (or no filter for ``None``)."""
    if values is None:
        return "1 = 1", {}
    if not values:
        return "1 = 0", {}
    params = {f"{name.replace('.', '_')}_{i}": int(v) for i, v in enumerate(values)}
    return f"{name} IN ({', '.join(':' + k for k in params)})", params


def fetch(
    conn: Connection,
    sql: str,
    params: Mapping[str, Any] | None = None,
    nulls: Mapping[str, int] | None = None,
) -> dict[str, np.ndarray]:
    """Run ``sql`` and return its columns as int64 arrays (``nulls`` gives per-column NULL fill values;
    text columns come back as object arrays)."""
    result = conn.execute(text(sql), dict(params or {}))
    names = list(result.keys())
    rows = result.all()
    out: dict[str, np.ndarray] = {}
    fill = dict(nulls or {})
    for i, name in enumerate(names):
        col = [r[i] for r in rows]
        if col and isinstance(next((v for v in col if v is not None), 0), str):
            out[name] = np.array(col, dtype=object)
            continue
        default = fill.get(name, 0)
        out[name] = np.array([default if v is None else int(v) for v in col], dtype=np.int64)
    return out
