"""Seed data for the decide tests (cases, remedies, crash), written straight into a real store.

Also a small worker: ``python -m tests.decide_world CONFIG LOOPS [LATER]`` (from the repository root) runs process + dispatch in a
loop; the crash test kills it with SIGKILL at random moments and starts it again.
"""

from __future__ import annotations

import os
import sys
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy.orm import Session

from bot.store import Assessment, Customer, Mention, Order, OrderLine, fingerprint

NOW = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)


def days_ago(days: float) -> datetime:
    return NOW - timedelta(days=days)


def add_order(
    session: Session,
    email: str,
    name: str,
    number: str,
    lines: list[tuple[str, str, str, int]],
    *,
    placed: datetime,
    delivered: datetime | None = None,
    tracking: str | None = "delivered",
    expected: datetime | None = None,
    extra: dict[str, object] | None = None,
) -> Order:
    """A customer (reused by email) with one order; lines are (sku, name, unit price, quantity)."""
    customer = session.query(Customer).filter_by(email=email).one_or_none()
    if customer is None:
        customer = Customer(email=email, name=name, created_at=placed)
        session.add(customer)
        session.flush()
    total = sum((Decimal(price) * qty for _sku, _name, price, qty in lines), Decimal(0))
    order = Order(
        origin="csv", number=number, customer_id=customer.id, placed_at=placed, currency="EUR", total=total,
        shipping_country="GB", fulfillment_status="fulfilled", tracking_status=tracking,
        delivered_at=delivered, expected_delivery_at=expected or placed + timedelta(days=4), extra=extra or {},
    )
    order.lines = [
        OrderLine(position=i, sku=sku, name=pname, quantity=qty, unit_price=Decimal(price),
                  product_url=f"https://kettle.example/p/{sku.lower()}")
        for i, (sku, pname, price, qty) in enumerate(lines)
    ]
    session.add(order)
    session.flush()
    return order


def add_mention(
    session: Session,
    external_id: str,
    text: str,
    issue: str,
    *,
    source: str = "shop",
    kind: str = "schema_org",
    published: datetime,
    author_email: str | None = None,
    author_name: str | None = None,
    author_handle: str | None = None,
    rating: float | None = 1,
    sku: str | None = None,
    product_name: str | None = None,
    sentiment: float = -0.8,
    confidence: float = 0.9,
    unhappy: bool = True,
    sure: bool | None = None,
    p_remedy: float | None = None,
) -> Mention:
    """A stored mention with its assessment (what collect + score would have written)."""
    mention = Mention(
        source=source, source_kind=kind, external_id=external_id, url=f"https://{source}.example/{external_id}",
        author_name=author_name, author_handle=author_handle, author_email=author_email, product_sku=sku,
        product_name=product_name, rating=rating, text=text, published_at=published, collected_at=published,
        fingerprint=fingerprint(text), raw={},
    )
    session.add(mention)
    session.flush()
    session.add(Assessment(mention_id=mention.id, sentiment=sentiment, unhappy=unhappy, issue=issue,
                           confidence=confidence, cues=["test"], scored_at=published, sure=sure,
                           p_remedy=p_remedy, p_issue=None if p_remedy is None else 0.6,
                           remedy_worthy=None if p_remedy is None else p_remedy >= 0.5))
    session.flush()
    return mention


def seed_unhappy(session: Session, count: int, *, start: int = 0) -> None:
    """`count` buyers of a cheap gadget, each with one defective-item review matched by email."""
    for i in range(start, start + count):
        email = f"buyer{i}@mail.example"
        add_order(session, email, f"Buyer Number{i}", f"C{i:04d}", [("FAN-01", "Pocket Fan", "12.00", 1)],
                  placed=days_ago(20), delivered=days_ago(15))
        add_mention(session, f"crash-{i}", f"The pocket fan number {i} stopped spinning after two days, useless.",
                    "defective", published=days_ago(2), author_email=email,
                    sku="FAN-01", product_name="Pocket Fan")


def _worker(config_path: str, loops: int, later: float = 0.0) -> None:
    # Runs like a daemon would: process + dispatch, again and again, until killed. ``later``:
    # seconds after NOW this run takes place. A worker killed mid-delivery leaves its claim
    # leased until NOW plus the seconds it had run (the lease follows the clock): a run at NOW
    # exactly would not see it due yet, one started later does, as a restarted daemon would.
    from bot.decide.cases import process
    from bot.config import load
    from bot.outbox import dispatch_due
    from bot.store import open_store

    config = load(config_path)
    store = open_store(config.bot.database, config.base_dir)
    # The world's clock starts at NOW when the test started (RB_WORLD_T0, a time.time()) and runs
    # on across the workers it starts, as a real one would: a claim a killed worker took late in
    # its run is then due again for the next one (with every worker at NOW it never came due).
    started = float(os.environ.get("RB_WORLD_T0") or time.time())
    try:
        for _ in range(loops):
            now = NOW + timedelta(seconds=later + max(0.0, time.time() - started))
            process(store, config, now=now)
            summary = dispatch_due(store, config, now=now)
            if summary.dispatched == 0 and summary.retrying == 0:
                break
    finally:
        store.dispose()


if __name__ == "__main__":
    _worker(sys.argv[1], int(sys.argv[2]), float(sys.argv[3]) if len(sys.argv) > 3 else 0.0)
