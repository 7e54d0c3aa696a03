"""The Python API (jokemine.api): the README's example runs as written, on a small real config."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest

import jokemine
from jokemine.errors import JokemineError
from tests.conftest import REPO, write_config


def _readme_example() -> str:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text.split("## Python API", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, re.S)
    assert len(blocks) == 1
    return blocks[0]


def test_readme_python_example_runs(real: Path, tmp_path: Path) -> None:
    config = write_config(tmp_path / "small.toml", f"""
[paths]
data_dir = "{tmp_path / "data"}"
[[sources]]
name = "askreddit_thread"
kind = "reddit_comments"
path = "{real / "josephlai241-urs/*.json"}"
[[sources]]
name = "cleancomedy_en"
kind = "table"
path = "{real / "cleancomedy/clean_comedy_gold_en.csv"}"
delimiter = ";"
columns = {{ text = "text", score = "score" }}
score_kind = "mean_rating"
lang = "en"
[clean]
workers = 1
[publish]
allow_empty_splits = true
""")  # fmt: skip
    code = _readme_example().replace("configs/real-offline.toml", str(config))
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "README.md#python-api", "exec"), {})
    printed = out.getvalue()
    assert "('askreddit_thread', 'ok', 1516)" in printed and "('cleancomedy_en', 'ok', 1000)" in printed
    assert "[0, 0, 2]" in printed and "I used to be a banker, | but I lost interest." in printed
    release = jokemine.open_release(tmp_path / "data")  # a data dir: its releases/latest
    assert release.configs[:3] == ["setup_punch", "qa", "jokes"] and "threads" in release.configs
    assert f"{release.version} {release.configs}" in printed
    jokes = release.frame("jokes")
    assert len(jokes) == sum(release.splits("jokes").values()) == release.changelog["configs"]["jokes"]["added"]
    assert set(jokes.split) <= {"train", "validation", "test"} and release.card.startswith("---")
    ds = release.dataset("setup_punch")
    assert sum(ds[s].num_rows for s in ds) == sum(release.splits("setup_punch").values())
    with pytest.raises(JokemineError, match="no config 'nope'"):
        release.frame("nope")
    with pytest.raises(JokemineError, match="not a jokemine release"):
        jokemine.open_release(tmp_path)


def test_import_is_light_and_names_resolve() -> None:
    import subprocess
    import sys

    code = "import sys, jokemine; print(sorted(m for m in ('pandas', 'pyarrow', 'datasets') if m in sys.modules))"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=60)
    assert r.stdout.strip() == "[]", r.stderr
    assert {n for n in jokemine.__all__ if n != "__version__"} <= set(dir(jokemine)) | set(jokemine._API)
    with pytest.raises(AttributeError):
        _ = jokemine.not_a_thing  # type: ignore[attr-defined]
