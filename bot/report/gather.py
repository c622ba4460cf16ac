"""Gathering the digest: one day's mentions, cases, remedies, sources and chart from the store."""

from __future__ import annotations

import logging
import re
from collections import defaultdict
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, case, exists, func, or_, select
from sqlalchemy.orm import Session, selectinload


from bot.notices import notices_of, told_text
from bot.report.view import (
    REMEDY_WORDS,
    Chart,
    ChartRow,
    DigestCounts,
    DigestStatus,
    Item,
    Period,
    Quote,
    RemedyLine,
    Section,
    SourceCount,
    SourceLimit,
    SourceProblem,
    clean,
    cues_in_words,
    card_params,
    clip,
    in_words,
    local_time,
    mask,
    money,
    not_scored_text,
    note_text,
    plural_fix,
    reasons_of,
    safe_link,
    stars,
    words,
)
from bot.revisit import pacing_problems

if TYPE_CHECKING:
    from bot.config import Config

log = logging.getLogger(__name__)




# --- gathering ----------------------------------------------------------------------------------


def _quote(mention: Any, zone: ZoneInfo, limit: int) -> Quote:
    author = clean(mention.author_name or mention.author_handle or "someone")
    if mention.author_handle and mention.author_name:
        author = f"{clean(mention.author_name)} ({clean(mention.author_handle)})"
    return Quote(
        source=clean(mention.source),
        author=clip(author, 80),
        text=clip(mention.text, limit),
        title=clip(mention.title, 160),
        rating=mention.rating,
        link=safe_link(mention.url),
        url_text=clip(mention.url, 90),
        when=_when_posted(mention, zone),
        stars=stars(mention.rating),
    )


ALSO_SHOWN = 5  # other mentions of one case shown on its card


def _also(case: Any, limit: int = 120) -> list[str]:
    """The case's other mentions (one buyer on several channels), oldest first: where, who, what."""
    others = sorted((link.mention for link in case.links if link.mention_id != case.mention_id),
                    key=lambda m: (m.published_at or m.collected_at, m.id))
    out = []
    for mention in others[:ALSO_SHOWN]:
        author = clean(mention.author_name or mention.author_handle or "someone")
        out.append(f"{clean(mention.source)}: {clip(author, 60)}, \u201c{clip(mention.text, limit)}\u201d")
    return out


def _when_posted(mention: Any, zone: ZoneInfo) -> str:
    """When it was posted; a date-only review (stored as midnight UTC) shows its date and no time."""
    posted = mention.published_at
    if posted is None:
        return local_time(mention.collected_at, zone)
    utc = posted.astimezone(UTC) if posted.tzinfo else posted.replace(tzinfo=UTC)
    if (utc.hour, utc.minute, utc.second, utc.microsecond) == (0, 0, 0, 0):
        return f"{utc:%a %d %b}"
    return local_time(posted, zone)


def _order_text(case_row: Any, zone: ZoneInfo) -> tuple[str, list[str], str]:
    order = case_row.order
    if order is None:
        return "", [], ""
    tracking = None if order.delivered_at and order.tracking_status == "delivered" else order.tracking_status
    state = ", ".join(p for p in (words(order.fulfillment_status), words(tracking)) if p)
    when = local_time(order.placed_at, zone, "%d %b %Y")
    text = f"#{clean(order.number)} of {when}" + (f", {state}" if state else "")
    if order.delivered_at:
        text += f", delivered {local_time(order.delivered_at, zone, '%d %b')}"
    lines = [f"{line.quantity} × {clip(line.name, 80)}" + (f" ({clean(line.sku)})" if line.sku else "")
             for line in order.lines[:5]]
    who = mask(order.customer.email) if order.customer else ""
    return text, lines, who


def _match_text(case_row: Any) -> str:
    if case_row.match_confidence is None:
        return ""
    reasons = ", ".join(plural_fix(clean(str(r))) for r in (case_row.match_reasons or [])[:4])
    return f"{round(100 * case_row.match_confidence)}% sure" + (f": {clip(reasons, 200)}" if reasons else "")


