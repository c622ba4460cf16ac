"""The polite HTTP client every connector shares during a cycle.

One :class:`Fetcher` per cycle wraps one ``httpx.Client`` (injectable, STYLE.md point 6) and adds:
a User-Agent, timeouts, robots.txt (cached per host), a minimum delay between requests to one
host and a cap on parallel requests per host, retries with exponential backoff and jitter on
connection errors, 429 and 5xx (honouring ``Retry-After``), a response size cap, charset
detection, and conditional GET with validators kept in the store.

Conditional GET: ``validators(url)`` gives what the store remembers of a URL (ETag,
Last-Modified, and a hash of the body). A 304, or a 200 whose body hashes to the remembered
value (for servers that send no validators), gives a Page with ``not_modified`` and nothing to
parse. New validators are only *offered* (:meth:`Fetcher.take_validators`); the collect stage
saves them after the mentions of that source are stored, so a crash never turns a page into a
silent 304.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import random
import socket
import threading
import time
import urllib.robotparser
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any, Self
from urllib.parse import urlsplit

import httpcore
import httpx
from pydantic import BaseModel, ConfigDict, Field, field_validator

from bot.errors import FetchError, ParseError, RobotsDisallowed, SourceError

DEFAULT_USER_AGENT = "recoverybot/0.1 (+https://github.com/recoverybot/recoverybot; review monitor)"


class HttpConfig(BaseModel):
    """[http]: how connectors fetch."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    user_agent: str = Field(default=DEFAULT_USER_AGENT, description="User-Agent sent with every request; say who you are.")
    connect_timeout: float = Field(default=10.0, gt=0, description="Seconds to wait for a connection.")
    read_timeout: float = Field(default=30.0, gt=0, description="Seconds to wait for response data.")
    per_host_delay: float = Field(
        default=0.0, ge=0, description="Shortest pause in seconds between the starts of two requests to one host. "
        "The pause really kept follows the site: its answer times (see target_concurrency), its robots.txt "
        "Crawl-delay / Request-rate, its 429 and 503 answers and max_requests_per_minute; this only sets a floor.")
    per_host_concurrency: int = Field(default=2, ge=1, le=64, description="At most this many requests to one host at once.")
    adaptive: bool = Field(
        default=True, description="Pace each host by how fast it answers (like Scrapy's AutoThrottle): a quick site "
        "is read quickly, a slow or struggling one gently. false keeps a fixed per_host_delay.")
    target_concurrency: float = Field(
        default=1.0, gt=0, le=64, description="How many requests the adaptive pace aims to have in flight at one "
        "host on average: the pause between starts is the site's answer time divided by this.")
    max_delay: float = Field(
        default=60.0, gt=0, description="Longest pause in seconds the adaptive pace (or a run of 429/503 answers) "
        "may reach between two requests to one host.")
    max_requests_per_minute: int = Field(
        default=9000, ge=0, description="Hard ceiling of requests per minute to one host, however fast it "
        "answers (150 a second; the adaptive pace is what keeps a slower site's load down); an unchanged page "
        "(304) counts as a quarter. Lower it for sites that are not yours; 0 means no ceiling (only for your own "
        "shop).")
    concurrency: int = Field(default=8, ge=1, le=64, description="At most this many requests in flight across all hosts.")
    respect_robots: bool = Field(default=True, description="Honour robots.txt; a disallowed URL is skipped and reported.")
    retries: int = Field(default=3, ge=0, le=10, description="Retries on connection errors, 429 and 5xx.")
    backoff: float = Field(default=1.0, ge=0, description="First retry delay in seconds; doubles each time, with jitter.")
    max_retry_after: float = Field(default=300.0, ge=0, description="Longest Retry-After we wait; longer means give up this run.")
    max_bytes: int = Field(default=5_000_000, ge=1000, description="Largest response body accepted, in bytes.")
    max_redirects: int = Field(default=5, ge=0, le=20, description="Redirects followed before giving up.")
    total_timeout: float = Field(
        default=120.0, gt=0, description="Longest one request may take in all, from connecting to its last byte, "
        "in seconds (read_timeout is per read: a server trickling a byte a second is cut off here).")
    allow_private: list[str] = Field(
        default_factory=list, description="Loopback, link-local, private and multicast addresses (or networks, "
        "'10.0.0.0/8') the bot may still connect to; all others of those kinds are refused. Empty by default: "
        "list '127.0.0.1' only for a shop or test server on this machine.")

    @field_validator("allow_private")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        for entry in value:
            try:
                ipaddress.ip_network(entry.strip("[]"), strict=False)
            except ValueError:
                raise ValueError(f"{entry!r} is not an IP address or network like '127.0.0.1' or '10.0.0.0/8'") from None
        return value


