"""The store's tables: SQLAlchemy 2.0 models for every stage.

The schema is created and upgraded by the Alembic migrations in ``bot/store/migrations``.
"""

from __future__ import annotations

import enum
import hashlib
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Numeric,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    delete,
    event,
    func,
    insert,
    inspect,
    false,
    true,
)
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship



def utcnow() -> datetime:
    """The current time, aware, in UTC (the only kind of datetime the store holds)."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """An aware UTC datetime on every backend (SQLite forgets the zone; we put it back)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r} given to the store; use aware UTC")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


Money = Numeric(12, 2)


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTCDateTime, dict[str, Any]: JSON, list[Any]: JSON}


class CaseStatus(str, enum.Enum):
    """Where a case stands; stored as its string value, shown as words in the digest."""

    NEW = "new"
    MATCHED = "matched"
    UNMATCHED = "unmatched"
    DECIDED = "decided"
    AWAITING_APPROVAL = "awaiting_approval"
    QUEUED = "queued"
    DISPATCHED = "dispatched"
    FAILED = "failed"
    DISMISSED = "dismissed"


class RemedyStatus(str, enum.Enum):
    """Where a remedy stands in the outbox."""

    PROPOSED = "proposed"  # waits for approval; no budget reserved yet
    QUEUED = "queued"  # budget reserved, waiting for dispatch
    DISPATCHED = "dispatched"
    FAILED = "failed"  # gave up after the configured attempts
    DRY_RUN = "dry_run"  # would have been queued (dry_run = true)
    CANCELLED = "cancelled"


class SourceState(Base):
    """Per-source cursor and health, kept across restarts."""

    __tablename__ = "source_state"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    kind: Mapped[str] = mapped_column(String(50))
    cursor: Mapped[dict[str, Any]] = mapped_column(default=dict)
    last_run_at: Mapped[datetime | None]
    last_success_at: Mapped[datetime | None]
    last_error_at: Mapped[datetime | None]
    last_error_kind: Mapped[str | None] = mapped_column(String(50))
    last_error_message: Mapped[str | None] = mapped_column(Text)
    last_error_url: Mapped[str | None] = mapped_column(Text)
    consecutive_failures: Mapped[int] = mapped_column(default=0)
    failing_since: Mapped[datetime | None]
    mentions_total: Mapped[int] = mapped_column(default=0)


class HttpCache(Base):
    """Validators of the last good response per URL, for conditional GET."""

    __tablename__ = "http_cache"

    url: Mapped[str] = mapped_column(String(2000), primary_key=True)
    etag: Mapped[str | None] = mapped_column(String(500))
    last_modified: Mapped[str | None] = mapped_column(String(100))
    content_hash: Mapped[str | None] = mapped_column(String(64))
    fetched_at: Mapped[datetime | None]


