"""imap connector: a support mailbox on a real local IMAP server (dovecot, see tests/imapserver.py)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest
from sqlalchemy import select

from bot.collect import collect, list_mentions, source_health
from bot.config import Config
from bot.errors import ConfigError, MailboxError
from bot.store import Mention, SourceState, Store
from connectors.mail.imap import ImapConnector, cut_quoted
from tests.httpserver import LocalServer, Request, Route
from tests.imapserver import Dovecot, missing

needs_dovecot = pytest.mark.skipif(missing() is not None, reason=missing() or "")
PASSWORD_ENV = "RECOVERYBOT_TEST_IMAP_PASSWORD"


def mail(sender: str, subject: str, body: str, *, html: str | None = None, headers: dict[str, str] | None = None,
         attachment: bytes | None = None, message_id: str | None = None, days_ago: float = 1) -> bytes:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = "Fernhollow care <care@shop.example>"
    msg["Subject"] = subject
    msg["Date"] = format_datetime(datetime.now(UTC) - timedelta(days=days_ago))
    msg["Message-ID"] = message_id or make_msgid(domain="mail.example")
    for key, value in (headers or {}).items():
        msg[key] = value
    msg.set_content(body)
    if html is not None:
        msg.add_alternative(html, subtype="html")
    if attachment is not None:
        msg.add_attachment(attachment, maintype="image", subtype="jpeg", filename="photo.jpg")
    return bytes(msg)


def config(server: Dovecot, **extra: Any) -> Config:
    options = {"host": "127.0.0.1", "port": server.port, "security": "none", "username": server.user,
               "password_env": PASSWORD_ENV, **extra}
    return Config.model_validate({"sources": [{"name": "care", "kind": "imap", **options}]})


@pytest.fixture
def dovecot(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Dovecot]:
    monkeypatch.setenv(PASSWORD_ENV, Dovecot.password)
    with Dovecot(tmp_path / "imap") as server:
        yield server


def stored(store: Store) -> dict[str, Mention]:
    with store.sessions() as session:
        rows = session.scalars(select(Mention)).all()
        session.expunge_all()
        return {m.external_id: m for m in rows}


def cursor(store: Store) -> dict[str, Any]:
    with store.sessions() as session:
        state = session.get(SourceState, "care")
        assert state is not None
        return dict(state.cursor or {})


BROKEN = "My kettle K-7 stopped heating after two days. Order #10234. I want a working one."


@needs_dovecot
def test_first_run_reads_once_second_only_new_unwanted_mail_skipped_and_left_unseen(
        dovecot: Dovecot, store: Store) -> None:
    dovecot.append(mail("Maria Lopez <Maria.Lopez@Mail.example>", "Broken kettle", BROKEN, message_id="<m1@mail.example>"))
    dovecot.append(mail("Ben <ben@mail.example>", "Where is my parcel?", "My order 10240 never came. Two weeks now.",
                        attachment=b"\xff\xd8fake-jpeg"))
    dovecot.append(mail("Ben <ben@mail.example>", "Out of office", "I am away until Monday.",
                        headers={"Auto-Submitted": "auto-replied"}))
    dovecot.append(mail("MAILER-DAEMON@mx.mail.example", "Undelivered Mail Returned to Sender", "Delivery failed."))
    dovecot.append(mail("Deals <news@deals.example>", "50% off kettles", "Big sale this week.",
                        headers={"List-Id": "<deals.example>", "Precedence": "bulk"}))
    dovecot.append(mail("Shop <care@shop.example>", "Re: Broken kettle", "We are sorry, a new one is on its way."))
    dovecot.append(mail("Bob Bulk <bob@mail.example>", "Hi", "Hello", headers={"Precedence": "junk"}))

    first = collect(config(dovecot), store)
    assert first.ok and first.new_total == 2, first.lines()
    got = stored(store)
    maria = got["mid:m1@mail.example"]
    assert maria.author_email == "maria.lopez@mail.example" and maria.author_name == "Maria Lopez"
    assert maria.title == "Broken kettle" and maria.text == BROKEN and maria.source_kind == "imap"
    assert maria.raw["order_number"] == "10234" and maria.raw["attachments"] == 0
    assert maria.published_at is not None
    ben = next(m for m in got.values() if m.author_email == "ben@mail.example")
    assert ben.raw["order_number"] == "10240" and ben.raw["attachments"] == 1
    stats = cursor(store)["last_run"]
    assert stats == {"read": 7, "mentions": 2, "auto_reply": 1, "bounce": 1, "newsletter": 2, "own_mail": 1}
    # never marked: BODY.PEEK on a read-only folder
    assert all(b"\\Seen" not in line for line in dovecot.flags()), dovecot.flags()

    again = collect(config(dovecot), store)
    assert again.ok and again.new_total == 0 and cursor(store)["last_run"]["read"] == 0
    dovecot.append(mail("Chris <chris@mail.example>", "Wrong size", "The boots are two sizes too small."))
    third = collect(config(dovecot), store)
    assert third.new_total == 1 and cursor(store)["last_run"] == {"read": 1, "mentions": 1}
    assert len(list_mentions(store, source="care")) == 3


@needs_dovecot
def test_uidvalidity_change_reads_again_without_duplicates(dovecot: Dovecot, store: Store) -> None:
    folder = "INBOX/Support"
    first = [mail("Maria <maria@mail.example>", "Broken", BROKEN, message_id=f"<s{n}@mail.example>") for n in (1, 2)]
    for message in first:
        dovecot.append(message, folder=folder)
    assert collect(config(dovecot, folder=folder), store).new_total == 2
    before = cursor(store)
    dovecot.recreate(folder)  # the server renumbers the folder (a migration, a restore)
    for message in first:
        dovecot.append(message, folder=folder)
    dovecot.append(mail("Dana <dana@mail.example>", "Damaged", "The lamp arrived smashed.",
                        message_id="<s3@mail.example>"), folder=folder)
    after = collect(config(dovecot, folder=folder), store)
    assert after.ok and after.new_total == 1
    now = cursor(store)
    assert now["uidvalidity"] != before["uidvalidity"] and now["last_run"]["read"] == 3
    assert sorted(stored(store)) == ["mid:s1@mail.example", "mid:s2@mail.example", "mid:s3@mail.example"]


@needs_dovecot
def test_wrong_password_is_a_recorded_error_naming_the_server_and_folder(
        dovecot: Dovecot, store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    dovecot.append(mail("Maria <maria@mail.example>", "Broken", BROKEN))
    monkeypatch.setenv(PASSWORD_ENV, "not-the-password")
    summary = collect(config(dovecot, folder="INBOX"), store)
    assert not summary.ok and summary.new_total == 0
    (health,) = source_health(store)
    assert health.last_error_kind == "mailbox" and health.consecutive_failures == 1
    assert f"127.0.0.1:{dovecot.port}" in (health.last_error_message or "")
    assert "folder INBOX" in (health.last_error_message or "") and "refused the login" in (health.last_error_message or "")
    assert health.last_error_url == f"imap://127.0.0.1:{dovecot.port}/INBOX"
    assert "not-the-password" not in (health.last_error_message or "")
    # fixed password: the next run reads the mail (the failed run kept no cursor)
    monkeypatch.setenv(PASSWORD_ENV, Dovecot.password)
    assert collect(config(dovecot), store).new_total == 1


@needs_dovecot
def test_quoted_reply_and_signature_cut_html_mail_read(dovecot: Dovecot, store: Store) -> None:
    reply = ("The replacement kettle is broken too, the lid will not close.\n\n"
             "-- \nMaria Lopez\n+44 20 7946 0000\n\n"
             "On Tue, 3 Mar 2026 at 10:00, Fernhollow <care@shop.example> wrote:\n"
             "> Dear Maria, your new kettle is on its way.\n")
    dovecot.append(mail("Maria <maria@mail.example>", "Re: Broken kettle", reply, message_id="<r1@mail.example>"))
    html = ("<html><body><div dir='ltr'><p>The <b>lamp</b> arrived <i>smashed</i>.</p><p>Order 55501</p></div>"
            "<div class='gmail_quote'><div>On Mon, Shop wrote:</div><blockquote>We shipped it today!</blockquote>"
            "</div></body></html>")
    html_only = EmailMessage()
    html_only["From"] = "Dana <dana@mail.example>"
    html_only["Subject"] = "Lamp"
    html_only["Message-ID"] = "<h1@mail.example>"
    html_only.set_content(html, subtype="html")
    dovecot.append(bytes(html_only))
    assert collect(config(dovecot), store).new_total == 2
    got = stored(store)
    assert got["mid:r1@mail.example"].text == "The replacement kettle is broken too, the lid will not close."
    lamp = got["mid:h1@mail.example"]
    assert lamp.text == "The lamp arrived smashed.\nOrder 55501" and lamp.raw["order_number"] == "55501"
    assert lamp.published_at is None  # no Date header: none invented


@needs_dovecot
def test_mark_seen_true_marks_what_it_read_only(dovecot: Dovecot, store: Store) -> None:
    dovecot.append(mail("Maria <maria@mail.example>", "Broken", BROKEN))
    dovecot.append(mail("Deals <news@deals.example>", "Sale", "Sale!", headers={"List-Id": "<deals.example>"}))
    assert collect(config(dovecot, mark_seen=True), store).new_total == 1
    flags = dovecot.flags()
    assert [b"\\Seen" in line for line in flags] == [True, False], flags


@needs_dovecot
def test_size_cap_and_per_run_cap(dovecot: Dovecot, store: Store) -> None:
    dovecot.append(mail("Big <big@mail.example>", "Photos", "See the photos.", attachment=b"x" * 40_000))
    for n in range(3):
        dovecot.append(mail(f"p{n} <p{n}@mail.example>", "Broken", f"Item number {n} broke on day one."))
    first = collect(config(dovecot, max_message_bytes=20_000, max_messages=2), store)
    assert first.new_total == 1 and cursor(store)["last_run"] == {"read": 1, "mentions": 1, "too_large": 1}
    assert cursor(store)["waiting"] == 2
    second = collect(config(dovecot, max_message_bytes=20_000, max_messages=2), store)
    assert second.new_total == 2 and cursor(store)["waiting"] == 0
    assert {m.author_email for m in stored(store).values()} == {"p0@mail.example", "p1@mail.example", "p2@mail.example"}


@needs_dovecot
def test_a_message_the_server_fails_to_give_is_a_recorded_error_and_read_next_run(
        dovecot: Dovecot, store: Store) -> None:
    """dovecot cannot read a message file (it answers "Internal error" and hangs up): the run fails
    naming the server, folder and UID, keeps no cursor, and the next run reads it; nothing is lost."""
    dovecot.append(mail("Maria <maria@mail.example>", "Broken", BROKEN, message_id="<t1@mail.example>"))
    unreadable = dovecot.append(mail("Ben <ben@mail.example>", "Parcel", "My order 10240 never came.",
                                     message_id="<t2@mail.example>"))
    dovecot.append(mail("Chris <chris@mail.example>", "Size", "The boots are too small.", message_id="<t3@mail.example>"))
    os.chmod(unreadable, 0)  # the imap process (not root) may not open it
    failed = collect(config(dovecot), store)
    assert not failed.ok, failed.lines()
    (health,) = source_health(store)
    message = health.last_error_message or ""
    assert health.last_error_kind == "mailbox" and health.consecutive_failures == 1
    assert "message UID 2" in message and f"127.0.0.1:{dovecot.port}" in message and "folder INBOX" in message
    assert "Internal error" in message, message
    assert "t3@mail.example" not in "".join(stored(store))  # not read past the failure
    os.chmod(unreadable, 0o600)
    again = collect(config(dovecot), store)
    assert again.ok, again.lines()
    assert sorted(stored(store)) == ["mid:t1@mail.example", "mid:t2@mail.example", "mid:t3@mail.example"]
    (health,) = source_health(store)
    assert health.consecutive_failures == 0


@needs_dovecot
def test_tls_by_default_with_the_servers_certificate(tmp_path: Path, store: Store,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PASSWORD_ENV, Dovecot.password)
    with Dovecot(tmp_path / "imaps", tls=True) as server:
        server.append(mail("Maria <maria@mail.example>", "Broken", BROKEN))
        options = {"host": "127.0.0.1", "port": server.port, "username": server.user, "password_env": PASSWORD_ENV}
        untrusted = collect(Config.model_validate({"sources": [{"name": "care", "kind": "imap", **options}]}), store)
        assert not untrusted.ok and "cannot set up TLS" in untrusted.results[0].errors[0]
        trusted = Config.model_validate({"sources": [{"name": "care", "kind": "imap", **options,
                                                      "ca_file": str(server.cert_path)}]})
        assert collect(trusted, store).new_total == 1


@needs_dovecot
def test_starttls_switches_to_tls_before_the_password_is_sent(tmp_path: Path, store: Store,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PASSWORD_ENV, Dovecot.password)
    with Dovecot(tmp_path / "starttls", starttls=True) as server:
        server.append(mail("Maria <maria@mail.example>", "Broken", BROKEN))
        options = {"host": "127.0.0.1", "port": server.port, "username": server.user, "password_env": PASSWORD_ENV,
                   "ca_file": str(server.cert_path)}
        started = Config.model_validate({"sources": [{"name": "care", "kind": "imap", **options,
                                                      "security": "starttls"}]})
        assert collect(started, store).new_total == 1
        logins = [line for line in server.log().splitlines() if "Login: user=<care@shop.example>" in line]
        assert ", TLS," in logins[-1], logins[-1]  # the connector's own login went over TLS


@needs_dovecot
def test_xoauth2_login_with_a_token_from_the_environment(tmp_path: Path, store: Store,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """Gmail / Microsoft 365 style: dovecot's oauth2 passdb asks a local token-introspection
    endpoint (RFC 7662) whether the bearer token is active and whose it is."""
    seen: list[str] = []

    def introspect(request: Request) -> Route:
        token = (parse_qs(request.body.decode()).get("token") or [""])[0]
        seen.append(token)
        active = token == "ya29.good-token"
        return Route(body=json.dumps({"active": active, "email": Dovecot.user} if active else {"active": False}),
                     content_type="application/json")

    monkeypatch.setenv(PASSWORD_ENV, "not-used-with-a-token")
    source = {"oauth2_token_env": "RECOVERYBOT_TEST_IMAP_TOKEN", "timeout": 60}
    with LocalServer({"/introspect": introspect}) as idp, \
            Dovecot(tmp_path / "oauth2", oauth2_introspection=idp.url("/introspect")) as server:
        server.append(mail("Maria <maria@mail.example>", "Broken", BROKEN))
        # the good token first: dovecot slows the logins that follow a refused one
        monkeypatch.setenv("RECOVERYBOT_TEST_IMAP_TOKEN", "ya29.good-token")
        accepted = collect(config(server, **source), store)
        assert accepted.ok and accepted.new_total == 1, (accepted.lines(), server.log())
        monkeypatch.setenv("RECOVERYBOT_TEST_IMAP_TOKEN", "ya29.expired-token")
        refused = collect(config(server, **source), store)
        with pytest.raises(MailboxError) as caught:
            ImapConnector("care", config(server, **source).sources[0].options).connect()
    error = refused.results[0].errors[0]
    assert not refused.ok and "refused the login of care@shop.example" in error and f"127.0.0.1:{server.port}" in error
    assert "expired-token" not in error and "RECOVERYBOT_TEST_IMAP_TOKEN" in caught.value.hint
    assert seen == ["ya29.good-token", "ya29.expired-token", "ya29.expired-token"]  # the token went to the check
    (mention,) = stored(store).values()
    assert mention.author_email == "maria@mail.example" and mention.raw["order_number"] == "10234"


def test_plain_imap_to_another_host_is_refused_and_a_bad_pattern_named() -> None:
    base = {"name": "care", "kind": "imap", "host": "imap.mail.example", "username": "care@shop.example"}
    with pytest.raises(ConfigError, match="security"):
        collect(Config.model_validate({"sources": [{**base, "security": "none"}]}), None)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="order_pattern"):
        collect(Config.model_validate({"sources": [{**base, "order_pattern": "(a)(b)"}]}), None)  # type: ignore[arg-type]


def test_reply_cutting_keeps_only_the_new_words() -> None:
    outlook = ("Still no refund.\n\n________________________________\nFrom: Shop <care@shop.example>\n"
               "Sent: Monday, 2 March 2026 09:00\nTo: Ben\nSubject: RE: refund\n\nWe will refund you.")
    assert cut_quoted(outlook) == "Still no refund."
    two_lines = "It broke again.\nOn Tue, 3 Mar 2026 at 10:00, Fernhollow Care\n<care@shop.example> wrote:\n> old"
    assert cut_quoted(two_lines) == "It broke again."
    assert cut_quoted("Too small.\n\nSent from my iPhone") == "Too small."
    assert cut_quoted("> only a quote\nand my words") == "and my words"
    connector = ImapConnector("care", {"host": "imap.mail.example", "username": "care@shop.example"})
    assert connector.order_number("Re: Your order #A-10234 has shipped") == "A-10234"
    assert connector.order_number("order number: 998877, please help") == "998877"
    assert connector.order_number("I ordered 10000 things") is None
