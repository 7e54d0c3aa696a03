"""Comment threads: the reddit_comments reader on real URS, dump and API-page files, thread records and their
filters, and the thread-aware release configs (threads, setup_punches, SHP preference pairs)."""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq
import pytest
import zstandard

from jokemine.cleaning.filters import bot_reply, meta_reply
from jokemine.cleaning.text import key_hash
from jokemine.config import RedditCommentsSource, load_config
from jokemine.scrapers.base import BadItem, Notice, RawItem, ReadContext
from jokemine.scrapers.reddit_comments import RedditComments
from tests.conftest import write_config

URS = "josephlai241-urs/askreddit_mbtjq7_belly_button_all-raw.json"
THREADS = "praw-comment-cassettes/praw_threads_comments.ndjson.zst"
POSTS = "praw-comment-cassettes/praw_threads_submissions.ndjson"
MANIFEST = "praw-comment-cassettes/praw_threads_manifest.csv"


def _reader(path: Path | str, **kw: Any) -> RedditComments:
    return RedditComments(RedditCommentsSource(name="t", kind="reddit_comments", path=str(path), **kw), Path("/"))


def _items(src: RedditComments) -> list[RawItem]:
    events = list(src.read(ReadContext()))
    assert not [e for e in events if isinstance(e, BadItem | Notice)], events[:3]
    return [e for e in events if isinstance(e, RawItem)]


def _urs(real: Path) -> dict[str, Any]:
    return json.loads((real / URS).read_text(encoding="utf-8"))


def _dump_comments(real: Path) -> list[dict[str, Any]]:
    data = zstandard.ZstdDecompressor(max_window_size=2**31).decompress((real / THREADS).read_bytes(), 1 << 30)
    return [json.loads(x) for x in data.splitlines() if x.strip()]


def test_urs_scrape_gives_its_top_level_replies_with_their_post(real: Path) -> None:
    urs = _urs(real)
    top = {c["id"]: c for c in urs["data"]["comments"] if c["parent_id"].startswith("t3_")}
    assert len(top) == 1516
    src = _reader(real / URS)
    items = _items(src)
    assert {i.source_id for i in items} == {f"t1_{k}" for k in top}
    assert src.stats["skipped_depth"] == 2112 - 1516
    for i in items:
        c = top[i.source_id.removeprefix("t1_")]
        assert i.data["comment"] == c and i.data["depth"] == 0  # kept exactly as read
        assert i.data["post"]["id"] == "mbtjq7" and i.data["post"]["score"] == 3793
    deep = _items(_reader(real / URS, max_depth=10))
    parents = {c["id"]: c["parent_id"] for c in urs["data"]["comments"]}
    assert len(deep) == 2112 and max(i.data["depth"] for i in deep) >= 3
    for i in deep:  # depth = length of the parent chain up to the post
        n, p = 0, parents[i.source_id.removeprefix("t1_")]
        while p.startswith("t1_"):
            n, p = n + 1, parents[p.removeprefix("t1_")]
        assert i.data["depth"] == n


def test_dump_comments_are_joined_to_their_posts_and_cut_at_max_depth(real: Path) -> None:
    with open(real / MANIFEST, encoding="utf-8") as fh:
        manifest = list(csv.DictReader(fh))
    src = _reader(real / THREADS, posts=str(real / POSTS))
    items = _items(src)
    assert len(items) == sum(int(r["n_top_level"]) for r in manifest)  # the manifest's own count, per thread
    per_thread = Counter(i.data["post"]["id"] for i in items)
    assert per_thread == {r["link_id"][3:]: int(r["n_top_level"]) for r in manifest if int(r["n_top_level"])}
    assert src.stats["skipped_depth"] == sum(int(r["n_comments"]) - int(r["n_top_level"]) for r in manifest)
    jokes = _items(_reader(real / THREADS, posts=str(real / POSTS), subreddits=["funny", "AskReddit"]))
    assert {i.data["post"]["subreddit"] for i in jokes} == {"funny", "AskReddit"}
    no_posts = _reader(real / THREADS)
    events = list(no_posts.read(ReadContext()))
    assert not [e for e in events if isinstance(e, RawItem)] and no_posts.stats["skipped_no_post"] == len(items)
    errors = [e.message for e in events if isinstance(e, Notice) and e.level == "error"]
    assert errors == [f"{real / THREADS}: 1,601 of 1,601 comments answer posts not found in the file (no `posts` "
                      "configured)"]  # fmt: skip


