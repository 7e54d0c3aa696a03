"""Benchmark: ``jokemine refresh`` on the real data. A full rebuild (empty data dir), a refresh with nothing new, and
a typical nightly delta (1% new rows), each a fresh ``jokemine refresh`` process, in the same run.

Config: configs/real-offline.toml (nine real sources, 185,900 records) plus a ``delta`` table source whose CSV
starts with one joke and then receives 1% of the kept rows as new jokes (real jokes from
shared/data/extra/short-jokes-dataset/funjokes.csv, not in the other sources). File sources make no HTTP requests;
the loopback tests count requests of the live sources. Targets: a no-change refresh costs <= 10% of a full
rebuild's wall time (issue 9); a nightly 1% delta <= 10%, and the bytes a Hub push of its release uploads <= 5% of
the release's bytes (issue 18): the Hub stores files in Xet storage, which deduplicates content-defined chunks of
about 64 KiB, so a push sends only chunks the previous release lacks; measured with FastCDC at Xet's chunk sizes
(``fastcdc``, the ``bench`` extra), and also as whole changed files. ``--rows N``: the same on
bench/scale.py's replicated corpus of N rows, with a delta of 1% new posts and 0.1% deleted ones appended to its
dump. Writes its section of bench/RESULTS.md. Usage: python bench/refresh.py [--rows 1000000]
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "bench"))

from pipeline import machine, update_results  # noqa: E402

SHARED = REPO.parent / "shared"
JOKES = SHARED / "data" / "extra" / "short-jokes-dataset" / "funjokes.csv"


def refresh(config: Path, data: Path) -> tuple[float, int, str]:
    t0 = time.perf_counter()
    r = subprocess.run(
        [sys.executable, "-m", "jokemine", "--config", str(config), "--data-dir", str(data), "refresh", "--no-push"],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    wall = time.perf_counter() - t0
    if r.returncode not in (0, 10):
        raise SystemExit(f"refresh failed ({r.returncode}):\n{r.stdout}\n{r.stderr[-3000:]}")
    return wall, r.returncode, r.stdout


def write_delta(path: Path, n: int) -> None:
    with open(JOKES, encoding="utf-8") as fh:
        rows = [r for r in csv.DictReader(fh)][: max(1, n)]
    with open(path, "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["ID", "Joke"])
        w.writerows([r["ID"], r["Joke"]] for r in rows)


def release_dir(data: Path) -> Path:
    return (data / "releases" / "latest").resolve()


def changed_bytes(old: Path, new: Path) -> tuple[int, int, int, int]:
    """``(bytes, files)`` of release ``new`` that a push after release ``old`` uploads (data files whose path and
    sha256 are not in ``old``'s MANIFEST, and every other file: card, manifest, changelog, report), and ``(bytes,
    files)`` of the whole release."""
    same = {(f["path"], f["sha256"]) for f in json.loads((old / "MANIFEST.json").read_text())["files"]}
    listed = {f["path"]: f["sha256"] for f in json.loads((new / "MANIFEST.json").read_text())["files"]}
    up = up_files = total = files = 0
    for f in sorted(p for p in new.rglob("*") if p.is_file()):
        rel = f.relative_to(new).as_posix()
        size = f.stat().st_size
        total, files = total + size, files + 1
        if (rel, listed.get(rel)) not in same:
            up, up_files = up + size, up_files + 1
    return up, up_files, total, files


XET_CHUNK = {"min_size": 8 * 1024, "avg_size": 64 * 1024, "max_size": 128 * 1024}
"""Chunk sizes of the Hub's Xet storage (https://huggingface.co/docs/hub/storage-backends#xet: content-defined
chunks of about 64 KiB, 8-128 KiB)."""


def _chunks(path: Path) -> list[tuple[bytes, int]]:
    """``(sha256, length)`` of each content-defined chunk of ``path`` (FastCDC, https://www.usenix.org/conference/
    atc16/technical-sessions/presentation/xia, with Xet's sizes; Xet cuts with its own gear hash, so this is an
    estimate of its chunks, not a copy)."""
    import hashlib

    from fastcdc import fastcdc

    return [(c.hash, c.length) for c in fastcdc(str(path), hf=hashlib.sha256, **XET_CHUNK)]


def new_chunk_bytes(old: Path, new: Path) -> int:
    """Bytes of release ``new`` in chunks that neither release ``old`` nor an earlier file of ``new`` holds: what a
    push to Xet storage uploads after ``old`` was pushed (content-defined chunks deduplicated by hash)."""
    known = {h for f in old.rglob("*") if f.is_file() for h, _ in _chunks(f)}
    up = 0
    for f in sorted(p for p in new.rglob("*") if p.is_file()):
        for h, n in _chunks(f):
            if h not in known:
                known.add(h)
                up += n
    return up


def clean_stages(data: Path) -> tuple[str, list[tuple[str, float]]]:
    """The latest clean's near-duplicate search (``full``/``incremental``) and its slowest stages."""
    run = (data / "clean" / "latest").resolve()
    stages = json.loads((run / "stats.json").read_text()).get("stages", {})
    search = json.loads((run / "dedup.json").read_text())["near"].get("search", "full")
    top = sorted(((k, float(v["seconds"])) for k, v in stages.items()), key=lambda kv: -kv[1])[:6]
    return search, top


