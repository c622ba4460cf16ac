"""Inserts that two workers may race: ``INSERT ... ON CONFLICT`` on SQLite and PostgreSQL.

With several workers on one database (issue 13 item 9) a "look it up, insert it when missing"
step loses the race in one of them: both see no row, both insert, and the second fails on the
unique key (``customer_email_key``, ``assessment_pkey``) with the whole batch rolled back. Here the
unique key decides instead: the insert that comes second does nothing and the caller reads the
row the first one made. On PostgreSQL the second insert waits for the first transaction and then
sees its row (READ COMMITTED); on SQLite the write lock taken at BEGIN IMMEDIATE already orders them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

from sqlalchemy.orm import Session

from bot.errors import StoreError

T = TypeVar("T")


def dialect_insert(session: Session, entity: Any) -> Any:
    """The insert construct of the session's dialect, the one with ``on_conflict_do_nothing`` /
    ``on_conflict_do_update``; any other database is refused in words."""
    name = session.get_bind().dialect.name
    if name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(entity)
    if name == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        return sqlite_insert(entity)
    raise StoreError(f"the {name} database is not supported", hint="use SQLite or PostgreSQL in [bot] database")


def insert_missing(session: Session, model: Any, values: dict[str, Any], keys: Sequence[str]) -> bool:
    """Insert one row unless a row with the same unique `keys` exists (or a concurrent worker is
    inserting it); True when this call inserted it. Column defaults apply as in a plain insert."""
    stmt = dialect_insert(session, model).values(**values).on_conflict_do_nothing(index_elements=list(keys))
    return bool(session.execute(stmt).rowcount)  # type: ignore[attr-defined]


def get_or_insert(session: Session, model: type[T], key: dict[str, Any], **defaults: Any) -> T:
    """The row of `model` with primary key `key`, inserted with `defaults` when there is none yet
    (by this call or another worker's at the same moment)."""
    ident = key if len(key) > 1 else next(iter(key.values()))
    row = session.get(model, ident)
    if row is None:
        insert_missing(session, model, {**defaults, **key}, list(key))
        row = session.get(model, ident, populate_existing=True)
        if row is None:  # pragma: no cover - the insert or the other worker's row is there
            raise StoreError(f"{getattr(model, '__tablename__', model)} {ident!r} vanished right after its insert")
    return row
