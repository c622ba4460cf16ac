"""Orders in the store: the upsert every order source feeds, csv import, and incremental sync.

A replacement can only be shipped to a real order, so matching needs the shop's orders, their
lines and their delivery state. The sources (``connectors.orders``: csv, WooCommerce, Shopify)
parse; this module stores. Re-syncing updates orders in place (unique origin + number): delivery
status changes, lines are replaced, nothing is duplicated. Incremental sync keeps its cursor in
the ``SourceState`` row ``orders:<kind>``. Only what matching needs is stored: email, name,
handles, country, lines and dates (no addresses, phones or payment data).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from bot.errors import OrderSyncError
from bot.match import find_customer, normalise_handle
from bot.store import (
    Customer,
    CustomerHandle,
    CustomerNameKey,
    Order,
    OrderLine,
    SourceState,
    Store,
    dialect_insert,
    get_or_insert,
    insert_missing,
    utcnow,
)
from connectors.orders import API_SOURCES, OrderApi, OrdersConfig, ParsedOrder
from connectors.orders.csv import decode, read_csv

if TYPE_CHECKING:
    from bot.config import Config

Outcome = Literal["created", "updated", "unchanged"]


def upsert_order(session: Session, origin: str, parsed: ParsedOrder) -> Outcome:
    """Store one order: create it, or update it in place when it changed (never duplicate)."""
    customer = _upsert_customer(session, parsed.email, parsed.name)
    for handle in parsed.handles:
        _link_from_order(session, handle, customer)
    order = session.scalars(
        select(Order).where(Order.origin == origin, Order.number == parsed.number).options(selectinload(Order.lines))
    ).first()
    total = parsed.total if parsed.total is not None else sum(
        (line.unit_price * line.quantity for line in parsed.lines), Decimal(0)
    )
    values: dict[str, Any] = {
        "customer_id": customer.id,
        "placed_at": parsed.placed_at,
        "currency": parsed.currency,
        "total": total.quantize(Decimal("0.01")),
        "shipping_country": parsed.country,
        "fulfillment_status": parsed.fulfillment_status,
        "tracking_status": parsed.tracking_status,
        "delivered_at": parsed.delivered_at,
        "expected_delivery_at": parsed.expected_delivery_at,
        "extra": parsed.extra,
    }
    new_lines = [(ln.sku, ln.name, ln.product_url, ln.quantity, ln.unit_price.quantize(Decimal("0.01")))
                 for ln in parsed.lines]
    if order is None:
        # Another worker may import the same order right now: the unique (origin, number) decides
        # who creates it; the other one finds it made and updates it in place like any re-sync.
        created = insert_missing(session, Order, {"origin": origin, "number": parsed.number, **values},
                                 ["origin", "number"])
        order = session.scalars(
            select(Order).where(Order.origin == origin, Order.number == parsed.number)
            .options(selectinload(Order.lines)).execution_options(populate_existing=True)
        ).one()
        if created:
            order.lines = [OrderLine(position=i, sku=s, name=n, product_url=u, quantity=q, unit_price=p)
                           for i, (s, n, u, q, p) in enumerate(new_lines)]
            session.flush()
            return "created"
    changed = False
    for key, value in values.items():
        if getattr(order, key) != value:
            setattr(order, key, value)
            changed = True
    old_lines = [(ln.sku, ln.name, ln.product_url, ln.quantity, Decimal(ln.unit_price).quantize(Decimal("0.01")))
                 for ln in order.lines]
    if old_lines != new_lines:
        # Update lines in place by position so their ids (referenced by cases) survive.
        for i, (s, n, u, q, p) in enumerate(new_lines):
            if i < len(order.lines):
                line = order.lines[i]
                line.sku, line.name, line.product_url, line.quantity, line.unit_price = s, n, u, q, p
            else:
                order.lines.append(OrderLine(position=i, sku=s, name=n, product_url=u, quantity=q, unit_price=p))
        for line in list(order.lines[len(new_lines):]):
            order.lines.remove(line)
        changed = True
    if changed:
        order.updated_at = utcnow()
    session.flush()
    return "updated" if changed else "unchanged"


def _upsert_customer(session: Session, email: str, name: str | None) -> Customer:
    wanted = email.strip().lower()
    # Our own rows are lower-case: the unique index answers, no scan per new customer.
    customer = find_customer(session, wanted, scan=False)
    if customer is None:
        # Two workers importing the same buyer: the unique email decides, both use the one row.
        if insert_missing(session, Customer, {"email": wanted, "name": name or None}, ["email"]):
            customer = _customer(session, wanted)
            _add_name_keys(session, customer)
            return customer
        customer = _customer(session, wanted)
    if name and customer.name != name:
        customer.name = name
    return customer


def _add_name_keys(session: Session, customer: Customer) -> None:
    """The name lookup keys of a customer inserted with INSERT ... ON CONFLICT: a Core insert runs
    no mapper events, so the keys the ORM's insert event writes (bot.store.models) are written here;
    matching finds customers by these keys only."""
    from bot.store.keys import customer_name_keys

    rows = [{"key": key, "customer_id": customer.id} for key in customer_name_keys(customer.name)]
    if rows:
        session.execute(dialect_insert(session, CustomerNameKey).values(rows).on_conflict_do_nothing())


def _customer(session: Session, email: str) -> Customer:
    customer = find_customer(session, email, scan=False)
    if customer is None:  # pragma: no cover - just inserted, by us or by another worker
        raise OrderSyncError("a customer vanished right after it was stored", hint="run the import again")
    return customer


def _link_from_order(session: Session, handle: str, customer: Customer) -> None:
    key = normalise_handle(handle)
    if not key or key.endswith(":"):
        return
    row = session.get(CustomerHandle, key)
    if row is None:
        if insert_missing(session, CustomerHandle, {"handle": key, "customer_id": customer.id, "origin": "order"},
                          ["handle"]):
            return
        row = session.get(CustomerHandle, key, populate_existing=True)  # another worker linked it first
    if row is not None and row.origin == "order" and row.customer_id != customer.id:
        row.customer_id = customer.id  # the newest export wins; staff links (manual) are kept
        row.created_at = utcnow()  # linked anew: waiting cases are matched against it


# --- summaries ------------------------------------------------------------------------------


@dataclass
class ImportSummary:
    """What `orders import FILE` (or a csv sync) did; errors carry csv line numbers."""

    path: str
    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors

    def lines(self) -> list[str]:
        out = [(f"{self.path}: {self.rows} rows, orders {self.created} new, {self.updated} updated, "
                f"{self.unchanged} unchanged, {len(self.errors)} bad rows")]
        out.extend(f"  {error}" for error in self.errors[:50])
        if len(self.errors) > 50:
            out.append(f"  ... and {len(self.errors) - 50} more bad rows")
        return out


@dataclass
class SyncSummary:
    """What one `orders sync` did."""

    kind: str
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    pages: int = 0
    skipped: str | None = None  # why nothing was read (unchanged file, kind none)
    cursor: dict[str, Any] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors

    def lines(self) -> list[str]:
        if self.skipped:
            return [f"orders ({self.kind}): {self.skipped}"]
        out = [f"orders ({self.kind}): {self.created} new, {self.updated} updated, {self.unchanged} unchanged"
               + (f" in {self.pages} pages" if self.pages else "")]
        out.extend(f"  {error}" for error in self.errors[:50])
        return out

    def count(self, outcome: Outcome) -> None:
        setattr(self, outcome, getattr(self, outcome) + 1)


# --- csv ------------------------------------------------------------------------------------


def import_file(store: Store, path: Path | str, orders_config: OrdersConfig, *, origin: str = "csv") -> ImportSummary:
    """Import an orders csv: bad rows are listed with line numbers in ``.errors``; the rest stored."""
    file = Path(path)
    try:
        data = file.read_bytes()
    except OSError as exc:
        raise OrderSyncError(f"cannot read orders file {file}: {exc.strerror or exc}",
                             hint="check the file's name and folder") from exc
    return _import_bytes(store, data, str(file), orders_config, origin)


def _import_bytes(store: Store, data: bytes, where: str, config: OrdersConfig, origin: str) -> ImportSummary:
    parsed, rows, errors = read_csv(decode(data, where), config, where)
    summary = ImportSummary(path=where, rows=rows, errors=errors)
    with store.session() as session:
        for order in parsed:
            outcome = upsert_order(session, origin, order)
            setattr(summary, outcome, getattr(summary, outcome) + 1)
    return summary


# --- sync -----------------------------------------------------------------------------------


def state_name(kind: str) -> str:
    """The SourceState row that keeps an order source's cursor."""
    return f"orders:{kind}"


