"""Duplicate removal across sources.

Exact duplicates: records with the same ``text_key`` (normalized text: case-, punctuation- and
whitespace-insensitive, :func:`jokemine.cleaning.text.normalize_key`) form a cluster. The survivor is the member
with the highest ``score_norm`` (unscored last), then the earliest ``created_at`` (undated last), then the
smallest ``id``: deterministic whatever the input order. Every member gets ``dup_cluster`` = the survivor's id;
the others get ``drop_reason = "exact_duplicate"``.
"""

from __future__ import annotations

import pandas as pd


def exact_duplicates(df: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """For rows of ``df`` (columns ``id``, ``text_key``, ``score_norm``, ``created_at``), return
    ``(dup_cluster, is_duplicate)`` aligned with ``df.index``."""
    if df.empty:
        return pd.Series([], dtype="object"), pd.Series([], dtype="bool")
    order = df.sort_values(
        ["text_key", "score_norm", "created_at", "id"],
        ascending=[True, False, True, True],
        na_position="last",
        kind="mergesort",
    )
    survivor = order.groupby("text_key", sort=False)["id"].transform("first")
    is_dup = survivor != order["id"]
    return survivor.reindex(df.index), is_dup.reindex(df.index)
