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

from jokemine.cleaning.notes import placeholder, signoff_only, strip_notes, strip_title_tags
from jokemine.cleaning.pii import scrub_pii
from jokemine.cleaning.structure import split_joke, split_post
from jokemine.cleaning.text import fix_text, html_text, key_hash, normalize_key, reddit_text
from jokemine.config import CleanConfig
from jokemine.pipeline.steps import Record, Stats, Step, filter_step, map_step
from jokemine.schema import DropReason

DELETED = ("[deleted]", "[removed]")
_URL_ONLY = re.compile(r"^\s*(?:\[[^\]]*\]\(\s*)?<?https?://\S+?>?\)?\s*$", re.I)


RAW_TEXT_FIELDS = (
    "_raw_body",
    "_raw_title",
    "_raw_punchline",
    "_raw_setup",
    "_raw_answer",
    "_raw_question",
    "_raw_text",
)


def upstream_deleted(rec: Record) -> DropReason | None:
    """``deleted``/``removed`` for posts their author or the moderators took down (Reddit sentinels in any
    text field: Reddit-derived tables carry them too; a dump's ``_meta`` deletion marks; a reply whose thread's
    post its author deleted); ``deleted_upstream`` when that was found on a re-read of
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
    if reason is None and rec.get("_meta_deleted"):  # an Arctic Shift dump's second look (its ``_meta``)
        reason = DropReason.DELETED if rec["_meta_deleted"] == "deleted" else DropReason.REMOVED
    if reason is None and rec.get("_thread_gone"):  # a reply to a post its author deleted
        reason = DropReason.DELETED
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
    """``incomplete`` for a question without an answer or the reverse (a mapped Q/A or setup/punchline row with an
    empty side, or an answer that was only an "Edit:" note or a signature)."""
    if bool(rec.get("question")) != bool(rec.get("answer")) or bool(rec.get("setup")) != bool(rec.get("punchline")):
        return DropReason.INCOMPLETE
    return None


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


def _title(rec: Record, title: str | None) -> str | None:
    """A title (or question) without its leading tags (:func:`strip_title_tags`; the tags go to ``tags``)."""
    if not title:
        return None
    title, tags = strip_title_tags(title)
    if tags:
        rec["tags"] = [*(rec.get("tags") or []), *tags]
    return title


def last_part(setup: str | None, text: str) -> str:
    """The last part of a joke (body, answer, text) without the notes around it
    (:func:`jokemine.cleaning.notes.strip_notes`; ``""`` when it was only notes, e.g. a body "EDIT: Thanks for the
    gold!" under a title that is the whole joke), except a lone sign-off after a question, which is the punchline
    ("What will I do when I have an out-of-body experience?" / "I'll see myself out")."""
    out = strip_notes(text)
    if not out and signoff_only(text) and (setup or "").rstrip().endswith("?"):
        return text
    return out


def normalize_reddit(strip_edits: bool) -> Callable[[Record], Record]:
    """Clean a Reddit title (entities, leading tags) and body (entities, markdown, notes around the joke:
    :func:`jokemine.cleaning.notes.strip_notes`) into ``title``/``body``."""

    def run(rec: Record) -> Record:
        rec["title"] = _title(rec, reddit_text(rec.pop("_raw_title", None), markdown=False))
        body = reddit_text(rec.pop("_raw_body", None))
        if strip_edits and body:
            body = last_part(rec["title"], body)
        rec["body"] = body or None
        return rec

    return run


_FIRST_PART = ("title", "setup", "question")
_LAST_PART = ("body", "punchline", "answer", "text")


def normalize_table(markup: str, strip_edits: bool) -> Callable[[Record], Record]:
    """Clean the mapped text fields of a table row by the source's ``markup``: ``plain`` (:func:`fix_text`),
    ``reddit`` (:func:`reddit_text`; titles and questions without markdown and leading tags) or ``html``
    (:func:`html_text`); then the notes around the joke come off the last part (body, answer or text)."""

    def run(rec: Record) -> Record:
        setup = None
        for field in (*_FIRST_PART, *_LAST_PART):
            raw = rec.pop(f"_raw_{field}", None)
            if markup == "reddit":
                value = reddit_text(raw, markdown=field not in _FIRST_PART)
            elif markup == "html":
                value = html_text(raw)
            else:
                value = fix_text(raw)
            if markup == "reddit" and field in _FIRST_PART:
                value = _title(rec, value) or ""
            if field in _FIRST_PART:
                setup = setup or value
            elif strip_edits and value:
                value = last_part(setup, value)
            rec[field] = value or None
        return rec

    return run


def placeholder_text(rec: Record) -> DropReason | None:
    """``deleted``/``removed`` when the joke's last part (body, answer or text), once cleaned, is only Reddit's
    sentinel ("[deleted]", "[removed]", "[ Removed by reddit on account of violating the content policy ]")."""
    for field in _LAST_PART:
        what = placeholder(rec.get(field))
        if what:
            return DropReason.DELETED if what == "deleted" else DropReason.REMOVED
    return None


def same_parts(rec: Record) -> DropReason | None:
    """``incomplete`` for a two-part joke whose punchline repeats its setup (case, punctuation and spacing
    ignored): a question without its answer."""
    setup, punchline = rec.get("setup"), rec.get("punchline")
    if setup and punchline and normalize_key(setup) == normalize_key(punchline):
        return DropReason.INCOMPLETE
    return None


_QA_METHODS = ("qa_marker", "question")
_LINKS = re.compile(r"https?://\S+|www\.\S+|\[(?:url|user)\]")
_HAS_TEXT = re.compile(r"[^\W_]")


def build_pairs(rec: Record) -> Record:
    """Shape the joke (:mod:`jokemine.cleaning.structure`): mapped question + answer columns are ``qa``
    (``structure = "qa_columns"``); mapped setup + punchline columns are ``setup_columns`` (``qa`` when the setup
    ends with ``?``); either is ``thread_reply`` when the row is a reply in a thread (``thread_id`` set); a title +
    body post goes through :func:`split_post` (title = setup unless the title is a label or the body repeats it);
    one text through :func:`split_joke`. Kind: ``qa`` for question rules (and titles ending in ``?``), ``single``
    for one-liners, else ``setup_punch``. Two-part jokes get ``setup``/``punchline`` (``question``/``answer`` for
    ``qa``); ``text`` is the joke as one text (title and body joined by a newline; the body alone when the title is
    a label)."""
    q, a = rec.get("question"), rec.get("answer")
    title, body = rec.get("title"), rec.get("body")
    if q and a:
        rec["setup"], rec["punchline"] = q, a
        rec["kind"], rec["structure_confidence"] = "qa", None
        rec["structure"] = "thread_reply" if rec.get("thread_id") else "qa_columns"
        rec["text"] = f"{q}\n{a}"
        return rec
    setup, punchline = rec.get("setup"), rec.get("punchline")
    if setup and punchline:  # mapped setup and punchline columns (two-part jokes with or without a question)
        rec["structure"] = "thread_reply" if rec.get("thread_id") else "setup_columns"
        rec["structure_confidence"] = None
        rec["text"] = f"{setup}\n{punchline}"
        if setup.rstrip().endswith("?"):
            rec["kind"], rec["question"], rec["answer"] = "qa", setup, punchline
        else:
            rec["kind"], rec["question"], rec["answer"] = "setup_punch", None, None
        return rec
    if title or body:
        parts = split_post(title, body)
        rec["text"] = f"{title}\n{body}" if parts.method == "title_body" else (body or title)
    else:
        rec["text"] = rec.get("text") or q or a or ""
        parts = split_joke(rec["text"])
    rec["structure"] = parts.method
    rec["structure_confidence"] = None if parts.method == "title_body" else round(parts.confidence, 4)
    rule = parts.method.removeprefix("body:")
    if not _HAS_TEXT.search(_LINKS.sub("", parts.setup)):  # "[url]", "...", ASCII art: no setup, one text
        rule = "one_liner"
        rec["structure"] = "body:one_liner" if parts.method.startswith("body:") else "one_liner"
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
            text = rec["text"]
            lang = rec.get("lang") or ("ru" if _CYRILLIC.search(text) else None)
            rec["text"], counts = scrub_pii(text, lang)
            for kind, n in counts.items():
                stats.add("pii", rec["source"], kind, n=n)
            for f in _PII_FIELDS:  # and a field outside ``text`` (a label title), which is published too
                if rec.get(f) and (counts or rec[f] not in text):
                    rec[f] = scrub_pii(rec[f], lang)[0]
        yield rec


def add_keys(rec: Record) -> Record:
    """``text_key`` (exact-duplicate key) and ``group_key`` (split group: the setup, else the text)."""
    rec["text_key"] = key_hash(rec["text"])
    rec["group_key"] = key_hash(rec["setup"]) if rec["setup"] else rec["text_key"]
    return rec


_BOT_NAME = re.compile(r"(?:[_-](?:bot|Bot|BOT)|[a-z0-9]Bot|^[a-z0-9_-]*bot)$")  # RemindMeBot, haikusbot, x_bot
_BOT_BODY = re.compile(
    r"\bI(?: am|'m) a bot\b|\bthis (?:action|comment) was performed automatically\b|^beep,? boop\b", re.IGNORECASE
)


def bot_reply(extra: list[str]) -> Callable[[Record], DropReason | None]:
    """``bot`` for a reply by AutoModerator, one of ``extra``, an account named as bots are (``RemindMeBot``,
    ``haikusbot``, ``totes_meta_bot``; not ``Talbot`` or ``Cajunbot``), or whose body says it is a bot ("I am a bot",
    "This action was performed automatically")."""
    names = {"automoderator", *(n.lower().removeprefix("u/") for n in extra)}

    def check(rec: Record) -> DropReason | None:
        author = rec.get("_author") or ""
        if author.lower() in names or _BOT_NAME.search(author):
            return DropReason.BOT
        body = rec.get("_raw_punchline")
        if isinstance(body, str) and _BOT_BODY.search(body):
            return DropReason.BOT
        return None

    return check


_META_PHRASES = frozenset(
    {
        "this",
        "this right here",
        "this is a repost",
        "repost",
        "reposted",
        "old",
        "old joke",
        "heard it",
        "heard this one",
        "seen this",
        "i've seen this before",
        "came here to say this",
        "came here for this",
        "was about to say this",
        "beat me to it",
        "take my upvote",
        "have my upvote",
        "have an upvote",
        "here's your upvote",
        "upvote",
        "upvoted",
        "underrated comment",
        "underrated",
        "username checks out",
        "source",
        "sauce",
        "lol",
        "lmao",
        "lmfao",
        "rofl",
        "haha",
        "hahaha",
        "hahahaha",
        "ha",
        "heh",
        "same",
        "me too",
        "nice",
        "wow",
        "ok",
        "okay",
        "what",
        "wat",
        "huh",
        "why",
        "yes",
        "no",
        "yep",
        "nope",
        "true",
        "facts",
        "agreed",
        "i'll see myself out",
        "ill see myself out",
        "i see what you did there",
        "well played",
        "well done",
        "nice one",
        "good one",
        "take it",
        "thanks i hate it",
        "ba dum tss",
        "badum tss",
        "ba dum tsss",
        "r jokes",
        "r dadjokes",
        "r puns",
    }
)
_PUNCT = re.compile(r"[^\w\s']+")
_MENTIONS = re.compile(r"^(?:\s*/?[ru]/[A-Za-z0-9_-]+[\s.,!?]*)+$")
_CORRECTION = re.compile(r"^\*\S+$")  # "*your": a spelling correction


def _meta_key(text: str) -> str:
    return " ".join(_PUNCT.sub(" ", text.lower().replace("’", "'")).split())


def meta_reply(rec: Record) -> DropReason | None:
    """``meta_reply`` for a reply that is no punchline: only quotes (every line a ``>`` quote, checked on the raw
    Markdown), only a link, only subreddit/user mentions (``r/...``, ``u/...``), a spelling correction
    ("*your"), or one of the stock thread
    comments ("repost", "this", "take my upvote", "username checks out", "I'll see myself out", ...)."""
    raw = rec.get("_raw_reply") or ""
    lines = [ln for ln in raw.splitlines() if ln.strip()]
    if lines and all(ln.lstrip().startswith((">", "&gt;")) for ln in lines):
        return DropReason.META_REPLY
    text = rec.get("punchline") or ""
    if _URL_ONLY.match(text) or _MENTIONS.match(text) or _CORRECTION.match(text) or _meta_key(text) in _META_PHRASES:
        return DropReason.META_REPLY
    return None


def thread_link_post(rec: Record) -> DropReason | None:
    """``link_post`` for a reply to a link or image post: its setup would be a title without the picture or page
    the replies talk about."""
    return DropReason.LINK_POST if rec.get("_thread_link") else None


def reply_length(min_chars: int, max_chars: int) -> Callable[[Record], DropReason | None]:
    """``too_short``/``too_long`` by the length of the reply (``punchline``, characters after cleaning)."""

    def check(rec: Record) -> DropReason | None:
        n = len(rec.get("punchline") or "")
        if n < min_chars:
            return DropReason.TOO_SHORT
        if n > max_chars:
            return DropReason.TOO_LONG
        return None

    return check


def normalize_thread(strip_edits: bool) -> Callable[[Record], Record]:
    """The thread's post becomes the ``setup`` (title without leading tags, then the body, Markdown and notes
    removed; a body that is only Reddit's sentinel is left out) and the reply the ``punchline`` (Markdown and notes
    around it removed, as a post body); the raw reply stays as ``_raw_reply`` for :func:`meta_reply`."""

    def run(rec: Record) -> Record:
        title = _title(rec, reddit_text(rec.pop("_thread_title", None), markdown=False))
        body = reddit_text(rec.pop("_thread_body", None))
        if strip_edits and body:
            body = last_part(title, body)
        if placeholder(body):
            body = ""
        setup = "\n".join(p for p in (title, body) if p)
        raw = rec.pop("_raw_punchline", None)
        rec["_raw_reply"] = raw
        reply = reddit_text(raw)
        if strip_edits and reply:
            reply = last_part(setup, reply)
        rec["setup"], rec["punchline"] = setup or None, reply or None
        rec["title"], rec["body"] = title or None, body or None
        return rec

    return run


def build_thread(rec: Record) -> Record:
    """A reply's record: ``text`` = setup + newline + reply, ``structure = "thread_reply"``; ``qa`` (question and
    answer set) when the post ends with ``?`` (an r/AskReddit prompt), else ``setup_punch``."""
    setup, reply = rec.get("setup") or "", rec.get("punchline") or ""
    rec["text"] = f"{setup}\n{reply}" if setup and reply else setup or reply
    rec["structure"], rec["structure_confidence"] = "thread_reply", None
    if setup.rstrip().endswith("?") and reply:
        rec["kind"], rec["question"], rec["answer"] = "qa", setup, reply
    else:
        rec["kind"], rec["question"], rec["answer"] = "setup_punch", None, None
    return rec


def thread_steps(source: Any, cfg: CleanConfig) -> list[Step]:
    """Pass-1 steps of thread replies (:mod:`jokemine.scrapers.reddit_comments`, ``reddit_api`` threads)."""
    return [
        filter_step("upstream_deleted", upstream_deleted),
        filter_step("mod_post", mod_post),
        filter_step("bot", bot_reply(list(getattr(source, "bots", [])))),
        filter_step("link_post", thread_link_post),
        map_step("normalize", normalize_thread(cfg.strip_edits)),
        filter_step("placeholder", placeholder_text),
        filter_step("meta_reply", meta_reply),
        filter_step("incomplete", incomplete),
        filter_step("reply_length", reply_length(source.min_reply_chars, source.max_reply_chars)),
        # the reply's length is bounded above; a long post as setup does not make its replies too long
        *_tail(cfg, map_step("build_thread", build_thread), whole_length=False),
    ]


def reddit_steps(source: Any, cfg: CleanConfig) -> list[Step]:
    """Pass-1 steps of Reddit posts (dumps and the live API)."""
    return [
        filter_step("upstream_deleted", upstream_deleted),
        filter_step("mod_post", mod_post),
        filter_step("link_post", link_post),
        map_step("normalize", normalize_reddit(cfg.strip_edits)),
        filter_step("placeholder", placeholder_text),
        filter_step("incomplete", incomplete),
        *_tail(cfg),
    ]


def record_steps(source: Any, cfg: CleanConfig) -> list[Step]:
    """Pass-1 steps of table rows and crawled jokes (a table that maps ``stickied``/``distinguished``/``is_self``
    gets the mod-post and link-post filters of a dump)."""
    return [
        filter_step("upstream_deleted", upstream_deleted),
        filter_step("mod_post", mod_post),
        filter_step("link_post", link_post),
        map_step("normalize", normalize_table(getattr(source, "markup", "plain"), cfg.strip_edits)),
        filter_step("placeholder", placeholder_text),
        filter_step("incomplete", incomplete),
        *_tail(cfg),
    ]


def _tail(cfg: CleanConfig, shape: Step | None = None, *, whole_length: bool = True) -> list[Step]:
    """The steps every kind ends with: ``shape`` (default :func:`build_pairs`), then PII, emptiness, the length of
    the whole text (unless ``whole_length`` is False) and the keys."""
    return [
        shape or map_step("build_pairs", build_pairs),
        filter_step("same_parts", same_parts),
        scrub_pii_step,
        filter_step("empty", empty),
        *([filter_step("length", length_bounds(cfg))] if whole_length else []),
        map_step("keys", add_keys),
    ]
