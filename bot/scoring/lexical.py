"""Fast, exact ports of the two lexicon scorers recoverybot combines.

TextBlob's PatternAnalyzer and VADER are both lexicon scorers, but their stock entry points spend
most of their time in general-purpose tokenising (regex passes per contraction, per-character emoji
loops, whole-list lower-casing inside inner loops). We load their bundled lexicons once at import
and re-run the same rules over our own precompiled tokens. ``tests/test_sentiment.py`` checks that
the results agree with ``TextBlob(text).sentiment.polarity`` and VADER's ``compound``.

Nothing here touches the network or NLTK corpora: both lexicons ship inside the installed wheels.
"""

from __future__ import annotations

import math
import string
from collections.abc import Sequence

import importlib.util
import os
from types import ModuleType
from typing import Any

from vaderSentiment import vaderSentiment as _vs

__all__ = [
    "TB_LEXICON",
    "VADER_LEXICON",
    "textblob_polarity",
    "textblob_tokens",
    "vader_compound",
    "vader_normalize",
    "vader_tokens",
    "vader_valences",
]

# --------------------------------------------------------------------------------------------------
# TextBlob (pattern) polarity
# --------------------------------------------------------------------------------------------------


def _textblob_text() -> ModuleType:
    """TextBlob's pattern module (``textblob/_text.py``: lexicon, tokeniser rules, emoticons), loaded
    from the installed package without importing ``textblob`` itself, which imports NLTK and costs
    seconds at every start-up. It needs only the standard library."""
    spec = importlib.util.find_spec("textblob")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("textblob is not installed")
    folder = spec.submodule_search_locations[0]
    text_spec = importlib.util.spec_from_file_location("_recoverybot_textblob_text", os.path.join(folder, "_text.py"))
    assert text_spec is not None and text_spec.loader is not None
    module = importlib.util.module_from_spec(text_spec)
    text_spec.loader.exec_module(module)
    module.__dict__["_folder"] = folder
    return module


_tb_text = _textblob_text()


def _textblob_sentiment() -> Any:
    """The lexicon ``textblob.en.sentiment`` holds, built the way ``textblob/en/__init__.py`` builds it
    (with its "terrible" -> "terribly" adverb expansion); tests compare the result with TextBlob."""
    base = _tb_text.Sentiment

    class Sentiment(base):  # type: ignore[misc, valid-type]
        def load(self, path: str | None = None) -> None:
            base.load(self, path)
            if not path:
                entries: list[tuple[str, dict[str, Any]]] = list(dict.items(self))
                for w, pos in entries:
                    if "JJ" in pos:
                        if w.endswith("y"):
                            w = w[:-1] + "i"
                        if w.endswith("le"):
                            w = w[:-2]
                        p, s, i = pos["JJ"]
                        self.annotate(w + "ly", "RB", p, s, i)

    sentiment = Sentiment(
        path=os.path.join(_tb_text._folder, "en", "en-sentiment.xml"), synset="wordnet_id",
        negations=("no", "not", "n't", "never"), modifiers=("RB",), modifier=lambda w: w.endswith("ly"),
        tokenizer=None, language="en",
    )
    len(sentiment)  # forces the lazy XML load (and the adverb expansion) exactly once
    return sentiment


_tb_sentiment = _textblob_sentiment()


def _load_tb_lexicon() -> dict[str, tuple[float, float, bool]]:
    """word -> (polarity, intensity, is_modifier), as pattern sees words tagged with pos=None."""
    lex: dict[str, tuple[float, float, bool]] = {}
    for word, senses in dict.items(_tb_sentiment):
        p, _s, i = senses[None]
        # pattern treats a word as a modifier of the next one when any sense is an adverb.
        lex[word] = (float(p), float(i), "RB" in senses)
    return lex


TB_LEXICON: dict[str, tuple[float, float, bool]] = _load_tb_lexicon()
_TB_NEGATIONS = frozenset(("no", "not", "n't", "never"))
_TB_PUNCT = _tb_text.PUNCTUATION
_TB_LEAD = frozenset(_TB_PUNCT.replace(".", ""))
_TB_TRAIL = frozenset(_TB_PUNCT)
_TB_ABBREVIATIONS = frozenset(_tb_text.ABBREVIATIONS)
_TB_ABBR = (_tb_text.RE_ABBR1, _tb_text.RE_ABBR2, _tb_text.RE_ABBR3)
# pattern inserts spaces around every quote character (after splitting "n't" off its verb).
_TB_QUOTES = str.maketrans({q: f" {q} " for q in "“”‘’'\""})


