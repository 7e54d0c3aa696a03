"""The command line and the Makefile: one-line errors, exit codes, nothing written on user errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO, write_config


def _jm(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "jokemine", *args], cwd=cwd, capture_output=True, text=True, timeout=600
    )


def _make(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["make", "--no-print-directory", *args, f"PY={sys.executable}"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_a_config_without_sources_says_what_to_configure_and_writes_nothing(tmp_path: Path) -> None:
    cfg = write_config(tmp_path / "empty.toml", '[paths]\ndata_dir = "data"\n')
    out = tmp_path / "data"
    r = _make("scrape", f"CONFIG={cfg}", f"DATA_DIR={out}")
    assert r.returncode != 0
    errors = [line for line in r.stderr.splitlines() if line.startswith("error:")]
    assert errors == [
        f"error: no sources to scrape in {cfg}: add a [[sources]] entry (a "
        "Reddit dump or a table; see README 'Use your own dumps'), or run with "
        "CONFIG=configs/real-offline.toml"
    ]
    assert "Traceback" not in r.stderr
    assert not out.exists()


def test_the_default_config_offline_fails_each_source_with_one_line(tmp_path: Path) -> None:
    """configs/default.toml needs no credentials and no local files; offline, each source fails with one line and
    is reported stale, and nothing else breaks. (The copy points anekdot.ru and the Hub at a closed loopback port:
    no test sends traffic beyond 127.0.0.1.)"""
    import os
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{sock.getsockname()[1]}"
    text = (REPO / "configs" / "default.toml").read_text()
    assert text.count('kind = "anekdot_ru"') == 1
    cfg = write_config(
        tmp_path / "default.toml", text.replace('kind = "anekdot_ru"', f'kind = "anekdot_ru"\nbase_url = "{dead}"')
    )
    env = {k: v for k, v in os.environ.items() if not k.lower().startswith("praw_")}
    env.update(HF_ENDPOINT=dead, HF_HOME=str(tmp_path / "hf"), HF_HUB_OFFLINE="0", HF_DATASETS_OFFLINE="0")
    data = tmp_path / "data"
    r = subprocess.run(
        [sys.executable, "-m", "jokemine", "--config", str(cfg), "--data-dir", str(data), "refresh"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert "Traceback" not in r.stderr, r.stderr[-3000:]
    assert r.returncode == 1, (r.stdout, r.stderr[-3000:])  # every source failed and there is no data yet
    errors = [ln for ln in r.stderr.splitlines() if ln.startswith("ERROR: ")]
    by_source = {ln.split(":")[1].strip() for ln in errors}
    assert {"anekdot_ru", "reddit_jokes_1m", "short_jokes"} <= by_source, errors
    assert "reddit_live" not in by_source  # no credentials: skipped, not failed
    assert "stale since never" in r.stdout and r.stdout.count("stale since never") == 3
    assert "  reddit_live          skipped" in r.stdout and "  clean: skipped; publish: skipped" in r.stdout
    assert "error: JokemineError: every source failed and there is no data yet: anekdot_ru: cannot reach " in r.stdout
    assert (
        "reddit_jokes_1m: hf://datasets/SocialGrep/one-million-reddit-jokes (split 'train'): cannot read the "
        in r.stdout
    )
    assert not (data / "releases").exists()


def test_bad_config_is_one_line_exit_2(tmp_path: Path) -> None:
    cfg = write_config(tmp_path / "c.toml", '[clean]\nmin_chars = "ten"\n')
    r = _jm("--config", str(cfg), "clean")
    assert r.returncode == 2
    assert (
        r.stderr.strip() == f"error: {cfg}: clean.min_chars: Input should be a valid integer, unable to parse "
        "string as an integer"
    )
    r = _jm("--config", str(tmp_path / "missing.toml"), "status")
    assert (r.returncode, r.stderr.strip()) == (
        2,
        f"error: {tmp_path / 'missing.toml'}: config file not found",
    )
    r = _jm("--config", str(cfg), "--data-dir", str(tmp_path), "scrape", "--source", "nope")
    assert r.returncode == 2 and "Traceback" not in r.stderr


def test_stages_without_input_say_what_to_run(tmp_path: Path) -> None:
    cfg = write_config(tmp_path / "c.toml", "")
    r = _jm("--config", str(cfg), "--data-dir", str(tmp_path / "d"), "clean")
    assert (r.returncode, r.stderr.strip()) == (
        2,
        f"error: nothing to clean in {tmp_path / 'd'}: no raw data yet; run `jokemine scrape` first",
    )
    r = _jm("--config", str(cfg), "--data-dir", str(tmp_path / "d"), "publish")
    assert r.returncode == 2 and "no clean data yet; run `jokemine clean` first" in r.stderr
    r = _jm("--config", str(cfg), "--data-dir", str(tmp_path / "d"), "status")
    assert r.returncode == 0 and "raw: nothing scraped yet" in r.stdout
    assert not (tmp_path / "d").exists()


def test_missing_file_fails_its_source_only(real: Path, tmp_path: Path) -> None:
    cfg = write_config(
        tmp_path / "c.toml",
        f"""
