"""Public replies to reviews: optional, only when a staff member asks, posted once.

A buyer who wrote a bad review on the shop's own product page was helped in private (a remedy and
a note); other shoppers reading the review see nothing of it. A short public reply ("thank you,
sorry, we have been in touch with you directly") shows the shop answers. Review platforms forbid
buying a better review, and a reply is public, so it is never automatic:

- ``[notify] public_reply = true`` switches the feature on; even then nothing is posted until a
  person runs ``recoverybot reply CASE_ID [--text ...]``; who asked goes into the case history;
- the text (the ``public_reply`` template by default) is refused, naming the words at fault, when it
  mentions the rating or stars, asks to change or remove the review or offers anything (a discount,
  a refund, a gift), names an amount, the order number or an email address other than the shop's;
- only a review from a source whose site takes replies (:mod:`connectors.replies`, today a
  woocommerce source) can be answered;
- the reply is a row with its own idempotency key (one per case), claimed and delivered by the
  outbox's dispatch like a notice, retried with backoff; the channel lists the review's replies
  before posting and skips when an earlier attempt's reply is there, so a crash never posts twice.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import httpx
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from bot.errors import ConfigError, DispatchError, PolicyError, RecoveryBotError
from bot.store import AuditLog, Case, CaseStatus, Mention, PublicReply, PublicReplyStatus, Store, utcnow
from connectors.replies import ReplyChannel, ReviewRef, build_channel, supports_replies

if TYPE_CHECKING:
    from bot.config import Config

log = logging.getLogger(__name__)

MAX_CHARS = 1500  # a reply is a few sentences; a longer text is a mistake (a pasted note, an email)
# A reply says the buyer was helped, so it waits until they were: a remedy decided or delivered.
REPLYABLE = {CaseStatus.DECIDED.value, CaseStatus.QUEUED.value, CaseStatus.DISPATCHED.value}
NOT_REPLYABLE = "this review's site does not take replies from recoverybot"


class ReplyRefused(PolicyError):
    """A public reply was not queued: switched off, a site that takes none, a case not helped yet,
    or a text that breaks the rules (the message names the words)."""


# --- what a reply may say -------------------------------------------------------------------------

RATING = re.compile(
    r"\b(?:\d+(?:[.,]\d+)?\s*(?:/|out of)\s*(?:5|10)\b|(?:[\w]+[- ])?stars?\b|starred\b|ratings?\b|rated\b|"
    r"rate\b|re-?rat(?:e|ing)\b|scor(?:e|es|ed|ing)\b)", re.IGNORECASE)
CHANGE = re.compile(
    r"\b(?:remov\w*|delet\w*|chang\w*|updat\w*|edit\w*|revis\w*|amend\w*|take down|taking down|withdraw\w*|"
    r"reconsider\w*|improv\w*|rais\w*|upgrad\w*|modif\w*)\b(?:\W+\w+){0,4}?\W+"
    r"(?:reviews?|posts?|comments?|feedback|ratings?|opinion)\b", re.IGNORECASE)
OFFER = re.compile(
    r"\b(?:in exchange|in return|discount\w*|vouchers?|coupons?|gift ?cards?|(?<!feel )free|freebies?|refund\w*|"
    r"credit\w*|compensat\w*|rewards?|incentives?|promo(?:tion(?:al)?)? codes?|money back|cash ?back|"
    r"reimburs\w*|bonus\w*|\d+ ?% off|percent off)\b", re.IGNORECASE)
MONEY = re.compile(
    r"(?:[€$£¥₹]\s*\d+(?:[.,]\d+)?|\d(?:[\d.,]*\d)?\s*(?:[€$£¥₹]|\b(?:eur|euros?|usd|dollars?|gbp|pounds?|chf|sek|nok|"
    r"dkk)\b)|\b(?:eur|usd|gbp|chf)\s*\d+(?:[.,]\d+)?|\b\d+[.,]\d{2}\b)", re.IGNORECASE)
EMAIL = re.compile(r"[\w.+-]{1,64}@[\w-]{1,63}(?:\.[\w-]{1,63})+")


def _found(pattern: re.Pattern[str], text: str) -> str:
    seen: list[str] = []
    for match in pattern.finditer(text[: MAX_CHARS * 2]):
        word = " ".join(match.group(0).split())
        if word.lower() not in (w.lower() for w in seen):
            seen.append(word)
    return ", ".join(f"\u201c{w}\u201d" for w in seen[:5])


def problems(text: str, case: Case, config: Config) -> list[str]:
    """Why this text may not be posted under the case's review (empty: it may), in words for staff."""
    out: list[str] = []
    body = text.strip()
    if not body:
        return ["the reply is empty"]
    if len(body) > MAX_CHARS:
        out.append(f"the reply is {len(body)} characters long; keep it under {MAX_CHARS}")
    if words := _found(RATING, body):
        out.append(f"it mentions the rating or stars ({words}): a reply never speaks of the rating")
    if words := _found(CHANGE, body):
        out.append(f"it asks about changing the review ({words}): never ask a buyer to change or remove a review")
    if words := _found(OFFER, body):
        out.append(f"it offers something ({words}): a public reply never offers anything, and never in exchange "
                   "for a review; what the buyer gets was said to them directly")
    if words := _found(MONEY, body):
        out.append(f"it names an amount ({words}): no amounts in public")
    care = (config.bot.care_email or "").lower()
    buyer = {(case.customer.email if case.customer else "") or "", case.mention.author_email or ""} - {""}
    emails = [e for e in EMAIL.findall(body) if e.lower() != care]
    if emails:
        from bot.match import mask_email

        whose = "the buyer's email address" if any(e.lower() in {b.lower() for b in buyer} for e in emails) \
            else "an email address"
        out.append(f"it contains {whose} ({', '.join(mask_email(e) for e in emails[:3])}): never in public; "
                   "only the shop's care address may appear")
    order = case.order
    if order is not None:
        numbers = {order.number, str((order.extra or {}).get("id") or "")} - {""}
        for number in sorted(numbers):
            if len(number) >= 2 and re.search(rf"(?<![\w-]){re.escape(number)}(?![\w-])", body):
                out.append(f"it contains the order number ({number}): never the order in public")
                break
    return out


