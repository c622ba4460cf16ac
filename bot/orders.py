"""Order sources: import the shop's orders (csv, WooCommerce, Shopify) into the store.

Re-syncing updates orders in place; it never duplicates (unique origin + number).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class OrdersConfig(BaseModel):
    """[orders]: where the shop's orders come from."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["none", "csv", "woocommerce", "shopify"] = Field("none", description="Order source: csv, woocommerce, shopify, or none.")
    path: str | None = Field(None, description="csv: the orders file (relative to this config).")

    def describe(self) -> str:
        if self.kind == "csv":
            return f"csv {self.path}"
        return self.kind

    def resolved_path(self, base_dir: Path) -> Path | None:
        return (base_dir / self.path) if self.path else None
