"""judgeme connector against a loopback server speaking Judge.me's `GET /api/v1/reviews`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from bot.collect import collect, list_mentions, source_health
from bot.config import Config
from bot.store import Mention, SourceState, Store
from connectors.reviews.judgeme import JudgeMeConnector
from tests.httpserver import LocalServer, Request, Route

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "judgeme"
API = "/api/v1/reviews"
TOKEN = "jm-private-7f3a9c"


class Shop:
    """Judge.me's reviews endpoint over the pages in `pages` (page number -> review list)."""

    def __init__(self) -> None:
        self.pages: dict[int, Any] = {
            1: json.loads((FIXTURES / "reviews-page1.json").read_text())["reviews"],
            2: json.loads((FIXTURES / "reviews-page2.json").read_text())["reviews"],
        }

    def __call__(self, request: Request) -> Route:
        if request.arg("api_token") != TOKEN or request.arg("shop_domain") != "fernhollow.myshopify.com":
            return Route(status=401, content_type="application/json", body='{"error":"Invalid api_token"}')
        number = int(request.arg("page") or "1")
        reviews = self.pages.get(number, [])
        if isinstance(reviews, (str, bytes)):
            return Route(body=reviews, content_type="application/json")
        body = {"current_page": number, "per_page": int(request.arg("per_page") or "10"), "reviews": reviews}
        return Route(body=json.dumps(body), content_type="application/json")


def config(url: str, **extra: Any) -> Config:
    return Config.model_validate({
        "http": {"per_host_delay": 0, "allow_private": ["127.0.0.1"], "backoff": 0, "retries": 0},
        "sources": [{"name": "jm", "kind": "judgeme", "shop_domain": "fernhollow.myshopify.com", "per_page": 2,
                     "base_url": url + "/api/v1", "api_token_env": "TEST_JUDGEME_TOKEN", **extra}],
    })


@pytest.fixture
def token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_JUDGEME_TOKEN", TOKEN)


def review(review_id: int, body: str, created: str, **extra: Any) -> dict[str, Any]:
    return {"id": review_id, "title": "", "body": body, "rating": 1, "verified": "buyer", "curated": "not-yet",
            "reviewer": {"name": "Lena W.", "email": "lena.w@mail.example"}, "created_at": created, **extra}


def test_first_run_reads_every_page_and_maps_the_buyer(store: Store, token: None) -> None:
    shop = Shop()
    with LocalServer({API: shop}) as srv:
        summary = collect(config(srv.base), store)
        assert summary.ok and summary.new_total == 3, summary.lines()
        assert [r.arg("page") for r in srv.requests] == ["1", "2", "3"]  # page 2 was full: 3 is empty
        assert {r.arg("per_page") for r in srv.requests} == {"2"}
    got = {m["external_id"]: m for m in list_mentions(store)}
    assert set(got) == {"5100231", "5100229", "5100220"}  # the spam one is not a buyer
    kettle = got["5100231"]
    assert kettle["rating"] == 1.0 and kettle["title"] == "Handle snapped" and kettle["author_name"] == "Priya N."
    assert kettle["text"].startswith("The handle of the kettle snapped") and kettle["product_name"] == "Stovetop Kettle 1.5 l"
    assert kettle["product_url"] == "https://fernhollow.myshopify.com/products/stovetop-kettle"
    assert kettle["published_at"] == "2026-11-20T09:15:00+00:00"
    assert got["5100220"]["title"] is None and got["5100220"]["rating"] == 2.0  # hidden reviews are read too
    with store.session() as s:
        emails = {m.external_id: m.author_email for m in s.query(Mention).filter_by(source="jm")}
        raw = s.query(Mention).filter_by(external_id="5100231").one().raw
        assert s.get(SourceState, "jm").cursor == {"newest": "2026-11-20T09:15:00+00:00"}
    # verified reviewers keep their address (so the order matches exactly); an unverified one does not
    assert emails == {"5100231": "priya.n@mail.example", "5100229": None, "5100220": "ana.k@mail.example"}
    assert raw["customer_id"] == 6610022001 and raw["verified"] == "buyer" and raw["pictures"] == 1


