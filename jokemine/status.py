"""``jokemine status``: what is in raw/, clean/ and releases/, with counts, and the last runs."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

from jokemine.config import Config
from jokemine.state import Layout, State


def status_lines(cfg: Config, data_dir: Path) -> list[str]:
    """Human-readable status of ``data_dir`` (nothing is created when it does not exist)."""
    layout = Layout(data_dir)
    out = [f"config: {cfg.config_path or '(built-in defaults)'}", f"data dir: {data_dir}"]
    if not layout.state_path.exists():
        return [*out, "raw: nothing scraped yet (run `jokemine scrape`)"]
    with State(layout.state_path, readonly=True) as state:
        parts = state.raw_parts()
        runs = state.runs(limit=10)
        frontiers = {s.name: state.frontier(s.name).counts() for s in cfg.sources}
    per_source: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for p in parts:
        acc = per_source[p.source]
        acc[0] += p.records
        acc[1] += 1
    for source, _run in {(p.source, p.run_id) for p in parts}:
        per_source[source][2] += 1
    out.append(f"raw: {sum(v[0] for v in per_source.values()):,} records")
    for name, (records, n_parts, n_runs) in sorted(per_source.items()):
        out.append(f"  {name}: {records:,} records in {n_parts} parts from {n_runs} runs")
    for name, counts in sorted(frontiers.items()):
        if counts:
            out.append(f"  {name} frontier: " + ", ".join(f"{k} {v:,}" for k, v in sorted(counts.items())))
    latest = layout.clean_latest()
    if latest and (latest / "stats.json").exists():
        t = json.loads((latest / "stats.json").read_text(encoding="utf-8"))["totals"]
        out.append(f"clean: {latest.name}: read {t['read']:,}, kept {t['kept']:,}, dropped {t['dropped']:,}")
    else:
        out.append("clean: none yet (run `jokemine clean`)")
    releases = (
        sorted(
            p.name
            for p in layout.releases.iterdir()
            if p.is_dir() and not p.is_symlink() and not p.name.startswith(".")
        )
        if layout.releases.is_dir()
        else []
    )
    rel_latest = layout.release_latest()
    out.append(f"releases: {len(releases)}" + (f", latest {rel_latest.name}" if rel_latest else ""))
    for name in releases[-5:]:
        manifest = layout.releases / name / "MANIFEST.json"
        if manifest.exists():
            counts = json.loads(manifest.read_text(encoding="utf-8"))["counts"]
            summary = "; ".join(f"{c} {sum(s.values()):,}" for c, s in counts.items())
            out.append(f"  {name}: {summary}")
    if runs:
        out.append("last runs:")
        for r in runs:
            what = r["stage"] + (f" {r['source']}" if r["source"] else "")
            detail = ""
            if r["stage"] == "refresh" and r["stats"]:
                st = r["stats"]
                detail = f"  serving {st.get('version')}" + (
                    f", stale: {', '.join(st['stale'])}" if st.get("stale") else ""
                )
                detail += f", {st.get('seconds', 0):.0f} s" + (f"; {st['error']}" if st.get("error") else "")
            out.append(f"  {r['started_at'][:19]}  {what:<24} {r['status']}{detail}")
    return out
