"""The ``publish`` stage: the latest clean run -> ``releases/<version>/`` in Hugging Face Hub layout.

Layout of a release::

    README.md                                     dataset card (YAML ``configs`` + body)
    report.html                                   browsable report (jokemine.dataset_cards.report)
    LICENSE.md  CHANGELOG.md  CHANGELOG.json  figures/*.png
    setup_punch/{train,validation,test}-NNNNN.parquet   (default config)
    qa/...          jokes/...        setup_punches/...   preference/...   (grouped: jokemine.publish.groups)
    MANIFEST.json                                 files, sha256, rows, source clean run, data hash

Rows of a config are read from the clean shards (kept records only) and laid out per split in files of at most
``[publish] max_rows_per_shard`` rows that stay put from release to release (:mod:`jokemine.publish.layout`), so
a release rewrites only the files holding changed rows. The release is built in a temporary directory and renamed
into place; ``releases/latest`` moves only after that, so a failure leaves the previous release serving. A release whose
data equals the latest one's (same data hash) is not written again: publishing is idempotent.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from jokemine import atomic
from jokemine.cleaning.scores import sibling_percentiles
from jokemine.config import Config
from jokemine.dataset_cards.card import LICENSE_FILE, CardInputs, license_file, merge_card, render
from jokemine.dataset_cards.plots import write_figures
from jokemine.dataset_cards.report import (
    REPORT_FILE,
    SAMPLES_PER_SOURCE,
    cap_samples,
    grouped_samples,
    render_report,
    sample_rows,
)
from jokemine.dataset_cards.stats import CARD_COLUMNS, card_stats, example_row, lengths
from jokemine.errors import BadArgument, JokemineError, NothingToDo
from jokemine.faults import crash_point
from jokemine.lock import data_dir_lock
from jokemine.pipeline import storage
from jokemine.pipeline.executor import Executor
from jokemine.publish.changelog import changelog, grouped_changes, release_rows
from jokemine.publish.changelog import markdown as changelog_markdown
from jokemine.publish.groups import INPUT_COLUMNS, preference_pairs, punchline_keys, setup_punches
from jokemine.publish.layout import layout_keys, plan_files, previous_layout, same_rows, write_file
from jokemine.publish.validate import validate_release
from jokemine.schema import RELEASE_CONFIGS, SPLITS, DropReason, release_schema
from jokemine.splits.ledger import LedgerView, ledger_files, ledger_view, record_release
from jokemine.state import Layout, State, new_run_id

log = logging.getLogger(__name__)


@dataclass
class PublishReport:
    """Outcome: ``status`` is ``published`` or ``unchanged`` (same data as the latest release)."""

    version: str
    path: Path
    status: str
    counts: dict[str, dict[str, int]]
    hub: Any = None
    plan: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        """Summary lines for the terminal (never a token)."""
        out = [f"{self.status}: release {self.version} at {self.path}"]
        for cfg_name, splits in self.counts.items():
            out.append(f"  {cfg_name}: " + ", ".join(f"{s} {n:,}" for s, n in splits.items()))
        out += self.plan
        if self.hub is not None:
            out += self.hub.lines()
        return out


def next_version(releases: Path, today: datetime | None = None) -> str:
    """``YYYY.MM.DD`` (UTC), or ``YYYY.MM.DD.N`` with the next free N when that exists."""
    base = (today or datetime.now(UTC)).strftime("%Y.%m.%d")
    if not (releases / base).exists():
        return base
    n = 1
    while (releases / f"{base}.{n}").exists():
        n += 1
    return f"{base}.{n}"


def published_splits(clean_dir: Path) -> pd.DataFrame:
    """``id`` and ``split`` of every record the clean run keeps (the ids a release built from it publishes)."""
    frames = []
    for part in sorted(clean_dir.glob("part-*.parquet")):
        t = pq.read_table(part, columns=["id", "split", "drop_reason"])
        frames.append(t.filter(pc.is_null(t["drop_reason"])).select(["id", "split"]).to_pandas())
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame({"id": [], "split": []}, dtype=object)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _grouped(cfg: Config, two_part: list[pa.Table]) -> tuple[dict[str, pd.DataFrame], dict[str, Any]]:
    """The ``setup_punches`` and ``preference`` rows (with a ``split`` column) and their build counts."""
    rows = pa.concat_tables(two_part).to_pandas() if two_part else pd.DataFrame(columns=INPUT_COLUMNS)
    rows["_pkey"] = punchline_keys(rows["punchline"])  # both configs group by it: compute once
    pub = cfg.publish
    sp, sp_stats = setup_punches(rows, pub.setup_punches_min, pub.setup_punches_max)
    pref, pref_stats = preference_pairs(
        rows,
        rule=pub.preference_rule,
        margin=pub.preference_margin,
        min_score=pub.preference_min_score,
        min_thread_score=pub.preference_min_thread_score,
        max_pairs=pub.preference_max_pairs,
        top_prompts=pub.preference_top_prompts,
        top_share=pub.preference_top_share,
        max_jaccard=cfg.dedup.threshold,
        ngram=cfg.dedup.ngram,
        unit=cfg.dedup.shingle,
    )
    info = {
        "setup_punches": {
            "setups": sp_stats.setups,
            "setups_by_distinct_punchlines": sp_stats.setups_by_size,
            "max_punchlines": pub.setup_punches_max,
            "punchlines_over_cap": sp_stats.punchlines_over_cap,
        },
        "preference": {
            "setups": pref_stats.setups,
            "pairs": pref_stats.pairs,
            "refused_near_duplicate": pref_stats.pairs_near_duplicate,
            "over_cap": pref_stats.pairs_over_cap,
            "over_split_cap": pref_stats.pairs_over_split_cap,
            "replies_low_thread_score": pref_stats.replies_low_thread_score,
            "rule": pub.preference_rule,
            "margin": pub.preference_margin,
            "min_score": pub.preference_min_score,
            "min_thread_score": pub.preference_min_thread_score,
            "max_pairs_per_setup": pub.preference_max_pairs,
            "top_prompts": pub.preference_top_prompts,
            "top_share": pub.preference_top_share,
            "splits": pref_stats.splits,
        },
    }
    return {"setup_punches": sp, "preference": pref}, info


def thread_percentiles(parts: list[Path]) -> pd.Series:
    """``score_norm_thread`` by record id for the kept replies of the clean shards ``parts``
    (:func:`jokemine.cleaning.scores.sibling_percentiles`: among the kept replies to the same parent); empty when
    there are no replies."""
    frames = []
    for part in parts:
        t = pq.read_table(part, columns=["id", "parent_id", "score", "drop_reason"])
        t = t.filter(pc.and_(pc.is_null(t["drop_reason"]), pc.is_valid(t["parent_id"])))
        if t.num_rows:
            frames.append(t.select(["id", "parent_id", "score"]).to_pandas())
    if not frames:
        return pd.Series([], dtype="float64")
    df = pd.concat(frames, ignore_index=True)
    return pd.Series(sibling_percentiles(df).to_numpy(), index=df["id"].to_numpy())


def _incomplete_optional(pending: dict[str, dict[str, list[pa.Table]]]) -> list[str]:
    """Optional configs (:attr:`jokemine.schema.ReleaseConfig.optional`: grouped ones, ``threads``) with rows in
    some but not all of :data:`SPLITS` (small data): they are left out of the release, since every published
    config has all splits (the validation gate's rule)."""
    out = []
    for config in (c.name for c in RELEASE_CONFIGS.values() if c.optional):
        have = [s for s in SPLITS if sum(t.num_rows for t in pending[config][s])]
        if have and len(have) < len(SPLITS):
            out.append(config)
            log.warning("config %s left out of the release: too few rows (or threads) for every split", config)
    return out


@dataclass(frozen=True)
class ShardTask:
    """One data file of a release: its rows ``table`` (in file order), the local ``path`` to write, its position
    ``entry`` in the manifest's files, and the previous release's file of the same name (``previous``, with its
    ``previous_sha256``), reused when it holds the same rows."""

    table: pa.Table
    path: str
    entry: int = 0
    previous: str | None = None
    previous_sha256: str | None = None


def write_shard(task: ShardTask) -> tuple[str, bool]:
    """Write one data file of a release (:func:`jokemine.publish.layout.write_file`), or hard-link the previous
    release's file when its rows are the same (:func:`jokemine.publish.layout.same_rows`); returns the file's
    sha256 (hex) and whether it was reused. A task of the ``publish`` stage: any executor runs it (the paths must
    be reachable from the worker)."""
    path = Path(task.path)
    if task.previous is not None and task.previous_sha256 and same_rows(Path(task.previous), task.table):
        storage.copy(task.previous, task.path)  # a hard link: releases are immutable
        return task.previous_sha256, True
    write_file(task.table, path)
    return _sha256(path), False


def _write_split(
    out: Path, config: str, split: str, table: pa.Table, ledger: LedgerView, previous: Path | None,
    previous_manifest: dict[str, Any] | None, max_rows: int,
) -> tuple[list[dict[str, Any]], list[ShardTask]]:  # fmt: skip
    """The data files of one (config, split) in the stable layout (:mod:`jokemine.publish.layout`): their manifest
    entries (``path``, ``rows``, ``first``; ``sha256`` is added once written) and the tasks that write them (or
    reuse the file of the same name in the ``previous`` release)."""
    seq, tie = layout_keys(config, table, ledger.seq_of, ledger.next_seq)
    order = np.lexsort((tie, seq))
    table = table.take(pa.array(order))
    keys = list(zip(seq[order].tolist(), tie[order].tolist(), strict=True))
    prev = [] if ledger.fresh else previous_layout(previous_manifest, config, split)
    before = {f["path"]: f.get("sha256") for f in (previous_manifest or {}).get("files", [])}
    folder = out / config
    folder.mkdir(parents=True, exist_ok=True)
    files: list[dict[str, Any]] = []
    tasks: list[ShardTask] = []
    new_from = int((previous_manifest or {}).get("layout_seq", -1)) + 1
    for plan in plan_files(keys, prev, max_rows, new_from):
        path = folder / f"{split}-{plan.index:05d}.parquet"
        rel = str(path.relative_to(out))
        old = str(previous / rel) if previous is not None and before.get(rel) else None
        tasks.append(ShardTask(table.slice(plan.lo, plan.hi - plan.lo), str(path), len(files), old, before.get(rel)))
        files.append({"path": rel, "rows": plan.hi - plan.lo, "first": list(plan.first)})
    return files, tasks


def build_release(
    cfg: Config,
    clean_dir: Path,
    out: Path,
    version: str,
    previous: Path | None = None,
    stale: dict[str, dict[str, Any]] | None = None,
    ledger: LedgerView | None = None,
    executor: Executor | None = None,
) -> dict[str, Any]:
    """Write the data files, figures, changelog, card and manifest of a release into ``out``; returns the manifest.
    The data files are written by ``executor`` (stage ``publish``, one task per file; default: in this process).

    ``previous``: the release this one follows (for the changelog, the card's manual sections and the file layout).
    ``stale``: sources a refresh could not update (name -> ``since``, ``error``), marked in the card and the
    manifest. ``ledger``: the split ledger as the file layout needs it (:func:`jokemine.splits.ledger.ledger_view`;
    None: a fresh layout)."""
    clean_stats = json.loads((clean_dir / "stats.json").read_text(encoding="utf-8"))
    ledger = ledger or LedgerView(pd.Series([], dtype="int64"), 0, True)
    pending: dict[str, dict[str, list[pa.Table]]] = {c: {s: [] for s in SPLITS} for c in RELEASE_CONFIGS}
    languages: dict[str, int] = {}
    two_part: list[pa.Table] = []
    card_rows: list[pd.DataFrame] = []
    reasons: list[pd.DataFrame] = []
    parts = sorted(clean_dir.glob("part-*.parquet"))
    thread_norm = thread_percentiles(parts)
    for part in parts:
        table = pq.read_table(part)
        reasons.append(table.select(["id", "drop_reason"]).to_pandas())
        table = table.filter(pc.is_null(table["drop_reason"]))
        if table.num_rows == 0:
            continue
        if len(thread_norm):
            norm = thread_norm.reindex(table["id"].to_numpy(zero_copy_only=False)).to_numpy()
            col = table.schema.get_field_index("score_norm_thread")
            table = table.set_column(col, "score_norm_thread", pa.array(norm, pa.float64(), from_pandas=True))
        parts_ok = pc.and_(pc.is_valid(table["setup"]), pc.is_valid(table["punchline"]))
        top_level = pc.or_kleene(pc.is_null(table["depth"]), pc.equal(table["depth"], 0))  # a deeper reply's setup is
        two_part.append(table.filter(pc.and_(parts_ok, top_level)).select(INPUT_COLUMNS))  # not what it answers
        frame = table.select(CARD_COLUMNS).to_pandas()
        sizes = lengths(*(table[c].to_pandas() for c in ("text", "setup", "punchline")))
        card_rows.append(pd.concat([frame, sizes], axis=1))
        for lang, n in zip(*pc.value_counts(table["lang"]).flatten(), strict=True):
            languages[str(lang)] = languages.get(str(lang), 0) + int(n.as_py())
        for rc in RELEASE_CONFIGS.values():
            if rc.grouped:
                continue
            mask = None
            for col in rc.requires:
                m = pc.is_valid(table[col])
                mask = m if mask is None else pc.and_(mask, m)
            sub = table.filter(mask)
            for split in SPLITS:
                rows = sub.filter(pc.equal(sub["split"], split))
                if rows.num_rows:
                    pending[rc.name][split].append(rows.select(rc.column_names))
    grouped, grouped_info = _grouped(cfg, two_part)
    del two_part
    for config, df in grouped.items():
        schema = release_schema(config)
        for split in SPLITS:
            rows = df[df["split"] == split]
            if len(rows):
                pending[config][split].append(
                    pa.Table.from_pandas(rows[schema.names], schema=schema, preserve_index=False)
                )
    left_out = [] if cfg.publish.allow_empty_splits else _incomplete_optional(pending)
    grouped_info["left_out"] = left_out
    previous_manifest = _manifest(previous) if previous is not None else None
    files: list[dict[str, Any]] = []
    tasks: list[ShardTask] = []
    counts: dict[str, dict[str, int]] = {}
    nbytes: dict[str, dict[str, int]] = {c: {} for c in RELEASE_CONFIGS}
    examples: dict[str, Any] = {}
    samples: list[dict[str, Any]] = []
    for config in RELEASE_CONFIGS:
        for split in SPLITS:
            tables = pending[config].pop(split)
            if config in left_out or not sum(t.num_rows for t in tables):
                continue
            table = pa.concat_tables(tables)
            if config not in examples:
                examples[config] = example_row(table)
            if not RELEASE_CONFIGS[config].grouped:
                samples += sample_rows(_unsampled(table, config, samples), config, split)
            nbytes[config][split] = table.nbytes
            counts.setdefault(config, {})[split] = table.num_rows
            entries, writes = _write_split(
                out, config, split, table, ledger, previous, previous_manifest, cfg.publish.max_rows_per_shard
            )
            tasks += [replace(t, entry=len(files) + t.entry) for t in writes]
            files += entries
    if not counts:
        raise NothingToDo(f"nothing to publish: the clean run {clean_dir.name} kept no records")
    if executor is None:
        shas = [write_shard(t) for t in tasks]
    else:
        with executor:
            shas = executor.map(write_shard, tasks, stage="publish", weight=lambda t: t.table.num_rows)
    for task, (sha, _) in zip(tasks, shas, strict=True):
        files[task.entry]["sha256"] = sha
    del tasks
    reused = sum(r for _, r in shas)
    log.info("release %s: %d data files written, %d reused unchanged from %s", version, len(shas) - reused, reused,
             previous.name if previous else "-")  # fmt: skip
    data_hash = hashlib.sha256(json.dumps(sorted((f["path"], f["sha256"]) for f in files)).encode()).hexdigest()
    langs = [lang for lang, _ in sorted(languages.items(), key=lambda kv: -kv[1]) if lang != "und"]
    kept = pd.concat(card_rows, ignore_index=True)
    figures = write_figures(kept, out / "figures", clean_stats)
    clean_ids = pd.concat(reasons, ignore_index=True).drop_duplicates("id").set_index("id")
    entry = changelog(previous, out, clean_ids, version)
    splits_info = clean_stats.get("splits", {})
    entry["resplit"] = bool(splits_info.get("resplit", False))
    entry["split_conflict"] = int(splits_info.get(DropReason.SPLIT_CONFLICT.value, 0))
    entry["grouped"] = grouped_changes(counts, (previous_manifest or {}).get("counts") if previous else None)
    atomic.write_json(out / "CHANGELOG.json", entry)
    older = (
        (previous / "CHANGELOG.md").read_text(encoding="utf-8")
        if previous and (previous / "CHANGELOG.md").exists()
        else ""
    )
    older = older.split("\n", 2)[2] if older.startswith("# Changelog") else older
    atomic.write_text(out / "CHANGELOG.md", "# Changelog\n\n" + changelog_markdown(entry) + "\n" + older)
    inputs = CardInputs(
        version=version,
        counts=counts,
        languages=langs,
        clean_stats=clean_stats,
        stats=card_stats(kept),
        grouped=grouped_info,
        changelog=entry,
        figures=list(figures),
        nbytes=nbytes,
        stale=stale or {},
        examples={k: v for k, v in examples.items() if v is not None},
        report=REPORT_FILE,
    )
    atomic.write_text(out / LICENSE_FILE, license_file(cfg, version))
    prev_card = (
        (previous / "README.md").read_text(encoding="utf-8") if previous and (previous / "README.md").exists() else None
    )
    atomic.write_text(out / "README.md", merge_card(render(cfg, inputs), prev_card))
    dedup_path = clean_dir / "dedup.json"
    report = render_report(
        title=cfg.publish.pretty_name,
        version=version,
        counts=counts,
        clean_stats=clean_stats,
        dedup=json.loads(dedup_path.read_text(encoding="utf-8")) if dedup_path.exists() else None,
        figures=figures,
        samples=cap_samples(samples),
        setup_punches=grouped_samples(
            "setup_punches", grouped.get("setup_punches") if "setup_punches" in counts else None
        ),
        preference=grouped_samples("preference", grouped.get("preference") if "preference" in counts else None),
        changelog_md=changelog_markdown(entry),
    )
    atomic.write_text(out / REPORT_FILE, report)
    manifest = {
        "version": version,
        "created_at": datetime.now(UTC).isoformat(),
        "clean_run": clean_dir.name,
        "config": cfg.config_path.name if cfg.config_path else None,
        "data_hash": data_hash,
        "layout_seq": ledger.next_seq,
        "counts": counts,
        "languages": languages,
        "grouped": grouped_info,
        "stale_sources": stale or {},
        "files": files,
    }
    atomic.write_json(out / "MANIFEST.json", manifest)
    return manifest


def _unsampled(table: pa.Table, config: str, samples: list[dict[str, Any]]) -> pa.Table:
    """The rows of ``table`` whose source has fewer than :data:`SAMPLES_PER_SOURCE` samples of ``config`` so far
    (validation and test are sampled only for sources the train split left short)."""
    have: dict[str, int] = {}
    for r in samples:
        if r["config"] == config:
            have[r["source"]] = have.get(r["source"], 0) + 1
    full = [s for s, n in have.items() if n >= SAMPLES_PER_SOURCE]
    if not full:
        return table
    return table.filter(pc.invert(pc.is_in(table["source"], pa.array(full, pa.string()))))


VERSION_PATTERN = re.compile(r"^[0-9A-Za-z][0-9A-Za-z._-]*$")


def _resplit(clean_dir: Path) -> bool:
    """Whether the clean run was a ``--resplit`` one (its ``stats.json``)."""
    stats = json.loads((clean_dir / "stats.json").read_text(encoding="utf-8"))
    return bool(stats.get("splits", {}).get("resplit", False))


def _manifest(release: Path) -> dict[str, Any] | None:
    try:
        return json.loads((release / "MANIFEST.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _no_row_changes(release: Path) -> bool:
    """True when the release's changelog shows no added, removed, updated or moved row in any record config (only
    volatile fields such as ``fetched_at`` or derived ones changed)."""
    try:
        entry = json.loads((release / "CHANGELOG.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    if entry.get("previous") is None:
        return False
    keys = ("added", "removed", "updated", "moved")
    return all(not c.get(k) for c in entry.get("configs", {}).values() for k in keys)


def _same_data(layout: Layout, data_hash: str) -> Path | None:
    """The release ``latest`` should serve when the new build's data is already released: the latest one, or a
    newer one whose publish was interrupted before ``latest`` moved; None when the data is new."""
    latest = layout.release_latest()
    latest_m = _manifest(latest) if latest else None
    if latest_m and latest_m.get("data_hash") == data_hash:
        return latest
    since = latest_m["created_at"] if latest_m else ""
    newer = []
    for d in layout.releases.iterdir():
        m = _manifest(d) if d.is_dir() and not d.is_symlink() and not d.name.startswith(".") else None
        if m and m.get("data_hash") == data_hash and m.get("created_at", "") > since:
            newer.append((m["created_at"], d))
    return max(newer)[1] if newer else None


def publish(
    cfg: Config,
    data_dir: Path,
    *,
    version: str | None = None,
    dry_run: bool = False,
    push: bool = True,
    stale: dict[str, dict[str, Any]] | None = None,
    only_if_changed: bool = False,
    executor: Executor | None = None,
) -> PublishReport:
    """Build a release from ``clean/latest``, validate it, make it ``releases/latest``, then (``[publish] repo_id``
    set and ``push``) push ``latest`` to the Hub as one commit + tag (:mod:`jokemine.publish.hub`).

    ``executor`` writes the data files, one task per file (default: the ``[executor]`` of the config, as clean;
    on a Dask cluster whose workers are other machines the data dir must be on storage they share).

    ``dry_run``: build and validate in a temporary folder, report what would be published and pushed, write
    nothing (no release, no state, no network). Raises :class:`NothingToDo` when there is no clean run,
    :class:`BadArgument` for a malformed version, :class:`JokemineError` when the version exists already (releases
    are immutable) or no Hub token is found, :class:`jokemine.publish.validate.ReleaseInvalid` when the release
    fails the validation gate (nothing is published or pushed then). ``only_if_changed`` (the refresh): a build
    whose changelog shows no added, removed, updated or moved row is discarded and ``latest`` stays.
    """
    from jokemine.publish.hub import push_release, resolve_token

    if version is not None and (not VERSION_PATTERN.match(version) or ".." in version):
        raise BadArgument(f"--version {version!r}: use letters, digits, '.', '_' and '-' (e.g. 2026.11.20)")
    layout = Layout(data_dir)
    clean_dir = layout.clean_latest()
    if clean_dir is None or not (clean_dir / "stats.json").exists():
        raise NothingToDo(f"nothing to publish in {data_dir}: no clean data yet; run `jokemine clean` first")
    repo_id = cfg.publish.repo_id if push else None
    token = resolve_token() if repo_id else None
    if repo_id and token is None and not dry_run:
        raise JokemineError(
            f"[publish] repo_id = {repo_id!r} but no Hugging Face token: set HF_TOKEN or log in with `hf auth login` "
            "(or publish locally with --no-push)"
        )
    if executor is None:
        from jokemine.cleaning.stage import build_executor

        executor = build_executor(cfg, warm=False)
    if dry_run:
        return _dry_run(cfg, layout, clean_dir, version, repo_id, token is not None, executor)
    report = _publish_local(cfg, layout, clean_dir, version, stale, only_if_changed, executor)
    if repo_id:
        with data_dir_lock(data_dir, "publish"), State(layout.state_path) as state:
            run_id = new_run_id()
            state.start_run(run_id, "push")
            try:
                report.hub = push_release(
                    report.path,
                    repo_id,
                    token=token,
                    endpoint=cfg.publish.hub_endpoint,
                    private=cfg.publish.private,
                    merge_card=merge_card,
                )
            except BaseException as e:
                state.finish_run(run_id, "push", "failed", {"repo_id": repo_id, "error": f"{type(e).__name__}: {e}"})
                raise
            state.finish_run(
                run_id,
                "push",
                report.hub.status,
                {"repo_id": repo_id, "version": report.version, "commit_url": report.hub.commit_url},
            )
    return report


def _dry_run(
    cfg: Config, layout: Layout, clean_dir: Path, version: str | None, repo_id: str | None, has_token: bool,
    executor: Executor | None = None,
) -> PublishReport:  # fmt: skip
    """Build and validate in a temporary folder; report the plan; leave nothing behind."""
    import tempfile

    from jokemine.publish.hub import push_release

    releases = layout.releases
    version = version or cfg.publish.version or next_version(releases)
    with tempfile.TemporaryDirectory(prefix="jokemine-dry-run-") as tmp:
        out = Path(tmp) / version
        out.mkdir()
        latest = layout.release_latest()
        ledger = ledger_view(layout.root, _resplit(clean_dir))
        manifest = build_release(cfg, clean_dir, out, version, previous=latest, ledger=ledger, executor=executor)
        validate_release(out, manifest, allow_empty_splits=cfg.publish.allow_empty_splits)
        same = (
            layout.release_latest()
            if latest and (_manifest(latest) or {}).get("data_hash") == manifest["data_hash"]
            else None
        )
        status = "dry-run: unchanged" if same else "dry-run"
        target = same if same else releases / version
        report = PublishReport(target.name, target, status, manifest["counts"])
        log_entry = json.loads((out / "CHANGELOG.json").read_text(encoding="utf-8"))
        jokes = log_entry["configs"].get("jokes", {})
        report.plan = [
            f"would build release {version} from clean run {clean_dir.name} into {releases / version}"
            + (f" (data equals the latest release {same.name}: nothing new would be written)" if same else ""),
            f"  changes vs {log_entry['previous'] or 'nothing (first release)'}: jokes +{jokes.get('added', 0):,} "
            f"-{jokes.get('removed', 0):,} ~{jokes.get('updated', 0):,} (score updates)",
        ]
        if repo_id:
            hub = push_release(out, repo_id, dry_run=True)
            pushed = target.name  # unchanged data: the real run pushes the latest release, not a new version
            report.plan.append(
                f"would push {len(hub.files)} files to https://huggingface.co/datasets/{repo_id} as one commit "
                f"'jokemine release {pushed}' + tag v{pushed}; token "
                + ("found" if has_token else "MISSING (set HF_TOKEN)")
            )
        else:
            report.plan.append("no [publish] repo_id: local folder only")
    return report


def _publish_local(
    cfg: Config,
    layout: Layout,
    clean_dir: Path,
    version: str | None,
    stale: dict[str, dict[str, Any]] | None = None,
    only_if_changed: bool = False,
    executor: Executor | None = None,
) -> PublishReport:
    with data_dir_lock(layout.root, "publish"), State(layout.state_path) as state:
        layout.releases.mkdir(parents=True, exist_ok=True)
        atomic.remove_stale_tmp(layout.releases)
        version = version or cfg.publish.version or next_version(layout.releases)
        final = layout.releases / version
        if final.exists():
            raise JokemineError(f"release {version} exists at {final}; releases are immutable: pick another version")
        run_id = new_run_id()
        state.start_run(run_id, "publish")
        tmp = atomic.tmp_name(final)
        tmp.mkdir()
        try:
            resplit = _resplit(clean_dir)
            prev = layout.release_latest()
            if not resplit and prev is not None and not ledger_files(layout.root):
                # a data dir whose releases predate the ledger: the latest one's splits are where ids were published
                record_release(layout.root, prev.name, release_rows(prev, "jokes"))
            ledger = ledger_view(layout.root, resplit)
            manifest = build_release(
                cfg, clean_dir, tmp, version, previous=prev, stale=stale, ledger=ledger, executor=executor
            )
            same = _same_data(layout, manifest["data_hash"])
            if same is None and only_if_changed and layout.release_latest() and _no_row_changes(tmp):
                same = layout.release_latest()
            if same is not None:
                status = "unchanged" if same == layout.release_latest() else "published"
                atomic.point(layout.releases / "latest", same.name)
                state.finish_run(run_id, "publish", status, {"version": same.name})
                return PublishReport(same.name, same, status, _manifest(same)["counts"])  # type: ignore[index]
            validate_release(tmp, manifest, allow_empty_splits=cfg.publish.allow_empty_splits)
            atomic.fsync_tree(tmp)
            crash_point("publish.built")
            added = record_release(layout.root, version, published_splits(clean_dir), resplit=resplit)
            log.info("split ledger: %d ids added by release %s%s", added, version, " (resplit)" if resplit else "")
            crash_point("publish.ledger")
            os.replace(tmp, final)
            atomic.fsync_dir(layout.releases)
            crash_point("publish.renamed")
            atomic.point(layout.releases / "latest", version)
        except BaseException as e:
            state.finish_run(run_id, "publish", "failed", {"error": f"{type(e).__name__}: {e}"})
            raise
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
        state.finish_run(run_id, "publish", "ok", {"version": version, "counts": manifest["counts"]})
    log.debug("published %s", final)
    return PublishReport(version, final, "published", manifest["counts"])
