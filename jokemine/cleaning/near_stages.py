"""Near-duplicate search as stages that hand off through files (datatrove's MinHash signature -> buckets ->
cluster stages, https://github.com/huggingface/datatrove/blob/main/src/datatrove/pipeline/dedup/minhash.py, plus
an exact-Jaccard verification that datatrove does not have).

* :func:`sign` (per shard): every live record becomes a *node*, the 64-bit hash of its shingle form and its
  punchline's (identical inputs are one node, as in :func:`jokemine.cleaning.dedup.near_duplicate_labels`);
  per distinct node: its shingle sets (text and punchline) and MinHash signature, computed once and scattered by
  node to ``nodes``, and one band key per LSH band (scattered by band key to ``bands``). The record with its node
  goes to ``rows``; ``(node, text_key)`` and ``(node, group_key)`` are scattered by key for
  :mod:`jokemine.cleaning.clusters`.
  The first :data:`~jokemine.cleaning.dedup.PRE_COLUMNS` signature columns of each node go to ``presig``.
* :func:`buckets` (per band-key partition): nodes equal on a whole band share a bucket. Round 1 pairs each
  bucket's smallest node with every other (a star: single linkage needs one path per cluster). Round 2 takes
  the buckets that round 1 left in several clusters (:func:`mixed`), joins the first signature columns to their
  members (:func:`attach_pre`, per node partition) and pairs members only across clusters, keeping a pair only
  when those columns pass :func:`jokemine.cleaning.dedup.pre_plausible` (the first tests of the verification, so
  nothing it would accept is lost). A bucket of thousands of short texts or of one joke's many variants gives
  millions of pairs that are not near-duplicates; they never reach a file (at 1M rows of the bench corpus:
  118M pairs in mixed buckets, 29M pass the 32-column tier, ~3.5M the 96-column one).
* :func:`attach_a` / :func:`verify` (per node partition): the node data of both ends meet each pair (the first
  ends' data travels in per-chunk dictionaries of at most :data:`DICT_NODES` nodes beside at most
  :data:`ATTACH_ROWS` pairs, so memory is bounded whatever the pairs per partition), then the pair is an edge only
  when the MinHash estimate is plausible, the exact Jaccard of the shingle sets reaches the threshold and the
  punchline check passes (:func:`jokemine.cleaning.dedup.plausible_pairs`,
  :func:`jokemine.cleaning.dedup.accept_pairs`): the same tests as the in-memory search, so the
  connected components (:mod:`jokemine.cleaning.clusters`) are the same.

Nodes are 64-bit hashes: two different inputs share one with probability ~n^2 / 2^65 (~3e-6 at 10M nodes).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa

from jokemine.cleaning import minhash as mh
from jokemine.cleaning.dedup import (
    PRE_COLUMNS,
    NearDupParams,
    accept_pairs,
    dedup_punchline,
    plausible_pairs,
    pre_plausible,
)
from jokemine.cleaning.id_merge import LIVE_SCHEMA
from jokemine.cleaning.shuffle import Work, hash_strings, part_of_hashes, part_of_strings, schema
from jokemine.pipeline import storage
from jokemine.pipeline.steps import Stats

NO_PUNCHLINE = "\x01"  # never in a shingle form (a non-word character)
ROW_SCHEMA = pa.schema([*LIVE_SCHEMA, pa.field("node", pa.uint64())])
LINK_SCHEMA = schema(node=pa.uint64(), key=pa.string())
BAND_SCHEMA = schema(band=pa.int32(), key=pa.uint64(), node=pa.uint64())
NODE_SCHEMA = schema(node=pa.uint64(), sh=pa.large_binary(), psh=pa.large_binary(), sig=pa.large_binary())
PAIR_SCHEMA = schema(a=pa.uint64(), b=pa.uint64())
EDGE_SCHEMA = schema(a=pa.uint64(), b=pa.uint64(), jaccard=pa.float64())
LABEL_SCHEMA = schema(node=pa.uint64(), cluster=pa.uint64(), group=pa.uint64())
PRE_NAMES = [f"h{j:02d}" for j in range(PRE_COLUMNS)]
PRESIG_SCHEMA = pa.schema([pa.field("node", pa.uint64()), *(pa.field(c, pa.uint32()) for c in PRE_NAMES)])
MSIG_SCHEMA = pa.schema([*BAND_SCHEMA, *(pa.field(c, pa.uint32()) for c in PRE_NAMES)])
MAX_PAIRS = 1 << 19  # pairs per vectorized chunk (two (k, 32) uint32 gathers: 128 MiB)
ATTACH_ROWS = 1 << 20  # pairs per file of apairs-<round>
PLAUSIBLE_ROWS = 1 << 16  # pairs per MinHash estimate (two (k, 224) uint32 gathers: 112 MiB)
DICT_NODES = 1 << 15  # nodes per file of adict-<round> and per verified chunk (~2.5 KB each by default: ~80 MB)


def _u32_column(offsets: np.ndarray, values: np.ndarray, valid: np.ndarray | None = None) -> pa.Array:
    """Rows of uint32 values in CSR form (``offsets`` int64 ``(n + 1,)``) as a ``large_binary`` Arrow array (the
    little-endian bytes of each row; null where ``valid`` is False)."""
    n = len(offsets) - 1
    data = np.ascontiguousarray(values, dtype="<u4")
    bitmap = None if valid is None else pa.py_buffer(np.packbits(valid, bitorder="little"))
    nulls = 0 if valid is None else int(n - valid.sum())
    buffers = [bitmap, pa.py_buffer((offsets * 4).astype(np.int64)), pa.py_buffer(data)]
    return pa.Array.from_buffers(pa.large_binary(), n, buffers, null_count=nulls)


def _u32_rows(col: pa.ChunkedArray | pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """``(offsets, values)`` (int64 ``(n + 1,)``, uint32) of a column written by :func:`_u32_column` (a null row
    is empty). ``values`` is a read-only view of the Arrow buffer."""
    arr = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
    arr = arr.cast(pa.large_binary())
    n = len(arr)
    bufs = arr.buffers()
    off = np.frombuffer(bufs[1], dtype=np.int64)[arr.offset : arr.offset + n + 1] if n else np.zeros(1, np.int64)
    raw = np.frombuffer(bufs[2], dtype=np.uint8) if n and bufs[2] is not None else np.zeros(0, np.uint8)
    values = raw[off[0] : off[-1]].view("<u4")
    return (off - off[0]) // 4, values


def node_shingles(col: pa.ChunkedArray | pa.Array) -> mh.Shingles:
    """The shingle sets stored in a ``sh``/``psh`` column of ``nodes`` (null: empty)."""
    off, values = _u32_rows(col)
    return mh.Shingles(off, values)


def node_signatures(col: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """The ``sig`` column of ``nodes`` as uint32 ``(n, num_perm)``."""
    off, values = _u32_rows(col)
    n = len(off) - 1
    return values.reshape(n, -1) if n else np.zeros((0, 0), np.uint32)


def node_ids(forms: list[str], pforms: list[str | None] | None) -> np.ndarray:
    """uint64 node of each input: hash of the shingle form, and of the punchline's form when ``pforms`` is given
    (``None`` for a one-part joke, distinct from an empty punchline form)."""
    h = hash_strings(forms)
    if pforms is None:
        return h
    p = hash_strings([NO_PUNCHLINE if x is None else x for x in pforms])
    with np.errstate(over="ignore"):
        return mh.fmix64(h * np.uint64(0x9E3779B97F4A7C15) ^ p)


def text_key_nodes(text_keys: pd.Series) -> np.ndarray:
    """Nodes when near-duplicates are off: one per ``text_key`` (exact duplicates only)."""
    return hash_strings(("\x02" + text_keys.astype(str)).to_numpy())


@dataclass(frozen=True)
class SignTask:
    """Shard ``s``: its pass-1 file ``p1`` (path or URL); ``params`` (``None``: near-duplicates off); ``known``:
    the node list of a near-duplicate index (:mod:`jokemine.cleaning.near_index`), whose nodes are neither signed
    nor scattered again (``None``: every node is new)."""

    work: Work
    s: int
    p1: str
    params: NearDupParams | None
    known: str | None = None
    node_cache: str | None = None  # the part's row -> node cache file (kept beside its pass-1 cache entry)


def known_nodes(url: str | None) -> np.ndarray:
    """The sorted uint64 nodes of an index's node list (empty for ``None``)."""
    if url is None:
        return np.zeros(0, np.uint64)
    return np.sort(storage.read_table(url, ["node"])["node"].to_numpy().astype(np.uint64))


