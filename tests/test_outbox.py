"""The outbox and its adapters against real local servers: csv file, webhook, SMTP, WooCommerce, Shopify."""

from __future__ import annotations

import base64
import csv
import email
import email.policy
import json
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller

from bot.decide.cases import process
from bot.decide.staff import approve, list_cases
from bot.config import Config, loads
from bot.errors import ConfigError, SecretMissing
from bot.report.mailer import Mailer
from bot.outbox import dispatch_due, idempotency_key, install_id
from connectors.fulfilment import check_fulfilment, is_address, sign, verify
from bot.store import AuditLog, BudgetPeriod, Customer, Remedy, Store, open_store
from tests.decide_world import NOW, add_mention, add_order, days_ago
from tests.httpserver import LocalServer, Request, Route


def setup(tmp_path: Path, fulfilment: str, policy: str = "") -> tuple[Store, Config]:
    text = f"""
[bot]
database = "sqlite:///store.db"
shop_name = "Kestrel Lane"

[policy]
retry_backoff = 60
max_attempts = 3
{policy}

{fulfilment}
"""
    (tmp_path / "config.toml").write_text(text, encoding="utf-8")
    config = loads(text, path=tmp_path / "config.toml")
    return open_store(config.bot.database, config.base_dir), config


def seed_defective(store: Store, n: int = 1) -> None:
    with store.session() as s:
        for i in range(n):
            add_order(s, f"cu{i}@mail.example", f"Cora Number{i}", f"K-{100 + i}",
                      [("FAN-01", "Pocket Fan", "12.00", 1)], placed=days_ago(10), delivered=days_ago(7),
                      extra={"id": 5000 + i})
            add_mention(s, f"d{i}", f"My pocket fan {i} stopped working on day two.", "defective",
                        published=days_ago(1), author_email=f"cu{i}@mail.example")
    process(store, _config_of(store), now=NOW)


_CONFIGS: dict[int, Config] = {}


def _config_of(store: Store) -> Config:
    return _CONFIGS[id(store)]


@pytest.fixture
def opened() -> Iterator[list[Store]]:
    stores: list[Store] = []
    yield stores
    for store in stores:
        store.dispose()


def make(tmp_path: Path, opened: list[Store], fulfilment: str, policy: str = "") -> tuple[Store, Config]:
    store, config = setup(tmp_path, fulfilment, policy)
    opened.append(store)
    _CONFIGS[id(store)] = config
    return store, config


def key(store: Store, case_id: int, index: int, kind: str) -> str:
    """The idempotency key the outbox gives this remedy in this database."""
    with store.session() as s:
        return idempotency_key(install_id(s), case_id, index, kind)


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def dispatch(store: Store, config: Config, *, at: Any = NOW, mailer: Mailer | None = None) -> Any:
    with httpx.Client() as client:
        return dispatch_due(store, config, client=client, mailer=mailer, now=at)


# --- csv ----------------------------------------------------------------------------------------


def test_csv_appends_one_row_per_remedy_once(tmp_path: Path, opened: list[Store]) -> None:
    store, config = make(tmp_path, opened, '[[fulfilment]]\nname = "wh"\nkind = "csv"\npath = "out/warehouse.csv"')
    seed_defective(store, 2)
    assert dispatch(store, config).dispatched == 2
    rows = read_csv(tmp_path / "out" / "warehouse.csv")
    assert [r["order_number"] for r in rows] == ["K-100", "K-101"]
    assert rows[0]["kind"] == "replacement" and rows[0]["sku"] == "FAN-01" and rows[0]["amount"] == "17.00"
    assert rows[0]["note"].startswith("Hello Cora,") and rows[0]["idempotency_key"] == key(store, 1, 0, "replacement")
    # At-least-once: the same remedy delivered again (a crash after the write) adds no second row.
    with store.session() as s:
        s.query(Remedy).update({"status": "queued", "next_attempt_at": None})
    dispatch(store, config)
    again = read_csv(tmp_path / "out" / "warehouse.csv")
    assert len(again) == 2


# --- webhook -------------------------------------------------------------------------------------


