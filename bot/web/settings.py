"""[web]: the staff web inbox's section of config.toml (the app is in ``bot.web.app``)."""

from __future__ import annotations

from email.utils import parseaddr
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator


class WebConfig(BaseModel):
    """[web]: the staff inbox and the one-click links in the digest."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    enabled: bool = Field(False, description="Serve the staff web inbox from the daemon and put Approve / Reject / "
                          "Change buttons in the digest (see docs/web-inbox.md).")
    bind: str = Field("127.0.0.1", description="Address the inbox listens on. Anything but a loopback address "
                      "needs the signing key (key_env) set; put it behind a reverse proxy with TLS.")
    port: int = Field(8787, ge=1, le=65535, description="Port the inbox listens on.")
    public_url: str = Field("http://127.0.0.1:8787", description="The inbox's address as staff reach it "
                            "(https://... behind a proxy); every link in the digest and the sign-in mail starts with it.")
    key_env: str = Field("RECOVERYBOT_WEB_KEY", description="Name of the environment variable holding the key that "
                         "signs links and sessions (32 or more random characters; keep it the same across restarts).")
    link_days: int = Field(3, ge=1, le=30, description="Days a one-click link in the digest stays valid.")
    session_hours: int = Field(12, ge=1, le=24 * 30, description="Hours a sign-in lasts before staff sign in again.")
    staff: tuple[str, ...] = Field((), description="Addresses that may sign in; default: the digest's `to`.")

    @field_validator("public_url")
    @classmethod
    def _public_url(cls, value: str) -> str:
        parts = urlsplit(value.strip())
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"{value!r} is not an http(s) address like 'https://inbox.shop.example'")
        return value.strip().rstrip("/")

    @field_validator("staff")
    @classmethod
    def _addresses(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for address in value:
            if "@" not in parseaddr(address)[1]:
                raise ValueError(f"{address!r} is not an email address")
        return tuple(parseaddr(a)[1].lower() for a in value)

    @property
    def secure(self) -> bool:
        """Cookies are Secure when staff reach the inbox over https."""
        return self.public_url.startswith("https://")


__all__ = ["WebConfig", "is_loopback"]


def is_loopback(bind: str) -> bool:
    """Whether `bind` only listens on this machine (127.0.0.0/8, ::1, localhost)."""
    import ipaddress

    host = bind.strip().strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name that may resolve anywhere: treat as public
