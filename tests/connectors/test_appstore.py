"""appstore connector: our own customer-reviews feed pages in Apple's JSON shape, on loopback."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from bot.collect import collect, list_mentions
from bot.config import Config
from bot.store import Store
from connectors.reviews.appstore import AppStoreConnector
from tests.httpserver import LocalServer, Route

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "appstore"
BASE = "/{}/rss/customerreviews/page={}/id=1500000001/sortby=mostrecent/json"


def feed(name: str) -> Route:
    return Route(body=(FIXTURES / name).read_bytes(), content_type="text/javascript; charset=utf-8")


def config(base: str, **extra: Any) -> Config:
    return Config.model_validate({
        "http": {"per_host_delay": 0, "allow_private": ["127.0.0.1"], "backoff": 0, "retries": 0},
        "sources": [{"name": "ios", "kind": "appstore", "app_id": "id1500000001", "base_url": base, **extra}],
    })


def test_pages_per_country_skip_the_app_entry_and_stop_at_the_last(store: Store) -> None:
    routes = {BASE.format("us", 1): feed("us-page1.json"), BASE.format("us", 2): feed("us-page2.json"),
              BASE.format("gb", 1): Route(body='{"feed": {"author": {}, "link": []}}', content_type="text/javascript")}
    with LocalServer(routes) as srv:
        summary = collect(config(srv.base, countries=["us", "GB"]), store)
        assert summary.ok and summary.new_total == 3
        assert srv.hits(BASE.format("us", 3)) == 0  # 'last' said 2
        got = {m["external_id"]: m for m in list_mentions(store)}
        broken = got["11223344551"]
        assert broken["rating"] == 1.0 and broken["title"] == "Order tracking broken" and broken["author_name"] == "hedgehog_77"
        assert broken["published_at"] == "2025-03-10T04:14:02+00:00" and broken["product_sku"] == "1500000001"
        assert got["11223344549"]["text"].startswith("Crashes when I open")  # a single entry as an object
        srv.reset()
        again = collect(config(srv.base), store)
        assert again.new_total == 0 and [r.path for r in srv.requests if "customerreviews" in r.path] == [BASE.format("us", 1)]


def test_unknown_app_and_bad_options(store: Store) -> None:
    with LocalServer({BASE.format("us", 1): Route(body="{}", content_type="text/javascript")}) as srv:
        summary = collect(config(srv.base), store)
    assert not summary.ok and "no 'feed'" in summary.results[0].errors[0]
    with pytest.raises(ValidationError, match="numeric App Store id"):
        AppStoreConnector.Options.model_validate({"app_id": "fernhollow"})
    with pytest.raises(ValidationError, match="two-letter"):
        AppStoreConnector.Options.model_validate({"app_id": 1, "countries": ["usa"]})