def default_text(case: Case, config: Config) -> str:
    """The reply from the ``public_reply`` template: thanks, sorry, "we have been in touch with you
    directly", the shop's name; no amounts, no order, nothing personal."""
    from jinja2 import StrictUndefined
    from jinja2.sandbox import SandboxedEnvironment

    from bot.notes import default_template

    env = SandboxedEnvironment(autoescape=False, undefined=StrictUndefined)
    product = case.mention.product_name or (case.order_line.name if case.order_line else None) or "order"
    return env.from_string(default_template("public_reply")).render(
        product=product.strip()[:120], shop_name=config.bot.shop_name).strip() + "\n"


# --- asking ---------------------------------------------------------------------------------------


def reply_key(install: str, case_id: int) -> str:
    """One public reply per case; the same key after any crash or second request."""
    return f"rb-{install}-case{case_id}-reply"


def reviewed_mention(case: Case, config: Config) -> Mention:
    """The case's review that can be answered: its own first mention when its site takes replies,
    else the oldest linked one that does; ReplyRefused when none can."""
    mentions = [case.mention] + sorted((link.mention for link in case.links if link.mention_id != case.mention_id),
                                       key=lambda m: m.id)
    for mention in mentions:
        if supports_replies(mention.source_kind):
            if not any(s.name == mention.source for s in config.sources):
                raise ReplyRefused(f"case #{case.id}: the review came from source {mention.source!r}, which is no "
                                   "longer in the config", hint="add the [[sources]] entry back to reply under it")
            return mention
    kinds = ", ".join(sorted({f"{m.source} ({m.source_kind})" for m in mentions}))
    raise ReplyRefused(f"case #{case.id}: {NOT_REPLYABLE} (it came from {kinds})",
                       hint="answer the buyer on that site by hand; recoverybot replies only under WooCommerce "
                            "product reviews today")


# --- delivery -------------------------------------------------------------------------------------


@dataclass
class ReplySummary:
    posted: int = 0
    retrying: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)
    references: dict[int, str] = field(default_factory=dict)


def _as_error(exc: Exception, where: str) -> DispatchError:
    if isinstance(exc, DispatchError):
        return exc
    if isinstance(exc, ConfigError):
        return DispatchError(f"{where}: {exc.message}", retryable=False, hint=exc.hint or None)
    if isinstance(exc, RecoveryBotError):
        return DispatchError(f"{where}: {exc.message}", hint=exc.hint or None)
    return DispatchError(f"{where}: unexpected {type(exc).__name__}: {exc}",
                         hint="a bug or an unexpected answer; it is retried, and the log has the traceback")


def _claim(store: Store, reply_id: int, now: datetime, lease: float) -> bool:
    """Take a reply for one attempt; committed before the site is called (at-least-once)."""
    with store.session() as session:
        result = session.execute(
            update(PublicReply)
            .where(PublicReply.id == reply_id, PublicReply.status == PublicReplyStatus.QUEUED.value,
                   (PublicReply.next_attempt_at.is_(None)) | (PublicReply.next_attempt_at <= now))
            .values(attempts=PublicReply.attempts + 1, next_attempt_at=now + timedelta(seconds=lease))
            .execution_options(synchronize_session=False)
        )
        return bool(result.rowcount == 1)  # type: ignore[attr-defined]


