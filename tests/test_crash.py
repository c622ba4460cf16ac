"""Crash safety of the outbox (DESIGN.md invariants 2 and 3).

A worker subprocess runs process + dispatch over 200 unhappy matched cases and is killed with
SIGKILL at random moments, 20 times, restarted each time, then allowed to finish. At the end every
case has exactly one remedy, the budget was never overspent, and the real webhook receiver saw
every dispatched idempotency key at least once and nothing it should not have.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.store import BudgetPeriod, Case, Remedy, open_store
from tests.decide_world import seed_unhappy
from tests.httpserver import LocalServer, Route

ROOT = Path(__file__).resolve().parent.parent
CASES = 200
KILLS = 20


def _config(tmp_path: Path, url: str, database: str = "sqlite:///crash.db", claim: int = 0) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(f"""
[bot]
database = "{database}"

[policy]
daily_budget = 2000     # 200 x 17 does not fit: the budget guard is exercised too
monthly_budget = 5000
claim_seconds = {claim}       # 0: a claim left by a killed worker is due again at once
retry_backoff = 0

[[fulfilment]]
name = "warehouse"
kind = "webhook"
url = "{url}"
secret_env = "RB_CRASH_SECRET"
""", encoding="utf-8")
    return path


def test_sigkill_at_random_moments_never_doubles_nor_overspends(tmp_path: Path) -> None:
    rng = random.Random(20260310)
    with LocalServer({"/hook": Route(body="{}", content_type="application/json")}) as receiver:
        config_path = _config(tmp_path, receiver.url("/hook"))
        store = open_store(f"sqlite:///{tmp_path / 'crash.db'}")
        with store.session() as session:
            seed_unhappy(session, CASES)
        store.dispose()

        env = {**os.environ, "RB_CRASH_SECRET": "crash-test-secret", "PYTHONPATH": str(ROOT), "RB_WORLD_T0": str(time.time())}
        command = [sys.executable, "-m", "tests.decide_world", str(config_path), "50"]
        killed = 0
        for _ in range(KILLS):
            worker = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                                      stderr=subprocess.PIPE)
            time.sleep(rng.uniform(0.3, 1.3))
            if worker.poll() is None:
                worker.send_signal(signal.SIGKILL)
                killed += 1
            worker.wait(timeout=30)
            assert worker.stderr is not None
            err = worker.stderr.read().decode()
            worker.stderr.close()
            assert "Traceback" not in err, err
        # Later than any killed worker's lease (each ran a few seconds): what it claimed is due again.
        final = subprocess.run([*command, "600"], check=False, cwd=ROOT, env=env, capture_output=True, timeout=120)
        assert final.returncode == 0, final.stderr.decode()
        assert killed >= 5  # the kills really landed mid-run

        store = open_store(f"sqlite:///{tmp_path / 'crash.db'}")
        try:
            with store.session() as session:
                assert session.scalar(select(func.count()).select_from(Case)) == CASES
                per_case = Counter(session.scalars(select(Remedy.case_id)))
                assert len(per_case) == CASES and set(per_case.values()) == {1}
                remedies = session.scalars(select(Remedy)).all()
                by_status = Counter(r.status for r in remedies)
                assert set(by_status) <= {"dispatched", "proposed"}, by_status
                given = [r for r in remedies if r.status == "dispatched"]
                spent = sum((r.amount for r in given), Decimal(0))
                day = session.get(BudgetPeriod, "day:2026-03-10")
                assert day is not None
                assert day.reserved == spent <= day.cap == Decimal(2000)
                assert len(given) == 2000 // 17  # every euro that fits was used, no more
                waiting = session.scalars(select(Case).where(Case.status == "awaiting_approval")).all()
                assert all("daily budget" in (c.approval_reason or "") for c in waiting)
                keys_given = {r.idempotency_key for r in given}
        finally:
            store.dispose()
        seen = Counter(r.headers["idempotency-key"] for r in receiver.requests)
        assert set(seen) == keys_given  # each dispatched key at least once, and nothing else


@pytest.mark.postgres
def test_two_cycles_at_once_on_postgresql_never_double_nor_overspend(tmp_path: Path, pg_url: str) -> None:
    with LocalServer({"/hook": Route(body="{}", content_type="application/json")}) as receiver:
        config_path = _config(tmp_path, receiver.url("/hook"), database=pg_url, claim=300)
        store = open_store(pg_url)
        with store.session() as session:
            seed_unhappy(session, 150)
        store.dispose()
        env = {**os.environ, "RB_CRASH_SECRET": "crash-test-secret", "PYTHONPATH": str(ROOT), "RB_WORLD_T0": str(time.time())}
        command = [sys.executable, "-m", "tests.decide_world", str(config_path), "5"]
        workers = [subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
                   for _ in range(2)]
        for worker in workers:
            _out, err = worker.communicate(timeout=120)
            assert worker.returncode == 0, err.decode()

        store = open_store(pg_url)
        try:
            with store.session() as session:
                per_case = Counter(session.scalars(select(Remedy.case_id)))
                assert session.scalar(select(func.count()).select_from(Case)) == 150
                assert len(per_case) == 150 and set(per_case.values()) == {1}
                given = session.scalars(select(Remedy).where(Remedy.status == "dispatched")).all()
                day = session.get(BudgetPeriod, "day:2026-03-10")
                assert day is not None
                assert day.reserved == sum((r.amount for r in given), Decimal(0)) <= day.cap
                assert len(given) == 2000 // 17
                keys = {r.idempotency_key for r in given}
        finally:
            store.dispose()
        seen = Counter(r.headers["idempotency-key"] for r in receiver.requests)
        assert set(seen) == keys
        assert max(seen.values()) == 1  # the claim kept the two dispatchers off each other's remedies


def test_sigkill_while_telling_buyers_never_tells_one_twice(tmp_path: Path) -> None:
    """The buyer notices (bot.notices) under the same kills: every buyer is told, and never with two
    different messages. (The one window left, a kill between the SMTP server's acceptance and the
    ledger line, repeats the same Message-ID, which mail clients show once.)"""
    from aiosmtpd.controller import Controller

    from bot.store import Notice
    from tests.test_outbox import Sink, _free_port

    rng = random.Random(20261202)
    buyers = 60
    sink = Sink()
    port = _free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        config_path = tmp_path / "config.toml"
        config_path.write_text(f"""
