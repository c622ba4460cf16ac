"""Replies to WooCommerce product reviews, as WordPress comments (``POST /wp-json/wp/v2/comments``).

WooCommerce keeps a product review as a WordPress comment on the product (a post); its REST API
``wc/v3/products/reviews`` can create reviews but has no ``parent``, so it cannot answer one. The
WordPress comments endpoint can: ``post`` = the product id, ``parent`` = the review's (comment's)
id, ``content`` = the reply, authenticated as a shop user with a WordPress **application
password** (Users > Profile > Application Passwords) sent as HTTP Basic auth. The WooCommerce
consumer key of the source does not work there. User name and password come from the
environment variables the source's ``reply_user_env`` / ``reply_password_env`` name.

Comments carry no meta we may write, so the reply ends with an HTML comment holding a marker
derived from the idempotency key (WordPress keeps HTML comments in comment content; the marker
is a hash, it says nothing about the buyer or the case). Before posting, the review's replies are
listed (every status, so one held for moderation counts) and the POST is skipped when one has
the marker or the same words.
"""

from __future__ import annotations

import hashlib
import html
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import httpx

from bot.env import secret
from bot.errors import DispatchError
from connectors.replies import ReviewRef

API_PATH = "/wp-json/wp/v2"
PER_PAGE = 100
MAX_PAGES = 5  # replies under one review read at most (bounded: a hostile site cannot loop us)
MAX_BODY = 2_000_000


def marker(idempotency_key: str) -> str:
    """The tag a reply carries so a retry recognises it; a hash, never the key itself."""
    return "recoverybot:" + hashlib.sha256(idempotency_key.encode("utf-8")).hexdigest()[:16]


def words(text: str) -> str:
    """The words of a comment, without markup, entities or spacing (WordPress adds <p> and <br>)."""
    text = re.sub(r"<!--.{0,200}?-->", " ", text, flags=re.S)
    return " ".join(re.sub(r"<[^>]{0,200}>", " ", html.unescape(text)).split()).casefold()


class WordPressReplies:
    """Posts a reply under a WooCommerce product review through the WordPress REST API."""

    def __init__(self, source: str, options: dict[str, Any], client: httpx.Client, *, timeout: float = 20.0) -> None:
        from connectors.reviews.woocommerce import WooCommerceOptions

        opts = WooCommerceOptions.model_validate(options)
        self.source = source
        self.client = client
        self.timeout = timeout
        self.user_env = opts.reply_user_env
        self.password_env = opts.reply_password_env
        self.user = secret(opts.reply_user_env, f"sources.{source}.reply_user_env")
        self.password = secret(opts.reply_password_env, f"sources.{source}.reply_password_env")
        self.base = str(opts.url).rstrip("/") + API_PATH
        self.host = urlsplit(self.base).hostname

    def _send(self, method: str, path: str, **kwargs: Any) -> Any:
        url = self.base + path
        what = f"source {self.source!r}: WordPress {method} {url}"
        try:
            response = self.client.request(method, url, auth=(self.user, self.password), timeout=self.timeout,
                                           follow_redirects=False, **kwargs)
        except httpx.HTTPError as exc:
            raise DispatchError(f"{what}: {type(exc).__name__}: {exc}",
                                hint="check that the shop is reachable") from exc
        status = response.status_code
        if status in (401, 403):
            code = _code(response)
            raise DispatchError(
                f"{what}: HTTP {status}{f' ({code})' if code else ''}: WordPress refused the login of the user in "
                f"{self.user_env} with the application password in {self.password_env}",
                retryable=False,
                hint=f"set {self.user_env} to the WordPress user name (not its email) and {self.password_env} to an "
                     "application password of that user (Users > Profile > Application Passwords); the user must be "
                     "allowed to moderate comments (an administrator or shop manager)",
            )
        if not response.is_success:
            retryable = status >= 500 or status in (408, 409, 425, 429)
            body = response.text[:200].replace("\n", " ")
            raise DispatchError(f"{what}: HTTP {status}: {body}", retryable=retryable,
                                hint=None if retryable else "WordPress refused the reply; the message says why")
        if len(response.content) > MAX_BODY:
            raise DispatchError(f"{what}: the answer is larger than {MAX_BODY} bytes", retryable=False)
        try:
            return response.json()
        except ValueError as exc:
            raise DispatchError(f"{what}: the answer is not JSON",
                                hint="check the source's `url` is the shop's address (the API is under /wp-json)") from exc

    def _replies(self, ref: ReviewRef) -> Iterator[dict[str, Any]]:
        params = {"post": ref.product_id, "parent": ref.review_id, "per_page": PER_PAGE, "context": "edit",
                  "status": "all", "orderby": "id", "order": "desc"}
        for page in range(1, MAX_PAGES + 1):
            found = self._send("GET", "/comments", params={**params, "page": page})
            if not isinstance(found, list):
                raise DispatchError(f"source {self.source!r}: WordPress GET {self.base}/comments: expected a list")
            yield from (c for c in found if isinstance(c, dict))
            if len(found) < PER_PAGE:
                return

    def post(self, review_ref: ReviewRef, text: str, idempotency_key: str) -> str:
        if not review_ref.product_id or not str(review_ref.product_id).isdigit() or not review_ref.review_id.isdigit():
            raise DispatchError(f"source {self.source!r}: review {review_ref.review_id!r} has no WordPress product "
                                "and comment id to answer", retryable=False,
                                hint="only reviews collected by a woocommerce source can be answered")
        tag = marker(idempotency_key)
        same = words(text)
        for reply in self._replies(review_ref):
            content = reply.get("content")
            forms = [str(content.get(k) or "") for k in ("raw", "rendered")] if isinstance(content, dict) else []
            if any(tag in form or (same and words(form) == same) for form in forms):
                return f"comment {reply.get('id')} (posted by an earlier attempt)"
        body = {"post": int(review_ref.product_id), "parent": int(review_ref.review_id),
                "content": f"{html.escape(text.strip(), quote=False)}\n\n<!-- {tag} -->"}
        made = self._send("POST", "/comments", json=body)
        if not isinstance(made, dict) or made.get("id") is None:
            raise DispatchError(f"source {self.source!r}: WordPress POST {self.base}/comments: no comment id "
                                "in the answer", retryable=False, hint="check the reply under the review by hand")
        state = str(made.get("status") or "approved")
        held = "" if state in ("approved", "approve") else f", {state}: waits for moderation in WordPress"
        return f"comment {made['id']}{held}"


def _code(response: httpx.Response) -> str:
    """WordPress's error code (``incorrect_password``, ``rest_cannot_create``...), when it sent one."""
    try:
        data = response.json()
    except ValueError:
        return ""
    code = data.get("code") if isinstance(data, dict) else None
    return str(code)[:60] if code else ""
