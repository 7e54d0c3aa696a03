"""Issue 22: what a downstream project runs after a push, ``load_dataset("owner/name", config, revision="v<version>")``,
against the loopback Hub (tests/hub_server.py), for every config of a real release.

Two real releases (r/cleanjokes posts and a real AskReddit thread: all six configs, data files of at most 500 rows)
are published and pushed by ``jokemine publish`` with ``[publish] repo_id``; the Hub stores the Parquet files in LFS,
as the real Hub does, so reading them goes through a redirect to a storage host. A separate Python process, online
against the loopback Hub only (``HF_ENDPOINT``; the suite is offline, and huggingface_hub / datasets read those
switches at import), with no token and an empty cache, then loads what downstream projects load and writes the rows
it got; the test process compares them with the local release folders, file by file.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import zstandard
from huggingface_hub import constants as hf_constants
from huggingface_hub.utils import _detect_agent

from tests.conftest import write_config
from tests.hub_server import FakeHub

TOKEN = "hf_jokemineLOADtoken456"
REPO = "jokemine-test/humor"
A, B = "2026.11.21", "2026.12.05"
CONFIGS = ["setup_punch", "qa", "jokes", "threads", "setup_punches", "preference"]
URS = "josephlai241-urs/askreddit_mbtjq7_belly_button_all-raw.json"
MISSING = "v1999.01.01"

pytestmark = pytest.mark.filterwarnings("ignore:Use 'content=<...>' to upload raw bytes:DeprecationWarning")  # LFS PUT

# Runs in the loader process: loads every job, writes each split it got as Parquet under <out>/<label>/<split>.parquet,
# and <out>/results.json: per job its splits or its error, the info of one data file, and any connection attempt
# that was not to 127.0.0.1 (refused).
LOADER = r"""
import json, socket, sys
from pathlib import Path

blocked = []
connect = socket.socket.connect

def loopback_only(self, address):
    if isinstance(address, tuple) and address[0] != "127.0.0.1":
        blocked.append(repr(address))
        raise OSError(f"loader: connection to {address!r} refused")
    return connect(self, address)

socket.socket.connect = loopback_only

import datasets
import pyarrow as pa
import pyarrow.parquet as pq
from huggingface_hub import HfFileSystem

repo, out, jobs, info_path = sys.argv[1], Path(sys.argv[2]), json.loads(sys.argv[3]), sys.argv[4]
results = {}
for job in jobs:
    try:
        loaded = datasets.load_dataset(repo, job["config"], revision=job["revision"], streaming=job["streaming"])
    except Exception as err:
        results[job["label"]] = {"error": type(err).__name__, "message": str(err)}
        continue
    (out / job["label"]).mkdir(parents=True)
    for split, ds in loaded.items():
        if job["streaming"]:  # Arrow batches as they are streamed from the Parquet files (range requests)
            table = pa.concat_tables(ds.with_format("arrow").iter(batch_size=1000))
        else:
            table = ds.data.table
        pq.write_table(table, out / job["label"] / f"{split}.parquet")
    results[job["label"]] = {"splits": list(loaded)}
