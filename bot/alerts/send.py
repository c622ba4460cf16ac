"""Instant alerts: tell staff in their chat (or by email) at once, through Apprise, when something
cannot wait for the morning's digest.

Each ``[[alerts]]`` entry names an environment variable holding an Apprise URL (``slack://...``,
``workflows://...`` (Teams), ``discord://...``, ``tgram://...``, ``mailtos://...``, ``json://...``) and what to send:

=====================  ==========================================================================
key                    the event (and its key in the ``alert_sent`` table)
=====================  ==========================================================================
case_waiting_above     a case waits for approval and its remedies cost at least this much
                       (``case_waiting:ID``: once per case, ever)
remedy_failed          a remedy could not be delivered after all its attempts (``remedy_failed:ID``)
source_failing         a source failed N times in a row (``source_failing:NAME:SINCE``: once per
                       streak; a source that recovers and fails again alerts again)
outbox_stuck           a queued remedy is still not delivered N minutes later (``outbox_stuck:ID``)
=====================  ==========================================================================

:func:`run_alerts` runs at the end of every cycle (``bot.pipeline.run_cycle``) and after every
dispatch run of the daemon. Each alert is *claimed* (a row inserted under a unique (target, event)
key, committed) before it is sent, so two workers never send it twice and a crash mid-send never
repeats it. A send that fails is recorded with its error, logged, and retried by later runs up to
:data:`MAX_ATTEMPTS` times; it never stops the cycle. ``max_per_hour`` bounds every target: alerts
over it wait (oldest first) for a later run, none is dropped.

Apprise is used as a library only: no Apprise config file, no plugin folder and no persistent
storage is read or written (see :func:`apprise_send`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.env import secret
from bot.errors import AlertError, ConfigError, RecoveryBotError
from bot.alerts.settings import AlertConfig
from bot.store import AlertSent, Case, CaseStatus, Remedy, RemedyStatus, SourceState, Store, utcnow

if TYPE_CHECKING:
    from bot.config import Config

log = logging.getLogger("recoverybot.alerts")

MAX_ATTEMPTS = 5  # sends of one alert before it is given up (each failure is recorded)
PER_KIND = 200  # at most this many events of one kind looked at per run (bounded work)
TITLE_CHARS = 200
BODY_CHARS = 3000  # chat services cut long messages; ours say the essentials first


# --- what to say --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Alert:
    """One event worth telling a target about, in words."""

    event: str  # the unique key, e.g. case_waiting:12
    title: str
    body: str
    at: datetime  # when it happened (oldest are sent first when the rate limit holds some back)


def case_link(config: Config, case_id: int) -> str | None:
    """The case's page in the web inbox (``{[web] public_url}/case/{id}``) when the daemon serves
    one; None without it, and the alert names the commands instead. A page, not a signed action
    link: a chat channel is read by many and its previews open links, so the approval itself
    happens on the page, after sign-in, with its confirmation."""
    web = config.web
    return f"{web.public_url.rstrip('/')}/case/{case_id}" if web.enabled else None


def _what_to_do(config: Config, case_id: int, action: str) -> str:
    link = case_link(config, case_id)
    if link:
        return f"What to do: {action}. Open the case in the inbox: {link}"
    return f"What to do: {action}. See the whole case with: recoverybot cases {case_id}"


def _case_alert(config: Config, detail: dict[str, Any], at: datetime) -> Alert:
    from bot.report.casefile import proposal_text, total_text, who
    from bot.report.view import clip, cues_in_words, in_words, words

    case_id = detail["id"]
    total = total_text(detail)
    cost = f"costs {total}" if total != "nothing" else "costs nothing"
    title = f"Case {case_id} waits for your approval: {words(detail.get('issue'))}, {cost}"
    lines = [f"Buyer: {who(detail)}", f"Problem: {words(detail.get('issue'))}"]
    mention = (detail.get("mentions") or [{}])[0]
    said = clip(mention.get("excerpt") or "", 240)
    if said:
        where = f" on {mention['source']}" if mention.get("source") else ""
        stars = f" ({float(mention['rating']):g} of 5 stars)" if mention.get("rating") is not None else ""
        lines.append(f"They wrote{where}{stars}: “{said}”")
    heard = cues_in_words((mention.get("assessment") or {}).get("cues"), 3, card=True)
    if heard:
        lines.append("The scorer noticed: " + "; ".join(heard))
    order = detail.get("order") or {}
    lines.append(f"Order: {order['number']}" if order.get("number") else "Order: none found")
    lines.append(f"Proposed: {proposal_text(detail, params=False)}")
    if detail.get("approval_reason"):
        lines.append(f"Why it waits: {in_words(detail['approval_reason'])}")
    lines.append(_what_to_do(config, case_id, f"approve it (recoverybot approve {case_id}) or reject it "
                                               f"(recoverybot reject {case_id} --reason \"...\")"))
    return Alert(f"case_waiting:{case_id}", title, "\n".join(lines), at)


def _cases_waiting(session: Session, entry: AlertConfig, skip: set[str]) -> list[tuple[int, datetime]]:
    """(id, since) of the waiting cases that cost at least the entry's amount and were not told yet."""
    threshold = Decimal(str(entry.case_waiting_above))
    rows = session.scalars(
        select(Case).where(Case.status == CaseStatus.AWAITING_APPROVAL.value).order_by(Case.id).limit(PER_KIND)
    ).all()
    out = []
    for case in rows:
        cost = sum((r.amount for r in case.remedies if r.status == RemedyStatus.PROPOSED.value), Decimal(0))
        if cost >= threshold and f"case_waiting:{case.id}" not in skip:
            out.append((case.id, case.updated_at or case.created_at))
    return out


