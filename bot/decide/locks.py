"""Locks for case work: per buyer on PostgreSQL, so workers decide different buyers at once.

Every step of case work (link one mention, match one case again, decide one case) runs in one
transaction that first takes PostgreSQL transaction-level advisory locks, released by its commit
or rollback (a killed worker's go with its connection):

- ``LOCK_KEY`` *shared*: all case work. Staff actions and the few steps over many cases at once
  (:func:`lock_all`) take it *exclusive*, so they still see the database as one process would.
- one *exclusive* lock per key the step depends on, ``pg_advisory_xact_lock(KEY_SPACE, n)`` with
  ``n`` the CRC-32 of the key: the identities a mention can join a case by (``text:`` its
  fingerprint, ``email:``, ``handle:``, ``customer:``, ``order:``), ``mention:``, ``case:``.
  Two keys with one CRC only share a lock (more waiting, never less safety).

Deadlocks: a step asks for all its locks in one statement, the shared one first and the keys in
the order of their numbers (PostgreSQL evaluates a select list from left to right), and never
waits for a lock while holding others. A key it learns of on the way is either tried without
waiting (:meth:`Locks.add`: the customer a mention matched, before any case is read) or, when
what it read already depends on it (the case a mention joins), asked for with
:meth:`Locks.need`; a key it cannot have at once raises :class:`Relock`, which rolls the
transaction back, and the step starts again asking for the old keys and the new together. After
``RETRIES`` such starts it takes the exclusive lock instead, as all case work did before. The
budget rows (``bot.outbox.reserve``) are locked last, by their guarded UPDATE, and whoever holds
one waits for no advisory lock.

Try mode (``wait=False``): the locks are only tried; when one is held by another worker the step
raises :class:`Busy` at once and is left for later, so workers running a pass at the same time
spread over the buyers instead of queueing behind each other (``bot.decide.cases.process``).

SQLite has one writer at a time: every transaction begins with BEGIN IMMEDIATE (bot.store), so
every step already holds everything and these functions take no lock there.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterable
from typing import TypeVar

from sqlalchemy import text
from sqlalchemy.orm import Session

from bot.store import Store

T = TypeVar("T")

LOCK_KEY = 0x72637662  # "rcvb": all case work (shared by each step, exclusive for the whole database)
KEY_SPACE = 0x72637663  # "rcvc": one lock per key, pg_advisory_xact_lock(KEY_SPACE, crc32(key) - 2**31)
RETRIES = 3  # starts with more keys before a step takes the exclusive lock instead


class Busy(Exception):
    """Another worker holds one of the step's locks (try mode): the step was not run."""

    def __init__(self, keys: frozenset[str]) -> None:
        super().__init__(", ".join(sorted(keys)))
        self.keys = keys


class Relock(Exception):
    """The step needs locks it does not hold: rolled back, it starts again holding them too."""

    def __init__(self, keys: frozenset[str]) -> None:
        super().__init__(", ".join(sorted(keys)))
        self.keys = keys


def _postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def key_number(key: str) -> int:
    """The key as the second half of a two-int advisory lock (a signed 32-bit CRC)."""
    return zlib.crc32(key.encode("utf-8")) - 2**31


def lock_all(session: Session) -> None:
    """All case work at once, waiting for the running steps to end (staff actions, bulk updates)."""
    if _postgres(session):
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": LOCK_KEY})


class Locks:
    """What one step's transaction holds, and the two ways of asking for more."""

    def __init__(self, session: Session, held: frozenset[str], everything: bool) -> None:
        self.session = session
        self.held = held
        self.everything = everything or not _postgres(session)

    def need(self, *keys: str) -> None:
        """What the step has read already depends on these keys: start again holding them."""
        missing = frozenset(keys) - self.held
        if missing and not self.everything:
            raise Relock(missing)

    def add(self, *keys: str) -> None:
        """Take these keys now, for what the step reads from here on: tried without waiting (so
        never a deadlock); when one is held elsewhere, start again holding them (Relock)."""
        missing = frozenset(keys) - self.held
        if not missing or self.everything:
            return
        numbers = sorted({key_number(key) for key in missing})
        row = self.session.execute(
            text("SELECT " + ", ".join(f"pg_try_advisory_xact_lock(:s, :k{i})" for i in range(len(numbers)))),
            {"s": KEY_SPACE} | {f"k{i}": n for i, n in enumerate(numbers)}).one()
        if not all(row):
            raise Relock(missing)  # the rollback lets go of those it did get
        self.held |= missing


def _take(session: Session, keys: frozenset[str], wait: bool, everything: bool) -> bool:
    if not _postgres(session):
        return True
    try_ = "" if wait else "try_"
    if everything:
        got = session.execute(text(f"SELECT pg_{try_}advisory_xact_lock(:g)"), {"g": LOCK_KEY}).scalar()
        return wait or bool(got)
    numbers = sorted({key_number(key) for key in keys})
    calls = [f"pg_{try_}advisory_xact_lock_shared(:g)"]
    calls += [f"pg_{try_}advisory_xact_lock(:s, :k{i})" for i in range(len(numbers))]
    params: dict[str, int] = {"g": LOCK_KEY, "s": KEY_SPACE} | {f"k{i}": n for i, n in enumerate(numbers)}
    row = session.execute(text("SELECT " + ", ".join(calls)), params).one()
    return wait or all(row)


def run(store: Store, keys: Iterable[str], step: Callable[[Session, Locks], T], *, wait: bool = True) -> T:
    """``step(session, locks)`` in one transaction holding the locks of ``keys`` (and of any key
    the step asks for with ``locks.need``). ``wait=False``: raise :class:`Busy` rather than wait."""
    wanted = frozenset(keys)
    for start in range(RETRIES + 1):
        everything = start == RETRIES
        try:
            with store.session() as session:
                if not _take(session, wanted, wait, everything):
                    raise Busy(wanted)
                return step(session, Locks(session, wanted, everything))
        except Relock as exc:
            wanted |= exc.keys
    raise AssertionError("the last start holds every lock")  # pragma: no cover


__all__ = ["KEY_SPACE", "LOCK_KEY", "Busy", "Locks", "Relock", "key_number", "lock_all", "run"]
