"""Configuration: one TOML file, validated here and only here.

Sections: ``[paths]``, ``[scrape]``, ``[[sources]]`` (each with ``name``, ``kind`` and kind-specific keys),
``[clean]``, ``[splits]``, ``[dedup]``, ``[publish]``, ``[finetune]``,
``[refresh]``. Unknown keys are errors. Relative paths are
resolved against the directory of the config file; ``~`` and ``$VARS`` are expanded. Errors name the file and the
key, e.g. ``configs/x.toml: sources[2].columns: missing 'text' ...``. The README has the full reference.
"""

from __future__ import annotations

import glob
import os
import re
import tomllib
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from jokemine.errors import ConfigError

if TYPE_CHECKING:
    from jokemine.cleaning.dedup import NearDupParams

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"
CARD_ONLY_KEYS = ("license", "terms", "source_dataset", "homepage", "citation", "producers")
"""Keys of every ``[[sources]]`` entry that only the dataset card reads: ``license``, ``terms``, ``source_dataset``
(the upstream's name, e.g. a Hub dataset id, for the card's ``source_datasets``), ``homepage`` (URL),
``citation`` (BibTeX or a reference line the card repeats; CC BY sources need it for attribution) and
``producers`` (who wrote the texts and who voted, when the kind's default is not right)."""

