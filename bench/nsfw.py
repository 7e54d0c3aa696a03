"""Benchmark: the NSFW word-list flag, jokemine's matcher vs glin-profanity's own Filter, in the same run.

Corpus: real texts from the shared data: r/Jokes posts (title + body, with Reddit's ``over_18`` as a reference
label), CleanComedy EN/RU and the FUN dataset (Russian). Contenders, one core each (this process), the same word
lists (glin-profanity 4.1's English and Russian dictionaries):

* ``jokemine``: :func:`jokemine.cleaning.nsfw.is_nsfw` (one compiled regular expression per language, everyday
  entries left out, Russian inflections and obscene roots added);
* ``glin Filter``: ``glin_profanity.Filter({"languages": [lang]}).is_profane`` (the package's matcher with its
  normalizations), on a sample of the same texts.

Reports texts/s, the share flagged, agreement, and precision/recall against ``over_18`` on r/Jokes (a weak label:
many explicit r/Jokes posts are not marked, so precision is low for any word list). Writes the "NSFW word lists"
section of bench/RESULTS.md. Usage: python bench/nsfw.py [--sample N]
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

import zstandard

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from pipeline import machine, update_results  # noqa: E402

from jokemine.cleaning.nsfw import is_nsfw, wordlist_pattern  # noqa: E402
from jokemine.cleaning.text import fix_text, reddit_text  # noqa: E402

REAL = REPO.parent / "shared" / "data" / "real"


def corpus() -> dict[str, tuple[list[str], list[bool | None]]]:
    """``{name: (texts, over_18 labels or None)}``; name ``rjokes`` (en), ``cleancomedy_en``, ``russian``."""
    texts, labels = [], []
    with (REAL / "kampta-reddit-jokes" / "r_jokes_submissions.ndjson.zst").open("rb") as f:
        for line in io.TextIOWrapper(zstandard.ZstdDecompressor().stream_reader(f), encoding="utf-8"):
            p = json.loads(line)
            body = p.get("selftext") or ""
            if body in ("[deleted]", "[removed]") or p.get("over_18") is None:
                continue
            texts.append(reddit_text(f"{p.get('title') or ''}\n{body}"))
            labels.append(bool(p["over_18"]))
    out = {"rjokes": (texts, labels)}
    for lang, sep in (("en", ";"), ("ru", ",")):
        path = REAL / "cleancomedy" / f"clean_comedy_gold_{lang}.csv"
        rows = [fix_text(r["text"]) for r in csv.DictReader(path.open(encoding="utf-8"), delimiter=sep)]
        out[f"cleancomedy_{lang}"] = (rows, [None] * len(rows))
    fun = [fix_text(t) for t in json.loads((REAL / "fun-dataset-ru" / "assessed.json").read_text(encoding="utf-8"))]
    out["fun_ru"] = (fun, [None] * len(fun))
    return out


LANG = {"rjokes": "en", "cleancomedy_en": "en", "cleancomedy_ru": "ru", "fun_ru": "ru"}


def main() -> None:
    from glin_profanity import Filter

    ap = argparse.ArgumentParser()
    ap.add_argument("--sample", type=int, default=10_000, help="texts per corpus for glin's Filter")
    args = ap.parse_args()
    data = corpus()
    filters = {lang: Filter({"languages": [name]}) for lang, name in (("en", "english"), ("ru", "russian"))}
    wordlist_pattern("en"), wordlist_pattern("ru")
    lines = [
        "## NSFW word lists (bench/nsfw.py)",
        "",
        f"{dt.date.today().isoformat()}, {machine()}; one core (this process). Same word lists (glin-profanity "
        "4.1.0); glin's Filter on the first texts of each corpus (sample column), jokemine on all and on the sample.",
        "",
        "| corpus | texts | jokemine texts/s | glin Filter texts/s | speed ratio | flagged jokemine | flagged glin "
        "(sample) | agree (sample) | vs over_18 (sample): P / R jokemine | P / R glin |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, (texts, labels) in data.items():
        lang = LANG[name]
        t0 = time.perf_counter()
        ours = [bool(is_nsfw(t, lang)) for t in texts]
        ours_s = time.perf_counter() - t0
        n = min(args.sample, len(texts))
        t0 = time.perf_counter()
        theirs = [filters[lang].is_profane(t) for t in texts[:n]]
        theirs_s = time.perf_counter() - t0
        agree = sum(a == b for a, b in zip(ours[:n], theirs, strict=True)) / n
        pr = "n/a", "n/a"
        if labels[0] is not None:

            def p_r(pred: list[bool], gold: list[bool | None]) -> str:
                tp = sum(p and bool(g) for p, g in zip(pred, gold, strict=False))
                return f"{tp / max(1, sum(pred)):.3f} / {tp / max(1, sum(bool(g) for g in gold)):.3f}"

            pr = p_r(ours[:n], labels[:n]), p_r(theirs, labels[:n])
        r1, r2 = len(texts) / ours_s, n / theirs_s
        lines.append(
            f"| {name} ({lang}) | {len(texts):,} | {r1:,.0f} | {r2:,.0f} | {r1 / r2:.1f}x | "
            f"{sum(ours):,} ({sum(ours) / len(texts):.1%}) | {sum(theirs):,} of {n:,} ({sum(theirs) / n:.1%}) | "
            f"{agree:.3f} | {pr[0]} | {pr[1]} |"
        )
    lines.append("")
    section = "\n".join(lines)
    update_results("## NSFW word lists", section)
    print(section)


if __name__ == "__main__":
    main()
