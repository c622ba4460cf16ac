"""Connectors: one module per source kind, registered here by name (STYLE.md point 2).

`config.toml` names a connector by its `kind`; an unknown kind is a config error at start-up.
Modules are imported on first use so a broken optional dependency only hurts its own kind.
"""

from __future__ import annotations

import importlib

from connectors.base import Connector, RawMention

__all__ = ["KINDS", "Connector", "RawMention", "registry"]

# kind -> "module:Class". Keep sorted; every entry needs a test (tests/test_meta.py checks).
KINDS: dict[str, str] = {
    "appstore": "connectors.reviews.appstore:AppStoreConnector",
    "bluesky": "connectors.social.bluesky:BlueskyConnector",
    "googleplay": "connectors.reviews.googleplay:GooglePlayConnector",
    "hackernews": "connectors.social.hackernews:HackerNewsConnector",
    "html": "connectors.reviews.html:HtmlConnector",
    "imap": "connectors.mail.imap:ImapConnector",
    "judgeme": "connectors.reviews.judgeme:JudgeMeConnector",
    "mastodon": "connectors.social.mastodon:MastodonConnector",
    "reddit": "connectors.social.reddit:RedditConnector",
    "rss": "connectors.social.rss:RssConnector",
    "schema_org": "connectors.reviews.schema_org:SchemaOrgConnector",
    "trustpilot": "connectors.reviews.trustpilot:TrustpilotConnector",
    "trustpilot_api": "connectors.reviews.trustpilot_api:TrustpilotApiConnector",
    "woocommerce": "connectors.reviews.woocommerce:WooCommerceConnector",
    "yotpo": "connectors.reviews.yotpo:YotpoConnector",
}

_loaded: dict[str, type[Connector]] = {}


def registry() -> dict[str, type[Connector]]:
    """Every registered connector class by kind."""
    if len(_loaded) != len(KINDS):
        for kind, target in KINDS.items():
            if kind not in _loaded:
                module, _, name = target.partition(":")
                cls = getattr(importlib.import_module(module), name)
                if not isinstance(cls.kind, str) or cls.kind != kind:
                    raise TypeError(f"{target} declares kind {cls.kind!r}, registered as {kind!r}")
                _loaded[kind] = cls
    return dict(_loaded)
