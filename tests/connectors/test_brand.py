"""Brand queries (connectors/brand.py), HTML to text, and the small collect context the social
connector tests drive their connectors with (a real Fetcher against a real loopback server)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from bot.errors import SourceError
from bot.fetch import Fetcher, HttpConfig
from connectors.base import RawMention
from connectors.brand import BrandConfig, BrandOptions, html_to_text, social_brand


@dataclass
class SocialCtx:
    """A CollectContext for one source: cursor dict, store-like set of known ids, reported errors."""

    source: str
    fetch: Fetcher
    cursor: dict[str, Any] = field(default_factory=dict)
    stored: set[str] = field(default_factory=set)
    reported: list[SourceError] = field(default_factory=list)
    brand: BrandConfig | None = None
    pages: int = 0

    def known(self, external_ids: Iterable[str]) -> set[str]:
        return {i for i in external_ids if i in self.stored}

    def report(self, error: SourceError) -> None:
        self.reported.append(error)

    def progress(self, advance: int = 1, total: int | None = None) -> None:
        self.pages += advance

    def run(self, connector: Any) -> list[RawMention]:
        """One cycle: collect, then 'store' (remember ids) like the collect stage does on success."""
        found = list(connector.collect(self))
        self.stored.update(m.external_id for m in found)
        return found


@contextmanager
def fetcher(**http: Any) -> Iterator[Fetcher]:
    """A real Fetcher with no politeness delays, closed afterwards."""
    client = httpx.Client(timeout=5, follow_redirects=True)
    try:
        yield Fetcher(HttpConfig(per_host_delay=0, backoff=0, **http), client=client, sleep=lambda s: None)
    finally:
        client.close()


BRAND = BrandConfig(
    keywords=("Tidewell", "travel kettle"),
    handles=("@tidewellhq",),
    exclude=("Tidewell Marina",),
    own_accounts=("@tidewellhq", "tidewell@mastodon.example"),
)


@pytest.mark.parametrize(
    ("text", "author", "expected"),
    [
        ("My TIDEWELL kettle broke", None, True),
        ("my travel   kettle", None, False),  # phrases match as written
        ("loving my travel kettle", None, True),
        ("thanks @tidewellhq for nothing", None, True),
        ("#tidewell fail", None, True),
        ("tidewellness retreat", None, False),  # whole words only
        ("sunset at tidewell marina", None, False),  # excluded sense of the name
        ("Tidewell sale today", "@TidewellHQ", False),  # our own account
        ("Tidewell sale today", "@tidewell@mastodon.example", False),
        ("Tidewell sale today", "u/someone", True),
        ("Tidewell ist kaputt", "someone@other.example", True),
    ],
)
def test_matches_whole_words_case_insensitive_and_excludes(text: str, author: str | None, expected: bool) -> None:
    assert BRAND.matches(text, author) is expected


def test_no_keywords_means_every_post_but_exclusions_still_apply() -> None:
    brand = BrandConfig(exclude=("marina",))
    assert not brand.has_query
    assert brand.matches("anything at all")
    assert not brand.matches("the marina")
    assert BRAND.matches("no brand here", require_terms=False)
    assert not BRAND.matches("at the Tidewell Marina", require_terms=False)


def test_source_options_override_global_brand() -> None:
    class Opts(BrandOptions):
        pass

    own = social_brand(Opts(keywords=("kettle",), own_accounts=("u/tidewell_support",)), BRAND)
    assert own.keywords == ("kettle",)
    assert own.handles == BRAND.handles  # not given: inherited
    assert own.is_own("u/Tidewell_Support") and own.is_own("@tidewellhq")
    assert social_brand(Opts(), None).matches("whatever")  # no brand anywhere: everything counts

    @dataclass
    class WithBrand:
        brand: BrandConfig

    assert social_brand(Opts(), None, WithBrand(BRAND)) is BRAND
    assert BRAND.terms() == ["Tidewell", "travel kettle", "@tidewellhq"]


def test_html_to_text_keeps_mentions_whole_and_lines() -> None:
    html = (
        '<p><span class="h-card"><a href="https://m.example/@shop" class="u-url mention">@<span>shop</span></a>'
        "</span> the lid&nbsp;broke &amp; leaks</p><p>second<br />line</p><script>x()</script>"
    )
    assert html_to_text(html) == "@shop the lid broke & leaks\nsecond\nline"
    assert html_to_text("") == ""
    assert html_to_text(None) == ""
    assert html_to_text("  plain   text ") == "plain text"
