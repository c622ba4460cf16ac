"""Configuration: one `config.toml`, loaded with tomllib into frozen pydantic models.

Every key has a default and a description (the reference in docs/configuration.md is checked against
this schema). Each stage owns the model of its own section (``ScoringConfig`` lives in
``bot/scoring/types.py``, ``HttpConfig`` in ``bot/fetch.py``, ...); this module composes them, and
turns every mistake into a :class:`~bot.errors.ConfigError` that names the dotted key path and,
where it can be found, the line in the file. Unknown keys get a "did you mean" hint.

Secrets are never written in the file: a ``*_env`` key names an environment variable, read with
:func:`bot.env.secret` when the part that needs it starts.
"""

from __future__ import annotations

import difflib
import os
import re
import tomllib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from bot.alerts.settings import AlertConfig, check_alerts
from bot.report.settings import DigestConfig
from bot.env import data_dir, default_config_path
from bot.errors import ConfigError
from bot.fetch import HttpConfig
from bot.match_settings import MatchConfig
from bot.notify import NotifyConfig
from connectors.orders import OrdersConfig
from bot.decide.policy import PolicyConfig
from connectors.fulfilment import FulfilmentConfig
from bot.scoring import ScoringConfig
from bot.web.settings import WebConfig
from connectors.brand import BrandConfig



class Section(BaseModel):
    """Base of every config section: frozen, unknown keys refused."""

    model_config = ConfigDict(frozen=True, extra="forbid")


_DURATION = re.compile(r"^\s*(\d+)\s*(s|m|h|d)\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str, *, allow_zero: bool = False) -> int:
    """'30m' -> 1800 seconds; accepts s, m, h, d. Zero only where it means "none" (jitter)."""
    match = _DURATION.match(text)
    if not match:
        raise ValueError(f"{text!r} is not a duration like '90s', '30m', '2h' or '1d'")
    seconds = int(match.group(1)) * _UNITS[match.group(2)]
    if seconds <= 0 and not allow_zero:
        raise ValueError("a duration must be longer than zero")
    return seconds


def validate_cron(text: str) -> str:
    """A five-field crontab expression (minute hour day month weekday)."""
    from apscheduler.triggers.cron import CronTrigger

    try:
        CronTrigger.from_crontab(text)
    except ValueError as exc:
        raise ValueError(f"{text!r} is not a crontab expression 'min hour day month weekday': {exc}") from exc
    return text


class BotConfig(Section):
    """[bot]: the daemon as a whole."""

    shop_name: str = Field("My shop", description="Shown in the digest and in customer notes.")
    care_email: str | None = Field(
        None, description="The shop's customer-care address: buyers' replies to a note mailed to them (the "
        "customer_email adapter) go there (Reply-To)."
    )
    database: str = Field(
        "sqlite:///recoverybot.db",
        description="SQLAlchemy URL of the store. A relative SQLite path is in $RECOVERYBOT_DATA_DIR, else next to this config file; "
        "postgresql+psycopg://user@host/db for scale.",
    )
    timezone: str = Field("UTC", description="IANA time zone for the digest's days and send time.")
    dry_run: bool = Field(False, description="Run every stage but dispatch nothing; the digest lists what would have been done.")
    currency: str = Field("EUR", description="Currency of amounts in the policy and budget (ISO 4217).")
    log_level: Literal["debug", "info", "warning", "error"] = Field("info", description="How much the daemon logs.")

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r} (use an IANA name like 'Europe/London')") from exc
        return value

    @field_validator("care_email")
    @classmethod
    def _care_email(cls, value: str | None) -> str | None:
        from connectors.fulfilment.email import is_address

        if value is not None and value.strip() and not is_address(value):
            raise ValueError(f"{value!r} is not an email address like 'care@shop.example'")
        return value.strip() if value and value.strip() else None

    @field_validator("currency")
    @classmethod
    def _currency(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Z]{3}", value):
            raise ValueError(f"{value!r} is not a three-letter ISO currency code like 'EUR'")
        return value


