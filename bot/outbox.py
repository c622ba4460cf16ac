"""The outbox: remedies queued exactly once within budget, and the dispatch loop that hands them to
the fulfilment adapters (``connectors.fulfilment``).

Queueing (DESIGN.md invariant 2): a remedy row with a unique idempotency key (derived from the case
id, the remedy's position and kind) is inserted in the same transaction that reserves its cost on
the day's and the month's :class:`~bot.store.BudgetPeriod` with a guarded UPDATE
(``reserved + x <= cap``). A crash rolls both back; a re-run derives the same key, so it can never
queue twice nor overspend, and two processes racing on PostgreSQL serialise on the budget row.

Dispatch (invariant 3) is at-least-once: a due remedy is claimed (attempts + 1, a lease in
``next_attempt_at``) and committed *before* the adapter is called, so a process killed mid-call
retries it after the lease; the idempotency key travels with it (webhook ``Idempotency-Key`` header,
csv column, Message-ID, the shop object's meta / note) so the effect downstream is once: the shop
APIs honour no idempotency header, so a retry first looks for what an earlier attempt created. Failures back off exponentially; after
``[policy] max_attempts`` the remedy is failed, its budget released, and the digest shows it.

Adapters are small classes registered by ``kind`` in ``connectors.fulfilment`` (STYLE.md point 2);
this module only plugs them in.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING

import httpx
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot import notices
from bot.errors import ConfigError, DigestError, DispatchError, PolicyError, RecoveryBotError, SecretMissing
from bot.store import AuditLog, BudgetPeriod, Case, CaseStatus, Meta, Notice, Remedy, RemedyStatus, Store, utcnow
from connectors.fulfilment import Adapter, Deps, Job, build_adapter, pick_adapter

if TYPE_CHECKING:
    from bot.config import Config
    from bot.decide.policy import Planned
    from bot.report.mailer import Mailer

log = logging.getLogger(__name__)


# --- errors ----------------------------------------------------------------------------------


class BudgetExceeded(PolicyError):
    """Reserving a remedy's cost would take a budget period over its cap."""

    def __init__(self, period: str, needed: Decimal, reserved: Decimal, cap: Decimal) -> None:
        kind = "daily" if period.startswith("day:") else "monthly"
        super().__init__(
            f"{kind} budget {period[period.index(':') + 1:]}: {reserved} of {cap} reserved, {needed} more does not fit",
            hint=f"raise [policy] {kind}_budget, or wait for the next period",
        )
        self.period = period
        self.needed = needed


# --- budget ----------------------------------------------------------------------------------


def periods(now: datetime, config: Config) -> list[tuple[str, Decimal]]:
    """The budget periods `now` falls in (local day and month) with their caps."""
    from bot.decide.policy import money

    local = now.astimezone(config.zone)
    return [
        (f"day:{local:%Y-%m-%d}", money(config.policy.daily_budget)),
        (f"month:{local:%Y-%m}", money(config.policy.monthly_budget)),
    ]


def _ensure_period(session: Session, period: str, cap: Decimal) -> None:
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        session.execute(pg_insert(BudgetPeriod).values(period=period, reserved=0, cap=cap).on_conflict_do_nothing())
    else:
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        session.execute(
            sqlite_insert(BudgetPeriod).values(period=period, reserved=0, cap=cap).on_conflict_do_nothing()
        )
    # The cap follows the config: staff may raise or lower it between runs.
    session.execute(update(BudgetPeriod).where(BudgetPeriod.period == period).values(cap=cap))


