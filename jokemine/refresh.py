"""``jokemine refresh``: the nightly job. Scrape every enabled source incrementally, clean, publish a new release only
when rows changed, prune old releases; one summary for a cron e-mail and a JSON-lines log per run.

* **Incremental.** Sources resume from their cursors in ``state.sqlite``. Clean runs only when the committed raw
  parts or the clean settings differ from the latest clean run's (:func:`clean_needed`); publish only when the
  latest release was not built from the latest clean run, or a Hub push is pending; a release whose data equals
  the latest one is not written (publish's data hash). So a refresh with nothing new costs the scrape only.
* **One at a time.** The data dir lock (:mod:`jokemine.lock`) is held for the whole refresh; a second refresh (or
  any stage) exits at once naming the holder's pid and start time. The kernel drops the lock of a dead process.
* **Crash safety.** Every stage writes into temporary folders and commits by rename or SQLite transaction
  (:mod:`jokemine.atomic`), so a refresh killed anywhere leaves the last release serving, and the next refresh
  redoes the unfinished work: uncommitted raw files are removed and re-read, clean and publish run again.
* **Failure policy.** A source that fails (site down, 5xx beyond retries, bad credentials) is recorded and the
  others go on; the release marks it stale (since its last successful scrape). Exit codes: :data:`EXIT_CODES`.
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jokemine import atomic
from jokemine.config import Config
from jokemine.errors import JokemineError
from jokemine.faults import crash_point
from jokemine.lock import data_dir_lock
from jokemine.state import Layout, State, new_run_id, utcnow
from jokemine.status import release_pushed

log = logging.getLogger(__name__)

EXIT_CODES = {
    "no_change": 0,
    "published": 10,
    "published_stale": 11,
    "no_change_stale": 12,
    "failed": 1,
}
"""Exit code of ``jokemine refresh`` per outcome: ``no_change`` (nothing new; the latest release is current),
``published`` (a new release, every source fresh), ``published_stale`` (a new release; some sources could not be
updated and are marked stale), ``no_change_stale`` (nothing new, and some sources failed), ``failed`` (clean or
publish failed, or no source has any data; the last release keeps serving). A second refresh while one runs exits
with 75 (``EX_TEMPFAIL``); a bad config, or a data dir it cannot write, with 2."""

FRESH = ("ok", "unchanged")


@dataclass
class SourceOutcome:
    """One source in one refresh: scrape ``status`` (``ok``, ``unchanged``, ``partial``, ``failed``, ``skipped``),
    raw ``records`` stored, HTTP ``requests``, ``seconds``, ``errors``; ``stale_since`` (last successful scrape, or
    None = never) when the source could not be updated; rows ``added``/``updated``/``deleted``/``removed`` in the
    published ``jokes`` config (None when nothing was published)."""

    name: str
    status: str
    records: int = 0
    requests: int = 0
    seconds: float = 0.0
    errors: list[str] = field(default_factory=list)
    stale: bool = False
    stale_since: str | None = None
    added: int | None = None
    updated: int | None = None
    deleted: int | None = None
    removed: int | None = None


@dataclass
class RefreshReport:
    """What a refresh did: ``outcome`` (a key of :data:`EXIT_CODES`), ``version`` (the release ``latest`` serves),
    per-source outcomes, ``clean`` (``ran``/``skipped``/``failed``), ``publish`` (``published``/``unchanged``/
    ``skipped``/``failed``), releases ``pruned``, ``error``, wall ``seconds`` and the run ``log`` path."""

    run_id: str
    outcome: str = "no_change"
    version: str | None = None
    sources: list[SourceOutcome] = field(default_factory=list)
    clean: str = "skipped"
    clean_kept: int | None = None
    publish: str = "skipped"
    pruned: list[str] = field(default_factory=list)
    error: str | None = None
    seconds: float = 0.0
    log: Path | None = None
    changes: dict[str, int] = field(default_factory=dict)

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.outcome]

    def lines(self) -> list[str]:
        """A one-screen summary (for the terminal and cron mail)."""
        head = {
            "no_change": "no change",
            "published": f"published {self.version}",
            "published_stale": f"published {self.version} WITH STALE SOURCES",
            "no_change_stale": "no change; SOME SOURCES FAILED",
            "failed": "FAILED",
        }[self.outcome]
        out = [f"jokemine refresh {self.run_id}: {head} ({self.seconds:.1f} s)"]
        out.append(f"  {'source':<20} {'status':<10} {'raw':>7} {'new':>7} {'updated':>8} {'deleted':>8} "
                   f"{'requests':>9} {'time':>7}")  # fmt: skip
        for s in self.sources:
            n = ["-" if v is None else f"{v:,}" for v in (s.added, s.updated, s.deleted)]
            out.append(
                f"  {s.name:<20} {s.status:<10} {s.records:>7,} {n[0]:>7} {n[1]:>8} {n[2]:>8} {s.requests:>9,} "
                f"{s.seconds:>6.1f}s" + (f"  stale since {s.stale_since or 'never'}" if s.stale else "")
            )
            out.extend(f"    error: {e}" for e in s.errors[:3])
        clean = self.clean + (f" ({self.clean_kept:,} kept)" if self.clean_kept is not None else "")
        changes = ", ".join(f"{k} {v:,}" for k, v in self.changes.items())
        out.append(f"  clean: {clean}; publish: {self.publish}" + (f" ({changes})" if changes else ""))
        if self.version:
            out.append(f"  serving: {self.version}")
        if self.pruned:
            out.append(f"  removed old releases: {', '.join(self.pruned)}")
        if self.error:
            out.append(f"  error: {self.error}")
        if self.log:
            out.append(f"  log: {self.log}")
        return out


class RunLog:
    """A JSON-lines log of one run (``logs/<stage>-<run_id>.jsonl``): :meth:`event` records, plus every log record
    of the ``jokemine`` logger at INFO and above while it is open. Each line has ``ts`` (UTC ISO 8601), ``run_id``
    and ``event`` (or ``level``/``logger``/``message``). Appended and flushed line by line, so a killed run's log is
    complete up to the kill."""

    def __init__(self, path: Path, run_id: str) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.run_id = run_id
        self._fh = open(path, "a", encoding="utf-8")  # noqa: SIM115 - closed in close()
        self._handler = _JsonHandler(self)
        self._handler.setLevel(logging.INFO)
        logging.getLogger("jokemine").addHandler(self._handler)

    def event(self, event: str, **fields: Any) -> None:
        self._write({"event": event, **fields})

    def _write(self, rec: dict[str, Any]) -> None:
        line = {"ts": utcnow().isoformat(timespec="milliseconds"), "run_id": self.run_id, **rec}
        self._fh.write(json.dumps(line, ensure_ascii=False, default=str) + "\n")
        self._fh.flush()

    def close(self) -> None:
        logging.getLogger("jokemine").removeHandler(self._handler)
        self._fh.close()


class _JsonHandler(logging.Handler):
    def __init__(self, runlog: RunLog) -> None:
        super().__init__()
        self.runlog = runlog

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.runlog._write({"level": record.levelname, "logger": record.name, "message": record.getMessage()})
        except Exception:  # a log line must never break the run
            self.handleError(record)


def clean_needed(cfg: Config, layout: Layout, state: State) -> str | None:
    """Why the clean stage must run (None: the latest clean run already reflects every committed raw part of the
    configured sources with the current settings)."""
    from jokemine.cleaning.stage import clean_settings_digest

    latest = layout.clean_latest()
    if latest is None or not (latest / "stats.json").exists():
        return "no clean run yet"
    stats = json.loads((latest / "stats.json").read_text(encoding="utf-8"))
    names = {s.name for s in cfg.sources}
    parts = sorted(p.path for p in state.raw_parts() if p.source in names)
    if sorted(stats.get("raw_parts", [])) != parts:
        return "new raw data"
    if stats.get("settings") != clean_settings_digest(cfg):
        return "clean settings changed"
    return None


def publish_needed(cfg: Config, layout: Layout, state: State) -> str | None:
    """Why the publish stage must run (None: ``releases/latest`` was built from ``clean/latest`` and, with a Hub
    repo configured, the last push to that repo succeeded and was of that release)."""
    clean = layout.clean_latest()
    release = layout.release_latest()
    if clean is None:
        return None
    if release is None:
        return "no release yet"
    try:
        manifest = json.loads((release / "MANIFEST.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return "latest release unreadable"
    if manifest.get("clean_run") != clean.name:
        return "new clean run"
    if cfg.publish.repo_id and not release_pushed(
        state.stage_runs("push"), cfg.publish.repo_id, manifest.get("version")
    ):
        return "Hub push pending"  # never pushed, failed, or only older releases were (this one: --no-push)
    return None


def last_success(state: State, source: str) -> str | None:
    """When ``source`` last finished a scrape with status ok/unchanged (ISO time), or None."""
    row = state.db.execute(
        "SELECT MAX(finished_at) FROM runs WHERE stage = 'scrape' AND source = ? AND status IN ('ok', 'unchanged')",
        (source,),
    ).fetchone()
    return row[0] if row and row[0] else None


def prune_releases(layout: Layout, keep: int) -> list[str]:
    """Remove all but the ``keep`` newest release folders (by manifest ``created_at``), never the one ``latest``
    points to, and leftover temporary folders. Returns the removed versions."""
    if not layout.releases.is_dir():
        return []
    atomic.remove_stale_tmp(layout.releases)
    latest = layout.release_latest()
    found = []
    for d in layout.releases.iterdir():
        if d.is_dir() and not d.is_symlink() and not d.name.startswith("."):
            try:
                created = json.loads((d / "MANIFEST.json").read_text(encoding="utf-8")).get("created_at", "")
            except (OSError, ValueError):
                created = ""
            found.append((created, d.name, d))
    found.sort(reverse=True)
    removed = []
    for _, name, d in found[keep:]:
        if latest is not None and d.resolve() == latest.resolve():
            continue
        shutil.rmtree(d, ignore_errors=True)
        removed.append(name)
    return sorted(removed)


def prune_logs(logs: Path, keep: int) -> None:
    """Keep the ``keep`` newest run logs."""
    files = sorted(logs.glob("*.jsonl")) if logs.is_dir() else []
    for f in files[:-keep]:
        f.unlink(missing_ok=True)


def refresh(cfg: Config, data_dir: Path, *, push: bool = True) -> RefreshReport:
    """Run one refresh of ``data_dir`` (see the module docstring). Never raises for a source failure; raises
    :class:`jokemine.lock.Busy` when another jokemine command holds the data dir (nothing is done then) and
    :class:`jokemine.errors.ConfigError`/``NothingToDo`` for a config with no enabled source."""
    from jokemine.errors import NothingToDo

    t0 = time.perf_counter()
    layout = Layout(data_dir)
    run_id = new_run_id()
    report = RefreshReport(run_id)
    sources = cfg.enabled_sources()
    if not sources:
        raise NothingToDo(f"nothing to refresh: no enabled source in {cfg.config_path or 'the built-in defaults'}")
    with data_dir_lock(data_dir, "refresh"):
        runlog = RunLog(layout.root / "logs" / f"refresh-{run_id}.jsonl", run_id)
        report.log = runlog.path
        runlog.event("start", sources=[s.name for s in sources], config=str(cfg.config_path or ""))
        with State(layout.state_path) as state:
            state.start_run(run_id, "refresh")
        try:
            _run(cfg, data_dir, layout, report, runlog, push)
        except BaseException as e:
            report.outcome = "failed"
            report.error = f"{type(e).__name__}: {e}"
            runlog.event("failed", error=report.error)
            if not isinstance(e, Exception):
                raise
            if not isinstance(e, JokemineError):
                log.exception("refresh failed")
        finally:
            report.seconds = time.perf_counter() - t0
            with State(layout.state_path) as state:
                state.finish_run(run_id, "refresh", report.outcome, _run_stats(report))
            runlog.event("finish", outcome=report.outcome, exit_code=report.exit_code, seconds=report.seconds)
            runlog.close()
            prune_logs(layout.root / "logs", cfg.refresh.keep_logs)
    return report


def _run(cfg: Config, data_dir: Path, layout: Layout, report: RefreshReport, runlog: RunLog, push: bool) -> None:
    from jokemine.cleaning.stage import clean
    from jokemine.errors import NothingToDo
    from jokemine.publish.release import publish
    from jokemine.scrapers.run import scrape

    for src in cfg.enabled_sources():
        t = time.perf_counter()
        try:
            r = scrape(cfg, data_dir, [src.name], progress=False)[0]
            out = SourceOutcome(src.name, r.status, r.records, int(r.stats.get("requests", 0)), errors=list(r.errors))
        except JokemineError as e:
            out = SourceOutcome(src.name, "failed", errors=[str(e)])
        except Exception as e:  # a bug in one source must not stop the others
            log.exception("%s: scrape crashed", src.name)
            out = SourceOutcome(src.name, "failed", errors=[f"{type(e).__name__}: {e}"])
        out.seconds = time.perf_counter() - t
        report.sources.append(out)
        runlog.event("scrape", source=src.name, status=out.status, records=out.records, requests=out.requests,
                     seconds=round(out.seconds, 3), errors=out.errors)  # fmt: skip
    crash_point("refresh.scraped")
    with State(layout.state_path) as state:
        has_raw = {p.source for p in state.raw_parts()}
        for s in report.sources:
            if s.status not in FRESH and (s.status != "skipped" or s.name in has_raw):
                s.stale = True
                s.stale_since = last_success(state, s.name)
        why_clean = clean_needed(cfg, layout, state)
    if all(s.status not in FRESH for s in report.sources) and not has_raw:
        raise JokemineError("every source failed and there is no data yet: " + "; ".join(
            f"{s.name}: {s.errors[0] if s.errors else s.status}" for s in report.sources))  # fmt: skip
    if why_clean:
        runlog.event("clean", reason=why_clean)
        try:
            c = clean(cfg, data_dir, progress=False)
        except NothingToDo as e:
            raise JokemineError(f"clean: {e}") from None
        report.clean = "ran"
        report.clean_kept = int(c.stats["totals"]["kept"])
        runlog.event("cleaned", run=c.run_id, kept=report.clean_kept)
    crash_point("refresh.cleaned")
    with State(layout.state_path) as state:
        why_publish = publish_needed(cfg, layout, state)
    stale = {s.name: {"since": s.stale_since, "error": s.errors[0] if s.errors else s.status} for s in report.sources
             if s.stale}  # fmt: skip
    if why_publish:
        runlog.event("publish", reason=why_publish)
        p = publish(cfg, data_dir, push=push, stale=stale, only_if_changed=True)
        report.publish = p.status
        runlog.event("published", version=p.version, status=p.status)
        if p.status == "published":
            _attach_changes(report, p.path)
    latest = layout.release_latest()
    report.version = latest.name if latest else None
    report.pruned = prune_releases(layout, cfg.refresh.keep_releases)
    if report.pruned:
        runlog.event("pruned", releases=report.pruned)
    new = report.publish == "published"
    any_stale = any(s.stale for s in report.sources)
    report.outcome = {
        (True, False): "published",
        (True, True): "published_stale",
        (False, False): "no_change",
        (False, True): "no_change_stale",
    }[(new, any_stale)]


def _attach_changes(report: RefreshReport, release: Path) -> None:
    try:
        entry = json.loads((release / "CHANGELOG.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return
    jokes = entry.get("configs", {}).get("jokes", {})
    report.changes = {k: int(jokes.get(k, 0)) for k in ("added", "removed", "updated", "moved")}
    by_source = jokes.get("by_source", {})
    for s in report.sources:
        d = by_source.get(s.name, {})
        s.added, s.updated, s.deleted, s.removed = (
            int(d.get(k, 0)) for k in ("added", "updated", "deleted", "removed")
        )


def _run_stats(report: RefreshReport) -> dict[str, Any]:
    return {
        "outcome": report.outcome,
        "version": report.version,
        "clean": report.clean,
        "publish": report.publish,
        "changes": report.changes,
        "stale": [s.name for s in report.sources if s.stale],
        "sources": {s.name: s.status for s in report.sources},
        "seconds": round(report.seconds, 3),
        "error": report.error,
    }


from jokemine.api import callable_module  # noqa: E402  (jokemine.refresh(config) is the API function too)

callable_module(__name__, "refresh")
