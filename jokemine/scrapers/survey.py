"""``jokemine sources inspect PATH``: what jokemine sees in a file before a source is configured for it.

:func:`inspect_file` reads a file (or each member of an archive) the way a ``table`` source would and reports the
detected shape, the number of records, the columns with how often each is filled and an example, the records that
would be quarantined, and a ``[[sources]]`` block to start from, whose ``columns`` are guessed from the column
names by :func:`suggest_columns` (aliases below; a guess to check, printed, never applied silently).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jokemine.errors import SourceError
from jokemine.scrapers.archives import archive_kind, iter_members, member_origin
from jokemine.scrapers.shapes import Shape, ShapeOptions, detect, encoding_for, positional, read_records

SAMPLE = 2000
"""Records whose columns are summarised (all records are counted)."""
ALIASES: dict[str, tuple[str, ...]] = {
    "id": ("id", "joke_id", "thread_id", "post_id", "target_id", "uid", "_key"),
    "text": ("text", "joke", "jokes", "content", "caption", "anecdote", "story", "one_liner", "oneliner"),
    "title": ("title", "thread_title", "post_title", "headline"),
    "body": ("body", "selftext", "thread_selftext", "post_body"),
    "setup": ("setup", "set_up", "premise"),
    "punchline": ("punchline", "punch_line", "punch", "delivery"),
    "question": ("question", "q"),
    "answer": ("answer", "a", "response"),
    "score": ("score", "rating", "ratings", "ups", "points", "likes_count", "thread_score", "avg_rating"),
    "votes_up": ("likes", "upvotes", "up", "plus", "votes_up", "thumbs_up"),
    "votes_down": ("dislikes", "downvotes", "down", "minus", "votes_down", "thumbs_down"),
    "upvote_ratio": ("upvote_ratio", "thread_upvote_ratio"),
    "num_comments": ("num_comments", "comms_num", "comments", "thread_num_comments", "comment_count"),
    "category": ("category", "type", "genre", "subreddit", "topic", "section"),
    "tags": ("tags", "flair", "link_flair_text", "labels"),
    "created": (
        "created",
        "created_utc",
        "created_at",
        "date",
        "timestamp",
        "time",
        "thread_created_utc",
        "published",
        "posted",
    ),
    "lang": ("lang", "language"),
    "url": ("url", "link", "permalink", "source_url"),
    "author": ("author", "user", "username", "by"),
    "nsfw": ("over_18", "nsfw", "thread_over_18", "adult"),
    "is_self": ("is_self",),
    "stickied": ("stickied", "pinned"),
    "distinguished": ("distinguished",),
}
VOTE_LABELS = ("funny", "somewhat_funny", "unfunny")
_KIND_NAMES = {"dict": "objects", "str": "strings", "list": "arrays"}
_REDDIT_COLUMNS = re.compile(r"selftext|subreddit|over_18|upvote_ratio|link_flair|is_self|stickied", re.I)
_MARKDOWN = re.compile(r"\*\*|~~|\]\(https?://|^#+ |&amp;|&gt;|\[deleted\]|\[removed\]", re.M)
_HTML = re.compile(r"<br\s*/?>|</?p>|&nbsp;|&quot;|&#\d+;", re.I)


@dataclass
class FileReport:
    """What :func:`inspect_file` found in one file or archive member."""

    label: str
    shape: Shape | None = None
    records: int = 0
    bad: int = 0
    first_bad: str = ""
    kinds: Counter[str] = field(default_factory=Counter)
    columns: dict[str, Counter[str]] = field(default_factory=dict)
    examples: dict[str, str] = field(default_factory=dict)
    texts: list[str] = field(default_factory=list)
    error: str = ""


def suggest_columns(names: list[str], strings: bool = False) -> dict[str, Any]:
    """A ``columns`` mapping guessed from column names (:data:`ALIASES`, case-insensitive; vote-count columns of a
    caption contest become ``votes``); ``{"text": "."}`` for records that are plain strings. Title/body wins over
    a lone text column only when both title and body are found."""
    if strings:
        return {"text": "."}
    lower = {n.lower(): n for n in names}
    out: dict[str, Any] = {}
    used: set[str] = set()
    for field_name, aliases in ALIASES.items():
        for a in aliases:
            if a in lower and lower[a] not in used:
                out[field_name] = lower[a]
                used.add(lower[a])
                break
    if all(v in lower for v in VOTE_LABELS):
        out["votes"] = {v: lower[v] for v in VOTE_LABELS}
        out.pop("score", None)
    if "title" in out and "body" not in out and "text" not in out:
        out["text"] = out.pop("title")
    if "text" in out and (("title" in out and "body" in out) or "setup" in out or "question" in out):
        out.pop("text")
    if "body" in out and "title" not in out:
        out["text"] = out.pop("body")
    for a, b in (("setup", "punchline"), ("question", "answer")):
        if (a in out) != (b in out):
            out.pop(a, None)
            out.pop(b, None)
    if not any(k in out for k in ("text", "title", "setup", "question")):
        return {}
    return out


def _summarise(report: FileReport, rows: Any) -> None:
    first_kind: type | None = None
    for row in rows:
        if row.n == 0:
            continue
        if row.error is not None:
            report.bad += 1
            report.first_bad = report.first_bad or f"{row.unit} {row.n}: {row.error}"
            continue
        data = row.data
        first_kind = first_kind or type(data)
        if isinstance(data, list) and first_kind is list:
            data = positional(data)
        elif not isinstance(data, first_kind):
            report.bad += 1
            report.first_bad = report.first_bad or f"{row.unit} {row.n}: expected {first_kind.__name__}"
            continue
        report.records += 1
        report.kinds[type(data).__name__] += 1
        if report.records > SAMPLE:
            continue
        if isinstance(data, str):
            report.texts.append(data)
            continue
        if isinstance(data, dict):
            for k, v in data.items():
                c = report.columns.setdefault(str(k), Counter())
                c["rows"] += 1
                filled = v not in (None, "", [], {})
                c["filled"] += filled
                c[type(v).__name__] += 1
                if filled and str(k) not in report.examples:
                    report.examples[str(k)] = v if isinstance(v, str) else json.dumps(v, ensure_ascii=False)
                if isinstance(v, str):
                    report.texts.append(v)


def inspect_file(path: Path, opts: ShapeOptions, members: str | None = None) -> list[FileReport]:
    """One :class:`FileReport` per file (per read member of an archive). Raises :class:`SourceError` when the
    path cannot be read at all."""
    kind = archive_kind(path)
    if kind is None:
        return [_inspect_one(path, str(path), opts)]
    out = []
    skipped = []
    for name, local in iter_members(path, kind, members, opts.format == "text"):
        if local is None:
            skipped.append(name)
            continue
        rep = _inspect_one(local, member_origin(path, name), opts)
        rep.error = rep.error.replace(str(local), rep.label)
        out.append(rep)
    if not out:
        raise SourceError(f"{path}: no member of the {kind} archive is a data file (members: {', '.join(skipped[:8])})")
    return out


def _inspect_one(path: Path, label: str, opts: ShapeOptions) -> FileReport:
    report = FileReport(label)
    try:
        report.shape = detect(path, opts, label)
        encoding = encoding_for(path, report.shape, opts.encoding)
        _summarise(report, read_records(path, report.shape, opts, encoding, label))
    except SourceError as e:
        report.error = str(e).replace(str(path), label)
    return report


def _clip(s: str, n: int = 70) -> str:
    s = " ".join(str(s).split())
    return s if len(s) <= n else s[: n - 3] + "..."


def _toml_value(v: Any) -> str:
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{k} = {_toml_value(x)}" for k, x in v.items()) + " }"
    return json.dumps(v, ensure_ascii=False)


def render(path: Path, reports: list[FileReport], opts: ShapeOptions, members: str | None = None) -> list[str]:
    """The lines ``jokemine sources inspect`` prints for ``reports`` of ``path``."""
    lines: list[str] = []
    for rep in reports[:20]:
        lines.append(f"{rep.label}:")
        if rep.error:
            lines.append(f"  error: {rep.error}")
            continue
        assert rep.shape is not None
        lines.append(f"  shape: {rep.shape.describe()}")
        what = ", ".join(f"{n:,} {_KIND_NAMES.get(k, k)}" for k, n in rep.kinds.most_common())
        lines.append(f"  records: {rep.records:,}" + (f" ({what})" if what else ""))
        if rep.bad:
            lines.append(f"  would be quarantined: {rep.bad:,} (first: {rep.first_bad})")
        if rep.columns:
            sampled = min(rep.records, SAMPLE)
            lines.append(f"  columns (of the first {sampled:,} records: filled, example):")
            for name, c in list(rep.columns.items())[:40]:
                lines.append(
                    f"    {name}: {c['filled'] / max(1, c['rows']):.0%}, {_clip(rep.examples.get(name, ''))!r}"
                )
    if len(reports) > 20:
        lines.append(f"... and {len(reports) - 20} more members")
    good = [r for r in reports if not r.error and r.records]
    if not good:
        return lines
    common = set.intersection(*(set(r.columns) for r in good))  # a mapped column must be in every member
    names = [n for n in dict.fromkeys(n for r in good for n in r.columns) if n in common]
    strings = all(r.kinds.get("str", 0) == r.records for r in good)
    columns = suggest_columns(names, strings)
    texts = [t for r in good for t in r.texts]
    markup = "html" if sum(bool(_HTML.search(t)) for t in texts) > len(texts) // 50 else None
    reddit = any(_REDDIT_COLUMNS.search(n) for n in names) or any("reddit.com/" in t for t in texts[:500])
    if markup is None and (reddit or sum(bool(_MARKDOWN.search(t)) for t in texts) > len(texts) // 50):
        markup = "reddit"  # Reddit-derived: markdown and "Edit:" notes cleaned as in a dump
    block = ["[[sources]]", f'name = "{re.sub(r"[^A-Za-z0-9_.-]", "_", path.name.split(".")[0]) or "jokes"}"',
             'kind = "table"', f"path = {json.dumps(str(path))}"]  # fmt: skip
    shape = good[0].shape
    if opts.records_path:
        block.append(f"records_path = {json.dumps(opts.records_path)}")
    if members:
        block.append(f"members = {json.dumps(members)}")
    if shape and shape.format in ("csv", "tsv") and shape.delimiter not in (",", "\t"):
        block.append(f"delimiter = {json.dumps(shape.delimiter)}")
    if columns and columns != {"text": "."}:
        block.append(f"columns = {_toml_value(columns)}")
    elif not columns:
        block.append('columns = { text = "<the column with the joke>" }  # no column name looked like one')
    if markup:
        block.append(f'markup = "{markup}"')
    if "votes" in columns:
        block.append('constants = { category = "{stem}" }')
    lines += ["", "suggested config (check the columns):", *block]
    return lines
