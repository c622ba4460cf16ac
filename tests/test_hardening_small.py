"""Issue 13 item 13, the smaller defects, each against the real thing: the note template at
`check` and at render, the note's length, `status` showing a failed page of a working source, a
clock jump forward under a running daemon's approvals, the robots.txt timeout message, and
invisible characters in the digest."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.cli import main
from bot.collect import collect
from bot.config import Config, loads
from bot.daemon.process import SteadyClock
from bot.daemon.schedule import Daemon
from bot.decide.cases import process
from bot.decide.staff import list_cases
from bot.errors import FetchError
from bot.fetch import Fetcher, HttpConfig
from bot.report import digest
from bot.report.status import gather, render
from bot.store import CaseStatus, Store, open_store
from tests.decide_world import NOW, add_mention, add_order, days_ago
from tests.httpserver import LocalServer, Route
from tests.test_digest import DAY, World, at
from tests.test_digest import make_config as digest_config

# --- the note template ---------------------------------------------------------------------------


@pytest.mark.parametrize("statement", ['{% include "other.txt" %}', '{% extends "base.txt" %}',
                                       '{% import "macros.txt" as m %}', '{% from "macros.txt" import hello %}'])
def test_a_note_template_that_reads_other_templates_fails_check(
        tmp_path: Path, statement: str, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "config.toml"
    path.write_text(f"[policy]\nnote_template = '''Hello {{{{ customer_name }}}},\n{statement}\n'''\n",
                    encoding="utf-8")
    assert main(["--config", str(path), "check"]) == 2
    err = capsys.readouterr().err
    assert "note_template" in err and "cannot read other templates" in err and "line 2" in err


def world(tmp_path: Path, template: str) -> tuple[Store, Config]:
    text = (f'[bot]\ndatabase = "sqlite:///store.db"\nshop_name = "Kestrel Lane"\n\n'
            f"[policy]\nnote_template = '''{template}'''\n\n"
            '[[fulfilment]]\nname = "wh"\nkind = "csv"\npath = "warehouse.csv"\n')
    (tmp_path / "config.toml").write_text(text, encoding="utf-8")
    config = loads(text, path=tmp_path / "config.toml")
    store = open_store(config.bot.database, config.base_dir)
    with store.session() as s:
        for i in range(2):
            add_order(s, f"cu{i}@mail.example", f"Cora Number{i}", f"K-{100 + i}",
                      [("FAN-01", "Pocket Fan", "12.00", 1)], placed=days_ago(10), delivered=days_ago(7))
            add_mention(s, f"d{i}", f"My pocket fan {i} stopped working on day two.", "defective",
                        published=days_ago(1), author_email=f"cu{i}@mail.example")
    return store, config


@pytest.mark.parametrize(("template", "error"), [
    ("Hello {{ customer_name }}, {{ 1 // 0 }}", "ZeroDivisionError"),
    ('Hello {{ customer_name }}, {{ "%d"|format("x") }}', "TypeError"),
    ('{{ "x" * 50000000 }}', "longer than a note may be"),
    ("{% for i in range(90000) %}so sorry {% endfor %}", "longer than 5000 characters"),
])
def test_a_note_that_fails_to_render_is_an_error_of_its_case_not_of_the_cycle(
        tmp_path: Path, template: str, error: str) -> None:
    store, config = world(tmp_path, template)
    try:
        summary = process(store, config, now=NOW)  # before: the exception ended the whole stage
        assert len(summary.errors) == 2 and all(error in e for e in summary.errors), summary.errors
        assert sorted(e.split(":")[0] for e in summary.errors) == sorted(f"case #{c['id']}" for c in list_cases(store))
        # nothing was queued with a broken note; both cases wait to be decided once the template is fixed
        assert {c["status"] for c in list_cases(store)} == {CaseStatus.NEW.value}
    finally:
        store.dispose()


# --- status: a failed page of a source that otherwise worked ---------------------------------------


def test_status_shows_the_page_that_failed_in_a_run_that_counted_as_ok(tmp_path: Path) -> None:
    page = ('<html><head><script type="application/ld+json">{"@context": "https://schema.org", "@type": "Product",'
            ' "name": "Pocket Fan", "review": [{"@type": "Review", "author": {"@type": "Person", "name": "Ann"},'
            ' "reviewBody": "Stopped working on day two.", "reviewRating": {"ratingValue": 1}}]}</script>'
            "</head><body></body></html>")
    with LocalServer({"/ok": Route(body=page, content_type="text/html"),
                      "/broken": Route(status=500, body="oops")}) as srv:
        text = (f'[bot]\ndatabase = "sqlite:///store.db"\n[http]\nretries = 0\nper_host_delay = 0\n'
                f'allow_private = ["127.0.0.1"]\n\n'
                f'[[sources]]\nname = "shop"\nkind = "schema_org"\nurls = ["{srv.url("/ok")}", "{srv.url("/broken")}"]\n')
        (tmp_path / "config.toml").write_text(text, encoding="utf-8")
        config = loads(text, path=tmp_path / "config.toml")
        store = open_store(config.bot.database, config.base_dir)
        try:
            summary = collect(config, store)
            assert summary.results[0].ok and summary.results[0].new == 1
            status = gather(config, store, expect_daemon=False)
        finally:
            store.dispose()
    shop = status.sources[0]
    assert shop.health == "warning" and shop.consecutive_failures == 0
    assert len(shop.page_errors) == 1 and srv.url("/broken") in shop.page_errors[0]
    assert "HTTP 500" in shop.page_errors[0] or "500" in shop.page_errors[0]
    assert f"shop: one page failed: {shop.page_errors[0]}" in render(status)


# --- a clock jump forward under waiting approvals --------------------------------------------------


class FakeClocks:
    def __init__(self) -> None:
        self.wall = NOW
        self.mono = 1000.0

    def clock(self) -> SteadyClock:
        return SteadyClock(wall=lambda: self.wall, mono=lambda: self.mono)


@pytest.fixture
def waiting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Store, Config]]:
    # missing_parts replacements always wait for approval in the built-in rules
    text = '[bot]\ndatabase = "sqlite:///store.db"\nshop_name = "Kestrel Lane"\n[policy]\napproval_days = 7\n'
    (tmp_path / "config.toml").write_text(text, encoding="utf-8")
    config = loads(text, path=tmp_path / "config.toml")
    store = open_store(config.bot.database, config.base_dir)
    with store.session() as s:
        add_order(s, "pat@mail.example", "Pat Number", "P-1", [("KET-1", "Travel Kettle", "25.00", 1)],
                  placed=days_ago(10), delivered=days_ago(7))
        add_mention(s, "p1", "Kettle came without its lid, parts missing.", "missing_parts",
                    published=days_ago(1), author_email="pat@mail.example")
    process(store, config, now=NOW)
    assert [c["status"] for c in list_cases(store)] == ["awaiting_approval"]
    try:
        yield store, config
    finally:
        store.dispose()


def test_a_clock_jump_forward_does_not_dismiss_waiting_approvals(waiting: tuple[Store, Config]) -> None:
    store, config = waiting
    clocks = FakeClocks()
    daemon = Daemon(config, store)
    daemon.clock = clocks.clock()
    summary: dict[str, Any] = {}
    # the system clock is stepped a month ahead; the daemon has run for a minute
    clocks.wall, clocks.mono = NOW + timedelta(days=30), clocks.mono + 60
    daemon.dispatch(summary)
    assert [c["status"] for c in list_cases(store)] == ["awaiting_approval"]
    assert daemon.clock.ahead is not None and daemon.clock.ahead > timedelta(days=29)
    # the approval still expires, once the daemon has run its seven days
    clocks.wall, clocks.mono = clocks.wall + timedelta(days=8), clocks.mono + 8 * 86400
    daemon.dispatch(summary)
    assert [c["status"] for c in list_cases(store)] == ["dismissed"]


def test_the_steady_clock_follows_a_clock_that_agrees_or_goes_back() -> None:
    clocks = FakeClocks()
    clock = clocks.clock()
    clocks.wall, clocks.mono = NOW + timedelta(hours=3), clocks.mono + 3 * 3600
    assert clock.now() == NOW + timedelta(hours=3) and clock.ahead is None
    clocks.wall = NOW  # set back three hours: followed at once, approvals only expire later
    assert clock.now() == NOW
    clocks.wall, clocks.mono = NOW + timedelta(days=2), clocks.mono + 10  # a jump (or a suspend)
    assert clock.now() == NOW + timedelta(seconds=10)


# --- the robots.txt timeout message ---------------------------------------------------------------


def test_a_robots_txt_timeout_names_robots_txt_and_the_page() -> None:
    with LocalServer({"/robots.txt": Route(body="User-agent: *\nAllow: /\n", delay=2.0),
                      "/p": Route(body="<html></html>")}) as srv:
        with httpx.Client(timeout=5) as client:
            fetch = Fetcher(HttpConfig(per_host_delay=0, backoff=0, retries=0, read_timeout=0.3,
                                       allow_private=["127.0.0.1"]), client=client)
            with pytest.raises(FetchError) as info:
                fetch.get(srv.url("/p"), source="shop")
    message = str(info.value)
    assert f"robots.txt at {srv.url('/robots.txt')}" in message
    assert srv.url("/p") in message and "[shop]" in message
    assert srv.hits("/p") == 0


# --- invisible characters in the digest -----------------------------------------------------------


def test_bom_zero_width_and_bidi_controls_are_stripped_from_the_digest(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'digest.db'}")
    try:
        w = World(store)
        sly = "\ufeffThe lid\u200b cracked\u2060 and \u202eredaeh\u202c the\u2066 fan\u2069 died\u061c."
        m = w.mention("shop", at(DAY, 9), sly, unhappy=True, rating=1, issue="defective", sentiment=-0.8,
                      author="\ufeffMallory\u200d", cues=["cracked"])
        w.case(m, "defective", CaseStatus.UNMATCHED, at(DAY, 9, 5))
        report = digest.build(store, digest_config(), day=DAY, now=at(DAY + timedelta(days=1), 8))
    finally:
        store.dispose()
    for text in (report.text, report.html):
        assert "The lid cracked and redaeh the fan died." in text
        for char in "\ufeff\u200b\u200d\u2060\u202e\u202c\u2066\u2069\u061c":
            assert char not in text, f"U+{ord(char):04X} survived in the digest"
