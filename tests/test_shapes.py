"""Issue 20: every common joke-file shape read by config alone, on the real files of ../shared/data/extra and on real
texts written in every other shape; counts checked against the origin, ids per file, one text pipeline."""

from __future__ import annotations

import bz2
import csv
import gzip
import io
import json
import lzma
import sqlite3
import tarfile
import zipfile
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import zstandard

from jokemine.cleaning.parse import ParseContext, parse_envelope
from jokemine.cleaning.stage import steps_for
from jokemine.cleaning.text import fix_text
from jokemine.config import CleanConfig, Config, TableSource, load_config
from jokemine.pipeline.steps import Stats, run_steps
from jokemine.scrapers.base import BadItem, Notice, RawItem, ReadContext
from jokemine.scrapers.run import scrape
from jokemine.scrapers.table import Table

from .conftest import write_config

REPO = Path(__file__).resolve().parents[1]
EXTRA_CONFIG = REPO / "configs" / "extra-files.toml"
CC_EN = Path("cleancomedy") / "clean_comedy_gold_en.csv"
csv.field_size_limit(1 << 30)


def _cc(real: Path, n: int) -> list[dict[str, str]]:
    with open(real / CC_EN, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh, delimiter=";"))[:n]


def _extra_cfg() -> Config:
    return load_config(EXTRA_CONFIG)


def _read(src: Any, base: Path = Path("/")) -> tuple[list[RawItem], list[BadItem], list[Notice]]:
    events = list(Table(src, base).read(ReadContext()))
    return (
        [e for e in events if isinstance(e, RawItem)],
        [e for e in events if isinstance(e, BadItem)],
        [e for e in events if isinstance(e, Notice)],
    )


def _table(path: Path | str, **kw: Any) -> TableSource:
    return TableSource(name="t", kind="table", path=str(path), **kw)


def _records(src: TableSource, items: list[RawItem], steps: bool = False) -> list[dict[str, Any]]:
    """Raw items -> schema records (parse), and through the source's pass-1 steps when ``steps``."""
    ctx = ParseContext(src, "salt")
    out = []
    for it in items:
        env = {"source_id": it.source_id, "data": it.data, "origin": it.origin, "fetched_at": None}
        recs = parse_envelope(env, ctx, it.origin)
        if steps:
            recs = list(run_steps(recs, steps_for(src, CleanConfig()), Stats()))
        out.extend(recs)
    return out


# --- the real files of ../shared/data/extra, by configs/extra-files.toml ---------------------------------------
def test_every_extra_json_and_csv_file_reads_in_full(extra: Path) -> None:
    cfg = _extra_cfg()
    origin: dict[str, int] = {
        "stupidstuff": len(json.loads((extra / "taivop-joke-dataset/stupidstuff.json").read_text())),
        "top_reddit": len(json.loads((extra / "supvolume-top-reddit/top_reddit_joke.json").read_text())["title"]),
        "official_joke_api": len(json.loads((extra / "official-joke-api/index.json").read_text())),
        "baneks": len(json.loads((extra / "baneks-ru/baneks_ru_data.json").read_text())),
    }
    with open(extra / "alishahed-rjokes-2023/reddit_jokes_slim_plus18.csv", newline="") as fh:
        origin["rjokes_2023"] = sum(1 for _ in csv.DictReader(fh))
    short = sorted((extra / "short-jokes-dataset").glob("*.csv"))
    per_file = {}
    for f in short:
        with open(f, newline="") as fh:
            per_file[f.name] = sum(1 for _ in csv.DictReader(fh))
    origin["short_jokes"] = sum(per_file.values())
    assert origin == {
        "stupidstuff": 3773,
        "top_reddit": 997,
        "official_joke_api": 451,
        "baneks": 1142,
        "rjokes_2023": 5639,
        "short_jokes": 19251,
    }
    for name, n in origin.items():
        items, bad, notices = _read(cfg.source(name), cfg.base_dir)
        assert (len(items), bad, [x for x in notices if x.level == "error"]) == (n, [], []), name
    # four CSVs whose ID restarts at 1: ids are per file, so no two different jokes share one (was 9,266 merged)
    items, _, _ = _read(cfg.source("short_jokes"), cfg.base_dir)
    ids = [i.source_id for i in items]
    assert len(set(ids)) == len(ids) == 19251
    assert {i.split(":")[0] for i in ids} == set(per_file) and "funjokes.csv:1" in ids and "joke-db.csv:1" in ids
    recs = _records(cfg.source("short_jokes"), items)
    assert Counter(r["category"] for r in recs) == {Path(k).stem: v for k, v in per_file.items()}


