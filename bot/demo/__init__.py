"""The bundled demo shop: "Kestrel Lane", served on loopback for `recoverybot demo` and for tests.

The site under ``site/`` (six product pages with schema.org ``Product`` JSON-LD and their reviews,
an RSS feed of social mentions, a sitemap, robots.txt) and the ``orders.csv`` export are templates.
Two kinds of placeholder are filled in when they are served or written:

- ``{{BASE}}``: the server's own base URL (``http://127.0.0.1:<port>``), so every link, product URL
  and order line points at the running server;
- dates relative to "today", so the demo looks recent whatever day it runs:
  ``{{DATE:N}}`` (ISO date, N days ago; negative N is in the future),
  ``{{DATETIME:N:HH:MM}}`` (ISO 8601 UTC) and ``{{RFC822:N:HH:MM}}`` (RSS dates).

Rendering is a pure function of (template, base URL, today), so the demo is deterministic for a
given day. Review and post ids never contain the port: a kept demo database (``--workdir``) sees
the same mentions again on the next run instead of new copies.
"""

from __future__ import annotations

import email.utils
import hashlib
import mimetypes
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from types import TracebackType
from typing import Any, Self

__all__ = ["ORDERS_TEMPLATE", "SCENARIOS", "SHOP_NAME", "DemoShop", "Scenario", "demo_config_text", "render"]

SHOP_NAME = "Kestrel Lane"
ORDERS_TEMPLATE = "orders.csv"



@dataclass(frozen=True)
class Scenario:
    """A story planted in the demo shop and what the bot should make of it (DESIGN.md seed scenarios).

    ``author`` is the name on the review, or the social handle for a post; ``source`` is "shop"
    (a product review) or "social" (the RSS feed). End-to-end tests and the README use these.
    """

    key: str
    source: str
    author: str
    customer: str
    sku: str
    order_number: str
    issue: str
    remedy: str


SCENARIOS: tuple[Scenario, ...] = (
    Scenario("defective_gadget", "shop", "Daniel Okafor", "Daniel Okafor", "KL-HL-01", "KL-1085", "defective",
             "replacement shipped unasked, with a note saying why"),
    Scenario("delivered_not_received", "shop", "Tessa L.", "Tessa Lindqvist", "KL-BP-20", "KL-1093", "not_delivered",
             "replacement with expedited shipping (the same complaint is also in the feed as @tessalind: one case)"),
    Scenario("wrong_item", "shop", "Amélie L.", "Amélie Laurent", "KL-DR-07", "KL-1097", "wrong_item",
             "refund and a shipping credit (a person approves the 113 EUR), keep the T-shirts (returning them costs "
             "more than they are worth)"),
    Scenario("studs_fell_off", "shop", "Jonas Becker", "Jonas Becker", "KL-BT-11", "KL-1055", "defective",
             "repair reimbursement up to the cap as a gift card (his post as @jonasbkr joins the case)"),
    Scenario("late_return_illness", "social", "@greta_vos", "Margarethe Vos", "KL-KN-03", "KL-1049", "fit_size",
             "waive the 30-day window (2 days over), courier pickup, full refund, goodwill gesture"),
)

_TOKEN = re.compile(r"\{\{(BASE|DATE|DATETIME|RFC822)(?::(-?\d+)(?::(\d{2}):(\d{2}))?)?\}\}")

_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".xml": "application/xml; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".csv": "text/csv; charset=utf-8",
}
# paths whose content type is more specific than their extension says
_SPECIAL_TYPES = {"/feed.xml": "application/rss+xml; charset=utf-8"}


def render(template: str, base_url: str, today: date) -> str:
    """Fill the placeholders of a demo template (see the module docstring)."""

    def fill(match: re.Match[str]) -> str:
        kind, days, hour, minute = match.groups()
        if kind == "BASE":
            return base_url.rstrip("/")
        if days is None:
            raise ValueError(f"demo template placeholder {match.group(0)!r} needs a day offset")
        day = today - timedelta(days=int(days))
        if kind == "DATE":
            return day.isoformat()
        if hour is None or minute is None:
            raise ValueError(f"demo template placeholder {match.group(0)!r} needs a time HH:MM")
        moment = datetime.combine(day, time(int(hour), int(minute)), tzinfo=UTC)
        if kind == "DATETIME":
            return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
        return email.utils.format_datetime(moment, usegmt=True)

    return _TOKEN.sub(fill, template)


def _package_root() -> Traversable:
    return resources.files(__name__)


