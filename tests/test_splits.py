from __future__ import annotations

from collections import Counter

from jokemine.cleaning.text import key_hash
from jokemine.config import SplitsConfig
from jokemine.splits.assign import split_of, unit_hash


def test_ratios_hold_on_many_groups() -> None:
    cfg = SplitsConfig()
    counts = Counter(split_of(f"group-{i}", cfg) for i in range(100_000))
    assert abs(counts["train"] / 100_000 - 0.90) < 0.005
    assert abs(counts["validation"] / 100_000 - 0.05) < 0.003
    assert abs(counts["test"] / 100_000 - 0.05) < 0.003


def test_same_setup_same_split_whatever_the_punchline() -> None:
    cfg = SplitsConfig()
    setups = ["What do you call a fish with no eyes?", "what do you call a FISH with no eyes"]
    assert len({split_of(key_hash(s), cfg) for s in setups}) == 1


def test_split_depends_only_on_key_and_salt_so_it_survives_growth() -> None:
    cfg = SplitsConfig()
    before = {k: split_of(k, cfg) for k in (f"g{i}" for i in range(5000))}
    grown = {k: split_of(k, cfg) for k in (f"g{i}" for i in range(20000))}
    assert all(grown[k] == v for k, v in before.items())
    other = SplitsConfig(salt="other")
    assert sum(split_of(k, other) != v for k, v in before.items()) > 400  # a new salt reshuffles


def test_unit_hash_is_uniform_in_unit_interval() -> None:
    us = [unit_hash(str(i), "s") for i in range(10_000)]
    assert 0 <= min(us) < 0.001 and 0.999 < max(us) < 1
    assert abs(sum(us) / len(us) - 0.5) < 0.01


def test_edge_ratios() -> None:
    all_train = SplitsConfig(train=1.0, validation=0.0, test=0.0)
    assert {split_of(str(i), all_train) for i in range(1000)} == {"train"}
