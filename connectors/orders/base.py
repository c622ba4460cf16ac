"""What every order source shares: the [orders] section, the parsed order it yields, value parsers
for dates, amounts and states, and a retrying HTTP client for the shop APIs."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Literal

import httpx
from urllib.parse import urlsplit
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from bot.errors import OrderSyncError

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
FULFILLMENT_ALIASES = {
    "canceled": "cancelled", "partially_fulfilled": "partial", "partially fulfilled": "partial",
    "shipped": "fulfilled", "complete": "fulfilled", "completed": "fulfilled", "open": "unfulfilled",
}
TRACKING_ALIASES = {
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


@dataclass
class OrderPage:
    """One page of an API order source: its orders (None where a row is not an order, such as a
    checkout draft), the problems of rows that could not be read, and the cursor after it."""

    orders: list[ParsedOrder] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    cursor: dict[str, Any] = field(default_factory=dict)

    def read(self, items: Iterable[Any], parse: Callable[[dict[str, Any]], ParsedOrder | None],
             *label_keys: str) -> Iterator[dict[str, Any]]:
        """Parse each item into this page; yield the items that became orders (for the cursor).
        A row that cannot be read is an error naming it by the first of `label_keys` it has."""
        for item in items:
            if not isinstance(item, dict):
                continue
            try:
                parsed = parse(item)
            except ValueError as exc:
                label = next((item[k] for k in label_keys if item.get(k)), "?")
                self.errors.append(f"order {label}: {exc}")
                continue
            if parsed is not None:
                self.orders.append(parsed)
                yield item


# --- value parsers ---------------------------------------------------------------------------


def parse_when(text: str, column: str) -> datetime:
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


def money(text: str, column: str) -> Decimal:
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


def quantity(text: str) -> int:
    value = text.strip() or "1"
    try:
        number = float(value)
    except ValueError as exc:
        raise ValueError(f"quantity {text!r} is not a number") from exc
    if number <= 0 or number != int(number):
        raise ValueError(f"quantity {text!r} must be a whole number above zero")
    return int(number)


def status_of(text: str, allowed: tuple[str, ...], aliases: dict[str, str], column: str) -> str | None:
    value = text.strip().lower()
    if not value:
        return None
    value = aliases.get(value, value).replace(" ", "_")
    if value not in allowed:
        raise ValueError(f"{column} {text!r} is not one of {', '.join(allowed)}")
    return value


class OrderApi:
    """An order API client: retries 429/5xx/network errors with backoff, maps failures."""

    def __init__(self, client: httpx.Client, config: OrdersConfig, sleep: Callable[[float], None]) -> None:
        self.client = client
        self.config = config
        self.sleep = sleep

    def send(self, method: str, url: str, *, what: str, **kwargs: Any) -> httpx.Response:
        attempt = 0
        while True:
            try:
                response = self._follow(self.client.request(method, url, timeout=self.config.timeout,
                                                            follow_redirects=False, **kwargs), url, what)
            except httpx.HTTPError as exc:
                if attempt < self.config.retries:
                    self.sleep(min(2.0**attempt, 30.0))
                    attempt += 1
                    continue
                raise OrderSyncError(f"{what}: {url}: {type(exc).__name__}: {exc}",
                                     hint="check the shop URL and that the shop answers") from exc
            if (response.status_code == 429 or response.status_code >= 500) and attempt < self.config.retries:
                self.sleep(retry_after(response.headers.get("retry-after"), attempt))
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


    MAX_REDIRECTS = 5

    def _follow(self, response: httpx.Response, url: str, what: str) -> httpx.Response:
        """Redirects followed only within the shop's own host: the credentials never leave it."""
        shop = urlsplit(url).hostname
        for _ in range(self.MAX_REDIRECTS):
            target = response.next_request
            if target is None:
                return response
            response.close()
            if target.url.host != shop or target.url.scheme not in ("http", "https"):
                raise OrderSyncError(
                    f"{what}: {url}: refused: {response.url} redirects to {target.url}, another host than the "
                    "shop's; not followed, the credentials are only ever sent to the shop",
                    hint="set [orders] to the shop's final address (the one it redirects to) if that is really it")
            response = self.client.send(target, follow_redirects=False)
        if response.next_request is not None:
            response.close()
            raise OrderSyncError(f"{what}: {url}: more than {self.MAX_REDIRECTS} redirects (a redirect loop?)")
        return response


def retry_after(value: str | None, attempt: int) -> float:
    try:
        return min(max(float(value or ""), 0.0), 60.0)
    except ValueError:
        return min(2.0**attempt, 30.0)


def answer_json(response: httpx.Response, what: str) -> Any:
    try:
        return response.json()
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise OrderSyncError(f"{what}: {response.url}: the answer is not JSON ({exc})",
                             hint="check the URL points at the shop's API") from exc


def since(cursor: dict[str, Any], key: str, config: OrdersConfig, moment: datetime) -> datetime:
    if cursor.get(key):
        return parse_when(str(cursor[key]), key) - timedelta(minutes=config.overlap_minutes)
    return moment - timedelta(days=config.first_sync_days)


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")


def when(value: Any) -> datetime | None:
    """An API timestamp: aware ISO, or a naive GMT one (WooCommerce *_gmt fields)."""
    if not value or not isinstance(value, str):
        return None
    try:
        return parse_when(value, "timestamp")
    except ValueError:
        return None


