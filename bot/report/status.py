"""`recoverybot status`: is the daemon alive, are the sources healthy, is the outbox moving.

Everything is read from the store (the daemon's heartbeat and job rows in RunLog, SourceState,
the outbox, the budget periods, the digest rows), so it works from any shell or monitoring
check while the daemon runs, and says so when it does not. :attr:`Status.healthy` is false when
something needs a person; the CLI then exits 1.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select

from bot.collect import MORE_KEY, more_words
from bot.config import Config, parse_duration
from bot.daemon.process import DAEMON_JOB, HEARTBEAT_STALE, parse_time
from bot.revisit import pacing_problems
from bot.store import (
    BudgetPeriod,
    Case,
    CaseStatus,
    Digest,
    Remedy,
    RemedyStatus,
    RunLog,
    SourceState,
    Store,
    utcnow,
)

FAILING_AFTER = 3  # consecutive failed runs before a source counts as unhealthy
LATE_FACTOR = 3  # a source not run for this many intervals (plus the misfire grace) is late
STUCK_AFTER = timedelta(minutes=5)  # a due remedy waiting this long past dispatch_every: stuck
FAILED_RECENT = timedelta(hours=24)  # failed remedies this recent make status unhealthy


@dataclass
class DaemonStatus:
    """The daemon as its heartbeat row tells it."""

    running: bool
    pid: int | None = None
    host: str | None = None
    started_at: datetime | None = None
    heartbeat_at: datetime | None = None
    stopped_at: datetime | None = None


@dataclass
class SourceStatus:
    """One configured source: when it ran, when it runs next, whether it works."""

    name: str
    kind: str
    enabled: bool
    schedule: str
    health: str  # ok | warning | failing | late | stuck | never run | disabled
    last_run_at: datetime | None = None
    last_success_at: datetime | None = None
    next_run_at: datetime | None = None
    consecutive_failures: int = 0
    last_error: str | None = None
    mentions_total: int = 0
    more_next_run: int = 0  # the last run stopped at max_new_per_run with this many more read
    page_errors: list[str] = field(default_factory=list)  # URLs that failed in a run that still counted as ok


@dataclass
class OutboxStatus:
    """Remedies by state (``awaiting_approval`` counts cases); ``due`` are queued and may go now,
    ``oldest_due_at`` the longest waiting."""

    queued: int = 0
    due: int = 0
    awaiting_approval: int = 0
    failed: int = 0
    failed_recent: int = 0
    dispatched: int = 0
    oldest_due_at: datetime | None = None


@dataclass
class BudgetStatus:
    period: str
    reserved: Decimal
    cap: Decimal


@dataclass
class JobRun:
    job: str
    started_at: datetime
    finished_at: datetime | None
    ok: bool | None


@dataclass
class Status:
    """Everything `recoverybot status` shows; ``problems`` lists what makes it unhealthy."""

    checked_at: datetime
    daemon: DaemonStatus
    sources: list[SourceStatus] = field(default_factory=list)
    outbox: OutboxStatus = field(default_factory=OutboxStatus)
    budget: list[BudgetStatus] = field(default_factory=list)
    currency: str = "EUR"
    last_digest: dict[str, Any] | None = None
    jobs: list[JobRun] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def healthy(self) -> bool:
        return not self.problems

    def as_dict(self) -> dict[str, Any]:
        data = _plain(asdict(self))
        data["healthy"] = self.healthy
        return data  # type: ignore[no-any-return]


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


# --- gathering -------------------------------------------------------------------------------


def gather(config: Config, store: Store, *, now: datetime | None = None, expect_daemon: bool = True) -> Status:
    """Read the state of everything from the store."""
    from bot.daemon.schedule import plan

    now = now or utcnow()
    specs = {spec.source: spec for spec in plan(config) if spec.kind == "collect"}
    with store.sessions() as session:
        beat = session.scalars(
            select(RunLog).where(RunLog.job == DAEMON_JOB).order_by(RunLog.id.desc()).limit(1)
        ).first()
        states = {row.name: row for row in session.scalars(select(SourceState))}
        latest = select(func.max(RunLog.id)).where(RunLog.job != DAEMON_JOB).group_by(RunLog.job)
        jobs = [JobRun(r.job, r.started_at, r.finished_at, r.ok)
                for r in session.scalars(select(RunLog).where(RunLog.id.in_(latest)).order_by(RunLog.job))]
        finished = (select(func.max(RunLog.id)).where(RunLog.job.like("collect:%"), RunLog.finished_at.is_not(None))
                    .group_by(RunLog.job))
        collect_runs = {str(job): summary for job, summary in session.execute(
            select(RunLog.job, RunLog.summary).where(RunLog.id.in_(finished))).all()}
        awaiting = int(session.scalar(select(func.count()).select_from(Case).where(
            Case.status == CaseStatus.AWAITING_APPROVAL.value)) or 0)
        counts: dict[str, int] = {str(k): int(v) for k, v in session.execute(
            select(Remedy.status, func.count()).group_by(Remedy.status)).all()}
        due_filter = (Remedy.status == RemedyStatus.QUEUED.value,
                      (Remedy.next_attempt_at.is_(None)) | (Remedy.next_attempt_at <= now))
        due = int(session.scalar(select(func.count()).select_from(Remedy).where(*due_filter)) or 0)
        oldest = session.scalar(select(func.min(func.coalesce(Remedy.next_attempt_at, Remedy.queued_at,
                                                              Remedy.created_at))).where(*due_filter))
        failed_recent = int(session.scalar(
            select(func.count()).select_from(Remedy).where(
                Remedy.status == RemedyStatus.FAILED.value,
                func.coalesce(Remedy.queued_at, Remedy.created_at) >= now - FAILED_RECENT)
        ) or 0)
        blocked = [(int(rid), str(err)) for rid, err in session.execute(
            select(Remedy.id, Remedy.last_error).where(
                Remedy.status == RemedyStatus.QUEUED.value, Remedy.attempts == 0, Remedy.last_error.is_not(None))
            .order_by(Remedy.id).limit(5)).all()]
        budget_rows = {row.period: row for row in session.scalars(select(BudgetPeriod))}
        digest = session.scalars(select(Digest).order_by(Digest.period.desc()).limit(1)).first()
        last_digest = None if digest is None else {
            "period": digest.period, "status": digest.status, "sent_at": digest.sent_at,
            "attempts": digest.attempts, "last_error": digest.last_error,
        }

    status = Status(checked_at=now, daemon=_daemon(beat, now), jobs=jobs, last_digest=last_digest,
                    currency=config.bot.currency)
    if not status.daemon.running and expect_daemon:
        when = status.daemon.heartbeat_at
        if status.daemon.stopped_at is not None:
            why = f" (stopped {_ago(status.daemon.stopped_at, now)})"
        else:
            why = f" (last heartbeat {_ago(when, now)})" if when else " (it never ran on this database)"
        status.problems.append("the daemon is not running" + why)
    next_runs: dict[str, Any] = {}
    if status.daemon.running and beat is not None:
        next_runs = dict((beat.summary or {}).get("jobs") or {})

    grace = timedelta(seconds=parse_duration(config.schedule.misfire_grace))
    running = {j.job: j.started_at for j in jobs if j.finished_at is None}
    for source in config.sources:
        spec = specs.get(source.name)
        state = states.get(source.name)
        item = SourceStatus(
            name=source.name, kind=source.kind, enabled=source.enabled,
            schedule=f"cron {source.cron}" if source.cron else f"every {source.every or config.schedule.collect_every}",
            health="ok",
        )
        if state is not None:
            item.last_run_at = state.last_run_at
            item.last_success_at = state.last_success_at
            item.consecutive_failures = state.consecutive_failures or 0
            item.mentions_total = state.mentions_total or 0
            more = (state.cursor or {}).get(MORE_KEY)
            item.more_next_run = more if isinstance(more, int) else 0
            if state.last_error_message and item.consecutive_failures:
                item.last_error = f"{state.last_error_kind or 'error'}: {state.last_error_message}" + (
                    f" ({state.last_error_url})" if state.last_error_url else "")
        item.page_errors = _page_errors(source.name, collect_runs.get(f"collect:{source.name}"), state)
        if not source.enabled or spec is None:
            item.health = "disabled"
            status.sources.append(item)
            continue
        if status.daemon.running:
            item.next_run_at = parse_time(next_runs.get(spec.id))
        else:
            item.next_run_at = _estimate_next(spec, item.last_run_at, now)
        if item.consecutive_failures >= FAILING_AFTER:
            item.health = "failing"
            status.problems.append(f"source {source.name} failed {item.consecutive_failures} times in a row"
                                   + (f": {item.last_error}" if item.last_error else ""))
        elif item.consecutive_failures or item.page_errors:
            item.health = "warning"
        elif item.last_run_at is None:
            item.health = "never run"
        run = running.get(f"collect:{source.name}")
        if status.daemon.running and run is not None and now - run > timedelta(seconds=source.deadline_seconds):
            # a run past its deadline is stuck (a source that trickles, or a bug), whatever it did before
            item.health = "stuck"
            status.problems.append(f"source {source.name} has been running since {run:%Y-%m-%d %H:%M} UTC, "
                                   f"past its deadline ({source.deadline})")
        elif (status.daemon.running and item.last_run_at is not None and status.daemon.started_at is not None
                and now - max(item.last_run_at, status.daemon.started_at)
                > timedelta(seconds=LATE_FACTOR * spec.interval) + grace):
            item.health = "late"
            status.problems.append(f"source {source.name} has not run since {item.last_run_at:%Y-%m-%d %H:%M} UTC "
                                   f"(schedule: {item.schedule})")
        status.sources.append(item)
    by_name = {item.name: item for item in status.sources}
    for pacing in pacing_problems(config):
        # pages cut by max_pages or more than the interval allows: a warning, never a silent ok
        found = by_name.get(pacing.source)
        if found is not None and found.health in ("ok", "never run"):
            found.health = "warning"
        status.problems.append(f"source {pacing.source}: {pacing.message}")

    status.outbox = OutboxStatus(
        queued=int(counts.get(RemedyStatus.QUEUED.value, 0)),
        due=due,
        awaiting_approval=awaiting,
        failed=int(counts.get(RemedyStatus.FAILED.value, 0)),
        failed_recent=failed_recent,
        dispatched=int(counts.get(RemedyStatus.DISPATCHED.value, 0)),
        oldest_due_at=oldest,
    )
    dispatch_every = timedelta(seconds=parse_duration(config.schedule.dispatch_every))
    if oldest is not None and not config.bot.dry_run and now - oldest > dispatch_every + STUCK_AFTER:
        status.problems.append(f"the outbox is stuck: {due} remedies due, the oldest since {_ago(oldest, now)}")
    if failed_recent:
        status.problems.append(f"{failed_recent} remedies failed in the last 24 hours; see `recoverybot cases`")
    for remedy_id, error in blocked:
        # Never attempted yet already an error: dispatch cannot start (a missing secret), not a retry.
        status.problems.append(f"remedy #{remedy_id} cannot be dispatched: {error}")

    status.budget = _budget(config, budget_rows, now)
    if last_digest is not None and last_digest["status"] == "failed":
        status.problems.append(f"the digest for {last_digest['period']} failed to send: {last_digest['last_error']}")
    return status


PAGE_ERRORS_SHOWN = 5  # per source; the digest and the log have them all


def _page_errors(name: str, summary: Any, state: SourceState | None) -> list[str]:
    """The URLs of a source that failed in its last run although others worked (the run counted as
    ok, so they are not in ``last_error``): from the daemon's record of that run, else from the
    source's own state (a `cycle` from cron leaves no job record)."""
    found: list[str] = []
    if isinstance(summary, dict):
        for result in summary.get("results") or []:
            if isinstance(result, dict) and result.get("name") == name and result.get("ok", True):
                found.extend(str(e) for e in result.get("errors") or [])
    elif (state is not None and not state.consecutive_failures and state.last_error_message
            and state.last_error_at is not None and state.last_error_at == state.last_run_at):
        found.append(f"{state.last_error_kind or 'error'}: {state.last_error_message}"
                     + (f" ({state.last_error_url})" if state.last_error_url else ""))
    return found[:PAGE_ERRORS_SHOWN]


