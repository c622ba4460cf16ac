"""Hacker News through the Algolia search API (``search_by_date``): stories and comments.

Each query is walked newest first in time windows (``numericFilters=created_at_i>LAST`` and an
upper bound taken from the oldest hit of the page before), not by page number: Algolia caps a query
at 1,000 hits and new hits would shift page numbers under us. The second run asks only for items
newer than the newest one seen.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any, ClassVar, Literal

from pydantic import Field

from bot.errors import ParseError
from connectors.base import BaseUrl, CollectContext, RawMention
from connectors.brand import BrandOptions, SocialConnector, html_to_text, new_brand_mentions, rate_limited, social_brand, walk_newest_first

log = logging.getLogger("recoverybot.connectors.social.hackernews")


class HackerNewsOptions(BrandOptions):
    """Keys of a `kind = "hackernews"` source."""

    search: tuple[str, ...] | None = Field(
        None, description="Search queries. Default: the [brand] keywords and handles."
    )
    tags: tuple[Literal["story", "comment", "ask_hn", "show_hn"], ...] = Field(
        ("story", "comment"), min_length=1, description="Which items: any of story, comment, ask_hn, show_hn."
    )
    api_url: BaseUrl = Field("https://hn.algolia.com/api/v1", description="The Algolia HN API base URL.")
    hits_per_page: int = Field(100, ge=1, le=1000, description="Hits per request.")
    max_pages: int = Field(5, ge=1, le=100, description="At most this many requests per query per run.")



class HackerNewsConnector(SocialConnector[HackerNewsOptions]):
    """Collects Hacker News stories and comments that match brand queries."""

    kind: ClassVar[str] = "hackernews"
    Options: ClassVar[type[HackerNewsOptions]] = HackerNewsOptions

    def collect(self, ctx: CollectContext) -> Iterator[RawMention]:
        brand = social_brand(self.options, self.brand, ctx)
        queries = self.options.search if self.options.search is not None else tuple(brand.terms())
        if not queries:
            log.warning("[%s] no search queries and no [brand] keywords: nothing to search", self.name)
            return
        streams: dict[str, Any] = dict(ctx.cursor.get("streams") or {})
        tags = self.options.tags[0] if len(self.options.tags) == 1 else "(" + ",".join(self.options.tags) + ")"
        seen: set[str] = set()
        stopped = [False]
        for query in queries:
            if stopped[0]:
                break
            key = f"search:{query.lower()}"
            state = dict(streams.get(key) or {})
            last_upper: list[int | None] = [None]

            def page(token: str | None, floor: float | None, query: str = query,
                     last_upper: list[int | None] = last_upper) -> tuple[list[RawMention], str | None, bool]:
                filters = []
                if floor is not None:
                    filters.append(f"created_at_i>{int(floor)}")
                if token is not None:
                    filters.append(f"created_at_i<={token}")
                params: dict[str, Any] = {"query": query, "tags": tags, "hitsPerPage": self.options.hits_per_page}
                if filters:
                    params["numericFilters"] = ",".join(filters)
                got = ctx.fetch.get(f"{self.options.api_url}/search_by_date", params=params, source=self.name,
                                    robots=False)  # the public search API, not web pages
                ctx.progress(1)
                body = got.json(self.name)
                if not isinstance(body, dict) or not isinstance(body.get("hits"), list):
                    raise ParseError("search_by_date answer has no 'hits' list", source=self.name, url=got.url)
                hits = [h for h in body["hits"] if isinstance(h, dict)]
                items = [m for m in (self._mention(h) for h in hits) if m]
                stamps = [int(h["created_at_i"]) for h in hits if isinstance(h.get("created_at_i"), int)]
                nxt: str | None = None
                if stamps and int(body.get("nbPages") or 0) > 1:
                    upper = min(stamps)
                    if upper == last_upper[0]:
                        upper -= 1  # a whole page in one second: step past it
                    last_upper[0] = upper
                    nxt = str(upper)
                go_on = not rate_limited(got.headers)
                stopped[0] = stopped[0] or not go_on
                return items, nxt, go_on

            batch = list(walk_newest_first(state, page, _stamp, self.options.max_pages))
            streams[key] = state
            yield from new_brand_mentions(batch, ctx, seen, brand)
        ctx.cursor["streams"] = streams

    def _mention(self, hit: dict[str, Any]) -> RawMention | None:
        object_id = str(hit.get("objectID") or "")
        found = hit.get("_tags")
        tags: list[Any] = found if isinstance(found, list) else []
        is_comment = "comment" in tags or hit.get("comment_text") is not None
        if is_comment:
            text = html_to_text(hit.get("comment_text"))
            title = None
            context = hit.get("story_title")
        else:
            title = (hit.get("title") or "").strip() or None
            text = html_to_text(hit.get("story_text")) or (title or "")
            context = None
        author = hit.get("author")
        if not object_id or not text or not author:
            return None  # dead or deleted items have no author and no text
        created = hit.get("created_at_i")
        return RawMention(
            source=self.name,
            external_id=object_id,
            text=text,
            url=f"https://news.ycombinator.com/item?id={object_id}",
            author_handle=str(author),
            title=title if title != text else None,
            published_at=datetime.fromtimestamp(created, tz=UTC) if isinstance(created, int) else None,
            raw={"type": "comment" if is_comment else "story", "link": hit.get("url") or hit.get("story_url"),
                 "story_id": hit.get("story_id"), "story_title": context, "points": hit.get("points")},
        )


def _stamp(mention: RawMention) -> float:
    return mention.published_at.timestamp() if mention.published_at else 0.0