def isin_sorted(values: np.ndarray, sorted_keys: np.ndarray) -> np.ndarray:
    """Bool mask: which of ``values`` are in ``sorted_keys`` (both uint64). A hash table of the keys (pandas'),
    ~10x faster than a binary search of every value on millions of values."""
    if not len(sorted_keys):
        return np.zeros(len(values), dtype=bool)
    return pd.Series(values, copy=False).isin(sorted_keys).to_numpy()


def find_sorted(values: np.ndarray, sorted_keys: np.ndarray) -> np.ndarray:
    """Position (int64) of each of ``values`` in ``sorted_keys`` (both uint64, keys sorted), -1 where absent; the
    first position of a repeated key. By hash table when the keys are distinct (see :func:`isin_sorted`)."""
    if not len(sorted_keys):
        return np.full(len(values), -1, dtype=np.int64)
    index = pd.Index(sorted_keys, copy=False)
    if index.is_unique:
        return index.get_indexer(values).astype(np.int64, copy=False)
    at = np.minimum(np.searchsorted(sorted_keys, values), len(sorted_keys) - 1)
    return np.where(sorted_keys[at] == values, at, -1).astype(np.int64)


NODE_CACHE_SCHEMA = schema(row=pa.int64(), node=pa.uint64())


def _forms(p1: str, rows: np.ndarray, two_parts: bool) -> tuple[list[str], list[str | None] | None]:
    """Shingle forms of the texts (and, with ``two_parts``, of the punchlines; ``None`` for a one-part joke) of
    pass-1 rows ``rows`` of file ``p1``."""
    t = storage.read_table(p1, ["text", "punchline", "structure"]).take(pa.array(rows, pa.int64()))
    forms = [mh.shingle_form(x) for x in t.column("text").to_pylist()]
    if not two_parts:
        return forms, None
    punch = map(dedup_punchline, t.column("punchline").to_pylist(), t.column("structure").to_pylist())
    return forms, [mh.shingle_form(p) if isinstance(p, str) and p else None for p in punch]


