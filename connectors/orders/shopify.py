"""`kind = "shopify"`: the Admin GraphQL ``orders`` query (REST is legacy), filtered by
``updated_at:>=``, paged with ``pageInfo.endCursor``, throttled by ``extensions.cost``.
Shopify only returns the last 60 days of orders unless the app has ``read_all_orders``."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal
from typing import Any

from bot.errors import OrderSyncError
from connectors.orders.base import OrderApi, OrderPage, OrdersConfig, ParsedLine, ParsedOrder, answer_json, iso, since, when
from connectors.platforms import shopify

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


def endpoint(config: OrdersConfig) -> str:
    if not config.shop:
        raise OrderSyncError("[orders] kind = \"shopify\" needs shop", hint="set [orders] shop = \"myshop.myshopify.com\"")
    return shopify.admin_base(config.shop, config.api_version) + "/graphql.json"


def pages(config: OrdersConfig, api: OrderApi, cursor: dict[str, Any], moment: datetime) -> Iterator[OrderPage]:
    """The orders updated since the cursor, one GraphQL page at a time, within the API's cost budget."""
    url = endpoint(config)
    token = shopify.token(config.access_token_env, "orders")
    start = since(cursor, "updated_at", config, moment)
    newest = cursor.get("updated_at")
    after: str | None = None
    throttled = 0
    while True:
        body = {"query": SHOPIFY_ORDERS_QUERY,
                "variables": {"first": config.page_size, "after": after,
                              "query": f"updated_at:>='{iso(start)}Z'"}}
        response = api.send("POST", url, what="shopify orders", json=body,
                            headers={**shopify.auth_headers(token), "Content-Type": "application/json"})
        payload = answer_json(response, "shopify orders")
        cost = (payload.get("extensions") or {}).get("cost") or {}
        errors = payload.get("errors") or []
        if errors:
            codes = {str((e.get("extensions") or {}).get("code")) for e in errors if isinstance(e, dict)}
            if "THROTTLED" in codes and throttled < 10:
                throttled += 1
                api.sleep(shopify.throttle_wait(cost, config.page_size) or 1.0)
                continue
            messages = "; ".join(str(e.get("message")) for e in errors if isinstance(e, dict))
            hint = ("the app needs the read_orders scope (and read_all_orders for orders older than 60 days)"
                    if "ACCESS_DENIED" in codes else "check [orders] api_version and the app's access scopes")
            raise OrderSyncError(f"shopify orders: {url}: {messages or 'GraphQL error'}", hint=hint)
        throttled = 0
        connection = ((payload.get("data") or {}).get("orders")) or {}
        nodes = connection.get("nodes")
        if nodes is None:
            nodes = [edge.get("node") for edge in connection.get("edges") or []]
        out = OrderPage()
        for node in out.read(nodes, shopify_order, "name", "id"):
            updated = when(node.get("updatedAt"))
            if updated is not None and (newest is None or iso(updated) > newest):
                newest = iso(updated)
        out.cursor = {"updated_at": newest} if newest else dict(cursor)
        yield out
        info = connection.get("pageInfo") or {}
        if not info.get("hasNextPage") or not info.get("endCursor"):
            break
        after = str(info["endCursor"])
        # Respect the leaky bucket: wait until the next page's cost is available.
        wait = shopify.throttle_wait(cost, None)
        if wait:
            api.sleep(wait)


def shopify_order(node: dict[str, Any]) -> ParsedOrder | None:
    """A Shopify Admin GraphQL Order node as a ParsedOrder (None when it has no email)."""
    customer = node.get("customer") or {}
    email = (node.get("email") or customer.get("email") or "").strip()
    if not email:
        return None
    placed = when(node.get("createdAt"))
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
        created = when(shipment.get("createdAt")) or placed
        if latest is not None and created < latest:
            continue
        latest = created
        tracking = _SHOPIFY_TRACKING.get(str(shipment.get("displayStatus") or ""), tracking)
        delivered = when(shipment.get("deliveredAt")) or delivered
        expected = when(shipment.get("estimatedDeliveryAt")) or expected
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