def test_parallel_lists_json_maps_every_reddit_field(extra: Path) -> None:
    cfg = _extra_cfg()
    src = cfg.source("top_reddit")
    items, _, _ = _read(src, cfg.base_dir)
    lists = json.loads((extra / "supvolume-top-reddit/top_reddit_joke.json").read_text())
    recs = _records(src, items)
    assert [r["_raw_title"] for r in recs] == lists["title"]
    assert sum(r["nsfw_over_18"] is True for r in recs) == Counter(lists["over_18"])[True] == 203
    assert [r["num_comments"] for r in recs] == lists["comms_num"]
    assert [r["url"] for r in recs] == lists["url"]
    assert recs[0]["created_at"].isoformat() == "2020-02-20T09:51:00+00:00"
    assert all(r["author_hash"] and r["author_hash"] not in lists["author"] for r in recs)  # hashed, never raw


def test_setup_punchline_columns_and_html_line_breaks(extra: Path) -> None:
    cfg = _extra_cfg()
    src = cfg.source("official_joke_api")
    recs = _records(src, _read(src, cfg.base_dir)[0], steps=True)
    api = json.loads((extra / "official-joke-api/index.json").read_text())
    assert [(r["setup"], r["punchline"]) for r in recs] == [
        (fix_text(j["setup"]), fix_text(j["punchline"])) for j in api
    ]
    assert Counter(r["structure"] for r in recs) == {"setup_columns": 451}
    n_questions = sum(j["setup"].rstrip().endswith("?") for j in api)
    assert Counter(r["kind"] for r in recs) == {"qa": n_questions, "setup_punch": 451 - n_questions}
    # baneks.ru: <br/> becomes a line break, so dialogue jokes split at their turns
    src = cfg.source("baneks")
    items, _, _ = _read(src, cfg.base_dir)
    raw = json.loads((extra / "baneks-ru/baneks_ru_data.json").read_text())
    recs = _records(src, items, steps=True)
    assert len(recs) == 1142 and not any("<br" in (r["text"] or "") for r in recs)
    assert sum("\n" in (r["text"] or "") for r in recs) == sum("<br" in t for t in raw) == 931
    assert recs[0]["text"] == '— Скажите, а это ваш "Ягуар" стоит около выхода?\n— Да.\n— Я допью?'
    assert (recs[0]["setup"], recs[0]["punchline"]) == (
        '— Скажите, а это ваш "Ягуар" стоит около выхода?\n— Да.',
        "— Я допью?",
    )
    assert sum(r["structure"] == "dialogue" for r in recs) > 700


