"""Scoring speed: TextBlob polarity alone vs the full ``assess``, same texts, one core.

Builds 10,000 reviews of ~800 characters by stitching sentences from the labelled dev set
(deterministic seed), then times both in the same run (interleaved blocks of 200 reviews, so a shared machine's drifting
load falls on both alike) and prints reviews/s and the ratio.

    python bench/score.py [--n 10000] [--no-model]
"""

from __future__ import annotations

import argparse
import json
import random
import re
import time
from pathlib import Path

from textblob import TextBlob

from bot.scoring import Scorer, ScoringConfig

DEV = Path(__file__).resolve().parent.parent / "tests" / "data" / "scoring_dev.jsonl"


def make_reviews(n: int, size: int = 800, seed: int = 0) -> list[str]:
    sentences: list[str] = []
    for line in DEV.read_text(encoding="utf-8").splitlines():
        sentences.extend(s for s in re.split(r"(?<=[.!?])\s+", json.loads(line)["text"]) if s)
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        parts: list[str] = []
        length = 0
        while length < size:
            s = rng.choice(sentences)
            parts.append(s)
            length += len(s) + 1
        out.append(" ".join(parts)[: size + 60])
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--no-model", action="store_true", help="rules alone ([scoring] model = false)")
    ap.add_argument("--block", type=int, default=200, help="reviews per interleaved timing block")
    args = ap.parse_args()
    reviews = make_reviews(args.n)
    scorer = Scorer(ScoringConfig(model=not args.no_model))
    scorer.assess(reviews[0])  # warm-up: lazy lexicons, first-call caches
    _ = TextBlob(reviews[0]).sentiment.polarity

    # Interleaved blocks: on a shared machine the load drifts over a run, and timing all of one
    # then all of the other lets the drift decide the ratio. Each block is timed both ways.
    tb = full = 0.0
    perf = time.perf_counter
    for i in range(0, len(reviews), args.block):
        block = reviews[i:i + args.block]
        t0 = perf()
        for text in block:
            _ = TextBlob(text).sentiment.polarity
        t1 = perf()
        for text in block:
            scorer.assess(text)
        t2 = perf()
        tb += t1 - t0
        full += t2 - t1

    avg = sum(map(len, reviews)) / len(reviews)
    print(f"{len(reviews)} reviews, {avg:.0f} characters on average")
    print(f"TextBlob polarity alone : {len(reviews) / tb:8.0f} reviews/s")
    print(f"full assess             : {len(reviews) / full:8.0f} reviews/s")
    print(f"ratio (assess / TextBlob): {tb / full:.2f}x")


if __name__ == "__main__":
    main()
