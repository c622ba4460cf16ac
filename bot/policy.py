"""Policy: ordered rules from config.toml pick the remedy for a case, within global guards."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class RuleConfig(BaseModel):
    """[[policy.rules]]: one rule; the first that matches a case wins."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(description="Shown in the digest and the audit log.")
    issues: tuple[str, ...] = Field((), description="Issues this rule applies to (empty: any).")
    remedy: str = Field("contact", description="The remedy kind.")
    auto_up_to: float = Field(0, ge=0, description="Runs unattended when the cost is at most this; else waits for approval.")


class PolicyConfig(BaseModel):
    """[policy]: which remedy, when, within which limits."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    rules: tuple[RuleConfig, ...] = Field((), description="Ordered rules, first match wins.")
