"""Any review page, read with CSS selectors from config.toml.

For sites without structured data: say where a review is (``item``) and, inside it, its text,
author, title, rating (as text like "4.5 out of 5", an attribute like ``data-rating``, or a count
of filled stars), date (text or an attribute, with an optional strptime format), permalink and
id. ``next_page`` follows pagination; reading stops at the first page whose reviews are all
already stored (reviews are newest first on real sites), or at ``max_pages``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar, Literal
from urllib.parse import urljoin

from bs4 import BeautifulSoup, Tag
from pydantic import Field, field_validator

from bot.errors import ParseError, SourceError
from bot.revisit import Schedule
from connectors.base import (
    CollectContext,
    Options,
    PageUrl,
    RawMention,
    content_id,
    new_on_page,
    normalise_rating,
)
from connectors.brand import html_to_text
from connectors.reviews.schema_org import parse_datetime


class HtmlOptions(Options):
    """Keys of a `kind = "html"` source: the pages and the CSS selectors that find reviews."""

    urls: tuple[PageUrl, ...] = Field(min_length=1, description="First review page of each product (or of the shop).")
    item: str = Field(description="CSS selector of one review, e.g. '.review' or 'li[itemprop=review]'.")
    text: str = Field(description="CSS selector, inside a review, of its body text.")
    author: str | None = Field(None, description="CSS selector, inside a review, of the author's name.")
    title: str | None = Field(None, description="CSS selector, inside a review, of its title.")
    rating: str | None = Field(None, description="CSS selector, inside a review, of the rating element ('&' = the review itself).")
    rating_from: Literal["text", "attribute", "count"] = Field(
        "text", description="Read the rating from the element's text ('4 out of 5'), an attribute, "
        "or as the number of elements the selector matches (filled stars).")
    rating_attribute: str = Field("data-rating", description="Attribute holding the rating when rating_from = 'attribute'.")
    rating_best: float = Field(5, gt=0, description="Best rating on the site's scale.")
    rating_worst: float = Field(1, ge=0, description="Worst rating on the site's scale.")
    date: str | None = Field(None, description="CSS selector, inside a review, of its date.")
    date_attribute: str | None = Field(None, description="Read the date from this attribute (e.g. 'datetime') instead of the text.")
    date_format: str | None = Field(None, description="strptime format of the date, e.g. '%d/%m/%Y'; common forms are read without it.")
    permalink: str | None = Field(None, description="CSS selector, inside a review, of a link to it (its href is the review URL).")
    id_attribute: str | None = Field(None, description="Attribute of the review element holding its id, e.g. 'data-review-id'.")
    product_name: str | None = Field(None, description="CSS selector, on the page, of the product name.")
    product_sku: str | None = Field(None, description="CSS selector, on the page, of the SKU (text or 'content' attribute).")
    next_page: str | None = Field(None, description="CSS selector of the link to the next (older) page of reviews.")
    max_pages: int = Field(20, ge=1, le=1000, description="At most this many pages followed per URL per run.")
    min_revisit_hours: float = Field(
        1, ge=0, description="A URL whose first page changed is asked again after half its interval, never "
        "sooner than this; a URL read for the first time waits this long.")
    max_revisit_days: float = Field(
        7, gt=0, description="A URL whose first page stays unchanged is asked less and less often (its interval "
        "doubles), but at least once in this many days.")

    @field_validator("item", "text", "author", "title", "rating", "date", "permalink", "product_name",
                     "product_sku", "next_page")
    @classmethod
    def _selector(cls, value: str | None) -> str | None:
        if value is None or value == "&":
            return value
        import soupsieve

        try:
            soupsieve.compile(value)
        except soupsieve.SelectorSyntaxError as exc:
            raise ValueError(f"{value!r} is not a CSS selector: {exc.args[0]}") from exc
        return value


class HtmlConnector:
    """Reads reviews from any page with CSS selectors."""

    kind: ClassVar[str] = "html"
    Options: ClassVar[type[HtmlOptions]] = HtmlOptions

    def __init__(self, name: str, options: HtmlOptions | dict[str, Any]) -> None:
        self.name = name
        self.options = options if isinstance(options, HtmlOptions) else HtmlOptions.model_validate(options)

    def collect(self, ctx: CollectContext) -> Iterator[RawMention]:
        failed: list[SourceError] = []
        clock = getattr(ctx, "now", None)
        schedule = Schedule(ctx.cursor, clock() if callable(clock) else datetime.now(UTC),
                            min_revisit=timedelta(hours=self.options.min_revisit_hours),
                            max_revisit=timedelta(days=self.options.max_revisit_days))
        # each URL (a product's first review page) is asked only when its own revisit time came
        due = schedule.due(self.options.urls, unknown=lambda u: not ctx.fetch.remembers(u))
        ctx.progress(len(self.options.urls) - len(due), len(self.options.urls))
        for start in due:
            changed: list[bool] = []
            try:
                yield from self._walk(ctx, start, changed)
            except SourceError as exc:
                failed.append(exc)
                ctx.report(exc)
                schedule.asked(start)
            else:
                if len(changed) > 1:  # a page cut at max_reviews_per_page: stays due for the rest
                    schedule.asked(start)
                else:
                    schedule.seen(start, changed=bool(changed and changed[0]))
            finally:
                ctx.progress(1)
        schedule.save(self.options.urls)
        visits = getattr(ctx, "visits", None)
        if callable(visits):
            visits(schedule.visits)
        if failed and len(failed) == len(due):
            raise failed[-1]  # nothing could be read: the source as a whole failed

    def _walk(self, ctx: CollectContext, start: str, changed: list[bool]) -> Iterator[RawMention]:
        url: str | None = start
        seen_pages: set[str] = set()
        for number in range(self.options.max_pages):
            if url is None or url in seen_pages:
                return
            seen_pages.add(url)
            page = ctx.fetch.get(url, conditional=True, source=self.name)
            if number == 0:
                changed.append(not page.not_modified)
            if page.not_modified:
                return  # unchanged since last time: so are the older pages behind it
            mentions, next_url = self.parse(page.text, page.url, start)
            if not mentions:
                if number == 0:
                    raise ParseError(
                        f"no reviews found with item selector {self.options.item!r}",
                        source=self.name, url=page.url,
                        hint="open the page and check `item` matches each review (the site may have changed)",
                    )
                return
            fresh, cut = new_on_page(ctx, mentions, page.url)
            yield from fresh
            if not fresh:
                return  # everything on this page is stored: older pages are too
            if cut:
                changed.append(True)  # tells collect() the walk was cut short
                return  # the rest of this page, and the pages behind it, come next run
            if next_url is not None and (refused := ctx.fetch.link_refused(self.name, page.url, next_url)):
                ctx.report(refused)  # a next page on another host is never followed
                return
            url = next_url

    def parse(self, text: str, page_url: str, start: str | None = None) -> tuple[list[RawMention], str | None]:
        """The reviews on one page and the next page's URL."""
        soup = BeautifulSoup(text, "lxml")
        opts = self.options
        product_name = _pick_text(soup, opts.product_name) if opts.product_name else None
        sku = None
        if opts.product_sku:
            element = soup.select_one(opts.product_sku)
            if element is not None:
                sku = str(element.get("content") or element.get_text(" ", strip=True)) or None
        out: list[RawMention] = []
        for item in soup.select(opts.item):
            body_el = item.select_one(opts.text)
            body = html_to_text(str(body_el)) if body_el is not None else ""
            if not body.strip():
                continue
            author = _pick_text(item, opts.author)
            title = _pick_text(item, opts.title)
            link = None
            if opts.permalink:
                anchor = item.select_one(opts.permalink)
                href = anchor.get("href") if anchor is not None else None
                link = urljoin(page_url, str(href)) if href else None
            review_id = str(item.get(opts.id_attribute) or "").strip() if opts.id_attribute else ""
            external_id = review_id or link or content_id(start or page_url, author, body)
            out.append(RawMention(
                source=self.name,
                external_id=external_id,
                text=body,
                url=link or page_url,
                author_name=author,
                product_sku=sku,
                product_url=start or page_url,
                product_name=product_name,
                rating=self._rating(item),
                title=title,
                published_at=self._date(item),
                raw={"page": page_url},
            ))
        next_url = None
        if opts.next_page:
            anchor = soup.select_one(opts.next_page)
            href = anchor.get("href") if anchor is not None else None
            if href:
                next_url = urljoin(page_url, str(href))
        return out, next_url

    def _rating(self, item: Tag) -> float | None:
        opts = self.options
        if not opts.rating:
            return None
        if opts.rating_from == "count":
            return normalise_rating(len(item.select(opts.rating)), opts.rating_best, opts.rating_worst)
        element = item if opts.rating == "&" else item.select_one(opts.rating)
        if element is None:
            return None
        raw = element.get(opts.rating_attribute) if opts.rating_from == "attribute" else element.get_text(" ")
        match = re.search(r"\d+(?:[.,]\d+)?", str(raw or ""))
        if not match:
            return None
        return normalise_rating(match.group(0).replace(",", "."), opts.rating_best, opts.rating_worst)

    def _date(self, item: Tag) -> Any:
        opts = self.options
        if not opts.date:
            return None
        element = item.select_one(opts.date)
        if element is None:
            return None
        raw = element.get(opts.date_attribute) if opts.date_attribute else element.get_text(" ", strip=True)
        return parse_datetime(str(raw) if raw else None, opts.date_format)


def _pick_text(scope: Any, selector: str | None) -> str | None:
    if not selector:
        return None
    element = scope.select_one(selector)
    if element is None:
        return None
    return " ".join(element.get_text(" ", strip=True).split()) or None
