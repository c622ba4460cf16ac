"""trustpilot_api connector against a loopback server speaking Trustpilot's business API
(client-credentials token, private business-unit reviews)."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest
from pydantic import ValidationError

from bot.collect import collect, list_mentions, source_health
from bot.config import Config
from bot.match import quoted_order
from bot.store import Customer, Mention, Order, SourceState, Store
from connectors.reviews.trustpilot_api import TrustpilotApiConnector
from tests.httpserver import LocalServer, Request, Route

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "trustpilot_api"
UNIT = "64b7f1c2a9e3d40012ab34cd"
API = f"/v1/private/business-units/{UNIT}/reviews"
TOKEN_PATH = "/v1/oauth/oauth-business-users-for-applications/accesstoken"
KEY, SECRET, ACCESS = "tp-key-31", "tp-secret-77", "tp-access-9a0b"


def stamp(value: str) -> datetime:
    when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return when if when.tzinfo else when.replace(tzinfo=UTC)


class Trustpilot:
    """The token endpoint and the private reviews list (oldest first, from `startDateTime`)."""

    def __init__(self) -> None:
        self.reviews: list[dict[str, Any]] = json.loads((FIXTURES / "reviews.json").read_text())["reviews"]
        self.broken: dict[int, str] = {}

    def token(self, request: Request) -> Route:
        basic = "Basic " + base64.b64encode(f"{KEY}:{SECRET}".encode()).decode()
        form = parse_qs(request.body.decode())
        if request.method != "POST" or request.headers.get("authorization") != basic or \
                form != {"grant_type": ["client_credentials"]}:
            return Route(status=401, content_type="application/json", body='{"fault":{"faultstring":"Invalid ApiKey"}}')
        return Route(body=json.dumps({"access_token": ACCESS, "expires_in": "359999", "token_type": "Bearer"}),
                     content_type="application/json")

    def list(self, request: Request) -> Route:
        if request.headers.get("authorization") != f"Bearer {ACCESS}":
            return Route(status=401, content_type="application/json", body='{"message":"Unauthorized"}')
        assert request.arg("orderBy") == "createdat.asc"
        number, count = int(request.arg("page") or "1"), int(request.arg("perPage") or "20")
        if number in self.broken:
            return Route(body=self.broken[number], content_type="application/json")
        since = stamp(request.arg("startDateTime") or "1970-01-01T00:00:00")
        chosen = [r for r in self.reviews if stamp(r["createdAt"]) >= since]
        return Route(body=json.dumps({"links": [], "reviews": chosen[(number - 1) * count: number * count]}),
                     content_type="application/json")


def serve(tp: Trustpilot) -> LocalServer:
    return LocalServer({TOKEN_PATH: tp.token, API: tp.list})


def config(url: str, **extra: Any) -> Config:
    return Config.model_validate({
        "http": {"per_host_delay": 0, "allow_private": ["127.0.0.1"], "backoff": 0, "retries": 0},
        "sources": [{"name": "tp", "kind": "trustpilot_api", "business_unit_id": UNIT, "base_url": url + "/v1",
                     "per_page": 2, "since_days": 3650, "api_key_env": "TEST_TP_KEY",
                     "api_secret_env": "TEST_TP_SECRET", **extra}],
    })


@pytest.fixture
def keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_TP_KEY", KEY)
    monkeypatch.setenv("TEST_TP_SECRET", SECRET)


def test_reviews_carry_the_invitations_order_reference_and_email(store: Store, keys: None) -> None:
    with serve(Trustpilot()) as srv:
        summary = collect(config(srv.base), store)
        assert summary.ok and summary.new_total == 3, summary.lines()
        assert [r.path for r in srv.requests] == [TOKEN_PATH, API, API]  # page 2 is short: the end
        assert all(SECRET not in r.raw_path and KEY not in r.raw_path for r in srv.requests)
    got = {m["external_id"]: m for m in list_mentions(store)}
    pole = got["6751a0c1f0e2b3a4c5d6e7f8"]
    assert pole["rating"] == 1.0 and pole["title"] == "Tent pole snapped" and pole["author_name"] == "Hannah Okafor"
    assert pole["url"] == "https://www.trustpilot.com/reviews/6751a0c1f0e2b3a4c5d6e7f8"
    assert pole["published_at"] == "2026-11-12T18:03:11+00:00"
    with store.session() as s:
        rows = {m.external_id: m for m in s.query(Mention).filter_by(source="tp")}
        state = s.get(SourceState, "tp")
        assert state is not None and state.cursor == {"newest": "2026-11-14T20:15:45+00:00"}
        assert rows["6751a0c1f0e2b3a4c5d6e7f8"].author_email == "hannah.okafor@mail.example"
        assert rows["6751a0c1f0e2b3a4c5d6e7f8"].raw["order_number"] == "FH-10988"
        assert rows["6752b1d2e3f4a5b6c7d8e9f0"].author_email is None  # not invited: nobody to point at
        assert "order_number" not in rows["6752b1d2e3f4a5b6c7d8e9f0"].raw
        assert rows["6752b1d2e3f4a5b6c7d8e9f0"].raw["replied"] is True
        # the reference is what the matcher looks up: the review points at its order
        buyer = Customer(email="hannah.okafor@mail.example", name="Hannah Okafor")
        s.add(buyer)
        s.flush()
        s.add(Order(origin="csv", number="FH-10988", customer_id=buyer.id, placed_at=datetime(2026, 11, 1, tzinfo=UTC)))
        s.flush()
        found = quoted_order(s, rows["6751a0c1f0e2b3a4c5d6e7f8"])
        assert found is not None and found.number == "FH-10988"
        assert quoted_order(s, rows["6753c2e3f4a5b6c7d8e9f0a1"]) is None  # FH-11002 is not in this shop


def test_second_run_reads_only_what_was_written_since(store: Store, keys: None) -> None:
    tp = Trustpilot()
    with serve(tp) as srv:
        assert collect(config(srv.base), store).new_total == 3
        srv.reset()
        tp.reviews.append(tp.reviews[0] | {"id": "6754d3f4a5b6c7d8e9f0a1b2", "text": "Still waiting for the refund.",
                                           "createdAt": "2026-11-20T07:00:00Z", "referenceId": "FH-11020"})
        second = collect(config(srv.base), store)
        assert second.ok and second.new_total == 1, second.lines()
        pages = [r for r in srv.requests if r.path == API]
        assert pages[0].arg("startDateTime") == "2026-11-14T20:05:45"  # the cursor minus the overlap
        # page 1: the last stored review (inside the overlap) and the new one, a full page; page 2: empty
        assert [r.arg("page") for r in pages] == ["1", "2"]
    with store.session() as s:
        state = s.get(SourceState, "tp")
        assert state is not None and state.cursor == {"newest": "2026-11-20T07:00:00+00:00"}


def test_refused_keys_name_both_variables(store: Store, keys: None, monkeypatch: pytest.MonkeyPatch) -> None:
    with serve(Trustpilot()) as srv:
        monkeypatch.setenv("TEST_TP_SECRET", "tp-wrong")
        refused = collect(config(srv.base), store)
        monkeypatch.delenv("TEST_TP_KEY")
        missing = collect(config(srv.base), store)
    error = refused.results[0].errors[0]
    assert not refused.ok and "HTTP 401" in error and "TEST_TP_KEY and TEST_TP_SECRET" in error
    assert TOKEN_PATH in error and "tp-wrong" not in error
    assert "environment variable TEST_TP_KEY" in missing.results[0].errors[0]
    assert source_health(store)[0].consecutive_failures == 2


def test_garbled_page_is_a_recorded_error_and_nothing_stored_is_lost(store: Store, keys: None) -> None:
    tp = Trustpilot()
    with serve(tp) as srv:
        assert collect(config(srv.base), store).new_total == 3
        tp.reviews += [
            {"id": "6755e4a5b6c7d8e9f0a1b2c3", "stars": "1", "text": "Zip broke.", "createdAt": "2026-11-21T00:00:00Z",
             "referralEmail": ["x@y.example"], "referenceId": {"$ne": None}, "language": "en; DROP"},
            {"id": "../../admin", "text": "path", "createdAt": "2026-11-21T00:00:00Z"},
        ]
        tp.broken[2] = '{"reviews": [{"id": "cut'
        garbled = collect(config(srv.base, per_page=3), store)
    assert not garbled.ok and "not valid JSON" in garbled.results[0].errors[0]
    with store.session() as s:
        rows = {m.external_id: m for m in s.query(Mention).filter_by(source="tp")}
        state = s.get(SourceState, "tp")
        assert state is not None and state.cursor == {"newest": "2026-11-14T20:15:45+00:00"}  # not moved on
    assert len(rows) == 4 and "../../admin" not in rows
    odd = rows["6755e4a5b6c7d8e9f0a1b2c3"]
    assert odd.rating is None and odd.author_email is None and odd.language is None
    assert "order_number" not in odd.raw


def test_options_are_checked() -> None:
    with pytest.raises(ValidationError, match="business unit id"):
        TrustpilotApiConnector.Options.model_validate({"business_unit_id": "fernhollow.example"})
    connector = TrustpilotApiConnector("tp", {"business_unit_id": UNIT})
    assert connector.endpoint == f"https://api.trustpilot.com{API}"
