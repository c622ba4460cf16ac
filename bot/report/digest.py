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
import re
import textwrap
import unicodedata
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import jinja2
from sqlalchemy import and_, case, exists, func, or_, select
from sqlalchemy.orm import Session, selectinload

from bot.errors import DigestError

if TYPE_CHECKING:
    from bot.config import Config
    from bot.report.mailer import Mailer
    from bot.store import Store

log = logging.getLogger(__name__)

TEMPLATES = Path(__file__).parent / "templates"


class DigestStatus:
    """Values of ``Digest.status`` (the store keeps them as plain strings)."""

    SENDING = "sending"  # claimed; if the bot dies here we never resend (at most once)
    SENT = "sent"
    FAILED = "failed"
    SKIPPED = "skipped"  # a quiet day with quiet_days = "skip"


# --- the period ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Period:
    """One local day as a half-open UTC interval; ``until`` < ``end`` while the day is not over."""

    day: date
    zone: ZoneInfo
    start: datetime
    end: datetime
    until: datetime

    @classmethod
    def of(cls, day: date, zone: ZoneInfo, now: datetime) -> Period:
        start = datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)
        end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone).astimezone(UTC)
        return cls(day, zone, start, end, min(end, max(start, now)))

    @property
    def key(self) -> str:
        return self.day.isoformat()

    @property
    def partial(self) -> bool:
        return self.until < self.end

    @property
    def hours(self) -> float:
        return (self.end - self.start).total_seconds() / 3600


def previous_day(now: datetime, zone: ZoneInfo) -> date:
    """Yesterday, in local time: the last complete period."""
    return now.astimezone(zone).date() - timedelta(days=1)


def due_day(now: datetime, zone: ZoneInfo, send_at: time) -> date:
    """The latest period whose digest should have gone out by `now` (sent the morning after)."""
    today = now.astimezone(zone).date()
    send_time = datetime.combine(today, send_at, tzinfo=zone)
    return today - timedelta(days=1 if now >= send_time else 2)


# --- what the templates show --------------------------------------------------------------------


@dataclass
class SourceCount:
    name: str
    mentions: int = 0
    unhappy: int = 0


@dataclass
class DigestCounts:
    """The day in numbers (also what the subject line is made of)."""

    mentions: int = 0
    sources: list[SourceCount] = field(default_factory=list)
    unhappy: int = 0
    new_cases: int = 0
    sent: int = 0
    sent_cost: Decimal = Decimal(0)
    would_send: int = 0  # dry run: remedies that would have been dispatched
    would_send_cost: Decimal = Decimal(0)
    waiting: int = 0
    waiting_cost: Decimal = Decimal(0)
    failed: int = 0
    watch: int = 0
    sources_failing: int = 0
    budget_used: Decimal = Decimal(0)
    budget_cap: Decimal | None = None
    currency: str = "EUR"

    @property
    def budget_left(self) -> Decimal | None:
        return None if self.budget_cap is None else max(Decimal(0), self.budget_cap - self.budget_used)

    @property
    def quiet(self) -> bool:
        return not (self.unhappy or self.waiting or self.sent or self.would_send or self.failed
                    or self.sources_failing or self.new_cases)

    def as_dict(self) -> dict[str, Any]:
        return {
            "mentions": self.mentions, "per_source": {s.name: s.mentions for s in self.sources},
            "unhappy": self.unhappy, "new_cases": self.new_cases, "sent": self.sent,
            "sent_cost": str(self.sent_cost), "would_send": self.would_send, "waiting": self.waiting,
            "failed": self.failed, "watch": self.watch, "sources_failing": self.sources_failing,
            "budget_used": str(self.budget_used),
            "budget_cap": None if self.budget_cap is None else str(self.budget_cap), "quiet": self.quiet,
        }


@dataclass
class Quote:
    """A mention as shown: text already cut; ``link`` only when the URL is http(s)."""

    source: str
    author: str
    text: str
    title: str
    rating: float | None
    link: str | None
    url_text: str
    when: str
    stars: str


