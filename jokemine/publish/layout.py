"""Stable file layout of a release, so that a release rewrites only the files that hold changed rows.

The rows of one (config, split) are ordered by a *layout key* ``(seq, tie)``: ``seq`` is the position in the split
ledger (:mod:`jokemine.splits.ledger`) of the release that first published the row's ids (ids new in this release:
the next position), ``tie`` the row's id (grouped configs: see :func:`layout_keys`). So rows published earlier sort
first and each release's new rows sort after all older ones.

Files are ranges of that order, named ``{split}-NNNNN.parquet`` with a stable index. Each file's first key is kept in
``MANIFEST.json`` (``files[].first``) and the next release reuses those boundaries (:func:`plan_files`): a file
holds the keys from its first key up to the next file's. New rows (past the last boundary) go to a new file rather
than into an existing one; when more than :data:`MAX_SMALL` trailing files hold fewer than ``max_rows / 8`` rows
each, they are merged into one (so a nightly refresh adds one small file and the count of files stays bounded, an
LSM-style compaction). A file none of whose rows changed is not written again: a file whose rows equal those of
the previous release's file of the same name (:func:`same_rows`) is hard-linked from it
(:func:`jokemine.pipeline.storage.copy`; copied where links are not possible), so its bytes and sha256 are
unchanged and the Hub push skips it. A ``--resplit`` release starts the layout afresh.

Parquet is written as the Hub's storage and viewer want it (``datasets``' own writer does the same, see
https://huggingface.co/docs/hub/datasets-viewer and pyarrow's ``write_table``): zstd, a page index, content-defined
chunking (``use_content_defined_chunking``: pages cut where the content says, so an edit early in a file does not
shift every later page and Xet storage deduplicates the rest), row groups of at most :data:`ROW_GROUP_BYTES` of
Arrow data. Two settings make that deduplication work on this data (four files changed by the real data's nightly
delta of bench/refresh.py, re-written both ways: 50% -> 30% of their bytes in new ~64 KiB chunks): dictionary
encoding only for the low-cardinality columns of :data:`DICTIONARY_COLUMNS` (a text column's dictionary renumbers
every later row when one row leaves, so every page changes), and pages of :data:`CDC_PAGE` (32-128 KiB rather than
256 KiB-1 MiB, so one changed row rewrites less).
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from jokemine import atomic

MAX_SMALL = 8
ROW_GROUP_BYTES = 100 * 2**20
CDC_PAGE = {"min_chunk_size": 32 * 1024, "max_chunk_size": 128 * 1024}
"""Content-defined page sizes (bytes of uncompressed data) for ``use_content_defined_chunking``."""
DICTIONARY_COLUMNS = frozenset({"kind", "structure", "lang", "source", "category", "score_kind"})
"""Top-level columns written with dictionary encoding (few distinct values); every other column is plain."""
Key = tuple[int, str]


@dataclass(frozen=True)
class FilePlan:
    """One data file of a (config, split): its stable ``index``, the ``rows`` (positions in the key-sorted table)
    it holds, and its ``first`` layout key."""

    index: int
    lo: int
    hi: int
    first: Key


def layout_keys(config: str, table: pa.Table, seq_of: pd.Series, next_seq: int) -> tuple[np.ndarray, np.ndarray]:
    """``(seq, tie)`` of each row of ``table`` (a release config's rows). ``seq_of``: ledger position by id;
    ``next_seq`` for ids not in it. Record configs: the id's seq, tie = id. ``setup_punches``: the smallest seq of
    its punchlines' ids, tie = ``group_key``. ``preference``: the larger seq of the two ids, tie = ``group_key``,
    ``id_chosen``, ``id_rejected``."""

    def seq(ids: pa.ChunkedArray | pa.Array) -> np.ndarray:
        values = np.asarray(ids.to_pylist(), dtype=object)
        return seq_of.reindex(values).fillna(next_seq).to_numpy(np.int64)

    if config == "setup_punches":
        lists = table["punchlines"].combine_chunks()
        flat = pc.struct_field(pc.list_flatten(lists), "id")
        parent = pc.list_parent_indices(lists).to_numpy()
        s = pd.Series(seq(flat)).groupby(parent).min().reindex(range(table.num_rows)).fillna(next_seq)
        return s.to_numpy(np.int64), np.asarray(table["group_key"].to_pylist(), dtype=object)
    if config == "preference":
        s = np.maximum(seq(table["id_chosen"]), seq(table["id_rejected"]))
        tie = [f"{g}\x00{a}\x00{b}" for g, a, b in zip(*(table[c].to_pylist() for c in
               ("group_key", "id_chosen", "id_rejected")), strict=True)]  # fmt: skip
        return s, np.asarray(tie, dtype=object)
    return seq(table["id"]), np.asarray(table["id"].to_pylist(), dtype=object)


def plan_files(keys: list[Key], previous: list[tuple[int, Key]], max_rows: int, new_from: int) -> list[FilePlan]:
    """The files for the sorted layout ``keys`` given the ``previous`` release's files (``(index, first key)``;
    ``[]`` starts a fresh layout). Rows published before the previous release was laid out (``seq < new_from``,
    the previous manifest's ``layout_seq`` + 1) fall into the previous files' ranges (rows before the first
    boundary into the first file); the newer rows (at the end of ``keys``) go to new files of at most
    ``max_rows`` rows; then :func:`_compact`. Returns the non-empty files in key order. (Deciding "new" by the
    previous layout rather than by this release's ledger position makes a rebuild after an interrupted publish
    give the same files.)"""
    prev = sorted(previous, key=lambda p: p[1])
    n = len(keys)
    cut = bisect.bisect_left(keys, (new_from, "")) if prev else 0
    plans: list[FilePlan] = []
    if cut:
        bounds = [0] + [bisect.bisect_left(keys, p[1], 0, cut) for p in prev[1:]] + [cut]
        for (index, _), lo, hi in zip(prev, bounds[:-1], bounds[1:], strict=True):
            if hi > lo:
                plans.append(FilePlan(index, lo, hi, keys[lo]))
    next_index = max((p[0] for p in prev), default=-1) + 1
    for lo in range(cut, n, max_rows):
        plans.append(FilePlan(next_index, lo, min(lo + max_rows, n), keys[lo]))
        next_index += 1
    return _compact(plans, max_rows, keys)


def _compact(plans: list[FilePlan], max_rows: int, keys: list[Key]) -> list[FilePlan]:
    """Merge the trailing run of small files (fewer than ``max_rows // 8`` rows each) when it is longer than
    :data:`MAX_SMALL`, into files of at most ``max_rows`` rows that take fresh indexes."""
    small = max(1, max_rows // 8)
    run = 0
    while run < len(plans) and plans[len(plans) - 1 - run].hi - plans[len(plans) - 1 - run].lo < small:
        run += 1
    if run <= MAX_SMALL:
        return plans
    keep, tail = plans[: len(plans) - run], plans[len(plans) - run :]
    next_index = max(p.index for p in plans) + 1
    lo, end = tail[0].lo, tail[-1].hi
    merged = []
    while lo < end:
        hi = min(lo + max_rows, end)
        merged.append(FilePlan(next_index, lo, hi, keys[lo]))
        next_index += 1
        lo = hi
    return keep + merged


def write_file(table: pa.Table, path: Path) -> None:
    """``table`` as a Parquet data file at ``path`` (atomically), written as the module docstring says."""
    per_row = max(1, table.nbytes // max(table.num_rows, 1))
    rows = max(1_000, ROW_GROUP_BYTES // per_row)
    tmp = atomic.tmp_name(path)
    pq.write_table(
        table,
        tmp,
        compression="zstd",
        row_group_size=rows,
        write_page_index=True,
        use_content_defined_chunking=CDC_PAGE,
        use_dictionary=[c for c in table.column_names if c in DICTIONARY_COLUMNS],
    )
    tmp.replace(path)


def same_rows(previous: Path, table: pa.Table) -> bool:
    """Whether the Parquet file ``previous`` holds exactly ``table``: the same row count and schema, and each column
    equal (Arrow's logical equality, so how the table is chunked or what null slots hide does not matter). Columns
    are compared one at a time, smallest first, so a file that differs is usually refused after one small column;
    reading a file costs a fraction of writing one (no chunking, no compression)."""
    try:
        pf = pq.ParquetFile(previous)
        if pf.metadata.num_rows != table.num_rows or not pf.schema_arrow.equals(table.schema):
            return False
        for name in sorted(table.column_names, key=lambda c: table.column(c).nbytes):
            if not pf.read(columns=[name]).column(0).equals(table.column(name)):
                return False
        return True
    except (OSError, pa.ArrowException):
        return False


def previous_layout(manifest: dict[str, Any] | None, config: str, split: str) -> list[tuple[int, Key]]:
    """``(index, first key)`` of the files of (``config``, ``split``) in a previous release's manifest (files
    written before this layout, without ``first``, are ignored: the layout starts afresh)."""
    out: list[tuple[int, Key]] = []
    if manifest is None or "layout_seq" not in manifest:
        return out
    for f in manifest.get("files", []):
        path = Path(f["path"])
        if path.parent.name != config or not path.name.startswith(f"{split}-") or "first" not in f:
            continue
        index = int(path.stem.split("-")[1])
        out.append((index, (int(f["first"][0]), str(f["first"][1]))))
    return out
