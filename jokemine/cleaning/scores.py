"""Normalized scores: ``score_norm`` = percentile of ``score`` within its cohort.

Cohort = (source, score_kind, calendar month of ``created_at`` in UTC); records without a date form one cohort
per (source, score_kind). Within a cohort of n scored records, with r the mean rank of the score (ties share
it: "average" ranking, https://pandas.pydata.org/docs/reference/api/pandas.Series.rank.html),
``score_norm = (r - 1) / (n - 1)``, so the lowest score gets 0 and the highest 1; a cohort of one gets 0.5.
A 2012 post with 500 upvotes and a 2023 post with 5,000 are comparable this way.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def cohort_percentiles(df: pd.DataFrame) -> pd.Series:
    """``score_norm`` for rows of ``df`` (columns ``source``, ``score_kind``, ``score``, ``created_at``);
    NaN where ``score`` is missing."""
    out = pd.Series(np.nan, index=df.index, dtype="float64")
    scored = df[df["score"].notna()]
    if scored.empty:
        return out
    created = pd.to_datetime(scored["created_at"], utc=True)
    month = created.dt.strftime("%Y-%m").fillna("undated")
    keys = [scored["source"], scored["score_kind"].fillna(""), month]
    ranks = scored["score"].groupby(keys).rank(method="average")
    sizes = scored["score"].groupby(keys).transform("size")
    norm = np.where(sizes > 1, (ranks - 1) / (sizes - 1).clip(lower=1), 0.5)
    out.loc[scored.index] = norm
    return out


def sibling_percentiles(df: pd.DataFrame) -> pd.Series:
    """``score_norm_thread`` for rows of ``df`` (columns ``parent_id``, ``score``): the percentile of ``score`` among
    the rows with the same ``parent_id`` (a reply's siblings), ranked as :func:`cohort_percentiles` (average rank,
    ``(r - 1) / (n - 1)``, 0.5 for an only child). NaN where ``score`` or ``parent_id`` is missing."""
    out = pd.Series(np.nan, index=df.index, dtype="float64")
    scored = df[df["score"].notna() & df["parent_id"].notna()]
    if scored.empty:
        return out
    groups = scored["score"].groupby(scored["parent_id"])
    ranks, sizes = groups.rank(method="average"), groups.transform("size")
    out.loc[scored.index] = np.where(sizes > 1, (ranks - 1) / (sizes - 1).clip(lower=1), 0.5)
    return out
