"""Several workers on one database (issue 13 item 9).

Real processes (`python -m bot.cli ...`) start together on an empty database: the migrations run
once, under a lock, and none of them fails on the schema's own version row. Then, with the schema in
place, several `orders import` and `cycle` processes import the same orders and score the same
mentions at once: every process exits 0, every customer, order, line and assessment is stored once,
and no customer's email or name reaches a log (the database's error details carry them).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from bot.store import Assessment, Customer, CustomerHandle, Mention, Order, OrderLine, fingerprint, open_store

ROOT = Path(__file__).resolve().parent.parent
WORKERS = 8
CUSTOMERS = 60
ORDERS = 120  # two orders per customer, two lines each
MENTIONS = 120
HEADER = ("order_number,order_date,customer_email,customer_name,social_handles,shipping_country,currency,sku,"
          "product_name,product_url,quantity,unit_price,fulfillment_status,tracking_status,delivered_date,"
          "expected_delivery_date\n")


def _email(i: int) -> str:
    return f"worker.buyer{i:03d}@mail.example"


def _name(i: int) -> str:
    return f"Quentin Workerson{i:03d}"


def _orders_csv(path: Path) -> None:
    rows = [HEADER]
    for n in range(ORDERS):
        c = n % CUSTOMERS
        for sku, pname, price in (("FAN-01", "Pocket Fan", "12.00"), ("LAMP-07", "Desk Lamp", "39.00")):
            rows.append(f"W-{n:04d},2026-02-{1 + n % 20:02d},{_email(c)},{_name(c)},@workhandle{c:03d},GB,EUR,"
                        f"{sku},{pname},https://shop.example/p/{sku.lower()},1,{price},fulfilled,delivered,"
                        f"2026-02-{5 + n % 20:02d},\n")
    path.write_text("".join(rows), encoding="utf-8")


def _config(tmp_path: Path, database: str, orders: bool) -> Path:
    path = tmp_path / "config.toml"
    section = '[orders]\nkind = "csv"\npath = "orders.csv"\n' if orders else ""
    path.write_text(f'[bot]\ndatabase = "{database}"\ndry_run = true\n\n{section}', encoding="utf-8")
    return path


def _run_all(commands: list[list[str]], tmp_path: Path) -> list[tuple[int, str]]:
    """Start every command at once; their exit codes and stderr, once all finished (or a deadline)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    procs = [subprocess.Popen([sys.executable, "-m", "bot.cli", *cmd], cwd=tmp_path, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) for cmd in commands]
    deadline = time.monotonic() + 240
    out: list[tuple[int, str]] = []
    try:
        for proc in procs:
            _o, err = proc.communicate(timeout=max(1.0, deadline - time.monotonic()))
            out.append((proc.returncode, err.decode("utf-8", "replace")))
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    return out


def _assert_all_ok(results: list[tuple[int, str]]) -> None:
    failed = [(code, err) for code, err in results if code != 0]
    assert not failed, f"{len(failed)} of {len(results)} workers failed; first:\n{failed[0][1][-3000:]}"


def _assert_no_personal_data(results: list[tuple[int, str]]) -> None:
    logs = "\n".join(err for _code, err in results)
    for i in range(CUSTOMERS):
        assert _email(i) not in logs.lower(), logs[-3000:]
        assert _name(i) not in logs, logs[-3000:]


def _first_start(tmp_path: Path, database: str) -> list[tuple[int, str]]:
    config = _config(tmp_path, database, orders=False)
    return _run_all([["--config", str(config), "cycle"] for _ in range(WORKERS)], tmp_path)


