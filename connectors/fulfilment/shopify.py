"""`kind = "shopify"`: a draft order for a replacement, or a refund of the original order."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field

from bot.errors import DispatchError
from connectors.base import BaseUrl
from connectors.fulfilment.api import ApiAdapter, ApiOptions, since
from connectors.fulfilment.base import AdapterOptions, Job
from connectors.platforms import shopify


class ShopifyOptions(ApiOptions):
    shop_url: BaseUrl = Field(description="shopify: https://<shop>.myshopify.com")
    access_token_env: str = Field("SHOPIFY_ACCESS_TOKEN", description="shopify: variable holding the Admin API token.")
    api_version: str = Field("2024-10", description="shopify: Admin API version.")


class ShopifyAdapter(ApiAdapter):
    """A draft order for a replacement, or a refund of the original order, via the Shopify Admin API."""

    kind: ClassVar[str] = "shopify"
    Options: ClassVar[type[AdapterOptions]] = ShopifyOptions
    MAX_PAGES: ClassVar[int] = 20

    def setup(self, options: ShopifyOptions) -> None:
        self.token = shopify.token(options.access_token_env, self.where)
        self.base = shopify.admin_base(options.shop_url, options.api_version)

    def request_args(self) -> dict[str, Any]:
        return {"headers": shopify.auth_headers(self.token)}

    def _earlier_refund(self, ref: str, job: Job) -> dict[str, Any] | None:
        refunds = self._call("GET", f"/orders/{ref}/refunds.json").get("refunds", [])
        return next((r for r in refunds if job.idempotency_key in str(r.get("note") or "")), None)

    def _earlier_draft(self, job: Job) -> dict[str, Any] | None:
        # Draft orders cannot be searched by note attribute over REST: page through those touched
        # since the remedy was queued and look for our key.
        url: str | None = "/draft_orders.json"
        params: dict[str, Any] | None = {"limit": 250, "updated_at_min": since(job).isoformat()}
        for _ in range(self.MAX_PAGES):
            if url is None:
                break
            response = self._send("GET", url, params=params)
            try:
                drafts = response.json().get("draft_orders", [])
            except (ValueError, AttributeError) as exc:
                raise DispatchError(f"shopify {self.name} GET draft orders: the answer is not a JSON object") from exc
            for draft in drafts:
                attrs = draft.get("note_attributes") or []
                if any(a.get("name") == "recoverybot_idempotency_key" and a.get("value") == job.idempotency_key
                       for a in attrs if isinstance(a, dict)):
                    return dict(draft)
            url, params = shopify.next_link(response), None  # the next link carries its own query
        return None

    def deliver(self, job: Job) -> str | None:
        ref = job.order_ref or job.order_number
        if job.kind == "refund" or (job.kind == "shipping_credit" and job.params.get("form") == "refund"):
            if not ref:
                raise DispatchError(f"shopify {self.name}: refund {job.idempotency_key} has no order", retryable=False)
            if job.attempt > 1 and (earlier := self._earlier_refund(ref, job)) is not None:
                return f"refund {earlier.get('id')} (made by an earlier attempt)"
            txns = self._call("GET", f"/orders/{ref}/transactions.json").get("transactions", [])
            parent = next((t for t in txns if t.get("kind") in ("sale", "capture") and t.get("status") == "success"),
                          None)
            if parent is None:
                raise DispatchError(f"shopify {self.name}: order {ref} has no captured payment to refund",
                                    retryable=False)
            body = {"refund": {"currency": job.currency, "notify": True, "note": f"recoverybot {job.idempotency_key}",
                               "transactions": [{"parent_id": parent["id"], "amount": str(job.amount),
                                                 "kind": "refund", "gateway": parent.get("gateway")}]}}
            done = self._call("POST", f"/orders/{ref}/refunds.json", json=body)
            return f"refund {done.get('refund', {}).get('id')}"
        if job.kind not in ("replacement", "correct_item"):
            raise self._unsupported(job)
        if job.attempt > 1 and (earlier := self._earlier_draft(job)) is not None:
            return f"draft order {earlier.get('id')} (made by an earlier attempt)"
        title = job.params.get("product_name") or job.params.get("sku") or "Replacement"
        items = [{"title": f"{title} (replacement)", "sku": job.params.get("sku"), "price": "0.00",
                  "quantity": int(job.params.get("quantity") or 1), "requires_shipping": True, "taxable": False}]
        if job.params.get("bonus_sku"):
            items.append({"title": "Small extra", "sku": job.params["bonus_sku"], "price": "0.00", "quantity": 1,
                          "requires_shipping": True, "taxable": False})
        speed = "Express" if job.params.get("shipping") == "expedited" else "Standard"
        body = {"draft_order": {
            "line_items": items, "email": job.customer_email, "note": job.note, "tags": "recoverybot",
            "shipping_line": {"title": f"{speed} (replacement)", "price": "0.00"},
            "note_attributes": [{"name": "recoverybot_idempotency_key", "value": job.idempotency_key},
                                {"name": "replaces_order", "value": str(ref or "")}],
        }}
        created = self._call("POST", "/draft_orders.json", json=body)
        return f"draft order {created.get('draft_order', {}).get('id')}"
