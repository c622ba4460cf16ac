"""Process concerns of the daemon: one instance per database, signals, log context, run records.

The scheduler wiring lives in :mod:`bot.schedule`; this module holds what any long-running
process of ours needs regardless of what it schedules:

- :class:`InstanceLock`: a PostgreSQL advisory lock, or an ``flock`` on a file next to the SQLite
  database, so a second daemon on the same database refuses to start (:class:`AlreadyRunning`).
  Both are released by the operating system when the process dies, so a crash never leaves a
  stale lock behind.
- :class:`Signals`: SIGTERM/SIGINT ask to stop, SIGHUP asks to reload; handlers only set flags,
  the main thread does the work.
- :func:`job_context` and :func:`install_log_filters`: every log line written while a job runs
  carries that job and its source (``extra`` attributes the JSON formatter prints), and known
  secrets (values of the ``*_env`` variables, URL passwords) are replaced by ``***``.
- :func:`record_run` / :class:`Heartbeat`: a RunLog row per job run, and one ``daemon`` row kept
  fresh while the daemon lives (``recoverybot status`` reads both).
"""

from __future__ import annotations

import contextvars
import dataclasses
import json
import logging
import os
import re
import signal
import socket
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from types import FrameType
from typing import Any

from pydantic import BaseModel
from sqlalchemy import delete, func, select, text
from sqlalchemy.engine import Connection, Engine

from bot.errors import AlreadyRunning, StoreError
from bot.store import HttpCache, RunLog, Store, mask_url, resolve_url, utcnow

log = logging.getLogger("recoverybot.daemon")

DAEMON_JOB = "daemon"  # RunLog.job of the heartbeat row
HEARTBEAT_SECONDS = 10.0  # how often the daemon row is refreshed
HEARTBEAT_STALE = timedelta(seconds=60)  # older than this: the daemon is gone
RUNLOG_KEEP = timedelta(days=30)  # job rows older than this are pruned

# "recoverybot" folded into a signed 64-bit key: the advisory lock every daemon asks for.
ADVISORY_KEY = int.from_bytes(b"rcvrybot", "big") - 2**63


# --- one instance per database ---------------------------------------------------------------


