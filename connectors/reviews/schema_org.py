"""Product pages with schema.org ``Product`` / ``Review`` / ``AggregateRating`` data.

What Shopify, WooCommerce and BigCommerce themes and review widgets (Judge.me, Yotpo, Stamped...)
put in the page: JSON-LD (one or several ``<script type="application/ld+json">``, ``@graph``,
arrays, ``@id`` references, a ``Review`` with ``itemReviewed``) or microdata (``itemscope`` /
``itemprop``). Real JSON-LD is often broken (comments, control characters, trailing commas, HTML
entities); we repair what can be repaired and report the rest with the page's URL.

Pages come from ``urls``, or from a ``sitemap`` (sitemap index files are followed), filtered by
``sitemap_match``. Each page is a conditional GET: an unchanged page costs a 304 and no parsing.
Reviews carry no platform id in schema.org unless the widget gives ``@id``/``identifier``; the
external id is then a hash of product URL + author + text (invariant 1).

The helpers :func:`extract_jsonld`, :func:`loads_lenient`, :func:`parse_datetime` and
:func:`reviews_from_nodes` are shared with other connectors (trustpilot falls back to JSON-LD).
"""

from __future__ import annotations

import html as htmllib
import json
import re
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any, ClassVar
from urllib.parse import urljoin

from pydantic import Field, field_validator, model_validator

from bot.errors import FetchError, LimitReached, ParseError, SourceError
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


class SchemaOrgOptions(Options):
    """Keys of a `kind = "schema_org"` source: the product pages to read."""

    urls: tuple[PageUrl, ...] = Field((), description="Product page URLs to read reviews from.")
    sitemap: PageUrl | None = Field(None, description="A sitemap (or sitemap index) URL listing product pages.")
    sitemap_match: str = Field(
        "/products?/",
        description="Regular expression a sitemap URL must match to be read (default: product pages).",
    )
    max_pages: int = Field(2000, ge=1, le=100_000, description="At most this many pages read per run.")
    microdata: bool = Field(True, description="Also read microdata (itemprop) when a page has no JSON-LD reviews.")
    min_revisit_hours: float = Field(
        1, ge=0, description="A listed page (not from the sitemap) that changed is asked again after half its "
        "interval, never sooner than this; a page read for the first time waits this long.")
    max_revisit_days: float = Field(
        7, gt=0, description="A listed page that stays unchanged is asked less and less often (its interval "
        "doubles), but at least once in this many days.")
    revisit_hours: float = Field(
        24, ge=0, description="A sitemap page whose <lastmod> did not change is still checked (conditional GET) "
        "when last read longer ago than this, as review widgets may not touch <lastmod>.")

    @field_validator("sitemap_match")
    @classmethod
    def _regex(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"{value!r} is not a regular expression: {exc}") from exc
        return value

    @model_validator(mode="after")
    def _something(self) -> SchemaOrgOptions:
        if not self.urls and not self.sitemap:
            raise ValueError("give `urls` (a list of product pages) or `sitemap`")
        return self


