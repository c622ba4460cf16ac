"""The `recoverybot` command line (DESIGN.md "CLI surface"; scripts and docs rely on it).

Exit codes: 0 ok, 1 runtime failure, 2 bad usage or bad config.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, date, datetime
from importlib import resources
from pathlib import Path
from typing import Any, TextIO

from bot.errors import ConfigError, RecoveryBotError, UsageError

EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2
# bot.store.CaseStatus's values, spelled out so `--help` needs no SQLAlchemy (a test keeps them equal).
CASE_STATUSES = ("new", "matched", "unmatched", "decided", "awaiting_approval", "queued", "dispatched", "failed",
                 "dismissed")

log = logging.getLogger("recoverybot")


# --- helpers --------------------------------------------------------------------------------


class JsonFormatter(logging.Formatter):
    """One JSON object per line, with the job and source when the record carries them."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in ("job", "source"):
            value = getattr(record, key, None)
            if value is not None:
                entry[key] = value
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever sys.stderr is at the time of the record (it may be swapped, e.g. by tests)."""

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stderr
        super().emit(record)


def setup_logging(level: str = "info", fmt: str = "text", stream: TextIO | None = None) -> None:
    handler: logging.StreamHandler = logging.StreamHandler(stream) if stream else _StderrHandler()  # type: ignore[type-arg]
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # httpx logs every request at INFO; that is noise for staff.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd, in tests
    # APScheduler warns "skipped: maximum number of running instances" by design (max_instances=1
    # is how a slow job avoids piling up); our own job log says what ran and what failed.
    logging.getLogger("apscheduler").setLevel(logging.ERROR if level != "debug" else logging.DEBUG)


def sample_config() -> str:
    """The commented sample configuration shipped with the package."""
    return resources.files("bot").joinpath("sample_config.toml").read_text(encoding="utf-8")


def _load(args: argparse.Namespace) -> Any:
    from bot import config as cfg

    return cfg.load(args.config)


def _open(config: Any, *, create: bool = False) -> Any:
    """The store, never a new empty database unless ``create`` (a first `cycle`/`orders`, where no
    trace says a database lived here before): `status`, `cases`, `digest` on a lost database say so."""
    from bot.store import open_store

    return open_store(config.bot.database, config.data_dir, create=create)


def _init_database(config_path: Path) -> str | None:
    """`init`: the empty database the config names, when it is not there yet (a SQLite file that
    does not exist, a PostgreSQL database without our tables); what was created, else None."""
    from bot import config as cfg
    from bot.store import mask_url, open_store, sqlite_file

    config = cfg.load(config_path)
    path = sqlite_file(config.bot.database, config.data_dir)
    if path is not None:
        if path.exists():
            return None
        open_store(config.bot.database, config.data_dir, create="fresh").dispose()
        return str(path)
    store = open_store(config.bot.database, config.data_dir, upgrade=False)
    try:
        if "alembic_version" in store.tables():
            return None
        store.upgrade()
    finally:
        store.dispose()
    return mask_url(config.bot.database)


def _print_json(rows: Any, out: TextIO) -> None:
    json.dump(rows, out, indent=2, default=str, ensure_ascii=False)
    out.write("\n")


def _stream_json(rows: Iterable[Any], out: TextIO) -> None:
    """A JSON array written item by item (the text _print_json writes for a list), so a listing of
    a million rows never sits in memory."""
    first = True
    for row in rows:
        item = json.dumps(row, indent=2, default=str, ensure_ascii=False).replace("\n", "\n  ")
        out.write(("[\n  " if first else ",\n  ") + item)
        first = False
    out.write("[]\n" if first else "\n]\n")


def _table(rows: Sequence[Sequence[object]], headers: Sequence[str], out: TextIO) -> None:
    text_rows = [[("" if c is None else str(c)) for c in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in text_rows:
        widths = [max(w, len(c)) for w, c in zip(widths, row, strict=True)]
    out.write("  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip() + "\n")
    for row in text_rows:
        out.write("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() + "\n")


def day_arg(text: str) -> date:
    """argparse type: a local date YYYY-MM-DD (a bad one is a usage error, exit 2)."""
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date like 2026-11-24") from None


def since_arg(text: str) -> datetime:
    """argparse type: an ISO date or datetime; naive values are UTC, given offsets are kept."""
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an ISO date or datetime like 2026-11-24 or 2026-11-24T08:00+01:00"
        ) from None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def _open_text(path: str) -> TextIO:
    """A text file for reading; undecodable bytes become U+FFFD instead of a crash."""
    try:
        return open(path, encoding="utf-8", errors="replace")
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror or exc}") from exc


# --- commands -------------------------------------------------------------------------------


def cmd_init(args: argparse.Namespace) -> int:
    target = Path(args.path or "config.toml")
    shipped = Path(str(resources.files("bot").joinpath("sample_config.toml")))
    if target.exists() and shipped.exists() and target.resolve() == shipped.resolve():
        # In recoverybot's own folder config.toml is the bundled sample: a shop's settings written
        # there would become every later `init`'s sample.
        raise UsageError(f"{target} here is recoverybot's bundled sample config (bot/sample_config.toml), "
                         "not a shop's", hint="make your shop's config in a folder of its own: "
                         "recoverybot init ~/myshop/config.toml, then recoverybot --config ~/myshop/config.toml check")
    if target.exists() and not args.force:
        try:
            created = _init_database(target)
        except ConfigError:
            created = None
        if created is None:
            print(f"{target} already exists; use --force to overwrite", file=sys.stderr)
            return EXIT_USAGE
        print(f"{target} already exists (kept); created the empty database {created}")
        return EXIT_OK
    target.parent.mkdir(parents=True, exist_ok=True)  # a new folder for the shop's files
    target.write_text(sample_config(), encoding="utf-8")
    print(f"wrote {target}; edit it, then run: recoverybot --config {target} check")
    try:
        created = _init_database(target)
    except ConfigError:
        created = None  # the sample names a secret or path this machine lacks: the first `run` creates it
    if created is not None:
        print(f"created the empty database {created}")
    return EXIT_OK


def cmd_check(args: argparse.Namespace) -> int:
    from bot.config import effective_rules, enabled_parts, missing_secrets
    from bot.config import web_key_needed as missing_web_key_is_error
    from connectors.fulfilment import shadowed

    if args.kinds:
        from connectors import registry

        for kind, cls in sorted(registry().items()):
            doc = (cls.__doc__ or "").strip().splitlines()
            print(f"{kind:12} {doc[0] if doc else ''}")
        return EXIT_OK
    config = _load(args)
    print(f"{config.path}: valid")
    for part in enabled_parts(config):
        print(f"  [{'on ' if part.enabled else 'off'}] {part.name}: {part.detail}")
    print("  policy rules, in order (first match wins):")
    for line in effective_rules(config):
        print(f"    {line}")
    for warning in shadowed(config.fulfilment):
        print(f"  warning: {warning}")
    for key, name in missing_secrets(config):
        # A warning, not an error: the daemon's environment may hold it while this shell does not.
        print(f"  warning: {key} names the environment variable {name}, which is not set here")
    from bot.revisit import pacing_problems

    for problem in pacing_problems(config):
        print(f"  warning: source {problem.source}: {problem.message}")
    orders_file = config.orders.resolved_path(config.base_dir) if config.orders.kind == "csv" else None
    if orders_file is not None and not orders_file.is_file():
        print(f"  warning: [orders] path {config.orders.path!r}: no such file ({orders_file}); "
              "`orders sync` will fail until it is there")
    if config.web.enabled and not os.environ.get(config.web.key_env) and not missing_web_key_is_error(config):
        print(f"  note: [web] key_env names {config.web.key_env}, which is not set here: a key made at start-up "
              "signs the digest's links, and they stop working when the daemon restarts")
    return EXIT_OK


def cmd_cycle(args: argparse.Namespace) -> int:
    from bot.pipeline import run_cycle
    from bot.progress import make_progress

    config = _load(args)
    if args.source:
        config.source(args.source)  # unknown name: a clear config error before any work
    store = _open(config, create=True)
    try:
        report = run_cycle(config, store, only=args.source, progress=make_progress(sys.stderr))
    finally:
        store.dispose()
    for line in report.lines():
        print(line)
    if not report.ok:
        print("some parts of the cycle failed (see above); `recoverybot status` shows sources' health",
              file=sys.stderr)
    return EXIT_OK if report.ok else EXIT_FAIL


def cmd_score(args: argparse.Namespace) -> int:
    from bot.scoring import ScoringConfig, Scorer, score_stream

    scoring = _load(args).scoring if args.config_given else ScoringConfig()
    scorer = Scorer(scoring)
    if args.file in (None, "-"):
        bad = score_stream(sys.stdin, sys.stdout, scorer)
    else:
        with _open_text(args.file) as handle:
            bad = score_stream(handle, sys.stdout, scorer)
    if bad:
        print(f"{bad} line(s) could not be scored; see their \"error\" field", file=sys.stderr)
    return EXIT_OK if not bad else EXIT_FAIL


def cmd_eval(args: argparse.Namespace) -> int:
    from bot.scoring import EvalReport, ScoringConfig, Scorer, evaluate
    from bot.scoring.evaluate import BASELINES

    scoring = _load(args).scoring if args.config_given else ScoringConfig()
    baselines = {name: EvalReport() for name in BASELINES} if args.baselines else None
    with _open_text(args.file) as handle:
        report = evaluate(handle, Scorer(scoring), baselines)
    if not report.n and not args.json:  # nothing measured: no table of zeros, only what went wrong
        for line in report.bad_lines[:5]:
            print(f"  {line}", file=sys.stderr)
        print(f"{args.file}: no labelled example could be read (each line needs text, unhappy, issue)",
              file=sys.stderr)
        return EXIT_FAIL
    if args.json:
        data = report.as_dict()
        if baselines:
            data["baselines"] = {name: b.as_dict() for name, b in baselines.items()}
        _print_json(data, sys.stdout)
    else:
        print(report.render())
        for name, b in (baselines or {}).items():
            u = b.as_dict()["unhappy"]
            assert isinstance(u, dict)
            print(f"baseline {name:<16} unhappy precision {u['precision']:.3f}  recall {u['recall']:.3f}  "
                  f"f1 {u['f1']:.3f}")
    if not report.n:
        print(f"{args.file}: no labelled example could be read (each line needs text, unhappy, issue)",
              file=sys.stderr)
        return EXIT_FAIL
    if report.bad_lines:
        print(f"{len(report.bad_lines)} line(s) could not be read and were left out", file=sys.stderr)
        return EXIT_FAIL
    return EXIT_OK


def cmd_mentions(args: argparse.Namespace) -> int:
    from bot.collect import iter_mentions, list_mentions

    config = _load(args)
    if args.source:
        config.source(args.source)
    store = _open(config)
    try:
        if args.json:
            _stream_json(iter_mentions(store, source=args.source, since=args.since, limit=args.limit), sys.stdout)
            return EXIT_OK
        rows = list_mentions(store, source=args.source, since=args.since, limit=args.limit)
    finally:
        store.dispose()
    table = [
        (r.get("id"), r.get("source"), r.get("published_at") or "", r.get("rating") or "", r.get("issue") or "",
         (r.get("text") or "").replace("\n", " ")[:70])
        for r in rows
    ]
    _table(table, ["id", "source", "published", "stars", "issue", "text"], sys.stdout)
    return EXIT_OK


def cmd_labels(args: argparse.Namespace) -> int:
    from bot.decide.staff import export_labels

    config = _load(args)
    store = _open(config)
    try:
        if args.file in (None, "-"):
            n = export_labels(store, sys.stdout)
        else:
            with open(args.file, "w", encoding="utf-8") as handle:
                n = export_labels(store, handle)
    finally:
        store.dispose()
    print(f"{n} labelled mentions (staff approvals and rejections)"
          + (f" written to {args.file}; check the scorer on them: recoverybot eval {args.file}"
             if args.file not in (None, "-") else ""), file=sys.stderr)
    return EXIT_OK


def cmd_train(args: argparse.Namespace) -> int:
    from bot.decide.staff import decisions
    from bot.scoring.retrain import read_labelled, train, with_added

    config = _load(args)
    store = _open(config)
    try:
        examples = decisions(store)
    finally:
        store.dispose()
    said = f"{len(examples)} staff decisions"
    for name in args.add or []:
        lines = read_labelled(Path(name))
        examples = with_added(examples, lines)
        said += f" and {len(lines)} labelled lines of {name}"
    print(f"refitting the scorer on {said} ({len(examples)} texts) ...", file=sys.stderr)
    report = train(config.scoring, config.data_dir, examples, corpus=Path(args.corpus) if args.corpus else None,
                   labels=Path(args.labels) if args.labels else None, install=not args.dry_run,
                   weight=args.weight, source="staff decisions and labelled lines" if args.add else "staff decisions")
    for line in report.lines():
        print(line)
    return EXIT_OK if report.no_worse else EXIT_FAIL  # a dry run: 0 when it would have installed


def cmd_cases(args: argparse.Namespace) -> int:
    from bot.decide.staff import CaseNotFound, case_detail, iter_cases, list_cases

    config = _load(args)
    store = _open(config)
    try:
        if args.id is not None:
            try:
                detail = case_detail(store, args.id)
            except CaseNotFound as exc:
                raise UsageError(exc.message, hint="`recoverybot cases` lists every case") from exc
        elif args.json:
            _stream_json(iter_cases(store, status=args.status), sys.stdout)
            return EXIT_OK
        else:
            rows = list_cases(store, status=args.status)
    finally:
        store.dispose()
    if args.id is not None:
        from bot.report.casefile import render_case

        if args.json:
            _print_json(detail, sys.stdout)
        else:
            print(render_case(detail, config.zone))
        return EXIT_OK
    _table([_case_row(r) for r in rows], ["id", "status", "issue", "who", "order", "remedies", "why"], sys.stdout)
    if rows:
        print("one case in full: recoverybot cases ID")
    return EXIT_OK


WHY_CHARS = 80  # the list's "why" column; `cases ID` shows it whole


def _case_row(case: dict[str, Any]) -> tuple[object, ...]:
    """One line of `recoverybot cases`: who, what was proposed, and why it waits (if it does).

    A reason longer than the column is cut with an ellipsis, never silently."""
    from bot.report.casefile import remedy_line, who
    from bot.report.view import clip, plain

    remedies = ", ".join(remedy_line(r, params=False) for r in case.get("remedies") or []
                         if r.get("status") != "cancelled")
    reasons = case.get("reasons") or []
    why = case.get("approval_reason") or (reasons[-1] if reasons else "") or case.get("rule") or ""
    order = (case.get("order") or {}).get("number") or ""
    return (case.get("id"), case.get("status"), case.get("issue"), who(case), order, remedies,
            clip(" ".join(plain(str(why)).split()), WHY_CHARS))


def _each_case(args: argparse.Namespace, verb: str, action: Callable[[Any, Any, int, str], str]) -> int:
    """approve / reject each id given, as the staff member at the keyboard; each is reported on its
    own line. A wrong id or state says which case and why, and the others still go (exit 2 then).
    `action(store, config, case_id, actor)` does the work and returns what to print."""
    from bot.decide.staff import CaseNotFound, CaseStateError

    config = _load(args)
    store = _open(config)
    actor = os.environ.get("USER") or "staff"
    failed: list[int] = []
    try:
        for case_id in dict.fromkeys(args.ids):  # the same id twice is acted on once
            try:
                print(action(store, config, case_id, actor))
            except (CaseNotFound, CaseStateError) as exc:
                failed.append(case_id)
                print(f"case {case_id} not {verb}: {exc.message}", file=sys.stderr)
    finally:
        store.dispose()
    if failed:
        print(f"{len(failed)} of {len(dict.fromkeys(args.ids))} not {verb} "
              f"({', '.join(str(i) for i in failed)}); "
              "`recoverybot cases --status awaiting_approval` lists what waits", file=sys.stderr)
        return EXIT_USAGE
    return EXIT_OK


def cmd_approve(args: argparse.Namespace) -> int:
    from bot.decide.staff import approve

    def one(store: Any, config: Any, case_id: int, actor: str) -> str:
        case = approve(store, case_id, actor=actor, note=args.note, config=config)
        if config.bot.dry_run:
            said = (f"case {case_id} approved and recorded; dry run: it is sent when the dry run ends, "
                    "without asking again")
        else:
            said = f"case {case_id} approved; its remedy is queued for the next dispatch"
        return "\n".join([said] + [f"  {line}" for line in case.get("over_daily_budget", [])])

    return _each_case(args, "approved", one)


def cmd_reject(args: argparse.Namespace) -> int:
    from bot.decide.staff import reject

    def one(store: Any, config: Any, case_id: int, actor: str) -> str:
        reject(store, case_id, actor=actor, reason=args.reason)
        return f"case {case_id} rejected"

    return _each_case(args, "rejected", one)


def cmd_reply(args: argparse.Namespace) -> int:
    """A public reply under the case's review, asked for by the staff member at the keyboard."""
    import httpx

    from bot.decide.reply import ask
    from bot.decide.staff import CaseNotFound
    from bot.replies import ReplyRefused, deliver_due

    config = _load(args)
    store = _open(config)
    try:
        try:
            queued = ask(store, config, args.id, actor=os.environ.get("USER") or "staff", text=args.text)
        except (CaseNotFound, ReplyRefused) as exc:
            raise UsageError(exc.message, hint=exc.hint or None) from exc
        print(f"public reply for case {args.id} queued, under the review on {queued['source']}:")
        for line in queued["text"].splitlines():
            print(f"  {line}")
        if config.bot.dry_run:
            print("dry run: it is posted when the dry run ends")
            return EXIT_OK
        with httpx.Client(follow_redirects=False) as client:
            done = deliver_due(store, config, client, only=queued["id"])
    finally:
        store.dispose()
    if done.posted:
        print(f"posted: {done.references.get(queued['id']) or 'done'}")
        return EXIT_OK
    for line in done.errors:
        print(f"  {line}", file=sys.stderr)
    print("not posted yet: the next dispatch tries again (`recoverybot cases` shows it)", file=sys.stderr)
    return EXIT_FAIL if done.failed else EXIT_OK


