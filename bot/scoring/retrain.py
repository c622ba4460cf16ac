"""Refit the scorer on the shop's own decisions (``recoverybot train``).

Every approve and reject by staff is kept as a label on the case's mentions (``staff_label``):
approved means a remedy was right for that text and its issue, rejected means it was not. This
module refits the learned model on those labels and installs the result only where it measured
no worse.

How: the bundled weights are the prior. The remedy head (approve = 1, reject = 0) and both issue
heads (the approved case's issue) are refitted by gradient descent on the log loss plus an L2 pull
towards the current weights (``prior``), so words the shop never labelled keep their weights and
a few dozen decisions cannot undo the 14,100 labelled texts the bundled model was built from. The
unhappy head stays as it is: staff only decide on complaints, which says nothing about happy buyers.
The vocabulary stays the bundled one (a word the model never saw is still not read). Numpy only,
deterministic: the same decisions give the same weights.

A shop can add labelled lines of its own (``recoverybot train --add FILE``): JSON lines as
``recoverybot eval`` reads them and ``recoverybot labels export`` writes them (``text``,
``unhappy``, ``issue``, ``remedy_worthy``, optional ``id``, ``rating``, ``title``). They count as
decisions; a line whose ``id`` is a mention's (as exported) overrides the staff decision on it.

Safety: a quarter of the shop's decisions (chosen by a hash of the mention, so always the same
ones) are held back and never fitted. The new weights are installed only when they are no worse
than the current ones on those, and, where the shipped test split can be read (``--corpus``), no
worse on that either. The previous weights are kept beside them (``.previous.npz``).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from bot.errors import ScoringError
from bot.scoring import learned
from bot.scoring.scorer import Scorer
from bot.scoring.types import ScoringConfig

SHOP_WEIGHTS = "scorer-weights.npz"
MIN_FITTED = 20  # fewer decisions than this to fit on: nothing to learn safely
MIN_HELD_BACK = 8  # fewer held-back decisions than this: nothing to measure the refit on
HELD_BACK_SHARE = 4  # one decision in this many is held back


@dataclass(frozen=True)
class Example:
    """One labelled text: a staff decision, or a line of the shipped test split."""

    key: str  # stable id ("source:external id"): decides held back or fitted
    text: str
    rating: float | None
    title: str | None
    remedy_worthy: bool
    issue: str
    unhappy: bool = True


def held_back(key: str) -> bool:
    """Whether this decision is kept out of fitting to measure the result (stable for a key)."""
    return hashlib.sha256(key.encode("utf-8")).digest()[0] % HELD_BACK_SHARE == 0


@dataclass(frozen=True)
class Figures:
    """How a model did on labelled texts: remedy precision / recall / F1, issue right on the
    remedy-worthy ones, unhappy F1 where the labels hold happy texts too."""

    n: int
    precision: float
    recall: float
    f1: float
    issue_right: float
    unhappy_f1: float | None = None

    def not_worse_than(self, other: Figures, tolerance: float = 0.0) -> bool:
        ok = self.f1 >= other.f1 - tolerance and self.issue_right >= other.issue_right - tolerance
        if self.unhappy_f1 is not None and other.unhappy_f1 is not None:
            ok = ok and self.unhappy_f1 >= other.unhappy_f1 - tolerance
        return ok

    def words(self) -> str:
        said = (f"remedy right {self.precision:.0%} of the times it said so, found {self.recall:.0%} of those "
                f"needing one (F1 {self.f1:.3f}); problem named right {self.issue_right:.0%}")
        if self.unhappy_f1 is not None:
            said += f"; unhappy F1 {self.unhappy_f1:.3f}"
        return said


def _f1(pred: Sequence[bool], gold: Sequence[bool]) -> tuple[float, float, float]:
    tp = sum(p and g for p, g in zip(pred, gold, strict=True))
    fp = sum(p and not g for p, g in zip(pred, gold, strict=True))
    fn = sum(g and not p for p, g in zip(pred, gold, strict=True))
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


def measure(scorer: Scorer, examples: Sequence[Example], *, with_unhappy: bool = False) -> Figures:
    """The scorer's figures on labelled examples (the whole `assess`, as the pipeline runs it)."""
    verdicts = [scorer.assess(e.text, e.rating, e.title) for e in examples]
    p, r, f = _f1([a.remedy_worthy for a in verdicts], [e.remedy_worthy for e in examples])
    worthy = [i for i, e in enumerate(examples) if e.remedy_worthy]
    right = sum(verdicts[i].issue.value == examples[i].issue for i in worthy) / len(worthy) if worthy else 0.0
    unhappy = _f1([a.unhappy for a in verdicts], [e.unhappy for e in examples])[2] if with_unhappy else None
    return Figures(len(examples), p, r, f, right, unhappy)


