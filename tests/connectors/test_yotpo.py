"""yotpo connector against a loopback server speaking Yotpo's token and "retrieve all reviews" API."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from bot.collect import collect, list_mentions, source_health
from bot.config import Config
from bot.store import Mention, SourceState, Store
from connectors.reviews.yotpo import YotpoConnector
from tests.httpserver import LocalServer, Request, Route

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "yotpo"
APP_KEY = "fh4Kq2x9AppKey"
SECRET = "yotpo-secret-51c0"
UTOKEN = "utok-8d2e61"
API = f"/v1/apps/{APP_KEY}/reviews"


def stamp(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


class Yotpo:
    """Yotpo's token exchange and reviews list over `reviews` (oldest first), filtered by
    `since_updated_at` and paged by `count`/`page` as the API does; `broken` maps a page number
    to a body served instead."""

    def __init__(self) -> None:
        self.reviews: list[dict[str, Any]] = json.loads((FIXTURES / "reviews.json").read_text())["reviews"]
        self.broken: dict[int, str] = {}

    def token(self, request: Request) -> Route:
        body = json.loads(request.body or b"{}")
        if body != {"client_id": APP_KEY, "client_secret": SECRET, "grant_type": "client_credentials"}:
            return Route(status=401, content_type="application/json",
                         body='{"status":{"message":"Unauthorized","code":401,"error_type":"Unauthorized"}}')
        return Route(body=json.dumps({"access_token": UTOKEN, "token_type": "bearer"}), content_type="application/json")

    def list(self, request: Request) -> Route:
        if request.arg("utoken") != UTOKEN:
            return Route(status=401, content_type="application/json",
                         body='{"status":{"message":"Unauthorized","code":401}}')
        number, count = int(request.arg("page") or "1"), int(request.arg("count") or "10")
        if number in self.broken:
            return Route(body=self.broken[number], content_type="application/json")
        since = stamp(request.arg("since_updated_at") or "1970-01-01T00:00:00Z")
        chosen = [r for r in self.reviews if stamp(r["updated_at"]) >= since]
        return Route(body=json.dumps({"reviews": chosen[(number - 1) * count: number * count]}),
                     content_type="application/json")


def serve(yotpo: Yotpo) -> LocalServer:
    return LocalServer({"/oauth/token": yotpo.token, API: yotpo.list})


def config(url: str, **extra: Any) -> Config:
    return Config.model_validate({
        "http": {"per_host_delay": 0, "allow_private": ["127.0.0.1"], "backoff": 0, "retries": 0},
        "sources": [{"name": "yp", "kind": "yotpo", "app_key": APP_KEY, "base_url": url, "per_page": 2,
                     "since_days": 3650, "secret_env": "TEST_YOTPO_SECRET", **extra}],
    })


@pytest.fixture
def keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_YOTPO_SECRET", SECRET)


def test_first_run_trades_the_secret_for_a_token_and_reads_every_page(store: Store, keys: None) -> None:
    with serve(Yotpo()) as srv:
        summary = collect(config(srv.base), store)
        assert summary.ok and summary.new_total == 4, summary.lines()
        assert [r.path for r in srv.requests] == ["/oauth/token", API, API, API]
        pages = [r for r in srv.requests if r.path == API]
        assert [r.arg("page") for r in pages] == ["1", "2", "3"] and {r.arg("count") for r in pages} == {"2"}
        assert all(SECRET not in r.raw_path for r in srv.requests)  # the secret only ever goes in the POST body
    got = {m["external_id"]: m for m in list_mentions(store)}
    assert set(got) == {"310001", "310002", "310003", "310005"}  # a deleted review is not read
    zip_ = got["310001"]
    assert zip_["rating"] == 1.0 and zip_["title"] == "Zip broke" and zip_["author_name"] == "Marek S."
    assert zip_["product_sku"] == "8123400011" and zip_["published_at"] == "2026-11-01T10:20:30+00:00"
    assert got["310002"]["product_sku"] is None  # a review of the shop itself
    assert got["310003"]["text"] == "Keeps water cold all day & the lid seals."
    assert got["310005"]["text"] == "Straps are shorter than the photos show." and got["310005"]["title"] is None
    with store.session() as s:
        rows = {m.external_id: m for m in s.query(Mention).filter_by(source="yp")}
        state = s.get(SourceState, "yp")
        assert state is not None and state.cursor == {"updated": "2026-11-08T09:30:00+00:00"}
    # verified buyers keep their address (so the order matches exactly); an anonymous one does not
    assert rows["310001"].author_email == "marek.s@mail.example" and rows["310002"].author_email is None
    assert rows["310002"].raw["escalated"] is True and rows["310001"].raw["reviewer_type"] == "verified_buyer"


def test_second_run_asks_only_for_what_changed(store: Store, keys: None) -> None:
    yotpo = Yotpo()
    with serve(yotpo) as srv:
        assert collect(config(srv.base), store).new_total == 4
        srv.reset()
        yotpo.reviews[2]["updated_at"] = "2026-11-09T10:00:00.000Z"  # an edited, already stored review
        yotpo.reviews.append(yotpo.reviews[0] | {"id": 310006, "content": "The buckle cracked in the cold.",
                                                 "created_at": "2026-11-10T06:00:00.000Z",
                                                 "updated_at": "2026-11-10T06:00:00.000Z"})
        second = collect(config(srv.base), store)
        assert second.ok and second.new_total == 1, second.lines()
        pages = [r for r in srv.requests if r.path == API]
        assert pages[0].arg("since_updated_at") == "2026-11-08T09:20:00Z"  # the cursor minus the overlap
        assert [r.arg("page") for r in pages] == ["1", "2"]  # 310005, 310003 | 310006: short page, the end
    with store.session() as s:
        state = s.get(SourceState, "yp")
        assert state is not None and state.cursor == {"updated": "2026-11-10T06:00:00+00:00"}
        assert s.query(Mention).filter_by(source="yp").count() == 5


def test_refused_secret_and_refused_token_name_their_variables(store: Store, keys: None,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    with serve(Yotpo()) as srv:
        monkeypatch.setenv("TEST_YOTPO_SECRET", "wrong-secret")
        refused = collect(config(srv.base), store)
        monkeypatch.setenv("TEST_YOTPO_TOKEN", "utok-stale")
        stale = collect(config(srv.base, token_env="TEST_YOTPO_TOKEN"), store)
        monkeypatch.delenv("TEST_YOTPO_SECRET")
        missing = collect(config(srv.base), store)
    error = refused.results[0].errors[0]
    assert not refused.ok and "HTTP 401" in error and "TEST_YOTPO_SECRET" in error and "/oauth/token" in error
    assert "wrong-secret" not in error
    error = stale.results[0].errors[0]
    assert "HTTP 401" in error and "TEST_YOTPO_TOKEN" in error and f"{API}?page=1" in error and "utok-stale" not in error
    assert "environment variable TEST_YOTPO_SECRET" in missing.results[0].errors[0]
    health = source_health(store)[0]
    assert health.consecutive_failures == 3 and "utok" not in (health.last_error_message or "")


def test_garbled_page_is_a_recorded_error_and_nothing_stored_is_lost(store: Store, keys: None) -> None:
    yotpo = Yotpo()
    with serve(yotpo) as srv:
        assert collect(config(srv.base), store).new_total == 4
        yotpo.reviews += [
            {"id": 310007, "content": "Seam split after a week.", "score": 2, "reviewer_type": "verified_buyer",
             "email": "a@b", "created_at": "2026-11-11T00:00:00Z", "updated_at": "2026-11-11T00:00:00Z"},
            {"id": None, "content": "no id", "updated_at": "2026-11-11T00:00:00Z"},
            {"id": 310008, "content": {"html": "<script>"}, "title": 7, "score": True,
             "name": "<b>x</b>" * 200, "updated_at": "2026-11-11T00:00:00Z"},
        ]
        yotpo.broken[2] = "<html>502 Bad Gateway</html>"
        garbled = collect(config(srv.base, per_page=4), store)  # page 1 full: page 2 asked
    error = garbled.results[0].errors[0]
    assert not garbled.ok and "not valid JSON" in error and "?page=2" in error and UTOKEN not in error
    with store.session() as s:
        rows = {m.external_id: m for m in s.query(Mention).filter_by(source="yp")}
        state = s.get(SourceState, "yp")
        assert state is not None and state.cursor == {"updated": "2026-11-08T09:30:00+00:00"}  # not moved on
    assert set(rows) == {"310001", "310002", "310003", "310005", "310007", "310008"}
    odd = rows["310008"]  # kept for its title; nothing of its odd fields taken as written
    assert odd.text == "7" and odd.rating is None and len(odd.author_name or "") <= 200
    assert rows["310007"].author_email is None  # 'a@b' is no address


def test_options_are_checked() -> None:
    with pytest.raises(ValidationError, match="not a Yotpo app key"):
        YotpoConnector.Options.model_validate({"app_key": "../../admin"})
    with pytest.raises(ValidationError, match="less than or equal to 100"):
        YotpoConnector.Options.model_validate({"app_key": APP_KEY, "per_page": 250})
    assert YotpoConnector("yp", {"app_key": APP_KEY}).endpoint == f"https://api.yotpo.com{API}"
