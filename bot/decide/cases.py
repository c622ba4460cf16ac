"""Cases: group unhappy mentions into cases, match them, decide with the policy, queue remedies.

:func:`process` runs in two restartable phases, each step in its own transaction:

1. *link*: every unhappy assessed mention not yet in a case joins an existing case of the same
   person (``bot.decide.identity``): the same words seen before on any source, the same buyer and
   order, or the same customer / author with the same issue within ``[policy] merge_days``; else it
   opens a new case (status ``new``). The same words by someone else open their own case.
2. *decide*: every ``new`` case is matched to its order (``bot.match``), turned into facts,
   decided by ``bot.decide.policy`` and either queued (budget reserved, ``bot.outbox.queue``) or left
   waiting for approval with the reasons. The rule, the reasons and an AuditLog row are stored.

A crash between or within steps leaves either the old or the new state; the next run goes on.

Several passes at once (Celery workers, issue 18) share the work by buyer (``bot.decide.locks``).
On PostgreSQL each step locks what it reads and writes, not the whole database:

- *linking* a mention locks the keys it can join a case by: its text fingerprint (when long
  enough to count as a copy), its author's email and handle (all known from the mention itself,
  locked first), then the customer and order it matched (matching reads orders and customers,
  never cases, so these are tried right after it, before ``_find_case`` reads any case), and the
  case it joins (found by ``_find_case``, so locked by starting again). Two mentions that share any key are linked
  one after the other, as by one process: the second sees the first's case. Two mentions of one
  buyer under keys that do not meet (an email on one source, a handle on another, neither yet
  tied to a customer) may be linked at once and open two cases; one process opens two there too,
  since ``_find_case`` finds nothing that ties them. Neither case has an order, so neither gets
  more than a ``contact``; when the buyer becomes known (an orders sync, ``customers link``) the
  rematch merges the later case into the earlier (its contact cancelled). A matched mention always
  holds its customer's key, so two cases with orders for one buyer are never opened at once: the
  worst case is a later merge, never a second real remedy.
- *deciding* a case locks the case and its customer (the per-customer limit and the remedies in
  flight are read per customer); the budget is shared by all buyers and stays exact through the
  guarded UPDATE on its rows (``bot.outbox.reserve``), whose row lock lasts from the reservation
  to the commit only.
- *matching again* locks the case, then the customer it found and the case it merges into.
- staff actions take the one exclusive lock, as all case work did before; the rematch's mark
  (``_seen``) locks only its own row.

A pass tries each step's locks without waiting; a step another worker holds is left to the end
of the pass (and so is any later one sharing a key with it, so one buyer's mentions keep their
order), then waited for. Workers in one pass thus take different buyers instead of queueing.
SQLite has one writer anyway: there every step is one BEGIN IMMEDIATE transaction, as before.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, TypeVar

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.orm import Session

from bot.errors import RecoveryBotError
from bot.notes import context as note_context
from bot.notes import is_contact
from bot.notes import render as render_note
from bot.decide.defects import defect_of
from bot.decide.locks import Busy, Locks, lock_all, run
from bot.decide.policy import Decision, Facts, decide
from bot.outbox import BudgetExceeded, propose, queue, release, reopen_dry_run
from bot.store import (
    Assessment,
    AuditLog,
    Case,
    CaseMention,
    CaseStatus,
    CustomerHandle,
    Mention,
    MentionKey,
    Meta,
    Order,
    Remedy,
    RemedyStatus,
    Store,
    dialect_insert,
    utcnow,
)

if TYPE_CHECKING:
    from bot.config import Config
    from bot.match import MatchResult

log = logging.getLogger(__name__)

T = TypeVar("T")
_lock = lock_all  # the exclusive lock of all case work (staff actions, bot.decide.staff and reply)
# Copies shorter than this are too generic ("Broken!") to say two authors are one.
MIN_COPY_CHARS = 30
OPEN = (CaseStatus.NEW.value, CaseStatus.MATCHED.value, CaseStatus.UNMATCHED.value)
ACTIVE_REMEDY = (RemedyStatus.PROPOSED.value, RemedyStatus.QUEUED.value)
GIVEN_REMEDY = (RemedyStatus.QUEUED.value, RemedyStatus.DISPATCHED.value)


@dataclass
class ProcessSummary:
    """What one run of :func:`process` did."""

    linked: int = 0
    opened: int = 0
    merged: int = 0
    decided: int = 0
    queued: int = 0
    awaiting: int = 0
    watched: int = 0
    dry_run: int = 0
    rematched: int = 0
    merged_cases: int = 0
    reopened: int = 0  # cases decided during the dry run, now awaiting approval
    errors: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        out = [f"cases: {self.opened} opened, {self.merged} mentions merged into existing cases",
               f"decide: {self.decided} decided, {self.queued} queued automatically, "
               f"{self.awaiting} awaiting approval, {self.watched} on the watch list"
               + (f", {self.dry_run} dry run" if self.dry_run else "")]
        if self.rematched:
            out.append(f"rematch: {self.rematched} earlier cases found their order"
                       + (f", {self.merged_cases} merged into the buyer's existing case" if self.merged_cases else ""))
        if self.reopened:
            out.append(f"dry run over: {self.reopened} cases decided during it now await approval")
        out += [f"  {e}" for e in self.errors[:10]]
        return out


def _postgres(store: Store) -> bool:
    return store.engine.dialect.name == "postgresql"


CHECK = 25  # items whose state _share reads at once before stepping through them


def _share(items: list[T], step: Callable[[T, bool, frozenset[str]], None], name: Callable[[T], str], verb: str,
           summary: ProcessSummary, still: Callable[[list[T]], list[T]] | None = None) -> None:
    """Run ``step(item, wait, avoid)`` on every item: first trying its locks (another worker holds
    them: left for later, and so is every later item sharing a key with it, which keeps one
    buyer's order), then waiting for the ones left. A step's own error is recorded, the rest go on.

    ``still(chunk)``: which of the next ``CHECK`` items are still to do, read in one query. Passes
    at once list the same items; without it a pass spends a transaction (and its locks) on every
    item the others did meanwhile, only to find it done. The step still checks under its locks."""
    later: list[T] = []
    busy: set[str] = set()
    for wait, todo in ((False, items), (True, later)):
        pending: list[T] = []
        for index, item in enumerate(todo):
            if still is not None:
                if index % CHECK == 0:
                    pending = still(todo[index:index + CHECK])
                if item not in pending:
                    continue  # done by another pass since it was listed
            try:
                step(item, wait, frozenset(busy) if not wait else frozenset())
            except Busy as exc:
                later.append(item)
                busy |= exc.keys
            except RecoveryBotError as exc:
                summary.errors.append(f"{name(item)}: {exc.message}")
                log.warning("cannot %s %s: %s", verb, name(item), exc.message)


def _issue(assessment: Assessment) -> str:
    return assessment.issue if assessment.issue and assessment.issue != "none" else "other"


def _normal_len(text_: str) -> int:
    return len(" ".join("".join(c.lower() if c.isalnum() else " " for c in text_).split()))


BEFORE_DELIVERY = "complaint posted before the order was delivered"


def _store_match(case: Case, result: MatchResult) -> None:
    """Keep the match on the case (matching is done once, when the mention is linked)."""
    case.customer_id = result.customer_id if result.matched else None
    case.order_id = result.order_id if result.matched else None
    case.order_line_id = result.order_line_id if result.matched else None
    case.match_confidence = result.confidence
    reasons = list(result.reasons) + ([result.why_unmatched] if result.why_unmatched else [])
    if result.before_delivery:
        reasons.append(BEFORE_DELIVERY)
    case.match_reasons = reasons
    case.candidates = list(result.candidates)


# --- phase 1: link ----------------------------------------------------------------------------


def _pending_mentions(store: Store) -> list[int]:
    """The unhappy scored mentions not yet in a case, oldest first (by published_at, then id; an
    undated one last). Read from the partial index of assessments not marked ``linked``
    (ix_assessment_unlinked), so it costs what is new, not what is stored; a row marked late (a
    mention linked by code that did not mark it) is marked here, so it is read once more at most:
    case_mention, checked for each row, stays the truth.

    In steps, each by an index whatever the planner estimates: PostgreSQL takes ``unhappy`` and
    ``linked`` for independent columns, expects a sixth of all assessments in the partial index
    and, asked in one query, joins whole tables (250 ms at 1M stored)."""
    with store.session() as session:
        ids = list(session.scalars(select(Assessment.mention_id).where(
            Assessment.unhappy.is_(True), Assessment.scored.is_(True), Assessment.linked.is_(False))))
        rows: list[tuple[int, datetime | None, bool]] = []
        for start in range(0, len(ids), 500):
            rows += [(mention_id, published, bool(linked)) for mention_id, published, linked in session.execute(
                select(Mention.id, Mention.published_at, CaseMention.mention_id.is_not(None))
                .outerjoin(CaseMention, CaseMention.mention_id == Mention.id)
                .where(Mention.id.in_(ids[start:start + 500])))]
        late = [mention_id for mention_id, _published, linked in rows if linked]
        for start in range(0, len(late), 500):
            session.execute(update(Assessment).where(Assessment.mention_id.in_(late[start:start + 500]))
                            .values(linked=True).execution_options(synchronize_session=False))
    rows.sort(key=lambda row: (row[1] is None, _aware(row[1]) or NEVER, row[0]))
    return [mention_id for mention_id, _published, linked in rows if not linked]


NEVER = datetime.min.replace(tzinfo=UTC)  # sorts undated mentions (placed after the dated ones)


def _find_case(session: Session, mention: Mention, issue: str, result: MatchResult, config: Config,
               now: datetime) -> tuple[Case | None, str]:
    """The case this mention belongs to, and why; (None, '') when it is a new complaint.

    One buyer, one case (bot.decide.identity): the same words by the same person, the same buyer
    and order, the same customer and issue, or the same author and issue join the case. The same
    words by someone else open a case of their own, which the policy's copy guard then holds.
    """
    from bot.decide.identity import same_person

    customer_id = result.customer_id if result.matched else None
    year_ago = now - timedelta(days=365)
    if _normal_len(mention.text) >= MIN_COPY_CHARS:
        # DISTINCT over ids only: PostgreSQL has no equality for the case's JSON columns.
        copy_ids = (
            select(CaseMention.case_id).join(Mention, Mention.id == CaseMention.mention_id)
            .where(Mention.fingerprint == mention.fingerprint).distinct()
        )
        copies = session.scalars(
            select(Case).where(Case.id.in_(copy_ids), Case.created_at >= year_ago).order_by(Case.id).limit(20)
        ).all()
        for copy in copies:
            if same_person(session, mention, customer_id, copy):
                return copy, "same text as an earlier mention by the same person (a copy or a repeat)"
    since = now - timedelta(days=config.policy.merge_days)
    if customer_id is not None and result.order_id is not None:
        same_order = session.scalars(
            select(Case).where(Case.customer_id == customer_id, Case.order_id == result.order_id,
                               Case.status != CaseStatus.DISMISSED.value, Case.created_at >= since)
            .order_by(Case.id.desc()).limit(1)
        ).first()
        if same_order is not None:
            return same_order, "same buyer and order"
    if customer_id is not None:
        same = session.scalars(
            select(Case).where(Case.customer_id == customer_id, Case.issue == issue, Case.created_at >= since)
            .order_by(Case.id.desc()).limit(1)
        ).first()
        if same is not None:
            return same, f"same customer and issue ({issue})"
    same_author = []
    if mention.author_email and mention.author_email.strip():
        same_author.append(func.lower(Mention.author_email) == mention.author_email.strip().lower())
    if mention.author_handle and mention.author_handle.strip().lstrip("@"):
        handle = mention.author_handle.strip().lower().lstrip("@")
        same_author.append((Mention.source_kind == mention.source_kind)
                           & func.lower(Mention.author_handle).in_([handle, "@" + handle]))
    if same_author:
        by_author = session.scalars(
            select(Case).join(CaseMention, CaseMention.case_id == Case.id)
            .join(Mention, Mention.id == CaseMention.mention_id)
            .where(Case.issue == issue, Case.created_at >= since, or_(*same_author))
            .order_by(Case.id.desc()).limit(1)
        ).first()
        if by_author is not None:
            return by_author, f"same author and issue ({issue})"
    return None, ""


NO_KEY = "-"  # the key of a mention that says nothing of who wrote it (so it is not taken for unkeyed)


def _store_keys(session: Session, mention: Mention) -> None:
    """Who the mention may be, as lookup keys (bot.match.mention_keys), for the incremental rematch;
    kept only while its case waits without an order (see _link_one and _rematch_one)."""
    from bot.match import mention_keys

    done = set(session.scalars(select(MentionKey.key).where(MentionKey.mention_id == mention.id)))
    for key in mention_keys(mention.author_email, mention.author_handle, mention.author_name, mention.source_kind,
                            mention.raw) or [NO_KEY]:
        if key not in done:
            session.add(MentionKey(key=key, mention_id=mention.id))


def _identity(mention: Mention) -> set[str]:
    """The keys a mention can join a case by that it carries itself (what _find_case compares),
    as lock names; the customer and order it matches are added once matching found them."""
    keys = {f"mention:{mention.id}"}
    if _normal_len(mention.text) >= MIN_COPY_CHARS:
        keys.add(f"text:{mention.fingerprint}")
    if mention.author_email and mention.author_email.strip():
        keys.add(f"email:{mention.author_email.strip().lower()}")
    if mention.author_handle and mention.author_handle.strip().lstrip("@"):
        keys.add(f"handle:{mention.source_kind}:{mention.author_handle.strip().lower().lstrip('@')}")
    return keys


def _matched_keys(result: MatchResult) -> list[str]:
    if not result.matched:
        return []
    return ([f"customer:{result.customer_id}"] if result.customer_id is not None else []) + (
        [f"order:{result.order_id}"] if result.order_id is not None else [])


def _linked(session: Session, mention_id: int) -> bool:
    return session.scalar(select(CaseMention.case_id).where(CaseMention.mention_id == mention_id)) is not None


def _link_one(store: Store, mention_id: int, config: Config, now: datetime, summary: ProcessSummary, *,
              wait: bool = True, avoid: frozenset[str] = frozenset()) -> None:

    keys = {f"mention:{mention_id}"}
    if _postgres(store):
        with store.session() as session:  # who wrote it, from the mention alone (a cheap read)
            if _linked(session, mention_id):
                return  # another pass linked it since this one listed it: no locks to take for it
            mention = session.get(Mention, mention_id)
            assert mention is not None
            keys = _identity(mention)
        if keys & avoid:
            raise Busy(frozenset(keys))  # a mention of this person waits for another worker: keep the order
    run(store, keys, lambda session, locks: _link(session, locks, mention_id, config, now, summary), wait=wait)


def _link(session: Session, locks: Locks, mention_id: int, config: Config, now: datetime,
          summary: ProcessSummary) -> None:
    from bot.match import match_mention

    if _linked(session, mention_id):
        return  # another process linked it meanwhile
    mention = session.get(Mention, mention_id)
    assert mention is not None and mention.assessment is not None
    issue = _issue(mention.assessment)
    result = match_mention(session, mention, config.matching, issue=issue, now=now)
    # Matching reads orders, customers and handle links, never cases: the customer and order it
    # found are locked before any case is read.
    locks.add(*_matched_keys(result))
    case, why = _find_case(session, mention, issue, result, config, now)
    if case is not None:
        locks.need(f"case:{case.id}")  # the case it joins may be decided meanwhile: hold it
    if (case.order_id if case is not None else result.order_id if result.matched else None) is None:
        _store_keys(session, mention)  # it waits for its order: an orders sync looks it up by these
    mention.assessment.linked = True  # out of the pending lookup's index (_pending_mentions)
    if case is not None:
        session.add(CaseMention(case_id=case.id, mention_id=mention.id))
        session.add(AuditLog(at=now, case_id=case.id, action="mention_merged",
                             detail={"mention": mention.id, "source": mention.source, "why": why}))
        summary.merged += 1
        if case.status == CaseStatus.NEW.value and case.order_id is None and result.matched:
            _store_match(case, result)  # a later mention names the order the first one did not
    else:
        case = Case(subject_key=f"{issue}:m{mention.id}", issue=issue, status=CaseStatus.NEW.value,
                    mention_id=mention.id, created_at=now, updated_at=now)
        _store_match(case, result)
        session.add(case)
        session.flush()
        session.add(CaseMention(case_id=case.id, mention_id=mention.id))
        session.add(AuditLog(at=now, case_id=case.id, action="case_opened",
                             detail={"mention": mention.id, "source": mention.source, "issue": issue}))
        summary.opened += 1
    summary.linked += 1


# --- phase 0: rematch ----------------------------------------------------------------------------

REMATCHABLE = (CaseStatus.UNMATCHED.value, CaseStatus.AWAITING_APPROVAL.value)


def _aware(value: datetime | None) -> datetime | None:
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


def _newest_change(session: Session) -> datetime | None:
    """When orders or handle links last changed: what a case matched before that has not seen."""
    stamps = [_aware(session.scalar(select(func.max(Order.updated_at)))),
              _aware(session.scalar(select(func.max(CustomerHandle.created_at))))]
    return max((s for s in stamps if s is not None), default=None)


def _rematch_one(store: Store, case_id: int, config: Config, now: datetime, newest: datetime,
                 summary: ProcessSummary, *, wait: bool = True) -> bool:
    from bot.match import match_mention

    # Locks the case, then the customer it found (a mention of that buyer linked meanwhile would
    # open a second case) and the case it merges into (bot.decide.locks).
    def step(session: Session, locks: Locks) -> bool:
        case = session.get(Case, case_id, populate_existing=True)
        if case is None or case.order_id is not None or case.status not in REMATCHABLE:
            return False  # changed meanwhile
        seen = _aware(case.updated_at)
        if seen is not None and seen >= newest:
            return False  # another pass matched it against these changes meanwhile: not twice
        active = [r for r in case.remedies if r.status in ACTIVE_REMEDY]
        if any(r.kind != "contact" for r in active):
            return False  # staff are asked about a real remedy: leave that decision alone
        result: MatchResult | None = None
        for link in sorted(case.links, key=lambda item: item.mention_id):
            attempt = match_mention(session, link.mention, config.matching, issue=case.issue, now=now)
            if attempt.matched:
                result = attempt
                break
        if result is None or result.customer_id is None:
            # Seen these orders and links: not matched again until they change. max(): the order
            # stamps come from the wall clock, `now` may be given.
            case.updated_at = max(now, newest)
            return False
        locks.add(f"customer:{result.customer_id}")  # before the buyer's other cases are read
        for remedy in active:
            if remedy.status == RemedyStatus.QUEUED.value:
                release(session, remedy)
            remedy.status = RemedyStatus.CANCELLED.value
        # Found: its mentions no longer wait, so an orders sync need not look them up.
        session.execute(delete(MentionKey).where(MentionKey.mention_id.in_([link.mention_id for link in case.links]))
                        .execution_options(synchronize_session=False))
        since = now - timedelta(days=config.policy.merge_days)
        target = session.scalars(
            select(Case).where(Case.customer_id == result.customer_id, Case.issue == case.issue, Case.id != case.id,
                               Case.status != CaseStatus.DISMISSED.value, Case.created_at >= since)
            .order_by(Case.id.desc()).limit(1)
        ).first()
        if target is not None:
            locks.need(f"case:{target.id}")
            # The buyer already has a case for this issue: one case, one remedy.
            session.execute(update(CaseMention).where(CaseMention.case_id == case.id).values(case_id=target.id)
                            .execution_options(synchronize_session=False))
            reason = f"merged into case #{target.id}: same customer and issue ({case.issue}), order found later"
            case.status = CaseStatus.DISMISSED.value
            case.approval_reason = reason
            case.approval_expires_at = None
            case.reasons = list(case.reasons or []) + [reason]
            case.updated_at = now
            target.updated_at = now
            session.add(AuditLog(at=now, case_id=case.id, action="case_merged",
                                 detail={"into": target.id, "cancelled": [r.id for r in active]}))
            summary.merged_cases += 1
        else:
            _store_match(case, result)
            case.status = CaseStatus.NEW.value  # decided again below, now with its order
            case.approval_reason = None
            case.approval_expires_at = None
            case.updated_at = now
            session.add(AuditLog(at=now, case_id=case.id, action="rematched",
                                 detail={"confidence": result.confidence, "cancelled": [r.id for r in active]}))
        return True

    return run(store, {f"case:{case_id}"}, step, wait=wait)


SEEN_KEY = "rematch_seen"  # Meta: every waiting case has been matched against changes up to this stamp


def _seen_until(session: Session) -> datetime | None:
    row = session.get(Meta, SEEN_KEY)
    if row is None:
        return None
    try:
        return _aware(datetime.fromisoformat(row.value))
    except ValueError:
        return None


def _rematch(store: Store, config: Config, now: datetime, summary: ProcessSummary) -> int:
    with store.session() as session:
        newest = _newest_change(session)
        if newest is None:
            return 0
        seen = _seen_until(session)
    if seen is not None and newest <= seen:
        return 0  # nothing changed since every waiting case was last matched: the cheap check
    # Only complaints younger than the matching window (by their first mention): an older one
    # is past any remedy, and trying every unmatched case ever recorded grows slower each month.
    young = now - timedelta(days=config.matching.window_days)
    if seen is None:
        # No mark yet (a new or upgraded store): the waiting cases' own stamps say what they saw.
        with store.session() as session:
            rows = session.execute(
                select(Case.id, Case.updated_at).join(Mention, Mention.id == Case.mention_id)
                .where(Case.order_id.is_(None), Case.status.in_(REMATCHABLE),
                       or_(Case.updated_at.is_(None), Case.updated_at < newest),
                       func.coalesce(Mention.published_at, Mention.collected_at) >= young)
                .order_by(Case.id)
            ).all()
        stale = [case_id for case_id, _updated in rows]
        stamps = [_aware(updated) for _case_id, updated in rows]
        oldest = None if any(s is None for s in stamps) else min((s for s in stamps if s is not None), default=None)
        hit = _touched(store, stale, oldest, config.matching.name_min) if stale else set()
    else:
        # Changes since the mark: only the waiting cases whose keys meet a changed customer's.
        stale = _touched_since(store, seen, newest, young, config.matching.name_min)
        hit = set(stale)
    done = 0
    failed = False
    # As _share: a case another pass is matching is left to the end (it is then stamped, and
    # skipped here), so passes at once share the waiting cases instead of matching each twice.
    later: list[int] = []
    for wait, todo in ((False, [case_id for case_id in stale if case_id in hit]), (True, later)):
        for case_id in todo:
            try:
                done += _rematch_one(store, case_id, config, now, newest, summary, wait=wait)
            except Busy:
                later.append(case_id)
            except RecoveryBotError as exc:
                failed = True
                summary.errors.append(f"case #{case_id}: {exc.message}")
                log.warning("cannot match case #%s again: %s", case_id, exc.message)
    if not failed:  # a case that failed is tried again next time: the mark stays where it was
        _seen(store, newest)
    summary.rematched += done
    return done


def _touched_since(store: Store, since: datetime, newest: datetime, young: datetime, name_min: float) -> list[int]:
    """The waiting cases (no order, young, last matched before ``newest``) a change since ``since``
    can match differently: those with a mention whose identity keys (MentionKey) meet the keys of a
    customer whose orders or handles changed (by a name key: only when the names are alike enough
    to count). Driven from the changed customers' keys by index: it costs what changed, not what
    waits (issue 18)."""
    from bot.match import customer_keys, name_similarity

    with store.session() as session:
        changed = set(session.scalars(select(Order.customer_id).where(Order.updated_at > since)))
        changed |= set(session.scalars(select(CustomerHandle.customer_id).where(CustomerHandle.created_at > since)))
        if not changed:
            return []
        keys, initials_only = customer_keys(session, sorted(changed))
        waiting = (
            select(Case.id).join(Mention, Mention.id == Case.mention_id)
            .where(Case.order_id.is_(None), Case.status.in_(REMATCHABLE),
                   or_(Case.updated_at.is_(None), Case.updated_at < newest),
                   func.coalesce(Mention.published_at, Mention.collected_at) >= young)
        )
        if initials_only:
            # A customer named by initials only may be anyone: every waiting case, as before.
            return sorted(set(session.scalars(waiting)))
        mentions: set[int] = set()
        ordered = sorted(keys)
        for start in range(0, len(ordered), 500):
            for mention_id, key, author in session.execute(
                select(MentionKey.mention_id, MentionKey.key, Mention.author_name)
                .join(Mention, Mention.id == MentionKey.mention_id)
                .where(MentionKey.key.in_(ordered[start:start + 500]))
            ):
                if mention_id in mentions:
                    continue
                if (not key.startswith("name:") or key == "name:*"
                        or any(name_similarity(author, name)[0] >= name_min for name in keys.get(key, ()))):
                    mentions.add(mention_id)
        found: set[int] = set()
        chosen = sorted(mentions)
        for start in range(0, len(chosen), 500):
            # Their cases first, then which of those wait, each by its primary key: one query
            # with the mention ids in it let SQLite read every waiting case instead (1.2 s at 1M).
            cases = sorted(set(session.scalars(
                select(CaseMention.case_id).where(CaseMention.mention_id.in_(chosen[start:start + 500])))))
            if cases:
                found.update(session.scalars(waiting.where(Case.id.in_(cases))))
        return sorted(found)


def _touched(store: Store, stale: list[int], since: datetime | None, name_min: float) -> set[int]:
    """The stale cases a change since ``since`` can match differently: those with a mention whose
    identity keys (MentionKey) meet the keys of a customer whose orders or handles changed (by a
    name key: only when the names are alike enough to count). The others would find what they
    found last time, so they are not matched again (issue 18). Used while the store has no
    ``rematch_seen`` mark yet (it reads every stale case once); then :func:`_touched_since`."""
    from bot.match import customer_keys, name_similarity

    hit: set[int] = set()
    wanted = set(stale)
    with store.session() as session:
        # Mentions linked before their keys were kept get them now (and count as touched).
        for start in range(0, len(stale), 500):
            chunk = stale[start:start + 500]
            bare = session.execute(
                select(CaseMention.case_id, Mention).join(Mention, Mention.id == CaseMention.mention_id)
                .where(CaseMention.case_id.in_(chunk),
                       ~select(MentionKey.mention_id).where(MentionKey.mention_id == Mention.id).exists())
            ).all()
            for case_id, mention in bare:
                _store_keys(session, mention)
                hit.add(case_id)
        if since is None:
            return wanted
        changed = set(session.scalars(select(Order.customer_id).where(Order.updated_at > since)))
        changed |= set(session.scalars(select(CustomerHandle.customer_id).where(CustomerHandle.created_at > since)))
        if not changed:
            return hit
        keys, initials_only = customer_keys(session, sorted(changed))
        if initials_only:
            return wanted  # a customer named by initials only may be anyone: match all, as before
        # The waiting cases' mentions, then the keys' rows by index (driven from the keys: a join
        # from the cases' side would probe every key for every waiting case).
        mine: dict[int, tuple[int, str | None]] = {}
        for start in range(0, len(stale), 500):
            for case_id, mention_id, author in session.execute(
                select(CaseMention.case_id, Mention.id, Mention.author_name)
                .join(Mention, Mention.id == CaseMention.mention_id)
                .where(CaseMention.case_id.in_(stale[start:start + 500]))
            ):
                mine[mention_id] = (case_id, author)
        ordered = sorted(keys)
        for start in range(0, len(ordered), 500):
            for mention_id, key in session.execute(
                select(MentionKey.mention_id, MentionKey.key).where(MentionKey.key.in_(ordered[start:start + 500]))
            ):
                case_id, author = mine.get(mention_id, (0, None))
                if not case_id or case_id in hit:
                    continue
                if (not key.startswith("name:") or key == "name:*"
                        or any(name_similarity(author, name)[0] >= name_min for name in keys.get(key, ()))):
                    hit.add(case_id)
    return hit


def _seen(store: Store, newest: datetime) -> None:
    """Mark every waiting case as matched against the orders and links up to ``newest`` (one row,
    Meta ``rematch_seen``, instead of a stamp on each case). Never moved back: a slower cycle that
    read an older ``newest`` leaves a newer mark alone. Only the mark's row is locked (FOR UPDATE),
    not all case work: passes at once would otherwise wait here for each other's steps, and every
    step for this one (issue 18)."""
    value = newest.astimezone(UTC).isoformat()
    with store.session() as session:
        session.execute(dialect_insert(session, Meta).values(key=SEEN_KEY, value=value)
                        .on_conflict_do_nothing(index_elements=["key"]))
        row = session.get(Meta, SEEN_KEY, populate_existing=True, with_for_update=True)
        assert row is not None
        old = _seen_until(session)
        if old is None or old < newest:
            row.value = value


def rematch(store: Store, config: Config, *, now: datetime | None = None) -> int:
    """Match again open cases without an order (unmatched, or waiting with only a `contact`).

    Runs only for cases matched before the newest order import / sync or handle link whose first
    mention is younger than ``[matching] window_days``. A case
    that now finds its order is merged into the customer's existing case for the same issue (its
    contact cancelled), else it becomes ``new`` and is decided again. Returns how many matched.
    """
    return _rematch(store, config, now or utcnow(), ProcessSummary())


# --- phase 2: decide --------------------------------------------------------------------------


def _delivery(order: Order, now: datetime) -> str:
    tracking = (order.tracking_status or "").lower()
    if tracking in ("delivered", "lost", "returned"):
        return tracking
    if order.delivered_at is not None:
        return "delivered"
    if (order.fulfillment_status or "").lower() == "cancelled":
        return "returned"
    if order.expected_delivery_at is not None and now > order.expected_delivery_at:
        return "overdue"
    if tracking in ("in_transit", "pending"):
        return tracking
    return "pending" if (order.fulfillment_status or "").lower() == "unfulfilled" else "unknown"


# Fulfilment / tracking states that mean the parcel has not left the warehouse.
NOT_SHIPPED = frozenset({"unfulfilled", "pending", "on-hold", "processing"})


def _shipped(order: Order) -> bool | None:
    """False when the order is known not to have shipped yet, True when it did, None when unknown."""
    if order.delivered_at is not None:
        return True
    tracking = (order.tracking_status or "").lower()
    if tracking in ("in_transit", "delivered", "lost", "returned"):
        return True
    status = (order.fulfillment_status or "").lower()
    if status in NOT_SHIPPED or tracking == "pending":
        return False
    return True if status in ("fulfilled", "partial", "shipped", "completed") else None


def _facts(session: Session, case: Case, mention: Mention, before_delivery: bool, now: datetime) -> Facts:
    assessment = mention.assessment
    assert assessment is not None
    mentions = [link.mention for link in case.links]
    order = case.order
    line = case.order_line
    if order is not None and line is None and len(order.lines) == 1:
        line = order.lines[0]
    value: Decimal | None = None
    if line is not None:
        value = line.unit_price * line.quantity
    elif order is not None:
        value = order.total
    age: float | None = None
    shipped: bool | None = None
    due_in: float | None = None
    posted = mention.published_at or mention.collected_at
    if order is not None:
        start = order.delivered_at or order.placed_at
        age = (now - start).total_seconds() / 86400
        shipped = _shipped(order)
        if order.expected_delivery_at is not None and order.delivered_at is None:
            due_in = (order.expected_delivery_at - posted).total_seconds() / 86400
    prior = 0
    in_flight: tuple[int, ...] = ()
    if case.customer_id is not None:
        year_ago = now - timedelta(days=365)
        # Driven from the customer's cases (by index), each probing its own remedies: not from
        # every given or active remedy in the store.
        given = select(Remedy.id).where(Remedy.case_id == Case.id, Remedy.kind != "contact",
                                        Remedy.status.in_(GIVEN_REMEDY), Remedy.created_at >= year_ago).exists()
        prior = int(session.scalar(
            select(func.count(Case.id)).where(Case.customer_id == case.customer_id, Case.id != case.id, given)
        ) or 0)
        active = select(Remedy.id).where(Remedy.case_id == Case.id, Remedy.status.in_(ACTIVE_REMEDY)).exists()
        in_flight = tuple(session.scalars(
            select(Case.id).where(
                Case.customer_id == case.customer_id, Case.id != case.id,
                (Case.status == CaseStatus.AWAITING_APPROVAL.value) | active,
            ).order_by(Case.id)
        ))
    copied_from, copied_by, copied_more = _copies(session, case, mentions, now)
    return Facts(
        issue=case.issue,
        rating=mention.rating,
        sentiment=assessment.sentiment,
        confidence=assessment.confidence,
        matched=order is not None,
        match_confidence=case.match_confidence or 0.0,
        order_number=order.number if order else None,
        order_age_days=age,
        item_value=value,
        item_sku=line.sku if line else None,
        item_name=(line.name if line else None) or mention.product_name,
        quantity=line.quantity if line else 1,
        item_known=line is not None,
        delivery=_delivery(order, now) if order is not None else "unknown",
        defect=defect_of(" ".join(f"{m.title or ''} {m.text}" for m in mentions)),
        before_delivery=before_delivery,
        shipped=shipped,
        due_in_days=due_in,
        source_kind=mention.source_kind,
        prior_remedies=prior,
        in_flight=in_flight,
        sources=len({m.source for m in mentions}),
        mentions=len(mentions),
        repeats=max((sum(1 for m in mentions if m.source == source) for source in {m.source for m in mentions}),
                    default=1),
        copied_from=copied_from,
        copied_by=copied_by,
        copied_more=copied_more,
        mention_age_days=(now - (mention.published_at or mention.collected_at)).total_seconds() / 86400,
        unsure=_unsure(assessment),
    )


COPIES_SHOWN = 10  # other cases with the same words a case names, each way (the nearest ones)
COPIES_READ = 50  # mentions with the same words read each way from the case's first (by id)


def _copies(session: Session, case: Case, mentions: list[Mention],
            now: datetime) -> tuple[tuple[int, ...], tuple[int, ...], bool]:
    """Other cases with the same words as this one's (the nearest earlier ones, the nearest later
    ones, whether there are more). A case holds one person's mentions, so these are someone
    else's: a copy, or the original of this copy.

    Only the ``COPIES_READ`` mentions with those words nearest the case's first, each way, are
    read (ix_mention_fingerprint_id, in id order): a text copied thousands of times costs no more
    than one copied a few times (issue 18)."""
    prints = sorted({m.fingerprint for m in mentions if _normal_len(m.text) >= MIN_COPY_CHARS})
    if not prints:
        return (), (), False
    found: set[int] = set()
    more = False
    for print_ in prints:
        for near, order in ((Mention.id < case.mention_id, Mention.id.desc()),
                            (Mention.id > case.mention_id, Mention.id.asc())):
            nearest = (select(Mention.id).where(Mention.fingerprint == print_, near)
                       .order_by(order).limit(COPIES_READ))
            rows = list(session.execute(
                select(CaseMention.case_id, Case.created_at).join(Case, Case.id == CaseMention.case_id)
                .where(CaseMention.mention_id.in_(nearest.scalar_subquery()))))
            more |= len(rows) >= COPIES_READ
            year_ago = now - timedelta(days=365)
            found.update(case_id for case_id, created in rows
                         if case_id != case.id and (_aware(created) or now) >= year_ago)
    earlier = sorted(i for i in found if i < case.id)
    later = sorted(i for i in found if i > case.id)
    more |= len(earlier) > COPIES_SHOWN or len(later) > COPIES_SHOWN
    return tuple(earlier[-COPIES_SHOWN:]), tuple(later[:COPIES_SHOWN]), more


def _unsure(assessment: Assessment) -> str | None:
    """Why the scorer's verdict is not enough for an automatic remedy, in words (None: it is)."""
    if assessment.sure is None or assessment.sure:
        return None  # sure, or scored before the learned model (decided as before)
    if assessment.p_remedy is None:
        return "scored by the phrase rules alone ([scoring] model = false)"
    if not assessment.remedy_worthy:
        return f"the scorer doubts a remedy is what this buyer needs (remedy {assessment.p_remedy:.2f})"
    return (f"the scorer is not sure enough of the problem (remedy {assessment.p_remedy:.2f}, "
            f"{assessment.issue.replace('_', ' ')} {assessment.p_issue or 0.0:.2f})")


