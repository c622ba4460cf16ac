"""The scorer as shipped: the learned model decides, the phrase rules explain, unsure cases wait.

The lines here are ours, written to pin behaviour down (the seed stories as a buyer would tell
them); the model's accuracy is measured on real labelled texts (bench/train_scoring.py test,
`recoverybot eval --baselines`), never on these.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from bot.scoring import Issue, Scorer, ScoringConfig, learned
from bot.scoring.features import extract


@pytest.fixture(scope="module")
def scorer() -> Scorer:
    return Scorer()


def test_weights_ship_in_the_package_and_load_without_pickle() -> None:
    assert learned.WEIGHTS.exists() and learned.WEIGHTS.parent.name == "scoring"
    with np.load(learned.WEIGHTS, allow_pickle=False) as data:  # no code runs while loading
        assert data["weights"].shape[0] == len(data["names"])
        assert data["weights"].shape[1] == 2 + 2 * len(data["classes"])
    model = learned.load()
    assert model is learned.load()  # built once per process
    assert set(model.thresholds) == {"unhappy", "remedy", "sure_remedy", "sure_issue", "issue_route", "issue_from_words"}
    assert "en" in model.languages and model.meta["version"] == learned.VERSION


def test_probabilities_are_probabilities_and_the_same_every_time(scorer: Scorer) -> None:
    text = "The charger stopped working after a week and the seller does not answer."
    a, b = scorer.assess(text, 2), Scorer().assess(text, 2)
    assert a == b
    for p in (a.p_unhappy, a.p_remedy, a.p_issue):
        assert p is not None and 0.0 <= p <= 1.0 and not math.isnan(p)
    assert a.unhappy and a.issue is Issue.DEFECTIVE
    assert any(c.startswith("model: unhappy") for c in a.cues)
    assert json.loads(json.dumps(a.as_dict()))["p_remedy"] == a.p_remedy


def test_the_five_seed_stories_as_buyers_tell_them(scorer: Scorer) -> None:
    stories = [
        ("Cheap junk. The pocket fan died after two days, it won't even turn on any more. Waste of money.", 1,
         Issue.DEFECTIVE),
        ("Tracking says my parcel was delivered on Monday but nothing was left at my door and the neighbours "
         "have nothing either. Where is my order?", None, Issue.NOT_DELIVERED),
        ("I ordered two dresses for a wedding and received two cheap t-shirts instead. Not what I ordered!", 2,
         Issue.WRONG_ITEM),
        ("The decorative studs fell off my new boots after the first week of wearing them.", 3, Issue.DEFECTIVE),
    ]
    for text, rating, issue in stories:
        a = scorer.assess(text, rating)
        assert a.unhappy and a.issue is issue, (text, a.issue, a.cues)
    # The late return: a plainly worded request, never a parcel that did not arrive.
    late = scorer.assess("Hi, it's two days past your 30-day window, the flats don't fit, can I still return "
                         "them? My mum has been ill so I couldn't send them back sooner.")
    assert late.unhappy and late.issue is not Issue.NOT_DELIVERED, late.cues


def test_a_rude_courier_with_a_fine_item_is_not_a_remedy_case(scorer: Scorer) -> None:
    a = scorer.assess("The courier was rude when he dropped it off, but the kettle itself is fine and works well.")
    assert not a.remedy_worthy and not a.sure, a.cues


def test_sure_needs_both_probabilities_above_the_thresholds() -> None:
    text = "Tracking says delivered but the parcel never arrived, nothing at my door. Please send another."
    strict = Scorer(ScoringConfig(sure_remedy_probability=1.0, sure_issue_probability=1.0)).assess(text)
    assert strict.remedy_worthy and not strict.sure
    trusting = Scorer(ScoringConfig(sure_remedy_probability=0.0, sure_issue_probability=0.0)).assess(text)
    assert trusting.remedy_worthy and trusting.sure
    assert Scorer(ScoringConfig(model=False)).assess(text).sure is False  # the rules alone are never sure


def test_a_language_the_model_does_not_read_is_not_scored_and_never_happy(scorer: Scorer) -> None:
    unknown = [lang for lang in ("hu", "fi", "tr", "vi") if lang not in learned.load().languages]
    assert unknown, "the test needs a language the model does not read"
    texts = {"hu": "Nagyon rossz minőség, a termék két nap után tönkrement, nem ajánlom senkinek.",
             "fi": "Tuote hajosi kahden päivän jälkeen, erittäin huono laatu, en suosittele kenellekään.",
             "tr": "Ürün iki gün sonra bozuldu, çok kötü kalite, kimseye tavsiye etmiyorum.",
             "vi": "Sản phẩm bị lỗi sau hai ngày, chất lượng rất kém, không nên mua."}
    a = scorer.assess(texts[unknown[0]], 4)
    assert not a.scored and not a.unhappy and a.language == unknown[0]
    assert a.cues[0].startswith(f"not scored: language {unknown[0]}")
    none = scorer.assess(texts[unknown[0]])
    assert not none.scored and not none.unhappy


def test_unread_words_with_one_or_two_stars_are_unhappy_by_the_stars_but_never_a_remedy(scorer: Scorer) -> None:
    unknown = [lang for lang in ("hu", "fi", "tr") if lang not in learned.load().languages]
    assert unknown, "the test needs a language the model does not read"
    text = {"hu": "Nagyon rossz minőség, a termék két nap után tönkrement, nem ajánlom senkinek.",
            "fi": "Tuote hajosi kahden päivän jälkeen, erittäin huono laatu, en suosittele kenellekään.",
            "tr": "Ürün iki gün sonra bozuldu, çok kötü kalite, kimseye tavsiye etmiyorum."}[unknown[0]]
    for stars in (1, 2):
        a = scorer.assess(text, stars)
        assert a.unhappy and not a.scored and not a.remedy and not a.sure
        assert a.issue is Issue.OTHER and "unhappy by the stars alone" in a.cues
    assert not scorer.assess(text, 3).unhappy


def test_a_language_it_reads_is_scored(scorer: Scorer) -> None:
    assert "es" in learned.load().languages
    a = scorer.assess("El producto llegó roto, la caja estaba aplastada y nadie responde. Muy mala experiencia.")
    assert a.scored and a.unhappy and a.language == "es"


def test_unknown_features_are_ignored_and_an_empty_text_is_the_rules_verdict(scorer: Scorer) -> None:
    model = learned.load()
    base = model.predict([])
    assert base == model.predict([("w:zzzz-never-seen", 1.0)])
    assert scorer.assess("", 1).p_unhappy is None  # nothing to read: the stars alone (rules)
    assert extract("Broken!", 1, None)[-2:] == [("stars:1", 1.0), ("len:<8", 1.0)]
