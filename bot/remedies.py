"""Remedies: the exactly-once outbox and the fulfilment adapters that deliver it.

Queueing (DESIGN.md invariant 2): a remedy row with a unique idempotency key (derived from the case
id, the remedy's position and kind) is inserted in the same transaction that reserves its cost on
the day's and the month's :class:`~bot.store.BudgetPeriod` with a guarded UPDATE
(``reserved + x <= cap``). A crash rolls both back; a re-run derives the same key, so it can never
queue twice nor overspend, and two processes racing on PostgreSQL serialise on the budget row.

Dispatch (invariant 3) is at-least-once: a due remedy is claimed (attempts + 1, a lease in
``next_attempt_at``) and committed *before* the adapter is called, so a process killed mid-call
retries it after the lease; the idempotency key travels with it (webhook ``Idempotency-Key`` header,
csv column, Message-ID, the shop object's meta / note) so the effect downstream is once: the shop
APIs honour no idempotency header, so a retry first looks for what an earlier attempt created. Failures back off exponentially; after
``[policy] max_attempts`` the remedy is failed, its budget released, and the digest shows it.

Adapters are small classes registered by ``kind`` (STYLE.md point 2): ``csv``, ``webhook``,
``email``, ``woocommerce``, ``shopify``. Each ``[[fulfilment]]`` entry names one, with its options
validated by the adapter's ``Options`` model at config load.
"""

from __future__ import annotations

import csv
import fcntl
import hashlib
import hmac
import io
import json
import logging
import os
import secrets
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from email.message import EmailMessage
from email.utils import parseaddr
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, runtime_checkable

import httpx
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from connectors.base import BaseUrl, PageUrl

from bot.errors import ConfigError, DigestError, DispatchError, PolicyError, RecoveryBotError, SecretMissing
from bot.store import AuditLog, BudgetPeriod, Case, CaseStatus, Meta, Remedy, RemedyStatus, Store, utcnow

if TYPE_CHECKING:
    from bot.config import Config
    from bot.digest import DigestConfig
    from bot.mailer import Mailer
    from bot.policy import Planned

log = logging.getLogger(__name__)


# --- config ----------------------------------------------------------------------------------


class FulfilmentConfig(BaseModel):
    """[[fulfilment]]: one adapter that delivers queued remedies. Other keys are the adapter's options."""

    model_config = ConfigDict(frozen=True, extra="allow")

    name: str = Field(description="Unique name of this adapter (shown on each remedy and in the digest).")
    kind: str = Field(description="csv | webhook | email | woocommerce | shopify")
    handles: tuple[str, ...] = Field(
        (), description="Remedy kinds this adapter delivers (empty: the adapter's default: every kind, or "
        "replacement and refund for shop APIs). The first adapter that handles a kind gets it."
    )

    @model_validator(mode="after")
    def _options(self) -> FulfilmentConfig:
        from bot.policy import KINDS

        if self.kind not in ADAPTERS:
            raise ValueError(f"unknown fulfilment kind {self.kind!r} (known: {', '.join(sorted(ADAPTERS))})")
        for kind in self.handles:
            if kind not in KINDS:
                raise ValueError(f"unknown remedy kind {kind!r} in handles (known: {', '.join(KINDS)})")
        try:
            ADAPTERS[self.kind].Options.model_validate(self.options)
        except ValidationError as exc:
            err = exc.errors()[0]
            where = ".".join(str(p) for p in err["loc"])
            raise ValueError(f"fulfilment {self.name!r} ({self.kind}): {where}: {err['msg']}") from exc
        return self

    @property
    def options(self) -> dict[str, Any]:
        return dict(self.model_extra or {})

    def handled(self) -> tuple[str, ...]:
        return self.handles or ADAPTERS[self.kind].default_handles


# --- errors ----------------------------------------------------------------------------------


class BudgetExceeded(PolicyError):
    """Reserving a remedy's cost would take a budget period over its cap."""

    def __init__(self, period: str, needed: Decimal, reserved: Decimal, cap: Decimal) -> None:
        kind = "daily" if period.startswith("day:") else "monthly"
        super().__init__(
            f"{kind} budget {period[period.index(':') + 1:]}: {reserved} of {cap} reserved, {needed} more does not fit",
            hint=f"raise [policy] {kind}_budget, or wait for the next period",
        )
        self.period = period
        self.needed = needed


# --- budget ----------------------------------------------------------------------------------


def periods(now: datetime, config: Config) -> list[tuple[str, Decimal]]:
    """The budget periods `now` falls in (local day and month) with their caps."""
    from bot.policy import money

    local = now.astimezone(config.zone)
    return [
        (f"day:{local:%Y-%m-%d}", money(config.policy.daily_budget)),
        (f"month:{local:%Y-%m}", money(config.policy.monthly_budget)),
    ]


def _ensure_period(session: Session, period: str, cap: Decimal) -> None:
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        session.execute(pg_insert(BudgetPeriod).values(period=period, reserved=0, cap=cap).on_conflict_do_nothing())
    else:
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        session.execute(
            sqlite_insert(BudgetPeriod).values(period=period, reserved=0, cap=cap).on_conflict_do_nothing()
        )
    # The cap follows the config: staff may raise or lower it between runs.
    session.execute(update(BudgetPeriod).where(BudgetPeriod.period == period).values(cap=cap))


