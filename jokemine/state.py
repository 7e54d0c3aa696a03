"""The data dir layout and ``state.sqlite``: cursors, committed raw parts and run manifests.

Layout under the data dir::

    raw/<source>/<run_id>/part-NNNNN.jsonl.zst   raw records + provenance (immutable once committed)
    raw/<source>/<run_id>/quarantine.jsonl       lines that could not be read, with file, line and error
    clean/<run_id>/part-NNNNN.parquet            every record (kept and dropped, with drop_reason)
    clean/<run_id>/stats.json                    counts per step, source and drop reason
    clean/latest -> <run_id>                     the last complete clean run
    releases/<version>/                          a release in Hugging Face Hub layout
    releases/latest -> <version>
    state.sqlite                                 this module

A raw part counts only once it is listed in ``raw_parts``: parts and cursors are committed together in one
transaction, so a run killed at any point loses nothing committed and leaves no half-counted part.
"""

from __future__ import annotations

import json
import os
import secrets
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from jokemine.atomic import read_pointer
from jokemine.errors import StateError


def utcnow() -> datetime:
    """The current time, UTC, microsecond precision."""
    return datetime.now(UTC)


def new_run_id() -> str:
    """A run id that sorts by start time: ``YYYYMMDDTHHMMSSffffffZ-<6 hex>`` (UTC, microseconds)."""
    return utcnow().strftime("%Y%m%dT%H%M%S%fZ") + "-" + secrets.token_hex(3)


@dataclass(frozen=True)
class Layout:
    """Paths of everything under one data dir."""

    root: Path

    @property
    def raw(self) -> Path:
        return self.root / "raw"

    @property
    def clean(self) -> Path:
        return self.root / "clean"

    @property
    def releases(self) -> Path:
        return self.root / "releases"

    @property
    def state_path(self) -> Path:
        return self.root / "state.sqlite"

    def clean_latest(self) -> Path | None:
        """The directory of the last complete clean run, or None."""
        name = read_pointer(self.clean / "latest")
        return self.clean / name if name and (self.clean / name).is_dir() else None

    def release_latest(self) -> Path | None:
        """The directory of the release ``releases/latest`` points to, or None."""
        name = read_pointer(self.releases / "latest")
        return self.releases / name if name and (self.releases / name).is_dir() else None


_SCHEMA = """
CREATE TABLE IF NOT EXISTS cursors (
  source TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, updated_at TEXT NOT NULL,
  PRIMARY KEY (source, key));
CREATE TABLE IF NOT EXISTS raw_parts (
  path TEXT PRIMARY KEY, source TEXT NOT NULL, run_id TEXT NOT NULL, records INTEGER NOT NULL,
  committed_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
  run_id TEXT NOT NULL, stage TEXT NOT NULL, source TEXT NOT NULL DEFAULT '',
  started_at TEXT NOT NULL, finished_at TEXT, status TEXT NOT NULL, stats TEXT,
  PRIMARY KEY (run_id, stage, source));
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS known_ids (
  source TEXT NOT NULL, source_id TEXT NOT NULL, created REAL,
  PRIMARY KEY (source, source_id)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS known_ids_created ON known_ids(source, created);
CREATE TABLE IF NOT EXISTS row_ids (
  source TEXT NOT NULL, source_id TEXT NOT NULL, file TEXT NOT NULL, digest TEXT NOT NULL,
  PRIMARY KEY (source, source_id)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS frontier (
  source TEXT NOT NULL, url TEXT NOT NULL, kind TEXT NOT NULL, meta TEXT NOT NULL DEFAULT '{}',
  status TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, last_error TEXT, http_status INTEGER,
  seq INTEGER NOT NULL, updated_at TEXT NOT NULL,
  PRIMARY KEY (source, url)) WITHOUT ROWID;
"""


@dataclass(frozen=True)
class FrontierOp:
    """A change to a crawl frontier, committed with the raw pages it belongs to.

    ``op``: ``add`` (a new URL, pending; with ``refetch_before`` (ISO time) a known URL last touched before then
    is made pending again: a listing or recent day due in a new crawl), ``done`` (fetched, or answered
    404/410), ``failed`` (counts an attempt, keeps ``error``), ``gave_up`` (not worth retrying), ``skipped``
    (robots.txt), ``retry_skipped`` (all skipped URLs of the source pending again; ``url`` unused).
    """

    op: str
    url: str
    kind: str = ""
    meta: dict[str, Any] | None = None
    refetch_before: str | None = None
    error: str | None = None
    http_status: int | None = None


