"""Filters (``record -> DropReason | None``) and the per-record maps of the clean stage.

Drop reasons are :class:`jokemine.schema.DropReason`; the filters here decide ``deleted``, ``removed``,
``deleted_upstream``, ``mod_post``, ``link_post``, ``incomplete``, ``empty``, ``too_short`` and ``too_long``; the
global stages decide ``truncated``, ``deleted_upstream`` (sticky deletions), ``exact_duplicate`` and
``near_duplicate``; pass 2 decides ``language``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from jokemine.cleaning.pii import scrub_pii
from jokemine.cleaning.structure import split_joke, split_post
from jokemine.cleaning.text import fix_text, key_hash, reddit_text, strip_edit_trailer
from jokemine.config import CleanConfig
from jokemine.pipeline.steps import Record, Stats, Step, filter_step, map_step
from jokemine.schema import DropReason

DELETED = ("[deleted]", "[removed]")
_URL_ONLY = re.compile(r"^\s*(?:\[[^\]]*\]\(\s*)?<?https?://\S+?>?\)?\s*$", re.I)


RAW_TEXT_FIELDS = ("_raw_body", "_raw_title", "_raw_answer", "_raw_question", "_raw_text")


def upstream_deleted(rec: Record) -> DropReason | None:
    """``deleted``/``removed`` for posts their author or the moderators took down (Reddit sentinels in any
    text field: Reddit-derived tables carry them too); ``deleted_upstream`` when that was found on a re-read of
    a stored post, or the API no longer returns it."""
    if rec.get("_missing"):
        return DropReason.DELETED_UPSTREAM
    reason: DropReason | None = None
    for field in RAW_TEXT_FIELDS:
        v = rec.get(field)
        if isinstance(v, str) and v.strip() in DELETED:
            reason = DropReason.DELETED if v.strip() == "[deleted]" else DropReason.REMOVED
            break
    if reason is None and rec.get("_removed_by_category"):
        reason = DropReason.REMOVED
    if reason and rec.get("_reread"):
        return DropReason.DELETED_UPSTREAM
    return reason


def mod_post(rec: Record) -> DropReason | None:
    """``mod_post`` for stickied or moderator/admin-distinguished posts."""
    if rec.get("_stickied") is True or rec.get("_distinguished") in ("moderator", "admin"):
        return DropReason.MOD_POST
    return None


def link_post(rec: Record) -> DropReason | None:
    """``link_post`` for link/image posts and bodies that are only a URL."""
    if rec.get("_is_self") is False:
        return DropReason.LINK_POST
    body = rec.get("_raw_body")
    if isinstance(body, str) and body and _URL_ONLY.match(body):
        return DropReason.LINK_POST
    return None


def incomplete(rec: Record) -> DropReason | None:
    """``incomplete`` for a question without an answer or the reverse (a mapped Q/A row with an empty side)."""
    return DropReason.INCOMPLETE if bool(rec.get("question")) != bool(rec.get("answer")) else None


def empty(rec: Record) -> DropReason | None:
    """``empty`` when no text is left after cleaning."""
    return None if rec["text"] else DropReason.EMPTY


def length_bounds(cfg: CleanConfig) -> Callable[[Record], DropReason | None]:
    """``too_short``/``too_long`` by the length of ``text`` in characters."""

    def check(rec: Record) -> DropReason | None:
        n = len(rec["text"])
        if n < cfg.min_chars:
            return DropReason.TOO_SHORT
        if n > cfg.max_chars:
            return DropReason.TOO_LONG
        return None

    return check


def normalize_reddit(strip_edits: bool) -> Callable[[Record], Record]:
    """Clean a Reddit title (entities) and body (entities, markdown, Edit trailer) into ``title``/``body``."""

    def run(rec: Record) -> Record:
        rec["title"] = reddit_text(rec.pop("_raw_title", None), markdown=False) or None
        body = reddit_text(rec.pop("_raw_body", None))
        if strip_edits and body:
            body = strip_edit_trailer(body)
        rec["body"] = body or None
        return rec

    return run


def normalize_table(rec: Record) -> Record:
    """Clean the mapped text fields of a table row with :func:`fix_text`."""
    for field in ("title", "body", "question", "answer", "text"):
        raw = rec.pop(f"_raw_{field}", None)
        rec[field] = fix_text(raw) or None
    return rec


_QA_METHODS = ("qa_marker", "question")


def build_pairs(rec: Record) -> Record:
    """Shape the joke (:mod:`jokemine.cleaning.structure`): mapped question + answer columns are ``qa``
    (``structure = "qa_columns"``); a title + body post goes through :func:`split_post` (title = setup unless the
    title is a label or the body repeats it); one text through :func:`split_joke`. Kind: ``qa`` for question
    rules (and titles ending in ``?``), ``single`` for one-liners, else ``setup_punch``. Two-part jokes get
    ``setup``/``punchline`` (``question``/``answer`` for ``qa``); ``text`` is the joke as one text (title and body
    joined by a newline; the body alone when the title is a label)."""
    q, a = rec.get("question"), rec.get("answer")
    title, body = rec.get("title"), rec.get("body")
    if q and a:
        rec["setup"], rec["punchline"] = q, a
        rec["kind"], rec["structure"] = "qa", "qa_columns"
        rec["text"] = f"{q}\n{a}"
        return rec
    if title or body:
        parts = split_post(title, body)
        rec["text"] = f"{title}\n{body}" if parts.method == "title_body" else (body or title)
    else:
        rec["text"] = rec.get("text") or q or a or ""
        parts = split_joke(rec["text"])
    rec["structure"] = parts.method
    rule = parts.method.removeprefix("body:")
    if rule == "one_liner":
        rec["kind"] = "single"
        rec["setup"] = rec["punchline"] = rec["question"] = rec["answer"] = None
        return rec
    rec["setup"], rec["punchline"] = parts.setup, parts.punchline
    if rule in _QA_METHODS or (rule == "title_body" and parts.setup.rstrip().endswith("?")):
        rec["kind"] = "qa"
        rec["question"], rec["answer"] = parts.setup, parts.punchline
    else:
        rec["kind"] = "setup_punch"
        rec["question"] = rec["answer"] = None
    return rec


_CYRILLIC = re.compile(r"[А-Яа-яЁё]")
_PII_FIELDS = ("title", "body", "setup", "punchline", "question", "answer")


def scrub_pii_step(records: Iterable[Record], stats: Stats) -> Iterator[Record]:
    """Replace PII (:func:`jokemine.cleaning.pii.scrub_pii`) in every text field of records not dropped yet;
    counts per kind, from the whole joke (``text``), go to stats ``("pii", source, kind)``. The phone region is
    Russian for a record whose language is ``ru`` or whose text has Cyrillic letters."""
    for rec in records:
        if rec["drop_reason"] is None and rec.get("text"):
            lang = rec.get("lang") or ("ru" if _CYRILLIC.search(rec["text"]) else None)
            rec["text"], counts = scrub_pii(rec["text"], lang)
            for kind, n in counts.items():
                stats.add("pii", rec["source"], kind, n=n)
            if counts:
                for f in _PII_FIELDS:
                    if rec.get(f):
                        rec[f] = scrub_pii(rec[f], lang)[0]
        yield rec


def add_keys(rec: Record) -> Record:
    """``text_key`` (exact-duplicate key) and ``group_key`` (split group: the setup, else the text)."""
    rec["text_key"] = key_hash(rec["text"])
    rec["group_key"] = key_hash(rec["setup"]) if rec["setup"] else rec["text_key"]
    return rec


def reddit_steps(source: Any, cfg: CleanConfig) -> list[Step]:
    """Pass-1 steps of Reddit posts (dumps and the live API)."""
    return [
        filter_step("upstream_deleted", upstream_deleted),
        filter_step("mod_post", mod_post),
        filter_step("link_post", link_post),
        map_step("normalize", normalize_reddit(cfg.strip_edits)),
        *_tail(cfg),
    ]


def record_steps(source: Any, cfg: CleanConfig) -> list[Step]:
    """Pass-1 steps of table rows and crawled jokes."""
    return [
        filter_step("upstream_deleted", upstream_deleted),
        map_step("normalize", normalize_table),
        filter_step("incomplete", incomplete),
        *_tail(cfg),
    ]


def _tail(cfg: CleanConfig) -> list[Step]:
    return [
        map_step("build_pairs", build_pairs),
        scrub_pii_step,
        filter_step("empty", empty),
        filter_step("length", length_bounds(cfg)),
        map_step("keys", add_keys),
    ]
