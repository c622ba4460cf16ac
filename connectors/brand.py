"""Brand queries: which social posts are about us (keywords, handles, exclusions)."""

from __future__ import annotations

import re
from functools import cached_property

from pydantic import BaseModel, ConfigDict, Field


class BrandConfig(BaseModel):
    """[brand]: what social sources search for, and what they ignore."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    keywords: tuple[str, ...] = Field((), description="Words or phrases that mean us (case-insensitive, whole words).")
    handles: tuple[str, ...] = Field((), description="Our handles people mention, e.g. '@pocketfan'.")
    exclude: tuple[str, ...] = Field((), description="Posts with any of these words are not about us (another meaning of the name).")
    own_accounts: tuple[str, ...] = Field((), description="Our own accounts: their posts are never treated as mentions.")

    @cached_property
    def _include(self) -> re.Pattern[str] | None:
        terms = [*self.keywords, *(h.lstrip("@") for h in self.handles)]
        return _words(terms)

    @cached_property
    def _exclude(self) -> re.Pattern[str] | None:
        return _words(self.exclude)

    def matches(self, text: str, author: str | None = None) -> bool:
        """Is this post about us? No keywords configured means every post counts."""
        if author and author.lower().lstrip("@") in {a.lower().lstrip("@") for a in self.own_accounts}:
            return False
        if self._exclude is not None and self._exclude.search(text):
            return False
        return self._include is None or bool(self._include.search(text))


def _words(terms: tuple[str, ...] | list[str]) -> re.Pattern[str] | None:
    cleaned = [t.strip() for t in terms if t.strip()]
    if not cleaned:
        return None
    alternatives = "|".join(re.escape(t) for t in sorted(cleaned, key=len, reverse=True))
    return re.compile(rf"(?<![\w@#])[@#]?(?:{alternatives})(?!\w)", re.IGNORECASE)
