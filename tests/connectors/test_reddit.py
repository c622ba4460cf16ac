"""The reddit connector against a loopback server that pages listings like Reddit (``after``),
with its rate-limit headers and optional OAuth, serving our own Listing fixtures."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bot.errors import ParseError
from connectors.brand import BrandConfig
from connectors.social.reddit import DEFAULT_REDDIT_UA, RedditConnector, RedditOptions
from tests.connectors.test_brand import SocialCtx, fetcher
from tests.httpserver import LocalServer, Request, Route

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "reddit"
BRAND = BrandConfig(keywords=("Tidewell",), exclude=("Tidewell Marina",), own_accounts=("u/tidewell_official",))
NEW = "/r/BuyItForLife/new.json"


def children(name: str) -> list[dict[str, Any]]:
    return list(json.loads((FIXTURES / name).read_text(encoding="utf-8"))["data"]["children"])


class FakeListing:
    """Newest-first children paged by ``limit``/``after`` with Reddit's rate-limit headers."""

    def __init__(self, items: list[dict[str, Any]], remaining: float = 95.0) -> None:
        self.items = items
        self.remaining = remaining

    def __call__(self, request: Request) -> Route:
        limit = int(request.arg("limit", "25") or 25)
        ordered = sorted(self.items, key=lambda c: c["data"]["created_utc"], reverse=True)
        start = 0
        after = request.arg("after")
        if after:
            names = [c["data"]["name"] for c in ordered]
            start = names.index(after) + 1 if after in names else len(names)
        page = ordered[start:start + limit]
        more = start + limit < len(ordered)
        body = {"kind": "Listing", "data": {"after": page[-1]["data"]["name"] if page and more else None,
                                            "dist": len(page), "modhash": "", "geo_filter": "",
                                            "children": page, "before": None}}
        self.remaining = max(0.0, self.remaining - 1)
        headers = {"x-ratelimit-remaining": f"{self.remaining:.1f}", "x-ratelimit-used": "5",
                   "x-ratelimit-reset": "412"}
        return Route(body=json.dumps(body), content_type="application/json; charset=UTF-8", headers=headers)


def test_subreddit_new_paged_by_after_and_second_cycle_stops_at_last_seen() -> None:
    listing = FakeListing(children("new_buyitforlife.json"))
    with LocalServer({NEW: listing}) as srv, fetcher() as fetch:
        options = RedditOptions(subreddits=("r/BuyItForLife",), search=(), base_url=srv.base, limit=2, max_pages=10)
        ctx = SocialCtx("reddit", fetch, brand=BRAND)
        connector = RedditConnector("reddit", options)
        found = ctx.run(connector)
        # deleted post, our own account, the marina and the off-topic pan are dropped
        assert [m.external_id for m in found] == ["t3_1j4kq0a", "t3_1j4kk8d"]
        kate = found[0]
        assert kate.author_handle == "u/kettle_kate" and kate.title == "Tidewell travel kettle died after 10 days"
        assert kate.text.startswith("Bought the Tidewell travel kettle") and kate.rating is None
        assert kate.url == "https://www.reddit.com/r/BuyItForLife/comments/1j4kq0a/tidewell_travel_kettle_died_af/"
        assert kate.published_at is not None and kate.published_at.isoformat() == "2025-03-06T10:00:00+00:00"
        requests = [r for r in srv.requests if r.path == NEW]
        assert [r.arg("after") for r in requests] == [None, "t3_1j4kp9z", "t3_1j4kn7b"]
        assert all(r.headers["user-agent"] == DEFAULT_REDDIT_UA for r in requests)
        assert ctx.cursor["streams"]["new:buyitforlife"]["high"] == 1741255200

        srv.reset()
        listing.items = [*listing.items, *children("new_buyitforlife_newer.json")]
        newer = ctx.run(connector)
        assert [m.external_id for m in newer] == ["t3_1j5aa01"]
        # only the first page: the walk stops at the newest post of the last run
        assert [r.arg("after") for r in srv.requests if r.path == NEW] == [None]


