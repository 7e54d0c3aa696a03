"""The polite HTTP layer every crawler uses (:class:`PoliteSession`).

* An honest User-Agent naming jokemine and a contact (``[http] user_agent``/``contact``).
* robots.txt fetched once per host and obeyed with Protego (https://github.com/scrapy/protego), following
  RFC 9309: a 4xx robots.txt allows everything, a 5xx or an unreachable one disallows everything;
  ``Crawl-delay`` raises the per-host minimum interval (``min_interval_s``, default 1 s) between requests.
* Retries (``retries``) on timeouts, broken or cut-short bodies, 429 and 5xx, waiting the longest of the host's
  interval, exponential backoff with jitter and ``Retry-After``; a ``Retry-After`` above ``max_backoff_s`` pauses
  the host until the next run. Connecting is tried twice only (urllib3 ``Retry``), so a machine without network
  fails in seconds.
* Connect/read timeouts, and a total deadline per request (``total_timeout_s``: connect + headers + body,
  :mod:`jokemine.scrapers.deadline`), so a server that drips its answer byte by byte fails the URL in bounded time
  (it is not retried in the same run, only in later ones); a response size cap (``max_bytes``, measured on the
  wire and decompressed); redirects followed one hop at a time, each checked against robots.txt and
  rate-limited, at most ``max_redirects``.
* A response cache (requests-cache, SQLite, in the data dir): the caller gives each URL its lifetime (pages of
  past days forever, listings ``listing_ttl_s``); cache hits cost no request and no wait.
* :func:`decode_html`: the text of an HTML page from its bytes: BOM, then the ``Content-Type`` charset, then
  ``<meta charset>``, then UTF-8, then windows-1251 (the order of the HTML standard's encoding sniffing).
"""

from __future__ import annotations

import email.utils
import io
import logging
import random
import re
import time
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests
import requests_cache
from bs4.dammit import EncodingDetector
from protego import Protego
from urllib3.exceptions import ProtocolError, ReadTimeoutError
from urllib3.util.retry import Retry

from jokemine.config import HttpConfig
from jokemine.scrapers.deadline import DeadlineAdapter, current, deadline

log = logging.getLogger(__name__)
KEEP_HEADERS = ("content-type", "content-length", "last-modified", "etag", "date", "cache-control")
ROBOTS_TTL_S = 86400
NEVER = -1  # requests-cache: never expire


class FetchError(Exception):
    """A URL could not be fetched (after retries). ``retryable``: worth trying again in a later run."""

    def __init__(self, url: str, message: str, *, status: int | None = None, retryable: bool = True) -> None:
        super().__init__(f"{url}: {message}")
        self.url, self.status, self.retryable = url, status, retryable


class Unreachable(FetchError):
    """The host cannot be reached at all (no network, DNS, refused): the crawl stops at once."""


class Disallowed(Exception):
    """robots.txt forbids this URL for our User-Agent."""


@dataclass
class Fetched:
    """A response: ``status`` (200, or 404/410 and other final statuses), headers of interest, raw body bytes."""

    url: str
    final_url: str
    status: int
    headers: dict[str, str]
    body: bytes
    from_cache: bool
    fetched_at: datetime = field(default_factory=lambda: datetime.now(UTC))


def _charset(content_type: str | None) -> str | None:
    m = re.search(r"charset\s*=\s*[\"']?([\w.:-]+)", content_type or "", re.I)
    return m.group(1) if m else None


def decode_html(body: bytes, content_type: str | None = None) -> tuple[str, str]:
    """``(text, encoding)`` of an HTML page (see the module docstring for the order of evidence)."""
    data, bom = EncodingDetector.strip_byte_order_mark(body)
    declared = EncodingDetector.find_declared_encoding(data[:8192], is_html=True)
    for enc in (bom, _charset(content_type), declared, "utf-8", "windows-1251"):
        if not enc:
            continue
        try:
            return data.decode(enc), enc.lower()
        except (UnicodeDecodeError, LookupError):
            continue
    return data.decode("utf-8", "replace"), "utf-8"


class HostPaused(FetchError):
    """The host asked us to wait longer than ``max_backoff_s`` (Retry-After): no more requests to it this run."""


