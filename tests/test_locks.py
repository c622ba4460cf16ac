"""Case work locked per buyer on PostgreSQL (bot.decide.locks): real passes in threads, each with
its own engine and connections, on a database of their own.

Where two passes must be inside their steps at the same moment, the test holds a *gate*: a
trigger (test scaffolding in the database, not in our code) makes an insert into ``recovery_case``
or ``remedy`` wait for an advisory lock the test holds. A step that reaches the gate is inside its
transaction, holding its own locks; ``pg_locks`` shows who waits there. Under one global lock
only one pass could ever wait at a gate: the other would wait for the global lock instead.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, func, select, text

from bot.config import Config, loads
from bot.decide.cases import ProcessSummary, process
from bot.decide.locks import KEY_SPACE, Busy, Locks, key_number, run
from bot.store import BudgetPeriod, Case, CaseMention, Remedy, Store, open_store
from tests.decide_world import NOW, add_mention, add_order, days_ago, seed_unhappy

pytestmark = pytest.mark.postgres

CASE_GATE = 7_100_001  # held by the test: opening a case waits for it
REMEDY_GATE = 7_100_002  # inserting a remedy waits for it
WAIT = 60.0  # seconds any condition may take on a loaded machine


def make_config(tmp_path: Path, url: str, *, dry_run: bool = False, daily: int = 1_000_000) -> Config:
    text_ = f"""
[bot]
database = "{url}"
dry_run = {str(dry_run).lower()}

[policy]
daily_budget = {daily}
monthly_budget = 1000000

[[fulfilment]]
name = "warehouse"
kind = "csv"
"""
    (tmp_path / "config.toml").write_text(text_, encoding="utf-8")
    return loads(text_, path=tmp_path / "config.toml")


@pytest.fixture
def pg(pg_url: str) -> Iterator[tuple[str, Store]]:
    store = open_store(pg_url)
    try:
        yield pg_url, store
    finally:
        store.dispose()


def install_gates(store: Store) -> None:
    with store.session() as session:
        for table, key in (("recovery_case", CASE_GATE), ("remedy", REMEDY_GATE)):
            session.execute(text(f"""
                CREATE FUNCTION gate_{table}() RETURNS trigger AS $$
                BEGIN PERFORM pg_advisory_xact_lock_shared({key}); RETURN NEW; END $$ LANGUAGE plpgsql"""))
            session.execute(text(f"CREATE TRIGGER gate_{table} BEFORE INSERT ON {table} "
                                 f"FOR EACH ROW EXECUTE FUNCTION gate_{table}()"))


class Gate:
    """A session-level advisory lock on a connection of the test's own, and who waits for it."""

    def __init__(self, url: str, key: int) -> None:
        self.key = key
        self.engine: Engine = create_engine(url, isolation_level="AUTOCOMMIT")
        self.conn = self.engine.connect()
        self.conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": key})
        self.open = False

    def waiting(self) -> int:
        return int(self.conn.execute(text(
            "SELECT count(DISTINCT pid) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted "
            "AND objid = :k AND objsubid = 1 AND database = (SELECT oid FROM pg_database "
            "WHERE datname = current_database())"), {"k": self.key}).scalar() or 0)

    def wait_for(self, count: int, what: str, alive: Callable[[], bool]) -> None:
        deadline = time.monotonic() + WAIT
        while self.waiting() < count:
            assert alive(), f"a pass ended before {what}"
            assert time.monotonic() < deadline, f"{what}: only {self.waiting()} pass(es) reached the gate"
            time.sleep(0.01)

    def release(self) -> None:
        if not self.open:
            self.conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": self.key})
            self.open = True

    def close(self) -> None:
        self.release()
        self.conn.close()
        self.engine.dispose()


