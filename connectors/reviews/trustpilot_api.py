"""Trustpilot's business API: the shop's own reviews, private fields included.

Followed: Trustpilot's developer documentation, https://developers.trustpilot.com/authentication
(client credentials: ``POST /v1/oauth/oauth-business-users-for-applications/accesstoken`` with the
API key and secret as HTTP Basic auth and the form ``grant_type=client_credentials``; answer
``{"access_token", "expires_in", ...}``) and
https://developers.trustpilot.com/business-units-api#get-private-reviews-for-business-unit
(``GET /v1/private/business-units/{businessUnitId}/reviews`` with a Bearer token; query
``orderBy`` (``createdat.asc``), ``startDateTime`` (``2013-09-07T13:37:00``), ``page``,
``perPage`` (at most 100); answer ``{"links": [...], "reviews": [...]}`` where each review has
``id``, ``stars``, ``title``, ``text``, ``language``, ``createdAt``, ``consumer.displayName``,
``isVerified``, ``source``, and, for reviews the shop invited, ``referenceId`` (the order
reference the invitation carried) and ``referralEmail`` (the address it went to)).

Unlike the public `trustpilot` page source, this one knows who wrote: the invitation's address
becomes the author's email and its reference the order number the mention quotes, so the review
finds its order exactly. The key and secret come from environment variables named in config and
are only ever sent to the token endpoint. The cursor keeps the newest ``createdAt`` seen; each
run asks from a little before it (the first run from ``since_days`` ago), oldest first, until a
short page or ``max_pages``, so a run cut short goes on where it stopped.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

from pydantic import Field, field_validator

from bot.env import secret
from bot.errors import FetchError, ParseError
from connectors.base import BaseUrl, CollectContext, Options, RawMention, normalise_rating
from connectors.reviews import apps
from connectors.reviews.schema_org import parse_datetime


class TrustpilotApiOptions(Options):
    """Keys of a `kind = "trustpilot_api"` source."""

    business_unit_id: str = Field(description="The shop's Trustpilot business unit id (Trustpilot "
                                  "Business: Integrations, API; a 24-character code).")
    api_key_env: str = Field("RECOVERYBOT_TRUSTPILOT_KEY", description="Environment variable holding "
                             "the API key of your Trustpilot API application.")
    api_secret_env: str = Field("RECOVERYBOT_TRUSTPILOT_SECRET", description="Environment variable "
                                "holding that application's API secret.")
    base_url: BaseUrl = Field("https://api.trustpilot.com/v1", description="Trustpilot's API address "
                              "(change only for tests).")
    per_page: int = Field(100, ge=1, le=100, description="Reviews per request (at most 100).")
    max_pages: int = Field(20, ge=1, le=1000, description="At most this many pages read per run.")
    since_days: int = Field(90, ge=1, le=3650, description="The first run reads the reviews of this many "
                            "last days; later runs read what was written since.")
    emails: bool = Field(True, description="Keep the address the review invitation went to as the "
                         "author's email (it is the shop's own record of the buyer).")

    @field_validator("business_unit_id")
    @classmethod
    def _unit(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9]{8,64}", value.strip()):
            raise ValueError(f"{value!r} is not a Trustpilot business unit id (letters and digits, like "
                             "'5f3c2a1b9d8e7f6a5b4c3d2e')")
        return value.strip()


class TrustpilotApiConnector:
    """Reads the shop's Trustpilot reviews with their invitation's order reference and email."""

    kind: ClassVar[str] = "trustpilot_api"
    Options: ClassVar[type[TrustpilotApiOptions]] = TrustpilotApiOptions

    def __init__(self, name: str, options: TrustpilotApiOptions | dict[str, Any],
                 *, now: Callable[[], datetime] | None = None) -> None:
        self.name = name
        self.options = (options if isinstance(options, TrustpilotApiOptions)
                        else TrustpilotApiOptions.model_validate(options))
        self._now = now or (lambda: datetime.now(UTC))

    @property
    def endpoint(self) -> str:
        return f"{self.options.base_url}/private/business-units/{self.options.business_unit_id}/reviews"

    @property
    def _keys(self) -> str:
        return f"environment variables {self.options.api_key_env} and {self.options.api_secret_env}"

    def token(self, ctx: CollectContext) -> str:
        """An access token for the API key and secret (client credentials)."""
        where = f"sources.{self.name}"
        key = secret(self.options.api_key_env, f"{where}.api_key_env")
        value = secret(self.options.api_secret_env, f"{where}.api_secret_env")
        basic = base64.b64encode(f"{key}:{value}".encode()).decode("ascii")
        url = f"{self.options.base_url}/oauth/oauth-business-users-for-applications/accesstoken"
        try:
            page = ctx.fetch.post(url, data={"grant_type": "client_credentials"},
                                  headers={"Authorization": f"Basic {basic}"}, source=self.name)
        except FetchError as exc:
            if exc.status in (400, 401, 403):
                raise FetchError(f"HTTP {exc.status}: Trustpilot refused the API key and secret in {self._keys}",
                                 source=self.name, url=url, status=exc.status, retryable=False,
                                 hint="copy both from Trustpilot Business: Integrations, API, your "
                                 "application") from exc
            raise
        data = page.json(self.name)
        found = data.get("access_token") if isinstance(data, dict) else None
        if not isinstance(found, str) or not found.strip() or len(found) > 8192:
            raise ParseError("Trustpilot's token answer holds no access_token", source=self.name, url=url)
        return found.strip()

    def collect(self, ctx: CollectContext) -> Iterator[RawMention]:
        headers = {"Authorization": f"Bearer {self.token(ctx)}"}
        stored = ctx.cursor.get("newest")
        newest: str | None = stored if isinstance(stored, str) else None
        since = parse_datetime(newest)
        start = since - apps.OVERLAP if since is not None else self._now() - timedelta(days=self.options.since_days)
        per_page = self.options.per_page
        params: dict[str, Any] = {"orderBy": "createdat.asc", "perPage": per_page,
                                  "startDateTime": start.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")}
        for number in range(1, self.options.max_pages + 1):
            try:
                page = ctx.fetch.get(self.endpoint, params={**params, "page": number}, headers=headers,
                                     source=self.name, robots=False)
            except FetchError as exc:
                if exc.status in (401, 403):
                    raise FetchError(
                        f"HTTP {exc.status}: Trustpilot refused to list the reviews of business unit "
                        f"{self.options.business_unit_id} with the token made from {self._keys}",
                        source=self.name, url=apps.where(self.endpoint, number), status=exc.status,
                        retryable=False, hint="check `business_unit_id` is your own business unit and the "
                        "API application belongs to it") from exc
                raise
            ctx.progress(1)
            data = page.json(self.name)
            reviews = data.get("reviews") if isinstance(data, dict) else None
            if not isinstance(reviews, list):
                raise ParseError("expected {\"reviews\": [...]} in Trustpilot's answer", source=self.name,
                                 url=apps.where(self.endpoint, number), hint="check `business_unit_id`")
            mentions = [m for m in (self._mention(r) for r in reviews[:per_page]) if m is not None]
            known = ctx.known(m.external_id for m in mentions)
            for mention in mentions:
                newest = apps.newer(newest, mention.published_at)
                if mention.external_id not in known:
                    yield mention
            if len(reviews) < per_page:
                break
        if newest:
            ctx.cursor["newest"] = newest

    def _mention(self, review: Any) -> RawMention | None:
        if not isinstance(review, dict) or not isinstance(review.get("id"), str) or \
                not re.fullmatch(r"[A-Za-z0-9]{1,64}", review["id"]):
            return None
        text = apps.text_of(review.get("text"))
        title = apps.text_of(review.get("title"))[:500] or None
        if not text and not title:
            return None
        found = review.get("consumer")
        consumer: dict[str, Any] = found if isinstance(found, dict) else {}
        stars = review.get("stars")
        reference = apps.text_of(review.get("referenceId"))[:100]
        raw: dict[str, Any] = {"verified": review.get("isVerified") if isinstance(review.get("isVerified"), bool) else None,
                               "origin": apps.text_of(review.get("source"))[:50] or None,
                               "status": apps.text_of(review.get("status"))[:50] or None,
                               "replied": True if isinstance(review.get("companyReply"), dict) else None,
                               "experienced": apps.text_of(review.get("experiencedAt"))[:40] or None}
        if reference:
            raw["order_number"] = reference  # the order the invitation was sent for: matched exactly
        language = apps.text_of(review.get("language"))[:10]
        return RawMention(
            source=self.name,
            external_id=review["id"],
            text=text or title or "",
            url=f"https://www.trustpilot.com/reviews/{review['id']}",
            author_name=apps.text_of(consumer.get("displayName"))[:200] or None,
            author_email=apps.email_of(review.get("referralEmail")) if self.options.emails else None,
            rating=normalise_rating(stars) if isinstance(stars, int | float) and not isinstance(stars, bool) else None,
            title=title if text else None,
            published_at=parse_datetime(review.get("createdAt")),
            language=language if re.fullmatch(r"[A-Za-z-]{2,10}", language) else None,
            raw={k: v for k, v in raw.items() if v is not None},
        )
