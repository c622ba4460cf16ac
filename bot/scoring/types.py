"""The scoring stage's vocabulary: the issue kinds, what an assessment holds, and [scoring]."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from pydantic import BaseModel, ConfigDict, Field

class Issue(str, Enum):
    """The buyer's main problem (DESIGN.md taxonomy)."""

    DEFECTIVE = "defective"
    DAMAGED = "damaged"
    MISSING_PARTS = "missing_parts"
    WRONG_ITEM = "wrong_item"
    NOT_DELIVERED = "not_delivered"
    FIT_SIZE = "fit_size"
    NOT_AS_DESCRIBED = "not_as_described"
    POOR_QUALITY = "poor_quality"
    SERVICE = "service"
    PRICE_VALUE = "price_value"
    OTHER = "other"
    NONE = "none"


REMEDY_WORTHY: frozenset[Issue] = frozenset({
    Issue.DEFECTIVE, Issue.DAMAGED, Issue.MISSING_PARTS, Issue.WRONG_ITEM,
    Issue.NOT_DELIVERED, Issue.FIT_SIZE, Issue.NOT_AS_DESCRIBED,
})

# When two fixable problems are equally strong, the one that decides the remedy comes first:
# nothing arrived > the wrong thing arrived > it arrived broken > incomplete > failed later ...
_PRIORITY: tuple[Issue, ...] = (
    Issue.NOT_DELIVERED, Issue.WRONG_ITEM, Issue.DAMAGED, Issue.MISSING_PARTS, Issue.DEFECTIVE,
    Issue.NOT_AS_DESCRIBED, Issue.FIT_SIZE, Issue.POOR_QUALITY, Issue.SERVICE, Issue.PRICE_VALUE,
)
@dataclass(frozen=True)
class Assessment:
    """What the scorer concluded about one text, and the cues that led there."""

    sentiment: float
    unhappy: bool
    issue: Issue
    confidence: float
    cues: tuple[str, ...]
    # What the learned model said (None where it did not run: [scoring] model = false, or a text
    # it does not read): calibrated probabilities of unhappy, of a remedy being right, of the issue.
    p_unhappy: float | None = None
    p_remedy: float | None = None
    p_issue: float | None = None
    remedy: bool | None = None  # the model's remedy-worthy verdict
    sure: bool = False  # both remedy and issue above the thresholds chosen for precision >= 0.95
    scored: bool = True  # False: not read at all (a language the model does not know); never "happy"
    language: str | None = None
    textblob: float = 0.0
    vader: float = 0.0

    @property
    def remedy_worthy(self) -> bool:
        """Unhappy with a problem a remedy (replacement, refund, ...) would put right."""
        if self.remedy is not None:
            return self.unhappy and self.remedy
        return self.unhappy and self.issue in REMEDY_WORTHY

    def as_dict(self) -> dict[str, object]:
        """JSON-ready fields."""
        out: dict[str, object] = {
            "sentiment": self.sentiment,
            "unhappy": self.unhappy,
            "issue": self.issue.value,
            "confidence": self.confidence,
            "remedy_worthy": self.remedy_worthy,
            "sure": self.sure,
            "scored": self.scored,
            "cues": list(self.cues),
        }
        if self.p_unhappy is not None:
            out.update(p_unhappy=self.p_unhappy, p_remedy=self.p_remedy, p_issue=self.p_issue)
        if self.language:
            out["language"] = self.language
        return out


class ScoringConfig(BaseModel):
    """The ``[scoring]`` section of config.toml: thresholds and lexicon extensions."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    unhappy_threshold: float = Field(
        default=0.0, description="The phrase rules' threshold on their unhappiness score; raise it to let them flag fewer buyers "
        "(with model = true the rules are the model's evidence, not the decision).")
    issue_min_weight: float = Field(
        default=2.0, ge=0.0, description="Minimum phrase weight before a fixable issue (replacement, refund...) is named; "
        "weaker evidence gives 'other'.")
    unhappy_max_rating: int = Field(
        default=2, ge=0, le=5, description="The phrase rules read ratings at or below this as unhappy whatever the words say (with "
        "model = true the stars are one input of the model).")
    happy_min_rating: int = Field(
        default=4, ge=1, le=6, description="The phrase rules read ratings at or above this as happy unless the text reports a real "
        "failure.")
    max_chars: int = Field(
        default=20000, ge=100, description="Longer texts are scored on their first max_chars characters (noted in cues).")
    extra_phrases: dict[str, list[str]] = Field(
        default_factory=dict,
        description="Extra complaint phrases per issue (keys: defective, damaged, missing_parts, wrong_item, "
        "not_delivered, fit_size, not_as_described, poor_quality, service, price_value; or neg / pos for "
        "general complaint or praise). Phrases may use (a|b) alternatives and [a|b] optional words.")
    extra_negative_words: list[str] = Field(
        default_factory=list, description="Extra single words that count as negative (VADER valence -2).")
    extra_positive_words: list[str] = Field(
        default_factory=list, description="Extra single words that count as positive (VADER valence +2).")
    model: bool = Field(
        default=True, description="Let the bundled learned model decide (trained on 14,100 real buyer texts; the "
        "phrase rules become its evidence and its explanations). false: the phrase rules alone decide, and no "
        "remedy is ever automatic (nothing is 'sure').")
    model_min_probability: float = Field(
        default=0.3, ge=0.0, le=1.0, description="The model names an issue only when it gives it at least this "
        "probability; below, the issue is 'other'.")
    learn_from_shop: bool = Field(
        default=False, description="Score with the weights `recoverybot train` refitted on this shop's own approve "
        "and reject decisions (installed in the data folder only when they measured no worse); false: the "
        "bundled model.")
    sure_remedy_probability: float | None = Field(
        default=None, ge=0.0, le=1.0, description="A remedy may be automatic only when the model's remedy "
        "probability reaches this (default: the value chosen on dev for precision >= 0.95, stored with the model).")
    sure_issue_probability: float | None = Field(
        default=None, ge=0.0, le=1.0, description="... and its issue probability reaches this (default: chosen "
        "on dev with the other).")
