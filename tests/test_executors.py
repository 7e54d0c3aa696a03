"""Clean as file-linked stages on a pluggable executor (issue 17): the same output whatever the executor, the
workers and the partitions; a real Dask scheduler with workers on 127.0.0.1, one killed mid-stage; a driver
killed mid-stage resumes from the completion markers; clusters equal the in-memory near-duplicate search."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from jokemine.cleaning.stage import clean
from jokemine.config import Config, load_config
from jokemine.lock import data_dir_lock
from jokemine.pipeline import storage
from jokemine.pipeline.executor import LocalExecutor, TaskFailed, fix_mmap_threshold
from jokemine.publish.release import publish
from jokemine.scrapers.run import scrape
from tests.conftest import write_config

SOURCES = """
[[sources]]
name = "cleanjokes"
kind = "reddit_dump"
path = "{real}/kampta-reddit-jokes/r_cleanjokes_submissions.ndjson.zst"
[[sources]]
name = "cc_en"
kind = "table"
path = "{real}/cleancomedy/clean_comedy_gold_en.csv"
delimiter = ";"
columns = {{ text = "text", score = "score" }}
score_kind = "mean_rating"
[[sources]]
name = "lightbulbs"
kind = "table"
path = "{real}/bfinan-qa-jokes/lightbulbs.csv"
columns = {{ question = "Question", answer = "Answer" }}
"""


def _config(folder: Path, real: Path, data: Path, extra: str = "") -> Config:
    body = f"""
[paths]
data_dir = "{data}"
[scrape]
part_records = 600
{SOURCES.format(real=real)}
[clean]
author_salt = "parity"
{extra}
"""
    folder.mkdir(parents=True, exist_ok=True)
    return load_config(write_config(folder / "jm.toml", body))


@pytest.fixture(scope="module")
def scraped(real: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data dir with the three sources scraped (5,072 records in 10 raw parts), not cleaned."""
    base = tmp_path_factory.mktemp("exec")
    data = base / "data"
    scrape(_config(base, real, data), data, progress=False)
    return data


def _copy(scraped: Path, tmp_path: Path, name: str) -> Path:
    dest = tmp_path / name
    shutil.copytree(scraped, dest)
    return dest


def _table(run: Path) -> pa.Table:
    return pa.concat_tables([pq.read_table(p) for p in sorted(run.glob("part-*.parquet"))])


