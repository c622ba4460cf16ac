"""The daemon's scheduler: APScheduler wiring only (STYLE.md point 8).

Jobs are the stages' plain functions; this module decides when they run:

==============  ===========================================================================
job id          runs
==============  ===========================================================================
collect:NAME    ``bot.collect.collect(only=NAME)`` every source's ``every``/``cron`` (default
                ``[schedule] collect_every``), with jitter; then asks for ``process``
process         score the new mentions and open/match/decide cases (``run_cycle`` without
                collect, orders and dispatch); right after each collection and order sync,
                and every ``collect_every`` as a safety net
orders          ``bot.orders.sync`` every ``orders_every`` (when ``[orders] kind`` is set)
dispatch        ``bot.decide.staff.expire_approvals`` then ``bot.outbox.dispatch_due`` every
                ``dispatch_every``, then ``bot.alerts.send.run_alerts`` when ``[[alerts]]`` is set
                (``process`` ends with it too: ``run_cycle``'s last stage)
digest          ``bot.digest.send_due`` daily at ``[digest] send_at`` in ``[bot] timezone``,
                and every 5 minutes (and at start) to catch up a missed day or retry a failed
                send: the Digest table makes it send each day at most once
==============  ===========================================================================

Every job has ``max_instances = 1``, ``coalesce`` and the misfire grace time, so a slow job
never piles up runs; each runs in its own worker thread, so a source that hangs never delays the
others. A job that raises is logged with its source and tried again at its next time.

State that must survive a restart is in the store: collect keeps cursors and ``last_run_at`` in
SourceState (so a restarted daemon collects a source when it is due, not at once), the digest
keeps one row per day, and every run leaves a RunLog row (``recoverybot status`` reads them).
"""

from __future__ import annotations

import logging
import os
import random
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.combining import OrTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import select

from bot.config import Config, SourceConfig, enabled_parts, parse_duration
from bot.daemon.process import (
    HEARTBEAT_SECONDS,
    Heartbeat,
    InstanceLock,
    RedactFilter,
    Signals,
    SteadyClock,
    install_log_filters,
    job_context,
    prune_http_cache,
    prune_runs,
    record_run,
    secret_values,
    summary_dict,
)
from bot.errors import ConfigError, RecoveryBotError
from bot.store import SourceState, Store, mask_url, open_store, resolve_url, sqlite_file, utcnow

if TYPE_CHECKING:
    from bot.web.server import WebServer

log = logging.getLogger("recoverybot.schedule")

PRUNE_EVERY = 3600.0  # seconds between two prunes of old RunLog rows
DIGEST_CHECK_EVERY = 300.0  # seconds between two digest checks besides send_at
WORKERS = 64  # threads are started lazily; each job uses at most one (max_instances = 1)


# --- the plan: which jobs, on which triggers --------------------------------------------------


@dataclass(frozen=True)
class JobSpec:
    """One scheduled job: its id, what it runs, its trigger, and a key describing the schedule
    (two specs with the same key need no rescheduling on reload)."""

    id: str
    kind: str  # collect | process | orders | dispatch | digest
    source: str | None
    trigger: BaseTrigger
    key: str
    interval: float  # seconds between runs (estimated for cron), for first runs and status


def effective_jitter(config: Config, interval: float) -> float:
    """The configured jitter, but never more than a tenth of the interval (a 2-minute source
    must not wander by a minute)."""
    return min(float(parse_duration(config.schedule.jitter, allow_zero=True)), interval / 10.0)


def cron_interval(trigger: CronTrigger, now: datetime | None = None) -> float:
    """Seconds between the next two fire times of a cron trigger (ignoring jitter)."""
    start = now or utcnow()
    first = trigger.get_next_fire_time(None, start)
    if first is None:
        return 86400.0
    second = trigger.get_next_fire_time(first, first + timedelta(seconds=1))
    return (second - first).total_seconds() if second is not None else 86400.0


def source_trigger(config: Config, source: SourceConfig) -> tuple[BaseTrigger, str, float]:
    """The trigger of a source's collect job, its schedule key and its interval in seconds."""
    if source.cron:
        trigger = CronTrigger.from_crontab(source.cron, timezone=config.zone)
        interval = cron_interval(trigger)
        trigger.jitter = effective_jitter(config, interval) or None
        return trigger, f"cron {source.cron} {config.bot.timezone} jitter {trigger.jitter}", interval
    seconds = float(source.every_seconds or parse_duration(config.schedule.collect_every))
    jitter = effective_jitter(config, seconds)
    return IntervalTrigger(seconds=seconds, jitter=jitter or None), f"every {seconds}s jitter {jitter}", seconds


