"""The polite fetcher against a real loopback server: retries, Retry-After, caps, robots, charsets."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest

from bot.errors import FetchError, ParseError, RobotsDisallowed
from bot.fetch import Fetcher, HttpConfig, decode
from tests.httpserver import LocalServer, Request, Route


@contextmanager
def fetcher(sleeps: list[float] | None = None, **http: Any) -> Iterator[Fetcher]:
    # a fixed pace and no ceiling: these tests look at retries, caps and parsing (pacing has its own tests)
    settings: dict[str, Any] = {"per_host_delay": 0, "backoff": 0, "adaptive": False, "max_requests_per_minute": 0,
                                **http}
    client = httpx.Client(timeout=5)
    record = sleeps if sleeps is not None else []
    try:
        slept = [0.0]

        def sleep(seconds: float) -> None:  # recorded, not slept: the fetcher's clock moves on by it
            record.append(seconds)
            slept[0] += seconds

        yield Fetcher(HttpConfig(**settings), client=client, sleep=sleep, clock=lambda: time.monotonic() + slept[0])
    finally:
        client.close()


def test_429_with_retry_after_is_retried_after_the_asked_delay() -> None:
    sleeps: list[float] = []
    storm = [Route(status=429, headers={"Retry-After": "7"}), Route(status=503), Route(body="finally")]
    with LocalServer({"/p": storm}) as srv, fetcher(sleeps, backoff=0.5) as fetch:
        page = fetch.get(srv.url("/p"))
    assert page.text == "finally" and srv.hits("/p") == 3
    assert sleeps[0] == pytest.approx(7.0, abs=0.2)  # Retry-After honoured (less the moments since the answer)
    assert 0.8 <= sleeps[1] <= 1.5  # then exponential backoff (0.5 * 2**1) with up to 50% jitter


def test_a_429_storm_gives_up_with_a_readable_error() -> None:
    with LocalServer({"/p": Route(status=429, headers={"Retry-After": "0"})}) as srv, fetcher(retries=2) as fetch:
        with pytest.raises(FetchError) as info:
            fetch.get(srv.url("/p"), source="shop")
    assert srv.hits("/p") == 3
    assert "gave up after 3 attempts: HTTP 429" in str(info.value) and "[shop]" in str(info.value)
    assert info.value.status == 429 and "per_host_delay" in info.value.hint


def test_retry_after_longer_than_allowed_stops_at_once() -> None:
    with LocalServer({"/p": Route(status=503, headers={"Retry-After": "3600"})}) as srv, fetcher() as fetch:
        with pytest.raises(FetchError, match="asks to wait 3600s"):
            fetch.get(srv.url("/p"))
    assert srv.hits("/p") == 1


def test_404_is_not_retried_and_hints_at_the_config() -> None:
    with LocalServer() as srv, fetcher() as fetch, pytest.raises(FetchError) as info:
        fetch.get(srv.url("/gone"), source="shop")
    assert srv.hits("/gone") == 1 and info.value.status == 404 and "remove or fix the URL" in str(info.value)


def test_connection_refused_is_retried_then_reported() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with fetcher(retries=1, respect_robots=False) as fetch:
        with pytest.raises(FetchError, match="cannot connect"):
            fetch.get(f"http://127.0.0.1:{port}/p")
        assert fetch.requests == 2


def test_timeout_is_a_fetch_error() -> None:
    with LocalServer({"/slow": Route(body="late", delay=1.0)}) as srv, \
            fetcher(retries=0, read_timeout=0.2, respect_robots=False) as fetch:
        with pytest.raises(FetchError, match="timed out"):
            fetch.get(srv.url("/slow"))


def test_truncated_body_and_redirect_loop_and_size_cap() -> None:
    routes = {
        "/cut": Route(body="x" * 900, truncate=100),
        "/loop": Route(status=302, headers={"Location": "/loop"}),
        "/big": Route(body="y" * 5000),
    }
    with LocalServer(routes) as srv, fetcher(retries=0, max_bytes=1000, respect_robots=False) as fetch:
        with pytest.raises(FetchError, match="body truncated"):
            fetch.get(srv.url("/cut"))
        with pytest.raises(FetchError, match="too many redirects"):
            fetch.get(srv.url("/loop"))
        with pytest.raises(FetchError, match="larger than \\[http\\] max_bytes") as info:
            fetch.get(srv.url("/big"))
        assert "raise [http] max_bytes" in str(info.value)


def test_size_cap_without_content_length() -> None:
    def chunks(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=iter([b"z" * 800, b"z" * 800]))  # streamed: no length

    client = httpx.Client(transport=httpx.MockTransport(chunks))
    try:
        fetch = Fetcher(HttpConfig(max_bytes=1000, respect_robots=False, per_host_delay=0), client=client)
        with pytest.raises(FetchError, match="larger than"):
            fetch.get("http://shop.test/huge")
    finally:
        client.close()


def test_robots_disallowed_url_is_never_fetched_and_robots_read_once() -> None:
    robots = "User-agent: *\nDisallow: /private/\n"
    routes = {"/robots.txt": Route(body=robots, content_type="text/plain"), "/ok": "fine", "/private/x": "secret"}
    with LocalServer(routes) as srv, fetcher() as fetch:
        assert fetch.get(srv.url("/ok")).text == "fine"
        with pytest.raises(RobotsDisallowed) as info:
            fetch.get(srv.url("/private/x"), source="shop")
        assert fetch.get(srv.url("/ok")).text == "fine"
    assert srv.hits("/private/x") == 0 and srv.hits("/robots.txt") == 1
    assert info.value.kind == "robots" and "respect_robots" in str(info.value)


def test_robots_unreachable_keeps_us_away_and_403_disallows_all() -> None:
    routes = {"/robots.txt": Route(status=500), "/p": "page"}
    with LocalServer(routes) as srv, fetcher(retries=0) as fetch:
        with pytest.raises(RobotsDisallowed, match="could not be read"):
            fetch.get(srv.url("/p"))
        assert srv.hits("/p") == 0
    with LocalServer({"/robots.txt": Route(status=403), "/p": "page"}) as srv, fetcher() as fetch:
        with pytest.raises(RobotsDisallowed):
            fetch.get(srv.url("/p"))
    with LocalServer({"/p": "page"}) as srv, fetcher(respect_robots=False) as fetch:
        assert fetch.get(srv.url("/p")).text == "page" and srv.hits("/robots.txt") == 0


def test_wrong_declared_charset_is_detected() -> None:
    latin = "Très déçu: la poignée est cassée".encode("cp1252")
    html = b'<html><head><meta charset="windows-1252"></head><body>' + latin + b"</body></html>"
    routes = {
        "/lies": Route(body=html, content_type="text/html; charset=utf-8"),  # says UTF-8, is not
        "/plain": Route(body="Ünïcode straße".encode("latin-1"), content_type="text/plain", charset=None),
    }
    with LocalServer(routes) as srv, fetcher(respect_robots=False) as fetch:
        page = fetch.get(srv.url("/lies"))
        assert "Très déçu: la poignée est cassée" in page.text and page.charset == "windows-1252"
        assert "straße" in fetch.get(srv.url("/plain")).text
    assert decode("naïve".encode("utf-16"), "utf-16")[0] == "naïve"


def test_conditional_get_304_and_unchanged_body_hash() -> None:
    routes = {"/etag": Route(body="v1", etag='"abc"'), "/plain": Route(body="same body")}
    remembered: dict[str, dict[str, str]] = {}
    with LocalServer(routes) as srv, fetcher(respect_robots=False) as fetch:
        fetch._validators = lambda url: remembered.get(url)
        first = fetch.get(srv.url("/etag"), conditional=True, source="s")
        plain = fetch.get(srv.url("/plain"), conditional=True, source="s")
        assert not first.not_modified and first.validators["etag"] == '"abc"'
        remembered.update(fetch.take_validators("s"))
        assert set(remembered) == {srv.url("/etag"), srv.url("/plain")} and not plain.not_modified
        again = fetch.get(srv.url("/etag"), conditional=True, source="s")
        assert again.not_modified and again.status == 304
        assert srv.requests[-1].headers["if-none-match"] == '"abc"'
        # no validators from the server: an identical body also counts as unchanged
        assert fetch.get(srv.url("/plain"), conditional=True, source="s").not_modified
        assert fetch.stats["s"].not_modified == 2 and fetch.stats["s"].pages == 2
        assert fetch.take_validators("s") == {}  # nothing new to remember


def test_json_errors_name_the_url() -> None:
    with LocalServer({"/api": Route(body="<html>login</html>", content_type="application/json")}) as srv, \
            fetcher(respect_robots=False) as fetch:
        with pytest.raises(ParseError, match="not valid JSON") as info:
            fetch.get(srv.url("/api")).json("woo")
    assert srv.url("/api") in str(info.value)


def test_per_host_delay_is_kept_between_request_starts() -> None:
    sleeps: list[float] = []
    client = httpx.Client(timeout=5)
    try:
        with LocalServer({"/a": "a"}) as srv:
            fetch = Fetcher(HttpConfig(per_host_delay=0.25, respect_robots=False), client=client,
                            sleep=sleeps.append, clock=lambda: 100.0)
            for _ in range(3):
                fetch.get(srv.url("/a"))
    finally:
        client.close()
    assert sleeps == [0.25, 0.5]  # a frozen clock: each start waits for the one before + delay


def test_per_host_concurrency_bounds_parallel_requests() -> None:
    active = 0
    peak = 0
    lock = threading.Lock()

    def slow(request: Request) -> Route:
        nonlocal active, peak
        with lock:
            active += 1
            peak = max(peak, active)
        time.sleep(0.05)
        with lock:
            active -= 1
        return Route(body=request.path)

    with LocalServer(default=slow) as srv, fetcher(per_host_concurrency=2, concurrency=8,
                                                    respect_robots=False) as fetch:
        urls = [srv.url(f"/p/{i}") for i in range(8)]
        got = dict(fetch.get_many(urls, source="s"))
    assert sorted(p.text for p in got.values() if not isinstance(p, Exception)) == sorted(f"/p/{i}" for i in range(8))
    assert peak == 2


def test_get_many_reports_each_bad_url_and_goes_on() -> None:
    with LocalServer({"/a": "a", "/c": "c"}) as srv, fetcher(respect_robots=False) as fetch:
        results = dict(fetch.get_many([srv.url("/a"), srv.url("/b"), srv.url("/c")], source="s"))
    assert isinstance(results[srv.url("/b")], FetchError)
    assert {getattr(r, "text", None) for r in results.values()} >= {"a", "c"}


def test_a_trickled_body_is_cut_off_at_the_total_timeout() -> None:
    # a byte every 0.1 s keeps each read within read_timeout: only a total deadline ends it
    with LocalServer({"/drip": Route(body="x" * 200, trickle=0.1)}) as srv, \
            fetcher(retries=2, read_timeout=5, total_timeout=1, respect_robots=False) as fetch:
        started = time.monotonic()
        with pytest.raises(FetchError, match=r"total_timeout \(1s\)") as info:
            fetch.get(srv.url("/drip"), source="shop")
        elapsed = time.monotonic() - started
    assert elapsed < 4, f"took {elapsed:.1f}s"
    assert srv.hits("/drip") == 1 and info.value.url == srv.url("/drip")  # not retried: it would drip again


@contextmanager
def dripping_headers() -> Iterator[str]:
    """A raw server that sends its status line, then one header byte every 0.1 s, forever."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(4)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                return
            with conn:
                conn.recv(65536)
                try:
                    conn.sendall(b"HTTP/1.1 200 OK\r\nX-Slow: ")
                    while not stop.wait(0.1):
                        conn.sendall(b"a")
                except OSError:
                    continue

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.getsockname()[1]}/"
    finally:
        stop.set()
        server.close()
        thread.join(timeout=5)


