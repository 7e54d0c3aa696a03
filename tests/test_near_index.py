"""Persistent near-duplicate index (issue 18): a clean after new, edited and deleted posts searches only around
them and gives the same output as a full search; a killed incremental clean resumes to the same output; other
settings search in full."""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import zstandard

from jokemine.cleaning.stage import clean
from jokemine.config import Config, load_config
from jokemine.scrapers.run import scrape
from tests.conftest import write_config

REPO = Path(__file__).resolve().parents[1]
DUMP = "kampta-reddit-jokes/r_cleanjokes_submissions.ndjson.zst"
DAY1 = 1200  # posts in the first dump file; the other 232 arrive on day 2


def _posts(real: Path) -> list[dict[str, Any]]:
    with open(real / DUMP, "rb") as fh:
        text = zstandard.ZstdDecompressor().stream_reader(fh).read().decode("utf-8")
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def _write(path: Path, rows: list[dict[str, Any]]) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


def _config(base: Path, data: Path, threshold: float = 0.55) -> Path:
    return write_config(
        base / "jm.toml",
        f"""
[paths]
data_dir = "{data}"
[scrape]
part_records = 400
[[sources]]
name = "cleanjokes"
kind = "reddit_dump"
path = "{base / "dump"}/*.ndjson"
[clean]
author_salt = "index"
partitions = 3
[dedup]
threshold = {threshold}
[executor]
workers = 1
""",
    )


def _table(run: Path) -> pa.Table:
    return pa.concat_tables([pq.read_table(p) for p in sorted(run.glob("part-*.parquet"))])


def _dedup(run: Path) -> dict[str, Any]:
    return dict(json.loads((run / "dedup.json").read_text())["near"])


def _stages(run: Path) -> set[str]:
    return set(json.loads((run / "stats.json").read_text())["stages"])


def _meta(data: Path) -> dict[str, Any]:
    (index,) = list((data / "clean" / "cache" / "near").iterdir())
    return dict(json.loads((index / "meta.json").read_text()))


def _edit(text: str, rng: random.Random) -> str:
    words = text.split()
    i = rng.randrange(len(words) - 1)
    words[i], words[i + 1] = words[i + 1], words[i]
    return " ".join(words)


