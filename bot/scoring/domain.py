"""The domain layer: find complaint, praise and issue phrases in a review, fast.

Patterns from :mod:`bot.scoring.phrases` are compiled into one token automaton (a lazily
determinised NFA whose transitions are cached), so a review costs a dictionary step per token
whatever the number of phrases (a regex alternation of a few thousand phrases, or trying each
pattern in turn, costs milliseconds per review; the automaton costs tens of microseconds). Wildcards: ``\\d+`` (a number), ``[\\w-]+`` (any one word) and ``.{0,N}?``
(a gap of up to N tokens, at most six).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from bot.scoring.phrases import FORMER, HYPOTHETICAL, NEAR_ONLY, NEGATORS, OTHERS, PHRASES, SPAN_NEGATED

__all__ = ["Hit", "PhraseMatcher", "normalize", "tokenize"]

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
    gap: int = 0  # for _GAP: the most tokens it may skip


_WILDCARDS = (("\\d+", _NUM), ("[\\w-]+", _WORD))
_GAP_RE = re.compile(r"\.\{0,(\d+)\}\??")


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


# "pixels?", "an?": a regex-style optional last letter, written as an alternative group.
_OPT_LETTER_RE = re.compile(r"(?<![\\\w])([a-z0-9']*[a-z0-9])([a-z])\?")


def compile_pattern(pattern: str) -> list[Slot]:
    """Parse one phrase pattern into slots."""
    # " ?" after a group is a leftover regex idiom for an optional space: spaces are free here.
    s = pattern.lower().replace(" ?", " ")
    s = _OPT_LETTER_RE.sub(lambda m: f"({m.group(1)}{m.group(2)}|{m.group(1)})", s)
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
                slots.append(Slot({}, _GAP, False, min(int(m.group(1)), _GAP_MAX)))
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


def _tok_ok(want: str, got: str) -> bool:
    if want == got:
        return True
    if want == _NUM:
        return got.isdigit()
    if want == _WORD:
        return got[0].isalnum()
    return False


def match_slots(tokens: Sequence[str], slots: Sequence[Slot], si: int, j: int) -> int:
    """Longest end index for slots[si:] matched at tokens[j:], or -1.

    The plain backtracking definition of a match; the automaton in PhraseMatcher must agree with
    it (a test compares the two), it is just much faster.
    """
    if si == len(slots):
        return j
    slot = slots[si]
    best = -1
    n = len(tokens)
    if slot.optional:
        best = match_slots(tokens, slots, si + 1, j)
    if slot.wildcard == _GAP:
        k = j
        while k <= n and k - j <= slot.gap:
            best = max(best, match_slots(tokens, slots, si + 1, k))
            if k < n and tokens[k] in SENTENCE_BREAKS:
                break
            k += 1
        return best
    if slot.wildcard:
        if j < n and _tok_ok(slot.wildcard, tokens[j]):
            best = max(best, match_slots(tokens, slots, si + 1, j + 1))
        return best
    for alts in slot.alts.values():
        for alt in alts:
            m = len(alt)
            if j + m <= n and all(_tok_ok(w, tokens[j + k]) for k, w in enumerate(alt)):
                best = max(best, match_slots(tokens, slots, si + 1, j + m))
    return best


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


class _Nfa:
    """All patterns as one token NFA: state ids index the transition lists."""

    def __init__(self) -> None:
        self.lit: list[dict[str, list[int]]] = []
        self.num: list[list[int]] = []
        self.word: list[list[int]] = []
        self.any: list[list[int]] = []  # any token but a sentence break (gap steps)
        self.eps: list[list[int]] = []
        self.accept: list[int] = []
        self.vocab: set[str] = set(SENTENCE_BREAKS)

    def state(self) -> int:
        self.lit.append({})
        self.num.append([])
        self.word.append([])
        self.any.append([])
        self.eps.append([])
        self.accept.append(-1)
        return len(self.accept) - 1

    def edge(self, src: int, tok: str, dst: int) -> None:
        if tok == _NUM:
            self.num[src].append(dst)
        elif tok == _WORD:
            self.word[src].append(dst)
        else:
            self.lit[src].setdefault(tok, []).append(dst)
            self.vocab.add(tok)

    def add(self, slots: Sequence[Slot], rid: int) -> int:
        start = cur = self.state()
        for slot in slots:
            nxt = self.state()
            if slot.optional:
                self.eps[cur].append(nxt)
            if slot.wildcard == _GAP:
                gaps = [self.state() for _ in range(slot.gap + 1)]
                self.eps[cur].append(gaps[0])
                for k, g in enumerate(gaps):
                    self.eps[g].append(nxt)
                    if k < slot.gap:
                        self.any[g].append(gaps[k + 1])
            elif slot.wildcard:
                self.edge(cur, slot.wildcard, nxt)
            else:
                for alts in slot.alts.values():
                    for alt in alts:
                        src = cur
                        for tok in alt[:-1]:
                            mid = self.state()
                            self.edge(src, tok, mid)
                            src = mid
                        self.edge(src, alt[-1], nxt)
            cur = nxt
        self.accept[cur] = rid
        return start

    def closure(self, states: Iterable[int]) -> frozenset[int]:
        out = set(states)
        todo = list(out)
        while todo:
            for t in self.eps[todo.pop()]:
                if t not in out:
                    out.add(t)
                    todo.append(t)
        return frozenset(out)


# Token classes for tokens no pattern names: what a wildcard can tell apart.
_CLS_DIGIT = "\x00d"
_CLS_WORD = "\x00w"
_CLS_OTHER = "\x00o"
_DFA_MAX = 40_000


class PhraseMatcher:
    """A compiled phrase lexicon (built-in phrases plus any configured extras).

    Every pattern becomes a small token NFA; all of them share one start state. The NFA is
    determinised lazily, one (state, token) transition at a time, and the transitions are kept:
    after a few texts, matching a review is one dictionary step per token and per token of
    partial match, whatever the number of phrases.
    """

    def __init__(self, extra: Iterable[tuple[str, float, str, Sequence[str]]] = ()) -> None:
        self.rules: list[tuple[str, float, str]] = []
        self.patterns: list[tuple[int, list[Slot]]] = []
        nfa = _Nfa()
        starts: list[int] = []
        for kind, weight, cue, patterns in list(PHRASES) + list(extra):
            rid = len(self.rules)
            self.rules.append((kind, weight, cue))
            for pattern in patterns:
                slots = compile_pattern(pattern)
                _first_tokens(slots)
                self.patterns.append((rid, slots))
                starts.append(nfa.add(slots, rid))
        self._nfa = nfa
        # Words the lexicon names: a short text made of them is English even if the lexicons
        # behind TextBlob and VADER know none of them ("frozen fish arrived fully thawed").
        self.vocab: frozenset[str] = frozenset(t for t in nfa.vocab if t[:1].isalpha())
        self._root = nfa.closure(starts)
        self._keys: dict[str, str] = {}
        self._reset()

    def _reset(self) -> None:
        # DFA state 0 is the start; -1 is dead.
        self._ids: dict[frozenset[int], int] = {self._root: 0}
        self._sets: list[frozenset[int]] = [self._root]
        self._trans: list[dict[str, int]] = [{}]
        self._acc: list[tuple[int, ...]] = [()]

    def _key(self, tok: str) -> str:
        if tok in self._nfa.vocab:
            key = tok
        elif tok.isdigit():
            key = _CLS_DIGIT
        elif tok[0].isalnum():
            key = _CLS_WORD
        else:
            key = _CLS_OTHER
        if len(self._keys) >= _DFA_MAX:
            self._keys.clear()
        self._keys[tok] = key
        return key

    def _step(self, d: int, key: str, tok: str) -> int:
        nfa = self._nfa
        digit = key == _CLS_DIGIT or tok.isdigit()
        word = key in (_CLS_DIGIT, _CLS_WORD) or tok[0].isalnum()
        brk = tok in SENTENCE_BREAKS
        nxt: list[int] = []
        for s in self._sets[d]:
            hit = nfa.lit[s].get(key)
            if hit:
                nxt += hit
            if digit and nfa.num[s]:
                nxt += nfa.num[s]
            if word and nfa.word[s]:
                nxt += nfa.word[s]
            if not brk and nfa.any[s]:
                nxt += nfa.any[s]
        if not nxt:
            self._trans[d][key] = -1
            return -1
        target = nfa.closure(nxt)
        t = self._ids.get(target)
        if t is None:
            t = len(self._sets)
            self._ids[target] = t
            self._sets.append(target)
            self._trans.append({})
            self._acc.append(tuple(sorted({nfa.accept[s] for s in target if nfa.accept[s] >= 0})))
        self._trans[d][key] = t
        return t

    def spans(self, tokens: Sequence[str]) -> dict[int, dict[int, int]]:
        """rule id -> {start: longest end} for every rule matching anywhere in ``tokens``."""
        if len(self._sets) >= _DFA_MAX:
            self._reset()  # between texts only: state ids stay valid during one scan
        kc = self._keys
        keys = [kc.get(t) or self._key(t) for t in tokens]
        trans = self._trans
        acc = self._acc
        found: dict[int, dict[int, int]] = {}
        n = len(tokens)
        root = trans[0]
        for i in range(n):
            k = keys[i]
            d = root.get(k)
            if d is None:
                d = self._step(0, k, tokens[i])
            j = i + 1
            while d >= 0:
                if acc[d]:
                    for rid in acc[d]:
                        spans = found.get(rid)
                        if spans is None:
                            found[rid] = {i: j}
                        elif spans.get(i, -1) < j:
                            spans[i] = j
                if j == n:
                    break
                k = keys[j]
                nd = trans[d].get(k)
                if nd is None:
                    nd = self._step(d, k, tokens[j])
                d = nd
                j += 1
        return found

    def scan(self, tokens: Sequence[str]) -> list[Hit]:
        """Every rule that fires, once per overlapping stretch (longest match)."""
        hits: list[Hit] = []
        for rid, spans in self.spans(tokens).items():
            kind, weight, cue = self.rules[rid]
            covered = -1
            for i in sorted(spans):
                # "stopped working" inside "just stopped working" counts once.
                if i < covered:
                    continue
                covered = spans[i]
                negated = _negated(tokens, i, kind in _FIX_KINDS)
                hypothetical = _hypothetical(tokens, i)
                if cue in SPAN_NEGATED:
                    # "the screen has never cracked": the gap of a part-and-failure phrase may hold
                    # the negation.
                    negated = negated or not NEGATORS.isdisjoint(tokens[i:covered])
                if kind == "defective":
                    # "my old kettle died" is about the product this one replaced.
                    hypothetical = hypothetical or _former(tokens, i, covered)
                hits.append(Hit(kind, weight, cue, i, covered, negated, hypothetical))
        hits.sort(key=lambda h: h.start)
        return hits


# Pseudo-kinds of a fix: "instead the shop sent a new one", "a free replacement arrived" assert it.
_FIX_KINDS = frozenset({"fixed", "resolved"})
_SOFT_NEGATORS = frozenset({"instead", "free"})
# "last" marks a former product ("my last pair snapped"), not a time ("last week it snapped").
_NOT_FORMER_AFTER_LAST = frozenset({
    "week", "weekend", "night", "month", "year", "time", "day", "days", "weeks", "months", "years", "minute",
    "summer", "winter", "spring", "autumn", "fall", "monday", "tuesday", "wednesday", "thursday", "friday",
    "saturday", "sunday", "christmas", "update", "few", "couple", "two", "three", "hour", "hours", "one's",
})


def _negated(tokens: Sequence[str], start: int, fix: bool = False) -> bool:
    # A negator up to three words before the phrase, inside the same clause.
    for k in range(start - 1, max(-1, start - 4), -1):
        tok = tokens[k]
        if tok in CLAUSE_BREAKS:
            return False
        if tok in NEGATORS and not (fix and tok in _SOFT_NEGATORS):
            # "not only did it break", "no wonder it broke" assert the failure.
            nxt = tokens[k + 1] if k + 1 < len(tokens) else ""
            return nxt not in ("only", "wonder", "doubt", "surprise", "joke", "kidding", "lie")
    return False


_OWNED = frozenset({"had", "owned", "used", "have", "bought", "got", "tried"})
_BRAND = frozenset({"brand", "brands", "make", "maker", "manufacturer", "model", "company"})
_AGES = frozenset({"years", "ages", "decade", "decades"})
_CURRENT = frozenset({"this", "these", "new", "mine", "replacement"})


def _former(tokens: Sequence[str], start: int, end: int = -1) -> bool:
    # "my old kettle died", "replaced my previous earbuds whose left bud stopped", "the pair I had
    # before, which broke", "one I owned years ago swelled up", "a cheap pair from another brand
    # ... snapped", "bought to replace a kettle that leaked", "my brother's one died": same
    # sentence, a few words before the failure (or inside its span: "the charger I had before melted").
    if end > start + 2 and "before" in tokens[start + 2:end]:
        for k in range(start + 2, end):
            if tokens[k] == "before" and tokens[k - 1] in _OWNED:
                return True
    for k in range(start - 1, max(-1, start - 8), -1):
        tok = tokens[k]
        if tok in SENTENCE_BREAKS or tok == "but" or tok in _CURRENT:
            # "I binned my old one and this new one died": the failure is nearer this product.
            return False
        if tok in OTHERS or tok == "owned" or (tok == "ago" and k > 0 and tokens[k - 1] in _AGES):
            return True
        if tok == "replacing" or (tok == "replace" and k > 0 and tokens[k - 1] == "to"):
            return True
        if tok in FORMER:
            return True
        if start - k > 5:
            continue
        if tok == "before" and k > 0 and tokens[k - 1] in _OWNED:
            return True
        if tok in _BRAND and k > 0 and tokens[k - 1] in ("another", "other", "different"):
            return True
        if tok == "last" and k + 1 < len(tokens) and tokens[k + 1] not in _NOT_FORMER_AFTER_LAST and k + 1 < start:
            return True
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
            if tok == "case" and (k == 0 or tokens[k - 1] not in ("in", "just")):
                continue  # "a phone case that doesn't fit" is a product, not "in case it breaks"
            return True
    return False
