"""Crawl benchmark: our collect stage against Scrapy on 1,000 generated product pages.

What it does, in one run:

1. builds 1,000 product pages (10 reviews each, JSON-LD in the shape of our schema_org
   fixtures: Shopify-like Product + review list) and a sitemap with <lastmod>;
2. serves them from a separate process on 127.0.0.1 (a small asyncio HTTP/1.1 server with
   keep-alive, ETags and 304s, so the server is not the bottleneck and shares no GIL with us);
3. first crawl: ``bot.collect.collect`` with a ``schema_org`` source listing the 1,000 URLs, into
   a fresh SQLite store, at a fixed concurrency; prints pages/s;
4. second crawl, nothing changed: the same source again (every page a conditional GET, 304), and
   the sitemap-driven source (sitemap 304 + <lastmod> => no page requested); prints time,
   requests and pages parsed;
5. the same first crawl with Scrapy (a minimal spider extracting the same JSON-LD reviews) at the
   same concurrency, run in its own virtualenv, and prints the ratio.

Run it (Scrapy is never a project dependency; it lives in its own venv, created on first use):

    .venv/bin/python bench/crawl.py                 # venv in ~/.cache/recoverybot/bench-scrapy
    SCRAPY_PYTHON=/path/to/venv/bin/python .venv/bin/python bench/crawl.py   # use an existing one
    .venv/bin/python bench/crawl.py --pages 1000 --concurrency 16 --rounds 3 --no-scrapy

Each crawl is repeated ``--rounds`` times (alternating ours and Scrapy's) and the best is kept,
as the machine is shared.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

WORDS = [
    "The clip snapped after a week and it stopped charging", "Warm light, lasts a whole evening",
    "Arrived with a cracked shade, works but looks cheap now", "Lovely gift, my dad uses it daily",
    "Battery dies after two hours, disappointing for the price", "Sturdy, folds flat, good value.",
]
NAMES = ("Tamsin Greaves", "Oskar V.", "Priya Raman", "Hal Briggs", "Ines Moreau", "Noor Haddad", "Gwen Talbot",
         "Dafydd Rees", "Mei Lin", "Rosa Whitfield")


# --- the pages --------------------------------------------------------------------------------


def product_page(n: int, reviews: int = 10) -> bytes:
    """One Shopify-like product page with a JSON-LD Product and `reviews` Review items."""
    start = datetime(2025, 1, 1, tzinfo=UTC)
    items = []
    for r in range(reviews):
        items.append({
            "@type": "Review",
            "@id": f"judgeme-{n}-{r}",
            "name": WORDS[(n + r) % len(WORDS)][:30],
            "reviewBody": f"{WORDS[(n * 7 + r) % len(WORDS)]}. {WORDS[(n + 3 * r) % len(WORDS)]}. Order {n}-{r}.",
            "reviewRating": {"@type": "Rating", "ratingValue": (n + r) % 5 + 1, "bestRating": 5, "worstRating": 1},
            "author": {"@type": "Person", "name": NAMES[(n + r) % len(NAMES)]},
            "datePublished": (start + timedelta(hours=n * 10 + r)).isoformat(),
        })
    product = {
        "@context": "https://schema.org/", "@type": "Product",
        "@id": f"https://bench.example/products/p{n}#product", "name": f"Bench Product {n}",
        "url": f"https://bench.example/products/p{n}", "sku": f"BENCH-{n:05d}",
        "offers": [{"@type": "Offer", "price": "19.00", "priceCurrency": "EUR"}],
        "aggregateRating": {"@type": "AggregateRating", "ratingValue": "3.0", "reviewCount": str(reviews)},
        "review": items,
    }
    filler = "<p>" + " ".join(WORDS) + "</p>\n"
    html = (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>Bench Product {n}</title>\n"
        '<script type="application/ld+json">{"@context":"https://schema.org","@type":"Organization",'
        '"name":"Bench Shop"}</script>\n'
        f'<script type="application/ld+json">\n{json.dumps(product, indent=1)}\n</script>\n'
        f"</head><body><h1>Bench Product {n}</h1>\n{filler * 20}</body></html>\n"
    )
    return html.encode("utf-8")


# --- the server (its own process) -------------------------------------------------------------


def serve(pages: int, port_file: str) -> None:
    """A keep-alive HTTP/1.1 server of the generated pages, with ETags and 304s."""
    bodies: dict[str, bytes] = {f"/products/p{n}": product_page(n) for n in range(pages)}
    lastmod = "2025-03-01T00:00:00+00:00"
    sitemap = ('<?xml version="1.0" encoding="UTF-8"?>\n<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">\n'
               + "".join(f"<url><loc>{{base}}/products/p{n}</loc><lastmod>{lastmod}</lastmod></url>\n"
                         for n in range(pages)) + "</urlset>\n")
    etags = {path: '"' + hashlib.sha1(body).hexdigest()[:16] + '"' for path, body in bodies.items()}

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                line = await reader.readline()
                if not line:
                    break
                target = line.split(b" ")[1].decode() if line.count(b" ") >= 2 else "/"
                headers: dict[str, str] = {}
                while True:
                    raw = await reader.readline()
                    if raw in (b"\r\n", b"\n", b""):
                        break
                    name, _, value = raw.decode("latin-1").partition(":")
                    headers[name.strip().lower()] = value.strip()
                path = target.split("?", 1)[0]
                ctype = "text/html; charset=utf-8"
                if path == "/sitemap.xml":
                    host = headers.get("host", "127.0.0.1")
                    body: bytes | None = sitemap.replace("{base}", f"http://{host}").encode()
                    etag: str | None = '"sitemap-1"'
                    ctype = "application/xml"
                else:
                    body, etag = bodies.get(path), etags.get(path)
                if body is None:
                    head = b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"
                    writer.write(head)
                elif etag and headers.get("if-none-match") == etag:
                    writer.write(f"HTTP/1.1 304 Not Modified\r\nETag: {etag}\r\nContent-Length: 0\r\n\r\n".encode())
                else:
                    writer.write(
                        f"HTTP/1.1 200 OK\r\nContent-Type: {ctype}\r\nETag: {etag}\r\n"
                        f"Content-Length: {len(body)}\r\n\r\n".encode() + body
                    )
                await writer.drain()
                if headers.get("connection", "").lower() == "close":
                    break
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    async def main() -> None:
        server = await asyncio.start_server(handle, "127.0.0.1", 0, backlog=512)
        port = server.sockets[0].getsockname()[1]
        Path(port_file).write_text(str(port))
        async with server:
            await server.serve_forever()

    asyncio.run(main())


# --- Scrapy (its own venv, its own process) ---------------------------------------------------

SPIDER = textwrap.dedent('''
    import json, sys, time
    import scrapy
    from scrapy.crawler import CrawlerProcess

    urls = [line.strip() for line in open(sys.argv[1]) if line.strip()]
    concurrency = int(sys.argv[2])
    result = {}

    class Reviews(scrapy.Spider):
        name = "reviews"
        start_urls = urls

        def parse(self, response):
            for block in response.xpath('//script[@type="application/ld+json"]/text()').getall():
                data = json.loads(block)
                if isinstance(data, dict) and data.get("@type") == "Product":
                    for review in data.get("review") or []:
                        yield {"id": review.get("@id"), "text": review.get("reviewBody"),
                               "rating": review.get("reviewRating", {}).get("ratingValue"),
                               "author": (review.get("author") or {}).get("name"),
                               "date": review.get("datePublished"), "sku": data.get("sku")}

        def closed(self, reason):
            stats = self.crawler.stats
            result["items"] = stats.get_value("item_scraped_count", 0)
            result["responses"] = stats.get_value("response_received_count", 0)

    process = CrawlerProcess(settings={
        "CONCURRENT_REQUESTS": concurrency,
        "CONCURRENT_REQUESTS_PER_DOMAIN": concurrency,
        "DOWNLOAD_DELAY": 0,
        "ROBOTSTXT_OBEY": True,
        "LOG_LEVEL": "ERROR",
        "TELEMETRY_ENABLED": False,
        "COOKIES_ENABLED": False,
        "REQUEST_FINGERPRINTER_IMPLEMENTATION": "2.7",
    })
    started = time.perf_counter()
    process.crawl(Reviews)
    process.start()
    result["seconds"] = time.perf_counter() - started
    print(json.dumps(result))
''')


def scrapy_python() -> str:
    given = os.environ.get("SCRAPY_PYTHON")
    if given:
        return given
    venv = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "recoverybot" / "bench-scrapy"
    python = venv / "bin" / "python"
    if not python.exists():
        print(f"creating a virtualenv for Scrapy in {venv} (once)...", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", "scrapy"], check=True)
    return str(python)


def run_scrapy(python: str, urls: list[str], concurrency: int, workdir: Path) -> dict[str, float]:
    url_file = workdir / "urls.txt"
    url_file.write_text("\n".join(urls))
    spider = workdir / "spider.py"
    spider.write_text(SPIDER)
    out = subprocess.run([python, str(spider), str(url_file), str(concurrency)], capture_output=True, text=True,
                         check=True, cwd=workdir)
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


# --- ours -------------------------------------------------------------------------------------


def run_ours(base: str, urls: list[str], concurrency: int, db: Path, *, sitemap: bool = False) -> dict[str, float]:
    sys.path.insert(0, str(ROOT))
    from bot.collect import collect
    from bot.config import Config
    from bot.store import open_store

    source: dict[str, object] = {"name": "bench", "kind": "schema_org"}
    if sitemap:
        source |= {"sitemap": f"{base}/sitemap.xml", "max_pages": len(urls) + 10}
    else:
        source |= {"urls": urls, "max_pages": len(urls)}
    config = Config.model_validate({
        "http": {"per_host_delay": 0, "allow_private": ["127.0.0.1"], "concurrency": concurrency, "per_host_concurrency": concurrency, "retries": 0},
        "sources": [source],
    })
    store = open_store(f"sqlite:///{db}")
    try:
        started = time.perf_counter()
        summary = collect(config, store)
        seconds = time.perf_counter() - started
    finally:
        store.dispose()
    result = summary.results[0]
    if not result.ok:
        raise SystemExit(f"our crawl failed: {result.errors[:3]}")
    return {"seconds": seconds, "new": result.new, "pages": result.pages, "not_modified": result.not_modified,
            "requests": result.requests}


# --- main -------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--no-scrapy", action="store_true")
    parser.add_argument("--serve", metavar="PORT_FILE", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.pages, args.serve)
        return 0

    with tempfile.TemporaryDirectory(prefix="rb-bench-") as tmp:
        work = Path(tmp)
        port_file = work / "port"
        server = subprocess.Popen([sys.executable, __file__, "--pages", str(args.pages), "--serve", str(port_file)])
        try:
            for _ in range(200):
                if port_file.exists() and port_file.read_text():
                    break
                time.sleep(0.05)
            base = f"http://127.0.0.1:{port_file.read_text()}"
            urls = [f"{base}/products/p{n}" for n in range(args.pages)]
            python = None if args.no_scrapy else scrapy_python()
            ours: list[dict[str, float]] = []
            theirs: list[dict[str, float]] = []
            for round_ in range(args.rounds):
                db = work / f"first-{round_}.db"
                ours.append(run_ours(base, urls, args.concurrency, db))
                if python:
                    theirs.append(run_scrapy(python, urls, args.concurrency, work))
            best = min(ours, key=lambda r: r["seconds"])
            # unchanged re-crawl: the last first-crawl store, crawled again (every page a 304)
            again = min((run_ours(base, urls, args.concurrency, work / f"first-{args.rounds - 1}.db")
                         for _ in range(args.rounds)), key=lambda r: r["seconds"])
            # the sitemap way: a first crawl, then the unchanged re-crawl
            sitemap_db = work / "sitemap.db"
            sitemap_first = run_ours(base, urls, args.concurrency, sitemap_db, sitemap=True)
            sitemap_again = min((run_ours(base, urls, args.concurrency, sitemap_db, sitemap=True)
                                 for _ in range(args.rounds)), key=lambda r: r["seconds"])
        finally:
            server.terminate()
            server.wait(timeout=10)

    rate = args.pages / best["seconds"]
    print(f"pages: {args.pages} x 10 reviews, concurrency {args.concurrency}, best of {args.rounds} rounds")
    print(f"ours   first crawl : {best['seconds']:.2f}s  {rate:,.0f} pages/s  "
          f"({int(best['new'])} reviews stored, {int(best['requests'])} requests)")
    if theirs:
        scrapy_best = min(theirs, key=lambda r: r["seconds"])
        scrapy_rate = args.pages / scrapy_best["seconds"]
        print(f"scrapy first crawl : {scrapy_best['seconds']:.2f}s  {scrapy_rate:,.0f} pages/s  "
              f"({int(scrapy_best['items'])} reviews extracted, not stored)")
        print(f"ratio ours/scrapy  : {rate / scrapy_rate:.2f}x (target >= 1.0x)")
    share = again["seconds"] / best["seconds"]
    print(f"re-crawl, urls list: {again['seconds']:.2f}s = {share:.0%} of the first crawl, "
          f"{int(again['requests'])} requests, {int(again['not_modified'])} x 304, "
          f"{int(again['pages'])} pages parsed, {int(again['new'])} new")
    sm_share = sitemap_again["seconds"] / best["seconds"]
    print(f"re-crawl, sitemap  : {sitemap_again['seconds']:.3f}s = {sm_share:.1%} of the first crawl, "
          f"{int(sitemap_again['requests'])} requests, {int(sitemap_again['pages'])} pages parsed, "
          f"{int(sitemap_again['new'])} new (first sitemap crawl {sitemap_first['seconds']:.2f}s) "
          f"(target < 10%, 0 parsed)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
