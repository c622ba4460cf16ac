"""The CLI end to end on the bundled demo shop: demo (twice), mentions, cases, status, digest, score, eval."""

from __future__ import annotations

import json
import sqlite3
from datetime import timedelta
from pathlib import Path
from typing import Any

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
    said = capsys.readouterr()
    assert "no labelled example" in said.err and "precision" not in said.out  # no table of zeros
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "x", "unhappy": true, "issue": "brokn"}\n', encoding="utf-8")
    assert main(["eval", str(bad)]) == 1
    assert "line 1: 'issue' 'brokn' is not one of defective, damaged" in capsys.readouterr().err


def test_files_and_ports_the_user_names_get_a_sentence_not_a_traceback(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["web", "--port", "99999"]) == 2
    assert "--port 99999 is not a port number" in capsys.readouterr().err
    assert main(["init", "--force", str(tmp_path)]) == 1  # a folder, not a file
    assert f"cannot use {tmp_path}: Is a directory" in capsys.readouterr().err
    # A new folder for the shop's files is made.
    assert main(["init", str(tmp_path / "myshop" / "config.toml")]) == 0
    config = str(tmp_path / "myshop" / "config.toml")
    capsys.readouterr()
    assert main(["--config", config, "labels", "export", str(tmp_path / "no" / "such" / "x.jsonl")]) == 1
    err = capsys.readouterr().err
    assert "cannot use" in err and "No such file or directory" in err and "Traceback" not in err


def test_init_refuses_to_turn_the_bundled_sample_into_a_shops_config(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from importlib import resources

    sample = Path(str(resources.files("bot").joinpath("sample_config.toml")))
    before = sample.read_bytes()
    (tmp_path / "config.toml").symlink_to(sample)  # as in recoverybot's own folder
    monkeypatch.chdir(tmp_path)
    assert main(["init"]) == 2 and main(["init", "--force"]) == 2
    assert "bundled sample config" in capsys.readouterr().err
    assert sample.read_bytes() == before


def test_a_subcommand_left_out_is_named_in_words(capsys: pytest.CaptureFixture[str]) -> None:
    for argv, named in ((["orders"], "sync|import"), (["labels"], "export"), (["customers"], "link")):
        with pytest.raises(SystemExit):
            main(argv)
        err = capsys.readouterr().err
        assert f"required: {named}" in err and "_command" not in err


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


# --- staff at the keyboard: one case in full, bulk approve / reject, no silent truncation -------------


def _waiting_world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, receiver_url: str) -> tuple[str, list[int]]:
    """A config file and a store with three cases waiting for approval (a kettle without its lid each)
    and one wrong-item case with three remedies (refund + shipping credit + keep the item)."""
    from bot.config import load
    from bot.decide.cases import process
    from bot.decide.staff import list_cases
    from bot.store import open_store, utcnow
    from tests.decide_world import add_mention, add_order

    now = utcnow()  # the CLI acts at the real time: the cases must be fresh then

    def days_ago(days: float) -> Any:
        return now - timedelta(days=days)

    monkeypatch.setenv("RB_TEST_WEBHOOK_SECRET", "test-webhook-secret-not-real")
    path = tmp_path / "config.toml"
    path.write_text(f"""
[bot]
database = "sqlite:///store.db"
shop_name = "Kestrel Lane"

[policy]
daily_budget = 400
monthly_budget = 2000

[[fulfilment]]
name = "warehouse"
kind = "webhook"
url = "{receiver_url}"
secret_env = "RB_TEST_WEBHOOK_SECRET"
""", encoding="utf-8")
    config = load(str(path))
    store = open_store(config.bot.database, config.base_dir)
    try:
        with store.session() as s:
            for i in range(3):
                email = f"pat{i}@mail.example"
                add_order(s, email, f"Pat Number{i}", f"P-{i}", [("KET-1", "Travel Kettle", "25.00", 1)],
                          placed=days_ago(10), delivered=days_ago(7))
                add_mention(s, f"p{i}", f"Kettle number {i} came without its lid, parts missing. " + "Really. " * 20,
                            "missing_parts", published=days_ago(1), author_email=email)
            add_order(s, "amelie@mail.example", "Amélie Laurent", "K-1097", [("DR-07", "Linen Wrap Dress", "54.00", 2)],
                      placed=days_ago(9), delivered=days_ago(5))
            add_mention(s, "r3b", "I ordered two of the wrap dresses and inside were three plain white T-shirts.",
                        "wrong_item", published=days_ago(4), author_email="amelie@mail.example", rating=2,
                        sku="DR-07", confidence=0.3, sure=False, p_remedy=0.4)  # a long reason to wait
        process(store, config, now=now)
        ids = sorted(c["id"] for c in list_cases(store, status="awaiting_approval"))
    finally:
        store.dispose()
    assert len(ids) == 4
    return str(path), ids


@pytest.fixture
def remedy_receiver() -> Any:
    from tests.httpserver import LocalServer, Route

    with LocalServer({"/remedies": Route(body='{"ok": true}', content_type="application/json")}) as srv:
        yield srv