@pytest.fixture(scope="module")
def days(real: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Day 1: 1,200 r/cleanjokes posts scraped and cleaned (the index built). Day 2 scraped, not cleaned: the
    other 232 posts, 40 edited copies of day-1 posts (new ids: near-duplicates of indexed texts), and re-read as
    ``[deleted]``: 8 survivors of day-1 duplicate clusters (their clusters must be searched again) and 30 posts in
    no cluster (their texts leave the index)."""
    base = tmp_path_factory.mktemp("index")
    (base / "dump").mkdir()
    posts = _posts(real)
    _write(base / "dump" / "day1.ndjson", posts[:DAY1])
    data = base / "data"
    cfg = load_config(_config(base, data))
    scrape(cfg, data, progress=False)
    day1 = clean(cfg, data, progress=False)
    out = _table(day1.path).to_pandas()
    kept = out[(out["dup_cluster_size"] > 2) & out["drop_reason"].isna()]
    single = out[(out["dup_cluster_size"] == 1) & out["drop_reason"].isna()]  # a text no other post has
    victims = set(kept["source_id"].head(8)) | set(single["source_id"].head(30))
    rng = random.Random(0)
    copies = [
        dict(p, id=f"zz{i}", selftext=_edit(p["selftext"], rng))
        for i, p in enumerate(rng.sample([p for p in posts[:DAY1] if len(p["selftext"].split()) > 3], 40))
    ]
    deleted = [dict(p, selftext="[deleted]") for p in posts[:DAY1] if p["id"] in victims]
    _write(base / "dump" / "day2.ndjson", posts[DAY1:] + copies + deleted)
    scrape(cfg, data, progress=False)
    return {"base": base, "data": data, "cfg": cfg, "day1": day1.path, "meta1": _meta(data), "victims": victims}


def _copy(days: dict[str, Any], tmp_path: Path) -> Path:
    dest = tmp_path / "data"
    shutil.copytree(days["data"], dest, symlinks=True)
    return dest


def _assert_same(a: pa.Table, b: pa.Table) -> None:
    assert a.column_names == b.column_names and a.num_rows == b.num_rows
    for col in a.column_names:
        assert a.column(col).equals(b.column(col)), col


@pytest.fixture(scope="module")
def full_day2(days: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> pa.Table:
    """Day 2 cleaned with a full search (``clean --full``) in a copy of the data dir."""
    data = _copy(days, tmp_path_factory.mktemp("full"))
    report = clean(days["cfg"], data, progress=False, full=True)
    near = _dedup(report.path)
    assert near["search"] == "full" and "index" not in near
    assert {"buckets-1", "verify-2"} <= _stages(report.path) and "delta" not in _stages(report.path)
    return _table(report.path)


def test_day1_builds_the_index_of_its_live_texts(days: dict[str, Any]) -> None:
    meta = days["meta1"]
    out = _table(days["day1"]).to_pandas()
    # node rows written: a text seen in several raw parts is written once per part
    assert meta["partitions"] == 3 and meta["live"] <= meta["indexed"] <= 1.02 * meta["live"] and meta["stale"] == 0
    # one node per distinct text of the records that reached the global stages (identical texts share one; a
    # text split differently into setup and punchline is another node)
    live = out[~out["drop_reason"].isin(["link_post", "mod_post"])]
    assert abs(meta["live"] - live["text_key"].nunique()) <= 0.02 * meta["live"]


def test_incremental_search_equals_the_full_search(days: dict[str, Any], full_day2: pa.Table, tmp_path: Path) -> None:
    data = _copy(days, tmp_path)
    report = clean(days["cfg"], data, progress=False)
    near = _dedup(report.path)
    assert near["search"] == "incremental"
    stages = _stages(report.path)
    assert {"delta", "touch", "verify-2"} <= stages and "buckets-1" not in stages
    index = near["index"]
    # the 30 unclustered texts leave; a deleted survivor's text stays when a near-duplicate has the same shingles
    assert len(days["victims"]) == 38 and 30 < index["gone_nodes"] <= 38
    # clusters that lost a text (or a text_key link: the deleted post's exact duplicates are gone too) are searched
    # again from their other members
    assert index["affected_clusters"] >= 2 and index["affected_nodes"] >= 3
    assert 240 <= index["new_nodes"] <= 232 + 40  # a few new posts repeat indexed texts exactly
    assert near["texts"] == index["new_nodes"]  # only the new texts were shingled and signed
    assert 0 < near["rows_hashed"] <= 232 + 40  # rows seen before have their node cached
    steps = json.loads((report.path / "stats.json").read_text())["steps"]["langid"]
    assert 0 < steps["in"] - steps["cached"] <= 232 + 40  # languages of texts seen before are not identified again
    out = _table(report.path)
    _assert_same(out, full_day2)
    df = out.to_pandas()
    assert (df["drop_reason"] == "deleted").sum() == 38
    assert df["source_id"].str.startswith("zz").sum() == 40
    copies = df[df["source_id"].str.startswith("zz")]
    assert (copies["drop_reason"] == "near_duplicate").sum() + (copies["dup_cluster_size"] > 1).sum() >= 30
    meta = _meta(data)
    assert meta["generation"] != days["meta1"]["generation"]
    assert meta["indexed"] == days["meta1"]["indexed"] + index["new_nodes"]
    assert index["gone_nodes"] <= meta["stale"] <= 1.02 * index["gone_nodes"]  # the deleted texts' rows stay, stale
    assert meta["live"] == days["meta1"]["live"] + index["new_nodes"] - index["gone_nodes"]
    # the next clean over the same data finds nothing new and still gives the same output
    again = clean(days["cfg"], data, progress=False)
    assert _dedup(again.path)["index"] == {"new_nodes": 0, "gone_nodes": 0, "affected_clusters": 0, "affected_nodes": 0}
    _assert_same(_table(again.path), full_day2)


def _cli_clean(config: Path, data: Path, kill_at: str | None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "JOKEMINE_KILL_AT"}
    if kill_at:
        env["JOKEMINE_KILL_AT"] = kill_at
    cmd = [sys.executable, "-m", "jokemine", "--config", str(config), "--data-dir", str(data), "clean"]
    return subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("point", ["clean.after.touch", "clean.index.moved"])
def test_killed_incremental_clean_reruns_to_the_same_output(
    point: str, days: dict[str, Any], full_day2: pa.Table, tmp_path: Path
) -> None:
    data = _copy(days, tmp_path)
    config = days["base"] / "jm.toml"
    killed = _cli_clean(config, data, point)
    assert killed.returncode == -9, killed.stderr[-2000:]
    assert _meta(data)["generation"] == days["meta1"]["generation"]  # the index is switched last
    done = _cli_clean(config, data, None)
    assert done.returncode == 0, done.stderr[-2000:]
    run = (data / "clean" / "latest").resolve()
    _assert_same(_table(run), full_day2)
    near = _dedup(run)
    assert near["search"] == "incremental"
    meta = _meta(data)
    assert meta["generation"] != days["meta1"]["generation"]
    assert meta["live"] == days["meta1"]["live"] + near["index"]["new_nodes"] - near["index"]["gone_nodes"]
    # the rerun resumed the killed run (same inputs) and finished its commit: each new node indexed once
    assert meta["indexed"] == days["meta1"]["indexed"] + near["index"]["new_nodes"]


def test_other_settings_search_in_full_and_drop_the_old_index(days: dict[str, Any], tmp_path: Path) -> None:
    data = _copy(days, tmp_path)
    cfg: Config = load_config(_config(tmp_path, data, threshold=0.6))
    shutil.copytree(days["base"] / "dump", tmp_path / "dump")
    old = {p.name for p in (data / "clean" / "cache" / "near").iterdir()}
    report = clean(cfg, data, progress=False)
    assert _dedup(report.path)["search"] == "full"
    new = {p.name for p in (data / "clean" / "cache" / "near").iterdir()}
    assert len(new) == 1 and new.isdisjoint(old)


def test_an_index_too_stale_or_outgrown_or_damaged_is_not_used(tmp_path: Path) -> None:
    from jokemine.cleaning.near_index import open_index

    def meta(**kw: Any) -> Path:
        body = {"partitions": 8, "generation": "gen-x", "indexed": 900, "stale": 300, "live": 600} | kw
        (tmp_path / "meta.json").write_text(json.dumps(body))
        return tmp_path

    ix = open_index(str(meta()), 8)
    assert ix is not None and (ix.partitions, ix.indexed, ix.stale, ix.live) == (8, 900, 300, 600)
    assert open_index(str(meta(stale=301)), 8) is None  # more than a third of the rows stale: rebuild
    assert open_index(str(meta()), 16) is not None and open_index(str(meta()), 17) is None  # outgrown partitions
    (tmp_path / "meta.json").write_text("{not json")
    assert open_index(str(tmp_path), 8) is None
    assert open_index(str(tmp_path / "missing"), 8) is None