Validators = dict[str, str]  # "etag", "last-modified", "content-hash"
Lookup = Callable[[str], "tuple[str | None, ...] | Mapping[str, str] | None"]


@dataclass
class Page:
    """A fetched response: decoded text, or ``not_modified`` after a conditional GET."""

    url: str
    status: int
    headers: Mapping[str, str]
    content: bytes = b""
    text: str = ""
    not_modified: bool = False
    validators: Validators = field(default_factory=dict)
    charset: str | None = None  # the charset the text was decoded with
    requested_url: str = ""

    def json(self, source: str = "") -> Any:
        """The body as JSON; a ParseError naming the URL when it is not."""
        try:
            return json.loads(self.text)
        except ValueError as exc:
            snippet = self.text[:80].replace("\n", " ")
            raise ParseError(
                f"response is not valid JSON ({exc}); it starts with {snippet!r}", source=source, url=self.url
            ) from exc


@dataclass
class SourceStats:
    """What one source cost in HTTP terms during this cycle."""

    requests: int = 0
    pages: int = 0  # answered 2xx with a body to parse
    not_modified: int = 0
    failed: int = 0


Sleep = Callable[[float], None]

LIGHT = 0.25  # share of the per-minute ceiling an unchanged page (a 304, no body) uses


@dataclass
class _Pace:
    """How one host is paced: the adaptive delay, its floor and the next start booked."""

    delay: float  # seconds between request starts the answers so far call for
    floor: float  # per_host_delay, raised by robots.txt's Crawl-delay / Request-rate
    next_at: float = float("-inf")  # clock() time the next request may start
    paused_until: float = float("-inf")  # clock() time a 429/503 asked every request to wait until
    probing: bool = False  # the first request is out and unanswered: the others wait for its answer
    answered: bool = False  # the host answered once: its pace is known


