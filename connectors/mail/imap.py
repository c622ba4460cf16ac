"""A support mailbox over IMAP: each buyer's email becomes a mention.

Reads one folder with the standard library's :mod:`imaplib` over TLS (``security = "tls"``, the
default), STARTTLS, or (for a server on this machine only) plain. The password comes from the
environment variable ``password_env`` names, or an OAuth2 access token from ``oauth2_token_env``
(XOAUTH2, for Gmail and Microsoft 365). Only new messages are read: the cursor keeps the folder's
UIDVALIDITY and the highest UID seen; when the server renumbers the folder (a new UIDVALIDITY) it is
read again from the start, and the messages already stored are recognised by their Message-ID.
Mail is never marked or moved: bodies are fetched with ``BODY.PEEK[]`` and the folder is opened
read-only, unless ``mark_seen = true``.

Each message gives the sender's address as the author's email (exact matching to the customer),
the subject as title, the new part of the body as text (quoted replies and signatures cut, HTML
turned into text), the number of attachments, and an order number when one is written in it.
Auto-replies, bounces, newsletters and list mail, and the shop's own mail are skipped; so are
messages larger than ``max_message_bytes``. The counts of what was read and skipped are kept in
the source's cursor (``last_run``) and logged.
"""

from __future__ import annotations

import email
import email.policy
import imaplib
import logging
import re
import socket
import ssl
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage, Message
from email.utils import getaddresses, parsedate_to_datetime
from typing import Any, ClassVar, Literal

from bs4 import BeautifulSoup
from pydantic import Field, field_validator, model_validator

from bot.env import secret
from bot.errors import MailboxError
from connectors.base import CollectContext, Options, RawMention, content_id

log = logging.getLogger("recoverybot.connectors.mail.imap")

# "Order #10234", "order number: 10234", "my order K-2001": the number is group 1.
DEFAULT_ORDER_PATTERN = r"(?i)\border\b(?:\s*(?:no\.?|number|nr\.?|id))?\s*[:#]?\s*#?\s*([A-Z]{0,4}-?\d{3,12})\b"
MAX_PARTS = 200  # MIME parts looked at in one message
UID_CHUNK = 200  # UIDs per FETCH of sizes
MAX_TEXT = 20_000  # characters of body text kept after cutting quotes
# A server that fails on a message (dovecot's "Internal error", Gmail's "Some messages could not be
# FETCHed") fails the run: its cursor is not saved, so the message is read again next run.
AGAIN_HINT = "a problem on the mail server's side; the message is read again next run"

_WROTE = re.compile(r"^\s*(On\b.{0,300}\bwrote:|Am\b.{0,300}\bschrieb.{0,80}:|Le\b.{0,300}\ba écrit\s?:)\s*$",
                    re.IGNORECASE)
_OUTLOOK = re.compile(r"^\s*(-{2,}\s*Original Message\s*-{2,}|_{8,}|From:\s.{1,300})\s*$", re.IGNORECASE)
_SENT_FROM = re.compile(r"^\s*Sent from my \w[\w ]{0,40}$", re.IGNORECASE)
_BULK = {"bulk", "list", "junk", "auto_reply"}


