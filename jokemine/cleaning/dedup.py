"""Duplicate removal across sources: exact duplicates, near-duplicates (MinHash LSH + exact Jaccard), survivors.

* **Exact duplicates**: records with the same ``text_key`` (:func:`jokemine.cleaning.text.normalize_key`: case-,
  punctuation- and whitespace-insensitive).
* **Near-duplicates** (:func:`near_duplicate_labels`): every distinct text (identical inputs collapsed) is shingled
  (:func:`jokemine.cleaning.minhash.shingle_form`, then character or word n-grams), MinHash-signed and banded
  (LSH); every candidate pair is **verified** by the exact Jaccard similarity of the two shingle sets, so an LSH
  false positive never merges two jokes. Two-part jokes (setup + punchline) must also have similar punchlines
  (``punchline_threshold``): r/Jokes has many posts sharing a setup with different punchlines. Verified pairs are
  the edges of a graph whose connected components (single linkage) are the clusters.
* **Survivor** (:func:`survivors`): per cluster, the member with the highest ``score_norm`` (unscored last), then
  the earliest ``created_at`` (undated last), then the smallest ``id``: deterministic whatever the input order.

The defaults (char 5-grams, threshold 0.55, punchline threshold 0.3, 224 permutations as 56 bands x 4 rows) were
chosen by precision and recall on labeled real pairs; see README "Deduplication" and bench/RESULTS.md.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.sparse import coo_matrix, csr_matrix
from scipy.sparse.csgraph import connected_components

from jokemine.cleaning import minhash as mh
from jokemine.cleaning.text import fix_text

DEFAULT_THRESHOLD = 0.55
DEFAULT_PUNCHLINE_THRESHOLD = 0.3
DEFAULT_MIXED_CONTAINMENT = 0.5
DEFAULT_CROSS_CONTAINMENT = 0.6
DEFAULT_LOW_THRESHOLD = 0.4
DEFAULT_LOW_PUNCHLINE = 0.5
DEFAULT_NUM_PERM = 224
ESTIMATE_MARGIN = 0.2
PRE_TIERS = (32, 96)  # signature columns of the successive cheap tests of :func:`pre_plausible`
PRE_COLUMNS = PRE_TIERS[-1]  # columns the staged search carries to its round-2 buckets
PRE_SIGMAS = 3.5


INSIDE_SENTENCE = frozenset({"turn", "body:turn"})
"""``structure`` values of one-piece texts cut inside a sentence (a one-liner's turn): their punchline is not
evidence for the near-duplicate punchline check, which treats them as one-part texts (:func:`dedup_punchline`)."""


def dedup_punchline(punchline: str | None, structure: str | None) -> str | None:
    """The punchline the near-duplicate check compares: ``None`` (a one-part text) for a text split inside a
    sentence (:data:`INSIDE_SENTENCE`: "I used to be a banker, | but I lost interest" and "I used to be a banker
    but lost interest" are one joke whatever the cut), else ``punchline``."""
    return None if structure in INSIDE_SENTENCE else punchline


def candidate_probability(s: float | np.ndarray, bands: int, rows: int) -> float | np.ndarray:
    """Probability that LSH with ``bands`` x ``rows`` makes a pair of Jaccard ``s`` a candidate:
    ``1 - (1 - s**rows)**bands`` (Leskovec, Rajaraman, Ullman, *Mining of Massive Datasets*, 3rd ed., 3.4.2)."""
    return 1.0 - (1.0 - np.power(s, rows)) ** bands


def lsh_params(threshold: float, num_perm: int = DEFAULT_NUM_PERM, min_recall: float = 0.995) -> tuple[int, int]:
    """``(bands, rows)`` for ``threshold``: the most selective banding (largest ``rows``) within ``num_perm``
    permutations that still makes a pair at exactly ``threshold`` a candidate with probability >= ``min_recall``
    (pairs above the threshold even more often). The S-curve's midpoint is about ``(1/bands)**(1/rows)``.

    Raises ValueError when no banding reaches ``min_recall`` (raise ``num_perm`` or lower ``min_recall``).
    """
    if not 0.0 < threshold <= 1.0:
        raise ValueError(f"threshold must be in (0, 1], not {threshold}")
    best = None
    for rows in range(1, num_perm + 1):
        bands = num_perm // rows
        if candidate_probability(threshold, bands, rows) >= min_recall:
            best = (bands, rows)
    if best is None:
        raise ValueError(f"no banding of {num_perm} permutations reaches recall {min_recall} at {threshold}")
    return best


@dataclass(frozen=True)
class NearDupParams:
    """Near-duplicate settings (``[dedup]`` in the config; see :class:`jokemine.config.DedupConfig`)."""

    unit: str = "char"
    ngram: int = 5
    threshold: float = DEFAULT_THRESHOLD
    punchline_threshold: float = DEFAULT_PUNCHLINE_THRESHOLD
    num_perm: int = DEFAULT_NUM_PERM
    bands: int | None = None
    rows: int | None = None
    seed: int = 1
    mixed_containment: float = DEFAULT_MIXED_CONTAINMENT
    cross_containment: float = DEFAULT_CROSS_CONTAINMENT
    low_threshold: float = DEFAULT_LOW_THRESHOLD
    low_punchline: float = DEFAULT_LOW_PUNCHLINE

    def floor(self) -> float:
        """The lowest text Jaccard any pair is accepted at: ``low_threshold`` when the second pass is on (it needs
        the punchline check), else ``threshold``. The MinHash prefilters keep candidates that may reach it; the
        LSH banding stays tuned to ``threshold``, so a pair at 0.4 is a candidate with probability 0.77 (56 x 4)."""
        if self.punchline_threshold > 0 and 0 < self.low_threshold < self.threshold:
            return self.low_threshold
        return self.threshold

    def banding(self) -> tuple[int, int]:
        """The ``(bands, rows)`` in use: as set, else :func:`lsh_params` for the threshold."""
        if self.bands and self.rows:
            return self.bands, self.rows
        return lsh_params(self.threshold, self.num_perm)


@dataclass
class NearDupResult:
    """Cluster labels and what it took to find them.

    ``labels``: int64 ``(n,)``, the smallest index of each text's cluster (equal labels = same joke);
    ``pairs``/``jaccard``: the verified edges ``(k, 2)`` and their text Jaccard; counters and seconds per phase.
    """

    labels: np.ndarray
    pairs: np.ndarray
    jaccard: np.ndarray
    candidates: int = 0
    checked: int = 0
    rejected_text: int = 0
    rejected_punchline: int = 0
    bands: int = 0
    rows: int = 0
    seconds: dict[str, float] = field(default_factory=dict)


def _merge(labels: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Labels after adding ``edges`` ``(k, 2)`` to the graph whose components ``labels`` (int64 ``(n,)``, the
    smallest member of each component) describe: only the components the edges touch are relabeled, so the cost
    is O(n + k) whatever the edges so far."""
    ends = labels[edges]  # component of each endpoint
    nodes = np.sort(ends.ravel())
    nodes = nodes[np.r_[True, nodes[1:] != nodes[:-1]]]
    idx = np.searchsorted(nodes, ends)
    k = len(nodes)
    graph = coo_matrix((np.ones(len(idx), dtype=np.int8), (idx[:, 0], idx[:, 1])), shape=(k, k))
    _, comp = connected_components(graph, directed=False)
    smallest = np.full(comp.max() + 1, labels.size, dtype=np.int64)
    np.minimum.at(smallest, comp, nodes)  # labels are smallest members, so the smallest label is the new one
    relabel = np.arange(labels.size, dtype=np.int64)
    relabel[nodes] = smallest[comp]
    return relabel[labels]


def punchline_mismatch(
    cand: np.ndarray,
    ok: np.ndarray,
    two_part: np.ndarray,
    pmatrix: csr_matrix,
    matrix: csr_matrix,
    params: NearDupParams,
    threads: int | None = None,
) -> np.ndarray:
    """Which accepted candidates (``ok``) fail the punchline check. Two two-part jokes need punchline Jaccard
    >= ``params.punchline_threshold`` (two punchlines without letters count as equal), or, when their parts were
    cut at different places, each punchline contained in the other joke's whole text to >=
    ``params.cross_containment``. A two-part joke against a one-part text needs its punchline contained in that
    text to >= ``params.mixed_containment`` (a bare setup, "A man walks into a bar.", is not the joke)."""
    bad = np.zeros(len(cand), dtype=bool)
    a, b = cand[:, 0], cand[:, 1]
    both = ok & two_part[a] & two_part[b]
    if both.any():
        idx = np.flatnonzero(both)
        pj = mh.jaccard_pairs(pmatrix, cand[idx], threads=threads)
        sizes = mh.row_sizes(pmatrix)
        empty = (sizes[a[idx]] == 0) & (sizes[b[idx]] == 0)
        fail = (pj < params.punchline_threshold) & ~empty
        if fail.any() and params.cross_containment > 0:
            sub = cand[idx[fail]]
            ab = mh.containment_pairs(pmatrix, matrix, sub, threads=threads)
            ba = mh.containment_pairs(pmatrix, matrix, sub[:, ::-1], threads=threads)
            fail[np.flatnonzero(fail)] = np.minimum(ab, ba) < params.cross_containment
        bad[idx] = fail
    for part, whole in ((a, b), (b, a)):
        mixed = ok & two_part[part] & ~two_part[whole]
        if mixed.any():
            idx = np.flatnonzero(mixed)
            cont = mh.containment_pairs(pmatrix, matrix, np.stack([part[idx], whole[idx]], axis=1), threads=threads)
            bad[idx] = cont < params.mixed_containment
    return bad


def accept_pairs(
    cand: np.ndarray,
    jac: np.ndarray,
    two_part: np.ndarray | None,
    pmatrix: csr_matrix | None,
    matrix: csr_matrix,
    params: NearDupParams,
    threads: int | None = None,
) -> tuple[np.ndarray, int]:
    """Which candidate pairs ``cand`` (``(k, 2)``, text Jaccard ``jac``) are near-duplicate edges, and how many
    the punchline check rejected. First pass: ``jac >= params.threshold`` and :func:`punchline_mismatch` passes.
    Second pass, for reworded reposts (with punchlines, ``0 < low_threshold < threshold``): two two-part jokes
    with ``low_threshold <= jac < threshold`` whose punchlines have Jaccard >= ``params.low_punchline`` (the
    same punchline told with another setup wording). Bool ``(k,)``."""
    ok = jac >= params.threshold
    if two_part is None or pmatrix is None or params.punchline_threshold <= 0:  # punchline checks off
        return ok, 0
    bad = punchline_mismatch(cand, ok, two_part, pmatrix, matrix, params, threads)
    ok &= ~bad
    if params.floor() < params.threshold:
        low = (jac >= params.floor()) & (jac < params.threshold) & two_part[cand[:, 0]] & two_part[cand[:, 1]]
        if low.any():
            idx = np.flatnonzero(low)
            ok[idx] = mh.jaccard_pairs(pmatrix, cand[idx], threads=threads) >= params.low_punchline
    return ok, int(bad.sum())


def pre_plausible(sig: np.ndarray, a: np.ndarray, b: np.ndarray, threshold: float) -> np.ndarray:
    """The cheap first tests of :func:`plausible_pairs` for the pairs ``(a[i], b[i])`` (int row numbers of ``sig``,
    uint32 ``(n, m)``, the first ``m`` signature columns of each text): for each ``t`` of :data:`PRE_TIERS` (at
    most ``m``), the MinHash estimate over the first ``t`` columns (a share of equal columns, standard error
    ``sqrt(s (1 - s) / t)``, Broder 1997, https://doi.org/10.1109/SEQUEN.1997.666900) is at least ``threshold -
    3.5`` standard errors. Each tier only looks at the pairs the previous one kept, so the wider one costs
    little. A pair exactly at the threshold fails one tier with probability at most ~2 x 2.3e-4. Bool ``(k,)``."""
    counts = np.zeros(len(a), dtype=np.int64)
    alive = np.arange(len(a))
    lo = 0
    for tier in PRE_TIERS:
        t = min(tier, sig.shape[1])
        if t <= lo:
            break
        ia, ib = a[alive], b[alive]
        counts[alive] += np.count_nonzero(sig[ia, lo:t] == sig[ib, lo:t], axis=1)
        se = np.sqrt(threshold * (1 - threshold) / t)
        alive = alive[counts[alive] >= t * (threshold - PRE_SIGMAS * se)]
        lo = t
    out = np.zeros(len(a), dtype=bool)
    out[alive] = True
    return out


def plausible_pairs(sig: np.ndarray, pairs: np.ndarray, threshold: float) -> np.ndarray:
    """Which pairs ``(k, 2)`` deserve the exact Jaccard, from their MinHash estimate (a share of equal signature
    columns; standard error ``sqrt(s (1 - s) / m)`` over ``m`` columns): a pair must pass
    :func:`pre_plausible` (its first :data:`PRE_COLUMNS` columns, in tiers) and then needs an estimate over all
    columns of at least ``threshold - ESTIMATE_MARGIN`` (> 6 standard errors with the default 224 columns).
    Bool ``(k,)``."""
    m = min(PRE_COLUMNS, sig.shape[1])
    pre = pre_plausible(sig[:, :m], pairs[:, 0], pairs[:, 1], threshold)
    out = np.zeros(len(pairs), dtype=bool)
    p = pairs[pre]
    est = np.count_nonzero(sig[p[:, 0]] == sig[p[:, 1]], axis=1) / sig.shape[1]
    out[pre] = est >= threshold - ESTIMATE_MARGIN
    return out


def near_duplicate_labels(
    forms: Sequence[str],
    params: NearDupParams,
    punchlines: Sequence[str | None] | None = None,
    *,
    threads: int | None = None,
) -> NearDupResult:
    """Near-duplicate clusters of already-normalized texts (:func:`jokemine.cleaning.minhash.shingle_form`).

    ``punchlines`` (same length, ``None`` for one-part jokes), when given, are shingle forms of the second parts and
    turn on the punchline check (:func:`punchline_mismatch`, threshold ``params.punchline_threshold``). Pairs
    already in one cluster are not verified again (single linkage needs one path). Shingling, signatures and
    the MinHash estimates run on ``threads`` threads (default: the usable CPUs); the result does not depend on it.
    """
    node, uniq = pd.factorize(pd.Series(forms, dtype="object"))
    n_uniq = len(uniq)
    if punchlines is not None:
        pcode = pd.factorize(pd.Series(list(punchlines), dtype="object"), use_na_sentinel=False)[0]
        node, pair_uniq = pd.factorize(node.astype(np.int64) * (int(pcode.max()) + 1) + pcode)
        n_uniq = len(pair_uniq)
    if n_uniq < len(forms):  # identical inputs are one node (they are trivially the same joke)
        first = pd.Series(np.arange(len(node))).groupby(node).first().to_numpy()
        sub = near_duplicate_labels(
            [forms[i] for i in first],
            params,
            None if punchlines is None else [punchlines[i] for i in first],
            threads=threads,
        )
        sub.labels = join_labels(node, sub.labels[node])
        return sub
    t0 = time.perf_counter()
    n = len(forms)
    bands, rows = params.banding()
    res = NearDupResult(np.arange(n, dtype=np.int64), np.zeros((0, 2), np.int64), np.zeros(0), bands=bands, rows=rows)
    if n < 2:
        return res
    sh = mh.shingle_hashes(forms, params.ngram, params.unit, threads=threads)
    # from here on only the signatures and the sparse matrices are kept (the hash arrays are dropped)
    t1 = time.perf_counter()
    sig = mh.signatures(sh, bands * rows, params.seed, threads=threads)
    t2 = time.perf_counter()
    matrix = mh.shingle_matrix(sh, reuse=True)
    del sh
    pmatrix = None
    if punchlines is not None:
        two_part = np.fromiter((p is not None for p in punchlines), dtype=bool, count=n)
        pmatrix = mh.shingle_matrix(
            mh.shingle_hashes([p or "" for p in punchlines], params.ngram, params.unit, threads=threads), reuse=True
        )
    edges: list[np.ndarray] = []
    scores: list[np.ndarray] = []
    for cand in mh.lsh_candidates(sig, bands, rows, lambda: res.labels):
        res.candidates += len(cand)
        cand = cand[res.labels[cand[:, 0]] != res.labels[cand[:, 1]]]
        if not len(cand):
            continue
        cand = np.sort(cand[:, 0] * n + cand[:, 1])  # sort-based unique: numpy 2's hash-based np.unique is ~100x slower
        cand = cand[np.r_[True, cand[1:] != cand[:-1]]]
        cand = np.stack([cand // n, cand % n], axis=1)
        plausible = np.concatenate(
            mh.pool_map(
                lambda c: plausible_pairs(sig, c, params.floor()),
                np.array_split(cand, 1 + len(cand) // 50_000),
                threads,
            )
        )
        res.rejected_text += int((~plausible).sum())
        cand = cand[plausible]
        res.checked += len(cand)
        jac = mh.jaccard_pairs(matrix, cand, threads=threads)
        res.rejected_text += int((jac < params.floor()).sum())
        ok, rejected = accept_pairs(
            cand, jac, two_part if pmatrix is not None else None, pmatrix, matrix, params, threads
        )
        res.rejected_punchline += rejected
        if ok.any():
            edges.append(cand[ok])
            scores.append(jac[ok])
            res.labels = _merge(res.labels, cand[ok])
    if edges:
        res.pairs, res.jaccard = np.concatenate(edges), np.concatenate(scores)
    res.seconds = {
        "shingles": t1 - t0,
        "signatures": t2 - t1,
        "lsh_verify": time.perf_counter() - t2,
    }
    return res


def near_duplicate_clusters(
    texts: Sequence[str],
    *,
    threshold: float = DEFAULT_THRESHOLD,
    punchlines: Sequence[str | None] | None = None,
    params: NearDupParams | None = None,
) -> list[int]:
    """Cluster label per text (equal labels = the same joke; the label is the smallest index in the cluster).

    Applies exactly the pipeline's normalization (:func:`jokemine.cleaning.text.fix_text`, then
    :func:`jokemine.cleaning.minhash.shingle_form`) and settings (:class:`NearDupParams`, ``threshold`` overriding
    its threshold). ``punchlines`` (optional; ``None``, NaN or ``""`` for one-part jokes) turn on the punchline
    check; ``texts`` are then the whole jokes (setup + punchline), as in the pipeline.

    >>> near_duplicate_clusters(["There are 10 types of people: those who understand binary and those who don't.",
    ...                          "There are 10 kinds of people - those who understand binary, and those who don't!",
    ...                          "Why did the chicken cross the road? To get to the other side."])
    [0, 0, 2]
    """
    p = params or NearDupParams()
    if threshold != p.threshold:
        p = NearDupParams(**{**p.__dict__, "threshold": threshold, "bands": None, "rows": None})
    forms = [mh.shingle_form(fix_text(t)) for t in texts]
    pforms = None
    if punchlines is not None:
        if len(punchlines) != len(texts):
            raise ValueError(f"{len(punchlines)} punchlines for {len(texts)} texts")
        pforms = [mh.shingle_form(fix_text(x)) if isinstance(x, str) and x else None for x in punchlines]
    return near_duplicate_labels(forms, p, pforms).labels.tolist()


def survivors(df: pd.DataFrame, cluster: str) -> pd.Series:
    """For rows of ``df`` (columns ``id``, ``score_norm``, ``created_at`` and ``cluster``), the id of the surviving
    member of each row's cluster, aligned with ``df.index``: highest ``score_norm`` (NaN last), then earliest
    ``created_at`` (NaT last), then smallest ``id``."""
    if df.empty:
        return pd.Series([], dtype="object")
    order = df.sort_values(
        [cluster, "score_norm", "created_at", "id"],
        ascending=[True, False, True, True],
        na_position="last",
        kind="mergesort",
    )
    return order.groupby(cluster, sort=False)["id"].transform("first").reindex(df.index)


def exact_duplicates(df: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """For rows of ``df`` (columns ``id``, ``text_key``, ``score_norm``, ``created_at``), return
    ``(dup_cluster, is_duplicate)`` aligned with ``df.index``: the survivor's id per row (:func:`survivors` over
    ``text_key`` clusters) and whether the row is not the survivor."""
    if df.empty:
        return pd.Series([], dtype="object"), pd.Series([], dtype="bool")
    survivor = survivors(df, "text_key")
    return survivor, survivor != df["id"]


@dataclass
class DedupOutcome:
    """Duplicate decisions for the live rows of :func:`deduplicate`'s frame (all Series aligned with its index).

    ``cluster``: int64 cluster label (rows of one cluster share it); ``survivor``: the kept member's id;
    ``drop_reason``: ``None`` for survivors, ``"exact_duplicate"`` for a member with the survivor's ``text_key``,
    else ``"near_duplicate"``; ``size``: members in the cluster; ``also_in``: for survivors, the sorted other
    sources the joke was seen in (``None`` for removed members). ``near``: the near-duplicate run over the
    distinct shingle inputs (``None`` when off); ``texts``: each row's text (``None`` when near-duplicates are off).
    """

    cluster: pd.Series
    survivor: pd.Series
    drop_reason: pd.Series
    size: pd.Series
    also_in: pd.Series
    near: NearDupResult | None
    texts: pd.Series


TextLoader = Callable[[pd.DataFrame], tuple[list[str], list[str | None]]]
"""``rows -> (texts, punchlines)`` for :func:`deduplicate`."""


def join_labels(*labels: np.ndarray) -> np.ndarray:
    """Connected components of rows that share any label: rows ``i`` and ``j`` end together when
    ``labels[k][i] == labels[k][j]`` for some ``k`` (transitively). Each input is ``(n,)`` of any hashable dtype;
    returns int64 ``(n,)`` component ids (the smallest row index of each component)."""
    n = len(labels[0])
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    rows = np.arange(n, dtype=np.int64)
    src, dst, offset = [], [], n
    for lab in labels:
        codes = pd.factorize(np.asarray(lab))[0].astype(np.int64)
        src.append(rows)
        dst.append(offset + codes)
        offset += int(codes.max()) + 1
    a, b = np.concatenate(src), np.concatenate(dst)
    graph = coo_matrix((np.ones(len(a), dtype=np.int8), (a, b)), shape=(offset, offset))
    _, comp = connected_components(graph, directed=False)
    comp = comp[:n]
    smallest = np.full(comp.max() + 1, n, dtype=np.int64)
    np.minimum.at(smallest, comp, rows)
    return smallest[comp]


def deduplicate(df: pd.DataFrame, load_texts: TextLoader, params: NearDupParams | None) -> DedupOutcome:
    """Exact and near-duplicate clusters with their survivors over the live rows ``df`` (columns ``id``,
    ``source``, ``text_key``, ``score_norm``, ``created_at``).

    Clusters join rows with the same ``text_key`` (exact) and rows whose texts are near-duplicates. Every
    distinct input (shingle form of the text + of the punchline) is a node of the near-duplicate search, so any
    two texts that could be released are compared. ``load_texts(df)`` returns ``(texts, punchlines)`` for all
    rows in order; it is called only when ``params`` is not ``None`` (near-duplicates on). Texts are normalized
    with :func:`jokemine.cleaning.minhash.shingle_form` (they are already :func:`fix_text`-ed).
    """
    near = None
    texts = pd.Series(None, index=df.index, dtype="object")
    if params is not None and len(df) > 1:
        raw_texts, punchlines = load_texts(df)
        texts = pd.Series(raw_texts, index=df.index, dtype="object")
        forms = [mh.shingle_form(t) for t in raw_texts]
        pforms = [mh.shingle_form(p) if isinstance(p, str) and p else None for p in punchlines]
        near = near_duplicate_labels(forms, params, pforms if params.punchline_threshold > 0 else None)
        joined = join_labels(df["text_key"].to_numpy(), near.labels)
    else:
        joined = join_labels(df["text_key"].to_numpy())
    cluster = pd.Series(joined, index=df.index, dtype="int64")
    frame = df.assign(cluster=cluster)
    survivor = survivors(frame, "cluster")
    is_survivor = survivor == df["id"]
    surv_key = df.set_index("id").loc[survivor.to_numpy(), "text_key"].to_numpy()
    labels = np.where(surv_key == df["text_key"].to_numpy(), "exact_duplicate", "near_duplicate").astype(object)
    labels[is_survivor.to_numpy()] = None
    drop = pd.Series(
        labels,
        index=df.index,
        dtype="object",
    )
    size = cluster.map(cluster.value_counts()).astype("int64")
    multi = size > 1
    sources = frame.loc[multi].groupby("cluster")["source"].agg(lambda s: sorted(set(s)))
    values: list[list[str] | None] = [None] * len(df)
    for k, (c, own, keep, many) in enumerate(zip(cluster, df["source"], is_survivor, multi, strict=True)):
        if keep:
            values[k] = [x for x in sources[c] if x != own] if many else []
    also = pd.Series(values, index=df.index, dtype="object")
    return DedupOutcome(cluster, survivor, drop, size, also, near, texts)
