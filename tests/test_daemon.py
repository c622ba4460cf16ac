"""The daemon as a real subprocess (`python -m bot.cli run`) against the bundled demo shop.

Schedules are second-scale (`every = "2s"`); the tests poll the SQLite store the daemon writes
and send it real signals. The scheduler wiring and lock are also checked in-process.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot import config as cfg
from bot.daemon.process import InstanceLock, RedactFilter, job_context
from bot.demo import DemoShop, demo_config_text
from bot.errors import AlreadyRunning
from bot.daemon.schedule import first_run, plan
from bot.store import open_store
from tests.httpserver import LocalServer, Route

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.timeout(120)


# --- helpers ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def shop() -> Iterator[DemoShop]:
    with DemoShop() as running:
        yield running


@pytest.fixture(scope="module")
def hanging() -> Iterator[LocalServer]:
    """A feed that never answers in time: every request outlives the read timeout."""
    with LocalServer({"/feed.xml": Route(body="<rss/>", delay=4.0)}) as server:
        yield server


def daemon_config(shop: DemoShop, workdir: Path, *, every: str = "2s", extra: str = "",
                  stop_timeout: str = "2s") -> Path:
    """The demo's own config with second-scale schedules, a csv outbox, and `extra` appended."""
    workdir.mkdir(parents=True, exist_ok=True)
    text = demo_config_text(shop, workdir)
    out: list[str] = []
    table = None
    for line in text.splitlines():
        if line.startswith("["):
            table = line.strip()
        if table == "[http]" and line.startswith("retries"):
            line = "retries = 0\nread_timeout = 3.0\nconnect_timeout = 3.0"
        out.append(line)
        if table == "[[sources]]" and line.startswith("kind ="):
            out.append(f'every = "{every}"')
    if "[[fulfilment]]" not in text:
        out.append('\n[[fulfilment]]\nname = "warehouse"\nkind = "csv"\npath = "remedies.csv"\n')
    out.append(f'\n[schedule]\njitter = "1s"\ndispatch_every = "1s"\norders_every = "3s"\n'
               f'collect_every = "{every}"\nstop_timeout = "{stop_timeout}"\n')
    out.append(extra)
    path = workdir / "config.toml"
    path.write_text("\n".join(out) + "\n", encoding="utf-8")
    cfg.load(path)  # the tests' own config must be valid
    return path


def extra_source(name: str, url: str, every: str = "2s") -> str:
    return f'\n[[sources]]\nname = "{name}"\nkind = "rss"\nurls = ["{url}"]\nbrand_filter = false\nevery = "{every}"\n'


class Proc:
    """`recoverybot run` in a subprocess, its log in a file."""

    def __init__(self, config: Path, *, log_name: str = "daemon.log") -> None:
        self.config = config
        self.log_path = config.parent / log_name
        env = {k: v for k, v in os.environ.items() if k != "RECOVERYBOT_CONFIG"}
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in wait()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bot.cli", "--config", str(config), "--log-format", "json", "run"],
            cwd=ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT,
        )

    def signal(self, sig: int) -> None:
        self.proc.send_signal(sig)

    def wait(self, timeout: float) -> int:
        try:
            return self.proc.wait(timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait(5)
            self._log.close()

    def log(self) -> list[dict[str, Any]]:
        lines = []
        for raw in self.log_path.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                lines.append(json.loads(raw))
            except json.JSONDecodeError:
                lines.append({"message": raw})
        return lines

    def __enter__(self) -> Proc:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)
        if not self._log.closed:
            self._log.close()