class ImapOptions(Options):
    """Keys of a `kind = "imap"` source."""

    host: str = Field(description="The IMAP server, e.g. 'imap.gmail.com' or 'outlook.office365.com'.")
    port: int | None = Field(None, ge=1, le=65535, description="The server's port; default 993 with "
                             "security = 'tls', else 143.")
    security: Literal["tls", "starttls", "none"] = Field(
        "tls", description="'tls' (IMAPS, port 993), 'starttls' (port 143, then TLS), or 'none' (no "
        "encryption: only for a server on this machine, host 127.0.0.1 or localhost).")
    ca_file: str | None = Field(None, description="A CA certificate file (PEM) to trust for a server "
                                "with a private certificate; default: the system's.")
    username: str = Field(description="The mailbox login, usually its address: 'care@shop.example'.")
    password_env: str = Field("RECOVERYBOT_IMAP_PASSWORD", description="Environment variable holding the "
                              "password (an app password for Gmail / Microsoft 365).")
    oauth2_token_env: str | None = Field(None, description="Environment variable holding an OAuth2 access "
                                         "token; when set, the login is XOAUTH2 and `password_env` is not used.")
    folder: str = Field("INBOX", min_length=1, max_length=500, description="The folder to read, e.g. "
                        "'INBOX' or 'INBOX/Support'.")
    mark_seen: bool = Field(False, description="Mark the messages read as seen. By default mail is left "
                            "exactly as it was (unread stays unread).")
    own_addresses: tuple[str, ...] = Field(
        (), description="The shop's own addresses ('care@shop.example') or domains ('@shop.example'): "
        "their mail is never a buyer's. The login address always counts.")
    order_pattern: str = Field(DEFAULT_ORDER_PATTERN, description="A regular expression that finds an "
                               "order number in the subject or body; its first group (else the whole "
                               "match) is the number.")
    since_days: int = Field(30, ge=1, le=3650, description="The first run reads the messages of this "
                            "many last days; later runs read what arrived since.")
    max_messages: int = Field(200, ge=1, le=10_000, description="At most this many messages read per run "
                              "(the rest next run).")
    max_message_bytes: int = Field(2_000_000, ge=1_000, le=50_000_000, description="Messages larger than "
                                   "this (with attachments) are skipped and counted, never downloaded.")
    timeout: float = Field(30.0, gt=0, le=600, description="Seconds one network step may take.")

    @field_validator("order_pattern")
    @classmethod
    def _pattern(cls, value: str) -> str:
        try:
            compiled = re.compile(value)
        except re.error as exc:
            raise ValueError(f"not a regular expression: {exc}") from exc
        if compiled.groups > 1:
            raise ValueError("use at most one group (the order number)")
        return value

    @field_validator("own_addresses")
    @classmethod
    def _own(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for item in value:
            if "@" not in item:
                raise ValueError(f"{item!r} is neither an address nor a domain like '@shop.example'")
        return tuple(item.strip().lower() for item in value)

    @model_validator(mode="after")
    def _plain_only_here(self) -> ImapOptions:
        if self.security == "none" and self.host not in ("127.0.0.1", "localhost", "::1"):
            raise ValueError(f"security = 'none' would send the password unencrypted to {self.host}; "
                             "use 'tls' or 'starttls'")
        return self

    @property
    def server(self) -> str:
        port = self.port or (993 if self.security == "tls" else 143)
        return f"{self.host}:{port}"


class ImapConnector:
    """Reads a support mailbox (one folder) over IMAP."""

    kind: ClassVar[str] = "imap"
    Options: ClassVar[type[ImapOptions]] = ImapOptions

    def __init__(self, name: str, options: ImapOptions | dict[str, Any],
                 *, now: Callable[[], datetime] | None = None) -> None:
        self.name = name
        self.options = options if isinstance(options, ImapOptions) else ImapOptions.model_validate(options)
        self._order = re.compile(self.options.order_pattern)
        self._now = now or (lambda: datetime.now(UTC))

    @property
    def where(self) -> str:
        """Names the mailbox in errors: imap://host:port/folder."""
        return f"imap://{self.options.server}/{self.options.folder}"

    def _error(self, what: str, exc: BaseException | None = None, hint: str | None = None) -> MailboxError:
        detail = f": {_said(exc)}" if exc is not None else ""
        return MailboxError(f"{what} (server {self.options.server}, folder {self.options.folder}){detail}",
                            source=self.name, url=self.where, hint=hint)

    # --- connecting ---------------------------------------------------------------------------

    def _context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self.options.ca_file)

    def connect(self) -> imaplib.IMAP4:
        """A logged-in connection; MailboxError naming the server and folder when that fails."""
        opts = self.options
        host, port = opts.host, int(opts.server.rsplit(":", 1)[1])
        # Read the secret first: a missing variable is a config problem, named as such.
        token = secret(opts.oauth2_token_env, f"sources.{self.name}.oauth2_token_env") if opts.oauth2_token_env else None
        password = None if token else secret(opts.password_env, f"sources.{self.name}.password_env")
        try:
            if opts.security == "tls":
                conn: imaplib.IMAP4 = imaplib.IMAP4_SSL(host, port, ssl_context=self._context(), timeout=opts.timeout)
            else:
                conn = imaplib.IMAP4(host, port, timeout=opts.timeout)
                if opts.security == "starttls":
                    try:
                        conn.starttls(ssl_context=self._context())
                    except BaseException:
                        conn.shutdown()
                        raise
        except ssl.SSLError as exc:
            raise self._error("cannot set up TLS with the mail server", exc,
                              hint="check `security` ('tls' on port 993, 'starttls' on 143) and the "
                              "server's certificate (`ca_file` for a private one)") from exc
        except (OSError, imaplib.IMAP4.error) as exc:
            raise self._error("cannot reach the mail server", exc,
                              hint="check `host`, `port` and `security`, and that the server is up") from exc
        try:
            if token is not None:
                auth = f"user={opts.username}\x01auth=Bearer {token}\x01\x01".encode()
                conn.authenticate("XOAUTH2", lambda _challenge: auth)
            else:
                assert password is not None
                conn.login(opts.username, password)
        except imaplib.IMAP4.error as exc:
            _close(conn)
            variable = opts.oauth2_token_env if token is not None else opts.password_env
            raise self._error(f"the mail server refused the login of {opts.username}", exc,
                              hint=f"check the {'token' if token else 'password'} in the environment variable "
                              f"{variable} (Gmail and Microsoft 365 need an app password or an OAuth2 "
                              "token, and IMAP switched on)") from exc
        except OSError as exc:
            _close(conn)
            raise self._error("the connection broke while logging in", exc) from exc
        return conn

    # --- collecting ---------------------------------------------------------------------------

    def collect(self, ctx: CollectContext) -> Iterator[RawMention]:
        conn = self.connect()
        try:
            yield from self._collect(conn, ctx)
        except (OSError, imaplib.IMAP4.abort) as exc:
            raise self._error("the connection to the mail server broke", exc) from exc
        except imaplib.IMAP4.error as exc:
            raise self._error("the mail server refused a command", exc) from exc
        finally:
            _close(conn)

    def _collect(self, conn: imaplib.IMAP4, ctx: CollectContext) -> Iterator[RawMention]:
        opts = self.options
        typ, data = conn.select(_quote(opts.folder), readonly=not opts.mark_seen)
        if typ != "OK":
            raise self._error("cannot open the folder", imaplib.IMAP4.error(_text(data[0]) if data else typ),
                              hint="check `folder` (names are case-sensitive; Gmail's are like '[Gmail]/All Mail')")
        validity = _uidvalidity(conn)
        last = int(ctx.cursor.get("last_uid") or 0)
        fresh = ctx.cursor.get("uidvalidity") != validity or ctx.cursor.get("folder") != opts.folder
        if fresh and ctx.cursor.get("uidvalidity") is not None:
            log.warning("%s: folder %s was renumbered (UIDVALIDITY %s -> %s): reading it again; messages "
                        "already stored are recognised by Message-ID", self.name, opts.folder,
                        ctx.cursor.get("uidvalidity"), validity)
        if fresh:
            last = 0
        uids = self._new_uids(conn, last, first_run=fresh and not ctx.cursor.get("uidvalidity"))
        todo = uids[: opts.max_messages]
        stats: dict[str, int] = {"read": 0, "mentions": 0}
        sizes = self._sizes(conn, todo)
        ctx.progress(0, len(todo))
        done = last
        try:
            for uid in todo:
                late = ctx.fetch.past_deadline(ctx.source) if hasattr(ctx.fetch, "past_deadline") else None
                if late is not None:
                    break  # the rest next run; the cursor stops at the last message looked at
                ctx.progress(1)
                size = sizes.get(uid)
                if size is None or size > opts.max_message_bytes:
                    _count(stats, "too_large" if size is not None else "vanished")
                    done = uid
                    continue
                message = self._fetch(conn, uid)
                done = uid
                if message is None:
                    _count(stats, "vanished")
                    continue
                stats["read"] += 1
                mention, why = self.mention(message, uid)
                if mention is None:
                    _count(stats, why)
                    continue
                if opts.mark_seen:
                    conn.uid("STORE", str(uid), "+FLAGS.SILENT", r"(\Seen)")
                stats["mentions"] += 1
                yield mention
        finally:
            ctx.cursor.update({"folder": opts.folder, "uidvalidity": validity, "last_uid": done,
                               "last_run": stats, "waiting": max(0, len(uids) - len(todo))})
        skipped = {k: v for k, v in stats.items() if k not in ("read", "mentions")}
        log.info("%s: %d messages read, %d mentions%s", self.name, stats["read"], stats["mentions"],
                 "; skipped " + ", ".join(f"{v} {k.replace('_', ' ')}" for k, v in sorted(skipped.items()))
                 if skipped else "")

    def _new_uids(self, conn: imaplib.IMAP4, last: int, *, first_run: bool) -> list[int]:
        if first_run:
            since = (self._now() - timedelta(days=self.options.since_days)).strftime("%d-%b-%Y")
            typ, data = conn.uid("SEARCH", "SINCE", since)
        else:
            typ, data = conn.uid("SEARCH", "UID", f"{last + 1}:*")
        if typ != "OK":
            raise self._error("the server refused to list the folder's messages",
                              imaplib.IMAP4.error(_text(data[0]) if data else ""))
        found: set[int] = set()
        for chunk in data:
            for word in _text(chunk).split()[:1_000_000]:
                if word.isdigit():
                    found.add(int(word))
        # "N:*" always answers the last message, even when its UID is below N.
        return sorted(uid for uid in found if uid > last)

    def _sizes(self, conn: imaplib.IMAP4, uids: list[int]) -> dict[int, int]:
        sizes: dict[int, int] = {}
        for start in range(0, len(uids), UID_CHUNK):
            chunk = uids[start : start + UID_CHUNK]
            typ, data = conn.uid("FETCH", ",".join(map(str, chunk)), "(RFC822.SIZE)")
            if typ != "OK":  # a message without a size would be skipped as vanished: lost
                raise self._error("the mail server could not give the sizes of new messages",
                                  imaplib.IMAP4.error(_text(data[0]) if data else typ), hint=AGAIN_HINT)
            for item in data:
                line = _text(item[0] if isinstance(item, tuple) else item)
                uid = re.search(r"\bUID (\d+)", line)
                size = re.search(r"\bRFC822\.SIZE (\d+)", line)
                if uid and size:
                    sizes[int(uid.group(1))] = int(size.group(1))
        return sizes

    def _fetch(self, conn: imaplib.IMAP4, uid: int) -> EmailMessage | None:
        try:
            typ, data = conn.uid("FETCH", str(uid), "(BODY.PEEK[])")
        except imaplib.IMAP4.abort as exc:  # dovecot says BYE when it cannot read a message file
            raise self._error(f"the mail server failed while giving message UID {uid}", exc, hint=AGAIN_HINT) from exc
        if typ != "OK":  # not a vanished message (that is OK with no data): never skip it for good
            raise self._error(f"the mail server refused to give message UID {uid}",
                              imaplib.IMAP4.error(_text(data[0]) if data else typ), hint=AGAIN_HINT)
        for item in data:
            if isinstance(item, tuple) and len(item) == 2 and isinstance(item[1], bytes):
                body = item[1][: self.options.max_message_bytes]
                parsed = email.message_from_bytes(body, policy=email.policy.default)
                return parsed if isinstance(parsed, EmailMessage) else None
        return None

    # --- one message ----------------------------------------------------------------------------

    def mention(self, message: EmailMessage, uid: int = 0) -> tuple[RawMention | None, str]:
        """The mention of one message, or (None, why it is skipped)."""
        why = self.skip_reason(message)
        if why:
            return None, why
        name, sender = _sender(message)
        if not sender:
            return None, "no_sender"
        subject = _header(message, "Subject")[:500]
        body, attachments = body_text(message)
        text = cut_quoted(body)[:MAX_TEXT]
        if not text.strip() and not subject.strip():
            return None, "empty"
        message_id = _header(message, "Message-ID").strip().strip("<>").strip()[:450]
        when = _date(message)
        external_id = f"mid:{message_id}" if message_id else content_id(sender, when.isoformat() if when else "",
                                                                        subject, text)
        order = self.order_number(f"{subject}\n{text}")
        raw: dict[str, Any] = {"uid": uid, "folder": self.options.folder, "attachments": attachments}
        if order:
            raw["order_number"] = order
        return RawMention(
            source=self.name,
            external_id=external_id,
            text=text or subject,
            author_name=name or None,
            author_email=sender,
            title=subject or None,
            published_at=when,
            raw=raw,
        ), ""

    def order_number(self, text: str) -> str | None:
        """The first order number written in the text (``order_pattern``), or None."""
        found = self._order.search(text[:MAX_TEXT])
        if not found:
            return None
        number = (found.group(1) if self._order.groups else found.group(0)) or ""
        return number.strip().lstrip("#").strip()[:100] or None

    def skip_reason(self, message: Message) -> str:
        """Why a message is not a buyer writing to us ('' when it is)."""
        auto = _header(message, "Auto-Submitted").strip().lower()
        if auto and auto != "no":
            return "auto_reply"
        if any(_header(message, h) for h in ("X-Autoreply", "X-Autorespond", "X-Autoresponse")):
            return "auto_reply"
        if _header(message, "Precedence").strip().lower() in _BULK:
            return "newsletter"
        if _header(message, "List-Id") or _header(message, "List-Unsubscribe"):
            return "newsletter"
        _name, sender = _sender(message)
        local = sender.split("@", 1)[0]
        if local in ("mailer-daemon", "postmaster") or message.get_content_type() == "multipart/report":
            return "bounce"
        if _header(message, "Return-Path").strip() == "<>" and "delivery" in _header(message, "Subject").lower():
            return "bounce"
        if sender and self.own(sender):
            return "own_mail"
        return ""

    def own(self, address: str) -> bool:
        address = address.lower()
        if address == self.options.username.strip().lower():
            return True
        for item in self.options.own_addresses:
            if item.startswith("@") and address.endswith(item):
                return True
            if address == item:
                return True
        return False