def _daemon(beat: RunLog | None, now: datetime) -> DaemonStatus:
    if beat is None:
        return DaemonStatus(running=False)
    info = beat.summary or {}
    heartbeat = parse_time(info.get("heartbeat_at")) or beat.started_at
    running = beat.finished_at is None and now - heartbeat <= HEARTBEAT_STALE
    return DaemonStatus(running=running, pid=info.get("pid"), host=info.get("host"), started_at=beat.started_at,
                        heartbeat_at=heartbeat, stopped_at=beat.finished_at)


def _estimate_next(spec: Any, last_run: datetime | None, now: datetime) -> datetime:
    """With no daemon running: when the source would run if one started now."""
    if last_run is None:
        return now
    if spec.trigger.__class__.__name__ == "CronTrigger":
        due = spec.trigger.get_next_fire_time(None, last_run)
    else:
        due = last_run + timedelta(seconds=spec.interval)
    return max(due, now) if due is not None else now


def _budget(config: Config, rows: dict[str, BudgetPeriod], now: datetime) -> list[BudgetStatus]:
    try:
        from bot.outbox import periods

        wanted = periods(now, config)
    except (ImportError, AttributeError):  # the outbox module defines the periods; keep status usable
        local = now.astimezone(config.zone)
        wanted = [(f"day:{local:%Y-%m-%d}", Decimal(0)), (f"month:{local:%Y-%m}", Decimal(0))]
    out = []
    for period, cap in wanted:
        row = rows.get(period)
        out.append(BudgetStatus(period, Decimal(row.reserved) if row else Decimal(0),
                                Decimal(row.cap) if row and row.cap else Decimal(cap)))
    return out