def test_trickled_headers_are_cut_off_at_the_total_timeout_by_our_own_client() -> None:
    from bot.fetch import make_client

    config = HttpConfig(per_host_delay=0, retries=0, read_timeout=5, total_timeout=1, respect_robots=False,
                        allow_private=["127.0.0.1"])
    with dripping_headers() as url, make_client(config) as client:
        fetch = Fetcher(config, client=client)
        started = time.monotonic()
        with pytest.raises(FetchError, match="total_timeout"):
            fetch.get(url, source="shop")
        elapsed = time.monotonic() - started
    assert elapsed < 4, f"took {elapsed:.1f}s"


# --- the adaptive pace (measured at the server) -------------------------------------------------


class Clocked:
    """Routes that log when each request reached the server and how many were in flight."""

    def __init__(self, answer: Any) -> None:
        self.answer = answer
        self.times: list[tuple[float, str, int]] = []  # (arrival, path, status answered)
        self.active = 0
        self.peak = 0
        self._lock = threading.Lock()

    def __call__(self, request: Request) -> Route:
        with self._lock:
            self.active += 1
            self.peak = max(self.peak, self.active)
            arrived = time.monotonic()
        try:
            route: Route = self.answer(request, arrived)
            if route.delay:
                time.sleep(route.delay)  # the server's own work time, held while counted as in flight
                route = Route(body=route.body, status=route.status, headers=route.headers, etag=route.etag)
            return route
        finally:
            with self._lock:
                self.active -= 1
                self.times.append((arrived, request.path, route.status))


