"""The collect stage: config errors, one broken source never stops the others, health, progress,
listing what is stored. Real store, real loopback servers."""

from __future__ import annotations

import io
import socket
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.collect import collect, list_mentions, source_health
from bot.config import Config
from bot.errors import ConfigError
from bot.progress import LineProgress, NullProgress, RichProgress, make_progress
from bot.store import HttpCache, Mention, SourceState, Store
from tests.httpserver import LocalServer, Route

LAMP = (Path(__file__).resolve().parent / "fixtures" / "schema_org" / "shopify-pocket-lamp.html").read_bytes()


def make_config(*sources: dict[str, Any], **http: Any) -> Config:
    return Config.model_validate({
        "http": {"per_host_delay": 0, "allow_private": ["127.0.0.1"], "backoff": 0, "retries": 0, **http},
        "sources": list(sources),
    })


def dead_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}/p"


def test_config_errors_name_the_source(store: Store) -> None:
    with pytest.raises(ConfigError, match="source 'x': unknown kind 'nope'") as info:
        collect(make_config({"name": "x", "kind": "nope"}), store)
    assert info.value.key == "sources[0].kind" and "schema_org" in str(info.value)
    with pytest.raises(ConfigError, match="source 'shop' \\(schema_org\\): urls") as info:
        collect(make_config({"name": "ok", "kind": "schema_org", "urls": ["https://a.example/p"]},
                            {"name": "shop", "kind": "schema_org", "urls": "not-a-list"}), store)
    assert info.value.key == "sources[1].urls"
    with pytest.raises(ConfigError, match="no source named 'other'"):
        collect(make_config({"name": "shop", "kind": "schema_org", "urls": ["https://a.example/p"]}), store,
                only="other")


def test_one_broken_source_never_stops_the_others_and_health_tracks_it(store: Store) -> None:
    clock = [datetime(2025, 3, 1, 8, 0, tzinfo=UTC)]
    with LocalServer({"/p": Route(body=LAMP, etag='"1"')}) as srv:
        cfg = make_config(
            {"name": "good", "kind": "schema_org", "urls": [srv.url("/p")]},
            {"name": "down", "kind": "schema_org", "urls": [dead_url()]},
            {"name": "off", "kind": "schema_org", "urls": [srv.url("/p")], "enabled": False},
        )
        first = collect(cfg, store, now=lambda: clock[0])
        clock[0] += timedelta(hours=1)
        second = collect(cfg, store, now=lambda: clock[0])
    assert [(r.name, r.ok, r.new) for r in first.results] == [("good", True, 3), ("down", False, 0)]
    assert [(r.name, r.ok, r.new, r.not_modified) for r in second.results] == [("good", True, 0, 1),
                                                                               ("down", False, 0, 0)]
    assert "1 failed" in first.lines()[0] and "cannot connect" in first.lines()[2]
    health = {h.name: h for h in source_health(store)}
    assert set(health) == {"good", "down"}
    down = health["down"]
    assert not down.healthy and down.consecutive_failures == 2
    assert down.failing_since == datetime(2025, 3, 1, 8, 0, tzinfo=UTC) and down.last_success_at is None
    assert down.last_error_kind == "http" and "cannot connect" in (down.last_error_message or "")
    assert down.last_error_url == cfg.sources[1].urls[0]  # type: ignore[attr-defined]
    good = health["good"]
    assert good.healthy and good.mentions_total == 3 and good.last_success_at == clock[0]
    assert good.as_dict()["last_success_at"] == "2025-03-01T09:00:00+00:00"
    with store.session() as s:
        assert s.query(HttpCache).count() == 1  # the failed source left no validators


def test_recovery_resets_failures_and_only_runs_one_source(store: Store) -> None:
    with LocalServer({"/p": Route(status=503)}) as srv:
        cfg = make_config({"name": "shop", "kind": "schema_org", "urls": [srv.url("/p")]},
                          {"name": "other", "kind": "schema_org", "urls": [srv.url("/q")]})
        assert not collect(cfg, store, only="shop").ok
        srv.routes["/p"] = Route(body=LAMP)
        summary = collect(cfg, store, only="shop")
    assert [r.name for r in summary.results] == ["shop"] and summary.ok and summary.new_total == 3
    (row,) = source_health(store)
    assert row.healthy and row.consecutive_failures == 0 and row.failing_since is None
    assert row.last_error_kind == "http"  # the last error stays visible as history


def test_robots_disallowed_page_is_reported_never_fetched(store: Store) -> None:
    routes = {"/robots.txt": Route(body="User-agent: *\nDisallow: /secret\n", content_type="text/plain"),
              "/secret": Route(body=LAMP), "/p": Route(body=LAMP)}
    with LocalServer(routes) as srv:
        cfg = make_config({"name": "shop", "kind": "schema_org", "urls": [srv.url("/secret"), srv.url("/p")]})
        summary = collect(cfg, store)
        assert srv.hits("/secret") == 0
    assert summary.ok and summary.new_total == 3
    assert summary.results[0].errors[0].startswith("robots: robots.txt disallows")


