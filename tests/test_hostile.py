"""A hostile world, as a cron job meets it (issue 16): killed drivers, FIFOs, symlink loops, slow-drip servers,
colliding ids, read-only data dirs, files in the wrong shape or encoding, looping cursors, files that grow.
Every failure is one line naming what is at fault, nothing is lost, nothing is merged silently."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psutil
import pytest
import zstandard

from jokemine.cleaning.stage import clean
from jokemine.config import Config, load_config
from jokemine.publish.release import publish
from jokemine.scrapers.run import scrape
from tests.conftest import REPO, clean_frame, raw_envelopes, write_config
from tests.reddit_server import FakeReddit
from tests.site_server import FakeSite

KAMPTA = "kampta-reddit-jokes"
CC_EN = "cleancomedy/clean_comedy_gold_en.csv"


def _cli(config: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 300, **kw: Any):
    return subprocess.run(
        [sys.executable, "-m", "jokemine", "--config", str(config), *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
        **kw,
    )


def _one_line_error(stderr: str) -> str:
    """The stderr of a failed command: exactly one ``error:`` line and no traceback."""
    assert "Traceback" not in stderr, stderr[-3000:]
    errors = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, stderr[-3000:]
    return errors[0]


@pytest.fixture
def live_posts(api_posts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The newest 250 real r/Jokes self posts as the API serves them."""
    return api_posts


def _cc_texts(real: Path, n: int) -> list[str]:
    with open(real / CC_EN, encoding="utf-8", newline="") as fh:
        return [row["text"] for row, _ in zip(csv.DictReader(fh, delimiter=";"), range(n), strict=False)]


