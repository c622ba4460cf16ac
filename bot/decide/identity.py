"""One buyer, one case: who wrote a mention, as the keys of an identity graph.

A person is known by the things seen together with them: an email address, a social handle, the
customer record these lead to, and the order an email quotes. Each mention gives its keys:

- ``email:<address>`` for its author's email, and ``customer:<id>`` when a customer has it;
- ``handle:<platform:name>`` for its author's handle, and ``customer:<id>`` when the handle is
  linked to a customer (by staff with ``recoverybot customers link``, or by the order export);
- ``customer:<id>`` of the order it quotes (``raw["order_number"]``, e.g. from the mailbox): an
  email that quotes an order links its sender to that order's customer;
- ``customer:<id>`` of the order it was matched to (the case's match).

Two mentions are the same person when their keys meet, or when both carry the author's name and
the names agree (``"Max R."`` and ``"Max Roth"``): so the same words posted in two places by the
same author are one person. A mention with nothing that says who wrote it (an anonymous feed
entry) is never taken for someone else. Names alone never join two different texts: that is the
matcher's work, which weighs them with the product and the timing.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.match import find_customer, handle_keys, name_similarity, quoted_order
from bot.store import Case, CustomerHandle, Mention

SAME_NAME = 0.8  # name similarity from which two authors are one ("Max R." ~ "Max Roth" is 0.8)


def person_keys(session: Session, mention: Mention, customer_id: int | None = None) -> set[str]:
    """The identity keys of the mention's author (see the module docstring)."""
    keys: set[str] = set()
    if customer_id is not None:
        keys.add(f"customer:{customer_id}")
    if mention.author_email and mention.author_email.strip():
        email = mention.author_email.strip().lower()
        keys.add(f"email:{email}")
        customer = find_customer(session, email, scan=False)
        if customer is not None:
            keys.add(f"customer:{customer.id}")
    if mention.author_handle and mention.author_handle.strip().lstrip("@"):
        forms = handle_keys(mention.author_handle, mention.source_kind)
        keys.add(f"handle:{forms[0]}")
        for row in session.scalars(select(CustomerHandle).where(CustomerHandle.handle.in_(forms))):
            keys.add(f"customer:{row.customer_id}")
    order = quoted_order(session, mention)
    if order is not None and order.customer_id is not None:
        keys.add(f"customer:{order.customer_id}")
    return keys


def _names_agree(name: str | None, others: Iterable[str | None]) -> bool:
    if not name or not name.strip():
        return False
    return any(other and name_similarity(name, other)[0] >= SAME_NAME for other in others)


def same_person(session: Session, mention: Mention, customer_id: int | None, case: Case) -> bool:
    """Whether the mention's author is the person (or one of the people) of the case.

    True when their identity keys meet or their names agree, and when nothing on one side says who
    wrote it; False only when both sides are known and nothing ties them together.
    """
    mine = person_keys(session, mention, customer_id)
    theirs: set[str] = {f"customer:{case.customer_id}"} if case.customer_id is not None else set()
    names: list[str | None] = [case.customer.name] if case.customer is not None else []
    for link in case.links:
        theirs |= person_keys(session, link.mention)
        names.append(link.mention.author_name)
    if mine & theirs or _names_agree(mention.author_name, names):
        return True
    known_mine = bool(mine) or bool(mention.author_name and mention.author_name.strip())
    known_theirs = bool(theirs) or any(n and n.strip() for n in names)
    return not (known_mine and known_theirs)


__all__ = ["SAME_NAME", "person_keys", "same_person"]
