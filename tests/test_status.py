"""``jokemine status`` and ``status --json``: counts equal what is on disk, the Hub push state after a push to the
loopback FakeHub, the next step at each stage of the pipeline, and no credential ever printed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from jokemine.cli import app
from jokemine.config import load_config
from jokemine.status import status_facts
from tests.conftest import clean_frame, raw_envelopes, write_config
from tests.hub_server import FakeHub
from tests.test_hub import REPO, TOKEN, isolated  # noqa: F401  (autouse: loopback only, online, no real token)

PRAW_SECRET = "prawSECRETvalue987"


def _cli(cfg: Path, *args: str) -> str:
    r = CliRunner().invoke(app, ["--config", str(cfg), "status", *args])
    assert r.exit_code == 0, r.output
    return r.stdout


def test_status_json_follows_the_pipeline_and_the_push(
    real: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """r/pun (67 real posts): scrape -> clean -> publish without a push -> publish with a push to the FakeHub. At each
    step ``status --json`` counts what is on disk and names the next command; the text says the same."""
    from jokemine.cleaning.stage import clean
    from jokemine.publish.release import publish
    from jokemine.scrapers.run import scrape
    from jokemine.state import Layout, State, new_run_id

    monkeypatch.setenv("HF_TOKEN", TOKEN)
    monkeypatch.setenv("praw_client_secret", PRAW_SECRET)
    with FakeHub(token=TOKEN) as hub:
        path = write_config(
            tmp_path / "jm.toml",
            f"""
[paths]
data_dir = "data"
[[sources]]
name = "pun"
kind = "reddit_dump"
path = "{real}/kampta-reddit-jokes/r_pun_submissions.ndjson.zst"
[clean]
workers = 1
[publish]
repo_id = "{REPO}"
hub_endpoint = "{hub.url}"
allow_empty_splits = true
""",
        )
        cfg = load_config(path)
        data = cfg.data_dir()

        def facts() -> dict[str, Any]:
            f = status_facts(cfg, data)
            assert json.loads(_cli(path, "--json")) == json.loads(json.dumps(f))  # the CLI prints exactly these
            return f

        f = facts()
        assert (f["raw"]["records"], f["clean"], f["releases"]["count"]) == (0, None, 0)
        assert (f["next_step"], f["next_step_reason"]) == ("jokemine scrape", "nothing scraped yet")
        assert not data.exists()  # status creates nothing

        scrape(cfg, data, progress=False)
        f = facts()
        parts = sorted((data / "raw" / "pun").glob("*/part-*"))
        assert f["raw"]["records"] == len(raw_envelopes(data, "pun")) == 67
        assert f["raw"]["sources"] == {"pun": {"records": 67, "parts": len(parts), "runs": 1}} and parts
        assert (f["next_step"], f["next_step_reason"]) == ("jokemine clean", "no clean run yet")
        assert f["runs"][0]["stage"] == "scrape" and f["runs"][0]["source"] == "pun"

        clean(cfg, data, progress=False)
        f = facts()
        run = (data / "clean" / "latest").resolve()
        frame = clean_frame(data)
        kept = int(frame["drop_reason"].isna().sum())
        assert len(frame) == 67
        assert f["clean"] == {"run": run.name, "read": 67, "kept": kept, "dropped": 67 - kept} and kept > 0
        assert (f["next_step"], f["next_step_reason"]) == ("jokemine publish", "no release yet")

        publish(cfg, data, version="1.0", push=False)
        f = facts()
        rows = {p.relative_to(data / "releases" / "1.0").as_posix(): pq.read_metadata(p).num_rows
                for p in (data / "releases" / "1.0").glob("*/*.parquet")}  # fmt: skip
        counts = f["releases"]["recent"][0]["counts"]
        assert f["releases"] | {"recent": None} == {
            "count": 1, "latest": "1.0", "versions": ["1.0"], "recent": None, "latest_clean_run": run.name,
        }  # fmt: skip
        assert sum(counts["jokes"].values()) == kept == sum(n for p, n in rows.items() if p.startswith("jokes/"))
        assert f["push"] == {
            "repo_id": REPO, "last": None, "last_attempt": None, "latest_release_pushed": False, "pending": True,
        }  # fmt: skip
        assert f["next_step"] == "jokemine publish --push" and REPO in f["next_step_reason"]
        text = _cli(path)
        assert f"hub: {REPO}: latest release 1.0 NOT pushed; never pushed" in text
        assert "next: jokemine publish --push  (release 1.0 is not on the Hub repo" in text

        report = publish(cfg, data)  # same data: no new release, the pending push goes out
        assert report.status == "unchanged" and report.hub is not None and report.hub.status == "pushed"
        assert "v1.0" in hub.repo(REPO).tags
        f = facts()
        last = f["push"]["last"]
        assert last | {"at": None} == {
            "version": "1.0", "tag": "v1.0", "repo_id": REPO, "status": "pushed", "at": None,
            "commit_url": report.hub.commit_url,
        }  # fmt: skip
        assert f"/datasets/{REPO}/commit/" in (last["commit_url"] or "")
        assert f["push"]["latest_release_pushed"] is True and f["push"]["pending"] is False
        assert f["push"]["last_attempt"]["status"] == "pushed"
        assert (f["next_step"], f["next_step_reason"]) == (None, "up to date")
        text = _cli(path)
        assert f"hub: {REPO}: latest release 1.0 pushed; last push: 1.0 (tag v1.0) to {REPO} at {last['at'][:19]}" in (
            text
        )
        assert text.rstrip().endswith("next: nothing to do (up to date)")

    # a failed push whose error echoes the credentials (and a URL with a password): status never prints them
    with State(Layout(data).state_path) as st:
        rid = new_run_id()
        st.start_run(rid, "push")
        error = f"HTTPError: 401 for token {TOKEN} via https://me:{PRAW_SECRET}@proxy.example/x"
        st.finish_run(rid, "push", "failed", {"repo_id": REPO, "version": "1.0", "error": error})
    out = _cli(path, "--json") + _cli(path)
    assert TOKEN not in out and PRAW_SECRET not in out
    f = json.loads(_cli(path, "--json"))
    assert f["push"]["last_attempt"]["error"] == "HTTPError: 401 for token *** via https://***@proxy.example/x"
    assert f["push"]["last"]["version"] == "1.0" and f["next_step"] is None  # the pushed tag is still there
