"""PostgreSQL: the references of ``payments`` checked once per statement instead of once per row.

PostgreSQL checks a foreign key for every row written (an SPI query and a ``FOR KEY SHARE`` lock of
the referenced row). For ``payments`` — a million rows COPYed by one registry file — the three foreign
keys (account, payment agent, registry file) were two thirds of the server's work (docs/performance.md,
"Ingest"). Here they become statement-level triggers with transition tables that keep the same
guarantees set-based:

* after INSERT or UPDATE of ``payments`` (a COPY is one statement): the distinct referenced accounts,
  agents and registry files are locked ``FOR KEY SHARE`` (as a foreign key locks them: no concurrent
  delete until commit) and counted; fewer than referenced → ``foreign_key_violation`` (SQLSTATE
  23503, naming the constraint the foreign key had and the missing key);
* after DELETE from ``accounts``, ``payment_agents`` or ``registry_files``: a deleted row still
  referenced by a payment → ``foreign_key_violation``; TRUNCATE of them is refused outright.

The models keep their ``ForeignKey`` declarations (SQLite keeps real foreign keys — cheap there — and
the ORM its joins); ``hub/migrations/env.py`` tells ``alembic check`` that on PostgreSQL these three
are enforced by the triggers. Ids of the parent tables are never updated (surrogate keys).
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (payments column, parent table, the foreign key it replaces)
REFERENCES = (
    ("account_id", "accounts", "fk_payments_account_id_accounts"),
    ("agent_id", "payment_agents", "fk_payments_agent_id_payment_agents"),
    ("registry_file_id", "registry_files", "fk_payments_registry_file_id_registry_files"),
)

CHECK_FUNCTION = """
CREATE FUNCTION unipay_check_parents(parent text, ids bigint[], fk text, col text) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    n BIGINT;
    bad BIGINT;
BEGIN
    IF cardinality(ids) = 0 THEN
        RETURN;
    END IF;
    -- lock the distinct parents as a foreign key does (no concurrent delete until commit) and count
    -- them: one index probe per distinct parent of the statement, not one query per row
    EXECUTE format('SELECT count(*) FROM (SELECT 1 FROM %I WHERE id = ANY($1) FOR KEY SHARE) x', parent)
        INTO n USING ids;
    IF n < cardinality(ids) THEN
        EXECUTE format('SELECT x FROM unnest($1) x '
                       'WHERE NOT EXISTS (SELECT 1 FROM %I p WHERE p.id = x) LIMIT 1', parent)
            INTO bad USING ids;
        RAISE EXCEPTION '%', format('insert or update on table "payments" violates foreign key '
                                    'constraint "%s"', fk)
            USING ERRCODE = 'foreign_key_violation', CONSTRAINT = fk,
                  DETAIL = format('Key (%s)=(%s) is not present in table "%s".', col, bad, parent);
    END IF;
END $$;

CREATE FUNCTION unipay_payments_references() RETURNS trigger LANGUAGE plpgsql AS $$
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

GUARD_FUNCTION = """
CREATE FUNCTION unipay_payments_parent_guard() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    bad BIGINT;
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        RAISE EXCEPTION 'cannot truncate table "%": payments refer to it', TG_TABLE_NAME
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    EXECUTE format('SELECT o.id FROM old_rows o WHERE EXISTS (SELECT 1 FROM payments p WHERE p.%I = o.id) '
                   'LIMIT 1', TG_ARGV[0]) INTO bad;
    IF bad IS NOT NULL THEN
        RAISE EXCEPTION '%', format('update or delete on table "%s" violates foreign key constraint "%s" '
                                    'on table "payments"', TG_TABLE_NAME, TG_ARGV[1])
            USING ERRCODE = 'foreign_key_violation', CONSTRAINT = TG_ARGV[1],
                  DETAIL = format('Key (id)=(%s) is still referenced from table "payments".', bad);
    END IF;
    RETURN NULL;
END $$
"""


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return  # SQLite keeps its foreign keys
    for _column, _parent, fk in REFERENCES:
        op.drop_constraint(fk, "payments", type_="foreignkey")
    op.execute(CHECK_FUNCTION)
    op.execute(GUARD_FUNCTION)
    for event in ("INSERT", "UPDATE"):
        op.execute(
            f"CREATE TRIGGER payments_references_{event.lower()} AFTER {event} ON payments "
            "REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT "
            "EXECUTE FUNCTION unipay_payments_references()"
        )
    for column, parent, fk in REFERENCES:
        op.execute(
            f"CREATE TRIGGER payments_guard_delete AFTER DELETE ON {parent} "
            "REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT "
            f"EXECUTE FUNCTION unipay_payments_parent_guard('{column}', '{fk}')"
        )
        op.execute(
            f"CREATE TRIGGER payments_guard_truncate BEFORE TRUNCATE ON {parent} "
            f"FOR EACH STATEMENT EXECUTE FUNCTION unipay_payments_parent_guard('{column}', '{fk}')"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for _column, parent, _fk in REFERENCES:
        op.execute(f"DROP TRIGGER payments_guard_delete ON {parent}")
        op.execute(f"DROP TRIGGER payments_guard_truncate ON {parent}")
    for event in ("insert", "update"):
        op.execute(f"DROP TRIGGER payments_references_{event} ON payments")
    op.execute("DROP FUNCTION unipay_payments_parent_guard()")
    op.execute("DROP FUNCTION unipay_payments_references()")
    op.execute("DROP FUNCTION unipay_check_parents(text, bigint[], text, text)")
    for column, parent, fk in REFERENCES:
        op.create_foreign_key(fk, "payments", parent, [column], ["id"])
