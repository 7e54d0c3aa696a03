"""The validation gate a release passes before it is published (``latest`` moves, the Hub gets it).

Checks, on the release folder as written: every config the card declares loads with ``datasets.load_dataset``
from the local folder; its features equal the declared schema (:func:`jokemine.schema.release_schema`); every
split has rows and as many as the manifest says; no record id (``id``; ``id_chosen`` for ``preference``,
``group_key`` for ``setup_punches``) is in two splits. Any failure raises :class:`ReleaseInvalid` listing every
problem, and the caller discards the release.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from jokemine.errors import JokemineError
from jokemine.schema import SPLITS, release_config, release_schema


class ReleaseInvalid(JokemineError):
    """The release failed the validation gate (the message lists every problem)."""


def validate_release(
    release: Path, manifest: dict[str, Any], *, allow_empty_splits: bool = False
) -> dict[str, dict[str, int]]:
    """Load every config of ``release`` and check it (see the module docstring); returns the rows loaded per
    config and split. ``allow_empty_splits``: a split a config lacks is not a problem (``[publish]
    allow_empty_splits``). Raises :class:`ReleaseInvalid`."""
    import datasets
    from datasets import Features, load_dataset

    problems: list[str] = []
    loaded: dict[str, dict[str, int]] = {}
    progress = not datasets.are_progress_bars_disabled()
    datasets.disable_progress_bars()
    try:
        with tempfile.TemporaryDirectory(prefix="jokemine-validate-") as cache:
            for config, splits in manifest["counts"].items():
                try:
                    ds = load_dataset(str(release), config, cache_dir=cache)
                except Exception as e:
                    problems.append(f"{config}: load_dataset failed: {type(e).__name__}: {e}")
                    continue
                want = Features.from_arrow_schema(release_schema(config))
                loaded[config] = {s: ds[s].num_rows for s in ds}
                for split in SPLITS:
                    if split not in ds or ds[split].num_rows == 0:
                        if not (allow_empty_splits and split not in ds and not splits.get(split)):
                            problems.append(f"{config}: split {split} is empty")
                    elif ds[split].num_rows != splits.get(split):
                        problems.append(
                            f"{config}/{split}: {ds[split].num_rows} rows loaded, manifest says {splits.get(split)}"
                        )
                    elif ds[split].features != want:
                        problems.append(f"{config}/{split}: features {ds[split].features} != declared {want}")
                problems += _crossing_ids(config, {s: ds[s].data.column(release_config(config).id_column) for s in ds})
    finally:
        if progress:
            datasets.enable_progress_bars()
    if problems:
        raise ReleaseInvalid(f"release {release.name} failed validation: " + "; ".join(problems[:20]))
    return loaded


def _crossing_ids(config: str, ids: dict[str, pa.ChunkedArray]) -> list[str]:
    """One problem per pair of splits of ``config`` that share an id (``ids``: split -> its id column, read as
    Arrow from the loaded dataset, not row by row), naming the first shared id."""
    problems = []
    names = list(ids)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            shared = pc.filter(ids[b], pc.is_in(ids[b], value_set=pc.unique(ids[a])))
            if len(shared):
                problems.append(f"{config}: {release_config(config).id_column} {shared[0].as_py()} is in {a} and {b}")
    return problems
