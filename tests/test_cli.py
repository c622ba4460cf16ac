"""The CLI end to end on the bundled demo shop: demo (twice), mentions, cases, status, digest, score, eval."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from bot.cli import main

ROOT = Path(__file__).resolve().parents[1]


def counts(db: Path) -> dict[str, int]:
    with sqlite3.connect(db) as conn:
        return {
            table: conn.execute(f"select count(*) from {table}").fetchone()[0]
            for table in ("mention", "assessment", "recovery_case", "remedy", "shop_order", "customer")
        }


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One demo run kept in a folder, shared by the read-only CLI tests below."""
    work = tmp_path_factory.mktemp("demo")
    assert main(["demo", "--workdir", str(work / "state"), "--preview", str(work / "digest.html")]) == 0
    return work


def test_demo_writes_preview_and_summary(demo_dir: Path) -> None:
    html = (demo_dir / "digest.html").read_text(encoding="utf-8")
    assert "Kestrel Lane" in html and "Needs you" in html
    seen = counts(demo_dir / "state" / "recoverybot.db")
    assert seen["mention"] >= 70 and seen["assessment"] == seen["mention"]
    assert seen["recovery_case"] > 0 and seen["remedy"] > 0 and seen["shop_order"] >= 20


def test_demo_again_on_the_same_database_stores_nothing_twice(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = tmp_path / "state"
    assert main(["demo", "--workdir", str(state), "--preview", str(tmp_path / "a.html")]) == 0
    first = counts(state / "recoverybot.db")
    capsys.readouterr()
    assert main(["demo", "--workdir", str(state), "--preview", str(tmp_path / "b.html")]) == 0
    out = capsys.readouterr().out
    assert counts(state / "recoverybot.db") == first
    assert "0 new mentions" in out


def test_mentions_and_cases_as_json(demo_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = str(demo_dir / "state" / "config.toml")
    capsys.readouterr()
    assert main(["--config", config, "mentions", "--source", "shop", "--json"]) == 0
    mentions = json.loads(capsys.readouterr().out)
    assert mentions and all(m["source"] == "shop" for m in mentions)
    assert main(["--config", config, "cases", "--json"]) == 0
    cases = json.loads(capsys.readouterr().out)
    assert cases
    # Emails never leave the store unmasked.
    assert "@example" not in json.dumps(cases).replace("***@example", "")


def test_status_and_digest_text(demo_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = str(demo_dir / "state" / "config.toml")
    capsys.readouterr()
    code = main(["--config", config, "status"])
    out = capsys.readouterr().out
    assert code in (0, 1) and "shop" in out and "social" in out
    assert main(["--config", config, "digest"]) == 0
    text = capsys.readouterr().out
    assert "Kestrel Lane" in text and "THE DAY IN NUMBERS" in text and "NEEDS YOU" in text


def test_unknown_source_for_cycle_is_a_config_error(demo_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = str(demo_dir / "state" / "config.toml")
    assert main(["--config", config, "cycle", "--source", "shopp"]) == 2
    assert "no source named 'shopp'" in capsys.readouterr().err


def test_score_streams_json_lines_in_order(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lines = [
        json.dumps({"id": "a", "text": "Stopped working after two days, won't even turn on now.", "rating": 1}),
        "{not json",
        json.dumps({"id": "c", "text": "Lovely jumper, fits perfectly and so soft.", "rating": 5}),
        json.dumps({"id": "d", "text": "fine", "rating": 9}),
    ]
    src = tmp_path / "in.jsonl"
    src.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert main(["score", str(src)]) == 1  # two bad lines
    out = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(out) == 4
    assert out[0]["id"] == "a" and out[0]["unhappy"] is True and out[0]["issue"] == "defective"
    assert out[1]["line"] == 2 and "error" in out[1]
    assert out[2]["id"] == "c" and out[2]["unhappy"] is False
    assert out[3]["line"] == 4 and "rating" in out[3]["error"]


def test_eval_reports_precision_and_recall(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["eval", str(ROOT / "tests" / "data" / "scoring_check.jsonl"), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    text = json.dumps(report)
    assert "precision" in text and "recall" in text


@pytest.mark.parametrize(
    "argv",
    [
        ["digest", "--date", "2026-13-01"],
        ["mentions", "--since", "yesterday"],
        ["cases", "--status", "bogus"],
    ],
)
def test_bad_arguments_are_usage_errors(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2
    assert "Traceback" not in capsys.readouterr().err


def test_since_keeps_the_offset_given() -> None:
    from bot.cli import since_arg

    assert since_arg("2026-11-22T00:00+05:00").isoformat() == "2026-11-21T19:00:00+00:00"
    assert since_arg("2026-11-22").isoformat() == "2026-11-22T00:00:00+00:00"


def test_unreadable_or_empty_inputs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["score", str(tmp_path / "missing.jsonl")]) == 2
    assert "cannot read" in capsys.readouterr().err
    empty = tmp_path / "empty.jsonl"
    empty.write_text("", encoding="utf-8")
    assert main(["eval", str(empty)]) == 1
    assert "no labelled example" in capsys.readouterr().err


def test_approving_an_unknown_case_is_a_usage_error(demo_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = str(demo_dir / "state" / "config.toml")
    assert main(["--config", config, "approve", "99999"]) == 2
    assert "99999" in capsys.readouterr().err


def test_linking_a_handle_rematches_waiting_cases_at_once(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    state = tmp_path / "state"
    assert main(["demo", "--workdir", str(state), "--preview", str(tmp_path / "d.html")]) == 0
    config = str(state / "config.toml")
    capsys.readouterr()
    # @gadget_grump has no order; say it is Daniel Okafor (a real demo buyer) and the case is looked at again.
    assert main(["--config", config, "customers", "link", "@gadget_grump", "daniel.okafor@example.com"]) == 0
    out = capsys.readouterr().out
    assert "linked @gadget_grump to d***@example.com" in out
    assert "cases:" in out  # the re-match ran and said what it did
    assert main(["--config", config, "customers", "link", "@nobody", "nobody@example.com"]) == 2


def test_check_says_when_a_source_cannot_be_read_within_its_interval(tmp_path: Path,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    urls = ", ".join(f'"https://shop.example/products/p{i}"' for i in range(3000))
    config = tmp_path / "config.toml"
    config.write_text(f"""
[http]
max_requests_per_minute = 60

[[sources]]
name = "big"
kind = "schema_org"
every = "30m"
max_pages = 2500
urls = [{urls}]

[[sources]]
name = "small"
kind = "schema_org"
every = "1h"
urls = ["https://shop.example/products/one"]
""", encoding="utf-8")
    assert main(["--config", str(config), "check"]) == 0
    out = capsys.readouterr().out
    assert "warning: source big: lists 3000 pages but max_pages is 2500: 500 are never read" in out
    assert "warning: source big: 3000 pages at one every 1s take 50 min, longer than its interval (30 min)" in out
    assert "source small:" not in out.split("valid", 1)[1].split("policy rules")[1]