class DemoShop:
    """The demo shop on a real threaded HTTP server at 127.0.0.1 on a free port.

    Use as a context manager; ``today`` (default: the current UTC day) anchors the relative dates.
    Serves the rendered site with a correct Content-Type, an ETag and a Last-Modified, answers
    conditional GETs with 304, and unknown paths with 404. ``orders.csv`` is not served (a real
    shop does not publish its orders); :meth:`write_orders_csv` writes it where the config says.
    """

    def __init__(self, today: date | None = None, host: str = "127.0.0.1") -> None:
        self.today = today or datetime.now(UTC).date()
        self.host = host
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._pages: dict[str, tuple[bytes, str, str]] = {}
        # one Last-Modified for the whole site: the content changes only when "today" does
        self.last_modified = email.utils.format_datetime(
            datetime.combine(self.today, time(0, 0), tzinfo=UTC), usegmt=True
        )
        self.requests: list[str] = []  # "GET /path" of every request, for tests and curiosity

    # --- lifecycle ------------------------------------------------------------------------

    def start(self) -> Self:
        if self._server is not None:
            return self
        server = ThreadingHTTPServer((self.host, 0), _handler_for(self))
        server.daemon_threads = True
        self._server = server
        self._pages = self._render_site()
        self._thread = threading.Thread(target=server.serve_forever, name="demo-shop", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # --- addresses ------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("the demo shop is not running; use it as `with DemoShop() as shop:`")
        port = self._server.server_address[1]
        return f"http://{self.host}:{port}"

    def url(self, path: str) -> str:
        return self.base_url + "/" + path.lstrip("/")

    @property
    def product_urls(self) -> list[str]:
        return [self.url(f"products/{slug}") for slug in self.product_slugs()]

    @property
    def feed_url(self) -> str:
        return self.url("feed.xml")

    @property
    def sitemap_url(self) -> str:
        return self.url("sitemap.xml")

    @staticmethod
    def product_slugs() -> list[str]:
        folder = _package_root() / "site" / "products"
        return sorted(item.name.removesuffix(".html") for item in folder.iterdir() if item.name.endswith(".html"))

    # --- content --------------------------------------------------------------------------

    def render(self, template: str) -> str:
        return render(template, self.base_url, self.today)

    def orders_csv_text(self) -> str:
        text = (_package_root() / ORDERS_TEMPLATE).read_text(encoding="utf-8")
        return self.render(text)

    def write_orders_csv(self, path: Path) -> Path:
        """Write the shop's order export (dates rendered for today, URLs for this server)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.orders_csv_text(), encoding="utf-8", newline="")
        return path

    def page(self, path: str) -> tuple[bytes, str, str] | None:
        """(body, content type, etag) served at `path`, or None (a 404)."""
        return self._pages.get(path)

    def _render_site(self) -> dict[str, tuple[bytes, str, str]]:
        pages: dict[str, tuple[bytes, str, str]] = {}
        for rel, item in _walk(_package_root() / "site", ""):
            suffix = "." + rel.rsplit(".", 1)[-1] if "." in rel else ""
            kind = _TYPES.get(suffix) or mimetypes.guess_type(rel)[0] or "application/octet-stream"
            body = self.render(item.read_text(encoding="utf-8")).encode("utf-8")
            etag = '"' + hashlib.sha256(body).hexdigest()[:20] + '"'
            path = "/" + rel
            entry = (body, _SPECIAL_TYPES.get(path, kind), etag)
            pages[path] = entry
            # pretty URLs like a shop theme: /products/x serves products/x.html, / serves index.html
            if path.endswith("/index.html"):
                pages[path.removesuffix("index.html")] = entry
            elif path.endswith(".html"):
                pages[path.removesuffix(".html")] = entry
        return pages


def _walk(folder: Traversable, prefix: str) -> Iterator[tuple[str, Traversable]]:
    for item in folder.iterdir():
        if item.name.startswith((".", "__")):
            continue
        rel = prefix + item.name
        if item.is_dir():
            yield from _walk(item, rel + "/")
        else:
            yield rel, item


def _handler_for(shop: DemoShop) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "KestrelLaneDemo/1.0"

        def do_HEAD(self) -> None:
            self._answer(head=True)

        def do_GET(self) -> None:
            self._answer(head=False)

        def _answer(self, *, head: bool) -> None:
            path = self.path.split("?", 1)[0].split("#", 1)[0]
            shop.requests.append(f"{self.command} {self.path}")
            found = shop.page(path)
            if found is None:
                self._send(404, b"<!DOCTYPE html><title>Not found</title><h1>Page not found</h1>\n",
                           "text/html; charset=utf-8", head=head)
                return
            body, kind, etag = found
            headers = {"ETag": etag, "Last-Modified": shop.last_modified, "Cache-Control": "no-cache"}
            if self._not_modified(etag):
                self._send(304, b"", None, head=True, headers=headers)
                return
            self._send(200, body, kind, head=head, headers=headers)

        def _not_modified(self, etag: str) -> bool:
            wanted = self.headers.get("If-None-Match")
            if wanted is not None:
                return etag in [tag.strip().removeprefix("W/") for tag in wanted.split(",")] or wanted.strip() == "*"
            since = self.headers.get("If-Modified-Since")
            if since:
                try:
                    stamp = email.utils.parsedate_to_datetime(since)
                    modified = email.utils.parsedate_to_datetime(shop.last_modified)
                except (TypeError, ValueError):
                    return False
                return stamp.tzinfo is not None and stamp >= modified
            return False

        def _send(self, status: int, body: bytes, kind: str | None, *, head: bool,
                  headers: dict[str, str] | None = None) -> None:
            self.send_response(status)
            if kind:
                self.send_header("Content-Type", kind)
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            if status != 304:
                self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if not head and status != 304:
                self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # the demo's output is the summary, not an access log

    return Handler


# --- the demo's config ------------------------------------------------------------------------


def _toml_str(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def demo_config_text(shop: DemoShop, workdir: Path) -> str:
    """A complete config.toml for the demo: store and orders in `workdir`, sources on `shop`.

    Writes ``orders.csv`` into `workdir` as a side effect (the [orders] section points at it).
    Each section is built by its own small function below so other areas' demo settings can be
    added as further sections without touching these.
    """
    orders = shop.write_orders_csv(workdir / "orders.csv")
    parts = [
        _bot_section(workdir),
        _http_section(),
        _brand_section(),
        _sources_section(shop),
        _orders_section(orders),
        _scoring_section(),
        _policy_section(),
        _fulfilment_section(workdir),
    ]
    return "\n".join(parts)


def _bot_section(workdir: Path) -> str:
    database = "sqlite:///" + (workdir / "recoverybot.db").as_posix()
    return f"""# Written by `recoverybot demo` for the bundled demo shop; safe to delete.
[bot]
shop_name = {_toml_str(SHOP_NAME)}
database = {_toml_str(database)}
timezone = "Europe/Dublin"
currency = "EUR"
"""


def _scoring_section() -> str:
    # A new install lets a remedy go out on its own only where the scorer was 95 % right on
    # held-back real texts, which is rare: most cases wait for a person. The demo trusts it more
    # (a remedy probability of 0.6 and an issue probability of 0.8), so its planted stories show
    # remedies going out; the cases it is unsure of still wait, with the reason.
    return """[scoring]
sure_remedy_probability = 0.6
sure_issue_probability = 0.8
"""


def _policy_section() -> str:
    # The built-in rules, with a day's budget that fits the demo's first day: every seed story
    # then shows its intended remedy (done, or waiting only for the guards that must hold).
    return """[policy]
daily_budget = 400
"""


def _http_section() -> str:
    return """[http]
per_host_delay = 0.0          # our own loopback server: no need to be polite
backoff = 0.0
retries = 1
allow_private = ["127.0.0.1"]  # the demo shop listens on this machine
"""


def _brand_section() -> str:
    return """[brand]
keywords = ["Kestrel Lane"]
handles = ["@kestrellane"]
own_accounts = ["@kestrellane"]
"""


def _sources_section(shop: DemoShop) -> str:
    return f"""[[sources]]
name = "shop"
kind = "schema_org"
sitemap = {_toml_str(shop.sitemap_url)}

[[sources]]
name = "social"
kind = "rss"
urls = [{_toml_str(shop.feed_url)}]
"""


def _orders_section(path: Path) -> str:
    return f"""[orders]
kind = "csv"
path = {_toml_str(path.as_posix())}
"""


def _fulfilment_section(workdir: Path) -> str:
    # the demo has no warehouse: every remedy becomes a row of a local file staff can open
    path = (workdir / "remedies.csv").as_posix()
    return f"""[[fulfilment]]
name = "warehouse"
kind = "csv"
path = {_toml_str(path)}
"""
