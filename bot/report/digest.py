"""The daily digest: what was seen, flagged, done, what waits for approval, what broke.

One local day (in [bot] timezone, DST-correct through zoneinfo) is one *period*. :func:`build`
reads the store directly and renders an HTML email (inline CSS, table layout, a 14-day chart of
pure HTML/CSS bars, so every client shows it without loading images) and a plain-text
alternative carrying the same information. Everything that comes from outside (review text,
names, URLs) is escaped by Jinja2's autoescape; only http(s) URLs become links.

:func:`send` delivers one period through a :class:`~bot.mailer.Mailer` and records a ``Digest``
row, so a period is sent at most once even across restarts; :func:`send_due` is what the daemon
calls: it sends the last period whose send time has passed, retries a failed send with backoff,
and the next digest reports earlier failures.
"""

from __future__ import annotations

import base64
import logging
import textwrap
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import jinja2
from sqlalchemy import func, select

from bot.errors import DigestError
from bot.report.gather import day_label, gather
from bot.report.view import (
    DigestCounts,
    DigestReport,
    DigestStatus,
    Period,
    clean,
    due_day,
    local_time,
    money,
    pct,
    previous_day,
    safe_link,
)

if TYPE_CHECKING:
    from bot.config import Config
    from bot.report.mailer import Mailer
    from bot.store import Store

log = logging.getLogger(__name__)

TEMPLATES = Path(__file__).parent / "templates"

__all__ = ["DigestReport", "DigestStatus", "Period", "build", "clean", "due_day", "preview", "previous_day",
           "retry_at", "safe_link", "send", "send_due"]

# --- rendering ----------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def _env() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        autoescape=lambda name: bool(name and name.endswith(".html")),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["wrap"] = _wrap
    env.filters["quoted"] = _quoted
    return env


def _wrap(text: str, width: int = 76, indent: str = "") -> str:
    lines: list[str] = []
    for paragraph in str(text).split("\n"):
        lines.extend(textwrap.wrap(paragraph, width, initial_indent=indent, subsequent_indent=indent,
                                   break_long_words=True, break_on_hyphens=False) or [indent.rstrip()])
    return "\n".join(lines)


def _quoted(text: str, width: int = 72, indent: str = "   ") -> str:
    return _wrap(text, width, indent + "> ")


def _subject(config: Config, counts: DigestCounts, period: Period) -> str:
    prefix = clean(config.digest.subject_prefix).replace("\n", " ").strip() or "recoverybot"
    label = day_label(period.day) + (", so far" if period.partial else "")
    if config.bot.dry_run:
        prefix += " [dry run]"
    if counts.quiet:
        parts = ["all quiet", f"{counts.mentions} mention{'s' if counts.mentions != 1 else ''}"]
    else:
        fixed = f"{counts.would_send} would be fixed" if config.bot.dry_run else f"{counts.sent} fixed"
        parts = [f"{counts.waiting} need you", fixed, f"{counts.mentions} mention{'s' if counts.mentions != 1 else ''}"]
        if counts.failed:
            parts.append(f"{counts.failed} failed")
        if counts.sources_failing:
            parts.append(f"{counts.sources_failing} source{'s' if counts.sources_failing != 1 else ''} down")
    return f"{prefix}: {', '.join(parts)} ({label})"


def _buttons(store: Store, config: Config, recipient: str | None, case_ids: list[int], now: datetime) -> dict[int, dict[str, str]]:
    """Approve / Reject / Change links per waiting case, signed for `recipient` ([web] enabled and a
    signing key at hand; none in a preview, which is a file anyone may open)."""
    if not (config.web.enabled and recipient and case_ids):
        return {}
    from bot.store import Case
    from bot.web.links import case_links, digest_key

    key = digest_key(config.web)
    if key is None:
        return {}
    with store.session() as session:
        return {case.id: case_links(key, config.web, case, recipient, now)
                for case in (session.get(Case, case_id) for case_id in case_ids) if case is not None}