@dataclass
class Item:
    """One entry of a section (a case, a remedy, a mention); fields unused by a section stay empty."""

    case_id: int | None = None
    quote: Quote | None = None
    issue: str = ""
    cues: list[str] = field(default_factory=list)
    sentiment: float | None = None
    order: str = ""
    order_lines: list[str] = field(default_factory=list)
    customer: str = ""
    match: str = ""
    remedy: str = ""
    remedy_details: str = ""
    cost: str = ""
    note: str = ""
    rule: str = ""
    reasons: list[str] = field(default_factory=list)
    why: str = ""
    expires: str = ""
    when: str = ""
    attempts: int = 0
    error: str = ""
    approve: str = ""
    reject: str = ""
    more_mentions: int = 0


@dataclass
class Section:
    items: list[Item]
    total: int

    @property
    def more(self) -> int:
        return max(0, self.total - len(self.items))


@dataclass
class SourceProblem:
    name: str
    kind: str
    state: str  # "failing" | "blocked"
    since: str
    failures: int
    error: str
    url: str
    last_success: str


@dataclass
class ChartRow:
    """One source's bars over the chart days (the first row is all sources together)."""

    name: str
    total: list[int]
    unhappy: list[int]
    heights: list[tuple[int, int, int]] = field(default_factory=list)  # (blank, happy, unhappy) px

    @property
    def sum(self) -> int:
        return sum(self.total)

    @property
    def share(self) -> str:
        return _pct(sum(self.unhappy), self.sum)

    @property
    def spark(self) -> str:
        return _spark(self.total)

    @property
    def unhappy_spark(self) -> str:
        return _spark(self.unhappy, top=max(self.total) if self.total else 0)


@dataclass
class Chart:
    days: list[str]  # labels, oldest first
    weekdays: list[str]
    rows: list[ChartRow]
    height: int
    caption: str


@dataclass
class DigestReport:
    """A rendered digest; ``status`` tells what :func:`send` did with it."""

    period: str
    day: date
    subject: str
    html: str
    text: str
    images: dict[str, bytes]
    counts: DigestCounts
    status: str = "built"  # built | sent | skipped | failed
    message_id: str | None = None

    def to_message(self, sender: str, to: Sequence[str], *, now: datetime | None = None) -> EmailMessage:
        """multipart/alternative: text first, then HTML (with any image related by Content-ID)."""
        msg = EmailMessage()
        msg["From"] = sender
        msg["To"] = ", ".join(to)
        msg["Subject"] = self.subject
        msg["Date"] = formatdate((now or datetime.now(UTC)).timestamp(), usegmt=True)
        domain = parseaddr(sender)[1].rpartition("@")[2] or "recoverybot.invalid"
        self.message_id = make_msgid("digest", domain=domain)
        msg["Message-ID"] = self.message_id
        # Mark it as machine mail so auto-responders (vacation replies) stay quiet.
        msg["Auto-Submitted"] = "auto-generated"
        msg["X-Auto-Response-Suppress"] = "All"
        msg.set_content(self.text, cte="quoted-printable")
        msg.add_alternative(self.html, subtype="html", cte="quoted-printable")
        if self.images:
            html_part = list(msg.iter_parts())[1]
            assert isinstance(html_part, EmailMessage)
            for cid, png in self.images.items():
                html_part.add_related(png, "image", "png", cid=f"<{cid}>", filename=f"{cid.split('@')[0]}.png")
        return msg


# --- formatting helpers -------------------------------------------------------------------------

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u200b-\u200f\u202a-\u202e\u2066-\u2069]")
_SYMBOLS = {"EUR": "€", "GBP": "£", "USD": "$"}
_REMEDY_WORDS = {
    "replacement": "replacement", "refund": "refund", "store_credit": "store credit",
    "repair_reimbursement": "repair reimbursement", "return_pickup": "return pickup",
    "keep_item": "keep the item", "gesture": "goodwill gesture", "contact": "personal contact",
    "correct_item": "correct item sent", "shipping_credit": "shipping credit",
}


def clean(text: str | None) -> str:
    """Outside text made safe to lay out: control and bidi-override characters removed."""
    if not text:
        return ""
    return _CONTROL.sub("", unicodedata.normalize("NFC", str(text))).replace("\r\n", "\n").replace("\r", "\n")


def clip(text: str | None, limit: int) -> str:
    """At most `limit` characters, cut at a word, with an ellipsis when cut."""
    value = " ".join(clean(text).split()) if text and "\n" not in text else clean(text).strip()
    if len(value) <= limit:
        return value
    cut = value[:limit].rsplit(None, 1)[0] if " " in value[:limit] else value[:limit]
    return cut.rstrip(" ,.;:") + "…"


