"""Shopify's Admin API (REST and GraphQL), as orders and fulfilment use it.

An Admin API access token from an environment variable named in config goes in the
``X-Shopify-Access-Token`` header. REST lists page by cursor in the ``Link`` header; GraphQL
answers carry the leaky bucket's state in ``extensions.cost``, so a client can wait for the next
page's cost instead of being throttled.
"""

from __future__ import annotations

from typing import Any

import httpx

from bot.env import secret


def admin_base(shop: str, api_version: str) -> str:
    """``https://<shop>/admin/api/<version>`` for a shop given as a host or a URL."""
    base = shop.rstrip("/")
    if "://" not in base:
        base = "https://" + base
    return f"{base}/admin/api/{api_version}"


def token(env_name: str, where: str) -> str:
    """The access token from the variable `where`.access_token_env names."""
    return secret(env_name, f"{where}.access_token_env")


def auth_headers(access_token: str) -> dict[str, str]:
    return {"X-Shopify-Access-Token": access_token}


def next_link(response: httpx.Response) -> str | None:
    """The rel="next" URL of Shopify's cursor pagination (Link header), if any."""
    link: str = response.headers.get("link", "")
    for part in link.split(","):
        url, _, rel = part.partition(";")
        if 'rel="next"' in rel.replace(" ", ""):
            return str(url.strip().strip("<>"))
    return None


def throttle_wait(cost: dict[str, Any], fallback_cost: int | None) -> float:
    """Seconds until the bucket holds the cost of one more such query (0 when it already does)."""
    status = cost.get("throttleStatus") or {}
    if status.get("currentlyAvailable") is None:
        return 0.0
    try:
        available = float(status["currentlyAvailable"])
        rate = float(status.get("restoreRate") or 50.0)
        needed = float(cost.get("requestedQueryCost") or fallback_cost or 0)
    except (TypeError, ValueError):
        return 0.0
    if available >= needed:
        return 0.0
    return min((needed - available) / rate, 60.0)
