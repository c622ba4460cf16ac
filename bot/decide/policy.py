"""Policy: ordered rules from config.toml pick the remedy for a case, within global guards.

A case is reduced to plain :class:`Facts` (issue, rating, sentiment, match, order age, item value,
delivery, source kind, earlier remedies). :func:`decide` walks the rules in order; the first whose
conditions all hold names the remedies. Their cost is estimated and capped, then the global guards
(always on, whatever the rules say) decide whether the remedies may run unattended or the case
waits for a person. The result is a :class:`Decision` that keeps the rule and every reason, so
the digest and the audit log can say why (DESIGN.md invariant 4).

This module is pure: no database, no clock; ``bot.cases`` gathers the facts and stores the result.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from bot.decide.defects import DEFECTS

ISSUES: tuple[str, ...] = (
    "defective", "damaged", "missing_parts", "wrong_item", "not_delivered", "fit_size",
    "not_as_described", "poor_quality", "service", "price_value", "other", "none",
)
DELIVERY: tuple[str, ...] = ("delivered", "overdue", "in_transit", "pending", "lost", "returned", "unknown")


class RemedyKind(str, enum.Enum):
    """What the shop does for the customer; stored as the string value."""

    REPLACEMENT = "replacement"
    REFUND = "refund"
    STORE_CREDIT = "store_credit"
    REPAIR_REIMBURSEMENT = "repair_reimbursement"
    RETURN_PICKUP = "return_pickup"
    KEEP_ITEM = "keep_item"
    GESTURE = "gesture"
    CONTACT = "contact"
    CORRECT_ITEM = "correct_item"
    SHIPPING_CREDIT = "shipping_credit"


KINDS: tuple[str, ...] = tuple(k.value for k in RemedyKind)
# Kinds whose amount is chosen by the rule: above the cap they are cut down to it, not refused.
CLAMPED: frozenset[str] = frozenset({"store_credit", "repair_reimbursement", "gesture", "shipping_credit"})

CENT = Decimal("0.01")


def money(value: float | str | Decimal) -> Decimal:
    """A Decimal rounded to cents (floats from TOML are turned to text first, not binary-exact)."""
    return Decimal(str(value)).quantize(CENT, rounding=ROUND_HALF_UP)


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class RemedyAction(_Model):
    """One remedy a rule asks for: a kind and its parameters (unused ones are ignored)."""

    kind: Literal[
        "replacement", "refund", "store_credit", "repair_reimbursement", "return_pickup", "keep_item",
        "gesture", "contact", "correct_item", "shipping_credit",
    ] = Field(description="The remedy kind.")
    shipping: Literal["standard", "expedited"] = Field(
        "standard", description="replacement / correct_item: shipping speed (cost from [policy] shipping_costs)."
    )
    bonus_sku: str | None = Field(None, description="replacement: a small extra item sent along (SKU).")
    bonus_value: float = Field(0, ge=0, description="replacement: what the bonus item costs the shop.")
    percent: float = Field(100, gt=0, le=100, description="refund / store_credit: share of the item value.")
    amount: float | None = Field(
        None, ge=0, description="refund / store_credit / repair_reimbursement / gesture / shipping_credit: a fixed "
        "amount (repair_reimbursement defaults to its cap, shipping_credit to the standard shipping cost)."
    )
    include_shipping: bool = Field(False, description="refund: also credit the standard shipping cost.")
    form: Literal["refund", "store_credit", "gift_card"] = Field(
        "store_credit", description="repair_reimbursement / store_credit / shipping_credit: how the money is given "
        "(shipping_credit, when not set: refund)."
    )
    sent_value: float | None = Field(
        None, ge=0, description="keep_item on a wrong item: what the item sent by mistake is worth (default: "
        "[policy] wrong_item_value). It is weighed against [policy] return_cost, not the value of what was ordered."
    )
    grace_days: int = Field(14, ge=0, description="return_pickup: days accepted past the return window.")
    gift_sku: str | None = Field(None, description="gesture: a small gift sent along (SKU).")
    message: str | None = Field(None, description="gesture / contact: a line added to the customer note.")


class RuleConfig(_Model):
    """[[policy.rules]]: one rule; the first whose conditions all hold wins.

    Every condition is optional; an unset condition always holds.
    """

    name: str = Field(description="Shown in the digest and the audit log.")
    issues: tuple[str, ...] = Field((), description="Issues this rule applies to (empty: any).")
    matched: bool | None = Field(None, description="true: only with a matched order; false: only without.")
    min_rating: float | None = Field(None, ge=1, le=5, description="Rating at least this (mentions without one pass).")
    max_rating: float | None = Field(None, ge=1, le=5, description="Rating at most this (mentions without one pass).")
    max_sentiment: float | None = Field(None, ge=-1, le=1, description="Sentiment at most this (-1..1).")
    min_confidence: float | None = Field(None, ge=0, le=1, description="Scorer confidence at least this.")
    min_match_confidence: float | None = Field(None, ge=0, le=1, description="Order match confidence at least this.")
    min_order_age_days: float | None = Field(None, ge=0, description="Days since delivery (else since order) at least this.")
    max_order_age_days: float | None = Field(None, ge=0, description="Days since delivery (else since order) at most this.")
    min_item_value: float | None = Field(None, ge=0, description="Value of the item (line, else order) at least this.")
    max_item_value: float | None = Field(None, ge=0, description="Value of the item (line, else order) at most this.")
    delivery: tuple[str, ...] = Field((), description=f"Delivery status among: {', '.join(DELIVERY)} (empty: any).")
    source_kinds: tuple[str, ...] = Field((), description="Connector kinds the mention came from (empty: any).")
    defects: tuple[str, ...] = Field(
        (), description=f"How the buyer describes the defect, among: {', '.join(DEFECTS)} (empty: any). "
        "minor: a small fixable fault (studs fell off, a loose button); stopped_working: the item died."
    )
    max_prior_remedies: int | None = Field(None, ge=0, description="The customer's remedies in the last 365 days at most this.")
    max_mention_age_days: float | None = Field(
        None, ge=0, description="Days since the complaint was posted at most this (older complaints: watch list)."
    )
    remedy: str | None = Field(None, description="Shorthand for one remedy of this kind with default parameters.")
    remedies: tuple[RemedyAction, ...] = Field((), description="The remedies, with parameters (several may combine).")
    auto_up_to: float = Field(
        0, ge=0, description="Runs unattended when the total cost is at most this; above it the case waits for approval."
    )

    @field_validator("issues")
    @classmethod
    def _issues(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for issue in value:
            if issue not in ISSUES:
                raise ValueError(f"unknown issue {issue!r} (known: {', '.join(ISSUES)})")
        return value

    @field_validator("defects")
    @classmethod
    def _defects(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for defect in value:
            if defect not in DEFECTS:
                raise ValueError(f"unknown defect {defect!r} (known: {', '.join(DEFECTS)})")
        return value

    @field_validator("delivery")
    @classmethod
    def _delivery(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for status in value:
            if status not in DELIVERY:
                raise ValueError(f"unknown delivery status {status!r} (known: {', '.join(DELIVERY)})")
        return value

    @model_validator(mode="after")
    def _some_remedy(self) -> RuleConfig:
        if self.remedy is not None and self.remedy not in KINDS:
            raise ValueError(f"unknown remedy {self.remedy!r} (known: {', '.join(KINDS)})")
        if self.remedy is None and not self.remedies:
            raise ValueError(f"rule {self.name!r} names no remedy: give `remedy` or `remedies`")
        return self

    @property
    def actions(self) -> tuple[RemedyAction, ...]:
        shorthand = (RemedyAction.model_validate({"kind": self.remedy}),) if self.remedy else ()
        return shorthand + self.remedies


def _rule(name: str, remedies: list[dict[str, Any]], **conditions: Any) -> RuleConfig:
    return RuleConfig.model_validate({"name": name, "remedies": remedies, **conditions})


# The issues a remedy can fix (bot.sentiment.REMEDY_WORTHY, spelled out for the rule conditions).
REMEDY_WORTHY_ISSUES = (
    "defective", "damaged", "missing_parts", "wrong_item", "not_delivered", "fit_size", "not_as_described",
)

# Used when [policy] has no rules: covers the five seed stories of DESIGN.md and a safe fallback.
# Unmatched complaints only become a `contact` proposal when recent and fixable; the rest, and
# anything no rule matches, stay on the digest's watch list instead of filling "Needs you".
# Returns are only offered unasked below 4 stars: a happy buyer's sizing tip is not a return.
DEFAULT_RULES: tuple[RuleConfig, ...] = (
    _rule("unmatched-contact", [{"kind": "contact"}], matched=False, issues=REMEDY_WORTHY_ISSUES,
          max_mention_age_days=30),
    # Any delivery state but returned: a parcel not yet due or not yet shipped matches too, so the
    # guards put it to a person with the reason instead of leaving it to a later rule.
    _rule("not-delivered-reship", [{"kind": "replacement", "shipping": "expedited"}],
          issues=("not_delivered",), delivery=("delivered", "lost", "overdue", "in_transit", "pending", "unknown"),
          auto_up_to=80),
    # The wrong-item story: the money back, the shipping credited, and the wrong item kept when
    # sending it back would cost more than it is worth (else a prepaid pickup). Shops that would
    # rather send what was ordered write the same rule with `correct_item` instead of `refund`.
    _rule("wrong-item-refund-keep", [{"kind": "refund"}, {"kind": "shipping_credit"}, {"kind": "keep_item"}],
          issues=("wrong_item",), auto_up_to=80),
    _rule("defective-cheap-replace", [{"kind": "replacement"}],
          issues=("defective", "damaged"), max_item_value=40, auto_up_to=50),
    # A small fixable fault on a dearer item (studs off boots): the repair paid as a gift card.
    _rule("defective-minor-repair", [{"kind": "repair_reimbursement", "form": "gift_card"}],
          issues=("defective", "poor_quality"), defects=("minor",), min_item_value=40, auto_up_to=20),
    # Anything else wrong with a dearer item (a kettle that stopped heating): a replacement, which
    # waits for a person above 80.
    _rule("defective-replace", [{"kind": "replacement"}], issues=("defective",), min_item_value=40, auto_up_to=80),
    _rule("late-return-goodwill",
          [{"kind": "return_pickup", "grace_days": 14}, {"kind": "refund"},
           {"kind": "gesture", "message": "We hope everything is well at home."}],
          issues=("fit_size", "not_as_described"), min_order_age_days=30, max_order_age_days=44, max_rating=3,
          auto_up_to=120),
    _rule("return-in-window", [{"kind": "return_pickup", "grace_days": 0}, {"kind": "refund"}],
          issues=("fit_size", "not_as_described"), max_order_age_days=30, max_rating=3, auto_up_to=120),
    _rule("damaged-or-missing-replace", [{"kind": "replacement"}],
          issues=("damaged", "missing_parts"), auto_up_to=0),
    _rule("goodwill-credit", [{"kind": "store_credit", "amount": 5, "form": "gift_card"}], matched=True,
          auto_up_to=0),
)

DEFAULT_CAPS: dict[str, float] = {
    "replacement": 80, "refund": 150, "store_credit": 25, "repair_reimbursement": 20,
    "return_pickup": 15, "keep_item": 0, "gesture": 10, "contact": 0, "correct_item": 150, "shipping_credit": 15,
}


class PolicyConfig(_Model):
    """[policy]: which remedy, when, within which limits (amounts in [bot] currency)."""

    rules: tuple[RuleConfig, ...] = Field(
        (), description="The shop's own ordered rules, first match wins; tried before the built-in rules."
    )
    builtin_rules: bool = Field(
        True, description="Keep the built-in rules for the seed stories after the shop's own rules (false: only "
        "the shop's rules; cases none of them matches go to the watch list)."
    )
    caps: dict[str, float] = Field(
        default_factory=dict,
        description="Per-remedy cost cap by kind; credits/gestures above it are cut to it, anything else waits "
        "for approval. Missing kinds use the built-in caps.",
    )
    daily_budget: float = Field(200, ge=0, description="Most money reserved by automatic remedies per local day.")
    monthly_budget: float = Field(2000, ge=0, description="Most money reserved per calendar month.")
    per_customer_per_year: int = Field(
        2, ge=0, description="A customer remedied this many times in 365 days gets no more automatic remedies."
    )
    min_match_confidence: float = Field(0.75, ge=0, le=1, description="Below this order-match confidence: approval.")
    min_confidence: float = Field(0.5, ge=0, le=1, description="Below this scorer confidence: approval.")
    approval_days: int = Field(7, ge=1, description="An approval not given within this many days expires.")
    return_window_days: int = Field(30, ge=0, description="The shop's return window, counted from delivery.")
    return_cost: float = Field(
        15, ge=0, description="What a return costs the shop all in (label, courier, handling); keep_item applies "
        "only when this exceeds the value of the item the buyer has (for a wrong item: what was sent, not what "
        "was ordered)."
    )
    wrong_item_value: float = Field(
        10, ge=0, description="keep_item on a wrong item: what an item sent by mistake is taken to be worth when "
        "the rule gives no sent_value (the buyer keeps it when this is below return_cost)."
    )
    shipping_costs: dict[str, float] = Field(
        default_factory=lambda: {"standard": 5.0, "expedited": 12.0},
        description="Cost of shipping a replacement, by speed.",
    )
    merge_days: int = Field(60, ge=1, description="Mentions of one customer and issue within this many days are one case.")
    note_template: str | None = Field(
        None, description="Jinja2 template of the customer note (text). Empty: the built-in note."
    )
    contact_note_template: str | None = Field(
        None, description="Jinja2 template of the note for a `contact` (no order matched: asks the customer for "
        "the order number). Empty: the built-in contact note."
    )
    max_attempts: int = Field(5, ge=1, description="A remedy that failed this many dispatch attempts is marked failed.")
    retry_backoff: float = Field(60, ge=0, description="Seconds before the first retry; doubled at each attempt.")
    claim_seconds: float = Field(
        300, ge=0, description="A remedy being dispatched is retried after this long if the process died meanwhile."
    )

    @field_validator("caps")
    @classmethod
    def _caps(cls, value: dict[str, float]) -> dict[str, float]:
        for kind, cap in value.items():
            if kind not in KINDS:
                raise ValueError(f"unknown remedy kind {kind!r} in caps (known: {', '.join(KINDS)})")
            if cap < 0:
                raise ValueError(f"cap of {kind} must not be negative")
        return value

    @field_validator("shipping_costs")
    @classmethod
    def _shipping(cls, value: dict[str, float]) -> dict[str, float]:
        for speed in ("standard", "expedited"):
            value.setdefault(speed, 0.0)
        return value

    @field_validator("note_template", "contact_note_template")
    @classmethod
    def _template(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        from bot.notes import check_template

        check_template(value)
        return value

    @property
    def active_rules(self) -> tuple[RuleConfig, ...]:
        """The effective rules in order: the shop's own, then (unless switched off) the built-in ones."""
        return self.rules + (DEFAULT_RULES if self.builtin_rules else ())

    def cap(self, kind: str) -> Decimal:
        return money(self.caps.get(kind, DEFAULT_CAPS[kind]))