class Fetcher:
    """Polite GET/POST for connectors. Thread-safe: sources and pages run in parallel.

    ``validators`` is a lookup ``url -> (etag, last_modified[, content_hash])`` (or a mapping with
    those keys) of what the store remembers; ``sleep`` and ``clock`` are injectable for tests.
    """

    def __init__(
        self,
        config: HttpConfig | None = None,
        *,
        client: httpx.Client | None = None,
        validators: Lookup | None = None,
        sleep: Sleep = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config or HttpConfig()
        self._timeout = httpx.Timeout(self.config.read_timeout, connect=self.config.connect_timeout)
        self.client = client or make_client(self.config)
        self._owns_client = client is None
        self._validators: Lookup = validators or (lambda url: None)
        self._sleep = sleep
        self._clock = clock
        self._robots: dict[str, urllib.robotparser.RobotFileParser | str | FetchError | None] = {}
        self._robots_locks: dict[str, threading.Lock] = {}
        self._crawl_delays: set[tuple[str, str]] = set()
        self._host_slots: dict[str, threading.Semaphore] = {}
        self._pace: dict[str, _Pace] = {}  # host -> its adaptive pace
        self._guard = threading.Lock()
        self._answered = threading.Condition(self._guard)  # a host's first answer came (see _wait_turn)
        self._global = threading.Semaphore(self.config.concurrency)
        self._fresh: dict[str, dict[str, Validators]] = defaultdict(dict)
        self._aliases: dict[tuple[str, str], str] = {}
        self.stats: dict[str, SourceStats] = defaultdict(SourceStats)
        self.requests = 0
        self.not_modified = 0
        self._deadlines: dict[str, tuple[float, float]] = {}  # source -> (monotonic deadline, seconds)
        self._hosts: dict[str, frozenset[str]] = {}  # source -> the hosts its redirects and links may reach

    def set_hosts(self, source: str, hosts: Iterable[str]) -> None:
        """The hosts `source`'s redirects and links may reach (its configured URLs' and `allow_hosts`)."""
        with self._guard:
            self._hosts[source] = frozenset(h for h in (host_of(x) for x in hosts) if h)

    def link_refused(self, source: str, via: str, url: str) -> FetchError | None:
        """The error to record instead of following a link from page `via` to `url`, or None when the
        link stays within the source's hosts (the host of `via` when none were set)."""
        return self._outside(source, via, url, "links to", self._hosts_of(source, via))

    def _hosts_of(self, source: str, url: str) -> frozenset[str]:
        with self._guard:
            known = self._hosts.get(source)
        return frozenset({host_of(url)}) if known is None else known | {host_of(url)}

    def _outside(self, source: str, via: str, url: str, verb: str, allowed: frozenset[str]) -> FetchError | None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https"):
            return FetchError(f"refused: {via} {verb} {url}, which is not an http(s) URL; never fetched",
                              source=source, url=via, retryable=False)
        host = host_of(url)
        if host in allowed:
            return None
        return FetchError(
            f"refused: {via} {verb} {url}, on host {host or '?'}, outside this source's hosts "
            f"({', '.join(sorted(allowed))}); never fetched", source=source, url=via, retryable=False,
            hint="if that host really belongs to this source, add it to the source's `allow_hosts`")

    def set_deadline(self, source: str, seconds: float) -> None:
        """Give `source`'s run `seconds` from now: past that, its requests are cut off and refused."""
        with self._guard:
            self._deadlines[source] = (time.monotonic() + seconds, seconds)

    def past_deadline(self, source: str) -> SourceError | None:
        """The error to stop `source` with when its run is past its deadline, else None."""
        with self._guard:
            found = self._deadlines.get(source)
        if found is None or time.monotonic() < found[0]:
            return None
        return FetchError(f"the source's run took longer than its deadline ({found[1]:g}s); the rest waits for "
                          "the next run", source=source, retryable=False,
                          hint="raise the source's `deadline` if it is really that big, or check the site is not "
                          "trickling its answers")

    def close(self) -> None:
        if self._owns_client:
            self.client.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- public -------------------------------------------------------------------------

    def get(
        self,
        url: str,
        *,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        conditional: bool = False,
        source: str = "",
        robots: bool = True,
    ) -> Page:
        """GET `url`; with ``conditional`` an unchanged page gives a Page with ``not_modified``.

        ``robots=False`` is for APIs the site gave us keys for (robots.txt is for crawlers).
        Raises RobotsDisallowed (never fetched), FetchError (after retries) or ParseError.
        """
        if robots:
            self._check_robots(url, source)
        extra = dict(headers or {})
        known: Validators = {}
        if conditional:
            known = _as_validators(self._validators(url))
            if known.get("etag"):
                extra["If-None-Match"] = known["etag"]
            if known.get("last-modified"):
                extra["If-Modified-Since"] = known["last-modified"]
        light = "If-None-Match" in extra or "If-Modified-Since" in extra
        try:
            page = self._request("GET", url, params=params, headers=extra, source=source, light=light)
        except SourceError:
            self._stat(source).failed += 1
            raise
        page.requested_url = url
        if conditional:
            if page.not_modified:
                # keep what we knew; a 304 may repeat the ETag only
                page.validators = {**known, **page.validators}
            elif known.get("content-hash") and known["content-hash"] == page.validators.get("content-hash"):
                page.not_modified = True
            if page.not_modified:
                self._stat(source).not_modified += 1
            else:
                self._stat(source).pages += 1
                with self._guard:
                    self._fresh[source][url] = page.validators
                    if page.url != url:  # a redirect: errors name the final URL
                        self._aliases[(source, page.url)] = url
        else:
            self._stat(source).pages += 1
        return page

    def get_many(
        self,
        urls: Iterable[str],
        *,
        conditional: bool = False,
        headers: Mapping[str, str] | None = None,
        source: str = "",
    ) -> Iterator[tuple[str, Page | SourceError]]:
        """GET many URLs in parallel (bounded by the concurrency settings), as they finish.

        Yields ``(url, page)`` or ``(url, error)``: one bad URL never stops the others.
        """
        pending: set[Future[Page]] = set()
        owner: dict[Future[Page], str] = {}
        workers = self.config.concurrency
        todo = iter(urls)
        pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=f"fetch-{source or 'x'}")
        try:
            exhausted = False
            while True:
                while not exhausted and len(pending) < workers * 2:
                    try:
                        url = next(todo)
                    except StopIteration:
                        exhausted = True
                        break
                    future = pool.submit(self.get, url, conditional=conditional, headers=headers, source=source)
                    pending.add(future)
                    owner[future] = url
                if not pending:
                    return
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    url = owner.pop(future)
                    try:
                        yield url, future.result()
                    except SourceError as exc:
                        yield url, exc
        finally:
            pool.shutdown(wait=True, cancel_futures=True)

    def post(
        self,
        url: str,
        *,
        json_body: Any = None,
        data: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        source: str = "",
    ) -> Page:
        """POST (APIs only, e.g. a login); robots.txt does not apply to APIs we are given keys for."""
        page = self._request("POST", url, json_body=json_body, data=data, headers=dict(headers or {}), source=source)
        self._stat(source).pages += 1
        return page

    def remembers(self, url: str) -> bool:
        """Whether the store holds validators of `url` (it was read and its reviews stored)."""
        return bool(_as_validators(self._validators(url)))

    def take_validators(self, source: str) -> dict[str, Validators]:
        """The validators of pages this source fetched (and did not :meth:`forget`), once."""
        with self._guard:
            return self._fresh.pop(source, {})

    def forget(self, source: str, url: str) -> None:
        """Do not remember `url`'s validators: its page could not be used, fetch it fully next time."""
        with self._guard:
            self._fresh.get(source, {}).pop(url, None)
            self._fresh.get(source, {}).pop(self._aliases.get((source, url), url), None)

    def _stat(self, source: str) -> SourceStats:
        with self._guard:
            return self.stats[source]

    # --- politeness ---------------------------------------------------------------------

    def _check_robots(self, url: str, source: str) -> None:
        if not self.config.respect_robots:
            return
        parts = urlsplit(url)
        origin = f"{parts.scheme}://{parts.netloc}"
        with self._guard:
            lock = self._robots_locks.setdefault(origin, threading.Lock())
        with lock:  # one robots.txt fetch per host, however many threads ask
            if origin not in self._robots:
                self._robots[origin] = self._load_robots(origin, source)
            rules = self._robots[origin]
            if isinstance(rules, urllib.robotparser.RobotFileParser) and (parts.netloc, origin) not in self._crawl_delays:
                self._crawl_delays.add((parts.netloc, origin))
                self._respect_crawl_delay(parts.netloc, rules)
        if isinstance(rules, FetchError):  # the host does not answer at all: say so, naming robots.txt's URL
            raise FetchError(f"robots.txt at {origin}/robots.txt could not be fetched ({rules.reason}); "
                             "this page was not fetched either", source=source, url=url, status=rules.status,
                             retryable=rules.retryable, hint=rules.hint or None)
        if isinstance(rules, str):
            raise RobotsDisallowed(
                f"robots.txt could not be read ({rules}); the site is left alone this run",
                source=source, url=url, hint="check the site answers; we try again next run",
            )
        if rules is not None and not rules.can_fetch(self.config.user_agent, url):
            raise RobotsDisallowed(
                "robots.txt disallows this URL for our User-Agent; skipped, never fetched",
                source=source,
                url=url,
                hint="ask the site for permission, or set [http] respect_robots = false only for your own shop",
            )

    def _load_robots(self, origin: str, source: str) -> urllib.robotparser.RobotFileParser | str | FetchError | None:
        """RFC 9309: 4xx means no rules; 401/403 mean all is off limits; 5xx/unreachable: stay away."""
        try:
            page = self._request("GET", origin + "/robots.txt", headers={}, source=source, retries=1)
        except FetchError as exc:
            if exc.status is not None and 400 <= exc.status < 500:
                if exc.status in (401, 403):
                    parser = urllib.robotparser.RobotFileParser()
                    parser.disallow_all = True  # type: ignore[attr-defined]  # real attribute, missing in typeshed
                    return parser
                return None
            if exc.status is None:
                return exc
            return exc.reason
        parser = urllib.robotparser.RobotFileParser()
        parser.parse(page.text.splitlines())
        return parser

    def _host_slot(self, host: str) -> threading.Semaphore:
        with self._guard:
            if host not in self._host_slots:
                self._host_slots[host] = threading.Semaphore(self.config.per_host_concurrency)
            return self._host_slots[host]

    def _host_pace(self, host: str) -> _Pace:
        """The pace of `host` (call with the guard held)."""
        pace = self._pace.get(host)
        if pace is None:
            pace = self._pace[host] = _Pace(delay=self.config.per_host_delay, floor=self.config.per_host_delay)
        return pace

    def host_delay(self, host: str) -> float:
        """The pause now kept between two request starts to `host` (host[:port]), in seconds."""
        with self._guard:
            pace = self._pace.get(host)
            return self._spacing(pace, 1.0) if pace is not None else self.config.per_host_delay

    def _spacing(self, pace: _Pace, cost: float) -> float:
        ceiling = 60.0 / self.config.max_requests_per_minute if self.config.max_requests_per_minute else 0.0
        return max(pace.delay if self.config.adaptive else pace.floor, pace.floor, ceiling * cost)

    def _wait_turn(self, host: str, light: bool = False) -> float:
        """Wait until `host` may be asked again and book the next start; returns this start's time.

        The gap booked after this start is the host's pace: the adaptive delay (or the fixed
        per_host_delay), never below robots.txt's Crawl-delay / Request-rate, and never shorter than
        the per-minute ceiling allows. A request expected to answer 304 (``light``) books a quarter
        of the ceiling's gap; :meth:`_settle` books the rest if it brought a full page after all.
        """
        with self._answered:
            pace = self._host_pace(host)
            if self.config.adaptive:
                # the first request to a host goes alone (usually robots.txt): its answer time sets
                # the pace before a second one is sent, as AutoThrottle starts with one request
                give_up = time.monotonic() + self.config.total_timeout
                while pace.probing and not pace.answered and time.monotonic() < give_up:
                    self._answered.wait(timeout=min(1.0, self.config.total_timeout))
                if not pace.answered:
                    pace.probing = True
            now = self._clock()
            start = max(now, pace.next_at)
            pace.next_at = start + self._spacing(pace, LIGHT if light else 1.0)
        for _ in range(100):  # each round is a new pause the site asked for; bounded all the same
            if start > now:
                self._sleep(start - now)
            with self._guard:
                now = self._clock()
                if pace.paused_until <= now:
                    return start
                # a 429/503 came while this request waited its turn: wait the pause, then a new turn
                start = max(pace.paused_until, pace.next_at)
                pace.next_at = start + self._spacing(pace, LIGHT if light else 1.0)
        return start

    def _settle(self, host: str, status: int, latency: float, *, light: bool, started: float,
                pause: float | None = None) -> None:
        """Adapt `host`'s pace to an answer that took `latency` seconds (AutoThrottle's rule).

        The delay moves halfway towards latency / target_concurrency, at once when that is longer
        (a slowing site is eased off immediately, a recovering one sped up gradually). An error
        never shortens it. A 429 or 503 (``pause``: its Retry-After or our backoff) doubles the
        delay and holds every request to the host until the pause is over: no storm of retries.
        """
        config = self.config
        with self._guard:
            pace = self._host_pace(host)
            target = latency / config.target_concurrency
            delay = max(target, (pace.delay + target) / 2.0)
            if pause is not None:
                delay = max(delay, pace.delay * 2.0, 0.5)
            if status >= 400 and delay < pace.delay:
                delay = pace.delay
            pace.delay = min(max(delay, pace.floor), config.max_delay)
            if light and status != 304 and config.max_requests_per_minute:
                # booked as a 304 but a full page came back: book the rest of a full request's gap
                full = 60.0 / config.max_requests_per_minute
                pace.next_at = max(pace.next_at + full * (1 - LIGHT), started + full)
            if pause is not None:
                pace.paused_until = max(pace.paused_until, self._clock() + pause)
                pace.next_at = max(pace.next_at, pace.paused_until)
            if not pace.answered:
                pace.answered = True
                pace.probing = False
                self._answered.notify_all()

    def _respect_crawl_delay(self, host: str, rules: urllib.robotparser.RobotFileParser) -> None:
        """robots.txt's Crawl-delay and Request-rate for our User-Agent raise the host's floor."""
        floor = 0.0
        try:
            delay = rules.crawl_delay(self.config.user_agent)
            rate = rules.request_rate(self.config.user_agent)
        except (AttributeError, TypeError, ValueError):  # a malformed line; the parser is lenient elsewhere
            return
        if delay is not None:
            floor = max(floor, float(delay))
        if rate is not None and rate.requests > 0:
            floor = max(floor, float(rate.seconds) / float(rate.requests))
        floor = min(floor, self.config.max_delay)  # a Crawl-delay of a day would stop the source for good
        with self._guard:
            pace = self._host_pace(host)
            pace.floor = max(pace.floor, floor)
            pace.delay = max(pace.delay, pace.floor)

    # --- the request loop ---------------------------------------------------------------

    def _request(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, Any] | None = None,
        headers: dict[str, str],
        json_body: Any = None,
        data: Mapping[str, str] | None = None,
        source: str = "",
        retries: int | None = None,
        light: bool = False,
    ) -> Page:
        host = urlsplit(url).netloc
        headers.setdefault("User-Agent", self.config.user_agent)
        attempts = (self.config.retries if retries is None else retries) + 1
        last_error = ""
        for attempt in range(attempts):
            late = self.past_deadline(source)
            if late is not None:
                late.url = url
                raise late
            # host slot first, then the host's pace (which also holds a pause a 429 asked for), then a
            # global slot: a slow host never holds global slots while it waits its turn
            with self._host_slot(host):
                started = self._wait_turn(host, light)
                with self._global:
                    sent = time.monotonic()
                    try:
                        page = self._send(method, url, params, headers, json_body, data, source)
                    except FetchError as exc:
                        latency = time.monotonic() - sent
                        if not exc.retryable:
                            self._settle(host, 599, latency, light=light, started=started)
                            raise
                        last_error = exc.reason
                        self._settle(host, 599, latency, light=light, started=started,
                                     pause=self._backoff(attempt) if attempt + 1 < attempts else None)
                        continue
                    except BaseException:  # a bug or an interrupt: the host's waiters must not hang on it
                        self._settle(host, 599, time.monotonic() - sent, light=light, started=started)
                        raise
                    latency = time.monotonic() - sent
                    if page.status == 429 or page.status >= 500:
                        last_error = f"HTTP {page.status}"
                        retry_after = _retry_after(page.headers.get("retry-after"))
                        if retry_after is not None and retry_after > self.config.max_retry_after:
                            self._settle(host, page.status, latency, light=light, started=started,
                                         pause=self.config.max_delay)
                            raise FetchError(
                                f"HTTP {page.status}; the server asks to wait {retry_after:.0f}s, longer than "
                                f"[http] max_retry_after; will try next run",
                                source=source, url=url, status=page.status,
                            )
                        wait_for = retry_after if retry_after is not None else self._backoff(attempt)
                        # the whole host waits, not only this request: other threads hold off too
                        self._settle(host, page.status, latency, light=light, started=started, pause=wait_for)
                        continue
                    self._settle(host, page.status, latency, light=light, started=started)
                    if page.status == 304:
                        self.not_modified += 1
                        page.not_modified = True
                        return page
                    if page.status >= 400:
                        raise FetchError(f"HTTP {page.status}", source=source, url=url, status=page.status,
                                         retryable=False, hint=_status_hint(page.status))
                    return page
        status = None
        if last_error.startswith("HTTP "):
            status = int(last_error[5:8])
        raise FetchError(f"gave up after {attempts} attempt{'s' if attempts > 1 else ''}: {last_error}",
                         source=source, url=url, status=status,
                         hint="the site is overloaded or rate-limits us; lower [http] max_requests_per_minute "
                         "or raise per_host_delay" if status == 429 else None)

    def _late_reason(self, source: str) -> str:
        late = self.past_deadline(source)
        if late is not None:
            return late.reason
        return f"took longer than [http] total_timeout ({self.config.total_timeout:g}s) in all; cut off"

    def _backoff(self, attempt: int) -> float:
        base = float(self.config.backoff) * 2.0**attempt
        return base + random.uniform(0, base / 2)

    def _send(
        self,
        method: str,
        url: str,
        params: Mapping[str, Any] | None,
        headers: dict[str, str],
        json_body: Any,
        data: Mapping[str, str] | None,
        source: str,
    ) -> Page:
        with self._guard:
            self.requests += 1
            self.stats[source].requests += 1
        too_big = {"source": source, "url": url, "retryable": False,
                   "hint": "raise [http] max_bytes if this page is really that large"}
        deadline = time.monotonic() + self.config.total_timeout
        with self._guard:
            run_deadline = self._deadlines.get(source)
        if run_deadline is not None:
            deadline = min(deadline, run_deadline[0])
        slow = {"source": source, "url": url, "retryable": False,
                "hint": "the server answers too slowly (or trickles its answer); raise [http] total_timeout "
                "if this page is really that slow"}
        # The deadline reaches the socket reads of our own clients (make_client); the body loop
        # below enforces it for any injected client too.
        _DEADLINE.at = deadline
        # Redirects are followed here, one hop at a time, each checked before it is sent: within the
        # source's hosts, and never to another host at all while the request carries credentials.
        allowed = frozenset({host_of(url)}) if _has_credentials(headers) else self._hosts_of(source, url)
        try:
            request = self.client.build_request(method, url, params=params, headers=headers, json=json_body,
                                                data=data, timeout=self._timeout)
            hops = 0
            while True:
                resp = self.client.send(request, stream=True, follow_redirects=False)
                if resp.next_request is None:
                    break
                resp.close()
                target = resp.next_request
                refused = self._outside(source, str(request.url), str(target.url), "redirects to", allowed)
                if refused is not None:
                    raise refused
                hops += 1
                if hops > self.config.max_redirects:
                    raise httpx.TooManyRedirects("too many redirects", request=target)
                request = target
            try:
                declared = resp.headers.get("content-length")
                if declared and declared.isdigit() and int(declared) > self.config.max_bytes:
                    raise FetchError(
                        f"response of {int(declared):,} bytes is larger than [http] max_bytes "
                        f"({self.config.max_bytes:,})", **too_big,  # type: ignore[arg-type]
                    )
                chunks: list[bytes] = []
                size = 0
                for chunk in resp.iter_bytes():
                    if time.monotonic() > deadline:
                        raise FetchError(self._late_reason(source), **slow)  # type: ignore[arg-type]
                    size += len(chunk)
                    if size > self.config.max_bytes:
                        raise FetchError(
                            f"response is larger than [http] max_bytes ({self.config.max_bytes:,})",
                            **too_big,  # type: ignore[arg-type]
                        )
                    chunks.append(chunk)
                content = b"".join(chunks)
                final_url = str(resp.url)
                status = resp.status_code
                resp_headers = {k.lower(): v for k, v in resp.headers.items()}
                charset = resp.charset_encoding
            finally:
                resp.close()
        except httpx.TooManyRedirects as exc:
            raise FetchError(f"too many redirects (more than {self.config.max_redirects}; a redirect loop?)",
                             source=source, url=url, retryable=False,
                             hint="open the URL in a browser; the page may have moved or need a login") from exc
        except httpx.TimeoutException as exc:
            if time.monotonic() >= deadline - 0.05:
                raise FetchError(self._late_reason(source), **slow) from exc  # type: ignore[arg-type]
            raise FetchError(f"timed out ({type(exc).__name__})", source=source, url=url,
                             hint="the site is slow; raise [http] read_timeout if this repeats") from exc
        except httpx.RemoteProtocolError as exc:
            raise FetchError(f"connection broke off, body truncated or malformed: {exc}", source=source,
                             url=url) from exc
        except httpx.DecodingError as exc:
            raise FetchError(f"response body cannot be decompressed: {exc}", source=source, url=url) from exc
        except AddressRefused as exc:
            raise FetchError(f"refused: {exc}; never fetched", source=source, url=url, retryable=False,
                             hint="list the address in [http] allow_private only if this source really is on "
                             "your own network") from exc
        except httpx.UnsupportedProtocol as exc:
            raise FetchError(f"refused: not an http(s) URL ({exc})", source=source, url=url,
                             retryable=False) from exc
        except httpx.TransportError as exc:
            raise FetchError(f"cannot connect: {exc}", source=source, url=url) from exc
        except httpx.InvalidURL as exc:
            raise FetchError(f"invalid URL: {exc}", source=source, url=url, retryable=False) from exc
        finally:
            _DEADLINE.at = None
        page = Page(url=final_url, status=status, headers=resp_headers, content=content)
        if status < 300:
            page.text, page.charset = decode(content, charset)
        validators: Validators = {k: resp_headers[k] for k in ("etag", "last-modified") if k in resp_headers}
        if status == 200:
            validators["content-hash"] = hashlib.sha256(content).hexdigest()
        page.validators = validators
        return page