def safe_link(url: str | None) -> str | None:
    """The URL if it is a plain http(s) address, else None (javascript:, data: never become links)."""
    if not url:
        return None
    value = clean(url).strip()
    if re.match(r"(?i)^https?://[^\s\"'<>]+$", value):
        return value
    return None


def money(amount: Decimal | float | None, currency: str) -> str:
    value = Decimal(str(amount or 0)).quantize(Decimal("0.01"))
    symbol = _SYMBOLS.get(currency)
    return f"{symbol}{value:,}" if symbol else f"{value:,} {currency}"


def stars(rating: float | None) -> str:
    if rating is None:
        return ""
    full = max(0, min(5, round(rating)))
    return "★" * full + "☆" * (5 - full)


def words(value: str | None) -> str:
    return (value or "").replace("_", " ")


def mask(email: str | None) -> str:
    from bot.match import mask_email

    return mask_email(email)


def _pct(part: int, whole: int) -> str:
    return f"{round(100 * part / whole)}%" if whole else "0%"


def _spark(values: Sequence[int], top: int | None = None) -> str:
    blocks = " ▁▂▃▄▅▆▇█"
    peak = top if top else max(values, default=0)
    if not peak:
        return "·" * len(values)
    return "".join(blocks[0 if v == 0 else max(1, round(8 * v / peak))] if v else "·" for v in values)


def _local(moment: datetime | None, zone: ZoneInfo, fmt: str = "%a %d %b %H:%M") -> str:
    return moment.astimezone(zone).strftime(fmt) if moment else ""


def _reasons(row: Any) -> list[str]:
    """The decision's reasons, without repeating the rule's own name before each."""
    prefix = f"rule '{row.rule}': " if row.rule else ""
    out = [clip(str(r), 160).removeprefix(prefix) for r in (row.reasons or [])[:5]]
    return [r for r in out if r]


def _note(text: str | None, limit: int) -> str:
    """A customer note, cut, with its blank lines squeezed (it is shown small, for reference)."""
    return re.sub(r"\n\s*\n+", "\n", clip(text, limit))


def _params(params: dict[str, Any]) -> str:
    parts = []
    for key, value in params.items():
        if key in {"note", "amount", "currency"} or value is None or value == "" or isinstance(value, (dict, list)):
            continue
        parts.append(f"{words(key)} {clean(str(value))}")
    return ", ".join(parts)


# --- gathering ----------------------------------------------------------------------------------


def _quote(mention: Any, zone: ZoneInfo, limit: int) -> Quote:
    author = clean(mention.author_name or mention.author_handle or "someone")
    if mention.author_handle and mention.author_name:
        author = f"{clean(mention.author_name)} ({clean(mention.author_handle)})"
    return Quote(
        source=clean(mention.source),
        author=clip(author, 80),
        text=clip(mention.text, limit),
        title=clip(mention.title, 160),
        rating=mention.rating,
        link=safe_link(mention.url),
        url_text=clip(mention.url, 90),
        when=_local(mention.published_at or mention.collected_at, zone),
        stars=stars(mention.rating),
    )


def _order_text(case_row: Any, zone: ZoneInfo) -> tuple[str, list[str], str]:
    order = case_row.order
    if order is None:
        return "", [], ""
    tracking = None if order.delivered_at and order.tracking_status == "delivered" else order.tracking_status
    state = ", ".join(p for p in (words(order.fulfillment_status), words(tracking)) if p)
    when = _local(order.placed_at, zone, "%d %b %Y")
    text = f"#{clean(order.number)} of {when}" + (f", {state}" if state else "")
    if order.delivered_at:
        text += f", delivered {_local(order.delivered_at, zone, '%d %b')}"
    lines = [f"{line.quantity} × {clip(line.name, 80)}" + (f" ({clean(line.sku)})" if line.sku else "")
             for line in order.lines[:5]]
    who = mask(order.customer.email) if order.customer else ""
    return text, lines, who


def _match_text(case_row: Any) -> str:
    if case_row.match_confidence is None:
        return ""
    reasons = ", ".join(clean(str(r)) for r in (case_row.match_reasons or [])[:4])
    return f"{round(100 * case_row.match_confidence)}% sure" + (f": {reasons}" if reasons else "")