info = HfFileSystem().info(info_path, expand_info=True)
results["info"] = {"size": info["size"], "sha256": info["lfs"].sha256, "commit": info["last_commit"].oid}
results["blocked"] = blocked
(out / "results.json").write_text(json.dumps(results))
"""


@contextmanager
def _loopback_push_env(home: Path) -> Iterator[list[Any]]:
    """For the pushes in this process: sockets limited to 127.0.0.1, huggingface_hub online (the suite is offline),
    HF_HOME, stored-token paths and temp files under ``home``, the token only in HF_TOKEN. Yields the refused
    addresses."""
    home.mkdir(parents=True, exist_ok=True)
    blocked: list[Any] = []
    real_connect, real_getaddrinfo = socket.socket.connect, socket.getaddrinfo

    def connect(self: socket.socket, address: Any) -> None:
        if isinstance(address, tuple) and address[0] != "127.0.0.1":
            blocked.append(address)
            raise OSError(f"test: network access to {address!r} is forbidden")
        real_connect(self, address)

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host not in (None, "127.0.0.1", b"127.0.0.1"):
            blocked.append(host)
            raise OSError(f"test: name lookup of {host!r} is forbidden")
        return real_getaddrinfo(host, *args, **kwargs)

    with pytest.MonkeyPatch.context() as mp:
        for var in ("HUGGING_FACE_HUB_TOKEN", "HF_OIDC_RESOURCE", "HF_ENDPOINT"):
            mp.delenv(var, raising=False)
        mp.setenv("HF_HOME", str(home))
        mp.setenv("HF_TOKEN", TOKEN)
        mp.setenv("MPLCONFIGDIR", str(home / "mpl"))
        mp.setattr(hf_constants, "HF_TOKEN_PATH", str(home / "token"))
        mp.setattr(hf_constants, "HF_STORED_TOKENS_PATH", str(home / "stored_tokens"))
        mp.setattr(hf_constants, "HF_HUB_OFFLINE", False)
        mp.setattr(hf_constants, "HF_HUB_DISABLE_XET", True)  # the loopback Hub speaks LFS, not Xet
        mp.setattr(hf_constants, "AGENT_HARNESSES_PATH", str(home / ".agent_harnesses.json"))
        mp.setattr(_detect_agent, "_registry", None)
        mp.setattr(tempfile, "tempdir", str(home))
        mp.setattr(socket.socket, "connect", connect)
        mp.setattr(socket, "getaddrinfo", getaddrinfo)
        yield blocked


def _local(release: Path, config: str) -> dict[str, pa.Table]:
    """The rows of ``config`` in a local release folder: per split (in the manifest's order: train, validation,
    test), its data files ``<split>-*.parquet`` concatenated in name order."""
    manifest = json.loads((release / "MANIFEST.json").read_text(encoding="utf-8"))
    files = {s: sorted((release / config).glob(f"{s}-*.parquet")) for s in manifest["counts"][config]}
    assert sorted(p for paths in files.values() for p in paths) == sorted((release / config).glob("*.parquet"))
    return {split: pa.concat_tables([pq.read_table(p) for p in paths]) for split, paths in files.items()}


@pytest.fixture(scope="module")
def hub_load(real: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Release A (the first 1300 r/cleanjokes posts + the AskReddit thread) pushed and tagged, then release B (all
    1432 posts) pushed on top, both by ``publish``; then one loader process (see LOADER). Returns the local releases,
    the Hub, the tag commits, the loader's results and output folder, and the requests it made."""
    from jokemine.cleaning.stage import clean
    from jokemine.config import load_config
    from jokemine.publish.release import publish
    from jokemine.scrapers.run import scrape

    tmp = tmp_path_factory.mktemp("hub-load")
    with open(real / "kampta-reddit-jokes" / "r_cleanjokes_submissions.ndjson.zst", "rb") as fh:
        text = zstandard.ZstdDecompressor().stream_reader(fh).read().decode()
    posts = [line for line in text.split("\n") if line.strip()]
    dump = tmp / "cleanjokes.ndjson"
    with FakeHub(token=TOKEN, lfs=True) as hub:
        cfg = load_config(
            write_config(
                tmp / "jm.toml",
                f"""
[paths]
data_dir = "{tmp / "data"}"
[[sources]]
name = "cleanjokes"
kind = "reddit_dump"
path = "{dump}"
[[sources]]
name = "askreddit"
kind = "reddit_comments"
path = "{real / URS}"
[clean]
workers = 1
[publish]
preference_rule = "shp"
allow_empty_splits = true
max_rows_per_shard = 500
repo_id = "{REPO}"
hub_endpoint = "{hub.url}"
""",
            )
        )
        with _loopback_push_env(tmp / "hf-push") as blocked:
            for version, n in ((A, 1300), (B, len(posts))):
                dump.write_text("\n".join(posts[:n]) + "\n", encoding="utf-8")
                scrape(cfg, tmp / "data", progress=False)
                clean(cfg, tmp / "data", progress=False)
                report = publish(cfg, tmp / "data", version=version)
                assert report.hub is not None and report.hub.status == "pushed", report
        assert blocked == []
        tags = hub.repo(REPO).tags
        pushed = len(hub.calls())

        # B by commit first: with an empty cache, as later loads of a commit are answered from the cache
        jobs = [{"label": "b-by-commit", "config": "setup_punch", "revision": tags[f"v{B}"], "streaming": False}]
        jobs += [{"label": c, "config": c, "revision": f"v{A}", "streaming": False} for c in CONFIGS]
        jobs += [
            {"label": "b-by-tag", "config": "setup_punch", "revision": f"v{B}", "streaming": False},
            {"label": "b-by-branch", "config": "setup_punch", "revision": "main", "streaming": False},
            {"label": "a-streamed", "config": "jokes", "revision": f"v{A}", "streaming": True},
            {"label": "missing", "config": "setup_punch", "revision": MISSING, "streaming": False},
        ]
        out = tmp / "loaded"
        out.mkdir()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGING"))}  # no token, no cache
        env.update(
            HF_ENDPOINT=hub.url,
            HF_HUB_OFFLINE="0",
            HF_DATASETS_OFFLINE="0",
            HF_HOME=str(tmp / "hf-load"),
            HF_DATASETS_CACHE=str(tmp / "hf-load" / "datasets"),
            HF_HUB_DISABLE_TELEMETRY="1",
            HF_DATASETS_DISABLE_PROGRESS_BARS="1",
            HF_HUB_DISABLE_PROGRESS_BARS="1",
        )
        info_path = f"datasets/{REPO}@v{A}/jokes/train-00000.parquet"
        r = subprocess.run(
            [sys.executable, "-c", LOADER, REPO, str(out), json.dumps(jobs), info_path],
            cwd=tmp, env=env, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert r.returncode == 0, r.stderr[-3000:]
        results = json.loads((out / "results.json").read_text(encoding="utf-8"))
        return {
            "a": tmp / "data" / "releases" / A,
            "b": tmp / "data" / "releases" / B,
            "hub": hub,
            "tags": tags,
            "results": results,
            "out": out,
            "requests": hub.calls()[pushed:],
        }


def _assert_loaded(hub_load: dict[str, Any], label: str, release: Path, config: str) -> dict[str, pa.Table]:
    """The rows job ``label`` loaded are those of ``config`` in ``release``: same splits, columns, types, rows and
    order. Returns the local rows."""
    local = _local(release, config)
    result = hub_load["results"][label]
    assert result == {"splits": list(local)}, result
    manifest = json.loads((release / "MANIFEST.json").read_text(encoding="utf-8"))
    assert {s: t.num_rows for s, t in local.items()} == manifest["counts"][config]
    for split, want in local.items():
        got = pq.read_table(hub_load["out"] / label / f"{split}.parquet")
        assert got.column_names == want.column_names, (config, split)
        assert got.schema.remove_metadata() == want.schema.remove_metadata(), (config, split)
        id_column = next(c for c in ("id", "group_key", "id_chosen") if c in want.column_names)
        assert got[id_column].to_pylist() == want[id_column].to_pylist(), (config, split)
        assert got.to_pylist() == want.to_pylist(), (config, split)
    return local


def test_every_config_loads_by_version_tag_with_the_rows_of_the_local_release(hub_load: dict[str, Any]) -> None:
    release = hub_load["a"]
    manifest = json.loads((release / "MANIFEST.json").read_text(encoding="utf-8"))
    assert list(manifest["counts"]) == CONFIGS  # the release has every config, and each one is loaded below
    assert all(n > 0 for counts in manifest["counts"].values() for n in counts.values())
    assert len(list((release / "jokes").glob("train-*.parquet"))) >= 3  # several data files per split, in order
    for config in CONFIGS:
        _assert_loaded(hub_load, config, release, config)
    assert list(_local(release, "threads")) == ["train"]  # configs without validation/test splits load as such
    jokes = pq.read_table(hub_load["out"] / "jokes" / "train.parquet")
    assert set(jokes["source"].to_pylist()) == {"cleanjokes", "askreddit"}


def test_the_tag_keeps_serving_its_release_after_a_later_push(hub_load: dict[str, Any]) -> None:
    """Release A by its tag after B was pushed; B by its commit, its tag and ``main``."""
    a, b, tags = hub_load["a"], hub_load["b"], hub_load["tags"]
    repo = hub_load["hub"].repo(REPO)
    assert tags[f"v{B}"] == repo.head.oid != tags[f"v{A}"]  # main moved on to release B
    rows_a = _assert_loaded(hub_load, "setup_punch", a, "setup_punch")  # by tag v<A>
    rows_b = _assert_loaded(hub_load, "b-by-commit", b, "setup_punch")
    assert rows_a["train"].num_rows < rows_b["train"].num_rows  # B has the newer posts: the two really differ
    _assert_loaded(hub_load, "b-by-tag", b, "setup_punch")
    _assert_loaded(hub_load, "b-by-branch", b, "setup_punch")
    # each revision was resolved by the Hub (the card asked for by that name; the data files then at its commit)
    cards = [(r.path, r.status) for r in hub_load["requests"] if r.method == "HEAD" and r.path.endswith("/README.md")]
    for rev in (tags[f"v{B}"], f"v{A}", f"v{B}", "main"):
        assert (f"/datasets/{REPO}/resolve/{rev}/README.md", 200) in cards, rev
    data = {r.path.split("/resolve/")[1] for r in hub_load["requests"] if r.kind == "resolve" and r.status == 302}
    assert {f"{tags[f'v{B}']}/setup_punch/{p.name}" for p in (b / "setup_punch").glob("*.parquet")} <= data
    assert {f"{tags[f'v{A}']}/{p.relative_to(a).as_posix()}" for p in a.glob("*/*.parquet")} <= data


def test_streaming_reads_the_lfs_files_by_byte_ranges(hub_load: dict[str, Any]) -> None:
    _assert_loaded(hub_load, "a-streamed", hub_load["a"], "jokes")
    requests = hub_load["requests"]
    ranged = [r for r in requests if r.kind == "lfs-cdn" and r.status == 206]
    assert ranged and all(r.headers["range"].startswith("bytes=") for r in ranged)
    redirects = [r for r in requests if r.kind == "resolve" and r.path.endswith(".parquet")]
    assert redirects and {r.status for r in redirects} == {302}  # LFS files live on the storage host
    # the file's metadata, as HfFileSystem asks it (paths-info, expanded): the LFS object and the tag's commit
    local = hub_load["a"] / "jokes" / "train-00000.parquet"
    repo_file = hub_load["hub"].repo(REPO).commit(hub_load["tags"][f"v{A}"]).snapshot["jokes/train-00000.parquet"]
    assert hub_load["results"]["info"] == {
        "size": local.stat().st_size,
        "sha256": repo_file.oid,
        "commit": hub_load["tags"][f"v{A}"],
    }
    assert repo_file.content == local.read_bytes()
    assert any(r.kind == "paths-info" and r.status == 200 for r in requests)


def test_a_revision_that_does_not_exist_fails_clearly(hub_load: dict[str, Any]) -> None:
    result = hub_load["results"]["missing"]
    assert result == {
        "error": "DatasetNotFoundError",
        "message": f"Revision '{MISSING}' doesn't exist for dataset '{REPO}' on the Hub.",
    }
    asked = [r for r in hub_load["requests"] if MISSING in r.path]
    assert [(r.method, r.kind, r.status) for r in asked] == [("HEAD", "resolve", 404)]
    assert not (hub_load["out"] / "missing").exists()


def test_downstream_loading_needs_no_token_and_stays_on_loopback(hub_load: dict[str, Any]) -> None:
    assert hub_load["results"]["blocked"] == []
    requests = hub_load["requests"]
    assert requests and all("authorization" not in r.headers for r in requests)
    assert {r.kind for r in requests} <= {"resolve", "info", "tree", "paths-info", "lfs-cdn"}
    assert all(r.status in (200, 206, 302) or (r.status == 404 and r.kind == "resolve") for r in requests)
