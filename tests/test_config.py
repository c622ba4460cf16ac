"""Config: the sample is valid; every kind of mistake names its key and line (exit code 2)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot import config as cfg
from bot import env
from bot.cli import main
from bot.errors import ConfigError, SecretMissing

ROOT = Path(__file__).resolve().parents[1]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_sample_config_is_valid_and_is_what_init_writes(tmp_path: Path) -> None:
    config = cfg.load(ROOT / "config.toml")
    assert config.bot.database == "sqlite:///recoverybot.db"
    target = tmp_path / "new.toml"
    assert main(["init", str(target)]) == 0
    assert target.read_text() == (ROOT / "config.toml").read_text()
    assert main(["init", str(target)]) == 2  # refuses to overwrite without --force


def test_defaults_when_file_is_empty(tmp_path: Path) -> None:
    config = cfg.load(write(tmp_path, ""))
    assert config.sources == ()
    assert config.bot.timezone == "UTC"
    assert config.base_dir == tmp_path


def test_unknown_key_names_line_and_suggests(tmp_path: Path) -> None:
    path = write(tmp_path, '[bot]\nshop_name = "x"\ndatabse = "sqlite:///x.db"\n')
    with pytest.raises(ConfigError) as err:
        cfg.load(path)
    assert err.value.key == "bot.databse"
    assert err.value.line == 3
    assert "did you mean 'database'" in str(err.value)
    assert f"{path}:3" in str(err.value)


def test_unknown_section_suggests(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        cfg.load(write(tmp_path, "\n[digets]\nto = []\n"))
    assert err.value.key == "digets"
    assert err.value.line == 2
    assert "did you mean 'digest'" in str(err.value)


def test_wrong_type_in_second_source_names_its_path(tmp_path: Path) -> None:
    text = (
        '[[sources]]\nname = "a"\nkind = "rss"\nurls = ["http://127.0.0.1/feed"]\n\n'
        '[[sources]]\nname = "b"\nkind = "rss"\nurls = ["http://127.0.0.1/feed2"]\nevery = "often"\n'
    )
    with pytest.raises(ConfigError) as err:
        cfg.load(write(tmp_path, text))
    assert err.value.key == "sources[1].every"
    assert err.value.line == 10
    assert "'often'" in str(err.value)


def test_bad_toml_names_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        cfg.load(write(tmp_path, '[bot]\nshop_name = "unterminated\n'))
    assert err.value.line == 2
    assert "not valid TOML" in str(err.value)


def test_unknown_source_kind_suggests(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        cfg.load(write(tmp_path, '[[sources]]\nname = "shop"\nkind = "schema-org"\n'))
    assert err.value.key == "sources[0].kind"
    assert err.value.line == 3
    assert "did you mean 'schema_org'" in str(err.value)


def test_connector_option_error_names_source(tmp_path: Path) -> None:
    text = '[[sources]]\nname = "shop"\nkind = "schema_org"\nurl = ["http://127.0.0.1/p"]\n'
    with pytest.raises(ConfigError) as err:
        cfg.load(write(tmp_path, text))
    assert err.value.key == "sources[0].url"
    assert err.value.line == 4
    assert "source 'shop'" in str(err.value)


def test_duplicate_source_names(tmp_path: Path) -> None:
    text = '[[sources]]\nname = "a"\nkind = "rss"\nurls = []\n[[sources]]\nname = "a"\nkind = "rss"\nurls = []\n'
    with pytest.raises(ConfigError, match="two sources are named 'a'"):
        cfg.load(write(tmp_path, text))


def test_bad_timezone_and_schedule(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown time zone 'Mars/Olympus'"):
        cfg.load(write(tmp_path, '[bot]\ntimezone = "Mars/Olympus"\n'))
    with pytest.raises(ConfigError, match="crontab"):
        cfg.load(write(tmp_path, '[[sources]]\nname = "a"\nkind = "rss"\nurls = []\ncron = "every day"\n'))


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        cfg.load(tmp_path / "nope.toml")


def test_secret_comes_from_the_named_variable() -> None:
    assert env.secret("SHOP_TOKEN", "orders.token_env", environ={"SHOP_TOKEN": "s3cret"}) == "s3cret"
    with pytest.raises(SecretMissing) as err:
        env.secret("SHOP_TOKEN", "orders.token_env", environ={})
    assert "SHOP_TOKEN" in str(err.value) and err.value.key == "orders.token_env"
    assert "s3cret" not in str(err.value)


@pytest.mark.parametrize(
    "text",
    [
        '[bot]\ndatabse = "x"\n',  # unknown key
        "[bot]\ndry_run = 3\n",  # wrong type
        "[bot\n",  # bad TOML
        '[[sources]]\nname = "a"\nkind = "nope"\n',  # unknown kind
    ],
)
def test_cli_check_exits_2_on_bad_config(tmp_path: Path, text: str, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, text)
    assert main(["--config", str(path), "check"]) == 2
    err = capsys.readouterr().err
    assert "config error" in err and str(path) in err


def test_cli_check_lists_parts(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, '[[sources]]\nname = "feed"\nkind = "rss"\nurls = ["http://127.0.0.1/f"]\nevery = "2h"\n')
    assert main(["--config", str(path), "check"]) == 0
    out = capsys.readouterr().out
    assert "valid" in out and "source feed: rss, every 2h" in out


@pytest.mark.parametrize(
    ("dotted", "line"),
    [("bot.dry_run", 2), ("sources[1].name", 6), ("sources[1]", 5), ("digest.to", None), ("policy.rules[1].name", 11)],
)
def test_locate_finds_dotted_keys(dotted: str, line: int | None) -> None:
    text = (
        '[bot]\ndry_run = true\n[[sources]]\nname = "a"\n[[sources]]\nname = "b"\n'
        '[policy]\n[[policy.rules]]\nname = "r0"\n[[policy.rules]]\nname = "r1"\n'
    )
    assert cfg.locate(text, dotted) == line


def test_parse_duration() -> None:
    assert cfg.parse_duration("30m") == 1800
    assert cfg.parse_duration("2s") == 2
    with pytest.raises(ValueError):
        cfg.parse_duration("0m")


def test_every_mistake_is_listed_at_once(tmp_path: Path) -> None:
    text = '[digest]\nto = ["a@b.c"]\nsend_at = "25:00"\n\n[schedule]\ncollect_every = "soon"\n'
    with pytest.raises(ConfigError) as err:
        cfg.load(write(tmp_path, text))
    message = str(err.value)
    assert "schedule.collect_every" in message and "digest.send_at" in message
    assert "line 3" in message or ":3" in message


def test_jitter_may_be_zero_but_intervals_may_not(tmp_path: Path) -> None:
    assert cfg.load(write(tmp_path, '[schedule]\njitter = "0s"\n')).schedule.jitter == "0s"
    with pytest.raises(ConfigError, match="longer than zero"):
        cfg.load(write(tmp_path, '[schedule]\ndispatch_every = "0s"\n'))


def test_shop_api_orders_need_their_address(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        cfg.load(write(tmp_path, '[orders]\nkind = "shopify"\n'))
    assert err.value.key == "orders" and err.value.line == 1 and "needs shop" in str(err.value)


def test_check_warns_about_unset_secret_variables(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RB_TEST_SMTP_PW", raising=False)
    relay = write(tmp_path, '[digest]\nto = ["ops@shop.example"]\nsmtp_host = "127.0.0.1"\n'
                            'smtp_password_env = "RB_TEST_SMTP_PW"\n')
    assert main(["--config", str(relay), "check"]) == 0
    assert "warning" not in capsys.readouterr().out  # no smtp_user: a relay never reads the password
    path = write(tmp_path, '[digest]\nto = ["ops@shop.example"]\nsmtp_host = "127.0.0.1"\nsmtp_user = "bot"\n'
                           'smtp_password_env = "RB_TEST_SMTP_PW"\n')
    assert main(["--config", str(path), "check"]) == 0
    out = capsys.readouterr().out
    assert "warning: digest.smtp_password_env names the environment variable RB_TEST_SMTP_PW" in out
    assert "built-in rules" in out
    monkeypatch.setenv("RB_TEST_SMTP_PW", "x")
    assert main(["--config", str(path), "check"]) == 0
    assert "warning" not in capsys.readouterr().out


def test_database_url_mistakes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, '[bot]\ndatabase = "mysql://bot:pw@127.0.0.1/shop"\n')
    assert main(["--config", str(path), "status"]) == 2
    err = capsys.readouterr().err
    assert "bot.database" in err and "pw@" not in err
    path = write(tmp_path, f'[bot]\ndatabase = "sqlite:///{tmp_path}/missing/bot.db"\n')
    assert main(["--config", str(path), "status"]) == 1
    assert "folder" in capsys.readouterr().err


def test_data_dir_env_moves_a_relative_database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Docker/systemd mount the config read-only; RECOVERYBOT_DATA_DIR puts the database elsewhere."""
    from bot.store import open_store

    config_dir, data_dir = tmp_path / "config", tmp_path / "data"
    config_dir.mkdir()
    data_dir.mkdir()
    path = config_dir / "config.toml"
    path.write_text('[bot]\ndatabase = "sqlite:///bot.db"\n', encoding="utf-8")
    monkeypatch.setenv("RECOVERYBOT_DATA_DIR", str(data_dir))
    config = cfg.load(path)
    assert config.data_dir == data_dir
    open_store(config.bot.database, config.data_dir).dispose()
    assert (data_dir / "bot.db").exists() and not (config_dir / "bot.db").exists()
    monkeypatch.delenv("RECOVERYBOT_DATA_DIR")
    assert cfg.load(path).data_dir == config_dir