def _remedy_failed(session: Session, config: Config) -> list[Alert]:
    from bot.report.casefile import remedy_line
    from bot.report.view import clip

    rows = session.scalars(
        select(Remedy).where(Remedy.status == RemedyStatus.FAILED.value).order_by(Remedy.id).limit(PER_KIND)
    ).all()
    out = []
    for remedy in rows:
        what = remedy_line({"kind": remedy.kind, "amount": remedy.amount, "currency": remedy.currency, "params": {}})
        title = f"A remedy could not be delivered: {what} for case {remedy.case_id}"
        error = clip(remedy.last_error or "no error was recorded", 400)
        body = "\n".join([
            f"The {what} for case {remedy.case_id} could not be delivered"
            + (f" through {remedy.adapter}" if remedy.adapter else "")
            + f" after {remedy.attempts} attempt{'' if remedy.attempts == 1 else 's'}.",
            f"Last error: {error}",
            _what_to_do(config, remedy.case_id, "fix what the error says (or deliver it by hand) and tell the buyer"),
        ])
        out.append(Alert(f"remedy_failed:{remedy.id}", title, body, remedy.queued_at or remedy.created_at))
    return out


def _sources_failing(session: Session, config: Config, entry: AlertConfig) -> list[Alert]:
    from bot.report.view import clip

    assert entry.source_failing is not None
    enabled = {s.name for s in config.sources if s.enabled}
    rows = session.scalars(
        select(SourceState).where(SourceState.consecutive_failures >= entry.source_failing)
        .order_by(SourceState.name).limit(PER_KIND)
    ).all()
    out = []
    for state in rows:
        if state.name not in enabled:
            continue  # removed or switched off since: nothing to do
        since = state.failing_since or state.last_error_at or utcnow()
        title = f"Source {state.name} has failed {state.consecutive_failures} times in a row"
        body = "\n".join(line for line in [
            f"Reviews and posts from {state.name} are not being collected since "
            f"{since.astimezone(config.zone):%Y-%m-%d %H:%M}.",
            f"Last error: {clip(state.last_error_message or 'none recorded', 400)}",
            f"Address: {state.last_error_url}" if state.last_error_url else "",
            "What to do: check that the address opens in a browser and that the source's settings are right; "
            "`recoverybot status` shows every source's health.",
        ] if line)
        out.append(Alert(f"source_failing:{state.name}:{since.isoformat(timespec='seconds')}", title, body, since))
    return out


