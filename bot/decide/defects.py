"""What kind of defect a complaint describes, in the buyer's own words.

The scorer says *that* an item is defective; the remedy depends on *how*. An appliance that died
("stopped heating", "won't turn on") needs a replacement; a small fixable fault on a dearer item
(studs fell off, a loose button) fits a repair reimbursement; a garment that shrank is neither.
This is a short list of plain phrases, not a model: when nothing fires the defect is ``other``.
"""

from __future__ import annotations

import re

DEFECTS: tuple[str, ...] = ("stopped_working", "minor", "shrunk", "other")

_STOPPED = re.compile(
    r"\b(stopped|stops|quit|ceased) (working|heating|charging|spinning|cooling|running|turning on|lighting up)\b"
    r"|\b(died|dead|broke down|is broken|conked out|packed up|gave up)\b"
    r"|\b(won'?t|doesn'?t|does not|will not|no longer|can'?t|cannot) (turn|switch|power|charge|heat|work|start|boil)"
    r"|\bno longer works\b|\bnot working( at all)?\b",
    re.IGNORECASE,
)
_MINOR = re.compile(
    r"\b(fell|falling|came|coming|come|popped) (off|out|loose|away|apart)\b|\bloose\b"
    r"|\b(studs?|buttons?|stitch(es|ing)?|seams?|buckles?|rivets?|eyelets?|laces?|threads?)\b"
    r"|\b(scratch(es|ed)?|scuff(s|ed)?|cosmetic|minor|tiny|small) (defect|fault|flaw|mark|issue|problem|damage)?",
    re.IGNORECASE,
)
_SHRUNK = re.compile(r"\b(shr[aiu]nk(s|en|ing)?)\b", re.IGNORECASE)


def defect_of(text: str) -> str:
    """``stopped_working``, ``minor``, ``shrunk`` or ``other`` for a complaint's text.

    A dead item wins over a minor detail ("the button came off and now it won't turn on").
    """
    if _STOPPED.search(text):
        return "stopped_working"
    if _SHRUNK.search(text):
        return "shrunk"
    if _MINOR.search(text):
        return "minor"
    return "other"
