"""The daily digest: content from a real store, golden files, hostile input, delivery over real SMTP.

Golden files live in tests/golden/; regenerate them after an intended change with
``RECOVERYBOT_REGEN_GOLDEN=1 python -m pytest tests/test_digest.py`` and review the diff.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from email.message import EmailMessage
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from test_mailer import SmtpServer

from bot.report import digest
from bot.report.settings import DigestConfig
from bot.config import Config
from bot.errors import DigestError
from bot.report.mailer import Mailer
from bot.store import (
    Assessment,
    BudgetPeriod,
    Case,
    CaseMention,
    CaseStatus,
    Customer,
    Digest,
    Mention,
    Notice,
    Order,
    OrderLine,
    Remedy,
    RemedyStatus,
    RunLog,
    SourceState,
    Store,
    fingerprint,
)

GOLDEN = Path(__file__).parent / "golden"
REGEN = os.environ.get("RECOVERYBOT_REGEN_GOLDEN") == "1"
LONDON = ZoneInfo("Europe/London")
# The digest of Tue 24 Nov 2026 is due at 08:00 on Wednesday (London = UTC in winter).
NOW = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)
DAY = date(2026, 11, 24)

HOSTILE_TEXT = ('<script>alert("owned")</script><img src=x onerror=alert(1)> The <b>lid</b> cracked & '
                'the "fan" died: see <a href="javascript:alert(2)">here</a>')
HOSTILE_URL = "javascript:alert(document.cookie)"
HOSTILE_AUTHOR = "<img src=x onerror=alert(3)>Mallory"


def make_config(*, dry_run: bool = False, quiet_days: str = "send", tz: str = "Europe/London",
                max_items: int = 20, smtp_port: int = 2525) -> Config:
    return Config.model_validate({
        "bot": {"shop_name": "Kestrel & Co <Test>", "timezone": tz, "currency": "EUR", "dry_run": dry_run},
        "sources": [
            {"name": "shop", "kind": "schema_org"},
            {"name": "trustpilot", "kind": "trustpilot"},
            {"name": "mastodon", "kind": "mastodon"},
        ],
        "digest": {"to": ["ops@kestrel.test", "Ana <ana@kestrel.test>"], "smtp_host": "127.0.0.1",
                   "smtp_port": smtp_port, "smtp_security": "none", "sender": "bot@kestrel.test",
                   "quiet_days": quiet_days, "max_items": max_items},
    })


def at(day: date, hour: int, minute: int = 0, zone: ZoneInfo = LONDON) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=zone).astimezone(UTC)


class World:
    """Builds rows through the store models with explicit times (a fixed clock)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.n = 0

    def mention(self, source: str, when: datetime, text: str, *, unhappy: bool | None = None,
                rating: float | None = None, issue: str = "none", sentiment: float = 0.4,
                cues: list[str] | None = None, author: str = "Buyer", url: str | None = None,
                title: str | None = None, handle: str | None = None) -> int:
        self.n += 1
        with self.store.session() as s:
            m = Mention(source=source, source_kind=source, external_id=f"{source}-{self.n}",
                        url=url if url is not None else f"https://{source}.example/r/{self.n}",
                        author_name=author, author_handle=handle, text=text, title=title, rating=rating,
                        published_at=when, collected_at=when + timedelta(minutes=20), fingerprint=fingerprint(text))
            s.add(m)
            s.flush()
            if unhappy is not None:
                s.add(Assessment(mention_id=m.id, sentiment=sentiment, unhappy=unhappy, issue=issue,
                                 confidence=0.9, cues=cues or [], scored_at=when))
            return m.id

    def order(self, number: str, email: str, name: str, placed: datetime, item: str, sku: str,
              price: str, delivered: datetime | None = None) -> tuple[int, int]:
        with self.store.session() as s:
            customer = Customer(email=email, name=name, created_at=placed)
            s.add(customer)
            s.flush()
            order = Order(origin="csv", number=number, customer_id=customer.id, placed_at=placed,
                          currency="EUR", total=Decimal(price), fulfillment_status="fulfilled",
                          tracking_status="delivered" if delivered else "in_transit", delivered_at=delivered,
                          updated_at=placed)
            order.lines.append(OrderLine(position=0, sku=sku, name=item, quantity=1, unit_price=Decimal(price)))
            s.add(order)
            s.flush()
            return order.id, customer.id

    def case(self, mention_id: int, issue: str, status: CaseStatus, created: datetime, *,
             order: tuple[int, int] | None = None, **fields: Any) -> int:
        with self.store.session() as s:
            c = Case(subject_key=f"k{mention_id}", issue=issue, status=status.value, mention_id=mention_id,
                     order_id=order[0] if order else None, customer_id=order[1] if order else None,
                     created_at=created, updated_at=created, **fields)
            s.add(c)
            s.flush()
            s.add(CaseMention(case_id=c.id, mention_id=mention_id))
            return c.id

    def remedy(self, case_id: int, kind: str, amount: str, status: RemedyStatus, created: datetime,
               **fields: Any) -> int:
        with self.store.session() as s:
            r = Remedy(case_id=case_id, kind=kind, amount=Decimal(amount), currency="EUR",
                       idempotency_key=f"case-{case_id}-{kind}", status=status.value, created_at=created, **fields)
            s.add(r)
            s.flush()
            return r.id


