"""PostgreSQL: a GIN index (``btree_gin``) on ``payments.account_id``; the reference trigger scans once.

Measured by binary COPY of 1,000,000 ``payments`` rows (PostgreSQL backend CPU, ~14.5 s in all):

* the B-tree ``ix_payments_account_date (account_id, op_date)`` cost ~4.5 s of it — the accounts of a
  registry come in no order, so every row is inserted at a random place of the tree. A GIN index on
  ``account_id`` alone (operator class of the ``btree_gin`` extension) costs ~2 s less: with
  ``fastupdate`` new entries go to a pending list that is merged into the tree in bulk, one posting
  list per account (with the default 4 MB ``gin_pending_list_limit`` that merge still happens inside
  the load, and the figure includes it). A GIN on ``(account_id, op_date)`` was ~1.5 s worse than on
  ``account_id`` alone: an account has few payments, ordering them by date is a small sort. The new
  index is ``ix_payments_account_id`` (``account_id`` only, the same name on both stores). Before
  PostgreSQL 18 ``btree_gin`` compares a bigint with a bigint only: SQLAlchemy binds ``account_id``
  as ``::BIGINT``; raw SQL with an integer literal or an int2/int4 parameter would not use the index.
* the statement-level trigger function ``unipay_payments_references()`` of migration 0003 read the
  transition table ``new_rows`` three times (one ``ARRAY(SELECT DISTINCT …)`` per reference); one
  scan with three ``array_agg(DISTINCT …)`` costs ~1.4 s less per million rows. The checks themselves
  (``unipay_check_parents``: lock ``FOR KEY SHARE``, count, name the foreign key and the missing key)
  are unchanged, so are the guarantees.

``btree_gin`` is a trusted contrib extension (PostgreSQL 13+, shipped with Debian's ``postgresql``
package): the database owner with CREATE privilege on the database can install it, no superuser.
SQLite has no GIN: it gets a B-tree on ``account_id`` under the same name.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_INDEX = "ix_payments_account_date"  # (account_id, op_date), B-tree on both stores
NEW_INDEX = "ix_payments_account_id"  # (account_id), GIN on PostgreSQL, B-tree on SQLite

REFERENCES_FUNCTION = """
CREATE OR REPLACE FUNCTION unipay_payments_references() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    accs bigint[];
    agents bigint[];
    files bigint[];
BEGIN
    -- one scan of the statement's rows (was three)
    SELECT array_agg(DISTINCT account_id) FILTER (WHERE account_id IS NOT NULL),
           array_agg(DISTINCT agent_id),
           array_agg(DISTINCT registry_file_id) FILTER (WHERE registry_file_id IS NOT NULL)
      INTO accs, agents, files FROM new_rows;
    PERFORM unipay_check_parents('accounts', coalesce(accs, '{}'), 'fk_payments_account_id_accounts', 'account_id');
    PERFORM unipay_check_parents('payment_agents', coalesce(agents, '{}'), 'fk_payments_agent_id_payment_agents', 'agent_id');
    PERFORM unipay_check_parents('registry_files', coalesce(files, '{}'), 'fk_payments_registry_file_id_registry_files', 'registry_file_id');
    RETURN NULL;
END $$
"""  # noqa: E501

# The function as migration 0003 created it (three scans of new_rows), restored by the downgrade.
# A copy, not an import: a migration must not change when another one is edited.
REFERENCES_FUNCTION_0003 = """
CREATE OR REPLACE FUNCTION unipay_payments_references() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM unipay_check_parents('accounts',
        ARRAY(SELECT DISTINCT account_id FROM new_rows WHERE account_id IS NOT NULL),
        'fk_payments_account_id_accounts', 'account_id');
    PERFORM unipay_check_parents('payment_agents', ARRAY(SELECT DISTINCT agent_id FROM new_rows),
        'fk_payments_agent_id_payment_agents', 'agent_id');
    PERFORM unipay_check_parents('registry_files',
        ARRAY(SELECT DISTINCT registry_file_id FROM new_rows WHERE registry_file_id IS NOT NULL),
        'fk_payments_registry_file_id_registry_files', 'registry_file_id');
    RETURN NULL;
END $$
"""


def upgrade() -> None:
    pg = op.get_bind().dialect.name == "postgresql"
    if pg:
        op.execute("CREATE EXTENSION IF NOT EXISTS btree_gin")
    op.drop_index(OLD_INDEX, table_name="payments")
    op.create_index(NEW_INDEX, "payments", ["account_id"], unique=False, postgresql_using="gin")
    if pg:
        op.execute(REFERENCES_FUNCTION)


def downgrade() -> None:
    pg = op.get_bind().dialect.name == "postgresql"
    if pg:
        op.execute(REFERENCES_FUNCTION_0003)
    op.drop_index(NEW_INDEX, table_name="payments")
    op.create_index(OLD_INDEX, "payments", ["account_id", "op_date"], unique=False)
    # btree_gin stays installed: other objects of the database may use it by now, and dropping an
    # extension may need more rights than creating a trusted one did.
