"""The ``scrape`` stage: run each source, store its raw records, commit at its checkpoints."""

from __future__ import annotations

import logging
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm import tqdm

from jokemine.config import AnySource, Config
from jokemine.errors import NothingToDo, SourceError
from jokemine.faults import crash_point
from jokemine.lock import data_dir_lock
from jokemine.scrapers import build_source
from jokemine.scrapers.base import BadItem, Checkpoint, Notice, RawItem, ReadContext
from jokemine.scrapers.raw_store import RawWriter, envelope, read_part, remove_uncommitted
from jokemine.scrapers.registry import kind_of
from jokemine.state import Layout, State, new_run_id, utcnow

log = logging.getLogger(__name__)
MAX_LOGGED_BAD = 10  # bad records logged one by one per source run; the rest are only counted and quarantined


@dataclass
class SourceReport:
    """Outcome of one source in one scrape: ``status`` is ``ok``, ``unchanged`` (nothing new), ``partial``
    (some files failed; what was read is committed) or ``failed`` (nothing committed)."""

    name: str
    run_id: str
    status: str = "ok"
    records: int = 0
    bad: int = 0
    parts: int = 0
    warnings: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    stats: dict[str, int] = field(default_factory=dict)

    def line(self) -> str:
        """One summary line for the terminal."""
        if self.status == "skipped":
            return f"{self.name}: skipped: " + "; ".join(w.removeprefix("skipped: ") for w in self.warnings)
        extra = "".join(f", {k} {v}" for k, v in sorted(self.stats.items()))
        return (
            f"{self.name}: {self.status}: {self.records} records stored in {self.parts} parts, "
            f"{self.bad} quarantined{extra}"
        )


def select_sources(cfg: Config, names: list[str] | None) -> list[AnySource]:
    """The sources a scrape runs: the named ones (enabled or not), else every enabled one.

    Raises :class:`NothingToDo` (before anything is written) when there is nothing to read.
    """
    where = cfg.config_path or "the built-in defaults"
    sources = [cfg.source(n) for n in names] if names else cfg.enabled_sources()
    if not sources:
        raise NothingToDo(
            f"no sources to scrape in {where}: add a [[sources]] entry (a Reddit dump or a table; "
            "see README 'Use your own dumps'), or run with CONFIG=configs/real-offline.toml"
        )
    file_sources: list[Any] = [s for s in sources if kind_of(s).files]
    present = any(os.path.lexists(p) for s in file_sources for p in s.files(cfg.base_dir)) or any(
        s.remote_paths() for s in file_sources
    )
    if len(file_sources) == len(sources) and not present:
        listed = "; ".join(f"{s.name}: {', '.join(s.paths(cfg.base_dir))}" for s in file_sources)
        raise NothingToDo(
            f"nothing to read: no input file of the configured sources exists ({listed}); "
            f"fix the `path` of the sources in {where}"
        )
    return sources


def scrape(
    cfg: Config,
    data_dir: Path,
    names: list[str] | None = None,
    *,
    force: bool = False,
    recheck_all: bool = False,
    progress: bool | None = None,
) -> list[SourceReport]:
    """Run the selected sources (see :func:`select_sources`) and return one report per source.

    A source that fails does not stop the others. ``force`` re-reads inputs whose cursors say they are done;
    ``recheck_all`` makes live sources re-read every post they stored (deletion sync).
    """
    sources = select_sources(cfg, names)
    layout = Layout(data_dir)
    reports = []
    with data_dir_lock(data_dir, "scrape"), State(layout.state_path) as state:
        for src_cfg in sources:
            reports.append(_scrape_one(cfg, layout, state, src_cfg, force, recheck_all, progress))
    return reports


def _backfill_row_ids(layout: Layout, state: State, name: str, source: Any) -> None:
    """Fill ``row_ids`` of a table source from its committed raw parts when they predate that table (a data dir
    scraped by an older jokemine), so that id collisions with the files it read then are found."""
    row_ids_of = getattr(source, "row_ids_of", None)
    parts = state.raw_parts([name])
    if row_ids_of is None or not parts or not state.row_ids(name).empty:
        return
    rows = row_ids_of(env for p in parts for _, env in read_part(layout.root / p.path))
    if rows:
        state.commit(name, "", [], {}, rows=rows)
        log.info("%s: recorded the file and text of %d stored ids (id collision checks)", name, len(rows))


