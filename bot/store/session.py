"""The store's engine and sessions: one :class:`Store` per process, migrations applied on open.

Each pipeline stage reads its input from here and writes its output here, so any stage can be
re-run after a crash (DESIGN.md). :func:`open_store` upgrades the database automatically at start.
SQLite is the default (WAL mode, a file next to the config); the same code runs on PostgreSQL.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event, inspect
from sqlalchemy.engine import Engine
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from bot.errors import ConfigError, StoreError


def resolve_url(url: str, base_dir: Path | None) -> str:
    """A relative SQLite path is taken next to the config file, not the working directory."""
    prefix = "sqlite:///"
    if url.startswith(prefix) and base_dir is not None:
        path = url[len(prefix) :]
        if path and path != ":memory:" and not path.startswith("/"):
            return prefix + str((base_dir / path).resolve())
    return url


def make_engine(url: str) -> Engine:
    """An engine for `url`; SQLite gets WAL, foreign keys and a busy timeout.

    ``hide_parameters``: an error's text never carries the statement's bound values (customer
    emails and names); :func:`describe_db_error` also leaves out the server's DETAIL line."""
    if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
        _check_sqlite_folder(Path(url[len("sqlite:///") :]))
    try:
        if url.startswith("sqlite"):
            engine = create_engine(url, connect_args={"timeout": 30}, hide_parameters=True)

            @event.listens_for(engine, "connect")
            def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
                # Let SQLAlchemy's transaction begin be explicit (so BEGIN IMMEDIATE works).
                dbapi_conn.isolation_level = None
                cur = dbapi_conn.cursor()
                cur.execute("PRAGMA journal_mode=WAL")
                cur.execute("PRAGMA foreign_keys=ON")
                cur.execute("PRAGMA synchronous=NORMAL")
                cur.close()

            @event.listens_for(engine, "begin")
            def _sqlite_begin(conn: Any) -> None:
                # IMMEDIATE: a writer takes the lock at BEGIN, so read-then-write never deadlocks.
                conn.exec_driver_sql("BEGIN IMMEDIATE")

            return engine
        return create_engine(url, pool_pre_ping=True, hide_parameters=True)
    except (ArgumentError, NoSuchModuleError, ImportError, ValueError) as exc:
        # The URL itself is wrong (unknown dialect, driver not installed): a config mistake.
        raise ConfigError(
            f"cannot use database {mask_url(url)}: {exc}",
            key="bot.database",
            hint="use sqlite:///file.db or postgresql+psycopg://user@host/db "
            "(PostgreSQL needs: pip install 'recoverybot[postgres]')",
        ) from exc
    except SQLAlchemyError as exc:
        raise StoreError(f"cannot open database {mask_url(url)}: {describe_db_error(exc)}") from exc


def _check_sqlite_folder(path: Path) -> None:
    """A clear error before SQLite's "unable to open database file" when the folder is wrong."""
    folder = path.parent
    if not folder.is_dir():
        raise StoreError(
            f"cannot create the database {path}: the folder {folder} does not exist",
            hint="create the folder, or set [bot] database to a path on a writable volume",
        )
    if not os.access(folder, os.W_OK) and not (path.exists() and os.access(path, os.W_OK)):
        raise StoreError(
            f"cannot write the database {path}: the folder {folder} is not writable by this user",
            hint="set [bot] database to an absolute path on a writable volume (e.g. sqlite:////data/recoverybot.db)",
        )


def describe_db_error(exc: BaseException) -> str:
    """A database error in words fit for a log: the driver's error class and its first line
    ("duplicate key value violates unique constraint "customer_email_key""), never the bound
    parameters nor PostgreSQL's DETAIL line ("Key (email)=(...) already exists") that name a buyer."""
    orig = getattr(exc, "orig", None)
    cause = orig if isinstance(orig, BaseException) else exc
    lines = str(cause).strip().splitlines()
    first = lines[0].strip() if lines else ""
    if cause is exc and first.startswith("("):  # SQLAlchemy's "(module.Class) message" form
        first = first.split(")", 1)[-1].strip()
    return f"{type(cause).__name__}: {first[:300]}" if first else type(cause).__name__


def mask_url(url: str) -> str:
    """The database URL with any password hidden, for logs and errors."""
    if "://" in url and "@" in url:
        scheme, rest = url.split("://", 1)
        creds, host = rest.rsplit("@", 1)
        user = creds.split(":", 1)[0]
        return f"{scheme}://{user}:***@{host}"
    return url


class Store:
    """The database: an engine, a session factory and the migrations applied."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.sessions = sessionmaker(engine, expire_on_commit=False)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session in one transaction: committed on success, rolled back on any error."""
        with self.sessions() as session:
            try:
                with session.begin():
                    yield session
            except SQLAlchemyError as exc:
                raise StoreError(f"database error: {describe_db_error(exc)}") from exc

    def upgrade(self) -> None:
        """Bring the schema to the newest migration (idempotent)."""
        from bot.store.migrate import upgrade

        upgrade(self.engine)

    def tables(self) -> set[str]:
        return set(inspect(self.engine).get_table_names())

    def dispose(self) -> None:
        self.engine.dispose()


def open_store(url: str, base_dir: Path | None = None, *, upgrade: bool = True) -> Store:
    """Open (and by default migrate) the database at `url`."""
    store = Store(make_engine(resolve_url(url, base_dir)))
    if upgrade:
        try:
            store.upgrade()
        except SQLAlchemyError as exc:
            raise StoreError(
                f"cannot prepare database {mask_url(url)}: {describe_db_error(exc)}",
                hint="check that the database server answers and the user may create tables",
            ) from exc
    return store