def test_webhook_signs_body_and_retries_with_backoff_then_succeeds(tmp_path: Path, opened: list[Store],
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RB_HOOK_SECRET", "s3cret-for-tests")
    answers = [Route(status=503, body="busy"), Route(status=500, body="oops"), Route(status=200, body="{}")]
    with LocalServer({"/hook": answers}) as srv:
        store, config = make(tmp_path, opened, f'[[fulfilment]]\nname = "wh"\nkind = "webhook"\nurl = "{srv.url("/hook")}"\n'
                             'secret_env = "RB_HOOK_SECRET"\nheaders = { "X-Shop" = "kestrel" }')
        seed_defective(store)
        first = dispatch(store, config)
        assert first.retrying == 1 and "HTTP 503" in first.errors[0]
        assert dispatch(store, config, at=NOW + timedelta(seconds=30)).retrying == 0  # not due yet
        assert dispatch(store, config, at=NOW + timedelta(seconds=61)).retrying == 1
        with store.session() as s:
            remedy = s.query(Remedy).one()
            assert remedy.attempts == 2 and remedy.next_attempt_at == NOW + timedelta(seconds=61 + 120)
        assert dispatch(store, config, at=NOW + timedelta(seconds=200)).dispatched == 1
        assert len(srv.requests) == 3
        keys = {r.headers["idempotency-key"] for r in srv.requests}
        assert keys == {key(store, 1, 0, "replacement")}
        last = srv.requests[-1]
        stamp = last.headers["x-recoverybot-timestamp"]
        assert last.headers["x-recoverybot-signature"] == sign("s3cret-for-tests", last.body, int(stamp))
        assert verify("s3cret-for-tests", last.body, stamp, last.headers["x-recoverybot-signature"])
        assert last.headers["x-shop"] == "kestrel"
        assert json.loads(last.body)["customer"]["email"] == "cu0@mail.example"
        assert list_cases(store)[0]["status"] == "dispatched"


def test_webhook_gives_up_after_max_attempts_releases_budget_and_logs(tmp_path: Path, opened: list[Store]) -> None:
    with LocalServer({"/hook": Route(status=502, body="bad gateway")}) as srv:
        store, config = make(tmp_path, opened, f'[[fulfilment]]\nname = "wh"\nkind = "webhook"\nurl = "{srv.url("/hook")}"')
        seed_defective(store)
        with store.session() as s:
            assert s.get(BudgetPeriod, "day:2026-03-10").reserved == 17  # type: ignore[union-attr]
        for minutes in (0, 2, 5):
            dispatch(store, config, at=NOW + timedelta(minutes=minutes))
        case = list_cases(store)[0]
        assert case["status"] == "failed"
        assert case["remedies"][0]["status"] == "failed" and case["remedies"][0]["attempts"] == 3
        assert "HTTP 502" in case["remedies"][0]["last_error"]
        with store.session() as s:
            assert s.get(BudgetPeriod, "day:2026-03-10").reserved == 0  # type: ignore[union-attr]
            assert s.query(AuditLog).filter_by(action="remedy_failed").count() == 1
        assert len(srv.requests) == 3


def test_webhook_client_error_fails_at_once(tmp_path: Path, opened: list[Store]) -> None:
    with LocalServer({"/hook": Route(status=400, body="bad json")}) as srv:
        store, config = make(tmp_path, opened, f'[[fulfilment]]\nname = "wh"\nkind = "webhook"\nurl = "{srv.url("/hook")}"')
        seed_defective(store)
        summary = dispatch(store, config)
        assert summary.failed == 1 and "HTTP 400" in summary.lines()[1]


def test_missing_secret_stops_dispatch_before_claiming(tmp_path: Path, opened: list[Store],
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RB_ABSENT_SECRET", raising=False)
    store, config = make(tmp_path, opened, '[[fulfilment]]\nname = "wh"\nkind = "webhook"\n'
                         'url = "http://127.0.0.1:9/x"\nsecret_env = "RB_ABSENT_SECRET"')
    seed_defective(store)
    with pytest.raises(SecretMissing, match="RB_ABSENT_SECRET"):
        dispatch(store, config)
    with store.session() as s:
        remedy = s.query(Remedy).one()
        assert remedy.attempts == 0 and remedy.status == "queued"
        # ... yet the remedy says why it does not move, and status is unhealthy at once.
        assert remedy.last_error is not None and "RB_ABSENT_SECRET" in remedy.last_error
        assert remedy.last_error.startswith("fulfilment 'wh': ")
    from bot.report.status import gather

    status = gather(config, store, expect_daemon=False, now=NOW)
    assert not status.healthy
    assert any(p.startswith("remedy #1 cannot be dispatched: fulfilment 'wh'") and "RB_ABSENT_SECRET" in p
               for p in status.problems), status.problems


def test_the_adapter_is_chosen_at_dispatch_from_the_current_config(tmp_path: Path, opened: list[Store]) -> None:
    # Queued while an entry with empty handles shadowed the ops file; staff then fixed the config.
    wrong = ('[[fulfilment]]\nname = "catchall"\nkind = "csv"\npath = "wrong.csv"\n\n'
             '[[fulfilment]]\nname = "ops"\nkind = "csv"\npath = "ops.csv"\nhandles = ["replacement"]')
    store, _ = make(tmp_path, opened, wrong)
    seed_defective(store)
    fixed = ('[[fulfilment]]\nname = "ops"\nkind = "csv"\npath = "ops.csv"\nhandles = ["replacement"]\n\n'
             '[[fulfilment]]\nname = "catchall"\nkind = "csv"\npath = "wrong.csv"')
    again, config = make(tmp_path, opened, fixed)
    assert dispatch(again, config).dispatched == 1
    assert not (tmp_path / "wrong.csv").exists()
    assert [r["kind"] for r in read_csv(tmp_path / "ops.csv")] == ["replacement"]
    [case] = list_cases(again)
    assert case["remedies"][0]["adapter"] == "ops"


def test_no_adapter_for_a_kind_fails_clearly(tmp_path: Path, opened: list[Store]) -> None:
    store, config = make(tmp_path, opened, '[[fulfilment]]\nname = "wh"\nkind = "csv"\nhandles = ["refund"]')
    seed_defective(store)
    summary = dispatch(store, config)
    assert summary.failed == 1 and "no [[fulfilment]] adapter handles 'replacement'" in summary.errors[0]


def test_unknown_adapter_kind_and_bad_options_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown fulfilment kind 'fax'"):
        loads('[[fulfilment]]\nname = "x"\nkind = "fax"')
    with pytest.raises(ConfigError, match=r"fulfilment 'x' \(webhook\): url"):
        loads('[[fulfilment]]\nname = "x"\nkind = "webhook"')
    with pytest.raises(ConfigError, match="unknown remedy kind 'hug'"):
        loads('[[fulfilment]]\nname = "x"\nkind = "csv"\nhandles = ["hug"]')


def test_fulfilment_urls_and_addresses_are_checked_at_load() -> None:
    with pytest.raises(ConfigError, match=r"fulfilment 'x' \(webhook\): url: .*'ops.shop.example/recoverybot' is not an "
                       r"http\(s\) URL"):
        loads('[[fulfilment]]\nname = "x"\nkind = "webhook"\nurl = "ops.shop.example/recoverybot"')
    with pytest.raises(ConfigError, match=r"fulfilment 'x' \(shopify\): shop_url: .*not an http\(s\) URL"):
        loads('[[fulfilment]]\nname = "x"\nkind = "shopify"\nshop_url = "kestrel.myshopify.com"')
    with pytest.raises(ConfigError, match=r"fulfilment 'x' \(woocommerce\): url: .*not an http\(s\) URL"):
        loads('[[fulfilment]]\nname = "x"\nkind = "woocommerce"\nurl = "shop.example"')
    with pytest.raises(ConfigError, match="'not-an-address' is not an email address"):
        loads('[[fulfilment]]\nname = "x"\nkind = "email"\nto = ["not-an-address"]\n[digest]\nsmtp_host = "mx"')
    with pytest.raises(ConfigError, match=r"'a@x\.example, b@x\.example' is not an email address"):
        loads('[[fulfilment]]\nname = "x"\nkind = "email"\nto = ["a@x.example, b@x.example"]\n'
              '[digest]\nsmtp_host = "mx"')
    shop = loads('[[fulfilment]]\nname = "x"\nkind = "shopify"\nshop_url = "https://kestrel.myshopify.com/"')
    assert shop.fulfilment[0].options["shop_url"] == "https://kestrel.myshopify.com/"
    assert is_address("Warehouse <warehouse@kestrel.example>") and is_address("ops@localhost")


def test_an_email_adapter_needs_the_digest_smtp_server() -> None:
    text = '[[fulfilment]]\nname = "cs"\nkind = "email"\nto = ["cs@kestrel.example"]\n[digest]\nsmtp_host = "mx"'
    config = loads(text)
    check_fulfilment(config.fulfilment, config.digest)  # with a server: fine
    without = config.digest.model_copy(update={"smtp_host": None})
    with pytest.raises(ValueError, match=r"fulfilment 'cs' \(email\) sends through \[digest\] smtp_host, which is "
                       "not set"):
        check_fulfilment(config.fulfilment, without)
    check_fulfilment(loads('[[fulfilment]]\nname = "wh"\nkind = "csv"').fulfilment, without)  # csv needs none


# --- email ---------------------------------------------------------------------------------------


@dataclass
class Sink:
    messages: list[tuple[list[str], bytes]] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append((list(envelope.rcpt_tos), envelope.original_content))
        return "250 OK"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_email_adapter_mails_the_warehouse_through_smtp(tmp_path: Path, opened: list[Store]) -> None:
    sink = Sink()
    port = _free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        # The mailer is the one [digest] describes, made by the outbox itself.
        store, config = make(tmp_path, opened, '[[fulfilment]]\nname = "cs"\nkind = "email"\n'
                             'to = ["warehouse@kestrel.example"]\nsender = "bot@kestrel.example"\n\n'
                             f'[digest]\nsmtp_host = "127.0.0.1"\nsmtp_port = {port}\nsmtp_security = "none"\n'
                             'smtp_timeout = 5')
        seed_defective(store)
        assert dispatch(store, config).dispatched == 1
    finally:
        controller.stop()
    [(rcpts, data)] = sink.messages
    assert rcpts == ["warehouse@kestrel.example"]
    msg = email.message_from_bytes(data, policy=email.policy.default)
    assert msg["Message-ID"] == f"<{key(store, 1, 0, 'replacement')}@kestrel.example>"
    assert msg["Subject"] == "[recoverybot] replacement for order K-100"
    body = msg.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
    assert "Remedy: replacement (case #1)" in body and "sku: FAN-01" in body and "Hello Cora," in body
    assert "Mention: https://shop.example/d0 by - on shop" in body
    attachment = next(msg.iter_attachments())
    assert json.loads(attachment.get_content())["idempotency_key"] == key(store, 1, 0, "replacement")


# --- customer_email ------------------------------------------------------------------------------


@pytest.fixture
def smtp_sink() -> Iterator[tuple[Sink, int]]:
    sink = Sink()
    port = _free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield sink, port
    finally:
        controller.stop()


def customer_email_world(tmp_path: Path, opened: list[Store], port: int,
                         handles: str = '["replacement"]') -> tuple[Store, Config]:
    store, config = make(tmp_path, opened, '[[fulfilment]]\nname = "buyer"\nkind = "customer_email"\n'
                         f'sender = "bot@kestrel.example"\nhandles = {handles}\n\n'
                         '[[fulfilment]]\nname = "warehouse"\nkind = "csv"\n\n'
                         f'[digest]\nsmtp_host = "127.0.0.1"\nsmtp_port = {port}\nsmtp_security = "none"\n'
                         'smtp_timeout = 5')
    config = config.model_copy(update={"bot": config.bot.model_copy(update={"care_email": "care@kestrel.example"})})
    _CONFIGS[id(store)] = config
    return store, config


def test_customer_email_tells_the_buyer_with_reply_to_and_both_parts(
        tmp_path: Path, opened: list[Store], smtp_sink: tuple[Sink, int]) -> None:
    sink, port = smtp_sink
    store, config = customer_email_world(tmp_path, opened, port)
    seed_defective(store)
    assert dispatch(store, config).dispatched == 1
    [(rcpts, data)] = sink.messages
    assert rcpts == ["cu0@mail.example"]
    msg = email.message_from_bytes(data, policy=email.policy.default)
    assert msg["To"] == "Cora Number0 <cu0@mail.example>" and msg["From"] == "bot@kestrel.example"
    assert msg["Reply-To"] == "care@kestrel.example"
    assert msg["Subject"] == "About your order K-100"
    assert msg["Message-ID"] == f"<{key(store, 1, 0, 'replacement')}.note@kestrel.example>"
    plain = msg.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
    page = msg.get_body(preferencelist=("html",)).get_content()  # type: ignore[union-attr]
    assert plain.startswith("Hello Cora,") and "new Pocket Fan is on its way to you" in plain
    assert "<p>Hello Cora,</p>" in page and "<li>a new Pocket Fan is on its way to you" in page
    [case] = list_cases(store)
    assert case["status"] == "dispatched" and case["remedies"][0]["adapter"] == "buyer"


def test_customer_email_is_never_sent_twice_after_a_crash(tmp_path: Path, opened: list[Store],
                                                         smtp_sink: tuple[Sink, int]) -> None:
    sink, port = smtp_sink
    store, config = customer_email_world(tmp_path, opened, port)
    seed_defective(store, 2)
    with store.session() as s:
        # Remedy 2 was claimed by a process that died before it sent anything (its lease runs).
        s.query(Remedy).filter_by(id=2).update({"attempts": 1, "next_attempt_at": NOW + timedelta(seconds=300)})
    assert dispatch(store, config).dispatched == 1
    assert len(sink.messages) == 1
    with store.session() as s:
        # Remedy 1: mailed, then the process died before recording it: queued again, lease run out.
        s.query(Remedy).filter_by(id=1).update({"status": "queued", "dispatched_at": None,
                                                "next_attempt_at": NOW + timedelta(seconds=300)})
    later = dispatch(store, config, at=NOW + timedelta(seconds=301))
    assert later.dispatched == 2, later.errors
    assert sorted(rcpts[0] for rcpts, _ in sink.messages) == ["cu0@mail.example", "cu1@mail.example"]
    assert dispatch(store, config, at=NOW + timedelta(hours=1)).dispatched == 0
    assert len(sink.messages) == 2
    with store.session() as s:
        refs = [a.detail["reference"] for a in s.query(AuditLog).filter_by(action="remedy_dispatched")]
    assert any(ref.endswith("(already sent)") for ref in refs)


def test_customer_email_sends_one_note_for_the_remedies_of_one_case(
        tmp_path: Path, opened: list[Store], smtp_sink: tuple[Sink, int]) -> None:
    sink, port = smtp_sink
    store, config = customer_email_world(tmp_path, opened, port, '["refund", "shipping_credit", "keep_item"]')
    seed_wrong_item(store, config)
    assert dispatch(store, config).dispatched == 3
    [(rcpts, data)] = sink.messages
    assert rcpts == ["wi@mail.example"]
    msg = email.message_from_bytes(data, policy=email.policy.default)
    plain = msg.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
    assert "full refund" in plain and "shipping costs" in plain and "keep what we sent you by mistake" in plain


def test_customer_email_without_an_address_fails_clearly(tmp_path: Path, opened: list[Store],
                                                         smtp_sink: tuple[Sink, int]) -> None:
    _sink, port = smtp_sink
    store, config = customer_email_world(tmp_path, opened, port)
    seed_defective(store)
    with store.session() as s:
        for customer in s.query(Customer):
            customer.email = ""
    summary = dispatch(store, config)
    assert summary.failed == 1 and "has no email address" in summary.errors[0]


# --- shop APIs -----------------------------------------------------------------------------------


def seed_wrong_item(store: Store, config: Config) -> None:
    with store.session() as s:
        add_order(s, "wi@mail.example", "Wanda Item", "K-300", [("DRESS-S", "Linen Dress", "12.99", 1)],
                  placed=days_ago(9), delivered=days_ago(5), extra={"id": 7300})
        add_mention(s, "w", "Ordered a linen dress, got two t-shirts instead.", "wrong_item",
                    published=days_ago(1), author_email="wi@mail.example")
    process(store, config, now=NOW)


def test_woocommerce_replacement_order_and_refund(tmp_path: Path, opened: list[Store],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RB_WC_KEY", "ck_test")
    monkeypatch.setenv("RB_WC_SECRET", "cs_test")
    original = {"id": 5000, "customer_id": 42, "billing": {"email": "cu0@mail.example"},
                "shipping": {"first_name": "Cora", "city": "Leeds"}}
    routes: dict[str, Any] = {
        "/wp-json/wc/v3/orders/5000": json.dumps(original),
        "/wp-json/wc/v3/products?sku=FAN-01": '[{"id": 77, "sku": "FAN-01"}]',
        "/wp-json/wc/v3/orders": Route(status=201, body='{"id": 9001}', content_type="application/json"),
        "/wp-json/wc/v3/orders/7300/refunds": Route(status=201, body='{"id": 31}', content_type="application/json"),
    }
    with LocalServer(routes) as srv:
        fulfilment = (f'[[fulfilment]]\nname = "shop"\nkind = "woocommerce"\nurl = "{srv.base}"\n'
                      'consumer_key_env = "RB_WC_KEY"\nconsumer_secret_env = "RB_WC_SECRET"\n\n'
                      '[[fulfilment]]\nname = "rest"\nkind = "csv"')
        store, config = make(tmp_path, opened, fulfilment)
        seed_defective(store)
        seed_wrong_item(store, config)
        summary = dispatch(store, config)
        assert summary.dispatched == 4, summary.errors
        posts = [r for r in srv.requests if r.method == "POST"]
        order = json.loads(next(r for r in posts if r.path == "/wp-json/wc/v3/orders").body)
        assert order["line_items"] == [{"product_id": 77, "quantity": 1, "subtotal": "0.00", "total": "0.00"}]
        assert order["customer_id"] == 42 and order["shipping"]["city"] == "Leeds"
        assert {"key": "_recoverybot_idempotency_key", "value": key(store, 1, 0, "replacement")} in order["meta_data"]
        refund = json.loads(next(r for r in posts if r.path.endswith("/refunds")).body)
        assert refund["amount"] == "12.99" and refund["api_refund"] is True
        auth = srv.requests[0].headers["authorization"]
        assert base64.b64decode(auth.split()[1]) == b"ck_test:cs_test"
        # WooCommerce honours no Idempotency-Key header: the key rides in the objects themselves.
        assert refund["reason"] == "recoverybot " + key(store, 2, 0, "refund")
        assert {"key": "_recoverybot_idempotency_key", "value": key(store, 2, 0, "refund")} in refund["meta_data"]
        # the shipping credit and keep_item are not the shop API's job by default: they went to the csv adapter.
        kept = read_csv(tmp_path / "remedies.csv")
        assert [r["kind"] for r in kept] == ["shipping_credit", "keep_item"]


def test_shopify_draft_order_and_refund(tmp_path: Path, opened: list[Store], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RB_SHOPIFY_TOKEN", "shpat_test")

    def transactions(request: Request) -> Route:
        return Route(body=json.dumps({"transactions": [
            {"id": 11, "kind": "authorization", "status": "success", "gateway": "bogus"},
            {"id": 12, "kind": "capture", "status": "success", "gateway": "bogus"},
        ]}), content_type="application/json")

    base = "/admin/api/2024-10"
    routes: dict[str, Any] = {
        f"{base}/draft_orders.json": Route(status=201, body='{"draft_order": {"id": 555}}', content_type="application/json"),
        f"{base}/orders/7300/transactions.json": transactions,
        f"{base}/orders/7300/refunds.json": Route(status=201, body='{"refund": {"id": 66}}', content_type="application/json"),
    }
    with LocalServer(routes) as srv:
        fulfilment = (f'[[fulfilment]]\nname = "shop"\nkind = "shopify"\nshop_url = "{srv.base}"\n'
                      'access_token_env = "RB_SHOPIFY_TOKEN"\n\n[[fulfilment]]\nname = "rest"\nkind = "csv"')
        store, config = make(tmp_path, opened, fulfilment)
        seed_defective(store)
        seed_wrong_item(store, config)
        summary = dispatch(store, config)
        assert summary.dispatched == 4, summary.errors
        draft = json.loads(next(r for r in srv.requests if r.path.endswith("draft_orders.json")).body)["draft_order"]
        assert draft["line_items"][0]["price"] == "0.00" and draft["line_items"][0]["sku"] == "FAN-01"
        assert draft["email"] == "cu0@mail.example" and draft["note"].startswith("Hello Cora,")
        refund = json.loads(next(r for r in srv.requests if r.path.endswith("refunds.json")).body)["refund"]
        assert refund["transactions"] == [{"parent_id": 12, "amount": "12.99", "kind": "refund", "gateway": "bogus"}]
        assert all(r.headers["x-shopify-access-token"] == "shpat_test" for r in srv.requests)


def test_dry_run_dispatches_nothing_even_if_queued(tmp_path: Path, opened: list[Store]) -> None:
    with LocalServer({"/hook": "{}"}) as srv:
        store, config = make(tmp_path, opened, f'[[fulfilment]]\nname = "wh"\nkind = "webhook"\nurl = "{srv.url("/hook")}"')
        seed_defective(store)
        dry = config.model_copy(update={"bot": config.bot.model_copy(update={"dry_run": True})})
        summary = dispatch(store, dry)
        assert summary.dry_run and summary.lines() == ["dispatch: dry run, nothing dispatched"]
        assert srv.requests == []


# --- exactly once on the shop APIs when an answer is lost ----------------------------------------


class StallingShop:
    """A fake shop that commits every POST at once, then answers it only after `stall` seconds.

    The client's read timeout fires although the refund / order exists: exactly what a slow shop
    does. GETs list what was created so far, as the real APIs do.
    """

    def __init__(self, stall: float) -> None:
        self.stall = stall
        self.created: dict[str, list[dict[str, Any]]] = {"refunds": [], "orders": [], "drafts": [], "srefunds": []}

    def _commit(self, bucket: str, obj: dict[str, Any]) -> Route:
        obj = {**obj, "id": 100 + sum(len(v) for v in self.created.values())}
        self.created[bucket].append(obj)
        return Route(status=201, body=json.dumps(obj), content_type="application/json", delay=self.stall)

    def wc_refunds(self, request: Request) -> Route:
        if request.method == "POST":
            return self._commit("refunds", json.loads(request.body))
        return Route(body=json.dumps(self.created["refunds"]), content_type="application/json")

    def wc_orders(self, request: Request) -> Route:
        if request.method == "POST":
            return self._commit("orders", json.loads(request.body))
        assert request.arg("customer") == "42" and request.arg("after")
        mine = [o for o in self.created["orders"] if o["customer_id"] == 42]
        return Route(body=json.dumps(mine), content_type="application/json", headers={"X-WP-TotalPages": "1"})

    def sh_drafts(self, request: Request) -> Route:
        if request.method == "POST":
            return self._commit("drafts", json.loads(request.body)["draft_order"])
        assert request.arg("updated_at_min")
        return Route(body=json.dumps({"draft_orders": self.created["drafts"]}), content_type="application/json")

    def sh_refunds(self, request: Request) -> Route:
        if request.method == "POST":
            return self._commit("srefunds", json.loads(request.body)["refund"])
        return Route(body=json.dumps({"refunds": self.created["srefunds"]}), content_type="application/json")


def _lost_answer_then_retry(store: Store, config: Config) -> None:
    first = dispatch(store, config)
    assert first.retrying == 2 and first.dispatched == 2, first.errors  # shipping credit and keep_item went to csv
    assert all("ReadTimeout" in e for e in first.errors)
    second = dispatch(store, config, at=NOW + timedelta(seconds=61))
    assert second.dispatched == 2, second.errors
    with store.session() as s:
        refs = [a.detail["reference"] for a in s.query(AuditLog).filter_by(action="remedy_dispatched")]
    assert sum("made by an earlier attempt" in r for r in refs) == 2, refs


def test_woocommerce_refund_and_order_are_not_repeated_when_the_answer_times_out(
        tmp_path: Path, opened: list[Store], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RB_WC_KEY", "ck_test")
    monkeypatch.setenv("RB_WC_SECRET", "cs_test")
    shop = StallingShop(stall=1.0)
    routes: dict[str, Any] = {
        "/wp-json/wc/v3/orders/5000": json.dumps({"id": 5000, "customer_id": 42, "billing": {}, "shipping": {}}),
        "/wp-json/wc/v3/products?sku=FAN-01": '[{"id": 77, "sku": "FAN-01"}]',
        "/wp-json/wc/v3/orders": shop.wc_orders,
        "/wp-json/wc/v3/orders/7300/refunds": shop.wc_refunds,
    }
    with LocalServer(routes) as srv:
        store, config = make(tmp_path, opened, f'[[fulfilment]]\nname = "shop"\nkind = "woocommerce"\n'
                             f'url = "{srv.base}"\ntimeout = 0.3\nconsumer_key_env = "RB_WC_KEY"\n'
                             'consumer_secret_env = "RB_WC_SECRET"\n\n[[fulfilment]]\nname = "rest"\nkind = "csv"')
        seed_defective(store)
        seed_wrong_item(store, config)
        _lost_answer_then_retry(store, config)
        assert len(shop.created["refunds"]) == 1 and len(shop.created["orders"]) == 1
        assert sum(1 for r in srv.requests if r.method == "POST") == 2


def test_shopify_refund_and_draft_order_are_not_repeated_when_the_answer_times_out(
        tmp_path: Path, opened: list[Store], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RB_SHOPIFY_TOKEN", "shpat_test")
    shop = StallingShop(stall=1.0)
    base = "/admin/api/2024-10"
    txns = {"transactions": [{"id": 12, "kind": "sale", "status": "success", "gateway": "bogus"}]}
    routes: dict[str, Any] = {
        f"{base}/draft_orders.json": shop.sh_drafts,
        f"{base}/orders/7300/transactions.json": json.dumps(txns),
        f"{base}/orders/7300/refunds.json": shop.sh_refunds,
    }
    with LocalServer(routes) as srv:
        store, config = make(tmp_path, opened, f'[[fulfilment]]\nname = "shop"\nkind = "shopify"\n'
                             f'shop_url = "{srv.base}"\ntimeout = 0.3\naccess_token_env = "RB_SHOPIFY_TOKEN"\n\n'
                             '[[fulfilment]]\nname = "rest"\nkind = "csv"')
        seed_defective(store)
        seed_wrong_item(store, config)
        _lost_answer_then_retry(store, config)
        assert len(shop.created["srefunds"]) == 1 and len(shop.created["drafts"]) == 1
        assert sum(1 for r in srv.requests if r.method == "POST") == 2


def test_csv_carries_the_mention_so_a_contact_can_be_acted_on(tmp_path: Path, opened: list[Store]) -> None:
    store, config = make(tmp_path, opened, '[[fulfilment]]\nname = "wh"\nkind = "csv"')
    with store.session() as s:
        add_mention(s, "nobody", "My blender arrived with a cracked jug, really disappointed.", "damaged",
                    source="mastodon", kind="mastodon", published=days_ago(1), author_handle="@jugless")
    process(store, config, now=NOW)
    [case] = list_cases(store)
    assert [r["kind"] for r in case["remedies"]] == ["contact"]
    approve(store, case["id"], actor="sam", now=NOW, config=config)
    assert dispatch(store, config).dispatched == 1
    [row] = read_csv(tmp_path / "remedies.csv")
    assert row["kind"] == "contact" and row["customer_email"] == ""
    assert row["mention_url"] == "https://mastodon.example/nobody"
    assert row["mention_author"] == "@jugless" and row["mention_source"] == "mastodon"
    assert "order number" in row["note"] and "nothing you need to do" not in row["note"]


def test_csv_written_before_the_mention_columns_keeps_its_own_columns(tmp_path: Path, opened: list[Store]) -> None:
    old = ("idempotency_key,case_id,kind,order_number,customer_name,customer_email,shipping_country,sku,"
           "quantity,shipping,amount,currency,params,note\n")
    (tmp_path / "remedies.csv").write_text(old + "rb-old,0,gesture,,,,,,,,0.00,EUR,{},hi\n", encoding="utf-8")
    store, config = make(tmp_path, opened, '[[fulfilment]]\nname = "wh"\nkind = "csv"')
    seed_defective(store)
    assert dispatch(store, config).dispatched == 1
    with (tmp_path / "remedies.csv").open(encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle))
    assert all(len(r) == 14 for r in rows) and rows[-1][0] == key(store, 1, 0, "replacement")


def test_two_fresh_databases_writing_one_csv_both_get_their_rows(tmp_path: Path, opened: list[Store]) -> None:
    # A reset (or a move to PostgreSQL) starts case ids at 1 again: the install id keeps the keys
    # apart, so the second database's case 1 (another buyer, another order) is written too. (The
    # same order again is the lost-database case: tests/test_lost_database.py.)
    out = tmp_path / "shared" / "warehouse.csv"
    fulfilment = f'[[fulfilment]]\nname = "wh"\nkind = "csv"\npath = "{out}"'
    keys = []
    for name in ("first", "second"):
        folder = tmp_path / name
        folder.mkdir()
        store, config = make(folder, opened, fulfilment)
        if name == "first":
            seed_defective(store)
        else:
            with store.session() as s:
                add_order(s, "dana@mail.example", "Dana Other", "K-900", [("FAN-01", "Pocket Fan", "12.00", 1)],
                          placed=days_ago(10), delivered=days_ago(7), extra={"id": 5900})
                add_mention(s, "d9", "My pocket fan stopped working on day two.", "defective",
                            published=days_ago(1), author_email="dana@mail.example")
            process(store, config, now=NOW)
        assert dispatch(store, config).dispatched == 1
        keys.append(key(store, 1, 0, "replacement"))
    rows = read_csv(out)
    assert [r["idempotency_key"] for r in rows] == keys and keys[0] != keys[1]
    assert [r["order_number"] for r in rows] == ["K-100", "K-900"]
    assert all(k.startswith("rb-") and k.endswith("-case1-0-replacement") for k in keys)
    assert "(already there)" not in str(rows)


def test_the_install_id_is_made_once_with_the_database(tmp_path: Path, opened: list[Store]) -> None:
    store, _config = make(tmp_path, opened, '[[fulfilment]]\nname = "wh"\nkind = "csv"')
    with store.session() as s:
        first = install_id(s)
    store.upgrade()  # opening again does not make a new one
    with store.session() as s:
        assert install_id(s) == first and len(first) == 12


# --- one bad remedy never jams the outbox ----------------------------------------------------------


def test_email_adapter_without_smtp_fails_its_remedy_clearly_and_others_go_on(tmp_path: Path,
                                                                             opened: list[Store]) -> None:
    store, loaded = make(tmp_path, opened, '[[fulfilment]]\nname = "cs"\nkind = "email"\nto = ["cs@kestrel.example"]\n'
                         'handles = ["replacement"]\n\n[[fulfilment]]\nname = "rest"\nkind = "csv"\n\n'
                         '[digest]\nsmtp_host = "127.0.0.1"')
    # The load check refuses this; a config that never passed it (an older one) must still not jam.
    config = loaded.model_copy(update={"digest": loaded.digest.model_copy(update={"smtp_host": None})})
    _CONFIGS[id(store)] = config
    seed_defective(store)
    seed_wrong_item(store, config)
    first = dispatch(store, config)
    assert (first.dispatched, first.retrying, first.failed) == (3, 0, 1), first.errors
    assert "fulfilment 'cs': no SMTP server configured" in first.errors[0]
    with store.session() as s:
        mailed = s.query(Remedy).filter_by(kind="replacement").one()
        assert (mailed.status, mailed.attempts) == ("failed", 1)
        assert mailed.last_error == "fulfilment 'cs': no SMTP server configured"
    assert [r["kind"] for r in read_csv(tmp_path / "remedies.csv")] == ["refund", "shipping_credit", "keep_item"]
    later = dispatch(store, config, at=NOW + timedelta(hours=1))
    assert (later.dispatched, later.retrying, later.failed) == (0, 0, 0)


def test_an_unexpected_error_is_retried_with_its_text_then_failed(tmp_path: Path, opened: list[Store],
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RB_SHOPIFY_TOKEN", "shpat_test")
    # A shop that answers a list where an object belongs: the adapter's .get() raises AttributeError.
    routes: dict[str, Any] = {"/admin/api/2024-10/orders/7300/transactions.json": "[]",
                              "/admin/api/2024-10/orders/7300/refunds.json": '{"refunds": []}'}
    with LocalServer(routes) as srv:
        store, config = make(tmp_path, opened, f'[[fulfilment]]\nname = "shop"\nkind = "shopify"\n'
                             f'shop_url = "{srv.base}"\naccess_token_env = "RB_SHOPIFY_TOKEN"\n\n'
                             '[[fulfilment]]\nname = "rest"\nkind = "csv"')
        seed_wrong_item(store, config)
        first = dispatch(store, config)
        assert (first.dispatched, first.retrying, first.failed) == (2, 1, 0), first.errors
        assert "unexpected AttributeError" in first.errors[0]
        with store.session() as s:
            refund = s.query(Remedy).filter_by(kind="refund").one()
            assert refund.status == "queued" and refund.attempts == 1
            assert refund.last_error is not None and "fulfilment 'shop': unexpected AttributeError" in refund.last_error
        assert dispatch(store, config, at=NOW + timedelta(seconds=61)).retrying == 1
        last = dispatch(store, config, at=NOW + timedelta(minutes=5))
        assert last.failed == 1
        case = next(c for c in list_cases(store) if c["remedies"][0]["kind"] == "refund")
        assert case["status"] == "failed" and case["remedies"][0]["attempts"] == 3
    assert [r["kind"] for r in read_csv(tmp_path / "remedies.csv")] == ["shipping_credit", "keep_item"]


def test_two_dispatchers_with_a_slow_receiver_deliver_each_remedy_once(tmp_path: Path, opened: list[Store]) -> None:
    # The lease (1 s) is shorter than the first dispatcher's run (5 x 0.6 s) and than one slow
    # delivery (1.3 s): claims must take the time at each claim and be renewed while they run.
    import threading
    import time

    answers = [Route(status=200, body="{}", delay=0.6)] * 4 + [Route(status=200, body="{}", delay=1.3)]
    with LocalServer({"/hook": answers}) as srv:
        store, config = make(tmp_path, opened, f'[[fulfilment]]\nname = "wh"\nkind = "webhook"\nurl = "{srv.url("/hook")}"',
                             policy="claim_seconds = 1")
        seed_defective(store, 5)
        second_store = open_store(config.bot.database, config.base_dir)
        opened.append(second_store)
        results: dict[str, Any] = {}

        def run(name: str, on: Store) -> None:
            with httpx.Client(timeout=10) as client:
                results[name] = dispatch_due(on, config, client=client)

        first = threading.Thread(target=run, args=("first", store))
        first.start()
        deadline = time.monotonic() + 20
        while srv.hits("/hook") < 4 and time.monotonic() < deadline:  # the first is 2.4 s into its run
            time.sleep(0.02)
        assert srv.hits("/hook") >= 4
        second = threading.Thread(target=run, args=("second", second_store))
        second.start()
        first.join(timeout=30)
        second.join(timeout=30)
        assert not first.is_alive() and not second.is_alive()
        keys = [r.headers["idempotency-key"] for r in srv.requests]
    assert len(keys) == 5 and len(set(keys)) == 5, keys
    assert results["first"].dispatched + results["second"].dispatched == 5
    with store.session() as s:
        assert {r.status for r in s.query(Remedy)} == {"dispatched"}
        assert {r.attempts for r in s.query(Remedy)} == {1}


def test_a_captured_webhook_cannot_be_replayed_later_or_with_another_key(tmp_path: Path, opened: list[Store],
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RB_HOOK_SECRET", "s3cret-for-tests")
    with LocalServer({"/hook": Route(status=200, body="{}")}) as srv:
        store, config = make(tmp_path, opened, f'[[fulfilment]]\nname = "wh"\nkind = "webhook"\nurl = "{srv.url("/hook")}"\n'
                             'secret_env = "RB_HOOK_SECRET"')
        seed_defective(store)
        assert dispatch(store, config).dispatched == 1
        sent = srv.requests[-1]
    stamp, signature = sent.headers["x-recoverybot-timestamp"], sent.headers["x-recoverybot-signature"]
    at = int(stamp)
    assert verify("s3cret-for-tests", sent.body, stamp, signature, now=at + 10)
    # the same body and signature an hour later: refused, whatever Idempotency-Key comes with it
    assert not verify("s3cret-for-tests", sent.body, stamp, signature, now=at + 3600)
    # a fresh timestamp with the old signature: refused (the timestamp is signed)
    assert not verify("s3cret-for-tests", sent.body, str(at + 3600), signature, now=at + 3600)
    # the key travels inside the signed body: changing it breaks the signature
    forged = sent.body.replace(b"case1-0", b"case9-0")
    assert forged != sent.body and not verify("s3cret-for-tests", forged, stamp, signature, now=at)
    assert json.loads(sent.body)["idempotency_key"] == sent.headers["idempotency-key"]
