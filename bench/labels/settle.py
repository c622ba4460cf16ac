"""Settle labels after a blind re-labelling: where the second reading disagrees with the first, a
third reader's decision (made against docs/labelling.md, seeing both readings in random order but
no model output) becomes the label; where they agree, the label stays.

    python bench/labels/settle.py apply RELABEL_DIR ADJUD_DIR   # updates corpus.jsonl, writes settle.jsonl
    python bench/labels/settle.py original OUT.jsonl             # the labels as they were before settling
    python bench/labels/settle.py agreement                      # kappa of first vs second reading, per split

RELABEL_DIR holds batch_*.labels.jsonl (the second readings), ADJUD_DIR batch_*.final.jsonl (the
third readings of the disagreements). `settle.jsonl` keeps, per re-read id, the first, second and
final labels (no text), so every change is on record and the old figures can be measured again.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from agreement import kappa

HERE = Path(__file__).resolve().parent
FIELDS = ("unhappy", "issue", "remedy_worthy")


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _labels(row: dict) -> dict:
    out = {k: row[k] for k in FIELDS}
    if row.get("unsure"):
        out["unsure"] = True
    return out


def apply(relabel: Path, adjud: Path) -> None:
    corpus = _lines(HERE / "corpus.jsonl")
    by_id = {r["id"]: r for r in corpus}
    second = {r["id"]: r for p in sorted(relabel.glob("batch_*.labels.jsonl")) for r in _lines(p)}
    third = {r["id"]: r for p in sorted(adjud.glob("batch_*.final.jsonl")) for r in _lines(p)}
    settle_path = HERE / "settle.jsonl"
    record = {r["id"]: r for r in _lines(settle_path)} if settle_path.exists() else {}
    changed = 0
    for text_id, s in second.items():
        row = by_id[text_id]
        first = record[text_id]["first"] if text_id in record else _labels(row)
        differs = any(first[k] != s[k] for k in FIELDS)
        if differs and text_id not in third:
            sys.exit(f"{text_id}: the readings differ and no third reading settles it")
        final = _labels(third[text_id]) if differs else first
        record[text_id] = {"id": text_id, "first": first, "second": _labels(s), "final": final}
        rest = {k: v for k, v in row.items() if k not in ("id", *FIELDS, "unsure")}
        if _labels(row) != final:
            changed += 1
        row.clear()
        row.update({"id": text_id, **final, **rest})
    with open(HERE / "corpus.jsonl", "w", encoding="utf-8") as fh:
        for r in corpus:
            fh.write(json.dumps(r) + "\n")
    with open(settle_path, "w", encoding="utf-8") as fh:
        for text_id in sorted(record):
            fh.write(json.dumps(record[text_id]) + "\n")
    print(f"{len(second):,} re-read, {sum(1 for t in second if t in third):,} settled by a third reading, "
          f"{changed:,} labels changed")


def original(out: Path) -> None:
    record = {r["id"]: r for r in _lines(HERE / "settle.jsonl")}
    with open(out, "w", encoding="utf-8") as fh:
        for row in _lines(HERE / "corpus.jsonl"):
            if row["id"] in record:
                row = {**{k: v for k, v in row.items() if k not in (*FIELDS, "unsure")}, **record[row["id"]]["first"]}
            fh.write(json.dumps(row) + "\n")


def agreement() -> None:
    split = {r["id"]: r["split"] for r in _lines(HERE / "corpus.jsonl")}
    record = _lines(HERE / "settle.jsonl")
    for name in ("train", "dev", "test", "all"):
        rows = [r for r in record if name == "all" or split[r["id"]] == name]
        if not rows:
            continue
        parts = []
        for k in FIELDS:
            pairs = [(r["first"][k], r["second"][k]) for r in rows]
            raw = sum(a == b for a, b in pairs) / len(pairs)
            parts.append(f"{k} kappa {kappa(pairs):.3f} (raw {raw:.3f})")
        changed = sum(any(r["first"][k] != r["final"][k] for k in FIELDS) for r in rows)
        print(f"{name:5} n={len(rows):5}  " + ", ".join(parts) + f"; changed by settling {changed}")


if __name__ == "__main__":
    if len(sys.argv) >= 2 and sys.argv[1] == "apply" and len(sys.argv) == 4:
        apply(Path(sys.argv[2]), Path(sys.argv[3]))
    elif len(sys.argv) == 3 and sys.argv[1] == "original":
        original(Path(sys.argv[2]))
    elif len(sys.argv) == 2 and sys.argv[1] == "agreement":
        agreement()
    else:
        sys.exit(__doc__)
