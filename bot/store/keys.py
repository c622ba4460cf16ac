"""Lookup keys for names: what lets matching find candidate customers by index, not by a scan.

``bot.match.name_similarity`` gives a reviewer's name evidence (>= its ``name_min``) only when the
two names share a word of two letters or more (the same name, initials with a full first or last
name, a first name alone, most close spellings) or when they are spelled nearly the same. So a
customer is looked up by the folded words of their name (``w:doe``) and by each word's one-letter
deletions (``d:jhn`` is shared by "jhon" and "john", "smtih" and "smith"): a close spelling changes
at least one word by one letter at most unless the names are long and every word has two typos,
which a reviewer's name seldom does. A name of initials only ("J. D.") has no usable word: it gets
the key ``*``, which every lookup also asks for, so such a customer is still compared, and a
reviewer's name of initials only falls back to the scan (:func:`name_keys` returns None).

A common word ("anna", "smith") is shared by thousands of customers in a big shop, so a customer is
also stored under *pair keys* of their first and last word (``p:anna|kowalska``), each side as
written, as its initial (``p:anna|k``, ``p:a|kowalska``) or with one letter left out of it while the
other side is as written (``p:ana|kowalska``). :func:`pair_lookup_keys` gives what a reviewer's name
looks for: its first and last word as written or one letter short, and every two of its words in
either order (a reordered name). ``bot.match.name_candidates`` uses them when the word keys find
more customers than ``[matching] name_candidates``.

Keys are bounded (words, letters per word) so a hostile name cannot make thousands of rows.
"""

from __future__ import annotations

import functools
import re
import unicodedata

MAX_WORDS = 8  # words of a name that get keys
MAX_DELETION_WORD = 24  # longer words get no deletion keys (a name word that long is rare)
MAX_KEY = 90
MAX_PAIR_WORD = 40  # letters of each word in a pair key (the key column holds 100)
ANY = "*"  # the key of a name without a usable word: every lookup includes it


@functools.lru_cache(maxsize=65536)
def fold(text: str) -> str:
    """Lower-case, accents removed, punctuation to spaces, spaces collapsed."""
    decomposed = unicodedata.normalize("NFKD", text)
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch)).lower()
    plain = plain.replace("ß", "ss").replace("ø", "o").replace("æ", "ae").replace("ł", "l")
    return " ".join(re.sub(r"[^\w]+", " ", plain).replace("_", " ").split())


def name_keys(name: str | None) -> list[str] | None:
    """The lookup keys of a name (sorted); [] for no name; None when it has only initials."""
    words = fold((name or "")[:600]).split()
    if not words:
        return []
    usable = [w[:MAX_KEY] for w in words if len(w) >= 2][:MAX_WORDS]
    if not usable:
        return None
    keys: set[str] = set()
    for word in usable:
        keys.add(f"w:{word}")
        if len(word) >= 3:
            keys.add(f"d:{word}")
        if 4 <= len(word) <= MAX_DELETION_WORD:
            keys.update(f"d:{word[:i]}{word[i + 1:]}" for i in range(len(word)))
    return sorted(keys)


def _forms(word: str) -> set[str]:
    """A word and, from four letters on, the word with one letter left out (as the ``d:`` keys)."""
    forms = {word}
    if 4 <= len(word) <= MAX_DELETION_WORD:
        forms.update(word[:i] + word[i + 1:] for i in range(len(word)))
    return forms


def _pair_words(name: str | None) -> list[str]:
    return [w[:MAX_PAIR_WORD] for w in fold((name or "")[:600]).split()][:MAX_WORDS]


def customer_pair_keys(name: str | None) -> list[str]:
    """The pair keys a customer's name is stored under: first and last word, each side as written,
    as its initial or one letter short while the other side is as written ([] for one word)."""
    words = _pair_words(name)
    if len(words) < 2 or (len(words[0]) < 2 and len(words[-1]) < 2):
        return []
    first, last = words[0], words[-1]
    keys = {f"p:{first}|{form}" for form in _forms(last) | {last[0]}}
    keys |= {f"p:{form}|{last}" for form in _forms(first) | {first[0]}}
    return sorted(keys)


def pair_lookup_keys(name: str | None) -> list[str]:
    """The pair keys a reviewer's name looks for (sorted; [] for a name of one word): its first and
    last word as written or one letter short (an initial as written meets the customer's initial
    key), and every two of its words in either order (a reordered name)."""
    words = _pair_words(name)
    if len(words) < 2:
        return []
    first, last = words[0], words[-1]
    keys = {f"p:{first}|{form}" for form in _forms(last)} | {f"p:{form}|{last}" for form in _forms(first)}
    keys |= {f"p:{a}|{b}" for i, a in enumerate(words) for j, b in enumerate(words)
             if i != j and a != b and (len(a) >= 2 or len(b) >= 2)}
    return sorted(keys)


def customer_name_keys(name: str | None) -> list[str]:
    """Keys a customer's name is stored under: word keys (``*`` when it has only initials) and
    pair keys."""
    keys = name_keys(name)
    return ([ANY] if keys is None else keys) + customer_pair_keys(name)


__all__ = ["ANY", "customer_name_keys", "customer_pair_keys", "fold", "name_keys", "pair_lookup_keys"]
