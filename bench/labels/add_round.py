"""Add a labelling round drawn by draw_round.py to corpus.jsonl (all in `train`) and its blind second
pass to second_pass.jsonl, after checking every label; print the round's agreement (Cohen's kappa).

    python bench/labels/add_round.py LABELDIR --round 6

LABELDIR holds batch_NN.jsonl (the drawn texts) with batch_NN.labels.jsonl beside each, and
the blind second pass as second_pass_X.jsonl parts with second_pass_X.labels.jsonl beside each.
A batch or part with no labels file is left out, and said so (its texts stay unlabelled, for a
later run); a labels file that is there must be complete and valid, or nothing is written: each
drawn id labelled exactly once, values in the allowed sets, `issue` "none" exactly when
`unhappy` is 0 and `remedy_worthy` only when unhappy. Ids already in corpus.jsonl are refused
(a round adds texts; settle.py changes labels). Second-pass labels of texts left out are dropped.
Notes are dropped: they might quote the text.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from agreement import kappa  # noqa: E402

ISSUES = {"defective", "damaged", "missing_parts", "wrong_item", "not_delivered", "fit_size",
          "not_as_described", "poor_quality", "service", "price_value", "other"}


def read(path: Path) -> list[dict]:
    rows = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise SystemExit(f"{path.name} line {n}: not JSON ({exc.msg})") from None
    return rows


def check(row: dict, where: str) -> dict:
    """The kept fields of one label line, or SystemExit naming the line and what is wrong."""
    u, issue, rw = row.get("unhappy"), row.get("issue"), row.get("remedy_worthy")
    if u not in (0, 1) or rw not in (0, 1):
        raise SystemExit(f"{where}: unhappy and remedy_worthy must be 0 or 1, got {u!r} and {rw!r}")
    if (u == 0) != (issue == "none") or (issue != "none" and issue not in ISSUES):
        raise SystemExit(f"{where}: issue {issue!r} does not fit unhappy {u} (none exactly when not unhappy)")
    if rw and not u:
        raise SystemExit(f"{where}: remedy_worthy without unhappy")
    out = {"id": row["id"], "unhappy": u, "issue": issue, "remedy_worthy": rw}
    if row.get("unsure"):
        out["unsure"] = True
    return out


def labelled(drawn: Path, labels: list[Path]) -> list[dict]:
    want = [r["id"] for r in read(drawn)]
    got: dict[str, dict] = {}
    for path in labels:
        for n, row in enumerate(read(path), 1):
            if row.get("id") not in want:
                raise SystemExit(f"{path.name} line {n}: id {row.get('id')!r} was not drawn in {drawn.name}")
            if row["id"] in got:
                raise SystemExit(f"{path.name} line {n}: id {row['id']} labelled twice")
            got[row["id"]] = check(row, f"{path.name} line {n}")
    missing = [i for i in want if i not in got]
    if missing:
        raise SystemExit(f"{drawn.name}: {len(missing)} of {len(want)} ids have no label (first: {missing[0]})")
    return [got[i] for i in want]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("labeldir", type=Path)
    ap.add_argument("--round", type=int, required=True, help="the round number kept with each label")
    args = ap.parse_args()
    folder = args.labeldir
    corpus = HERE / "corpus.jsonl"
    known = {r["id"] for r in read(corpus)}
    first: list[dict] = []
    for drawn in sorted(folder.glob("batch_[0-9][0-9].jsonl")):
        labels = drawn.with_name(drawn.stem + ".labels.jsonl")
        if not labels.exists():
            print(f"{drawn.name}: no {labels.name} beside it, left out ({len(read(drawn))} texts stay unlabelled)")
            continue
        first.extend(labelled(drawn, [labels]))
    again = [i["id"] for i in first if i["id"] in known]
    if again:
        raise SystemExit(f"{len(again)} ids are already labelled in corpus.jsonl (first: {again[0]})")
    second: list[dict] = []
    ours = {r["id"] for r in first}
    for drawn in sorted(folder.glob("second_pass_*.jsonl")):
        if drawn.name.endswith(".labels.jsonl"):
            continue
        labels = drawn.with_name(drawn.stem + ".labels.jsonl")
        if not labels.exists():
            print(f"{drawn.name}: no {labels.name} beside it, left out of the second pass")
            continue
        second.extend(r for r in labelled(drawn, [labels]) if r["id"] in ours)
    with open(corpus, "a", encoding="utf-8") as fh:
        for row in first:
            fh.write(json.dumps({**row, "round": args.round, "split": "train"}, ensure_ascii=False) + "\n")
    if second:
        with open(HERE / "second_pass.jsonl", "a", encoding="utf-8") as fh:
            for row in second:
                fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    print(f"added {len(first):,} labelled texts to {corpus.name} (train): {sum(r['unhappy'] for r in first):,} unhappy, "
          f"{sum(r['remedy_worthy'] for r in first):,} remedy-worthy, {sum(bool(r.get('unsure')) for r in first)} unsure")
    if second:
        by_id = {r["id"]: r for r in first}
        print(f"second pass over {len(second)} of them:")
        for field in ("unhappy", "remedy_worthy", "issue"):
            pairs = [(by_id[r["id"]][field], r[field]) for r in second]
            print(f"  {field:14} kappa {kappa(pairs):.3f}   raw agreement {sum(a == b for a, b in pairs) / len(pairs):.3f}")


if __name__ == "__main__":
    main()
