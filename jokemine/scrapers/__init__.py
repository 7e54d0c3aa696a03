"""Sources: each reads one kind of origin and yields raw records (see :mod:`jokemine.scrapers.base`)."""

from __future__ import annotations

from pathlib import Path

from jokemine.config import AnekdotRuSource, AnySource, HtmlSpecSource, HttpConfig, RedditApiSource, RedditDumpSource
from jokemine.scrapers.base import Source


def build_source(cfg: AnySource, base_dir: Path, http: HttpConfig | None = None) -> Source:
    """The reader for one configured source (``kind`` selects the class); ``http`` for crawlers."""
    if isinstance(cfg, AnekdotRuSource):
        from jokemine.scrapers.anekdot_ru import AnekdotRu

        return AnekdotRu(cfg, http or HttpConfig(), base_dir)
    if isinstance(cfg, HtmlSpecSource):
        from jokemine.scrapers.html_spec import HtmlSpec

        return HtmlSpec(cfg, http or HttpConfig(), base_dir)
    if isinstance(cfg, RedditDumpSource):
        from jokemine.scrapers.reddit_dump import RedditDump

        return RedditDump(cfg, base_dir)
    if isinstance(cfg, RedditApiSource):
        from jokemine.scrapers.reddit_api import RedditApi

        return RedditApi(cfg, base_dir)
    from jokemine.scrapers.table import Table

    return Table(cfg, base_dir)
