"""What the review-app connectors (Judge.me, Yotpo) share: their key in the query string, the
refused-key message, and the newest-date cursor with its overlap.

Both apps take their key as a query parameter (``api_token`` / ``utoken``), so the full URL of a
request holds a secret: errors and logs name the endpoint and page only (:func:`where`), never the
URL the fetcher answered with, and never the parameters.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, quote_plus

from bot.errors import FetchError, ParseError

if TYPE_CHECKING:
    from bot.fetch import Fetcher

# The apps compare dates to the second and a review may be stored a moment after its stamp: ask
# again from a little before the newest review seen; the ones already stored are skipped.
OVERLAP = timedelta(minutes=10)
MAX_TEXT = 20_000  # characters of one review kept (a review app's body has no documented cap)


def where(endpoint: str, page: int) -> str:
    """The request as errors name it: the endpoint and page, without the key."""
    return f"{endpoint}?page={page}"


def get_json(fetch: Fetcher, endpoint: str, params: Mapping[str, Any], *, page: int, source: str,
             app: str, env_name: str, env_key: str, key: str) -> Any:
    """GET `endpoint` with `params` (holding the `key`) and return the JSON body.

    A 401/403 becomes an error that says which environment variable holds the refused key; any
    other failure names the endpoint and page, never the key.
    """
    url = where(endpoint, page)
    try:
        answer = fetch.get(endpoint, params=params, source=source, robots=False)
    except FetchError as exc:
        if exc.status in (401, 403):
            raise FetchError(
                f"HTTP {exc.status}: {app} refused the key in environment variable {env_name} "
                f"(named by {env_key})", source=source, url=url, status=exc.status, retryable=False,
                hint=f"put a valid {app} key in {env_name}; the app's settings page shows it",
            ) from exc
        if key and scrub(exc.reason + exc.url, key) != exc.reason + exc.url:
            # a refused redirect names the URL it came from, query (and key) included
            raise FetchError(scrub(exc.reason, key), source=source, url=url, status=exc.status,
                             retryable=exc.retryable, hint=exc.hint or None) from None
        raise  # the fetcher's error names the endpoint, not the query that holds the key
    try:
        return answer.json(source)
    except ParseError as exc:
        raise ParseError(exc.reason, source=source, url=url,
                         hint=f"the {app} API answered something that is not JSON; try again later") from exc


def scrub(text: str, key: str) -> str:
    """`text` with the key (as written and URL-encoded) replaced by ***."""
    for form in dict.fromkeys((key, quote(key, safe=""), quote_plus(key))):
        text = text.replace(form, "***")
    return text


def newer(current: str | None, when: datetime | None) -> str | None:
    """The later of a stored ISO stamp and `when`, as an ISO stamp."""
    if when is None:
        return current
    stamp = when.isoformat()
    return stamp if current is None or stamp > current else current


def text_of(value: Any) -> str:
    """A review's text field as a stripped, bounded string ('' when absent or not text)."""
    if not isinstance(value, str | int | float) or isinstance(value, bool):
        return ""
    return str(value).strip()[:MAX_TEXT]


def email_of(value: Any) -> str | None:
    """A plausible email address, lower-cased; None otherwise."""
    text = text_of(value).lower()
    if not text or len(text) > 254 or "@" not in text or any(c.isspace() for c in text):
        return None
    local, _, domain = text.rpartition("@")
    return text if local and "." in domain else None
