"""schema_org connector through the real collect stage: a loopback server serving our own product
pages (JSON-LD as Shopify/WooCommerce/BigCommerce themes emit it, microdata, broken pages)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.collect import collect, list_mentions, source_health
from bot.config import Config
from bot.store import HttpCache, Mention, Store
from connectors.reviews.schema_org import SchemaOrgConnector, loads_lenient, parse_datetime
from tests.httpserver import LocalServer, Route

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "schema_org"
T0 = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)


def page(name: str, **kw: Any) -> Route:
    return Route(body=(FIXTURES / f"{name}.html").read_bytes(), content_type="text/html; charset=utf-8", **kw)


def config(**source: Any) -> Config:
    http = source.pop("http", {})
    return Config.model_validate({
        "http": {"per_host_delay": 0, "allow_private": ["127.0.0.1"], "backoff": 0, "retries": 1, "read_timeout": 2, **http},
        "sources": [{"name": "shop", "kind": "schema_org", **source}],
    })


def by_text(store: Store) -> dict[str, dict[str, Any]]:
    return {m["text"][:20]: m for m in list_mentions(store)}


def test_shop_themes_json_ld_becomes_mentions(store: Store) -> None:
    names = ["shopify-pocket-lamp", "woo-garden-kneeler", "graph-refs", "bigcommerce-messy", "microdata-kettle",
             "article-review"]
    with LocalServer({f"/products/{n}": page(n) for n in names}) as srv:
        summary = collect(config(urls=[srv.url(f"/products/{n}") for n in names]), store)
    assert summary.ok and summary.new_total == 11, summary.lines()
    got = {m["external_id"]: m for m in list_mentions(store)}
    lamp = got["judgeme-review-5501"]
    assert lamp["rating"] == 1.0 and lamp["author_name"] == "Tamsin Greaves" and lamp["title"] == "Died after a week"
    assert lamp["product_sku"] == "FH-LAMP-01" and lamp["product_name"] == "Pocket Reading Lamp"
    assert lamp["product_url"] == "https://fernhollow.example/products/pocket-reading-lamp"
    assert lamp["published_at"] == "2025-02-11T08:30:00+00:00"
    assert got["judgeme-review-5502"]["author_name"] == "Oskar V."  # author as a plain string
    assert got["judgeme-review-5503"]["rating"] == pytest.approx(2.6)  # 4 on a 0..10 scale
    # @graph with @id references, "1,5" ratings, RFC 2822 and epoch dates, Person with given/family name
    tin = got["https://fernhollow.example/products/tea-tin#r-81"]
    assert tin["rating"] == 1.5 and tin["author_name"] == "Noor Haddad" and tin["product_sku"] == "4006381333931"
    assert tin["published_at"] == "2025-03-04T12:00:00+00:00" and tin["language"] == "en"
    assert got["https://fernhollow.example/products/tea-tin#r-82"]["published_at"] == "2025-03-07T12:00:00+00:00"
    texts = by_text(store)
    # WooCommerce reviews have no id: a stable content hash is used
    kneeler = texts["One of the legs bent"]
    assert kneeler["external_id"].startswith("h:") and kneeler["rating"] == 2.0 and kneeler["product_sku"] == "FH-KNEEL-2"
    # comments, trailing commas, a raw tab and a second broken block on one page
    flask = texts["Leaks from the lid w"]
    assert flask["author_name"] == "Gwen Talbot" and flask["published_at"] == "2025-03-05T00:00:00+00:00"
    assert flask["product_sku"] == "TF-750"
    kettle = got["stamped-77120"]  # microdata
    assert kettle["rating"] == 1.0 and kettle["author_name"] == "Dafydd Rees" and kettle["title"] == "Handle gets hot"
    assert kettle["product_url"].endswith("/products/gooseneck-kettle") and kettle["product_sku"] == "FH-KET-07"
    assert got["stamped-77121"]["published_at"] == "2025-03-03T08:00:00+00:00"
    blog = texts["A week with the Fern"]  # a Review with itemReviewed, no rating
    assert blog["rating"] is None and blog["product_name"] == "Pocket Reading Lamp"
    with store.session() as s:
        assert all(m.fingerprint and m.source_kind == "schema_org" for m in s.query(Mention))


def test_second_cycle_is_all_304s_and_nothing_is_parsed_or_stored_twice(store: Store) -> None:
    names = ["shopify-pocket-lamp", "woo-garden-kneeler"]
    with LocalServer({f"/p/{n}": page(n, etag=f'"{n}-v1"') for n in names}) as srv:
        cfg = config(urls=[srv.url(f"/p/{n}") for n in names])
        first = collect(cfg, store, now=lambda: T0)
        second = collect(cfg, store, now=lambda: T0 + timedelta(hours=2))  # both pages due again (1 h)
        assert [r.new for r in first.results] == [5] and second.new_total == 0
        assert second.results[0].not_modified == 2 and second.results[0].pages == 0
        # the two pages are fetched in parallel: look at the kneeler's own last request, not the last one
        kneeler = [r for r in srv.requests if r.path == "/p/woo-garden-kneeler"][-1]
        assert kneeler.headers.get("if-none-match") == '"woo-garden-kneeler-v1"'
        # a review is added to one page: only that page is read again, only the new review stored
        body = (FIXTURES / "woo-garden-kneeler.html").read_text(encoding="utf-8").replace(
            '"review":[', '"review":[{"@type":"Review","author":"Bo","reviewBody":"Squeaks a lot.",'
            '"reviewRating":{"ratingValue":"3"}},', 1)
        srv.routes["/p/woo-garden-kneeler"] = Route(body=body, etag='"v2"')
        third = collect(cfg, store, now=lambda: T0 + timedelta(hours=6))  # unchanged: due after 2 h
    assert third.new_total == 1 and third.results[0].pages == 1 and third.results[0].not_modified == 1
    with store.session() as s:
        assert s.query(Mention).count() == 6
        assert {c.etag for c in s.query(HttpCache)} == {'"shopify-pocket-lamp-v1"', '"v2"'}


def test_sitemap_lastmod_makes_an_unchanged_recrawl_two_requests(store: Store) -> None:
    def sitemap(lamp_lastmod: str) -> Route:
        return Route(content_type="application/xml", etag=f'"{lamp_lastmod}"', body=f"""<?xml version="1.0"?>
