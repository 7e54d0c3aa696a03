"""Grouped release configs (jokemine.publish.groups): setup_punches rows and preference pairs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from jokemine.cleaning.text import key_hash
from jokemine.errors import JokemineError
from jokemine.publish.groups import jaccard, preference_pairs, setup_punches, shingle_set, split_cap


def _rows(items: list[tuple[str, str, str, float | None]], split: str = "train", kind: str = "upvotes") -> pd.DataFrame:
    """(id, setup, punchline, score_norm) -> input rows; group_key as the pipeline makes it."""
    return pd.DataFrame(
        {
            "id": [i for i, *_ in items],
            "source": "rjokes",
            "lang": "en",
            "split": split,
            "group_key": [key_hash(s) for _, s, _, _ in items],
            "setup": [s for _, s, _, _ in items],
            "punchline": [p for *_, p, _ in items],
            "score": [None if n is None else 100 * n for *_, n in items],
            "score_kind": kind,
            "score_norm": [n for *_, n in items],
            "created_at": pd.NaT,
            "thread_id": None,
            "parent_id": None,
            "thread_score": None,
        }
    )


CHICKEN = [
    ("a", "Why did the chicken cross the road?", "To get to the other side.", 0.9),
    ("b", "why did the chicken cross the road", "Because the KFC was on this side.", 0.5),
    ("c", "Why did the chicken cross the road?", "to get to the other side", 0.1),  # same punchline as a
    ("d", "Why did the chicken cross the road?", "It was a dare from the duck.", 0.3),
    ("e", "Why did the chicken cross the road?", "Nobody knows; it refuses to say.", None),  # unscored
    ("f", "Knock knock", "Who's there? Interrupting cow.", 0.7),
]


def test_setup_punches_one_row_per_normalized_setup_with_distinct_punchlines() -> None:
    df, stats = setup_punches(_rows(CHICKEN))
    assert len(df) == 1  # "Knock knock" has one punchline: below setup_punches_min = 2
    row = df.iloc[0]
    assert row["setup"] == "Why did the chicken cross the road?"  # most frequent wording
    assert row["num_punchlines"] == 4  # c repeats a's punchline after normalization; a is better scored
    assert [p["id"] for p in row["punchlines"]] == ["a", "b", "d", "e"]  # best score_norm first, unscored last
    assert row["punchlines"][3]["score_norm"] is None and row["split"] == "train"
    assert stats.setups_by_size == {"3-4": 1, "1": 1} and stats.setups == 1


def test_a_setup_in_two_splits_is_an_error() -> None:
    rows = pd.concat([_rows(CHICKEN[:1], "train"), _rows(CHICKEN[1:2], "test")])
    with pytest.raises(JokemineError, match="more than one split"):
        setup_punches(rows)


def test_preference_pairs_margin_order_and_cap() -> None:
    pairs, stats = preference_pairs(_rows(CHICKEN), margin=0.2, top_share=1)
    got = list(zip(pairs.id_chosen, pairs.id_rejected, strict=True))
    # a(0.9) b(0.5) d(0.3): gaps a-d 0.6, a-b 0.4, b-d 0.2; widest first; e is unscored, c merged into a
    assert got == [("a", "d"), ("a", "b"), ("b", "d")]
    assert (pairs.prompt == "Why did the chicken cross the road?").all()
    assert pairs.score_norm_chosen.tolist() == [0.9, 0.9, 0.5]
    assert pairs.score_norm_rejected.tolist() == [0.3, 0.5, 0.3]
    assert pairs.score_chosen.tolist() == [90, 90, 50] and pairs.score_rejected.tolist() == [30, 50, 30]  # raw
    assert pairs.score_ratio.tolist() == pytest.approx([3, 1.8, 50 / 30])
    capped, stats = preference_pairs(_rows(CHICKEN), margin=0.2, max_pairs=2, top_share=1)
    assert len(capped) == 2 and stats.pairs_over_cap == 1
    wide, _ = preference_pairs(_rows(CHICKEN), margin=0.5, top_share=1)
    assert list(wide.id_rejected) == ["d"]


def test_preference_never_pairs_near_duplicates_or_mixed_score_kinds() -> None:
    near = [
        ("a", "What's brown and sticky?", "A stick, obviously, my friend.", 0.9),
        ("b", "What's brown and sticky?", "A stick, obviously my friend!!", 0.2),  # same after normalization
        ("c", "What's brown and sticky?", "A stick, obviously, my dear friend.", 0.1),  # near-duplicate of a
        ("d", "What's brown and sticky?", "Poop.", 0.0),
    ]
    assert jaccard(shingle_set(near[0][2]), shingle_set(near[2][2])) >= 0.55
    pairs, stats = preference_pairs(_rows(near), top_share=1)
    assert list(zip(pairs.id_chosen, pairs.id_rejected, strict=True)) == [("a", "d")]
    assert stats.pairs_near_duplicate == 1  # a-c; b was merged into a
    mixed = pd.concat([_rows(near[:1]), _rows([near[3]], kind="mean_rating")])
    assert preference_pairs(mixed)[0].empty


def test_margin_must_be_positive() -> None:
    with pytest.raises(ValueError, match="margin"):
        preference_pairs(_rows(CHICKEN), margin=0)


def _posts(items: list[tuple[str, str, float, str | None]], kind: str = "upvotes") -> pd.DataFrame:
    """(id, punchline, raw score, created_at) of one setup -> input rows; score_norm ranks the raw scores."""
    df = _rows([(i, "Knock knock", p, 0.0) for i, p, _, _ in items], kind=kind)
    df["score"] = [s for *_, s, _ in items]
    df["score_norm"] = df["score"].rank(pct=True)
    df["created_at"] = pd.to_datetime([t for *_, t in items], utc=True)
    return df


def test_shp_rule_needs_twice_the_votes_a_later_post_and_vote_counts() -> None:
    items = [
        ("early", "Who's there? Cash. Cash who? No thanks, I prefer peanuts.", 400.0, "2020-01-01"),
        ("late", "Who's there? Lettuce. Lettuce in, it's cold out here!", 300.0, "2021-06-01"),
        ("mid", "Who's there? Boo. Boo who? Don't cry, it's only a joke.", 100.0, "2020-06-01"),
        ("tiny", "Who's there? Nobody. Nobody who? Exactly, nobody at all.", 1.0, "2019-01-01"),
        ("undated", "Who's there? Olive. Olive who? Olive you and I miss you.", 20.0, None),
    ]
    pairs, _ = preference_pairs(_posts(items), rule="shp", top_share=1)
    got = list(zip(pairs.id_chosen, pairs.id_rejected, strict=True))
    # late (300) over mid (100): 3x and posted later. early (400) over mid: 4x but posted earlier (seen first).
    # tiny has 1 vote (< min_score 2); undated has no date; early/late is 1.33x.
    assert got == [("late", "mid")]
    assert pairs.score_ratio.tolist() == [3.0] and pairs.score_chosen.tolist() == [300.0]
    assert pairs.created_at_chosen.iloc[0] > pairs.created_at_rejected.iloc[0]
    low = preference_pairs(_posts(items), rule="shp", min_score=0.5, top_share=1)[0]
    assert list(zip(low.id_chosen, low.id_rejected, strict=True)) == [
        ("early", "tiny"), ("late", "tiny"), ("mid", "tiny"), ("late", "mid")
    ]  # fmt: skip
    # ratings are not vote counts: no SHP pairs, and no ratio under the margin rule either
    assert preference_pairs(_posts(items, kind="mean_rating"), rule="shp")[0].empty
    rated = preference_pairs(_posts(items, kind="mean_rating"), rule="margin", top_share=1)[0]
    assert len(rated) > 0 and rated.score_ratio.isna().all()
    with pytest.raises(ValueError, match="preference rule"):
        preference_pairs(_posts(items), rule="votes")


def test_split_cap_keeps_ten_prompts_under_a_quarter_of_the_split() -> None:
    # one prompt reposted a lot, the rest with few pairs: the cap scales with the split
    assert split_cap(np.array([50] * 10 + [2] * 100)) == 6  # 10*6=60 <= 0.25*(60+200)=65; 7: 70 > 67.5
    assert split_cap(np.array([50] * 10 + [50] * 30)) == 50  # 40 prompts, all equal: exactly 25%
    assert split_cap(np.array([3] * 20)) == 1  # 20 prompts cannot get under 25%: 1 pair each is the best
    # 2 setups reposted 41 times (50 pairs each after max_pairs) and 48 with 3 punchlines (3 pairs each)
    setups = [(f"p{k}-{n}", f"Setup number {k}?", f"Answer {n} to setup {k} " + "x" * n, n / 41) for k in range(50)
              for n in range(41 if k < 2 else 3)]  # fmt: skip
    pairs, stats = preference_pairs(_rows(setups), margin=0.01)
    per_prompt = pairs.groupby("group_key").size().sort_values(ascending=False)
    # cap c: 2c + 8*3 <= 0.25 * (2c + 48*3) -> c <= 12 (12: 48 <= 0.25 * 168 = 42? no) -> c = 8: 40 <= 40
    assert per_prompt.iloc[0] == stats.splits["train"]["cap_per_prompt"] == 8
    assert per_prompt.iloc[:10].sum() <= 0.25 * per_prompt.sum() and len(per_prompt) == 50
    assert stats.pairs_over_split_cap == 2 * (50 - 8) and stats.splits["train"]["top10_share"] == 0.25
    # each setup keeps its strongest pairs: the widest score gaps
    big = pairs[pairs.group_key == per_prompt.index[0]]
    assert (big.score_norm_chosen - big.score_norm_rejected).min() >= 37 / 41 - 1e-9  # gaps 40,39,39,38,38,38,37,37


def test_thread_replies_pair_only_with_siblings_and_keep_shp_per_post_cap() -> None:
    items = [("a", "Knock knock", "r1", 0.9), ("b", "Knock knock", "r2", 0.5), ("c", "Knock knock", "r3", 0.1),
             ("d", "Knock knock", "r4", 0.8)]  # fmt: skip
    df = _rows(items)
    df["thread_id"] = "reddit:t"
    df["parent_id"] = ["reddit:t", "reddit:t", "reddit:t", "reddit:t1_x"]  # d answers another reply
    df["thread_score"] = 50.0
    pairs, stats = preference_pairs(df, margin=0.2)
    assert sorted(zip(pairs.id_chosen, pairs.id_rejected, strict=True)) == [("a", "b"), ("a", "c"), ("b", "c")]
    assert (pairs.thread_id == "reddit:t").all() and stats.pairs_over_split_cap == 0  # no share cap for threads
    df["score"] = [90, 40, 10, 80]
    df["created_at"] = pd.to_datetime(["2020-01-02", "2020-01-01", "2020-01-01", "2020-01-01"], utc=True)
    shp, _ = preference_pairs(df, rule="shp")
    assert list(zip(shp.id_chosen, shp.id_rejected, strict=True)) == [("a", "c"), ("b", "c"), ("a", "b")]
    df["thread_score"] = 9.0  # SHP: the post must score >= 10
    none, stats = preference_pairs(df, rule="shp")
    assert none.empty and stats.replies_low_thread_score == 4
    rows, stats = setup_punches(df, max_punchlines=2)
    assert rows.iloc[0].num_punchlines == 4 and [p["id"] for p in rows.iloc[0].punchlines] == ["a", "d"]
    assert stats.punchlines_over_cap == 2


def test_a_setup_with_thousands_of_punchlines_pairs_in_linear_memory_with_the_same_strongest_pairs() -> None:
    """A caption contest has thousands of captions under one setup: all n(n-1)/2 pairs (50 M for 10,000) do not fit;
    the pairs come from the best and worst CANDIDATE_SIDE captions, and for the margin rule they are exactly the
    strongest pairs a full search finds (checked on 1,200 captions, where both are affordable)."""
    from jokemine.publish import groups

    def contest(n: int) -> pd.DataFrame:
        rng = np.random.default_rng(7)
        norm = rng.permutation(n) / (n - 1)  # distinct: no ties
        words = [f"{a} {b} {c}" for a, b, c in zip(rng.integers(0, 10**6, n), rng.integers(0, 10**6, n),
                                                   rng.integers(0, 10**6, n), strict=True)]  # fmt: skip
        return _rows([(f"c{k}", "New Yorker Cartoon Caption Contest #600", f"caption {w}", float(v))
                      for k, (w, v) in enumerate(zip(words, norm, strict=True))])  # fmt: skip

    rows = contest(1_200)
    windowed, _ = preference_pairs(rows, top_share=1)
    side = groups.CANDIDATE_SIDE
    try:
        groups.CANDIDATE_SIDE = 10**6  # no window: every pair is a candidate
        full, _ = preference_pairs(rows, top_share=1)
    finally:
        groups.CANDIDATE_SIDE = side
    assert len(windowed) == 50
    pairs = list(zip(windowed.id_chosen, windowed.id_rejected, strict=True))
    assert pairs == list(zip(full.id_chosen, full.id_rejected, strict=True))
    assert (windowed.score_norm_chosen - windowed.score_norm_rejected).min() > 0.99

    big, _ = preference_pairs(contest(20_000), top_share=1)  # 200 M pairs in full: ~5 GB of index arrays
    assert len(big) == 50 and big.score_norm_chosen.min() > 0.98 and big.score_norm_rejected.max() < 0.02
