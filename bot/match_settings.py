"""[matching] settings, apart from :mod:`bot.match` so reading a config loads no database library."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class MatchConfig(BaseModel):
    """[matching]: how mentions are matched to orders."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    threshold: float = Field(0.6, ge=0, le=1, description="Below this confidence nothing is matched.")
    window_days: int = Field(120, ge=1, description="A mention counts only this many days after delivery.")
    ambiguity_margin: float = Field(
        0.1, ge=0, le=1,
        description="Candidates this close to the best score make the mention ambiguous (unmatched, "
        "candidates listed in the digest).",
    )
    weight_email: float = Field(0.9, ge=0, le=1, description="Confidence added by the platform-verified buyer email.")
    weight_handle: float = Field(0.8, ge=0, le=1, description="Confidence added by a social handle linked to the customer.")
    weight_order_number: float = Field(
        0.5, ge=0, le=1, description="Confidence added to the order a mention quotes by number (an email "
        "to support: 'order #10234'); the quote also links the writer to that order's customer.",
    )
    weight_name: float = Field(
        0.45, ge=0, le=1, description="Confidence added by the reviewer's name, times the name similarity (0..1)."
    )
    weight_product: float = Field(
        0.35, ge=0, le=1, description="Confidence added when the product (SKU, URL or name) is in the order, times similarity."
    )
    weight_timing: float = Field(
        0.1, ge=0, le=1, description="Confidence added when the mention comes after delivery and inside the window."
    )
    name_min: float = Field(0.5, ge=0, le=1, description="Name similarity below this is no name evidence.")
    product_min: float = Field(
        0.6, ge=0, le=1,
        description="Product-name similarity below this is no product evidence; a customer whose orders "
        "hold no product at least this close to the one named is ruled out.",
    )
    expected_delivery_days: int = Field(
        7, ge=0, description="When an order has no expected delivery date: order date plus this many days."
    )
    max_candidates: int = Field(5, ge=1, description="How many candidates an unmatched result keeps for the digest.")
    name_candidates: int = Field(
        100, ge=1,
        description="At most this many customers are compared with a reviewer's name. When more share a "
        "word of it (a common first name), only those whose first and last name both fit are compared; "
        "when even those are more, the name alone cannot tell who wrote the mention: it waits "
        "unmatched, with that reason, unless an email, handle or quoted order says who it is.",
    )
