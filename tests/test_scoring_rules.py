"""The phrase rules (bot/scoring/rules.py and their parts): the scorer's explanations and evidence.

These lines are ours, written to explain and pin down what each rule does; they are never evidence of
accuracy (that is measured on real labelled texts by bench/train_scoring.py and `recoverybot eval`)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from pydantic import ValidationError
from textblob import TextBlob
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from bot.scoring import lexical
from bot.scoring.domain import PhraseMatcher, match_slots
from bot.scoring.tokens import split_text
from bot.scoring import REMEDY_WORTHY, Assessment, Issue, ScoringConfig, evaluate, score_stream
from bot.scoring.rules import RuleScorer as Scorer

DATA = Path(__file__).parent / "data"
DEV = DATA / "scoring_dev.jsonl"


@pytest.fixture(scope="module")
def scorer() -> Scorer:
    return Scorer()


def _dev_texts() -> list[str]:
    return [json.loads(line)["text"] for line in DEV.read_text(encoding="utf-8").splitlines()]


EXTRA_TEXTS = [
    "I don't like it... It's not good :( ! Wasn't great (!) e.g. the U.S. \"quoted\" text.\n\nNew para",
    "VADER is VERY SMART, uber handsome, and FRIGGIN FUNNY!!!",
    "The plot was good, but the characters are uncompelling and the dialog is not great.",
    "Catch utf-8 emoji such as 💘 and 💋 and 😁",
    "It was the least bad option, at least. Kind of good, sort of.",
    # VADER's context rules (the fast path must leave them exact): boosters, negation, idioms, 'but'.
    "It is kind of good. Not so bad at all! I do NOT love it, without doubt the least bad.",
    "this is the shit, yeah right, a kiss of death, to die for. NEVER so good, but no no good either",
    "Good, good, good but bad, bad, good but fine and not great",
    "",
]


def test_fast_textblob_polarity_matches_textblob() -> None:
    for text in _dev_texts() + EXTRA_TEXTS:
        expected = TextBlob(text).sentiment.polarity
        # The shared, cached split is what assess() uses; the whole-text tokeniser is the reference.
        assert split_text(text).textblob == lexical.textblob_tokens(text), text
        got = lexical.textblob_polarity(split_text(text).textblob)
        assert got == pytest.approx(expected, abs=1e-9), text


def test_fast_vader_compound_matches_vader() -> None:
    analyzer = SentimentIntensityAnalyzer()
    for text in _dev_texts() + EXTRA_TEXTS:
        words = split_text(text).vader
        assert words == lexical.vader_tokens(text.strip()), text
        got = lexical.vader_compound(text, words, lexical.vader_valences(words))
        assert got == analyzer.polarity_scores(text)["compound"], text


def test_phrase_automaton_agrees_with_backtracking_matcher() -> None:
    matcher = PhraseMatcher()
    texts = _dev_texts()[::4] + [
        "It stopped working after 3 weeks, and the left earbud is dead.",
        "At first it was fine but then it died. Ordered a red one and received a blue one instead of it.",
    ]
    for text in texts:
        tokens = split_text(text).domain
        expected: dict[int, dict[int, int]] = {}
        for rid, slots in matcher.patterns:
            for i in range(len(tokens)):
                end = match_slots(tokens, slots, 0, i)
                if end > i and end > expected.setdefault(rid, {}).get(i, -1):
                    expected[rid][i] = end
        expected = {rid: spans for rid, spans in expected.items() if spans}
        assert matcher.spans(tokens) == expected, text


def test_calm_failure_is_unhappy_and_defective(scorer: Scorer) -> None:
    a = scorer.assess(
        "I have used this speaker every morning since March. The sound is clear and pairing was easy. "
        "Last week it stopped charging, and now it won't turn on at all."
    )
    assert a.unhappy and a.issue is Issue.DEFECTIVE and a.remedy_worthy
    assert any("stopped working" in c or "power on" in c for c in a.cues)


def test_happy_review_with_quibble_is_not_unhappy(scorer: Scorer) -> None:
    a = scorer.assess("Great little speaker, loud and clear. Only complaint is the strap is a bit short.")
    assert not a.unhappy and a.issue is Issue.NONE


@pytest.mark.parametrize(
    ("text", "issue"),
    [
        ("Tracking says delivered but nothing was at my door.", Issue.NOT_DELIVERED),
        ("I ordered a blue dress and they sent a red skirt.", Issue.WRONG_ITEM),
        ("The lamp arrived broken, the box was crushed.", Issue.DAMAGED),
        ("Two of the screws were missing from the box.", Issue.MISSING_PARTS),
        ("Way too small, I had to send it back for a bigger size.", Issue.FIT_SIZE),
        ("Not as described at all, the photos show real leather and this is plastic.", Issue.NOT_AS_DESCRIBED),
    ],
)
def test_issue_types(scorer: Scorer, text: str, issue: Issue) -> None:
    a = scorer.assess(text)
    assert a.unhappy and a.issue is issue


def test_negated_and_hypothetical_failures_are_not_complaints(scorer: Scorer) -> None:
    assert not scorer.assess("No scratches, nothing missing, works perfectly. Love it.").unhappy
    a = scorer.assess("Reviews said it stops working after a month, but mine has been perfect for a year.")
    assert not a.unhappy
    assert any(c.startswith("hypothetical") for c in a.cues)


def test_turn_and_sarcasm(scorer: Scorer) -> None:
    assert scorer.assess("Worked great until it died after two weeks.").issue is Issue.DEFECTIVE
    assert scorer.assess("Oh great, thanks for nothing @shop, my parcel never arrived 🙄").unhappy


def test_rating_rules(scorer: Scorer) -> None:
    assert scorer.assess("Nice colour.", rating=1).unhappy
    assert not scorer.assess("Lovely, fits well, fast delivery.", rating=5).unhappy
    flagged = scorer.assess("Love the boots, but one of the studs fell off after a week.", rating=5)
    assert flagged.unhappy and flagged.issue is Issue.DEFECTIVE
    with pytest.raises(ValueError, match="between 1 and 5"):
        scorer.assess("fine", rating=7)


def test_no_fixable_problem_is_not_remedy_worthy(scorer: Scorer) -> None:
    a = scorer.assess("Way overpriced for what it is, not worth the money.", rating=2)
    assert a.unhappy and not a.remedy_worthy and a.issue is Issue.PRICE_VALUE


@pytest.mark.parametrize(
    ("text", "cue"),
    [
        ("", "empty text"),
        ("   ", "empty text"),
        ("https://example.com/p/123", "only links"),
        ("El producto llegó tarde y la caja estaba rota, muy mala experiencia con esta tienda", "not look like English"),
        ("这个产品质量很差，用了两天就坏了", "not look like English"),
    ],
)
def test_bad_input_is_neutral_with_reason(scorer: Scorer, text: str, cue: str) -> None:
    a = scorer.assess(text)
    assert not a.unhappy and a.issue is Issue.NONE
    assert any(cue in c for c in a.cues)


def test_emoji_only_and_huge_text(scorer: Scorer) -> None:
    assert scorer.assess("😡😡😡").unhappy
    big = "The battery stopped charging after a week. " * 25_000  # ~1 MB
    a = scorer.assess(big)
    assert a.unhappy and any("truncated" in c for c in a.cues)


def test_assessment_as_dict_is_json_ready() -> None:
    d = Scorer().assess("It broke after two days.").as_dict()
    assert json.loads(json.dumps(d)) == d
    assert set(d) == {"sentiment", "unhappy", "issue", "confidence", "remedy_worthy", "sure", "scored", "cues"}
    assert isinstance(d["issue"], str) and isinstance(d["cues"], list)
    assert Issue.NONE not in REMEDY_WORTHY and len(REMEDY_WORTHY) == 7
    assert Assessment(0.0, True, Issue.DAMAGED, 0.9, ()).remedy_worthy


def test_score_stream_errors_per_line_in_order(scorer: Scorer) -> None:
    lines = [
        json.dumps({"id": "a", "text": "It stopped working after a week.", "rating": 2}),
        "{not json",
        "",
        "   \t\r\n",
        json.dumps({"id": "c", "text": "Great!", "rating": 9}),
        json.dumps({"id": "d"}),
        json.dumps({"id": 7, "text": "fine", "title": "ok", "rating": "five"}),
        "\n",
        json.dumps({"id": "e", "text": "Love it, works perfectly."}),
    ]
    out = io.StringIO()
    bad = score_stream(lines, out, scorer)
    rows = [json.loads(x) for x in out.getvalue().splitlines()]
    # Blank lines give no output and are no errors; error lines keep their physical line number.
    assert bad == 4 and len(rows) == 6
    assert rows[0]["id"] == "a" and rows[0]["unhappy"] is True and rows[0]["issue"] == "defective"
    assert rows[1] == {"line": 2, "error": rows[1]["error"]} and "invalid JSON" in rows[1]["error"]
    assert rows[2] == {"id": "c", "line": 5, "error": "rating must be between 1 and 5, got 9"}
    assert rows[3]["id"] == "d" and rows[3]["line"] == 6 and "text" in rows[3]["error"]
    assert rows[4]["id"] == 7 and rows[4]["line"] == 7 and "rating" in rows[4]["error"]
    assert rows[5]["id"] == "e" and rows[5]["unhappy"] is False
    assert all("id" in r for r in rows if "error" in r and r["line"] != 2)


def test_evaluate_dev_set(scorer: Scorer) -> None:
    report = evaluate(DEV.read_text(encoding="utf-8").splitlines() + ["garbage"], scorer)
    d = report.as_dict()
    assert d["n"] == len(_dev_texts()) and d["bad_lines"] == 1
    unhappy = d["unhappy"]
    remedy = d["remedy_worthy"]
    assert isinstance(unhappy, dict) and isinstance(remedy, dict)
    assert unhappy["f1"] >= 0.9
    assert remedy["precision"] >= 0.9
    text = report.render()
    assert "remedy-worthy" in text and "confusion" in text


def test_config_defaults_described_and_extensible() -> None:
    for name, f in ScoringConfig.model_fields.items():
        assert f.description, name
    with pytest.raises(ValidationError):
        ScoringConfig(unknown_key=1)  # type: ignore[call-arg]
    cfg = ScoringConfig(extra_phrases={"defective": ["(went|goes) wonky"]}, extra_negative_words=["blergh"])
    a = Scorer(cfg).assess("Three days in, the display went wonky.")
    assert a.unhappy and a.issue is Issue.DEFECTIVE
    with pytest.raises(ValueError, match="unknown issue"):
        Scorer(ScoringConfig(extra_phrases={"nonsense": ["x"]}))


def test_deterministic(scorer: Scorer) -> None:
    text = "Arrived late and the box was crushed, but the mug inside is fine."
    assert scorer.assess(text) == scorer.assess(text) == Scorer().assess(text)


@pytest.mark.parametrize(
    ("text", "rating"),
    [
        ("Great bottle but it doesn't fit the cup holder in my car, so it rolls around. Check yours first.", 4),
        ("Wrinkles as soon as you look at it, but it's linen so that's the point. Fits true to size.", 4),
        ("Beautiful soft wool. It does come up small though: I'm usually an M and the M is snug. Size up.", 4),
    ],
)
def test_fit_advice_at_high_stars_is_not_a_complaint(scorer: Scorer, text: str, rating: int) -> None:
    assert not scorer.assess(text, rating=rating).unhappy


def test_one_word_sarcasm_after_a_payment_problem(scorer: Scorer) -> None:
    a = scorer.assess("The payment page keeps timing out and now my bank shows two pending charges and no "
                      "order confirmation. Great.")
    assert a.unhappy and a.issue is Issue.SERVICE


@pytest.mark.parametrize(
    ("text", "issue"),
    [
        ("The kite came without the string and the handle.", Issue.MISSING_PARTS),
        ("Ordered a 12 pack of cat food, only 9 tins in the box.", Issue.MISSING_PARTS),
        ("They sent me the kids version, I ordered the 1000 piece one.", Issue.WRONG_ITEM),
        ("The mug came in 4 pieces.", Issue.DAMAGED),
        ("The vacuum lost suction after a month, it barely picks up crumbs now.", Issue.DEFECTIVE),
        ("Beautiful fabric but the trousers are huge at the waist. Had to send them back.", Issue.FIT_SIZE),
        ("Supposed to be dishwasher safe, but the print washed off after two cycles.", Issue.NOT_AS_DESCRIBED),
    ],
)
def test_general_structures_name_the_issue(scorer: Scorer, text: str, issue: Issue) -> None:
    a = scorer.assess(text, rating=2)
    assert a.unhappy and a.issue is issue


@pytest.mark.parametrize(
    ("text", "issue"),
    [
        ("Six weeks in, the right ear cup started crackling and now the hinge creaks and the dial is stuck.",
         Issue.DEFECTIVE),
        ("The chuck stopped gripping the bits halfway through the first project.", Issue.DEFECTIVE),
        ("The replacement unit also does exactly the same thing, so it's going back under warranty.",
         Issue.DEFECTIVE),
        ("@shop 3 weeks and nothing. tracking hasn't moved since monday", Issue.NOT_DELIVERED),
        ("Payment taken, order confirmed, and then nothing", Issue.NOT_DELIVERED),
        ("The box had no power cable and no remote, only the unit.", Issue.MISSING_PARTS),
        ("Instead of the black 256GB model I ordered, I got a silver 64GB one.", Issue.WRONG_ITEM),
        ("The honey jar arrived with the lid cracked and honey all over the other items.", Issue.DAMAGED),
    ],
)
def test_parts_and_failures_generalise(scorer: Scorer, text: str, issue: Issue) -> None:
    a = scorer.assess(text)
    assert a.unhappy and a.issue is issue, a.cues


@pytest.mark.parametrize(
    "text",
    [
        "Dropped it twice on tiles and the screen didn't crack; the hinge has never once loosened. Impressed.",
        "My old kettle died after ten years so I bought this one. Boils fast, very pleased.",
        "Bought this after my previous router kept dropping out. This one has been rock solid.",
        "The fan hums quietly at night, which I like. Oscillates smoothly, remote works from across the room.",
        "Ordered on Monday and received it on Tuesday. Perfect condition, exactly as described.",
        "Box was a little dented but the kettle inside was perfect and works great.",
    ],
)
def test_parts_mentioned_in_happy_reviews_are_not_complaints(scorer: Scorer, text: str) -> None:
    a = scorer.assess(text)
    assert not a.unhappy, a.cues


def test_optional_last_letter_and_short_plain_english() -> None:
    # "pixels?" matches "pixel" and "pixels"; a short text of lexicon words is English.
    assert Scorer().assess("One dead pixel right in the middle.").issue is Issue.DEFECTIVE
    a = Scorer().assess("Frozen fish arrived fully thawed and smelling off.", rating=1)
    assert a.issue is Issue.DAMAGED and not any("English" in c for c in a.cues)


# ----------------------------------------------------------------------------- the learned model

def _train_script() -> object:
    import importlib.util

    path = Path(__file__).resolve().parent.parent / "bench" / "train_scoring.py"
    spec = importlib.util.spec_from_file_location("train_scoring", path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


_PASSING = ("The soundbar took ten minutes to set up. The subwoofer kept dropping out on the first evening, "
            "and after the update it pushed overnight it has not happened again. Dialogue is clear and the "
            "bass is deep without rattling the windows. ")


def test_long_review_is_judged_by_how_it_ends(scorer: Scorer) -> None:
    happy = scorer.assess(_PASSING + "Does exactly what I need, would buy again.")
    assert not happy.remedy_worthy, happy.cues
    assert any("happy verdict" in c for c in happy.cues)
    # The same story ending in a request for a remedy is a complaint whatever came before.
    text = ("The soundbar took ten minutes to set up. After a fortnight the subwoofer started dropping out every "
            "few hours and the remote stopped working. Dialogue is clear and the bass is deep. ")
    asks = scorer.assess(text + "I love the sound, but I need it replaced.")
    assert asks.remedy_worthy and asks.issue is Issue.DEFECTIVE, asks.cues
    assert not any("happy verdict" in c for c in asks.cues)


@pytest.mark.parametrize(
    "text",
    [
        "The charger I had before melted. This one barely gets warm after a night of charging. Big upgrade.",
        "Bought to replace a kettle that started leaking. This one is quiet, quick and easy to fill. Happy.",
        "My brother's unit died twice in a year so I was wary. Mine has run every day for six months. Recommended.",
        "As a photographer I distrust spare batteries because one I owned years ago swelled up. These charge fast "
        "and last all day. Would buy again.",
        "Box was battered and the corner crushed, but everything inside was fine. Picture is sharp and setup was "
        "quick. Very pleased.",
        "We had some connection drops in the first week, but they stopped once I moved the router off the floor. "
        "Picture quality is stunning and the remote is handy.",
    ],
)
def test_faults_of_other_products_or_put_right_are_not_remedy_cases(scorer: Scorer, text: str) -> None:
    a = scorer.assess(text)
    assert not a.remedy_worthy, a.cues


def test_a_failure_nearer_this_product_than_the_old_one_counts(scorer: Scorer) -> None:
    a = scorer.assess("I binned my old one and this new one died after a week.")
    assert a.remedy_worthy and a.issue is Issue.DEFECTIVE, a.cues


@pytest.mark.parametrize(
    ("text", "issue"),
    [
        ("these 'xl' gloves barely cover my fingers", Issue.FIT_SIZE),
        ("the '4k' dashcam records in 1080 at best", Issue.NOT_AS_DESCRIBED),
        ("paid for 'next day' and still nothing a week on", Issue.NOT_DELIVERED),
        ("thanks for sending me someone else's trainers @shoeshack", Issue.WRONG_ITEM),
        ("thanks for sending me a cracked vase, made my day", Issue.DAMAGED),
        ("Everything was there except the power cable.", Issue.MISSING_PARTS),
    ],
)
def test_scare_quotes_and_sarcastic_thanks_name_the_issue(scorer: Scorer, text: str, issue: Issue) -> None:
    a = scorer.assess(text)
    assert a.unhappy and a.issue is issue, a.cues


def test_quoted_words_in_praise_are_no_complaint(scorer: Scorer) -> None:
    a = scorer.assess("the 'waterproof' jacket kept me dry all day in the storm, love it")
    assert not a.unhappy, a.cues
