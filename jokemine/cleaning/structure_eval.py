"""Accuracy of :func:`jokemine.cleaning.structure.split_joke` on labeled real texts
(``tests/data/structure_labels.csv``).

The labels hold ids and punchline offsets only; :func:`labeled_texts` reads the texts back from the shared real
data (``../shared/data/real``), normalized as the pipeline does (:func:`jokemine.cleaning.text.fix_text`, Reddit
bodies with :func:`jokemine.cleaning.text.reddit_text`), so the offsets index those exact strings.
Groups: ``anekdot_ru`` (joke ``data-id`` on the saved anekdot.ru page), ``cleancomedy_ru``/``cleancomedy_en``
(0-based row of the CleanComedy gold CSV), ``fun_ru`` (0-based entry of the FUN dataset's ``assessed.json``),
``rjokes_body`` (Reddit id in the r/Jokes dump; the body is split).
"""

from __future__ import annotations

import csv
import io
import json
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import zstandard

from jokemine.cleaning.structure import split_joke
from jokemine.cleaning.text import fix_text, reddit_text

LANG = {"anekdot_ru": "ru", "cleancomedy_ru": "ru", "fun_ru": "ru", "cleancomedy_en": "en", "rjokes_body": "en"}


@dataclass(frozen=True)
class Labeled:
    """One labeled text: ``offset`` = where a human put the punchline's first character (-1: one-liner)."""

    group: str
    key: str
    text: str
    offset: int
    kind: str

    @property
    def lang(self) -> str:
        return LANG[self.group]


def _rjokes_bodies(path: Path, ids: set[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    with path.open("rb") as f:
        lines = io.TextIOWrapper(zstandard.ZstdDecompressor().stream_reader(f), encoding="utf-8")
        for line in lines:
            post = json.loads(line)
            if post.get("id") in ids:
                out[post["id"]] = reddit_text(post.get("selftext") or "")
                if len(out) == len(ids):
                    break
    return out


def labeled_texts(labels: Path, real: Path) -> list[Labeled]:
    """The labeled rows of ``labels`` (CSV ``group,key,offset,kind``) with their texts from ``real``.

    Raises KeyError naming the group and key when a labeled text is not in the data.
    """
    from jokemine.scrapers.anekdot_ru import parse_page

    rows = list(csv.DictReader(labels.open(encoding="utf-8")))
    texts: dict[str, dict[str, str]] = defaultdict(dict)
    page = (real / "html-anekdot-ru" / "anekdot_ru_tags_ukraine_2022-10-07.html").read_text(encoding="utf-8")
    for j in parse_page(page, "https://www.anekdot.ru/tags/", "tag", {})[0]:
        texts["anekdot_ru"][j["id"]] = fix_text(j["text"])
    for lang, sep in (("ru", ","), ("en", ";")):
        path = real / "cleancomedy" / f"clean_comedy_gold_{lang}.csv"
        reader = csv.DictReader(path.open(encoding="utf-8"), delimiter=sep)
        texts[f"cleancomedy_{lang}"] = {str(i): fix_text(r["text"]) for i, r in enumerate(reader)}
    fun = json.loads((real / "fun-dataset-ru" / "assessed.json").read_text(encoding="utf-8"))
    texts["fun_ru"] = {str(i): fix_text(t) for i, t in enumerate(fun)}
    want = {r["key"] for r in rows if r["group"] == "rjokes_body"}
    texts["rjokes_body"] = _rjokes_bodies(real / "kampta-reddit-jokes" / "r_jokes_submissions.ndjson.zst", want)
    out = []
    for r in rows:
        try:
            text = texts[r["group"]][r["key"]]
        except KeyError:
            raise KeyError(f"{labels}: no text for group {r['group']!r} key {r['key']!r} in {real}") from None
        out.append(Labeled(r["group"], r["key"], text, int(r["offset"]), r["kind"]))
    return out


def predicted_offset(text: str) -> int:
    """The punchline offset :func:`split_joke` gives, -1 for a one-liner (the labels' convention)."""
    parts = split_joke(text)
    return -1 if parts.method == "one_liner" else parts.offset


def accuracy(rows: list[Labeled]) -> dict[str, dict[str, tuple[int, int]]]:
    """Exact-boundary accuracy as ``(correct, total)`` by ``lang``, by labeled ``kind`` (``lang/kind``) and by the
    predicted ``method``; a prediction is correct when its offset equals the label's (both -1 for one-liners)."""
    out: dict[str, dict[str, list[int]]] = {"lang": {}, "kind": {}, "method": {}}
    for r in rows:
        parts = split_joke(r.text)
        ok = int((-1 if parts.method == "one_liner" else parts.offset) == r.offset)
        for axis, key in (("lang", r.lang), ("kind", f"{r.lang}/{r.kind}"), ("method", parts.method)):
            cell = out[axis].setdefault(key, [0, 0])
            cell[0] += ok
            cell[1] += 1
    return {axis: {k: (v[0], v[1]) for k, v in sorted(d.items())} for axis, d in out.items()}
