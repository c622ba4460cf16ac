"""Matching: find the unhappy buyer's real order, with a confidence and the reasons.

A replacement can only go to a real order, so a mention is matched to (customer, order, line)
from evidence the policy can weigh and staff can read:

- identity: the platform-verified buyer email (strongest), a social handle linked to a customer
  (from the order export or ``recoverybot customers link``), the reviewer's name against the
  customer's name (case, accents, initials and "John D." forms are normalised); an order number
  the mention quotes (``raw["order_number"]``, e.g. an email to support) points at that order;
- product: SKU, product URL or a fuzzy product-name match against the order's lines; when the
  mention names a product the customer never bought from us, that customer is ruled out;
- time: the mention comes after delivery (after the expected delivery for ``not_delivered``
  complaints) and within ``window_days``; a complaint posted before delivery is still matched but
  flagged ``before_delivery`` so the policy sends it to approval.

Each piece of evidence adds its weight (``[matching]`` weights) to the confidence, capped at 1.
Several candidates within ``ambiguity_margin`` of the best make the result ``unmatched`` with the
candidates kept for the digest; nothing below ``threshold`` is matched.

Handles are stored normalised (see :func:`normalise_handle`): lower-case, no leading ``@``,
``platform:name`` when the platform is known (``mastodon:maria@shop.social``, ``reddit:maria_l``,
``bluesky:maria.bsky.social``), plain ``name`` when not (``@maria_l`` in an export). A plain
handle matches that name on any platform; a qualified one only on its platform.

Emails never leave the store unmasked: results and candidates carry :func:`mask_email` forms.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from bot.errors import UsageError
from bot.match_settings import MatchConfig
from bot.store import Customer, CustomerHandle, CustomerNameKey, Mention, Order, OrderLine, utcnow
from bot.store.keys import ANY, customer_pair_keys, fold, name_keys, pair_lookup_keys


class HandleNotLinked(UsageError):
    """`customers link` was given an email no imported customer has."""


@dataclass
class MatchResult:
    """What matching found for one mention; JSON-friendly (emails masked)."""

    matched: bool
    customer_id: int | None = None
    order_id: int | None = None
    order_line_id: int | None = None
    confidence: float = 0.0
    reasons: list[str] = field(default_factory=list)
    candidates: list[dict[str, Any]] = field(default_factory=list)
    why_unmatched: str | None = None
    # The complaint was posted before the order was delivered (or before its expected delivery
    # for not_delivered): the policy sends such cases to approval.
    before_delivery: bool = False


# --- normalisation --------------------------------------------------------------------------

# Source kinds whose handles live in a platform namespace.
_PLATFORM_OF_KIND = {
    "mastodon": "mastodon",
    "reddit": "reddit",
    "bluesky": "bluesky",
    "hackernews": "hn",
    "hn": "hn",
    "twitter": "x",
    "x": "x",
    "instagram": "instagram",
    "tiktok": "tiktok",
}
_KNOWN_PLATFORMS = set(_PLATFORM_OF_KIND.values()) | {"twitter", "hackernews"}
_PLATFORM_ALIASES = {"twitter": "x", "hackernews": "hn"}


def platform_of(source_kind: str | None) -> str | None:
    """The handle namespace of a source kind ('mastodon'), or None for review sites."""
    return _PLATFORM_OF_KIND.get((source_kind or "").lower())


def normalise_handle(handle: str, platform: str | None = None) -> str:
    """A handle in its stored form: lower-case, no leading '@', 'platform:name' when known.

    '@Maria_L' -> 'maria_l'; 'mastodon:@maria@shop.social' -> 'mastodon:maria@shop.social';
    '@maria@shop.social' (any source) -> 'mastodon:maria@shop.social' (a fediverse address);
    'u/Maria' or '/u/maria' -> 'reddit:maria'; 'maria.bsky.social' from bluesky ->
    'bluesky:maria.bsky.social'. ``platform`` is the namespace of where it was seen, if any.
    """
    text = handle.strip().lower()
    prefix, sep, rest = text.partition(":")
    if sep and prefix in _KNOWN_PLATFORMS and rest:
        platform, text = prefix, rest
    text = text.strip()
    if text.startswith(("/u/", "u/")):
        platform, text = "reddit", text.split("u/", 1)[1]
    text = text.lstrip("@")
    if "@" in text and platform is None:
        platform = "mastodon"  # user@instance is a fediverse address
    if platform:
        platform = _PLATFORM_ALIASES.get(platform, platform)
        return f"{platform}:{text}"
    return text


def handle_keys(handle: str, source_kind: str | None) -> list[str]:
    """Stored handle forms a mention's author_handle may be linked under (qualified first)."""
    qualified = normalise_handle(handle, platform_of(source_kind))
    keys = [qualified]
    bare = qualified.split(":", 1)[1] if ":" in qualified else qualified
    if bare not in keys:
        keys.append(bare)
    if "@" in bare:  # 'maria@shop.social' may also be linked as plain 'maria'
        local = bare.split("@", 1)[0]
        if local and local not in keys:
            keys.append(local)
    return keys


