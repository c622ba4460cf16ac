"""Fault-injection bench: hostile and faulty sources on loopback against a real `recoverybot run`.

For each fault a fresh work folder gets a config with two sources: ``control`` (one good product
page) and ``fault`` (the faulty URL, plus one good page of its own), served by a loopback HTTP
server (``tests/httpserver.py``; a second one on 127.0.0.2 plays "another host"). The daemon runs
as a subprocess (``python -m bot.cli --config X run``) with ``[schedule] heartbeat_every = "1s"``;
while it runs, the bench reads the daemon's heartbeat row (``run_log`` job ``daemon``, its
``heartbeat_at``) every 0.2 s and keeps the largest gap between two beats. Once both sources have
run (and the fault a second time, or a deadline passed) it sends SIGTERM and times the exit.

One line per fault:

- ``outcome``: what the daemon recorded for the fault source's last finished run (its RunLog
  summary line: names the source and the URL), or ``no error`` and what it collected;
- ``gap``: the largest heartbeat gap (the daemon beats every second: above 2 s it stalled);
- ``stop``: seconds from SIGTERM to exit, and the exit code;
- ``lost``: good reviews not stored (the control page and the fault source's own good page).

    .venv/bin/python bench/faults.py             # every fault
    .venv/bin/python bench/faults.py slow_drip gzip_bomb
    .venv/bin/python bench/faults.py --keep      # keep the work folders (config, db, daemon.log)

Exit code 0 when every fault was recorded as an error naming source and URL (or collected without
one where that is right), no gap above 2 s, every stop within ``stop_timeout`` with code 0, and
nothing lost. Only 127.0.0.1 and 127.0.0.2 are used; every wait has a deadline.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.httpserver import LocalServer, Route  # noqa: E402 - after the sys.path line above

STOP_TIMEOUT = 5.0  # [schedule] stop_timeout of the bench config
RUN_DEADLINE = 60.0  # seconds a fault gets to show its effect before SIGTERM
MAX_GAP = 2.0  # seconds: a longer heartbeat gap is a stalled daemon


def product_page(name: str, text: str) -> str:
    """A product page with one JSON-LD review (what the schema_org connector reads)."""
    data = {"@context": "https://schema.org", "@type": "Product", "name": name, "sku": name.upper()[:8],
            "review": [{"@type": "Review", "author": {"@type": "Person", "name": f"Buyer of {name}"},
                        "datePublished": "2026-11-20", "reviewBody": text,
                        "reviewRating": {"@type": "Rating", "ratingValue": 1}}]}
    return (f"<html><head><title>{name}</title><script type=\"application/ld+json\">{json.dumps(data)}</script>"
            f"</head><body><h1>{name}</h1></body></html>")


@dataclass
class Fault:
    name: str
    what: str
    route: Callable[[LocalServer, LocalServer], Route]  # (main server, other host) -> the faulty answer
    sitemap: bool = False  # the faulty URL is the source's sitemap, not one of its pages
    expect_error: bool = True


def _many_reviews(n: int) -> str:
    """One product page carrying `n` JSON-LD reviews (25,000 fit in the default max_bytes)."""
    reviews = [{"@type": "Review", "author": {"@type": "Person", "name": f"B{i}"}, "datePublished": "2026-11-20",
                "reviewBody": f"Broke on day {i}.", "reviewRating": {"ratingValue": 1 + i % 5}} for i in range(n)]
    data = {"@context": "https://schema.org", "@type": "Product", "name": "Crowded", "review": reviews}
    return f"<html><head><script type=\"application/ld+json\">{json.dumps(data)}</script></head></html>"


def _gzip_bomb() -> bytes:
    # 200 MB of zeros in about 200 KB: a reader that inflates it whole runs out of memory
    return gzip.compress(b"\0" * 200_000_000, compresslevel=9)


FAULTS = [
    Fault("slow_drip", "a page sent 1 byte a second",
          lambda s, o: Route(body=product_page("Drip", "It trickled in.") * 3, trickle=1.0)),
    Fault("huge_page", "a 20 MB page (max_bytes is 5 MB)",
          lambda s, o: Route(body=b"<html>" + b"x" * 20_000_000 + b"</html>", content_type="text/html")),
    Fault("gzip_bomb", "200 MB of zeros in a 200 KB gzip body",
          lambda s, o: Route(body=_gzip_bomb(), content_type="text/html", headers={"Content-Encoding": "gzip"})),
    Fault("unclosed_sitemap", "a 1.2 MB sitemap of 200,000 unclosed <url> tags",
          lambda s, o: Route(body="<?xml version=\"1.0\"?><urlset>" + "<url>x" * 200_000, content_type="application/xml"),
          sitemap=True),
    Fault("unclosed_jsonld", "a 288 KB page with an unclosed JSON-LD script",
          lambda s, o: Route(body="<html><head>" + "<script type=\"application/ld+json\">{\"a\": 1}" * 8000,
                             content_type="text/html")),
    Fault("nested_jsonld", "JSON-LD nested 100,000 levels deep",
          lambda s, o: Route(body="<html><head><script type=\"application/ld+json\">" + "[" * 100_000
                             + "]" * 100_000 + "</script></head></html>", content_type="text/html")),
    Fault("redirect_other_host", "a 302 to a host the source does not name",
          lambda s, o: Route(status=302, body="", headers={"Location": "http://elsewhere.invalid/steal"})),
    Fault("redirect_127_0_0_2", "a 302 to 127.0.0.2 (loopback, not allowed)",
          lambda s, o: Route(status=302, body="", headers={"Location": o.url("/internal")})),
    Fault("http_500", "every answer a 500",
          lambda s, o: Route(status=500, body="<h1>Internal Server Error</h1>", content_type="text/html")),
    Fault("many_reviews", "one page of 25,000 reviews (no per-page cap on main yet)",
          lambda s, o: Route(body=_many_reviews(25_000), content_type="text/html"), expect_error=False),
    Fault("invalid_charset", "a page declaring charset=x-no-such-charset",
          lambda s, o: Route(body=product_page("Charset", "Caf\u00e9 \u2013 the lid broke.").encode("utf-8")
                             + b"\xff\xfe\xfd", content_type="text/html; charset=x-no-such-charset", charset=None),
          expect_error=False),
]


def config_text(db: Path, control: str, fault_url: str, good: str, sitemap: bool) -> str:
    fault = (f'sitemap = "{fault_url}"\nsitemap_match = "."\nurls = ["{good}"]' if sitemap
             else f'urls = ["{fault_url}", "{good}"]')
    return f"""