def _gather(session: Session, config: Config, period: Period, now: datetime) -> dict[str, Any]:
    from bot.store import (
        Assessment,
        BudgetPeriod,
        Case,
        CaseMention,
        CaseStatus,
        Digest,
        Mention,
        Order,
        Remedy,
        RemedyStatus,
        SourceState,
    )

    dc = config.digest
    zone = period.zone
    cur = config.bot.currency
    limit = dc.max_items
    in_day = and_(Mention.collected_at >= period.start, Mention.collected_at < period.until)
    counts = DigestCounts(currency=cur)

    # The day in numbers: mentions and unhappy ones per source.
    per_source: dict[str, SourceCount] = {}
    for source in config.sources:
        per_source[source.name] = SourceCount(source.name)
    unhappy_sum = func.sum(case((Assessment.unhappy.is_(True), 1), else_=0))
    rows = session.execute(
        select(Mention.source, func.count(Mention.id), unhappy_sum)
        .outerjoin(Assessment, Assessment.mention_id == Mention.id)
        .where(in_day)
        .group_by(Mention.source)
    ).all()
    for name, total, unhappy in rows:
        entry = per_source.setdefault(name, SourceCount(name))
        entry.mentions, entry.unhappy = int(total), int(unhappy or 0)
    counts.sources = sorted(per_source.values(), key=lambda s: (-s.mentions, s.name))
    counts.mentions = sum(s.mentions for s in counts.sources)
    counts.unhappy = sum(s.unhappy for s in counts.sources)
    counts.new_cases = int(session.scalar(
        select(func.count(Case.id)).where(Case.created_at >= period.start, Case.created_at < period.until)
    ) or 0)

    case_load = (
        selectinload(Remedy.case).selectinload(Case.mention).selectinload(Mention.assessment),
        selectinload(Remedy.case).selectinload(Case.order).selectinload(Order.lines),
        selectinload(Remedy.case).selectinload(Case.order).selectinload(Order.customer),
    )

    # Needs you: every case waiting for approval now, soonest to expire first.
    waiting_cases = session.scalars(
        select(Case)
        .where(Case.status == CaseStatus.AWAITING_APPROVAL.value)
        .order_by(Case.approval_expires_at.is_(None), Case.approval_expires_at, Case.id)
        .options(
            selectinload(Case.mention).selectinload(Mention.assessment),
            selectinload(Case.order).selectinload(Order.lines),
            selectinload(Case.order).selectinload(Order.customer),
            selectinload(Case.remedies),
            selectinload(Case.links),
        )
    ).all()
    def proposal(row: Case) -> Remedy | None:
        proposed = [r for r in row.remedies if r.status == RemedyStatus.PROPOSED.value] or list(row.remedies)
        return proposed[-1] if proposed else None

    def urgency(row: Case) -> tuple[Any, ...]:
        # The day it expires first, then the most money at stake: what a person should look at first.
        remedy = proposal(row)
        expires = row.approval_expires_at.astimezone(zone).date() if row.approval_expires_at else date.max
        return (expires, -Decimal(remedy.amount if remedy else 0), row.id)

    needs: list[Item] = []
    for row in sorted(waiting_cases, key=urgency):
        remedy = proposal(row)
        if remedy is not None:
            counts.waiting_cost += Decimal(remedy.amount or 0)
        if len(needs) >= limit:
            continue
        order, lines, who = _order_text(row, zone)
        assessment = row.mention.assessment
        needs.append(Item(
            case_id=row.id,
            quote=_quote(row.mention, zone, dc.quote_chars),
            issue=words(row.issue),
            cues=[clip(str(c), 60) for c in (assessment.cues if assessment else [])[:8]],
            sentiment=assessment.sentiment if assessment else None,
            order=order, order_lines=lines, customer=who, match=_match_text(row),
            remedy=_REMEDY_WORDS.get(remedy.kind, words(remedy.kind)) if remedy else "no remedy proposed",
            remedy_details=_params(remedy.params) if remedy else "",
            cost=(money(remedy.amount, remedy.currency) if remedy.amount else "no cost") if remedy else "",
            note=_note(remedy.note, 500) if remedy else "",
            rule=clean(row.rule), reasons=_reasons(row),
            why=clip(row.approval_reason, 300) or "the policy asks a person to decide",
            expires=_local(row.approval_expires_at, zone),
            approve=f"recoverybot approve {row.id}", reject=f"recoverybot reject {row.id}",
            more_mentions=max(0, len(row.links) - 1),
        ))
    counts.waiting = len(waiting_cases)

    # Done for you (or, in a dry run, what would have been done).
    dry = config.bot.dry_run
    done_order: Any
    if dry:
        done_filter = and_(Remedy.status == RemedyStatus.DRY_RUN.value,
                           Remedy.created_at >= period.start, Remedy.created_at < period.until)
        done_order = Remedy.created_at
    else:
        done_filter = and_(Remedy.status == RemedyStatus.DISPATCHED.value,
                           Remedy.dispatched_at >= period.start, Remedy.dispatched_at < period.until)
        done_order = Remedy.dispatched_at
    done_total, done_cost = session.execute(
        select(func.count(Remedy.id), func.coalesce(func.sum(Remedy.amount), 0)).where(done_filter)
    ).one()
    if dry:
        counts.would_send, counts.would_send_cost = int(done_total), Decimal(done_cost or 0)
    else:
        counts.sent, counts.sent_cost = int(done_total), Decimal(done_cost or 0)
    done: list[Item] = []
    for remedy in session.scalars(
        select(Remedy).where(done_filter).order_by(done_order, Remedy.id).limit(limit).options(*case_load)
    ):
        row = remedy.case
        order, lines, who = _order_text(row, zone)
        done.append(Item(
            case_id=row.id, quote=_quote(row.mention, zone, min(dc.quote_chars, 240)), issue=words(row.issue),
            order=order, customer=who,
            remedy=_REMEDY_WORDS.get(remedy.kind, words(remedy.kind)), remedy_details=_params(remedy.params),
            cost=money(remedy.amount, remedy.currency) if remedy.amount else "no cost",
            note=_note(remedy.note, 500), rule=clean(row.rule),
            why="approved by staff" if row.approval_reason else "automatic",
            when=_local(remedy.dispatched_at or remedy.created_at, zone, "%H:%M"),
        ))

    # Failed dispatches: gave up, or still retrying after an error.
    failing_filter = or_(
        and_(Remedy.status == RemedyStatus.FAILED.value, Remedy.created_at >= period.start - timedelta(days=14)),
        and_(Remedy.status == RemedyStatus.QUEUED.value, Remedy.attempts > 0, Remedy.last_error.is_not(None)),
    )
    counts.failed = int(session.scalar(select(func.count(Remedy.id)).where(failing_filter)) or 0)
    failed: list[Item] = []
    for remedy in session.scalars(
        select(Remedy).where(failing_filter).order_by(Remedy.created_at.desc(), Remedy.id).limit(limit)
        .options(*case_load)
    ):
        row = remedy.case
        retrying = remedy.status == RemedyStatus.QUEUED.value
        failed.append(Item(
            case_id=row.id, issue=words(row.issue), customer=_order_text(row, zone)[2],
            remedy=_REMEDY_WORDS.get(remedy.kind, words(remedy.kind)), cost=money(remedy.amount, remedy.currency),
            attempts=remedy.attempts, error=clip(remedy.last_error, 300) or "no error recorded",
            why=(f"retrying, next attempt {_local(remedy.next_attempt_at, zone)}" if retrying
                 else "gave up: deliver it by hand or fix the adapter and re-queue"),
            when=_local(remedy.created_at, zone),
            quote=_quote(row.mention, zone, 160),
        ))

    # Watch list: unhappy mentions of the day that got no remedy, most severe first, and those the
    # scorer could not read (a language it does not know): a person reads them.
    # Every mention of a case is linked through CaseMention (the first one too).
    watch_filter = and_(
        in_day,
        or_(Assessment.unhappy.is_(True), Assessment.scored.is_(False)),
        or_(Case.id.is_(None), Case.status != CaseStatus.AWAITING_APPROVAL.value),
        ~exists().where(Remedy.case_id == CaseMention.case_id),
    )

    def watch_query(*columns: Any) -> Any:
        return (
            select(*columns)
            .join(Assessment, Assessment.mention_id == Mention.id)
            .outerjoin(CaseMention, CaseMention.mention_id == Mention.id)
            .outerjoin(Case, Case.id == CaseMention.case_id)
            .where(watch_filter)
        )

    counts.watch = int(session.scalar(watch_query(func.count(Mention.id))) or 0)
    watch_rows = session.execute(
        watch_query(Mention, Assessment, Case)
        .order_by(Assessment.sentiment, Mention.rating.is_(None), Mention.rating, Mention.id)
        .limit(limit)
    ).all()
    watch: list[Item] = []
    for mention, assessment, row in watch_rows:
        watch.append(Item(
            case_id=row.id if row is not None else None, quote=_quote(mention, zone, min(dc.quote_chars, 300)), issue=words(assessment.issue),
            cues=[clip(str(c), 60) for c in (assessment.cues or [])[:5]], sentiment=assessment.sentiment,
            why=_why_no_remedy(row),
        ))

    # Source health.
    problems: list[SourceProblem] = []
    states = session.scalars(select(SourceState).order_by(SourceState.name)).all()
    for state in states:
        if not state.consecutive_failures and not state.failing_since:
            continue
        blocked = (state.last_error_kind or "") in {"robots", "blocked"} or bool(
            re.search(r"\b(403|429)\b", state.last_error_message or ""))
        problems.append(SourceProblem(
            name=clean(state.name), kind=clean(state.kind), state="blocked" if blocked else "failing",
            since=_local(state.failing_since or state.last_error_at, zone),
            failures=state.consecutive_failures, error=clip(state.last_error_message, 300),
            url=clip(state.last_error_url, 120), last_success=_local(state.last_success_at, zone) or "never",
        ))
    counts.sources_failing = len(problems)

    # Budget this month (the month of the digest's day).
    month = session.get(BudgetPeriod, f"month:{period.day:%Y-%m}")
    # Before the month's first remedy there is no budget row yet: the cap is the configured one.
    counts.budget_cap = Decimal(str(config.policy.monthly_budget))
    if month is not None:
        counts.budget_used = Decimal(month.reserved or 0)
        counts.budget_cap = Decimal(month.cap) if month.cap else counts.budget_cap

    # Earlier digests that did not go out.
    missed = [
        {"day": _day_label(date.fromisoformat(d.period)), "error": clip(d.last_error, 200) or "unknown error",
         "attempts": d.attempts,
         "status": "may not have been sent (the bot stopped while sending)" if d.status == DigestStatus.SENDING
         else "could not be sent"}
        for d in session.scalars(
            select(Digest).where(Digest.period < period.key,
                                 Digest.period >= (period.day - timedelta(days=14)).isoformat(),
                                 Digest.status.in_([DigestStatus.FAILED, DigestStatus.SENDING]))
            .order_by(Digest.period)
        )
    ]

    chart = _chart(session, config, period, [s.name for s in counts.sources])
    return {
        "counts": counts, "needs": Section(needs, counts.waiting),
        "done": Section(done, int(done_total)), "failed": Section(failed, counts.failed),
        "watch": Section(watch, counts.watch), "problems": problems, "sources_total": len(states),
        "missed": missed, "chart": chart,
    }


