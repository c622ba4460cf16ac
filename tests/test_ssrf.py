"""Issue 13 items 4 and 7: redirects and links stay on the source's own hosts, internal addresses
are refused unless [http] allow_private lists them, and shop credentials never leave the shop's
host. Real loopback servers: 127.0.0.2 is loopback too, and another host name than 127.0.0.1."""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.collect import collect
from bot.config import Config
from bot.errors import DispatchError, FetchError, OrderSyncError
from bot.fetch import Fetcher, HttpConfig, address_refused, make_client
from bot.orders import OrdersConfig, sync
from bot.store import Store
from connectors.fulfilment.base import Deps, Job
from connectors.fulfilment.shopify import ShopifyAdapter, ShopifyOptions
from tests.httpserver import LocalServer, Request, Route

LAMP = (Path(__file__).resolve().parent / "fixtures" / "schema_org" / "shopify-pocket-lamp.html").read_bytes()
BOTH = ["127.0.0.1", "127.0.0.2"]


@pytest.fixture
def other() -> Iterator[LocalServer]:
    """The foreign host: every request it sees is a leak."""
    with LocalServer(default=Route(body=LAMP, content_type="text/html"), host="127.0.0.2") as server:
        yield server


def config(*sources: dict[str, Any], allow_private: list[str] | None = None) -> Config:
    return Config.model_validate({
        "http": {"per_host_delay": 0, "backoff": 0, "retries": 0, "respect_robots": False,
                 "allow_private": BOTH if allow_private is None else allow_private},
        "sources": list(sources),
    })


# --- redirects and links ---------------------------------------------------------------------


def test_redirect_to_another_host_is_a_recorded_error_naming_both_urls(store: Store, other: LocalServer) -> None:
    with LocalServer({"/p": Route(status=302, headers={"Location": other.url("/internal")})}) as srv:
        summary = collect(config({"name": "shop", "kind": "schema_org", "urls": [srv.url("/p")]}), store)
    [result] = summary.results
    assert not result.ok and other.requests == []
    text = " ".join(result.errors)
    assert result.name == "shop" and "refused" in text and srv.url("/p") in text and other.url("/internal") in text


def test_allow_hosts_widens_where_redirects_may_go(store: Store, other: LocalServer) -> None:
    with LocalServer({"/p": Route(status=302, headers={"Location": other.url("/lamp")})}) as srv:
        summary = collect(config({"name": "shop", "kind": "schema_org", "urls": [srv.url("/p")],
                                  "allow_hosts": ["127.0.0.2"]}), store)
    assert summary.results[0].ok, summary.results[0].errors
    assert summary.new_total > 0 and [r.path for r in other.requests] == ["/lamp"]


def test_redirect_within_the_host_is_still_followed() -> None:
    routes = {"/old": Route(status=301, headers={"Location": "/new"}), "/new": "moved here"}
    with LocalServer(routes) as srv, make_client(HttpConfig(allow_private=["127.0.0.1"])) as client:
        fetch = Fetcher(HttpConfig(per_host_delay=0, respect_robots=False), client=client)
        fetch.set_hosts("shop", [srv.url("/old")])
        page = fetch.get(srv.url("/old"), source="shop")
    assert page.text == "moved here" and page.url == srv.url("/new")


def test_redirect_to_a_non_http_scheme_is_refused_and_not_retried() -> None:
    with LocalServer({"/p": Route(status=302, headers={"Location": "file:///etc/passwd"})}) as srv, \
            httpx.Client() as client:
        fetch = Fetcher(HttpConfig(per_host_delay=0, respect_robots=False, retries=3), client=client,
                        sleep=lambda s: None)
        with pytest.raises(FetchError, match="not an http") as info:
            fetch.get(srv.url("/p"), source="shop")
    assert not info.value.retryable and srv.hits("/p") == 1


def test_sitemap_locs_on_another_host_are_recorded_and_never_fetched(store: Store, other: LocalServer) -> None:
    def sitemap(request: Request) -> Route:
        locs = "".join(f"<url><loc>{u}</loc></url>" for u in (srv.url("/products/lamp"), other.url("/products/x"),
                                                                "http://[::1]:9/products/y"))
        return Route(body=f'<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
                     f"{locs}</urlset>", content_type="application/xml")

    with LocalServer({"/sitemap.xml": sitemap, "/products/lamp": Route(body=LAMP, content_type="text/html")}) as srv:
        summary = collect(config({"name": "shop", "kind": "schema_org", "sitemap": srv.url("/sitemap.xml")}), store)
    [result] = summary.results
    assert result.new > 0 and other.requests == []
    text = " ".join(result.errors)
    assert other.url("/products/x") in text and "http://[::1]:9/products/y" in text
    assert srv.url("/sitemap.xml") in text and "refused" in text


def test_html_next_page_on_another_host_is_refused(store: Store, other: LocalServer) -> None:
    page = ('<div class="r" id="a1"><p class="t">The lamp flickers after a week, quite disappointed.</p></div>'
            f'<a class="next" href="{other.url("/page2")}">next</a>')
    with LocalServer({"/reviews": Route(body=page, content_type="text/html")}) as srv:
        summary = collect(config({"name": "widget", "kind": "html", "urls": [srv.url("/reviews")], "item": ".r",
                                  "text": ".t", "id_attribute": "id", "next_page": "a.next"}), store)
    [result] = summary.results
    assert result.new == 1 and other.requests == []
    text = " ".join(result.errors)
    assert srv.url("/reviews") in text and other.url("/page2") in text and "refused" in text


