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


# --- the "done when": one source of each kind through the collect stage, two cycles ---------


def test_one_source_of_each_kind_collects_every_mention_once_across_two_cycles(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import json
    from pathlib import Path

    from sqlalchemy import select

    from bot.collect import collect
    from bot.config import loads
    from bot.store import Mention, open_store
    from tests.connectors.test_bluesky import FakePds
    from tests.connectors.test_hackernews import FakeAlgolia
    from tests.connectors.test_mastodon import FakeInstance
    from tests.connectors.test_reddit import FakeListing
    from tests.httpserver import LocalServer, Route

    fixtures = Path(__file__).resolve().parent.parent / "fixtures"

    def load(path: str) -> Any:
        return json.loads((fixtures / path).read_text(encoding="utf-8"))

    feed = (fixtures / "rss" / "mentions.xml").read_text(encoding="utf-8")
    instance = FakeInstance(load("mastodon/tag_tidewell.json"))
    reddit = FakeListing(load("reddit/new_buyitforlife.json")["data"]["children"])
    pds = FakePds(load("bluesky/search_tidewell.json")["posts"])
    algolia = FakeAlgolia(load("hackernews/search_tidewell.json")["hits"])
    monkeypatch.setenv("TEST_BSKY_APP_PASSWORD", "app-pass-1234")
    servers = [LocalServer({"/feed.xml": Route(body=feed, content_type="application/rss+xml")}),
               LocalServer({"/api/v1/timelines/tag/tidewell": instance}),
               LocalServer({"/r/BuyItForLife/new.json": reddit}),
               LocalServer(pds.routes()),
               LocalServer({"/api/v1/search_by_date": algolia})]
    for server in servers:
        server.start()
    rss, masto, red, sky, hn = servers
    instance.base = masto.base
    try:
        config = loads(f"""
[bot]
database = "sqlite:///{(tmp_path / 'bot.db').as_posix()}"

[http]
per_host_delay = 0
backoff = 0
retries = 0
allow_private = ["127.0.0.1"]

[brand]
keywords = ["Tidewell"]
exclude = ["Tidewell Marina"]
own_accounts = ["@tidewellhq", "@tidewell@shop.example", "u/tidewell_official", "tidewell.bsky.social"]

[[sources]]
name = "forum-feed"
kind = "rss"
urls = ["{rss.url('/feed.xml')}"]

[[sources]]
name = "fediverse"
kind = "mastodon"
instance = "{masto.base}"
hashtags = ["tidewell"]

[[sources]]
name = "reddit"
kind = "reddit"
subreddits = ["BuyItForLife"]
search = []
base_url = "{red.base}"

[[sources]]
name = "bluesky"
kind = "bluesky"
handle = "tidewell-monitor.bsky.social"
app_password_env = "TEST_BSKY_APP_PASSWORD"
service = "{sky.base}"

[[sources]]
name = "hn"
kind = "hackernews"
api_url = "{hn.url('/api/v1')}"
""", path=tmp_path / "config.toml")
        store = open_store(config.bot.database, tmp_path)
        with httpx.Client(timeout=5) as client:
            first = collect(config, store, client=client)
            assert first.ok, first.lines()
            assert {r.name: r.new for r in first.results} == {
                "forum-feed": 3, "fediverse": 4, "reddit": 2, "bluesky": 3, "hn": 3}

            # new posts everywhere; the old ones are still served
            for server in servers:
                server.reset()
            rss.routes["/feed.xml"] = Route(body=feed.replace("<item>", """<item><title>Lid</title>
                <guid isPermaLink="false">forum-1010</guid><dc:creator>@mo</dc:creator>
                <description>Tidewell lid snapped off</description></item><item>""", 1), content_type="application/rss+xml")
            instance.statuses = [*instance.statuses, *load("mastodon/tag_tidewell_newer.json")]
            reddit.items = [*reddit.items, *load("reddit/new_buyitforlife_newer.json")["data"]["children"]]
            pds.posts = [*pds.posts, *load("bluesky/search_tidewell_newer.json")["posts"]]
            algolia.hits = [*algolia.hits, *load("hackernews/search_tidewell_newer.json")["hits"]]
            second = collect(config, store, client=client)
            assert second.ok, second.lines()
            assert {r.name: r.new for r in second.results} == {
                "forum-feed": 1, "fediverse": 2, "reddit": 1, "bluesky": 1, "hn": 1}

        # the second cycle asked only for newer items
        assert next(r.arg("min_id") for r in masto.requests if r.path.startswith("/api")) == "113900000000000010"
        assert [r.arg("after") for r in red.requests if r.path.endswith("new.json")] == [None]
        assert [r.arg("since") for r in sky.requests if r.path.endswith("searchPosts")] == ["2025-03-06T14:20:00.000000Z"]
        assert [r.arg("numericFilters") for r in hn.requests if r.path.endswith("search_by_date")] == [
            "created_at_i>1741281000"]

        with store.session() as session:
            rows = session.scalars(select(Mention)).all()
            keys = [(m.source, m.external_id) for m in rows]
            assert len(keys) == len(set(keys)) == 21
            by_source = {m.source for m in rows}
            assert by_source == {"forum-feed", "fediverse", "reddit", "bluesky", "hn"}
            languages = {m.external_id: m.language for m in rows}
            assert languages["113900000000000006"] == "de"
            handles = {m.author_handle for m in rows}
            assert {"u/kettle_kate", "margot.bsky.social", "@rowan_b", "kettlenerd"} <= handles
            assert all(m.rating is None for m in rows)
        store.dispose()
    finally:
        for server in servers:
            server.stop()