@dataclass(frozen=True)
class Facts:
    """Everything a rule may look at, gathered by bot.cases from the store."""

    issue: str
    rating: float | None = None
    sentiment: float = 0.0
    confidence: float = 1.0
    matched: bool = False
    match_confidence: float = 0.0
    order_number: str | None = None
    order_age_days: float | None = None  # since delivery, else since the order
    item_value: Decimal | None = None
    item_sku: str | None = None
    item_name: str | None = None
    quantity: int = 1
    item_known: bool = True  # False when the order has several lines and none was matched
    delivery: str = "unknown"
    defect: str = "other"  # bot.decide.defects: stopped_working, minor, shrunk, other
    before_delivery: bool = False
    shipped: bool | None = None  # False: the order is still unfulfilled / pending; None: not known
    due_in_days: float | None = None  # expected delivery minus the complaint's time (> 0: posted before due)
    source_kind: str = ""
    prior_remedies: int = 0  # the customer's remedied cases in the last 365 days
    in_flight: tuple[int, ...] = ()  # other cases of this customer with a remedy queued or waiting
    sources: int = 1  # distinct sources the case's mentions came from (one person may use several)
    mentions: int = 1
    repeats: int = 1  # the most mentions of the case on one source
    copied_from: tuple[int, ...] = ()  # earlier cases of other people with the same words (the nearest ones)
    copied_by: tuple[int, ...] = ()  # later cases of other people with the same words (the nearest ones)
    copied_more: bool = False  # there are more such cases than those two name (not counted: issue 18)
    mention_age_days: float | None = None  # since the complaint was posted (else collected)
    unsure: str | None = None  # why the scorer is not sure enough for an automatic remedy (None: sure)


