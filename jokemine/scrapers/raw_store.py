"""Raw storage: ``raw/<source>/<run_id>/part-NNNNN.jsonl.zst`` and ``quarantine.jsonl``.

Each raw line is one JSON envelope (:func:`envelope`): the record exactly as read (``data``) plus provenance
(``source``, ``source_id``, ``origin`` file or URL, ``line``, ``fetched_at``, ``parser`` version). Parts are
written under a temporary name and renamed when full; they count only once the runner commits them to
``state.sqlite`` (:meth:`RawWriter.take_ready`). :func:`read_part` streams a part back for ``clean``.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO

import zstandard

from jokemine.atomic import fsync_dir, tmp_name
from jokemine.scrapers.base import BadItem, RawItem
from jokemine.scrapers.files import iter_lines


def envelope(source: str, item: RawItem, fetched_at: datetime, parser: str) -> dict[str, Any]:
    """The raw line stored for ``item`` (``note`` only when the item has one)."""
    env = {
        "source": source,
        "source_id": item.source_id,
        "origin": item.origin,
        "line": item.line,
        "unit": item.unit,
        "fetched_at": fetched_at.isoformat(),
        "parser": parser,
        "data": item.data,
    }
    if item.note:
        env["note"] = item.note
    return env


def _dumps(obj: Any) -> bytes:
    try:
        return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates from \\udXXX escapes: keep them escaped
        return json.dumps(obj, ensure_ascii=True, separators=(",", ":")).encode("ascii")


class RawWriter:
    """Writes the raw parts and the quarantine of one scrape run of one source."""

    def __init__(self, data_dir: Path, source: str, run_id: str, part_records: int) -> None:
        self.data_dir = data_dir
        self.run_dir = data_dir / "raw" / source / run_id
        self.part_records = part_records
        self._cctx = zstandard.ZstdCompressor(level=3)
        self._fh: BinaryIO | None = None
        self._zw: Any = None
        self._tmp: Path | None = None
        self._count = 0
        self._next = 0
        self._ready: list[tuple[str, int]] = []
        self._quarantine: io.BufferedWriter | None = None
        self.records = 0
        self.bad = 0

    def add(self, env: dict[str, Any]) -> None:
        """Append one envelope; rolls over to a new part every ``part_records`` records."""
        if self._zw is None:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            final = self.run_dir / f"part-{self._next:05d}.jsonl.zst"
            self._tmp = tmp_name(final)
            self._fh = open(self._tmp, "wb")  # noqa: SIM115 - closed in _close_part
            self._zw = self._cctx.stream_writer(self._fh, closefd=False)
        self._zw.write(_dumps(env) + b"\n")
        self._count += 1
        self.records += 1
        if self._count >= self.part_records:
            self._close_part()

    def quarantine(self, source: str, bad: BadItem) -> None:
        """Append a bad input to ``quarantine.jsonl`` (flushed at once: it is a log, kept even on failure)."""
        if self._quarantine is None:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            self._quarantine = open(self.run_dir / "quarantine.jsonl", "ab")  # noqa: SIM115
        rec = {"source": source, "origin": bad.origin, bad.unit: bad.line, "error": bad.error, "raw": bad.raw}
        self._quarantine.write(_dumps(rec) + b"\n")
        self._quarantine.flush()
        self.bad += 1

    def _close_part(self) -> None:
        if self._zw is None or self._fh is None or self._tmp is None:
            return
        self._zw.flush(zstandard.FLUSH_FRAME)
        self._zw.close()
        self._fh.flush()
        os.fsync(self._fh.fileno())
        self._fh.close()
        final = self.run_dir / f"part-{self._next:05d}.jsonl.zst"
        os.replace(self._tmp, final)
        self._ready.append((str(final.relative_to(self.data_dir)), self._count))
        self._next += 1
        self._zw = self._fh = self._tmp = None
        self._count = 0

    def take_ready(self) -> list[tuple[str, int]]:
        """Close the open part and return every finished part not yet handed out (path relative to the data
        dir, record count); the caller commits them."""
        self._close_part()
        ready, self._ready = self._ready, []
        if ready:
            fsync_dir(self.run_dir)  # the renames are durable before the caller commits them
        return ready

    def discard(self) -> None:
        """Delete the open part and finished-but-uncommitted parts (after a failure); keeps the quarantine."""
        if self._zw is not None:
            with contextlib.suppress(Exception):
                self._zw.close()
            with contextlib.suppress(Exception):
                self._fh.close()  # type: ignore[union-attr]
            if self._tmp is not None:
                self._tmp.unlink(missing_ok=True)
            self._zw = self._fh = self._tmp = None
        for rel, _ in self._ready:
            (self.data_dir / rel).unlink(missing_ok=True)
        self._ready = []
        self.close()

    def close(self) -> None:
        """Close the quarantine and remove the run dir if nothing was written to it."""
        if self._quarantine is not None:
            self._quarantine.close()
            self._quarantine = None
        with contextlib.suppress(OSError):
            self.run_dir.rmdir()  # only succeeds when empty


def remove_uncommitted(data_dir: Path, source: str, committed: set[str]) -> int:
    """Delete part files of ``source`` that no commit lists (left by a killed run) and empty run dirs."""
    removed = 0
    src_dir = data_dir / "raw" / source
    if not src_dir.is_dir():
        return 0
    for run_dir in src_dir.iterdir():
        if not run_dir.is_dir():
            continue
        for p in run_dir.iterdir():
            rel = str(p.relative_to(data_dir))
            if p.name.startswith(".") and ".tmp-" in p.name:
                p.unlink(missing_ok=True) if p.is_file() else shutil.rmtree(p, ignore_errors=True)
                removed += 1
            elif p.name.startswith("part-") and rel not in committed:
                p.unlink(missing_ok=True)
                removed += 1
        with contextlib.suppress(OSError):
            run_dir.rmdir()
    return removed


def read_part(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """``(line_number, envelope)`` for each line of a raw part."""
    for n, line in iter_lines(path):
        if line:
            yield n, json.loads(line)
