"""`jokemine refresh` (issue 9): incremental nightly runs against the loopback Reddit API and anecdote site, no-change
runs, the lock, stale sources, crashes (SIGKILL) at several points, retention, logs, and the printed schedules."""

from __future__ import annotations

import configparser
import csv
import hashlib
import io
import json
import os
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import lxml.html
import pytest
import yaml

from jokemine.config import Config, load_config
from jokemine.publish.hub import read_manifest
from jokemine.refresh import EXIT_CODES, prune_releases, refresh
from jokemine.schedule import render
from jokemine.state import Layout
from tests.conftest import REAL, REPO, clean_frame, write_config
from tests.reddit_server import FakeReddit
from tests.site_server import FakeSite

CLIENT_ID = "test-client-id"
SECRET = "s3cr3t-Zq9xW7vT"
UA = "test:jokemine:0.1 (by u/jokemine_dev)"
PAGE = "html-anekdot-ru/anekdot_ru_tags_ukraine_2022-10-07.html"
DAY2 = "/release/anekdot/day/2022-10-08/"


@pytest.fixture
def creds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("praw_client_id", CLIENT_ID)
    monkeypatch.setenv("praw_client_secret", SECRET)


@pytest.fixture
def no_sleep(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(time, "sleep", lambda s: None)


def _live_config(tmp_path: Path, reddit: FakeReddit, site: FakeSite, end: str) -> Config:
    body = f"""
[paths]
data_dir = "data"
[scrape]
part_records = 100
[http]
contact = "jokemine-tests@example.org"
min_interval_s = 0
retries = 1
backoff_s = 0.01
read_timeout_s = 2.0
[[sources]]
name = "live"
kind = "reddit_api"
user_agent = "{UA}"
oauth_url = "{reddit.url}"
reddit_url = "{reddit.url}"
listings = ["new"]
refresh_days = 100000
max_retries = 1
backoff_s = 0.01
[[sources]]
name = "anekdot"
kind = "anekdot_ru"
base_url = "{site.url}"
start = "2022-10-07"
end = "{end}"
refetch_days = 0
[clean]
workers = 1
min_chars = 1
[publish]
allow_empty_splits = true
[refresh]
keep_releases = 3
"""
    return load_config(write_config(tmp_path / "jm.toml", body))


def _day2_page(page: bytes, real: Path, n: int = 5) -> tuple[bytes, list[str]]:
    """The saved anekdot.ru page with its first ``n`` jokes replaced by real CleanComedy RU jokes under new ids:
    a new day's page in the site's own markup."""
    with open(real / "cleancomedy" / "clean_comedy_gold_ru.csv", encoding="utf-8") as fh:
        texts = [r["text"] for r in csv.DictReader(fh) if 60 <= len(r["text"]) <= 300][:n]
    doc = lxml.html.fromstring(page)
    boxes = doc.xpath('//div[contains(concat(" ", normalize-space(@class), " "), " topicbox ")][@data-id]')
    ids = []
    for i, (box, text) in enumerate(zip(boxes, texts, strict=False)):
        new_id = str(9_000_000 + i)
        box.set("data-id", new_id)
        div = box.xpath('.//div[@class="text"]')[0]
        for child in list(div):
            div.remove(child)
        div.text = text
        ids.append(new_id)
    return lxml.html.tostring(doc, encoding="utf-8"), ids


def _changelog(data: Path) -> dict[str, Any]:
    return json.loads(((data / "releases" / "latest").resolve() / "CHANGELOG.json").read_text())


def test_refreshes_track_new_updated_deleted_then_no_change(
    real: Path, tmp_path: Path, creds: None, no_sleep: None, api_posts: list[dict[str, Any]]
) -> None:
    posts = api_posts[-140:]
    first, later = posts[:120], posts[120:]
    page = (real / PAGE).read_bytes()
    with FakeReddit(first, client_id=CLIENT_ID, client_secret=SECRET) as reddit, FakeSite(page) as site:
        cfg = _live_config(tmp_path, reddit, site, end="2022-10-07")
        data = cfg.data_dir()
        r1 = refresh(cfg, data, push=False)
        assert r1.outcome == "published" and r1.exit_code == 10, r1.lines()
        v1 = r1.version
        kept1 = clean_frame(data)
        kept1 = kept1[kept1["drop_reason"].isna()]
        live1 = kept1[kept1["source"] == "live"]
        assert len(live1) > 100

        # what changes upstream overnight: 20 new posts, 3 scores, 1 deletion, a new day page on the site
        reddit.add(later)
        changed = [i.split(":", 1)[1] for i in sorted(live1.index)[:3]]
        for pid in changed:
            reddit.set_score(pid, reddit.posts[pid]["score"] + 1000)
        gone = sorted(live1.index)[5].split(":", 1)[1]
        reddit.delete(gone)
        site.pages[DAY2], new_ids = _day2_page(page, real)
        cfg = _live_config(tmp_path, reddit, site, end="2022-10-08")
        r2 = refresh(cfg, data, push=False)
        assert r2.outcome == "published", r2.lines()
        assert r2.version != v1 and (data / "releases" / v1).is_dir()
        kept2 = clean_frame(data)
        kept2 = kept2[kept2["drop_reason"].isna()]
        new_live = {f"reddit:{p['id']}" for p in later} & set(kept2.index)
        assert len(new_live) >= 18  # real posts: a few may be filtered
        log = _changelog(data)["configs"]["jokes"]
        assert log["by_source"]["live"] == {"added": len(new_live), "removed": 1, "deleted": 1, "updated": 3}
        assert log["by_source"]["anekdot"] == {"added": 5, "removed": 0, "deleted": 0, "updated": 0}
        assert log["added"] == len(new_live) + 5 and log["updated"] == 3 and log["removed"] == 1
        assert log["removed_reasons"] == {"deleted_upstream": 1}
        assert set(kept2[kept2["source"] == "anekdot"].index) >= {f"anekdot:{i}" for i in new_ids}
        by = {s.name: s for s in r2.sources}
        assert (by["live"].added, by["live"].updated, by["live"].deleted) == (len(new_live), 3, 1)
        assert by["live"].requests > 0 and by["anekdot"].requests > 0
        summary = "\n".join(r2.lines())
        assert f"published {r2.version}" in summary and "live" in summary and "anekdot" in summary

        # nothing changed: no release, exit 0, "no change"
        n_releases = len(list((data / "releases").iterdir()))
        r3 = refresh(cfg, data, push=False)
        assert r3.outcome == "no_change" and r3.exit_code == 0 and r3.version == r2.version, r3.lines()
        assert r3.publish in ("skipped", "unchanged")
        assert len(list((data / "releases").iterdir())) == n_releases
        assert "no change" in r3.lines()[0]
        events = [json.loads(line) for line in r3.log.read_text().splitlines()]
        assert events[0]["event"] == "start" and events[-1] == {**events[-1], "event": "finish", "outcome": "no_change"}
        assert {e["source"] for e in events if e.get("event") == "scrape"} == {"live", "anekdot"}
        for f in (data / "logs").glob("*.jsonl"):
            assert SECRET not in f.read_text() and "tok-" not in f.read_text()


def test_one_source_down_others_publish_and_card_marks_it_stale(
    real: Path, tmp_path: Path, creds: None, no_sleep: None, api_posts: list[dict[str, Any]]
) -> None:
    posts = api_posts[-140:]
    page = (real / PAGE).read_bytes()
    with FakeReddit(posts[:100], client_id=CLIENT_ID, client_secret=SECRET) as reddit, FakeSite(page) as site:
        cfg = _live_config(tmp_path, reddit, site, end="2022-10-07")
        data = cfg.data_dir()
        assert refresh(cfg, data, push=False).outcome == "published"
        reddit.add(posts[100:])
        site.fault(DAY2, status=503, times=1000)  # the site is down for the new day's page
        cfg = _live_config(tmp_path, reddit, site, end="2022-10-08")
        r = refresh(cfg, data, push=False)
    by = {s.name: s for s in r.sources}
    assert by["live"].status == "ok" and not by["live"].stale
    if by["anekdot"].status in ("ok", "unchanged"):
        pytest.fail(f"anekdot should have failed: {by['anekdot']}")
    assert by["anekdot"].stale and by["anekdot"].stale_since is not None
    assert r.outcome == "published_stale" and r.exit_code == 11, r.lines()
    release = (data / "releases" / "latest").resolve()
    manifest = json.loads((release / "MANIFEST.json").read_text())
    assert set(manifest["stale_sources"]) == {"anekdot"}
    assert manifest["stale_sources"]["anekdot"]["since"] == by["anekdot"].stale_since
    card = (release / "README.md").read_text()
    assert "**Stale source: `anekdot`**" in card and by["anekdot"].stale_since in card
    assert "stale since" in "\n".join(r.lines())


# --- crash safety ---------------------------------------------------------------------------------------------------


def _csv_rows(real: Path) -> tuple[str, list[list[str]]]:
    text = (real / "cleancomedy" / "clean_comedy_gold_en.csv").read_text(encoding="utf-8")
    rows = list(csv.reader(io.StringIO(text), delimiter=";"))
    return ";".join(rows[0]), rows[1:]


def _write_csv(path: Path, header: str, rows: list[list[str]]) -> None:
    buf = io.StringIO()
    w = csv.writer(buf, delimiter=";")
    buf.write(header + "\n")
    w.writerows(rows)
    path.write_text(buf.getvalue(), encoding="utf-8")


def _file_config(tmp_path: Path, csv_path: Path) -> Path:
    return write_config(
        tmp_path / "jm.toml",
        f"""
[paths]
data_dir = "data"
[scrape]
part_records = 100
[[sources]]
name = "cleanjokes"
kind = "reddit_dump"
path = "{real_path("kampta-reddit-jokes/r_cleanjokes_submissions.ndjson.zst")}"
[[sources]]
name = "rated"
kind = "table"
path = "{csv_path}"
delimiter = ";"
columns = {{ text = "text", score = "score" }}
score_kind = "mean_rating"
lang = "en"
[clean]
workers = 1
author_salt = "same-salt-in-every-data-dir"  # the default is a random secret per data dir
""",
    )


def real_path(rel: str) -> str:
    return str(REAL / rel)


def _cli_refresh(config: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "jokemine", "--config", str(config), "refresh"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **(env or {})},
    )