def reserve(session: Session, amount: Decimal, config: Config, now: datetime, *, dry_run: bool = False,
            approved: bool = False, over: list[str] | None = None) -> list[str]:
    """Reserve `amount` on every current period with a guarded UPDATE; BudgetExceeded if one is full.

    The UPDATE's WHERE re-checks the cap on the row it locks, so concurrent reservations on
    PostgreSQL (READ COMMITTED re-evaluates the row) and SQLite (one writer) never overspend.
    With ``dry_run`` nothing is written; the check is done by reading.

    ``approved``: a person decided, so the daily budget (a limit on what runs unattended) is
    counted but not enforced; the monthly cap still holds. Each daily period gone over is
    appended to ``over`` as a sentence for the case and the digest.
    """
    if amount <= 0:
        return []
    done: list[str] = []
    for period, cap in periods(now, config):
        if approved and period.startswith("day:"):
            row = session.get(BudgetPeriod, period, populate_existing=True)
            reserved = row.reserved if row else Decimal(0)
            if reserved + amount > cap and over is not None:
                over.append(f"approved above the daily budget ({reserved + amount} of {cap} reserved on "
                            f"{period[4:]}); the monthly budget still holds")
            if dry_run:
                continue
            _ensure_period(session, period, cap)
            session.execute(update(BudgetPeriod).where(BudgetPeriod.period == period)
                            .values(reserved=BudgetPeriod.reserved + amount)
                            .execution_options(synchronize_session=False))
            done.append(period)
            continue
        if dry_run:
            row = session.get(BudgetPeriod, period)
            reserved = row.reserved if row else Decimal(0)
            if reserved + amount > cap:
                raise BudgetExceeded(period, amount, reserved, cap)
            continue
        _ensure_period(session, period, cap)
        result = session.execute(
            update(BudgetPeriod)
            .where(BudgetPeriod.period == period, BudgetPeriod.reserved + amount <= BudgetPeriod.cap)
            .values(reserved=BudgetPeriod.reserved + amount)
            .execution_options(synchronize_session=False)
        )
        if result.rowcount != 1:  # type: ignore[attr-defined]
            row = session.get(BudgetPeriod, period, populate_existing=True)
            raise BudgetExceeded(period, amount, row.reserved if row else Decimal(0), cap)
        done.append(period)
    return done


def release(session: Session, remedy: Remedy) -> None:
    """Give back the budget a remedy reserved (it failed or was cancelled: nothing was spent)."""
    for period in remedy.params.get("_budget", []):
        session.execute(
            update(BudgetPeriod)
            .where(BudgetPeriod.period == period)
            .values(reserved=BudgetPeriod.reserved - remedy.amount)
            .execution_options(synchronize_session=False)
        )
    remedy.params = {k: v for k, v in remedy.params.items() if k != "_budget"}


# --- queueing --------------------------------------------------------------------------------


INSTALL_ID = "install_id"


def install_id(session: Session) -> str:
    """This database's random id (made by migration 0002; made here if a row was lost)."""
    row = session.get(Meta, INSTALL_ID)
    if row is None:
        nested = session.begin_nested()
        try:
            session.add(Meta(key=INSTALL_ID, value=secrets.token_hex(6)))
            session.flush()
            nested.commit()
        except IntegrityError:
            nested.rollback()  # another process made it first: use theirs
        row = session.get(Meta, INSTALL_ID, populate_existing=True)
        assert row is not None
    return row.value


def idempotency_key(install: str, case_id: int, index: int, kind: str) -> str:
    """Derived from the case and this database's install id: re-deciding the same case after a
    crash gives the same key, and a new database (reset, moved) never repeats an old one's keys."""
    return f"rb-{install}-case{case_id}-{index}-{kind}"


def propose(session: Session, case: Case, planned: Sequence[Planned], note: str, config: Config,
            now: datetime) -> list[Remedy]:
    """Insert remedies waiting for approval (no budget reserved until a person approves)."""
    start = _first_index(session, case)
    install = install_id(session)
    rows = [_row(install, case, start + i, p, note, config, RemedyStatus.PROPOSED, now)
            for i, p in enumerate(planned)]
    session.add_all(rows)
    session.flush()
    return rows