def query(db: Path, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(db, timeout=10)
    try:
        return conn.execute(sql, args).fetchall()
    except sqlite3.OperationalError as exc:
        if "no such table" in str(exc):
            return []
        raise
    finally:
        conn.close()


def wait_for(what: str, check: Callable[[], bool], timeout: float = 20.0, proc: Proc | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        if proc is not None and proc.proc.poll() is not None:
            pytest.fail(f"daemon exited ({proc.proc.returncode}) while waiting for {what}:\n"
                        + proc.log_path.read_text(errors="replace")[-3000:])
        time.sleep(0.2)
    log = proc.log_path.read_text(errors="replace")[-3000:] if proc else ""
    pytest.fail(f"timed out after {timeout}s waiting for {what}\n{log}")


def runs(db: Path, job: str, *, ok: bool | None = None) -> list[tuple[datetime, datetime | None]]:
    sql = "SELECT started_at, finished_at FROM run_log WHERE job = ? AND finished_at IS NOT NULL"
    if ok is not None:
        sql += f" AND ok = {int(ok)}"
    return [(_dt(a), _dt(b)) for a, b in query(db, sql + " ORDER BY id", job)]


def spans(db: Path, job: str) -> list[tuple[datetime, datetime]]:
    """(start, end) of every run of a job, a run still going ending at the end of time."""
    rows = query(db, "SELECT started_at, finished_at FROM run_log WHERE job = ?", job)
    return [(_dt(a), _dt(b) or datetime.max.replace(tzinfo=UTC)) for a, b in rows]


def _dt(value: Any) -> Any:
    if value is None:
        return None
    stamp = datetime.fromisoformat(str(value))
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)


def snapshot(db: Path) -> dict[str, Any]:
    return {
        "mentions": sorted(query(db, "SELECT source, external_id FROM mention")),
        "cases": sorted(query(db, "SELECT subject_key, issue FROM recovery_case")),
        "remedies": sorted(query(db, "SELECT idempotency_key, kind FROM remedy")),
        "budget": sorted(query(db, "SELECT period, reserved FROM budget_period")),
    }


def assert_consistent(db: Path) -> None:
    """Nothing half-written: every queued/dispatched case has its remedies, every remedy its case,
    the budget equals what the live remedies reserved, the file is intact."""
    assert query(db, "PRAGMA integrity_check") == [("ok",)]
    orphan = query(db, "SELECT r.id FROM remedy r LEFT JOIN recovery_case c ON c.id = r.case_id WHERE c.id IS NULL")
    assert orphan == []
    bare = query(db, "SELECT c.id, c.status FROM recovery_case c WHERE c.status IN ('queued', 'dispatched') "
                     "AND NOT EXISTS (SELECT 1 FROM remedy r WHERE r.case_id = c.id)")
    assert bare == []
    unlinked = query(db, "SELECT c.id FROM recovery_case c WHERE NOT EXISTS "
                         "(SELECT 1 FROM case_mention m WHERE m.case_id = c.id)")
    assert unlinked == []


def csv_keys(workdir: Path) -> list[str]:
    path = workdir / "remedies.csv"
    if not path.exists():
        return []
    import csv

    with open(path, encoding="utf-8", newline="") as handle:
        return [row["idempotency_key"] for row in csv.DictReader(handle)]


# --- the daemon as a process -----------------------------------------------------------------


def test_runs_on_schedule_survives_sigterm_and_restart(shop: DemoShop, hanging: LocalServer, tmp_path: Path) -> None:
    # the stuck source's fetch (3 s read timeout) outlives the 1 s stop timeout: it gets abandoned
    config = daemon_config(shop, tmp_path, extra=extra_source("stuck", hanging.url("/feed.xml")), stop_timeout="1s")
    db = tmp_path / "recoverybot.db"
    with Proc(config) as first:
        # collects, processes, dispatches on schedule
        wait_for("three runs of each demo source", lambda: all(
            len(runs(db, f"collect:{s}", ok=True)) >= 3 for s in ("shop", "social")), 30, first)
        wait_for("remedies dispatched to the warehouse csv", lambda: bool(query(
            db, "SELECT 1 FROM remedy WHERE status = 'dispatched'")), 15, first)
        assert query(db, "SELECT count(*) FROM assessment")[0][0] > 0
        # dispatch can run before the process job that fed it has written its finished row
        wait_for("a finished process run", lambda: bool(runs(db, "process", ok=True)), 60, first)
        # the source that always times out failed, and never held the others back
        stuck = query(db, "SELECT consecutive_failures FROM source_state WHERE name = 'stuck'")
        assert stuck and stuck[0][0] >= 1
        # proof that it ran beside the stuck one (not a timing guess, which a busy machine breaks):
        # some shop run started and finished while a stuck fetch was in flight
        wait_for("a shop run inside a stuck run", lambda: any(
            k_start < s_start and s_end < k_end
            for s_start, s_end in runs(db, "collect:shop") for k_start, k_end in spans(db, "collect:stuck")), 15, first)
        # SIGTERM while a job is mid-flight (the stuck source is always fetching)
        wait_for("the stuck source mid-run", lambda: bool(query(
            db, "SELECT 1 FROM run_log WHERE job = 'collect:stuck' AND finished_at IS NULL")), 10, first)
        sent = time.monotonic()
        first.signal(signal.SIGTERM)
        assert first.wait(15) == 0
        assert time.monotonic() - sent < 1 + 3  # stop_timeout + slack
    messages = [line.get("message", "") for line in first.log()]
    assert any("stopping" in m for m in messages)
    assert any("abandoning collect:stuck" in m for m in messages) or any("daemon stopped" in m for m in messages)
    lines_with_job = [line for line in first.log() if line.get("job") == "collect"]
    assert {line.get("source") for line in lines_with_job} >= {"shop", "social"}
    assert_consistent(db)
    before = snapshot(db)
    delivered = csv_keys(tmp_path)
    assert delivered and len(delivered) == len(set(delivered))
    runs_before = len(runs(db, "collect:shop"))

    # a restart continues from the store: nothing collected, opened, queued or delivered twice
    with Proc(config, log_name="daemon2.log") as second:
        wait_for("two more runs of the shop", lambda: len(runs(db, "collect:shop")) >= runs_before + 2, 20, second)
        wait_for("a dispatch after restart", lambda: bool(query(
            db, "SELECT 1 FROM run_log WHERE job = 'dispatch' AND started_at > ?",
            str(datetime.now(UTC) - timedelta(seconds=3)).replace("T", " "))), 10, second)
        second.signal(signal.SIGINT)
        assert second.wait(15) == 0
    assert_consistent(db)
    after = snapshot(db)
    assert after["mentions"] == before["mentions"]
    assert after["cases"] == before["cases"]
    assert set(after["remedies"]) >= set(before["remedies"]) and len(after["remedies"]) == len(set(after["remedies"]))
    keys = csv_keys(tmp_path)
    assert len(keys) == len(set(keys)), "a remedy was delivered twice"
    assert set(delivered) <= set(keys)


def test_sighup_keeps_old_config_on_error_and_adds_new_source(shop: DemoShop, tmp_path: Path) -> None:
    config = daemon_config(shop, tmp_path)
    db = tmp_path / "recoverybot.db"
    good_text = config.read_text(encoding="utf-8")
    with Proc(config) as proc:
        wait_for("the shop collected", lambda: bool(runs(db, "collect:shop", ok=True)), 20, proc)
        # a broken edit: an unknown key on a known line
        config.write_text(good_text.replace('[schedule]\n', '[schedule]\ncolect_every = "5s"\n'), encoding="utf-8")
        proc.signal(signal.SIGHUP)
        wait_for("the reload error in the log", lambda: any(
            "reload failed" in line.get("message", "") for line in proc.log()), 10, proc)
        error = next(line for line in proc.log() if "reload failed" in line.get("message", ""))
        line_no = good_text.splitlines().index("[schedule]") + 2
        assert f"config.toml:{line_no}" in error["message"] and "colect_every" in error["message"]
        count = len(runs(db, "collect:shop"))
        wait_for("the shop still collected on the old config", lambda: len(runs(db, "collect:shop")) >= count + 2,
                 10, proc)
        # a good edit: a new source appears and is collected without a restart
        config.write_text(good_text + extra_source("extra", shop.feed_url, every="2s"), encoding="utf-8")
        proc.signal(signal.SIGHUP)
        wait_for("the new source collected", lambda: bool(runs(db, "collect:extra", ok=True)), 15, proc)
        assert any("added collect:extra" in line.get("message", "") for line in proc.log())
        # status sees a live daemon with next runs for every source
        status = subprocess.run([sys.executable, "-m", "bot.cli", "--config", str(config), "status", "--json"],
                                cwd=ROOT, capture_output=True, text=True, timeout=30, check=False)
        data = json.loads(status.stdout)
        assert data["daemon"]["running"] is True
        assert {s["name"]: s["next_run_at"] is not None for s in data["sources"]} == {
            "shop": True, "social": True, "extra": True}
        proc.signal(signal.SIGTERM)
        assert proc.wait(15) == 0


def test_second_instance_refuses_to_start(shop: DemoShop, tmp_path: Path) -> None:
    config = daemon_config(shop, tmp_path, every="30s")
    db = tmp_path / "recoverybot.db"
    with Proc(config) as first:
        wait_for("the daemon's heartbeat", lambda: bool(query(db, "SELECT 1 FROM run_log WHERE job = 'daemon'")),
                 15, first)
        second = subprocess.run([sys.executable, "-m", "bot.cli", "--config", str(config), "run"],
                                cwd=ROOT, capture_output=True, text=True, timeout=30, check=False)
        assert second.returncode == 1
        assert "already running" in second.stderr and str(first.proc.pid) in second.stderr
        assert first.proc.poll() is None  # the first one is unharmed
        first.signal(signal.SIGTERM)
        assert first.wait(15) == 0
    # (that the lock goes with its holder is checked in-process below, for both databases)


# --- in-process: the wiring and the lock -----------------------------------------------------


def test_plan_has_a_job_per_enabled_source_and_restarts_when_due(shop: DemoShop, tmp_path: Path) -> None:
    config = cfg.load(daemon_config(shop, tmp_path, every="10m", extra=(
        extra_source("hourly", shop.feed_url).replace('every = "2s"', 'cron = "0 * * * *"')
        + extra_source("off", shop.feed_url).replace("brand_filter", "enabled = false\nbrand_filter"))))
    specs = {spec.id: spec for spec in plan(config)}
    assert set(specs) == {"collect:shop", "collect:social", "collect:hourly", "process", "orders", "dispatch"}
    assert specs["collect:hourly"].interval == 3600
    now = datetime(2026, 3, 1, 12, 30, tzinfo=UTC)
    shop_spec = specs["collect:shop"]
    # never ran: now (within the jitter, at most a tenth of the interval); ran 2 minutes ago: in 8
    assert now <= first_run(shop_spec, config, None, now) <= now + timedelta(seconds=1)
    assert first_run(shop_spec, config, now - timedelta(minutes=2), now) == now + timedelta(minutes=8)
    # cron: ran at 12:20, due at 13:00; a run missed while stopped (ran at 10:20) goes now
    top = datetime(2026, 3, 1, 13, 0, tzinfo=UTC)
    assert top <= first_run(specs["collect:hourly"], config, now - timedelta(minutes=10), now) <= top + timedelta(seconds=1)
    assert now <= first_run(specs["collect:hourly"], config, now - timedelta(hours=2), now) <= now + timedelta(seconds=1)


def test_sqlite_lock_refuses_a_second_holder_and_frees_on_release(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'bot.db'}"
    store = open_store(url)
    try:
        with InstanceLock(url, None, store.engine) as held:
            assert held.path == tmp_path / "bot.db.lock"
            assert held.path.read_text().strip() == str(os.getpid())
            with pytest.raises(AlreadyRunning, match=f"pid {os.getpid()}"):
                InstanceLock(url, None, store.engine).acquire()
        InstanceLock(url, None, store.engine).acquire().release()
    finally:
        store.dispose()


@pytest.mark.postgres
def test_postgres_advisory_lock(pg_url: str) -> None:
    store = open_store(pg_url)
    other = open_store(pg_url, upgrade=False)
    try:
        with InstanceLock(pg_url, None, store.engine):
            with pytest.raises(AlreadyRunning, match="already running"):
                InstanceLock(pg_url, None, other.engine).acquire()
        InstanceLock(pg_url, None, other.engine).acquire().release()
    finally:
        other.dispose()
        store.dispose()


def test_log_lines_carry_job_and_source_and_hide_secrets(caplog: pytest.LogCaptureFixture) -> None:
    redact = RedactFilter({"s3cr3t-token"})
    from bot.daemon.process import ContextFilter

    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    handler = Keep()
    handler.addFilter(ContextFilter())
    handler.addFilter(redact)
    logger = logging.getLogger("recoverybot.test_daemon")
    logger.addHandler(handler)
    try:
        with job_context("collect", "shop"):
            logger.warning("fetch %s failed with token %s", "https://u:pw@api.example/x", "s3cr3t-token")
        logger.warning("outside")
    finally:
        logger.removeHandler(handler)
    inside, outside = records
    assert (inside.job, inside.source, inside.context) == ("collect", "shop", " [collect shop]")  # type: ignore[attr-defined]
    assert inside.getMessage() == "fetch https://u:***@api.example/x failed with token ***"
    assert outside.job is None and outside.context == ""  # type: ignore[attr-defined]


def test_runs_that_change_nothing_log_quietly() -> None:
    """Months of '0 new' lines would bury what matters in the log."""
    from bot.daemon.schedule import _idle

    assert _idle("collect", {"results": [{"name": "shop", "new": 0}, {"name": "social", "new": 0}]})
    assert not _idle("collect", {"results": [{"name": "shop", "new": 3}]})
    assert _idle("orders", {"created": 0, "updated": 0, "unchanged": 27})
    assert not _idle("orders", {"created": 0, "updated": 1})
    assert _idle("dispatch", {"dispatched": 0})
    assert not _idle("dispatch", {"dispatched": 2})
    assert not _idle("digest", {})


def test_http_validators_of_urls_gone_for_months_are_forgotten(tmp_path: Path) -> None:
    from datetime import timedelta

    from bot.daemon.process import prune_http_cache
    from bot.store import HttpCache, open_store, utcnow

    store = open_store(f"sqlite:///{tmp_path / 's.db'}")
    try:
        with store.session() as s:
            s.add(HttpCache(url="https://shop.example/old", etag='"a"', fetched_at=utcnow() - timedelta(days=120)))
            s.add(HttpCache(url="https://shop.example/new", etag='"b"', fetched_at=utcnow() - timedelta(days=2)))
        assert prune_http_cache(store) == 1
        with store.session() as s:
            assert [row.url for row in s.query(HttpCache)] == ["https://shop.example/new"]
    finally:
        store.dispose()


def test_only_a_collect_that_found_something_asks_for_processing(shop: DemoShop, hanging: LocalServer,
                                                                 tmp_path: Path) -> None:
    """A source failing every few seconds used to keep the process job looping forever (it never
    finished, so nothing recorded it); now only new mentions ask for a run out of schedule."""
    from bot.daemon.schedule import Daemon
    from bot.store import open_store

    config = cfg.load(daemon_config(shop, tmp_path, extra=extra_source("stuck", hanging.url("/feed.xml"))))
    store = open_store(config.bot.database, config.base_dir)
    try:
        daemon = Daemon(config, store)
        failing: dict[str, Any] = {}
        daemon.collect("stuck", failing)
        assert failing.get("ok") is False and not daemon._process_pending
        found: dict[str, Any] = {}
        daemon.collect("social", found)
        assert daemon._process_pending  # the run after it will process what came in
    finally:
        store.engine.dispose()
