"""Agreement between the first labels (corpus.jsonl) and the blind second pass (second_pass.jsonl):
Cohen's kappa per field, and raw agreement.

    python bench/labels/agreement.py
"""
from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent


def kappa(pairs: list[tuple[object, object]]) -> float:
    n = len(pairs)
    observed = sum(a == b for a, b in pairs) / n
    first, second = Counter(a for a, _ in pairs), Counter(b for _, b in pairs)
    expected = sum(first[k] * second.get(k, 0) for k in first) / (n * n)
    return (observed - expected) / (1 - expected) if expected < 1 else 1.0


def load(name: str) -> dict[str, dict]:
    rows = (json.loads(line) for line in (HERE / name).read_text(encoding="utf-8").splitlines() if line.strip())
    return {row["id"]: row for row in rows}


def main() -> None:
    first, second = load("corpus.jsonl"), load("second_pass.jsonl")
    both = sorted(set(first) & set(second))
    print(f"{len(both)} ids labelled twice ({len(second)} in the second pass)")
    for field in ("unhappy", "remedy_worthy", "issue"):
        pairs = [(first[i][field], second[i][field]) for i in both]
        print(f"  {field:14} kappa {kappa(pairs):.3f}   raw agreement {sum(a == b for a, b in pairs) / len(pairs):.3f}")
    unhappy_both = [i for i in both if first[i]["unhappy"] and second[i]["unhappy"]]
    pairs = [(first[i]["issue"], second[i]["issue"]) for i in unhappy_both]
    print(f"  issue where both say unhappy ({len(pairs)}): kappa {kappa(pairs):.3f}   "
          f"raw {sum(a == b for a, b in pairs) / len(pairs):.3f}")
    for kind in ("reviews", "posts"):
        ids = [i for i in both if (i.split(":")[0] in ("twcs", "swiggy-quora")) == (kind == "posts")]
        if ids:
            pairs = [(first[i]["unhappy"], second[i]["unhappy"]) for i in ids]
            rw = [(first[i]["remedy_worthy"], second[i]["remedy_worthy"]) for i in ids]
            print(f"  {kind:8} ({len(ids)}): unhappy kappa {kappa(pairs):.3f}, remedy_worthy kappa {kappa(rw):.3f}")


if __name__ == "__main__":
    main()