class SourceConfig(BaseModel):
    """[[sources]]: one place to collect from. Keys other than these belong to the connector."""

    model_config = ConfigDict(frozen=True, extra="allow")

    name: str = Field(description="Unique name, used in logs, the digest and `--source`.")
    kind: str = Field(description="A registered connector: see `recoverybot check --kinds`.")
    enabled: bool = Field(True, description="Set false to keep the source but not collect from it.")
    every: str | None = Field(None, description="How often to collect: '30m', '2h', '1d'. Default [schedule] collect_every.")
    cron: str | None = Field(None, description="Crontab schedule instead of `every`, e.g. '0 */2 * * *'.")
    deadline: str = Field("30m", description="Longest one run of this source may take ('30m'); past it its "
                          "requests are cut off, the run fails, and `status` shows a run still going as stuck.")
    allow_hosts: list[str] = Field(
        default_factory=list, description="More hosts ('cdn.shop.example') this source's redirects, sitemap "
        "entries and next-page links may reach; by default only the hosts of its own configured URLs.")
    max_reviews_per_page: int = Field(
        500, ge=1, le=1_000_000, description="Most new reviews one page gives a run; the rest of a bigger page "
        "is left for the next runs, with a warning naming the source and the page.")
    max_new_per_run: int = Field(
        2000, ge=1, le=10_000_000, description="Most new mentions one run of this source stores; past it the "
        "run stops, its cursor stays where it was and the rest comes next run (the summary says how many).")

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}", value):
            raise ValueError(f"{value!r}: use letters, digits, '-', '_' or '.' (at most 100)")
        return value

    @field_validator("every")
    @classmethod
    def _every(cls, value: str | None) -> str | None:
        if value is not None:
            parse_duration(value)
        return value

    @field_validator("deadline")
    @classmethod
    def _deadline(cls, value: str) -> str:
        parse_duration(value)
        return value

    @field_validator("cron")
    @classmethod
    def _cron(cls, value: str | None) -> str | None:
        return validate_cron(value) if value is not None else None

    @model_validator(mode="after")
    def _one_schedule(self) -> SourceConfig:
        if self.every is not None and self.cron is not None:
            raise ValueError("give either `every` or `cron`, not both")
        return self

    @property
    def options(self) -> dict[str, Any]:
        """The connector's own keys (everything but the common ones)."""
        return dict(self.model_extra or {})

    @property
    def every_seconds(self) -> int | None:
        return parse_duration(self.every) if self.every else None

    @property
    def deadline_seconds(self) -> int:
        return parse_duration(self.deadline)


class ScheduleConfig(Section):
    """[schedule]: when the daemon's jobs run."""

    collect_every: str = Field("30m", description="Default collection interval of a source without `every`/`cron`.")
    jitter: str = Field("60s", description="Random delay added to each collection so sources do not fire together ('0s': none).")
    dispatch_every: str = Field("1m", description="How often the outbox is delivered.")
    orders_every: str = Field("30m", description="How often orders are synced from the shop.")
    misfire_grace: str = Field("10m", description="A job that missed its time by less than this still runs.")
    stop_timeout: str = Field("30s", description="On SIGTERM, how long the current step may take to finish.")
    heartbeat_every: str = Field("10s", description="How often the running daemon writes its heartbeat "
                                 "(`recoverybot status` reads it), at least every 10s (a minute without one: the daemon counts as gone).")

    @field_validator("collect_every", "dispatch_every", "orders_every", "misfire_grace", "stop_timeout",
                     "heartbeat_every")
    @classmethod
    def _durations(cls, value: str) -> str:
        parse_duration(value)
        return value

    @field_validator("jitter")
    @classmethod
    def _jitter(cls, value: str) -> str:
        parse_duration(value, allow_zero=True)
        return value


class EngineConfig(Section):
    """[engine]: where the jobs run. The embedded daemon (`recoverybot run`) is the default; Celery
    workers (`recoverybot worker` on any number of machines, one `recoverybot scheduler`) are for
    when one machine is not enough. See docs/workers.md."""

    kind: Literal["embedded", "celery"] = Field(
        "embedded", description="'embedded': one `recoverybot run` process does everything; 'celery': "
        "`recoverybot worker` processes run the jobs that one `recoverybot scheduler` enqueues (needs a PostgreSQL database).")
    broker_url_env: str = Field(
        "RECOVERYBOT_BROKER_URL", description="Environment variable holding the Celery broker URL, e.g. "
        "redis://127.0.0.1:6379/0 or amqp://guest:guest@127.0.0.1:5672// (it may carry a password).")
    queue: str = Field("recoverybot", description="Name of the broker queue the scheduler fills and the workers read.")
    score_batch: int = Field(500, ge=1, le=100_000, description="Mentions one score task assesses at most.")
    process_passes: int = Field(
        2, ge=1, le=64, description="Process-cases tasks that may run at once on different workers; case work locks "
        "per buyer, so each takes other buyers (one more request waits, the rest are coalesced).")
    redeliver_after: str = Field(
        "2h", description="A task whose worker vanished without a word (its machine gone) is delivered again after "
        "this; longer than the longest source `deadline`. A killed worker process on a living machine is redelivered at once.")

    @field_validator("redeliver_after")
    @classmethod
    def _duration(cls, value: str) -> str:
        parse_duration(value)
        return value