class SchemaOrgConnector:
    """Reads reviews from schema.org data embedded in product pages."""

    kind: ClassVar[str] = "schema_org"
    Options: ClassVar[type[SchemaOrgOptions]] = SchemaOrgOptions

    def __init__(self, name: str, options: SchemaOrgOptions | dict[str, Any]) -> None:
        self.name = name
        self.options = options if isinstance(options, SchemaOrgOptions) else SchemaOrgOptions.model_validate(options)
        self._from_sitemap: set[str] = set()  # pages of this run that the sitemap listed

    def collect(self, ctx: CollectContext) -> Iterator[RawMention]:
        urls = list(dict.fromkeys(self.options.urls))
        lastmods: dict[str, str | None] = {}
        self._from_sitemap = set()
        if self.options.sitemap:
            try:
                lastmods = self._discover(ctx)
            except SourceError as exc:
                if not urls:
                    raise
                ctx.report(exc)
            urls.extend(u for u in lastmods if u not in urls)
        if len(urls) > self.options.max_pages:
            # no url on the error: that would make the sitemap be read in full again next run
            where = f" (with the sitemap {self.options.sitemap})" if self.options.sitemap else ""
            ctx.report(LimitReached(
                f"{len(urls)} pages found{where} but max_pages is {self.options.max_pages}: "
                f"{len(urls) - self.options.max_pages} pages are never read",
                source=self.name, hint="raise this source's max_pages"))
        urls = urls[: self.options.max_pages]
        # Pages the sitemap says are unchanged since we read them, and that we read recently, are
        # not asked for at all; listed pages are asked when their own revisit time came (bot.revisit);
        # every page asked is a conditional GET (a 304 costs no parsing).
        visited: dict[str, list[Any]] = dict(ctx.cursor.get("pages") or {})
        clock = getattr(ctx, "now", None)
        now = clock() if callable(clock) else datetime.now(UTC)
        schedule = Schedule(ctx.cursor, now, min_revisit=timedelta(hours=self.options.min_revisit_hours),
                            max_revisit=timedelta(days=self.options.max_revisit_days))
        listed = [u for u in urls if u not in self._from_sitemap]
        # a page whose validators the store lost (restored from an old backup) is read again at once
        listed_due = set(schedule.due(listed, unknown=lambda u: not ctx.fetch.remembers(u)))
        due = [u for u in urls if (u in listed_due if u not in self._from_sitemap
                                   else self._due(u, lastmods.get(u), visited.get(u), now))]
        ctx.progress(len(urls) - len(due), len(urls))
        errors: list[SourceError] = []
        for url, result in ctx.fetch.get_many(due, conditional=True, source=self.name):
            ctx.progress(1)
            if isinstance(result, SourceError):
                errors.append(result)
                ctx.report(result)
                if url in listed_due:
                    schedule.asked(url)
                continue
            if result.not_modified and url in listed_due:
                schedule.seen(url, changed=False)
            if not result.not_modified:
                try:
                    mentions = self.parse(result.text, result.url, requested=url)
                except ParseError as exc:
                    errors.append(exc)
                    ctx.report(exc)
                    if url in listed_due:
                        schedule.asked(url)
                    continue
                except (RecursionError, MemoryError, ValueError) as exc:
                    # whatever a hostile page provokes costs that page, never the source's others
                    error = ParseError(f"the page cannot be read ({type(exc).__name__}: {str(exc)[:200]})",
                                       source=self.name, url=result.url)
                    errors.append(error)
                    ctx.report(error)
                    if url in listed_due:
                        schedule.asked(url)
                    continue
                fresh, cut = new_on_page(ctx, mentions, result.url)
                if url in listed_due:
                    if cut:
                        schedule.asked(url)  # stays due: the rest of the page comes next run
                    else:
                        schedule.seen(url, changed=True)
                yield from fresh
                if cut:
                    continue  # not marked visited: the next run reads the page again for the rest
            if self.options.sitemap:
                visited[url] = [lastmods.get(url), now.isoformat(timespec="seconds")]
        if self.options.sitemap:
            ctx.cursor["pages"] = {u: v for u, v in visited.items() if u in lastmods}
        schedule.save(listed)
        visits = getattr(ctx, "visits", None)
        if callable(visits):
            visits(schedule.visits)
        if due and len(errors) == len(due):
            raise errors[-1]

    def _due(self, url: str, lastmod: str | None, seen: list[Any] | None, now: datetime) -> bool:
        if not self.options.sitemap or url not in self._from_sitemap or lastmod is None or not seen:
            return True
        read_lastmod, read_at = seen[0], parse_datetime(seen[1])
        if read_lastmod != lastmod or read_at is None:
            return True
        return (now - read_at).total_seconds() >= self.options.revisit_hours * 3600

    # --- discovery --------------------------------------------------------------------------

    def _discover(self, ctx: CollectContext) -> dict[str, str | None]:
        """Product page URL -> its sitemap <lastmod> (None when absent), through sitemap indexes.

        Sitemaps are conditional GETs too: an unchanged one gives the list remembered last run.
        """
        assert self.options.sitemap is not None
        remembered: dict[str, dict[str, str | None]] = dict(ctx.cursor.get("sitemaps") or {})
        fresh: dict[str, dict[str, str | None]] = {}
        pattern = re.compile(self.options.sitemap_match)
        found = self._read_sitemap(ctx, self.options.sitemap, remembered, fresh, 0)
        ctx.cursor["sitemaps"] = fresh
        pages = {u: m for u, m in found.items() if pattern.search(u)}
        self._from_sitemap = set(pages)
        return pages

    def _read_sitemap(self, ctx: CollectContext, url: str, remembered: dict[str, dict[str, str | None]],
                      fresh: dict[str, dict[str, str | None]], depth: int) -> dict[str, str | None]:
        page = ctx.fetch.get(url, conditional=True, source=self.name)
        if page.not_modified and url in remembered:
            entries = remembered[url]
            index = bool(entries.get("#index"))
        else:
            if page.not_modified:  # validators without a remembered list: read it in full
                page = ctx.fetch.get(url, source=self.name)
            entries, index = _sitemap_entries(page.text, self.name, url)
            if index:
                entries["#index"] = "1"
        fresh[url] = entries
        listed: dict[str, str | None] = {}
        refused: list[SourceError] = []
        for loc, lastmod in entries.items():
            if loc == "#index":
                continue
            error = ctx.fetch.link_refused(self.name, url, loc)
            if error is not None:  # a <loc> on another host is recorded, never fetched
                refused.append(error)
            else:
                listed[loc] = lastmod
        for problem in refused[:5]:
            ctx.report(problem)
        if len(refused) > 5:
            ctx.report(FetchError(f"refused {len(refused) - 5} more <loc> entries on other hosts; never fetched",
                                  source=self.name, url=url, retryable=False))
        if not index:
            return listed
        if depth >= 2:
            return {}
        # Shopify's index names its product sitemaps 'sitemap_products_1.xml': follow those first,
        # the rest only if none is about products
        children = [loc for loc in listed if "product" in loc.lower()] or list(listed)
        out: dict[str, str | None] = {}
        for child in children:
            try:
                out.update(self._read_sitemap(ctx, child, remembered, fresh, depth + 1))
            except SourceError as exc:
                ctx.report(exc)
        return out

    # --- parsing ----------------------------------------------------------------------------

    def parse(self, text: str, url: str, requested: str | None = None) -> list[RawMention]:
        """The reviews on one page; ParseError when the page has no readable product data."""
        nodes, problems = extract_jsonld(text)
        found = reviews_from_nodes(nodes, source=self.name, page_url=url)
        if not found.products and not found.reviews and self.options.microdata and "itemprop" in text:
            micro = extract_microdata(text)
            found = reviews_from_nodes(micro, source=self.name, page_url=url)
        if not found.products and not found.reviews:
            if problems:
                raise ParseError(f"the page's JSON-LD cannot be read: {problems[0]}", source=self.name,
                                 url=url, hint="the shop's theme emits broken JSON-LD; tell the shop")
            raise ParseError(
                "no schema.org Product or Review data on the page",
                source=self.name, url=url,
                hint="reviews may be loaded by JavaScript: use the `html` connector or the review "
                "widget's feed instead, or check the URL is a product page",
            )
        if not found.reviews and found.announced:
            raise ParseError(
                f"the page announces {found.announced} reviews (AggregateRating) but lists none",
                source=self.name, url=url,
                hint="the review widget loads them with JavaScript; use its feed or the `html` connector",
            )
        return found.reviews


