"""The source interface: a source yields events; the scrape runner stores them.

A source's ``read(cursors, force=...)`` yields, in order:

* :class:`RawItem` - one record exactly as read (``data``), with where it came from;
* :class:`BadItem` - something that could not be read as a record (counted and quarantined, the run goes on);
* :class:`Checkpoint` - "everything yielded so far may be committed, together with these cursor values";
  the runner makes the raw parts durable and stores the cursors in one transaction, so a killed run resumes
  from the last checkpoint with nothing lost or duplicated;
* :class:`Notice` - a warning or a file-level error (truncated file, wrong encoding); errors make the run
  ``partial`` and the command exit non-zero, but the source goes on with its other files.

:class:`jokemine.errors.SourceError` raised from ``read`` stops that source only; other sources still run.
File dumps, the live Reddit API and crawled sites all implement this interface.
"""

from __future__ import annotations

import base64
import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol


@dataclass(slots=True)
class RawItem:
    """One raw record. ``line`` is the 1-based line (or array item, see ``unit``) in ``origin``."""

    source_id: str
    data: Any
    origin: str
    line: int | None = None
    unit: Literal["line", "item", "row"] = "line"


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
    """Commit point: cursors to store once every item before it is durable."""

    cursors: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class Notice:
    """A message for the user; ``level="error"`` marks the run partial (exit code 1)."""

    message: str
    level: Literal["warning", "error"] = "warning"


Event = RawItem | BadItem | Checkpoint | Notice


class Source(Protocol):
    """What the scrape runner needs from a source (see the module docstring)."""

    name: str
    parser_version: str
    stats: Counter[str]

    def read(self, cursors: dict[str, Any], *, force: bool = False) -> Iterator[Event]:
        """Yield events; ``cursors`` are the values committed by earlier runs; ``force`` re-reads everything."""
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
