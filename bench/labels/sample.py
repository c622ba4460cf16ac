"""Draw the ids to label from ../shared/corpus/ and write labelling batches (with texts) to a folder
outside the repository.

The draw is deterministic (a hash of each id with a fixed salt), stratified by source and star
level so every source, star level and language is represented in proportion:

    python bench/labels/sample.py OUTDIR [--reviews 4600] [--posts 1600] [--batch 520]
    python bench/labels/sample.py OUTDIR --skip bench/labels/corpus.jsonl --reviews 2000 --posts 500 \
        --first-batch 20 --no-second-pass      # a further round: ids not labelled yet

Writes OUTDIR/batch_NN.jsonl (id, source tag, rating, lang, text) and OUTDIR/second_pass.jsonl
(a random 10 % of the drawn ids, for the agreement check). Batches hold other people's words:
never copy them into the repository.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import math
from collections import defaultdict
from pathlib import Path

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "corpus"
SALT = "recoverybot-labels-2026"


def rank(text_id: str, salt: str = SALT) -> str:
    return hashlib.sha256(f"{salt}:{text_id}".encode()).hexdigest()


def load(name: str, corpus: Path = CORPUS) -> list[dict]:
    with open(corpus / f"{name}.jsonl", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def draw(rows: list[dict], n: int) -> list[dict]:
    """n rows, each (source tag, rating) stratum in proportion, by hash rank within it."""
    strata: dict[tuple[str, object], list[dict]] = defaultdict(list)
    for row in rows:
        strata[(row["id"].split(":", 1)[0], row["rating"])].append(row)
    frac = n / len(rows)
    picked: list[dict] = []
    for key in sorted(strata, key=str):
        members = sorted(strata[key], key=lambda r: rank(r["id"]))
        picked.extend(members[: math.ceil(frac * len(members))])
    return sorted(picked, key=lambda r: rank(r["id"], "order"))[:n]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("outdir", type=Path)
    ap.add_argument("--reviews", type=int, default=4600)
    ap.add_argument("--posts", type=int, default=1600)
    ap.add_argument("--batch", type=int, default=520)
    ap.add_argument("--skip", type=Path, help="a labels file whose ids are not drawn again")
    ap.add_argument("--first-batch", type=int, default=0, help="number of the first batch file")
    ap.add_argument("--no-second-pass", action="store_true")
    args = ap.parse_args()
    args.outdir.mkdir(parents=True, exist_ok=True)
    skip: set[str] = set()
    if args.skip:
        skip = {json.loads(line)["id"] for line in args.skip.read_text(encoding="utf-8").splitlines() if line.strip()}
    reviews = [r for r in load("reviews") if r["id"] not in skip]
    posts = [r for r in load("social") if r["id"] not in skip]
    chosen = draw(reviews, args.reviews) + draw(posts, args.posts)
    keep = ("id", "rating", "lang", "text")
    n = args.first_batch
    for kind in ("reviews", "posts"):
        part = chosen[: args.reviews] if kind == "reviews" else chosen[args.reviews :]
        parts = math.ceil(len(part) / args.batch)
        for i in range(parts):
            with open(args.outdir / f"batch_{n:02d}.jsonl", "w", encoding="utf-8") as fh:
                for row in part[i * len(part) // parts : (i + 1) * len(part) // parts]:
                    fh.write(json.dumps({k: row[k] for k in keep}, ensure_ascii=False) + "\n")
            n += 1
    second = [] if args.no_second_pass else sorted(chosen, key=lambda r: rank(r["id"], "second"))[: len(chosen) // 10]
    if second:
        with open(args.outdir / "second_pass.jsonl", "w", encoding="utf-8") as fh:
            for row in second:
                fh.write(json.dumps({k: row[k] for k in keep}, ensure_ascii=False) + "\n")
    print(f"{len(chosen)} texts in {n - args.first_batch} batches, {len(second)} for the second pass, in {args.outdir}")


if __name__ == "__main__":
    main()
