"""Staff decisions on cases: approve, reject (with the reason), approvals that expire, and listing.

Every action is one transaction under the same lock as deciding, recorded in the audit log with
who did it.
"""

from __future__ import annotations

import logging
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.errors import PolicyError
from bot.outbox import APPROVED_IN_DRY_RUN, BudgetExceeded, queue_proposed, release
from bot.decide.cases import ACTIVE_REMEDY, _lock
from bot.store import AuditLog, Case, CaseStatus, Mention, RemedyStatus, StaffLabel, Store, utcnow

if TYPE_CHECKING:
    from bot.config import Config
    from bot.scoring.retrain import Example

log = logging.getLogger(__name__)


class CaseNotFound(PolicyError):
    """No case has the id given to approve / reject."""


class CaseStateError(PolicyError):
    """The case is not in a state that allows the action (e.g. approving a queued case)."""


class ProposalChanged(CaseStateError):
    """The case's proposal is not the one the person saw (a link made before someone changed it)."""


def proposal_fingerprint(case: Case) -> str:
    """What the case proposes now (its state and each proposed remedy's kind, amount, currency and
    parameters), hashed: a one-click link carries it, so any change makes older links stale."""
    import hashlib
    import json

    parts = [[r.id, r.kind, str(Decimal(r.amount or 0).quantize(Decimal("0.01"))), r.currency,
              {k: v for k, v in sorted((r.params or {}).items()) if not k.startswith("_")}]
             for r in sorted(case.remedies, key=lambda r: r.id) if r.status == RemedyStatus.PROPOSED.value]
    text = json.dumps([case.id, case.status, parts], sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:24]


def _expect(case: Case, proposal: str | None) -> None:
    if proposal is not None and proposal_fingerprint(case) != proposal:
        raise ProposalChanged(f"case #{case.id} changed since this was asked (someone decided it or changed the remedy)",
                              hint="look at the case as it is now and decide again")


# --- staff actions ----------------------------------------------------------------------------


def _get(session: Session, case_id: int) -> Case:
    case = session.get(Case, case_id)
    if case is None:
        raise CaseNotFound(f"no case #{case_id}", hint="list cases with `recoverybot cases`")
    return case


def _awaiting(case: Case, action: str) -> None:
    if case.status != CaseStatus.AWAITING_APPROVAL.value:
        raise CaseStateError(f"case #{case.id} is {case.status}, not awaiting approval: cannot {action} it",
                             hint="only cases listed by `recoverybot cases --status awaiting_approval` can be")


def approve(store: Store, case_id: int, *, actor: str, note: str | None = None, now: datetime | None = None,
            config: Config | None = None, proposal: str | None = None) -> dict[str, Any]:
    """Approve a waiting case: its proposed remedies are queued (budget reserved) for dispatch.

    ``config`` is needed for the budget and dry_run; without it the loaded default config is used.
    ``proposal`` (a :func:`proposal_fingerprint`): approve only if the case still proposes that,
    checked under the decision lock (ProposalChanged otherwise).
    """
    now = now or utcnow()
    if config is None:
        from bot.config import load

        config = load()
    with store.session() as session:
        _lock(session)
        case = _get(session, case_id)
        _awaiting(case, "approve")
        _expect(case, proposal)
        if case.approval_expires_at is not None and case.approval_expires_at <= now:
            raise CaseStateError(f"the approval of case #{case_id} expired on {case.approval_expires_at:%Y-%m-%d}",
                                 hint="it will be dismissed by the next cycle; the customer can be helped by hand")
        proposed = [r for r in case.remedies if r.status == RemedyStatus.PROPOSED.value]
        if not proposed:
            raise CaseStateError(f"case #{case_id} has no proposed remedy to approve",
                                 hint="no policy rule matched it: reject it, or add a rule and let it be decided")
        if note:
            for remedy in proposed:
                remedy.note = with_staff_note(remedy.note, note, config.bot.shop_name)
        over: list[str] = []
        try:
            queue_proposed(session, proposed, config, now, over=over)
        except BudgetExceeded as exc:
            raise CaseStateError(f"cannot approve case #{case_id}: {exc.message}", hint=exc.hint) from exc
        dry = config.bot.dry_run
        if dry:
            # Recorded now, sent when the trial ends (bot.outbox.reopen_dry_run), never asked again.
            for remedy in proposed:
                remedy.params = {**remedy.params, APPROVED_IN_DRY_RUN: actor}
        case.status = (CaseStatus.DECIDED if dry else CaseStatus.QUEUED).value
        case.approval_expires_at = None
        case.reasons = list(case.reasons) + [f"approved by {actor}" + (f": {note}" if note else "")] + over
        if dry:
            case.reasons.append("approved during the dry run: sent when the dry run ends")
        case.updated_at = now
        _label(session, case, actor=actor, action="approved", remedy_worthy=True, now=now)
        session.add(AuditLog(at=now, actor=actor, case_id=case.id, action="approved",
                             detail={"note": note, "remedies": [r.id for r in proposed], "dry_run": dry,
                                     "over_daily_budget": over}))
        out = _case_dict(case)
        out["over_daily_budget"] = over
        return out


