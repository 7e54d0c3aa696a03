"""Issue 20: Hub datasets as a source (``hub_dataset``, streamed with ``datasets``) and ``hf://`` paths in file
sources (huggingface_hub's file system), against the loopback Hub (tests/hub_server.py) with real jokes."""

from __future__ import annotations

import csv
import io
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO, raw_envelopes, write_config
from tests.hub_server import FakeHub

CC_EN = Path("cleancomedy") / "clean_comedy_gold_en.csv"
README = b"""---
license: cc-by-4.0
configs:
- config_name: en
  data_files:
  - split: train
    path: data/en/train.csv
  - split: test
    path: data/en/test.csv
---
# CleanComedy sample
"""


def _rows(real: Path, n: int) -> list[dict[str, str]]:
    with open(real / CC_EN, newline="", encoding="utf-8") as fh:
        return [{"text": r["text"], "score": r["score"]} for r in list(csv.DictReader(fh, delimiter=";"))[:n]]


def _csv(rows: list[dict[str, str]]) -> bytes:
    s = io.StringIO()
    w = csv.DictWriter(s, ["text", "score"])
    w.writeheader()
    w.writerows(rows)
    return s.getvalue().encode()


def _config(tmp: Path) -> Path:
    return write_config(
        tmp / "jm.toml",
        """
[paths]
data_dir = "data"
[[sources]]
name = "hub"
kind = "hub_dataset"
repo = "alice/cleancomedy"
config = "en"
split = "train"
columns = { text = "text", score = "score" }
score_kind = "mean_rating"
[[sources]]
name = "hubfiles"
kind = "table"
path = "hf://datasets/alice/cleancomedy/data/*/test.csv"
columns = { text = "text", score = "score" }
""",
    )


def _scrape(config: Path, endpoint: str, tmp: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HF_ENDPOINT": endpoint, "HF_HOME": str(tmp / "hf"), "HF_HUB_DISABLE_TELEMETRY": "1"}
    env.update(HF_HUB_OFFLINE="0", HF_DATASETS_OFFLINE="0")  # the suite runs offline; the loopback Hub is reachable
    env.pop("HF_TOKEN", None)
    return subprocess.run(
        [sys.executable, "-m", "jokemine", "--config", str(config), "scrape"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip


def test_hub_dataset_and_hf_paths_read_from_the_loopback_hub(real: Path, tmp_path: Path) -> None:
    rows = _rows(real, 400)
    train, test = rows[:300], rows[300:]
    config = _config(tmp_path)
    with FakeHub() as hub:
        first = hub.seed(
            "alice/cleancomedy", {"README.md": README, "data/en/train.csv": _csv(train), "data/en/test.csv": _csv(test)}
        )
        r = _scrape(config, hub.url, tmp_path)
        assert r.returncode == 0, r.stderr[-2000:]
        assert "hub: ok: 300 records stored in 1 parts, 0 quarantined, rows 300" in r.stdout
        assert "hubfiles: ok: 100 records stored in 1 parts, 0 quarantined, files_csv 1, files_read 1" in r.stdout
        assert "HTTP Request" not in r.stderr  # httpx's request log stays quiet
        data = tmp_path / "data"
        envs = raw_envelopes(data, "hub")
        assert [e["data"] for e in envs] == [{"text": r["text"], "score": float(r["score"])} for r in train]
        assert {e["origin"] for e in envs} == {f"hf://datasets/alice/cleancomedy@{first.oid}/en/train"}
        files = raw_envelopes(data, "hubfiles")
        assert [e["data"] for e in files] == test
        assert {e["origin"] for e in files} == {"hf://datasets/alice/cleancomedy/data/en/test.csv"}
        # `sources inspect` reads a Hub file too, naming it by its URL
        env = {**os.environ, "HF_ENDPOINT": hub.url, "HF_HOME": str(tmp_path / "hf"), "HF_HUB_OFFLINE": "0"}
        url = "hf://datasets/alice/cleancomedy/data/en/test.csv"
        r = subprocess.run(
            [sys.executable, "-m", "jokemine", "sources", "inspect", url], env=env, capture_output=True, text=True
        )
        assert r.returncode == 0, r.stderr[-2000:]
        assert r.stdout.startswith(f"{url}:\n  shape: csv (delimiter ',', header row; from the extension)\n")
        assert "  records: 100 (100 objects)" in r.stdout and f'path = "{url}"' in r.stdout
        # nothing changed on the Hub: nothing is read again (the commit and the blob id are the cursors)
        resolves = len(hub.calls("resolve"))
        r = _scrape(config, hub.url, tmp_path)
        assert r.returncode == 0 and "hub: unchanged" in r.stdout and "hubfiles: unchanged" in r.stdout
        assert len(hub.calls("resolve")) - resolves <= 2  # README/metadata lookups only, no data file
        # a new commit: both are read again (the table file by its new content)
        hub.seed("alice/cleancomedy", {"data/en/train.csv": _csv(train[:250]), "data/en/test.csv": _csv(test[:50])})
        r = _scrape(config, hub.url, tmp_path)
        assert r.returncode == 0, r.stderr[-2000:]
        assert "hub: ok: 250 records" in r.stdout and "hubfiles: ok: 50 records" in r.stdout
    assert not list((tmp_path / "data").rglob("*token*"))


def test_an_unreachable_hub_fails_each_source_with_one_line(tmp_path: Path) -> None:
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = _config(tmp_path)
    r = _scrape(config, f"http://127.0.0.1:{port}", tmp_path)
    assert r.returncode == 1
    errors = [ln for ln in r.stderr.splitlines() if ln.startswith("error:")]
    assert len(errors) == 2, r.stderr[-3000:]
    assert errors[0].startswith(
        "error: hub: hf://datasets/alice/cleancomedy (config 'en', split 'train'): cannot read the dataset from the "
        "Hugging Face Hub ("
    )
    assert errors[1].startswith(
        "error: hubfiles: hf://datasets/alice/cleancomedy/data/*/test.csv: cannot read from the Hugging Face Hub ("
    )
    assert "Traceback" not in r.stderr


@pytest.mark.parametrize("missing", ["repo", "column"])
def test_a_missing_repo_or_column_is_named(real: Path, tmp_path: Path, missing: str) -> None:
    config = write_config(
        tmp_path / "jm.toml",
        f"""
[paths]
data_dir = "data"
[[sources]]
name = "hub"
kind = "hub_dataset"
repo = "{"alice/nothing" if missing == "repo" else "alice/cleancomedy"}"
config = "en"
columns = {{ text = "{"joke" if missing == "column" else "text"}" }}
""",
    )
    with FakeHub() as hub:
        rows = _rows(real, 30)
        hub.seed(
            "alice/cleancomedy",
            {"README.md": README, "data/en/train.csv": _csv(rows[:20]), "data/en/test.csv": _csv(rows[20:])},
        )
        r = _scrape(config, hub.url, tmp_path)
    assert r.returncode == 1
    err = [ln for ln in r.stderr.splitlines() if ln.startswith("error:")]
    if missing == "repo":
        assert err[0].startswith("error: hub: hf://datasets/alice/nothing (config 'en', split 'train'): cannot read")
    else:
        assert err == [
            "error: hub: hf://datasets/alice/cleancomedy (config 'en', split 'train'): mapped column(s) ['joke'] not "
            "in the dataset's columns ['score', 'text']; set `columns` for source 'hub'"
        ]