NOT_SEARCHED = frozenset({"thread_reply"})
"""``structure`` values left out of the near-duplicate search (exact duplicates still apply): replies in a thread
share their post as setup, so their texts are near-duplicates of each other whatever the reply ("Nut button." and
"Fidget button" under one r/AskReddit prompt), and one reply under two different posts is two jokes. Near-duplicate
siblings never make a preference pair (:func:`jokemine.publish.groups.preference_pairs` checks punchlines)."""


def _searched(p1: str, rows: np.ndarray) -> np.ndarray:
    """Bool per pass-1 row of ``rows``: whether the near-duplicate search looks at it (:data:`NOT_SEARCHED`)."""
    t = storage.read_table(p1, ["structure"]).take(pa.array(rows, pa.int64()))
    structure = t.column("structure").to_pandas()
    return ~structure.isin(NOT_SEARCHED).to_numpy()


Forms = dict[int, tuple[str, str | None]]  # pass-1 row -> (shingle form of the text, of the punchline or None)


def _forms_by_row(p1: str, rows: np.ndarray, two_parts: bool) -> Forms:
    """:func:`_forms` of ``rows``, by row."""
    forms, pforms = _forms(p1, rows, two_parts)
    return dict(zip(rows.tolist(), zip(forms, pforms or [None] * len(forms), strict=True), strict=True))


def _row_nodes(task: SignTask, rows: np.ndarray, two_parts: bool) -> tuple[np.ndarray, Forms]:
    """The node of each pass-1 row in ``rows``: from the part's node cache (``task.node_cache``: rows computed by
    earlier cleans of the same raw part and settings), the others computed (their forms are returned) and added
    to it."""
    cached = pd.DataFrame({"row": np.zeros(0, np.int64), "node": np.zeros(0, np.uint64)})
    if task.node_cache and storage.exists(task.node_cache):
        with contextlib.suppress(OSError, pa.ArrowException):  # a damaged entry: computed again
            cached = storage.read_frames([task.node_cache], NODE_CACHE_SCHEMA)
    known = pd.Series(cached["node"].to_numpy(np.uint64), index=cached["row"].to_numpy(np.int64))
    missing = rows[~np.isin(rows, known.index.to_numpy())]
    computed: Forms = {}
    if len(missing):
        computed = _forms_by_row(task.p1, missing, two_parts)
        forms = [computed[r][0] for r in missing.tolist()]
        pforms = [computed[r][1] for r in missing.tolist()] if two_parts else None
        known = pd.concat([known, pd.Series(node_ids(forms, pforms), index=missing)])
        if task.node_cache:
            df = pd.DataFrame({"row": known.index.to_numpy(np.int64), "node": known.to_numpy(np.uint64)})
            storage.write_frame(task.node_cache, df.sort_values("row"), NODE_CACHE_SCHEMA)
    return known.reindex(rows).to_numpy(np.uint64), computed


def _new_forms(
    task: SignTask, rows: np.ndarray, computed: Forms, two_parts: bool
) -> tuple[list[str], list[str | None] | None]:
    """Forms of pass-1 rows ``rows``: those in ``computed`` reused, the others computed."""
    rest = np.array([r for r in rows.tolist() if r not in computed], dtype=np.int64)
    if len(rest):
        computed = {**computed, **_forms_by_row(task.p1, rest, two_parts)}
    pairs = [computed[r] for r in rows.tolist()]
    return [f for f, _ in pairs], ([p for _, p in pairs] if two_parts else None)


