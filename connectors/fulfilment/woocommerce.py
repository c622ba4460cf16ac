"""`kind = "woocommerce"`: a zero-priced replacement order, or a refund on the original order."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from typing import Any, ClassVar

from pydantic import Field

from bot.errors import DispatchError
from connectors.base import BaseUrl
from connectors.fulfilment.api import ApiAdapter, ApiOptions, since
from connectors.fulfilment.base import AdapterOptions, Job
from connectors.platforms import woocommerce as wc


class WooCommerceOptions(ApiOptions):
    url: BaseUrl = Field(description="woocommerce: the shop's base URL (https://shop.example).")
    consumer_key_env: str = Field("WC_CONSUMER_KEY", description="woocommerce: variable holding the REST consumer key.")
    consumer_secret_env: str = Field("WC_CONSUMER_SECRET", description="woocommerce: variable holding the consumer secret.")


class WooCommerceAdapter(ApiAdapter):
    """A zero-priced replacement order, or a refund on the original order, via the WooCommerce REST API."""

    kind: ClassVar[str] = "woocommerce"
    Options: ClassVar[type[AdapterOptions]] = WooCommerceOptions
    PER_PAGE: ClassVar[int] = wc.MAX_PER_PAGE
    MAX_PAGES: ClassVar[int] = 20

    def setup(self, options: WooCommerceOptions) -> None:
        self.auth = wc.credentials(options.consumer_key_env, options.consumer_secret_env, self.where)
        self.base = wc.api_base(options.url)

    def request_args(self) -> dict[str, Any]:
        return {"auth": self.auth}

    def _pages(self, path: str, params: dict[str, Any]) -> Iterator[dict[str, Any]]:
        """Every item of a paged list (WordPress pages: page=N, X-WP-TotalPages)."""
        for page in range(1, self.MAX_PAGES + 1):
            response = self._send("GET", path, params={**params, "per_page": self.PER_PAGE, "page": page})
            try:
                items = wc.items(response.json())
            except ValueError as exc:
                raise DispatchError(f"woocommerce {self.name} GET {path}: the answer is not JSON") from exc
            if items is None:
                raise DispatchError(f"woocommerce {self.name} GET {path}: expected a list")
            yield from (i for i in items if isinstance(i, dict))
            if wc.last_page(page, len(items), self.PER_PAGE, wc.total_pages(response.headers)):
                return

    def _earlier_refund(self, ref: str, job: Job) -> dict[str, Any] | None:
        for refund in self._pages(f"/orders/{ref}/refunds", {}):
            if job.idempotency_key in str(refund.get("reason") or "") or wc.has_meta(refund.get("meta_data"), wc.IDEMPOTENCY_META,
                                                                                     job.idempotency_key):
                return refund
        return None

    def _earlier_order(self, original: dict[str, Any], job: Job) -> dict[str, Any] | None:
        # The REST API cannot filter by meta: list the customer's orders since the remedy was
        # queued (a guest's by billing email) and look for our key in their meta.
        params: dict[str, Any] = {"after": since(job).strftime("%Y-%m-%dT%H:%M:%S"), "dates_are_gmt": "true",
                                  "orderby": "date", "order": "desc"}
        customer = original.get("customer_id") or 0
        email = (original.get("billing") or {}).get("email") or job.customer_email
        if customer:
            params["customer"] = customer
        elif email:
            params["search"] = email
        for order in self._pages("/orders", params):
            if wc.has_meta(order.get("meta_data"), wc.IDEMPOTENCY_META, job.idempotency_key):
                return order
        return None

    def tell(self, job: Job) -> str | None:
        """The case's note as a customer order note (``customer_note: true``: WooCommerce emails it to
        the buyer). Order notes carry no meta, so a retry lists the order's customer notes and skips
        the POST when one already says exactly this (the same case and note: told once)."""
        ref = job.order_ref or job.order_number
        if not ref:
            raise DispatchError(f"woocommerce {self.name}: notice {job.idempotency_key} has no order", retryable=False)
        if job.attempt > 1:
            notes = self._call("GET", f"/orders/{ref}/notes", params={"type": "customer"})
            for note in notes if isinstance(notes, list) else []:
                if isinstance(note, dict) and _same_text(str(note.get("note") or ""), job.note):
                    return f"order note {note.get('id')} (made by an earlier attempt)"
        done = self._call("POST", f"/orders/{ref}/notes", json={"note": job.note, "customer_note": True})
        return f"order note {done.get('id') if isinstance(done, dict) else '?'}"

    def deliver(self, job: Job) -> str | None:
        ref = job.order_ref or job.order_number
        if not ref:
            raise DispatchError(f"woocommerce {self.name}: remedy {job.idempotency_key} has no order", retryable=False)
        if job.kind == "refund" or (job.kind == "shipping_credit" and job.params.get("form") == "refund"):
            if job.attempt > 1 and (earlier := self._earlier_refund(ref, job)) is not None:
                return f"refund {earlier.get('id')} (made by an earlier attempt)"
            body = {"amount": str(job.amount), "reason": f"recoverybot {job.idempotency_key}", "api_refund": True,
                    "meta_data": [{"key": wc.IDEMPOTENCY_META, "value": job.idempotency_key}]}
            done = self._call("POST", f"/orders/{ref}/refunds", json=body)
            return f"refund {done.get('id')}"
        if job.kind not in ("replacement", "correct_item"):
            raise self._unsupported(job)
        original = self._call("GET", f"/orders/{ref}")
        if job.attempt > 1 and (earlier := self._earlier_order(original, job)) is not None:
            return f"order {earlier.get('id')} (made by an earlier attempt)"
        sku = job.params.get("sku")
        products = self._call("GET", "/products", params={"sku": sku}) if sku else []
        if not products:
            raise DispatchError(f"woocommerce {self.name}: no product with SKU {sku!r}", retryable=False)
        items = [{"product_id": products[0]["id"], "quantity": int(job.params.get("quantity") or 1),
                  "subtotal": "0.00", "total": "0.00"}]
        bonus = job.params.get("bonus_sku")
        if bonus:
            extra = self._call("GET", "/products", params={"sku": bonus})
            if extra:
                items.append({"product_id": extra[0]["id"], "quantity": 1, "subtotal": "0.00", "total": "0.00"})
        speed = "Express" if job.params.get("shipping") == "expedited" else "Standard"
        body = {
            "status": "processing", "set_paid": True,
            "customer_id": original.get("customer_id", 0),
            "billing": original.get("billing", {}), "shipping": original.get("shipping", {}),
            "line_items": items,
            "shipping_lines": [{"method_id": "flat_rate", "method_title": f"{speed} (replacement)", "total": "0.00"}],
            "customer_note": job.note,
            "meta_data": [{"key": wc.IDEMPOTENCY_META, "value": job.idempotency_key},
                          {"key": "_recoverybot_replaces", "value": str(ref)}],
        }
        created = self._call("POST", "/orders", json=body)
        return f"order {created.get('id')}"


def _same_text(stored: str, note: str) -> bool:
    """WordPress may store a note with its line breaks as <br> or paragraphs: compare the words."""
    def words(text: str) -> str:
        return " ".join(re.sub(r"<[^>]{0,200}>", " ", html.unescape(text)).split())
    return words(stored) == words(note)
