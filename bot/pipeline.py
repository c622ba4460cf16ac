"""One full cycle: collect → orders → score → cases (match, decide, queue) → dispatch → alerts.

Each stage reads its input from the store and writes its output there, so a cycle can be
killed at any point and the next one carries on (DESIGN.md). The scheduler and the CLI call
these plain functions; nothing here knows about timers.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.config import Config
from bot.errors import RecoveryBotError
from bot.scoring import Scorer
from bot.scoring.retrain import shop_model
from bot.store import Assessment, Mention, Store, dialect_insert, utcnow

log = logging.getLogger("recoverybot.pipeline")


class Summary(Protocol):
    def lines(self) -> list[str]: ...


@dataclass
class ScoreSummary:
    scored: int = 0
    unhappy: int = 0
    failed: int = 0  # texts the scorer raised on: stored neutral with the error as a cue

    @property
    def ok(self) -> bool:
        return not self.failed

    def lines(self) -> list[str]:
        line = f"scored {self.scored} new mentions, {self.unhappy} unhappy"
        return [line + (f", {self.failed} could not be scored (see the log)" if self.failed else "")]


@dataclass
class ExpirySummary:
    expired: int = 0

    def lines(self) -> list[str]:
        return [f"{self.expired} unanswered approvals expired"] if self.expired else []


@dataclass
class CycleReport:
    """What each stage of one cycle did, and the stages that failed."""

    stages: dict[str, Summary] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """No stage raised, and no stage reports a failure of its own (a source down, bad order rows)."""
        return not self.failures and all(getattr(s, "ok", True) for s in self.stages.values())

    def lines(self) -> list[str]:
        out: list[str] = []
        for name, summary in self.stages.items():
            # Summaries that already start with their own name ("cases: ...") are not prefixed twice.
            own = re.compile(rf"(?:{re.escape(name)}|decide)\b")
            out.extend(line if own.match(line) else f"{name}: {line}" for line in summary.lines())
        out.extend(f"{name}: FAILED: {why}" for name, why in self.failures.items())
        return out


def scorer_for(config: Config) -> Scorer:
    """The scorer the pipeline runs: the shop's refitted weights when [scoring] learn_from_shop is on
    and `recoverybot train` installed some, else the bundled model."""
    return Scorer(config.scoring, model=shop_model(config.scoring, config.data_dir))


def score_pending(store: Store, scorer: Scorer, *, batch: int = 500) -> ScoreSummary:
    """Assess every mention that has no assessment yet, a batch at a time.

    Several workers may score at once (issue 13 item 9). An assessment is inserted only when the
    mention has none (``ON CONFLICT DO NOTHING``), so the one that comes second never fails on
    ``assessment_pkey``, and only rows really stored are counted. On PostgreSQL each worker takes
    its batch with ``FOR UPDATE SKIP LOCKED`` and scores it inside that transaction, so they share
    the work; on SQLite, where one writer at a time holds the whole file, the texts are scored
    between two short transactions so other workers are not kept waiting for the write lock.
    """
    summary = ScoreSummary()
    while True:
        with store.session() as session:
            claim = session.get_bind().dialect.name == "postgresql"
            query = (
                select(Mention.id, Mention.source, Mention.text, Mention.rating, Mention.title)
                .outerjoin(Assessment, Assessment.mention_id == Mention.id)
                .where(Assessment.mention_id.is_(None))
                .order_by(Mention.id)
                .limit(batch)
            )
            if claim:
                # FOR NO KEY UPDATE: other workers skip these rows, yet a case may still point at them.
                query = query.with_for_update(skip_locked=True, key_share=True, of=Mention)
            pending = [tuple(row) for row in session.execute(query)]
            if claim:
                _store_assessments(session, _assess_all(scorer, pending), summary)
        if not claim and pending:
            rows = _assess_all(scorer, pending)
            with store.session() as session:
                _store_assessments(session, rows, summary)
        if len(pending) < batch:
            return summary


def _assess_all(scorer: Scorer, pending: list[tuple[Any, ...]]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for mention_id, source, text, rating, title in pending:
        try:
            result = scorer.assess(text, rating=rating, title=title)
            rows.append(_assessment(
                mention_id,
                sentiment=result.sentiment,
                unhappy=result.unhappy,
                issue=result.issue.value,
                confidence=result.confidence,
                cues=list(result.cues),
                p_remedy=result.p_remedy,
                p_issue=result.p_issue,
                remedy_worthy=result.remedy if result.p_remedy is not None else None,
                # rules alone ([scoring] model = false) are never sure: people decide
                sure=result.sure,
                scored=result.scored,
                language=result.language,
            ))
        except Exception as exc:  # one odd text must not block every later one
            log.exception("mention #%s (%s) could not be scored", mention_id, source)
            rows.append(_assessment(mention_id, sentiment=0.0, unhappy=False, issue="none", confidence=0.0,
                                    cues=[f"could not be scored: {type(exc).__name__}: {exc}"], failed=True))
    return rows


def _store_assessments(session: Session, rows: list[dict[str, Any]], summary: ScoreSummary) -> None:
    """Insert the assessments of mentions that have none yet; count the ones really stored."""
    if not rows:
        return
    failed = {row["mention_id"] for row in rows if row.pop("_failed", False)}
    stmt = (dialect_insert(session, Assessment)
            .on_conflict_do_nothing(index_elements=["mention_id"])
            .returning(Assessment.mention_id, Assessment.unhappy))
    for mention_id, unhappy in session.execute(stmt, rows):
        summary.scored += 1
        summary.unhappy += int(unhappy)
        summary.failed += int(mention_id in failed)


def _assessment(mention_id: int, *, sentiment: float, unhappy: bool, issue: str, confidence: float, cues: list[str],
                p_remedy: float | None = None, p_issue: float | None = None, remedy_worthy: bool | None = None,
                sure: bool | None = None, scored: bool = True, language: str | None = None,
                failed: bool = False) -> dict[str, Any]:
    """One assessment row with every column given (a multi-row insert needs the same keys in each)."""
    return {"_failed": failed, "mention_id": mention_id, "sentiment": sentiment, "unhappy": unhappy, "issue": issue,
            "confidence": confidence, "cues": cues, "p_remedy": p_remedy, "p_issue": p_issue,
            "remedy_worthy": remedy_worthy, "sure": sure, "scored": scored, "language": language,
            "scored_at": utcnow()}


def run_cycle(
    config: Config,
    store: Store,
    *,
    client: httpx.Client | None = None,
    only: str | None = None,
    progress: Any = None,
    mailer: Any = None,
    now: Callable[[], datetime] | None = None,
    collect: bool = True,
    sync_orders: bool = True,
    dispatch: bool = True,
) -> CycleReport:
    """Run the stages in order. A failing stage is recorded; the later stages still run on
    what is already in the store (one broken part never stops the rest)."""
    from bot import collect as collect_stage, orders, outbox
    from bot.alerts.send import run_alerts
    from bot.decide import cases, staff

    clock = now or utcnow
    report = CycleReport()

    def stage(name: str, fn: Callable[[], Summary]) -> None:
        try:
            report.stages[name] = fn()
        except RecoveryBotError as exc:
            log.error("%s failed: %s", name, exc)
            report.failures[name] = str(exc)

    if collect:
        stage("collect", lambda: collect_stage.collect(config, store, client=client, only=only, progress=progress))
    if sync_orders and config.orders.kind != "none":
        stage("orders", lambda: orders.sync(config, store, client=client, now=clock()))
    stage("score", lambda: score_pending(store, scorer_for(config)))
    stage("approvals", lambda: ExpirySummary(staff.expire_approvals(store, config, now=clock())))
    stage("cases", lambda: cases.process(store, config, now=clock()))
    if dispatch:
        stage("dispatch", lambda: outbox.dispatch_due(store, config, client=client, mailer=mailer, now=clock()))
    if config.alerts:
        # Last, so an event of this very cycle (a case that now waits) is told within it.
        stage("alerts", lambda: run_alerts(store, config, now=clock()))
    return report
