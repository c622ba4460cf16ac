"""Cases end to end: mention -> case -> match -> policy -> outbox -> a real webhook receiver.

The five seed stories of DESIGN.md, the abuse guards, approval / rejection / expiry and the
listing, all on a real SQLite store with the real matcher and a loopback HTTP receiver.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from bot.decide.cases import process
from bot.decide.staff import CaseNotFound, CaseStateError, approve, expire_approvals, list_cases, reject
from bot.config import Config, loads
from bot.outbox import dispatch_due
from bot.store import Assessment, AuditLog, BudgetPeriod, Case, Mention, Remedy, Store, fingerprint, open_store
from tests.decide_world import NOW, add_mention, add_order, days_ago
from tests.httpserver import LocalServer, Route

SECRET = "test-webhook-secret-not-real"


@pytest.fixture
def receiver() -> Iterator[LocalServer]:
    with LocalServer({"/remedies": Route(body='{"ok": true}', content_type="application/json")}) as srv:
        yield srv


def make_config(tmp_path: Path, receiver: LocalServer, extra: str = "", dry_run: bool = False) -> Config:
    text = f"""
[bot]
database = "sqlite:///store.db"
shop_name = "Kestrel Lane"
dry_run = {str(dry_run).lower()}

[policy]
daily_budget = 400
monthly_budget = 2000
{extra}

