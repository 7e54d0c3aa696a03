"""``table``: jokes from CSV / TSV / JSON / JSONL files through a column mapping.

The mapping (``columns``) names, for schema fields (``id``, ``text``, ``title``, ``body``, ``question``,
``answer``, ``score``, ``score_kind``, ``category``, ``created``, ``lang``), the column (or JSON key) holding
them. Configs for the Kaggle QA jokes CSV, the bfinan Q/A CSVs, CleanComedy EN (``;``) and RU (``,``) and an
Otvet@Mail.ru-style ``qa_data.jsonl`` are in ``configs/real-offline.toml`` and the README.

Rows are stored as read (every column, as strings for CSV); the mapping is applied in ``clean``. The
``source_id`` is the mapped ``id`` column, else a BLAKE2b-64 hash of the mapped text columns (``~2``, ``~3``
appended for repeats of the same text within a file), so ids survive reordering of the file.

Id collisions (README "Ids of table rows"). A mapped id seen again with the same text is a re-read (clean keeps one
record, ``merged_same_id``); seen again in the same file in a later run with another text, an edit (the newest
text wins). Seen again with another text in the same read of a file, or in another file, it is a collision: the
row is kept as a record of its own under ``<id>~<BLAKE2b-64 of its text>``, marked ``note = "id_collision"``,
counted (``id_collisions``) and reported with a warning naming the file, the first line and the id. The file and
text digest of every stored id are kept in ``state.sqlite`` (:class:`jokemine.scrapers.base.RowIds`), so a file
added in a later run is checked against the files read before.

Encoding: a byte order mark (UTF-8, UTF-16, UTF-32) decides the encoding of its file, whatever ``encoding`` says
(as in the HTML standard's sniffing); a file full of NUL bytes without one is reported as probably UTF-16.

Errors: a CSV whose header lacks a mapped column, or a JSON file whose first object lacks a mapped text key,
fails with the file and the missing column named; a ``json`` file that holds one object instead of an array fails
naming its keys. Rows that do not decode in ``encoding``, have the wrong number of fields or are not JSON objects
are quarantined with their line; when at least 10% of a file's rows do not decode, the file is reported as
probably in another encoding.
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
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import ijson

from jokemine.cleaning.filters import record_steps
from jokemine.cleaning.parse import table_records
from jokemine.config import HttpConfig, TableSource
from jokemine.errors import SourceError
from jokemine.scrapers.base import BadItem, Event, Notice, RawItem, ReadContext, clip_raw
from jokemine.scrapers.files import (
    MAX_LINE_BYTES,
    ChunkStream,
    TruncatedError,
    guard_json_depth,
    iter_chunks,
    iter_utf8_chunks,
    sniff_encoding,
    walk_files,
)
from jokemine.scrapers.registry import register

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
    n = 0
    for chunk in iter_chunks(path):
        buf += dec.decode(chunk)
        if first and buf:
            buf = buf.removeprefix("\ufeff")
            first = False
        if "\n" not in buf:
            if len(buf) > MAX_LINE_BYTES:
                raise SourceError(f"{path}: line {n + 1} is longer than {MAX_LINE_BYTES >> 20} MiB characters")
            continue
        *lines, buf = buf.split("\n")
        n += len(lines)
        for line in lines:
            yield line + "\n"
    buf += dec.decode(b"", final=True)
    if buf:
        yield buf


@register("table", config=TableSource, parse=table_records, steps=record_steps, files=True)
class Table:
    """Reads the files of one ``table`` source (see the module docstring)."""

    parser_version = PARSER_VERSION

    @classmethod
    def from_config(cls, cfg: TableSource, base_dir: Path, http: HttpConfig) -> Table:
        """The reader of one configured source (:mod:`jokemine.scrapers.registry`)."""
        return cls(cfg, base_dir)

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
        self._row_ids = ctx.row_ids
        self._run_ids: dict[str, tuple[str, str]] = {}  # id -> (file, text digest), rows read by this run
        yield from walk_files(self.files, ctx.cursors, ctx.force, self._read_file, self.stats, self.cfg.read_settings())

    # ---------------------------------------------------------------------------------------------------------
    def _read_file(self, path: Path) -> Iterator[Event]:
        fmt = self.cfg.format_for(path)
        encoding = sniff_encoding(path, self.cfg.encoding)
        if _codec_family(encoding) != _codec_family(self.cfg.encoding):
            self.stats["files_encoding_from_bom"] += 1
            declared = self.cfg.encoding
            yield Notice(f"{path}: read as {encoding}: its byte order mark says so (`encoding` is {declared!r})")
        rows = self._csv_rows(path, fmt, encoding) if fmt in ("csv", "tsv") else self._json_rows(path, fmt, encoding)
        seen: Counter[str] = Counter()
        n_rows = n_undecodable = n_collisions = 0
        first_bad_line: int | None = None
        first_collision = ""
        file_key = str(path.resolve())
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
                        f"bytes not valid in encoding {encoding!r}",
                        "base64:" + base64.b64encode(raw).decode("ascii"),
                        ev.unit,
                    )
                    continue
                self._assign_id(ev, seen, file_key)
                if ev.note == "id_collision":
                    n_collisions += 1
                    first_collision = first_collision or f"{ev.unit} {ev.line}, id {ev.source_id.split('~')[0]!r}"
            yield ev
        if n_rows == 0:
            yield Notice(f"{path}: empty file (no data rows), nothing read")
        elif n_undecodable and n_undecodable >= max(1, n_rows // 10):
            yield Notice(
                f"{path}: {n_undecodable} of {n_rows} rows are not valid {encoding} (first at "
                f"line {first_bad_line}); set `encoding` for source {self.name!r} (e.g. 'cp1251')",
                "error",
            )
        elif n_undecodable:
            yield Notice(
                f"{path}: {n_undecodable} rows not valid {encoding} were quarantined (first at line {first_bad_line})"
            )
        if n_collisions:
            self.stats["id_collisions"] += n_collisions
            yield Notice(
                f"{path}: {n_collisions} rows reuse an id already given to a different text (first: {first_collision})"
                "; each is kept as a record of its own with id '<id>~<hash of its text>' (README 'Ids of table rows')"
            )

    def row_ids_of(self, envelopes: Iterable[dict[str, Any]]) -> list[tuple[str, str, str]]:
        """``(source_id, file, text digest)`` of stored raw envelopes with a mapped id, for a data dir whose earlier
        scrapes kept none (the ``row_ids`` table is newer than its raw parts): the runner fills it once from them,
        so files added later are checked against these too."""
        if not self.mapping.get("id"):
            return []
        out = []
        for env in envelopes:
            data = env.get("data")
            if isinstance(data, dict) and env.get("origin"):
                out.append((str(env["source_id"]), str(Path(env["origin"]).resolve()), self._text_digest(data)))
        return out

    def _text_digest(self, row: dict[str, Any]) -> str:
        h = hashlib.blake2b(digest_size=8)
        for col in self.text_columns:
            h.update(str(row.get(col) or "").encode("utf-8", "surrogateescape"))
            h.update(b"\x1f")
        return h.hexdigest()

    def _assign_id(self, ev: RawItem, seen: Counter[str], file_key: str) -> None:
        """Set ``ev.source_id`` (and ``note``/``row_key`` for mapped ids) by the rules in the module docstring."""
        digest = self._text_digest(ev.data)
        id_col = self.mapping.get("id")
        value = ev.data.get(id_col) if id_col else None
        if value is None or not str(value).strip():
            seen[digest] += 1
            ev.source_id = digest if seen[digest] == 1 else f"{digest}~{seen[digest]}"
            return
        sid = str(value).strip()
        this_run = self._run_ids.get(sid)
        prev = this_run or self._row_ids.get(sid)
        if prev is not None and prev[1] != digest and (this_run is not None or prev[0] != file_key):
            sid, ev.note = f"{sid}~{digest}", "id_collision"
        ev.source_id = sid
        ev.row_key = (file_key, digest)
        self._run_ids[sid] = (file_key, digest)

    def _csv_rows(self, path: Path, fmt: str, encoding: str) -> Iterator[Event]:
        origin = str(path)
        delimiter = self.cfg.delimiter or ("\t" if fmt == "tsv" else ",")
        consumed: list[str] = []

        def lines() -> Iterator[str]:
            for line in iter_text_lines(path, encoding):
                consumed.append(line)
                yield line

        reader = csv.reader(lines(), delimiter=delimiter, quotechar=self.cfg.quotechar)
        try:
            try:
                header = next(reader)
            except StopIteration:
                return
            dups = sorted({c for c in header if header.count(c) > 1})
            if dups:
                yield Notice(
                    f"{path}: line 1: the header repeats column(s) {', '.join(map(repr, dups))}; only the last of "
                    "each is kept"
                )
            missing = [f"{col!r} (for {field!r})" for field, col in self.mapping.items() if col not in header]
            if missing:
                raise SourceError(
                    f"{path}: line 1: mapped column {', '.join(missing)} not in the header "
                    f"{header!r} (delimiter {delimiter!r}); fix `columns` or `delimiter` for "
                    f"source {self.name!r}"
                )
            start = reader.line_num + 1
            consumed.clear()
            held: tuple[RawItem, str] | None = None  # the last row is checked once the file has ended
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
                if held is not None:
                    yield held[0]
                held = (RawItem("", dict(zip(header, values, strict=True)), origin, line, "line"), raw_text)
            if held is not None:
                if self._ends_inside_quotes(held[1], delimiter):
                    item = held[0]
                    yield BadItem(
                        origin,
                        item.line,
                        "the last row ends inside a quoted field",
                        clip_raw(held[1].encode("utf-8", "surrogateescape")),
                        "line",
                    )
                    yield Notice(
                        f"{path}: line {item.line}: the last row ends inside a quoted field, so the file looks cut "
                        "short; it is read again from that row when it changes",
                        "error",
                    )
                else:
                    yield held[0]
        except csv.Error as e:
            raise SourceError(f"{path}: line {reader.line_num}: CSV error: {e}") from None

    def _ends_inside_quotes(self, raw_text: str, delimiter: str) -> bool:
        """Whether a row's text ends inside a quoted field (the csv module returns such a row at the end of a file
        as if the quote were closed)."""
        try:
            list(csv.reader(io.StringIO(raw_text), delimiter=delimiter, quotechar=self.cfg.quotechar, strict=True))
        except csv.Error as e:
            return "unexpected end of data" in str(e)
        return False

    def _json_rows(self, path: Path, fmt: str, encoding: str) -> Iterator[Event]:
        origin = str(path)
        first = True
        replaced: Counter[str] = Counter()
        if fmt == "jsonl":  # decoded with `encoding`; undecodable bytes are caught per row by _read_file
            items: Iterator[tuple[int, Any, Any]] = (
                (n, *_loads(line)) for n, line in enumerate(iter_text_lines(path, encoding), 1) if line.strip()
            )
            unit = "line"
        else:
            self._check_json_array(path, encoding)
            chunks = guard_json_depth(iter_utf8_chunks(path, encoding, replaced), path)
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
                yield Notice(f"{path}: {replaced['bytes']} bytes not valid {encoding} were replaced by U+FFFD")
        except TruncatedError as e:
            yield Notice(f"{e}; kept the complete records before the cut", "error")
        except ijson.JSONError as e:
            yield Notice(f"{path}: invalid JSON after item {n}: {e}; kept the items before it", "error")
        except RecursionError:
            yield Notice(f"{path}: JSON nested too deeply after item {n}; kept the items before it", "error")

    def _check_json_array(self, path: Path, encoding: str) -> None:
        """Raise :class:`SourceError` naming the file unless it holds a JSON array (an empty or broken file is left to
        the reader, which reports it with the number of items read)."""
        kind, keys = json_top_level(path, encoding)
        if kind in (None, "array"):
            return
        if kind == "map":
            shown = ", ".join(repr(k) for k in keys[:7]) + (", ..." if len(keys) > 7 else "")
            raise SourceError(
                f"{path}: the file holds one JSON object (keys {shown}), not an array of records; "
                'for one object per line set `format = "jsonl"`'
            )
        raise SourceError(f"{path}: expected a JSON array of records, found a JSON {kind}")


def json_top_level(path: Path, encoding: str) -> tuple[str | None, list[str]]:
    """The kind of the top-level JSON value of ``path`` (``array``, ``map``, ``string``, ``number``, ``boolean``,
    ``null``; None when empty or not JSON) and, for a map, its first 8 keys."""
    chunks = guard_json_depth(iter_utf8_chunks(path, encoding, Counter()), path)
    kind: str | None = None
    keys: list[str] = []
    try:
        for prefix, event, value in ijson.parse(io.BufferedReader(ChunkStream(chunks), buffer_size=1 << 16)):
            if kind is None:
                kind = event.removeprefix("start_")
                if kind != "map":
                    break
            elif prefix == "" and event == "map_key":
                keys.append(str(value))
                if len(keys) >= 8:
                    break
            elif prefix == "" and event == "end_map":
                break
    except ijson.JSONError:
        pass
    finally:
        chunks.close()
    return kind, keys


def _codec_family(name: str) -> str:
    return "-".join(codecs.lookup(name).name.split("-")[:2])


def _loads(line: str) -> tuple[Any, str | None]:
    try:
        return json.loads(line), None
    except ValueError as e:
        return line, f"not valid JSON: {e}"
    except RecursionError:
        return line, "JSON nested too deeply to be a record"
