"""Raw envelope -> schema record, per source kind. No filtering here; fields the filters need but the schema
does not keep travel as transient ``_`` keys (``_raw_title``, ``_is_self``, ...)."""

from __future__ import annotations

import hashlib
import math
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import PurePosixPath
from typing import Any

from jokemine.config import AnySource, TableSource
from jokemine.pipeline.steps import Record
from jokemine.schema import empty_record, make_id
from jokemine.scrapers.shapes import dig


@dataclass(frozen=True)
class ParseContext:
    """What parsing needs to know about the source."""

    source: AnySource
    author_salt: str


class ParseError(ValueError):
    """A raw record that cannot become a schema record (quarantined by clean)."""


_BASIC_DATE = re.compile(r"^\d{8}$")
_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")


def author_hash(author: Any, salt: str) -> str | None:
    """BLAKE2b-64 (hex) of ``salt`` + author name; None for missing or ``[deleted]`` authors."""
    if not author or not isinstance(author, str) or author in ("[deleted]", "[removed]"):
        return None
    return hashlib.blake2b(
        author.encode("utf-8", "surrogatepass"), digest_size=8, key=salt.encode("utf-8")[:64]
    ).hexdigest()


_THOUSANDS = re.compile(r"^[+-]?\d{1,3}(,\d{3})+(\.\d+)?$")


def to_float(v: Any) -> float | None:
    """A finite float from a number or a numeric string; None for empty/invalid.

    ``"4.6"`` -> 4.6; ``"1,234"`` and ``"1,234,567.5"`` use ``,`` as a thousands separator (groups of three
    digits); otherwise one comma is a decimal comma (``"4,6"`` -> 4.6).
    """
    if v is None or isinstance(v, bool):
        return None
    if isinstance(v, int | float):
        f = float(v)
    else:
        s = str(v).strip()
        if not s:
            return None
        if _THOUSANDS.match(s):
            s = s.replace(",", "")
        elif s.count(",") == 1 and "." not in s:
            s = s.replace(",", ".")
        try:
            f = float(s)
        except ValueError:
            return None
    return f if math.isfinite(f) else None


def to_int(v: Any) -> int | None:
    """An int from a number or numeric string; None for empty/invalid."""
    f = to_float(v)
    return int(f) if f is not None else None


def to_datetime(v: Any) -> datetime | None:
    """UTC datetime from epoch seconds (milliseconds when > 1e11), or a string: ISO 8601, extended
    (``2020-01-31T12:00:00Z``) or basic (``20200131``), RFC 2822, ``31.01.2020``, ``01/31/2020``, ``2020/01/31``,
    ``31 January 2020``, ``January 31, 2020``, ``01-31-2020 12:00:00`` (URS); naive times are taken as UTC. None
    when unparseable."""
    if v is None or v == "" or isinstance(v, bool):
        return None
    if isinstance(v, str):
        s = v.strip()
        if _BASIC_DATE.match(s):
            s = f"{s[:4]}-{s[4:6]}-{s[6:]}"
        if not _NUMBER.match(s):
            dt = _parse_date(s)
            if dt is None:
                return None
            return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)
    f = to_float(v)
    if f is None:
        return None
    if f > 1e11:
        f /= 1000.0
    try:
        return datetime.fromtimestamp(f, UTC)
    except (OverflowError, OSError, ValueError):
        return None


_DATE_FORMATS = (
    "%d.%m.%Y",
    "%d.%m.%Y %H:%M",
    "%d.%m.%Y %H:%M:%S",
    "%m/%d/%Y",
    "%m/%d/%Y %H:%M",
    "%m/%d/%Y %H:%M:%S",
    "%m/%d/%Y %I:%M %p",
    "%m-%d-%Y %H:%M:%S",
    "%Y/%m/%d",
    "%Y/%m/%d %H:%M:%S",
    "%d %B %Y",
    "%B %d, %Y",
    "%b %d, %Y",
)