def queue(session: Session, case: Case, planned: Sequence[Planned], note: str, config: Config,
          now: datetime) -> list[Remedy]:
    """Reserve the budget and insert the remedies, in one savepoint of the caller's transaction.

    Raises BudgetExceeded (nothing reserved, nothing inserted) or IntegrityError re-raised as
    PolicyError when the case already has these remedies (a duplicate run).
    """
    start = _first_index(session, case)
    install = install_id(session)
    rows = [_row(install, case, start + i, p, note, config, RemedyStatus.QUEUED, now)
            for i, p in enumerate(planned)]
    return _commit_rows(session, rows, config, now)


def queue_proposed(session: Session, remedies: Sequence[Remedy], config: Config, now: datetime,
                   over: list[str] | None = None) -> list[Remedy]:
    """Approve proposed remedies: reserve their budget and move them to the outbox.

    A person's approval may go over the daily budget (said in ``over``), never the monthly one.
    """
    return _commit_rows(session, list(remedies), config, now, existing=True, approved=True, over=over)


def _commit_rows(session: Session, rows: list[Remedy], config: Config, now: datetime,
                 existing: bool = False, approved: bool = False, over: list[str] | None = None,
                 dry: bool | None = None) -> list[Remedy]:
    dry = config.bot.dry_run if dry is None else dry
    total = sum((r.amount for r in rows), Decimal(0))
    nested = session.begin_nested()
    try:
        reserved = reserve(session, total, config, now, dry_run=dry, approved=approved, over=over)
        for row in rows:
            row.status = (RemedyStatus.DRY_RUN if dry else RemedyStatus.QUEUED).value
            row.queued_at = now
            row.next_attempt_at = None
            if reserved:
                # Each row remembers where its own cost sits, so a failure releases exactly it.
                row.params = {**row.params, "_budget": reserved}
            if not existing:
                session.add(row)
        session.flush()
    except BudgetExceeded:
        nested.rollback()
        raise
    except IntegrityError as exc:
        nested.rollback()
        raise PolicyError(f"remedies of case {rows[0].case_id if rows else '?'} already exist") from exc
    nested.commit()
    return rows


def _first_index(session: Session, case: Case) -> int:
    """Positions go on after the case's earlier remedies (a contact cancelled when its order was
    found later), so a re-decided case never reuses a key; a first decision starts at 0."""
    return int(session.scalar(select(func.count()).select_from(Remedy).where(Remedy.case_id == case.id)) or 0)


def _row(install: str, case: Case, index: int, planned: Planned, note: str, config: Config, status: RemedyStatus,
         now: datetime) -> Remedy:
    return Remedy(
        case_id=case.id, kind=planned.kind, params=dict(planned.params), amount=planned.amount,
        currency=config.bot.currency, note=note, idempotency_key=idempotency_key(install, case.id, index, planned.kind),
        status=status.value, adapter=pick_adapter(planned.kind, config.fulfilment), attempts=0, created_at=now,
    )


# --- after the dry run ------------------------------------------------------------------------

DRY_RUN_REASON = "decided during the dry run: approve to send it now"