def _outbox_stuck(session: Session, config: Config, entry: AlertConfig, now: datetime) -> list[Alert]:
    from bot.report.casefile import remedy_line
    from bot.report.view import clip

    assert entry.outbox_stuck is not None
    cutoff = now - timedelta(minutes=entry.outbox_stuck)
    rows = session.scalars(
        select(Remedy).where(Remedy.status == RemedyStatus.QUEUED.value, Remedy.queued_at.is_not(None),
                             Remedy.queued_at <= cutoff).order_by(Remedy.queued_at, Remedy.id).limit(PER_KIND)
    ).all()
    out = []
    for remedy in rows:
        assert remedy.queued_at is not None
        minutes = int((now - remedy.queued_at).total_seconds() // 60)
        what = remedy_line({"kind": remedy.kind, "amount": remedy.amount, "currency": remedy.currency, "params": {}})
        title = f"The outbox is stuck: the {what} for case {remedy.case_id} waits for {minutes} minutes"
        body = "\n".join(line for line in [
            f"The {what} for case {remedy.case_id} was approved {minutes} minutes ago and is still not delivered "
            f"({remedy.attempts} attempt{'' if remedy.attempts == 1 else 's'} so far).",
            f"Last error: {clip(remedy.last_error, 400)}" if remedy.last_error else "",
            "What to do: check that the daemon runs (`recoverybot status`) and that the fulfilment target answers.",
            _what_to_do(config, remedy.case_id, "once it is fixed, delivery resumes on its own"),
        ] if line)
        out.append(Alert(f"outbox_stuck:{remedy.id}", title, body, remedy.queued_at))
    return out


def pending_alerts(store: Store, config: Config, entry: AlertConfig, now: datetime,
                   skip: set[str] | None = None) -> list[Alert]:
    """Every event this entry wants that holds now, oldest first; those in ``skip`` (already sent)
    may be left out early (only where telling them costs work)."""
    skip = skip or set()
    from bot.decide.staff import case_detail

    alerts: list[Alert] = []
    waiting: list[tuple[int, datetime]] = []
    with store.session() as session:
        if entry.case_waiting_above is not None:
            waiting = _cases_waiting(session, entry, skip)
        if entry.remedy_failed:
            alerts += _remedy_failed(session, config)
        if entry.source_failing is not None:
            alerts += _sources_failing(session, config, entry)
        if entry.outbox_stuck is not None:
            alerts += _outbox_stuck(session, config, entry, now)
    # Read each case in full in its own session (one transaction at a time: SQLite has one writer).
    alerts += [_case_alert(config, case_detail(store, case_id), since) for case_id, since in waiting]
    return sorted(alerts, key=lambda a: (a.at, a.event))


# --- sending --------------------------------------------------------------------------------------

Notifier = Callable[[str, str, str, float], None]  # (url, title, body, timeout); raises AlertError


def apprise_send(url: str, title: str, body: str, timeout: float) -> None:
    """Send one message with Apprise, as a library: no config file, no plugin folder, no storage on disk.

    Raises AlertError with what Apprise logged (never the URL: it holds the service's secret).
    """
    import apprise

    asset = apprise.AppriseAsset(storage_mode="memory", service_timeout=timeout)
    sender = apprise.Apprise(asset=asset)
    if not sender.add(url):
        scheme = url.split("://", 1)[0] if "://" in url else "?"
        raise AlertError(f"the Apprise URL (scheme {scheme!r}) is not one Apprise understands")
    with apprise.LogCapture(level=logging.WARNING) as captured:  # type: ignore[no-untyped-call]
        ok = sender.notify(title=title, body=body)
    if not ok:
        said = " ".join(str(captured.getvalue()).split())[-400:] or "no reason given"
        raise AlertError(f"the service refused or did not answer: {said}")


@dataclass
class AlertSummary:
    """What one alert run did, per target."""

    sent: int = 0
    failed: int = 0
    held: int = 0  # over a target's max_per_hour: wait for a later run
    errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failed and not self.errors

    def lines(self) -> list[str]:
        if not (self.sent or self.failed or self.held or self.errors):
            return []
        parts = [f"{self.sent} sent"]
        if self.failed:
            parts.append(f"{self.failed} could not be sent (see the log; retried next run)")
        if self.held:
            parts.append(f"{self.held} held back by max_per_hour")
        return [f"alerts: {', '.join(parts)}"] + [f"alerts: {e}" for e in self.errors]


def _claim(store: Store, target: str, alert: Alert, now: datetime, row: AlertSent | None) -> bool:
    """Take the right to send this alert now (a committed row), or False when another run has it."""
    with store.session() as session:
        if row is None:
            try:
                with session.begin_nested():
                    session.add(AlertSent(target=target, event=alert.event, status="sending", attempts=1,
                                          title=alert.title[:TITLE_CHARS], last_attempt_at=now, created_at=now))
            except IntegrityError:
                return False
            return True
        claimed = session.execute(
            update(AlertSent).where(AlertSent.id == row.id, AlertSent.status == "failed",
                                    AlertSent.attempts == row.attempts)
            .values(status="sending", attempts=row.attempts + 1, last_attempt_at=now)
        )
        return bool(getattr(claimed, "rowcount", 0))


def _finish(store: Store, target: str, event: str, now: datetime, error: str | None) -> None:
    with store.session() as session:
        session.execute(
            update(AlertSent).where(AlertSent.target == target, AlertSent.event == event)
            .values(status="failed" if error else "sent", last_error=error, sent_at=None if error else now)
        )


def run_alerts(store: Store, config: Config, *, now: datetime | None = None,
               notifier: Notifier | None = None, environ: dict[str, str] | None = None) -> AlertSummary:
    """Send every alert due to every ``[[alerts]]`` target, each at most once, within its rate limit.

    A target that fails (its variable unset, its service down) is recorded and logged; the others
    still get theirs, and nothing raises.
    """
    now = now or utcnow()
    send = notifier or apprise_send
    summary = AlertSummary()
    for index, entry in enumerate(config.alerts):
        target = entry.target
        try:
            url = secret(entry.url_env, f"alerts[{index}].url_env", environ=environ)
        except ConfigError as exc:
            log.error("alert target %s: %s", target, exc.message)
            summary.errors.append(f"{target}: {exc.message}")
            continue
        try:
            with store.session() as session:
                done = set(session.scalars(select(AlertSent.event).where(
                    AlertSent.target == target,
                    (AlertSent.status != "failed") | (AlertSent.attempts >= MAX_ATTEMPTS))))
            alerts = [a for a in pending_alerts(store, config, entry, now, done) if a.event not in done]
            _send_all(store, entry, alerts, url, send, now, summary)
        except RecoveryBotError as exc:  # the store was busy: the next run tries again
            log.error("alert target %s: %s", target, exc)
            summary.errors.append(f"{target}: {exc.message}")
    return summary


def _send_all(store: Store, entry: AlertConfig, alerts: list[Alert], url: str, send: Notifier, now: datetime,
              summary: AlertSummary) -> None:
    target = entry.target
    if not alerts:
        return
    with store.session() as session:
        known = {row.event: row for row in session.scalars(
            select(AlertSent).where(AlertSent.target == target, AlertSent.event.in_([a.event for a in alerts])))}
        used = session.scalar(select(func.count()).select_from(AlertSent).where(
            AlertSent.target == target, AlertSent.last_attempt_at > now - timedelta(hours=1))) or 0
    room = entry.max_per_hour - int(used)
    for alert in alerts:
        row = known.get(alert.event)
        if row is not None and (row.status != "failed" or row.attempts >= MAX_ATTEMPTS):
            continue  # sent (or being sent, or given up): never again
        if room <= 0:
            summary.held += 1
            continue
        if not _claim(store, target, alert, now, row):
            continue  # another worker has it
        room -= 1
        try:
            send(url, alert.title[:TITLE_CHARS], alert.body[:BODY_CHARS], entry.timeout)
        except AlertError as exc:
            log.error("alert %s to %s could not be sent: %s", alert.event, target, exc.message)
            _finish(store, target, alert.event, now, exc.message)
            summary.failed += 1
            continue
        except Exception as exc:  # a bug inside Apprise or a plugin must not stop the cycle
            log.exception("alert %s to %s could not be sent", alert.event, target)
            _finish(store, target, alert.event, now, f"{type(exc).__name__}: {exc}"[:500])
            summary.failed += 1
            continue
        _finish(store, target, alert.event, now, None)
        summary.sent += 1
        log.info("alert %s sent to %s", alert.event, target)


__all__ = ["Alert", "AlertError", "AlertSummary", "apprise_send", "case_link", "pending_alerts",
           "run_alerts"]