def _parse_date(s: str) -> datetime | None:
    """ISO 8601, RFC 2822 (``Tue, 05 Jan 2021 10:00:00 +0000``), then :data:`_DATE_FORMATS` (day first with dots,
    month first with slashes, as those separators are used)."""
    try:
        return datetime.fromisoformat(s.replace("Z", "+00:00"))
    except ValueError:
        pass
    try:
        return parsedate_to_datetime(s)
    except (TypeError, ValueError, IndexError):
        pass
    for fmt in _DATE_FORMATS:
        try:
            return datetime.strptime(s, fmt)
        except ValueError:
            continue
    return None


def text_or_none(v: Any) -> str | None:
    """A raw text field as ``str`` (numbers and other scalars converted), None when missing."""
    if v is None:
        return None
    if isinstance(v, str):
        return v
    if isinstance(v, bool | int | float):
        return str(v)
    raise ParseError(f"expected text, got {type(v).__name__}")


def _base(env: dict[str, Any], ctx: ParseContext, origin: str) -> Record:
    rec = empty_record()
    sid = str(env["source_id"])
    rec["id"] = make_id(ctx.source.namespace, sid)
    rec["source"] = ctx.source.name
    rec["source_id"] = sid
    rec["fetched_at"] = to_datetime(env.get("fetched_at"))
    rec["origin"] = origin
    return rec


def parse_reddit(env: dict[str, Any], ctx: ParseContext, origin: str) -> Record:
    """A Reddit submission (full API object, dump object, or ``{title, body, score, id}``) as a record."""
    d = env["data"]
    if not isinstance(d, dict):
        raise ParseError("data is not an object")
    rec = _base(env, ctx, origin)
    rec["_raw_title"] = text_or_none(d.get("title"))
    rec["_raw_body"] = text_or_none(d["selftext"] if "selftext" in d else d.get("body"))
    rec["_is_self"] = d.get("is_self")
    rec["_stickied"] = d.get("stickied")
    rec["_distinguished"] = d.get("distinguished")
    rec["_removed_by_category"] = d.get("removed_by_category")
    rec["_meta_deleted"] = meta_deletion(d)
    rec["score"] = to_float(d.get("score"))
    rec["score_kind"] = "upvotes" if rec["score"] is not None else None
    if str(env.get("parser", "")).startswith("reddit_api"):  # read from the API just now
        rec["score_retrieved_at"] = rec["fetched_at"]
    else:
        rec["score_retrieved_at"] = dump_retrieved_at(d)
    rec["_reread"] = env.get("note") in ("reread", "missing")
    rec["_missing"] = env.get("note") == "missing"
    rec["upvote_ratio"] = to_float(d.get("upvote_ratio"))
    rec["num_comments"] = to_int(d.get("num_comments"))
    rec["nsfw_over_18"] = bool(d["over_18"]) if d.get("over_18") is not None else None
    rec["created_at"] = to_datetime(d.get("created_utc"))
    sub = d.get("subreddit")
    rec["category"] = f"r/{sub}" if sub else None
    sid = rec["source_id"]
    rec["url"] = f"https://www.reddit.com/r/{sub}/comments/{sid}/" if sub else f"https://www.reddit.com/comments/{sid}/"
    flair = d.get("link_flair_text")
    rec["tags"] = [str(flair)] if flair else []
    rec["author_hash"] = author_hash(d.get("author"), ctx.author_salt)
    return rec


def meta_deletion(d: dict[str, Any]) -> str | None:
    """``"deleted"`` or ``"removed"`` when an Arctic Shift dump object's ``_meta`` block says the post or comment
    was taken down after it was first read (https://github.com/ArthurHeitmann/arctic_shift,
    ``file_content_explanations.md``): ``was_deleted_later``, with ``removal_type`` ``deleted``/``author`` (or none)
    as its author's deletion and any other type a removal. ``was_initially_deleted`` means the text was restored
    (it is available now): not a deletion. None otherwise (no ``_meta``: Pushshift dumps)."""
    meta = d.get("_meta")
    if not isinstance(meta, dict) or not meta.get("was_deleted_later"):
        return None
    kind = meta.get("removal_type")
    return "deleted" if kind in (None, "", "deleted", "author") else "removed"


