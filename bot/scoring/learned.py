"""The learned scorer: three logistic-regression heads over :mod:`bot.scoring.features`.

* ``unhappy``: is the buyer dissatisfied (a calibrated probability);
* ``remedy``: would a concrete remedy for their order put it right;
* ``issue``: which of the eleven issue kinds, given that they are unhappy.

Trained on 14,100 real buyer texts labelled by us (``bench/train_scoring.py``; labels by id in
``bench/labels/``), chosen and thresholded on a dev split, measured once on a test split nothing
was tuned on. The weights ship in this package as ``weights.npz`` (numpy arrays, no pickle); the
thresholds that make a remedy automatic (``sure``) were chosen on dev for precision >= 0.95.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from bot.errors import ScoringError
from bot.scoring.features import RuleSignals
from bot.scoring.types import Assessment

VERSION = 1
# Words too common to explain anything ("my", "it"): never shown as the model's evidence.
_PLAIN = frozenset("""a an the and or but so to of in on at for with from by as is are was were be been it its
this that these those i me my we our you your he she they them their his her not no yes do did does have has
had just very all any some one two # after before when then than there here what which who how also too""".split())
WEIGHTS = Path(__file__).with_name("weights.npz")


@dataclass(frozen=True)
class Prediction:
    p_unhappy: float
    p_remedy: float
    issue: str
    p_issue: float
    evidence: tuple[str, ...]  # the features that pushed hardest towards unhappy
    issue_probs: tuple[tuple[str, float], ...] = ()  # every issue's probability under the head used

    def probability_of(self, issue: str) -> float:
        return dict(self.issue_probs).get(issue, 0.0)


class LearnedModel:
    """The weights of the three heads, loaded once."""

    def __init__(self, path: Path = WEIGHTS) -> None:
        try:
            with np.load(path, allow_pickle=False) as data:
                self._set([str(n) for n in data["names"]], data["weights"], data["bias"],
                          [str(c) for c in data["classes"]], json.loads(str(data["thresholds"])),
                          json.loads(str(data["meta"])))
        except (OSError, KeyError, ValueError) as exc:
            raise ScoringError(f"cannot read scorer weights {path.name}: {exc}", path=str(path),
                               hint="run `recoverybot train` again, or delete the file to use the bundled model") from exc
        self.path = path

    def _set(self, names: list[str], weights: Any, bias: Any, classes: list[str], thresholds: dict[str, float],
             meta: dict[str, Any]) -> None:
        self.names = names
        self.weights = np.ascontiguousarray(weights, dtype=np.float32)  # features x (2 + 2 * issues)
        self.bias = np.asarray(bias, dtype=np.float64)
        self.classes = classes
        self.thresholds = thresholds
        self.meta = meta
        self.index = {name: i for i, name in enumerate(self.names)}
        self.languages = frozenset(self.meta.get("languages", ["en"]))

    def copy(self, weights: Any, bias: Any, meta: dict[str, Any]) -> LearnedModel:
        """The same model with other weights (a refit); thresholds and vocabulary kept."""
        other = LearnedModel.__new__(LearnedModel)
        other._set(list(self.names), weights, bias, list(self.classes), dict(self.thresholds), meta)
        other.path = self.path
        return other

    def save(self, path: Path) -> None:
        """Write these weights in the bundled file's format (numpy arrays, no pickle)."""
        with open(path, "wb") as fh:
            np.savez_compressed(
                fh, names=np.asarray(self.names), weights=self.weights, bias=self.bias,
                classes=np.asarray(self.classes), thresholds=np.asarray(json.dumps(self.thresholds, sort_keys=True)),
                meta=np.asarray(json.dumps(self.meta, sort_keys=True)),
            )

    def predict(self, features: list[tuple[str, float]]) -> Prediction:
        idx, vals = [], []
        get = self.index.get
        for name, value in features:
            j = get(name)
            if j is not None and value:
                idx.append(j)
                vals.append(value)
        if idx:
            rows = self.weights[idx]
            contrib = rows * np.asarray(vals, dtype=np.float32)[:, None]
            z = contrib.sum(axis=0, dtype=np.float64) + self.bias
        else:
            contrib = np.zeros((0, len(self.bias)), dtype=np.float32)
            z = self.bias.copy()
        p_unhappy = float(1.0 / (1.0 + np.exp(-z[0])))
        p_remedy = float(1.0 / (1.0 + np.exp(-z[1])))
        k = len(self.classes)
        # A possible remedy is named by the head trained on remedy-worthy texts (from the floor
        # chosen on dev; weights without one use 0.5).
        route = self.thresholds.get("issue_route", 0.5)
        logits = z[2 + k : 2 + 2 * k] if p_remedy >= route else z[2 : 2 + k]
        probs = np.exp(logits - logits.max())
        probs /= probs.sum()
        best = int(probs.argmax())
        evidence: tuple[str, ...] = ()
        if len(idx):
            # The word features that pushed hardest towards the verdict (unhappy or happy).
            sign = 1.0 if z[0] >= 0 else -1.0
            push = contrib[:, 0] * sign
            top = np.argsort(-push)[:12]
            evidence = tuple(name for k in top if push[int(k)] > 0.05 and _telling(name := self.names[idx[int(k)]]))[:3]
        return Prediction(p_unhappy, p_remedy, self.classes[best], float(probs[best]), evidence,
                          tuple(zip(self.classes, (float(p) for p in probs), strict=True)))


def _telling(feature: str) -> bool:
    """A word or word pair that says something (not only function words)."""
    kind, _, value = feature.partition(":")
    return kind in ("w", "b") and any(w not in _PLAIN and len(w) > 2 for w in value.split())


@lru_cache(maxsize=1)
def load() -> LearnedModel:
    """The bundled model (built once per process)."""
    return LearnedModel()


def signals_of(a: Assessment) -> RuleSignals:
    """The phrase rules' verdict as the model's input."""
    read = not any(c.startswith(("text does not look like English", "empty text", "no words to score"))
                   for c in a.cues)
    fixed = any(c.startswith("fault already put right") for c in a.cues)
    return RuleSignals(unhappy=a.unhappy, issue=a.issue.value, sentiment=a.sentiment, confidence=a.confidence,
                       read=read, fixed=fixed, textblob=a.textblob, vader=a.vader)


def write(path: Path, *, names: list[str], unhappy: tuple[Any, float], remedy: tuple[Any, float],
          issue: tuple[list[str], Any, Any], fix: tuple[Any, Any], thresholds: dict[str, float],
          meta: dict[str, Any]) -> None:
    """Store trained heads (``bench/train_scoring.py``): float32 weights, names, thresholds.

    Columns: unhappy, remedy, the issue head of unhappy texts (one per class), then the issue head
    of remedy-worthy texts (same classes)."""
    classes, coef, intercept = issue
    weights = np.column_stack([np.asarray(unhappy[0]), np.asarray(remedy[0]), np.asarray(coef).T,
                               np.asarray(fix[0]).T]).astype(np.float32)
    bias = np.concatenate([[unhappy[1], remedy[1]], np.asarray(intercept), np.asarray(fix[1])]).astype(np.float64)
    # Drop features every head ignores (keeps the file small).
    keep = np.abs(weights).max(axis=1) >= 1e-4
    np.savez_compressed(
        path, names=np.asarray([n for n, k in zip(names, keep, strict=True) if k]), weights=weights[keep],
        bias=bias, classes=np.asarray(classes), thresholds=np.asarray(json.dumps(thresholds, sort_keys=True)),
        meta=np.asarray(json.dumps(meta, sort_keys=True)),
    )
