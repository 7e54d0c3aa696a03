"""Filters and pair building on real records from the dumps."""

from __future__ import annotations

import io
import json
from pathlib import Path

import zstandard

from jokemine.cleaning import filters as F
from jokemine.cleaning.parse import ParseContext, ParseError, parse_reddit, parse_table
from jokemine.config import RedditDumpSource, TableSource
from jokemine.schema import empty_record

REDDIT = RedditDumpSource(name="r", kind="reddit_dump", path="x")


def _posts(real: Path, name: str) -> dict[str, dict]:
    dctx = zstandard.ZstdDecompressor(max_window_size=2**31)
    with open(real / "kampta-reddit-jokes" / name, "rb") as fh:
        return {d["id"]: d for d in map(json.loads, io.BufferedReader(dctx.stream_reader(fh)))}


def _rec(post: dict) -> dict:
    env = {"source_id": post["id"], "fetched_at": "2026-01-01T00:00:00+00:00", "data": post}
    return parse_reddit(env, ParseContext(REDDIT, "salt"), "o:1")


def test_reddit_filters_on_real_posts(real: Path) -> None:
    jokes = _posts(real, "r_jokes_submissions.ndjson.zst")
    assert F.mod_post(_rec(jokes["mv62i"])) == "mod_post"  # "a friendly reminder from your ... mods"
    assert F.upstream_deleted(_rec(jokes["2v316r"])) == "deleted"  # title and body [deleted]
    removed = [p for p in jokes.values() if p["selftext"] == "[removed]"]
    assert len(removed) == 12 and all(F.upstream_deleted(_rec(p)) == "removed" for p in removed)
    punny = _posts(real, "r_Punny_submissions.ndjson.zst")
    links = [p for p in punny.values() if not p["is_self"]]
    assert len(links) == 7824 and all(F.link_post(_rec(p)) == "link_post" for p in links[:200])
    ok = _rec(jokes["euhyt"])  # "The Old Soldier's Home."
    assert (F.upstream_deleted(ok), F.mod_post(ok), F.link_post(ok)) == (None, None, None)
    F.normalize_reddit(True)(ok)
    F.build_pairs(ok)
    assert ok["kind"] == "setup_punch" and ok["setup"] == "The Old Soldier's Home."
    assert ok["punchline"].endswith("you didn't tell it right.\"") and "&quot;" not in ok["punchline"]
    assert ok["url"] == "https://www.reddit.com/r/Jokes/comments/euhyt/" and ok["category"] == "r/Jokes"
    assert ok["author_hash"] and ok["author_hash"] != "Wyrmshadow" and "_raw_body" not in ok


def test_build_pairs_shapes() -> None:
    def shape(**kw: str) -> tuple:
        rec = {**empty_record(), **kw}
        F.build_pairs(rec)
        return rec["kind"], rec["setup"], rec["punchline"], rec["question"], rec["answer"], rec["text"]

    assert shape(title="What's red?", body="A tomato.") == (
        "qa",
        "What's red?",
        "A tomato.",
        "What's red?",
        "A tomato.",
        "What's red?\nA tomato.",
    )
    assert shape(title="A man walks into a bar", body="Ouch.")[:4] == (
        "setup_punch",
        "A man walks into a bar",
        "Ouch.",
        None,
    )
    # mapped question/answer columns are Q/A whatever the punctuation (Otvet-style rows often lack "?")
    assert shape(question="Назовите лучший способ", answer="Поспать")[0] == "qa"
    assert shape(title="Just a one-liner")[0::5] == ("single", "Just a one-liner")
    assert shape(text="One block joke.")[0::5] == ("single", "One block joke.")


def test_table_rows_with_reddit_sentinels_and_incomplete_pairs() -> None:
    src = TableSource(name="t", kind="table", path="x", columns={"question": "Q", "answer": "A"})
    ctx = ParseContext(src, "salt")

    def rec(q: str, a: str) -> dict:
        r = parse_table({"source_id": "1", "data": {"Q": q, "A": a}}, ctx, "o:1")
        return r

    assert F.upstream_deleted(rec("Why did the chicken cross the road?", "[deleted]")) == "deleted"
    assert F.upstream_deleted(rec("[removed]", "x")) == "removed"
    r = rec("What do you call a fish with no eyes?", "  ")
    F.normalize_table("plain", True)(r)
    assert F.incomplete(r) == "incomplete"


def test_non_text_fields_are_coerced_or_rejected() -> None:
    r = _rec({"id": "a1", "title": 12345, "selftext": "a number title", "score": "17"})
    assert r["_raw_title"] == "12345" and r["score"] == 17.0
    try:
        _rec({"id": "a2", "title": {"nested": 1}, "selftext": "x"})
    except ParseError as e:
        assert str(e) == "expected text, got dict"
    else:
        raise AssertionError("a dict title must be rejected")
