"""Matching mentions to orders: each signal, ambiguity, shared names, timing, products never bought."""

from __future__ import annotations

import itertools
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.errors import RecoveryBotError
from bot.match import (
    MatchConfig,
    handle_keys,
    link_handle,
    mask_email,
    match_mention,
    name_similarity,
    normalise_handle,
)
from bot.orders import upsert_order
from connectors.orders import ParsedLine, ParsedOrder
from bot.store import CustomerHandle, Mention, Order, Store, fingerprint

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
CONFIG = MatchConfig()
_ids = itertools.count(1)


def order(
    number: str,
    email: str,
    name: str,
    *lines: tuple[str, str],
    placed: datetime = T0,
    delivered_after: int | None = 3,
    tracking: str | None = "delivered",
    fulfilment: str = "fulfilled",
    handles: tuple[str, ...] = (),
    expected_after: int | None = 5,
) -> ParsedOrder:
    return ParsedOrder(
        number=number,
        placed_at=placed,
        email=email,
        name=name,
        handles=list(handles),
        country="DE",
        fulfillment_status=fulfilment,
        tracking_status=tracking,
        delivered_at=placed + timedelta(days=delivered_after) if delivered_after is not None else None,
        expected_delivery_at=placed + timedelta(days=expected_after) if expected_after is not None else None,
        lines=[ParsedLine(name=n, sku=s, product_url=f"https://shop.example/products/{s.lower()}",
                          unit_price=Decimal("19.90")) for s, n in lines],
    )


def load(store: Store, *orders: ParsedOrder) -> None:
    with store.session() as session:
        for parsed in orders:
            upsert_order(session, "csv", parsed)


def mention(
    *,
    days_after: float = 10,
    source_kind: str = "schema_org",
    name: str | None = None,
    handle: str | None = None,
    email: str | None = None,
    sku: str | None = None,
    url: str | None = None,
    product: str | None = None,
    text: str = "It stopped working after two days, very disappointed.",
) -> Mention:
    n = next(_ids)
    return Mention(
        source=source_kind, source_kind=source_kind, external_id=f"m{n}", author_name=name,
        author_handle=handle, author_email=email, product_sku=sku, product_url=url, product_name=product,
        text=text, published_at=T0 + timedelta(days=days_after), fingerprint=fingerprint(text + str(n)),
    )


def run(store: Store, m: Mention, *, issue: str | None = None, config: MatchConfig = CONFIG):
    with store.session() as session:
        session.add(m)
        session.flush()
        return match_mention(session, m, config, issue=issue)


def order_id(store: Store, number: str) -> int:
    with store.session() as session:
        return session.scalars(select(Order.id).where(Order.number == number)).one()


@pytest.fixture
def shop(store: Store) -> Store:
    load(
        store,
        order("1001", "jonas.berg@example.org", "Jonas Berg", ("LAMP-7", "Desk Lamp Halo"), ("BULB-1", "Spare Bulb"),
              handles=("@jonasb", "mastodon:@jonas@tooting.example")),
        order("1002", "ines.alvarez@example.net", "Inés Álvarez", ("KETTLE-2", "Travel Kettle")),
        order("1003", "pat.kim@example.com", "Pat Kim", ("TOTE-1", "Canvas Tote Bag")),
    )
    return store


# --- signals --------------------------------------------------------------------------------


def test_verified_email_is_the_strongest_signal(shop: Store) -> None:
    result = run(shop, mention(email="Jonas.Berg@Example.org", sku="LAMP-7"))
    assert result.matched
    assert result.order_id == order_id(shop, "1001")
    assert result.confidence == 1.0
    assert any("verified buyer email j***@example.org" in r for r in result.reasons)
    # The email itself never leaves the store.
    assert "jonas.berg" not in repr(result)

    alone = run(shop, mention(email="ines.alvarez@example.net", text="Bad."))
    assert alone.matched and alone.confidence >= CONFIG.weight_email


