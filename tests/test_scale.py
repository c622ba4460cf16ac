"""A cycle costs what is new (issue 18): index-backed name candidates and the incremental rematch.

The name lookup must find exactly what comparing every recent customer found; an orders sync must
match again a waiting case when its buyer's order arrives, and leave the cases it cannot touch.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from bot.config import Config
from bot.decide.cases import process
from bot.match import MatchConfig, bounded_name_candidates, match_mention, name_candidates, name_similarity
from bot.orders import upsert_order
from bot.store import (
    Assessment,
    AuditLog,
    Case,
    CaseMention,
    Customer,
    CustomerNameKey,
    Mention,
    Meta,
    Order,
    Store,
    fingerprint,
    open_store,
)
from bot.store.migrate import upgrade as migrate
from connectors.orders.base import ParsedLine, ParsedOrder
from tests.decide_world import NOW, add_mention, add_order, days_ago

FIRST = ["Anna", "Jörg", "Zoë", "John", "Maria", "Sean", "Siobhán", "Li", "Ngozi", "Élodie", "Tom", "Mary Ann",
         "Jean-Luc", "Øystein", "Aleksandra", "Mohammed", "Jo", "Ana", "Max"]
LAST = ["Doe", "Müller", "O'Brien", "Nguyen", "Smith", "Smyth", "Kowalska", "Lindqvist", "Roth", "Ng", "García",
        "van der Berg", "Łukasiewicz", "Okafor", "Kim", "Lee", "Dubois", "Rossi", "Schmidt", "Bergström"]


def variants(name: str, rnd: random.Random) -> list[str]:
    """What reviewers write for this name: as is, reordered, initials, first name, typos, case."""
    words = name.split()
    out = [name, " ".join(reversed(words)), name.upper(), words[0], f"{words[0]} {words[-1][0]}.",
           f"{words[0][0]}. {words[-1]}", f"{words[0][0]}. {words[-1][0]}."]
    for _ in range(4):
        i = rnd.randrange(len(words))
        word = words[i]
        j = rnd.randrange(len(word))
        typo = rnd.choice([
            word[:j] + word[j + 1:],  # a letter missing
            word[:j] + rnd.choice("aeioulnrst") + word[j:],  # one too many
            word[:j] + rnd.choice("aeioulnrst") + word[j + 1:],  # one wrong
            word[:j] + word[j + 1:j + 2] + word[j:j + 1] + word[j + 2:],  # two swapped
        ])
        out.append(" ".join(words[:i] + [typo] + words[i + 1:]))
    return out


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = open_store(f"sqlite:///{tmp_path / 'store.db'}")
    try:
        yield opened
    finally:
        opened.dispose()


def test_name_candidates_by_key_are_what_the_full_scan_finds(store: Store) -> None:
    rnd = random.Random(18)
    names = sorted({f"{rnd.choice(FIRST)} {rnd.choice(LAST)}" for _ in range(400)}) + ["J. D.", "A B C"]
    with store.session() as s:
        for i, name in enumerate(names):
            add_order(s, f"c{i}@mail.example", name, f"G{i}", [("SKU", "Thing", "10.00", 1)],
                      placed=days_ago(rnd.randrange(5, 400)), delivered=None)
        # A renamed customer is found under the new name only (the keys follow the name).
        renamed = s.scalars(select(Customer).where(Customer.email == "c0@mail.example")).one()
        renamed.name = "Philippa Quarterman"
    since = days_ago(300)
    probes = [v for name in names[::7] for v in variants(name, rnd)]
    probes += ["Philippa Quartermann", names[0], "Zz Top", "j d", "ab c", "Mary", "Jean Luc Dubois", "X"]
    compared = 0
    with store.session() as s:
        recent = s.execute(select(Customer.id, Customer.name).where(
            select(Order.id).where(Order.customer_id == Customer.id, Order.placed_at >= since).exists())).all()
        for probe in probes:
            expected = {cid: fit for cid, name in recent if (fit := name_similarity(probe, name))[0] >= 0.5}
            assert name_candidates(s, probe, since, 0.5) == expected, probe
            compared += len(expected)
        assert s.scalar(select(CustomerNameKey.customer_id).where(CustomerNameKey.key == "w:philippa")) == renamed.id
    assert compared > len(probes)  # the probes do find people: the comparison is not of empty sets


def _config() -> Config:
    return Config.model_validate({"bot": {"shop_name": "Kestrel Lane", "dry_run": True},
                                  "policy": {"daily_budget": 400, "monthly_budget": 2000}})


def test_an_orders_sync_matches_the_waiting_case_whose_order_arrived_and_no_other(store: Store) -> None:
    config = _config()
    with store.session() as s:
        add_order(s, "someone@mail.example", "Petra Nilsson", "K-1", [("LMP-1", "Desk Lamp", "24.00", 1)],
                  placed=days_ago(30), delivered=days_ago(25))
        add_mention(s, "waits", "My glass kettle cracked on the second day, water everywhere on the counter.",
                    "damaged", source="trustpilot", kind="trustpilot", published=days_ago(2),
                    author_name="Tomas Berglund", product_name="Glass Kettle")
        add_mention(s, "other", "The bluetooth speaker crackles at any volume, it is unusable after a week.",
                    "defective", source="trustpilot", kind="trustpilot", published=days_ago(3),
                    author_name="Ulla Krantz", product_name="Bluetooth Speaker")
    first = process(store, config, now=NOW)
    assert first.opened == 2 and first.rematched == 0
    with store.session() as s:
        waiting = {c.mention.external_id: (c.id, c.updated_at) for c in s.scalars(select(Case))}
        assert all(c.order_id is None for c in s.scalars(select(Case)))

    # The sync brings Tomas's order (placed before his review) and changes an unrelated order.
    with store.session() as s:
        upsert_order(s, "csv", ParsedOrder(
            number="K-2", placed_at=days_ago(12), email="tomas.b@mail.example", name="Tomas Berglund",
            fulfillment_status="fulfilled", tracking_status="delivered", delivered_at=days_ago(8),
            lines=[ParsedLine(name="Glass Kettle", sku="KET-2", quantity=1, unit_price=Decimal("39.00"))]))
        upsert_order(s, "csv", ParsedOrder(
            number="K-1", placed_at=days_ago(30), email="someone@mail.example", name="Petra Nilsson",
            fulfillment_status="fulfilled", tracking_status="returned", delivered_at=days_ago(25),
            lines=[ParsedLine(name="Desk Lamp", sku="LMP-1", quantity=1, unit_price=Decimal("24.00"))]))
    second = process(store, config, now=NOW)
    assert second.rematched == 1, second.lines()
    with store.session() as s:
        cases = {c.mention.external_id: c for c in s.scalars(select(Case))}
        assert cases["waits"].order is not None and cases["waits"].order.number == "K-2"
        assert cases["other"].order_id is None
        # Seen against the new orders without being matched again: no audit row, and not rewritten
        # either: one mark says what every waiting case has been matched against.
        assert cases["other"].updated_at == waiting["other"][1]
        mark = s.get(Meta, "rematch_seen")
        assert mark is not None and datetime.fromisoformat(mark.value) == s.scalar(select(func.max(Order.updated_at)))
        assert [a.case_id for a in s.scalars(select(AuditLog).where(AuditLog.action == "rematched"))] == [
            cases["waits"].id]
    # Nothing changed since: nobody is matched again.
    assert process(store, config, now=NOW).rematched == 0


def test_listings_stream_in_batches_with_the_same_rows(store: Store) -> None:
    import io

    from bot.cli import _print_json, _stream_json
    from bot.collect import iter_mentions, list_mentions
    from bot.decide.staff import iter_cases, list_cases

    config = _config()
    with store.session() as s:
        for i in range(23):
            add_mention(s, f"m{i}", f"Complaint number {i}: the lamp flickers and then dies, every single evening.",
                        "defective", published=days_ago(1 + i / 10), author_name=f"Person {i}",
                        author_email=f"p{i}@mail.example")
    assert process(store, config, now=NOW).opened == 23
    whole = list_cases(store)
    assert [c["id"] for c in whole] == sorted((c["id"] for c in whole), reverse=True) and len(whole) == 23
    assert list(iter_cases(store, batch=5)) == whole  # batches of 5: keyset paging loses and repeats nothing
    assert list(iter_mentions(store, batch=4)) == list_mentions(store) and len(list_mentions(store)) == 23
    streamed, printed = io.StringIO(), io.StringIO()
    _stream_json(iter_cases(store, batch=4), streamed)
    _print_json(whole, printed)
    assert streamed.getvalue() == printed.getvalue()


def test_help_needs_no_database_library_and_check_no_scorer() -> None:
    """`--help` lists the case states without importing SQLAlchemy; reading a config loads no scorer."""
    import subprocess
    import sys

    from bot.cli import CASE_STATUSES
    from bot.store import CaseStatus

    assert tuple(s.value for s in CaseStatus) == CASE_STATUSES
    probe = ("import sys; from bot.cli import main\n"
             "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
             "print('sqlalchemy' in sys.modules)\n"
             "import bot.config\n"
             "print(any(m in sys.modules for m in ('bot.scoring.scorer', 'numpy', 'textblob', 'nltk')))\n")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.split()[-2:] == ["False", "False"], out.stdout[-500:]


def test_check_loads_no_database_library_nor_scorer(tmp_path: Path) -> None:
    """`check` reads and validates a config with sources, orders, adapters, digest and alerts: it
    needs neither SQLAlchemy nor the scorer, so it must not pay for importing them (issue 18)."""
    import subprocess
    import sys

    from bot.cli import main

    config = tmp_path / "config.toml"
    assert main(["init", str(config)]) == 0
    config.write_text(config.read_text(encoding="utf-8") + """
