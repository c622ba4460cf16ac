"""Telling the buyer: one notice per case and note, whichever adapter delivers the remedies.

A remedy goes to one adapter (the warehouse csv, a webhook, the shop); the buyer still has to
learn why a parcel comes (the defective-gadget story: a replacement arrived with no word). So
once every remedy of a case's decision has been delivered, the outbox adds a **notice** row for
the case's note and delivers it like a remedy: claimed (attempts + 1, a lease) and committed before
the channel is called, retried with backoff, failed after ``max_attempts``. Its idempotency key
(the first remedy's key with ``notice`` for the kind) is unique in the store and travels to the
channel, so the buyer is told once:

- ``customer_email``: the Message-ID is derived from it and the adapter's ledger (held under a lock
  across the send) finds a message already sent for the key, or for the same note of the same
  case (a remedy that adapter delivered itself);
- ``woocommerce`` (``[notify] shop_notes``): a customer order note (WooCommerce emails it to the
  buyer); a retry first lists the order's customer notes and skips the POST when the note is there.

Why one notice per case and not per remedy: a wrong-item buyer gets a refund, a shipping credit
and "keep the T-shirts"; three emails saying parts of one story read like a machine, one note
saying all of it reads like a person. The note is the case's (every remedy of one decision
carries the same note), so a re-decided case (a contact first, the order found later) has a second
note and gets a second notice.

The notice waits until each remedy of the decision is delivered: a note saying "a new one is on
its way" must not go out while the warehouse has not got the order, nor at all if it failed.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, exists, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.errors import DispatchError, RecoveryBotError
from bot.notify import NotifyConfig, check_notify
from bot.store import AuditLog, Case, Notice, NoticeStatus, Remedy, RemedyStatus, Store

if TYPE_CHECKING:
    from bot.config import Config
    from connectors.fulfilment import Adapter, Deps, Job

log = logging.getLogger(__name__)

# How far back a delivered remedy still gets its notice planned (bounds every run's query).
LOOKBACK = timedelta(days=14)
MAX_PLANNED = 500  # cases looked at per run


@dataclass(frozen=True)
class Channel:
    name: str  # the [[fulfilment]] entry
    method: str  # email | shop_note


def email_channel(config: Config) -> str | None:
    """The customer_email entry that tells buyers, or None (switched off, or none configured)."""
    tell = config.notify.tell_buyer
    if tell == "off":
        return None
    if tell != "auto":
        return tell
    return next((e.name for e in config.fulfilment if e.kind == "customer_email"), None)


def channel_for(case: Case, config: Config) -> Channel | None:
    """How this case's buyer is told: a WooCommerce order note when so configured, else our email."""
    if config.notify.tell_buyer == "off":
        return None
    order = case.order
    if config.notify.shop_notes and order is not None and order.origin == "woocommerce":
        shop = next((e.name for e in config.fulfilment if e.kind == "woocommerce"), None)
        if shop is not None:
            return Channel(shop, "shop_note")
    name = email_channel(config)
    return Channel(name, "email") if name else None


def notice_key(first_remedy_key: str) -> str:
    """``rb-<install>-case<id>-<position>-<kind>`` of the decision's first remedy, with ``notice``
    for the kind: unique per case and decision, and the same after any crash or re-run."""
    return first_remedy_key.rsplit("-", 1)[0] + "-notice"


def note_id(note: str) -> str:
    return hashlib.sha256(note.encode("utf-8")).hexdigest()[:16]


def _groups(case: Case) -> dict[str, list[Remedy]]:
    """The case's remedies by note (one decision's remedies share one note), cancelled ones left out."""
    out: dict[str, list[Remedy]] = {}
    for remedy in sorted(case.remedies, key=lambda r: r.id):
        if remedy.status != RemedyStatus.CANCELLED.value and remedy.note:
            out.setdefault(remedy.note, []).append(remedy)
    return out


def plan(store: Store, config: Config, now: datetime) -> int:
    """Add a notice for every case decision whose remedies are all delivered and that has none.

    Idempotent: the notice's key is unique, so two dispatchers (or a re-run after a crash) add it
    once. Returns how many were added.
    """
    if config.notify.tell_buyer == "off":
        return 0
    kinds = {e.name: e.kind for e in config.fulfilment}
    added = 0
    with store.session() as session:
        case_ids = list(session.scalars(
            select(Remedy.case_id)
            .where(Remedy.status == RemedyStatus.DISPATCHED.value, Remedy.dispatched_at >= now - LOOKBACK,
                   ~exists().where(and_(Notice.case_id == Remedy.case_id, Notice.note == Remedy.note)))
            .distinct().order_by(Remedy.case_id).limit(MAX_PLANNED)
        ))
    for case_id in case_ids:
        with store.session() as session:
            case = session.get(Case, case_id)
            if case is None:
                continue
            for note, remedies in _groups(case).items():
                if any(r.status != RemedyStatus.DISPATCHED.value for r in remedies):
                    continue  # still on its way (or failed): the buyer is told once it is all delivered
                row = _notice_for(session, case, note, remedies, config, kinds, now)
                if row is None:
                    continue
                nested = session.begin_nested()
                try:
                    session.add(row)
                    session.flush()
                    nested.commit()
                    added += 1
                except IntegrityError:
                    nested.rollback()  # another dispatcher planned it first
    return added


