"""``reddit_comments``: the replies of Reddit threads, each stored with its thread's post (a thread record is
made from the pair in ``clean``: :func:`jokemine.cleaning.parse.thread_records`).

Comment files (detected from the content, not the name):

* NDJSON comment dumps, plain / zstd / gzip: Pushshift and Arctic Shift monthly (``RC_YYYY-MM.zst``) and
  per-subreddit (``<Sub>_comments.zst``) files, one comment object per line with ``link_id`` (``t3_<post>``),
  ``parent_id`` (``t3_<post>`` for a top-level reply, ``t1_<comment>`` for a reply to a reply), ``body``, ``score``,
  ``created_utc`` and, from 2023-11, ``_meta`` (https://github.com/ArthurHeitmann/arctic_shift,
  ``file_content_explanations.md``). Their posts come from the ``posts`` files (submission dumps, NDJSON or a JSON
  array), joined by ``link_id``; a submission object on a line of the comment file itself is used too.
* URS comment scrapes (https://github.com/JosephLai241/URS): one JSON object, ``data.submission_metadata`` (the
  post, without its id: taken from the comments' ``link_id``) and ``data.comments`` (a flat list in "raw" scrapes,
  nested ``replies`` in "structured" ones, flattened here). URS writes ``created_utc`` as ``%m-%d-%Y %H:%M:%S`` in
  the local time of the machine that scraped; it is read as UTC (off by that machine's UTC offset).
* Saved Reddit API comment pages (``GET /comments/<id>.json``): ``[post listing, comment listing]`` with nested
  ``replies``; collapsed ``more`` stubs are counted (a saved page cannot expand them; the ``reddit_api`` source
  does).

Each stored item is ``{"comment": <the comment as read>, "post": <the post's fields of POST_FIELDS>, "depth": n}``
with source id ``t1_<comment id>`` (comment and post ids are separate spaces on Reddit). Replies deeper than
``max_depth`` (0 = top-level only) and threads outside ``subreddits`` are skipped and counted, as are comments
whose post is not found (a warning names the file; an error when that is most of its comments). A comment file is
read again when it changes or the source's settings change.
"""

from __future__ import annotations

import io
import json
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, Literal

import ijson

from jokemine.cleaning.filters import thread_steps
from jokemine.cleaning.parse import thread_records, to_datetime
from jokemine.config import HttpConfig, RedditCommentsSource
from jokemine.errors import SourceError
from jokemine.scrapers.base import BadItem, Event, Notice, RawItem, ReadContext, clip_raw
from jokemine.scrapers.files import (
    ChunkStream,
    TruncatedError,
    fingerprint,
    first_byte,
    guard_json_depth,
    head_bytes,
    iter_chunks,
    iter_lines_with_tail,
    iter_utf8_chunks,
    walk_files,
)
from jokemine.scrapers.reddit_dump import REDDIT_PRODUCERS, REDDIT_TERMS, reddit_source_id
from jokemine.scrapers.registry import register

PARSER_VERSION = "reddit_comments/1"
MAX_JSON_FILE = 1 << 30
"""Largest URS scrape or saved API page read whole (bytes, decompressed); dumps are streamed."""

POST_FIELDS = (
    "id",
    "name",
    "title",
    "selftext",
    "score",
    "created_utc",
    "over_18",
    "subreddit",
    "author",
    "stickied",
    "distinguished",
    "removed_by_category",
    "upvote_ratio",
    "num_comments",
    "retrieved_on",
    "retrieved_utc",
    "_meta",
    "is_self",
    "permalink",
    "link_flair_text",
)
"""The fields of a post kept beside each of its replies (the rest of the post is in the submission dump)."""


def post_fields(post: dict[str, Any]) -> dict[str, Any]:
    """The :data:`POST_FIELDS` of a submission object (URS's ``nsfw`` as ``over_18``)."""
    out = {k: post[k] for k in POST_FIELDS if k in post}
    if "over_18" not in out and "nsfw" in post:
        out["over_18"] = post["nsfw"]
    return out


def is_comment(obj: dict[str, Any]) -> bool:
    """A comment object (has ``body`` and ``link_id``), not a submission."""
    return "link_id" in obj and "body" in obj


def comment_id(obj: dict[str, Any]) -> str | None:
    """The base-36 id of a comment (``id``, else ``name`` without ``t1_``), or None."""
    cid = obj.get("id")
    if cid is None and isinstance(obj.get("name"), str):
        cid = obj["name"]
    if cid is None or isinstance(cid, bool):
        return None
    return str(cid).removeprefix("t1_") or None


def _subreddit_ok(subreddits: set[str] | None, sub: Any) -> bool:
    return subreddits is None or str(sub or "").lower().removeprefix("r/") in subreddits


