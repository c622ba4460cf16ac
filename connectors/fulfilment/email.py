"""`kind = "email"`: the remedy mailed to the warehouse / customer-service address over SMTP."""

from __future__ import annotations

import json
from email.message import EmailMessage
from email.utils import parseaddr
from typing import ClassVar

from pydantic import Field, model_validator

from bot.errors import DispatchError
from connectors.fulfilment.base import ALL_KINDS, AdapterOptions, Deps, Job


class EmailOptions(AdapterOptions):
    to: tuple[str, ...] = Field(description="email: the warehouse / customer-service addresses.")
    sender: str | None = Field(None, description="email: From address (default: [digest] sender).")
    subject: str = Field("[recoverybot] {kind} for order {order}", description="email: subject ({kind}, {order}, {case}).")

    @model_validator(mode="after")
    def _recipients(self) -> EmailOptions:
        if not self.to:
            raise ValueError("`to` needs at least one address")
        for address in (*self.to, *([self.sender] if self.sender else [])):
            if not is_address(address):
                raise ValueError(f"{address!r} is not an email address like 'warehouse@shop.example'")
        return self


def is_address(text: str) -> bool:
    """A plain check of one address (``name@domain``, or ``Name <name@domain>``): catches a
    missing @ or a list in one string, not every RFC 5322 subtlety."""
    if "," in text or ";" in text:
        return False  # two addresses in one string: list them separately
    address = parseaddr(text)[1] if "<" in text else text.strip()
    local, at, domain = address.rpartition("@")
    return bool(at and local and domain) and not any(c.isspace() or c in ",;<>" for c in address) \
        and "@" not in local and not domain.startswith(".") and not domain.endswith(".")


class EmailAdapter:
    """Mails the remedy to the warehouse / customer-service address via bot.mailer (SMTP)."""

    kind: ClassVar[str] = "email"
    Options: ClassVar[type[AdapterOptions]] = EmailOptions
    default_handles: ClassVar[tuple[str, ...]] = ALL_KINDS

    def __init__(self, name: str, options: EmailOptions, deps: Deps, where: str) -> None:
        self.name = name
        self.options = options
        # The mailer is made now, before any remedy is claimed: no SMTP server is a config problem.
        self.mailer = deps.mailer()
        self.sender = options.sender or deps.sender

    def deliver(self, job: Job) -> str | None:
        from bot.report.mailer import MailError

        message = EmailMessage()
        message["From"] = self.sender
        message["To"] = ", ".join(self.options.to)
        message["Subject"] = self.options.subject.format(kind=job.kind, order=job.order_number or "-", case=job.case_id)
        domain = self.sender.rpartition("@")[2] or "recoverybot.invalid"
        # Derived from the idempotency key: a resend after a crash carries the same Message-ID.
        message["Message-ID"] = f"<{job.idempotency_key}@{domain}>"
        message["X-Recoverybot-Idempotency-Key"] = job.idempotency_key
        p = job.payload()
        lines = [
            f"Remedy: {job.kind} (case #{job.case_id})",
            f"Order: {job.order_number or 'not matched'}",
            f"Customer: {job.customer_name or '-'} <{job.customer_email or '-'}>",
            f"Amount: {job.amount} {job.currency}",
        ]
        lines += [f"{k}: {v}" for k, v in sorted(job.params.items()) if v not in (None, "")]
        lines.append(f"Mention: {job.mention_url or '-'} by {job.mention_author or '-'} on {job.mention_source or '-'}")
        if job.kind == "contact":
            lines.append(f"Please reach out to {job.mention_author or 'the author'} ({job.mention_source}) "
                         f"at {job.mention_url or '-'} and ask for their order number.")
        lines += ["", "Note for the customer:", job.note, "", "Idempotency-Key: " + job.idempotency_key]
        message.set_content("\n".join(lines))
        message.add_attachment(json.dumps(p, indent=2, sort_keys=True).encode("utf-8"),
                               maintype="application", subtype="json", filename=f"{job.idempotency_key}.json")
        try:
            self.mailer.send(message)
        except MailError as exc:
            raise DispatchError(f"email {self.name}: {exc.message}", retryable=exc.retryable, hint=exc.hint) from exc
        return ", ".join(self.options.to)
