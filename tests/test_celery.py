"""Workers on Celery (issue 18 item 4), for real: Redis as broker, PostgreSQL as the store.

One ``recoverybot scheduler`` and three ``recoverybot worker`` processes (a redis-server of the
test's own as broker, a fresh PostgreSQL database) run against 50 Judge.me sources on a loopback
server; every source has one angry buyer (matched by email to an order) and one happy one, and
remedies go to a webhook receiver on loopback. Mid-run, the worker process collecting the slow
source is SIGKILLed (its task is delivered again), a collect, a process and a dispatch task are
each sent twice by hand, and the broker restarts. At the end every mention is stored once, every
given remedy was delivered under one idempotency key, and the budget is exact.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, text

from bot.config import load, loads
from bot.errors import ConfigError
from bot.store import Assessment, BudgetPeriod, Case, Mention, Remedy, RunLog, open_store, utcnow
from tests.decide_world import add_order
from tests.httpserver import LocalServer, Route

ROOT = Path(__file__).resolve().parent.parent
SOURCES = 50
REDIS_DB = 13
TOKEN = "jm-celery-test"
SLOW = "s0"  # its first answer takes long enough to be killed in the middle
UNIT = Decimal("12.00")

pytestmark = pytest.mark.postgres


class RedisServer:
    """A redis-server of the test's own on a free loopback port, with an append-only file so a
    restart keeps the queued messages (as a production broker must be set up)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.url = f"redis://127.0.0.1:{self.port}/{REDIS_DB}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        import redis

        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.folder),
             "--appendonly", "yes", "--appendfsync", "always", "--save", ""],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client = redis.Redis.from_url(self.url, socket_connect_timeout=1)
        deadline = time.monotonic() + 30
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise AssertionError(f"redis-server did not start on port {self.port}") from None
                time.sleep(0.05)
        client.close()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()  # SIGTERM: redis-server flushes its append-only file and exits
            self.proc.wait(timeout=15)
        self.proc = None


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[RedisServer]:
    pytest.importorskip("celery", reason="Celery is not installed (pip install -e '.[celery]')")
    pytest.importorskip("redis", reason="the redis client is not installed (pip install -e '.[celery]')")
    if shutil.which("redis-server") is None:
        pytest.skip("no redis-server on this machine (apt-get install redis-server)")
    folder = tmp_path / "redis"
    folder.mkdir()
    server = RedisServer(folder)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _review(i: int, n: int, *, angry: bool) -> dict[str, Any]:
    created = (utcnow() - timedelta(days=2, minutes=n)).isoformat()
    body = ("Stopped working after two days. The fan is broken, it will not spin at all. Useless, I want a "
            f"working one. (buyer {i})") if angry else f"Lovely little fan, quiet and strong. Thank you! ({i})"
    email = f"buyer{i}@mail.example" if angry else f"happy{i}@mail.example"
    return {"id": 9000000 + i * 10 + n, "title": "Broken" if angry else "Lovely", "body": body,
            "rating": 1 if angry else 5, "product_external_id": 7301, "product_title": "Pocket Fan",
            "product_handle": "pocket-fan", "verified": "buyer", "hidden": False, "curated": "ok",
            "reviewer": {"id": 100 + i, "external_id": None, "email": email, "name": f"Buyer Number{i}"},
            "created_at": created, "updated_at": created}


def _page(i: int) -> str:
    return json.dumps({"current_page": 1, "per_page": 100,
                       "reviews": [_review(i, 0, angry=True), _review(i, 1, angry=False)]})


def _config_text(database: str, shop: str, hook: str, queue: str, sources_count: int = SOURCES) -> str:
    sources = "".join(f"""
[[sources]]
name = "s{i}"
kind = "judgeme"
shop_domain = "fan-shop.myshopify.com"
base_url = "{shop}/s{i}/api/v1"
api_token_env = "RB_CELERY_JM"
every = "1h"
deadline = "2m"
""" for i in range(sources_count))
    return f"""
[bot]
database = "{database}"

[engine]
kind = "celery"
broker_url_env = "RB_CELERY_BROKER"
queue = "{queue}"
score_batch = 10

[schedule]
collect_every = "3s"
dispatch_every = "2s"
jitter = "0s"

[http]
per_host_delay = 0
allow_private = ["127.0.0.1"]
retries = 0
read_timeout = 60

[scoring]
sure_remedy_probability = 0.5
sure_issue_probability = 0.5

[policy]
daily_budget = 200    # {SOURCES} remedies of 12 do not fit: the budget guard is exercised too (fewer sources: all fit)
monthly_budget = 5000
claim_seconds = 30
retry_backoff = 0

[[fulfilment]]
name = "warehouse"
kind = "webhook"
url = "{hook}"
secret_env = "RB_CELERY_HOOK"
{sources}"""


