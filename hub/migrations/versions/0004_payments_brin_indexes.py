"""PostgreSQL: the ``op_date`` and ``registry_file_id`` indexes of ``payments`` become BRIN.

Maintaining the two B-trees ``ix_payments_op_date`` and ``ix_payments_registry_file_id`` cost ~5–7 s
of the ~25 s PostgreSQL spent COPYing the 1,000,000 payments of one bank registry (a B-tree insert per
row and index). Payments are appended file by file, day by day, so the heap order follows
``registry_file_id`` and (nearly) ``op_date``: a BRIN index — the min/max of each range of blocks —
serves the range queries (reports by ``op_date`` range, the ``registry_files`` delete guard of
migration 0003 by ``registry_file_id``) at almost no write cost. Same names, so the models declare
them with ``postgresql_using="brin"``. SQLite has no BRIN: it keeps its B-trees (nothing done there).
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (index, column) of payments
INDEXES = (
    ("ix_payments_op_date", "op_date"),
    ("ix_payments_registry_file_id", "registry_file_id"),
)


def _replace(using: str) -> None:
    for name, column in INDEXES:
        op.drop_index(name, table_name="payments")
        op.create_index(name, "payments", [column], unique=False, postgresql_using=using)


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return  # SQLite has no BRIN: its B-trees stay
    _replace("brin")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    _replace("btree")