[bot]
database = "sqlite:///crash.db"

[policy]
daily_budget = 2000     # every buyer's replacement fits: all of them are told
monthly_budget = 5000
claim_seconds = 0
retry_backoff = 0

[[fulfilment]]
name = "tell-the-buyer"
kind = "customer_email"
sender = "care@kestrel.example"

[[fulfilment]]
name = "warehouse"
kind = "csv"

[digest]
smtp_host = "127.0.0.1"
smtp_port = {port}
smtp_security = "none"
smtp_timeout = 10
""", encoding="utf-8")
        store = open_store(f"sqlite:///{tmp_path / 'crash.db'}")
        with store.session() as session:
            seed_unhappy(session, buyers)
        store.dispose()
        env = {**os.environ, "PYTHONPATH": str(ROOT), "RB_WORLD_T0": str(time.time())}
        command = [sys.executable, "-m", "tests.decide_world", str(config_path), "50"]
        killed = 0
        for _ in range(8):
            worker = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            time.sleep(rng.uniform(0.4, 1.6))
            if worker.poll() is None:
                worker.send_signal(signal.SIGKILL)
                killed += 1
            worker.wait(timeout=30)
            assert worker.stderr is not None
            err = worker.stderr.read().decode()
            worker.stderr.close()
            assert "Traceback" not in err, err
        final = subprocess.run([*command, "600"], check=False, cwd=ROOT, env=env, capture_output=True, timeout=180)
        assert final.returncode == 0, final.stderr.decode()
        assert killed >= 2  # some kills really landed mid-run
    finally:
        controller.stop()

    store = open_store(f"sqlite:///{tmp_path / 'crash.db'}")
    try:
        with store.session() as session:
            told = session.scalars(select(Notice)).all()
            assert len(told) == buyers and {n.status for n in told} == {"sent"}
            assert len({n.case_id for n in told}) == buyers
    finally:
        store.dispose()
    import email
    import email.policy

    ids: dict[str, set[str]] = {}
    for rcpts, data in sink.messages:
        message = email.message_from_bytes(data, policy=email.policy.default)
        ids.setdefault(rcpts[0], set()).add(str(message["Message-ID"]))
    assert len(ids) == buyers  # every buyer told...
    assert {len(v) for v in ids.values()} == {1}  # ...with one message each
    assert len(sink.messages) <= buyers + killed  # at most one repeat (same Message-ID) per kill