def reopen_dry_run(store: Store, config: Config, now: datetime | None = None) -> int:
    """Once ``dry_run`` is off, send what staff approved during the trial and ask about the rest.

    A case a person approved during the trial is queued now (not asked twice). Every other case
    decided during it has its ``dry_run`` remedies become ``proposed`` and the case
    ``awaiting_approval`` with a fresh expiry: never sent on their own, since the trial may be days
    old. Returns how many cases.
    """
    if config.bot.dry_run:
        return 0
    now = now or utcnow()
    with store.session() as session:
        case_ids = list(session.scalars(
            select(Remedy.case_id).join(Case, Case.id == Remedy.case_id)
            .where(Remedy.status == RemedyStatus.DRY_RUN.value, Case.status == CaseStatus.DECIDED.value)
            .distinct().order_by(Remedy.case_id)
        ))
    done = 0
    for case_id in case_ids:
        with store.session() as session:
            if _send_approved(session, case_id, config, now):
                done += 1
                continue
            # The guarded UPDATE makes this once even when two processes run it together.
            moved = session.execute(
                update(Remedy).where(Remedy.case_id == case_id, Remedy.status == RemedyStatus.DRY_RUN.value)
                .values(status=RemedyStatus.PROPOSED.value, queued_at=None, next_attempt_at=None)
                .execution_options(synchronize_session=False)
            )
            if not moved.rowcount:  # type: ignore[attr-defined]
                continue
            case = session.get(Case, case_id, populate_existing=True)
            assert case is not None
            case.status = CaseStatus.AWAITING_APPROVAL.value
            case.approval_reason = DRY_RUN_REASON
            case.approval_expires_at = now + timedelta(days=config.policy.approval_days)
            case.reasons = list(case.reasons or []) + [f"waits for approval: {DRY_RUN_REASON}"]
            case.updated_at = now
            session.add(AuditLog(at=now, case_id=case_id, action="dry_run_reopened",
                                 detail={"remedies": [r.id for r in case.remedies
                                                      if r.status == RemedyStatus.PROPOSED.value]}))
            done += 1
    if done:
        log.info("%s case(s) decided during the dry run now await approval", done)
    return done


APPROVED_IN_DRY_RUN = "_approved_in_dry_run"


def _send_approved(session: Session, case_id: int, config: Config, now: datetime) -> bool:
    """A case a person approved during the dry run: its remedies go to the outbox now, without
    asking again (budget reserved now, the monthly cap still holds). False when it was not
    approved, or when the month's budget has no room (then it is asked about like the others)."""
    case = session.get(Case, case_id, populate_existing=True)
    if case is None:
        return False
    rows = [r for r in case.remedies if r.status == RemedyStatus.DRY_RUN.value]
    if not rows or not all(r.params.get(APPROVED_IN_DRY_RUN) for r in rows):
        return False
    over: list[str] = []
    try:
        _commit_rows(session, rows, config, now, existing=True, approved=True, over=over, dry=False)
    except BudgetExceeded as exc:
        log.warning("case #%s was approved during the dry run but %s", case_id, exc.message)
        return False
    case.status = CaseStatus.QUEUED.value
    case.reasons = list(case.reasons or []) + ["dry run over: sent as approved during it"] + over
    case.updated_at = now
    session.add(AuditLog(at=now, case_id=case_id, action="dry_run_approved_queued",
                         detail={"remedies": [r.id for r in rows], "over": over}))
    return True


# --- dispatch ---------------------------------------------------------------------------------


@dataclass
class DispatchSummary:
    """What one dispatch run did."""

    dispatched: int = 0
    retrying: int = 0
    failed: int = 0
    skipped: int = 0
    dry_run: bool = False
    reopened: int = 0  # cases decided during the dry run, now awaiting approval
    told: int = 0  # buyers told why their remedy comes (bot.notices)
    replied: int = 0  # public replies posted under reviews (bot.replies)
    errors: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        if self.dry_run:
            return ["dispatch: dry run, nothing dispatched"]
        out = [f"dispatch: {self.dispatched} dispatched, {self.retrying} to retry, {self.failed} failed"]
        if self.reopened:
            out.append(f"  {self.reopened} case(s) decided during the dry run now await approval")
        if self.told:
            out.append(f"  {self.told} buyer(s) told why their remedy comes")
        if self.replied:
            out.append(f"  {self.replied} public reply(ies) posted under reviews")
        out += [f"  {e}" for e in self.errors[:10]]
        return out


def _due(session: Session, now: datetime) -> list[int]:
    return list(session.scalars(
        select(Remedy.id)
        .where(Remedy.status == RemedyStatus.QUEUED.value,
               (Remedy.next_attempt_at.is_(None)) | (Remedy.next_attempt_at <= now))
        .order_by(Remedy.id)
    ))


