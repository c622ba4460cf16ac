"""Crawl benchmark: our collect stage against Scrapy on the same loopback product pages.

What it does, in one run, for each page count (``--pages 1000 5000``):

1. builds the product pages (10 reviews each, JSON-LD in the shape of our schema_org fixtures)
   and serves them from a separate process on 127.0.0.1 (a small asyncio HTTP/1.1 server with
   keep-alive, ETags and 304s, so the server is not the bottleneck and shares no GIL with us);
2. crawls them, each crawl a whole process timed from outside (start-up included; wall and CPU):

   - ours with the default [http] settings (adaptive pace, at most 9,000 requests a minute per host);
   - Scrapy with its defaults (16 requests at once, 8 per domain, no delay);
   - Scrapy with AutoThrottle on (its defaults: target concurrency 1, start delay 5 s);
   - ours in AutoThrottle's own terms (adaptive pace aiming at 1 in flight, 8 per host at most,
     no per-minute ceiling), against Scrapy with AutoThrottle;
   - ours at our fastest safe setting (adaptive pace aiming at 8 in flight, no per-minute ceiling)
     against Scrapy's defaults, which are the same concurrency (8 per domain);

3. for the largest page count, our default settings twice more on the first store: a second cycle
   straight after (nothing is due, nothing asked) and one two hours later (every page due, every
   one a 304 booked as a light request).

Run it (Scrapy is never a project dependency; it lives in its own venv, created on first use):

    .venv/bin/python bench/crawl.py                       # 1,000 and 5,000 pages
    .venv/bin/python bench/crawl.py --pages 1000 --no-scrapy
    SCRAPY_PYTHON=/path/to/venv/bin/python .venv/bin/python bench/crawl.py

One round each (the default-paced crawls are bounded by the ceiling, not by the machine).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import resource
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


REVIEWS = 10  # per page


def product_page(n: int, reviews: int = REVIEWS) -> bytes:
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
    mode = sys.argv[2]  # "defaults" or "autothrottle"
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
            result["requests"] = stats.get_value("downloader/request_count", 0)

    settings = {"ROBOTSTXT_OBEY": True, "LOG_LEVEL": "ERROR", "TELEMETRY_ENABLED": False,
                "COOKIES_ENABLED": False}
    if mode == "autothrottle":
        settings["AUTOTHROTTLE_ENABLED"] = True
    process = CrawlerProcess(settings=settings)
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


def timed(command: list[str], cwd: Path | None = None) -> dict[str, float]:
    """Run `command` as a whole process; its JSON last line plus wall and CPU seconds."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    out = subprocess.run(command, capture_output=True, text=True, cwd=cwd, check=False)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if out.returncode != 0:
        raise SystemExit(f"{command[1]} failed:\n{out.stderr[-2000:]}")
    result = dict(json.loads(out.stdout.strip().splitlines()[-1]))
    result["wall"] = wall
    result["cpu"] = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return result


def run_scrapy(python: str, urls: list[str], mode: str, workdir: Path) -> dict[str, float]:
    url_file = workdir / "urls.txt"
    url_file.write_text("\n".join(urls))
    spider = workdir / "spider.py"
    spider.write_text(SPIDER)
    return timed([python, str(spider), str(url_file), mode], cwd=workdir)


# --- ours -------------------------------------------------------------------------------------

FASTEST_SAFE = {"per_host_concurrency": 8, "concurrency": 16, "target_concurrency": 8, "max_requests_per_minute": 0}
# AutoThrottle's own terms: one request in flight on average, at most 8 per host, no ceiling
LIKE_AUTOTHROTTLE = {"per_host_concurrency": 8, "concurrency": 16, "target_concurrency": 1,
                     "max_requests_per_minute": 0}


def crawl_ours(base: str, pages: int, db: str, mode: str, later_hours: float) -> int:
    """One collect of the pages into `db` (run in its own process); prints its figures as JSON."""
    sys.path.insert(0, str(ROOT))
    from bot.collect import collect
    from bot.config import Config
    from bot.store import open_store, utcnow

    urls = [f"{base}/products/p{n}" for n in range(pages)]
    http: dict[str, object] = {"allow_private": ["127.0.0.1"]}
    if mode == "fast":
        http |= FASTEST_SAFE
    elif mode == "auto":
        http |= LIKE_AUTOTHROTTLE
    config = Config.model_validate({
        # max_new_per_run (default 2,000 new reviews a run, a work cap of issue 13) would stop the
        # first crawl at 200 pages and leave the rest to later runs: it is raised so every crawl here
        # reads all pages; the [http] settings, which pace the crawl, are the defaults users get
        "http": http, "sources": [{"name": "bench", "kind": "schema_org", "urls": urls, "max_pages": pages,
                                   "max_new_per_run": pages * REVIEWS, "deadline": "2h"}],
    })
    store = open_store(f"sqlite:///{db}")
    at = utcnow() + timedelta(hours=later_hours)
    try:
        started = time.perf_counter()
        summary = collect(config, store, now=lambda: at)
        seconds = time.perf_counter() - started
    finally:
        store.dispose()
    result = summary.results[0]
    if not result.ok or result.more:
        raise SystemExit(f"our crawl failed or stopped short: {result.errors[:3]}, {result.more} more")
    print(json.dumps({"seconds": seconds, "new": result.new, "pages": result.pages,
                      "not_modified": result.not_modified, "requests": result.requests,
                      "visits": result.visits.words() if result.visits else ""}))
    return 0


