"""The one registry of source kinds (the pattern of dolma's ``@TaggerRegistry.add``,
https://github.com/allenai/dolma): each ``jokemine/scrapers/<kind>.py`` registers its reader class with
:func:`register`, naming its config model, its parser (raw envelope -> records, used by ``clean``), its pass-1
steps, whether it is a live source and the terms its dataset card states when the config gives none. Everything
that used to ask "which kind is this?" asks :func:`kind_of` instead.
"""

from __future__ import annotations

import importlib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from jokemine.config import SOURCE_KINDS, CleanConfig, HttpConfig
from jokemine.pipeline.steps import Record, Step

ParseFn = Callable[[dict[str, Any], Any, str, Counter[str]], list[Record]]
StepsFn = Callable[[Any, CleanConfig], list[Step]]
C = TypeVar("C")

BUILTIN_MODULES = {kind: f"jokemine.scrapers.{kind}" for kind in SOURCE_KINDS}


@dataclass(frozen=True)
class SourceKind:
    """What jokemine knows about one kind of source.

    ``config``: its pydantic model (``[[sources]]`` with ``kind = "<kind>"``); ``reader``: the class reading it,
    built with ``reader.from_config(cfg, base_dir, http)``; ``parse(envelope, ParseContext, origin, counters)`` ->
    records; ``steps(cfg, clean_config)`` -> pass-1 steps; ``live``: read from a live API (a deletion it finds
    sticks until it shows the post again); ``files``: reads local files; ``card_terms``: terms the dataset card
    adds when the config's ``license``/``terms`` do not mention them; ``card_producers``: who wrote the texts and
    who gave the scores, for the card's "source data producers" and "annotators" (a source's ``producers`` wins).
    """

    kind: str
    config: type
    reader: Any
    parse: ParseFn
    steps: StepsFn
    live: bool = False
    files: bool = False
    card_terms: str | None = None
    card_producers: str | None = None

    def build(self, cfg: Any, base_dir: Path, http: HttpConfig | None = None) -> Any:
        """The reader of one configured source."""
        return self.reader.from_config(cfg, base_dir, http or HttpConfig())


_REGISTRY: dict[str, SourceKind] = {}


def register(
    kind: str,
    *,
    config: type,
    parse: ParseFn,
    steps: StepsFn,
    live: bool = False,
    files: bool = False,
    card_terms: str | None = None,
    card_producers: str | None = None,
) -> Callable[[C], C]:
    """Class decorator registering a reader class as source kind ``kind``. Raises ValueError for a kind registered
    twice or one that the config does not know (``jokemine.config.SOURCE_KINDS``)."""

    def add(cls: C) -> C:
        if kind in _REGISTRY and _REGISTRY[kind].reader is not cls:
            raise ValueError(f"source kind {kind!r} is registered twice")
        if kind not in SOURCE_KINDS:
            raise ValueError(f"source kind {kind!r} has no config model in jokemine.config")
        _REGISTRY[kind] = SourceKind(kind, config, cls, parse, steps, live, files, card_terms, card_producers)
        return cls

    return add


def kinds() -> dict[str, SourceKind]:
    """Every registered kind (the built-in modules are imported on first use)."""
    for kind, module in BUILTIN_MODULES.items():
        if kind not in _REGISTRY:
            importlib.import_module(module)
    return dict(_REGISTRY)


def kind_of(cfg: Any) -> SourceKind:
    """The kind of a configured source (its ``kind`` key). Raises KeyError for an unregistered kind."""
    if cfg.kind not in _REGISTRY:
        kinds()
    return _REGISTRY[cfg.kind]
