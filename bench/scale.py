"""Scale bench: collection and scoring throughput of 1, 2 and 4 Celery workers on one machine.

For each worker count a fresh PostgreSQL database and a redis-server of the bench's own (a free
loopback port) are set up; ``--sources`` Judge.me sources on a loopback HTTP server
(``tests/httpserver.py``) each answer one page of ``--per-source`` reviews after ``--latency``
seconds (a remote shop is not instant). That many ``recoverybot worker --concurrency 1``
processes start; once all say they are ready, one ``collect_source`` task per source is sent
(as the scheduler would) and the clock runs until every review is stored and scored. The
review texts are made up here (a few angry and happy templates with numbers), never corpus texts.

    .venv/bin/python bench/scale.py                       # 1, 2, 4 workers; 40 sources x 100 reviews
    .venv/bin/python bench/scale.py --workers 1 2 --sources 20 --latency 0.5

Prints one line per worker count: seconds until every mention was collected, seconds until
every mention was scored, mentions per second, and the speed-up over one worker. Needs
redis-server and PostgreSQL on 127.0.0.1:5432 ($RECOVERYBOT_TEST_PG for another admin URL).

``--cases N`` measures case work instead (linking, matching, deciding, queueing): N buyers of a
cheap gadget, each with an order and one scored defective-item review (``tests.decide_world``),
in a fresh PostgreSQL database; that many processes each run one ``bot.decide.cases.process``
pass, all started at once, and the clock runs from the start until the last pass ends. Every
case must end with exactly one remedy and the day's budget equal to their sum.

    .venv/bin/python bench/scale.py --cases 400 --workers 1 2 4
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine, func, select, text  # noqa: E402

from bot.store import Assessment, Mention, open_store, utcnow  # noqa: E402
from tests.httpserver import LocalServer, Route  # noqa: E402
from tests.test_celery import RedisServer  # noqa: E402

PG_ADMIN = os.environ.get("RECOVERYBOT_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
ANGRY = ["Stopped working after {n} days, the fan will not spin. Useless.",
         "Arrived with a cracked case and a bent blade, order {n}. Very disappointed.",
         "Wrong colour sent, I ordered blue and got pink ({n}).",
         "Never arrived, tracking says delivered on day {n} but nothing here."]
HAPPY = ["Lovely little fan, quiet and strong, {n} stars from me.",
         "Works great on the desk, battery lasts {n} hours.",
         "Good value, arrived fast, would buy again ({n})."]


def page(source: int, count: int) -> str:
    now = utcnow()
    reviews = []
    for n in range(count):
        angry = (source + n) % 4 == 0
        body = (ANGRY if angry else HAPPY)[(source * 7 + n) % (4 if angry else 3)].format(n=source * 1000 + n)
        when = (now - timedelta(days=2, minutes=n)).isoformat()
        reviews.append({"id": source * 100_000 + n, "title": "", "body": body, "rating": 1 if angry else 5,
                        "product_title": "Pocket Fan", "verified": "buyer", "hidden": False, "curated": "ok",
                        "reviewer": {"id": n, "email": f"b{source}-{n}@mail.example", "name": f"Buyer {n}"},
                        "created_at": when, "updated_at": when})
    return json.dumps({"current_page": 1, "per_page": 100, "reviews": reviews})


def config_text(database: str, shop: str, queue: str, sources: int) -> str:
    out = [f'[bot]\ndatabase = "{database}"\nlog_level = "info"\n\n[engine]\nkind = "celery"\n'
           f'broker_url_env = "RB_SCALE_BROKER"\nqueue = "{queue}"\nscore_batch = 100\n\n'
           '[http]\nper_host_delay = 0\nper_host_concurrency = 64\nallow_private = ["127.0.0.1"]\nretries = 0\n']
    for i in range(sources):
        out.append(f'\n[[sources]]\nname = "s{i}"\nkind = "judgeme"\nshop_domain = "fan-shop.myshopify.com"\n'
                   f'base_url = "{shop}/s{i}/api/v1"\napi_token_env = "RB_SCALE_JM"\n')
    return "".join(out)


def run(workers: int, args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    name = f"recoverybot_scale_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    database = PG_ADMIN.rsplit("/", 1)[0] + "/" + name
    redis_dir = folder / f"redis-{workers}"
    redis_dir.mkdir()
    broker = RedisServer(redis_dir)
    broker.start()
    routes: dict[str, Any] = {f"/s{i}/api/v1/reviews": Route(body=page(i, args.per_source),
                                                             content_type="application/json", delay=args.latency)
                              for i in range(args.sources)}
    procs: list[subprocess.Popen[bytes]] = []
    total = args.sources * args.per_source
    try:
        with LocalServer(routes) as shop:
            config = folder / f"config-{workers}.toml"
            queue = f"scale-{workers}"
            config.write_text(config_text(database, shop.base, queue, args.sources), encoding="utf-8")
            store = open_store(database)
            env = {**os.environ, "RB_SCALE_BROKER": broker.url, "RB_SCALE_JM": "token", "PYTHONPATH": str(ROOT)}
            logs = [folder / f"worker-{workers}-{n}.log" for n in range(workers)]
            for n, log in enumerate(logs):
                with open(log, "wb") as out:
                    procs.append(subprocess.Popen(
                        [sys.executable, "-m", "bot.cli", "--config", str(config), "worker", "--concurrency", "1",
                         "--hostname", f"w{n}@scale"], cwd=folder, env=env, stdout=out, stderr=subprocess.STDOUT))
            deadline = time.monotonic() + 120
            while sum(bool(re.search(r"\bready\b", log.read_text(errors="replace"))) for log in logs) < workers:
                if time.monotonic() > deadline or any(p.poll() is not None for p in procs):
                    raise SystemExit("workers did not start:\n" + "\n".join(log.read_text() for log in logs))
                time.sleep(0.1)
            from celery import Celery

            app = Celery("scale-sender", broker=broker.url, set_as_current=False)  # a fresh one per run
            started = time.monotonic()
            for i in range(args.sources):
                app.send_task("recoverybot.collect_source", args=(f"s{i}",), queue=queue)
            app.close()
            collected_at = scored_at = None
            deadline = time.monotonic() + args.timeout
            while scored_at is None:
                with store.session() as session:
                    mentions = session.scalar(select(func.count()).select_from(Mention)) or 0
                    scored = session.scalar(select(func.count()).select_from(Assessment)) or 0
                now = time.monotonic()
                if collected_at is None and mentions >= total:
                    collected_at = now - started
                if mentions >= total and scored >= total:
                    scored_at = now - started
                if now > deadline:
                    raise SystemExit(f"{workers} workers: only {mentions} collected, {scored} scored of {total}")
                time.sleep(0.05)
            store.dispose()
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
        broker.stop()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
    return {"workers": workers, "collected": collected_at, "scored": scored_at, "rate": total / scored_at}


CASES_CONFIG = """[bot]
database = "{database}"