class Passes:
    """``count`` threads, each running one process pass on a store of its own."""

    def __init__(self, url: str, config: Config, count: int) -> None:
        self.summaries: list[ProcessSummary] = []
        self.failures: list[BaseException] = []
        self.stores = [open_store(url, upgrade=False) for _ in range(count)]
        self.threads = [threading.Thread(target=self._run, args=(store, config), daemon=True)
                        for store in self.stores]

    def _run(self, store: Store, config: Config) -> None:
        try:
            self.summaries.append(process(store, config, now=NOW))
        except BaseException as exc:  # reported by join()
            self.failures.append(exc)

    def start(self) -> Passes:
        for thread in self.threads:
            thread.start()
        return self

    def alive(self) -> bool:
        return all(thread.is_alive() for thread in self.threads)

    def join(self) -> list[ProcessSummary]:
        for thread in self.threads:
            thread.join(WAIT)
            assert not thread.is_alive(), "a pass did not end"
        for store in self.stores:
            store.dispose()
        assert not self.failures, self.failures
        assert all(not s.errors for s in self.summaries), [s.errors for s in self.summaries]
        return self.summaries


def remedies_per_case(store: Store) -> Counter[int]:
    with store.session() as session:
        return Counter(session.scalars(select(Remedy.case_id)))


def test_two_passes_link_and_decide_different_buyers_at_the_same_time(tmp_path: Path,
                                                                      pg: tuple[str, Store]) -> None:
    url, store = pg
    config = make_config(tmp_path, url, dry_run=True)  # dry run: no budget row, the gate is on the remedy
    with store.session() as session:
        seed_unhappy(session, 2)
    install_gates(store)
    gates = [Gate(url, CASE_GATE), Gate(url, REMEDY_GATE)]
    try:
        passes = Passes(url, config, 2).start()
        # Both passes open a case at once (each holding its buyer's keys), then decide at once.
        gates[0].wait_for(2, "linking two buyers at once", passes.alive)
        gates[0].release()
        gates[1].wait_for(2, "deciding two buyers at once", passes.alive)
        gates[1].release()
        summaries = passes.join()
    finally:
        for gate in gates:
            gate.close()
    assert sorted(s.opened for s in summaries) == [1, 1]
    assert sorted(s.decided for s in summaries) == [1, 1]
    with store.session() as session:
        assert session.scalar(select(func.count()).select_from(Case)) == 2
    assert set(remedies_per_case(store).values()) == {1}


def test_the_same_buyer_twice_at_once_gets_one_case_and_one_remedy(tmp_path: Path, pg: tuple[str, Store]) -> None:
    """Two mentions of one buyer (the same e-mail on two sources) and the same complaint seen by
    four passes at once: one case with both mentions, one remedy."""
    url, store = pg
    config = make_config(tmp_path, url)
    with store.session() as session:
        add_order(session, "rosa@mail.example", "Rosa Lind", "K-5001", [("FAN-01", "Pocket Fan", "12.00", 1)],
                  placed=days_ago(20), delivered=days_ago(15))
        add_mention(session, "r1", "The pocket fan stopped spinning after two days, useless thing.", "defective",
                    published=days_ago(2), author_email="rosa@mail.example", sku="FAN-01", product_name="Pocket Fan")
        add_mention(session, "r2", "Pocket fan dead in two days. I want my money back for this junk.", "defective",
                    source="mailbox", kind="imap", published=days_ago(1), author_email="Rosa@mail.example",
                    product_name="Pocket Fan")
    install_gates(store)
    gate = Gate(url, CASE_GATE)
    try:
        passes = Passes(url, config, 4).start()
        gate.wait_for(1, "opening the case", passes.alive)  # one pass opens it, holding the buyer's keys
        gate.release()
        passes.join()
    finally:
        gate.close()
    with store.session() as session:
        [case] = session.scalars(select(Case)).all()
        assert session.scalar(select(func.count()).select_from(CaseMention).where(CaseMention.case_id == case.id)) == 2
        [remedy] = session.scalars(select(Remedy)).all()
        assert remedy.kind == "replacement" and remedy.status == "queued"
        day = session.scalars(select(BudgetPeriod).where(BudgetPeriod.period.like("day:%"))).one()
        assert day.reserved == remedy.amount


