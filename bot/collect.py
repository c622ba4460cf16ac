"""The collect stage: run every source's connector, store new mentions once, keep health.

One cycle = one :class:`~bot.fetch.Fetcher` (one shared ``httpx`` client, politeness per host)
and one thread per source, so a slow or broken source never holds up the others. For each
source:

1. the connector is built from its validated options (an unknown kind or a bad key is a
   ConfigError naming the source, exit code 2);
2. its mentions are inserted in batches, skipping any (source, external_id) already stored
   (invariant 1), with the text's fingerprint;
3. only when it finished, in the transaction that stores its last batch, its cursor and the
   validators (ETag / Last-Modified / body hash) of the pages it read are saved: a crash or a
   failure never turns an unread page into a silent 304 next time;
4. its health is updated: last success, last error (kind, message, URL), consecutive failures.

A per-URL problem a connector reports (``ctx.report``) is kept as the source's last error, but
the source only *fails* when it raised, or when nothing at all could be fetched.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import httpx
from pydantic import BaseModel, ValidationError
from sqlalchemy import func, insert, or_, select
from sqlalchemy.orm import Session

from bot.errors import ConfigError, SourceError, StoreError
from bot.fetch import Fetcher, Validators, host_of, make_client
from bot.match import mask_email
from bot.progress import NullProgress, Progress
from bot.revisit import Visits
from bot.store import (
    Assessment,
    HttpCache,
    Mention,
    SourceState,
    Store,
    dialect_insert,
    fingerprint,
    get_or_insert,
    utcnow,
)
from connectors.base import Connector, RawMention

if TYPE_CHECKING:  # bot.config imports every stage's section; keep this module light to import
    from bot.config import Config, SourceConfig

log = logging.getLogger("recoverybot.collect")

BATCH = 250  # mentions per transaction: big enough to be fast, small enough to lose little
MORE_KEY = "_more_next_run"  # in a source's saved cursor: how many mentions the last run left (status)
REST_COUNT_LIMIT = 1_000_000  # counting what a stopped run leaves is bounded too

# column widths of the mention table (PostgreSQL enforces them)
_WIDTH = {"external_id": 500, "author_name": 300, "author_handle": 300, "author_email": 300,
          "product_sku": 200, "product_name": 500, "language": 20}


@dataclass
class SourceResult:
    """How one source went in this cycle."""

    name: str
    kind: str
    new: int = 0
    seen: int = 0  # mentions yielded that were already stored
    pages: int = 0  # pages fetched and parsed
    not_modified: int = 0  # pages skipped as unchanged (304 or same body)
    errors: list[str] = field(default_factory=list)
    ok: bool = True
    requests: int = 0
    seconds: float = 0.0
    more: int = 0  # stopped at max_new_per_run: this many more already read wait for the next run
    more_exact: bool = True  # False: at least `more` (pages not read yet may hold others)
    visits: Visits | None = None  # due / asked / changed, for sources that schedule their pages

    def line(self) -> str:
        state = "ok" if self.ok else "FAILED"
        text = (f"{self.name} ({self.kind}): {state}, {self.new} new, {self.pages} pages read, "
                f"{self.not_modified} unchanged, {self.requests} requests, {self.seconds:.1f}s")
        if self.visits is not None and self.visits.listed:  # a sitemap-only source lists no pages of its own
            text += f" ({self.visits.words()})"
        if self.more:
            text += f", {more_words(self.more, self.more_exact)}"
        if self.errors:
            text += f"; {len(self.errors)} problem{'s' if len(self.errors) > 1 else ''}: {self.errors[0]}"
        return text


@dataclass
class CollectSummary:
    """What the collect stage did, per source."""

    results: list[SourceResult] = field(default_factory=list)

    @property
    def new_total(self) -> int:
        return sum(r.new for r in self.results)

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.results)

    def lines(self) -> list[str]:
        if not self.results:
            return ["no enabled sources"]
        failed = sum(not r.ok for r in self.results)
        head = f"{self.new_total} new mentions from {len(self.results)} sources"
        if failed:
            head += f", {failed} failed"
        return [head] + ["  " + r.line() for r in self.results]


@dataclass(frozen=True)
class HealthRow:
    """One source's health, for `recoverybot status` and the digest."""

    name: str
    kind: str
    last_run_at: datetime | None
    last_success_at: datetime | None
    last_error_at: datetime | None
    last_error_kind: str | None
    last_error_message: str | None
    last_error_url: str | None
    consecutive_failures: int
    failing_since: datetime | None
    mentions_total: int
    healthy: bool

    def as_dict(self) -> dict[str, Any]:
        return {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in self.__dict__.items()}


