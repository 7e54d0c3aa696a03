"""jokemine.publish.hub against a loopback fake Hub (tests/hub_server.py), through the real huggingface_hub client.

Every test runs with sockets limited to 127.0.0.1 (anything else fails the test), huggingface_hub's offline switch
turned off for the fake Hub only, and HF_HOME / the stored-token path / temp files inside tmp_path, so neither
huggingface.co nor the user's cache or login is ever touched.
"""

from __future__ import annotations

import hashlib
import json
import logging
import socket
import struct
import tempfile
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from huggingface_hub import constants as hf_constants
from huggingface_hub.utils import _detect_agent

from jokemine.errors import JokemineError
from jokemine.publish.hub import HubPushReport, push_release, resolve_token
from tests.hub_server import GITATTRIBUTES, FakeHub

TOKEN = "hf_jokemineTESTtoken123"
REPO = "jokemine-test/humor"
V1 = "2026.11.21"
V2 = "2026.12.05"


# --- fixtures -------------------------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Any]]:
    """Loopback-only sockets; no real token, cache or temp dir outside tmp_path; huggingface_hub online (the
    suite's conftest sets HF_HUB_OFFLINE=1, which would block the pushes to the fake Hub)."""
    home = tmp_path / "hf-home"
    home.mkdir()
    (tmp_path / "tmp").mkdir()
    monkeypatch.setenv("HF_HOME", str(home))
    for var in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_OIDC_RESOURCE", "HF_ENDPOINT"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(hf_constants, "HF_TOKEN_PATH", str(home / "token"))
    monkeypatch.setattr(hf_constants, "HF_STORED_TOKENS_PATH", str(home / "stored_tokens"))
    monkeypatch.setattr(hf_constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    # huggingface_hub 2.4 fetches {HF_ENDPOINT}/api/agent-harnesses once per process (cached in memory and under
    # HF_HOME) for its User-Agent: forget both so that every test would catch that request leaving 127.0.0.1
    monkeypatch.setattr(_detect_agent, "_registry", None)
    monkeypatch.setattr(hf_constants, "AGENT_HARNESSES_PATH", str(home / ".agent_harnesses.json"))

    blocked: list[Any] = []
    real_connect = socket.socket.connect
    real_getaddrinfo = socket.getaddrinfo

    def loopback(host: Any) -> bool:
        return host in ("127.0.0.1", "::1", "localhost", b"127.0.0.1", b"localhost")

    def connect(self: socket.socket, address: Any) -> None:
        if isinstance(address, tuple) and not loopback(address[0]):
            blocked.append(address)
            raise OSError(f"test: network access to {address!r} is forbidden")
        real_connect(self, address)

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host is not None and not loopback(host):
            blocked.append(host)
            raise OSError(f"test: name lookup of {host!r} is forbidden")
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    yield blocked
    assert blocked == [], f"something tried to leave 127.0.0.1: {blocked}"


@pytest.fixture
def hub() -> Iterator[FakeHub]:
    with FakeHub(token=TOKEN) as server:
        yield server


@pytest.fixture
def debug_logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG)
    for name in ("huggingface_hub", "jokemine", "httpx2", "httpcore2"):
        caplog.set_level(logging.DEBUG, logger=name)
    return caplog


# --- a small real release -------------------------------------------------------------------------------------


