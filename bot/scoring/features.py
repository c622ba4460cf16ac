"""The learned scorer's features: what a text looks like to the model, the same at training and at
run time (``bench/train_scoring.py`` and :mod:`bot.scoring.learned` both call :func:`extract`).

Three groups, each a list of (name, value):

* words: lower-cased word unigrams and bigrams (numbers folded to ``#``, emoji kept), so
  "stopped working" and "never arrived" weigh as phrases;
* characters: 3- to 5-letter pieces inside each word (``<br``, ``roke``, ``ken>``), which carry
  misspellings, inflections and the quarter of texts that are not in English;
* signals: the star rating, and what the phrase rules concluded (their verdict, their issue,
  the lexical polarities, whether they could read the text), so the rules are evidence the model
  weighs, not the decision.

Word and character groups are each scaled to unit length, so a long review and a tweet speak
equally loudly; signals keep their own scale.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from itertools import pairwise
from dataclasses import dataclass
from functools import lru_cache

_WORD_RE = re.compile(r"[^\W_]+(?:['’][^\W_]+)?|[\U0001F300-\U0001FAFF\u2600-\u27BF]", re.UNICODE)
_URL_RE = re.compile(r"https?://\S+|www\.\S+")
_HANDLE_RE = re.compile(r"(?<!\w)@\w+")
MAX_CHARS = 3000  # the model reads this much of a text (the start says what happened)


@dataclass(frozen=True)
class RuleSignals:
    """What the phrase rules said about a text (see :class:`bot.scoring.rules.RuleScorer`)."""

    unhappy: bool
    issue: str
    sentiment: float
    confidence: float
    read: bool  # False when the rules could not read the text (another language, no words)
    fixed: bool  # a fault the rules saw put right
    textblob: float
    vader: float


def words(text: str) -> list[str]:
    """Lower-cased word tokens of a text, links and @handles left out, numbers as ``#``."""
    text = _HANDLE_RE.sub(" ", _URL_RE.sub(" ", text[:MAX_CHARS].lower()))
    return ["#" if w[0].isdigit() else w for w in _WORD_RE.findall(text)]


@lru_cache(maxsize=65536)
def _char_grams(word: str) -> tuple[str, ...]:
    """The 3- to 5-letter pieces of one word, with its edges marked (words repeat: cached)."""
    padded = f"<{word}>"
    n = len(padded)
    return tuple(f"c:{padded[i : i + size]}" for size in (3, 4, 5) for i in range(n - size + 1))


def _unit(counts: Counter[str]) -> list[tuple[str, float]]:
    if not counts:
        return []
    # sublinear counts, then unit length
    values = {k: 1.0 + math.log(v) for k, v in counts.items()}
    norm = math.sqrt(sum(v * v for v in values.values()))
    return [(k, v / norm) for k, v in values.items()]


def extract(text: str, rating: float | None, rules: RuleSignals | None) -> list[tuple[str, float]]:
    """The named features of one text (unknown names are ignored by the model)."""
    tokens = words(text)
    grams: Counter[str] = Counter(f"w:{t}" for t in tokens)
    grams.update(f"b:{a} {b}" for a, b in pairwise(tokens))
    chars: Counter[str] = Counter()
    for t in tokens:
        if len(t) >= 2 and t != "#":
            chars.update(_char_grams(t))
    out = _unit(grams) + _unit(chars)
    out.append(("stars:none" if rating is None else f"stars:{round(rating)}", 1.0))
    length = len(tokens)
    out.append(("len:" + ("<8" if length < 8 else "<25" if length < 25 else "<80" if length < 80 else "80+"), 1.0))
    if rules is not None:
        out += signal_features(rules)
    return out


def signal_features(rules: RuleSignals) -> Sequence[tuple[str, float]]:
    if not rules.read:
        return [("rules:unread", 1.0)]
    return [
        ("rules:unhappy" if rules.unhappy else "rules:happy", 1.0),
        (f"rules:issue:{rules.issue}", 1.0),
        ("rules:sentiment", rules.sentiment),
        ("rules:confidence", rules.confidence if rules.unhappy else -rules.confidence),
        ("rules:fixed", 1.0 if rules.fixed else 0.0),
        ("lex:textblob", rules.textblob),
        ("lex:vader", rules.vader),
    ]
