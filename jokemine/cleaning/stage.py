"""The ``clean`` stage: committed raw parts -> ``clean/<run_id>/part-NNNNN.parquet`` + ``stats.json``.

Per shard (one raw part), on every core: parse -> upstream-deleted / mod-post / link-post filters -> text
normalization -> pairs -> empty / length filters -> keys (pass 1). Global, on the key columns only: one record
per id (the latest observation wins), ``score_norm`` percentiles per cohort, exact-duplicate clusters across
sources. Per shard again: language identification for records still kept, the language filter, the split
(pass 2). Every record is written, dropped ones with their ``drop_reason``; the output appears atomically and
``clean/latest`` moves only after it is complete. Clean never re-reads an origin, only ``raw/``.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import gc
import json
import logging
import shutil
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from jokemine import atomic
from jokemine.cleaning import filters as F
from jokemine.cleaning.dedup import TextLoader, deduplicate
from jokemine.cleaning.dedup_report import dedup_markdown, dedup_report
from jokemine.cleaning.langid import detect_batch, warm_up
from jokemine.cleaning.nsfw import is_nsfw, wordlist_pattern
from jokemine.cleaning.parse import ParseContext, parse_envelope
from jokemine.cleaning.scores import cohort_percentiles
from jokemine.config import (
    AnySource,
    CleanConfig,
    Config,
    DedupConfig,
    RedditApiSource,
    RedditDumpSource,
    SplitsConfig,
)
from jokemine.errors import NothingToDo
from jokemine.faults import crash_point
from jokemine.lock import data_dir_lock
from jokemine.pipeline.executor import LocalExecutor
from jokemine.pipeline.steps import Record, Stats, Step, filter_step, map_step, run_steps
from jokemine.schema import RECORD_SCHEMA
from jokemine.scrapers.raw_store import read_part
from jokemine.splits.assign import split_groups, split_of
from jokemine.state import Layout, State, new_run_id, utcnow

log = logging.getLogger(__name__)
KEY_COLUMNS = [
    "truncated",
    "group_key",
    "lang",
    "id",
    "source",
    "score_retrieved_at",
    "fetched_at",
    "drop_reason",
    "text_key",
    "score",
    "score_kind",
    "created_at",
]
KEEP_CLEAN_RUNS = 2
PASS2_ROWS = 5000


def steps_for(source: AnySource, cfg: CleanConfig) -> list[Step]:
    """The pass-1 steps for one source kind."""
    tail: list[Step] = [
        map_step("build_pairs", F.build_pairs),
        F.scrub_pii_step,
        filter_step("empty", F.empty),
        filter_step("length", F.length_bounds(cfg)),
        map_step("keys", F.add_keys),
    ]
    if isinstance(source, RedditDumpSource | RedditApiSource):
        return [
            filter_step("upstream_deleted", F.upstream_deleted),
            filter_step("mod_post", F.mod_post),
            filter_step("link_post", F.link_post),
            map_step("normalize", F.normalize_reddit(cfg.strip_edits)),
            *tail,
        ]
    return [
        filter_step("upstream_deleted", F.upstream_deleted),
        map_step("normalize", F.normalize_table),
        filter_step("incomplete", F.incomplete),
        *tail,
    ]


@dataclass(frozen=True)
class Pass1Task:
    """One raw part to parse, filter and normalize."""

    index: int
    raw_path: str
    rel_path: str
    source: AnySource
    clean: CleanConfig
    author_salt: str
    out_path: str
    records: int


@dataclass
class ShardResult:
    index: int
    rows: int
    stats: Stats
    quarantine: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0


def _nullable(values: pd.Series) -> list[Any]:
    """A column as a list with pandas' missing markers (NaN, None, pd.NA) as None."""
    return [None if v is None or v is pd.NA or (isinstance(v, float) and v != v) else v for v in values]


def _public(rec: Record) -> Record:
    for k in [k for k in rec if k.startswith("_")]:
        del rec[k]
    return rec


def run_pass1(task: Pass1Task) -> ShardResult:
    """Parse and filter one raw part into a pass-1 Parquet file."""
    crash_point("clean.pass1")
    t0 = time.perf_counter()
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
    pq.write_table(pa.Table.from_pylist(rows, schema=RECORD_SCHEMA), task.out_path)
    return ShardResult(task.index, len(rows), stats, quarantine, time.perf_counter() - t0)


