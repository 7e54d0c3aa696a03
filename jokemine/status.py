"""``jokemine status``: what is in raw/, clean/ and releases/, with counts, the last runs, the Hub push state and the
command to run next.

:func:`status_facts` gathers everything once, as plain data (what ``jokemine status --json`` prints);
:func:`status_lines` renders the same dict for the terminal. Nothing is created or written: ``state.sqlite`` is
opened read-only, and a data dir that does not exist is reported as empty.

The push state comes from ``state.sqlite``: the publish stage records every push attempt as a run of stage
``push`` (status ``pushed``, ``unchanged`` (tag already on the Hub) or ``failed``; stats ``repo_id``, ``version``,
an ``error`` when it failed, and ``commit_url`` where recorded). The tag of a pushed release is ``v<version>``
(:mod:`jokemine.publish.hub`).
"""

from __future__ import annotations

import json
import os
import re
from collections import defaultdict
from pathlib import Path
from typing import Any

from jokemine.config import Config
from jokemine.state import Layout, State

PUSHED = ("pushed", "unchanged")
"""Statuses of a ``push`` run after which the release is on the Hub under tag ``v<version>``."""

SECRET_ENV = ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "PRAW_CLIENT_ID", "PRAW_CLIENT_SECRET", "PRAW_PASSWORD",
              "PRAW_REFRESH_TOKEN")  # fmt: skip
"""Environment variables (any case) whose values never appear in the status output."""

UP_TO_DATE = "up to date"
"""``next_step_reason`` when there is nothing to do."""

RECENT_RELEASES = 5
"""Releases listed with their row counts (the newest ones)."""

RECENT_RUNS = 10
"""Runs listed under ``runs`` (the newest ones)."""

_URL_CREDENTIALS = re.compile(r"(?<=://)[^/\s:@]+:[^/\s@]+@")


def status_facts(cfg: Config, data_dir: Path) -> dict[str, Any]:
    """Everything ``jokemine status`` reports about ``data_dir``, as JSON-ready data (nothing is created or written).

    Keys: ``config`` (the config file, or None for the built-in defaults); ``data_dir``; ``raw``: ``records``
    (total), ``sources`` (``{name: {records, parts, runs}}``), ``frontiers`` (``{name: {status: count}}``, crawled
    sources only); ``clean``: None or ``{run, read, kept, dropped}`` of the latest clean run; ``releases``:
    ``count``, ``latest`` (version or None), ``versions`` (all, sorted), ``recent`` (the last
    :data:`RECENT_RELEASES`: ``[{version, counts: {config: {split: rows}}}]``), ``latest_clean_run`` (the clean run
    the latest release was built from); ``push``: ``repo_id`` (``[publish] repo_id`` or None), ``last`` (the last
    successful push to that repo, any repo when unset: ``{version, tag, repo_id, status, at, commit_url}``, or None),
    ``last_attempt`` (the newest push run whatever its outcome: ``{version, repo_id, status, at, error}``, or None),
    ``latest_release_pushed`` (bool; None without a release), ``pending`` (a repo is set and the latest release is
    not on it); ``runs``: the newest :data:`RECENT_RUNS` runs (``{run_id, stage, source, started_at, finished_at,
    status, stats}``, newest first); ``next_step``: the command to run next (``jokemine scrape``, ``jokemine clean``,
    ``jokemine publish``, ``jokemine publish --push``) or None when there is nothing to do; ``next_step_reason``: why.

    Times are ISO 8601 UTC strings. Values of the Hugging Face and Reddit credential variables
    (:data:`SECRET_ENV`, the stored Hugging Face login) and passwords in URLs are replaced by ``***``.
    Raises :class:`jokemine.errors.StateError` when ``state.sqlite`` exists but cannot be read."""
    layout = Layout(data_dir)
    facts: dict[str, Any] = {
        "config": str(cfg.config_path) if cfg.config_path else None,
        "data_dir": str(data_dir),
        "raw": {"records": 0, "sources": {}, "frontiers": {}},
        "clean": _clean(layout),
        "releases": _releases(layout),
        "push": {"repo_id": cfg.publish.repo_id, "last": None, "last_attempt": None},
        "runs": [],
    }
    clean_why: str | None = "no clean run yet"
    pushes: list[dict[str, Any]] = []
    if layout.state_path.exists():
        from jokemine.refresh import clean_needed

        with State(layout.state_path, readonly=True) as state:
            parts = state.raw_parts()
            facts["runs"] = state.runs(limit=RECENT_RUNS)
            frontiers = {s.name: state.frontier(s.name).counts() for s in cfg.sources}
            pushes = state.stage_runs("push")
            clean_why = clean_needed(cfg, layout, state) if parts else None
        per_source: dict[str, dict[str, int]] = defaultdict(lambda: {"records": 0, "parts": 0, "runs": 0})
        for p in parts:
            per_source[p.source]["records"] += p.records
            per_source[p.source]["parts"] += 1
        for source, _run in {(p.source, p.run_id) for p in parts}:
            per_source[source]["runs"] += 1
        facts["raw"] = {
            "records": sum(v["records"] for v in per_source.values()),
            "sources": dict(sorted(per_source.items())),
            "frontiers": {k: dict(sorted(v.items())) for k, v in sorted(frontiers.items()) if v},
        }
        facts["push"] |= _push_state(pushes, cfg.publish.repo_id)
    latest = facts["releases"]["latest"]
    facts["push"]["latest_release_pushed"] = (
        None if latest is None else release_pushed(pushes, cfg.publish.repo_id, latest)
    )
    facts["push"]["pending"] = bool(cfg.publish.repo_id and latest and not facts["push"]["latest_release_pushed"])
    facts["next_step"], facts["next_step_reason"] = _next_step(cfg, facts, clean_why)
    return _scrub(facts, _secrets())


