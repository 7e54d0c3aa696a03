"""Duplicate clusters, survivors and split groups as stages.

* :func:`links` (per key partition): nodes whose records share a ``text_key`` are one joke (exact duplicates),
  nodes sharing a ``group_key`` (one setup) must share a split; both become star edges.
* :func:`components` (one task): connected components (scipy's ``connected_components``) of the edges only:
  *clusters* over near-duplicate and ``text_key`` edges, *split groups* over those plus ``group_key`` edges.
  Its memory grows with the number of edges, never with the number or length of texts. Each component is labeled
  by its smallest node; a node in no edge is its own component.
* :func:`assign` (per shard): each record gets its cluster and split group, scattered by split group.
* :func:`resolve` (per split-group partition): split groups are whole here, and so are the clusters and
  ``text_key`` classes inside them: survivors (:func:`jokemine.cleaning.dedup.survivors`), ``exact_duplicate`` /
  ``near_duplicate``, sizes, ``also_in``, ``split_key`` (smallest ``group_key`` of the split group) and the
  language another copy of a text declares, written to ``dec`` by shard.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from jokemine.cleaning.dedup import survivors
from jokemine.cleaning.dedup_report import SAMPLE_LARGEST, SAMPLE_RANDOM, SAMPLE_SEED, SIZE_BINS
from jokemine.cleaning.id_merge import DEC_SCHEMA
from jokemine.cleaning.near_stages import LABEL_SCHEMA, LINK_SCHEMA, ROW_SCHEMA, lookup
from jokemine.cleaning.shuffle import Work, hash_strings, part_of_hashes
from jokemine.pipeline import storage
from jokemine.pipeline.steps import Stats
from jokemine.schema import DropReason
from jokemine.splits.assign import sticky_splits

FIN_SCHEMA = pa.schema([*ROW_SCHEMA, pa.field("cluster", pa.uint64()), pa.field("group", pa.uint64())])
LINK_EDGE_SCHEMA = pa.schema([pa.field("a", pa.uint64()), pa.field("b", pa.uint64())])
MEMBERS_SHOWN = 8


@dataclass(frozen=True)
class LinkTask:
    """Key partition ``t``."""

    work: Work
    t: int


def _star(df: pd.DataFrame) -> pd.DataFrame:
    """Edges from the smallest node of each key to its other nodes (``df``: columns ``node``, ``key``)."""
    df = df.drop_duplicates().sort_values(["key", "node"], kind="mergesort")
    first = df.groupby("key", sort=False)["node"].transform("first")
    other = df["node"] != first
    return pd.DataFrame({"a": first[other].to_numpy(np.uint64), "b": df.loc[other, "node"].to_numpy(np.uint64)})


def links(task: LinkTask) -> Stats:
    """Star edges between the nodes of one ``text_key`` (``edges-text``) and of one ``group_key``
    (``edges-group``)."""
    stats = Stats()
    for dataset, out in (("tk", "edges-text"), ("gk", "edges-group")):
        edges = _star(task.work.gather(dataset, task.t, LINK_SCHEMA))
        task.work.write(out, f"{task.t:05d}", edges, LINK_EDGE_SCHEMA)
        stats.add("links", out, n=len(edges))
    return stats


@dataclass(frozen=True)
class ComponentTask:
    """Connected components of the edge sets ``cluster_edges`` (-> ``cluster``) and of those plus
    ``group_edges`` (-> ``group``), written to ``<out>/labels.parquet``."""

    work: Work
    cluster_edges: tuple[str, ...]
    group_edges: tuple[str, ...]
    out: str


def _component_of(n: int, ia: np.ndarray, ib: np.ndarray) -> np.ndarray:
    """Component number (int32 ``(n,)``) of each of ``n`` vertices given edges ``ia``-``ib`` (int32 indices)."""
    graph = coo_matrix((np.ones(len(ia), dtype=np.int8), (ia, ib)), shape=(n, n))
    return connected_components(graph, directed=False)[1].astype(np.int32)


def _smallest(nodes: np.ndarray, comp: np.ndarray) -> np.ndarray:
    """Each vertex's label: the smallest node (uint64) of its component ``comp``."""
    if not len(nodes):
        return nodes.copy()
    smallest = np.full(int(comp.max()) + 1, np.iinfo(np.uint64).max, dtype=np.uint64)
    np.minimum.at(smallest, comp, nodes)
    return smallest[comp]


