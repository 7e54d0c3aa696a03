"""``table``: jokes from CSV / TSV / JSON / JSONL files through a column mapping.

The mapping (``columns``) names, for schema fields (``id``, ``text``, ``title``, ``body``, ``question``,
``answer``, ``score``, ``score_kind``, ``category``, ``created``, ``lang``), the column (or JSON key) holding
them. Configs for the Kaggle QA jokes CSV, the bfinan Q/A CSVs, CleanComedy EN (``;``) and RU (``,``) and an
Otvet@Mail.ru-style ``qa_data.jsonl`` are in ``configs/real-offline.toml`` and the README.

Rows are stored as read (every column, as strings for CSV); the mapping is applied in ``clean``. The
``source_id`` is the mapped ``id`` column, else a BLAKE2b-64 hash of the mapped text columns (``~2``, ``~3``
appended for repeats of the same text within a file), so ids survive reordering of the file.

Errors: a CSV whose header lacks a mapped column, or a JSON file whose first object lacks a mapped text key,
fails with the file and the missing column named. Rows that do not decode in ``encoding``, have the wrong
number of fields or are not JSON objects are quarantined with their line; when at least 10% of a file's rows
do not decode, the file is reported as probably in another encoding.
"""

from __future__ import annotations

import base64
import codecs
import csv
import hashlib
import io
import json
import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import ijson

from jokemine.config import TableSource
from jokemine.errors import SourceError
from jokemine.scrapers.base import BadItem, Event, Notice, RawItem, ReadContext, clip_raw
from jokemine.scrapers.files import ChunkStream, TruncatedError, iter_chunks, iter_utf8_chunks, walk_files

PARSER_VERSION = "table/1"
TEXT_FIELDS = ("text", "title", "body", "question", "answer")
_SURROGATE = re.compile("[\udc80-\udcff]")
csv.field_size_limit(16 * 1024 * 1024)


def iter_text_lines(path: Path, encoding: str) -> Iterator[str]:
    """Decoded lines of ``path`` with their ``\\n``; undecodable bytes become lone surrogates
    (``surrogateescape``) so the caller can quarantine exactly those rows. Splits on ``\\n`` only."""
    dec = codecs.getincrementaldecoder(encoding)("surrogateescape")
    buf = ""
    first = True
    for chunk in iter_chunks(path):
        buf += dec.decode(chunk)
        if first and buf:
            buf = buf.removeprefix("\ufeff")
            first = False
        if "\n" not in buf:
            continue
        *lines, buf = buf.split("\n")
        for line in lines:
            yield line + "\n"
    buf += dec.decode(b"", final=True)
    if buf:
        yield buf