def _tb_emoticons() -> dict[str, float]:
    table: dict[str, float] = {}
    for (_kind, polarity), faces in _tb_text.EMOTICONS.items():
        for face in faces:
            table.setdefault(face.lower(), polarity)
    return table


_TB_EMOTICONS = _tb_emoticons()
_TB_FACES = frozenset(face for faces in _tb_text.EMOTICONS.values() for face in faces)


def _split_chunk(chunk: str, out: list[str]) -> None:
    """pattern's find_tokens() for one whitespace-separated chunk that has edge punctuation."""
    if chunk in _TB_FACES:  # pattern re-joins split emoticons afterwards; keep them whole
        out.append(chunk)
        return
    if chunk == "(!)":
        out.append(chunk)
        return
    t = chunk
    while t and t[0] in _TB_LEAD:
        out.append(t[0])
        t = t[1:]
    tail: list[str] = []
    while t and t[-1] in _TB_TRAIL:
        if t[-1] in _TB_LEAD:
            tail.append(t[-1])
            t = t[:-1]
        if t.endswith("..."):
            tail.append("...")
            t = t[:-3].rstrip(".")
        if t.endswith("."):
            if t in _TB_ABBREVIATIONS or any(r.match(t) is not None for r in _TB_ABBR):
                break
            tail.append(".")
            t = t[:-1]
    if t:
        out.append(t)
    tail.reverse()
    out.extend(tail)


def textblob_tokens(text: str) -> list[str]:
    """Lower-cased tokens as pattern's sentiment() sees them (quotes split, "n't" split)."""
    if "n't" in text:
        text = text.replace("n't", " n't")
    chunks = text.translate(_TB_QUOTES).split()
    out: list[str] = []
    lead, trail = _TB_LEAD, _TB_TRAIL
    append = out.append
    for chunk in chunks:
        if chunk[0] in lead or chunk[-1] in trail:
            _split_chunk(chunk, out)
        else:
            append(chunk)
    return [t.lower() for t in out]


def textblob_polarity(tokens: Sequence[str], lexicon: dict[str, tuple[float, float, bool]] | None = None) -> float:
    """pattern's Sentiment.assessments() + average polarity, over textblob_tokens() output."""
    lex = TB_LEXICON if lexicon is None else lexicon
    negs = _TB_NEGATIONS
    # each assessment: [polarity, intensity, negated]
    a: list[list[float]] = []
    m: str | None = None
    n: str | None = None
    for w in tokens:
        e = lex.get(w)
        if e is not None:
            p, i, is_mod = e
            if m is None:
                a.append([p, i, 1.0])
            else:
                last = a[-1]
                last[0] = max(-1.0, min(p * last[1], 1.0))
                last[1] = i
            if n is not None:
                last = a[-1]
                last[1] = 1.0 / last[1] if last[1] else math.inf
                last[2] = -1.0
            m = w if is_mod else None
            n = w if w in negs else None
        else:
            if w in negs:
                n = w
            elif n is not None and len(w.strip("'")) > 1:
                n = None
            if n is not None and m is not None and m.endswith("ly"):
                a[-1][2] = -1.0
                n = None
            elif m is not None and len(w) > 2:
                m = None
            if w == "!" and a:
                a[-1][0] = max(-1.0, min(a[-1][0] * 1.25, 1.0))
            if w == "(!)":
                a.append([0.0, 1.0, 1.0])
            face = _TB_EMOTICONS.get(w)
            if face is not None and not w.isalpha():
                a.append([face, 1.0, 1.0])
    if not a:
        return 0.0
    total = 0.0
    for p, _i, neg in a:
        total += p * -0.5 if neg < 0 else p
    return total / len(a)


# --------------------------------------------------------------------------------------------------
# VADER compound
# --------------------------------------------------------------------------------------------------

_VADER = _vs.SentimentIntensityAnalyzer()
VADER_LEXICON: dict[str, float] = dict(_VADER.lexicon)
_EMOJI: dict[str, str] = dict(_VADER.emojis)
_NEGATE = frozenset(_vs.NEGATE)
_BOOST: dict[str, float] = dict(_vs.BOOSTER_DICT)
_SPECIAL: dict[str, float] = dict(_vs.SPECIAL_CASES)
# Every word of a multi-word idiom or booster: a window holding none of them matches none of them.
_IDIOM_WORDS: frozenset[str] = frozenset(
    w for key in (*_SPECIAL, *_BOOST) if " " in key for w in key.split())
