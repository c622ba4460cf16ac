"""The daily digest: what was seen, flagged, done, what waits for approval, what broke."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class DigestConfig(BaseModel):
    """[digest]: the daily email staff read."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    to: tuple[str, ...] = Field((), description="Recipients.")
    send_at: str = Field("08:00", description="Local time (HH:MM, [bot] timezone) the digest is sent.")
    smtp_host: str | None = Field(None, description="SMTP server; none means no digest is sent.")
    smtp_port: int = Field(587, description="SMTP port: 587 STARTTLS, 465 implicit TLS.")
    smtp_user: str | None = Field(None, description="SMTP login user.")
    smtp_password_env: str | None = Field(None, description="Name of the environment variable holding the SMTP password.")
