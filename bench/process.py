"""What `process` costs per new mention as the store grows (issue 18: a cycle costs what is new).

For each size N it builds a store with N stored mentions of synthetic data (a fifth unhappy, each
of those in a case: dispatched, unmatched or waiting with a contact; a customer per ten mentions,
each with a recent order; some handles), then:

1. adds a batch of new unhappy mentions (half by customers, some with an email or handle, the
   rest by strangers) and times :func:`bot.decide.cases.process` on them ("no sync");
2. upserts orders as a sync would (new orders for buyers whose earlier case waits unmatched,
   tracking changes on others), adds another batch and times ``process`` again ("after sync":
   this includes re-matching the waiting cases).

Texts come from templates: this measures speed, not accuracy.

    python bench/process.py [--sizes 1000,10000,100000] [--batch 200]
    python bench/process.py --db postgresql+psycopg://127.0.0.1/rb_bench_process   # created and dropped
    python bench/process.py --sizes 100000 --profile 25   # where the time goes (cProfile, SQL)

``--profile N`` prints, for each timed run, the N functions with the most cumulative time and the
N SQL statements with the most total time (count and milliseconds per new mention), counted by
SQLAlchemy engine events here in the bench, not in the product.
"""

from __future__ import annotations

import argparse
import cProfile
import functools
import io
import json
import shutil
import pstats
import random
import re
import sys
import tempfile
import time
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine, event, insert, text  # noqa: E402 - after the sys.path line above
from sqlalchemy.engine import make_url  # noqa: E402

from bot.config import Config  # noqa: E402
from bot.decide.cases import process  # noqa: E402
from bot.orders import upsert_order  # noqa: E402
from bot.store import (  # noqa: E402
    Assessment,
    Case,
    CaseMention,
    Customer,
    CustomerHandle,
    Mention,
    Order,
    OrderLine,
    Remedy,
    Store,
    fingerprint,
    open_store,
    utcnow,
)
from connectors.orders.base import ParsedLine, ParsedOrder  # noqa: E402

try:  # the lookup tables of migration 0010 (absent on older code: the bench measures both)
    from bot.match import mention_keys
    from bot.store import CustomerNameKey, MentionKey
    from bot.store.keys import customer_name_keys
    KEYS: tuple[Any, ...] = (CustomerNameKey, MentionKey)
except ImportError:
    KEYS = ()
try:  # the rematch's mark (absent on older code, which stamps every waiting case instead)
    from bot.decide.cases import SEEN_KEY
    from bot.store import Meta
except ImportError:
    SEEN_KEY = ""

# Every unhappy stored mention is in a case, as process leaves it (a column of migration 0015).
LINKED: Any = (lambda unhappy: {"linked": unhappy}) if hasattr(Assessment, "linked") else (lambda unhappy: {})

FIRST = ["Ada", "Ben", "Cara", "Dev", "Elif", "Finn", "Gita", "Hugo", "Ines", "Jon", "Kai", "Lena", "Milo", "Nora",
         "Omar", "Pia", "Quinn", "Rosa", "Sami", "Tara", "Uma", "Vik", "Wren", "Xavi", "Yara", "Zeno", "Anja", "Bram",
         "Cleo", "Dario", "Emma", "Felix", "Greta", "Hamid", "Ilse", "Jasper", "Kira", "Luca", "Maren", "Nico"]
LAST = ["Abbott", "Berg", "Costa", "Dahl", "Evans", "Fischer", "Garcia", "Hale", "Ivanova", "Jensen", "Keller",
        "Lopez", "Moreau", "Nagy", "Olsen", "Petrov", "Quist", "Rossi", "Sato", "Torres", "Ueda", "Vogel", "Weber",
        "Xu", "Young", "Zimmer", "Andersson", "Brandt", "Castillo", "Duarte", "Engel", "Ferreira", "Gruber",
        "Horvat", "Iqbal", "Janssen", "Kowalski", "Lindqvist", "Marino", "Novak", "Oakley", "Pereira", "Rahman",
        "Schmidt", "Tanaka", "Urban", "Varga", "Wagner", "Yilmaz", "Zeller"]
PRODUCTS = [("FAN-01", "Pocket Fan", "12.00"), ("KET-02", "Glass Kettle", "39.00"), ("LMP-03", "Desk Lamp", "24.00"),
            ("MUG-04", "Travel Mug", "15.00"), ("BAG-05", "Canvas Tote Bag", "19.00"),
            ("SPK-06", "Bluetooth Speaker", "49.00"), ("TWL-07", "Bath Towel Set", "29.00"),
            ("PEN-08", "Fountain Pen", "22.00"), ("CLK-09", "Wall Clock", "34.00"), ("BTL-10", "Water Bottle", "11.00")]
