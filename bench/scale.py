"""Benchmark: clean at scale, staged executors vs the in-memory clean of the previous design, in one run.

Corpus: the real r/Jokes dump (91,484 posts) replicated to each size in ``--rows`` (default 1M and 4M); the
originals stay, every added copy gets a new id and 1-3 random small edits of its body (``_edit`` of
bench/dedup_vs_datatrove.py: a character deleted or replaced, two words swapped, a word dropped or repeated, a case
change, trailing punctuation, a framing phrase), seed 0. Written as NDJSON and scraped once per size as a
``reddit_dump`` source (``part_records = 50000``).

Contenders, each `python -m jokemine clean` in its own process (wall time; RSS of the driver and of each worker,
sampled every 250 ms with psutil and attributed to the stage running at that moment, from ``stats.json``):

* ``local``: ``--executor local --workers W``;
* ``dask``: ``--executor dask --workers W`` (a LocalCluster; the driver's own RSS and each worker's);
* ``in-memory``: the previous design's clean (one pandas frame in the driver for the global step), run from a git
  worktree of ``--baseline`` (default 682f379, the last commit before the staged design) at the smallest size.

Reported: per size and contender the wall time, peak driver RSS, peak worker RSS, per stage; the ratio of the
staged local clean to the in-memory one at the smallest size (target <= 1.2); the scaling exponent of wall time
log(t_max / t_min) / log(n_max / n_min) (target <= 1.1); memory targets: worker <= 1.5 GB, driver <= 2 GB.
Writes the "Clean at scale" section of bench/RESULTS.md. Usage:
python bench/scale.py [--rows 1000000 4000000] [--workers 2] [--executors local dask] [--keep DIR [--reuse]]

With ``--keep DIR`` each finished measurement is also saved to ``DIR/results.json`` (with its commit and date), and
``--reuse`` skips every (size, contender) already measured there at the current commit (and the corpus build and
scrape of a size whose ``data/raw`` is kept), so a long run can be finished in several sittings.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import io
import json
import math
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import psutil
import zstandard

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from dedup_vs_datatrove import _edit  # noqa: E402
from pipeline import machine, update_results  # noqa: E402

DUMP = REPO.parent / "shared" / "data" / "real" / "kampta-reddit-jokes" / "r_jokes_submissions.ndjson.zst"
HEADING = "## Clean at scale (bench/scale.py)"


def build_corpus(rows: int, out: Path) -> Path:
    """The dump replicated to ``rows`` posts as NDJSON (see the module docstring)."""
    with open(DUMP, "rb") as fh:
        text = zstandard.ZstdDecompressor().stream_reader(fh).read().decode("utf-8")
    posts = [json.loads(line) for line in text.split("\n") if line.strip()]  # U+2028 occurs inside posts
    rng = np.random.default_rng(0)
    path = out / f"jokes-{rows}.ndjson"
    with open(path, "w", encoding="utf-8") as fh:
        for p in posts:
            fh.write(json.dumps(p) + "\n")
        for n, i in enumerate(rng.integers(0, len(posts), size=max(rows - len(posts), 0)).tolist()):
            p = dict(posts[i])
            p["id"] = f"x{n:x}"
            if isinstance(p.get("selftext"), str) and p["selftext"].strip():
                p["selftext"] = _edit(p["selftext"], rng)
            else:
                p["title"] = _edit(str(p.get("title", "")), rng)
            fh.write(json.dumps(p) + "\n")
    return path


def write_config(folder: Path, corpus: Path) -> Path:
    cfg = folder / "scale.toml"
    cfg.write_text(
        f"""[paths]