[[sources]]
name = "shop"
kind = "schema_org"
urls = ["https://shop.example/products/lamp"]
sitemap = "https://shop.example/sitemap.xml"

[[sources]]
name = "reddit"
kind = "reddit"
subreddits = ["BuyItForLife"]
keywords = ["Kestrel"]

[[fulfilment]]
name = "hook"
kind = "webhook"
url = "https://hooks.shop.example/remedy"

[[fulfilment]]
name = "woo"
kind = "woocommerce"
url = "https://shop.example"
""", encoding="utf-8")
    probe = ("import sys; from bot.cli import main\n"
             f"code = main(['--config', {str(config)!r}, 'check'])\n"
             "print('exit', code)\n"
             "print('loaded', sorted(m for m in ('sqlalchemy', 'alembic', 'bot.store', 'bot.scoring.scorer', "
             "'numpy', 'textblob', 'nltk') if m in sys.modules))\n")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True,
                         cwd=tmp_path)
    assert "exit 0" in out.stdout and ": valid" in out.stdout, out.stdout[-2000:] + out.stderr[-2000:]
    assert out.stdout.splitlines()[-1] == "loaded []", out.stdout[-500:]


def test_customers_imported_from_orders_get_their_name_keys(tmp_path: Path) -> None:
    """The orders import inserts customers with INSERT ... ON CONFLICT (two workers may import the
    same buyer), which runs no ORM events: the name keys matching looks customers up by must still
    be written, or a reviewer who signs with their name is never matched."""
    from sqlalchemy import select

    from bot.orders import import_file
    from connectors.orders import OrdersConfig
    from bot.store import CustomerNameKey, open_store
    from bot.store.keys import customer_name_keys

    orders = tmp_path / "orders.csv"
    orders.write_text("order_number,order_date,customer_email,customer_name,sku,product_name,quantity,unit_price\n"
                      "K-1,2026-11-20T10:00:00Z,greta.lindqvist@mail.example,Greta Lindqvist,MUG-1,Mug,1,12.00\n",
                      encoding="utf-8")
    store = open_store(f"sqlite:///{tmp_path / 'store.db'}", tmp_path, create=True)
    try:
        assert import_file(store, orders, OrdersConfig(kind="csv")).created == 1
        with store.session() as s:
            keys = set(s.scalars(select(CustomerNameKey.key)))
        assert set(customer_name_keys("Greta Lindqvist")) <= keys and keys
    finally:
        store.dispose()


def _common_names(s: Session) -> None:
    """Twelve Adas and twelve Bergs, one Ada Berg: more than the lookup's bound of five share a word."""
    for i in range(12):
        add_order(s, f"ada{i}@mail.example", f"Ada {LAST[i]}", f"A-{i}", [("MUG-1", "Travel Mug", "15.00", 1)],
                  placed=days_ago(20), delivered=days_ago(15))
        add_order(s, f"berg{i}@mail.example", f"{FIRST[i]} Berg", f"B-{i}", [("MUG-1", "Travel Mug", "15.00", 1)],
                  placed=days_ago(20), delivered=days_ago(15))
    add_order(s, "ada.berg@mail.example", "Ada Berg", "K-1", [("KET-2", "Glass Kettle", "39.00", 1)],
              placed=days_ago(20), delivered=days_ago(15))