# --- building connectors ----------------------------------------------------------------------


def build_connector(source: SourceConfig, index: int | None = None) -> Connector:
    """The connector of a source; ConfigError naming the source for an unknown kind or bad key."""
    from connectors import registry

    key = f"sources[{index}]" if index is not None else "sources"
    kinds = registry()
    if source.kind not in kinds:
        raise ConfigError(f"source {source.name!r}: unknown kind {source.kind!r}", key=f"{key}.kind",
                          hint="known kinds: " + ", ".join(sorted(kinds)))
    cls = kinds[source.kind]
    try:
        options: BaseModel = cls.Options.model_validate(source.options)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        raise ConfigError(f"source {source.name!r} ({source.kind}): {where}: {err['msg']}",
                          key=f"{key}.{where}" if where else key) from exc
    return cls(source.name, options)


# --- the context a connector runs in ---------------------------------------------------------


class _Context:
    """CollectContext of one source in one cycle (see connectors/base.py)."""

    def __init__(self, store: Store, source: SourceConfig, fetch: Fetcher, cursor: dict[str, Any],
                 progress: Progress, brand: Any) -> None:
        self.source = source.name
        self.fetch = fetch
        self.cursor = {k: v for k, v in cursor.items() if k != MORE_KEY}
        self.max_reviews_per_page = source.max_reviews_per_page
        self.brand = brand
        self.errors: list[SourceError] = []
        self._store = store
        self._progress = progress
        self._yielded: set[str] = set()
        self._lock = threading.Lock()
        self.now: Callable[[], datetime] = utcnow  # the cycle's clock, for page revisit times
        self.visited: Visits | None = None

    def visits(self, visits: Visits) -> None:
        """The connector's due / asked / changed pages of this run (bot.revisit)."""
        self.visited = visits

    def known(self, external_ids: Iterable[str]) -> set[str]:
        ids = list(dict.fromkeys(external_ids))
        with self._lock:
            found = {i for i in ids if i in self._yielded}
        rest = [i for i in ids if i not in found]
        for start in range(0, len(rest), 500):
            chunk = rest[start : start + 500]
            with self._store.sessions() as session:  # a plain read: no write lock wanted
                found.update(session.scalars(
                    select(Mention.external_id).where(Mention.source == self.source, Mention.external_id.in_(chunk))
                ))
        return found

    def report(self, error: SourceError) -> None:
        if not error.source:
            error.source = self.source
        log.warning("%s", error)
        with self._lock:
            self.errors.append(error)
        if error.url:
            self.fetch.forget(self.source, error.url)  # read it fully next time, to see if it is fixed

    def progress(self, advance: int = 1, total: int | None = None) -> None:
        self._progress.advance(self.source, advance, total)

    def seen(self, external_id: str) -> bool:
        """True when this run already yielded the id."""
        with self._lock:
            return external_id in self._yielded

    def remember(self, external_id: str) -> bool:
        """False when this run already yielded the id (two pages listing one review)."""
        with self._lock:
            if external_id in self._yielded:
                return False
            self._yielded.add(external_id)
            return True


# --- the stage --------------------------------------------------------------------------------


