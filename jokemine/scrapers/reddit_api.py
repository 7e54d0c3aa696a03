"""``reddit_api``: live Reddit through PRAW (read-only, client credentials).

Per subreddit and run:

1. ``new`` is walked page by page (100 posts, ``after`` cursor) until it reaches posts older than the newest one
   stored by an earlier run, so an up-to-date subreddit costs one request. The walk commits after every page with
   its position (``after``), so a run killed at any point resumes where it stopped: nothing lost, nothing stored
   twice. The other configured listings (``top:day``, ``top:week``, ``hot``...) add posts the walk has not seen.
   Reddit serves at most ~1000 posts per listing: history comes from dumps (``reddit_dump``).
2. Posts created less than ``refresh_days`` ago (all stored posts with ``--recheck-all``) are re-read in batches
   of 100 through ``/api/info`` (what ``reddit.info(fullnames=...)`` requests): each re-read is stored as a new
   observation (``note = "reread"``) with its fetch time, so scores that settle over days are kept as a history
   and clean uses the latest. A post that comes back deleted or removed, or not at all (``note = "missing"``), is
   dropped by the next clean as ``deleted_upstream`` (Reddit's content policy asks that deletions be honoured).

Raw records are the API's JSON exactly as received (``Reddit.request``, so nothing is lost to PRAW's objects).
Rate limits: prawcore's limiter reads ``x-ratelimit-*`` and sleeps before requests; prawcore retries connection
errors, timeouts and 5xx twice; on top of that, 429 (which prawcore does not retry) waits ``Retry-After`` and
429/5xx/connection errors back off exponentially with jitter, ``max_retries`` times, after which the source stops
cleanly with what it has committed. Credentials are never logged or stored.
"""

from __future__ import annotations

import contextlib
import email.utils
import logging
import os
import random
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import requests

from jokemine.cleaning.filters import reddit_steps
from jokemine.cleaning.parse import reddit_records
from jokemine.config import HttpConfig, RedditApiKeys, RedditApiSource
from jokemine.errors import SourceError
from jokemine.scrapers.base import Checkpoint, Event, Notice, RawItem, ReadContext
from jokemine.scrapers.deadline import DeadlineAdapter, DeadlineExceeded, deadline
from jokemine.scrapers.reddit_dump import REDDIT_PRODUCERS, REDDIT_TERMS
from jokemine.scrapers.registry import register

log = logging.getLogger(__name__)
T = TypeVar("T")
PARSER_VERSION = "reddit_api/1"
INFO_BATCH = 100
PAGE = 100


class AuthFailed(SourceError):
    """Reddit rejected the credentials: the whole source stops."""


class RequestFailed(SourceError):
    """One request failed for good (the listing or batch is reported, the source goes on)."""


_STATUS_HINTS = {
    302: " (the subreddit does not exist: Reddit redirects to search)",
    403: " (private or quarantined subreddit)",
    404: " (not found or banned)",
}


def _retry_after_seconds(value: str) -> float:
    """Seconds from a Retry-After header: delta-seconds or an HTTP date (RFC 9110, section 10.2.3)."""
    try:
        return max(0.0, float(value))
    except ValueError:
        try:
            return max(0.0, (email.utils.parsedate_to_datetime(value) - datetime.now(UTC)).total_seconds())
        except (TypeError, ValueError):
            return 60.0


class _TimeoutSession(requests.Session):
    """A session that caps every request's per-read timeout (prawcore's own is fixed at import time) and gives
    every request a total deadline (:mod:`jokemine.scrapers.deadline`): past it the request fails with
    :class:`DeadlineExceeded`, which prawcore does not retry."""

    def __init__(self, timeout: float, total: float) -> None:
        super().__init__()
        self._cap = timeout
        self._total = total
        self.mount("http://", DeadlineAdapter())
        self.mount("https://", DeadlineAdapter())

    def request(self, *args: Any, **kwargs: Any) -> requests.Response:
        t = kwargs.get("timeout")
        kwargs["timeout"] = self._cap if t is None else min(float(t), self._cap)
        with deadline(self._total) as d:
            try:
                resp = super().request(*args, **kwargs)  # the body is read in here (no streaming)
            except requests.exceptions.RequestException:
                if not d.expired:
                    raise
        if d.expired:  # failed, or a body that ended because the watchdog closed the connection
            raise DeadlineExceeded(f"no complete answer within total_timeout_s ({self._total:g} s)")
        return resp


