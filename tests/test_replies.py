"""Public replies under reviews (bot.replies, connectors.replies): asked for by a person, posted once.

A local HTTP server plays the WordPress REST API of a WooCommerce shop (``/wp-json/wp/v2/comments``):
it keeps the comments it is sent, lists a review's replies, and checks the application password.
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.cli import main
from bot.config import Config, enabled_parts, loads
from bot.decide.cases import process
from bot.decide.reply import ask
from bot.decide.staff import case_detail
from bot.replies import NOT_REPLYABLE, ReplyRefused, deliver_due
from bot.report.casefile import render_case
from bot.report.digest import build
from bot.store import AuditLog, Case, PublicReply, Store, open_store
from connectors.replies import ReplyChannel, build_channel, supports_replies
from connectors.replies.wordpress import marker
from tests.decide_world import NOW, add_mention, add_order, days_ago
from tests.httpserver import LocalServer, Request, Route
from tests.test_outbox import dispatch, make

USER, PASSWORD = "care-team", "abcd efgh ijkl mnop qrst uvwx"
COMMENTS = "/wp-json/wp/v2/comments"


class WordPress:
    """The comments endpoint of a WordPress site, just enough of it: Basic auth with one application
    password, POST makes a comment (``status`` approved), GET lists by post and parent."""

    def __init__(self, *, keep_markers: bool = True) -> None:
        self.comments: list[dict[str, Any]] = []
        self.keep_markers = keep_markers
        self.lose_next_answer = threading.Event()  # the comment is made, the answer never arrives in time
        self.lock = threading.Lock()

    def __call__(self, request: Request) -> Route:
        expected = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
        if request.headers.get("authorization") != expected:
            return Route(status=401, content_type="application/json", body=json.dumps(
                {"code": "incorrect_password", "message": "The provided password is an invalid application password.",
                 "data": {"status": 401}}))
        if request.method == "POST":
            body = json.loads(request.body)
            content = str(body["content"])
            if not self.keep_markers:  # a site whose filters drop HTML comments
                content = content.split("<!--")[0].strip()
            with self.lock:
                made = {"id": 900 + len(self.comments), "post": body["post"], "parent": body["parent"],
                        "status": "approved", "content": {"raw": content, "rendered": f"<p>{content}</p>\n"}}
                self.comments.append(made)
            delay = 3.0 if self.lose_next_answer.is_set() else 0.0
            self.lose_next_answer.clear()
            return Route(status=201, delay=delay, content_type="application/json", body=json.dumps(made))
        post, parent = request.arg("post"), request.arg("parent")
        with self.lock:
            found = [c for c in self.comments if str(c["post"]) == post and str(c["parent"]) == parent]
        return Route(content_type="application/json", body=json.dumps(found))

    def posts(self, srv: LocalServer) -> list[Request]:
        return [r for r in srv.requests if r.method == "POST" and r.path == COMMENTS]


@pytest.fixture
def opened() -> Iterator[list[Store]]:
    stores: list[Store] = []
    yield stores
    for store in stores:
        store.dispose()


@pytest.fixture
def secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECOVERYBOT_WP_USER", USER)
    monkeypatch.setenv("RECOVERYBOT_WP_APP_PASSWORD", PASSWORD)
    monkeypatch.setenv("USER", "amira")


def shop(tmp_path: Path, opened: list[Store], srv: LocalServer, *, public_reply: bool = True,
         extra: str = "") -> tuple[Store, Config]:
    return make(tmp_path, opened, (
        f'[[sources]]\nname = "shop"\nkind = "woocommerce"\nurl = "{srv.base}"\n\n'
        '[[sources]]\nname = "reviews-page"\nkind = "schema_org"\nurls = ["https://shop.example/p/fan"]\n\n'
        '[[fulfilment]]\nname = "warehouse"\nkind = "csv"\n\n'
        f'[http]\nread_timeout = 1\n\n[notify]\npublic_reply = {"true" if public_reply else "false"}\n' + extra))


def seed(store: Store, config: Config, *, source: str = "shop", kind: str = "woocommerce") -> int:
    """Cora's pocket fan died: a 1-star WooCommerce review (comment 812 on product 77), her order, the
    automatic replacement decided and delivered to the warehouse."""
    with store.session() as s:
        add_order(s, "cora@mail.example", "Cora Lind", "K-100", [("FAN-01", "Pocket Fan", "12.00", 1)],
                  placed=days_ago(10), delivered=days_ago(7), extra={"id": 5000})
        mention = add_mention(s, "812", "My pocket fan stopped working on day two.", "defective", source=source,
                              kind=kind, published=days_ago(1), author_email="cora@mail.example",
                              product_name="Pocket Fan")
        mention.raw = {"product_id": 77, "verified": True, "status": "approved"}
    process(store, config, now=NOW)
    summary = dispatch(store, config)
    assert summary.dispatched == 1, summary.errors
    with store.session() as s:
        case = s.query(Case).one()
        assert case.status == "dispatched"
        return case.id


def with_bot(config: Config, line: str) -> Config:
    """The config with one more [bot] key, written to its file too (for the CLI)."""
    assert config.path is not None
    text = config.path.read_text(encoding="utf-8").replace("[bot]\n", f"[bot]\n{line}\n", 1)
    config.path.write_text(text, encoding="utf-8")
    return loads(text, path=config.path)


def replies(store: Store) -> list[PublicReply]:
    with store.session() as s:
        rows = list(s.query(PublicReply).order_by(PublicReply.id))
        s.expunge_all()
        return rows


def test_a_reply_asked_for_by_staff_is_posted_once_under_the_review(
        tmp_path: Path, opened: list[Store], secrets: None, capsys: pytest.CaptureFixture[str]) -> None:
    wp = WordPress()
    with LocalServer({COMMENTS: wp}) as srv:
        store, config = shop(tmp_path, opened, srv)
        case_id = seed(store, config)
        assert wp.posts(srv) == []  # never on its own
        assert main(["--config", str(config.path), "reply", str(case_id)]) == 0
        out = capsys.readouterr().out
        assert "posted: comment 900" in out
        [posted] = wp.posts(srv)
        body = json.loads(posted.body)
        assert body["post"] == 77 and body["parent"] == 812  # the product, and the review being answered
        text = body["content"]
        assert text.startswith("Thank you for letting us know about your Pocket Fan, and we are sorry")
        assert "We have been in touch with you directly" in text and "Kestrel Lane" in text
        with store.session() as s:
            key = s.query(PublicReply).one().idempotency_key
        assert f"<!-- {marker(key)} -->" in text and key not in text  # a hash of the key, not the key
        visible = text.replace(f"<!-- {marker(key)} -->", "")  # the hidden marker is a hash: it may hold any digits
        for word in ("star", "rating", "12", "K-100", "cora@"):
            assert word not in visible
        [row] = replies(store)
        assert row.status == "posted" and row.asked_by == "amira" and row.reference == "comment 900"
        assert row.attempts == 1
        # Later dispatches post nothing again, and a second request is refused.
        again = dispatch(store, config, at=NOW + timedelta(hours=1))
        assert again.replied == 0 and len(wp.posts(srv)) == 1
        with pytest.raises(ReplyRefused, match=r"already has a public reply \(posted, asked by amira"):
            ask(store, config, case_id, actor="bo")
        # Who asked is in the case's history; the case view and the digest say it was replied to.
        with store.session() as s:
            actions = [(a.actor, a.action) for a in s.query(AuditLog).filter_by(case_id=case_id).order_by(AuditLog.id)]
        assert ("amira", "public_reply_asked") in actions and ("bot", "replied_publicly") in actions
        view = render_case(case_detail(store, case_id), config.zone)
        assert "amira: asked for a public reply under the review: Thank you for letting us know" in view
        assert "bot: replied publicly: posted as comment 900" in view
        report = build(store, config, day=NOW.date(), now=NOW + timedelta(hours=2))
        assert row.posted_at is not None  # the CLI posts at the real time
        on = row.posted_at.astimezone(config.zone)
        assert f"; replied publicly on {on.day} {on:%b} (asked by amira)" in report.text


@pytest.mark.parametrize("keep_markers", [True, False], ids=["marker", "same-words"])
def test_a_retry_after_a_lost_answer_does_not_post_twice(
        tmp_path: Path, opened: list[Store], secrets: None, keep_markers: bool) -> None:
    wp = WordPress(keep_markers=keep_markers)
    with LocalServer({COMMENTS: wp}) as srv:
        store, config = shop(tmp_path, opened, srv)
        case_id = seed(store, config)
        ask(store, config, case_id, actor="amira", text="Thank you, and we are sorry. We have written to you.")
        wp.lose_next_answer.set()  # WordPress makes the comment; our read times out (as if killed mid-call)
        first = dispatch(store, config)
        assert first.replied == 0 and any("public reply #1" in e and "retry in" in e for e in first.errors)
        [row] = replies(store)
        assert row.status == "queued" and row.attempts == 1 and "ReadTimeout" in (row.last_error or "")
        assert len(wp.comments) == 1
        # The retry lists the review's replies first and finds the one the lost attempt made.
        later = dispatch(store, config, at=NOW + timedelta(hours=1))
        assert later.replied == 1, later.errors
        assert len(wp.posts(srv)) == 1 and len(wp.comments) == 1
        [row] = replies(store)
        assert row.status == "posted" and row.reference == "comment 900 (posted by an earlier attempt)"
        [listed] = [r for r in srv.requests if r.method == "GET" and r.path == COMMENTS][-1:]
        assert listed.arg("post") == "77" and listed.arg("parent") == "812" and listed.arg("status") == "all"


def test_a_reply_claimed_by_a_process_that_died_is_posted_once_after_its_lease(
        tmp_path: Path, opened: list[Store], secrets: None) -> None:
    wp = WordPress()
    with LocalServer({COMMENTS: wp}) as srv:
        store, config = shop(tmp_path, opened, srv)
        case_id = seed(store, config)
        [queued] = [ask(store, config, case_id, actor="amira")]
        with httpx.Client() as client:
            # Claimed and posted, then the process died before recording it: the row still says queued.
            assert deliver_due(store, config, client, NOW, only=queued["id"]).posted == 1
            with store.session() as s:
                s.query(PublicReply).update({"status": "queued", "next_attempt_at": NOW + timedelta(seconds=300)})
            assert deliver_due(store, config, client, NOW).posted == 0  # its lease still holds
            done = deliver_due(store, config, client, NOW + timedelta(seconds=301))
        assert done.posted == 1 and len(wp.posts(srv)) == 1
        assert replies(store)[0].reference == "comment 900 (posted by an earlier attempt)"


@pytest.mark.parametrize(("text", "said"), [
    ("Sorry about the 1 star, we hope to do better.", "mentions the rating or stars (\u201c1 star\u201d)"),
    ("Sorry! Rated so low, we understand.", "mentions the rating or stars (\u201cRated\u201d)"),
    ("We are sorry. Could you update your review once it arrives?", "asks about changing the review "
     "(\u201cupdate your review\u201d)"),
    ("Sorry. We would be grateful if you removed this post.", "changing the review (\u201cremoved this post\u201d)"),
    ("Sorry! Here is a 10% discount for your trouble.", "it offers something (\u201cdiscount\u201d)"),
    ("Sorry, we sent you a free replacement.", "it offers something (\u201cfree\u201d)"),
    ("Sorry, we refunded 12.00 EUR.", "it names an amount (\u201c12.00 EUR\u201d"),
    ("Sorry, €12 is on its way back.", "it names an amount (\u201c€12\u201d)"),
    ("Sorry Cora, we wrote to cora@mail.example.", "it contains the buyer's email address (c***@mail.example)"),
    ("Sorry, order K-100 is sorted.", "it contains the order number (K-100)"),
    ("", "the reply is empty"),
    ("Sorry. " * 300, "characters long"),
])
def test_a_reply_that_breaks_the_rules_is_refused_naming_the_words(
        tmp_path: Path, opened: list[Store], secrets: None, text: str, said: str) -> None:
    wp = WordPress()
    with LocalServer({COMMENTS: wp}) as srv:
        store, config = shop(tmp_path, opened, srv)
        case_id = seed(store, config)
        with pytest.raises(ReplyRefused) as refused:
            ask(store, config, case_id, actor="amira", text=text)
        assert said in refused.value.message
        assert replies(store) == [] and srv.requests == []


def test_words_near_the_rules_still_pass(tmp_path: Path, opened: list[Store], secrets: None) -> None:
    """Feel free, the care address, an update on the order: fine; the guard is not a word ban on 'you'."""
    wp = WordPress()
    with LocalServer({COMMENTS: wp}) as srv:
        store, config = shop(tmp_path, opened, srv)
        config = with_bot(config, 'care_email = "care@kestrel.example"')
        case_id = seed(store, config)
        text = ("Thank you, and sorry. We have been in touch directly; feel free to write to care@kestrel.example "
                "any time. We will update you on the new parcel.")
        ask(store, config, case_id, actor="amira", text=text)
        assert [r.text for r in replies(store)] == [text]


def test_the_cli_refuses_with_a_clear_message_and_exit_2(
        tmp_path: Path, opened: list[Store], secrets: None, capsys: pytest.CaptureFixture[str]) -> None:
    wp = WordPress()
    with LocalServer({COMMENTS: wp}) as srv:
        store, config = shop(tmp_path, opened, srv)
        case_id = seed(store, config)
        assert main(["--config", str(config.path), "reply", str(case_id), "--text",
                     "Please change your rating and we will send a voucher."]) == 2
        err = capsys.readouterr().err
        assert "was not queued" in err and "\u201crating\u201d" in err and "\u201cvoucher\u201d" in err
        assert "change your rating" in err
        assert main(["--config", str(config.path), "reply", "99"]) == 2
        assert "no case #99" in capsys.readouterr().err
        assert replies(store) == [] and wp.posts(srv) == []


def test_a_wrong_application_password_fails_naming_the_variables(
        tmp_path: Path, opened: list[Store], secrets: None, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    wp = WordPress()
    with LocalServer({COMMENTS: wp}) as srv:
        store, config = shop(tmp_path, opened, srv)
        case_id = seed(store, config)
        monkeypatch.setenv("RECOVERYBOT_WP_APP_PASSWORD", "s3cr3t-typo")
        assert main(["--config", str(config.path), "reply", str(case_id)]) == 1
        err = capsys.readouterr().err
        assert "HTTP 401 (incorrect_password)" in err and "RECOVERYBOT_WP_USER" in err
        assert "RECOVERYBOT_WP_APP_PASSWORD" in err and "s3cr3t-typo" not in err  # the secret never shown
        [row] = replies(store)
        assert row.status == "failed" and row.attempts == 1  # a refused login is not retried
        assert "RECOVERYBOT_WP_APP_PASSWORD" in (row.last_error or "") and "s3cr3t-typo" not in (row.last_error or "")
        assert wp.comments == []
        # Asked again once the password is right: the same reply, posted.
        monkeypatch.setenv("RECOVERYBOT_WP_APP_PASSWORD", PASSWORD)
        assert main(["--config", str(config.path), "reply", str(case_id)]) == 0
        assert len(wp.comments) == 1 and replies(store)[0].status == "posted"


def test_a_missing_password_variable_claims_nothing_and_says_which(
        tmp_path: Path, opened: list[Store], secrets: None, monkeypatch: pytest.MonkeyPatch) -> None:
    wp = WordPress()
    with LocalServer({COMMENTS: wp}) as srv:
        store, config = shop(tmp_path, opened, srv)
        case_id = seed(store, config)
        ask(store, config, case_id, actor="amira")
        monkeypatch.delenv("RECOVERYBOT_WP_APP_PASSWORD")
        summary = dispatch(store, config)
        assert summary.replied == 0
        assert any("RECOVERYBOT_WP_APP_PASSWORD" in e for e in summary.errors)
        [row] = replies(store)
        assert row.status == "queued" and row.attempts == 0
        assert "environment variable RECOVERYBOT_WP_APP_PASSWORD (named by sources.shop.reply_password_env)" in (
            row.last_error or "")
        assert srv.requests == []
        monkeypatch.setenv("RECOVERYBOT_WP_APP_PASSWORD", PASSWORD)
        assert dispatch(store, config, at=NOW + timedelta(minutes=1)).replied == 1


def test_a_review_from_a_site_without_replies_is_refused(
        tmp_path: Path, opened: list[Store], secrets: None, capsys: pytest.CaptureFixture[str]) -> None:
    with LocalServer({COMMENTS: WordPress()}) as srv:
        store, config = shop(tmp_path, opened, srv)
        case_id = seed(store, config, source="reviews-page", kind="schema_org")
        with pytest.raises(ReplyRefused, match=NOT_REPLYABLE + r" \(it came from reviews-page \(schema_org\)\)"):
            ask(store, config, case_id, actor="amira")
        assert main(["--config", str(config.path), "reply", str(case_id)]) == 2
        assert "this review's site does not take replies from recoverybot" in capsys.readouterr().err
        assert replies(store) == [] and srv.requests == []
    assert supports_replies("woocommerce") and not supports_replies("trustpilot")


def test_public_replies_are_off_by_default(tmp_path: Path, opened: list[Store], secrets: None) -> None:
    assert Config().notify.public_reply is False
    [part] = [p for p in enabled_parts(Config()) if p.name == "public replies"]
    assert not part.enabled and part.detail == "off: [notify] public_reply = false"
    with LocalServer({COMMENTS: WordPress()}) as srv:
        store, config = shop(tmp_path, opened, srv, public_reply=False)
        case_id = seed(store, config)
        with pytest.raises(ReplyRefused, match="public replies are switched off"):
            ask(store, config, case_id, actor="amira")
        assert replies(store) == [] and srv.requests == []


def test_a_case_not_helped_yet_gets_no_reply(tmp_path: Path, opened: list[Store], secrets: None) -> None:
    with LocalServer({COMMENTS: WordPress()}) as srv:
        store, config = shop(tmp_path, opened, srv)
        [part] = [p for p in enabled_parts(config) if p.name == "public replies"]
        assert part.enabled and part.detail == "staff may reply under reviews of shop (`recoverybot reply ID`)"
        case_id = seed(store, config)
        with store.session() as s:
            s.get(Case, case_id).status = "awaiting_approval"  # type: ignore[union-attr]
        with pytest.raises(ReplyRefused, match="is awaiting approval: reply publicly once the buyer has been helped"):
            ask(store, config, case_id, actor="amira")
        assert replies(store) == []


def test_in_a_dry_run_the_reply_waits_for_the_trial_to_end(
        tmp_path: Path, opened: list[Store], secrets: None, capsys: pytest.CaptureFixture[str]) -> None:
    wp = WordPress()
    with LocalServer({COMMENTS: wp}) as srv:
        store, config = shop(tmp_path, opened, srv)
        case_id = seed(store, config)
        trial = with_bot(config, "dry_run = true")
        assert trial.bot.dry_run
        assert main(["--config", str(config.path), "reply", str(case_id)]) == 0
        assert "dry run: it is posted when the dry run ends" in capsys.readouterr().out
        assert wp.posts(srv) == [] and replies(store)[0].status == "queued"
        dispatch(store, config)  # the original config: the trial is over
        assert len(wp.posts(srv)) == 1


def test_the_wordpress_channel_is_a_reply_channel(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECOVERYBOT_WP_USER", USER)
    monkeypatch.setenv("RECOVERYBOT_WP_APP_PASSWORD", PASSWORD)
    with httpx.Client() as client:
        channel = build_channel("shop", "woocommerce", {"url": "https://shop.example"}, client)
    assert isinstance(channel, ReplyChannel)


@pytest.mark.postgres
def test_two_dispatchers_at_once_on_postgresql_post_one_reply(
        tmp_path: Path, opened: list[Store], secrets: None, pg_url: str) -> None:
    wp = WordPress()
    slow = threading.Event()

    def answer(request: Request) -> Route:
        route = wp(request)
        if request.method == "POST" and not slow.is_set():
            slow.set()
            route.delay = 0.5  # the first POST is still out when the other dispatcher looks
        return route

    with LocalServer({COMMENTS: answer}) as srv:
        _, sqlite_config = shop(tmp_path, opened, srv)
        assert sqlite_config.path is not None
        text = sqlite_config.path.read_text(encoding="utf-8").replace('"sqlite:///store.db"', f'"{pg_url}"')
        sqlite_config.path.write_text(text, encoding="utf-8")
        config = loads(text, path=sqlite_config.path)
        store = open_store(config.bot.database, config.base_dir)
        opened.append(store)
        case_id = seed(store, config)
        ask(store, config, case_id, actor="amira")
        results: list[int] = []

        def run() -> None:
            with httpx.Client() as client:
                results.append(deliver_due(store, config, client, NOW).posted)

        threads = [threading.Thread(target=run) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        assert sorted(results) == [0, 1]
        assert len(wp.posts(srv)) == 1 and len(wp.comments) == 1
        assert replies(store)[0].status == "posted"
