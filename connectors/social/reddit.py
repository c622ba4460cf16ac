"""Reddit: ``/search.json`` and ``/r/{sub}/new.json`` listings (newest first, ``after`` cursor).

Reddit asks for a descriptive User-Agent and allows about 10 requests a minute without OAuth
(100 with an app's client credentials, given by env vars); the ``x-ratelimit-remaining`` header
is honoured by stopping the run early and finishing the walk next run (nothing is skipped).
Each listing is walked from the newest post down to the newest post of the last run.
"""

from __future__ import annotations

import base64
import logging
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any, ClassVar
from urllib.parse import quote

from pydantic import Field, field_validator

from bot.errors import FetchError, ParseError
from connectors.base import BaseUrl, CollectContext, RawMention
from connectors.brand import BrandConfig, BrandOptions, SocialConnector, new_brand_mentions, rate_limited, social_brand, walk_newest_first

log = logging.getLogger("recoverybot.connectors.social.reddit")

DEFAULT_REDDIT_UA = "python:recoverybot:0.1 (brand mention monitor for a small shop)"
_GONE = {"[deleted]", "[removed]"}


class RedditOptions(BrandOptions):
    """Keys of a `kind = "reddit"` source."""

    subreddits: tuple[str, ...] = Field((), description="Subreddits whose new posts are read (without 'r/').")
    search: tuple[str, ...] | None = Field(
        None, description="Site-wide search queries. Default: the [brand] keywords and handles; [] turns search off."
    )
    user_agent: str = Field(
        DEFAULT_REDDIT_UA,
        description="User-Agent Reddit requires: 'platform:app:version (by /u/yourname)'. Say who you are.",
    )
    client_id_env: str | None = Field(None, description="Env var with a Reddit app's client id (optional OAuth).")
    client_secret_env: str | None = Field(None, description="Env var with that app's client secret.")
    base_url: BaseUrl = Field("https://www.reddit.com", description="Where listings are read without OAuth.")
    oauth_url: BaseUrl = Field("https://oauth.reddit.com", description="Where listings are read with OAuth.")
    token_url: BaseUrl = Field("https://www.reddit.com/api/v1/access_token", description="OAuth token endpoint.")
    limit: int = Field(100, ge=1, le=100, description="Posts per request (Reddit allows at most 100).")
    max_pages: int = Field(3, ge=1, le=50, description="At most this many requests per listing per run.")
    rate_reserve: float = Field(1, ge=0, description="Stop for this run when fewer requests than this are left.")

    @field_validator("subreddits")
    @classmethod
    def _subs(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        out = tuple(s.strip().removeprefix("/").removeprefix("r/") for s in value if s.strip())
        for sub in out:
            if not sub.replace("_", "").replace("+", "").isalnum():
                raise ValueError(f"{sub!r} is not a subreddit name")
        return out



class RedditConnector(SocialConnector[RedditOptions]):
    """Collects posts from Reddit listings."""

    kind: ClassVar[str] = "reddit"
    Options: ClassVar[type[RedditOptions]] = RedditOptions

    def __init__(self, name: str, options: RedditOptions | dict[str, Any], brand: BrandConfig | None = None) -> None:
        super().__init__(name, options, brand)
        self._token: tuple[str, float] | None = None

    def collect(self, ctx: CollectContext) -> Iterator[RawMention]:
        brand = social_brand(self.options, self.brand, ctx)
        headers = {"User-Agent": self.options.user_agent, "Accept": "application/json"}
        base, suffix = self.options.base_url, ".json"
        if self.options.client_id_env:
            headers["Authorization"] = f"Bearer {self._access_token(ctx)}"
            base, suffix = self.options.oauth_url, ""
        queries = self.options.search if self.options.search is not None else tuple(brand.terms())
        listings: list[tuple[str, str, dict[str, Any]]] = []
        for sub in self.options.subreddits:
            listings.append((f"new:{sub.lower()}", f"{base}/r/{quote(sub)}/new{suffix}", {}))
        for query in queries:
            listings.append((f"search:{query.lower()}", f"{base}/search{suffix}",
                             {"q": query, "sort": "new", "type": "link"}))
        if not listings:
            log.warning("[%s] no subreddits and no search terms: nothing to read", self.name)
        streams: dict[str, Any] = dict(ctx.cursor.get("streams") or {})
        seen: set[str] = set()
        stopped = [False]
        for key, url, extra in listings:
            if stopped[0]:
                break
            state = dict(streams.get(key) or {})

            def page(token: str | None, floor: float | None, url: str = url, extra: dict[str, Any] = extra
                     ) -> tuple[list[RawMention], str | None, bool]:
                params = {**extra, "limit": self.options.limit, "raw_json": 1}
                if token:
                    params["after"] = token
                # OAuth calls are the documented API (its terms govern them); anonymous JSON listings live on
                # the website, where robots.txt applies.
                got = ctx.fetch.get(url, params=params, headers=headers, source=self.name,
                                    robots="Authorization" not in headers)
                ctx.progress(1)
                items, after = self._listing(got.json(self.name), got.url)
                go_on = not rate_limited(got.headers, self.options.rate_reserve)
                if not go_on:
                    log.info("[%s] Reddit rate limit used up (resets in %ss); going on next run",
                             self.name, got.headers.get("x-ratelimit-reset", "?"))
                    stopped[0] = True
                return items, after, go_on

            batch = list(walk_newest_first(state, page, _stamp, self.options.max_pages))
            streams[key] = state
            yield from new_brand_mentions(batch, ctx, seen, brand)
        ctx.cursor["streams"] = streams

    def _access_token(self, ctx: CollectContext) -> str:
        """An app-only OAuth token (client credentials), kept until shortly before it expires."""
        if self._token and self._token[1] > time.time() + 60:
            return self._token[0]
        from bot.env import secret

        client_id = secret(self.options.client_id_env, f"sources.{self.name}.client_id_env")
        client_secret = secret(self.options.client_secret_env, f"sources.{self.name}.client_secret_env")
        basic = base64.b64encode(f"{client_id}:{client_secret}".encode()).decode("ascii")
        page = ctx.fetch.post(self.options.token_url, data={"grant_type": "client_credentials"},
                              headers={"Authorization": f"Basic {basic}", "User-Agent": self.options.user_agent},
                              source=self.name)
        body = page.json(self.name)
        token = body.get("access_token") if isinstance(body, dict) else None
        if not token:
            raise FetchError("Reddit gave no access token", source=self.name, url=self.options.token_url,
                             retryable=False, hint="check the app's client id and secret (a 'script' or 'web' app)")
        self._token = (str(token), time.time() + float(body.get("expires_in") or 3600))
        return str(token)

    def _listing(self, body: Any, url: str) -> tuple[list[RawMention], str | None]:
        data = body.get("data") if isinstance(body, dict) and body.get("kind") == "Listing" else None
        if not isinstance(data, dict) or not isinstance(data.get("children"), list):
            raise ParseError("expected a Reddit Listing", source=self.name, url=url,
                             hint="Reddit may have answered with a login or block page; check user_agent")
        out: list[RawMention] = []
        for child in data["children"]:
            if not isinstance(child, dict) or not isinstance(child.get("data"), dict):
                continue
            mention = self._mention(child.get("kind"), child["data"])
            if mention is not None:
                out.append(mention)
        after = data.get("after")
        return out, str(after) if after else None

    def _mention(self, kind: Any, post: dict[str, Any]) -> RawMention | None:
        author = str(post.get("author") or "")
        fullname = str(post.get("name") or (f"{kind}_{post['id']}" if post.get("id") else ""))
        if not fullname or author in _GONE:
            return None  # deleted: nobody to help, nothing to read
        if kind == "t1":
            title, body = None, str(post.get("body") or "")
        else:
            title, body = (str(post.get("title") or "").strip() or None), str(post.get("selftext") or "")
        if body.strip() in _GONE:
            return None
        text = body.strip() or (title or "")  # selftext is markdown; raw_json=1 leaves it unescaped
        if not text:
            return None
        permalink = post.get("permalink")
        created = post.get("created_utc")
        return RawMention(
            source=self.name,
            external_id=fullname,
            text=text,
            url=f"https://www.reddit.com{permalink}" if isinstance(permalink, str) and permalink.startswith("/") else None,
            author_handle=f"u/{author}" if author else None,
            title=title if title != text else None,
            published_at=datetime.fromtimestamp(float(created), tz=UTC) if isinstance(created, (int, float)) else None,
            raw={"subreddit": post.get("subreddit"), "score": post.get("score"), "link": post.get("url"),
                 "num_comments": post.get("num_comments")},
        )


def _stamp(mention: RawMention) -> float:
    return mention.published_at.timestamp() if mention.published_at else 0.0
