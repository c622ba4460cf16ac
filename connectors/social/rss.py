"""RSS 2.0 / Atom feeds (any feed, including Google Alerts) as social mentions.

Each entry is one mention: its id (else its link, else a content hash) is the external id,
HTML is stripped to text, Google's ``/url?...&url=<target>`` redirect links are unwrapped to the
real address. Feeds are fetched with conditional GET, so an unchanged feed costs a 304; entries
already stored are skipped, and the cursor keeps the newest entry date seen per feed.
"""

from __future__ import annotations

import calendar
import io
import logging
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any, ClassVar
from urllib.parse import parse_qs, urljoin, urlsplit

import feedparser
from pydantic import Field

from bot.errors import ParseError, SourceError
from connectors.base import CollectContext, PageUrl, RawMention, content_id
from connectors.brand import BrandOptions, SocialConnector, html_to_text, social_brand

log = logging.getLogger("recoverybot.connectors.social.rss")


class RssOptions(BrandOptions):
    """Keys of a `kind = "rss"` source."""

    urls: tuple[PageUrl, ...] = Field(min_length=1, description="Feed URLs (RSS 2.0 or Atom), e.g. a Google Alerts feed.")
    brand_filter: bool = Field(
        True,
        description="Keep only entries that name the brand ([brand] keywords/handles). Set false for feeds "
        "that are already about you (a Google Alert); excluded words and own accounts still apply.",
    )
    max_entries: int = Field(500, ge=1, le=10_000, description="At most this many entries read per feed per run.")



class RssConnector(SocialConnector[RssOptions]):
    """Collects entries of RSS/Atom feeds."""

    kind: ClassVar[str] = "rss"
    Options: ClassVar[type[RssOptions]] = RssOptions

    def collect(self, ctx: CollectContext) -> Iterator[RawMention]:
        brand = social_brand(self.options, self.brand, ctx)
        feeds: dict[str, Any] = dict(ctx.cursor.get("feeds") or {})
        failed: list[SourceError] = []
        ctx.progress(0, len(self.options.urls))
        for url in self.options.urls:
            try:
                page = ctx.fetch.get(url, conditional=True, source=self.name,
                                     headers={"Accept": "application/rss+xml, application/atom+xml, application/xml;q=0.9, */*;q=0.5"})
                if page.not_modified:
                    continue
                entries = self._parse(url, page.content, page.headers)
            except SourceError as exc:
                failed.append(exc)
                ctx.report(exc)
                continue
            finally:
                ctx.progress(1)
            known = ctx.known(m.external_id for m in entries)
            newest = feeds.get(url, {}).get("newest")
            for mention in entries:
                if mention.published_at is not None:
                    stamp = mention.published_at.isoformat()
                    newest = max(newest or stamp, stamp)
                if mention.external_id in known:
                    continue
                if not brand.matches(f"{mention.title or ''}\n{mention.text}", mention.author_handle,
                                     require_terms=self.options.brand_filter):
                    continue
                yield mention
            feeds[url] = {"newest": newest}
        ctx.cursor["feeds"] = feeds
        if failed and len(failed) == len(self.options.urls):
            raise failed[-1]

    def _parse(self, url: str, content: bytes, headers: Any) -> list[RawMention]:
        parsed = feedparser.parse(
            io.BytesIO(content),
            # no content-location: feedparser would rewrite relative guids into URLs of this host,
            # and an id must not change when the feed moves (or the demo server's port does)
            response_headers={"content-type": headers.get("content-type", "application/xml")},
        )
        if not parsed.entries and (parsed.bozo or not parsed.version):
            why = getattr(parsed, "bozo_exception", None) or "no RSS or Atom feed found"
            raise ParseError(f"not a readable feed: {why}", source=self.name, url=url,
                             hint="check the URL serves RSS or Atom (open it in a browser)")
        feed_lang = _lang(parsed.feed.get("language"))
        out: list[RawMention] = []
        for entry in parsed.entries[: self.options.max_entries]:
            mention = self._mention(entry, feed_lang, url)
            if mention is not None:
                out.append(mention)
        return out

    def _mention(self, entry: Any, feed_lang: str | None, feed_url: str) -> RawMention | None:
        link = unwrap_redirect(urljoin(feed_url, entry.get("link") or "")) if entry.get("link") else None
        title = html_to_text(entry.get("title")) or None
        body = ""
        if entry.get("content"):
            body = html_to_text(entry.content[0].get("value"))
        if not body:
            body = html_to_text(entry.get("summary"))
        text = body or title or ""
        if not text.strip():
            return None  # an empty entry says nothing about anyone
        author = (entry.get("author") or "").strip() or None
        detail = entry.get("author_detail") or {}
        name = (detail.get("name") or "").strip() or None
        handle = _handle(author, name)
        author_name = name if name and name != handle else None
        entry_id = (entry.get("id") or "").strip()
        external_id = entry_id or link or content_id(link, author, text)
        language = None
        for part in ("content", "summary_detail", "title_detail"):
            value = entry.get(part)
            if isinstance(value, list):
                value = value[0] if value else None
            if value and value.get("language"):
                language = _lang(value.get("language"))
                break
        return RawMention(
            source=self.name,
            external_id=external_id[:500],
            text=text,
            url=link,
            author_name=author_name,
            author_handle=handle,
            title=title if title != text else None,
            published_at=_when(entry.get("published_parsed") or entry.get("updated_parsed")),
            language=language or feed_lang,
            raw={k: entry.get(k) for k in ("id", "link", "author") if entry.get(k)},
        )


def unwrap_redirect(url: str) -> str:
    """Google Alerts links point at ``https://www.google.com/url?...&url=<real>``: return the real one."""
    parts = urlsplit(url)
    host = parts.netloc.lower()
    if parts.path == "/url" and (host.startswith("www.google.") or host.startswith("google.")):
        query = parse_qs(parts.query)
        for key in ("url", "q"):
            target = (query.get(key) or [""])[0]
            if target.startswith(("http://", "https://")):
                return target
    return url


def _handle(author: str | None, name: str | None) -> str | None:
    """A handle from an RSS <author>/<dc:creator>: '@maria_l' stays, 'maria@x.org (Maria)' gives the name."""
    for value in (author, name):
        if value and value.startswith("@"):
            return value.split()[0]
    if name and " " not in name.strip():
        return name.strip()
    if author and " " not in author and "@" not in author:
        return author
    return None


def _lang(value: Any) -> str | None:
    if not value or not isinstance(value, str):
        return None
    return value.strip().replace("_", "-").lower()[:20] or None


def _when(parsed: time.struct_time | None) -> datetime | None:
    if not parsed:
        return None
    try:
        return datetime.fromtimestamp(calendar.timegm(parsed), tz=UTC)
    except (OverflowError, ValueError):
        return None

