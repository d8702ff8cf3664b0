"""``registry_files.partner_file_id``: the partner's own id of a file (the SZN list's ``FileId``).

Until now a beneficiary list's FileId was kept in ``registry_files.message`` as ``FileId=<id>``, and
the duplicate check (F103), the charges reply (``unipay export szn --reply-to``) and the monthly
replies looked for that text. It is now a column of its own, indexed with ``kind``; the upgrade
copies the ids of the lists already loaded out of their messages (the messages stay as they are,
for people reading the journal). The downgrade drops the column: the messages still hold the ids.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PREFIX = "FileId="


def upgrade() -> None:
    # plain ALTER TABLE on both stores (SQLite adds and, since 3.35, drops columns in place: a batch
    # copy of the table would have to drop registry_files, which payments refer to)
    op.add_column("registry_files", sa.Column("partner_file_id", sa.String(length=64), nullable=True))
    op.create_index(
        "ix_registry_files_kind_partner_file_id", "registry_files", ["kind", "partner_file_id"], unique=False
    )
    op.execute(
        sa.text(
            "UPDATE registry_files SET partner_file_id = substr(message, :start) "
            "WHERE kind = 'szn' AND message LIKE :pattern AND length(message) <= :longest"
        ).bindparams(start=len(PREFIX) + 1, pattern=PREFIX + "%", longest=len(PREFIX) + 64)
    )


def downgrade() -> None:
    op.drop_index("ix_registry_files_kind_partner_file_id", table_name="registry_files")
    op.drop_column("registry_files", "partner_file_id")
