"""What every fulfilment adapter shares: the job it delivers, its options base, its I/O seams,
the Protocol it implements, and how HTTP failures become retryable or final DispatchErrors."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, runtime_checkable

import httpx
from pydantic import BaseModel, ConfigDict

from bot.errors import DispatchError

if TYPE_CHECKING:
    from bot.report.mailer import Mailer

# Every remedy kind an adapter that is not a shop API delivers by default.
ALL_KINDS: tuple[str, ...] = ("replacement", "refund", "store_credit", "repair_reimbursement", "return_pickup",
                              "keep_item", "gesture", "contact", "correct_item", "shipping_credit")


@dataclass(frozen=True)
class Job:
    """What an adapter needs to deliver one remedy; built from the store, so adapters never touch it."""

    remedy_id: int
    case_id: int
    idempotency_key: str
    kind: str
    params: dict[str, Any]
    amount: Decimal
    currency: str
    note: str
    issue: str
    customer_name: str | None = None
    customer_email: str | None = None
    order_number: str | None = None
    order_origin: str | None = None
    order_ref: str | None = None  # the shop's own id of the order (API adapters)
    shipping_country: str | None = None
    mention_url: str | None = None
    mention_author: str | None = None
    mention_source: str | None = None
    attempt: int = 1
    queued_at: datetime | None = None

    def payload(self) -> dict[str, Any]:
        """The JSON body webhooks receive (also the csv row's source)."""
        return {
            "idempotency_key": self.idempotency_key,
            "remedy_id": self.remedy_id,
            "case_id": self.case_id,
            "kind": self.kind,
            "params": self.params,
            "amount": str(self.amount),
            "currency": self.currency,
            "issue": self.issue,
            "note": self.note,
            "customer": {"name": self.customer_name, "email": self.customer_email},
            "order": {"number": self.order_number, "origin": self.order_origin, "ref": self.order_ref,
                      "shipping_country": self.shipping_country},
            "mention": {"url": self.mention_url, "author": self.mention_author, "source": self.mention_source},
        }


class AdapterOptions(BaseModel):
    """Base of every adapter's options: frozen, unknown keys refused."""

    model_config = ConfigDict(frozen=True, extra="forbid")


@dataclass
class Deps:
    """The I/O seams and shared settings handed to adapters (STYLE.md point 6)."""

    client: httpx.Client
    mailer: Callable[[], Mailer]
    data_dir: Path  # where relative output files go
    sender: str  # the From address when an adapter names none ([digest] sender)
    care_email: str | None = None  # the shop's customer-care address ([bot] care_email): Reply-To for buyers
    shop_name: str = ""


@runtime_checkable
class Adapter(Protocol):
    """Delivers one remedy; raises DispatchError (``retryable`` or not) on failure, returns a reference."""

    kind: ClassVar[str]
    Options: ClassVar[type[AdapterOptions]]
    default_handles: ClassVar[tuple[str, ...]]

    def __init__(self, name: str, options: Any, deps: Deps, where: str) -> None: ...

    def deliver(self, job: Job) -> str | None: ...


@runtime_checkable
class Teller(Protocol):
    """An adapter that can also tell the buyer a case's note (``bot.notices``): ``job.kind`` is
    ``"notice"``, ``job.idempotency_key`` the notice's key. Exactly once per key, as ``deliver``."""

    def tell(self, job: Job) -> str | None: ...


def http_error(exc: httpx.HTTPError, what: str) -> DispatchError:
    return DispatchError(f"{what}: {type(exc).__name__}: {exc}", hint="check that the receiver is reachable")


def check_status(response: httpx.Response, what: str) -> None:
    if response.is_success:
        return
    status = response.status_code
    retryable = status >= 500 or status in (408, 409, 425, 429)
    body = response.text[:200].replace("\n", " ")
    raise DispatchError(
        f"{what}: HTTP {status}: {body}", retryable=retryable,
        hint=None if retryable else "the receiver refused the request; check its URL and credentials",
    )


