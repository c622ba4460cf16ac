"""Judge.me product and store reviews through its REST API (``GET /api/v1/reviews``).

Followed: Judge.me's API reference, https://judge.me/api/docs (Reviews → "Get reviews"): the
shop's ``shop_domain`` (``example.myshopify.com``) and a private ``api_token`` as query
parameters, pages with ``page`` / ``per_page``, an answer ``{"current_page", "per_page",
"reviews": [...]}`` where each review has ``id``, ``title``, ``body``, ``rating`` (1..5),
``product_external_id`` / ``product_title`` / ``product_handle``, ``reviewer`` (``id``,
``external_id`` = the shop's customer id, ``email``, ``name``), ``verified`` (``buyer``,
``verified-purchase``, ``email``, ``nothing`` ...), ``curated``, ``hidden``, ``created_at``,
``updated_at``.

The private token comes from the environment variable ``api_token_env`` names; it travels in the
query string (Judge.me's way), so errors name the endpoint and page only. The API lists newest
first and offers no date filter: the cursor keeps the newest ``created_at`` seen, and a run reads
pages until one holds only reviews stored already or older than the cursor (minus an overlap),
a short page, or ``max_pages``. The reviewer's email is kept when Judge.me verified the reviewer
(``emails = "verified"``, the default), so a review matches its buyer's order exactly; hidden
reviews are read too (a shop often hides its angriest ones), spam is not.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any, ClassVar, Literal

from pydantic import Field, field_validator

from bot.env import secret
from bot.errors import ParseError
from connectors.base import BaseUrl, CollectContext, Options, RawMention, normalise_rating
from connectors.reviews import apps
from connectors.reviews.schema_org import parse_datetime

UNVERIFIED = {"", "nothing", "none", "unverified"}


class JudgeMeOptions(Options):
    """Keys of a `kind = "judgeme"` source."""

    shop_domain: str = Field(description="The shop's Shopify address as Judge.me knows it: "
                             "'fernhollow.myshopify.com'.")
    api_token_env: str = Field("RECOVERYBOT_JUDGEME_TOKEN", description="Environment variable holding "
                               "Judge.me's private API token (Judge.me admin: Settings, Integrations, "
                               "View API token).")
    base_url: BaseUrl = Field("https://judge.me/api/v1", description="Judge.me's API address (change "
                              "only for tests).")
    per_page: int = Field(100, ge=1, le=100, description="Reviews per request (at most 100).")
    max_pages: int = Field(20, ge=1, le=1000, description="At most this many pages read per run.")
    emails: Literal["verified", "all", "none"] = Field(
        "verified", description="Keep the reviewer's email: only when Judge.me verified the reviewer "
        "(a buyer, or a confirmed email address), always, or never.")

    @field_validator("shop_domain")
    @classmethod
    def _domain(cls, value: str) -> str:
        host = value.strip().lower().removeprefix("https://").removeprefix("http://").rstrip("/")
        if not re.fullmatch(r"[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+", host):
            raise ValueError(f"{value!r} is not a shop domain like 'fernhollow.myshopify.com'")
        return host


class JudgeMeConnector:
    """Reads a shop's reviews from Judge.me's API."""

    kind: ClassVar[str] = "judgeme"
    Options: ClassVar[type[JudgeMeOptions]] = JudgeMeOptions

    def __init__(self, name: str, options: JudgeMeOptions | dict[str, Any]) -> None:
        self.name = name
        self.options = options if isinstance(options, JudgeMeOptions) else JudgeMeOptions.model_validate(options)

    @property
    def endpoint(self) -> str:
        return self.options.base_url + "/reviews"

    def collect(self, ctx: CollectContext) -> Iterator[RawMention]:
        env_key = f"sources.{self.name}.api_token_env"
        token = secret(self.options.api_token_env, env_key)
        newest: str | None = ctx.cursor.get("newest") if isinstance(ctx.cursor.get("newest"), str) else None
        since = parse_datetime(newest)
        floor = since - apps.OVERLAP if since is not None else None
        per_page = self.options.per_page
        for number in range(1, self.options.max_pages + 1):
            params = {"shop_domain": self.options.shop_domain, "api_token": token,
                      "page": number, "per_page": per_page}
            data = apps.get_json(ctx.fetch, self.endpoint, params, page=number, source=self.name,
                                 app="Judge.me", env_name=self.options.api_token_env, env_key=env_key, key=token)
            ctx.progress(1)
            reviews = data.get("reviews") if isinstance(data, dict) else None
            if not isinstance(reviews, list):
                raise ParseError("expected {\"reviews\": [...]} in Judge.me's answer", source=self.name,
                                 url=apps.where(self.endpoint, number),
                                 hint="check `shop_domain` is the shop's myshopify.com address")
            mentions = [m for m in (self._mention(r) for r in reviews[:per_page]) if m is not None]
            known = ctx.known(m.external_id for m in mentions)
            for mention in mentions:
                newest = apps.newer(newest, mention.published_at)
                if mention.external_id not in known:
                    yield mention
            if len(reviews) < per_page:
                break
            if mentions and all(m.external_id in known or (floor is not None and m.published_at is not None
                                                          and m.published_at < floor) for m in mentions):
                break  # newest first: the older pages are stored already
        if newest:
            ctx.cursor["newest"] = newest

    def _mention(self, review: Any) -> RawMention | None:
        if not isinstance(review, dict) or not isinstance(review.get("id"), int | str) or review.get("id") == "":
            return None
        if str(review.get("curated") or "").lower() == "spam":
            return None
        text = apps.text_of(review.get("body"))
        title = apps.text_of(review.get("title")) or None
        if not text and not title:
            return None
        found = review.get("reviewer")
        reviewer: dict[str, Any] = found if isinstance(found, dict) else {}
        verified = apps.text_of(review.get("verified")).lower()
        email = apps.email_of(reviewer.get("email"))
        if self.options.emails == "none" or (self.options.emails == "verified" and verified in UNVERIFIED):
            email = None
        rating = review.get("rating")
        handle = apps.text_of(review.get("product_handle"))
        product_id = review.get("product_external_id")
        raw = {"verified": verified or None, "hidden": review.get("hidden") if isinstance(review.get("hidden"), bool) else None,
               "product_id": product_id if isinstance(product_id, int | str) else None,
               "customer_id": reviewer.get("external_id") if isinstance(reviewer.get("external_id"), int | str) else None,
               "pictures": len(review["pictures"]) if isinstance(review.get("pictures"), list) else None}
        return RawMention(
            source=self.name,
            external_id=str(review["id"]),
            text=text or title or "",
            author_name=apps.text_of(reviewer.get("name"))[:200] or None,
            author_email=email,
            product_url=f"https://{self.options.shop_domain}/products/{handle}" if re.fullmatch(r"[\w-]{1,255}", handle) else None,
            product_name=apps.text_of(review.get("product_title"))[:500] or None,
            rating=normalise_rating(rating) if isinstance(rating, int | float) and not isinstance(rating, bool) else None,
            title=title if text else None,
            published_at=parse_datetime(review.get("created_at")),
            raw={k: v for k, v in raw.items() if v is not None},
        )
