"""The split ledger: the split each id was first published in, so that splits stay sticky across releases.

Layout: ``<data_dir>/splits/NNNNN-<version>.parquet`` (:data:`LEDGER_SCHEMA`: ``id``, ``split``, ``release``), one
file per release that published new ids, holding only the ids no earlier file has. So an id keeps the split of the
first release that published it, also after it was left out of some releases (deleted, outranked by a duplicate)
and came back. ``publish`` appends a file (:func:`record_release`) before the release folder is renamed into
place: a crash between the two leaves entries whose splits equal the ones the clean run gave anyway, so nothing
moves. ``clean --resplit`` ignores the ledger; publishing such a run replaces the ledger with the new assignment.

How clean uses it (:func:`jokemine.cleaning.clusters.resolve`): a split group whose published members are all in
one split puts every member there (new members join it); a group whose published members are in several splits
(new data bridged them) keeps each published member in its split and holds out its new members with
``drop_reason = "split_conflict"``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow as pa

from jokemine import atomic
from jokemine.pipeline import storage

LEDGER_SCHEMA = pa.schema([("id", pa.string()), ("split", pa.string()), ("release", pa.string())])
_NAME = re.compile(r"^(\d{5})-(.+)\.parquet$")


def ledger_dir(data_dir: Path) -> Path:
    """``<data_dir>/splits``."""
    return data_dir / "splits"


def ledger_files(data_dir: Path) -> list[Path]:
    """The ledger's files in publish order (oldest first); ``[]`` before the first release."""
    folder = ledger_dir(data_dir)
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if _NAME.match(p.name))


def read_ledger(data_dir: Path) -> pd.DataFrame:
    """Every ledger entry (``id``, ``split``, ``release``, ``seq``: the position of its file), first publication
    first; one row per id."""
    frames = [storage.read_frames([str(p)], LEDGER_SCHEMA).assign(seq=int(p.name[:5])) for p in ledger_files(data_dir)]
    if not frames:
        return LEDGER_SCHEMA.empty_table().to_pandas().assign(seq=pd.Series(dtype="int64"))
    return pd.concat(frames, ignore_index=True).drop_duplicates("id", keep="first").reset_index(drop=True)


@dataclass(frozen=True)
class LedgerView:
    """What a release build needs from the ledger: ``seq_of`` (ledger position by id), ``next_seq`` (the position
    this release's new ids get) and ``fresh`` (splits were reassigned, so the file layout starts afresh)."""

    seq_of: pd.Series
    next_seq: int
    fresh: bool


def ledger_view(data_dir: Path, resplit: bool) -> LedgerView:
    """The :class:`LedgerView` for a release built now from a clean run (``resplit``: it was a ``--resplit``
    run, whose ids all count as new)."""
    files = ledger_files(data_dir)
    next_seq = int(files[-1].name[:5]) + 1 if files else 0
    if resplit:
        return LedgerView(pd.Series([], dtype="int64"), next_seq, True)
    df = read_ledger(data_dir)
    return LedgerView(pd.Series(df["seq"].to_numpy(), index=df["id"].to_numpy()), next_seq, not files)


def record_release(data_dir: Path, version: str, published: pd.DataFrame, *, resplit: bool = False) -> int:
    """Add the ids of release ``version`` (``published``: columns ``id``, ``split``) that the ledger does not hold
    yet, as one new file written atomically; returns how many were added. ``resplit``: the release reassigned
    splits deliberately, so the ledger is replaced by ``published`` (old files removed after the new one is in
    place)."""
    folder = ledger_dir(data_dir)
    folder.mkdir(parents=True, exist_ok=True)
    atomic.remove_stale_tmp(folder)
    rows = published[["id", "split"]].drop_duplicates("id")
    old = ledger_files(data_dir)
    if not resplit and old:
        rows = rows.loc[~rows["id"].isin(read_ledger(data_dir)["id"])]
    if rows.empty and not resplit:
        return 0
    seq = int(_NAME.match(old[-1].name).group(1)) + 1 if old else 0  # type: ignore[union-attr]
    table = pa.Table.from_pandas(
        rows.sort_values("id", kind="mergesort").assign(release=version), schema=LEDGER_SCHEMA, preserve_index=False
    )
    storage.write_table(str(folder / f"{seq:05d}-{version}.parquet"), table)
    atomic.fsync_dir(folder)
    if resplit:
        for p in old:
            p.unlink()
        atomic.fsync_dir(folder)
    return table.num_rows
