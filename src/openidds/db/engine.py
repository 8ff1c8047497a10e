"""Which database, and bringing it up to date (edge: environment, files, connections)."""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from platformdirs import user_data_dir
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

DATABASE_ENV = "IDDS_DATABASE_URL"
WRITER = "openidds_writer"  # execution option of a writer's engine


def default_url() -> str:
    """A SQLite file in the user's data directory: nothing to install for a single clinician or a demo."""
    folder = Path(user_data_dir("openidds", appauthor=False))
    folder.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{folder / 'openidds.sqlite3'}"


def database_url(url: str | None = None) -> str:
    chosen = url or os.environ.get(DATABASE_ENV) or default_url()
    if chosen.startswith(("postgresql://", "postgres://")):  # psycopg 3 is the driver we ship
        chosen = "postgresql+psycopg://" + chosen.split("://", 1)[1]
    return chosen


def _sqlite_text(raw: bytes) -> str:
    """A SQLite text value as str. SQLite keeps any bytes in a text column (`CAST(X'FF' AS TEXT)` written past the
    clinic): each byte that is not UTF-8 reads as a lone surrogate (U+DC80-U+DCFF) instead of failing the whole
    query with "Could not decode to UTF-8", naming no row. The audit trail's reader names such a record unreadable
    (clinic.audit.is_utf8); valid UTF-8, all the clinic writes, reads exactly as before."""
    return raw.decode("utf-8", "surrogateescape")


def make_engine(url: str | None = None, **kwargs: Any) -> Engine:
    url = database_url(url)
    if url.startswith("sqlite"):
        connect_args = {"check_same_thread": False, "timeout": 30, **kwargs.pop("connect_args", {})}
        if ":memory:" not in url:  # one file, cheap connections: as many as the request slots (api/slots.py)
            kwargs.setdefault("pool_size", 10)
            kwargs.setdefault("max_overflow", 30)
        engine = create_engine(url, connect_args=connect_args, **kwargs)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.isolation_level = None  # the driver begins nothing itself: _sqlite_begin does
            dbapi_connection.text_factory = _sqlite_text
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")  # SQLite leaves them off by default
            if ":memory:" not in url:
                cursor.execute("PRAGMA journal_mode=WAL")  # readers do not wait for the writer
            cursor.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(connection: Connection) -> None:
            # A writer takes the database's write lock when it begins, before it reads anything: it then decides
            # on committed state, and two writers never both read first and then fight over the lock.
            write = connection.get_execution_options().get(WRITER, False)
            connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

        return engine
    # As many connections as the server runs request threads (AnyIO's 40): a burst of requests queues on the
    # patient's lock, not on the pool; PostgreSQL's default 100 connections leave room for the rest.
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 30)
    return create_engine(url, pool_pre_ping=True, **kwargs)


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(resources.files("openidds.db").joinpath("migrations")))
    return config


def migrate(engine: Engine) -> None:
    """Create or upgrade the schema to the newest migration (idempotent)."""
    config = alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


def sessions(engine: Engine) -> sessionmaker[Session]:
    """Sessions for reads (and for writes that read nothing first, such as a login)."""
    return sessionmaker(engine, expire_on_commit=False)


def writers(engine: Engine) -> sessionmaker[Session]:
    """Sessions for a use case that reads and then writes: on SQLite each begins with the write lock (BEGIN
    IMMEDIATE); on PostgreSQL the use case locks the patient's row (service.locks.lock_patient)."""
    return sessionmaker(engine.execution_options(**{WRITER: True}), expire_on_commit=False)
