"""The error tree: context in messages, secrets never in them."""

from __future__ import annotations

from bot.errors import ConfigError, FetchError, RecoveryBotError, strip_credentials


def test_source_errors_hide_credentials_in_urls() -> None:
    err = FetchError("HTTP 401", source="staff-pages", url="http://staff:pa55word@127.0.0.1:8080/p?q=1")
    assert "pa55word" not in str(err) and "staff:" not in err.url
    assert err.url == "http://***@127.0.0.1:8080/p?q=1"
    assert str(err).startswith("[staff-pages] http://***@127.0.0.1:8080/p?q=1: HTTP 401")
    assert strip_credentials("https://shop.example/search?q=a@b") == "https://shop.example/search?q=a@b"


def test_every_error_is_a_recoverybot_error_with_its_hint() -> None:
    err = ConfigError("unknown key 'x'", key="bot.x", line=3, path="config.toml", hint="known keys here: ...")
    assert isinstance(err, RecoveryBotError)
    assert str(err) == "config.toml:3, key bot.x: unknown key 'x'\n  hint: known keys here: ..."