VOLATILE = {"fetched_at"}  # when a record was read: differs between any two runs


def _rows(release: Path) -> dict[str, Any]:
    """Every record config of a release as rows sorted by id, without volatile columns, plus the manifest counts."""
    import pyarrow.parquet as pq

    out: dict[str, Any] = {"counts": json.loads((release / "MANIFEST.json").read_text())["counts"]}
    for config in ("setup_punch", "qa", "jokes"):
        files = sorted((release / config).glob("*.parquet"))
        if files:
            frame = pq.ParquetDataset(files).read().to_pandas()
            frame = frame.drop(columns=[c for c in VOLATILE if c in frame]).sort_values("id").reset_index(drop=True)
            out[config] = frame.to_json(orient="records", date_format="iso")
    return out


def _tree_digest(release: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(release.rglob("*")):
        if p.is_file():
            h.update(p.relative_to(release).as_posix().encode() + p.read_bytes())
    return h.hexdigest()


@pytest.fixture(scope="module")
def first_refresh(real: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One refresh of the first 500 rated jokes in folder ``work``, kept as a ``pristine`` copy that the crash tests
    restore into the same folder (:func:`_restore`; a file source's cursor is keyed by the file's path)."""
    base = tmp_path_factory.mktemp("first")
    work = base / "work"
    work.mkdir()
    header, rows = _csv_rows(real)
    csv_path = work / "rated.csv"
    _write_csv(csv_path, header, rows[:500])
    config = _file_config(work, csv_path)
    assert _cli_refresh(config).returncode == 10
    shutil.copytree(work, base / "pristine", symlinks=True)
    return {"work": work, "pristine": base / "pristine", "config": config, "csv": csv_path, "header": header,
            "rows": rows}  # fmt: skip


def _restore(first: dict[str, Any]) -> Path:
    """The data dir of ``first_refresh`` as its one refresh left it."""
    shutil.rmtree(first["work"])
    shutil.copytree(first["pristine"], first["work"], symlinks=True)
    return first["work"] / "data"


@pytest.fixture(scope="module")
def reference(first_refresh: dict[str, Any]) -> dict[str, Any]:
    """An uninterrupted run: refresh with 500 rated jokes, then with all 1,000."""
    data = _restore(first_refresh)
    _write_csv(first_refresh["csv"], first_refresh["header"], first_refresh["rows"])
    r = _cli_refresh(first_refresh["config"])
    assert r.returncode == 10, r.stdout + r.stderr
    latest = (data / "releases" / "latest").resolve()
    return {"rows_out": _rows(latest), "raw": _raw_count(data), "header": first_refresh["header"],
            "rows": first_refresh["rows"]}  # fmt: skip


def _raw_count(data: Path) -> int:
    from jokemine.state import State

    with State(Layout(data).state_path) as st:
        return sum(p.records for p in st.raw_parts())


CRASH_POINTS = ("scrape.committed", "refresh.scraped", "clean.written", "refresh.cleaned", "publish.built",
                "publish.renamed")  # fmt: skip


def test_refresh_killed_at_every_point_then_rerun_equals_uninterrupted(
    reference: dict, first_refresh: dict[str, Any]
) -> None:
    """One refresh killed (SIGKILL) at each crash point in turn, each rerun picking up what the last one left:
    after every kill the last release is untouched and still served; the run that finally completes equals the
    uninterrupted one. (A chain of crashes rather than one test per point: the same points, a sixth of the
    runs, and each recovery starts from a crashed state.)"""
    data = _restore(first_refresh)  # after a refresh of the first 500 rated jokes
    config = first_refresh["config"]
    v1 = (data / "releases" / "latest").resolve()
    before = _tree_digest(v1)
    _write_csv(first_refresh["csv"], reference["header"], reference["rows"])
    for point in CRASH_POINTS:
        killed = _cli_refresh(config, {"JOKEMINE_KILL_AT": point})
        assert killed.returncode == -9, (point, killed.returncode, killed.stdout[-1500:], killed.stderr[-1500:])
        latest = (data / "releases" / "latest").resolve()
        assert latest == v1 and _tree_digest(v1) == before, point  # the last release untouched and still served
        read_manifest(v1)  # every file matches its sha256
    again = _cli_refresh(config)
    assert again.returncode == 10, (again.stdout, again.stderr[-2000:])
    final = _rows((data / "releases" / "latest").resolve())
    assert final["counts"] == reference["rows_out"]["counts"]
    assert final == reference["rows_out"]
    # nothing lost, nothing stored twice: 1,432 posts + 500 rows, then the grown file read from where it stopped
    assert _raw_count(data) == reference["raw"] == 1432 + 500 + 500
    assert _cli_refresh(config).returncode == 0


def test_two_refreshes_started_together_one_runs_one_exits_with_the_lock_message(
    reference: dict, tmp_path: Path
) -> None:
    csv_path = tmp_path / "rated.csv"
    _write_csv(csv_path, reference["header"], reference["rows"])
    config = _file_config(tmp_path, csv_path)
    cmd = [sys.executable, "-m", "jokemine", "--config", str(config), "refresh"]
    # each holds the lock 8 s longer than its work, so the two overlap however the machine schedules them
    env = {**os.environ, "JOKEMINE_PAUSE_AT": "refresh.scraped:8"}
    procs = [
        subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        for _ in "ab"
    ]
    results = sorted((p.wait(timeout=300), p.communicate()) for p in procs)
    codes = [r[0] for r in results]
    assert codes == [10, 75], results
    err = results[1][1][1]
    assert "is in use by pid" in err and "jokemine refresh" in err and "started 20" in err


def test_stale_lock_of_a_dead_process_is_taken_over(reference: dict, tmp_path: Path) -> None:
    csv_path = tmp_path / "rated.csv"
    _write_csv(csv_path, reference["header"], reference["rows"][:50])
    config = _file_config(tmp_path, csv_path)
    killed = _cli_refresh(config, {"JOKEMINE_KILL_AT": "refresh.scraped"})
    assert killed.returncode == -9
    lock = tmp_path / "data" / ".jokemine.lock"
    assert json.loads(lock.read_text())["what"] == "refresh"  # the dead holder's record is still there
    assert _cli_refresh(config).returncode == 10


def test_retention_keeps_the_newest_and_never_latest(tmp_path: Path) -> None:
    releases = tmp_path / "releases"
    for i, name in enumerate(["2026.11.01", "2026.11.02", "2026.11.03", "2026.11.04"]):
        (releases / name).mkdir(parents=True)
        (releases / name / "MANIFEST.json").write_text(json.dumps({"created_at": f"2026-11-0{i + 1}T00:00:00"}))
    (releases / "latest").symlink_to("2026.11.01")  # a rollback: latest is the oldest
    assert prune_releases(Layout(tmp_path), keep=2) == ["2026.11.02"]
    assert sorted(p.name for p in releases.iterdir()) == ["2026.11.01", "2026.11.03", "2026.11.04", "latest"]


# --- schedules ------------------------------------------------------------------------------------------------------


def test_printed_cron_and_systemd_commands_run_the_refresh(reference: dict, tmp_path: Path) -> None:
    csv_path = tmp_path / "rated.csv"
    _write_csv(csv_path, reference["header"], reference["rows"][:100])
    config = _file_config(tmp_path, csv_path)
    cfg = load_config(config)
    cron = render("cron", cfg, cfg.data_dir(), at="04:05", checkout=REPO)
    line = next(ln for ln in cron.splitlines() if ln and not ln.startswith(("#", "MAILTO")))
    fields = line.split(None, 5)
    assert fields[:5] == ["5", "4", "*", "*", "*"]
    home = tmp_path / "home"
    (home / ".config" / "jokemine").mkdir(parents=True)
    (home / ".config" / "jokemine" / "env").write_text("JOKEMINE_TEST_MARKER=1\n")
    r = subprocess.run(["/bin/sh", "-c", fields[5]], capture_output=True, text=True, timeout=300,
                       env={**os.environ, "HOME": str(home)})  # fmt: skip
    assert r.returncode == 10, r.stderr[-2000:]
    assert "published" in r.stdout

    unit = render("systemd", cfg, cfg.data_dir(), at="04:05", checkout=REPO)
    service, timer = unit.split("# ~/.config/systemd/user/jokemine-refresh.timer")
    ini = configparser.ConfigParser(interpolation=None, strict=False)
    ini.read_string(service)
    assert ini["Service"]["Type"] == "oneshot" and ini["Service"]["SuccessExitStatus"] == "10"
    t = configparser.ConfigParser(interpolation=None, strict=False)
    t.read_string(timer)
    assert t["Timer"]["OnCalendar"] == "*-*-* 04:05:00" and t["Timer"]["Persistent"] == "true"
    argv = shlex.split(ini["Service"]["ExecStart"])
    r = subprocess.run(argv, cwd=ini["Service"]["WorkingDirectory"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and "no change" in r.stdout, r.stderr[-2000:]


def test_printed_github_workflow_is_valid_and_keeps_secrets_out(tmp_path: Path) -> None:
    cfg = load_config(REPO / "configs" / "real-offline.toml")
    text = render("github", cfg, cfg.data_dir(), at="03:17", checkout=REPO)
    wf = yaml.safe_load(text)
    assert wf[True]["schedule"] == [{"cron": "17 3 * * *"}]  # YAML 1.1 reads the key `on` as True
    steps = wf["jobs"]["refresh"]["steps"]
    run = next(s for s in steps if s.get("name") == "refresh")
    assert run["env"]["HF_TOKEN"] == "${{ secrets.HF_TOKEN }}"
    assert "--config configs/real-offline.toml --data-dir data refresh" in run["run"]
    assert [s.get("uses", "").split("@")[0] for s in steps if "cache" in s.get("uses", "")] == [
        "actions/cache/restore",
        "actions/cache/save",
    ]
    assert "hf_" not in text.lower().replace("hf_token", "")


def test_exit_codes_are_documented_in_the_readme() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## Run it nightly") :]
    for outcome, code in EXIT_CODES.items():
        assert f"| {code} | `{outcome}` |" in section, outcome
    assert "| 75 |" in section


def test_publish_needed_until_the_latest_release_itself_is_pushed(tmp_path: Path) -> None:
    """A release published with --no-push after an earlier successful push is still a pending push for the
    refresh (the last push was of the older release); once a push of that version succeeds, nothing is needed, even
    after a later failed re-push (``status`` decides with the same rule, ``jokemine.status.release_pushed``)."""
    import time

    from jokemine.atomic import point
    from jokemine.refresh import publish_needed
    from jokemine.state import State

    layout = Layout(tmp_path)
    (layout.clean / "run-b").mkdir(parents=True)
    point(layout.clean / "latest", "run-b")
    for version in ("1.0", "2.0"):
        (layout.releases / version).mkdir(parents=True)
        (layout.releases / version / "MANIFEST.json").write_text(json.dumps({"version": version, "clean_run": "run-b"}))
    point(layout.releases / "latest", "2.0")
    cfg = load_config(write_config(tmp_path / "jm.toml", '[publish]\nrepo_id = "owner/jokes"\n'))
    state = State(tmp_path / "state.sqlite")
    state.start_run("p1", "push")
    state.finish_run("p1", "push", "pushed", {"repo_id": "owner/jokes", "version": "1.0"})
    assert publish_needed(cfg, layout, state) == "Hub push pending"
    time.sleep(0.01)
    state.start_run("p2", "push")
    state.finish_run("p2", "push", "pushed", {"repo_id": "owner/jokes", "version": "2.0"})
    assert publish_needed(cfg, layout, state) is None
    time.sleep(0.01)
    state.start_run("p3", "push")  # a later re-push that failed: the tag v2.0 is still on the Hub
    state.finish_run("p3", "push", "failed", {"repo_id": "owner/jokes", "version": "2.0", "error": "HTTP 503"})
    assert publish_needed(cfg, layout, state) is None
    state.close()
    from jokemine.status import status_facts

    assert status_facts(cfg, tmp_path)["push"]["latest_release_pushed"] is True  # status says the same
    state = State(tmp_path / "state.sqlite")
    moved = load_config(write_config(tmp_path / "moved.toml", '[publish]\nrepo_id = "owner/new-jokes"\n'))
    assert publish_needed(moved, layout, state) == "Hub push pending"  # pushes to another repo do not count
    no_hub = load_config(write_config(tmp_path / "local.toml", ""))
    assert publish_needed(no_hub, layout, state) is None