def language_decision(cols: dict[str, list[Any]], i: int, keep: set[str], min_chars: int, stats: Stats) -> str | None:
    """The language filter for row ``i``: ``"language"`` when its language is not kept.

    langdetect is unreliable on short texts (on r/Jokes most sub-100-character posts it labels ``af``, ``nl``,
    ``so``, ``no``... are English; see README). So a text shorter than ``min_chars`` whose detected language is
    not kept is kept with ``lang = "und"`` (undetermined) instead of being dropped.
    """
    lang = cols["lang"][i]
    if not keep or lang in keep:
        return None
    if len(cols["text"][i]) < min_chars:
        stats.add("lang_undetermined_short", cols["source"][i], lang)
        cols["lang"][i] = "und"
        return None
    stats.add("dropped_language", cols["source"][i], lang)
    return "language"


@dataclass(frozen=True)
class Pass2Task:
    """Global decisions for one pass-1 shard, then language ID and splits."""

    index: int
    in_path: str
    out_path: str
    rows: list[int]
    drop_reason: list[str | None]
    score_norm: list[float | None]
    dup_cluster: list[str | None]
    dup_cluster_size: list[int | None]
    also_in: list[list[str] | None]
    split_key: list[str | None]
    lang_hint: list[str | None]
    created_fill: list[Any]
    clean: CleanConfig
    splits: SplitsConfig


def run_pass2(task: Pass2Task) -> ShardResult:
    """Apply the global decisions to one shard, identify languages, assign splits, write the final shard."""
    t0 = time.perf_counter()
    stats = Stats()
    table = pq.read_table(task.in_path).take(pa.array(task.rows, type=pa.int64()))
    cols = table.to_pydict()
    cols["drop_reason"] = list(task.drop_reason)
    cols["score_norm"] = list(task.score_norm)
    cols["dup_cluster"] = list(task.dup_cluster)
    cols["dup_cluster_size"] = list(task.dup_cluster_size)
    cols["also_in"] = list(task.also_in)
    cols["split_key"] = list(task.split_key)
    for i, hint in enumerate(task.lang_hint):
        if hint is not None and cols["lang"][i] is None:
            cols["lang"][i] = hint
    for i, day in enumerate(task.created_fill):
        if day is not None and cols["created_at"][i] is None:
            cols["created_at"][i] = day
    need = [i for i in range(table.num_rows) if cols["drop_reason"][i] is None and cols["lang"][i] is None]
    detected = detect_batch([cols["text"][i] for i in need], task.clean.langdetect_chars)
    stats.add("step", "langdetect", "in", n=len(need))
    for i, lang in zip(need, detected, strict=True):
        cols["lang"][i] = lang
    keep_langs = set(task.clean.languages)
    for i in range(table.num_rows):
        source = cols["source"][i]
        if cols["drop_reason"][i] is None:
            reason = language_decision(cols, i, keep_langs, task.clean.lang_min_chars, stats)
            if reason:
                cols["drop_reason"][i] = reason
        if cols["drop_reason"][i] is not None:
            stats.add("dropped", source, cols["drop_reason"][i])
            continue
        split = split_of(cols["split_key"][i], task.splits)
        cols["split"][i] = split
        stats.add("kept", source, "total")
        stats.add("kept_lang", source, cols["lang"][i])
        stats.add("kept_kind", source, cols["kind"][i])
        stats.add("kept_structure", source, cols["structure"][i])
        if cols["nsfw"][i] is None:
            cols["nsfw"][i] = is_nsfw(cols["text"][i], cols["lang"][i])
            cols["nsfw_source"][i] = None if cols["nsfw"][i] is None else "wordlist"
        flag = {True: "nsfw", False: "sfw", None: "unknown"}[cols["nsfw"][i]]
        stats.add("kept_nsfw", source, cols["nsfw_source"][i] or "none", flag)
        stats.add("kept_split", source, split)
    pq.write_table(pa.Table.from_pydict(cols, schema=RECORD_SCHEMA), task.out_path)
    return ShardResult(task.index, table.num_rows, stats, [], time.perf_counter() - t0)


