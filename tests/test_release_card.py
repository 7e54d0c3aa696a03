"""Releases: changelog against the previous release, manual card sections surviving regeneration, the validation
gate, on real r/cleanjokes posts and CleanComedy EN ratings."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from jokemine.cleaning.stage import clean
from jokemine.config import Config, load_config
from jokemine.dataset_cards.card import merge_card
from jokemine.publish.release import publish
from jokemine.publish.validate import ReleaseInvalid, validate_release
from jokemine.scrapers.run import scrape
from jokemine.splits.ledger import ledger_files
from jokemine.state import Layout
from tests.conftest import write_config


def _config(tmp_path: Path, real: Path, cc_path: Path, extra: str = "", clean_extra: str = "") -> Config:
    body = f"""
[paths]
data_dir = "data"
[[sources]]
name = "cleanjokes"
kind = "reddit_dump"
path = "{real}/kampta-reddit-jokes/r_cleanjokes_submissions.ndjson.zst"
{extra}
[[sources]]
name = "cc_en"
kind = "table"
path = "{cc_path}"
delimiter = ";"
columns = {{ text = "text", score = "score" }}
score_kind = "mean_rating"
lang = "en"
[clean]
workers = 1
{clean_extra}
"""
    return load_config(write_config(tmp_path / "jm.toml", body))


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh, delimiter=";"))


def _write_rows(path: Path, rows: list[dict[str, str]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]), delimiter=";")
        w.writeheader()
        w.writerows(rows)


def _jokes(release: Path) -> dict[str, dict]:
    out = {}
    for p in (release / "jokes").glob("*.parquet"):
        split = p.name.split("-", 1)[0]
        for r in pq.read_table(p, columns=["id", "text", "score", "source"]).to_pylist():
            out[r["id"]] = {**r, "split": split}
    return out


def test_changelog_and_manual_sections_across_two_releases(real: Path, tmp_path: Path) -> None:
    cc = tmp_path / "cc_en.csv"
    rows = _rows(real / "cleancomedy" / "clean_comedy_gold_en.csv")
    _write_rows(cc, rows)
    cfg = _config(tmp_path, real, cc)
    data = cfg.data_dir()
    scrape(cfg, data, progress=False)
    clean(cfg, data, progress=False)
    assert publish(cfg, data, version="1.0").status == "published"
    r1 = data / "releases" / "1.0"
    first = json.loads((r1 / "CHANGELOG.json").read_text())
    assert first["previous"] is None
    assert first["configs"]["jokes"]["added"] == len(_jokes(r1)) and first["configs"]["jokes"]["removed"] == 0

    # the user's own words in the card: a manual block and a YAML key jokemine does not write
    card = (r1 / "README.md").read_text()
    card = card.replace("<!-- jokemine:manual summary -->\n", "<!-- jokemine:manual summary -->\nCurated by Ada.\n")
    card = card.replace("---\n", "---\nannotations_creators:\n- found\n", 1)
    (r1 / "README.md").write_text(card)

    # second run: two CleanComedy ratings change, r/pun posts are added, long jokes are now too long
    jokes1 = _jokes(r1)
    short_cc = [
        i for i, r in enumerate(rows) if len(r["text"]) < 150 and any(r["text"] == j["text"] for j in jokes1.values())
    ]
    changed = short_cc[:2]
    for i in changed:
        rows[i]["score"] = "4.9" if float(rows[i]["score"]) < 4 else "1.1"
    _write_rows(cc, rows)
    dump = real / "kampta-reddit-jokes" / "r_pun_submissions.ndjson.zst"
    pun = f'[[sources]]\nname = "pun"\nkind = "reddit_dump"\npath = "{dump}"'
    cfg2 = _config(tmp_path, real, cc, extra=pun, clean_extra="max_chars = 300")
    scrape(cfg2, data, progress=False)
    clean(cfg2, data, progress=False)
    assert publish(cfg2, data, version="2.0").status == "published"
    r2 = data / "releases" / "2.0"
    jokes2 = _jokes(r2)
    log = json.loads((r2 / "CHANGELOG.json").read_text())
    assert (log["version"], log["previous"]) == ("2.0", "1.0")
    j = log["configs"]["jokes"]
    assert j["added"] == len(jokes2.keys() - jokes1.keys()) > 0
    assert j["removed"] == len(jokes1.keys() - jokes2.keys())
    too_long = sum(1 for r in jokes1.values() if len(r["text"]) > 300)
    assert too_long > 0 and j["removed_reasons"]["too_long"] == too_long
    updated = {i for i in jokes1.keys() & jokes2.keys() if jokes1[i]["score"] != jokes2[i]["score"]}
    assert j["updated"] == len(updated) == 2
    assert {jokes2[i]["text"] for i in updated} == {rows[i]["text"] for i in changed}
    assert sum(s["added"] for s in j["splits"].values()) == j["added"] and j["moved"] == 0
    assert {jokes2[i]["source"] for i in jokes2.keys() - jokes1.keys()} >= {"pun"}

    card2 = (r2 / "README.md").read_text()
    assert "<!-- jokemine:manual summary -->\nCurated by Ada.\n\n<!-- jokemine:end summary -->" in card2
    meta = yaml.safe_load(card2.split("---\n")[1])
    assert meta["annotations_creators"] == ["found"] and meta["pretty_name"] == cfg2.publish.pretty_name
    assert "### 2.0 (since 1.0)" in card2
    history = (r2 / "CHANGELOG.md").read_text()
    assert history.index("### 2.0 (since 1.0)") < history.index("### 1.0 (first release)")


def test_merge_card_keeps_orphan_blocks_and_is_stable() -> None:
    new = "---\nlicense: other\n---\n\n# T\n\n<!-- jokemine:manual notes -->\n\n<!-- jokemine:end notes -->\n"
    old = (
        "---\nlicense: mit\ntask_ids:\n- x\n---\n\n<!-- jokemine:manual notes -->\nmine\n<!-- jokemine:end notes -->\n"
        "<!-- jokemine:manual extra -->\nkeep me\n<!-- jokemine:end extra -->\n"
    )
    merged = merge_card(new, old)
    assert "<!-- jokemine:manual notes -->\nmine\n<!-- jokemine:end notes -->" in merged
    assert merged.rstrip().endswith("<!-- jokemine:manual extra -->\nkeep me\n<!-- jokemine:end extra -->")
    meta = yaml.safe_load(merged.split("---\n")[1])
    assert meta == {"task_ids": ["x"], "license": "other"}  # ours wins; the user's extra key stays
    assert merge_card(new, merged) == merged and merge_card(new, None) == new


def test_validation_gate_refuses_an_empty_split_and_keeps_latest(real: Path, tmp_path: Path) -> None:
    cc = tmp_path / "cc_en.csv"
    _write_rows(cc, _rows(real / "cleancomedy" / "clean_comedy_gold_en.csv")[:40])
    cfg = _config(tmp_path, real, cc)
    data = cfg.data_dir()
    scrape(cfg, data, progress=False)
    clean(cfg, data, progress=False)
    assert publish(cfg, data, version="1.0").status == "published"
    bad = tmp_path / "bad"  # a copy of 1.0 whose last test joke is replaced by a train joke
    shutil.copytree(data / "releases" / "1.0", bad)
    train, test = pq.read_table(bad / "jokes" / "train-00000.parquet"), bad / "jokes" / "test-00000.parquet"
    pq.write_table(
        pa.concat_tables([pq.read_table(test).slice(0, pq.read_metadata(test).num_rows - 1), train.slice(3, 1)]), test
    )
    manifest = json.loads((bad / "MANIFEST.json").read_text())
    with pytest.raises(ReleaseInvalid, match=rf"jokes: id {train['id'][3]} is in train and test") as err:
        validate_release(bad, manifest)
    assert str(err.value).count(" is in ") == 1
    _write_rows(cc, _rows(real / "cleancomedy" / "clean_comedy_gold_en.csv")[:60])
    body = (tmp_path / "jm.toml").read_text() + "[splits]\ntrain = 0.998\nvalidation = 0.001\ntest = 0.001\n"
    cfg2 = load_config(write_config(tmp_path / "jm.toml", body))
    scrape(cfg2, data, progress=False)
    clean(cfg2, data, progress=False, resplit=True)  # published ids keep their splits unless reassigned
    with pytest.raises(ReleaseInvalid, match=r"setup_punch: split validation is empty"):
        publish(cfg2, data, version="2.0")
    assert Layout(data).release_latest() == data / "releases" / "1.0"
    assert [p.name for p in ledger_files(data)] == ["00000-1.0.parquet"]  # a refused release records no split
    assert sorted(p.name for p in (data / "releases").iterdir()) == ["1.0", "latest"]
