"""Instant alerts end to end: real cases in a real SQLite store, sent by Apprise (its ``json://``
service) to a loopback HTTP receiver, one cycle at a time.

Each ``[[alerts]]`` trigger has its test (a case waiting above an amount, a remedy that failed, a
source failing N times, the outbox stuck); so do "once per event, also after a restart", the rate
limit and a receiver that fails.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.alerts.send import case_link, run_alerts
from bot.config import Config, loads
from bot.decide.cases import process
from bot.decide.staff import approve, list_cases
from bot.outbox import dispatch_due
from bot.pipeline import run_cycle
from bot.store import AlertSent, Store, open_store
from tests.decide_world import NOW, add_mention, add_order, days_ago
from tests.httpserver import LocalServer, Route

ALERT_ENV = "RB_TEST_ALERT_URL"
HOOK_SECRET = "test-webhook-secret-not-real"


@pytest.fixture
def receiver() -> Iterator[LocalServer]:
    """Where alerts arrive (Apprise's json:// posts one JSON object per alert) and where remedies go."""
    with LocalServer({"/alerts": Route(body="{}", content_type="application/json"),
                      "/remedies": Route(body='{"ok": true}', content_type="application/json"),
                      "/reviews": Route(body="not here", status=404)}) as srv:
        yield srv


def make_config(tmp_path: Path, receiver: LocalServer, alerts: str, extra: str = "") -> Config:
    text = f"""
[bot]
database = "sqlite:///store.db"
shop_name = "Kestrel Lane"

[policy]
daily_budget = 400
monthly_budget = 2000

[[fulfilment]]
name = "warehouse"
kind = "webhook"
url = "{receiver.url('/remedies')}"
secret_env = "RB_TEST_WEBHOOK_SECRET"

[[alerts]]
name = "care-chat"
url_env = "{ALERT_ENV}"
{alerts}
{extra}
"""
    (tmp_path / "config.toml").write_text(text, encoding="utf-8")
    return loads(text, path=tmp_path / "config.toml")


@pytest.fixture
def env(receiver: LocalServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RB_TEST_WEBHOOK_SECRET", HOOK_SECRET)
    monkeypatch.setenv(ALERT_ENV, receiver.url("/alerts").replace("http://", "json://", 1))


def alerts_received(receiver: LocalServer) -> list[dict[str, Any]]:
    return [json.loads(r.body) for r in receiver.requests if r.path == "/alerts"]


def seed_missing_parts(store: Store, prices: list[str], start: int = 0) -> None:
    """Buyers whose kettle came without its lid: the built-in rules send those to approval."""
    with store.session() as s:
        for i, price in enumerate(prices, start=start):
            email = f"buyer{i}@mail.example"
            add_order(s, email, f"Pat Number{i}", f"P-{i}", [(f"KET-{i}", "Travel Kettle", price, 1)],
                      placed=days_ago(10), delivered=days_ago(7))
            add_mention(s, f"p{i}", f"Kettle number {i} came without its lid, parts missing.", "missing_parts",
                        published=days_ago(1), author_email=email, rating=1)


def one_cycle(store: Store, config: Config, at: Any = NOW) -> Any:
    with httpx.Client() as client:
        return run_cycle(config, store, client=client, now=lambda: at)


def rows(store: Store) -> list[AlertSent]:
    with store.session() as s:
        found = s.query(AlertSent).order_by(AlertSent.id).all()
        s.expunge_all()
        return found


# --- a case waiting for approval ---------------------------------------------------------------


def test_a_waiting_case_alerts_within_one_cycle_once_even_after_a_restart(
        tmp_path: Path, receiver: LocalServer, env: None) -> None:
    config = make_config(tmp_path, receiver, "case_waiting_above = 0")
    store = open_store(config.bot.database, config.base_dir)
    try:
        seed_missing_parts(store, ["25.00"])
        report = one_cycle(store, config)
        [case] = list_cases(store, status="awaiting_approval")
        assert report.ok, report.lines()
        [alert] = alerts_received(receiver)
        assert alert["title"].startswith(f"Case {case['id']} waits for your approval")
        body = alert["message"]
        # what a person needs to decide, in words, with the way to the case (no web inbox set up)
        assert "Pat Number0" in body and "came without its lid" in body and "Order: P-0" in body
        assert f"Proposed: replacement €{case['remedies'][0]['amount']}" in body
        assert f"recoverybot cases {case['id']}" in body and f"recoverybot approve {case['id']}" in body
        assert "auto_up_to" not in body and "True" not in body
        one_cycle(store, config)
        assert len(alerts_received(receiver)) == 1  # the same case never alerts twice
    finally:
        store.dispose()
    # a restart: a new process opens the same database and runs its cycle
    store = open_store(config.bot.database, config.base_dir)
    try:
        one_cycle(store, config, NOW + timedelta(hours=3))
        assert len(alerts_received(receiver)) == 1
        assert [(r.target, r.event, r.status) for r in rows(store)] == [
            ("care-chat", f"case_waiting:{case['id']}", "sent")]
    finally:
        store.dispose()


def test_with_the_web_inbox_on_an_alert_links_the_case_page(tmp_path: Path, receiver: LocalServer,
                                                             env: None) -> None:
    config = make_config(tmp_path, receiver, "case_waiting_above = 0",
                         '[web]\nenabled = true\npublic_url = "https://care.shop.example/"')
    store = open_store(config.bot.database, config.base_dir)
    try:
        seed_missing_parts(store, ["25.00"])
        one_cycle(store, config)
        [case] = list_cases(store, status="awaiting_approval")
        [alert] = alerts_received(receiver)
        assert f"Open the case in the inbox: https://care.shop.example/case/{case['id']}" in alert["message"]
        assert "/link/" not in alert["message"]  # a page to decide on, never a signed one-click action
    finally:
        store.dispose()
    # the inbox off (its address has a default): no link, the commands instead
    (tmp_path / "off").mkdir()
    assert case_link(make_config(tmp_path / "off", receiver, "case_waiting_above = 0"), 7) is None


def test_only_cases_waiting_at_or_above_the_amount_alert(tmp_path: Path, receiver: LocalServer, env: None) -> None:
    config = make_config(tmp_path, receiver, "case_waiting_above = 50")
    store = open_store(config.bot.database, config.base_dir)
    try:
        seed_missing_parts(store, ["25.00", "60.00"])
        one_cycle(store, config)
        waiting = {c["order"]["number"]: c for c in list_cases(store, status="awaiting_approval")}
        assert set(waiting) == {"P-0", "P-1"}
        [alert] = alerts_received(receiver)
        assert alert["title"].startswith(f"Case {waiting['P-1']['id']} waits")
    finally:
        store.dispose()


def test_the_rate_limit_holds_alerts_back_and_sends_them_later(
        tmp_path: Path, receiver: LocalServer, env: None) -> None:
    config = make_config(tmp_path, receiver, "case_waiting_above = 0\nmax_per_hour = 2")
    store = open_store(config.bot.database, config.base_dir)
    try:
        seed_missing_parts(store, ["25.00", "26.00", "27.00"])
        process(store, config, now=NOW)
        first = run_alerts(store, config, now=NOW)
        assert (first.sent, first.held) == (2, 1)
        later = run_alerts(store, config, now=NOW + timedelta(minutes=30))
        assert (later.sent, later.held) == (0, 1)  # still within the hour
        assert len(alerts_received(receiver)) == 2
        after = run_alerts(store, config, now=NOW + timedelta(minutes=61))
        assert (after.sent, after.held) == (1, 0)
        titles = [a["title"] for a in alerts_received(receiver)]
        ids = sorted(c["id"] for c in list_cases(store, status="awaiting_approval"))
        assert sorted(int(t.split()[1]) for t in titles) == ids  # each case once, none dropped
    finally:
        store.dispose()


def test_a_failing_receiver_is_a_recorded_error_not_a_crash_and_is_retried(
        tmp_path: Path, receiver: LocalServer, env: None) -> None:
    receiver.routes["/alerts"] = Route(body="down for maintenance", status=503)
    config = make_config(tmp_path, receiver, "case_waiting_above = 0")
    store = open_store(config.bot.database, config.base_dir)
    try:
        seed_missing_parts(store, ["25.00"])
        report = one_cycle(store, config)
        assert list_cases(store, status="awaiting_approval")  # the cycle did its work
        assert "alerts" not in report.failures and not report.ok
        assert any("could not be sent" in line for line in report.lines())
        [row] = rows(store)
        assert row.status == "failed" and row.attempts == 1 and row.last_error
        assert "json://" not in row.last_error and "127.0.0.1" not in row.last_error  # never the secret URL
        receiver.routes["/alerts"] = Route(body="{}", content_type="application/json")
        one_cycle(store, config, NOW + timedelta(minutes=10))
        one_cycle(store, config, NOW + timedelta(minutes=20))
        [row] = rows(store)
        assert (row.status, row.attempts) == ("sent", 2)
        assert len([r for r in receiver.requests if r.path == "/alerts"]) == 2  # one failed, one delivered
    finally:
        store.dispose()


def test_an_unset_url_variable_names_the_variable(tmp_path: Path, receiver: LocalServer, env: None,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ALERT_ENV)
    config = make_config(tmp_path, receiver, "case_waiting_above = 0")
    store = open_store(config.bot.database, config.base_dir)
    try:
        seed_missing_parts(store, ["25.00"])
        summary = run_alerts(store, config, now=NOW)
        assert summary.errors and ALERT_ENV in summary.errors[0] and "care-chat" in summary.errors[0]
        assert rows(store) == []  # nothing claimed: it is sent once the variable is set
    finally:
        store.dispose()


# --- the other triggers -------------------------------------------------------------------------


def test_a_remedy_that_failed_alerts_once(tmp_path: Path, receiver: LocalServer, env: None) -> None:
    receiver.routes["/remedies"] = Route(body="unknown sku", status=400)  # refused: not retried
    config = make_config(tmp_path, receiver, "remedy_failed = true")
    store = open_store(config.bot.database, config.base_dir)
    try:
        seed_missing_parts(store, ["25.00"])
        process(store, config, now=NOW)
        [case] = list_cases(store, status="awaiting_approval")
        approve(store, case["id"], actor="sam", now=NOW, config=config)
        assert run_alerts(store, config, now=NOW).sent == 0  # queued, not failed yet
        one_cycle(store, config, NOW + timedelta(minutes=1))
        assert list_cases(store, status="failed")
        [alert] = alerts_received(receiver)
        assert alert["title"] == (f"A remedy could not be delivered: replacement €{case['remedies'][0]['amount']} "
                                  f"for case {case['id']}")
        assert "HTTP 400" in alert["message"] and "unknown sku" in alert["message"]
        assert f"recoverybot cases {case['id']}" in alert["message"]
        one_cycle(store, config, NOW + timedelta(minutes=5))
        assert len(alerts_received(receiver)) == 1
    finally:
        store.dispose()


def test_a_source_failing_n_times_in_a_row_alerts_once_per_streak(
        tmp_path: Path, receiver: LocalServer, env: None) -> None:
    source = f"""
[[sources]]
name = "shop-reviews"
kind = "schema_org"
urls = ["{receiver.url('/reviews')}"]
"""
    config = make_config(tmp_path, receiver, "source_failing = 3", source)
    store = open_store(config.bot.database, config.base_dir)
    try:
        for minute in range(2):
            one_cycle(store, config, NOW + timedelta(minutes=minute))
        assert alerts_received(receiver) == []  # two failures: not yet
        one_cycle(store, config, NOW + timedelta(minutes=2))
        [alert] = alerts_received(receiver)
        assert alert["title"] == "Source shop-reviews has failed 3 times in a row"
        assert "404" in alert["message"] and receiver.url("/reviews") in alert["message"]
        one_cycle(store, config, NOW + timedelta(minutes=3))
        assert len(alerts_received(receiver)) == 1  # the same streak alerts once
    finally:
        store.dispose()


def test_a_remedy_stuck_in_the_outbox_alerts_after_the_minutes_set(
        tmp_path: Path, receiver: LocalServer, env: None) -> None:
    receiver.routes["/remedies"] = Route(body="busy", status=503)  # retried: it stays queued
    config = make_config(tmp_path, receiver, "outbox_stuck = 60")
    store = open_store(config.bot.database, config.base_dir)
    try:
        seed_missing_parts(store, ["25.00"])
        process(store, config, now=NOW)
        [case] = list_cases(store, status="awaiting_approval")
        approve(store, case["id"], actor="sam", now=NOW, config=config)
        with httpx.Client() as client:
            dispatch_due(store, config, client=client, now=NOW)
        assert run_alerts(store, config, now=NOW + timedelta(minutes=59)).sent == 0
        assert run_alerts(store, config, now=NOW + timedelta(minutes=61)).sent == 1
        [alert] = alerts_received(receiver)
        assert alert["title"] == (f"The outbox is stuck: the replacement €{case['remedies'][0]['amount']} "
                                  f"for case {case['id']} waits for 61 minutes")
        assert "HTTP 503" in alert["message"] and "1 attempt so far" in alert["message"]
        assert run_alerts(store, config, now=NOW + timedelta(minutes=120)).sent == 0
    finally:
        store.dispose()


# --- the docs --------------------------------------------------------------------------------------


def test_every_service_example_in_the_docs_is_a_url_apprise_understands() -> None:
    import re

    import apprise

    doc = (Path(__file__).resolve().parents[1] / "docs" / "alerts.md").read_text(encoding="utf-8")
    urls = re.findall(r"RECOVERYBOT_ALERT_URL='([^']+)'", doc)
    schemes = {url.split("://", 1)[0] for url in urls}
    assert {"https", "slack", "workflows", "discord", "tgram", "mailtos", "jsons"} <= schemes
    for url in urls:
        sender = apprise.Apprise(asset=apprise.AppriseAsset(storage_mode="memory"))
        assert sender.add(url), url


def test_check_warns_when_an_alert_variable_is_not_set(tmp_path: Path, receiver: LocalServer,
                                                       env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    from bot.config import missing_secrets

    config = make_config(tmp_path, receiver, "case_waiting_above = 0")
    assert ("alerts[0].url_env", ALERT_ENV) not in missing_secrets(config)
    monkeypatch.delenv(ALERT_ENV)
    assert ("alerts[0].url_env", ALERT_ENV) in missing_secrets(config)