def _why_no_remedy(row: Any) -> str:
    if row is None:
        return "not processed yet"
    status = row.status
    if status == "unmatched":
        n = len(row.candidates or [])
        return f"no order matched ({n} possible, none sure enough)" if n else "no order matched"
    if status == "dismissed":
        return "dismissed"
    reason = clip(str((row.reasons or [""])[0]), 160)
    if status == "decided":
        return f"no remedy: {reason}" if reason else "the policy offered no remedy"
    return f"{words(status)}" + (f": {reason}" if reason else "")


def _chart(session: Session, config: Config, period: Period, names: list[str]) -> Chart:
    from bot.store import Assessment, Mention

    n = config.digest.chart_days
    zone = period.zone
    days = [period.day - timedelta(days=n - 1 - i) for i in range(n)]
    bounds = [datetime.combine(d, time(0), tzinfo=zone).astimezone(UTC) for d in days]
    bounds.append(period.until)
    posted = func.coalesce(Mention.published_at, Mention.collected_at)
    bucket = case(*[(posted < bounds[i + 1], i) for i in range(n)], else_=n)
    unhappy_sum = func.sum(case((Assessment.unhappy.is_(True), 1), else_=0))
    data: dict[str, tuple[list[int], list[int]]] = defaultdict(lambda: ([0] * n, [0] * n))
    for name in names:
        data[name]
    for name, index, total, unhappy in session.execute(
        select(Mention.source, bucket, func.count(Mention.id), unhappy_sum)
        .outerjoin(Assessment, Assessment.mention_id == Mention.id)
        .where(posted >= bounds[0], posted < bounds[-1])
        .group_by(Mention.source, bucket)
    ):
        if index is None or not 0 <= int(index) < n:
            continue
        data[name][0][int(index)] += int(total)
        data[name][1][int(index)] += int(unhappy or 0)
    rows = [ChartRow(clean(name), t, u) for name, (t, u) in data.items()]
    rows.sort(key=lambda r: (-r.sum, r.name))
    everything = ChartRow("all sources", [sum(r.total[i] for r in rows) for i in range(n)],
                          [sum(r.unhappy[i] for r in rows) for i in range(n)])
    _scale(everything, 72)
    for row in rows:
        _scale(row, 26)
    return Chart(
        days=[d.strftime("%d") for d in days], weekdays=[d.strftime("%a")[0] for d in days],
        rows=[everything, *rows],
        height=72,
        caption=f"Mentions per day by the day they were posted, {days[0]:%d %b} to {days[-1]:%d %b}; "
                "red: unhappy.",
    )


