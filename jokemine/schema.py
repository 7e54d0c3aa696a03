"""The one record schema every stage shares.

A record is a plain ``dict`` keyed by the field names below; :data:`RECORD_SCHEMA` is its Arrow form, used for
the clean Parquet shards, and :data:`RELEASE_CONFIGS` is the registry of release configs (their columns). The table
in the README is generated from :data:`FIELDS` (``python -m jokemine.schema``).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import pyarrow as pa

KINDS = ("setup_punch", "qa", "single")
"""``setup_punch``: a setup and a punchline; ``qa``: the setup is a question (also filled as question/answer);
``single``: one block of text (split into parts in a later stage)."""

SCORE_KINDS = ("upvotes", "net_votes", "mean_rating", "likes", "caption_votes")
"""``upvotes``: Reddit ``score`` (upvotes minus downvotes, as Reddit reports it); ``net_votes``: plus minus minus
votes on a site; ``mean_rating``: mean of annotator ratings (CleanComedy: 1-5); ``likes``: a plain like count;
``caption_votes``: mean of labelled votes (New Yorker caption contest: funny 3, somewhat funny 2, unfunny 1), the
counts in ``vote_counts``."""

SPLITS = ("train", "validation", "test")


class DropReason(StrEnum):
    """Why cleaning dropped a record (the ``drop_reason`` column), in the order the pipeline decides them; the one
    list that filters, stats, the dataset card and the README table read. Values are plain strings in Parquet."""

    DELETED = "deleted"
    REMOVED = "removed"
    DELETED_UPSTREAM = "deleted_upstream"
    MOD_POST = "mod_post"
    BOT = "bot"
    LINK_POST = "link_post"
    META_REPLY = "meta_reply"
    INCOMPLETE = "incomplete"
    EMPTY = "empty"
    TOO_SHORT = "too_short"
    TOO_LONG = "too_long"
    TRUNCATED = "truncated"
    EXACT_DUPLICATE = "exact_duplicate"
    NEAR_DUPLICATE = "near_duplicate"
    SPLIT_CONFLICT = "split_conflict"
    LANGUAGE = "language"

    @property
    def meaning(self) -> str:
        """What the reason means, for the README and the card."""
        return _DROP_MEANINGS[self]


_DROP_MEANINGS: dict[DropReason, str] = {
    DropReason.DELETED: "a text field is Reddit's `[deleted]` (Reddit-derived tables carry it too), an Arctic Shift "
    "dump's `_meta` says its author deleted it later (`was_deleted_later`), or a reply's post was deleted",
    DropReason.REMOVED: "`[removed]`, `removed_by_category` set, or a dump's `_meta` says it was removed later "
    "(`was_deleted_later` with a `removal_type` other than `deleted`)",
    DropReason.DELETED_UPSTREAM: "a stored post found deleted or removed (or gone) when re-read from the live API",
    DropReason.MOD_POST: "stickied, or distinguished as a moderator/admin post (announcements)",
    DropReason.BOT: "a reply by AutoModerator or a bot account (a name ending in `bot`, a `bots` entry, or a body "
    "that says it is a bot)",
    DropReason.LINK_POST: "link or image post (`is_self` false) or a body that is only a URL; a reply to such a post "
    "(its setup would lack the picture)",
    DropReason.META_REPLY: "a reply that only quotes, links or names a subreddit, or only talks about the thread "
    '("repost", "this", "take my upvote", "I\'ll see myself out")',
    DropReason.INCOMPLETE: "a mapped question without an answer, or the reverse",
    DropReason.EMPTY: "nothing left after cleaning",
    DropReason.TOO_SHORT: "shorter than `[clean] min_chars`",
    DropReason.TOO_LONG: "longer than `[clean] max_chars`",
    DropReason.TRUNCATED: "only a listing's cut copy of a story exists (its full `/id/` page is missing so far)",
    DropReason.EXACT_DUPLICATE: "same normalized text (case-, punctuation-, whitespace-insensitive) as its cluster's "
    "survivor",
    DropReason.NEAR_DUPLICATE: "in one near-duplicate cluster with a better record (reworded repost, see below)",
    DropReason.SPLIT_CONFLICT: "new, and its split group joins ids already published in different splits (held out so "
    "that no published id changes split; see Splits)",
    DropReason.LANGUAGE: "detected language not in `[clean] languages`",
}


def drop_reason_table() -> str:
    """The drop reasons as a Markdown table (README "Clean")."""
    return "\n".join(["| drop reason | meaning |", "|---|---|", *(f"| `{r}` | {r.meaning} |" for r in DropReason)])


TS = pa.timestamp("us", tz="UTC")


@dataclass(frozen=True)
class Field:
    """One column: name, Arrow type and what it holds (units included)."""

    name: str
    type: pa.DataType
    doc: str


FIELDS: tuple[Field, ...] = (
    Field(
        "id",
        pa.string(),
        "`<namespace>:<source_id>`; namespace is `reddit` for Reddit posts (one post, one id, "
        "whatever dump or API it came from), else the source name. Stable across releases.",
    ),
    Field("source", pa.string(), "Name of the configured source the record came from."),
    Field(
        "source_id",
        pa.string(),
        "Id in the origin (Reddit base-36 id, table `id` column, or a content hash).",
    ),
    Field("url", pa.string(), "Canonical URL of the joke, when the origin has one."),
    Field(
        "lang",
        pa.string(),
        "ISO 639-1 code from language ID (`[clean] langid`, default fastText's lid.176), or declared by the "
        "source; `und` when undetermined (no letters, or a short text placed outside `[clean] languages`); null "
        "for records dropped before language identification.",
    ),
    Field("title", pa.string(), "Post title after cleaning (Reddit, title/body tables)."),
    Field("body", pa.string(), "Post body after cleaning."),
    Field("text", pa.string(), "The whole joke as one text (setup + newline + punchline for two-part jokes)."),
    Field("kind", pa.string(), "`setup_punch`, `qa` or `single`."),
    Field(
        "structure",
        pa.string(),
        "How setup and punchline were found (`jokemine.cleaning.structure`): `qa_columns`, `setup_columns`, "
        "`title_body`, "
        "`qa_marker`, `question`, `dialogue`, `last_sentence`, `sentence` (another sentence, turn or quote start "
        "than the rule's), `turn` (a cut inside a sentence), `one_liner`; "
        "`body:<rule>` when a Reddit title was a label and the body was split.",
    ),
    Field(
        "structure_confidence",
        pa.float32(),
        "Calibrated probability that the setup/punchline boundary of a one-piece text is exactly right (the learned "
        "boundary model, `jokemine.cleaning.boundary`; reliability on held-out labels in the card); 0.95 for "
        "`qa_marker`; null when the source gave the parts (`qa_columns`, `setup_columns`, "
        "`title_body`).",
    ),
    Field("setup", pa.string(), "First part of a two-part joke (also set for `qa`)."),
    Field("punchline", pa.string(), "Second part of a two-part joke (also set for `qa`)."),
    Field("question", pa.string(), "Question of a `qa` joke."),
    Field("answer", pa.string(), "Answer of a `qa` joke."),
    Field("category", pa.string(), "Origin category: `r/<subreddit>` for Reddit, the mapped column for tables."),
    Field("tags", pa.list_(pa.string()), "Tags or flair from the origin."),
    Field(
        "author_hash",
        pa.string(),
        "BLAKE2b-64 of a per-data-dir secret salt + author name; raw names never leave raw/.",
    ),
    Field("created_at", TS, "When the joke was posted (UTC), when known."),
    Field("fetched_at", TS, "When jokemine read the record from its origin (UTC)."),
    Field(
        "score_retrieved_at",
        TS,
        "When the score was observed (UTC): the dump's own `retrieved_utc`/`retrieved_on`, or the time of an API "
        "read; null when unknown. Of several observations of one id the latest wins (see README).",
    ),
    Field("score", pa.float64(), "Raw like count or rating as the origin reports it (see `score_kind`)."),
    Field(
        "score_kind",
        pa.string(),
        "`upvotes`, `net_votes`, `mean_rating`, `likes` or `caption_votes`; null when unscored.",
    ),
    Field(
        "score_norm",
        pa.float64(),
        "Percentile of `score` in [0, 1] within its cohort (source x score kind x month of "
        "`created_at`; source x score kind when undated); ties share the mean rank. Null when unscored.",
    ),
    Field("votes_up", pa.int64(), "Up (plus) votes, where the origin shows them (anekdot.ru)."),
    Field("votes_down", pa.int64(), "Down (minus) votes, where the origin shows them; `score` = up - down then."),
    Field(
        "vote_counts",
        pa.list_(pa.struct([pa.field("label", pa.string()), pa.field("count", pa.int64())])),
        "Votes per label where the origin counts labelled votes (a caption contest's funny / somewhat_funny / "
        "unfunny); `score` is then their mean value (`caption_votes`). Null elsewhere.",
    ),
    Field("upvote_ratio", pa.float64(), "Reddit upvote ratio in [0, 1], when the origin has it."),
    Field("num_comments", pa.int64(), "Number of comments, when the origin has it."),
    Field(
        "thread_id",
        pa.string(),
        "For a reply in a thread (a Reddit comment, an answer to a Q&A question): the record id of the thread's "
        "post or question (`reddit:<post id>`); its setup is that post. Null for other records.",
    ),
    Field(
        "parent_id",
        pa.string(),
        "For a reply: the record id of what it answers, the thread (`thread_id`) for a top-level reply, else the "
        "parent reply (`reddit:t1_<comment id>`). Null for other records.",
    ),
    Field("depth", pa.int64(), "For a reply: 0 when it answers the post, 1 when it answers a top-level reply, ..."),
    Field("thread_score", pa.float64(), "For a reply: the score of its thread's post (same kind as `score`)."),
    Field(
        "score_norm_thread",
        pa.float64(),
        "For a reply: the percentile of `score` among the published replies to the same parent (its siblings), "
        "ranked as `score_norm`; set when the release is built (null in clean shards).",
    ),
    Field(
        "nsfw",
        pa.bool_(),
        "Not safe for work: `nsfw_over_18` OR `nsfw_wordlist` (true when either is true, false when neither is true "
        "and one is known, null when both are null). Never a reason to drop.",
    ),
    Field("nsfw_over_18", pa.bool_(), "The origin's over-18 mark (Reddit `over_18`); null where the origin has none."),
    Field(
        "nsfw_wordlist",
        pa.bool_(),
        "Whether the text holds a word of the English/Russian NSFW word lists (`jokemine.cleaning.nsfw`); null for "
        "a language without a list.",
    ),
    Field(
        "truncated",
        pa.bool_(),
        "The origin showed only the start of the text (a listing's cut story); a complete copy of the same id "
        "wins over it, and a cut copy left alone is dropped as `truncated`.",
    ),
    Field("drop_reason", pa.string(), "Why cleaning dropped the record; null when kept."),
    Field(
        "dup_cluster",
        pa.string(),
        "Id of the kept member of the record's duplicate cluster (exact and near-duplicates; its own id when it "
        "has no duplicate); null for records dropped before deduplication.",
    ),
    Field(
        "dup_cluster_size",
        pa.int64(),
        "Number of records in the duplicate cluster (1 = unique); null for records dropped before deduplication.",
    ),
    Field(
        "also_in",
        pa.list_(pa.string()),
        "For a kept record: the other sources its joke was also found in (as exact or near-duplicates); null "
        "for dropped records.",
    ),
    Field("split", pa.string(), "`train`, `validation` or `test` (kept records only)."),
    Field(
        "text_key",
        pa.string(),
        "Hex BLAKE2b-64 of the normalized text (case-, punctuation- and "
        "whitespace-insensitive): the exact-duplicate key.",
    ),
    Field(
        "group_key",
        pa.string(),
        "Hex BLAKE2b-64 of the normalized setup (or question, or text): all punchlines of one setup share it.",
    ),
    Field(
        "split_key",
        pa.string(),
        "The split group: the smallest `group_key` among the records joined to this one by a shared setup or "
        "a duplicate cluster; `split` is a salted hash of it, unless the group was published before (then it keeps "
        "that split). Null for dropped records.",
    ),
    Field(
        "origin",
        pa.string(),
        "Where the raw record is kept: `raw/<source>/<run>/part-NNNNN.jsonl.zst:<line>`.",
    ),
)

RECORD_SCHEMA = pa.schema([pa.field(f.name, f.type) for f in FIELDS])
FIELD_NAMES = tuple(f.name for f in FIELDS)

_COMMON = (
    "id",
    "lang",
    "source",
    "category",
    "score",
    "score_kind",
    "score_norm",
    "upvote_ratio",
    "num_comments",
    "nsfw",
    "nsfw_over_18",
    "nsfw_wordlist",
    "created_at",
    "url",
)
_THREAD = ("thread_id", "parent_id", "depth", "thread_score", "score_norm_thread")

PUNCHLINE_ITEM = pa.struct(
    [
        pa.field("punchline", pa.string()),
        pa.field("id", pa.string()),
        pa.field("source", pa.string()),
        pa.field("score", pa.float64()),
        pa.field("score_kind", pa.string()),
        pa.field("score_norm", pa.float64()),
        pa.field("created_at", TS),
    ]
)


@dataclass(frozen=True)
class ReleaseConfig:
    """One config of a release (a ``load_dataset(repo, name)`` name): the one registry entry that the release
    builder, the validation gate, the changelog, the dataset card and the baseline fine-tune read.

    A *record* config (``grouped`` False) has one row per kept record that has every field of ``requires``
    (non-null), with ``columns`` (fields of :data:`FIELDS`, in order). A *grouped* config
    (:mod:`jokemine.publish.groups`) has its own ``fields``. ``id_column``: the column that identifies a row
    across splits (the validation gate checks that no value is in two splits). ``prompt_target``: the columns a
    baseline fine-tune reads as prompt and target (None: not a fine-tuning config). ``description``: one line for
    the card's config table. ``default``: the config ``load_dataset(repo)`` opens. ``optional``: a config whose rows
    come from few split groups (threads, setups) and may leave a split empty in small data: it is then left out of
    the release (logged) rather than failing the validation gate.
    """

    name: str
    description: str
    columns: tuple[str, ...] = ()
    fields: tuple[Field, ...] = ()
    requires: tuple[str, ...] = ()
    id_column: str = "id"
    prompt_target: tuple[str, str] | None = None
    grouped: bool = False
    default: bool = False
    optional: bool = False

    @property
    def column_names(self) -> list[str]:
        """The config's columns, in order."""
        return [f.name for f in self.fields] if self.grouped else list(self.columns)

    @property
    def column_fields(self) -> tuple[Field, ...]:
        """The config's columns as :class:`Field` (name, type, meaning), in order (the card's Fields table)."""
        if self.grouped:
            return self.fields
        by_name = {f.name: f for f in FIELDS}
        return tuple(by_name[n] for n in self.columns)

    def schema(self) -> pa.Schema:
        """Arrow schema of the config: a projection of :data:`RECORD_SCHEMA`, or the grouped config's own fields."""
        if self.grouped:
            return pa.schema([pa.field(f.name, f.type) for f in self.fields])
        return pa.schema([RECORD_SCHEMA.field(name) for name in self.columns])