def with_staff_note(text: str, note: str, shop_name: str) -> str:
    """The customer note with a staff member's words added above the signature (the shop's name
    as the last paragraph, as the built-in notes end); after the text when there is none."""
    body = text.rstrip("\n")
    extra = note.strip()
    head, sep, last = body.rpartition("\n\n")
    if sep and last.strip() == shop_name.strip():
        return f"{head}\n\n{extra}\n\n{last}\n"
    return f"{body}\n\n{extra}\n"


def _dismiss(session: Session, case: Case, *, actor: str, action: str, reason: str, now: datetime) -> None:
    for remedy in case.remedies:
        if remedy.status in ACTIVE_REMEDY:
            if remedy.status == RemedyStatus.QUEUED.value:
                release(session, remedy)
            remedy.status = RemedyStatus.CANCELLED.value
    case.status = CaseStatus.DISMISSED.value
    case.approval_reason = reason
    case.approval_expires_at = None
    case.reasons = list(case.reasons) + [f"{action} by {actor}: {reason}"]
    case.updated_at = now
    if action == "rejected":  # a person said no remedy; an approval that ran out says nothing
        _label(session, case, actor=actor, action=action, remedy_worthy=False, now=now)
    session.add(AuditLog(at=now, actor=actor, case_id=case.id, action=action, detail={"reason": reason}))


def _label(session: Session, case: Case, *, actor: str, action: str, remedy_worthy: bool, now: datetime) -> None:
    """Keep the decision as a label on each mention of the case (``recoverybot labels export``)."""
    for link in case.links:
        session.add(StaffLabel(mention_id=link.mention_id, case_id=case.id, at=now, actor=actor[:50], action=action,
                               unhappy=True, issue=case.issue, remedy_worthy=remedy_worthy))


def reject(store: Store, case_id: int, *, actor: str, reason: str, now: datetime | None = None,
           proposal: str | None = None) -> dict[str, Any]:
    """Reject a waiting case: its proposed remedies are cancelled and the case dismissed (only if it
    still proposes ``proposal``, when given)."""
    now = now or utcnow()
    if not reason or not reason.strip():
        raise CaseStateError("a rejection needs a reason", hint="pass --reason '...'")
    with store.session() as session:
        _lock(session)
        case = _get(session, case_id)
        _awaiting(case, "reject")
        _expect(case, proposal)
        _dismiss(session, case, actor=actor, action="rejected", reason=reason.strip(), now=now)
        return _case_dict(case)


def expire_approvals(store: Store, config: Config, now: datetime | None = None) -> int:
    """Dismiss every case whose approval was not given in time; returns how many."""
    now = now or utcnow()
    with store.session() as session:
        _lock(session)
        stale = session.scalars(
            select(Case).where(Case.status == CaseStatus.AWAITING_APPROVAL.value,
                               Case.approval_expires_at.is_not(None), Case.approval_expires_at <= now)
        ).all()
        for case in stale:
            _dismiss(session, case, actor="bot", action="approval_expired",
                     reason=f"not approved within {config.policy.approval_days} days", now=now)
        return len(stale)


# --- listing ----------------------------------------------------------------------------------


