"""The shapes a file of jokes comes in, detected from its content, and the records each shape holds.

One entry point, :func:`read_records`, turns a local file (already out of any archive; compression is undone by
:func:`jokemine.scrapers.files.iter_chunks`) into :class:`Row` values: a record as read (a ``dict`` for objects,
table rows and ``key: value`` blocks; a ``str`` for a JSON string, a text line or block), or a row that could not
be read (``error`` set, quarantined by the caller). The shape is found by :func:`detect`:

====================  ==========================================================================================
format                what it holds
====================  ==========================================================================================
``json``              an array of objects, strings or arrays (arrays become ``{"1": .., "2": ..}``); an object
                      wrapping the array under a key (``records_path = "data.items"``, found automatically when
                      only one key leads to a list); an object of parallel lists (pandas ``to_json()``'s
                      ``{"title": [...], "score": [...]}``), pandas' ``columns``/``index``/``split`` orients
``jsonl``             one JSON value per line (NDJSON)
``csv`` / ``tsv``     a delimiter-separated table (``,``, ``;``, tab or ``|``, sniffed when not set), with or
                      without a header row (without: columns are named ``"1"``, ``"2"``, ...)
``parquet``           an Apache Parquet file (read in batches through pyarrow)
``text``              plain text: one joke per line, jokes separated by blank lines, or by a marker line such as
                      ``%`` (the fortune(6) format); or blocks of ``key: value`` lines (``Q: ...`` / ``A: ...``)
``xml``               records by element path (``records_path = "jokes/joke"``; the repeated child of the root
                      when unset), parsed by defusedxml; attributes become ``@name``, an element's own text
                      ``#text`` (the xmltodict convention), an element with only text is that text
``yaml``              the same values as JSON (PyYAML ``safe_load``), or one record per YAML document
``sqlite``            a table (``table``) or the rows of a query (``query``); the only table when unset
====================  ==========================================================================================

Content decides over the extension: JSON, XML, Parquet and SQLite are recognised by their first bytes; a file
whose content is none of them is read by its extension (``.csv``, ``.tsv``, ``.txt``, ``.yaml``), else sniffed as
a table when its first lines split into the same number (>= 2) of fields, else as text. A file whose shape is not
understood raises :class:`jokemine.errors.SourceError` naming the file and what was expected.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import re
import sqlite3
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import ijson

from jokemine.errors import SourceError
from jokemine.scrapers.files import (
    MAX_LINE_BYTES,
    ChunkStream,
    TruncatedError,
    guard_json_depth,
    head_bytes,
    iter_chunks,
    iter_utf8_chunks,
    sniff_encoding,
)

Format = Literal["csv", "tsv", "json", "jsonl", "parquet", "text", "xml", "yaml", "sqlite"]
FORMATS: tuple[str, ...] = ("csv", "tsv", "json", "jsonl", "parquet", "text", "xml", "yaml", "sqlite")
TextSplit = Literal["line", "blank_line", "marker", "fields"]
EXTENSIONS: dict[str, str] = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".tab": "tsv",
    ".json": "json",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".txt": "text",
    ".text": "text",
    ".xml": "xml",
    ".yaml": "yaml",
    ".yml": "yaml",
    ".sqlite": "sqlite",
    ".sqlite3": "sqlite",
    ".db": "sqlite",
}
BINARY_FORMATS = ("parquet", "sqlite")
"""Formats that are not text: no encoding, no binary-content check."""
COMPRESSION_SUFFIXES = (".gz", ".zst", ".zstd", ".bz2", ".xz")
DELIMITERS = (",", ";", "\t", "|")
MAX_WHOLE_BYTES = 2 << 30
"""A JSON object or YAML document is parsed whole (its records can be anywhere in it); larger ones are refused."""
_FIELD_LINE = re.compile(r"^([A-Za-z][\w .-]{0,30}?)\s*:\s?(.*)$")
_SURROGATES = re.compile("[\udc80-\udcff]")


@dataclass(frozen=True)
class ShapeOptions:
    """What a source's config says about the shape (each None = detect). ``records_path``: dotted key path of the
    record list in a JSON/YAML object, or the element path of records in XML; ``marker``: the separator line of
    ``text_split = "marker"``."""

    format: str | None = None
    delimiter: str | None = None
    quotechar: str = '"'
    header: bool | None = None
    records_path: str | None = None
    text_split: str | None = None
    marker: str = "%"
    table: str | None = None
    query: str | None = None
    encoding: str = "utf-8"


@dataclass(frozen=True)
class Shape:
    """The detected shape of one file: ``format``, how it was found (``by`` = ``config``, ``content`` or
    ``extension``) and format details (``delimiter``, ``header`` for tables; ``text_split`` for text)."""

    format: str
    by: str
    delimiter: str | None = None
    header: bool | None = None
    text_split: str | None = None

    def describe(self) -> str:
        """A few words for reports, e.g. ``csv (delimiter ';', header row; from the content)``."""
        bits = []
        if self.delimiter:
            bits.append(f"delimiter {self.delimiter!r}")
        if self.header is not None:
            bits.append("header row" if self.header else "no header row")
        if self.text_split:
            bits.append(f"split by {self.text_split.replace('_', ' ')}")
        return (
            f"{self.format} ({', '.join(bits)}; from the {self.by})" if bits else f"{self.format} (from the {self.by})"
        )


@dataclass(slots=True)
class Row:
    """One record read from a file: ``n`` is its 1-based line (``unit = "line"``), array item (``item``) or row
    (``row``); ``data`` the record (dict or scalar); ``error`` set when it could not be read (``raw`` = its text)."""

    n: int
    data: Any
    unit: Literal["line", "item", "row"] = "line"
    error: str | None = None
    raw: Any = None


def format_by_name(name: str) -> str | None:
    """The format an extension names (``a.csv.gz`` -> ``csv``; compression suffixes skipped), None if unknown."""
    suffixes = [s.lower() for s in Path(name).suffixes if s.lower() not in COMPRESSION_SUFFIXES]
    return EXTENSIONS.get(suffixes[-1]) if suffixes else None


def detect(path: Path, opts: ShapeOptions, label: str | None = None, mapped: list[str] | None = None) -> Shape:
    """The shape of ``path`` (see the module docstring). ``label`` names the file in errors (an archive member);
    ``mapped``: the column names the source maps (a table whose mapped names are all digits has no header row).
    Raises :class:`SourceError` for content that is no format of records."""
    label = label or str(path)
    head = head_bytes(path, 1 << 16)
    named = format_by_name(label)
    found = (opts.format, "config") if opts.format else _by_content(head, named)
    if found is None:
        found = (
            (named, "extension")
            if named
            else ("csv" if _sniff_delimiter(_head_text(head, opts.encoding)) else "text", "content")
        )
    fmt, by = found
    if by != "config" and fmt not in BINARY_FORMATS and _looks_binary(head):
        raise SourceError(
            f"{label}: binary content of no format jokemine reads (expected JSON, JSON lines, CSV/TSV, text, XML, "
            "YAML, Parquet or SQLite, plain or compressed, or a .zip/.tar archive of them)"
        )
    if fmt in ("csv", "tsv"):
        text = _head_text(head, opts.encoding)
        delimiter = opts.delimiter or ("\t" if fmt == "tsv" else _sniff_delimiter(text) or ",")
        header = opts.header
        if header is None:
            header = not (mapped and all(c.isdigit() for c in mapped))
        return Shape(fmt, by, delimiter, header)
    if fmt == "text":
        return Shape(fmt, by, text_split=opts.text_split or _sniff_text_split(_head_text(head, opts.encoding), opts))
    return Shape(fmt, by)


_CONTROL = bytes(i for i in range(32) if i not in (9, 10, 12, 13))


def _looks_binary(head: bytes) -> bool:
    """Whether the first bytes are not text in any encoding jokemine reads: over 10% control bytes other than
    tab, line feed, form feed and carriage return (UTF-16 text, mostly NUL, is left to the encoding check)."""
    if not head or head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return False
    sample = head[:4096]
    if sample.count(0) > len(sample) // 4:
        return False
    return sum(sample.count(c) for c in _CONTROL) > len(sample) // 10


def _head_text(head: bytes, encoding: str) -> str:
    text = codecs.getincrementaldecoder(encoding)("replace").decode(head)
    return text.removeprefix("\ufeff")


def _by_content(head: bytes, named: str | None) -> tuple[str, str] | None:
    if head.startswith(b"PAR1"):
        return "parquet", "content"
    if head.startswith(b"SQLite format 3\x00"):
        return "sqlite", "content"
    stripped = head.removeprefix(codecs.BOM_UTF8).lstrip()
    if stripped.startswith(b"["):
        return "json", "content"
    if stripped.startswith(b"{"):
        if _is_json_lines(stripped):
            return "jsonl", "content"
        return ("jsonl", "extension") if named == "jsonl" else ("json", "content")  # a first line over 64 KiB
    if stripped.startswith((b"<?xml", b"<")) and re.match(rb"<[?!A-Za-z_]", stripped):
        return "xml", "content"
    if stripped.startswith(b"---\n") or stripped.startswith(b"%YAML"):
        return "yaml", "content"
    return None


def _is_json_lines(head: bytes) -> bool:
    """Whether text starting with ``{`` is one JSON value per line: its first line parses alone and more lines
    follow (a JSON document whose first line is complete could not go on)."""
    first, _, rest = head.partition(b"\n")
    try:
        json.loads(first)
    except ValueError:
        return False
    return bool(rest.strip())


def _sniff_delimiter(text: str) -> str | None:
    """The delimiter (of :data:`DELIMITERS`) that splits the first 20 complete lines of ``text`` into the same
    number (>= 2) of fields most often; None when none does for most lines."""
    lines = text.split("\n")[:-1][:20] or text.split("\n")[:1]
    if not lines:
        return None
    best: tuple[float, int, str] | None = None
    for d in DELIMITERS:
        try:
            counts = [len(r) for r in csv.reader(io.StringIO("\n".join(lines)), delimiter=d) if r]
        except csv.Error:
            continue
        if not counts:
            continue
        width, hits = Counter(counts).most_common(1)[0]
        share = hits / len(counts)
        if width >= 2 and share >= 0.8 and (best is None or (share, width) > best[:2]):
            best = (share, width, d)
    return best[2] if best else None


def _sniff_text_split(text: str, opts: ShapeOptions) -> str:
    """``marker`` when a line is exactly the marker; ``fields`` when blank-line blocks are all ``key: value``
    lines; ``blank_line`` when blank lines cut the file into short blocks (median <= 12 lines); else ``line``
    (a file of one joke per line with a blank line now and then)."""
    lines = text.split("\n")[:-1] if "\n" in text else [text]
    if any(ln.strip() == opts.marker for ln in lines):
        return "marker"
    blocks = [b for b in re.split(r"\n\s*\n", "\n".join(lines)) if b.strip()]
    if blocks and all(
        len(b.strip().split("\n")) >= 2 and all(_FIELD_LINE.match(ln) for ln in b.strip().split("\n")[:2])
        for b in blocks[:20]
    ):
        return "fields"
    sizes = sorted(len(b.strip().split("\n")) for b in blocks)
    if len(blocks) >= 2 and sizes[len(sizes) // 2] <= 12:  # short blocks between blank lines: one joke each
        return "blank_line"
    return "line"


def encoding_for(path: Path, shape: Shape, declared: str) -> str:
    """The encoding to read ``path`` in ``shape`` with: ``declared`` for binary formats, else what
    :func:`jokemine.scrapers.files.sniff_encoding` says (a byte order mark wins)."""
    return declared if shape.format in BINARY_FORMATS else sniff_encoding(path, declared)


# --- readers -------------------------------------------------------------------------------------------------
def read_records(
    path: Path,
    shape: Shape,
    opts: ShapeOptions,
    encoding: str,
    label: str | None = None,
    notes: list[str] | None = None,
) -> Iterator[Row]:
    """The records of ``path`` in ``shape``, read with ``encoding`` (after the caller's byte-order-mark sniffing).
    Warnings about the file (bytes replaced in a JSON document) are appended to ``notes``.

    Raises :class:`SourceError` (naming ``label``) for a file that is not what its shape says; a file cut short
    raises :class:`jokemine.scrapers.files.TruncatedError` after its complete records."""
    label = label or str(path)
    fmt = shape.format
    if fmt in ("csv", "tsv"):
        yield from csv_rows(path, encoding, shape.delimiter or ",", opts.quotechar, bool(shape.header), label)
    elif fmt == "jsonl":
        yield from jsonl_rows(path, encoding)
    elif fmt == "json":
        yield from json_rows(path, encoding, opts.records_path, label, notes)
    elif fmt == "parquet":
        yield from parquet_rows(path, label)
    elif fmt == "text":
        yield from text_rows(path, encoding, shape.text_split or "line", opts.marker)
    elif fmt == "xml":
        yield from xml_rows(path, opts.records_path, label)
    elif fmt == "yaml":
        yield from yaml_rows(path, encoding, opts.records_path, label)
    elif fmt == "sqlite":
        yield from sqlite_rows(path, opts.table, opts.query, label)
    else:  # pragma: no cover - the config allows only FORMATS
        raise SourceError(f"{label}: unknown format {fmt!r}")


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


def csv_rows(path: Path, encoding: str, delimiter: str, quotechar: str, header: bool, label: str) -> Iterator[Row]:
    """Rows of a delimited table as dicts (header names, or ``"1"``, ``"2"``, ... without a header row). A row with
    another number of fields than the header is an error row; so is a last row that ends inside a quoted field
    (the csv module would return it as if the quote were closed). The header row comes first as a ``Row`` with
    ``n = 0`` and ``data`` = the list of names."""
    consumed: list[str] = []

    def lines() -> Iterator[str]:
        for line in iter_text_lines(path, encoding):
            consumed.append(line)
            yield line

    reader = csv.reader(lines(), delimiter=delimiter, quotechar=quotechar)
    try:
        names: list[str] | None = None
        start = 1
        if header:
            try:
                names = next(reader)
            except StopIteration:
                return
            yield Row(0, names)
            start = reader.line_num + 1
            consumed.clear()
        held: tuple[Row, str] | None = None
        for values in reader:
            line, start = start, reader.line_num + 1
            raw_text = "".join(consumed)
            consumed.clear()
            if not values or values == [""]:
                continue
            if names is None:
                names = [str(i) for i in range(1, len(values) + 1)]
                yield Row(0, names)
            if len(values) != len(names):
                raw = raw_text.encode("utf-8", "surrogateescape")
                yield Row(line, None, "line", f"expected {len(names)} fields, found {len(values)}", raw)
                continue
            if held is not None:
                yield held[0]
            held = (Row(line, dict(zip(names, values, strict=True)), "line"), raw_text)
        if held is not None:
            if _ends_inside_quotes(held[1], delimiter, quotechar):
                raw = held[1].encode("utf-8", "surrogateescape")
                yield Row(held[0].n, None, "line", "the last row ends inside a quoted field", raw)
                raise TruncatedError(
                    f"{label}: line {held[0].n}: the last row ends inside a quoted field, so the file looks cut "
                    "short; it is read again from that row when it changes"
                )
            yield held[0]
    except csv.Error as e:
        raise SourceError(f"{label}: line {reader.line_num}: CSV error: {e}") from None


def _ends_inside_quotes(raw_text: str, delimiter: str, quotechar: str) -> bool:
    try:
        list(csv.reader(io.StringIO(raw_text), delimiter=delimiter, quotechar=quotechar, strict=True))
    except csv.Error as e:
        return "unexpected end of data" in str(e)
    return False


def jsonl_rows(path: Path, encoding: str) -> Iterator[Row]:
    """One JSON value per non-empty line; a line that is not JSON is an error row."""
    for n, line in enumerate(iter_text_lines(path, encoding), 1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except ValueError as e:
            yield Row(n, None, "line", f"not valid JSON: {e}", line)
            continue
        except RecursionError:
            yield Row(n, None, "line", "JSON nested too deeply to be a record", line)
            continue
        yield Row(n, value, "line")


def positional(value: list[Any]) -> dict[str, Any]:
    """An array record as columns by position: ``["Why?", "Because."]`` -> ``{"1": "Why?", "2": "Because."}``."""
    return {str(i): v for i, v in enumerate(value, 1)}


def json_rows(
    path: Path, encoding: str, records_path: str | None, label: str, notes: list[str] | None = None
) -> Iterator[Row]:
    """Records of a JSON document: the items of a top-level array (streamed), of the array at ``records_path``
    (streamed), or of an object in one of the shapes of :func:`records_of_object` (parsed whole)."""
    kind, _ = json_top_level(path, encoding)
    if kind is None:
        raise SourceError(f"{label}: not JSON (expected an array of records or an object holding one)")
    if kind == "array" and not records_path:
        yield from _stream_items(path, encoding, "item", label, None, notes)
        return
    if kind not in ("array", "map"):
        raise SourceError(f"{label}: the file holds one JSON {kind}, not records (expected an array of records)")
    if records_path:
        yield from _stream_items(path, encoding, f"{records_path}.item", label, records_path, notes)
        return
    if path.stat().st_size > MAX_WHOLE_BYTES:
        raise SourceError(f"{label}: one JSON object over 2 GiB: set `records_path` to the key of its record list")
    replaced: Counter[str] = Counter()
    try:
        doc = json.loads(b"".join(guard_json_depth(iter_utf8_chunks(path, encoding, replaced), path)))
    except ValueError as e:
        raise SourceError(f"{label}: invalid JSON: {e}") from None
    if replaced["bytes"] and notes is not None:
        notes.append(f"{label}: {replaced['bytes']} bytes not valid {encoding} were replaced by U+FFFD")
    for n, value in enumerate(records_of_object(doc, label), 1):
        yield Row(n, value, "item")


def _stream_items(
    path: Path,
    encoding: str,
    prefix: str,
    label: str,
    records_path: str | None = None,
    notes: list[str] | None = None,
) -> Iterator[Row]:
    replaced: Counter[str] = Counter()
    chunks = guard_json_depth(iter_utf8_chunks(path, encoding, replaced), path)
    stream = io.BufferedReader(ChunkStream(chunks), buffer_size=1 << 20)
    n = 0
    try:
        for n, value in enumerate(ijson.items(stream, prefix, use_float=True), 1):
            yield Row(n, value, "item")
    except ijson.JSONError as e:
        raise TruncatedError(f"{label}: invalid JSON after item {n}: {e}; kept the items before it") from None
    except RecursionError:
        raise TruncatedError(f"{label}: JSON nested too deeply after item {n}; kept the items before it") from None
    finally:
        chunks.close()
    if replaced["bytes"] and notes is not None:
        notes.append(f"{label}: {replaced['bytes']} bytes not valid {encoding} were replaced by U+FFFD")
    if records_path and n == 0:
        raise SourceError(f"{label}: no array of records at `records_path` {records_path!r}")


def records_of_object(doc: Any, label: str) -> list[Any]:
    """The records held by a parsed JSON/YAML value: a list as is; an object of parallel lists (one record per
    index); pandas ``split`` (``{"columns": [...], "data": [[...]]}``), ``columns`` (``{col: {index: value}}``) and
    ``index`` (``{index: {col: value}}``, the index kept as ``_key``) orients; an object whose only list (at any
    depth of nested objects) is the records. Raises :class:`SourceError` naming the keys otherwise."""
    if isinstance(doc, list):
        return doc
    if not isinstance(doc, dict) or not doc:
        raise SourceError(f"{label}: holds a {type(doc).__name__}, not records (expected a list or an object)")
    values = list(doc.values())
    if all(isinstance(v, list) for v in values) and len({len(v) for v in values}) == 1 and len(values) > 1:
        cols = list(doc)
        return [{c: doc[c][i] for c in cols} for i in range(len(values[0]))]
    if isinstance(doc.get("columns"), list) and isinstance(doc.get("data"), list):
        cols = [str(c) for c in doc["columns"]]
        index = doc.get("index") if isinstance(doc.get("index"), list) else None
        rows = [dict(zip(cols, r, strict=False)) for r in doc["data"] if isinstance(r, list)]
        if index and len(index) == len(rows):
            for key, row in zip(index, rows, strict=True):
                row.setdefault("_key", key)
        return rows
    if all(isinstance(v, dict) for v in values) and len(doc) >= 2:
        inner = {k for v in values for k in v}
        if all(not isinstance(x, dict | list) for v in values for x in v.values()):
            if len(doc) <= len(inner):  # {column: {index: value}}: few columns, many indices
                index_keys = list(dict.fromkeys(k for v in values for k in v))
                return [{c: doc[c].get(i) for c in doc} for i in index_keys]
            return [{"_key": k, **v} for k, v in doc.items()]  # {index: {column: value}}
    lists = _lists_in(doc, "")
    if len(lists) == 1:
        return lists[0][1]
    shown = ", ".join(repr(k) for k in list(doc)[:7]) + (", ..." if len(doc) > 7 else "")
    where = f" (lists at {', '.join(repr(p) for p, _ in lists[:5])})" if lists else ""
    raise SourceError(
        f"{label}: one object (keys {shown}) in no shape of records jokemine knows{where}; set `records_path` to "
        'the key of the record list, or `format = "jsonl"` for one object per line'
    )


def _lists_in(doc: dict[str, Any], prefix: str, depth: int = 0) -> list[tuple[str, list[Any]]]:
    out: list[tuple[str, list[Any]]] = []
    for k, v in doc.items():
        path = f"{prefix}{k}"
        if isinstance(v, list) and v and all(isinstance(x, dict | str) for x in v[:100]):
            out.append((path, v))
        elif isinstance(v, dict) and depth < 4:
            out.extend(_lists_in(v, f"{path}.", depth + 1))
    return out


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


def parquet_rows(path: Path, label: str) -> Iterator[Row]:
    """Rows of a Parquet file, in batches of 10,000 (pyarrow)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(path)
        n = 0
        for batch in pf.iter_batches(batch_size=10_000):
            for row in batch.to_pylist():
                n += 1
                yield Row(n, row, "row")
    except (pa.ArrowException, OSError) as e:
        raise SourceError(f"{label}: not a readable Parquet file: {e}") from None


def text_rows(path: Path, encoding: str, split: str, marker: str = "%") -> Iterator[Row]:
    """Jokes of a plain-text file: one per line (``line``), blocks between blank lines (``blank_line``) or marker
    lines (``marker``), or blocks of ``key: value`` lines (``fields``: a line without a key continues the value
    before it). ``n`` is the line a joke starts on."""
    block: list[str] = []
    start = 0
    for n, line in enumerate(iter_text_lines(path, encoding), 1):
        line = line.rstrip("\r\n")
        if split == "line":
            if line.strip():
                yield Row(n, line.strip(), "line")
            continue
        end = line.strip() == marker if split == "marker" else not line.strip()
        if end:
            if block:
                yield _block_row(start, block, split)
            block = []
            continue
        if not block:
            start = n
        block.append(line)
    if block:
        yield _block_row(start, block, split)


def _block_row(start: int, block: list[str], split: str) -> Row:
    text = "\n".join(block).strip("\n")
    if split != "fields":
        return Row(start, text, "line")
    fields: dict[str, str] = {}
    key: str | None = None
    for line in block:
        m = _FIELD_LINE.match(line)
        if m:
            key = m.group(1).strip()
            fields[key] = (fields[key] + "\n" + m.group(2)) if key in fields else m.group(2)
        elif key is not None:
            fields[key] += "\n" + line
        else:
            return Row(start, None, "line", "a block of key: value lines starts with a line without a key", text)
    return Row(start, {k: v.strip() for k, v in fields.items()}, "line")


def xml_rows(path: Path, records_path: str | None, label: str) -> Iterator[Row]:
    """Record elements of an XML file as values (see the module docstring), streamed with defusedxml's
    ``iterparse`` (entity expansion and external entities refused)."""
    from defusedxml import DefusedXmlException
    from defusedxml.ElementTree import ParseError, iterparse

    target = [t for t in (records_path or "").strip("/").split("/") if t] or None
    stream = io.BufferedReader(ChunkStream(iter_chunks(path)), buffer_size=1 << 20)
    stack: list[str] = []
    n = 0
    try:
        if target is None:
            target = _xml_record_path(path)
        for event, elem in iterparse(stream, events=("start", "end")):
            tag = _local(elem.tag)
            if event == "start":
                stack.append(tag)
                continue
            if _path_matches(stack, target):
                n += 1
                yield Row(n, _element_value(elem), "item")
                elem.clear()
            stack.pop()
    except (ParseError, DefusedXmlException) as e:
        raise SourceError(f"{label}: invalid XML after record {n}: {e}") from None
    if n == 0:
        raise SourceError(f"{label}: no element at records path {'/'.join(target or [])!r}; set `records_path`")


def _path_matches(stack: list[str], target: list[str]) -> bool:
    """Whether the element path ``stack`` (root first) ends with ``target`` (``["*"]``: any child of the root);
    the root itself is never a record."""
    if target == ["*"]:
        return len(stack) == 2
    return len(stack) >= 2 and len(stack) >= len(target) and stack[-len(target) :] == target


def _xml_record_path(path: Path) -> list[str]:
    """The tag of the root's most frequent child (over the first 5,000 elements): the records."""
    from defusedxml.ElementTree import iterparse

    stream = io.BufferedReader(ChunkStream(iter_chunks(path)), buffer_size=1 << 16)
    depth = 0
    counts: Counter[str] = Counter()
    seen = 0
    for event, elem in iterparse(stream, events=("start", "end")):
        if event == "start":
            depth += 1
            if depth == 2:
                counts[_local(elem.tag)] += 1
                seen += 1
                if seen >= 5000:
                    break
        else:
            depth -= 1
    if not counts:
        return ["*"]
    return [counts.most_common(1)[0][0]]


def _local(tag: Any) -> str:
    return str(tag).rsplit("}", 1)[-1]


def _element_value(elem: Any) -> Any:
    """An element as a value (xmltodict's convention): text alone -> that text; else a dict of ``@attr``s, child
    values by tag (a list for repeated tags) and ``#text``."""
    children = list(elem)
    text = (elem.text or "").strip()
    if not children and not elem.attrib:
        return text
    out: dict[str, Any] = {f"@{_local(k)}": v for k, v in elem.attrib.items()}
    for child in children:
        key, value = _local(child.tag), _element_value(child)
        if key in out:
            out[key] = [*out[key], value] if isinstance(out[key], list) else [out[key], value]
        else:
            out[key] = value
    if text:
        out["#text"] = text
    return out


def yaml_rows(path: Path, encoding: str, records_path: str | None, label: str) -> Iterator[Row]:
    """Records of a YAML file: one document holding records (as :func:`records_of_object`, or at
    ``records_path``), or a stream of documents, each one record (PyYAML ``safe_load_all``)."""
    import yaml

    if path.stat().st_size > MAX_WHOLE_BYTES:
        raise SourceError(f"{label}: a YAML file over 2 GiB is not read")
    text = b"".join(iter_chunks(path)).decode(encoding, "replace").removeprefix("\ufeff")
    try:
        docs = [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError as e:
        raise SourceError(f"{label}: invalid YAML: {' '.join(str(e).split())}") from None
    if not docs:
        raise SourceError(f"{label}: an empty YAML file (expected a list of records)")
    if len(docs) > 1:
        values: list[Any] = docs
    else:
        doc = docs[0]
        if records_path:
            doc = dig(doc, records_path)
            if not isinstance(doc, list):
                raise SourceError(f"{label}: no list of records at `records_path` {records_path!r}")
        values = records_of_object(doc, label)
    for n, value in enumerate(values, 1):
        yield Row(n, value, "item")


def sqlite_rows(path: Path, table: str | None, query: str | None, label: str) -> Iterator[Row]:
    """Rows of an SQLite database (opened read-only): the rows of ``query``, of ``table``, or of its only
    table. Raises :class:`SourceError` listing the tables when there are several and neither is set."""
    try:
        con = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro&immutable=1", uri=True)
    except sqlite3.Error as e:
        raise SourceError(f"{label}: cannot open the SQLite database: {e}") from None
    try:
        if not query:
            if not table:
                names = [
                    r[0]
                    for r in con.execute(
                        "SELECT name FROM sqlite_master WHERE type IN ('table', 'view') AND name NOT LIKE 'sqlite_%'"
                    )
                ]
                if len(names) != 1:
                    raise SourceError(
                        f"{label}: the database has {len(names)} tables ({', '.join(map(repr, names[:10]))}); "
                        "set `table` or `query` for this source"
                    )
                table = names[0]
            query = 'SELECT * FROM "{}"'.format(table.replace('"', '""'))
        cur = con.execute(query)
        cols = [d[0] for d in cur.description or []]
        for n, values in enumerate(cur, 1):
            yield Row(n, dict(zip(cols, values, strict=True)), "row")
    except sqlite3.Error as e:
        raise SourceError(f"{label}: SQLite error: {e} (query {query!r})") from None
    finally:
        con.close()


# --- field paths ---------------------------------------------------------------------------------------------
_MISSING = object()


def dig(record: Any, path: str) -> Any:
    """The value at ``path`` in a record: ``"."`` is the record itself; a key present as written wins (a CSV
    column may have dots in its name); else dots walk into nested objects (``meta.score``) and list indices
    (``answers.0.text``). None when absent."""
    if path == ".":
        return record
    if isinstance(record, dict) and path in record:
        return record[path]
    cur: Any = record
    for part in path.split("."):
        if isinstance(cur, dict):
            cur = cur.get(part, _MISSING)
        elif isinstance(cur, list) and part.isdigit() and int(part) < len(cur):
            cur = cur[int(part)]
        else:
            return None
        if cur is _MISSING:
            return None
    return cur


def has_path(record: Any, path: str) -> bool:
    """Whether :func:`dig` finds ``path`` in ``record`` (a None value counts as present)."""
    if path == ".":
        return True
    if isinstance(record, dict) and path in record:
        return True
    cur: Any = record
    for part in path.split("."):
        if isinstance(cur, dict) and part in cur:
            cur = cur[part]
        elif isinstance(cur, list) and part.isdigit() and int(part) < len(cur):
            cur = cur[int(part)]
        else:
            return False
    return True


def has_surrogates(value: Any) -> bool:
    """Whether a record holds bytes that did not decode (lone surrogates from ``surrogateescape``)."""
    if isinstance(value, str):
        return bool(_SURROGATES.search(value))
    if isinstance(value, dict):
        texts = [v for v in value.values() if isinstance(v, str)]
        if texts and _SURROGATES.search("\x00".join(texts)):
            return True
        return any(has_surrogates(v) for v in value.values() if isinstance(v, dict | list))
    if isinstance(value, list):
        return any(has_surrogates(v) for v in value)
    return False


DECODED_WITH_SURROGATES = ("csv", "tsv", "jsonl", "text")
"""Formats whose text is decoded with ``surrogateescape`` (so undecodable bytes can be found per record)."""