def mask_email(email: str | None) -> str:
    """'john.doe@example.com' -> 'j***@example.com' (emails never leave the store unmasked)."""
    if not email:
        return ""
    local, sep, domain = email.strip().partition("@")
    if not sep:
        return "***"
    return f"{local[:1]}***@{domain.lower()}"


def find_customer(session: Session, email: str, *, scan: bool = True) -> Customer | None:
    """The customer with this email: the unique index first (we store emails lower-case), then,
    with ``scan``, a case-insensitive scan for rows written by other means."""
    wanted = email.strip().lower()
    customer = session.scalars(select(Customer).where(Customer.email == wanted)).first()
    if customer is None and scan:
        customer = session.scalars(select(Customer).where(func.lower(Customer.email) == wanted)).first()
    return customer


_fold = fold  # lower-case, accents removed, punctuation to spaces (bot.store.keys)


def name_similarity(reviewer: str | None, customer: str | None) -> tuple[float, str]:
    """How well a reviewer's name fits a customer's name (0..1) and how it fits, in words.

    Exact (after folding case, accents and order) 1.0; initials compatible ("John D.", "J. Doe")
    0.8; a close spelling 0.9 x ratio; a first name alone 0.5.
    """
    a, b = _fold(reviewer or "").split(), _fold(customer or "").split()
    if not a or not b:
        return 0.0, ""
    if sorted(a) == sorted(b):
        return 1.0, "name matches"
    if len(a) >= 2 and _initials_fit(a, b):
        return 0.8, "name matches with initials"
    if not set(a) & set(b) and a[0][:1] != b[0][:1] and a[-1][:1] != b[-1][:1]:
        return 0.0, ""  # no shared word and no shared initial: cannot be a close spelling either
    matcher = difflib.SequenceMatcher(None, " ".join(a), " ".join(b))
    ratio = matcher.ratio() if matcher.real_quick_ratio() >= 0.85 and matcher.quick_ratio() >= 0.85 else 0.0
    if ratio >= 0.85:
        return round(0.9 * ratio, 3), "name spelled nearly the same"
    if len(a) == 1 and len(a[0]) > 1 and a[0] == b[0]:
        return 0.5, "first name matches"
    return 0.0, ""


def _initials_fit(short: list[str], full: list[str]) -> bool:
    """Every reviewer token is a customer token or its initial, in order, first and last present."""
    if len(short) > len(full):
        return False
    if not _token_fits(short[0], full[0]) or not _token_fits(short[-1], full[-1]):
        return False
    position = 1
    for token in short[1:-1]:
        while position < len(full) - 1 and not _token_fits(token, full[position]):
            position += 1
        if position >= len(full) - 1:
            return False
        position += 1
    return any(len(t) > 1 for t in short)


def _token_fits(token: str, full: str) -> bool:
    return token == full or (len(token) == 1 and full.startswith(token))


def _url_key(url: str | None) -> str:
    """Host and path of a product URL, lower-case, without query or trailing slash."""
    if not url:
        return ""
    parts = urlsplit(url.strip())
    host = parts.netloc.lower().removeprefix("www.")
    return f"{host}{parts.path.rstrip('/').lower()}"