def _wait(what: str, check: Callable[[], bool], deadline: float, logs: Callable[[], str],
          procs: list[subprocess.Popen[bytes]]) -> None:
    while not check():
        if time.monotonic() > deadline or any(p.poll() is not None for p in procs):
            raise AssertionError(f"timed out waiting for {what}\n{logs()[-6000:]}")
        time.sleep(0.1)


def test_celery_engine_needs_postgresql() -> None:
    with pytest.raises(ConfigError) as caught:
        loads('[bot]\ndatabase = "sqlite:///x.db"\n\n[engine]\nkind = "celery"\n')
    assert "[bot] database" in str(caught.value) and "[engine] kind" in str(caught.value)
    assert loads('[bot]\ndatabase = "sqlite:///x.db"\n').engine.kind == "embedded"


def test_a_second_scheduler_stands_by(pg_url: str) -> None:
    from bot.engine.celery_app import SchedulerLock

    store, other = open_store(pg_url), open_store(pg_url, upgrade=False)
    first, second = SchedulerLock(store), SchedulerLock(other)
    try:
        assert first.try_acquire()
        assert not second.try_acquire()  # the first one runs: the second does nothing
        first.release()
        assert second.try_acquire()  # it takes over once the first is gone
    finally:
        first.release()
        second.release()
        store.dispose()
        other.dispose()


def test_process_passes_coalesce_without_losing_a_request(pg_url: str) -> None:
    from bot.engine.celery_app import process_turn

    store = open_store(pg_url)
    running, release = threading.Event(), threading.Event()
    turns: list[str] = []

    def first() -> None:
        with process_turn(store) as turn:
            turns.append(f"first {turn}")
            running.set()
            release.wait(30)

    def waiter() -> None:
        with process_turn(store) as turn:
            turns.append(f"waiter {turn}")

    try:
        threads = [threading.Thread(target=first)]
        threads[0].start()
        assert running.wait(30)
        threads.append(threading.Thread(target=waiter))
        threads[1].start()
        deadline = time.monotonic() + 30
        with store.engine.connect() as conn:  # the waiter holds the waiting slot, blocked on the pass
            while conn.execute(text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted AND database = "
                                    "(SELECT oid FROM pg_database WHERE datname = current_database())")).scalar() < 2:
                assert time.monotonic() < deadline
                time.sleep(0.02)
        with process_turn(store) as turn:  # a third request: one already waits, so it does nothing
            assert turn is False
        assert turns == ["first True"]
        release.set()
        for thread in threads:
            thread.join(30)
        assert turns == ["first True", "waiter True"]  # the waiter ran after the pass it waited for
    finally:
        release.set()
        store.dispose()


def test_process_passes_run_side_by_side_up_to_the_configured_number(pg_url: str) -> None:
    """Case work locks per buyer, so with ``[engine] process_passes = 2`` two passes run at once; a
    third request waits for one of them, a fourth does nothing."""
    from bot.engine.celery_app import process_turn

    store = open_store(pg_url)
    inside = threading.Semaphore(0)
    release = threading.Event()
    turns: list[str] = []

    def pass_(name: str) -> None:
        with process_turn(store, 2) as turn:
            turns.append(f"{name} {turn}")
            inside.release()
            release.wait(30)

    try:
        threads = [threading.Thread(target=pass_, args=(name,)) for name in ("one", "two")]
        for thread in threads:
            thread.start()
        assert inside.acquire(timeout=30) and inside.acquire(timeout=30)  # both inside at the same time
        assert sorted(turns) == ["one True", "two True"]
        threads.append(threading.Thread(target=pass_, args=("waiter",)))
        threads[-1].start()
        deadline = time.monotonic() + 30
        with store.engine.connect() as conn:  # two slots and the waiting slot held
            while conn.execute(text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted AND database = "
                                    "(SELECT oid FROM pg_database WHERE datname = current_database())")).scalar() < 3:
                assert time.monotonic() < deadline
                time.sleep(0.02)
        with process_turn(store, 2) as turn:
            assert turn is False
        release.set()
        for thread in threads:
            thread.join(30)
        assert sorted(turns) == ["one True", "two True", "waiter True"]
    finally:
        release.set()
        store.dispose()