[paths]
data_dir = "d"
[[sources]]
name = "gone"
kind = "reddit_dump"
path = "{tmp_path}/nope.ndjson.zst"
[[sources]]
name = "pun"
kind = "reddit_dump"
path = "{real}/kampta-reddit-jokes/r_pun_submissions.ndjson.zst"
""",
    )
    r = _jm("--config", str(cfg), "scrape")
    assert r.returncode == 1
    assert f"error: gone: {tmp_path}/nope.ndjson.zst: no such file (check the source's 'path')" in r.stderr
    assert "pun: ok: 67 records stored in 1 parts" in r.stdout
    r = _jm("--config", str(cfg), "status")
    assert "  pun: 67 records in 1 parts from 1 runs" in r.stdout


def test_make_pipeline_stops_on_truncated_dump_and_writes_no_release(real: Path, tmp_path: Path) -> None:
    cut = tmp_path / "cut.zst"
    cut.write_bytes((real / "kampta-reddit-jokes" / "r_cleanjokes_submissions.ndjson.zst").read_bytes()[:50_000])
    cfg = write_config(
        tmp_path / "c.toml",
        f"""
[[sources]]
name = "cut"
kind = "reddit_dump"
path = "{cut}"
""",
    )
    out = tmp_path / "d"
    r = _make("scrape", "clean", "publish", f"CONFIG={cfg}", f"DATA_DIR={out}")
    assert r.returncode != 0
    assert (
        f"error: cut: {cut}: truncated zstd file (the last frame is incomplete); kept the complete lines "
        "before the cut" in r.stderr
    )
    assert "cut: partial:" in r.stdout
    assert not (out / "clean").exists() and not (out / "releases").exists()
    quarantine = list((out / "raw" / "cut").glob("*/quarantine.jsonl"))
    assert len(quarantine) == 1 and "incomplete last line" in quarantine[0].read_text()


def test_help_keeps_config_section_names_and_offers_version_and_completion() -> None:
    """Typer's rich markup used to eat "[clean]"-style section names from help texts."""
    r = _jm("clean", "--help")
    assert r.returncode == 0 and "[executor] workers" in " ".join(r.stdout.split())
    top = _jm("--help")
    assert "--version" in top.stdout and "--show-completion" in top.stdout
    v = _jm("--version")
    from jokemine import __version__

    assert (v.returncode, v.stdout) == (0, f"jokemine {__version__}\n")


def test_fixed_choices_are_checked_by_the_parser(tmp_path: Path) -> None:
    for args, option in (
        (["schedule", "--print", "anacron"], "--print"),
        (["finetune", "--preset", "huge"], "--preset"),
        (["finetune", "--device", "tpu"], "--device"),
        (["finetune", "--loss-on", "setup"], "--loss-on"),
        (["finetune", "--config-name", "jokes"], "--config-name"),
        (["finetune", "--report-to", "mlflow"], "--report-to"),
    ):
        r = _jm(*args, cwd=tmp_path)
        assert r.returncode == 2 and option in r.stderr and "is not one of" in r.stderr, (args, r.stderr)


def test_finetune_release_errors_are_user_errors(tmp_path: Path) -> None:
    cfg = write_config(tmp_path / "jm.toml", '[paths]\ndata_dir = "data"\n')
    r = _jm("--config", str(cfg), "finetune", "--release", str(tmp_path / "missing"))
    assert r.returncode == 2 and r.stderr.strip() == (
        f"error: --release {tmp_path / 'missing'}: not a jokemine release folder (no MANIFEST.json)"
    )
    r = _jm("--config", str(cfg), "finetune", "--release", "hf://datasets/me/jokes")
    assert r.returncode == 2 and "remote releases are not supported" in r.stderr and "hf:/datasets" not in r.stderr


def test_schedule_github_refuses_a_config_outside_the_checkout(tmp_path: Path) -> None:
    cfg = write_config(tmp_path / "jm.toml", '[paths]\ndata_dir = "data"\n')
    r = _jm("--config", str(cfg), "schedule", "--print", "github")
    assert r.returncode == 2 and "outside the checkout" in r.stderr and str(cfg) in r.stderr
    ok = _jm("--config", "configs/real-offline.toml", "schedule", "--print", "github")
    assert ok.returncode == 0 and "--config configs/real-offline.toml" in ok.stdout