def collect(
    config: Config,
    store: Store,
    *,
    client: httpx.Client | None = None,
    only: str | None = None,
    progress: Progress | None = None,
    now: Callable[[], datetime] = utcnow,
) -> CollectSummary:
    """Collect every enabled source (or only `only`), concurrently; never raises for a source's
    failure (that is recorded in its health and the summary). ConfigError for an unknown `only`,
    an unknown kind or a bad connector option."""
    if only is not None:
        chosen = [(list(config.sources).index(config.source(only)), config.source(only))]
    else:
        chosen = [(i, s) for i, s in enumerate(config.sources) if s.enabled]
    connectors = [(source, build_connector(source, index)) for index, source in chosen]
    summary = CollectSummary()
    if not connectors:
        return summary
    shown = progress or NullProgress()
    cache = _load_cache(store)
    states = _load_states(store, [s.name for s, _ in connectors])
    owned = client is None
    http = client or make_client(config.http)
    try:
        fetcher = Fetcher(config.http, client=http, validators=cache.get)
        workers = min(len(connectors), 16)
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="collect") as pool:
            futures = [
                pool.submit(_run_source, store, source, connector, fetcher, dict(states.get(source.name) or {}),
                            shown, config, now)
                for source, connector in connectors
            ]
            summary.results = [future.result() for future in futures]
    finally:
        shown.close()
        if owned:
            http.close()
    return summary


def _run_source(
    store: Store,
    source: SourceConfig,
    connector: Connector,
    fetcher: Fetcher,
    cursor: dict[str, Any],
    progress: Progress,
    config: Config,
    now: Callable[[], datetime],
) -> SourceResult:
    result = SourceResult(source.name, source.kind)
    started = time.monotonic()
    ctx = _Context(store, source, fetcher, cursor, progress, getattr(config, "brand", None))
    ctx.now = now
    progress.start(source.name)
    fetcher.set_deadline(source.name, source.deadline_seconds)
    fetcher.set_hosts(source.name, source_hosts(source, connector))
    failure: BaseException | None = None
    batch: list[RawMention] = []
    taken = 0
    mentions = iter(connector.collect(ctx))
    try:
        for mention in mentions:
            late = fetcher.past_deadline(source.name)
            if late is not None:  # a connector that keeps yielding: stop it; the rest comes next run
                raise late
            if not ctx.remember(mention.external_id):
                continue
            if taken >= source.max_new_per_run:
                # Enough for one run (issue 13 item 12): stop here and keep the cursor and the pages'
                # validators as they were, so the next run reads the same pages and, skipping what
                # is stored now, takes the rest. Nothing is lost; one run stays short.
                result.more, result.more_exact = _count_rest(mentions, mention, ctx, fetcher)
                break
            taken += 1
            batch.append(mention)
            if len(batch) >= BATCH:
                new = _store_batch(store, source, batch, now())
                result.new += new
                result.seen += len(batch) - new
                batch = []
    except SourceError as exc:
        if not exc.source:
            exc.source = source.name
        failure = exc
    except (StoreError, ConfigError) as exc:  # e.g. a secret's variable is not set
        failure = exc
    except Exception as exc:  # a bug in one connector must not stop the other sources
        log.exception("source %s: connector crashed", source.name)
        failure = exc
    finally:
        close = getattr(mentions, "close", None)
        if callable(close):
            close()  # a generator stopped at the cap ends its requests now
    stats = fetcher.stats[source.name]
    fetched = stats.pages + stats.not_modified
    if failure is None and ctx.errors and fetched == 0:
        failure = ctx.errors[-1]  # every URL failed: the source as a whole did not work
    validators = fetcher.take_validators(source.name)
    try:
        with store.session() as session:
            if batch:
                new = _insert(session, source, batch, now())
                result.new += new
                result.seen += len(batch) - new
            if failure is None and not result.more:
                _save_validators(session, validators, now())
            _update_state(session, source, ctx, failure, now(), more=result.more)
    except StoreError as exc:
        log.error("source %s: cannot store: %s", source.name, exc)
        failure = failure or exc
    result.ok = failure is None
    result.errors = [_describe(e) for e in ctx.errors]
    if failure is not None and failure not in ctx.errors:
        result.errors.insert(0, _describe(failure))
    result.pages = stats.pages
    result.not_modified = stats.not_modified
    result.requests = stats.requests
    result.visits = ctx.visited
    result.seconds = time.monotonic() - started
    progress.finish(source.name, f"{result.new} new" + ("" if result.ok else " (failed)"))
    return result


