"""Google Play reviews of the shop's app, through the Play Developer API (``reviews.list``).

Followed: Google's reference, https://developers.google.com/android-publisher/api-ref/rest/v3/reviews/list
and https://developers.google.com/android-publisher/api-ref/rest/v3/reviews (the Review resource):
``GET /androidpublisher/v3/applications/{packageName}/reviews`` with ``maxResults`` and the page
``token``, OAuth scope ``https://www.googleapis.com/auth/androidpublisher``; the answer is
``{"reviews": [...], "tokenPagination": {"nextPageToken"}, "pageInfo": {...}}`` where a review has
``reviewId``, ``authorName`` and ``comments``: a ``userComment`` (``text``, ``starRating`` 1..5,
``lastModified`` ``{"seconds", "nanos"}``, ``reviewerLanguage``, ``appVersionName``, ``device``,
``androidOsVersion``, ``thumbsUpCount``) and, once the shop answered, a ``developerComment``.

The access token (of a service account the Play Console gave access to the app) comes from the
environment variable ``access_token_env`` names, sent as a Bearer header; recoverybot does not mint
it (a service-account key needs signing, done by your cloud tooling; tokens last an hour). The API
lists newest first and only the reviews written or changed in the last week: run this source at
least daily. A run reads pages until one holds only stored reviews, the last page, or ``max_pages``;
the cursor keeps the newest ``lastModified`` seen. Play reviews carry no email or order: they are
matched by name and product like public reviews.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any, ClassVar

from pydantic import Field, field_validator

from bot.env import secret
from bot.errors import FetchError, ParseError
from connectors.base import BaseUrl, CollectContext, Options, RawMention, normalise_rating
from connectors.reviews import apps

MAX_TOKEN = 2000  # characters of a page token we pass back (Google's are short)


class GooglePlayOptions(Options):
    """Keys of a `kind = "googleplay"` source."""

    package_name: str = Field(description="The app's package name, as in its Play Store address "
                              "(...details?id=<package>): 'com.fernhollow.shop'.")
    access_token_env: str = Field("RECOVERYBOT_GOOGLE_PLAY_TOKEN", description="Environment variable holding "
                                  "an OAuth2 access token of a service account with access to the app in "
                                  "the Play Console (scope androidpublisher).")
    base_url: BaseUrl = Field("https://androidpublisher.googleapis.com/androidpublisher/v3",
                              description="The Play Developer API's address (change only for tests).")
    per_page: int = Field(100, ge=1, le=100, description="Reviews per request.")
    max_pages: int = Field(20, ge=1, le=1000, description="At most this many pages read per run.")

    @field_validator("package_name")
    @classmethod
    def _package(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z][A-Za-z0-9_]*)+", value.strip()) or len(value) > 255:
            raise ValueError(f"{value!r} is not an Android package name like 'com.fernhollow.shop'")
        return value.strip()


def _when(stamp: Any) -> datetime | None:
    """A protobuf Timestamp (``{"seconds": "1700000000", "nanos": 0}``) as aware UTC."""
    if not isinstance(stamp, dict):
        return None
    seconds = stamp.get("seconds")
    if isinstance(seconds, bool) or not isinstance(seconds, int | str) or not str(seconds).isdigit():
        return None
    try:
        return datetime.fromtimestamp(int(seconds), tz=UTC)
    except (OverflowError, OSError, ValueError):
        return None


class GooglePlayConnector:
    """Reads an app's Google Play reviews with the Play Developer API."""

    kind: ClassVar[str] = "googleplay"
    Options: ClassVar[type[GooglePlayOptions]] = GooglePlayOptions

    def __init__(self, name: str, options: GooglePlayOptions | dict[str, Any]) -> None:
        self.name = name
        self.options = options if isinstance(options, GooglePlayOptions) else GooglePlayOptions.model_validate(options)

    @property
    def endpoint(self) -> str:
        return f"{self.options.base_url}/applications/{self.options.package_name}/reviews"

    def collect(self, ctx: CollectContext) -> Iterator[RawMention]:
        env_key = f"sources.{self.name}.access_token_env"
        headers = {"Authorization": f"Bearer {secret(self.options.access_token_env, env_key)}"}
        stored = ctx.cursor.get("newest")
        newest: str | None = stored if isinstance(stored, str) else None
        token: str | None = None
        for number in range(1, self.options.max_pages + 1):
            params: dict[str, Any] = {"maxResults": self.options.per_page}
            if token:
                params["token"] = token
            where = apps.where(self.endpoint, number)
            try:
                page = ctx.fetch.get(self.endpoint, params=params, headers=headers, source=self.name, robots=False)
            except FetchError as exc:
                if exc.status in (401, 403):
                    raise FetchError(
                        f"HTTP {exc.status}: Google Play refused the access token in environment variable "
                        f"{self.options.access_token_env} (named by {env_key}) for {self.options.package_name}",
                        source=self.name, url=where, status=exc.status, retryable=False,
                        hint="tokens last an hour: refresh it, and check the service account has access to "
                        "the app in the Play Console (Users and permissions)") from exc
                raise
            ctx.progress(1)
            data = page.json(self.name)
            if not isinstance(data, dict):
                raise ParseError("expected a JSON object from reviews.list", source=self.name, url=where)
            reviews = data.get("reviews", [])
            if not isinstance(reviews, list):
                raise ParseError("'reviews' in Google Play's answer is not a list", source=self.name, url=where)
            mentions = [m for m in (self._mention(r) for r in reviews[: self.options.per_page]) if m is not None]
            known = ctx.known(m.external_id for m in mentions)
            for mention in mentions:
                newest = apps.newer(newest, mention.published_at)
                if mention.external_id not in known:
                    yield mention
            if mentions and len(known) == len(mentions):
                break  # newest first: the older pages are stored already
            paging = data.get("tokenPagination")
            following = paging.get("nextPageToken") if isinstance(paging, dict) else None
            if not isinstance(following, str) or not following or len(following) > MAX_TOKEN or following == token:
                break
            token = following
        if newest:
            ctx.cursor["newest"] = newest

    def _mention(self, review: Any) -> RawMention | None:
        if not isinstance(review, dict):
            return None
        review_id = review.get("reviewId")
        if not isinstance(review_id, str) or not re.fullmatch(r"[\w:.-]{1,200}", review_id):
            return None
        found = review.get("comments")
        comments: list[Any] = found if isinstance(found, list) else []
        user: dict[str, Any] = {}
        replied = False
        for comment in comments[:20]:
            if not isinstance(comment, dict):
                continue
            if isinstance(comment.get("userComment"), dict) and not user:
                user = comment["userComment"]
            if isinstance(comment.get("developerComment"), dict):
                replied = True
        written = apps.text_of(user.get("text"))
        head, sep, body = written.partition("\t")  # Play joins an optional title and the text with a tab
        text, title = (body.strip(), head.strip() or None) if sep else (written, None)
        if not text:
            return None
        stars = user.get("starRating")
        raw: dict[str, Any] = {"language": apps.text_of(user.get("reviewerLanguage"))[:20] or None,
                               "app_version": apps.text_of(user.get("appVersionName"))[:50] or None,
                               "device": apps.text_of(user.get("device"))[:100] or None,
                               "replied": replied or None}
        for name in ("androidOsVersion", "thumbsUpCount"):
            if isinstance(user.get(name), int) and not isinstance(user.get(name), bool):
                raw[name] = user[name]
        return RawMention(
            source=self.name,
            external_id=review_id,
            text=text,
            url=f"https://play.google.com/store/apps/details?id={self.options.package_name}&reviewId={review_id}",
            author_name=apps.text_of(review.get("authorName"))[:200] or None,
            product_sku=self.options.package_name,
            rating=normalise_rating(stars) if isinstance(stars, int) and not isinstance(stars, bool) else None,
            title=title[:500] if title else None,
            published_at=_when(user.get("lastModified")),
            raw={k: v for k, v in raw.items() if v is not None},
        )
