"""The real release as a reader meets it: ``report.html`` in headless Chromium (Debian's ``chromium``, driven by
Playwright), and the dataset card's Hub-template sections filled from the real data."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
import yaml

from jokemine.dataset_cards.stats import jsonable
from jokemine.schema import RELEASE_CONFIGS

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def _browser() -> str:
    if CHROMIUM:
        return CHROMIUM
    msg = "headless Chromium not found (Debian: apt-get install chromium; `make install` tries it)"
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(msg + " - required under CI")
    pytest.skip(msg)


def _samples(page_html: str) -> list[dict[str, Any]]:
    m = re.search(r'<script type="application/json" id="samples-data">(.*?)</script>', page_html, re.S)
    assert m
    return json.loads(m.group(1))


def test_report_html_in_headless_chromium(real_pipeline: dict[str, Any], tmp_path: Path) -> None:
    """The page loads from file:// with no console error and no request beyond the file itself, its search and
    filters show exactly the rows that match, the duplicate clusters and grouped samples are there, and a
    screenshot is taken."""
    from playwright.sync_api import sync_playwright

    release: Path = real_pipeline["release"]
    report = release / "report.html"
    text = report.read_text(encoding="utf-8")
    assert report.stat().st_size < 5_000_000
    rows = _samples(text)
    assert {r["config"] for r in rows} == {"setup_punch", "qa", "jokes"}
    per = {(r["config"], r["source"]) for r in rows}
    assert ("jokes", "rjokes") in per and ("jokes", "cleancomedy_ru") in per
    assert max(sum(1 for r in rows if (r["config"], r["source"]) == k) for k in per) == 25

    needle = "light bulb"
    expected = sum(1 for r in rows if needle in (r["text"] or "").lower() or needle in r["id"].lower())
    assert expected > 0
    qa_cc = sum(1 for r in rows if r["config"] == "jokes" and r["source"] == "cleancomedy_ru")

    errors: list[str] = []
    requests: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=_browser(), args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("request", lambda r: requests.append(r.url))
            page.goto(report.as_uri())
            page.wait_for_selector("tr.sample")
            assert page.locator("tr.sample").count() == len(rows)
            assert page.inner_text("#shown") == f"{len(rows)} of {len(rows)} sample rows"
            page.fill("#search", needle)
            assert page.locator("tr.sample").count() == expected
            assert page.inner_text("#shown") == f"{expected} of {len(rows)} sample rows"
            for cell in page.locator("tr.sample td:last-child").all_inner_texts()[:20]:
                assert needle in cell.lower()
            page.fill("#search", "")
            page.select_option("#config", "jokes")
            page.select_option("#source", "cleancomedy_ru")
            assert page.locator("tr.sample").count() == qa_cc == 25
            assert all(
                re.search("[а-яё]", t.lower()) for t in page.locator("tr.sample td:last-child").all_inner_texts()
            )
            assert page.locator("#clusters ~ details").count() >= 20
            assert page.locator("img[src^='data:image/png;base64,']").count() == 7
            shot = tmp_path / "report.png"
            page.screenshot(path=str(shot), full_page=False)
        finally:
            browser.close()
    assert not errors, errors
    assert [u for u in requests if not u.startswith(("file:", "data:"))] == []
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000


def _parquet_rows(release: Path, config: str) -> list[dict[str, Any]]:
    out = []
    for f in sorted((release / config).glob("*.parquet")):
        out += [jsonable(r) for r in pq.read_table(f).to_pylist()]
    return out


def test_card_sections_from_the_hub_template_filled_from_real_data(real_pipeline: dict[str, Any]) -> None:
    """Every section of huggingface_hub's dataset card template is in the real release's card, filled (no
    template placeholder), each config's example instance is a real row, the Fields tables list exactly each
    config's columns, `license: other` has a name and a link to a file of the release, upstream datasets and
    citations are named, and DatasetCard round-trips the card."""
    from huggingface_hub import DatasetCard

    release: Path = real_pipeline["release"]
    card = (release / "README.md").read_text(encoding="utf-8")
    template = (
        Path(__import__("huggingface_hub").__file__).parent / "templates" / "datasetcard_template.md"
    ).read_text()
    headings = [re.sub(r"\s*\[optional\]", "", h) for h in re.findall(r"^(#{2,4} [^\n]+)$", template, re.M)]
    for h in headings:
        if h.strip("# ") == "Glossary":
            continue  # no glossary terms of our own: the field tables explain every column
        assert re.search(rf"^{re.escape(h)}$", card, re.M), h
    assert "[More Information Needed]" not in card and "{{" not in card

    meta = yaml.safe_load(card.split("---\n")[1])
    assert meta["license"] == "other" and meta["license_name"] == "per-source-terms"
    assert meta["license_link"] == "LICENSE.md" and (release / "LICENSE.md").exists()
    assert "## `cleancomedy_en`" in (release / "LICENSE.md").read_text()
    assert {"original", "gorovuha/CleanComedy", "kaggle:jiriroz/qa-jokes", "taivop/joke-dataset"} <= set(
        meta["source_datasets"]
    )
    assert "arXiv:2412.09203" in card.split("## Citation")[1]
    assert "pseudonymised" in card and "author_hash" in card.split("#### Personal and Sensitive Information")[1]
    assert "Browse samples" in card and "(report.html)" in card

    examples = dict(re.findall(r"^`(\w+)`:\n\n```json\n(.*?)\n```", card, re.M | re.S))
    assert set(examples) == {"setup_punch", "qa", "jokes", "setup_punches", "preference"}
    for config, text in examples.items():
        row = json.loads(text)
        assert row in _parquet_rows(release, config), config
        assert list(row) == RELEASE_CONFIGS[config].column_names

    fields = card.split("### Fields")[1].split("\n## ")[0]
    for config in examples:
        table = fields.split(f"Config `{config}`:")[1].split("Config `")[0]
        assert re.findall(r"^\| `(\w+)` \|", table, re.M) == RELEASE_CONFIGS[config].column_names
    changelog = card.split("## Changelog")[1]
    assert re.search(r"\| `setup_punches` \| train \| rows: [\d,]+ \(was 0\)", changelog)
    assert re.search(r"\| `preference` \| test \| rows: [\d,]+ \(was 0\)", changelog)

    round_trip = DatasetCard(DatasetCard(card).content)
    assert round_trip.data.to_dict() == DatasetCard(card).data.to_dict()
    assert round_trip.data.to_dict()["license_link"] == "LICENSE.md"


def test_load_snippet_pins_the_pushed_revision() -> None:
    """With a Hub target the card's snippet loads every config at the release's tag; without one it names the
    local folder and says how to pin a pushed release."""
    from jokemine.config import load_config
    from jokemine.dataset_cards.card import CardInputs, card_data, load_snippet

    cfg = load_config(Path(__file__).resolve().parent.parent / "configs" / "real-offline.toml")
    counts = {"setup_punch": {"train": 3, "validation": 1, "test": 1}, "qa": {"train": 2, "validation": 1, "test": 1}}
    inp = CardInputs(version="2026.12.04", counts=counts, languages=["en"], clean_stats={})
    local = "\n".join(load_snippet(cfg, inp, card_data(cfg, counts, ["en"])))
    assert (
        'setup_punch = load_dataset("path/to/releases/2026.12.04")' in local
        and "revision=" not in local.split("```")[1]
    )
    hub = cfg.model_copy(update={"publish": cfg.publish.model_copy(update={"repo_id": "owner/jokes"})})
    code = "\n".join(load_snippet(hub, inp, card_data(hub, counts, ["en"])))
    assert 'setup_punch = load_dataset("owner/jokes", revision="v2026.12.04")' in code
    assert 'qa = load_dataset("owner/jokes", "qa", revision="v2026.12.04")' in code


def test_embedded_json_cannot_end_or_bend_its_script_element() -> None:
    """Sample texts with "</script>", "<!--" and "<script>" (real jokes quote HTML) stay data: the element holds no
    '<' but its own tags, and the JSON reads back unchanged."""
    from jokemine.dataset_cards.report import _json_script

    data = [{"text": "<!--<script>alert(1)</script> & -->"}, {"text": "</script><b>bold</b>"}]
    out = _json_script("samples-data", data)
    inner = out[len('<script type="application/json" id="samples-data">') : -len("</script>")]
    assert "<" not in inner and ">" not in inner and "&" not in inner
    assert json.loads(inner) == data


def test_example_row_prefers_a_short_safe_well_scored_row() -> None:
    """NSFW rows are never the example while a clean one exists, even when every row is long; among the clean
    ones the best score_norm wins; an empty table has none."""
    import pyarrow as pa

    from jokemine.dataset_cards.stats import example_row

    long = "x" * 2000
    table = pa.table(
        {
            "text": [long + "a", long + "bb", "short", long],
            "nsfw": [True, False, True, False],
            "score_norm": [1.0, 0.2, 0.9, 0.7],
        }
    )
    assert example_row(table) == {"text": long, "nsfw": False, "score_norm": 0.7}
    assert example_row(table.slice(0, 0)) is None
    assert example_row(table.filter(pa.array([True, False, True, False])))["text"] == "short"  # all NSFW: shortest best


def test_report_size_is_bounded_whatever_the_rows_and_sources(tmp_path: Path) -> None:
    """1,000,000 rows from 400 sources with 2,000-character texts: the page samples at most SAMPLES_MAX rows, cut
    at TEXT_CHARS, and stays under 5 MB."""
    import pyarrow as pa

    from jokemine.dataset_cards.report import SAMPLES_MAX, TEXT_CHARS, cap_samples, render_report, sample_rows

    n = 1_000_000
    ids = pa.array([f"src:{i}" for i in range(n)])
    table = pa.table(
        {
            "id": ids,
            "source": pa.array([f"source_{i % 400:03d}" for i in range(n)]),
            "text": pa.array(["Why did the chicken cross the road? " * 56] * n),
            "score_norm": pa.array([0.5] * n),
        }
    )
    rows = sample_rows(table, "jokes", "train")
    assert len(rows) == 400 * 25 and all(len(r["text"]) == TEXT_CHARS for r in rows)
    capped = cap_samples(rows)
    assert len(capped) == 400 * (SAMPLES_MAX // 400) <= SAMPLES_MAX and {r["source"] for r in capped} == {
        f"source_{i:03d}" for i in range(400)
    }
    page = render_report(title="t", version="1", counts={"jokes": {"train": n}}, clean_stats={}, dedup=None,
                         figures={}, samples=capped, setup_punches=[], preference=[], changelog_md="")  # fmt: skip
    assert len(page.encode()) < 5_000_000