def _every(seconds: float) -> IntervalTrigger:
    return IntervalTrigger(seconds=seconds)


def plan(config: Config) -> list[JobSpec]:
    """Every job this config asks for (disabled sources have none)."""
    specs: list[JobSpec] = []
    for source in config.sources:
        if not source.enabled:
            continue
        trigger, key, interval = source_trigger(config, source)
        specs.append(JobSpec(f"collect:{source.name}", "collect", source.name, trigger, key, interval))
    process_every = float(parse_duration(config.schedule.collect_every))
    specs.append(JobSpec("process", "process", None, _every(process_every), f"every {process_every}", process_every))
    if config.orders.kind != "none":
        every = float(parse_duration(config.schedule.orders_every))
        specs.append(JobSpec("orders", "orders", None, _every(every), f"every {every}", every))
    dispatch_every = float(parse_duration(config.schedule.dispatch_every))
    specs.append(JobSpec("dispatch", "dispatch", None, _every(dispatch_every), f"every {dispatch_every}", dispatch_every))
    if digest_enabled(config):
        hour, minute = (int(part) for part in config.digest.send_at.split(":"))
        # At send_at sharp, and a light check every few minutes: send_due sends a period at most
        # once and retries a failed send after its own back-off.
        trigger = OrTrigger([CronTrigger(hour=hour, minute=minute, timezone=config.zone),
                             IntervalTrigger(seconds=DIGEST_CHECK_EVERY)])
        specs.append(JobSpec("digest", "digest", None, trigger,
                             f"daily {config.digest.send_at} {config.bot.timezone}", 86400.0))
    return specs


def digest_enabled(config: Config) -> bool:
    return bool(config.digest.smtp_host and config.digest.to)


def first_run(spec: JobSpec, config: Config, last_run: datetime | None, now: datetime) -> datetime:
    """When a job first runs after (re)start: a source that was collected recently waits until
    it is due again; one that is overdue or never ran goes now (spread by the jitter)."""
    if spec.kind == "collect":
        spread = timedelta(seconds=random.uniform(0, effective_jitter(config, spec.interval)))
        if last_run is None:
            return now + spread
        if isinstance(spec.trigger, CronTrigger):
            due = spec.trigger.get_next_fire_time(None, last_run)
        else:
            due = last_run + timedelta(seconds=spec.interval)
        return max(due, now + spread) if due is not None else now + spread
    # process, orders, dispatch: a first pass right away picks up whatever a stop left behind;
    # digest: send_due sends the last period due (a day missed while stopped) unless already sent.
    return now


# --- the daemon ------------------------------------------------------------------------------


def _ok(summary: Any) -> bool:
    """A stage summary's own verdict: ``ok``, else no ``errors``/``failures``/``failed``."""
    verdict = getattr(summary, "ok", None)
    if isinstance(verdict, bool):
        return verdict
    for name in ("errors", "failures", "failed"):
        value = getattr(summary, name, None)
        if value:
            return False
    return True


def _busy(data: Any) -> bool:
    """Whether a summary reports any work (a positive count anywhere in it), so that idle
    dispatch and process runs log at DEBUG instead of every minute at INFO."""
    if isinstance(data, dict):
        return any(_busy(value) for key, value in data.items() if key not in ("seconds", "lines"))
    if isinstance(data, (list, tuple)):
        return any(_busy(value) for value in data)
    return isinstance(data, int) and not isinstance(data, bool) and data > 0


def _idle(kind: str, summary: dict[str, Any]) -> bool:
    """A run that changed nothing logs at DEBUG: months of "0 new" lines would bury what matters."""
    if kind == "collect":
        return not any(int(r.get("new") or 0) for r in summary.get("results") or [] if isinstance(r, dict))
    if kind == "orders":
        return not (int(summary.get("created") or 0) or int(summary.get("updated") or 0))
    return kind in ("process", "dispatch") and not _busy(summary)


# At most this many back-to-back passes in one process job.
PROCESS_PASSES = 5