def product_similarity(mention: Mention, line: OrderLine) -> tuple[float, str]:
    """How well the product a mention names fits an order line (0..1), and why."""
    if mention.product_sku and line.sku and mention.product_sku.strip().lower() == line.sku.strip().lower():
        return 1.0, f"bought {line.sku} in this order"
    if mention.product_url and line.product_url:
        a, b = _url_key(mention.product_url), _url_key(line.product_url)
        # Same path on the same host, or the same path when one side has no host.
        if a and b and (a == b or (a.split("/", 1)[-1] == b.split("/", 1)[-1] and "/" in a and "/" in b)):
            return 1.0, f"bought the product at {line.product_url} in this order"
    if mention.product_name and line.name:
        ratio = _name_ratio(mention.product_name, line.name)
        if ratio > 0:
            return ratio, f"bought {line.name!r} in this order (name {int(ratio * 100)}% alike)"
    return 0.0, ""


def _name_ratio(a: str, b: str) -> float:
    """Product-name likeness: sequence ratio, or token containment for shortened names."""
    x, y = _fold(a), _fold(b)
    if not x or not y:
        return 0.0
    ratio = difflib.SequenceMatcher(None, x, y).ratio()
    tx, ty = set(x.split()), set(y.split())
    contained = len(tx & ty) / min(len(tx), len(ty))
    if contained == 1.0 and min(len(tx), len(ty)) >= 2:
        ratio = max(ratio, 0.9)
    return round(ratio, 3)


def _text_names(text: str, line: OrderLine) -> float:
    """Whether a post's text names the line's product (all its words, or most of a long name)."""
    words = set(_fold(text).split())
    name = [w for w in _fold(line.name).split() if len(w) > 2]
    if not name:
        return 0.0
    found = sum(1 for w in name if w in words) / len(name)
    if found == 1.0:
        return 0.8
    if found >= 0.66 and len(name) >= 3:
        return 0.6
    return 0.0


def _names_product(mention: Mention) -> bool:
    return bool(mention.product_sku or mention.product_url or mention.product_name)


def _product_label(mention: Mention) -> str:
    return mention.product_name or mention.product_sku or mention.product_url or "the product"


# --- matching -------------------------------------------------------------------------------


@dataclass
class _Candidate:
    customer: Customer
    order: Order
    line: OrderLine | None
    identity: float
    score: float  # uncapped sum of evidence: ranks candidates even when several reach 1.0
    reasons: list[str]
    before_delivery: bool

    @property
    def confidence(self) -> float:
        return min(1.0, self.score)

    def as_dict(self) -> dict[str, Any]:
        return {
            "customer_id": self.customer.id,
            "customer": mask_email(self.customer.email),
            "name": self.customer.name,
            "order_id": self.order.id,
            "order_number": self.order.number,
            "order_line_id": self.line.id if self.line else None,
            "sku": self.line.sku if self.line else None,
            "product": self.line.name if self.line else None,
            "confidence": round(self.confidence, 3),
            "score": round(self.score, 3),
            "reasons": list(self.reasons),
            "before_delivery": self.before_delivery,
        }


def _identities(session: Session, mention: Mention, config: MatchConfig, since: datetime,
                overflow: list[bool]) -> dict[int, tuple[Customer, float, list[str]]]:
    """Customers the mention's author may be, with identity evidence and its words;
    ``overflow[0]`` is set when the name fits too many customers to look them up."""
    found: dict[int, tuple[Customer, float, list[str]]] = {}

    def add(customer: Customer, score: float, reason: str) -> None:
        old = found.get(customer.id)
        if old is None:
            found[customer.id] = (customer, score, [reason])
        else:
            found[customer.id] = (customer, min(1.0, old[1] + score), old[2] + [reason])

    if mention.author_email:
        customer = find_customer(session, mention.author_email)
        if customer is not None:
            add(customer, config.weight_email,
                f"verified buyer email {mask_email(mention.author_email.lower())} is this customer's")
    if mention.author_handle:
        keys = handle_keys(mention.author_handle, mention.source_kind)
        rows = session.scalars(select(CustomerHandle).where(CustomerHandle.handle.in_(keys))).all()
        for row in sorted(rows, key=lambda r: keys.index(r.handle))[:1] if rows else []:
            how = "linked by staff" if row.origin == "manual" else "from the order export"
            add(row.customer, config.weight_handle, f"handle {row.handle} is linked to this customer ({how})")
    quoted = quoted_order(session, mention)
    if quoted is not None and quoted.customer is not None:
        # Identity from the quote alone is none: the weight goes to the quoted order (_score_order).
        add(quoted.customer, 0.0, f"the message quotes order {quoted.number}, this customer's")
    if mention.author_name and _fold(mention.author_name):
        fits = bounded_name_candidates(session, mention.author_name, since, config.name_min, config.name_candidates)
        if fits is None:
            # Too common to look up: the name still counts for the people found otherwise.
            overflow[0] = True
            fits = {}
            known = [c.id for c, _score, _why in found.values() if c.name]
            recent = set(session.scalars(select(Order.customer_id).where(
                Order.customer_id.in_(known), Order.placed_at >= since))) if known else set()
            for customer, _score, _why in list(found.values()):
                if customer.id in recent:
                    similarity, how = name_similarity(mention.author_name, customer.name)
                    if similarity >= config.name_min:
                        fits[customer.id] = (similarity, how)
        missing = [cid for cid in fits if cid not in found]
        loaded = {c.id: c for c in session.scalars(select(Customer).where(Customer.id.in_(missing)))} if missing else {}
        for customer_id, (similarity, how) in fits.items():
            customer = found[customer_id][0] if customer_id in found else loaded.get(customer_id)
            if customer is not None:
                add(customer, config.weight_name * similarity,
                    f"{how}: {mention.author_name!r} ~ {customer.name!r}")
    return found