class Config(Section):
    """The whole file. `path` is where it was read from (relative paths are taken from there)."""

    bot: BotConfig = Field(default_factory=BotConfig, description="The daemon as a whole.")
    http: HttpConfig = Field(default_factory=HttpConfig, description="How connectors fetch: politeness, retries, limits.")
    schedule: ScheduleConfig = Field(default_factory=ScheduleConfig, description="When jobs run.")
    sources: tuple[SourceConfig, ...] = Field((), description="Where mentions are collected from.")
    brand: BrandConfig = Field(default_factory=BrandConfig, description="Brand queries for social sources.")
    scoring: ScoringConfig = Field(default_factory=ScoringConfig, description="How unhappy buyers are found.")
    orders: OrdersConfig = Field(default_factory=OrdersConfig, description="Where orders come from.")
    matching: MatchConfig = Field(default_factory=MatchConfig, description="How mentions are matched to orders.")
    policy: PolicyConfig = Field(default_factory=PolicyConfig, description="Which remedy, when, within which limits.")
    fulfilment: tuple[FulfilmentConfig, ...] = Field((), description="Where queued remedies are delivered.")
    notify: NotifyConfig = Field(default_factory=NotifyConfig, description="How the buyer is told why a remedy comes.")
    digest: DigestConfig = Field(default_factory=DigestConfig, description="The daily email.")
    alerts: tuple[AlertConfig, ...] = Field(
        (), description="Instant alerts through Apprise (Slack, Teams, Telegram, email, ...): see docs/alerts.md."
    )
    web: WebConfig = Field(default_factory=WebConfig, description="The staff web inbox and one-click links: see docs/web-inbox.md.")

    engine: EngineConfig = Field(default_factory=EngineConfig, description="Where the jobs run: one daemon, or Celery workers.")

    path: Path | None = Field(None, exclude=True, description="Where this config was read from (not a key).")

    @model_validator(mode="after")
    def _fulfilment_needs(self) -> Config:
        from connectors.fulfilment import check_fulfilment

        check_fulfilment(self.fulfilment, self.digest)  # an email adapter needs [digest] smtp_host
        return self

    @model_validator(mode="after")
    def _notify_names_an_entry(self) -> Config:
        from bot.notify import check_notify

        check_notify(self.notify, self.fulfilment)
        return self

    @model_validator(mode="after")
    def _alerts(self) -> Config:
        check_alerts(self.alerts)
        return self

    @model_validator(mode="after")
    def _unique_sources(self) -> Config:
        seen: set[str] = set()
        for source in self.sources:
            if source.name in seen:
                raise ValueError(f"two sources are named {source.name!r}; names must be unique")
            seen.add(source.name)
        return self

    @model_validator(mode="after")
    def _engine_store(self) -> Config:
        # Several worker processes on several machines share the store: SQLite's one writer (and a
        # file on one machine) cannot serve them, and its locks are not the advisory locks they need.
        if self.engine.kind == "celery" and not self.bot.database.startswith("postgresql"):
            raise ValueError(
                f"[engine] kind = \"celery\" needs a PostgreSQL database, but [bot] database is "
                f"{_mask_db(self.bot.database)}; set [bot] database = \"postgresql+psycopg://...\" "
                "or keep [engine] kind = \"embedded\"")
        return self

    @property
    def base_dir(self) -> Path:
        return self.path.parent if self.path else Path.cwd()

    @property
    def data_dir(self) -> Path:
        """Where a relative SQLite database lives: $RECOVERYBOT_DATA_DIR (set by the Docker image and
        the systemd unit to a writable folder), else next to the config file."""
        return data_dir(self.base_dir)

    def source(self, name: str) -> SourceConfig:
        for source in self.sources:
            if source.name == name:
                return source
        known = ", ".join(s.name for s in self.sources) or "none configured"
        raise ConfigError(f"no source named {name!r} (known: {known})", key="sources")

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.bot.timezone)


