"""A Trustpilot business page (``/review/<domain>``), newest first.

Reviews are read from the page's embedded Next.js data (``<script id="__NEXT_DATA__">`` →
``props.pageProps.reviews``); if that is missing, from its JSON-LD. Pages are followed until
``filters.pagination.totalPages``, ``max_pages``, or the first page whose reviews are all stored.
Anonymous visitors are sent to sign-in after page 10: that redirect ends the walk quietly. The
"Verifying your connection" bot wall is reported as such.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any, ClassVar
from urllib.parse import quote, urlsplit

from pydantic import Field

from bot.errors import ParseError
from connectors.base import BaseUrl, CollectContext, Options, RawMention, normalise_rating
from connectors.reviews.schema_org import extract_jsonld, parse_datetime, reviews_from_nodes

_NEXT_DATA = re.compile(r"<script[^>]*\bid=[\"']__NEXT_DATA__[\"'][^>]*>(.*?)</script\s*>", re.DOTALL | re.IGNORECASE)


class TrustpilotOptions(Options):
    """Keys of a `kind = "trustpilot"` source."""

    business: str = Field(description="The business's Trustpilot name, usually its domain: 'shop.example'.")
    base_url: BaseUrl = Field("https://www.trustpilot.com", description="Trustpilot's address (a country site like https://uk.trustpilot.com works too).")
    languages: str = Field("all", description="Review languages to read: 'all' or a code like 'en'.")
    max_pages: int = Field(10, ge=1, le=100, description="At most this many pages per run (anonymous visitors get 10).")



class TrustpilotConnector:
    """Reads a business's public Trustpilot reviews."""

    kind: ClassVar[str] = "trustpilot"
    Options: ClassVar[type[TrustpilotOptions]] = TrustpilotOptions

    def __init__(self, name: str, options: TrustpilotOptions | dict[str, Any]) -> None:
        self.name = name
        self.options = options if isinstance(options, TrustpilotOptions) else TrustpilotOptions.model_validate(options)

    def page_url(self, number: int) -> str:
        base = f"{self.options.base_url}/review/{quote(self.options.business)}"
        query = f"languages={quote(self.options.languages)}&sort=recency"
        return f"{base}?{query}" + (f"&page={number}" if number > 1 else "")

    def collect(self, ctx: CollectContext) -> Iterator[RawMention]:
        newest = ctx.cursor.get("newest")
        for number in range(1, self.options.max_pages + 1):
            url = self.page_url(number)
            page = ctx.fetch.get(url, conditional=number == 1, source=self.name)
            ctx.progress(1)
            if page.not_modified:
                return
            if "/users/connect" in page.url or "/login" in urlsplit(page.url).path:
                break  # anonymous reading ends here (after page 10): not an error
            mentions, total, redirected = self.parse(page.text, page.url)
            if redirected:
                break
            known = ctx.known(m.external_id for m in mentions)
            for mention in mentions:
                if mention.published_at is not None:
                    newest = max(newest or "", mention.published_at.isoformat())
                if mention.external_id not in known:
                    yield mention
            if not mentions or (mentions and len(known) == len(mentions)):
                break
            if total is not None and number >= total:
                break
        if newest:
            ctx.cursor["newest"] = newest

    def parse(self, text: str, url: str) -> tuple[list[RawMention], int | None, bool]:
        """Reviews on one page, the number of pages, and whether the page sends us to sign in."""
        match = _NEXT_DATA.search(text)
        if match:
            try:
                data = json.loads(match.group(1), strict=False)
            except ValueError as exc:
                raise ParseError(f"the page's embedded data is not JSON: {exc}", source=self.name, url=url) from exc
            props = ((data.get("props") or {}).get("pageProps") or {}) if isinstance(data, dict) else {}
            if props.get("__N_REDIRECT"):
                return [], None, True
            if isinstance(props.get("reviews"), list):
                pagination = ((props.get("filters") or {}).get("pagination") or {})
                total = pagination.get("totalPages")
                reviews = [m for m in (self._mention(r) for r in props["reviews"]) if m is not None]
                return reviews, total if isinstance(total, int) else None, False
        nodes, _problems = extract_jsonld(text)
        found = reviews_from_nodes(nodes, source=self.name, page_url=url)
        if found.reviews:
            return found.reviews, None, False
        if "verifying your connection" in text.lower() or "awswaf" in text.lower():
            raise ParseError("Trustpilot shows a 'Verifying your connection' bot check instead of reviews",
                             source=self.name, url=url,
                             hint="collect less often (every = '6h') or raise [http] per_host_delay")
        raise ParseError("no reviews found in the page's embedded data or JSON-LD", source=self.name, url=url,
                         hint="check `business` is the name in the page address trustpilot.com/review/<name>")

    def _mention(self, review: Any) -> RawMention | None:
        if not isinstance(review, dict) or not review.get("id"):
            return None
        text = str(review.get("text") or "").strip()
        title = str(review.get("title") or "").strip() or None
        if not text and not title:
            return None
        consumer = review.get("consumer") or {}
        dates = review.get("dates") or {}
        labels = (review.get("labels") or {}).get("verification") or {}
        raw = {"location": review.get("location"), "verified": labels.get("isVerified"),
               "experienced": dates.get("experiencedDate"), "replied": bool(review.get("reply"))}
        return RawMention(
            source=self.name,
            external_id=str(review["id"]),
            text=text or title or "",
            url=f"{self.options.base_url}/reviews/{review['id']}",
            author_name=str(consumer.get("displayName") or "").strip() or None,
            rating=normalise_rating(review.get("rating")),
            title=title if text else None,
            published_at=parse_datetime(dates.get("publishedDate") or dates.get("experiencedDate")),
            language=review.get("language") or None,
            raw={k: v for k, v in raw.items() if v is not None},
        )
