"""The hackernews connector against a loopback server that answers like Algolia's search_by_date
(numericFilters, hitsPerPage, nbPages), serving our own hit fixtures."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from bot.errors import ParseError
from connectors.brand import BrandConfig
from connectors.social.hackernews import HackerNewsConnector, HackerNewsOptions
from tests.connectors.test_brand import SocialCtx, fetcher
from tests.httpserver import LocalServer, Request, Route

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "hackernews"
BRAND = BrandConfig(keywords=("Tidewell",), exclude=("Tidewell Marina",))
PATH = "/api/v1/search_by_date"


def load(name: str) -> dict[str, Any]:
    return dict(json.loads((FIXTURES / name).read_text(encoding="utf-8")))


class FakeAlgolia:
    """Filters hits by numericFilters on created_at_i and pages them, newest first."""

    def __init__(self, hits: list[dict[str, Any]]) -> None:
        self.hits = hits

    def __call__(self, request: Request) -> Route:
        hits = sorted(self.hits, key=lambda h: h["created_at_i"], reverse=True)
        for op, value in re.findall(r"created_at_i(>|<=)(\d+)", request.arg("numericFilters") or ""):
            hits = [h for h in hits if (h["created_at_i"] > int(value) if op == ">" else h["created_at_i"] <= int(value))]
        per_page = int(request.arg("hitsPerPage") or 20)
        page = int(request.arg("page") or 0)
        chunk = hits[page * per_page:(page + 1) * per_page]
        pages = max(1, -(-len(hits) // per_page))
        body = dict(load("search_tidewell.json"), hits=chunk, nbHits=len(hits), nbPages=pages, page=page,
                    hitsPerPage=per_page)
        return Route(body=json.dumps(body), content_type="application/json; charset=utf-8")


def test_stories_and_comments_windows_and_second_cycle_asks_only_newer() -> None:
    algolia = FakeAlgolia(load("search_tidewell.json")["hits"])
    with LocalServer({PATH: algolia}) as srv, fetcher() as fetch:
        ctx = SocialCtx("hn", fetch, brand=BRAND)
        connector = HackerNewsConnector("hn", {"api_url": srv.url("/api/v1"), "hits_per_page": 3})
        found = ctx.run(connector)
        # the dead comment and the marina comment are dropped
        assert [m.external_id for m in found] == ["43300107", "43300106", "43300104"]
        comment, teardown, ask = found
        assert comment.text == "I returned my Tidewell kettle: the thermostat failed twice.\nSupport took three weeks to answer."
        assert comment.author_handle == "kettlenerd" and comment.raw["type"] == "comment"
        assert comment.url == "https://news.ycombinator.com/item?id=43300107"
        assert teardown.text == "Teardown of a Tidewell travel kettle" and teardown.title is None
        assert teardown.raw["link"] == "https://blog.example/teardown-tidewell"
        assert ask.title == "Ask HN: How did Tidewell grow so fast?" and ask.text.startswith("Curious how")
        assert ask.published_at is not None and ask.published_at.isoformat() == "2025-03-06T14:40:00+00:00"
        requests = [r for r in srv.requests if r.path == PATH]
        assert requests[0].arg("tags") == "(story,comment)" and requests[0].arg("query") == "Tidewell"
        assert [r.arg("numericFilters") for r in requests] == [
            None, "created_at_i<=1741275000"]

        srv.reset()
        algolia.hits = [*algolia.hits, *load("search_tidewell_newer.json")["hits"]]
        newer = ctx.run(connector)
        assert [m.external_id for m in newer] == ["43311111"]
        assert [r.arg("numericFilters") for r in srv.requests if r.path == PATH] == ["created_at_i>1741281000"]


def test_malformed_answer_is_a_parse_error() -> None:
    with LocalServer({PATH: Route(body='{"message": "invalid query"}', content_type="application/json")}) as srv, \
            fetcher() as fetch:
        with pytest.raises(ParseError, match="hits"):
            SocialCtx("hn", fetch, brand=BRAND).run(HackerNewsConnector("hn", {"api_url": srv.url("/api/v1")}))


def test_only_stories_and_options() -> None:
    assert HackerNewsOptions(tags=("story",)).tags == ("story",)
    with pytest.raises(ValueError):
        HackerNewsOptions.model_validate({"tags": ["poll"]})
    with pytest.raises(ValueError):
        HackerNewsOptions.model_validate({"tags": []})