def build(store: Store, config: Config, *, day: date | None = None, now: datetime | None = None,
          recipient: str | None = None) -> DigestReport:
    """Render the digest of `day` (default: today so far, in [bot] timezone) from the store; with
    `recipient` and [web] enabled its waiting cases get one-click buttons signed for that address."""
    from bot.store import utcnow

    now = now or utcnow()
    zone = config.zone
    day = day or now.astimezone(zone).date()
    period = Period.of(day, zone, now)
    with store.session() as session:
        data = gather(session, config, period, now)
    counts: DigestCounts = data["counts"]
    cur = config.bot.currency
    hours = round(period.hours)
    context = {
        **data,
        "shop": clean(config.bot.shop_name),
        "day_label": f"{period.day:%A} {period.day.day} {period.day:%B %Y}",
        "period_text": (
            f"{local_time(period.start, zone, '%a %d %b %H:%M')} to {local_time(period.until, zone, '%a %d %b %H:%M')} "
            f"{clean(config.bot.timezone)}"
            + (" (so far)" if period.partial else "")
            + (f", a {hours}-hour day (clocks changed)" if hours != 24 else "")
        ),
        "dry_run": config.bot.dry_run,
        "money": lambda amount: money(amount, cur),
        "pct": pct,
        "generated": local_time(now, zone, "%a %d %b %Y %H:%M"),
        "quiet_text": "All quiet: nobody unhappy, nothing waiting, nothing failing." if counts.quiet else "",
        "inbox_url": config.web.public_url + "/",
        # The cards and the one-line "also waiting" cases alike: each is one click from its decision.
        "buttons": _buttons(store, config, recipient,
                            [it.case_id for it in (*data["needs"].items, *data["needs"].brief) if it.case_id], now),
    }
    try:
        html = _env().get_template("digest.html").render(**context)
        text = _env().get_template("digest.txt").render(**context)
    except jinja2.TemplateError as exc:
        raise DigestError(f"cannot render the digest: {exc}", hint="the digest templates are damaged") from exc
    return DigestReport(
        period=period.key, day=period.day, subject=_subject(config, counts, period), html=html, text=text,
        images={}, counts=counts,
    )


def preview(store: Store, config: Config, path: Path, *, day: date | None = None,
            now: datetime | None = None) -> DigestReport:
    """Write the HTML digest to `path` (images, if any, inlined as data: URIs); nothing is sent."""
    report = build(store, config, day=day, now=now)
    html = report.html
    for cid, png in report.images.items():
        html = html.replace(f"cid:{cid}", "data:image/png;base64," + base64.b64encode(png).decode("ascii"))
    try:
        Path(path).write_text(html, encoding="utf-8")
    except OSError as exc:
        raise DigestError(f"cannot write the preview to {path}: {exc}", hint="check the folder exists and is writable") from exc
    return report


def send(store: Store, config: Config, *, mailer: Mailer | None = None, day: date | None = None,
         now: datetime | None = None, force: bool = False) -> DigestReport:
    """Send the digest of `day` (default: yesterday, local) once; records the outcome in ``Digest``.

    Raises DigestError when that period was already sent (unless ``force``) or the send fails
    (the failure is recorded, so :func:`send_due` retries and the next digest reports it).
    """
    from bot.store import Digest, utcnow

    now = now or utcnow()
    day = day or previous_day(now, config.zone)
    dc = config.digest
    if not dc.to:
        raise DigestError("the digest has no recipients", hint="set [digest] to = [\"you@shop.example\"]")
    period = day.isoformat()
    with store.session() as session:
        row = session.get(Digest, period)
        if row is not None and row.status in (DigestStatus.SENT, DigestStatus.SENDING) and not force:
            when = local_time(row.sent_at, config.zone, "%a %d %b %H:%M") or "earlier"
            raise DigestError(
                f"the digest for {day_label(day)} was already {'sent' if row.status == DigestStatus.SENT else 'being sent'} ({when})",
                hint="use --force to send it again",
            )
    report = build(store, config, day=day, now=now)
    if Period.of(day, config.zone, now).partial:
        # A day that is not over ("so far"): sent as asked, but never recorded, so the full digest
        # of that day still goes out when it is due.
        if mailer is None:
            from bot.report.mailer import Mailer

            mailer = Mailer.from_digest_config(dc)
        _deliver(store, config, report, mailer, day, now)
        report.status = "sent"
        log.info("digest %s sent so far (not recorded: the day is not over): %s", period, report.subject)
        return report
    if report.counts.quiet and dc.quiet_days == "skip" and not force:
        _record(store, period, DigestStatus.SKIPPED, report.subject, None, now, count=False)
        report.status = "skipped"
        log.info("digest %s skipped: a quiet day", period)
        return report
    if mailer is None:
        from bot.report.mailer import Mailer

        mailer = Mailer.from_digest_config(dc)
    # Claim the period before talking to SMTP: if we die mid-send it is never sent twice.
    _record(store, period, DigestStatus.SENDING, report.subject, None, now, count=True)
    try:
        _deliver(store, config, report, mailer, day, now)
    except DigestError as exc:
        _record(store, period, DigestStatus.FAILED, report.subject, exc.message, now, count=False)
        report.status = "failed"
        raise
    _record(store, period, DigestStatus.SENT, report.subject, None, now, count=False)
    report.status = "sent"
    log.info("digest %s sent to %d recipient(s): %s", period, len(dc.to), report.subject)
    return report