def _claim(store: Store, remedy_id: int, now: datetime, lease: float) -> bool:
    """Take a remedy for one attempt; committed before the adapter runs (at-least-once)."""
    with store.session() as session:
        result = session.execute(
            update(Remedy)
            .where(Remedy.id == remedy_id, Remedy.status == RemedyStatus.QUEUED.value,
                   (Remedy.next_attempt_at.is_(None)) | (Remedy.next_attempt_at <= now))
            .values(attempts=Remedy.attempts + 1, next_attempt_at=now + timedelta(seconds=lease))
            .execution_options(synchronize_session=False)
        )
        return bool(result.rowcount == 1)  # type: ignore[attr-defined]


@contextmanager
def _lease_renewed(store: Store, remedy_id: int, attempt: int, clock: Callable[[], datetime],
                   lease: float, model: type[Remedy] | type[Notice] = Remedy) -> Iterator[None]:
    """Keep our claim on a remedy while its adapter runs: every third of the lease it is pushed
    on, so a slow receiver never lets a second dispatcher claim (and deliver) it again. Only our
    own attempt is renewed (``attempts`` still ours), never someone else's claim."""
    if lease <= 0:
        yield
        return
    stop = threading.Event()

    def renew() -> None:
        while not stop.wait(lease / 3):
            try:
                with store.session() as session:
                    session.execute(
                        update(model)
                        .where(model.id == remedy_id, model.status == RemedyStatus.QUEUED.value,
                               model.attempts == attempt)
                        .values(next_attempt_at=clock() + timedelta(seconds=lease))
                        .execution_options(synchronize_session=False)
                    )
            except Exception as exc:  # the attempt goes on; the worst case is the old lease
                log.warning("remedy #%s: cannot renew its dispatch lease: %s", remedy_id, exc)

    thread = threading.Thread(target=renew, name=f"lease-{remedy_id}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def _job(session: Session, remedy: Remedy) -> Job:
    case = remedy.case
    order = case.order
    mention = case.mention
    customer = case.customer
    ref = None
    if order is not None:
        extra = order.extra or {}
        ref = str(extra.get("id") or extra.get("external_id") or order.number)
    return Job(
        remedy_id=remedy.id, case_id=case.id, idempotency_key=remedy.idempotency_key, kind=remedy.kind,
        params={k: v for k, v in remedy.params.items() if not k.startswith("_")},
        amount=remedy.amount, currency=remedy.currency, note=remedy.note, issue=case.issue,
        customer_name=customer.name if customer else None, customer_email=customer.email if customer else None,
        order_number=order.number if order else None, order_origin=order.origin if order else None,
        order_ref=ref, shipping_country=order.shipping_country if order else None,
        mention_url=mention.url, mention_author=mention.author_handle or mention.author_name,
        mention_source=mention.source, attempt=remedy.attempts, queued_at=remedy.queued_at,
    )


def _settle_case(session: Session, case: Case) -> None:
    statuses = {r.status for r in case.remedies}
    if RemedyStatus.FAILED.value in statuses:
        case.status = CaseStatus.FAILED.value
    elif statuses and statuses <= {RemedyStatus.DISPATCHED.value, RemedyStatus.CANCELLED.value}:
        case.status = CaseStatus.DISPATCHED.value


def dispatch_due(
    store: Store,
    config: Config,
    *,
    client: httpx.Client | None = None,
    mailer: Mailer | None = None,
    now: datetime | None = None,
) -> DispatchSummary:
    """Deliver every due remedy through its adapter: at-least-once, retried with backoff."""
    summary = DispatchSummary(dry_run=config.bot.dry_run)
    if config.bot.dry_run:
        return summary
    now = now or utcnow()
    summary.reopened = reopen_dry_run(store, config, now)
    own_client = client is None
    http = client or httpx.Client(follow_redirects=False)
    built_mailer: list[Mailer] = [mailer] if mailer is not None else []

    def get_mailer() -> Mailer:
        if not built_mailer:
            from bot.report.mailer import Mailer

            built_mailer.append(Mailer.from_digest_config(config.digest))
        return built_mailer[0]

    sender = config.digest.sender or config.digest.smtp_user or "recoverybot@localhost"
    deps = Deps(client=http, mailer=get_mailer, data_dir=config.data_dir, sender=sender,
                care_email=config.bot.care_email, shop_name=config.bot.shop_name)
    adapters: dict[str, Adapter] = {}
    broken: dict[str, DispatchError] = {}
    names = {entry.name for entry in config.fulfilment}
    policy = config.policy
    # Claims and their leases follow the clock as the run goes on: a run longer than
    # claim_seconds once claimed later remedies with a lease already expired, and a second
    # dispatcher delivered them again. (`now` stays the run's time for what it records.)
    started, ticking = now, time.monotonic()

    def clock() -> datetime:
        return started + timedelta(seconds=time.monotonic() - ticking)

    try:
        with store.session() as session:
            due = _due(session, now)
        for remedy_id in due:
            with store.session() as session:
                remedy = session.get(Remedy, remedy_id)
                assert remedy is not None
                kind = remedy.kind
                adapter_name = _adapter_for(remedy, config, names)
            if (adapter_name is not None and adapter_name in names and adapter_name not in adapters
                    and adapter_name not in broken):
                # Built (with its mailer) before the claim: a missing secret (SecretMissing, exit 2)
                # leaves the outbox untouched; any other config problem fails this adapter's remedies.
                try:
                    adapters[adapter_name] = build_adapter(adapter_name, config.fulfilment, deps)
                except SecretMissing as exc:
                    # Nothing is claimed, but every remedy waiting on this adapter says why, so
                    # `status` and `cases` show it at once instead of a silent queue.
                    _blocked(store, due, adapter_name, config, names, f"fulfilment {adapter_name!r}: {exc.message}"
                             + (f" ({exc.hint})" if exc.hint else ""))
                    raise
                except RecoveryBotError as exc:
                    broken[adapter_name] = _as_dispatch_error(exc, f"fulfilment {adapter_name!r}")
            if not _claim(store, remedy_id, clock(), policy.claim_seconds):
                summary.skipped += 1
                continue
            error: DispatchError | None = None
            reference: str | None = None
            try:
                if adapter_name is None or adapter_name not in names:
                    missing = f"handles {kind!r}" if adapter_name is None else f"is named {adapter_name!r}"
                    raise DispatchError(f"no [[fulfilment]] adapter {missing}", retryable=False,
                                        hint="add a [[fulfilment]] entry (csv, webhook, email...) for this kind")
                if adapter_name in broken:
                    raise broken[adapter_name]
                with store.session() as session:
                    claimed = session.get(Remedy, remedy_id)
                    assert claimed is not None
                    job = _job(session, claimed)
                with _lease_renewed(store, remedy_id, job.attempt, clock, policy.claim_seconds):
                    reference = adapters[adapter_name].deliver(job)
            except Exception as exc:  # one bad remedy must never stop the others
                error = _as_dispatch_error(exc, f"fulfilment {adapter_name!r}" if adapter_name else "dispatch")
                if not isinstance(exc, RecoveryBotError):
                    log.error("remedy #%s: unexpected error in %s", remedy_id, adapter_name, exc_info=exc)
            _record(store, remedy_id, adapter_name, error, reference, now, policy.max_attempts,
                    policy.retry_backoff, summary)
        # The buyer is told once per case, whichever adapter delivered the remedies.
        notices.plan(store, config, now)
        told = notices.deliver_due(store, config, deps, adapters, clock, now, as_error=_as_dispatch_error,
                                    lease=_lease_renewed)
        summary.told = told.told
        summary.errors += told.errors or []
        # Public replies staff asked for (bot.replies): posted once, under the buyer's review.
        from bot import replies

        posted = replies.deliver_due(store, config, http, now)
        summary.replied = posted.posted
        summary.errors += posted.errors
    finally:
        if own_client:
            http.close()
    return summary


def _adapter_for(remedy: Remedy, config: Config, names: set[str]) -> str | None:
    """The adapter that delivers this remedy, from the current config (a corrected config reaches
    remedies already waiting), unless an earlier attempt may have reached one: then that one, so
    the effect stays once."""
    if remedy.attempts > 0 and remedy.adapter in names:
        return remedy.adapter
    return pick_adapter(remedy.kind, config.fulfilment)


def _blocked(store: Store, due: list[int], adapter: str, config: Config, names: set[str], message: str) -> None:
    with store.session() as session:
        for remedy in session.scalars(select(Remedy).where(Remedy.id.in_(due))):
            if remedy.status == RemedyStatus.QUEUED.value and _adapter_for(remedy, config, names) == adapter:
                remedy.last_error = message


def _as_dispatch_error(exc: Exception, where: str) -> DispatchError:
    """Any failure of one remedy as a DispatchError: adapters raise their own; a config problem
    (no SMTP server, a bad key) fails at once, since retrying cannot fix it; anything unexpected
    is retried (with its text recorded) until ``max_attempts``."""
    if isinstance(exc, DispatchError):
        return exc
    if isinstance(exc, (ConfigError, DigestError)):
        retryable = bool(getattr(exc, "retryable", False))  # a MailError knows; the rest cannot be retried
        return DispatchError(f"{where}: {exc.message}", retryable=retryable, hint=exc.hint or None)
    if isinstance(exc, RecoveryBotError):
        return DispatchError(f"{where}: {exc.message}", hint=exc.hint or None)
    return DispatchError(f"{where}: unexpected {type(exc).__name__}: {exc}",
                         hint="a bug or an unexpected answer; it is retried, and the log has the traceback")


def _record(store: Store, remedy_id: int, adapter: str | None, error: DispatchError | None, reference: str | None,
            now: datetime, max_attempts: int, backoff: float, summary: DispatchSummary) -> None:
    with store.session() as session:
        remedy = session.get(Remedy, remedy_id)
        assert remedy is not None
        remedy.adapter = adapter
        if error is None:
            remedy.status = RemedyStatus.DISPATCHED.value
            remedy.dispatched_at = now
            remedy.next_attempt_at = None
            remedy.last_error = None
            summary.dispatched += 1
            session.add(AuditLog(at=now, case_id=remedy.case_id, action="remedy_dispatched",
                                 detail={"remedy": remedy.id, "kind": remedy.kind, "adapter": adapter,
                                         "reference": reference, "attempts": remedy.attempts}))
        elif error.retryable and remedy.attempts < max_attempts:
            delay = backoff * (2 ** (remedy.attempts - 1))
            remedy.next_attempt_at = now + timedelta(seconds=delay)
            remedy.last_error = error.message
            summary.retrying += 1
            summary.errors.append(f"remedy #{remedy.id} ({remedy.kind}): {error.message} (retry in {delay:g}s)")
        else:
            remedy.status = RemedyStatus.FAILED.value
            remedy.next_attempt_at = None
            remedy.last_error = error.message
            release(session, remedy)
            summary.failed += 1
            summary.errors.append(f"remedy #{remedy.id} ({remedy.kind}) failed: {error.message}")
            session.add(AuditLog(at=now, case_id=remedy.case_id, action="remedy_failed",
                                 detail={"remedy": remedy.id, "kind": remedy.kind, "adapter": adapter,
                                         "error": error.message, "attempts": remedy.attempts}))
            log.warning("remedy #%s (%s) failed after %s attempts: %s", remedy.id, remedy.kind, remedy.attempts,
                        error.message)
        session.flush()
        _settle_case(session, remedy.case)


__all__ = [
    "BudgetExceeded",
    "DispatchSummary",
    "dispatch_due",
    "idempotency_key",
    "install_id",
    "propose",
    "queue",
    "queue_proposed",
    "release",
    "reopen_dry_run",
    "reserve",
]