def reserve(session: Session, amount: Decimal, config: Config, now: datetime, *, dry_run: bool = False) -> list[str]:
    """Reserve `amount` on every current period with a guarded UPDATE; BudgetExceeded if one is full.

    The UPDATE's WHERE re-checks the cap on the row it locks, so concurrent reservations on
    PostgreSQL (READ COMMITTED re-evaluates the row) and SQLite (one writer) never overspend.
    With ``dry_run`` nothing is written; the check is done by reading.
    """
    if amount <= 0:
        return []
    done: list[str] = []
    for period, cap in periods(now, config):
        if dry_run:
            row = session.get(BudgetPeriod, period)
            reserved = row.reserved if row else Decimal(0)
            if reserved + amount > cap:
                raise BudgetExceeded(period, amount, reserved, cap)
            continue
        _ensure_period(session, period, cap)
        result = session.execute(
            update(BudgetPeriod)
            .where(BudgetPeriod.period == period, BudgetPeriod.reserved + amount <= BudgetPeriod.cap)
            .values(reserved=BudgetPeriod.reserved + amount)
            .execution_options(synchronize_session=False)
        )
        if result.rowcount != 1:  # type: ignore[attr-defined]
            row = session.get(BudgetPeriod, period, populate_existing=True)
            raise BudgetExceeded(period, amount, row.reserved if row else Decimal(0), cap)
        done.append(period)
    return done


def release(session: Session, remedy: Remedy) -> None:
    """Give back the budget a remedy reserved (it failed or was cancelled: nothing was spent)."""
    for period in remedy.params.get("_budget", []):
        session.execute(
            update(BudgetPeriod)
            .where(BudgetPeriod.period == period)
            .values(reserved=BudgetPeriod.reserved - remedy.amount)
            .execution_options(synchronize_session=False)
        )
    remedy.params = {k: v for k, v in remedy.params.items() if k != "_budget"}


# --- queueing --------------------------------------------------------------------------------


INSTALL_ID = "install_id"


def install_id(session: Session) -> str:
    """This database's random id (made by migration 0002; made here if a row was lost)."""
    row = session.get(Meta, INSTALL_ID)
    if row is None:
        nested = session.begin_nested()
        try:
            session.add(Meta(key=INSTALL_ID, value=secrets.token_hex(6)))
            session.flush()
            nested.commit()
        except IntegrityError:
            nested.rollback()  # another process made it first: use theirs
        row = session.get(Meta, INSTALL_ID, populate_existing=True)
        assert row is not None
    return row.value


def idempotency_key(install: str, case_id: int, index: int, kind: str) -> str:
    """Derived from the case and this database's install id: re-deciding the same case after a
    crash gives the same key, and a new database (reset, moved) never repeats an old one's keys."""
    return f"rb-{install}-case{case_id}-{index}-{kind}"


def pick_adapter(kind: str, config: Config) -> str | None:
    for adapter in config.fulfilment:
        if kind in adapter.handled():
            return adapter.name
    return None


def propose(session: Session, case: Case, planned: Sequence[Planned], note: str, config: Config,
            now: datetime) -> list[Remedy]:
    """Insert remedies waiting for approval (no budget reserved until a person approves)."""
    start = _first_index(session, case)
    install = install_id(session)
    rows = [_row(install, case, start + i, p, note, config, RemedyStatus.PROPOSED, now)
            for i, p in enumerate(planned)]
    session.add_all(rows)
    session.flush()
    return rows


def queue(session: Session, case: Case, planned: Sequence[Planned], note: str, config: Config,
          now: datetime) -> list[Remedy]:
    """Reserve the budget and insert the remedies, in one savepoint of the caller's transaction.

    Raises BudgetExceeded (nothing reserved, nothing inserted) or IntegrityError re-raised as
    PolicyError when the case already has these remedies (a duplicate run).
    """
    start = _first_index(session, case)
    install = install_id(session)
    rows = [_row(install, case, start + i, p, note, config, RemedyStatus.QUEUED, now)
            for i, p in enumerate(planned)]
    return _commit_rows(session, rows, config, now)


def queue_proposed(session: Session, remedies: Sequence[Remedy], config: Config, now: datetime) -> list[Remedy]:
    """Approve proposed remedies: reserve their budget and move them to the outbox."""
    return _commit_rows(session, list(remedies), config, now, existing=True)


def _commit_rows(session: Session, rows: list[Remedy], config: Config, now: datetime,
                 existing: bool = False) -> list[Remedy]:
    dry = config.bot.dry_run
    total = sum((r.amount for r in rows), Decimal(0))
    nested = session.begin_nested()
    try:
        reserved = reserve(session, total, config, now, dry_run=dry)
        for row in rows:
            row.status = (RemedyStatus.DRY_RUN if dry else RemedyStatus.QUEUED).value
            row.queued_at = now
            row.next_attempt_at = None
            if reserved:
                # Each row remembers where its own cost sits, so a failure releases exactly it.
                row.params = {**row.params, "_budget": reserved}
            if not existing:
                session.add(row)
        session.flush()
    except BudgetExceeded:
        nested.rollback()
        raise
    except IntegrityError as exc:
        nested.rollback()
        raise PolicyError(f"remedies of case {rows[0].case_id if rows else '?'} already exist") from exc
    nested.commit()
    return rows


def _first_index(session: Session, case: Case) -> int:
    """Positions go on after the case's earlier remedies (a contact cancelled when its order was
    found later), so a re-decided case never reuses a key; a first decision starts at 0."""
    return int(session.scalar(select(func.count()).select_from(Remedy).where(Remedy.case_id == case.id)) or 0)


