"""The web inbox's security and actions, against a real uvicorn server on loopback (httpx client),
a real SQLite store and aiosmtpd for the sign-in mail: forged, expired, replayed, cross-case and
stale links; POSTs without a CSRF token; pages without a session; a public bind without a key."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
import subprocess
from pathlib import Path

import httpx
import pytest

from bot.decide.staff import change_amount
from bot.errors import ConfigError
from bot.store import AuditLog, Case, Remedy
from bot.web.links import case_links, make, proposal_fingerprint, signing_key
from bot.web.server import WebServer
from tests.decide_world import NOW
from tests.webworld import KEY, STAFF, World, csrf_of, sign_in, start


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    yield from start(tmp_path, cases=2)


@pytest.fixture
def client(world: World) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=world.url, follow_redirects=True, timeout=20) as c:
        yield c


def links(world: World, case_id: int, recipient: str = STAFF) -> dict[str, str]:
    return case_links(KEY.encode(), world.config.web, world.case(case_id), recipient, NOW)


def statuses(world: World, case_id: int) -> tuple[str, list[str]]:
    with world.store.session() as session:
        case = session.get(Case, case_id)
        assert case is not None
        return case.status, sorted(r.status for r in case.remedies)


def confirm(client: httpx.Client, url: str, **form: str) -> httpx.Response:
    page = client.get(url)
    assert page.status_code == 200, page.text[:300]
    return client.post(url, data={"csrf": csrf_of(page.text), **form})


def test_a_link_shows_who_what_and_cost_and_a_get_never_acts(world: World, client: httpx.Client) -> None:
    case_id = world.case_id()
    for _ in range(3):  # a mail scanner opening the link again and again
        page = client.get(links(world, case_id)["approve"])
        assert page.status_code == 200
    assert "Amélie Laurent" in page.text and "€113.00" in page.text and STAFF in page.text
    assert "refund €108.00" in page.text and 'id="confirm"' in page.text
    assert statuses(world, case_id) == ("awaiting_approval", ["proposed", "proposed", "proposed"])
    assert page.headers["referrer-policy"] == "no-referrer" and "frame-ancestors 'none'" in page.headers[
        "content-security-policy"]


def test_approve_link_queues_once_records_the_recipient_and_refuses_a_replay(world: World,
                                                                              client: httpx.Client) -> None:
    case_id = world.case_id()
    url = links(world, case_id, "owner@kestrel.example")["approve"]
    page = client.get(url)
    token = csrf_of(page.text)
    done = client.post(url, data={"csrf": token, "note": "So sorry about the mix-up."})
    assert done.status_code == 200 and f"Case {case_id} is approved" in done.text
    assert statuses(world, case_id) == ("queued", ["queued", "queued", "queued"])
    again = client.post(url, data={"csrf": token})
    assert again.status_code == 409 and "used already" in again.text
    assert client.get(url).status_code == 409  # the page says so too
    with world.store.session() as session:
        approvals = session.query(AuditLog).filter_by(case_id=case_id, action="approved").all()
        assert [a.actor for a in approvals] == ["owner@kestrel.example"]
        notes = {r.note for r in session.query(Remedy).filter_by(case_id=case_id)}
        assert all("So sorry about the mix-up." in n for n in notes)


def _payload(token: str) -> dict[str, object]:
    body = token.rsplit("/", 1)[1].split(".")[0]
    return dict(json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))))


def _forge(url: str, **changes: object) -> str:
    prefix, token = url.rsplit("/", 1)
    payload = {**_payload(url), **changes}
    body = base64.urlsafe_b64encode(json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()).rstrip(b"=")
    return f"{prefix}/{body.decode()}.{token.split('.')[1]}"


def test_forged_and_cross_case_links_are_refused(world: World, client: httpx.Client) -> None:
    first = world.case_id()
    second = first + 1
    url = links(world, first)["approve"]
    # another case's id put into this link (keeping its signature): refused, neither case moves
    cross = _forge(url, c=second, f=proposal_fingerprint(world.case(second)))
    for bad in (cross, _forge(url, a="reject"), url[:-3] + "AAA", url.rsplit("/", 1)[0] + "/nonsense",
                url.rsplit("/", 1)[0] + "/" + "x" * 5000):
        page = client.get(bad)
        assert page.status_code in (400, 404) and "not one the bot made" in page.text, bad
        post = client.post(bad, data={"csrf": csrf_of(client.get(url).text)})
        assert post.status_code in (400, 404)
    # a link signed with another key
    other = make(b"another-key-another-key-another-key!", "approve", STAFF, NOW + timedelta(days=1), case_id=first,
                 fingerprint=proposal_fingerprint(world.case(first)))
    assert client.get(f"/link/{other}").status_code == 400
    assert statuses(world, first)[0] == statuses(world, second)[0] == "awaiting_approval"


def test_expired_link_is_refused_with_what_to_do(world: World, client: httpx.Client) -> None:
    case_id = world.case_id()
    token = make(KEY.encode(), "approve", STAFF, NOW - timedelta(minutes=1), case_id=case_id,
                 fingerprint=proposal_fingerprint(world.case(case_id)))
    page = client.get(f"/link/{token}")
    assert page.status_code == 410 and "expired" in page.text and "Sign in to the inbox" in page.text
    assert client.post(f"/link/{token}", data={"csrf": csrf_of(client.get("/login").text)}).status_code == 410
    assert statuses(world, case_id)[0] == "awaiting_approval"


def test_a_link_made_before_the_proposal_changed_is_refused(world: World, client: httpx.Client) -> None:
    case_id = world.case_id()
    url = links(world, case_id)["approve"]
    refund = next(r for r in world.case(case_id).remedies if r.kind == "refund")
    change_amount(world.store, case_id, refund.id, Decimal("90"), actor="someone@kestrel.example",
                  config=world.config, now=NOW)
    page = client.get(url)
    assert page.status_code == 409 and "changed after this link was made" in page.text
    assert client.post(url, data={"csrf": csrf_of(client.get("/login").text)}).status_code == 409
    assert statuses(world, case_id)[0] == "awaiting_approval"
    # a fresh link for the new proposal works
    assert confirm(client, links(world, case_id)["approve"]).status_code == 200
    assert statuses(world, case_id)[0] == "queued"


def test_post_without_csrf_token_does_nothing(world: World, client: httpx.Client) -> None:
    case_id = world.case_id()
    url = links(world, case_id)["approve"]
    client.get(url)  # the browser cookie is set, but the form's token is missing or wrong
    assert client.post(url, data={}).status_code == 403
    assert client.post(url, data={"csrf": "0" * 40}).status_code == 403
    with httpx.Client(base_url=world.url) as fresh:  # a token without its cookie (another site's form)
        assert fresh.post(url, data={"csrf": csrf_of(client.get(url).text)}).status_code == 403
    sign_in(client, world)
    assert client.post(f"/case/{case_id}/approve", data={}).status_code == 403
    assert client.post("/bulk", data={"case": str(case_id)}).status_code == 403
    assert statuses(world, case_id)[0] == "awaiting_approval"


def test_inbox_pages_need_a_session(world: World, client: httpx.Client) -> None:
    case_id = world.case_id()
    for path in ("/", f"/case/{case_id}", "/watch", "/health"):
        page = client.get(path)
        assert page.url.path == "/login" and "Email me a sign-in link" in page.text, path
    csrf = csrf_of(client.get("/login").text)
    client.post(f"/case/{case_id}/approve", data={"csrf": csrf})
    # a session cookie that was not signed by the bot, or signed for a sign-in link, is no session
    client.cookies.set("rb_session", make(b"x" * 40, "session", STAFF, NOW + timedelta(hours=1)))
    assert client.get("/").url.path == "/login"
    client.cookies.set("rb_session", make(KEY.encode(), "signin", STAFF, NOW + timedelta(hours=1)))
    assert client.get("/").url.path == "/login"
    assert statuses(world, case_id)[0] == "awaiting_approval"


def test_sign_in_by_emailed_link_works_once_and_only_for_staff(world: World, client: httpx.Client) -> None:
    page = client.get("/login")
    answer = client.post("/login", data={"email": "stranger@elsewhere.example", "csrf": csrf_of(page.text)})
    assert "Check your email" in answer.text and world.smtp.messages == []  # same answer, no mail
    link = sign_in(client, world)
    inbox = client.get("/")
    assert "Waiting for you" in inbox.text and f"Case {world.case_id()}" in inbox.text and STAFF in inbox.text
    cookie = next(c for c in client.cookies.jar if c.name == "rb_session")
    assert cookie.has_nonstandard_attr("HttpOnly") and not cookie.secure
    with httpx.Client(timeout=20) as other:  # the same sign-in link again
        page = other.get(link)
        assert other.post(link, data={"csrf": csrf_of(page.text)}).status_code == 409


def test_reject_needs_a_reason_and_change_stays_within_the_cap(world: World, client: httpx.Client) -> None:
    first = world.case_id()
    second = first + 1
    reject = links(world, first)["reject"]
    refused = confirm(client, reject, reason="  ")
    assert refused.status_code == 409 and "needs a reason" in refused.text
    done = confirm(client, reject, reason="Buyer already got a refund by phone")  # the same link still works
    assert done.status_code == 200 and statuses(world, first) == ("dismissed", ["cancelled"] * 3)
    change = links(world, second)["change"]
    refund = next(r for r in world.case(second).remedies if r.kind == "refund")
    too_much = confirm(client, change, remedy=str(refund.id), amount="151")
    assert too_much.status_code == 409 and "150" in too_much.text
    assert confirm(client, change, remedy=str(refund.id), amount="abc").status_code == 409
    ok = confirm(client, change, remedy=str(refund.id), amount="95.50")
    assert ok.status_code == 200 and "95.50" in ok.text
    with world.store.session() as session:
        rows = {r.kind: (r.amount, r.status) for r in session.query(Remedy).filter_by(case_id=second)}
        assert rows["refund"] == (Decimal("95.50"), "queued")
        note = session.query(Remedy).filter_by(case_id=second, kind="refund").one().note or ""
        assert "a refund of 95.50 EUR is on its way" in note and "full refund" not in note, note
        actors = [a.actor for a in session.query(AuditLog).filter_by(case_id=second).order_by(AuditLog.id)
                  if a.action in ("changed", "approved")]
        assert actors == [STAFF, STAFF]


def test_inbox_case_page_change_approve_and_bulk(world: World, client: httpx.Client) -> None:
    sign_in(client, world)
    first = world.case_id()
    second = first + 1
    page = client.get(f"/case/{first}")
    assert "What they wrote" in page.text and "Decide" in page.text
    refund = next(r for r in world.case(first).remedies if r.kind == "refund")
    changed = client.post(f"/case/{first}/change", data={"csrf": csrf_of(page.text), "remedy": str(refund.id),
                                                          "amount": "100"})
    assert changed.status_code == 200 and statuses(world, first)[0] == "awaiting_approval"
    inbox = client.get("/")
    bulk = client.post("/bulk", data={"csrf": csrf_of(inbox.text), "case": [str(first), str(second), "99999"]})
    assert bulk.status_code == 200 and "Case 99999: not approved" in bulk.text
    assert statuses(world, first)[0] == statuses(world, second)[0] == "queued"
    after = client.get("/")
    assert "Nothing waits for you" in after.text and f'id="done-{first}"' in after.text
    assert client.get("/watch").status_code == 200 and "Source health" in client.get("/health").text


def test_public_bind_without_a_key_is_refused_at_start_up(tmp_path: Path) -> None:
    from tests.webworld import make_config

    config = make_config(tmp_path, 25, 8787, "")
    public = config.model_copy(update={"web": config.web.model_copy(update={"bind": "0.0.0.0"})})
    with pytest.raises(ConfigError) as caught:
        signing_key(public.web, environ={})
    assert "[web] bind" in str(caught.value) and "RB_TEST_WEB_KEY" in str(caught.value)
    with pytest.raises(ConfigError, match=r"\[web\] bind"):
        WebServer(public, None, environ={})  # type: ignore[arg-type]  # refused before the store is touched
    with pytest.raises(ConfigError, match="at least 32"):
        signing_key(public.web, environ={"RB_TEST_WEB_KEY": "short"})
    assert signing_key(public.web, environ={"RB_TEST_WEB_KEY": KEY}) == KEY.encode()
    assert signing_key(config.web, environ={})  # loopback: a key made for this process


def _daemon_config(tmp_path: Path, port: int, bind: str = "127.0.0.1", shop: str = "Kestrel Lane") -> Path:
    path = tmp_path / "config.toml"
    path.write_text(f"""