def global_decisions(
    paths: list[Path],
    source_order: dict[str, int],
    stats: Stats,
    live_sources: frozenset[str] = frozenset(),
    dedup: DedupConfig | None = None,
) -> tuple[list[pd.DataFrame], dict[str, Any]]:
    """Id merge, score percentiles, exact and near-duplicates and split groups over all pass-1 shards (key columns
    only, plus the texts of one representative per ``text_key`` for near-duplicates).

    One record per id: of several observations of one id (the same Reddit post in two dumps, or re-read from
    the API) a complete one wins over a ``truncated`` one (which is dropped when alone), then the one with the
    latest ``score_retrieved_at`` wins (unknown times last), then the one with a
    ``created_at``, then the source listed first in the config, then the latest ``fetched_at``. A deletion
    found on a live re-read sticks: the id stays dropped (``deleted_upstream``) unless a later live read
    (``live_sources``) shows the post again, whatever a dump retrieved afterwards says.

    Duplicates (:func:`jokemine.cleaning.dedup.deduplicate`): per cluster the best-scored member survives, the others
    get ``exact_duplicate`` or ``near_duplicate``. Split groups (:func:`jokemine.splits.assign.split_groups`): every
    member of a duplicate cluster and every joke of one setup share a ``split_key``.

    Returns, per shard, the surviving rows (``row``) with ``drop_reason``, ``score_norm``, ``dup_cluster``,
    ``dup_cluster_size``, ``also_in``, ``split_key`` and ``lang_hint`` (a language declared by another copy of the
    same text, used instead of detection); and the dedup report (:func:`jokemine.cleaning.dedup_report.dedup_report`).
    """
    dedup = dedup or DedupConfig()
    frames = []
    for i, p in enumerate(paths):
        t = pq.read_table(p, columns=KEY_COLUMNS).to_pandas()
        t["shard"], t["row"] = i, range(len(t))
        frames.append(t)
    df = pd.concat(frames, ignore_index=True)
    df["order"] = df["source"].map(source_order).fillna(len(source_order))
    df["dated"] = df["created_at"].notna()
    df["whole"] = ~df["truncated"].fillna(False).astype(bool)
    df = df.sort_values(
        ["id", "whole", "score_retrieved_at", "dated", "order", "fetched_at", "shard", "row"],
        ascending=[True, False, False, False, True, False, False, False],
        na_position="last",
        kind="mergesort",
    )
    is_del = df["drop_reason"].eq("deleted_upstream")
    sticky: set[str] = set()
    if is_del.any():
        del_time = df.loc[is_del].groupby("id")["score_retrieved_at"].max()
        shown = df.loc[df["source"].isin(live_sources) & ~is_del].groupby("id")["score_retrieved_at"].max()
        shown = shown.reindex(del_time.index)
        sticky = set(del_time.index[shown.isna() | (shown < del_time)])
    earliest = df.groupby("id")["created_at"].min()  # a page without dates may win: keep the day it was posted
    merged = df.duplicated("id", keep="first")
    for source, n in df.loc[merged, "source"].value_counts().items():
        stats.add("merged_same_id", str(source), n=int(n))
    df = df.loc[~merged].copy()
    df.loc[~df["whole"] & df["drop_reason"].isna(), "drop_reason"] = "truncated"
    df["created_fill"] = df["id"].map(earliest).where(df["created_at"].isna())
    df["created_at"] = df["created_at"].fillna(df["created_fill"])
    if sticky:
        df.loc[df["id"].isin(sticky), "drop_reason"] = "deleted_upstream"
    df["score_norm"] = float("nan")
    df["dup_cluster"] = None
    df["lang_hint"] = None
    live = df["drop_reason"].isna()
    df.loc[live, "score_norm"] = cohort_percentiles(df.loc[live])
    df["dup_cluster_size"] = pd.NA
    df["also_in"] = None
    df["split_key"] = None
    outcome = deduplicate(df.loc[live], _text_loader(paths), dedup.params() if dedup.near_duplicates else None)
    df.loc[live, "dup_cluster"] = outcome.survivor
    df.loc[live, "dup_cluster_size"] = outcome.size
    df.loc[live, "also_in"] = outcome.also_in
    dup_idx = outcome.drop_reason.index[outcome.drop_reason.notna()]
    df.loc[dup_idx, "drop_reason"] = outcome.drop_reason[dup_idx]
    kept = live & ~df.index.isin(dup_idx)
    # a language declared by any copy of a text holds for the copy that survives
    declared = df.loc[live & df["lang"].notna()].groupby("text_key")["lang"].first()
    needs = kept & df["lang"].isna()
    df.loc[needs, "lang_hint"] = df.loc[needs, "text_key"].map(declared)
    df.loc[live, "split_key"] = split_groups(df.loc[live, "group_key"], outcome.cluster)
    for reason in ("exact_duplicate", "near_duplicate"):
        stats.add("step", "dedup", reason, n=int((outcome.drop_reason == reason).sum()))
    stats.add("step", "dedup", "in", n=int(live.sum()))
    stats.add("step", "dedup", "clusters", n=int((outcome.size[~outcome.drop_reason.notna()] > 1).sum()))
    report = dedup_report(df.loc[live], outcome, dedup)
    cols = ["row", "drop_reason", "score_norm", "dup_cluster", "dup_cluster_size", "also_in", "split_key"]
    cols += ["lang_hint", "created_fill"]
    by_shard = {int(i): part.sort_values("row")[cols] for i, part in df.groupby("shard", sort=False)}
    return [by_shard.get(i, df.iloc[0:0][cols]) for i in range(len(paths))], report


