"""`recoverybot train`: refitting the scorer on the shop's own decisions, installed only when no worse.

The texts here are written by us to exercise the mechanics; they are no evidence of accuracy."""

from __future__ import annotations

import numpy as np
import pytest

from bot.scoring import Scorer, ScoringConfig
from bot.scoring.retrain import Example, held_back, refit, shop_model, shop_weights_path, train

BROKEN = [
    "The {x} stopped working after two days, I want a replacement.",
    "My {x} arrived cracked in the box, please send a new one.",
    "Ordered the {x} three weeks ago and it never arrived.",
]
FINE = [
    "The courier was rude but the {x} is fine.",
    "Support took ages to answer about the {x}, it works though.",
    "The {x} is a bit pricey for what it is.",
]
THINGS = ["kettle", "lamp", "toaster", "blender", "fan", "heater", "radio", "clock", "speaker", "mixer"]


def decisions() -> list[Example]:
    out = []
    for n, thing in enumerate(THINGS):
        for k, text in enumerate(BROKEN):
            out.append(Example(f"shop:b{n}-{k}", text.format(x=thing), 1.0, None, True,
                               ("defective", "damaged", "not_delivered")[k]))
        for k, text in enumerate(FINE):
            out.append(Example(f"shop:f{n}-{k}", text.format(x=thing), 2.0, None, False, "service"))
    return out


def test_too_few_decisions_are_refused_and_nothing_is_written(tmp_path):
    report = train(ScoringConfig(), tmp_path, decisions()[:10])
    assert report.refused and "too few staff decisions" in report.refused
    assert not shop_weights_path(tmp_path).exists()


def test_refit_moves_only_the_remedy_and_issue_heads_and_is_deterministic():
    scorer = Scorer()
    fit_on = [e for e in decisions() if not held_back(e.key)]
    a, b = refit(scorer, fit_on), refit(scorer, fit_on)
    base = scorer.model
    assert base is not None
    assert np.array_equal(a.weights, b.weights) and np.array_equal(a.bias, b.bias)
    assert np.array_equal(a.weights[:, 0], base.weights[:, 0])  # unhappy head untouched
    assert a.bias[1] == base.bias[1]  # the remedy head's bias stays (staff see a selected sample)
    assert not np.array_equal(a.weights[:, 1], base.weights[:, 1])
    assert a.meta["refit"]["decisions"] == len(fit_on)


def test_measured_before_and_after_and_installed_only_when_asked(tmp_path):
    dry = train(ScoringConfig(), tmp_path, decisions(), install=False)
    assert dry.before is not None and dry.after is not None and dry.held >= 8
    assert not shop_weights_path(tmp_path).exists()
    # A refit that is worse on the held-back decisions is never installed; with a tolerance that
    # accepts anything, it is, and the scorer uses it only when learn_from_shop is on.
    report = train(ScoringConfig(), tmp_path, decisions(), tolerance=1.0)
    assert report.installed == shop_weights_path(tmp_path)
    assert any("learn_from_shop" in line for line in report.lines())
    assert shop_model(ScoringConfig(), tmp_path) is None
    model = shop_model(ScoringConfig(learn_from_shop=True), tmp_path)
    assert model is not None and "refit" in model.meta
    assert Scorer(model=model).assess("The kettle stopped working after two days.", 1.0).unhappy


def test_a_damaged_weights_file_is_a_clear_error(tmp_path):
    from bot.errors import ScoringError

    shop_weights_path(tmp_path).write_bytes(b"not numpy")
    with pytest.raises(ScoringError, match="cannot read scorer weights"):
        shop_model(ScoringConfig(learn_from_shop=True), tmp_path)


def _write_lines(path, examples, **extra):
    import json

    with open(path, "w", encoding="utf-8") as fh:
        for e in examples:
            fh.write(json.dumps({"id": e.key, "text": e.text, "rating": e.rating, "unhappy": e.unhappy,
                                 "issue": e.issue, "remedy_worthy": e.remedy_worthy, **extra}) + "\n")


def test_a_shops_labelled_file_is_read_as_decisions_and_overrides_one_with_its_id(tmp_path):
    from bot.scoring.retrain import read_labelled, with_added

    path = tmp_path / "ours.jsonl"
    _write_lines(path, decisions())
    lines = read_labelled(path)
    assert lines == decisions()  # same keys, texts, labels: the held-back share is the same too
    # A line exported from a mention and corrected by staff replaces their decision on it.
    fixed = Example("shop:f0-0", "The courier was rude but the kettle is fine.", 2.0, None, False, "service", False)
    merged = with_added(decisions(), [fixed])
    assert len(merged) == len(decisions()) and fixed in merged
    # Lines without an id get a stable key from their text: the same line is held back every time.
    _write_lines(tmp_path / "noid.jsonl", decisions()[:3])
    text = (tmp_path / "noid.jsonl").read_text(encoding="utf-8").replace('"id": "shop:b0-0", ', "")
    (tmp_path / "noid.jsonl").write_text(text, encoding="utf-8")
    a, b = read_labelled(tmp_path / "noid.jsonl"), read_labelled(tmp_path / "noid.jsonl")
    assert a[0].key == b[0].key and a[0].key.startswith("file:") and a[1].key == "shop:b0-1"


