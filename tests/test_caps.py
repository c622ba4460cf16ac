"""Caps on work (issue 13 item 12): one huge page or one huge backlog never keeps a cycle busy for
minutes, and what a run leaves is taken by the next ones, each review stored exactly once.

A real loopback server serves a product page whose JSON-LD lists 100,000 reviews (before the caps
one cycle spent over 15 minutes on such a page).
"""

from __future__ import annotations

import json
import time
from collections import Counter
from typing import Any

from sqlalchemy import select

from bot.collect import MORE_KEY, collect
from bot.config import Config
from bot.store import Mention, SourceState, Store
from tests.httpserver import LocalServer, Route


def _page(count: int) -> bytes:
    """A product page with `count` reviews in its JSON-LD, each with its own id and words."""
    # Lean reviews: the page stays under lxml's 10 MB text limit (huge_tree is off on purpose).
    reviews = [{"@type": "Review", "identifier": f"rv-{i}", "reviewRating": 1 + i % 5,
                "reviewBody": f"Fan {i} hums."} for i in range(count)]
    data = {"@context": "https://schema.org", "@type": "Product", "name": "Pocket Fan", "sku": "FAN-01",
            "review": reviews}
    return (f'<html><head><script type="application/ld+json">{json.dumps(data, separators=(",", ":"))}</script></head>'
            f"<body>Pocket Fan</body></html>").encode()


def _config(url: str, **caps: int) -> Config:
    source: dict[str, Any] = {"name": "bigshop", "kind": "schema_org", "urls": [url], **caps}
    return Config.model_validate({
        "http": {"per_host_delay": 0, "allow_private": ["127.0.0.1"], "backoff": 0, "retries": 0,
                 "max_bytes": 40_000_000},
        "sources": [source],
    })


def _stored(store: Store) -> Counter[str]:
    with store.sessions() as session:
        return Counter(session.scalars(select(Mention.external_id).where(Mention.source == "bigshop")))


def _state(store: Store) -> SourceState:
    with store.sessions() as session:
        state = session.get(SourceState, "bigshop")
        assert state is not None
        return state


def test_a_page_of_100000_reviews_is_taken_over_several_short_runs(store: Store) -> None:
    reviews = 100_000
    with LocalServer({"/p/fan": Route(body=_page(reviews), etag='"big-1"', content_type="text/html")}) as srv:
        config = _config(srv.url("/p/fan"), max_reviews_per_page=reviews, max_new_per_run=30_000)
        news: list[int] = []
        for run in range(1, 5):
            started = time.monotonic()
            summary = collect(config, store)
            seconds = time.monotonic() - started
            (result,) = summary.results
            assert result.ok, result.errors
            assert seconds < 120, f"run {run} took {seconds:.0f}s"
            news.append(result.new)
            left = reviews - sum(news)
            state = _state(store)
            if left:
                # stopped at the cap: the summary and the saved state say what waits; the page's
                # validators are not kept, so the next run reads it in full again (no 304)
                assert f"{left:,} more next run" in result.line(), result.line()
                assert state.cursor.get(MORE_KEY) == left
            else:
                assert "more next run" not in result.line() and MORE_KEY not in state.cursor
            assert state.consecutive_failures == 0
        assert news == [30_000, 30_000, 30_000, 10_000]
        page_requests = [r for r in srv.requests if r.path == "/p/fan"]
        assert [r.headers.get("if-none-match") for r in page_requests] == [None, None, None, None]
        stored = _stored(store)
        assert len(stored) == reviews and set(stored.values()) == {1}
        assert set(stored) == {f"rv-{i}" for i in range(reviews)}
        # all taken: the next run asks the page only when it is due again, and then conditionally
        before = len(page_requests)
        (result,) = collect(config, store).results
        assert result.ok and result.new == 0
        later = [r for r in srv.requests if r.path == "/p/fan"][before:]
        assert all(r.headers.get("if-none-match") == '"big-1"' for r in later)  # none, or a conditional GET


def test_the_rest_of_a_page_past_max_reviews_per_page_comes_next_run_with_a_warning(store: Store) -> None:
    with LocalServer({"/p/fan": Route(body=_page(1200), etag='"mid-1"', content_type="text/html")}) as srv:
        url = srv.url("/p/fan")
        config = _config(url, max_reviews_per_page=500)
        first = collect(config, store).results[0]
        assert first.ok and first.new == 500
        assert any("1,200 new reviews" in e and "700 more next run" in e and url in e for e in first.errors), first.errors
        state = _state(store)
        assert state.last_error_url == url and "700 more next run" in (state.last_error_message or "")
        assert state.consecutive_failures == 0  # a warning, not a failure
        second = collect(config, store).results[0]
        assert second.ok and second.new == 500 and any("200 more next run" in e for e in second.errors)
        third = collect(config, store).results[0]
        assert third.ok and third.new == 200 and not third.errors
        stored = _stored(store)
        assert len(stored) == 1200 and set(stored.values()) == {1}
        asked = len(srv.requests)
        fourth = collect(config, store).results[0]
        assert fourth.ok and fourth.new == 0
        assert all(r.headers.get("if-none-match") == '"mid-1"' for r in srv.requests[asked:] if r.path == "/p/fan")


def test_default_caps() -> None:
    source = _config("https://shop.example/p").sources[0]
    assert source.max_reviews_per_page == 500 and source.max_new_per_run == 2000


def test_status_says_what_a_run_stopped_at_its_cap_left(store: Store) -> None:
    from bot.report.status import gather, render

    with LocalServer({"/p/fan": Route(body=_page(300), content_type="text/html")}) as srv:
        config = _config(srv.url("/p/fan"), max_new_per_run=100)
        (result,) = collect(config, store).results
        assert result.ok and result.new == 100 and "200 more next run" in result.line()
        (shop,) = gather(config, store).sources
        assert shop.health == "ok" and shop.more_next_run == 200
        assert "bigshop: the last run stopped at its max_new_per_run; at least 200 more next run" in render(
            gather(config, store))
        for _ in range(2):
            collect(config, store)
        (shop,) = gather(config, store).sources
        assert shop.more_next_run == 0 and len(_stored(store)) == 300
