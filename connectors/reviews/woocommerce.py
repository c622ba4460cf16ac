"""WooCommerce product reviews through the REST API v3 (``/wp-json/wc/v3/products/reviews``).

Keys come from environment variables named in config (``consumer_key_env`` /
``consumer_secret_env``), sent as HTTP Basic auth (WooCommerce's way over HTTPS), never logged.
Pages are walked newest first with ``page``/``per_page`` up to ``X-WP-TotalPages``; the cursor
keeps the newest review date, asked again with ``after`` (minus an overlap, as WordPress
compares seconds) so a run reads only what is new. Reading also stops at the first page whose
reviews are all stored. ``reviewer_email`` is kept when WooCommerce marks the reviewer a
verified owner (``emails = "verified"``, the default) or always (``emails = "all"``).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any, ClassVar, Literal

from pydantic import Field

from bot.errors import ParseError
from connectors.base import BaseUrl, CollectContext, Options, RawMention, normalise_rating
from connectors.brand import html_to_text
from connectors.platforms import woocommerce as wc
from connectors.reviews.schema_org import parse_datetime

OVERLAP = timedelta(minutes=5)


class WooCommerceOptions(Options):
    """Keys of a `kind = "woocommerce"` source."""

    url: BaseUrl = Field(description="The shop's address, e.g. 'https://shop.example' (the API is under /wp-json/wc/v3).")
    consumer_key_env: str = Field("RECOVERYBOT_WC_KEY", description="Environment variable holding the REST API consumer key (read-only key is enough).")
    consumer_secret_env: str = Field("RECOVERYBOT_WC_SECRET", description="Environment variable holding the REST API consumer secret.")
    per_page: int = Field(100, ge=1, le=100, description="Reviews per request (WooCommerce allows at most 100).")
    max_pages: int = Field(50, ge=1, le=10_000, description="At most this many pages read per run.")
    status: Literal["approved", "hold", "spam", "all"] = Field("approved", description="Which reviews to read.")
    products: tuple[int, ...] = Field((), description="Only reviews of these product ids (default: every product).")
    emails: Literal["verified", "all", "none"] = Field(
        "verified", description="Keep the reviewer's email: only for verified owners, always, or never.")
    reply_user_env: str = Field(
        "RECOVERYBOT_WP_USER", description="Public replies ([notify] public_reply): environment variable holding the "
        "WordPress user name that posts them (an administrator or shop manager).")
    reply_password_env: str = Field(
        "RECOVERYBOT_WP_APP_PASSWORD", description="Public replies: environment variable holding that user's "
        "WordPress application password (Users > Profile > Application Passwords; the consumer key cannot reply).")



class WooCommerceConnector:
    """Reads product reviews from a WooCommerce shop's REST API."""

    kind: ClassVar[str] = "woocommerce"
    Options: ClassVar[type[WooCommerceOptions]] = WooCommerceOptions

    def __init__(self, name: str, options: WooCommerceOptions | dict[str, Any]) -> None:
        self.name = name
        self.options = options if isinstance(options, WooCommerceOptions) else WooCommerceOptions.model_validate(options)

    @property
    def endpoint(self) -> str:
        return wc.api_base(self.options.url) + "/products/reviews"

    def _auth(self) -> dict[str, str]:
        key, value = wc.credentials(self.options.consumer_key_env, self.options.consumer_secret_env,
                                    f"sources.{self.name}")
        return wc.basic_auth(key, value)

    def collect(self, ctx: CollectContext) -> Iterator[RawMention]:
        headers = self._auth()
        since = parse_datetime(ctx.cursor.get("newest"))
        newest = ctx.cursor.get("newest")
        params: dict[str, Any] = {"per_page": self.options.per_page, "orderby": "date_gmt", "order": "desc"}
        if self.options.status != "approved":
            params["status"] = self.options.status
        if self.options.products:
            params["product"] = ",".join(str(p) for p in self.options.products)
        if since is not None:
            params["after"] = (since - OVERLAP).strftime("%Y-%m-%dT%H:%M:%S")
        total: int | None = None
        for number in range(1, self.options.max_pages + 1):
            page = ctx.fetch.get(self.endpoint, params={**params, "page": number}, headers=headers,
                                 source=self.name, robots=False)
            data = wc.items(page.json(self.name))
            if data is None:
                raise ParseError("expected a list of reviews", source=self.name, url=page.url,
                                 hint="check `url` is the shop's address and the API is enabled")
            total = wc.total_pages(page.headers)
            if total is not None:
                ctx.progress(1, min(total, self.options.max_pages))
            else:
                ctx.progress(1)
            mentions = [m for m in (self._mention(r, page.url) for r in data) if m is not None]
            known = ctx.known(m.external_id for m in mentions)
            for mention in mentions:
                if mention.published_at is not None:
                    stamp = mention.published_at.isoformat()
                    newest = max(newest or stamp, stamp)
                if mention.external_id not in known:
                    yield mention
            if not data or wc.last_page(number, len(data), self.options.per_page, total):
                break
            if mentions and len(known) == len(mentions):
                break  # all stored already: the older pages are too
        if newest:
            ctx.cursor["newest"] = newest

    def _mention(self, review: Any, page_url: str) -> RawMention | None:
        if not isinstance(review, dict) or review.get("id") is None:
            return None
        text = html_to_text(str(review.get("review") or ""))
        if not text.strip():
            return None
        rating = review.get("rating")
        verified = bool(review.get("verified"))
        email = str(review.get("reviewer_email") or "").strip().lower() or None
        if self.options.emails == "none" or (self.options.emails == "verified" and not verified):
            email = None
        published = parse_datetime(review.get("date_created_gmt") or review.get("date_created"))
        product_url = review.get("product_permalink") or None
        return RawMention(
            source=self.name,
            external_id=str(review["id"]),
            text=text,
            url=f"{product_url}#comment-{review['id']}" if product_url else None,
            author_name=str(review.get("reviewer") or "").strip() or None,
            author_email=email,
            product_url=product_url,
            product_name=review.get("product_name") or None,
            rating=normalise_rating(rating) if isinstance(rating, (int, float)) and rating >= 1 else None,
            published_at=published,
            raw={"product_id": review.get("product_id"), "verified": verified, "status": review.get("status")},
        )