def test_handle_from_the_order_export_matches_on_its_platform(shop: Store) -> None:
    result = run(shop, mention(source_kind="mastodon", handle="@jonas@tooting.example",
                               text="My new desk lamp halo flickers and died. Annoyed."))
    assert result.matched and result.order_id == order_id(shop, "1001")
    assert any("handle mastodon:jonas@tooting.example" in r for r in result.reasons)
    # The post names one of the two items: that line is the one.
    assert result.candidates[0]["sku"] == "LAMP-7"
    # A plain handle from the export matches that name on any platform.
    bare = run(shop, mention(source_kind="bluesky", handle="jonasb", text="lamp broke"))
    assert bare.matched and bare.customer_id == result.customer_id
    # ...but the qualified one does not match another platform's user of the same name.
    other = run(shop, mention(source_kind="reddit", handle="u/jonas", text="lamp broke"))
    assert not other.matched


def test_manual_link_is_used_by_later_matches(shop: Store) -> None:
    before = run(shop, mention(source_kind="reddit", handle="u/KettleFan", text="my travel kettle leaks"))
    assert not before.matched
    assert "no customer matches" in (before.why_unmatched or "")
    with shop.session() as session:
        customer = link_handle(session, "reddit:u/KettleFan", "ines.alvarez@example.net")
        assert customer.name == "Inés Álvarez"
    with shop.session() as session:
        row = session.get(CustomerHandle, "reddit:kettlefan")
        assert row is not None and row.origin == "manual"
    after = run(shop, mention(source_kind="reddit", handle="u/KettleFan", text="my travel kettle leaks"))
    assert after.matched and after.order_id == order_id(shop, "1002")
    assert any("linked by staff" in r for r in after.reasons)


def test_link_to_an_unknown_email_is_a_clear_error(shop: Store) -> None:
    with pytest.raises(RecoveryBotError) as err, shop.session() as session:
        link_handle(session, "@someone", "nobody@example.com")
    assert "n***@example.com" in str(err.value) and "nobody@" not in str(err.value)
    assert "orders sync" in str(err.value)


def test_name_normalises_case_accents_and_initials(shop: Store) -> None:
    assert name_similarity("ines alvarez", "Inés Álvarez")[0] == 1.0
    assert name_similarity("Álvarez, Inés", "Inés Álvarez")[0] == 1.0
    assert name_similarity("Jonas B.", "Jonas Berg")[0] == 0.8
    assert name_similarity("J. Berg", "Jonas Berg")[0] == 0.8
    assert name_similarity("J. B.", "Jonas Berg")[0] == 0.0  # initials alone say nothing
    assert name_similarity("Jonas", "Jonas Berg")[0] == 0.5
    assert name_similarity("Jonas Burg", "Jonas Berg")[0] > 0.8
    assert name_similarity("Anna Berg", "Jonas Berg")[0] == 0.0

    result = run(shop, mention(name="INES ALVAREZ", product="travel kettle"))
    assert result.matched and result.order_id == order_id(shop, "1002")
    short = run(shop, mention(name="Jonas B.", sku="LAMP-7"))
    assert short.matched and short.order_id == order_id(shop, "1001")
    assert short.confidence < result.confidence


def test_a_name_alone_is_not_enough(shop: Store) -> None:
    result = run(shop, mention(source_kind="rss", name="Pat Kim", text="Not happy with this shop."))
    assert not result.matched
    assert result.confidence < CONFIG.threshold
    assert "below the threshold" in (result.why_unmatched or "")
    assert result.candidates and result.candidates[0]["order_number"] == "1003"


def test_product_by_sku_url_or_fuzzy_name(shop: Store) -> None:
    by_sku = run(shop, mention(name="Jonas Berg", sku="bulb-1"))
    by_url = run(shop, mention(name="Jonas Berg", url="https://www.shop.example/products/bulb-1/?ref=mail"))
    by_name = run(shop, mention(name="Jonas Berg", product="Spare bulbs"))
    for result in (by_sku, by_url, by_name):
        assert result.matched, result.why_unmatched
        assert result.candidates[0]["sku"] == "BULB-1"
    assert by_sku.confidence >= by_name.confidence


