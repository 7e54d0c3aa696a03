"""reddit_threads: live comment forests through real PRAW against a loopback server replaying PRAW's real recorded
exchanges (GET /comments/<id>, POST /api/morechildren), with faults, re-reads and deletions."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from jokemine.config import Config, load_config
from jokemine.scrapers.run import scrape
from tests.cassette_server import CassetteReddit
from tests.conftest import clean_frame, raw_envelopes, write_config

UA = "python:jokemine-test:0.1 (by u/jokemine)"
SMALL = "praw-comment-cassettes/TestCommentForest.test_replace__all.json"  # r/funny 3hahrw, 541 comments
LARGE = "praw-comment-cassettes/TestCommentForest.test_replace__all_large.json"  # n49rw, 232 morechildren


def _oracle(path: Path, link: str) -> tuple[dict[str, dict[str, Any]], int, int]:
    """Every comment of the recorded exchanges (the last recorded copy of each), and the recorded morechildren
    POSTs and "continue this thread" GETs: independent of the reader."""
    comments: dict[str, dict[str, Any]] = {}

    def walk(x: Any) -> None:
        if isinstance(x, dict):
            if x.get("kind") == "t1" and x["data"].get("link_id") == link:
                comments[x["data"]["id"]] = x["data"]
            for v in x.values():
                walk(v)
        elif isinstance(x, list):
            for v in x:
                walk(v)

    inter = json.loads(path.read_text())["interactions"]
    for i in inter:
        if "access_token" not in i["request"]["uri"]:
            walk(json.loads(i["response"]["body"]["string"]))
    posts = sum("/morechildren" in i["request"]["uri"] for i in inter)
    gets = sum("/comments/" in i["request"]["uri"] and "/_/" in i["request"]["uri"] for i in inter)
    return comments, posts, gets


@pytest.fixture
def creds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("praw_client_id", "cassette-client")
    monkeypatch.setenv("praw_client_secret", "cassette-secret")


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    calls: list[float] = []
    monkeypatch.setattr(time, "sleep", lambda s: calls.append(float(s)))
    return calls


def _config(tmp_path: Path, srv: CassetteReddit, **opts: Any) -> Config:
    tmp_path.mkdir(parents=True, exist_ok=True)
    options = {"threads": ["3hahrw"], "max_retries": 3, **opts}
    lines = "\n".join(f"{k} = {json.dumps(v)}" for k, v in options.items())
    return load_config(write_config(tmp_path / "jm.toml", f"""
