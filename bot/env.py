"""What recoverybot takes from its environment: secrets named in config, the config and data folders.

A small module at the bottom of the import graph, so every stage and connector can read a secret
without importing the config schema (which imports the stages' own section models).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from bot.errors import SecretMissing

ENV_CONFIG = "RECOVERYBOT_CONFIG"
ENV_DATA_DIR = "RECOVERYBOT_DATA_DIR"


def secret(env_name: str | None, key: str, *, environ: Mapping[str, str] | None = None) -> str:
    """The value of the environment variable a `*_env` key names; SecretMissing when unset."""
    env = os.environ if environ is None else environ
    if not env_name:
        raise SecretMissing(f"{key} is not set", key=key, hint=f"set {key} to the name of an environment variable")
    value = env.get(env_name)
    if not value:
        raise SecretMissing(
            f"environment variable {env_name} (named by {key}) is not set",
            key=key,
            hint=f"export {env_name}=... in the daemon's environment (never in config.toml)",
        )
    return value


def default_config_path() -> Path:
    """$RECOVERYBOT_CONFIG, else ./config.toml."""
    return Path(os.environ.get(ENV_CONFIG) or "config.toml")


def data_dir(base_dir: Path) -> Path:
    """Where relative outputs (the SQLite database, the warehouse csv) go: $RECOVERYBOT_DATA_DIR (set by
    the Docker image and the systemd unit to a writable folder), else `base_dir` (the config's folder)."""
    env = os.environ.get(ENV_DATA_DIR)
    return Path(env) if env else base_dir


def mask_url(url: str) -> str:
    """The database URL with any password hidden, for logs and errors."""
    if "://" in url and "@" in url:
        scheme, rest = url.split("://", 1)
        creds, host = rest.rsplit("@", 1)
        user = creds.split(":", 1)[0]
        return f"{scheme}://{user}:***@{host}"
    return url