@pytest.fixture(scope="module")
def reference(scraped: Path, real: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[pa.Table, dict]:
    """The clean output on one local worker with 4 partitions, and its stats.json."""
    base = tmp_path_factory.mktemp("ref")
    data = _copy(scraped, base, "data")
    cfg = _config(base, real, data, "partitions = 4\n[executor]\nworkers = 1")
    report = clean(cfg, data, progress=False)
    stats = json.loads((report.path / "stats.json").read_text())
    stats["release_files"] = _release_files(publish(cfg, data, push=False).path)
    return _table(report.path), stats


def _release_files(release: Path) -> list[tuple[str, int, str]]:
    manifest = json.loads((release / "MANIFEST.json").read_text())
    return sorted((f["path"], f["rows"], f["sha256"]) for f in manifest["files"])


def test_reference_run_is_not_trivial(reference: tuple[pa.Table, dict]) -> None:
    table, stats = reference
    assert table.num_rows == stats["totals"]["rows"] > 4000
    reasons = stats["drop_reasons"]
    assert reasons["exact_duplicate"] > 50 and reasons["near_duplicate"] > 20
    assert stats["partitions"] == 4 and stats["executor"] == "local (1 workers)"
    assert stats["stages"]["verify-1"]["tasks"] == 4 and stats["stages"]["parse"]["tasks"] == 10


@pytest.mark.parametrize(
    ("name", "extra"),
    [
        ("local-2-workers-7-partitions", 'partitions = 7\n[executor]\nworkers = 2\nstart_method = "forkserver"'),
        ("dask-local-cluster-2-workers-5-partitions", 'partitions = 5\n[executor]\nkind = "dask"\nworkers = 2'),
    ],
)
def test_same_output_whatever_the_executor_workers_and_partitions(
    name: str, extra: str, scraped: Path, real: Path, tmp_path: Path, reference: tuple[pa.Table, dict]
) -> None:
    data = _copy(scraped, tmp_path, "data")
    report = clean(_config(tmp_path, real, data, extra), data, progress=False)
    out = _table(report.path)
    ref = reference[0]
    assert out.column_names == ref.column_names
    for col in ref.column_names:  # every column (the output has no timings)
        assert out.column(col).equals(ref.column(col)), col
    stats = json.loads((report.path / "stats.json").read_text())
    assert stats["executor"].startswith(name.split("-")[0])
    assert stats["dedup"] == reference[1]["dedup"]
    # publish writes its data files on the same executor: byte-identical files
    files = _release_files(publish(_config(tmp_path, real, data, extra), data, push=False).path)
    assert files == reference[1]["release_files"] and len(files) >= 10


def _spawn(args: list[str], env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        args,
        env={**os.environ, **(env or {})},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )


def _wait_for(pred, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def _markers(data: Path, stage: str) -> int:
    return sum(len(list(w.glob(f"completions/{stage}/*.pkl"))) for w in (data / "clean").glob(".work-*"))


def test_real_dask_scheduler_and_workers_one_killed_mid_stage(
    scraped: Path, real: Path, tmp_path: Path, reference: tuple[pa.Table, dict]
) -> None:
    sched_file = tmp_path / "scheduler.json"
    procs = [
        _spawn([sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1", "--port", "0",
                "--no-dashboard", "--scheduler-file", str(sched_file)])
    ]  # fmt: skip
    try:
        _wait_for(sched_file.exists, 60, "the scheduler file")
        address = json.loads(sched_file.read_text())["address"]
        assert address.startswith("tcp://127.0.0.1:")
        for _ in range(2):  # every sign task takes 1 s, so both workers are busy when one is killed
            procs.append(
                _spawn([sys.executable, "-m", "distributed.cli.dask_worker", address, "--nthreads", "1", "--no-nanny",
                        "--host", "127.0.0.1", "--no-dashboard"], env={"JOKEMINE_PAUSE_AT": "task.sign.*:1"})
            )  # fmt: skip
        data = _copy(scraped, tmp_path, "data")
        config = _config(tmp_path, real, data, "partitions = 4").config_path
        driver = subprocess.Popen(
            [sys.executable, "-m", "jokemine", "--config", str(config), "clean", "--scheduler", address],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        _wait_for(lambda: _markers(data, "cohorts") == 4 or driver.poll() is not None, 120, "the sign stage")
        time.sleep(1.0)  # both workers are now inside a sign task
        victim = procs[1]
        os.kill(victim.pid, signal.SIGKILL)
        out, err = driver.communicate(timeout=300)
        assert driver.returncode == 0, err[-2000:]
        assert out.startswith(f"executor: dask ({address}, 2 workers")
        run = (data / "clean" / "latest").resolve()
        table, stats = _table(run), json.loads((run / "stats.json").read_text())
        for col in reference[0].column_names:
            assert table.column(col).equals(reference[0].column(col)), col
        assert stats["stages"]["sign"]["tasks"] == 10
        assert victim.wait(5) == -signal.SIGKILL
    finally:
        for p in procs:
            p.kill()
            p.wait(10)


def test_driver_killed_mid_stage_resumes_only_unfinished_tasks(
    scraped: Path, real: Path, tmp_path: Path, reference: tuple[pa.Table, dict]
) -> None:
    data = _copy(scraped, tmp_path, "data")
    cfg = _config(tmp_path, real, data, "partitions = 4\n[executor]\nworkers = 2")
    first = clean(cfg, data, progress=False)
    latest_before = os.readlink(data / "clean" / "latest")
    driver = subprocess.Popen(
        [sys.executable, "-m", "jokemine", "--config", str(cfg.config_path), "clean"],
        env={**os.environ, "JOKEMINE_PAUSE_AT": "task.resolve.00002:120"},  # one task of a stage holds on
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    _wait_for(lambda: _markers(data, "resolve") == 3 or driver.poll() is not None, 180, "3 of 4 resolve tasks")
    workers = psutil.Process(driver.pid).children(recursive=True)
    assert driver.poll() is None and len(workers) >= 2
    os.kill(driver.pid, signal.SIGKILL)  # the OOM killer, mid-stage
    driver.wait(10)
    _, alive = psutil.wait_procs(workers, timeout=5)
    assert not alive, [p.cmdline() for p in alive]
    with data_dir_lock(data, "test"):  # nobody holds the lock (Busy otherwise)
        pass
    assert os.readlink(data / "clean" / "latest") == latest_before
    assert _markers(data, "resolve") == 3 and _markers(data, "pass2") == 0
    again = clean(cfg, data, progress=False)
    stages = json.loads((again.path / "stats.json").read_text())["stages"]
    # the first clean built the near-duplicate index: these cleans search incrementally (delta, touch, round 2)
    for name in ("parse", "ids", "cohorts", "sign", "links", "delta", "touch", "verify-2", "components", "assign"):
        assert stages[name]["resumed"] == stages[name]["tasks"], name
    assert (stages["resolve"]["tasks"], stages["resolve"]["resumed"]) == (4, 3)
    assert stages["pass2"]["resumed"] == 0
    assert _table(again.path).equals(_table(first.path))
    for col in reference[0].column_names:
        assert _table(again.path).column(col).equals(reference[0].column(col)), col


@pytest.mark.parametrize("start_method", ["forkserver", "spawn"])
def test_failing_task_is_one_line_and_markers_mean_finished(start_method: str, tmp_path: Path) -> None:
    comp = str(tmp_path / "completions")
    with LocalExecutor(2, start_method=start_method) as ex:
        assert ex.map(_square, [1, 2, 3], stage="sq", completions=comp) == [1, 4, 9]
        assert sorted(p.name for p in (tmp_path / "completions" / "sq").iterdir()) == [
            "00000.pkl",
            "00001.pkl",
            "00002.pkl",
        ]
        (tmp_path / "completions" / "sq" / "00001.pkl").unlink()
        (tmp_path / "completions" / "sq" / "00002.pkl").write_bytes(b"cut")  # a torn marker is not a finished task
        assert ex.map(_square, [1, 2, 3], stage="sq", completions=comp) == [1, 4, 9]
        assert (ex.stages["sq"].tasks, ex.stages["sq"].resumed) == (3, 1)
        with pytest.raises(TaskFailed, match=r"^boom: task 1 failed: ValueError: no 3$"):
            ex.map(_fail_on_3, [1, 3, 5], stage="boom", completions=comp)
    assert storage.exists(str(tmp_path / "completions" / "boom" / "00000.pkl"))
    assert not storage.exists(str(tmp_path / "completions" / "boom" / "00001.pkl"))


def _square(x: int) -> int:
    return x * x


def _fail_on_3(x: int) -> int:
    if x == 3:
        raise ValueError("no 3")
    return x


def _mmap_probe(_: int) -> tuple[int, bool]:
    """In a worker: whether the task's wrapper has already fixed the mmap threshold, and that mallopt took it."""
    was_set = fix_mmap_threshold.cache_info().currsize
    return was_set, fix_mmap_threshold()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt is Linux-only")
def test_workers_fix_the_mmap_threshold() -> None:
    """Every pool worker sets glibc's mmap threshold before its task runs (large temporaries are then unmapped when
    freed; see fix_mmap_threshold), and glibc accepts the value."""
    fix_mmap_threshold.cache_clear()  # forked workers must not inherit the driver's "already set"
    with LocalExecutor(workers=2) as ex:
        assert ex.map(_mmap_probe, [0, 1, 2], stage="probe") == [(1, True)] * 3


def test_no_task_keeps_its_records_alive(scraped: Path, real: Path, tmp_path: Path) -> None:
    """After a clean in a fresh process (tasks in-process), no parsed record is still reachable: a library that keeps
    an import-time traceback must never pin the frame of the task that first imported it (requests_cache does;
    the source kinds are imported when jokemine.cleaning.stage is, not inside the first parse task)."""
    data = _copy(scraped, tmp_path, "data")
    _config(tmp_path, real, data, "[executor]\nworkers = 1")
    code = (
        "import gc, sys\nfrom pathlib import Path\nfrom jokemine.cleaning.stage import clean\n"
        "from jokemine.config import load_config\n"
        "clean(load_config(sys.argv[1]), Path(sys.argv[2]), progress=False)\ngc.collect()\n"
        "keys = {'id', 'source_id', 'text', 'punchline'}  # a record (a pydantic model's fields are no record)\n"
        "print(sum(isinstance(o, dict) and keys <= o.keys() for o in gc.get_objects()))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "jm.toml"), str(data)],
        capture_output=True, text=True, timeout=300, check=True,
    )  # fmt: skip
    assert out.stdout.strip() == "0"