@dataclass
class Planned:
    """One remedy as decided: kind, parameters for the adapter, the cost reserved."""

    kind: str
    params: dict[str, Any]
    amount: Decimal


@dataclass
class Decision:
    """What the policy decided for a case, and why."""

    rule: str | None
    remedies: list[Planned] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)
    approval: list[str] = field(default_factory=list)  # why it waits for a person; empty = automatic

    @property
    def automatic(self) -> bool:
        return not self.approval and bool(self.remedies)

    @property
    def total(self) -> Decimal:
        return sum((p.amount for p in self.remedies), Decimal(0))


def _one_of(values: tuple[str, ...]) -> str:
    return "/".join(values) if len(values) <= 3 else f"one of its {len(values)}"


def check_rule(rule: RuleConfig, f: Facts) -> tuple[list[str], list[str]]:
    """Every condition the rule sets, checked: (reasons it holds, reasons it fails)."""
    why: list[str] = []
    failed: list[str] = []

    def within(value: float | Decimal | None, low: float | None, high: float | None, what: str,
               unit: str = "") -> None:
        if low is None and high is None:
            return
        if value is None:
            failed.append(f"{what} unknown")
            return
        shown = f"{float(value):.0f}{unit}" if unit else f"{float(value):g}"
        if low is not None and float(value) < low:
            failed.append(f"{what} {shown} is under {low:g}")
        elif high is not None and float(value) > high:
            failed.append(f"{what} {shown} is over {high:g}")
        else:
            bounds = " and ".join(p for p in (f">= {low:g}" if low is not None else "",
                                              f"<= {high:g}" if high is not None else "") if p)
            why.append(f"{what} {shown} is {bounds}")

    if rule.issues:
        if f.issue in rule.issues:
            why.append(f"issue is {f.issue}")
        else:
            failed.append(f"issue {f.issue} is not {_one_of(rule.issues)}")
    if rule.matched is not None:
        if rule.matched == f.matched:
            why.append("order matched" if f.matched else "no order matched")
        else:
            failed.append("an order matched" if f.matched else "no order matched")
    if f.rating is not None:
        within(f.rating, rule.min_rating, rule.max_rating, "rating")
    within(f.sentiment, None, rule.max_sentiment, "sentiment")
    within(f.confidence, rule.min_confidence, None, "confidence")
    within(f.match_confidence, rule.min_match_confidence, None, "match confidence")
    within(f.order_age_days, rule.min_order_age_days, rule.max_order_age_days, "order age", " days")
    within(f.item_value, rule.min_item_value, rule.max_item_value, "item value")
    if rule.delivery:
        if f.delivery in rule.delivery:
            why.append(f"delivery is {f.delivery}")
        else:
            failed.append(f"delivery {f.delivery} is not {_one_of(rule.delivery)}")
    if rule.defects:
        if f.defect in rule.defects:
            why.append(f"defect is {f.defect}")
        else:
            failed.append(f"defect {f.defect} is not {_one_of(rule.defects)}")
    if rule.source_kinds:
        if f.source_kind in rule.source_kinds:
            why.append(f"source kind is {f.source_kind}")
        else:
            failed.append(f"source kind {f.source_kind or 'unknown'} is not {_one_of(rule.source_kinds)}")
    if rule.max_prior_remedies is not None:
        if f.prior_remedies <= rule.max_prior_remedies:
            why.append(f"{f.prior_remedies} earlier remedies this year")
        else:
            failed.append(f"{f.prior_remedies} earlier remedies this year is over {rule.max_prior_remedies}")
    if f.mention_age_days is not None:
        within(f.mention_age_days, None, rule.max_mention_age_days, "complaint age", " days")
    elif rule.max_mention_age_days is not None:
        failed.append("complaint age unknown")
    return why, failed


