"""anekdot.ru and spec-defined sites: the parser on the real saved page, and the polite, resumable crawler
against a loopback server that serves that page, with injected faults."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from jokemine.cleaning.pii import scrub_pii
from jokemine.cleaning.stage import clean
from jokemine.config import Config, HtmlSpecSource, load_config
from jokemine.publish.release import publish
from jokemine.scrapers import anekdot_ru, html_spec
from jokemine.scrapers.crawl import page_body
from jokemine.scrapers.http import decode_html
from jokemine.scrapers.run import scrape
from jokemine.state import Layout, State
from tests.conftest import REPO, clean_frame, raw_envelopes, write_config
from tests.site_server import FakeSite

PAGE = "html-anekdot-ru/anekdot_ru_tags_ukraine_2022-10-07.html"
TAG = "/tags/Украина"
README = (REPO / "README.md").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def page(real: Path) -> bytes:
    return (real / PAGE).read_bytes()


@pytest.fixture
def site(page: bytes):
    with FakeSite(page) as s:
        yield s


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    calls: list[float] = []
    monkeypatch.setattr(time, "sleep", lambda s: calls.append(float(s)))
    return calls


def _config(
    tmp_path: Path,
    site: FakeSite,
    source: str = "",
    http: str = "",
    window: tuple[str, str] = ("2022-10-05", "2022-10-07"),
) -> Config:
    settings = {
        "contact": '"jokemine-tests@example.org"',
        "min_interval_s": "0",
        "retries": "2",
        "backoff_s": "0.01",
        "read_timeout_s": "1.0",
    }
    for line in http.splitlines():
        if "=" in line:
            key, value = (x.strip() for x in line.split("=", 1))
            settings[key] = value
    http_lines = "\n".join(f"{k} = {v}" for k, v in settings.items())
    body = f"""