def name_candidates(session: Session, author_name: str, since: datetime,
                    name_min: float) -> dict[int, tuple[float, str]]:
    """Customers with an order since ``since`` whose name fits ``author_name`` (similarity >=
    ``name_min``), by id, with the similarity and how it fits, in words.

    Candidates are looked up by their name keys (bot.store.keys) instead of comparing every
    recent customer; a reviewer's name of initials only has no key and is compared with them all.
    Only (id, name) pairs are read; the caller loads the few that fit. Unbounded: see
    :func:`bounded_name_candidates` for what matching uses.
    """
    found = _name_fits(session, author_name, since, name_min, None)
    assert found is not None
    return found


def bounded_name_candidates(session: Session, author_name: str, since: datetime, name_min: float,
                            limit: int) -> dict[int, tuple[float, str]] | None:
    """:func:`name_candidates`, comparing at most ``limit`` customers: when the name's word keys
    find more, only customers whose first and last name both fit (pair keys: the same words, an
    initial, one letter short in one of them, or the words reordered) are compared; None when even
    those are more than ``limit`` (a name this common says nothing of who wrote it)."""
    return _name_fits(session, author_name, since, name_min, limit)


def _name_fits(session: Session, author_name: str, since: datetime, name_min: float,
               limit: int | None) -> dict[int, tuple[float, str]] | None:
    wanted = name_keys(author_name)
    if wanted is None:  # initials only: compared with every recent customer, as before
        stmt = select(Customer.id, Customer.name).where(_recent(Customer.id, since), Customer.name.is_not(None))
        rows = list(session.execute(stmt.order_by(Customer.id).limit(None if limit is None else limit + 1)))
        if limit is not None and len(rows) > limit:
            return None
    else:
        ids = _keyed(session, [*wanted, ANY], since, limit)
        if ids is None:
            pairs = pair_lookup_keys(author_name)
            ids = _keyed(session, pairs, since, limit) if pairs else None
            if ids is None:
                return None
        rows = []
        for start in range(0, len(ids), 500):
            rows += session.execute(select(Customer.id, Customer.name).where(
                Customer.id.in_(ids[start:start + 500]), Customer.name.is_not(None))).all()
    fits: dict[int, tuple[float, str]] = {}
    for customer_id, name in sorted(rows, key=lambda row: row[0]):
        similarity, how = name_similarity(author_name, name)
        if similarity >= name_min:
            fits[customer_id] = (similarity, how)
    return fits


def _recent(customer_id: Any, since: datetime) -> Any:
    return select(Order.id).where(Order.customer_id == customer_id, Order.placed_at >= since).exists()


ROWS_PER_CUSTOMER = 8  # key rows a bounded lookup reads per customer it may compare (a two-word name has ~8)


def _keyed(session: Session, keys: list[str], since: datetime, limit: int | None) -> list[int] | None:
    """Ids of the customers with an order since ``since`` stored under any of ``keys`` (sorted);
    None when more than ``limit``, or when the keys hold more than ``limit`` x ROWS_PER_CUSTOMER
    rows: the read stops there, so a common word costs that many index rows, not every customer
    who has it."""
    if not keys:
        return []
    stmt = select(CustomerNameKey.customer_id).where(CustomerNameKey.key.in_(keys),
                                                     _recent(CustomerNameKey.customer_id, since))
    if limit is None:
        return sorted(set(session.scalars(stmt)))
    most = limit * ROWS_PER_CUSTOMER
    rows = session.scalars(stmt.limit(most + 1)).all()
    found = set(rows)
    if len(rows) > most or len(found) > limit:
        return None
    return sorted(found)