def rule_matches(rule: RuleConfig, f: Facts) -> list[str] | None:
    """The reasons the rule holds for these facts, or None when one condition fails."""
    why, failed = check_rule(rule, f)
    return None if failed else why


def nearest_miss(rules: tuple[RuleConfig, ...], f: Facts) -> str | None:
    """'rule: the condition that failed' for the rule with the most conditions met (first on a tie)."""
    best: tuple[int, RuleConfig, list[str]] | None = None
    for rule in rules:
        why, failed = check_rule(rule, f)
        if failed and (best is None or len(why) > best[0]):
            best = (len(why), rule, failed)
    if best is None:
        return None
    return f"{best[1].name}: " + "; ".join(best[2][:2])


def plan(action: RemedyAction, f: Facts, policy: PolicyConfig, currency: str) -> tuple[Planned | None, list[str]]:
    """The remedy an action gives for these facts with its estimated cost, and notes on it."""
    notes: list[str] = []
    value = f.item_value or Decimal(0)
    ship = {s: money(c) for s, c in policy.shipping_costs.items()}
    base: dict[str, Any] = {"currency": currency}
    if f.order_number:
        base["order_number"] = f.order_number
    kind = action.kind
    if kind == "replacement":
        params = {**base, "sku": f.item_sku, "product_name": f.item_name, "quantity": f.quantity,
                  "shipping": action.shipping}
        amount = value + ship.get(action.shipping, Decimal(0))
        if action.bonus_sku:
            params["bonus_sku"] = action.bonus_sku
            amount += money(action.bonus_value)
        return Planned(kind, params, money(amount)), notes
    if kind == "correct_item":
        # What was ordered, sent now: the same goods and cost as a replacement, said differently.
        params = {**base, "sku": f.item_sku, "product_name": f.item_name, "quantity": f.quantity,
                  "shipping": action.shipping}
        return Planned(kind, params, money(value + ship.get(action.shipping, Decimal(0)))), notes
    if kind == "shipping_credit":
        amount = money(action.amount) if action.amount is not None else ship["standard"]
        form = action.form if "form" in action.model_fields_set else "refund"
        return Planned(kind, {**base, "amount": str(amount), "form": form}, amount), notes
    if kind == "refund":
        amount = money(action.amount) if action.amount is not None else money(value * Decimal(str(action.percent)) / 100)
        params = {**base, "percent": action.percent if action.amount is None else None, "items_amount": str(amount)}
        if action.include_shipping:
            amount += ship["standard"]
            params["shipping_credit"] = str(ship["standard"])
        params["amount"] = str(money(amount))
        params["full"] = action.amount is None and action.percent == 100
        return Planned(kind, params, money(amount)), notes
    if kind == "store_credit":
        amount = money(action.amount) if action.amount is not None else money(value * Decimal(str(action.percent)) / 100)
        return Planned(kind, {**base, "amount": str(amount), "form": action.form}, amount), notes
    if kind == "repair_reimbursement":
        cap = policy.cap(kind)
        amount = money(action.amount) if action.amount is not None else cap
        return Planned(kind, {**base, "amount": str(amount), "cap": str(cap), "form": action.form}, amount), notes
    if kind == "return_pickup":
        params = {**base, "sku": f.item_sku, "product_name": f.item_name, "quantity": f.quantity,
                  "grace_days": action.grace_days, "window_days": policy.return_window_days, "courier_pickup": True}
        if f.order_age_days is not None and f.order_age_days > policy.return_window_days:
            late = f.order_age_days - policy.return_window_days
            if late > action.grace_days:
                notes.append(f"return asked {late:.0f} days after the window, more than the {action.grace_days} grace days")
                return None, notes
            params["window_waived"] = True
            notes.append(f"return window waived ({late:.0f} days late, grace {action.grace_days})")
        return Planned(kind, params, money(policy.return_cost)), notes
    if kind == "keep_item":
        # What the buyer would send back: for a wrong item that is what was sent (T-shirts), not
        # what was ordered (dresses), so it is weighed at its own value.
        wrong = f.issue == "wrong_item"
        if wrong:
            value = money(action.sent_value if action.sent_value is not None else policy.wrong_item_value)
        what = "item sent by mistake" if wrong else "item"
        if value >= money(policy.return_cost):
            # Returning is worth it: ask for the item back instead (a prepaid courier pickup).
            notes.append(f"{what} value {value} is not below the return cost {money(policy.return_cost)}: "
                         "pickup instead")
            return Planned("return_pickup", {**base, "sku": f.item_sku, "product_name": f.item_name,
                                             "quantity": f.quantity, "grace_days": 0,
                                             "window_days": policy.return_window_days, "courier_pickup": True},
                           money(policy.return_cost)), notes
        notes.append(f"return would cost {money(policy.return_cost)}, more than the {what} ({value}): "
                     "customer keeps it")
        params = {**base, "sku": None if wrong else f.item_sku, "item_value": str(value),
                  "return_cost": str(money(policy.return_cost))}
        if wrong:
            params["wrong_item"] = True
        return Planned(kind, params, Decimal("0.00")), notes
    if kind == "gesture":
        amount = money(action.amount or 0)
        params = {**base, "amount": str(amount), "gift_sku": action.gift_sku, "message": action.message}
        return Planned(kind, params, amount), notes
    return Planned("contact", {**base, "message": action.message}, Decimal("0.00")), notes