class InstanceLock:
    """Held while the daemon runs; a second holder on the same database is refused.

    SQLite: an exclusive ``flock`` on ``<database file>.lock`` (the file keeps the holder's pid,
    for the message). PostgreSQL: a session-level ``pg_try_advisory_lock`` on a connection kept
    open for the daemon's life. Other databases get no lock (a warning says so).
    """

    def __init__(self, url: str, base_dir: Path | None, engine: Engine) -> None:
        self.url = resolve_url(url, base_dir)
        self.engine = engine
        self.path: Path | None = None
        self._file: Any = None
        self._conn: Connection | None = None

    @staticmethod
    def lock_path(url: str, base_dir: Path | None) -> Path | None:
        """The lock file of a SQLite URL (None for other databases and in-memory SQLite)."""
        resolved = resolve_url(url, base_dir)
        prefix = "sqlite:///"
        if not resolved.startswith(prefix):
            return None
        db = resolved[len(prefix):].split("?", 1)[0]
        if not db or db == ":memory:":
            return None
        return Path(db + ".lock")

    def acquire(self) -> InstanceLock:
        if self.url.startswith("sqlite"):
            self._acquire_file()
        elif self.engine.dialect.name == "postgresql":
            self._acquire_advisory()
        else:
            log.warning("no instance lock for %s databases; run one daemon per database",
                        self.engine.dialect.name)
        return self

    def _acquire_file(self) -> None:
        import fcntl

        path = self.lock_path(self.url, None)
        if path is None:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        # "a+" so a refused opener never truncates the pid the holder wrote.
        handle = open(path, "a+", encoding="utf-8")  # noqa: SIM115 - held for the daemon's life
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            handle.close()
            raise AlreadyRunning(
                f"another recoverybot daemon (pid {holder}) is already running on {mask_url(self.url)}",
                hint=f"stop it first (e.g. systemctl stop recoverybot); its lock is {path}",
            ) from exc
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        self._file, self.path = handle, path

    def _acquire_advisory(self) -> None:
        conn = self.engine.connect()
        try:
            got = bool(conn.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": ADVISORY_KEY}).scalar())
            holder = None
            if not got:
                holder = conn.execute(
                    text("SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted "
                         "AND database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
                         "AND ((classid::bigint << 32) | objid::bigint) = (:key)::bigint LIMIT 1"),
                    {"key": ADVISORY_KEY},
                ).scalar()
            conn.commit()  # the lock is session-level: it outlives this transaction
        except Exception as exc:
            conn.close()
            raise StoreError(f"cannot take the daemon lock on {mask_url(self.url)}: {exc}") from exc
        if not got:
            conn.close()
            who = f" (database backend pid {holder})" if holder else ""
            raise AlreadyRunning(
                f"another recoverybot daemon is already running on {mask_url(self.url)}{who}",
                hint="stop it first (e.g. systemctl stop recoverybot), or point this one at another database",
            )
        self._conn = conn

    def release(self) -> None:
        if self._file is not None:
            import fcntl

            try:
                fcntl.flock(self._file.fileno(), fcntl.LOCK_UN)
            finally:
                self._file.close()
                self._file = None
        if self._conn is not None:
            try:
                self._conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": ADVISORY_KEY})
                self._conn.commit()
            except Exception:
                pass
            finally:
                self._conn.close()
                self._conn = None

    def __enter__(self) -> InstanceLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


# --- signals ---------------------------------------------------------------------------------


class Signals:
    """SIGTERM/SIGINT set :attr:`stop`, SIGHUP sets :attr:`reload`. Handlers do nothing else."""

    def __init__(self) -> None:
        self.stop = threading.Event()
        self.reload = threading.Event()
        self.received: str | None = None
        self._previous: dict[int, Any] = {}

    def install(self) -> Signals:
        for sig, handler in ((signal.SIGTERM, self._on_stop), (signal.SIGINT, self._on_stop),
                             (signal.SIGHUP, self._on_reload)):
            self._previous[sig] = signal.signal(sig, handler)
        return self

    def restore(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()

    def _on_stop(self, signum: int, _frame: FrameType | None) -> None:
        self.received = signal.Signals(signum).name
        self.stop.set()

    def _on_reload(self, _signum: int, _frame: FrameType | None) -> None:
        self.reload.set()


# --- log context and redaction ---------------------------------------------------------------

_job: contextvars.ContextVar[str | None] = contextvars.ContextVar("recoverybot_job", default=None)
_source: contextvars.ContextVar[str | None] = contextvars.ContextVar("recoverybot_source", default=None)


@contextmanager
def job_context(job: str, source: str | None = None) -> Iterator[None]:
    """Every log record made inside (in this thread) carries ``job`` and ``source``."""
    job_token = _job.set(job)
    source_token = _source.set(source)
    try:
        yield
    finally:
        _source.reset(source_token)
        _job.reset(job_token)


class ContextFilter(logging.Filter):
    """Adds ``job``/``source`` from :func:`job_context` (explicit ``extra`` wins) and a
    ``context`` text (`` [collect shop]``) for the human format."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "job", None) is None:
            record.job = _job.get()
        if getattr(record, "source", None) is None:
            record.source = _source.get()
        parts = [str(p) for p in (getattr(record, "job", None), getattr(record, "source", None)) if p]
        record.context = f" [{' '.join(parts)}]" if parts else ""
        return True


_URL_PASSWORD = re.compile(r"(\b[a-z][a-z0-9+.-]*://[^/\s:@]+):[^@\s/]+@", re.IGNORECASE)


class RedactFilter(logging.Filter):
    """Replaces secret values (and passwords inside URLs) with ``***`` before a line is written."""

    def __init__(self, secrets: set[str] | None = None) -> None:
        super().__init__()
        self.secrets: set[str] = set(secrets or ())

    def redact(self, message: str) -> str:
        for value in sorted(self.secrets, key=len, reverse=True):
            message = message.replace(value, "***")
        return _URL_PASSWORD.sub(r"\1:***@", message)

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:
            return True
        clean = self.redact(message)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and record.exc_info[1] is not None:
            trace = "".join(traceback.format_exception(*record.exc_info))
            clean_trace = self.redact(trace)
            if clean_trace != trace:
                # The formatter would print the raw traceback; print the cleaned one instead.
                record.msg, record.args = f"{record.getMessage()}\n{clean_trace.rstrip()}", None
                record.exc_info, record.exc_text = None, None
        return True


TEXT_FORMAT = "%(asctime)s %(levelname)-7s %(name)s%(context)s: %(message)s"


def secret_values(config: BaseModel, environ: dict[str, str] | None = None) -> set[str]:
    """Values of every environment variable a ``*_env`` key of the config names."""
    env = dict(os.environ) if environ is None else environ
    names: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if isinstance(key, str) and key.endswith("_env") and isinstance(value, str):
                    names.add(value)
                else:
                    walk(value)
        elif isinstance(node, (list, tuple)):
            for item in node:
                walk(item)

    walk(config.model_dump(mode="python"))
    # Very short values would redact ordinary words; nobody's secret is three characters long.
    return {env[name] for name in names if len(env.get(name) or "") >= 4}


def install_log_filters(config: BaseModel) -> RedactFilter:
    """Put the context and redaction filters on every root handler; give the human format the
    job/source context. Returns the redaction filter (its secrets are refreshed on reload)."""
    redact = RedactFilter(secret_values(config))
    context = ContextFilter()
    for handler in logging.getLogger().handlers:
        for old in [f for f in handler.filters if isinstance(f, (ContextFilter, RedactFilter))]:
            handler.removeFilter(old)
        handler.addFilter(context)
        handler.addFilter(redact)
        formatter = handler.formatter
        # Only the plain human format is replaced; the JSON formatter prints job/source itself.
        if formatter is None or type(formatter) is logging.Formatter:
            handler.setFormatter(logging.Formatter(TEXT_FORMAT))
    return redact


# --- run records -----------------------------------------------------------------------------


def summary_dict(summary: Any) -> dict[str, Any]:
    """A stage summary as JSON-safe data for RunLog.summary: its fields and its lines."""
    data: dict[str, Any] = {}
    if dataclasses.is_dataclass(summary) and not isinstance(summary, type):
        data.update(dataclasses.asdict(summary))
    lines = getattr(summary, "lines", None)
    if callable(lines):
        data["lines"] = list(lines())
    result: dict[str, Any] = json.loads(json.dumps(data, default=str))
    return result


@contextmanager
def record_run(store: Store, job: str) -> Iterator[dict[str, Any]]:
    """A RunLog row for one job run: started now, finished with ``ok`` and the summary the body
    puts in the yielded dict (``ok`` False when the body raises, or sets ``summary["ok"]``)."""
    with store.session() as session:
        row = RunLog(job=job, started_at=utcnow(), summary={})
        session.add(row)
        session.flush()
        row_id = row.id
    summary: dict[str, Any] = {}
    ok = False
    try:
        yield summary
        ok = bool(summary.pop("ok", True))
    except BaseException as exc:
        summary["error"] = str(exc)[:2000]
        raise
    finally:
        try:
            with store.session() as session:
                done = session.get(RunLog, row_id)
                if done is not None:
                    done.finished_at = utcnow()
                    done.ok = ok
                    done.summary = json.loads(json.dumps(summary, default=str))
        except StoreError as exc:
            log.warning("could not record the end of job %s: %s", job, exc)


def prune_runs(store: Store, keep: timedelta = RUNLOG_KEEP) -> int:
    """Delete job rows older than ``keep`` (the newest row of each job is kept)."""
    cutoff = utcnow() - keep
    with store.session() as session:
        latest_ids = set(session.scalars(select(func.max(RunLog.id)).group_by(RunLog.job)))
        result = session.execute(
            delete(RunLog).where(RunLog.started_at < cutoff, RunLog.id.not_in(latest_ids or {0}))
        )
        return int(getattr(result, "rowcount", 0) or 0)


def prune_http_cache(store: Store, keep: timedelta = timedelta(days=90)) -> int:
    """Forget validators of URLs not fetched for ``keep`` (product pages removed from a sitemap,
    old pagination URLs): a fetch after that is just a plain GET."""
    cutoff = utcnow() - keep
    with store.session() as session:
        result = session.execute(delete(HttpCache).where(HttpCache.fetched_at < cutoff))
        return int(getattr(result, "rowcount", 0) or 0)


class Heartbeat:
    """The daemon's own RunLog row: pid, host, start, last beat and the next run of each job."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.row_id: int | None = None
        self.started_at = utcnow()

    def start(self, info: dict[str, Any]) -> None:
        with self.store.session() as session:
            row = RunLog(job=DAEMON_JOB, started_at=self.started_at, summary=self._payload(info))
            session.add(row)
            session.flush()
            self.row_id = row.id

    def beat(self, info: dict[str, Any]) -> None:
        if self.row_id is None:
            return
        with self.store.session() as session:
            row = session.get(RunLog, self.row_id)
            if row is not None:
                row.summary = self._payload(info)

    def finish(self, ok: bool, info: dict[str, Any]) -> None:
        if self.row_id is None:
            return
        with self.store.session() as session:
            row = session.get(RunLog, self.row_id)
            if row is not None:
                row.finished_at = utcnow()
                row.ok = ok
                row.summary = self._payload(info)

    @staticmethod
    def _payload(info: dict[str, Any]) -> dict[str, Any]:
        payload = {"pid": os.getpid(), "host": socket.gethostname(), "heartbeat_at": utcnow().isoformat(), **info}
        result: dict[str, Any] = json.loads(json.dumps(payload, default=str))
        return result


class SteadyClock:
    """The wall clock, but never ahead of the time this daemon actually ran.

    Approvals expire after ``approval_days``; a system clock stepped forward (a bad NTP answer, a
    VM restored with the host's date) would dismiss every waiting approval at once, for good. This
    clock follows the wall clock while it agrees with the monotonic clock (within ``slack``); when
    the wall clock runs ahead, it counts only the time that passed on the monotonic clock, which
    also stands still while the machine is suspended: an approval waits ``approval_days`` of the
    daemon actually running. A clock set back is followed at once (approvals then expire later,
    never sooner).
    """

    def __init__(self, wall: Callable[[], datetime] = utcnow, mono: Callable[[], float] = time.monotonic,
                 slack: timedelta = timedelta(minutes=5)) -> None:
        self._wall, self._mono, self.slack = wall, mono, slack
        self._anchor_wall, self._anchor_mono = wall(), mono()
        self.ahead: timedelta | None = None  # how far the wall clock ran ahead, when it did

    def now(self) -> datetime:
        wall = self._wall()
        steady = self._anchor_wall + timedelta(seconds=self._mono() - self._anchor_mono)
        if wall - steady <= self.slack:
            if self.ahead is not None:
                log.info("the system clock agrees again with the time the daemon has run")
            self.ahead = None
            self._anchor_wall, self._anchor_mono = wall, self._mono()
            return wall
        if self.ahead is None or wall - steady > self.ahead + self.slack:
            log.warning("the system clock is %s ahead of the time this daemon has run (a clock jump or a "
                        "suspend); approvals expire by the time it ran, not by the clock", wall - steady)
        self.ahead = wall - steady
        return steady


def parse_time(value: Any) -> datetime | None:
    """An ISO timestamp written by :class:`Heartbeat` back into an aware datetime."""
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None
