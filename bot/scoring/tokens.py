"""One shared split of a text into the tokens each signal needs.

TextBlob's pattern tokeniser, VADER's ``words_and_emoticons`` and the domain layer's tokeniser
all start from whitespace-separated chunks and never look across a chunk boundary, so the
tokens of a text are the concatenation of the tokens of its chunks. Chunks repeat a lot (Zipf:
"the", "it", "and", "broke."), so each distinct chunk is tokenised once, for all three, and the
result is cached. ``tests/test_sentiment.py`` checks this path against the libraries themselves.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.scoring import lexical
from bot.scoring.domain import TOKEN_RE, normalize

__all__ = ["Split", "split_text"]

# Raw chunks that end a sentence, for the per-sentence VADER mean.
_SENTENCE_END = (".", "!", "?", "...", "!!")
# Bounded: a long-running daemon sees an open-ended vocabulary.
_CACHE_MAX = 60_000

_Entry = tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...], bool]
_CACHE: dict[str, _Entry] = {}


@dataclass(frozen=True)
class Split:
    """A text's tokens for each signal."""

    textblob: list[str]  # lower-cased, as pattern's sentiment() sees them
    vader: list[str]  # VADER's words_and_emoticons (emoji already replaced by their names)
    domain: list[str]  # lower-cased domain tokens; a "\n" token ends each line
    sentence_ends: list[int]  # indices into ``vader`` where a sentence ends (exclusive)


def _chunk(chunk: str) -> _Entry:
    tb = tuple(lexical.textblob_tokens(chunk))
    vd = tuple(lexical.vader_tokens(chunk))
    dom = tuple(TOKEN_RE.findall(normalize(chunk)))
    entry = (tb, vd, dom, chunk.endswith(_SENTENCE_END))
    if len(_CACHE) >= _CACHE_MAX:
        _CACHE.clear()
    _CACHE[chunk] = entry
    return entry


def split_text(text: str) -> Split:
    """Tokens of ``text`` for TextBlob, VADER and the domain layer, in one pass."""
    tb: list[str] = []
    vd: list[str] = []
    dom: list[str] = []
    ends: list[int] = []
    cache = _CACHE
    lines = text.split("\n")
    multi = len(lines) > 1
    for line in lines:
        for chunk in line.split():
            e = cache.get(chunk)
            if e is None:
                e = _chunk(chunk)
            tb += e[0]
            vd += e[1]
            dom += e[2]
            if e[3]:
                ends.append(len(vd))
        if multi:
            dom.append("\n")
    return Split(tb, vd, dom, ends)
