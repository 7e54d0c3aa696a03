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
