"""`kind = "webhook"`: the remedy POSTed as JSON, HMAC-signed, with an Idempotency-Key header.

The signature covers ``timestamp + "." + body`` (the Stripe / Standard Webhooks scheme) and the
timestamp travels in its own header: a captured body and signature cannot be replayed later, and
the idempotency key is inside the signed body, so it cannot be swapped either. Receivers check
with :func:`verify` (or its few lines in docs/security.md).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import ClassVar

import httpx
from pydantic import Field

from bot.env import secret
from connectors.base import PageUrl
from connectors.fulfilment.base import ALL_KINDS, AdapterOptions, Deps, Job, check_status, http_error


class WebhookOptions(AdapterOptions):
    url: PageUrl = Field(description="webhook: the URL the JSON is POSTed to.")
    secret_env: str | None = Field(
        None, description="webhook: environment variable holding the HMAC-SHA256 secret (signature header)."
    )
    signature_header: str = Field("X-Recoverybot-Signature", description="webhook: header carrying 'sha256=<hex>', "
                                  "the HMAC of the timestamp, a '.', and the body.")
    timestamp_header: str = Field("X-Recoverybot-Timestamp", description="webhook: header carrying the signed "
                                  "Unix time in seconds; receivers refuse one too far from their clock.")
    timeout: float = Field(15.0, gt=0, description="webhook: seconds to wait for an answer.")
    headers: dict[str, str] = Field(default_factory=dict, description="webhook: extra headers sent with each POST.")


def sign(secret: str, body: bytes, timestamp: int) -> str:
    """The signature header value: HMAC-SHA256 over ``timestamp + "." + body`` (exact bytes)."""
    signed = str(int(timestamp)).encode("ascii") + b"." + body
    return "sha256=" + hmac.new(secret.encode("utf-8"), signed, hashlib.sha256).hexdigest()


def verify(secret: str, body: bytes, timestamp: str, signature: str, *, tolerance: float = 300,
           now: float | None = None) -> bool:
    """What a receiver checks: the timestamp is within `tolerance` seconds of its clock and the
    signature matches (compared in constant time). A replayed request fails once it is older."""
    if not timestamp.strip().isdigit():
        return False
    at = int(timestamp.strip())
    if abs((time.time() if now is None else now) - at) > tolerance:
        return False
    return hmac.compare_digest(sign(secret, body, at), signature.strip())


class WebhookAdapter:
    """POSTs the remedy as JSON, signed with HMAC-SHA256, with an Idempotency-Key header."""

    kind: ClassVar[str] = "webhook"
    Options: ClassVar[type[AdapterOptions]] = WebhookOptions
    default_handles: ClassVar[tuple[str, ...]] = ALL_KINDS

    def __init__(self, name: str, options: WebhookOptions, deps: Deps, where: str) -> None:
        self.name = name
        self.options = options
        self.client = deps.client
        self.secret = secret(options.secret_env, f"{where}.secret_env") if options.secret_env else None
        self.clock = time.time  # seconds since the epoch; a test may set its own

    def deliver(self, job: Job) -> str | None:
        body = json.dumps(job.payload(), sort_keys=True, separators=(",", ":")).encode("utf-8")
        headers = {**self.options.headers, "Content-Type": "application/json",
                   "Idempotency-Key": job.idempotency_key, "User-Agent": "recoverybot"}
        if self.secret:
            stamp = int(self.clock())
            headers[self.options.timestamp_header] = str(stamp)
            headers[self.options.signature_header] = sign(self.secret, body, stamp)
        try:
            response = self.client.post(self.options.url, content=body, headers=headers, timeout=self.options.timeout)
        except httpx.HTTPError as exc:
            raise http_error(exc, f"webhook {self.name}") from exc
        if response.status_code == 409:
            # The receiver has this remedy already (its own record of the key, or of this order and
            # kind): done, not a failure to retry (a lost database re-sends under new keys).
            return "HTTP 409 (already done)"
        check_status(response, f"webhook {self.name}")
        return f"HTTP {response.status_code}"