def _png(width: int = 2, height: int = 2) -> bytes:
    """A real (tiny, grey) PNG."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    raw = b"".join(b"\0" + b"\x80" * width for _ in range(height))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


def _jokes(n: int, offset: int = 0) -> pa.Table:
    return pa.table(
        {
            "id": [f"j{offset + i:04d}" for i in range(n)],
            "setup": [f"Why did joke {offset + i} cross the road?" for i in range(n)],
            "punchline": [f"To reach punchline {offset + i}." for i in range(n)],
            "score_norm": [round((i % 10) / 10, 2) for i in range(n)],
        }
    )


def make_release(root: Path, version: str, data: dict[str, pa.Table], figures: tuple[str, ...] = ()) -> Path:
    """``root/releases/<version>/`` as the publish stage lays it out: Parquet shards, figures, card, manifest."""
    rel = root / "releases" / version
    files = []
    for path, table in sorted(data.items()):
        (rel / path).parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(table, rel / path)
        sha = hashlib.sha256((rel / path).read_bytes()).hexdigest()
        files.append({"path": path, "rows": table.num_rows, "sha256": sha})
    for name in figures:
        (rel / "figures").mkdir(parents=True, exist_ok=True)
        (rel / "figures" / name).write_bytes(_png())
    configs = sorted({p.split("/")[0] for p in data})
    yaml_configs = "".join(
        f"- config_name: {c}\n  data_files:\n  - split: train\n    path: {c}/train-*.parquet\n" for c in configs
    )
    (rel / "README.md").write_text(
        f"---\nlicense: cc-by-4.0\nlanguage:\n- en\nconfigs:\n{yaml_configs}---\n\n# Jokemine {version}\n\nJokes.\n",
        encoding="utf-8",
    )
    counts = {p.split("/")[0]: {"train": t.num_rows} for p, t in data.items()}
    data_hash = hashlib.sha256(json.dumps(sorted((f["path"], f["sha256"]) for f in files)).encode()).hexdigest()
    manifest = {"version": version, "files": files, "counts": counts, "data_hash": data_hash}
    (rel / "MANIFEST.json").write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    return rel


def release_v1(tmp_path: Path) -> Path:
    return make_release(
        tmp_path,
        V1,
        {
            "setup_punch/train-00000-of-00001.parquet": _jokes(10),
            "setup_punch/test-00000-of-00001.parquet": _jokes(3, offset=100),
            "qa/train-00000-of-00001.parquet": _jokes(4, offset=200),
        },
        figures=("scores.png", "lengths.png"),
    )


def local_files(rel: Path) -> dict[str, bytes]:
    return {p.relative_to(rel).as_posix(): p.read_bytes() for p in rel.rglob("*") if p.is_file()}


def push(rel: Path, hub: FakeHub, **kw: Any) -> HubPushReport:
    return push_release(rel, REPO, token=TOKEN, endpoint=hub.url, **kw)


# --- tests ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("lfs", [False, True], ids=["inline", "lfs"])
@pytest.mark.filterwarnings("ignore:Use 'content=<...>' to upload raw bytes:DeprecationWarning")  # hf's LFS PUT
def test_push_uploads_release_as_one_commit_and_tag(
    tmp_path: Path, hub: FakeHub, lfs: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    if lfs:
        # the real Hub asks for LFS/Xet uploads of binaries; with hf-xet installed the client would speak Xet,
        # which this fake Hub does not implement => the classic LFS batch + basic PUT path
        hub.lfs = True
        monkeypatch.setattr(hf_constants, "HF_HUB_DISABLE_XET", True)
    rel = release_v1(tmp_path)

    report = push(rel, hub)

    assert report.status == "pushed"
    assert report.files == sorted(local_files(rel))
    assert {"README.md", "MANIFEST.json", "figures/scores.png"} <= set(report.files)
    repo = hub.repo(REPO)
    assert repo.files == {**local_files(rel), ".gitattributes": GITATTRIBUTES}  # identical bytes, nothing else
    assert [c.message for c in repo.commits] == ["initial commit", f"jokemine release {V1}"]
    commit = repo.head
    assert sorted(commit.added) == report.files and commit.deleted == []
    assert repo.tags == {f"v{V1}": commit.oid}
    assert report.commit_url is not None and report.commit_url.endswith(commit.oid)
    assert len(hub.calls("commit")) == 1 and len(hub.calls("tag")) == 1
    api_calls = [r for r in hub.calls() if not r.kind.startswith("lfs-")]
    assert api_calls and all(r.headers.get("authorization") == f"Bearer {TOKEN}" for r in api_calls)
    assert hub.calls("tag")[0].path.endswith(f"/tag/{commit.oid}")  # the tag names the release commit
    assert all(r.status == 200 for r in hub.calls())
    if lfs:
        assert sorted(commit.lfs) == sorted(p for p in report.files if p.endswith((".parquet", ".png")))
        uploads = hub.calls("lfs-upload")
        assert len(uploads) == len(commit.lfs)
        assert all("authorization" not in r.headers for r in uploads)  # the token never goes to storage URLs
    else:
        assert commit.lfs == [] and hub.calls("lfs-batch") == []
    assert not any(TOKEN in line for line in report.lines())
    assert hf_constants.HF_HUB_DISABLE_TELEMETRY is False  # switched off during the push only


def test_second_push_of_same_version_is_unchanged(tmp_path: Path, hub: FakeHub) -> None:
    rel = release_v1(tmp_path)
    first = push(rel, hub)
    n_commits = len(hub.repo(REPO).commits)
    before = len(hub.calls())

    again = push(rel, hub)

    assert again.status == "unchanged"
    assert again.files == []
    assert again.commit_url == first.commit_url
    assert len(hub.repo(REPO).commits) == n_commits
    later = {r.kind for r in hub.calls()[before:]}
    assert later <= {"create", "refs"}, later  # no tree, preupload, commit or tag
    assert "nothing uploaded" in again.lines()[0]


def test_newer_version_deletes_stale_data_files_in_the_same_commit(tmp_path: Path, hub: FakeHub) -> None:
    push(release_v1(tmp_path), hub)
    hub.seed(REPO, {"NOTES.md": b"user notes\n", "extras/links.txt": b"keep me\n"}, message="user edit")
    v1_commit = hub.repo(REPO).tags[f"v{V1}"]
    rel2 = make_release(
        tmp_path,
        V2,
        {"setup_punch/train-00000-of-00001.parquet": _jokes(10)},  # same bytes as in v1
        figures=("scores.png",),
    )

    report = push(rel2, hub)

    repo = hub.repo(REPO)
    assert report.status == "pushed"
    stale = [
        "figures/lengths.png",
        "qa/train-00000-of-00001.parquet",
        "setup_punch/test-00000-of-00001.parquet",
    ]
    assert report.deleted == stale
    assert [c.message for c in repo.commits][-2:] == ["user edit", f"jokemine release {V2}"]
    assert sorted(repo.head.deleted) == stale  # deletions are part of the single release commit
    expected = {**local_files(rel2), ".gitattributes": GITATTRIBUTES, "NOTES.md": b"user notes\n"}
    expected["extras/links.txt"] = b"keep me\n"  # not a config folder: a user's file, kept
    assert repo.files == expected
    assert repo.tags == {f"v{V1}": v1_commit, f"v{V2}": repo.head.oid}
    assert "qa/train-00000-of-00001.parquet" in repo.commit(v1_commit).snapshot  # v1 stays readable at its tag
    # huggingface_hub drops files whose remote oid (preupload) equals the local one: the unchanged shard is not resent
    assert "setup_punch/train-00000-of-00001.parquet" not in repo.head.added
    assert "MANIFEST.json" in repo.head.added
    assert len(hub.calls("commit")) == 2


def test_existing_remote_card_is_merged(tmp_path: Path, hub: FakeHub) -> None:
    remote = "---\nlicense: cc-by-4.0\npretty_name: Jokemine\ntags:\n- humor\n- jokes\n---\n\nHand-written intro.\n"
    hub.seed(REPO, {"README.md": remote.encode()}, message="hand-written card")
    seen: list[tuple[str, str | None]] = []

    def merge(local: str, remote_text: str | None) -> str:
        seen.append((local, remote_text))
        return local.replace("license: cc-by-4.0\n", "license: cc-by-4.0\ntags:\n- humor\n- jokes\n", 1)

    rel = release_v1(tmp_path)
    push(rel, hub, merge_card=merge)

    local = (rel / "README.md").read_text(encoding="utf-8")
    assert seen == [(local, remote)]
    uploaded = hub.repo(REPO).files["README.md"].decode()
    assert uploaded == merge(local, remote) != local
    downloads = hub.calls("resolve")
    assert downloads and all(r.headers.get("authorization") == f"Bearer {TOKEN}" for r in downloads)
    assert {r.method for r in downloads} == {"HEAD", "GET"}


def test_without_merge_card_the_local_card_replaces_the_remote_one(tmp_path: Path, hub: FakeHub) -> None:
    hub.seed(REPO, {"README.md": b"---\nlicense: mit\n---\n\nold\n"})
    rel = release_v1(tmp_path)
    push(rel, hub)
    assert hub.repo(REPO).files["README.md"] == (rel / "README.md").read_bytes()
    assert hub.calls("resolve") == []  # nothing to merge => not downloaded


def test_merge_card_gets_none_when_the_repo_has_no_card(tmp_path: Path, hub: FakeHub) -> None:
    seen: list[str | None] = []

    def merge(local: str, remote_text: str | None) -> str:
        seen.append(remote_text)
        return local

    push(release_v1(tmp_path), hub, merge_card=merge)
    assert seen == [None]
    assert hub.calls("resolve") == []


def test_commit_5xx_once_is_retried(tmp_path: Path, hub: FakeHub, debug_logs: pytest.LogCaptureFixture) -> None:
    hub.fail_next("commit", status=500, times=1)
    report = push(release_v1(tmp_path), hub)

    assert report.status == "pushed"
    commits = hub.calls("commit")
    assert [r.status for r in commits] == [500, 200]
    assert [c.message for c in hub.repo(REPO).commits] == ["initial commit", f"jokemine release {V1}"]
    assert hub.repo(REPO).tags == {f"v{V1}": hub.repo(REPO).head.oid}
    assert any("retrying" in r.getMessage() and r.levelno == logging.WARNING for r in debug_logs.records)


def test_dropped_connection_on_commit_is_retried(tmp_path: Path, hub: FakeHub) -> None:
    hub.fail_next("commit", drop=True)
    report = push(release_v1(tmp_path), hub)
    assert report.status == "pushed"
    assert [r.status for r in hub.calls("commit")] == [-1, 200]
    assert len(hub.repo(REPO).commits) == 2


def test_commit_5xx_every_time_fails_cleanly(
    tmp_path: Path, hub: FakeHub, debug_logs: pytest.LogCaptureFixture
) -> None:
    hub.fail_next("commit", status=500, times=99)
    with pytest.raises(JokemineError) as info:
        push(release_v1(tmp_path), hub, max_attempts=3)

    message = str(info.value)
    assert REPO in message and "500" in message and "3 attempts" in message
    assert "\n" not in message
    assert TOKEN not in message and TOKEN not in debug_logs.text
    assert len(hub.calls("commit")) == 3
    assert hub.calls("tag") == [] and hub.repo(REPO).tags == {}
    assert len(hub.repo(REPO).commits) == 1  # only the initial commit


def test_commit_4xx_is_not_retried(tmp_path: Path, hub: FakeHub) -> None:
    hub.fail_next("commit", status=403, message="You don't have the rights to push to this repo")
    with pytest.raises(JokemineError, match=r"403.*rights to push") as info:
        push(release_v1(tmp_path), hub)
    assert REPO in str(info.value)
    assert len(hub.calls("commit")) == 1 and hub.calls("tag") == []


def test_card_metadata_rejected_by_the_hub(tmp_path: Path, hub: FakeHub) -> None:
    rel = release_v1(tmp_path)
    (rel / "README.md").write_text("---\nlicense: [unclosed\n---\n\nbody\n", encoding="utf-8")
    with pytest.raises(JokemineError, match=r"refused.*metadata"):
        push(rel, hub)
    assert hub.calls("commit") == [] and hub.calls("tag") == []


def test_dry_run_contacts_nothing(tmp_path: Path, hub: FakeHub) -> None:
    rel = release_v1(tmp_path)
    report = push_release(rel, REPO, endpoint=hub.url, dry_run=True)  # no token needed either

    assert report.status == "dry-run" and report.commit_url is None
    assert report.files == sorted(local_files(rel))
    assert "README.md" in report.files and "MANIFEST.json" in report.files
    assert hub.calls() == []
    assert len(report.lines()) == 2 + len(report.files)


def test_token_never_leaks(tmp_path: Path, hub: FakeHub, debug_logs: pytest.LogCaptureFixture) -> None:
    assert not (tmp_path / "hf-home" / "token").exists()  # the token only ever comes from the argument
    hub.seed(REPO, {"README.md": b"---\nlicense: mit\n---\n\nold card\n"})
    hub.fail_next("commit", status=503)
    rel = release_v1(tmp_path)
    report = push(rel, hub, merge_card=lambda local, remote: local)
    push(rel, hub)  # unchanged
    hub.fail_next("tag", status=500)
    rel2 = make_release(tmp_path, V2, {"setup_punch/train-00000-of-00001.parquet": _jokes(2)})
    with pytest.raises(JokemineError) as info:
        push(rel2, hub)

    assert "tagging" in str(info.value) and "500" in str(info.value)
    assert TOKEN not in str(info.value)
    assert any(r.name.startswith("huggingface_hub") for r in debug_logs.records)  # their debug logs were captured
    assert TOKEN not in debug_logs.text
    assert not any(TOKEN in str(r.args) for r in debug_logs.records)
    assert not any(TOKEN in line for line in report.lines())
    assert TOKEN not in repr(report)
    leaked = [p for p in tmp_path.rglob("*") if p.is_file() and TOKEN.encode() in p.read_bytes()]
    assert leaked == []
    assert sum(1 for r in hub.calls() if r.headers.get("authorization") == f"Bearer {TOKEN}") > 10


def test_bad_release_folders(tmp_path: Path, hub: FakeHub) -> None:
    empty = tmp_path / "releases" / "empty"
    empty.mkdir(parents=True)
    with pytest.raises(JokemineError, match=r"MANIFEST\.json") as info:
        push(empty, hub)
    assert str(empty / "MANIFEST.json") in str(info.value)

    (empty / "MANIFEST.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(JokemineError, match="unreadable release manifest"):
        push(empty, hub)

    (empty / "MANIFEST.json").write_text(json.dumps({"files": []}), encoding="utf-8")
    with pytest.raises(JokemineError, match="'version'"):
        push(empty, hub)

    rel = release_v1(tmp_path)
    (rel / "qa" / "train-00000-of-00001.parquet").unlink()
    with pytest.raises(JokemineError, match=r"qa/train-00000-of-00001\.parquet.*missing"):
        push(rel, hub)

    with pytest.raises(JokemineError, match="release folder not found"):
        push(tmp_path / "nope", hub)
    assert hub.calls() == []


def test_no_token_and_offline_mode_fail_before_any_request(
    tmp_path: Path, hub: FakeHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    rel = release_v1(tmp_path)
    with pytest.raises(JokemineError, match="no Hugging Face token"):
        push_release(rel, REPO, endpoint=hub.url)
    monkeypatch.setattr(hf_constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(JokemineError, match="HF_HUB_OFFLINE") as info:
        push(rel, hub)
    assert TOKEN not in str(info.value)
    assert hub.calls() == []


def test_resolve_token_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert resolve_token() is None  # nothing stored in the isolated HF_HOME, no env
    (tmp_path / "hf-home" / "token").write_text("hf_storedLOGIN\n", encoding="utf-8")
    assert resolve_token() == "hf_storedLOGIN"
    monkeypatch.setenv("HF_TOKEN", "hf_fromENV")
    assert resolve_token() == "hf_fromENV"
    assert resolve_token("hf_explicit") == "hf_explicit"


def test_stored_login_is_used_for_the_push(tmp_path: Path, hub: FakeHub) -> None:
    (tmp_path / "hf-home" / "token").write_text(TOKEN, encoding="utf-8")
    report = push_release(release_v1(tmp_path), REPO, endpoint=hub.url)
    assert report.status == "pushed"
    assert all(r.headers.get("authorization") == f"Bearer {TOKEN}" for r in hub.calls())


# --- the whole publish stage with a Hub target ------------------------------------------------------------------


def test_publish_stage_pushes_real_release_and_retries_a_failed_push(
    real: Path, tmp_path: Path, hub: FakeHub, monkeypatch: pytest.MonkeyPatch, debug_logs: pytest.LogCaptureFixture
) -> None:
    """`jokemine publish` on real data with `[publish] repo_id`: local release, validation gate, one commit + tag;
    a push that fails leaves the local release served, is recorded as failed, and the next publish pushes it."""
    from jokemine.cleaning.stage import clean
    from jokemine.config import load_config
    from jokemine.publish.release import publish
    from jokemine.scrapers.run import scrape
    from jokemine.state import Layout, State
    from tests.conftest import write_config

    body = f"""