def decide(facts: Facts, policy: PolicyConfig, *, currency: str = "EUR") -> Decision:
    """Pick the first matching rule, plan and cap its remedies, then apply the global guards."""
    for rule in policy.active_rules:
        why = rule_matches(rule, facts)
        if why is None:
            continue
        decision = Decision(rule=rule.name, reasons=[f"rule {rule.name!r}: " + (", ".join(why) or "matches any case")])
        for action in rule.actions:
            planned, notes = plan(action, facts, policy, currency)
            decision.reasons.extend(notes)
            if planned is None:
                decision.approval.append(f"{action.kind} not possible: " + "; ".join(notes))
                continue
            _cap(planned, policy, decision)
            decision.remedies.append(planned)
        if decision.total > money(rule.auto_up_to):
            decision.approval.append(
                f"cost {decision.total} {currency} is above the rule's auto_up_to {money(rule.auto_up_to)}"
            )
        else:
            decision.reasons.append(f"cost {decision.total} {currency} within auto_up_to {money(rule.auto_up_to)}")
        decision.approval.extend(guards(facts, policy, decision))
        return decision
    # Nothing the policy offers: the case stays on the digest's watch list; nobody is asked to act.
    reasons = ["no policy rule matches this case: it stays on the watch list"]
    near = nearest_miss(policy.active_rules, facts)
    if near:
        reasons.append(f"nearest rule {near}")
    return Decision(rule=None, reasons=reasons)


