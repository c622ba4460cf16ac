"""`kind = "webhook"`: the remedy POSTed as JSON, HMAC-signed, with an Idempotency-Key header."""

from __future__ import annotations

import hashlib
import hmac
import json
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
    signature_header: str = Field("X-Recoverybot-Signature", description="webhook: header carrying 'sha256=<hex>'.")
    timeout: float = Field(15.0, gt=0, description="webhook: seconds to wait for an answer.")
    headers: dict[str, str] = Field(default_factory=dict, description="webhook: extra headers sent with each POST.")


def sign(secret: str, body: bytes) -> str:
    """The signature header value: HMAC-SHA256 over the exact body bytes."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


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

    def deliver(self, job: Job) -> str | None:
        body = json.dumps(job.payload(), sort_keys=True, separators=(",", ":")).encode("utf-8")
        headers = {**self.options.headers, "Content-Type": "application/json",
                   "Idempotency-Key": job.idempotency_key, "User-Agent": "recoverybot"}
        if self.secret:
            headers[self.options.signature_header] = sign(self.secret, body)
        try:
            response = self.client.post(self.options.url, content=body, headers=headers, timeout=self.options.timeout)
        except httpx.HTTPError as exc:
            raise http_error(exc, f"webhook {self.name}") from exc
        check_status(response, f"webhook {self.name}")
        return f"HTTP {response.status_code}"