def gather(session: Session, config: Config, period: Period, now: datetime) -> dict[str, Any]:
    from bot.store import (
        Assessment,
        BudgetPeriod,
        Case,
        CaseMention,
        CaseStatus,
        Digest,
        Mention,
        Order,
        Remedy,
        RemedyStatus,
        SourceState,
    )

    dc = config.digest
    zone = period.zone
    cur = config.bot.currency
    limit = dc.max_items
    in_day = and_(Mention.collected_at >= period.start, Mention.collected_at < period.until)
    counts = DigestCounts(currency=cur)

    # The day in numbers: mentions and unhappy ones per source.
    per_source: dict[str, SourceCount] = {}
    for source in config.sources:
        per_source[source.name] = SourceCount(source.name)
    unhappy_sum = func.sum(case((and_(Assessment.unhappy.is_(True), Assessment.scored.is_(True)), 1), else_=0))
    # The one "unhappy share" of the digest: unhappy mentions out of those the scorer read
    # (mentions not scored yet, or in a language it does not read, are not counted as happy).
    scored_sum = func.sum(case((and_(Assessment.mention_id.is_not(None), Assessment.scored.is_(True)), 1), else_=0))
    rows = session.execute(
        select(Mention.source, func.count(Mention.id), unhappy_sum, scored_sum)
        .outerjoin(Assessment, Assessment.mention_id == Mention.id)
        .where(in_day)
        .group_by(Mention.source)
    ).all()
    for name, total, unhappy, scored in rows:
        entry = per_source.setdefault(name, SourceCount(name))
        entry.mentions, entry.unhappy, entry.scored = int(total), int(unhappy or 0), int(scored or 0)
    counts.sources = sorted(per_source.values(), key=lambda s: (-s.mentions, s.name))
    counts.mentions = sum(s.mentions for s in counts.sources)
    counts.unhappy = sum(s.unhappy for s in counts.sources)
    counts.scored = sum(s.scored for s in counts.sources)
    counts.new_cases = int(session.scalar(
        select(func.count(Case.id)).where(Case.created_at >= period.start, Case.created_at < period.until)
    ) or 0)

    case_load = (
        selectinload(Remedy.case).selectinload(Case.mention).selectinload(Mention.assessment),
        selectinload(Remedy.case).selectinload(Case.order).selectinload(Order.lines),
        selectinload(Remedy.case).selectinload(Case.order).selectinload(Order.customer),
    )

    # Needs you: every case waiting for approval now, soonest to expire first.
    waiting_cases = session.scalars(
        select(Case)
        .where(Case.status == CaseStatus.AWAITING_APPROVAL.value)
        .order_by(Case.approval_expires_at.is_(None), Case.approval_expires_at, Case.id)
        .options(
            selectinload(Case.mention).selectinload(Mention.assessment),
            selectinload(Case.order).selectinload(Order.lines),
            selectinload(Case.order).selectinload(Order.customer),
            selectinload(Case.remedies),
            selectinload(Case.links),
        )
    ).all()
    def proposals(row: Case) -> list[Remedy]:
        # Every remedy the case proposes (a wrong item: refund and a return pickup), in order.
        return sorted((r for r in row.remedies if r.status == RemedyStatus.PROPOSED.value), key=lambda r: r.id)

    def case_cost(row: Case) -> Decimal:
        return sum((Decimal(r.amount or 0) for r in proposals(row)), Decimal(0))

    def urgency(row: Case) -> tuple[Any, ...]:
        # The day it expires first, then the most money at stake: what a person should look at first.
        expires = row.approval_expires_at.astimezone(zone).date() if row.approval_expires_at else date.max
        return (expires, -case_cost(row), row.id)

    # The most urgent as full cards, the next ones a line each, the rest counted ("and N more").
    needs: list[Item] = []
    brief: list[Item] = []
    for row in sorted(waiting_cases, key=urgency):
        proposed = proposals(row)
        total = case_cost(row)
        counts.waiting_cost += total
        if len(needs) + len(brief) >= limit:
            continue
        lines_of = [RemedyLine(
            name=REMEDY_WORDS.get(r.kind, words(r.kind)), details=card_params(r.params),
            cost=money(r.amount, r.currency) if r.amount else "no cost",
        ) for r in proposed]
        if len(needs) >= dc.cards:
            brief.append(Item(
                case_id=row.id, issue=words(row.issue), customer=_order_text(row, zone)[2],
                remedy=" + ".join(line.name for line in lines_of) or "no remedy proposed",
                cost=(money(total, cur) if total else "no cost") if proposed else "",
                expires=local_time(row.approval_expires_at, zone),
                why=clip(in_words(row.approval_reason), 120) or "the policy asks a person to decide",
                quote=_quote(row.mention, zone, 100),
            ))
            continue
        order, lines, who = _order_text(row, zone)
        assessment = row.mention.assessment
        needs.append(Item(
            case_id=row.id,
            quote=_quote(row.mention, zone, dc.quote_chars),
            issue=words(row.issue),
            cues=cues_in_words(assessment.cues if assessment else [], 5, card=True),
            sentiment=assessment.sentiment if assessment else None,
            order=order, order_lines=lines, customer=who, match=_match_text(row),
            remedy=" + ".join(line.name for line in lines_of) or "no remedy proposed",
            remedy_details=lines_of[0].details if len(lines_of) == 1 else "",
            remedies=lines_of,
            cost=(money(total, cur) if total else "no cost") if proposed else "",
            note=next((note_text(r.note, 500) for r in proposed if r.note), ""),
            rule=clean(row.rule), reasons=reasons_of(row),
            why=clip(in_words(row.approval_reason), 300) or "the policy asks a person to decide",
            expires=local_time(row.approval_expires_at, zone),
            approve=f"recoverybot approve {row.id}", reject=f'recoverybot reject {row.id} --reason "..."',
            more_mentions=max(0, len(row.links) - 1), also=_also(row),
        ))
    counts.waiting = len(waiting_cases)

    # Done for you (or, in a dry run, what would have been done).
    dry = config.bot.dry_run
    done_order: Any
    if dry:
        done_filter = and_(Remedy.status == RemedyStatus.DRY_RUN.value,
                           Remedy.created_at >= period.start, Remedy.created_at < period.until)
        done_order = Remedy.created_at
    else:
        done_filter = and_(Remedy.status == RemedyStatus.DISPATCHED.value,
                           Remedy.dispatched_at >= period.start, Remedy.dispatched_at < period.until)
        done_order = Remedy.dispatched_at
    done_total, done_cost = session.execute(
        select(func.count(Remedy.id), func.coalesce(func.sum(Remedy.amount), 0)).where(done_filter)
    ).one()
    if dry:
        counts.would_send, counts.would_send_cost = int(done_total), Decimal(done_cost or 0)
    else:
        counts.sent, counts.sent_cost = int(done_total), Decimal(done_cost or 0)
    done: list[Item] = []
    done_rows = list(session.scalars(
        select(Remedy).where(done_filter).order_by(done_order, Remedy.id).limit(limit).options(*case_load)
    ))
    told = notices_of(session, sorted({r.case_id for r in done_rows}))

    def on_day(moment: datetime | None) -> str:
        return f"{moment.astimezone(zone).day} {moment.astimezone(zone):%b}" if moment else "an unknown day"

    from bot.replies import replied_of

    replied = replied_of(session, sorted({r.case_id for r in done_rows}), on_day)

    for remedy in done_rows:
        row = remedy.case
        order, lines, who = _order_text(row, zone)
        done.append(Item(
            case_id=row.id, quote=_quote(row.mention, zone, min(dc.quote_chars, 240)), issue=words(row.issue),
            order=order, customer=who,
            remedy=REMEDY_WORDS.get(remedy.kind, words(remedy.kind)), remedy_details=card_params(remedy.params),
            cost=money(remedy.amount, remedy.currency) if remedy.amount else "no cost",
            note=note_text(remedy.note, 500), rule=clean(row.rule),
            why="approved by staff" if row.approval_reason else "automatic",
            when=local_time(remedy.dispatched_at or remedy.created_at, zone, "%H:%M"),
            told="; ".join(p for p in (told_text(remedy, told, config, on_day), replied.get(row.id, "")) if p),
            over_budget=_over_budget(row, cur),
            more_mentions=max(0, len(row.links) - 1), also=_also(row),
        ))

    # Failed dispatches: gave up, or still retrying after an error.
    failing_filter = or_(
        and_(Remedy.status == RemedyStatus.FAILED.value, Remedy.created_at >= period.start - timedelta(days=14)),
        and_(Remedy.status == RemedyStatus.QUEUED.value, Remedy.attempts > 0, Remedy.last_error.is_not(None)),
    )
    counts.failed = int(session.scalar(select(func.count(Remedy.id)).where(failing_filter)) or 0)
    failed: list[Item] = []
    for remedy in session.scalars(
        select(Remedy).where(failing_filter).order_by(Remedy.created_at.desc(), Remedy.id).limit(limit)
        .options(*case_load)
    ):
        row = remedy.case
        retrying = remedy.status == RemedyStatus.QUEUED.value
        failed.append(Item(
            case_id=row.id, issue=words(row.issue), customer=_order_text(row, zone)[2],
            remedy=REMEDY_WORDS.get(remedy.kind, words(remedy.kind)), cost=money(remedy.amount, remedy.currency),
            attempts=remedy.attempts, error=clip(remedy.last_error, 300) or "no error recorded",
            why=(f"retrying, next attempt {local_time(remedy.next_attempt_at, zone)}" if retrying
                 else "gave up: deliver it by hand or fix the adapter and re-queue"),
            when=local_time(remedy.created_at, zone),
            quote=_quote(row.mention, zone, 160),
        ))

    # Watch list: unhappy mentions of the day that got no remedy, most severe first, and those the
    # scorer could not read (a language it does not know): a person reads them.
    # Every mention of a case is linked through CaseMention (the first one too).
    watch_filter = and_(
        in_day,
        or_(Assessment.unhappy.is_(True), Assessment.scored.is_(False)),
        or_(Case.id.is_(None), Case.status != CaseStatus.AWAITING_APPROVAL.value),
        ~exists().where(Remedy.case_id == CaseMention.case_id),
    )

    def watch_query(*columns: Any) -> Any:
        return (
            select(*columns)
            .join(Assessment, Assessment.mention_id == Mention.id)
            .outerjoin(CaseMention, CaseMention.mention_id == Mention.id)
            .outerjoin(Case, Case.id == CaseMention.case_id)
            .where(watch_filter)
        )

    counts.watch = int(session.scalar(watch_query(func.count(Mention.id))) or 0)
    watch_rows = session.execute(
        watch_query(Mention, Assessment, Case)
        .order_by(Assessment.sentiment, Mention.rating.is_(None), Mention.rating, Mention.id)
        .limit(limit)
    ).all()
    watch: list[Item] = []
    for mention, assessment, row in watch_rows:
        unread = assessment.scored is False
        watch.append(Item(
            case_id=row.id if row is not None else None, quote=_quote(mention, zone, min(dc.quote_chars, 200)),
            issue="a person should read it" if unread else words(assessment.issue),
            cues=[] if unread else cues_in_words(assessment.cues, 5, card=True),
            sentiment=None if unread else assessment.sentiment,
            why=not_scored_text(assessment.language, assessment.cues) if unread else _why_no_remedy(row),
        ))

    # Source health: the review sources only; the orders sync (its state is "orders:<kind>") is not a
    # source and is shown apart when it fails.
    problems: list[SourceProblem] = []
    orders_problem: SourceProblem | None = None
    states = session.scalars(select(SourceState).order_by(SourceState.name)).all()
    source_names = {s.name for s in config.sources}
    # Sources that work but cannot read all their pages (max_pages, or more pages than the interval
    # allows at the polite pace): never a silent "healthy" (issue 18).
    limits: dict[str, SourceLimit] = {}
    enabled = {s.name for s in config.sources if s.enabled}
    for state in states:
        if not state.name.startswith("orders:"):
            source_names.add(state.name)
        if not state.consecutive_failures and not state.failing_since:
            if (state.last_error_kind == "limit" and state.last_error_at == state.last_run_at
                    and state.name in enabled):
                limits[state.name] = SourceLimit(
                    name=clean(state.name),
                    words=f"its last run found more pages than it may read ({clip(state.last_error_message, 300)}), "
                    "so reviews on those pages are never seen. Raise max_pages for this source in config.toml.")
            continue
        blocked = (state.last_error_kind or "") in {"robots", "blocked"} or bool(
            re.search(r"\b(403|429)\b", state.last_error_message or ""))
        problem = SourceProblem(
            name=clean(state.name), kind=clean(state.kind), state="blocked" if blocked else "failing",
            since=local_time(state.failing_since or state.last_error_at, zone),
            failures=state.consecutive_failures, error=clip(state.last_error_message, 300),
            url=clip(state.last_error_url, 120), last_success=local_time(state.last_success_at, zone) or "never",
        )
        if state.name.startswith("orders:"):
            problem.name = "orders sync"
            orders_problem = problem
        else:
            problems.append(problem)
    counts.sources_failing = len(problems)
    for pacing in pacing_problems(config):
        found = limits.get(pacing.source)
        if found is None:
            limits[pacing.source] = SourceLimit(name=clean(pacing.source), words=pacing.words)
        elif "max_pages" not in pacing.message:  # a cut run already says what max_pages leaves out
            found.words += " Also, " + pacing.words[0].lower() + pacing.words[1:]
    unhealthy = {p.name for p in problems} | set(limits)

    # Budget this month (the month of the digest's day).
    month = session.get(BudgetPeriod, f"month:{period.day:%Y-%m}")
    # Before the month's first remedy there is no budget row yet: the cap is the configured one.
    counts.budget_cap = Decimal(str(config.policy.monthly_budget))
    if month is not None:
        counts.budget_used = Decimal(month.reserved or 0)
        counts.budget_cap = Decimal(month.cap) if month.cap else counts.budget_cap

    # Earlier digests that did not go out.
    missed = [
        {"day": day_label(date.fromisoformat(d.period)), "error": clip(d.last_error, 200) or "unknown error",
         "attempts": d.attempts,
         "status": "may not have been sent (the bot stopped while sending)" if d.status == DigestStatus.SENDING
         else "could not be sent"}
        for d in session.scalars(
            select(Digest).where(Digest.period < period.key,
                                 Digest.period >= (period.day - timedelta(days=14)).isoformat(),
                                 Digest.status.in_([DigestStatus.FAILED, DigestStatus.SENDING]))
            .order_by(Digest.period)
        )
    ]

    chart = _chart(session, config, period, [s.name for s in counts.sources])
    return {
        "counts": counts, "needs": Section(needs, counts.waiting, brief),
        "done": Section(done, int(done_total)), "failed": Section(failed, counts.failed),
        "watch": Section(watch, counts.watch), "problems": problems, "sources_total": len(source_names),
        "limits": list(limits.values()), "sources_healthy": max(0, len(source_names) - len(unhealthy)),
        "orders_problem": orders_problem,
        "missed": missed, "chart": chart,
    }


