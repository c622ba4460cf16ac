"""The buyer is told once per case, whichever adapter delivers the remedies (bot.notices).

Real servers throughout: the warehouse csv file, an aiosmtpd SMTP server for the buyer's email, a
local HTTP server standing in for WooCommerce's REST API.
"""

from __future__ import annotations

import email
import email.policy
import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from bot.config import Config
from bot.errors import ConfigError
from bot.notices import notices_of, told_text
from bot.store import AuditLog, Customer, Notice, Remedy, Store
from tests.decide_world import NOW
from tests.httpserver import LocalServer, Request, Route
from tests.test_outbox import (
    Sink,
    _free_port,
    dispatch,
    key,
    make,
    read_csv,
    seed_defective,
    seed_wrong_item,
)


@pytest.fixture
def opened() -> Iterator[list[Store]]:
    stores: list[Store] = []
    yield stores
    for store in stores:
        store.dispose()


@pytest.fixture
def smtp() -> Iterator[tuple[Sink, int]]:
    sink = Sink()
    port = _free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield sink, port
    finally:
        controller.stop()


def smtp_section(port: int) -> str:
    return (f'[digest]\nsmtp_host = "127.0.0.1"\nsmtp_port = {port}\nsmtp_security = "none"\nsmtp_timeout = 5\n'
            'sender = "care@kestrel.example"\n')


WAREHOUSE_AND_BUYER = ('[[fulfilment]]\nname = "tell-the-buyer"\nkind = "customer_email"\n\n'
                       '[[fulfilment]]\nname = "warehouse"\nkind = "csv"\n\n')


def world(tmp_path: Path, opened: list[Store], port: int, extra: str = "") -> tuple[Store, Config]:
    return make(tmp_path, opened, WAREHOUSE_AND_BUYER + smtp_section(port) + extra)


def plain_of(data: bytes) -> tuple[Any, str]:
    msg = email.message_from_bytes(data, policy=email.policy.default)
    body = msg.get_body(preferencelist=("plain",))
    assert body is not None
    return msg, body.get_content()


def notices(store: Store) -> list[Notice]:
    with store.session() as s:
        rows = list(s.query(Notice).order_by(Notice.id))
        s.expunge_all()
        return rows


def test_a_replacement_sent_by_the_warehouse_is_explained_to_the_buyer_once(
        tmp_path: Path, opened: list[Store], smtp: tuple[Sink, int]) -> None:
    sink, port = smtp
    store, config = world(tmp_path, opened, port)
    seed_defective(store)
    summary = dispatch(store, config)
    assert summary.dispatched == 1 and summary.told == 1, summary.errors
    assert "  1 buyer(s) told why their remedy comes" in summary.lines()
    [row] = read_csv(tmp_path / "remedies.csv")
    assert row["kind"] == "replacement"  # the warehouse sends the parcel...
    [(rcpts, data)] = sink.messages  # ...and the buyer learns why, by email
    assert rcpts == ["cu0@mail.example"]
    msg, plain = plain_of(data)
    notice_key = key(store, 1, 0, "replacement").removesuffix("replacement") + "notice"
    assert msg["Message-ID"] == f"<{notice_key}.note@kestrel.example>"
    assert msg["Subject"] == "About your order K-100"
    assert plain.startswith("Hello Cora,") and "new Pocket Fan is on its way to you" in plain
    assert plain.splitlines() == row["note"].splitlines()  # the very note the warehouse has
    [notice] = notices(store)
    assert notice.status == "sent" and notice.channel == "tell-the-buyer" and notice.method == "email"
    assert notice.idempotency_key == notice_key and notice.attempts == 1
    # Later runs tell nobody again.
    again = dispatch(store, config, at=NOW + timedelta(hours=2))
    assert again.told == 0 and len(sink.messages) == 1 and len(notices(store)) == 1
    with store.session() as s:
        assert [a.detail["channel"] for a in s.query(AuditLog).filter_by(action="buyer_told")] == ["tell-the-buyer"]


def test_a_notice_waits_until_every_remedy_of_the_case_is_delivered(
        tmp_path: Path, opened: list[Store], smtp: tuple[Sink, int]) -> None:
    sink, port = smtp
    store, config = world(tmp_path, opened, port)
    seed_wrong_item(store, config)  # refund + shipping credit (warehouse) + keep the item (buyer's email)
    with store.session() as s:
        # the refund's first attempt is still out (another dispatcher holds its lease)
        s.query(Remedy).filter_by(kind="refund").update({"attempts": 1, "next_attempt_at": NOW + timedelta(minutes=5)})
    first = dispatch(store, config)
    assert first.dispatched == 2 and first.told == 0
    # keep_item itself goes to the buyer's email adapter (its whole effect is words): one message so far
    assert len(sink.messages) == 1
    assert notices(store) == []
    later = dispatch(store, config, at=NOW + timedelta(minutes=6))
    assert later.dispatched == 1, later.errors
    [notice] = notices(store)
    assert notice.status == "sent"
    # the note the buyer already had (same case, same note) is not mailed a second time
    assert len(sink.messages) == 1
    _msg, plain = plain_of(sink.messages[0][1])
    assert "full refund" in plain and "shipping costs" in plain and "keep what we sent you by mistake" in plain
    assert "(already sent)" in (notice.reference or "")


