"""A real HTTP server on loopback for tests (STYLE.md point 7), shared by every area.

Usage::

    from tests.httpserver import LocalServer, Route

    with LocalServer({"/p/1": Route(body="<html>...</html>", etag='"v1"')}) as srv:
        client.get(srv.url("/p/1"))
        assert srv.requests[0].path == "/p/1"

Routes map a path (optionally with its query, ``"/api?page=2"``; an exact path+query wins over the
bare path) to one of:

- ``str`` / ``bytes``: a 200 with that body (content type guessed from the path);
- a :class:`Route`: status, headers, content type/charset, delay, truncation, ETag/Last-Modified
  (answered with 304 when the request's validators match);
- a ``list`` of those: one per request in turn, the last one repeats (a 429 storm, then success);
- a callable ``(Request) -> Route | str | bytes`` for dynamic answers (pagination by query).

``directory=`` serves files below a folder for paths no route names (``/a/b`` tries ``a/b``,
``a/b.html``, ``a/b/index.html``) with an ETag from the content, like a static web server.

``srv.requests`` logs every request (method, path, query, headers, body); ``srv.hits(path)``
counts them. Routes may be changed while the server runs (``srv.routes[...] = ...``).
The server speaks HTTP/1.1 with keep-alive; always close your client.
"""

from __future__ import annotations

import hashlib
import mimetypes
import socket
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit

import pytest

__all__ = ["LocalServer", "Request", "Route", "local_server"]


@dataclass
class Route:
    """One canned response.

    ``truncate`` sends only that many body bytes (with the full Content-Length) and drops the
    connection; ``trickle`` sends the body a byte at a time, that many seconds apart; ``delay`` waits before answering (to provoke read timeouts); ``etag`` /
    ``last_modified`` make the route answer 304 to a matching conditional request.
    """

    body: str | bytes = b""
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str | None = None  # guessed from the path when None
    charset: str | None = "utf-8"  # how a str body is encoded and declared; None declares none
    delay: float = 0.0
    truncate: int | None = None
    etag: str | None = None
    last_modified: str | None = None
    trickle: float = 0.0  # seconds between two body bytes (a server dripping its answer)

    def encoded(self) -> bytes:
        if isinstance(self.body, bytes):
            return self.body
        return self.body.encode(self.charset or "utf-8")


@dataclass
class Request:
    """A request as the server saw it."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-case names
    body: bytes
    raw_path: str

    def arg(self, name: str, default: str | None = None) -> str | None:
        """The first value of query parameter `name`."""
        values = self.query.get(name)
        return values[0] if values else default


Answer = Route | str | bytes
RouteSpec = Answer | list[Answer] | Callable[[Request], Answer]


class LocalServer:
    """A threaded HTTP/1.1 server on 127.0.0.1 (or `host`, e.g. 127.0.0.2 for "another host" that is
    still loopback), port chosen by the OS. A context manager."""

    def __init__(
        self,
        routes: Mapping[str, RouteSpec] | None = None,
        *,
        directory: str | Path | None = None,
        default: RouteSpec | None = None,
        host: str = "127.0.0.1",
    ) -> None:
        self.host = host
        self.routes: dict[str, RouteSpec] = dict(routes or {})
        self.directory = Path(directory) if directory is not None else None
        self.default = default
        self.requests: list[Request] = []
        self._turns: dict[str, int] = {}
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._port: int | None = None

    # --- lifecycle ------------------------------------------------------------------------

    def start(self) -> LocalServer:
        server = self

        class Handler(_Handler):
            owner = server

        self._httpd = _Server((self.host, 0), Handler)
        self._port = int(self._httpd.server_address[1])
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="LocalServer", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- addresses and log ----------------------------------------------------------------

    @property
    def port(self) -> int:
        """The port (still known after the server stopped, for messages that name the URL)."""
        assert self._port is not None, "server not started"
        return self._port

    @property
    def base(self) -> str:
        """``http://127.0.0.1:PORT`` (no trailing slash)."""
        return f"http://{self.host}:{self.port}"

    def url(self, path: str = "/") -> str:
        return self.base + (path if path.startswith("/") else "/" + path)

    def hits(self, path: str | None = None) -> int:
        """How many requests were made (to `path`, ignoring the query, when given)."""
        with self._lock:
            return sum(1 for r in self.requests if path is None or r.path == path)

    def reset(self) -> None:
        """Forget the request log and the position in route lists."""
        with self._lock:
            self.requests.clear()
            self._turns.clear()

    # --- resolution -----------------------------------------------------------------------

    def _record(self, request: Request) -> None:
        with self._lock:
            self.requests.append(request)

    def _answer(self, request: Request) -> tuple[Route, str]:
        key = request.raw_path if request.raw_path in self.routes else request.path
        spec: RouteSpec | None = self.routes.get(key)
        if spec is None and self.directory is not None:
            found = self._file(request.path)
            if found is not None:
                return found, request.path
        if spec is None:
            spec = self.default
        if spec is None:
            return Route(body="not found", status=404, content_type="text/plain"), request.path
        if isinstance(spec, list):
            with self._lock:
                turn = self._turns.get(key, 0)
                self._turns[key] = turn + 1
            spec = spec[min(turn, len(spec) - 1)]
        if callable(spec):
            spec = spec(request)
        if isinstance(spec, (str, bytes)):
            spec = Route(body=spec)
        return spec, request.path

    def _file(self, path: str) -> Route | None:
        assert self.directory is not None
        rel = path.lstrip("/")
        root = self.directory.resolve()
        for candidate in (rel, rel + ".html", rel.rstrip("/") + "/index.html"):
            target = (root / candidate).resolve() if candidate else root / "index.html"
            if root not in target.parents and target != root:
                continue
            if target.is_file():
                data = target.read_bytes()
                ctype = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
                return Route(body=data, content_type=ctype,
                             etag='"' + hashlib.sha1(data).hexdigest()[:16] + '"')
        return None


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client hanging up mid-answer is normal in tests (timeouts, size caps): stay quiet.
        pass