# The sitemap protocol's own limit per file; more is hostile or broken, and is cut there.
MAX_SITEMAP_ENTRIES = 50_000


def _xml_parser() -> Any:
    """A recovering XML parser that never fetches or expands anything: no DTD, no entities
    (XXE, billion laughs), no network, and libxml2's default depth and size limits (huge_tree off)."""
    from lxml import etree

    return etree.XMLParser(resolve_entities=False, huge_tree=False, no_network=True, load_dtd=False,
                           recover=True, remove_comments=True, remove_pis=True, encoding="utf-8")


def _local(tag: Any) -> str:
    return tag.rsplit("}", 1)[-1].lower() if isinstance(tag, str) else ""


def _sitemap_entries(text: str, source: str, url: str) -> tuple[dict[str, str | None], bool]:
    """URL -> lastmod of a sitemap (or of a sitemap index, then True).

    Parsed by libxml2 in linear time (a regex over the document took quadratic time on unclosed
    tags and froze the daemon); at most :data:`MAX_SITEMAP_ENTRIES` entries are read.
    """
    from lxml import etree

    try:
        root = etree.fromstring(text.encode("utf-8"), _xml_parser())
    except etree.XMLSyntaxError as exc:
        raise ParseError(f"sitemap is not XML: {exc}", source=source, url=url,
                         hint="check `sitemap` points at an XML sitemap") from exc
    entries: dict[str, str | None] = {}
    if root is not None:
        for element in root.iter():
            if _local(element.tag) not in ("url", "sitemap"):
                continue
            loc: str | None = None
            lastmod: str | None = None
            for child in element:
                name = _local(child.tag)
                if name == "loc" and loc is None:
                    loc = "".join(child.itertext()).strip() or None
                elif name == "lastmod" and lastmod is None:
                    lastmod = "".join(child.itertext()).strip() or None
            if loc:
                entries[loc] = lastmod
                if len(entries) >= MAX_SITEMAP_ENTRIES:
                    break
    if not entries:
        raise ParseError("sitemap lists no <loc> URLs", source=source, url=url,
                         hint="check `sitemap` points at an XML sitemap")
    return entries, root is not None and _local(root.tag) == "sitemapindex"


