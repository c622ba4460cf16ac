"""Draw a complaint-rich labelling round from the texts of ../shared/corpus/ not labelled yet.

The remedy and issue parts of the scorer learn from remedy-worthy texts, which are about one in six
of a random draw; a further round therefore draws unlabelled texts of 1-3 stars or none that the
current scorer reads as a possible remedy (p_remedy at least --floor), proportional by source tag,
in a deterministic order (a salted hash of each id). All of a round goes to `train`, so dev and
test stay the same random draws.

    python bench/labels/draw_round.py OUTDIR --round 4 --n 1500 [--batch 500] [--floor 0.10]
    python bench/labels/draw_round.py OUTDIR --round 6 --all [--batch 600]

`--all` draws every text not labelled yet, whatever its stars and score (round 6: the rest of the
corpus, so the model also learns from the mild and happy texts the complaint-rich rounds left out);
it needs no scorer.

Writes OUTDIR/batch_NN.jsonl (id, source tag, rating, lang, text) and OUTDIR/second_pass.jsonl
(a random 10 %). Batches hold other people's words: never copy them into the repository.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from collections import defaultdict
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parents[2]), str(Path(__file__).resolve().parent)]

from sample import CORPUS, load, rank  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("outdir", type=Path)
    ap.add_argument("--round", type=int, required=True)
    ap.add_argument("--n", type=int, default=1500)
    ap.add_argument("--batch", type=int, default=500)
    ap.add_argument("--floor", type=float, default=0.10)
    ap.add_argument("--all", action="store_true", help="every unlabelled text, no scorer, no floor")
    ap.add_argument("--labels", type=Path, default=Path(__file__).resolve().parent / "corpus.jsonl")
    args = ap.parse_args()

    labelled = {json.loads(line)["id"] for line in args.labels.read_text(encoding="utf-8").splitlines() if line.strip()}
    rows = [r for name in ("reviews", "social") for r in load(name, CORPUS)
            if r["id"] not in labelled and (args.all or r["rating"] is None or r["rating"] <= 3)]
    candidates: dict[str, list[dict]] = defaultdict(list)
    if args.all:
        for row in rows:
            candidates[row["id"].split(":", 1)[0]].append(row)
        args.n = len(rows)
    else:
        from bot.scoring import Scorer

        scorer = Scorer()
        for i, row in enumerate(rows):
            a = scorer.assess(row["text"], row["rating"])
            if a.scored and (a.p_remedy or 0.0) >= args.floor:
                candidates[row["id"].split(":", 1)[0]].append(row)
            if i % 2000 == 0:
                print(f"scored {i:,} of {len(rows):,}", file=sys.stderr)
    total = sum(len(v) for v in candidates.values())
    frac = min(1.0, args.n / max(total, 1))
    picked: list[dict] = []
    for tag in sorted(candidates):
        members = sorted(candidates[tag], key=lambda r: rank(r["id"], f"round{args.round}"))
        picked.extend(members[: math.ceil(frac * len(members))])
    picked = sorted(picked, key=lambda r: rank(r["id"], f"round{args.round}-order"))[: args.n]
    args.outdir.mkdir(parents=True, exist_ok=True)
    for b in range(0, len(picked), args.batch):
        with open(args.outdir / f"batch_{b // args.batch:02d}.jsonl", "w", encoding="utf-8") as fh:
            for r in picked[b: b + args.batch]:
                fh.write(json.dumps({"id": r["id"], "source": r["id"].split(":", 1)[0], "rating": r["rating"],
                                     "lang": r.get("lang"), "text": r["text"]}, ensure_ascii=False) + "\n")
    second = sorted(picked, key=lambda r: rank(r["id"], f"round{args.round}-second"))[: max(1, len(picked) // 10)]
    with open(args.outdir / "second_pass.jsonl", "w", encoding="utf-8") as fh:
        for r in second:
            fh.write(json.dumps({"id": r["id"], "source": r["id"].split(":", 1)[0], "rating": r["rating"],
                                 "lang": r.get("lang"), "text": r["text"]}, ensure_ascii=False) + "\n")
    by_source = defaultdict(int)
    for r in picked:
        by_source[r["id"].split(":", 1)[0]] += 1
    print(f"{total:,} candidates of {len(rows):,} unlabelled texts; drew {len(picked):,}: "
          + ", ".join(f"{k} {v}" for k, v in sorted(by_source.items())))


if __name__ == "__main__":
    main()
