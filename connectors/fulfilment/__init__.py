"""Fulfilment adapters: where queued remedies are delivered (STYLE.md point 2).

Each ``[[fulfilment]]`` entry names an adapter by ``kind``; its other keys are validated by that
adapter's ``Options`` at config load. Adding an adapter is one module here and one line in
:data:`ADAPTERS`. The outbox (``bot.outbox``) claims due remedies and hands each one, as a
:class:`~connectors.fulfilment.base.Job`, to the adapter the remedy names.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from bot.errors import ConfigError
from connectors.fulfilment.base import Adapter, Deps, Job, Teller
from connectors.fulfilment.csv import CsvAdapter
from connectors.fulfilment.customer_email import CustomerEmailAdapter
from connectors.fulfilment.email import EmailAdapter, is_address
from connectors.fulfilment.shopify import ShopifyAdapter
from connectors.fulfilment.webhook import WebhookAdapter, sign, verify
from connectors.fulfilment.woocommerce import WooCommerceAdapter

if TYPE_CHECKING:
    from bot.report.settings import DigestConfig

__all__ = ["ADAPTERS", "Adapter", "Deps", "FulfilmentConfig", "Job", "Teller", "build_adapter", "check_fulfilment",
           "is_address", "pick_adapter", "shadowed", "sign", "verify"]

ADAPTERS: dict[str, type[Any]] = {
    cls.kind: cls for cls in (CsvAdapter, WebhookAdapter, EmailAdapter, CustomerEmailAdapter, WooCommerceAdapter,
                              ShopifyAdapter)
}


class FulfilmentConfig(BaseModel):
    """[[fulfilment]]: one adapter that delivers queued remedies. Other keys are the adapter's options."""

    model_config = ConfigDict(frozen=True, extra="allow")

    name: str = Field(description="Unique name of this adapter (shown on each remedy and in the digest).")
    kind: str = Field(description="csv | webhook | email | customer_email | woocommerce | shopify")
    handles: tuple[str, ...] = Field(
        (), description="Remedy kinds this adapter delivers (empty: the adapter's default: every kind, or "
        "replacement, refund and correct_item for shop APIs). The first adapter that handles a kind gets it."
    )

    @model_validator(mode="after")
    def _options(self) -> FulfilmentConfig:
        from bot.decide.policy import KINDS

        if self.kind not in ADAPTERS:
            raise ValueError(f"unknown fulfilment kind {self.kind!r} (known: {', '.join(sorted(ADAPTERS))})")
        for kind in self.handles:
            if kind not in KINDS:
                raise ValueError(f"unknown remedy kind {kind!r} in handles (known: {', '.join(KINDS)})")
        try:
            ADAPTERS[self.kind].Options.model_validate(self.options)
        except ValidationError as exc:
            err = exc.errors()[0]
            where = ".".join(str(p) for p in err["loc"])
            raise ValueError(f"fulfilment {self.name!r} ({self.kind}): {where}: {err['msg']}") from exc
        return self

    @property
    def options(self) -> dict[str, Any]:
        return dict(self.model_extra or {})

    def handled(self) -> tuple[str, ...]:
        return self.handles or ADAPTERS[self.kind].default_handles


def check_fulfilment(fulfilment: Sequence[FulfilmentConfig], digest: DigestConfig) -> None:
    """What one [[fulfilment]] entry cannot check alone: an email or customer_email adapter needs [digest]'s SMTP
    server. Raises ValueError (Config's model validator turns it into a ConfigError)."""
    for entry in fulfilment:
        if entry.kind in ("email", "customer_email") and not digest.smtp_host:
            raise ValueError(f"fulfilment {entry.name!r} ({entry.kind}) sends through [digest] smtp_host, which is not set; "
                             "set [digest] smtp_host (and smtp_port), or use a csv / webhook adapter")


def shadowed(fulfilment: Sequence[FulfilmentConfig]) -> list[str]:
    """Warnings for entries that lose remedy kinds to an earlier entry with empty ``handles``
    (which takes every kind its adapter delivers): those kinds never reach the later entry."""
    out: list[str] = []
    for index, entry in enumerate(fulfilment):
        for earlier in fulfilment[:index]:
            if earlier.handles:
                continue
            lost = [kind for kind in entry.handled() if kind in earlier.handled()]
            if lost:
                what = "any remedy" if len(lost) == len(entry.handled()) else ", ".join(lost)
                out.append(f"fulfilment {entry.name!r} never receives {what}: {earlier.name!r} comes first with "
                           "empty handles and takes them; list `handles` on it, or move it last")
                break
    return out


def pick_adapter(kind: str, fulfilment: Sequence[FulfilmentConfig]) -> str | None:
    """The first entry that handles remedies of `kind`."""
    for adapter in fulfilment:
        if kind in adapter.handled():
            return adapter.name
    return None


def build_adapter(name: str, fulfilment: Sequence[FulfilmentConfig], deps: Deps) -> Adapter:
    """The adapter of the [[fulfilment]] entry called `name` (SecretMissing when its secret is unset)."""
    for index, entry in enumerate(fulfilment):
        if entry.name == name:
            cls = ADAPTERS[entry.kind]
            adapter: Adapter = cls(name, cls.Options.model_validate(entry.options), deps, f"fulfilment[{index}]")
            return adapter
    raise ConfigError(f"no [[fulfilment]] named {name!r}", key="fulfilment")