# --- internal addresses ------------------------------------------------------------------------


def test_loopback_is_refused_unless_allow_private_lists_it(store: Store) -> None:
    with LocalServer({"/p": Route(body=LAMP, content_type="text/html")}) as srv:
        refused = collect(config({"name": "shop", "kind": "schema_org", "urls": [srv.url("/p")]},
                                 allow_private=[]), store)
        by_name = collect(config({"name": "named", "kind": "schema_org",
                                  "urls": [f"http://localhost:{srv.port}/p"]}, allow_private=[]), store)
        assert srv.requests == []
        allowed = collect(config({"name": "shop", "kind": "schema_org", "urls": [srv.url("/p")]},
                                 allow_private=["127.0.0.1"]), store)
    text = " ".join(refused.results[0].errors)
    assert "refused" in text and "127.0.0.1 (loopback)" in text and "allow_private" in text
    assert "loopback" in " ".join(by_name.results[0].errors)
    assert allowed.results[0].ok and allowed.new_total > 0 and srv.hits("/p") == 1


def test_a_redirect_into_loopback_is_refused_even_within_allow_hosts(store: Store, other: LocalServer) -> None:
    with LocalServer({"/p": Route(status=302, headers={"Location": other.url("/admin")})}) as srv:
        summary = collect(config({"name": "shop", "kind": "schema_org", "urls": [srv.url("/p")],
                                  "allow_hosts": ["127.0.0.2"]}, allow_private=["127.0.0.1"]), store)
    assert other.requests == [] and srv.hits("/p") == 1
    assert "127.0.0.2 (loopback)" in " ".join(summary.results[0].errors)


@pytest.mark.parametrize("address, why", [
    ("127.0.0.1", "loopback"), ("::1", "loopback"), ("::ffff:127.0.0.1", "loopback"), ("10.1.2.3", "private"),
    ("192.168.0.1", "private"), ("172.16.5.5", "private"), ("169.254.169.254", "link-local"),
    ("fe80::1", "link-local"), ("224.0.0.1", "multicast"), ("ff02::1", "multicast"), ("0.0.0.0", "unspecified"),
    ("fd00::1", "private"), ("100.64.0.1", "private"), ("93.184.215.14", None), ("2606:4700::1111", None),
])
def test_address_classes(address: str, why: str | None) -> None:
    assert address_refused(ipaddress.ip_address(address), []) == why


def test_allow_private_takes_addresses_and_networks() -> None:
    nets = [ipaddress.ip_network(n) for n in ("127.0.0.1", "10.0.0.0/8")]
    assert address_refused(ipaddress.ip_address("10.9.9.9"), nets) is None
    assert address_refused(ipaddress.ip_address("127.0.0.2"), nets) == "loopback"
    with pytest.raises(ValueError, match="not an IP address"):
        HttpConfig(allow_private=["localhost"])


# --- credentials -------------------------------------------------------------------------------


def test_orders_sync_never_follows_a_redirect_to_another_host_with_the_token(
        store: Store, other: LocalServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_SHOPIFY_TOKEN", "shpat_secret")
    path = "/admin/api/2025-01/graphql.json"
    for follow in (False, True):  # whatever the client would do on its own
        with LocalServer({path: Route(status=307, headers={"Location": other.url(path)})}) as srv, \
                httpx.Client(follow_redirects=follow) as client:
            cfg = OrdersConfig(kind="shopify", shop=srv.base, access_token_env="TEST_SHOPIFY_TOKEN", retries=0)
            with pytest.raises(OrderSyncError, match="refused") as info:
                sync(cfg, store, client=client, now=datetime(2026, 3, 1, tzinfo=UTC), sleep=lambda s: None)
        assert other.url(path) in str(info.value) and srv.url(path) in str(info.value)
    assert other.requests == []


def test_shopify_adapter_never_sends_the_token_to_a_link_next_on_another_host(other: LocalServer,
                                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_SHOPIFY_TOKEN", "shpat_secret")
    base = "/admin/api/2024-10"
    first = Route(body=json.dumps({"draft_orders": []}), content_type="application/json",
                  headers={"Link": f'<{other.url(base + "/draft_orders.json?page_info=x")}>; rel="next"'})
    with LocalServer({f"{base}/draft_orders.json": first}) as srv, httpx.Client() as client:
        options = ShopifyOptions(shop_url=srv.base, access_token_env="TEST_SHOPIFY_TOKEN")
        deps = Deps(client=client, mailer=lambda: None, data_dir=Path("."), sender="bot@shop.example")  # type: ignore[arg-type,return-value]
        adapter = ShopifyAdapter("shop", options, deps, "fulfilment 'shop'")
        job = Job(remedy_id=1, case_id=1, idempotency_key="rb-1", kind="replacement", params={},
                  amount=Decimal("0"), currency="EUR", note="", issue="damaged", attempt=2, order_ref="7300")
        with pytest.raises(DispatchError, match="refused") as info:
            adapter.deliver(job)
    assert not info.value.retryable and other.requests == [] and srv.hits(f"{base}/draft_orders.json") == 1