def sync(
    config: Config | OrdersConfig,
    store: Store,
    *,
    client: httpx.Client | None = None,
    now: datetime | None = None,
    sleep: Callable[[float], None] = time.sleep,
    base_dir: Path | None = None,
) -> SyncSummary:
    """Bring orders up to date from the configured source, incrementally.

    ``config`` is the whole Config (its [orders] section and folder are used) or an OrdersConfig
    with ``base_dir``. The cursor is saved only after a successful run, so a failed run is
    simply repeated next time; upserts make the overlap harmless.
    """
    if isinstance(config, OrdersConfig):
        orders_config, folder = config, base_dir or Path.cwd()
    else:
        orders_config, folder = config.orders, config.base_dir
    moment = now or utcnow()
    kind = orders_config.kind
    if kind == "none":
        return SyncSummary(kind=kind, skipped="no order source configured ([orders] kind = \"none\")")
    name = state_name(kind)
    with store.session() as session:
        state = session.get(SourceState, name)
        cursor = dict(state.cursor) if state is not None and state.kind == kind else {}
        if state is not None:
            state.last_run_at = moment
    try:
        if kind == "csv":
            summary = _sync_csv(orders_config, folder, store, cursor)
        else:
            own = client is None
            http = client or httpx.Client(timeout=orders_config.timeout, follow_redirects=True)
            try:
                api = OrderApi(http, orders_config, sleep)
                summary = _sync_api(kind, orders_config, store, api, cursor, moment)
            finally:
                if own:
                    http.close()
    except OrderSyncError as exc:
        _record(store, name, kind, moment, cursor=None, error=exc)
        raise
    _record(store, name, kind, moment, cursor=summary.cursor, error=None)
    return summary