# --- fitting --------------------------------------------------------------------------------


@dataclass
class _Rows:
    """The examples' features as a compact sparse matrix over the model's vocabulary (CSR arrays)."""

    data: Any
    cols: Any  # column in the sub-matrix of active features
    starts: Any
    active: Any  # model feature index of each sub-matrix column
    n: int

    def dot(self, w: Any) -> Any:  # (n_active x c) -> (n x c)
        out = np.zeros((self.n, w.shape[1]))
        contrib = self.data[:, None] * w[self.cols]
        np.add.at(out, np.repeat(np.arange(self.n), np.diff(self.starts)), contrib)
        return out

    def tdot(self, r: Any) -> Any:  # (n x c) -> (n_active x c)
        out = np.zeros((len(self.active), r.shape[1]))
        rows = np.repeat(np.arange(self.n), np.diff(self.starts))
        np.add.at(out, self.cols, self.data[:, None] * r[rows])
        return out


def _rows(model: learned.LearnedModel, inputs: Sequence[list[tuple[str, float]]]) -> _Rows:
    idx: list[int] = []
    vals: list[float] = []
    starts = [0]
    for features in inputs:
        for name, value in features:
            j = model.index.get(name)
            if j is not None and value:
                idx.append(j)
                vals.append(value)
        starts.append(len(idx))
    active, cols = np.unique(np.asarray(idx, dtype=np.int64), return_inverse=True)
    return _Rows(np.asarray(vals, dtype=np.float64), cols.reshape(-1), np.asarray(starts), active, len(inputs))


def _descend(x: _Rows, y: Any, w0: Any, b0: Any, *, softmax: bool, weight: float, prior: float,
             steps: int, fit_bias: bool = True) -> tuple[Any, Any]:
    """Minimise weight * log loss + prior/2 * |(w, b) - (w0, b0)|^2 by gradient descent with a
    backtracking line search (deterministic; converges for this convex loss)."""

    def loss_grad(w: Any, b: Any) -> tuple[float, Any, Any]:
        z = x.dot(w) + b
        if softmax:
            z = z - z.max(axis=1, keepdims=True)
            logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
            loss = -float((y * logp).sum())
            resid = np.exp(logp) - y
        else:
            loss = float(np.sum(np.logaddexp(0.0, z) - y * z))
            resid = 1.0 / (1.0 + np.exp(-z)) - y
        dw, db = weight * x.tdot(resid), weight * resid.sum(axis=0) * (1.0 if fit_bias else 0.0)
        pull_w, pull_b = w - w0, b - b0
        loss = weight * loss + 0.5 * prior * float((pull_w**2).sum() + (pull_b**2).sum())
        return loss, dw + prior * pull_w, db + prior * pull_b

    w, b = w0.copy(), b0.copy()
    step = 1.0
    loss, gw, gb = loss_grad(w, b)
    for _ in range(steps):
        norm = float((gw**2).sum() + (gb**2).sum())
        if norm < 1e-10:
            break
        while True:
            nw, nb = w - step * gw, b - step * gb
            new_loss, ngw, ngb = loss_grad(nw, nb)
            if new_loss <= loss - 0.5 * step * norm or step < 1e-8:
                break
            step *= 0.5
        w, b, loss, gw, gb = nw, nb, new_loss, ngw, ngb
        step = min(step * 2.0, 64.0)
    return w, b


