"""Shared plumbing of the shop-API adapters (WooCommerce, Shopify): options, one JSON call with
error mapping, and the look-back that finds what an earlier, interrupted attempt created."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

import httpx
from urllib.parse import urlsplit
from pydantic import Field

from bot.errors import DispatchError
from connectors.fulfilment.base import AdapterOptions, Deps, Job, check_status, http_error


class ApiOptions(AdapterOptions):
    """Options every shop-API adapter shares."""

    timeout: float = Field(20.0, gt=0, description="woocommerce / shopify: seconds to wait for the API.")


# How far before the remedy was queued an earlier attempt's object may be dated (shop clocks and
# time zones differ); the search window for "did an earlier attempt already create it?".
LOOKBACK = timedelta(days=1)


class ApiAdapter:
    """Shared plumbing of the shop-API adapters: options, secrets, one JSON call with error mapping.

    Neither WooCommerce nor Shopify honours an ``Idempotency-Key`` header, so a retried attempt
    (``job.attempt > 1``: an earlier one may have reached the shop and then timed out) first looks
    for the object the earlier attempt may have created, which carries the key, and only POSTs
    when there is none (DESIGN.md invariant 3).
    """

    kind: ClassVar[str] = ""
    Options: ClassVar[type[AdapterOptions]] = ApiOptions
    default_handles: ClassVar[tuple[str, ...]] = ("replacement", "refund", "correct_item")

    def __init__(self, name: str, options: ApiOptions, deps: Deps, where: str) -> None:
        self.name = name
        self.options = options
        self.client = deps.client
        self.where = where
        self.base = ""
        self.setup(options)

    def setup(self, options: Any) -> None:
        """Read secrets and set ``self.base`` (subclasses)."""

    def request_args(self) -> dict[str, Any]:
        """Auth for every request (subclasses)."""
        return {}

    def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        what = f"{self.kind} {self.name} {method} {path}"
        url = path if path.startswith(("http://", "https://")) else self.base + path
        if urlsplit(url).hostname != urlsplit(self.base).hostname:
            # e.g. an absolute `Link: rel=next` to another host: the credentials stay with the shop
            raise DispatchError(f"{what}: refused: {url} is not on the shop's host ({urlsplit(self.base).hostname}); "
                                "not sent, the credentials are only ever sent to the shop", retryable=False)
        try:
            response = self.client.request(method, url, timeout=self.options.timeout, follow_redirects=False,
                                           **self.request_args(), **kwargs)
        except httpx.HTTPError as exc:
            raise http_error(exc, what) from exc
        check_status(response, what)
        return response

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self._send(method, path, **kwargs)
        try:
            return response.json()
        except ValueError as exc:
            raise DispatchError(f"{self.kind} {self.name} {method} {path}: the answer is not JSON") from exc

    def _unsupported(self, job: Job) -> DispatchError:
        return DispatchError(f"{self.kind} {self.name} cannot deliver {job.kind}", retryable=False,
                             hint="list only replacement/refund/correct_item/shipping_credit (as a refund) in this adapter's `handles`")


def since(job: Job) -> datetime:
    return (job.queued_at or datetime.now(UTC)) - LOOKBACK