# --- rendering -------------------------------------------------------------------------------


def _ago(when: datetime | None, now: datetime) -> str:
    if when is None:
        return "never"
    seconds = (now - when).total_seconds()
    future = seconds < 0
    seconds = abs(seconds)
    if seconds < 90:
        text = f"{seconds:.0f}s"
    elif seconds < 5400:
        text = f"{seconds / 60:.0f}m"
    elif seconds < 172800:
        text = f"{seconds / 3600:.1f}h"
    else:
        text = f"{seconds / 86400:.1f}d"
    return f"in {text}" if future else f"{text} ago"


def render(status: Status) -> str:
    """The human-readable status: a few lines a person can read at a glance."""
    now = status.checked_at
    d = status.daemon
    lines: list[str] = []
    if d.running:
        lines.append(f"daemon: running (pid {d.pid} on {d.host}, started {_ago(d.started_at, now)}, "
                     f"heartbeat {_ago(d.heartbeat_at, now)})")
    elif d.stopped_at is not None:
        lines.append(f"daemon: stopped {_ago(d.stopped_at, now)}")
    elif d.heartbeat_at is not None:
        lines.append(f"daemon: NOT RUNNING (last heartbeat {_ago(d.heartbeat_at, now)}, no clean stop)")
    else:
        lines.append("daemon: never started on this database")

    lines.append("sources:")
    if not status.sources:
        lines.append("  (none configured)")
    rows = [("name", "kind", "health", "last run", "next run", "mentions", "schedule")]
    for s in status.sources:
        nxt = "-" if s.next_run_at is None else ("now" if s.next_run_at <= now else _ago(s.next_run_at, now))
        rows.append((s.name, s.kind, s.health + (f" ({s.consecutive_failures})" if s.consecutive_failures else ""),
                     _ago(s.last_run_at, now), nxt, str(s.mentions_total), s.schedule))
    if status.sources:
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        for r in rows:
            lines.append("  " + "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
        for s in status.sources:
            if s.last_error:
                lines.append(f"  {s.name}: {s.last_error}")
            if s.more_next_run:
                lines.append(f"  {s.name}: the last run stopped at its max_new_per_run; "
                             f"{more_words(s.more_next_run, exact=False)}")
            for error in s.page_errors:
                lines.append(f"  {s.name}: one page failed: {error}")

    o = status.outbox
    out = f"outbox: {o.queued} queued ({o.due} due), {o.awaiting_approval} awaiting approval, {o.failed} failed"
    if o.oldest_due_at is not None:
        out += f", oldest due {_ago(o.oldest_due_at, now)}"
    lines.append(out + f", {o.dispatched} dispatched in all")
    if status.budget:
        lines.append("budget: " + "; ".join(
            f"{b.period} {b.reserved:.2f} of {b.cap:.2f} {status.currency}" for b in status.budget))
    dg = status.last_digest
    if dg is None:
        lines.append("digest: none yet")
    else:
        when = f" at {dg['sent_at']:%Y-%m-%d %H:%M} UTC" if dg.get("sent_at") else ""
        lines.append(f"digest: {dg['period']} {dg['status']}{when}")
    if status.jobs:
        lines.append("last runs: " + ", ".join(
            f"{j.job} {_ago(j.finished_at or j.started_at, now)}"
            + ("" if j.ok else (" FAILED" if j.ok is False else " (running)")) for j in status.jobs))
    if status.healthy:
        lines.append("healthy")
    else:
        lines.append("UNHEALTHY:")
        lines.extend(f"  - {p}" for p in status.problems)
    return "\n".join(lines)
