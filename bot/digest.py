"""The daily digest: what was seen, flagged, done, what waits for approval, what broke."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator


class DigestConfig(BaseModel):
    """[digest]: the daily email staff read."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    to: tuple[str, ...] = Field((), description="Recipients.")
    send_at: str = Field("08:00", description="Local time (HH:MM, [bot] timezone) the digest is sent.")
    smtp_host: str | None = Field(None, description="SMTP server; none means no digest is sent.")
    smtp_port: int = Field(587, description="SMTP port: 587 STARTTLS, 465 implicit TLS.")
    smtp_security: Literal["starttls", "tls", "none"] = Field(
        "starttls", description="'starttls' (port 587), 'tls' (implicit TLS, port 465) or 'none' (local relay only)."
    )
    smtp_user: str | None = Field(None, description="SMTP login user.")
    smtp_password_env: str | None = Field(None, description="Name of the environment variable holding the SMTP password.")
    smtp_timeout: float = Field(30.0, gt=0, description="Seconds to wait for the SMTP server.")
    sender: str | None = Field(None, description="From address; default smtp_user, else recoverybot@localhost.")

    @field_validator("send_at")
    @classmethod
    def _send_at(cls, value: str) -> str:
        match = re.fullmatch(r"([01]?\d|2[0-3]):([0-5]\d)", value.strip())
        if not match:
            raise ValueError(f"{value!r} is not a local time like '08:00'")
        return f"{int(match.group(1)):02d}:{match.group(2)}"
