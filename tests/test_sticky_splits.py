"""Sticky splits (issue 18): an id keeps the split of the first release that published it; new records join the
split of their group; a new record bridging groups published in different splits is held out (``split_conflict``);
``--resplit`` reassigns deliberately. On real r/Jokes posts, with the bridging records built from real jokes."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import zstandard

from jokemine.cleaning.stage import clean
from jokemine.config import Config, load_config
from jokemine.publish.changelog import release_rows
from jokemine.publish.release import publish
from jokemine.scrapers.run import scrape
from jokemine.splits.assign import sticky_splits
from jokemine.splits.ledger import ledger_files, read_ledger
from tests.conftest import clean_frame, write_config

DUMP = "kampta-reddit-jokes/r_jokes_submissions.ndjson.zst"
FIRST = 2500


def test_sticky_splits_rules_on_a_small_frame() -> None:
    df = pd.DataFrame(
        {
            "id": ["a", "b", "x", "y", "z", "w", "n"],
            "group": [1, 1, 2, 2, 2, 2, 3],
            "cluster": [10, 10, 20, 30, 30, 40, 50],
            "published": ["train", None, "train", "test", None, None, None],
            "score_norm": [0.1, 0.9, 0.5, 0.2, 0.99, 0.5, 0.5],
            "created_at": pd.NaT,
        }
    )
    survivor = pd.Series(["b", "b", "x", "z", "z", "w", "n"])  # the plain survivor rule: best score
    surv, split, held = sticky_splits(df, survivor)
    # group 1: one published split -> the new member joins it, and may win its cluster
    assert list(split[:2]) == ["train", "train"] and list(surv[:2]) == ["b", "b"]
    # group 2 bridges train and test: published ids keep their splits and win their clusters; new ones held out
    assert list(split[2:6]) == ["train", "test", None, None]
    assert list(surv[2:4]) == ["x", "y"] and list(held) == [False, False, False, False, True, True, False]
    # group 3: never published -> the hash decides
    assert split[6] is None and surv[6] == "n"


def _posts(real: Path) -> list[dict[str, Any]]:
    with open(real / DUMP, "rb") as fh:
        text = zstandard.ZstdDecompressor().stream_reader(fh).read().decode("utf-8")
    return [json.loads(line) for line in text.split("\n")[: FIRST + 200] if line.strip()]


def _config(tmp_path: Path, dump: Path) -> Config:
    body = f"""
