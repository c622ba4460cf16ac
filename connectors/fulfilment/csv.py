"""`kind = "csv"`: one row per remedy appended to a warehouse file, atomically, once per key.

Cells are made safe for spreadsheets (:func:`safe_cell`, :func:`safe_url`): customer names and
review authors come from the internet, and a cell such as ``=HYPERLINK(...)`` would run when staff
open the file.
"""

from __future__ import annotations

import csv
import errno
import fcntl
import io
import json
import logging
import os
import re
from pathlib import Path
from typing import ClassVar
from urllib.parse import urlsplit

from pydantic import Field

from bot.errors import DispatchError
from connectors.fulfilment.base import ALL_KINDS, AdapterOptions, Deps, Job

log = logging.getLogger(__name__)


class CsvOptions(AdapterOptions):
    path: str = Field("remedies.csv", description="csv: the warehouse file rows are appended to (relative: in $RECOVERYBOT_DATA_DIR, else next to the config).")


# The mention columns come last so files written before they existed keep their columns (rows are
# written by the file's own header); a `contact` row is acted on from them (no order, no customer).
CSV_COLUMNS = ("idempotency_key", "case_id", "kind", "order_number", "customer_name", "customer_email",
               "shipping_country", "sku", "quantity", "shipping", "amount", "currency", "params", "note",
               "mention_url", "mention_author", "mention_source")


class CsvAdapter:
    """Appends one row per remedy to a warehouse csv file, atomically and once per idempotency key."""

    kind: ClassVar[str] = "csv"
    Options: ClassVar[type[AdapterOptions]] = CsvOptions
    default_handles: ClassVar[tuple[str, ...]] = ALL_KINDS

    def __init__(self, name: str, options: CsvOptions, deps: Deps, where: str) -> None:
        self.name = name
        self.path = deps.data_dir / options.path  # an output: on the writable data folder

    def deliver(self, job: Job) -> str | None:
        params = job.params
        row = {name: safe_cell(value, multiline=name == "note") for name, value in {
            "idempotency_key": job.idempotency_key, "case_id": job.case_id, "kind": job.kind,
            "order_number": job.order_number or "", "customer_name": job.customer_name or "",
            "customer_email": job.customer_email or "", "shipping_country": job.shipping_country or "",
            "sku": params.get("sku") or "", "quantity": params.get("quantity") or "",
            "shipping": params.get("shipping") or "", "amount": str(job.amount), "currency": job.currency,
            "params": json.dumps(params, sort_keys=True), "note": job.note,
            "mention_url": safe_url(job.mention_url), "mention_author": job.mention_author or "",
            "mention_source": job.mention_source or "",
        }.items()}
        buffer = io.StringIO()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            created = not self.path.exists()
            fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o640)
        except OSError as exc:
            raise DispatchError(f"csv {self.path.name}: cannot open: {exc.strerror}",
                                hint=f"check the path of [[fulfilment]] {self.name!r}") from exc
        try:
            # An exclusive lock: two dispatchers never interleave rows or both append the same key.
            fcntl.flock(fd, fcntl.LOCK_EX)
            with open(fd, "rb", closefd=False) as existing:
                raw = existing.read()
            whole = _complete_length(raw)
            if whole < len(raw):
                # A torn last row (a crash or a full disk mid-write, before this fix or by another
                # writer): its remedy was never marked dispatched and is retried whole; cut it off
                # so the next row is not glued onto it.
                log.warning("csv %s: cutting a torn last row of %d bytes at offset %d", self.path.name,
                            len(raw) - whole, whole)
                os.ftruncate(fd, whole)
                raw = raw[:whole]
            content = raw.decode("utf-8", errors="replace")
            header = next(csv.reader(io.StringIO(content)), None) if content else None
            writer = csv.DictWriter(buffer, fieldnames=header or list(CSV_COLUMNS), lineterminator="\n",
                                    extrasaction="ignore")
            if not content:
                writer.writeheader()
            elif (earlier := _already_in_csv(content, job)) is not None:
                return f"{self.path.name} ({earlier})"
            writer.writerow(row)
            _write_all(fd, buffer.getvalue().encode("utf-8"), len(raw), self.path.name)
            if created:
                _fsync_dir(self.path.parent)
        except OSError as exc:
            raise DispatchError(f"csv {self.path.name}: cannot write: {exc.strerror}") from exc
        finally:
            os.close(fd)
        return self.path.name