def make_client(config: HttpConfig) -> httpx.Client:
    """The shared client of one cycle, with the configured timeouts and redirect limit, whose
    sockets honour the total deadline of the request in flight on their thread."""
    limits = httpx.Limits(max_connections=config.concurrency * 2, max_keepalive_connections=config.concurrency * 2)
    transport = httpx.HTTPTransport(limits=limits)
    # httpx offers no public seam for the network backend; httpcore's pool keeps it here (1.x).
    pool = transport._pool
    pool._network_backend = _GuardedBackend(pool._network_backend, config.allow_private)
    return httpx.Client(
        timeout=httpx.Timeout(config.read_timeout, connect=config.connect_timeout),
        follow_redirects=True,
        max_redirects=config.max_redirects,
        limits=limits,
        headers={"User-Agent": config.user_agent},
        transport=transport,
    )


class _Deadline(threading.local):
    at: float | None = None  # time.monotonic() by which the request on this thread must be done


_DEADLINE = _Deadline()


def _left(timeout: float | None, error: type[Exception]) -> float | None:
    """`timeout` shortened to what is left of this thread's request deadline."""
    at = _DEADLINE.at
    if at is None:
        return timeout
    left = at - time.monotonic()
    if left <= 0:
        raise error("the request's total deadline passed")
    return left if timeout is None else min(timeout, left)


