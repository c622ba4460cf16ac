"""WooCommerce's REST API v3, as reviews, orders and fulfilment use it.

Keys are a consumer key and secret from environment variables named in config, sent as HTTP Basic
auth (WooCommerce's way over HTTPS), never logged. Lists page with ``page``/``per_page`` and say
how many pages there are in ``X-WP-TotalPages``; behind the WordPress.com proxy a list comes
wrapped in ``{"data": [...]}``.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any

from bot.env import secret

API_PATH = "/wp-json/wc/v3"
MAX_PER_PAGE = 100
# The meta key that carries a remedy's idempotency key on the objects fulfilment creates.
IDEMPOTENCY_META = "_recoverybot_idempotency_key"


def api_base(url: str) -> str:
    """The API root of a shop at `url` (``https://shop.example`` -> ``.../wp-json/wc/v3``)."""
    return url.rstrip("/") + API_PATH


def credentials(key_env: str, secret_env: str, where: str) -> tuple[str, str]:
    """(consumer key, consumer secret) from the variables `where`.consumer_key_env / _secret_env name."""
    return secret(key_env, f"{where}.consumer_key_env"), secret(secret_env, f"{where}.consumer_secret_env")


def basic_auth(key: str, value: str) -> dict[str, str]:
    """The Authorization header for a key pair (for clients that take headers, not ``auth=``)."""
    token = base64.b64encode(f"{key}:{value}".encode()).decode("ascii")
    return {"Authorization": f"Basic {token}"}


def items(data: Any) -> list[Any] | None:
    """The list a list endpoint answered, unwrapped from the WordPress.com envelope; None if not a list."""
    if isinstance(data, dict) and isinstance(data.get("data"), list):
        data = data["data"]
    return data if isinstance(data, list) else None


def total_pages(headers: Mapping[str, str]) -> int | None:
    """``X-WP-TotalPages`` when the shop sent a usable one."""
    value = headers.get("x-wp-totalpages")
    return int(value) if value and value.isdigit() else None


def last_page(page: int, count: int, per_page: int, total: int | None) -> bool:
    """Whether page `page` (1-based) holding `count` items was the last one."""
    return count < per_page or (total is not None and page >= total)


def has_meta(meta: Any, key: str, value: str) -> bool:
    """Whether a ``meta_data`` list holds `key` = `value`."""
    return isinstance(meta, list) and any(
        isinstance(m, dict) and m.get("key") == key and m.get("value") == value for m in meta
    )