def fill(store: Store) -> World:
    """The fixed dataset of the golden files: a realistic Tuesday with one of everything."""
    w = World(store)
    # Fourteen days of background chatter, mostly happy, so the chart has a shape.
    for back in range(1, 14):
        day = DAY - timedelta(days=back)
        for i in range(2 + back % 4):
            w.mention("shop", at(day, 9 + i), f"Lovely fan, day {back} #{i}", unhappy=False, rating=5)
        if back % 3 == 0:
            w.mention("trustpilot", at(day, 15), f"Slow delivery on day {back}", unhappy=True, rating=2,
                      issue="not_delivered", sentiment=-0.4)
        w.mention("mastodon", at(day, 18), f"Got my kestrel lamp {back}", unhappy=False)

    # The day itself.
    for i in range(5):
        w.mention("shop", at(DAY, 8 + i), f"Works great, thanks #{i}", unhappy=False, rating=5, sentiment=0.8)
    w.mention("mastodon", at(DAY, 7), "Unscored post about the lamp")  # not assessed yet

    o1 = w.order("1042", "maria.lopez@mail.test", "Maria Lopez", at(DAY - timedelta(days=9), 10),
                 "Pocket Fan Pro", "FAN-PRO", "49.00", delivered=at(DAY - timedelta(days=2), 12))
    o2 = w.order("1043", "tom.baker@mail.test", "Tom Baker", at(DAY - timedelta(days=12), 10),
                 "Trail Boots", "BOOT-7", "89.00", delivered=at(DAY - timedelta(days=5), 12))
    o3 = w.order("1044", "li.wei@mail.test", "Li Wei", at(DAY - timedelta(days=7), 10),
                 "Desk Lamp", "LAMP-2", "35.00", delivered=at(DAY - timedelta(days=1), 12))

    # 1. Waits for approval: a hostile review, matched, replacement above the automatic limit.
    m1 = w.mention("trustpilot", at(DAY, 9, 30), HOSTILE_TEXT, unhappy=True, rating=1, issue="defective",
                   sentiment=-0.85, cues=["cracked", "died", "1 star"], author=HOSTILE_AUTHOR, url=HOSTILE_URL,
                   title="Broke <i>in a day</i>")
    c1 = w.case(m1, "defective", CaseStatus.AWAITING_APPROVAL, at(DAY, 9, 45), order=o1,
                match_confidence=0.92, match_reasons=["email on the review", "product FAN-PRO"],
                rule="defective-replace", reasons=["issue defective", "order delivered 2 days ago"],
                approval_reason="cost €49.00 is above auto_up_to €25.00",
                approval_expires_at=at(DAY + timedelta(days=2), 9, 45))
    w.remedy(c1, "replacement", "49.00", RemedyStatus.PROPOSED, at(DAY, 9, 45),
             params={"sku": "FAN-PRO", "quantity": 1, "shipping": "express"},
             note="Hello Mallory,\nwe read that your Pocket Fan Pro stopped working. A new one is on its way.")
    # 2. Fixed automatically.
    m2 = w.mention("shop", at(DAY, 11), "The studs fell off my boots after a week.", unhappy=True, rating=2,
                   issue="defective", sentiment=-0.5, cues=["fell off"], author="Tom B.")
    c2 = w.case(m2, "defective", CaseStatus.DISPATCHED, at(DAY, 11, 30), order=o2, match_confidence=0.81,
                match_reasons=["name", "product BOOT-7"], rule="minor-repair", reasons=["minor defect"])
    w.remedy(c2, "repair_reimbursement", "20.00", RemedyStatus.DISPATCHED, at(DAY, 11, 30),
             params={"as": "store_credit"}, dispatched_at=at(DAY, 11, 31), adapter="csv",
             note="Hi Tom, a cobbler's fix is on us: 20.00 store credit is on your account.")
    with store.session() as s:  # and the buyer was told why, by email (bot.notices)
        s.add(Notice(case_id=c2, idempotency_key=f"case-{c2}-notice", channel="tell-the-buyer", method="email",
                     status="sent", attempts=1, created_at=at(DAY, 11, 31), sent_at=at(DAY, 11, 32),
                     note="Hi Tom, a cobbler's fix is on us: 20.00 store credit is on your account."))
    # 3. Dispatch failed after retries.
    m3 = w.mention("mastodon", at(DAY, 14), "@kestrel my lamp never arrived, tracking says delivered",
                   unhappy=True, issue="not_delivered", sentiment=-0.6, cues=["never arrived"], author="Li",
                   handle="@li@social.test")
    c3 = w.case(m3, "not_delivered", CaseStatus.FAILED, at(DAY, 14, 10), order=o3, match_confidence=0.7,
                rule="lost-parcel")
    w.remedy(c3, "replacement", "35.00", RemedyStatus.FAILED, at(DAY, 14, 10), attempts=5,
             last_error="webhook https://erp.kestrel.test/hooks answered 503 Service Unavailable",
             params={"sku": "LAMP-2", "shipping": "express"})
    # 4. Unhappy, no order matched: the watch list.
    m4 = w.mention("shop", at(DAY, 16), "Wrong colour and the seller ignores my emails. Awful.", unhappy=True,
                   rating=1, issue="wrong_item", sentiment=-0.9, cues=["wrong colour", "ignores"], author="Anon")
    w.case(m4, "wrong_item", CaseStatus.UNMATCHED, at(DAY, 16, 5), candidates=[{"order": "1040"}, {"order": "1041"}])
    # 5. Unhappy but not processed into a case yet.
    w.mention("trustpilot", at(DAY, 20), "Meh, a bit pricey for what it is.", unhappy=True, rating=3,
              issue="price_value", sentiment=-0.2, cues=["pricey"], author="Sam")

    with store.session() as s:
        s.add(SourceState(name="shop", kind="schema_org", cursor={}, last_run_at=at(DAY, 23),
                          last_success_at=at(DAY, 23), consecutive_failures=0, mentions_total=40))
        s.add(SourceState(name="trustpilot", kind="trustpilot", cursor={}, last_run_at=at(DAY, 23),
                          last_success_at=at(DAY - timedelta(days=2), 6), last_error_at=at(DAY, 23),
                          last_error_kind="http", last_error_message="403 Forbidden <html>blocked</html>",
                          last_error_url="https://www.trustpilot.example/review/kestrel.test",
                          consecutive_failures=7, failing_since=at(DAY - timedelta(days=2), 7)))
        s.add(SourceState(name="mastodon", kind="mastodon", cursor={}, last_success_at=at(DAY, 22),
                          consecutive_failures=0))
        s.add(BudgetPeriod(period="month:2026-11", reserved=Decimal("180.00"), cap=Decimal("500.00")))
        s.add(Digest(period="2026-11-23", status="failed", attempts=3, created_at=at(DAY, 8),
                     last_error="SMTP smtp.kestrel.test:587: cannot connect: Connection refused"))
    return w


