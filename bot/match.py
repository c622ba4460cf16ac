"""Matching: find the unhappy buyer's real order, with a confidence and the reasons."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class MatchConfig(BaseModel):
    """[matching]: how mentions are matched to orders."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    threshold: float = Field(0.6, ge=0, le=1, description="Below this confidence nothing is matched.")
    window_days: int = Field(120, ge=1, description="A mention counts only this many days after delivery.")