SOURCE_KINDS = (
    "reddit_dump",
    "reddit_comments",
    "table",
    "hub_dataset",
    "reddit_api",
    "reddit_threads",
    "anekdot_ru",
    "html_spec",
)
TABLE_FIELDS = (
    "id",
    "text",
    "title",
    "body",
    "setup",
    "punchline",
    "question",
    "answer",
    "score",
    "score_kind",
    "votes_up",
    "votes_down",
    "upvote_ratio",
    "num_comments",
    "category",
    "tags",
    "created",
    "lang",
    "url",
    "author",
    "nsfw",
    "is_self",
    "stickied",
    "distinguished",
    "thread",
    "thread_score",
)
"""Schema fields a table source maps to columns (``columns``), in the order the README lists them."""
TableFormat = Literal["csv", "tsv", "json", "jsonl", "parquet", "text", "xml", "yaml", "sqlite"]
CAPTION_VOTE_VALUES = {"funny": 3.0, "somewhat_funny": 2.0, "somewhat": 2.0, "unfunny": 1.0}
"""The value of each vote label of the New Yorker caption contest (NEXT: funny 3, somewhat funny 2, unfunny 1)."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PathsConfig(_Model):
    """``[paths]``: where data goes (raw/, clean/, releases/, state.sqlite live under ``data_dir``)."""

    data_dir: str = "data"


class ScrapeConfig(_Model):
    """``[scrape]``: ``part_records`` = records per raw part file (``raw/<source>/<run>/part-NNNNN.jsonl.zst``)."""

    part_records: int = Field(20_000, ge=100)


class _SourceBase(_Model):
    name: str = Field(pattern=NAME_PATTERN)
    enabled: bool = True
    license: str | None = None
    terms: str | None = None
    id_namespace: str | None = Field(None, pattern=NAME_PATTERN)
    source_dataset: str | None = None
    homepage: str | None = None
    citation: str | None = None
    producers: str | None = None

    def read_settings(self) -> str:
        """Digest of the options that change what a scrape reads (not name, path, license...): a file read
        with other settings is read again."""
        import hashlib
        import json

        opts = self.model_dump(exclude=set(CARD_ONLY_KEYS) | {"name", "enabled", "path", "id_namespace"})
        return hashlib.blake2b(json.dumps(opts, sort_keys=True).encode(), digest_size=8).hexdigest()

    @property
    def namespace(self) -> str:
        """Id namespace: ``id_namespace`` when set, else the source name."""
        return self.id_namespace or self.name


class _FileSource(_SourceBase):
    """A source that reads files: ``path`` is a file, a glob, or a list of them; local, or on the Hugging Face Hub
    (``hf://datasets/<owner>/<name>/<path or glob>``)."""

    path: str | list[str]

    def paths(self, base_dir: Path) -> list[str]:
        """The path patterns, with ``~``/``$VARS`` expanded and relative ones resolved against ``base_dir``; Hub
        URLs (``hf://...``, :mod:`jokemine.scrapers.remote`) are kept as written."""
        raw = [self.path] if isinstance(self.path, str) else list(self.path)
        return [
            p if p.startswith("hf://") else os.path.normpath(base_dir / os.path.expandvars(os.path.expanduser(p)))
            for p in raw
        ]

    def remote_paths(self) -> list[str]:
        """The ``hf://`` patterns among ``path`` (read through huggingface_hub's file system)."""
        raw = [self.path] if isinstance(self.path, str) else list(self.path)
        return [p for p in raw if p.startswith("hf://")]

    def files(self, base_dir: Path) -> list[Path]:
        """Every file the source reads, globs expanded, sorted; a pattern matching nothing is kept as is
        (the reader then reports it as missing, naming the path). Directories a glob matches are left out; other
        non-regular entries (FIFOs, devices, broken symlinks) are kept so that the reader reports them. A file
        reached by several paths (a recursive glob through a symlinked directory) is read once, by its first."""
        return expand_files(self.paths(base_dir))


def expand_files(patterns: list[str]) -> list[Path]:
    """The local files of resolved path ``patterns`` (see :meth:`_FileSource.files`); ``hf://`` ones skipped."""
    out: list[Path] = []
    real: set[str] = set()
    for pattern in patterns:
        if pattern.startswith("hf://"):
            continue  # fetched by the reader (jokemine.scrapers.remote)
        matches = sorted(glob.glob(pattern, recursive=True)) if glob.has_magic(pattern) else []
        for p in matches or [pattern]:
            if matches and os.path.isdir(p):
                continue
            key = os.path.realpath(p)
            if key not in real:
                real.add(key)
                out.append(Path(p))
    return out


class RedditDumpSource(_FileSource):
    """``kind = "reddit_dump"``: Reddit submissions as NDJSON (plain, ``.zst`` or ``.gz``) or JSON arrays
    (daily arrays of full post objects, or the ``[{title, body, score, id}]`` form).

    ``subreddits``: keep only posts from these subreddits (case-insensitive); all when unset.
    """

    kind: Literal["reddit_dump"]
    subreddits: list[str] | None = None
    id_namespace: str | None = Field("reddit", pattern=NAME_PATTERN)


class RedditCommentsSource(_FileSource):
    """``kind = "reddit_comments"``: the replies of Reddit threads, each a thread record (setup = the post's title
    and body, punchline = the reply; :mod:`jokemine.scrapers.reddit_comments`).

    ``path``: comment files: Pushshift / Arctic Shift comment dumps (``RC_YYYY-MM.zst``, ``<Sub>_comments.zst``;
    NDJSON with ``link_id``, ``parent_id``, ``body``, ``score``, ``created_utc``), URS comment scrapes (a post's
    ``submission_metadata`` and its ``comments``) or saved API pages (``/comments/<id>.json``: ``[post listing,
    comment listing]``). ``posts``: submission dumps the dump comments are joined to by ``link_id`` (comments of a
    post not found there are skipped and counted); files that carry their post need none. ``subreddits``: keep
    only threads of these subreddits. ``max_depth``: deepest reply kept, 0 = top-level replies only (Stanford SHP
    uses top-level ones). ``min_reply_chars``/``max_reply_chars``: reply length bounds (characters, after cleaning).
    ``bots``: more author names to drop as bots (``AutoModerator`` and names ending in ``bot`` always are).
    """

    kind: Literal["reddit_comments"]
    posts: str | list[str] | None = None
    subreddits: list[str] | None = None
    max_depth: int = Field(0, ge=0)
    min_reply_chars: int = Field(3, ge=1)
    max_reply_chars: int = Field(2000, ge=1)
    bots: list[str] = []
    id_namespace: str | None = Field("reddit", pattern=NAME_PATTERN)

    def post_files(self, base_dir: Path) -> list[Path]:
        """The submission files of ``posts`` (globs expanded as for ``path``); none when unset."""
        if not self.posts:
            return []
        raw = [self.posts] if isinstance(self.posts, str) else list(self.posts)
        return expand_files([os.path.normpath(base_dir / os.path.expandvars(os.path.expanduser(p))) for p in raw])


class ColumnMap(_Model):
    """``columns`` of a table source: schema field -> column name, JSON key or dotted path (``meta.score``;
    ``"."`` is the whole record, for files of plain strings). ``votes``: vote label -> column holding its count
    (``{ funny = "funny", somewhat = "somewhat_funny", unfunny = "unfunny" }``): ``score`` becomes the mean vote
    (values from ``vote_values``; caption-contest labels have defaults) with the counts kept in ``vote_counts``.
    """

    id: str | None = None
    text: str | None = None
    title: str | None = None
    body: str | None = None
    setup: str | None = None
    punchline: str | None = None
    question: str | None = None
    answer: str | None = None
    score: str | None = None
    score_kind: str | None = None
    votes_up: str | None = None
    votes_down: str | None = None
    upvote_ratio: str | None = None
    num_comments: str | None = None
    category: str | None = None
    tags: str | None = None
    created: str | None = None
    lang: str | None = None
    url: str | None = None
    author: str | None = None
    nsfw: str | None = Field(None, validation_alias=AliasChoices("nsfw", "over_18"))
    is_self: str | None = None
    stickied: str | None = None
    distinguished: str | None = None
    thread: str | None = None
    thread_score: str | None = None
    votes: dict[str, str] | None = None
    vote_values: dict[str, float] | None = None

    @model_validator(mode="after")
    def _has_text(self) -> ColumnMap:
        if bool(self.question) != bool(self.answer):
            raise ValueError("'question' and 'answer' must be mapped together")
        if self.setup and not self.punchline:
            raise ValueError("'setup' and 'punchline' must be mapped together")
        if not (self.text or self.title or self.question or self.punchline):
            raise ValueError("map 'text', or 'title' (+ 'body'), or 'setup' + 'punchline', or 'question' + 'answer'")
        if self.votes is not None:
            if not self.votes:
                raise ValueError("'votes' maps no vote label")
            if self.score:
                raise ValueError("map either 'score' or 'votes' (the score is then the mean vote)")
            values = {**CAPTION_VOTE_VALUES, **(self.vote_values or {})}
            unknown = [k for k in self.votes if k not in values and _number(k) is None]
            if unknown:
                raise ValueError(
                    f"vote label(s) {unknown!r} have no value: give `vote_values = {{ {unknown[0]} = <number> }}`"
                )
        elif self.vote_values:
            raise ValueError("'vote_values' without 'votes'")
        return self

    def mapped(self) -> dict[str, str]:
        """Field -> column for the mapped single-column fields only (``votes`` not included)."""
        return {k: v for k, v in self.model_dump(exclude={"votes", "vote_values"}).items() if v}

    def vote_weights(self) -> dict[str, float]:
        """Vote label -> its value, for the mapped ``votes``."""
        values = {**CAPTION_VOTE_VALUES, **(self.vote_values or {})}
        return {k: values[k] if k in values else float(_number(k) or 0.0) for k in self.votes or {}}

    def columns_read(self) -> list[str]:
        """Every column the mapping reads (single fields and vote counts)."""
        return [*self.mapped().values(), *(self.votes or {}).values()]


def _number(s: str) -> float | None:
    try:
        return float(s)
    except ValueError:
        return None


class JoinConfig(_Model):
    """``join`` of a table source: a sidecar file of labels or scores (any shape a table source reads) joined to
    the rows by id: ``on`` is the sidecar's id column (matched to the row's mapped ``id``), ``columns`` maps schema
    fields (e.g. ``score``, ``category``, ``tags``) to sidecar columns; a row without a sidecar entry keeps its own
    values."""

    path: str
    on: str
    columns: dict[str, str]
    format: TableFormat | None = None
    delimiter: str | None = Field(None, min_length=1, max_length=1)

    @field_validator("columns")
    @classmethod
    def _known_fields(cls, v: dict[str, str]) -> dict[str, str]:
        bad = [k for k in v if k not in TABLE_FIELDS or k in ("id",)]
        if bad:
            raise ValueError(f"unknown field(s) {bad!r}; use fields of `columns` other than 'id'")
        return v


CONSTANT_FIELDS = ("setup", "category", "tags", "lang", "score_kind", "url", "author", "created", "thread")
"""Fields a ``constants`` entry may set (a template: ``{stem}``, ``{name}``, ``{parent}`` of the file, ``{<column>}``
of the row)."""


class _MappedSource(_Model):
    """The keys a ``table`` and a ``hub_dataset`` source share: how records map to schema fields. ``replies``:
    dotted path of a list of replies in each record (Q&A dumps with several answers per question: ``{"question",
    "answers": [{"text", "likes"}]}``): each reply becomes a record (a thread reply; the record is its thread,
    unless ``columns.thread`` names one), with the reply in place of the list, so ``answers.text`` maps its text."""

    columns: ColumnMap = Field(default_factory=lambda: ColumnMap(text="."))
    constants: dict[str, str] = {}
    replies: str | None = Field(None, min_length=1)
    markup: Literal["plain", "reddit", "html"] = "plain"
    score_kind: Literal["upvotes", "net_votes", "mean_rating", "likes", "caption_votes"] | None = None
    lang: str | None = Field(None, pattern=r"^[a-z]{2,3}(-[A-Za-z]+)?$")

    @field_validator("constants")
    @classmethod
    def _constant_fields(cls, v: dict[str, str]) -> dict[str, str]:
        bad = [k for k in v if k not in CONSTANT_FIELDS]
        if bad:
            raise ValueError(f"no constant for field(s) {bad!r}: use {', '.join(CONSTANT_FIELDS)}")
        return v

    @model_validator(mode="after")
    def _setup_of_punchline(self) -> _MappedSource:
        if self.columns.punchline and not (self.columns.setup or "setup" in self.constants):
            raise ValueError("'punchline' needs 'setup': map a column, or give `constants = { setup = \"...\" }`")
        return self


class TableSource(_FileSource, _MappedSource):
    """``kind = "table"``: joke files of any common shape (:mod:`jokemine.scrapers.shapes`: JSON, JSONL, CSV/TSV,
    Parquet, plain text, XML, YAML, SQLite; compressed or in ``.zip``/``.tar*`` archives) with a column mapping.

    ``format`` is detected from the content (then the extension) when unset; ``delimiter`` (CSV) is sniffed
    among ``,`` ``;`` tab ``|``; ``header``: whether a CSV has a header row (default: yes, unless every mapped
    column is a number, ``"1"`` = first column); ``records_path``: dotted key path of the record list in a JSON or
    YAML object, or element path of the records in XML; ``text_split``: ``line``, ``blank_line``, ``marker``
    (``marker`` line, default ``%``) or ``fields`` (``key: value`` blocks); ``table``/``query``: SQLite;
    ``members``: glob of the archive members to read. ``encoding`` defaults to ``utf-8`` (a BOM decides; use
    ``cp1251`` etc. for legacy files). ``columns`` maps schema fields (:data:`TABLE_FIELDS`) to columns; left out,
    each record is the text (``{ text = "." }``, for files of plain strings or lines). ``constants``: field ->
    value for every row, with ``{stem}``/``{name}``/``{parent}`` of the file (or archive member) filled in
    (``category = "{stem}"``).
    ``id_scope``: ``file`` (ids are unique per file: ``<file>:<id>``) or ``source``; default ``file`` when ``id`` is
    mapped and ``path`` is a glob or a list (so adding a file never changes ids), and for archive members.
    ``score_kind`` and ``lang`` give constants for the whole source when the file has no such column. A declared
    ``lang`` skips language identification. ``markup``: how the text fields are written: ``plain`` (default),
    ``reddit`` (Reddit markdown, as in a table exported from Reddit: cleaned like a dump's posts) or ``html``
    (``<br>``, ``<p>`` become line breaks, other tags are removed, entities decoded).
    """

    kind: Literal["table"]
    format: TableFormat | None = None
    delimiter: str | None = Field(None, min_length=1, max_length=1)
    quotechar: str = Field('"', min_length=1, max_length=1)
    header: bool | None = None
    records_path: str | None = Field(None, min_length=1)
    text_split: Literal["line", "blank_line", "marker", "fields"] | None = None
    marker: str = Field("%", min_length=1)
    table: str | None = None
    query: str | None = None
    members: str | None = None
    encoding: str = "utf-8"
    join: JoinConfig | None = None
    id_scope: Literal["file", "source"] | None = None

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, v: str) -> str:
        import codecs

        try:
            codecs.lookup(v)
        except LookupError as e:
            raise ValueError(f"unknown encoding {v!r}") from e
        return v

    @model_validator(mode="after")
    def _shape_keys(self) -> TableSource:
        if self.table and self.query:
            raise ValueError("set `table` or `query`, not both")
        if self.format and self.format not in ("csv", "tsv") and (self.delimiter or self.header is not None):
            raise ValueError(f"`delimiter`/`header` are for csv/tsv files, not format {self.format!r}")
        if self.join and not self.columns.id:
            raise ValueError("`join` needs `columns.id` (the rows' id, matched to the sidecar's `on` column)")
        return self


