"""The ``clean`` stage: committed raw parts -> ``clean/<run_id>/part-NNNNN.parquet`` + ``stats.json``.

Per shard (one raw part), on every core: parse -> upstream-deleted / mod-post / link-post filters -> text
normalization -> pairs -> empty / length filters -> keys (pass 1). Global, on the key columns only: one record
per id (the latest observation wins), ``score_norm`` percentiles per cohort, exact-duplicate clusters across
sources. Per shard again: language identification for records still kept, the language filter, the split
(pass 2). Every record is written, dropped ones with their ``drop_reason``; the output appears atomically and
``clean/latest`` moves only after it is complete. Clean never re-reads an origin, only ``raw/``.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import shutil
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pyarrow as pa

from jokemine import atomic
from jokemine.cleaning import near_index
from jokemine.cleaning.clusters import (
    AssignTask,
    ClusterSummary,
    ComponentTask,
    LinkTask,
    ResolveTask,
    assign,
    components,
    links,
    resolve,
)
from jokemine.cleaning.dedup import NearDupParams
from jokemine.cleaning.dedup_report import SAMPLE_LARGEST, SAMPLE_RANDOM, SIZE_BINS, dedup_markdown, short
from jokemine.cleaning.id_merge import (
    DEC_SCHEMA,
    KEY_COLUMNS,
    KEY_SCHEMA,
    CohortTask,
    IdTask,
    LedgerTask,
    cohort_scores,
    merge_ids,
    scatter_ledger,
)
from jokemine.cleaning.langid import warm_up
from jokemine.cleaning.near_stages import (
    BucketTask,
    SignTask,
    VerifyTask,
    attach_a,
    attach_pre,
    buckets,
    mixed,
    sign,
    verify,
)
from jokemine.cleaning.nsfw import wordlist_pattern
from jokemine.cleaning.parse import ParseContext, parse_envelope
from jokemine.cleaning.pass2 import LangCache, apply_decisions, count_dropped, lang_cache_folder, pass2_steps
from jokemine.cleaning.shuffle import Work, part_of_strings
from jokemine.config import (
    AnySource,
    CleanConfig,
    Config,
    DedupConfig,
    SplitsConfig,
)
from jokemine.errors import NothingToDo
from jokemine.faults import crash_point
from jokemine.lock import data_dir_lock
from jokemine.pipeline import storage
from jokemine.pipeline.executor import DaskExecutor, LocalExecutor, describe, make_executor
from jokemine.pipeline.steps import Record, Stats, Step, run_steps
from jokemine.schema import RECORD_SCHEMA, DropReason
from jokemine.scrapers.raw_store import read_part
from jokemine.scrapers.registry import kind_of, kinds
from jokemine.splits.ledger import ledger_files
from jokemine.state import Layout, State, new_run_id, utcnow

log = logging.getLogger(__name__)
# Import every built-in source kind now, at module level, not lazily inside the first task that needs one: a library
# that keeps an import-time exception (requests_cache keeps its optional backends' ImportErrors, traceback and all)
# would keep the frames of that task alive, and with them its records (~300 MB per worker after the first parse task).
kinds()
R = TypeVar("R")
KEEP_CLEAN_RUNS = 2
PASS2_ROWS = 5000


def steps_for(source: AnySource, cfg: CleanConfig) -> list[Step]:
    """The pass-1 steps of a source: its kind's (:mod:`jokemine.scrapers.registry`)."""
    return kind_of(source).steps(source, cfg)


@dataclass(frozen=True)
class Pass1Task:
    """One raw part to parse, filter and normalize into ``p1/<index>.parquet`` of the work folder."""

    index: int
    raw_path: str
    rel_path: str
    source: AnySource
    clean: CleanConfig
    author_salt: str
    work: Work
    records: int
    cache: str | None = None

    @property
    def out_path(self) -> str:
        return p1_path(self.work, self.index)

    @property
    def cache_key(self) -> str:
        """Names this part's entry in the pass-1 cache: raw parts are immutable, so path and records say it all."""
        return hashlib.blake2b(f"{self.rel_path}\x00{self.records}".encode(), digest_size=12).hexdigest()


def p1_path(work: Work, index: int) -> str:
    """The pass-1 file of shard ``index``."""
    return work.path("p1", f"{index:05d}.parquet")


@dataclass
class ShardResult:
    index: int
    rows: int
    stats: Stats
    quarantine: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0


def _public(rec: Record) -> Record:
    for k in [k for k in rec if k.startswith("_")]:
        del rec[k]
    return rec