def retry_after_seconds(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header: delta-seconds or an HTTP date (RFC 9110, 10.2.3); None if absent
    or unparseable."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        try:
            return max(0.0, (email.utils.parsedate_to_datetime(value) - datetime.now(UTC)).total_seconds())
        except (TypeError, ValueError, IndexError):
            return None


RETRY_STATUSES = (429, 500, 502, 503, 504)


class PoliteSession:
    """HTTP GETs that follow the rules in the module docstring. ``cache_path``: SQLite file, or None.

    Every request (first tries, retries and redirect hops alike) waits for the host's interval; each redirect
    hop is checked against robots.txt. Retries (429, 5xx, read errors, bodies cut short) wait
    max(interval, exponential backoff with jitter, ``Retry-After``); a ``Retry-After`` above ``max_backoff_s``
    pauses the host for the rest of the run (:class:`HostPaused`) instead of being shortened.
    """

    def __init__(self, cfg: HttpConfig, cache_path: Path | None = None) -> None:
        self.cfg = cfg
        if cfg.cache and cache_path is not None:
            cache_path.parent.mkdir(parents=True, exist_ok=True)
            self.session: requests.Session = requests_cache.CachedSession(
                str(cache_path), backend="sqlite", expire_after=cfg.listing_ttl_s, allowable_codes=(200, 404, 410)
            )
        else:
            self.session = requests.Session()
        self.caching = isinstance(self.session, requests_cache.CachedSession)
        self.session.headers["User-Agent"] = cfg.agent()
        self.session.headers["Accept-Encoding"] = "gzip, deflate"  # what the size cap can measure
        # urllib3 only retries a failed connect, once (so a machine without network fails fast); every other
        # retry is ours, so that it respects the host's interval and Retry-After
        adapter = DeadlineAdapter(
            max_retries=Retry(
                total=1,
                connect=1,
                read=0,
                status=0,
                other=0,
                redirect=0,
                backoff_factor=0,
                raise_on_status=False,
                raise_on_redirect=False,
                respect_retry_after_header=False,
            )
        )
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        self._robots: dict[str, Protego | None] = {}
        self._last: dict[str, float] = {}
        self._paused: dict[str, str] = {}
        self.requests = 0  # network requests, retries and redirect hops included (cache hits not counted)

    def close(self) -> None:
        self.session.close()

    # --- robots.txt ----------------------------------------------------------------------------------------------
    def robots(self, url: str) -> Protego | None:
        """The parsed robots.txt of ``url``'s host (None: everything allowed).

        Raises :class:`Unreachable` (no connection) and :class:`FetchError` when robots.txt cannot be read
        (5xx, 429, timeouts: RFC 9309 2.3.1.4 says to assume complete disallow, so the crawl stops for now)."""
        parts = urlsplit(url)
        host = f"{parts.scheme}://{parts.netloc}"
        if host not in self._robots:
            robots_url = f"{host}/robots.txt"
            fetched = self._fetch(robots_url, ROBOTS_TTL_S, check_robots=False)
            if fetched.status == 200:
                self._robots[host] = Protego.parse(fetched.body.decode("utf-8", "replace"))
            elif 400 <= fetched.status < 500 and fetched.status != 429:  # RFC 9309 2.3.1.3: crawl allowed
                self._robots[host] = None
            else:
                raise FetchError(
                    robots_url,
                    f"HTTP {fetched.status}: robots.txt is unreachable, so the site must be "
                    "treated as disallowed for now (RFC 9309)",
                    status=fetched.status,
                )
        return self._robots[host]

    def allowed(self, url: str) -> bool:
        """Whether robots.txt lets our User-Agent fetch ``url``."""
        rp = self.robots(url)
        return rp is None or rp.can_fetch(url, self.cfg.agent())

    def _interval(self, url: str) -> float:
        rp = self._robots.get(f"{urlsplit(url).scheme}://{urlsplit(url).netloc}")
        delay = rp.crawl_delay(self.cfg.agent()) if rp is not None else None
        return max(self.cfg.min_interval_s, float(delay or 0))

    def _backoff(self, attempt: int) -> float:
        """Exponential backoff with jitter, capped (AWS Architecture Blog, "Exponential Backoff and Jitter")."""
        return min(self.cfg.max_backoff_s, self.cfg.backoff_s * 2**attempt) * (0.5 + random.random() / 2)

    # --- fetching ------------------------------------------------------------------------------------------------
    def get(self, url: str, expire_after: int = 0) -> Fetched:
        """Fetch ``url`` politely; ``expire_after``: cache lifetime in seconds (``NEVER`` = forever, 0 = none).

        Raises :class:`Disallowed`, :class:`Unreachable`, :class:`HostPaused`, :class:`FetchError`.
        """
        return self._fetch(url, expire_after, check_robots=True)

    def _fetch(self, url: str, expire_after: int, *, check_robots: bool) -> Fetched:
        if check_robots and not self.allowed(url):
            raise Disallowed(url)
        if self.caching and expire_after != 0:
            hit = self.session.get(url, only_if_cached=True, expire_after=expire_after)  # type: ignore[call-arg]
            if getattr(hit, "from_cache", False) and hit.status_code != 504:
                return self._result(url, hit, from_cache=True)
        current = url
        for _hop in range(self.cfg.max_redirects + 1):
            resp = self._request(current, expire_after)
            if not resp.is_redirect:
                return self._result(url, resp, from_cache=False)
            target = urljoin(current, resp.headers.get("Location", ""))
            if check_robots and not self.allowed(target):
                raise Disallowed(target)
            current = target
        raise FetchError(url, f"redirect loop (more than {self.cfg.max_redirects} redirects)", retryable=False)

    def _request(self, url: str, expire_after: int) -> requests.Response:
        """One URL, no redirects followed, with the retry policy in the class docstring."""
        host = urlsplit(url).netloc
        if host in self._paused:
            raise HostPaused(url, self._paused[host], retryable=True)
        error, extra_wait = "", 0.0
        for attempt in range(self.cfg.retries + 1):
            wait = max(self._last.get(host, float("-inf")) + self._interval(url) - time.monotonic(), extra_wait)
            if wait > 0:
                time.sleep(wait)
            try:
                self.requests += 1
                kwargs: dict[str, Any] = {
                    "timeout": (self.cfg.connect_timeout_s, self.cfg.read_timeout_s),
                    "hooks": {"response": self._read_capped},
                    "allow_redirects": False,
                }
                if self.caching:
                    kwargs["expire_after"] = expire_after
                with deadline(self.cfg.total_timeout_s) as d:
                    try:
                        resp = self.session.get(url, **kwargs)
                    except requests.exceptions.RequestException:
                        if not d.expired:
                            raise
                if d.expired:
                    raise FetchError(
                        url,
                        f"no complete answer within total_timeout_s ({self.cfg.total_timeout_s:g} s); "
                        "not retried in this run",
                    )
                if resp.status_code not in RETRY_STATUSES:
                    return resp
                error = f"HTTP {resp.status_code}"
                retry_after = retry_after_seconds(resp.headers.get("Retry-After"))
                if retry_after is not None and retry_after > self.cfg.max_backoff_s:
                    self._paused[host] = (
                        f"HTTP {resp.status_code} asks to wait {retry_after:.0f} s, more than "
                        f"max_backoff_s ({self.cfg.max_backoff_s:g} s): {host} paused until the "
                        "next run"
                    )
                    raise HostPaused(url, self._paused[host], status=resp.status_code)
                extra_wait = max(self._backoff(attempt), retry_after or 0.0)
                if attempt == self.cfg.retries:
                    return resp  # the caller records the final status
            except requests.exceptions.ConnectTimeout as e:
                raise Unreachable(
                    url, f"cannot connect (timed out after {self.cfg.connect_timeout_s:g} s): {_reason(e)}"
                ) from None
            except requests.exceptions.ConnectionError as e:
                if _is_connect_failure(e):
                    raise Unreachable(url, f"cannot connect: {_reason(e)} (no network, or the site is down?)") from None
                error, extra_wait = f"connection broken while reading: {_reason(e)}", self._backoff(attempt)
            except requests.exceptions.ChunkedEncodingError as e:
                error, extra_wait = f"connection broken while reading: {e}", self._backoff(attempt)
            except requests.exceptions.Timeout:
                error, extra_wait = f"no answer within {self.cfg.read_timeout_s:g} s", self._backoff(attempt)
            except _TooLarge as e:
                raise FetchError(url, str(e), retryable=False) from None
            except requests.exceptions.RequestException as e:  # bad headers, undecodable bodies, ...
                raise FetchError(url, f"{type(e).__name__}: {e}", retryable=False) from None
            finally:
                self._last[host] = time.monotonic()
            log.warning("%s: %s; retrying (%d of %d)", url, error, attempt + 1, self.cfg.retries)
        raise FetchError(url, error)

    def _read_capped(self, r: requests.Response, *args: Any, **kwargs: Any) -> requests.Response:
        """Response hook, before requests reads the body: read the wire bytes up to ``max_bytes`` (a body cut
        short raises ``ChunkedEncodingError``; a gzip/deflate body is also measured decompressed), then hand them
        back to the response (and to requests-cache) as if unread, so decoding and caching work as usual."""
        if r.is_redirect:
            return r
        declared = r.headers.get("Content-Length")
        if declared and declared.isdigit() and int(declared) > self.cfg.max_bytes:
            r.close()
            raise _TooLarge(f"response of {int(declared):,} bytes is larger than max_bytes ({self.cfg.max_bytes:,})")
        encoding = (r.headers.get("Content-Encoding") or "").lower()
        inflate = zlib.decompressobj(47) if encoding in ("gzip", "deflate", "x-gzip") else None
        raw = r.raw
        chunks, total, decoded = [], 0, 0
        try:
            for chunk in raw.stream(65536, decode_content=False):
                total += len(chunk)
                if inflate is not None:
                    try:
                        decoded += len(inflate.decompress(chunk, self.cfg.max_bytes + 1 - decoded))
                    except zlib.error:
                        inflate = None  # requests reports the broken encoding itself
                if total > self.cfg.max_bytes or decoded > self.cfg.max_bytes:
                    r.close()
                    raise _TooLarge(f"response larger than max_bytes ({self.cfg.max_bytes:,})")
                chunks.append(chunk)
        except ProtocolError as e:
            r.close()
            raise requests.exceptions.ChunkedEncodingError(f"body cut short after {total:,} bytes: {e}") from None
        except ReadTimeoutError as e:
            r.close()
            raise requests.exceptions.ReadTimeout(str(e)) from None
        d = current()
        if d is not None and d.expired:  # the body may have ended because the watchdog closed the connection
            r.close()
            raise requests.exceptions.ConnectionError(f"total deadline passed after {total:,} bytes")
        body = b"".join(chunks)
        raw.release_conn()
        raw._fp = io.BytesIO(body)  # the same state urllib3 has before the first read
        raw._fp_bytes_read = 0
        raw.length_remaining = len(body)
        return r

    def _result(self, url: str, resp: requests.Response, *, from_cache: bool) -> Fetched:
        headers = {k: v for k, v in ((h, resp.headers.get(h)) for h in KEEP_HEADERS) if v is not None}
        created = getattr(resp, "created_at", None) if from_cache else None
        when = created.replace(tzinfo=UTC) if isinstance(created, datetime) and created.tzinfo is None else created
        try:
            body = resp.content
        except requests.exceptions.RequestException as e:
            raise FetchError(url, f"{type(e).__name__}: {e}", retryable=False) from None
        return Fetched(url, resp.url, resp.status_code, headers, body, from_cache, when or datetime.now(UTC))


class _TooLarge(requests.exceptions.RequestException):
    pass


def _reason(e: BaseException) -> str:
    text = str(e)
    m = re.search(r"(\[Errno [^\]]+\][^')\"]*|Connection refused|Name or service not known|timed out)", text)
    return m.group(1) if m else text[:200]


def _is_connect_failure(e: requests.exceptions.ConnectionError) -> bool:
    text = str(e)
    return any(
        k in text
        for k in (
            "NewConnectionError",
            "Connection refused",
            "Name or service not known",
            "Failed to resolve",
            "No route to host",
            "Network is unreachable",
            "nodename nor servname",
            "Temporary failure in name resolution",
        )
    )
