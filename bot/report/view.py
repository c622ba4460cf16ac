"""What the digest shows: the period it covers, the cards, counts and chart the templates render,
and the small formatting helpers that turn stored values into plain words (money, stars, dates)."""

from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo



if TYPE_CHECKING:
    pass

log = logging.getLogger(__name__)

TEMPLATES = Path(__file__).parent / "templates"


class DigestStatus:
    """Values of ``Digest.status`` (the store keeps them as plain strings)."""

    SENDING = "sending"  # claimed; if the bot dies here we never resend (at most once)
    SENT = "sent"
    FAILED = "failed"
    SKIPPED = "skipped"  # a quiet day with quiet_days = "skip"


# --- the period ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Period:
    """One local day as a half-open UTC interval; ``until`` < ``end`` while the day is not over."""

    day: date
    zone: ZoneInfo
    start: datetime
    end: datetime
    until: datetime

    @classmethod
    def of(cls, day: date, zone: ZoneInfo, now: datetime) -> Period:
        start = datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)
        end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone).astimezone(UTC)
        return cls(day, zone, start, end, min(end, max(start, now)))

    @property
    def key(self) -> str:
        return self.day.isoformat()

    @property
    def partial(self) -> bool:
        return self.until < self.end

    @property
    def hours(self) -> float:
        return (self.end - self.start).total_seconds() / 3600


def previous_day(now: datetime, zone: ZoneInfo) -> date:
    """Yesterday, in local time: the last complete period."""
    return now.astimezone(zone).date() - timedelta(days=1)


def due_day(now: datetime, zone: ZoneInfo, send_at: time) -> date:
    """The latest period whose digest should have gone out by `now` (sent the morning after)."""
    today = now.astimezone(zone).date()
    send_time = datetime.combine(today, send_at, tzinfo=zone)
    return today - timedelta(days=1 if now >= send_time else 2)


# --- what the templates show --------------------------------------------------------------------


@dataclass
class SourceCount:
    name: str
    mentions: int = 0
    unhappy: int = 0
    scored: int = 0  # mentions the scorer read (the unhappy share is of these)


@dataclass
class DigestCounts:
    """The day in numbers (also what the subject line is made of)."""

    mentions: int = 0
    sources: list[SourceCount] = field(default_factory=list)
    unhappy: int = 0
    scored: int = 0  # mentions the scorer read: the one denominator of the unhappy share
    new_cases: int = 0
    sent: int = 0
    sent_cost: Decimal = Decimal(0)
    would_send: int = 0  # dry run: remedies that would have been dispatched
    would_send_cost: Decimal = Decimal(0)
    waiting: int = 0
    waiting_cost: Decimal = Decimal(0)
    failed: int = 0
    watch: int = 0
    sources_failing: int = 0
    budget_used: Decimal = Decimal(0)
    budget_cap: Decimal | None = None
    currency: str = "EUR"

    @property
    def budget_left(self) -> Decimal | None:
        return None if self.budget_cap is None else max(Decimal(0), self.budget_cap - self.budget_used)

    @property
    def quiet(self) -> bool:
        return not (self.unhappy or self.waiting or self.sent or self.would_send or self.failed
                    or self.sources_failing or self.new_cases)

    def as_dict(self) -> dict[str, Any]:
        return {
            "mentions": self.mentions, "per_source": {s.name: s.mentions for s in self.sources},
            "unhappy": self.unhappy, "scored": self.scored, "new_cases": self.new_cases, "sent": self.sent,
            "sent_cost": str(self.sent_cost), "would_send": self.would_send, "waiting": self.waiting,
            "failed": self.failed, "watch": self.watch, "sources_failing": self.sources_failing,
            "budget_used": str(self.budget_used),
            "budget_cap": None if self.budget_cap is None else str(self.budget_cap), "quiet": self.quiet,
        }


@dataclass
class Quote:
    """A mention as shown: text already cut; ``link`` only when the URL is http(s)."""

    source: str
    author: str
    text: str
    title: str
    rating: float | None
    link: str | None
    url_text: str
    when: str
    stars: str


@dataclass
class RemedyLine:
    """One proposed remedy of a case as shown: what, its details in words, and its cost."""

    name: str
    details: str
    cost: str


