"""The one exception tree of recoverybot.

Every error the bot raises on purpose is a ``RecoveryBotError``; library errors are mapped at the
boundary with ``raise ... from exc`` so the operator sees what failed, where, and what to do::

    RecoveryBotError                 base; .hint tells the operator what to do
    ├── ConfigError                  config.toml is wrong (exit code 2); .key, .line, .path
    │   └── SecretMissing            a `*_env` key names an environment variable that is not set
    ├── UsageError                   a command was given something that does not exist or fit (exit 2)
    ├── StoreError                   the database cannot be opened, migrated or written
    ├── SourceError                  a connector failed; .source, .url, .kind ("http", "parse", ...)
    │   ├── FetchError               the request failed (timeout, refused, status, too large)
    │   ├── RobotsDisallowed         robots.txt forbids the URL; it was never fetched
    │   ├── ParseError               the page or payload is not what the connector expects
    │   ├── LimitReached             a run read less than the source lists (max_pages); the rest is never read
    │   └── MailboxError             a mailbox (IMAP) cannot be reached, logged into or read
    ├── OrderSyncError               an order source failed (csv row, shop API)
    ├── ScoringError                 the scorer's weights cannot be read or refitted; .path
    ├── PolicyError                  a policy rule cannot be applied
    ├── DispatchError                a fulfilment adapter could not deliver a remedy
    ├── DigestError                  the digest could not be rendered or sent
    ├── AlertError                   an instant alert could not be sent to its target
    └── AlreadyRunning               another daemon holds the lock on this database
"""

from __future__ import annotations


class RecoveryBotError(Exception):
    """Base of every error recoverybot raises on purpose.

    ``hint`` is one sentence for the operator: what to check or change.
    """

    hint: str = ""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if hint is not None:
            self.hint = hint

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message}\n  hint: {self.hint}"
        return self.message


class ConfigError(RecoveryBotError):
    """The configuration file is invalid; ``key`` is the dotted path (``sources[2].every``)."""

    def __init__(
        self,
        message: str,
        *,
        key: str | None = None,
        line: int | None = None,
        path: str | None = None,
        hint: str | None = None,
    ) -> None:
        where = []
        if path:
            where.append(str(path) + (f":{line}" if line else ""))
        if key:
            where.append(f"key {key}")
        full = f"{', '.join(where)}: {message}" if where else message
        super().__init__(full, hint=hint)
        self.key = key
        self.line = line
        self.path = path


class SecretMissing(ConfigError):
    """A secret's environment variable is not set (raised when the part that needs it starts)."""


class UsageError(RecoveryBotError):
    """A command was given something that does not exist or does not fit (an unknown case id, a
    date that is not a date); the command line, not the bot, is at fault (exit code 2)."""


class StoreError(RecoveryBotError):
    """The database cannot be opened, migrated or written."""


def strip_credentials(url: str) -> str:
    """A URL with any user:password@ replaced by ***@ (for logs, the store and the digest)."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    host_end = len(rest)
    for stop in "/?#":
        found = rest.find(stop)
        if found != -1:
            host_end = min(host_end, found)
    netloc = rest[:host_end]
    if "@" not in netloc:
        return url
    return f"{scheme}://***@{netloc.rsplit('@', 1)[1]}{rest[host_end:]}"


class SourceError(RecoveryBotError):
    """A connector failed on one source; the cycle goes on with the others."""

    kind = "source"

    def __init__(
        self, message: str, *, source: str = "", url: str = "", hint: str | None = None
    ) -> None:
        # Credentials in a source URL (http://user:pass@host/...) never reach logs or the digest.
        url = strip_credentials(url)
        where = " ".join(part for part in (f"[{source}]" if source else "", url) if part)
        super().__init__(f"{where}: {message}" if where else message, hint=hint)
        self.source = source
        self.url = url
        self.reason = message


class FetchError(SourceError):
    """The request failed: timeout, refused connection, bad status, body too large, redirects.

    ``retryable`` says whether trying again soon may help; ``status`` is the HTTP status if any.
    """

    kind = "http"

    def __init__(
        self,
        message: str,
        *,
        source: str = "",
        url: str = "",
        status: int | None = None,
        retryable: bool = True,
        hint: str | None = None,
    ) -> None:
        super().__init__(message, source=source, url=url, hint=hint)
        self.status = status
        self.retryable = retryable


class RobotsDisallowed(SourceError):
    """robots.txt forbids the URL for our User-Agent; it was skipped, never fetched."""

    kind = "robots"


class ParseError(SourceError):
    """The page or payload is not in the shape the connector reads."""

    kind = "parse"


class LimitReached(SourceError):
    """The source lists more pages than a run may read (``max_pages``): the rest is never read.

    The run still counts as ok; ``check``, ``status`` and the digest say what is left out.
    """

    kind = "limit"


class MailboxError(SourceError):
    """A mailbox source failed: the server is unreachable, refused the login, or a folder or command.

    The message names the server (host:port) and the folder; ``url`` is ``imap://host:port/folder``.
    """

    kind = "mailbox"


class OrderSyncError(RecoveryBotError):
    """An order source (csv file, WooCommerce, Shopify) failed."""


class ScoringError(RecoveryBotError):
    """The scorer's weights cannot be read, or `recoverybot train` cannot refit them."""

    def __init__(self, message: str, *, path: str | None = None, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.path = path


class PolicyError(RecoveryBotError):
    """A policy rule cannot be applied to a case."""


class DispatchError(RecoveryBotError):
    """A fulfilment adapter could not deliver a remedy; it is retried with backoff."""

    def __init__(self, message: str, *, retryable: bool = True, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.retryable = retryable


class DigestError(RecoveryBotError):
    """The digest could not be rendered or sent."""

    hint = "check the [digest] smtp_* settings and that the password variable is set"


class AlertError(RecoveryBotError):
    """An instant alert could not be sent to its [[alerts]] target."""

    hint = "check the Apprise URL in the environment variable the entry's url_env names, and that the service answers"


class AlreadyRunning(RecoveryBotError):
    """Another recoverybot daemon already runs against this database."""
