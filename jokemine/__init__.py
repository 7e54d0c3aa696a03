"""jokemine: mine, clean, deduplicate, split and publish humor datasets.

The Python API (:mod:`jokemine.api`, imported on first use so that ``import jokemine`` stays light):
:func:`load_config`, :func:`scrape`, :func:`clean`, :func:`publish`, :func:`refresh`, :func:`open_release`, and
the humor-specific core :func:`near_duplicate_clusters` (:mod:`jokemine.cleaning.dedup`) and :func:`split_joke`
(:mod:`jokemine.cleaning.structure`).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_API = {
    "load_config": "jokemine.api",
    "scrape": "jokemine.api",
    "clean": "jokemine.api",
    "publish": "jokemine.api",
    "refresh": "jokemine.api",
    "open_release": "jokemine.api",
    "Release": "jokemine.api",
    "near_duplicate_clusters": "jokemine.cleaning.dedup",
    "split_joke": "jokemine.cleaning.structure",
}
__all__ = [
    "Release",
    "__version__",
    "clean",
    "load_config",
    "near_duplicate_clusters",
    "open_release",
    "publish",
    "refresh",
    "scrape",
    "split_joke",
]

if TYPE_CHECKING:
    from jokemine.api import Release, clean, load_config, open_release, publish, refresh, scrape
    from jokemine.cleaning.dedup import near_duplicate_clusters
    from jokemine.cleaning.structure import split_joke


def __getattr__(name: str) -> Any:
    """The API names, imported on first use (PEP 562)."""
    if name in _API:
        return getattr(importlib.import_module(_API[name]), name)
    raise AttributeError(f"module 'jokemine' has no attribute {name!r}")