def dump_retrieved_at(d: dict[str, Any]) -> datetime | None:
    """When a dump object's score was read: Arctic Shift's second retrieval (``_meta.retrieved_2nd_on``, when the
    score fields were updated), else its ``retrieved_utc``/``retrieved_on``; None when unknown."""
    meta = d.get("_meta")
    second = meta.get("retrieved_2nd_on") if isinstance(meta, dict) else None
    return to_datetime(second or d.get("retrieved_utc") or d.get("retrieved_on"))


def parse_reply(env: dict[str, Any], ctx: ParseContext, origin: str) -> Record:
    """A reply in a Reddit thread (``{"comment", "post", "depth"}`` of :mod:`jokemine.scrapers.reddit_comments`) as a
    thread record: ``thread_id``/``parent_id`` as record ids, ``depth``, the post's score as ``thread_score``; the
    post's title and body travel as ``_thread_title``/``_thread_body`` (the setup is made from them in clean), the
    reply as ``_raw_punchline``."""
    d = env["data"]
    c, post = (d.get("comment"), d.get("post")) if isinstance(d, dict) else (None, None)
    if not isinstance(c, dict) or not isinstance(post, dict):
        raise ParseError("not a thread reply (comment + post)")
    ns = ctx.source.namespace
    rec = _base(env, ctx, origin)
    post_id = str(post.get("id") or str(c.get("link_id") or "").removeprefix("t3_"))
    rec["thread_id"] = make_id(ns, post_id)
    parent = str(c.get("parent_id") or "")
    rec["parent_id"] = make_id(ns, parent) if parent.startswith("t1_") else rec["thread_id"]
    rec["depth"] = to_int(d.get("depth"))
    rec["_thread_title"] = text_or_none(post.get("title"))
    rec["_thread_body"] = text_or_none(post.get("selftext"))
    rec["_thread_gone"] = meta_deletion(post) == "deleted" or str(post.get("selftext") or "").strip() == "[deleted]"
    rec["_thread_link"] = post.get("is_self") is False
    rec["_raw_punchline"] = text_or_none(c.get("body"))
    author = text_or_none(c.get("author"))
    rec["_author"] = author.removeprefix("u/") if author else None
    rec["_stickied"] = c.get("stickied")
    rec["_distinguished"] = c.get("distinguished")
    rec["_meta_deleted"] = meta_deletion(c)
    rec["score"] = to_float(c.get("score"))
    rec["score_kind"] = "upvotes" if rec["score"] is not None else None
    live = str(env.get("parser", "")).startswith(("reddit_api", "reddit_threads"))
    rec["score_retrieved_at"] = rec["fetched_at"] if live else dump_retrieved_at(c)
    rec["_reread"] = env.get("note") in ("reread", "missing")
    rec["_missing"] = env.get("note") == "missing"
    rec["thread_score"] = to_float(post.get("score"))
    rec["nsfw_over_18"] = bool(post["over_18"]) if post.get("over_18") is not None else None
    rec["created_at"] = to_datetime(c.get("created_utc"))
    sub = c.get("subreddit") or post.get("subreddit")
    rec["category"] = f"r/{sub}" if sub else None
    cid = rec["source_id"].removeprefix("t1_")
    rec["url"] = f"https://www.reddit.com/r/{sub}/comments/{post_id}/_/{cid}/" if sub else None
    rec["author_hash"] = author_hash(rec["_author"], ctx.author_salt)
    return rec


