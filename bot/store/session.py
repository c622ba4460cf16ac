"""The store's engine and sessions: one :class:`Store` per process, migrations applied on open.

Each pipeline stage reads its input from here and writes its output here, so any stage can be
re-run after a crash (DESIGN.md). :func:`open_store` upgrades the database automatically at start.
SQLite is the default (WAL mode, a file next to the config); the same code runs on PostgreSQL.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sqlalchemy import create_engine, event, inspect
from sqlalchemy.engine import Engine
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from bot.env import mask_url
from bot.errors import ConfigError, StoreError, UsageError


def resolve_url(url: str, base_dir: Path | None) -> str:
    """A relative SQLite path is taken next to the config file, not the working directory."""
    prefix = "sqlite:///"
    if url.startswith(prefix) and base_dir is not None:
        path = url[len(prefix) :]
        if path and path != ":memory:" and not path.startswith("/"):
            return prefix + str((base_dir / path).resolve())
    return url


def make_engine(url: str, *, must_exist: bool = False) -> Engine:
    """An engine for `url`; SQLite gets WAL, foreign keys and a busy timeout.

    ``must_exist``: a SQLite file is opened read-write but never created (SQLite's ``mode=rw``),
    so a connection made after the file was deleted fails instead of starting an empty database.
    ``hide_parameters``: an error's text never carries the statement's bound values (customer
    emails and names); :func:`describe_db_error` also leaves out the server's DETAIL line.
    """
    if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
        _check_sqlite_folder(Path(url[len("sqlite:///") :]))
    try:
        if url.startswith("sqlite"):
            file = sqlite_file(url)
            if must_exist and file is not None and "?" not in url:
                url = f"sqlite:///file:{quote(str(file), safe='/')}?mode=rw&uri=true"
            engine = create_engine(url, connect_args={"timeout": 30}, hide_parameters=True)

            @event.listens_for(engine, "connect")
            def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
                # Let SQLAlchemy's transaction begin be explicit (so BEGIN IMMEDIATE works).
                dbapi_conn.isolation_level = None
                cur = dbapi_conn.cursor()
                cur.execute("PRAGMA journal_mode=WAL")
                cur.execute("PRAGMA foreign_keys=ON")
                cur.execute("PRAGMA synchronous=NORMAL")
                # A big store (issue 18): pages read from memory-mapped file pages and a page cache
                # of 32 MiB per connection (SQLite's default is 2 MiB), not a read call per page.
                cur.execute("PRAGMA mmap_size=268435456")
                cur.execute("PRAGMA cache_size=-32768")
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


class NoDatabase(UsageError):
    """The configured database does not exist (or has no recoverybot tables) and this command may
    not create one: a lost database must never be replaced silently by an empty one (a new install
    id, new idempotency keys, every remedy paid again)."""


def sqlite_file(url: str, base_dir: Path | None = None) -> Path | None:
    """The file of a SQLite URL (None for other databases and in-memory SQLite)."""
    resolved = resolve_url(url, base_dir)
    prefix = "sqlite:///"
    if not resolved.startswith(prefix):
        return None
    name = resolved[len(prefix):].split("?", 1)[0]
    return Path(name) if name and name != ":memory:" else None


def traces(path: Path) -> list[Path]:
    """Files a SQLite database leaves next to itself: its daemon lock (also made when the database
    is created) and SQLite's write-ahead log. Any of them without the database: it was lost."""
    return [p for p in (Path(f"{path}.lock"), Path(f"{path}-wal")) if p.exists()]


def check_database(url: str, base_dir: Path | None, *, create: bool | str) -> Path | None:
    """Refuse to open a SQLite database that is not there unless this command may create it.

    ``create``: False (read and staff commands: never create), True (a first `run`/`cycle`: only
    where no trace says a database lived here before), ``"fresh"`` (`init`: the operator asks for
    a new one). Returns the file when it is about to be created, else None.
    """
    path = sqlite_file(url, base_dir)
    if path is None or path.exists():
        return None
    _check_sqlite_folder(path)  # a wrong folder is the likelier mistake, and says more
    if not create:
        raise NoDatabase(f"no database at {path}; run `recoverybot init`",
                         hint="check [bot] database in the config; `recoverybot init` creates an empty database")
    left = traces(path)
    if left and path.exists():
        # Another process created it between our two looks (it makes the file before its
        # lock, so a trace seen first and then no file is a database that is really gone).
        return None
    if left and create != "fresh":
        raise NoDatabase(
            f"no database at {path}, but one lived there before ({left[0].name} is still there): "
            "it was lost or moved; nothing was created",
            hint="restore it from a backup; to start again with an empty database run `recoverybot init` "
                 "(its remedies already sent are then only known to the warehouse file and receivers)",
        )
    return path


def open_store(url: str, base_dir: Path | None = None, *, upgrade: bool = True,
               create: bool | str = True) -> Store:
    """Open (and by default migrate) the database at `url`.

    ``create`` as in :func:`check_database`; a new SQLite file gets its lock file at once, so a
    later loss of the database is noticed even if no daemon ever ran on it.
    """
    new_file = check_database(url, base_dir, create=create)
    if new_file is not None and new_file.parent.is_dir():
        sqlite3.connect(new_file).close()  # the (empty) file; from here on no connection creates one
        Path(f"{new_file}.lock").touch()
    store = Store(make_engine(resolve_url(url, base_dir), must_exist=True))
    if not create and new_file is None and sqlite_file(url, base_dir) is None:
        try:
            present = "alembic_version" in store.tables()
        except SQLAlchemyError as exc:
            store.dispose()
            raise StoreError(f"cannot open database {mask_url(url)}: {describe_db_error(exc)}") from exc
        if not present:
            store.dispose()
            raise NoDatabase(f"no recoverybot tables in the database {mask_url(url)}; run `recoverybot init`",
                             hint="check [bot] database in the config")
    if upgrade:
        try:
            store.upgrade()
        except SQLAlchemyError as exc:
            raise StoreError(
                f"cannot prepare database {mask_url(url)}: {describe_db_error(exc)}",
                hint="check that the database server answers and the user may create tables",
            ) from exc
    return store
