"""The resumable crawl loop shared by HTML sources (``anekdot_ru``, ``html_spec``).

State: a frontier in ``state.sqlite`` (URL, kind, status ``pending``/``done``/``failed``/``gave_up``/``skipped``,
attempts, last error, HTTP status). Each fetched page is stored raw (its bytes, base64, with URL, status,
headers of interest and fetch time) and committed together with its frontier changes (the page done, the links
it revealed added), so a run killed at any point resumes with only the remaining URLs and stores nothing twice.
Pages are parsed into jokes by ``clean``, from ``raw/``: fixing a parser needs no re-crawl.

A crawl starts with seed URLs (the source's date window, tag pages, start URLs); recent pages
(``refetch_days``) and listings are fetched again by the next crawl; past ones are not. A failed URL is retried
in later runs up to ``[http] max_attempts`` times; a 404/410 is final; robots.txt-disallowed URLs are skipped.
"""

from __future__ import annotations

import base64
import logging
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

from jokemine.config import CrawlSourceConfig, HttpConfig
from jokemine.errors import SourceError
from jokemine.scrapers.base import Checkpoint, Event, Notice, RawItem, ReadContext
from jokemine.scrapers.http import NEVER, Disallowed, Fetched, FetchError, HostPaused, PoliteSession, Unreachable
from jokemine.state import FrontierEntry, FrontierOp

log = logging.getLogger(__name__)
CACHE_FILE = "http_cache.sqlite"


def page_envelope(entry: FrontierEntry, fetched: Fetched) -> dict[str, Any]:
    """The raw record of one fetched page (``body_b64``: the bytes exactly as received, decoded by clean)."""
    return {
        "url": entry.url,
        "final_url": fetched.final_url,
        "status": fetched.status,
        "kind": entry.kind,
        "meta": entry.meta,
        "headers": fetched.headers,
        "from_cache": fetched.from_cache,
        "body_b64": base64.b64encode(fetched.body).decode("ascii"),
    }


def page_body(data: dict[str, Any]) -> bytes:
    """The body bytes of a page envelope."""
    return base64.b64decode(data["body_b64"])