def _row(install: str, case: Case, index: int, planned: Planned, note: str, config: Config, status: RemedyStatus,
         now: datetime) -> Remedy:
    return Remedy(
        case_id=case.id, kind=planned.kind, params=dict(planned.params), amount=planned.amount,
        currency=config.bot.currency, note=note, idempotency_key=idempotency_key(install, case.id, index, planned.kind),
        status=status.value, adapter=pick_adapter(planned.kind, config), attempts=0, created_at=now,
    )


# --- adapters ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Job:
    """What an adapter needs to deliver one remedy; built from the store, so adapters never touch it."""

    remedy_id: int
    case_id: int
    idempotency_key: str
    kind: str
    params: dict[str, Any]
    amount: Decimal
    currency: str
    note: str
    issue: str
    customer_name: str | None = None
    customer_email: str | None = None
    order_number: str | None = None
    order_origin: str | None = None
    order_ref: str | None = None  # the shop's own id of the order (API adapters)
    shipping_country: str | None = None
    mention_url: str | None = None
    mention_author: str | None = None
    mention_source: str | None = None
    attempt: int = 1
    queued_at: datetime | None = None

    def payload(self) -> dict[str, Any]:
        """The JSON body webhooks receive (also the csv row's source)."""
        return {
            "idempotency_key": self.idempotency_key,
            "remedy_id": self.remedy_id,
            "case_id": self.case_id,
            "kind": self.kind,
            "params": self.params,
            "amount": str(self.amount),
            "currency": self.currency,
            "issue": self.issue,
            "note": self.note,
            "customer": {"name": self.customer_name, "email": self.customer_email},
            "order": {"number": self.order_number, "origin": self.order_origin, "ref": self.order_ref,
                      "shipping_country": self.shipping_country},
            "mention": {"url": self.mention_url, "author": self.mention_author, "source": self.mention_source},
        }


class AdapterOptions(BaseModel):
    """Base of every adapter's options: frozen, unknown keys refused."""

    model_config = ConfigDict(frozen=True, extra="forbid")


@dataclass
class Deps:
    """The I/O seams handed to adapters (STYLE.md point 6)."""

    config: Config
    client: httpx.Client
    mailer: Callable[[], Mailer]


@runtime_checkable
class Adapter(Protocol):
    """Delivers one remedy; raises DispatchError (``retryable`` or not) on failure, returns a reference."""

    kind: ClassVar[str]
    Options: ClassVar[type[AdapterOptions]]
    default_handles: ClassVar[tuple[str, ...]]

    def deliver(self, job: Job) -> str | None: ...


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
    default_handles: ClassVar[tuple[str, ...]] = tuple(
        k for k in ("replacement", "refund", "store_credit", "repair_reimbursement", "return_pickup",
                    "keep_item", "gesture", "contact")
    )

    def __init__(self, name: str, options: CsvOptions, deps: Deps) -> None:
        self.name = name
        self.path = deps.config.data_dir / options.path  # an output: on the writable data folder

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


class WebhookOptions(AdapterOptions):
    url: PageUrl = Field(description="webhook: the URL the JSON is POSTed to.")
    secret_env: str | None = Field(
        None, description="webhook: environment variable holding the HMAC-SHA256 secret (signature header)."
    )
    signature_header: str = Field("X-Recoverybot-Signature", description="webhook: header carrying 'sha256=<hex>'.")
    timeout: float = Field(15.0, gt=0, description="webhook: seconds to wait for an answer.")
    headers: dict[str, str] = Field(default_factory=dict, description="webhook: extra headers sent with each POST.")