@dataclass(frozen=True)
class FrontierEntry:
    """One URL of a crawl frontier."""

    url: str
    kind: str
    meta: dict[str, Any]
    status: str
    attempts: int
    last_error: str | None
    http_status: int | None


@dataclass(frozen=True)
class RawPart:
    """One committed raw part: ``path`` is relative to the data dir."""

    path: str
    source: str
    run_id: str
    records: int


class State:
    """``state.sqlite`` of one data dir. Every write is its own transaction unless noted.

    ``readonly``: open for reading only (``jokemine status``), which works on a read-only data dir: SQLite's
    ``mode=ro``, else ``immutable=1`` when the write-ahead log's shared-memory file cannot be created there
    (https://www.sqlite.org/uri.html). Raises :class:`jokemine.errors.StateError` naming the file when it cannot be
    opened (not a database, unreadable, or read-only while writing is needed)."""

    def __init__(self, path: Path, *, readonly: bool = False) -> None:
        self.path = path
        try:
            if readonly:
                self.db = _open_readonly(path)
            else:
                path.parent.mkdir(parents=True, exist_ok=True)
                self.db = sqlite3.connect(path, timeout=30, isolation_level=None)
                self.db.execute("PRAGMA journal_mode=WAL")
                self.db.execute("PRAGMA synchronous=FULL")
                self.db.executescript(_SCHEMA)
        except sqlite3.Error as e:
            hint = "; is the data dir read-only?" if "readonly" in str(e) or "unable to open" in str(e) else ""
            raise StateError(f"{path}: cannot open the state database: {e}{hint}") from None

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> State:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- cursors -------------------------------------------------------------------------------------------
    def cursors(self, source: str) -> dict[str, Any]:
        """All cursor values of ``source`` (JSON-decoded), by key."""
        rows = self.db.execute("SELECT key, value FROM cursors WHERE source = ?", (source,)).fetchall()
        return {k: json.loads(v) for k, v in rows}

    def commit(
        self,
        source: str,
        run_id: str,
        parts: Iterable[tuple[str, int]],
        cursors: dict[str, Any],
        ids: Iterable[tuple[str, float | None]] = (),
        frontier: Iterable[FrontierOp] = (),
        rows: Iterable[tuple[str, str, str]] = (),
    ) -> None:
        """Register raw ``parts`` (relative path, record count), set ``cursors``, record stored ``ids``
        (source id, upstream creation time in epoch seconds or None), record table ``rows`` (source id, file,
        text digest; a later digest from the same file replaces the stored one, one from another file does not)
        and apply ``frontier`` changes, in one transaction."""
        now = utcnow().isoformat()
        with self._tx():
            self._apply_frontier(source, list(frontier), now)
            self.db.executemany(
                "INSERT INTO row_ids(source, source_id, file, digest) VALUES (?,?,?,?) "
                "ON CONFLICT(source, source_id) DO UPDATE SET digest = excluded.digest WHERE file = excluded.file",
                [(source, sid, file, digest) for sid, file, digest in rows],
            )
            self.db.executemany(
                "INSERT INTO known_ids(source, source_id, created) VALUES (?,?,?) "
                "ON CONFLICT(source, source_id) DO UPDATE SET created = COALESCE(excluded.created, created)",
                [(source, sid, created) for sid, created in ids],
            )
            self.db.executemany(
                "INSERT OR REPLACE INTO raw_parts(path, source, run_id, records, committed_at) VALUES (?,?,?,?,?)",
                [(p, source, run_id, n, now) for p, n in parts],
            )
            self.db.executemany(
                "INSERT OR REPLACE INTO cursors(source, key, value, updated_at) VALUES (?,?,?,?)",
                [(source, k, json.dumps(v, sort_keys=True), now) for k, v in cursors.items()],
            )

    def raw_parts(self, sources: Iterable[str] | None = None) -> list[RawPart]:
        """Committed raw parts, ordered by source, run and path."""
        rows = self.db.execute(
            "SELECT path, source, run_id, records FROM raw_parts ORDER BY source, run_id, path"
        ).fetchall()
        wanted = set(sources) if sources is not None else None
        return [RawPart(*r) for r in rows if wanted is None or r[1] in wanted]

    def _apply_frontier(self, source: str, ops: list[FrontierOp], now: str) -> None:
        if not ops:
            return
        row = self.db.execute("SELECT COALESCE(MAX(seq), 0) FROM frontier WHERE source = ?", (source,)).fetchone()
        seq = int(row[0])
        for op in ops:
            if op.op == "add":
                seq += 1
                cur = self.db.execute(
                    "INSERT OR IGNORE INTO frontier(source, url, kind, meta, status, seq, updated_at) "
                    "VALUES (?,?,?,?,'pending',?,?)",
                    (source, op.url, op.kind, json.dumps(op.meta or {}, sort_keys=True), seq, now),
                )
                if cur.rowcount == 0 and op.refetch_before:  # known URL, due again in this crawl
                    self.db.execute(
                        "UPDATE frontier SET status = 'pending', attempts = 0, seq = ?, updated_at = ? "
                        "WHERE source = ? AND url = ? AND status != 'skipped' AND updated_at < ?",
                        (seq, now, source, op.url, op.refetch_before),
                    )
            elif op.op == "retry_skipped":  # a new crawl asks robots.txt again about skipped URLs
                self.db.execute(
                    "UPDATE frontier SET status = 'pending', updated_at = ? WHERE source = ? AND status = 'skipped'",
                    (now, source),
                )
            elif op.op in ("done", "skipped", "gave_up"):
                self.db.execute(
                    "UPDATE frontier SET status = ?, last_error = ?, http_status = ?, updated_at = ? "
                    "WHERE source = ? AND url = ?",
                    (op.op, op.error, op.http_status, now, source, op.url),
                )
            elif op.op == "failed":
                self.db.execute(
                    "UPDATE frontier SET status = 'failed', attempts = attempts + 1, last_error = ?, "
                    "http_status = ?, updated_at = ? WHERE source = ? AND url = ?",
                    (op.error, op.http_status, now, source, op.url),
                )
            else:
                raise ValueError(f"unknown frontier op {op.op!r}")

    def frontier(self, source: str) -> StateFrontier:
        """The crawl frontier of ``source``."""
        return StateFrontier(self.db, source)

    def row_ids(self, source: str) -> StateRowIds:
        """File and text digest of the table-row ids ``source`` stored (:class:`jokemine.scrapers.base.RowIds`)."""
        return StateRowIds(self.db, source)

    def known(self, source: str) -> StateKnownIds:
        """The ids ``source`` has stored (see :class:`jokemine.scrapers.base.KnownIds`)."""
        return StateKnownIds(self.db, source)

    # --- runs ----------------------------------------------------------------------------------------------
    def start_run(self, run_id: str, stage: str, source: str = "") -> None:
        """Record that ``stage`` (for ``source``) started."""
        self.db.execute(
            "INSERT OR REPLACE INTO runs(run_id, stage, source, started_at, status) VALUES (?,?,?,?, 'running')",
            (run_id, stage, source, utcnow().isoformat()),
        )

    def finish_run(self, run_id: str, stage: str, status: str, stats: dict[str, Any], source: str = "") -> None:
        """Record the end of a run: ``status`` is ``ok``, ``partial``, ``failed`` or ``unchanged``."""
        self.db.execute(
            "UPDATE runs SET finished_at = ?, status = ?, stats = ? WHERE run_id = ? AND stage = ? AND source = ?",
            (utcnow().isoformat(), status, json.dumps(stats, default=str), run_id, stage, source),
        )

    def runs(self, limit: int = 20) -> list[dict[str, Any]]:
        """The most recent runs, newest first."""
        rows = self.db.execute(
            "SELECT run_id, stage, source, started_at, finished_at, status, stats FROM runs "
            "ORDER BY started_at DESC LIMIT ?",
            (limit,),
        ).fetchall()
        keys = ("run_id", "stage", "source", "started_at", "finished_at", "status", "stats")
        out = []
        for r in rows:
            d = dict(zip(keys, r, strict=True))
            d["stats"] = json.loads(d["stats"]) if d["stats"] else {}
            out.append(d)
        return out

    def stage_runs(self, stage: str) -> list[dict[str, Any]]:
        """Every run of ``stage`` (e.g. ``push``), newest first: ``status``, ``started_at``, ``finished_at``,
        ``stats`` (a dict)."""
        rows = self.db.execute(
            "SELECT status, started_at, finished_at, stats FROM runs WHERE stage = ? ORDER BY started_at DESC",
            (stage,),
        ).fetchall()
        keys = ("status", "started_at", "finished_at", "stats")
        return [dict(zip(keys, (s, a, b, json.loads(st) if st else {}), strict=True)) for s, a, b, st in rows]

    # --- meta ----------------------------------------------------------------------------------------------
    def secret(self, key: str) -> str:
        """A random secret created once per data dir (e.g. the author-hash salt); never printed."""
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        if row:
            return str(row[0])
        value = secrets.token_hex(16)
        self.db.execute("INSERT OR IGNORE INTO meta(key, value) VALUES (?, ?)", (key, value))
        return str(self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()[0])

    def _tx(self) -> _Tx:
        return _Tx(self.db)