class Mention(Base):
    """One review or post, stored once per (source, external_id) (invariant 1)."""

    __tablename__ = "mention"
    __table_args__ = (
        UniqueConstraint("source", "external_id", name="uq_mention_source_external"),
        Index("ix_mention_collected", "collected_at"),
        # By words, then id: the copies of a text nearest a mention are read in order (issue 18).
        Index("ix_mention_fingerprint_id", "fingerprint", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(String(100))
    source_kind: Mapped[str] = mapped_column(String(50))
    external_id: Mapped[str] = mapped_column(String(500))
    url: Mapped[str | None] = mapped_column(Text)
    author_name: Mapped[str | None] = mapped_column(String(300))
    author_handle: Mapped[str | None] = mapped_column(String(300))
    author_email: Mapped[str | None] = mapped_column(String(300))
    product_sku: Mapped[str | None] = mapped_column(String(200))
    product_url: Mapped[str | None] = mapped_column(Text)
    product_name: Mapped[str | None] = mapped_column(String(500))
    rating: Mapped[float | None] = mapped_column(Float)
    title: Mapped[str | None] = mapped_column(Text)
    text: Mapped[str] = mapped_column(Text)
    language: Mapped[str | None] = mapped_column(String(20))
    published_at: Mapped[datetime | None]
    collected_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Normalised-text hash: the same complaint copied across sources shares it.
    fingerprint: Mapped[str] = mapped_column(String(64))
    raw: Mapped[dict[str, Any]] = mapped_column(default=dict)

    assessment: Mapped[Assessment | None] = relationship(back_populates="mention", uselist=False)


class Assessment(Base):
    """What the scorer said about a mention."""

    __tablename__ = "assessment"

    mention_id: Mapped[int] = mapped_column(ForeignKey("mention.id", ondelete="CASCADE"), primary_key=True)
    sentiment: Mapped[float] = mapped_column(Float)
    unhappy: Mapped[bool] = mapped_column(Boolean)
    issue: Mapped[str] = mapped_column(String(40))
    confidence: Mapped[float] = mapped_column(Float)
    cues: Mapped[list[Any]] = mapped_column(default=list)
    scored_at: Mapped[datetime] = mapped_column(default=utcnow)
    # The learned model's view (NULL on rows scored before it, or with [scoring] model = false).
    p_remedy: Mapped[float | None] = mapped_column(Float, default=None)
    p_issue: Mapped[float | None] = mapped_column(Float, default=None)
    remedy_worthy: Mapped[bool | None] = mapped_column(Boolean, default=None)
    sure: Mapped[bool | None] = mapped_column(Boolean, default=None)  # NULL: decided before the model (as sure)
    scored: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    language: Mapped[str | None] = mapped_column(String(12), default=None)
    # Set when the mention joins a case (bot.decide.cases): the pending lookup's partial index
    # then holds only what is new. A hint, not the truth: case_mention says what is linked.
    linked: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())

    mention: Mapped[Mention] = relationship(back_populates="assessment")


class Customer(Base):
    """A buyer, as the shop knows them. The email never leaves the store unmasked."""

    __tablename__ = "customer"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(300), unique=True)
    name: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    handles: Mapped[list[CustomerHandle]] = relationship(back_populates="customer")
    orders: Mapped[list[Order]] = relationship(back_populates="customer")


class CustomerHandle(Base):
    """A social handle known to belong to a customer (from the order export or `customers link`)."""

    __tablename__ = "customer_handle"

    handle: Mapped[str] = mapped_column(String(300), primary_key=True)  # lower-case, no leading @
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id", ondelete="CASCADE"))
    origin: Mapped[str] = mapped_column(String(20), default="order")  # order | manual
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    customer: Mapped[Customer] = relationship(back_populates="handles")