[bot]
database = "sqlite:///daemon.db"
shop_name = "{shop}"

[schedule]
jitter = "1s"

[web]
enabled = true
bind = "{bind}"
port = {port}
public_url = "http://127.0.0.1:{port}"
key_env = "RB_TEST_WEB_KEY_UNSET"
""", encoding="utf-8")
    return path


def test_the_daemon_serves_the_inbox_and_refuses_a_public_bind_without_key(tmp_path: Path) -> None:
    import os
    import signal
    import sys

    from tests.test_daemon import ROOT, Proc, wait_for
    from tests.test_mailer import free_port

    env = {k: v for k, v in os.environ.items() if k not in ("RECOVERYBOT_CONFIG", "RB_TEST_WEB_KEY_UNSET")}
    refused = subprocess.run([sys.executable, "-m", "bot.cli", "--config", str(_daemon_config(tmp_path, 8787, "0.0.0.0")),
                              "run"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert refused.returncode == 2, refused.stderr
    assert "[web] bind" in refused.stderr and "$RB_TEST_WEB_KEY_UNSET" in refused.stderr

    port = free_port()
    with Proc(_daemon_config(tmp_path, port)) as proc:
        def answers() -> bool:
            try:
                return httpx.get(f"http://127.0.0.1:{port}/login", timeout=2).status_code == 200
            except httpx.TransportError:
                return False

        wait_for("the inbox to answer", answers, timeout=60, proc=proc)
        assert "Kestrel Lane" in httpx.get(f"http://127.0.0.1:{port}/login", timeout=10).text

        # A reload reaches the inbox too (shop name, caps, staff): it follows the daemon's config.
        _daemon_config(tmp_path, port, shop="Heron Row")
        proc.signal(signal.SIGHUP)
        wait_for("the inbox to show the reloaded config",
                 lambda: "Heron Row" in httpx.get(f"http://127.0.0.1:{port}/login", timeout=10).text,
                 timeout=60, proc=proc)
        proc.signal(signal.SIGTERM)
        assert proc.wait(60) == 0


def test_recoverybot_web_serves_in_the_foreground(tmp_path: Path) -> None:
    import os
    import sys

    from tests.test_daemon import ROOT

    env = {k: v for k, v in os.environ.items() if k != "RECOVERYBOT_CONFIG"}
    with subprocess.Popen([sys.executable, "-m", "bot.cli", "--config", str(_daemon_config(tmp_path, 8787)), "web",
                           "--port", "0"], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True) as proc:
        _foreground(proc)


def _foreground(proc: subprocess.Popen[str]) -> None:
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()  # printed once it listens; the read ends when the process does
        assert line.startswith("web inbox on http://127.0.0.1:"), line + (proc.stderr.read() if proc.stderr else "")
        url = line.split()[3]
        page = httpx.get(f"{url}/login", timeout=10)
        assert page.status_code == 200 and "Signing in needs the bot's mail settings" in page.text  # no [digest] smtp_host here
    finally:
        proc.terminate()
        proc.wait(30)


def _send_digest(world: World) -> list[tuple[list[str], str, str]]:
    """Send the digest of the day before NOW through aiosmtpd; (recipients, html, text) per message."""
    from bot.report.digest import send
    from bot.report.mailer import Mailer
    from bot.report.view import previous_day

    before = len(world.smtp.messages)
    send(world.store, world.config, mailer=Mailer.from_digest_config(world.config.digest),
         day=previous_day(NOW, world.config.zone), now=NOW, force=True)
    out = []
    for received in world.smtp.messages[before:]:
        msg = received.message
        html = msg.get_body(("html",))
        text = msg.get_body(("plain",))
        assert html is not None and text is not None
        out.append((received.rcpt_tos, html.get_content(), text.get_content()))
    return out


def test_digest_buttons_are_signed_for_each_recipient(world: World, client: httpx.Client,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    import re

    monkeypatch.delenv("RB_TEST_WEB_KEY", raising=False)
    from bot.web import links as web_links

    monkeypatch.setattr(web_links, "_KEY", [])  # as in a `digest --send` process without the key
    [(to, html, text)] = _send_digest(world)  # no key: one message to all, the commands instead of buttons
    assert sorted(to) == sorted(world.config.digest.to) and "/link/" not in html and "recoverybot approve" in html

    monkeypatch.setenv("RB_TEST_WEB_KEY", KEY)
    messages = _send_digest(world)
    assert sorted(to for to, _html, _text in messages) == sorted([[a] for a in world.config.digest.to])
    case_id = world.case_id()
    for [recipient], html, text in messages:
        found = re.findall(r'<a href="(http://127\.0\.0\.1:\d+/link/[^"]+)"[^>]*>(Approve|Reject|Change)</a>', html)
        assert [label for _url, label in found] == ["Approve", "Reject", "Change"] * 2
        assert all(url in text for url, _label in found)  # the plain-text part has the same links
        assert "commands above on the bot's machine" not in html and f'<a href="{world.config.web.public_url}/"' in html
        approve = found[0][0].replace("&amp;", "&")
        page = client.get(approve)
        assert page.status_code == 200 and f"{recipient} (until" in page.text and f"case {case_id}" in page.text
    assert statuses(world, case_id)[0] == "awaiting_approval"  # opening them did nothing


def test_the_also_waiting_lines_have_their_own_buttons(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Past [digest] cards the waiting cases are one line each, and still one click from a decision."""
    import re

    monkeypatch.setenv("RB_TEST_WEB_KEY", KEY)

    for world in start(tmp_path, cases=3, digest="cards = 1"):
        with httpx.Client(base_url=world.url, follow_redirects=True, timeout=20) as client:
            messages = _send_digest(world)
            with world.store.session() as session:
                waiting = [c.id for c in session.query(Case).filter_by(status="awaiting_approval").order_by(Case.id)]
            assert len(waiting) == 3
            [recipient], html, text = messages[0]
            assert "Also waiting" in html and "Also waiting" in text
            also = html[html.index("Also waiting"):]
            found = re.findall(r'<a href="(http://127\.0\.0\.1:\d+/link/[^"]+)"[^>]*>(Approve|Reject|Change)</a>', also)
            assert [label for _url, label in found] == ["Approve", "Reject", "Change"] * 2
            assert all(url.replace("&amp;", "&") in text for url, _label in found)
            # Each line's Approve opens the confirmation of its own case, signed for this recipient.
            shown = []
            for url, label in found:
                if label == "Approve":
                    page = client.get(url.replace("&amp;", "&"))
                    assert page.status_code == 200 and f"{recipient} (until" in page.text
                    shown += [cid for cid in waiting if f"case {cid}" in page.text]
            assert len(shown) == 2 and set(shown) < set(waiting)
            assert all(statuses(world, cid)[0] == "awaiting_approval" for cid in waiting)  # a GET never acts