class Daemon:
    """The scheduler and the jobs of one running daemon.

    ``config`` may be swapped by :meth:`reload`; jobs read it when they start, so a changed source
    option takes effect at its next run.
    """

    def __init__(self, config: Config, store: Store, *, config_path: Path | None = None,
                 redact: RedactFilter | None = None) -> None:
        self.config = config
        self.store = store
        self.config_path = config_path or config.path
        self.redact = redact
        self.stopping = threading.Event()
        self.clock = SteadyClock()  # approvals expire by the time the daemon ran, not a jumped clock
        self.specs: dict[str, JobSpec] = {}
        self._running: dict[str, datetime] = {}
        self._cond = threading.Condition()
        self._process_lock = threading.Lock()
        self._process_pending = False
        self._process_running = False
        grace = parse_duration(config.schedule.misfire_grace)
        self.scheduler = BackgroundScheduler(
            timezone=UTC,
            executors={"default": ThreadPoolExecutor(WORKERS)},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": grace},
        )

    # --- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        self.scheduler.start()
        last_runs = self._last_runs()
        now = utcnow()
        for spec in plan(self.config):
            self._add(spec, last_runs.get(spec.source or ""), now)

    def stop(self, timeout: float) -> list[str]:
        """Take no new jobs; wait up to ``timeout`` seconds for running ones. Returns the ids
        still running (to be abandoned: their open transaction is never committed)."""
        self.stopping.set()
        self.scheduler.shutdown(wait=False)
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._running and time.monotonic() < deadline:
                self._cond.wait(min(0.2, max(0.0, deadline - time.monotonic())))
            return sorted(self._running)

    def running(self) -> list[str]:
        with self._cond:
            return sorted(self._running)

    def next_runs(self) -> dict[str, str | None]:
        """Next run time (ISO, UTC) of every scheduled job."""
        out: dict[str, str | None] = {}
        for job in self.scheduler.get_jobs():
            when = getattr(job, "next_run_time", None)
            out[job.id] = when.astimezone(UTC).isoformat() if when else None
        return out

    def reload(self) -> bool:
        """Re-read the config file. On any error keep running on the old config and log the error
        (with its line); on success swap the config and reschedule the jobs whose schedule changed."""
        if self.config_path is None:
            log.error("config reload asked, but the daemon does not know its config file")
            return False
        from bot import config as cfg

        try:
            new = cfg.load(self.config_path)
        except ConfigError as exc:
            log.error("config reload failed; still running on the previous config: %s", exc)
            return False
        old = self.config
        if resolve_url(new.bot.database, new.data_dir) != resolve_url(old.bot.database, old.data_dir):
            log.error("config reload refused: [bot] database changed (%s -> %s); restart the daemon for that; "
                      "still running on the previous config", mask_url(old.bot.database), mask_url(new.bot.database))
            return False
        old_specs = dict(self.specs)
        new_specs = {spec.id: spec for spec in plan(new)}
        self.config = new
        if self.redact is not None:
            self.redact.secrets = secret_values(new)
        if new.bot.log_level != old.bot.log_level:
            logging.getLogger().setLevel(new.bot.log_level.upper())
        last_runs = self._last_runs()
        now = utcnow()
        added, removed, changed = [], [], []
        for job_id in old_specs.keys() - new_specs.keys():
            self._remove(job_id)
            removed.append(job_id)
        for job_id, spec in new_specs.items():
            before = old_specs.get(job_id)
            if before is None:
                added.append(job_id)
            elif before.key != spec.key:
                changed.append(job_id)
                self._remove(job_id)
            else:
                continue
            self._add(spec, last_runs.get(spec.source or ""), now)
        log.info("config reloaded from %s: %s", self.config_path,
                 "; ".join(f"{what} {', '.join(sorted(ids))}" for what, ids in
                           (("added", added), ("removed", removed), ("rescheduled", changed)) if ids)
                 or "no schedule changed")
        return True

    # --- scheduling helpers ------------------------------------------------------------------

    def _add(self, spec: JobSpec, last_run: datetime | None, now: datetime) -> None:
        when = first_run(spec, self.config, last_run, now)
        self.scheduler.add_job(self._run, spec.trigger, args=(spec.id,), id=spec.id, name=spec.id,
                               next_run_time=when, replace_existing=True)
        self.specs[spec.id] = spec
        log.debug("scheduled %s (%s), first run %s", spec.id, spec.key, when.isoformat(),
                  extra={"job": spec.kind, "source": spec.source})

    def _remove(self, job_id: str) -> None:
        self.specs.pop(job_id, None)
        try:
            self.scheduler.remove_job(job_id)
        except JobLookupError:
            pass

    def _last_runs(self) -> dict[str, datetime]:
        with self.store.session() as session:
            rows = session.execute(select(SourceState.name, SourceState.last_run_at)).all()
        return {name: when for name, when in rows if when is not None}

    def request_process(self) -> None:
        """Run ``process`` now; if it is running, it runs once more when it finishes."""
        if self.stopping.is_set():
            return
        with self._process_lock:
            self._process_pending = True
            if self._process_running:
                return
        try:
            self.scheduler.modify_job("process", next_run_time=datetime.now(UTC))
        except JobLookupError:
            pass

    @contextmanager
    def _track(self, job_id: str) -> Iterator[None]:
        with self._cond:
            self._running[job_id] = utcnow()
        try:
            yield
        finally:
            with self._cond:
                self._running.pop(job_id, None)
                self._cond.notify_all()

    # --- the jobs ----------------------------------------------------------------------------

    def _run(self, job_id: str) -> None:
        """Run one job: log it with its job and source, record it, never let it raise."""
        if self.stopping.is_set():
            return
        kind, _, source = job_id.partition(":")
        body: Callable[[dict[str, Any]], None] = {
            "collect": lambda summary: self.collect(source, summary),
            "process": self.process,
            "orders": self.orders,
            "dispatch": self.dispatch,
            "digest": self.digest,
        }[kind]
        started = time.monotonic()
        with self._track(job_id), job_context(kind, source or None):
            try:
                with record_run(self.store, job_id) as summary:
                    body(summary)
                    ok = summary.get("ok", True)
            except RecoveryBotError as exc:
                log.error("%s failed: %s", job_id, exc)
                return
            except Exception:
                log.exception("%s failed unexpectedly; it runs again at its next time", job_id)
                return
            quiet = ok and _idle(kind, summary)
            lines = [str(line).strip() for line in summary.get("lines") or []]
            log.log(logging.DEBUG if quiet else logging.INFO, "%s %s in %.1fs%s", job_id,
                    "done" if ok else "finished with errors", time.monotonic() - started,
                    (": " + "; ".join(lines)) if lines else "")

    def _step(self, summary: dict[str, Any], name: str, fn: Callable[[], Any]) -> Any:
        """One stage inside a job: its failure is recorded and logged, the job goes on."""
        try:
            result = fn()
        except RecoveryBotError as exc:
            log.error("%s failed: %s", name, exc)
            summary.setdefault("failures", {})[name] = str(exc)
            summary["ok"] = False
            return None
        data = summary_dict(result)
        summary.setdefault("lines", []).extend(data.pop("lines", []))
        for key, value in data.items():
            summary.setdefault(key, value)
        if not _ok(result):
            summary["ok"] = False
        return result

    def collect(self, name: str, summary: dict[str, Any]) -> None:
        from bot.collect import collect

        config = self.config
        config.source(name)  # removed by a reload since it was scheduled: a clear error
        self._step(summary, "collect", lambda: collect(config, self.store, only=name))
        # Only new mentions need processing now (a source failing every few seconds would otherwise
        # keep the process job looping forever); the process job's own schedule covers the rest.
        if not _idle("collect", summary):
            self.request_process()

    def process(self, summary: dict[str, Any]) -> None:
        from bot.pipeline import run_cycle

        with self._process_lock:
            self._process_running = True
        try:
            # Requests that arrive while it runs make it run once more, a bounded number of times:
            # then the job ends (and is recorded) and the next request or its schedule runs it again.
            for _pass in range(PROCESS_PASSES):
                if self.stopping.is_set():
                    break
                with self._process_lock:
                    self._process_pending = False
                report = run_cycle(self.config, self.store, collect=False, sync_orders=False, dispatch=False)
                summary.setdefault("lines", []).extend(report.lines())
                for name, stage in report.stages.items():
                    data = summary_dict(stage)
                    data.pop("lines", None)
                    summary.setdefault("stages", {}).setdefault(name, []).append(data)
                if not report.ok:
                    summary["ok"] = False
                    summary.setdefault("failures", {}).update(report.failures)
                with self._process_lock:
                    if not self._process_pending:
                        break
        finally:
            with self._process_lock:
                self._process_running = False
                again = self._process_pending
        if again and not self.stopping.is_set():
            self.request_process()  # work still waiting after the last pass: a fresh, recorded run

    def orders(self, summary: dict[str, Any]) -> None:
        from bot import orders

        config = self.config
        self._step(summary, "orders", lambda: orders.sync(config, self.store, now=utcnow()))
        if not _idle("orders", summary):
            self.request_process()

    def dispatch(self, summary: dict[str, Any]) -> None:
        from bot import outbox
        from bot.decide import staff

        config = self.config
        self._step(summary, "expire_approvals", lambda: staff.expire_approvals(self.store, config, now=self.clock.now()))
        if self.stopping.is_set():
            return
        self._step(summary, "dispatch", lambda: outbox.dispatch_due(self.store, config, now=utcnow()))
        if config.alerts and not self.stopping.is_set():
            # A remedy that just failed or got stuck is told now, not at the next process run.
            from bot.alerts.send import run_alerts

            self._step(summary, "alerts", lambda: run_alerts(self.store, config, now=utcnow()))

    def digest(self, summary: dict[str, Any]) -> None:
        from bot.report import digest

        config = self.config
        self._step(summary, "digest", lambda: digest.send_due(self.store, config, now=utcnow()))