def test_the_per_minute_ceiling_holds_at_the_server_however_fast_it_answers() -> None:
    clocked = Clocked(lambda request, at: Route(body=request.path))
    client = httpx.Client(timeout=5)
    try:
        with LocalServer(default=clocked) as srv:
            fetch = Fetcher(HttpConfig(max_requests_per_minute=600, per_host_concurrency=4, concurrency=8,
                                       respect_robots=False), client=client)
            started = time.monotonic()
            got = dict(fetch.get_many([srv.url(f"/p/{i}") for i in range(25)], source="s"))
            took = time.monotonic() - started
    finally:
        client.close()
    assert all(not isinstance(page, Exception) for page in got.values()) and len(got) == 25
    arrivals = sorted(t for t, _, _ in clocked.times)
    # 600 a minute = 10 a second: no second of the run saw more than 10 (+1 for the edges)
    for i, first in enumerate(arrivals):
        assert sum(1 for t in arrivals[i:] if t - first < 1.0) <= 11
    assert arrivals[-1] - arrivals[0] >= 24 * 0.1 * 0.9
    assert took < 24 * 0.1 + 3  # and no slower than the ceiling asks: a quick site is read quickly


def test_a_slow_host_with_a_429_burst_is_read_at_its_pace_without_an_error_storm() -> None:
    burst: list[float] = []  # when the server started answering 429s, and for how long (Retry-After: 1)

    def answer(request: Request, at: float) -> Route:
        if request.path == "/p/4" and not burst:
            burst.append(at)
        if burst and at - burst[0] < 1.0:
            return Route(status=429, headers={"Retry-After": "1"})
        return Route(body=request.path, delay=0.2)  # a server needing 200 ms per page

    clocked = Clocked(answer)
    client = httpx.Client(timeout=5)
    try:
        with LocalServer(default=clocked) as srv:
            fetch = Fetcher(HttpConfig(per_host_concurrency=4, concurrency=8, retries=3, backoff=0.2,
                                       respect_robots=False), client=client)
            urls = [srv.url(f"/p/{i}") for i in range(12)]
            got = dict(fetch.get_many(urls, source="s"))
            pace = fetch.host_delay(f"127.0.0.1:{srv.port}")
    finally:
        client.close()
    assert sorted(p.text for p in got.values() if not isinstance(p, Exception)) == sorted(f"/p/{i}" for i in range(12))
    refused = [t for t, _, status in clocked.times if status == 429]
    assert 1 <= len(refused) <= 2  # the first 429 holds every request to the host: no storm of them
    # Retry-After honoured by the whole host: after the first 429 nobody asks before a second has passed
    first_429 = min(refused)
    assert not [t for t, _, status in clocked.times if first_429 + 0.05 < t < first_429 + 0.95 and status != 429]
    # the pace follows the answer time (200 ms at a target of one request in flight): not four at once
    assert clocked.peak <= 2
    assert pace >= 0.19


