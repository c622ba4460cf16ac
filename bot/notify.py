"""[notify]: how the buyer is told why a remedy comes (delivered by ``bot.notices``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    from connectors.fulfilment import FulfilmentConfig


class NotifyConfig(BaseModel):
    """[notify]: how the buyer is told why a remedy comes, once per case, whatever adapter delivers it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    tell_buyer: str = Field(
        "auto", description="Who mails the buyer the note once the case's remedies are delivered: \"auto\" (the "
        "first customer_email [[fulfilment]] entry; with none, buyers are not told by recoverybot), the name of a "
        "customer_email entry, or \"off\" (only what the adapters themselves send)."
    )
    shop_notes: bool = Field(
        False, description="Orders of a WooCommerce shop that a woocommerce [[fulfilment]] entry serves: tell the "
        "buyer with a customer order note on the order (WooCommerce emails it to them) instead of our email. "
        "Shopify has no such note, so its buyers get our email."
    )
    public_reply: bool = Field(
        False, description="Allow a public reply under a buyer's review, only when a staff member asks for it "
        "(`recoverybot reply CASE_ID`), posted once; today for reviews of a woocommerce source. It never mentions "
        "the rating, an amount, the order or the buyer's email, and never offers anything for changing the review."
    )


def check_notify(notify: NotifyConfig, fulfilment: Sequence[FulfilmentConfig]) -> None:
    """``tell_buyer`` names a customer_email entry (ValueError otherwise, for the config loader)."""
    if notify.tell_buyer in ("auto", "off"):
        return
    entry = next((e for e in fulfilment if e.name == notify.tell_buyer), None)
    if entry is None:
        names = ", ".join(repr(e.name) for e in fulfilment if e.kind == "customer_email") or "none"
        raise ValueError(f"[notify] tell_buyer = {notify.tell_buyer!r}: no [[fulfilment]] entry has that name "
                         f"(customer_email entries: {names}); use \"auto\", \"off\" or one of them")
    if entry.kind != "customer_email":
        raise ValueError(f"[notify] tell_buyer = {notify.tell_buyer!r} is a {entry.kind} entry; it must name a "
                         "customer_email entry (shop notes: [notify] shop_notes = true)")
