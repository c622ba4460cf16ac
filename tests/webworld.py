"""A shop with one case waiting for approval, the web inbox served by a real uvicorn on loopback, and
an aiosmtpd server for the sign-in mail and the digest (shared by test_web and test_browser)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

from bot.config import Config, loads
from bot.decide.cases import process
from bot.store import Case, Store, open_store
from bot.web.server import WebServer
from tests.decide_world import NOW, add_mention, add_order, days_ago
from tests.test_mailer import SmtpServer, free_port

KEY = "test-signing-key-0123456789-abcdefghijklmnop"
STAFF = "care@kestrel.example"


@dataclass
class World:
    store: Store
    config: Config
    web: WebServer
    smtp: SmtpServer

    @property
    def url(self) -> str:
        return self.web.url

    def case_id(self) -> int:
        with self.store.session() as session:
            ids = [c.id for c in session.query(Case).filter_by(status="awaiting_approval").order_by(Case.id)]
        return ids[0]

    def case(self, case_id: int) -> Case:
        with self.store.session() as session:
            case = session.get(Case, case_id)
            assert case is not None
            _ = [r.amount for r in case.remedies]  # loaded before the session closes
            session.expunge_all()
            return case


def make_config(tmp_path: Path, smtp_port: int, web_port: int, extra: str = "", digest: str = "") -> Config:
    text = f"""
[bot]
database = "sqlite:///store.db"
shop_name = "Kestrel Lane"

[policy]
daily_budget = 400
monthly_budget = 2000

[[fulfilment]]
name = "warehouse"
kind = "csv"

[digest]
to = ["{STAFF}", "owner@kestrel.example"]
smtp_host = "127.0.0.1"
smtp_port = {smtp_port}
smtp_security = "none"
sender = "bot@kestrel.example"
{digest}

[web]
enabled = true
port = {web_port}
public_url = "http://127.0.0.1:{web_port}"
key_env = "RB_TEST_WEB_KEY"
{extra}
"""
    (tmp_path / "config.toml").write_text(text, encoding="utf-8")
    return loads(text, path=tmp_path / "config.toml")


def seed_waiting(store: Store, config: Config, cases: int = 1) -> None:
    """Amélie's wrong item (refund 108 + shipping 5 + keep the T-shirts), which waits for a person;
    more buyers with the same story when `cases` > 1."""
    with store.session() as s:
        for i in range(cases):
            email = "amelie@mail.example" if i == 0 else f"buyer{i}@mail.example"
            add_order(s, email, "Amélie Laurent" if i == 0 else f"Buyer Number{i}", f"K-{1097 + i}",
                      [("DR-07", "Linen Wrap Dress", "54.00", 2)], placed=days_ago(9), delivered=days_ago(5))
            add_mention(s, f"r3b-{i}", f"I ordered two of the wrap dresses and inside were three plain white T-shirts ({i}).",
                        "wrong_item", published=days_ago(4), author_email=email, rating=2, sku="DR-07")
    process(store, config, now=NOW)


def start(tmp_path: Path, *, cases: int = 1, extra: str = "", digest: str = "") -> Iterator[World]:
    smtp = SmtpServer()
    with smtp:
        config = make_config(tmp_path, smtp.port, free_port(), extra, digest)
        store = open_store(config.bot.database, config.base_dir)
        try:
            seed_waiting(store, config, cases)
            web = WebServer(config, store, clock=lambda: NOW, environ={"RB_TEST_WEB_KEY": KEY}).start()
            try:
                yield World(store, config, web, smtp)
            finally:
                web.stop()
        finally:
            store.dispose()


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, html[:500]
    return found.group(1)


def sign_in(client: httpx.Client, world: World, address: str = STAFF) -> str:
    """The whole emailed sign-in: ask for a link, read the mail aiosmtpd received, confirm it."""
    page = client.get("/login")
    before = len(world.smtp.messages)
    answer = client.post("/login", data={"email": address, "csrf": csrf_of(page.text)})
    assert answer.status_code == 200 and "Check your email" in answer.text
    assert len(world.smtp.messages) == before + 1
    body = world.smtp.messages[-1].message.get_content()
    link = re.search(r"(http://\S+/signin/\S+)", body)
    assert link, body
    confirm = client.get(link.group(1))
    assert confirm.status_code == 200
    done = client.post(link.group(1), data={"csrf": csrf_of(confirm.text)})
    assert done.status_code == 200 and "Waiting for you" in done.text, done.text[:500]
    return link.group(1)