# --- JSON-LD ---------------------------------------------------------------------------------


def html_tree(text: str) -> Any | None:
    """A page parsed by libxml2's HTML parser (linear time, default depth limits, no network);
    None for an empty page. Shared by the JSON-LD and microdata readers."""
    from lxml import etree
    from lxml import html as lxml_html

    parser = lxml_html.HTMLParser(no_network=True, huge_tree=False, encoding="utf-8")
    try:
        return lxml_html.fromstring(text.encode("utf-8"), parser=parser)
    except (etree.ParserError, etree.XMLSyntaxError, ValueError):
        return None


def extract_jsonld(text: str) -> tuple[list[Any], list[str]]:
    """Every JSON-LD block of an HTML page, parsed leniently; and what could not be read.

    The ``<script>`` elements come from a real HTML parser, never a regex over the whole page
    (an unclosed script tag made the old regex take quadratic time).
    """
    nodes: list[Any] = []
    problems: list[str] = []
    if "application/ld+json" not in text.lower():
        return nodes, problems
    root = html_tree(text)
    if root is None:
        return nodes, problems
    for script in root.iter("script"):
        if not (script.get("type") or "").strip().lower().startswith("application/ld+json"):
            continue
        try:
            nodes.append(loads_lenient(script.text or ""))
        except ValueError as exc:
            problems.append(str(exc))
    return nodes, problems


_TRAILING_COMMA = re.compile(r",\s*([\]}])")


# Real JSON-LD nests a handful of levels; 100,000 made json.loads raise RecursionError, which
# failed the whole source every cycle. Deeper than this is refused as one bad block.
MAX_JSONLD_DEPTH = 64


def loads_lenient(block: str) -> Any:
    """JSON as real pages emit it: with comments, raw control characters, CDATA, trailing commas,
    HTML entities, or several objects one after the other. ValueError when beyond repair or
    nested deeper than :data:`MAX_JSONLD_DEPTH`."""
    try:
        value = _loads_lenient(block)
    except RecursionError:
        raise ValueError(f"invalid JSON-LD (nested deeper than {MAX_JSONLD_DEPTH} levels)") from None
    if _depth_exceeds(value, MAX_JSONLD_DEPTH):
        raise ValueError(f"invalid JSON-LD (nested deeper than {MAX_JSONLD_DEPTH} levels)")
    return value


def _depth_exceeds(value: Any, limit: int) -> bool:
    """Whether `value` nests lists/dicts deeper than `limit` (iterative: no recursion to exhaust)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else ()
        for child in children:
            if isinstance(child, (dict, list)):
                if depth + 1 > limit:
                    return True
                stack.append((child, depth + 1))
    return False


def _loads_lenient(block: str) -> Any:
    block = block.strip()
    if block.startswith("<!--"):
        block = block[4:].rsplit("-->", 1)[0]
    block = block.replace("<![CDATA[", "").replace("]]>", "").strip().rstrip(";")
    try:
        return json.loads(block, strict=False)
    except ValueError:
        pass
    repaired = _TRAILING_COMMA.sub(r"\1", _strip_comments(block))
    for candidate in (repaired, htmllib.unescape(repaired)):
        try:
            return json.loads(candidate, strict=False)
        except ValueError:
            pass
        many = _concatenated(candidate)
        if many is not None:
            return many
    try:
        json.loads(repaired, strict=False)
    except ValueError as exc:
        raise ValueError(f"invalid JSON-LD ({exc})") from None
    raise ValueError("invalid JSON-LD")  # pragma: no cover - the line above always raises


def _strip_comments(block: str) -> str:
    """Remove /* */ and // comments outside strings (URLs inside strings keep their //)."""
    out: list[str] = []
    i, n = 0, len(block)
    in_string = False
    while i < n:
        ch = block[i]
        if in_string:
            out.append(ch)
            if ch == "\\" and i + 1 < n:
                out.append(block[i + 1])
                i += 2
                continue
            if ch == '"':
                in_string = False
            i += 1
            continue
        if ch == '"':
            in_string = True
            out.append(ch)
            i += 1
        elif block.startswith("/*", i):
            end = block.find("*/", i + 2)
            i = n if end < 0 else end + 2
        elif block.startswith("//", i):
            end = block.find("\n", i)
            i = n if end < 0 else end
        else:
            out.append(ch)
            i += 1
    return "".join(out)


