"""Soak benchmark: does `recoverybot run` stay healthy and flat when left alone?

"Runs unattended for months" cannot be measured in months, so this compresses the schedule:
the bundled demo shop (``bot.demo.DemoShop``) is served in-process on 127.0.0.1, a demo config is
written with second-scale schedules (sources every 2-3 s, dispatch every 1 s, order sync every
3 s, no jitter) and a local SMTP sink for the digest, and ``python -m bot.cli --config X run``
runs as a real subprocess. Ten minutes of this is some 700 collections, a few hundred process
and order-sync runs and 600 dispatch passes: months of a real shop's job count.

While it runs, every ``--interval`` seconds it samples the daemon from outside:

- its RSS (``/proc/PID/status`` VmRSS), open file descriptors (``/proc/PID/fd``), threads;
- the database size (file plus WAL), RunLog rows (job runs, failed runs), mentions, cases,
  remedies (read-only SQLite queries);
- ``recoverybot status --json`` (every ``--status-every`` seconds: each call is a Python start).

Midway it sends SIGHUP (a reload of an unchanged config: the log must say so); at the end
SIGTERM, and the process must exit 0 within ``[schedule] stop_timeout`` (plus a little for the
interpreter to tear down). Then it prints a table (one sample per minute) and a summary: runs per
job with median/max durations, failed runs, RSS start/median/end and growth per hour (least
squares), fd and thread counts, database growth, and the invariants (no duplicate mention
(source, external_id), one remedy per idempotency key, no remedy delivered twice to the csv
outbox, at most one digest per day).

Exit code 0 when there was no leak signal and no failure, else 1. A leak signal is a resource
whose floor in the last quarter of the run is above its ceiling in the first quarter after the
warm-up (transient connections and lazily started worker threads do not count; a steady climb
does). Failures: a failed job run, an unhealthy status after the warm-up, a reload not confirmed,
a stop that was slow or not 0, a broken invariant, a daemon that died.

    .venv/bin/python bench/soak.py                 # 10 minutes
    .venv/bin/python bench/soak.py --minutes 30
    .venv/bin/python bench/soak.py --quick         # 60 s smoke run
    .venv/bin/python bench/soak.py --keep          # keep the work folder (config, db, daemon.log)

Only 127.0.0.1 is used; every loop is bounded in count and time; it stops by itself.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.demo import DemoShop, demo_config_text  # noqa: E402

WARMUP_FRACTION = 0.15  # the first part of the run: worker threads and pools are still starting
LEAK_MARGIN = 3  # a pool growing to its peak concurrency may add a thread or socket or two, once
STOP_SLACK = 3.0  # seconds past stop_timeout the interpreter may take to exit
STATUS_TIMEOUT = 60.0  # one `status --json` call, on a loaded 2-core machine


# --- the local SMTP sink for the digest -------------------------------------------------------


class SmtpSink:
    """aiosmtpd handler: counts what the daemon sends (the digest)."""

    def __init__(self) -> None:
        self.messages: list[bytes] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(bytes(envelope.original_content or b""))
        return "250 Message accepted for delivery"


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- the config -------------------------------------------------------------------------------


def soak_config(shop: DemoShop, workdir: Path, smtp_port: int, stop_timeout: int) -> Path:
    """The demo's config with second-scale schedules, a digest to the local sink."""
    text = demo_config_text(shop, workdir)
    out: list[str] = []
    table = None
    everies = iter(("2s", "3s", "3s", "3s"))
    for line in text.splitlines():
        if line.startswith("["):
            table = line.strip()
        if table == "[http]" and line.startswith("retries"):
            line = "retries = 0\nread_timeout = 5.0\nconnect_timeout = 5.0"
        out.append(line)
        if table == "[[sources]]" and line.startswith("kind ="):
            out.append(f'every = "{next(everies, "3s")}"')
    out.append(f"""
[schedule]
collect_every = "5s"
jitter = "0s"
dispatch_every = "1s"
orders_every = "3s"
stop_timeout = "{stop_timeout}s"

[digest]
to = ["staff@kestrel-lane.example"]
sender = "recoverybot@kestrel-lane.example"
send_at = "00:00"
smtp_host = "127.0.0.1"
smtp_port = {smtp_port}
smtp_security = "none"
smtp_timeout = 10
""")
    path = workdir / "config.toml"
    path.write_text("\n".join(out) + "\n", encoding="utf-8")
    return path