def cmd_status(args: argparse.Namespace) -> int:
    from bot.report.status import gather, render

    config = _load(args)
    store = _open(config)
    try:
        status = gather(config, store, expect_daemon=not args.no_daemon)
    finally:
        store.dispose()
    if args.json:
        _print_json(status.as_dict(), sys.stdout)
    else:
        print(render(status))
    return EXIT_OK if status.healthy else EXIT_FAIL


def cmd_digest(args: argparse.Namespace) -> int:
    from bot.report import digest

    config = _load(args)
    day = args.date
    if args.send and not (config.digest.to and config.digest.smtp_host):
        raise ConfigError("the digest has no recipients or no SMTP server", key="digest.to",
                          path=str(config.path), hint="set [digest] to and smtp_host, or use --preview FILE")
    store = _open(config)
    try:
        if args.preview:
            report = digest.preview(store, config, Path(args.preview), day=day)
            print(f"wrote {args.preview}: {report.subject}")
        if args.send:
            report = digest.send(store, config, day=day, force=args.force)
            print(f"{report.status}: {report.subject}")
        if not args.preview and not args.send:
            report = digest.build(store, config, day=day)
            print(report.text)
    finally:
        store.dispose()
    return EXIT_OK


def cmd_orders(args: argparse.Namespace) -> int:
    from bot import orders

    config = _load(args)
    store = _open(config, create=True)
    try:
        summary: orders.SyncSummary | orders.ImportSummary
        if args.orders_command == "sync":
            summary = orders.sync(config, store)
        else:
            summary = orders.import_file(store, Path(args.file), config.orders)
        for line in summary.lines():
            print(line)
        _rematch(config, store)
    finally:
        store.dispose()
    return EXIT_OK if summary.ok else EXIT_FAIL


