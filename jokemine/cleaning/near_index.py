"""Persistent near-duplicate index: a refresh searches only around what changed.

A clean with near-duplicates on keeps, in ``clean/cache/near/<digest>/`` (:func:`index_root`; the digest covers
the pass-1 settings and the search's parameters, so other settings start afresh):

* ``nodes/``, ``bands/``, ``presig/``: what :func:`jokemine.cleaning.near_stages.sign` wrote for every node ever
  indexed (shingle sets and signature; band keys; first signature columns), partitioned by hash into the
  ``partitions`` of ``meta.json`` (a clean that uses the index uses its partition count);
* ``gen-<run>/known.parquet`` (the live nodes of the last clean), ``labels.parquet`` (its clusters: each node's
  smallest node of its component of near-duplicate and ``text_key`` edges) and ``tk.parquet`` (its
  ``(node, text_key)`` links, the key hashed); ``meta.json``, written last, names the current generation.

An incremental search (:func:`delta`, :func:`touch`, then the round-2 stages of
:mod:`jokemine.cleaning.near_stages` on the pairs :func:`delta_pairs` allows) gives the clusters of a full search
over the same live nodes. The full result is the connected components of H and T (H: every pair of nodes sharing
an LSH bucket that passes the verification; T: the ``text_key`` links; pairs already joined are skipped, which
changes no component). An old cluster none of whose nodes was deleted or lost a ``text_key`` link is still
connected (its edges are all still there) and has no edge to another old cluster (they would be one); so the only
pairs to search are bucket pairs with a new node and bucket pairs inside an old cluster that lost something
(*affected*). The unaffected old clusters enter the components as star edges (``edges-old``).

Crash safety: a clean only reads the index; :func:`commit_index` runs after the clean's output is in place, moves
the run's files in, and switches ``meta.json`` last. A rerun over the same inputs resumes the run (its finished
stages are kept) and commits again; a clean over other inputs finds, in files moved in by a commit that died
before the switch, nodes the old node list does not know: they are signed again, and readers keep one row per
node.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa

from jokemine.cleaning.dedup import NearDupParams
from jokemine.cleaning.near_stages import (
    BAND_SCHEMA,
    LABEL_SCHEMA,
    LINK_SCHEMA,
    BucketTask,
    PairRule,
    cross_buckets,
    find_sorted,
    isin_sorted,
    known_nodes,
    lookup,
)
from jokemine.cleaning.shuffle import Work, hash_strings, part_of_hashes, schema
from jokemine.faults import crash_point
from jokemine.pipeline import storage
from jokemine.pipeline.steps import Stats

META = "meta.json"
INDEXED = ("nodes", "bands", "presig")  # datasets of the index, partitioned like the clean's
DEAD_SHARE = 1 / 3  # an index whose node rows are more than this share stale is rebuilt by a full search
NODE_LIST_SCHEMA = schema(node=pa.uint64())
TK_SCHEMA = schema(node=pa.uint64(), key=pa.uint64())
STATUS_SCHEMA = schema(node=pa.uint64(), new=pa.bool_(), cluster=pa.uint64())
OLD_EDGE_SCHEMA = schema(a=pa.uint64(), b=pa.uint64())


@dataclass(frozen=True)
class NearIndex:
    """An index as :func:`open_index` found it: its folder ``root``, its ``partitions``, the current
    ``generation`` folder, the node rows in ``nodes`` (``indexed``; a text seen in several raw parts of one clean is
    written once per part), those of nodes no longer live (``stale``) and the live nodes (``live``)."""

    root: str
    partitions: int
    generation: str
    indexed: int
    stale: int
    live: int

    @property
    def work(self) -> Work:
        """The index's partitioned datasets, read like a work folder's."""
        return Work(self.root, self.partitions)

    def gen(self, name: str) -> str:
        """URL of file ``name`` of the current generation."""
        return storage.join(self.root, self.generation, name)


def index_root(clean_dir: str, p1_cache: str, params: NearDupParams) -> str:
    """``<clean_dir>/cache/near/<digest>``: the digest covers the pass-1 cache folder's name (itself a digest of
    what pass 1 depends on) and the search's parameters."""
    blob = json.dumps([p1_cache.rstrip("/").rsplit("/", 1)[-1], repr(params)])
    return storage.join(clean_dir, "cache", "near", hashlib.blake2b(blob.encode(), digest_size=10).hexdigest())