def test_one_buyer_under_two_keys_at_once_is_merged_later_never_remedied_twice(tmp_path: Path,
                                                                               pg: tuple[str, Store]) -> None:
    """An e-mail on one source and a handle on another, not yet tied to a customer, linked at the
    same moment: two cases (one process opens two as well, nothing ties them), only the matched
    one gets a real remedy; once the handle is linked the second is merged into the first."""
    from bot.match import link_handle

    url, store = pg
    config = make_config(tmp_path, url)
    with store.session() as session:
        add_order(session, "tessa@mail.example", "Tessa Lindqvist", "K-7001", [("BREAD-1", "Bread Maker", "35.00", 1)],
                  placed=days_ago(14), delivered=days_ago(9))
        add_mention(session, "t-shop", "The bread maker stopped heating after a week, the dough never rises now.",
                    "defective", published=days_ago(2), author_email="tessa@mail.example", author_name="Tessa L.",
                    sku="BREAD-1", product_name="Bread Maker")
        add_mention(session, "t-social", "@kestrel my bread maker is dead after seven days, anyone else??",
                    "defective", source="reddit", kind="reddit", published=days_ago(1), author_handle="@tessalind",
                    rating=None)
    install_gates(store)
    gate = Gate(url, CASE_GATE)
    try:
        passes = Passes(url, config, 2).start()
        gate.wait_for(2, "linking the two keys at once", passes.alive)  # no key in common: both at once
        gate.release()
        passes.join()
    finally:
        gate.close()
    with store.session() as session:
        kinds = sorted(r.kind for r in session.scalars(select(Remedy)))
    assert kinds == ["contact", "replacement"]

    with store.session() as session:
        link_handle(session, "@tessalind", "tessa@mail.example")
    later = process(store, config, now=NOW)
    assert later.merged_cases == 1 and later.queued == 0, later.lines()
    with store.session() as session:
        live = session.scalars(select(Case).where(Case.status != "dismissed")).all()
        assert len(live) == 1 and len(live[0].links) == 2
        given = session.scalars(select(Remedy).where(Remedy.status.in_(["queued", "dispatched"]))).all()
        assert [r.kind for r in given] == ["replacement"]


def test_the_budget_is_exact_when_many_passes_race_for_the_last_euros(tmp_path: Path,
                                                                      pg: tuple[str, Store]) -> None:
    url, store = pg
    config = make_config(tmp_path, url, daily=430)  # room for 25 replacements of 17.00, 5.00 left over
    with store.session() as session:
        seed_unhappy(session, 60)
    summaries = Passes(url, config, 6).start().join()
    assert sum(s.decided for s in summaries) == 60
    assert sum(1 for s in summaries if s.decided) >= 2  # the buyers were shared out
    with store.session() as session:
        queued = session.scalars(select(Remedy).where(Remedy.status == "queued")).all()
        day = session.scalars(select(BudgetPeriod).where(BudgetPeriod.period.like("day:%"))).one()
        month = session.scalars(select(BudgetPeriod).where(BudgetPeriod.period.like("month:%"))).one()
        assert len(queued) == 430 // 17
        assert day.reserved == month.reserved == sum((r.amount for r in queued), Decimal(0)) == Decimal("425.00")
        assert session.scalar(select(func.count()).select_from(Case)) == 60
        waiting = session.scalars(select(Case).where(Case.status == "awaiting_approval")).all()
        assert len(waiting) == 60 - 25 and all("daily budget" in (c.approval_reason or "") for c in waiting)
    assert set(remedies_per_case(store).values()) == {1}


