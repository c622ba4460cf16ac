"""[[alerts]]: the instant alerts' section of config.toml (the sending is in ``bot.alerts.send``)."""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict, Field, model_validator


class AlertConfig(BaseModel):
    """[[alerts]]: one place instant alerts go, and which events it wants."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str | None = Field(
        None, max_length=100,
        description="Name of this target in the log (default: the name of its url_env variable); alerts are remembered under it.",
    )
    url_env: str | None = Field(
        None, description="Name of the environment variable holding the Apprise URL (e.g. slack://..., "
        "workflows://... for Teams, discord://..., tgram://..., mailtos://...; see docs/alerts.md). Required: the URL holds the service's secret.",
    )
    case_waiting_above: float | None = Field(
        None, ge=0, description="Alert when a case waits for approval and its remedies cost at least this much "
        "([bot] currency); 0: every waiting case; unset: no such alerts.",
    )
    remedy_failed: bool = Field(False, description="Alert when a remedy could not be delivered after all its attempts.")
    source_failing: int | None = Field(
        None, ge=1, le=10_000, description="Alert when a source has failed this many times in a row; unset: no such alerts.",
    )
    outbox_stuck: int | None = Field(
        None, ge=1, le=525_600, description="Alert when an approved remedy is still not delivered this many minutes "
        "after it was queued; unset: no such alerts.",
    )
    max_per_hour: int = Field(
        10, ge=1, le=1000, description="At most this many alerts per hour to this target; the rest wait for a later "
        "run (none is dropped).",
    )
    timeout: float = Field(20.0, gt=0, le=300, description="Seconds one alert may take to send, retries included.")

    @model_validator(mode="after")
    def _complete(self) -> AlertConfig:
        if not self.url_env:
            raise ValueError("no url_env: name the environment variable that holds this target's Apprise URL")
        if not self.wants_anything:
            raise ValueError(f"{self.target} sends nothing: set case_waiting_above, remedy_failed, source_failing "
                             "or outbox_stuck")
        return self

    @property
    def target(self) -> str:
        """The name alerts of this entry are remembered under."""
        return self.name or self.url_env or "alerts"

    @property
    def wants_anything(self) -> bool:
        return (self.case_waiting_above is not None or self.remedy_failed or self.source_failing is not None
                or self.outbox_stuck is not None)


def check_alerts(alerts: Sequence[AlertConfig]) -> None:
    """Called by the config schema: two entries never share a name (alerts are remembered by it)."""
    seen: set[str] = set()
    for entry in alerts:
        if entry.target in seen:
            raise ValueError(f"two [[alerts]] entries are named {entry.target!r}; give each its own name")
        seen.add(entry.target)


__all__ = ["AlertConfig", "check_alerts"]
