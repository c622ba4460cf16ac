"""html connector: CSS selectors from config against our own paginated review pages on loopback."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from bot.collect import collect, list_mentions, source_health
from bot.config import Config
from bot.store import Store
from connectors.reviews.html import HtmlConnector
from tests.httpserver import LocalServer, Request, Route

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "html"
SELECTORS: dict[str, Any] = {
    "item": "article.review", "text": ".body", "author": ".who", "title": ".title",
    "rating": ".stars .star.on", "rating_from": "count", "date": "time", "date_format": "%d/%m/%Y",
    "permalink": "a.permalink", "id_attribute": "data-review-id", "product_name": "h1.product-title",
    "product_sku": ".sku", "next_page": "a.next",
}


def reviews(request: Request) -> Route:
    name = "reviews-page2.html" if request.arg("page") == "2" else "reviews-page1.html"
    return Route(body=(FIXTURES / name).read_bytes(), content_type="text/html; charset=utf-8")


T0 = datetime(2025, 3, 10, 8, 0, tzinfo=UTC)


def config(url: str, **extra: Any) -> Config:
    return Config.model_validate({
        "http": {"per_host_delay": 0, "allow_private": ["127.0.0.1"], "backoff": 0, "retries": 0},
        "sources": [{"name": "bagshop", "kind": "html", "urls": [url], **SELECTORS, **extra}],
    })


def test_selectors_pagination_and_stop_at_known_page(store: Store) -> None:
    with LocalServer({"/products/weekender/reviews": reviews}) as srv:
        first = collect(config(srv.url("/products/weekender/reviews")), store, now=lambda: T0)
        assert first.ok and first.new_total == 3 and srv.hits() == 3  # robots + 2 pages
        got = {m["external_id"]: m for m in list_mentions(store)}
        strap = got["r-9003"]
        assert strap["text"] == "The shoulder strap tore off on the first trip.\nStitching was very thin."
        assert strap["rating"] == 1.0 and strap["author_name"] == "Lotte Berger" and strap["title"] == "Strap tore off"
        assert strap["published_at"] == "2025-03-09T00:00:00+00:00" and strap["product_sku"] == "FH-BAG-22"
        assert strap["url"] == srv.url("/products/weekender/reviews#r-9003")
        assert strap["product_name"] == "Canvas Weekender Bag"
        assert got["r-9001"]["text"] == "Perfect for a weekend away & fits under a plane seat."
        assert got["r-9002"]["rating"] == 4.0
        # a new review on page 1: page 1 is read again; it also holds stored ones, so page 2 is asked,
        # conditionally, and is unchanged: nothing parsed there
        srv.reset()
        body = (FIXTURES / "reviews-page1.html").read_text(encoding="utf-8").replace(
            '<section id="reviews">', '<section id="reviews"><article class="review" data-review-id="r-9004">'
            '<strong class="who">Ana</strong><div class="body">Handle came loose.</div></article>', 1)
        srv.routes["/products/weekender/reviews"] = lambda r: Route(body=body) if r.arg("page") is None else reviews(r)
        # (two hours on: the URL is due again, its first visit scheduled it an hour later)
        second = collect(config(srv.url("/products/weekender/reviews")), store, now=lambda: T0 + timedelta(hours=2))
        assert second.new_total == 1 and srv.hits("/products/weekender/reviews") == 2
        assert (second.results[0].pages, second.results[0].not_modified) == (1, 1)
        # nothing new at all: page 1 is unchanged and the walk stops there
        srv.reset()
        third = collect(config(srv.url("/products/weekender/reviews")), store, now=lambda: T0 + timedelta(hours=6))
        assert third.new_total == 0 and srv.hits("/products/weekender/reviews") == 1


def test_rating_from_attribute_and_text_and_dates_from_attribute(store: Store) -> None:
    with LocalServer({"/r": reviews}) as srv:
        collect(config(srv.url("/r"), rating=".stars", rating_from="text", date_attribute="datetime",
                       next_page=None), store)
    got = {m["external_id"]: m for m in list_mentions(store)}
    assert got["r-9003"]["rating"] is None  # the stars element has no text: no rating, not a wrong one
    assert got["r-9003"]["published_at"] == "2025-03-09T17:20:00+00:00"  # the datetime attribute, to UTC
    connector = HtmlConnector("x", {**SELECTORS, "urls": ["https://a.example/r"], "rating": ".stars",
                                    "rating_from": "attribute", "rating_attribute": "aria-label"})
    found, next_url = connector.parse((FIXTURES / "reviews-page1.html").read_text(), "https://a.example/r")
    assert [m.rating for m in found] == [1.0, 4.0] and next_url == "https://a.example/products/weekender/reviews?page=2"


def test_selector_matching_nothing_is_a_readable_error(store: Store) -> None:
    with LocalServer({"/r": reviews}) as srv:
        summary = collect(config(srv.url("/r"), item=".no-such-review"), store)
    assert not summary.ok
    assert "no reviews found with item selector '.no-such-review'" in summary.results[0].errors[0]
    assert source_health(store)[0].last_error_kind == "parse"


def test_bad_selector_is_a_config_error() -> None:
    with pytest.raises(ValidationError, match="not a CSS selector"):
        HtmlConnector.Options.model_validate({**SELECTORS, "urls": ["https://a.example"], "item": "div[["})