def test_validators_saved_only_with_the_mentions(store: Store) -> None:
    with LocalServer({"/p": Route(body=LAMP, etag='"e1"', last_modified="Tue, 04 Mar 2025 10:00:00 GMT")}) as srv:
        collect(make_config({"name": "shop", "kind": "schema_org", "urls": [srv.url("/p")]}), store)
        with store.session() as s:
            (cached,) = s.query(HttpCache).all()
            assert cached.etag == '"e1"' and cached.last_modified == "Tue, 04 Mar 2025 10:00:00 GMT"
            assert cached.content_hash and s.query(Mention).count() == 3
            # the store loses its mentions (a restore from an old backup): validators alone would hide them,
            # so they are kept per page only together with what was read from it
            s.query(Mention).delete()
            s.query(HttpCache).delete()
        collect(make_config({"name": "shop", "kind": "schema_org", "urls": [srv.url("/p")]}), store)
        assert srv.requests[-1].headers.get("if-none-match") is None
    with store.session() as s:
        assert s.query(Mention).count() == 3 and s.get(SourceState, "shop") is not None


def test_list_mentions_filters(store: Store) -> None:
    with LocalServer({"/p": Route(body=LAMP)}) as srv:
        collect(make_config({"name": "shop", "kind": "schema_org", "urls": [srv.url("/p")]}), store)
    rows = list_mentions(store)
    assert [r["external_id"] for r in rows] == ["judgeme-review-5503", "judgeme-review-5502", "judgeme-review-5501"]
    assert rows[0]["issue"] is None and rows[0]["source_kind"] == "schema_org"
    since = list_mentions(store, since=datetime(2025, 2, 14, tzinfo=UTC))
    assert [r["external_id"] for r in since] == ["judgeme-review-5503", "judgeme-review-5502"]
    assert len(list_mentions(store, limit=1)) == 1 and list_mentions(store, source="other") == []


def test_progress_lines_when_not_a_terminal(store: Store) -> None:
    out = io.StringIO()
    progress = make_progress(out)
    assert isinstance(progress, LineProgress) and isinstance(make_progress(None), NullProgress)
    with LocalServer({"/p": Route(body=LAMP)}) as srv:
        collect(make_config({"name": "shop", "kind": "schema_org", "urls": [srv.url("/p")]}), store,
                progress=progress)
    assert out.getvalue().splitlines() == ["collect shop: started", "collect shop: 3 new"]


def test_rich_progress_on_a_terminal() -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    out = Tty()
    progress = make_progress(out)
    assert isinstance(progress, RichProgress)
    progress.start("shop")
    progress.advance("shop", 0, 4)
    progress.advance("shop", 4)
    progress.finish("shop", "3 new")
    progress.close()
    assert "shop" in out.getvalue() and "3 new" in out.getvalue()


@pytest.mark.postgres
def test_collect_on_postgresql_is_idempotent(pg_url: str) -> None:
    from bot.store import open_store

    store = open_store(pg_url)
    try:
        with LocalServer({"/p": Route(body=LAMP)}) as srv:
            cfg = make_config({"name": "shop", "kind": "schema_org", "urls": [srv.url("/p")]})
            assert collect(cfg, store).new_total == 3
            with store.session() as s:
                s.query(HttpCache).delete()  # force a full re-read: the unique key must still hold
            again = collect(cfg, store)
        assert again.new_total == 0 and again.results[0].pages == 1
        assert source_health(store)[0].mentions_total == 3
    finally:
        store.dispose()


def test_a_source_run_past_its_deadline_fails_and_the_other_sources_finish(store: Store) -> None:
    import time

    routes: dict[str, Any] = {f"/drip/{i}": Route(body="x" * 500, trickle=0.05) for i in range(6)}
    routes["/products/lamp"] = Route(body=LAMP)
    with LocalServer(routes) as srv:
        config = make_config(
            {"name": "drip", "kind": "schema_org", "deadline": "1s", "urls": [srv.url(f"/drip/{i}") for i in range(6)]},
            {"name": "good", "kind": "schema_org", "urls": [srv.url("/products/lamp")]},
            total_timeout=60, read_timeout=5, concurrency=1,
        )
        started = time.monotonic()
        summary = collect(config, store)
        elapsed = time.monotonic() - started
    drip, good = summary.results
    assert good.ok and good.new == 3
    assert not drip.ok and any("longer than its deadline (1s)" in e for e in drip.errors), drip.errors
    assert elapsed < 6, f"took {elapsed:.1f}s"  # without a deadline: 6 pages x 25 s
    health = {h.name: h for h in source_health(store)}
    assert not health["drip"].healthy and "deadline" in (health["drip"].last_error_message or "")