def more_words(more: int, exact: bool = True) -> str:
    """What a run stopped at its cap left, in words: "1,234 more next run"."""
    return f"{'' if exact else 'at least '}{more:,} more next run"


def _count_rest(mentions: Iterator[RawMention], first: RawMention, ctx: _Context, fetcher: Fetcher) -> tuple[int, bool]:
    """How many more new mentions the connector has already read, counted without storing them
    and without another request: the count stops at the first one that needed a new page (then it
    is "at least"). True when the count is exact."""
    before = fetcher.stats[ctx.source].requests
    counted = {first.external_id}
    for mention in mentions:
        if fetcher.stats[ctx.source].requests != before or len(counted) >= REST_COUNT_LIMIT:
            return len(counted), False
        if fetcher.past_deadline(ctx.source) is not None:
            return len(counted), False
        if mention.external_id not in counted and not ctx.seen(mention.external_id):
            counted.add(mention.external_id)
    return len(counted), True


def source_hosts(source: SourceConfig, connector: Connector | None = None) -> set[str]:
    """The hosts of every URL the source is configured with (its connector's defaults too), and its
    `allow_hosts`: the hosts its redirects and links may reach."""
    found: set[str] = set()

    def walk(value: Any) -> None:
        if isinstance(value, str):
            if value.startswith(("http://", "https://")) and (host := host_of(value)):
                found.add(host)
        elif isinstance(value, dict):
            for item in value.values():
                walk(item)
        elif isinstance(value, list | tuple | set):
            for item in value:
                walk(item)

    walk(source.options)
    options = getattr(connector, "options", None)
    if isinstance(options, BaseModel):
        walk(options.model_dump())
    found.update(h for h in (host_of(x) for x in source.allow_hosts) if h)
    return found


def _describe(error: BaseException) -> str:
    if isinstance(error, SourceError):
        return f"{error.kind}: {error.reason}" + (f" ({error.url})" if error.url else "")
    if isinstance(error, ConfigError):
        return f"config: {error.message}"
    return f"{type(error).__name__}: {error}"


# --- store helpers ----------------------------------------------------------------------------


def _load_cache(store: Store) -> dict[str, Validators]:
    with store.sessions() as session:
        rows = session.execute(select(HttpCache.url, HttpCache.etag, HttpCache.last_modified, HttpCache.content_hash))
        return {
            url: {k: v for k, v in (("etag", etag), ("last-modified", modified), ("content-hash", digest)) if v}
            for url, etag, modified, digest in rows
        }


def _load_states(store: Store, names: list[str]) -> dict[str, dict[str, Any]]:
    with store.sessions() as session:
        rows = session.scalars(select(SourceState).where(SourceState.name.in_(names)))
        return {row.name: dict(row.cursor or {}) for row in rows}


def _store_batch(store: Store, source: SourceConfig, batch: list[RawMention], at: datetime) -> int:
    with store.session() as session:
        return _insert(session, source, batch, at)


def _clip(name: str, value: str | None) -> str | None:
    if value is None:
        return None
    width = _WIDTH.get(name)
    return value[:width] if width else value


def _jsonable(raw: dict[str, Any]) -> dict[str, Any]:
    try:
        return dict(json.loads(json.dumps(raw, default=str)))
    except (TypeError, ValueError):
        return {}