def _seed_mentions(database: str) -> None:
    store = open_store(database)
    try:
        with store.session() as session:
            base = datetime(2026, 2, 20, tzinfo=UTC)
            for i in range(MENTIONS):
                c = i % CUSTOMERS
                words = f"The pocket fan {i} stopped spinning after {2 + i % 5} days, it is broken and useless."
                session.add(Mention(source="shop", source_kind="schema_org", external_id=f"w-{i}", text=words,
                                    author_name=_name(c), rating=1.0, published_at=base + timedelta(hours=i),
                                    product_sku="FAN-01", product_name="Pocket Fan", fingerprint=fingerprint(words)))
    finally:
        store.dispose()


def _busy_workers(tmp_path: Path, database: str, workers: int = WORKERS, cycles: bool = True) -> list[tuple[int, str]]:
    """Half import the orders file, half run a cycle (its csv sync imports the same file, its
    scoring assesses the same mentions)."""
    _orders_csv(tmp_path / "orders.csv")
    config = str(_config(tmp_path, database, orders=True))
    commands = [["--config", config, "cycle"] if cycles and i % 2 else ["--config", config, "orders", "import", "orders.csv"]
                for i in range(workers)]
    return _run_all(commands, tmp_path)


def _assert_stored_once(database: str, assessed: int = MENTIONS) -> None:
    store = open_store(database)
    try:
        with store.session() as session:
            emails = Counter(session.scalars(select(Customer.email)))
            assert len(emails) == CUSTOMERS and set(emails.values()) == {1}
            numbers = Counter(session.scalars(select(Order.number)))
            assert len(numbers) == ORDERS and set(numbers.values()) == {1}
            lines = Counter(session.execute(select(OrderLine.order_id, OrderLine.position)).all())
            assert len(lines) == 2 * ORDERS and set(lines.values()) == {1}
            assert session.scalar(select(func.count()).select_from(CustomerHandle)) == CUSTOMERS
            assert session.scalar(select(func.count()).select_from(Assessment)) == assessed
            assert session.scalar(select(func.count()).select_from(Mention)) == MENTIONS
            assert session.scalar(text("select count(*) from alembic_version")) == 1
    finally:
        store.dispose()


@pytest.mark.postgres
def test_workers_start_import_and_score_together_on_postgresql(tmp_path: Path, pg_url: str) -> None:
    first = _first_start(tmp_path, pg_url)
    _assert_all_ok(first)
    _seed_mentions(pg_url)
    busy = _busy_workers(tmp_path, pg_url)
    _assert_all_ok(busy)
    _assert_no_personal_data(first + busy)
    _assert_stored_once(pg_url)


def test_workers_start_and_import_together_on_sqlite(tmp_path: Path) -> None:
    """SQLite: the same first start, then imports of one file at once. (Its write lock taken at
    BEGIN IMMEDIATE already orders scoring; several busy workers on one SQLite file are not what
    it is for: [bot] database says PostgreSQL for scale.)"""
    database = f"sqlite:///{tmp_path / 'workers.db'}"
    first = _first_start(tmp_path, database)
    _assert_all_ok(first)
    _seed_mentions(database)
    busy = _busy_workers(tmp_path, database, workers=4, cycles=False)
    _assert_all_ok(busy)
    _assert_no_personal_data(first + busy)
    _assert_stored_once(database, assessed=0)


def test_a_database_error_names_the_constraint_never_the_buyer(any_store_url: str) -> None:
    """What a worker logs when the database refuses a row: the driver's error and the constraint,
    without the statement's parameters or PostgreSQL's DETAIL line (both carry the email)."""
    from bot.errors import StoreError

    store = open_store(any_store_url)
    try:
        with store.session() as session:
            session.add(Customer(email=_email(7), name=_name(7)))
        with pytest.raises(StoreError) as err, store.session() as session:
            session.add(Customer(email=_email(7), name=_name(7)))
        message = str(err.value)
        assert "IntegrityError" in message or "UniqueViolation" in message, message
        assert "customer" in message and "email" in message, message  # customer_email_key / customer.email
        assert _email(7) not in message and _name(7) not in message, message
        assert "DETAIL" not in message and "[parameters" not in message, message
    finally:
        store.dispose()