def _over_budget(row: Any, currency: str) -> str:
    """A person approved this case above the automatic daily budget (``approve`` records it)."""
    for reason in row.reasons or []:
        text = str(reason)
        if not text.startswith("approved above the daily budget"):
            continue
        found = re.search(r"\(([0-9.]+) of ([0-9.]+) reserved on (\d{4}-\d{2}-\d{2})\)", text)
        if found is None:
            return "approved by staff above the automatic daily budget; the monthly budget still holds"
        day = date.fromisoformat(found.group(3))
        return (f"approved by staff above the automatic daily budget: {money(Decimal(found.group(1)), currency)} "
                f"of {money(Decimal(found.group(2)), currency)} used on {day.day} {day:%b}; the monthly budget "
                "still holds")
    return ""


def _why_no_remedy(row: Any) -> str:
    if row is None:
        return "not processed yet"
    status = row.status
    if status == "unmatched":
        n = len(row.candidates or [])
        return f"no order matched ({n} possible, none sure enough)" if n else "no order matched"
    if status == "dismissed":
        return "dismissed"
    reason = clip(in_words(re.sub(r"^rule '[^']*': ", "", str((row.reasons or [""])[0]))), 160)
    if status == "decided":
        return f"no remedy: {reason}" if reason else "the policy offered no remedy"
    return f"{words(status)}" + (f": {reason}" if reason else "")