def test_a_step_waits_for_its_keys_only_and_starts_again_for_a_key_it_finds(pg: tuple[str, Store]) -> None:
    """bot.decide.locks itself: another transaction holding a key makes a try fail (Busy) and
    blocks a waiting step, others run; a step needing a held key it did not ask for starts again."""
    url, store = pg
    holder = create_engine(url)
    try:
        with holder.connect() as conn, conn.begin():
            conn.execute(text("SELECT pg_advisory_xact_lock_shared(:g), pg_advisory_xact_lock(:s, :k)"),
                         {"g": 0x72637662, "s": KEY_SPACE, "k": key_number("customer:1")})
            with pytest.raises(Busy):
                run(store, {"customer:1", "case:9"}, lambda session, locks: None, wait=False)
            assert run(store, {"customer:2"}, lambda session, locks: "ran", wait=False) == "ran"
            starts: list[frozenset[str]] = []

            def step(session: object, locks: Locks) -> str:
                starts.append(locks.held)
                locks.need("customer:3")
                return "ran"

            assert run(store, {"case:1"}, step) == "ran"
            assert starts == [frozenset({"case:1"}), frozenset({"case:1", "customer:3"})]

            def adding(session: object, locks: Locks) -> frozenset[str]:
                locks.add("customer:4")  # free: taken at once, no second start
                starts.append(locks.held)
                locks.add("customer:1")  # held by the other transaction: tried, not waited for
                return locks.held

            starts.clear()
            with pytest.raises(Busy):
                run(store, {"case:2"}, adding, wait=False)
            assert starts == [frozenset({"case:2", "customer:4"})]
    finally:
        holder.dispose()


STAMP_GATE = 7_100_003  # stamping a waiting case as matched again waits for it


def test_passes_at_once_match_each_waiting_case_again_once(tmp_path: Path, pg: tuple[str, Store]) -> None:
    """After an orders sync that may concern every waiting case (a buyer named by initials only),
    two passes at once share the waiting cases: each is matched again and stamped by one pass, the
    other finds it stamped (or busy, then stamped) and leaves it."""
    from bot.orders import upsert_order
    from connectors.orders.base import ParsedLine, ParsedOrder

    url, store = pg
    config = make_config(tmp_path, url, dry_run=True)
    names = ["Tomas Berglund", "Ulla Krantz", "Vera Lindqvist", "Wim Olander", "Xena Pauls", "Yusuf Qadri"]
    with store.session() as session:
        add_order(session, "petra@mail.example", "Petra Nilsson", "K-1", [("LMP-1", "Desk Lamp", "24.00", 1)],
                  placed=days_ago(30), delivered=days_ago(25))
        for n, name in enumerate(names):
            add_mention(session, f"w{n}", f"My glass kettle number {n} cracked on day two, water all over the floor.",
                        "damaged", source="trustpilot", kind="trustpilot", published=days_ago(2), author_name=name)
    first = process(store, config, now=NOW)
    assert first.opened == len(names) and not first.errors
    with store.session() as session:
        waiting = sorted(session.scalars(select(Case.id).where(Case.order_id.is_(None))))
        assert len(waiting) == len(names)
        session.execute(text("CREATE TABLE case_stamp (case_id integer)"))
        session.execute(text(f"""
            CREATE FUNCTION stamp_case() RETURNS trigger AS $$
            BEGIN
              IF NEW.updated_at IS DISTINCT FROM OLD.updated_at THEN
                INSERT INTO case_stamp VALUES (NEW.id);
                PERFORM pg_advisory_xact_lock_shared({STAMP_GATE});
              END IF;
              RETURN NEW;
            END $$ LANGUAGE plpgsql"""))
        session.execute(text("CREATE TRIGGER stamp_case BEFORE UPDATE ON recovery_case "
                             "FOR EACH ROW EXECUTE FUNCTION stamp_case()"))
        # The sync: a buyer named by initials only may be anyone, so every waiting case is looked at.
        upsert_order(session, "csv", ParsedOrder(
            number="K-9", placed_at=days_ago(40), email="js@mail.example", name="J S",
            fulfillment_status="fulfilled", tracking_status="delivered", delivered_at=days_ago(35),
            lines=[ParsedLine(name="Desk Lamp", sku="LMP-1", quantity=1, unit_price=Decimal("24.00"))]))
    gate = Gate(url, STAMP_GATE)
    try:
        passes = Passes(url, config, 2).start()
        gate.wait_for(2, "stamping two waiting cases at once", passes.alive)  # each holds a case
        gate.release()
        summaries = passes.join()
    finally:
        gate.close()
    assert all(s.rematched == 0 for s in summaries)
    with store.session() as session:
        stamps = Counter(session.scalars(text("SELECT case_id FROM case_stamp")))
    assert stamps == Counter(waiting), stamps  # every waiting case matched again, none twice