@dataclass
class Item:
    """One entry of a section (a case, a remedy, a mention); fields unused by a section stay empty."""

    case_id: int | None = None
    quote: Quote | None = None
    issue: str = ""
    cues: list[str] = field(default_factory=list)
    sentiment: float | None = None
    order: str = ""
    order_lines: list[str] = field(default_factory=list)
    customer: str = ""
    match: str = ""
    remedy: str = ""
    remedy_details: str = ""
    remedies: list[RemedyLine] = field(default_factory=list)
    cost: str = ""
    note: str = ""
    rule: str = ""
    reasons: list[str] = field(default_factory=list)
    why: str = ""
    expires: str = ""
    when: str = ""
    attempts: int = 0
    error: str = ""
    approve: str = ""
    reject: str = ""
    more_mentions: int = 0
    told: str = ""  # whether and how the buyer was told ("buyer told by email on 2 Dec")
    over_budget: str = ""  # a person's approval went over the automatic daily budget
    also: list[str] = field(default_factory=list)  # the case's other mentions: "source: author, "words""


@dataclass
class Section:
    """Entries shown in full (``items``), then some in one line each (``brief``), then "and N more"."""

    items: list[Item]
    total: int
    brief: list[Item] = field(default_factory=list)

    @property
    def more(self) -> int:
        return max(0, self.total - len(self.items) - len(self.brief))


@dataclass
class SourceProblem:
    name: str
    kind: str
    state: str  # "failing" | "blocked"
    since: str
    failures: int
    error: str
    url: str
    last_success: str


@dataclass
class SourceLimit:
    """A source that works but cannot read all its pages: what is left out, in words, and what to change."""

    name: str
    words: str


@dataclass
class ChartRow:
    """One source's bars over the chart days (the first row is all sources together)."""

    name: str
    total: list[int]
    unhappy: list[int]
    heights: list[tuple[int, int, int]] = field(default_factory=list)  # (blank, happy, unhappy) px

    @property
    def sum(self) -> int:
        return sum(self.total)

    @property
    def spark(self) -> str:
        return _spark(self.total)

    @property
    def unhappy_spark(self) -> str:
        return _spark(self.unhappy, top=max(self.total) if self.total else 0)


@dataclass
class Chart:
    days: list[str]  # labels, oldest first
    weekdays: list[str]
    rows: list[ChartRow]
    height: int
    caption: str


@dataclass
class DigestReport:
    """A rendered digest; ``status`` tells what :func:`send` did with it."""

    period: str
    day: date
    subject: str
    html: str
    text: str
    images: dict[str, bytes]
    counts: DigestCounts
    status: str = "built"  # built | sent | skipped | failed
    message_id: str | None = None

    def to_message(self, sender: str, to: Sequence[str], *, now: datetime | None = None) -> EmailMessage:
        """multipart/alternative: text first, then HTML (with any image related by Content-ID)."""
        msg = EmailMessage()
        msg["From"] = sender
        msg["To"] = ", ".join(to)
        msg["Subject"] = self.subject
        msg["Date"] = formatdate((now or datetime.now(UTC)).timestamp(), usegmt=True)
        domain = parseaddr(sender)[1].rpartition("@")[2] or "recoverybot.invalid"
        self.message_id = make_msgid("digest", domain=domain)
        msg["Message-ID"] = self.message_id
        # Mark it as machine mail so auto-responders (vacation replies) stay quiet.
        msg["Auto-Submitted"] = "auto-generated"
        msg["X-Auto-Response-Suppress"] = "All"
        msg.set_content(self.text, cte="quoted-printable")
        msg.add_alternative(self.html, subtype="html", cte="quoted-printable")
        if self.images:
            html_part = list(msg.iter_parts())[1]
            assert isinstance(html_part, EmailMessage)
            for cid, png in self.images.items():
                html_part.add_related(png, "image", "png", cid=f"<{cid}>", filename=f"{cid.split('@')[0]}.png")
        return msg


# --- formatting helpers -------------------------------------------------------------------------

# Controls, and the invisible characters that change how text reads or hide in it: zero-width
# spaces and joiners, bidi marks, overrides and isolates ("Trojan Source"), the Arabic letter mark,
# the Mongolian vowel separator, word joiner and invisible operators, and the BOM (U+FEFF, which
# pages and feeds often start with).
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u061c\u180e\u200b-\u200f\u202a-\u202e"
                      "\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb]")
_SYMBOLS = {"EUR": "€", "GBP": "£", "USD": "$"}
REMEDY_WORDS = {
    "replacement": "replacement", "refund": "refund", "store_credit": "store credit",
    "repair_reimbursement": "repair reimbursement", "return_pickup": "return pickup",
    "keep_item": "keep the item", "gesture": "goodwill gesture", "contact": "personal contact",
    "correct_item": "correct item sent", "shipping_credit": "shipping credit",
}