def test_cases_id_shows_one_case_in_full_in_words(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                  remedy_receiver: Any, capsys: pytest.CaptureFixture[str]) -> None:
    config, _ids = _waiting_world(tmp_path, monkeypatch, remedy_receiver.url("/remedies"))
    capsys.readouterr()
    assert main(["--config", config, "cases", "--json"]) == 0
    wrong = next(c for c in json.loads(capsys.readouterr().out) if c["issue"] == "wrong_item")
    assert main(["--config", config, "cases", str(wrong["id"])]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"Case {wrong['id']}: wrong item, waits for your approval")
    assert "Amélie Laurent <a***@mail.example>" in out and "amelie@mail.example" not in out
    assert "inside were three plain white T-shirts" in out  # the mention, whole
    assert "Order: K-1097 (csv)" in out and "2 x Linen Wrap Dress (DR-07), €54.00 each" in out
    # every remedy with its cost, and the right total (108 + 5 + 0)
    amounts = [r["amount"] for r in wrong["remedies"]]
    assert amounts == ["108.00", "5.00", "0.00"]
    assert "1. refund €108.00" in out and "2. shipping credit €5.00" in out and "3. keep the item" in out
    assert "Total: €113.00" in out
    assert "Note to the buyer:" in out and "Hello Amélie" in out
    assert "History:" in out and "bot: case opened" in out and "bot: policy decided" in out
    assert f"recoverybot approve {wrong['id']}" in out
    assert "auto_up_to" not in out and "_" not in out.split("What they wrote")[0]  # no setting names up top
    assert main(["--config", config, "cases", str(wrong["id"]), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["total"] == {"EUR": "113.00"}
    assert main(["--config", config, "cases", "4242"]) == 2
    assert "no case #4242" in capsys.readouterr().err


def test_bulk_approve_and_reject_report_each_case_and_a_wrong_id_stops_nothing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, remedy_receiver: Any,
        capsys: pytest.CaptureFixture[str]) -> None:
    config, ids = _waiting_world(tmp_path, monkeypatch, remedy_receiver.url("/remedies"))
    first, second, third, fourth = ids
    capsys.readouterr()
    assert main(["--config", config, "approve", str(first), "9999", str(second)]) == 2
    captured = capsys.readouterr()
    assert f"case {first} approved" in captured.out and f"case {second} approved" in captured.out
    assert "case 9999 not approved: no case #9999" in captured.err
    assert "1 of 3 not approved (9999)" in captured.err
    # approving one again says it is no longer waiting, and the others still go
    assert main(["--config", config, "reject", str(first), str(third), str(fourth), "--reason", "asked by phone"]) == 2
    captured = capsys.readouterr()
    assert f"case {third} rejected" in captured.out and f"case {fourth} rejected" in captured.out
    assert f"case {first} not rejected: case #{first} is queued, not awaiting approval" in captured.err
    assert main(["--config", config, "cases", "--json"]) == 0
    status = {c["id"]: c["status"] for c in json.loads(capsys.readouterr().out)}
    assert status == {first: "queued", second: "queued", third: "dismissed", fourth: "dismissed"}
    assert main(["--config", config, "approve", str(first), str(first)]) == 2  # once, not twice
    assert capsys.readouterr().err.count(f"case {first} not approved") == 1


def test_cases_list_never_cuts_a_reason_silently(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                 remedy_receiver: Any, capsys: pytest.CaptureFixture[str]) -> None:
    from bot.cli import WHY_CHARS
    from bot.report.view import plain

    config, ids = _waiting_world(tmp_path, monkeypatch, remedy_receiver.url("/remedies"))
    capsys.readouterr()
    assert main(["--config", config, "cases", "--json"]) == 0
    cases = {c["id"]: c for c in json.loads(capsys.readouterr().out)}
    assert main(["--config", config, "cases"]) == 0
    lines = capsys.readouterr().out.splitlines()
    header, rows = lines[0], lines[1:len(cases) + 1]
    why_at = header.index("why")
    assert any(len(cases[i]["approval_reason"]) > WHY_CHARS for i in ids)  # the test has something to cut
    for row in rows:
        case = cases[int(row.split()[0])]
        why = row[why_at:]
        assert len(why) <= WHY_CHARS + 1
        full = " ".join(plain(case["approval_reason"]).split())
        if len(full) > WHY_CHARS:
            assert why.endswith("…"), row
        else:
            assert not why.endswith("…"), row
    assert "refund €108.00, shipping credit €5.00, keep the item" in "\n".join(rows)


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


def test_check_warns_of_a_missing_orders_file_and_links_that_die_with_a_restart(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "config.toml"
    assert main(["init", str(config)]) == 0
    text = config.read_text(encoding="utf-8").replace('kind = "none"', 'kind = "csv"', 1)
    text = text.replace('# path = "orders.csv"', 'path = "ordrs.csv"', 1)
    head, _, tail = text.partition("[web]\n")
    config.write_text(head + "[web]\n" + tail.replace("enabled = false", "enabled = true", 1), encoding="utf-8")
    monkeypatch.delenv("RECOVERYBOT_WEB_KEY", raising=False)
    capsys.readouterr()
    assert main(["--config", str(config), "check"]) == 0
    out = capsys.readouterr().out
    assert "warning: [orders] path 'ordrs.csv': no such file" in out
    assert "note: [web] key_env names RECOVERYBOT_WEB_KEY, which is not set here" in out
    (tmp_path / "ordrs.csv").write_text("", encoding="utf-8")
    monkeypatch.setenv("RECOVERYBOT_WEB_KEY", "k" * 40)
    assert main(["--config", str(config), "check"]) == 0
    out = capsys.readouterr().out
    assert "[orders] path" not in out and "key_env" not in out


def test_web_on_a_busy_port_names_the_port_given(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import socket

    config = tmp_path / "config.toml"
    assert main(["init", str(config)]) == 0
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen(1)
    try:
        port = busy.getsockname()[1]
        capsys.readouterr()
        assert main(["--config", str(config), "web", "--port", str(port)]) == 2
        err = capsys.readouterr().err
        assert f"cannot listen on --port {port}" in err and "give another --port" in err and "[web] port" not in err
    finally:
        busy.close()
