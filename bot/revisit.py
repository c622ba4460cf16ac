"""When each page of a source is asked for again: soon when it changed, rarely when it did not.

A shop with 5,000 product pages cannot have every page asked every 30 minutes, nor does it need
to: most product pages get a new review every few weeks. Like a search engine's re-crawl policy,
each page keeps its own interval: a page that changed is visited again after half its interval
(never sooner than ``min_revisit``), one that was unchanged after double (never later than
``max_revisit``). A page read for the first time waits ``min_revisit``. A cycle asks only the
pages that are due; the others are not asked at all, not even with a conditional GET.

The schedule lives in the source's cursor (``cursor["revisit"]``: URL -> [next visit, interval
seconds]), so it is saved only when the run succeeded, in the same transaction as the validators
and the mentions: a crash never leaves a page scheduled whose reviews were not stored. A page
whose fetch failed keeps its old entry (it is due again at once).

:func:`pacing_problems` says, for ``recoverybot check`` and the digest, when a source's pages cannot be asked
within its interval at its host's pace, or are cut by ``max_pages``: never a silent ``ok``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bot.config import Config

MIN_BACKOFF = 3600.0  # seconds: the first step back of a page that was asked every cycle and did not change
MAX_ENTRIES = 100_000  # pages remembered per source: a hostile sitemap cannot grow the cursor forever


@dataclass
class Visits:
    """How one run went through a source's pages, for the run summary."""

    listed: int = 0  # pages the source has
    due: int = 0  # of those, due this run
    asked: int = 0  # requested (fewer than due when max_pages or the deadline cut the run)
    changed: int = 0  # answered with a new page (not a 304, not the same body)

    def words(self) -> str:
        return f"{self.due} of {self.listed} pages due, {self.asked} asked, {self.changed} changed"


class Schedule:
    """The next-visit times of one source's pages, read from and written back to its cursor."""

    def __init__(self, cursor: dict[str, Any], now: datetime, *, min_revisit: timedelta,
                 max_revisit: timedelta) -> None:
        raw = cursor.get("revisit")
        self._entries: dict[str, list[Any]] = {}
        if isinstance(raw, dict):
            for url, entry in list(raw.items())[:MAX_ENTRIES]:
                if isinstance(url, str) and isinstance(entry, list) and len(entry) == 2:
                    self._entries[url] = entry
        self._cursor = cursor
        self.now = now
        self.min_revisit = min_revisit
        self.max_revisit = max(max_revisit, min_revisit)
        self.visits = Visits()

    def due(self, urls: Iterable[str], unknown: Callable[[str], bool] | None = None) -> list[str]:
        """The pages of `urls` to ask this run, in their order: never seen, their time came, or
        `unknown` says what was read from them is not held any more."""
        listed = list(urls)
        out = [url for url in listed if self._is_due(url) or (unknown is not None and url in self._entries
                                                               and unknown(url))]
        self.visits.listed, self.visits.due = len(listed), len(out)
        return out

    def _is_due(self, url: str) -> bool:
        entry = self._entries.get(url)
        if entry is None:
            return True
        try:
            when = datetime.fromisoformat(str(entry[0]))
        except ValueError:
            return True
        return when <= self.now

    def seen(self, url: str, changed: bool) -> None:
        """`url` was read this run: `changed` halves its interval, unchanged doubles it."""
        self.visits.asked += 1
        self.visits.changed += changed
        entry = self._entries.get(url)
        try:
            interval = float(entry[1]) if entry is not None else 0.0
        except (TypeError, ValueError):
            interval = 0.0
        low, high = self.min_revisit.total_seconds(), self.max_revisit.total_seconds()
        if entry is None:
            interval = low
        elif changed:
            interval = interval / 2
        else:  # unchanged: back off, from an hour at least (a page asked every cycle has interval 0)
            interval = max(interval * 2, MIN_BACKOFF)
        interval = min(max(interval, low), high)
        self._entries[url] = [(self.now + timedelta(seconds=interval)).isoformat(timespec="seconds"), interval]

    def asked(self, url: str) -> None:
        """`url` was asked but could not be used (an error): it stays due, counted as asked."""
        self.visits.asked += 1

    def save(self, keep: Iterable[str]) -> None:
        """Write the schedule back to the cursor, for the pages the source still has."""
        wanted = set(keep)
        self._cursor["revisit"] = {u: e for u, e in self._entries.items() if u in wanted}


@dataclass(frozen=True)
class PacingProblem:
    """A source whose pages cannot all be read as configured."""

    source: str
    message: str  # for `check`: the settings by name
    words: str = ""  # for the digest: the same in plain words for shop staff, with what to change


def pacing_problems(config: Config) -> Iterator[PacingProblem]:
    """Sources whose listed pages are cut by ``max_pages`` or cannot be asked within the interval.

    The time a run needs is at least pages x the host's shortest gap (``per_host_delay``, the
    per-minute ceiling); only pages due are asked, so this is the first run's (and a run after a
    change of every page's) cost, the one that must fit the interval.
    """
    http = config.http
    gap = max(http.per_host_delay, 60.0 / http.max_requests_per_minute if http.max_requests_per_minute else 0.0)
    for source in config.sources:
        if not source.enabled:
            continue
        options = source.options
        found = options.get("urls")
        urls: list[Any] = list(found) if isinstance(found, list | tuple) else []
        pages = len(urls)
        max_pages = options.get("max_pages")
        if source.kind == "schema_org" and isinstance(max_pages, int) and pages > max_pages:
            yield PacingProblem(source.name, f"lists {pages} pages but max_pages is {max_pages}: "
                                f"{pages - max_pages} are never read; raise max_pages",
                                f"it lists {pages:,} pages but reads at most {max_pages:,} a run, so reviews on "
                                f"the other {pages - max_pages:,} are never seen. Raise max_pages for this "
                                "source in config.toml.")
        if not pages or not gap:
            continue
        every = source.every_seconds or _seconds(config.schedule.collect_every)
        if source.cron or not every:
            continue
        needed = pages * gap / max(1, len({_host(u) for u in urls}))
        if needed > every:
            yield PacingProblem(source.name, f"{pages} pages at one every {gap:g}s take {needed / 60:.0f} min, "
                                f"longer than its interval ({every / 60:.0f} min); later pages wait for the next "
                                "run (raise [http] max_requests_per_minute for your own shop, or collect less often)",
                                f"reading its {pages:,} pages at a polite pace takes about {_minutes(needed)}, "
                                f"longer than the {_minutes(every)} between its runs, so new reviews on the later "
                                "pages show up late. Collect it less often (every = "
                                f'"{math.ceil(needed / 3600)}h" for this source in config.toml), or, if the site '
                                "is your own shop, raise [http] max_requests_per_minute.")


def _minutes(seconds: float) -> str:
    minutes = round(seconds / 60)
    if minutes >= 120:
        return f"{minutes / 60:.1f} hours".replace(".0 ", " ")
    return f"{max(1, minutes)} minute{'s' if minutes != 1 else ''}"


def _seconds(value: str) -> int | None:
    from bot.config import parse_duration

    try:
        return parse_duration(value)
    except ValueError:
        return None


def _host(url: Any) -> str:
    from bot.fetch import host_of

    return host_of(str(url))