def test_caption_contest_archive_member_by_member(extra: Path) -> None:
    cfg = _extra_cfg()
    src = cfg.source("newyorker_captions")
    tar_path = extra / "newyorker-caption-contest/summaries.tar.zst"
    with open(tar_path, "rb") as fh:
        data = zstandard.ZstdDecompressor().stream_reader(fh).read()
    per_member: dict[str, int] = {}
    with tarfile.open(fileobj=io.BytesIO(data)) as tf:
        for m in tf.getmembers():
            if m.isfile() and m.name.startswith("summaries/") and m.name.endswith(".csv"):
                rows = list(csv.DictReader(io.StringIO(tf.extractfile(m).read().decode())))  # type: ignore[union-attr]
                per_member[m.name] = len(rows)
    assert len(per_member) == 199
    items, bad, notices = _read(src, cfg.base_dir)
    assert not bad and not [n for n in notices if n.level == "error"]
    got = Counter(i.origin.split("::")[1] for i in items)
    assert got == per_member and sum(got.values()) == 1_081_771
    assert {Path(o.split("::")[0]).resolve() for o in {i.origin for i in items}} == {tar_path.resolve()}
    # score = mean vote (funny 3, somewhat 2, unfunny 1), equal to the contest's own `score` column; counts kept
    member = [i for i in items if i.origin.endswith("::summaries/600_summary_KLUCB.csv")]
    with open(extra / "newyorker-caption-contest/600_summary_KLUCB.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    recs = _records(src, member)
    assert len(recs) == len(rows) == 6043
    assert [r["_raw_punchline"] for r in recs] == [r["caption"] for r in rows]
    assert {r["_raw_setup"] for r in recs} == {"New Yorker Cartoon Caption Contest #600"}  # one setup per contest
    assert {r["thread_id"] for r in recs} == {"newyorker_captions:600"}
    assert all(r["score"] == pytest.approx(float(row["score"])) for r, row in zip(recs, rows, strict=True))
    assert recs[0]["vote_counts"] == [
        {"label": "funny", "count": 923},
        {"label": "somewhat_funny", "count": 1},
        {"label": "unfunny", "count": 0},
    ]
    assert {r["score_kind"] for r in recs} == {"caption_votes"}
    assert {r["category"] for r in recs} == {"contest 600_summary_KLUCB"}


def test_reddit_derived_csv_is_cleaned_like_the_same_posts_from_a_dump(extra: Path, tmp_path: Path) -> None:
    from jokemine.config import RedditDumpSource

    cfg = _extra_cfg()
    src = cfg.source("rjokes_2023")
    items, _, _ = _read(src, cfg.base_dir)
    from_table = _records(src, items, steps=True)
    with open(extra / "alishahed-rjokes-2023/reddit_jokes_slim_plus18.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    dump = tmp_path / "posts.ndjson"
    with dump.open("w") as out:
        for r in rows:
            post = {
                "id": r["thread_id"],
                "title": r["thread_title"],
                "selftext": r["thread_selftext"],
                "score": int(r["thread_score"]),
                "num_comments": int(r["thread_num_comments"]),
                "created_utc": r["thread_created_utc"],
                "upvote_ratio": float(r["thread_upvote_ratio"]),
                "over_18": r["thread_over_18"] == "True",
            }
            out.write(json.dumps(post) + "\n")
    dsrc = RedditDumpSource(name="d", kind="reddit_dump", path=str(dump))
    from jokemine.scrapers.reddit_dump import RedditDump

    ditems = [e for e in RedditDump.from_config(dsrc, tmp_path, cfg.http).read(ReadContext()) if isinstance(e, RawItem)]
    from_dump = _records(dsrc, ditems, steps=True)
    fields = ("title", "body", "text", "setup", "punchline", "kind", "structure", "drop_reason", "score",
              "nsfw_over_18", "upvote_ratio", "num_comments", "created_at")  # fmt: skip
    assert len(from_table) == len(from_dump) == 5639
    assert [tuple(r[f] for f in fields) for r in from_table] == [tuple(r[f] for f in fields) for r in from_dump]
    edits = sum("edit" in r["thread_selftext"].lower() for r in rows)
    assert edits == 72 and not any("EDIT:" in (r["text"] or "") for r in from_table)
    assert sum(r["drop_reason"] == "removed" for r in from_table) == 11


# --- every other shape, written from real texts --------------------------------------------------------------
@pytest.fixture(scope="module")
def cc_rows(real: Path) -> list[dict[str, str]]:
    """200 real CleanComedy EN jokes with their scores."""
    return [{"text": r["text"], "score": r["score"]} for r in _cc(real, 200)]


def _texts_scores(src: TableSource, items: list[RawItem]) -> list[tuple[str, float | None]]:
    return [(r["_raw_text"], r["score"]) for r in _records(src, items)]


def _write_shapes(tmp: Path, rows: list[dict[str, str]]) -> dict[str, tuple[Path, dict[str, Any]]]:
    """name -> (file, source options) for one shape each; every file holds the same 200 jokes."""
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq
    import yaml

    df = pd.DataFrame(rows)
    texts = [r["text"] for r in rows]
    cols: dict[str, Any] = {"columns": {"text": "text", "score": "score"}}
    out: dict[str, tuple[Path, dict[str, Any]]] = {}

    def put(name: str, content: bytes | str, **opts: Any) -> None:
        p = tmp / name
        p.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
        out[name] = (p, opts or cols)

    put("records.json", json.dumps(rows))
    put("parallel.json", json.dumps({"text": texts, "score": [r["score"] for r in rows]}))
    put("pandas_columns.json", df.to_json())  # pandas' default orient: {column: {index: value}}
    put("pandas_index.json", df.to_json(orient="index"))
    put("pandas_split.json", df.to_json(orient="split"))
    put("wrapped.json", json.dumps({"meta": {"n": 200}, "data": {"items": rows}}))
    put("wrapped_path.json", json.dumps({"a": [1], "data": {"items": rows}}), records_path="data.items", **cols)
    put("strings.json", json.dumps(texts), columns={"text": "."})
    put("arrays.json", json.dumps([[r["text"], r["score"]] for r in rows]), columns={"text": "1", "score": "2"})
    put("nested.json", json.dumps([{"joke": {"text": r["text"]}, "meta": {"score": r["score"]}} for r in rows]),
        columns={"text": "joke.text", "score": "meta.score"})  # fmt: skip
    put("lines.jsonl", "\n".join(json.dumps(r) for r in rows) + "\n")
    semi = io.StringIO()
    csv.writer(semi, delimiter=";").writerows([r["text"], r["score"]] for r in rows)
    put("noheader.csv", semi.getvalue(), columns={"text": "1", "score": "2"})
    put("piped.txt.csv", df.to_csv(sep="|", index=False))
    put("tabbed.tsv", df.to_csv(sep="\t", index=False))
    buf = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(rows), buf)
    put("table.parquet", buf.getvalue())
    one_line = [t.replace("\n", " ") for t in texts]
    put("lines.txt", "\n".join(one_line) + "\n", columns={"text": "."})
    put("blocks.txt", "\n\n".join(texts) + "\n", columns={"text": "."})
    put("fortune", "\n%\n".join(texts) + "\n%\n", columns={"text": "."})
    put("cards.txt", "\n\n".join(f"Joke: {r['text']}\nScore: {r['score']}" for r in rows) + "\n",
        columns={"text": "Joke", "score": "Score"})  # fmt: skip
    xml = "".join(f'<joke score="{r["score"]}"><text>{_esc(r["text"])}</text></joke>' for r in rows)
    put("jokes.xml", f'<?xml version="1.0"?>\n<jokes>{xml}</jokes>', columns={"text": "text", "score": "@score"})
    put("list.yaml", yaml.safe_dump(rows, allow_unicode=True))
    put("docs.yml", yaml.safe_dump_all(rows, allow_unicode=True))
    db = tmp / "jokes.sqlite"
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE jokes (text TEXT, score REAL)")
    con.executemany("INSERT INTO jokes VALUES (?, ?)", [(r["text"], float(r["score"])) for r in rows])
    con.commit()
    con.close()
    out["jokes.sqlite"] = (db, cols)
    body = json.dumps(rows).encode()
    put("records.json.gz", gzip.compress(body))
    put("records.json.zst", zstandard.ZstdCompressor().compress(body))
    put("records.json.bz2", bz2.compress(body))
    put("records.json.xz", lzma.compress(body))
    return out


def _esc(s: str) -> str:
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def test_every_shape_reads_the_same_jokes(cc_rows: list[dict[str, str]], tmp_path: Path) -> None:
    expected = [(r["text"], float(r["score"])) for r in cc_rows]
    one_line = [(t.replace("\n", " ").strip(), None) for t, _ in expected]
    shapes = _write_shapes(tmp_path, cc_rows)
    assert len(shapes) == 27
    found = {}
    for name, (path, opts) in shapes.items():
        src = _table(path, **opts)
        reader = Table(src, Path("/"))
        events = list(reader.read(ReadContext()))
        items = [e for e in events if isinstance(e, RawItem)]
        bad = [e for e in events if isinstance(e, BadItem)]
        notices = [e for e in events if isinstance(e, Notice)]
        assert not bad and not [n for n in notices if n.level == "error"], (name, bad[:1], notices)
        got = _texts_scores(src, items)
        want = one_line if name == "lines.txt" else expected
        if name in ("strings.json", "blocks.txt", "fortune"):
            want = [(t, None) for t, _ in expected]
        assert [(t.strip(), sc) for t, sc in got] == [(t.strip(), sc) for t, sc in want], name
        found[name] = reader.stats
    kinds = {
        name: next(k for k in stats if k.startswith("files_") and k != "files_read") for name, stats in found.items()
    }
    assert kinds["parallel.json"] == kinds["pandas_index.json"] == "files_json"
    assert kinds["fortune"] == kinds["cards.txt"] == "files_text" and kinds["docs.yml"] == "files_yaml"
    assert kinds["noheader.csv"] == kinds["piped.txt.csv"] == "files_csv" and kinds["table.parquet"] == "files_parquet"


def test_shape_detection_reports_how(cc_rows: list[dict[str, str]], tmp_path: Path) -> None:
    from jokemine.scrapers.shapes import ShapeOptions, detect

    shapes = _write_shapes(tmp_path, cc_rows)
    got = {n: detect(p, ShapeOptions()).describe() for n, (p, _) in shapes.items()}
    assert got["noheader.csv"] == "csv (delimiter ';', header row; from the extension)"
    assert got["piped.txt.csv"] == "csv (delimiter '|', header row; from the extension)"
    assert got["fortune"] == "text (split by marker; from the content)"
    assert got["blocks.txt"] == "text (split by blank line; from the extension)"
    assert got["cards.txt"] == "text (split by fields; from the extension)"
    assert got["lines.jsonl"] == got["pandas_index.json"].replace("json", "jsonl") == "jsonl (from the content)"
    assert got["jokes.xml"] == "xml (from the content)" and got["table.parquet"] == "parquet (from the content)"
    assert got["records.json.zst"] == "json (from the content)"
    # JSON lines named .json are read as JSON lines: the content decides
    jl = tmp_path / "lines_named.json"
    jl.write_text("\n".join(json.dumps(r) for r in cc_rows[:3]) + "\n")
    items, _, notices = _read(_table(jl, columns={"text": "text"}))
    assert len(items) == 3 and not notices


def test_archives_each_member_a_file_of_its_own(cc_rows: list[dict[str, str]], tmp_path: Path) -> None:
    parts = [cc_rows[:70], cc_rows[70:140], cc_rows[140:]]
    blobs = {}
    for i, rows in enumerate(parts, 1):
        s = io.StringIO()
        w = csv.writer(s)
        w.writerow(["id", "text", "score"])
        w.writerows([n, r["text"], r["score"]] for n, r in enumerate(rows, 1))  # ids restart in every member
        blobs[f"data/part{i}.csv"] = s.getvalue().encode()
    blobs["LICENSE.txt"] = b"CC BY 4.0\n"
    blobs["data/README.md"] = b"# about\n"
    zpath = tmp_path / "jokes.zip"
    with zipfile.ZipFile(zpath, "w") as z:
        for name, b in blobs.items():
            z.writestr(name, b)
    tbuf = io.BytesIO()
    with tarfile.open(fileobj=tbuf, mode="w") as tf:
        for name, b in blobs.items():
            info = tarfile.TarInfo(name)
            info.size = len(b)
            tf.addfile(info, io.BytesIO(b))
    (tmp_path / "jokes.tar").write_bytes(tbuf.getvalue())
    (tmp_path / "jokes.tar.gz").write_bytes(gzip.compress(tbuf.getvalue()))
    (tmp_path / "jokes.tar.zst").write_bytes(zstandard.ZstdCompressor().compress(tbuf.getvalue()))
    cols = {"id": "id", "text": "text", "score": "score"}
    for name in ("jokes.zip", "jokes.tar", "jokes.tar.gz", "jokes.tar.zst"):
        t = Table(_table(tmp_path / name, columns=cols), Path("/"))
        events = list(t.read(ReadContext()))
        items = [e for e in events if isinstance(e, RawItem)]
        assert len(items) == 200 and not [e for e in events if isinstance(e, BadItem | Notice)], name
        assert [i.source_id for i in items[:2]] == ["data/part1.csv:1", "data/part1.csv:2"]
        assert len({i.source_id for i in items}) == 200  # ids 1..70 in three members: kept apart
        assert items[70].origin == f"{tmp_path / name}::data/part2.csv" and items[70].line == 2
        assert (t.stats["archive_members_read"], t.stats["archive_members_skipped"]) == (3, 2)
    # a member glob picks members; one that matches nothing fails naming the members
    items, _, _ = _read(_table(tmp_path / "jokes.tar.zst", columns=cols, members="*/part2.csv"))
    assert len(items) == 70
    _, _, notices = _read(_table(tmp_path / "jokes.zip", columns=cols, members="*.parquet"))
    assert notices == [
        Notice(
            f"{tmp_path / 'jokes.zip'}: no member of the zip archive matches `members` = '*.parquet' (members: "
            "data/part1.csv, data/part2.csv, data/part3.csv, LICENSE.txt, data/README.md)",
            "error",
        )
    ]


def test_varying_fields_escapes_sidecar_votes_and_constants(real: Path, tmp_path: Path) -> None:
    texts = _cc(real, 4)
    rows = [
        {"id": 1, "joke": texts[0]["text"].replace("\n", "\\n"), "score": "12", "tags": "pun, dad", "ts": 1600000000},
        {"id": "2", "joke": texts[1]["text"], "score": 7, "tags": ["animals"], "ts": "2021-03-04T05:06:07Z"},
        {"id": 3, "joke": texts[2]["text"], "score": None, "ts": "Tue, 05 Jan 2021 10:00:00 +0000", "up": 9, "down": 2},
        {"id": 4.0, "joke": texts[3]["text"], "ts": "05.01.2021", "nsfw": "yes"},
    ]
    f = tmp_path / "varied.json"
    f.write_text(json.dumps(rows))
    side = tmp_path / "labels.csv"
    side.write_text("joke_id,category\n1,wordplay\n4,dark\n")
    src = _table(
        f,
        columns={"id": "id", "text": "joke", "score": "score", "tags": "tags", "created": "ts", "votes_up": "up",
                 "votes_down": "down", "nsfw": "nsfw"},
        join={"path": str(side), "on": "joke_id", "columns": {"category": "category"}},
        constants={"lang": "en"},
    )  # fmt: skip
    items, bad, _ = _read(src)
    assert not bad
    recs = _records(src, items)
    assert recs[0]["_raw_text"] == texts[0]["text"]  # "\n" escapes decoded
    assert [r["score"] for r in recs] == [12.0, 7.0, 7.0, None]  # the third from votes_up - votes_down
    assert [r["score_kind"] for r in recs] == [None, None, "net_votes", None]
    assert [r["tags"] for r in recs] == [["pun", "dad"], ["animals"], [], []]
    assert [r["created_at"].date().isoformat() for r in recs] == [
        "2020-09-13",
        "2021-03-04",
        "2021-01-05",
        "2021-01-05",
    ]
    assert [r["category"] for r in recs] == ["wordplay", None, None, "dark"]
    assert [r["nsfw_over_18"] for r in recs] == [None, None, None, True] and {r["lang"] for r in recs} == {"en"}


def test_a_source_that_loses_its_rows_fails_with_one_line(real: Path, tmp_path: Path) -> None:
    texts = [r["text"] for r in _cc(real, 5)]
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n" + "".join(f'"{t.splitlines()[0]}",1,2\n' for t in texts))  # every row one field too many
    junk = tmp_path / "junk.bin"
    junk.write_bytes(bytes(range(256)) * 40)
    body = f"""
[paths]
data_dir = "data"
[[sources]]
name = "rows"
kind = "table"
path = "{bad}"
columns = {{ text = "a" }}
[[sources]]
name = "junk"
kind = "table"
path = "{junk}"
"""
    cfg = load_config(write_config(tmp_path / "jm.toml", body))
    reports = {r.name: r for r in scrape(cfg, cfg.data_dir(), progress=False)}
    assert (reports["rows"].status, reports["rows"].bad) == ("failed", 5)
    assert reports["rows"].errors == [
        f"{bad}: 5 of 5 records could not be read and were quarantined (first: line 2: expected 2 fields, found 3); "
        "check the source's format, columns and encoding"
    ]
    assert reports["junk"].status == "failed"
    assert reports["junk"].errors == [
        f"{junk}: binary content of no format jokemine reads (expected JSON, JSON lines, CSV/TSV, text, XML, YAML, "
        "Parquet or SQLite, plain or compressed, or a .zip/.tar archive of them)"
    ]


def test_sources_inspect_suggests_a_config_that_reads_the_file(extra: Path, tmp_path: Path) -> None:
    import subprocess
    import sys

    path = extra / "alishahed-rjokes-2023/reddit_jokes_slim_plus18.csv"
    r = subprocess.run(
        [sys.executable, "-m", "jokemine", "sources", "inspect", str(path)], capture_output=True, text=True, cwd=REPO
    )
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert "  shape: csv (delimiter ',', header row; from the extension)\n  records: 5,639 (5,639 objects)\n" in out
    assert "    thread_title: 100%, 'The Turks invented sex'\n" in out
    block = out.split("suggested config (check the columns):\n", 1)[1]
    assert 'markup = "reddit"' in block
    assert (
        'columns = { id = "thread_id", title = "thread_title", body = "thread_selftext", score = "thread_score", '
        'upvote_ratio = "thread_upvote_ratio", num_comments = "thread_num_comments", created = "thread_created_utc", '
        'nsfw = "thread_over_18" }' in block
    )
    # the suggested block, pasted into a config, reads every row
    cfg = load_config(write_config(tmp_path / "jm.toml", f'[paths]\ndata_dir = "data"\n{block}'))
    report = scrape(cfg, cfg.data_dir(), progress=False)[0]
    assert (report.status, report.records, report.bad) == ("ok", 5639, 0)
    # an archive: the mapping only names columns every member has (89 contests have no target_id)
    tar = extra / "newyorker-caption-contest/summaries.tar.zst"
    r = subprocess.run(
        [sys.executable, "-m", "jokemine", "sources", "inspect", str(tar)], capture_output=True, text=True, cwd=REPO
    )
    assert r.returncode == 0 and r.stdout.count("  shape: csv") == 20 and "... and 179 more members" in r.stdout
    assert (
        'columns = { text = "caption", votes = { funny = "funny", somewhat_funny = "somewhat_funny", '
        'unfunny = "unfunny" } }' in r.stdout
    )
