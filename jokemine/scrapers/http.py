"""The polite HTTP layer every crawler uses (:class:`PoliteSession`).

* An honest User-Agent naming jokemine and a contact (``[http] user_agent``/``contact``).
* robots.txt fetched once per host and obeyed with Protego (https://github.com/scrapy/protego), following
  RFC 9309: a 4xx robots.txt allows everything, a 5xx or an unreachable one disallows everything;
  ``Crawl-delay`` raises the per-host minimum interval (``min_interval_s``, default 1 s) between requests.
* Retries on connection errors, timeouts, 429 and 5xx with exponential backoff and jitter, ``Retry-After``
  honoured (urllib3 ``Retry``, capped at ``max_backoff_s``); a body cut short is retried once more.
  Connecting is tried twice only, so a machine without network fails in seconds.
* Connect/read timeouts, a response size cap (``max_bytes``), at most ``max_redirects`` redirects.
* A response cache (requests-cache, SQLite, in the data dir): the caller gives each URL its lifetime (pages of
  past days forever, listings ``listing_ttl_s``); cache hits cost no request and no wait.
* :func:`decode_html`: the text of an HTML page from its bytes: BOM, then the ``Content-Type`` charset, then
  ``<meta charset>``, then UTF-8, then windows-1251 (the order of the HTML standard's encoding sniffing).
"""

from __future__ import annotations

import io
import logging
import re
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests
import requests_cache
from bs4.dammit import EncodingDetector
from protego import Protego
from requests.adapters import HTTPAdapter
from urllib3.exceptions import ProtocolError, ReadTimeoutError
from urllib3.util.retry import Retry

from jokemine.config import HttpConfig

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


class _Retry(Retry):
    """urllib3 Retry whose ``Retry-After`` waits are capped (a server asking for an hour gets ``backoff_max``)."""

    def get_retry_after(self, response: Any) -> float | None:
        value = super().get_retry_after(response)
        return None if value is None else min(value, self.backoff_max)


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