def release_memory() -> None:
    """Hand freed memory back to the OS: a full garbage collection, Arrow's memory pool, and glibc's
    ``malloc_trim(0)`` (https://man7.org/linux/man-pages/man3/malloc_trim.3.html; skipped where libc lacks it)."""
    gc.collect()
    pa.default_memory_pool().release_unused()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim(0)


def _text_loader(paths: list[Path]) -> TextLoader:
    """Reads ``text`` and ``punchline`` of representative rows (columns ``shard``, ``row``) from pass-1 shards."""

    def load(reps: pd.DataFrame) -> tuple[list[str], list[str | None]]:
        texts: list[str] = [""] * len(reps)
        punch: list[str | None] = [None] * len(reps)
        pos = pd.Series(np.arange(len(reps)), index=reps.index)
        for _, part in reps.groupby("shard", sort=False):
            t = pq.read_table(paths[int(part["shard"].iloc[0])], columns=["text", "punchline"])
            t = t.take(pa.array(part["row"].to_numpy(), type=pa.int64())).to_pydict()
            for k, text, p in zip(pos[part.index], t["text"], t["punchline"], strict=True):
                texts[k], punch[k] = text, p
        return texts, punch

    return load


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
    and ``[splits]`` sections, the sources' settings, and jokemine's version. A refresh re-cleans when it or the set
    of committed raw parts differs from the latest clean run's (``stats.json``: ``settings``, ``raw_parts``)."""
    import hashlib

    from jokemine import __version__

    blob = json.dumps(
        {
            "version": __version__,
            "clean": cfg.clean.model_dump(mode="json", exclude={"workers"}),
            "dedup": cfg.dedup.model_dump(mode="json"),
            "splits": cfg.splits.model_dump(mode="json"),
            "sources": [s.model_dump(mode="json", exclude={"enabled"}) for s in cfg.sources],
        },
        sort_keys=True,
    )
    return hashlib.blake2b(blob.encode(), digest_size=12).hexdigest()


