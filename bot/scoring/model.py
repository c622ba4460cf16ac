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
from itertools import pairwise
from dataclasses import dataclass

__all__ = ["Feature", "IssueModel", "feature_text", "features", "load", "parse_weights"]

# Tokens that carry no word (punctuation) are dropped; "!" and "?" are kept as tone markers.
_KEEP_SYMBOLS = frozenset({"!", "?"})
_BREAKS = frozenset({".", "!", "?", "\n", ";", ":", ","})


def _word(tok: str) -> str:
    """The feature word of one token: ``#`` for a number, "" for a break or dropped symbol."""
    c = tok[0]
    if c.isalnum():
        return "#" if c.isdigit() else tok
    if tok in _BREAKS or c.isascii():
        return ""
    return tok  # emoji and other non-ASCII symbols


_WORDS: dict[str, str] = {}
_WORDS_MAX = 60_000  # bounded: a long-running daemon sees an open-ended vocabulary


Feature = str | tuple[str, str]  # a unigram, or a bigram as a pair (no string building per text)


def features(tokens: Sequence[str], rating: float | None = None) -> set[Feature]:
    """Binary features of a text's domain tokens: unigrams, adjacent bigrams, a rating bucket.

    Numbers become ``#`` (so "3 weeks" and "10 weeks" are one bigram); bigrams never cross a
    sentence or clause break. Emoji and other single symbols are kept as words; "!" and "?" as
    tone markers.
    """
    cache = _WORDS
    if len(cache) > _WORDS_MAX:
        cache.clear()
    ws = [cache.get(t) for t in tokens]
    if None in ws:
        for i, w in enumerate(ws):
            if w is None:
                ws[i] = cache[tokens[i]] = _word(tokens[i])
    words: list[str] = ws  # type: ignore[assignment]  # every None was just filled in
    out: set[Feature] = set(words)
    out.update(pairwise(words))
    out.discard("")
    out.update(_KEEP_SYMBOLS.intersection(tokens))
    out.add("__stars" if rating is None else f"__stars{int(rating)}")
    return out


# Weights are stored with two decimals, so they are exact as integer hundredths. The eleven issue
# weights of a feature are packed into one integer (a 40-bit slot each, offset to be positive), so
# summing a text's features is one C-level ``sum`` of integers: fast, and exact, so the result never
# depends on the (hash-seeded) order of the feature set.
_SLOT = 40
_MASK = (1 << _SLOT) - 1
_OFFSET = 1 << 20


def _pack(values: Sequence[float]) -> int:
    out = 0
    for i, v in enumerate(values):
        out |= (round(v * 100) + _OFFSET) << (_SLOT * i)
    return out


@dataclass(frozen=True)
class IssueModel:
    """Naive Bayes weights for both heads (log-probabilities in hundredths, centred per feature)."""

    labels: tuple[str, ...]
    issue_prior: int  # packed, like each row of issue_weights
    issue_weights: dict[Feature, int]
    unhappy_prior: int  # log-odds, hundredths
    unhappy_weights: dict[Feature, int]  # log-likelihood ratio per present feature, hundredths
    temperature: float  # divides summed log-probabilities: NB is over-confident on long texts

    def issue_probs(self, feats: Iterable[Feature]) -> list[tuple[str, float]]:
        """(issue, probability) for each issue kind, most likely first."""
        # A packed row is never 0 (every slot carries the offset), so filter(None) keeps them all.
        rows = list(filter(None, map(self.issue_weights.get, feats)))
        total = sum(rows, self.issue_prior)
        base = (len(rows) + 1) * _OFFSET
        scale = 100.0 * self.temperature
        scores = [(((total >> (_SLOT * i)) & _MASK) - base) / scale for i in range(len(self.labels))]
        top = max(scores)
        exps = [math.exp(s - top) for s in scores]
        norm = sum(exps)
        return sorted(zip(self.labels, (e / norm for e in exps), strict=True), key=lambda kv: (-kv[1], kv[0]))

    def unhappy_prob(self, feats: Iterable[Feature]) -> float:
        """Probability that the writer is unhappy."""
        # Absent features give None, and a zero weight adds nothing: filter(None) drops both.
        z = sum(filter(None, map(self.unhappy_weights.get, feats)), self.unhappy_prior)
        x = z / (100.0 * self.temperature)
        if x < -30:
            return 0.0
        if x > 30:
            return 1.0
        return 1.0 / (1.0 + math.exp(-x))


def _key(text: str) -> Feature:
    a, sep, b = text.partition(" ")
    return (a, b) if sep else a


def feature_text(f: Feature) -> str:
    """A feature as the weights file writes it ("word" or "word word")."""
    return f if isinstance(f, str) else f"{f[0]} {f[1]}"


def parse_weights(blob: str) -> IssueModel:
    """Read the text format ``bench/train_scoring.py`` writes (tab-separated, one line each)."""
    labels: tuple[str, ...] = ()
    prior: tuple[float, ...] = ()
    u_prior = 0.0
    temperature = 1.0
    rows: dict[Feature, tuple[float, ...]] = {}
    uw: dict[Feature, int] = {}
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
            rows[_key(key)] = tuple(float(v) for v in vals.split())
        elif kind == "u":
            uw[_key(key)] = round(float(vals) * 100)
        else:
            raise ValueError(f"model weights: unknown line kind {kind!r}")
    if not labels or len(prior) != len(labels) or any(len(v) != len(labels) for v in rows.values()):
        raise ValueError("model weights: labels, prior and weight rows disagree")
    if any(abs(v) >= 1000 for row in (prior, *rows.values()) for v in row):
        raise ValueError("model weights: a weight is too large to pack")
    iw = {k: _pack(v) for k, v in rows.items()}
    return IssueModel(labels, _pack(prior), iw, round(u_prior * 100), uw, temperature)


_MODEL: IssueModel | None = None


def load() -> IssueModel:
    """The bundled model, parsed once on first use (offline: the weights are in a module)."""
    global _MODEL
    if _MODEL is None:
        from bot.scoring.model_weights import WEIGHTS

        _MODEL = parse_weights(WEIGHTS)
    return _MODEL
