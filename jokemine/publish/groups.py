"""The grouped release configs: ``setup_punches`` (one row per setup with all its punchlines) and ``preference``
(chosen/rejected punchline pairs of one setup), built from the kept two-part jokes of a clean run.

A setup is a ``group_key`` (hash of the normalized setup: case, punctuation and spacing ignored). Its punchlines
are made distinct by their normalized form (of equal ones, the best scored is kept); near-duplicates are mostly
gone already (the clean stage merges them). Every row of a setup has the same split (the split group contains
the setup, :mod:`jokemine.splits.assign`), so a setup's row and all its pairs land in that split.

Preference pairs follow the recipe of the Stanford Human Preferences dataset (Ethayarajh et al. 2022,
https://huggingface.co/datasets/stanfordnlp/SHP): every two punchlines of one setup whose scores differ enough give
a pair, the better one ``chosen``, with at most ``max_pairs`` pairs per setup (SHP: 50) so that a few heavily
reposted setups do not dominate. Here "scores differ enough" means ``score_norm`` (the percentile within
source x month, :mod:`jokemine.cleaning.scores`) differs by at least ``margin``, and only scores of the same
``score_kind`` are compared. A pair whose punchlines are near-duplicates (Jaccard of their shingle sets >= the
dedup threshold) is never made: a reward model cannot learn from two copies of one punchline.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from jokemine.cleaning.minhash import reference_shingles, shingle_form
from jokemine.cleaning.text import key_hash
from jokemine.errors import JokemineError

INPUT_COLUMNS = [
    "id",
    "source",
    "lang",
    "split",
    "group_key",
    "setup",
    "punchline",
    "score",
    "score_kind",
    "score_norm",
]
"""Columns of the kept two-part jokes the builders read."""


@dataclass
class GroupStats:
    """Counts from one build: setups by number of distinct punchlines, pairs made and pairs refused."""

    setups: int = 0
    setups_by_size: dict[str, int] = field(default_factory=dict)
    pairs: int = 0
    pairs_near_duplicate: int = 0
    pairs_over_cap: int = 0

    def as_dict(self) -> dict[str, Any]:
        """Plain dict for the manifest."""
        return dict(self.__dict__)


def distinct_punchlines(rows: pd.DataFrame) -> pd.DataFrame:
    """``rows`` (:data:`INPUT_COLUMNS`) less repeated punchlines of one setup, ordered by setup, then best
    ``score_norm`` first (unscored last), then id; a ``_pkey`` column of ``rows`` (:func:`punchline_keys`, when a
    caller groups the same rows twice) is used rather than recomputed, and dropped. Raises :class:`JokemineError`
    when a setup spans two splits."""
    if rows.empty:
        return rows.drop(columns="_pkey", errors="ignore")
    df = rows if "_pkey" in rows else rows.assign(_pkey=punchline_keys(rows["punchline"]))
    df = df.sort_values(["group_key", "score_norm", "id"], ascending=[True, False, True], na_position="last")
    df = df.drop_duplicates(["group_key", "_pkey"], keep="first")
    spread = df.groupby("group_key")["split"].nunique()
    if (spread > 1).any():
        raise JokemineError(f"setup {spread[spread > 1].index[0]} is in more than one split; re-run `jokemine clean`")
    return df.drop(columns="_pkey").reset_index(drop=True)


def punchline_keys(punchlines: pd.Series) -> list[str]:
    """The normalized key (:func:`jokemine.cleaning.text.key_hash`) of each punchline, hex strings."""
    return [key_hash(p) for p in punchlines]


def _setup_text(setups: list[str]) -> str:
    """The most frequent form of a setup (the first, i.e. best scored, among equally frequent ones)."""
    counts: dict[str, int] = {}
    for x in setups:
        counts[x] = counts.get(x, 0) + 1
    return max(counts, key=lambda x: counts[x])  # max keeps the first of equal counts


def _runs(keys: np.ndarray) -> list[tuple[int, int]]:
    """``[start, end)`` of each run of equal values in ``keys`` (sorted)."""
    if len(keys) == 0:
        return []
    cut = np.flatnonzero(keys[1:] != keys[:-1]) + 1
    bounds = [0, *cut.tolist(), len(keys)]
    return list(itertools.pairwise(bounds))


def _columns(df: pd.DataFrame, names: list[str]) -> dict[str, list[Any]]:
    """Plain Python lists (NaN -> None) of ``names``."""
    return {c: [None if isinstance(v, float) and v != v else v for v in df[c].tolist()] for c in names}


SIZE_BINS = ((1, 1), (2, 2), (3, 4), (5, 9), (10, None))
"""Bins of :attr:`GroupStats.setups_by_size` (setups by number of distinct punchlines)."""


def setup_punches(rows: pd.DataFrame, min_punchlines: int = 2) -> tuple[pd.DataFrame, GroupStats]:
    """One row per setup with at least ``min_punchlines`` distinct punchlines.

    ``rows``: kept two-part jokes (:data:`INPUT_COLUMNS`). Returns columns ``setup``, ``num_punchlines``,
    ``punchlines`` (list of dicts ``punchline, id, source, score, score_kind, score_norm``, best ``score_norm``
    first), ``lang`` (of the best-scored punchline), ``group_key``, ``split``; sorted by ``group_key``.
    """
    df = distinct_punchlines(rows)
    stats = GroupStats()
    item_cols = ["punchline", "id", "source", "score", "score_kind", "score_norm"]
    col = _columns(df, [*INPUT_COLUMNS])
    out = []
    for lo, hi in _runs(df["group_key"].to_numpy()):
        n = hi - lo
        label = next(f"{a}" if a == b else f"{a}-{b}" if b else f">={a}" for a, b in SIZE_BINS if n <= (b or n))
        stats.setups_by_size[label] = stats.setups_by_size.get(label, 0) + 1
        if n < min_punchlines:
            continue
        out.append(
            {
                "setup": _setup_text(col["setup"][lo:hi]),
                "num_punchlines": n,
                "punchlines": [{c: col[c][k] for c in item_cols} for k in range(lo, hi)],
                "lang": col["lang"][lo],
                "group_key": col["group_key"][lo],
                "split": col["split"][lo],
            }
        )
    stats.setups = len(out)
    order = [f"{a}" if a == b else f"{a}-{b}" if b else f">={a}" for a, b in SIZE_BINS]
    stats.setups_by_size = {k: stats.setups_by_size[k] for k in order if k in stats.setups_by_size}
    return pd.DataFrame(out, columns=["setup", "num_punchlines", "punchlines", "lang", "group_key", "split"]), stats


def shingle_set(text: str, ngram: int = 5, unit: str = "char") -> frozenset[str]:
    """The shingle set of ``text`` as the dedup stage forms it (:func:`jokemine.cleaning.minhash.shingle_form`)."""
    return frozenset(reference_shingles(shingle_form(text), ngram, unit))


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    """|a ∩ b| / |a ∪ b|; 1.0 for two empty sets."""
    if not a and not b:
        return 1.0
    return len(a & b) / len(a | b)


def preference_pairs(
    rows: pd.DataFrame,
    *,
    margin: float = 0.2,
    max_pairs: int = 50,
    max_jaccard: float = 0.55,
    ngram: int = 5,
    unit: str = "char",
) -> tuple[pd.DataFrame, GroupStats]:
    """Chosen/rejected pairs of punchlines of one setup (see the module docstring).

    Within a setup, pairs are taken largest ``score_norm`` difference first (ties: by the chosen one's rank, then
    the rejected one's), skipping near-duplicates (punchline Jaccard >= ``max_jaccard``), until ``max_pairs``.
    Returns columns ``prompt`` (the setup), ``chosen``, ``rejected``, ``score_chosen``, ``score_rejected`` (their
    ``score_norm``), ``id_chosen``, ``id_rejected``, ``score_kind``, ``lang``, ``group_key``, ``split``.
    """
    if not 0 < margin <= 1:
        raise ValueError(f"margin must be in (0, 1], not {margin}")
    df = distinct_punchlines(rows[rows["score_norm"].notna()])
    stats = GroupStats()
    out: list[dict[str, Any]] = []
    if df.empty:
        return pd.DataFrame(out, columns=_PAIR_COLUMNS), stats
    df = df.sort_values(["group_key", "score_kind", "score_norm", "id"], ascending=[True, True, False, True])
    col = _columns(df, INPUT_COLUMNS)
    keys = (df["group_key"] + "\x00" + df["score_kind"].fillna("")).to_numpy()
    norm = df["score_norm"].to_numpy()
    for lo, hi in _runs(keys):
        if hi - lo < 2:
            continue
        s = norm[lo:hi]
        i, j = np.triu_indices(hi - lo, k=1)
        diff = s[i] - s[j]  # sorted best first, so diff >= 0
        ok = diff >= margin - 1e-12
        if not ok.any():
            continue
        i, j, diff = i[ok] + lo, j[ok] + lo, diff[ok]
        order = np.lexsort((j, i, -diff))
        shingles: dict[int, frozenset[str]] = {}
        setup = _setup_text(col["setup"][lo:hi])
        taken = 0
        for n, (a, b) in enumerate(zip(i[order].tolist(), j[order].tolist(), strict=True)):
            if taken == max_pairs:
                stats.pairs_over_cap += len(order) - n
                break
            sa = shingles.setdefault(a, shingle_set(col["punchline"][a], ngram, unit))
            sb = shingles.setdefault(b, shingle_set(col["punchline"][b], ngram, unit))
            if jaccard(sa, sb) >= max_jaccard:
                stats.pairs_near_duplicate += 1
                continue
            out.append(
                {
                    "prompt": setup,
                    "chosen": col["punchline"][a],
                    "rejected": col["punchline"][b],
                    "score_chosen": float(norm[a]),
                    "score_rejected": float(norm[b]),
                    "id_chosen": col["id"][a],
                    "id_rejected": col["id"][b],
                    "score_kind": col["score_kind"][a],
                    "lang": col["lang"][a],
                    "group_key": col["group_key"][a],
                    "split": col["split"][a],
                }
            )
            taken += 1
        stats.setups += 1 if taken else 0
    stats.pairs = len(out)
    return pd.DataFrame(out, columns=_PAIR_COLUMNS), stats


_PAIR_COLUMNS = [
    "prompt",
    "chosen",
    "rejected",
    "score_chosen",
    "score_rejected",
    "id_chosen",
    "id_rejected",
    "score_kind",
    "lang",
    "group_key",
    "split",
]