def clean(cfg: Config, data_dir: Path, *, workers: int | None = None, progress: bool | None = None) -> CleanReport:
    """Run the clean stage over every committed raw part of the configured sources.

    Raises :class:`NothingToDo` when there is no raw data (nothing is written then).
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
        try:
            report = _clean(cfg, layout, parts, sources, salt, run_id, workers, progress, started_at, t_start)
        except BaseException as e:
            state.finish_run(run_id, "clean", "failed", {"error": f"{type(e).__name__}: {e}"})
            raise
        state.finish_run(run_id, "clean", "ok", report.stats["totals"])
    return report


def _clean(
    cfg: Config,
    layout: Layout,
    parts: list[Any],
    sources: dict[str, Any],
    salt: str,
    run_id: str,
    workers: int | None,
    progress: bool | None,
    started_at: Any,
    t_start: float,
) -> CleanReport:
    executor = LocalExecutor(workers if workers is not None else cfg.clean.workers, progress)
    layout.clean.mkdir(parents=True, exist_ok=True)
    atomic.remove_stale_tmp(layout.clean)
    final = layout.clean / run_id
    stats = Stats()
    timing: dict[str, float] = {}
    with atomic.staged_dir(final) as out:
        work = out / "work"
        work.mkdir()
        tasks1 = [
            Pass1Task(
                i,
                str(layout.root / p.path),
                p.path,
                sources[p.source],
                cfg.clean,
                salt,
                str(work / f"p1-{i:05d}.parquet"),
                p.records,
            )
            for i, p in enumerate(parts)
        ]
        t = time.perf_counter()
        res1 = executor.map(run_pass1, tasks1, desc="clean: parse+filter", weight=lambda t: t.records)
        timing["pass1_s"] = time.perf_counter() - t
        quarantine = [q for r in res1 for q in r.quarantine]
        for r in res1:
            stats.merge(r.stats)

        t = time.perf_counter()
        order = {s.name: i for i, s in enumerate(cfg.sources)}
        live = frozenset(s.name for s in cfg.sources if isinstance(s, RedditApiSource))
        decisions, dedup_doc = global_decisions([Path(t.out_path) for t in tasks1], order, stats, live, cfg.dedup)
        timing["global_s"] = time.perf_counter() - t
        release_memory()  # the near-duplicate search's garbage must not be copied into every pass-2 worker

        warm_up()  # load langdetect profiles once, before forking
        for lang in ("en", "ru"):
            wordlist_pattern(lang)  # compile the NSFW word lists once, before forking
        tasks2 = []
        for t1, dec in zip(tasks1, decisions, strict=True):
            # chunks of PASS2_ROWS rows: language ID dominates, small tasks keep every core busy to the end
            for c, lo in enumerate(range(0, max(len(dec), 1), PASS2_ROWS)):
                part = dec.iloc[lo : lo + PASS2_ROWS]
                tasks2.append(
                    Pass2Task(
                        t1.index,
                        t1.out_path,
                        str(out / f"part-{t1.index:05d}-{c:03d}.parquet"),
                        part["row"].tolist(),
                        _nullable(part["drop_reason"]),
                        [None if pd.isna(v) else float(v) for v in part["score_norm"]],
                        _nullable(part["dup_cluster"]),
                        [None if pd.isna(v) else int(v) for v in part["dup_cluster_size"]],
                        [list(v) if isinstance(v, list | tuple | np.ndarray) else None for v in part["also_in"]],
                        _nullable(part["split_key"]),
                        _nullable(part["lang_hint"]),
                        [None if pd.isna(v) else v.to_pydatetime() for v in part["created_fill"]],
                        cfg.clean,
                        cfg.splits,
                    )
                )
        t = time.perf_counter()
        res2 = executor.map(
            run_pass2, tasks2, desc="clean: language+splits", weight=lambda t: sum(r is None for r in t.drop_reason)
        )
        timing["pass2_s"] = time.perf_counter() - t
        for r in res2:
            stats.merge(r.stats)
        shutil.rmtree(work)
        if quarantine:
            with open(out / "quarantine.jsonl", "w", encoding="utf-8") as fh:
                for q in quarantine:
                    fh.write(json.dumps(q, ensure_ascii=False, default=str) + "\n")
        timing["total_s"] = time.perf_counter() - t_start
        summary = summarize(stats, run_id, started_at, cfg, parts, timing, len(quarantine), sum(r.rows for r in res2))
        summary["dedup"] = dedup_doc["summary"]
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
    _prune(layout)
    return CleanReport(run_id, final, summary)


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


def _prune(layout: Layout) -> None:
    """Keep the newest clean runs (the one ``latest`` points to always)."""
    latest = layout.clean_latest()
    runs = sorted(p for p in layout.clean.iterdir() if p.is_dir() and not p.is_symlink() and not p.name.startswith("."))
    for p in runs[:-KEEP_CLEAN_RUNS]:
        if latest is None or p.resolve() != latest.resolve():
            shutil.rmtree(p, ignore_errors=True)