def phases(data: Path) -> dict[str, float]:
    """Seconds of the latest refresh's phases from its run log (``logs/refresh-<run>.jsonl``): ``scrape`` (start to
    the ``clean`` event), ``clean`` (to ``cleaned``), ``publish`` (``publish`` to ``published``)."""
    path = max((data / "logs").glob("refresh-*.jsonl"), key=lambda p: p.stat().st_mtime)
    at: dict[str, float] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        rec = json.loads(line)
        at.setdefault(rec.get("event", ""), dt.datetime.fromisoformat(rec["ts"]).timestamp())
    out = {}
    for name, a, b in (
        ("scrape", "start", "clean"),
        ("clean", "clean", "cleaned"),
        ("publish", "publish", "published"),
    ):
        if a in at and b in at:
            out[name] = at[b] - at[a]
    return out


def real_config(tmp_path: Path, delta: Path) -> Path:
    text = (REPO / "configs" / "real-offline.toml").read_text(encoding="utf-8")
    text = text.replace("../../shared/", f"{SHARED}/")
    text = text.replace(
        "[clean]",
        f'[[sources]]\nname = "delta"\nkind = "table"\npath = "{delta}"\n'
        'columns = { id = "ID", text = "Joke" }\nlang = "en"\n\n[clean]',
        1,
    )
    config = tmp_path / "bench.toml"
    config.write_text(text, encoding="utf-8")
    return config


def append_scale_delta(corpus: Path, rows: int) -> tuple[int, int]:
    """Append a nightly delta to the replicated dump: 1% of ``rows`` new posts (edited copies with new ids, as
    bench/scale.py makes them) and 0.1% re-reads of existing posts as ``[deleted]``; returns (new, deleted)."""
    import numpy as np
    from scale import _edit

    with open(corpus, encoding="utf-8") as fh:
        posts = [json.loads(line) for line in fh]
    rng = np.random.default_rng(1)
    new, gone = rows // 100, rows // 1000
    with open(corpus, "a", encoding="utf-8") as fh:
        for n, i in enumerate(rng.integers(0, len(posts), size=new).tolist()):
            p = dict(posts[i], id=f"d{n:x}")
            if isinstance(p.get("selftext"), str) and p["selftext"].strip():
                p["selftext"] = _edit(p["selftext"], rng)
            else:
                p["title"] = _edit(str(p.get("title", "")), rng)
            fh.write(json.dumps(p) + "\n")
        for i in rng.choice(len(posts), size=gone, replace=False).tolist():
            fh.write(json.dumps(dict(posts[i], selftext="[deleted]")) + "\n")
    return new, gone