# Words before a lexicon word that make VADER's context rules (boosters, negation, 'least', idioms)
# do anything; a word with "n't" also negates.
_SLOW_CONTEXT: frozenset[str] = frozenset(
    {*_BOOST, *_NEGATE, *_IDIOM_WORDS, "never", "without", "so", "this", "least", "doubt"})
_PUNCT = string.punctuation
_N_SCALAR = _vs.N_SCALAR
_C_INCR = _vs.C_INCR


def _replace_emoji(text: str) -> str:
    # Same walk as polarity_scores(): each emoji becomes its description, space-separated.
    parts: list[str] = []
    prev_space = True
    for ch in text:
        desc = _EMOJI.get(ch)
        if desc is not None:
            if not prev_space:
                parts.append(" ")
            parts.append(desc)
            prev_space = False
        else:
            parts.append(ch)
            prev_space = ch == " "
    return "".join(parts)


# A set, not a regex character class: sre scans a class of ~3,500 astral code points linearly.
_EMOJI_CHARS = frozenset(ch for ch in _EMOJI if len(ch) == 1)


def vader_tokens(text: str) -> list[str]:
    """VADER's words_and_emoticons: whitespace split, edge punctuation stripped from words."""
    if not text.isascii() and not _EMOJI_CHARS.isdisjoint(text):
        text = _replace_emoji(text)
    out: list[str] = []
    append = out.append
    punct = _PUNCT
    for tok in text.split():
        if tok[0] in punct or tok[-1] in punct:
            stripped = tok.strip(punct)
            append(tok if len(stripped) <= 2 else stripped)
        else:
            append(tok)
    return out


def _negated(word: str) -> bool:
    return word in _NEGATE or "n't" in word


def vader_valences(words: Sequence[str], lexicon: dict[str, float] | None = None) -> list[float]:
    """Per-token valences after VADER's boosters, negation, caps, idioms and 'but' rules."""
    lex = VADER_LEXICON if lexicon is None else lexicon
    n = len(words)
    low = [w.lower() for w in words]
    caps = 0
    for w in words:
        if w.isupper():
            caps += 1
    is_cap_diff = 0 < n - caps < n
    slow, idiom = _SLOW_CONTEXT, _IDIOM_WORDS
    sentiments: list[float] = []
    for i, item in enumerate(words):
        lw = low[i]
        if lw in _BOOST:
            sentiments.append(0.0)
            continue
        if lw == "kind" and i < n - 1 and low[i + 1] == "of":
            sentiments.append(0.0)
            continue
        base = lex.get(lw)
        if base is None:
            sentiments.append(0.0)
            continue
        valence = base
        if lw == "no" and i != n - 1 and low[i + 1] in lex:
            valence = 0.0
        if (
            (i > 0 and low[i - 1] == "no")
            or (i > 1 and low[i - 2] == "no")
            or (i > 2 and low[i - 3] == "no" and low[i - 1] in ("or", "nor"))
        ):
            valence = base * _N_SCALAR
        if is_cap_diff and item.isupper():
            valence = valence + _C_INCR if valence > 0 else valence - _C_INCR
        # Fast path, same result: with no booster, negation, 'least', 'so'/'this'/'never' or idiom
        # word among the three words before (and no idiom word around it), the rules below change nothing.
        if ((i < 1 or (low[i - 1] not in slow and "n't" not in low[i - 1]))
                and (i < 2 or (low[i - 2] not in slow and "n't" not in low[i - 2]))
                and (i < 3 or (low[i - 3] not in slow and "n't" not in low[i - 3]
                               and lw not in idiom and (i >= n - 1 or low[i + 1] not in idiom)
                               and (i >= n - 2 or low[i + 2] not in idiom)))):
            sentiments.append(valence)
            continue
        for start_i in range(3):
            if i > start_i and low[i - (start_i + 1)] not in lex:
                prev = words[i - (start_i + 1)]
                s = _BOOST.get(low[i - (start_i + 1)], 0.0)
                if s:
                    if valence < 0:
                        s = -s
                    if is_cap_diff and prev.isupper():
                        s = s + _C_INCR if valence > 0 else s - _C_INCR
                    if start_i == 1:
                        s *= 0.95
                    elif start_i == 2:
                        s *= 0.9
                valence += s
                valence = _negation_check(valence, low, start_i, i)
                if start_i == 2:
                    valence = _special_idioms(valence, low, i)
        valence = _least_check(valence, low, i, lex)
        sentiments.append(valence)
    if "but" in low:
        _but_check(low, sentiments)
    return sentiments


