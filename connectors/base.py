"""What every connector is: the Protocol, the mention it yields, the context it runs in."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Protocol, runtime_checkable
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, ConfigDict

if TYPE_CHECKING:
    from bot.errors import SourceError
    from bot.fetch import Fetcher


@dataclass(frozen=True)
class RawMention:
    """One review or post as a connector found it (DESIGN.md core type).

    ``external_id`` is the platform's id; when there is none use :func:`content_id`.
    ``published_at`` is aware UTC. ``rating`` is normalised to 1..5 or None.
    """

    source: str
    external_id: str
    text: str
    url: str | None = None
    author_name: str | None = None
    author_handle: str | None = None
    author_email: str | None = None  # only when the platform verifies buyers
    product_sku: str | None = None
    product_url: str | None = None
    product_name: str | None = None
    rating: float | None = None
    title: str | None = None
    published_at: datetime | None = None
    language: str | None = None
    raw: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.published_at is not None and self.published_at.tzinfo is None:
            raise ValueError(f"{self.source}/{self.external_id}: published_at must be aware UTC")
        if self.rating is not None and not 1 <= self.rating <= 5:
            raise ValueError(f"{self.source}/{self.external_id}: rating {self.rating} outside 1..5")


def content_id(*parts: str | None) -> str:
    """An id for items the platform gives none: a hash of url + author + text (invariant 1)."""
    joined = "\x1f".join(part or "" for part in parts)
    return "h:" + hashlib.sha256(joined.encode("utf-8")).hexdigest()[:32]


def normalise_rating(value: Any, best: Any = 5, worst: Any = 1) -> float | None:
    """A rating on any scale (e.g. 0..10, 1..5) mapped to 1..5; None when absent or unreadable."""
    try:
        rating, high, low = float(value), float(best or 5), float(worst if worst is not None else 1)
    except (TypeError, ValueError):
        return None
    if high <= low or not low <= rating <= high:
        return None
    return round(1 + 4 * (rating - low) / (high - low), 2)


def _page_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"{value!r} is not an http(s) URL like 'https://shop.example/page'")
    return value


def _base_url(value: str) -> str:
    return _page_url(value).rstrip("/")


# Option types for connectors: a page URL is kept as written (a trailing slash may matter to the
# site); a base URL of an API or site has its trailing slash removed so paths can be appended.
PageUrl = Annotated[str, AfterValidator(_page_url)]
BaseUrl = Annotated[str, AfterValidator(_base_url)]


class Options(BaseModel):
    """Base of a connector's own config keys: frozen, unknown keys refused."""

    model_config = ConfigDict(frozen=True, extra="forbid")


# What one page may give a run when the source sets no `max_reviews_per_page` (bot.config).
MAX_REVIEWS_PER_PAGE = 500


def new_on_page(ctx: CollectContext, mentions: list[RawMention], url: str) -> tuple[list[RawMention], bool]:
    """The page's mentions not stored yet, at most the source's ``max_reviews_per_page`` of them,
    and whether some were left for the next run (issue 13 item 12: one page of 100,000 reviews
    must not keep a cycle busy for minutes). The cut is a recorded warning naming the source and
    the page, which also makes the next run read the page again in full (no 304), so the rest is
    taken then: the stored ones are skipped as known, the next ones come."""
    known = ctx.known(m.external_id for m in mentions)
    fresh = [m for m in mentions if m.external_id not in known]
    cap = getattr(ctx, "max_reviews_per_page", MAX_REVIEWS_PER_PAGE)
    if len(fresh) <= cap:
        return fresh, False
    from bot.errors import SourceError

    ctx.report(SourceError(
        f"the page has {len(fresh):,} new reviews; {cap:,} taken this run, {len(fresh) - cap:,} more next run",
        source=ctx.source, url=url,
        hint="raise this source's max_reviews_per_page to take more of a page per run"))
    return fresh[:cap], True


class CollectContext(Protocol):
    """What a connector may use while collecting one source."""

    source: str
    fetch: Fetcher
    cursor: dict[str, Any]  # persisted for the next run only when this run succeeds

    def known(self, external_ids: Iterable[str]) -> set[str]:
        """Which of these ids are already stored for this source (to stop paginating)."""
        ...

    def report(self, error: SourceError) -> None:
        """Record a problem with one URL or item and go on (e.g. one product page is a 404)."""
        ...

    def progress(self, advance: int = 1, total: int | None = None) -> None:
        """Tell the progress display that `advance` more pages were done."""
        ...


@runtime_checkable
class Connector(Protocol):
    """A source kind: built from its validated Options, yields RawMentions."""

    kind: ClassVar[str]
    Options: ClassVar[type[BaseModel]]

    def __init__(self, name: str, options: Any) -> None: ...

    def collect(self, ctx: CollectContext) -> Iterator[RawMention]: ...
