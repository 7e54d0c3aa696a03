"""Split assignment by a salted hash of the record's group key.

``u = BLAKE2b-64(salt || 0x00 || group_key) / 2**64`` is uniform in [0, 1); the record goes to ``train`` when
``u < train``, to ``validation`` when ``u < train + validation``, else to ``test``. The group key is the
normalized setup (or question, or the whole text for one-piece jokes), so every punchline of one setup shares a
split; the split depends only on the key, the salt and the ratios, so a record keeps its split in every
release however much data is added. (Changing the salt or the ratios reshuffles: keep them fixed.)
"""

from __future__ import annotations

import hashlib

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