def _record(store: Store, name: str, kind: str, moment: datetime, *, cursor: dict[str, Any] | None,
            error: OrderSyncError | None) -> None:
    with store.session() as session:
        state = get_or_insert(session, SourceState, {"name": name}, kind=kind, cursor={})
        state.kind = kind
        state.last_run_at = moment
        if error is None:
            state.cursor = dict(cursor or {})
            state.last_success_at = moment
            state.consecutive_failures = 0
            state.failing_since = None
        else:
            state.last_error_at = moment
            state.last_error_kind = "orders"
            state.last_error_message = error.message[:2000]
            state.consecutive_failures = (state.consecutive_failures or 0) + 1
            state.failing_since = state.failing_since or moment


def _sync_csv(config: OrdersConfig, folder: Path, store: Store, cursor: dict[str, Any]) -> SyncSummary:
    file = config.resolved_path(folder)
    if file is None:
        raise OrderSyncError("[orders] kind = \"csv\" needs a path", hint="set [orders] path = \"orders.csv\"")
    try:
        data = file.read_bytes()
    except OSError as exc:
        raise OrderSyncError(f"cannot read orders file {config.path}: {exc.strerror or exc}",
                             hint="check [orders] path (relative to the config file)") from exc
    digest = hashlib.sha256(data).hexdigest()
    if cursor.get("sha256") == digest:
        return SyncSummary(kind="csv", skipped=f"{config.path} unchanged since the last sync", cursor=cursor)
    result = _import_bytes(store, data, config.path or str(file), config, "csv")
    return SyncSummary(kind="csv", created=result.created, updated=result.updated, unchanged=result.unchanged,
                       cursor={"sha256": digest}, errors=result.errors)


def _sync_api(kind: str, config: OrdersConfig, store: Store, api: OrderApi, cursor: dict[str, Any],
              moment: datetime) -> SyncSummary:
    """Store each page an API source yields in its own transaction; the cursor is the last page's."""
    summary = SyncSummary(kind=kind, cursor=dict(cursor))
    for page in API_SOURCES[kind](config, api, cursor, moment):
        summary.pages += 1
        summary.errors.extend(page.errors)
        with store.session() as session:
            for parsed in page.orders:
                summary.count(upsert_order(session, kind, parsed))
        summary.cursor = page.cursor
    return summary


def iter_orders(session: Session, origin: str | None = None) -> Iterator[Order]:
    """Stored orders, newest first (for status and the digest)."""
    stmt = select(Order).order_by(Order.placed_at.desc())
    if origin:
        stmt = stmt.where(Order.origin == origin)
    yield from session.scalars(stmt)