def test_a_bad_labelled_line_stops_the_refit_and_names_the_file_and_line(tmp_path):
    from bot.errors import ScoringError
    from bot.scoring.retrain import read_labelled

    path = tmp_path / "ours.jsonl"
    _write_lines(path, decisions()[:2])
    with open(path, "a", encoding="utf-8") as fh:
        fh.write('{"text": "Lid cracked.", "unhappy": true, "issue": "cracked", "remedy_worthy": true}\n')
        fh.write('{"text": "Fine.", "unhappy": false, "issue": "none", "remedy_worthy": true}\n')
        fh.write("not json\n")
    with pytest.raises(ScoringError) as err:
        read_labelled(path)
    message = str(err.value)
    assert "ours.jsonl: 3 bad line(s), nothing refitted" in message
    assert "line 3: 'issue' 'cracked' is not one of" in message
    assert "line 4: 'remedy_worthy' true needs 'unhappy' true" in message and "line 5: invalid JSON" in message
    with pytest.raises(ScoringError, match="cannot read the labelled file"):
        read_labelled(tmp_path / "missing.jsonl")


def test_recoverybot_train_add_fits_on_a_labelled_file_with_no_staff_decisions_yet(tmp_path, capsys):
    from bot.cli import main

    config = tmp_path / "config.toml"
    assert main(["init", str(config)]) == 0
    path = tmp_path / "ours.jsonl"
    _write_lines(path, decisions())
    assert main(["--config", str(config), "train", "--add", str(path), "--dry-run"]) == 0
    said = capsys.readouterr()
    assert f"0 staff decisions and {len(decisions())} labelled lines of {path}" in said.err
    assert "a dry run" in said.out and "held back" in said.out
    assert not shop_weights_path(tmp_path / "data").exists() and not list(tmp_path.rglob("scorer-weights.npz"))
    few = tmp_path / "few.jsonl"
    _write_lines(few, decisions()[:3])
    assert main(["--config", str(config), "train", "--add", str(few), "--dry-run"]) == 1  # would not install
    assert "too few staff decisions and labelled lines yet (3;" in capsys.readouterr().out
    (tmp_path / "bad.jsonl").write_text('{"text": "x"}\n', encoding="utf-8")
    assert main(["--config", str(config), "train", "--add", str(tmp_path / "bad.jsonl")]) != 0
    assert "bad.jsonl: 1 bad line(s)" in capsys.readouterr().err


def test_labelled_lines_must_say_remedy_worthy_and_odd_json_is_a_bad_line_not_a_crash(tmp_path):
    from bot.errors import ScoringError
    from bot.scoring.retrain import read_labelled

    lines = [
        '{"text": "Lid cracked.", "unhappy": true, "issue": "damaged"}',  # eval would guess; training does not
        '{"text": "Lid cracked.", "unhappy": true, "issue": "damaged", "remedy_worthy": null}',
        "[" * 100_000,
        '{"text": "x", "unhappy": true, "issue": "damaged", "remedy_worthy": true, "rating": ' + "9" * 5000 + "}",
        '{"text": "bad \\ud800 text", "unhappy": true, "issue": "damaged", "remedy_worthy": true}',
    ]
    path = tmp_path / "odd.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(ScoringError) as err:
        read_labelled(path)
    message = str(err.value)
    assert "5 bad line(s)" in message
    assert "line 1: 'remedy_worthy' must be true or false" in message and "line 2: 'remedy_worthy'" in message
    assert "line 3: invalid JSON: nested too deeply" in message and "line 4: invalid JSON" in message
    assert "line 5: 'text' holds characters that are not valid Unicode" in message


def test_the_same_text_twice_with_other_labels_is_refused_and_a_long_text_is_cut(tmp_path):
    from bot.errors import ScoringError
    from bot.scoring.retrain import MAX_TEXT, read_labelled

    same = '{"text": "The kettle leaks.", "unhappy": true, "issue": "defective", "remedy_worthy": %s}'
    path = tmp_path / "twice.jsonl"
    path.write_text(same % "true" + "\n" + same % "true" + "\n", encoding="utf-8")
    assert len(read_labelled(path)) == 1  # the same label twice: one example
    path.write_text(same % "true" + "\n" + same % "false" + "\n", encoding="utf-8")
    with pytest.raises(ScoringError, match="line 2: the same text or id as line 1 with other labels"):
        read_labelled(path)
    long = '{"text": "%s", "unhappy": true, "issue": "defective", "remedy_worthy": true}' % ("x" * (MAX_TEXT + 50))
    path.write_text(long + "\n", encoding="utf-8")
    assert len(read_labelled(path)[0].text) == MAX_TEXT


def test_an_added_line_without_id_replaces_the_decision_on_the_same_text_and_changes_the_fit(tmp_path):
    from bot.scoring.retrain import read_labelled, with_added

    staff = decisions()
    # Staff approved every "arrived cracked" case; the shop's file says those were not remedy-worthy.
    path = tmp_path / "ours.jsonl"
    corrected = [Example("", e.text, e.rating, None, False, e.issue, True) for e in staff if "cracked" in e.text]
    _write_lines(path, corrected)
    text = path.read_text(encoding="utf-8").replace('"id": "", ', "")
    path.write_text(text, encoding="utf-8")
    merged = with_added(staff, read_labelled(path))
    assert len(merged) == len(staff)
    assert all(not e.remedy_worthy for e in merged if "cracked" in e.text)
    assert {e.key for e in merged} == {e.key for e in staff}  # same keys: the same ones held back
    before = train(ScoringConfig(), tmp_path / "a", staff, tolerance=1.0)
    after = train(ScoringConfig(), tmp_path / "b", merged, tolerance=1.0)
    assert before.installed and after.installed
    text = "My radio arrived cracked in the box, please send a new one."
    p_staff = Scorer(model=shop_model(ScoringConfig(learn_from_shop=True), tmp_path / "a")).assess(text, 1.0).p_remedy
    p_file = Scorer(model=shop_model(ScoringConfig(learn_from_shop=True), tmp_path / "b")).assess(text, 1.0).p_remedy
    assert p_staff is not None and p_file is not None and p_file < p_staff - 0.2