@register(
    "reddit_comments",
    config=RedditCommentsSource,
    parse=thread_records,
    steps=thread_steps,
    files=True,
    card_terms=REDDIT_TERMS,
    card_producers=REDDIT_PRODUCERS,
)
class RedditComments:
    """Reads the comment files of one ``reddit_comments`` source (see the module docstring)."""

    parser_version = PARSER_VERSION
    track_ids = False

    @classmethod
    def from_config(cls, cfg: RedditCommentsSource, base_dir: Path, http: HttpConfig) -> RedditComments:
        """The reader of one configured source (:mod:`jokemine.scrapers.registry`)."""
        return cls(cfg, base_dir)

    def __init__(self, cfg: RedditCommentsSource, base_dir: Path) -> None:
        self.name = cfg.name
        self.files = cfg.files(base_dir)
        self.post_files = cfg.post_files(base_dir)
        self.subreddits = {s.lower().removeprefix("r/") for s in cfg.subreddits} if cfg.subreddits else None
        self.max_depth = cfg.max_depth
        self.settings = cfg.read_settings() + _fingerprints(self.post_files)
        self.stats: Counter[str] = Counter()
        self._posts: dict[str, dict[str, Any]] | None = None
        self._notices: list[Notice] = []

    def read(self, ctx: ReadContext) -> Iterator[Event]:
        """Yield the replies of every changed comment file, a checkpoint after each file."""
        yield from walk_files(self.files, ctx.cursors, ctx.force, self._read_file, self.stats, self.settings)

    # -- posts ------------------------------------------------------------------------------------------------

    def posts(self) -> dict[str, dict[str, Any]]:
        """Post id -> :func:`post_fields`, from the ``posts`` files (read once, on first need; threads outside
        ``subreddits`` left out). A missing or unreadable posts file raises :class:`SourceError` naming it."""
        if self._posts is None:
            self._posts = {}
            for path in self.post_files:
                for obj in _objects(path):
                    self._add_post(obj)
        return self._posts

    def _add_post(self, obj: Any) -> None:
        if not isinstance(obj, dict) or is_comment(obj):
            return
        sid = reddit_source_id(obj)
        if sid is not None and _subreddit_ok(self.subreddits, obj.get("subreddit")):
            self.posts()[sid] = post_fields(obj)

    # -- comment files --------------------------------------------------------------------------------------

    def _read_file(self, path: Path) -> Iterator[Event]:
        head = first_byte(path)
        if head == b"":
            yield Notice(f"{path}: empty file, nothing read")
        elif head == b"{" and not self._is_urs(path):
            yield from self._read_ndjson(path)
        elif head in (b"{", b"["):
            yield from self._read_whole(path)
        else:
            raise SourceError(
                f"{path}: not a comment file: content starts with {head!r}, expected NDJSON comments, a URS scrape "
                "or a saved /comments/<id> API page"
            )

    @staticmethod
    def _is_urs(path: Path) -> bool:
        """Whether a file starting with ``{`` is a URS scrape (one JSON object whose first key is
        ``scrape_settings``), not NDJSON comments."""
        head = head_bytes(path, 4096).lstrip()
        return re.match(rb'\{\s*"scrape_settings"', head) is not None

    def _item(
        self, c: dict[str, Any], post: dict[str, Any], depth: int, origin: str, n: int
    ) -> RawItem | BadItem | None:
        if depth > self.max_depth:
            self.stats["skipped_depth"] += 1
            return None
        cid = comment_id(c)
        if cid is None:
            return BadItem(origin, n, "comment has no 'id' or 'name'", clip_raw(c), "item")
        when = to_datetime(c.get("created_utc"))
        return RawItem(f"t1_{cid}", {"comment": c, "post": post, "depth": depth}, origin, n, "line",
                       created=when.timestamp() if when else None)  # fmt: skip

    def _read_ndjson(self, path: Path) -> Iterator[Event]:
        no_post = self.stats["skipped_no_post"]
        read = self.stats["comments_seen"]
        yield from self._ndjson_items(path)
        no_post, read = self.stats["skipped_no_post"] - no_post, self.stats["comments_seen"] - read
        if no_post:
            where = "the `posts` files" if self.post_files else "the file (no `posts` configured)"
            level: Literal["warning", "error"] = "error" if no_post * 2 > read else "warning"
            yield Notice(f"{path}: {no_post:,} of {read:,} comments answer posts not found in {where}", level)

    def _ndjson_items(self, path: Path) -> Iterator[Event]:
        origin = str(path)
        tail: list[bytes] = []
        depth: dict[str, int] = {}  # comment id -> depth, for comments that may have kept children
        try:
            for n, line in iter_lines_with_tail(path, tail):
                if not line.strip():
                    continue
                try:
                    obj = json.loads(line)
                except ValueError as e:
                    yield BadItem(origin, n, f"not valid JSON: {e}", clip_raw(line))
                    continue
                except RecursionError:
                    yield BadItem(origin, n, "JSON nested too deeply to be a record", clip_raw(line))
                    continue
                if not isinstance(obj, dict):
                    yield BadItem(origin, n, f"expected a JSON object, got {type(obj).__name__}", clip_raw(line))
                    continue
                if not is_comment(obj):
                    if "title" in obj:  # a submission in the comment file: its replies follow it
                        self._add_post(obj)
                        self.stats["posts_inline"] += 1
                        continue
                    yield BadItem(origin, n, "neither a comment (body, link_id) nor a post (title)", clip_raw(line))
                    continue
                item = self._dump_comment(obj, depth, origin, n)
                if isinstance(item, BadItem):
                    item.raw = clip_raw(line)
                if item is not None:
                    yield item
        except TruncatedError as e:
            if tail:
                yield BadItem(origin, None, "incomplete last line of a truncated file", clip_raw(tail[0]))
            yield Notice(f"{e}; kept the complete lines before the cut", "error")

    def _dump_comment(self, c: dict[str, Any], depth: dict[str, int], origin: str, n: int) -> RawItem | BadItem | None:
        cid = comment_id(c)
        link = str(c.get("link_id") or "")
        parent = str(c.get("parent_id") or "")
        if cid is None or not link.startswith("t3_"):
            return BadItem(origin, n, "comment has no 'id' or no 't3_' link_id")
        if not _subreddit_ok(self.subreddits, c.get("subreddit")):
            self.stats["skipped_subreddit"] += 1
            return None
        d = 0 if parent.startswith("t3_") or not parent else depth.get(parent.removeprefix("t1_"), -1) + 1
        if d == 0 and parent.startswith("t1_"):  # its parent was not read (deeper than kept, or in another file)
            self.stats["skipped_depth"] += 1
            return None
        if d < self.max_depth:
            depth[cid] = d
        self.stats["comments_seen"] += 1  # within depth and subreddits: those that need their post
        post = self.posts().get(link.removeprefix("t3_"))
        if post is None:
            self.stats["skipped_no_post"] += 1
            return None
        return self._item(c, post, d, origin, n)

    def _read_whole(self, path: Path) -> Iterator[Event]:
        data = _load_json(path)
        origin = str(path)
        try:
            if isinstance(data, dict) and isinstance(data.get("data"), dict) and "comments" in data["data"]:
                yield from self._urs(data["data"], origin)
                return
            if isinstance(data, list) and len(data) == 2 and all(_is_listing(x) for x in data):
                yield from self._api_page(data, origin)
                return
        except (KeyError, TypeError, AttributeError) as e:  # a listing without children, a child not an object
            raise SourceError(f"{path}: malformed comment page ({type(e).__name__}: {e})") from None
        raise SourceError(
            f"{path}: JSON of no known comment shape: expected a URS scrape (data.submission_metadata + "
            "data.comments) or a /comments/<id> API page ([post listing, comment listing])"
        )

    def _urs(self, data: dict[str, Any], origin: str) -> Iterator[Event]:
        comments = data.get("comments")
        meta = data.get("submission_metadata")
        if not isinstance(comments, list) or not isinstance(meta, dict):
            raise SourceError(f"{origin}: URS scrape without a comments list or submission_metadata")
        comments = list(_flatten_urs(comments))  # "structured" scrapes nest replies; "raw" ones are flat
        links = {str(c.get("link_id")) for c in comments if isinstance(c, dict) and c.get("link_id")}
        if len(links) > 1:
            raise SourceError(f"{origin}: URS scrape mixes comments of {len(links)} posts: {sorted(links)[:3]}")
        post = post_fields(meta)
        if links:
            post["id"] = next(iter(links)).removeprefix("t3_")
        if not _subreddit_ok(self.subreddits, post.get("subreddit")):
            self.stats["skipped_subreddit"] += len(comments)
            return
        parents = {comment_id(c): str(c.get("parent_id") or "") for c in comments if isinstance(c, dict)}
        for n, c in enumerate(comments, start=1):
            if not isinstance(c, dict) or comment_id(c) is None:
                yield BadItem(origin, n, "comment is not an object with an 'id'", clip_raw(c), "item")
                continue
            d = _depth(comment_id(c), parents)
            if d is None:
                self.stats["skipped_orphan"] += 1
                continue
            item = self._item(c, post, d, origin, n)
            if item is not None:
                item.unit = "item"
                yield item

    def _api_page(self, data: list[Any], origin: str) -> Iterator[Event]:
        posts = [ch.get("data") for ch in data[0]["data"]["children"] if ch.get("kind") == "t3"]
        if len(posts) != 1 or not isinstance(posts[0], dict):
            raise SourceError(f"{origin}: API page without exactly one post in its first listing")
        post = post_fields(posts[0])
        if not _subreddit_ok(self.subreddits, post.get("subreddit")):
            self.stats["skipped_subreddit"] += 1
            return
        for n, (c, d) in enumerate(walk_forest(data[1], self.stats), start=1):
            if isinstance(c.get("depth"), int) and not isinstance(c["depth"], bool):
                d = c["depth"]  # the API's own depth (a saved permalink page starts below the post)
            item = self._item(c, post, d, origin, n)
            if item is not None:
                item.unit = "item"
                yield item


