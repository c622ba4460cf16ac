"""googleplay connector against a loopback server speaking the Play Developer API's reviews.list."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from bot.collect import collect, list_mentions, source_health
from bot.config import Config
from bot.store import Mention, SourceState, Store
from connectors.reviews.googleplay import GooglePlayConnector
from tests.httpserver import LocalServer, Request, Route

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "googleplay"
API = "/androidpublisher/v3/applications/com.fernhollow.shop/reviews"
TOKEN = "ya29.play-token"
NEXT = "CgwI0N3_qgYQgJTg8gE"


class Play:
    """reviews.list over two pages joined by a page token; `first` replaces page 1's body."""

    def __init__(self) -> None:
        self.first: str = (FIXTURES / "reviews-page1.json").read_text()
        self.second: str = (FIXTURES / "reviews-page2.json").read_text()

    def __call__(self, request: Request) -> Route:
        if request.headers.get("authorization") != f"Bearer {TOKEN}":
            return Route(status=401, content_type="application/json",
                         body='{"error":{"code":401,"message":"Request had invalid authentication credentials.",'
                              '"status":"UNAUTHENTICATED"}}')
        body = self.second if request.arg("token") == NEXT else self.first
        return Route(body=body, content_type="application/json")


def config(url: str, **extra: Any) -> Config:
    return Config.model_validate({
        "http": {"per_host_delay": 0, "allow_private": ["127.0.0.1"], "backoff": 0, "retries": 0},
        "sources": [{"name": "play", "kind": "googleplay", "package_name": "com.fernhollow.shop", "per_page": 2,
                     "base_url": url + "/androidpublisher/v3", "access_token_env": "TEST_PLAY_TOKEN", **extra}],
    })


@pytest.fixture
def token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_PLAY_TOKEN", TOKEN)


def test_pages_by_token_and_reads_the_users_comment(store: Store, token: None) -> None:
    with LocalServer({API: Play()}) as srv:
        summary = collect(config(srv.base), store)
        assert summary.ok and summary.new_total == 3, summary.lines()
        assert [r.arg("token") for r in srv.requests] == [None, NEXT] and srv.requests[0].arg("maxResults") == "2"
    got = {m["external_id"]: m for m in list_mentions(store)}
    crash = got["gp:AOqpTOGx3n1Fh8kq2ZrTWa9"]
    assert crash["title"] == "Checkout crashes" and crash["text"].startswith("The app crashes every time")
    assert crash["rating"] == 1.0 and crash["author_name"] == "Kai Brenner" and crash["product_sku"] == "com.fernhollow.shop"
    assert crash["published_at"] == "2026-11-24T06:00:00+00:00"
    assert got["gp:AOqpTOHq77yQ0pL1vVbN2"]["title"] is None  # no tab: all of it is the text
    assert got["gp:AOqpTOEw5c0aZ3mR8sT4"]["title"] is None and got["gp:AOqpTOEw5c0aZ3mR8sT4"]["text"].startswith("The size")
    with store.session() as s:
        raw = s.query(Mention).filter_by(external_id="gp:AOqpTOGx3n1Fh8kq2ZrTWa9").one().raw
        state = s.get(SourceState, "play")
        assert state is not None and state.cursor == {"newest": "2026-11-24T06:00:00+00:00"}
    assert raw["replied"] is True and raw["app_version"] == "4.1.2" and raw["androidOsVersion"] == 34


def test_second_run_stops_at_a_page_already_stored(store: Store, token: None) -> None:
    play = Play()
    with LocalServer({API: play}) as srv:
        assert collect(config(srv.base), store).new_total == 3
        srv.reset()
        page = json.loads(play.first)
        fresh = {"reviewId": "gp:AOqpTONEW1", "authorName": "Sam",
                 "comments": [{"userComment": {"text": "Login broke after the update.", "starRating": 1,
                                               "lastModified": {"seconds": "1795600000", "nanos": 0}}}]}
        page["reviews"] = [fresh, page["reviews"][0]]
        play.first = json.dumps(page)
        second = collect(config(srv.base), store)
        assert second.ok and second.new_total == 1 and [r.arg("token") for r in srv.requests] == [None, NEXT]
        srv.reset()
        third = collect(config(srv.base), store)
        assert third.new_total == 0 and len(srv.requests) == 1  # page 1 all stored: stop


def test_refused_token_names_the_variable(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_PLAY_TOKEN", "ya29.expired")
    with LocalServer({API: Play()}) as srv:
        refused = collect(config(srv.base), store)
    error = refused.results[0].errors[0]
    assert not refused.ok and "HTTP 401" in error and "TEST_PLAY_TOKEN" in error and "com.fernhollow.shop" in error
    assert "ya29" not in error and source_health(store)[0].consecutive_failures == 1


def test_garbled_answers_are_recorded_and_nothing_stored_is_lost(store: Store, token: None) -> None:
    play = Play()
    with LocalServer({API: play}) as srv:
        assert collect(config(srv.base), store).new_total == 3
        page = json.loads(play.first)
        page["reviews"] = [
            {"reviewId": "gp:AOqpTOODD", "authorName": {"x": 1},
             "comments": [None, {"userComment": {"text": "Prices wrong in the app.", "starRating": "1",
                                                 "lastModified": {"seconds": "-5"}}}]},
            {"reviewId": "../etc", "comments": [{"userComment": {"text": "x"}}]},
            {"reviewId": "gp:AOqpTONOTEXT", "comments": "none"},
        ] + page["reviews"]
        play.first = json.dumps(page)
        play.second = "<html>Service unavailable</html>"
        garbled = collect(config(srv.base, per_page=5), store)
    assert not garbled.ok and "not valid JSON" in garbled.results[0].errors[0]
    with store.session() as s:
        rows = {m.external_id: m for m in s.query(Mention).filter_by(source="play")}
        state = s.get(SourceState, "play")
        assert state is not None and state.cursor == {"newest": "2026-11-24T06:00:00+00:00"}  # not moved on
    assert set(rows) == {"gp:AOqpTOGx3n1Fh8kq2ZrTWa9", "gp:AOqpTOHq77yQ0pL1vVbN2", "gp:AOqpTOEw5c0aZ3mR8sT4",
                         "gp:AOqpTOODD"}
    odd = rows["gp:AOqpTOODD"]
    assert odd.rating is None and odd.author_name is None and odd.published_at is None


def test_options_are_checked() -> None:
    with pytest.raises(ValidationError, match="Android package name"):
        GooglePlayConnector.Options.model_validate({"package_name": "fernhollow shop"})
    assert GooglePlayConnector("p", {"package_name": "com.fernhollow.shop"}).endpoint == \
        f"https://androidpublisher.googleapis.com{API}"
