"""[digest]: the daily email's section of config.toml (also the SMTP settings the mailer uses)."""

from __future__ import annotations

import re
from datetime import time
from email.utils import parseaddr
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
    subject_prefix: str = Field("recoverybot", description="Start of the subject line, before the day's numbers.")
    quiet_days: Literal["send", "skip"] = Field(
        "send", description="On a day with nothing unhappy, failing or waiting: 'send' an all-quiet digest or 'skip' it."
    )
    cards: int = Field(
        5, ge=1, le=500, description="Most 'Needs you' cases shown as full cards (those to decide first); the "
        "next ones, up to max_items, get one line each with how to see them in full.",
    )
    max_items: int = Field(20, ge=1, le=500, description="Most entries shown per section; the rest are counted ('and N more').")
    quote_chars: int = Field(600, ge=80, le=5000, description="Longest review quote shown; longer ones are cut at a word.")
    chart_days: int = Field(14, ge=2, le=60, description="Days shown in the volume chart.")
    retry_minutes: int = Field(
        10, ge=1, description="First wait before a failed send is retried; the wait doubles each time (at most 2 h)."
    )

    @field_validator("send_at")
    @classmethod
    def _send_at(cls, value: str) -> str:
        return _parse_send_at(value).strftime("%H:%M")

    @field_validator("to")
    @classmethod
    def _addresses(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for address in value:
            if "@" not in parseaddr(address)[1]:
                raise ValueError(f"{address!r} is not an email address")
        return value

    @property
    def send_time(self) -> time:
        return _parse_send_at(self.send_at)

    @property
    def from_address(self) -> str:
        if self.sender:
            return self.sender
        if self.smtp_user and "@" in self.smtp_user:
            return self.smtp_user
        return "recoverybot@localhost"


def _parse_send_at(value: str) -> time:
    match = re.fullmatch(r"([01]?\d|2[0-3]):([0-5]\d)", value.strip())
    if not match:
        raise ValueError(f"{value!r} is not a local time like '08:00'")
    return time(int(match.group(1)), int(match.group(2)))