def walk_forest(listing: Any, stats: Counter[str], depth: int = 0) -> Iterator[tuple[dict[str, Any], int]]:
    """``(comment data, depth)`` of every ``t1`` in a comment listing as the API serves it (``{"kind": "Listing",
    "data": {"children": [{"kind": "t1", "data": {..., "replies": <listing or "">}}, {"kind": "more", ...}]}}``),
    parents before children; ``more`` stubs are counted in ``stats["more_collapsed"]`` (comments they hide)."""
    if not _is_listing(listing):
        return
    for child in listing["data"]["children"]:
        kind, d = child.get("kind"), child.get("data") or {}
        if kind == "more":
            stats["more_collapsed"] += int(d.get("count") or len(d.get("children") or []))
        elif kind == "t1":
            yield {k: v for k, v in d.items() if k != "replies"}, depth
            yield from walk_forest(d.get("replies"), stats, depth + 1)


def _flatten_urs(comments: list[Any]) -> Iterator[Any]:
    """The comments of a URS scrape, flat: a "structured" scrape's nested ``replies`` lists are walked (each
    comment without its ``replies``); a "raw" scrape is flat already."""
    for c in comments:
        if isinstance(c, dict) and isinstance(c.get("replies"), list):
            yield {k: v for k, v in c.items() if k != "replies"}
            yield from _flatten_urs(c["replies"])
        else:
            yield c


