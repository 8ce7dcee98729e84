"""Opening the state database: SQLite pragmas, PostgreSQL, and migrations applied on open."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, OperationalError, SQLAlchemyError

from claimbridge.errors import ConfigError, StateError

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
SQLITE_BUSY_TIMEOUT_MS = 10_000
READ_ONLY_OPTION = "claimbridge_read_only"


def read_connection(engine: Engine) -> Connection:
    """A connection for reading only: on SQLite it does not take the write lock."""
    return engine.connect().execution_options(**{READ_ONLY_OPTION: True})


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA secure_delete=ON")  # deleted personal data is overwritten
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")  # durable in WAL mode across app crashes
        cursor.execute("PRAGMA cache_size=-16384")  # 16 MiB page cache per connection
        cursor.execute("PRAGMA wal_autocheckpoint=16384")  # fewer, larger checkpoints
    finally:
        cursor.close()


def create_state_engine(url: str) -> Engine:
    """An engine for ``url`` with the settings the store relies on."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise ConfigError(f"state.url is not a database URL: {exc}") from None
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(parsed, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_connection: Any, record: Any) -> None:
            # Let SQLAlchemy own transactions: BEGIN is emitted explicitly below.
            dbapi_connection.isolation_level = None
            _sqlite_pragmas(dbapi_connection, record)

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Any) -> None:
            # Writers take the lock up front and queue on busy_timeout instead of failing on
            # a read→write upgrade; readers (marked by read_connection) never block them.
            if conn.get_execution_options().get(READ_ONLY_OPTION):
                conn.exec_driver_sql("BEGIN")
            else:
                conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    if parsed.get_backend_name() == "postgresql":
        return create_engine(parsed, pool_pre_ping=True)
    raise ConfigError(
        f"state.url: unsupported database {parsed.get_backend_name()!r} (use sqlite or postgresql)"
    )


def upgrade(engine: Engine) -> None:
    """Bring the schema to the newest migration. Safe to call on every open."""
    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    logging.getLogger("alembic").setLevel(logging.WARNING)  # "Context impl SQLiteImpl" is noise
    try:
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
    except OperationalError as exc:
        raise StateError(f"cannot open the state database: {exc.orig}") from None
    except SQLAlchemyError as exc:
        raise StateError(f"migrating the state database failed: {exc}") from None