[paths]
data_dir = "data"
[scrape]
part_records = 1000
[[sources]]
name = "jokes"
kind = "reddit_dump"
path = "{dump}"
[clean]
workers = 1
author_salt = "sticky"
"""
    return load_config(write_config(tmp_path / "jm.toml", body))


def _append(path: Path, posts: list[dict[str, Any]]) -> None:
    with open(path, "a", encoding="utf-8") as fh:
        for p in posts:
            fh.write(json.dumps(p) + "\n")


def _cycle(cfg: Config, data: Path, version: str, *, resplit: bool = False) -> pd.DataFrame:
    scrape(cfg, data, progress=False)
    clean(cfg, data, progress=False, resplit=resplit)
    publish(cfg, data, version=version, push=False)
    return clean_frame(data)


def _shingles(text: str) -> set[str]:
    t = re.sub(r"\s+", " ", re.sub(r"[^\w\s]", "", text.lower())).strip()
    return {t[i : i + 5] for i in range(max(len(t) - 4, 1))}


def _jaccard(a: set[str], b: set[str]) -> float:
    return len(a & b) / max(len(a | b), 1)


def test_published_ids_keep_their_split_bridges_are_held_out_and_resplit_reassigns(real: Path, tmp_path: Path) -> None:
    posts = _posts(real)
    by_id = {f"reddit:{p['id']}": p for p in posts}  # clean ids are reddit:<post id>
    dump = tmp_path / "jokes.ndjson"
    _append(dump, posts[:FIRST])
    cfg = _config(tmp_path, dump)
    data = cfg.data_dir()
    a = _cycle(cfg, data, "A")
    kept = a.loc[a["drop_reason"].isna() & (a["structure"] == "title_body")]
    assert [f.name for f in ledger_files(data)] == ["00000-A.parquet"]
    assert len(read_ledger(data)) == int(a["drop_reason"].isna().sum())

    # X: a published train joke; Y: a published test joke whose punchline dwarfs its setup, so that X's setup + Y's
    # punchline (Z) is a near-duplicate of Y and shares X's setup: Z bridges a train group and a test group
    x = kept.loc[kept["split"] == "train"].index[0]
    ratio = kept["punchline"].str.len() / kept["setup"].str.len()
    y = kept.loc[(kept["split"] == "test") & (ratio > 15) & (kept["punchline"].str.len() > 400)].index[0]
    t = kept.loc[(kept["split"] == "test") & (kept.index != y) & (kept["punchline"].str.len() > 200)].index[0]
    z = dict(by_id[y], id="zzbridge", title=by_id[x]["title"], score=by_id[y]["score"] * 10 + 1000)
    body = by_id[t]["selftext"]
    w = dict(by_id[t], id="wwrepost", selftext=body[:-1] + " " + body[-1], score=by_id[t]["score"] * 10 + 1000)
    _append(dump, [z, w, *posts[FIRST:]])
    b = _cycle(cfg, data, "B")

    # no published id moved: every id in both releases has the same split in every record config
    for config in ("jokes", "setup_punch"):
        old, new = release_rows(data / "releases" / "A", config), release_rows(data / "releases" / "B", config)
        both = old.merge(new, on="id", suffixes=("_a", "_b"))
        assert len(both) > 1000 and (both["split_a"] == both["split_b"]).all(), config
    log = json.loads((data / "releases" / "B" / "CHANGELOG.json").read_text())
    assert all(c["moved"] == 0 for c in log["configs"].values()) and log["split_conflict"] >= 1
    assert not log["resplit"]

    # Z is held out, X and Y stay where they were published; every held-out record bridges two published splits
    assert b.loc["reddit:zzbridge", "drop_reason"] == "split_conflict"
    assert b.loc[x, "split"] == "train" and b.loc[y, "split"] == "test" and pd.isna(b.loc[y, "drop_reason"])
    published = a.loc[a["drop_reason"].isna(), "split"]
    for rid in b.index[b["drop_reason"] == "split_conflict"]:
        group = b.index[b["split_key"] == b.loc[rid, "split_key"]]
        assert rid not in published.index
        assert published.reindex(group).dropna().nunique() >= 2, rid
    stats = json.loads(((data / "clean" / "latest").resolve() / "stats.json").read_text())
    assert stats["splits"]["split_conflict"] == int((b["drop_reason"] == "split_conflict").sum()) >= 1
    assert stats["drop_reasons"]["split_conflict"] == stats["splits"]["split_conflict"]

    # W, a repost of a published test joke that outscores it, lands in test (or is dropped), never in train or
    # validation: checked with an independent shingle Jaccard against every other-split text of release B. B's clean
    # found W through the persistent near-duplicate index (an incremental search), as a nightly refresh does
    near = json.loads(((data / "clean" / "latest").resolve() / "dedup.json").read_text())["near"]
    assert near["search"] == "incremental" and near["index"]["new_nodes"] >= 150
    assert pd.notna(b.loc["reddit:wwrepost", "drop_reason"]) or b.loc["reddit:wwrepost", "split"] == "test"
    if pd.isna(b.loc["reddit:wwrepost", "drop_reason"]):
        other = b.loc[b["drop_reason"].isna() & (b["split"] != "test"), "text"]
        sw = _shingles(b.loc["reddit:wwrepost", "text"])
        assert max(_jaccard(sw, _shingles(s)) for s in other) < cfg.dedup.threshold
    # new records that join no published group are split by the hash, so both splits receive new ids
    new_ids = set(b.index[b["drop_reason"].isna()]) - set(a.index)
    assert len(new_ids) > 150
    ledger = pq.read_table(ledger_files(data)[1]).to_pandas()
    assert [f.name for f in ledger_files(data)] == ["00000-A.parquet", "00001-B.parquet"]
    assert set(ledger["id"]) == new_ids and (ledger["release"] == "B").all()

    # --resplit: the ledger is ignored (Z is no longer held out) and replaced when published; the changelog says so
    c = _cycle(cfg, data, "C", resplit=True)
    assert c.loc["reddit:zzbridge", "drop_reason"] != "split_conflict" and (c["drop_reason"] != "split_conflict").all()
    assert [f.name for f in ledger_files(data)] == ["00002-C.parquet"]
    assert set(read_ledger(data)["id"]) == set(c.index[c["drop_reason"].isna()])
    log = json.loads((data / "releases" / "C" / "CHANGELOG.json").read_text())
    assert log["resplit"] is True and log["split_conflict"] == 0
    assert "reassigned deliberately" in (data / "releases" / "C" / "CHANGELOG.md").read_text()
    assert np.isin(c["split"].dropna().unique(), ["train", "validation", "test"]).all()
