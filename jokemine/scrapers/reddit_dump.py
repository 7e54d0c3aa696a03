"""``reddit_dump``: Reddit submissions from dump files.

Formats (detected from content, not the file name):

* NDJSON, one submission object per line, plain / zstd / gzip: Pushshift and Arctic Shift monthly
  (``RS_YYYY-MM.zst``) and per-subreddit (``<Sub>_submissions.zst``) dumps. zstd is opened with
  ``max_window_size=2**31`` (the dumps use a long window). Streams line by line; never loads a file.
* A JSON array of submission objects: daily API dumps (kampta/reddit-jokes ``jokes_YYYY-MM-DD.json``) and the
  ``[{"title", "body", "score", "id"}]`` form of taivop/joke-dataset ``reddit_jokes.json``. Streamed with ijson.

Each object is kept exactly as read; mapping to the record schema happens in ``clean``
(:mod:`jokemine.cleaning.parse`). Posts outside ``subreddits`` (when set) are skipped and counted.
"""

from __future__ import annotations

import io
import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import ijson

from jokemine.cleaning.filters import reddit_steps
from jokemine.cleaning.parse import reddit_records
from jokemine.config import HttpConfig, RedditDumpSource
from jokemine.errors import SourceError
from jokemine.scrapers.base import BadItem, Event, Notice, RawItem, ReadContext, Unit, clip_raw
from jokemine.scrapers.files import (
    ChunkStream,
    TruncatedError,
    first_byte,
    guard_json_depth,
    iter_lines_with_tail,
    iter_utf8_chunks,
    sniff_encoding,
    walk_files,
)
from jokemine.scrapers.registry import register
from jokemine.scrapers.remote import with_remote

PARSER_VERSION = "reddit_dump/1"


def reddit_source_id(obj: dict[str, Any]) -> str | None:
    """The base-36 post id of a submission object (``id``, else ``name`` without ``t3_``), or None."""
    sid = obj.get("id")
    if sid is None and isinstance(obj.get("name"), str):
        sid = obj["name"].removeprefix("t3_")
    if sid is None or isinstance(sid, bool):
        return None
    return str(sid).removeprefix("t3_") or None


REDDIT_PRODUCERS = (
    "Reddit users who posted to (or, for threads, replied in) the subreddits read; the scores are other Reddit "
    "users' up- and down-votes (score = ups - downs, fuzzed by Reddit) at the time the origin recorded them."
)

REDDIT_TERMS = (
    "Reddit user content: Reddit's Data API terms apply, which forbid using it to train machine-learning models "
    "without Reddit's permission."
)


@register(
    "reddit_dump",
    config=RedditDumpSource,
    parse=reddit_records,
    steps=reddit_steps,
    files=True,
    card_terms=REDDIT_TERMS,
    card_producers=REDDIT_PRODUCERS,
)
class RedditDump:
    """Reads the files of one ``reddit_dump`` source (see the module docstring)."""

    parser_version = PARSER_VERSION

    @classmethod
    def from_config(cls, cfg: RedditDumpSource, base_dir: Path, http: HttpConfig) -> RedditDump:
        """The reader of one configured source (:mod:`jokemine.scrapers.registry`)."""
        return cls(cfg, base_dir)

    def __init__(self, cfg: RedditDumpSource, base_dir: Path) -> None:
        self.name = cfg.name
        self.files = cfg.files(base_dir)
        self.remote = cfg.remote_paths()
        self.subreddits = {s.lower().removeprefix("r/") for s in cfg.subreddits} if cfg.subreddits else None
        self.settings = cfg.read_settings()
        self.stats: Counter[str] = Counter()

    track_ids = False

    def read(self, ctx: ReadContext) -> Iterator[Event]:
        """Yield the submissions of every changed file, a checkpoint after each file."""
        files, labels, errors = with_remote(self.files, self.remote, ctx.data_dir)
        for e in errors:
            yield Notice(e, "error")
        if files or not errors:
            yield from walk_files(files, ctx.cursors, ctx.force, self._read_file, self.stats, self.settings, labels)

    def _item(self, obj: Any, origin: str, line: int, unit: Unit, raw: Any) -> RawItem | BadItem | None:
        if not isinstance(obj, dict):
            return BadItem(origin, line, f"expected a JSON object, got {type(obj).__name__}", clip_raw(raw), unit)
        sid = reddit_source_id(obj)
        if sid is None:
            return BadItem(origin, line, "submission has no 'id' or 'name'", clip_raw(raw), unit)
        if self.subreddits is not None and str(obj.get("subreddit", "")).lower() not in self.subreddits:
            self.stats["skipped_subreddit"] += 1
            return None
        return RawItem(sid, obj, origin, line, unit)

    def _read_file(self, path: Path) -> Iterator[Event]:
        encoding = sniff_encoding(path, "utf-8", configurable=False)
        if encoding not in ("utf-8", "utf-8-sig"):
            raise SourceError(
                f"{path}: encoded as {encoding.upper()} (byte order mark), but Reddit dumps are UTF-8; "
                f"convert it first, e.g. `iconv -f {encoding.upper()} -t UTF-8`"
            )
        head = first_byte(path)
        if head == b"":
            yield Notice(f"{path}: empty file, nothing read")
        elif head == b"[":
            yield from self._read_array(path)
        elif head == b"{":
            yield from self._read_ndjson(path)
        else:
            raise SourceError(
                f"{path}: not a Reddit dump: content starts with {head!r}, expected NDJSON objects or a JSON array"
            )

    def _read_ndjson(self, path: Path) -> Iterator[Event]:
        origin = str(path)
        tail: list[bytes] = []
        try:
            for n, line in iter_lines_with_tail(path, tail):
                if not line.strip():
                    continue
                try:
                    obj = json.loads(line)
                except ValueError as e:  # JSONDecodeError and UnicodeDecodeError
                    yield BadItem(origin, n, f"not valid JSON: {e}", clip_raw(line))
                    continue
                except RecursionError:
                    yield BadItem(origin, n, "JSON nested too deeply to be a record", clip_raw(line))
                    continue
                item = self._item(obj, origin, n, "line", line)
                if item is not None:
                    yield item
        except TruncatedError as e:
            if tail:
                yield BadItem(origin, None, "incomplete last line of a truncated file", clip_raw(tail[0]))
            yield Notice(f"{e}; kept the complete lines before the cut", "error")

    def _read_array(self, path: Path) -> Iterator[Event]:
        origin = str(path)
        n = 0
        replaced: Counter[str] = Counter()
        try:
            chunks = guard_json_depth(iter_utf8_chunks(path, "utf-8", replaced), path)
            stream = io.BufferedReader(ChunkStream(chunks), buffer_size=1 << 20)
            for n, obj in enumerate(ijson.items(stream, "item", use_float=True), start=1):
                item = self._item(obj, origin, n, "item", obj)
                if item is not None:
                    yield item
            if replaced["bytes"]:
                yield Notice(f"{path}: {replaced['bytes']} bytes that are not UTF-8 were replaced by U+FFFD")
        except TruncatedError as e:
            yield Notice(f"{e}; kept the {n} complete items before the cut", "error")
        except ijson.JSONError as e:
            yield Notice(f"{path}: invalid JSON after item {n}: {e}; kept the {n} items before it", "error")
        except RecursionError:
            yield Notice(f"{path}: JSON nested too deeply after item {n}; kept the {n} items before it", "error")