def _fingerprints(files: list[Path]) -> str:
    """A digest of the posts files as they are now (size, ends; missing ones named): a comment file is read again
    when its posts change, so comments skipped for want of their post are read once it is there."""
    import hashlib

    h = hashlib.blake2b(digest_size=8)
    for p in files:
        try:
            h.update(json.dumps(fingerprint(p), sort_keys=True).encode())
        except OSError:
            h.update(f"missing:{p}".encode())
    return ":" + h.hexdigest() if files else ""


def _is_listing(x: Any) -> bool:
    return isinstance(x, dict) and x.get("kind") == "Listing" and isinstance(x.get("data"), dict)


def _depth(cid: str | None, parents: dict[str | None, str]) -> int | None:
    """Depth of comment ``cid`` from the ``parent_id`` chain; None when a parent is missing (or a cycle)."""
    d = 0
    seen: set[str | None] = set()
    while True:
        parent = parents.get(cid, "")
        if parent.startswith("t3_"):
            return d
        cid = parent.removeprefix("t1_")
        if not parent.startswith("t1_") or cid not in parents or cid in seen:
            return None
        seen.add(cid)
        d += 1


def _load_json(path: Path) -> Any:
    """A whole (possibly compressed) JSON file. Raises :class:`SourceError` naming the file when it is too large,
    invalid, or nested too deeply."""
    buf = io.BytesIO()
    for chunk in guard_json_depth(iter_chunks(path), path):
        buf.write(chunk)
        if buf.tell() > MAX_JSON_FILE:
            raise SourceError(f"{path}: over {MAX_JSON_FILE >> 20} MiB of JSON in one document; use NDJSON")
    try:
        return json.loads(buf.getvalue())
    except ValueError as e:
        raise SourceError(f"{path}: invalid JSON: {e}") from None


def _objects(path: Path) -> Iterable[Any]:
    """The objects of a submission file: NDJSON lines or the items of a JSON array (bad lines are skipped: the
    posts file is only looked up, its own source quarantines them)."""
    head = first_byte(path)
    if head == b"[":
        chunks = guard_json_depth(iter_utf8_chunks(path, "utf-8", Counter()), path)
        stream = io.BufferedReader(ChunkStream(chunks), buffer_size=1 << 20)
        yield from ijson.items(stream, "item", use_float=True)
        return
    for _, line in iter_lines_with_tail(path, []):
        try:
            yield json.loads(line)
        except (ValueError, RecursionError):
            continue