def _insert(session: Session, source: SourceConfig, batch: list[RawMention], at: datetime) -> int:
    """Insert the mentions not stored yet; returns how many were new. Safe against a concurrent
    writer (a second process): the unique key decides, conflicts are skipped."""
    ids = list(dict.fromkeys(m.external_id[:500] for m in batch))
    existing = set(session.scalars(
        select(Mention.external_id).where(Mention.source == source.name, Mention.external_id.in_(ids))
    ))
    rows = []
    for m in batch:
        external_id = m.external_id[:500]
        if external_id in existing:
            continue
        existing.add(external_id)
        rows.append({
            "source": source.name,
            "source_kind": source.kind,
            "external_id": external_id,
            "url": m.url,
            "author_name": _clip("author_name", m.author_name),
            "author_handle": _clip("author_handle", m.author_handle),
            "author_email": _clip("author_email", m.author_email),
            "product_sku": _clip("product_sku", m.product_sku),
            "product_url": m.product_url,
            "product_name": _clip("product_name", m.product_name),
            "rating": m.rating,
            "title": m.title,
            "text": m.text,
            "language": _clip("language", m.language),
            "published_at": m.published_at,
            "collected_at": at,
            "fingerprint": fingerprint(m.text),
            "raw": _jsonable(m.raw),
        })
    if not rows:
        return 0
    dialect = session.get_bind().dialect.name
    if dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as upsert
    elif dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as upsert  # type: ignore[assignment]
    else:
        session.execute(insert(Mention), rows)
        return len(rows)
    session.execute(upsert(Mention).on_conflict_do_nothing(index_elements=["source", "external_id"]), rows)
    return len(rows)


def _save_validators(session: Session, validators: dict[str, Validators], at: datetime) -> None:
    if not validators:
        return
    urls = list(validators)
    rows: dict[str, HttpCache] = {}
    for start in range(0, len(urls), 500):
        for row in session.scalars(select(HttpCache).where(HttpCache.url.in_(urls[start : start + 500]))):
            rows[row.url] = row
    fresh: list[dict[str, Any]] = []
    for url, found in validators.items():
        if len(url) > 2000:
            continue
        etag = (found.get("etag") or None) and found["etag"][:500]
        modified = (found.get("last-modified") or None) and found["last-modified"][:100]
        digest = found.get("content-hash")
        known = rows.get(url)
        if known is None:
            fresh.append({"url": url, "etag": etag, "last_modified": modified, "content_hash": digest,
                          "fetched_at": at})
            continue
        known.etag, known.last_modified, known.content_hash, known.fetched_at = etag, modified, digest, at
    if fresh:
        # Another worker reading the same pages may store their validators at the same moment:
        # the newest answer wins instead of failing on http_cache_pkey.
        stmt = dialect_insert(session, HttpCache)
        excluded = stmt.excluded
        session.execute(stmt.on_conflict_do_update(index_elements=["url"], set_={
            "etag": excluded.etag, "last_modified": excluded.last_modified,
            "content_hash": excluded.content_hash, "fetched_at": excluded.fetched_at}), fresh)


def _update_state(session: Session, source: SourceConfig, ctx: _Context, failure: BaseException | None,
                  at: datetime, *, more: int = 0) -> None:
    # Two workers collecting a new source at once: the first inserts its row, both update it.
    state = get_or_insert(session, SourceState, {"name": source.name}, kind=source.kind, cursor={},
                          consecutive_failures=0, mentions_total=0)
    state.kind = source.kind
    state.last_run_at = at
    problem = failure or (ctx.errors[-1] if ctx.errors else None)
    if problem is not None:
        state.last_error_at = at
        if isinstance(problem, SourceError):
            state.last_error_kind = problem.kind
            state.last_error_message = problem.reason[:4000]
            state.last_error_url = problem.url or None
        else:
            state.last_error_kind = ("store" if isinstance(problem, StoreError)
                                     else "config" if isinstance(problem, ConfigError) else "internal")
            state.last_error_message = (problem.message if isinstance(problem, ConfigError)
                                        else f"{type(problem).__name__}: {problem}")[:4000]
            state.last_error_url = None
    if failure is None:
        if more:
            # Stopped at max_new_per_run: the old cursor stays (the connector's may have moved past
            # what was not stored); only the count of what waits is added, for status.
            state.cursor = {**_jsonable(dict(state.cursor or {})), MORE_KEY: more}
        else:
            state.cursor = {k: v for k, v in _jsonable(ctx.cursor).items() if k != MORE_KEY}
        state.last_success_at = at
        state.consecutive_failures = 0
        state.failing_since = None
    else:
        state.consecutive_failures = (state.consecutive_failures or 0) + 1
        if state.failing_since is None:
            state.failing_since = at
    session.flush()
    state.mentions_total = int(session.scalar(
        select(func.count()).select_from(Mention).where(Mention.source == source.name)) or 0)


