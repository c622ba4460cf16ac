"""Signed links: one-click actions in the digest, sign-in links, session cookies.

A token is ``base64url(payload JSON) "." base64url(HMAC-SHA256(key, payload))``. The payload holds
what the link may do (``a``: approve, reject, change, signin, session), for whom (``r``: the
recipient it was made for), until when (``e``: a Unix time) and, for case actions, the case (``c``)
and the fingerprint of the proposal it was made for (``f``): once staff change a remedy, links made
for the old proposal no longer match and are refused. A used action or sign-in link is recorded in
``web_link_use`` (its signature's hash is the key), so it works once even with two servers.

Every check says why a link fails (:class:`LinkRefused` carries the reason in words), because the
page that shows it is read by marketing staff, not by programmers.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy.exc import IntegrityError

from bot.errors import ConfigError, RecoveryBotError
from bot.web.settings import WebConfig, is_loopback

if TYPE_CHECKING:
    from bot.store import Case, Store

log = logging.getLogger(__name__)

CASE_ACTIONS = ("approve", "reject", "change")
MAX_TOKEN = 2000  # a token longer than this is not one of ours: refused before decoding
MIN_KEY = 32


class LinkRefused(RecoveryBotError):
    """A link that cannot be used; ``reason`` is one of forged, expired, used, stale, wrong, and the
    message says in plain words why and what to do."""

    def __init__(self, reason: str, message: str, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.reason = reason


@dataclass(frozen=True)
class Link:
    """What a verified token says."""

    action: str
    recipient: str
    expires: datetime
    case_id: int | None = None
    fingerprint: str | None = None
    token: str = ""

    @property
    def digest(self) -> str:
        """The key of this link in ``web_link_use``: the hash of its signature part."""
        return hashlib.sha256(self.token.rpartition(".")[2].encode("ascii")).hexdigest()


def signing_key(web: WebConfig, environ: Mapping[str, str] | None = None) -> bytes:
    """The key from [web] key_env. Without it the inbox may only listen on loopback; it then gets a
    key made now, which dies with the process (links in an earlier digest stop working)."""
    env = os.environ if environ is None else environ
    value = env.get(web.key_env, "")
    if value:
        if len(value) < MIN_KEY:
            raise ConfigError(f"${web.key_env} is {len(value)} characters long; the signing key needs at least {MIN_KEY}",
                              key="web.key_env", hint="make one with: python3 -c 'import secrets; print(secrets.token_urlsafe(32))'")
        return value.encode("utf-8")
    if not is_loopback(web.bind):
        raise ConfigError(
            f"[web] bind is {web.bind!r}, reachable from other machines, but ${web.key_env} (the signing key, "
            "[web] key_env) is not set: refusing to start the web inbox",
            key="web.bind", hint=f"set {web.key_env} to 32+ random characters, or bind to 127.0.0.1 behind a proxy")
    log.warning("$%s is not set: web links are signed with a key made now; they stop working when the bot restarts",
                web.key_env)
    return _process_key()


_KEY: list[bytes] = []


def digest_key(web: WebConfig, environ: Mapping[str, str] | None = None) -> bytes | None:
    """The key for links in a digest: [web] key_env's, else the one this process's inbox made; None
    (no buttons, said in the log) when neither exists, since a link signed with a key nobody
    checks would only lead to a refusal page."""
    env = os.environ if environ is None else environ
    if env.get(web.key_env):
        return signing_key(web, env)
    if _KEY:
        return _KEY[0]
    if web.key_env not in _WARNED:
        _WARNED.add(web.key_env)
        log.warning("the digest has no Approve / Reject buttons: $%s ([web] key_env) is not set", web.key_env)
    return None


_WARNED: set[str] = set()


def _process_key() -> bytes:
    if not _KEY:
        _KEY.append(secrets.token_bytes(32))
    return _KEY[0]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign(key: bytes, payload: dict[str, Any]) -> str:
    body = _b64(json.dumps(payload, separators=(",", ":"), sort_keys=True).encode("utf-8"))
    mac = hmac.new(key, b"recoverybot-web:" + body.encode("ascii"), hashlib.sha256).digest()
    return f"{body}.{_b64(mac)}"


def make(key: bytes, action: str, recipient: str, expires: datetime, *, case_id: int | None = None,
         fingerprint: str | None = None) -> str:
    """A signed token for `action` by `recipient`, valid until `expires`."""
    payload: dict[str, Any] = {"a": action, "r": recipient, "e": int(expires.timestamp())}
    if case_id is not None:
        payload["c"] = case_id
        payload["f"] = fingerprint or ""
    payload["n"] = _b64(secrets.token_bytes(6))  # two links made in one second still differ
    return sign(key, payload)


def verify(key: bytes, token: str, now: datetime, *, actions: tuple[str, ...]) -> Link:
    """The link a token is, or LinkRefused: forged (bad signature or shape), wrong (another kind
    of link), expired."""
    forged = LinkRefused("forged", "This link is not one the bot made, or it was cut or changed on the way.",
                         "Open the link from the email again (copy all of it), or sign in to the inbox.")
    if not token or len(token) > MAX_TOKEN or token.count(".") != 1:
        raise forged
    body, _, mac = token.partition(".")
    try:
        given = _unb64(mac)
        want = hmac.new(key, b"recoverybot-web:" + body.encode("ascii"), hashlib.sha256).digest()
        if not hmac.compare_digest(given, want):
            raise forged
        payload = json.loads(_unb64(body))
        action, recipient, expires = str(payload["a"]), str(payload["r"]), int(payload["e"])
        case_id = int(payload["c"]) if "c" in payload else None
        fingerprint = str(payload["f"]) if "f" in payload else None
    except (ValueError, KeyError, TypeError, UnicodeError) as exc:
        raise forged from exc
    if action not in actions:
        raise LinkRefused("wrong", "This link is not meant for this page.", "Open the link from the email as it is.")
    when = datetime.fromtimestamp(expires, UTC)
    if when <= now:
        raise LinkRefused("expired", f"This link expired on {when:%d %b %Y at %H:%M} UTC.",
                          "Links in the digest work for a few days. Sign in to the inbox to decide this case, "
                          "or use the buttons in a newer digest.")
    return Link(action, recipient, when, case_id, fingerprint, token)


def proposal_fingerprint(case: Case) -> str:
    """What the case proposes now, hashed (:func:`bot.decide.staff.proposal_fingerprint`)."""
    from bot.decide.staff import proposal_fingerprint as fingerprint

    return fingerprint(case)


def check_current(case: Case | None, link: Link) -> None:
    """Refuse a case link whose case is gone, or whose proposal changed since the link was made."""
    if case is None:
        raise LinkRefused("wrong", f"Case {link.case_id} does not exist any more.", "Sign in to the inbox to see what waits.")
    if link.fingerprint != proposal_fingerprint(case):
        raise LinkRefused(
            "stale", f"Case {case.id} changed after this link was made (someone decided it or changed the remedy).",
            "Nothing was done. Sign in to the inbox to see the case as it is now.")


def claim(store: Store, link: Link, now: datetime) -> None:
    """Record that `link` is being used; LinkRefused("used") when it was used before."""
    from bot.store import WebLinkUse

    try:
        with store.session() as session:
            session.add(WebLinkUse(digest=link.digest, action=link.action, case_id=link.case_id,
                                   recipient=link.recipient[:200], used_at=now))
    except RecoveryBotError as exc:  # the store wraps the database's error; a duplicate key is a reuse
        if isinstance(exc.__cause__, IntegrityError):
            raise LinkRefused("used", "This link was used already; each link works once.",
                              "Sign in to the inbox to see what was done.") from exc
        raise


def unclaim(store: Store, link: Link) -> None:
    """Give the link back when its action did not happen (the case could not be approved)."""
    from bot.store import WebLinkUse

    with store.session() as session:
        row = session.get(WebLinkUse, link.digest)
        if row is not None:
            session.delete(row)


def was_used(store: Store, link: Link) -> bool:
    from bot.store import WebLinkUse

    with store.session() as session:
        return session.get(WebLinkUse, link.digest) is not None


def case_links(key: bytes, web: WebConfig, case: Case, recipient: str, now: datetime) -> dict[str, str]:
    """The Approve / Reject / Change addresses of one waiting case for one recipient."""
    expires = now + timedelta(days=web.link_days)
    print_ = proposal_fingerprint(case)
    assert case.id is not None
    return {action: f"{web.public_url}/link/{make(key, action, recipient, expires, case_id=case.id, fingerprint=print_)}"
            for action in CASE_ACTIONS}


__all__ = ["CASE_ACTIONS", "Link", "LinkRefused", "case_links", "check_current", "claim", "digest_key", "make", "proposal_fingerprint",
           "sign", "signing_key", "unclaim", "verify", "was_used"]
