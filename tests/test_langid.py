"""The batched language ID must give exactly langdetect's answers (and probabilities) on real texts."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import langdetect
import zstandard
from langdetect import DetectorFactory

from jokemine.cleaning.langid import detect_batch, detect_lang, detect_langs_batch


def _real_texts(real: Path, n: int) -> list[str]:
    dctx = zstandard.ZstdDecompressor(max_window_size=2**31)
    out = []
    with open(real / "kampta-reddit-jokes" / "r_jokes_submissions.ndjson.zst", "rb") as fh:
        for i, line in enumerate(io.BufferedReader(dctx.stream_reader(fh))):
            if i % 97 == 0:
                d = json.loads(line)
                out.append(f"{d['title']}\n{d['selftext']}")
            if len(out) >= n:
                break
    with open(real / "cleancomedy" / "clean_comedy_gold_ru.csv", encoding="utf-8", newline="") as fh:
        out += [row["text"] for row in list(csv.DictReader(fh))[:150]]
    return out


def test_bit_identical_to_langdetect_on_real_posts(real: Path) -> None:
    DetectorFactory.seed = 0
    texts = [*_real_texts(real, 600), "", "12345 !!!", "😀😀😀", "https://example.com/only-a-link"]
    fast = detect_langs_batch(texts, 200)
    for text, got in zip(texts, fast, strict=True):
        try:
            ref = langdetect.detect_langs(text[:200])
        except langdetect.lang_detect_exception.LangDetectException:
            ref = []
        assert [(lg.lang, lg.prob) for lg in got] == [(lg.lang, lg.prob) for lg in ref], text[:80]
    labels = detect_batch(texts, 200)
    assert labels.count("ru") >= 140 and labels.count("en") >= 550
    assert labels[-4:-1] == ["und", "und", "und"]


def test_deterministic_and_order_independent(real: Path) -> None:
    texts = _real_texts(real, 200)
    forward = detect_batch(texts)
    backward = detect_batch(texts[::-1])[::-1]
    assert forward == backward
    assert [detect_lang(t) for t in texts[:20]] == forward[:20]
