"""Celery workers and their scheduler: ``[engine] kind = "celery"`` (issue 18 item 4).

The tasks wrap the stages' plain functions, as the embedded daemon's jobs do:

==================  ==========================================================================
task                runs
==================  ==========================================================================
collect_source      ``bot.collect.collect(only=NAME)`` under a per-source advisory lock (a copy
                    of the task that arrives while the source is collected does nothing); then
                    enqueues ``score_batch`` when something new was stored
score_batch         ``bot.pipeline.score_pending``, ``[engine] score_batch`` mentions per claimed
                    batch (workers at once take other batches); then ``process_cases``
process_cases       expire approvals, ``bot.decide.cases.process`` (link, match, decide, queue)
orders_sync         ``bot.orders.sync``, then ``process_cases`` when orders changed
dispatch_due        expire approvals, ``bot.outbox.dispatch_due``, alerts
send_digest         ``bot.report.digest.send_due``
==================  ==========================================================================

Every task is ``acks_late`` with ``reject_on_worker_lost``: a worker killed mid-task leaves its
message to be delivered again, so a task may run twice. That is safe because the exactly-once
guarantees live in the database, not in the broker: a mention is unique per (source, external
id), an assessment per mention, a remedy's idempotency key is unique and inserted in the
transaction that reserves its budget, and dispatch claims a remedy with a lease.

Case work locks per buyer (``bot.decide.locks``): up to ``[engine] process_passes`` process
passes run at once and share out the buyers; one more request waits for a pass to end, any
further one is coalesced into it (see docs/workers.md).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from celery import Celery
from sqlalchemy import select, text
from sqlalchemy.engine import Connection

from bot.config import Config, enabled_parts, load, parse_duration
from bot.daemon.process import (
    HEARTBEAT_SECONDS,
    Heartbeat,
    Signals,
    install_log_filters,
    job_context,
    record_run,
    summary_dict,
)
from bot.env import secret
from bot.errors import ConfigError, RecoveryBotError
from bot.scoring import Scorer
from bot.store import SourceState, Store, mask_url, open_store, utcnow

log = logging.getLogger("recoverybot.engine")

app = Celery("recoverybot", set_as_current=False)

# Advisory lock keys (eight ASCII letters each, apart from the daemon's and bot.decide.cases' own):
# one scheduler, one migration, one waiter for a process pass; per source and per process pass
# slot, a key space of their own.
SCHEDULER_KEY = int.from_bytes(b"rcvbschd", "big") - 2**63
MIGRATE_KEY = int.from_bytes(b"rcvbmigr", "big") - 2**63
PROCESS_SPACE = 0x72637070  # "rcpp": pg_try_advisory_lock(int, int) with the slot's number
PROCESS_WAIT_KEY = int.from_bytes(b"rcvbwait", "big") - 2**63
SOURCE_KEY_SPACE = 0x72637673  # "rcvs": pg_try_advisory_lock(int, int) with the name's crc32
TIME_MARGIN = 60  # seconds a task may run past its stage's own deadline before Celery kills it
PROCESS_LIMIT = 3600  # seconds: process, dispatch, orders and digest tasks


# --- configuration -----------------------------------------------------------------------------


def broker_url(config: Config) -> str:
    """The broker URL from the variable ``[engine] broker_url_env`` names (SecretMissing if unset)."""
    return secret(config.engine.broker_url_env, "engine.broker_url_env")


def configure(config: Config) -> Celery:
    """Point the app at the config's broker and queue; refuse an embedded-engine config."""
    if config.engine.kind != "celery":
        raise ConfigError('`recoverybot worker` and `recoverybot scheduler` need [engine] kind = "celery"; '
                          "with the embedded engine run `recoverybot run`", key="engine.kind")
    longest = max([s.deadline_seconds for s in config.sources] + [PROCESS_LIMIT]) + TIME_MARGIN
    app.conf.update(
        broker_url=broker_url(config),
        broker_connection_retry_on_startup=True,
        # A message whose worker vanished without a word (machine gone) is delivered again after
        # this; it must outlast the longest task, or a slow task would run twice at once.
        broker_transport_options={"visibility_timeout": int(parse_duration(config.engine.redeliver_after))},
        task_default_queue=config.engine.queue,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_ignore_result=True,
        task_time_limit=longest,
        worker_prefetch_multiplier=1,  # a long collect never sits on messages other workers could take
        worker_hijack_root_logger=False,
        worker_redirect_stdouts=False,
        task_serializer="json",
        accept_content=["json"],
    )
    return app