# --- loading --------------------------------------------------------------------------------


def default_path() -> Path:
    return default_config_path()


def load(path: Path | str | None = None) -> Config:
    """Read and validate a config file; every problem is a ConfigError naming key and line."""
    file = Path(path) if path is not None else default_path()
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise ConfigError(
            "config file not found", path=str(file), hint="create one with `recoverybot init`"
        ) from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config file: {exc}", path=str(file)) from exc
    return loads(text, path=file)


def loads(text: str, path: Path | None = None) -> Config:
    """Validate config text (``path`` is used in messages and for relative paths)."""
    where = str(path) if path else "<config>"
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        # Python < 3.14 has no lineno attribute; the message always says "(at line N, column M)".
        found = re.search(r"at line (\d+), column (\d+)", str(exc))
        line = getattr(exc, "lineno", None) or (int(found.group(1)) if found else None)
        raise ConfigError(f"not valid TOML: {exc}", path=where, line=line) from exc
    try:
        config = Config.model_validate({**data, "path": path})
    except ValidationError as exc:
        raise _explain(exc, text, where, Config) from exc
    _check_sources(config, text, where)
    return config


def _check_sources(config: Config, text: str, where: str) -> None:
    """Each source's kind must be registered and its own keys valid for that connector."""
    from connectors import registry

    kinds = registry()
    for index, source in enumerate(config.sources):
        key = f"sources[{index}]"
        if source.kind not in kinds:
            raise ConfigError(
                f"source {source.name!r}: unknown kind {source.kind!r}{_did_you_mean(source.kind, kinds)}",
                key=f"{key}.kind",
                line=locate(text, f"{key}.kind"),
                path=where,
                hint="known kinds: " + ", ".join(sorted(kinds)),
            )
        try:
            kinds[source.kind].Options.model_validate(source.options)
        except ValidationError as exc:
            options = kinds[source.kind].Options
            raise _explain(exc, text, where, options, prefix=key, about=f"source {source.name!r} ({source.kind})",
                           also=list(SourceConfig.model_fields)) from exc


def connector_options(source: SourceConfig) -> BaseModel:
    """The validated options of a source for its connector (already checked at load)."""
    from connectors import registry

    return registry()[source.kind].Options.model_validate(source.options)


def _explain(
    exc: ValidationError,
    text: str,
    where: str,
    model: type[BaseModel],
    *,
    prefix: str = "",
    about: str = "",
    also: Sequence[str] = (),
) -> ConfigError:
    """Every validation error as one ConfigError: the first names key, line and a hint; the others
    follow on their own lines, so staff can fix them all in one go."""
    problems = [_problem(err, text, model, prefix, also) for err in exc.errors()]
    key, line, message, hint = problems[0]
    if about:
        message = f"{about}: {message}"
    for other_key, other_line, other_message, _hint in problems[1:10]:
        place = f"line {other_line}, " if other_line else ""
        message += f"\n  also {place}key {other_key}: {other_message}"
    if len(problems) > 10:
        message += f"\n  and {len(problems) - 10} more problems"
    return ConfigError(message, key=key or None, line=line, path=where, hint=hint)


def _problem(
    err: Any, text: str, model: type[BaseModel], prefix: str, also: Sequence[str]
) -> tuple[str, int | None, str, str | None]:
    """(dotted key, line, message, hint) for one pydantic error."""
    loc = [str(part) for part in err["loc"] if part != "path"]
    key = _dotted(([prefix] if prefix else []) + loc)
    message = err["msg"].removeprefix("Value error, ")
    hint = None
    if err["type"] == "extra_forbidden":
        parent = _model_at(model, loc[:-1])
        known = [k for k in (parent.model_fields if parent else {}) if k != "path"] + list(also)
        message = f"unknown key {loc[-1]!r}{_did_you_mean(loc[-1], known)}"
        if known:
            hint = "known keys here: " + ", ".join(sorted(known))
    elif err["type"] == "missing":
        message = f"required key {loc[-1]!r} is missing"
    else:
        got = err.get("input")
        if isinstance(got, (str, int, float, bool)):
            message = f"{message} (got {got!r})"
    return key, (locate(text, key) if key else None), message, hint


