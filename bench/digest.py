"""How long the digest takes to build for a busy day: 10,000 mentions (default) in a SQLite store.

Builds a store in a temporary folder with N mentions on the day (a fifth unhappy, cases, remedies
of every state, failing sources) plus 13 days of history for the chart, then times
``bot.digest.build`` (best and median of several runs) and prints the figures.

    python bench/digest.py [--mentions 10000] [--runs 5]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.report import digest  # noqa: E402 - after the sys.path line above
from bot.config import Config  # noqa: E402
from bot.store import (  # noqa: E402
    Assessment,
    BudgetPeriod,
    Case,
    CaseMention,
    CaseStatus,
    Mention,
    Remedy,
    RemedyStatus,
    SourceState,
    fingerprint,
    open_store,
)

DAY = date(2026, 11, 24)
NOW = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)
SOURCES = ["shop", "trustpilot", "appstore", "reddit", "mastodon", "bluesky"]
ISSUES = ["defective", "damaged", "not_delivered", "wrong_item", "poor_quality", "service"]


def fill(url: str, mentions: int, history: int, seed: int = 7) -> None:
    rnd = random.Random(seed)
    store = open_store(url)
    start = datetime(2026, 11, 24, 0, 0, tzinfo=UTC)
    with store.session() as s:
        rows = []
        for i in range(mentions + history):
            on_day = i < mentions
            when = start + timedelta(seconds=rnd.randrange(86400)) if on_day else \
                start - timedelta(days=rnd.randrange(1, 14), seconds=rnd.randrange(86400))
            source = rnd.choice(SOURCES)
            text = f"Review {i}: " + " ".join(rnd.choice(["great", "broken", "late", "nice", "awful", "ok"])
                                              for _ in range(30))
            rows.append(Mention(source=source, source_kind=source, external_id=str(i),
                                url=f"https://{source}.example/{i}", author_name=f"Buyer {i}", text=text,
                                rating=float(rnd.randint(1, 5)), published_at=when, collected_at=when,
                                fingerprint=fingerprint(text)))
        s.add_all(rows)
        s.flush()
        assessments, cases = [], []
        for m in rows:
            unhappy = rnd.random() < 0.2
            assessments.append(Assessment(mention_id=m.id, sentiment=-rnd.random() if unhappy else rnd.random(),
                                          unhappy=unhappy, issue=rnd.choice(ISSUES) if unhappy else "none",
                                          confidence=0.8, cues=["broken", "awful"] if unhappy else []))
            if unhappy and m.collected_at >= start and rnd.random() < 0.5:
                cases.append(Case(subject_key=f"k{m.id}", issue=rnd.choice(ISSUES), mention_id=m.id,
                                  status=rnd.choice([CaseStatus.AWAITING_APPROVAL, CaseStatus.DISPATCHED,
                                                     CaseStatus.UNMATCHED, CaseStatus.FAILED]).value,
                                  rule="r", reasons=["because"], approval_reason="above auto_up_to",
                                  created_at=m.collected_at))
        s.add_all(assessments)
        s.add_all(cases)
        s.flush()
        remedies = []
        for c in cases:
            s.add(CaseMention(case_id=c.id, mention_id=c.mention_id))
            status = {"awaiting_approval": RemedyStatus.PROPOSED, "dispatched": RemedyStatus.DISPATCHED,
                      "failed": RemedyStatus.FAILED}.get(c.status)
            if status is not None:
                remedies.append(Remedy(case_id=c.id, kind="replacement", amount=Decimal("19.90"),
                                       idempotency_key=f"r{c.id}", status=status.value, note="Hello, a new one.",
                                       created_at=c.created_at, attempts=3 if status is RemedyStatus.FAILED else 1,
                                       last_error="503" if status is RemedyStatus.FAILED else None,
                                       dispatched_at=c.created_at if status is RemedyStatus.DISPATCHED else None))
        s.add_all(remedies)
        for name in SOURCES:
            failing = name == "reddit"
            s.add(SourceState(name=name, kind=name, cursor={}, consecutive_failures=4 if failing else 0,
                              failing_since=start if failing else None,
                              last_error_message="429 Too Many Requests" if failing else None))
        s.add(BudgetPeriod(period="month:2026-11", reserved=Decimal(900), cap=Decimal(2000)))
    store.dispose()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mentions", type=int, default=10_000, help="mentions on the digest's day")
    parser.add_argument("--history", type=int, default=20_000, help="mentions on the 13 days before")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    config = Config.model_validate({
        "bot": {"timezone": "Europe/London", "shop_name": "Bench shop"},
        "sources": [{"name": n, "kind": n} for n in SOURCES],
        "digest": {"to": ["ops@bench.test"]},
    })
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        t0 = time.perf_counter()
        fill(url, args.mentions, args.history)
        print(f"store: {args.mentions} mentions on {DAY} + {args.history} before, filled in "
              f"{time.perf_counter() - t0:.1f}s")
        store = open_store(url)
        try:
            times = []
            for _ in range(args.runs):
                t = time.perf_counter()
                report = digest.build(store, config, day=DAY, now=NOW)
                times.append(time.perf_counter() - t)
        finally:
            store.dispose()
    c = report.counts
    print(f"digest: {c.mentions} mentions, {c.unhappy} unhappy, {c.waiting} waiting, {c.sent} sent, "
          f"{c.watch} on the watch list; html {len(report.html) // 1024} KiB, text {len(report.text) // 1024} KiB")
    print(f"build: best {min(times):.3f}s, median {statistics.median(times):.3f}s over {args.runs} runs")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