def test_product_never_bought_is_no_match(shop: Store) -> None:
    result = run(shop, mention(name="Pat Kim", product="Cast Iron Skillet", sku="PAN-9"))
    assert not result.matched and result.order_id is None
    assert "never bought 'Cast Iron Skillet'" in (result.why_unmatched or "")
    # Even a verified email does not attach a complaint to an order without that product.
    verified = run(shop, mention(email="pat.kim@example.com", sku="PAN-9", product="Cast Iron Skillet"))
    assert not verified.matched


# --- time -----------------------------------------------------------------------------------


def test_mention_after_delivery_inside_the_window(shop: Store) -> None:
    result = run(shop, mention(name="Pat Kim", sku="TOTE-1", days_after=30))
    assert result.matched and not result.before_delivery
    assert any("posted 27 days after delivery of order 1003" in r for r in result.reasons)


def test_mention_outside_the_window_is_no_match(shop: Store) -> None:
    result = run(shop, mention(name="Pat Kim", sku="TOTE-1", days_after=200))
    assert not result.matched
    assert "outside the 120-day window" in (result.why_unmatched or "")
    wider = run(shop, mention(name="Pat Kim", sku="TOTE-1", days_after=200),
                config=MatchConfig(window_days=365))
    assert wider.matched


def test_complaint_before_delivery_is_flagged(store: Store) -> None:
    load(store, order("2001", "noor@example.com", "Noor Haddad", ("FAN-3", "Pocket Fan"),
                      delivered_after=None, tracking="in_transit", expected_after=6))
    result = run(store, mention(name="Noor Haddad", sku="FAN-3", days_after=2, text="Fan is useless."))
    assert result.matched and result.before_delivery
    assert any("posted before delivery of order 2001 (tracking: in_transit)" in r for r in result.reasons)
    # Posted before the order was even placed: not this order.
    early = run(store, mention(name="Noor Haddad", sku="FAN-3", days_after=-1))
    assert not early.matched and "placed after the mention" in (early.why_unmatched or "")


def test_not_delivered_counts_from_the_expected_delivery(store: Store) -> None:
    load(store, order("2002", "noor@example.com", "Noor Haddad", ("FAN-3", "Pocket Fan"),
                      delivered_after=None, tracking="lost", expected_after=6))
    late = run(store, mention(name="Noor Haddad", sku="FAN-3", days_after=9, text="never arrived"),
               issue="not_delivered")
    assert late.matched and not late.before_delivery
    assert any("after expected delivery" in r for r in late.reasons)
    impatient = run(store, mention(name="Noor Haddad", sku="FAN-3", days_after=3, text="where is it"),
                    issue="not_delivered")
    assert impatient.matched and impatient.before_delivery


def test_cancelled_orders_are_not_candidates(store: Store) -> None:
    load(store, order("2003", "noor@example.com", "Noor Haddad", ("FAN-3", "Pocket Fan"), fulfilment="cancelled"))
    result = run(store, mention(email="noor@example.com", sku="FAN-3"))
    assert not result.matched and "cancelled" in (result.why_unmatched or "")


# --- ambiguity ------------------------------------------------------------------------------


def test_name_shared_by_two_customers_is_ambiguous(store: Store) -> None:
    load(
        store,
        order("3001", "maria.lopez@example.com", "María López", ("BOOT-5", "Studded Ankle Boots")),
        order("3002", "m.lopez@example.org", "Maria Lopez", ("BOOT-5", "Studded Ankle Boots"),
              placed=T0 + timedelta(days=1)),
    )
    result = run(store, mention(name="Maria Lopez", product="Studded ankle boots", days_after=12))
    assert not result.matched and result.order_id is None
    assert "ambiguous: 2 customers fit equally well" in (result.why_unmatched or "")
    assert {c["order_number"] for c in result.candidates} == {"3001", "3002"}
    assert {c["customer"] for c in result.candidates} == {"m***@example.com", "m***@example.org"}


def test_shared_name_resolved_by_the_product(store: Store) -> None:
    load(
        store,
        order("3001", "maria.lopez@example.com", "María López", ("BOOT-5", "Studded Ankle Boots")),
        order("3002", "m.lopez@example.org", "Maria Lopez", ("DRESS-2", "Linen Summer Dress")),
    )
    result = run(store, mention(name="Maria L.", product="Linen summer dress"))
    assert result.matched and result.order_id == order_id(store, "3002")