def _notice_for(session: Session, case: Case, note: str, remedies: list[Remedy], config: Config,
                kinds: dict[str, str], now: datetime) -> Notice | None:
    key = notice_key(remedies[0].idempotency_key)
    if session.scalar(select(Notice.id).where(Notice.idempotency_key == key)) is not None:
        return None
    base = Notice(case_id=case.id, idempotency_key=key, note=note, attempts=0, created_at=now)
    if all(kinds.get(r.adapter or "") == "customer_email" for r in remedies):
        # Every remedy was this very note, mailed to the buyer: told already, nothing to send.
        sent = max((r.dispatched_at for r in remedies if r.dispatched_at), default=now)
        base.channel, base.method, base.status = remedies[0].adapter, "email", NoticeStatus.SENT.value
        base.sent_at, base.reference = sent, "mailed with the remedy"
        return base
    channel = channel_for(case, config)
    if channel is None:
        return None  # nobody to tell them: the digest says so
    base.channel, base.method = channel.name, channel.method
    email = case.customer.email if case.customer else None
    if channel.method == "email" and not email:
        base.status, base.last_error = NoticeStatus.NOT_TOLD.value, "no email address"
        return base
    base.status = NoticeStatus.QUEUED.value
    return base


# --- delivery -----------------------------------------------------------------------------------


@dataclass
class NoticeSummary:
    told: int = 0
    retrying: int = 0
    failed: int = 0
    errors: list[str] | None = None


def _job(session: Session, notice: Notice) -> Job:
    from connectors.fulfilment import Job

    case = notice.case
    order = case.order
    customer = case.customer
    mention = case.mention
    ref = None
    if order is not None:
        extra = order.extra or {}
        ref = str(extra.get("id") or extra.get("external_id") or order.number)
    return Job(
        remedy_id=0, case_id=case.id, idempotency_key=notice.idempotency_key, kind="notice", params={},
        amount=Decimal(0), currency=order.currency if order else "EUR", note=notice.note, issue=case.issue,
        customer_name=customer.name if customer else None, customer_email=customer.email if customer else None,
        order_number=order.number if order else None, order_origin=order.origin if order else None,
        order_ref=ref, shipping_country=order.shipping_country if order else None,
        mention_url=mention.url, mention_author=mention.author_handle or mention.author_name,
        mention_source=mention.source, attempt=notice.attempts, queued_at=notice.created_at,
    )


def _claim(store: Store, notice_id: int, now: datetime, lease: float) -> bool:
    """Take a notice for one attempt; committed before the channel is called (at-least-once)."""
    with store.session() as session:
        result = session.execute(
            update(Notice)
            .where(Notice.id == notice_id, Notice.status == NoticeStatus.QUEUED.value,
                   (Notice.next_attempt_at.is_(None)) | (Notice.next_attempt_at <= now))
            .values(attempts=Notice.attempts + 1, next_attempt_at=now + timedelta(seconds=lease))
            .execution_options(synchronize_session=False)
        )
        return bool(result.rowcount == 1)  # type: ignore[attr-defined]


def deliver_due(store: Store, config: Config, deps: Deps, adapters: dict[str, Adapter],
                clock: Callable[[], datetime], now: datetime, *,
                as_error: Callable[[Exception, str], DispatchError],
                lease: Callable[..., AbstractContextManager[None]]) -> NoticeSummary:
    """Tell every buyer whose notice is due, through its channel; retried with backoff like remedies.

    ``as_error`` and ``lease`` are the outbox's own (how a failure is classed, how a claim is kept
    alive while the channel works), handed in so a notice is treated exactly like a remedy.
    """
    from connectors.fulfilment import build_adapter

    summary = NoticeSummary(errors=[])
    assert summary.errors is not None
    policy = config.policy
    names = {e.name for e in config.fulfilment}
    with store.session() as session:
        due = list(session.scalars(
            select(Notice.id).where(Notice.status == NoticeStatus.QUEUED.value,
                                    (Notice.next_attempt_at.is_(None)) | (Notice.next_attempt_at <= now))
            .order_by(Notice.id)
        ))
    for notice_id in due:
        with store.session() as session:
            notice = session.get(Notice, notice_id)
            assert notice is not None
            channel = notice.channel
        error: DispatchError | None = None
        reference: str | None = None
        teller: Any = None
        try:
            if channel is None or channel not in names:
                raise DispatchError(f"buyer notice: no [[fulfilment]] entry named {channel!r}", retryable=False,
                                    hint="[notify] tell_buyer names a customer_email entry")
            if channel not in adapters:
                adapters[channel] = build_adapter(channel, config.fulfilment, deps)
            teller = adapters[channel]
            if not callable(getattr(teller, "tell", None)):
                raise DispatchError(f"buyer notice: fulfilment {channel!r} cannot tell buyers", retryable=False)
        except RecoveryBotError as exc:
            # A missing secret or a broken entry: nothing claimed; the notice says why and waits.
            with store.session() as session:
                row = session.get(Notice, notice_id)
                assert row is not None
                row.last_error = f"fulfilment {channel!r}: {exc.message}"
            summary.errors.append(f"buyer notice #{notice_id}: {exc.message}")
            continue
        if not _claim(store, notice_id, clock(), policy.claim_seconds):
            continue
        try:
            with store.session() as session:
                claimed = session.get(Notice, notice_id)
                assert claimed is not None
                job = _job(session, claimed)
            with lease(store, notice_id, job.attempt, clock, policy.claim_seconds, Notice):
                reference = teller.tell(job)
        except Exception as exc:  # one buyer's notice never stops the others
            error = as_error(exc, f"buyer notice via {channel!r}")
            if not isinstance(exc, RecoveryBotError):
                log.error("notice #%s: unexpected error in %s", notice_id, channel, exc_info=exc)
        _record(store, notice_id, error, reference, now, policy.max_attempts, policy.retry_backoff, summary)
    return summary