def _reference(order: Order, issue: str | None, config: MatchConfig) -> tuple[datetime | None, str]:
    """When the buyer could first complain about this order, and what that moment is."""
    shipped = _extra_time(order, "shipped_at") or order.placed_at
    expected = order.expected_delivery_at or shipped + timedelta(days=config.expected_delivery_days)
    if issue == "not_delivered":
        return expected, "expected delivery"
    if order.delivered_at is not None:
        return order.delivered_at, "delivery"
    tracking = (order.tracking_status or "").lower()
    if tracking == "delivered":
        return expected, "delivery (tracking says delivered)"
    if not tracking and (order.fulfillment_status or "").lower() == "fulfilled" and expected is not None:
        # Shops without carrier tracking (WooCommerce core): assume it arrived when expected.
        return expected, "expected delivery (shipped, no tracking)"
    return None, "delivery"


def _extra_time(order: Order, key: str) -> datetime | None:
    value = (order.extra or {}).get(key)
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def match_mention(
    session: Session,
    mention: Mention,
    config: MatchConfig,
    *,
    issue: str | None = None,
    now: datetime | None = None,
) -> MatchResult:
    """Match one mention to the buyer's order line, with a confidence (0..1) and the reasons.

    ``issue`` is the scorer's issue: ``not_delivered`` measures time from the expected delivery
    instead of the delivery. Never raises for a mention it cannot match: the result says why.
    """
    when = mention.published_at or mention.collected_at or now or utcnow()
    window = timedelta(days=config.window_days)
    # Name candidates are looked for among buyers of the last two windows (plus delivery time):
    # enough to explain "outside the window", small enough for a big shop's fuzzy pass.
    since = when - 2 * window - timedelta(days=max(config.expected_delivery_days, 60))
    overflow = [False]
    people = _identities(session, mention, config, since, overflow)
    if not people:
        if overflow[0]:
            return MatchResult(matched=False, why_unmatched=_too_common(mention, config))
        return MatchResult(matched=False, why_unmatched=_nobody(mention))

    candidates: list[_Candidate] = []
    ruled_out: list[str] = []
    # Every candidate's orders in one query (with their lines), newest first as before.
    orders_of: dict[int, list[Order]] = {}
    ids = list(people)
    for start in range(0, len(ids), 500):
        for order in session.scalars(
            select(Order).where(Order.customer_id.in_(ids[start:start + 500])).options(selectinload(Order.lines))
            .order_by(Order.placed_at.desc())
        ):
            orders_of.setdefault(order.customer_id, []).append(order)
    for customer, identity, id_reasons in people.values():
        orders = orders_of.get(customer.id, [])
        mine: list[_Candidate] = []
        notes: list[str] = []
        for order in orders:
            cand = _score_order(mention, customer, order, identity, id_reasons, config, issue, when, notes)
            if cand is not None:
                mine.append(cand)
        if mine:
            candidates.extend(mine)
        else:
            ruled_out.append(f"{customer.name or 'customer'} ({mask_email(customer.email)}): "
                             + ("; ".join(dict.fromkeys(notes)) or "no orders"))

    if not candidates:
        return MatchResult(
            matched=False,
            why_unmatched="the author looks like a customer, but no order fits: " + " | ".join(ruled_out),
        )
    candidates.sort(key=lambda c: (-c.score, -c.order.placed_at.timestamp()))
    best = candidates[0]
    kept = [c.as_dict() for c in candidates[: config.max_candidates]]
    close = [c for c in candidates[1:] if best.score - c.score < config.ambiguity_margin]
    if best.confidence < config.threshold:
        return MatchResult(
            matched=False,
            confidence=round(best.confidence, 3),
            reasons=list(best.reasons),
            candidates=kept,
            why_unmatched=f"best candidate order {best.order.number} scores {best.confidence:.2f}, below the "
            f"threshold {config.threshold:.2f} ({'; '.join(best.reasons)})",
            before_delivery=best.before_delivery,
        )
    if close:
        same_person = all(c.customer.id == best.customer.id for c in close)
        what = (f"{len(close) + 1} orders of the same customer fit equally well"
                if same_person else f"{len({c.customer.id for c in [best, *close]})} customers fit equally well")
        numbers = ", ".join(c.order.number for c in [best, *close])
        return MatchResult(
            matched=False,
            confidence=round(best.confidence, 3),
            reasons=list(best.reasons),
            candidates=kept,
            why_unmatched=f"ambiguous: {what} (orders {numbers}; scores within {config.ambiguity_margin:.2f})",
            before_delivery=best.before_delivery,
        )
    return MatchResult(
        matched=True,
        customer_id=best.customer.id,
        order_id=best.order.id,
        order_line_id=best.line.id if best.line else None,
        confidence=round(best.confidence, 3),
        reasons=list(best.reasons),
        candidates=kept,
        before_delivery=best.before_delivery,
    )


