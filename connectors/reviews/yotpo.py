"""Yotpo product and site reviews through its UGC API ("Retrieve all reviews").

Followed: Yotpo's API reference, https://apidocs.yotpo.com/reference/yotpo-authentication and
https://apidocs.yotpo.com/reference/retrieve-all-reviews. A run first trades the store's app key
and API secret for a ``utoken`` (``POST /oauth/token`` with ``client_id`` = app key,
``client_secret``, ``grant_type = client_credentials``; answer ``{"access_token", "token_type"}``),
or takes a ready token from ``token_env``. Then ``GET /v1/apps/{app_key}/reviews`` with
``utoken``, ``since_updated_at``, ``count`` (at most 100) and ``page``; the answer is
``{"reviews": [...]}`` where each review has ``id``, ``title``, ``content``, ``score`` (1..5),
``sku`` (the shop's product id; ``yotpo_site_reviews`` for reviews of the shop itself), ``name``,
``email``, ``reviewer_type`` (``verified_buyer``, ``anonymous_user`` ...), ``sentiment``,
``votes_up`` / ``votes_down``, ``deleted``, ``archived``, ``escalated``, ``created_at``,
``updated_at``.

The secret and the token come from environment variables named in config; the token travels in
the query string (Yotpo's way), so errors name the endpoint and page only. The cursor keeps the
newest ``updated_at`` seen and the next run asks ``since_updated_at`` from a little before it (the
first run from ``since_days`` ago), reading pages until a short one or ``max_pages``: Yotpo does
not promise an order, so a page of stored reviews does not end the walk, the date filter bounds
it. The reviewer's email is kept for verified buyers (``emails = "verified"``, the default), so
the review matches its buyer's order exactly.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar, Literal
from urllib.parse import quote

from pydantic import Field, field_validator

from bot.env import secret
from bot.errors import FetchError, ParseError
from connectors.base import BaseUrl, CollectContext, Options, RawMention, normalise_rating
from connectors.brand import html_to_text
from connectors.reviews import apps
from connectors.reviews.schema_org import parse_datetime

SITE_REVIEWS = "yotpo_site_reviews"  # the sku Yotpo gives reviews of the shop itself


class YotpoOptions(Options):
    """Keys of a `kind = "yotpo"` source."""

    app_key: str = Field(description="The store's Yotpo app key (Yotpo: Settings, Store, App key); "
                         "not a secret, it is in the shop's pages.")
    secret_env: str = Field("RECOVERYBOT_YOTPO_SECRET", description="Environment variable holding the "
                            "store's Yotpo API secret, traded for a token at each run.")
    token_env: str | None = Field(None, description="Environment variable holding a ready Yotpo utoken; "
                                  "when set, `secret_env` is not used.")
    base_url: BaseUrl = Field("https://api.yotpo.com", description="Yotpo's API address (change only "
                              "for tests).")
    per_page: int = Field(100, ge=1, le=100, description="Reviews per request (Yotpo allows at most 100).")
    max_pages: int = Field(20, ge=1, le=1000, description="At most this many pages read per run.")
    since_days: int = Field(90, ge=1, le=3650, description="The first run reads the reviews written or "
                            "changed in this many last days; later runs read what changed since.")
    site_reviews: bool = Field(True, description="Read reviews of the shop itself too, not only of "
                               "products.")
    emails: Literal["verified", "all", "none"] = Field(
        "verified", description="Keep the reviewer's email: only for Yotpo's verified buyers, always, "
        "or never.")

    @field_validator("app_key")
    @classmethod
    def _app_key(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9_-]{4,100}", value.strip()):
            raise ValueError(f"{value!r} is not a Yotpo app key (letters and digits, from Yotpo's store settings)")
        return value.strip()


class YotpoConnector:
    """Reads a store's reviews from Yotpo's API."""

    kind: ClassVar[str] = "yotpo"
    Options: ClassVar[type[YotpoOptions]] = YotpoOptions

    def __init__(self, name: str, options: YotpoOptions | dict[str, Any],
                 *, now: Callable[[], datetime] | None = None) -> None:
        self.name = name
        self.options = options if isinstance(options, YotpoOptions) else YotpoOptions.model_validate(options)
        self._now = now or (lambda: datetime.now(UTC))

    @property
    def endpoint(self) -> str:
        return f"{self.options.base_url}/v1/apps/{quote(self.options.app_key, safe='')}/reviews"

    def _key(self) -> tuple[str, str]:
        """(environment variable, config key) of the secret the run's token stands on."""
        if self.options.token_env:
            return self.options.token_env, f"sources.{self.name}.token_env"
        return self.options.secret_env, f"sources.{self.name}.secret_env"

    def token(self, ctx: CollectContext) -> str:
        """The utoken: from `token_env`, else traded for the app key and secret."""
        env_name, env_key = self._key()
        value = secret(env_name, env_key)
        if self.options.token_env:
            return value
        url = f"{self.options.base_url}/oauth/token"
        body = {"client_id": self.options.app_key, "client_secret": value, "grant_type": "client_credentials"}
        try:
            page = ctx.fetch.post(url, json_body=body, source=self.name)
        except FetchError as exc:
            if exc.status in (401, 403):
                raise FetchError(
                    f"HTTP {exc.status}: Yotpo refused the app key {self.options.app_key!r} with the secret in "
                    f"environment variable {env_name} (named by {env_key})", source=self.name, url=url,
                    status=exc.status, retryable=False,
                    hint=f"put the store's API secret from Yotpo's store settings in {env_name}",
                ) from exc
            raise
        data = page.json(self.name)
        found = data.get("access_token") if isinstance(data, dict) else None
        if not isinstance(found, str) or not found.strip() or len(found) > 4096:
            raise ParseError("Yotpo's token answer holds no access_token", source=self.name, url=url,
                             hint="check `app_key`; Yotpo's authentication may have changed")
        return found.strip()

    def collect(self, ctx: CollectContext) -> Iterator[RawMention]:
        utoken = self.token(ctx)
        env_name, env_key = self._key()
        stored = ctx.cursor.get("updated")
        newest: str | None = stored if isinstance(stored, str) else None
        since = parse_datetime(newest)
        start = since - apps.OVERLAP if since is not None else self._now() - timedelta(days=self.options.since_days)
        per_page = self.options.per_page
        base: dict[str, Any] = {"utoken": utoken, "count": per_page,
                                "since_updated_at": start.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")}
        for number in range(1, self.options.max_pages + 1):
            data = apps.get_json(ctx.fetch, self.endpoint, {**base, "page": number}, page=number,
                                 source=self.name, app="Yotpo", env_name=env_name, env_key=env_key,
                                 key=utoken)
            ctx.progress(1)
            if isinstance(data, dict) and isinstance(data.get("response"), dict):
                data = data["response"]  # some Yotpo endpoints wrap the answer in {"status", "response"}
            reviews = data.get("reviews") if isinstance(data, dict) else None
            if not isinstance(reviews, list):
                raise ParseError("expected {\"reviews\": [...]} in Yotpo's answer", source=self.name,
                                 url=apps.where(self.endpoint, number), hint="check `app_key`")
            mentions: list[RawMention] = []
            for item in reviews[:per_page]:
                mention = self._mention(item)
                if mention is None:
                    continue
                updated = parse_datetime(item.get("updated_at")) or mention.published_at
                newest = apps.newer(newest, updated)
                mentions.append(mention)
            known = ctx.known(m.external_id for m in mentions)
            for mention in mentions:
                if mention.external_id not in known:
                    yield mention
            if len(reviews) < per_page:
                break
        if newest:
            ctx.cursor["updated"] = newest

    def _mention(self, review: Any) -> RawMention | None:
        if not isinstance(review, dict) or not isinstance(review.get("id"), int | str) or review.get("id") == "":
            return None
        if review.get("deleted") is True:
            return None
        sku = apps.text_of(review.get("sku"))[:200]
        if sku == SITE_REVIEWS and not self.options.site_reviews:
            return None
        text = html_to_text(apps.text_of(review.get("content")))
        title = html_to_text(apps.text_of(review.get("title")))[:500] or None
        if not text and not title:
            return None
        kind = apps.text_of(review.get("reviewer_type")).lower()
        email = apps.email_of(review.get("email"))
        if self.options.emails == "none" or (self.options.emails == "verified" and kind != "verified_buyer"):
            email = None
        score = review.get("score")
        raw: dict[str, Any] = {"reviewer_type": kind or None, "updated_at": apps.text_of(review.get("updated_at")) or None,
               "site_review": sku == SITE_REVIEWS or None}
        for name in ("sentiment", "votes_up", "votes_down"):
            value = review.get(name)
            if isinstance(value, int | float) and not isinstance(value, bool):
                raw[name] = value
        for name in ("archived", "escalated", "is_incentivized"):
            if review.get(name) is True:
                raw[name] = True
        return RawMention(
            source=self.name,
            external_id=str(review["id"]),
            text=text or title or "",
            author_name=html_to_text(apps.text_of(review.get("name")))[:200] or None,
            author_email=email,
            product_sku=sku if sku and sku != SITE_REVIEWS else None,
            rating=normalise_rating(score) if isinstance(score, int | float) and not isinstance(score, bool) else None,
            title=title if text else None,
            published_at=parse_datetime(review.get("created_at")),
            raw={k: v for k, v in raw.items() if v is not None},
        )
