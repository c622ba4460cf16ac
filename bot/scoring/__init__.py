"""The scoring stage: is this buyer unhappy, and what is their problem?

``assess()`` / :class:`Scorer` (in ``scorer``) are the interface; ``lexical`` (fast TextBlob and
VADER ports), ``domain`` and ``phrases`` (how buyers complain), ``tokens`` and ``model`` (the learned
issue model) are its parts; ``evaluate`` scores JSON lines and measures the scorer.
"""

from __future__ import annotations

from bot.scoring.evaluate import EvalReport, evaluate, score_stream
from bot.scoring.scorer import REMEDY_WORTHY, Assessment, Issue, Scorer, ScoringConfig, assess

__all__ = [
    "REMEDY_WORTHY", "Assessment", "EvalReport", "Issue", "Scorer", "ScoringConfig", "assess", "evaluate",
    "score_stream",
]
