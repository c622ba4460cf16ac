"""One buyer, one case (issue 16): a review, a post and an email by the same buyer are one case.

Everything is real: the review page and the feed are served on loopback, the email sits in a real
dovecot mailbox, orders come from a csv export, the real scorer reads the texts, and the remedy
goes to a webhook receiver. A different person copying the review waits for a person, saying why.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from bot.config import Config, loads
from bot.decide.staff import list_cases
from bot.pipeline import run_cycle
from bot.report import digest
from bot.store import AuditLog, Case, Remedy, Store, open_store
from tests.httpserver import LocalServer, Request, Route
from tests.imapserver import Dovecot, missing

pytestmark = pytest.mark.skipif(missing() is not None, reason=missing() or "")

NOW = datetime.now(UTC)
REVIEW = "The travel kettle stopped heating after two days. Completely dead now, it will not switch on at all."
POST = "My travel kettle stopped heating after two days and the lid cracked. Dead, it will not switch on. Not impressed at all."
EMAIL = ("Hello, the travel kettle from order 10234 stopped heating after two days and will not switch on "
         "at all. Can you help?\n\nMaria\n\nOn Mon, Fernhollow <care@fernhollow.example> wrote:\n> Thank you for your order")


def iso(days_ago: float) -> str:
    return (NOW - timedelta(days=days_ago)).isoformat(timespec="seconds")


def review(author: str, text: str, days_ago: float) -> dict[str, Any]:
    return {"@type": "Review", "author": {"@type": "Person", "name": author}, "datePublished": iso(days_ago),
            "reviewBody": text, "reviewRating": {"@type": "Rating", "ratingValue": 1, "bestRating": 5}}


class Shop:
    """The shop's product page (reviews can be added) and a feed, on one loopback server."""

    def __init__(self) -> None:
        self.reviews = [review("Maria Lopez", REVIEW, 2.0)]

    def page(self, _request: Request) -> Route:
        product = {"@context": "https://schema.org", "@type": "Product", "name": "Travel Kettle", "sku": "KET-7",
                   "review": self.reviews}
        body = (f"<html><head><title>Travel Kettle</title><script type='application/ld+json'>{json.dumps(product)}"
                "</script></head><body><h1>Travel Kettle</h1></body></html>")
        return Route(body=body, content_type="text/html; charset=utf-8")

    def feed(self, _request: Request) -> Route:
        published = format_datetime(NOW - timedelta(days=1.5))
        body = ("<?xml version='1.0'?><rss version='2.0'><channel><title>mentions</title><link>https://social.example/</link>"
                "<description>posts</description><item><guid>post-1</guid><link>https://social.example/@maria_lopez/1</link>"
                f"<author>@maria_lopez</author><pubDate>{published}</pubDate><description>{POST}</description></item>"
                "</channel></rss>")
        return Route(body=body, content_type="application/rss+xml; charset=utf-8")


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Config, Store, Shop, LocalServer, Dovecot]]:
    monkeypatch.setenv("RB_TEST_IMAP_PASSWORD", Dovecot.password)
    monkeypatch.setenv("RB_TEST_WEBHOOK_SECRET", "test-webhook-secret-not-real")
    shop = Shop()
    routes = {"/products/travel-kettle": shop.page, "/feed.xml": shop.feed, "/robots.txt": "User-agent: *\nAllow: /\n",
              "/remedies": Route(body='{"ok": true}', content_type="application/json")}
    with LocalServer(routes) as srv, Dovecot(tmp_path / "imap") as mailbox:
        page = srv.url("/products/travel-kettle")
        orders = tmp_path / "orders.csv"
        header = ("order_number,order_date,customer_email,customer_name,social_handles,shipping_country,currency,"
                  "sku,product_name,product_url,quantity,unit_price,fulfillment_status,tracking_status,"
                  "delivered_date,expected_delivery_date\n")
        day = (NOW - timedelta(days=10)).date().isoformat()
        delivered = (NOW - timedelta(days=6)).date().isoformat()
        orders.write_text(header
                          + f"10234,{day},maria.lopez@mail.example,Maria Lopez,@maria_lopez,GB,EUR,KET-7,Travel Kettle,"
                          f"{page},1,24.00,fulfilled,delivered,{delivered},{delivered}\n"
                          + f"10400,{day},tom.fake@mail.example,Tom Fake,,GB,EUR,KET-7,Travel Kettle,"
                          f"{page},1,24.00,fulfilled,delivered,{delivered},{delivered}\n", encoding="utf-8")
        text = f"""
[bot]
database = "sqlite:///store.db"
shop_name = "Fernhollow"

[http]
per_host_delay = 0
allow_private = ["127.0.0.1"]
retries = 0
backoff = 0

[scoring]
# this test is about who wrote what; the scorer's own certainty is tested in test_scorer.py
sure_remedy_probability = 0.6
sure_issue_probability = 0.9

[orders]
kind = "csv"
path = "orders.csv"

[[sources]]
name = "shop"
kind = "schema_org"
urls = ["{page}"]
min_revisit_hours = 0  # the page is asked every cycle (not an hour later): the copier's review comes next cycle

[[sources]]
name = "social"
kind = "rss"
urls = ["{srv.url('/feed.xml')}"]
brand_filter = false

[[sources]]
name = "care"
kind = "imap"
host = "127.0.0.1"
port = {mailbox.port}
security = "none"
username = "{mailbox.user}"
password_env = "RB_TEST_IMAP_PASSWORD"
own_addresses = ["@fernhollow.example"]

[[fulfilment]]
name = "warehouse"
kind = "webhook"
url = "{srv.url('/remedies')}"
secret_env = "RB_TEST_WEBHOOK_SECRET"
"""
        (tmp_path / "config.toml").write_text(text, encoding="utf-8")
        config = loads(text, path=tmp_path / "config.toml")
        store = open_store(config.bot.database, config.base_dir)
        try:
            yield config, store, shop, srv, mailbox
        finally:
            store.dispose()