class _Handler(BaseHTTPRequestHandler):
    owner: LocalServer
    protocol_version = "HTTP/1.1"
    timeout = 10  # idle keep-alive connections close by themselves

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_PUT(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    def do_HEAD(self) -> None:
        self._serve(head=True)

    def _serve(self, head: bool = False) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        parts = urlsplit(self.path)
        request = Request(
            method=self.command,
            path=parts.path or "/",
            query=parse_qs(parts.query, keep_blank_values=True),
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
            raw_path=self.path,
        )
        self.owner._record(request)
        route, path = self.owner._answer(request)
        if route.delay:
            time.sleep(route.delay)
        if self._not_modified(route, request):
            self.send_response(304)
            if route.etag:
                self.send_header("ETag", route.etag)
            if route.last_modified:
                self.send_header("Last-Modified", route.last_modified)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        data = route.encoded()
        self.send_response(route.status)
        ctype = route.content_type or mimetypes.guess_type(path)[0] or "text/html"
        if route.charset and isinstance(route.body, str) and "charset" not in ctype and (
            ctype.startswith("text/") or ctype.endswith(("json", "xml"))
        ):
            ctype += f"; charset={route.charset}"
        headers = {"Content-Type": ctype, **route.headers}
        if route.etag:
            headers["ETag"] = route.etag
        if route.last_modified:
            headers["Last-Modified"] = route.last_modified
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        if route.truncate is not None:
            self.send_header("Connection", "close")
        self.end_headers()
        if head:
            return
        if route.truncate is not None:
            self.wfile.write(data[: route.truncate])
            self.wfile.flush()
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        if route.trickle:
            try:
                for i in range(len(data)):
                    self.wfile.write(data[i : i + 1])
                    self.wfile.flush()
                    time.sleep(route.trickle)
            except OSError:
                pass  # the client gave up on us: that is the point
            return
        self.wfile.write(data)

    @staticmethod
    def _not_modified(route: Route, request: Request) -> bool:
        tag = request.headers.get("if-none-match")
        if route.etag and tag:
            return route.etag in [t.strip() for t in tag.split(",")] or tag.strip() == "*"
        since = request.headers.get("if-modified-since")
        return bool(route.last_modified and since and since == route.last_modified)


@pytest.fixture
def local_server() -> Iterator[LocalServer]:
    """A started, empty LocalServer; add routes with ``local_server.routes[path] = ...``."""
    with LocalServer() as srv:
        yield srv
