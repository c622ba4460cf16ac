"""Remedies: the exactly-once outbox and the fulfilment adapters that deliver it."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class FulfilmentConfig(BaseModel):
    """[[fulfilment]]: one adapter that delivers queued remedies."""

    model_config = ConfigDict(frozen=True, extra="allow")

    name: str = Field(description="Unique name of this adapter.")
    kind: str = Field(description="csv | webhook | email | woocommerce | shopify")