def _deliver(store: Store, config: Config, report: DigestReport, mailer: Mailer, day: date, now: datetime) -> None:
    """One message to all recipients; with [web] enabled one each, since the buttons are signed
    for the person they go to (the audit log names who approved)."""
    from bot.web.links import digest_key

    dc = config.digest
    if not (config.web.enabled and report.counts.waiting and digest_key(config.web) is not None):
        mailer.send(report.to_message(dc.from_address, dc.to, now=now))
        return
    for recipient in dc.to:
        own = build(store, config, day=day, now=now, recipient=recipient)
        mailer.send(own.to_message(dc.from_address, [recipient], now=now))
        report.message_id = own.message_id


def _record(store: Store, period: str, status: str, subject: str, error: str | None, now: datetime,
            *, count: bool) -> None:
    from bot.store import Digest, get_or_insert

    with store.session() as session:
        row = get_or_insert(session, Digest, {"period": period}, attempts=0, created_at=now)
        row.status = status
        row.subject = subject
        if count:
            row.attempts = (row.attempts or 0) + 1
        if error is not None:
            row.last_error = error
        if status == DigestStatus.SENT:
            row.sent_at = now
            row.last_error = None


def retry_at(first_attempt: datetime, attempts: int, first_wait: timedelta) -> datetime:
    """When a failed digest may be tried again: waits double (10, 20, 40 min ...), at most 2 h each.

    Counted from the first attempt (``Digest.created_at``), so no extra column is needed.
    """
    total = timedelta(0)
    for n in range(attempts):
        total += min(first_wait * (2**n), timedelta(hours=2))
    return first_attempt + total


def _ran_by(store: Store, end: datetime) -> bool:
    """Whether the bot had collected or run anything before `end` (aware)."""
    from bot.store import Mention, RunLog

    with store.session() as session:
        first = [session.scalar(select(func.min(Mention.collected_at))),
                 session.scalar(select(func.min(RunLog.started_at)))]
    seen: list[datetime] = [when for when in first if when is not None]
    if not seen:
        return False
    earliest = min(w if w.tzinfo else w.replace(tzinfo=UTC) for w in seen)
    return earliest < end


def send_due(store: Store, config: Config, *, mailer: Mailer | None = None,
             now: datetime | None = None) -> DigestReport | None:
    """For the daemon: send the last period due by `now` if not sent yet; retry a failed one.

    Returns the report when something was sent or skipped, None when nothing was due. A failed
    send raises DigestError after recording it (the scheduler logs it; the next call retries).
    """
    from bot.store import Digest, utcnow

    now = now or utcnow()
    dc = config.digest
    if not dc.smtp_host or not dc.to:
        return None
    day = due_day(now, config.zone, dc.send_time)
    if not _ran_by(store, datetime.combine(day + timedelta(days=1), time(0), tzinfo=config.zone)):
        return None  # the bot was installed after that day: nothing to report (not even "all quiet")
    with store.session() as session:
        row = session.get(Digest, day.isoformat())
        status, attempts, created = (row.status, row.attempts, row.created_at) if row else (None, 0, now)
    if status in (DigestStatus.SENT, DigestStatus.SKIPPED, DigestStatus.SENDING):
        return None
    if status == DigestStatus.FAILED and now < retry_at(created, attempts, timedelta(minutes=dc.retry_minutes)):
        return None
    return send(store, config, mailer=mailer, day=day, now=now)
