"""One case in plain words, for `recoverybot cases ID` and the instant alerts.

Reads the dict :func:`bot.decide.staff.case_detail` returns; writes what a customer-care person
needs to decide: who, what they wrote and what the scorer heard in it, the order, every remedy
proposed with its cost and the total, the note the buyer would get, and what happened so far.
"""

from __future__ import annotations

import textwrap
from datetime import datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from bot.report.view import REMEDY_WORDS, clean, clip, cues_in_words, money, note_text, params_text, plain, words

STATUS_WORDS = {
    "new": "new", "matched": "matched to an order", "unmatched": "no order found",
    "decided": "decided", "awaiting_approval": "waits for your approval", "queued": "approved, queued for delivery",
    "dispatched": "remedy delivered", "failed": "remedy could not be delivered", "dismissed": "closed without a remedy",
}
REMEDY_STATUS_WORDS = {
    "proposed": "proposed", "queued": "queued", "dispatched": "delivered", "failed": "could not be delivered",
    "dry_run": "dry run: not sent", "cancelled": "cancelled",
}
ACTION_WORDS = {
    "case_opened": "case opened", "mention_merged": "another mention joined the case",
    "case_merged": "merged with another case", "rematched": "matched again", "decided": "policy decided",
    "approved": "approved", "rejected": "rejected", "approval_expired": "approval ran out",
    "remedy_dispatched": "remedy delivered", "dry_run_reopened": "dry run ended: sent for delivery",
    "dry_run_approved_queued": "approved during the dry run: queued",
    "public_reply_asked": "asked for a public reply under the review", "replied_publicly": "replied publicly",
    "public_reply_failed": "public reply could not be posted",
}


def who(detail: dict[str, Any]) -> str:
    """The buyer as staff know them: name and masked email, else the author of the first mention."""
    customer = detail.get("customer") or {}
    mentions = detail.get("mentions") or [{}]
    name = clean(customer.get("name") or mentions[0].get("author") or "someone unknown")
    if customer.get("email"):
        name += f" <{customer['email']}>"
    return name


def remedy_line(remedy: dict[str, Any], *, params: bool = True) -> str:
    """ "refund €113.00" / "replacement (sku FAN-1, quantity 1)": the kind in words and its cost."""
    kind = REMEDY_WORDS.get(str(remedy.get("kind")), words(str(remedy.get("kind"))))
    amount = Decimal(str(remedy.get("amount") or 0))
    text = kind + (f" {money(amount, str(remedy.get('currency') or 'EUR'))}" if amount else "")
    extra = params_text(dict(remedy.get("params") or {})) if params else ""
    return text + (f" ({extra})" if extra else "")


def total_text(detail: dict[str, Any]) -> str:
    """The proposal's total cost, per currency ("€128.00"); "nothing" when it costs nothing."""
    totals = detail.get("total") or {}
    shown = [money(Decimal(amount), currency) for currency, amount in totals.items() if Decimal(amount)]
    return " + ".join(shown) or "nothing"


def proposal_text(detail: dict[str, Any], *, params: bool = True) -> str:
    """Every live remedy with its cost, and the total: "refund €113.00 + return pickup €15.00 = €128.00"."""
    live = [r for r in detail.get("remedies") or [] if r.get("status") != "cancelled"]
    if not live:
        return "no remedy proposed"
    parts = " + ".join(remedy_line(r, params=params) for r in live)
    return parts if len(live) == 1 else f"{parts} = {total_text(detail)}"


def _when(value: str | None, zone: ZoneInfo, fmt: str = "%Y-%m-%d %H:%M") -> str:
    if not value:
        return ""
    return datetime.fromisoformat(value).astimezone(zone).strftime(fmt)


def _wrap(text: str, indent: str, width: int = 100) -> list[str]:
    out: list[str] = []
    for paragraph in clean(text).split("\n"):
        out.extend(textwrap.wrap(paragraph, width, initial_indent=indent, subsequent_indent=indent) or [indent.rstrip()])
    return out