def run_ours(base: str, pages: int, db: Path, mode: str, later_hours: float = 0) -> dict[str, float]:
    return timed([sys.executable, __file__, "--ours", base, "--pages", str(pages), "--db", str(db),
                  "--mode", mode, "--later", str(later_hours)])


# --- main -------------------------------------------------------------------------------------


def line(name: str, pages: int, r: dict[str, float]) -> str:
    items = r.get("new", r.get("items", 0))
    inside = f" (collect {r['seconds']:.2f}s)" if "seconds" in r and "items" not in r else ""
    return (f"  {name:<34} wall {r['wall']:7.2f}s{inside}  cpu {r['cpu']:6.2f}s  {pages / r['wall']:6.0f} pages/s  "
            f"{int(r['requests']):>6} requests  {int(items):>6} reviews")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, nargs="+", default=[1000, 5000])
    parser.add_argument("--no-scrapy", action="store_true")
    parser.add_argument("--serve", metavar="PORT_FILE", help=argparse.SUPPRESS)
    parser.add_argument("--ours", metavar="BASE", help=argparse.SUPPRESS)
    parser.add_argument("--db", help=argparse.SUPPRESS)
    parser.add_argument("--mode", default="defaults", help=argparse.SUPPRESS)
    parser.add_argument("--later", type=float, default=0.0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.pages[0], args.serve)
        return 0
    if args.ours:
        return crawl_ours(args.ours, args.pages[0], args.db, args.mode, args.later)

    python = None if args.no_scrapy else scrapy_python()
    print(f"whole processes timed from outside, one loopback host, 10 reviews a page; "
          f"ours: [http] defaults unless said; fastest safe = {FASTEST_SAFE}; the source's max_new_per_run "
          f"raised to pages x {REVIEWS} so one run reads every page")
    with tempfile.TemporaryDirectory(prefix="rb-bench-") as tmp:
        work = Path(tmp)
        for pages in args.pages:
            port_file = work / f"port-{pages}"
            server = subprocess.Popen([sys.executable, __file__, "--pages", str(pages), "--serve", str(port_file)])
            try:
                deadline = time.monotonic() + 60
                while not (port_file.exists() and port_file.read_text()) and time.monotonic() < deadline:
                    time.sleep(0.05)
                base = f"http://127.0.0.1:{port_file.read_text()}"
                urls = [f"{base}/products/p{n}" for n in range(pages)]
                print(f"{pages} product pages:")
                ours = run_ours(base, pages, work / f"defaults-{pages}.db", "defaults")
                print(line("ours, defaults", pages, ours), flush=True)
                fast = run_ours(base, pages, work / f"fast-{pages}.db", "fast")
                print(line("ours, fastest safe (8 per host)", pages, fast), flush=True)
                like = run_ours(base, pages, work / f"auto-{pages}.db", "auto")
                print(line("ours, adaptive only (target 1)", pages, like), flush=True)
                if python:
                    plain = run_scrapy(python, urls, "defaults", work)
                    print(line("scrapy, defaults (8 per domain)", pages, plain), flush=True)
                    auto = run_scrapy(python, urls, "autothrottle", work)
                    print(line("scrapy, autothrottle", pages, auto), flush=True)
                    print("  ratios (time of theirs / ours: above 1 = we are faster; requests ours / theirs):")
                    print(f"    ours defaults vs scrapy autothrottle : {auto['wall'] / ours['wall']:.2f}x time, "
                          f"{ours['requests'] / auto['requests']:.2f}x requests")
                    print(f"    ours defaults vs scrapy defaults     : {plain['wall'] / ours['wall']:.2f}x time, "
                          f"{ours['requests'] / plain['requests']:.2f}x requests")
                    print(f"    ours fastest safe vs scrapy defaults : {plain['wall'] / fast['wall']:.2f}x time "
                          f"(cpu {plain['cpu'] / fast['cpu']:.2f}x), {fast['requests'] / plain['requests']:.2f}x requests")
                    print(f"    ours fastest safe vs autothrottle    : {auto['wall'] / fast['wall']:.2f}x time, "
                          f"{fast['requests'] / auto['requests']:.2f}x requests")
                    print(f"    ours adaptive only vs autothrottle   : {auto['wall'] / like['wall']:.2f}x time, "
                          f"{like['requests'] / auto['requests']:.2f}x requests (same target, no ceiling)")
                if pages == max(args.pages):
                    db = work / f"defaults-{pages}.db"
                    again = run_ours(base, pages, db, "defaults")
                    print(line("ours, defaults, second cycle now", pages, again)
                          + f"  = {again['wall'] / ours['wall']:.1%} of the first ({again['visits']})", flush=True)
                    later = run_ours(base, pages, db, "defaults", later_hours=2)
                    print(line("ours, defaults, 2 h later (all due)", pages, later)
                          + f"  = {later['wall'] / ours['wall']:.1%} of the first ({later['visits']}; "
                          f"{int(later['not_modified'])} x 304)", flush=True)
            finally:
                server.terminate()
                server.wait(timeout=10)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
