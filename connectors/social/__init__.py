"""Social sources: feeds (rss), Mastodon, Reddit, Bluesky and Hacker News, searched for the brand (see ``connectors.brand``)."""