[[fulfilment]]
name = "warehouse"
kind = "webhook"
url = "{receiver.url('/remedies')}"
secret_env = "RB_TEST_WEBHOOK_SECRET"
"""
    (tmp_path / "config.toml").write_text(text, encoding="utf-8")
    return loads(text, path=tmp_path / "config.toml")


@pytest.fixture
def world(tmp_path: Path, receiver: LocalServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Store, Config]]:
    monkeypatch.setenv("RB_TEST_WEBHOOK_SECRET", SECRET)
    config = make_config(tmp_path, receiver)
    store = open_store(config.bot.database, config.base_dir)
    try:
        yield store, config
    finally:
        store.dispose()


def cycle(store: Store, config: Config) -> list[dict[str, Any]]:
    process(store, config, now=NOW)
    with httpx.Client() as client:
        dispatch_due(store, config, client=client, now=NOW)
    return list_cases(store)


def received(receiver: LocalServer) -> list[dict[str, Any]]:
    out = []
    for request in receiver.requests:
        signature = request.headers["x-recoverybot-signature"]
        stamp = request.headers["x-recoverybot-timestamp"].encode()
        expected = "sha256=" + hmac.new(SECRET.encode(), stamp + b"." + request.body, hashlib.sha256).hexdigest()
        assert hmac.compare_digest(signature, expected)
        body = json.loads(request.body)
        assert request.headers["idempotency-key"] == body["idempotency_key"]
        out.append(body)
    return out


def assert_clean_note(note: str) -> None:
    lowered = note.lower()
    for word in ("review", "rating", "star", "remove", "change your", "update your"):
        assert word not in lowered, note


# --- the five seed stories ----------------------------------------------------------------------


def test_defective_cheap_gadget_gets_a_replacement_unasked(world: tuple[Store, Config],
                                                          receiver: LocalServer) -> None:
    store, config = world
    with store.session() as s:
        add_order(s, "ines@mail.example", "Ines Duarte", "K-1001", [("FAN-01", "Pocket Fan", "12.00", 1)],
                  placed=days_ago(14), delivered=days_ago(10))
        add_mention(s, "r1", "One star. The pocket fan died after two days, photos attached. Junk.", "defective",
                    published=days_ago(1), author_email="ines@mail.example", author_name="Ines D.", sku="FAN-01",
                    product_name="Pocket Fan")
    cases = cycle(store, config)
    assert len(cases) == 1 and cases[0]["status"] == "dispatched"
    assert cases[0]["rule"] == "defective-cheap-replace"
    [body] = received(receiver)
    assert body["kind"] == "replacement"
    assert body["params"]["sku"] == "FAN-01" and body["params"]["quantity"] == 1
    assert body["params"]["shipping"] == "standard"
    assert body["amount"] == "17.00"  # item 12 + standard shipping 5
    assert body["order"]["number"] == "K-1001"
    assert body["note"].startswith("Hello Ines,")
    assert "stopped working" in body["note"] and "new Pocket Fan is on its way" in body["note"]
    assert_clean_note(body["note"])


def test_parcel_marked_delivered_never_arrived_gets_expedited_reship(world: tuple[Store, Config],
                                                                    receiver: LocalServer) -> None:
    store, config = world
    with store.session() as s:
        add_order(s, "tom@mail.example", "Tom Becker", "K-1002", [("LAMP-2", "Desk Lamp", "34.00", 1)],
                  placed=days_ago(12), delivered=days_ago(6), expected=days_ago(7))
        add_mention(s, "r2", "Tracking says delivered last week but the desk lamp never arrived. Nobody answers.",
                    "not_delivered", published=days_ago(1), author_email="tom@mail.example", author_name="Tom B",
                    rating=1, sku="LAMP-2")
    cases = cycle(store, config)
    assert cases[0]["status"] == "dispatched", cases[0]["reasons"]
    [body] = received(receiver)
    assert body["kind"] == "replacement" and body["params"]["shipping"] == "expedited"
    assert body["amount"] == "46.00"  # 34 + expedited 12
    assert "express delivery" in body["note"] and "never reached you" in body["note"]
    assert_clean_note(body["note"])


def test_not_delivered_before_the_order_was_due_waits_for_a_person(world: tuple[Store, Config],
                                                                    receiver: LocalServer) -> None:
    store, config = world
    with store.session() as s:
        add_order(s, "una@mail.example", "Una Early", "K-1010", [("LAMP-2", "Desk Lamp", "34.00", 1)],
                  placed=days_ago(2), tracking="in_transit", expected=days_ago(-3))
        add_mention(s, "r2e", "My desk lamp never arrived, where is my parcel? Nobody answers.",
                    "not_delivered", published=days_ago(0.5), author_email="una@mail.example", rating=1, sku="LAMP-2")
    [case] = cycle(store, config)
    assert case["status"] == "awaiting_approval", case["reasons"]
    assert "days before the order was due to arrive" in case["approval_reason"]
    assert received(receiver) == []


@pytest.mark.parametrize(("status", "tracking", "expected"), [
    ("unfulfilled", None, 6),  # overdue by date, yet never shipped
    ("unfulfilled", "pending", -2),
    ("fulfilled", "pending", 3),
])
def test_not_delivered_on_an_order_that_never_shipped_is_a_fulfilment_problem(
        world: tuple[Store, Config], receiver: LocalServer, status: str, tracking: str | None, expected: int) -> None:
    store, config = world
    with store.session() as s:
        order = add_order(s, "ned@mail.example", "Ned Waiting", "K-1011", [("LAMP-2", "Desk Lamp", "34.00", 1)],
                          placed=days_ago(10), tracking=tracking, expected=days_ago(expected))
        order.fulfillment_status = status
        add_mention(s, "r2u", "Ordered the desk lamp ten days ago and it never arrived. Where is it?",
                    "not_delivered", published=days_ago(1), author_email="ned@mail.example", rating=1, sku="LAMP-2")
    [case] = cycle(store, config)
    assert case["status"] == "awaiting_approval", case["reasons"]
    assert "the order has not shipped yet: a fulfilment problem for staff" in case["approval_reason"]
    assert received(receiver) == []


def test_wrong_item_is_refunded_with_shipping_and_kept(world: tuple[Store, Config], receiver: LocalServer) -> None:
    store, config = world
    with store.session() as s:
        add_order(s, "ada@mail.example", "Ada Brennan", "K-1003", [("DRESS-S", "Linen Dress", "12.99", 1)],
                  placed=days_ago(9), delivered=days_ago(5))
        add_mention(s, "r3", "Ordered a linen dress, got two t-shirts instead. Not what I paid for.", "wrong_item",
                    published=days_ago(2), author_email="ada@mail.example", rating=2, sku="DRESS-S")
    cases = cycle(store, config)
    assert cases[0]["status"] == "dispatched"
    kinds = [b["kind"] for b in received(receiver)]
    assert kinds == ["refund", "shipping_credit", "keep_item"]
    refund, credit, keep = received(receiver)
    assert refund["amount"] == "12.99" and credit["amount"] == "5.00" and credit["params"]["form"] == "refund"
    assert keep["params"]["return_cost"] == "15.00" and keep["amount"] == "0.00"
    assert "full refund" in refund["note"] and "we refund your shipping costs (5.00 EUR)" in refund["note"]
    assert "keep what we sent you by mistake" in refund["note"]
    assert_clean_note(refund["note"])


def test_wrong_item_dresses_ordered_tshirts_sent_keeps_the_tshirts(world: tuple[Store, Config]) -> None:
    # Amélie's story: two dresses (108) ordered, cheap T-shirts sent. Returning the T-shirts costs
    # more than they are worth, so she keeps them; the value of the dresses does not decide that.
    store, config = world
    with store.session() as s:
        add_order(s, "amelie@mail.example", "Amélie Laurent", "K-1097", [("DR-07", "Linen Wrap Dress", "54.00", 2)],
                  placed=days_ago(9), delivered=days_ago(5))
        add_mention(s, "r3b", "I ordered two of the wrap dresses and inside were three plain white T-shirts.",
                    "wrong_item", published=days_ago(4), author_email="amelie@mail.example", rating=2, sku="DR-07")
    [case] = cycle(store, config)
    assert [r["kind"] for r in case["remedies"]] == ["refund", "shipping_credit", "keep_item"], case["reasons"]
    assert [r["amount"] for r in case["remedies"]] == ["108.00", "5.00", "0.00"]
    # 113 is above the rule's automatic limit: a person approves the money, not the keeping
    assert case["status"] == "awaiting_approval" and "auto_up_to 80.00" in case["approval_reason"]
    assert "return_pickup" not in case["approval_reason"]


def test_minor_defect_on_boots_gets_capped_repair_reimbursement(world: tuple[Store, Config],
                                                               receiver: LocalServer) -> None:
    store, config = world
    with store.session() as s:
        add_order(s, "lena@mail.example", "Lena Moritz", "K-1004", [("BOOT-38", "Studded Ankle Boots", "89.00", 1)],
                  placed=days_ago(40), delivered=days_ago(35))
        add_mention(s, "r4", "Love the boots but the decorative studs fell off after a week.", "defective",
                    published=days_ago(3), author_email="lena@mail.example", rating=3, sku="BOOT-38")
    cases = cycle(store, config)
    assert cases[0]["status"] == "dispatched" and cases[0]["rule"] == "defective-minor-repair"
    [body] = received(receiver)
    assert body["kind"] == "repair_reimbursement"
    assert body["params"]["amount"] == "20.00" and body["params"]["cap"] == "20.00"
    assert body["params"]["form"] == "gift_card"
    assert "gift card of 20.00 EUR" in body["note"]


def test_kettle_that_stopped_heating_gets_a_replacement_not_a_repair_gift_card(world: tuple[Store, Config],
                                                                              receiver: LocalServer) -> None:
    store, config = world
    with store.session() as s:
        add_order(s, "kai@mail.example", "Kai Brandt", "K-1006", [("KET-1", "Glass Kettle", "59.00", 1)],
                  placed=days_ago(30), delivered=days_ago(26))
        add_mention(s, "r6", "The kettle stopped heating after three weeks. Useless.", "defective",
                    published=days_ago(2), author_email="kai@mail.example", rating=1, sku="KET-1")
    [case] = cycle(store, config)
    assert case["rule"] == "defective-replace", case["reasons"]
    assert case["status"] == "dispatched", case["reasons"]
    [body] = received(receiver)
    assert body["kind"] == "replacement" and body["amount"] == "64.00"  # 59 + standard shipping 5
    assert "your Glass Kettle stopped working" in body["note"] and "new Glass Kettle is on its way" in body["note"]


def test_shrunken_duvet_cover_note_says_what_happened(world: tuple[Store, Config], receiver: LocalServer) -> None:
    store, config = world
    with store.session() as s:
        add_order(s, "dora@mail.example", "Dora Wilde", "K-1007", [("DUV-2", "Linen Duvet Cover", "79.00", 1)],
                  placed=days_ago(30), delivered=days_ago(26))
        add_mention(s, "r7", "The duvet cover shrank two sizes in its first wash at 30 degrees.", "defective",
                    published=days_ago(2), author_email="dora@mail.example", rating=1, sku="DUV-2")
    [case] = cycle(store, config)
    assert case["rule"] != "defective-minor-repair", case["reasons"]
    note = case["remedies"][0]["note"]
    assert "stopped working" not in note and "your Linen Duvet Cover shrank" in note, note


def test_late_return_with_family_illness_waives_window(world: tuple[Store, Config], receiver: LocalServer) -> None:
    store, config = world
    with store.session() as s:
        add_order(s, "ruth@mail.example", "Ruth Okafor", "K-1005", [("COAT-M", "Wool Coat", "60.00", 1)],
                  placed=days_ago(36), delivered=days_ago(32))
        add_mention(s, "m5", "Family illness kept me away; the coat does not fit and the 30 day return window "
                    "closed two days ago. Can I still send it back?", "fit_size", source="mastodon",
                    kind="mastodon", published=days_ago(0.5), author_email="ruth@mail.example", rating=None)
    cases = cycle(store, config)
    assert cases[0]["status"] == "dispatched", cases[0]["reasons"]
    assert cases[0]["rule"] == "late-return-goodwill"
    pickup, refund, gesture = received(receiver)
    assert pickup["kind"] == "return_pickup" and pickup["params"]["window_waived"] is True
    assert pickup["params"]["courier_pickup"] is True
    assert refund["kind"] == "refund" and refund["params"]["full"] is True and refund["amount"] == "60.00"
    assert gesture["kind"] == "gesture"
    assert "after the usual return period" in refund["note"] and "full refund" in refund["note"]
    assert "We hope everything is well at home." in refund["note"]
    assert_clean_note(refund["note"])


# --- abuse ------------------------------------------------------------------------------------


def test_abuse_cases_all_wait_for_approval_with_reasons(world: tuple[Store, Config], receiver: LocalServer) -> None:
    store, config = world
    text = "The kettle leaks everywhere after one use, absolutely dangerous product, shame on this shop."
    with store.session() as s:
        # 1. the same complaint by three different people (one buyer on three channels is one case:
        #    tests/test_identity.py)
        add_order(s, "copy@mail.example", "Carl Copy", "A-1", [("KET-1", "Travel Kettle", "25.00", 1)],
                  placed=days_ago(10), delivered=days_ago(6))
        add_mention(s, "copy-shop", text, "defective", published=days_ago(1), author_email="copy@mail.example",
                    author_name="Carl Copy")
        add_mention(s, "copy-trustpilot", text, "defective", source="trustpilot", kind="trustpilot",
                    published=days_ago(1), author_name="Dana Dupe")
        add_mention(s, "copy-reddit", text, "defective", source="reddit", kind="reddit",
                    published=days_ago(1), author_handle="kettle_rant")
        # 2. no order at all
        add_mention(s, "ghost", "My blender exploded, worst purchase ever, I want my money back now.", "defective",
                    published=days_ago(1), author_name="Nobody Known", author_email="ghost@mail.example")
        # 3. complaint before delivery
        add_order(s, "early@mail.example", "Eve Early", "A-2", [("KET-1", "Travel Kettle", "25.00", 1)],
                  placed=days_ago(3), delivered=None, tracking="in_transit", expected=NOW + timedelta(days=3))
        add_mention(s, "early", "The travel kettle is broken and useless, total scam.", "defective",
                    published=days_ago(1), author_email="early@mail.example")
        # 4. already remedied twice this year
        for n in (1, 2):
            order = add_order(s, "twice@mail.example", "Tara Twice", f"A-3{n}", [("KET-1", "Travel Kettle", "25.00", 1)],
                              placed=days_ago(200 - 50 * n), delivered=days_ago(195 - 50 * n))
            old = add_mention(s, f"twice-old-{n}", f"Old complaint number {n} about a broken kettle handle.",
                              "defective", published=days_ago(190 - 50 * n), author_email="twice@mail.example")
            case = Case(subject_key=f"old-{n}", issue="defective", status="dispatched", mention_id=old.id,
                        customer_id=order.customer_id, order_id=order.id, created_at=days_ago(190 - 50 * n))
            s.add(case)
            s.flush()
            from bot.store import CaseMention
            s.add(CaseMention(case_id=case.id, mention_id=old.id))
            s.add(Remedy(case_id=case.id, kind="replacement", idempotency_key=f"old-{n}", status="dispatched",
                         amount=30, created_at=days_ago(190 - 50 * n)))
        add_order(s, "twice@mail.example", "Tara Twice", "A-33", [("FAN-01", "Pocket Fan", "12.00", 1)],
                  placed=days_ago(8), delivered=days_ago(5))
        add_mention(s, "twice-new", "Third time unlucky: the pocket fan is dead on arrival.", "defective",
                    published=days_ago(1), author_email="twice@mail.example", sku="FAN-01")
    process(store, config, now=NOW)
    waiting = list_cases(store, status="awaiting_approval")
    reasons = {c["mentions"][0]["url"].rsplit("/", 1)[-1]: c["approval_reason"] for c in waiting}
    assert set(reasons) == {"copy-shop", "copy-trustpilot", "copy-reddit", "ghost", "early", "twice-new"}
    assert "also posted by 2 other people" in reasons["copy-shop"]
    assert "posted earlier by someone else" in reasons["copy-trustpilot"]
    assert "posted earlier by someone else" in reasons["copy-reddit"]
    assert "no matched order" in reasons["ghost"]
    assert "before the order was delivered" in reasons["early"]
    assert "already remedied 2 times" in reasons["twice-new"]
    copied = next(c for c in waiting if c["mentions"][0]["url"].endswith("copy-shop"))
    assert len(copied["mentions"]) == 1
    with httpx.Client() as client:
        summary = dispatch_due(store, config, client=client, now=NOW)
    assert summary.dispatched == 0 and receiver.requests == []
    with store.session() as s:
        assert all(r.status in ("proposed", "dispatched") for r in s.query(Remedy))
    # The ghost's proposed remedy is a contact (ask for the order), not a gift.
    ghost = next(c for c in waiting if c["mentions"][0]["url"].endswith("ghost"))
    assert [r["kind"] for r in ghost["remedies"]] == ["contact"]
    assert ghost["customer"] is None


def test_copy_arriving_after_the_remedy_is_merged_not_remedied_again(world: tuple[Store, Config],
                                                                    receiver: LocalServer) -> None:
    store, config = world
    text = "The pocket fan died after two days and customer service never replied to me."
    with store.session() as s:
        add_order(s, "max@mail.example", "Max Roth", "K-2001", [("FAN-01", "Pocket Fan", "12.00", 1)],
                  placed=days_ago(10), delivered=days_ago(7))
        add_mention(s, "first", text, "defective", published=days_ago(2), author_email="max@mail.example")
    cycle(store, config)
    assert len(receiver.requests) == 1
    with store.session() as s:
        add_mention(s, "again", text, "defective", source="trustpilot", kind="trustpilot", published=days_ago(1),
                    author_name="Max R.")
        add_mention(s, "other-words", "Still angry about that fan that broke.", "defective", published=days_ago(1),
                    author_email="max@mail.example")
    cases = cycle(store, config)
    assert len(cases) == 1 and len(cases[0]["mentions"]) == 3
    assert len(receiver.requests) == 1
    with store.session() as s:
        actions = [a.action for a in s.query(AuditLog).order_by(AuditLog.id)]
    assert actions.count("mention_merged") == 2


def test_customer_with_remedy_in_flight_gets_no_second(world: tuple[Store, Config]) -> None:
    store, config = world
    with store.session() as s:
        add_order(s, "fl@mail.example", "Flo Light", "F-1", [("FAN-01", "Pocket Fan", "12.00", 1)],
                  placed=days_ago(10), delivered=days_ago(7))
        add_order(s, "fl@mail.example", "Flo Light", "F-2", [("LAMP-2", "Desk Lamp", "34.00", 1)],
                  placed=days_ago(9), delivered=days_ago(6))
        add_mention(s, "f1", "The pocket fan arrived broken in pieces.", "damaged", published=days_ago(2),
                    author_email="fl@mail.example", sku="FAN-01")
    process(store, config, now=NOW)  # queued, not yet dispatched
    with store.session() as s:
        add_mention(s, "f2", "And the desk lamp flickers, defective too.", "defective", published=days_ago(1),
                    author_email="fl@mail.example", sku="LAMP-2")
    process(store, config, now=NOW)
    [second] = [c for c in list_cases(store) if c["issue"] == "defective"]
    assert second["status"] == "awaiting_approval"
    assert "remedy in flight" in second["approval_reason"]


# --- budget, approval, dry run -----------------------------------------------------------------


def test_budget_exhausted_sends_the_case_to_approval(tmp_path: Path, receiver: LocalServer,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RB_TEST_WEBHOOK_SECRET", SECRET)
    config = make_config(tmp_path, receiver, extra="")
    config = loads((tmp_path / "config.toml").read_text().replace("daily_budget = 400", "daily_budget = 40"),
                   path=tmp_path / "config.toml")
    store = open_store(config.bot.database, config.base_dir)
    try:
        with store.session() as s:
            for i in range(4):
                add_order(s, f"b{i}@mail.example", f"Bea Number{i}", f"B-{i}", [("FAN-01", "Pocket Fan", "12.00", 1)],
                          placed=days_ago(10), delivered=days_ago(7))
                add_mention(s, f"b{i}", f"Fan {i} broke on the first day, very poor.", "defective",
                            published=days_ago(1), author_email=f"b{i}@mail.example")
        process(store, config, now=NOW)
        cases = sorted(list_cases(store), key=lambda c: c["id"])
        assert [c["status"] for c in cases] == ["queued", "queued", "awaiting_approval", "awaiting_approval"]
        assert "daily budget" in cases[2]["approval_reason"]
        with store.session() as s:
            day = s.get(BudgetPeriod, "day:2026-03-10")
            assert day is not None and day.reserved == 34 and day.cap == 40
        # A person may go over the daily budget (it limits what runs unattended), and is told so.
        done = approve(store, cases[2]["id"], actor="staff", now=NOW, config=config)
        assert done["status"] == "queued"
        over = "approved above the daily budget (51.00 of 40.00 reserved on 2026-03-10); the monthly budget still holds"
        assert done["over_daily_budget"] == [over] and over in done["reasons"]
        with store.session() as s:
            assert s.get(BudgetPeriod, "day:2026-03-10").reserved == 51  # type: ignore[union-attr]
        # ... but never over the monthly one.
        tight = loads((tmp_path / "config.toml").read_text().replace("daily_budget = 400", "daily_budget = 40")
                      .replace("monthly_budget = 2000", "monthly_budget = 60"), path=tmp_path / "config.toml")
        with pytest.raises(CaseStateError, match=r"monthly budget 2026-03: 51\.00 of 60\.00 reserved"):
            approve(store, cases[3]["id"], actor="staff", now=NOW, config=tight)
    finally:
        store.dispose()


def test_approve_reject_expire_and_errors(world: tuple[Store, Config], receiver: LocalServer) -> None:
    store, config = world
    with store.session() as s:
        for i, email in enumerate(("a@mail.example", "b@mail.example", "c@mail.example")):
            add_order(s, email, f"Pat Number{i}", f"P-{i}", [("KET-1", "Travel Kettle", "25.00", 1)],
                      placed=days_ago(10), delivered=days_ago(7))
            # missing_parts replacements always wait for approval in the built-in rules
            add_mention(s, f"p{i}", f"Kettle number {i} came without its lid, parts missing.", "missing_parts",
                        published=days_ago(1), author_email=email)
    process(store, config, now=NOW)
    first, second, third = sorted(c["id"] for c in list_cases(store, status="awaiting_approval"))
    done = approve(store, first, actor="sam", note="Sorry again!", now=NOW, config=config)
    assert done["status"] == "queued" and done["remedies"][0]["status"] == "queued"
    # the staff's words go above the signature, not after it
    assert done["remedies"][0]["note"].endswith("reply to this message.\n\nSorry again!\n\nKestrel Lane\n")
    rejected = reject(store, second, actor="sam", reason="asked by phone, already handled", now=NOW)
    assert rejected["status"] == "dismissed" and rejected["remedies"][0]["status"] == "cancelled"
    assert expire_approvals(store, config, now=NOW + timedelta(days=3)) == 0
    assert expire_approvals(store, config, now=NOW + timedelta(days=8)) == 1
    assert list_cases(store, status="dismissed")[0]["approval_reason"] == "not approved within 7 days"
    with pytest.raises(CaseNotFound, match="no case #999"):
        approve(store, 999, actor="sam", now=NOW, config=config)
    with pytest.raises(CaseStateError, match="is queued, not awaiting approval"):
        reject(store, first, actor="sam", reason="x", now=NOW)
    with pytest.raises(CaseStateError, match="needs a reason"):
        reject(store, third, actor="sam", reason=" ", now=NOW)
    with httpx.Client() as client:
        dispatch_due(store, config, client=client, now=NOW)
    assert [b["case_id"] for b in received(receiver)] == [first]
    with store.session() as s:
        assert [a.actor for a in s.query(AuditLog).filter_by(action="approved")] == ["sam"]


def test_dry_run_decides_and_records_but_dispatches_nothing(tmp_path: Path, receiver: LocalServer,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RB_TEST_WEBHOOK_SECRET", SECRET)
    config = make_config(tmp_path, receiver, dry_run=True)
    store = open_store(config.bot.database, config.base_dir)
    try:
        with store.session() as s:
            add_order(s, "d@mail.example", "Dee Dry", "D-1", [("FAN-01", "Pocket Fan", "12.00", 1)],
                      placed=days_ago(10), delivered=days_ago(7))
            add_mention(s, "d1", "The fan is defective, it rattles and stops.", "defective", published=days_ago(1),
                        author_email="d@mail.example")
        cases = cycle(store, config)
        assert cases[0]["status"] == "decided" and cases[0]["rule"] == "defective-cheap-replace"
        assert [r["status"] for r in cases[0]["remedies"]] == ["dry_run"]
        assert receiver.requests == []
        with store.session() as s:
            assert s.get(BudgetPeriod, "day:2026-03-10") is None
    finally:
        store.dispose()


def test_cases_decided_in_the_dry_run_await_approval_once_it_ends(tmp_path: Path, receiver: LocalServer,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RB_TEST_WEBHOOK_SECRET", SECRET)
    dry = make_config(tmp_path, receiver, dry_run=True)
    live = make_config(tmp_path, receiver, dry_run=False, extra="approval_days = 5")
    store = open_store(dry.bot.database, dry.base_dir)
    try:
        with store.session() as s:
            add_order(s, "d@mail.example", "Dee Dry", "D-1", [("FAN-01", "Pocket Fan", "12.00", 1)],
                      placed=days_ago(10), delivered=days_ago(7))
            add_mention(s, "d1", "The fan is defective, it rattles and stops.", "defective", published=days_ago(1),
                        author_email="d@mail.example")
        [case] = cycle(store, dry)
        assert case["status"] == "decided" and [r["status"] for r in case["remedies"]] == ["dry_run"]
        # dry_run = false: the trial's decision goes to staff, never out on its own (the daemon's
        # dispatch job may run before its process job: either does it).
        with httpx.Client() as client:
            summary = dispatch_due(store, live, client=client, now=NOW)
        assert summary.reopened == 1 and "1 case(s) decided during the dry run now await approval" in summary.lines()[1]
        [case] = cycle(store, live)
        assert receiver.requests == []
        assert case["status"] == "awaiting_approval"
        assert case["approval_reason"] == "decided during the dry run: approve to send it now"
        assert case["approval_expires_at"] == (NOW + timedelta(days=5)).isoformat()
        assert [r["status"] for r in case["remedies"]] == ["proposed"]
        assert cycle(store, live)[0]["status"] == "awaiting_approval"  # asked once, not again
        approve(store, case["id"], actor="sam", now=NOW, config=live)
        [case] = cycle(store, live)
        cycle(store, live)
        assert case["status"] == "dispatched" and len(received(receiver)) == 1
        with store.session() as s:
            assert [a.case_id for a in s.query(AuditLog).filter_by(action="dry_run_reopened")] == [case["id"]]
            assert s.get(BudgetPeriod, "day:2026-03-10").reserved == 17  # type: ignore[union-attr]
    finally:
        store.dispose()


def test_approving_during_the_dry_run_is_sent_when_it_ends_without_asking_twice(
        tmp_path: Path, receiver: LocalServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RB_TEST_WEBHOOK_SECRET", SECRET)
    dry = make_config(tmp_path, receiver, dry_run=True)
    live = make_config(tmp_path, receiver, dry_run=False)
    store = open_store(dry.bot.database, dry.base_dir)
    try:
        with store.session() as s:
            add_order(s, "m@mail.example", "Mia Parts", "M-1", [("KET-1", "Travel Kettle", "25.00", 1)],
                      placed=days_ago(10), delivered=days_ago(7))
            add_mention(s, "m1", "The kettle came without its lid, parts missing.", "missing_parts",
                        published=days_ago(1), author_email="m@mail.example")
        [case] = cycle(store, dry)
        assert case["status"] == "awaiting_approval"
        done = approve(store, case["id"], actor="sam", now=NOW, config=dry)
        assert done["status"] == "decided" and "approved during the dry run: sent when the dry run ends" in done["reasons"]
        cycle(store, dry)
        assert receiver.requests == []
        # The trial ends: sent as approved, not put to staff again.
        [case] = cycle(store, live)
        assert case["status"] == "dispatched", case["reasons"]
        assert [b["case_id"] for b in received(receiver)] == [case["id"]]
        assert list_cases(store, status="awaiting_approval") == []
        cycle(store, live)
        assert len(receiver.requests) == 1
        with store.session() as s:
            assert s.get(BudgetPeriod, "day:2026-03-10").reserved == 30  # type: ignore[union-attr]
            assert s.query(AuditLog).filter_by(action="dry_run_approved_queued").count() == 1
    finally:
        store.dispose()


def test_list_cases_masks_emails_and_is_json_ready(world: tuple[Store, Config]) -> None:
    store, config = world
    with store.session() as s:
        add_order(s, "secret.person@mail.example", "Sue Secret", "S-1", [("FAN-01", "Pocket Fan", "12.00", 1)],
                  placed=days_ago(10), delivered=days_ago(7))
        add_mention(s, "s1", "The fan is defective, it rattles and stops.", "defective", published=days_ago(1),
                    author_email="secret.person@mail.example")
    process(store, config, now=NOW)
    dumped = json.dumps(list_cases(store))
    assert "secret.person@mail.example" not in dumped
    assert list_cases(store)[0]["customer"]["name"] == "Sue Secret"
    assert list_cases(store)[0]["reasons"][0].startswith("rule 'defective-cheap-replace'")
    with pytest.raises(Exception, match="unknown case status"):
        list_cases(store, status="bogus")


# --- orders that arrive after the complaint ------------------------------------------------------


def test_cases_opened_before_their_orders_are_matched_again_and_merged(world: tuple[Store, Config],
                                                                       receiver: LocalServer) -> None:
    """The reviewer's reproduction: a cycle with no orders, then the orders, then a handle link."""
    from bot.match import link_handle

    store, config = world
    with store.session() as s:
        add_mention(s, "t-shop", "The bread maker stopped heating after a week, the dough never rises now.",
                    "defective", published=days_ago(2), author_email="tessa.lindqvist@example.net",
                    author_name="Tessa L.", sku="BREAD-1", product_name="Bread Maker")
        add_mention(s, "t-social", "@kestrel my bread maker is dead after seven days, anyone else??", "defective",
                    source="reddit", kind="reddit", published=days_ago(1), author_handle="@tessalind", rating=None)
    first = process(store, config, now=NOW)
    assert first.opened == 2 and first.rematched == 0
    assert sorted(r["kind"] for c in list_cases(store) for r in c["remedies"]) == ["contact", "contact"]

    # `orders sync` brings the order: the e-mail case finds it and is decided again, for real.
    with store.session() as s:
        add_order(s, "tessa.lindqvist@example.net", "Tessa Lindqvist", "K-7001",
                  [("BREAD-1", "Bread Maker", "35.00", 1)], placed=days_ago(14), delivered=days_ago(9))
    second = process(store, config, now=NOW)
    assert second.rematched == 1 and second.queued == 1, second.lines()
    assert "rematch: 1 earlier cases found their order" in second.lines()
    by_url = {c["mentions"][0]["url"].rsplit("/", 1)[-1]: c for c in list_cases(store)}
    assert by_url["t-shop"]["order"] == {"number": "K-7001", "origin": "csv"}
    assert [(r["kind"], r["status"]) for r in by_url["t-shop"]["remedies"]] == [
        ("contact", "cancelled"), ("replacement", "queued")]
    assert by_url["t-shop"]["remedies"][1]["idempotency_key"].endswith("-1-replacement")
    assert by_url["t-social"]["status"] == "awaiting_approval"

    # Nothing changed since: the cheap check matches nobody again.
    assert process(store, config, now=NOW).rematched == 0

    # `customers link @tessalind ...`: the social case is the same buyer and issue: merged, not remedied twice.
    with store.session() as s:
        link_handle(s, "@tessalind", "tessa.lindqvist@example.net")
    third = process(store, config, now=NOW)
    assert third.rematched == 1 and third.merged_cases == 1 and third.queued == 0
    live = [c for c in list_cases(store) if c["status"] != "dismissed"]
    assert len(live) == 1 and len(live[0]["mentions"]) == 2
    [gone] = [c for c in list_cases(store) if c["status"] == "dismissed"]
    assert gone["approval_reason"].startswith(f"merged into case #{live[0]['id']}")
    assert [r["status"] for r in gone["remedies"]] == ["cancelled"]
    with httpx.Client() as client:
        dispatch_due(store, config, client=client, now=NOW)
    assert [b["kind"] for b in received(receiver)] == ["replacement"]


