"""Shared fixtures. Real data lives in ../shared/data (beside the repository, or $JOKEMINE_SHARED); tests that
need it skip when it is absent, except under CI (CI=true), where its absence fails them."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest

# before anything imports datasets / huggingface_hub: never the network, never the user's cache
os.environ["HF_DATASETS_OFFLINE"] = "1"
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_DATASETS_DISABLE_PROGRESS_BARS"] = "1"
os.environ["HF_HOME"] = tempfile.mkdtemp(prefix="jokemine-test-hf-")
atexit.register(shutil.rmtree, os.environ["HF_HOME"], True)  # (path, ignore_errors)

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("JOKEMINE_SHARED", REPO.parent / "shared")).resolve()
REAL = SHARED / "data" / "real"
EXTRA = SHARED / "data" / "extra"


def _need(path: Path) -> Path:
    if path.exists():
        return path
    msg = f"real data not found at {path} (put the shared folder beside the repo or set JOKEMINE_SHARED)"
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(msg + " - required under CI")
    pytest.skip(msg)


@pytest.fixture(scope="session")
def real() -> Path:
    """``../shared/data/real`` (skips, or fails under CI, when absent)."""
    return _need(REAL)


@pytest.fixture(scope="session")
def extra() -> Path:
    """``../shared/data/extra``."""
    return _need(EXTRA)


@pytest.fixture(scope="session")
def real_pipeline(real: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """``make scrape clean publish`` over configs/real-offline.toml (the full real data, ~2 min) into a temporary
    data dir, once per session: ``data`` (the data dir), ``stdout``, ``stderr``, ``release`` (the release folder).
    Tests must not write into it (copy what they change)."""
    import subprocess
    import sys

    data = tmp_path_factory.mktemp("e2e") / "data"
    env = {**os.environ, "MPLCONFIGDIR": str(data.parent / "mpl")}  # a first run: matplotlib builds its font cache
    r = subprocess.run(
        ["make", "--no-print-directory", "scrape", "clean", "publish", "CONFIG=configs/real-offline.toml",
         f"DATA_DIR={data}", f"PY={sys.executable}"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=1200,
        env=env,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr[-3000:]
    return {"data": data, "stdout": r.stdout, "stderr": r.stderr, "release": (data / "releases" / "latest").resolve()}


@pytest.fixture(scope="session")
def _api_posts_once(real: Path) -> list[dict[str, Any]]:
    from tests.reddit_server import load_posts

    return load_posts(real, last=250, self_only=True)


@pytest.fixture
def api_posts(_api_posts_once: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The newest 250 real r/Jokes self posts as Reddit's API serves them, oldest first (a fresh copy per test; the
    dump behind them, 91k posts, is decompressed once per session)."""
    import copy

    return copy.deepcopy(_api_posts_once)


def write_config(path: Path, body: str) -> Path:
    """Write a TOML config file and return its path."""
    path.write_text(body, encoding="utf-8")
    return path


def raw_envelopes(data: Path, source: str) -> list[dict]:
    """Every committed raw envelope of ``source`` in data dir ``data``, in commit order."""
    from jokemine.scrapers.raw_store import read_part
    from jokemine.state import Layout, State

    with State(Layout(data).state_path) as st:
        parts = st.raw_parts([source])
    return [env for p in parts for _, env in read_part(data / p.path)]


def clean_frame(data: Path):
    """The latest clean run of ``data`` as a DataFrame indexed by ``id``."""
    import pyarrow.parquet as pq

    run = (data / "clean" / "latest").resolve()
    return pq.ParquetDataset(sorted(run.glob("part-*.parquet"))).read().to_pandas().set_index("id")
