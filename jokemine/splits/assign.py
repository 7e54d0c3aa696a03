"""Split assignment by a salted hash of the record's split group.

Split groups (:func:`split_groups`): records are joined when they share a setup (``group_key``: the normalized
setup, or question, or the whole text for one-piece jokes) or a duplicate cluster (exact or near-duplicate); the
connected components are the groups, keyed by their smallest ``group_key`` (``split_key``). So every punchline of
one setup and every copy of one joke share a split: no joke leaks from train into test through a reworded repost.

``u = BLAKE2b-64(salt || 0x00 || split_key) / 2**64`` is uniform in [0, 1); the record goes to ``train`` when
``u < train``, to ``validation`` when ``u < train + validation``, else to ``test``. The group key is the
normalized setup (or question, or the whole text for one-piece jokes), so every punchline of one setup shares a
split; the split depends only on the key, the salt and the ratios, so a record keeps its split in every
release however much data is added, unless new data joins its group to another (then the group takes the
smaller key). (Changing the salt or the ratios reshuffles: keep them fixed.)
"""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd

from jokemine.config import SplitsConfig


def unit_hash(group_key: str, salt: str) -> float:
    """The group's position in [0, 1)."""
    h = hashlib.blake2b(salt.encode("utf-8") + b"\x00" + group_key.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(h, "big") / 2.0**64


def split_of(group_key: str, cfg: SplitsConfig) -> str:
    """``train``, ``validation`` or ``test`` for ``group_key`` under ``cfg``."""
    u = unit_hash(group_key, cfg.salt)
    if u < cfg.train:
        return "train"
    if u < cfg.train + cfg.validation:
        return "validation"
    return "test"


def split_groups(group_key: pd.Series, cluster: pd.Series) -> pd.Series:
    """The ``split_key`` of each row: the smallest ``group_key`` in its connected component of the graph joining
    rows with equal ``group_key`` or equal ``cluster`` (both Series aligned on the same index).

    Shapes: ``n`` rows in, ``n`` keys out (aligned with ``group_key.index``).
    """
    from jokemine.cleaning.dedup import join_labels

    if len(group_key) == 0:
        return pd.Series([], dtype="object")
    comp = join_labels(group_key.to_numpy(), cluster.to_numpy())
    key = pd.Series(group_key.to_numpy(), dtype="object").groupby(comp).transform("min")
    return pd.Series(key.to_numpy(), index=group_key.index, dtype="object")


def sticky_splits(df: pd.DataFrame, survivor: pd.Series) -> tuple[pd.Series, np.ndarray, np.ndarray]:
    """Published splits stick (:mod:`jokemine.splits.ledger`). ``df``: the rows of whole split groups (columns
    ``id``, ``group``, ``cluster``, ``published`` (the split the id was first published in, or None),
    ``score_norm``, ``created_at``); ``survivor``: each row's cluster survivor (aligned with ``df.index``).

    Returns ``(survivor, split, held_out)`` aligned with ``df``. ``split``: the group's published split when all its
    published members share one (new members join it); a published member's own split in a group whose published
    members are in several splits (a *conflict group*: new data bridged them); else None (the hash decides,
    :func:`split_of`). ``held_out``: every unpublished row of a conflict group (``drop_reason =
    "split_conflict"``), so that no published id moves and no duplicate cluster or setup crosses splits through new
    data. In conflict groups the survivors are chosen among the published members only (the rule of
    :func:`jokemine.cleaning.dedup.survivors`), so a held-out new record never removes a published one."""
    pub = df["published"]
    by_group = pub.groupby(df["group"])
    per_row = df["group"].map(by_group.nunique()).fillna(0).to_numpy()
    split = df["group"].map(by_group.first()).to_numpy(dtype=object)
    split[per_row != 1] = None
    conflict = per_row >= 2
    if not conflict.any():
        return survivor, split, np.zeros(len(df), dtype=bool)
    from jokemine.cleaning.dedup import survivors

    published = pub.notna().to_numpy()
    split[conflict] = pub.to_numpy(dtype=object)[conflict]
    pick = df.loc[conflict & published]
    survivor = survivor.copy()
    survivor[conflict & published] = survivors(pick, "cluster").to_numpy()
    split[pd.isna(split)] = None
    return survivor, split, conflict & ~published
