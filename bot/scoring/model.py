"""A small learned text model that names the buyer's issue when the phrase rules cannot.

The phrase rules (:mod:`bot.scoring.phrases`) are precise but only know the wordings someone
wrote down; on unseen wording they fall back to ``other`` or pick a weak neighbour. This model is
a naive Bayes classifier over word unigrams and bigrams (binary presence) with two heads:

* an *issue* head over the eleven issue kinds, trained on the unhappy lines of our own labelled
  dev and check sets, and
* an *unhappy* head (happy vs unhappy), trained on all of them.

It is trained offline by ``bench/train_scoring.py``, which writes the weights to
:mod:`bot.scoring.model_weights` as plain text in a Python string (no data file to package, no
numpy at run time). Scoring a text is one dictionary lookup per feature and a column sum.
Deterministic: no randomness anywhere, and the same training lines give byte-identical weights.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

__all__ = ["IssueModel", "features", "load", "parse_weights"]

# Tokens that carry no word (punctuation) are dropped; "!" and "?" are kept as tone markers.
_KEEP_SYMBOLS = frozenset({"!", "?"})
_BREAKS = frozenset({".", "!", "?", "\n", ";", ":", ","})


def features(tokens: Sequence[str], rating: float | None = None) -> set[str]:
    """Binary features of a text's domain tokens: unigrams, adjacent bigrams, a rating bucket.

    Numbers become ``#`` (so "3 weeks" and "10 weeks" are one bigram); bigrams never cross a
    sentence or clause break. Emoji and other single symbols are kept as words.
    """
    out: set[str] = set()
    prev = ""
    for tok in tokens:
        c = tok[0]
        if c.isalnum():
            w = "#" if c.isdigit() else tok
        elif tok in _BREAKS:
            if tok in _KEEP_SYMBOLS:
                out.add(tok)
            prev = ""
            continue
        elif c.isascii():
            prev = ""
            continue
        else:
            w = tok  # emoji and other non-ASCII symbols
        out.add(w)
        if prev:
            out.add(prev + " " + w)
        prev = w
    out.add("__stars" if rating is None else f"__stars{int(rating)}")
    return out


@dataclass(frozen=True)
class IssueModel:
    """Naive Bayes weights for both heads (log-probabilities, centred per feature)."""

    labels: tuple[str, ...]
    issue_prior: tuple[float, ...]
    issue_weights: dict[str, tuple[float, ...]]
    unhappy_prior: float  # log-odds
    unhappy_weights: dict[str, float]  # log-likelihood ratio per present feature
    temperature: float  # divides summed log-probabilities: NB is over-confident on long texts

    def issue_probs(self, feats: Iterable[str]) -> list[tuple[str, float]]:
        """(issue, probability) for each issue kind, most likely first."""
        get = self.issue_weights.get
        rows = [w for w in map(get, feats) if w is not None]
        rows.append(self.issue_prior)
        t = self.temperature
        scores = [s / t for s in map(math.fsum, zip(*rows, strict=True))]
        top = max(scores)
        exps = [math.exp(s - top) for s in scores]
        total = sum(exps)
        ranked = sorted(zip(self.labels, (e / total for e in exps), strict=True), key=lambda kv: (-kv[1], kv[0]))
        return ranked

    def unhappy_prob(self, feats: Iterable[str]) -> float:
        """Probability that the writer is unhappy."""
        get = self.unhappy_weights.get
        z = self.unhappy_prior + math.fsum(w for w in map(get, feats) if w is not None)
        z /= self.temperature
        if z < -30:
            return 0.0
        if z > 30:
            return 1.0
        return 1.0 / (1.0 + math.exp(-z))


def parse_weights(blob: str) -> IssueModel:
    """Read the text format ``bench/train_scoring.py`` writes (tab-separated, one line each)."""
    labels: tuple[str, ...] = ()
    prior: tuple[float, ...] = ()
    u_prior = 0.0
    temperature = 1.0
    iw: dict[str, tuple[float, ...]] = {}
    uw: dict[str, float] = {}
    for line in blob.splitlines():
        if not line:
            continue
        kind, key, vals = line.split("\t", 2)
        if kind == "labels":
            labels = tuple(vals.split())
        elif kind == "prior":
            prior = tuple(float(v) for v in vals.split())
        elif kind == "uprior":
            u_prior = float(vals)
        elif kind == "temp":
            temperature = float(vals)
        elif kind == "i":
            iw[key] = tuple(float(v) for v in vals.split())
        elif kind == "u":
            uw[key] = float(vals)
        else:
            raise ValueError(f"model weights: unknown line kind {kind!r}")
    if not labels or len(prior) != len(labels) or any(len(v) != len(labels) for v in iw.values()):
        raise ValueError("model weights: labels, prior and weight rows disagree")
    return IssueModel(labels, prior, iw, u_prior, uw, temperature)


_MODEL: IssueModel | None = None


def load() -> IssueModel:
    """The bundled model, parsed once on first use (offline: the weights are in a module)."""
    global _MODEL
    if _MODEL is None:
        from bot.scoring.model_weights import WEIGHTS

        _MODEL = parse_weights(WEIGHTS)
    return _MODEL
