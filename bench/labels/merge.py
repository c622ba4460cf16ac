"""Merge labellers' batch files into bench/labels/corpus.jsonl (ids and labels only, no text) and
give each id its split, a source-aware random draw: within each source tag, 60 % train, 20 % dev,
20 % test by a salted hash of the id (stable when labels are added later).

    python bench/labels/merge.py LABELDIR        # LABELDIR/batch_*.labels.jsonl, second_pass*.labels.jsonl

Notes are dropped: a labeller's note might quote the text, and texts never enter the repository.
"""
from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
KEEP = ("id", "unhappy", "issue", "remedy_worthy", "unsure")


def split_of(text_id: str) -> str:
    """train / dev / test for an id (60/20/20 within its source, by hash)."""
    value = int(hashlib.sha256(f"recoverybot-split:{text_id}".encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
    return "train" if value < 0.6 else "dev" if value < 0.8 else "test"


def clean(row: dict) -> dict:
    out = {k: row[k] for k in KEEP if k in row and (k != "unsure" or row[k])}
    return out


def main() -> None:
    folder = Path(sys.argv[1])
    rows: dict[str, dict] = {}
    for path in sorted(folder.glob("batch_*.labels.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                row = clean(json.loads(line))
                rows[row["id"]] = {**row, "split": split_of(row["id"])}
    with open(HERE / "corpus.jsonl", "w", encoding="utf-8") as fh:
        for text_id in sorted(rows):
            fh.write(json.dumps(rows[text_id], ensure_ascii=False) + "\n")
    seconds = sorted(folder.glob("second_pass*.labels.jsonl"))
    if seconds:
        lines = sorted(line for path in seconds for line in path.read_text(encoding="utf-8").splitlines() if line.strip())
        with open(HERE / "second_pass.jsonl", "w", encoding="utf-8") as fh:
            for line in lines:
                fh.write(json.dumps(clean(json.loads(line)), ensure_ascii=False) + "\n")
    print(f"{len(rows)} labelled ids -> {HERE / 'corpus.jsonl'}")


if __name__ == "__main__":
    main()
