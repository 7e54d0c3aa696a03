"""Pipeline steps in the style of huggingface/datatrove: records in, records out.

A record is a ``dict`` (:mod:`jokemine.schema`); keys starting with ``_`` are transient metadata that steps
may read (e.g. ``_is_self``) and that are never written. A *filter* is a plain function ``record -> reason |
None``; :func:`filter_step` turns it into a step that sets ``drop_reason`` on the first failing filter (the
record still flows on, so every drop stays visible in the clean output) and counts drops per source and reason
in :class:`Stats`. Filters see only records nothing has dropped yet. A *map* is ``record -> record``.

Steps are plain callables ``(records, stats) -> records``; every executor runs the same steps.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

Record = dict[str, Any]
FilterFn = Callable[[Record], str | None]
MapFn = Callable[[Record], Record]
Step = Callable[[Iterable[Record], "Stats"], Iterator[Record]]


@dataclass
class Stats:
    """Counters keyed by tuples, e.g. ``("dropped", source, reason)``, ``("step", name, "in")``; mergeable
    across shards and processes."""

    counts: Counter[tuple[str, ...]] = field(default_factory=Counter)

    def add(self, *key: str, n: int = 1) -> None:
        """Add ``n`` to the counter ``key``."""
        self.counts[key] += n

    def merge(self, other: Stats) -> Stats:
        """Add ``other``'s counters to this one; returns self."""
        self.counts.update(other.counts)
        return self

    def get(self, *key: str) -> int:
        """The counter ``key`` (0 if never counted)."""
        return self.counts.get(key, 0)

    def to_list(self) -> list[list[Any]]:
        """The counters as JSON-ready ``[[key..., n], ...]`` (for caches; :meth:`from_list` reads it back)."""
        return [[*key, n] for key, n in sorted(self.counts.items())]

    @classmethod
    def from_list(cls, items: list[list[Any]]) -> Stats:
        """The :class:`Stats` that :meth:`to_list` wrote."""
        return cls(Counter({tuple(str(k) for k in item[:-1]): int(item[-1]) for item in items}))

    def nested(self) -> dict[str, Any]:
        """The counters as nested dicts: ``{"dropped": {source: {reason: n}}, ...}``, keys sorted."""
        out: dict[str, Any] = {}
        for key, n in sorted(self.counts.items()):
            node = out
            for part in key[:-1]:
                node = node.setdefault(part, {})
            node[key[-1]] = n
        return out


def filter_step(name: str, fn: FilterFn) -> Step:
    """A step applying filter ``fn`` to records not yet dropped (see the module docstring)."""

    def run(records: Iterable[Record], stats: Stats) -> Iterator[Record]:
        for rec in records:
            if rec["drop_reason"] is None:
                stats.add("step", name, "in")
                reason = fn(rec)
                if reason:
                    rec["drop_reason"] = reason
                    stats.add("step", name, "dropped")
            yield rec

    run.__name__ = name
    return run


def map_step(name: str, fn: MapFn, *, kept_only: bool = False) -> Step:
    """A step applying ``fn`` to every record (``kept_only``: only to records not dropped)."""

    def run(records: Iterable[Record], stats: Stats) -> Iterator[Record]:
        for rec in records:
            if not kept_only or rec["drop_reason"] is None:
                stats.add("step", name, "in")
                rec = fn(rec)
            yield rec

    run.__name__ = name
    return run


def run_steps(records: Iterable[Record], steps: list[Step], stats: Stats) -> Iterator[Record]:
    """Chain ``steps`` over ``records`` lazily."""
    it: Iterable[Record] = records
    for step in steps:
        it = step(it, stats)
    return iter(it)