# Controls (C0 but tab and newline, DEL, C1) and the bidi overrides/isolates that make a cell
# read differently from what it holds ("Trojan Source"); zero-width marks and the BOM too.
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]")
# What makes Excel, LibreOffice or Sheets read a cell as a formula (OWASP CSV injection), with
# the full-width forms some spreadsheets also accept.
# (tab and carriage return, OWASP's other two, are turned into a space and a line break first)
_FORMULA_START = ("=", "+", "-", "@", "\uff1d", "\uff0b", "\uff0d", "\uff20")
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")
# A bare social handle ('@jugless', '@ann@mastodon.example') calls nothing: staff see it as written.
_HANDLE = re.compile(r"@[A-Za-z0-9_.-]+(?:@[A-Za-z0-9.-]+)?")


def safe_cell(value: object, *, multiline: bool = False) -> str:
    """A cell a spreadsheet shows as text, never runs: control and bidi characters removed, tabs
    made spaces, line breaks kept only where ``multiline`` (the note), a leading formula character
    (after spaces and line breaks) escaped with
    a quote ("'=HYPERLINK(...)"). Plain numbers ("-5.00") and bare handles ("@ann") are left as they are."""
    text = "" if value is None else str(value)
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\t", " ")
    if not multiline:
        text = text.replace("\n", " ")
    text = _UNSAFE.sub("", text)
    if text.lstrip(" \n").startswith(_FORMULA_START) and not (_NUMBER.fullmatch(text) or _HANDLE.fullmatch(text)):
        text = "'" + text
    return text


def safe_url(url: str | None) -> str:
    """Only an http(s) URL goes in the file: a ``javascript:`` or ``data:`` link in a review's
    address would run when clicked in the spreadsheet."""
    if not url:
        return ""
    cleaned = _UNSAFE.sub("", url).strip()
    scheme = urlsplit(cleaned).scheme.lower() if "://" in cleaned or ":" in cleaned else ""
    return cleaned if scheme in ("http", "https") else ""


def _write_all(fd: int, data: bytes, start: int, name: str) -> None:
    """Append all of `data` and fsync it, or cut the file back to `start` and fail the attempt.

    ``os.write`` may write less than asked (a full disk, a file size limit): the remedy must
    never be marked dispatched with a cut row.
    """
    done = 0
    try:
        while done < len(data):
            written = os.write(fd, data[done:])
            if written <= 0:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            done += written
        os.fsync(fd)  # on disk before the outbox marks the remedy dispatched
    except OSError as exc:
        try:
            os.ftruncate(fd, start)
            os.fsync(fd)
        except OSError:
            pass  # the next delivery repairs the torn row before it appends
        raise DispatchError(f"csv {name}: cannot write the row ({done} of {len(data)} bytes written: "
                            f"{exc.strerror or exc}); nothing was kept, it is tried again",
                            hint="free some space on the disk the warehouse file is on") from exc


def _fsync_dir(path: Path) -> None:
    """A new file's directory entry reaches the disk too (best effort: not every platform can)."""
    try:
        dir_fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    except OSError:
        pass
    finally:
        os.close(dir_fd)


def _complete_length(raw: bytes) -> int:
    """How many leading bytes of a csv file are whole rows: up to the last newline outside quotes.

    A quoted field may hold newlines (notes do), so a newline counts only where the number of
    quotes before it is even ('"' and newline are single bytes in UTF-8).
    """
    if not raw or (raw.endswith(b"\n") and raw.count(b'"') % 2 == 0):
        return len(raw)
    end = len(raw)
    while True:
        end = raw.rfind(b"\n", 0, end)
        if end < 0:
            return 0
        if raw.count(b'"', 0, end) % 2 == 0:
            return end + 1


# rb-<install id>-case<id>-<index>-<kind> (bot.outbox.idempotency_key); older files hold rb-case<id>-...
_KEY_INSTALL = re.compile(r"rb-([0-9a-f]+)-case")


def _install_of(key: str) -> str:
    found = _KEY_INSTALL.match(key)
    return found.group(1) if found else ""


def _already_in_csv(content: str, job: Job) -> str | None:
    """Whether the file already holds this remedy: its key, or the same order and kind written by
    another database (a lost database re-decides old cases under a new install id, new keys)."""
    order = safe_cell(job.order_number or "")
    if job.idempotency_key not in content and (not order or order not in content):
        return None  # the common case: neither appears anywhere, no need to parse the file
    install = _install_of(job.idempotency_key)
    kind = safe_cell(job.kind)
    for row in csv.DictReader(io.StringIO(content)):
        key = row.get("idempotency_key") or ""
        if key == job.idempotency_key:
            return "already there"
        if (order and kind != "contact" and row.get("order_number") == order and row.get("kind") == kind
                and _install_of(key) != install):
            log.warning("warehouse csv: order %s already has a %s row from another database (%s); "
                        "not written again", job.order_number, job.kind, key)
            return f"already there for order {job.order_number}: {key}"
    return None