def test_only_cases_younger_than_the_matching_window_are_matched_again(world: tuple[Store, Config]) -> None:
    store, config = world
    assert config.matching.window_days == 120
    with store.session() as s:
        add_mention(s, "old", "The bread maker stopped heating after a week, the dough never rises now.",
                    "defective", published=days_ago(200), author_email="olga@example.net", sku="BREAD-1")
        add_mention(s, "young", "My kettle stopped boiling after three days, the switch just clicks.",
                    "defective", published=days_ago(2), author_email="yuri@example.net", sku="KET-1")
    assert process(store, config, now=NOW).opened == 2
    with store.session() as s:
        before = {c.mention.external_id: c.updated_at for c in s.query(Case)}
        # Both orders arrive; the old complaint was posted days after its delivery, so it would match.
        add_order(s, "olga@example.net", "Olga Old", "K-1", [("BREAD-1", "Bread Maker", "35.00", 1)],
                  placed=days_ago(215), delivered=days_ago(210))
        add_order(s, "yuri@example.net", "Yuri Young", "K-2", [("KET-1", "Kettle", "25.00", 1)],
                  placed=days_ago(14), delivered=days_ago(9))
    assert process(store, config, now=NOW).rematched == 1
    with store.session() as s:
        cases = {c.mention.external_id: c for c in s.query(Case)}
        assert cases["young"].order is not None and cases["young"].order.number == "K-2"
        assert cases["old"].order_id is None and cases["old"].updated_at == before["old"]  # not even tried
        assert [a.case_id for a in s.query(AuditLog).filter_by(action="rematched")] == [cases["young"].id]


