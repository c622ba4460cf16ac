"""The staff web inbox: signed one-click links from the digest, sign-in by emailed link, and pages
to decide cases (``app``), the links and their single use (``links``), the server (``server``)."""
