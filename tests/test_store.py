"""The store on both backends: migrations, uniqueness, aware datetimes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select, text

from bot.errors import StoreError
from bot.store import (
    Customer,
    Mention,
    Order,
    OrderLine,
    Remedy,
    RemedyStatus,
    fingerprint,
    mask_url,
    open_store,
    resolve_url,
)


def mention(**over: object) -> Mention:
    fields: dict[str, object] = {
        "source": "shop", "source_kind": "schema_org", "external_id": "r1", "text": "It broke.",
        "fingerprint": fingerprint("It broke."),
    }
    fields.update(over)
    return Mention(**fields)


def test_open_migrates_and_is_idempotent(any_store_url: str) -> None:
    store = open_store(any_store_url)
    try:
        assert {"mention", "assessment", "recovery_case", "remedy", "budget_period", "digest"} <= store.tables()
        store.upgrade()  # a second upgrade is a no-op
        with store.engine.connect() as conn:
            assert conn.execute(text("select version_num from alembic_version")).scalar() is not None
    finally:
        store.dispose()


def test_mention_stored_once(any_store_url: str) -> None:
    store = open_store(any_store_url)
    try:
        with store.session() as s:
            s.add(mention())
        with pytest.raises(StoreError):
            with store.session() as s:
                s.add(mention(text="other text"))
        with store.session() as s:
            assert len(s.scalars(select(Mention)).all()) == 1  # the first one survived the failed insert
    finally:
        store.dispose()


def test_datetimes_come_back_aware_utc(any_store_url: str) -> None:
    store = open_store(any_store_url)
    when = datetime(2026, 3, 29, 1, 30, tzinfo=timezone(timedelta(hours=2)))
    try:
        with store.session() as s:
            s.add(mention(published_at=when))
        with store.session() as s:
            got = s.scalars(select(Mention)).one().published_at
        assert got == when and got is not None and got.tzinfo is not None
        assert got.utcoffset() == timedelta(0)
        with pytest.raises(StoreError, match="naive datetime"):
            with store.session() as s:
                s.add(mention(external_id="r2", published_at=datetime(2026, 1, 1)))
    finally:
        store.dispose()


def test_orders_lines_and_remedy_key_unique(any_store_url: str) -> None:
    store = open_store(any_store_url)
    now = datetime.now(UTC)
    try:
        with store.session() as s:
            customer = Customer(email="ann@example.com", name="Ann Lee")
            order = Order(origin="csv", number="1001", customer=customer, placed_at=now, total=Decimal("19.90"))
            order.lines.append(OrderLine(sku="FAN-1", name="Pocket fan", quantity=1, unit_price=Decimal("19.90")))
            s.add(order)
        with store.session() as s:
            order = s.scalars(select(Order)).one()
            assert order.lines[0].unit_price == Decimal("19.90")
            assert order.customer.email == "ann@example.com"
        with store.session() as s:
            m = mention()
            s.add(m)
            s.flush()
            from bot.store import Case

            case = Case(subject_key="c:1:defective", issue="defective", mention_id=m.id)
            s.add(case)
            s.flush()
            s.add(Remedy(case_id=case.id, kind="replacement", idempotency_key="case-1-replacement"))
        with pytest.raises(StoreError):
            with store.session() as s:
                case_id = s.scalars(select(Remedy.case_id)).one()
                s.add(Remedy(case_id=case_id, kind="replacement", idempotency_key="case-1-replacement"))
        with store.session() as s:
            assert [r.status for r in s.scalars(select(Remedy))] == [RemedyStatus.QUEUED.value]
    finally:
        store.dispose()


def test_sqlite_uses_wal_and_a_path_next_to_the_config(tmp_path: Path) -> None:
    url = resolve_url("sqlite:///bot.db", tmp_path)
    assert url == f"sqlite:///{tmp_path / 'bot.db'}"
    store = open_store(url)
    try:
        with store.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert (tmp_path / "bot.db").exists()
    finally:
        store.dispose()


def test_unreachable_database_is_a_clear_error() -> None:
    with pytest.raises(StoreError) as err:
        open_store("postgresql+psycopg://bot:hunter2@127.0.0.1:1/nope")
    assert "hunter2" not in str(err.value)
    assert "127.0.0.1:1/nope" in str(err.value)


def test_fingerprint_ignores_case_and_punctuation() -> None:
    assert fingerprint("It BROKE after 2 days!!") == fingerprint("it broke after 2 days")
    assert fingerprint("it broke") != fingerprint("it works")
    assert mask_url("postgresql://u:pw@h/db") == "postgresql://u:***@h/db"
