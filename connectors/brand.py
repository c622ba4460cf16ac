"""Brand queries: which social posts are about us (keywords, handles, exclusions).

The global ``[brand]`` section (:class:`BrandConfig`) says what every social source looks for; a
source may override ``keywords``/``handles``/``exclude`` in its own options
(:class:`BrandOptions`). Matching is case-insensitive on word boundaries, so "Fan" finds
"pocket fan!" but not "fanatic"; the shop's own accounts are never mentions.

Also here: :func:`html_to_text`, which every social connector uses on post bodies, and
:func:`social_brand`, how a connector finds the brand it filters with.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Generator, Iterator
from functools import cached_property
from typing import Any, ClassVar, Generic, TypeVar, cast

from bs4 import BeautifulSoup, Tag
from pydantic import BaseModel, ConfigDict, Field

from connectors.base import Options, RawMention


class BrandConfig(BaseModel):
    """[brand]: what social sources search for, and what they ignore."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    keywords: tuple[str, ...] = Field((), description="Words or phrases that mean us (case-insensitive, whole words).")
    handles: tuple[str, ...] = Field((), description="Our handles people mention, e.g. '@pocketfan'.")
    exclude: tuple[str, ...] = Field((), description="Posts with any of these words are not about us (another meaning of the name).")
    own_accounts: tuple[str, ...] = Field((), description="Our own accounts: their posts are never treated as mentions.")

    @cached_property
    def _include(self) -> re.Pattern[str] | None:
        terms = [*self.keywords, *(h.lstrip("@") for h in self.handles)]
        return _words(terms)

    @cached_property
    def _exclude(self) -> re.Pattern[str] | None:
        return _words(self.exclude)

    @cached_property
    def _own(self) -> frozenset[str]:
        return frozenset(_account(a) for a in self.own_accounts if a.strip())

    @property
    def has_query(self) -> bool:
        """Whether any keyword or handle is configured (else every post counts)."""
        return self._include is not None

    def terms(self) -> list[str]:
        """Keywords and handles as search terms for a platform's search API."""
        return [*(k.strip() for k in self.keywords if k.strip()), *(h.strip() for h in self.handles if h.strip())]

    def is_own(self, author: str | None) -> bool:
        """Is `author` one of our own accounts? '@shop', 'shop' and '@shop@instance' all count."""
        if not author or not self._own:
            return False
        name = _account(author)
        return name in self._own or name.split("@", 1)[0] in self._own

    def matches(self, text: str, author: str | None = None, *, require_terms: bool = True) -> bool:
        """Is this post about us? No keywords configured means every post counts.

        ``require_terms=False`` skips the keyword test (for feeds that are already about us, like a
        Google Alert) but still drops excluded words and our own accounts.
        """
        if self.is_own(author):
            return False
        if self._exclude is not None and self._exclude.search(text):
            return False
        if not require_terms:
            return True
        return self._include is None or bool(self._include.search(text))

    def override(self, options: BrandOptions) -> BrandConfig:
        """This brand with a source's own keywords/handles/exclude/own_accounts where it gives them."""
        changes: dict[str, Any] = {}
        for key in ("keywords", "handles", "exclude"):
            value = getattr(options, key)
            if value is not None:
                changes[key] = tuple(value)
        if options.own_accounts:
            changes["own_accounts"] = (*self.own_accounts, *options.own_accounts)
        # a fresh model, not model_copy: that would carry over the cached compiled patterns
        return BrandConfig.model_validate({**self.model_dump(), **changes}) if changes else self


class BrandOptions(Options):
    """Per-source brand keys shared by the social connectors; None means "use [brand]"."""

    keywords: tuple[str, ...] | None = Field(
        None, description="Replace [brand] keywords for this source (case-insensitive, whole words)."
    )
    handles: tuple[str, ...] | None = Field(None, description="Replace [brand] handles for this source.")
    exclude: tuple[str, ...] | None = Field(None, description="Replace [brand] exclude words for this source.")
    own_accounts: tuple[str, ...] = Field((), description="More of our own accounts on this platform (added to [brand]).")


OptionsT = TypeVar("OptionsT", bound=BrandOptions)


class SocialConnector(Generic[OptionsT]):
    """What every social connector shares: a name, its validated options, the global [brand]."""

    kind: ClassVar[str]
    Options: ClassVar[type[BrandOptions]]

    def __init__(self, name: str, options: OptionsT | dict[str, Any], brand: BrandConfig | None = None) -> None:
        self.name = name
        self.options: OptionsT = cast(
            OptionsT, options if isinstance(options, self.Options) else self.Options.model_validate(options)
        )
        self.brand = brand


def new_brand_mentions(
    batch: list[RawMention], ctx: Any, seen: set[str], brand: BrandConfig
) -> Iterator[RawMention]:
    """The mentions of a batch not stored yet nor seen in this run that are about the brand."""
    known = ctx.known(m.external_id for m in batch)
    for mention in batch:
        if mention.external_id in known or mention.external_id in seen:
            continue
        seen.add(mention.external_id)
        if brand.matches(f"{mention.title or ''}\n{mention.text}", mention.author_handle):
            yield mention


