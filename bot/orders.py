"""Order sources: import the shop's orders (csv, WooCommerce, Shopify) into the store.

A replacement can only be shipped to a real order, so matching needs the shop's orders, their
lines and their delivery state. Three sources feed the same upsert:

- ``csv``: a file with one row per order line (columns in :data:`CSV_COLUMNS`; other exports
  are read through ``[orders] columns`` header mapping). Bad rows are reported with their line
  numbers; the rest are imported.
- ``woocommerce``: REST v3 ``GET /wp-json/wc/v3/orders`` with ``modified_after`` (GMT),
  ``page``/``per_page`` and the ``X-WP-TotalPages`` header; key and secret from env vars.
- ``shopify``: the Admin GraphQL ``orders`` query (REST is legacy), filtered by
  ``updated_at:>=``, paged with ``pageInfo.endCursor``, throttled by ``extensions.cost``.
  Shopify only returns the last 60 days of orders unless the app has ``read_all_orders``.

Re-syncing updates orders in place (unique origin + number): delivery status changes, lines are
replaced, nothing is duplicated. Incremental sync keeps its cursor in the ``SourceState`` row
``orders:<kind>``. Only what matching needs is stored: email, name, handles, country, lines and
dates (no addresses, phones or payment data).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import httpx
from pydantic import model_validator, BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from bot.errors import OrderSyncError
from bot.match import find_customer, mask_email, normalise_handle
from bot.store import Customer, CustomerHandle, Order, OrderLine, SourceState, Store, utcnow

if TYPE_CHECKING:
    from bot.config import Config

# The csv columns read by default, in the demo's order. One row per order line; rows sharing
# order_number are one order.
CSV_COLUMNS = (
    "order_number", "order_date", "customer_email", "customer_name", "social_handles",
    "shipping_country", "currency", "sku", "product_name", "product_url", "quantity", "unit_price",
    "fulfillment_status", "tracking_status", "delivered_date", "expected_delivery_date",
)
REQUIRED_COLUMNS = ("order_number", "order_date", "customer_email")
FULFILLMENT = ("unfulfilled", "fulfilled", "partial", "cancelled")
TRACKING = ("pending", "in_transit", "delivered", "lost", "returned")
_FULFILLMENT_ALIASES = {
    "canceled": "cancelled", "partially_fulfilled": "partial", "partially fulfilled": "partial",
    "shipped": "fulfilled", "complete": "fulfilled", "completed": "fulfilled", "open": "unfulfilled",
}
_TRACKING_ALIASES = {
    "in transit": "in_transit", "intransit": "in_transit", "shipped": "in_transit",
    "out_for_delivery": "in_transit", "lost_in_transit": "lost", "returned_to_sender": "returned",
}


class OrdersConfig(BaseModel):
    """[orders]: where the shop's orders come from."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["none", "csv", "woocommerce", "shopify"] = Field("none", description="Order source: csv, woocommerce, shopify, or none.")
    path: str | None = Field(None, description="csv: the orders file (relative to this config).")
    columns: dict[str, str] = Field(
        default_factory=dict,
        description="csv: header mapping for other exports, our column name = their header "
        "(e.g. order_number = \"Order ID\"). Unmapped columns keep their default names.",
    )
    delimiter: str = Field(",", min_length=1, max_length=1, description="csv: the field separator.")
    default_currency: str = Field("EUR", description="csv: currency of rows without a currency column.")
    url: str | None = Field(None, description="woocommerce: the shop's base URL (https://shop.example).")
    consumer_key_env: str = Field(
        "RECOVERYBOT_WC_KEY", description="woocommerce: environment variable holding the REST API consumer key."
    )
    consumer_secret_env: str = Field(
        "RECOVERYBOT_WC_SECRET", description="woocommerce: environment variable holding the REST API consumer secret."
    )
    handles_meta_key: str = Field(
        "social_handles", description="woocommerce: order meta key holding space-separated social handles, if any."
    )
    shop: str | None = Field(
        None, description="shopify: the shop domain (myshop.myshopify.com) or a full base URL."
    )
    api_version: str = Field("2025-01", description="shopify: Admin API version (YYYY-MM).")
    access_token_env: str = Field(
        "RECOVERYBOT_SHOPIFY_TOKEN", description="shopify: environment variable holding the Admin API access token."
    )
    page_size: int = Field(50, ge=1, le=250, description="Orders asked per API page (WooCommerce max 100, Shopify max 250).")
    first_sync_days: int = Field(
        180, ge=1, description="The first API sync reads orders modified in this many past days."
    )
    overlap_minutes: int = Field(
        10, ge=0, description="Each API sync re-reads this many minutes before the last cursor (clock skew)."
    )
    timeout: float = Field(30.0, gt=0, description="Seconds before an order API request gives up.")
    retries: int = Field(3, ge=0, description="Retries of an order API request on 429/5xx/network errors.")

    @field_validator("api_version")
    @classmethod
    def _version(cls, value: str) -> str:
        if value != "unstable" and not (len(value) == 7 and value[4] == "-" and value.replace("-", "").isdigit()):
            raise ValueError(f"{value!r} is not a Shopify API version like '2025-01'")
        return value

    @field_validator("columns")
    @classmethod
    def _known_columns(cls, value: dict[str, str]) -> dict[str, str]:
        unknown = sorted(set(value) - set(CSV_COLUMNS))
        if unknown:
            raise ValueError(f"unknown csv column(s) {', '.join(unknown)}; ours are: {', '.join(CSV_COLUMNS)}")
        return value

    @model_validator(mode="after")
    def _needs(self) -> OrdersConfig:
        # csv may go without a path: `orders import FILE` names the file itself.
        needed = {"woocommerce": ("url", "https://shop.example"), "shopify": ("shop", "myshop.myshopify.com")}.get(
            self.kind)
        if needed and not getattr(self, needed[0]):
            raise ValueError(f'kind = "{self.kind}" needs {needed[0]} (e.g. {needed[0]} = "{needed[1]}")')
        return self

    def describe(self) -> str:
        if self.kind == "csv":
            return f"csv {self.path}"
        if self.kind == "woocommerce":
            return f"woocommerce {self.url}"
        if self.kind == "shopify":
            return f"shopify {self.shop} (API {self.api_version})"
        return self.kind

    def resolved_path(self, base_dir: Path) -> Path | None:
        return (base_dir / self.path) if self.path else None