def clean(text: str | None) -> str:
    """Outside text made safe to lay out: control and bidi-override characters removed."""
    if not text:
        return ""
    return _CONTROL.sub("", unicodedata.normalize("NFC", str(text))).replace("\r\n", "\n").replace("\r", "\n")


def clip(text: str | None, limit: int) -> str:
    """At most `limit` characters, cut at a word, with an ellipsis when cut."""
    value = " ".join(clean(text).split()) if text and "\n" not in text else clean(text).strip()
    if len(value) <= limit:
        return value
    cut = value[:limit].rsplit(None, 1)[0] if " " in value[:limit] else value[:limit]
    return cut.rstrip(" ,.;:") + "…"


def safe_link(url: str | None) -> str | None:
    """The URL if it is a plain http(s) address, else None (javascript:, data: never become links)."""
    if not url:
        return None
    value = clean(url).strip()
    if re.match(r"(?i)^https?://[^\s\"'<>]+$", value):
        return value
    return None


def money(amount: Decimal | float | None, currency: str) -> str:
    value = Decimal(str(amount or 0)).quantize(Decimal("0.01"))
    symbol = _SYMBOLS.get(currency)
    return f"{symbol}{value:,}" if symbol else f"{value:,} {currency}"


def stars(rating: float | None) -> str:
    if rating is None:
        return ""
    full = max(0, min(5, round(rating)))
    return "★" * full + "☆" * (5 - full)


def words(value: str | None) -> str:
    return (value or "").replace("_", " ")


def mask(email: str | None) -> str:
    from bot.match import mask_email

    return mask_email(email)


def pct(part: int, whole: int) -> str:
    return f"{round(100 * part / whole)}%" if whole else "0%"


def _spark(values: Sequence[int], top: int | None = None) -> str:
    blocks = " ▁▂▃▄▅▆▇█"
    peak = top if top else max(values, default=0)
    if not peak:
        return "·" * len(values)
    return "".join(blocks[0 if v == 0 else max(1, round(8 * v / peak))] if v else "·" for v in values)


def local_time(moment: datetime | None, zone: ZoneInfo, fmt: str = "%a %d %b %H:%M") -> str:
    return moment.astimezone(zone).strftime(fmt) if moment else ""


def reasons_of(row: Any) -> list[str]:
    """The decision's reasons in words, each once: without the rule's own name before each, and
    without the "waits for approval" ones (the card says why it is not automatic on its own line),
    nor "within the automatic limit" (on a card that waits for a person it only confuses)."""
    prefix = f"rule '{row.rule}': " if row.rule else ""
    why = in_words(row.approval_reason) if getattr(row, "approval_reason", None) else ""
    out: list[str] = []
    for reason in row.reasons or []:
        text = clean(str(reason)).removeprefix(prefix)
        text = re.sub(r"^rule '[^']*': ", "", text)
        if text.startswith("waits for approval: ") or re.match(r"cost .* within (?:the rule's )?auto_up_to", text):
            continue
        text = re.sub(r"^issue is [a-z_ ]+?(?:, |$)", "", text)  # the card's Issue line says it
        said = clip(in_words(text), 160)
        if said and said not in out and said != why:
            out.append(said)
    return out[:5]


def note_text(text: str | None, limit: int) -> str:
    """A customer note, cut, with its blank lines squeezed (it is shown small, for reference)."""
    return re.sub(r"\n\s*\n+", "\n", clip(text, limit))


def params_text(params: dict[str, Any]) -> str:
    parts = []
    for key, value in params.items():
        if key in {"note", "amount", "currency"} or value is None or value == "" or isinstance(value, (dict, list)):
            continue
        if isinstance(value, bool):
            parts.append(words(key) if value else f"no {words(key)}")
            continue
        shown = words(str(value)) if re.fullmatch(r"[a-z]+(?:_[a-z]+)+", str(value)) else clean(str(value))
        parts.append(plural_fix(f"{words(key)} {shown}"))
    return ", ".join(parts)




# What a card says of a remedy's parameters (the order line above it names the order, item and sku).
_CARD_HIDDEN = {"order_number", "sku", "product_name", "items_amount", "window_days", "grace_days", "cap",
                "item_value", "return_cost", "wrong_item", "currency", "amount", "note", "gift_sku", "percent",
                "shipping_credit", "reason"}
_SHIPPING = {"standard": "standard delivery", "expedited": "express delivery", "express": "express delivery",
             "next_day": "next-day delivery"}


