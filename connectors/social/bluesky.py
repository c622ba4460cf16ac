"""Bluesky: ``app.bsky.feed.searchPosts`` (newest first, ``cursor``), logged in with an app password.

Anonymous search is refused, so the connector opens a session with
``com.atproto.server.createSession`` (handle + app password from an env var), refreshes it with
``com.atproto.server.refreshSession`` when the access token expires, and logs in again when the
refresh token is gone too. The post's ``at://`` URI is its id; the permalink is built from the
author's handle and the record key. After the first run each query asks with ``since=`` the newest
post time seen, so only newer posts come back.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any, ClassVar

from pydantic import Field, field_validator

from bot.errors import FetchError, ParseError
from bot.fetch import Page
from connectors.base import BaseUrl, CollectContext, RawMention
from connectors.brand import BrandConfig, BrandOptions, SocialConnector, new_brand_mentions, rate_limited, social_brand, walk_newest_first

log = logging.getLogger("recoverybot.connectors.social.bluesky")


class BlueskyOptions(BrandOptions):
    """Keys of a `kind = "bluesky"` source."""

    handle: str = Field(description="The account that logs in, e.g. 'tidewell-monitor.bsky.social'.")
    app_password_env: str = Field(
        description="Env var holding an app password of that account (Settings > App passwords), never the main one."
    )
    service: BaseUrl = Field("https://bsky.social", description="The account's PDS; it proxies search to the AppView.")
    search: tuple[str, ...] | None = Field(
        None, description="Search queries. Default: the [brand] keywords and handles."
    )
    lang: str | None = Field(None, description="Only posts in this language (e.g. 'en'); default all.")
    limit: int = Field(100, ge=1, le=100, description="Posts per request (at most 100).")
    max_pages: int = Field(5, ge=1, le=100, description="At most this many requests per query per run.")
    rate_reserve: int = Field(5, ge=0, description="Stop for this run when fewer requests than this are left.")

    @field_validator("handle")
    @classmethod
    def _handle(cls, value: str) -> str:
        return value.strip().lstrip("@")


class BlueskyConnector(SocialConnector[BlueskyOptions]):
    """Collects posts found by Bluesky search."""

    kind: ClassVar[str] = "bluesky"
    Options: ClassVar[type[BlueskyOptions]] = BlueskyOptions

    def __init__(self, name: str, options: BlueskyOptions | dict[str, Any], brand: BrandConfig | None = None) -> None:
        super().__init__(name, options, brand)
        self._access: str | None = None
        self._refresh: str | None = None

    def collect(self, ctx: CollectContext) -> Iterator[RawMention]:
        brand = social_brand(self.options, self.brand, ctx)
        queries = self.options.search if self.options.search is not None else tuple(brand.terms())
        if not queries:
            log.warning("[%s] no search queries and no [brand] keywords: nothing to search", self.name)
            return
        streams: dict[str, Any] = dict(ctx.cursor.get("streams") or {})
        seen: set[str] = set()
        stopped = [False]
        for query in queries:
            if stopped[0]:
                break
            key = f"search:{query.lower()}"
            state = dict(streams.get(key) or {})

            def page(token: str | None, floor: float | None, query: str = query
                     ) -> tuple[list[RawMention], str | None, bool]:
                params: dict[str, Any] = {"q": query, "sort": "latest", "limit": self.options.limit}
                if token:
                    params["cursor"] = token
                if floor is not None:
                    params["since"] = datetime.fromtimestamp(floor, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
                if self.options.lang:
                    params["lang"] = self.options.lang
                got = self._get(ctx, "app.bsky.feed.searchPosts", params)
                body = got.json(self.name)
                if not isinstance(body, dict) or not isinstance(body.get("posts"), list):
                    raise ParseError("searchPosts answer has no 'posts' list", source=self.name, url=got.url)
                items = [m for m in (self._mention(p) for p in body["posts"] if isinstance(p, dict)) if m]
                go_on = not rate_limited(got.headers, self.options.rate_reserve)
                stopped[0] = stopped[0] or not go_on
                nxt = body.get("cursor")
                return items, str(nxt) if nxt and body["posts"] else None, go_on

            batch = list(walk_newest_first(state, page, _stamp, self.options.max_pages))
            streams[key] = state
            yield from new_brand_mentions(batch, ctx, seen, brand)  # posts have no title
        ctx.cursor["streams"] = streams

    # --- session ------------------------------------------------------------------------

    def _get(self, ctx: CollectContext, method: str, params: dict[str, Any]) -> Page:
        """An authenticated XRPC GET; an expired token is refreshed (or the session re-opened) once."""
        if self._access is None:
            self._login(ctx)
        url = f"{self.options.service}/xrpc/{method}"
        for attempt in range(2):
            try:
                page = ctx.fetch.get(url, params=params, headers=self._auth(self._access), source=self.name,
                                     robots=False)  # the XRPC API, not web pages
                ctx.progress(1)
                return page
            except FetchError as exc:
                if exc.status not in (400, 401) or attempt:
                    raise
                log.info("[%s] Bluesky session expired; refreshing", self.name)
                self._renew(ctx)
        raise AssertionError("unreachable")

    def _renew(self, ctx: CollectContext) -> None:
        if self._refresh:
            try:
                page = ctx.fetch.post(f"{self.options.service}/xrpc/com.atproto.server.refreshSession",
                                      headers=self._auth(self._refresh), source=self.name)
                self._keep(page)
                return
            except FetchError as exc:
                if exc.status not in (400, 401):
                    raise
        self._login(ctx)

    def _login(self, ctx: CollectContext) -> None:
        from bot.env import secret

        password = secret(self.options.app_password_env, f"sources.{self.name}.app_password_env")
        url = f"{self.options.service}/xrpc/com.atproto.server.createSession"
        try:
            page = ctx.fetch.post(url, json_body={"identifier": self.options.handle, "password": password},
                                  source=self.name)
        except FetchError as exc:
            if exc.status in (400, 401):
                raise FetchError("Bluesky refused the login", source=self.name, url=url, status=exc.status,
                                 retryable=False,
                                 hint="check `handle` and that the app password in the env var is current") from exc
            raise
        self._keep(page)

    def _keep(self, page: Page) -> None:
        body = page.json(self.name)
        access = body.get("accessJwt") if isinstance(body, dict) else None
        if not access:
            raise ParseError("the session answer has no accessJwt", source=self.name, url=page.url)
        self._access, self._refresh = str(access), str(body.get("refreshJwt") or "") or None

    @staticmethod
    def _auth(token: str | None) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}", "Accept": "application/json"}

    # --- posts --------------------------------------------------------------------------

    def _mention(self, post: dict[str, Any]) -> RawMention | None:
        uri = post.get("uri")
        found_record = post.get("record")
        record: dict[str, Any] = found_record if isinstance(found_record, dict) else {}
        text = str(record.get("text") or "").strip()
        if not isinstance(uri, str) or not uri.startswith("at://") or not text:
            return None  # deleted, or an image without words
        found = post.get("author")
        author: dict[str, Any] = found if isinstance(found, dict) else {}
        handle = str(author.get("handle") or "") or None
        if handle == "handle.invalid":
            handle = None
        langs = record.get("langs")
        return RawMention(
            source=self.name,
            external_id=uri,
            text=text,
            url=permalink(uri, handle),
            author_name=(author.get("displayName") or "").strip() or None,
            author_handle=handle,
            published_at=_parse_time(record.get("createdAt")) or _parse_time(post.get("indexedAt")),
            language=str(langs[0]) if isinstance(langs, list) and langs else None,
            raw={"cid": post.get("cid"), "did": author.get("did"), "likes": post.get("likeCount")},
        )


def permalink(uri: str, handle: str | None = None) -> str | None:
    """at://did:plc:x/app.bsky.feed.post/3kabc -> https://bsky.app/profile/<handle or did>/post/3kabc."""
    parts = uri.removeprefix("at://").split("/")
    if len(parts) != 3 or parts[1] != "app.bsky.feed.post":
        return None
    return f"https://bsky.app/profile/{handle or parts[0]}/post/{parts[2]}"


def _stamp(mention: RawMention) -> float:
    return mention.published_at.timestamp() if mention.published_at else 0.0


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return when.astimezone(UTC) if when.tzinfo else None