def _negation_check(valence: float, low: list[str], start_i: int, i: int) -> float:
    if start_i == 0:
        if _negated(low[i - 1]):
            valence *= _N_SCALAR
    elif start_i == 1:
        if low[i - 2] == "never" and low[i - 1] in ("so", "this"):
            valence *= 1.25
        elif low[i - 2] == "without" and low[i - 1] == "doubt":
            pass
        elif _negated(low[i - 2]):
            valence *= _N_SCALAR
    else:
        if (low[i - 3] == "never" and low[i - 2] in ("so", "this")) or low[i - 1] in ("so", "this"):
            valence *= 1.25
        elif low[i - 3] == "without" and (low[i - 2] == "doubt" or low[i - 1] == "doubt"):
            pass
        elif _negated(low[i - 3]):
            valence *= _N_SCALAR
    return valence


def _special_idioms(valence: float, low: list[str], i: int) -> float:
    # Negative indices wrap around exactly as in VADER (it formats low[i - 3] even when i < 3).
    n = len(low)
    words = _IDIOM_WORDS
    if (low[i - 3] not in words and low[i - 2] not in words and low[i - 1] not in words and low[i] not in words
            and (n - 1 <= i or low[i + 1] not in words) and (n - 1 <= i + 1 or low[i + 2] not in words)):
        return valence  # no idiom can match: every n-gram below is made of this window's words
    onezero = f"{low[i - 1]} {low[i]}"
    twoonezero = f"{low[i - 2]} {low[i - 1]} {low[i]}"
    twoone = f"{low[i - 2]} {low[i - 1]}"
    threetwoone = f"{low[i - 3]} {low[i - 2]} {low[i - 1]}"
    threetwo = f"{low[i - 3]} {low[i - 2]}"
    for seq in (onezero, twoonezero, twoone, threetwoone, threetwo):
        if seq in _SPECIAL:
            valence = _SPECIAL[seq]
            break
    n = len(low)
    if n - 1 > i:
        zeroone = f"{low[i]} {low[i + 1]}"
        if zeroone in _SPECIAL:
            valence = _SPECIAL[zeroone]
    if n - 1 > i + 1:
        zeroonetwo = f"{low[i]} {low[i + 1]} {low[i + 2]}"
        if zeroonetwo in _SPECIAL:
            valence = _SPECIAL[zeroonetwo]
    for ngram in (threetwoone, threetwo, twoone):
        if ngram in _BOOST:
            valence += _BOOST[ngram]
    return valence


def _least_check(valence: float, low: list[str], i: int, lex: dict[str, float]) -> float:
    if i > 1 and low[i - 1] not in lex and low[i - 1] == "least":
        if low[i - 2] != "at" and low[i - 2] != "very":
            valence *= _N_SCALAR
    elif i > 0 and low[i - 1] not in lex and low[i - 1] == "least":
        valence *= _N_SCALAR
    return valence


def _but_check(low: list[str], sentiments: list[float]) -> None:
    # VADER's quirk kept: each value is located with list.index() (its first equal value), and the
    # loop reads the list as it is being rewritten. A zero stays zero wherever it lands, so zeros
    # (most tokens) are skipped: the same result without the quadratic scan over them.
    bi = low.index("but")
    for j in range(len(sentiments)):
        sentiment = sentiments[j]
        if sentiment == 0.0:
            continue
        si = sentiments.index(sentiment)
        if si < bi:
            sentiments[si] = sentiment * 0.5
        elif si > bi:
            sentiments[si] = sentiment * 1.5


def vader_normalize(score: float, alpha: float = 15.0) -> float:
    """VADER's squashing of a valence sum into -1..1."""
    norm = score / math.sqrt(score * score + alpha)
    return max(-1.0, min(1.0, norm))


def punctuation_amplifier(text: str) -> float:
    """VADER's extra emphasis for '!' and repeated '?'."""
    ep = min(text.count("!"), 4) * 0.292
    qm_count = text.count("?")
    qm = 0.0
    if qm_count > 1:
        qm = qm_count * 0.18 if qm_count <= 3 else 0.96
    return ep + qm


def vader_compound(text: str, words: Sequence[str] | None = None, valences: Sequence[float] | None = None) -> float:
    """VADER's compound score (rounded to 4 places like polarity_scores())."""
    if words is None:
        words = vader_tokens(text.strip())
    if valences is None:
        valences = vader_valences(words)
    if not valences:
        return 0.0
    total = float(sum(valences))
    amp = punctuation_amplifier(text)
    if total > 0:
        total += amp
    elif total < 0:
        total -= amp
    return round(vader_normalize(total), 4)