def _scrape_one(
    cfg: Config,
    layout: Layout,
    state: State,
    src_cfg: AnySource,
    force: bool,
    recheck_all: bool,
    progress: bool | None,
) -> SourceReport:
    name = src_cfg.name
    run_id = new_run_id()
    report = SourceReport(name, run_id)
    committed = {p.path for p in state.raw_parts([name])}
    removed = remove_uncommitted(layout.root, name, committed)
    if removed:
        log.info("%s: removed %d uncommitted files left by an interrupted run", name, removed)
    source = build_source(src_cfg, cfg.base_dir, cfg.http)
    _backfill_row_ids(layout, state, name, source)
    writer = RawWriter(layout.root, name, run_id, cfg.scrape.part_records)
    state.start_run(run_id, "scrape", name)
    fetched_at = utcnow()
    ctx = ReadContext(
        state.cursors(name),
        force=force,
        recheck_all=recheck_all,
        known=state.known(name),
        row_ids=state.row_ids(name),
        frontier=state.frontier(name),
        data_dir=layout.root,
    )
    pending_ids: list[tuple[str, float | None]] = []
    pending_rows: list[tuple[str, str, str]] = []
    bar = tqdm(desc=f"scrape {name}", unit=" rec", disable=None if progress is None else not progress, leave=False)

    def commit(cursors: dict[str, Any], frontier: list[Any] | None = None) -> None:
        parts = writer.take_ready()
        state.commit(name, run_id, parts, cursors, pending_ids, frontier or [], pending_rows)
        pending_ids.clear()
        pending_rows.clear()
        if parts:
            crash_point("scrape.committed")
        report.parts += len(parts)
        report.records += sum(n for _, n in parts)

    try:
        for ev in source.read(ctx):
            if isinstance(ev, RawItem):
                writer.add(envelope(name, ev, ev.fetched_at or fetched_at, source.parser_version))
                if source.track_ids:
                    pending_ids.append((ev.source_id, ev.created))
                if ev.row_key is not None:
                    pending_rows.append((ev.source_id, *ev.row_key))
                bar.update()
            elif isinstance(ev, BadItem):
                writer.quarantine(name, ev)
                where = f"{ev.unit} {ev.line}" if ev.line is not None else "end of file"
                level = logging.WARNING if writer.bad <= MAX_LOGGED_BAD else logging.DEBUG
                log.log(level, "%s: %s: %s: %s (quarantined)", name, ev.origin, where, ev.error)
            elif isinstance(ev, Checkpoint):
                commit(ev.cursors, ev.frontier)
            elif isinstance(ev, Notice):
                if ev.level == "skip":
                    report.status = "skipped"
                (report.errors if ev.level == "error" else report.warnings).append(ev.message)
                level = {"error": logging.ERROR, "skip": logging.INFO}.get(ev.level, logging.WARNING)
                log.log(level, "%s: %s", name, ev.message)
        if writer.records > report.records or pending_ids or pending_rows:
            commit({})  # records after the last checkpoint: commit them, cursors unchanged
    except SourceError as e:
        report.errors.append(str(e))
        log.error("%s: %s", name, e)
        writer.discard()
    except BaseException as e:  # a bug, disk full, Ctrl-C: drop what is uncommitted, record the failure
        writer.discard()
        state.finish_run(run_id, "scrape", "failed", {"error": f"{type(e).__name__}: {e}"}, name)
        raise
    finally:
        bar.close()
        writer.close()
    report.bad = writer.bad
    if writer.bad > MAX_LOGGED_BAD:
        log.warning(
            "%s: %d more bad records quarantined in %s",
            name,
            writer.bad - MAX_LOGGED_BAD,
            writer.run_dir / "quarantine.jsonl",
        )
    report.stats = dict(Counter(source.stats))
    if report.errors:
        report.status = "partial" if report.parts else "failed"
    elif report.status != "skipped" and report.records == 0 and report.bad == 0:
        report.status = "unchanged"
    stats: dict[str, Any] = {
        "records": report.records,
        "bad": report.bad,
        "parts": report.parts,
        "errors": report.errors,
        "warnings": report.warnings,
        **report.stats,
    }
    state.finish_run(run_id, "scrape", report.status, stats, name)
    return report
