"""A staff member asks for a public reply under a case's review (``recoverybot reply``).

The staff action, next to approve and reject (``bot.decide.staff``): under the same lock as
deciding, every guard of :mod:`bot.replies` is applied, and the reply is queued once per case with
who asked in the case history; the outbox's dispatch posts it (``bot.replies.deliver_due``).
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from bot.decide.cases import _lock
from bot.decide.staff import CaseNotFound
from bot.outbox import install_id
from bot.replies import REPLYABLE, ReplyRefused, default_text, problems, reply_key, reviewed_mention
from bot.store import AuditLog, Case, PublicReply, PublicReplyStatus, Store, utcnow

if TYPE_CHECKING:
    from bot.config import Config


def ask(store: Store, config: Config, case_id: int, *, actor: str, text: str | None = None,
        now: datetime | None = None) -> dict[str, Any]:
    """Queue the public reply a staff member asks for, after every guard; returns what was queued.

    Raises ReplyRefused (nothing queued) with the reason; a case that already has a reply queued or
    posted is refused too (one per case), a failed one may be asked again (same key: a retry still
    finds a reply the failed attempts might have posted).
    """
    now = now or utcnow()
    if not config.notify.public_reply:
        raise ReplyRefused("public replies are switched off",
                           hint="set [notify] public_reply = true to let staff reply under reviews")
    with store.session() as session:
        _lock(session)
        case = session.get(Case, case_id)
        if case is None:
            raise CaseNotFound(f"no case #{case_id}", hint="list cases with `recoverybot cases`")
        mention = reviewed_mention(case, config)
        if case.status not in REPLYABLE:
            raise ReplyRefused(f"case #{case_id} is {case.status.replace('_', ' ')}: reply publicly once the buyer "
                               "has been helped", hint="approve it first; a rejected case gets no public reply")
        body = (text if text is not None else default_text(case, config)).strip()
        found = problems(body, case, config)
        if found:
            raise ReplyRefused(f"the reply for case #{case_id} was not queued: " + "; ".join(found),
                               hint="change the text (--text \"...\") and ask again")
        key = reply_key(install_id(session), case_id)
        row = session.scalar(select(PublicReply).where(PublicReply.idempotency_key == key))
        if row is not None and row.status != PublicReplyStatus.FAILED.value:
            said = "posted" if row.status == PublicReplyStatus.POSTED.value else "queued"
            raise ReplyRefused(f"case #{case_id} already has a public reply ({said}, asked by {row.asked_by} on "
                               f"{row.asked_at:%Y-%m-%d})", hint="one public reply per case")
        if row is None:
            row = PublicReply(case_id=case_id, mention_id=mention.id, idempotency_key=key, source=mention.source,
                              text=body, asked_by=actor[:50], asked_at=now, attempts=0,
                              status=PublicReplyStatus.QUEUED.value)
            nested = session.begin_nested()
            try:
                session.add(row)
                session.flush()
                nested.commit()
            except IntegrityError as exc:
                nested.rollback()
                raise ReplyRefused(f"case #{case_id} already has a public reply") from exc
        else:
            row.text, row.asked_by, row.asked_at = body, actor[:50], now
            row.status, row.attempts, row.next_attempt_at, row.last_error = PublicReplyStatus.QUEUED.value, 0, None, None
        session.add(AuditLog(at=now, actor=actor[:50], case_id=case_id, action="public_reply_asked",
                             detail={"reply": row.id, "source": mention.source, "review": mention.external_id,
                                     "note": body}))
        return {"id": row.id, "case_id": case_id, "source": mention.source, "review_url": mention.url,
                "text": body, "idempotency_key": key}


__all__ = ["ask"]