def test_second_run_reads_only_what_is_new(store: Store, token: None) -> None:
    shop = Shop()
    with LocalServer({API: shop}) as srv:
        assert collect(config(srv.base), store).new_total == 3
        srv.reset()
        newest = review(5100240, "The lid does not close any more.", "2026-11-22T12:00:00Z")
        shop.pages[1] = [newest, shop.pages[1][0]]
        shop.pages[2] = [shop.pages[2][0] | {"id": 5100229}, shop.pages[2][0]]  # shifted down by one
        second = collect(config(srv.base), store)
        assert second.ok and second.new_total == 1, second.lines()
        assert [r.arg("page") for r in srv.requests] == ["1", "2"]  # page 2 all stored: the rest is too
        srv.reset()
        third = collect(config(srv.base), store)
        assert third.new_total == 0 and [r.arg("page") for r in srv.requests] == ["1"]
    with store.session() as s:
        assert s.get(SourceState, "jm").cursor == {"newest": "2026-11-22T12:00:00+00:00"}
        assert s.query(Mention).filter_by(source="jm").count() == 4


def test_refused_token_names_the_variable_never_the_token(store: Store, token: None,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    with LocalServer({API: Shop()}) as srv:
        monkeypatch.setenv("TEST_JUDGEME_TOKEN", "jm-wrong-000")
        refused = collect(config(srv.base), store)
        monkeypatch.delenv("TEST_JUDGEME_TOKEN")
        missing = collect(config(srv.base), store)
    error = refused.results[0].errors[0]
    assert not refused.ok and "HTTP 401" in error and "TEST_JUDGEME_TOKEN" in error
    assert f"{srv.base}/api/v1/reviews?page=1" in error and "jm-wrong" not in error
    assert "environment variable TEST_JUDGEME_TOKEN" in missing.results[0].errors[0]
    health = source_health(store)[0]
    assert health.consecutive_failures == 2 and "jm-wrong" not in (health.last_error_message or "")


def test_a_redirect_elsewhere_is_refused_without_showing_the_token(store: Store, token: None) -> None:
    moved = Route(status=302, headers={"Location": "https://judge.example/api/v1/reviews?moved=1"})
    with LocalServer({API: moved}) as srv:
        summary = collect(config(srv.base), store)
    error = summary.results[0].errors[0]
    assert not summary.ok and "outside this source's hosts" in error and "judge.example" in error
    assert TOKEN not in error and "api_token=***" in error
    assert TOKEN not in (source_health(store)[0].last_error_message or "")


def test_garbled_page_is_a_recorded_error_and_nothing_stored_is_lost(store: Store, token: None) -> None:
    shop = Shop()
    with LocalServer({API: shop}) as srv:
        assert collect(config(srv.base), store).new_total == 3
        # hostile items inside a list are passed over; a page that is not JSON stops the run
        shop.pages[1] = [review(5100250, "Cracked glass on arrival.", "2026-11-23T08:00:00Z"),
                         None, "x", {"id": {"$gt": 1}, "body": "injected"},
                         {"id": 5100251, "body": ["not", "text"], "rating": "five", "reviewer": "me"},
                         {"id": 5100252, "body": "A" * 50_000, "rating": 9, "reviewer": {"email": "not an address"},
                          "created_at": "yesterday-ish", "product_handle": "../../etc"}]
        shop.pages[2] = '{"reviews": [{"id": 1, "body": "cut off'
        garbled = collect(config(srv.base, per_page=6), store)
    assert not garbled.ok and "not valid JSON" in garbled.results[0].errors[0]
    assert "?page=2" in garbled.results[0].errors[0] and TOKEN not in garbled.results[0].errors[0]
    with store.session() as s:
        rows = {m.external_id: m for m in s.query(Mention).filter_by(source="jm")}
        assert s.get(SourceState, "jm").cursor == {"newest": "2026-11-20T09:15:00+00:00"}  # not moved on
    assert {"5100231", "5100229", "5100220", "5100250", "5100252"} <= set(rows) and "5100251" not in rows
    odd = rows["5100252"]
    assert len(odd.text) == 20_000 and odd.rating is None and odd.author_email is None and odd.product_url is None
    assert len(rows) == 5


def test_options_are_checked() -> None:
    with pytest.raises(ValidationError, match="shop domain"):
        JudgeMeConnector.Options.model_validate({"shop_domain": "fern hollow"})
    assert JudgeMeConnector.Options.model_validate(
        {"shop_domain": "https://Fernhollow.myshopify.com/"}).shop_domain == "fernhollow.myshopify.com"
    with pytest.raises(ValidationError, match="less than or equal to 100"):
        JudgeMeConnector.Options.model_validate({"shop_domain": "a.myshopify.com", "per_page": 500})