def render_case(detail: dict[str, Any], zone: ZoneInfo, *, note_chars: int = 1200) -> str:
    """The whole case as text (every part shown; only the note preview is cut, with an ellipsis)."""
    case_id = detail["id"]
    status = str(detail.get("status"))
    lines = [f"Case {case_id}: {words(detail.get('issue'))}, {STATUS_WORDS.get(status, words(status))}"]
    if detail.get("approval_reason"):
        lines.append(f"Why it waits: {plain(detail['approval_reason'])}")
    if detail.get("approval_expires_at"):
        lines.append(f"Approve it by: {_when(detail['approval_expires_at'], zone)}")
    lines.append(f"Buyer: {who(detail)}")
    order = detail.get("order")
    if order:
        said = f"Order: {clean(order['number'])} ({order['origin']})"
        if order.get("placed_at"):
            said += f", placed {_when(order['placed_at'], zone, '%Y-%m-%d')}"
        if order.get("delivered_at"):
            said += f", delivered {_when(order['delivered_at'], zone, '%Y-%m-%d')}"
        elif order.get("tracking_status"):
            said += f", tracking says {words(order['tracking_status'])}"
        lines.append(said)
        for line in order.get("lines") or []:
            price = money(Decimal(str(line.get("unit_price") or 0)), str(order.get("currency") or "EUR"))
            lines.append(f"  {line.get('quantity')} x {clean(line.get('name'))} ({clean(line.get('sku') or 'no sku')}), "
                         f"{price} each")
        if order.get("complained_about"):
            lines.append(f"  complained about: {clean(order['complained_about'])}")
    else:
        lines.append("Order: none found")
    if detail.get("match_confidence") is not None:
        reasons = "; ".join(plain(str(r)) for r in detail.get("match_reasons") or [])
        lines.append(f"  matched {round(100 * float(detail['match_confidence']))} % sure" + (f": {reasons}" if reasons else ""))

    mentions = detail.get("mentions") or []
    lines += ["", f"What they wrote ({len(mentions)} mention{'' if len(mentions) == 1 else 's'}):"]
    for mention in mentions:
        head = f"  #{mention['id']} on {clean(mention.get('source'))}"
        if mention.get("rating") is not None:
            stars = float(mention["rating"])
            head += f", {stars:g} star{'' if stars == 1 else 's'}"
        if mention.get("published_at"):
            head += f", {_when(mention['published_at'], zone, '%Y-%m-%d')}"
        if mention.get("author"):
            head += f", by {clean(mention['author'])}"
        lines.append(head)
        if mention.get("title"):
            lines += _wrap(f"“{mention['title']}”", "    ")
        lines += _wrap(str(mention.get("text") or mention.get("excerpt") or ""), "    ")
        if mention.get("url"):
            lines.append(f"    {clean(mention['url'])}")
        assessment = mention.get("assessment")
        if assessment:
            heard = cues_in_words(assessment.get("cues"), 8)
            if heard:
                lines.append("    what the scorer noticed: " + "; ".join(heard))

    lines += ["", "Proposed:"]
    remedies = detail.get("remedies") or []
    if not remedies:
        lines.append("  nothing: no policy rule gave a remedy")
    for index, remedy in enumerate(remedies, start=1):
        state = REMEDY_STATUS_WORDS.get(str(remedy.get("status")), words(str(remedy.get("status"))))
        extra = f", through {remedy['adapter']}" if remedy.get("adapter") else ""
        lines.append(f"  {index}. {remedy_line(remedy)}: {state}{extra}")
        if remedy.get("last_error"):
            lines += _wrap(f"last error: {remedy['last_error']}", "     ")
    if remedies:
        lines.append(f"  Total: {total_text(detail)}")
    notes = [r for r in remedies if (r.get("note") or "").strip()]
    if notes:
        lines += ["", "Note to the buyer:"]
        lines += _wrap(note_text(notes[0]["note"], note_chars), "  ")
    history = detail.get("history") or []
    why = [clip(plain(str(r)), 300) for r in detail.get("reasons") or []]
    if history or why:
        lines += ["", "History:"]
        for entry in history:
            action = ACTION_WORDS.get(str(entry.get("action")), words(str(entry.get("action"))))
            said = f"  {_when(entry.get('at'), zone)} {clean(entry.get('actor'))}: {action}"
            told = (entry.get("detail") or {}).get("reason") or (entry.get("detail") or {}).get("note")
            lines.append(said + (f": {clip(str(told), 200)}" if told else ""))
        if why:
            lines.append("  Why the policy decided so:")
            lines += [f"    - {reason}" for reason in why]
    if status == "awaiting_approval":
        lines += ["", f"What to do: recoverybot approve {case_id}   or   recoverybot reject {case_id} --reason \"...\""]
    return "\n".join(lines)


__all__ = ["proposal_text", "remedy_line", "render_case", "total_text", "who"]