# Platforms a contact note may name ("we saw your post on ..."); others (the shop's own pages,
# feeds) are not named.
PLATFORMS = {"mastodon": "Mastodon", "reddit": "Reddit", "bluesky": "Bluesky", "hackernews": "Hacker News",
             "trustpilot": "Trustpilot", "appstore": "the App Store"}


def _note(case: Case, decision: Decision, facts: Facts, config: Config) -> str:
    customer = case.customer
    name = customer.name if customer and customer.name else case.mention.author_name
    kinds = [p.kind for p in decision.remedies]
    ctx = note_context(
        issue=case.issue, remedies=[(p.kind, p.params) for p in decision.remedies], customer_name=name,
        product=facts.item_name, order_number=facts.order_number, shop_name=config.bot.shop_name, defect=facts.defect,
        source_name=PLATFORMS.get(case.mention.source_kind),
    )
    template = config.policy.contact_note_template if is_contact(kinds) else config.policy.note_template
    return render_note(template, ctx)


def _decide_one(store: Store, case_id: int, config: Config, now: datetime, summary: ProcessSummary, *,
                customer_id: int | None = None, wait: bool = True, avoid: frozenset[str] = frozenset()) -> None:
    """Decide one new case holding its lock and its customer's (``customer_id``: the one it had
    when listed; a case that has another by now starts again holding that one, bot.decide.locks)."""
    keys = {f"case:{case_id}"} | ({f"customer:{customer_id}"} if customer_id is not None else set())
    if keys & avoid:
        raise Busy(frozenset(keys))  # an earlier case of this buyer waits for another worker

    def step(session: Session, locks: Locks) -> None:
        case = session.get(Case, case_id, populate_existing=True)
        if case is None or case.status != CaseStatus.NEW.value:
            return  # another process decided it meanwhile
        if case.customer_id is not None:
            locks.add(f"customer:{case.customer_id}")  # before the per-customer limit reads their other cases
        mention = case.mention
        assert mention.assessment is not None
        matched = case.order_id is not None
        case.status = (CaseStatus.MATCHED if matched else CaseStatus.UNMATCHED).value
        facts = _facts(session, case, mention, BEFORE_DELIVERY in (case.match_reasons or []), now)
        decision = decide(facts, config.policy, currency=config.bot.currency)
        note = _note(case, decision, facts, config) if decision.remedies else ""
        approval = list(decision.approval)
        queued = False
        if decision.automatic:
            try:
                queue(session, case, decision.remedies, note, config, now)
                queued = True
            except BudgetExceeded as exc:
                approval.append(exc.message)
        if queued:
            case.status = (CaseStatus.DECIDED if config.bot.dry_run else CaseStatus.QUEUED).value
            summary.queued += 1
            summary.dry_run += int(config.bot.dry_run)
        elif not decision.remedies and not approval:
            # No rule offers anything: keep the case (unmatched, or decided with no remedy) for the
            # digest's watch list rather than asking staff to approve nothing.
            case.status = (CaseStatus.DECIDED if matched else CaseStatus.UNMATCHED).value
            summary.watched += 1
        else:
            if decision.remedies:
                propose(session, case, decision.remedies, note, config, now)
            case.status = CaseStatus.AWAITING_APPROVAL.value
            case.approval_reason = "; ".join(approval)
            case.approval_expires_at = now + timedelta(days=config.policy.approval_days)
            summary.awaiting += 1
        case.rule = decision.rule
        case.reasons = decision.reasons + [f"waits for approval: {a}" for a in approval]
        case.updated_at = now
        session.add(AuditLog(at=now, case_id=case.id, action="decided", detail={
            "rule": decision.rule, "automatic": queued, "dry_run": config.bot.dry_run and queued,
            "remedies": [{"kind": p.kind, "amount": str(p.amount)} for p in decision.remedies],
            "reasons": decision.reasons, "approval": approval,
            "match": {"matched": matched, "confidence": case.match_confidence},
        }))
        summary.decided += 1

    run(store, keys, step, wait=wait)


