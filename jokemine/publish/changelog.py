"""Changelog of a release against the previous one, by record ``id``, per config and split.

For each record config (``setup_punch``, ``qa``, ``jokes``) and split: **added** ids (in the new release, not in
the previous one's same config), **removed** ids with the reason (the record's ``drop_reason`` in the clean run the
new release came from, e.g. ``deleted_upstream``, ``near_duplicate``; ``left_config`` when the record is still kept
but no longer belongs to that config; ``not_in_sources`` when the clean run no longer has the id at all), and
**updated** ids (present in both with a different ``score`` or ``upvote_ratio``). ``moved`` counts ids whose split
changed (should stay 0: splits are stable). Written as ``CHANGELOG.json`` (this release) and ``CHANGELOG.md`` (this
release's entry on top of the previous release's file) in the release, and summarized in the dataset card.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq

from jokemine.schema import RELEASE_CONFIGS, SPLITS

EXAMPLES = 5


def release_rows(release: Path, config: str) -> pd.DataFrame:
    """``id``, ``split``, ``score``, ``source`` of one config of a release folder (empty frame when the config is
    absent)."""
    frames = []
    for path in sorted((release / config).glob("*.parquet")):
        split = path.name.split("-", 1)[0]
        cols = [c for c in ("id", "score", "upvote_ratio", "source") if c in pq.read_schema(path).names]
        t = pq.read_table(path, columns=cols).to_pandas()
        if "upvote_ratio" not in t:
            t["upvote_ratio"] = float("nan")
        frames.append(t.assign(split=split))
    if not frames:
        return pd.DataFrame(
            {
                "id": pd.Series(dtype=object),
                "score": pd.Series(dtype=float),
                "upvote_ratio": pd.Series(dtype=float),
                "source": pd.Series(dtype=object),
                "split": pd.Series(dtype=object),
            }
        )
    return pd.concat(frames, ignore_index=True)


def _config_changes(old: pd.DataFrame, new: pd.DataFrame, clean: pd.DataFrame, config: str) -> dict[str, Any]:
    both = old.merge(new, on="id", how="outer", suffixes=("_old", "_new"), indicator=True)
    added = both[both["_merge"] == "right_only"]
    removed = both[both["_merge"] == "left_only"]
    common = both[both["_merge"] == "both"]
    changed = pd.Series(False, index=common.index)
    for col in ("score", "upvote_ratio"):
        a, b = common[f"{col}_old"], common[f"{col}_new"]
        changed |= ~((a == b) | (a.isna() & b.isna()))
    updated = common[changed]
    moved = common[common["split_old"] != common["split_new"]]
    reasons = removed["id"].map(clean["drop_reason"]) if len(clean) else pd.Series(dtype=object)
    # get_indexer rather than isin: isin of an Arrow string Series against 10^5+ values converts them one by one
    in_clean = pd.Series(clean.index.get_indexer(pd.Index(removed["id"])) >= 0, index=removed.index)
    reason = reasons.where(reasons.notna(), "left_config").where(in_clean, "not_in_sources")
    out: dict[str, Any] = {"splits": {}}
    present = set(both["split_old"].dropna()) | set(both["split_new"].dropna())
    for split in [s for s in SPLITS if s in present] + sorted(present - set(SPLITS)):
        a = added[added["split_new"] == split]
        r = removed[removed["split_old"] == split]
        u = updated[updated["split_new"] == split]
        out["splits"][split] = {
            "added": len(a),
            "removed": len(r),
            "updated": len(u),
            "removed_reasons": {str(k): int(v) for k, v in reason[r.index].value_counts().items()},
        }
    delta = (updated["score_new"] - updated["score_old"]).dropna()
    source = both["source_new"].fillna(both["source_old"])
    by_source: dict[str, dict[str, int]] = {}
    for name in sorted(set(source.dropna())):
        mine = source == name
        by_source[str(name)] = {
            "added": int((mine & (both["_merge"] == "right_only")).sum()),
            "removed": int(mine[removed.index].sum()),
            "deleted": int((mine[removed.index] & (reason == "deleted_upstream")).sum()),
            "updated": int(mine[updated.index].sum()),
        }
    out["by_source"] = by_source
    out.update(
        added=len(added),
        removed=len(removed),
        updated=len(updated),
        moved=len(moved),
        removed_reasons={str(k): int(v) for k, v in reason.value_counts().items()},
        score_change={"up": int((delta > 0).sum()), "down": int((delta < 0).sum())},
        examples={
            "added": sorted(added["id"])[:EXAMPLES],
            "removed": sorted(removed["id"])[:EXAMPLES],
            "updated": sorted(updated["id"])[:EXAMPLES],
        },
    )
    return out


def changelog(previous: Path | None, new: Path, clean: pd.DataFrame, version: str) -> dict[str, Any]:
    """The changelog of release folder ``new`` (version ``version``) against ``previous`` (None: first release,
    everything is added). ``clean``: ``drop_reason`` indexed by ``id`` for every record of the clean run ``new``
    was built from. Returns ``{"version", "previous", "configs": {config: {added, removed, updated, moved,
    removed_reasons, score_change, examples, by_source: {source: {added, removed, deleted, updated}},
    splits: {split: {added, removed, updated, removed_reasons}}}}}`` (``deleted``: removed as ``deleted_upstream``)."""
    prev_version = None
    if previous is not None:
        prev_version = previous.resolve().name
    out: dict[str, Any] = {"version": version, "previous": prev_version, "configs": {}}
    for config in (c.name for c in RELEASE_CONFIGS.values() if not c.grouped):
        old = release_rows(previous, config) if previous is not None else release_rows(new / "__none__", config)
        cur = release_rows(new, config)
        if old.empty and cur.empty:
            continue
        out["configs"][config] = _config_changes(old, cur, clean, config)
    return out


def grouped_changes(
    counts: dict[str, dict[str, int]], previous: dict[str, dict[str, int]] | None
) -> dict[str, dict[str, Any]]:
    """Rows per split of each grouped config (``setup_punches``, ``preference``) now and in the previous release
    (``counts``/``previous``: the manifests' ``counts``, config -> split -> rows; None: first release). Grouped rows
    have no stable id across releases (a setup gains punchlines, a pair's partner changes), so they are counted,
    not diffed: ``{config: {"splits": {split: {"rows", "previous"}}, "rows", "previous"}}``."""
    out: dict[str, dict[str, Any]] = {}
    for c in RELEASE_CONFIGS.values():
        now, before = counts.get(c.name, {}), (previous or {}).get(c.name, {})
        if not c.grouped or not (now or before):
            continue
        splits = {s: {"rows": now.get(s, 0), "previous": before.get(s, 0)} for s in SPLITS if s in now or s in before}
        out[c.name] = {"splits": splits, "rows": sum(now.values()), "previous": sum(before.values())}
    return out


def markdown(entry: dict[str, Any]) -> str:
    """One changelog entry as Markdown (a ``###`` heading per release, a table row per config and split; grouped
    configs (:func:`grouped_changes`) as row counts now and before)."""
    prev = entry["previous"]
    lines = [f"### {entry['version']}" + (f" (since {prev})" if prev else " (first release)"), ""]
    if not entry["configs"]:
        return "\n".join([*lines, "No record configs.", ""])
    lines += ["| config | split | added | removed | updated (score) |", "|---|---|---|---|---|"]
    for config, c in entry["configs"].items():
        for split, s in c["splits"].items():
            lines.append(f"| `{config}` | {split} | {s['added']:,} | {s['removed']:,} | {s['updated']:,} |")
    jokes = entry["configs"].get("jokes")
    for config, g in (entry.get("grouped") or {}).items():
        for split, n in g["splits"].items():
            lines.append(f"| `{config}` | {split} | rows: {n['rows']:,} (was {n['previous']:,}) | - | - |")
    if jokes and jokes["removed_reasons"]:
        reasons = ", ".join(f"{k} {v:,}" for k, v in jokes["removed_reasons"].items())
        lines += ["", f"Removed from `jokes`, by reason: {reasons}."]
    if jokes and jokes["updated"]:
        sc = jokes["score_change"]
        lines += [f"Score updates in `jokes`: {sc['up']:,} up, {sc['down']:,} down."]
    if entry.get("resplit"):
        lines += ["Splits were reassigned deliberately (`jokemine clean --resplit`): ids may have changed split."]
    if jokes and jokes["moved"]:
        lines += [f"Records whose split changed: {jokes['moved']:,}."]
    if entry.get("split_conflict"):
        lines += [
            f"Held out as `split_conflict` (new records joining ids published in different splits): "
            f"{entry['split_conflict']:,}."
        ]
    lines.append("")
    return "\n".join(lines)