class _DeadlineStream(httpcore.NetworkStream):
    """A socket whose every read and write waits at most until the request's total deadline, so a
    server trickling headers or body a byte at a time cannot hold a request past it."""

    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, _left(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, _left(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(self, ssl_context: Any, server_hostname: str | None = None,
                  timeout: float | None = None) -> httpcore.NetworkStream:
        return _DeadlineStream(self._inner.start_tls(ssl_context, server_hostname,
                                                     _left(timeout, httpcore.ConnectTimeout)))

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class AddressRefused(Exception):
    """A host resolves only to addresses the bot must not connect to (loopback, private, ...)."""


IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def address_refused(address: IPAddress, allowed: Iterable[ipaddress.IPv4Network | ipaddress.IPv6Network]) -> str | None:
    """Why `address` is refused (``"loopback"``, ``"private"``...), or None when it may be reached."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if any(address.version == net.version and address in net for net in allowed):
        return None
    for kind in ("loopback", "link_local", "multicast", "unspecified", "private", "reserved"):
        if getattr(address, f"is_{kind}"):
            return kind.replace("_", "-")
    if isinstance(address, ipaddress.IPv4Address) and address in _SHARED:
        return "private"  # carrier-grade NAT, 100.64.0.0/10
    return None


_SHARED = ipaddress.ip_network("100.64.0.0/10")


class _GuardedBackend(httpcore.NetworkBackend):
    """The network backend of our clients: the host is resolved once, every address checked against
    [http] allow_private, and the connection made to the checked address under the request's deadline."""

    def __init__(self, inner: httpcore.NetworkBackend, allow_private: Iterable[str] = ()) -> None:
        self._inner = inner
        self._allowed = [ipaddress.ip_network(a.strip("[]"), strict=False) for a in allow_private]

    def resolve(self, host: str, port: int) -> list[str]:
        """The addresses of `host` that may be reached, in resolver order; AddressRefused if none."""
        name = host.strip("[]")
        try:
            found = [ipaddress.ip_address(name)]
        except ValueError:
            try:
                infos = socket.getaddrinfo(name, port, type=socket.SOCK_STREAM)
            except OSError as exc:
                raise httpcore.ConnectError(f"cannot resolve {name}: {exc}") from exc
            found = list(dict.fromkeys(ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos))
        refused: list[str] = []
        usable: list[str] = []
        for address in found:
            why = address_refused(address, self._allowed)
            if why is None:
                usable.append(str(address))
            else:
                refused.append(f"{address} ({why})")
        if refused:  # a name that also points inside is not trusted with any of its addresses
            raise AddressRefused(f"{name} resolves to {', '.join(refused)}, which [http] allow_private does not list")
        return usable

    def connect_tcp(self, host: str, port: int, timeout: float | None = None, local_address: str | None = None,
                    socket_options: Iterable[Any] | None = None) -> httpcore.NetworkStream:
        addresses = self.resolve(host, port)
        error: Exception | None = None
        for address in addresses:
            try:
                stream = self._inner.connect_tcp(address, port, _left(timeout, httpcore.ConnectTimeout),
                                                 local_address, socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                error = exc
                continue
            return _DeadlineStream(stream)
        raise error or httpcore.ConnectError(f"{host} has no address")

    def connect_unix_socket(self, path: str, timeout: float | None = None,
                            socket_options: Iterable[Any] | None = None) -> httpcore.NetworkStream:
        return _DeadlineStream(self._inner.connect_unix_socket(path, _left(timeout, httpcore.ConnectTimeout),
                                                               socket_options))

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


def host_of(url: str) -> str:
    """The lower-case host name of `url` (no port, no trailing dot); a bare host is taken as one."""
    if "://" not in url:
        url = "http://" + url
    try:
        return (urlsplit(url).hostname or "").rstrip(".")
    except ValueError:
        return ""


_SECRET_HEADERS = ("authorization", "proxy-authorization", "cookie", "x-shopify-access-token")


def _has_credentials(headers: Mapping[str, str]) -> bool:
    """Whether a request carries credentials, which must never follow a redirect to another host."""
    for name in headers:
        low = name.lower()
        if low in _SECRET_HEADERS or "token" in low or "api-key" in low or "apikey" in low:
            return True
    return False


def decode(content: bytes, declared: str | None) -> tuple[str, str]:
    """Bytes to text: the declared charset, else a <meta charset>, else UTF-8, else detection.

    A declared charset the bytes do not fit (a page saying UTF-8 but written in Latin-1) falls
    through to the next way, so a wrong header never garbles or fails a page.
    """
    if declared:
        try:
            return content.decode(declared), declared.lower()
        except (LookupError, UnicodeDecodeError):
            pass
    head = content[:2048].lower()
    marker = head.find(b"charset=")
    if marker >= 0:
        name = head[marker + 8 : marker + 40].strip(b"\"' ").split(b'"')[0].split(b"'")[0].split(b";")[0]
        name = name.split(b">")[0].split(b" ")[0].strip(b"/")
        try:
            label = name.decode("ascii")
            return content.decode(label), label
        except (LookupError, UnicodeDecodeError):
            pass
    try:
        return content.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        from charset_normalizer import from_bytes

        best = from_bytes(content).best()
        if best is not None:
            return str(best), best.encoding
        return content.decode("utf-8", errors="replace"), "utf-8"


def _as_validators(found: Any) -> Validators:
    if not found:
        return {}
    if isinstance(found, Mapping):
        return {k: v for k, v in found.items() if v}
    names = ("etag", "last-modified", "content-hash")
    return {name: value for name, value in zip(names, found, strict=False) if value}


def _status_hint(status: int) -> str | None:
    if status == 404 or status == 410:
        return "the page is gone; remove or fix the URL in this source's config"
    if status in (401, 403):
        return "the site refuses us (login, bot wall or wrong API key); check credentials or the URL"
    return None


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, float(when.timestamp()) - time.time())