# --- message helpers ----------------------------------------------------------------------------


def body_text(message: EmailMessage) -> tuple[str, int]:
    """The message's text (its text/plain part, else its HTML as text) and how many attachments it has."""
    plain: str | None = None
    html: str | None = None
    attachments = 0
    for count, part in enumerate(message.walk()):
        if count >= MAX_PARTS:
            break
        if part.is_multipart():
            continue
        disposition = (part.get_content_disposition() or "").lower()
        if disposition == "attachment" or (part.get_filename() and disposition != "inline") or \
                part.get_content_maintype() not in ("text",):
            attachments += part.get_content_maintype() != "multipart"
            continue
        subtype = part.get_content_subtype()
        if subtype == "plain" and plain is None:
            plain = _decode(part)
        elif subtype == "html" and html is None:
            html = _decode(part)
    if plain and plain.strip():
        return plain, attachments
    return (html_mail_text(html) if html else ""), attachments


def html_mail_text(html: str) -> str:
    """An HTML mail as text, quoted blocks (``<blockquote>``, Gmail's and Outlook's quotes) dropped."""
    soup = BeautifulSoup(html, "lxml")
    for node in soup.find_all(["script", "style", "head", "blockquote"]):
        node.decompose()
    for node in soup.select(".gmail_quote, .gmail_signature, #divRplyFwdMsg, #appendonsend, .moz-cite-prefix"):
        node.decompose()
    for br in soup.find_all("br"):
        br.replace_with("\n")
    for block in soup.find_all(["p", "div", "tr", "li", "h1", "h2", "h3"]):
        block.insert_after("\n")
    return "\n".join(line.strip() for line in soup.get_text().splitlines())


