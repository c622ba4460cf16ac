"""Order sources: csv import, WooCommerce REST and Shopify GraphQL sync against a local server."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from bot.errors import OrderSyncError, SecretMissing
from bot.orders import import_file, state_name, sync
from connectors.orders import OrdersConfig
from connectors.orders.base import CSV_COLUMNS
from bot.store import Customer, CustomerHandle, Order, OrderLine, SourceState, Store
from tests.httpserver import LocalServer, Request, Route

FIXTURES = Path(__file__).parent / "fixtures" / "orders"
NOW = datetime(2026, 2, 20, 12, 0, tzinfo=UTC)


def orders_by_number(store: Store) -> dict[str, Order]:
    with store.session() as session:
        rows = session.scalars(select(Order)).all()
        for row in rows:
            _ = row.lines, row.customer  # load before the session closes
        return {row.number: row for row in rows}


def count(store: Store, model: type) -> int:
    with store.session() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client() as c:
        yield c


# --- csv ------------------------------------------------------------------------------------


def test_csv_columns_are_the_documented_ones() -> None:
    header = (FIXTURES / "orders.csv").read_text(encoding="utf-8").splitlines()[0]
    assert tuple(header.split(",")) == CSV_COLUMNS


def test_csv_import_reports_bad_rows_by_line_and_imports_the_rest(store: Store) -> None:
    summary = import_file(store, FIXTURES / "orders.csv", OrdersConfig(kind="csv"))
    assert summary.rows == 7 and summary.created == 3
    assert summary.errors == [
        "line 5: quantity 'one' is not a number",
        "line 6: order_date 'not-a-date' is not an ISO 8601 date (2026-03-01 or 2026-03-01T10:00:00Z)",
        "line 7: customer_email 'no-email' is not an email",
    ]
    assert "3 bad rows" in summary.lines()[0]
    orders = orders_by_number(store)
    assert set(orders) == {"A-1001", "A-1002", "A-1006"}
    lamp = orders["A-1001"]
    assert [(ln.sku, ln.quantity, ln.unit_price) for ln in lamp.lines] == [
        ("LAMP-07", 1, Decimal("39.00")), ("BULB-E14", 2, Decimal("4.50"))]
    assert lamp.total == Decimal("48.00") and lamp.shipping_country == "DE"
    assert lamp.delivered_at == datetime(2026, 2, 5, tzinfo=UTC)
    assert lamp.customer.email == "jonas.berg@example.org"  # upserted by email, lower-cased
    kettle = orders["A-1002"]
    assert kettle.placed_at == datetime(2026, 2, 10, 14, 30, tzinfo=UTC)
    assert kettle.tracking_status == "in_transit" and kettle.delivered_at is None
    assert kettle.customer.name == "Inés Álvarez"
    assert orders["A-1006"].lines[0].unit_price == Decimal("9.00")  # "9,00" read as an amount
    with store.session() as session:
        handles = {h.handle: h.origin for h in session.scalars(select(CustomerHandle))}
    assert handles == {"jonasb": "order", "mastodon:jonas@tooting.example": "order",
                       "reddit:ines_a": "order", "rosa.bsky.social": "order"}


def test_reimport_updates_in_place_and_never_duplicates(store: Store, tmp_path: Path) -> None:
    config = OrdersConfig(kind="csv")
    import_file(store, FIXTURES / "orders.csv", config)
    first = orders_by_number(store)
    line_ids = [ln.id for ln in first["A-1002"].lines]
    again = import_file(store, FIXTURES / "orders.csv", config)
    assert (again.created, again.updated, again.unchanged) == (0, 0, 3)
    # The kettle arrives: same order, new delivery status.
    text = (FIXTURES / "orders.csv").read_text(encoding="utf-8").replace(
        "fulfilled,in_transit,,2026-02-16", "fulfilled,delivered,2026-02-15,2026-02-16")
    changed = tmp_path / "orders.csv"
    changed.write_text(text, encoding="utf-8")
    summary = import_file(store, changed, config)
    assert (summary.created, summary.updated, summary.unchanged) == (0, 1, 2)
    after = orders_by_number(store)
    assert after["A-1002"].id == first["A-1002"].id
    assert after["A-1002"].tracking_status == "delivered"
    assert after["A-1002"].delivered_at == datetime(2026, 2, 15, tzinfo=UTC)
    assert [ln.id for ln in after["A-1002"].lines] == line_ids  # cases keep pointing at the line
    assert count(store, Order) == 3 and count(store, Customer) == 3 and count(store, OrderLine) == 4


def test_header_mapping_reads_other_exports(store: Store, tmp_path: Path) -> None:
    export = tmp_path / "export.csv"
    export.write_text(
        "Order ID;Created;Email;Billing Name;Lineitem sku;Lineitem name;Lineitem quantity;Lineitem price\n"
        "#77;2026-01-04T10:00:00+01:00;kai@example.com;Kai Lund;SKI-2;Ski Wax;3;6.00\n",
        encoding="utf-8",
    )
    config = OrdersConfig(kind="csv", delimiter=";", columns={
        "order_number": "Order ID", "order_date": "Created", "customer_email": "Email",
        "customer_name": "Billing Name", "sku": "Lineitem sku", "product_name": "Lineitem name",
        "quantity": "Lineitem quantity", "unit_price": "Lineitem price"})
    summary = import_file(store, export, config)
    assert summary.created == 1 and not summary.errors
    wax = orders_by_number(store)["#77"]
    assert wax.placed_at == datetime(2026, 1, 4, 9, 0, tzinfo=UTC)
    assert wax.lines[0].quantity == 3 and wax.total == Decimal("18.00") and wax.currency == "EUR"


def test_missing_columns_and_unknown_mapping_are_clear_errors(store: Store, tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("number,date\n1,2026-01-01\n", encoding="utf-8")
    with pytest.raises(OrderSyncError) as err:
        import_file(store, bad, OrdersConfig(kind="csv"))
    assert "line 1: missing column(s) order_number, order_date, customer_email" in str(err.value)
    assert "[orders] columns" in str(err.value)
    with pytest.raises(ValueError, match="unknown csv column"):
        OrdersConfig(kind="csv", columns={"order_no": "Order"})
    with pytest.raises(OrderSyncError, match="cannot read orders file"):
        import_file(store, tmp_path / "absent.csv", OrdersConfig(kind="csv"))
    semicolons = tmp_path / "export.csv"
    semicolons.write_text("order_number;order_date;customer_email;sku\n1;2026-01-01;a@b.c;X\n", encoding="utf-8")
    with pytest.raises(OrderSyncError) as err:
        import_file(store, semicolons, OrdersConfig(kind="csv"))
    assert "delimiter = ';'" in str(err.value)


def test_csv_sync_is_incremental(store: Store, tmp_path: Path) -> None:
    (tmp_path / "orders.csv").write_bytes((FIXTURES / "orders.csv").read_bytes())
    config = OrdersConfig(kind="csv", path="orders.csv")
    first = sync(config, store, base_dir=tmp_path, now=NOW)
    assert first.created == 3 and len(first.errors) == 3
    second = sync(config, store, base_dir=tmp_path, now=NOW)
    assert second.skipped and "unchanged" in second.lines()[0]
    with store.session() as session:
        state = session.get(SourceState, state_name("csv"))
        assert state is not None and state.cursor["sha256"] and state.last_success_at == NOW


# --- woocommerce ----------------------------------------------------------------------------


def _woo_server(pages: dict[int, list[dict[str, object]]]) -> LocalServer:
    def orders(request: Request) -> Route:
        page = int(request.arg("page", "1") or 1)
        body = pages.get(page, [])
        return Route(body=json.dumps(body), content_type="application/json",
                     headers={"X-WP-Total": str(sum(len(p) for p in pages.values())),
                              "X-WP-TotalPages": str(len(pages))})

    return LocalServer({"/wp-json/wc/v3/orders": orders})


def _woo_pages() -> dict[int, list[dict[str, object]]]:
    return {1: json.loads((FIXTURES / "woocommerce_orders_page1.json").read_text(encoding="utf-8")),
            2: json.loads((FIXTURES / "woocommerce_orders_page2.json").read_text(encoding="utf-8"))}


def test_woocommerce_sync_pages_and_keeps_a_cursor(store: Store, client: httpx.Client,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_WC_KEY", "ck_test")
    monkeypatch.setenv("TEST_WC_SECRET", "cs_test")
    pages = _woo_pages()
    with _woo_server(pages) as server:
        config = OrdersConfig(kind="woocommerce", url=server.base, consumer_key_env="TEST_WC_KEY",
                              consumer_secret_env="TEST_WC_SECRET", page_size=2)
        summary = sync(config, store, client=client, now=NOW)
        assert (summary.created, summary.pages) == (3, 2)
        first = server.requests[0]
        assert first.headers["authorization"] == "Basic " + base64.b64encode(b"ck_test:cs_test").decode()
        assert first.arg("modified_after") == "2025-08-24T12:00:00"  # first_sync_days back
        assert first.arg("dates_are_gmt") == "true" and first.arg("per_page") == "2"
        assert [r.arg("page") for r in server.requests] == ["1", "2"]

        orders = orders_by_number(store)
        grill = orders["811"]
        assert grill.fulfillment_status == "fulfilled" and grill.customer.name == "Greta Holm"
        assert grill.extra["shipped_at"].startswith("2026-02-03T10:00")
        assert orders["812"].customer.name == "Tomáš Novák" and len(orders["812"].lines) == 2
        assert orders["812"].fulfillment_status == "unfulfilled"
        assert orders["813"].fulfillment_status == "cancelled"
        with store.session() as session:
            assert session.get(CustomerHandle, "gretaholm") is not None

        # Next sync: asks from the newest modification (minus the overlap); a status change
        # updates the order in place.
        server.reset()
        pages[1][1]["status"] = "completed"
        pages[1][1]["date_modified_gmt"] = "2026-02-06T08:00:00"
        again = sync(config, store, client=client, now=NOW)
        assert server.requests[0].arg("modified_after") == "2026-02-05T11:50:00"
        assert again.created == 0 and again.updated == 1
        assert orders_by_number(store)["812"].fulfillment_status == "fulfilled"
        assert count(store, Order) == 3
    with store.session() as session:
        state = session.get(SourceState, "orders:woocommerce")
        assert state is not None and state.cursor == {"modified_after": "2026-02-06T08:00:00"}


def test_woocommerce_refused_keys_and_missing_secret(store: Store, client: httpx.Client,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TEST_WC_ABSENT", raising=False)
    config = OrdersConfig(kind="woocommerce", url="http://127.0.0.1:9", consumer_key_env="TEST_WC_ABSENT")
    with pytest.raises(SecretMissing, match="TEST_WC_ABSENT"):
        sync(config, store, client=client, now=NOW)
    monkeypatch.setenv("TEST_WC_KEY", "ck_wrong")
    monkeypatch.setenv("TEST_WC_SECRET", "cs_wrong")
    refused = Route(body='{"code":"woocommerce_rest_cannot_view","message":"Sorry, you cannot list resources.",'
                         '"data":{"status":401}}', status=401, content_type="application/json")
    with LocalServer({"/wp-json/wc/v3/orders": refused}) as server:
        config = OrdersConfig(kind="woocommerce", url=server.base, consumer_key_env="TEST_WC_KEY",
                              consumer_secret_env="TEST_WC_SECRET")
        with pytest.raises(OrderSyncError) as err:
            sync(config, store, client=client, now=NOW)
    assert "HTTP 401" in str(err.value) and "cs_wrong" not in str(err.value)
    with store.session() as session:
        state = session.get(SourceState, "orders:woocommerce")
        assert state is not None and state.consecutive_failures == 1 and state.last_success_at is None


def test_woocommerce_retries_a_429(store: Store, client: httpx.Client, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_WC_KEY", "k")
    monkeypatch.setenv("TEST_WC_SECRET", "s")
    page = (FIXTURES / "woocommerce_orders_page2.json").read_text(encoding="utf-8")
    answers = [Route(body="slow down", status=429, headers={"Retry-After": "7"}),
               Route(body=page, content_type="application/json", headers={"X-WP-TotalPages": "1"})]
    waits: list[float] = []
    with LocalServer({"/wp-json/wc/v3/orders": answers}) as server:
        config = OrdersConfig(kind="woocommerce", url=server.base, consumer_key_env="TEST_WC_KEY",
                              consumer_secret_env="TEST_WC_SECRET")
        summary = sync(config, store, client=client, now=NOW, sleep=waits.append)
    assert summary.created == 1 and waits == [7.0]


# --- shopify --------------------------------------------------------------------------------


def _shopify(name: str) -> str:
    return (FIXTURES / name).read_text(encoding="utf-8")


def test_shopify_sync_pages_by_cursor_and_respects_the_cost_throttle(
    store: Store, client: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEST_SHOPIFY_TOKEN", "shpat_test")
    seen: list[dict[str, object]] = []

    def graphql(request: Request) -> Route:
        body = json.loads(request.body)
        seen.append(body)
        if request.headers.get("x-shopify-access-token") != "shpat_test":
            return Route(body='{"errors":"[API] Invalid API key or access token"}', status=401)
        if len(seen) == 1:
            return Route(body=_shopify("shopify_throttled.json"), content_type="application/json")
        after = body["variables"]["after"]
        page = "shopify_orders_page1.json" if after is None else "shopify_orders_page2.json"
        return Route(body=_shopify(page), content_type="application/json")

    waits: list[float] = []
    with LocalServer({"/admin/api/2025-01/graphql.json": graphql}) as server:
        config = OrdersConfig(kind="shopify", shop=server.base, access_token_env="TEST_SHOPIFY_TOKEN")
        summary = sync(config, store, client=client, now=NOW, sleep=waits.append)
    assert (summary.created, summary.pages) == (3, 2)
    # Throttled first: wait (52 - 12) / 100 s; after page 1 only 60 points remain for a 52 query: no wait.
    assert waits == [pytest.approx(0.4)]
    assert "orders(first: $first, after: $after, query: $query" in str(seen[0]["query"])
    assert seen[1]["variables"] == {"first": 50, "after": None, "query": "updated_at:>='2025-08-24T12:00:00Z'"}
    assert seen[2]["variables"]["after"] == "eyJsYXN0X2lkIjo1MDAxfQ=="

    orders = orders_by_number(store)
    blender = orders["#1041"]
    assert blender.tracking_status == "delivered"
    assert blender.delivered_at == datetime(2026, 2, 9, 16, 20, tzinfo=UTC)
    assert blender.lines[0].product_url == "https://shop.example/products/blend-2"
    socks = orders["#1042"]
    assert socks.tracking_status == "in_transit" and socks.delivered_at is None
    assert socks.expected_delivery_at == datetime(2026, 2, 11, tzinfo=UTC)
    assert [ln.sku for ln in socks.lines] == ["SOCK-3", None] and socks.total == Decimal("27.00")
    assert orders["#1043"].fulfillment_status == "unfulfilled" and orders["#1043"].customer.name == "Zoé Martin"
    with store.session() as session:
        state = session.get(SourceState, "orders:shopify")
        assert state is not None and state.cursor == {"updated_at": "2026-02-09T16:20:00"}


def test_shopify_resync_updates_delivery_in_place(store: Store, client: httpx.Client,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_SHOPIFY_TOKEN", "t")
    page1 = json.loads(_shopify("shopify_orders_page1.json"))
    page1["data"]["orders"]["pageInfo"]["hasNextPage"] = False
    queries: list[str] = []

    def graphql(request: Request) -> Route:
        queries.append(json.loads(request.body)["variables"]["query"])
        return Route(body=json.dumps(page1), content_type="application/json")

    with LocalServer({"/admin/api/2024-10/graphql.json": graphql}) as server:
        config = OrdersConfig(kind="shopify", shop=server.base, api_version="2024-10", access_token_env="TEST_SHOPIFY_TOKEN")
        sync(config, store, client=client, now=NOW, sleep=lambda s: None)
        socks = page1["data"]["orders"]["nodes"][1]
        socks["fulfillments"][0].update(displayStatus="DELIVERED", deliveredAt="2026-02-10T13:00:00Z")
        socks["updatedAt"] = "2026-02-10T13:00:05Z"
        again = sync(config, store, client=client, now=NOW, sleep=lambda s: None)
    assert queries[1] == "updated_at:>='2026-02-09T16:10:00Z'"
    assert (again.created, again.updated, again.unchanged) == (0, 1, 1)
    assert count(store, Order) == 2
    assert orders_by_number(store)["#1042"].delivered_at == datetime(2026, 2, 10, 13, 0, tzinfo=UTC)


def test_shopify_access_denied_names_the_scopes(store: Store, client: httpx.Client,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_SHOPIFY_TOKEN", "t")
    denied = Route(body=_shopify("shopify_access_denied.json"), content_type="application/json")
    with LocalServer({"/admin/api/2025-01/graphql.json": denied}) as server:
        config = OrdersConfig(kind="shopify", shop=server.base, access_token_env="TEST_SHOPIFY_TOKEN")
        with pytest.raises(OrderSyncError) as err:
            sync(config, store, client=client, now=NOW)
    assert "Access denied for orders field" in str(err.value)
    assert "read_all_orders" in str(err.value)


def test_sync_with_kind_none_does_nothing(store: Store) -> None:
    summary = sync(OrdersConfig(), store, now=NOW)
    assert summary.skipped and "none" in summary.lines()[0]
    assert count(store, SourceState) == 0


@pytest.mark.postgres
def test_import_and_match_on_postgresql(pg_url: str) -> None:
    """The same import and a match on PostgreSQL (case-insensitive email lookups, JSON extra)."""
    from bot.match import MatchConfig, match_mention
    from bot.store import Mention, fingerprint, open_store

    store = open_store(pg_url)
    try:
        first = import_file(store, FIXTURES / "orders.csv", OrdersConfig(kind="csv"))
        again = import_file(store, FIXTURES / "orders.csv", OrdersConfig(kind="csv"))
        assert (first.created, again.unchanged, count(store, Order)) == (3, 3, 3)
        with store.session() as session:
            mention = Mention(source="shop", source_kind="schema_org", external_id="r1",
                              author_email="JONAS.BERG@example.org", product_sku="lamp-07",
                              text="Flickers.", published_at=datetime(2026, 2, 20, tzinfo=UTC),
                              fingerprint=fingerprint("Flickers."))
            session.add(mention)
            session.flush()
            result = match_mention(session, mention, MatchConfig())
            assert result.matched and result.candidates[0]["order_number"] == "A-1001"
    finally:
        store.dispose()
