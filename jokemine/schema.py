"""The one record schema every stage shares.

A record is a plain ``dict`` keyed by the field names below; :data:`RECORD_SCHEMA` is its Arrow form, used for
the clean Parquet shards, and :data:`RELEASE_COLUMNS` names the columns each release config publishes. The table
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
    LINK_POST = "link_post"
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
    DropReason.DELETED: "a text field is Reddit's `[deleted]` (Reddit-derived tables carry it too)",
    DropReason.REMOVED: "`[removed]`, or `removed_by_category` set",
    DropReason.DELETED_UPSTREAM: "a stored post found deleted or removed (or gone) when re-read from the live API",
    DropReason.MOD_POST: "stickied, or distinguished as a moderator/admin post (announcements)",
    DropReason.LINK_POST: "link or image post (`is_self` false) or a body that is only a URL",
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

_COMMON = [
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
]
RELEASE_COLUMNS: dict[str, list[str]] = {
    "setup_punch": ["setup", "punchline", "kind", "structure", "structure_confidence", *_COMMON],
    "qa": ["question", "answer", *_COMMON],
    "jokes": [
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
    ],
}
"""Columns of each release config, in order (``setup_punch`` is the default config)."""

PUNCHLINE_ITEM = pa.struct(
    [
        pa.field("punchline", pa.string()),
        pa.field("id", pa.string()),
        pa.field("source", pa.string()),
        pa.field("score", pa.float64()),
        pa.field("score_kind", pa.string()),
        pa.field("score_norm", pa.float64()),
    ]
)

GROUPED_FIELDS: dict[str, tuple[Field, ...]] = {
    "setup_punches": (
        Field("setup", pa.string(), "The setup (its most frequent wording)."),
        Field("num_punchlines", pa.int64(), "Number of distinct punchlines (>= `[publish] setup_punches_min`)."),
        Field(
            "punchlines",
            pa.list_(PUNCHLINE_ITEM),
            "The distinct punchlines, best `score_norm` first: `punchline`, `id`, `source`, `score`, `score_kind`, "
            "`score_norm` as in the `jokes` config.",
        ),
        Field("lang", pa.string(), "Language of the best-scored punchline's joke."),
        Field("group_key", pa.string(), "Hex BLAKE2b-64 of the normalized setup (as in `jokes`)."),
    ),
    "preference": (
        Field("prompt", pa.string(), "The setup."),
        Field("chosen", pa.string(), "The preferred punchline (see `[publish] preference_rule`)."),
        Field("rejected", pa.string(), "The other punchline of the same setup."),
        Field("score_chosen", pa.float64(), "Raw score of the chosen punchline's joke (as `score` in `jokes`)."),
        Field("score_rejected", pa.float64(), "Raw score of the rejected punchline's joke."),
        Field("score_norm_chosen", pa.float64(), "`score_norm` of the chosen punchline's joke."),
        Field("score_norm_rejected", pa.float64(), "`score_norm` of the rejected punchline's joke."),
        Field(
            "score_ratio",
            pa.float64(),
            "`score_chosen / score_rejected` for vote counts (`upvotes`, `net_votes`, `likes`) with a positive "
            "rejected score, as SHP's `score_ratio`; null otherwise.",
        ),
        Field("created_at_chosen", TS, "When the chosen punchline's joke was posted (UTC), when known."),
        Field("created_at_rejected", TS, "When the rejected punchline's joke was posted (UTC), when known."),
        Field("id_chosen", pa.string(), "Record id of the chosen punchline's joke."),
        Field("id_rejected", pa.string(), "Record id of the rejected punchline's joke."),
        Field("score_kind", pa.string(), "The kind of both raw scores (pairs never mix kinds)."),
        Field("lang", pa.string(), "Language of the chosen punchline's joke."),
        Field("group_key", pa.string(), "Hex BLAKE2b-64 of the normalized setup (as in `jokes`)."),
    ),
}
"""Configs built by grouping records (``jokemine.publish.groups``) rather than one row per record."""

RELEASE_CONFIGS = tuple(RELEASE_COLUMNS) + tuple(GROUPED_FIELDS)


def empty_record() -> dict[str, Any]:
    """A record with every field set to null (``tags`` to an empty list)."""
    rec: dict[str, Any] = dict.fromkeys(FIELD_NAMES)
    rec["tags"] = []
    return rec


def make_id(namespace: str, source_id: str) -> str:
    """The stable record id ``<namespace>:<source_id>``."""
    return f"{namespace}:{source_id}"


def release_schema(config: str) -> pa.Schema:
    """Arrow schema of one release config: a projection of :data:`RECORD_SCHEMA`, or a grouped config's own
    (:data:`GROUPED_FIELDS`). Raises KeyError for an unknown config."""
    if config in GROUPED_FIELDS:
        return pa.schema([pa.field(f.name, f.type) for f in GROUPED_FIELDS[config]])
    return pa.schema([RECORD_SCHEMA.field(name) for name in RELEASE_COLUMNS[config]])


def markdown_table(fields: tuple[Field, ...] = FIELDS) -> str:
    """``fields`` (default: the record schema) as a Markdown table (used in the README and the dataset card)."""
    rows = ["| field | type | meaning |", "|---|---|---|"]
    rows += [f"| `{f.name}` | `{f.type}` | {f.doc} |" for f in fields]
    return "\n".join(rows)


if __name__ == "__main__":  # pragma: no cover
    print(drop_reason_table() + "\n")
    print(markdown_table())
    for name, fields in GROUPED_FIELDS.items():
        print(f"\nConfig `{name}`:\n")
        print(markdown_table(fields))