# --- per-process state ---------------------------------------------------------------------------


@dataclass
class Runtime:
    """The config, store and scorer of one worker process (a forked pool child makes its own:
    database connections and the scorer's state are not shared across a fork)."""

    config: Config
    store: Store
    pid: int = field(default_factory=os.getpid)
    _scorer: Scorer | None = None

    def scorer(self) -> Scorer:
        if self._scorer is None:
            from bot.pipeline import scorer_for

            self._scorer = scorer_for(self.config)
        return self._scorer


_config_path: Path | None = None
_runtime: Runtime | None = None
_runtime_lock = threading.Lock()


def runtime() -> Runtime:
    """This process's Runtime, built on first use from the config ``recoverybot worker`` loaded
    (or ``$RECOVERYBOT_CONFIG`` in a bare ``celery worker``)."""
    global _runtime
    with _runtime_lock:
        if _runtime is None or _runtime.pid != os.getpid():
            config = load(_config_path)
            _runtime = Runtime(config, open_store(config.bot.database, config.data_dir, upgrade=False, create=False))
        return _runtime


# --- locks ---------------------------------------------------------------------------------------


@contextmanager
def source_lock(store: Store, name: str) -> Iterator[bool]:
    """A session-level advisory lock for one source while it is collected: yields False when
    another worker holds it. The server drops it with the connection, so a killed worker never
    leaves it behind."""
    key = zlib.crc32(name.encode("utf-8")) - 2**31
    with store.engine.connect() as conn:
        got = bool(conn.execute(text("SELECT pg_try_advisory_lock(:space, :key)"),
                                {"space": SOURCE_KEY_SPACE, "key": key}).scalar())
        conn.commit()
        try:
            yield got
        finally:
            if got:
                conn.execute(text("SELECT pg_advisory_unlock(:space, :key)"), {"space": SOURCE_KEY_SPACE, "key": key})
                conn.commit()


def upgrade_once(store: Store) -> None:
    """Bring the schema to this version, one process at a time: workers and the scheduler start
    together on a fresh database, and two migrations at once would collide."""
    with store.engine.connect() as conn:
        conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATE_KEY})
        conn.commit()
        try:
            store.upgrade()
        finally:
            conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATE_KEY})
            conn.commit()


