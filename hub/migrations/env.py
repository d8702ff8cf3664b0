"""Alembic environment of the store: target metadata = hub.store.models, URL from hub.config."""

from __future__ import annotations

from alembic import context

from hub.config import load_settings
from hub.store.db import make_engine
from hub.store.models import Base

config = context.config
target_metadata = Base.metadata


def _url() -> str:
    return config.attributes.get("url") or config.get_main_option("sqlalchemy.url") or load_settings().db_url


def run_migrations_offline() -> None:
    context.configure(
        url=_url(),
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=True,
        user_module_prefix="hub.store.types.",
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = make_engine(_url())
    with engine.connect() as conn:
        _run(conn)
    engine.dispose()


# On PostgreSQL these foreign keys of the models are enforced by statement-level triggers
# (migration 0003: set-based checks instead of one per row); ``alembic check`` must not ask for them.
TRIGGER_ENFORCED = {
    "fk_payments_account_id_accounts",
    "fk_payments_agent_id_payment_agents",
    "fk_payments_registry_file_id_registry_files",
}


def _include_object(dialect: str):  # type: ignore[no-untyped-def]
    def include(obj, name, type_, reflected, compare_to) -> bool:  # type: ignore[no-untyped-def]
        return not (
            dialect == "postgresql" and type_ == "foreign_key_constraint" and name in TRIGGER_ENFORCED
        )

    return include


def _run(connection) -> None:  # type: ignore[no-untyped-def]
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        user_module_prefix="hub.store.types.",
        compare_type=True,
        include_object=_include_object(connection.dialect.name),
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
