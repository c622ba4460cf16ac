"""The pipeline's own glue: scoring what is new, one odd text never blocking the rest."""

from __future__ import annotations

from sqlalchemy import select

from bot.pipeline import score_pending
from bot.scoring import Scorer
from bot.store import Assessment, Mention, Store, fingerprint


def add(store: Store, external_id: str, text: str, rating: float | None) -> None:
    with store.session() as s:
        s.add(Mention(source="shop", source_kind="schema_org", external_id=external_id, text=text,
                      rating=rating, fingerprint=fingerprint(text)))


def test_a_text_the_scorer_rejects_is_stored_neutral_and_the_rest_is_scored(store: Store) -> None:
    add(store, "a", "Stopped working after two days and won't turn on.", 1)
    # A rating outside 1..5 can only come from a bug somewhere upstream; the scorer refuses it.
    add(store, "b", "Fine.", 0)
    add(store, "c", "Lovely, works perfectly.", 5)
    summary = score_pending(store, Scorer(), batch=2)
    assert summary.scored == 3 and summary.failed == 1 and not summary.ok
    with store.session() as s:
        rows = {m.external_id: a for m, a in s.execute(select(Mention, Assessment).join(Assessment))}
    assert rows["a"].unhappy and rows["a"].issue == "defective"
    assert not rows["b"].unhappy and rows["b"].cues[0].startswith("could not be scored")
    assert not rows["c"].unhappy
    assert score_pending(store, Scorer()).scored == 0  # nothing is scored twice
