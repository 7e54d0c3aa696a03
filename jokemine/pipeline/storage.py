"""Files of the staged pipeline through fsspec (https://filesystem-spec.readthedocs.io), so a cluster can keep them
on shared storage (``s3://``, ``gs://``, a shared file system) and tests on local paths.

Every write is atomic: the bytes go to a hidden temporary sibling that is then moved into place, so a reader
(or a rerun after a crash) sees a whole file or none. A task that is run twice writes the same bytes twice.
"""

from __future__ import annotations

import io
import os
import shutil
import uuid
from pathlib import Path
from typing import Any

import fsspec
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from fsspec.implementations.local import LocalFileSystem


def _fs(url: str) -> tuple[Any, str]:
    fs, path = fsspec.core.url_to_fs(url)
    return fs, path


def join(base: str, *parts: str) -> str:
    """``base/part/...`` for a path or URL."""
    return "/".join([base.rstrip("/"), *parts])


def write_bytes(url: str, data: bytes) -> None:
    """Write ``data`` to ``url`` atomically (parents created)."""
    fs, path = _fs(url)
    parent, _, name = path.rpartition("/")
    fs.makedirs(parent, exist_ok=True)
    tmp = f"{parent}/.{name}.tmp-{uuid.uuid4().hex[:8]}"
    with fs.open(tmp, "wb") as fh:
        fh.write(data)
    fs.mv(tmp, path)


def read_bytes(url: str) -> bytes:
    """The bytes of ``url``."""
    fs, path = _fs(url)
    with fs.open(path, "rb") as fh:
        return bytes(fh.read())


def exists(url: str) -> bool:
    """Whether ``url`` exists."""
    fs, path = _fs(url)
    return bool(fs.exists(path))


def remove(url: str) -> None:
    """Delete ``url`` (a folder with everything in it); nothing when it does not exist."""
    fs, path = _fs(url)
    if fs.exists(path):
        fs.rm(path, recursive=True)


def move(src: str, dst: str) -> None:
    """Move file ``src`` to ``dst`` (same file system; parents created)."""
    fs, path = _fs(src)
    _, target = _fs(dst)
    fs.makedirs(target.rpartition("/")[0], exist_ok=True)
    fs.mv(path, target)


def copy(src: str, dst: str) -> None:
    """Copy file ``src`` to ``dst`` atomically (parents created): a hard link on a local file system (files here
    are written once and replaced, never changed in place, so sharing the bytes is safe), else a copy."""
    fs, path = _fs(src)
    _, target = _fs(dst)
    parent, _, name = target.rpartition("/")
    fs.makedirs(parent, exist_ok=True)
    tmp = f"{parent}/.{name}.tmp-{uuid.uuid4().hex[:8]}"
    if isinstance(fs, LocalFileSystem):
        try:
            os.link(path, tmp)
        except OSError:
            shutil.copyfile(path, tmp)
    else:
        fs.copy(path, tmp)
    fs.mv(tmp, target)


def listdir(url: str, suffix: str = "") -> list[str]:
    """Full paths (with the protocol of ``url``) of the files in folder ``url`` ending in ``suffix``, sorted; hidden
    (temporary) files are left out; ``[]`` for a missing folder."""
    fs, path = _fs(url)
    if not fs.exists(path):
        return []
    names = [p for p in fs.ls(path, detail=False) if not p.rsplit("/", 1)[-1].startswith(".") and p.endswith(suffix)]
    proto = url.split("://", 1)[0] + "://" if "://" in url else ""
    return sorted(proto + p if proto and not p.startswith(proto) else p for p in names)


def write_table(url: str, table: pa.Table, row_group_size: int | None = None) -> None:
    """Write an Arrow table as Parquet to ``url`` atomically, in row groups of ``row_group_size`` rows (default:
    pyarrow's)."""
    buf = io.BytesIO()
    pq.write_table(table, buf, row_group_size=row_group_size)
    write_bytes(url, buf.getvalue())


def write_frame(url: str, df: pd.DataFrame, schema: pa.Schema) -> None:
    """Write the columns of ``schema`` from ``df`` as Parquet to ``url`` atomically."""
    write_table(url, pa.Table.from_pandas(df[schema.names], schema=schema, preserve_index=False))


def read_table(url: str, columns: list[str] | None = None) -> pa.Table:
    """One Parquet file as an Arrow table."""
    fs, path = _fs(url)
    with fs.open(path, "rb") as fh:
        return pq.read_table(fh, columns=columns)


def read_rows(url: str, lo: int, hi: int) -> pa.Table:
    """Rows ``lo:hi`` of one Parquet file, reading only the row groups that hold them (the Parquet footer gives
    each row group's row count)."""
    fs, path = _fs(url)
    with fs.open(path, "rb") as fh:
        pf = pq.ParquetFile(fh)
        starts = np.cumsum([0] + [pf.metadata.row_group(i).num_rows for i in range(pf.num_row_groups)])
        groups = [i for i in range(pf.num_row_groups) if starts[i] < hi and starts[i + 1] > lo]
        if not groups:
            return pf.schema_arrow.empty_table()
        table = pf.read_row_groups(groups)
    return table.slice(lo - int(starts[groups[0]]), hi - lo)


def read_frames(urls: list[str], schema: pa.Schema) -> pd.DataFrame:
    """The Parquet files ``urls`` as one DataFrame with the columns of ``schema`` (empty, typed, when none)."""
    tables = [read_table(u, schema.names) for u in urls]
    table = pa.concat_tables(tables) if tables else schema.empty_table()
    return table.to_pandas()


def num_rows(url: str) -> int:
    """Rows of a Parquet file, from its footer."""
    fs, path = _fs(url)
    with fs.open(path, "rb") as fh:
        return int(pq.ParquetFile(fh).metadata.num_rows)


def copy_to_local(url: str, dest: Path) -> None:
    """Copy file ``url`` to the local path ``dest``: a hard link when both are on one local file system (no bytes
    copied), else a copy. The source stays, so a run that is killed after this can do it again."""
    fs, path = _fs(url)
    if isinstance(fs, LocalFileSystem):
        try:
            os.link(path, dest)
        except OSError:
            shutil.copyfile(path, dest)
        return
    fs.get(path, str(dest))
