"""The scoring stage: is this buyer unhappy, what is their problem, and is a remedy surely right?

:class:`Scorer` / ``assess()`` (in ``scorer``) are the interface. Its parts: ``rules`` (the phrase
rules over fast TextBlob and VADER ports in ``lexical``, with ``domain``, ``phrases``, ``tokens``:
they explain), ``features`` and ``learned`` (the model trained on real labelled texts: it
decides), ``types`` (Issue, Assessment, [scoring]) and ``evaluate`` (JSON lines in and out,
precision and recall on labelled lines).
"""

from __future__ import annotations

from bot.scoring.evaluate import EvalReport, evaluate, score_stream
from bot.scoring.scorer import Scorer, assess
from bot.scoring.types import REMEDY_WORTHY, Assessment, Issue, ScoringConfig

__all__ = [
    "REMEDY_WORTHY", "Assessment", "EvalReport", "Issue", "Scorer", "ScoringConfig", "assess", "evaluate",
    "score_stream",
]