<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
  <url><loc>{srv.url('/products/lamp')}</loc><lastmod>{lamp_lastmod}</lastmod></url>
  <url><loc>{srv.url('/products/kneeler')}</loc><lastmod>2025-01-09T16:40:00Z</lastmod></url>
  <url><loc>{srv.url('/products/flask')}</loc></url>
</urlset>""")

    with LocalServer() as srv:
        srv.routes.update({"/sitemap.xml": sitemap("2025-02-20T19:05:00Z"), "/products/lamp": page("shopify-pocket-lamp"),
                           "/products/kneeler": page("woo-garden-kneeler"), "/products/flask": page("bigcommerce-messy")})
        cfg = config(sitemap=srv.url("/sitemap.xml"))
        assert collect(cfg, store).new_total == 6
        srv.reset()
        again = collect(cfg, store)
        # robots.txt, the sitemap (304), and the one page without <lastmod> (conditional, unchanged)
        assert again.new_total == 0 and sorted(r.path for r in srv.requests) == [
            "/products/flask", "/robots.txt", "/sitemap.xml"]
        assert again.results[0].pages == 0
        assert "pages due" not in again.results[0].line()  # the sitemap decides, no page has its own schedule
        srv.reset()
        srv.routes["/sitemap.xml"] = sitemap("2025-03-01T00:00:00Z")  # the lamp page changed
        collect(cfg, store)
        assert sorted(r.path for r in srv.requests) == ["/products/flask", "/products/lamp", "/robots.txt",
                                                        "/sitemap.xml"]
        srv.reset()
        stale = config(sitemap=srv.url("/sitemap.xml"), revisit_hours=0)  # always check every page
        collect(stale, store)
        assert srv.hits("/products/kneeler") == 1


def test_sitemap_index_discovers_product_pages(store: Store) -> None:
    with LocalServer() as srv:
        srv.routes.update({
            "/sitemap.xml": Route(content_type="application/xml", body=f"""<?xml version="1.0"?>
<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
  <sitemap><loc>{srv.url('/sitemap_products_1.xml?from=1&amp;to=99')}</loc></sitemap>
  <sitemap><loc>{srv.url('/sitemap_pages_1.xml')}</loc></sitemap>