# --- the process -----------------------------------------------------------------------------


def run_daemon(config: Config, config_path: Path | None = None, *, signals: Signals | None = None) -> int:
    """`recoverybot run`: lock the database, schedule every job, run until SIGTERM/SIGINT.

    SIGHUP reloads the config file. Returns 0 after a clean stop; if a job is still running after
    ``[schedule] stop_timeout`` it is abandoned (its transaction never commits) and the process
    exits 0 at once. Raises AlreadyRunning when another daemon holds the database.
    """
    redact = install_log_filters(config)
    root = logging.getLogger()
    if root.level > logging.DEBUG:  # `-v` wins over the config's level
        root.setLevel(config.bot.log_level.upper())
    store = open_store(config.bot.database, config.data_dir, upgrade=False, create=True)
    lock = InstanceLock(config.bot.database, config.data_dir, store.engine)
    try:
        lock.acquire()
    except RecoveryBotError:
        store.dispose()
        raise
    signals = signals or Signals()
    daemon: Daemon | None = None
    heartbeat: Heartbeat | None = None
    web: WebServer | None = None
    abandoned: list[str] = []
    lost: str | None = None
    try:
        store.upgrade()
        watch = DatabaseWatch(sqlite_file(config.bot.database, config.data_dir))
        signals.install()
        web = _start_web(config, store)  # a public bind without its key stops the start here
        daemon = Daemon(config, store, config_path=config_path, redact=redact)
        daemon.start()  # reads the last runs: before the heartbeat row says the daemon is up
        heartbeat = Heartbeat(store)
        heartbeat.start({"config": str(config_path or config.path or ""), "jobs": {}})
        log.info("recoverybot daemon started (pid %s) on %s", os.getpid(), mask_url(config.bot.database))
        for part in enabled_parts(config):
            log.info("  [%s] %s: %s", "on " if part.enabled else "off", part.name, part.detail)
        last_beat = last_prune = time.monotonic()

        def housekeeping(fn: Callable[[], Any], what: str) -> None:
            # A write failing because the database file just vanished is not the error to report:
            # the watch below stops the daemon and says what happened to the file.
            try:
                fn()
            except RecoveryBotError as exc:
                if watch.lost() is None:
                    log.warning("%s failed: %s", what, exc)

        housekeeping(lambda: heartbeat.beat(_info(daemon, config_path)), "heartbeat")
        while not signals.stop.wait(1.0):
            lost = watch.lost()
            if lost is not None:
                # Carrying on would write into a deleted file, and a restart would make a new empty
                # database that pays every buyer again: stop, say so, exit non-zero.
                log.error("%s; stopping now so that no remedy is sent twice: restore the database from a "
                          "backup before starting again", lost)
                break
            if signals.reload.is_set():
                signals.reload.clear()
                log.info("SIGHUP: reloading %s", daemon.config_path)
                if daemon.reload() and web is not None:
                    _reload_web(web, daemon.config)
                heartbeat.beat(_info(daemon, config_path))
            now = time.monotonic()
            if now - last_beat >= min(HEARTBEAT_SECONDS, parse_duration(daemon.config.schedule.heartbeat_every)):
                last_beat = now
                housekeeping(lambda: heartbeat.beat(_info(daemon, config_path)), "heartbeat")
            if now - last_prune >= PRUNE_EVERY:
                last_prune = now
                housekeeping(lambda: prune_runs(store), "prune run log")
                housekeeping(lambda: prune_http_cache(store), "prune http cache")
        timeout = float(parse_duration(daemon.config.schedule.stop_timeout))
        log.info("%s: stopping; waiting up to %.0fs for %s",
                 "database lost" if lost else signals.received or "stop", timeout,
                 ", ".join(daemon.running()) or "no running job")
        abandoned = daemon.stop(timeout)
    finally:
        signals.restore()
        if web is not None:
            web.stop()
        if daemon is not None and not daemon.stopping.is_set():
            daemon.stop(0)  # an error above: do not leave the scheduler's threads firing
    if abandoned:
        # A job is stuck (a hung request, a slow stage). Its open transaction never commits, so
        # nothing half-written remains; the next start carries on from the store.
        log.warning("abandoning %s after the stop timeout; exiting now", ", ".join(abandoned))
        _flush_logs()
        os._exit(1 if lost else 0)
    if lost is not None:
        lock.release()
        store.dispose()
        log.error("recoverybot daemon stopped: its database is gone")
        return 1
    if heartbeat is not None:
        _quietly(lambda: heartbeat.finish(True, {"jobs": {}, "stopped": signals.received or "stop"}), "heartbeat")
    lock.release()
    store.dispose()
    log.info("recoverybot daemon stopped")
    return 0