def parse_table(env: dict[str, Any], ctx: ParseContext, origin: str, thread: str | None = None) -> Record:
    """A table row through the source's column mapping (``columns``, dotted paths allowed), its ``constants``
    (``{stem}``/``{name}``/``{parent}`` of the file or archive member) and a joined sidecar row (``_join``).

    ``score``: the mapped column; else the mean vote of ``votes`` (``caption_votes``, counts in ``vote_counts``);
    else ``votes_up - votes_down`` (``net_votes``). ``author`` is hashed like Reddit's; ``nsfw``, ``is_self``,
    ``stickied`` accept booleans, ``0``/``1`` and ``true``/``false``/``yes``/``no``. A text field that holds
    escaped line breaks (``\\n``) and no real one is unescaped. ``thread``: the thread of a reply when
    ``columns.thread`` maps none (:func:`table_records` with ``replies``)."""
    d = env["data"]
    if d is None or isinstance(d, list):
        raise ParseError("row is not a record")
    cfg: TableSource = ctx.source  # type: ignore[assignment]
    m = cfg.columns.mapped()
    joined = d.get("_join") if isinstance(d, dict) else None
    row = d.get(".", d) if isinstance(d, dict) and "_join" in d and "." in d else d
    consts = _constants(cfg.constants, str(env.get("origin") or ""), row)

    def get(field: str) -> Any:
        if isinstance(joined, dict) and joined.get(field) is not None:
            return joined[field]
        col = m.get(field)
        value = dig(row, col) if col else None
        return consts.get(field) if value is None or value == "" else value

    rec = _base(env, ctx, origin)
    for field in ("title", "body", "setup", "punchline", "question", "answer", "text"):
        rec[f"_raw_{field}"] = _unescape(text_or_none(get(field)))
    rec["score"] = to_float(get("score"))
    kind = get("score_kind") or cfg.score_kind
    rec["votes_up"], rec["votes_down"] = to_int(get("votes_up")), to_int(get("votes_down"))
    if cfg.columns.votes:
        counts = [(label, to_int(dig(row, col))) for label, col in cfg.columns.votes.items()]
        if any(c is not None for _, c in counts):
            rec["vote_counts"] = [{"label": label, "count": c or 0} for label, c in counts]
            total = sum(c or 0 for _, c in counts)
            weights = cfg.columns.vote_weights()
            rec["score"] = sum(weights[label] * (c or 0) for label, c in counts) / total if total else None
            kind = kind or "caption_votes"
    elif rec["score"] is None and rec["votes_up"] is not None and rec["votes_down"] is not None:
        rec["score"] = float(rec["votes_up"] - rec["votes_down"])
        kind = kind or "net_votes"
    rec["score_kind"] = str(kind) if kind and rec["score"] is not None else None
    rec["created_at"] = to_datetime(get("created"))
    cat = get("category")
    rec["category"] = str(cat).strip() or None if cat is not None else None
    rec["tags"] = _tags(get("tags"))
    lang = get("lang") or cfg.lang
    rec["lang"] = str(lang).strip().lower() or None if lang else None
    url = get("url")
    rec["url"] = str(url).strip() or None if url else None
    rec["author_hash"] = author_hash(text_or_none(get("author")), ctx.author_salt)
    rec["upvote_ratio"] = to_float(get("upvote_ratio"))
    rec["num_comments"] = to_int(get("num_comments"))
    rec["nsfw_over_18"] = to_bool(get("nsfw"))
    thread = get("thread") or thread
    if thread is not None and str(thread).strip():  # a reply to a thread: a contest's caption, a question's answer
        rec["thread_id"] = rec["parent_id"] = make_id(cfg.namespace, str(thread).strip())
        rec["depth"] = 0
        rec["thread_score"] = to_float(get("thread_score"))
    rec["_is_self"] = to_bool(get("is_self"))
    rec["_stickied"] = to_bool(get("stickied"))
    dist = get("distinguished")
    rec["_distinguished"] = str(dist).strip().lower() or None if dist is not None else None
    return rec


_TRUE = {"true", "1", "yes", "y", "t"}
_FALSE = {"false", "0", "no", "n", "f", ""}


def to_bool(v: Any) -> bool | None:
    """A boolean from ``True``/``False``, numbers, or ``true``/``false``/``yes``/``no``/``1``/``0`` (any case);
    None for missing or anything else."""
    if v is None:
        return None
    if isinstance(v, bool):
        return v
    if isinstance(v, int | float):
        return bool(v)
    s = str(v).strip().lower()
    if s in _TRUE:
        return True
    if s in _FALSE and s:
        return False
    return None