def test_a_common_name_is_looked_up_by_first_and_last_name(store: Store) -> None:
    with store.session() as s:
        _common_names(s)
    since = days_ago(300)
    with store.session() as s:
        # More customers share a word than the bound: the pair keys find what comparing them all finds.
        for probe in ["Ada Berg", "Berg Ada", "ADA BERG", "Ada B.", "A. Berg", "Ada Bergg", "Adda Berg", "Ada Brg"]:
            assert len(name_candidates(s, probe, since, 0.5)) >= 1, probe
            assert bounded_name_candidates(s, probe, since, 0.5, 5) == name_candidates(s, probe, since, 0.5), probe
        # Under the bound nothing changes at all.
        assert bounded_name_candidates(s, "Ada Berg", since, 0.5, 100) == name_candidates(s, "Ada Berg", since, 0.5)
        config = MatchConfig(name_candidates=5)
        mention = add_mention(s, "m1", "My glass kettle cracked on the second day, water everywhere.", "damaged",
                              source="trustpilot", kind="trustpilot", published=days_ago(2),
                              author_name="Ada Berg", product_name="Glass Kettle")
        result = match_mention(s, mention, config, issue="damaged", now=NOW)
        assert result.matched and result.order_id == s.scalars(select(Order.id).where(Order.number == "K-1")).one()


