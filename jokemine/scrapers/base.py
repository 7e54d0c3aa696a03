"""The source interface: a source yields events; the scrape runner stores them.

A source's ``read(ctx)`` (:class:`ReadContext`: committed cursors, ``force``, ``recheck_all`` and the ids the
source already stored) yields, in order:

* :class:`RawItem` - one record exactly as read (``data``), with where it came from;
* :class:`BadItem` - something that could not be read as a record (counted and quarantined, the run goes on);
* :class:`Checkpoint` - "everything yielded so far may be committed, together with these cursor values";
  the runner makes the raw parts durable and stores the cursors in one transaction, so a killed run resumes
  from the last checkpoint with nothing lost or duplicated;
* :class:`Notice` - a warning or a file-level error (truncated file, wrong encoding); errors make the run
  ``partial`` and the command exit non-zero, but the source goes on with its other files. ``level="skip"``
  means the source cannot run here (e.g. no API credentials): it is reported as skipped, not failed.

:class:`jokemine.errors.SourceError` raised from ``read`` stops that source only; other sources still run.
File dumps, the live Reddit API and crawled sites all implement this interface.
"""

from __future__ import annotations

import base64
import json
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal, Protocol

from jokemine.state import FrontierEntry, FrontierOp

Unit = Literal["line", "item", "row"]
"""What ``line`` counts in an origin: text lines, items of a JSON array, or rows of a table."""


@dataclass(slots=True)
class RawItem:
    """One raw record. ``line`` is the 1-based line (or array item, see ``unit``) in ``origin``.

    ``created`` (epoch seconds) is when the record was created upstream, tracked for sources that re-read what
    they stored (``track_ids``); ``note`` marks re-reads (``"reread"``, or ``"missing"`` when the origin no
    longer returns the record) and ids changed because of a collision (``"id_collision"``); ``fetched_at``
    overrides the run's fetch time (per API page). ``row_key`` = ``(file, text digest)`` of a table row with a
    mapped id, kept in ``state.sqlite`` to tell re-reads and edits from id collisions (:class:`RowIds`).
    """

    source_id: str
    data: Any
    origin: str
    line: int | None = None
    unit: Literal["line", "item", "row"] = "line"
    created: float | None = None
    note: str | None = None
    fetched_at: datetime | None = None
    row_key: tuple[str, str] | None = None


@dataclass(slots=True)
class BadItem:
    """Input that could not be read as a record. ``raw`` is the offending text (lossless where possible)."""

    origin: str
    line: int | None
    error: str
    raw: str = ""
    unit: Literal["line", "item", "row"] = "line"


@dataclass(slots=True)
class Checkpoint:
    """Commit point: cursors to store, and crawl-frontier changes to apply, once every item before it is
    durable (one transaction)."""

    cursors: dict[str, Any] = field(default_factory=dict)
    frontier: list[FrontierOp] = field(default_factory=list)


@dataclass(slots=True)
class Notice:
    """A message for the user; ``level="error"`` marks the run partial (exit code 1), ``"skip"`` skipped."""

    message: str
    level: Literal["warning", "error", "skip"] = "warning"


Event = RawItem | BadItem | Checkpoint | Notice


class KnownIds(Protocol):
    """The ids a source has stored (committed), with their upstream creation time."""

    def has(self, ids: Iterable[str]) -> set[str]:
        """The subset of ``ids`` already stored."""
        ...

    def created_since(self, epoch_s: float) -> list[str]:
        """Stored ids created at or after ``epoch_s``."""
        ...

    def all(self) -> list[str]:
        """Every stored id."""
        ...


class NoKnownIds:
    """:class:`KnownIds` for sources that do not track ids."""

    def has(self, ids: Iterable[str]) -> set[str]:
        return set()

    def created_since(self, epoch_s: float) -> list[str]:
        return []

    def all(self) -> list[str]:
        return []


class RowIds(Protocol):
    """Per stored table-row id: the file it was read from and the digest of its text (committed rows only)."""

    def get(self, source_id: str) -> tuple[str, str] | None:
        """``(file, digest)`` of ``source_id``, or None when no run stored it."""
        ...


class NoRowIds:
    """:class:`RowIds` for sources that keep none."""

    def get(self, source_id: str) -> tuple[str, str] | None:
        return None


class Frontier(Protocol):
    """A crawler's URL frontier (read side; changes travel in :class:`Checkpoint`)."""

    def pending(self, max_attempts: int) -> list[FrontierEntry]:
        """URLs still to fetch, in the order they were added."""
        ...

    def get(self, url: str) -> FrontierEntry | None:
        """One URL's entry."""
        ...

    def counts(self) -> dict[str, int]:
        """URLs per status."""
        ...


@dataclass
class ReadContext:
    """What a source gets from the runner: committed ``cursors``; ``force`` re-reads inputs already read;
    ``recheck_all`` re-reads every stored record (live sources); ``known`` the ids already stored;
    ``row_ids`` the file and text digest of stored table-row ids; ``frontier`` the crawl frontier (crawlers);
    ``data_dir`` for caches."""

    cursors: dict[str, Any] = field(default_factory=dict)
    force: bool = False
    recheck_all: bool = False
    known: KnownIds = field(default_factory=NoKnownIds)
    row_ids: RowIds = field(default_factory=NoRowIds)
    frontier: Frontier | None = None
    data_dir: Path | None = None


class Source(Protocol):
    """What the scrape runner needs from a source (see the module docstring). ``track_ids``: the runner keeps
    the ids it stores (with ``RawItem.created``) in ``state.sqlite`` for ``ReadContext.known``."""

    name: str
    parser_version: str
    stats: Counter[str]
    track_ids: bool

    def read(self, ctx: ReadContext) -> Iterator[Event]:
        """Yield events (see the module docstring)."""
        ...


MAX_RAW = 1 << 20


def clip_raw(raw: Any) -> str:
    """The offending input as text for the quarantine: UTF-8 text as is, other bytes as ``base64:<...>``
    (lossless), other objects as JSON; clipped to 1 MiB."""
    if isinstance(raw, bytes):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            text = "base64:" + base64.b64encode(raw[:MAX_RAW]).decode("ascii")
    elif isinstance(raw, str):
        text = raw
    else:
        text = json.dumps(raw, ensure_ascii=False, default=str)
    return text if len(text) <= MAX_RAW else text[:MAX_RAW] + "...[clipped]"