def _edge_files(work: Work, datasets: tuple[str, ...]) -> list[str]:
    return [u for d in datasets for u in storage.listdir(work.path(d), ".parquet")]


def _ends(url: str) -> tuple[np.ndarray, np.ndarray]:
    t = storage.read_table(url, ["a", "b"])
    return t["a"].to_numpy().astype(np.uint64), t["b"].to_numpy().astype(np.uint64)


def components(task: ComponentTask) -> Stats:
    """See :class:`ComponentTask`: one row per node that is in any edge. Edge files are read one at a time: first
    the distinct nodes, then each edge as two int32 vertex numbers; split groups are the components of each node's
    cluster (one edge per node) and the group edges, so the cluster edges are never held twice. Memory: ~8 bytes
    per node and ~20 bytes per edge (scipy's CSR), never the texts."""
    stats = Stats()
    work = task.work
    cluster_files, group_files = _edge_files(work, task.cluster_edges), _edge_files(work, task.group_edges)
    found = [np.zeros(0, np.uint64)]
    for url in cluster_files + group_files:
        a, b = _ends(url)
        found.append(np.unique(np.concatenate([a, b])))
    nodes = np.unique(np.concatenate(found))
    del found

    def vertices(urls: list[str]) -> tuple[np.ndarray, np.ndarray, int]:
        ia, ib, n = [np.zeros(0, np.int32)], [np.zeros(0, np.int32)], 0
        for url in urls:
            a, b = _ends(url)
            ia.append(np.searchsorted(nodes, a).astype(np.int32))
            ib.append(np.searchsorted(nodes, b).astype(np.int32))
            n += len(a)
        return np.concatenate(ia), np.concatenate(ib), n

    ia, ib, n_cluster = vertices(cluster_files)
    comp = _component_of(len(nodes), ia, ib)
    del ia, ib
    cluster = _smallest(nodes, comp)
    ga, gb, n_group = vertices(group_files)
    first = np.zeros(int(comp.max()) + 1 if len(comp) else 0, np.int32)  # a vertex of each cluster
    first[comp] = np.arange(len(comp), dtype=np.int32)
    ia = np.concatenate([np.arange(len(comp), dtype=np.int32), ga])
    ib = np.concatenate([first[comp], gb])
    del ga, gb, first
    group = _smallest(nodes, _component_of(len(nodes), ia, ib))
    work.write(task.out, "labels", pd.DataFrame({"node": nodes, "cluster": cluster, "group": group}), LABEL_SCHEMA)
    stats.add("near", "edges", task.out, n=n_cluster + n_group)
    return stats


@dataclass(frozen=True)
class AssignTask:
    """Shard ``s``; labels in ``<labels>/labels.parquet``."""

    work: Work
    s: int
    labels: str


def assign(task: AssignTask) -> Stats:
    """Cluster and split group of each live record of shard ``s``, scattered by split group to ``fin``."""
    work = task.work
    rows = storage.read_frames([work.path("rows", f"{task.s:05d}.parquet")], ROW_SCHEMA)
    labels = work.read_all(task.labels, LABEL_SCHEMA).sort_values("node", kind="mergesort")
    rows["cluster"] = lookup(rows["node"].to_numpy(), labels, "cluster")
    rows["group"] = lookup(rows["node"].to_numpy(), labels, "group")
    part = part_of_hashes(rows["group"].to_numpy(), work.partitions)
    work.scatter("fin", rows, part, f"{task.s:05d}", FIN_SCHEMA)
    return Stats()


@dataclass(frozen=True)
class ResolveTask:
    """Split-group partition ``k``; ``shards`` pass-1 shards."""

    work: Work
    k: int
    shards: int


