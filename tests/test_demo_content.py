"""The bundled demo shop: served over real HTTP, its content well-formed and its stories consistent.

The scorer, matcher and policy are judged on this demo, so these tests check the content itself:
valid JSON-LD with ~60 reviews, an RSS feed of ~20 posts, an orders export whose buyers match the
seed-scenario reviewers (product bought, delivered before the review), and dates that move with
"today".
"""

from __future__ import annotations

import csv
import io
import json
import re
import unicodedata
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from email.utils import parsedate_to_datetime
from importlib import resources
from pathlib import Path
from typing import Any

import feedparser
import httpx
import pytest
from bs4 import BeautifulSoup

from bot.demo import ORDERS_TEMPLATE, SCENARIOS, SHOP_NAME, DemoShop, demo_config_text, render

TODAY = date(2026, 3, 14)
CSV_HEADER = (
    "order_number,order_date,customer_email,customer_name,social_handles,shipping_country,currency,sku,"
    "product_name,product_url,quantity,unit_price,fulfillment_status,tracking_status,delivered_date,"
    "expected_delivery_date"
)


# --- fixtures and helpers -------------------------------------------------------------------


@pytest.fixture(scope="module")
def shop() -> Iterator[DemoShop]:
    with DemoShop(today=TODAY) as running:
        yield running


@pytest.fixture(scope="module")
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10) as c:
        yield c


@pytest.fixture(scope="module")
def products(shop: DemoShop, client: httpx.Client) -> dict[str, dict[str, Any]]:
    """JSON-LD Product of every product page, by URL."""
    out: dict[str, dict[str, Any]] = {}
    for url in shop.product_urls:
        response = client.get(url)
        assert response.status_code == 200, url
        scripts = BeautifulSoup(response.text, "lxml").find_all("script", type="application/ld+json")
        assert len(scripts) == 1, f"{url}: expected one JSON-LD block, found {len(scripts)}"
        out[url] = json.loads(scripts[0].string)
    return out


@pytest.fixture(scope="module")
def reviews(products: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Every review, with the product's sku and url added under `_sku` / `_url`."""
    return [{**r, "_sku": p["sku"], "_url": url} for url, p in products.items() for r in p["review"]]


@pytest.fixture(scope="module")
def feed(shop: DemoShop, client: httpx.Client) -> Any:
    response = client.get(shop.feed_url)
    assert response.status_code == 200
    return feedparser.parse(response.content)


@pytest.fixture(scope="module")
def orders(shop: DemoShop) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(shop.orders_csv_text())))