@pytest.fixture()
def filled(store: Store) -> Store:
    fill(store)
    return store


# --- content ------------------------------------------------------------------------------------


class _Collector(HTMLParser):
    """Every tag, attribute and text of the HTML, to look for anything active."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.attrs: list[tuple[str, str | None]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attrs.extend(attrs)

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse(html: str) -> _Collector:
    collector = _Collector()
    collector.feed(html)
    collector.close()
    return collector


def test_hostile_review_renders_as_inert_text(filled: Store) -> None:
    report = digest.build(filled, make_config(), day=DAY, now=NOW)
    doc = parse(report.html)
    assert "script" not in doc.tags and "img" not in doc.tags and "i" not in doc.tags
    assert not [a for a in doc.attrs if a[0].startswith("on")], "an event handler attribute leaked"
    hrefs = [value or "" for name, value in doc.attrs if name in {"href", "src"}]
    assert hrefs and all(h.startswith("https://") for h in hrefs), hrefs
    assert "javascript:" not in " ".join(hrefs)
    text = "".join(doc.text)
    # The words are still there for a person to read, as text.
    assert '<script>alert("owned")</script>' in text
    assert "<img src=x onerror=alert(3)>Mallory" in text
    assert "Kestrel & Co <Test>" in text
    assert "&lt;script&gt;" in report.html
    # The plain text carries it verbatim; the link is not offered as a URL.
    assert HOSTILE_TEXT[:40] in report.text.replace("\n   > ", " ")
    assert HOSTILE_URL in report.text and f"<{HOSTILE_URL}>" not in report.text


def test_the_day_in_numbers(filled: Store) -> None:
    report = digest.build(filled, make_config(), day=DAY, now=NOW)
    c = report.counts
    assert {s.name: s.mentions for s in c.sources} == {"shop": 7, "trustpilot": 2, "mastodon": 2}
    assert (c.mentions, c.unhappy, c.new_cases) == (11, 5, 4)
    assert (c.waiting, c.waiting_cost) == (1, Decimal("49.00"))
    assert (c.sent, c.sent_cost) == (1, Decimal("20.00"))
    assert (c.failed, c.watch, c.sources_failing) == (1, 2, 1)
    assert (c.budget_used, c.budget_cap, c.budget_left) == (Decimal("180.00"), Decimal("500.00"), Decimal("320.00"))
    assert report.subject == "recoverybot: 1 need you, 1 fixed, 11 mentions, 1 failed, 1 source down (Tue 24 Nov)"
    assert report.period == "2026-11-24" and report.images == {}


def test_needs_you_has_everything_to_decide(filled: Store) -> None:
    text = digest.build(filled, make_config(), day=DAY, now=NOW).text
    section = text.split("NEEDS YOU")[1].split("DONE FOR YOU")[0]
    for needle in ["recoverybot approve 1", "recoverybot reject 1", "m***@mail.test", "#1042",
                   "replacement (express delivery), €49.00", "1 × Pocket Fan Pro (FAN-PRO)",
                   "cost €49.00 is above the automatic limit of €25.00", "cracked; died; 1 star", "★☆☆☆☆",
                   "92% sure", "decide before Thu 26 Nov 09:45", "Broke <i>in a day</i>"]:
        assert needle in section, needle
    assert "maria.lopez@mail.test" not in text


def test_watch_list_is_most_severe_first_and_capped(filled: Store) -> None:
    report = digest.build(filled, make_config(max_items=1), day=DAY, now=NOW)
    watch = report.text.split("WATCH LIST")[1].split("SOURCE HEALTH")[0]
    assert "wrong item: no order matched (2 possible, none sure enough)" in watch
    assert "pricey" not in watch
    assert "... and 1 more mention\n" in watch
    assert "and 1 more mention (" in report.html


def test_source_health_and_missed_digest(filled: Store) -> None:
    report = digest.build(filled, make_config(), day=DAY, now=NOW)
    assert "trustpilot (trustpilot) blocked since Sun 22 Nov 07:00, 7 failures in a row" in report.text
    assert "2 of 3 sources healthy" in report.text
    assert "The digest for Mon 23 Nov could not be sent after 3 attempts" in report.text
    assert "&lt;html&gt;blocked" in report.html


def test_a_source_that_cannot_read_all_its_pages_is_not_healthy(store: Store) -> None:
    """A source whose last run was cut by max_pages, or whose pages take longer than its interval at
    the polite pace, says so in plain words in the digest, and is not counted healthy (issue 18)."""
    urls = [f"https://shop.kestrel.test/products/p{i}" for i in range(3000)]
    config = Config.model_validate({**make_config().model_dump(include={"bot", "digest"}), "sources": [
        {"name": "shop", "kind": "schema_org", "sitemap": "https://shop.kestrel.test/sitemap.xml", "max_pages": 2000},
        {"name": "catalogue", "kind": "schema_org", "urls": urls, "every": "30m",
         "max_new_per_run": 100_000, "max_pages": 3000},
        {"name": "mastodon", "kind": "mastodon"},
    ], "http": {"max_requests_per_minute": 60}})
    with store.session() as s:
        s.add(SourceState(name="shop", kind="schema_org", cursor={}, last_run_at=at(DAY, 23),
                          last_success_at=at(DAY, 23), consecutive_failures=0, last_error_at=at(DAY, 23),
                          last_error_kind="limit", last_error_message="5000 pages found (with the sitemap "
                          "https://shop.kestrel.test/sitemap.xml) but max_pages is 2000: 3000 pages are never read"))
        s.add(SourceState(name="catalogue", kind="schema_org", cursor={}, last_run_at=at(DAY, 23),
                          last_success_at=at(DAY, 23), consecutive_failures=0))
        s.add(SourceState(name="mastodon", kind="mastodon", cursor={}, last_run_at=at(DAY, 23),
                          last_success_at=at(DAY, 23), consecutive_failures=0))
    report = digest.build(store, config, day=DAY, now=NOW)
    text = " ".join(report.text.split())
    assert "1 of 3 sources healthy" in text
    assert ("- shop does not read all its pages: its last run found more pages than it may read (5000 pages found "
            "(with the sitemap https://shop.kestrel.test/sitemap.xml) but max_pages is 2000: 3000 pages are never "
            "read), so reviews on those pages are never seen. Raise max_pages for this source in config.toml.") in text
    assert ("- catalogue does not read all its pages: reading its 3,000 pages at a polite pace takes about 50 "
            "minutes, longer than the 30 minutes between its runs, so new reviews on the later pages show up late. "
            'Collect it less often (every = "1h" for this source in config.toml), or, if the site is your own shop, '
            "raise [http] max_requests_per_minute.") in text
    assert "mastodon does not" not in text
    html = " ".join(report.html.split())
    assert "1 of 3 sources healthy" in html and "does not read all its pages</span>: reading its 3,000 pages" in html
    # once a run reads everything again (the error is older than the last run), the warning goes
    with store.session() as s:
        state = s.get(SourceState, "shop")
        assert state is not None
        state.last_run_at = at(DAY, 23, 30)
    again = " ".join(digest.build(store, config, day=DAY, now=NOW).text.split())
    assert "shop does not" not in again and "2 of 3 sources healthy" in again


def test_dry_run_says_so_and_lists_what_would_have_been_sent(store: Store) -> None:
    w = World(store)
    m = w.mention("shop", at(DAY, 10), "Arrived smashed", unhappy=True, rating=1, issue="damaged", sentiment=-0.7)
    c = w.case(m, "damaged", CaseStatus.QUEUED, at(DAY, 10, 5), rule="damaged-replace")
    w.remedy(c, "replacement", "15.00", RemedyStatus.DRY_RUN, at(DAY, 10, 5), note="A new one is coming.")
    report = digest.build(store, make_config(dry_run=True), day=DAY, now=NOW)
    assert report.text.lstrip().startswith("*** DRY RUN")
    assert "WOULD HAVE BEEN DONE (dry run) (1 remedy, €15.00)" in report.text
    assert "A new one is coming." in report.text
    assert "DRY RUN" in report.html.split("Kestrel")[0] or "DRY RUN" in report.html[:3000]
    assert report.subject == "recoverybot [dry run]: 0 need you, 1 would be fixed, 1 mention (Tue 24 Nov)"
    assert report.counts.sent == 0 and report.counts.would_send == 1


def test_empty_day_is_all_quiet(store: Store) -> None:
    report = digest.build(store, make_config(), day=DAY, now=NOW)
    assert report.counts.quiet
    assert report.subject == "recoverybot: all quiet, 0 mentions (Tue 24 Nov)"
    assert "All quiet" in report.text and "All quiet" in report.html
    check_golden("digest-empty.txt", report.text)


def test_dst_change_day_counts_its_25_hours(store: Store) -> None:
    """Sun 25 Oct 2026 in London runs 00:00 BST to 24:00 GMT: 25 hours, all of them counted."""
    day = date(2026, 10, 25)
    w = World(store)
    inside = [at(day, 0, 10) - timedelta(minutes=20),  # collected 00:10 BST = 23:10 UTC the day before
              datetime(2026, 10, 25, 0, 40, tzinfo=UTC),  # 01:40 BST, first pass of the repeated hour
              datetime(2026, 10, 25, 1, 40, tzinfo=UTC),  # 01:40 GMT, second pass
              at(day, 23, 0)]  # 23:20 GMT
    outside = [at(day, 0, 0) - timedelta(minutes=30), at(day + timedelta(days=1), 0, 0)]
    for when in inside + outside:
        w.mention("shop", when, f"post {when}", unhappy=False)
    now = datetime(2026, 10, 26, 9, 0, tzinfo=UTC)
    report = digest.build(store, make_config(), day=day, now=now)
    assert report.counts.mentions == len(inside)
    assert "a 25-hour day (clocks changed)" in report.text
    # The send time follows the local clock: 08:00 GMT on Monday is 08:00 UTC, not 07:00.
    assert digest.due_day(datetime(2026, 10, 26, 7, 59, tzinfo=UTC), LONDON, digest.time(8, 0)) == day - timedelta(days=1)
    assert digest.due_day(datetime(2026, 10, 26, 8, 0, tzinfo=UTC), LONDON, digest.time(8, 0)) == day
    # Spring forward: Sun 29 Mar 2026 has 23 hours.
    march = digest.Period.of(date(2026, 3, 29), LONDON, now)
    assert march.hours == 23


def test_partial_day_preview(filled: Store, tmp_path: Path) -> None:
    path = tmp_path / "preview.html"
    report = digest.preview(filled, make_config(), path, now=at(DAY, 12))
    assert report.day == DAY and report.subject.endswith("(Tue 24 Nov, so far)")
    assert path.read_text(encoding="utf-8") == report.html
    # Only what was collected by noon: the 5 happy shop posts after 08:20 and the 09:50 one ...
    assert report.counts.mentions < 11


# --- golden files -------------------------------------------------------------------------------


def check_golden(name: str, rendered: str) -> None:
    path = GOLDEN / name
    if REGEN or not path.exists():
        if not REGEN and os.environ.get("CI"):
            pytest.fail(f"golden file {name} is missing; run with RECOVERYBOT_REGEN_GOLDEN=1")
        path.parent.mkdir(exist_ok=True)
        path.write_text(rendered, encoding="utf-8")
    expected = path.read_text(encoding="utf-8")
    assert rendered == expected, f"{name} differs from the golden file; if intended, regenerate with RECOVERYBOT_REGEN_GOLDEN=1"


def test_golden_digest(filled: Store) -> None:
    report = digest.build(filled, make_config(), day=DAY, now=NOW)
    check_golden("digest.txt", report.text)
    check_golden("digest.html", report.html)
    check_golden("digest.subject", report.subject + "\n")


# --- sending ------------------------------------------------------------------------------------


@pytest.fixture()
def smtp() -> Iterator[SmtpServer]:
    with SmtpServer() as server:
        yield server


def mailer_for(server: SmtpServer) -> Mailer:
    return Mailer("127.0.0.1", server.port, security="none", timeout=5)


def test_send_over_real_smtp(filled: Store, smtp: SmtpServer) -> None:
    config = make_config(smtp_port=smtp.port)
    report = digest.send(filled, config, mailer=mailer_for(smtp), now=NOW)
    assert report.status == "sent" and report.period == "2026-11-24"
    [got] = smtp.messages
    assert sorted(got.rcpt_tos) == ["ana@kestrel.test", "ops@kestrel.test"]
    msg = got.message
    assert msg.get_content_type() == "multipart/alternative"
    parts = [p.get_content_type() for p in msg.iter_parts()]
    assert parts == ["text/plain", "text/html"]
    assert msg["Subject"] == report.subject
    assert msg["From"] == "bot@kestrel.test"
    assert msg["Message-ID"].strip() == report.message_id and msg["Message-ID"].endswith("@kestrel.test>")
    assert msg["Date"].datetime == NOW
    assert msg["List-Unsubscribe"] is None and msg["Auto-Submitted"] == "auto-generated"
    text_part, html_part = msg.iter_parts()
    assert isinstance(text_part, EmailMessage) and isinstance(html_part, EmailMessage)
    assert text_part.get_content().replace("\r\n", "\n") == report.text
    html = html_part.get_content()
    assert "&lt;script&gt;" in html and "<script" not in html.lower()
    assert 'href="javascript' not in html.lower()
    with filled.session() as s:
        row = s.get(Digest, "2026-11-24")
        assert row is not None and (row.status, row.attempts, row.sent_at) == ("sent", 1, NOW)


def test_sent_at_most_once_per_period(filled: Store, smtp: SmtpServer) -> None:
    config = make_config(smtp_port=smtp.port)
    mailer = mailer_for(smtp)
    assert digest.send_due(filled, config, mailer=mailer, now=NOW) is not None
    # A restart later the same day: nothing more goes out, by send_due or by an explicit send.
    assert digest.send_due(filled, config, mailer=mailer, now=NOW + timedelta(hours=3)) is None
    with pytest.raises(DigestError, match="already sent") as caught:
        digest.send(filled, config, mailer=mailer, now=NOW + timedelta(hours=3))
    assert "--force" in caught.value.hint
    assert len(smtp.messages) == 1
    digest.send(filled, config, mailer=mailer, now=NOW + timedelta(hours=3), force=True)
    assert len(smtp.messages) == 2


def test_send_due_waits_for_send_at(filled: Store, smtp: SmtpServer) -> None:
    config = make_config(smtp_port=smtp.port)
    mailer = mailer_for(smtp)
    early = datetime(2026, 11, 25, 7, 59, tzinfo=UTC)
    # Before 08:00 the due period is Monday's, which this store never sent: it goes out late, once.
    report = digest.send_due(filled, config, mailer=mailer, now=early)
    assert report is not None and report.period == "2026-11-23"
    assert digest.send_due(filled, config, mailer=mailer, now=early) is None
    report = digest.send_due(filled, config, mailer=mailer, now=NOW)
    assert report is not None and report.period == "2026-11-24"
    assert [m.message["Subject"][-12:] for m in smtp.messages] == ["(Mon 23 Nov)", "(Tue 24 Nov)"]


def test_failed_send_is_retried_with_backoff_and_reported_next_day(filled: Store, smtp: SmtpServer) -> None:
    config = make_config(smtp_port=smtp.port)
    smtp.sink.data_reply = "451 mailbox busy"
    with pytest.raises(DigestError, match="451"):
        digest.send_due(filled, config, mailer=mailer_for(smtp), now=NOW)
    with filled.session() as s:
        row = s.get(Digest, "2026-11-24")
        assert row is not None and (row.status, row.attempts) == ("failed", 1) and "451" in (row.last_error or "")
    # Too early for the retry (first wait 10 minutes): nothing is tried.
    assert digest.send_due(filled, config, mailer=mailer_for(smtp), now=NOW + timedelta(minutes=5)) is None
    with pytest.raises(DigestError):
        digest.send_due(filled, config, mailer=mailer_for(smtp), now=NOW + timedelta(minutes=11))
    # Second wait is 20 minutes more (30 in all); by then the server is back.
    smtp.sink.data_reply = None
    assert digest.send_due(filled, config, mailer=mailer_for(smtp), now=NOW + timedelta(minutes=25)) is None
    report = digest.send_due(filled, config, mailer=mailer_for(smtp), now=NOW + timedelta(minutes=31))
    assert report is not None and report.status == "sent"
    with filled.session() as s:
        row = s.get(Digest, "2026-11-24")
        assert row is not None and (row.status, row.attempts, row.last_error) == ("sent", 3, None)
    # Monday's failure (from the dataset) is reported in Tuesday's digest.
    assert "The digest for Mon 23 Nov could not be sent" in smtp.messages[0].message.get_body(("plain",)).get_content()


def test_quiet_day_skipped_when_configured(store: Store, smtp: SmtpServer) -> None:
    config = make_config(quiet_days="skip", smtp_port=smtp.port)
    # Installed after that day: nothing at all is sent for it, not even "all quiet".
    assert digest.send_due(store, config, mailer=mailer_for(smtp), now=NOW) is None
    with store.session() as s:
        s.add(RunLog(job="daemon", started_at=datetime(2026, 11, 23, 12, 0, tzinfo=UTC)))
    report = digest.send_due(store, config, mailer=mailer_for(smtp), now=NOW)
    assert report is not None and report.status == "skipped" and smtp.messages == []
    assert digest.send_due(store, config, mailer=mailer_for(smtp), now=NOW) is None
    with store.session() as s:
        row = s.get(Digest, "2026-11-24")
        assert row is not None and row.status == "skipped"
    # The default sends the all-quiet digest.
    report = digest.send(store, make_config(smtp_port=smtp.port), mailer=mailer_for(smtp), now=NOW, force=True)
    assert report.status == "sent" and "all quiet" in smtp.messages[0].message["Subject"]


def test_no_recipients_or_server_is_a_clear_error(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    config = Config.model_validate({"digest": {"smtp_host": "127.0.0.1"}})
    with pytest.raises(DigestError, match="no recipients"):
        digest.send(store, config, now=NOW)
    assert digest.send_due(store, config, now=NOW) is None  # the daemon just does not send
    config = Config.model_validate({"digest": {"to": ["a@b.test"]}})
    with pytest.raises(DigestError, match="no SMTP server"):
        digest.send(store, config, now=NOW)


def test_mailer_from_config_reads_the_password_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    from bot.errors import SecretMissing

    config = Config.model_validate({"digest": {"to": ["a@b.test"], "smtp_host": "mail.test", "smtp_port": 465,
                                               "smtp_security": "tls", "smtp_user": "bot@b.test",
                                               "smtp_password_env": "RB_TEST_SMTP_PW"}})
    monkeypatch.delenv("RB_TEST_SMTP_PW", raising=False)
    with pytest.raises(SecretMissing, match="RB_TEST_SMTP_PW"):
        Mailer.from_digest_config(config.digest)
    monkeypatch.setenv("RB_TEST_SMTP_PW", "pw")
    mailer = Mailer.from_digest_config(config.digest)
    assert (mailer.host, mailer.port, mailer.security, mailer.user) == ("mail.test", 465, "tls", "bot@b.test")
    assert config.digest.from_address == "bot@b.test"


def test_config_validation() -> None:
    with pytest.raises(ValueError, match="local time"):
        DigestConfig(send_at="8am")
    with pytest.raises(ValueError, match="not an email address"):
        DigestConfig(to=("ops",))
    assert DigestConfig(send_at="7:05").send_at == "07:05"


def test_unused_regex_guard() -> None:
    # Links are offered only for plain http(s) URLs.
    assert digest.safe_link("https://x.test/a?b=1") == "https://x.test/a?b=1"
    for bad in ["javascript:alert(1)", "JaVaScRiPt:x", "data:text/html,hi", "https://x.test/\"onmouseover=x",
                " javascript:x", "vbscript:x", ""]:
        assert digest.safe_link(bad) is None, bad
    assert re.sub(r"\s", "", digest.clean("a\u202eb\x00c")) == "abc"


def test_each_remedy_says_whether_the_buyer_was_told_and_an_approval_over_the_daily_budget(filled: Store) -> None:
    with filled.session() as s:
        case = s.get(Case, 2)
        assert case is not None
        case.approval_reason = "cost is above the automatic limit"
        case.reasons = [*case.reasons, "approved by ana",
                        "approved above the daily budget (420.00 of 400 reserved on 2026-11-24); "
                        "the monthly budget still holds"]
    report = digest.build(filled, make_config(), day=DAY, now=NOW)
    assert "approved by staff, 11:31; buyer told by email on 24 Nov" in report.text
    assert ("approved by staff above the automatic daily budget: €420.00 of €400.00 used on 24 Nov; "
            "the monthly budget still holds") in report.text
    assert "buyer told by email on 24 Nov" in report.html
    assert "above the automatic daily budget" in report.html