def sign(task: SignTask) -> Stats:
    """Nodes, signatures and band keys of the live records of one shard (see the module docstring)."""
    work, stats = task.work, Stats()
    live = work.gather("live", task.s, LIVE_SCHEMA).sort_values("row", kind="mergesort").reset_index(drop=True)
    tag = f"{task.s:05d}"
    params = task.params
    if params is not None and len(live):
        two_parts = params.punchline_threshold > 0
        live["node"], computed = _row_nodes(task, live["row"].to_numpy(np.int64), two_parts)
        stats.add("near", "rows_hashed", n=len(computed))
        first = np.flatnonzero(~live["node"].duplicated().to_numpy())
        first = first[~isin_sorted(live["node"].to_numpy()[first], known_nodes(task.known))]  # new nodes only
        node = live["node"].to_numpy()[first]
        nforms, npforms_or_none = _new_forms(task, live["row"].to_numpy(np.int64)[first], computed, two_parts)
        del computed
        sh = mh.shingle_hashes(nforms, params.ngram, params.unit, threads=1)
        bands, rows = params.banding()
        sig = mh.signatures(sh, bands * rows, params.seed, threads=1)
        two_part = np.zeros(len(node), dtype=bool)
        psh = mh.Shingles(np.zeros(len(node) + 1, np.int64), np.zeros(0, np.uint32))
        if npforms_or_none is not None:
            npforms = npforms_or_none
            two_part = np.array([p is not None for p in npforms], dtype=bool)
            psh = mh.shingle_hashes([p or "" for p in npforms], params.ngram, params.unit, threads=1)
        sig_off = np.arange(len(node) + 1, dtype=np.int64) * sig.shape[1]
        nodes = pa.table(
            {
                "node": pa.array(node, pa.uint64()),
                "sh": _u32_column(sh.offsets, sh.hashes),
                "psh": _u32_column(psh.offsets, psh.hashes, two_part),
                "sig": _u32_column(sig_off, sig.ravel()),
            },
            schema=NODE_SCHEMA,
        )
        # a text without shingles is nobody's near-duplicate; nor is a reply in a thread (see NOT_SEARCHED)
        has = np.flatnonzero((sh.sizes() > 0) & _searched(task.p1, live["row"].to_numpy(np.int64)[first]))
        entries = pd.DataFrame(
            {
                "band": np.repeat(np.arange(bands, dtype=np.int32), len(has)),
                "key": np.concatenate([mh.band_keys(sig[has, b * rows : (b + 1) * rows]) for b in range(bands)])
                if len(has)
                else np.zeros(0, np.uint64),
                "node": np.tile(node[has], bands),
            }
        )
        work.scatter("bands", entries, part_of_hashes(entries["key"].to_numpy(), work.partitions), tag, BAND_SCHEMA)
        work.scatter_table("nodes", nodes, part_of_hashes(node, work.partitions), tag)
        pre = np.zeros((len(has), PRE_COLUMNS), np.uint32)
        m = min(PRE_COLUMNS, sig.shape[1])
        pre[:, :m] = sig[has, :m]
        presig = pd.DataFrame(pre, columns=PRE_NAMES)
        presig.insert(0, "node", node[has])
        work.scatter("presig", presig, part_of_hashes(presig["node"].to_numpy(), work.partitions), tag, PRESIG_SCHEMA)
        stats.add("near", "nodes", n=len(nodes))
    else:
        live["node"] = text_key_nodes(live["text_key"]) if len(live) else np.zeros(0, np.uint64)
    work.write("rows", tag, live, ROW_SCHEMA)
    for dataset, col in (("tk", "text_key"), ("gk", "group_key")):
        links = pd.DataFrame({"node": live["node"], "key": live[col]}).drop_duplicates()
        work.scatter(dataset, links, part_of_strings(links["key"].to_numpy(), work.partitions), tag, LINK_SCHEMA)
    return stats


@dataclass(frozen=True)
class BucketTask:
    """Band-key partition ``b``; ``round`` 1 (stars) or 2 (pairs across the clusters of round 1); ``params`` of
    the search (round 2 applies its first test)."""

    work: Work
    b: int
    round: int
    params: NearDupParams
    index: str | None = None  # an incremental search: the index folder (:mod:`jokemine.cleaning.near_index`)


def lookup(nodes: np.ndarray, labels: pd.DataFrame, column: str) -> np.ndarray:
    """``labels[column]`` of each node (``labels``: columns ``node`` sorted, ``column``); a node without a label
    is its own."""
    keys = labels["node"].to_numpy(np.uint64)
    vals = labels[column].to_numpy(np.uint64)
    nodes = np.asarray(nodes, dtype=np.uint64)
    if not len(keys):
        return nodes.copy()
    idx = find_sorted(nodes, keys)
    return np.where(idx >= 0, vals[idx], nodes)