def _concatenated(block: str) -> list[Any] | None:
    decoder = json.JSONDecoder(strict=False)
    values: list[Any] = []
    pos = 0
    while pos < len(block):
        while pos < len(block) and block[pos] in " \t\r\n,;":
            pos += 1
        if pos >= len(block):
            break
        try:
            value, pos = decoder.raw_decode(block, pos)
        except ValueError:
            return None
        values.append(value)
    return values if len(values) > 1 else None


# --- microdata -------------------------------------------------------------------------------


def extract_microdata(text: str) -> list[Any]:
    """Top-level microdata items of a page as JSON-LD-like dicts (``@type`` and properties)."""
    root = html_tree(text)
    if root is None:
        return []
    items: list[Any] = []
    for element in root.iter():
        if not isinstance(element.tag, str) or element.get("itemscope") is None:
            continue
        if element.get("itemprop") is not None:
            continue  # a nested item: read as a property of its parent
        items.append(_micro_item(element))
    return items


def _micro_item(element: Any) -> dict[str, Any]:
    item: dict[str, Any] = {}
    kind = (element.get("itemtype") or "").strip()
    if kind:
        item["@type"] = [t.rstrip("/").rsplit("/", 1)[-1] for t in kind.split()]
    if element.get("itemid"):
        item["@id"] = element.get("itemid")
    for prop in _micro_props(element):
        value = _micro_item(prop) if prop.get("itemscope") is not None else _micro_value(prop)
        for name in (prop.get("itemprop") or "").split():
            if name in item:
                existing = item[name]
                item[name] = (existing if isinstance(existing, list) else [existing]) + [value]
            else:
                item[name] = value
    return item


def _micro_props(element: Any) -> Iterator[Any]:
    """Descendants with itemprop that belong to this item (not to a nested item)."""
    for child in element:
        if not isinstance(child.tag, str):
            continue
        if child.get("itemprop") is not None:
            yield child
            if child.get("itemscope") is not None:
                continue
        if child.get("itemscope") is None:
            yield from _micro_props(child)


def _micro_value(element: Any) -> str:
    tag = element.tag.lower()
    if element.get("content") is not None:
        return str(element.get("content")).strip()
    if tag in ("a", "link", "area"):
        return str(element.get("href") or "").strip()
    if tag in ("img", "audio", "video", "source", "embed", "iframe"):
        return str(element.get("src") or "").strip()
    if tag == "time" and element.get("datetime"):
        return str(element.get("datetime")).strip()
    if tag in ("meter", "data") and element.get("value") is not None:
        return str(element.get("value")).strip()
    return " ".join(element.text_content().split())


# --- nodes to mentions -----------------------------------------------------------------------


class Found:
    """What a page's structured data holds."""

    def __init__(self) -> None:
        self.products: list[dict[str, Any]] = []
        self.reviews: list[RawMention] = []
        self.announced = 0  # reviewCount of AggregateRating, to spot widget-only pages


def _types(node: dict[str, Any]) -> set[str]:
    kind = node.get("@type")
    values = kind if isinstance(kind, list) else [kind]
    return {str(v).rsplit("/", 1)[-1].rsplit(":", 1)[-1] for v in values if v}


_PRODUCT_TYPES = {"Product", "ProductGroup", "IndividualProduct", "ProductModel", "SomeProducts", "Book",
                  "Vehicle", "SoftwareApplication", "MobileApplication"}
_REVIEW_TYPES = {"Review", "UserReview", "CriticReview", "EmployerReview"}


