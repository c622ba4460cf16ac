"""Scoring speed: TextBlob polarity alone vs the full ``assess``, same texts, one core.

Builds 10,000 reviews of ~800 characters by stitching sentences from the labelled dev set
(deterministic seed), then times both in the same run and prints reviews/s and the ratio.

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

from bot.sentiment import Scorer, ScoringConfig

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
    args = ap.parse_args()
    reviews = make_reviews(args.n)
    scorer = Scorer(ScoringConfig(model=not args.no_model))
    scorer.assess(reviews[0])  # warm-up: lazy lexicons, first-call caches
    _ = TextBlob(reviews[0]).sentiment.polarity

    t0 = time.perf_counter()
    for text in reviews:
        _ = TextBlob(text).sentiment.polarity
    tb = time.perf_counter() - t0

    t0 = time.perf_counter()
    for text in reviews:
        scorer.assess(text)
    full = time.perf_counter() - t0

    avg = sum(map(len, reviews)) / len(reviews)
    print(f"{len(reviews)} reviews, {avg:.0f} characters on average")
    print(f"TextBlob polarity alone : {len(reviews) / tb:8.0f} reviews/s")
    print(f"full assess             : {len(reviews) / full:8.0f} reviews/s")
    print(f"ratio (assess / TextBlob): {tb / full:.2f}x")


if __name__ == "__main__":
    main()