[paths]
data_dir = "data"
[http]
{http_lines}
[[sources]]
name = "anekdot"
kind = "anekdot_ru"
base_url = "{site.url}"
start = "{window[0]}"
end = "{window[1]}"
{source}
[clean]
workers = 1
[publish]
allow_empty_splits = true  # one saved page: too few jokes for every split
"""
    return load_config(write_config(tmp_path / "jm.toml", body))


def _pages(data: Path, source: str = "anekdot") -> list[dict[str, Any]]:
    return raw_envelopes(data, source)


def _clean(data: Path) -> Any:
    return clean_frame(data)


def test_real_page_parses_44_rated_jokes(page: bytes) -> None:
    html, enc = decode_html(page, "text/html; charset=utf-8")
    jokes, counts = anekdot_ru.parse_page(html, "https://www.anekdot.ru" + TAG, "tag", {})
    assert enc == "utf-8" and len(jokes) == 44 and len({j["id"] for j in jokes}) == 44
    assert counts == {"jokes": 44, "deleted": 6, "ads": 2, "heading": 1}
    for j in jokes:
        assert j["rating"] == j["plus"] - j["minus"] and j["total"] == j["plus"] + j["minus"]
        assert re.search("[А-Яа-яЁё]", j["text"]) and "Ð" not in j["text"] and "текст удалён" not in j["text"]
    first = jokes[0]
    assert first["id"] == "1351292" and (first["rating"], first["total"], first["plus"], first["minus"]) == (
        137,
        533,
        335,
        198,
    )
    assert first["text"] == "- А генерал Мороз тоже будет мобилизован?\n- Он уже записался добровольцем."
    assert first["url"] == "https://www.anekdot.ru/id/1351292/"
    assert first["author"] == "https://gb.anekdot.ru/profile/?id=41208"
    assert sum("\n" in j["text"] for j in jokes) >= 10  # <br> line breaks kept


def test_crawl_days_and_tags_then_clean_and_publish(tmp_path: Path, site: FakeSite, sleeps: list[float]) -> None:
    cfg = _config(tmp_path, site, 'tags = ["Украина"]\nmax_pages = 2')
    data = cfg.data_dir()
    report = scrape(cfg, data, progress=False)[0]
    assert report.status == "ok" and report.stats["pages"] == 5
    assert site.paths() == [
        "/robots.txt",
        "/release/anekdot/day/2022-10-05/",
        "/release/anekdot/day/2022-10-06/",
        "/release/anekdot/day/2022-10-07/",
        TAG,
        TAG + "/2",
    ]
    assert all(r["ua"].startswith("jokemine/") and "jokemine-tests@example.org" in r["ua"] for r in site.log)
    pages = _pages(data)
    assert [p["data"]["kind"] for p in pages] == ["day", "day", "day", "tag", "tag"]
    assert page_body(pages[0]["data"]) == site.page  # the bytes exactly as served
    clean(cfg, data, progress=False)
    df = _clean(data)
    assert len(df) == 44  # one record per joke id, however many pages showed it
    assert (df.lang == "ru").all() and (df.score_kind == "net_votes").all()
    assert (df.score == df.votes_up - df.votes_down).all()
    row = df.loc["anekdot:1351292"]
    assert (row.score, row.votes_up, row.votes_down) == (137, 335, 198)
    assert str(row.created_at.date()) == "2022-10-05"  # the earliest day page that showed it
    assert row.author_hash and "profile" not in row.author_hash
    publish(cfg, data, version="1")
    jokes = pq.ParquetDataset(sorted((data / "releases" / "1" / "jokes").glob("*.parquet"))).read().to_pandas()
    assert len(jokes) == 44 and set(jokes.lang) == {"ru"} and set(jokes.score_kind) == {"net_votes"}


def test_robots_disallow_is_obeyed(tmp_path: Path, site: FakeSite, sleeps: list[float]) -> None:
    site.robots = "User-agent: *\nDisallow: /release/story/\nCrawl-delay: 2\n"
    cfg = _config(tmp_path, site, 'categories = ["anekdot", "story"]')
    report = scrape(cfg, cfg.data_dir(), progress=False)[0]
    assert report.stats["robots_disallowed"] == 3 and report.status == "ok"
    assert not [p for p in site.paths() if p.startswith("/release/story/")]
    assert sleeps and max(sleeps) <= 2.0 and min(sleeps) > 1.0  # Crawl-delay between requests
    with State(Layout(cfg.data_dir()).state_path) as st:
        assert st.frontier("anekdot").counts() == {"done": 3, "skipped": 3}


def test_500_then_200_and_429_with_retry_after(tmp_path: Path, site: FakeSite, sleeps: list[float]) -> None:
    site.fault("/release/anekdot/day/2022-10-05/", status=500)
    site.fault("/release/anekdot/day/2022-10-06/", status=429, headers={"Retry-After": "3"})
    cfg = _config(tmp_path, site)
    report = scrape(cfg, cfg.data_dir(), progress=False)[0]
    assert (report.status, report.stats["pages"]) == ("ok", 3)
    statuses = [(r["path"].split("/")[-2], r["status"]) for r in site.log if r["path"].startswith("/release")]
    assert statuses == [
        ("2022-10-05", 500),
        ("2022-10-05", 200),
        ("2022-10-06", 429),
        ("2022-10-06", 200),
        ("2022-10-07", 200),
    ]
    assert 3.0 in sleeps


def test_slow_response_times_out_and_is_retried(tmp_path: Path, site: FakeSite, sleeps: list[float]) -> None:
    site.fault("/release/anekdot/day/2022-10-06/", delay=3.0)  # read timeout is 1 s
    cfg = _config(tmp_path, site)
    report = scrape(cfg, cfg.data_dir(), progress=False)[0]
    assert (report.status, report.stats["pages"]) == ("ok", 3)
    assert site.arrivals.count("/release/anekdot/day/2022-10-06/") == 2


def test_truncated_page_is_retried_then_given_up_for_the_run(
    tmp_path: Path, site: FakeSite, sleeps: list[float]
) -> None:
    site.fault("/release/anekdot/day/2022-10-05/", truncate=True)
    site.fault("/release/anekdot/day/2022-10-06/", truncate=True, times=10)
    cfg = _config(tmp_path, site, "refetch_days = 0")
    report = scrape(cfg, cfg.data_dir(), progress=False)[0]
    assert report.status == "partial" and report.stats["pages"] == 2
    assert "2022-10-06/: connection broken while reading: " in report.errors[0]
    assert [page_body(p["data"]) for p in _pages(cfg.data_dir())] == [site.page, site.page]  # no cut page stored
    site.faults.clear()
    site.log.clear()
    report = scrape(cfg, cfg.data_dir(), progress=False)[0]  # the next run retries the failed day only
    assert report.stats["pages"] == 1 and site.paths() == ["/release/anekdot/day/2022-10-06/"]  # robots cached


def test_windows_1251_page_decodes_to_the_same_jokes(
    tmp_path: Path, site: FakeSite, page: bytes, sleeps: list[float]
) -> None:
    for day in ("05", "06", "07"):
        site.encodings[f"/release/anekdot/day/2022-10-{day}/"] = "windows-1251"
    cfg = _config(tmp_path, site)
    scrape(cfg, cfg.data_dir(), progress=False)
    assert _pages(cfg.data_dir())[0]["data"]["headers"]["content-type"] == "text/html; charset=windows-1251"
    report = clean(cfg, cfg.data_dir(), progress=False)
    assert report.stats["per_source"]["anekdot"]["parse"]["encoding:windows-1251"] == 3
    utf8, _ = anekdot_ru.parse_page(page.decode("utf-8"), "x", "day", {})
    df = _clean(cfg.data_dir())
    for j in utf8:
        expected = j["text"].encode("windows-1251", "replace").decode("windows-1251")
        expected = scrub_pii(expected, "ru")[0]  # clean replaces links ("Пруфы - https://...") with [url]
        assert df.loc[f"anekdot:{j['id']}", "text"].replace("\n", " ") == " ".join(expected.split()) or (
            df.loc[f"anekdot:{j['id']}", "text"].split() == expected.split()
        )


def test_missing_day_404_and_redirect_loop(tmp_path: Path, site: FakeSite, sleeps: list[float]) -> None:
    site.missing.add("/release/anekdot/day/2022-10-05/")
    site.loops.add("/release/anekdot/day/2022-10-06/")
    cfg = _config(tmp_path, site)
    report = scrape(cfg, cfg.data_dir(), progress=False)[0]
    assert report.stats["pages"] == 1 and report.stats["not_found"] == 1
    assert report.status == "partial" and len(report.errors) == 1
    assert "2022-10-06/: redirect loop (more than 10 redirects)" in report.errors[0]
    from jokemine.status import status_lines

    assert "  anekdot frontier: done 2, gave_up 1" in status_lines(cfg, cfg.data_dir())
    with State(Layout(cfg.data_dir()).state_path) as st:
        fr = st.frontier("anekdot")
        assert fr.get(f"{site.url}/release/anekdot/day/2022-10-05/").http_status == 404  # type: ignore[union-attr]
        assert fr.counts() == {"done": 2, "gave_up": 1}


def test_full_story_comes_from_its_id_page(tmp_path: Path, site: FakeSite, page: bytes, sleeps: list[float]) -> None:
    html = page.decode("utf-8")
    full = anekdot_ru.parse_page(html, "x", "tag", {})[0][1]
    cut = full["text"][:40]
    listing = html.replace(full["text"], cut + ' <a href="/id/' + full["id"] + '/">читать дальше</a>', 1)
    site.pages[TAG] = listing.encode("utf-8")
    cfg = _config(tmp_path, site, 'categories = []\ntags = ["Украина"]\nmax_pages = 1')
    scrape(cfg, cfg.data_dir(), progress=False)
    assert site.paths() == ["/robots.txt", TAG, f"/id/{full['id']}/"]
    clean(cfg, cfg.data_dir(), progress=False)
    df = _clean(cfg.data_dir())
    assert len(df) == 44 and df.loc[f"anekdot:{full['id']}", "text"] == full["text"]


def test_killed_mid_crawl_resumes_with_only_the_remaining_urls(tmp_path: Path, site: FakeSite) -> None:
    cfg = _config(tmp_path, site, window=("2022-10-01", "2022-10-10"))
    data = cfg.data_dir()
    site.fault("/release/anekdot/day/2022-10-05/", delay=30)
    proc = subprocess.Popen(
        [sys.executable, "-m", "jokemine", "--config", str(cfg.config_path), "scrape"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ},
    )
    assert site.holding.wait(60)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert [p["data"]["meta"]["date"] for p in _pages(data)] == ["2022-10-01", "2022-10-02", "2022-10-03", "2022-10-04"]
    site.faults.clear()
    site.log.clear()
    report = scrape(cfg, data, progress=False)[0]
    assert report.stats["pages"] == 6 and report.stats["resumed"] == 1
    fetched = [p for p in site.paths() if p != "/robots.txt"]  # robots.txt may come from the cache
    assert fetched == [f"/release/anekdot/day/2022-10-{d:02d}/" for d in range(5, 11)]
    dates = [p["data"]["meta"]["date"] for p in _pages(data)]
    assert dates == [f"2022-10-{d:02d}" for d in range(1, 11)]  # each page stored once


def test_no_network_fails_fast_with_a_clear_message(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed once the block ends: nothing listens there
    body = f"""