class Crawler:
    """Base of the HTML sources: subclasses give :meth:`seeds`, :meth:`links` and :meth:`expiry`."""

    parser_version = "crawl/1"
    track_ids = False

    @classmethod
    def from_config(cls, cfg: Any, base_dir: Path, http: HttpConfig) -> Any:
        """The reader of one configured source (:mod:`jokemine.scrapers.registry`)."""
        return cls(cfg, http, base_dir)

    def __init__(self, cfg: CrawlSourceConfig, http: HttpConfig, base_dir: Path) -> None:
        self.cfg = cfg
        self.http_cfg = http
        self.name = cfg.name
        self.stats: Counter[str] = Counter()
        self.crawl_started: str | None = None
        self.today = datetime.now(UTC).date()

    # --- to override ---------------------------------------------------------------------------------------------
    def seeds(self, days: list[date], force: bool) -> list[FrontierOp]:
        """The URLs that start a crawl of the window ``days`` (oldest first). Use :meth:`due` for ``refetch_before``
        of URLs a new crawl fetches again."""
        raise NotImplementedError

    def recent(self, day: date) -> bool:
        """Whether ``day`` is in the refetch window (the last ``refetch_days`` days up to today)."""
        return (self.today - day).days < self.cfg.refetch_days

    def due(self, again: bool) -> str | None:
        """``refetch_before`` for an add op: the crawl's start when the URL is due again, else None."""
        return self.crawl_started if again else None

    def links(self, entry: FrontierEntry, fetched: Fetched) -> list[FrontierOp]:
        """URLs a fetched page leads to (pagination, full stories)."""
        return []

    def expiry(self, entry: FrontierEntry, today: date) -> int:
        """Cache lifetime of ``entry`` in seconds: pages of days before the refetch window forever, listings
        ``listing_ttl_s``, recent days a tenth of that."""
        day = entry.meta.get("date")
        if day and date.fromisoformat(day) <= today - timedelta(days=self.cfg.refetch_days):
            return NEVER
        if day:
            return max(1, self.http_cfg.listing_ttl_s // 10)
        return self.http_cfg.listing_ttl_s

    # --- the loop ------------------------------------------------------------------------------------------------
    def absolute(self, url: str) -> str:
        return urljoin(self.cfg.base_url + "/", url)

    def window(self, cursor: dict[str, Any], today: date) -> list[date]:
        """Days of this crawl: ``start``..``end``; without ``start``, from the last crawled day (minus the refetch
        window) or the last ``refetch_days`` days."""
        end = self.cfg.end or today
        if self.cfg.start:
            start = self.cfg.start
            if cursor.get("last_end") and not self.cfg.end:
                start = max(start, date.fromisoformat(cursor["last_end"]) - timedelta(days=self.cfg.refetch_days))
        elif cursor.get("last_end"):
            start = date.fromisoformat(cursor["last_end"]) - timedelta(days=self.cfg.refetch_days)
        else:
            start = end - timedelta(days=max(self.cfg.refetch_days - 1, 0))
        return [start + timedelta(days=i) for i in range((end - start).days + 1)]

    def read(self, ctx: ReadContext) -> Iterator[Event]:
        """Crawl: seed a new crawl (unless resuming one a killed run left), then fetch pending URLs until none
        is left, committing after every page."""
        if ctx.frontier is None:
            raise SourceError("crawl sources need a frontier (run through `jokemine scrape`)")
        today = datetime.now(UTC).date()
        http = PoliteSession(self.http_cfg, (ctx.data_dir / CACHE_FILE) if ctx.data_dir else None)
        try:
            self.today = today
            try:
                http.robots(self.cfg.base_url + "/")
            except Unreachable as e:
                raise SourceError(f"cannot reach {self.cfg.base_url}: {e}; is there a network?") from None
            except FetchError as e:
                raise SourceError(f"not crawling {self.cfg.base_url} now: {e}") from None
            cursor = dict(ctx.cursors.get("crawl") or {})
            if cursor.get("complete", True) or ctx.force:  # a new crawl
                days = self.window(cursor, today)
                self.crawl_started = datetime.now(UTC).isoformat()
                cursor = {
                    **cursor,
                    "complete": False,
                    "end": days[-1].isoformat() if days else None,
                    "started_at": self.crawl_started,
                }
                yield Checkpoint({"crawl": cursor}, [FrontierOp("retry_skipped", ""), *self.seeds(days, ctx.force)])
            else:
                self.crawl_started = cursor.get("started_at")
                self.stats["resumed"] += 1
            visited: set[str] = set()
            failures: list[str] = []
            paused = None
            while True:
                queue = [e for e in ctx.frontier.pending(self.http_cfg.max_attempts) if e.url not in visited]
                if not queue:
                    break
                for entry in queue:
                    visited.add(entry.url)
                    try:
                        item, ops, error = self._visit(http, entry, today)
                    except HostPaused as e:
                        paused = str(e)
                        break
                    if item is not None:
                        yield item
                    if error:
                        failures.append(error)
                    yield Checkpoint({}, ops)
                if paused:
                    break
            if paused:  # the crawl stays open: the next run resumes it
                yield Notice(f"{paused}; the remaining URLs are fetched next run", "error")
            else:
                yield Checkpoint({"crawl": {**cursor, "complete": True, "last_end": cursor.get("end")}})
            self.stats["requests"] += http.requests
            if failures:
                yield Notice(
                    f"{len(failures)} URLs failed (retried next run up to [http] max_attempts); first: {failures[0]}",
                    "error",
                )
        finally:
            http.close()

    def _visit(
        self, http: PoliteSession, entry: FrontierEntry, today: date
    ) -> tuple[RawItem | None, list[FrontierOp], str | None]:
        url = entry.url
        try:
            fetched = http.get(url, self.expiry(entry, today))
        except Disallowed:
            self.stats["robots_disallowed"] += 1
            return None, [FrontierOp("skipped", url, error="robots.txt disallows it")], None
        except Unreachable as e:
            raise SourceError(f"{e}; stopping: what was fetched is kept, the rest is fetched next run") from None
        except HostPaused:
            raise
        except FetchError as e:
            self.stats["failed"] += 1
            op = "failed" if e.retryable else "gave_up"
            return None, [FrontierOp(op, url, error=str(e), http_status=e.status)], str(e)
        self.stats["cache_hits" if fetched.from_cache else "fetched"] += 1
        if fetched.status == 200:
            try:
                links = self.links(entry, fetched)
            except Exception as e:  # an empty or broken page: stored, marked done, reported
                log.warning("%s: cannot read links: %s", url, e)
                self.stats["unparseable"] += 1
                links = []
            done = [FrontierOp("done", url, http_status=200), *links]
            if fetched.from_cache and entry.http_status == 200:
                return None, done, None  # stored by an earlier crawl: the cache adds nothing new
            self.stats["pages"] += 1
            item = RawItem(url, page_envelope(entry, fetched), url, None, "item", fetched_at=fetched.fetched_at)
            return item, done, None
        if fetched.status in (404, 410):
            self.stats["not_found"] += 1
            return None, [FrontierOp("done", url, http_status=fetched.status, error="not found")], None
        self.stats["failed"] += 1
        error = f"{url}: HTTP {fetched.status}"
        return None, [FrontierOp("failed", url, error=error, http_status=fetched.status)], error