# --- parsed orders and the upsert -----------------------------------------------------------


@dataclass
class ParsedLine:
    """One order line as a source gives it."""

    name: str
    sku: str | None = None
    product_url: str | None = None
    quantity: int = 1
    unit_price: Decimal = Decimal(0)


@dataclass
class ParsedOrder:
    """One order as a source gives it, before it is stored."""

    number: str
    placed_at: datetime
    email: str
    name: str | None = None
    handles: list[str] = field(default_factory=list)
    country: str | None = None
    currency: str = "EUR"
    total: Decimal | None = None
    fulfillment_status: str | None = None
    tracking_status: str | None = None
    delivered_at: datetime | None = None
    expected_delivery_at: datetime | None = None
    lines: list[ParsedLine] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)


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
        order = Order(origin=origin, number=parsed.number, **values)
        order.lines = [OrderLine(position=i, sku=s, name=n, product_url=u, quantity=q, unit_price=p)
                       for i, (s, n, u, q, p) in enumerate(new_lines)]
        session.add(order)
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
        customer = Customer(email=wanted, name=name or None)
        session.add(customer)
        session.flush()
    elif name and customer.name != name:
        customer.name = name
    return customer


def _link_from_order(session: Session, handle: str, customer: Customer) -> None:
    key = normalise_handle(handle)
    if not key or key.endswith(":"):
        return
    row = session.get(CustomerHandle, key)
    if row is None:
        session.add(CustomerHandle(handle=key, customer_id=customer.id, origin="order"))
        session.flush()
    elif row.origin == "order" and row.customer_id != customer.id:
        row.customer_id = customer.id  # the newest export wins; staff links (manual) are kept


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