def email(sender: str, subject: str, body: str, days_ago: float) -> bytes:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = sender, "care@fernhollow.example", subject
    msg["Date"] = format_datetime(NOW - timedelta(days=days_ago))
    msg["Message-ID"] = "<kettle-1@mail.example>"
    msg.set_content(body)
    return bytes(msg)


def test_review_post_and_email_of_one_buyer_are_one_case_with_one_remedy_a_copier_waits(
        world: tuple[Config, Store, Shop, LocalServer, Dovecot]) -> None:
    config, store, shop, srv, mailbox = world
    mailbox.append(email("Maria Lopez <maria.lopez@mail.example>", "Kettle broken", EMAIL, 1.0))

    report = run_cycle(config, store)
    assert report.ok, report.lines()
    cases = list_cases(store)
    assert len(cases) == 1, [(c["id"], c["status"], c["approval_reason"]) for c in cases]
    (case,) = cases
    assert case["status"] == "dispatched", (case["status"], case["approval_reason"], case["reasons"])
    assert sorted(m["source"] for m in case["mentions"]) == ["care", "shop", "social"]
    assert [r["kind"] for r in case["remedies"]] == ["replacement"]
    remedies = [r for r in srv.requests if r.path == "/remedies"]
    assert len(remedies) == 1
    with store.session() as s:
        merged = [a.detail["why"] for a in s.scalars(select(AuditLog).where(AuditLog.action == "mention_merged"))]
    assert len(merged) == 2 and all(why.startswith(("same buyer and order", "same customer")) for why in merged), merged

    # The digest's card of the remedy shows the three mentions.
    card = digest.build(store, config).text.split("DONE FOR YOU")[1]
    assert "also said in 2 more mentions" in card
    assert "social: @maria_lopez" in card and "care: Maria Lopez" in card, card

    # Later someone else (a customer too, so only the copy can hold it) posts the review's words.
    shop.reviews.append(review("Tom Fake", REVIEW, 0.2))
    again = run_cycle(config, store)
    assert again.ok, again.lines()
    with store.session() as s:
        copier = s.scalars(select(Case).where(Case.id != case["id"])).one()
        assert copier.status == "awaiting_approval" and copier.customer is not None
        assert copier.customer.name == "Tom Fake"
        assert f"the same words were posted earlier by someone else (case #{case['id']})" in (copier.approval_reason or "")
        assert [r.status for r in s.scalars(select(Remedy).where(Remedy.case_id == copier.id))] in ([], ["proposed"])
    assert len([r for r in srv.requests if r.path == "/remedies"]) == 1  # still one remedy
