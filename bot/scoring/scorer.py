"""The scorer: the phrase rules read the text and explain it; the learned model decides.

``Scorer.assess`` runs :class:`~bot.scoring.rules.RuleScorer` (TextBlob and VADER ports, how
buyers complain, the stars) for its cues and its verdict, then gives that verdict, the stars and
the words to :mod:`bot.scoring.learned`, whose calibrated probabilities say whether the buyer is
unhappy, whether a remedy would put it right, and what the issue is. A remedy may be automatic
only when the model is *sure* (remedy and issue probabilities above the thresholds chosen on dev
for precision >= 0.95); otherwise it waits for a person, with the reason.

A text the rules cannot read is passed to a language identifier: a language the model was shown
to handle on dev is scored; any other is *not scored* (``scored = False``, cue "not scored:
language xx") and goes to the digest's watch list, never silently counted happy or unhappy.
``[scoring] model = false`` returns the rules' verdict alone (and then nothing is ever sure).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from bot.scoring import learned
from bot.scoring.features import extract
from bot.scoring.rules import RuleScorer
from bot.scoring.types import REMEDY_WORTHY, Assessment, Issue, ScoringConfig

__all__ = ["Scorer", "assess"]

_UNREAD = ("text does not look like English",)
_UNSURE_ISSUE = 0.5  # below this the model's issue is a guess (weights without their own floor)
_NOTHING_TO_READ = frozenset({"empty text", "no words to score (only links or handles)"})


# A language is taken from the identifier only when it is this sure (short English texts are often
# guessed as something else with low confidence).
LANGUAGE_CONFIDENCE = 0.9


@lru_cache(maxsize=1)
def _identifier() -> Any:
    """py3langid's classifier with normalised probabilities (its model ships in the package)."""
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)


def language_of(text: str) -> tuple[str, float]:
    """(ISO 639-1 code, probability) of the text's language."""
    code, p = _identifier().classify(text[:1000])
    return str(code), float(p)


def _foreign_letters(text: str) -> bool:
    """Enough non-ASCII letters to be worth asking the language identifier (curly quotes, dashes
    and emoji are not letters; one accented name in an English review is not enough)."""
    if text.isascii():
        return False
    sample = text[:1000]
    letters = sum(1 for c in sample if c.isalpha())
    foreign = sum(1 for c in sample if c.isalpha() and not c.isascii())
    return foreign >= 2 and foreign >= 0.02 * letters


_UNHAPPY_STARS = 2  # at or below: unhappy by the stars when the words cannot be read