def distinct_pairs(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct ``(a[i], b[i])`` pairs (uint64), sorted by ``a`` then ``b`` (a sort, not a hash table: ~24
    bytes per pair of temporary memory)."""
    a, b = np.asarray(a, dtype=np.uint64), np.asarray(b, dtype=np.uint64)
    if not len(a):
        return a, b
    order = np.lexsort((b, a))
    a, b = a[order], b[order]
    first = np.r_[True, (a[1:] != a[:-1]) | (b[1:] != b[:-1])]
    return a[first], b[first]


def _bucket_bounds(band: np.ndarray, key: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start and size of each run of equal ``(band, key)`` in sorted arrays."""
    if not len(band):
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    starts = np.flatnonzero(np.r_[True, (band[1:] != band[:-1]) | (key[1:] != key[:-1])])
    return starts, np.diff(np.r_[starts, len(band)])


def _star_pairs(node: np.ndarray, starts: np.ndarray, sizes: np.ndarray) -> pd.DataFrame:
    """Each bucket's first (smallest) node with every other member."""
    multi = sizes > 1
    st, sz = starts[multi], sizes[multi]
    head = np.repeat(node[st], sz - 1)
    before = np.cumsum(sz - 1) - (sz - 1)
    other = node[np.repeat(st + 1 - before, sz - 1) + np.arange(len(head))]
    return pd.DataFrame({"a": head, "b": other})


PairRule = Callable[[np.ndarray, np.ndarray], np.ndarray]  # (a, b) member indices -> bool: search this pair?


def _cross_pairs(
    node: np.ndarray, rule: PairRule, pre: np.ndarray, threshold: float, starts: np.ndarray, sizes: np.ndarray
) -> tuple[pd.DataFrame, int]:
    """Every pair of one bucket that ``rule`` allows (round 2: nodes in different clusters), for every bucket,
    that passes :func:`jokemine.cleaning.dedup.pre_plausible` on ``pre`` (uint32 ``(n, m)``, rows as ``node``);
    and the number of allowed pairs before that test."""
    parts: list[pd.DataFrame] = []
    crossing = 0

    def keep(a: np.ndarray, b: np.ndarray) -> None:
        nonlocal crossing
        cross = rule(a, b)
        a, b = a[cross], b[cross]
        crossing += len(a)
        ok = pre_plausible(pre, a, b, threshold)
        parts.append(pd.DataFrame({"a": node[a[ok]], "b": node[b[ok]]}))

    small = sizes <= 64
    for size in np.unique(sizes[small]):
        ii, jj = np.triu_indices(int(size), 1)
        st = starts[small][sizes[small] == size]
        step = max(1, MAX_PAIRS // len(ii))
        for lo in range(0, len(st), step):
            s = st[lo : lo + step, None]
            keep((s + ii).ravel(), (s + jj).ravel())
    for st, size in zip(starts[~small].tolist(), sizes[~small].tolist(), strict=True):
        for chunk in mh.bucket_pairs(np.arange(st, st + size), MAX_PAIRS):
            keep(chunk[:, 0], chunk[:, 1])
    if not parts:
        return pd.DataFrame({"a": np.zeros(0, np.uint64), "b": np.zeros(0, np.uint64)}), 0
    return pd.concat(parts, ignore_index=True), crossing


def _labels_1(work: Work) -> pd.DataFrame:
    return work.read_all("labels-1", LABEL_SCHEMA).sort_values("node")


def mixed(task: BucketTask) -> Stats:
    """Round 2, band-key partition ``b``: the members of the buckets that round 1 left in several clusters,
    scattered by node to ``mixed`` (to be joined with their first signature columns by :func:`attach_pre`)."""
    work, stats = task.work, Stats()
    df = storage.read_frames([work.path("mbuckets", f"{task.b:05d}.parquet")], BAND_SCHEMA)
    node = df["node"].to_numpy(np.uint64)
    label = lookup(node, _labels_1(work), "cluster")
    starts, sizes = _bucket_bounds(df["band"].to_numpy(), df["key"].to_numpy(np.uint64))
    keep = np.zeros(len(df), dtype=bool)
    if len(starts):
        multi = np.minimum.reduceat(label, starts) != np.maximum.reduceat(label, starts)
        keep = np.repeat(multi, sizes)
        stats.add("near", "mixed_buckets", n=int(multi.sum()))
    out = df[keep]
    work.scatter("mixed", out, part_of_hashes(out["node"].to_numpy(), work.partitions), f"{task.b:05d}", BAND_SCHEMA)
    return stats


def cross_buckets(task: BucketTask, rule_for: Callable[[np.ndarray], PairRule]) -> Stats:
    """Round 2, band-key partition ``b``: the pairs of each bucket of ``msig`` that the rule made by ``rule_for``
    (from the sorted members' nodes) allows and that pass the first tests, scattered by first node to
    ``pairs-<round>``."""
    work, stats, tag = task.work, Stats(), f"{task.b:05d}"
    t = work.gather_table("msig", task.b, MSIG_SCHEMA)
    band, key, node = t["band"].to_numpy(), t["key"].to_numpy(), t["node"].to_numpy()
    order = np.lexsort((node, key, band))
    band, key, node = band[order], key[order], node[order].astype(np.uint64)
    bands, rows = task.params.banding()
    m = min(PRE_COLUMNS, bands * rows)
    pre = np.empty((len(order), m), np.uint32)  # column by column: no second copy of the table
    for j, c in enumerate(PRE_NAMES[:m]):
        pre[:, j] = t[c].to_numpy()[order]
    del t
    starts, sizes = _bucket_bounds(band, key)
    pairs, crossing = _cross_pairs(node, rule_for(node), pre, task.params.floor(), starts, sizes)
    stats.add("near", "candidate_pairs", n=crossing)
    stats.add("near", "rejected_text", n=crossing - len(pairs))
    da, db = distinct_pairs(pairs["a"].to_numpy(), pairs["b"].to_numpy())  # one pair from several bands
    out = pd.DataFrame({"a": da, "b": db})
    name = f"pairs-{task.round}"
    work.scatter(name, out, part_of_hashes(out["a"].to_numpy(), work.partitions), tag, PAIR_SCHEMA)
    return stats


def buckets(task: BucketTask) -> Stats:
    """Candidate pairs of one band-key partition, scattered by their first node to ``pairs-<round>``: round 1
    pairs each bucket's first node with the others, round 2 (:func:`cross_buckets`) pairs the members of a mixed
    bucket that round 1 left in different clusters."""
    work, stats = task.work, Stats()
    tag = f"{task.b:05d}"
    if task.round != 1:
        labels = _labels_1(work)

        def different_clusters(node: np.ndarray) -> PairRule:
            label = lookup(node, labels, "cluster")
            return lambda a, b: label[a] != label[b]

        return cross_buckets(task, different_clusters)
    t = work.gather("bands", task.b, BAND_SCHEMA)
    band, key, node = t["band"].to_numpy(), t["key"].to_numpy(np.uint64), t["node"].to_numpy(np.uint64)
    order = np.lexsort((node, key, band))
    band, key, node = band[order], key[order], node[order]
    if len(node):  # one node seen in several shards is one member
        first = np.r_[True, (band[1:] != band[:-1]) | (key[1:] != key[:-1]) | (node[1:] != node[:-1])]
        band, key, node = band[first], key[first], node[first]
    starts, sizes = _bucket_bounds(band, key)
    pairs = _star_pairs(node, starts, sizes)
    stats.add("near", "candidate_pairs", n=len(pairs))
    da, db = distinct_pairs(pairs["a"].to_numpy(), pairs["b"].to_numpy())  # one pair from several bands
    pairs = pd.DataFrame({"a": da, "b": db})
    big = np.repeat(sizes > 2, sizes)  # round 1 settles buckets of two
    kept = pd.DataFrame({"band": band[big], "key": key[big], "node": node[big]})
    work.write("mbuckets", tag, kept, BAND_SCHEMA)
    stats.add("near", "buckets", n=int((sizes > 1).sum()))
    work.scatter("pairs-1", pairs, part_of_hashes(pairs["a"].to_numpy(), work.partitions), tag, PAIR_SCHEMA)
    return stats


@dataclass(frozen=True)
class VerifyTask:
    """Node partition ``n`` of round ``round``; ``params`` of the search."""

    work: Work
    n: int
    round: int
    params: NearDupParams
    index: str | None = None  # an incremental search: the index folder, whose nodes are read too


@dataclass(frozen=True)
class NodeTable:
    """Rows of one node partition: ``table`` (columns of :data:`NODE_SCHEMA`, in file order) and a lookup: the
    distinct nodes ``keys`` (sorted uint64) and ``rows``, the row of ``table`` holding each (one text seen in
    several shards is one node with one content; its first row serves)."""

    table: pa.Table
    keys: np.ndarray
    rows: np.ndarray

    def find(self, nodes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(known, row)`` for each of ``nodes``: whether it is here and its row (meaningless where not)."""
        at = np.clip(np.searchsorted(self.keys, nodes), 0, max(len(self.keys) - 1, 0))
        known = (self.keys[at] == nodes) if len(self.keys) else np.zeros(len(nodes), dtype=bool)
        return known, self.rows[at] if len(self.keys) else np.zeros(len(nodes), np.int64)


def _files(task: VerifyTask, dataset: str) -> list[str]:
    """The files of node partition ``task.n`` of ``dataset`` in the work folder, and in the index when the search
    is incremental (index files first)."""
    folders = [*([task.index] if task.index else []), task.work.root]
    return [u for f in folders for u in storage.listdir(storage.join(f, dataset, f"{task.n:05d}"), ".parquet")]


def _node_table(task: VerifyTask, needed: np.ndarray) -> NodeTable:
    """The rows of node partition ``n`` whose node is in ``needed`` (sorted uint64). Files are read one at a time
    and only the needed rows kept (peak: about twice those rows); the lookup is an index, not a sorted copy."""
    kept = []
    for url in _files(task, "nodes"):
        t = storage.read_table(url, NODE_SCHEMA.names)
        node = t["node"].to_numpy()
        at = np.clip(np.searchsorted(needed, node), 0, max(len(needed) - 1, 0))
        mask = (needed[at] == node) if len(needed) else np.zeros(len(node), dtype=bool)
        if mask.any():
            kept.append(t.filter(pa.array(mask)).cast(NODE_SCHEMA))
        del t
    # one chunk: Arrow's take on a many-chunk binary column copies every chunk first, on every call
    table = pa.concat_tables(kept).combine_chunks() if kept else NODE_SCHEMA.empty_table()
    del kept
    pa.default_memory_pool().release_unused()  # the files read and the chunks: only the kept rows stay
    node = table["node"].to_numpy() if table.num_rows else np.zeros(0, np.uint64)
    order = np.argsort(node, kind="stable")
    first = np.r_[True, node[order][1:] != node[order][:-1]] if len(node) else np.zeros(0, dtype=bool)
    return NodeTable(table, node[order][first], order[first].astype(np.int64))


def attach_pre(task: VerifyTask) -> Stats:
    """Round 2, node partition ``n``: each member of a mixed bucket whose node is here with its first signature
    columns, scattered by band key to ``msig``."""
    work = task.work
    members = work.gather("mixed", task.n, BAND_SCHEMA)
    pre = storage.read_frames(_files(task, "presig"), PRESIG_SCHEMA).drop_duplicates("node")
    out = members.merge(pre, on="node", how="inner")
    part = part_of_hashes(out["key"].to_numpy(), work.partitions)
    work.scatter("msig", out, part, f"{task.n:05d}", MSIG_SCHEMA)
    return Stats()


def attach_a(task: VerifyTask) -> Stats:
    """Each distinct pair whose first node is in partition ``n``, sent to the partition of its second node: files
    ``apairs-<round>/<part of b>/<n>-<chunk>`` (``a``, ``b``; at most :data:`ATTACH_ROWS` pairs) beside
    ``adict-<round>/<part of b>/<n>-<chunk>`` (the node data of that chunk's first nodes, at most
    :data:`DICT_NODES`): each first node's data travels once per chunk, not once per pair."""
    work, tag = task.work, f"{task.n:05d}"
    pairs = work.gather_table(f"pairs-{task.round}", task.n, PAIR_SCHEMA)
    a, b = distinct_pairs(pairs["a"].to_numpy(), pairs["b"].to_numpy())
    del pairs
    nodes = _node_table(task, np.unique(a))
    known, at = nodes.find(a)
    a, b, at = a[known], b[known], at[known]
    target = part_of_hashes(b, work.partitions)
    order = np.lexsort((b, a, target))
    bounds = np.searchsorted(target[order], np.arange(work.partitions + 1))
    for j in range(work.partitions):
        sel = order[bounds[j] : bounds[j + 1]]
        aj, bj, atj = a[sel], b[sel], at[sel]
        new = np.r_[True, aj[1:] != aj[:-1]] if len(aj) else np.zeros(0, dtype=bool)
        distinct = np.cumsum(new)  # distinct first nodes up to each pair
        lo, c = 0, 0
        while lo < len(aj):
            hi = min(lo + ATTACH_ROWS, int(np.searchsorted(distinct, distinct[lo] - 1 + DICT_NODES, side="right")))
            name = f"{tag}-{c:04d}.parquet"
            part = pa.table({"a": pa.array(aj[lo:hi], pa.uint64()), "b": pa.array(bj[lo:hi], pa.uint64())})
            firsts = atj[lo:hi][np.r_[True, aj[lo + 1 : hi] != aj[lo : hi - 1]]]
            storage.write_table(work.path(f"adict-{task.round}", f"{j:05d}", name), nodes.table.take(pa.array(firsts)))
            storage.write_table(work.path(f"apairs-{task.round}", f"{j:05d}", name), part)
            lo, c = hi, c + 1
    return Stats()


def _verified(cand: np.ndarray, ends: pa.Table, params: NearDupParams, stats: Stats) -> np.ndarray:
    """Which candidate pairs ``cand`` (int64 ``(k, 2)`` row numbers into ``ends``, a table of
    :data:`NODE_SCHEMA`) are edges, by the tests of :func:`jokemine.cleaning.dedup.near_duplicate_labels`, in its
    order: the MinHash estimate (:func:`jokemine.cleaning.dedup.plausible_pairs`), the exact Jaccard of the
    shingle sets, the punchline check and second pass (:func:`jokemine.cleaning.dedup.accept_pairs`). Returns
    the Jaccard of each pair, float64 ``(k,)``, NaN where it is not an edge."""
    out = np.full(len(cand), np.nan)
    sig = node_signatures(ends["sig"])
    plausible = np.zeros(len(cand), dtype=bool)
    for lo in range(0, len(cand), PLAUSIBLE_ROWS):  # two (k, num_perm) gathers per chunk
        plausible[lo : lo + PLAUSIBLE_ROWS] = plausible_pairs(sig, cand[lo : lo + PLAUSIBLE_ROWS], params.floor())
    stats.add("near", "rejected_text", n=int((~plausible).sum()))
    idx = np.flatnonzero(plausible)
    if not len(idx):
        return out
    stats.add("near", "checked_pairs", n=len(idx))
    sub = cand[idx]
    matrix = mh.shingle_matrix(node_shingles(ends["sh"]))
    jac = mh.jaccard_pairs(matrix, sub, batch=1 << 14, threads=1)
    stats.add("near", "rejected_text", n=int((jac < params.floor()).sum()))
    two_part = pmatrix = None
    if params.punchline_threshold > 0:
        two_part = ends["psh"].is_valid().to_numpy(zero_copy_only=False)
        pmatrix = mh.shingle_matrix(node_shingles(ends["psh"]))
    ok, rejected = accept_pairs(sub, jac, two_part, pmatrix, matrix, params, threads=1)
    stats.add("near", "rejected_punchline", n=rejected)
    out[idx[ok]] = jac[ok]
    return out


def verify(task: VerifyTask) -> Stats:
    """The verified edges among the pairs whose second node is in partition ``n`` -> ``edges-<round>`` (sorted by
    ``a``, ``b``), one ``apairs`` file at a time. Shingle sets and signatures come from ``sign`` (never computed
    again); each file's ends are the rows of its ``adict`` file and the distinct second nodes it names."""
    work, stats = task.work, Stats()
    urls = storage.listdir(work.path(f"apairs-{task.round}", f"{task.n:05d}"), ".parquet")
    seconds = [np.unique(storage.read_table(u, ["b"])["b"].to_numpy()) for u in urls]
    nodes = _node_table(task, np.unique(np.concatenate(seconds)) if seconds else np.zeros(0, np.uint64))
    del seconds
    found = [pd.DataFrame({"a": [], "b": [], "jaccard": []}).astype({"a": np.uint64, "b": np.uint64})]
    for url in urls:
        t = storage.read_table(url)
        dic = storage.read_table(url.replace(f"/apairs-{task.round}/", f"/adict-{task.round}/"))
        a, b = t["a"].to_numpy().astype(np.uint64), t["b"].to_numpy().astype(np.uint64)
        dkeys = dic["node"].to_numpy()
        known, at = nodes.find(b)
        if not known.any():
            continue
        order = np.argsort(at[known], kind="stable")  # by second end, in runs of <= DICT_NODES distinct ones
        a, b, at = a[known][order], b[known][order], at[known][order]
        distinct = np.cumsum(np.r_[True, at[1:] != at[:-1]])
        dic = dic.select(NODE_SCHEMA.names).cast(NODE_SCHEMA)
        lo = 0
        while lo < len(at):
            hi = int(np.searchsorted(distinct, distinct[lo] - 1 + DICT_NODES, side="right"))
            ub, bi = np.unique(at[lo:hi], return_inverse=True)
            ends = pa.concat_tables([dic, nodes.table.take(pa.array(ub))])
            cand = np.stack([np.searchsorted(dkeys, a[lo:hi]), len(dkeys) + bi], axis=1).astype(np.int64)
            jac = _verified(cand, ends, task.params, stats)
            ok = ~np.isnan(jac)
            found.append(pd.DataFrame({"a": a[lo:hi][ok], "b": b[lo:hi][ok], "jaccard": jac[ok]}))
            lo = hi
    edges = pd.concat(found, ignore_index=True).sort_values(["a", "b"], kind="mergesort")
    stats.add("near", "accepted_pairs", n=len(edges))
    work.write(f"edges-{task.round}", f"{task.n:05d}", edges, EDGE_SCHEMA)
    return stats