RELEASE_CONFIGS: dict[str, ReleaseConfig] = {
    c.name: c
    for c in (
        ReleaseConfig(
            "setup_punch",
            "two-part jokes: `setup` -> `punchline` (Reddit title -> body, question -> answer, thread post -> reply, "
            "caption contest -> caption)",
            columns=("setup", "punchline", "kind", "structure", "structure_confidence", *_COMMON),
            requires=("setup", "punchline"),
            prompt_target=("setup", "punchline"),
            default=True,
        ),
        ReleaseConfig(
            "qa",
            "question -> answer jokes (`question`, `answer`)",
            columns=("question", "answer", *_COMMON),
            requires=("question", "answer"),
            prompt_target=("question", "answer"),
        ),
        ReleaseConfig(
            "jokes",
            "one row per joke with the whole `text` and every field",
            columns=(
                "text",
                "kind",
                "structure",
                "structure_confidence",
                "title",
                "body",
                "setup",
                "punchline",
                "question",
                "answer",
                *_COMMON,
                "votes_up",
                "votes_down",
                "vote_counts",
                "source_id",
                "tags",
                "author_hash",
                "fetched_at",
                "dup_cluster",
                "dup_cluster_size",
                "also_in",
                "thread_id",
                "parent_id",
                "depth",
                "thread_score",
            ),
            requires=("text",),
        ),
        ReleaseConfig(
            "threads",
            "one row per reply of a thread (Reddit comments, Q&A answers): the post as `setup`, the reply as "
            "`punchline`, its score, its rank among its siblings and the thread fields",
            columns=("setup", "punchline", "kind", *_THREAD, *_COMMON),
            requires=("thread_id", "setup", "punchline"),
            prompt_target=("setup", "punchline"),
            optional=True,
        ),
        ReleaseConfig(
            "setup_punches",
            "one row per setup with its distinct punchlines and their scores, best first (rating models; threads "
            "and caption contests give hundreds per setup)",
            fields=(
                Field("setup", pa.string(), "The setup (its most frequent wording)."),
                Field(
                    "num_punchlines",
                    pa.int64(),
                    "Number of distinct punchlines (>= `[publish] setup_punches_min`), before the cap.",
                ),
                Field(
                    "punchlines",
                    pa.list_(PUNCHLINE_ITEM),
                    "The distinct punchlines, best `score_norm` first (unscored last), at most `[publish] "
                    "setup_punches_max`: `punchline`, `id`, `source`, `score`, `score_kind`, `score_norm`, "
                    "`created_at` as in the `jokes` config.",
                ),
                Field("lang", pa.string(), "Language of the best-scored punchline's joke."),
                Field("group_key", pa.string(), "Hex BLAKE2b-64 of the normalized setup (as in `jokes`)."),
            ),
            id_column="group_key",
            grouped=True,
            optional=True,
        ),
        ReleaseConfig(
            "preference",
            "`prompt`, `chosen`, `rejected`: two punchlines of one setup (siblings of one thread for replies), the "
            "chosen one preferred by its scores (reward models)",
            fields=(
                Field("prompt", pa.string(), "The setup."),
                Field("chosen", pa.string(), "The preferred punchline (see `[publish] preference_rule`)."),
                Field("rejected", pa.string(), "The other punchline of the same setup (a sibling, for replies)."),
                Field(
                    "score_chosen", pa.float64(), "Raw score of the chosen punchline's joke (as `score` in `jokes`)."
                ),
                Field("score_rejected", pa.float64(), "Raw score of the rejected punchline's joke."),
                Field("score_norm_chosen", pa.float64(), "`score_norm` of the chosen punchline's joke."),
                Field("score_norm_rejected", pa.float64(), "`score_norm` of the rejected punchline's joke."),
                Field(
                    "score_ratio",
                    pa.float64(),
                    "`score_chosen / score_rejected` for vote counts (`upvotes`, `net_votes`, `likes`) with a "
                    "positive rejected score, as SHP's `score_ratio`; null otherwise.",
                ),
                Field("created_at_chosen", TS, "When the chosen punchline's joke was posted (UTC), when known."),
                Field("created_at_rejected", TS, "When the rejected punchline's joke was posted (UTC), when known."),
                Field("id_chosen", pa.string(), "Record id of the chosen punchline's joke."),
                Field("id_rejected", pa.string(), "Record id of the rejected punchline's joke."),
                Field("score_kind", pa.string(), "The kind of both raw scores (pairs never mix kinds)."),
                Field("lang", pa.string(), "Language of the chosen punchline's joke."),
                Field("group_key", pa.string(), "Hex BLAKE2b-64 of the normalized setup (as in `jokes`)."),
                Field(
                    "thread_id",
                    pa.string(),
                    "For a pair of replies: their thread (`thread_id` in `threads`); null otherwise.",
                ),
            ),
            id_column="id_chosen",
            grouped=True,
            optional=True,
        ),
    )
}
"""Every release config, in the order a release lists them (``setup_punch`` is the default)."""


