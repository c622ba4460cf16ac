"""`kind = "csv"`: one row per remedy appended to a warehouse file, atomically, once per key."""

from __future__ import annotations

import csv
import fcntl
import io
import json
import os
from typing import ClassVar

from pydantic import Field

from bot.errors import DispatchError
from connectors.fulfilment.base import ALL_KINDS, AdapterOptions, Deps, Job


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
        row = {
            "idempotency_key": job.idempotency_key, "case_id": job.case_id, "kind": job.kind,
            "order_number": job.order_number or "", "customer_name": job.customer_name or "",
            "customer_email": job.customer_email or "", "shipping_country": job.shipping_country or "",
            "sku": params.get("sku") or "", "quantity": params.get("quantity") or "",
            "shipping": params.get("shipping") or "", "amount": str(job.amount), "currency": job.currency,
            "params": json.dumps(params, sort_keys=True), "note": job.note,
            "mention_url": job.mention_url or "", "mention_author": job.mention_author or "",
            "mention_source": job.mention_source or "",
        }
        buffer = io.StringIO()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o640)
        except OSError as exc:
            raise DispatchError(f"csv {self.path.name}: cannot open: {exc.strerror}",
                                hint=f"check the path of [[fulfilment]] {self.name!r}") from exc
        try:
            # An exclusive lock: two dispatchers never interleave rows or both append the same key.
            fcntl.flock(fd, fcntl.LOCK_EX)
            with open(fd, encoding="utf-8", newline="", closefd=False) as existing:
                content = existing.read()
            header = next(csv.reader(io.StringIO(content)), None) if content else None
            writer = csv.DictWriter(buffer, fieldnames=header or list(CSV_COLUMNS), lineterminator="\n",
                                    extrasaction="ignore")
            if not content:
                writer.writeheader()
            elif _key_in_csv(content, job.idempotency_key):
                return f"{self.path.name} (already there)"
            writer.writerow(row)
            data = buffer.getvalue().encode("utf-8")
            # One write() of the whole row on an O_APPEND fd: a crash leaves the row whole or absent.
            os.write(fd, data)
            os.fsync(fd)
        except OSError as exc:
            raise DispatchError(f"csv {self.path.name}: cannot write: {exc.strerror}") from exc
        finally:
            os.close(fd)
        return self.path.name


def _key_in_csv(content: str, key: str) -> bool:
    if key not in content:
        return False
    return any(r.get("idempotency_key") == key for r in csv.DictReader(io.StringIO(content)))