def _cap(planned: Planned, policy: PolicyConfig, decision: Decision) -> None:
    cap = policy.cap(planned.kind)
    if planned.amount <= cap:
        return
    if planned.kind in CLAMPED:
        decision.reasons.append(f"{planned.kind} {planned.amount} cut to its cap {cap}")
        planned.amount = cap
        planned.params["amount"] = str(cap)
    else:
        decision.approval.append(f"{planned.kind} costs {planned.amount}, above its cap {cap}")


def guards(f: Facts, policy: PolicyConfig, decision: Decision) -> list[str]:
    """The global guards: each returns a reason the case must wait for a person."""
    out: list[str] = []
    costly = [p for p in decision.remedies if p.kind != "contact"]
    if not f.matched:
        out.append("no matched order: no automatic remedy")
    else:
        if f.issue == "not_delivered" and f.shipped is False:
            # Nothing was sent, so nothing can have been lost: re-shipping would send it twice.
            out.append("the order has not shipped yet: a fulfilment problem for staff")
        elif f.issue == "not_delivered" and f.due_in_days is not None and f.due_in_days > 0:
            out.append(f"the complaint was posted {f.due_in_days:.0f} days before the order was due to arrive: "
                       "give the parcel time or ask the carrier before sending another")
        elif f.before_delivery:
            out.append("complaint dated before the order was delivered")
        if f.match_confidence < policy.min_match_confidence:
            out.append(f"order match confidence {f.match_confidence:.2f} is below {policy.min_match_confidence:g}")
        if not f.item_known and any(p.kind in ("replacement", "return_pickup", "keep_item") for p in costly):
            out.append("the order has several items and the mention names none of them")
    if f.confidence < policy.min_confidence:
        out.append(f"scorer confidence {f.confidence:.2f} is below {policy.min_confidence:g}")
    if costly and f.unsure:
        out.append(f"unsure: {f.unsure}")
    if costly and f.prior_remedies >= policy.per_customer_per_year:
        out.append(f"customer already remedied {f.prior_remedies} times in the last 365 days "
                   f"(limit {policy.per_customer_per_year})")
    if f.in_flight:
        out.append("customer already has a remedy in flight (case " + ", ".join(f"#{i}" for i in f.in_flight) + ")")
    # One buyer on several channels is one case and no reason to wait; the same words from
    # different people are: a copy, or a complaint others copied.
    more = ", and more" if f.copied_more else ""
    if f.copied_from:
        out.append("the same words were posted earlier by someone else (case "
                   + ", ".join(f"#{i}" for i in f.copied_from) + more + "): a copy, not this person's own complaint")
    if f.copied_by:
        people = len(f.copied_by)
        out.append(f"the same words were also posted by {'at least ' if f.copied_more else ''}{people} other "
                   f"{'person' if people == 1 else 'people'} (case " + ", ".join(f"#{i}" for i in f.copied_by)
                   + more + ")")
    if f.repeats > 2:
        out.append(f"the same complaint was repeated {f.repeats} times on one source")
    return out
