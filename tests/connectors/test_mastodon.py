"""The mastodon connector against a loopback server that pages like Mastodon (Link header,
max_id/min_id/since_id), serving our own Status fixtures."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bot.errors import ParseError, SecretMissing
from connectors.brand import BrandConfig
from connectors.social.mastodon import MastodonConnector, MastodonOptions, parse_link_header
from tests.connectors.test_brand import SocialCtx, fetcher
from tests.httpserver import LocalServer, Request, Route

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "mastodon"
BRAND = BrandConfig(keywords=("Tidewell",), exclude=("Tidewell Marina",), own_accounts=("@tidewell@shop.example",))
TAG = "/api/v1/timelines/tag/tidewell"


def load(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


class FakeInstance:
    """Serves statuses newest first and pages them the way Mastodon does."""

    def __init__(self, statuses: list[dict[str, Any]], remaining: int | None = None) -> None:
        self.statuses = statuses
        self.remaining = remaining
        self.base = ""

    def __call__(self, request: Request) -> Route:
        limit = int(request.arg("limit", "20") or 20)
        ordered = sorted(self.statuses, key=lambda s: int(s["id"]), reverse=True)
        below, above = request.arg("max_id"), request.arg("min_id") or request.arg("since_id")
        matching = [s for s in ordered
                    if (below is None or int(s["id"]) < int(below)) and (above is None or int(s["id"]) > int(above))]
        page = matching[-limit:] if request.arg("min_id") else matching[:limit]
        headers: dict[str, str] = {}
        if page:
            url = f"{self.base}{request.path}"
            headers["Link"] = (f'<{url}?limit={limit}&max_id={page[-1]["id"]}>; rel="next", '
                               f'<{url}?limit={limit}&min_id={page[0]["id"]}>; rel="prev"')
        if self.remaining is not None:
            headers["X-RateLimit-Limit"] = "300"
            headers["X-RateLimit-Remaining"] = str(self.remaining)
            headers["X-RateLimit-Reset"] = "2025-03-06T12:05:00.000Z"
        return Route(body=json.dumps(page), content_type="application/json", headers=headers)


def serve(instance: FakeInstance, **routes: Any) -> LocalServer:
    srv = LocalServer({TAG: instance, **routes}).start()
    instance.base = srv.base
    return srv


def test_tag_timeline_pages_by_link_header_and_second_cycle_asks_only_newer() -> None:
    instance = FakeInstance(load("tag_tidewell.json"))
    srv = serve(instance)
    try:
        with fetcher() as fetch:
            ctx = SocialCtx("fedi", fetch, brand=BRAND)
            connector = MastodonConnector("fedi", {"instance": srv.base, "hashtags": ["#Tidewell"], "limit": 3})
            found = ctx.run(connector)
            by_id = {m.external_id[-2:]: m for m in found}
            # 10 is a boost of 05 (counted once, as 05); 08 is empty (deleted); 07 is ours; 04 is the marina
            assert sorted(by_id) == ["03", "05", "06", "09"]
            tag_requests = [r for r in srv.requests if r.path == TAG]
            assert len(tag_requests) == 4  # 9 statuses by 3, then an empty page
            assert tag_requests[1].arg("max_id") == "113900000000000008"
            ana = by_id["05"]
            assert ana.author_handle == f"@ana@127.0.0.1:{srv.port}" and ana.author_name == "Ana P"
            assert ana.text.startswith("@tidewell my order never arrived") and ana.text.endswith("Anyone else?")
            assert ana.url == "https://social.example/@ana/113900000000000005"
            assert by_id["06"].language == "de" and by_id["06"].author_handle == "@lukas@mastodon.example.de"
            assert by_id["03"].title == "shopping rant"
            assert by_id["09"].published_at is not None and by_id["09"].published_at.isoformat() == "2025-03-06T10:00:00+00:00"
            assert ctx.cursor["streams"]["tag:tidewell"] == "113900000000000010"

            srv.reset()
            instance.statuses = [*instance.statuses, *load("tag_tidewell_newer.json")]
            newer = ctx.run(connector)
            assert [m.external_id[-2:] for m in newer] == ["12", "11"]
            assert newer[0].language == "de"
            assert srv.requests[0].arg("min_id") == "113900000000000010"
            assert all(r.arg("max_id") is None for r in srv.requests)  # never walks back into old pages
            assert ctx.cursor["streams"]["tag:tidewell"] == "113900000000000012"

            # a boost of a stored status is skipped
            boost = dict(load("tag_tidewell.json")[0], id="113900000000000013", reblog=load("tag_tidewell.json")[-1])
            instance.statuses = [*instance.statuses, boost]
            assert ctx.run(connector) == []
            assert ctx.cursor["streams"]["tag:tidewell"] == "113900000000000013"
    finally:
        srv.stop()


def test_rate_limit_header_stops_the_run_and_next_run_goes_on() -> None:
    instance = FakeInstance(load("tag_tidewell.json"), remaining=0)
    srv = serve(instance)
    try:
        with fetcher() as fetch:
            ctx = SocialCtx("fedi", fetch, brand=BRAND)
            connector = MastodonConnector("fedi", {"instance": srv.base, "hashtags": ["tidewell"], "limit": 3})
            first = ctx.run(connector)
            assert srv.hits(TAG) == 1 and [m.external_id[-2:] for m in first] == ["05", "09"]
            instance.remaining = 200
            instance.statuses = [*instance.statuses, *load("tag_tidewell_newer.json")]
            second = ctx.run(connector)
            assert [m.external_id[-2:] for m in second] == ["12", "11"]
    finally:
        srv.stop()


@pytest.mark.parametrize("body", ['{"error": "Record not found"}', "<html>maintenance</html>", "[1, 2"])
def test_malformed_timeline_is_a_parse_error(body: str) -> None:
    with LocalServer({TAG: Route(body=body, content_type="application/json")}) as srv, fetcher() as fetch:
        ctx = SocialCtx("fedi", fetch, brand=BRAND)
        with pytest.raises(ParseError, match=r"\[fedi\]"):
            ctx.run(MastodonConnector("fedi", {"instance": srv.base, "hashtags": ["tidewell"]}))


def test_search_sends_bearer_token_and_min_id(monkeypatch: pytest.MonkeyPatch) -> None:
    search = load("search_tidewell.json")
    with LocalServer({"/api/v2/search": Route(body=json.dumps(search), content_type="application/json")}) as srv, \
            fetcher() as fetch:
        options = MastodonOptions(instance=srv.base, token_env="TEST_MASTODON_TOKEN")
        ctx = SocialCtx("fedi", fetch, brand=BRAND)
        with pytest.raises(SecretMissing, match="TEST_MASTODON_TOKEN"):
            ctx.run(MastodonConnector("fedi", options))
        monkeypatch.setenv("TEST_MASTODON_TOKEN", "s3cret-token")
        found = ctx.run(MastodonConnector("fedi", options))
        assert [m.external_id[-2:] for m in found] == ["21", "06"]
        first = next(r for r in srv.requests if r.path == "/api/v2/search")
        assert first.headers["authorization"] == "Bearer s3cret-token"
        assert first.arg("q") == "Tidewell" and first.arg("type") == "statuses" and first.arg("min_id") is None
        srv.reset()
        assert ctx.run(MastodonConnector("fedi", options)) == []
        assert [r.arg("min_id") for r in srv.requests if r.path == "/api/v2/search"] == ["113900000000000021"]


def test_options_and_link_header() -> None:
    opts = MastodonOptions(instance="https://mastodon.social/", hashtags=("#Kettle", " ", "tea"))
    assert opts.instance == "https://mastodon.social" and opts.hashtags == ("Kettle", "tea")
    with pytest.raises(ValueError):
        MastodonOptions(instance="mastodon.social")
    assert parse_link_header('<https://m.example/a?max_id=5>; rel="next", <https://m.example/a?min_id=9>; rel="prev"') == {
        "next": "https://m.example/a?max_id=5", "prev": "https://m.example/a?min_id=9"}
    assert parse_link_header(None) == {}


def test_the_api_is_read_even_when_robots_txt_forbids_the_website() -> None:
    """robots.txt governs crawling web pages; the instance's documented API is called as an API."""
    instance = FakeInstance(load("tag_tidewell.json"))
    srv = serve(instance, **{"/robots.txt": Route(body="User-agent: *\nDisallow: /\n", content_type="text/plain")})
    try:
        with fetcher() as fetch:
            ctx = SocialCtx("fedi", fetch, brand=BRAND)
            connector = MastodonConnector("fedi", {"instance": srv.base, "hashtags": ["tidewell"], "limit": 40})
            assert len(ctx.run(connector)) == 4
            assert not [r for r in srv.requests if r.path == "/robots.txt"]
    finally:
        srv.stop()
