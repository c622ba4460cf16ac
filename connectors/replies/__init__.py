"""Public replies to reviews: where a staff member's reply to a buyer's review is posted.

A reply channel belongs to the *source* a review came from (the site that shows it), so it is
registered by the source's ``kind`` and built from that ``[[sources]]`` entry's own keys: a
WooCommerce shop's product reviews are WordPress comments, answered through the WordPress REST API
with an application password (``connectors.replies.wordpress``). A source kind missing here takes
no replies from recoverybot (a Mastodon post, a Reddit thread, a support email).

Ready for more sites, not built yet (each is one module and one line in :data:`REPLY_KINDS`):

- **Trustpilot** (``kind = "trustpilot"``): the Business API's ``POST
  /v1/private/reviews/{reviewId}/reply`` with ``{"authorBusinessUserId", "message"}``, behind an
  OAuth2 token of a business user (client id + secret + that user's login, all from env vars).
  A review has at most one reply (posting again replaces it), so a retry first GETs the review
  and skips when its ``companyReply`` already has our text.
- **App Store** (``kind = "appstore"``): App Store Connect's ``POST /v1/customerReviewResponses``
  with the review's id in ``relationships.review``, authenticated by a signed JWT (issuer id, key
  id and a .p8 private key from env vars). One response per review; a retry first reads
  ``GET /v1/customerReviews/{id}/response``.

Every channel gets the idempotency key: the sites honour no idempotency header, so a retry lists
the review's replies first and skips the POST when one carries the key's marker or the same words.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import httpx

__all__ = ["REPLY_KINDS", "ReplyChannel", "ReviewRef", "build_channel", "supports_replies"]


@dataclass(frozen=True)
class ReviewRef:
    """The review a reply answers, as its site knows it."""

    source: str  # the [[sources]] entry's name
    review_id: str  # the site's id of the review (the mention's external_id)
    product_id: str | None = None  # WooCommerce: the product (a WordPress post) the review is on
    url: str | None = None  # where the review is shown (for messages)


@runtime_checkable
class ReplyChannel(Protocol):
    """Posts one reply under one review, once.

    ``post`` returns a short reference for the case history ("comment 812"). It raises
    :class:`~bot.errors.DispatchError` (``retryable`` says whether trying again may help) or
    :class:`~bot.errors.SecretMissing` (the credentials' variable is not set). Called again with the
    same ``idempotency_key`` (a retry after a crash), it finds the earlier reply and posts nothing.
    """

    def post(self, review_ref: ReviewRef, text: str, idempotency_key: str) -> str: ...


# source kind -> "module:Class" of its reply channel.
REPLY_KINDS: dict[str, str] = {
    "woocommerce": "connectors.replies.wordpress:WordPressReplies",
}


def supports_replies(source_kind: str) -> bool:
    """Whether reviews from a source of this kind can be answered by recoverybot."""
    return source_kind in REPLY_KINDS


def build_channel(source: str, source_kind: str, options: dict[str, Any], client: httpx.Client,
                  *, timeout: float = 20.0) -> ReplyChannel:
    """The reply channel of a source, from its ``[[sources]]`` keys (KeyError: the kind takes no replies)."""
    module, _, name = REPLY_KINDS[source_kind].partition(":")
    cls = getattr(importlib.import_module(module), name)
    channel: ReplyChannel = cls(source, options, client, timeout=timeout)
    return channel