data_dir = "data"
[scrape]
part_records = 50000
[[sources]]
name = "rjokes"
kind = "reddit_dump"
path = "{corpus}"
[clean]
author_salt = "bench"
"""
    )
    return cfg


def measured(cmd: list[str], cwd: Path) -> dict[str, Any]:
    """Run ``cmd``; wall seconds and (time, driver RSS, per-worker RSS) samples every 250 ms."""
    t0 = time.time()
    proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    samples: list[tuple[float, int, list[int]]] = []
    stop = threading.Event()

    def sample() -> None:
        root = psutil.Process(proc.pid)
        while not stop.is_set():
            try:
                driver = root.memory_info().rss
                kids = []
                for p in root.children(recursive=True):
                    with contextlib.suppress(psutil.NoSuchProcess):
                        kids.append(p.memory_info().rss)
                samples.append((time.time(), driver, kids))
            except psutil.NoSuchProcess:
                break
            time.sleep(0.25)

    th = threading.Thread(target=sample, daemon=True)
    th.start()
    out, err = proc.communicate()
    stop.set()
    th.join()
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{err[-3000:]}")
    return {"wall": time.time() - t0, "samples": samples, "stdout": out}


def per_stage(
    samples: list[tuple[float, int, list[int]]], stats: dict[str, Any]
) -> list[tuple[str, float, float, float]]:
    """(stage, seconds, peak driver MiB, peak worker MiB) from the samples and the stages' start times."""
    stages = sorted(stats.get("stages", {}).items(), key=lambda kv: kv[1]["started"])
    out = []
    for name, s in stages:
        lo, hi = s["started"], s["started"] + s["seconds"]
        inside = [x for x in samples if lo <= x[0] <= hi]
        d = max((x[1] for x in inside), default=0) / 2**20
        w = max((max(x[2], default=0) for x in inside), default=0) / 2**20
        out.append((name, s["seconds"], d, w))
    return out


def clean_run(python: str, cwd: Path, config: Path, data: Path, args: list[str]) -> dict[str, Any]:
    """One measured clean: wall s, peak driver and worker MiB, rows kept, per-stage rows, commit and date."""
    shutil.rmtree(data / "clean", ignore_errors=True)
    r = measured([python, "-m", "jokemine", "--config", str(config), "--data-dir", str(data), "clean", *args], cwd)
    run = (data / "clean" / "latest").resolve()
    stats = json.loads((run / "stats.json").read_text())
    return {
        "wall": r["wall"],
        "driver_mib": max((x[1] for x in r["samples"]), default=0) / 2**20,
        "worker_mib": max((max(x[2], default=0) for x in r["samples"]), default=0) / 2**20,
        "kept": stats["totals"]["kept"],
        "stages": per_stage(r["samples"], stats) if "stages" in stats else [],
        "commit": commit_of(cwd),
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }


