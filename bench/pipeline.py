"""Benchmark: scrape + clean + publish of a real configuration (default configs/real-offline.toml).

Measures wall time, records/s and peak memory (PSS summed over the process tree, sampled every 250 ms with
psutil) of each stage run as `python -m jokemine ...`, and, in the same run, two peers:

* language ID: the default fastText model vs langdetect on the same real texts (ms/text, and how often they
  agree);
* clean with one worker vs all cores.

Writes the "Pipeline" section of bench/RESULTS.md (machine and date included) and prints it.
Usage: python bench/pipeline.py [--config PATH] [--keep DIR]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = psutil.virtual_memory().total / 2**30
    return (
        f"{cpu}, {len(os.sched_getaffinity(0))} cores, {mem:.0f} GiB RAM, Python {platform.python_version()}, "
        f"{platform.system()} {platform.release()}"
    )


def update_results(heading: str, section: str) -> None:
    """Replace the section of bench/RESULTS.md that starts with ``heading`` (or append it)."""
    results = REPO / "bench" / "RESULTS.md"
    text = results.read_text() if results.exists() else "# Benchmark results\n\n"
    start = text.find(heading)
    if start >= 0:
        end = text.find("\n## ", start + 1)
        text = text[:start] + section + (text[end + 1 :] if end >= 0 else "")
    else:
        text = text.rstrip() + "\n\n" + section
    results.write_text(text)


def run_measured(cmd: list[str]) -> tuple[float, float, float, str]:
    """(wall seconds, peak PSS of the whole process tree in MiB, peak RSS of its largest process in MiB, stdout).

    PSS (proportional set size) shares each page among the processes that map it, so the sum over a fork-based
    process pool counts shared pages once; summing RSS would count them once per worker."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak = peak_one = 0
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak, peak_one
        try:
            root = psutil.Process(proc.pid)
        except psutil.NoSuchProcess:
            return
        while not stop.is_set():
            total = 0
            try:
                for p in [root, *root.children(recursive=True)]:
                    try:
                        info = p.memory_full_info()
                        total += info.pss
                        peak_one = max(peak_one, info.rss)
                    except (psutil.NoSuchProcess, psutil.AccessDenied):
                        pass
            except psutil.NoSuchProcess:
                break
            peak = max(peak, total)
            time.sleep(0.25)  # reading PSS costs CPU: sample sparsely so the measured run is not slowed

    th = threading.Thread(target=sample, daemon=True)
    th.start()
    out, err = proc.communicate()
    stop.set()
    th.join()
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{err[-2000:]}")
    return wall, peak / 2**20, peak_one / 2**20, out


def langid_peer(data: Path, n: int = 3000) -> dict[str, float]:
    """The default language ID ([clean] langid, fastText) vs langdetect on ``n`` kept texts of the run: ms/text
    each and how often they agree."""
    import pyarrow.parquet as pq

    from jokemine.cleaning.langid import detect_batch, warm_up
    from jokemine.config import CleanConfig

    cfg = CleanConfig()
    for backend in ("fasttext", "langdetect"):
        warm_up(backend)
    clean = (data / "clean" / "latest").resolve()
    table = pq.ParquetDataset(sorted(clean.glob("part-*.parquet"))).read(columns=["text", "drop_reason"])
    df = table.to_pandas()
    texts = df[df.drop_reason.isna()].text.sample(n, random_state=0).tolist()
    t0 = time.perf_counter()
    ours = detect_batch(texts, cfg.langid_chars, cfg.langid, cfg.languages, cfg.langid_prefer)
    t_ours = time.perf_counter() - t0
    t0 = time.perf_counter()
    plain = detect_batch(texts, cfg.langid_chars, "langdetect")
    t_plain = time.perf_counter() - t0
    return {
        "n": n,
        "plain_ms": 1000 * t_plain / n,
        "ours_ms": 1000 * t_ours / n,
        "agree": sum(a == b for a, b in zip(ours, plain, strict=True)) / n,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default=str(REPO / "configs" / "real-offline.toml"))
    ap.add_argument("--keep", help="data dir to use and keep (default: a temporary one)")
    args = ap.parse_args()
    data = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="jokemine-bench-"))
    base = [sys.executable, "-m", "jokemine", "--config", args.config, "--data-dir", str(data)]
    rows = []
    scrape_s, scrape_mb, scrape_one, out = run_measured([*base, "scrape"])
    n_raw = sum(int(m) for m in re.findall(r": \w+: (\d+) records stored", out))
    rows.append(("scrape", scrape_s, scrape_mb, scrape_one, n_raw))
    clean_s, clean_mb, clean_one, _ = run_measured([*base, "clean"])
    stats = json.loads(((data / "clean" / "latest").resolve() / "stats.json").read_text())
    rows.append(("clean", clean_s, clean_mb, clean_one, stats["totals"]["read"]))
    shutil.rmtree(data / "clean" / "cache", ignore_errors=True)  # the peer must not reuse the pass-1 cache
    clean1_s, clean1_mb, _, _ = run_measured([*base, "clean", "--workers", "1"])
    publish_s, publish_mb, publish_one, _ = run_measured([*base, "publish", "--version", "bench"])
    kept = stats["totals"]["kept"]
    rows.append(("publish", publish_s, publish_mb, publish_one, kept))
    lid = langid_peer(data)
    timing = stats["timing_s"]
    date = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        "## Pipeline: scrape + clean + publish (real-offline)",
        "",
        f"Run {date} on {machine()}. Command: `make bench` (`python bench/pipeline.py`), config "
        f"`{Path(args.config).relative_to(REPO) if Path(args.config).is_relative_to(REPO) else args.config}`.",
        "",
        "| stage | wall s | records | records/s | peak memory, whole process tree (PSS) MiB | "
        "peak RSS, largest process MiB |",
        "|---|---|---|---|---|---|",
    ]
    for name, s, mb, one, n in rows:
        lines.append(f"| {name} | {s:.1f} | {n:,} | {n / s:,.0f} | {mb:,.0f} | {one:,.0f} |")
    lines += [
        "",
        "Clean breakdown (stage wall seconds from stats.json): "
        + ", ".join(f"{k} {v:.1f}" for k, v in timing.items() if k != "total_s" and v >= 0.1)
        + "; "
        f"{stats['steps'].get('langid', {}).get('in', 0):,} texts language-identified; "
        f"{kept:,} records kept.",
        f"Peer, same run: clean with 1 worker took {clean1_s:.1f} s ({clean1_mb:,.0f} MiB) vs "
        f"{clean_s:.1f} s with all cores: {clean1_s / clean_s:.2f}x.",
        f"Peer, same run, {lid['n']:,} kept texts: language ID with the default fastText model "
        f"{lid['ours_ms']:.3f} ms/text, langdetect {lid['plain_ms']:.3f} ms/text "
        f"({lid['plain_ms'] / lid['ours_ms']:.0f}x slower); same language on {100 * lid['agree']:.1f}% of texts "
        "(accuracy of both on labeled texts: the Language ID section).",
        "Targets (issue 2): clean <= 60 s wall, peak memory <= 1.5 GB (1,430 MiB).",
        "",
    ]
    section = "\n".join(lines)
    update_results("## Pipeline:", section)
    print(section)


if __name__ == "__main__":
    main()