def test_rate_limit_stops_the_run_and_the_next_run_fills_the_gap() -> None:
    listing = FakeListing(children("new_buyitforlife.json"))
    with LocalServer({NEW: listing}) as srv, fetcher() as fetch:
        options = RedditOptions(subreddits=("BuyItForLife",), search=(), base_url=srv.base, limit=2, max_pages=10)
        ctx = SocialCtx("reddit", fetch, brand=BRAND)
        connector = RedditConnector("reddit", options)
        assert len(ctx.run(connector)) == 2  # first run: everything there is
        c = children("new_buyitforlife.json")[0]
        more = [dict(c, data=dict(c["data"], name=f"t3_gap{i}", id=f"gap{i}", created_utc=1741400000 + i,
                                  title=f"Tidewell complaint {i}")) for i in range(5)]
        listing.items = [*listing.items, *more]
        listing.remaining = 3  # after the second request of the next run only the reserve is left
        srv.reset()
        got = ctx.run(connector)
        assert [m.external_id for m in got] == ["t3_gap4", "t3_gap3", "t3_gap2", "t3_gap1"]
        assert srv.hits(NEW) == 2
        assert ctx.cursor["streams"]["new:buyitforlife"]["resume"] == "t3_gap1"
        listing.remaining = 90
        srv.reset()
        got = ctx.run(connector)
        assert [m.external_id for m in got] == ["t3_gap0"]
        assert srv.requests[0].arg("after") == "t3_gap1"
        assert "resume" not in ctx.cursor["streams"]["new:buyitforlife"]


def test_search_uses_brand_terms_and_oauth_when_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    search = (FIXTURES / "search_tidewell.json").read_text(encoding="utf-8")
    token = json.dumps({"access_token": "tok-123", "token_type": "bearer", "expires_in": 86400, "scope": "*"})
    routes = {"/search": Route(body=search, content_type="application/json"),
              "/api/v1/access_token": Route(body=token, content_type="application/json")}
    monkeypatch.setenv("TEST_REDDIT_ID", "app-id")
    monkeypatch.setenv("TEST_REDDIT_SECRET", "app-secret")
    with LocalServer(routes) as srv, fetcher() as fetch:
        options = RedditOptions(base_url=srv.base, oauth_url=srv.base, token_url=srv.url("/api/v1/access_token"),
                                client_id_env="TEST_REDDIT_ID", client_secret_env="TEST_REDDIT_SECRET",
                                user_agent="linux:tidewell-monitor:1.0 (by /u/tidewell_ops)")
        ctx = SocialCtx("reddit", fetch, brand=BRAND)
        found = ctx.run(RedditConnector("reddit", options))
        assert [m.external_id for m in found] == ["t3_1j4zz11", "t3_1j4kq0a"]
        login, listing = [r for r in srv.requests if r.path != "/robots.txt"]
        assert login.method == "POST" and login.body == b"grant_type=client_credentials"
        assert login.headers["authorization"] == "Basic YXBwLWlkOmFwcC1zZWNyZXQ="
        assert listing.headers["authorization"] == "Bearer tok-123"
        assert listing.arg("q") == "Tidewell" and listing.arg("sort") == "new"
        assert listing.headers["user-agent"] == "linux:tidewell-monitor:1.0 (by /u/tidewell_ops)"


@pytest.mark.parametrize("body", ['{"message": "Forbidden", "error": 403}', "<!doctype html><p>blocked</p>"])
def test_malformed_listing_is_a_parse_error(body: str) -> None:
    with LocalServer({NEW: Route(body=body, content_type="application/json")}) as srv, fetcher() as fetch:
        ctx = SocialCtx("reddit", fetch, brand=BRAND)
        options = RedditOptions(subreddits=("BuyItForLife",), search=(), base_url=srv.base)
        with pytest.raises(ParseError, match=r"\[reddit\] http://127\.0\.0\.1:\d+/r/BuyItForLife/new\.json"):
            ctx.run(RedditConnector("reddit", options))


def test_options() -> None:
    assert RedditOptions(subreddits=("r/Kettles", "/r/tea")).subreddits == ("Kettles", "tea")
    with pytest.raises(ValueError):
        RedditOptions(subreddits=("not a sub",))
    with pytest.raises(ValueError):
        RedditOptions.model_validate({"subreddit": ["x"]})