def _model_at(model: type[BaseModel], loc: Sequence[str]) -> type[BaseModel] | None:
    """The pydantic model found at `loc` inside `model` (for the list of known keys)."""
    for part in loc:
        if part.isdigit():
            continue
        field = model.model_fields.get(part)
        if field is None:
            return None
        annotation = field.annotation
        inner = _first_model(annotation)
        if inner is None:
            return None
        model = inner
    return model


def _first_model(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()) or ():
        found = _first_model(arg)
        if found is not None:
            return found
    return None


def _did_you_mean(word: str, choices: Sequence[str] | Mapping[str, Any]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _dotted(parts: Sequence[str]) -> str:
    """['sources', '2', 'every'] -> 'sources[2].every'."""
    out = ""
    for part in parts:
        out += f"[{part}]" if part.isdigit() else ("." if out else "") + part
    return out


_HEADER = re.compile(r"^\s*(\[\[?)\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")
_KEYLINE = re.compile(r"^\s*([A-Za-z0-9_\-\"']+)\s*=")


def locate(text: str, dotted: str) -> int | None:
    """The 1-based line of a dotted key path like `sources[2].every` in TOML text, if found.

    When the key itself is absent (a missing required key), the line of its table is given.
    """
    parts: list[tuple[str, int | None]] = []
    for piece in dotted.split("."):
        m = re.fullmatch(r"([^\[]+)(?:\[(\d+)\])?", piece)
        if not m:
            return None
        parts.append((m.group(1), int(m.group(2)) if m.group(2) is not None else None))
    *tables, (key, key_index) = parts
    section = ".".join(name for name, _ in tables)
    section_index = tables[-1][1] if tables else None
    counts: dict[str, int] = {}
    current = ""
    section_line: int | None = None
    for number, line in enumerate(text.splitlines(), start=1):
        header = _HEADER.match(line)
        if header:
            current = ".".join(p.strip().strip("\"'") for p in header.group(2).split("."))
            if header.group(1) == "[[":
                counts[current] = counts.get(current, -1) + 1
            full = f"{section}.{key}" if section else key
            if current == full and (key_index is None or counts.get(current) == key_index):
                return number
            if current == section and (section_index is None or counts.get(current) == section_index):
                section_line = number
            continue
        found = _KEYLINE.match(line)
        if (found and found.group(1).strip("\"'") == key and current == section
                and (section_index is None or counts.get(current) == section_index)):
            return number
    return section_line


@dataclass(frozen=True)
class Part:
    """One line of `recoverybot check`: a part of the bot and whether it is on."""

    name: str
    enabled: bool
    detail: str


def enabled_parts(config: Config) -> Iterator[Part]:
    """What this config switches on, for `check` and the start-up log."""
    yield Part("store", True, _mask_db(config.bot.database))
    if not config.sources:
        yield Part("sources", False, "none configured: add [[sources]] tables to collect anything")
    for source in config.sources:
        when = f"cron {source.cron}" if source.cron else f"every {source.every or config.schedule.collect_every}"
        yield Part(f"source {source.name}", source.enabled, f"{source.kind}, {when}")
    yield Part("orders", config.orders.kind != "none", config.orders.describe())
    own = len(config.policy.rules)
    builtin = len(config.policy.active_rules) - own
    rules = " + ".join(p for p in (f"{own} own rules" if own else "", f"{builtin} built-in rules" if builtin else "")
                       if p) or "no rules: every case goes to the watch list"
    yield Part("policy", True, rules + (" (dry run: nothing is dispatched)" if config.bot.dry_run else ""))
    for adapter in config.fulfilment:
        yield Part(f"fulfilment {adapter.name}", True, adapter.kind)
    digest = config.digest
    if not digest.to:
        why = "no recipients: set [digest] to"
    elif not digest.smtp_host:
        why = f"to {', '.join(digest.to)}, but no smtp_host: set [digest] smtp_host to send it"
    else:
        why = f"to {', '.join(digest.to)} at {digest.send_at} via {digest.smtp_host}"
    yield Part("digest", bool(digest.smtp_host and digest.to), why)
    if not config.alerts:
        yield Part("alerts", False, "none configured: add [[alerts]] to be told at once (docs/alerts.md)")
    for entry in config.alerts:
        wants = [what for what, on in (
            (f"cases waiting at {entry.case_waiting_above:g} or more", entry.case_waiting_above is not None),
            ("failed remedies", entry.remedy_failed),
            (f"sources failing {entry.source_failing} times in a row", entry.source_failing is not None),
            (f"remedies stuck {entry.outbox_stuck} minutes", entry.outbox_stuck is not None)) if on]
        yield Part(f"alerts {entry.target}", True, f"{', '.join(wants)}; at most {entry.max_per_hour} an hour, "
                   f"Apprise URL from ${entry.url_env}")
    web = config.web
    yield Part("web inbox", web.enabled, f"on {web.bind}:{web.port}, links to {web.public_url}, key from ${web.key_env}"
               if web.enabled else "off: set [web] enabled = true for one-click approvals (docs/web-inbox.md)")
    yield _replies_part(config)
    if config.engine.kind == "celery":  # the embedded default says nothing: `run` is what it always was
        yield Part("engine", True, f"celery workers on queue {config.engine.queue!r}, broker URL from "
                   f"${config.engine.broker_url_env}: run `recoverybot scheduler` and `recoverybot worker`")


def _replies_part(config: Config) -> Part:
    """Public replies under reviews: off, or which sources' reviews staff may answer (`recoverybot reply`)."""
    from connectors.replies import supports_replies

    if not config.notify.public_reply:
        return Part("public replies", False, "off: [notify] public_reply = false")
    names = [s.name for s in config.sources if supports_replies(s.kind)]
    if not names:
        return Part("public replies", False, "on, but no source's site takes replies (a woocommerce source does)")
    return Part("public replies", True, f"staff may reply under reviews of {', '.join(names)} (`recoverybot reply ID`)")


def effective_rules(config: Config) -> list[str]:
    """The rules tried for every case, first match wins: one line each, with where it comes from."""
    own = {id(rule) for rule in config.policy.rules}
    out = []
    for index, rule in enumerate(config.policy.active_rules, start=1):
        kinds = " + ".join(action.kind for action in rule.actions)
        where = "own" if id(rule) in own else "built-in"
        auto = f"automatic up to {rule.auto_up_to:g}" if rule.auto_up_to else "always asks a person"
        out.append(f"{index}. {rule.name} ({where}): {kinds}, {auto}")
    return out


def secret_names(config: Config) -> Iterator[tuple[str, str]]:
    """(dotted key, variable name) of every `*_env` key that names a variable, sources included."""

    def walk(value: Any, key: str) -> Iterator[tuple[str, str]]:
        if isinstance(value, dict):
            for name, inner in value.items():
                path = f"{key}.{name}" if key else str(name)
                if str(name).endswith("_env") and isinstance(inner, str) and inner:
                    yield path, inner
                else:
                    yield from walk(inner, path)
        elif isinstance(value, (list, tuple)):
            for index, inner in enumerate(value):
                yield from walk(inner, f"{key}[{index}]")

    yield from walk(config.model_dump(exclude={"path"}), "")


def missing_secrets(config: Config, environ: Mapping[str, str] | None = None) -> list[tuple[str, str]]:
    """The `*_env` keys of enabled parts whose variable is not set in this environment."""
    env = os.environ if environ is None else environ
    disabled = {f"sources[{i}]" for i, s in enumerate(config.sources) if not s.enabled}
    digest_off = not (config.digest.smtp_host and config.digest.to)
    out = []
    for key, name in secret_names(config):
        if key.split(".")[0] in disabled or (digest_off and key.startswith("digest.")):
            continue
        if key.startswith("orders.") and not _secret_used_by_orders(config, key):
            continue
        if key == "digest.smtp_password_env" and not config.digest.smtp_user:
            continue  # a relay without login never reads the password
        if key == "engine.broker_url_env" and config.engine.kind != "celery":
            continue  # the embedded daemon has no broker
        if key.startswith("web.") and not web_key_needed(config):
            continue  # the inbox is off, or on loopback where a key made at start-up will do
        if not env.get(name):
            out.append((key, name))
    return out


def web_key_needed(config: Config) -> bool:
    """Whether the web inbox needs its key from the environment (served beyond loopback); on
    loopback a key made at start-up will do, until a restart."""
    from bot.web.settings import is_loopback

    return config.web.enabled and not is_loopback(config.web.bind)


def _secret_used_by_orders(config: Config, key: str) -> bool:
    field = key.split(".", 1)[1]
    return {"consumer_key_env": "woocommerce", "consumer_secret_env": "woocommerce",
            "access_token_env": "shopify"}.get(field) == config.orders.kind


def _mask_db(url: str) -> str:
    from bot.env import mask_url

    return mask_url(url)
