"""Customer notes: the short text sent with a remedy, rendered from a sandboxed Jinja2 template.

The note says what happened and what is on its way. It never asks the customer to change or remove
a review and never ties the remedy to one (review platforms forbid incentivised reviews), so a
template that speaks of reviews, ratings or stars is refused when the config is loaded, and every
rendered note is checked again before it is stored.
"""

from __future__ import annotations

import re
from decimal import Decimal
from functools import lru_cache
from importlib import resources
from typing import Any

from jinja2 import StrictUndefined, Template, TemplateError, nodes
from jinja2.exceptions import SecurityError
from jinja2.sandbox import SandboxedEnvironment

from bot.errors import PolicyError

# Words a note must not contain: any of them ties the remedy to a review.
FORBIDDEN = re.compile(r"\b(reviews?|reviewed|rating|ratings|rated|stars?|feedback|testimonial)\b", re.IGNORECASE)

WHAT_HAPPENED: dict[str, str] = {
    "defective": "your {item} turned out faulty",
    "damaged": "your {item} arrived damaged",
    "missing_parts": "your {item} arrived with parts missing",
    "wrong_item": "we sent you the wrong item instead of your {item}",
    "not_delivered": "your parcel with the {item} never reached you",
    "fit_size": "your {item} did not fit",
    "not_as_described": "your {item} was not what you expected",
    "poor_quality": "your {item} did not live up to what you should expect",
    "service": "we let you down",
    "price_value": "your {item} did not feel worth what you paid",
    "other": "your order did not go as it should have",
    "none": "your order did not go as it should have",
}


# A defect said the way the buyer lived it: a dead kettle "stopped working", a shrunken duvet cover
# did not; the plain `defective` line above is for a fault the complaint does not describe.
DEFECT_HAPPENED: dict[str, str] = {
    "stopped_working": "your {item} stopped working",
    "minor": "your {item} came with a fault it should never have had",
    "shrunk": "your {item} shrank when it should not have",
    "other": "your {item} turned out faulty",
}


def _what_happened(issue: str, defect: str | None) -> str:
    if defect in DEFECT_HAPPENED and (issue == "defective" or (issue == "poor_quality" and defect != "other")):
        return DEFECT_HAPPENED[defect]
    return WHAT_HAPPENED.get(issue, WHAT_HAPPENED["other"])


# A note is a few sentences; anything longer is a template gone wrong (a loop, "x" * 10**8).
MAX_NOTE_CHARS = 5000
# Template statements that read other templates: a note has no loader, so they can only fail when
# the note is rendered; they are refused when the config is loaded instead.
_FOREIGN = (nodes.Include, nodes.Extends, nodes.Import, nodes.FromImport)


class _NoteEnvironment(SandboxedEnvironment):
    """The sandbox, with ``*`` and ``**`` bounded: ``{{ "x" * 100000000 }}`` or ``9 ** 9 ** 9`` would
    take the memory or the CPU of the whole daemon before the length cap could look at the text."""

    intercepted_binops = frozenset(["*", "**"])

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "*":
            for seq, times in ((left, right), (right, left)):
                if isinstance(seq, (str, list, tuple)) and isinstance(times, int) and len(seq) * times > MAX_NOTE_CHARS:
                    raise SecurityError(f"a repetition of {len(seq) * times} items is longer than a note may be")
        if operator == "**" and isinstance(right, int) and abs(right) > 64:
            raise SecurityError(f"an exponent of {right} is more than a note needs")
        return super().call_binop(context, operator, left, right)


def _env() -> SandboxedEnvironment:
    # Text, not HTML: no autoescape; StrictUndefined so a typo in a variable is an error, not a blank.
    return _NoteEnvironment(autoescape=False, undefined=StrictUndefined, keep_trailing_newline=False,
                            trim_blocks=False)


@lru_cache(maxsize=2)
def default_template(name: str = "default") -> str:
    """A built-in note: ``default`` (a remedy is on its way) or ``contact`` (we need the order)."""
    return (resources.files("bot") / "templates" / "notes" / f"{name}.txt.j2").read_text(encoding="utf-8")


def is_contact(remedy_kinds: list[str]) -> bool:
    """Only a `contact` is offered: the note asks for the order instead of announcing a remedy."""
    return bool(remedy_kinds) and all(kind == "contact" for kind in remedy_kinds)


def check_template(source: str) -> None:
    """Raise ValueError when a note template does not compile or speaks of reviews."""
    found = FORBIDDEN.search(source)
    if found:
        raise ValueError(
            f"the note template mentions {found.group(0)!r}: a note must never ask about or refer to a review"
        )
    try:
        tree = _env().parse(source)
        _env().from_string(source)
    except TemplateError as exc:
        raise ValueError(f"the note template is not valid Jinja2: {exc}") from exc
    for node in tree.find_all(_FOREIGN):
        word = {nodes.Include: "include", nodes.Extends: "extends"}.get(type(node), "import")
        raise ValueError(f"the note template uses {{% {word} %}} (line {node.lineno}): a note template "
                         "stands alone, it cannot read other templates; write the text in it")


