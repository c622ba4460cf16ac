"""trustpilot connector: our own business pages in Trustpilot's Next.js and JSON-LD shapes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bot.collect import collect, list_mentions
from bot.config import Config
from bot.store import Store
from tests.httpserver import LocalServer, Request, Route

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "trustpilot"


def html(name: str) -> Route:
    return Route(body=(FIXTURES / name).read_bytes(), content_type="text/html; charset=utf-8")


def config(base: str, **extra: Any) -> Config:
    return Config.model_validate({
        "http": {"per_host_delay": 0, "allow_private": ["127.0.0.1"], "backoff": 0, "retries": 0},
        "sources": [{"name": "tp", "kind": "trustpilot", "business": "fernhollow.example", "base_url": base, **extra}],
    })


def pages(request: Request) -> Route:
    return html({None: "page1.html", "2": "page2.html"}.get(request.arg("page"), "gated.html"))


def test_embedded_data_pages_until_the_last(store: Store) -> None:
    with LocalServer({"/review/fernhollow.example": pages}) as srv:
        summary = collect(config(srv.base), store)
        assert summary.ok and summary.new_total == 4
        assert [r.arg("page") for r in srv.requests if r.path.startswith("/review")] == [None, "2"]
        assert srv.requests[1].arg("sort") == "recency" and srv.requests[1].arg("languages") == "all"
        got = {m["external_id"]: m for m in list_mentions(store)}
        lost = got["65f0c1a2b3c4d5e6f7a8b9c0"]
        assert lost["rating"] == 1.0 and lost["title"] == "Never arrived" and lost["author_name"] == "Greta Holm"
        assert lost["published_at"] == "2025-03-10T07:41:12+00:00" and lost["language"] == "en"
        assert lost["url"] == srv.url("/reviews/65f0c1a2b3c4d5e6f7a8b9c0")
        assert got["65f0c1a2b3c4d5e6f7a8b9b9"]["author_name"] == "Élodie P"
        srv.reset()
        again = collect(config(srv.base), store)
        assert again.new_total == 0 and [r.arg("page") for r in srv.requests if r.path.startswith("/review")] == [None]


def test_sign_in_redirect_ends_the_walk_quietly(store: Store) -> None:
    def redirecting(request: Request) -> Route:
        if request.arg("page") == "2":
            return Route(status=307, headers={"Location": "/users/connect?redirect=x"})
        return html("page1.html")

    routes = {"/review/fernhollow.example": redirecting, "/users/connect": html("gated.html")}
    with LocalServer(routes) as srv:
        summary = collect(config(srv.base), store)
    assert summary.ok and summary.new_total == 2 and summary.results[0].errors == []


def test_json_ld_fallback_and_bot_wall(store: Store) -> None:
    with LocalServer({"/review/fernhollow.example": html("jsonld-only.html")}) as srv:
        summary = collect(config(srv.base), store)
        (mention,) = list_mentions(store)
        assert summary.ok and mention["rating"] == 1.0 and mention["author_name"] == "Greta Holm"
        assert mention["external_id"].endswith("65f0c1a2b3c4d5e6f7a8b9c0")
        srv.routes["/review/fernhollow.example"] = html("interstitial.html")
        walled = collect(config(srv.base), store)
    assert not walled.ok and "Verifying your connection" in walled.results[0].errors[0]