def quoted_order(session: Session, mention: Mention) -> Order | None:
    """The order the mention quotes (``raw["order_number"]``, with or without "#"), when the shop has it."""
    number = (mention.raw or {}).get("order_number") if isinstance(mention.raw, dict) else None
    if not isinstance(number, str) or not number.strip():
        return None
    bare = number.strip().lstrip("#").strip()
    forms = list(dict.fromkeys([number.strip(), bare, f"#{bare}"]))
    return session.scalars(select(Order).where(Order.number.in_(forms)).limit(1)).first()


def _too_common(mention: Mention, config: MatchConfig) -> str:
    return (f"the name {mention.author_name!r} fits more than {config.name_candidates} customers "
            "([matching] name_candidates): the name alone cannot tell who wrote this; an email, a linked "
            "handle (`recoverybot customers link`) or an order number would")


def _nobody(mention: Mention) -> str:
    said = []
    if mention.author_email:
        said.append(f"email {mask_email(mention.author_email)}")
    if mention.author_handle:
        said.append(f"handle {mention.author_handle}")
    if mention.author_name:
        said.append(f"name {mention.author_name!r}")
    if not said:
        return "the mention names no author (no email, handle or name)"
    return "no customer matches the author's " + ", ".join(said) + " (link a handle with `recoverybot customers link`)"


def _score_order(
    mention: Mention,
    customer: Customer,
    order: Order,
    identity: float,
    id_reasons: list[str],
    config: MatchConfig,
    issue: str | None,
    when: datetime,
    notes: list[str],
) -> _Candidate | None:
    """One order of a possible customer as a candidate, or None (with a note) when it cannot be."""
    if (order.fulfillment_status or "").lower() == "cancelled":
        notes.append(f"order {order.number} was cancelled")
        return None
    if order.placed_at > when:
        notes.append(f"order {order.number} was placed after the mention")
        return None
    reasons = list(id_reasons)
    # Product: the best line; a named product nobody in this order bought rules the order out.
    line: OrderLine | None = None
    product = 0.0
    why_product = ""
    for candidate_line in order.lines:
        score, why = product_similarity(mention, candidate_line)
        if score < config.product_min and not _names_product(mention):
            text_score = _text_names(f"{mention.title or ''} {mention.text}", candidate_line)
            if text_score:
                score, why = text_score, f"the post names {candidate_line.name!r}, bought in this order"
        if score > product:
            line, product, why_product = candidate_line, score, why
    if _names_product(mention) and product < config.product_min:
        notes.append(f"never bought {_product_label(mention)!r} from us")
        return None
    if product < config.product_min:
        product = 0.0
        line = order.lines[0] if len(order.lines) == 1 else None
        if line is None and order.lines:
            reasons.append(f"which of the {len(order.lines)} items is meant is unknown")
    else:
        reasons.append(why_product)

    reference, what = _reference(order, issue, config)
    timing = 0.0
    before = False
    if reference is None or when < reference:
        before = True
        status = order.tracking_status or order.fulfillment_status or "unknown"
        reasons.append(f"posted before {what} of order {order.number} (tracking: {status})")
    else:
        age = when - reference
        if age > timedelta(days=config.window_days):
            notes.append(f"order {order.number}: {what} was {age.days} days before the mention, "
                         f"outside the {config.window_days}-day window")
            return None
        timing = config.weight_timing
        reasons.append(f"posted {age.days} days after {what} of order {order.number}")
    quote = 0.0
    number = (mention.raw or {}).get("order_number") if isinstance(mention.raw, dict) else None
    if isinstance(number, str) and order.number.strip().lstrip("#") == number.strip().lstrip("#"):
        quote = config.weight_order_number
        reasons.append(f"the message quotes order number {order.number}")
    score = identity + config.weight_product * product + timing + quote
    return _Candidate(customer, order, line, identity, score, reasons, before)


