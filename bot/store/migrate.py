"""Alembic wiring: the schema is upgraded automatically when the store opens.

Several workers may start together on one database (issue 13 item 9), so the whole upgrade runs in
one transaction that first takes a lock: a PostgreSQL advisory transaction lock, or SQLite's write
lock (the engine begins every transaction with BEGIN IMMEDIATE). The first worker migrates; the
others wait, then read the version it committed and have nothing to do. Without it they all see an
empty database and race to create ``alembic_version`` and the tables.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine

MIGRATIONS = Path(__file__).with_name("migrations")

# The advisory lock of schema upgrades on PostgreSQL ("rcvm" in ASCII; case work uses "rcvb").
MIGRATION_LOCK = 0x7263766D


def alembic_config(engine: Engine, connection: Connection | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["engine"] = engine
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def _take_lock(connection: Connection) -> None:
    """Begin the upgrade's transaction holding the database's migration lock (until commit)."""
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
    else:
        # Any statement begins the transaction; on SQLite the engine's BEGIN IMMEDIATE takes the
        # write lock there, and other workers wait for it (busy timeout).
        connection.execute(text("SELECT 1"))


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Apply every migration up to `revision` (idempotent; safe with several workers at once)."""
    with engine.connect() as connection:
        _take_lock(connection)
        # The connection is already in a transaction: Alembic runs every migration inside it.
        command.upgrade(alembic_config(engine, connection), revision)
        connection.commit()