# --- 1. a killed driver leaves no worker behind, and no lock ----------------------------------------------------
def test_sigkilled_clean_leaves_no_worker_and_the_next_refresh_runs(real: Path, tmp_path: Path) -> None:
    config = write_config(
        tmp_path / "jm.toml",
        f"""
[paths]
data_dir = "data"
[scrape]
part_records = 500
[[sources]]
name = "cleanjokes"
kind = "reddit_dump"
path = "{real}/{KAMPTA}/r_cleanjokes_submissions.ndjson.zst"
[[sources]]
name = "cc_en"
kind = "table"
path = "{real}/{CC_EN}"
delimiter = ";"
columns = {{ text = "text", score = "score" }}
score_kind = "mean_rating"
[clean]
workers = 2
""",
    )
    data = tmp_path / "data"
    assert _cli(config, "scrape").returncode == 0
    driver = subprocess.Popen(
        [sys.executable, "-m", "jokemine", "--config", str(config), "clean", "--workers", "2"],
        cwd=REPO,
        env={**os.environ, "JOKEMINE_PAUSE_AT": "clean.pass1:60"},  # the workers hold on at their first shard
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    workers: list[psutil.Process] = []
    deadline = time.monotonic() + 60
    while len(workers) < 2 and time.monotonic() < deadline:  # the 2 pool workers (and any helper process)
        workers = psutil.Process(driver.pid).children(recursive=True)
        time.sleep(0.05)
    assert len(workers) >= 2
    time.sleep(1.0)  # the pool workers are in pass 1 now
    workers = psutil.Process(driver.pid).children(recursive=True)
    os.kill(driver.pid, signal.SIGKILL)  # what the OOM killer does, while its workers are in pass 1
    driver.wait()
    gone, alive = psutil.wait_procs(workers, timeout=5)
    assert alive == [] and len(gone) == len(workers)
    r = _cli(config, "refresh", "--no-push")  # at once: the lock is free
    assert r.returncode == 10, r.stderr[-2000:]
    assert "in use by" not in r.stderr
    assert (data / "releases" / "latest").exists()


def test_lock_held_by_a_dead_holder_s_leftovers_is_named_as_such(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Should anything outlive a driver while holding its lock (here: a program it exec'd with the lock's
    descriptor), the next command waits briefly, then says that the named process has exited."""
    from jokemine import lock

    data = tmp_path / "data"
    code = (
        "import subprocess, sys\nfrom pathlib import Path\nfrom jokemine.lock import data_dir_lock, _held\n"
        f"with data_dir_lock(Path({str(data)!r}), 'clean'):\n"
        "    fd = next(iter(_held.values()))[0]\n"
        "    p = subprocess.Popen(['sleep', '30'], pass_fds=[fd])\n"
        "    print(p.pid, flush=True)\n"
        "    import os; os._exit(0)\n"
    )
    holder = subprocess.Popen([sys.executable, "-c", code], cwd=REPO, stdout=subprocess.PIPE, text=True)
    assert holder.stdout is not None
    leftover = int(holder.stdout.readline())
    holder.wait()
    monkeypatch.setattr(lock, "DEAD_HOLDER_GRACE_S", 0.3)
    try:
        with pytest.raises(lock.Busy) as e, lock.data_dir_lock(data, "refresh"):
            pass
        assert str(e.value).startswith(
            f"data dir {data} is in use by processes left behind by pid {holder.pid} (jokemine clean, started "
        )
        assert str(e.value).endswith("which has exited; try again when it has finished")
    finally:
        os.kill(leftover, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while psutil.pid_exists(leftover) and psutil.Process(leftover).status() != psutil.STATUS_ZOMBIE:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    with lock.data_dir_lock(data, "refresh"):  # the kernel freed it with the last descriptor
        pass


# --- 2. FIFOs and symlink loops: one line, at once -------------------------------------------------------------
def test_fifo_source_fails_within_a_second(tmp_path: Path) -> None:
    fifo = tmp_path / "in.ndjson"
    os.mkfifo(fifo)
    body = f"""
[paths]
data_dir = "data"
[[sources]]
name = "dump"
kind = "reddit_dump"
path = "{fifo}"
[[sources]]
name = "glob"
kind = "table"
path = "{tmp_path}/*.ndjson"
format = "jsonl"
columns = {{ text = "text" }}
"""
    cfg = load_config(write_config(tmp_path / "jm.toml", body))
    t0 = time.monotonic()
    reports = scrape(cfg, tmp_path / "data", progress=False)
    assert time.monotonic() - t0 < 1.0
    expected = f"{fifo}: is a FIFO (named pipe), expected a regular file (jokemine reads only regular files)"
    assert [(r.status, r.errors) for r in reports] == [("failed", [expected]), ("failed", [expected])]
    r = _cli(tmp_path / "jm.toml", "scrape", timeout=30)
    assert r.returncode == 1
    assert "Traceback" not in r.stderr
    assert [line for line in r.stderr.splitlines() if line.startswith("error:")] == [
        f"error: dump: {expected}",
        f"error: glob: {expected}",
    ]


def test_symlink_loop_is_one_line(tmp_path: Path) -> None:
    loop = tmp_path / "loop.ndjson"
    loop.symlink_to(loop)
    d = tmp_path / "dumps"
    d.mkdir()
    (d / "a.ndjson").write_text('{"id": "abc", "title": "t", "selftext": "b"}\n')
    (d / "again").symlink_to(d)  # a recursive glob walks into itself
    write_config(
        tmp_path / "jm.toml",
        f"""
[paths]
data_dir = "data"
[[sources]]
name = "loop"
kind = "reddit_dump"
path = "{loop}"
[[sources]]
name = "walk"
kind = "reddit_dump"
path = "{d}/**/*.ndjson"
""",
    )
    r = _cli(tmp_path / "jm.toml", "scrape", timeout=60)
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert f"error: loop: {loop}: cannot read: too many levels of symbolic links (a symlink loop)" in r.stderr
    assert "walk: ok: 1 records stored" in r.stdout  # the file behind 40 looping paths is read once


# --- 3. a slow-drip server fails within its total deadline ---------------------------------------------------
def _anekdot_config(tmp_path: Path, site: FakeSite) -> Config:
    body = f"""
[paths]
data_dir = "data"
[http]
contact = "jokemine-tests@example.org"
min_interval_s = 0
retries = 2
backoff_s = 0.01
read_timeout_s = 1.0
total_timeout_s = 2.0
[[sources]]
name = "anekdot"
kind = "anekdot_ru"
base_url = "{site.url}"
start = "2022-10-05"
end = "2022-10-07"
refetch_days = 0
"""
    return load_config(write_config(tmp_path / "jm.toml", body))


@pytest.mark.parametrize("headers", [False, True], ids=["body", "headers"])
def test_slow_drip_page_fails_within_its_total_deadline(real: Path, tmp_path: Path, headers: bool) -> None:
    page = (real / "html-anekdot-ru/anekdot_ru_tags_ukraine_2022-10-07.html").read_bytes()
    with FakeSite(page) as site:
        slow = "/release/anekdot/day/2022-10-06/"
        site.fault(slow, drip=0.2, drip_headers=headers, times=5)  # one byte per 0.2 s: each read is quick
        cfg = _anekdot_config(tmp_path, site)
        t0 = time.monotonic()
        report = scrape(cfg, cfg.data_dir(), progress=False)[0]
        took = time.monotonic() - t0
    assert took < 2.0 + 2 * 1.5, took  # the deadline, plus the other pages (min_interval 0)
    assert report.status == "partial" and report.stats["pages"] == 2  # the other days are stored
    assert "no complete answer within total_timeout_s (2 s)" in report.errors[0] and slow in report.errors[0]
    assert site.arrivals.count(slow) == 1  # not retried in this run: the next run tries again


def test_body_cut_by_the_deadline_is_never_stored_or_cached(real: Path, tmp_path: Path) -> None:
    """An answer without a length ends when its connection closes: a body ended by the watchdog must not pass for a
    whole page (pages of past days are cached forever)."""
    page = (real / "html-anekdot-ru/anekdot_ru_tags_ukraine_2022-10-07.html").read_bytes()
    with FakeSite(page) as site:
        slow = "/release/anekdot/day/2022-10-06/"
        site.fault(slow, drip=0.05, length=False)
        cfg = _anekdot_config(tmp_path, site)
        first = scrape(cfg, cfg.data_dir(), progress=False)[0]
        assert first.status == "partial" and "no complete answer within total_timeout_s" in first.errors[0]
        second = scrape(cfg, cfg.data_dir(), progress=False)[0]  # the fault is gone: fetched anew, not from cache
        assert second.status == "ok" and second.stats["pages"] == 1 and site.arrivals.count(slow) == 2
    from jokemine.scrapers.crawl import page_body

    bodies = [page_body(e["data"]) for e in raw_envelopes(cfg.data_dir(), "anekdot")]
    assert len(bodies) == 3 and all(b == page for b in bodies)  # no cut page stored


def test_slow_drip_reddit_listing_fails_within_its_total_deadline(
    live_posts: list[dict[str, Any]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("praw_client_id", "test-client-id")
    monkeypatch.setenv("praw_client_secret", "test-client-secret")
    with FakeReddit(live_posts[-150:]) as srv:
        srv.fault("GET", "/r/Jokes/new", drip=0.2, times=10)  # a 60-byte body over 12 s
        cfg = _live_config(tmp_path, srv, total_timeout_s=1.5, timeout_s=1.0)
        t0 = time.monotonic()
        report = scrape(cfg, cfg.data_dir(), progress=False)[0]
        took = time.monotonic() - t0
        listing_requests = len(srv.requests("/r/Jokes/new"))
        url = srv.url
    assert took < 5.0, took
    assert report.status == "failed" and report.stats["deadline_exceeded"] == 1 and listing_requests == 1
    assert report.errors == [
        f"r/Jokes new: {url}/r/Jokes/new: no complete answer within total_timeout_s (1.5 s); not retried in this run"
    ]


def test_old_data_dir_gets_its_row_ids_from_raw(real: Path, tmp_path: Path) -> None:
    """A data dir scraped before ids were recorded: the first scrape fills them from raw, so a file added later
    that reuses an id is still a collision."""
    import sqlite3

    texts = _cc_texts(real, 4)
    _write_csv(tmp_path / "jan.csv", [("1", texts[0]), ("2", texts[1])])
    body = f"""
[paths]
data_dir = "data"
[[sources]]
name = "jokes"
kind = "table"
path = "{tmp_path}/*.csv"
columns = {{ id = "ID", text = "Joke" }}
id_scope = "source"
"""
    cfg = load_config(write_config(tmp_path / "jm.toml", body))
    assert scrape(cfg, cfg.data_dir(), progress=False)[0].records == 2
    with sqlite3.connect(cfg.data_dir() / "state.sqlite") as db:  # as an older jokemine left it
        db.execute("DELETE FROM row_ids")
    _write_csv(tmp_path / "feb.csv", [("1", texts[2]), ("3", texts[3])])
    report = scrape(cfg, cfg.data_dir(), progress=False)[0]
    assert (report.records, report.stats["id_collisions"]) == (2, 1)


def test_records_a_source_filters_out_count_as_read(real: Path, tmp_path: Path) -> None:
    with open(real / KAMPTA / "r_pun_submissions.ndjson.zst", "rb") as fh:
        text = zstandard.ZstdDecompressor(max_window_size=2**31).stream_reader(fh).read()
    posts = [json.loads(x) for x in text.splitlines()]
    dump = tmp_path / "mixed.ndjson"
    dump.write_text("\n".join(json.dumps(p) for p in posts) + "\n{not json\n")
    body = f'[paths]\ndata_dir = "data"\n[[sources]]\nname = "d"\nkind = "reddit_dump"\npath = "{dump}"\n'
    cfg = load_config(write_config(tmp_path / "jm.toml", body + 'subreddits = ["Jokes"]\n'))
    report = scrape(cfg, cfg.data_dir(), progress=False)[0]  # every post is r/pun: all left out, one line bad
    assert (report.status, report.records, report.bad, report.stats["skipped_subreddit"]) == ("ok", 0, 1, len(posts))
    assert report.errors == []  # one bad line among 67 read: quarantined, not "most records lost"


def test_json_depth_scan_ignores_brackets_in_strings() -> None:
    import random

    from jokemine.scrapers.files import JsonDepth

    def reference(text: bytes) -> tuple[int, int]:
        depth = deepest = 0
        inside = escaped = False
        for c in text.decode():
            if inside:
                escaped, inside = (False, inside) if escaped else (c == "\\", c != '"')
            elif c == '"':
                inside = True
            elif c in "[{":
                depth += 1
                deepest = max(deepest, depth)
            elif c in "]}":
                depth -= 1
        return deepest, depth

    rng = random.Random(0)
    pieces = ["[", "]", "{", "}", '"', "\\", "a", ":-[", '\\"', "\\\\", "ы"]

    def value(d: int = 0) -> Any:
        r = rng.random()
        if d > 5 or r < 0.4:
            return "".join(rng.choice(pieces) for _ in range(rng.randint(0, 10)))
        if r < 0.7:
            return [value(d + 1) for _ in range(rng.randint(0, 4))]
        return {str(value(6)): value(d + 1) for _ in range(rng.randint(0, 3))}

    for _ in range(500):
        doc = json.dumps([value() for _ in range(rng.randint(0, 5))], ensure_ascii=rng.random() < 0.5).encode()
        scan, deepest, pos = JsonDepth(), 0, 0
        while pos < len(doc):  # any chunking gives the same answer
            step = rng.randint(1, 9)
            deepest = max(deepest, scan.feed(doc[pos : pos + step])[0])
            pos += step
        assert (deepest, scan.depth) == reference(doc), doc
    many = json.dumps([{"id": i, "text": ':-[ [[{ \\" ('} for i in range(20000)]).encode()
    assert JsonDepth().feed(many)[0] == 2  # unbalanced brackets in 20,000 texts do not add up


def test_csv_cut_inside_a_quoted_field_is_read_whole_once_completed(tmp_path: Path) -> None:
    full = 'ID,Joke\n1,"first joke"\n2,"second joke"\n3,"Why did the chicken\ncross the road?"\n4,"fourth"\n'
    path = tmp_path / "j.csv"
    path.write_text(full[: full.index("cross")])  # cut right after the newline inside row 3's quotes
    cfg = _table_config(tmp_path, path, 'columns = { id = "ID", text = "Joke" }')
    first = scrape(cfg, cfg.data_dir(), progress=False)[0]
    assert (first.status, first.records, first.bad) == ("partial", 2, 1)
    assert first.errors == [
        f"{path}: line 4: the last row ends inside a quoted field, so the file looks cut short; it is read again "
        "from that row when it changes"
    ]
    path.write_text(full)
    assert scrape(cfg, cfg.data_dir(), progress=False)[0].records == 2
    texts = [e["data"]["Joke"] for e in raw_envelopes(cfg.data_dir(), "t")]
    assert texts == ["first joke", "second joke", "Why did the chicken\ncross the road?", "fourth"]


def test_forked_child_leaving_the_lock_block_leaves_the_lock_alone(tmp_path: Path) -> None:
    """A process forked inside the block unwinds through it too: that must neither unlock nor fail."""
    from jokemine.lock import Busy, data_dir_lock

    data = tmp_path / "data"
    parent = os.getpid()
    try:
        with data_dir_lock(data, "clean"):
            child = os.fork()
            if child != 0:
                assert os.waitpid(child, 0)[1] == 0  # the child left the block without an error
                probe = os.fork()
                if probe == 0:
                    try:
                        with data_dir_lock(data, "refresh"):
                            os._exit(3)  # took the lock the parent still holds
                    except Busy:
                        os._exit(0)
                    os._exit(4)
                assert os.waitpid(probe, 0)[1] == 0
                assert json.loads((data / ".jokemine.lock").read_text())["what"] == "clean"
    except BaseException:
        if os.getpid() != parent:
            os._exit(5)
        raise
    if os.getpid() != parent:
        os._exit(0)


# --- 4. colliding ids are kept, counted and reported -----------------------------------------------------------
def _write_csv(path: Path, rows: list[tuple[str, str]]) -> None:
    with open(path, "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["ID", "Joke"])
        w.writerows(rows)


def test_colliding_table_ids_are_kept_counted_and_reported(real: Path, tmp_path: Path) -> None:
    texts = _cc_texts(real, 14)
    first = tmp_path / "part1.csv"
    _write_csv(first, [("1", t) for t in texts[:11]] + [("2", texts[11]), ("2", texts[11])])
    body = f"""
[paths]
data_dir = "data"
[[sources]]
name = "jokes"
kind = "table"
path = "{tmp_path}/part*.csv"
columns = {{ id = "ID", text = "Joke" }}
id_scope = "source"  # one id space for every file (the default for a glob is one per file)
lang = "en"
[clean]
min_chars = 1
[dedup]
near_duplicates = false
"""
    cfg = load_config(write_config(tmp_path / "jm.toml", body))
    data = cfg.data_dir()
    report = scrape(cfg, data, progress=False)[0]
    assert (report.status, report.records, report.stats["id_collisions"]) == ("ok", 13, 10)
    assert report.warnings == [
        f"{first}: 10 rows reuse an id already given to a different text (first: line 3, id '1'); each is kept as "
        "a record of its own with id '<id>~<hash of its text>' (README 'Ids of table rows')"
    ]
    envs = raw_envelopes(data, "jokes")
    by_text = {e["data"]["Joke"]: e for e in envs}
    assert by_text[texts[0]]["source_id"] == "1" and "note" not in by_text[texts[0]]
    for t in texts[1:11]:
        digest = hashlib.blake2b(t.encode() + b"\x1f", digest_size=8).hexdigest()
        assert by_text[t]["source_id"] == f"1~{digest}" and by_text[t]["note"] == "id_collision"
    stats = clean(cfg, data, progress=False).stats
    assert stats["per_source"]["jokes"]["id_collisions"] == 10
    assert stats["per_source"]["jokes"]["merged_same_id"] == 1  # id 2, the same text twice: one record
    df = clean_frame(data)
    assert sorted(df["text"]) == sorted(texts[:12]) and df["drop_reason"].isna().all()  # no text lost

    # a file added later that reuses id 1 collides too; a new id does not
    _write_csv(tmp_path / "part2.csv", [("1", texts[12]), ("3", texts[13])])
    report = scrape(cfg, data, progress=False)[0]
    assert (report.records, report.stats["id_collisions"]) == (2, 1)
    # the first file edited in place: id 2's new text is an update of that row, not a collision
    edited = texts[11] + " (edited)"
    _write_csv(first, [("1", t) for t in texts[:11]] + [("2", edited)])
    report = scrape(cfg, data, progress=False)[0]
    assert report.stats.get("id_collisions", 0) == 10  # the same ten rows as before, under the same ids
    clean(cfg, data, progress=False)
    df = clean_frame(data)
    assert df.loc["jokes:2", "text"] == edited and df.loc["jokes:3", "text"] == texts[13]
    assert sorted(df["text"]) == sorted([*texts[:11], edited, texts[12], texts[13]])


# --- 5. a read-only data dir: one line for writers, status still works, nothing changed ------------------------
def _snapshot(root: Path) -> dict[str, tuple[int, int, str]]:
    out = {}
    for p in sorted(root.rglob("*")):
        st = p.lstat()
        digest = hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() and not p.is_symlink() else ""
        out[str(p.relative_to(root))] = (st.st_mode, st.st_mtime_ns, digest)
    return out


def _read_only_runner(data: Path) -> Any:
    """A function running argv with ``data`` read-only: a private mount namespace with a read-only bind mount of
    it (root writes anywhere, but not to a read-only file system), else (not root) the files' write bits cleared."""
    if os.geteuid() != 0:
        for p in [data, *data.rglob("*")]:
            if not p.is_symlink():
                p.chmod(0o555 if p.is_dir() else 0o444)
        return lambda argv, **kw: subprocess.run(argv, **kw)
    probe = subprocess.run(
        ["unshare", "--mount", "sh", "-c", 'mount --bind -o ro "$0" "$0" && ! touch "$0/.probe"', str(data)],
        capture_output=True,
        text=True,
    )
    if probe.returncode != 0:
        msg = f"cannot make a read-only data dir as root here (unshare/mount: {probe.stderr.strip()[:200]})"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(msg)
        pytest.skip(msg)
    wrap = ["unshare", "--mount", "sh", "-c", 'mount --bind -o ro "$0" "$0" && shift && exec "$@"', str(data), "-"]
    return lambda argv, **kw: subprocess.run([*wrap, *argv], **kw)


def test_read_only_data_dir_every_command(real: Path, tmp_path: Path) -> None:
    config = write_config(
        tmp_path / "jm.toml",
        f"""
[paths]
data_dir = "data"
[[sources]]
name = "cc_en"
kind = "table"
path = "{real}/{CC_EN}"
delimiter = ";"
columns = {{ text = "text", score = "score" }}
score_kind = "mean_rating"
lang = "en"
[clean]
workers = 1
[publish]
allow_empty_splits = true
""",
    )
    cfg = load_config(config)
    data = cfg.data_dir()
    scrape(cfg, data, progress=False)
    clean(cfg, data, progress=False)
    publish(cfg, data, push=False)
    run_ro = _read_only_runner(data)
    before = _snapshot(data)

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        argv = [sys.executable, "-m", "jokemine", "--config", str(config), *args]
        return run_ro(argv, cwd=REPO, capture_output=True, text=True, timeout=600)  # type: ignore[no-any-return]

    for args in (["scrape"], ["clean"], ["publish", "--no-push"], ["refresh", "--no-push"]):
        r = run(*args)
        assert r.returncode == 2, (args, r.returncode, r.stderr[-2000:])
        line = _one_line_error(r.stderr)
        assert line.startswith(f"error: data dir {data} is not writable ("), line
        assert "Read-only file system" in line or "Permission denied" in line
    r = run("finetune", "--preset", "tiny", "--max-steps", "1")
    assert r.returncode == 2, r.stderr[-2000:]
    assert "cannot write the metrics and card there (" in _one_line_error(r.stderr)
    r = run("status")
    assert r.returncode == 0 and "raw: 1,000 records" in r.stdout and "releases: 1, latest " in r.stdout, r.stderr
    r = run("publish", "--dry-run")
    assert r.returncode == 0 and "would build release" in r.stdout, r.stderr[-2000:]
    r = run("schedule", "--print", "cron")
    assert r.returncode == 0 and " refresh" in r.stdout
    assert _snapshot(data) == before


# --- 6. files in the wrong shape or encoding -------------------------------------------------------------------
def _table_config(tmp_path: Path, path: Path, extra: str = "") -> Config:
    body = f"""
[paths]
data_dir = "data"
[[sources]]
name = "t"
kind = "table"
path = "{path}"
{extra}
"""
    return load_config(write_config(tmp_path / "jm.toml", body))


def test_json_object_instead_of_a_list_is_read_or_named(real: Path, tmp_path: Path) -> None:
    """A JSON object wrapping the record list is read from that list; one holding no list of records, or a file of
    strings mapped as objects, fails with one line saying what was expected."""
    texts = _cc_texts(real, 5)
    wrapped = tmp_path / "wrapped.json"
    wrapped.write_text(json.dumps({"source": "cc", "jokes": [{"text": t} for t in texts]}))
    cfg = _table_config(tmp_path, wrapped, 'columns = { text = "text" }')
    report = scrape(cfg, cfg.data_dir(), progress=False)[0]
    assert (report.status, report.records, report.bad) == ("ok", 5, 0)
    assert [e["data"]["text"] for e in raw_envelopes(cfg.data_dir(), "t")] == texts
    meta = tmp_path / "meta.json"
    meta.write_text(json.dumps({"source": "cc", "count": 5, "license": {"name": "CC BY"}}))
    _table_config(tmp_path, meta, 'columns = { text = "text" }')
    r = _cli(tmp_path / "jm.toml", "scrape")
    assert r.returncode == 1
    assert _one_line_error(r.stderr) == (
        f"error: t: {meta}: one object (keys 'source', 'count', 'license') in no shape of records jokemine knows; "
        'set `records_path` to the key of the record list, or `format = "jsonl"` for one object per line'
    )
    strings = tmp_path / "strings.jsonl"
    strings.write_text("\n".join(json.dumps(t) for t in texts) + "\n")
    cfg = _table_config(tmp_path, strings, 'columns = { text = "text" }')
    report = scrape(cfg, cfg.data_dir(), progress=False)[0]
    assert report.status == "failed" and report.records == 0  # never "ok"
    assert report.errors == [
        f"{strings}: line 1 is a jsonl string, not an object with the mapped keys ['text']: "
        "map `columns = { text = \".\" }` (or leave `columns` out) for source 't'"
    ]
    cfg = _table_config(tmp_path, strings, "")  # left out: each string is the joke
    report = scrape(cfg, cfg.data_dir(), progress=False)[0]
    assert (report.status, report.records) == ("ok", 5)


def test_utf16_csv_is_read_by_its_byte_order_mark(real: Path, tmp_path: Path) -> None:
    text = (real / CC_EN).read_text(encoding="utf-8")
    utf16 = tmp_path / "cc_utf16.csv"
    utf16.write_bytes(text.encode("utf-16"))  # with a BOM, as Excel's "Unicode text" saves it
    opts = 'delimiter = ";"\ncolumns = { text = "text", score = "score" }'
    cfg = _table_config(tmp_path, utf16, opts)
    report = scrape(cfg, cfg.data_dir(), progress=False)[0]
    assert (report.status, report.records, report.bad) == ("ok", 1000, 0)
    assert report.warnings == [f"{utf16}: read as utf-16: its byte order mark says so (`encoding` is 'utf-8')"]
    first = raw_envelopes(cfg.data_dir(), "t")[0]["data"]["text"]
    assert first == _cc_texts(real, 1)[0]
    no_bom = tmp_path / "cc_utf16le.csv"
    no_bom.write_bytes(text.encode("utf-16-le"))
    cfg = _table_config(tmp_path, no_bom, opts)
    report = scrape(cfg, cfg.data_dir(), progress=False)[0]
    assert report.errors == [
        f"{no_bom}: mostly NUL bytes, so probably UTF-16-LE without a byte order mark; "
        'set `encoding = "utf-16-le"` for this source'
    ]
    cfg = _table_config(tmp_path, no_bom, opts + '\nencoding = "utf-16-le"')
    assert scrape(cfg, cfg.data_dir(), progress=False)[0].records == 1000


# --- 7. the live API: malformed bodies and looping cursors ----------------------------------------------------
def _live_config(tmp_path: Path, srv: FakeReddit, **opts: Any) -> Config:
    options = {"listings": ["new"], "refresh_days": 0, "max_retries": 1, "backoff_s": 0.01, **opts}
    lines = "\n".join(f"{k} = {json.dumps(v)}" for k, v in options.items())
    body = f"""
[paths]
data_dir = "data"
[[sources]]
name = "live"
kind = "reddit_api"
user_agent = "test:jokemine:0.1 (by u/jokemine_dev)"
oauth_url = "{srv.url}"
reddit_url = "{srv.url}"
{lines}
"""
    return load_config(write_config(tmp_path / "jm.toml", body))


def test_malformed_listing_bodies_say_what_is_wrong(
    live_posts: list[dict[str, Any]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("praw_client_id", "test-client-id")
    monkeypatch.setenv("praw_client_secret", "test-client-secret")
    monkeypatch.setattr(time, "sleep", lambda s: None)
    with FakeReddit(live_posts[-50:]) as srv:
        srv.fault("GET", "/r/Jokes/new", status=200, body=b"<html><h1>Our CDN is busy</h1></html>", times=10)
        cfg = _live_config(tmp_path, srv)
        report = scrape(cfg, cfg.data_dir(), progress=False)[0]
        assert report.status == "failed"
        assert report.errors == [
            f"r/Jokes new: giving up on {srv.url}/r/Jokes/new after 2 attempts (a body that is not JSON (HTTP 200, "
            "application/json; charset=UTF-8, 37 bytes: '<html><h1>Our CDN is busy</h1></html>')); what was read "
            "before is kept"
        ]
        srv.faults.clear()
        srv.fault("GET", "/r/Jokes/new", status=200, body=b'{"kind": "Listing", "data": []}')
        report = scrape(cfg, cfg.data_dir(), progress=False)[0]
        assert report.errors == [
            f"r/Jokes new: {srv.url}/r/Jokes/new: the response is not a listing (kind 'Listing', keys ['data', 'kind'])"
        ]
        report = scrape(cfg, cfg.data_dir(), progress=False)[0]  # the fault is gone: the walk reads the posts
        assert (report.status, report.records) == ("ok", 50)


def test_looping_after_cursor_warns_and_stores_each_post_once(
    live_posts: list[dict[str, Any]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("praw_client_id", "test-client-id")
    monkeypatch.setenv("praw_client_secret", "test-client-secret")
    posts = live_posts
    newest_first = sorted(posts, key=lambda p: (p["created_utc"], p["id"]), reverse=True)
    after1, after2 = newest_first[99]["name"], newest_first[199]["name"]
    with FakeReddit(posts) as srv:
        srv.cursor_loop = (after2, after1)  # the third page points back at the second
        cfg = _live_config(tmp_path, srv)
        report = scrape(cfg, cfg.data_dir(), progress=False)[0]
        pages = len(srv.requests("/r/Jokes/new"))
        srv.cursor_loop = None  # fixed upstream: the next run walks the listing again (nothing new to store)
        again = scrape(cfg, cfg.data_dir(), progress=False)[0]
        assert (again.status, again.records, len(srv.requests("/r/Jokes/new"))) == ("unchanged", 0, 6)
    assert (report.status, report.records, pages, report.stats["cursor_loops"]) == ("ok", 250, 3, 1)
    assert report.warnings == [
        f"r/Jokes new: the listing's `after` cursor {after1!r} came back a second time (the listing loops); this "
        "walk stops here (posts already read are kept once; the next run walks it again)"
    ]
    ids = [e["source_id"] for e in raw_envelopes(cfg.data_dir(), "live")]
    assert len(ids) == len(set(ids)) == 250


# --- 8. a file that grew from what was read resumes where it stopped --------------------------------------------
def _dump_config(tmp_path: Path, path: Path) -> Config:
    body = f"""
[paths]
data_dir = "data"
[[sources]]
name = "dump"
kind = "reddit_dump"
path = "{path}"
"""
    return load_config(write_config(tmp_path / "jm.toml", body))


def test_truncated_dump_later_completed_is_stored_once(real: Path, tmp_path: Path) -> None:
    full = (real / KAMPTA / "r_cleanjokes_submissions.ndjson.zst").read_bytes()
    lines = zstandard.ZstdDecompressor(max_window_size=2**31).stream_reader(io.BytesIO(full)).read().splitlines()
    dump = tmp_path / "RS_cleanjokes.zst"
    dump.write_bytes(full[:100_000])  # the download was cut
    cfg = _dump_config(tmp_path, dump)
    first = scrape(cfg, cfg.data_dir(), progress=False)[0]
    assert first.status == "partial" and 500 < first.records < len(lines)
    dump.write_bytes(full)  # ... and completed later, in place
    second = scrape(cfg, cfg.data_dir(), progress=False)[0]
    assert second.status == "ok" and second.stats["files_resumed"] == 1
    assert first.records + second.records == len(lines)
    envs = raw_envelopes(cfg.data_dir(), "dump")
    assert [e["line"] for e in envs] == list(range(1, len(lines) + 1))  # raw holds each line once
    assert scrape(cfg, cfg.data_dir(), progress=False)[0].status == "unchanged"


def test_plain_dump_cut_mid_line_then_appended_is_stored_once(real: Path, tmp_path: Path) -> None:
    full = (real / KAMPTA / "r_pun_submissions.ndjson.zst").read_bytes()
    text = zstandard.ZstdDecompressor(max_window_size=2**31).stream_reader(io.BytesIO(full)).read()
    lines = text.splitlines(keepends=True)
    dump = tmp_path / "pun.ndjson"
    cut = len(b"".join(lines[:20])) + 40  # inside line 21
    dump.write_bytes(text[:cut])
    cfg = _dump_config(tmp_path, dump)
    first = scrape(cfg, cfg.data_dir(), progress=False)[0]
    assert (first.records, first.bad) == (20, 1)  # the cut line is quarantined, not stored
    dump.write_bytes(b"".join(lines[:40]))  # the rest of line 21 and more arrive
    second = scrape(cfg, cfg.data_dir(), progress=False)[0]
    assert (second.records, second.stats["files_resumed"]) == (20, 1)
    with open(dump, "ab") as fh:  # a complete dump appended to
        fh.write(b"".join(lines[40:]))
    third = scrape(cfg, cfg.data_dir(), progress=False)[0]
    assert third.records == len(lines) - 40
    envs = raw_envelopes(cfg.data_dir(), "dump")
    assert [e["line"] for e in envs] == list(range(1, len(lines) + 1))
    rewritten = b"".join(lines[::-1])  # the same file rewritten in another order: read again from the start
    dump.write_bytes(rewritten)
    assert scrape(cfg, cfg.data_dir(), progress=False)[0].records == len(lines)


# --- 9. more bad files: each one line, none read wrong ----------------------------------------------------------
def _bad_files(tmp: Path) -> dict[str, tuple[bytes, str]]:
    """name -> (content, the error it must give)."""
    import bz2
    import gzip
    import lzma
    import sqlite3
    import zipfile

    post = b'{"id": "abc", "title": "Why?", "selftext": "Because.", "score": 3}\n'
    book = io.BytesIO()
    with zipfile.ZipFile(book, "w") as z:
        z.writestr("xl/workbook.xml", "<workbook/>")
    db = tmp / "scratch.sqlite"
    sqlite3.connect(db).execute("CREATE TABLE t (x)").connection.commit()
    return {
        "deep.json": (b"[" * 5000 + b"]" * 5000, "JSON nested deeper than 1000 levels (near byte 1,000): not records"),
        "bomb.ndjson.gz": (
            gzip.compress(b"{" + b"x" * 3_000_000),
            "line 1 is longer than 1 MiB: not one record per line",
        ),
        "book.xlsx": (
            book.getvalue(),
            "is a ZIP archive (an .xlsx workbook is one: save the sheet as CSV, or unpack the archive), not a file of "
            "records",
        ),
        "db.sqlite": (db.read_bytes(), "is an SQLite database, not a file of records"),
        "cut.ndjson.bz2": (bz2.compress(post * 50)[:-20], "truncated bzip2 file"),  # one block: nothing before the cut
        "ok.ndjson.xz": (lzma.compress(post * 2), ""),
        "ok.ndjson.bz2": (bz2.compress(post * 2), ""),
    }


def test_bad_files_each_give_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from jokemine.scrapers import files

    monkeypatch.setattr(files, "MAX_LINE_BYTES", 1 << 20)  # the same check as at 64 MiB, on a smaller bomb
    bad = _bad_files(tmp_path)
    for name, (content, _) in bad.items():
        (tmp_path / name).write_bytes(content)
    paths = ", ".join(f'"{tmp_path / n}"' for n in bad)
    cfg = load_config(
        write_config(
            tmp_path / "jm.toml",
            f'[paths]\ndata_dir = "data"\n[[sources]]\nname = "d"\nkind = "reddit_dump"\npath = [{paths}]\n',
        )
    )
    report = scrape(cfg, cfg.data_dir(), progress=False)[0]
    expected = [f"{tmp_path / n}: {err}" for n, (_, err) in bad.items() if err]
    assert report.errors == expected
    envs = raw_envelopes(cfg.data_dir(), "d")
    stored = {(Path(e["origin"]).name, e["source_id"]) for e in envs}
    assert stored == {("ok.ndjson.xz", "abc"), ("ok.ndjson.bz2", "abc")}
    assert len(envs) == report.records == 4  # both lines of each readable stream, nothing of the bad ones


def test_malformed_token_answer_is_one_line(
    live_posts: list[dict[str, Any]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("praw_client_id", "test-client-id")
    monkeypatch.setenv("praw_client_secret", "test-client-secret")
    monkeypatch.setattr(time, "sleep", lambda s: None)
    with FakeReddit(live_posts[-20:]) as srv:
        srv.fault("POST", "/api/v1/access_token", status=200, body=b"[1, 2]", times=50)
        cfg = _live_config(tmp_path, srv)
        report = scrape(cfg, cfg.data_dir(), progress=False)[0]
        url = srv.url
    assert report.status == "failed" and len(report.errors) == 1
    assert report.errors[0].startswith(f"r/Jokes new: giving up on {url}/r/Jokes/new after 2 attempts (a malformed ")