def test_a_case_waiting_for_a_real_remedy_is_not_matched_again(world: tuple[Store, Config]) -> None:
    store, config = world
    with store.session() as s:
        add_order(s, "kim@mail.example", "Kim Park", "K-8001", [("KET-1", "Travel Kettle", "25.00", 1)],
                  placed=days_ago(10), delivered=days_ago(7))
        add_mention(s, "k1", "Kettle came without its lid, parts missing, annoying.", "missing_parts",
                    published=days_ago(1), author_email="kim@mail.example")
        add_mention(s, "old", "The toaster never worked, sparks everywhere.", "defective",
                    published=days_ago(90), author_name="Someone Else")
    process(store, config, now=NOW)
    with store.session() as s:
        add_order(s, "new@mail.example", "New Buyer", "K-8002", [("FAN-01", "Pocket Fan", "12.00", 1)],
                  placed=days_ago(3), delivered=days_ago(1))
    summary = process(store, config, now=NOW)
    assert summary.rematched == 0 and summary.decided == 0
    with store.session() as s:
        # The unmatched one was looked at (and will not be again until orders change); the waiting one was not.
        assert s.query(AuditLog).filter(AuditLog.action.in_(("rematched", "case_merged"))).count() == 0


def test_list_mentions_masks_emails_like_everywhere_else(world: tuple[Store, Config]) -> None:
    from bot.collect import list_mentions
    from bot.match import mask_email

    store, _config = world
    with store.session() as s:
        add_mention(s, "e1", "Broken on arrival, sad.", "damaged", published=days_ago(1),
                    author_email="Jo.Doe@Example.COM")
        add_mention(s, "e2", "Broken on arrival again, sad.", "damaged", published=days_ago(1),
                    author_email="not-an-address")
        add_mention(s, "e3", "Broken on arrival once more.", "damaged", published=days_ago(1))
    masked = {m["external_id"]: m["author_email"] for m in list_mentions(store)}
    assert masked == {"e1": mask_email("Jo.Doe@Example.COM"), "e2": "***", "e3": None}
    assert masked["e1"] == "J***@example.com"