[paths]
data_dir = "data"
[[sources]]
name = "cleanjokes"
kind = "reddit_dump"
path = "{real}/kampta-reddit-jokes/r_cleanjokes_submissions.ndjson.zst"
[clean]
workers = 1
[publish]
repo_id = "{REPO}"
hub_endpoint = "{hub.url}"
"""
    cfg = load_config(write_config(tmp_path / "jm.toml", body))
    data = cfg.data_dir()
    scrape(cfg, data, progress=False)
    clean(cfg, data, progress=False)
    with pytest.raises(JokemineError, match="no Hugging Face token"):
        publish(cfg, data, version="1.0")  # checked before anything is built
    assert not (data / "releases").exists() and hub.calls() == []

    monkeypatch.setenv("HF_TOKEN", TOKEN)
    plan = publish(cfg, data, version="1.0", dry_run=True)
    assert any("would push" in line and "token found" in line for line in plan.lines())
    assert hub.calls() == [] and not (data / "releases").exists()

    hub.fail_next("commit", status=503, times=3)
    with pytest.raises(JokemineError, match="503"):
        publish(cfg, data, version="1.0")
    release = Layout(data).release_latest()
    assert release == data / "releases" / "1.0"  # the local release is valid and served
    assert "v1.0" not in hub.repo(REPO).tags
    with State(Layout(data).state_path) as st:
        assert [(r["stage"], r["status"]) for r in st.runs(2)] == [("push", "failed"), ("publish", "ok")]

    again = publish(cfg, data, dry_run=True)  # same data: the plan pushes 1.0, as the real run below does
    assert any("'jokemine release 1.0' + tag v1.0" in line for line in again.plan), again.plan
    report = publish(cfg, data)  # same data: unchanged locally, but the push is retried
    assert report.status == "unchanged" and report.hub.status == "pushed"
    repo = hub.repo(REPO)
    local = {p.relative_to(release).as_posix(): p.read_bytes() for p in release.rglob("*") if p.is_file()}
    assert {p: b for p, b in repo.files.items() if p != ".gitattributes"} == local
    assert {"figures/scores.png", "CHANGELOG.md", "jokes/train-00000.parquet"} <= set(local)
    assert repo.head.message == "jokemine release 1.0" and repo.tags["v1.0"] == repo.head.oid
    assert publish(cfg, data).hub.status == "unchanged"
    assert len([c for c in repo.commits if c.message.startswith("jokemine release")]) == 1

    for path in data.rglob("*"):
        if path.is_file():
            assert TOKEN.encode() not in path.read_bytes(), path
    assert TOKEN not in debug_logs.text


def test_a_small_delta_rewrites_few_files_and_the_push_sends_only_those(
    real: Path, tmp_path: Path, hub: FakeHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 18: release B adds the newest ~10% of real r/cleanjokes posts to release A. Every data file of B whose
    rows are those of A's file at the same path is byte-identical to it, and the Hub commit of B adds exactly the
    files whose bytes changed (data files, card, manifest...) and deletes the stale ones."""
    import zstandard

    from jokemine.cleaning.stage import clean
    from jokemine.config import load_config
    from jokemine.publish.release import publish
    from jokemine.scrapers.run import scrape
    from tests.conftest import write_config

    with open(real / "kampta-reddit-jokes" / "r_cleanjokes_submissions.ndjson.zst", "rb") as fh:
        lines = [x for x in zstandard.ZstdDecompressor().stream_reader(fh).read().decode().split("\n") if x.strip()]
    dump = tmp_path / "cleanjokes.ndjson"
    dump.write_text("\n".join(lines[:1300]) + "\n")
    body = f"""
[paths]
data_dir = "data"
[[sources]]
name = "cleanjokes"
kind = "reddit_dump"
path = "{dump}"
[clean]
workers = 1
[publish]
repo_id = "{REPO}"
hub_endpoint = "{hub.url}"
max_rows_per_shard = 100
"""
    cfg = load_config(write_config(tmp_path / "jm.toml", body))
    data = cfg.data_dir()
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    for version, n in (("A", 1300), ("B", len(lines))):
        dump.write_text("\n".join(lines[:n]) + "\n")
        scrape(cfg, data, progress=False)
        clean(cfg, data, progress=False)
        report = publish(cfg, data, version=version)
    a, b = data / "releases" / "A", data / "releases" / "B"
    ma = {f["path"]: f for f in json.loads((a / "MANIFEST.json").read_text())["files"]}
    mb = {f["path"]: f for f in json.loads((b / "MANIFEST.json").read_text())["files"]}
    same_rows = [p for p in mb if p in ma and pq.read_table(a / p).equals(pq.read_table(b / p))]
    assert len(same_rows) >= len(ma) // 2, (len(same_rows), len(ma))  # most files hold no changed row...
    assert all(ma[p]["sha256"] == mb[p]["sha256"] for p in same_rows)  # ...and those are byte-identical
    assert all((a / p).stat().st_ino == (b / p).stat().st_ino for p in same_rows)  # (hard-linked, not rewritten)
    changed = {p for p in mb if p not in ma or ma[p]["sha256"] != mb[p]["sha256"]}
    assert changed and not changed & set(same_rows)

    repo = hub.repo(REPO)
    added, deleted = set(repo.head.added), set(repo.head.deleted)
    assert {p for p in added if p.endswith(".parquet")} == changed  # only the changed data files were sent
    assert deleted == {p for p in ma if p not in mb}
    assert {"MANIFEST.json", "README.md", "CHANGELOG.json"} <= added
    assert report.hub.bytes_uploaded == sum(len(repo.files[p]) for p in added)
    assert set(report.hub.unchanged) >= set(same_rows) and not set(report.hub.unchanged) & added
    data_bytes = sum((b / p).stat().st_size for p in mb)
    sent = sum((b / p).stat().st_size for p in changed)
    assert sent < 0.6 * data_bytes, (sent, data_bytes)
    assert {p: x for p, x in repo.files.items() if p.endswith(".parquet")} == {p: (b / p).read_bytes() for p in mb}
