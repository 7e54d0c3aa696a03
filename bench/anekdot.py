"""Benchmark: anekdot.ru parsing on the real saved page, and crawl overhead per page against a loopback server.

* Parse: decode + ``anekdot_ru.parse_page`` (lxml) on the real page, repeated: pages/s and jokes/s. Peer in the
  same run: BeautifulSoup with the lxml builder doing the same selection (the usual way to write such a scraper).
* Crawl: the anekdot_ru source over N day pages served by tests/site_server.py (its own process) with
  ``min_interval_s = 0`` and the cache off: wall time per page (robots.txt, request, raw storage, frontier commit).

Writes the "anekdot.ru" section of bench/RESULTS.md. Usage: python bench/anekdot.py [--days N]
"""

from __future__ import annotations

import argparse
import datetime as dt
import multiprocessing as mp
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.pipeline import machine, update_results  # noqa: E402

SHARED = Path(os.environ.get("JOKEMINE_SHARED", REPO.parent / "shared")) / "data" / "real"
PAGE = SHARED / "html-anekdot-ru" / "anekdot_ru_tags_ukraine_2022-10-07.html"


def serve(q: mp.Queue) -> None:  # type: ignore[type-arg]
    from tests.site_server import FakeSite

    site = FakeSite(PAGE.read_bytes())
    site.__enter__()
    q.put(site.url)
    while True:
        time.sleep(3600)


def bs4_parse(html: str) -> int:
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(html, "lxml")
    n = 0
    for box in soup.select("div.topicbox[data-id]"):
        text = box.select_one("div.text")
        rates = box.select_one("div.rates")
        if text is not None and rates is not None:
            text.get_text("\n")
            rates.get("data-r")
            n += 1
    return n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--days", type=int, default=200)
    ap.add_argument("--repeat", type=int, default=300)
    args = ap.parse_args()
    from jokemine.scrapers import anekdot_ru
    from jokemine.scrapers.http import decode_html

    body = PAGE.read_bytes()
    t0 = time.perf_counter()
    jokes = 0
    for _ in range(args.repeat):
        html, _ = decode_html(body, "text/html; charset=utf-8")
        jokes += len(anekdot_ru.parse_page(html, "https://www.anekdot.ru/tags/x", "tag", {})[0])
    t_parse = time.perf_counter() - t0
    t0 = time.perf_counter()
    peer_jokes = sum(bs4_parse(body.decode("utf-8")) for _ in range(args.repeat // 5))
    t_peer = time.perf_counter() - t0
    peer_pages = args.repeat // 5

    q: mp.Queue = mp.Queue()  # type: ignore[type-arg]
    proc = mp.get_context("fork").Process(target=serve, args=(q,), daemon=True)
    proc.start()
    url = q.get(timeout=60)
    from jokemine.config import load_config
    from jokemine.scrapers.run import scrape

    try:
        work = Path(tempfile.mkdtemp(prefix="jokemine-bench-anekdot-"))
        start = dt.date(2020, 1, 1)
        end = start + dt.timedelta(days=args.days - 1)
        (work / "jm.toml").write_text(f"""
[paths]
data_dir = "data"
[http]
min_interval_s = 0
cache = false
[[sources]]
name = "anekdot"
kind = "anekdot_ru"
base_url = "{url}"
start = "{start}"
end = "{end}"
""")
        cfg = load_config(work / "jm.toml")
        t0 = time.perf_counter()
        report = scrape(cfg, cfg.data_dir(), progress=False)[0]
        t_crawl = time.perf_counter() - t0
    finally:
        proc.kill()
    pages = report.stats.get("pages", 0)
    date = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        "## anekdot.ru: parsing and crawl overhead",
        "",
        f"Run {date} on {machine()}. Command: `python bench/anekdot.py --days {args.days} --repeat {args.repeat}`.",
        "",
        "| what | pages | jokes | wall s | pages/s | jokes/s |",
        "|---|---|---|---|---|---|",
        f"| parse the real page (decode + lxml XPath) | {args.repeat:,} | {jokes:,} | {t_parse:.2f} | "
        f"{args.repeat / t_parse:,.0f} | {jokes / t_parse:,.0f} |",
        f"| peer: BeautifulSoup(lxml) + CSS select, same fields | {peer_pages:,} | {peer_jokes:,} | {t_peer:.2f} | "
        f"{peer_pages / t_peer:,.0f} | {peer_jokes / t_peer:,.0f} |",
        f"| crawl day pages from the loopback server (delay 0, cache off) | {pages:,} | - | {t_crawl:.2f} | "
        f"{pages / t_crawl:,.0f} | - |",
        "",
        f"Parsing is {(args.repeat / t_parse) / (peer_pages / t_peer):.1f}x the BeautifulSoup peer. Crawl overhead "
        f"per page (robots.txt check, request over loopback, raw page stored, frontier committed): "
        f"{1000 * t_crawl / max(pages, 1):.1f} ms. Target (issue 4): >= 200 pages/s parsed.",
        "",
    ]
    section = "\n".join(lines)
    update_results("## anekdot.ru:", section)
    print(section)


if __name__ == "__main__":
    main()