def test_a_notice_is_never_sent_twice_when_the_process_dies_after_sending(
        tmp_path: Path, opened: list[Store], smtp: tuple[Sink, int]) -> None:
    sink, port = smtp
    store, config = world(tmp_path, opened, port)
    seed_defective(store, 2)
    dispatch(store, config)
    assert len(sink.messages) == 2
    with store.session() as s:
        # Notice 1: mailed, then the process was killed before it recorded that: queued again.
        s.query(Notice).filter_by(id=1).update({"status": "queued", "sent_at": None, "next_attempt_at": None})
        # Notice 2: claimed by a dispatcher that is still sending (its lease runs): not touched.
        s.query(Notice).filter_by(id=2).update({"status": "queued", "sent_at": None,
                                                "next_attempt_at": NOW + timedelta(minutes=5)})
    again = dispatch(store, config, at=NOW + timedelta(minutes=1))
    assert again.told == 1 and len(sink.messages) == 2, again.errors
    by_id = {n.id: n for n in notices(store)}
    assert by_id[1].status == "sent" and by_id[1].attempts == 2 and "(already sent)" in (by_id[1].reference or "")
    assert by_id[2].status == "queued" and by_id[2].attempts == 1
    # Its lease runs out: delivered by the next run, still once (the ledger has it).
    dispatch(store, config, at=NOW + timedelta(minutes=6))
    assert len(sink.messages) == 2 and {n.status for n in notices(store)} == {"sent"}


def test_a_buyer_without_an_email_address_is_not_told_and_the_digest_says_why(
        tmp_path: Path, opened: list[Store], smtp: tuple[Sink, int]) -> None:
    sink, port = smtp
    store, config = world(tmp_path, opened, port)
    seed_defective(store)
    with store.session() as s:
        for customer in s.query(Customer):
            customer.email = ""
    summary = dispatch(store, config)
    assert summary.dispatched == 1 and summary.told == 0 and sink.messages == []
    [notice] = notices(store)
    assert notice.status == "not_told" and notice.last_error == "no email address"
    with store.session() as s:
        remedy = s.query(Remedy).one()
        text = told_text(remedy, notices_of(s, [remedy.case_id]), config, lambda at: f"{at:%d %b}" if at else "")
    assert text == "buyer not told: no email address"


def test_the_digest_says_how_and_when_the_buyer_was_told(
        tmp_path: Path, opened: list[Store], smtp: tuple[Sink, int]) -> None:
    _sink, port = smtp
    store, config = world(tmp_path, opened, port)
    seed_defective(store)

    def told() -> str:
        with store.session() as s:
            remedy = s.query(Remedy).one()
            return told_text(remedy, notices_of(s, [remedy.case_id]), config,
                             lambda at: f"{at.day} {at:%b}" if at else "")

    assert told() == "buyer not told yet"
    dispatch(store, config)
    assert told() == f"buyer told by email on {NOW.day} {NOW:%b}"


def test_nobody_to_tell_them_and_switched_off_are_said_in_words(tmp_path: Path, opened: list[Store]) -> None:
    store, config = make(tmp_path, opened, '[[fulfilment]]\nname = "warehouse"\nkind = "csv"')
    seed_defective(store)
    summary = dispatch(store, config)
    assert summary.dispatched == 1 and summary.told == 0 and notices(store) == []
    with store.session() as s:
        remedy = s.query(Remedy).one()
        found = notices_of(s, [remedy.case_id])
        assert told_text(remedy, found, config, str) == (
            "buyer not told: no way to email buyers is set up (a customer_email adapter)")
        off = config.model_copy(update={"notify": config.notify.model_copy(update={"tell_buyer": "off"})})
        assert told_text(remedy, found, off, str) == "buyer not told by recoverybot (telling buyers is switched off)"


def test_tell_buyer_off_sends_no_notice(tmp_path: Path, opened: list[Store], smtp: tuple[Sink, int]) -> None:
    sink, port = smtp
    store, config = world(tmp_path, opened, port, '\n[notify]\ntell_buyer = "off"\n')
    seed_defective(store)
    assert dispatch(store, config).dispatched == 1
    assert sink.messages == [] and notices(store) == []