[[sources]]
name = "anekdot"
kind = "anekdot_ru"
base_url = "http://127.0.0.1:{port}"
"""
    cfg_path = write_config(tmp_path / "jm.toml", body)
    t0 = time.monotonic()
    r = subprocess.run(
        [sys.executable, "-m", "jokemine", "--config", str(cfg_path), "scrape"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert time.monotonic() - t0 < 30
    assert r.returncode == 1 and "Traceback" not in r.stderr
    errors = [line for line in r.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and errors[0].startswith(f"error: anekdot: cannot reach http://127.0.0.1:{port}: ")
    assert "cannot connect" in errors[0] and errors[0].endswith("is there a network?")


def test_forced_recrawl_of_past_days_comes_from_the_cache(tmp_path: Path, site: FakeSite, sleeps: list[float]) -> None:
    cfg = _config(tmp_path, site, "refetch_days = 0", http="cache = true")
    scrape(cfg, cfg.data_dir(), progress=False)
    site.log.clear()
    report = scrape(cfg, cfg.data_dir(), force=True, progress=False)[0]
    assert report.stats["cache_hits"] == 3 and site.paths() == []  # robots.txt cached too


def _spec_from_readme() -> str:
    m = re.search(r"```toml\n(# spec: anekdot\.ru tag pages.*?)```", README, re.S)
    assert m, "the README must carry the worked example spec"
    return m.group(1)


def test_worked_example_spec_reads_the_same_jokes(
    tmp_path: Path, site: FakeSite, page: bytes, sleeps: list[float]
) -> None:
    spec_toml = _spec_from_readme().replace("https://www.anekdot.ru", site.url)
    body = f"""