# --- reading the daemon and its store ---------------------------------------------------------


def proc_status(pid: int) -> dict[str, int]:
    """VmRSS (KiB), Threads and the fd count of a live process; {} once it is gone."""
    out: dict[str, int] = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key == "VmRSS":
                out["rss_kb"] = int(value.split()[0])
            elif key == "Threads":
                out["threads"] = int(value.strip())
        out["fds"] = len(os.listdir(f"/proc/{pid}/fd"))
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return {}
    return out


def query(db: Path, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    if not db.exists():
        return []
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    try:
        return conn.execute(sql, args).fetchall()
    except sqlite3.OperationalError as exc:
        if "no such table" in str(exc):
            return []
        raise
    finally:
        conn.close()


def scalar(db: Path, sql: str) -> int:
    rows = query(db, sql)
    return int(rows[0][0] or 0) if rows else 0


def file_bytes(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def status_json(config: Path, env: dict[str, str]) -> tuple[bool | None, list[str], float]:
    """(healthy, problems, seconds) from `recoverybot status --json`; healthy None if it broke."""
    started = time.monotonic()
    try:
        done = subprocess.run([sys.executable, "-m", "bot.cli", "--config", str(config), "status", "--json"],
                              cwd=ROOT, env=env, capture_output=True, text=True, timeout=STATUS_TIMEOUT, check=False)
        data = json.loads(done.stdout)
        return bool(data.get("healthy")), [str(p) for p in data.get("problems") or []], time.monotonic() - started
    except (subprocess.TimeoutExpired, json.JSONDecodeError, ValueError) as exc:
        return None, [f"status --json failed: {exc}"], time.monotonic() - started


def _dt(value: Any) -> datetime | None:
    if value is None:
        return None
    stamp = datetime.fromisoformat(str(value))
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)


@dataclass
class Sample:
    t: float
    rss_kb: int
    fds: int
    threads: int
    db_bytes: int  # the database file itself
    wal_bytes: int  # its write-ahead log: grows to the checkpoint size, then is reused
    runs: int
    failed: int
    mentions: int
    cases: int
    remedies: int
    healthy: bool | None
    problems: list[str] = field(default_factory=list)


def take_sample(t: float, pid: int, db: Path) -> Sample | None:
    proc = proc_status(pid)
    if not proc:
        return None
    return Sample(
        t=t, rss_kb=proc.get("rss_kb", 0), fds=proc.get("fds", 0), threads=proc.get("threads", 0),
        db_bytes=file_bytes(db), wal_bytes=file_bytes(Path(f"{db}-wal")),
        runs=scalar(db, "SELECT count(*) FROM run_log WHERE job != 'daemon' AND finished_at IS NOT NULL"),
        failed=scalar(db, "SELECT count(*) FROM run_log WHERE job != 'daemon' AND ok = 0"),
        mentions=scalar(db, "SELECT count(*) FROM mention"),
        cases=scalar(db, "SELECT count(*) FROM recovery_case"),
        remedies=scalar(db, "SELECT count(*) FROM remedy"),
        healthy=None,
    )


# --- figures ----------------------------------------------------------------------------------


def slope_per_hour(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of (seconds, value), per hour."""
    if len(points) < 2:
        return 0.0
    xs = [p[0] for p in points]
    ys = [p[1] for p in points]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    den = sum((x - mx) ** 2 for x in xs)
    if den == 0:
        return 0.0
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / den * 3600.0


def leak_signal(samples: list[Sample], attr: str) -> tuple[bool, str]:
    """Whether `attr` climbed for good: the last quarter's floor at least LEAK_MARGIN above the
    first (post warm-up) quarter's ceiling."""
    if len(samples) < 8:
        return False, "too few samples to tell"
    n = len(samples)
    warm = max(1, int(n * WARMUP_FRACTION))
    steady = samples[warm:]
    quarter = max(2, len(steady) // 4)
    head = [getattr(s, attr) for s in steady[:quarter]]
    tail = [getattr(s, attr) for s in steady[-quarter:]]
    grew = min(tail) >= max(head) + LEAK_MARGIN
    return grew, f"first quarter {min(head)}-{max(head)}, last quarter {min(tail)}-{max(tail)}"


def job_table(db: Path) -> dict[str, dict[str, Any]]:
    rows = query(db, "SELECT job, started_at, finished_at, ok, summary FROM run_log WHERE job != 'daemon' ORDER BY id")
    jobs: dict[str, dict[str, Any]] = {}
    for job, started, finished, ok, summary in rows:
        item = jobs.setdefault(job, {"runs": 0, "failed": 0, "unfinished": 0, "durations": [], "errors": Counter()})
        item["runs"] += 1
        a, b = _dt(started), _dt(finished)
        if b is None or a is None:
            item["unfinished"] += 1
            continue
        item["durations"].append((b - a).total_seconds())
        if ok == 0:
            item["failed"] += 1
            try:
                data = json.loads(summary or "{}")
            except (TypeError, ValueError):
                data = {}
            why = data.get("error") or json.dumps(data.get("failures") or {})[:200] or "?"
            item["errors"][str(why)[:200]] += 1
    return jobs


def invariants(db: Path, workdir: Path, emails: int) -> list[tuple[str, int]]:
    """(check, violations) for each invariant; 0 everywhere is good."""
    dup_mentions = query(db, "SELECT source, external_id FROM mention GROUP BY source, external_id HAVING count(*) > 1")
    dup_remedies = query(db, "SELECT idempotency_key FROM remedy GROUP BY idempotency_key HAVING count(*) > 1")
    keys: list[str] = []
    path = workdir / "remedies.csv"
    if path.exists():
        with open(path, encoding="utf-8", newline="") as handle:
            keys = [row.get("idempotency_key") or "" for row in csv.DictReader(handle)]
    dup_deliveries = sum(n - 1 for n in Counter(keys).values() if n > 1)
    orphans = query(db, "SELECT r.id FROM remedy r LEFT JOIN recovery_case c ON c.id = r.case_id WHERE c.id IS NULL")
    integrity = query(db, "PRAGMA integrity_check")
    digests_sent = scalar(db, "SELECT count(*) FROM digest WHERE status = 'sent'")
    return [
        ("duplicate mentions (source, external_id)", len(dup_mentions)),
        ("duplicate remedies (idempotency key)", len(dup_remedies)),
        ("remedies delivered twice (csv outbox)", dup_deliveries),
        ("remedies without a case", len(orphans)),
        ("emails beyond one digest per sent day", max(0, emails - digests_sent)),
        ("sqlite integrity_check not ok", 0 if integrity == [("ok",)] else 1),
    ]


def daemon_log(path: Path) -> tuple[Counter[str], Counter[str], list[str]]:
    """(lines by level, WARNING+ messages by text, all messages) of the daemon's JSON log."""
    levels: Counter[str] = Counter()
    bad: Counter[str] = Counter()
    messages: list[str] = []
    if not path.exists():
        return levels, bad, messages
    for raw in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            line = json.loads(raw)
            level, message = str(line.get("level", "?")).upper(), str(line.get("message", ""))
        except (json.JSONDecodeError, AttributeError):
            level, message = "RAW", raw
        levels[level] += 1
        messages.append(message)
        if level in ("WARNING", "ERROR", "CRITICAL", "RAW"):
            bad[message.splitlines()[0][:160] if message else "?"] += 1
    return levels, bad, messages


def mb(kb: float) -> str:
    return f"{kb / 1024:.1f}"


# --- the run ----------------------------------------------------------------------------------


def run(duration: float, interval: float, status_every: float, stop_timeout: int, workdir: Path) -> int:
    from aiosmtpd.controller import Controller

    db = workdir / "recoverybot.db"
    log_path = workdir / "daemon.log"
    env = {k: v for k, v in os.environ.items() if k not in ("RECOVERYBOT_CONFIG", "RECOVERYBOT_DATA_DIR")}
    sink = SmtpSink()
    smtp_port = free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=smtp_port)
    failures: list[str] = []
    samples: list[Sample] = []
    with DemoShop() as shop:
        controller.start()
        try:
            config = soak_config(shop, workdir, smtp_port, stop_timeout)
            print(f"soak: {duration:.0f}s, sample every {interval:.0f}s, status every {status_every:.0f}s; "
                  f"demo shop {shop.base_url}; work folder {workdir}", flush=True)
            with open(log_path, "ab") as log_file:
                proc = subprocess.Popen(
                    [sys.executable, "-m", "bot.cli", "--config", str(config), "--log-format", "json", "run"],
                    cwd=ROOT, env=env, stdout=log_file, stderr=subprocess.STDOUT,
                )
                try:
                    stop = observe(proc, db, config, env, duration, interval, status_every, samples, failures,
                                   log_path)
                finally:
                    if proc.poll() is None:
                        proc.kill()
                        proc.wait(10)
        finally:
            controller.stop()
        requests = len(shop.requests)
    return report(samples, failures, stop, db, workdir, log_path, len(sink.messages), requests, stop_timeout)


@dataclass
class StopResult:
    hup_at: float | None = None
    reload_seen: bool = False
    rc: int | None = None
    stop_seconds: float | None = None
    status_seconds: list[float] = field(default_factory=list)
    status_calls: list[tuple[float, bool | None, list[str]]] = field(default_factory=list)  # (t, healthy, problems)
    warmup: float = 0.0


def observe(proc: subprocess.Popen[bytes], db: Path, config: Path, env: dict[str, str], duration: float,
            interval: float, status_every: float, samples: list[Sample], failures: list[str],
            log_path: Path) -> StopResult:
    result = StopResult()
    start = time.monotonic()
    deadline = start + duration
    last_status = -1e9
    next_row = 0.0
    warmup = result.warmup = duration * WARMUP_FRACTION
    healthy: bool | None = None
    problems: list[str] = []
    max_samples = int(duration / interval) + 20  # a hard cap whatever the clock does
    print(f"{'t':>6} {'rss MB':>7} {'fds':>4} {'thr':>4} {'db KB':>7} {'wal KB':>7} {'runs':>6} {'fail':>4} "
          f"{'mentions':>8} {'cases':>5} {'remedies':>8}  status", flush=True)
    for _ in range(max_samples):
        now = time.monotonic()
        if now >= deadline:
            break
        if proc.poll() is not None:
            failures.append(f"the daemon exited by itself with {proc.returncode} after {now - start:.0f}s")
            break
        t = now - start
        if result.hup_at is None and t >= duration / 2:
            proc.send_signal(signal.SIGHUP)
            result.hup_at = t
        if now - last_status >= status_every:
            last_status = now
            healthy, problems, seconds = status_json(config, env)
            result.status_seconds.append(seconds)
            result.status_calls.append((t, healthy, problems))
            if healthy is not True and t > warmup:
                failures.append(f"status at {t:.0f}s: " + ("; ".join(problems) or "unhealthy"))
        try:
            sample = take_sample(time.monotonic() - start, proc.pid, db)
        except sqlite3.Error as exc:  # a busy database is a missed sample, not the end of the soak
            print(f"sample at {t:.0f}s skipped: {exc}", flush=True)
            sample = None
        if sample is not None:
            sample.healthy, sample.problems = healthy, problems
            samples.append(sample)
            if t >= next_row:
                next_row += 60.0
                print_row(sample)
        if result.hup_at is not None and not result.reload_seen:
            result.reload_seen = reloaded(log_path)
        time.sleep(max(0.0, min(interval - (time.monotonic() - now), deadline - time.monotonic())))
    if samples:
        print_row(samples[-1])
    if result.hup_at is not None and not result.reload_seen:
        result.reload_seen = reloaded(log_path)
    if proc.poll() is None:
        sent = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        try:
            result.rc = proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            result.rc = None
        result.stop_seconds = time.monotonic() - sent
    else:
        result.rc = proc.returncode
    return result


def reloaded(log_path: Path) -> bool:
    """The daemon logged a reload of the unchanged config (no job rescheduled)."""
    text = log_path.read_text(encoding="utf-8", errors="replace")
    return "config reloaded" in text and "no schedule changed" in text


def print_row(s: Sample) -> None:
    health = {True: "healthy", False: "UNHEALTHY", None: "?"}[s.healthy]
    print(f"{s.t:6.0f} {mb(s.rss_kb):>7} {s.fds:4d} {s.threads:4d} {s.db_bytes / 1024:7.0f} {s.wal_bytes / 1024:7.0f} {s.runs:6d} {s.failed:4d} "
          f"{s.mentions:8d} {s.cases:5d} {s.remedies:8d}  {health}", flush=True)


def report(samples: list[Sample], failures: list[str], stop: StopResult, db: Path, workdir: Path, log_path: Path,
           emails: int, requests: int, stop_timeout: int) -> int:
    print("\n== summary ==")
    if len(samples) < 2:
        print("too few samples: the daemon did not run")
        return 1
    first, last = samples[0], samples[-1]
    jobs = job_table(db)
    total = sum(j["runs"] for j in jobs.values())
    print(f"ran {last.t:.0f}s, {len(samples)} samples, {total} job runs, {requests} requests to the demo shop, "
          f"{emails} digest email(s)")
    print(f"{'job':<16} {'runs':>5} {'failed':>6} {'median s':>9} {'max s':>7}")
    for name in sorted(jobs):
        j = jobs[name]
        d = j["durations"]
        print(f"{name:<16} {j['runs']:5d} {j['failed']:6d} {statistics.median(d) if d else 0:9.3f} "
              f"{max(d) if d else 0:7.3f}" + (f"  ({j['unfinished']} unfinished)" if j["unfinished"] else ""))
    failed = sum(j["failed"] for j in jobs.values())
    if failed:
        failures.append(f"{failed} failed job runs")
        for name in sorted(jobs):
            for why, n in jobs[name]["errors"].most_common(3):
                print(f"  failed {name} x{n}: {why}")
    warm = max(1, int(len(samples) * WARMUP_FRACTION))
    steady = samples[warm:]
    rss = [s.rss_kb for s in samples]
    rss_slope = slope_per_hour([(s.t, s.rss_kb) for s in steady])
    print(f"RSS MB: start {mb(first.rss_kb)}, median {mb(statistics.median(rss))}, end {mb(last.rss_kb)}, "
          f"max {mb(max(rss))}; growth {mb(rss_slope)} MB/h (least squares after {steady[0].t:.0f}s warm-up)")
    fd_leak, fd_why = leak_signal(samples, "fds")
    thr_leak, thr_why = leak_signal(samples, "threads")
    print(f"fds: start {first.fds}, end {last.fds}, max {max(s.fds for s in samples)} "
          f"({fd_why}){' LEAK SIGNAL' if fd_leak else ''}")
    print(f"threads: start {first.threads}, end {last.threads}, max {max(s.threads for s in samples)} "
          f"({thr_why}){' LEAK SIGNAL' if thr_leak else ''}")
    # The file grows in steps (at each WAL checkpoint): fit a line after the warm-up, not end - start.
    db_slope = slope_per_hour([(s.t, s.db_bytes) for s in steady])
    runs_slope = slope_per_hour([(s.t, s.runs) for s in steady]) or 1.0
    print(f"DB file: {first.db_bytes / 1024:.0f} KB -> {last.db_bytes / 1024:.0f} KB, after stop "
          f"{file_bytes(db) / 1024:.0f} KB; growth {db_slope / 1024:.0f} KB/h = "
          f"{db_slope / runs_slope * 1000 / 1024:.0f} KB per 1000 job runs (least squares after warm-up); "
          f"WAL max {max(s.wal_bytes for s in samples) / 1024:.0f} KB; run_log +{last.runs - first.runs} rows; "
          f"mentions {last.mentions}, cases {last.cases}, remedies {last.remedies}")
    after = [call for call in stop.status_calls if call[0] > stop.warmup]
    unhealthy = [call for call in after if call[1] is not True]
    print(f"status --json: {len(stop.status_seconds)} calls, median {statistics.median(stop.status_seconds or [0]):.1f}s; "
          f"unhealthy in {len(unhealthy)} of {len(after)} calls after warm-up"
          + (f", first at {unhealthy[0][0]:.0f}s: {'; '.join(unhealthy[0][2])}" if unhealthy else ""))
    if stop.hup_at is None:
        failures.append("SIGHUP was never sent")
    print(f"SIGHUP at {stop.hup_at or 0:.0f}s: "
          + ("'config reloaded ... no schedule changed' logged" if stop.reload_seen else "NO reload in the log"))
    if not stop.reload_seen:
        failures.append("the reload after SIGHUP was not logged")
    limit = stop_timeout + STOP_SLACK
    stop_text = "n/a" if stop.stop_seconds is None else f"{stop.stop_seconds:.1f}s"
    print(f"SIGTERM: exit {stop.rc} after {stop_text} (limit {stop_timeout}s stop_timeout + {STOP_SLACK:.0f}s)")
    if stop.rc != 0:
        failures.append(f"the daemon exited {stop.rc} on SIGTERM")
    elif stop.stop_seconds is not None and stop.stop_seconds > limit:
        failures.append(f"the stop took {stop.stop_seconds:.1f}s, over {limit:.0f}s")
    checks = invariants(db, workdir, emails)
    print("invariants: " + ", ".join(f"{name} {n}" for name, n in checks))
    broken = [name for name, n in checks if n]
    if broken:
        failures.append("invariants broken: " + ", ".join(broken))
    levels, bad, messages = daemon_log(log_path)
    print("daemon log: " + ", ".join(f"{k} {v}" for k, v in sorted(levels.items())))
    for message, n in bad.most_common(5):
        print(f"  x{n}: {message}")
    stray = [m for m in messages if "Traceback" in m]
    if stray:
        failures.append(f"{len(stray)} tracebacks in the daemon log")
    leaks = [what for what, flag in (("fds", fd_leak), ("threads", thr_leak)) if flag]
    # duplicate failure texts (a status problem repeated every sample) are shown once with a count
    counted = Counter(failures)
    print("verdict: " + ("OK: no leak signal, no failure" if not leaks and not failures else
                          "FAIL: " + "; ".join([f"leak signal in {', '.join(leaks)}"] if leaks else [])
                          + ("; " if leaks and failures else "")
                          + "; ".join(f"{f}" + (f" (x{n})" if n > 1 else "") for f, n in list(counted.items())[:6])))
    return 0 if not leaks and not failures else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="how long the daemon runs (default 10)")
    parser.add_argument("--quick", action="store_true", help="a 60 s run")
    parser.add_argument("--interval", type=float, default=5.0, help="seconds between samples (default 5)")
    parser.add_argument("--status-every", type=float, default=15.0,
                        help="seconds between `status --json` calls (default 15)")
    parser.add_argument("--stop-timeout", type=int, default=10, help="[schedule] stop_timeout in seconds (default 10)")
    parser.add_argument("--keep", action="store_true", help="keep the work folder (config, database, daemon.log)")
    args = parser.parse_args(argv)
    duration = 60.0 if args.quick else max(0.5, min(args.minutes, 24 * 60)) * 60.0
    interval = max(1.0, args.interval)
    workdir = Path(tempfile.mkdtemp(prefix="recoverybot-soak-"))
    try:
        return run(duration, interval, max(interval, args.status_every), max(1, args.stop_timeout), workdir)
    finally:
        if args.keep:
            print(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