def _record(store: Store, notice_id: int, error: DispatchError | None, reference: str | None, now: datetime,
            max_attempts: int, backoff: float, summary: NoticeSummary) -> None:
    assert summary.errors is not None
    with store.session() as session:
        notice = session.get(Notice, notice_id)
        assert notice is not None
        if error is None:
            notice.status, notice.sent_at = NoticeStatus.SENT.value, now
            notice.next_attempt_at, notice.last_error, notice.reference = None, None, reference
            summary.told += 1
            session.add(AuditLog(at=now, case_id=notice.case_id, action="buyer_told",
                                 detail={"notice": notice.id, "channel": notice.channel, "method": notice.method,
                                         "reference": reference, "attempts": notice.attempts}))
        elif error.retryable and notice.attempts < max_attempts:
            delay = backoff * (2 ** (notice.attempts - 1))
            notice.next_attempt_at = now + timedelta(seconds=delay)
            notice.last_error = error.message
            summary.retrying += 1
            summary.errors.append(f"buyer notice #{notice.id}: {error.message} (retry in {delay:g}s)")
        else:
            notice.status, notice.next_attempt_at, notice.last_error = NoticeStatus.FAILED.value, None, error.message
            summary.failed += 1
            summary.errors.append(f"buyer notice #{notice.id} failed: {error.message}")
            session.add(AuditLog(at=now, case_id=notice.case_id, action="buyer_notice_failed",
                                 detail={"notice": notice.id, "channel": notice.channel, "error": error.message}))
            log.warning("buyer notice #%s failed after %s attempts: %s", notice.id, notice.attempts, error.message)


# --- in words, for the digest ---------------------------------------------------------------------

METHOD_WORDS = {"email": "by email", "shop_note": "by a note on their shop order"}


def told_text(remedy: Remedy, notices: dict[tuple[int, str], Notice], config: Config,
              when: Callable[[datetime | None], str]) -> str:
    """Whether and how the buyer was told about this remedy, in words: "buyer told by email on 2 Dec"."""
    notice = notices.get((remedy.case_id, remedy.note))
    if notice is None:
        kinds = {e.name: e.kind for e in config.fulfilment}
        if remedy.status == RemedyStatus.DISPATCHED.value and kinds.get(remedy.adapter or "") == "customer_email":
            return f"buyer told by email on {when(remedy.dispatched_at)}"
        if remedy.status == RemedyStatus.DRY_RUN.value:
            return "buyer not told (dry run)"
        if config.notify.tell_buyer == "off":
            return "buyer not told by recoverybot (telling buyers is switched off)"
        if channel_for(remedy.case, config) is None:
            return "buyer not told: no way to email buyers is set up (a customer_email adapter)"
        case = remedy.case
        if any(r.status == RemedyStatus.FAILED.value for r in case.remedies if r.note == remedy.note):
            return "buyer not told: a remedy of this case failed"
        return "buyer not told yet"
    if notice.status == NoticeStatus.SENT.value:
        return f"buyer told {METHOD_WORDS.get(notice.method, 'by email')} on {when(notice.sent_at)}"
    if notice.status == NoticeStatus.NOT_TOLD.value:
        return f"buyer not told: {notice.last_error or 'no way to reach them'}"
    if notice.status == NoticeStatus.FAILED.value:
        return f"buyer not told: {notice.last_error or 'sending failed'}"
    return "buyer not told yet" + (f" (last try: {notice.last_error})" if notice.last_error else "")


def notices_of(session: Session, case_ids: list[int]) -> dict[tuple[int, str], Notice]:
    """Every notice of these cases by (case, note)."""
    if not case_ids:
        return {}
    rows = session.scalars(select(Notice).where(Notice.case_id.in_(case_ids)).order_by(Notice.id))
    return {(n.case_id, n.note): n for n in rows}


__all__ = ["Channel", "NoticeSummary", "NotifyConfig", "channel_for", "check_notify", "deliver_due", "notice_key",
           "notices_of", "plan", "told_text"]