def test_robots_crawl_delay_and_a_304_as_a_light_request() -> None:
    robots = "User-agent: *\nCrawl-delay: 2\n"
    routes = {"/robots.txt": Route(body=robots, content_type="text/plain"), "/a": "a", "/b": "b"}
    sleeps: list[float] = []
    with LocalServer(routes) as srv, fetcher(sleeps, adaptive=True) as fetch:
        fetch.get(srv.url("/a"))
        fetch.get(srv.url("/b"))
    assert sleeps and sleeps[-1] == pytest.approx(2.0, abs=0.1)  # robots.txt's Crawl-delay is a floor

    sleeps = []
    lamp = {"/lamp": Route(body="lamp", etag='"v1"')}
    client = httpx.Client(timeout=5)
    slept = [0.0]

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        slept[0] += seconds

    try:
        with LocalServer(lamp) as srv:
            fetch = Fetcher(HttpConfig(max_requests_per_minute=60, respect_robots=False), client=client,
                            validators=lambda url: {"etag": '"v1"'}, sleep=sleep,
                            clock=lambda: time.monotonic() + slept[0])
            pages = [fetch.get(srv.url("/lamp"), conditional=True) for _ in range(5)]
    finally:
        client.close()
    assert all(page.not_modified for page in pages) and srv.hits("/lamp") == 5
    # 60 a minute is one a second for a full page; an unchanged one (304) books a quarter of that
    assert [round(s, 1) for s in sleeps] == [0.2, 0.2, 0.2, 0.2] or all(0.2 <= s <= 0.26 for s in sleeps)
