"""The Python API: every stage of ``make scrape clean publish`` as a function, for scripts and notebooks.

Each stage takes a config, either a path to a TOML file or a :class:`jokemine.config.Config` from
:func:`load_config`, and an optional ``data_dir`` (default: the config's ``[paths] data_dir``), and returns the
report the CLI prints. Errors are the CLI's (:mod:`jokemine.errors`): :class:`~jokemine.errors.ConfigError` naming
the file and key, :class:`~jokemine.errors.NothingToDo`, :class:`jokemine.lock.Busy` when another command holds the
data dir. :func:`open_release` reads a published release folder (local, or a snapshot downloaded from the Hub).

    import jokemine
    cfg = jokemine.load_config("configs/real-offline.toml")
    jokemine.scrape(cfg)
    jokemine.clean(cfg)
    release = jokemine.open_release(jokemine.publish(cfg).path)
    release.configs                      # ['setup_punch', 'qa', 'jokes', 'setup_punches', 'preference']
    release.frame("setup_punch", "test")  # a pandas DataFrame
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jokemine.config import Config
from jokemine.config import load_config as _load_config
from jokemine.errors import JokemineError

if TYPE_CHECKING:
    import pandas as pd
    from datasets import DatasetDict

    from jokemine.cleaning.stage import CleanReport
    from jokemine.publish.release import PublishReport
    from jokemine.refresh import RefreshReport
    from jokemine.scrapers.run import SourceReport

ConfigLike = Config | str | os.PathLike[str]


def load_config(path: str | os.PathLike[str] | None = None) -> Config:
    """Load and validate a config file (``None``: ``./jokemine.toml``, else ``./configs/default.toml``, else the
    built-in defaults). Raises :class:`jokemine.errors.ConfigError` naming the file and key."""
    return _load_config(path)


def _config(config: ConfigLike) -> Config:
    return config if isinstance(config, Config) else _load_config(config)


def _data_dir(cfg: Config, data_dir: str | os.PathLike[str] | None) -> Path:
    return cfg.data_dir(data_dir)


def scrape(
    config: ConfigLike,
    *,
    data_dir: str | os.PathLike[str] | None = None,
    sources: list[str] | None = None,
    force: bool = False,
    recheck_all: bool = False,
    progress: bool = False,
) -> list[SourceReport]:
    """Read the configured (or the named) sources into ``<data_dir>/raw``; one report per source (``status``,
    ``records``, ``quarantined``, ``message``). A failing source does not stop the others. ``force`` re-reads
    inputs already read; ``recheck_all`` makes live sources re-read everything they stored."""
    from jokemine.scrapers.run import scrape as run

    cfg = _config(config)
    return run(cfg, _data_dir(cfg, data_dir), sources, force=force, recheck_all=recheck_all, progress=progress)


def clean(
    config: ConfigLike,
    *,
    data_dir: str | os.PathLike[str] | None = None,
    workers: int | None = None,
    resplit: bool = False,
    full: bool = False,
    progress: bool = False,
) -> CleanReport:
    """Clean every stored raw record into ``<data_dir>/clean/<run>`` (``clean/latest``): normalization, filters
    with drop reasons, exact and near-duplicates, language ID, splits. ``workers``: processes (default ``[clean]
    workers``); ``resplit``: assign splits afresh; ``full``: search every near-duplicate pair again."""
    from jokemine.cleaning.stage import clean as run

    cfg = _config(config)
    return run(cfg, _data_dir(cfg, data_dir), workers=workers, progress=progress, resplit=resplit, full=full)


def publish(
    config: ConfigLike,
    *,
    data_dir: str | os.PathLike[str] | None = None,
    version: str | None = None,
    push: bool = False,
    dry_run: bool = False,
) -> PublishReport:
    """Build, validate and publish a release from ``clean/latest`` into ``<data_dir>/releases/<version>``
    (``releases/latest``); with ``push`` and ``[publish] repo_id``, push it to the Hub as one commit and tag (off
    by default here, unlike the CLI: a notebook should not push by accident). ``dry_run`` writes nothing."""
    from jokemine.publish.release import publish as run

    cfg = _config(config)
    return run(cfg, _data_dir(cfg, data_dir), version=version, dry_run=dry_run, push=push)


def refresh(config: ConfigLike, *, data_dir: str | os.PathLike[str] | None = None, push: bool = False) -> RefreshReport:
    """One nightly refresh: scrape what changed, clean incrementally, publish only when rows changed (and push
    with ``push``). Never raises for a failing source; see :func:`jokemine.refresh.refresh`."""
    from jokemine.refresh import refresh as run

    cfg = _config(config)
    return run(cfg, _data_dir(cfg, data_dir), push=push)


@dataclass
class Release:
    """A published release folder: ``path``, ``version``, ``manifest`` (``MANIFEST.json``: files, counts, the
    grouped configs' build numbers), ``changelog`` (``CHANGELOG.json``: this release against the previous one) and
    ``card`` (the ``README.md`` dataset card text)."""

    path: Path
    manifest: dict[str, Any]
    changelog: dict[str, Any] = field(default_factory=dict)
    card: str = ""

    @property
    def version(self) -> str:
        """The release version (``YYYY.MM.DD``)."""
        return str(self.manifest.get("version") or self.path.name)

    @property
    def configs(self) -> list[str]:
        """The configs of this release, in the registry's order (:data:`jokemine.schema.RELEASE_CONFIGS`)."""
        from jokemine.schema import RELEASE_CONFIGS

        counts = self.manifest.get("counts", {})
        return [c for c in RELEASE_CONFIGS if c in counts]

    def splits(self, config: str) -> dict[str, int]:
        """Rows per split of ``config``. Raises :class:`JokemineError` for a config the release does not have."""
        try:
            return dict(self.manifest["counts"][config])
        except KeyError:
            raise JokemineError(f"{self.path}: no config {config!r}; configs: {', '.join(self.configs)}") from None

    def frame(self, config: str | None = None, split: str | None = None) -> pd.DataFrame:
        """The rows of ``config`` (default: the default config) as a pandas DataFrame, one ``split`` or all of them
        (then with a ``split`` column). Raises :class:`JokemineError` for an unknown config or split."""
        import pandas as pd
        import pyarrow.parquet as pq

        from jokemine.schema import RELEASE_CONFIGS

        config = config or next(c.name for c in RELEASE_CONFIGS.values() if c.default)
        splits = self.splits(config)
        if split is not None and split not in splits:
            raise JokemineError(f"{self.path}: config {config!r} has no split {split!r}; splits: {', '.join(splits)}")
        frames = []
        for s in [split] if split else list(splits):
            files = sorted((self.path / config).glob(f"{s}-*.parquet"))
            df = pq.ParquetDataset(files).read().to_pandas()
            frames.append(df if split else df.assign(split=s))
        return pd.concat(frames, ignore_index=True)

    def dataset(self, config: str | None = None) -> DatasetDict:
        """``datasets.load_dataset(<release folder>, config)``: the splits as the Hub serves them."""
        from datasets import load_dataset

        return load_dataset(str(self.path), config)


def open_release(path: str | os.PathLike[str]) -> Release:
    """The release at ``path``: a release folder, or a data dir (its ``releases/latest``). Raises
    :class:`JokemineError` naming the path when there is no ``MANIFEST.json`` there."""
    p = Path(path).expanduser()
    if not (p / "MANIFEST.json").exists() and (p / "releases" / "latest" / "MANIFEST.json").exists():
        p = p / "releases" / "latest"
    p = p.resolve()
    try:
        manifest = json.loads((p / "MANIFEST.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise JokemineError(f"{p}: not a jokemine release (no readable MANIFEST.json: {e})") from None
    changelog: dict[str, Any] = {}
    if (p / "CHANGELOG.json").exists():
        changelog = json.loads((p / "CHANGELOG.json").read_text(encoding="utf-8"))
    card = (p / "README.md").read_text(encoding="utf-8") if (p / "README.md").exists() else ""
    return Release(p, manifest, changelog, card)


def callable_module(module_name: str, function: str) -> None:
    """Make module ``module_name`` callable as the API function ``function`` of this module: ``jokemine.publish``
    and ``jokemine.refresh`` are both a submodule and an API function, and Python binds the submodule to the package
    attribute once it is imported; so the module itself forwards calls (its ``__class__`` is writable since Python
    3.5, https://docs.python.org/3/reference/datamodel.html#customizing-module-attribute-access)."""

    class CallableModule(types.ModuleType):
        def __call__(self, *args: Any, **kwargs: Any) -> Any:
            return getattr(importlib.import_module(__name__), function)(*args, **kwargs)

    sys.modules[module_name].__class__ = CallableModule