[paths]
data_dir = "{tmp_path / "data"}"
[[sources]]
name = "threads"
kind = "reddit_threads"
user_agent = "{UA}"
oauth_url = "{srv.url}"
reddit_url = "{srv.url}"
{lines}
[clean]
workers = 1
"""))  # fmt: skip


def test_a_thread_is_read_with_every_morechildren_expanded(
    real: Path, tmp_path: Path, creds: None, sleeps: list[float]
) -> None:
    comments, n_posts, n_gets = _oracle(real / SMALL, "t3_3hahrw")
    top = {k: c for k, c in comments.items() if c["parent_id"] == "t3_3hahrw"}
    assert (len(comments), len(top), n_posts, n_gets) == (541, 144, 12, 6)
    with CassetteReddit([real / SMALL]) as srv:
        cfg = _config(tmp_path, srv)
        report = scrape(cfg, cfg.data_dir(), progress=False)[0]
        assert (report.status, report.records) == ("ok", 144)
        assert len(srv.requests("/api/morechildren")) == n_posts and len(srv.requests("/comments/3hahrw/_/")) == 6
        assert all(status == 200 for *_, status in srv.requests())
    envs = raw_envelopes(cfg.data_dir(), "threads")
    assert {e["source_id"] for e in envs} == {f"t1_{k}" for k in top}
    for e in envs:
        c = e["data"]["comment"]
        want = top[c["id"]]
        assert (c["body"], c["score"], c["author"], c["parent_id"]) == (
            want["body"], want["score"], want["author"], want["parent_id"],
        )  # fmt: skip
        assert e["data"]["post"]["id"] == "3hahrw" and e["data"]["post"]["subreddit"] == "funny"
    with CassetteReddit([real / SMALL]) as srv2:
        deep = _config(tmp_path / "deep", srv2, max_depth=50)
        assert scrape(deep, deep.data_dir(), progress=False)[0].records == 541
    envs = raw_envelopes(deep.data_dir(), "threads")
    depth = {e["data"]["comment"]["id"]: e["data"]["depth"] for e in envs}
    for cid, c in comments.items():  # depth = the parent chain's length
        n, p = 0, c["parent_id"]
        while p.startswith("t1_"):
            n, p = n + 1, comments[p[3:]]["parent_id"]
        assert depth[cid] == n


def test_bounded_replace_more_and_faults(real: Path, tmp_path: Path, creds: None, sleeps: list[float]) -> None:
    with CassetteReddit([real / LARGE]) as srv:
        srv.fault("POST", "/api/morechildren", status=429, headers={"retry-after": "7"}, skip=3)
        srv.fault("POST", "/api/morechildren", status=503, times=3, skip=5)
        srv.fault("GET", "/comments/n49rw", drop=True)
        cfg = _config(tmp_path, srv, threads=["n49rw"], replace_more_limit=10)
        report = scrape(cfg, cfg.data_dir(), progress=False)[0]
        assert report.status == "ok", report
        ok = [r for r in srv.requests("/api/morechildren") if r[2] == 200]
        assert len(ok) >= 10  # the limit counts per attempt: a retried call may expand a few more
        assert [r[2] for r in srv.requests("/api/morechildren") if r[2] != 200] == [429, 503, 503, 503]
        assert 7.0 in sleeps
    envs = raw_envelopes(cfg.data_dir(), "threads")
    comments, _, _ = _oracle(real / LARGE, "t3_n49rw")
    assert 0 < len(envs) < sum(c["parent_id"] == "t3_n49rw" for c in comments.values())  # branches left collapsed
    assert {e["data"]["comment"]["score"] for e in envs} <= {c["score"] for c in comments.values()}
    from jokemine.state import Layout, State

    with State(Layout(cfg.data_dir()).state_path) as st:
        cursor = st.cursors("threads")["thread:n49rw"]
    assert cursor["complete"] is False and len(cursor["replies"]) == len(envs)


def test_rereads_refresh_scores_and_sync_deletions(
    real: Path, tmp_path: Path, creds: None, sleeps: list[float]
) -> None:
    from jokemine.cleaning.stage import clean

    comments, _, _ = _oracle(real / SMALL, "t3_3hahrw")
    top = sorted(k for k, c in comments.items() if c["parent_id"] == "t3_3hahrw")
    gone, deleted, rescored = top[0], top[1], top[2]

    def edit(x: Any) -> Any:
        if isinstance(x, dict):
            if x.get("kind") == "Listing" or "things" in x:
                kids = x.get("data", x).get("children", x.get("things"))
                if isinstance(kids, list):
                    kids[:] = [k for k in kids if not (k.get("kind") == "t1" and k["data"]["id"] == gone)]
            if x.get("kind") == "t1" and x["data"]["id"] == deleted:
                x["data"]["body"], x["data"]["author"] = "[deleted]", "[deleted]"
            if x.get("kind") == "t1" and x["data"]["id"] == rescored:
                x["data"]["score"] = 99999
            for v in x.values():
                edit(v)
        elif isinstance(x, list):
            for v in x:
                edit(v)
        return x

    with CassetteReddit([real / SMALL]) as srv:
        cfg = _config(tmp_path, srv, refresh_days=100000)  # the 2015 thread counts as young
        scrape(cfg, cfg.data_dir(), progress=False)
        srv.rewrite = edit
        report = scrape(cfg, cfg.data_dir(), progress=False)[0]
        assert report.status == "ok"
        old = _config(tmp_path, srv, refresh_days=1)  # now it is old: not read again
        assert scrape(old, old.data_dir(), progress=False)[0].records == 0
    envs = raw_envelopes(cfg.data_dir(), "threads")
    notes = [(e["source_id"], e.get("note")) for e in envs]
    assert len(envs) == 144 + 143 + 1 and (f"t1_{gone}", "missing") in notes
    clean(cfg, cfg.data_dir(), workers=1, progress=False)
    df = clean_frame(cfg.data_dir())
    assert df.loc[f"reddit:t1_{gone}", "drop_reason"] == "deleted_upstream"
    assert df.loc[f"reddit:t1_{deleted}", "drop_reason"] == "deleted_upstream"
    assert df.loc[f"reddit:t1_{rescored}", "score"] == 99999  # the latest observation wins
    assert len(df) == 144 and (df.thread_id == "reddit:3hahrw").all()


def test_threads_are_found_in_listings_and_credentials_are_needed(
    real: Path, tmp_path: Path, creds: None, sleeps: list[float], monkeypatch: pytest.MonkeyPatch
) -> None:
    with CassetteReddit([real / SMALL]) as srv:
        cfg = _config(tmp_path, srv, threads=[], subreddits=["funny"], listings=["hot"], min_comments=10)
        assert scrape(cfg, cfg.data_dir(), progress=False)[0].records == 144
        assert srv.requests("/r/funny/hot")
        monkeypatch.delenv("praw_client_id")
        fresh = _config(tmp_path / "b", srv)
        assert scrape(fresh, fresh.data_dir(), progress=False)[0].status == "skipped"


def test_a_live_thread_becomes_a_setup_with_hundreds_of_punchlines_and_shp_pairs(
    real: Path, tmp_path: Path, creds: None, sleeps: list[float]
) -> None:
    """r/announcements n49rw (a self post) read live with every collapsed branch expanded (232 morechildren), then
    cleaned and published: one setup_punches row with hundreds of replies, best first, and SHP pairs of siblings."""
    import pandas as pd
    import pyarrow.parquet as pq

    from jokemine.cleaning.stage import clean
    from jokemine.publish.release import publish

    comments, n_posts, _ = _oracle(real / LARGE, "t3_n49rw")
    top = {k: c for k, c in comments.items() if c["parent_id"] == "t3_n49rw"}
    with CassetteReddit([real / LARGE]) as srv:
        cfg = _config(tmp_path, srv, threads=["n49rw"], replace_more_limit=1000)
        text = (tmp_path / "jm.toml").read_text() + '[publish]\npreference_rule = "shp"\nallow_empty_splits = true\n'
        cfg = load_config(write_config(tmp_path / "jm.toml", text))
        assert scrape(cfg, cfg.data_dir(), progress=False)[0].records == len(top) == 535
        more = srv.requests("/api/morechildren")
        assert len(more) == n_posts == 232 and all(r[2] == 200 for r in srv.requests())  # each one recorded
    clean(cfg, cfg.data_dir(), workers=1, progress=False)
    report = publish(cfg, cfg.data_dir(), push=False)
    df = clean_frame(cfg.data_dir())
    kept = df[df.drop_reason.isna()]
    assert len(kept) > 450 and (kept.thread_id == "reddit:n49rw").all()
    assert all(kept.loc[i, "score"] == top[i.removeprefix("reddit:t1_")]["score"] for i in kept.index)
    sp = pd.concat(pq.read_table(f).to_pandas() for f in (report.path / "setup_punches").glob("*.parquet"))
    row = sp.iloc[0]
    assert len(sp) == 1 and row.setup.startswith("We're back") and row.num_punchlines > 450
    scores = [p["score"] for p in row.punchlines]
    assert scores[0] == max(scores) == 2645  # "Did you try pulling..." first
    pref = pd.concat(pq.read_table(f).to_pandas() for f in (report.path / "preference").glob("*.parquet"))
    assert 0 < len(pref) <= 50
    a, b = kept.loc[pref.id_chosen], kept.loc[pref.id_rejected]
    assert (b.score.to_numpy() >= 2).all() and (a.score.to_numpy() >= 2 * b.score.to_numpy()).all()
    assert (a.created_at.to_numpy() >= b.created_at.to_numpy()).all()