def _rematch(config: Any, store: Any) -> None:
    """New orders or handle links may name the buyer of a waiting case: match and decide again now."""
    from bot.decide.cases import process

    for line in process(store, config).lines():
        print(line)


def cmd_customers(args: argparse.Namespace) -> int:
    from bot.match import link_handle, mask_email

    config = _load(args)
    store = _open(config)
    try:
        with store.session() as session:
            link_handle(session, args.handle, args.email)
        print(f"linked {args.handle} to {mask_email(args.email)}")
        _rematch(config, store)
    finally:
        store.dispose()
    return EXIT_OK


def cmd_run(args: argparse.Namespace) -> int:
    from bot.daemon.schedule import run_daemon

    config = _load(args)
    return run_daemon(config, config_path=Path(args.config) if args.config else config.path)


def _celery(name: str) -> Any:
    """A function of bot.engine.celery_app, or a UsageError saying how to install Celery."""
    try:
        from bot.engine import celery_app
    except ModuleNotFoundError as exc:
        raise UsageError(f"Celery is not installed ({exc.name} is missing): workers need it",
                         hint="install it with: pip install -e '.[celery]'; then set [engine] kind = \"celery\" "
                              "(docs/workers.md)") from exc
    return getattr(celery_app, name)


def cmd_worker(args: argparse.Namespace) -> int:
    run_worker = _celery("run_worker")
    config = _load(args)
    return int(run_worker(config, config_path=Path(args.config) if args.config else config.path,
                          concurrency=args.concurrency, hostname=args.hostname))