def _parse_when(text: str, column: str) -> datetime:
    """ISO 8601 date or datetime; a date or a naive time is taken as UTC."""
    value = text.strip()
    try:
        if len(value) == 10:
            day = date.fromisoformat(value)
            return datetime(day.year, day.month, day.day, tzinfo=UTC)
        moment = datetime.fromisoformat(value)
    except ValueError as exc:
        raise ValueError(f"{column} {text!r} is not an ISO 8601 date (2026-03-01 or 2026-03-01T10:00:00Z)") from exc
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _money(text: str, column: str) -> Decimal:
    value = text.strip().lstrip("€$£").strip()
    if "," in value and "." not in value:
        value = value.replace(",", ".")
    try:
        amount = Decimal(value or "0")
    except InvalidOperation as exc:
        raise ValueError(f"{column} {text!r} is not an amount like 12.50") from exc
    if amount < 0 or not amount.is_finite():
        raise ValueError(f"{column} {text!r} must be zero or more")
    return amount


def _quantity(text: str) -> int:
    value = text.strip() or "1"
    try:
        number = float(value)
    except ValueError as exc:
        raise ValueError(f"quantity {text!r} is not a number") from exc
    if number <= 0 or number != int(number):
        raise ValueError(f"quantity {text!r} must be a whole number above zero")
    return int(number)


def _status(text: str, allowed: tuple[str, ...], aliases: dict[str, str], column: str) -> str | None:
    value = text.strip().lower()
    if not value:
        return None
    value = aliases.get(value, value).replace(" ", "_")
    if value not in allowed:
        raise ValueError(f"{column} {text!r} is not one of {', '.join(allowed)}")
    return value


def _decode(data: bytes, path: str) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        from charset_normalizer import from_bytes

        best = from_bytes(data).best()
        if best is None:
            raise OrderSyncError(f"{path}: cannot tell the file's text encoding",
                                 hint="save the export as UTF-8") from None
        return str(best)


