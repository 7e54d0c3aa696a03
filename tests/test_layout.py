"""The stable release layout (issue 18): files are frozen ranges of (first release, id), new rows go to new files,
small trailing files are merged, and an unchanged file is written byte for byte again."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pyarrow as pa

from jokemine.publish.layout import MAX_SMALL, FilePlan, plan_files, same_rows, write_file


def _keys(n: int, seq: int, start: int = 0) -> list[tuple[int, str]]:
    return [(seq, f"id{i:06d}") for i in range(start, start + n)]


def test_fresh_layout_cuts_max_rows_files() -> None:
    plans = plan_files(_keys(25, 0), [], max_rows=10, new_from=0)
    assert [(p.index, p.lo, p.hi) for p in plans] == [(0, 0, 10), (1, 10, 20), (2, 20, 25)]
    assert plans[1].first == (0, "id000010")


def test_old_rows_stay_in_their_ranges_new_rows_get_a_new_file() -> None:
    first = plan_files(_keys(25, 0), [], max_rows=10, new_from=0)
    previous = [(p.index, p.first) for p in first]
    # release 2: id000003 and id000017 deleted, 4 new rows (seq 1)
    old = [k for k in _keys(25, 0) if k[1] not in ("id000003", "id000017")]
    keys = old + _keys(4, 1, start=100)
    plans = plan_files(keys, previous, max_rows=10, new_from=1)
    spans = [(p.index, [k[1] for k in keys[p.lo : p.hi]]) for p in plans]
    assert [s[0] for s in spans] == [0, 1, 2, 3]
    assert len(spans[0][1]) == 9 and "id000003" not in spans[0][1] and spans[0][1][-1] == "id000009"
    assert len(spans[1][1]) == 9 and spans[1][1][0] == "id000010" and spans[1][1][-1] == "id000019"
    assert spans[2][1] == [f"id{i:06d}" for i in range(20, 25)]  # untouched range: the same rows
    assert spans[3][1] == [f"id{i:06d}" for i in range(100, 104)] and plans[3].first == (1, "id000100")


def test_a_range_emptied_by_deletions_disappears_and_keeps_no_name() -> None:
    first = plan_files(_keys(30, 0), [], max_rows=10, new_from=0)
    previous = [(p.index, p.first) for p in first]
    keys = [k for k in _keys(30, 0) if not "id000010" <= k[1] <= "id000019"]
    plans = plan_files(keys, previous, max_rows=10, new_from=1)
    assert [(p.index, p.hi - p.lo) for p in plans] == [(0, 10), (2, 10)]


def test_trailing_small_files_are_merged_past_max_small() -> None:
    max_rows = 80
    plans: list[FilePlan] = plan_files(_keys(80, 0), [], max_rows=max_rows, new_from=0)
    keys = _keys(80, 0)
    for night in range(1, MAX_SMALL + 2):  # one small file (5 rows, under 80 / 8) per night
        keys = keys + _keys(5, night, start=1000 * night)
        plans = plan_files(keys, [(p.index, p.first) for p in plans], max_rows=max_rows, new_from=night)
        if night <= MAX_SMALL:
            assert len(plans) == 1 + night
    # the ninth small file made the run too long: the nine are one file now, under a fresh index
    assert [(p.index, p.hi - p.lo) for p in plans] == [(0, 80), (MAX_SMALL + 2, 5 * (MAX_SMALL + 1))]


def test_a_file_written_twice_from_the_same_rows_is_byte_identical(tmp_path: Path) -> None:
    table = pa.table({"id": [f"x{i}" for i in range(5000)], "text": [f"joke number {i} " * 5 for i in range(5000)]})
    a, b = tmp_path / "a.parquet", tmp_path / "b.parquet"
    write_file(table, a)
    write_file(pa.concat_tables([table.slice(0, 2000), table.slice(2000)]), b)  # other chunking, same rows
    assert hashlib.sha256(a.read_bytes()).digest() == hashlib.sha256(b.read_bytes()).digest()
    import pyarrow.parquet as pq

    meta = pq.ParquetFile(a).metadata
    assert meta.num_rows == 5000 and meta.row_group(0).column(0).has_offset_index  # page index written


def test_same_rows_follows_the_rows_not_their_chunks(tmp_path: Path) -> None:
    table = pa.table(
        {"id": [f"x{i}" for i in range(3000)], "score": [float(i) if i % 7 else None for i in range(3000)]}
    )
    path = tmp_path / "a.parquet"
    write_file(table, path)
    assert same_rows(path, pa.concat_tables([table.slice(0, 1000), table.slice(1000)]))
    assert same_rows(path, pa.concat_tables([table, table]).slice(3000, 3000))  # a slice with an offset
    last = pa.array([float(i) if i % 7 else None for i in range(2999)] + [0.5])
    assert not same_rows(path, table.set_column(1, "score", last))
    assert not same_rows(path, table.slice(0, 2999))
    assert not same_rows(tmp_path / "missing.parquet", table)
