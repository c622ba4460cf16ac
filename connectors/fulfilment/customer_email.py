"""`kind = "customer_email"`: the note itself mailed to the buyer, so they learn why a remedy comes.

Sent through the ``[digest]`` SMTP settings, From the adapter's ``sender`` (else ``[digest]
sender``), ``Reply-To`` the shop's care address (``reply_to``, else ``[bot] care_email``), plain
text with an HTML alternative. The Message-ID is derived from the remedy's idempotency key.

Never twice: a small ledger file in the data folder (one JSON line per message, appended and
fsynced right after the SMTP server accepted it, under an exclusive lock) is read before each
send, so a retry after a crash, or a second dispatcher, finds the message already sent. When
several remedies of one case come here with the same note, the buyer gets it once. The one
window left, a crash between the server's "250 OK" and the ledger line, resends the same
Message-ID, which mail clients show as one message.
"""

from __future__ import annotations

import fcntl
import hashlib
import html
import json
import os
import re
from email.message import EmailMessage
from pathlib import Path
from typing import ClassVar

from pydantic import Field, model_validator

from bot.errors import DispatchError
from connectors.fulfilment.base import AdapterOptions, Deps, Job
from connectors.fulfilment.email import is_address


class CustomerEmailOptions(AdapterOptions):
    sender: str | None = Field(None, description="customer_email: From address (default: [digest] sender).")
    reply_to: str | None = Field(
        None, description="customer_email: where the buyer's reply goes (default: [bot] care_email; none: no Reply-To)."
    )
    subject: str = Field("About your order {order}", description="customer_email: subject ({order}, {shop}).")
    ledger: str = Field(
        "customer-emails.jsonl", description="customer_email: file recording every message sent, so none is sent "
        "twice (relative: in $RECOVERYBOT_DATA_DIR, else next to the config)."
    )

    @model_validator(mode="after")
    def _addresses(self) -> CustomerEmailOptions:
        for address in (self.sender, self.reply_to):
            if address and not is_address(address):
                raise ValueError(f"{address!r} is not an email address like 'care@shop.example'")
        return self


def _html(note: str) -> str:
    """The note's paragraphs and '- ' lists as simple, escaped HTML."""
    parts: list[str] = []
    for block in re.split(r"\n\s*\n", note.strip()):
        lines = block.splitlines()
        items = [line[2:] for line in lines if line.startswith("- ")]
        text = [line for line in lines if not line.startswith("- ")]
        if text:
            parts.append("<p>" + "<br>\n".join(html.escape(line) for line in text) + "</p>")
        if items:
            parts.append("<ul>\n" + "\n".join(f"<li>{html.escape(item)}</li>" for item in items) + "\n</ul>")
    return ('<!doctype html>\n<html><body style="font-family: sans-serif; line-height: 1.5">\n'
            + "\n".join(parts) + "\n</body></html>\n")


class CustomerEmailAdapter:
    """Mails the customer note to the buyer (one message per remedy and note, never twice)."""

    kind: ClassVar[str] = "customer_email"
    Options: ClassVar[type[AdapterOptions]] = CustomerEmailOptions
    # Kinds whose whole effect is telling the buyer; list others in `handles` to tell them too.
    default_handles: ClassVar[tuple[str, ...]] = ("keep_item", "contact")

    def __init__(self, name: str, options: CustomerEmailOptions, deps: Deps, where: str) -> None:
        self.name = name
        self.options = options
        self.mailer = deps.mailer()  # made now: no SMTP server is a config problem, found before any claim
        self.sender = options.sender or deps.sender
        self.reply_to = options.reply_to or deps.care_email
        self.shop = deps.shop_name
        self.ledger = deps.data_dir / options.ledger

    def message(self, job: Job) -> EmailMessage:
        """The message for this job (without sending it)."""
        if not job.customer_email or not is_address(job.customer_email):
            raise DispatchError(f"customer_email {self.name}: the buyer of remedy {job.idempotency_key} has no "
                                "email address", retryable=False,
                                hint="route this kind to the email or csv adapter so staff reach the buyer")
        message = EmailMessage()
        message["From"] = self.sender
        message["To"] = (f"{job.customer_name} <{job.customer_email}>" if job.customer_name and
                         not any(c in job.customer_name for c in '<>,;"') else job.customer_email)
        if self.reply_to:
            message["Reply-To"] = self.reply_to
        message["Subject"] = self.options.subject.format(order=job.order_number or "", shop=self.shop).strip()
        domain = self.sender.rpartition("@")[2] or "recoverybot.invalid"
        message["Message-ID"] = f"<{job.idempotency_key}.note@{domain}>"
        message["X-Recoverybot-Idempotency-Key"] = job.idempotency_key
        message["Auto-Submitted"] = "auto-generated"
        message.set_content(job.note)
        message.add_alternative(_html(job.note), subtype="html")
        return message

    def deliver(self, job: Job) -> str | None:
        from bot.report.mailer import MailError

        message = self.message(job)
        note_id = f"{job.case_id}:{hashlib.sha256(job.note.encode('utf-8')).hexdigest()[:16]}"
        try:
            self.ledger.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.ledger, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o640)
        except OSError as exc:
            raise DispatchError(f"customer_email {self.name}: cannot open {self.ledger.name}: {exc.strerror}",
                                hint=f"check the ledger path of [[fulfilment]] {self.name!r}") from exc
        try:
            # Held across the send: two dispatchers never both send the same message.
            fcntl.flock(fd, fcntl.LOCK_EX)
            earlier = _find(Path(self.ledger), job.idempotency_key, note_id)
            if earlier is not None:
                return f"{earlier} (already sent)"
            try:
                self.mailer.send(message)
            except MailError as exc:
                raise DispatchError(f"customer_email {self.name}: {exc.message}", retryable=exc.retryable,
                                    hint=exc.hint) from exc
            line = json.dumps({"key": job.idempotency_key, "note": note_id, "message_id": message["Message-ID"],
                               "to": job.customer_email}, sort_keys=True) + "\n"
            os.write(fd, line.encode("utf-8"))
            os.fsync(fd)
        finally:
            os.close(fd)
        return str(message["Message-ID"])


    def tell(self, job: Job) -> str | None:
        """The case's note as a buyer notice: the same message and ledger as a remedy, so a note this
        adapter already mailed with a remedy of the case is found there and not sent again."""
        return self.deliver(job)


def _find(ledger: Path, key: str, note_id: str) -> str | None:
    """The Message-ID already sent for this remedy, or for the same note of the same case."""
    try:
        text = ledger.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    for line in text.splitlines():
        try:
            row = json.loads(line)
        except ValueError:
            continue  # a line cut by a crash: its message was sent once, the retry sends it again
        if row.get("key") == key or row.get("note") == note_id:
            return str(row.get("message_id"))
    return None
