"""reddit_dump on the real kampta/reddit-jokes dumps, and its failure paths."""

from __future__ import annotations

import gzip
import io
import json
import shutil
from pathlib import Path

import zstandard

from jokemine.config import RedditDumpSource
from jokemine.scrapers.base import BadItem, Checkpoint, Notice, RawItem, ReadContext
from jokemine.scrapers.reddit_dump import RedditDump

KAMPTA = "kampta-reddit-jokes"
U2028_IDS = {
    "wrcqb",
    "2m8bg3",
    "2rhamx",
    "2rtnfh",
    "2rtqp0",
    "2rtttg",
    "2xvefp",
    "2y7x66",
    "2yz1xs",
    "2zc2gm",
    "376iqy",
    "3kvnd4",
    "3myxy9",
    "3qyym5",
}


def _source(path: Path | list[Path], **kw: object) -> RedditDump:
    p = [str(x) for x in path] if isinstance(path, list) else str(path)
    return RedditDump(RedditDumpSource(name="t", kind="reddit_dump", path=p, **kw), Path("/"))


def _events(src: RedditDump) -> list[object]:
    return list(src.read(ReadContext()))


def _reference_lines(path: Path) -> list[bytes]:
    """Independent oracle: the zstd CLI-compatible stream reader, split on b'\\n' only."""
    dctx = zstandard.ZstdDecompressor(max_window_size=2**31)
    with open(path, "rb") as fh:
        data = dctx.stream_reader(fh).read()
    return [line for line in data.split(b"\n") if line]


def test_ndjson_zst_streams_every_post_and_keeps_u2028_records_intact(real: Path) -> None:
    path = real / KAMPTA / "r_jokes_submissions.ndjson.zst"
    events = _events(_source(path))
    items = [e for e in events if isinstance(e, RawItem)]
    assert len(items) == 91484
    assert not [e for e in events if isinstance(e, BadItem | Notice)]
    assert isinstance(events[-1], Checkpoint) and list(events[-1].cursors) == [f"file:{path}"]
    ref = _reference_lines(path)
    by_id = {i.source_id: i for i in items}
    found = 0
    for n, line in enumerate(ref, start=1):
        if b"\xe2\x80\xa8" in line:  # U+2028 in UTF-8
            obj = json.loads(line)
            assert obj["id"] in U2028_IDS
            assert by_id[obj["id"]].data == obj  # the whole record, not a fragment
            assert by_id[obj["id"]].line == n
            found += 1
    assert found == 14
    # str.splitlines() would have broken these records apart
    text = b"\n".join(ref).decode("utf-8")
    assert len(text.splitlines()) > len(ref)


def test_other_subreddits_and_subreddit_filter(real: Path) -> None:
    files = sorted((real / KAMPTA).glob("r_[!j]*_submissions.ndjson.zst"))
    assert len(files) == 4
    items = [e for e in _events(_source(files)) if isinstance(e, RawItem)]
    assert len(items) == 11347 + 1432 + 232 + 67
    src = _source(files, subreddits=["r/cleanjokes", "pun"])
    items = [e for e in _events(src) if isinstance(e, RawItem)]
    assert len(items) == 1432 + 67
    assert {i.data["subreddit"] for i in items} == {"cleanjokes", "pun"}
    assert src.stats["skipped_subreddit"] == 11347 + 232


def test_json_array_forms(real: Path) -> None:
    daily = real / KAMPTA / "raw_daily_samples" / "jokes_2011-01-01.json"
    expected = json.loads(daily.read_text(encoding="utf-8"))
    items = [e for e in _events(_source(daily)) if isinstance(e, RawItem)]
    assert [i.data for i in items] == expected
    assert [i.line for i in items] == list(range(1, len(expected) + 1)) and items[0].unit == "item"
    taivop = real / "reddit-jokes-sample" / "reddit_jokes_sample48.json"
    items = [e for e in _events(_source(taivop)) if isinstance(e, RawItem)]
    assert len(items) == 48
    assert items[0].source_id == "2fmzgo" and items[0].data["body"] == "Plagiarism. "