def refit(scorer: Scorer, examples: Sequence[Example], *, weight: float = 1.0, prior: float = 1.0,
          steps: int = 200) -> learned.LearnedModel:
    """New weights for `scorer`'s model, refitted on `examples` (see the module docstring)."""
    base = scorer.model
    if base is None:
        raise ScoringError("the learned model is off ([scoring] model = false): there is nothing to refit",
                           hint="set [scoring] model = true to retrain")
    pairs = [(e, f) for e in examples if (f := scorer.model_input(e.text, e.rating, e.title)) is not None]
    if not pairs:
        raise ScoringError("none of the decisions is a text the model reads (all empty or in other languages)")
    weights, bias = base.weights.astype(np.float64), base.bias.copy()
    k = len(base.classes)
    x = _rows(base, [f for _, f in pairs])
    y = np.asarray([[1.0 if e.remedy_worthy else 0.0] for e, _ in pairs])
    # The remedy head's bias stays: staff decide only the cases the scorer put to them, so how often
    # they approve says nothing about how often a remedy is right among all texts (measured on dev:
    # refitting it too lowered remedy precision on the held-back decisions from 0.64 to 0.56).
    w, b = _descend(x, y, weights[x.active][:, 1:2], bias[1:2], softmax=False, weight=weight, prior=prior,
                    steps=steps, fit_bias=False)
    weights[x.active, 1:2], bias[1:2] = w, b
    named = [(e, f) for e, f in pairs if e.remedy_worthy and e.issue in base.classes]
    if named:
        xi = _rows(base, [f for _, f in named])
        yi = np.zeros((len(named), k))
        for row, (e, _) in enumerate(named):
            yi[row, base.classes.index(e.issue)] = 1.0
        for lo in (2, 2 + k):  # the issue head of unhappy texts, then the one of remedy-worthy texts
            w, b = _descend(xi, yi, weights[xi.active][:, lo:lo + k], bias[lo:lo + k], softmax=True,
                            weight=weight, prior=prior, steps=steps)
            weights[xi.active, lo:lo + k], bias[lo:lo + k] = w, b
    meta = dict(base.meta)
    meta["refit"] = {"at": datetime.now(UTC).isoformat(timespec="seconds"), "decisions": len(pairs),
                     "with_issue": len(named), "weight": weight, "prior": prior,
                     "from": str(base.meta.get("refit", {}).get("at", "bundled"))}
    return base.copy(weights.astype(np.float32), bias, meta)


MAX_LABEL_LINES = 200_000  # a labelled file longer than this is not a shop's own labels
MAX_TEXT = 20_000  # characters of one labelled text


def read_labelled(path: Path) -> list[Example]:
    """A shop's own labelled JSON lines as examples, or ScoringError naming the file, the line and
    what is wrong (nothing is fitted from a file with a bad line: a typo must not become a label)."""
    out: list[Example] = []
    problems: list[str] = []
    seen: dict[str, tuple[int, Example]] = {}
    try:
        with open(path, encoding="utf-8") as handle:
            for n, line in enumerate(handle, 1):
                if n > MAX_LABEL_LINES:
                    raise ScoringError(f"{path.name}: more than {MAX_LABEL_LINES:,} lines", path=str(path))
                if not line.strip():
                    continue
                try:
                    example = _labelled_line(line)
                except ValueError as exc:
                    problems.append(f"line {n}: {exc}")
                    continue
                first = seen.setdefault(example.key, (n, example))
                if first[1] != example and _label(first[1]) != _label(example):
                    problems.append(f"line {n}: the same text or id as line {first[0]} with other labels")
                elif first[0] == n:
                    out.append(example)
    except OSError as exc:
        raise ScoringError(f"cannot read the labelled file {path}: {exc.strerror}", path=str(path),
                           hint="--add names a file of labelled JSON lines") from exc
    except UnicodeDecodeError as exc:
        raise ScoringError(f"{path.name} is not UTF-8 text ({exc.reason} at byte {exc.start})", path=str(path),
                           hint="save the file as UTF-8") from exc
    if problems:
        more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
        raise ScoringError(f"{path.name}: {len(problems)} bad line(s), nothing refitted: " + "; ".join(problems[:5]) + more,
                           path=str(path), hint='each line: {"text": "...", "unhappy": true, "issue": "damaged", '
                                                '"remedy_worthy": true}')
    if not out:
        raise ScoringError(f"{path.name} holds no labelled lines", path=str(path))
    return out