COMPLAINTS = ["The {p} broke after {d} days, really disappointed.", "My {p} arrived damaged, the box was crushed.",
              "Still waiting for my {p}, ordered weeks ago, no answer.", "Wrong item: I ordered a {p} and got a mug.",
              "The {p} stopped working on day {d}. Useless.", "Poor quality {p}, it fell apart in {d} days."]
ISSUES = ["defective", "damaged", "not_delivered", "wrong_item", "defective", "poor_quality"]
HAPPY = ["Lovely {p}, works fine.", "Nice {p}, arrived quickly.", "Good value {p}, would buy again {d}."]
SOURCES = [("shop", "schema_org"), ("mastodon", "mastodon"), ("reddit", "reddit"), ("trustpilot", "trustpilot")]


def person(i: int) -> str:
    """The i-th synthetic name: every first x last, then with a middle initial (distinct for 1M)."""
    first, last = FIRST[i % len(FIRST)], LAST[(i // len(FIRST)) % len(LAST)]
    rest = i // (len(FIRST) * len(LAST))
    return f"{first} {last}" if rest == 0 else f"{first} {chr(65 + rest % 26)}{rest // 26 or ''} {last}"


SYLLABLES = ["ka", "ro", "lin", "te", "mu", "sa", "vo", "ri", "dan", "be", "quo", "zel", "fi", "no", "tra",
             "gu", "pe", "lo", "ha", "wi", "mar", "ne", "sto", "ul", "ji", "bra", "ce", "dor", "ya", "hel"]


def stranger(i: int) -> str:
    """A name nobody in the shop has (syllables picked by i: distinct names, no near misses by number)."""
    digits = []
    n = (i * 2654435761 + 97) % 24_300_000  # 30 ** 5 names, neighbours far apart
    for _ in range(5):
        n, d = divmod(n, len(SYLLABLES))
        digits.append(SYLLABLES[d])
    return f"{(digits[0] + digits[1]).capitalize()} {(digits[2] + digits[3] + digits[4]).capitalize()}"


def handle_of(i: int) -> str:
    return f"mastodon:buyer{i}@shop.social"


def _chunks(rows: list[dict[str, Any]], size: int = 5000) -> Any:
    for start in range(0, len(rows), size):
        yield rows[start:start + size]


def fill(store: Store, stored: int, now: datetime, rnd: random.Random) -> dict[str, Any]:
    """N stored mentions with assessments, cases and remedies; customers with orders (Core inserts)."""
    customers = max(100, stored // 10)
    old = now - timedelta(days=2)  # every case was matched before the sync below
    state: dict[str, Any] = {"customers": customers, "unmatched_authors": []}
    with store.session() as s:
        rows = [{"id": i + 1, "email": f"buyer{i}@mail.example", "name": person(i), "created_at": old}
                for i in range(customers)]
        for chunk in _chunks(rows):
            s.execute(insert(Customer), chunk)
        if KEYS:  # Core inserts skip the mapper events that keep the name keys
            keys = [{"key": k, "customer_id": row["id"]} for row in rows for k in customer_name_keys(row["name"])]
            for chunk in _chunks(keys):
                s.execute(insert(KEYS[0]), chunk)
        handles = [{"handle": handle_of(i), "customer_id": i + 1, "origin": "order", "created_at": old}
                   for i in range(0, customers, 5)]
        for chunk in _chunks(handles):
            s.execute(insert(CustomerHandle), chunk)
        orders, lines = [], []
        for i in range(customers):
            sku, name, price = PRODUCTS[i % len(PRODUCTS)]
            placed = now - timedelta(days=rnd.randrange(10, 90))
            orders.append({"id": i + 1, "origin": "csv", "number": f"S{i:07d}", "customer_id": i + 1,
                           "placed_at": placed, "currency": "EUR", "total": Decimal(price),
                           "shipping_country": "GB", "fulfillment_status": "fulfilled", "tracking_status": "delivered",
                           "delivered_at": placed + timedelta(days=4), "expected_delivery_at": placed + timedelta(days=4),
                           "updated_at": old, "extra": {}})
            lines.append({"order_id": i + 1, "position": 0, "sku": sku, "name": name, "quantity": 1,
                          "unit_price": Decimal(price), "product_url": f"https://shop.example/p/{sku.lower()}"})
        for chunk in _chunks(orders):
            s.execute(insert(Order), chunk)
        for chunk in _chunks(lines):
            s.execute(insert(OrderLine), chunk)
        mentions, assessments, cases, links, remedies, probes = [], [], [], [], [], []

        def flush() -> None:  # in slices, so 1M mentions never sit in memory at once
            for table, data in ((Mention, mentions), (Assessment, assessments), (Case, cases), (CaseMention, links),
                                (Remedy, remedies), *([(KEYS[1], probes)] if KEYS else [])):
                for chunk in _chunks(data):
                    s.execute(insert(table), chunk)
                data.clear()

        for m in range(1, stored + 1):
            if m % 20000 == 0:
                flush()
            source, kind = SOURCES[m % len(SOURCES)]
            sku, pname, _ = PRODUCTS[m % len(PRODUCTS)]
            unhappy = m % 5 == 0
            published = now - timedelta(days=rnd.randrange(3, 100), seconds=rnd.randrange(86400))
            body = (COMPLAINTS if unhappy else HAPPY)[m % 3 if not unhappy else m % 6].format(p=pname, d=m)
            who = rnd.randrange(customers * 2)  # half the authors are customers, half strangers
            matched = unhappy and who < customers and m % 3 != 0
            if unhappy and not matched:
                who = customers * 2 + m  # a case that waits unmatched: nobody the shop knows (yet)
            name = person(who) if who < customers else stranger(who)
            mentions.append({"id": m, "source": source, "source_kind": kind, "external_id": f"old-{m}",
                             "url": f"https://{source}.example/{m}", "author_name": name,
                             "author_handle": f"buyer{who}@shop.social" if kind == "mastodon" else None,
                             "author_email": f"buyer{who}@mail.example" if kind == "schema_org" and who % 3 == 0 else None,
                             "product_sku": None, "product_url": None, "product_name": pname if kind == "schema_org" else None,
                             "rating": 1.0 if unhappy else 5.0, "title": None, "text": body, "language": "en",
                             "published_at": published, "collected_at": published, "fingerprint": fingerprint(body),
                             "raw": {}})
            assessments.append({"mention_id": m, "sentiment": -0.8 if unhappy else 0.7, "unhappy": unhappy,
                                "issue": ISSUES[m % 6] if unhappy else "none", "confidence": 0.9, "cues": [],
                                "scored_at": published, "scored": True, **LINKED(unhappy)})
            if not unhappy:
                continue
            status = "dispatched" if matched else ("unmatched" if m % 2 else "awaiting_approval")
            cases.append({"id": m, "subject_key": f"{ISSUES[m % 6]}:m{m}", "issue": ISSUES[m % 6], "status": status,
                          "mention_id": m, "customer_id": who + 1 if matched else None,
                          "order_id": who + 1 if matched else None, "order_line_id": None,
                          "match_confidence": 0.9 if matched else 0.3, "match_reasons": [], "candidates": [],
                          "rule": "bench", "reasons": [], "approval_reason": None, "approval_expires_at": None,
                          "created_at": published, "updated_at": old})
            links.append({"case_id": m, "mention_id": m})
            if KEYS and not matched:  # keys are kept for the mentions of waiting cases
                mention = mentions[-1]
                probes.extend({"key": k, "mention_id": m} for k in mention_keys(
                    mention["author_email"], mention["author_handle"], mention["author_name"], kind, {}))
            if status != "unmatched":
                remedies.append({"case_id": m, "kind": "replacement" if matched else "contact", "params": {},
                                 "amount": Decimal("12.00") if matched else Decimal(0), "currency": "EUR",
                                 "note": "Hello.", "idempotency_key": f"bench-{m}",
                                 "status": "dispatched" if matched else "proposed", "attempts": 1,
                                 "created_at": published})
            if not matched and len(state["unmatched_authors"]) < 400:
                state["unmatched_authors"].append((m, name, pname, published))
        flush()
        if SEEN_KEY:  # every waiting case was matched against the orders as they are (as after a cycle)
            s.execute(insert(Meta), [{"key": SEEN_KEY, "value": old.isoformat()}])
        if s.get_bind().dialect.name == "postgresql":  # explicit ids leave the sequences behind
            for table in ("customer", "shop_order", "mention", "recovery_case"):
                s.execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                               f"(SELECT max(id) FROM {table}))"))
            # A live database's autovacuum keeps planner statistics; a store bulk-loaded a moment ago
            # has none (its tables look empty), and the planner then reads whole tables.
            s.execute(text("ANALYZE"))
    state["next_mention"] = stored + 1
    state["next_customer"] = customers
    return state


def add_batch(store: Store, state: dict[str, Any], batch: int, now: datetime, rnd: random.Random, tag: str) -> None:
    """New unhappy mentions, as collect + score would have stored them."""
    customers = state["customers"]
    with store.session() as s:
        for k in range(batch):
            m = state["next_mention"]
            state["next_mention"] += 1
            source, kind = SOURCES[k % len(SOURCES)]
            _sku, pname, _ = PRODUCTS[m % len(PRODUCTS)]
            who = rnd.randrange(customers * 2)
            name = person(who) if who < customers else stranger(who)
            body = COMPLAINTS[m % 6].format(p=pname, d=m) + f" ({tag} {m})"
            mention = Mention(source=source, source_kind=kind, external_id=f"{tag}-{m}", url=f"https://x.example/{m}",
                              author_name=name,
                              author_handle=f"buyer{who}@shop.social" if kind == "mastodon" else None,
                              author_email=f"buyer{who}@mail.example" if kind == "schema_org" and k % 4 == 0 else None,
                              product_name=pname if kind == "schema_org" else None, rating=1.0, text=body,
                              published_at=now - timedelta(hours=1), collected_at=now - timedelta(hours=1),
                              fingerprint=fingerprint(body), raw={})
            s.add(mention)
            s.flush()
            s.add(Assessment(mention_id=mention.id, sentiment=-0.8, unhappy=True, issue=ISSUES[m % 6],
                             confidence=0.9, cues=[], scored_at=now))


def sync_orders(store: Store, state: dict[str, Any], now: datetime, rnd: random.Random, count: int) -> int:
    """What an orders sync writes: new orders for some strangers whose case waits (their order
    arrived late), tracking changes on other orders."""
    waiting = state["unmatched_authors"][: count // 2]
    with store.session() as s:
        for m, name, pname, published in waiting:
            sku = next(p for p in PRODUCTS if p[1] == pname)
            placed = published - timedelta(days=10)  # bought before the complaint, exported late
            upsert_order(s, "csv", ParsedOrder(
                number=f"L{m:07d}", placed_at=placed, email=f"late{m}@mail.example", name=name,
                fulfillment_status="fulfilled", tracking_status="delivered", delivered_at=placed + timedelta(days=3),
                lines=[ParsedLine(sku=sku[0], name=pname, quantity=1, unit_price=Decimal(sku[2]))]))
        for _ in range(count - len(waiting)):
            i = rnd.randrange(state["customers"])
            sku, pname, price = PRODUCTS[i % len(PRODUCTS)]
            placed = now - timedelta(days=30)
            upsert_order(s, "csv", ParsedOrder(
                number=f"S{i:07d}", placed_at=placed, email=f"buyer{i}@mail.example", name=person(i),
                fulfillment_status="fulfilled", tracking_status=rnd.choice(["delivered", "returned", "in_transit"]),
                delivered_at=placed + timedelta(days=5),
                lines=[ParsedLine(sku=sku, name=pname, quantity=1, unit_price=Decimal(price))]))
    return len(waiting)


def bench_config() -> Config:
    return Config.model_validate({"bot": {"shop_name": "Bench shop", "dry_run": True},
                                  "policy": {"daily_budget": 100000, "monthly_budget": 1000000}})


class SqlTally:
    """Statements the engine runs while on: count and time per statement shape (literals folded)."""

    def __init__(self, engine: Any) -> None:
        self.engine = engine
        self.on = False
        self.stats: dict[str, list[float]] = {}
        self.samples: dict[str, tuple[str, Any]] = {}
        event.listen(engine, "before_cursor_execute", self._before)
        event.listen(engine, "after_cursor_execute", self._after)

    def _before(self, conn: Any, _cursor: Any, _statement: str, _params: Any, context: Any, _many: bool) -> None:
        conn.info.setdefault("bench_t", []).append(time.perf_counter())

    def _after(self, conn: Any, _cursor: Any, statement: str, params: Any, context: Any, many: bool) -> None:
        started = conn.info["bench_t"].pop()
        if not self.on:
            return
        shape = re.sub(r"\s+", " ", statement)
        shape = re.sub(r"(\?|%\(\w+\)s|\$\d+)(, (\?|%\(\w+\)s|\$\d+))+", "...", shape)
        if not many:
            self.samples.setdefault(shape, (statement, params))
        entry = self.stats.setdefault(shape, [0, 0.0])
        entry[0] += 1
        entry[1] += time.perf_counter() - started

    def scans(self) -> list[str]:
        """The statements whose plan reads a whole table (EXPLAIN [QUERY PLAN] of one sample each)."""
        out = []
        raw = self.engine.raw_connection()
        try:
            cursor = raw.cursor()
            sqlite = self.engine.dialect.name == "sqlite"
            for shape, (statement, params) in self.samples.items():
                if not statement.lstrip().upper().startswith(("SELECT", "UPDATE", "DELETE", "WITH")):
                    continue
                cursor.execute(("EXPLAIN QUERY PLAN " if sqlite else "EXPLAIN ") + statement, params)
                plan = [str(row[-1] if sqlite else row[0]) for row in cursor.fetchall()]
                full = [line.strip() for line in plan
                        if (line.startswith("SCAN") and "CONSTANT ROW" not in line and not line.startswith("SCAN anon_"))
                        or "Seq Scan" in line]
                if full:
                    out.append(f"    {'; '.join(full)}  <-  {shape[:200]}")
            raw.rollback()
        finally:
            raw.close()
        return out

    def report(self, batch: int, top: int) -> str:
        total_n = sum(int(v[0]) for v in self.stats.values())
        total_t = sum(v[1] for v in self.stats.values())
        out = [f"    SQL: {total_n / batch:.1f} statements, {total_t / batch * 1000:.1f} ms per new mention"]
        for shape, (n, t) in sorted(self.stats.items(), key=lambda kv: -kv[1][1])[:top]:
            out.append(f"    {n / batch:7.2f}x {t / batch * 1000:7.2f} ms  {shape[:220]}")
        return "\n".join(out)


PROFILE_SORT = ["cumulative"]  # --sort


def timed_process(store: Store, config: Config, now: datetime, batch: int,
                  profile: int = 0, label: str = "") -> tuple[float, Any]:
    tally = SqlTally(store.engine) if profile else None
    profiler = cProfile.Profile() if profile else None
    if tally is not None and profiler is not None:
        tally.on = True
        profiler.enable()
    t = time.perf_counter()
    summary = process(store, config, now=now)
    took = time.perf_counter() - t
    if tally is not None and profiler is not None:
        profiler.disable()
        tally.on = False
        buffer = io.StringIO()
        pstats.Stats(profiler, stream=buffer).sort_stats(PROFILE_SORT[0]).print_stats(profile)
        print(f"  --- {label}: {took / batch * 1000:.1f} ms per new mention", flush=True)
        print(tally.report(batch, profile))
        print("    full scans:\n" + ("\n".join(tally.scans()) or "    none"))
        print("\n".join("    " + line for line in buffer.getvalue().splitlines() if line.strip()), flush=True)
    return took / batch * 1000, summary


def _state_out(state: dict[str, Any], rnd: random.Random) -> str:
    return json.dumps({**state, "unmatched_authors": [[m, name, p, published.isoformat()] for m, name, p, published
                                                      in state["unmatched_authors"]], "rnd": rnd.getstate()[1]})


def _state_in(text_: str, rnd: random.Random) -> dict[str, Any]:
    state = json.loads(text_)
    state["unmatched_authors"] = [(m, name, p, datetime.fromisoformat(published))
                                  for m, name, p, published in state["unmatched_authors"]]
    rnd.setstate((3, tuple(state.pop("rnd")), None))
    return state


def run_size(url: str, stored: int, batch: int, sync_count: int, seed: int, profile: int = 0,
             cached: Path | None = None, keep: Any = None) -> dict[str, Any]:
    """One size. ``cached``: the fill's state kept with a kept database; when it is there, the
    database (a copy of the kept one) is only upgraded, else it is filled and ``keep()`` is called
    (the store closed) to keep it."""
    rnd = random.Random(seed)
    now = utcnow()
    t0 = time.perf_counter()
    store = open_store(url)  # a kept fill from older code is upgraded here (its migration is timed)
    try:
        if cached is not None and cached.exists():
            state = _state_in(cached.read_text(encoding="utf-8"), rnd)
        else:
            state = fill(store, stored, now, rnd)
            if cached is not None and keep is not None:
                store.dispose()
                keep()
                cached.write_text(_state_out(state, rnd), encoding="utf-8")
                store = open_store(url)
        filled = time.perf_counter() - t0
        config = bench_config()
        add_batch(store, state, batch, now, rnd, "new")
        plain, s1 = timed_process(store, config, now, batch, profile, f"{stored} stored, no sync")
        arrived = sync_orders(store, state, utcnow(), rnd, sync_count)
        now2 = utcnow()
        add_batch(store, state, batch, now2, rnd, "after")
        synced, s2 = timed_process(store, config, now2, batch, profile, f"{stored} stored, after sync")
    finally:
        store.dispose()
    return {"stored": stored, "filled": filled, "plain": plain, "synced": synced, "linked": s1.linked + s2.linked,
            "rematched": s2.rematched, "arrived": arrived, "errors": s1.errors + s2.errors}


def _keep_pg(admin: Any, kept: str, name: str) -> None:
    """The filled database as a template of later runs (``--cache``)."""
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{kept}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{kept}" TEMPLATE "{name}"'))


def _pg_admin(url: str) -> tuple[str, str]:
    parsed = make_url(url)
    name = parsed.database or "rb_bench_process"
    return parsed.set(database="postgres").render_as_string(hide_password=False), name


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1000,10000,100000", help="stored mentions, comma-separated")
    parser.add_argument("--batch", type=int, default=200, help="new mentions per timed process run")
    parser.add_argument("--sync", type=int, default=100, help="orders written by the sync between the runs")
    parser.add_argument("--db", help="a PostgreSQL URL (its database is created and dropped per size); "
                        "default: SQLite files in a temporary folder")
    parser.add_argument("--seed", type=int, default=18)
    parser.add_argument("--cache", metavar="DIR", help="keep each size's filled store (SQLite: a file in DIR; "
                        "PostgreSQL: a template database) and start later runs from a copy of it "
                        "(the 'fill s' column is then the copy and the upgrade of the kept store)")
    parser.add_argument("--profile", type=int, default=0, metavar="N",
                        help="print the N costliest functions (cProfile) and SQL statements of each timed run")
    parser.add_argument("--sort", default="cumulative", choices=["cumulative", "tottime"],
                        help="how --profile orders the functions (tottime: time in the function itself)")
    args = parser.parse_args()
    PROFILE_SORT[0] = args.sort
    sizes = [int(x) for x in args.sizes.split(",") if x.strip()]
    print(f"{'stored':>9} {'fill s':>7} {'ms/new, no sync':>16} {'ms/new, after sync':>19} {'rematched':>10}")
    for stored in sizes:
        cache = Path(args.cache) if args.cache else None
        if cache is not None:
            cache.mkdir(parents=True, exist_ok=True)
        if args.db:
            admin_url, name = _pg_admin(args.db)
            admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
            kept = f"{name}_fill_{stored}_{args.seed}"
            state = cache / f"{kept}.json" if cache is not None else None
            t0 = time.perf_counter()
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
                found = state is not None and state.exists() and conn.execute(
                    text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": kept}).first() is not None
                conn.execute(text(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{kept}"' if found else "")))
            copied = time.perf_counter() - t0
            if state is not None and not found:
                state.unlink(missing_ok=True)  # its database is gone: fill again
            try:
                row = run_size(args.db, stored, args.batch, args.sync, args.seed, args.profile, state,
                               functools.partial(_keep_pg, admin, kept, name))
                row["filled"] += copied
            finally:
                with admin.connect() as conn:
                    conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
                admin.dispose()
        else:
            with tempfile.TemporaryDirectory() as tmp:
                db = Path(tmp) / "bench.db"
                kept_db = cache / f"fill-{stored}-{args.seed}.db" if cache is not None else None
                state = kept_db.with_suffix(".json") if kept_db is not None else None
                t0 = time.perf_counter()
                if kept_db is not None and state is not None:
                    if kept_db.exists() and state.exists():
                        shutil.copyfile(kept_db, db)
                    else:
                        state.unlink(missing_ok=True)  # its database is gone: fill again
                copied = time.perf_counter() - t0
                row = run_size(f"sqlite:///{db}", stored, args.batch, args.sync, args.seed, args.profile, state,
                               functools.partial(shutil.copyfile, db, kept_db) if kept_db is not None else None)
                row["filled"] += copied
        print(f"{row['stored']:>9} {row['filled']:>7.1f} {row['plain']:>16.1f} {row['synced']:>19.1f} "
              f"{row['rematched']:>4}/{row['arrived']:<5}", flush=True)
        for error in row["errors"][:3]:
            print(f"  error: {error}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