class SchedulerLock:
    """One scheduler per database: a session-level advisory lock on a connection kept open while
    the scheduler lives (released by the server when the process dies)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._conn: Connection | None = None

    def try_acquire(self) -> bool:
        conn = self.store.engine.connect()
        got = bool(conn.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": SCHEDULER_KEY}).scalar())
        conn.commit()
        if got:
            self._conn = conn
        else:
            conn.close()
        return got

    def release(self) -> None:
        if self._conn is not None:
            try:
                self._conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": SCHEDULER_KEY})
                self._conn.commit()
            finally:
                self._conn.close()
                self._conn = None


# --- the tasks -----------------------------------------------------------------------------------

TASK_OPTIONS: dict[str, Any] = {"acks_late": True, "reject_on_worker_lost": True}


def _record(summary: dict[str, Any], result: Any) -> None:
    data = summary_dict(result)
    summary.update(data)
    ok = getattr(result, "ok", True)
    summary["ok"] = ok if isinstance(ok, bool) else True


@app.task(name="recoverybot.collect_source", **TASK_OPTIONS)
def collect_source(name: str) -> dict[str, Any]:
    """Collect one source; enqueue scoring when it stored something new."""
    from bot.collect import collect

    rt = runtime()
    try:
        rt.config.source(name)
    except ConfigError as exc:  # removed from the config since it was enqueued
        log.warning("collect %s skipped: %s", name, exc)
        return {"skipped": str(exc)}
    with job_context("collect", name), source_lock(rt.store, name) as got:
        if not got:
            log.info("collect %s skipped: another worker is collecting it now", name)
            return {"skipped": "running elsewhere"}
        log.info("collect %s started in pid %s", name, os.getpid())
        with record_run(rt.store, f"collect:{name}") as summary:
            result = collect(rt.config, rt.store, only=name)
            _record(summary, result)
        new = sum(int(r.get("new") or 0) for r in summary.get("results") or [] if isinstance(r, dict))
        log.info("collect %s done: %s new", name, new)
    if new:
        score_batch.delay()
    return {"new": new}


@app.task(name="recoverybot.score_batch", **TASK_OPTIONS)
def score_batch() -> dict[str, Any]:
    """Score the new mentions, ``[engine] score_batch`` per transaction; workers scoring at once
    each claim other batches (``bot.pipeline.score_pending``: FOR NO KEY UPDATE SKIP LOCKED, an
    assessment inserted only when the mention has none). Then asks for a process pass."""
    from bot.pipeline import score_pending

    rt = runtime()
    with job_context("score"):
        result = score_pending(rt.store, rt.scorer(), batch=rt.config.engine.score_batch)
    if result.unhappy:
        process_cases.delay()
    return {"scored": result.scored, "unhappy": result.unhappy}


@app.task(name="recoverybot.process_cases", **TASK_OPTIONS)
def process_cases() -> dict[str, Any]:
    """Expire unanswered approvals, then link, match, decide and queue (bot.decide.cases)."""
    from bot.decide import cases, staff

    rt = runtime()
    with job_context("process"), process_turn(rt.store, rt.config.engine.process_passes) as turn:
        if not turn:
            return {"coalesced": True}
        with record_run(rt.store, "process") as summary:
            staff.expire_approvals(rt.store, rt.config, now=utcnow())
            result = cases.process(rt.store, rt.config, now=utcnow())
            _record(summary, result)
            summary["ok"] = not result.errors
    return {"decided": result.decided, "queued": result.queued}


@contextmanager
def process_turn(store: Store, passes: int = 1) -> Iterator[bool]:
    """At most ``passes`` process passes at a time, and at most one waiting for the next (the
    daemon's ``request_process`` coalescing, across machines). Case work locks per buyer
    (bot.decide.locks), so passes at once share out the buyers; more of them than there is work
    would only try each other's locks.

    A slot free: this task runs now. All taken: it becomes the one waiter (blocking until the pass
    in the first slot ends, then running in it: mentions scored after the running passes looked
    are still processed); if a waiter exists already, this task does nothing (the waiter's pass
    starts later and sees the same mentions). Yields False in that last case. The locks go with the
    connection if the worker dies.
    """
    with store.engine.connect() as conn:
        def call(function: str, *key: int) -> Any:
            args = ", ".join(f":k{i}" for i in range(len(key)))
            value = conn.execute(text(f"SELECT {function}({args})"), {f"k{i}": k for i, k in enumerate(key)}).scalar()
            conn.commit()  # session-level locks: they outlive this transaction
            return value

        slot = next((n for n in range(passes) if call("pg_try_advisory_lock", PROCESS_SPACE, n) is True), None)
        if slot is None:
            if call("pg_try_advisory_lock", PROCESS_WAIT_KEY) is not True:
                yield False
                return
            slot = 0
            call("pg_advisory_lock", PROCESS_SPACE, slot)  # wait for the pass in the first slot to end
            call("pg_advisory_unlock", PROCESS_WAIT_KEY)  # the next request may wait now
        try:
            yield True
        finally:
            call("pg_advisory_unlock", PROCESS_SPACE, slot)


@app.task(name="recoverybot.orders_sync", **TASK_OPTIONS)
def orders_sync() -> dict[str, Any]:
    from bot import orders

    rt = runtime()
    with job_context("orders"), record_run(rt.store, "orders") as summary:
        result = orders.sync(rt.config, rt.store, now=utcnow())
        _record(summary, result)
    if int(summary.get("created") or 0) or int(summary.get("updated") or 0):
        process_cases.delay()
    return {"created": summary.get("created"), "updated": summary.get("updated")}


@app.task(name="recoverybot.dispatch_due", **TASK_OPTIONS)
def dispatch_due() -> dict[str, Any]:
    """Deliver the due remedies (claim + lease + idempotency key keep each one once)."""
    from bot import outbox
    from bot.decide import staff

    rt = runtime()
    with job_context("dispatch"), record_run(rt.store, "dispatch") as summary:
        staff.expire_approvals(rt.store, rt.config, now=utcnow())
        result = outbox.dispatch_due(rt.store, rt.config, now=utcnow())
        _record(summary, result)
        if rt.config.alerts:
            from bot.alerts.send import run_alerts

            run_alerts(rt.store, rt.config, now=utcnow())
    return {"dispatched": getattr(result, "dispatched", 0)}


@app.task(name="recoverybot.send_digest", **TASK_OPTIONS)
def send_digest(day: str | None = None) -> dict[str, Any]:
    """Send the digest due now (``day``: the local day the scheduler asked for, for the log);
    the Digest table makes each period go out at most once, however often this runs."""
    from bot.report import digest

    rt = runtime()
    with job_context("digest"), record_run(rt.store, "digest") as summary:
        result = digest.send_due(rt.store, rt.config, now=utcnow())
        summary["day"] = day
        summary["sent"] = result is not None
    return {"day": day, "sent": result is not None}


# --- the processes -------------------------------------------------------------------------------


def _prepare(config: Config, config_path: Path | None) -> None:
    global _config_path
    _config_path = config_path or config.path
    install_log_filters(config)
    root = logging.getLogger()
    if root.level > logging.DEBUG:
        root.setLevel(config.bot.log_level.upper())
    configure(config)


def run_worker(config: Config, config_path: Path | None = None, *, concurrency: int = 2,
               hostname: str | None = None) -> int:
    """`recoverybot worker`: a Celery worker in this process (prefork pool of ``concurrency``
    children) reading ``[engine] queue``. Stops on SIGTERM after the running tasks (warm shutdown)."""
    _prepare(config, config_path)
    store = open_store(config.bot.database, config.data_dir, upgrade=False, create=True)
    try:
        upgrade_once(store)  # the first worker up brings the schema to this version
    finally:
        store.dispose()
    name = hostname or f"recoverybot-{os.getpid()}@{socket.gethostname()}"
    log.info("recoverybot worker %s: %d processes on queue %s, database %s", name, concurrency,
             config.engine.queue, mask_url(config.bot.database))
    worker = app.Worker(concurrency=concurrency, pool="prefork", hostname=name, queues=[config.engine.queue],
                        loglevel=config.bot.log_level.upper(), without_gossip=True, without_mingle=True,
                        without_heartbeat=True)
    worker.start()
    return int(getattr(worker, "exitcode", 0) or 0)


def enqueue(config: Config, kind: str, source: str | None, *, now: datetime | None = None) -> None:
    """Send the task of one scheduled job; a message not started within its job's interval expires
    (the next run is enqueued anyway), so a stopped fleet never finds a pile of stale copies."""
    if kind == "collect" and source is not None:
        limit = config.source(source).deadline_seconds + TIME_MARGIN
        collect_source.apply_async((source,), time_limit=limit)
    elif kind == "process":
        score_batch.apply_async()
        process_cases.apply_async()
    elif kind == "orders":
        orders_sync.apply_async()
    elif kind == "dispatch":
        dispatch_due.apply_async()
    elif kind == "digest":
        day = (now or utcnow()).astimezone(config.zone).date().isoformat()
        send_digest.apply_async((day,))


def run_scheduler(config: Config, config_path: Path | None = None, *, signals: Signals | None = None,
                  standby_every: float = 5.0) -> int:
    """`recoverybot scheduler`: enqueue every job of :func:`bot.daemon.schedule.plan` on its
    trigger. One scheduler per database: a second one waits (doing nothing) until the first's lock
    is free, so it can stand by on another machine."""
    from apscheduler.schedulers.background import BackgroundScheduler

    from bot.daemon.schedule import first_run, plan

    _prepare(config, config_path)
    store = open_store(config.bot.database, config.data_dir, upgrade=False, create=True)
    signals = (signals or Signals()).install()
    lock = SchedulerLock(store)
    scheduler = None
    try:
        upgrade_once(store)
        waiting_said = False
        while not lock.try_acquire():
            if not waiting_said:
                log.info("another recoverybot scheduler runs on %s; standing by until it stops",
                         mask_url(config.bot.database))
                waiting_said = True
            if signals.stop.wait(standby_every):
                return 0
        grace = parse_duration(config.schedule.misfire_grace)
        scheduler = BackgroundScheduler(timezone="UTC", job_defaults={
            "coalesce": True, "max_instances": 1, "misfire_grace_time": grace})
        scheduler.start()
        with store.session() as session:
            last_runs = {n: w for n, w in session.execute(select(SourceState.name, SourceState.last_run_at)).all()
                         if w is not None}
        now = utcnow()
        for spec in plan(config):
            scheduler.add_job(_enqueue_quietly, spec.trigger, args=(config, spec.kind, spec.source), id=spec.id,
                              next_run_time=first_run(spec, config, last_runs.get(spec.source or ""), now))
        log.info("recoverybot scheduler started (pid %s) on %s, queue %s", os.getpid(),
                 mask_url(config.bot.database), config.engine.queue)
        for part in enabled_parts(config):
            log.info("  [%s] %s: %s", "on " if part.enabled else "off", part.name, part.detail)
        # The scheduler keeps the daemon's heartbeat row: `recoverybot status` sees it as the daemon.
        heartbeat = Heartbeat(store)
        info = {"config": str(config_path or config.path or ""), "engine": "celery", "queue": config.engine.queue}
        heartbeat.start({**info, "jobs": {}})
        every = min(HEARTBEAT_SECONDS, parse_duration(config.schedule.heartbeat_every))
        while not signals.stop.wait(every):
            try:
                heartbeat.beat({**info, "jobs": _next_runs(scheduler)})
            except RecoveryBotError as exc:
                log.warning("heartbeat failed: %s", exc)
        log.info("%s: scheduler stopping", signals.received or "stop")
        try:
            heartbeat.finish(True, {**info, "jobs": {}, "stopped": signals.received or "stop"})
        except RecoveryBotError as exc:
            log.warning("heartbeat failed: %s", exc)
        return 0
    finally:
        if scheduler is not None:
            scheduler.shutdown(wait=False)
        signals.restore()
        lock.release()
        store.dispose()


def _next_runs(scheduler: Any) -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for job in scheduler.get_jobs():
        when = getattr(job, "next_run_time", None)
        out[job.id] = when.isoformat() if when else None
    return out


def _enqueue_quietly(config: Config, kind: str, source: str | None) -> None:
    try:
        enqueue(config, kind, source)
    except Exception as exc:  # broker down: say so; the next fire time tries again
        log.error("cannot enqueue %s%s on the broker: %s", kind, f" {source}" if source else "", exc)


__all__ = ["app", "configure", "enqueue", "run_scheduler", "run_worker"]