def _scale(row: ChartRow, height: int) -> None:
    peak = max(row.total, default=0) or 1
    for total, unhappy in zip(row.total, row.unhappy, strict=True):
        bar = round(height * total / peak)
        if total and bar < 2:
            bar = 2
        red = round(bar * unhappy / total) if total else 0
        if unhappy and red < 1:
            red = 1
        row.heights.append((height - bar, bar - red, red))


def _day_label(day: date) -> str:
    return f"{day:%a} {day.day} {day:%b}"


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
    label = _day_label(period.day) + (", so far" if period.partial else "")
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


def build(store: Store, config: Config, *, day: date | None = None, now: datetime | None = None) -> DigestReport:
    """Render the digest of `day` (default: today so far, in [bot] timezone) from the store."""
    from bot.store import utcnow

    now = now or utcnow()
    zone = config.zone
    day = day or now.astimezone(zone).date()
    period = Period.of(day, zone, now)
    with store.session() as session:
        data = _gather(session, config, period, now)
    counts: DigestCounts = data["counts"]
    cur = config.bot.currency
    hours = round(period.hours)
    context = {
        **data,
        "shop": clean(config.bot.shop_name),
        "day_label": f"{period.day:%A} {period.day.day} {period.day:%B %Y}",
        "period_text": (
            f"{_local(period.start, zone, '%a %d %b %H:%M')} to {_local(period.until, zone, '%a %d %b %H:%M')} "
            f"{clean(config.bot.timezone)}"
            + (" (so far)" if period.partial else "")
            + (f", a {hours}-hour day (clocks changed)" if hours != 24 else "")
        ),
        "dry_run": config.bot.dry_run,
        "money": lambda amount: money(amount, cur),
        "pct": _pct,
        "generated": _local(now, zone, "%a %d %b %Y %H:%M"),
        "quiet_text": "All quiet: nobody unhappy, nothing waiting, nothing failing." if counts.quiet else "",
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
            when = _local(row.sent_at, config.zone, "%a %d %b %H:%M") or "earlier"
            raise DigestError(
                f"the digest for {_day_label(day)} was already {'sent' if row.status == DigestStatus.SENT else 'being sent'} ({when})",
                hint="use --force to send it again",
            )
    report = build(store, config, day=day, now=now)
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
    message = report.to_message(dc.from_address, dc.to, now=now)
    try:
        mailer.send(message)
    except DigestError as exc:
        _record(store, period, DigestStatus.FAILED, report.subject, exc.message, now, count=False)
        report.status = "failed"
        raise
    _record(store, period, DigestStatus.SENT, report.subject, None, now, count=False)
    report.status = "sent"
    log.info("digest %s sent to %d recipient(s): %s", period, len(dc.to), report.subject)
    return report


def _record(store: Store, period: str, status: str, subject: str, error: str | None, now: datetime,
            *, count: bool) -> None:
    from bot.store import Digest

    with store.session() as session:
        row = session.get(Digest, period)
        if row is None:
            row = Digest(period=period, attempts=0, created_at=now)
            session.add(row)
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