def test_a_name_too_common_to_look_up_waits_with_the_reason(store: Store) -> None:
    config = Config.model_validate({"bot": {"shop_name": "Kestrel Lane", "dry_run": True},
                                    "policy": {"daily_budget": 400, "monthly_budget": 2000},
                                    "matching": {"name_candidates": 5}})
    with store.session() as s:
        _common_names(s)
        add_mention(s, "ada", "The travel mug leaks from the lid, my bag is soaked every morning.", "defective",
                    source="trustpilot", kind="trustpilot", published=days_ago(2), author_name="Ada",
                    product_name="Travel Mug")
        add_mention(s, "known", "The travel mug leaks from the lid, coffee all over my desk today.", "defective",
                    published=days_ago(2), author_name="Ada", author_email="ada3@mail.example",
                    product_name="Travel Mug")
    process(store, config, now=NOW)
    with store.session() as s:
        cases = {c.mention.external_id: c for c in s.scalars(select(Case))}
        # Twelve Adas bought a mug: the name alone cannot say which; the case says so and waits.
        assert cases["ada"].order_id is None
        assert any("fits more than 5 customers" in r for r in cases["ada"].match_reasons), cases["ada"].match_reasons
        # The verified email still says who it is, and the name still counts for that customer.
        assert cases["known"].order is not None and cases["known"].order.number == "A-3"
        assert any("'Ada' ~ 'Ada Nguyen'" in r for r in cases["known"].match_reasons), cases["known"].match_reasons


def _pending_index_rows(store: Store) -> set[int]:
    """The mentions the pending lookup's partial index holds (its WHERE, read by that index)."""
    with store.session() as s:
        return set(s.scalars(select(Assessment.mention_id).where(
            Assessment.unhappy.is_(True), Assessment.scored.is_(True), Assessment.linked.is_(False))))