def _labelled_line(line: str) -> Example:
    from bot.scoring.evaluate import _fields, _parse_line
    from bot.scoring.types import Issue

    obj, err = _parse_line(line)
    if obj is None:
        raise ValueError(err)
    text, rating, title = _fields(obj)  # as `recoverybot eval` reads them
    unhappy, worthy, issue = obj.get("unhappy"), obj.get("remedy_worthy"), obj.get("issue", "none")
    if not isinstance(unhappy, bool):
        raise ValueError("missing boolean 'unhappy' label")
    if not isinstance(worthy, bool):
        # eval guesses a missing one from the issue; a label to learn from is said, not guessed
        raise ValueError("'remedy_worthy' must be true or false (to learn from, it is needed)")
    issues = [i.value for i in Issue]
    if issue not in issues:
        raise ValueError(f"'issue' {issue!r} is not one of {', '.join(issues)}")
    if worthy and (not unhappy or issue == "none"):
        raise ValueError("'remedy_worthy' true needs 'unhappy' true and an issue")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("'text' holds characters that are not valid Unicode") from None
    key = obj.get("id")
    if not isinstance(key, str) or not key.strip():
        key = "file:" + hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]
    # The scorer reads at most [scoring] max_chars of a text; a long post is cut, not refused.
    return Example(key, text[:MAX_TEXT], rating, title, worthy, str(issue), unhappy)


def _label(e: Example) -> tuple[bool, str, bool]:
    return e.unhappy, e.issue, e.remedy_worthy


def with_added(decisions: Iterable[Example], added: Iterable[Example]) -> list[Example]:
    """The staff decisions plus a shop's labelled lines; a line with a decision's key (its `id`),
    or without an id but with a decided mention's very text, overrides that decision."""
    merged = {e.key: e for e in decisions}
    by_text = {e.text: e.key for e in merged.values()}
    for e in added:
        key = by_text.get(e.text, e.key) if e.key.startswith("file:") else e.key
        merged[key] = replace(e, key=key)
    return list(merged.values())


# --- the shipped test split -------------------------------------------------------------------


def shipped_test_split(corpus: Path, labels: Path) -> list[Example]:
    """The test split of the shipped labels (``bench/labels/corpus.jsonl``) with its texts from a
    copy of the corpus they were drawn from (texts never ship with recoverybot)."""
    marks: dict[str, dict[str, Any]] = {}
    try:
        for n, line in enumerate(labels.read_text(encoding="utf-8").splitlines(), start=1):
            if line.strip():
                try:
                    obj = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise ScoringError(f"{labels.name} line {n}: invalid JSON ({exc.msg})", path=str(labels)) from exc
                if obj.get("split") == "test" and not obj.get("unsure"):
                    marks[str(obj["id"])] = obj
    except OSError as exc:
        raise ScoringError(f"cannot read the labels file {labels}: {exc.strerror}", path=str(labels),
                           hint="give --labels the shipped bench/labels/corpus.jsonl") from exc
    out: list[Example] = []
    for name in ("reviews.jsonl", "social.jsonl"):
        path = corpus / name
        if not path.exists():
            raise ScoringError(f"no {name} in {corpus}", path=str(path), hint="--corpus names the corpus folder")
        with open(path, encoding="utf-8") as fh:
            for line in fh:
                obj = json.loads(line)
                mark = marks.get(str(obj.get("id")))
                if mark is not None:
                    out.append(Example(str(obj["id"]), str(obj.get("text") or ""), obj.get("rating"), None,
                                       bool(mark["remedy_worthy"]), str(mark["issue"]), bool(mark["unhappy"])))
    if not out:
        raise ScoringError(f"no text of the test split found in {corpus}", path=str(corpus))
    return out


# --- the whole run ------------------------------------------------------------------------------