def cut_quoted(text: str) -> str:
    """The new part of a reply: stops at "On ... wrote:", an Outlook header block, the signature
    delimiter "-- " or "Sent from my ..."; drops "> " quoted lines."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")[:5000]
    out: list[str] = []
    for index, line in enumerate(lines):
        stripped = line.rstrip()
        if stripped in ("--", "-- ") or line == "-- ":
            break
        if _SENT_FROM.match(stripped):
            break
        if _WROTE.match(stripped):
            break
        # "On Tue, 3 Mar 2026 at 10:00, Shop <care@shop.example>" + "wrote:" on the next line
        if stripped.lower().startswith("on ") and index + 1 < len(lines) and \
                lines[index + 1].strip().lower().endswith("wrote:") and len(stripped) < 300:
            break
        if _OUTLOOK.match(stripped) and (stripped.startswith(("-", "_")) or _has_sent(lines[index + 1 : index + 5])):
            break
        if stripped.lstrip().startswith(">"):
            continue
        out.append(stripped)
    while out and not out[-1].strip():
        out.pop()
    while out and not out[0].strip():
        out.pop(0)
    squeezed: list[str] = []
    for line in out:
        if line.strip() or (squeezed and squeezed[-1].strip()):
            squeezed.append(line)
    return "\n".join(squeezed)


def _has_sent(lines: list[str]) -> bool:
    return any(re.match(r"^\s*(Sent|Date):\s", line, re.IGNORECASE) for line in lines)


def _decode(part: Message) -> str:
    try:
        content = part.get_content()  # type: ignore[attr-defined]
        if isinstance(content, str):
            return content
    except (LookupError, ValueError, AttributeError):
        pass
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return ""
    charset = part.get_content_charset() or "utf-8"
    try:
        return payload.decode(charset, errors="replace")
    except LookupError:
        return payload.decode("utf-8", errors="replace")


def _header(message: Message, name: str) -> str:
    try:
        value = message.get(name)
    except (ValueError, IndexError, AttributeError):  # a broken header must not stop the run
        return ""
    return str(value or "")[:2000]


def _sender(message: Message) -> tuple[str, str]:
    try:
        pairs = getaddresses([_header(message, "From")])
    except (ValueError, IndexError):
        return "", ""
    for name, address in pairs:
        if "@" in address:
            return name.strip()[:300], address.strip().lower()[:300]
    return "", ""


def _date(message: Message) -> datetime | None:
    raw = _header(message, "Date")
    if not raw:
        return None
    try:
        when = parsedate_to_datetime(raw)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC)


def _uidvalidity(conn: imaplib.IMAP4) -> int | None:
    _typ, data = conn.response("UIDVALIDITY")
    for item in data or []:
        text = _text(item)
        if text.strip().isdigit():
            return int(text.strip())
    return None


def _count(stats: dict[str, int], key: str) -> None:
    stats[key] = stats.get(key, 0) + 1


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return "" if value is None else str(value)


def _quote(folder: str) -> str:
    if folder.startswith('"'):
        return folder
    return '"' + folder.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _said(exc: BaseException) -> str:
    if isinstance(exc, socket.timeout | TimeoutError):
        return "no answer in time"
    text = exc.args[0] if exc.args else exc
    return _text(text).strip()[:300] or type(exc).__name__


def _close(conn: imaplib.IMAP4) -> None:
    try:
        conn.logout()
    except (OSError, imaplib.IMAP4.error):
        pass