def test_tell_buyer_must_name_a_customer_email_entry(tmp_path: Path, opened: list[Store]) -> None:
    with pytest.raises(ConfigError, match=r"tell_buyer = 'buyers'.*no \[\[fulfilment\]\] entry has that name"):
        make(tmp_path, opened, '[[fulfilment]]\nname = "warehouse"\nkind = "csv"\n\n[notify]\ntell_buyer = "buyers"')
    with pytest.raises(ConfigError, match=r"tell_buyer = 'warehouse' is a csv entry"):
        make(tmp_path, opened, '[[fulfilment]]\nname = "warehouse"\nkind = "csv"\n\n[notify]\ntell_buyer = "warehouse"')


def test_a_failed_remedy_is_not_announced(tmp_path: Path, opened: list[Store], smtp: tuple[Sink, int]) -> None:
    sink, port = smtp
    with LocalServer({"/hook": Route(status=400, body="no")}) as hook:
        store, config = make(tmp_path, opened, '[[fulfilment]]\nname = "tell-the-buyer"\nkind = "customer_email"\n\n'
                             f'[[fulfilment]]\nname = "hook"\nkind = "webhook"\nurl = "{hook.url("/hook")}"\n\n'
                             + smtp_section(port))
        seed_defective(store)
        summary = dispatch(store, config)
    assert summary.failed == 1 and summary.told == 0 and sink.messages == [] and notices(store) == []
    with store.session() as s:
        remedy = s.query(Remedy).one()
        assert told_text(remedy, notices_of(s, [remedy.case_id]), config, str) == (
            "buyer not told: a remedy of this case failed")


def test_woocommerce_shop_note_tells_the_buyer_once(tmp_path: Path, opened: list[Store], smtp: tuple[Sink, int],
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    sink, port = smtp
    monkeypatch.setenv("RB_WC_KEY", "ck_test")
    monkeypatch.setenv("RB_WC_SECRET", "cs_test")
    made: list[dict[str, Any]] = []

    def notes(request: Request) -> Route:
        if request.method == "POST":
            body = json.loads(request.body)
            made.append({"id": 80 + len(made), "note": body["note"].replace("\n", "<br />\n"),
                         "customer_note": body["customer_note"]})
            return Route(status=201, body=json.dumps(made[-1]), content_type="application/json")
        wanted = [n for n in made if n["customer_note"]] if request.arg("type") == "customer" else made
        return Route(body=json.dumps(wanted), content_type="application/json")

    routes: dict[str, Any] = {
        "/wp-json/wc/v3/orders/5000": json.dumps({"id": 5000, "customer_id": 42, "billing": {}, "shipping": {}}),
        "/wp-json/wc/v3/products": '[{"id": 77, "sku": "FAN-01"}]',
        "/wp-json/wc/v3/orders": Route(status=201, body='{"id": 9001}', content_type="application/json"),
        "/wp-json/wc/v3/orders/5000/notes": notes,
    }
    with LocalServer(routes) as srv:
        store, config = make(tmp_path, opened, (
            f'[[fulfilment]]\nname = "shop"\nkind = "woocommerce"\nurl = "{srv.base}"\n'
            'consumer_key_env = "RB_WC_KEY"\nconsumer_secret_env = "RB_WC_SECRET"\n\n'
            + WAREHOUSE_AND_BUYER + smtp_section(port) + '\n[notify]\nshop_notes = true\n'))
        seed_defective(store)
        with store.session() as s:
            order = s.query(Remedy).one().case.order
            assert order is not None
            order.origin = "woocommerce"
        summary = dispatch(store, config)
        assert summary.dispatched == 1 and summary.told == 1, summary.errors
        [posted] = [r for r in srv.requests if r.method == "POST" and r.path.endswith("/notes")]
        body = json.loads(posted.body)
        assert body["customer_note"] is True and body["note"].startswith("Hello Cora,")
        assert sink.messages == []  # the shop's own email carries it, not ours
        [notice] = notices(store)
        assert notice.method == "shop_note" and notice.channel == "shop" and notice.reference == "order note 80"
        # Killed after WooCommerce made the note, before we recorded it: the retry finds it.
        with store.session() as s:
            s.query(Notice).update({"status": "queued", "next_attempt_at": None})
        dispatch(store, config, at=NOW + timedelta(minutes=1))
        assert len(made) == 1
        [notice] = notices(store)
        assert notice.status == "sent" and notice.reference == "order note 80 (made by an earlier attempt)"
        with store.session() as s:
            remedy = s.query(Remedy).one()
            assert told_text(remedy, notices_of(s, [remedy.case_id]), config, lambda at: "2 Dec") == (
                "buyer told by a note on their shop order on 2 Dec")