def _chart(session: Session, config: Config, period: Period, names: list[str]) -> Chart:
    from bot.store import Assessment, Mention

    n = config.digest.chart_days
    zone = period.zone
    days = [period.day - timedelta(days=n - 1 - i) for i in range(n)]
    bounds = [datetime.combine(d, time(0), tzinfo=zone).astimezone(UTC) for d in days]
    bounds.append(period.until)
    posted = func.coalesce(Mention.published_at, Mention.collected_at)
    bucket = case(*[(posted < bounds[i + 1], i) for i in range(n)], else_=n)
    unhappy_sum = func.sum(case((and_(Assessment.unhappy.is_(True), Assessment.scored.is_(True)), 1), else_=0))
    data: dict[str, tuple[list[int], list[int]]] = defaultdict(lambda: ([0] * n, [0] * n))
    for name in names:
        data[name]
    for name, index, total, unhappy in session.execute(
        select(Mention.source, bucket, func.count(Mention.id), unhappy_sum)
        .outerjoin(Assessment, Assessment.mention_id == Mention.id)
        .where(posted >= bounds[0], posted < bounds[-1])
        .group_by(Mention.source, bucket)
    ):
        if index is None or not 0 <= int(index) < n:
            continue
        data[name][0][int(index)] += int(total)
        data[name][1][int(index)] += int(unhappy or 0)
    rows = [ChartRow(clean(name), t, u) for name, (t, u) in data.items()]
    rows.sort(key=lambda r: (-r.sum, r.name))
    everything = ChartRow("all sources", [sum(r.total[i] for r in rows) for i in range(n)],
                          [sum(r.unhappy[i] for r in rows) for i in range(n)])
    _scale(everything, 72)
    for row in rows:
        _scale(row, 26)
    return Chart(
        days=[d.strftime("%d") for d in days], weekdays=[d.strftime("%a")[0] for d in days],
        rows=[everything, *rows],
        height=72,
        caption=f"Mentions per day by the day they were posted, {days[0]:%d %b} to {days[-1]:%d %b}; "
                "red: unhappy.",
    )


def _scale(row: ChartRow, height: int) -> None:
    peak = max(row.total, default=0) or 1
    for total, unhappy in zip(row.total, row.unhappy, strict=True):
        bar = round(height * total / peak)
        if total and bar < 2:
            bar = 2
        red = round(bar * unhappy / total) if total else 0
        if unhappy and red < 1:
            red = 1
        row.heights.append((height - bar, bar - red, red))


def day_label(day: date) -> str:
    return f"{day:%a} {day.day} {day:%b}"