def _tags(v: Any) -> list[str]:
    """Tags from a list, or a string of tags separated by ``,``/``;``/``|``."""
    if v is None:
        return []
    items = v if isinstance(v, list) else re.split(r"[,;|]", str(v))
    return [str(t).strip() for t in items if t is not None and str(t).strip()]


_ESCAPED_NL = re.compile(r"\\r\\n|\\n")


def _unescape(s: str | None) -> str | None:
    """Escaped line breaks (``\\n``, ``\\r\\n``) decoded in a text with no real line break (a JSON or CSV
    written with its newlines escaped twice); tabs (``\\t``) too then."""
    if not s or "\n" in s or "\\n" not in s:
        return s
    return _ESCAPED_NL.sub("\n", s).replace("\\t", "\t")


def _constants(constants: dict[str, str], origin: str, row: Any = None) -> dict[str, Any]:
    """``constants`` filled in: ``{stem}``, ``{name}`` and ``{parent}`` of the file (the member, in an archive),
    ``{<column>}`` of the row (a top-level column; the file's names win). A constant whose column is null or empty
    in this row is left out (the field stays unset). Raises :class:`ParseError` naming the constant for a malformed
    template or a name that is no column of the row (a typo)."""
    if not constants:
        return {}
    name = origin.rsplit("::", 1)[-1]
    p = PurePosixPath(name.replace("\\", "/"))
    stem = p.stem if p.suffix.lower() not in (".gz", ".zst", ".bz2", ".xz") else PurePosixPath(p.stem).stem
    values: dict[str, Any] = dict(row) if isinstance(row, dict) else {}
    values.update(stem=stem, name=p.name, parent=p.parent.name)
    out: dict[str, Any] = {}
    for field, template in constants.items():
        try:
            out[field] = template.format_map(_NoNone(values))
        except _Empty:
            continue
        except (KeyError, IndexError, ValueError, AttributeError) as e:
            raise ParseError(f"constant {field!r}: cannot fill {template!r}: {e}") from None
    return out


class _Empty(Exception):
    """A template's column is null or empty in this row."""


class _NoNone(dict[str, Any]):
    """Template values: a null or empty column raises :class:`_Empty` (the constant is left unset, never the text
    "None"); a name that is no column of the row raises ``KeyError`` (a typo: the row is quarantined, naming it)."""

    def __getitem__(self, key: str) -> Any:
        value = super().__getitem__(key)
        if value is None or value == "":
            raise _Empty(key)
        return value


JokesOf = Callable[[Any, str, dict[str, Any]], tuple[list[dict[str, Any]], Counter[str]]]
FillFn = Callable[[Record, dict[str, Any], dict[str, Any], "ParseContext"], None]


def parse_page(
    env: dict[str, Any], ctx: ParseContext, origin: str, stats: Counter[str], *, jokes_of: JokesOf, fill: FillFn
) -> list[Record]:
    """The jokes of a crawled page: the page bytes are decoded here (BOM, ``Content-Type`` charset,
    ``<meta charset>``, UTF-8, windows-1251) and parsed by the source kind's ``jokes_of(cfg, html, page)``
    (-> jokes, counts); ``fill(record, joke, page, ctx)`` sets the kind's own fields (score, votes, ...).
    Skipped boxes (ads, deleted placeholders, truncated stories completed from ``/id/``) are counted in
    ``stats``."""
    from jokemine.scrapers.crawl import page_body
    from jokemine.scrapers.http import decode_html

    d = env["data"]
    if not isinstance(d, dict) or "body_b64" not in d:
        raise ParseError("not a page record")
    html, encoding = decode_html(page_body(d), (d.get("headers") or {}).get("content-type"))
    stats[f"encoding:{encoding}"] += 1
    cfg = ctx.source
    jokes, counts = jokes_of(cfg, html, d)
    stats.update({f"page_{k}": v for k, v in counts.items()})
    records = []
    fetched_at = to_datetime(env.get("fetched_at"))
    for j in jokes:
        rec = empty_record()
        if j.get("truncated"):  # the full text comes from its /id/ page, which wins the id merge
            stats["page_truncated"] += 1
            rec["truncated"] = True
        sid = str(j["id"])
        rec.update(
            id=make_id(cfg.namespace, sid),
            source=cfg.name,
            source_id=sid,
            url=j.get("url"),
            fetched_at=fetched_at,
            score_retrieved_at=fetched_at,
            origin=origin,
        )
        rec["_raw_text"] = j["text"]
        fill(rec, j, d, ctx)
        rec["created_at"] = to_datetime(j.get("date"))
        rec["lang"] = getattr(cfg, "lang", None) or None
        records.append(rec)
    return records