def _case_dict(case: Case) -> dict[str, Any]:
    from bot.match import mask_email

    customer = case.customer
    order = case.order
    return {
        "id": case.id,
        "status": case.status,
        "issue": case.issue,
        "rule": case.rule,
        "reasons": list(case.reasons or []),
        "approval_reason": case.approval_reason,
        "approval_expires_at": case.approval_expires_at.isoformat() if case.approval_expires_at else None,
        "created_at": case.created_at.isoformat(),
        "updated_at": case.updated_at.isoformat() if case.updated_at else None,
        "customer": {"name": customer.name, "email": mask_email(customer.email)} if customer else None,
        "order": {"number": order.number, "origin": order.origin} if order else None,
        "match_confidence": case.match_confidence,
        "match_reasons": list(case.match_reasons or []),
        "mentions": [
            {"id": link.mention.id, "source": link.mention.source, "url": link.mention.url,
             "author": link.mention.author_handle or link.mention.author_name,
             "rating": link.mention.rating, "excerpt": link.mention.text[:200]}
            for link in sorted(case.links, key=lambda item: item.mention_id)
        ],
        "remedies": [
            {"id": r.id, "kind": r.kind, "status": r.status, "amount": str(r.amount), "currency": r.currency,
             "params": {k: v for k, v in r.params.items() if not k.startswith("_")},
             "note": r.note, "adapter": r.adapter, "attempts": r.attempts, "last_error": r.last_error,
             "idempotency_key": r.idempotency_key,
             "dispatched_at": r.dispatched_at.isoformat() if r.dispatched_at else None}
            for r in case.remedies
        ],
    }


def case_detail(store: Store, case_id: int) -> dict[str, Any]:
    """One case in full, JSON-ready with emails masked: what :func:`list_cases` gives, plus each
    mention's whole text and scorer cues, the order's lines and dates, the proposal's total per
    currency, and the audit history (who did what, when)."""
    with store.session() as session:
        case = _get(session, case_id)
        out = _case_dict(case)
        by_id = {link.mention.id: link.mention for link in case.links}
        for row in out["mentions"]:
            mention = by_id[row["id"]]
            assessment = mention.assessment
            row.update({
                "title": mention.title, "text": mention.text[:20_000],
                "published_at": mention.published_at.isoformat() if mention.published_at else None,
                "product": mention.product_name or mention.product_sku,
                "assessment": None if assessment is None else {
                    "unhappy": assessment.unhappy, "issue": assessment.issue, "confidence": assessment.confidence,
                    "sentiment": assessment.sentiment, "cues": list(assessment.cues or [])[:50],
                },
            })
        order = case.order
        if order is not None:
            out["order"] = {
                "number": order.number, "origin": order.origin, "placed_at": order.placed_at.isoformat(),
                "delivered_at": order.delivered_at.isoformat() if order.delivered_at else None,
                "tracking_status": order.tracking_status, "currency": order.currency, "total": str(order.total),
                "lines": [{"sku": line.sku, "name": line.name, "quantity": line.quantity,
                           "unit_price": str(line.unit_price)} for line in order.lines[:100]],
                "complained_about": case.order_line.name if case.order_line else None,
            }
        live = [r for r in case.remedies if r.status != RemedyStatus.CANCELLED.value]
        totals: dict[str, Decimal] = {}
        for remedy in live:
            totals[remedy.currency] = totals.get(remedy.currency, Decimal(0)) + remedy.amount
        out["total"] = {currency: str(amount) for currency, amount in totals.items()}
        history = session.scalars(
            select(AuditLog).where(AuditLog.case_id == case.id).order_by(AuditLog.at, AuditLog.id).limit(200)
        ).all()
        out["history"] = [{"at": entry.at.isoformat(), "actor": entry.actor, "action": entry.action,
                           "detail": entry.detail} for entry in history]
        return out


def list_cases(store: Store, status: str | None = None) -> list[dict[str, Any]]:
    """Every case (or those in `status`), newest first, JSON-ready with emails masked."""
    if status is not None and status not in {s.value for s in CaseStatus}:
        raise PolicyError(f"unknown case status {status!r}",
                          hint="one of: " + ", ".join(s.value for s in CaseStatus))
    with store.session() as session:
        query = select(Case).order_by(Case.id.desc())
        if status is not None:
            query = query.where(Case.status == status)
        return [_case_dict(case) for case in session.scalars(query)]