class DatabaseWatch:
    """Notices the SQLite file of a running daemon being deleted or replaced (its device and inode
    change, or it is gone): SQLite itself carries on writing into the deleted file without a word."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.identity = self._identity()

    def _identity(self) -> tuple[int, int] | None:
        if self.path is None:
            return None
        try:
            info = os.stat(self.path)
        except OSError:
            return None
        return info.st_dev, info.st_ino

    def lost(self) -> str | None:
        """None while the file is the one opened at start; else what happened to it."""
        if self.path is None or self.identity is None:
            return None
        now = self._identity()
        if now is None:
            return f"the database file {self.path} vanished (deleted or moved) under the running daemon"
        if now != self.identity:
            return f"the database file {self.path} was replaced by another file under the running daemon"
        return None


def _start_web(config: Config, store: Store) -> WebServer | None:
    """The staff inbox in a thread of this process when [web] enabled (a reload gives it the new
    config, :func:`_reload_web`; a changed [web] section itself needs a restart)."""
    if not config.web.enabled:
        return None
    from bot.web.server import WebServer

    return WebServer(config, store).start()


def _reload_web(web: WebServer, config: Config) -> None:
    """Give the running inbox the reloaded config (caps, staff, shop name, mail settings), so an
    approval or a change from the inbox follows the same policy as the daemon. Its own [web]
    section (address, port, key, public URL) stays until a restart: the server is bound to it."""
    app = web.app.state.web
    if config.web != app.config.web:
        log.warning("config reload: [web] changed; the inbox keeps its address, key and links until the "
                    "daemon restarts (systemctl restart recoverybot); the rest of the config applies now")
        config = config.model_copy(update={"web": app.config.web})
    app.config = config


def _info(daemon: Daemon, config_path: Path | None) -> dict[str, Any]:
    return {"config": str(config_path or daemon.config.path or ""), "jobs": daemon.next_runs(),
            "running": daemon.running()}


def _quietly(fn: Callable[[], Any], what: str) -> None:
    """A housekeeping write that must never stop the daemon (the database may be busy)."""
    try:
        fn()
    except RecoveryBotError as exc:
        log.warning("%s failed: %s", what, exc)


def _flush_logs() -> None:
    for handler in logging.getLogger().handlers:
        try:
            handler.flush()
        except Exception:
            pass
    sys.stdout.flush()
    sys.stderr.flush()
