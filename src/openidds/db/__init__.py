"""Persistence (adapter): SQLAlchemy tables, the database URL, Alembic migrations."""

from openidds.db.engine import DATABASE_ENV, database_url, make_engine, migrate, sessions, writers
from openidds.db.models import Base

__all__ = ["DATABASE_ENV", "Base", "database_url", "make_engine", "migrate", "sessions", "writers"]