class HubDatasetSource(_SourceBase, _MappedSource):
    """``kind = "hub_dataset"``: a dataset on the Hugging Face Hub, read with ``datasets.load_dataset(repo, config,
    split=split, revision=revision, streaming=True)`` (no full download) through the same ``columns`` mapping as a
    table. ``revision`` pins a branch, tag or commit (default: ``main``); the commit read is kept, and a scrape
    reads the dataset again only when the commit changes. ``max_rows`` caps the rows read per scrape. The endpoint
    and token are huggingface_hub's settings (``HF_ENDPOINT``, ``HF_TOKEN``)."""

    kind: Literal["hub_dataset"]
    repo: str = Field(pattern=r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
    config: str | None = None
    split: str = "train"
    revision: str | None = None
    max_rows: int | None = Field(None, ge=1)


LISTING_PATTERN = r"^(new|hot|rising|(top|controversial)(:(hour|day|week|month|year|all))?)$"
USER_AGENT_PATTERN = r"^\S+:\S+:\S+ \(by /?u/[\w-]+\)$"


class RedditApiKeys(_SourceBase):
    """The keys every live Reddit source shares (``reddit_api``, ``reddit_threads``): see :class:`RedditApiSource`."""

    id_namespace: str | None = Field("reddit", pattern=NAME_PATTERN)
    subreddits: list[Annotated[str, Field(pattern=r"^(r/)?[A-Za-z0-9_]{2,21}$")]] = ["Jokes"]
    listings: list[Annotated[str, Field(pattern=LISTING_PATTERN)]] = ["new", "top:day", "top:week"]
    user_agent: str = Field(pattern=USER_AGENT_PATTERN)
    praw_site: str | None = None
    refresh_days: float = Field(7.0, ge=0)
    max_pages: int = Field(10, ge=1)
    max_retries: int = Field(5, ge=0)
    backoff_s: float = Field(2.0, ge=0)
    max_backoff_s: float = Field(120.0, ge=0)
    timeout_s: float = Field(16.0, gt=0)
    total_timeout_s: float = Field(60.0, gt=0)
    oauth_url: str = "https://oauth.reddit.com"
    reddit_url: str = "https://www.reddit.com"

    def read_settings(self) -> str:
        """Cursors of a live source do not depend on its options."""
        return ""


class RedditApiSource(RedditApiKeys):
    """``kind = "reddit_api"``: live Reddit through PRAW, read-only (client credentials).

    ``subreddits``: which to read (default ``["Jokes"]``). ``listings``: ``new`` (walked incrementally until
    posts already stored), ``hot``, ``rising``, ``top:<t>``/``controversial:<t>`` with ``t`` in hour, day,
    week, month, year, all; each listing serves at most ~1000 posts (history comes from dumps).
    ``user_agent``: Reddit's required form ``<platform>:<app id>:<version> (by u/<name>)``. Credentials come
    from the environment (``praw_client_id``, ``praw_client_secret``) or the ``praw.ini`` site ``praw_site``;
    without them the source is skipped. ``refresh_days``: posts younger than this are re-read each run (score
    refresh, deletion sync). ``max_pages``: pages of 100 per listing. ``max_retries``/``backoff_s``/
    ``max_backoff_s``: bounded exponential backoff (with jitter) on 429/5xx/connection errors, on top of
    prawcore's own two retries; ``timeout_s``: per socket operation of a request; ``total_timeout_s``: the whole
    request (connect, headers, body), past which it fails without a retry in this run. ``oauth_url``/``reddit_url``:
    the API and token endpoints (README "Live Reddit"; a proxy, a mirror, or a local test server).
    """

    kind: Literal["reddit_api"]


class RedditThreadsSource(RedditApiKeys):
    """``kind = "reddit_threads"``: the replies of live Reddit threads through PRAW, each a thread record
    (:mod:`jokemine.scrapers.reddit_threads`). Shares the keys of ``reddit_api`` (credentials, endpoints,
    retries). ``threads``: post ids or URLs to read; else (or besides) the posts of ``subreddits`` x ``listings``
    (default ``top:day``) with at least ``min_comments`` comments, at most ``max_threads`` per run. Each thread's
    comment forest is read once and again every run while its post is younger than ``refresh_days`` (scores
    refreshed, deletions synced); ``replace_more_limit``/``replace_more_threshold`` bound the collapsed branches
    expanded (PRAW's ``replace_more(limit=, threshold=)``, one request each; ``limit = 0`` expands none).
    ``comment_sort``: the order Reddit ranks the forest in. ``max_depth``, ``min_reply_chars``,
    ``max_reply_chars``, ``bots``: as for ``reddit_comments``."""

    kind: Literal["reddit_threads"]
    listings: list[Annotated[str, Field(pattern=LISTING_PATTERN)]] = ["top:day"]
    threads: list[str] = []
    min_comments: int = Field(10, ge=0)
    max_threads: int = Field(25, ge=1)
    replace_more_limit: int = Field(32, ge=0)
    replace_more_threshold: int = Field(0, ge=0)
    comment_sort: Literal["confidence", "top", "new", "old", "controversial", "qa"] = "confidence"
    max_depth: int = Field(0, ge=0)
    min_reply_chars: int = Field(3, ge=1)
    max_reply_chars: int = Field(2000, ge=1)
    bots: list[str] = []

    @field_validator("threads")
    @classmethod
    def _thread_ids(cls, v: list[str]) -> list[str]:
        out = []
        for raw in v:
            t = raw.strip()
            m = (
                re.fullmatch(r"(?:t3_)?([a-z0-9]{2,12})", t)
                or re.fullmatch(r"https?://(?:www\.)?redd\.it/([a-z0-9]{2,12})/?", t)
                or re.fullmatch(r"(?:https?://[^/\s]+)?(?:/r/\w+)?/comments/([a-z0-9]{2,12})(?:/\S*)?", t)
            )
            if not m:
                raise ValueError(f"{t!r} is not a post id ('3hahrw'), a redd.it link or a post URL (/comments/<id>)")
            out.append(m.group(1))
        return out


class _CrawlSource(_SourceBase):
    """Options shared by the HTML crawlers: ``base_url`` (scheme + host), the crawl window (``start``/``end``
    dates, ``end`` defaulting to today; with neither, the last ``refetch_days`` days, then "since the last
    run"), ``refetch_days`` (recent pages fetched again every run: ratings settle), ``max_pages`` (pagination
    depth per listing) and the declared ``lang`` of the site's texts (empty: detect)."""

    base_url: str = Field(pattern=r"^https?://[^/\s]+$")
    start: date | None = None
    end: date | None = None
    refetch_days: int = Field(2, ge=0)
    max_pages: int = Field(10, ge=1)
    lang: str | None = Field(None, pattern=r"^([a-z]{2,3}(-[A-Za-z]+)?)?$")

    def read_settings(self) -> str:
        return ""


class AnekdotRuSource(_CrawlSource):
    """``kind = "anekdot_ru"``: anekdot.ru daily release pages ``/release/<category>/day/YYYY-MM-DD/`` for the
    crawl window, and tag pages ``/tags/<tag>``, with their pagination; truncated stories are completed from
    ``/id/<id>/``. Texts are Russian (``lang = "ru"``); ratings are net votes."""

    kind: Literal["anekdot_ru"]
    base_url: str = Field("https://www.anekdot.ru", pattern=r"^https?://[^/\s]+$")
    categories: list[Literal["anekdot", "story", "aphorism"]] = ["anekdot"]
    tags: list[str] = []
    full_stories: bool = True
    lang: str | None = Field("ru", pattern=r"^([a-z]{2,3}(-[A-Za-z]+)?)?$")


class HtmlSpecSource(_CrawlSource):
    """``kind = "html_spec"``: any site described declaratively (README "Add a site with a spec").

    Pages: ``start_urls`` (paths or URLs), and/or ``url_template`` with ``{date}`` (each day of the crawl
    window, ``YYYY-MM-DD``) and/or ``{page}`` (``first_page``..``last_page``); ``pagination`` (CSS selector of
    ``<a>`` links to follow, up to ``max_pages``). Items: ``item`` (CSS selector of one joke), ``text`` (CSS
    selector inside the item; the item itself when unset; ``<br>`` becomes a newline), ``score`` (CSS selector
    inside the item) with ``score_attr`` (read an attribute instead of the text) and ``score_regex`` (first group
    is the number), ``score_kind``, ``id_attr`` (attribute of the item holding its id; else ``id_selector`` +
    ``id_regex`` on that element's ``href``; else a hash of the text), ``url_template_item`` (the joke's URL,
    ``{id}``).
    """

    kind: Literal["html_spec"]
    start_urls: list[str] = []
    url_template: str | None = None
    first_page: int = Field(1, ge=0)
    last_page: int = Field(1, ge=0)
    item: str
    text: str | None = None
    score: str | None = None
    score_attr: str | None = None
    score_regex: str = r"(-?\d+(?:[.,]\d+)?)"
    score_kind: Literal["upvotes", "net_votes", "mean_rating", "likes"] = "net_votes"
    id_attr: str | None = None
    id_selector: str | None = None
    id_regex: str = r"(\d+)"
    pagination: str | None = None
    url_template_item: str | None = None

    @model_validator(mode="after")
    def _pages(self) -> HtmlSpecSource:
        if not self.start_urls and not self.url_template:
            raise ValueError("give `start_urls` or a `url_template`")
        if self.url_template and not (
            {"{date}", "{page}"} & {t for t in ("{date}", "{page}") if t in self.url_template}
        ):
            raise ValueError("`url_template` needs {date} and/or {page}")
        for key in ("item", "text", "score", "id_selector", "pagination"):
            css = getattr(self, key)
            if css:
                try:
                    from cssselect import GenericTranslator, SelectorError

                    GenericTranslator().css_to_xpath(css)
                except SelectorError as e:
                    raise ValueError(f"{key}: invalid CSS selector {css!r}: {e}") from None
        for key in ("score_regex", "id_regex"):
            try:
                re.compile(getattr(self, key))
            except re.error as e:
                raise ValueError(f"{key}: invalid regular expression: {e}") from None
        return self


class HttpConfig(_Model):
    """``[http]``: politeness of every HTTP crawler. ``user_agent`` (default names jokemine and ``contact``),
    ``contact`` (an e-mail or URL site owners can reach you at), ``min_interval_s`` (per host, raised to the
    site's robots.txt ``Crawl-delay``), ``connect_timeout_s``/``read_timeout_s`` (per socket operation),
    ``total_timeout_s`` (the whole request: connect, headers and body; a URL that runs past it fails for this
    run), ``retries`` (per request, on
    timeouts, broken bodies, 429 and 5xx, with exponential backoff ``backoff_s``..``max_backoff_s`` and jitter;
    a longer ``Retry-After`` pauses the host until the next run), ``max_bytes`` (response size cap),
    ``max_redirects``, ``cache`` (requests-cache SQLite cache in the data dir), ``listing_ttl_s`` (how long
    listing pages are cached; pages of past days are kept forever), ``max_attempts`` (runs a failing URL is
    retried in before it is given up)."""

    user_agent: str | None = None
    contact: str = ""
    min_interval_s: float = Field(1.0, ge=0)
    connect_timeout_s: float = Field(10.0, gt=0)
    read_timeout_s: float = Field(30.0, gt=0)
    total_timeout_s: float = Field(120.0, gt=0)
    retries: int = Field(4, ge=0)
    backoff_s: float = Field(1.0, ge=0)
    max_backoff_s: float = Field(60.0, ge=0)
    max_bytes: int = Field(10 * 2**20, ge=1024)
    max_redirects: int = Field(10, ge=0)
    cache: bool = True
    listing_ttl_s: int = Field(3600, ge=0)
    max_attempts: int = Field(3, ge=1)

    def agent(self) -> str:
        """The User-Agent header: ``user_agent``, or one naming jokemine and the contact."""
        if self.user_agent:
            return self.user_agent
        from jokemine import __version__

        contact = f"; contact: {self.contact}" if self.contact else ""
        return f"jokemine/{__version__} (humor dataset crawler; +https://pypi.org/project/jokemine/{contact})"


FileSourceConfig = RedditDumpSource | RedditCommentsSource | TableSource
CrawlSourceConfig = AnekdotRuSource | HtmlSpecSource
AnySource = (
    RedditDumpSource
    | RedditCommentsSource
    | TableSource
    | HubDatasetSource
    | RedditApiSource
    | RedditThreadsSource
    | AnekdotRuSource
    | HtmlSpecSource
)
SourceConfig = Annotated[AnySource, Field(discriminator="kind")]


class CleanConfig(_Model):
    """``[clean]``.

    ``languages``: ISO 639-1 codes to keep (empty list = keep all). ``min_chars``/``max_chars``: bounds on the
    joke's text length in characters. ``langid``: the language-ID library (:mod:`jokemine.cleaning.langid`:
    ``fasttext``, ``langdetect``, ``lingua``, ``py3langid``). ``langid_chars`` (old name ``langdetect_chars``): how
    many leading characters it sees. ``langid_prefer``: a language of ``languages`` among the library's five best
    guesses wins when its probability is at least this fraction of the best guess's (1 = no preference; 0.1 was
    chosen on the dev half of the labeled texts, README "Language ID").
    ``lang_min_chars``: texts shorter than this are never dropped for their
    language (short texts are where language ID errs); when it names a language outside ``languages`` for them,
    ``lang`` is set to ``und``.
    ``workers``: processes of the local executor when ``[executor] workers`` is 0 (kept for old configs; 0 = one
    per core). ``strip_edits``: remove what posters write around a joke: "Edit: ..." notes, signatures
    ("Source: ..."), sign-offs ("I'll see myself out"), from every source (:mod:`jokemine.cleaning.notes`).
    ``author_salt``: salt for ``author_hash`` (default: a random salt created once per data dir and kept in
    state.sqlite).
    ``partitions``: hash partitions of the global stages (0 = one per ``partition_rows`` raw records, at least
    one); the output does not depend on it, each global task's memory does.
    """

    languages: list[str] = ["en", "ru"]
    min_chars: int = Field(10, ge=1)
    max_chars: int = Field(10_000, ge=1)
    langid: Literal["fasttext", "langdetect", "lingua", "py3langid"] = "fasttext"
    langid_chars: int = Field(200, ge=20, validation_alias=AliasChoices("langid_chars", "langdetect_chars"))
    langid_prefer: float = Field(0.1, ge=0, le=1)
    lang_min_chars: int = Field(100, ge=0)
    workers: int = Field(0, ge=0)
    strip_edits: bool = True
    author_salt: str | None = None
    partitions: int = Field(0, ge=0)
    partition_rows: int = Field(100_000, ge=1000)

    @model_validator(mode="after")
    def _bounds(self) -> CleanConfig:
        if self.min_chars > self.max_chars:
            raise ValueError("min_chars must not exceed max_chars")
        return self


class ExecutorConfig(_Model):
    """``[executor]``: where clean's stages run.

    ``kind``: ``local`` (processes on this machine) or ``dask`` (a ``dask.distributed`` cluster). ``address``: a
    running Dask scheduler (``tcp://host:8786``); without it ``dask`` starts a ``LocalCluster`` of ``workers``
    processes with ``memory_limit`` each (e.g. ``"2GB"``; default: the machine's memory shared). ``workers``: 0 =
    one per core (``[clean] workers`` when that is set). ``start_method``: how ``local`` starts its processes
    (``fork``, ``forkserver`` or ``spawn``; the output is the same).
    """

    kind: Literal["local", "dask"] = "local"
    address: str | None = None
    workers: int = Field(0, ge=0)
    memory_limit: str | None = None
    start_method: Literal["fork", "forkserver", "spawn"] = "fork"


class SplitsConfig(_Model):
    """``[splits]``: ratios (must sum to 1) and the salt of the split hash. Changing either moves records
    between splits; keep them fixed across releases."""

    train: float = Field(0.9, ge=0, le=1)
    validation: float = Field(0.05, ge=0, le=1)
    test: float = Field(0.05, ge=0, le=1)
    salt: str = "jokemine-splits-v1"

    @model_validator(mode="after")
    def _sum(self) -> SplitsConfig:
        if abs(self.train + self.validation + self.test - 1.0) > 1e-9:
            raise ValueError(f"train + validation + test must be 1 (is {self.train + self.validation + self.test})")
        return self


class PublishConfig(_Model):
    """``[publish]``: release metadata and sharding. ``version`` defaults to the UTC date ``YYYY.MM.DD``
    (``.N`` appended for a second release the same day). Grouped configs (:mod:`jokemine.publish.groups`):
    ``setup_punches_min``: fewest distinct punchlines for a setup to get a ``setup_punches`` row;
    ``setup_punches_max``: most punchlines listed per row (the best ones; ``num_punchlines`` counts them all);
    ``preference_rule``: ``margin`` (``score_norm`` at least ``preference_margin`` apart) or ``shp`` (Stanford SHP's
    rule: vote counts >= ``preference_min_score``, the chosen at least twice the rejected and posted no earlier, and
    for replies the thread's post scored >= ``preference_min_thread_score``, SHP's 10);
    ``preference_max_pairs``: most pairs per setup (Stanford SHP used 50); ``preference_top_prompts`` and
    ``preference_top_share``: per split, setups are cut to the most pairs each that keeps the top prompts at or
    under this share of the split. Card: ``license_name``/``license_link`` (for ``license = "other"``),
    ``citation`` (BibTeX; default: one made from the name and version). Hub target: ``repo_id`` (``owner/name``;
    unset = local folder only), ``private``, ``hub_endpoint`` (default: huggingface_hub's, i.e. ``HF_ENDPOINT`` or
    https://huggingface.co); the token comes from ``HF_TOKEN`` or the huggingface_hub login, never from the config.
    ``allow_empty_splits``: publish configs that lack a split (small data); by default the validation gate refuses
    them (record configs) or leaves them out (grouped configs). ``max_rows_per_shard``: rows per data file; files
    are stable ranges (:mod:`jokemine.publish.layout`), so smaller files make a small delta rewrite and upload
    less, at the cost of more files."""

    name: str = Field("jokemine-jokes", pattern=NAME_PATTERN)
    pretty_name: str = "jokemine jokes"
    license: str = "other"
    description: str = "Jokes mined and cleaned with jokemine."
    version: str | None = Field(None, pattern=r"^[0-9A-Za-z][0-9A-Za-z._-]*$")
    max_rows_per_shard: int = Field(20_000, ge=1)
    license_name: str | None = None
    license_link: str | None = None
    citation: str | None = None
    repo_id: str | None = Field(None, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$")
    private: bool = False
    hub_endpoint: str | None = None
    allow_empty_splits: bool = False
    setup_punches_min: int = Field(2, ge=1)
    setup_punches_max: int = Field(1000, ge=1)
    preference_margin: float = Field(0.2, gt=0, le=1)
    preference_max_pairs: int = Field(50, ge=1)
    preference_rule: Literal["margin", "shp"] = "margin"
    preference_min_score: float = Field(2.0, gt=0)
    preference_min_thread_score: float = Field(10.0, ge=0)
    preference_top_prompts: int = Field(10, ge=1)
    preference_top_share: float = Field(0.25, gt=0, le=1)


class DedupConfig(_Model):
    """``[dedup]``: near-duplicate detection (exact duplicates are always removed).

    ``near_duplicates``: on/off. ``shingle``: ``char`` or ``word`` n-grams of the normalized text, ``ngram`` long.
    ``threshold``: a candidate pair is a duplicate when the exact Jaccard of its shingle sets is >= this.
    ``punchline_threshold``: two two-part jokes must also have punchlines this similar (0 = off);
    ``cross_containment``: or each punchline this contained in the other joke (parts cut at different places);
    ``mixed_containment``: a two-part joke matches a one-part text only if its punchline is this contained in it.
    ``low_threshold``/``low_punchline``: second pass for reworded reposts: two two-part jokes with text Jaccard
    in [``low_threshold``, ``threshold``) are duplicates when their punchlines have Jaccard >= ``low_punchline``
    (``low_threshold = 0``: off).
    ``num_perm``: MinHash permutations; ``bands`` x ``rows``: LSH banding (default: the most selective banding
    of ``num_perm`` that makes a pair at ``threshold`` a candidate with probability >= 0.995). ``seed``: MinHash
    seed. ``index``: keep the near-duplicate index (signatures and band keys of every live text, about 4 KB per
    distinct text on disk) so that the next clean searches only around what changed.
    See README "Deduplication" for how the defaults were chosen.
    """

    near_duplicates: bool = True
    shingle: Literal["char", "word"] = "char"
    ngram: int = Field(5, ge=1, le=32)
    threshold: float = Field(0.55, gt=0, le=1)
    punchline_threshold: float = Field(0.3, ge=0, le=1)
    cross_containment: float = Field(0.6, ge=0, le=1)
    mixed_containment: float = Field(0.5, ge=0, le=1)
    low_threshold: float = Field(0.4, ge=0, le=1)
    low_punchline: float = Field(0.5, ge=0, le=1)
    num_perm: int = Field(224, ge=8, le=1024)
    bands: int | None = Field(None, ge=1)
    rows: int | None = Field(None, ge=1)
    seed: int = Field(1, ge=0)
    index: bool = True

    @model_validator(mode="after")
    def _banding(self) -> DedupConfig:
        from jokemine.cleaning.dedup import candidate_probability, lsh_params

        if (self.bands is None) != (self.rows is None):
            raise ValueError("bands and rows go together: set both or neither")
        if self.bands is not None and self.rows is not None:
            p = float(candidate_probability(self.threshold, self.bands, self.rows))
            if p < 0.9:
                raise ValueError(
                    f"{self.bands} bands x {self.rows} rows find a pair at threshold {self.threshold} with "
                    f"probability {p:.3f} < 0.9; use more bands or fewer rows"
                )
        else:
            lsh_params(self.threshold, self.num_perm)
        return self

    def params(self) -> NearDupParams:
        """The settings as :class:`jokemine.cleaning.dedup.NearDupParams`."""
        from jokemine.cleaning.dedup import NearDupParams

        return NearDupParams(
            unit=self.shingle,
            ngram=self.ngram,
            threshold=self.threshold,
            punchline_threshold=self.punchline_threshold,
            cross_containment=self.cross_containment,
            mixed_containment=self.mixed_containment,
            low_threshold=self.low_threshold,
            low_punchline=self.low_punchline,
            num_perm=self.num_perm,
            bands=self.bands,
            rows=self.rows,
            seed=self.seed,
        )


class FinetuneConfig(_Model):
    """``[finetune]``: the baseline fine-tune that validates a release (:mod:`jokemine.finetune`; README "Baseline
    fine-tune"). Command-line options of ``jokemine finetune`` override these.

    ``config``: the release config trained on (``setup_punch``: setup -> punchline; ``qa``: question -> answer).
    ``model``: a local folder or Hub id of a pretrained causal LM to fine-tune (e.g. ``distilgpt2``); unset = a new
    Llama-style model of size ``preset`` (``tiny``: 2 x 64, for CPU smoke runs; ``mini``: 4 x 256; ``small``:
    12 x 768, GPT-2 small's shape) with a byte-level BPE tokenizer of ``vocab_size`` trained on the train split.
    ``block_size``: tokens per training row; ``packing``: several examples per row, each attending only to itself.
    ``loss_on``: ``all`` tokens or the ``punchline`` (answer) tokens only. ``epochs`` (fraction allowed) or
    ``max_steps`` (wins when set); ``batch_size``: rows per optimizer step; ``lr`` (peak, cosine decay after
    ``warmup`` = a fraction of the steps); ``weight_decay``; ``seed``. ``max_train_examples``/``max_eval_examples``:
    a seeded sample of each split (unset: all). ``shuffles``: setup permutations averaged in the pairing signal.
    ``regression_margin``: relative bits-per-byte increase on the previous release's test split that flags a
    regression. ``device``: ``auto`` (CUDA when available), ``cpu`` or ``cuda``; ``compile``: ``torch.compile``
    (``auto`` = off: on an H200 compiled steps ran slower); ``peak_tflops``: the
    device's dense bf16 peak for MFU (default: known GPUs by name).
    ``report_to``: experiment trackers that also get the training logs, passed to ``transformers``'
    ``TrainingArguments.report_to``: a list of ``tensorboard`` and ``wandb`` (default ``[]``; ``"none"`` and a single
    name are accepted too); each must be installed when ``finetune`` runs. Preset defaults apply to every key left
    unset (``null``)."""

    config: Literal["setup_punch", "qa"] = "setup_punch"
    model: str | None = None
    preset: Literal["tiny", "mini", "small"] = "small"
    vocab_size: int | None = Field(None, ge=260, le=262_144)
    block_size: int | None = Field(None, ge=16, le=8192)
    packing: bool = True
    loss_on: Literal["all", "punchline"] = "all"
    epochs: float = Field(1.0, gt=0)
    max_steps: int | None = Field(None, ge=1)
    batch_size: int | None = Field(None, ge=1)
    lr: float | None = Field(None, gt=0, lt=1)
    warmup: float = Field(0.05, ge=0, lt=1)
    weight_decay: float = Field(0.1, ge=0)
    seed: int = Field(0, ge=0)
    max_train_examples: int | None = Field(None, ge=10)
    max_eval_examples: int | None = Field(None, ge=10)
    shuffles: int = Field(3, ge=1, le=20)
    regression_margin: float = Field(0.02, ge=0)
    device: Literal["auto", "cpu", "cuda"] = "auto"
    compile: Literal["auto", "on", "off"] = "auto"
    peak_tflops: float | None = Field(None, gt=0)
    report_to: list[Literal["tensorboard", "wandb"]] = []

    @field_validator("report_to", mode="before")
    @classmethod
    def _report_to_list(cls, v: Any) -> Any:
        """``"none"`` -> ``[]``, ``"wandb"`` -> ``["wandb"]``; ``"none"`` inside a list is dropped, duplicates too."""
        if isinstance(v, str):
            v = [v]
        if isinstance(v, list | tuple):
            return list(dict.fromkeys(x for x in v if x != "none"))
        return v


class RefreshConfig(_Model):
    """``[refresh]``: the nightly ``jokemine refresh``. ``keep_releases``: release folders kept in ``releases/``
    (oldest removed first; the one ``latest`` points to is never removed); ``keep_logs``: run logs kept in
    ``logs/``. (Clean keeps its last runs itself; raw data is never removed.)"""

    keep_releases: int = Field(10, ge=1)
    keep_logs: int = Field(60, ge=1)


class Config(_Model):
    """The whole validated config. ``config_path`` is the file it came from (None for built-in defaults)."""

    paths: PathsConfig = PathsConfig()
    scrape: ScrapeConfig = ScrapeConfig()
    http: HttpConfig = HttpConfig()
    sources: list[SourceConfig] = []
    clean: CleanConfig = CleanConfig()
    executor: ExecutorConfig = ExecutorConfig()
    splits: SplitsConfig = SplitsConfig()
    dedup: DedupConfig = DedupConfig()
    publish: PublishConfig = PublishConfig()
    finetune: FinetuneConfig = FinetuneConfig()
    refresh: RefreshConfig = RefreshConfig()
    config_path: Path | None = None

    @model_validator(mode="after")
    def _unique_names(self) -> Config:
        seen: set[str] = set()
        for s in self.sources:
            if s.name in seen:
                raise ValueError(f"duplicate source name {s.name!r}")
            seen.add(s.name)
        return self

    @property
    def base_dir(self) -> Path:
        """Directory that relative paths in the config are resolved against."""
        return self.config_path.parent if self.config_path else Path.cwd()

    def data_dir(self, override: str | os.PathLike[str] | None = None) -> Path:
        """The data dir: ``override`` (from ``--data-dir``, relative to the cwd) or ``[paths] data_dir``."""
        if override:
            return Path(override).expanduser().resolve()
        p = Path(os.path.expandvars(os.path.expanduser(self.paths.data_dir)))
        return (p if p.is_absolute() else self.base_dir / p).resolve()

    def enabled_sources(self) -> list[AnySource]:
        """Sources with ``enabled = true``, in config order."""
        return [s for s in self.sources if s.enabled]

    def source(self, name: str) -> AnySource:
        """The source called ``name``; :class:`ConfigError` listing the valid names otherwise."""
        for s in self.sources:
            if s.name == name:
                return s
        names = ", ".join(s.name for s in self.sources) or "none configured"
        raise ConfigError(f"{self.config_path}: no source named {name!r} (sources: {names})")


def _key_of(loc: tuple[Any, ...], data: dict[str, Any]) -> str:
    """``('sources', 2, 'table', 'columns')`` -> ``sources[2] ('qa').columns`` (the union tag dropped)."""
    out = ""
    node: Any = data
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
            node = node[part] if isinstance(node, list) and part < len(node) else None
            if isinstance(node, dict) and "name" in node:
                out += f" ({node['name']!r})"
            continue
        if isinstance(node, dict) and part not in node and part in SOURCE_KINDS:
            continue  # discriminator tag inserted by pydantic
        out += f".{part}" if out else str(part)
        node = node.get(part) if isinstance(node, dict) else None
    return out or "(top level)"


def format_validation_error(path: Path | str, err: ValidationError, data: dict[str, Any]) -> str:
    """One line per problem: ``<file>: <key>: <message>``."""
    lines = []
    for e in err.errors():
        key = _key_of(tuple(e["loc"]), data)
        msg = e["msg"]
        if e["type"] == "extra_forbidden":
            msg = "unknown key"
        elif e["type"] == "missing":
            msg = "missing required key"
        elif e["type"] == "union_tag_invalid":
            msg = (
                f"unknown kind {e['input'].get('kind')!r}; use one of {', '.join(SOURCE_KINDS)}"
                if isinstance(e.get("input"), dict)
                else msg
            )
        elif e["type"] == "union_tag_not_found":
            msg = f"missing required key 'kind' (one of {', '.join(SOURCE_KINDS)})"
        msg = msg.removeprefix("Value error, ")
        lines.append(f"{path}: {key}: {msg}")
    return "; ".join(lines)


def load_config(path: str | os.PathLike[str] | None) -> Config:
    """Load and validate a config file.

    ``path=None`` picks ``./jokemine.toml`` if present, else ``./configs/default.toml``, else the built-in
    defaults (no sources). Raises :class:`ConfigError` naming the file (and key) on any problem.
    """
    if path is None:
        for candidate in (Path("jokemine.toml"), Path("configs/default.toml")):
            if candidate.is_file():
                path = candidate
                break
        else:
            return Config()
    p = Path(path)
    try:
        with p.open("rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"{p}: config file not found") from None
    except OSError as e:
        raise ConfigError(f"{p}: cannot read config file: {e.strerror}") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{p}: invalid TOML: {e}") from None
    if "config_path" in data:
        raise ConfigError(f"{p}: config_path: unknown key")
    try:
        return Config.model_validate({**data, "config_path": p.resolve()})
    except ValidationError as e:
        raise ConfigError(format_validation_error(p, e, data)) from None