def process(store: Store, config: Config, *, now: datetime | None = None) -> ProcessSummary:
    """Put cases decided during an ended dry run to staff (:func:`bot.outbox.reopen_dry_run`),
    match again cases whose order may have arrived (:func:`rematch`), link new unhappy mentions
    into cases, then decide every new case (restartable)."""
    now = now or utcnow()
    summary = ProcessSummary()
    # Before anything else: cases decided in a dry run that has since ended go to staff.
    summary.reopened = reopen_dry_run(store, config, now)
    _rematch(store, config, now, summary)
    several = _postgres(store)  # where passes run at once (SQLite has one writer: nothing to skip)
    _share(_pending_mentions(store),
           lambda mention_id, wait, avoid: _link_one(store, mention_id, config, now, summary, wait=wait, avoid=avoid),
           lambda mention_id: f"mention #{mention_id}", "link", summary,
           (lambda chunk: _unlinked(store, chunk)) if several else None)
    with store.session() as session:
        new = [(case_id, customer_id) for case_id, customer_id in session.execute(
            select(Case.id, Case.customer_id).where(Case.status == CaseStatus.NEW.value).order_by(Case.id))]
    _share(new, lambda item, wait, avoid: _decide_one(store, item[0], config, now, summary, customer_id=item[1],
                                                      wait=wait, avoid=avoid),
           lambda item: f"case #{item[0]}", "decide", summary,
           (lambda chunk: _undecided(store, chunk)) if several else None)
    return summary


def _unlinked(store: Store, mention_ids: list[int]) -> list[int]:
    with store.session() as session:
        done = set(session.scalars(select(CaseMention.mention_id).where(CaseMention.mention_id.in_(mention_ids))))
    return [mention_id for mention_id in mention_ids if mention_id not in done]


def _undecided(store: Store, items: list[tuple[int, int | None]]) -> list[tuple[int, int | None]]:
    with store.session() as session:
        new = set(session.scalars(select(Case.id).where(Case.id.in_([case_id for case_id, _ in items]),
                                                        Case.status == CaseStatus.NEW.value)))
    return [item for item in items if item[0] in new]


__all__ = ["ProcessSummary", "process", "rematch"]