def social_brand(options: BrandOptions, brand: BrandConfig | None, ctx: Any = None) -> BrandConfig:
    """The brand a connector filters with: given to it, else on the context, else none; then the source's overrides."""
    base = brand if brand is not None else getattr(ctx, "brand", None)
    if not isinstance(base, BrandConfig):
        base = BrandConfig()
    return base.override(options)


def _account(value: str) -> str:
    """'@Shop@mastodon.social' -> 'shop@mastodon.social'; 'u/Shop' -> 'shop'."""
    value = value.strip().lower()
    if value.startswith("u/"):
        value = value[2:]
    return value.lstrip("@")


def _words(terms: tuple[str, ...] | list[str]) -> re.Pattern[str] | None:
    cleaned = [t.strip() for t in terms if t.strip()]
    if not cleaned:
        return None
    alternatives = "|".join(re.escape(t) for t in sorted(cleaned, key=len, reverse=True))
    return re.compile(rf"(?<![\w@#])[@#]?(?:{alternatives})(?!\w)", re.IGNORECASE)


_BLOCKS = {"p", "div", "li", "blockquote", "pre", "h1", "h2", "h3", "h4", "h5", "h6", "tr"}


def html_to_text(html: str | None) -> str:
    """Post HTML as plain text: paragraphs and <br> become line breaks, spaces collapsed.

    Mentions like ``<a>@<span>maria</span></a>`` stay one word ("@maria").
    """
    if not html:
        return ""
    if "<" not in html and "&" not in html:
        return _squeeze(html)
    soup = BeautifulSoup(html, "lxml")
    for node in soup.find_all(["script", "style"]):
        node.decompose()
    for br in soup.find_all("br"):
        br.replace_with("\n")
    for node in soup.find_all(_BLOCKS):
        if isinstance(node, Tag):
            # before too: Hacker News separates paragraphs with a bare <p>, never closed
            node.insert_before("\n")
            node.append("\n")
    return _squeeze(soup.get_text(""))


def _squeeze(text: str) -> str:
    lines = (" ".join(line.split()) for line in text.replace("\r", "\n").split("\n"))
    return "\n".join(line for line in lines if line)


# --- shared by the social connectors: rate-limit headers and newest-first listing walks -----------


def rate_limited(headers: Any, reserve: float = 0) -> bool:
    """True when the platform's rate-limit headers say no request is left in this window.

    Reads ``x-ratelimit-remaining`` (Mastodon, Reddit: may be a float) and ``ratelimit-remaining``
    (Bluesky, IETF draft). ``reserve`` keeps a few requests for other clients of the same account.
    """
    for name in ("x-ratelimit-remaining", "ratelimit-remaining"):
        value = headers.get(name) if headers is not None else None
        if value is None:
            continue
        try:
            return float(str(value).split(",")[0].strip()) <= reserve
        except ValueError:
            continue
    return False


T = TypeVar("T")


def walk_newest_first(
    state: dict[str, Any],
    fetch_page: Callable[[str | None, float | None], tuple[list[T], str | None, bool]],
    stamp: Callable[[T], float],
    max_pages: int,
) -> Iterator[T]:
    """Walk a newest-first listing (Reddit ``after``, Bluesky ``cursor``, Algolia ``page``) down to
    the newest item of the last run, yielding only items at or after it.

    ``fetch_page(token, floor)`` returns (items, next token or None, may_go_on); ``floor`` lets the
    platform filter server-side (``since``, ``created_at_i>``). ``may_go_on`` False means the
    rate limit is used up. ``state`` (the source cursor) keeps ``high`` (newest timestamp seen) and,
    when a walk was cut short by ``max_pages`` or the rate limit, ``resume``/``floor`` so the next
    run finishes the gap before anything else: nothing between two runs is skipped.
    """
    budget = [max_pages]
    if state.get("resume") is not None:
        floor = state.get("floor")
        done, token = yield from _segment(fetch_page, stamp, state["resume"], floor, budget)
        if not done:
            state["resume"] = token
            return
        state.pop("resume", None)
        state.pop("floor", None)
    high = state.get("high")
    newest: list[float] = []

    def seen(item: T) -> float:
        value = stamp(item)
        newest.append(value)
        return value

    done, token = yield from _segment(fetch_page, seen, None, high, budget)
    if newest:
        state["high"] = max([*newest, *([high] if high is not None else [])])
    if not done and high is not None and token is not None:
        state["resume"], state["floor"] = token, high


def _segment(
    fetch_page: Callable[[str | None, float | None], tuple[list[T], str | None, bool]],
    stamp: Callable[[T], float],
    token: str | None,
    floor: float | None,
    budget: list[int],
) -> Generator[T, None, tuple[bool, str | None]]:
    """One walk from `token` down to `floor`; returns (reached the floor or the end, next token)."""
    while True:
        if budget[0] <= 0:
            return False, token
        budget[0] -= 1
        items, nxt, go_on = fetch_page(token, floor)
        reached = False
        for item in items:
            when = stamp(item)
            if floor is not None and when <= floor:
                reached = True  # down to where the last run began: this page is the last
                if when < floor:
                    continue
            yield item  # items of the very second of the floor go on: the store drops known ones
        if reached or not items or not nxt:
            return True, None
        token = nxt
        if not go_on:
            return False, token