def test_scheduler_and_three_workers_keep_exactly_once(tmp_path: Path, pg_url: str, broker: RedisServer,
                                                       request: pytest.FixtureRequest) -> None:
    started = time.monotonic()
    # Generous: 5 processes, PostgreSQL and Redis on 2 cores; with two CPU hogs beside the suite
    # the fleet needed more than 240 s (about 36 s on a quiet machine). A deadline, not a wait.
    deadline = started + 480
    queue = f"rbtest-{uuid.uuid4().hex[:8]}"
    routes: dict[str, Any] = {f"/s{i}/api/v1/reviews": Route(body=_page(i), content_type="application/json")
                              for i in range(SOURCES)}
    # The slow source's first answer hangs (the worker collecting it is killed meanwhile); the
    # redelivered task gets the page at once.
    routes[f"/{SLOW}/api/v1/reviews"] = [Route(body=_page(0), content_type="application/json", delay=40),
                                         Route(body=_page(0), content_type="application/json")]
    with LocalServer(routes) as shop, \
            LocalServer({"/hook": Route(body="{}", content_type="application/json")}) as receiver:
        config_path = tmp_path / "config.toml"
        config_path.write_text(_config_text(pg_url, shop.base, receiver.url("/hook"), queue), encoding="utf-8")
        store = open_store(pg_url)
        request.addfinalizer(store.dispose)  # also when a wait below fails (its connections would leak)
        now = utcnow()
        with store.session() as session:
            for i in range(SOURCES):
                add_order(session, f"buyer{i}@mail.example", f"Buyer Number{i}", f"F{i:04d}",
                          [("FAN-01", "Pocket Fan", str(UNIT), 1)], placed=now - timedelta(days=20),
                          delivered=now - timedelta(days=15))
        env = {**os.environ, "RB_CELERY_BROKER": broker.url, "RB_CELERY_JM": TOKEN, "RB_CELERY_HOOK": "hook-secret",
               "PYTHONPATH": str(ROOT)}
        env.pop("RECOVERYBOT_CONFIG", None)
        procs: list[subprocess.Popen[bytes]] = []
        log_files: list[Path] = []

        def start(*args: str) -> subprocess.Popen[bytes]:
            log_file = tmp_path / f"proc{len(procs)}.log"
            log_files.append(log_file)
            with open(log_file, "wb") as out:
                proc = subprocess.Popen([sys.executable, "-m", "bot.cli", "--config", str(config_path), *args],
                                        cwd=tmp_path, env=env, stdout=out, stderr=subprocess.STDOUT,
                                        start_new_session=True)
            procs.append(proc)
            return proc

        def logs() -> str:
            return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')}" for p in log_files)

        def count(model: Any, *where: Any) -> int:
            with store.session() as session:
                return int(session.scalar(select(func.count()).select_from(model).where(*where)) or 0)

        try:
            workers = [start("worker", "--concurrency", "1", "--hostname", f"w{n}@test") for n in range(3)]
            scheduler = start("scheduler")
            # The worker running the slow source says so with its pid: kill it in mid-request.
            pid_line = re.compile(rf"collect {SLOW} started in pid (\d+)")
            _wait("the slow source to be asked", lambda: shop.hits(f"/{SLOW}/api/v1/reviews") >= 1
                  and pid_line.search(logs()) is not None, deadline, logs, procs)
            match = pid_line.search(logs())
            assert match is not None
            victim = int(match.group(1))
            assert victim not in {w.pid for w in workers}  # a pool process, not a worker's parent
            os.kill(victim, signal.SIGKILL)
            # Its worker hands the task back to the broker (reject_on_worker_lost) and another takes
            # it; the broker restart below waits for that: a broker down at that very moment keeps
            # the task until [engine] redeliver_after (seen once in CI under load).
            _wait("the killed collect to be delivered again", lambda: shop.hits(f"/{SLOW}/api/v1/reviews") >= 2,
                  deadline, logs, procs)

            # The same tasks twice, as a broker may deliver them.
            from bot.engine.celery_app import configure

            os.environ["RB_CELERY_BROKER"] = broker.url
            try:
                app = configure(load(config_path))
                for name, args in (("recoverybot.collect_source", ("s1",)), ("recoverybot.process_cases", ()),
                                   ("recoverybot.dispatch_due", ())):
                    for _ in range(2):
                        app.send_task(name, args=args, queue=queue)
            finally:
                os.environ.pop("RB_CELERY_BROKER", None)
            app.close()

            # The broker restarts under the running fleet: workers and scheduler reconnect, and the
            # queued messages survive in its append-only file.
            broker.stop()
            broker.start()

            def settled() -> bool:
                if count(Mention) < 2 * SOURCES or count(Assessment) < 2 * SOURCES:
                    return False
                if count(Case) < SOURCES or count(Case, Case.status == "new") > 0:
                    return False
                return count(Remedy, Remedy.status == "queued") == 0 and count(Remedy) > 0

            _wait("every mention collected, every case decided and every queued remedy delivered",
                  settled, deadline, logs, procs)
            assert shop.hits(f"/{SLOW}/api/v1/reviews") >= 2  # the killed task was delivered again
            assert all(p.poll() is None for p in [*workers, scheduler]), logs()[-4000:]
        finally:
            for proc in procs:
                if proc.poll() is None:
                    os.killpg(proc.pid, signal.SIGTERM)
            for proc in procs:
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait(timeout=5)

        try:
            with store.session() as session:
                per_source = Counter(session.scalars(select(Mention.source)))
                assert per_source == {f"s{i}": 2 for i in range(SOURCES)}  # every mention stored once
                assert session.scalar(select(func.count(func.distinct(Mention.external_id)))) == 2 * SOURCES
                assert session.scalar(select(func.count()).select_from(Case)) == SOURCES
                per_case = Counter(session.scalars(select(Remedy.case_id)))
                assert len(per_case) == SOURCES and set(per_case.values()) == {1}  # one remedy per buyer
                remedies = session.scalars(select(Remedy)).all()
                given = [r for r in remedies if r.status == "dispatched"]
                assert {r.status for r in remedies} <= {"dispatched", "proposed"}
                amounts = {r.amount for r in given}
                assert len(amounts) == 1, [(c.status, c.approval_reason, c.reasons)
                                           for c in session.scalars(select(Case)).all()[:3]]
                unit = amounts.pop()
                days = session.scalars(select(BudgetPeriod).where(BudgetPeriod.period.like("day:%"))).all()
                spent = sum((r.amount for r in given), Decimal(0))
                assert sum((d.reserved for d in days), Decimal(0)) == spent  # budget exact
                assert len(days) == 1 and days[0].cap == Decimal(200)
                assert len(given) == int(Decimal(200) // unit)  # every euro that fits was used, no more
                waiting = session.scalars(select(Case).where(Case.status == "awaiting_approval")).all()
                assert len(waiting) == SOURCES - len(given)
                assert all("daily budget" in (c.approval_reason or "") for c in waiting)
                keys = {r.idempotency_key for r in given}
                beat = session.scalars(select(RunLog).where(RunLog.job == "daemon")).one()
                assert beat.ok and beat.finished_at is not None  # the scheduler's heartbeat, cleanly stopped
                assert session.scalar(select(func.count()).select_from(RunLog)
                                      .where(RunLog.job.like("collect:%"), RunLog.ok.is_(True))) >= SOURCES
                # Nothing the workers wrote is left half-done: no unscored mention, no held lock.
                assert session.scalar(select(func.count()).select_from(Mention).outerjoin(Assessment)
                                      .where(Assessment.mention_id.is_(None))) == 0
                assert session.execute(text(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND database = "
                    "(SELECT oid FROM pg_database WHERE datname = current_database())")).scalar() == 0
        finally:
            store.dispose()
        seen = Counter(r.headers["idempotency-key"] for r in receiver.requests)
        assert set(seen) == keys  # each given remedy delivered under its own one key, nothing else
