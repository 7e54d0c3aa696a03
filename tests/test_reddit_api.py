"""reddit_api: the real PRAW client against a loopback Reddit API serving real r/Jokes posts."""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
import zstandard

from jokemine.cleaning.stage import clean
from jokemine.config import Config, load_config
from jokemine.publish.release import publish
from jokemine.scrapers.run import scrape
from jokemine.state import Layout, State
from tests.conftest import REPO, clean_frame, raw_envelopes, write_config
from tests.reddit_server import FakeReddit

CLIENT_ID = "test-client-id"
SECRET = "s3cr3t-Zq9xW7vT"
TOKEN = "tok-8f2c1e9a77d04b6b"
UA = "test:jokemine:0.1 (by u/jokemine_dev)"


@pytest.fixture
def posts(api_posts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The newest 250 real r/Jokes self posts (a subreddit of three listing pages)."""
    return api_posts


@pytest.fixture
def server(posts: list[dict[str, Any]]):
    with FakeReddit(posts, client_id=CLIENT_ID, client_secret=SECRET, token=TOKEN) as srv:
        yield srv


@pytest.fixture
def creds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("praw_client_id", CLIENT_ID)
    monkeypatch.setenv("praw_client_secret", SECRET)


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Record (and skip) every time.sleep: prawcore's limiter and retries, and our backoff."""
    calls: list[float] = []
    monkeypatch.setattr(time, "sleep", lambda s: calls.append(float(s)))
    return calls


def _config(tmp_path: Path, srv: FakeReddit, extra: str = "", **opts: Any) -> Config:
    options = {"listings": ["new"], "refresh_days": 100000, "max_retries": 3, **opts}
    lines = "\n".join(f"{k} = {json.dumps(v)}" for k, v in options.items())
    body = f"""
[paths]
data_dir = "data"
[scrape]
part_records = 100
[[sources]]
name = "live"
kind = "reddit_api"
user_agent = "{UA}"
oauth_url = "{srv.url}"
reddit_url = "{srv.url}"
{lines}
{extra}
[clean]
workers = 1
min_chars = 1
"""
    return load_config(write_config(tmp_path / "jm.toml", body))


def _raw(data: Path, source: str = "live") -> list[dict[str, Any]]:
    return raw_envelopes(data, source)


def _clean(data: Path) -> Any:
    return clean_frame(data)


def test_multi_page_listing_follows_after(
    tmp_path: Path, server: FakeReddit, posts: list[dict], creds: None, sleeps: list[float]
) -> None:
    cfg = _config(tmp_path, server)
    report = scrape(cfg, cfg.data_dir(), progress=False)[0]
    assert (report.status, report.records) == ("ok", 250)
    newest_first = sorted(posts, key=lambda p: (p["created_utc"], p["id"]), reverse=True)
    listing = server.requests("/r/Jokes/new")
    assert [r["query"].get("after") for r in listing] == [None, newest_first[99]["name"], newest_first[199]["name"]]
    assert all(r["query"]["limit"] == "100" and r["query"]["raw_json"] == "1" for r in listing)
    assert all(r["authorization"] == f"bearer {TOKEN}" for r in listing)
    raw = _raw(cfg.data_dir())
    assert [e["source_id"] for e in raw] == [p["id"] for p in newest_first]
    assert raw[0]["data"] == newest_first[0]  # the API JSON exactly as served
    assert raw[0]["parser"] == "reddit_api/1" and raw[0]["origin"] == f"{server.url}/r/Jokes/new"


def test_up_to_date_subreddit_costs_one_listing_request(
    tmp_path: Path, server: FakeReddit, creds: None, sleeps: list[float]
) -> None:
    cfg = _config(tmp_path, server, refresh_days=0)
    scrape(cfg, cfg.data_dir(), progress=False)
    server.log.clear()
    report = scrape(cfg, cfg.data_dir(), progress=False)[0]
    assert (report.status, report.records) == ("unchanged", 0)
    assert [(r["method"], r["path"]) for r in server.log] == [("POST", "/api/v1/access_token"), ("GET", "/r/Jokes/new")]


def test_429_waits_retry_after_then_succeeds(
    tmp_path: Path, server: FakeReddit, creds: None, sleeps: list[float]
) -> None:
    server.fault("GET", "/r/Jokes/new", status=429, headers={"Retry-After": "7"})
    cfg = _config(tmp_path, server)
    report = scrape(cfg, cfg.data_dir(), progress=False)[0]
    assert (report.status, report.records, report.stats["http_429"]) == ("ok", 250, 1)
    assert 7.0 in sleeps
    assert [r["status"] for r in server.requests("/r/Jokes/new")] == [429, 200, 200, 200]


def test_503_then_success(tmp_path: Path, server: FakeReddit, creds: None, sleeps: list[float]) -> None:
    server.fault("GET", "/r/Jokes/new", status=503, skip=1)  # the second page fails once
    cfg = _config(tmp_path, server)
    report = scrape(cfg, cfg.data_dir(), progress=False)[0]
    assert (report.status, report.records) == ("ok", 250)
    assert [r["status"] for r in server.requests("/r/Jokes/new")] == [200, 503, 200, 200]
    assert len({e["source_id"] for e in _raw(cfg.data_dir())}) == 250


def test_connection_dropped_mid_page(tmp_path: Path, server: FakeReddit, creds: None, sleeps: list[float]) -> None:
    server.fault("GET", "/r/Jokes/new", drop=True)
    cfg = _config(tmp_path, server)
    report = scrape(cfg, cfg.data_dir(), progress=False)[0]
    assert (report.status, report.records, report.bad) == ("ok", 250, 0)
    assert [r["status"] for r in server.requests("/r/Jokes/new")] == [0, 200, 200, 200]


def test_gives_up_after_bounded_retries_keeps_pages_and_resumes(
    tmp_path: Path, server: FakeReddit, creds: None, sleeps: list[float]
) -> None:
    server.fault("GET", "/r/Jokes/new", status=503, skip=1, times=100)
    cfg = _config(tmp_path, server, max_retries=2, refresh_days=0)
    report = scrape(cfg, cfg.data_dir(), progress=False)[0]
    assert (report.status, report.records) == ("partial", 100)  # page 1 committed
    assert report.errors == [
        f"r/Jokes new: giving up on {server.url}/r/Jokes/new after 3 attempts (HTTP 503); what was read before is kept"
    ]
    # our 3 attempts, each retried twice by prawcore: 1 ok + 9 failures
    assert Counter(r["status"] for r in server.requests("/r/Jokes/new")) == {200: 1, 503: 9}
    server.faults.clear()
    server.log.clear()
    report = scrape(cfg, cfg.data_dir(), progress=False)[0]
    assert (report.status, report.records) == ("ok", 150)  # resumed after page 1
    assert server.requests("/r/Jokes/new")[0]["query"].get("after") is not None
    ids = [e["source_id"] for e in _raw(cfg.data_dir())]
    assert len(ids) == len(set(ids)) == 250


def test_rate_limit_headers_make_prawcore_wait(
    tmp_path: Path, server: FakeReddit, creds: None, sleeps: list[float]
) -> None:
    server.ratelimit = {"x-ratelimit-remaining": "0", "x-ratelimit-used": "600", "x-ratelimit-reset": "42"}
    cfg = _config(tmp_path, server)
    scrape(cfg, cfg.data_dir(), progress=False)
    assert sum(41 < s <= 42 for s in sleeps) >= 2  # before each request after the first listing page


def test_scores_changed_between_runs_latest_wins_history_kept(
    tmp_path: Path, server: FakeReddit, posts: list[dict], creds: None, sleeps: list[float]
) -> None:
    cfg = _config(tmp_path, server)
    data = cfg.data_dir()
    scrape(cfg, data, progress=False)
    changed = {p["id"]: p["score"] + 1000 for p in posts[:3]}
    for pid, score in changed.items():
        server.set_score(pid, score, upvote_ratio=0.99)
    report = scrape(cfg, data, progress=False)[0]
    assert report.stats["reread"] == 250 and report.records == 250
    assert len(server.requests("/api/info")) == 3  # batches of 100
    raw = _raw(data)
    for pid, score in changed.items():
        obs = [e for e in raw if e["source_id"] == pid]
        assert [e.get("note") for e in obs] == [None, "reread"]
        assert [e["data"]["score"] for e in obs] == [score - 1000, score]  # the history is kept
    clean(cfg, data, progress=False)
    df = _clean(data)
    assert len(df) == 250
    for pid, score in changed.items():
        row = df.loc[f"reddit:{pid}"]
        assert (row.score, row.upvote_ratio) == (score, 0.99)
        assert row.score_retrieved_at > row.created_at


def test_posts_deleted_between_runs_leave_the_next_release(
    tmp_path: Path, server: FakeReddit, posts: list[dict], creds: None, sleeps: list[float]
) -> None:
    cfg = _config(tmp_path, server)
    data = cfg.data_dir()
    scrape(cfg, data, progress=False)
    clean(cfg, data, progress=False)
    publish(cfg, data, version="1")
    gone = [posts[0]["id"], posts[1]["id"], posts[2]["id"]]
    server.delete(gone[0], "deleted")
    server.delete(gone[1], "removed")
    with server.lock:
        del server.posts[gone[2]]  # no longer served at all
    report = scrape(cfg, data, progress=False)[0]
    assert report.stats["missing_upstream"] == 1
    clean(cfg, data, progress=False)
    df = _clean(data)
    assert df.loc[[f"reddit:{g}" for g in gone], "drop_reason"].tolist() == ["deleted_upstream"] * 3
    publish(cfg, data, version="2")
    ids = set()
    for f in (data / "releases" / "2" / "jokes").glob("*.parquet"):
        ids |= set(pq.read_table(f, columns=["id"]).column("id").to_pylist())
    old = set()
    for f in (data / "releases" / "1" / "jokes").glob("*.parquet"):
        old |= set(pq.read_table(f, columns=["id"]).column("id").to_pylist())
    assert {f"reddit:{g}" for g in gone} <= old and not {f"reddit:{g}" for g in gone} & ids
    assert len(ids) == len(old) - 3


def test_recheck_all_rereads_every_stored_post(
    tmp_path: Path, server: FakeReddit, creds: None, sleeps: list[float]
) -> None:
    cfg = _config(tmp_path, server, refresh_days=0)
    scrape(cfg, cfg.data_dir(), progress=False)
    server.log.clear()
    report = scrape(cfg, cfg.data_dir(), recheck_all=True, progress=False)[0]
    assert report.stats["reread"] == 250 and len(server.requests("/api/info")) == 3


def test_empty_subreddit(
    tmp_path: Path, server: FakeReddit, posts: list[dict], creds: None, sleeps: list[float]
) -> None:
    server.empty_subreddits.add("emptysub")
    cfg = _config(tmp_path, server, subreddits=["EmptySub"], listings=["new", "top:day"])
    report = scrape(cfg, cfg.data_dir(), progress=False)[0]
    assert (report.status, report.records, report.errors) == ("unchanged", 0, [])
    assert [r["path"] for r in server.log[1:]] == ["/r/EmptySub/new", "/r/EmptySub/top"]
    with State(Layout(cfg.data_dir()).state_path) as st:
        assert st.cursors("live")["sub:emptysub:new"] == {"newest": None, "walk": None}
    server.empty_subreddits.clear()
    server.add([{**p, "subreddit": "EmptySub"} for p in posts[:5]])  # its first posts arrive
    assert scrape(cfg, cfg.data_dir(), progress=False)[0].records == 5


def test_dump_and_live_copies_are_one_record_newest_retrieval_wins(
    tmp_path: Path, server: FakeReddit, posts: list[dict], creds: None, sleeps: list[float]
) -> None:
    dump = tmp_path / "Jokes_submissions.zst"
    dump.write_bytes(zstandard.ZstdCompressor().compress("\n".join(json.dumps(p) for p in posts).encode()))
    extra = f'[[sources]]\nname = "history"\nkind = "reddit_dump"\npath = "{dump}"\n'
    cfg = _config(tmp_path, server, extra=extra)
    data = cfg.data_dir()
    server.set_score(posts[5]["id"], 4242)
    reports = {r.name: r for r in scrape(cfg, data, progress=False)}
    assert reports["history"].records == 250 and reports["live"].records == 250
    report = clean(cfg, data, progress=False)
    df = _clean(data)
    assert len(df) == 250 and report.stats["totals"]["merged_same_id"] == 250
    assert (df.source == "live").all()  # the API read is the newest retrieval
    assert df.loc[f"reddit:{posts[5]['id']}", "score"] == 4242


def test_bad_credentials_give_one_clear_error(
    tmp_path: Path, server: FakeReddit, sleeps: list[float], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("praw_client_id", CLIENT_ID)
    monkeypatch.setenv("praw_client_secret", "wrong-secret")
    cfg = _config(tmp_path, server)
    report = scrape(cfg, cfg.data_dir(), progress=False)[0]
    assert report.status == "failed"
    assert report.errors == [
        f"Reddit rejected the credentials (HTTP 401 from {server.url}/api/v1/access_token): "
        "check praw_client_id / praw_client_secret (or the praw.ini site) and that the app "
        "is approved"
    ]
    r = subprocess.run(
        [sys.executable, "-m", "jokemine", "--verbose", "--config", str(cfg.config_path), "scrape"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ},
    )
    assert r.returncode == 1
    basic = base64.b64encode(f"{CLIENT_ID}:wrong-secret".encode()).decode()
    assert "wrong-secret" not in r.stdout + r.stderr and basic not in r.stdout + r.stderr
    assert [line for line in r.stderr.splitlines() if line.startswith("error:")] == [f"error: live: {report.errors[0]}"]
    assert "Traceback" not in r.stderr


def test_no_credentials_skips_the_source_and_others_run(
    real: Path, tmp_path: Path, server: FakeReddit, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("praw_client_id", raising=False)
    monkeypatch.delenv("praw_client_secret", raising=False)
    extra = (
        f'[[sources]]\nname = "pun"\nkind = "reddit_dump"\n'
        f'path = "{real}/kampta-reddit-jokes/r_pun_submissions.ndjson.zst"\n'
    )
    cfg = _config(tmp_path, server, extra=extra)
    r = subprocess.run(
        [sys.executable, "-m", "jokemine", "--config", str(cfg.config_path), "scrape"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    assert (
        "live: skipped: no Reddit API credentials: set praw_client_id and praw_client_secret in the "
        "environment, or name a praw.ini site with `praw_site` (README 'Live Reddit')" in r.stdout
    )
    assert "pun: ok: 67 records stored" in r.stdout
    assert server.log == []  # nothing was sent


def test_killed_mid_listing_resumes_without_loss_or_duplicates(
    tmp_path: Path, server: FakeReddit, creds: None, sleeps: list[float]
) -> None:
    cfg = _config(tmp_path, server, refresh_days=0, timeout_s=120)
    data = cfg.data_dir()
    server.fault("GET", "/r/Jokes/new", delay=30, skip=2)  # hold the third page
    proc = subprocess.Popen(
        [sys.executable, "-m", "jokemine", "--config", str(cfg.config_path), "scrape"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ},
    )
    assert server.holding.wait(60)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert len(_raw(data)) == 200  # two pages committed, the third never arrived
    server.faults.clear()
    server.log.clear()
    report = scrape(cfg, data, progress=False)[0]
    assert report.records == 50
    first = server.requests("/r/Jokes/new")[0]
    assert first["query"]["after"] == _raw(data)[199]["data"]["name"]  # resumed at page 3
    ids = [e["source_id"] for e in _raw(data) if e.get("note") is None]
    assert len(ids) == len(set(ids)) == 250


def test_secret_and_token_never_logged_or_written(real: Path, tmp_path: Path, server: FakeReddit, creds: None) -> None:
    extra = (
        f'[[sources]]\nname = "pun"\nkind = "reddit_dump"\n'
        f'path = "{real}/kampta-reddit-jokes/r_pun_submissions.ndjson.zst"\n'
    )
    cfg = _config(tmp_path, server, extra=extra)
    out = []
    for stage in ("scrape", "clean", "publish"):
        r = subprocess.run(
            [sys.executable, "-m", "jokemine", "--verbose", "--config", str(cfg.config_path), stage],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=300,
            env={**os.environ},
        )
        assert r.returncode == 0, r.stderr
        out.append(r.stdout + r.stderr)
    release = (cfg.data_dir() / "releases" / "latest").resolve()
    sources = set()
    for f in (release / "jokes").glob("*.parquet"):
        sources |= set(pq.read_table(f, columns=["source"]).column("source").to_pylist())
    assert sources == {"live", "pun"}  # live posts in a release next to the dump's
    server.log.clear()
    r = subprocess.run(
        [sys.executable, "-m", "jokemine", "-v", "--config", str(cfg.config_path), "scrape", "--source", "live"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ},
    )
    out.append(r.stdout + r.stderr)
    assert any("api/info" in r["path"] for r in server.log)  # the token really was used
    logs = "\n".join(out)
    assert "Fetching: GET" in logs  # prawcore debug logging was on
    texts = [logs]
    for f in cfg.data_dir().rglob("*"):
        if not f.is_file():
            continue
        blob = f.read_bytes()
        if f.name.endswith(".zst"):
            blob = zstandard.ZstdDecompressor().stream_reader(blob).read()
        if f.suffix == ".parquet":
            blob = json.dumps(pq.read_table(f).to_pylist(), default=str).encode()
        texts.append(blob.decode("utf-8", "replace"))
    assert len(texts) > 10
    basic = base64.b64encode(f"{CLIENT_ID}:{SECRET}".encode()).decode()
    for t in texts:
        assert SECRET not in t and TOKEN not in t and basic not in t


def test_stale_cursor_restarts_the_walk_instead_of_skipping(
    tmp_path: Path, server: FakeReddit, posts: list[dict], creds: None, sleeps: list[float]
) -> None:
    cfg = _config(tmp_path, server, refresh_days=0)
    data = cfg.data_dir()
    server.fault("GET", "/r/Jokes/new", status=503, skip=1, times=100)
    cfg2 = _config(tmp_path, server, refresh_days=0, max_retries=0)
    assert scrape(cfg2, data, progress=False)[0].records == 100  # the walk stopped after page 1
    server.faults.clear()
    with State(Layout(data).state_path) as st:
        after = st.cursors("live")["sub:jokes:new"]["walk"]["after"]
    with server.lock:  # the post the cursor points at is removed upstream
        del server.posts[after.removeprefix("t3_")]
        server._version += 1
    report = scrape(cfg, data, progress=False)[0]
    assert report.records == 150 and any("walking again from the newest post" in w for w in report.warnings)
    ids = [e["source_id"] for e in _raw(data)]
    assert len(ids) == len(set(ids)) == 250 and set(ids) == {p["id"] for p in posts}


def test_max_pages_pauses_the_walk_and_the_next_run_continues(
    tmp_path: Path, server: FakeReddit, creds: None, sleeps: list[float]
) -> None:
    cfg = _config(tmp_path, server, refresh_days=0, max_pages=1)
    data = cfg.data_dir()
    assert [scrape(cfg, data, progress=False)[0].records for _ in range(4)] == [100, 100, 50, 0]
    ids = [e["source_id"] for e in _raw(data)]
    assert len(ids) == len(set(ids)) == 250


def test_a_failing_subreddit_does_not_stop_the_others_or_the_rereads(
    tmp_path: Path, server: FakeReddit, creds: None, sleeps: list[float]
) -> None:
    cfg = _config(tmp_path, server, subreddits=["Jokes"])
    data = cfg.data_dir()
    scrape(cfg, data, progress=False)
    server.fault("GET", "/r/Gone/new", status=404, times=10)
    server.fault("GET", "/r/Private/new", status=403, times=10)
    cfg = _config(tmp_path, server, subreddits=["Gone", "Private", "Jokes"])
    report = scrape(cfg, data, progress=False)[0]
    assert report.status == "partial" and report.stats["reread"] == 250  # the deletion sync still ran
    assert report.errors == [
        f"r/Gone new: {server.url}/r/Gone/new: HTTP 404 (not found or banned)",
        f"r/Private new: {server.url}/r/Private/new: HTTP 403 (private or quarantined subreddit)",
    ]


def test_a_malformed_info_response_is_not_read_as_deletions(
    tmp_path: Path, server: FakeReddit, creds: None, sleeps: list[float]
) -> None:
    cfg = _config(tmp_path, server)
    data = cfg.data_dir()
    scrape(cfg, data, progress=False)
    server.fault("GET", "/api/info", status=200, body=b'{"kind": "Listing", "data": {}}')
    report = scrape(cfg, data, progress=False)[0]
    assert report.stats.get("missing_upstream", 0) == 0
    assert report.errors == [
        f"re-reading stored posts: {server.url}/api/info: no listing for 100 ids (kind "
        "'Listing'); not treating them as deleted"
    ]
    assert not [e for e in _raw(data) if e.get("note") == "missing"]


def test_token_endpoint_503_is_retried_and_huge_retry_after_is_refused(
    tmp_path: Path, server: FakeReddit, creds: None, sleeps: list[float]
) -> None:
    server.fault("POST", "/api/v1/access_token", status=503)
    cfg = _config(tmp_path, server, refresh_days=0)
    report = scrape(cfg, cfg.data_dir(), progress=False)[0]
    assert (report.status, report.records) == ("ok", 250)
    assert [r["status"] for r in server.requests("/api/v1/access_token")] == [503, 200]
    server.fault("GET", "/r/Jokes/new", status=429, headers={"Retry-After": "5000"})
    report = scrape(cfg, cfg.data_dir(), progress=False)[0]
    assert report.errors == [
        f"r/Jokes new: {server.url}/r/Jokes/new: HTTP 429 asks to wait 5000 s, more than "
        "max_backoff_s (120 s); try again later"
    ]
    assert 5000.0 not in sleeps


def test_retry_after_as_http_date_is_handled(
    tmp_path: Path, server: FakeReddit, creds: None, sleeps: list[float]
) -> None:
    server.fault("GET", "/r/Jokes/new", status=429, headers={"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"})
    cfg = _config(tmp_path, server, refresh_days=0)
    report = scrape(cfg, cfg.data_dir(), progress=False)[0]
    assert (report.status, report.records) == ("ok", 250)  # no traceback: waited and tried again


def test_a_deletion_sticks_even_if_a_dump_was_retrieved_later(
    tmp_path: Path, server: FakeReddit, posts: list[dict], creds: None, sleeps: list[float]
) -> None:
    cfg = _config(tmp_path, server)
    data = cfg.data_dir()
    scrape(cfg, data, progress=False)
    server.delete(posts[0]["id"])
    scrape(cfg, data, progress=False)  # the re-read sees the deletion
    later = {**posts[0], "retrieved_utc": time.time() + 86400}  # a dump copy fetched after that, with content
    dump = tmp_path / "late_dump.ndjson"
    dump.write_text(json.dumps(later))
    cfg = _config(tmp_path, server, extra=f'[[sources]]\nname = "late"\nkind = "reddit_dump"\npath = "{dump}"\n')
    scrape(cfg, data, ["late"], progress=False)
    clean(cfg, data, progress=False)
    assert _clean(data).loc[f"reddit:{posts[0]['id']}", "drop_reason"] == "deleted_upstream"