@dataclass
class ClusterSummary:
    """What :func:`resolve` tells the dedup report about its partition (counts and a few sample clusters)."""

    stats: Stats = field(default_factory=Stats)
    records: int = 0
    kept: int = 0
    multi: int = 0
    near_clusters: int = 0
    largest: int = 1
    histogram: Counter[str] = field(default_factory=Counter)
    removed: Counter[tuple[str, str]] = field(default_factory=Counter)
    cross: Counter[str] = field(default_factory=Counter)
    sample: list[dict[str, Any]] = field(default_factory=list)

    def merge(self, other: ClusterSummary) -> ClusterSummary:
        """Add ``other``'s counts and samples; returns self."""
        self.stats.merge(other.stats)
        self.records += other.records
        self.kept += other.kept
        self.multi += other.multi
        self.near_clusters += other.near_clusters
        self.largest = max(self.largest, other.largest)
        self.histogram.update(other.histogram)
        self.removed.update(other.removed)
        self.cross.update(other.cross)
        self.sample.extend(other.sample)
        return self


def sample_rank(survivor: str) -> int:
    """Position of a cluster in the seeded random draw of the dedup report: a hash of its survivor's id, so the
    draw does not depend on partitions."""
    return int(hash_strings([f"{SAMPLE_SEED}\x00{survivor}"])[0])


def resolve(task: ResolveTask) -> ClusterSummary:
    """Duplicate decisions and split keys for one split-group partition (see the module docstring)."""
    out = ClusterSummary()
    df = task.work.gather("fin", task.k, FIN_SCHEMA)
    tag = f"cl-{task.k:05d}"
    if df.empty:
        empty = DEC_SCHEMA.empty_table().to_pandas()
        task.work.scatter("dec", empty, np.zeros(0, np.int64), tag, DEC_SCHEMA, task.shards)
        return out
    survivor, split, held_out = sticky_splits(df, survivors(df, "cluster"))
    is_surv = (survivor == df["id"]).to_numpy()
    key_of = pd.Series(df["text_key"].to_numpy(), index=df["id"].to_numpy())
    same_key = key_of.loc[survivor.to_numpy()].to_numpy() == df["text_key"].to_numpy()
    drop = np.where(same_key, DropReason.EXACT_DUPLICATE.value, DropReason.NEAR_DUPLICATE.value).astype(object)
    drop[is_surv] = None
    dup_drop = drop.copy()  # what the dedup report counts
    drop[held_out] = DropReason.SPLIT_CONFLICT.value
    split[~pd.isna(drop)] = None
    size = df["cluster"].map(df["cluster"].value_counts()).to_numpy(np.int64)
    sources = cluster_sources(df.loc[size > 1])
    also: list[list[str] | None] = [None] * len(df)
    src, clu = df["source"].to_numpy(), df["cluster"].to_numpy()
    for i in np.flatnonzero(is_surv).tolist():
        also[i] = [x for x in sources[clu[i]] if x != src[i]] if size[i] > 1 else []
    declared = df.loc[df["lang"].notna()].sort_values("id", kind="mergesort").groupby("text_key")["lang"].first()
    needs = is_surv & df["lang"].isna().to_numpy()
    hint = np.full(len(df), None, dtype=object)
    hint[needs] = df.loc[needs, "text_key"].map(declared).to_numpy()
    dec = pd.DataFrame(
        {
            "shard": df["shard"].to_numpy(),
            "row": df["row"].to_numpy(),
            "drop_reason": drop,
            "score_norm": df["score_norm"].to_numpy(),
            "dup_cluster": survivor.to_numpy(),
            "dup_cluster_size": size,
            "also_in": also,
            "split_key": df.groupby("group")["group_key"].transform("min").to_numpy(),
            "split": split,
            "lang_hint": [None if isinstance(h, float) else h for h in hint],
            "created_fill": df["created_fill"].to_numpy(),
        }
    )
    task.work.scatter("dec", dec, dec["shard"].to_numpy(), tag, DEC_SCHEMA, task.shards)
    _summarize(out, df.assign(drop=dup_drop, survivor=survivor.to_numpy(), size=size))
    out.stats.add("splits", "sticky", n=int(pd.notna(split).sum()))
    out.stats.add("splits", DropReason.SPLIT_CONFLICT.value, n=int(held_out.sum()))
    return out