def test_a_linked_mention_leaves_the_pending_lookup(store: Store) -> None:
    """The lookup of mentions not yet in a case reads only what is new (issue 18): a mention that
    joins a case is marked, and one put in a case by other code is marked by the next lookup."""
    config = _config()
    with store.session() as s:
        first = add_mention(s, "first", "The glass kettle cracked on the second day, water everywhere.",
                            "damaged", published=days_ago(2), author_email="a@mail.example")
        again = add_mention(s, "again", "Still cracked, and the glass kettle leaks on the counter too.",
                            "damaged", published=days_ago(1), author_email="a@mail.example")
        add_mention(s, "happy", "Lovely lamp.", "none", published=days_ago(1), unhappy=False)
    assert _pending_index_rows(store) == {first.id, again.id}
    summary = process(store, config, now=NOW)
    assert summary.opened == 1 and summary.merged == 1
    assert _pending_index_rows(store) == set()
    with store.session() as s:
        plan = " ".join(str(row[-1]) for row in s.execute(text(
            "EXPLAIN QUERY PLAN SELECT mention_id FROM assessment WHERE unhappy IS 1 AND scored IS 1 AND linked IS 0")))
        assert "ix_assessment_unlinked" in plan
        # Linked by hand (as an older version or a test would): the flag is only a hint.
        late = add_mention(s, "late", "The desk lamp flickers and then dies, every single evening.",
                           "defective", published=days_ago(1), author_email="b@mail.example")
        case = Case(subject_key="hand", issue="defective", status="unmatched", mention_id=late.id, created_at=NOW)
        s.add(case)
        s.flush()
        s.add(CaseMention(case_id=case.id, mention_id=late.id))
    assert _pending_index_rows(store) == {late.id}
    summary = process(store, config, now=NOW)
    assert summary.linked == 0 and summary.opened == 0  # case_mention says it is in a case
    assert _pending_index_rows(store) == set()  # and it is out of the index for the next lookups


def test_upgrade_marks_the_mentions_already_in_a_case(tmp_path: Path) -> None:
    """A store from before 0015: its linked mentions are marked by the migration, the others are
    still found and linked by the next process."""
    url = f"sqlite:///{tmp_path / 'old.db'}"
    old = open_store(url, upgrade=False)
    try:
        migrate(old.engine, "0014_proc")
        with old.session() as s:
            ids = []
            for n in range(3):
                body = f"The travel mug number {n} leaks all over my bag, the lid is useless."
                mention = Mention(source="shop", source_kind="schema_org", external_id=f"m{n}", text=body,
                                  fingerprint=fingerprint(body), author_email=f"buyer{n}@mail.example",
                                  published_at=days_ago(3 - n), collected_at=days_ago(3 - n), raw={})
                s.add(mention)
                s.flush()
                ids.append(mention.id)
                s.execute(text("INSERT INTO assessment (mention_id, sentiment, unhappy, issue, confidence, cues, "
                               "scored_at, scored) VALUES (:m, -0.8, 1, 'defective', 0.9, '[]', :at, 1)"),
                          {"m": mention.id, "at": days_ago(1).isoformat()})
            case = Case(subject_key="old", issue="defective", status="unmatched", mention_id=ids[0],
                        created_at=days_ago(2))
            s.add(case)
            s.flush()
            s.add(CaseMention(case_id=case.id, mention_id=ids[0]))
    finally:
        old.dispose()
    store = open_store(url)
    try:
        assert _pending_index_rows(store) == set(ids[1:])
        with store.session() as s:
            indexes = set(s.scalars(text("SELECT name FROM sqlite_master WHERE type = 'index'")))
            assert "ix_assessment_unlinked" in indexes and "ix_assessment_pending" not in indexes
        summary = process(store, _config(), now=NOW)
        assert summary.linked == 2 and summary.opened == 2
        assert _pending_index_rows(store) == set()
    finally:
        store.dispose()


def test_a_text_copied_by_many_names_the_nearest_copies_only(store: Store) -> None:
    """The copy guard reads at most COPIES_SHOWN other cases each way (issue 18: a text copied
    thousands of times must not make each of its cases read all the others)."""
    from bot.decide.cases import COPIES_SHOWN

    config = _config()
    body = "The desk lamp flickers for a minute and then it dies, every single evening since I got it."
    with store.session() as s:
        for n in range(COPIES_SHOWN + 3):
            add_mention(s, f"copy{n}", body, "defective", published=days_ago(2 - n / 100),
                        author_name=None, author_email=f"copy{n}@mail.example")
    process(store, config, now=NOW)
    with store.session() as s:
        cases = s.scalars(select(Case).order_by(Case.id)).all()
        assert len(cases) == COPIES_SHOWN + 3  # other people: a case each
        first, last = cases[0], cases[-1]
        assert first.approval_reason and "also posted by at least 10 other people" in first.approval_reason
        named = [f"#{c.id}" for c in cases[1:COPIES_SHOWN + 1]]
        assert f"(case {', '.join(named)}, and more)" in first.approval_reason
        assert last.approval_reason and "posted earlier by someone else" in last.approval_reason
        assert f"#{cases[2].id}," in last.approval_reason and f"#{cases[1].id}," not in last.approval_reason