class Table:
    """Reads the files of one ``table`` source (see the module docstring)."""

    parser_version = PARSER_VERSION

    def __init__(self, cfg: TableSource, base_dir: Path) -> None:
        self.cfg = cfg
        self.name = cfg.name
        self.files = cfg.files(base_dir)
        self.mapping = cfg.columns.mapped()
        self.text_columns = [self.mapping[f] for f in TEXT_FIELDS if f in self.mapping]
        self.stats: Counter[str] = Counter()

    track_ids = False

    def read(self, ctx: ReadContext) -> Iterator[Event]:
        """Yield the rows of every changed file, a checkpoint after each file."""
        yield from walk_files(self.files, ctx.cursors, ctx.force, self._read_file, self.stats, self.cfg.read_settings())

    # ---------------------------------------------------------------------------------------------------------
    def _read_file(self, path: Path) -> Iterator[Event]:
        fmt = self.cfg.format_for(path)
        rows = self._csv_rows(path, fmt) if fmt in ("csv", "tsv") else self._json_rows(path, fmt)
        seen: Counter[str] = Counter()
        n_rows = n_undecodable = 0
        first_bad_line: int | None = None
        for ev in rows:
            if isinstance(ev, RawItem):
                n_rows += 1
                row = ev.data
                if any(isinstance(v, str) and _SURROGATE.search(v) for v in row.values()):
                    n_undecodable += 1
                    first_bad_line = first_bad_line or ev.line
                    raw = "".join(str(v) for v in row.values()).encode("utf-8", "surrogateescape")
                    yield BadItem(
                        ev.origin,
                        ev.line,
                        f"bytes not valid in encoding {self.cfg.encoding!r}",
                        "base64:" + base64.b64encode(raw).decode("ascii"),
                        ev.unit,
                    )
                    continue
                ev.source_id = self._source_id(row, seen)
            yield ev
        if n_rows == 0:
            yield Notice(f"{path}: empty file (no data rows), nothing read")
        elif n_undecodable and n_undecodable >= max(1, n_rows // 10):
            yield Notice(
                f"{path}: {n_undecodable} of {n_rows} rows are not valid {self.cfg.encoding} (first at "
                f"line {first_bad_line}); set `encoding` for source {self.name!r} (e.g. 'cp1251')",
                "error",
            )
        elif n_undecodable:
            yield Notice(
                f"{path}: {n_undecodable} rows not valid {self.cfg.encoding} were quarantined "
                f"(first at line {first_bad_line})"
            )

    def _source_id(self, row: dict[str, Any], seen: Counter[str]) -> str:
        id_col = self.mapping.get("id")
        if id_col:
            value = row.get(id_col)
            if value is not None and str(value).strip():
                return str(value).strip()
        h = hashlib.blake2b(digest_size=8)
        for col in self.text_columns:
            h.update(str(row.get(col) or "").encode("utf-8", "surrogateescape"))
            h.update(b"\x1f")
        key = h.hexdigest()
        seen[key] += 1
        return key if seen[key] == 1 else f"{key}~{seen[key]}"

    def _csv_rows(self, path: Path, fmt: str) -> Iterator[Event]:
        origin = str(path)
        delimiter = self.cfg.delimiter or ("\t" if fmt == "tsv" else ",")
        consumed: list[str] = []

        def lines() -> Iterator[str]:
            for line in iter_text_lines(path, self.cfg.encoding):
                consumed.append(line)
                yield line

        reader = csv.reader(lines(), delimiter=delimiter, quotechar=self.cfg.quotechar)
        try:
            try:
                header = next(reader)
            except StopIteration:
                return
            missing = [f"{col!r} (for {field!r})" for field, col in self.mapping.items() if col not in header]
            if missing:
                raise SourceError(
                    f"{path}: line 1: mapped column {', '.join(missing)} not in the header "
                    f"{header!r} (delimiter {delimiter!r}); fix `columns` or `delimiter` for "
                    f"source {self.name!r}"
                )
            start = reader.line_num + 1
            consumed.clear()
            for values in reader:
                line, start = start, reader.line_num + 1
                raw_text = "".join(consumed)
                consumed.clear()
                if not values or values == [""]:
                    continue
                if len(values) != len(header):
                    yield BadItem(
                        origin,
                        line,
                        f"expected {len(header)} fields, found {len(values)}",
                        clip_raw(raw_text.encode("utf-8", "surrogateescape")),
                        "line",
                    )
                    continue
                yield RawItem("", dict(zip(header, values, strict=True)), origin, line, "line")
        except csv.Error as e:
            raise SourceError(f"{path}: line {reader.line_num}: CSV error: {e}") from None

    def _json_rows(self, path: Path, fmt: str) -> Iterator[Event]:
        origin = str(path)
        first = True
        replaced: Counter[str] = Counter()
        if fmt == "jsonl":  # decoded with `encoding`; undecodable bytes are caught per row by _read_file
            items: Iterator[tuple[int, Any, Any]] = (
                (n, *_loads(line)) for n, line in enumerate(iter_text_lines(path, self.cfg.encoding), 1) if line.strip()
            )
            unit = "line"
        else:
            chunks = iter_utf8_chunks(path, self.cfg.encoding, replaced)
            stream = io.BufferedReader(ChunkStream(chunks), buffer_size=1 << 20)
            items = ((n, obj, None) for n, obj in enumerate(ijson.items(stream, "item", use_float=True), 1))
            unit = "item"
        n = 0
        try:
            for n, obj, err in items:
                if err is not None:
                    yield BadItem(origin, n, err, clip_raw(obj), unit)  # type: ignore[arg-type]
                    continue
                if not isinstance(obj, dict):
                    yield BadItem(origin, n, f"expected a JSON object, got {type(obj).__name__}", clip_raw(obj), unit)  # type: ignore[arg-type]
                    continue
                if first:
                    first = False
                    missing = [c for f, c in self.mapping.items() if f in TEXT_FIELDS and c not in obj]
                    if missing and not any(c in obj for c in self.text_columns):
                        raise SourceError(
                            f"{path}: {unit} {n}: mapped key(s) {missing!r} not found; keys are "
                            f"{sorted(obj)!r}; fix `columns` for source {self.name!r}"
                        )
                yield RawItem("", obj, origin, n, unit)  # type: ignore[arg-type]
            if replaced["bytes"]:
                yield Notice(f"{path}: {replaced['bytes']} bytes not valid {self.cfg.encoding} were replaced by U+FFFD")
        except TruncatedError as e:
            yield Notice(f"{e}; kept the complete records before the cut", "error")
        except ijson.JSONError as e:
            yield Notice(f"{path}: invalid JSON after item {n}: {e}; kept the items before it", "error")


def _loads(line: str) -> tuple[Any, str | None]:
    try:
        return json.loads(line), None
    except ValueError as e:
        return line, f"not valid JSON: {e}"