@dataclass
class TrainReport:
    fitted: int = 0
    held: int = 0
    before: Figures | None = None
    after: Figures | None = None
    test_before: Figures | None = None
    test_after: Figures | None = None
    installed: Path | None = None
    refused: str | None = None
    notes: list[str] = field(default_factory=list)
    source: str = "staff decisions"
    no_worse: bool = False  # measured no worse everywhere: installed, or would be but for --dry-run

    def lines(self) -> list[str]:
        out = [f"{self.source}: {self.fitted} to learn from, {self.held} held back to check the result"]
        if self.before and self.after:
            out += [f"  on the held-back decisions, before: {self.before.words()}",
                    f"  on the held-back decisions, after:  {self.after.words()}"]
        if self.test_before and self.test_after:
            out += [f"  on the shipped test split ({self.test_before.n} texts), before: {self.test_before.words()}",
                    f"  on the shipped test split ({self.test_after.n} texts), after:  {self.test_after.words()}"]
        out += self.notes
        if self.refused:
            out.append(f"not installed: {self.refused}")
        elif self.installed:
            out.append(f"installed the new weights in {self.installed.name}")
        return out


def shop_weights_path(data_dir: Path) -> Path:
    return data_dir / SHOP_WEIGHTS


def shop_model(config: ScoringConfig, data_dir: Path) -> learned.LearnedModel | None:
    """The shop's own refitted weights when ``[scoring] learn_from_shop`` is on and some are
    installed; None means the bundled model."""
    path = shop_weights_path(data_dir)
    if not config.learn_from_shop or not path.exists():
        return None
    return learned.LearnedModel(path)


def train(config: ScoringConfig, data_dir: Path, decisions: Iterable[Example], *, corpus: Path | None = None,
          labels: Path | None = None, install: bool = True, weight: float = 1.0, prior: float = 1.0,
          tolerance: float = 0.0, source: str = "staff decisions") -> TrainReport:
    """Refit on the shop's decisions, measure before and after, install when no worse."""
    current = Scorer(config, model=shop_model(config, data_dir))
    decisions = list(decisions)
    fit_on = [e for e in decisions if not held_back(e.key)]
    check_on = [e for e in decisions if held_back(e.key)]
    report = TrainReport(fitted=len(fit_on), held=len(check_on), source=source)
    if len(fit_on) < MIN_FITTED or len(check_on) < MIN_HELD_BACK:
        report.refused = (f"too few {source} yet ({len(decisions)}; it needs about "
                          f"{MIN_FITTED + MIN_HELD_BACK * HELD_BACK_SHARE // 2} or more, so that "
                          f"{MIN_HELD_BACK} can be held back to check the result)")
        return report
    new = refit(current, fit_on, weight=weight, prior=prior)
    candidate = Scorer(config, model=new)
    report.before, report.after = measure(current, check_on), measure(candidate, check_on)
    worse = [] if report.after.not_worse_than(report.before, tolerance) else ["the held-back decisions"]
    if corpus is not None:
        test = shipped_test_split(corpus, labels or Path("bench/labels/corpus.jsonl"))
        report.test_before = measure(current, test, with_unhappy=True)
        report.test_after = measure(candidate, test, with_unhappy=True)
        if not report.test_after.not_worse_than(report.test_before, tolerance):
            worse.append("the shipped test split")
    else:
        report.notes.append("  shipped test split: not measured (give --corpus with a copy of the corpus)")
    if worse:
        report.refused = "the refit did worse on " + " and ".join(worse) + "; the current weights stay"
        return report
    report.no_worse = True
    if not install:
        report.refused = "a dry run (--dry-run): nothing written"
        return report
    path = shop_weights_path(data_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    new.meta["refit"]["held_back"] = {"before": report.before.__dict__, "after": report.after.__dict__}
    new.save(tmp)
    if path.exists():
        os.replace(path, path.with_suffix(".previous.npz"))
    os.replace(tmp, path)
    report.installed = path
    if not config.learn_from_shop:
        report.notes.append("  the daemon keeps the bundled model until [scoring] learn_from_shop = true")
    return report


__all__ = [
    "SHOP_WEIGHTS",
    "Example",
    "Figures",
    "TrainReport",
    "held_back",
    "measure",
    "read_labelled",
    "refit",
    "shipped_test_split",
    "shop_model",
    "shop_weights_path",
    "train",
    "with_added",
]