def card_params(params: dict[str, Any]) -> str:
    """A remedy's parameters as a card shows them: "standard delivery", "full", "as a gift card",
    "return window waived"; what the order line already says (order, sku, product) and the policy's
    workings (grace days, caps, values) stay on the case page (``recoverybot cases ID``)."""
    parts: list[str] = []
    percent = params.get("percent")
    if params.get("full"):
        parts.append("full")
    elif isinstance(percent, (int, float)) and not isinstance(percent, bool) and percent != 100:
        parts.append(f"{percent:g} % of the price")
    if params.get("shipping_credit"):
        parts.append("shipping included")
    quantity = params.get("quantity")
    if isinstance(quantity, int) and not isinstance(quantity, bool) and quantity > 1:
        parts.append(f"{quantity} items")
    rest = {k: v for k, v in params.items() if k not in _CARD_HIDDEN and k not in {"full", "quantity"}}
    for key, value in rest.items():
        if value is None or value == "" or value is False or isinstance(value, (dict, list)):
            continue
        if key == "shipping":
            parts.append(_SHIPPING.get(str(value), f"{words(str(value))} delivery"))
        elif key == "form":
            parts.append(f"as a {words(str(value))}" if value != "refund" else "to the original payment method")
        elif key == "courier_pickup":
            parts.append("a courier collects it")
        elif key == "window_waived":
            parts.append("return window waived")
        elif key == "message":
            parts.append(f"message “{clip(str(value), 80)}”")
        elif key == "bonus_sku":
            parts.append(f"with a bonus item ({clean(str(value))})")
        else:
            parts.append(params_text({key: value}))
    return ", ".join(p for p in parts if p)


LANGUAGES = {
    "ar": "Arabic", "bg": "Bulgarian", "ca": "Catalan", "cs": "Czech", "da": "Danish", "de": "German",
    "el": "Greek", "en": "English", "es": "Spanish", "et": "Estonian", "fi": "Finnish", "fr": "French",
    "he": "Hebrew", "hi": "Hindi", "hr": "Croatian", "hu": "Hungarian", "id": "Indonesian", "it": "Italian",
    "ja": "Japanese", "ko": "Korean", "lt": "Lithuanian", "lv": "Latvian", "nb": "Norwegian", "nl": "Dutch",
    "no": "Norwegian", "pl": "Polish", "pt": "Portuguese", "ro": "Romanian", "ru": "Russian", "sk": "Slovak",
    "sl": "Slovenian", "sr": "Serbian", "sv": "Swedish", "th": "Thai", "tr": "Turkish", "uk": "Ukrainian",
    "vi": "Vietnamese", "zh": "Chinese",
}


def language_name(code: str | None) -> str:
    code = (code or "").strip().lower()
    return LANGUAGES.get(code.split("-")[0], f"language “{clean(code)}”" if code else "an unknown language")


def not_scored_text(language: str | None, cues: Sequence[Any]) -> str:
    """Why the scorer did not read a text, for a person: "written in German, a language the scorer ..."."""
    code = language
    for cue in cues or []:
        found = re.match(r"not scored: language (\S+?)[;,( ]", f"{cue} ")
        if found:
            code = code or found.group(1)
    if not code:
        return "not scored: the scorer could not read it; please read it"
    name = language_name(code)
    if name.startswith("language"):
        return f"not scored: written in a language the scorer does not read ({name}); please read it"
    return f"not scored: written in {name}, a language the scorer does not read; please read it"


# --- plain words for staff ----------------------------------------------------------------------

_PLURALS = {"days": "day", "remedies": "remedy", "sources": "source", "mentions": "mention", "cases": "case",
            "stars": "star", "failures": "failure", "attempts": "attempt", "hours": "hour", "weeks": "week",
            "orders": "order", "items": "item", "earlier remedies": "earlier remedy"}
_ONE = re.compile(r"(?<![\d.,])(1(?:\.0+)?) (" + "|".join(sorted(map(re.escape, _PLURALS), key=len, reverse=True))
                  + r")\b")


def plural_fix(text: str) -> str:
    """ "1 days" -> "1 day", "1 remedies" -> "1 remedy" (texts made elsewhere count without looking)."""
    return _ONE.sub(lambda m: f"1 {_PLURALS[m.group(2)]}", text)


def plain(text: str | None) -> str:
    """A policy text in words: no setting names (auto_up_to), right plurals."""
    value = clean(text)
    value = re.sub(r" is above (?:the rule's )?auto_up_to (?:[€£$]|[A-Z]{3} )?0(?:\.0+)?(?: [A-Z]{3})?(?![\d.])",
                   ": this rule always asks a person first", value)
    value = re.sub(r"(?:the rule's )?auto_up_to", "the automatic limit of", value)
    value = re.sub(r"\b[a-z]+(?:_[a-z]+)+\b", lambda m: m.group(0).replace("_", " "), value)
    return plural_fix(value)