def _walk(value: Any) -> Iterator[dict[str, Any]]:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            yield item
            stack.extend(v for v in item.values() if isinstance(v, (dict, list)))
        elif isinstance(item, list):
            stack.extend(reversed(item))


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def reviews_from_nodes(nodes: Iterable[Any], *, source: str, page_url: str) -> Found:
    """Walk parsed JSON-LD/microdata and turn every Review (of a Product, or with itemReviewed)
    into a RawMention; ``@id`` references in ``@graph`` are resolved."""
    found = Found()
    every = [node for root in nodes for node in _walk(root)]
    by_id = {node["@id"]: node for node in every if isinstance(node.get("@id"), str) and len(node) > 1}

    def resolve(node: Any) -> Any:
        if isinstance(node, dict) and set(node) == {"@id"} and node["@id"] in by_id:
            return by_id[node["@id"]]
        return node

    done: set[int] = set()
    for node in every:
        types = _types(node)
        if types & _PRODUCT_TYPES and not types & _REVIEW_TYPES:
            found.products.append(node)
            aggregate = resolve(node.get("aggregateRating"))
            if isinstance(aggregate, dict):
                count = aggregate.get("reviewCount") or aggregate.get("ratingCount")
                try:
                    found.announced = max(found.announced, int(float(str(count))))
                except (TypeError, ValueError):
                    pass
            for review in _as_list(node.get("review")) + _as_list(node.get("reviews")):
                review = resolve(review)
                if isinstance(review, dict) and id(review) not in done:
                    done.add(id(review))
                    mention = review_to_mention(review, node, source=source, page_url=page_url)
                    if mention is not None:
                        found.reviews.append(mention)
    for node in every:
        if _types(node) & _REVIEW_TYPES and id(node) not in done:
            product = resolve(node.get("itemReviewed"))
            done.add(id(node))
            mention = review_to_mention(node, product if isinstance(product, dict) else {}, source=source,
                                        page_url=page_url)
            if mention is not None:
                found.reviews.append(mention)
    seen: set[str] = set()
    unique = []
    for mention in found.reviews:
        if mention.external_id not in seen:
            seen.add(mention.external_id)
            unique.append(mention)
    found.reviews = unique
    return found


def _text(value: Any) -> str | None:
    if isinstance(value, list):
        value = next((v for v in value if v), None)
    if isinstance(value, dict):
        value = value.get("name") or value.get("@value") or value.get("text")
    if value is None or isinstance(value, (dict, list)):
        return None
    text = " ".join(htmllib.unescape(str(value)).split())
    if "<" in text and ">" in text:
        # [^<>] keeps this linear: '[^>]+' rescanned to the end from every '<' of a '<<<<' text
        text = " ".join(re.sub(r"<[^<>]*>", " ", text).split())
    return text or None


def _author(value: Any) -> str | None:
    if isinstance(value, list):
        value = value[0] if value else None
    if isinstance(value, dict):
        name = value.get("name")
        if not name and (value.get("givenName") or value.get("familyName")):
            name = " ".join(str(v) for v in (value.get("givenName"), value.get("familyName")) if v)
        return _text(name)
    return _text(value)


def _product_id(product: dict[str, Any]) -> str | None:
    for key in ("sku", "mpn", "gtin13", "gtin", "gtin12", "gtin14", "gtin8", "productID"):
        value = product.get(key)
        if isinstance(value, (str, int)) and str(value).strip():
            return str(value).strip()[:200]
    return None


def review_to_mention(
    review: dict[str, Any], product: dict[str, Any], *, source: str, page_url: str
) -> RawMention | None:
    """One schema.org Review as a RawMention; None when it has no words at all."""
    body = _text(review.get("reviewBody")) or _text(review.get("description")) or _text(review.get("text"))
    title = _text(review.get("name")) or _text(review.get("headline"))
    product_name = _text(product.get("name"))
    if title and product_name and title == product_name:
        title = None  # many themes repeat the product name as the review's name
    text = body or title
    if not text:
        return None
    author = _author(review.get("author"))
    rating_node = review.get("reviewRating")
    rating = None
    if isinstance(rating_node, dict):
        best, worst = _number(rating_node.get("bestRating")), _number(rating_node.get("worstRating"))
        rating = normalise_rating(_number(rating_node.get("ratingValue")), 5 if best is None else best,
                                  1 if worst is None else worst)
    elif rating_node is not None:
        rating = normalise_rating(_number(rating_node))
    product_url = _text(product.get("url")) or _text(product.get("@id") if str(product.get("@id", "")).startswith(
        "http") else None) or page_url
    product_url = urljoin(page_url, product_url)
    review_url = review.get("url")
    review_url = urljoin(page_url, review_url) if isinstance(review_url, str) and review_url else None
    platform_id = review.get("identifier") or review.get("@id")
    if isinstance(platform_id, dict):
        platform_id = platform_id.get("value") or platform_id.get("@id")
    external = str(platform_id).strip() if isinstance(platform_id, (str, int)) and str(platform_id).strip() else None
    if external and external.startswith("#"):
        external = None  # a page-local node name ('#review-1') is not stable across pages
    if not external and review_url and "#" in review_url:
        external = review_url
    return RawMention(
        source=source,
        external_id=(external or content_id(product_url, author, text))[:500],
        text=body or text,
        url=review_url or page_url,
        author_name=author,
        product_sku=_product_id(product),
        product_url=product_url,
        product_name=product_name,
        rating=rating,
        title=title if body else None,
        published_at=parse_datetime(review.get("datePublished") or review.get("dateCreated")
                                    or review.get("dateModified")),
        language=_text(review.get("inLanguage")),
        raw={k: v for k, v in (("page", page_url), ("rating_raw", _rating_raw(rating_node))) if v is not None},
    )


