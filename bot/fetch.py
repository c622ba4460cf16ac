"""The polite HTTP client every connector shares during a cycle.

One :class:`Fetcher` per cycle wraps one ``httpx.Client`` (injectable, STYLE.md point 6) and adds:
a User-Agent, timeouts, robots.txt (cached per host), a minimum delay between requests to one
host, retries with exponential backoff and jitter on connection errors, 429 and 5xx (honouring
``Retry-After``), a response size cap, charset detection, and conditional GET with validators
kept in the store. New validators are only saved (by the collect stage) after the mentions of the
page are stored, so a crash never turns a page into a silent 304.
"""

from __future__ import annotations

import json
import random
import threading
import time
import urllib.robotparser
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import httpx
from pydantic import BaseModel, ConfigDict, Field

from bot.errors import FetchError, ParseError, RobotsDisallowed

DEFAULT_USER_AGENT = "recoverybot/0.1 (+https://github.com/recoverybot/recoverybot; review monitor)"


class HttpConfig(BaseModel):
    """[http]: how connectors fetch."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    user_agent: str = Field(DEFAULT_USER_AGENT, description="User-Agent sent with every request; say who you are.")
    connect_timeout: float = Field(10.0, gt=0, description="Seconds to wait for a connection.")
    read_timeout: float = Field(30.0, gt=0, description="Seconds to wait for response data.")
    per_host_delay: float = Field(1.0, ge=0, description="Minimum seconds between two requests to one host.")
    per_host_concurrency: int = Field(2, ge=1, le=16, description="At most this many requests to one host at once.")
    concurrency: int = Field(8, ge=1, le=64, description="At most this many requests in flight across all hosts.")
    respect_robots: bool = Field(True, description="Honour robots.txt; a disallowed URL is skipped and reported.")
    retries: int = Field(3, ge=0, le=10, description="Retries on connection errors, 429 and 5xx.")
    backoff: float = Field(1.0, ge=0, description="First retry delay in seconds; doubles each time, with jitter.")
    max_retry_after: float = Field(300.0, ge=0, description="Longest Retry-After we wait; longer means give up this run.")
    max_bytes: int = Field(5_000_000, ge=1000, description="Largest response body accepted, in bytes.")
    max_redirects: int = Field(5, ge=0, le=20, description="Redirects followed before giving up.")


@dataclass
class Page:
    """A fetched response: decoded text, or ``not_modified`` after a conditional GET."""

    url: str
    status: int
    headers: Mapping[str, str]
    content: bytes = b""
    text: str = ""
    not_modified: bool = False
    validators: dict[str, str] = field(default_factory=dict)

    def json(self, source: str = "") -> Any:
        try:
            return json.loads(self.text)
        except ValueError as exc:
            raise ParseError(f"response is not valid JSON: {exc}", source=source, url=self.url) from exc


Sleep = Callable[[float], None]


class Fetcher:
    """Polite GET/POST for connectors. Thread-safe: per-host locks keep the delay."""

    def __init__(
        self,
        config: HttpConfig | None = None,
        *,
        client: httpx.Client | None = None,
        validators: Callable[[str], tuple[str | None, str | None]] | None = None,
        sleep: Sleep = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config or HttpConfig()
        self.client = client or httpx.Client(
            timeout=httpx.Timeout(self.config.read_timeout, connect=self.config.connect_timeout),
            follow_redirects=True,
            max_redirects=self.config.max_redirects,
        )
        self._owns_client = client is None
        self._validators = validators or (lambda url: (None, None))
        self._sleep = sleep
        self._clock = clock
        self._robots: dict[str, urllib.robotparser.RobotFileParser | None] = {}
        self._host_locks: dict[str, threading.Semaphore] = {}
        self._host_next: dict[str, float] = {}
        self._guard = threading.Lock()
        self._global = threading.Semaphore(self.config.concurrency)
        self.requests = 0
        self.not_modified = 0

    def close(self) -> None:
        if self._owns_client:
            self.client.close()

    def __enter__(self) -> Fetcher:
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
    ) -> Page:
        """GET `url`; with ``conditional`` a 304 gives a Page with ``not_modified``."""
        self._check_robots(url, source)
        extra = dict(headers or {})
        if conditional:
            etag, modified = self._validators(url)
            if etag:
                extra["If-None-Match"] = etag
            if modified:
                extra["If-Modified-Since"] = modified
        return self._request("GET", url, params=params, headers=extra, source=source)

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
        return self._request("POST", url, json_body=json_body, data=data, headers=dict(headers or {}), source=source)

    # --- politeness ---------------------------------------------------------------------

    def _check_robots(self, url: str, source: str) -> None:
        if not self.config.respect_robots:
            return
        parts = urlsplit(url)
        origin = f"{parts.scheme}://{parts.netloc}"
        with self._guard:
            cached = origin in self._robots
        if not cached:
            parser: urllib.robotparser.RobotFileParser | None = None
            try:
                page = self._request("GET", origin + "/robots.txt", headers={}, source=source, retries=0, robots=True)
                parser = urllib.robotparser.RobotFileParser()
                parser.parse(page.text.splitlines())
            except FetchError:
                parser = None  # no robots.txt (404, error): everything is allowed
            with self._guard:
                self._robots[origin] = parser
        parser = self._robots.get(origin)
        if parser is not None and not parser.can_fetch(self.config.user_agent, url):
            raise RobotsDisallowed(
                "robots.txt disallows this URL for our User-Agent; skipped",
                source=source,
                url=url,
                hint="ask the site for permission, or set respect_robots = false only for your own shop",
            )

    def _host_slot(self, host: str) -> threading.Semaphore:
        with self._guard:
            if host not in self._host_locks:
                self._host_locks[host] = threading.Semaphore(self.config.per_host_concurrency)
            return self._host_locks[host]

    def _wait_turn(self, host: str) -> None:
        """Keep `per_host_delay` between the starts of two requests to one host."""
        with self._guard:
            now = self._clock()
            start = max(now, self._host_next.get(host, now))
            self._host_next[host] = start + self.config.per_host_delay
        if start > now:
            self._sleep(start - now)

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
        robots: bool = False,
    ) -> Page:
        host = urlsplit(url).netloc
        headers.setdefault("User-Agent", self.config.user_agent)
        attempts = (self.config.retries if retries is None else retries) + 1
        last_error = ""
        for attempt in range(attempts):
            wait: float | None = None
            with self._global, self._host_slot(host):
                self._wait_turn(host)
                try:
                    page = self._send(method, url, params, headers, json_body, data, source)
                except FetchError as exc:
                    if not exc.retryable:
                        raise
                    last_error = exc.reason
                    wait = self._backoff(attempt)
                else:
                    if page.status == 429 or page.status >= 500:
                        last_error = f"HTTP {page.status}"
                        retry_after = _retry_after(page.headers.get("retry-after"))
                        if retry_after is not None and retry_after > self.config.max_retry_after:
                            raise FetchError(
                                f"HTTP {page.status}; server asks to wait {retry_after:.0f}s, longer than "
                                f"max_retry_after; will try next run",
                                source=source,
                                url=url,
                            )
                        wait = retry_after if retry_after is not None else self._backoff(attempt)
                    elif page.status == 304:
                        self.not_modified += 1
                        page.not_modified = True
                        return page
                    elif page.status >= 400:
                        raise FetchError(f"HTTP {page.status}", source=source, url=url, status=page.status)
                    else:
                        return page
            if attempt + 1 < attempts and wait is not None:
                self._sleep(wait)
        raise FetchError(f"gave up after {attempts} attempts: {last_error}", source=source, url=url)

    def _backoff(self, attempt: int) -> float:
        base = self.config.backoff * (2**attempt)
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
        self.requests += 1
        try:
            with self.client.stream(method, url, params=params, headers=headers, json=json_body, data=data) as resp:
                declared = resp.headers.get("content-length")
                if declared and declared.isdigit() and int(declared) > self.config.max_bytes:
                    raise FetchError(
                        f"response of {int(declared):,} bytes is larger than max_bytes ({self.config.max_bytes:,})",
                        source=source, url=url, retryable=False,
                        hint="raise [http] max_bytes if this page is really that large",
                    )
                chunks: list[bytes] = []
                size = 0
                for chunk in resp.iter_bytes():
                    size += len(chunk)
                    if size > self.config.max_bytes:
                        raise FetchError(
                            f"response is larger than max_bytes ({self.config.max_bytes:,})",
                            source=source, url=url, retryable=False,
                            hint="raise [http] max_bytes if this page is really that large",
                        )
                    chunks.append(chunk)
                content = b"".join(chunks)
                final_url = str(resp.url)
                status = resp.status_code
                resp_headers = {k.lower(): v for k, v in resp.headers.items()}
                charset = resp.charset_encoding
        except httpx.TooManyRedirects as exc:
            raise FetchError("too many redirects (a redirect loop?)", source=source, url=url, retryable=False) from exc
        except httpx.TimeoutException as exc:
            raise FetchError(f"timed out ({type(exc).__name__})", source=source, url=url) from exc
        except httpx.RemoteProtocolError as exc:
            raise FetchError(f"connection broke off: {exc}", source=source, url=url) from exc
        except httpx.TransportError as exc:
            raise FetchError(f"cannot connect: {exc}", source=source, url=url) from exc
        page = Page(url=final_url, status=status, headers=resp_headers, content=content)
        page.text = decode(content, charset)
        validators = {k: resp_headers[k] for k in ("etag", "last-modified") if k in resp_headers}
        page.validators = validators
        return page


def decode(content: bytes, declared: str | None) -> str:
    """Bytes to text: the declared charset, else a <meta charset>, else detection."""
    if declared:
        try:
            return content.decode(declared)
        except (LookupError, UnicodeDecodeError):
            pass
    head = content[:2048].lower()
    marker = head.find(b"charset=")
    if marker >= 0:
        name = head[marker + 8 : marker + 40].strip(b"\"' ").split(b'"')[0].split(b"'")[0].split(b";")[0]
        name = name.split(b">")[0].split(b" ")[0].strip(b"/")
        try:
            return content.decode(name.decode("ascii"))
        except (LookupError, UnicodeDecodeError):
            pass
    try:
        return content.decode("utf-8")
    except UnicodeDecodeError:
        from charset_normalizer import from_bytes

        best = from_bytes(content).best()
        return str(best) if best is not None else content.decode("utf-8", errors="replace")


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
    return max(0.0, when.timestamp() - time.time())