def run_pass1(task: Pass1Task) -> ShardResult:
    """Parse and filter one raw part into a pass-1 Parquet file; scatter its key columns by id (``ids``). With a
    ``cache`` folder (:func:`pass1_cache`), a part parsed before under the same settings is read from there, and a
    part parsed now is added to it."""
    crash_point("clean.pass1")
    t0 = time.perf_counter()
    cached = _from_cache(task)
    if cached is not None:  # the cache's file is the pass-1 file (same rows, same row groups): no re-encoding
        url, stats, quarantine = cached
        stats.add("cache", "pass1", "hit")
        try:
            storage.copy(url, task.out_path)
            table = storage.read_table(task.out_path, list(KEY_COLUMNS))
        except (OSError, pa.ArrowException) as e:
            log.warning("pass-1 cache entry of %s unreadable (%s): parsing it again", task.rel_path, e)
            cached = None
    if cached is None:
        table, stats, quarantine = _parse_part(task)
        if task.cache is not None:
            _to_cache(task, table, stats, quarantine)
        storage.write_table(task.out_path, table, row_group_size=PASS2_ROWS)  # pass 2 reads a chunk's row groups
    keys = table.select(KEY_COLUMNS).to_pandas()
    keys["shard"], keys["row"] = task.index, np.arange(len(keys), dtype=np.int64)
    task.work.scatter("ids", keys, part_of_strings(keys["id"].to_numpy(), task.work.partitions), f"{task.index:05d}",
                      KEY_SCHEMA)  # fmt: skip
    return ShardResult(task.index, table.num_rows, stats, quarantine, time.perf_counter() - t0)


@functools.cache
def rules_digest() -> str:
    """Hex BLAKE2b-96 of the source of the cleaning rules (``jokemine/cleaning/*.py``, their data files
    ``jokemine/cleaning/*.json`` such as the fitted boundary model, ``jokemine/schema.py``):
    caches and settings digests include it, so output cleaned by other rules is never reused, even without a
    version bump (a development checkout)."""
    root = Path(__file__).resolve().parent
    h = hashlib.blake2b(digest_size=12)
    for path in sorted([*root.glob("*.py"), *root.glob("*.json"), root.parent / "schema.py"]):
        h.update(path.name.encode() + b"\x00" + path.read_bytes() + b"\x00")
    return h.hexdigest()


def pass1_cache(layout: Layout, cfg: Config, salt: str) -> str:
    """The pass-1 cache folder for the current settings: ``clean/cache/p1/<digest>``, where the digest covers
    what pass 1 depends on (jokemine's version, cleaning rules (:func:`rules_digest`) and record schema,
    ``[clean]`` but its worker counts, the sources' settings and the author salt); parts parsed under other settings
    are never reused."""
    from jokemine import __version__

    blob = json.dumps(
        {
            "version": __version__,
            "rules": rules_digest(),
            "schema": RECORD_SCHEMA.to_string(),
            "clean": cfg.clean.model_dump(mode="json", exclude={"workers", "partitions", "partition_rows"}),
            "sources": [s.model_dump(mode="json", exclude={"enabled"}) for s in cfg.sources],
            "salt": hashlib.blake2b(salt.encode(), digest_size=8).hexdigest(),  # never the salt itself
        },
        sort_keys=True,
    )
    return str(layout.clean / "cache" / "p1" / hashlib.blake2b(blob.encode(), digest_size=12).hexdigest())


def _from_cache(task: Pass1Task) -> tuple[str, Stats, list[dict[str, Any]]] | None:
    """The cached pass-1 file of ``task``'s part (its url), stats and quarantine; None when there is no complete,
    readable entry."""
    if task.cache is None:
        return None
    meta_url = storage.join(task.cache, f"{task.cache_key}.json")
    if not storage.exists(meta_url):  # written last: the table is complete when it exists
        return None
    url = storage.join(task.cache, f"{task.cache_key}.parquet")
    try:
        meta = json.loads(storage.read_bytes(meta_url))
        rows = storage.num_rows(url)
    except (OSError, ValueError, pa.ArrowException) as e:  # a damaged entry is parsed again
        log.warning("pass-1 cache entry of %s unreadable (%s): parsing it again", task.rel_path, e)
        return None
    if meta.get("part") != task.rel_path or rows != meta.get("rows"):
        return None
    return url, Stats.from_list(meta["stats"]), meta["quarantine"]


def _to_cache(task: Pass1Task, table: pa.Table, stats: Stats, quarantine: list[dict[str, Any]]) -> None:
    assert task.cache is not None
    storage.write_table(storage.join(task.cache, f"{task.cache_key}.parquet"), table, row_group_size=PASS2_ROWS)
    meta = {"part": task.rel_path, "rows": table.num_rows, "stats": stats.to_list(), "quarantine": quarantine}
    storage.write_bytes(storage.join(task.cache, f"{task.cache_key}.json"), json.dumps(meta, default=str).encode())


