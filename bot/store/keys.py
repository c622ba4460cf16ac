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

Keys are bounded (words, letters per word) so a hostile name cannot make thousands of rows.
"""

from __future__ import annotations

import functools
import re
import unicodedata

MAX_WORDS = 8  # words of a name that get keys
MAX_DELETION_WORD = 24  # longer words get no deletion keys (a name word that long is rare)
MAX_KEY = 90
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


def customer_name_keys(name: str | None) -> list[str]:
    """Keys a customer's name is stored under (``*`` when it has only initials)."""
    keys = name_keys(name)
    return [ANY] if keys is None else keys


__all__ = ["ANY", "customer_name_keys", "fold", "name_keys"]