def status_lines(cfg: Config, data_dir: Path) -> list[str]:
    """Human-readable status of ``data_dir``: the facts of :func:`status_facts`, one item per line."""
    f = status_facts(cfg, data_dir)
    out = [f"config: {f['config'] or '(built-in defaults)'}", f"data dir: {f['data_dir']}"]
    raw = f["raw"]
    if not raw["sources"]:
        out.append("raw: nothing scraped yet (run `jokemine scrape`)")
    else:
        out.append(f"raw: {raw['records']:,} records")
        for name, s in raw["sources"].items():
            out.append(f"  {name}: {s['records']:,} records in {s['parts']} parts from {s['runs']} runs")
        for name, counts in raw["frontiers"].items():
            out.append(f"  {name} frontier: " + ", ".join(f"{k} {v:,}" for k, v in counts.items()))
    c = f["clean"]
    if c:
        out.append(f"clean: {c['run']}: read {c['read']:,}, kept {c['kept']:,}, dropped {c['dropped']:,}")
    else:
        out.append("clean: none yet (run `jokemine clean`)")
    rel = f["releases"]
    out.append(f"releases: {rel['count']}" + (f", latest {rel['latest']}" if rel["latest"] else ""))
    for r in rel["recent"]:
        summary = "; ".join(f"{c} {sum(s.values()):,}" for c, s in r["counts"].items())
        out.append(f"  {r['version']}: {summary}")
    out.append(_push_line(f["push"], rel["latest"]))
    if f["runs"]:
        out.append("last runs:")
        for r in f["runs"]:
            what = r["stage"] + (f" {r['source']}" if r["source"] else "")
            detail = ""
            st = r["stats"]
            if r["stage"] == "refresh" and st:
                detail = f"  serving {st.get('version')}" + (
                    f", stale: {', '.join(st['stale'])}" if st.get("stale") else ""
                )
                detail += f", {st.get('seconds', 0):.0f} s" + (f"; {st['error']}" if st.get("error") else "")
            elif r["stage"] == "push" and st:
                detail = f"  {st.get('version') or '?'} -> {st.get('repo_id')}"
            out.append(f"  {r['started_at'][:19]}  {what:<24} {r['status']}{detail}")
    step, why = f["next_step"], f["next_step_reason"]
    out.append(
        f"next: {step}  ({why})" if step else f"next: nothing to do ({why})" if why == UP_TO_DATE else f"next: {why}"
    )
    return out


def _clean(layout: Layout) -> dict[str, Any] | None:
    latest = layout.clean_latest()
    if latest is None or not (latest / "stats.json").exists():
        return None
    t = json.loads((latest / "stats.json").read_text(encoding="utf-8"))["totals"]
    return {"run": latest.name, "read": t["read"], "kept": t["kept"], "dropped": t["dropped"]}