def _parse_part(task: Pass1Task) -> tuple[pa.Table, Stats, list[dict[str, Any]]]:
    """Pass 1 proper: the part's records through its source's steps (one bad record is quarantined)."""
    ctx = ParseContext(task.source, task.author_salt)
    stats = Stats()
    quarantine: list[dict[str, Any]] = []
    name = task.source.name

    steps = steps_for(task.source, task.clean)
    rows: list[Record] = []
    page_stats: Counter[str] = Counter()
    for line, env in read_part(Path(task.raw_path)):
        origin = f"{task.rel_path}:{line}"
        if env.get("note") == "id_collision":  # kept under an id of its own by the scrape (README "Ids of table rows")
            stats.add("id_collisions", name)
        try:  # one bad record is quarantined, never the shard
            recs = parse_envelope(env, ctx, origin, page_stats)
            out = [_public(r) for r in run_steps(recs, steps, stats)]
        except Exception as e:
            # the raw record stays in raw/ (see origin); nothing from it (e.g. author names) is copied here
            quarantine.append({"origin": origin, "error": f"{type(e).__name__}: {e}"})
            stats.add("quarantined", name)
            continue
        stats.add("read", name, n=len(out))
        rows.extend(out)
    for k, v in page_stats.items():
        stats.add("parse", name, k, n=v)
    return pa.Table.from_pylist(rows, schema=RECORD_SCHEMA), stats, quarantine


@dataclass(frozen=True)
class Pass2Task:
    """Rows ``lo..hi`` (in row order) of the records of shard ``index`` that remain after the id merge: apply the
    global decisions (``dec``), identify languages, filter, assign splits, write ``out/part-<index>-<chunk>``."""

    index: int
    chunk: int
    work: Work
    lo: int
    hi: int
    clean: CleanConfig
    splits: SplitsConfig
    lang_cache: str | None = None  # the part's language-ID cache folder (:class:`LangCache`)

    @property
    def out_path(self) -> str:
        return self.work.path("out", f"part-{self.index:05d}-{self.chunk:03d}.parquet")


def decisions(work: Work, shard: int) -> pa.Table:
    """Every decision for shard ``shard`` (``dec``), in row order."""
    urls = storage.listdir(work.path("dec", f"{shard:05d}"), ".parquet")
    tables = [storage.read_table(u) for u in urls]
    table = pa.concat_tables(tables) if tables else DEC_SCHEMA.empty_table()
    return table.sort_by("row")


def run_pass2(task: Pass2Task) -> ShardResult:
    """Apply the global decisions to one chunk of a shard, identify languages, filter, assign splits and NSFW
    flags (:func:`jokemine.cleaning.pass2.pass2_steps`), write the part."""
    t0 = time.perf_counter()
    stats = Stats()
    dec = decisions(task.work, task.index).slice(task.lo, task.hi - task.lo)
    rows = dec.column("row").to_numpy()
    lo = int(rows[0]) if len(rows) else 0
    table = storage.read_rows(p1_path(task.work, task.index), lo, int(rows[-1]) + 1 if len(rows) else 0)
    table = apply_decisions(table.take(pa.array(rows - lo)), dec)
    stats.add("step", "decisions", "in", n=table.num_rows)
    dropped = table["drop_reason"].is_valid().to_numpy(zero_copy_only=False)
    count_dropped(table.filter(dropped), stats)
    records = table.filter(~dropped).to_pylist()
    cache = LangCache.load(task.lang_cache)
    out = pa.Table.from_pylist(
        list(run_steps(records, pass2_steps(task.clean, task.splits, cache), stats)), schema=RECORD_SCHEMA
    )
    cache.save()
    merged = pa.concat_tables([out, table.filter(dropped).cast(RECORD_SCHEMA)])
    order = np.argsort(np.concatenate([np.flatnonzero(~dropped), np.flatnonzero(dropped)]), kind="stable")
    storage.write_table(task.out_path, merged.take(pa.array(order)))
    return ShardResult(task.index, table.num_rows, stats, [], time.perf_counter() - t0)


def warm_workers() -> None:
    """Executor setup on every worker: the default language-ID model and the NSFW word lists, loaded once."""
    warm_up()
    for lang in ("en", "ru"):
        wordlist_pattern(lang)


@dataclass
class CleanReport:
    """Outcome of a clean run."""

    run_id: str
    path: Path
    stats: dict[str, Any]

    def lines(self) -> list[str]:
        """A short per-source summary for the terminal."""
        out = []
        for source, s in self.stats["per_source"].items():
            drops = ", ".join(f"{k} {v}" for k, v in sorted(s["dropped"].items(), key=lambda kv: -kv[1]))
            extra = "".join(
                f", {label} {s[key]}"
                for key, label in (("merged_same_id", "merged repeated ids"), ("quarantined", "quarantined"))
                if s.get(key)
            )
            dropped = f"; dropped: {drops}" if drops else ""
            out.append(f"{source}: read {s['read']}, kept {s['kept']}{extra}{dropped}")
        d = self.stats.get("dedup")
        if d:
            out.append(
                f"duplicates: {d['clusters']} clusters, removed {d['removed']['exact_duplicate']} exact + "
                f"{d['removed']['near_duplicate']} near-duplicates (report: {self.path / 'dedup.md'})"
            )
        t = self.stats["totals"]
        out.append(f"total: read {t['read']}, kept {t['kept']}, dropped {t['dropped']} -> {self.path}")
        return out