def cluster_sources(df: pd.DataFrame) -> dict[Any, list[str]]:
    """Cluster -> the sorted distinct ``source`` values of its rows in ``df`` (columns ``cluster``, ``source``)."""
    pairs = df[["cluster", "source"]].drop_duplicates().sort_values(["cluster", "source"], kind="mergesort")
    if pairs.empty:
        return {}
    clusters, names = pairs["cluster"].to_numpy(), pairs["source"].tolist()
    starts = np.flatnonzero(np.r_[True, clusters[1:] != clusters[:-1]])
    ends = np.r_[starts[1:], len(pairs)]
    return {clusters[a]: names[a:b] for a, b in zip(starts.tolist(), ends.tolist(), strict=True)}


def _summarize(out: ClusterSummary, d: pd.DataFrame) -> None:
    """Counts for stats.json and the dedup report, and sample candidates (largest, lowest draw rank)."""
    exact = int((d["drop"] == DropReason.EXACT_DUPLICATE).sum())
    near = int((d["drop"] == DropReason.NEAR_DUPLICATE).sum())
    out.records, out.kept = len(d), int(d["drop"].isna().sum())
    out.stats.add("step", "dedup", "in", n=len(d))
    out.stats.add("step", "dedup", DropReason.EXACT_DUPLICATE.value, n=exact)
    out.stats.add("step", "dedup", DropReason.NEAR_DUPLICATE.value, n=near)
    sizes = d.groupby("cluster").size()
    multi = sizes[sizes > 1]
    out.multi = len(multi)
    out.stats.add("step", "dedup", "clusters", n=len(multi))
    out.largest = int(multi.max()) if len(multi) else 1
    for lo, hi in SIZE_BINS:
        sel = (multi >= lo) & (multi <= hi) if hi is not None else multi >= lo
        name = f"{lo}+" if hi is None else (str(lo) if lo == hi else f"{lo}-{hi}")
        out.histogram[name] += int(sel.sum())
    gone = d.loc[d["drop"].notna()]
    out.removed.update(Counter(zip(gone["source"], gone["drop"], strict=True)))
    out.near_clusters = int(d.loc[d["drop"] == DropReason.NEAR_DUPLICATE, "cluster"].nunique())
    m = d.loc[d["cluster"].isin(multi.index)]
    out.cross.update(Counter(" + ".join(v) for v in cluster_sources(m).values() if len(v) > 1))
    if not len(multi):
        return
    heads = m.loc[m["drop"].isna(), ["cluster", "survivor", "size"]].drop_duplicates("cluster")
    heads = heads.assign(rank=[sample_rank(s) for s in heads["survivor"]])
    pick = pd.concat(
        [
            heads.sort_values(["size", "survivor"], ascending=[False, True]).head(SAMPLE_LARGEST),
            heads.sort_values("rank").head(SAMPLE_LARGEST + SAMPLE_RANDOM),
        ]
    ).drop_duplicates("cluster")
    for h in pick.itertuples():
        members = m.loc[m["cluster"] == h.cluster].sort_values(["drop", "id"], na_position="first")
        shown = members.drop_duplicates("text_key").head(MEMBERS_SHOWN)
        out.sample.append(
            {
                "size": int(h.size),  # type: ignore[arg-type]
                "survivor": h.survivor,
                "rank": int(h.rank),  # type: ignore[arg-type]
                "sources": {k: int(v) for k, v in members["source"].value_counts().items()},
                "distinct_texts": int(members["text_key"].nunique()),
                "members": [
                    {
                        "id": r.id,
                        "source": r.source,
                        "drop_reason": r.drop,
                        "score_norm": _rounded(r.score_norm),
                        "shard": int(r.shard),  # type: ignore[arg-type]
                        "row": int(r.row),  # type: ignore[arg-type]
                    }
                    for r in shown.itertuples()
                ],
            }
        )


def _rounded(x: Any) -> float | None:
    return None if x is None or pd.isna(x) else round(float(x), 3)
