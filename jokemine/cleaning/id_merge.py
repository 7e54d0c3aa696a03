"""Clean's first global stages: one record per id (partitioned by ``id``), then ``score_norm`` (partitioned by
cohort).

Inputs: the key columns of every pass-1 shard, scattered by id (``ids``), and the split ledger's entries
(:mod:`jokemine.splits.ledger`), scattered by id (``pub``, :func:`scatter_ledger`). Outputs: the decisions for
records that are dropped here (``dec``, by shard) and the live records with their ``score_norm`` and the split
they were first published in (``published``; ``live``, by shard).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa

from jokemine.cleaning.scores import cohort_percentiles
from jokemine.cleaning.shuffle import Work, part_of_strings, schema
from jokemine.pipeline import storage
from jokemine.pipeline.steps import Stats
from jokemine.schema import DropReason

TS = pa.timestamp("us", tz="UTC")
KEY_SCHEMA = schema(
    id=pa.string(),
    source=pa.string(),
    truncated=pa.bool_(),
    group_key=pa.string(),
    lang=pa.string(),
    score_retrieved_at=TS,
    fetched_at=TS,
    drop_reason=pa.string(),
    text_key=pa.string(),
    score=pa.float64(),
    score_kind=pa.string(),
    created_at=TS,
    shard=pa.int64(),
    row=pa.int64(),
)
KEY_COLUMNS = [c for c in KEY_SCHEMA.names if c not in ("shard", "row")]
LIVE_SCHEMA = schema(
    id=pa.string(),
    source=pa.string(),
    score=pa.float64(),
    score_kind=pa.string(),
    created_at=TS,
    created_fill=TS,
    shard=pa.int64(),
    row=pa.int64(),
    text_key=pa.string(),
    group_key=pa.string(),
    lang=pa.string(),
    score_norm=pa.float64(),
    published=pa.string(),
)
PUB_SCHEMA = schema(id=pa.string(), split=pa.string())
DEC_SCHEMA = schema(
    row=pa.int64(),
    drop_reason=pa.string(),
    score_norm=pa.float64(),
    dup_cluster=pa.string(),
    dup_cluster_size=pa.int64(),
    also_in=pa.list_(pa.string()),
    split_key=pa.string(),
    split=pa.string(),
    lang_hint=pa.string(),
    created_fill=TS,
)


@dataclass(frozen=True)
class LedgerTask:
    """One file of the split ledger (its URL; ``seq``: its position, oldest first)."""

    work: Work
    url: str
    seq: int


def scatter_ledger(task: LedgerTask) -> Stats:
    """The ledger file's ``(id, split)`` rows, scattered by id to ``pub`` (file ``<seq>.parquet``, so a
    partition's files read in publish order)."""
    df = storage.read_frames([task.url], PUB_SCHEMA)
    task.work.scatter("pub", df, part_of_strings(df["id"], task.work.partitions), f"{task.seq:05d}", PUB_SCHEMA)
    return Stats()


@dataclass(frozen=True)
class IdTask:
    """Partition ``p`` of the ids: ``shards`` pass-1 shards exist; ``source_order`` ranks sources (config order);
    ``live_sources`` are the sources read from a live API (their re-reads can undo a deletion)."""

    work: Work
    p: int
    shards: int
    source_order: dict[str, int]
    live_sources: frozenset[str]