def _open_readonly(path: Path) -> sqlite3.Connection:
    uri = path.resolve().as_uri()
    try:
        db = sqlite3.connect(f"{uri}?mode=ro", uri=True, isolation_level=None)
        db.execute("SELECT count(*) FROM sqlite_master").fetchone()
        return db
    except sqlite3.OperationalError:
        if os.access(path.parent, os.W_OK):  # not the read-only case: a real error (locked, corrupt...)
            raise
        # the write-ahead log's shared memory cannot be created in a read-only directory, and no writer can be
        # using the database there: read the file as it is
        db = sqlite3.connect(f"{uri}?immutable=1", uri=True, isolation_level=None)
        db.execute("SELECT count(*) FROM sqlite_master").fetchone()
        return db


class StateFrontier:
    """Read access to one source's crawl frontier (changes go through :meth:`State.commit`)."""

    def __init__(self, db: sqlite3.Connection, source: str) -> None:
        self.db, self.source = db, source

    def _entries(self, where: str, args: tuple[Any, ...]) -> list[FrontierEntry]:
        rows = self.db.execute(
            "SELECT url, kind, meta, status, attempts, last_error, http_status FROM frontier "
            f"WHERE source = ? AND {where} ORDER BY seq, url",
            (self.source, *args),
        ).fetchall()
        return [FrontierEntry(u, k, json.loads(m), s, a, e, h) for u, k, m, s, a, e, h in rows]

    def pending(self, max_attempts: int) -> list[FrontierEntry]:
        """URLs to fetch: pending ones, and failed ones with fewer than ``max_attempts`` attempts."""
        return self._entries("(status = 'pending' OR (status = 'failed' AND attempts < ?))", (max_attempts,))

    def get(self, url: str) -> FrontierEntry | None:
        found = self._entries("url = ?", (url,))
        return found[0] if found else None

    def counts(self) -> dict[str, int]:
        """URLs per status."""
        rows = self.db.execute(
            "SELECT status, COUNT(*) FROM frontier WHERE source = ? GROUP BY status", (self.source,)
        ).fetchall()
        return {s: n for s, n in rows}