def cmd_scheduler(args: argparse.Namespace) -> int:
    run_scheduler = _celery("run_scheduler")
    config = _load(args)
    return int(run_scheduler(config, config_path=Path(args.config) if args.config else config.path))


def cmd_web(args: argparse.Namespace) -> int:
    from bot.store import open_store
    from bot.web.server import WebServer

    if args.port is not None and not 0 <= args.port <= 65535:
        raise UsageError(f"--port {args.port} is not a port number", hint="give 1-65535, or 0 for any free port")
    config = _load(args)
    if not config.web.enabled:
        print("note: [web] enabled is false, so the daemon does not serve the inbox and the digest has no buttons; "
              "serving it here anyway", file=sys.stderr)
    store = open_store(config.bot.database, config.data_dir)
    try:
        try:
            server = WebServer(config, store, port=args.port)
        except ConfigError as exc:
            if args.port is None:
                raise
            why = getattr(exc.__cause__, "strerror", None) or exc.__cause__ or exc
            raise UsageError(f"cannot listen on --port {args.port}: {why}", hint="another program may use that port: give another --port "
                                               "(0: any free one)") from exc
        print(f"web inbox on {server.url} (links use {config.web.public_url}); Ctrl-C stops it", flush=True)
        server.serve()
    finally:
        store.dispose()
    return EXIT_OK