def test_truncated_zst_keeps_complete_lines_and_names_the_file(real: Path, tmp_path: Path) -> None:
    src_file = real / KAMPTA / "r_cleanjokes_submissions.ndjson.zst"
    cut = tmp_path / "cut.ndjson.zst"
    cut.write_bytes(src_file.read_bytes()[:100_000])
    dctx = zstandard.ZstdDecompressor(max_window_size=2**31)
    partial = dctx.stream_reader(io.BytesIO(cut.read_bytes())).read()
    complete = partial.count(b"\n")
    events = _events(_source(cut))
    items = [e for e in events if isinstance(e, RawItem)]
    assert len(items) == complete and complete > 500
    notices = [e for e in events if isinstance(e, Notice)]
    assert len(notices) == 1 and notices[0].level == "error"
    assert str(cut) in notices[0].message and "truncated zstd file" in notices[0].message
    bad = [e for e in events if isinstance(e, BadItem)]
    assert len(bad) == 1 and bad[0].raw == partial.rsplit(b"\n", 1)[1].decode("utf-8", "replace")
    # not marked done; the next run of this same file resumes after the stored lines
    cursor = events[-1].cursors[f"file:{cut}"]  # type: ignore[attr-defined]
    assert cursor["lines"] == complete and cursor["partial_of"]["size"] == 100_000
    again = _events(_source(cut))
    assert [e for e in _source(cut).read(ReadContext(events[-1].cursors)) if isinstance(e, RawItem)] == []  # type: ignore[attr-defined]
    assert len([e for e in again if isinstance(e, RawItem)]) == complete  # without the cursor: all again


def test_bad_json_line_is_quarantined_with_its_line(real: Path, tmp_path: Path) -> None:
    lines = _reference_lines(real / KAMPTA / "r_pun_submissions.ndjson.zst")
    f = tmp_path / "pun.ndjson"
    f.write_bytes(b"\n".join([*lines[:10], b'{"id": "x", "title": "cut', *lines[10:], b"[1, 2]", b""]))
    events = _events(_source(f))
    bad = [e for e in events if isinstance(e, BadItem)]
    assert [(b.line, b.error.split(":")[0]) for b in bad] == [
        (11, "not valid JSON"),
        (69, "expected a JSON object, got list"),
    ]
    assert bad[0].raw == '{"id": "x", "title": "cut'
    assert len([e for e in events if isinstance(e, RawItem)]) == 67


def test_gzip_empty_missing_and_directory(real: Path, tmp_path: Path) -> None:
    lines = _reference_lines(real / KAMPTA / "r_pun_submissions.ndjson.zst")
    gz = tmp_path / "pun.ndjson.gz"
    gz.write_bytes(gzip.compress(b"\n".join(lines)))
    assert len([e for e in _events(_source(gz)) if isinstance(e, RawItem)]) == 67
    empty = tmp_path / "empty.ndjson"
    empty.write_bytes(b"")
    events = _events(_source(empty))
    assert events[0] == Notice(f"{empty}: empty file, nothing read", "warning")
    missing = tmp_path / "nope.zst"
    events = _events(_source(missing))
    assert events == [Notice(f"{missing}: no such file (check the source's 'path')", "error")]
    events = _events(_source(tmp_path))
    assert events[0] == Notice(f"{tmp_path}: is a directory, expected a file", "error")
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    under_a_file = text / "dump.zst"
    events = _events(_source(under_a_file))
    assert events == [Notice(f"{under_a_file}: cannot read: Not a directory", "error")]
    events = _events(_source(text))
    assert "not a Reddit dump: content starts with b'h'" in events[0].message  # type: ignore[attr-defined]


def test_unchanged_file_is_skipped_by_cursor(real: Path, tmp_path: Path) -> None:
    f = tmp_path / "pun.zst"
    shutil.copy(real / KAMPTA / "r_pun_submissions.ndjson.zst", f)
    src = _source(f)
    cursors = next(e for e in _events(src) if isinstance(e, Checkpoint)).cursors
    src2 = _source(f)
    assert list(src2.read(ReadContext(cursors))) == []
    assert src2.stats["files_unchanged"] == 1
    assert len([e for e in src2.read(ReadContext(cursors, force=True)) if isinstance(e, RawItem)]) == 67
