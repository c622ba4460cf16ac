"""`recoverybot status` read from a real store: daemon heartbeat, sources, outbox, budget, digest."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from bot import config as cfg
from bot.config import Config
from bot.daemon.process import DAEMON_JOB
from bot.report.status import gather, render
from bot.store import (
    BudgetPeriod,
    Case,
    CaseMention,
    Digest,
    Mention,
    Remedy,
    RunLog,
    SourceState,
    Store,
    open_store,
)

NOW = datetime(2026, 5, 4, 9, 30, tzinfo=UTC)

CONFIG = """
[bot]
database = "sqlite:///status.db"
[schedule]
dispatch_every = "1m"
[[sources]]
name = "shop"
kind = "rss"
urls = ["http://127.0.0.1:9/feed.xml"]
every = "30m"
[[sources]]
name = "paused"
kind = "rss"
urls = ["http://127.0.0.1:9/other.xml"]
enabled = false
[digest]
to = ["staff@shop.example"]
smtp_host = "127.0.0.1"
"""


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[tuple[Config, Store]]:
    path = tmp_path / "config.toml"
    path.write_text(CONFIG, encoding="utf-8")
    config = cfg.load(path)
    store = open_store(config.bot.database, config.base_dir)
    try:
        yield config, store
    finally:
        store.dispose()


def beat(store: Store, *, at: datetime, jobs: dict[str, str] | None = None, stopped: bool = False) -> None:
    with store.session() as s:
        s.add(RunLog(job=DAEMON_JOB, started_at=at - timedelta(hours=1), finished_at=at if stopped else None,
                     summary={"pid": 4242, "host": "box", "heartbeat_at": at.isoformat(), "jobs": jobs or {}}))


def source_ran(store: Store, *, at: datetime, failures: int = 0) -> None:
    with store.session() as s:
        s.add(SourceState(name="shop", kind="rss", cursor={}, last_run_at=at, consecutive_failures=failures,
                          last_success_at=None if failures else at, mentions_total=12,
                          last_error_kind="http" if failures else None,
                          last_error_message="read timeout" if failures else None,
                          last_error_url="http://127.0.0.1:9/feed.xml" if failures else None))


def test_no_daemon_is_unhealthy_and_next_run_is_estimated(setup: tuple[Config, Store]) -> None:
    config, store = setup
    source_ran(store, at=NOW - timedelta(minutes=10))
    status = gather(config, store, now=NOW)
    assert not status.healthy
    assert status.problems == ["the daemon is not running (it never ran on this database)"]
    shop, paused = status.sources
    assert (shop.health, shop.next_run_at) == ("ok", NOW + timedelta(minutes=20))
    assert (paused.health, paused.next_run_at) == ("disabled", None)
    text = render(status)
    assert "daemon: never started on this database" in text and "UNHEALTHY" in text
    assert "shop    rss   ok" in text


def test_live_daemon_with_working_sources_is_healthy(setup: tuple[Config, Store]) -> None:
    config, store = setup
    source_ran(store, at=NOW - timedelta(minutes=5))
    beat(store, at=NOW - timedelta(seconds=8), jobs={"collect:shop": (NOW + timedelta(minutes=25)).isoformat()})
    with store.session() as s:
        s.add(BudgetPeriod(period="day:2026-05-04", reserved=Decimal("35.50"), cap=Decimal(200)))
        s.add(Digest(period="2026-05-03", status="sent", sent_at=NOW - timedelta(hours=1)))
    status = gather(config, store, now=NOW)
    assert status.healthy, status.problems
    assert status.daemon.running and status.daemon.pid == 4242
    assert status.sources[0].next_run_at == NOW + timedelta(minutes=25)
    day = status.budget[0]
    assert (day.period, day.reserved, day.cap) == ("day:2026-05-04", Decimal("35.50"), Decimal(200))
    assert status.last_digest is not None and status.last_digest["status"] == "sent"
    data = json.loads(json.dumps(status.as_dict()))
    assert data["healthy"] is True and data["daemon"]["running"] is True
    text = render(status)
    assert "daemon: running (pid 4242 on box" in text and "day:2026-05-04 35.50 of 200.00 EUR" in text
    assert text.endswith("healthy")


def test_stale_heartbeat_failing_source_stuck_outbox_and_failed_digest(setup: tuple[Config, Store]) -> None:
    config, store = setup
    source_ran(store, at=NOW - timedelta(minutes=3), failures=3)
    beat(store, at=NOW - timedelta(minutes=10))  # crashed: no clean stop, no fresh beat
    with store.session() as s:
        mention = Mention(source="shop", source_kind="rss", external_id="m1", text="broken", fingerprint="f")
        s.add(mention)
        s.flush()
        case = Case(subject_key="k1", issue="defective", status="queued", mention_id=mention.id)
        s.add(case)
        s.flush()
        s.add(CaseMention(case_id=case.id, mention_id=mention.id))
        s.add(Remedy(case_id=case.id, kind="refund", idempotency_key="case-1-0-refund", status="queued",
                     queued_at=NOW - timedelta(hours=2), amount=Decimal(20)))
        s.add(Digest(period="2026-05-03", status="failed", attempts=2, last_error="SMTP refused"))
    status = gather(config, store, now=NOW)
    assert not status.healthy
    problems = "\n".join(status.problems)
    assert "the daemon is not running (last heartbeat 10m ago)" in problems
    assert "source shop failed 3 times in a row: http: read timeout (http://127.0.0.1:9/feed.xml)" in problems
    assert "the outbox is stuck: 1 remedies due" in problems
    assert "the digest for 2026-05-03 failed to send: SMTP refused" in problems
    assert status.sources[0].health == "failing"
    assert status.outbox.queued == 1 and status.outbox.due == 1
    assert "NOT RUNNING" in render(status)


def test_a_source_the_live_daemon_stopped_running_is_late(setup: tuple[Config, Store]) -> None:
    config, store = setup
    source_ran(store, at=NOW - timedelta(hours=3))
    with store.session() as s:
        s.add(RunLog(job=DAEMON_JOB, started_at=NOW - timedelta(hours=5), summary={
            "pid": 1, "host": "box", "heartbeat_at": NOW.isoformat(), "jobs": {}}))
    status = gather(config, store, now=NOW)
    assert status.sources[0].health == "late"
    assert status.problems == ["source shop has not run since 2026-05-04 06:30 UTC (schedule: every 30m)"]


def test_no_daemon_mode_for_cron_driven_shops(tmp_path: Path) -> None:
    """Shops that run `recoverybot cycle` from cron ask status not to expect a daemon."""
    from bot import config as cfg
    from bot.report.status import gather
    from bot.store import open_store

    path = tmp_path / "config.toml"
    path.write_text(f'[bot]\ndatabase = "sqlite:///{tmp_path}/s.db"\n', encoding="utf-8")
    config = cfg.load(path)
    store = open_store(config.bot.database, config.base_dir)
    try:
        assert not gather(config, store).healthy  # nothing runs it
        relaxed = gather(config, store, expect_daemon=False)
        assert relaxed.healthy and not relaxed.problems
    finally:
        store.dispose()


def test_a_source_still_running_past_its_deadline_is_stuck_and_unhealthy(setup: tuple[Config, Store]) -> None:
    config, store = setup
    source_ran(store, at=NOW - timedelta(minutes=40))  # its last run went well
    beat(store, at=NOW - timedelta(seconds=5), jobs={"collect:shop": (NOW + timedelta(minutes=25)).isoformat()})
    with store.session() as s:  # the run that started 35 minutes ago is still going (deadline 30m)
        s.add(RunLog(job="collect:shop", started_at=NOW - timedelta(minutes=35), finished_at=None, summary={}))
    status = gather(config, store, now=NOW)
    assert not status.healthy and status.sources[0].health == "stuck"
    assert any("source shop has been running since" in p and "past its deadline (30m)" in p
               for p in status.problems), status.problems
    # within its deadline a running source is fine
    status = gather(config, store, now=NOW - timedelta(minutes=10))
    assert status.sources[0].health != "stuck"


def test_a_source_whose_pages_do_not_fit_its_interval_is_a_warning(tmp_path: Path) -> None:
    """More listed pages than the interval allows at the host's pace, or than max_pages: status says
    so and is not healthy, even when every run worked (issue 18)."""
    urls = ", ".join(f'"https://shop.example/products/p{i}"' for i in range(3000))
    path = tmp_path / "config.toml"
    path.write_text(f'[bot]\ndatabase = "sqlite:///{tmp_path}/s.db"\n[http]\nmax_requests_per_minute = 60\n'
                    f'[[sources]]\nname = "big"\nkind = "schema_org"\nevery = "30m"\nmax_pages = 2500\n'
                    f'urls = [{urls}]\n', encoding="utf-8")
    config = cfg.load(path)
    store = open_store(config.bot.database, config.base_dir)
    try:
        with store.session() as s:
            s.add(SourceState(name="big", kind="schema_org", cursor={}, last_run_at=NOW, last_success_at=NOW,
                              consecutive_failures=0, mentions_total=10))
        status = gather(config, store, now=NOW, expect_daemon=False)
        assert not status.healthy and status.sources[0].health == "warning"
        text = render(status)
        assert "source big: lists 3000 pages but max_pages is 2500: 500 are never read" in text
        assert "source big: 3000 pages at one every 1s take 50 min, longer than its interval (30 min)" in text
    finally:
        store.dispose()