class Scorer:
    """Scores texts; build once and reuse (the model loads once per process)."""

    def __init__(self, config: ScoringConfig | None = None, model: learned.LearnedModel | None = None) -> None:
        """``model``: other weights than the bundled ones (the shop's own, from ``recoverybot train``)."""
        self.config = config or ScoringConfig()
        self.rules = RuleScorer(self.config)
        self.model = (model or learned.load()) if self.config.model else None

    def _read(self, text: str, rating: float | None, title: str | None) -> tuple[Assessment, str, str, Assessment | None]:
        """(the rules' verdict, the text the model reads, its language, the final verdict when the
        model has nothing to add: no model, a language it does not read, nothing but stars)."""
        ruled = self.rules.assess(text, rating, title)
        model = self.model
        if model is None:
            return ruled, "", "en", ruled
        full = (f"{title.strip()}.\n{text}" if text and text.strip() else title) if title else (text or "")
        full = full[: self.config.max_chars]
        language = "en"
        unread = any(c.startswith(_UNREAD) for c in ruled.cues)
        if unread or _foreign_letters(full):
            code, p = language_of(full)
            if unread or p >= LANGUAGE_CONFIDENCE:
                language = code
            if language not in model.languages:
                stars = f" ({rating:g} star{'' if rating == 1 else 's'})" if rating is not None else ""
                # The words cannot be read, but 1-2 stars still say the buyer is unhappy (97 % of
                # such reviews in the dev split were): unhappy by the stars alone, with no issue
                # and no remedy; it stays unscored, so a person reads it on the watch list
                # (dev, reviews with stars: unhappy F1 0.931 -> 0.946).
                by_stars = rating is not None and rating <= _UNHAPPY_STARS
                return ruled, full, language, Assessment(
                    sentiment=0.0, unhappy=by_stars, issue=Issue.OTHER if by_stars else Issue.NONE,
                    confidence=0.0,
                    cues=(f"not scored: language {language}{stars}; a person should read it",)
                    + (("unhappy by the stars alone",) if by_stars else ()),
                    scored=False, language=language,
                )
        if not full.strip() or any(c in _NOTHING_TO_READ for c in ruled.cues):
            return ruled, full, language, ruled  # nothing but stars to go on: the rules' verdict
        return ruled, full, language, None

    def model_input(self, text: str, rating: float | None = None, title: str | None = None) -> list[tuple[str, float]] | None:
        """The features the model reads for this text (None where the model does not decide)."""
        ruled, full, _, done = self._read(text, rating, title)
        return None if done is not None else extract(full, rating, learned.signals_of(ruled))

    def assess(self, text: str, rating: float | None = None, title: str | None = None) -> Assessment:
        """Score one review or post. ``rating`` is 1..5 stars (None when the source has none)."""
        ruled, full, language, done = self._read(text, rating, title)
        model = self.model
        if done is not None or model is None:
            return done or ruled
        pred = model.predict(extract(full, rating, learned.signals_of(ruled)))
        th = model.thresholds
        cfg = self.config
        unhappy = pred.p_unhappy >= th["unhappy"]
        remedy = unhappy and pred.p_remedy >= th["remedy"]
        issue = Issue.NONE
        p_issue = pred.p_issue
        worded = ""
        if unhappy:
            issue = Issue(pred.issue) if pred.p_issue >= cfg.model_min_probability else Issue.OTHER
            # Unsure between issues, the buyer's own words decide: a phrase cue naming a fixable
            # problem ("too small for", "arrived smashed") wins over the model's weak first choice
            # (below a floor chosen on dev with each refit and stored with the weights: on the
            # round-3 weights the words cost more than they won, dev 0.663 -> 0.635 at 0.5).
            if (pred.p_issue < th.get("issue_from_words", _UNSURE_ISSUE) and ruled.unhappy and ruled.issue in REMEDY_WORTHY
                    and ruled.issue.value != pred.issue and ruled.issue.value in model.classes):
                issue, p_issue = ruled.issue, pred.probability_of(ruled.issue.value)
                worded = f"problem named from the buyer's own words; the model was unsure (it leaned to {pred.issue})"
        sure_remedy = cfg.sure_remedy_probability if cfg.sure_remedy_probability is not None else th["sure_remedy"]
        sure_issue = cfg.sure_issue_probability if cfg.sure_issue_probability is not None else th["sure_issue"]
        sure = remedy and pred.p_remedy >= sure_remedy and p_issue >= sure_issue and issue is not Issue.OTHER
        cues = [c for c in ruled.cues if not c.startswith(_UNREAD)]
        if language != "en":
            cues.append(f"language {language}")
        verdict = f"model: unhappy {pred.p_unhappy:.2f}"
        if unhappy:
            verdict += f", {issue.value} {p_issue:.2f}, remedy {pred.p_remedy:.2f}"
        cues.append(verdict)
        if worded:
            cues.append(worded)
        shown = list(dict.fromkeys(_show(e) for e in pred.evidence))
        if shown:
            cues.append("words the model weighed most: " + ", ".join(shown))
        confidence = pred.p_unhappy * p_issue if unhappy else 1.0 - pred.p_unhappy
        return Assessment(
            sentiment=ruled.sentiment, unhappy=unhappy, issue=issue, confidence=round(confidence, 3),
            cues=tuple(cues), p_unhappy=round(pred.p_unhappy, 4), p_remedy=round(pred.p_remedy, 4),
            p_issue=round(p_issue, 4), remedy=remedy, sure=sure, language=language,
            textblob=ruled.textblob, vader=ruled.vader,
        )


def _show(feature: str) -> str:
    """A word feature as the buyer wrote it: 'w:broken' -> "'broken'", 'b:never arrived' -> "'never arrived'"."""
    return f"'{feature.partition(':')[2]}'"


_DEFAULT: Scorer | None = None


def assess(text: str, rating: float | None = None, title: str | None = None) -> Assessment:
    """Score with the default configuration (the Scorer is built once, on first use)."""
    global _DEFAULT
    if _DEFAULT is None:
        _DEFAULT = Scorer()
    return _DEFAULT.assess(text, rating, title)
