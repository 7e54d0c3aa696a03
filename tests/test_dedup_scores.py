from __future__ import annotations

import math
from datetime import UTC, datetime

import pandas as pd

from jokemine.cleaning.dedup import exact_duplicates
from jokemine.cleaning.scores import cohort_percentiles


def _ts(y: int, m: int, d: int = 1) -> datetime:
    return datetime(y, m, d, tzinfo=UTC)


def test_percentiles_per_source_and_month_with_shared_ties() -> None:
    df = pd.DataFrame(
        {
            "source": ["r", "r", "r", "r", "r", "q", "q"],
            "score_kind": ["upvotes"] * 5 + ["mean_rating"] * 2,
            "score": [500.0, 10.0, 10.0, 5000.0, 1.0, 4.6, None],
            "created_at": [
                _ts(2012, 5),
                _ts(2012, 5, 3),
                _ts(2012, 5, 9),
                _ts(2023, 1),
                _ts(2023, 1, 2),
                None,
                None,
            ],
        }
    )
    p = cohort_percentiles(df)
    assert p.iloc[0] == 1.0 and p.iloc[1] == p.iloc[2] == 0.25  # 2012-05: 10, 10, 500
    assert p.iloc[3] == 1.0 and p.iloc[4] == 0.0  # 2023-01: a 2012 post with 500 ~ a 2023 post with 5000
    assert p.iloc[5] == 0.5 and math.isnan(p.iloc[6])  # a cohort of one; unscored


def test_exact_dedup_survivor_is_best_scored_then_earliest_then_smallest_id() -> None:
    df = pd.DataFrame(
        {
            "id": ["b:1", "a:1", "c:1", "d:1", "e:1", "f:1"],
            "text_key": ["k1", "k1", "k1", "k2", "k2", "k3"],
            "score_norm": [0.9, 0.9, float("nan"), float("nan"), float("nan"), 0.1],
            "created_at": [_ts(2015, 1), _ts(2014, 1), _ts(2010, 1), None, None, None],
        }
    )
    cluster, dup = exact_duplicates(df)
    assert cluster.tolist() == ["a:1", "a:1", "a:1", "d:1", "d:1", "f:1"]
    assert dup.tolist() == [True, False, True, False, True, False]
    shuffled = df.sample(frac=1, random_state=3)
    c2, d2 = exact_duplicates(shuffled)
    assert c2.sort_index().tolist() == cluster.tolist() and d2.sort_index().tolist() == dup.tolist()
