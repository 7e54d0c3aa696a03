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
from dataclasses import dataclass
from pathlib import Path

import zstandard

from jokemine.cleaning.structure import split_joke
from jokemine.cleaning.text import fix_text, html_text, reddit_text

LANG = {
    "anekdot_ru": "ru", "cleancomedy_ru": "ru", "fun_ru": "ru", "baneks": "ru",
    "cleancomedy_en": "en", "rjokes_body": "en", "onelinefun": "en", "jokedb": "en", "cleanjokes": "en",
    "stupidstuff": "en",
}  # fmt: skip
_SHORT = {"onelinefun": "onelinefun.csv", "jokedb": "joke-db.csv", "cleanjokes": "reddit-cleanjokes.csv"}


@dataclass(frozen=True)
class Labeled:
    """One labeled text: ``offset`` = where a human put the punchline's first character (-1: no setup);
    ``half``: ``dev`` or ``test`` (``""`` for the tuning set, which has no halves)."""

    group: str
    key: str
    text: str
    offset: int
    kind: str
    half: str = ""

    @property
    def lang(self) -> str:
        return LANG[self.group]


def _rjokes_bodies(path: Path, ids: set[str] | None) -> dict[str, str]:
    """Bodies of the r/Jokes dump by Reddit id (all of them when ``ids`` is None), as :func:`reddit_text`."""
    out: dict[str, str] = {}
    with path.open("rb") as f:
        lines = io.TextIOWrapper(zstandard.ZstdDecompressor().stream_reader(f), encoding="utf-8")
        for line in lines:
            post = json.loads(line)
            if ids is None or post.get("id") in ids:
                out[post["id"]] = reddit_text(post.get("selftext") or "")
                if ids is not None and len(out) == len(ids):
                    break
    return out


def group_texts(group: str, real: Path, keys: set[str] | None = None) -> dict[str, str]:
    """Every text of one labeled ``group`` by key, normalized as the pipeline does. ``real`` is
    ``../shared/data/real``; the ``extra`` groups read ``real/../extra``. ``keys`` limits the r/Jokes scan.
    Raises KeyError for an unknown group."""
    extra = real.parent / "extra"
    if group == "anekdot_ru":
        from jokemine.scrapers.anekdot_ru import parse_page

        page = (real / "html-anekdot-ru" / "anekdot_ru_tags_ukraine_2022-10-07.html").read_text(encoding="utf-8")
        return {j["id"]: fix_text(j["text"]) for j in parse_page(page, "https://www.anekdot.ru/tags/", "tag", {})[0]}
    if group.startswith("cleancomedy_"):
        lang = group.removeprefix("cleancomedy_")
        path = real / "cleancomedy" / f"clean_comedy_gold_{lang}.csv"
        reader = csv.DictReader(path.open(encoding="utf-8"), delimiter="," if lang == "ru" else ";")
        return {str(i): fix_text(r["text"]) for i, r in enumerate(reader)}
    if group == "fun_ru":
        fun = json.loads((real / "fun-dataset-ru" / "assessed.json").read_text(encoding="utf-8"))
        return {str(i): fix_text(t) for i, t in enumerate(fun)}
    if group == "rjokes_body":
        return _rjokes_bodies(real / "kampta-reddit-jokes" / "r_jokes_submissions.ndjson.zst", keys)
    if group == "baneks":
        data = json.loads((extra / "baneks-ru" / "baneks_ru_data.json").read_text(encoding="utf-8"))
        return {str(i): html_text(t) for i, t in enumerate(data)}
    if group in _SHORT:
        path = extra / "short-jokes-dataset" / _SHORT[group]
        return {r["ID"]: fix_text(r["Joke"]) for r in csv.DictReader(path.open(encoding="utf-8"))}
    if group == "stupidstuff":
        data = json.loads((extra / "taivop-joke-dataset" / "stupidstuff.json").read_text(encoding="utf-8"))
        return {str(j["id"]): fix_text(j["body"]) for j in data}
    raise KeyError(f"unknown labeled group {group!r}")


def labeled_texts(labels: Path, real: Path) -> list[Labeled]:
    """The labeled rows of ``labels`` (CSV ``group,key,offset,kind[,half]``) with their texts from ``real``.

    Raises KeyError naming the group and key when a labeled text is not in the data.
    """
    rows = list(csv.DictReader(labels.open(encoding="utf-8")))
    texts: dict[str, dict[str, str]] = {}
    for group in sorted({r["group"] for r in rows}):
        keys = {r["key"] for r in rows if r["group"] == group}
        texts[group] = group_texts(group, real, keys)
    out = []
    for r in rows:
        try:
            text = texts[r["group"]][r["key"]]
        except KeyError:
            raise KeyError(f"{labels}: no text for group {r['group']!r} key {r['key']!r} in {real}") from None
        out.append(Labeled(r["group"], r["key"], text, int(r["offset"]), r["kind"], r.get("half") or ""))
    return out


_LEAD = frozenset(" \t\n-–—\"«“„'(.…:*")


def boundary(text: str, offset: int) -> int:
    """``offset`` moved past whitespace and leading punctuation (dashes, opening quotes, ellipses, colons), so
    "— Да." and "Да." start at one boundary; -1 stays -1 (no setup). Labels and predictions are compared
    through it."""
    if offset < 0:
        return -1
    while offset < len(text) and text[offset] in _LEAD:
        offset += 1
    return offset


def predicted_offset(text: str) -> int:
    """The punchline offset :func:`split_joke` gives, -1 for a one-liner (the labels' convention)."""
    parts = split_joke(text)
    return -1 if parts.method == "one_liner" else parts.offset


def accuracy(rows: list[Labeled]) -> dict[str, dict[str, tuple[int, int]]]:
    """Exact-boundary accuracy as ``(correct, total)`` by ``lang``, by labeled ``kind`` (``lang/kind``) and by the
    predicted ``method``; a prediction is correct when its :func:`boundary` equals the label's (both -1 when
    there is no setup). Rows labeled ``not_joke`` are left out."""
    out: dict[str, dict[str, list[int]]] = {"lang": {}, "kind": {}, "method": {}}
    for r in rows:
        if r.kind == "not_joke":
            continue
        parts = split_joke(r.text)
        pred = -1 if parts.method == "one_liner" else parts.offset
        ok = int(boundary(r.text, pred) == boundary(r.text, r.offset))
        for axis, key in (("lang", r.lang), ("kind", f"{r.lang}/{r.kind}"), ("method", parts.method)):
            cell = out[axis].setdefault(key, [0, 0])
            cell[0] += ok
            cell[1] += 1
    return {axis: {k: (v[0], v[1]) for k, v in sorted(d.items())} for axis, d in out.items()}