class StateKnownIds:
    """:class:`jokemine.scrapers.base.KnownIds` over the ``known_ids`` table."""

    def __init__(self, db: sqlite3.Connection, source: str) -> None:
        self.db, self.source = db, source

    def has(self, ids: Iterable[str]) -> set[str]:
        ids = list(ids)
        out: set[str] = set()
        for i in range(0, len(ids), 500):
            chunk = ids[i : i + 500]
            marks = ",".join("?" * len(chunk))
            rows = self.db.execute(
                f"SELECT source_id FROM known_ids WHERE source = ? AND source_id IN ({marks})", [self.source, *chunk]
            ).fetchall()
            out.update(r[0] for r in rows)
        return out

    def created_since(self, epoch_s: float) -> list[str]:
        rows = self.db.execute(
            "SELECT source_id FROM known_ids WHERE source = ? AND created >= ? ORDER BY created, source_id",
            (self.source, epoch_s),
        ).fetchall()
        return [r[0] for r in rows]

    def all(self) -> list[str]:
        rows = self.db.execute(
            "SELECT source_id FROM known_ids WHERE source = ? ORDER BY created, source_id", (self.source,)
        ).fetchall()
        return [r[0] for r in rows]


class StateRowIds:
    """:class:`jokemine.scrapers.base.RowIds` over the ``row_ids`` table. Whether the source has any row is read
    once, when the view is made (a reader keeps the rows of its own run itself)."""

    def __init__(self, db: sqlite3.Connection, source: str) -> None:
        self.db, self.source = db, source
        self._none = db.execute("SELECT 1 FROM row_ids WHERE source = ? LIMIT 1", (source,)).fetchone() is None

    @property
    def empty(self) -> bool:
        """No row of this source was stored when this view was made."""
        return self._none

    def get(self, source_id: str) -> tuple[str, str] | None:
        if self._none:  # a source read for the first time: no query per row
            return None
        row = self.db.execute(
            "SELECT file, digest FROM row_ids WHERE source = ? AND source_id = ?", (self.source, source_id)
        ).fetchone()
        return (str(row[0]), str(row[1])) if row else None


class _Tx:
    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def __enter__(self) -> None:
        self.db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, *rest: object) -> None:
        self.db.execute("COMMIT" if exc_type is None else "ROLLBACK")