[policy]
daily_budget = 1000000
monthly_budget = 1000000

[[fulfilment]]
name = "warehouse"
kind = "csv"
"""


def cases_worker(config_path: str) -> int:
    """One process pass, started when the parent writes a line: prints when it ran and what it did."""
    from bot.config import load
    from bot.decide.cases import process
    from tests.decide_world import NOW

    from sqlalchemy import event

    config = load(config_path)
    store = open_store(config.bot.database, config.base_dir)
    # What the pass asked of the database, counted here in the bench by engine events.
    counts = {"statements": 0, "rollbacks": 0, "tries": 0}

    def statement(_conn: Any, _cursor: Any, sql: str, *_rest: Any) -> None:
        counts["statements"] += 1
        counts["tries"] += "pg_try_advisory" in sql

    def rollback(_conn: Any) -> None:
        counts["rollbacks"] += 1

    event.listen(store.engine, "before_cursor_execute", statement)
    event.listen(store.engine, "rollback", rollback)
    print("ready", flush=True)
    sys.stdin.readline()
    started, cpu = time.time(), time.process_time()
    summary = process(store, config, now=NOW)
    ended, cpu = time.time(), time.process_time() - cpu
    store.dispose()
    print(json.dumps({"started": started, "ended": ended, "opened": summary.opened, "decided": summary.decided,
                      "errors": summary.errors, "cpu": cpu, **counts}), flush=True)
    return 0


def _sample_waits(database: str, stop: Any, seen: Counter[str]) -> None:
    """What the passes' database sessions are doing, every 10 ms (pg_stat_activity): running, idle
    between statements (the worker's own Python), or waiting and for what (an advisory lock...)."""
    engine = create_engine(database, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            while not stop.is_set():
                for state, kind, name in conn.execute(text(
                        "SELECT state, wait_event_type, wait_event FROM pg_stat_activity "
                        "WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'")):
                    seen[f"{kind}:{name}" if kind and state == "active" else (state or "?")] += 1
                stop.wait(0.01)
    finally:
        engine.dispose()


def run_cases(workers: int, args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    from decimal import Decimal

    from bot.store import BudgetPeriod, Case, Remedy
    from tests.decide_world import seed_unhappy

    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    name = f"recoverybot_scale_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    database = PG_ADMIN.rsplit("/", 1)[0] + "/" + name
    procs: list[subprocess.Popen[str]] = []
    try:
        config = folder / f"cases-{workers}.toml"
        config.write_text(CASES_CONFIG.format(database=database), encoding="utf-8")
        store = open_store(database)
        with store.session() as session:
            seed_unhappy(session, args.cases)
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        for _ in range(workers):
            procs.append(subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "--cases-worker", str(config)],
                                          cwd=folder, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                          text=True))
        for proc in procs:
            assert proc.stdout is not None
            if proc.stdout.readline().strip() != "ready":
                raise SystemExit("a case worker did not start")
        stop, waits = threading.Event(), Counter[str]()
        sampler = threading.Thread(target=_sample_waits, args=(database, stop, waits), daemon=True)
        sampler.start()
        for proc in procs:
            assert proc.stdin is not None
            proc.stdin.write("go\n")
            proc.stdin.flush()
        results = []
        try:
            for proc in procs:
                out, _ = proc.communicate(timeout=args.timeout)
                if proc.returncode != 0:
                    raise SystemExit(f"a case worker failed ({proc.returncode})")
                results.append(json.loads(out.strip().splitlines()[-1]))
        finally:
            stop.set()
            sampler.join(10)
        with store.session() as session:
            cases = session.scalar(select(func.count()).select_from(Case)) or 0
            remedies = session.scalars(select(Remedy)).all()
            day = session.scalars(select(BudgetPeriod).where(BudgetPeriod.period.like("day:%"))).one()
            assert cases == args.cases and len(remedies) == cases and len({r.case_id for r in remedies}) == cases
            assert day.reserved == sum((r.amount for r in remedies), Decimal(0))
        store.dispose()
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
    wall = max(r["ended"] for r in results) - min(r["started"] for r in results)
    total = sum(waits.values()) or 1
    return {"workers": workers, "wall": wall, "rate": args.cases / wall,
            "decided": [r["decided"] for r in results], "errors": sum(len(r["errors"]) for r in results),
            "cpu": sum(r["cpu"] for r in results), "statements": sum(r["statements"] for r in results),
            "rollbacks": sum(r["rollbacks"] for r in results), "tries": sum(r["tries"] for r in results),
            "waits": ", ".join(f"{k} {n / total:.0%}" for k, n in waits.most_common(5))}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--sources", type=int, default=40)
    parser.add_argument("--per-source", type=int, default=100, help="reviews per source (at most 100: one page)")
    parser.add_argument("--latency", type=float, default=1.0, help="seconds each source's page takes to answer")
    parser.add_argument("--timeout", type=float, default=600.0)
    parser.add_argument("--cases", type=int, default=0, help="measure case work on this many buyers instead")
    parser.add_argument("--cases-worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.cases_worker:
        return cases_worker(args.cases_worker)
    if args.cases:
        print(f"{args.cases} buyers, one review each; {os.cpu_count()} CPUs; each worker: one process pass")
        base_rate: float | None = None
        with tempfile.TemporaryDirectory(prefix="rb-scale-") as tmp:
            for workers in args.workers:
                result = run_cases(workers, args, Path(tmp))
                base_rate = base_rate or result["rate"]
                print(f"{workers} worker{'s' if workers > 1 else ' '}: {result['wall']:6.1f} s, "
                      f"{result['rate']:6.1f} cases/s, speed-up {result['rate'] / base_rate:.2f}x "
                      f"(cases decided per worker: {result['decided']}, errors {result['errors']})", flush=True)
                print(f"           worker CPU {result['cpu']:.1f} s in all, {result['statements']} statements, "
                      f"{result['tries']} lock tries, {result['rollbacks']} rollbacks; "
                      f"database sessions: {result['waits']}", flush=True)
        return 0
    args.per_source = min(args.per_source, 100)
    print(f"{args.sources} sources x {args.per_source} reviews, {args.latency:.2f} s per page, "
          f"{os.cpu_count()} CPUs; each worker: recoverybot worker --concurrency 1")
    base: float | None = None
    with tempfile.TemporaryDirectory(prefix="rb-scale-") as tmp:
        for workers in args.workers:
            result = run(workers, args, Path(tmp))
            base = base or result["scored"]
            print(f"{workers} worker{'s' if workers > 1 else ' '}: all collected {result['collected']:6.1f} s, "
                  f"all scored {result['scored']:6.1f} s, {result['rate']:6.1f} mentions/s, "
                  f"speed-up {base / result['scored']:.2f}x", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