_IN_WORDS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"\bunsure: "), ""),
    (re.compile(r"(?:the )?scorer confidence \d(?:\.\d+)? is below \d(?:\.\d+)?"),
     "the scorer is not confident it read this right"),
    (re.compile(r"(?:the )?order match confidence \d(?:\.\d+)? is below \d(?:\.\d+)?"),
     "the order match is not certain"),
    (re.compile(r"(?:the )?match confidence \d(?:\.\d+)? is (?:below|under) \d(?:\.\d+)?"),
     "the order match is not certain"),
    # the scorer's raw probabilities after a reason: "(remedy 0.40)", "(remedy 0.84, wrong item 0.59)"
    (re.compile(r" \((?:[a-z ]+ \d\.\d+)(?:, [a-z ]+ \d\.\d+)*\)"), ""),
    (re.compile(r" is >= (-?[\d.]+) and <= (-?[\d.]+)"), r" is between \1 and \2"),
    (re.compile(r" is <= (-?[\d.]+)"), r" is at most \1"),
    (re.compile(r" is >= (-?[\d.]+)"), r" is at least \1"),
    (re.compile(r"\bdelivery is ([a-z ]+)"), r"tracking says \1"),
    (re.compile(r"\bmatch confidence \d(?:\.\d+)? is at least \d(?:\.\d+)?"), "the order match is sure"),
    (re.compile(r"\bconfidence \d(?:\.\d+)? is at least \d(?:\.\d+)?"), "the scorer is confident"),
    (re.compile(r"\bsentiment -?\d(?:\.\d+)? is at most -?\d(?:\.\d+)?"), "the words are negative enough"),
]


def in_words(text: str | None) -> str:
    """A policy text as a card says it to marketing and care staff: :func:`plain`, and no raw
    scores or comparison signs ("scorer confidence 0.35 is below 0.5" -> "the scorer is not
    confident it read this right", "is >= 30 and <= 44" -> "is between 30 and 44"). The case page
    (``recoverybot cases ID``) keeps the figures."""
    value = plain(text)
    for pattern, replacement in _IN_WORDS:
        value = pattern.sub(replacement, value)
    return re.sub(r"\s{2,}", " ", value).strip()


def _percent(value: str) -> str:
    return f"{round(100 * float(value))} %"


def cue_words(cue: Any) -> str | None:
    """One scorer cue as staff read it; None for the engineering ones (raw lexicon scores)."""
    text = clean(str(cue)).strip()
    if not text or re.match(r"(?i)(textblob|vader|emoji) [+-]?\d", text) or text.startswith("text truncated"):
        return None
    model = re.match(r"model: unhappy (\d(?:\.\d+)?)(?:, ([a-z_]+) \d(?:\.\d+)?, remedy \d(?:\.\d+)?)?$", text)
    if model:
        said = f"the scorer is {_percent(model.group(1))} sure this buyer is unhappy"
        return said + (f"; problem: {words(model.group(2))}" if model.group(2) else "")
    if text.startswith("words the model weighed most:"):
        return "words that weighed most:" + text.partition(":")[2]
    rating = re.fullmatch(r"rating (\d+(?:\.\d+)?)/5(.*)", text)
    if rating:
        n = float(rating.group(1))
        return f"{n:g} star{'' if n == 1 else 's'}{rating.group(2)}"
    language = re.fullmatch(r"language (\S+)", text)
    if language:
        return f"written in {language_name(language.group(1))}"
    if text.startswith("not scored"):
        return not_scored_text(None, [text])
    if re.search(r"[+-]\d\.\d\d\b", text):
        return None  # some other raw score
    return plural_fix(words(text))


def cues_in_words(cues: Sequence[Any] | None, limit: int, *, card: bool = False) -> list[str]:
    """The cues in words, each once: two cues that quote the same words of the buyer are one (the
    first says it). ``card``: also without the model's list of weighty words (the case page has it)."""
    out: list[str] = []
    quoted: set[str] = set()
    for cue in cues or []:
        said = cue_words(cue)
        if not said or said in out or (card and said.startswith("words that weighed most")):
            continue
        phrase = re.search(r"\"([^\"]+)\"", said)
        if phrase and phrase.group(1).strip().lower() in quoted:
            continue
        if phrase:
            quoted.add(phrase.group(1).strip().lower())
        out.append(clip(said, 90))
    return out[:limit]
