"""The table source on the real Q&A and CleanComedy files, an Otvet-style JSONL, and its failure paths."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from jokemine.config import TableSource
from jokemine.scrapers.base import BadItem, Checkpoint, Notice, RawItem, ReadContext
from jokemine.scrapers.table import Table

HERE = Path(__file__).parent


def _table(path: Path, **kw: object) -> Table:
    return Table(TableSource(name="t", kind="table", path=str(path), **kw), Path("/"))  # type: ignore[arg-type]


def _split(events: list[object]) -> tuple[list[RawItem], list[BadItem], list[Notice]]:
    return (
        [e for e in events if isinstance(e, RawItem)],
        [e for e in events if isinstance(e, BadItem)],
        [e for e in events if isinstance(e, Notice)],
    )


def test_kaggle_qa_jokes_csv(real: Path) -> None:
    path = real / "qa-jokes-jiriroz" / "jokes.csv"
    items, bad, notices = _split(
        list(_table(path, columns={"id": "ID", "question": "Question", "answer": "Answer"}).read(ReadContext()))
    )
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    assert len(items) + len(bad) == len(rows) - 1 == 38234
    assert items[0].source_id == "1" and items[0].data["Question"].startswith("Did you hear about the Native")
    assert items[0].line == 2
    # one real malformed row (unescaped quotes): quarantined with its line and original text
    assert [(b.line, b.error) for b in bad] == [(24, "expected 3 fields, found 5")]
    assert bad[0].raw == '23,Why does Santa have three gardens?, A: So he can ""hoe, hoe, hoe.""\n'
    assert not notices


def test_bfinan_csvs_get_content_hash_ids(real: Path) -> None:
    t = _table(real / "bfinan-qa-jokes" / "reddit_qa.csv", columns={"question": "Question", "answer": "Answer"})
    items, bad, _ = _split(list(t.read(ReadContext())))
    assert len(items) == 38269 and not bad
    ids = [i.source_id for i in items]
    assert len(set(ids)) == len(ids)
    again = [
        i.source_id
        for i in _split(
            list(
                _table(
                    real / "bfinan-qa-jokes" / "reddit_qa.csv",
                    columns={"question": "Question", "answer": "Answer"},
                ).read(ReadContext())
            )
        )[0]
    ]
    assert again == ids  # stable
    lb = _table(
        real / "bfinan-qa-jokes" / "lightbulbs.csv",
        columns={"question": "Question", "answer": "Answer", "category": "meta"},
    )
    items, _, _ = _split(list(lb.read(ReadContext())))
    assert len(items) == 2640 and items[0].data["meta"] == "type:tradlightbulb "


def test_cleancomedy_en_semicolon_and_ru_comma(real: Path) -> None:
    en, _, _ = _split(
        list(
            _table(
                real / "cleancomedy" / "clean_comedy_gold_en.csv",
                delimiter=";",
                columns={"text": "text", "score": "score"},
            ).read(ReadContext())
        )
    )
    assert len(en) == 1000
    assert en[0].data == {
        "text": "How do Frenchmen share files? Pierre to Pierre.",
        "score": "5.0",
        "score1": "5",
        "score2": "5",
        "score3": "5",
        "score4": "5",
        "score5": "5",
    }
    ru, _, _ = _split(
        list(
            _table(real / "cleancomedy" / "clean_comedy_gold_ru.csv", columns={"text": "text", "score": "score"}).read(
                ReadContext()
            )
        )
    )
    assert len(ru) == 1000
    assert ru[1].data["text"] == 'Знак "Осторожно, дети" надо ставить в самой школе.'


def test_otvet_style_jsonl_and_json_array(tmp_path: Path) -> None:
    cols = {"question": "question", "answer": "answer", "category": "category"}
    items, bad, _ = _split(list(_table(HERE / "data" / "otvet_qa_data.jsonl", columns=cols).read(ReadContext())))
    assert len(items) == 5 and not bad
    assert items[3].data["category"] == "Животные" and items[3].line == 4
    arr = tmp_path / "qa.json"
    arr.write_text(
        json.dumps([json.loads(line) for line in (HERE / "data" / "otvet_qa_data.jsonl").read_text().splitlines()])
    )
    items2, _, _ = _split(list(_table(arr, columns=cols).read(ReadContext())))
    assert [i.data for i in items2] == [i.data for i in items]
    assert [i.source_id for i in items2] == [i.source_id for i in items]  # content hash: same rows, same ids


def test_tsv_by_extension(tmp_path: Path) -> None:
    f = tmp_path / "jokes.tsv"
    f.write_text("joke\tlikes\nA horse walks into a bar, the bartender asks why the long face.\t12\n")
    items, _, _ = _split(list(_table(f, columns={"text": "joke", "score": "likes"}).read(ReadContext())))
    assert items[0].data == {
        "joke": "A horse walks into a bar, the bartender asks why the long face.",
        "likes": "12",
    }


def test_missing_mapped_column_names_file_and_column(real: Path) -> None:
    path = real / "qa-jokes-jiriroz" / "jokes.csv"
    events = list(_table(path, columns={"question": "Question", "answer": "Punchline"}).read(ReadContext()))
    assert len(events) == 2 and events[1] == Checkpoint({})
    msg = events[0].message  # type: ignore[attr-defined]
    assert msg.startswith(f"{path}: line 1: mapped column 'Punchline' (for 'answer') not in the header ")
    assert "['ID', 'Question', 'Answer']" in msg
    # the delimiter is sniffed (CleanComedy EN uses ';'); a wrong one set by hand reads as one column: the message
    # says so
    cc = real / "cleancomedy" / "clean_comedy_gold_en.csv"
    items, bad, _ = _split(list(_table(cc, columns={"text": "text"}).read(ReadContext())))
    assert len(items) == 1000 and not bad and set(items[0].data) == {"text", *(f"score{i}" for i in "12345"), "score"}
    events = list(_table(cc, delimiter=",", columns={"text": "text"}).read(ReadContext()))
    assert "not in the header ['text;score;score1;score2;score3;score4;score5'] (delimiter ',')" in (events[0].message)  # type: ignore[attr-defined]


def test_wrong_encoding_is_reported_and_rows_quarantined(real: Path, tmp_path: Path) -> None:
    src = real / "cleancomedy" / "clean_comedy_gold_ru.csv"
    cp = tmp_path / "ru_cp1251.csv"
    cp.write_bytes(src.read_text(encoding="utf-8").encode("cp1251"))
    items, bad, notices = _split(list(_table(cp, columns={"text": "text", "score": "score"}).read(ReadContext())))
    assert len(bad) + len(items) == 1000 and len(bad) > 900
    assert bad[0].line == 2 and bad[0].error == "bytes not valid in encoding 'utf-8'"
    assert bad[0].raw.startswith("base64:")
    assert len(notices) == 1 and notices[0].level == "error"
    assert notices[0].message.startswith(f"{cp}: {len(bad)} of 1000 rows are not valid utf-8 (first at line 2)")
    # with the right encoding the same file reads cleanly and equals the UTF-8 original
    ok, bad2, _ = _split(list(_table(cp, encoding="cp1251", columns={"text": "text"}).read(ReadContext())))
    ref, _, _ = _split(list(_table(src, columns={"text": "text"}).read(ReadContext())))
    assert not bad2 and [i.data for i in ok] == [i.data for i in ref]


def test_empty_and_header_only_files(tmp_path: Path) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    header = tmp_path / "header.csv"
    header.write_text("text\n")
    for f, shape in (
        (empty, "csv (delimiter ',', header row; from the extension)"),
        (header, "csv (delimiter ',', header row; from the extension)"),
    ):
        events = list(_table(f, columns={"text": "text"}).read(ReadContext()))
        # a file without records is an error, never an "ok" source (issue 20)
        assert events[0] == Notice(f"{f}: read as {shape}, it holds no records; check `format`/`records_path`", "error")


def test_jsonl_bad_lines_and_missing_key(tmp_path: Path) -> None:
    f = tmp_path / "qa.jsonl"
    f.write_text('{"q": "Why?", "a": "Because."}\nnot json\n["list"]\n{"q": "How?", "a": "So."}\n')
    items, bad, _ = _split(list(_table(f, columns={"question": "q", "answer": "a"}).read(ReadContext())))
    assert len(items) == 2
    assert [(b.line, b.error.split(":")[0]) for b in bad] == [
        (2, "not valid JSON"),
        (3, "expected a JSON object, got list"),
    ]
    events = list(_table(f, columns={"question": "question", "answer": "answer"}).read(ReadContext()))
    assert "line 1: mapped key(s) ['question', 'answer'] not found; keys are ['a', 'q']" in (events[0].message)  # type: ignore[attr-defined]


def test_repeated_rows_get_numbered_ids(tmp_path: Path) -> None:
    f = tmp_path / "dups.csv"
    f.write_text("q,a\nWhy?,Because.\nHow?,So.\nWhy?,Because.\nWhy?,Because.\n")
    items, _, _ = _split(list(_table(f, columns={"question": "q", "answer": "a"}).read(ReadContext())))
    ids = [i.source_id for i in items]
    assert ids[2] == ids[0] + "~2" and ids[3] == ids[0] + "~3" and "~" not in ids[1]


def test_jsonl_and_json_respect_encoding_and_bom(tmp_path: Path) -> None:
    rows = [json.loads(line) for line in (HERE / "data" / "otvet_qa_data.jsonl").read_text().splitlines()]
    cols = {"question": "question", "answer": "answer"}
    cp = tmp_path / "qa_cp1251.jsonl"
    cp.write_bytes("\n".join(json.dumps(r, ensure_ascii=False) for r in rows).encode("cp1251"))
    items, bad, notices = _split(list(_table(cp, columns=cols).read(ReadContext())))
    assert not items and len(bad) == 5 and notices[0].level == "error"
    assert "5 of 5 rows are not valid utf-8" in notices[0].message
    items, bad, _ = _split(list(_table(cp, columns=cols, encoding="cp1251").read(ReadContext())))
    assert [i.data for i in items] == rows and not bad
    bom = tmp_path / "qa_bom.json"
    bom.write_bytes(b"\xef\xbb\xbf" + json.dumps(rows, ensure_ascii=False).encode("utf-8"))
    items, _, notices = _split(list(_table(bom, columns=cols).read(ReadContext())))
    assert [i.data for i in items] == rows and not notices
    broken = tmp_path / "qa_bad_byte.json"
    broken.write_bytes(json.dumps(rows, ensure_ascii=False).encode("utf-8").replace("Мармелад".encode(), b"\xffM"))
    items, _, notices = _split(list(_table(broken, columns=cols).read(ReadContext())))
    assert len(items) == 5 and items[2].data["answer"].startswith("\ufffdM")  # the items after it survive
    assert notices == [Notice(f"{broken}: 1 bytes not valid utf-8 were replaced by U+FFFD")]


def test_changed_settings_read_the_file_again(real: Path) -> None:
    path = real / "cleancomedy" / "clean_comedy_gold_en.csv"
    t = _table(path, delimiter=";", columns={"text": "text"})
    cursors = next(e for e in t.read(ReadContext()) if isinstance(e, Checkpoint)).cursors
    assert list(_table(path, delimiter=";", columns={"text": "text"}).read(ReadContext(cursors))) == []
    changed = _table(path, delimiter=";", columns={"text": "text", "score": "score"})
    assert len([e for e in changed.read(ReadContext(cursors)) if isinstance(e, RawItem)]) == 1000
