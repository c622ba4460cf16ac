"""The bluesky connector against a loopback XRPC server: createSession/refreshSession, searchPosts
paged by cursor with `since`, serving our own PostView fixtures."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from bot.errors import FetchError, ParseError
from connectors.social.bluesky import BlueskyConnector, BlueskyOptions, permalink
from connectors.brand import BrandConfig
from tests.connectors.test_brand import SocialCtx, fetcher
from tests.httpserver import LocalServer, Request, Route

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "bluesky"
BRAND = BrandConfig(keywords=("Tidewell",), own_accounts=("@tidewell.bsky.social",))
SEARCH = "/xrpc/app.bsky.feed.searchPosts"
PASSWORD_ENV = "TEST_BSKY_APP_PASSWORD"


def load(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def xrpc_error(status: int, error: str, message: str) -> Route:
    return Route(body=json.dumps({"error": error, "message": message}), status=status, content_type="application/json")


class FakePds:
    """Sessions with expiring tokens and a searchPosts that pages by cursor and honours `since`."""

    def __init__(self, posts: list[dict[str, Any]]) -> None:
        self.posts = posts
        self.valid_access = {"ACCESS-1"}
        self.valid_refresh = {"REFRESH-1"}
        self.issued = 1

    def routes(self) -> dict[str, Any]:
        return {"/xrpc/com.atproto.server.createSession": self.create, SEARCH: self.search,
                "/xrpc/com.atproto.server.refreshSession": self.refresh}

    def create(self, request: Request) -> Route:
        body = json.loads(request.body)
        if body != {"identifier": "tidewell-monitor.bsky.social", "password": "app-pass-1234"}:
            return xrpc_error(401, "AuthenticationRequired", "Invalid identifier or password")
        session = load("create_session.json")
        if self.issued > 1:  # a later login gets fresh tokens
            self.issued += 1
            session.update(accessJwt=f"ACCESS-{self.issued}", refreshJwt=f"REFRESH-{self.issued}")
            self.valid_access.add(session["accessJwt"])
            self.valid_refresh.add(session["refreshJwt"])
        return Route(body=json.dumps(session), content_type="application/json")

    def refresh(self, request: Request) -> Route:
        token = request.headers.get("authorization", "").removeprefix("Bearer ")
        if token not in self.valid_refresh:
            return xrpc_error(400, "ExpiredToken", "Token has expired")
        self.issued += 1
        self.valid_access.add(f"ACCESS-{self.issued}")
        self.valid_refresh.add(f"REFRESH-{self.issued}")
        return Route(body=json.dumps({"accessJwt": f"ACCESS-{self.issued}", "refreshJwt": f"REFRESH-{self.issued}",
                                      "handle": "tidewell-monitor.bsky.social", "did": "did:plc:m0n1t0r"}),
                     content_type="application/json")

    def search(self, request: Request) -> Route:
        token = request.headers.get("authorization", "").removeprefix("Bearer ")
        if not token:
            return xrpc_error(403, "Forbidden", "searchPosts needs authentication")
        if token not in self.valid_access:
            return xrpc_error(400, "ExpiredToken", "Token has expired")
        since = request.arg("since")
        posts = sorted(self.posts, key=lambda p: p["record"]["createdAt"], reverse=True)
        if since:
            posts = [p for p in posts if datetime.fromisoformat(p["record"]["createdAt"]) >= datetime.fromisoformat(since)]
        start = int(request.arg("cursor") or 0)
        limit = int(request.arg("limit") or 25)
        page = posts[start:start + limit]
        body: dict[str, Any] = {"posts": page, "hitsTotal": len(posts)}
        if start + limit < len(posts):
            body["cursor"] = str(start + limit)
        return Route(body=json.dumps(body), content_type="application/json",
                     headers={"ratelimit-limit": "3000", "ratelimit-remaining": "2990", "ratelimit-reset": "1741300000",
                              "ratelimit-policy": "3000;w=300"})


def options(srv: LocalServer, **extra: Any) -> BlueskyOptions:
    return BlueskyOptions(handle="@tidewell-monitor.bsky.social", app_password_env=PASSWORD_ENV,
                          service=srv.base, **extra)


def test_search_logs_in_pages_by_cursor_and_second_cycle_asks_since(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PASSWORD_ENV, "app-pass-1234")
    pds = FakePds(load("search_tidewell.json")["posts"])
    with LocalServer(pds.routes()) as srv, fetcher() as fetch:
        ctx = SocialCtx("sky", fetch, brand=BRAND)
        connector = BlueskyConnector("sky", options(srv, limit=2))
        found = ctx.run(connector)
        # our own account's post and the deleted image-only post are dropped
        assert [m.external_id.rsplit("/", 1)[1] for m in found] == ["3lk2tw7a4cs2a", "3lk2rq5b2dt2b", "3lk2mm0e9gw2e"]
        margot, sofia, ben = found
        assert margot.url == "https://bsky.app/profile/margot.bsky.social/post/3lk2tw7a4cs2a"
        assert margot.external_id == "at://did:plc:m4rg0tx7q2a1b3c4d5e6f7g8/app.bsky.feed.post/3lk2tw7a4cs2a"
        assert margot.author_handle == "margot.bsky.social" and margot.author_name == "Margot"
        assert sofia.language == "es" and "gotea" in sofia.text
        assert ben.published_at is not None and ben.published_at.isoformat() == "2025-03-05T19:45:00+00:00"
        searches = [r for r in srv.requests if r.path == SEARCH]
        assert [r.arg("cursor") for r in searches] == [None, "2", "4"]
        assert searches[0].arg("q") == "Tidewell" and searches[0].arg("sort") == "latest"
        assert searches[0].headers["authorization"] == "Bearer ACCESS-1"
        assert srv.hits("/xrpc/com.atproto.server.createSession") == 1

        srv.reset()
        pds.posts = [*pds.posts, *load("search_tidewell_newer.json")["posts"]]
        newer = ctx.run(connector)
        assert [m.text for m in newer] == ["Update: Tidewell support answered and a teal kettle is on its way."]
        searches = [r for r in srv.requests if r.path == SEARCH]
        assert [r.arg("since") for r in searches] == ["2025-03-06T14:20:00.000000Z"]
        assert srv.hits("/xrpc/com.atproto.server.createSession") == 0  # the session is kept


def test_expired_token_is_refreshed_then_login_again(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PASSWORD_ENV, "app-pass-1234")
    pds = FakePds(load("search_tidewell.json")["posts"])
    with LocalServer(pds.routes()) as srv, fetcher() as fetch:
        ctx = SocialCtx("sky", fetch, brand=BRAND)
        connector = BlueskyConnector("sky", options(srv))
        assert len(ctx.run(connector)) == 3
        pds.valid_access.clear()  # access token expired: refreshSession gives a new one
        pds.posts = [*pds.posts, *load("search_tidewell_newer.json")["posts"]]
        assert len(ctx.run(connector)) == 1
        assert srv.hits("/xrpc/com.atproto.server.refreshSession") == 1
        assert [r.path for r in srv.requests][-1] == SEARCH
        assert srv.requests[-1].headers["authorization"] == "Bearer ACCESS-2"
        pds.valid_access.clear()
        pds.valid_refresh.clear()  # both expired: a new session
        assert ctx.run(connector) == []
        assert srv.hits("/xrpc/com.atproto.server.createSession") == 2


def test_wrong_app_password_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PASSWORD_ENV, "wrong")
    pds = FakePds([])
    with LocalServer(pds.routes()) as srv, fetcher() as fetch:
        with pytest.raises(FetchError, match="refused the login") as info:
            SocialCtx("sky", fetch, brand=BRAND).run(BlueskyConnector("sky", options(srv)))
        assert "wrong" not in str(info.value) and "app password" in str(info.value)


def test_malformed_search_answer_is_a_parse_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PASSWORD_ENV, "app-pass-1234")
    pds = FakePds([])
    routes = {**pds.routes(), SEARCH: Route(body='{"feed": []}', content_type="application/json")}
    with LocalServer(routes) as srv, fetcher() as fetch:
        with pytest.raises(ParseError, match="posts"):
            SocialCtx("sky", fetch, brand=BRAND).run(BlueskyConnector("sky", options(srv)))


def test_permalink() -> None:
    assert permalink("at://did:plc:abc/app.bsky.feed.post/3k2", "a.bsky.social") == "https://bsky.app/profile/a.bsky.social/post/3k2"
    assert permalink("at://did:plc:abc/app.bsky.feed.post/3k2") == "https://bsky.app/profile/did:plc:abc/post/3k2"
    assert permalink("at://did:plc:abc/app.bsky.feed.like/3k2") is None