def open_index(root: str, min_partitions: int) -> NearIndex | None:
    """The index at ``root``, or ``None`` (then the clean searches in full and builds a new one) when there is none,
    its ``meta.json`` is unreadable, more than :data:`DEAD_SHARE` of its node rows are stale, or it
    has fewer than half of ``min_partitions`` (the partitions the corpus would get now: it has outgrown them)."""
    try:
        meta = json.loads(storage.read_bytes(storage.join(root, META)))
        counts = (int(meta[k]) for k in ("partitions", "indexed", "stale", "live"))
        partitions, indexed, stale, live = counts
        ix = NearIndex(root, partitions, str(meta["generation"]), indexed, stale, live)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if stale > DEAD_SHARE * indexed:
        return None
    if 2 * ix.partitions < min_partitions:
        return None
    return ix


def _live_nodes(work: Work, shards: int) -> np.ndarray:
    """Sorted distinct nodes of the live records (the ``rows`` of every shard)."""
    found = [
        storage.read_table(work.path("rows", f"{s:05d}.parquet"), ["node"])["node"].to_numpy().astype(np.uint64)
        for s in range(shards)
    ]
    return np.unique(np.concatenate(found)) if found else np.zeros(0, np.uint64)


def _links(work: Work) -> pd.DataFrame:
    """This run's ``(node, text_key)`` links, the key hashed (columns of :data:`TK_SCHEMA`), distinct. The links
    are partitioned by key, so each partition is hashed and made distinct alone: memory ~16 bytes per link plus one
    partition's strings."""
    frames = []
    for p in range(work.partitions):
        df = work.gather("tk", p, LINK_SCHEMA)
        out = pd.DataFrame({"node": df["node"].to_numpy(np.uint64), "key": hash_strings(df["key"].astype(str))})
        frames.append(out.drop_duplicates())
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame({"node": [], "key": []}, dtype=np.uint64)


@dataclass(frozen=True)
class DeltaTask:
    """The whole run (one task): ``shards`` pass-1 shards, the ``index`` to compare with."""

    work: Work
    index: NearIndex
    shards: int


def delta(task: DeltaTask) -> Stats:
    """What changed since the index's clean: ``status`` (new nodes, and the surviving members of affected old
    clusters with their old cluster), ``gone`` (indexed nodes no longer live) and ``edges-old`` (a star per
    unaffected old cluster). Memory: ~40 bytes per live node and per ``text_key`` link (node ids and labels,
    never texts)."""
    work, ix, stats = task.work, task.index, Stats()
    live = _live_nodes(work, task.shards)
    known = known_nodes(ix.gen("known.parquet"))
    new = live[~isin_sorted(live, known)]
    gone = known[~isin_sorted(known, live)]
    old = storage.read_frames([ix.gen("labels.parquet")], LABEL_SCHEMA).sort_values("node", kind="mergesort")
    old_tk = storage.read_frames([ix.gen("tk.parquet")], TK_SCHEMA)
    cur_tk = _links(work)
    merged = old_tk.merge(cur_tk, on=["node", "key"], how="left", indicator=True)
    lost = merged.loc[merged["_merge"] == "left_only", "node"].to_numpy(np.uint64)
    lost = lost[isin_sorted(lost, live)]  # a deleted node's cluster is affected anyway
    touched = np.concatenate([gone, lost])
    touched = touched[isin_sorted(touched, old["node"].to_numpy(np.uint64))]  # a node in no edge is its own cluster
    affected = np.unique(lookup(touched, old, "cluster"))
    old = old[isin_sorted(old["node"].to_numpy(np.uint64), live)]
    hit = isin_sorted(old["cluster"].to_numpy(np.uint64), affected)
    survivors = old[hit]
    status = pd.concat(
        [
            pd.DataFrame({"node": new, "new": True, "cluster": np.zeros(len(new), np.uint64)}),
            pd.DataFrame({"node": survivors["node"], "new": False, "cluster": survivors["cluster"]}),
        ],
        ignore_index=True,
    ).sort_values("node", kind="mergesort")
    stars = old[~hit & (old["node"] != old["cluster"])]
    work.write("status", "status", status, STATUS_SCHEMA)
    work.write("gone", "gone", pd.DataFrame({"node": gone}), NODE_LIST_SCHEMA)
    work.write("edges-old", "edges", pd.DataFrame({"a": stars["cluster"], "b": stars["node"]}), OLD_EDGE_SCHEMA)
    stats.add("near", "index", "new_nodes", n=len(new))
    stats.add("near", "index", "gone_nodes", n=len(gone))
    stats.add("near", "index", "affected_clusters", n=len(affected))
    stats.add("near", "index", "affected_nodes", n=len(survivors))
    return stats


