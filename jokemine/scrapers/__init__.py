"""Sources: each reads one kind of origin and yields raw records (see :mod:`jokemine.scrapers.base`); the kinds
are registered in :mod:`jokemine.scrapers.registry`."""

from __future__ import annotations

from pathlib import Path

from jokemine.config import AnySource, HttpConfig
from jokemine.scrapers.base import Source


def build_source(cfg: AnySource, base_dir: Path, http: HttpConfig | None = None) -> Source:
    """The reader for one configured source (its registered kind builds it); ``http`` for crawlers."""
    from jokemine.scrapers.registry import kind_of

    src: Source = kind_of(cfg).build(cfg, base_dir, http)
    return src