def deliver_due(store: Store, config: Config, client: httpx.Client, now: datetime | None = None, *,
                only: int | None = None) -> ReplySummary:
    """Post every due public reply (or only reply ``only``) through its source's reply channel.

    Nothing is posted in a dry run (the reply waits for the trial's end) nor while public replies
    are switched off (the reply says so and waits). A missing secret claims nothing: the reply
    records why and waits for the variable.
    """
    now = now or utcnow()
    summary = ReplySummary()
    if config.bot.dry_run:
        return summary
    query = select(PublicReply.id).where(
        PublicReply.status == PublicReplyStatus.QUEUED.value,
        (PublicReply.next_attempt_at.is_(None)) | (PublicReply.next_attempt_at <= now)).order_by(PublicReply.id)
    if only is not None:
        query = query.where(PublicReply.id == only)
    with store.session() as session:
        due = list(session.scalars(query.limit(200)))
    sources = {s.name: s for s in config.sources}
    channels: dict[str, ReplyChannel] = {}
    policy = config.policy
    for reply_id in due:
        with store.session() as session:
            row = session.get(PublicReply, reply_id)
            assert row is not None
            mention = row.mention
            name = row.source
            ref = ReviewRef(source=name, review_id=mention.external_id,
                            product_id=str((mention.raw or {}).get("product_id") or "") or None, url=mention.url)
            text, key = row.text, row.idempotency_key
        try:
            if not config.notify.public_reply:
                raise ReplyRefused("public replies are switched off ([notify] public_reply = false); it waits")
            source = sources.get(name)
            if source is None or not supports_replies(source.kind):
                raise ReplyRefused(f"source {name!r} is not in the config or its site takes no replies")
            if name not in channels:
                channels[name] = build_channel(name, source.kind, source.options, client,
                                               timeout=config.http.read_timeout)
        except RecoveryBotError as exc:
            _note_error(store, reply_id, f"source {name!r}: {exc.message}" + (f" ({exc.hint})" if exc.hint else ""))
            summary.errors.append(f"public reply #{reply_id}: {exc.message}")
            continue
        if not _claim(store, reply_id, now, policy.claim_seconds):
            continue
        error: DispatchError | None = None
        reference: str | None = None
        try:
            reference = channels[name].post(ref, text, key)
        except Exception as exc:  # one reply never stops the others
            error = _as_error(exc, f"public reply via source {name!r}")
            if not isinstance(exc, RecoveryBotError):
                log.error("public reply #%s: unexpected error", reply_id, exc_info=exc)
        _record(store, reply_id, error, reference, now, policy.max_attempts, policy.retry_backoff, summary)
    return summary


def _note_error(store: Store, reply_id: int, message: str) -> None:
    with store.session() as session:
        row = session.get(PublicReply, reply_id)
        if row is not None:
            row.last_error = message


def _record(store: Store, reply_id: int, error: DispatchError | None, reference: str | None, now: datetime,
            max_attempts: int, backoff: float, summary: ReplySummary) -> None:
    with store.session() as session:
        row = session.get(PublicReply, reply_id)
        assert row is not None
        if error is None:
            row.status, row.posted_at, row.next_attempt_at, row.last_error = PublicReplyStatus.POSTED.value, now, None, None
            row.reference = reference
            summary.posted += 1
            summary.references[reply_id] = reference or ""
            session.add(AuditLog(at=now, case_id=row.case_id, action="replied_publicly",
                                 detail={"reply": row.id, "source": row.source, "reference": reference,
                                         "asked_by": row.asked_by, "attempts": row.attempts,
                                         "note": f"posted as {reference}"}))
        elif error.retryable and row.attempts < max_attempts:
            delay = backoff * (2 ** (row.attempts - 1))
            row.next_attempt_at, row.last_error = now + timedelta(seconds=delay), error.message
            summary.retrying += 1
            summary.errors.append(f"public reply #{row.id}: {error.message} (retry in {delay:g}s)")
        else:
            row.status, row.next_attempt_at, row.last_error = PublicReplyStatus.FAILED.value, None, error.message
            summary.failed += 1
            summary.errors.append(f"public reply #{row.id} failed: {error.message}")
            session.add(AuditLog(at=now, case_id=row.case_id, action="public_reply_failed",
                                 detail={"reply": row.id, "source": row.source, "reason": error.message}))
            log.warning("public reply #%s failed after %s attempts: %s", row.id, row.attempts, error.message)


# --- in words, for the digest and the case view ----------------------------------------------------


def replied_of(session: Session, case_ids: list[int], when: Any) -> dict[int, str]:
    """Each case's public reply in words ("replied publicly on 2 Dec"); cases without one are absent.

    ``when`` turns a datetime into the digest's day words."""
    if not case_ids:
        return {}
    out: dict[int, str] = {}
    for row in session.scalars(select(PublicReply).where(PublicReply.case_id.in_(case_ids)).order_by(PublicReply.id)):
        if row.status == PublicReplyStatus.POSTED.value:
            out[row.case_id] = f"replied publicly on {when(row.posted_at)} (asked by {row.asked_by})"
        elif row.status == PublicReplyStatus.FAILED.value:
            out[row.case_id] = "public reply could not be posted: " + (row.last_error or "sending failed")[:200]
        else:
            out[row.case_id] = "public reply asked, not posted yet"
    return out


__all__ = ["ReplyRefused", "ReplySummary", "default_text", "deliver_due", "problems", "replied_of",
           "reply_key", "reviewed_mention"]