def when(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def fold(name: str) -> str:
    return unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower().strip()


def same_person(author: str, customer: str) -> bool:
    """'Amélie L.' or 'Amélie Laurent' is customer 'Amélie Laurent'."""
    a, c = fold(author).split(), fold(customer).split()
    if a == c:
        return True
    return len(a) == 2 and a[1].rstrip(".") == c[-1][:1] and a[0] == c[0] and len(a[1].rstrip(".")) == 1


def review_by(reviews: list[dict[str, Any]], author: str) -> dict[str, Any]:
    found = [r for r in reviews if r["author"]["name"] == author]
    assert len(found) == 1, f"expected one review by {author!r}, found {len(found)}"
    return found[0]


def post_by(feed: Any, handle: str) -> Any:
    found = [e for e in feed.entries if e.get("author") == handle]
    assert len(found) == 1, f"expected one post by {handle}, found {len(found)}"
    return found[0]


def orders_of(orders: list[dict[str, str]], author: str) -> list[dict[str, str]]:
    return [o for o in orders if same_person(author, o["customer_name"])]


def posted(entry: Any) -> datetime:
    return datetime(*entry.published_parsed[:6], tzinfo=UTC)


# --- the server -----------------------------------------------------------------------------


def test_serves_the_site_over_http_with_types_validators_and_404(shop: DemoShop, client: httpx.Client) -> None:
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+", shop.base_url)
    expected = {
        shop.base_url + "/": "text/html",
        shop.product_urls[0]: "text/html",
        shop.feed_url: "application/rss+xml",
        shop.sitemap_url: "application/xml",
        shop.url("robots.txt"): "text/plain",
        shop.url("static/theme.css"): "text/css",
    }
    for url, kind in expected.items():
        response = client.get(url)
        assert response.status_code == 200, url
        assert response.headers["content-type"].startswith(kind), url
        assert "{{" not in response.text, f"{url} has an unrendered placeholder"
        assert response.headers["etag"] and response.headers["last-modified"]

    first = client.get(shop.product_urls[1])
    again = client.get(shop.product_urls[1], headers={"If-None-Match": first.headers["etag"]})
    assert again.status_code == 304 and again.content == b""
    since = client.get(shop.feed_url, headers={"If-Modified-Since": first.headers["last-modified"]})
    assert since.status_code == 304
    stale = client.get(shop.feed_url, headers={"If-None-Match": '"something-else"'})
    assert stale.status_code == 200 and stale.content

    assert client.get(shop.url("products/no-such-thing")).status_code == 404
    assert client.get(shop.url(ORDERS_TEMPLATE)).status_code == 404, "a shop never publishes its orders"
    assert "Allow: /" in client.get(shop.url("robots.txt")).text


def test_sitemap_lists_exactly_the_product_pages(shop: DemoShop, client: httpx.Client) -> None:
    soup = BeautifulSoup(client.get(shop.sitemap_url).content, "xml")
    locs = sorted(loc.text for loc in soup.find_all("loc"))
    assert locs == sorted(shop.product_urls)
    assert len(locs) == 6


def test_server_stops_and_frees_its_port() -> None:
    with DemoShop(today=TODAY) as demo:
        url = demo.product_urls[0]
    with httpx.Client(timeout=2) as c, pytest.raises(httpx.TransportError):
        c.get(url)


# --- product pages --------------------------------------------------------------------------


def test_every_product_page_has_a_complete_product(shop: DemoShop, products: dict[str, dict[str, Any]]) -> None:
    skus = set()
    for url, product in products.items():
        assert product["@type"] == "Product"
        assert product["url"] == url and product["offers"]["url"] == url
        assert float(product["offers"]["price"]) > 0 and product["offers"]["priceCurrency"] == "EUR"
        skus.add(product["sku"])
        ratings = [r["reviewRating"]["ratingValue"] for r in product["review"]]
        aggregate = product["aggregateRating"]
        assert aggregate["reviewCount"] == len(ratings)
        assert float(aggregate["ratingValue"]) == pytest.approx(sum(ratings) / len(ratings), abs=0.05)
    assert len(skus) == len(products) == 6


def test_reviews_are_complete_unique_and_port_independent(shop: DemoShop, reviews: list[dict[str, Any]]) -> None:
    assert 55 <= len(reviews) <= 65
    ids = [r["identifier"] for r in reviews]
    assert len(set(ids)) == len(ids), "review ids must be unique across the shop"
    now = datetime.combine(TODAY, datetime.min.time(), tzinfo=UTC)
    for review in reviews:
        assert review["@type"] == "Review"
        assert review["author"]["@type"] == "Person" and review["author"]["name"].strip()
        assert review["name"].strip() and len(review["reviewBody"]) >= 5
        rating = review["reviewRating"]
        assert rating["bestRating"] == 5 and rating["ratingValue"] in (1, 2, 3, 4, 5)
        published = when(review["datePublished"])
        assert now - timedelta(days=130) < published < now
        assert shop.base_url not in review["identifier"], "an id with the port would change every demo run"
        assert review["url"].startswith(review["_url"] + "#")


def test_reviews_are_a_realistic_mix(reviews: list[dict[str, Any]]) -> None:
    ratings = [r["reviewRating"]["ratingValue"] for r in reviews]
    happy = sum(1 for x in ratings if x >= 4)
    mild = sum(1 for x in ratings if x == 3)
    unhappy = sum(1 for x in ratings if x <= 2)
    assert happy > len(ratings) / 2, "a real shop is mostly liked"
    assert mild >= 5 and unhappy >= 8
    # calm long failure stories and short angry ones
    bodies = [len(r["reviewBody"]) for r in reviews if r["reviewRating"]["ratingValue"] <= 2]
    assert min(bodies) < 60 and max(bodies) > 400


# --- feed -----------------------------------------------------------------------------------


def test_feed_is_rss2_with_about_twenty_posts(shop: DemoShop, feed: Any) -> None:
    assert not feed.bozo, feed.get("bozo_exception")
    assert feed.version == "rss20"
    assert 18 <= len(feed.entries) <= 22
    guids = [e.id for e in feed.entries]
    assert len(set(guids)) == len(guids)
    for entry in feed.entries:
        assert shop.base_url not in entry.id, "a guid with the port would change every demo run"
        assert entry.link.startswith(shop.base_url + "/social/")
        assert entry.title and entry.summary
        assert re.fullmatch(r"@[\w.]+", entry.author)
        assert posted(entry) < datetime.combine(TODAY, datetime.min.time(), tzinfo=UTC)


def test_feed_posts_link_to_pages_that_exist(feed: Any, client: httpx.Client) -> None:
    for entry in feed.entries[:3]:
        page = client.get(entry.link)
        assert page.status_code == 200 and entry.author in page.text


def test_feed_mixes_buyers_strangers_neutral_posts_and_our_own(feed: Any, orders: list[dict[str, str]]) -> None:
    handles_with_orders = {h for o in orders for h in o["social_handles"].split()}
    authors = [e.author for e in feed.entries]
    assert len(handles_with_orders & set(authors)) >= 4
    # unhappy strangers: no order carries their handle, so they must stay unmatched
    for stranger in ("@gadget_grump", "@checkout_rage"):
        assert stranger in authors and stranger not in handles_with_orders
    assert "@kestrellane" in authors, "the shop's own post, which the brand filter must drop"
    unrelated = post_by(feed, "@birdnerd_ie")
    assert "kestrel lane" not in unrelated.summary.lower(), "a post about the bird, not the shop"


# --- orders and the stories -----------------------------------------------------------------


def test_orders_csv_has_the_documented_columns(shop: DemoShop, orders: list[dict[str, str]], tmp_path: Path) -> None:
    written = shop.write_orders_csv(tmp_path / "orders.csv")
    assert written.read_text(encoding="utf-8").splitlines()[0] == CSV_HEADER
    numbers = {o["order_number"] for o in orders}
    assert 22 <= len(numbers) <= 30
    product_urls = set(shop.product_urls)
    for row in orders:
        assert row["product_url"] in product_urls
        when(row["order_date"])
        assert row["fulfillment_status"] in ("unfulfilled", "fulfilled", "partial", "cancelled")
        assert row["tracking_status"] in ("", "pending", "in_transit", "delivered", "lost", "returned")
        assert bool(row["delivered_date"]) == (row["tracking_status"] == "delivered")
        if row["delivered_date"]:
            assert when(row["order_date"]) < when(row["delivered_date"])


@pytest.mark.parametrize("scenario", [s for s in SCENARIOS if s.source == "shop"], ids=lambda s: s.key)
def test_seed_reviewers_have_the_reviewed_order_delivered_before_the_review(
    scenario: Any, reviews: list[dict[str, Any]], orders: list[dict[str, str]]
) -> None:
    review = review_by(reviews, scenario.author)
    assert review["_sku"] == scenario.sku
    assert review["reviewRating"]["ratingValue"] <= 3
    mine = [o for o in orders_of(orders, scenario.author) if o["sku"] == review["_sku"]]
    assert [o["order_number"] for o in mine] == [scenario.order_number]
    assert mine[0]["customer_name"] == scenario.customer
    assert when(mine[0]["delivered_date"]) < when(review["datePublished"])


def test_wrong_item_story_is_told_like_a_customer(reviews: list[dict[str, Any]]) -> None:
    body = review_by(reviews, "Amélie L.")["reviewBody"].lower()
    assert "t-shirt" in body and "dress" in body


def test_late_return_is_two_days_past_the_window(feed: Any, orders: list[dict[str, str]]) -> None:
    greta = next(s for s in SCENARIOS if s.key == "late_return_illness")
    post = post_by(feed, greta.author)
    order = [o for o in orders if greta.author in o["social_handles"].split()]
    assert [o["order_number"] for o in order] == [greta.order_number]
    assert order[0]["sku"] == greta.sku and order[0]["customer_name"] == greta.customer
    days_after = (posted(post).date() - when(order[0]["delivered_date"]).date()).days
    assert days_after == 32, "asked two days after the 30-day window closed"
    assert "hospital" in post.summary and "30-day" in post.summary


def test_copied_complaint_is_on_the_product_page_and_in_the_feed(
    reviews: list[dict[str, Any]], feed: Any, orders: list[dict[str, str]]
) -> None:
    review = review_by(reviews, "Tessa L.")
    post = post_by(feed, "@tessalind")
    # pasted word for word, tagged with the shop's handle so brand listening finds it
    assert " ".join(post.summary.split()) == "@kestrellane " + " ".join(review["reviewBody"].split())
    owner = [o for o in orders if "@tessalind" in o["social_handles"].split()]
    assert owner and same_person("Tessa L.", owner[0]["customer_name"])


def test_edge_cases_for_matching(reviews: list[dict[str, Any]], orders: list[dict[str, str]]) -> None:
    # a clearly unhappy reviewer nobody of that name ever ordered
    brenda = review_by(reviews, "Brenda Cole")
    assert brenda["reviewRating"]["ratingValue"] == 1 and orders_of(orders, "Brenda Cole") == []
    # a name two customers share: only the product and timing tell them apart
    sam = review_by(reviews, "Sam Taylor")
    sams = orders_of(orders, "Sam Taylor")
    assert len({o["customer_email"] for o in sams}) == 2
    assert [o["order_number"] for o in sams if o["sku"] == sam["_sku"]] == ["KL-1073"]
    # a complaint posted before the parcel arrived
    priya = review_by(reviews, "Priya R.")
    order = [o for o in orders_of(orders, "Priya R.") if o["sku"] == priya["_sku"]]
    assert len(order) == 1
    assert when(order[0]["order_date"]) < when(priya["datePublished"]) < when(order[0]["delivered_date"])


def test_some_happy_reviewers_are_buyers_too(reviews: list[dict[str, Any]], orders: list[dict[str, str]]) -> None:
    happy_buyers = [
        r for r in reviews
        if r["reviewRating"]["ratingValue"] >= 4
        and any(o["sku"] == r["_sku"] for o in orders_of(orders, r["author"]["name"]))
    ]
    assert len(happy_buyers) >= 8


# --- dates move with "today" ----------------------------------------------------------------

_ISO = re.compile(r"\b(\d{4}-\d{2}-\d{2})(?:T\d{2}:\d{2}:\d{2}Z)?\b")


def _templates() -> Iterator[str]:
    root = resources.files("bot.demo")
    yield (root / ORDERS_TEMPLATE).read_text(encoding="utf-8")
    for folder in ("site", "site/products"):
        for item in (root / folder).iterdir():
            if item.name.endswith((".html", ".xml")):
                yield item.read_text(encoding="utf-8")


def test_dates_are_relative_to_today() -> None:
    shift = timedelta(days=37)
    base = "http://127.0.0.1:8000"
    checked = 0
    for template in _templates():
        early = render(template, base, TODAY)
        late = render(template, base, TODAY + shift)
        assert render(template, base, TODAY) == early, "rendering must be deterministic for a day"
        days_early = [date.fromisoformat(d) for d in _ISO.findall(early)]
        days_late = [date.fromisoformat(d) for d in _ISO.findall(late)]
        assert len(days_early) == len(days_late)
        assert all(b - a == shift for a, b in zip(days_early, days_late, strict=True))
        checked += len(days_early)
        rfc_early = re.findall(r"<pubDate>([^<]+)</pubDate>", early)
        rfc_late = re.findall(r"<pubDate>([^<]+)</pubDate>", late)
        for a, b in zip(rfc_early, rfc_late, strict=True):
            assert parsedate_to_datetime(b) - parsedate_to_datetime(a) == shift
            checked += 1
    assert checked > 150


def test_served_dates_follow_the_shop_day(client: httpx.Client) -> None:
    published = []
    for today in (TODAY, TODAY + timedelta(days=100)):
        with DemoShop(today=today) as demo:
            page = client.get(demo.product_urls[0]).text
            block = BeautifulSoup(page, "lxml").find("script", type="application/ld+json")
            published.append([when(r["datePublished"]) for r in json.loads(block.string)["review"]])
    assert [b - a for a, b in zip(*published, strict=True)] == [timedelta(days=100)] * len(published[0])


def test_render_refuses_a_placeholder_without_its_offset() -> None:
    with pytest.raises(ValueError, match="DATE"):
        render("{{DATE}}", "http://x", TODAY)


# --- the demo's config ----------------------------------------------------------------------


def test_demo_config_points_at_the_running_shop(shop: DemoShop, tmp_path: Path) -> None:
    import tomllib

    text = demo_config_text(shop, tmp_path)
    data = tomllib.loads(text)
    assert data["bot"]["shop_name"] == SHOP_NAME
    assert data["bot"]["database"].startswith("sqlite:///")
    assert data["http"]["per_host_delay"] == 0
    kinds = {s["kind"]: s for s in data["sources"]}
    assert kinds["rss"]["urls"] == [shop.feed_url]
    assert kinds["schema_org"]["sitemap"] == shop.sitemap_url
    assert data["orders"]["kind"] == "csv"
    written = Path(data["orders"]["path"])
    assert written.parent == tmp_path and written.read_text(encoding="utf-8").startswith(CSV_HEADER)
    assert data["brand"]["own_accounts"] == ["@kestrellane"]
    assert Path(data["fulfilment"][0]["path"]).parent == tmp_path, "the demo writes nothing outside its folder"


def test_demo_config_is_a_valid_config(shop: DemoShop, tmp_path: Path) -> None:
    pytest.importorskip("connectors.reviews.schema_org", reason="the schema_org connector has not landed yet")
    from bot.config import loads

    path = tmp_path / "config.toml"
    config = loads(demo_config_text(shop, tmp_path), path=path)
    assert config.bot.shop_name == SHOP_NAME
    assert [s.kind for s in config.sources] == ["schema_org", "rss"]
    assert config.orders.kind == "csv"