class Order(Base):
    """An order imported from the shop; re-syncing updates it in place."""

    __tablename__ = "shop_order"
    __table_args__ = (UniqueConstraint("origin", "number", name="uq_order_origin_number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    origin: Mapped[str] = mapped_column(String(30))  # csv | woocommerce | shopify | demo
    number: Mapped[str] = mapped_column(String(100))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id"))
    placed_at: Mapped[datetime]
    currency: Mapped[str] = mapped_column(String(3), default="EUR")
    total: Mapped[Decimal] = mapped_column(Money, default=Decimal("0"))
    shipping_country: Mapped[str | None] = mapped_column(String(2))
    fulfillment_status: Mapped[str | None] = mapped_column(String(40))
    tracking_status: Mapped[str | None] = mapped_column(String(40))
    delivered_at: Mapped[datetime | None]
    expected_delivery_at: Mapped[datetime | None]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    extra: Mapped[dict[str, Any]] = mapped_column(default=dict)

    customer: Mapped[Customer] = relationship(back_populates="orders")
    lines: Mapped[list[OrderLine]] = relationship(
        back_populates="order", cascade="all, delete-orphan", order_by="OrderLine.position"
    )


class OrderLine(Base):
    __tablename__ = "order_line"

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("shop_order.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(default=0)
    sku: Mapped[str | None] = mapped_column(String(200))
    name: Mapped[str] = mapped_column(String(500))
    product_url: Mapped[str | None] = mapped_column(Text)
    quantity: Mapped[int] = mapped_column(default=1)
    unit_price: Mapped[Decimal] = mapped_column(Money, default=Decimal("0"))

    order: Mapped[Order] = relationship(back_populates="lines")


class Case(Base):
    """One unhappy buyer with one problem, possibly seen in several mentions."""

    __tablename__ = "recovery_case"
    __table_args__ = (Index("ix_case_status", "status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    # Who and what: the same key and issue across sources merge into one case.
    subject_key: Mapped[str] = mapped_column(String(400), unique=True)
    issue: Mapped[str] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(30), default=CaseStatus.NEW.value)
    mention_id: Mapped[int] = mapped_column(ForeignKey("mention.id"))
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customer.id"))
    order_id: Mapped[int | None] = mapped_column(ForeignKey("shop_order.id"))
    order_line_id: Mapped[int | None] = mapped_column(ForeignKey("order_line.id"))
    match_confidence: Mapped[float | None] = mapped_column(Float)
    match_reasons: Mapped[list[Any]] = mapped_column(default=list)
    candidates: Mapped[list[Any]] = mapped_column(default=list)
    rule: Mapped[str | None] = mapped_column(String(200))
    reasons: Mapped[list[Any]] = mapped_column(default=list)  # why the decision (invariant 4)
    approval_reason: Mapped[str | None] = mapped_column(Text)
    approval_expires_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    mention: Mapped[Mention] = relationship(foreign_keys=[mention_id])
    order: Mapped[Order | None] = relationship()
    order_line: Mapped[OrderLine | None] = relationship()
    customer: Mapped[Customer | None] = relationship()
    remedies: Mapped[list[Remedy]] = relationship(back_populates="case", order_by="Remedy.id")
    links: Mapped[list[CaseMention]] = relationship(back_populates="case")


class CaseMention(Base):
    """Every mention that belongs to a case (copies across sources, repeats)."""

    __tablename__ = "case_mention"

    case_id: Mapped[int] = mapped_column(ForeignKey("recovery_case.id", ondelete="CASCADE"), primary_key=True)
    mention_id: Mapped[int] = mapped_column(ForeignKey("mention.id", ondelete="CASCADE"), primary_key=True, unique=True)

    case: Mapped[Case] = relationship(back_populates="links")
    mention: Mapped[Mention] = relationship()


class Remedy(Base):
    """One remedy in the outbox; the idempotency key makes it exist at most once (invariant 2)."""

    __tablename__ = "remedy"
    __table_args__ = (Index("ix_remedy_status", "status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("recovery_case.id"))
    kind: Mapped[str] = mapped_column(String(40))
    params: Mapped[dict[str, Any]] = mapped_column(default=dict)
    amount: Mapped[Decimal] = mapped_column(Money, default=Decimal("0"))
    currency: Mapped[str] = mapped_column(String(3), default="EUR")
    note: Mapped[str] = mapped_column(Text, default="")
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    status: Mapped[str] = mapped_column(String(20), default=RemedyStatus.QUEUED.value)
    adapter: Mapped[str | None] = mapped_column(String(100))
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    queued_at: Mapped[datetime | None]
    dispatched_at: Mapped[datetime | None]

    case: Mapped[Case] = relationship(back_populates="remedies")


class NoticeStatus(str, enum.Enum):
    """Where a buyer notice stands (one per case and note: the buyer is told why a remedy comes)."""

    QUEUED = "queued"  # waits for dispatch, like a queued remedy
    SENT = "sent"
    FAILED = "failed"  # gave up after the configured attempts
    NOT_TOLD = "not_told"  # cannot be sent (no email address); `last_error` says why


class Notice(Base):
    """The note of a case's remedies, told to the buyer once, whichever adapter delivers the remedies.

    Claimed and delivered like a remedy (attempts, a lease in ``next_attempt_at``); the unique
    ``idempotency_key`` (from the case and the note) makes it exist once, and it travels to the
    channel (the email's Message-ID, the customer email ledger, the shop's order note) so a retry
    after a crash never tells the buyer twice.
    """

    __tablename__ = "notice"
    __table_args__ = (Index("ix_notice_status", "status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("recovery_case.id"), index=True)
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    note: Mapped[str] = mapped_column(Text, default="")
    channel: Mapped[str | None] = mapped_column(String(100))  # the [[fulfilment]] entry that tells the buyer
    method: Mapped[str] = mapped_column(String(20), default="email")  # email | shop_note
    status: Mapped[str] = mapped_column(String(20), default=NoticeStatus.QUEUED.value)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    reference: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]

    case: Mapped[Case] = relationship()


class BudgetPeriod(Base):
    """Money reserved per day and per month; updated with a guarded UPDATE so it never overspends."""

    __tablename__ = "budget_period"

    period: Mapped[str] = mapped_column(String(20), primary_key=True)  # day:2026-11-23 | month:2026-11
    reserved: Mapped[Decimal] = mapped_column(Money, default=Decimal("0"))
    cap: Mapped[Decimal] = mapped_column(Money, default=Decimal("0"))


class Digest(Base):
    """One digest per period, sent at most once even across restarts."""

    __tablename__ = "digest"

    period: Mapped[str] = mapped_column(String(20), primary_key=True)  # local date, YYYY-MM-DD
    status: Mapped[str] = mapped_column(String(20), default="pending")  # pending | sent | failed | skipped
    subject: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    sent_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class AuditLog(Base):
    """Every decision and staff action, with who and why (invariant 4)."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    actor: Mapped[str] = mapped_column(String(50), default="bot")
    case_id: Mapped[int | None] = mapped_column(ForeignKey("recovery_case.id"))
    action: Mapped[str] = mapped_column(String(50))
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)


class RunLog(Base):
    """A line per job run (collect, process, dispatch, digest) for status and the digest."""

    __tablename__ = "run_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    job: Mapped[str] = mapped_column(String(100))
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]
    ok: Mapped[bool | None] = mapped_column(Boolean)
    summary: Mapped[dict[str, Any]] = mapped_column(default=dict)


class StaffLabel(Base):
    """What a person's decision says about a mention, kept as a label (approve: a remedy was right;
    reject: it was not), so the shop's own decisions can measure and later retrain the scorer."""

    __tablename__ = "staff_label"

    id: Mapped[int] = mapped_column(primary_key=True)
    mention_id: Mapped[int] = mapped_column(ForeignKey("mention.id", ondelete="CASCADE"), index=True)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("recovery_case.id", ondelete="SET NULL"))
    at: Mapped[datetime] = mapped_column(default=utcnow)
    actor: Mapped[str] = mapped_column(String(50))
    action: Mapped[str] = mapped_column(String(20))  # approved | rejected
    unhappy: Mapped[bool] = mapped_column(Boolean)
    issue: Mapped[str] = mapped_column(String(40))
    remedy_worthy: Mapped[bool] = mapped_column(Boolean)


class AlertSent(Base):
    """One instant alert per target and event (``bot.alerts``): claimed before it is sent, so it
    goes out at most once even with two workers; a failed send is kept with its error and retried."""

    __tablename__ = "alert_sent"
    __table_args__ = (UniqueConstraint("target", "event", name="uq_alert_target_event"),
                      Index("ix_alert_target_attempt", "target", "last_attempt_at"))

    id: Mapped[int] = mapped_column(primary_key=True)
    target: Mapped[str] = mapped_column(String(100))  # the [[alerts]] entry's name
    event: Mapped[str] = mapped_column(String(300))  # case_waiting:12, remedy_failed:7, ...
    status: Mapped[str] = mapped_column(String(20), default="sending")  # sending | sent | failed
    attempts: Mapped[int] = mapped_column(default=0)
    title: Mapped[str] = mapped_column(Text, default="")
    last_error: Mapped[str | None] = mapped_column(Text)
    last_attempt_at: Mapped[datetime | None]
    sent_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Meta(Base):
    """Facts about this database itself, by key (``install_id``: made once by migration 0002)."""

    __tablename__ = "meta"

    key: Mapped[str] = mapped_column(String(50), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


def fingerprint(text: str) -> str:
    """A hash of the normalised text: copies of one complaint on several sources share it."""
    normal = " ".join("".join(ch.lower() if ch.isalnum() else " " for ch in text).split())
    return hashlib.sha256(normal.encode("utf-8")).hexdigest()


class PublicReplyStatus(str, enum.Enum):
    """Where a public reply to a review stands (asked for by a person, posted once by the outbox)."""

    QUEUED = "queued"  # asked for; waits for dispatch (also through a dry run, until it ends)
    POSTED = "posted"
    FAILED = "failed"  # gave up after the configured attempts; `last_error` says why


class PublicReply(Base):
    """A public reply to the review of a case, asked for by a staff member (``recoverybot reply``).

    One per case: the unique ``idempotency_key`` travels to the review site (a marker in the reply)
    so a retry after a crash finds the reply an earlier attempt posted instead of posting twice.
    """

    __tablename__ = "public_reply"
    __table_args__ = (Index("ix_public_reply_status", "status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("recovery_case.id"), index=True)
    mention_id: Mapped[int] = mapped_column(ForeignKey("mention.id"))
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    source: Mapped[str] = mapped_column(String(100))  # the [[sources]] entry the review came from
    text: Mapped[str] = mapped_column(Text)
    asked_by: Mapped[str] = mapped_column(String(50))
    asked_at: Mapped[datetime] = mapped_column(default=utcnow)
    status: Mapped[str] = mapped_column(String(20), default=PublicReplyStatus.QUEUED.value)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    reference: Mapped[str | None] = mapped_column(Text)  # the site's id / link of the posted reply
    posted_at: Mapped[datetime | None]

    case: Mapped[Case] = relationship()
    mention: Mapped[Mention] = relationship()


class WebLinkUse(Base):
    """A signed web link that was used (``bot.web.links``): its signature's hash is the key, so a
    one-click approval or a sign-in link works once, even with two servers on one database."""

    __tablename__ = "web_link_use"

    digest: Mapped[str] = mapped_column(String(64), primary_key=True)  # sha256 of the link's signature
    action: Mapped[str] = mapped_column(String(20))  # approve | reject | change | signin
    case_id: Mapped[int | None]
    recipient: Mapped[str] = mapped_column(String(200))
    used_at: Mapped[datetime] = mapped_column(default=utcnow)


# --- lookups by index (issue 18: a cycle costs what is new, not what is stored) -------------------


class CustomerNameKey(Base):
    """A customer under each lookup key of their name (``bot.store.keys``): matching finds the
    customers a reviewer's name may be by index instead of comparing every customer's name.
    Kept in step with ``customer.name`` by the mapper events below (and filled by migration 0010)."""

    __tablename__ = "customer_name_key"

    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id", ondelete="CASCADE"), primary_key=True,
                                             index=True)


class MentionKey(Base):
    """Who a mention in a case may be, as lookup keys (``email:``, ``handle:``, ``order:`` and the
    name's keys), written when the mention joins a case: after an orders sync only the cases whose
    keys meet the changed customers' are matched again (``bot.decide.cases``)."""

    __tablename__ = "mention_key"

    key: Mapped[str] = mapped_column(String(400), primary_key=True)
    mention_id: Mapped[int] = mapped_column(ForeignKey("mention.id", ondelete="CASCADE"), primary_key=True,
                                            index=True)


Index("ix_remedy_case", Remedy.case_id)
Index("ix_order_placed", Order.placed_at)
Index("ix_order_updated", Order.updated_at)
# With the date: "has this customer ordered since ..." (the name lookup asks it of every
# customer a key finds) is answered from the index alone, without reading the order.
Index("ix_order_customer_placed", Order.customer_id, Order.placed_at)
Index("ix_order_line_order", OrderLine.order_id)
Index("ix_handle_customer", CustomerHandle.customer_id)
Index("ix_mention_handle_lower", func.lower(Mention.author_handle))
Index("ix_mention_email_lower", func.lower(Mention.author_email))
Index("ix_case_customer_issue_created", Case.customer_id, Case.issue, Case.created_at)
Index("ix_case_order", Case.order_id)
Index("ix_customer_email_lower", func.lower(Customer.email))
Index("ix_handle_created", CustomerHandle.created_at)
# The unhappy scored assessments not yet in a case: what `process` looks through for new work
# (it holds what is new, not every complaint ever stored).
Index("ix_assessment_unlinked", Assessment.mention_id,
      sqlite_where=Assessment.unhappy.is_(True) & Assessment.scored.is_(True) & Assessment.linked.is_(False),
      postgresql_where=Assessment.unhappy.is_(True) & Assessment.scored.is_(True) & Assessment.linked.is_(False))


def _name_key_rows(customer: Customer) -> list[dict[str, Any]]:
    from bot.store.keys import customer_name_keys

    return [{"key": key, "customer_id": customer.id} for key in customer_name_keys(customer.name)]


@event.listens_for(Customer, "after_insert")
def _customer_keys_added(_mapper: Any, connection: Connection, customer: Customer) -> None:
    rows = _name_key_rows(customer)
    if rows:
        connection.execute(insert(CustomerNameKey), rows)


@event.listens_for(Customer, "after_update")
def _customer_keys_changed(_mapper: Any, connection: Connection, customer: Customer) -> None:
    if not inspect(customer).attrs.name.history.has_changes():
        return
    connection.execute(delete(CustomerNameKey).where(CustomerNameKey.customer_id == customer.id))
    rows = _name_key_rows(customer)
    if rows:
        connection.execute(insert(CustomerNameKey), rows)