def test_two_orders_of_one_customer_without_product_are_ambiguous(store: Store) -> None:
    load(
        store,
        order("4001", "olu@example.com", "Olu Ade", ("CUP-1", "Glass Cup")),
        order("4002", "olu@example.com", "Olu Ade", ("PLATE-1", "Stone Plate"), placed=T0 + timedelta(days=2)),
    )
    vague = run(store, mention(email="olu@example.com", text="Really bad experience."))
    assert not vague.matched
    assert "2 orders of the same customer" in (vague.why_unmatched or "")
    named = run(store, mention(email="olu@example.com", text="The stone plate cracked"))
    assert named.matched and named.order_id == order_id(store, "4002")


def test_threshold_is_respected(shop: Store) -> None:
    strict = MatchConfig(threshold=0.95)
    result = run(shop, mention(name="Jonas B.", sku="LAMP-7"), config=strict)
    assert not result.matched and result.candidates


# --- helpers --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "platform", "stored"),
    [
        ("@Maria_L", None, "maria_l"),
        ("mastodon:@maria@shop.social", None, "mastodon:maria@shop.social"),
        ("@maria@shop.social", "mastodon", "mastodon:maria@shop.social"),
        ("@maria@shop.social", None, "mastodon:maria@shop.social"),
        ("u/Maria", "reddit", "reddit:maria"),
        ("/u/maria", None, "reddit:maria"),
        ("reddit:u/maria", None, "reddit:maria"),
        ("Maria.bsky.social", "bluesky", "bluesky:maria.bsky.social"),
        ("twitter:@maria", None, "x:maria"),
    ],
)
def test_normalise_handle(raw: str, platform: str | None, stored: str) -> None:
    assert normalise_handle(raw, platform) == stored


def test_handle_keys_try_qualified_then_plain() -> None:
    assert handle_keys("@maria@shop.social", "mastodon") == ["mastodon:maria@shop.social", "maria@shop.social", "maria"]
    assert handle_keys("@maria_l", "schema_org") == ["maria_l"]


def test_mask_email() -> None:
    assert mask_email("john.doe@Example.com") == "j***@example.com"
    assert mask_email("x@y.org") == "x***@y.org"
    assert mask_email("") == "" and mask_email("broken") == "***"


# --- the bundled demo -----------------------------------------------------------------------


def test_demo_seed_scenarios_match_their_orders(tmp_path: Path) -> None:
    """The demo shop end to end: collected reviews and posts, imported orders, then matching."""
    from bot import config as cfg
    from bot.collect import collect
    from bot.demo import SCENARIOS, DemoShop, demo_config_text
    from bot.orders import sync
    from bot.store import open_store

    with DemoShop() as shop:
        path = tmp_path / "config.toml"
        path.write_text(demo_config_text(shop, tmp_path), encoding="utf-8")
        config = cfg.load(path)
        store = open_store(config.bot.database, config.base_dir)
        try:
            collect(config, store)
            assert sync(config, store).created > 0
            with store.session() as session:
                mentions = session.scalars(select(Mention)).all()
                for scenario in SCENARIOS:
                    mine = [m for m in mentions if scenario.author in (m.author_name, m.author_handle)]
                    assert mine, f"no demo mention by {scenario.author}"
                    for m in mine:
                        result = match_mention(session, m, config.matching, issue=scenario.issue)
                        assert result.matched, (scenario.key, result.why_unmatched)
                        best = result.candidates[0]
                        assert (best["order_number"], best["sku"]) == (scenario.order_number, scenario.sku)
                        assert re.fullmatch(r"\w\*\*\*@example\.(com|org|net)", best["customer"])
                social = [m for m in mentions if m.source_kind == "rss"]
                unmatched = [match_mention(session, m, config.matching) for m in social]
                reasons = [r.why_unmatched for r in unmatched if not r.matched]
                assert reasons and all(reasons), "a demo social mention should stay unmatched, saying why"
        finally:
            store.dispose()
