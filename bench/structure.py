"""Benchmark: joke-structure splitting throughput and accuracy, jokemine vs a pysbd peer, in the same run.

Corpus: real texts from the shared data (r/Jokes bodies, CleanComedy EN/RU, the FUN dataset, the saved anekdot.ru
page), normalized as the pipeline does. Contenders, one core each (this process):

* ``split_joke``: :func:`jokemine.cleaning.structure.split_joke` (markers, then the learned boundary model);
* ``rule_split``: :func:`jokemine.cleaning.structure.rule_split` (the rule cascade alone, the model's features);
* ``pysbd``: pysbd 0.3 (rule-based sentence boundary disambiguation, Sadvilkar & Neumann 2020,
  https://github.com/nipunsadvilkar/pySBD), language per text, punchline = its last sentence: the obvious
  library alternative for the narrative rule.

Also: exact-boundary accuracy of each on the test half of tests/data/structure_heldout_2.csv, and the
cohort-percentile scoring (``score_norm``) throughput on the r/Jokes scores. Writes the "Joke structure" section of
bench/RESULTS.md.
Usage: python bench/structure.py [--limit N]
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import io
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import zstandard

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from pipeline import machine, update_results  # noqa: E402

from jokemine.cleaning.scores import cohort_percentiles  # noqa: E402
from jokemine.cleaning.structure import rule_split, split_joke  # noqa: E402
from jokemine.cleaning.structure_eval import LANG, boundary, labeled_texts  # noqa: E402
from jokemine.cleaning.text import fix_text, reddit_text  # noqa: E402

REAL = REPO.parent / "shared" / "data" / "real"


def corpus(limit: int) -> tuple[list[str], list[str], pd.DataFrame]:
    """``(texts, langs, r/Jokes score frame)``."""
    texts, langs, rows = [], [], []
    with (REAL / "kampta-reddit-jokes" / "r_jokes_submissions.ndjson.zst").open("rb") as f:
        for line in io.TextIOWrapper(zstandard.ZstdDecompressor().stream_reader(f), encoding="utf-8"):
            p = json.loads(line)
            rows.append((p.get("score"), p.get("created_utc")))
            body = p.get("selftext") or ""
            if body and body not in ("[deleted]", "[removed]") and len(texts) < limit:
                texts.append(reddit_text(body))
                langs.append("en")
    for lang, sep in (("en", ";"), ("ru", ",")):
        path = REAL / "cleancomedy" / f"clean_comedy_gold_{lang}.csv"
        for r in csv.DictReader(path.open(encoding="utf-8"), delimiter=sep):
            texts.append(fix_text(r["text"]))
            langs.append(lang)
    for t in json.loads((REAL / "fun-dataset-ru" / "assessed.json").read_text(encoding="utf-8")):
        texts.append(fix_text(t))
        langs.append("ru")
    scores = pd.DataFrame(rows, columns=["score", "created"])
    scores = scores.assign(
        source="rjokes", score_kind="upvotes", created_at=pd.to_datetime(scores.created, unit="s", utc=True)
    )
    return texts, langs, scores


def pysbd_split(segmenters: dict, text: str, lang: str) -> int:
    spans = segmenters[lang].segment(text) if text.strip() else []
    spans = [s for s in spans if s.sent.strip()]
    if len(spans) < 2:
        return -1
    start = spans[-1].start
    while start < len(text) and text[start].isspace():
        start += 1
    return start


def main() -> None:
    import pysbd

    ap = argparse.ArgumentParser()
    ap.add_argument("--limit", type=int, default=100_000, help="r/Jokes bodies to include")
    args = ap.parse_args()
    texts, langs, scores = corpus(args.limit)
    segs = {lang: pysbd.Segmenter(language=lang, clean=False, char_span=True) for lang in ("en", "ru")}

    t0 = time.perf_counter()
    methods = [split_joke(t).method for t in texts]
    ours = time.perf_counter() - t0
    t0 = time.perf_counter()
    for t in texts:
        rule_split(t)
    rules = time.perf_counter() - t0
    n_peer = min(len(texts), 20_000)  # pysbd is slow: a sample of the same texts, rate compared per text
    t0 = time.perf_counter()
    for t, lang in zip(texts[:n_peer], langs[:n_peer], strict=True):
        pysbd_split(segs, t, lang)
    peer = time.perf_counter() - t0
    t0 = time.perf_counter()
    norm = cohort_percentiles(scores)
    score_s = time.perf_counter() - t0

    labeled = labeled_texts(REPO / "tests" / "data" / "structure_heldout_2.csv", REAL)
    acc: dict[str, list[int]] = {}
    for r in labeled:
        if r.half != "test" or r.kind == "not_joke":
            continue
        p, q = split_joke(r.text), rule_split(r.text)
        mine = -1 if p.method == "one_liner" else p.offset
        rule = -1 if q.method == "one_liner" else q.offset
        theirs = pysbd_split(segs, r.text, LANG[r.group])
        for name, pred in (("split_joke", mine), ("rule_split", rule), ("pysbd", theirs)):
            cell = acc.setdefault(f"{name}/{r.lang}", [0, 0])
            cell[0] += int(boundary(r.text, pred) == boundary(r.text, r.offset))
            cell[1] += 1

    rate, rule_rate, peer_rate = len(texts) / ours, len(texts) / rules, n_peer / peer
    counts = pd.Series(methods).value_counts()
    lines = [
        "## Joke structure (bench/structure.py)",
        "",
        f"{dt.date.today().isoformat()}, {machine()}; one core (this process).",
        "",
        "| contender | texts | seconds | texts/s | vs split_joke | exact boundary, held-out test ru | test en |",
        "|---|---|---|---|---|---|---|",
    ]
    runs = (
        ("split_joke", len(texts), ours, rate),
        ("rule_split", len(texts), rules, rule_rate),
        ("pysbd last sentence", n_peer, peer, peer_rate),
    )
    for name, n, secs, r in runs:
        key = name.split()[0]
        ru, en = acc[f"{key}/ru"], acc[f"{key}/en"]
        lines.append(
            f"| {name} | {n:,} | {secs:.2f} | {r:,.0f} | {rate / r:.2f}x | {ru[0]}/{ru[1]} ({ru[0] / ru[1]:.3f}) "
            f"| {en[0]}/{en[1]} ({en[0] / en[1]:.3f}) |"
        )
    lines += [
        "",
        "Methods over the corpus: " + ", ".join(f"{k} {v:,}" for k, v in counts.items()) + ".",
        f"score_norm (cohort percentiles) over {len(scores):,} r/Jokes scores: {score_s:.2f} s "
        f"({len(scores) / score_s:,.0f} rows/s; {int(np.isfinite(norm).sum()):,} scored).",
        "",
    ]
    section = "\n".join(lines)
    update_results("## Joke structure", section)
    print(section)


if __name__ == "__main__":
    main()
