"""Hand-off between clean's stages through Parquet files partitioned by a hash of a key.

A stage task that produces rows for a later stage *scatters* them: row ``r`` goes to partition
``hash(key_r) mod P`` and each (partition, producing task) pair is one file,
``<work>/<dataset>/<partition:05d>/<tag>.parquet`` (every partition gets a file, possibly empty, so a reader
knows the producer finished). The later stage's task ``p`` *gathers* ``<work>/<dataset>/<p:05d>/*``. So all rows
with one key meet in one task, whose memory is about ``1/P`` of the dataset (datatrove's MinHash stages hand off
the same way). Hashes are pandas' SipHash-2-4 with a fixed key (``pandas.util.hash_array``), the same in every
process and on every machine.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa

from jokemine.pipeline import storage


@dataclass(frozen=True)
class Work:
    """The work folder of one clean run (a path or fsspec URL) and its number of hash partitions."""

    root: str
    partitions: int

    def path(self, *parts: str) -> str:
        """``<root>/<parts...>``."""
        return storage.join(self.root, *parts)

    def scatter(
        self, dataset: str, df: pd.DataFrame, part: np.ndarray, tag: str, schema: pa.Schema, n: int | None = None
    ) -> None:
        """Write row ``i`` of ``df`` to partition ``part[i]`` (of ``n``, default :attr:`partitions`) of
        ``dataset``, as file ``<tag>.parquet`` in every partition."""
        n = self.partitions if n is None else n
        order = np.argsort(part, kind="stable")
        bounds = np.searchsorted(part[order], np.arange(n + 1))
        for p in range(n):
            rows = df.iloc[order[bounds[p] : bounds[p + 1]]]
            storage.write_frame(self.path(dataset, f"{p:05d}", f"{tag}.parquet"), rows, schema)

    def scatter_table(self, dataset: str, table: pa.Table, part: np.ndarray, tag: str) -> None:
        """:meth:`scatter` for an Arrow table (columns that pandas would turn into Python objects, e.g. binary)."""
        order = np.argsort(part, kind="stable")
        bounds = np.searchsorted(part[order], np.arange(self.partitions + 1))
        for p in range(self.partitions):
            rows = table.take(pa.array(order[bounds[p] : bounds[p + 1]]))
            storage.write_table(self.path(dataset, f"{p:05d}", f"{tag}.parquet"), rows)

    def gather_table(self, dataset: str, p: int, schema: pa.Schema) -> pa.Table:
        """Every file of partition ``p`` of ``dataset`` as one Arrow table with the columns of ``schema``."""
        tables = [
            storage.read_table(u, schema.names) for u in storage.listdir(self.path(dataset, f"{p:05d}"), ".parquet")
        ]
        return pa.concat_tables(tables).cast(schema) if tables else schema.empty_table()

    def gather(self, dataset: str, p: int, schema: pa.Schema) -> pd.DataFrame:
        """Every file of partition ``p`` of ``dataset`` as one DataFrame (in file-name order)."""
        return storage.read_frames(storage.listdir(self.path(dataset, f"{p:05d}"), ".parquet"), schema)

    def write(self, dataset: str, tag: str, df: pd.DataFrame, schema: pa.Schema) -> None:
        """One unpartitioned file ``<dataset>/<tag>.parquet``."""
        storage.write_frame(self.path(dataset, f"{tag}.parquet"), df, schema)

    def read_all(self, dataset: str, schema: pa.Schema) -> pd.DataFrame:
        """Every file of an unpartitioned ``dataset`` as one DataFrame."""
        return storage.read_frames(storage.listdir(self.path(dataset), ".parquet"), schema)


def hash_strings(values: pd.Series | np.ndarray | list[str]) -> np.ndarray:
    """uint64 SipHash of each string (``pandas.util.hash_array``, fixed key: stable across processes)."""
    arr = np.asarray(values, dtype=object)
    if len(arr) == 0:
        return np.zeros(0, dtype=np.uint64)
    return pd.util.hash_array(arr, categorize=False).astype(np.uint64)


def part_of_strings(values: pd.Series | np.ndarray | list[str], partitions: int) -> np.ndarray:
    """Partition of each string key."""
    return (hash_strings(values) % np.uint64(partitions)).astype(np.int64)


def part_of_hashes(values: np.ndarray, partitions: int) -> np.ndarray:
    """Partition of each uint64 key that is already a uniform hash (node ids, cluster labels)."""
    return (np.asarray(values, dtype=np.uint64) % np.uint64(partitions)).astype(np.int64)


def schema(**cols: pa.DataType) -> pa.Schema:
    """``schema(id=pa.string(), ...)``."""
    return pa.schema(list(cols.items()))
