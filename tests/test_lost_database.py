"""A lost database (issue 13 item 11): commands never make a new empty one behind the operator's
back, a running daemon stops when its SQLite file vanishes, and the fulfilment targets' own
records keep a remedy a new database re-decides from being delivered twice.

Real files, a real daemon process (as in tests/test_daemon.py), a real webhook receiver on loopback.
"""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest

from bot.cli import main
from bot.demo import DemoShop
from tests.httpserver import LocalServer, Route
from tests.test_daemon import Proc, daemon_config, query, wait_for
from tests.test_outbox import dispatch, make, read_csv, seed_defective

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def shop() -> object:
    with DemoShop() as running:
        yield running


def write_config(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "config.toml"
    path.write_text('[bot]\ndatabase = "sqlite:///store.db"\nshop_name = "Kestrel Lane"\n', encoding="utf-8")
    return path


@pytest.mark.parametrize("command", [["status"], ["cases"], ["digest"], ["mentions"], ["approve", "1"]])
def test_read_commands_on_a_missing_database_say_so_and_create_nothing(
        tmp_path: Path, command: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    config = write_config(tmp_path)
    assert main(["--config", str(config), *command]) == 2
    err = capsys.readouterr().err
    assert f"no database at {tmp_path / 'store.db'}; run `recoverybot init`" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.toml"]


def test_init_creates_the_database_then_commands_work(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = write_config(tmp_path)
    assert main(["--config", str(config), "init", str(config)]) == 0
    assert "created the empty database" in capsys.readouterr().out
    assert (tmp_path / "store.db").exists()
    assert main(["--config", str(config), "cases", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == []
    # a second init has nothing to do: the config is kept and so is the database
    assert main(["--config", str(config), "init", str(config)]) == 2


def test_a_first_cycle_creates_the_database_but_not_where_one_was_lost(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = write_config(tmp_path)
    assert main(["--config", str(config), "cycle"]) == 0
    db = tmp_path / "store.db"
    assert db.exists() and (tmp_path / "store.db.lock").exists()
    capsys.readouterr()
    db.unlink()
    assert main(["--config", str(config), "cycle"]) == 2
    err = capsys.readouterr().err
    assert "no database at" in err and "lived there before" in err and "restore it from a backup" in err
    assert not db.exists()
    # `init` is how an operator says "start again with an empty database"
    assert main(["--config", str(config), "init", str(config)]) == 0
    assert db.exists()


def test_a_running_daemon_stops_when_its_database_file_vanishes(shop: DemoShop, tmp_path: Path) -> None:
    config = daemon_config(shop, tmp_path)
    db = tmp_path / "recoverybot.db"
    with Proc(config) as daemon:
        wait_for("the daemon's heartbeat row", lambda: bool(query(
            db, "SELECT 1 FROM run_log WHERE job = 'daemon' AND finished_at IS NULL")), 30, daemon)
        for name in ("recoverybot.db", "recoverybot.db-wal", "recoverybot.db-shm"):
            (tmp_path / name).unlink(missing_ok=True)
        code = daemon.wait(30)
    assert code == 1
    messages = [line.get("message", "") for line in daemon.log()]
    assert any(f"the database file {db} vanished" in m and "no remedy is sent twice" in m for m in messages), messages
    assert not db.exists()
    # a restart does not make a new empty database either: the lock file says one lived here
    with Proc(config, log_name="daemon2.log") as again:
        assert again.wait(30) == 2
    assert any("lived there before" in line.get("message", "") for line in again.log())
    assert not db.exists()


def test_sigterm_still_stops_the_daemon_cleanly_with_its_database_in_place(shop: DemoShop, tmp_path: Path) -> None:
    config = daemon_config(shop, tmp_path)
    db = tmp_path / "recoverybot.db"
    with Proc(config) as daemon:
        wait_for("the daemon's heartbeat row", lambda: bool(query(
            db, "SELECT 1 FROM run_log WHERE job = 'daemon' AND finished_at IS NULL")), 30, daemon)
        daemon.signal(signal.SIGTERM)
        assert daemon.wait(30) == 0
    assert not any("vanished" in line.get("message", "") for line in daemon.log())


def test_a_new_database_does_not_write_a_second_warehouse_row_for_the_same_order(tmp_path: Path) -> None:
    warehouse = '[[fulfilment]]\nname = "wh"\nkind = "csv"\npath = "warehouse.csv"'
    opened: list[object] = []
    (tmp_path / "a").mkdir()
    store, config = make(tmp_path / "a", opened, warehouse)  # type: ignore[arg-type]
    try:
        seed_defective(store, 2)
        assert dispatch(store, config).dispatched == 2
    finally:
        store.dispose()
    first = read_csv(tmp_path / "a" / "warehouse.csv")
    # The database is lost; a new one (new install id, new keys) re-decides the same complaints and
    # writes to the same warehouse file (moved over): no order gets a second replacement row.
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "warehouse.csv").write_bytes((tmp_path / "a" / "warehouse.csv").read_bytes())
    store, config = make(tmp_path / "b", opened, warehouse)  # type: ignore[arg-type]
    try:
        seed_defective(store, 3)  # the same two buyers, and a third one who is new
        summary = dispatch(store, config)
        assert summary.dispatched == 3
        rows = read_csv(tmp_path / "b" / "warehouse.csv")
        assert [r["order_number"] for r in rows] == ["K-100", "K-101", "K-102"]
        assert rows[:2] == first
        assert rows[2]["idempotency_key"].split("-")[1] != first[0]["idempotency_key"].split("-")[1]
        from bot.store import AuditLog

        with store.session() as s:
            refs = [str(a.detail.get("reference")) for a in s.query(AuditLog).filter_by(action="remedy_dispatched")]
        assert sum("already there for order" in ref for ref in refs) == 2
    finally:
        store.dispose()


def test_a_webhook_409_is_already_done_not_a_retry(tmp_path: Path) -> None:
    opened: list[object] = []
    with LocalServer({"/hook": Route(status=409, body='{"error": "remedy already exists for this order"}')}) as srv:
        store, config = make(tmp_path, opened, f'[[fulfilment]]\nname = "wh"\nkind = "webhook"\n'  # type: ignore[arg-type]
                             f'url = "{srv.url("/hook")}"')
        try:
            seed_defective(store)
            summary = dispatch(store, config)
            assert summary.dispatched == 1 and summary.retrying == 0 and summary.failed == 0
            assert len(srv.requests) == 1
            from bot.decide.staff import list_cases

            case = list_cases(store)[0]
            assert case["status"] == "dispatched" and case["remedies"][0]["attempts"] == 1
            from bot.store import AuditLog

            with store.session() as s:
                done = s.query(AuditLog).filter_by(action="remedy_dispatched").one()
                assert done.detail["reference"] == "HTTP 409 (already done)"
        finally:
            store.dispose()


@pytest.mark.postgres
def test_read_commands_on_an_empty_postgres_database_create_no_tables(
        pg_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from sqlalchemy import create_engine, inspect

    path = tmp_path / "config.toml"
    path.write_text(f'[bot]\ndatabase = "{pg_url}"\n', encoding="utf-8")
    assert main(["--config", str(path), "status"]) == 2
    assert "no recoverybot tables in the database" in capsys.readouterr().err
    engine = create_engine(pg_url)
    try:
        assert inspect(engine).get_table_names() == []
    finally:
        engine.dispose()
    assert main(["--config", str(path), "init", str(path)]) == 0  # the config is kept, the tables made
    assert "created the empty database postgresql" in capsys.readouterr().out
    assert main(["--config", str(path), "cases", "--json"]) == 0
    assert main(["--config", str(path), "init", str(path)]) == 2  # nothing left to do
