"""Benchmark: the table reader on real files of every shape it detects, against pandas as the peer (same run).

For each real file of configs/extra-files.toml (JSON array, JSON object of parallel lists, JSON strings, CSVs, and
the .tar.zst of 199 New Yorker caption-contest CSVs read member by member), it times jokemine's ``table`` reader
(shape detection, decoding checks, ids; no raw store) and the peer, pandas (``read_json``/``read_csv``; for the
archive, Python's tarfile streaming the members into ``read_csv``), best of ``--rounds``, and reports rows/s and
the ratio. Writes its section of bench/RESULTS.md. Usage: python bench/table_read.py [--rounds 3]
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import sys
import tarfile
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import zstandard

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "bench"))
sys.path.insert(0, str(REPO))

from pipeline import machine, update_results  # noqa: E402

from jokemine.config import load_config  # noqa: E402
from jokemine.scrapers.base import RawItem, ReadContext  # noqa: E402
from jokemine.scrapers.table import Table  # noqa: E402

HEADING = "## Table reader: every shape vs pandas (bench/table_read.py)"


def ours(cfg_source: object, base: Path) -> int:
    t = Table(cfg_source, base)  # type: ignore[arg-type]
    return sum(isinstance(e, RawItem) for e in t.read(ReadContext()))


def pandas_rows(path: Path, how: str) -> int:
    if how == "tar":
        n = 0
        with (
            open(path, "rb") as fh,
            zstandard.ZstdDecompressor().stream_reader(fh) as zs,
            tarfile.open(fileobj=zs, mode="r|") as tf,
        ):
            for m in tf:
                if m.isfile() and m.name.startswith("summaries/") and m.name.endswith(".csv"):
                    n += len(pd.read_csv(io.BytesIO(tf.extractfile(m).read())))  # type: ignore[union-attr]
        return n
    if how == "json_columns":
        return len(pd.read_json(path))
    if how == "json":
        return len(pd.read_json(path, orient="records" if path.read_bytes().lstrip()[:1] == b"[" else "columns"))
    return sum(len(pd.read_csv(p)) for p in sorted(path.parent.glob(path.name)))


def best(fn: Callable[[], int], rounds: int) -> tuple[float, int]:
    times, n = [], 0
    for _ in range(rounds):
        t0 = time.perf_counter()
        n = fn()
        times.append(time.perf_counter() - t0)
    return min(times), n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    cfg = load_config(REPO / "configs" / "extra-files.toml")
    cases = [
        ("stupidstuff", "JSON array of objects", "json"),
        ("top_reddit", "JSON object of parallel lists", "json_columns"),
        ("baneks", "JSON array of strings", "json"),
        ("rjokes_2023", "CSV (Reddit-derived)", "csv"),
        ("short_jokes", "4 CSVs by a glob", "csv"),
        ("newyorker_captions", ".tar.zst of 199 CSVs", "tar"),
    ]
    rows = [
        "| source | shape | rows | jokemine s | pandas s | jokemine rows/s | pandas rows/s | ratio |",
        "|---|---|---|---|---|---|---|---|",
    ]
    total_ours = total_peer = 0.0
    for name, shape, how in cases:
        src = cfg.source(name)
        path = Path(src.paths(cfg.base_dir)[0])
        t_ours, n = best(lambda src=src: ours(src, cfg.base_dir), args.rounds)
        t_peer, n_peer = best(lambda path=path, how=how: pandas_rows(path, how), args.rounds)
        assert n == n_peer, (name, n, n_peer)
        total_ours += t_ours
        total_peer += t_peer
        rows.append(
            f"| {name} | {shape} | {n:,} | {t_ours:.2f} | {t_peer:.2f} | {n / t_ours:,.0f} | {n_peer / t_peer:,.0f} "
            f"| {t_ours / t_peer:.2f}x |"
        )
        print(rows[-1], flush=True)
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    section = (
        f"{HEADING}\n\nRun {now} on {machine()}. Command: `python bench/table_read.py --rounds {args.rounds}`; best "
        "of the rounds, one process; jokemine = the `table` source's reader (shape detection from the content, "
        "encoding and binary checks, per-row decode check, ids; no raw store), pandas = `read_json`/`read_csv` "
        "(the archive streamed through tarfile). Both read the same rows (asserted).\n\n"
        + "\n".join(rows)
        + f"\n\nAll files: jokemine {total_ours:.1f} s, pandas {total_peer:.1f} s ({total_ours / total_peer:.2f}x).\n"
    )
    update_results(HEADING, section)
    print(section)


if __name__ == "__main__":
    main()
