"""The domain layer: find complaint, praise and issue phrases in a review, fast.

Patterns from :mod:`bot.scoring.phrases` are expanded into token sequences and stored in one
token trie, so a review is matched in a single left-to-right walk whatever the number of phrases
(a regex alternation of a few thousand phrases costs milliseconds per review; the trie costs
tens of microseconds). Wildcards: ``\\d+`` (a number), ``[\\w-]+`` (any one word) and ``.{0,N}?``
(a gap of up to six tokens).
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from bot.scoring.phrases import HYPOTHETICAL, NEAR_ONLY, NEGATORS, PHRASES

__all__ = ["Hit", "PhraseMatcher", "tokenize", "normalize"]

_NUM = "\x01"
_WORD = "\x02"
_GAP = "\x03"
_GAP_MAX = 6

# Words, numbers (keeping "10/10", "4k", "wi-fi", "won't" whole) and single symbols.
TOKEN_RE = re.compile(r"[a-z0-9]+(?:['\-/.][a-z0-9]+)*'?|[^\sa-z0-9]")
_QUOTES = str.maketrans({"’": "'", "‘": "'", "´": "'", "`": "'", "“": '"', "”": '"'})
CLAUSE_BREAKS = frozenset({".", "!", "?", ";", ",", ":", "but", "however", "though", "although", "and",
                           "\n", "(", ")", "-", "–", "—"})
SENTENCE_BREAKS = frozenset({".", "!", "?", "\n"})


def normalize(text: str) -> str:
    """Lower-case, straighten quotes; keep newlines (they end sentences in reviews)."""
    return text.lower().translate(_QUOTES)


def tokenize(norm: str) -> list[str]:
    """Tokens of normalized text; each newline becomes a sentence-break token."""
    if "\n" in norm:
        out: list[str] = []
        for line in norm.split("\n"):
            out.extend(TOKEN_RE.findall(line))
            out.append("\n")
        return out
    return TOKEN_RE.findall(norm)


# ----------------------------------------------------------------------------- pattern parsing

# A slot is one position in a pattern: literal alternatives (each a token tuple, keyed by first
# token), a wildcard, and whether it may be skipped.
Alts = dict[str, list[tuple[str, ...]]]


@dataclass(frozen=True)
class Slot:
    """One step of a compiled pattern."""

    alts: Alts
    wildcard: str  # "", _NUM, _WORD or _GAP
    optional: bool


_WILDCARDS = (("\\d+", _NUM), ("[\\w-]+", _WORD))
_GAP_RE = re.compile(r"\.\{0,\d+\}\??")


def _expand_alts(body: str) -> list[str]:
    """Expand a group body (may nest groups) into plain strings."""
    out: list[str] = []
    depth = 0
    cur: list[str] = []
    parts: list[str] = []
    for ch in body:
        if ch in "([":
            depth += 1
        elif ch in ")]":
            depth -= 1
        if ch == "|" and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    parts.append("".join(cur))
    for part in parts:
        out.extend(_expand_seq(part))
    return out


def _expand_seq(s: str) -> list[str]:
    results = [""]
    i = 0
    while i < len(s):
        ch = s[i]
        if ch in "([" and not s.startswith("[\\w-]+", i) and not s.startswith("[.!,]", i):
            j = _close(s, i)
            alts = _expand_alts(s[i + 1:j])
            optional = ch == "["
            i = j + 1
            if i < len(s) and s[i] == "?":
                optional, i = True, i + 1
            if optional:
                alts.append("")
            results = [r + a for r in results for a in alts]
        else:
            results = [r + ch for r in results]
            i += 1
    return results


def _close(s: str, i: int) -> int:
    depth = 0
    for j in range(i, len(s)):
        if s[j] in "([":
            depth += 1
        elif s[j] in ")]":
            depth -= 1
            if depth == 0:
                return j
    raise ValueError(f"unbalanced brackets in phrase pattern {s!r}")


def _tokens_of(text: str) -> tuple[str, ...]:
    text = text.replace("\\$", "$").replace("\\+", "+").replace("[.!,]", ".")
    text = text.replace("\\d+", f" {_NUM} ").replace("[\\w-]+", f" {_WORD} ")
    out: list[str] = []
    for chunk in normalize(text).split():
        if chunk in (_NUM, _WORD):
            out.append(chunk)
        else:
            out.extend(TOKEN_RE.findall(chunk))
    return tuple(out)


# Frequent words make poor pre-filters: a pattern is gated on its rarest mandatory slot.
_COMMON = frozenset(
    "a an the it its it's this that these those i i'm me my mine we our you your they them their he she"
    " is was are were be been being am has have had do does did done not no n't and or but so to of in"
    " on at for with from by as up out off all any one two some very really just only too also still"
    " now then than get got go went come came will would can could should there here what when how".split()
)


def compile_pattern(pattern: str) -> list[Slot]:
    """Parse one phrase pattern into slots."""
    # " ?" after a group is a leftover regex idiom for an optional space: spaces are free here.
    s = pattern.lower().replace(" ?", " ")
    slots: list[Slot] = []
    i = 0
    lit: list[str] = []

    def flush() -> None:
        for tok in _tokens_of("".join(lit)):
            slots.append(Slot({tok: [(tok,)]}, "", False))
        lit.clear()

    while i < len(s):
        for token, wild in _WILDCARDS:
            if s.startswith(token, i):
                flush()
                slots.append(Slot({}, wild, False))
                i += len(token)
                break
        else:
            m = _GAP_RE.match(s, i)
            if m:
                flush()
                slots.append(Slot({}, _GAP, False))
                i = m.end()
                continue
            ch = s[i]
            if ch in "([" and not s.startswith("[.!,]", i):
                flush()
                j = _close(s, i)
                bodies = _expand_alts(s[i + 1:j])
                optional = ch == "["
                i = j + 1
                if i < len(s) and s[i] == "?":
                    optional, i = True, i + 1
                alts: Alts = {}
                for body in bodies:
                    toks = _tokens_of(body)
                    if not toks:
                        optional = True
                        continue
                    bucket = alts.setdefault(toks[0], [])
                    if toks not in bucket:
                        bucket.append(toks)
                slots.append(Slot(alts, "", optional))
            elif ch == "$":
                i += 1
            else:
                lit.append(ch)
                i += 1
    flush()
    return slots


def _first_tokens(slots: Sequence[Slot]) -> set[str]:
    firsts: set[str] = set()
    for slot in slots:
        if slot.wildcard:
            raise ValueError("a phrase pattern may not start with a wildcard")
        firsts.update(slot.alts)
        if not slot.optional:
            return firsts
    raise ValueError("a phrase pattern may not be entirely optional")


def _required(slots: Sequence[Slot]) -> frozenset[str]:
    """Tokens of which at least one must be in the text for the pattern to match.

    Taken from the most selective mandatory literal slot after the first, so the cheap set test
    in scan() skips most candidates before any matching is tried.
    """
    best: frozenset[str] | None = None
    best_key = (0, 0)
    for slot in slots[1:]:
        if slot.optional or slot.wildcard:
            continue
        vocab = frozenset(alt[0] for alts in slot.alts.values() for alt in alts)
        if _NUM in vocab or _WORD in vocab:
            continue
        key = (len(vocab & _COMMON), len(vocab))
        if best is None or key < best_key:
            best, best_key = vocab, key
    return best if best is not None else frozenset()


def _match(tokens: Sequence[str], slots: Sequence[Slot], si: int, j: int) -> int:
    """Longest end index for slots[si:] matched at tokens[j:], or -1."""
    if si == len(slots):
        return j
    slot = slots[si]
    best = -1
    n = len(tokens)
    if slot.optional:
        best = _match(tokens, slots, si + 1, j)
    if slot.wildcard:
        if slot.wildcard == _GAP:
            k = j
            while k <= n and k - j <= _GAP_MAX:
                end = _match(tokens, slots, si + 1, k)
                if end > best:
                    best = end
                if k < n and tokens[k] in SENTENCE_BREAKS:
                    break
                k += 1
            return best
        if j < n:
            tok = tokens[j]
            if (tok.isdigit() if slot.wildcard == _NUM else tok[0].isalnum()):
                end = _match(tokens, slots, si + 1, j + 1)
                if end > best:
                    best = end
        return best
    if j < n:
        tok = tokens[j]
        cands = slot.alts.get(tok)
        if cands:
            for alt in cands:
                m = len(alt)
                if m == 1 or _same(tokens, j, alt):
                    end = _match(tokens, slots, si + 1, j + m)
                    if end > best:
                        best = end
        if tok.isdigit():
            for alt in slot.alts.get(_NUM, ()):
                if _same(tokens, j, alt):
                    end = _match(tokens, slots, si + 1, j + len(alt))
                    if end > best:
                        best = end
    return best


def _same(tokens: Sequence[str], j: int, alt: tuple[str, ...]) -> bool:
    if j + len(alt) > len(tokens):
        return False
    for k, want in enumerate(alt):
        got = tokens[j + k]
        if got == want:
            continue
        if want == _NUM and got.isdigit():
            continue
        if want == _WORD and got[0].isalnum():
            continue
        return False
    return True


# ----------------------------------------------------------------------------- matching

@dataclass(frozen=True)
class Hit:
    """One phrase found in the text: its kind, weight, reason, and where (token indices)."""

    kind: str
    weight: float
    cue: str
    start: int
    end: int
    negated: bool
    hypothetical: bool

    @property
    def asserted(self) -> bool:
        return not (self.negated or self.hypothetical)


_Entry = tuple[int, list[Slot], frozenset[str], tuple[frozenset[str], ...], frozenset[str], int]


def _max_len(slots: Sequence[Slot]) -> int:
    total = 0
    for slot in slots:
        if slot.wildcard == _GAP:
            total += _GAP_MAX
        elif slot.wildcard:
            total += 1
        else:
            total += max(len(alt) for alts in slot.alts.values() for alt in alts)
    return total


def _mandatory(slots: Sequence[Slot]) -> tuple[frozenset[str], ...]:
    """Per mandatory literal slot, the words one of which must be present."""
    out = []
    for slot in slots[1:]:
        if slot.optional or slot.wildcard:
            continue
        vocab = frozenset(alt[0] for alts in slot.alts.values() for alt in alts)
        if _NUM not in vocab and _WORD not in vocab:
            out.append(vocab)
    return tuple(out)


class PhraseMatcher:
    """A compiled phrase lexicon (built-in phrases plus any configured extras).

    Patterns are indexed by their rarest mandatory word (the gate): a text only tries the patterns
    whose gate word it contains, at the positions of their possible first words.
    """

    def __init__(self, extra: Iterable[tuple[str, float, str, Sequence[str]]] = ()) -> None:
        self.rules: list[tuple[str, float, str]] = []
        # gate word -> [(rule id, slots, first words)]; patterns without a gate are always tried.
        self._gated: dict[str, list[_Entry]] = {}
        for kind, weight, cue, patterns in list(PHRASES) + list(extra):
            rid = len(self.rules)
            self.rules.append((kind, weight, cue))
            for pattern in patterns:
                slots = compile_pattern(pattern)
                firsts = frozenset(_first_tokens(slots))
                req = _required(slots) or firsts
                entry = (rid, slots, firsts, _mandatory(slots), req, _max_len(slots))
                for tok in req:
                    self._gated.setdefault(tok, []).append(entry)

    def scan(self, tokens: Sequence[str]) -> list[Hit]:
        """Every rule that fires, once per overlapping stretch (longest match)."""
        positions: dict[str, list[int]] = {}
        for i, tok in enumerate(tokens):
            lst = positions.get(tok)
            if lst is None:
                positions[tok] = [i]
            else:
                lst.append(i)
        numbers = [i for i, tok in enumerate(tokens) if tok.isdigit()]
        if numbers:
            positions[_NUM] = numbers
        present = set(positions)
        gated = self._gated
        # rule id -> {start: end}; a pattern gated on several words is tried once.
        seen: set[int] = set()
        found: dict[int, dict[int, int]] = {}
        for tok in present.intersection(gated):
            for entry in gated[tok]:
                if id(entry) in seen:
                    continue
                seen.add(id(entry))
                rid, slots, firsts, mandatory, req, max_len = entry
                if any(vocab.isdisjoint(present) for vocab in mandatory):
                    continue
                # Only starts within reach of a gate word can match (gates are rare words,
                # first words often are not: "it", "the", "was"), so walk back from each gate.
                # Only starts within reach of a gate word can match (gates are rare words, first
                # words often are not: "it", "the", "was").
                gates = sorted(g for w in req & present for g in positions[w])
                starts = [i for w in firsts & present for i in positions[w]
                          if (k := bisect_left(gates, i)) < len(gates) and gates[k] <= i + max_len]
                for i in starts:
                    end = _match(tokens, slots, 0, i)
                    if end > i:
                        spans = found.setdefault(rid, {})
                        if end > spans.get(i, -1):
                            spans[i] = end
        hits: list[Hit] = []
        for rid, spans in found.items():
            kind, weight, cue = self.rules[rid]
            covered = -1
            for i in sorted(spans):
                # "stopped working" inside "just stopped working" counts once.
                if i < covered:
                    continue
                covered = spans[i]
                hits.append(Hit(kind, weight, cue, i, covered, _negated(tokens, i), _hypothetical(tokens, i)))
        hits.sort(key=lambda h: h.start)
        return hits


def _negated(tokens: Sequence[str], start: int) -> bool:
    # A negator up to three words before the phrase, inside the same clause.
    for k in range(start - 1, max(-1, start - 4), -1):
        tok = tokens[k]
        if tok in CLAUSE_BREAKS:
            return False
        if tok in NEGATORS:
            # "not only did it break", "no wonder it broke" assert the failure.
            nxt = tokens[k + 1] if k + 1 < len(tokens) else ""
            return nxt not in ("only", "wonder", "doubt", "surprise", "joke", "kidding", "lie")
    return False


def _hypothetical(tokens: Sequence[str], start: int) -> bool:
    # "if it breaks", "hope it doesn't stop working", "reviews say it dies": earlier in the sentence.
    for k in range(start - 1, max(-1, start - 9), -1):
        tok = tokens[k]
        if tok in SENTENCE_BREAKS or tok == "but":
            return False
        if tok in HYPOTHETICAL:
            if tok in NEAR_ONLY and start - k > 2:
                continue
            return True
    return False