def test_a_case_the_scorer_is_unsure_of_waits_for_a_person_with_the_reason(world: tuple[Store, Config],
                                                                          receiver: LocalServer) -> None:
    store, config = world
    with store.session() as s:
        add_order(s, "ines@mail.example", "Ines Duarte", "K-1001", [("FAN-01", "Pocket Fan", "12.00", 1)],
                  placed=days_ago(14), delivered=days_ago(10))
        add_mention(s, "r1", "One star. The pocket fan died after two days, photos attached. Junk.", "defective",
                    published=days_ago(1), author_email="ines@mail.example", author_name="Ines D.", sku="FAN-01",
                    product_name="Pocket Fan", sure=False, p_remedy=0.71)
    [case] = cycle(store, config)
    assert case["status"] == "awaiting_approval"
    assert "unsure: the scorer is not sure enough of the problem (remedy 0.71, defective 0.60)" in case["approval_reason"]
    assert received(receiver) == []  # nothing went out on its own


def test_staff_decisions_are_kept_as_labels_the_scorer_can_be_measured_on(world: tuple[Store, Config],
                                                                           receiver: LocalServer) -> None:
    import io

    from bot.decide.staff import export_labels
    from bot.scoring import Scorer, evaluate

    store, config = world
    with store.session() as s:
        add_order(s, "ines@mail.example", "Ines Duarte", "K-1001", [("FAN-01", "Pocket Fan", "12.00", 1)],
                  placed=days_ago(14), delivered=days_ago(10))
        add_order(s, "omar@mail.example", "Omar Haddad", "K-1002", [("FAN-01", "Pocket Fan", "12.00", 1)],
                  placed=days_ago(14), delivered=days_ago(10))
        add_mention(s, "r1", "One star. The pocket fan died after two days, photos attached. Junk.", "defective",
                    published=days_ago(1), author_email="ines@mail.example", author_name="Ines D.", sku="FAN-01",
                    product_name="Pocket Fan", sure=False, p_remedy=0.7)
        add_mention(s, "r2", "The fan is a bit loud at night, otherwise fine, not worth the fuss.", "defective",
                    published=days_ago(1), author_email="omar@mail.example", author_name="Omar H.", sku="FAN-01",
                    product_name="Pocket Fan", sure=False, p_remedy=0.6)
    waiting = sorted(c["id"] for c in cycle(store, config) if c["status"] == "awaiting_approval")
    assert len(waiting) == 2
    approve(store, waiting[0], actor="maria@shop.example", now=NOW, config=config)
    reject(store, waiting[1], actor="maria@shop.example", reason="not a fault, just noise", now=NOW)
    out = io.StringIO()
    assert export_labels(store, out) == 2
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    by_text = {line["text"][:12]: line for line in lines}
    assert by_text["One star. Th"]["remedy_worthy"] is True and by_text["One star. Th"]["issue"] == "defective"
    assert by_text["The fan is a"]["remedy_worthy"] is False
    assert all(line["decided"].endswith("by maria@shop.example") for line in lines)
    report = evaluate(out.getvalue().splitlines(), Scorer())
    assert report.n == 2 and not report.bad_lines


def test_an_unread_one_star_review_goes_to_a_person_not_into_a_case(world: tuple[Store, Config],
                                                                    receiver: LocalServer) -> None:
    """Unhappy by the stars alone (the words are in a language the model does not read): no case,
    no remedy, and the digest's unhappy share does not count what the scorer did not read."""
    from bot.pipeline import score_pending
    from bot.scoring import Scorer

    store, config = world
    text = "Nagyon rossz minőség, a termék két nap után tönkrement, nem ajánlom senkinek."
    with store.session() as s:
        s.add(Mention(source="shop", source_kind="schema_org", external_id="hu1", text=text, rating=1,
                      published_at=days_ago(1), collected_at=days_ago(1), fingerprint=fingerprint(text), raw={}))
    assert score_pending(store, Scorer()).scored == 1
    with store.session() as s:
        assessment = s.scalars(select(Assessment)).one()
        assert assessment.unhappy and not assessment.scored
    assert cycle(store, config) == []
    assert received(receiver) == []
