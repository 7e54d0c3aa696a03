"""``reddit_threads``: the replies of live Reddit threads through PRAW (read-only, client credentials), each
stored with its post as :mod:`jokemine.scrapers.reddit_comments` stores a dump's (and made into a thread record by
the same parser and filters).

Per run:

1. Threads: the configured ``threads``, then the young threads read by earlier runs (post younger than
   ``refresh_days``: re-read for their scores and deletions; least recently read first, at most ``max_threads``),
   then up to ``max_threads`` new posts of ``subreddits`` x ``listings`` with at least ``min_comments`` comments. A
   thread read before whose post is older than ``refresh_days`` is not read again (``--recheck-all`` reads every
   one).
2. Per thread: ``reddit.submission(id)`` with ``comment_sort``, its comment forest (``GET /comments/<id>``), then
   PRAW's ``CommentForest.replace_more(limit=replace_more_limit, threshold=replace_more_threshold)``, which expands
   the largest collapsed branches first, one ``POST /api/morechildren`` (or ``GET /comments/<id>/_/<comment>`` for
   "continue this thread") each. Replies down to ``max_depth`` (0: top-level only) are stored; a reply stored by an
   earlier run is a new observation (``note = "reread"``: the latest score wins in clean, a reply now ``[deleted]``
   or ``[removed]`` is dropped as ``deleted_upstream``), and, when the forest was expanded completely, a stored reply
   that is gone is recorded as ``missing`` (dropped the same way). One checkpoint per thread, with cursor
   ``thread:<id>`` = ``{"created", "read_at", "replies": [stored ids], "complete"}``.

Requests go through :meth:`jokemine.scrapers.reddit_api.RedditApi.retrying` (prawcore's limiter and retries, then
429 ``Retry-After`` and exponential backoff); ``replace_more`` resumes where a failed request stopped. A thread
that still fails is reported and the others are read. Comments are stored as PRAW parsed them from the API's JSON,
with ``author`` and ``subreddit`` back to their names and the nested ``replies`` left out (as in dumps).
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from jokemine.cleaning.filters import thread_steps
from jokemine.cleaning.parse import thread_records
from jokemine.config import HttpConfig, RedditThreadsSource
from jokemine.errors import SourceError
from jokemine.scrapers.base import Checkpoint, Event, Notice, RawItem, ReadContext
from jokemine.scrapers.reddit_api import AuthFailed, RedditApi, RequestFailed, credentials_missing
from jokemine.scrapers.reddit_comments import post_fields
from jokemine.scrapers.reddit_dump import REDDIT_PRODUCERS, REDDIT_TERMS
from jokemine.scrapers.registry import register

PARSER_VERSION = "reddit_threads/1"
COMMENT_LIMIT = 2048
"""Comments asked for in one ``GET /comments/<id>`` (PRAW's default ``comment_limit``)."""
_SKIP = frozenset({"replies", "comment_limit", "comment_sort"})


def plain(thing: Any) -> dict[str, Any]:
    """The API fields of a PRAW ``Comment`` or ``Submission`` as JSON values: its public attributes (those the
    API's JSON set), ``author``/``subreddit`` as their names (a deleted author ``[deleted]``); PRAW's own state
    (``_...``, ``comment_sort``), nested ``replies`` and values that are not JSON are left out."""
    out: dict[str, Any] = {}
    for key, value in vars(thing).items():
        if key.startswith("_") or key in _SKIP:
            continue
        if key in ("author", "subreddit") and not isinstance(value, str):
            out[key] = "[deleted]" if value is None else str(value)  # PRAW reads the API's "[deleted]" as None
            continue
        try:
            json.dumps(value)
        except (TypeError, ValueError):
            continue
        out[key] = value
    return out


@register(
    "reddit_threads",
    config=RedditThreadsSource,
    parse=thread_records,
    steps=thread_steps,
    live=True,
    card_terms=REDDIT_TERMS,
    card_producers=REDDIT_PRODUCERS,
)
class RedditThreads:
    """Reads the threads of one ``reddit_threads`` source (see the module docstring)."""

    parser_version = PARSER_VERSION
    track_ids = True

    @classmethod
    def from_config(cls, cfg: RedditThreadsSource, base_dir: Path, http: HttpConfig) -> RedditThreads:
        """The reader of one configured source (:mod:`jokemine.scrapers.registry`)."""
        return cls(cfg, base_dir)

    def __init__(self, cfg: RedditThreadsSource, base_dir: Path) -> None:
        self.cfg = cfg
        self.name = cfg.name
        self.api = RedditApi(cfg, base_dir)
        self.stats: Counter[str] = self.api.stats  # one set of counters (requests, retries, threads)

    def read(self, ctx: ReadContext) -> Iterator[Event]:
        """Read the threads of this run (see the module docstring); rejected credentials stop the source."""
        missing = credentials_missing(self.cfg)
        if missing:
            yield Notice(f"skipped: {missing}", "skip")
            return
        reddit = self.api.connect()
        try:
            threads, errors = self._threads(ctx)
            for e in errors:
                yield Notice(e, "error")
            for tid in threads:
                try:
                    yield from self._thread(reddit, tid, ctx)
                except RequestFailed as e:
                    self.stats["threads_failed"] += 1
                    yield Notice(f"thread {tid}: {e}", "error")
        except AuthFailed as e:
            raise SourceError(str(e)) from None

    def _threads(self, ctx: ReadContext) -> tuple[list[str], list[str]]:
        """The thread ids of this run, in order, and the listings that failed: the configured threads not read yet
        or still young, then the young threads read before, least recently read first (at most ``max_threads``;
        all of them with ``--recheck-all``), then up to ``max_threads`` new ones from the listings (a budget of
        their own, so re-reads never crowd out new threads)."""
        cutoff = time.time() - self.cfg.refresh_days * 86400
        done = {k.removeprefix("thread:"): v for k, v in ctx.cursors.items() if k.startswith("thread:") and v}

        def due(tid: str) -> bool:
            cur = done.get(tid)
            return cur is None or ctx.recheck_all or float(cur.get("created") or 0) >= cutoff

        configured = [t for t in dict.fromkeys(self.cfg.threads) if due(t)]
        young = sorted((t for t in done if due(t) and t not in configured), key=lambda t: done[t].get("read_at") or 0)
        if not ctx.recheck_all:
            young = young[: self.cfg.max_threads]
        picked = [*configured, *young]
        self.stats["threads_up_to_date"] = sum(1 for t in {*self.cfg.threads, *done} if not due(t))
        errors: list[str] = []
        if self.cfg.threads and not self._discovers():
            return picked, errors
        new: list[str] = []
        for sub in self.cfg.subreddits:
            for listing in self.cfg.listings:
                if len(new) >= self.cfg.max_threads:
                    return [*picked, *new], errors
                try:
                    posts = list(self.api.listing_posts(sub.removeprefix("r/"), listing))
                except RequestFailed as e:
                    errors.append(f"r/{sub} {listing}: {e}")
                    continue
                for p in posts:
                    tid = str(p.get("id"))
                    if tid in picked or tid in new or tid in done or p.get("stickied"):
                        continue
                    if int(p.get("num_comments") or 0) < self.cfg.min_comments:
                        self.stats["threads_too_few_comments"] += 1
                        continue
                    if len(new) < self.cfg.max_threads:
                        new.append(tid)
        return [*picked, *new], errors

    def _discovers(self) -> bool:
        """Whether the listings are read for new threads: not when ``threads`` is set and the listing keys are
        their defaults (``threads`` alone means "these threads")."""
        return "subreddits" in self.cfg.model_fields_set or "listings" in self.cfg.model_fields_set

    def _thread(self, reddit: Any, tid: str, ctx: ReadContext) -> Iterator[Event]:
        from praw.models import MoreComments

        url = f"{self.cfg.oauth_url}/comments/{tid}/"
        when = datetime.now(UTC)
        sub = reddit.submission(id=tid)
        sub.comment_sort = self.cfg.comment_sort
        sub.comment_limit = COMMENT_LIMIT
        forest = self.api.retrying(lambda: sub.comments, url)
        left = self.api.retrying(
            lambda: forest.replace_more(limit=self.cfg.replace_more_limit, threshold=self.cfg.replace_more_threshold),
            url,
        )  # a retry resumes with a fresh limit: at most (max_retries + 1) x limit requests
        # stubs that may hide replies we keep: top-level ones (PRAW may file them under a reply), or any when deeper
        # replies are kept too
        hidden = [m for m in left if self.cfg.max_depth > 0 or str(m.parent_id) == f"t3_{tid}"]
        post = post_fields(plain(sub))
        replies: list[tuple[Any, int]] = []
        collapsed = 0  # comments still hidden in "more" stubs within max_depth
        stack: list[tuple[Any, int]] = [(c, 0) for c in reversed(list(forest))]
        while stack:  # depth first, in the forest's order
            c, depth = stack.pop()
            if isinstance(c, MoreComments):
                collapsed += 1
                self.stats["more_left"] += int(c.count or 0)
                continue
            replies.append((c, depth))
            if depth < self.cfg.max_depth:
                stack.extend((r, depth + 1) for r in reversed(list(c.replies)))
        ids = [f"t1_{c.id}" for c, _ in replies]
        known = ctx.known.has(ids)
        for c, depth in replies:
            sid = f"t1_{c.id}"
            note = "reread" if sid in known else None
            self.stats["replies_reread" if note else "replies_new"] += 1
            data = {"comment": plain(c), "post": post, "depth": depth}
            created = c.created_utc if isinstance(c.created_utc, int | float) else None
            yield RawItem(sid, data, url, None, "item", created=created, note=note, fetched_at=when)
        prev = ctx.cursors.get(f"thread:{tid}") or {}
        complete = collapsed == 0 and not hidden  # every reply down to max_depth was seen
        if complete and prev.get("max_depth", 0) <= self.cfg.max_depth:  # a lower max_depth: deeper ones not asked
            for sid in sorted(set(prev.get("replies") or []) - set(ids)):
                self.stats["replies_missing"] += 1
                comment = {"id": sid.removeprefix("t1_"), "link_id": f"t3_{tid}", "parent_id": f"t3_{tid}"}
                yield RawItem(sid, {"comment": comment, "post": post, "depth": 0}, url, None, "item",
                              note="missing", fetched_at=when)  # fmt: skip
        self.stats["threads_read"] += 1
        stored = sorted({*ids, *(() if complete else prev.get("replies") or [])})
        cursor = {"created": post.get("created_utc"), "read_at": when.timestamp(), "replies": stored,
                  "complete": complete, "max_depth": self.cfg.max_depth}  # fmt: skip
        yield Checkpoint({f"thread:{tid}": cursor})