def merge_ids(task: IdTask) -> Stats:
    """One record per id.

    Of several observations of one id (the same Reddit post in two dumps, or re-read from the API) a complete
    one wins over a ``truncated`` one (which is dropped when alone), then the one with the latest
    ``score_retrieved_at`` (unknown times last), then the one with a ``created_at``, then the source listed
    first in the config, then the latest ``fetched_at``, then the later shard and row. A deletion found on a live
    re-read sticks: the id stays dropped (``deleted_upstream``) unless a later live read shows the post again,
    whatever a dump retrieved afterwards says. A winner without ``created_at`` takes the earliest one of its id
    (``created_fill``). Counts ``merged_same_id`` per source.
    """
    stats = Stats()
    df = task.work.gather("ids", task.p, KEY_SCHEMA)
    order = task.source_order
    df["order"] = df["source"].map(order).fillna(len(order))
    df["dated"] = df["created_at"].notna()
    df["whole"] = ~df["truncated"].fillna(False).astype(bool)
    df = df.sort_values(
        ["id", "whole", "score_retrieved_at", "dated", "order", "fetched_at", "shard", "row"],
        ascending=[True, False, False, False, True, False, False, False],
        na_position="last",
        kind="mergesort",
    )
    is_del = df["drop_reason"].eq(DropReason.DELETED_UPSTREAM)
    sticky: set[str] = set()
    if is_del.any():
        del_time = df.loc[is_del].groupby("id")["score_retrieved_at"].max()
        live_read = df["source"].isin(task.live_sources) & ~is_del
        shown = df.loc[live_read].groupby("id")["score_retrieved_at"].max().reindex(del_time.index)
        sticky = set(del_time.index[shown.isna() | (shown < del_time)])
    earliest = df.groupby("id")["created_at"].min()
    merged = df.duplicated("id", keep="first")
    for source, n in df.loc[merged, "source"].value_counts().items():
        stats.add("merged_same_id", str(source), n=int(n))
    df = df.loc[~merged].copy()
    df.loc[~df["whole"] & df["drop_reason"].isna(), "drop_reason"] = DropReason.TRUNCATED.value
    fill = pd.Series(earliest.reindex(df["id"].to_numpy()).to_numpy(), index=df.index)  # .map fails on no rows
    fill = pd.to_datetime(fill, utc=True).astype(df["created_at"].dtype)  # one unit: fillna warns across units
    df["created_fill"] = fill.where(df["created_at"].isna())
    df["created_at"] = df["created_at"].fillna(df["created_fill"])
    if sticky:
        df.loc[df["id"].isin(sticky), "drop_reason"] = DropReason.DELETED_UPSTREAM.value
    live = df["drop_reason"].isna()
    gone = df.loc[~live].assign(score_norm=np.nan, dup_cluster=None, dup_cluster_size=None, also_in=None)
    gone = gone.assign(split_key=None, split=None, lang_hint=None)
    tag = f"ids-{task.p:05d}"
    task.work.scatter("dec", gone, gone["shard"].to_numpy(), tag, DEC_SCHEMA, n=task.shards)
    pub = task.work.gather("pub", task.p, PUB_SCHEMA).drop_duplicates("id", keep="first")
    kept = df.loc[live].assign(score_norm=np.nan)
    first = pd.Series(pub["split"].to_numpy(), index=pub["id"].to_numpy(), dtype=object)
    kept["published"] = first.reindex(kept["id"].to_numpy()).astype(object).where(lambda s: s.notna(), None).to_numpy()
    task.work.scatter("coh", kept, part_of_strings(cohort_keys(kept), task.work.partitions), tag, LIVE_SCHEMA)
    return stats


def cohort_keys(df: pd.DataFrame) -> pd.Series:
    """The cohort of each row as one string, ``source \\0 score_kind \\0 YYYY-MM`` (``undated`` without a date;
    see :mod:`jokemine.cleaning.scores`), for partitioning."""
    if df.empty:
        return pd.Series([], dtype="object")
    month = pd.to_datetime(df["created_at"], utc=True).dt.strftime("%Y-%m").fillna("undated")
    return df["source"].astype(str) + "\x00" + df["score_kind"].fillna("").astype(str) + "\x00" + month


@dataclass(frozen=True)
class CohortTask:
    """Partition ``q`` of the cohorts."""

    work: Work
    q: int
    shards: int


def cohort_scores(task: CohortTask) -> Stats:
    """``score_norm`` for the live records of the cohorts in partition ``q``
    (:func:`jokemine.cleaning.scores.cohort_percentiles`: every cohort is whole in one partition), scattered to
    ``live`` by shard."""
    df = task.work.gather("coh", task.q, LIVE_SCHEMA)
    df["score_norm"] = cohort_percentiles(df)
    task.work.scatter("live", df, df["shard"].to_numpy(), f"coh-{task.q:05d}", LIVE_SCHEMA, n=task.shards)
    return Stats()
