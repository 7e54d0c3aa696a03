from __future__ import annotations

from pathlib import Path

import pytest

from jokemine.config import load_config
from jokemine.errors import ConfigError
from tests.conftest import REPO, write_config


def test_real_offline_config_validates_and_resolves_paths() -> None:
    cfg = load_config(REPO / "configs" / "real-offline.toml")
    assert [s.name for s in cfg.sources] == [
        "rjokes",
        "reddit_subs",
        "reddit_daily",
        "taivop_sample",
        "qa_jokes",
        "bfinan_qa",
        "bfinan_lightbulbs",
        "cleancomedy_en",
        "cleancomedy_ru",
        "askreddit_thread",
        "praw_threads",
    ]
    rjokes = cfg.source("rjokes")
    assert rjokes.paths(cfg.base_dir) == [
        str(REPO.parent / "shared/data/real/kampta-reddit-jokes/r_jokes_submissions.ndjson.zst")
    ]
    assert rjokes.namespace == "reddit"  # Reddit posts share one id space across sources
    assert cfg.source("qa_jokes").namespace == "qa_jokes"
    assert cfg.data_dir() == (REPO / "data" / "real-offline").resolve()
    assert cfg.data_dir("/tmp/x") == Path("/tmp/x")


def test_default_config_needs_no_credentials_or_local_files() -> None:
    cfg = load_config(REPO / "configs" / "default.toml")
    assert [(s.name, s.kind) for s in cfg.sources] == [
        ("anekdot_ru", "anekdot_ru"),
        ("reddit_jokes_1m", "hub_dataset"),
        ("short_jokes", "hub_dataset"),
        ("reddit_live", "reddit_api"),
    ]
    hub = [s for s in cfg.sources if s.kind == "hub_dataset"]
    assert all(s.license for s in hub) and [s.license for s in hub] == ["CC-BY-4.0", "MIT"]
    assert cfg.clean.languages == ["en", "ru"]


def test_unknown_key_names_file_and_key(tmp_path: Path) -> None:
    p = write_config(tmp_path / "c.toml", '[clean]\nlanguges = ["en"]\n')
    with pytest.raises(ConfigError) as e:
        load_config(p)
    assert str(e.value) == f"{p}: clean.languges: unknown key"


def test_source_errors_name_index_and_source(tmp_path: Path) -> None:
    p = write_config(
        tmp_path / "c.toml",
        """
[[sources]]
name = "ok"
kind = "reddit_dump"
path = "x.zst"

[[sources]]
name = "qa"
kind = "table"
path = "q.csv"
columns = { question = "Q" }
""",
    )
    with pytest.raises(ConfigError) as e:
        load_config(p)
    msg = str(e.value)
    assert msg.startswith(f"{p}: sources[1] ('qa').columns: ")
    assert "'question' and 'answer' must be mapped together" in msg


def test_bad_kind_missing_path_and_bad_ratios(tmp_path: Path) -> None:
    p = write_config(tmp_path / "c.toml", '[[sources]]\nname = "a"\nkind = "ftp"\npath = "x"\n')
    with pytest.raises(ConfigError, match=r"sources\[0\] \('a'\): unknown kind 'ftp'"):
        load_config(p)
    p = write_config(tmp_path / "c.toml", '[[sources]]\nname = "a"\nkind = "reddit_dump"\n')
    with pytest.raises(ConfigError, match=r"sources\[0\] \('a'\)\.path: missing required key"):
        load_config(p)
    p = write_config(tmp_path / "c.toml", "[splits]\ntrain = 0.5\n")
    with pytest.raises(ConfigError, match=r"splits: train \+ validation \+ test must be 1"):
        load_config(p)
    p = write_config(
        tmp_path / "c.toml",
        '[[sources]]\nname = "a"\nkind = "table"\npath = "x"\nencoding = "klingon"\ncolumns = {text = "t"}\n',
    )
    with pytest.raises(ConfigError, match=r"encoding: unknown encoding 'klingon'"):
        load_config(p)


def test_duplicate_names_invalid_toml_and_missing_file(tmp_path: Path) -> None:
    body = '[[sources]]\nname = "a"\nkind = "reddit_dump"\npath = "x"\n'
    p = write_config(tmp_path / "c.toml", body + body)
    with pytest.raises(ConfigError, match="duplicate source name 'a'"):
        load_config(p)
    p = write_config(tmp_path / "bad.toml", "[clean\n")
    with pytest.raises(ConfigError, match=r"bad.toml: invalid TOML: .*line 1"):
        load_config(p)
    with pytest.raises(ConfigError, match=r"nope\.toml: config file not found"):
        load_config(tmp_path / "nope.toml")


def test_globs_env_vars_and_config_relative_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "dumps").mkdir()
    for n in ("b.json", "a.json"):
        (tmp_path / "dumps" / n).write_text("[]")
    monkeypatch.setenv("JM_DUMPS", str(tmp_path / "dumps"))
    p = write_config(
        tmp_path / "c.toml",
        '[[sources]]\nname = "a"\nkind = "reddit_dump"\n'
        'path = ["${JM_DUMPS}/*.json", "missing/*.zst"]\n[paths]\ndata_dir = "out"\n',
    )
    cfg = load_config(p)
    files = cfg.sources[0].files(cfg.base_dir)
    assert files == [tmp_path / "dumps/a.json", tmp_path / "dumps/b.json", tmp_path / "missing/*.zst"]
    assert cfg.data_dir() == tmp_path / "out"


def test_dedup_section_validated_with_key_names(tmp_path: Path) -> None:
    cfg = load_config(write_config(tmp_path / "ok.toml", "[dedup]\nthreshold = 0.8\n"))
    assert cfg.dedup.params().banding() == (32, 7)  # most selective banding of 224 still >= 0.995 at 0.8
    with pytest.raises(ConfigError, match=r"dedup: bands and rows go together"):
        load_config(write_config(tmp_path / "a.toml", "[dedup]\nbands = 10\n"))
    with pytest.raises(ConfigError, match=r"dedup: 4 bands x 5 rows find a pair at threshold 0.55 with probability"):
        load_config(write_config(tmp_path / "b.toml", "[dedup]\nbands = 4\nrows = 5\n"))
    with pytest.raises(ConfigError, match=r"dedup\.shingle"):
        load_config(write_config(tmp_path / "c.toml", "[dedup]\nshingle = 'sentence'\n"))