def cmd_demo(args: argparse.Namespace) -> int:
    from bot.demo.run import run_demo

    return run_demo(workdir=Path(args.workdir) if args.workdir else None, out=sys.stdout,
                    preview=Path(args.preview))


# --- parser ---------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="recoverybot",
        description="Notice unhappy buyers in reviews and posts, and make it right before they ask.",
    )
    parser.add_argument("--config", help="config file (default: $RECOVERYBOT_CONFIG, else ./config.toml)")
    parser.add_argument("--log-format", choices=["text", "json"], default="text", help="log line format")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def add(name: str, fn: Callable[[argparse.Namespace], int], help_: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_, description=help_)
        p.set_defaults(func=fn)
        return p

    p = add("init", cmd_init, "write the commented sample config")
    p.add_argument("path", nargs="?", help="where to write it (default ./config.toml)")
    p.add_argument("--force", action="store_true", help="overwrite an existing file")
    p = add("check", cmd_check, "validate the config and list the enabled parts")
    p.add_argument("--kinds", action="store_true", help="list the registered source kinds instead")
    p = add("demo", cmd_demo, "serve the bundled demo shop on 127.0.0.1 and run one full cycle against it")
    p.add_argument("--workdir", help="keep the demo's database and config here (default: a temporary folder)")
    p.add_argument("--preview", default="digest-preview.html", help="where to write the digest preview")
    add("run", cmd_run, "run the daemon")
    p = add("cycle", cmd_cycle, "run one full cycle now, with progress")
    p.add_argument("--source", help="collect only this source")
    p = add("score", cmd_score, "score JSON lines (text, optional id, rating) from FILE or stdin")
    p.add_argument("file", nargs="?", help="JSON lines file, or - for stdin")
    p = add("eval", cmd_eval, "precision/recall of the scorer on labelled JSON lines (text, unhappy, issue)")
    p.add_argument("file")
    p.add_argument("--json", action="store_true")
    p.add_argument("--baselines", action="store_true",
                   help="also the figures of stars alone, TextBlob and VADER on the same lines")
    p = add("mentions", cmd_mentions, "list stored mentions")
    p.add_argument("--source")
    p.add_argument("--since", type=since_arg, help="ISO date or datetime; without an offset it is UTC")
    p.add_argument("--limit", type=int, default=None)
    p.add_argument("--json", action="store_true")
    p = add("cases", cmd_cases, "list cases, or show one case in full (cases ID)")
    p.add_argument("id", type=int, nargs="?", help="show this case in full: mentions, order, remedies, note, history")
    p.add_argument("--status", choices=CASE_STATUSES, help="only cases in this state")
    p.add_argument("--json", action="store_true")
    p = add("approve", cmd_approve, "approve cases waiting for approval (approve 5 7 9)")
    p.add_argument("ids", type=int, nargs="+", metavar="ID")
    p.add_argument("--note", help="words to add to the note each buyer gets")
    p = add("reject", cmd_reject, "reject cases waiting for approval (reject 5 7 --reason ...)")
    p.add_argument("ids", type=int, nargs="+", metavar="ID")
    p.add_argument("--reason", required=True, help="why no remedy (kept in the case's history)")
    p = add("reply", cmd_reply, "post a public reply under a case's review (needs [notify] public_reply = true)")
    p.add_argument("id", type=int)
    p.add_argument("--text", help="the reply (default: the public_reply template: thanks, sorry, we have been "
                   "in touch with you directly)")
    p = add("status", cmd_status, "sources' health, outbox, budget, last digest (exit 1 when unhealthy)")
    p.add_argument("--json", action="store_true")
    p.add_argument("--no-daemon", action="store_true",
                   help="cycles run from cron, not `run`: a stopped daemon is not a problem")
    p = add("digest", cmd_digest, "render or send the daily digest")
    p.add_argument("--preview", metavar="FILE", help="write the HTML digest to FILE")
    p.add_argument("--send", action="store_true", help="send it by email now")
    p.add_argument("--force", action="store_true", help="send even if this period's digest was sent")
    p.add_argument("--date", type=day_arg,
                   help="the day to report (YYYY-MM-DD, local); default: today so far, or yesterday with --send")
    p = add("orders", cmd_orders, "import or sync orders")
    osub = p.add_subparsers(dest="orders_command", metavar="sync|import", required=True)
    osub.add_parser("sync", help="sync orders from the configured [orders] source")
    o = osub.add_parser("import", help="import an orders CSV file")
    o.add_argument("file")
    p = add("labels", cmd_labels, "staff decisions as labelled JSON lines (for `eval`): export [FILE]")
    lsub = p.add_subparsers(dest="labels_command", metavar="export", required=True)
    lx = lsub.add_parser("export", help="write every approved or rejected mention with its label")
    lx.add_argument("file", nargs="?", default=None)
    p = add("train", cmd_train, "refit the scorer on the staff's approve/reject decisions; installs only if no worse")
    p.add_argument("--corpus", help="a copy of the corpus folder, to check the refit on the shipped test split too")
    p.add_argument("--labels", help="the shipped labels file (default bench/labels/corpus.jsonl)")
    p.add_argument("--add", action="append", metavar="FILE",
                   help="also fit on these labelled JSON lines (text, unhappy, issue, remedy_worthy; as `labels export` writes them); repeatable")
    p.add_argument("--weight", type=float, default=1.0, help="how much one shop decision counts (default 1)")
    p.add_argument("--dry-run", action="store_true", help="measure, but write nothing (exit 0 when it would install)")
    p = add("worker", cmd_worker, 'run a Celery worker ([engine] kind = "celery"): collect, score, cases, dispatch, digest tasks')
    p.add_argument("--concurrency", type=int, default=max(1, os.cpu_count() or 1), help="worker processes (default: CPUs)")
    p.add_argument("--hostname", help="this worker's name (default recoverybot-PID@HOST)")
    add("scheduler", cmd_scheduler, 'enqueue the jobs for Celery workers on their schedules ([engine] kind = "celery"); one per database')
    p = add("web", cmd_web, "serve the staff web inbox in the foreground (the daemon serves it when [web] enabled)")
    p.add_argument("--port", type=int, default=None, help="listen on this port instead of [web] port (0: any free one)")
    p = add("customers", cmd_customers, "manage customers")
    csub = p.add_subparsers(dest="customers_command", metavar="link", required=True)
    c = csub.add_parser("link", help="link a social handle to the customer with this email")
    c.add_argument("handle")
    c.add_argument("email")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    args.config_given = args.config is not None or bool(os.environ.get("RECOVERYBOT_CONFIG"))
    setup_logging("debug" if args.verbose else "info", args.log_format)
    try:
        return int(args.func(args))
    except ConfigError as exc:
        print(f"config error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except RecoveryBotError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAIL
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return EXIT_OK
    except OSError as exc:  # a file named on the command line that cannot be read or written
        where = f" {exc.filename}" if exc.filename else ""
        print(f"error: cannot use{where}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_FAIL
    except Exception as exc:
        from sqlalchemy.exc import SQLAlchemyError

        if not isinstance(exc, SQLAlchemyError):
            raise
        # A database error no stage wrapped: said in words, never with its traceback (PostgreSQL's
        # DETAIL line names the row's values, such as a customer's email).
        from bot.store import describe_db_error

        print(f"error: database error: {describe_db_error(exc)}", file=sys.stderr)
        return EXIT_FAIL


if __name__ == "__main__":
    sys.exit(main())
