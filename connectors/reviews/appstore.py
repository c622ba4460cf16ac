"""Apple App Store customer reviews, from the public customer-reviews JSON feed.

One feed per app and country: ``{base_url}/{country}/rss/customerreviews/page={n}/id={app_id}/
sortby=mostrecent/json`` — 50 reviews a page, at most 10 pages. The first entry of a page can be
the app itself (no ``im:rating``): it is skipped. Reading stops at the first page whose reviews
are all stored, at the last page, or at ``max_pages``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any, ClassVar

from pydantic import Field, field_validator

from bot.errors import ParseError, SourceError
from connectors.base import BaseUrl, CollectContext, Options, RawMention, normalise_rating
from connectors.reviews.schema_org import parse_datetime


class AppStoreOptions(Options):
    """Keys of a `kind = "appstore"` source."""

    app_id: str = Field(description="The app's numeric id (from its App Store address: .../id<digits>).")
    countries: tuple[str, ...] = Field(("us",), min_length=1, description="Two-letter store countries to read, e.g. ['us', 'gb'].")
    max_pages: int = Field(10, ge=1, le=10, description="At most this many pages (of 50) per country per run; Apple serves 10.")
    base_url: BaseUrl = Field("https://itunes.apple.com", description="Address of Apple's feed service.")

    @field_validator("app_id", mode="before")
    @classmethod
    def _app_id(cls, value: Any) -> str:
        text = str(value).strip().removeprefix("id")
        if not text.isdigit():
            raise ValueError(f"{value!r} is not a numeric App Store id")
        return text

    @field_validator("countries")
    @classmethod
    def _countries(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for code in value:
            if not re.fullmatch(r"[A-Za-z]{2}", code):
                raise ValueError(f"{code!r} is not a two-letter country code")
        return tuple(c.lower() for c in value)



def _label(node: Any) -> str | None:
    if isinstance(node, dict):
        value = node.get("label")
        return str(value).strip() if value is not None else None
    return None


class AppStoreConnector:
    """Reads an app's App Store reviews, per country."""

    kind: ClassVar[str] = "appstore"
    Options: ClassVar[type[AppStoreOptions]] = AppStoreOptions

    def __init__(self, name: str, options: AppStoreOptions | dict[str, Any]) -> None:
        self.name = name
        self.options = options if isinstance(options, AppStoreOptions) else AppStoreOptions.model_validate(options)

    def feed_url(self, country: str, page: int) -> str:
        return (f"{self.options.base_url}/{country}/rss/customerreviews/page={page}/id={self.options.app_id}"
                f"/sortby=mostrecent/json")

    def collect(self, ctx: CollectContext) -> Iterator[RawMention]:
        failed: list[SourceError] = []
        for country in self.options.countries:
            try:
                yield from self._country(ctx, country)
            except SourceError as exc:
                failed.append(exc)
                ctx.report(exc)
        if failed and len(failed) == len(self.options.countries):
            raise failed[-1]

    def _country(self, ctx: CollectContext, country: str) -> Iterator[RawMention]:
        for number in range(1, self.options.max_pages + 1):
            page = ctx.fetch.get(self.feed_url(country, number), conditional=number == 1, source=self.name)
            ctx.progress(1)
            if page.not_modified:
                return
            data = page.json(self.name)
            feed = data.get("feed") if isinstance(data, dict) else None
            if not isinstance(feed, dict):
                raise ParseError("no 'feed' in the App Store response", source=self.name, url=page.url,
                                 hint="check `app_id`; Apple answers {} for an unknown app")
            entries = feed.get("entry") or []
            if isinstance(entries, dict):
                entries = [entries]  # a single entry comes as an object
            mentions = [m for m in (self._mention(e, country) for e in entries) if m is not None]
            if not mentions:
                return
            known = ctx.known(m.external_id for m in mentions)
            for mention in mentions:
                if mention.external_id not in known:
                    yield mention
            if len(known) == len(mentions) or number >= _last_page(feed):
                return

    def _mention(self, entry: Any, country: str) -> RawMention | None:
        if not isinstance(entry, dict) or "im:rating" not in entry:
            return None  # the app's own entry, at the top of a page
        review_id = _label(entry.get("id"))
        text = _label(entry.get("content")) or ""
        title = _label(entry.get("title"))
        if not review_id or not (text or title):
            return None
        author = entry.get("author") or {}
        version = _label(entry.get("im:version"))
        return RawMention(
            source=self.name,
            external_id=review_id,
            text=text or title or "",
            url=_label(author.get("uri")) if isinstance(author, dict) else None,
            author_name=_label(author.get("name")) if isinstance(author, dict) else None,
            product_sku=self.options.app_id,
            product_name=None,
            rating=normalise_rating(_label(entry.get("im:rating"))),
            title=title if text else None,
            published_at=parse_datetime(_label(entry.get("updated"))),
            raw={"country": country, "version": version or None, "votes": _label(entry.get("im:voteCount"))},
        )


def _last_page(feed: dict[str, Any]) -> int:
    for link in feed.get("link") or []:
        attributes = link.get("attributes") if isinstance(link, dict) else None
        if isinstance(attributes, dict) and attributes.get("rel") == "last":
            found = re.search(r"page=(\d+)", str(attributes.get("href") or ""))
            if found:
                return int(found.group(1))
    return 10