def _not_json(resp: requests.Response) -> str:
    """A description of a response whose body is not JSON: status, content type and its first characters."""
    head = resp.content[:60].decode("utf-8", "replace").replace("\n", " ")
    kind = resp.headers.get("content-type") or "no content type"
    return f"a body that is not JSON (HTTP {resp.status_code}, {kind}, {len(resp.content):,} bytes: {head!r})"


def credentials_missing(cfg: RedditApiKeys) -> str | None:
    """Why the source cannot authenticate here (None when credentials are configured)."""
    if os.environ.get("praw_client_id") and os.environ.get("praw_client_secret"):
        return None
    if cfg.praw_site:
        return None  # praw.ini decides; PRAW reports a missing setting
    return (
        "no Reddit API credentials: set praw_client_id and praw_client_secret in the environment, or name a "
        "praw.ini site with `praw_site` (README 'Live Reddit')"
    )


def _loop_message(after: str) -> str:
    return (
        f"the listing's `after` cursor {after!r} came back a second time (the listing loops); this walk stops "
        "here (posts already read are kept once; the next run walks it again)"
    )


@register(
    "reddit_api",
    config=RedditApiSource,
    parse=reddit_records,
    steps=reddit_steps,
    live=True,
    card_terms=REDDIT_TERMS,
    card_producers=REDDIT_PRODUCERS,
)
class RedditApi:
    """Reads the subreddits of one ``reddit_api`` source (see the module docstring)."""

    parser_version = PARSER_VERSION
    track_ids = True

    @classmethod
    def from_config(cls, cfg: RedditApiSource, base_dir: Path, http: HttpConfig) -> RedditApi:
        """The reader of one configured source (:mod:`jokemine.scrapers.registry`)."""
        return cls(cfg, base_dir)

    def __init__(self, cfg: RedditApiKeys, base_dir: Path) -> None:
        self.cfg = cfg
        self.name = cfg.name
        self.stats: Counter[str] = Counter()
        self._reddit: Any = None

    # --- connection --------------------------------------------------------------------------------------------
    def connect(self) -> Any:
        """A read-only ``praw.Reddit`` for this source's credentials and endpoints (kept for :meth:`retrying`).
        Raises :class:`SourceError` for a missing setting or an unknown ``praw.ini`` site."""
        self._reddit = self._connect()
        return self._reddit

    def _connect(self) -> Any:
        import praw
        import prawcore

        kwargs: dict[str, Any] = {
            "user_agent": self.cfg.user_agent,
            "oauth_url": self.cfg.oauth_url,
            "reddit_url": self.cfg.reddit_url,
            "check_for_updates": False,
            "requestor_kwargs": {"session": _TimeoutSession(self.cfg.timeout_s, self.cfg.total_timeout_s)},
        }
        if self.cfg.praw_site:
            kwargs["site_name"] = self.cfg.praw_site
        try:
            reddit = praw.Reddit(**kwargs)
        except (praw.exceptions.MissingRequiredAttributeException, KeyError) as e:
            raise SourceError(f"Reddit API not configured: {e}".splitlines()[0]) from None
        except Exception as e:  # configparser.NoSectionError for an unknown praw.ini site
            raise SourceError(f"praw.ini site {self.cfg.praw_site!r}: {type(e).__name__}") from None
        reddit.read_only = True
        self._prawcore = prawcore
        return reddit

    def _get(self, path: str, params: dict[str, Any]) -> dict[str, Any]:
        """GET ``path`` through PRAW with bounded retries (see the module docstring).

        Raises :class:`AuthFailed` when Reddit rejects the credentials, :class:`RequestFailed` for anything else
        that retrying did not fix (a private or banned subreddit, a malformed response, retries exhausted).
        """
        url = f"{self.cfg.oauth_url}/{path}"

        def get() -> dict[str, Any]:
            data = self._reddit.request(method="GET", path=path, params=params)
            if not isinstance(data, dict):
                raise RequestFailed(f"{url}: unexpected response ({type(data).__name__}, not a JSON object)")
            return data

        return self.retrying(get, url)

    def retrying(self, call: Callable[[], T], url: str) -> T:
        """``call()`` (one or more PRAW requests; a call that resumes where it stopped, such as
        ``CommentForest.replace_more``, may make many) with the bounded retries of the module docstring; ``url``
        names it in messages. Raises :class:`AuthFailed` or :class:`RequestFailed` as :meth:`_get`."""
        import praw

        pc = self._prawcore
        last = ""
        for attempt in range(self.cfg.max_retries + 1):
            wait = self._backoff(attempt)
            try:
                self.stats["requests"] += 1
                return call()
            except pc.exceptions.RequestException as e:  # connection errors, timeouts (after prawcore's retries)
                if isinstance(e.original_exception, DeadlineExceeded):
                    self.stats["deadline_exceeded"] += 1
                    raise RequestFailed(f"{url}: {e.original_exception}; not retried in this run") from None
                last = type(e.original_exception).__name__
                self.stats["connection_errors"] += 1
            except pc.exceptions.BadJSON as e:  # e.g. an HTML error page from a proxy, or a body cut short
                self.stats["bad_json"] += 1
                last = _not_json(e.response)
            except pc.exceptions.ResponseException as e:
                status, where = e.response.status_code, (e.response.url or url).split("?")[0]
                token_call = "/api/v1/access_token" in where
                if status == 429:
                    retry_after = e.response.headers.get("retry-after")
                    wait = _retry_after_seconds(retry_after) if retry_after else wait
                    if wait > self.cfg.max_backoff_s:
                        raise RequestFailed(
                            f"{where}: HTTP 429 asks to wait {wait:.0f} s, more than max_backoff_s "
                            f"({self.cfg.max_backoff_s:.0f} s); try again later"
                        ) from None
                    self.stats["http_429"] += 1
                elif status >= 500:
                    self.stats["http_5xx"] += 1
                elif status == 401 or (token_call and status == 403):
                    raise AuthFailed(self._auth_message(status)) from None
                else:
                    raise RequestFailed(f"{where}: HTTP {status}{_STATUS_HINTS.get(status, '')}") from None
                last = f"HTTP {status}" + (f" from {where}" if token_call else "")
            except pc.exceptions.OAuthException as e:
                raise AuthFailed(f"Reddit refused the token request: {e.error}") from None
            except ValueError as e:  # e.g. a Retry-After date prawcore cannot parse: wait and try again
                last = f"unparseable response ({e})"
            except (TypeError, AttributeError, RecursionError) as e:
                # prawcore/PRAW reading a malformed body (a token answer that is a list, JSON nested 5,000 deep)
                self.stats["bad_json"] += 1
                last = f"a malformed response ({type(e).__name__}: {str(e)[:120]})"
            except (praw.exceptions.PRAWException, pc.exceptions.PrawcoreException, KeyError) as e:
                # e.g. a 400 with an unusual body, a 401 without www-authenticate: report it, no traceback
                raise RequestFailed(f"{url}: unexpected response ({type(e).__name__}: {e})") from None
            if attempt < self.cfg.max_retries:
                log.warning("%s: %s on %s; retrying in %.1f s", self.name, last, url, wait)
                time.sleep(wait)
        raise RequestFailed(
            f"giving up on {url} after {self.cfg.max_retries + 1} attempts ({last}); what was read before is kept"
        )

    def _backoff(self, attempt: int) -> float:
        """Exponential backoff with jitter, capped (AWS Architecture Blog, "Exponential Backoff and Jitter")."""
        return min(self.cfg.max_backoff_s, self.cfg.backoff_s * 2**attempt) * (0.5 + random.random() / 2)

    def _auth_message(self, status: int) -> str:
        return (
            f"Reddit rejected the credentials (HTTP {status} from {self.cfg.reddit_url}/api/v1/access_token): "
            "check praw_client_id / praw_client_secret (or the praw.ini site) and that the app is approved"
        )

    # --- reading -----------------------------------------------------------------------------------------------
    def read(self, ctx: ReadContext) -> Iterator[Event]:
        """Walk the listings of every subreddit, then re-read young (or all) stored posts.

        A listing that fails (private or banned subreddit, retries exhausted) is reported and the others still
        run, and so do the re-reads; rejected credentials stop the source.
        """
        missing = credentials_missing(self.cfg)
        if missing:
            yield Notice(f"skipped: {missing}", "skip")
            return
        self._reddit = self._connect()
        try:
            seen: set[str] = set()
            for sub in self.cfg.subreddits:
                sub = sub.removeprefix("r/")
                for listing in self.cfg.listings:
                    try:
                        if listing == "new":
                            yield from self._walk_new(sub, ctx, seen)
                        else:
                            yield from self._walk_listing(sub, listing, ctx, seen)
                    except RequestFailed as e:
                        yield Notice(f"r/{sub} {listing}: {e}", "error")
            try:
                yield from self._reread(ctx, seen)
            except RequestFailed as e:
                yield Notice(f"re-reading stored posts: {e}", "error")
        except AuthFailed as e:
            raise SourceError(str(e)) from None

    def _item(self, post: dict[str, Any], url: str, when: datetime, note: str | None = None) -> RawItem:
        created = post.get("created_utc")
        return RawItem(
            str(post["id"]),
            post,
            url,
            None,
            "item",
            created=float(created) if isinstance(created, int | float) else None,
            note=note,
            fetched_at=when,
        )

    def _page(
        self, sub: str, kind: str, params: dict[str, Any]
    ) -> tuple[list[dict[str, Any]], str | None, str, datetime]:
        path = f"r/{sub}/{kind}"
        url = f"{self.cfg.oauth_url}/{path}"
        when = datetime.now(UTC)
        data = self._get(path, {"limit": PAGE, **params})
        listing = data.get("data")
        children = listing.get("children") if isinstance(listing, dict) else None
        if data.get("kind") != "Listing" or not isinstance(listing, dict) or not isinstance(children, list):
            raise RequestFailed(
                f"{url}: the response is not a listing (kind {data.get('kind')!r}, keys {sorted(data)[:6]!r})"
            )
        posts = [
            c["data"]
            for c in children
            if isinstance(c, dict) and c.get("kind") == "t3" and isinstance(c.get("data"), dict) and "id" in c["data"]
        ]
        self.stats["malformed_children"] += sum(1 for c in children if not isinstance(c, dict))
        after = listing.get("after")
        if after is not None and not isinstance(after, str):
            raise RequestFailed(f"{url}: the listing's `after` is {type(after).__name__}, not a string")
        self.stats["pages"] += 1
        return posts, after, url, when

    def _fresh(
        self, posts: list[dict[str, Any]], ctx: ReadContext, seen: set[str], url: str, when: datetime
    ) -> Iterator[RawItem]:
        """Items for the posts of a page that no run has stored and this run has not yielded yet."""
        known = ctx.known.has(p["id"] for p in posts)
        for p in posts:
            if p["id"] not in known and p["id"] not in seen:
                seen.add(p["id"])
                self.stats["new_posts"] += 1
                yield self._item(p, url, when)

    def _walk_new(self, sub: str, ctx: ReadContext, seen: set[str]) -> Iterator[Event]:
        """Walk ``new`` down to the newest post stored before (the cursor's ``newest``), committing per page.

        Cursor ``sub:<name>:new`` = ``{"newest": epoch s, "walk": None | {"after", "stop", "top"}}``; ``walk`` is
        the position of an unfinished walk, resumed by the next run (also when ``max_pages`` ends a run early).
        An ``after`` that no longer works (its post was removed, or fell past the ~1000-post window) restarts
        the walk from the top once; posts already stored are skipped by id.
        """
        key = f"sub:{sub.lower()}:new"
        cur: dict[str, Any] = dict(ctx.cursors.get(key) or {})
        walk = cur.get("walk")
        if walk:  # resume an interrupted walk where it stopped
            after, stop, top = walk.get("after"), walk.get("stop"), walk.get("top")
        else:
            after, stop, top = None, cur.get("newest"), None
        pages, restarted = 0, False
        cursors_seen: set[str] = {after} if after else set()
        while True:
            posts, next_after, url, when = self._page(sub, "new", {"after": after} if after else {})
            pages += 1
            looped = bool(next_after) and next_after in cursors_seen
            if looped:
                self.stats["cursor_loops"] += 1
                yield Notice(f"r/{sub} new: {_loop_message(str(next_after))}")
                next_after = None
            if next_after:
                cursors_seen.add(next_after)
            if not posts and after and not restarted:
                restarted, after = True, None
                cursors_seen.clear()
                yield Notice(
                    f"r/{sub} new: the saved position no longer exists upstream; walking again from the "
                    "newest post (stored posts are skipped)"
                )
                continue
            if top is None and posts:
                top = posts[0].get("created_utc")
            yield from self._fresh(posts, ctx, seen, url, when)
            reached = stop is not None and any(float(p.get("created_utc") or 0) <= stop for p in posts)
            ended = not next_after or not posts
            if reached or ended:
                if ended and not reached and stop is not None and not looped:
                    yield Notice(
                        f"r/{sub} new: the listing ended before reaching the posts stored earlier; posts "
                        "in between (past Reddit's ~1000-post window) need a dump to backfill"
                    )
                newest = max(x for x in (top, stop) if x is not None) if (top or stop) else None
                if looped and not reached:  # posts below the loop were not reached: the next run walks again
                    newest = stop
                yield Checkpoint({key: {"newest": newest, "walk": None}})
                return
            cur = {**cur, "walk": {"after": next_after, "stop": stop, "top": top}}
            after = next_after
            yield Checkpoint({key: cur})
            if pages >= self.cfg.max_pages:  # resume here next run
                self.stats["walks_paused"] += 1
                return

    def _walk_listing(self, sub: str, listing: str, ctx: ReadContext, seen: set[str]) -> Iterator[Event]:
        kind, _, t = listing.partition(":")
        params: dict[str, Any] = {"t": t} if t else {}
        after = None
        cursors_seen: set[str] = set()
        for _ in range(self.cfg.max_pages):
            posts, after, url, when = self._page(sub, kind, {**params, **({"after": after} if after else {})})
            yield from self._fresh(posts, ctx, seen, url, when)
            yield Checkpoint({})
            if after and after in cursors_seen:
                self.stats["cursor_loops"] += 1
                yield Notice(f"r/{sub} {listing}: {_loop_message(after)}")
                return
            if not after or not posts:
                return
            cursors_seen.add(after)

    def listing_posts(self, sub: str, listing: str) -> Iterator[dict[str, Any]]:
        """The posts of one listing of ``sub`` (``new``, ``top:day``...), at most ``max_pages`` pages of 100, as
        the API serves them. Raises :class:`RequestFailed` as :meth:`_get`."""
        kind, _, t = listing.partition(":")
        params: dict[str, Any] = {"t": t} if t else {}
        after: str | None = None
        seen: set[str] = set()
        for _ in range(self.cfg.max_pages):
            posts, after, _, _ = self._page(sub, kind, {**params, **({"after": after} if after else {})})
            yield from posts
            if not after or not posts or after in seen:
                return
            seen.add(after)

    def _info(self, ids: list[str]) -> dict[str, dict[str, Any]]:
        """``/api/info`` for up to 100 ids: the posts it returned, by id. A response that is not a listing, or an
        empty one for a non-empty batch, raises :class:`RequestFailed` (never read as "all deleted")."""
        data = self._get("api/info", {"id": ",".join(f"t3_{i}" for i in ids)})
        children = (data.get("data") or {}).get("children") if data.get("kind") == "Listing" else None
        if not isinstance(children, list) or (ids and not children):
            raise RequestFailed(
                f"{self.cfg.oauth_url}/api/info: no listing for {len(ids)} ids (kind "
                f"{data.get('kind')!r}); not treating them as deleted"
            )
        return {
            str(c["data"]["id"]): c["data"]
            for c in children
            if isinstance(c, dict) and c.get("kind") == "t3" and isinstance(c.get("data"), dict) and "id" in c["data"]
        }

    def _reread(self, ctx: ReadContext, stored_now: set[str]) -> Iterator[Event]:
        """Re-read stored posts (young ones, or all with ``recheck_all``) as new observations; ids the API does
        not return (asked twice) are recorded as ``missing``."""
        if ctx.recheck_all:
            ids = ctx.known.all()
        elif self.cfg.refresh_days > 0:
            ids = ctx.known.created_since(time.time() - self.cfg.refresh_days * 86400)
        else:
            ids = []
        ids = [i for i in ids if i not in stored_now]
        url = f"{self.cfg.oauth_url}/api/info"
        for start in range(0, len(ids), INFO_BATCH):
            batch = ids[start : start + INFO_BATCH]
            when = datetime.now(UTC)
            got = self._info(batch)
            absent = [i for i in batch if i not in got]
            if absent:  # ask once more before believing they are gone (an empty answer again: they are)
                with contextlib.suppress(RequestFailed):
                    got.update(self._info(absent))
            for sid in batch:
                if sid in got:
                    self.stats["reread"] += 1
                    yield self._item(got[sid], url, when, "reread")
                else:
                    self.stats["missing_upstream"] += 1
                    yield RawItem(
                        sid, {"id": sid, "name": f"t3_{sid}"}, url, None, "item", note="missing", fetched_at=when
                    )
            yield Checkpoint({})