def release_config(name: str) -> ReleaseConfig:
    """The registry entry of config ``name``. Raises KeyError naming the known configs."""
    try:
        return RELEASE_CONFIGS[name]
    except KeyError:
        raise KeyError(f"unknown release config {name!r}; configs: {', '.join(RELEASE_CONFIGS)}") from None


def empty_record() -> dict[str, Any]:
    """A record with every field set to null (``tags`` to an empty list)."""
    rec: dict[str, Any] = dict.fromkeys(FIELD_NAMES)
    rec["tags"] = []
    return rec


def make_id(namespace: str, source_id: str) -> str:
    """The stable record id ``<namespace>:<source_id>``."""
    return f"{namespace}:{source_id}"


def release_schema(config: str) -> pa.Schema:
    """Arrow schema of one release config (:meth:`ReleaseConfig.schema`). Raises KeyError for an unknown config."""
    return release_config(config).schema()


def markdown_table(fields: tuple[Field, ...] = FIELDS) -> str:
    """``fields`` (default: the record schema) as a Markdown table (used in the README and the dataset card)."""
    rows = ["| field | type | meaning |", "|---|---|---|"]
    rows += [f"| `{f.name}` | `{f.type}` | {f.doc} |" for f in fields]
    return "\n".join(rows)


if __name__ == "__main__":  # pragma: no cover
    print(drop_reason_table() + "\n")
    print(markdown_table())
    for c in RELEASE_CONFIGS.values():
        if c.grouped:
            print(f"\nConfig `{c.name}`:\n")
            print(markdown_table(c.fields))
