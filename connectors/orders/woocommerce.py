"""`kind = "woocommerce"`: REST v3 ``GET /wp-json/wc/v3/orders`` with ``modified_after`` (GMT),
``page``/``per_page`` and the ``X-WP-TotalPages`` header; key and secret from env vars."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from bot.errors import OrderSyncError
from connectors.orders.base import OrderApi, OrderPage, OrdersConfig, ParsedLine, ParsedOrder, answer_json, iso, since, when
from connectors.platforms import woocommerce as wc


def pages(config: OrdersConfig, api: OrderApi, cursor: dict[str, Any], moment: datetime) -> Iterator[OrderPage]:
    """The orders changed since the cursor, oldest change first, one API page at a time."""
    if not config.url:
        raise OrderSyncError("[orders] kind = \"woocommerce\" needs url", hint="set [orders] url = \"https://shop.example\"")
    auth = wc.credentials(config.consumer_key_env, config.consumer_secret_env, "orders")
    endpoint = wc.api_base(config.url) + "/orders"
    start = since(cursor, "modified_after", config, moment)
    newest = cursor.get("modified_after")
    page = 1
    while True:
        response = api.send(
            "GET", endpoint, what="woocommerce orders", auth=auth,
            params={"modified_after": iso(start), "dates_are_gmt": "true", "orderby": "modified",
                    "order": "asc", "page": page, "per_page": min(config.page_size, wc.MAX_PER_PAGE)},
        )
        data = answer_json(response, "woocommerce orders")
        items = wc.items(data)
        if items is None:
            raise OrderSyncError(f"woocommerce orders: {endpoint}: expected a list of orders, got {type(data).__name__}")
        out = OrderPage()
        for item in out.read(items, lambda row: woocommerce_order(row, config), "number", "id"):
            modified = item.get("date_modified_gmt")
            if isinstance(modified, str) and (newest is None or modified > newest):
                newest = modified
        out.cursor = {"modified_after": newest} if newest else dict(cursor)
        yield out
        if page >= (wc.total_pages(response.headers) or 1) or not items:
            break
        page += 1


_WC_CANCELLED = {"cancelled", "refunded", "failed", "trash"}


def woocommerce_order(item: dict[str, Any], config: OrdersConfig) -> ParsedOrder | None:
    """A WooCommerce REST v3 order as a ParsedOrder (None for drafts/checkouts without an email)."""
    billing = item.get("billing") or {}
    shipping = item.get("shipping") or {}
    email = (billing.get("email") or "").strip()
    status = str(item.get("status") or "")
    if status == "checkout-draft" or not email:
        return None
    placed = when(item.get("date_created_gmt")) or when(item.get("date_created"))
    if placed is None:
        raise ValueError("no date_created_gmt")
    name = " ".join(p for p in (billing.get("first_name"), billing.get("last_name")) if p) or None
    meta = {m.get("key"): m.get("value") for m in item.get("meta_data") or [] if isinstance(m, dict)}
    handles = str(meta.get(config.handles_meta_key) or "").split()
    completed = when(item.get("date_completed_gmt"))
    tracking: str | None = None
    delivered: datetime | None = None
    if status in _WC_CANCELLED:
        fulfilment = "cancelled"
    elif status in ("completed", "delivered"):
        fulfilment = "fulfilled"
        if status == "delivered":  # order-status plugins add it; WooCommerce core stops at completed
            tracking, delivered = "delivered", when(item.get("date_modified_gmt"))
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