def main() -> None:
    import argparse

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=0, help="0: the real data; N: bench/scale.py's corpus of N rows")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="jokemine-bench-refresh-") as tmp:
        tmp_path = Path(tmp)
        data = tmp_path / "data"
        if a.rows:
            from scale import build_corpus, write_config

            corpus = build_corpus(a.rows, tmp_path)
            config = write_config(tmp_path, corpus)
            config.write_text(config.read_text().replace('data_dir = "data"', f'data_dir = "{data}"'))
        else:
            delta = tmp_path / "delta.csv"
            write_delta(delta, 1)
            config = real_config(tmp_path, delta)
        full, code_full, _ = refresh(config, data)
        full_release = release_dir(data)
        _, full_top = clean_stages(data)
        full_phases = phases(data)
        kept = json.loads(((data / "clean" / "latest").resolve() / "stats.json").read_text())["totals"]["kept"]
        none1, code_none1, out_none = refresh(config, data)
        none2, _, _ = refresh(config, data)
        if a.rows:
            n_new, n_gone = append_scale_delta(corpus, a.rows)
            what = f"{n_new:,} new posts (1% of rows) and {n_gone:,} deleted"
        else:
            n_new = round(kept * 0.01)
            write_delta(delta, n_new)
            what = f"{n_new:,} new jokes (1% of kept)"
        nightly, code_delta, out_delta = refresh(config, data)
        search, delta_top = clean_stages(data)
        delta_phases = phases(data)
        entry = json.loads((release_dir(data) / "CHANGELOG.json").read_text())
        added = entry["configs"]["jokes"]["added"]
        up, up_files, total, files = changed_bytes(full_release, release_dir(data))
        chunk_up = new_chunk_bytes(full_release, release_dir(data))
    no_change = min(none1, none2)
    corpus_name = (
        f"bench/scale.py's corpus of {a.rows:,} rows (one `reddit_dump` source)"
        if a.rows
        else "configs/real-offline.toml (nine real sources) + a `delta` table source"
    )
    lines = [
        f"## Nightly refresh (bench/refresh.py{f' --rows {a.rows}' if a.rows else ''})",
        "",
        f"Run {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC on {machine()}. Config: {corpus_name}; each row is "
        "one `jokemine refresh --no-push` process. File sources make no HTTP requests.",
        "",
        "| refresh | exit code | wall s | vs full rebuild |",
        "|---|---|---|---|",
        f"| full rebuild (empty data dir): scrape + clean + publish, {kept:,} kept | {code_full} | {full:.1f} | 1.00 |",
        f"| no change (best of 2: {none1:.1f} s, {none2:.1f} s): scrape finds nothing, clean and publish skipped | "
        f"{code_none1} | {no_change:.1f} | {no_change / full:.3f} |",
        f"| nightly delta: {what}, {added:,} added to `jokes`; near-duplicate search {search} | {code_delta} | "
        f"{nightly:.1f} | {nightly / full:.3f} |",
        "",
        f"Targets: no-change refresh <= 10% of a full rebuild: {no_change / full:.1%}; nightly delta <= 10%: "
        f"{nightly / full:.1%}; bytes a push of the delta release uploads <= 5% of the release ({total:,} bytes, "
        f"{files} files): {chunk_up:,} bytes = {chunk_up / total:.1%} in content-defined chunks (about 64 KiB, as "
        f"Xet storage deduplicates) that the previous release lacks; {up:,} bytes = {up / total:.1%} counting "
        f"whole files not byte-identical to the previous release's ({up_files} of {files} files, what a push "
        "without Xet would send).",
        "",
        "Phases (from the refresh run log): full rebuild "
        + ", ".join(f"{k} {v:.1f} s" for k, v in full_phases.items())
        + "; nightly delta "
        + ", ".join(f"{k} {v:.1f} s" for k, v in delta_phases.items())
        + ".",
        "Slowest clean stages, full rebuild: " + ", ".join(f"{k} {v:.1f} s" for k, v in full_top) + ".",
        "Slowest clean stages, nightly delta: " + ", ".join(f"{k} {v:.1f} s" for k, v in delta_top) + ".",
        "",
    ]
    heading = lines[0]
    update_results(heading, "\n".join(lines))
    print("\n".join(lines))
    print(out_none.splitlines()[0], "\n", out_delta.splitlines()[0])


if __name__ == "__main__":
    main()
