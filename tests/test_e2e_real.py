"""`make scrape clean publish CONFIG=configs/real-offline.toml DATA_DIR=<tmp>` on the full real files."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
import zstandard

from jokemine.cleaning.text import fix_text, normalize_key
from jokemine.config import load_config
from jokemine.schema import RELEASE_COLUMNS
from jokemine.splits.assign import split_of
from tests.conftest import REPO

pytestmark = pytest.mark.e2e

READ = {
    "rjokes": 91484,
    "reddit_subs": 13078,
    "reddit_daily": 148,
    "taivop_sample": 48,
    "qa_jokes": 38233,
    "bfinan_qa": 38269,
    "bfinan_lightbulbs": 2640,
    "cleancomedy_en": 1000,
    "cleancomedy_ru": 1000,
}


@pytest.fixture(scope="module")
def run(real: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    data = tmp_path_factory.mktemp("e2e") / "data"
    r = subprocess.run(
        [
            "make",
            "--no-print-directory",
            "scrape",
            "clean",
            "publish",
            "CONFIG=configs/real-offline.toml",
            f"DATA_DIR={data}",
            f"PY={sys.executable}",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    clean_dir = (data / "clean" / "latest").resolve()
    clean = pq.ParquetDataset(sorted(clean_dir.glob("part-*.parquet"))).read().to_pandas()
    return {
        "data": data,
        "stdout": r.stdout,
        "stderr": r.stderr,
        "clean": clean,
        "stats": json.loads((clean_dir / "stats.json").read_text()),
        "release": (data / "releases" / "latest").resolve(),
    }


def _dump(real: Path, name: str) -> list[dict]:
    dctx = zstandard.ZstdDecompressor(max_window_size=2**31)
    with open(real / "kampta-reddit-jokes" / name, "rb") as fh:
        return [json.loads(line) for line in io.BufferedReader(dctx.stream_reader(fh))]


def test_rows_read_per_source(run: dict) -> None:
    per_source = run["stats"]["per_source"]
    assert {k: v["read"] for k, v in per_source.items()} == READ
    for name, n in READ.items():
        quarantined = 1 if name == "qa_jokes" else 0  # one malformed CSV row (line 24)
        assert f"{name}: ok: {n} records stored" in run["stdout"]
        assert f"{quarantined} quarantined" in run["stdout"].split(f"{name}: ok:")[1].splitlines()[0]
    # the daily arrays repeat posts of the NDJSON dumps: one record per Reddit id
    assert run["stats"]["totals"]["merged_same_id"] == 149
    # every daily-array post is also in the NDJSON dumps, which are listed first: they win the merge
    assert run["stats"]["per_source"]["reddit_daily"]["merged_same_id"] == 148
    clean = run["clean"]
    assert clean.id.is_unique and len(clean) == sum(READ.values()) - 149


def test_deleted_and_removed_posts_dropped_with_their_reason(run: dict, real: Path) -> None:
    expected = {}
    for d in _dump(real, "r_jokes_submissions.ndjson.zst"):
        body, title = d["selftext"], d["title"]
        if body in ("[deleted]", "[removed]"):
            expected[f"reddit:{d['id']}"] = body.strip("[]")
        elif title in ("[deleted]", "[removed]"):
            expected[f"reddit:{d['id']}"] = title.strip("[]")
    assert len(expected) == 45
    clean = run["clean"].set_index("id")
    got = clean.loc[list(expected), "drop_reason"].to_dict()
    assert got == expected
    rj = run["clean"][run["clean"].source == "rjokes"]
    assert (rj.drop_reason == "deleted").sum() == 33 and (rj.drop_reason == "removed").sum() == 12
    # Reddit-derived tables carry the sentinels too: bfinan Q/A rows with a [deleted]/[removed] side
    with open(real / "bfinan-qa-jokes" / "reddit_qa.csv", encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    sentinel = [r for r in rows if {r["Question"].strip(), r["Answer"].strip()} & {"[deleted]", "[removed]"}]
    bf = run["clean"][run["clean"].source == "bfinan_qa"]
    assert len(sentinel) > 40 and bf.drop_reason.isin(["deleted", "removed"]).sum() == len(sentinel)


def test_records_with_u2028_parsed_intact(run: dict, real: Path) -> None:
    clean = run["clean"].set_index("id")
    n = 0
    for d in _dump(real, "r_jokes_submissions.ndjson.zst"):
        raw = d["title"] + d["selftext"]
        if "\u2028" not in raw:
            continue
        n += 1
        rec = clean.loc[f"reddit:{d['id']}"]
        tail = fix_text(max(raw.split("\u2028")[1:], key=len))[:25]
        assert tail and tail in rec.text, d["id"]  # the part after U+2028 is in the same record
        assert "\u2028" not in rec.text  # normalized to a newline
    assert n == 14


def test_qa_rows_duplicating_reddit_posts_are_caught_across_sources(run: dict) -> None:
    clean = run["clean"].set_index("id")
    hipster = clean.loc["qa_jokes:24"]
    assert hipster.drop_reason == "exact_duplicate" and hipster.dup_cluster == "reddit:330i7d"
    survivor = clean.loc["reddit:330i7d"]
    assert pd.isna(survivor.drop_reason) and survivor.dup_cluster == "reddit:330i7d"
    assert normalize_key(survivor.text) == normalize_key(hipster.text)
    qa = run["clean"][run["clean"].source == "qa_jokes"]
    to_reddit = qa[qa.dup_cluster.str.startswith("reddit:", na=False) & (qa.drop_reason == "exact_duplicate")]
    assert len(to_reddit) > 17000
    # every cluster keeps exactly one member
    kept = run["clean"][run["clean"].drop_reason.isna()]
    assert kept.groupby("dup_cluster").size().max() == 1
    dups = run["clean"][run["clean"].drop_reason == "exact_duplicate"]
    assert dups.dup_cluster.isin(set(run["clean"].id)).all()


def test_splits_disjoint_by_setup_group(run: dict) -> None:
    kept = run["clean"][run["clean"].drop_reason.isna()]
    assert kept.groupby("group_key").split.nunique().max() == 1
    cfg = load_config(REPO / "configs" / "real-offline.toml")
    sample = kept.sample(500, random_state=0)
    assert all(split_of(g, cfg.splits) == s for g, s in zip(sample.group_key, sample.split, strict=True))
    shares = kept.split.value_counts(normalize=True)
    assert abs(shares["train"] - 0.9) < 0.01 and abs(shares["test"] - 0.05) < 0.01


def test_load_dataset_opens_every_config_offline(run: dict) -> None:
    from datasets import load_dataset

    release = run["release"]
    manifest = json.loads((release / "MANIFEST.json").read_text())
    kept = run["clean"][run["clean"].drop_reason.isna()]
    for config in ("setup_punch", "qa", "jokes"):
        ds = load_dataset(str(release)) if config == "setup_punch" else load_dataset(str(release), config)
        assert set(ds) == {"train", "validation", "test"}
        assert {s: ds[s].num_rows for s in ds} == manifest["counts"][config]
        assert ds["train"].column_names == RELEASE_COLUMNS[config]
        ids = [i for s in ds for i in ds[s]["id"]]
        assert len(ids) == len(set(ids))  # no id in two splits
    assert sum(manifest["counts"]["jokes"].values()) == len(kept)
    assert sum(manifest["counts"]["qa"].values()) == kept.question.notna().sum()
    sp = load_dataset(str(release))
    row = sp["train"].filter(lambda r: r["id"] == "reddit:330i7d")
    split = "train"
    if row.num_rows == 0:
        split = kept.set_index("id").loc["reddit:330i7d", "split"]
        row = sp[split].filter(lambda r: r["id"] == "reddit:330i7d")
    r0 = row[0]
    assert (r0["setup"], r0["punchline"]) == (
        "Why did the hipster burn his tongue?",
        "Because he drank his coffee before it was cool.",
    )
    assert (r0["kind"], r0["source"], r0["score_kind"], r0["lang"]) == ("qa", "rjokes", "upvotes", "en")
    jokes = load_dataset(str(release), "jokes")
    ru = [jokes[s].filter(lambda r: r["source"] == "cleancomedy_ru") for s in jokes]
    assert sum(d.num_rows for d in ru) == 1000  # none dropped: declared Russian, no duplicates
    assert {lang for d in ru for lang in d["lang"]} == {"ru"}


def test_release_card_and_no_raw_usernames(run: dict, real: Path) -> None:
    release = run["release"]
    card = (release / "README.md").read_text()
    assert card.startswith("---\n") and "config_name: setup_punch\n  default: true" in card
    assert "| `rjokes` | 91,484 |" in card
    authors = {d["author"] for d in _dump(real, "r_cleanjokes_submissions.ndjson.zst")} - {"[deleted]"}
    jokes = pd.concat(pq.read_table(p).to_pandas() for p in (release / "jokes").glob("*.parquet"))
    assert not authors & set(jokes.author_hash.dropna())
    strings = jokes.select_dtypes(["object", "string"]).astype(str)
    for name in list(authors)[:50]:
        if len(name) > 6:
            assert not strings.apply(lambda col, n=name: col.str.fullmatch(n)).any().any()
