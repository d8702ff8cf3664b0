"""Column types of the store that behave the same on SQLite and PostgreSQL.

``Dec`` is NUMERIC(p, s) that always gives back ``Decimal`` quantized to its scale. SQLite has no
decimal type (values are kept as REAL with 15+ significant digits, enough for tariffs, norms,
volumes and areas); the value read back is re-quantized, so it equals what was written. Money is
never stored here: money is integer kopecks in BIGINT columns.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import Numeric
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator, TypeEngine


class Dec(TypeDecorator[Decimal]):
    """NUMERIC(precision, scale) read back as an exact ``Decimal`` on every backend."""

    impl = Numeric
    cache_ok = True

    def __init__(self, precision: int = 18, scale: int = 6) -> None:
        super().__init__(precision=precision, scale=scale)
        self.precision = precision
        self.scale = scale
        self._quantum = Decimal(1).scaleb(-scale)

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(Numeric(self.precision, self.scale, asdecimal=False))
        return dialect.type_descriptor(Numeric(self.precision, self.scale))

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        if dialect.name == "sqlite":
            return str(Decimal(value))
        return Decimal(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        if isinstance(value, Decimal):
            return value.quantize(self._quantum)
        return Decimal(repr(value) if isinstance(value, float) else str(value)).quantize(self._quantum)

    def __repr__(self) -> str:
        return f"Dec({self.precision}, {self.scale})"