def test_a_saved_api_page_is_walked_and_its_more_stubs_counted(real: Path, tmp_path: Path) -> None:
    cassette = json.loads((real / "praw-comment-cassettes/TestCommentForest.test_replace__all.json").read_text())
    page = next(i for i in cassette["interactions"] if "/comments/3hahrw/?" in i["request"]["uri"])
    body = json.loads(page["response"]["body"]["string"])
    (tmp_path / "3hahrw.json").write_text(json.dumps(body))
    listed = [c["data"] for c in body[1]["data"]["children"] if c["kind"] == "t1"]
    more = sum(c["data"]["count"] for c in body[1]["data"]["children"] if c["kind"] == "more")
    src = _reader(tmp_path / "3hahrw.json")
    items = _items(src)
    assert [i.source_id for i in items] == [f"t1_{c['id']}" for c in listed]
    assert [i.data["comment"]["score"] for i in items] == [c["score"] for c in listed]
    assert all(i.data["post"]["id"] == "3hahrw" for i in items)
    assert more > 0 and src.stats["more_collapsed"] >= more


def test_bad_comment_files_fail_with_one_line(real: Path, tmp_path: Path) -> None:
    bad = tmp_path / "x.json"
    bad.write_text('[{"kind": "t1"}]')
    events = list(_reader(bad).read(ReadContext()))
    errors = [e.message for e in events if isinstance(e, Notice) and e.level == "error"]
    assert len(errors) == 1 and str(bad) in errors[0] and "no known comment shape" in errors[0]
    lines = tmp_path / "c.ndjson"
    lines.write_text('{"body": "x", "link_id": "t3_a", "parent_id": "t3_a", "id": "c1"}\nnot json\n[1]\n')
    events = list(_reader(lines).read(ReadContext()))
    assert [(e.line, e.error.split(":")[0]) for e in events if isinstance(e, BadItem)] == [
        (2, "not valid JSON"),
        (3, "expected a JSON object, got list"),
    ]


def test_bot_and_meta_replies() -> None:
    bot = bot_reply(["SomeHelper"])
    names = {"AutoModerator": True, "RemindMeBot": True, "haikusbot": True, "totes_meta_bot": True,
             "somehelper": True, "Talbot": False, "Cajunbot": False, "NoMansPies": False}  # fmt: skip
    for name, want in names.items():
        assert (bot({"_author": name, "_raw_punchline": "hi"}) is not None) == want, name
    assert bot({"_author": "x", "_raw_punchline": "^(I am a bot, beep)"}) is not None
    metas = ["Repost.", "this", "Take my upvote!", "r/jokes", "/r/sweatypalms /u/someone", "*your",
             "I'll see myself out...", "http://i.imgur.com/gP0zuQg.gifv"]  # fmt: skip
    for text in metas:
        assert meta_reply({"punchline": text, "_raw_reply": text}) is not None, text
    assert meta_reply({"punchline": "Self destruct", "_raw_reply": "> quoted\n\n> more"}) is not None
    for text in ["Self destruct", "This is the way to go: mute the world.", "Nut button."]:
        assert meta_reply({"punchline": text, "_raw_reply": text}) is None, text


