"""Scoring speed: TextBlob polarity alone vs the full ``assess``, same texts, one core.

Builds reviews of ~800 characters from the real corpus' own mix of texts (../shared/corpus/:
reviews and posts in every language it holds, joined until ~800 characters; deterministic seed),
then times both in the same run (interleaved blocks of 200 reviews, so a shared machine's
drifting load falls on both alike) and prints reviews/s, the ratio, start-up and memory.

    python bench/score.py [--n 3000] [--no-model]
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

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus"


def make_reviews(n: int, size: int = 800, seed: int = 0) -> list[str]:
    if not (CORPUS / "reviews.jsonl").exists():
        raise SystemExit(f"no corpus at {CORPUS}: this benchmark reads ../shared/corpus/")
    sentences: list[str] = []
    for name in ("reviews", "social"):
        for line in (CORPUS / f"{name}.jsonl").read_text(encoding="utf-8").splitlines():
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
    ap.add_argument("--n", type=int, default=3_000)
    ap.add_argument("--no-model", action="store_true", help="rules alone ([scoring] model = false)")
    ap.add_argument("--block", type=int, default=200, help="reviews per interleaved timing block")
    args = ap.parse_args()
    reviews = make_reviews(args.n)
    started = time.perf_counter()
    scorer = Scorer(ScoringConfig(model=not args.no_model))
    scorer.assess(reviews[0])  # warm-up: lazy lexicons, first-call caches, the language identifier
    startup = time.perf_counter() - started
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
    import resource

    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"scorer built and warm in {startup:.2f}s (after its imports); peak memory {rss:.0f} MB")


if __name__ == "__main__":
    main()