# --- reading back -----------------------------------------------------------------------------


def source_health(store: Store) -> list[HealthRow]:
    """Every source that ever ran, with its health (healthy = its last run succeeded)."""
    with store.sessions() as session:
        rows = session.scalars(select(SourceState).order_by(SourceState.name)).all()
        return [
            HealthRow(
                name=row.name,
                kind=row.kind,
                last_run_at=row.last_run_at,
                last_success_at=row.last_success_at,
                last_error_at=row.last_error_at,
                last_error_kind=row.last_error_kind,
                last_error_message=row.last_error_message,
                last_error_url=row.last_error_url,
                consecutive_failures=row.consecutive_failures or 0,
                failing_since=row.failing_since,
                mentions_total=row.mentions_total or 0,
                healthy=(row.consecutive_failures or 0) == 0,
            )
            for row in rows
        ]


def list_mentions(
    store: Store, source: str | None = None, since: datetime | None = None, limit: int | None = None
) -> list[dict[str, Any]]:
    """Stored mentions, newest first, as plain dicts (for `recoverybot mentions`, JSON-ready).

    `since` keeps mentions published (or, without a date, collected) at or after it. Emails are
    masked; the scorer's verdict is included when there is one.
    """
    return list(iter_mentions(store, source=source, since=since, limit=limit))


def iter_mentions(
    store: Store, source: str | None = None, since: datetime | None = None, limit: int | None = None,
    *, batch: int = 1000,
) -> Iterator[dict[str, Any]]:
    """What :func:`list_mentions` gives, one at a time: columns only, read from the database
    cursor in batches, so `mentions --json` of a million mentions needs the memory of one batch."""
    when = func.coalesce(Mention.published_at, Mention.collected_at)
    query = select(
        Mention.id, Mention.source, Mention.source_kind, Mention.external_id, Mention.url, Mention.author_name,
        Mention.author_handle, Mention.author_email, Mention.product_sku, Mention.product_name, Mention.product_url,
        Mention.rating, Mention.title, Mention.text, Mention.language, Mention.published_at, Mention.collected_at,
        Assessment.sentiment, Assessment.unhappy, Assessment.issue,
    ).outerjoin(Assessment, Assessment.mention_id == Mention.id)
    if source is not None:
        query = query.where(Mention.source == source)
    if since is not None:
        query = query.where(or_(Mention.published_at >= since,
                                (Mention.published_at.is_(None)) & (Mention.collected_at >= since)))
    query = query.order_by(when.desc(), Mention.id.desc())
    if limit is not None:
        query = query.limit(limit)
    with store.sessions() as session:
        for row in session.execute(query.execution_options(yield_per=batch)):
            yield {
                "id": row.id,
                "source": row.source,
                "source_kind": row.source_kind,
                "external_id": row.external_id,
                "url": row.url,
                "author_name": row.author_name,
                "author_handle": row.author_handle,
                "author_email": mask_email(row.author_email) or None,
                "product_sku": row.product_sku,
                "product_name": row.product_name,
                "product_url": row.product_url,
                "rating": row.rating,
                "title": row.title,
                "text": row.text,
                "language": row.language,
                "published_at": row.published_at.isoformat() if row.published_at else None,
                "collected_at": row.collected_at.isoformat() if row.collected_at else None,
                "sentiment": row.sentiment,
                "unhappy": row.unhappy,
                "issue": row.issue,
            }


def iter_sources(config: Config, only: str | None = None) -> Iterator[SourceConfig]:
    """The sources a cycle would collect (for the scheduler and `check`)."""
    if only is not None:
        yield config.source(only)
        return
    yield from (s for s in config.sources if s.enabled)