def _rating_raw(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: node.get(k) for k in ("ratingValue", "bestRating", "worstRating") if node.get(k) is not None}
    return node


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        return float(value)
    match = re.search(r"-?\d+(?:[.,]\d+)?", str(value))
    return float(match.group(0).replace(",", ".")) if match else None


# --- dates -----------------------------------------------------------------------------------

_FORMATS = (
    "%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y/%m/%d %H:%M:%S", "%Y/%m/%d", "%d/%m/%Y", "%d.%m.%Y",
    "%B %d, %Y", "%b %d, %Y", "%d %B %Y", "%d %b %Y", "%B %d %Y", "%b %d %Y", "%Y%m%d",
    "%A, %B %d, %Y", "%a, %d %b %Y", "%m/%d/%Y %H:%M:%S", "%d-%m-%Y",
)


def parse_datetime(value: Any, fmt: str | None = None) -> datetime | None:
    """A date in any of the forms pages use, as an aware UTC datetime (naive means UTC).

    ISO 8601 (with 'Z', offsets, fractions, date only), RFC 2822, epoch seconds or milliseconds,
    and common written forms ('March 5, 2024', '05.03.2024'); ``fmt`` (strptime) is tried first.
    None when unreadable.
    """
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, dict):
        value = value.get("@value") or value.get("value")
        if value is None:
            return None
    if isinstance(value, datetime):
        when = value
    elif isinstance(value, (int, float)) or (isinstance(value, str) and re.fullmatch(r"\d{9,13}(\.\d+)?", value.strip())):
        number = float(value)
        if number > 1e11:  # milliseconds
            number /= 1000
        try:
            return datetime.fromtimestamp(number, tz=UTC)
        except (OverflowError, OSError, ValueError):
            return None
    else:
        text = " ".join(str(value).split())
        if not text:
            return None
        when_or_none = _parse_text(text, fmt)
        if when_or_none is None:
            return None
        when = when_or_none
    if when.tzinfo is None:
        return when.replace(tzinfo=UTC)
    return when.astimezone(UTC)


def _parse_text(text: str, fmt: str | None) -> datetime | None:
    if fmt:
        try:
            return datetime.strptime(text, fmt)
        except ValueError:
            pass
    iso = text.replace(" UTC", "Z").replace(" GMT", "Z")
    if re.match(r"\d{4}-\d{2}-\d{2}", iso):
        # Python 3.11 reads most ISO 8601; drop fractions beyond microseconds and a '+0000' colon-less zone
        iso = re.sub(r"(\.\d{6})\d+", r"\1", iso)
        iso = re.sub(r"([+-]\d{2})(\d{2})$", r"\1:\2", iso)
        try:
            return datetime.fromisoformat(iso)
        except ValueError:
            pass
    try:
        return parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        pass
    cleaned = re.sub(r"(\d)(st|nd|rd|th)\b", r"\1", text)
    for candidate in (cleaned, cleaned.split(" at ")[0], cleaned.split("T")[0]):
        for form in _FORMATS:
            try:
                return datetime.strptime(candidate, form)
            except ValueError:
                continue
    relative = re.fullmatch(r"(\d+) (day|week|month|year)s? ago", text.lower())
    if relative:
        days = {"day": 1, "week": 7, "month": 30, "year": 365}[relative.group(2)] * int(relative.group(1))
        return datetime.now(UTC) - timedelta(days=days)
    return None