@dataclass(frozen=True)
class Status:
    """The ``status`` of :func:`delta` as lookups: new nodes (sorted) and affected nodes (sorted) with their old
    cluster."""

    new: np.ndarray
    affected: np.ndarray
    cluster: np.ndarray

    @classmethod
    def read(cls, work: Work) -> Status:
        """Read ``status`` and ``gone`` of ``work``."""
        df = work.read_all("status", STATUS_SCHEMA)
        is_new = df["new"].to_numpy(bool)
        node = df["node"].to_numpy(np.uint64)
        return cls(node[is_new], node[~is_new], df["cluster"].to_numpy(np.uint64)[~is_new])

    def roles(self, nodes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(is_new, is_affected, old_cluster)`` of each of ``nodes`` (old cluster 0 where not affected)."""
        is_new = isin_sorted(nodes, self.new)
        if not len(self.affected):
            return is_new, np.zeros(len(nodes), dtype=bool), np.zeros(len(nodes), np.uint64)
        at = find_sorted(nodes, self.affected)
        is_aff = at >= 0
        return is_new, is_aff, np.where(is_aff, self.cluster[at], np.uint64(0))


def delta_pairs(status: Status, node: np.ndarray) -> PairRule:
    """The pair rule of an incremental search over members ``node`` (uint64): True for the pairs to search (a new
    end, or two affected ends of one old cluster)."""
    is_new, is_aff, old = status.roles(node)

    def rule(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return is_new[a] | is_new[b] | (is_aff[a] & is_aff[b] & (old[a] == old[b]))

    return rule


def delta_buckets(task: BucketTask) -> Stats:
    """Candidate pairs of band-key partition ``b`` of an incremental search (:func:`delta_pairs`), as round 2's
    :func:`jokemine.cleaning.near_stages.buckets` makes them."""
    status = Status.read(task.work)
    return cross_buckets(task, lambda node: delta_pairs(status, node))


def bucket_ids(band: np.ndarray, key: np.ndarray) -> np.ndarray:
    """One uint64 per LSH bucket ``(band, key)`` (a hash mix; distinct buckets may rarely share one)."""
    with np.errstate(over="ignore"):
        return key.astype(np.uint64) ^ (band.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15))


def touch(task: BucketTask) -> Stats:
    """Band-key partition ``b`` of an incremental search: the live members of every bucket (the index's band keys
    and the new nodes') that holds a new node or two affected nodes, scattered by node to ``mixed`` (then joined
    with their first signature columns and paired as in round 2)."""
    work, stats = task.work, Stats()
    assert task.index is not None
    ix = Work(task.index, work.partitions)
    df = pd.concat([ix.gather("bands", task.b, BAND_SCHEMA), work.gather("bands", task.b, BAND_SCHEMA)])
    gone = np.sort(work.read_all("gone", NODE_LIST_SCHEMA)["node"].to_numpy(np.uint64))
    band, key, node = df["band"].to_numpy(), df["key"].to_numpy(np.uint64), df["node"].to_numpy(np.uint64)
    del df
    status = Status.read(work)
    is_new, is_aff, _ = status.roles(node)
    # a wanted bucket holds a new or an affected node: keep the rows of those buckets only (by a hash of
    # (band, key); a collision only keeps a few rows more), so the sort below is over the delta's buckets, not the
    # whole index
    bucket = bucket_ids(band, key)
    keep = isin_sorted(bucket, np.unique(bucket[is_new | is_aff])) & ~isin_sorted(node, gone)
    band, key, node = band[keep], key[keep], node[keep]
    order = np.lexsort((node, key, band))
    band, key, node = band[order], key[order], node[order]
    if len(node):  # one node indexed twice (a commit that died before its switch) is one member
        first = np.r_[True, (band[1:] != band[:-1]) | (key[1:] != key[:-1]) | (node[1:] != node[:-1])]
        band, key, node = band[first], key[first], node[first]
    is_new, is_aff, _ = status.roles(node)  # of the kept, distinct rows
    starts = np.flatnonzero(np.r_[True, (band[1:] != band[:-1]) | (key[1:] != key[:-1])]) if len(node) else node
    sizes = np.diff(np.r_[starts, len(node)]).astype(np.int64)
    wanted = np.zeros(len(starts), dtype=bool)
    if len(starts):
        news = np.add.reduceat(is_new.astype(np.int64), starts)
        affs = np.add.reduceat(is_aff.astype(np.int64), starts)
        wanted = (sizes > 1) & ((news > 0) | (affs > 1))
    stats.add("near", "touched_buckets", n=int(wanted.sum()))
    sel = np.repeat(wanted, sizes)
    out = pd.DataFrame({"band": band[sel], "key": key[sel], "node": node[sel]})
    work.scatter("mixed", out, part_of_hashes(out["node"].to_numpy(), work.partitions), f"{task.b:05d}", BAND_SCHEMA)
    return stats


def commit_index(root: str, work: Work, run_id: str, shards: int, index: NearIndex | None) -> None:
    """Make ``root`` the index of the clean whose work folder is ``work``: its ``nodes``, ``bands`` and
    ``presig`` files are moved in (all nodes after a full search, which replaces any index there; the new nodes
    after an incremental one), then the generation (node list, clusters, links) is written and ``meta.json``
    switched to it; older generations are deleted."""
    if index is None:
        storage.remove(root)
    for dataset in INDEXED:
        for p in range(work.partitions):
            for url in storage.listdir(work.path(dataset, f"{p:05d}"), ".parquet"):
                storage.move(url, storage.join(root, dataset, f"{p:05d}", f"{run_id}-{url.rsplit('/', 1)[-1]}"))
    crash_point("clean.index.moved")
    gen = f"gen-{run_id}"
    live = _live_nodes(work, shards)
    storage.write_frame(storage.join(root, gen, "known.parquet"), pd.DataFrame({"node": live}), NODE_LIST_SCHEMA)
    labels = work.read_all("labels", LABEL_SCHEMA)
    storage.write_frame(storage.join(root, gen, "labels.parquet"), labels, LABEL_SCHEMA)
    storage.write_frame(storage.join(root, gen, "tk.parquet"), _links(work), TK_SCHEMA)
    indexed = stale = 0
    for p in range(work.partitions):
        for url in storage.listdir(storage.join(root, "nodes", f"{p:05d}"), ".parquet"):
            node = storage.read_table(url, ["node"])["node"].to_numpy().astype(np.uint64)
            indexed, stale = indexed + len(node), stale + int((~isin_sorted(node, live)).sum())
    meta = {"partitions": work.partitions, "generation": gen, "indexed": indexed, "stale": stale, "live": len(live)}
    storage.write_bytes(storage.join(root, META), json.dumps(meta).encode())
    for folder in storage.listdir(root):
        name = folder.rstrip("/").rsplit("/", 1)[-1]
        if name.startswith("gen-") and name != gen:
            storage.remove(folder)
