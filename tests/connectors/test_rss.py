"""The rss connector against a real loopback server serving our own RSS 2.0 and Google Alerts fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.errors import FetchError, ParseError
from connectors.social.rss import RssConnector, RssOptions, unwrap_redirect
from tests.connectors.test_brand import BRAND, SocialCtx, fetcher
from tests.httpserver import LocalServer, Route

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "rss"


def feed(name: str, etag: str | None = None) -> Route:
    return Route(body=(FIXTURES / name).read_bytes(), content_type="application/rss+xml", etag=etag)


def test_rss_entries_become_mentions_filtered_by_brand() -> None:
    with LocalServer({"/feed.xml": feed("mentions.xml")}) as srv, fetcher() as fetch:
        ctx = SocialCtx("forum", fetch, brand=BRAND)
        found = ctx.run(RssConnector("forum", RssOptions(urls=(srv.url("/feed.xml"),))))
    by_id = {m.external_id: m for m in found}
    # marina (excluded sense), our own post, the unrelated one and the empty one are dropped
    assert sorted(by_id) == ["forum-1001", "forum-1002", "forum-1007"]
    kettle = by_id["forum-1001"]
    assert kettle.text == "My Tidewell travel kettle stopped heating after two weeks.\nReally disappointed."
    assert kettle.author_handle == "@rowan_b"
    assert kettle.title == "Travel kettle stopped heating"
    assert kettle.url == "https://forum.example/t/1001"
    assert kettle.published_at is not None and kettle.published_at.isoformat() == "2025-03-04T09:15:00+00:00"
    assert kettle.language == "en-gb" and kettle.rating is None and kettle.source == "forum"
    assert by_id["forum-1002"].author_handle == "@jun.k"
    claire = by_id["forum-1007"]
    assert claire.author_name == "Claire D" and claire.author_handle is None and claire.author_email is None
    assert "fuit" in claire.text


def test_google_alerts_links_unwrapped_and_html_stripped() -> None:
    with LocalServer({"/alerts/feeds/1/2": Route(body=(FIXTURES / "alerts.xml").read_bytes(),
                                                  content_type="application/atom+xml")}) as srv, fetcher() as fetch:
        ctx = SocialCtx("alerts", fetch, brand=BRAND)
        options = RssOptions(urls=(srv.url("/alerts/feeds/1/2"),), brand_filter=False)
        found = ctx.run(RssConnector("alerts", options))
    assert [m.external_id for m in found] == [
        "tag:google.com,2013:googlealerts/feed:7310001",
        "tag:google.com,2013:googlealerts/feed:7310002",
    ]
    first = found[0]
    assert first.url == "https://blog.example/2025/03/kettle-review?ref=rss"
    assert first.title == "Review: the Tidewell travel kettle leaks"
    assert first.text == "I wanted to love the Tidewell kettle, but the lid seal leaks on day three."
    assert found[1].url == "https://news.example/consumer/tidewell-colour"


def test_second_cycle_is_a_304_and_new_entries_only_once() -> None:
    body = (FIXTURES / "mentions.xml").read_text(encoding="utf-8")
    with LocalServer({"/feed.xml": Route(body=body, content_type="application/rss+xml", etag='"v1"')}) as srv, \
            fetcher() as fetch:
        # the Fetcher asks the store for validators; here we keep them in a dict like the collect stage
        saved: dict[str, tuple[str | None, str | None]] = {}
        fetch._validators = lambda url: saved.get(url, (None, None))
        ctx = SocialCtx("forum", fetch, brand=BRAND)
        connector = RssConnector("forum", {"urls": [srv.url("/feed.xml")]})
        assert len(ctx.run(connector)) == 3
        saved[srv.url("/feed.xml")] = ('"v1"', None)
        assert ctx.run(connector) == []
        assert srv.requests[-1].headers.get("if-none-match") == '"v1"'
        assert ctx.cursor["feeds"][srv.url("/feed.xml")]["newest"] == "2025-03-04T14:00:00+00:00"
        # the feed changes: one new item; the old ones are already stored and not yielded again
        new_item = body.replace("<item>", """<item><title>Lid</title><guid isPermaLink="false">forum-1010</guid>
            <dc:creator>@mo</dc:creator><pubDate>Wed, 05 Mar 2025 08:00:00 +0000</pubDate>
            <description>Tidewell lid snapped off</description></item><item>""", 1)
        srv.routes["/feed.xml"] = Route(body=new_item, content_type="application/rss+xml", etag='"v2"')
        assert [m.external_id for m in ctx.run(connector)] == ["forum-1010"]


def test_malformed_feed_is_reported_and_other_feeds_still_read() -> None:
    routes = {"/broken.xml": Route(body=(FIXTURES / "broken.xml").read_bytes(), content_type="text/html"),
              "/gone.xml": Route(body="gone", status=404), "/feed.xml": feed("mentions.xml")}
    with LocalServer(routes) as srv, fetcher(retries=0) as fetch:
        ctx = SocialCtx("forum", fetch, brand=BRAND)
        urls = (srv.url("/broken.xml"), srv.url("/gone.xml"), srv.url("/feed.xml"))
        found = ctx.run(RssConnector("forum", RssOptions(urls=urls)))
        assert len(found) == 3
        assert [type(e) for e in ctx.reported] == [ParseError, FetchError]
        assert "/broken.xml" in str(ctx.reported[0]) and "[forum]" in str(ctx.reported[0])
        # every feed failing fails the source (so its health shows it)
        ctx = SocialCtx("forum", fetch, brand=BRAND)
        with pytest.raises(ParseError):
            ctx.run(RssConnector("forum", RssOptions(urls=(srv.url("/broken.xml"),))))


def test_truncated_xml_still_yields_complete_entries() -> None:
    data = (FIXTURES / "mentions.xml").read_bytes()
    cut = data[: data.index(b"<title>Marina weekend")]
    with LocalServer({"/feed.xml": Route(body=cut, content_type="application/rss+xml")}) as srv, fetcher() as fetch:
        ctx = SocialCtx("forum", fetch, brand=BRAND)
        found = ctx.run(RssConnector("forum", RssOptions(urls=(srv.url("/feed.xml"),))))
    assert [m.external_id for m in found] == ["forum-1001", "forum-1002"]


def test_options_refuse_bad_urls_and_unknown_keys() -> None:
    with pytest.raises(ValueError, match="not an http"):
        RssOptions(urls=("ftp://x/feed",))
    with pytest.raises(ValueError):
        RssOptions.model_validate({"urls": ["https://x/feed"], "url": "typo"})
    with pytest.raises(ValueError):
        RssOptions.model_validate({"urls": []})


@pytest.mark.parametrize(
    ("link", "expected"),
    [
        ("https://www.google.com/url?rct=j&sa=t&url=https://a.example/x%3Fy%3D1&ct=ga", "https://a.example/x?y=1"),
        ("https://www.google.co.uk/url?q=https://b.example/&sa=U", "https://b.example/"),
        ("https://c.example/url?url=https://d.example/", "https://c.example/url?url=https://d.example/"),
        ("https://www.google.com/url?url=javascript:alert(1)", "https://www.google.com/url?url=javascript:alert(1)"),
    ],
)
def test_unwrap_redirect(link: str, expected: str) -> None:
    assert unwrap_redirect(link) == expected
