"""The scoring stage: is this buyer unhappy, what is their problem, and is a remedy surely right?

:class:`Scorer` / ``assess()`` (in ``scorer``) are the interface. Its parts: ``rules`` (the phrase
rules over fast TextBlob and VADER ports in ``lexical``, with ``domain``, ``phrases``, ``tokens``:
they explain), ``features`` and ``learned`` (the model trained on real labelled texts: it
decides), ``types`` (Issue, Assessment, [scoring]) and ``evaluate`` (JSON lines in and out,
precision and recall on labelled lines).

The names are loaded when first used (PEP 562): reading the config needs only ``ScoringConfig``
(``types``), not the rules, the lexicons and numpy, so `recoverybot check` starts fast.
"""

from __future__ import annotations

import importlib
import sys
from types import ModuleType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bot.scoring.evaluate import EvalReport, evaluate, score_stream
    from bot.scoring.scorer import Scorer, assess
    from bot.scoring.types import REMEDY_WORTHY, Assessment, Issue, ScoringConfig

_WHERE = {
    "EvalReport": "evaluate", "evaluate": "evaluate", "score_stream": "evaluate",
    "Scorer": "scorer", "assess": "scorer",
    "REMEDY_WORTHY": "types", "Assessment": "types", "Issue": "types", "ScoringConfig": "types",
}

__all__ = [
    "REMEDY_WORTHY", "Assessment", "EvalReport", "Issue", "Scorer", "ScoringConfig", "assess", "evaluate",
    "score_stream",
]


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'bot.scoring' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"bot.scoring.{module}"), name)
    globals()[name] = value
    return value


class _Package(ModuleType):
    """The package keeps ``evaluate`` the function when its submodule of that name is loaded (the
    import system sets the submodule on its package; the eager imports used to rebind it)."""

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "evaluate" and isinstance(value, ModuleType):
            value = value.evaluate
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