[paths]
data_dir = "data"
[http]
min_interval_s = 0
{spec_toml}
[clean]
workers = 1
[publish]
allow_empty_splits = true  # one saved page: too few jokes for every split
"""
    cfg = load_config(write_config(tmp_path / "jm.toml", body))
    spec = cfg.sources[0]
    assert isinstance(spec, HtmlSpecSource)
    jokes, _ = html_spec.parse_page(spec, page.decode("utf-8"), site.url + TAG, {})
    ref, _ = anekdot_ru.parse_page(page.decode("utf-8"), site.url + TAG, "tag", {})
    assert [(j["id"], j["text"], j["score"]) for j in jokes] == [(r["id"], r["text"], r["rating"]) for r in ref]
    report = scrape(cfg, cfg.data_dir(), progress=False)[0]
    assert report.status == "ok" and site.paths() == ["/robots.txt", TAG, TAG + "/2"]
    clean(cfg, cfg.data_dir(), progress=False)
    publish(cfg, cfg.data_dir(), version="1")
    df = _clean(cfg.data_dir())
    kept = df[df.drop_reason.isna()]
    assert len(kept) == 44 and (kept.lang == "ru").all() and (kept.score_kind == "net_votes").all()
    assert kept.loc["anekdot_spec:1351292", "score"] == 137


def test_redirects_are_checked_against_robots_and_rate_limited(
    tmp_path: Path, site: FakeSite, sleeps: list[float]
) -> None:
    site.robots = "User-agent: *\nDisallow: /secret/\n"
    site.redirects["/release/anekdot/day/2022-10-05/"] = "/secret/x"
    site.redirects["/release/anekdot/day/2022-10-06/"] = "/release/anekdot/day/2022-10-07/"
    cfg = _config(tmp_path, site, http="min_interval_s = 0.5")
    report = scrape(cfg, cfg.data_dir(), progress=False)[0]
    assert "/secret/x" not in site.paths() and report.stats["robots_disallowed"] == 1
    assert report.stats["pages"] == 2  # day 6 (redirected to day 7's content) and day 7 (then from the cache)
    assert [p["data"]["final_url"].rsplit("/", 2)[-2] for p in _pages(cfg.data_dir())] == ["2022-10-07"] * 2
    assert len(sleeps) >= len(site.log) - 2 and all(s > 0.3 for s in sleeps)  # every request waited its turn


def test_retries_wait_for_the_host_interval_and_backoff(tmp_path: Path, site: FakeSite, sleeps: list[float]) -> None:
    site.fault("/release/anekdot/day/2022-10-05/", status=503, times=2)
    site.fault("/release/anekdot/day/2022-10-06/", status=429, headers={"Retry-After": "soon"})  # unparseable
    cfg = _config(tmp_path, site, http="min_interval_s = 0.5")
    report = scrape(cfg, cfg.data_dir(), progress=False)[0]
    assert (report.status, report.stats["pages"]) == ("ok", 3)
    assert report.stats["requests"] == len(site.log) == 7  # robots, 3 + 2 + 1 (retries counted)
    assert len(sleeps) == 6 and all(s >= 0.4 for s in sleeps)


def test_retry_after_beyond_the_cap_pauses_the_host_until_the_next_run(
    tmp_path: Path, site: FakeSite, sleeps: list[float]
) -> None:
    site.fault("/release/anekdot/day/2022-10-06/", status=429, headers={"Retry-After": "3600"})
    cfg = _config(tmp_path, site, "refetch_days = 0")
    report = scrape(cfg, cfg.data_dir(), progress=False)[0]
    assert report.status == "partial" and report.stats["pages"] == 1
    assert "asks to wait 3600 s, more than max_backoff_s (60 s)" in report.errors[0]
    assert site.paths() == ["/robots.txt", "/release/anekdot/day/2022-10-05/", "/release/anekdot/day/2022-10-06/"]
    assert not [s for s in sleeps if s > 60]
    report = scrape(cfg, cfg.data_dir(), progress=False)[0]  # resumes the open crawl
    assert report.stats["pages"] == 2 and report.stats["resumed"] == 1


def test_empty_page_is_stored_and_the_crawl_goes_on(tmp_path: Path, site: FakeSite, sleeps: list[float]) -> None:
    site.pages["/release/anekdot/day/2022-10-05/"] = b""
    cfg = _config(tmp_path, site)
    report = scrape(cfg, cfg.data_dir(), progress=False)[0]
    assert (report.status, report.stats["pages"]) == ("ok", 3)
    cleaned = clean(cfg, cfg.data_dir(), progress=False)
    assert cleaned.stats["per_source"]["anekdot"]["parse"]["page_empty_page"] == 1
    assert len(_clean(cfg.data_dir())) == 44


def test_unreachable_robots_txt_stops_the_crawl_without_losing_urls(
    tmp_path: Path, site: FakeSite, sleeps: list[float]
) -> None:
    site.robots_status = 503
    cfg = _config(tmp_path, site, http="cache = false")
    report = scrape(cfg, cfg.data_dir(), progress=False)[0]
    assert report.status == "failed"
    assert report.errors[0].startswith(f"not crawling {site.url} now: {site.url}/robots.txt: HTTP 503")
    assert [p for p in site.paths() if p != "/robots.txt"] == []
    site.robots_status = 200
    assert scrape(cfg, cfg.data_dir(), progress=False)[0].stats["pages"] == 3


def test_repeated_runs_over_a_past_window_store_nothing_twice(
    tmp_path: Path, site: FakeSite, sleeps: list[float]
) -> None:
    cfg = _config(tmp_path, site)  # a window long past: nothing in it is "recent"
    assert scrape(cfg, cfg.data_dir(), progress=False)[0].stats["pages"] == 3
    site.log.clear()
    for _ in range(2):
        report = scrape(cfg, cfg.data_dir(), progress=False)[0]
        assert (report.status, report.records) == ("unchanged", 0)
    assert site.paths() == [] and len(_pages(cfg.data_dir())) == 3