@pytest.fixture(scope="module")
def thread_release(real: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """scrape -> clean -> publish of the URS thread and the PRAW threads (dump + posts), SHP rule; once."""
    from jokemine.cleaning.stage import clean
    from jokemine.publish.release import publish
    from jokemine.scrapers.run import scrape

    tmp = tmp_path_factory.mktemp("threads")
    cfg = load_config(
        write_config(
            tmp / "jm.toml",
            f"""
[paths]
data_dir = "{tmp / "data"}"
[[sources]]
name = "askreddit"
kind = "reddit_comments"
path = "{real / URS}"
[[sources]]
name = "praw_threads"
kind = "reddit_comments"
path = "{real / THREADS}"
posts = "{real / POSTS}"
[publish]
preference_rule = "shp"
allow_empty_splits = true
""",
        )
    )
    scrape(cfg, tmp / "data", progress=False)
    clean(cfg, tmp / "data", workers=1, progress=False)
    report = publish(cfg, tmp / "data", push=False)
    frame = pq.ParquetDataset(sorted((tmp / "data/clean/latest").glob("part-*.parquet"))).read().to_pandas()

    def config(name: str) -> pd.DataFrame:
        files = sorted((report.path / name).glob("*.parquet"))
        return pd.concat([pq.read_table(f).to_pandas().assign(split=f.name.split("-")[0]) for f in files])

    return {"clean": frame, "config": config, "release": report.path}


def test_thread_records_keep_origin_scores_and_drop_what_is_no_reply(real: Path, thread_release: dict) -> None:
    df = thread_release["clean"]
    urs = df[df.source == "askreddit"]
    top = {c["id"]: c for c in _urs(real)["data"]["comments"] if c["parent_id"].startswith("t3_")}
    assert len(urs) == 1516
    # exact duplicates: the same normalized reply twice under the one post ("Self destruct" 10x, ...); meta
    # replies: four "*your" corrections and one "Nice"
    assert urs.drop_reason.value_counts().to_dict() == {"exact_duplicate": 106, "meta_reply": 5, "too_short": 2}
    assert urs.drop_reason.isna().sum() == 1403
    kept = urs[urs.drop_reason.isna()]
    assert (kept.setup == "If you're belly button was a real button, what would you want it to do?").all()
    assert (kept.kind == "qa").all() and (kept.structure == "thread_reply").all()
    assert (kept.thread_id == "reddit:mbtjq7").all() and (kept.parent_id == "reddit:mbtjq7").all()
    assert (kept.depth == 0).all() and (kept.thread_score == 3793).all()
    for r in kept.itertuples():
        assert r.score == top[r.source_id.removeprefix("t1_")]["score"]
    dup = urs[urs.drop_reason == "exact_duplicate"]
    survivors = df.set_index("id").loc[dup.dup_cluster]
    assert (survivors.thread_id.to_numpy() == "reddit:mbtjq7").all()
    praw = df[df.source == "praw_threads"]
    assert praw.drop_reason.value_counts().to_dict() == {
        "link_post": 371, "deleted": 25, "exact_duplicate": 12, "meta_reply": 7, "mod_post": 4, "too_long": 4,
        "bot": 3, "too_short": 1,
    }  # fmt: skip
    links = praw[praw.drop_reason == "link_post"].thread_id.unique()  # replies to image posts (r/funny, r/pics)
    posts = {json.loads(x)["id"]: json.loads(x) for x in (real / POSTS).read_text().splitlines() if x.strip()}
    assert sorted(links) and all(posts[t.removeprefix("reddit:")]["is_self"] is False for t in links)
    assert (df.drop_reason != "near_duplicate").all()  # replies are not searched for near-duplicates


def test_thread_configs_setup_punches_and_shp_pairs(real: Path, thread_release: dict) -> None:
    df = thread_release["clean"].set_index("id")
    threads = thread_release["config"]("threads")
    assert len(threads) == int(df.drop_reason.isna().sum())
    assert threads.groupby("thread_id").split.nunique().max() == 1  # no thread in two splits
    for _, sib in threads.groupby("parent_id"):  # score_norm_thread ranks siblings
        assert sib.score_norm_thread.between(0, 1).all()
        ordered = sib.sort_values("score")
        assert ordered.score_norm_thread.is_monotonic_increasing
    sp = thread_release["config"]("setup_punches")
    belly = sp[sp.group_key == df.loc[df.thread_id == "reddit:mbtjq7", "group_key"].iloc[0]].iloc[0]
    assert belly.num_punchlines == 1403 and len(belly.punchlines) == 1000  # [publish] setup_punches_max
    norms = [p["score_norm"] for p in belly.punchlines]
    assert norms == sorted(norms, reverse=True) and belly.punchlines[0]["score"] == 3181
    pref = thread_release["config"]("preference")
    assert len(pref) > 300 and pref.thread_id.notna().all()
    for p in pref.itertuples():  # SHP's rule, pair by pair, against the clean records
        a, b = df.loc[p.id_chosen], df.loc[p.id_rejected]
        assert a.parent_id == b.parent_id and a.thread_id == p.thread_id
        assert a.score == p.score_chosen and b.score == p.score_rejected
        assert b.score >= 2 and a.score >= 2 * b.score and a.created_at >= b.created_at
        assert a.thread_score >= 10 and p.score_ratio == pytest.approx(a.score / b.score)
    assert pref.groupby("thread_id").size().max() <= 50


def test_arctic_shift_meta_marks_are_honoured(real: Path, tmp_path: Path) -> None:
    """An Arctic Shift-style file built from real comments: ``_meta`` deletions drop, ``retrieved_2nd_on`` is the
    score's time."""
    from jokemine.cleaning.stage import clean
    from jokemine.scrapers.run import scrape

    comments = [c for c in _dump_comments(real) if c["link_id"] == "t3_ablzuq" and c["parent_id"] == "t3_ablzuq"]
    marks: list[dict[str, Any]] = [
        {"was_deleted_later": True, "removal_type": "deleted"},
        {"was_deleted_later": True, "removal_type": "removed"},
        {"was_initially_deleted": True, "removal_type": "deleted"},  # restored: available again, kept
        {},
    ]
    out = io.StringIO()
    for n, c in enumerate(comments):
        c["_meta"] = {"retrieved_2nd_on": 1546500000 + n, **marks[n % 4]} if n < 40 else {"retrieved_2nd_on": 1}
        out.write(json.dumps(c) + "\n")
    path = tmp_path / "RC_2019-01.zst"
    path.write_bytes(zstandard.ZstdCompressor().compress(out.getvalue().encode()))
    cfg = load_config(write_config(tmp_path / "jm.toml", f"""
[paths]
data_dir = "{tmp_path / "data"}"
[[sources]]
name = "rc"
kind = "reddit_comments"
path = "{path}"
posts = "{real / POSTS}"
"""))  # fmt: skip
    scrape(cfg, tmp_path / "data", progress=False)
    clean(cfg, tmp_path / "data", workers=1, progress=False)
    run = (tmp_path / "data/clean/latest").resolve()
    df = pq.ParquetDataset(sorted(run.glob("part-*.parquet"))).read().to_pandas().set_index("source_id")
    for n, c in enumerate(comments[:40]):
        row = df.loc[f"t1_{c['id']}"]
        if c["body"] in ("[deleted]", "[removed]"):
            continue
        want = {0: "deleted", 1: "removed"}.get(n % 4)
        assert row.drop_reason == want or (want is None and row.drop_reason not in ("deleted", "removed")), n
        assert row.score_retrieved_at == pd.Timestamp(1546500000 + n, unit="s", tz="UTC")


def test_caption_contests_are_threads_with_one_setup_each(extra: Path, tmp_path: Path) -> None:
    """Members of the real New Yorker tar.zst as threads: one setup per contest, thousands of scored captions."""
    import tarfile

    from jokemine.cleaning.stage import clean
    from jokemine.publish.release import publish
    from jokemine.scrapers.run import scrape

    tar = extra / "newyorker-caption-contest/summaries.tar.zst"
    per_contest: dict[str, set[str]] = {}
    with open(tar, "rb") as fh, tarfile.open(fileobj=zstandard.ZstdDecompressor().stream_reader(fh), mode="r|") as tf:
        for m in tf:
            if m.isfile() and m.name.startswith(("summaries/510_", "summaries/511_")) and m.name.endswith(".csv"):
                for row in csv.DictReader(io.StringIO(tf.extractfile(m).read().decode())):  # type: ignore[union-attr]
                    per_contest.setdefault(row["contest"], set()).add(row["caption"])
    votes = '{ funny = "funny", somewhat_funny = "somewhat_funny", unfunny = "unfunny" }'
    cfg = load_config(write_config(tmp_path / "jm.toml", f"""
[paths]
data_dir = "{tmp_path / "data"}"
[[sources]]
name = "nyer"
kind = "table"
path = "{tar}"
members = "summaries/51[01]_*.csv"
columns = {{ punchline = "caption", thread = "contest", votes = {votes} }}
constants = {{ setup = "New Yorker Cartoon Caption Contest #{{contest}}" }}
lang = "en"
[publish]
allow_empty_splits = true
setup_punches_max = 5000
"""))  # fmt: skip
    scrape(cfg, tmp_path / "data", progress=False)
    clean(cfg, tmp_path / "data", workers=1, progress=False)
    report = publish(cfg, tmp_path / "data", push=False)
    sp = pd.concat(pq.read_table(f).to_pandas() for f in (report.path / "setup_punches").glob("*.parquet"))
    assert sorted(sp.setup) == ["New Yorker Cartoon Caption Contest #510", "New Yorker Cartoon Caption Contest #511"]
    for row in sp.itertuples():
        captions = per_contest[row.setup.rsplit("#", 1)[1]]
        assert len(captions) > 3000
        got = {key_hash(p["punchline"]) for p in row.punchlines}
        assert len(got) == row.num_punchlines == len(row.punchlines)  # distinct after normalization
        keys = {key_hash(c) for c in captions}
        assert len(got - keys) < 0.01 * len(got)  # the same captions (a few changed by cleaning: "[email]")
        assert row.num_punchlines >= 0.97 * len(keys)
        scores = [p["score"] for p in row.punchlines]
        assert all(p["score_kind"] == "caption_votes" for p in row.punchlines) and 1 <= min(scores) <= max(scores) <= 3
        norms = [p["score_norm"] for p in row.punchlines]
        assert norms == sorted(norms, reverse=True)
    threads = pd.concat(pq.read_table(f).to_pandas() for f in (report.path / "threads").glob("*.parquet"))
    assert set(threads.thread_id) == {"nyer:510", "nyer:511"} and (threads.depth == 0).all()


def test_qa_dump_with_several_answers_per_question_gives_thread_records(real: Path, tmp_path: Path) -> None:
    """An Otvet@Mail.ru-style dump (``{"question", "answers": [{"text", "likes"}], "category"}``) built from real
    Q/A rows: the r/AskReddit thread's question with its top-level answers and their scores as likes, and the
    questions of bfinan's Reddit Q/A file that have several answers (no likes)."""
    from jokemine.cleaning.stage import clean
    from jokemine.publish.release import publish
    from jokemine.scrapers.run import scrape

    urs = _urs(real)
    answers = [{"text": c["body"], "likes": c["score"]} for c in urs["data"]["comments"] if c["parent_id"][:3] == "t3_"]
    title = urs["data"]["submission_metadata"]["title"]
    records = [{"id": "q1", "question": title, "answers": answers, "category": "AskReddit"}]
    by_q: dict[str, list[str]] = {}
    with open(real / "bfinan-qa-jokes/reddit_qa.csv", encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            by_q.setdefault(row["Question"].strip(), []).append(row["Answer"])
    many = {q: a for q, a in by_q.items() if len(a) >= 3}
    for n, (q, a) in enumerate(sorted(many.items()), start=2):
        records.append({"id": f"q{n}", "question": q, "answers": [{"text": t, "likes": None} for t in a]})
    (tmp_path / "otvet.json").write_text(json.dumps(records, ensure_ascii=False), encoding="utf-8")
    cfg = load_config(write_config(tmp_path / "jm.toml", f"""
[paths]
data_dir = "{tmp_path / "data"}"
[[sources]]
name = "otvet"
kind = "table"
path = "{tmp_path / "otvet.json"}"
replies = "answers"
columns = {{ id = "id", question = "question", answer = "answers.text", score = "answers.likes" }}
constants = {{ category = "{{category}}" }}
score_kind = "likes"
[publish]
allow_empty_splits = true
"""))  # fmt: skip
    scrape(cfg, tmp_path / "data", progress=False)
    clean(cfg, tmp_path / "data", workers=1, progress=False)
    run = (tmp_path / "data/clean/latest").resolve()
    df = pq.ParquetDataset(sorted(run.glob("part-*.parquet"))).read().to_pandas().set_index("source_id")
    assert len(df) == len(answers) + sum(len(a) for a in many.values())
    q1 = df[df.thread_id == "otvet:q1"]
    assert len(q1) == 1516 and (q1.structure == "thread_reply").all() and (q1.kind == "qa").all()
    first = q1[q1.answer == answers[0]["text"]].iloc[0]  # ids: <question id>#<hash of the answer>
    assert first.name.startswith("q1#") and q1.index.is_unique
    assert first.score == answers[0]["likes"] == 3181 and first.score_kind == "likes"
    assert (q1.question == title.replace("’", "'")).all() and (q1.category == "AskReddit").all()
    assert df[df.thread_id != "otvet:q1"].category.isna().all()  # no category there: the constant stays unset
    assert q1.drop_reason.isna().sum() == 1516 - int(q1.drop_reason.notna().sum()) > 1300
    report = publish(cfg, tmp_path / "data", push=False)
    sp = pd.concat(pq.read_table(f).to_pandas() for f in (report.path / "setup_punches").glob("*.parquet"))
    row = sp[sp.setup == title.replace("’", "'")].iloc[0]
    assert row.num_punchlines > 1300 and row.punchlines[0]["score"] == 3181
    pref = pd.concat(pq.read_table(f).to_pandas() for f in (report.path / "preference").glob("*.parquet"))
    assert set(pref.thread_id) == {"otvet:q1"}  # the unscored questions make no pairs