def test_email_fulfilment_needs_the_digest_smtp_server(tmp_path: Path) -> None:
    text = '[[fulfilment]]\nname = "cs"\nkind = "email"\nto = ["cs@shop.example"]\n'
    with pytest.raises(ConfigError, match=r"fulfilment 'cs' \(email\) sends through \[digest\] smtp_host"):
        cfg.load(write(tmp_path, text))
    assert cfg.load(write(tmp_path, text + '[digest]\nsmtp_host = "127.0.0.1"\n')).fulfilment[0].kind == "email"


def test_check_lists_the_effective_rules_and_warns_about_shadowed_fulfilment(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, '[[policy.rules]]\nname = "reddit-gesture"\nsource_kinds = ["reddit"]\nremedy = "gesture"\n\n'
                           '[[fulfilment]]\nname = "everything"\nkind = "csv"\n\n'
                           '[[fulfilment]]\nname = "ops"\nkind = "csv"\npath = "ops.csv"\nhandles = ["refund"]\n')
    assert main(["--config", str(path), "check"]) == 0
    out = capsys.readouterr().out
    assert "1 own rules + 10 built-in rules" in out
    lines = [line.strip() for line in out.splitlines()]
    first = lines.index("policy rules, in order (first match wins):")
    assert lines[first + 1] == "1. reddit-gesture (own): gesture, always asks a person"
    assert lines[first + 2].startswith("2. unmatched-contact (built-in): contact")
    assert ("warning: fulfilment 'ops' never receives any remedy: 'everything' comes first with empty handles"
            in out)
    off = write(tmp_path, '[policy]\nbuiltin_rules = false\n\n[[policy.rules]]\nname = "only"\nremedy = "contact"\n')
    assert main(["--config", str(off), "check"]) == 0
    out = capsys.readouterr().out
    assert "1 own rules" in out and "built-in)" not in out and "warning" not in out