def describe(kind: str, params: dict[str, Any], product: str) -> str | None:
    """One line of the note for a remedy, in plain words (None: the remedy needs no line)."""
    amount = params.get("amount")
    currency = params.get("currency", "")
    money = f"{Decimal(str(amount)):.2f} {currency}".strip() if amount is not None else ""
    if kind == "replacement":
        speed = "by express delivery" if params.get("shipping") == "expedited" else "by standard delivery"
        line = f"a new {params.get('product_name') or product} is on its way to you {speed}, at no cost"
        if params.get("bonus_sku"):
            line += ", with a small extra in the box"
        return line
    if kind == "correct_item":
        speed = "by express delivery" if params.get("shipping") == "expedited" else "by standard delivery"
        return (f"the {params.get('product_name') or product} you ordered is on its way to you {speed}, "
                "at no cost")
    if kind == "shipping_credit":
        if params.get("form") == "refund":
            return f"we refund your shipping costs ({money}) to your original payment method"
        what = "a gift card" if params.get("form") == "gift_card" else "store credit"
        return f"we credit your shipping costs: {what} of {money} is on its way to you"
    if kind == "refund":
        line = "a full refund" if params.get("full") else f"a refund of {money}"
        if params.get("shipping_credit"):
            line += ", shipping included"
        return line + " is on its way to your original payment method"
    if kind == "store_credit":
        what = "a gift card" if params.get("form") == "gift_card" else "store credit"
        return f"{what} of {money} is on its way to you"
    if kind == "repair_reimbursement":
        what = {"gift_card": "a gift card", "refund": "a refund"}.get(str(params.get("form")), "store credit")
        return f"we cover the repair: {what} of {money} is on its way to you"
    if kind == "return_pickup":
        line = "a courier will collect the item from your address, free of charge"
        if params.get("window_waived"):
            line += " (we are glad to accept it after the usual return period)"
        return line
    if kind == "keep_item":
        if params.get("wrong_item"):
            return "please keep what we sent you by mistake, there is no need to send it back"
        return "please keep the item you received, there is no need to send it back"
    if kind == "gesture":
        if params.get("gift_sku") or Decimal(str(amount or 0)) > 0:
            return "a small thank-you for your patience is on its way"
        return None
    if kind == "contact":
        return None
    return None


def context(
    *,
    issue: str,
    remedies: list[tuple[str, dict[str, Any]]],
    customer_name: str | None,
    product: str | None,
    order_number: str | None,
    shop_name: str,
    source_name: str | None = None,
    defect: str | None = None,
) -> dict[str, Any]:
    """The variables a note template sees."""
    item = product or "order"
    first = (customer_name or "").split()[0] if customer_name and customer_name.strip() else None
    lines = [line for kind, params in remedies if (line := describe(kind, params, item))]
    gesture = next((str(p["message"]) for k, p in remedies if k in ("gesture", "contact") and p.get("message")), None)
    return {
        "customer_name": first,
        "shop_name": shop_name,
        "issue": issue,
        "what_happened": _what_happened(issue, defect).format(item=item),
        "product": item,
        "order_number": order_number,
        "remedies": lines,
        "remedy_kinds": [kind for kind, _ in remedies],
        "gesture_message": gesture,
        "source_name": source_name,
    }


def _bounded(template: Template, ctx: dict[str, Any]) -> str:
    """Render piece by piece and stop as soon as the note is longer than :data:`MAX_NOTE_CHARS`
    (a loop over ``range(10**6)`` never builds its megabytes)."""
    parts: list[str] = []
    size = 0
    for piece in template.generate(**ctx):
        size += len(piece)
        if size > MAX_NOTE_CHARS:
            raise PolicyError(f"the customer note is longer than {MAX_NOTE_CHARS} characters; it was not sent",
                              hint="shorten [policy] note_template (a note is a few sentences)")
        parts.append(piece)
    return "".join(parts)


@lru_cache(maxsize=8)
def _compiled(source: str) -> Template:
    return _env().from_string(source)


def render(template: str | None, ctx: dict[str, Any]) -> str:
    """Render the note; PolicyError when the template fails or the text speaks of reviews.

    Without a template, a case offered only a `contact` gets the built-in contact note (we saw the
    post, we are sorry, please reply with the order number); any other the built-in remedy note.
    """
    source = template or default_template("contact" if is_contact(list(ctx.get("remedy_kinds", []))) else "default")
    try:
        text = _bounded(_compiled(source), ctx)
    except TemplateError as exc:
        raise PolicyError(f"the customer note template failed: {exc}", hint="check [policy] note_template") from exc
    except (ArithmeticError, TypeError, ValueError, LookupError, AttributeError, RecursionError) as exc:
        # 1 // 0, a bad format spec, a too deep recursion: this case's note failed, not the cycle
        raise PolicyError(f"the customer note template failed: {type(exc).__name__}: {exc}",
                          hint="check [policy] note_template") from exc
    text = re.sub(r"\n{3,}", "\n\n", text).strip() + "\n"
    found = FORBIDDEN.search(text)
    if found:
        raise PolicyError(
            f"the customer note mentions {found.group(0)!r}; notes never refer to reviews",
            hint="reword [policy] note_template or the gesture message",
        )
    return text