def clean_settings_digest(cfg: Config) -> str:
    """Digest of everything that shapes a clean run's output besides the raw parts: the ``[clean]``, ``[dedup]``
    and ``[splits]`` sections, the sources' settings, jokemine's version, cleaning rules and record schema. A
    refresh re-cleans when it or the set of committed raw parts differs from the latest clean run's
    (``stats.json``: ``settings``, ``raw_parts``)."""
    import hashlib

    from jokemine import __version__

    blob = json.dumps(
        {
            "version": __version__,
            "rules": rules_digest(),
            "schema": RECORD_SCHEMA.to_string(),
            "clean": cfg.clean.model_dump(mode="json", exclude={"workers", "partitions", "partition_rows"}),
            "dedup": cfg.dedup.model_dump(mode="json", exclude={"index"}),
            "splits": cfg.splits.model_dump(mode="json"),
            "sources": [s.model_dump(mode="json", exclude={"enabled"}) for s in cfg.sources],
        },
        sort_keys=True,
    )
    return hashlib.blake2b(blob.encode(), digest_size=12).hexdigest()


def partitions_for(cfg: Config, records: int, workers: int) -> int:
    """Hash partitions of the global stages: ``[clean] partitions``, or (0 = auto) one per
    ``[clean] partition_rows`` raw records, at least one per worker. (A rerun with other workers and automatic
    partitions starts afresh: the work folder is named after the partitions.)"""
    if cfg.clean.partitions:
        return cfg.clean.partitions
    return max(1, workers, -(-records // cfg.clean.partition_rows))


def work_digest(
    cfg: Config, parts: list[Any], salt: str, partitions: int, ledger: list[Path], index_generation: str = ""
) -> str:
    """Names the work folder of a clean run: the same settings, raw parts, salt, partitions, split-ledger files
    and near-duplicate index generation give the same folder, so a rerun after a crash finds its finished tasks
    there (and only then)."""
    blob = json.dumps(
        [
            clean_settings_digest(cfg),
            [[p.path, p.records] for p in parts],
            salt,
            partitions,
            [p.name for p in ledger],
            index_generation,
        ]
    )
    return hashlib.blake2b(blob.encode(), digest_size=10).hexdigest()


def build_executor(
    cfg: Config,
    *,
    kind: str | None = None,
    address: str | None = None,
    workers: int | None = None,
    progress: bool | None = None,
    warm: bool = True,
) -> LocalExecutor | DaskExecutor:
    """The executor of ``[executor]`` with command-line overrides (``--executor``, ``--scheduler``, ``--workers``);
    a ``--scheduler`` address implies ``dask``. Workers run :func:`warm_workers` once each when ``warm`` (clean's
    language ID and NSFW warm-ups; publish needs none)."""
    e = cfg.executor
    if workers is None:
        workers = e.workers or cfg.clean.workers
    kind = kind or ("dask" if address else e.kind)
    return make_executor(
        kind,
        workers=workers,
        address=address or e.address,
        memory_limit=e.memory_limit,
        progress=progress,
        setup=(warm_workers,) if warm else (),
        start_method=e.start_method,
    )


def clean(
    cfg: Config,
    data_dir: Path,
    *,
    workers: int | None = None,
    progress: bool | None = None,
    executor: LocalExecutor | DaskExecutor | None = None,
    echo: Callable[[str], None] | None = None,
    resplit: bool = False,
    full: bool = False,
) -> CleanReport:
    """Run the clean stage over every committed raw part of the configured sources.

    With near-duplicates on, a clean keeps a near-duplicate index (``[dedup] index``,
    :mod:`jokemine.cleaning.near_index`) and the next clean searches only around the nodes that are new, deleted or
    changed since (same clusters as a full search); ``full`` ignores the index, searches every pair and rebuilds it.

    Splits are sticky (:mod:`jokemine.splits.ledger`): ids keep the split they were first published in;
    ``resplit`` ignores the ledger and assigns every split afresh from the salted hash (publishing that run
    replaces the ledger; the changelog says so).

    ``executor`` runs the stages (default: :func:`build_executor` from ``[executor]``, with ``workers``); it is
    entered and closed here. ``echo`` gets a line naming the executor (and the Dask dashboard).
    Raises :class:`NothingToDo` when there is no raw data (nothing is written then), :class:`TaskFailed` when a
    task fails (finished tasks are kept in the work folder; a rerun continues from them).
    """
    layout = Layout(data_dir)
    if not layout.state_path.exists():
        raise NothingToDo(f"nothing to clean in {data_dir}: no raw data yet; run `jokemine scrape` first")
    t_start = time.perf_counter()
    started_at = utcnow()
    sources = {s.name: s for s in cfg.sources}
    with data_dir_lock(data_dir, "clean"), State(layout.state_path) as state:
        parts = [p for p in state.raw_parts() if p.source in sources]
        unknown = sorted({p.source for p in state.raw_parts()} - set(sources))
        salt = cfg.clean.author_salt or state.secret("author_salt")
        if not parts:
            raise NothingToDo(
                f"nothing to clean in {data_dir}: no raw data for the configured sources; run `jokemine scrape` first"
            )
        if unknown:
            log.warning("raw data of sources not in the config is ignored: %s", ", ".join(unknown))
        run_id = new_run_id()
        state.start_run(run_id, "clean")
        ex = executor or build_executor(cfg, workers=workers, progress=progress)
        try:
            with ex:
                if echo:
                    echo(describe(ex))
                ledger = [] if resplit else ledger_files(data_dir)
                report = _clean(
                    cfg, layout, parts, sources, salt, run_id, ex, started_at, t_start, ledger, resplit, full
                )
        except BaseException as e:
            state.finish_run(run_id, "clean", "failed", {"error": f"{type(e).__name__}: {e}"})
            raise
        state.finish_run(run_id, "clean", "ok", report.stats["totals"])
    return report


def _stage(ex: LocalExecutor | DaskExecutor, name: str, fn: Callable[[Any], R], tasks: list[Any], work: Work,
           weight: Callable[[Any], float] | None = None) -> list[R]:  # fmt: skip
    """One stage on the executor, with completion markers in the work folder; a crash point after it."""
    out = ex.map(fn, tasks, stage=name, completions=work.path("completions"), weight=weight)
    crash_point(f"clean.after.{name}")
    return out


def _drop(work: Work, *datasets: str) -> None:
    """Delete hand-off datasets no later stage reads (the stages that wrote and read them have their completion
    markers, so a rerun never needs them): the work folder's peak size is that of the largest stage, not the sum."""
    for name in datasets:
        storage.remove(work.path(name))


def _clean(
    cfg: Config,
    layout: Layout,
    parts: list[Any],
    sources: dict[str, Any],
    salt: str,
    run_id: str,
    ex: LocalExecutor | DaskExecutor,
    started_at: Any,
    t_start: float,
    ledger: list[Path],
    resplit: bool = False,
    full: bool = False,
) -> CleanReport:
    layout.clean.mkdir(parents=True, exist_ok=True)
    atomic.remove_stale_tmp(layout.clean)
    P = partitions_for(cfg, sum(p.records for p in parts), ex.workers)
    near = cfg.dedup.params() if cfg.dedup.near_duplicates else None
    cache = pass1_cache(layout, cfg, salt)
    index_root = near_index.index_root(str(layout.clean), cache, near) if near and cfg.dedup.index else None
    index = near_index.open_index(index_root, P) if index_root and not full else None
    if index is not None:
        P = index.partitions  # its datasets are partitioned so
    root = layout.clean / f".work-{work_digest(cfg, parts, salt, P, ledger, index.generation if index else '')}"
    for old in layout.clean.glob(".work-*"):  # a crashed run over other inputs: nothing in it can be reused
        if old != root:
            shutil.rmtree(old, ignore_errors=True)
    work = Work(str(root), P)
    S = len(parts)
    final = layout.clean / run_id
    stats = Stats()
    tasks1 = [
        Pass1Task(i, str(layout.root / p.path), p.path, sources[p.source], cfg.clean, salt, work, p.records, cache)
        for i, p in enumerate(parts)
    ]
    res1 = _stage(ex, "parse", run_pass1, tasks1, work, weight=lambda t: t.records)
    quarantine = [q for r in res1 for q in r.quarantine]
    for r in res1:
        stats.merge(r.stats)
    _stage(ex, "ledger", scatter_ledger, [LedgerTask(work, str(u), i) for i, u in enumerate(ledger)], work)
    order = {s.name: i for i, s in enumerate(cfg.sources)}
    live_sources = frozenset(s.name for s in cfg.sources if kind_of(s).live)
    for st in _stage(ex, "ids", merge_ids, [IdTask(work, p, S, order, live_sources) for p in range(P)], work):
        stats.merge(st)
    _stage(ex, "cohorts", cohort_scores, [CohortTask(work, q, S) for q in range(P)], work)
    near_stats = Stats()
    known = index.gen("known.parquet") if index else None
    two = int(near is not None and near.punchline_threshold > 0)
    signs = [
        SignTask(
            work, s, p1_path(work, s), near, known, storage.join(cache, "nodes", f"{tasks1[s].cache_key}-{two}.parquet")
        )
        for s in range(S)
    ]
    for st in _stage(ex, "sign", sign, signs, work):
        near_stats.merge(st)
    for st in _stage(ex, "links", links, [LinkTask(work, t) for t in range(P)], work):
        near_stats.merge(st)
    cluster_edges = ("edges-text", *_near_search(ex, work, near, index, index_root is not None, near_stats, S))
    _stage(ex, "components", components, [ComponentTask(work, cluster_edges, ("edges-group",), "labels")], work)
    _stage(ex, "assign", assign, [AssignTask(work, s, "labels") for s in range(S)], work)
    summary_cl = ClusterSummary()
    for cs in _stage(ex, "resolve", resolve, [ResolveTask(work, k, S) for k in range(P)], work):
        summary_cl.merge(cs)
    stats.merge(summary_cl.stats)
    tasks2 = []
    for s in range(S):
        rows = sum(storage.num_rows(u) for u in storage.listdir(work.path("dec", f"{s:05d}"), ".parquet"))
        # chunks of PASS2_ROWS rows: language ID dominates, small tasks keep every worker busy to the end
        for c, lo in enumerate(range(0, max(rows, 1), PASS2_ROWS)):
            lang = lang_cache_folder(cache, tasks1[s].cache_key, cfg.clean.langid_chars, cfg.clean.langid)
            tasks2.append(Pass2Task(s, c, work, lo, min(lo + PASS2_ROWS, rows), cfg.clean, cfg.splits, lang))
    res2 = _stage(ex, "pass2", run_pass2, tasks2, work, weight=lambda t: t.hi - t.lo)
    for r in res2:
        stats.merge(r.stats)
    dedup_doc = build_dedup_doc(summary_cl, near_stats, cfg.dedup, near, work, index is not None)
    timing = {name: log.seconds for name, log in ex.stages.items()}
    with atomic.staged_dir(final) as out:
        for t in tasks2:
            storage.copy_to_local(t.out_path, out / f"part-{t.index:05d}-{t.chunk:03d}.parquet")
        if quarantine:
            with open(out / "quarantine.jsonl", "w", encoding="utf-8") as fh:
                for q in quarantine:
                    fh.write(json.dumps(q, ensure_ascii=False, default=str) + "\n")
        timing["total_s"] = time.perf_counter() - t_start
        summary = summarize(stats, run_id, started_at, cfg, parts, timing, len(quarantine), sum(r.rows for r in res2))
        summary["dedup"] = dedup_doc["summary"]
        summary["splits"] = {
            "resplit": resplit,
            "ledger_files": len(ledger),
            "sticky": stats.get("splits", "sticky"),
            DropReason.SPLIT_CONFLICT.value: stats.get("splits", DropReason.SPLIT_CONFLICT.value),
        }
        summary["pass1_cache"] = {"parts": len(parts), "hits": stats.get("cache", "pass1", "hit")}
        summary["executor"] = describe(ex).removeprefix("executor: ")
        summary["partitions"] = P
        summary["stages"] = {k: {"tasks": v.tasks, "resumed": v.resumed, "seconds": round(v.seconds, 3),
                                 "started": round(v.started, 3)} for k, v in ex.stages.items()}  # fmt: skip
        for name, s in summary["per_source"].items():
            if s["quarantined"] > s["read"]:
                log.warning(
                    "%s: %d of %d raw records could not be parsed (quarantined in %s)",
                    name,
                    s["quarantined"],
                    s["quarantined"] + s["read"],
                    final / "quarantine.jsonl",
                )
        atomic.write_json(out / "stats.json", summary)
        atomic.write_json(out / "dedup.json", dedup_doc)
        atomic.write_text(out / "dedup.md", dedup_markdown(dedup_doc))
    crash_point("clean.written")
    atomic.point(layout.clean / "latest", run_id)
    if index_root is not None:
        near_index.commit_index(index_root, work, run_id, S, index)
        crash_point("clean.indexed")
    storage.remove(work.root)
    _prune(layout, cache, index_root)
    return CleanReport(run_id, final, summary)


def _near_search(
    ex: LocalExecutor | DaskExecutor,
    work: Work,
    near: NearDupParams | None,
    index: near_index.NearIndex | None,
    keep: bool,
    near_stats: Stats,
    shards: int,
) -> tuple[str, ...]:
    """The near-duplicate search's stages (full, or incremental on ``index``); returns the edge datasets it made
    for the components. ``keep``: the signatures and band keys stay for :func:`near_index.commit_index`."""
    if near is None:
        return ()
    if index is not None:
        for st in _stage(ex, "delta", near_index.delta, [near_index.DeltaTask(work, index, shards)], work):
            near_stats.merge(st)
        bt = [BucketTask(work, b, 2, near, index.root) for b in range(work.partitions)]
        vt = [VerifyTask(work, n, 2, near, index.root) for n in range(work.partitions)]
        for st in _stage(ex, "touch", near_index.touch, bt, work):
            near_stats.merge(st)
        _stage(ex, "presig-2", attach_pre, vt, work)
        for st in _stage(ex, "buckets-2", near_index.delta_buckets, bt, work):
            near_stats.merge(st)
        _drop(work, "mixed", "msig")
        _stage(ex, "attach-2", attach_a, vt, work)
        for st in _stage(ex, "verify-2", verify, vt, work):
            near_stats.merge(st)
        _drop(work, "pairs-2", "apairs-2", "adict-2")
        return ("edges-old", "edges-2")
    edges: tuple[str, ...] = ()
    for rnd in (1, 2):
        bt = [BucketTask(work, b, rnd, near) for b in range(work.partitions)]
        vt = [VerifyTask(work, n, rnd, near) for n in range(work.partitions)]
        if rnd == 2:
            for st in _stage(ex, "mixed-2", mixed, bt, work):
                near_stats.merge(st)
            _stage(ex, "presig-2", attach_pre, vt, work)
        for st in _stage(ex, f"buckets-{rnd}", buckets, bt, work):
            near_stats.merge(st)
        if rnd == 1:
            _drop(work, *(() if keep else ("bands",)))
        else:
            _drop(work, "mbuckets", "mixed", "msig", *(() if keep else ("presig",)))
        _stage(ex, f"attach-{rnd}", attach_a, vt, work)
        for st in _stage(ex, f"verify-{rnd}", verify, vt, work):
            near_stats.merge(st)
        _drop(work, f"pairs-{rnd}", f"apairs-{rnd}", f"adict-{rnd}", *(("nodes",) if rnd == 2 and not keep else ()))
        edges += (f"edges-{rnd}",)
        if rnd == 1:
            _stage(ex, "components-1", components, [ComponentTask(work, ("edges-text", *edges), (), "labels-1")], work)
    return edges


def build_dedup_doc(
    cl: ClusterSummary, near_stats: Stats, cfg: DedupConfig, params: Any, work: Work, incremental: bool = False
) -> dict[str, Any]:
    """The dedup report (:mod:`jokemine.cleaning.dedup_report`) from the stages' counts and sample clusters; the
    texts of the sampled members are read from the pass-1 files. ``incremental``: the search used the index
    (``texts`` then counts the new texts only)."""
    removed = {
        r.value: sum(n for (_, why), n in cl.removed.items() if why == r)
        for r in (DropReason.EXACT_DUPLICATE, DropReason.NEAR_DUPLICATE)
    }
    summary = {
        "records": cl.records,
        "clusters": cl.multi,
        "clusters_with_near_duplicates": cl.near_clusters,
        "cross_source_clusters": sum(cl.cross.values()),
        "largest_cluster": cl.largest,
        "removed": removed,
        "kept": cl.kept,
        "size_histogram": {name: cl.histogram.get(name, 0) for name in bin_names()},
    }
    per_source: dict[str, dict[str, int]] = {}
    for (src, why), n in sorted(cl.removed.items()):
        per_source.setdefault(src, {})[why] = n
    near: dict[str, Any] = {"enabled": cfg.near_duplicates}
    if params is not None:
        bands, rows = params.banding()
        near |= {
            "shingle": f"{cfg.shingle} {cfg.ngram}-grams",
            "threshold": cfg.threshold,
            "punchline_threshold": cfg.punchline_threshold,
            "bands": bands,
            "rows": rows,
            "texts": near_stats.get("near", "nodes"),
            "rows_hashed": near_stats.get("near", "rows_hashed"),
            "candidate_pairs": near_stats.get("near", "candidate_pairs"),
            "verified_pairs": near_stats.get("near", "checked_pairs"),
            "accepted_pairs": near_stats.get("near", "accepted_pairs"),
            "rejected_text_jaccard": near_stats.get("near", "rejected_text"),
            "rejected_punchline": near_stats.get("near", "rejected_punchline"),
            "search": "incremental" if incremental else "full",
        }
        if incremental:
            near["index"] = {
                k: near_stats.get("near", "index", k)
                for k in ("new_nodes", "gone_nodes", "affected_clusters", "affected_nodes")
            }
    cross = sorted(cl.cross.items(), key=lambda kv: (-kv[1], kv[0]))[:20]
    return {
        "summary": summary,
        "removed_per_source": per_source,
        "cross_source": dict(cross),
        "near": near,
        "sample": sample_clusters(cl.sample, work),
    }


def bin_names() -> list[str]:
    """The size histogram's bin names, in order."""
    return [f"{lo}+" if hi is None else (str(lo) if lo == hi else f"{lo}-{hi}") for lo, hi in SIZE_BINS]


def sample_clusters(candidates: list[dict[str, Any]], work: Work) -> list[dict[str, Any]]:
    """The report's sample: the :data:`SAMPLE_LARGEST` largest clusters (ties: smaller survivor id), then
    :data:`SAMPLE_RANDOM` more by a seeded hash of their survivor (:func:`jokemine.cleaning.clusters.sample_rank`),
    with their members' texts (cut to :data:`TEXT_CHARS`)."""
    by_size = sorted(candidates, key=lambda c: (-c["size"], c["survivor"]))[:SAMPLE_LARGEST]
    chosen = {c["survivor"] for c in by_size}
    rest = sorted((c for c in candidates if c["survivor"] not in chosen), key=lambda c: c["rank"])[:SAMPLE_RANDOM]
    picked = by_size + sorted(rest, key=lambda c: c["survivor"])
    wanted: dict[int, set[int]] = {}
    for c in picked:
        for m in c["members"]:
            wanted.setdefault(m["shard"], set()).add(m["row"])
    texts: dict[tuple[int, int], str] = {}
    for shard, rows in wanted.items():
        idx = sorted(rows)
        col = storage.read_table(p1_path(work, shard), ["text"]).take(pa.array(idx, pa.int64())).column("text")
        texts.update({(shard, r): t for r, t in zip(idx, col.to_pylist(), strict=True)})
    out = []
    for c in picked:
        members = [
            {k: None if isinstance(v, float) and v != v else v for k, v in m.items() if k not in ("shard", "row")}
            | {"text": short(texts[(m["shard"], m["row"])])}
            for m in c["members"]
        ]  # NaN (a kept member's missing drop_reason) as null: dedup.json stays valid JSON
        out.append({k: v for k, v in c.items() if k not in ("rank", "members")} | {"members": members})
    return out


def summarize(
    stats: Stats,
    run_id: str,
    started_at: Any,
    cfg: Config,
    parts: list[Any],
    timing: dict[str, float],
    quarantined: int,
    rows: int,
) -> dict[str, Any]:
    """The ``stats.json`` document (datatrove-style: counts per step, source and drop reason)."""
    nested = stats.nested()
    per_source: dict[str, Any] = {}
    for s in cfg.sources:
        name = s.name
        read = stats.get("read", name)
        if not read and not stats.get("quarantined", name):
            continue
        dropped = dict(sorted(nested.get("dropped", {}).get(name, {}).items()))
        per_source[name] = {
            "read": read,
            "quarantined": stats.get("quarantined", name),
            "merged_same_id": stats.get("merged_same_id", name),
            "id_collisions": stats.get("id_collisions", name),
            "kept": stats.get("kept", name, "total"),
            "dropped": dropped,
            "languages": nested.get("kept_lang", {}).get(name, {}),
            "kinds": nested.get("kept_kind", {}).get(name, {}),
            "splits": nested.get("kept_split", {}).get(name, {}),
            "dropped_languages": nested.get("dropped_language", {}).get(name, {}),
            "short_undetermined": nested.get("lang_undetermined_short", {}).get(name, {}),
            "parse": nested.get("parse", {}).get(name, {}),
            "pii": nested.get("pii", {}).get(name, {}),
            "nsfw": nested.get("kept_nsfw", {}).get(name, {}),
        }
    reasons: dict[str, int] = {}
    for s in per_source.values():
        for k, v in s["dropped"].items():
            reasons[k] = reasons.get(k, 0) + v
    totals = {
        "read": sum(s["read"] for s in per_source.values()),
        "quarantined": quarantined,
        "merged_same_id": sum(s["merged_same_id"] for s in per_source.values()),
        "id_collisions": sum(s["id_collisions"] for s in per_source.values()),
        "rows": rows,
        "kept": sum(s["kept"] for s in per_source.values()),
        "dropped": sum(reasons.values()),
    }
    return {
        "run_id": run_id,
        "started_at": started_at.isoformat(),
        "finished_at": utcnow().isoformat(),
        "config": cfg.config_path.name if cfg.config_path else None,
        "raw_parts": [p.path for p in parts],
        "settings": clean_settings_digest(cfg),
        "totals": totals,
        "drop_reasons": dict(sorted(reasons.items(), key=lambda kv: -kv[1])),
        "per_source": per_source,
        "steps": nested.get("step", {}),
        "timing_s": {k: round(v, 3) for k, v in timing.items()},
    }


def _prune(layout: Layout, cache: str, index_root: str | None) -> None:
    """Keep the newest clean runs (the one ``latest`` points to always), only the current pass-1 cache and only the
    current near-duplicate index."""
    for folder, keep in (("p1", cache), ("near", index_root)):
        for old in (layout.clean / "cache" / folder).glob("*"):
            if str(old) != keep:
                shutil.rmtree(old, ignore_errors=True)
    latest = layout.clean_latest()
    runs = sorted(
        p
        for p in layout.clean.iterdir()
        if p.is_dir() and not p.is_symlink() and not p.name.startswith(".") and p.name != "cache"
    )
    for p in runs[:-KEEP_CLEAN_RUNS]:
        if latest is None or p.resolve() != latest.resolve():
            shutil.rmtree(p, ignore_errors=True)