def _manifest(release: Path) -> dict[str, Any] | None:
    try:
        m = json.loads((release / "MANIFEST.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return m if isinstance(m, dict) else None


def _releases(layout: Layout) -> dict[str, Any]:
    dirs = (
        [p for p in layout.releases.iterdir() if p.is_dir() and not p.is_symlink() and not p.name.startswith(".")]
        if layout.releases.is_dir()
        else []
    )
    # oldest first by the manifest's created_at (version names sort wrongly: 2026.12.04.10 before .2)
    versions = [p.name for p in sorted(dirs, key=lambda p: ((_manifest(p) or {}).get("created_at") or "", p.name))]
    latest = layout.release_latest()
    recent = []
    for name in versions[-RECENT_RELEASES:]:
        m = _manifest(layout.releases / name)
        if m is not None:
            recent.append({"version": name, "counts": m.get("counts", {})})
    built_from = (_manifest(latest) or {}).get("clean_run") if latest else None
    return {
        "count": len(versions),
        "latest": latest.name if latest else None,
        "versions": versions,
        "recent": recent,
        "latest_clean_run": built_from,
    }


def release_pushed(pushes: list[dict[str, Any]], repo_id: str | None, version: str | None) -> bool:
    """Whether release ``version`` is on the Hub: some ``push`` run (``pushes``, rows of ``State.stage_runs``) to
    ``repo_id`` (any repo when None) ended :data:`PUSHED` with that version. A later failed push, or a later push of
    another release, does not take it off (its tag ``v<version>`` stays). The one rule ``status`` and ``refresh``
    share."""
    return version is not None and any(
        p["status"] in PUSHED
        and p["stats"].get("version") == version
        and (repo_id is None or p["stats"].get("repo_id") == repo_id)
        for p in pushes
    )


def _push_state(pushes: list[dict[str, Any]], repo_id: str | None) -> dict[str, Any]:
    ok = [p for p in pushes if p["status"] in PUSHED and (repo_id is None or p["stats"].get("repo_id") == repo_id)]
    last = None
    if ok:
        p = ok[0]
        version = p["stats"].get("version")
        last = {
            "version": version,
            "tag": f"v{version}" if version else None,
            "repo_id": p["stats"].get("repo_id"),
            "status": p["status"],
            "at": p["finished_at"] or p["started_at"],
            "commit_url": p["stats"].get("commit_url"),
        }
    attempt = None
    if pushes:
        p = pushes[0]
        attempt = {
            "version": p["stats"].get("version"),
            "repo_id": p["stats"].get("repo_id"),
            "status": p["status"],
            "at": p["finished_at"] or p["started_at"],
            "error": p["stats"].get("error"),
        }
    return {"last": last, "last_attempt": attempt}


def _next_step(cfg: Config, f: dict[str, Any], clean_why: str | None) -> tuple[str | None, str]:
    """The command to run next and why (None: nothing to do)."""
    if not f["raw"]["sources"]:
        if not cfg.enabled_sources():
            return None, "add an enabled [[sources]] entry to the config (README 'Use your own dumps')"
        return "jokemine scrape", "nothing scraped yet"
    if clean_why:
        return "jokemine clean", clean_why
    rel = f["releases"]
    clean = f["clean"]
    if rel["latest"] is None:
        return "jokemine publish", "no release yet"
    if clean and rel["latest_clean_run"] != clean["run"]:
        return "jokemine publish", f"clean run {clean['run']} is newer than release {rel['latest']}"
    if f["push"]["pending"]:
        return "jokemine publish --push", f"release {rel['latest']} is not on the Hub repo {cfg.publish.repo_id}"
    return None, UP_TO_DATE


def _push_line(push: dict[str, Any], latest: str | None) -> str:
    last, attempt, repo = push["last"], push["last_attempt"], push["repo_id"]
    done = (
        f"last push: {last['version']} (tag {last['tag']}) to {last['repo_id']} at {last['at'][:19]}"
        + (f", {last['commit_url']}" if last["commit_url"] else "")
        if last
        else "never pushed"
    )
    if attempt and attempt["status"] not in PUSHED:
        done += f"; the last attempt ({attempt['version'] or '?'}, {attempt['at'][:19]}) {attempt['status']}" + (
            f": {attempt['error']}" if attempt["error"] else ""
        )
    if not repo:
        return f"hub: no [publish] repo_id (local releases only); {done}"
    if latest is None:
        return f"hub: {repo}: no release yet; {done}"
    state = "pushed" if push["latest_release_pushed"] else "NOT pushed"
    return f"hub: {repo}: latest release {latest} {state}; {done}"


def _secrets() -> list[str]:
    """Credential values that must never be printed (longest first, so that none is left half-replaced)."""
    found = {v.strip() for k, v in os.environ.items() if k.upper() in SECRET_ENV and v.strip()}
    try:
        from huggingface_hub import get_token

        stored = get_token()
    except Exception:  # no huggingface_hub, an unreadable token file: nothing stored to hide
        stored = None
    if stored:
        found.add(stored.strip())
    return sorted((s for s in found if len(s) >= 4), key=len, reverse=True)


def _scrub(value: Any, secrets: list[str]) -> Any:
    """``value`` with every secret and every URL password replaced by ``***`` (strings inside dicts and lists)."""
    if isinstance(value, str):
        for s in secrets:
            value = value.replace(s, "***")
        return _URL_CREDENTIALS.sub("***@", value)
    if isinstance(value, dict):
        return {k: _scrub(v, secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [_scrub(v, secrets) for v in value]
    return value


__all__ = ["PUSHED", "status_facts", "status_lines"]