def commit_of(tree: Path) -> str:
    """Short commit of the checkout ``tree``."""
    out = subprocess.run(["git", "-C", str(tree), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    return out.stdout.strip()


def load_results(path: Path) -> dict[int, dict[str, dict[str, Any]]]:
    """Measurements saved by an earlier sitting (``{}`` when none)."""
    if not path.exists():
        return {}
    return {int(k): v for k, v in json.loads(path.read_text()).items()}


def baseline_tree(commit: str, where: Path) -> Path:
    tree = where / f"baseline-{commit}"
    if not tree.exists():
        subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", str(tree), commit], check=True,
                       capture_output=True)  # fmt: skip
    return tree


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 4_000_000])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--executors", nargs="+", default=["local", "dask"])
    ap.add_argument("--baseline", default="682f379")
    ap.add_argument("--no-baseline", action="store_true")
    ap.add_argument("--keep", type=Path)
    ap.add_argument("--reuse", action="store_true", help="skip what DIR/results.json holds for this commit")
    a = ap.parse_args()
    work = a.keep or Path(tempfile.mkdtemp(prefix="jokemine-scale-"))
    work.mkdir(parents=True, exist_ok=True)
    py = sys.executable
    saved = work / "results.json"
    results: dict[int, dict[str, dict[str, Any]]] = {}
    earlier = load_results(saved) if a.reuse else {}
    head = commit_of(REPO)
    try:
        for rows in sorted(a.rows):
            folder = work / str(rows)
            folder.mkdir(exist_ok=True)
            data = folder / "data"
            wanted = [*a.executors, *([] if a.no_baseline or rows != min(a.rows) else ["in-memory"])]
            results[rows] = {}
            for name in wanted:
                old = earlier.get(rows, {}).get(name)
                if old is not None and (name == "in-memory" or old["commit"] == head):
                    results[rows][name] = old
                    print(rows, name, f"{old['wall']:.1f} s (measured earlier at {old['commit']}, {old['date']})")
            for name, old in earlier.get(rows, {}).items():  # other contenders measured earlier at this commit
                if name not in results[rows] and (name == "in-memory" or old["commit"] == head):
                    results[rows][name] = old
            todo = [n for n in wanted if n not in results[rows]]
            if not todo:
                continue
            corpus = folder / f"jokes-{rows}.ndjson"
            config = write_config(folder, corpus)
            if not (a.reuse and (data / "raw").is_dir()):
                corpus = build_corpus(rows, folder)
                subprocess.run([py, "-m", "jokemine", "--config", str(config), "scrape"], cwd=REPO, check=True,
                               capture_output=True)  # fmt: skip
            for ex in todo:
                if ex == "in-memory":
                    tree = baseline_tree(a.baseline, work)
                    try:
                        results[rows][ex] = clean_run(py, tree, config, data, ["--workers", str(a.workers)])
                    except SystemExit as e:  # the peer failing (e.g. out of memory) is a result, not a crash
                        print(rows, "in-memory failed:", str(e)[-500:], flush=True)
                        continue
                else:
                    results[rows][ex] = clean_run(
                        py, REPO, config, data, ["--executor", ex, "--workers", str(a.workers)]
                    )
                print(rows, ex, f"{results[rows][ex]['wall']:.1f} s", flush=True)
                if a.keep:
                    merged = {**earlier, **{k: {**earlier.get(k, {}), **v} for k, v in results.items()}}
                    saved.write_text(json.dumps(merged, indent=1))
            (work / "partial.md").write_text(report(results, a))  # survives a crash in a later size
            corpus.unlink(missing_ok=True)
    finally:
        if not a.keep:
            shutil.rmtree(work, ignore_errors=True)
    section = report(results, a)
    print(section)
    update_results(HEADING, section)


def report(results: dict[int, dict[str, dict[str, Any]]], a: argparse.Namespace) -> str:
    buf = io.StringIO()
    w = buf.write
    w(f"{HEADING}\n\n{machine()}; {dt.date.today().isoformat()}; {a.workers} workers.\n\n")
    w("| rows | contender | wall s | peak driver RSS MiB | peak worker RSS MiB | kept | commit | measured |\n")
    w("|---|---|---|---|---|---|---|---|\n")
    for rows, by in results.items():
        for name, r in by.items():
            w(f"| {rows:,} | {name} | {r['wall']:.1f} | {r['driver_mib']:.0f} | {r['worker_mib']:.0f} | {r['kept']:,} "
              f"| {r['commit']} | {r['date']} |\n")  # fmt: skip
    lo, hi = min(results), max(results)
    for ex in sorted({n for by in results.values() for n in by} - {"in-memory"}):
        if lo != hi and ex in results[lo] and ex in results[hi]:
            k = math.log(results[hi][ex]["wall"] / results[lo][ex]["wall"]) / math.log(hi / lo)
            w(f"\nScaling exponent of wall time, {ex}, {lo:,} -> {hi:,} rows: {k:.2f} (target <= 1.1).\n")
    if "in-memory" in results[lo] and "local" in results[lo]:
        ratio = results[lo]["local"]["wall"] / results[lo]["in-memory"]["wall"]
        w(f"\nStaged local / in-memory clean at {lo:,} rows: {ratio:.2f}x wall (target <= 1.2).\n")
    for rows, by in results.items():
        for name, r in by.items():
            if not r["stages"]:
                continue
            w(f"\n{rows:,} rows, {name}, per stage:\n\n| stage | s | driver MiB | worker MiB |\n|---|---|---|---|\n")
            for stage, s, d, wk in r["stages"]:
                w(f"| {stage} | {s:.1f} | {d:.0f} | {wk:.0f} |\n")
    return buf.getvalue()


if __name__ == "__main__":
    main()