__all__ = ["CaseNotFound", "CaseStateError", "ProposalChanged", "approve", "case_detail", "change_amount", "decisions", "expire_approvals", "export_labels",
           "list_cases", "proposal_fingerprint", "reject", "with_staff_note"]


def export_labels(store: Store, out: Any) -> int:
    """Write the shop's own labelled mentions as JSON lines that ``recoverybot eval`` reads (``id``,
    ``text``, ``rating``, ``unhappy``, ``issue``, ``remedy_worthy``, ``decided``); the newest decision on a
    mention wins. Returns how many lines were written."""
    import json

    with store.session() as session:
        newest = _newest_labels(session)
        for label, mention in newest.values():
            out.write(json.dumps({
                "id": f"{mention.source}:{mention.external_id}", "text": mention.text, "rating": mention.rating,
                "title": mention.title, "unhappy": label.unhappy, "issue": label.issue,
                "remedy_worthy": label.remedy_worthy, "decided": f"{label.action} by {label.actor}",
            }, ensure_ascii=False) + "\n")
        return len(newest)


def _newest_labels(session: Session) -> dict[int, tuple[StaffLabel, Mention]]:
    """Each labelled mention with its newest decision (a later decision on a mention overrides)."""
    rows = session.execute(
        select(StaffLabel, Mention).join(Mention, Mention.id == StaffLabel.mention_id)
        .order_by(StaffLabel.mention_id, StaffLabel.at, StaffLabel.id)
    ).all()
    newest: dict[int, tuple[StaffLabel, Mention]] = {}
    for label, mention in rows:
        newest[label.mention_id] = (label, mention)
    return newest


def decisions(store: Store) -> list[Example]:
    """The shop's decisions as labelled examples for ``recoverybot train``."""
    from bot.scoring.retrain import Example

    with store.session() as session:
        return [Example(f"{m.source}:{m.external_id}", m.text, m.rating, m.title, label.remedy_worthy, label.issue,
                        label.unhappy) for label, m in _newest_labels(session).values()]


def change_amount(store: Store, case_id: int, remedy_id: int, amount: Decimal, *, actor: str, config: Config,
                  now: datetime | None = None, proposal: str | None = None) -> dict[str, Any]:
    """Change what one proposed remedy of a waiting case costs, within the cap of its kind ([policy]
    caps); the case keeps waiting for approval. The note to the buyer names the new amount."""
    now = now or utcnow()
    amount = Decimal(amount).quantize(Decimal("0.01"))
    with store.session() as session:
        _lock(session)
        case = _get(session, case_id)
        _awaiting(case, "change")
        _expect(case, proposal)
        remedy = next((r for r in case.remedies if r.id == remedy_id), None)
        if remedy is None or remedy.status != RemedyStatus.PROPOSED.value:
            raise CaseStateError(f"case #{case_id} has no proposed remedy #{remedy_id}",
                                 hint="pick one of the remedies the case proposes")
        cap = config.policy.cap(remedy.kind)
        if amount < 0 or amount > cap:
            raise CaseStateError(f"{amount} is outside what a {remedy.kind.replace('_', ' ')} may cost (0 to {cap})",
                                 hint="the caps are [policy] caps in config.toml")
        old = Decimal(remedy.amount or 0).quantize(Decimal("0.01"))
        if amount == old:
            return _case_dict(case)
        from bot.notes import describe

        before = dict(remedy.params or {})
        after = {**before, "amount": str(amount)}
        if before.get("full"):
            after["full"] = False  # no longer the full price: the note says the amount
        remedy.amount = amount
        remedy.params = after
        # The note has one line per remedy as notes.describe writes it: that line now says the new amount.
        said, says = describe(remedy.kind, before, ""), describe(remedy.kind, after, "")
        for other in case.remedies:
            if said and says and other.note and other.status == RemedyStatus.PROPOSED.value:
                other.note = other.note.replace(said, says)
        case.reasons = list(case.reasons) + [f"{remedy.kind.replace('_', ' ')} changed from {old} to {amount} by {actor}"]
        case.updated_at = now
        session.add(AuditLog(at=now, actor=actor[:50], case_id=case.id, action="changed",
                             detail={"remedy": remedy.id, "from": str(old), "to": str(amount)}))
        return _case_dict(case)
