"""The canonical store: SQLAlchemy models, engine/session helpers and Alembic migrations."""

from hub.store.db import get_engine, session_scope
from hub.store.models import Base

__all__ = ["Base", "get_engine", "session_scope"]
