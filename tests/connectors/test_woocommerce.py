"""woocommerce connector against a loopback server speaking the REST v3 reviews endpoint."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest

from bot.collect import collect, list_mentions, source_health
from bot.config import Config
from bot.store import Mention, SourceState, Store
from tests.httpserver import LocalServer, Request, Route

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "woocommerce"
API = "/wp-json/wc/v3/products/reviews"
GOOD = "Basic " + base64.b64encode(b"ck_test:cs_test").decode()


def api(request: Request) -> Route:
    if request.headers.get("authorization") != GOOD:
        return Route(status=401, content_type="application/json",
                     body='{"code":"woocommerce_rest_cannot_view","message":"Sorry, you cannot list resources."}')
    page = request.arg("page") or "1"
    body = (FIXTURES / f"reviews-page{page}.json").read_bytes() if page in ("1", "2") else b"[]"
    return Route(body=body, content_type="application/json", headers={"X-WP-Total": "4", "X-WP-TotalPages": "2"})


def config(url: str, **extra: Any) -> Config:
    return Config.model_validate({
        "http": {"per_host_delay": 0, "allow_private": ["127.0.0.1"], "backoff": 0, "retries": 0},
        "sources": [{"name": "woo", "kind": "woocommerce", "url": url, "per_page": 2,
                     "consumer_key_env": "TEST_WOO_KEY", "consumer_secret_env": "TEST_WOO_SECRET", **extra}],
    })


@pytest.fixture
def keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_WOO_KEY", "ck_test")
    monkeypatch.setenv("TEST_WOO_SECRET", "cs_test")


def test_reviews_paginated_with_verified_emails_and_after_cursor(store: Store, keys: None) -> None:
    routes = {API: api, "/robots.txt": Route(body="User-agent: *\nDisallow: /wp-json/\n", content_type="text/plain")}
    with LocalServer(routes) as srv:
        first = collect(config(srv.base), store)
        assert first.ok and first.new_total == 3, first.lines()
        assert [r.arg("page") for r in srv.requests] == ["1", "2"]  # robots.txt is for crawlers, not our API
        assert srv.requests[0].arg("per_page") == "2" and srv.requests[0].arg("after") is None
        got = {m["external_id"]: m for m in list_mentions(store)}
        mug = got["418"]
        assert mug["text"] == "The enamel chipped after one wash. Rust spots already." and mug["rating"] == 1.0
        assert mug["author_email"] == "m***@mail.example"  # verified owner: kept (listing masks it)
        assert mug["published_at"] == "2025-03-08T10:02:45+00:00" and mug["product_name"] == "Enamel Camping Mug"
        assert mug["url"] == "https://fernhollow.example/product/enamel-camping-mug/#comment-418"
        assert got["417"]["author_email"] is None and got["417"]["text"] == "Nice mug & good size."
        assert got["402"]["rating"] == 2.0 and "399" not in got  # an empty review says nothing
        with store.session() as s:
            assert s.get(SourceState, "woo").cursor == {"newest": "2025-03-08T10:02:45+00:00"}
            assert s.query(Mention).filter_by(external_id="418").one().author_email == "marta.l@mail.example"
        srv.reset()
        second = collect(config(srv.base), store)
        assert second.new_total == 0 and len(srv.requests) == 1  # page 1 all stored: stop
        assert srv.requests[0].arg("after") == "2025-03-08T09:57:45"  # newest minus the overlap


def test_missing_key_and_refused_key_are_clear_source_errors(store: Store, keys: None,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    with LocalServer({API: api}) as srv:
        monkeypatch.setenv("TEST_WOO_SECRET", "wrong")
        refused = collect(config(srv.base), store)
        assert not refused.ok and "HTTP 401" in refused.results[0].errors[0]
        monkeypatch.delenv("TEST_WOO_KEY")
        missing = collect(config(srv.base), store)
    assert "environment variable TEST_WOO_KEY" in missing.results[0].errors[0]
    health = source_health(store)[0]
    assert health.last_error_kind == "config" and health.consecutive_failures == 2
    assert "wrong" not in (health.last_error_message or "") and "cs_" not in (health.last_error_message or "")


def test_html_instead_of_json_is_a_parse_error(store: Store, keys: None) -> None:
    with LocalServer({API: Route(body="<html>Maintenance</html>", content_type="text/html")}) as srv:
        summary = collect(config(srv.base), store)
    assert not summary.ok and "not valid JSON" in summary.results[0].errors[0]
