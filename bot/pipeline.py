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

from bot.config import Config
from bot.errors import RecoveryBotError
from bot.scoring import Scorer
from bot.scoring.retrain import shop_model
from bot.store import Assessment, Mention, Store, utcnow

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


def _assessment(scorer: Scorer, mention: Mention, summary: ScoreSummary) -> Assessment:
    """The Assessment row of one mention; a text the scorer raises on is stored neutral with the
    error as a cue (one odd text must not block every later one)."""
    try:
        result = scorer.assess(mention.text, rating=mention.rating, title=mention.title)
        row = Assessment(
            mention_id=mention.id,
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
        )
    except Exception as exc:
        log.exception("mention #%s (%s) could not be scored", mention.id, mention.source)
        row = Assessment(mention_id=mention.id, sentiment=0.0, unhappy=False, issue="none",
                         confidence=0.0, cues=[f"could not be scored: {type(exc).__name__}: {exc}"])
        summary.failed += 1
    summary.scored += 1
    summary.unhappy += int(row.unhappy)
    return row


def score_batch(store: Store, scorer: Scorer, *, limit: int = 500) -> ScoreSummary:
    """Assess at most ``limit`` unassessed mentions in one transaction. On PostgreSQL the rows are
    taken with ``FOR UPDATE SKIP LOCKED``, so workers scoring at once each take other mentions
    (and a second run of the same task finds nothing left to do)."""
    summary = ScoreSummary()
    with store.session() as session:
        query = (select(Mention).outerjoin(Assessment, Assessment.mention_id == Mention.id)
                 .where(Assessment.mention_id.is_(None)).order_by(Mention.id).limit(limit))
        if session.get_bind().dialect.name == "postgresql":
            query = query.with_for_update(of=Mention, skip_locked=True)
        for mention in session.scalars(query).all():
            session.add(_assessment(scorer, mention, summary))
    return summary


def score_pending(store: Store, scorer: Scorer, *, batch: int = 500) -> ScoreSummary:
    """Assess every mention that has no assessment yet, a batch per transaction."""
    summary = ScoreSummary()
    while True:
        with store.session() as session:
            pending = session.scalars(
                select(Mention)
                .outerjoin(Assessment, Assessment.mention_id == Mention.id)
                .where(Assessment.mention_id.is_(None))
                .order_by(Mention.id)
                .limit(batch)
            ).all()
            for mention in pending:
                session.add(_assessment(scorer, mention, summary))
        if len(pending) < batch:
            return summary


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