class PoliteSession:
    """HTTP GETs that follow the rules in the module docstring. ``cache_path``: SQLite file, or None."""

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
        self.session.max_redirects = cfg.max_redirects
        retry = _Retry(
            total=cfg.retries + 1,
            connect=1,
            read=cfg.retries,
            status=cfg.retries,
            other=0,
            backoff_factor=cfg.backoff_s,
            backoff_max=cfg.max_backoff_s,
            backoff_jitter=cfg.backoff_s,
            status_forcelist=(429, 500, 502, 503, 504),
            allowed_methods=("GET", "HEAD"),
            respect_retry_after_header=True,
            raise_on_status=False,
            raise_on_redirect=False,
        )
        adapter = HTTPAdapter(max_retries=retry)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        self._robots: dict[str, Protego | None] = {}
        self._last: dict[str, float] = {}
        self.requests = 0  # network requests (cache hits not counted)

    def close(self) -> None:
        self.session.close()

    # --- robots.txt ----------------------------------------------------------------------------------------------
    def robots(self, url: str) -> Protego | None:
        """The parsed robots.txt of ``url``'s host (None: everything allowed). Raises :class:`Unreachable`."""
        parts = urlsplit(url)
        host = f"{parts.scheme}://{parts.netloc}"
        if host not in self._robots:
            robots_url = f"{host}/robots.txt"
            fetched = self._fetch(robots_url, ROBOTS_TTL_S, check_robots=False)
            if fetched.status == 200:
                self._robots[host] = Protego.parse(fetched.body.decode("utf-8", "replace"))
            elif 400 <= fetched.status < 500:  # RFC 9309 2.3.1.3: unavailable -> crawl allowed
                self._robots[host] = None
            else:  # 5xx: unreachable -> complete disallow
                self._robots[host] = Protego.parse("User-agent: *\nDisallow: /\n")
                log.warning("%s answered %s: treating the whole site as disallowed", robots_url, fetched.status)
        return self._robots[host]

    def allowed(self, url: str) -> bool:
        """Whether robots.txt lets our User-Agent fetch ``url``."""
        rp = self.robots(url)
        return rp is None or rp.can_fetch(url, self.session.headers["User-Agent"])

    def _interval(self, url: str) -> float:
        rp = self._robots.get(f"{urlsplit(url).scheme}://{urlsplit(url).netloc}")
        delay = rp.crawl_delay(self.session.headers["User-Agent"]) if rp is not None else None
        return max(self.cfg.min_interval_s, float(delay or 0))

    # --- fetching ------------------------------------------------------------------------------------------------
    def get(self, url: str, expire_after: int = 0) -> Fetched:
        """Fetch ``url`` politely; ``expire_after``: cache lifetime in seconds (``NEVER`` = forever, 0 = none).

        Raises :class:`Disallowed`, :class:`Unreachable`, :class:`FetchError`.
        """
        return self._fetch(url, expire_after, check_robots=True)

    def _fetch(self, url: str, expire_after: int, *, check_robots: bool) -> Fetched:
        if check_robots and not self.allowed(url):
            raise Disallowed(url)
        if self.caching and expire_after != 0:
            hit = self.session.get(url, only_if_cached=True, expire_after=expire_after)  # type: ignore[call-arg]
            if getattr(hit, "from_cache", False) and hit.status_code != 504:
                return self._result(url, hit, from_cache=True)
        host = urlsplit(url).netloc
        for attempt in range(2):
            wait = self._last.get(host, float("-inf")) + self._interval(url) - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            try:
                self.requests += 1
                kwargs: dict[str, Any] = {
                    "timeout": (self.cfg.connect_timeout_s, self.cfg.read_timeout_s),
                    "hooks": {"response": self._read_capped},
                }
                if self.caching:
                    kwargs["expire_after"] = expire_after if expire_after != 0 else 0
                resp = self.session.get(url, **kwargs)
                return self._result(url, resp, from_cache=False)
            except requests.exceptions.TooManyRedirects:
                raise FetchError(
                    url, f"redirect loop (more than {self.cfg.max_redirects} redirects)", retryable=False
                ) from None
            except requests.exceptions.ConnectTimeout as e:
                raise Unreachable(
                    url, f"cannot connect (timed out after {self.cfg.connect_timeout_s:g} s): {_reason(e)}"
                ) from None
            except requests.exceptions.ConnectionError as e:
                if _is_connect_failure(e):
                    raise Unreachable(url, f"cannot connect: {_reason(e)} (no network, or the site is down?)") from None
                error = f"connection broken while reading: {_reason(e)}"
            except requests.exceptions.ChunkedEncodingError as e:
                error = f"connection broken while reading: {e}"
            except requests.exceptions.Timeout:
                error = f"no answer within {self.cfg.read_timeout_s:g} s"
            except _TooLarge as e:
                raise FetchError(url, str(e), retryable=False) from None
            finally:
                self._last[host] = time.monotonic()
            if attempt == 0:
                log.warning("%s: %s; trying once more", url, error)
                time.sleep(min(self.cfg.max_backoff_s, self.cfg.backoff_s * 2))
        raise FetchError(url, error)

    def _read_capped(self, r: requests.Response, *args: Any, **kwargs: Any) -> requests.Response:
        """Response hook, before requests reads the body: read the wire bytes up to ``max_bytes`` (a body cut
        short raises ``ChunkedEncodingError``), then hand them back to the response (and to requests-cache) as
        if unread, so decoding and caching work as usual."""
        if r.is_redirect:
            return r
        declared = r.headers.get("Content-Length")
        if declared and declared.isdigit() and int(declared) > self.cfg.max_bytes:
            r.close()
            raise _TooLarge(f"response of {int(declared):,} bytes is larger than max_bytes ({self.cfg.max_bytes:,})")
        raw = r.raw
        chunks, total = [], 0
        try:
            for chunk in raw.stream(65536, decode_content=False):
                total += len(chunk)
                if total > self.cfg.max_bytes:
                    r.close()
                    raise _TooLarge(f"response larger than max_bytes ({self.cfg.max_bytes:,})")
                chunks.append(chunk)
        except ProtocolError as e:
            raise requests.exceptions.ChunkedEncodingError(f"body cut short after {total:,} bytes: {e}") from None
        except ReadTimeoutError as e:
            raise requests.exceptions.ReadTimeout(str(e)) from None
        body = b"".join(chunks)
        raw.release_conn()
        raw._fp = io.BytesIO(body)  # the same state urllib3 has before the first read
        raw._fp_bytes_read = 0
        raw.length_remaining = len(body)
        return r

    def _result(self, url: str, resp: requests.Response, *, from_cache: bool) -> Fetched:
        headers = {k: v for k, v in ((h, resp.headers.get(h)) for h in KEEP_HEADERS) if v is not None}
        return Fetched(url, resp.url, resp.status_code, headers, resp.content, from_cache)


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
