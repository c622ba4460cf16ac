"""Workers on Celery with RabbitMQ as broker, for real (issue 18 item 4; test_celery.py does Redis).

The machine's RabbitMQ (``RECOVERYBOT_TEST_AMQP``, by default amqp://guest:guest@127.0.0.1:5672//)
carries a queue of the test's own, deleted afterwards. One ``recoverybot scheduler`` and two
``recoverybot worker`` processes collect a few Judge.me sources on a loopback server into a fresh
PostgreSQL database; the worker process collecting the slow source is SIGKILLed in mid-request (its
unacknowledged message goes back to the queue and is delivered again), and a collect, a process and
a dispatch task are each sent twice. At the end every mention is stored once and every remedy was
delivered under its own one idempotency key.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from sqlalchemy import func, select

from bot.store import Assessment, Case, Mention, Remedy, open_store, utcnow
from tests.decide_world import add_order
from tests.httpserver import LocalServer, Route
from tests.test_celery import ROOT, SLOW, TOKEN, UNIT, _config_text, _page, _wait

AMQP_URL = os.environ.get("RECOVERYBOT_TEST_AMQP", "amqp://guest:guest@127.0.0.1:5672//")
SOURCES = 4

pytestmark = pytest.mark.postgres


@pytest.fixture
def rabbit() -> Iterator[str]:
    """The broker URL, after checking RabbitMQ answers (skips with the reason when it does not)."""
    pytest.importorskip("celery", reason="Celery is not installed (pip install -e '.[celery]')")
    kombu = pytest.importorskip("kombu", reason="kombu is not installed (pip install -e '.[celery]')")
    where = urlsplit(AMQP_URL)
    try:
        socket.create_connection((where.hostname or "127.0.0.1", where.port or 5672), timeout=2).close()
        with kombu.Connection(AMQP_URL, connect_timeout=5) as conn:
            conn.connect()
    except OSError as exc:
        pytest.skip(f"no RabbitMQ broker answers at {where.hostname}:{where.port or 5672} ({exc}); "
                    "apt-get install rabbitmq-server, or set RECOVERYBOT_TEST_AMQP")
    yield AMQP_URL


def _drop_queue(url: str, queue: str) -> None:
    """Delete the test's queue and the exchange Celery declared for it (both named after it), and
    Celery's remote-control exchange when nothing else uses it (the workers' own queues on it go
    when they stop)."""
    import amqp
    import kombu

    with kombu.Connection(url, connect_timeout=5) as conn:
        channel = conn.channel()
        channel.queue_delete(queue)
        channel.exchange_delete(queue)
        try:
            channel.exchange_delete("celery.pidbox", if_unused=True)
        except amqp.exceptions.PreconditionFailed:
            pass  # another Celery app on this broker uses it: leave it


def test_scheduler_and_workers_on_rabbitmq_keep_exactly_once(tmp_path: Path, pg_url: str, rabbit: str) -> None:
    deadline = time.monotonic() + 120  # a deadline for the waits, not a speed target
    queue = f"rbtest-{uuid.uuid4().hex[:8]}"
    routes: dict[str, Any] = {f"/s{i}/api/v1/reviews": Route(body=_page(i), content_type="application/json")
                              for i in range(SOURCES)}
    # The slow source's first answer hangs while its worker process is killed; the copy delivered
    # again gets the page at once.
    routes[f"/{SLOW}/api/v1/reviews"] = [Route(body=_page(0), content_type="application/json", delay=30),
                                         Route(body=_page(0), content_type="application/json")]
    with LocalServer(routes) as shop, \
            LocalServer({"/hook": Route(body="{}", content_type="application/json")}) as receiver:
        config_path = tmp_path / "config.toml"
        config_path.write_text(_config_text(pg_url, shop.base, receiver.url("/hook"), queue, SOURCES),
                               encoding="utf-8")
        store = open_store(pg_url)
        now = utcnow()
        with store.session() as session:
            for i in range(SOURCES):
                add_order(session, f"buyer{i}@mail.example", f"Buyer Number{i}", f"F{i:04d}",
                          [("FAN-01", "Pocket Fan", str(UNIT), 1)], placed=now - timedelta(days=20),
                          delivered=now - timedelta(days=15))
        env = {**os.environ, "RB_CELERY_BROKER": rabbit, "RB_CELERY_JM": TOKEN, "RB_CELERY_HOOK": "hook-secret",
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
            workers = [start("worker", "--concurrency", "1", "--hostname", f"r{n}@test") for n in range(2)]
            scheduler = start("scheduler")
            pid_line = re.compile(rf"collect {SLOW} started in pid (\d+)")
            _wait("the slow source to be asked", lambda: shop.hits(f"/{SLOW}/api/v1/reviews") >= 1
                  and pid_line.search(logs()) is not None, deadline, logs, procs)
            found = pid_line.search(logs())
            assert found is not None
            victim = int(found.group(1))
            assert victim not in {w.pid for w in workers}  # a pool process, not a worker's parent
            os.kill(victim, signal.SIGKILL)

            # A sender app of its own: the module's app may still hold a producer pool on another
            # broker (tests/test_celery.py runs first in the same process, on its own Redis).
            from celery import Celery

            with Celery("rb-sender", broker=rabbit, set_as_current=False) as app:
                for name, args in (("recoverybot.collect_source", ("s1",)), ("recoverybot.process_cases", ()),
                                   ("recoverybot.dispatch_due", ())):
                    for _ in range(2):
                        app.send_task(name, args=args, queue=queue)

            def settled() -> bool:
                if count(Mention) < 2 * SOURCES or count(Assessment) < 2 * SOURCES:
                    return False
                if count(Case) < SOURCES or count(Case, Case.status == "new") > 0:
                    return False
                return count(Remedy, Remedy.status == "dispatched") == SOURCES

            _wait("every mention collected and every remedy delivered", settled, deadline, logs, procs)
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
            _drop_queue(rabbit, queue)

        try:
            with store.session() as session:
                per_source = Counter(session.scalars(select(Mention.source)))
                assert per_source == {f"s{i}": 2 for i in range(SOURCES)}  # every mention stored once
                per_case = Counter(session.scalars(select(Remedy.case_id)))
                assert len(per_case) == SOURCES and set(per_case.values()) == {1}  # one remedy per buyer
                remedies = session.scalars(select(Remedy)).all()
                assert {r.status for r in remedies} == {"dispatched"}
                keys = [r.idempotency_key for r in remedies]
                assert len(set(keys)) == SOURCES
        finally:
            store.dispose()
        seen = Counter(r.headers["idempotency-key"] for r in receiver.requests)
        assert set(seen) == set(keys)  # each remedy delivered under its own one key, nothing else