def test_a_decision_on_an_older_proposal_is_refused_under_the_lock(world: World) -> None:
    from bot.decide.staff import ProposalChanged, approve, reject

    case_id = world.case_id()
    seen = proposal_fingerprint(world.case(case_id))
    refund = next(r for r in world.case(case_id).remedies if r.kind == "refund")
    change_amount(world.store, case_id, refund.id, Decimal("80"), actor=STAFF, config=world.config, now=NOW,
                  proposal=seen)
    for decide in (lambda: approve(world.store, case_id, actor=STAFF, now=NOW, config=world.config, proposal=seen),
                   lambda: reject(world.store, case_id, actor=STAFF, reason="no", now=NOW, proposal=seen)):
        with pytest.raises(ProposalChanged):
            decide()
    assert statuses(world, case_id)[0] == "awaiting_approval"
    approve(world.store, case_id, actor=STAFF, now=NOW, config=world.config,
            proposal=proposal_fingerprint(world.case(case_id)))
    assert statuses(world, case_id)[0] == "queued"


def test_sign_in_mails_to_one_address_are_limited(world: World, client: httpx.Client) -> None:
    from bot.web.app import SIGNIN_PER_HOUR

    for _ in range(SIGNIN_PER_HOUR + 3):
        page = client.get("/login")
        answer = client.post("/login", data={"email": STAFF, "csrf": csrf_of(page.text)})
        assert "Check your email" in answer.text
    assert len(world.smtp.messages) == SIGNIN_PER_HOUR


