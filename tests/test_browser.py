"""End to end in a real headless Chromium (Debian's chromium and chromedriver, driven by Selenium):
the digest as aiosmtpd received it -> Approve -> confirm -> the remedy is queued once -> the inbox
(signed in by the emailed link) shows it done; the same for Change (within the cap) and Reject
with a reason. Skipped, saying why, where no browser is installed.

Set RECOVERYBOT_SCREENSHOT to a folder to keep screenshots of the inbox and a confirmation page
(docs/web-inbox.png is made so).
"""

from __future__ import annotations

import os
import re
import shutil
import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from bot.store import AuditLog, Case, Remedy
from tests.decide_world import NOW
from tests.webworld import KEY, STAFF, World, start

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")

pytestmark = pytest.mark.skipif(
    CHROMIUM is None or DRIVER is None,
    reason="needs Debian's chromium and chromium-driver (apt-get install chromium chromium-driver; .ci/run does it)",
)


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    monkeypatch.setenv("RB_TEST_WEB_KEY", KEY)
    yield from start(tmp_path, cases=3)


@pytest.fixture
def browser() -> Iterator[Any]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    assert CHROMIUM is not None and DRIVER is not None
    options.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
                 "--window-size=1000,1400"):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(executable_path=DRIVER))
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()


def wait_until(what: str, check: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    pytest.fail(f"timed out after {timeout}s waiting for {what}")


def digest_file(world: World, tmp_path: Path) -> Path:
    """Send the digest through aiosmtpd and keep STAFF's HTML part as the mail client would show it."""
    from bot.report.digest import send
    from bot.report.mailer import Mailer
    from bot.report.view import previous_day

    send(world.store, world.config, mailer=Mailer.from_digest_config(world.config.digest),
         day=previous_day(NOW, world.config.zone), now=NOW)
    mine = [m for m in world.smtp.messages if m.rcpt_tos == [STAFF]]
    assert len(mine) == 1
    html = mine[0].message.get_body(("html",))
    assert html is not None
    path = tmp_path / "digest.html"
    path.write_text(html.get_content(), encoding="utf-8")
    return path


def click_in_card(driver: Any, digest: Path, case_id: int, label: str) -> None:
    """Open the digest and click `label` on the card of `case_id`."""
    from selenium.webdriver.common.by import By

    driver.get(digest.as_uri())
    cards = driver.find_elements(By.XPATH, f"//td[div[starts-with(normalize-space(.), 'Case {case_id}:')]]")
    assert cards, f"no card for case {case_id} in the digest"
    cards[0].find_element(By.LINK_TEXT, label).click()
    wait_until(f"the {label} confirmation page", lambda: "/link/" in driver.current_url and
               bool(driver.find_elements(By.ID, "confirm")))


def sign_in(driver: Any, world: World) -> None:
    from selenium.webdriver.common.by import By

    driver.get(world.url + "/login")
    driver.find_element(By.NAME, "email").send_keys(STAFF)
    before = len(world.smtp.messages)
    driver.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    wait_until("the sign-in mail", lambda: len(world.smtp.messages) > before)
    found = re.search(r"(http://\S+/signin/\S+)", world.smtp.messages[-1].message.get_content())
    assert found
    driver.get(found.group(1))
    driver.find_element(By.ID, "signin").click()
    wait_until("the inbox", lambda: "Waiting for you" in driver.page_source)


def remedies(world: World, case_id: int) -> list[tuple[str, Decimal, str]]:
    with world.store.session() as session:
        return sorted((r.kind, r.amount, r.status) for r in session.query(Remedy).filter_by(case_id=case_id))


def test_approve_change_and_reject_from_the_digest_in_a_real_browser(world: World, browser: Any,
                                                                      tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    digest = digest_file(world, tmp_path)
    with world.store.session() as session:
        first, second, third = [c.id for c in session.query(Case).filter_by(status="awaiting_approval")
                                .order_by(Case.id)]

    # Approve: the confirmation page says who, what and how much; the click queues it once.
    click_in_card(browser, digest, first, "Approve")
    page = browser.page_source
    assert "Amélie Laurent" in page and "€113.00" in page and STAFF in page
    assert remedies(world, first)[0][2] == "proposed"  # opening the link did nothing
    browser.find_element(By.ID, "confirm").click()
    wait_until("the approval", lambda: "is approved" in browser.page_source)
    assert [status for _k, _a, status in remedies(world, first)] == ["queued"] * 3
    browser.back()  # the confirmation page again: the link is spent, it says so and offers no button
    wait_until("the refusal", lambda: "used already" in browser.page_source)
    assert not browser.find_elements(By.ID, "confirm")
    with world.store.session() as session:
        assert [a.actor for a in session.query(AuditLog).filter_by(case_id=first, action="approved")] == [STAFF]

    # Change: a new amount within the cap, then approved.
    click_in_card(browser, digest, second, "Change")
    refund = next(r for r in world.case(second).remedies if r.kind == "refund")
    Select(browser.find_element(By.ID, "remedy")).select_by_value(str(refund.id))
    browser.find_element(By.ID, "amount").send_keys("151")  # above the refund cap (150): refused, link kept
    browser.find_element(By.ID, "confirm").click()
    wait_until("the cap refusal", lambda: "Nothing was done" in browser.page_source)
    click_in_card(browser, digest, second, "Change")
    Select(browser.find_element(By.ID, "remedy")).select_by_value(str(refund.id))
    browser.find_element(By.ID, "amount").send_keys("90")
    browser.find_element(By.ID, "confirm").click()
    wait_until("the change", lambda: "is approved" in browser.page_source)
    assert ("refund", Decimal("90.00"), "queued") in remedies(world, second)

    # Reject with a reason.
    click_in_card(browser, digest, third, "Reject")
    if os.environ.get("RECOVERYBOT_SCREENSHOT"):
        browser.save_screenshot(str(Path(os.environ["RECOVERYBOT_SCREENSHOT"]) / "web-confirm.png"))
    browser.find_element(By.ID, "reason").send_keys("Sent the right dresses by hand yesterday")
    browser.find_element(By.ID, "confirm").click()
    wait_until("the rejection", lambda: "is rejected" in browser.page_source)
    assert {status for _k, _a, status in remedies(world, third)} == {"cancelled"}

    # The inbox, signed in by the emailed link, shows all three done.
    sign_in(browser, world)
    for case_id in (first, second, third):
        assert browser.find_elements(By.ID, f"done-{case_id}"), case_id
    assert "Nothing waits for you" in browser.page_source
    done = browser.find_element(By.ID, f"done-{third}").text
    assert "closed without a remedy" in done and STAFF in done


def test_the_inbox_in_a_real_browser_bulk_approves(world: World, browser: Any) -> None:
    from selenium.webdriver.common.by import By

    sign_in(browser, world)
    cards = browser.find_elements(By.CSS_SELECTOR, "div.card[id^=case-]")
    assert len(cards) == 3 and "€113.00" in cards[0].text and "refund" in cards[0].text
    if os.environ.get("RECOVERYBOT_SCREENSHOT"):
        browser.save_screenshot(str(Path(os.environ["RECOVERYBOT_SCREENSHOT"]) / "web-inbox.png"))
    boxes = browser.find_elements(By.NAME, "case")
    for box in boxes[:2]:
        box.click()
    browser.find_element(By.XPATH, "//form[@id='bulk']/button").click()
    wait_until("the bulk approval", lambda: "Bulk approval" in browser.page_source)
    assert browser.page_source.count("approved, its remedy is queued") == 2
    with world.store.session() as session:
        states = sorted(c.status for c in session.query(Case))
    assert states == ["awaiting_approval", "queued", "queued"]