def sign(secret: str, body: bytes) -> str:
    """The signature header value: HMAC-SHA256 over the exact body bytes."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def _http_error(exc: httpx.HTTPError, what: str) -> DispatchError:
    return DispatchError(f"{what}: {type(exc).__name__}: {exc}", hint="check that the receiver is reachable")


def _check_status(response: httpx.Response, what: str) -> None:
    if response.is_success:
        return
    status = response.status_code
    retryable = status >= 500 or status in (408, 409, 425, 429)
    body = response.text[:200].replace("\n", " ")
    raise DispatchError(
        f"{what}: HTTP {status}: {body}", retryable=retryable,
        hint=None if retryable else "the receiver refused the request; check its URL and credentials",
    )


class WebhookAdapter:
    """POSTs the remedy as JSON, signed with HMAC-SHA256, with an Idempotency-Key header."""

    kind: ClassVar[str] = "webhook"
    Options: ClassVar[type[AdapterOptions]] = WebhookOptions
    default_handles: ClassVar[tuple[str, ...]] = CsvAdapter.default_handles

    def __init__(self, name: str, options: WebhookOptions, deps: Deps) -> None:
        from bot.config import secret

        self.name = name
        self.options = options
        self.client = deps.client
        index = _index_of(deps.config, name)
        self.secret = secret(options.secret_env, f"fulfilment[{index}].secret_env") if options.secret_env else None

    def deliver(self, job: Job) -> str | None:
        body = json.dumps(job.payload(), sort_keys=True, separators=(",", ":")).encode("utf-8")
        headers = {**self.options.headers, "Content-Type": "application/json",
                   "Idempotency-Key": job.idempotency_key, "User-Agent": "recoverybot"}
        if self.secret:
            headers[self.options.signature_header] = sign(self.secret, body)
        try:
            response = self.client.post(self.options.url, content=body, headers=headers, timeout=self.options.timeout)
        except httpx.HTTPError as exc:
            raise _http_error(exc, f"webhook {self.name}") from exc
        _check_status(response, f"webhook {self.name}")
        return f"HTTP {response.status_code}"


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


def check_fulfilment(fulfilment: Sequence[FulfilmentConfig], digest: DigestConfig) -> None:
    """What one [[fulfilment]] entry cannot check alone: an email adapter needs [digest]'s SMTP
    server. Raises ValueError (Config's model validator turns it into a ConfigError)."""
    for entry in fulfilment:
        if entry.kind == "email" and not digest.smtp_host:
            raise ValueError(f"fulfilment {entry.name!r} (email) sends through [digest] smtp_host, which is not set; "
                             "set [digest] smtp_host (and smtp_port), or use a csv / webhook adapter")


class EmailAdapter:
    """Mails the remedy to the warehouse / customer-service address via bot.mailer (SMTP)."""

    kind: ClassVar[str] = "email"
    Options: ClassVar[type[AdapterOptions]] = EmailOptions
    default_handles: ClassVar[tuple[str, ...]] = CsvAdapter.default_handles

    def __init__(self, name: str, options: EmailOptions, deps: Deps) -> None:
        self.name = name
        self.options = options
        # The mailer is made now, before any remedy is claimed: no SMTP server is a config problem.
        self.mailer = deps.mailer()
        self.sender = options.sender or deps.config.digest.sender or deps.config.digest.smtp_user or "recoverybot@localhost"

    def deliver(self, job: Job) -> str | None:
        from bot.mailer import MailError

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


class ApiOptions(AdapterOptions):
    """Options every shop-API adapter shares."""

    timeout: float = Field(20.0, gt=0, description="woocommerce / shopify: seconds to wait for the API.")


# How far before the remedy was queued an earlier attempt's object may be dated (shop clocks and
# time zones differ); the search window for "did an earlier attempt already create it?".
LOOKBACK = timedelta(days=1)


class ApiAdapter:
    """Shared plumbing of the shop-API adapters: options, secrets, one JSON call with error mapping.

    Neither WooCommerce nor Shopify honours an ``Idempotency-Key`` header, so a retried attempt
    (``job.attempt > 1``: an earlier one may have reached the shop and then timed out) first looks
    for the object the earlier attempt may have created, which carries the key, and only POSTs
    when there is none (DESIGN.md invariant 3).
    """

    kind: ClassVar[str] = ""
    Options: ClassVar[type[AdapterOptions]] = ApiOptions
    default_handles: ClassVar[tuple[str, ...]] = ("replacement", "refund")

    def __init__(self, name: str, options: ApiOptions, deps: Deps) -> None:
        self.name = name
        self.options = options
        self.client = deps.client
        self.index = _index_of(deps.config, name)
        self.base = ""
        self.setup(options)

    def setup(self, options: Any) -> None:
        """Read secrets and set ``self.base`` (subclasses)."""

    def request_args(self) -> dict[str, Any]:
        """Auth for every request (subclasses)."""
        return {}

    def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        what = f"{self.kind} {self.name} {method} {path}"
        url = path if path.startswith(("http://", "https://")) else self.base + path
        try:
            response = self.client.request(method, url, timeout=self.options.timeout, **self.request_args(), **kwargs)
        except httpx.HTTPError as exc:
            raise _http_error(exc, what) from exc
        _check_status(response, what)
        return response

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self._send(method, path, **kwargs)
        try:
            return response.json()
        except ValueError as exc:
            raise DispatchError(f"{self.kind} {self.name} {method} {path}: the answer is not JSON") from exc

    def _unsupported(self, job: Job) -> DispatchError:
        return DispatchError(f"{self.kind} {self.name} cannot deliver {job.kind}", retryable=False,
                             hint="list only replacement/refund in this adapter's `handles`")


def _since(job: Job) -> datetime:
    return (job.queued_at or utcnow()) - LOOKBACK


def _meta_has(meta: Any, key: str) -> bool:
    return isinstance(meta, list) and any(
        isinstance(m, dict) and m.get("key") == "_recoverybot_idempotency_key" and m.get("value") == key for m in meta
    )


class WooCommerceOptions(ApiOptions):
    url: BaseUrl = Field(description="woocommerce: the shop's base URL (https://shop.example).")
    consumer_key_env: str = Field("WC_CONSUMER_KEY", description="woocommerce: variable holding the REST consumer key.")
    consumer_secret_env: str = Field("WC_CONSUMER_SECRET", description="woocommerce: variable holding the consumer secret.")


class WooCommerceAdapter(ApiAdapter):
    """A zero-priced replacement order, or a refund on the original order, via the WooCommerce REST API."""

    kind: ClassVar[str] = "woocommerce"
    Options: ClassVar[type[AdapterOptions]] = WooCommerceOptions
    PER_PAGE: ClassVar[int] = 100
    MAX_PAGES: ClassVar[int] = 20

    def setup(self, options: WooCommerceOptions) -> None:
        from bot.config import secret

        self.auth = (secret(options.consumer_key_env, f"fulfilment[{self.index}].consumer_key_env"),
                     secret(options.consumer_secret_env, f"fulfilment[{self.index}].consumer_secret_env"))
        self.base = options.url.rstrip("/") + "/wp-json/wc/v3"

    def request_args(self) -> dict[str, Any]:
        return {"auth": self.auth}

    def _pages(self, path: str, params: dict[str, Any]) -> Iterator[dict[str, Any]]:
        """Every item of a paged list (WordPress pages: page=N, X-WP-TotalPages)."""
        for page in range(1, self.MAX_PAGES + 1):
            response = self._send("GET", path, params={**params, "per_page": self.PER_PAGE, "page": page})
            try:
                items = response.json()
            except ValueError as exc:
                raise DispatchError(f"woocommerce {self.name} GET {path}: the answer is not JSON") from exc
            if not isinstance(items, list):
                raise DispatchError(f"woocommerce {self.name} GET {path}: expected a list")
            yield from (i for i in items if isinstance(i, dict))
            total = response.headers.get("x-wp-totalpages")
            if len(items) < self.PER_PAGE or (total is not None and total.isdigit() and page >= int(total)):
                return

    def _earlier_refund(self, ref: str, job: Job) -> dict[str, Any] | None:
        for refund in self._pages(f"/orders/{ref}/refunds", {}):
            if job.idempotency_key in str(refund.get("reason") or "") or _meta_has(refund.get("meta_data"),
                                                                                  job.idempotency_key):
                return refund
        return None

    def _earlier_order(self, original: dict[str, Any], job: Job) -> dict[str, Any] | None:
        # The REST API cannot filter by meta: list the customer's orders since the remedy was
        # queued (a guest's by billing email) and look for our key in their meta.
        params: dict[str, Any] = {"after": _since(job).strftime("%Y-%m-%dT%H:%M:%S"), "dates_are_gmt": "true",
                                  "orderby": "date", "order": "desc"}
        customer = original.get("customer_id") or 0
        email = (original.get("billing") or {}).get("email") or job.customer_email
        if customer:
            params["customer"] = customer
        elif email:
            params["search"] = email
        for order in self._pages("/orders", params):
            if _meta_has(order.get("meta_data"), job.idempotency_key):
                return order
        return None

    def deliver(self, job: Job) -> str | None:
        ref = job.order_ref or job.order_number
        if not ref:
            raise DispatchError(f"woocommerce {self.name}: remedy {job.idempotency_key} has no order", retryable=False)
        if job.kind == "refund":
            if job.attempt > 1 and (earlier := self._earlier_refund(ref, job)) is not None:
                return f"refund {earlier.get('id')} (made by an earlier attempt)"
            body = {"amount": str(job.amount), "reason": f"recoverybot {job.idempotency_key}", "api_refund": True,
                    "meta_data": [{"key": "_recoverybot_idempotency_key", "value": job.idempotency_key}]}
            done = self._call("POST", f"/orders/{ref}/refunds", json=body)
            return f"refund {done.get('id')}"
        if job.kind != "replacement":
            raise self._unsupported(job)
        original = self._call("GET", f"/orders/{ref}")
        if job.attempt > 1 and (earlier := self._earlier_order(original, job)) is not None:
            return f"order {earlier.get('id')} (made by an earlier attempt)"
        sku = job.params.get("sku")
        products = self._call("GET", "/products", params={"sku": sku}) if sku else []
        if not products:
            raise DispatchError(f"woocommerce {self.name}: no product with SKU {sku!r}", retryable=False)
        items = [{"product_id": products[0]["id"], "quantity": int(job.params.get("quantity") or 1),
                  "subtotal": "0.00", "total": "0.00"}]
        bonus = job.params.get("bonus_sku")
        if bonus:
            extra = self._call("GET", "/products", params={"sku": bonus})
            if extra:
                items.append({"product_id": extra[0]["id"], "quantity": 1, "subtotal": "0.00", "total": "0.00"})
        speed = "Express" if job.params.get("shipping") == "expedited" else "Standard"
        body = {
            "status": "processing", "set_paid": True,
            "customer_id": original.get("customer_id", 0),
            "billing": original.get("billing", {}), "shipping": original.get("shipping", {}),
            "line_items": items,
            "shipping_lines": [{"method_id": "flat_rate", "method_title": f"{speed} (replacement)", "total": "0.00"}],
            "customer_note": job.note,
            "meta_data": [{"key": "_recoverybot_idempotency_key", "value": job.idempotency_key},
                          {"key": "_recoverybot_replaces", "value": str(ref)}],
        }
        created = self._call("POST", "/orders", json=body)
        return f"order {created.get('id')}"


class ShopifyOptions(ApiOptions):
    shop_url: BaseUrl = Field(description="shopify: https://<shop>.myshopify.com")
    access_token_env: str = Field("SHOPIFY_ACCESS_TOKEN", description="shopify: variable holding the Admin API token.")
    api_version: str = Field("2024-10", description="shopify: Admin API version.")


def _next_link(response: httpx.Response) -> str | None:
    """The rel="next" URL of Shopify's cursor pagination (Link header), if any."""
    link: str = response.headers.get("link", "")
    for part in link.split(","):
        url, _, rel = part.partition(";")
        if 'rel="next"' in rel.replace(" ", ""):
            return str(url.strip().strip("<>"))
    return None


class ShopifyAdapter(ApiAdapter):
    """A draft order for a replacement, or a refund of the original order, via the Shopify Admin API."""

    kind: ClassVar[str] = "shopify"
    Options: ClassVar[type[AdapterOptions]] = ShopifyOptions
    MAX_PAGES: ClassVar[int] = 20

    def setup(self, options: ShopifyOptions) -> None:
        from bot.config import secret

        self.token = secret(options.access_token_env, f"fulfilment[{self.index}].access_token_env")
        self.base = f"{options.shop_url.rstrip('/')}/admin/api/{options.api_version}"

    def request_args(self) -> dict[str, Any]:
        return {"headers": {"X-Shopify-Access-Token": self.token}}

    def _earlier_refund(self, ref: str, job: Job) -> dict[str, Any] | None:
        refunds = self._call("GET", f"/orders/{ref}/refunds.json").get("refunds", [])
        return next((r for r in refunds if job.idempotency_key in str(r.get("note") or "")), None)

    def _earlier_draft(self, job: Job) -> dict[str, Any] | None:
        # Draft orders cannot be searched by note attribute over REST: page through those touched
        # since the remedy was queued and look for our key.
        url: str | None = "/draft_orders.json"
        params: dict[str, Any] | None = {"limit": 250, "updated_at_min": _since(job).isoformat()}
        for _ in range(self.MAX_PAGES):
            if url is None:
                break
            response = self._send("GET", url, params=params)
            try:
                drafts = response.json().get("draft_orders", [])
            except (ValueError, AttributeError) as exc:
                raise DispatchError(f"shopify {self.name} GET draft orders: the answer is not a JSON object") from exc
            for draft in drafts:
                attrs = draft.get("note_attributes") or []
                if any(a.get("name") == "recoverybot_idempotency_key" and a.get("value") == job.idempotency_key
                       for a in attrs if isinstance(a, dict)):
                    return dict(draft)
            url, params = _next_link(response), None  # the next link carries its own query
        return None

    def deliver(self, job: Job) -> str | None:
        ref = job.order_ref or job.order_number
        if job.kind == "refund":
            if not ref:
                raise DispatchError(f"shopify {self.name}: refund {job.idempotency_key} has no order", retryable=False)
            if job.attempt > 1 and (earlier := self._earlier_refund(ref, job)) is not None:
                return f"refund {earlier.get('id')} (made by an earlier attempt)"
            txns = self._call("GET", f"/orders/{ref}/transactions.json").get("transactions", [])
            parent = next((t for t in txns if t.get("kind") in ("sale", "capture") and t.get("status") == "success"),
                          None)
            if parent is None:
                raise DispatchError(f"shopify {self.name}: order {ref} has no captured payment to refund",
                                    retryable=False)
            body = {"refund": {"currency": job.currency, "notify": True, "note": f"recoverybot {job.idempotency_key}",
                               "transactions": [{"parent_id": parent["id"], "amount": str(job.amount),
                                                 "kind": "refund", "gateway": parent.get("gateway")}]}}
            done = self._call("POST", f"/orders/{ref}/refunds.json", json=body)
            return f"refund {done.get('refund', {}).get('id')}"
        if job.kind != "replacement":
            raise self._unsupported(job)
        if job.attempt > 1 and (earlier := self._earlier_draft(job)) is not None:
            return f"draft order {earlier.get('id')} (made by an earlier attempt)"
        title = job.params.get("product_name") or job.params.get("sku") or "Replacement"
        items = [{"title": f"{title} (replacement)", "sku": job.params.get("sku"), "price": "0.00",
                  "quantity": int(job.params.get("quantity") or 1), "requires_shipping": True, "taxable": False}]
        if job.params.get("bonus_sku"):
            items.append({"title": "Small extra", "sku": job.params["bonus_sku"], "price": "0.00", "quantity": 1,
                          "requires_shipping": True, "taxable": False})
        speed = "Express" if job.params.get("shipping") == "expedited" else "Standard"
        body = {"draft_order": {
            "line_items": items, "email": job.customer_email, "note": job.note, "tags": "recoverybot",
            "shipping_line": {"title": f"{speed} (replacement)", "price": "0.00"},
            "note_attributes": [{"name": "recoverybot_idempotency_key", "value": job.idempotency_key},
                                {"name": "replaces_order", "value": str(ref or "")}],
        }}
        created = self._call("POST", "/draft_orders.json", json=body)
        return f"draft order {created.get('draft_order', {}).get('id')}"


ADAPTERS: dict[str, type[Any]] = {
    cls.kind: cls for cls in (CsvAdapter, WebhookAdapter, EmailAdapter, WooCommerceAdapter, ShopifyAdapter)
}


def _index_of(config: Config, name: str) -> int:
    return next((i for i, a in enumerate(config.fulfilment) if a.name == name), 0)


def build_adapter(name: str, deps: Deps) -> Adapter:
    """The adapter of the [[fulfilment]] entry called `name` (SecretMissing when its secret is unset)."""
    for entry in deps.config.fulfilment:
        if entry.name == name:
            cls = ADAPTERS[entry.kind]
            adapter: Adapter = cls(name, cls.Options.model_validate(entry.options), deps)
            return adapter
    raise ConfigError(f"no [[fulfilment]] named {name!r}", key="fulfilment")


# --- after the dry run ------------------------------------------------------------------------

DRY_RUN_REASON = "decided during the dry run: approve to send it now"


def reopen_dry_run(store: Store, config: Config, now: datetime | None = None) -> int:
    """Once ``dry_run`` is off, ask staff about every case decided (or approved) during the trial.

    Its ``dry_run`` remedies become ``proposed`` and the case ``awaiting_approval`` with a fresh
    expiry: never sent on their own, since the trial may be days old. Returns how many cases.
    """
    if config.bot.dry_run:
        return 0
    now = now or utcnow()
    with store.session() as session:
        case_ids = list(session.scalars(
            select(Remedy.case_id).join(Case, Case.id == Remedy.case_id)
            .where(Remedy.status == RemedyStatus.DRY_RUN.value, Case.status == CaseStatus.DECIDED.value)
            .distinct().order_by(Remedy.case_id)
        ))
    done = 0
    for case_id in case_ids:
        with store.session() as session:
            # The guarded UPDATE makes this once even when two processes run it together.
            moved = session.execute(
                update(Remedy).where(Remedy.case_id == case_id, Remedy.status == RemedyStatus.DRY_RUN.value)
                .values(status=RemedyStatus.PROPOSED.value, queued_at=None, next_attempt_at=None)
                .execution_options(synchronize_session=False)
            )
            if not moved.rowcount:  # type: ignore[attr-defined]
                continue
            case = session.get(Case, case_id, populate_existing=True)
            assert case is not None
            case.status = CaseStatus.AWAITING_APPROVAL.value
            case.approval_reason = DRY_RUN_REASON
            case.approval_expires_at = now + timedelta(days=config.policy.approval_days)
            case.reasons = list(case.reasons or []) + [f"waits for approval: {DRY_RUN_REASON}"]
            case.updated_at = now
            session.add(AuditLog(at=now, case_id=case_id, action="dry_run_reopened",
                                 detail={"remedies": [r.id for r in case.remedies
                                                      if r.status == RemedyStatus.PROPOSED.value]}))
            done += 1
    if done:
        log.info("%s case(s) decided during the dry run now await approval", done)
    return done


# --- dispatch ---------------------------------------------------------------------------------


@dataclass
class DispatchSummary:
    """What one dispatch run did."""

    dispatched: int = 0
    retrying: int = 0
    failed: int = 0
    skipped: int = 0
    dry_run: bool = False
    reopened: int = 0  # cases decided during the dry run, now awaiting approval
    errors: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        if self.dry_run:
            return ["dispatch: dry run, nothing dispatched"]
        out = [f"dispatch: {self.dispatched} dispatched, {self.retrying} to retry, {self.failed} failed"]
        if self.reopened:
            out.append(f"  {self.reopened} case(s) decided during the dry run now await approval")
        out += [f"  {e}" for e in self.errors[:10]]
        return out


def _due(session: Session, now: datetime) -> list[int]:
    return list(session.scalars(
        select(Remedy.id)
        .where(Remedy.status == RemedyStatus.QUEUED.value,
               (Remedy.next_attempt_at.is_(None)) | (Remedy.next_attempt_at <= now))
        .order_by(Remedy.id)
    ))


def _claim(store: Store, remedy_id: int, now: datetime, lease: float) -> bool:
    """Take a remedy for one attempt; committed before the adapter runs (at-least-once)."""
    with store.session() as session:
        result = session.execute(
            update(Remedy)
            .where(Remedy.id == remedy_id, Remedy.status == RemedyStatus.QUEUED.value,
                   (Remedy.next_attempt_at.is_(None)) | (Remedy.next_attempt_at <= now))
            .values(attempts=Remedy.attempts + 1, next_attempt_at=now + timedelta(seconds=lease))
            .execution_options(synchronize_session=False)
        )
        return bool(result.rowcount == 1)  # type: ignore[attr-defined]


def _job(session: Session, remedy: Remedy) -> Job:
    case = remedy.case
    order = case.order
    mention = case.mention
    customer = case.customer
    ref = None
    if order is not None:
        extra = order.extra or {}
        ref = str(extra.get("id") or extra.get("external_id") or order.number)
    return Job(
        remedy_id=remedy.id, case_id=case.id, idempotency_key=remedy.idempotency_key, kind=remedy.kind,
        params={k: v for k, v in remedy.params.items() if not k.startswith("_")},
        amount=remedy.amount, currency=remedy.currency, note=remedy.note, issue=case.issue,
        customer_name=customer.name if customer else None, customer_email=customer.email if customer else None,
        order_number=order.number if order else None, order_origin=order.origin if order else None,
        order_ref=ref, shipping_country=order.shipping_country if order else None,
        mention_url=mention.url, mention_author=mention.author_handle or mention.author_name,
        mention_source=mention.source, attempt=remedy.attempts, queued_at=remedy.queued_at,
    )


def _settle_case(session: Session, case: Case) -> None:
    statuses = {r.status for r in case.remedies}
    if RemedyStatus.FAILED.value in statuses:
        case.status = CaseStatus.FAILED.value
    elif statuses and statuses <= {RemedyStatus.DISPATCHED.value, RemedyStatus.CANCELLED.value}:
        case.status = CaseStatus.DISPATCHED.value


def dispatch_due(
    store: Store,
    config: Config,
    *,
    client: httpx.Client | None = None,
    mailer: Mailer | None = None,
    now: datetime | None = None,
) -> DispatchSummary:
    """Deliver every due remedy through its adapter: at-least-once, retried with backoff."""
    summary = DispatchSummary(dry_run=config.bot.dry_run)
    if config.bot.dry_run:
        return summary
    now = now or utcnow()
    summary.reopened = reopen_dry_run(store, config, now)
    own_client = client is None
    http = client or httpx.Client(follow_redirects=False)
    built_mailer: list[Mailer] = [mailer] if mailer is not None else []

    def get_mailer() -> Mailer:
        if not built_mailer:
            from bot.mailer import Mailer

            built_mailer.append(Mailer.from_digest_config(config.digest))
        return built_mailer[0]

    deps = Deps(config=config, client=http, mailer=get_mailer)
    adapters: dict[str, Adapter] = {}
    broken: dict[str, DispatchError] = {}
    names = {entry.name for entry in config.fulfilment}
    policy = config.policy
    try:
        with store.session() as session:
            due = _due(session, now)
        for remedy_id in due:
            with store.session() as session:
                remedy = session.get(Remedy, remedy_id)
                assert remedy is not None
                adapter_name = remedy.adapter or pick_adapter(remedy.kind, config)
                kind = remedy.kind
            if (adapter_name is not None and adapter_name in names and adapter_name not in adapters
                    and adapter_name not in broken):
                # Built (with its mailer) before the claim: a missing secret (SecretMissing, exit 2)
                # leaves the outbox untouched; any other config problem fails this adapter's remedies.
                try:
                    adapters[adapter_name] = build_adapter(adapter_name, deps)
                except SecretMissing:
                    raise
                except RecoveryBotError as exc:
                    broken[adapter_name] = _as_dispatch_error(exc, f"fulfilment {adapter_name!r}")
            if not _claim(store, remedy_id, now, policy.claim_seconds):
                summary.skipped += 1
                continue
            error: DispatchError | None = None
            reference: str | None = None
            try:
                if adapter_name is None or adapter_name not in names:
                    missing = f"handles {kind!r}" if adapter_name is None else f"is named {adapter_name!r}"
                    raise DispatchError(f"no [[fulfilment]] adapter {missing}", retryable=False,
                                        hint="add a [[fulfilment]] entry (csv, webhook, email...) for this kind")
                if adapter_name in broken:
                    raise broken[adapter_name]
                with store.session() as session:
                    claimed = session.get(Remedy, remedy_id)
                    assert claimed is not None
                    job = _job(session, claimed)
                reference = adapters[adapter_name].deliver(job)
            except Exception as exc:  # one bad remedy must never stop the others
                error = _as_dispatch_error(exc, f"fulfilment {adapter_name!r}" if adapter_name else "dispatch")
                if not isinstance(exc, RecoveryBotError):
                    log.error("remedy #%s: unexpected error in %s", remedy_id, adapter_name, exc_info=exc)
            _record(store, remedy_id, adapter_name, error, reference, now, policy.max_attempts,
                    policy.retry_backoff, summary)
    finally:
        if own_client:
            http.close()
    return summary


def _as_dispatch_error(exc: Exception, where: str) -> DispatchError:
    """Any failure of one remedy as a DispatchError: adapters raise their own; a config problem
    (no SMTP server, a bad key) fails at once, since retrying cannot fix it; anything unexpected
    is retried (with its text recorded) until ``max_attempts``."""
    if isinstance(exc, DispatchError):
        return exc
    if isinstance(exc, (ConfigError, DigestError)):
        retryable = bool(getattr(exc, "retryable", False))  # a MailError knows; the rest cannot be retried
        return DispatchError(f"{where}: {exc.message}", retryable=retryable, hint=exc.hint or None)
    if isinstance(exc, RecoveryBotError):
        return DispatchError(f"{where}: {exc.message}", hint=exc.hint or None)
    return DispatchError(f"{where}: unexpected {type(exc).__name__}: {exc}",
                         hint="a bug or an unexpected answer; it is retried, and the log has the traceback")


def _record(store: Store, remedy_id: int, adapter: str | None, error: DispatchError | None, reference: str | None,
            now: datetime, max_attempts: int, backoff: float, summary: DispatchSummary) -> None:
    with store.session() as session:
        remedy = session.get(Remedy, remedy_id)
        assert remedy is not None
        remedy.adapter = adapter
        if error is None:
            remedy.status = RemedyStatus.DISPATCHED.value
            remedy.dispatched_at = now
            remedy.next_attempt_at = None
            remedy.last_error = None
            summary.dispatched += 1
            session.add(AuditLog(at=now, case_id=remedy.case_id, action="remedy_dispatched",
                                 detail={"remedy": remedy.id, "kind": remedy.kind, "adapter": adapter,
                                         "reference": reference, "attempts": remedy.attempts}))
        elif error.retryable and remedy.attempts < max_attempts:
            delay = backoff * (2 ** (remedy.attempts - 1))
            remedy.next_attempt_at = now + timedelta(seconds=delay)
            remedy.last_error = error.message
            summary.retrying += 1
            summary.errors.append(f"remedy #{remedy.id} ({remedy.kind}): {error.message} (retry in {delay:g}s)")
        else:
            remedy.status = RemedyStatus.FAILED.value
            remedy.next_attempt_at = None
            remedy.last_error = error.message
            release(session, remedy)
            summary.failed += 1
            summary.errors.append(f"remedy #{remedy.id} ({remedy.kind}) failed: {error.message}")
            session.add(AuditLog(at=now, case_id=remedy.case_id, action="remedy_failed",
                                 detail={"remedy": remedy.id, "kind": remedy.kind, "adapter": adapter,
                                         "error": error.message, "attempts": remedy.attempts}))
            log.warning("remedy #%s (%s) failed after %s attempts: %s", remedy.id, remedy.kind, remedy.attempts,
                        error.message)
        session.flush()
        _settle_case(session, remedy.case)


__all__ = [
    "ADAPTERS",
    "Adapter",
    "BudgetExceeded",
    "DispatchSummary",
    "FulfilmentConfig",
    "Job",
    "check_fulfilment",
    "dispatch_due",
    "idempotency_key",
    "install_id",
    "is_address",
    "propose",
    "queue",
    "queue_proposed",
    "release",
    "reopen_dry_run",
    "reserve",
    "sign",
]
