"""Scoring JSON lines (``recoverybot score``) and measuring the scorer on labelled lines (``eval``)."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TextIO

from bot.scoring.scorer import Scorer
from bot.scoring.types import REMEDY_WORTHY, Assessment, Issue

# ----------------------------------------------------------------------------- JSON lines

def _parse_line(line: str) -> tuple[dict[str, object] | None, str | None]:
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as exc:
        return None, f"invalid JSON: {exc.msg} at column {exc.colno}"
    except RecursionError:
        return None, "invalid JSON: nested too deeply"
    except ValueError as exc:  # e.g. an integer of thousands of digits
        return None, f"invalid JSON: {exc}"
    if not isinstance(obj, dict):
        return None, "expected a JSON object"
    return obj, None


def _fields(obj: dict[str, object]) -> tuple[str, float | None, str | None]:
    text = obj.get("text")
    if not isinstance(text, str):
        raise ValueError("missing or non-string 'text'")
    rating = obj.get("rating")
    if rating is not None and (isinstance(rating, bool) or not isinstance(rating, (int, float))):
        if isinstance(rating, str):
            try:
                rating = float(rating)
            except ValueError:
                raise ValueError(f"rating must be a number 1..5, got {rating!r}") from None
        else:
            raise ValueError(f"rating must be a number 1..5, got {rating!r}")
    if rating is not None and not 1 <= float(rating) <= 5:
        raise ValueError(f"rating must be between 1 and 5, got {rating!r}")
    title = obj.get("title")
    return text, (float(rating) if rating is not None else None), (title if isinstance(title, str) else None)


def score_stream(lines: Iterable[str], out: TextIO, scorer: Scorer) -> int:
    """Score JSON lines one at a time (constant memory); returns the number of bad lines.

    Each non-blank input line yields exactly one output line, in order: the input object with the
    Assessment fields added, or ``{"id": ..., "line": N, "error": "..."}`` where N is the physical
    input line number and ``id`` is present whenever the line parsed as an object holding one.
    Blank or whitespace-only lines (a trailing newline, a spacer) are skipped silently: they
    produce no output and are not errors.
    """
    bad = 0
    for n, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        obj, err = _parse_line(line)
        result: dict[str, object] = {}
        if obj is not None:
            try:
                text, rating, title = _fields(obj)
                result = dict(obj)
                result.update(scorer.assess(text, rating, title).as_dict())
            except (ValueError, TypeError) as exc:
                err = str(exc) or type(exc).__name__
        if err is not None:
            bad += 1
            result = {"line": n, "error": err}
            if obj is not None and "id" in obj:
                result = {"id": obj["id"], **result}
        out.write(json.dumps(result, ensure_ascii=False))
        out.write("\n")
    return bad


# ----------------------------------------------------------------------------- evaluation

def _prf(tp: int, fp: int, fn: int) -> tuple[float, float, float]:
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return p, r, f


@dataclass
class EvalReport:
    """Precision/recall of the scorer on labelled lines, overall and per issue."""

    n: int = 0
    bad_lines: list[str] = field(default_factory=list)
    unhappy_tp: int = 0
    unhappy_fp: int = 0
    unhappy_fn: int = 0
    remedy_tp: int = 0
    remedy_fp: int = 0
    remedy_fn: int = 0
    remedy_issue_right: int = 0
    confusion: Counter[tuple[str, str]] = field(default_factory=Counter)
    errors: list[dict[str, object]] = field(default_factory=list)

    def add(self, gold_unhappy: bool, gold_issue: Issue, got: Assessment, text: str,
            gold_remedy: bool | None = None) -> None:
        """Count one labelled example (`gold_remedy` None: remedy-worthy means a fixable issue)."""
        self.n += 1
        gi = gold_issue if gold_unhappy else Issue.NONE
        pi = got.issue if got.unhappy else Issue.NONE
        self.confusion[(gi.value, pi.value)] += 1
        self.unhappy_tp += gold_unhappy and got.unhappy
        self.unhappy_fp += (not gold_unhappy) and got.unhappy
        self.unhappy_fn += gold_unhappy and not got.unhappy
        gold_r = gold_unhappy and (gold_issue in REMEDY_WORTHY if gold_remedy is None else gold_remedy)
        self.remedy_tp += gold_r and got.remedy_worthy
        self.remedy_fp += (not gold_r) and got.remedy_worthy
        self.remedy_fn += gold_r and not got.remedy_worthy
        if gold_r:
            self.remedy_issue_right += got.unhappy and got.issue == gold_issue
        if gold_unhappy != got.unhappy or gi != pi:
            self.errors.append({"text": text[:160], "gold": gi.value if gold_unhappy else "happy",
                                "got": pi.value if got.unhappy else "happy"})

    def as_dict(self) -> dict[str, object]:
        """Figures as plain data."""
        up, ur, uf = _prf(self.unhappy_tp, self.unhappy_fp, self.unhappy_fn)
        rp, rr, rf = _prf(self.remedy_tp, self.remedy_fp, self.remedy_fn)
        gold_r = self.remedy_tp + self.remedy_fn
        labels = [i.value for i in Issue]
        per_issue: dict[str, dict[str, float]] = {}
        for lab in labels:
            tp = self.confusion[(lab, lab)]
            fp = sum(c for (g, p), c in self.confusion.items() if p == lab and g != lab)
            fn = sum(c for (g, p), c in self.confusion.items() if g == lab and p != lab)
            if tp + fp + fn:
                p, r, _ = _prf(tp, fp, fn)
                per_issue[lab] = {"precision": round(p, 3), "recall": round(r, 3), "support": tp + fn}
        return {
            "n": self.n,
            "bad_lines": len(self.bad_lines),
            "unhappy": {"precision": round(up, 3), "recall": round(ur, 3), "f1": round(uf, 3)},
            "remedy_worthy": {"precision": round(rp, 3), "recall": round(rr, 3), "f1": round(rf, 3),
                              "issue_accuracy": round(self.remedy_issue_right / gold_r, 3) if gold_r else 0.0},
            "per_issue": per_issue,
            "confusion": {f"{g}->{p}": c for (g, p), c in sorted(self.confusion.items())},
        }

    def render(self) -> str:
        """A human-readable table."""
        d = self.as_dict()
        u = d["unhappy"]
        r = d["remedy_worthy"]
        assert isinstance(u, dict) and isinstance(r, dict)
        lines = [
            f"examples: {self.n}   bad lines: {len(self.bad_lines)}",
            f"unhappy        precision {u['precision']:.3f}  recall {u['recall']:.3f}  f1 {u['f1']:.3f}",
            f"remedy-worthy  precision {r['precision']:.3f}  recall {r['recall']:.3f}  f1 {r['f1']:.3f}"
            f"  issue right {r['issue_accuracy']:.3f}",
            "",
            f"{'issue':<18}{'precision':>10}{'recall':>8}{'support':>9}",
        ]
        per = d["per_issue"]
        assert isinstance(per, dict)
        for lab, v in per.items():
            lines.append(f"{lab:<18}{v['precision']:>10.3f}{v['recall']:>8.3f}{int(v['support']):>9}")
        labels = [i.value for i in Issue if any(i.value in k for k in self.confusion)]
        short = {lab: lab[:6] for lab in labels}
        lines += ["", "confusion (rows gold, columns predicted)",
                  f"{'':<18}" + "".join(f"{short[lab]:>7}" for lab in labels)]
        for g in labels:
            lines.append(f"{g:<18}" + "".join(f"{self.confusion[(g, p)]:>7}" for p in labels))
        for line in self.bad_lines:
            lines.append(f"bad: {line}")
        return "\n".join(lines)


def evaluate(lines: Iterable[str], scorer: Scorer, baselines: dict[str, EvalReport] | None = None) -> EvalReport:
    """Score labelled JSON lines (``text``, ``unhappy``, ``issue``, optional ``remedy_worthy``,
    ``rating``, ``title``). Reports passed in `baselines` (keys from :data:`BASELINES`) count what
    the trivial scorers say of the same lines."""
    report = EvalReport()
    for n, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        obj, err = _parse_line(line)
        try:
            if obj is None:
                raise ValueError(err)
            text, rating, title = _fields(obj)
            gold_unhappy = obj.get("unhappy")
            if not isinstance(gold_unhappy, bool):
                raise ValueError("missing boolean 'unhappy' label")
            named = obj.get("issue", "none")
            if not isinstance(named, str) or named not in {i.value for i in Issue}:
                raise ValueError(f"'issue' {named!r} is not one of {', '.join(i.value for i in Issue)}")
            gold_issue = Issue(named)
            gold_remedy = obj.get("remedy_worthy")
            if gold_remedy is not None and not isinstance(gold_remedy, bool):
                raise ValueError("'remedy_worthy' must be true or false")
            got = scorer.assess(text, rating, title)
        except ValueError as exc:
            report.bad_lines.append(f"line {n}: {exc}")
            continue
        report.add(gold_unhappy, gold_issue, got, text, gold_remedy)
        for name, baseline in (baselines or {}).items():
            baseline.add(gold_unhappy, gold_issue, _baseline(name, rating, got), text, gold_remedy)
    return report


BASELINES = ("stars 1-2", "TextBlob < 0", "VADER < -0.05")


def _baseline(name: str, rating: float | None, got: Assessment) -> Assessment:
    """What a trivial scorer says of the same text (the polarities come with the assessment)."""
    if name == "stars 1-2":
        unhappy = rating is not None and rating <= 2
    elif name == "TextBlob < 0":
        unhappy = got.textblob < 0
    else:
        unhappy = got.vader < -0.05
    return Assessment(0.0, unhappy, Issue.OTHER if unhappy else Issue.NONE, 1.0, (), remedy=False)
