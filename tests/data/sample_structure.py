"""Draw the held-out joke-structure sample (``tests/data/structure_heldout.csv``; see tests/data/README.md).

Run once, before any labeling or tuning: ``python tests/data/sample_structure.py ../shared/data/real OUT_DIR``
writes ``OUT_DIR/sample.jsonl`` (uid, group, key, lang, text) with seed 20261204; texts already in
``structure_labels.csv`` (the tuning set) and repeated texts are skipped.

``... OUT_DIR 2`` draws the second held-out set (``structure_heldout_2.csv``, drawn after the first set's test
half was spent): :data:`COUNTS_2` with seed :data:`SEED_2`, skipping the texts of both earlier sets.
"""

from __future__ import annotations

import csv
import io
import json
import random
import sys
from pathlib import Path

import zstandard

from jokemine.cleaning.structure import title_is_label
from jokemine.cleaning.structure_eval import LANG, group_texts
from jokemine.cleaning.text import normalize_key, reddit_text

COUNTS = {
    "onelinefun": 70, "jokedb": 60, "cleanjokes": 50, "stupidstuff": 60, "cleancomedy_en": 50,
    "rjokes_body": 50, "baneks": 140, "fun_ru": 75, "cleancomedy_ru": 75,
}  # fmt: skip
MORE = {"onelinefun": 15, "jokedb": 15, "stupidstuff": 10, "baneks": 35}
"""A second draw (continuing the same shuffled pools) after the first one held 50 non-jokes."""
SEED = 20261204

COUNTS_2 = {
    "onelinefun": 50, "jokedb": 45, "cleanjokes": 35, "stupidstuff": 45, "cleancomedy_en": 35,
    "rjokes_body": 40, "baneks": 110, "fun_ru": 55, "cleancomedy_ru": 55,
}  # fmt: skip
SEED_2 = 20261206


def rjokes_label_bodies(real: Path) -> dict[str, str]:
    """Bodies of r/Jokes posts whose title is a label (the body is the whole joke), by Reddit id."""
    out = {}
    path = real / "kampta-reddit-jokes" / "r_jokes_submissions.ndjson.zst"
    with path.open("rb") as f:
        for line in io.TextIOWrapper(zstandard.ZstdDecompressor().stream_reader(f), encoding="utf-8"):
            post = json.loads(line)
            title = reddit_text(post.get("title") or "", markdown=False)
            if title and title_is_label(title):
                out[post["id"]] = reddit_text(post.get("selftext") or "")
    return out


def main(real: Path, out_dir: Path, draw: int = 1) -> None:
    here = Path(__file__).parent
    earlier = ["structure_labels.csv"] + (["structure_heldout.csv"] if draw == 2 else [])
    seen = {(r["group"], r["key"]) for name in earlier for r in csv.DictReader((here / name).open())}
    rng = random.Random(SEED if draw == 1 else SEED_2)
    counts, more = (COUNTS, MORE) if draw == 1 else (COUNTS_2, {})
    by_group = {g: rjokes_label_bodies(real) if g == "rjokes_body" else group_texts(g, real) for g in counts}
    keys_seen: set[str] = set()
    if draw == 2:  # no text equal (after normalization) to one of an earlier set
        keys_seen.update(normalize_key(by_group[g][k]) for g, k in seen if g in by_group and k in by_group[g])
    rows = []
    for group, n in counts.items():
        texts = by_group[group]
        pool = sorted(k for k, t in texts.items() if 20 <= len(t) <= 900 and (group, k) not in seen)
        rng.shuffle(pool)
        taken = 0
        for k in pool:
            key = normalize_key(texts[k])
            if key in keys_seen or "[removed]" in texts[k] or "[deleted]" in texts[k]:
                continue
            keys_seen.add(key)
            rows.append(
                {
                    "uid": f"{group}:{k}",
                    "group": group,
                    "key": k,
                    "lang": LANG[group],
                    "text": texts[k],
                    "draw": 1 if taken < n else 2,
                }
            )
            taken += 1
            if taken == n + more.get(group, 0):
                break
    out_dir.mkdir(parents=True, exist_ok=True)
    with (out_dir / "sample.jsonl").open("w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    print(len(rows), "texts")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3]) if len(sys.argv) > 3 else 1)