def order_key(number: str) -> str:
    """An order number as a lookup key: without '#' and spaces ('#10234' and '10234' are one)."""
    return "order:" + number.strip().lstrip("#").strip()[:100]


def mention_keys(email: str | None, handle: str | None, name: str | None, source_kind: str | None,
                 raw: Any) -> list[str]:
    """Who a mention may be, as lookup keys (``MentionKey``): every way :func:`match_mention` finds
    a customer (email, handle forms, the quoted order, the name's keys) as the key a customer
    has for it (:func:`customer_keys`). A name of two words or more gives its pair lookup keys
    (bot.store.keys: first and last name as written, an initial, one letter short in one of them,
    reordered), a single word its word keys, initials only the key that meets everyone."""
    keys: set[str] = set()
    if email and email.strip():
        keys.add("email:" + email.strip().lower())
    if handle:
        keys.update("handle:" + form for form in handle_keys(handle[:300], source_kind))
    number = raw.get("order_number") if isinstance(raw, dict) else None
    if isinstance(number, str) and number.strip():
        keys.add(order_key(number))
    names = name_keys(name)
    pairs = pair_lookup_keys(name) if names is not None else []
    # A name of two words or more is kept by its pair keys only: a common first name's word key
    # would tie the mention to every customer who has it, and each would be compared after a sync.
    keys.update(["name:" + ANY] if names is None else ["name:" + k for k in pairs or names])
    return sorted(k[:400] for k in keys)


def customer_keys(session: Session, customer_ids: list[int]) -> tuple[dict[str, set[str]], bool]:
    """The lookup keys of these customers (email, handles, order numbers, name keys) that a
    mention's :func:`mention_keys` meet when it may be them, each with the names of the customers
    who have it (for name keys); and whether one of them has a name of initials only (no key
    narrows who may be them)."""
    keys: dict[str, set[str]] = {"name:" + ANY: set()}
    initials_only = False
    for start in range(0, len(customer_ids), 500):
        chunk = customer_ids[start:start + 500]
        for email, name in session.execute(select(Customer.email, Customer.name).where(Customer.id.in_(chunk))):
            keys.setdefault("email:" + email.strip().lower(), set())
            names = name_keys(name)
            if names is None:
                initials_only = True
            for key in (names or []) + customer_pair_keys(name):
                keys.setdefault("name:" + key, set()).add(name or "")
        for handle in session.scalars(select(CustomerHandle.handle).where(CustomerHandle.customer_id.in_(chunk))):
            keys.setdefault("handle:" + handle, set())
        for number in session.scalars(select(Order.number).where(Order.customer_id.in_(chunk))):
            keys.setdefault(order_key(number), set())
    return keys, initials_only


def link_handle(session: Session, handle: str, email: str) -> Customer:
    """Link a social handle to the customer with this email (``recoverybot customers link``).

    The handle is stored normalised (:func:`normalise_handle`); a handle already linked to
    someone else moves to this customer, as staff said so.
    """
    wanted = email.strip().lower()
    customer = find_customer(session, wanted)
    if customer is None:
        raise HandleNotLinked(
            f"no customer has the email {mask_email(wanted)}; handle {handle!r} was not linked",
            hint="import or sync orders first (`recoverybot orders sync`), and check the email's spelling",
        )
    key = normalise_handle(handle)
    if not key or key.endswith(":"):
        raise HandleNotLinked(f"{handle!r} is not a handle", hint="give a handle like @name or mastodon:@name@host")
    row = session.get(CustomerHandle, key)
    if row is None:
        session.add(CustomerHandle(handle=key, customer_id=customer.id, origin="manual"))
    else:
        row.customer_id = customer.id
        row.origin = "manual"
        row.created_at = utcnow()  # linked anew: waiting cases are matched against it (bot.decide.cases)
    session.flush()
    return customer