[bot]
database = "sqlite:///{db}"
shop_name = "Fault Bench"
dry_run = true

[http]
allow_private = ["127.0.0.1"]
retries = 0
read_timeout = 3.0
connect_timeout = 2.0
total_timeout = 5.0
per_host_delay = 0

[schedule]
collect_every = "3s"
jitter = "0s"
dispatch_every = "1s"
stop_timeout = "{STOP_TIMEOUT:g}s"
heartbeat_every = "1s"

[[sources]]
name = "control"
kind = "schema_org"
urls = ["{control}"]
every = "3s"

[[sources]]
name = "fault"
kind = "schema_org"
{fault}
every = "3s"
"""


def query(db: Path, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    if not db.exists():
        return []
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=2)
    except sqlite3.Error:
        return []
    try:
        return conn.execute(sql, args).fetchall()
    except sqlite3.Error:
        return []  # not migrated yet, or busy
    finally:
        conn.close()


def heartbeat(db: Path) -> datetime | None:
    rows = query(db, "SELECT summary FROM run_log WHERE job = 'daemon' ORDER BY id DESC LIMIT 1")
    if not rows or not rows[0][0]:
        return None
    try:
        return datetime.fromisoformat(json.loads(rows[0][0])["heartbeat_at"])
    except (ValueError, KeyError, TypeError):
        return None


def finished_runs(db: Path, job: str) -> list[dict[str, Any]]:
    rows = query(db, "SELECT summary FROM run_log WHERE job = ? AND finished_at IS NOT NULL ORDER BY id", job)
    out = []
    for (raw,) in rows:
        try:
            out.append(json.loads(raw) if raw else {})
        except ValueError:
            out.append({})
    return out


@dataclass
class Outcome:
    fault: str
    outcome: str
    recorded: bool  # an error naming the source and the URL was recorded
    max_gap: float
    stop_seconds: float
    exit_code: int | None
    lost: list[str]
    ok: bool


def run_fault(fault: Fault, work: Path, server: LocalServer, other: LocalServer) -> Outcome:
    work.mkdir(parents=True, exist_ok=True)
    db = work / "bench.db"
    server.routes[f"/{fault.name}/bad"] = fault.route(server, other)
    server.routes[f"/{fault.name}/good"] = Route(body=product_page(f"Good {fault.name}", f"Good page of {fault.name}: "
                                                                   "the fan stopped working."),
                                                 content_type="text/html")
    server.routes[f"/{fault.name}/control"] = Route(body=product_page(f"Control {fault.name}", "The kettle "
                                                                      "leaks, it arrived broken."),
                                                    content_type="text/html")
    bad_url = server.url(f"/{fault.name}/bad")
    config = work / "config.toml"
    config.write_text(config_text(db, server.url(f"/{fault.name}/control"), bad_url, server.url(f"/{fault.name}/good"),
                                  fault.sitemap), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k != "RECOVERYBOT_CONFIG"}
    with open(work / "daemon.log", "wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "bot.cli", "--config", str(config), "--log-format", "json",
                                 "run"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        beats: list[datetime] = []
        gaps: list[float] = [0.0]
        started = time.monotonic()
        exit_code: int | None = None
        stop_seconds = float("nan")
        try:
            while time.monotonic() - started < RUN_DEADLINE and proc.poll() is None:
                beat = heartbeat(db)
                if beat is not None and (not beats or beat != beats[-1]):
                    if beats:
                        gaps.append((beat - beats[-1]).total_seconds())
                    beats.append(beat)
                # the fault has had its effect: two finished runs of the fault source (the second
                # after the first was recorded), and the control source ran too
                if len(finished_runs(db, "collect:fault")) >= 2 and finished_runs(db, "collect:control"):
                    break
                time.sleep(0.2)
            # the heartbeat still moves (a stall that began just now shows here)
            settle = time.monotonic() + 3
            while time.monotonic() < settle and proc.poll() is None:
                beat = heartbeat(db)
                if beat is not None and beats and beat != beats[-1]:
                    gaps.append((beat - beats[-1]).total_seconds())
                    beats.append(beat)
                time.sleep(0.2)
            if beats and proc.poll() is None:
                # a beat that has not come since the last one is a gap too (a stall in progress)
                last = heartbeat(db)
                if last is not None:
                    gaps.append(max(0.0, (datetime.now(last.tzinfo) - last).total_seconds()))
            sent = time.monotonic()
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
            try:
                exit_code = proc.wait(STOP_TIMEOUT + 10)
            except subprocess.TimeoutExpired:
                exit_code = None
            stop_seconds = time.monotonic() - sent
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
    runs = finished_runs(db, "collect:fault")
    lines = [str(line).strip() for run in runs[-1:] for line in run.get("lines") or []]
    fault_line = next((line for line in lines if line.startswith("fault ")), "; ".join(lines) or "no finished run")
    errors = [str(e) for run in runs[-1:] for result in run.get("results") or [] for e in result.get("errors") or []]
    recorded = any(bad_url in e for e in errors) and fault_line.startswith("fault ")
    if errors:
        outcome = "[fault] " + next((e for e in errors if bad_url in e), errors[0])
    else:
        kept = query(db, "SELECT count(*) FROM mention WHERE source = 'fault'")
        outcome = f"no error: {kept[0][0] if kept else 0} reviews stored from the fault source; last run: " + fault_line
    stored = {str(text) for (text,) in query(db, "SELECT text FROM mention")}
    lost = [label for label, text in (("control", "The kettle leaks, it arrived broken."),
                                      ("good page", f"Good page of {fault.name}: the fan stopped working."))
            if text not in stored]
    max_gap = max(gaps)
    ok = (recorded or not fault.expect_error) and max_gap <= MAX_GAP and exit_code == 0 \
        and stop_seconds <= STOP_TIMEOUT + 2 and not lost
    return Outcome(fault.name, outcome, recorded, max_gap, stop_seconds, exit_code, lost, ok)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("faults", nargs="*", help="only these faults (default: all)")
    parser.add_argument("--keep", action="store_true", help="keep the work folders")
    args = parser.parse_args(argv)
    chosen = [f for f in FAULTS if not args.faults or f.name in args.faults]
    unknown = set(args.faults) - {f.name for f in FAULTS}
    if unknown:
        parser.error(f"unknown faults: {', '.join(sorted(unknown))} (known: {', '.join(f.name for f in FAULTS)})")
    root = Path(tempfile.mkdtemp(prefix="recoverybot-faults-"))
    results: list[Outcome] = []
    print(f"{'fault':<20} {'outcome (recorded for the fault source)':<150} {'gap':>5} {'stop':>9}  lost")
    with LocalServer() as server, LocalServer(host="127.0.0.2") as other:
        other.routes["/internal"] = Route(body=product_page("Internal", "secret internal data"),
                                          content_type="text/html")
        for fault in chosen:
            result = run_fault(fault, root / fault.name, server, other)
            results.append(result)
            outcome = result.outcome.replace("\n", " ")
            # the middle goes, the URL at the end stays
            outcome = outcome if len(outcome) <= 150 else outcome[:92] + " ... " + outcome[-53:]
            print(f"{result.fault:<20} {outcome:<150} {result.max_gap:>4.1f}s {result.stop_seconds:>4.1f}s ({result.exit_code})"
                  f"  {', '.join(result.lost) or 'nothing'}{'' if result.ok else '  <-- FAIL'}", flush=True)
        internal_hits = other.hits("/internal")
    print(f"requests that reached 127.0.0.2: {internal_hits}")
    failed = [r.fault for r in results if not r.ok] + (["redirect_127_0_0_2 reached"] if internal_hits else [])
    print("all faults held" if not failed else f"FAILED: {', '.join(failed)}")
    if args.keep:
        print(f"work folders kept in {root}")
    else:
        shutil.rmtree(root, ignore_errors=True)
    return 0 if not failed else 1


if __name__ == "__main__":
    sys.exit(main())