@pytest.mark.postgres
def test_a_link_is_used_once_on_postgresql(pg_url: str) -> None:
    from bot.store import open_store
    from bot.web.links import LinkRefused, claim, unclaim, verify, was_used

    store = open_store(pg_url)
    try:
        link = verify(KEY.encode(), make(KEY.encode(), "approve", "x" * 300 + "@long.example", NOW + timedelta(days=1),
                                         case_id=7, fingerprint="abc"), NOW, actions=("approve",))
        claim(store, link, NOW)
        with pytest.raises(LinkRefused) as caught:
            claim(store, link, NOW)
        assert caught.value.reason == "used" and was_used(store, link)
        unclaim(store, link)
        claim(store, link, NOW)
    finally:
        store.dispose()


def test_cookies_are_secure_when_staff_reach_the_inbox_over_https(world: World) -> None:
    import re

    https = world.config.model_copy(update={"web": world.config.web.model_copy(
        update={"public_url": "https://inbox.kestrel.example"})})
    server = WebServer(https, world.store, port=0, clock=lambda: NOW, environ={"RB_TEST_WEB_KEY": KEY}).start()
    try:
        with httpx.Client(base_url=server.url, timeout=20) as client:
            page = client.get("/login")
            assert "secure" in page.headers["set-cookie"].lower() and "httponly" in page.headers["set-cookie"].lower()
            # a Secure cookie is not sent back over plain http: hand it back as the proxy's https would
            client.cookies.set("rb_browser", page.cookies["rb_browser"])
            answer = client.post("/login", data={"email": STAFF, "csrf": csrf_of(page.text)})
            assert "Check your email" in answer.text
            link = re.search(r"https://inbox\.kestrel\.example(/signin/\S+)", world.smtp.messages[-1].message.get_content())
            assert link, "the sign-in link starts with public_url"
            confirm = client.get(link.group(1))
            done = client.post(link.group(1), data={"csrf": csrf_of(confirm.text)})
            assert done.status_code == 303
            cookie = done.headers["set-cookie"]
            assert cookie.startswith("rb_session=") and all(
                flag in cookie.lower() for flag in ("secure", "httponly", "samesite=lax"))
    finally:
        server.stop()