def reddit_records(env: dict[str, Any], ctx: ParseContext, origin: str, stats: Counter[str]) -> list[Record]:
    """A Reddit post (dump line or API listing child): one record."""
    return [parse_reddit(env, ctx, origin)]


def thread_records(env: dict[str, Any], ctx: ParseContext, origin: str, stats: Counter[str]) -> list[Record]:
    """A reply in a thread: one thread record (:func:`parse_reply`)."""
    return [parse_reply(env, ctx, origin)]


def table_records(env: dict[str, Any], ctx: ParseContext, origin: str, stats: Counter[str]) -> list[Record]:
    """A table row: one record; with ``replies`` (a Q&A record with its answers), one thread record per reply, id
    ``<row id>#<reply id>`` (the reply's own ``id``, else a hash of the reply, ``~2`` for a repeat: stable when the
    answers come back in another order), its thread the row (``columns.thread`` when mapped). A row without replies
    gives none (counted as ``no_replies``). Raises :class:`ParseError` when the path holds something else than a
    list."""
    path = getattr(ctx.source, "replies", None)
    if not path:
        return [parse_table(env, ctx, origin)]
    d = env["data"]
    wrapped = isinstance(d, dict) and "_join" in d and "." in d
    row = d["."] if wrapped else d
    items = dig(row, path)
    if items is not None and not isinstance(items, list):
        raise ParseError(f"replies {path!r}: expected a list of replies, got {type(items).__name__}")
    if not items:
        stats["no_replies"] += 1
        return []
    out = []
    seen: Counter[str] = Counter()
    for item in items:
        sub = _with_value(row, path, item)
        data = {**d, ".": sub} if wrapped else sub
        own = item.get("id") if isinstance(item, dict) else None
        key = str(own) if own not in (None, "") else _digest(item)
        seen[key] += 1
        rid = f"{env['source_id']}#{key}" + (f"~{seen[key]}" if seen[key] > 1 else "")
        out.append(parse_table({**env, "data": data, "source_id": rid}, ctx, origin, thread=str(env["source_id"])))
    stats["replies"] += len(out)
    return out


def _digest(item: Any) -> str:
    """BLAKE2b-64 (hex) of a reply as JSON (keys sorted): its id when it has none of its own."""
    import json

    raw = json.dumps(item, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.blake2b(raw.encode("utf-8", "surrogatepass"), digest_size=8).hexdigest()


def _with_value(record: Any, path: str, value: Any) -> Any:
    """A shallow copy of ``record`` with ``value`` at the dotted ``path`` (a key written with dots wins, as in
    :func:`jokemine.scrapers.shapes.dig`)."""
    if not isinstance(record, dict):
        return record
    if path in record or "." not in path:
        return {**record, path: value}
    head, rest = path.split(".", 1)
    return {**record, head: _with_value(record.get(head), rest, value)}


def parse_envelope(
    env: dict[str, Any], ctx: ParseContext, origin: str, stats: Counter[str] | None = None
) -> list[Record]:
    """The records of one raw envelope, by the source kind's parser (:mod:`jokemine.scrapers.registry`): one for a
    post or a row, any number for a crawled page. Raises :class:`ParseError` (or KeyError/TypeError) on malformed
    input."""
    from jokemine.scrapers.registry import kind_of

    return kind_of(ctx.source).parse(env, ctx, origin, stats if stats is not None else Counter())