def read_csv(text: str, config: OrdersConfig, path: str = "orders.csv") -> tuple[list[ParsedOrder], int, list[str]]:
    """Parse an orders csv: (orders, data rows, errors 'line N: ...'). Bad rows are skipped."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=config.delimiter)
    try:
        header = next(reader)
    except StopIteration:
        raise OrderSyncError(f"{path}: the file is empty", hint="export orders with a header row") from None
    header = [h.strip() for h in header]
    index: dict[str, int] = {}
    for column in CSV_COLUMNS:
        wanted = config.columns.get(column, column)
        for i, name in enumerate(header):
            if name.lower() == wanted.lower():
                index[column] = i
                break
    missing = [c for c in REQUIRED_COLUMNS if c not in index]
    if "sku" not in index and "product_name" not in index:
        missing.append("sku or product_name")
    if missing:
        hint = "map your export's headers in [orders] columns, e.g. order_number = \"Order ID\""
        if len(header) == 1 and any(sep in header[0] for sep in ";\t|"):
            # One column that holds the separators of another dialect: the delimiter is wrong.
            sep = next(sep for sep in ";\t|" if sep in header[0])
            hint = f"the file looks {'tab' if sep == chr(9) else repr(sep)}-separated: set [orders] delimiter = {sep!r}"
        raise OrderSyncError(
            f"{path}: line 1: missing column(s) {', '.join(missing)} (header: {', '.join(header)})",
            hint=hint,
        )
    orders: dict[str, ParsedOrder] = {}
    errors: list[str] = []
    rows = 0
    line_no = 1
    while True:
        start = reader.line_num + 1
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            errors.append(f"line {start}: unreadable csv: {exc}")
            break
        line_no = start
        if not any(cell.strip() for cell in row):
            continue
        rows += 1

        def get(column: str, row: list[str] = row) -> str:
            i = index.get(column)
            return row[i].strip() if i is not None and i < len(row) else ""

        try:
            number = get("order_number")
            if not number:
                raise ValueError("order_number is empty")
            email = get("customer_email")
            if "@" not in email or email.startswith("@") or email.endswith("@"):
                raise ValueError(f"customer_email {mask_email(email) if '@' in email else repr(email)} is not an email")
            placed = _parse_when(get("order_date"), "order_date")
            name = get("product_name") or get("sku")
            if not name:
                raise ValueError("the row names no product (sku and product_name are empty)")
            line = ParsedLine(
                name=name,
                sku=get("sku") or None,
                product_url=get("product_url") or None,
                quantity=_quantity(get("quantity")),
                unit_price=_money(get("unit_price"), "unit_price"),
            )
            fulfilment = _status(get("fulfillment_status"), FULFILLMENT, _FULFILLMENT_ALIASES, "fulfillment_status")
            tracking = _status(get("tracking_status"), TRACKING, _TRACKING_ALIASES, "tracking_status")
            delivered = _parse_when(get("delivered_date"), "delivered_date") if get("delivered_date") else None
            expected = (_parse_when(get("expected_delivery_date"), "expected_delivery_date")
                        if get("expected_delivery_date") else None)
            currency = (get("currency") or config.default_currency).upper()
            if len(currency) != 3 or not currency.isalpha():
                raise ValueError(f"currency {currency!r} is not a three-letter code")
            country = get("shipping_country").upper() or None
            if country is not None and (len(country) != 2 or not country.isalpha()):
                raise ValueError(f"shipping_country {country!r} is not a two-letter country code")
        except ValueError as exc:
            errors.append(f"line {line_no}: {exc}")
            continue
        order = orders.get(number)
        if order is None:
            orders[number] = ParsedOrder(
                number=number, placed_at=placed, email=email.lower(), name=get("customer_name") or None,
                handles=get("social_handles").split(), country=country, currency=currency,
                fulfillment_status=fulfilment, tracking_status=tracking, delivered_at=delivered,
                expected_delivery_at=expected, lines=[line],
            )
        elif order.email != email.lower():
            errors.append(f"line {line_no}: order {number} already belongs to {mask_email(order.email)}, "
                          f"this row says {mask_email(email)}; row skipped")
        else:
            order.lines.append(line)
            order.handles.extend(h for h in get("social_handles").split() if h not in order.handles)
    return list(orders.values()), rows, errors


def import_file(store: Store, path: Path | str, orders_config: OrdersConfig, *, origin: str = "csv") -> ImportSummary:
    """Import an orders csv: bad rows are listed with line numbers in ``.errors``; the rest stored."""
    file = Path(path)
    try:
        data = file.read_bytes()
    except OSError as exc:
        raise OrderSyncError(f"cannot read orders file {file}: {exc.strerror or exc}",
                             hint="check [orders] path (relative to the config file)") from exc
    return _import_bytes(store, data, str(file), orders_config, origin)


def _import_bytes(store: Store, data: bytes, where: str, config: OrdersConfig, origin: str) -> ImportSummary:
    parsed, rows, errors = read_csv(_decode(data, where), config, where)
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
                api = _Api(http, orders_config, sleep)
                if kind == "woocommerce":
                    summary = _sync_woocommerce(orders_config, store, api, cursor, moment)
                else:
                    summary = _sync_shopify(orders_config, store, api, cursor, moment)
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
        state = session.get(SourceState, name)
        if state is None:
            state = SourceState(name=name, kind=kind, cursor={})
            session.add(state)
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


class _Api:
    """An order API client: retries 429/5xx/network errors with backoff, maps failures."""

    def __init__(self, client: httpx.Client, config: OrdersConfig, sleep: Callable[[float], None]) -> None:
        self.client = client
        self.config = config
        self.sleep = sleep

    def send(self, method: str, url: str, *, what: str, **kwargs: Any) -> httpx.Response:
        attempt = 0
        while True:
            try:
                response = self.client.request(method, url, timeout=self.config.timeout, **kwargs)
            except httpx.HTTPError as exc:
                if attempt < self.config.retries:
                    self.sleep(min(2.0**attempt, 30.0))
                    attempt += 1
                    continue
                raise OrderSyncError(f"{what}: {url}: {type(exc).__name__}: {exc}",
                                     hint="check the shop URL and that the shop answers") from exc
            if (response.status_code == 429 or response.status_code >= 500) and attempt < self.config.retries:
                self.sleep(_retry_after(response.headers.get("retry-after"), attempt))
                attempt += 1
                continue
            if response.status_code in (401, 403):
                raise OrderSyncError(
                    f"{what}: {url}: HTTP {response.status_code} (credentials refused)",
                    hint="check the key/token environment variables named in [orders] and the API permissions",
                )
            if response.status_code >= 400:
                raise OrderSyncError(f"{what}: {url}: HTTP {response.status_code}: {response.text[:200]}")
            return response


def _retry_after(value: str | None, attempt: int) -> float:
    try:
        return min(max(float(value or ""), 0.0), 60.0)
    except ValueError:
        return min(2.0**attempt, 30.0)


def _json(response: httpx.Response, what: str) -> Any:
    try:
        return response.json()
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise OrderSyncError(f"{what}: {response.url}: the answer is not JSON ({exc})",
                             hint="check the URL points at the shop's API") from exc


def _since(cursor: dict[str, Any], key: str, config: OrdersConfig, moment: datetime) -> datetime:
    if cursor.get(key):
        return _parse_when(str(cursor[key]), key) - timedelta(minutes=config.overlap_minutes)
    return moment - timedelta(days=config.first_sync_days)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")


def _when(value: Any) -> datetime | None:
    """An API timestamp: aware ISO, or a naive GMT one (WooCommerce *_gmt fields)."""
    if not value or not isinstance(value, str):
        return None
    try:
        return _parse_when(value, "timestamp")
    except ValueError:
        return None


# --- woocommerce ----------------------------------------------------------------------------


def _sync_woocommerce(config: OrdersConfig, store: Store, api: _Api, cursor: dict[str, Any],
                      moment: datetime) -> SyncSummary:
    from bot.config import secret

    if not config.url:
        raise OrderSyncError("[orders] kind = \"woocommerce\" needs url", hint="set [orders] url = \"https://shop.example\"")
    key = secret(config.consumer_key_env, "orders.consumer_key_env")
    password = secret(config.consumer_secret_env, "orders.consumer_secret_env")
    endpoint = config.url.rstrip("/") + "/wp-json/wc/v3/orders"
    since = _since(cursor, "modified_after", config, moment)
    summary = SyncSummary(kind="woocommerce")
    newest = cursor.get("modified_after")
    page = 1
    while True:
        response = api.send(
            "GET", endpoint, what="woocommerce orders", auth=(key, password),
            params={"modified_after": _iso(since), "dates_are_gmt": "true", "orderby": "modified",
                    "order": "asc", "page": page, "per_page": min(config.page_size, 100)},
        )
        items = _json(response, "woocommerce orders")
        if isinstance(items, dict) and isinstance(items.get("data"), list):
            items = items["data"]  # the WordPress.com proxy's envelope
        if not isinstance(items, list):
            raise OrderSyncError(f"woocommerce orders: {endpoint}: expected a list of orders, got {type(items).__name__}")
        summary.pages += 1
        with store.session() as session:
            for item in items:
                try:
                    parsed = woocommerce_order(item, config)
                except ValueError as exc:
                    summary.errors.append(f"order {item.get('number') or item.get('id')}: {exc}")
                    continue
                if parsed is None:
                    continue
                summary.count(upsert_order(session, "woocommerce", parsed))
                modified = item.get("date_modified_gmt")
                if isinstance(modified, str) and (newest is None or modified > newest):
                    newest = modified
        try:
            pages = int(response.headers.get("x-wp-totalpages", "1"))
        except ValueError:
            pages = 1
        if page >= pages or not items:
            break
        page += 1
    summary.cursor = {"modified_after": newest} if newest else dict(cursor)
    return summary


_WC_CANCELLED = {"cancelled", "refunded", "failed", "trash"}


def woocommerce_order(item: dict[str, Any], config: OrdersConfig) -> ParsedOrder | None:
    """A WooCommerce REST v3 order as a ParsedOrder (None for drafts/checkouts without an email)."""
    billing = item.get("billing") or {}
    shipping = item.get("shipping") or {}
    email = (billing.get("email") or "").strip()
    status = str(item.get("status") or "")
    if status == "checkout-draft" or not email:
        return None
    placed = _when(item.get("date_created_gmt")) or _when(item.get("date_created"))
    if placed is None:
        raise ValueError("no date_created_gmt")
    name = " ".join(p for p in (billing.get("first_name"), billing.get("last_name")) if p) or None
    meta = {m.get("key"): m.get("value") for m in item.get("meta_data") or [] if isinstance(m, dict)}
    handles = str(meta.get(config.handles_meta_key) or "").split()
    completed = _when(item.get("date_completed_gmt"))
    tracking: str | None = None
    delivered: datetime | None = None
    if status in _WC_CANCELLED:
        fulfilment = "cancelled"
    elif status in ("completed", "delivered"):
        fulfilment = "fulfilled"
        if status == "delivered":  # order-status plugins add it; WooCommerce core stops at completed
            tracking, delivered = "delivered", _when(item.get("date_modified_gmt"))
    else:
        fulfilment = "unfulfilled"
    if tracking is None and meta.get("_wc_shipment_tracking_items"):
        tracking = "in_transit" if fulfilment == "fulfilled" else None
    lines = []
    for raw in item.get("line_items") or []:
        quantity = raw.get("quantity") or 1
        try:
            price = Decimal(str(raw.get("price") if raw.get("price") not in (None, "") else raw.get("total") or 0))
        except InvalidOperation:
            price = Decimal(0)
        lines.append(ParsedLine(
            name=str(raw.get("name") or raw.get("sku") or f"product {raw.get('product_id')}"),
            sku=str(raw.get("sku")) or None if raw.get("sku") else None,
            quantity=max(1, round(float(quantity))),
            unit_price=price,
        ))
    try:
        total = Decimal(str(item.get("total"))) if item.get("total") not in (None, "") else None
    except InvalidOperation:
        total = None
    return ParsedOrder(
        number=str(item.get("number") or item.get("id")),
        placed_at=placed,
        email=email.lower(),
        name=name,
        handles=handles,
        country=(shipping.get("country") or billing.get("country") or None),
        currency=str(item.get("currency") or "EUR").upper(),
        total=total,
        fulfillment_status=fulfilment,
        tracking_status=tracking,
        delivered_at=delivered,
        extra={"id": item.get("id"), "status": status,
               **({"shipped_at": completed.isoformat()} if completed else {})},
        lines=lines,
    )


# --- shopify --------------------------------------------------------------------------------

SHOPIFY_ORDERS_QUERY = """
query RecoverybotOrders($first: Int!, $after: String, $query: String) {
  orders(first: $first, after: $after, query: $query, sortKey: UPDATED_AT) {
    pageInfo { hasNextPage endCursor }
    nodes {
      id
      name
      createdAt
      updatedAt
      cancelledAt
      email
      currencyCode
      displayFulfillmentStatus
      totalPriceSet { shopMoney { amount currencyCode } }
      customer { id email firstName lastName displayName }
      shippingAddress { countryCodeV2 }
      lineItems(first: 50) {
        nodes {
          sku
          name
          quantity
          originalUnitPriceSet { shopMoney { amount } }
          product { onlineStoreUrl }
        }
      }
      fulfillments(first: 10) {
        status
        displayStatus
        createdAt
        inTransitAt
        deliveredAt
        estimatedDeliveryAt
      }
    }
  }
}
"""

_SHOPIFY_FULFILMENT = {
    "FULFILLED": "fulfilled", "UNFULFILLED": "unfulfilled", "PARTIALLY_FULFILLED": "partial",
    "IN_PROGRESS": "unfulfilled", "ON_HOLD": "unfulfilled", "OPEN": "unfulfilled", "PENDING_FULFILLMENT": "unfulfilled",
    "SCHEDULED": "unfulfilled", "RESTOCKED": "cancelled", "REQUEST_DECLINED": "unfulfilled",
}
_SHOPIFY_TRACKING = {
    "DELIVERED": "delivered", "PICKED_UP": "delivered",
    "IN_TRANSIT": "in_transit", "OUT_FOR_DELIVERY": "in_transit", "CARRIER_PICKED_UP": "in_transit",
    "ATTEMPTED_DELIVERY": "in_transit", "DELAYED": "in_transit", "CONFIRMED": "pending",
    "LABEL_PRINTED": "pending", "LABEL_PURCHASED": "pending", "READY_FOR_PICKUP": "in_transit",
    "SUBMITTED": "pending", "FAILURE": "lost", "NOT_DELIVERED": "lost",
}


def _shopify_endpoint(config: OrdersConfig) -> str:
    if not config.shop:
        raise OrderSyncError("[orders] kind = \"shopify\" needs shop", hint="set [orders] shop = \"myshop.myshopify.com\"")
    base = config.shop.rstrip("/")
    if "://" not in base:
        base = "https://" + base
    return f"{base}/admin/api/{config.api_version}/graphql.json"


def _sync_shopify(config: OrdersConfig, store: Store, api: _Api, cursor: dict[str, Any],
                  moment: datetime) -> SyncSummary:
    from bot.config import secret

    endpoint = _shopify_endpoint(config)
    token = secret(config.access_token_env, "orders.access_token_env")
    since = _since(cursor, "updated_at", config, moment)
    summary = SyncSummary(kind="shopify")
    newest = cursor.get("updated_at")
    after: str | None = None
    throttled = 0
    while True:
        body = {"query": SHOPIFY_ORDERS_QUERY,
                "variables": {"first": config.page_size, "after": after,
                              "query": f"updated_at:>='{_iso(since)}Z'"}}
        response = api.send("POST", endpoint, what="shopify orders", json=body,
                            headers={"X-Shopify-Access-Token": token, "Content-Type": "application/json"})
        payload = _json(response, "shopify orders")
        cost = (payload.get("extensions") or {}).get("cost") or {}
        errors = payload.get("errors") or []
        if errors:
            codes = {str((e.get("extensions") or {}).get("code")) for e in errors if isinstance(e, dict)}
            if "THROTTLED" in codes and throttled < 10:
                throttled += 1
                sleep_for = _throttle_wait(cost, config.page_size) or 1.0
                api.sleep(sleep_for)
                continue
            messages = "; ".join(str(e.get("message")) for e in errors if isinstance(e, dict))
            hint = ("the app needs the read_orders scope (and read_all_orders for orders older than 60 days)"
                    if "ACCESS_DENIED" in codes else "check [orders] api_version and the app's access scopes")
            raise OrderSyncError(f"shopify orders: {endpoint}: {messages or 'GraphQL error'}", hint=hint)
        throttled = 0
        connection = ((payload.get("data") or {}).get("orders")) or {}
        nodes = connection.get("nodes")
        if nodes is None:
            nodes = [edge.get("node") for edge in connection.get("edges") or []]
        summary.pages += 1
        with store.session() as session:
            for node in nodes:
                if not isinstance(node, dict):
                    continue
                try:
                    parsed = shopify_order(node)
                except ValueError as exc:
                    summary.errors.append(f"order {node.get('name') or node.get('id')}: {exc}")
                    continue
                if parsed is None:
                    continue
                summary.count(upsert_order(session, "shopify", parsed))
                updated = _when(node.get("updatedAt"))
                if updated is not None and (newest is None or _iso(updated) > newest):
                    newest = _iso(updated)
        info = connection.get("pageInfo") or {}
        if not info.get("hasNextPage") or not info.get("endCursor"):
            break
        after = str(info["endCursor"])
        # Respect the leaky bucket: wait until the next page's cost is available.
        wait = _throttle_wait(cost, None)
        if wait:
            api.sleep(wait)
    summary.cursor = {"updated_at": newest} if newest else dict(cursor)
    return summary


def _throttle_wait(cost: dict[str, Any], fallback_cost: int | None) -> float:
    """Seconds until the bucket holds the cost of one more such query (0 when it already does)."""
    status = cost.get("throttleStatus") or {}
    if status.get("currentlyAvailable") is None:
        return 0.0
    try:
        available = float(status["currentlyAvailable"])
        rate = float(status.get("restoreRate") or 50.0)
        needed = float(cost.get("requestedQueryCost") or fallback_cost or 0)
    except (TypeError, ValueError):
        return 0.0
    if available >= needed:
        return 0.0
    return min((needed - available) / rate, 60.0)


def shopify_order(node: dict[str, Any]) -> ParsedOrder | None:
    """A Shopify Admin GraphQL Order node as a ParsedOrder (None when it has no email)."""
    customer = node.get("customer") or {}
    email = (node.get("email") or customer.get("email") or "").strip()
    if not email:
        return None
    placed = _when(node.get("createdAt"))
    if placed is None:
        raise ValueError("no createdAt")
    name = customer.get("displayName") or " ".join(
        p for p in (customer.get("firstName"), customer.get("lastName")) if p) or None
    fulfilment = _SHOPIFY_FULFILMENT.get(str(node.get("displayFulfillmentStatus") or ""))
    if node.get("cancelledAt"):
        fulfilment = "cancelled"
    tracking: str | None = None
    delivered: datetime | None = None
    expected: datetime | None = None
    latest: datetime | None = None
    for shipment in node.get("fulfillments") or []:
        if not isinstance(shipment, dict) or shipment.get("status") in ("CANCELLED", "ERROR", "FAILURE"):
            continue
        created = _when(shipment.get("createdAt")) or placed
        if latest is not None and created < latest:
            continue
        latest = created
        tracking = _SHOPIFY_TRACKING.get(str(shipment.get("displayStatus") or ""), tracking)
        delivered = _when(shipment.get("deliveredAt")) or delivered
        expected = _when(shipment.get("estimatedDeliveryAt")) or expected
    if delivered is not None:
        tracking = "delivered"
    money = (node.get("totalPriceSet") or {}).get("shopMoney") or {}
    lines = []
    items = node.get("lineItems") or {}
    for raw in items.get("nodes") or [edge.get("node") for edge in items.get("edges") or []]:
        if not isinstance(raw, dict):
            continue
        price = ((raw.get("originalUnitPriceSet") or {}).get("shopMoney") or {}).get("amount") or "0"
        lines.append(ParsedLine(
            name=str(raw.get("name") or raw.get("title") or raw.get("sku") or "item"),
            sku=raw.get("sku") or None,
            product_url=(raw.get("product") or {}).get("onlineStoreUrl") or None,
            quantity=max(1, int(raw.get("quantity") or 1)),
            unit_price=Decimal(str(price)),
        ))
    return ParsedOrder(
        number=str(node.get("name") or node.get("id")),
        placed_at=placed,
        email=email.lower(),
        name=name,
        country=(node.get("shippingAddress") or {}).get("countryCodeV2"),
        currency=str(node.get("currencyCode") or money.get("currencyCode") or "EUR"),
        total=Decimal(str(money["amount"])) if money.get("amount") is not None else None,
        fulfillment_status=fulfilment,
        tracking_status=tracking,
        delivered_at=delivered,
        expected_delivery_at=expected,
        extra={"id": node.get("id")},
        lines=lines,
    )


def iter_orders(session: Session, origin: str | None = None) -> Iterator[Order]:
    """Stored orders, newest first (for status and the digest)."""
    stmt = select(Order).order_by(Order.placed_at.desc())
    if origin:
        stmt = stmt.where(Order.origin == origin)
    yield from session.scalars(stmt)
