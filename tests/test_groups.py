"""Grouped release configs (jokemine.publish.groups): setup_punches rows and preference pairs."""

from __future__ import annotations

import pandas as pd
import pytest

from jokemine.cleaning.text import key_hash
from jokemine.errors import JokemineError
from jokemine.publish.groups import jaccard, preference_pairs, setup_punches, shingle_set


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
    pairs, stats = preference_pairs(_rows(CHICKEN), margin=0.2)
    got = list(zip(pairs.id_chosen, pairs.id_rejected, strict=True))
    # a(0.9) b(0.5) d(0.3): gaps a-d 0.6, a-b 0.4, b-d 0.2; widest first; e is unscored, c merged into a
    assert got == [("a", "d"), ("a", "b"), ("b", "d")]
    assert (pairs.prompt == "Why did the chicken cross the road?").all()
    assert pairs.score_chosen.tolist() == [0.9, 0.9, 0.5] and pairs.score_rejected.tolist() == [0.3, 0.5, 0.3]
    capped, stats = preference_pairs(_rows(CHICKEN), margin=0.2, max_pairs=2)
    assert len(capped) == 2 and stats.pairs_over_cap == 1
    wide, _ = preference_pairs(_rows(CHICKEN), margin=0.5)
    assert list(wide.id_rejected) == ["d"]


def test_preference_never_pairs_near_duplicates_or_mixed_score_kinds() -> None:
    near = [
        ("a", "What's brown and sticky?", "A stick, obviously, my friend.", 0.9),
        ("b", "What's brown and sticky?", "A stick, obviously my friend!!", 0.2),  # same after normalization
        ("c", "What's brown and sticky?", "A stick, obviously, my dear friend.", 0.1),  # near-duplicate of a
        ("d", "What's brown and sticky?", "Poop.", 0.0),
    ]
    assert jaccard(shingle_set(near[0][2]), shingle_set(near[2][2])) >= 0.55
    pairs, stats = preference_pairs(_rows(near))
    assert list(zip(pairs.id_chosen, pairs.id_rejected, strict=True)) == [("a", "d")]
    assert stats.pairs_near_duplicate == 1  # a-c; b was merged into a
    mixed = pd.concat([_rows(near[:1]), _rows([near[3]], kind="mean_rating")])
    assert preference_pairs(mixed)[0].empty


def test_margin_must_be_positive() -> None:
    with pytest.raises(ValueError, match="margin"):
        preference_pairs(_rows(CHICKEN), margin=0)
