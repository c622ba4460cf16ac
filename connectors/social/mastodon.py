"""Mastodon: an instance's hashtag timelines (public) and status search (needs a token).

``GET /api/v1/timelines/tag/:hashtag`` is paged by the ``Link`` header; after the first run we ask
with ``min_id=<newest id seen>`` and follow ``rel="prev"`` (newer) links, so the cursor only moves
forward and a run cut short by ``max_pages`` or the rate limit loses nothing.
``GET /api/v2/search?type=statuses`` takes ``min_id`` too and pages by ``offset``.
Boosts count as the boosted status (its id), so a boost of a stored status is skipped.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any, ClassVar
from urllib.parse import quote, urlsplit

from pydantic import Field, field_validator

from bot.errors import ParseError
from bot.fetch import Page
from connectors.base import BaseUrl, CollectContext, RawMention
from connectors.brand import BrandConfig, BrandOptions, SocialConnector, html_to_text, rate_limited, social_brand

log = logging.getLogger("recoverybot.connectors.social.mastodon")


class MastodonOptions(BrandOptions):
    """Keys of a `kind = "mastodon"` source."""

    instance: BaseUrl = Field(description="Base URL of the instance, e.g. 'https://mastodon.social'.")
    hashtags: tuple[str, ...] = Field((), description="Hashtags whose public timelines are read (without '#').")
    search: tuple[str, ...] | None = Field(
        None,
        description="Full-text search queries (needs token_env). Default: the [brand] keywords and handles "
        "when a token is set; [] turns search off.",
    )
    token_env: str | None = Field(
        None, description="Name of the environment variable holding an access token (read scope)."
    )
    limit: int = Field(40, ge=1, le=40, description="Statuses per request (Mastodon allows at most 40).")
    max_pages: int = Field(5, ge=1, le=100, description="At most this many requests per stream per run.")
    rate_reserve: int = Field(5, ge=0, description="Stop for this run when fewer requests than this are left.")

    @field_validator("hashtags")
    @classmethod
    def _tags(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(t.strip().lstrip("#") for t in value if t.strip().lstrip("#"))


_LINK = re.compile(r'<([^>]+)>\s*;\s*rel="?([a-z]+)"?')


def parse_link_header(value: str | None) -> dict[str, str]:
    """``<url>; rel="next", <url>; rel="prev"`` -> {"next": url, "prev": url}."""
    return {rel: url for url, rel in _LINK.findall(value or "")}


class MastodonConnector(SocialConnector[MastodonOptions]):
    """Collects statuses from one Mastodon instance."""

    kind: ClassVar[str] = "mastodon"
    Options: ClassVar[type[MastodonOptions]] = MastodonOptions

    def __init__(self, name: str, options: MastodonOptions | dict[str, Any], brand: BrandConfig | None = None) -> None:
        super().__init__(name, options, brand)
        self.host = urlsplit(self.options.instance).netloc

    def collect(self, ctx: CollectContext) -> Iterator[RawMention]:
        brand = social_brand(self.options, self.brand, ctx)
        headers = {"Accept": "application/json"}
        if self.options.token_env:
            from bot.env import secret

            token = secret(self.options.token_env, f"sources.{self.name}.token_env")
            headers["Authorization"] = f"Bearer {token}"
        queries = self.options.search
        if queries is None:
            queries = tuple(brand.terms()) if self.options.token_env else ()
        elif queries and not self.options.token_env:
            log.warning("[%s] search needs token_env (Mastodon refuses anonymous status search); skipped", self.name)
            queries = ()
        streams: dict[str, Any] = dict(ctx.cursor.get("streams") or {})
        seen: set[str] = set()
        self._stopped = False
        for tag in self.options.hashtags:
            key = f"tag:{tag.lower()}"
            url = f"{self.options.instance}/api/v1/timelines/tag/{quote(tag.lower(), safe='')}"
            yield from self._walk_timeline(ctx, url, key, streams, headers, brand, seen)
        for query in queries:
            yield from self._walk_search(ctx, query, streams, headers, brand, seen)
        ctx.cursor["streams"] = streams

    # --- streams ------------------------------------------------------------------------

    def _walk_timeline(self, ctx: CollectContext, url: str, key: str, streams: dict[str, Any],
                       headers: dict[str, str], brand: BrandConfig, seen: set[str]) -> Iterator[RawMention]:
        newest = streams.get(key)
        forward = newest is not None
        params: dict[str, Any] | None = {"limit": self.options.limit}
        if forward:
            params = {"limit": self.options.limit, "min_id": newest}
        next_url: str | None = url
        for _ in range(self.options.max_pages):
            if next_url is None or self._stopped:
                break
            page = ctx.fetch.get(next_url, params=params, headers=headers, source=self.name, robots=False)
            ctx.progress(1)
            statuses = self._statuses(page, page.json(self.name))
            links = parse_link_header(page.headers.get("link"))
            for status in statuses:
                newest = _max_id(newest, status.get("id"))
            yield from self._mentions(ctx, statuses, brand, seen)
            streams[key] = newest
            if rate_limited(page.headers, self.options.rate_reserve):
                log.info("[%s] rate limit nearly used up; going on next run", self.name)
                self._stopped = True
                break
            if not statuses:
                break
            # first run: older pages (rel=next) back to max_pages; later runs: newer pages (rel=prev)
            next_url = links.get("prev") if forward else links.get("next")
            if next_url is not None and urlsplit(next_url).netloc != self.host:
                raise ParseError(f"Link header points to another host: {next_url}", source=self.name, url=page.url)
            params = None  # the Link URL carries every parameter

    def _walk_search(self, ctx: CollectContext, query: str, streams: dict[str, Any],
                     headers: dict[str, str], brand: BrandConfig, seen: set[str]) -> Iterator[RawMention]:
        key = f"search:{query.lower()}"
        floor = streams.get(key)
        newest = floor
        offset = 0
        for _ in range(self.options.max_pages):
            if self._stopped:
                break
            params: dict[str, Any] = {"q": query, "type": "statuses", "limit": self.options.limit, "offset": offset}
            if floor:
                params["min_id"] = floor
            page = ctx.fetch.get(f"{self.options.instance}/api/v2/search", params=params, headers=headers, robots=False,
                                 source=self.name)
            ctx.progress(1)
            body = page.json(self.name)
            if not isinstance(body, dict) or not isinstance(body.get("statuses"), list):
                raise ParseError("search answer has no 'statuses' list", source=self.name, url=page.url)
            statuses = self._statuses(page, body["statuses"])
            for status in statuses:
                newest = _max_id(newest, status.get("id"))
            yield from self._mentions(ctx, statuses, brand, seen)
            if rate_limited(page.headers, self.options.rate_reserve):
                self._stopped = True
                break
            if len(statuses) < self.options.limit:
                break
            offset += len(statuses)
        if newest:
            streams[key] = newest

    # --- statuses -----------------------------------------------------------------------

    def _statuses(self, page: Page, body: Any) -> list[dict[str, Any]]:
        if not isinstance(body, list):
            raise ParseError("expected a JSON array of statuses", source=self.name, url=page.url,
                             hint="check `instance` points at a Mastodon server")
        return [s for s in body if isinstance(s, dict) and s.get("id")]

    def _mentions(self, ctx: CollectContext, statuses: list[dict[str, Any]], brand: BrandConfig,
                  seen: set[str]) -> Iterator[RawMention]:
        originals = [s.get("reblog") if isinstance(s.get("reblog"), dict) else s for s in statuses]
        ids = [str(o.get("id")) for o in originals if isinstance(o, dict) and o.get("id")]
        known = ctx.known(ids)
        for original in originals:
            if not isinstance(original, dict) or not original.get("id"):
                continue
            mention = self._mention(original)
            if mention is None or mention.external_id in known or mention.external_id in seen:
                continue  # deleted/empty, or a boost of something we already have
            seen.add(mention.external_id)
            if brand.matches(f"{mention.title or ''}\n{mention.text}", mention.author_handle):
                yield mention

    def _mention(self, status: dict[str, Any]) -> RawMention | None:
        text = html_to_text(status.get("content"))
        if not text:
            return None
        found = status.get("account")
        account: dict[str, Any] = found if isinstance(found, dict) else {}
        acct = str(account.get("acct") or account.get("username") or "").strip()
        handle = None
        if acct:
            handle = "@" + acct if "@" in acct else f"@{acct}@{self.host}"
        return RawMention(
            source=self.name,
            external_id=str(status["id"]),
            text=text,
            url=status.get("url") or status.get("uri"),
            author_name=(account.get("display_name") or "").strip() or None,
            author_handle=handle,
            title=(status.get("spoiler_text") or "").strip() or None,
            published_at=_parse_time(status.get("created_at")),
            language=status.get("language") or None,
            raw={"uri": status.get("uri"), "visibility": status.get("visibility"),
                 "tags": [t.get("name") for t in status.get("tags") or [] if isinstance(t, dict)]},
        )


def _max_id(current: str | None, candidate: Any) -> str | None:
    """Mastodon ids are numeric strings of varying length: compare as numbers."""
    if candidate is None:
        return current
    text = str(candidate)
    if current is None:
        return text
    try:
        return text if int(text) > int(current) else current
    except ValueError:
        return max(current, text, key=lambda v: (len(v), v))


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return when.astimezone(UTC) if when.tzinfo else None
