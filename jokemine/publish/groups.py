"""The grouped release configs: ``setup_punches`` (one row per setup with all its punchlines) and ``preference``
(chosen/rejected punchline pairs of one setup), built from the kept two-part jokes of a clean run.

A setup is a ``group_key`` (hash of the normalized setup: case, punctuation and spacing ignored). Its punchlines
are made distinct by their normalized form (of equal ones, the best scored is kept); near-duplicates are mostly
gone already (the clean stage merges them). Every row of a setup has the same split (the split group contains
the setup, :mod:`jokemine.splits.assign`), so a setup's row and all its pairs land in that split.

Preference pairs follow the recipe of the Stanford Human Preferences dataset (Ethayarajh et al. 2022,
https://huggingface.co/datasets/stanfordnlp/SHP): every two punchlines of one setup whose scores differ enough give
a pair, the better one ``chosen``, with at most ``max_pairs`` pairs per setup (SHP: 50) so that a few heavily
reposted setups do not dominate, and only scores of the same ``score_kind`` are compared. "Differ enough" is a
rule: ``margin`` (``score_norm``, the percentile within source x month of :mod:`jokemine.cleaning.scores`, at
least ``margin`` apart) or ``shp`` (SHP's own: the chosen one posted no earlier and with at least twice the raw
votes). Small splits get a tighter per-setup cap (:func:`split_cap`) so that no ten setups make more than a
quarter of a split. A pair whose punchlines are near-duplicates (Jaccard of their shingle sets >= the dedup
threshold) is never made: a reward model cannot learn from two copies of one punchline.
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
from jokemine.schema import SPLITS

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
    "created_at",
    "thread_id",
    "parent_id",
    "thread_score",
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
    pairs_over_split_cap: int = 0
    replies_low_thread_score: int = 0
    punchlines_over_cap: int = 0
    splits: dict[str, dict[str, Any]] = field(default_factory=dict)

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


def setup_punches(
    rows: pd.DataFrame, min_punchlines: int = 2, max_punchlines: int | None = None
) -> tuple[pd.DataFrame, GroupStats]:
    """One row per setup with at least ``min_punchlines`` distinct punchlines.

    ``rows``: kept two-part jokes (:data:`INPUT_COLUMNS`): reposts of one setup, replies of one thread, captions of
    one contest alike. Returns columns ``setup``, ``num_punchlines`` (all distinct ones), ``punchlines`` (list of
    dicts ``punchline, id, source, score, score_kind, score_norm, created_at``, best ``score_norm`` first, at most
    ``max_punchlines``: the rest are counted in ``punchlines_over_cap``), ``lang`` (of the best-scored punchline),
    ``group_key``, ``split``; sorted by ``group_key``.
    """
    df = distinct_punchlines(rows)
    stats = GroupStats()
    item_cols = ["punchline", "id", "source", "score", "score_kind", "score_norm", "created_at"]
    col = _columns(df, [*INPUT_COLUMNS])
    out = []
    for lo, hi in _runs(df["group_key"].to_numpy()):
        n = hi - lo
        label = next(f"{a}" if a == b else f"{a}-{b}" if b else f">={a}" for a, b in SIZE_BINS if n <= (b or n))
        stats.setups_by_size[label] = stats.setups_by_size.get(label, 0) + 1
        if n < min_punchlines:
            continue
        top = hi if max_punchlines is None else min(hi, lo + max_punchlines)
        stats.punchlines_over_cap += hi - top
        out.append(
            {
                "setup": _setup_text(col["setup"][lo:hi]),
                "num_punchlines": n,
                "punchlines": [{c: col[c][k] for c in item_cols} for k in range(lo, top)],
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


PREFERENCE_RULES = ("margin", "shp")
"""The rules that make a pair (:func:`preference_pairs`)."""

COUNT_KINDS = frozenset({"upvotes", "net_votes", "likes"})
"""Score kinds that count votes, the only ones whose ratio means something (SHP's rule and ``score_ratio``)."""


def _candidates(
    score: np.ndarray, norm: np.ndarray, when: np.ndarray, kind: str | None, rule: str, margin: float, min_score: float
) -> tuple[np.ndarray, np.ndarray]:
    """Index pairs ``(i, j)`` (``i`` chosen) of one setup's punchlines, sorted best first by the rule's score, that
    the rule accepts, strongest preference first (ties: by the chosen one's rank, then the rejected one's)."""
    i, j = np.triu_indices(len(score), k=1)
    if rule == "margin":
        gap = norm[i] - norm[j]  # sorted best score_norm first, so gap >= 0
        ok = gap >= margin - 1e-12
    else:
        if kind not in COUNT_KINDS:
            return i[:0], j[:0]
        with np.errstate(divide="ignore", invalid="ignore"):
            gap = score[i] / score[j]
        dated = ~(np.isnat(when[i]) | np.isnat(when[j]))
        later = np.zeros(len(i), dtype=bool)
        later[dated] = when[i][dated] >= when[j][dated]  # the chosen one was not seen first
        ok = (score[j] >= min_score) & (gap >= 2.0) & later
    i, j, gap = i[ok], j[ok], gap[ok]
    order = np.lexsort((j, i, -gap))
    return i[order], j[order]


CANDIDATE_SIDE = 256
"""A setup with more distinct punchlines than twice this (a caption contest: thousands) draws its pairs from its
``CANDIDATE_SIDE`` best and ``CANDIDATE_SIDE`` worst ones (for SHP's rule: the worst among those with enough
votes), not from all n(n-1)/2 pairs. For the margin rule this loses none of the ``max_pairs`` (<= this) strongest
pairs: a pair outside the window is outranked by at least ``CANDIDATE_SIDE`` pairs inside it."""


def _window(score: np.ndarray, rule: str, min_score: float) -> np.ndarray | None:
    """Positions (ascending) of one sorted run's best and worst :data:`CANDIDATE_SIDE` punchlines, or None when
    the run is small enough to pair in full."""
    n = len(score)
    if n <= 2 * CANDIDATE_SIDE:
        return None
    top = np.arange(CANDIDATE_SIDE)
    rest = np.arange(CANDIDATE_SIDE, n)
    if rule == "shp":
        rest = rest[score[rest] >= min_score]  # a rejected one needs min_score votes
    return np.concatenate([top, rest[-CANDIDATE_SIDE:]])


def split_cap(counts: np.ndarray, top: int = 10, share: float = 0.25, most: int = 50) -> int:
    """The largest per-prompt cap ``c <= most`` such that, with every prompt cut to its first ``c`` pairs, the
    ``top`` prompts with most pairs hold at most ``share`` of the split's pairs; 1 when no cap achieves it (fewer
    than ``top / share`` prompts). ``counts``: pairs per prompt in one split (ints)."""
    counts = np.sort(np.asarray(counts, dtype=np.int64))[::-1]
    for c in range(most, 0, -1):
        kept = np.minimum(counts, c)
        if kept[:top].sum() <= share * kept.sum() + 1e-9:
            return c
    return 1


def preference_pairs(
    rows: pd.DataFrame,
    *,
    rule: str = "margin",
    margin: float = 0.2,
    min_score: float = 2.0,
    min_thread_score: float = 10.0,
    max_pairs: int = 50,
    top_prompts: int = 10,
    top_share: float = 0.25,
    max_jaccard: float = 0.55,
    ngram: int = 5,
    unit: str = "char",
) -> tuple[pd.DataFrame, GroupStats]:
    """Chosen/rejected pairs of punchlines of one setup (see the module docstring).

    ``rule``: ``"margin"``: ``score_norm`` of the chosen one at least ``margin`` above the rejected one's (any
    score kind). ``"shp"``: Stanford SHP's rule (https://huggingface.co/datasets/stanfordnlp/SHP, "Data
    Selection"): vote-count kinds only (:data:`COUNT_KINDS`), both raw scores >= ``min_score`` (SHP: 2), the chosen
    score at least twice the rejected one, and the chosen joke posted no earlier than the rejected one, so that
    its higher score cannot come from being seen first (SHP's README: "if comment A was written *after* comment B
    but has a higher score nonetheless"; its ``seconds_difference`` is always >= 0); undated jokes make no pair;
    replies of a thread whose post scored under ``min_thread_score`` (SHP: 10) make none either.
    Replies of a thread (``parent_id`` set) are only paired with their siblings (same parent), as SHP pairs the
    top-level comments of one post, and the margin rule ranks siblings among themselves (by raw score). Pairs are
    taken strongest first (largest ``score_norm`` gap, or largest score ratio), skipping near-duplicates
    (punchline Jaccard >= ``max_jaccard``), until ``max_pairs`` per setup (across the threads that share it).
    Then, per split, every setup of reposted jokes keeps only its first :func:`split_cap` pairs so that no
    ``top_prompts`` setups hold more than ``top_share`` of the split's repost pairs (a few heavily reposted setups
    would otherwise be most of a small split); thread pairs keep SHP's per-setup cap only.

    Returns columns :data:`PAIR_COLUMNS` plus ``split``: ``score_chosen``/``score_rejected`` are the raw scores,
    ``score_norm_chosen``/``score_norm_rejected`` their ``score_norm``, ``score_ratio`` the raw ratio (null unless
    a vote count and the rejected score > 0), ``created_at_chosen``/``created_at_rejected`` when posted.
    Raises ValueError for an unknown rule or a margin outside (0, 1].
    """
    if rule not in PREFERENCE_RULES:
        raise ValueError(f"preference rule must be one of {', '.join(PREFERENCE_RULES)}, not {rule!r}")
    if not 0 < margin <= 1:
        raise ValueError(f"margin must be in (0, 1], not {margin}")
    df = distinct_punchlines(rows[rows["score_norm"].notna()])
    stats = GroupStats()
    if rule == "shp" and not df.empty:
        low = df["thread_id"].notna() & (df["thread_score"] < min_thread_score)  # unknown: not held against it
        stats.replies_low_thread_score = int(low.sum())  # replies left out (not pairs)
        df = df[~low]
    if df.empty:
        return pd.DataFrame(columns=[*PAIR_COLUMNS, "split"]), stats
    key = "score_norm" if rule == "margin" else "score"
    df = df.assign(_parent=df["parent_id"].fillna(""))
    df = df.sort_values(["group_key", "_parent", "score_kind", key, "id"], ascending=[True, True, True, False, True])
    col = _columns(df, ["setup", "punchline", "score_kind"])  # the rest is read as arrays below
    keys = (df["group_key"] + "\x00" + df["_parent"] + "\x00" + df["score_kind"].fillna("")).to_numpy()
    norm = df["score_norm"].to_numpy(dtype=float)
    score = df["score"].to_numpy(dtype=float)
    when = pd.to_datetime(df["created_at"], utc=True).dt.tz_localize(None).to_numpy(dtype="datetime64[us]")
    take_a: list[int] = []
    take_b: list[int] = []
    per_setup: dict[str, int] = {}
    gkeys = df["group_key"].to_numpy()
    parents = df["_parent"].to_numpy()
    for lo, hi in _runs(keys):
        if hi - lo < 2:
            continue
        run_norm = norm[lo:hi]
        if parents[lo]:  # siblings of one thread: ranked among themselves (cohorts may split them by month)
            run_norm = pd.Series(score[lo:hi]).rank(method="average").to_numpy()
            run_norm = (run_norm - 1) / max(hi - lo - 1, 1)
        win = _window(score[lo:hi], rule, min_score)
        if win is None:
            i, j = _candidates(score[lo:hi], run_norm, when[lo:hi], col["score_kind"][lo], rule, margin, min_score)
        else:  # thousands of punchlines: pairs among the best and worst CANDIDATE_SIDE only (O(n) not O(n^2))
            kind0 = col["score_kind"][lo]
            i, j = _candidates(score[lo:hi][win], run_norm[win], when[lo:hi][win], kind0, rule, margin, min_score)
            i, j = win[i], win[j]
        shingles: dict[int, frozenset[str]] = {}
        taken = per_setup.get(gkeys[lo], 0)
        for n, (a, b) in enumerate(zip((i + lo).tolist(), (j + lo).tolist(), strict=True)):
            if taken >= max_pairs:
                stats.pairs_over_cap += len(i) - n
                break
            sa = shingles.setdefault(a, shingle_set(col["punchline"][a], ngram, unit))
            sb = shingles.setdefault(b, shingle_set(col["punchline"][b], ngram, unit))
            if jaccard(sa, sb) >= max_jaccard:
                stats.pairs_near_duplicate += 1
                continue
            take_a.append(a)
            take_b.append(b)
            taken += 1
        per_setup[gkeys[lo]] = taken
    a, b = np.asarray(take_a, dtype=np.int64), np.asarray(take_b, dtype=np.int64)
    gk = df["group_key"].to_numpy()
    split = df["split"].to_numpy()
    keep = np.ones(len(a), dtype=bool)
    reposts = df["thread_id"].isna().to_numpy()[a]  # thread pairs follow SHP: its per-post cap only
    keep[reposts] = _cap_by_split(gk[a][reposts], split[a][reposts], top_prompts, top_share, max_pairs, stats)
    a, b = a[keep], b[keep]
    paired = set(gk[a].tolist())
    setups = {gk[lo]: _setup_text(col["setup"][lo:hi]) for lo, hi in _runs(gk) if gk[lo] in paired}
    kind = df["score_kind"].to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(np.isin(kind[a], list(COUNT_KINDS)) & (score[b] > 0), score[a] / score[b], np.nan)
    out = pd.DataFrame(
        {
            "prompt": [setups[k] for k in gk[a]],
            "chosen": df["punchline"].to_numpy()[a],
            "rejected": df["punchline"].to_numpy()[b],
            "score_chosen": score[a],
            "score_rejected": score[b],
            "score_norm_chosen": norm[a],
            "score_norm_rejected": norm[b],
            "score_ratio": ratio,
            "created_at_chosen": df["created_at"].to_numpy()[a],
            "created_at_rejected": df["created_at"].to_numpy()[b],
            "id_chosen": df["id"].to_numpy()[a],
            "id_rejected": df["id"].to_numpy()[b],
            "score_kind": kind[a],
            "lang": df["lang"].to_numpy()[a],
            "group_key": gk[a],
            "thread_id": df["thread_id"].to_numpy()[a],
            "split": split[a],
        }
    )
    stats.pairs = len(out)
    stats.setups = int(out["group_key"].nunique())
    return out, stats


def _cap_by_split(
    group: np.ndarray, split: np.ndarray, top: int, share: float, most: int, stats: GroupStats
) -> np.ndarray:
    """Mask of the pairs (in per-setup order) that survive :func:`split_cap` in their split; records each split's
    prompts, pairs, cap and top-``top`` share in ``stats.splits``."""
    keep = np.ones(len(group), dtype=bool)
    frame = pd.DataFrame({"group": group, "split": split})
    order = {name: n for n, name in enumerate(SPLITS)}
    rank = frame.groupby(["split", "group"], sort=False).cumcount().to_numpy()
    groups = frame.groupby("split", sort=False).indices
    for name, idx in sorted(groups.items(), key=lambda kv: (order.get(str(kv[0]), len(order)), str(kv[0]))):
        counts = frame["group"].iloc[idx].value_counts().to_numpy()
        cap = split_cap(counts, top, share, most)
        keep[idx] = rank[idx] < cap
        kept = np.minimum(np.sort(counts)[::-1], cap)
        stats.pairs_over_split_cap += int(counts.sum() - kept.sum())
        stats.splits[str(name)] = {
            "prompts": len(counts),
            "pairs": int(kept.sum()),
            "cap_per_prompt": cap,
            f"top{top}_share": round(float(kept[:top].sum() / kept.sum()), 4),
        }
    return keep


PAIR_COLUMNS = [
    "prompt",
    "chosen",
    "rejected",
    "score_chosen",
    "score_rejected",
    "score_norm_chosen",
    "score_norm_rejected",
    "score_ratio",
    "created_at_chosen",
    "created_at_rejected",
    "id_chosen",
    "id_rejected",
    "score_kind",
    "lang",
    "group_key",
    "thread_id",
]
"""Columns of a ``preference`` row (:func:`preference_pairs`; the release adds nothing, the split is the file)."""