</sitemapindex>"""),
            "/sitemap_products_1.xml": Route(content_type="application/xml", body=f"""<?xml version="1.0"?>
<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
  <url><loc>{srv.url('/')}</loc></url>
  <url><loc>{srv.url('/products/lamp')}</loc></url>
  <url><loc><![CDATA[{srv.url('/products/kettle')}]]></loc></url>
</urlset>"""),
            "/products/lamp": page("shopify-pocket-lamp"),
            "/products/kettle": page("microdata-kettle"),
        })
        summary = collect(config(sitemap=srv.url("/sitemap.xml")), store)
        assert srv.hits("/sitemap_pages_1.xml") == 0 and srv.hits("/") == 0
    assert summary.ok and summary.new_total == 5 and summary.results[0].pages == 4  # 2 sitemaps + 2 products


def test_bad_pages_are_recorded_and_the_good_ones_stored(store: Store) -> None:
    routes = {
        "/p/good": page("shopify-pocket-lamp"),
        "/p/malformed": page("broken-jsonld"),
        "/p/empty": page("no-reviews"),
        "/p/widget": page("widget-only"),
        "/p/loop": Route(status=301, headers={"Location": "/p/loop"}),
        "/p/slow": Route(body="late", delay=3),
        "/p/storm": Route(status=429, headers={"Retry-After": "0"}),
        "/p/cut": Route(body=(FIXTURES / "shopify-pocket-lamp.html").read_bytes(), truncate=300),
        # says UTF-8 in the header but is Windows-1252: decoded right, stored right
        "/p/latin": Route(body=(FIXTURES / "latin1-jug.html").read_bytes(), content_type="text/html; charset=utf-8"),
    }
    with LocalServer(routes) as srv:
        urls = [srv.url(p) for p in [*routes, "/p/missing"]]
        summary = collect(config(urls=urls, http={"read_timeout": 0.5}), store)
    result = summary.results[0]
    assert result.ok and result.new == 4  # 3 lamp reviews + the jug
    problems = "\n".join(result.errors)
    for path, words in [("malformed", "JSON-LD cannot be read"), ("empty", "no schema.org Product"),
                        ("widget", "announces 12 reviews"), ("loop", "too many redirects"), ("slow", "timed out"),
                        ("storm", "HTTP 429"), ("cut", "truncated"), ("missing", "HTTP 404")]:
        assert any(words in line and f"/p/{path}" in line for line in result.errors), (path, problems)
    assert len(result.errors) == 8
    assert by_text(store)["Très déçu, la poigné"]["author_name"] == "Renée"
    health = source_health(store)[0]
    assert health.healthy and health.last_error_message and health.last_error_url and health.mentions_total == 4
    with store.session() as s:
        cached = {c.url for c in s.query(HttpCache)}
    # broken pages are not remembered: next cycle reads them in full again (and reports them again)
    assert cached == {srv.url("/p/good"), srv.url("/p/latin")}


def test_a_redirected_broken_page_is_read_again_next_time(store: Store) -> None:
    routes = {"/old": Route(status=301, headers={"Location": "/new"}), "/new": page("no-reviews", etag='"n1"'),
              "/good": page("shopify-pocket-lamp")}
    with LocalServer(routes) as srv:
        assert collect(config(urls=[srv.url("/old"), srv.url("/good")]), store).ok
        with store.session() as s:  # the error names /new; /old is not remembered either
            assert [c.url for c in s.query(HttpCache)] == [srv.url("/good")]
        srv.reset()
        again = collect(config(urls=[srv.url("/old"), srv.url("/good")]), store)
        assert "no schema.org" in again.results[0].errors[0]
        assert "if-none-match" not in next(r for r in srv.requests if r.path == "/old").headers


def test_every_page_failing_fails_the_source_but_keeps_what_is_stored(store: Store) -> None:
    with LocalServer({"/p/a": page("shopify-pocket-lamp")}) as srv:
        collect(config(urls=[srv.url("/p/a")]), store)
        srv.routes["/p/a"] = Route(status=500)
        summary = collect(config(urls=[srv.url("/p/a"), srv.url("/p/b")], http={"retries": 0}), store)
    assert not summary.ok and "FAILED" in summary.lines()[1]
    health = source_health(store)[0]
    assert not health.healthy and health.consecutive_failures == 1 and health.failing_since is not None
    assert health.mentions_total == 3 and len(list_mentions(store)) == 3


def test_options_validation() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="give `urls`"):
        SchemaOrgConnector.Options.model_validate({})
    with pytest.raises(ValidationError, match="not an http"):
        SchemaOrgConnector.Options.model_validate({"urls": ["ftp://x/y"]})
    with pytest.raises(ValidationError, match="extra"):
        SchemaOrgConnector.Options.model_validate({"urls": ["https://a.example/p"], "url": "x"})


@pytest.mark.parametrize(("text", "iso"), [
    ("2025-02-11", "2025-02-11T00:00:00+00:00"),
    ("2025-02-11T08:30:00Z", "2025-02-11T08:30:00+00:00"),
    ("2025-02-11T08:30:00.123456789+0200", "2025-02-11T06:30:00.123456+00:00"),
    ("2025-02-11 08:30:00", "2025-02-11T08:30:00+00:00"),
    ("Tue, 11 Feb 2025 08:30:00 GMT", "2025-02-11T08:30:00+00:00"),
    ("February 11th, 2025", "2025-02-11T00:00:00+00:00"),
    ("11 Feb 2025", "2025-02-11T00:00:00+00:00"),
    ("11.02.2025", "2025-02-11T00:00:00+00:00"),
    (1739262600, "2025-02-11T08:30:00+00:00"),
    ("1739262600000", "2025-02-11T08:30:00+00:00"),
])
def test_dates_in_their_many_forms(text: Any, iso: str) -> None:
    when = parse_datetime(text)
    assert when is not None and when.isoformat() == iso


def test_unreadable_dates_and_json() -> None:
    assert parse_datetime("soon") is None and parse_datetime("") is None and parse_datetime(None) is None
    assert loads_lenient('<!-- {"a": 1,} -->') == {"a": 1}
    assert loads_lenient('{"u": "http://x//y"} // note') == {"u": "http://x//y"}
    assert loads_lenient('{"a": 1}\n{"b": 2}') == [{"a": 1}, {"b": 2}]
    with pytest.raises(ValueError, match="invalid JSON-LD"):
        loads_lenient('{"a": "b" "c"}')


# --- hostile pages (issue 13) ------------------------------------------------------------------


def test_an_unclosed_sitemap_is_parsed_in_linear_time_and_its_real_entries_kept(store: Store) -> None:
    # 20,000 unclosed <url> tags (120 KB): the old regex took quadratic time here (27 s and more)
    with LocalServer({"/products/lamp": page("shopify-pocket-lamp")}) as srv:
        hostile = (f'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"><url><loc>{srv.url("/products/lamp")}'
                   "</loc></url>" + "<url>x" * 20_000)
        srv.routes["/sitemap.xml"] = Route(body=hostile, content_type="application/xml")
        started = time.monotonic()
        summary = collect(config(sitemap=srv.url("/sitemap.xml")), store)
        elapsed = time.monotonic() - started
    assert summary.ok and summary.new_total == 3, summary.lines()
    assert elapsed < 5, f"collect took {elapsed:.1f}s"


def test_an_unclosed_json_ld_script_is_parsed_in_linear_time(store: Store) -> None:
    # a 290 KB page of unclosed ld+json script tags: the old regex rescanned to the end from each
    body = "<html><body>" + '<script type="application/ld+json">{' * 8_000
    with LocalServer({"/p/bad": Route(body=body), "/p/good": page("shopify-pocket-lamp")}) as srv:
        started = time.monotonic()
        summary = collect(config(urls=[srv.url("/p/bad"), srv.url("/p/good")]), store)
        elapsed = time.monotonic() - started
    result = summary.results[0]
    assert result.ok and result.new == 3
    assert len(result.errors) == 1 and "JSON-LD cannot be read" in result.errors[0] and "/p/bad" in result.errors[0]
    assert elapsed < 5, f"collect took {elapsed:.1f}s"


def test_sitemap_xml_entities_are_never_expanded(store: Store) -> None:
    with LocalServer({"/products/lamp": page("shopify-pocket-lamp")}) as srv:
        srv.routes["/sitemap.xml"] = Route(content_type="application/xml", body=(
            '<?xml version="1.0"?><!DOCTYPE u [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
            f'<urlset><url><loc>{srv.url("/products/lamp")}</loc><lastmod>&x;</lastmod></url></urlset>'))
        summary = collect(config(sitemap=srv.url("/sitemap.xml")), store)
    assert summary.ok and summary.new_total == 3


def test_deeply_nested_json_ld_is_one_error_naming_the_page_and_the_others_are_read(store: Store) -> None:
    deep = '<script type="application/ld+json">' + "[" * 100_000 + "]" * 100_000 + "</script>"
    also_deep = '<script type="application/ld+json">' + '{"a":' * 100 + "1" + "}" * 100 + "</script>"
    with LocalServer({"/p/deep": Route(body=f"<html><body>{deep}</body></html>"),
                      "/p/deep2": Route(body=f"<html><body>{also_deep}</body></html>"),
                      "/p/good": page("shopify-pocket-lamp")}) as srv:
        cfg = config(urls=[srv.url("/p/deep"), srv.url("/p/deep2"), srv.url("/p/good")])
        summary = collect(cfg, store)
    result = summary.results[0]
    assert result.ok and result.new == 3, summary.lines()
    assert len(result.errors) == 2, result.errors
    for path in ("/p/deep", "/p/deep2"):
        assert any(f"({srv.url(path)})" in line and "nested deeper" in line for line in result.errors), result.errors


def test_a_listed_page_is_asked_only_when_due_and_its_interval_follows_its_changes(store: Store) -> None:
    names = [f"p{i}" for i in range(6)]
    lamp = (FIXTURES / "shopify-pocket-lamp.html").read_text(encoding="utf-8")
    routes: dict[str, Any] = {f"/p/{n}": Route(body=lamp.replace("5501", f"5501{n}").replace("5502", f"5502{n}")
                                               .replace("5503", f"5503{n}"), etag=f'"{n}-v1"') for n in names}
    with LocalServer(routes) as srv:
        cfg = config(urls=[srv.url(f"/p/{n}") for n in names], max_revisit_days=1)
        first = collect(cfg, store, now=lambda: T0)
        assert first.results[0].visits is not None and first.results[0].visits.words() == (
            "6 of 6 pages due, 6 asked, 6 changed")
        asked = srv.hits()
        # straight after: nothing is due, nothing is asked (not even a conditional GET)
        again = collect(cfg, store, now=lambda: T0 + timedelta(minutes=30))
        assert srv.hits() == asked and again.results[0].requests == 0 and again.ok
        assert "0 of 6 pages due, 0 asked, 0 changed" in again.lines()[1]
        # an hour on, every page is due: p0 got a new review (its interval shrinks), the rest are 304s
        old = routes["/p/p0"].body
        assert isinstance(old, str)
        srv.routes["/p/p0"] = Route(body=old.replace("5501p0", "9901p0"), etag='"p0-v2"')
        hour = collect(cfg, store, now=lambda: T0 + timedelta(hours=1))
        assert hour.new_total == 1 and hour.results[0].not_modified == 5
        assert "6 of 6 pages due, 6 asked, 1 changed" in hour.lines()[1]
        # 90 minutes on: only the changed page is due (1 h); the unchanged ones wait 2 h
        before = {n: srv.hits(f"/p/{n}") for n in names}
        later = collect(cfg, store, now=lambda: T0 + timedelta(hours=2, minutes=30))
        grew = {n for n in names if srv.hits(f"/p/{n}") > before[n]}
        assert grew == {"p0"} and later.results[0].visits is not None and later.results[0].visits.due == 1
        # unchanged pages back off, but never past max_revisit (1 day here): all due again after a day
        day = collect(cfg, store, now=lambda: T0 + timedelta(days=1, hours=4))
        assert day.results[0].visits is not None and day.results[0].visits.due == 6


def test_max_pages_cutting_the_list_is_said_not_a_silent_ok(store: Store) -> None:
    with LocalServer({f"/p/{i}": page("shopify-pocket-lamp") for i in range(3)}) as srv:
        summary = collect(config(urls=[srv.url(f"/p/{i}") for i in range(3)], max_pages=2), store)
    result = summary.results[0]
    assert any("3 pages found but max_pages is 2: 1 pages are never read" in e for e in result.errors)
    health = source_health(store)[0]
    assert health.last_error_message is not None and "max_pages" in health.last_error_message
