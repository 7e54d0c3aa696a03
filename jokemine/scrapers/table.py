"""``table``: jokes from files of any common shape through a column mapping.

Shapes (JSON in every common layout, JSONL, CSV/TSV, Parquet, plain text, XML, YAML, SQLite) are detected from the
content by :mod:`jokemine.scrapers.shapes`; compressed files are read through
:func:`jokemine.scrapers.files.iter_chunks`; ``.zip``/``.tar*`` archives member by member
(:mod:`jokemine.scrapers.archives`), each member its own file for ids and provenance (``<archive>::<member>``).
The mapping (``columns``) names, for schema fields (:data:`jokemine.config.TABLE_FIELDS`), the column, JSON key or
dotted path holding them. Configs for the real files are in ``configs/real-offline.toml``,
``configs/extra-files.toml`` and the README.

Rows are stored as read (every column; strings for CSV, the string itself for a file of strings); the mapping is
applied in ``clean``. A sidecar file (``join``) is read first and its matching row stored with each row under
``_join``. The ``source_id`` is the mapped ``id`` column, else a BLAKE2b-64 hash of the mapped text columns (``~2``,
``~3`` appended for repeats of the same text within a file), so ids survive reordering of the file. With
``id_scope = "file"`` (the default when ``path`` is a glob or a list, so ids do not change when files are added,
and for archive members) a mapped id is prefixed with its file, relative to the folder of the source's files:
``<file>:<id>`` (``<member>:<id>`` in an archive).

Id collisions (README "Ids of table rows"). A mapped id seen again with the same text is a re-read (clean keeps one
record, ``merged_same_id``); seen again in the same file in a later run with another text, an edit (the newest
text wins). Seen again with another text in the same read of a file, or in another file, it is a collision: the
row is kept as a record of its own under ``<id>~<BLAKE2b-64 of its text>``, marked ``note = "id_collision"``,
counted (``id_collisions``) and reported with a warning naming the file, the first line and the id. The file and
text digest of every stored id are kept in ``state.sqlite`` (:class:`jokemine.scrapers.base.RowIds`), so a file
added in a later run is checked against the files read before.

Encoding: a byte order mark (UTF-8, UTF-16, UTF-32) decides the encoding of its file, whatever ``encoding`` says
(as in the HTML standard's sniffing); a file full of NUL bytes without one is reported as probably UTF-16.

Errors, one line naming the file (or member) and what was expected: a file whose shape is not understood, whose
mapped text columns are missing (the header or the keys of the first record are named), whose records are strings
while the mapping names columns, or that holds no records, is an error and makes the source ``partial``/``failed``;
so is a file most of whose records are quarantined (:func:`jokemine.scrapers.files.walk_files`). Rows that do not
decode in ``encoding``, have the wrong number of fields or are not JSON are quarantined with their line; when at
least 10% of a file's rows do not decode, the file is reported as probably in another encoding.
"""

from __future__ import annotations

import base64
import codecs
import glob
import hashlib
import os
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jokemine.cleaning.filters import record_steps
from jokemine.cleaning.parse import table_records
from jokemine.config import HttpConfig, TableSource
from jokemine.errors import SourceError
from jokemine.scrapers.archives import archive_kind, iter_members, member_origin
from jokemine.scrapers.base import BadItem, Event, NoRowIds, Notice, RawItem, ReadContext, RowIds, clip_raw
from jokemine.scrapers.files import fingerprint, walk_files
from jokemine.scrapers.registry import register
from jokemine.scrapers.remote import repo_path, with_remote
from jokemine.scrapers.shapes import (
    DECODED_WITH_SURROGATES,
    Row,
    Shape,
    ShapeOptions,
    detect,
    dig,
    encoding_for,
    format_by_name,
    has_path,
    has_surrogates,
    positional,
    read_records,
)

PARSER_VERSION = "table/2"
TEXT_FIELDS = ("text", "title", "body", "setup", "punchline", "question", "answer")
__all__ = ["RowIdPolicy", "Table", "digest_columns", "shape_options", "text_digest"]


def shape_options(cfg: TableSource, encoding: str | None = None) -> ShapeOptions:
    """The shape keys of a table source's config."""
    return ShapeOptions(
        format=cfg.format,
        delimiter=cfg.delimiter,
        quotechar=cfg.quotechar,
        header=cfg.header,
        records_path=cfg.records_path,
        text_split=cfg.text_split,
        marker=cfg.marker,
        table=cfg.table,
        query=cfg.query,
        encoding=encoding or cfg.encoding,
    )


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
        self.base_dir = base_dir
        self.files = cfg.files(base_dir)
        self.mapping = cfg.columns.mapped()
        self.text_columns = [self.mapping[f] for f in TEXT_FIELDS if f in self.mapping]
        self.id_columns = digest_columns(self.mapping)
        self.opts = shape_options(cfg)
        self.stats: Counter[str] = Counter()
        patterns = cfg.paths(base_dir)
        several = len(patterns) > 1 or any(glob.has_magic(p) for p in patterns)  # now or once more files appear
        self._scope_files = cfg.id_scope == "file" or (cfg.id_scope is None and "id" in self.mapping and several)
        parents = [str(p.parent) for p in self.files]
        self._root = os.path.commonpath(parents) if parents else ""
        self._sidecar: dict[str, Any] | None = None
        self._labels: dict[Path, str] = {}  # local copy of a Hub file -> its hf:// URL

    track_ids = False

    def read(self, ctx: ReadContext) -> Iterator[Event]:
        """Yield the rows of every changed file, a checkpoint after each file."""
        self.ids = RowIdPolicy(self.mapping.get("id"), self.id_columns, ctx.row_ids)
        settings = self.cfg.read_settings()
        if self.cfg.join:
            self._sidecar, sidecar_digest = self._load_sidecar()
            settings += ":" + sidecar_digest  # a changed sidecar re-reads the files it joins
        files, self._labels, errors = with_remote(self.files, self.cfg.remote_paths(), ctx.data_dir)
        for e in errors:
            yield Notice(e, "error")
        if files or not errors:
            yield from walk_files(files, ctx.cursors, ctx.force, self._read_file, self.stats, settings, self._labels)

    # ---------------------------------------------------------------------------------------------------------
    def _read_file(self, path: Path) -> Iterator[Event]:
        kind = archive_kind(path)
        if kind is None:
            yield from self._read_one(path, str(path), self._file_scope(path, None))
            return
        read = skipped = 0
        names: list[str] = []
        for name, local in iter_members(path, kind, self.cfg.members, self.cfg.format == "text"):
            names.append(name)
            if local is None:
                skipped += 1
                continue
            read += 1
            label = member_origin(path, name)
            try:
                for ev in self._read_one(local, label, self._file_scope(path, name)):
                    if isinstance(ev, Notice):
                        ev.message = ev.message.replace(str(local), label)
                    yield ev
            except SourceError as e:  # one bad member does not stop the others
                yield Notice(str(e).replace(str(local), label), "error")
        self.stats["archive_members_read"] += read
        self.stats["archive_members_skipped"] += skipped
        if not read:
            shown = ", ".join(names[:8]) + (", ..." if len(names) > 8 else "") if names else "none"
            wanted = f"`members` = {self.cfg.members!r}" if self.cfg.members else "a data file extension"
            raise SourceError(f"{path}: no member of the {kind} archive matches {wanted} (members: {shown})")

    def _file_scope(self, path: Path, member: str | None) -> str | None:
        """The prefix of mapped ids read from ``path`` (``member`` of it), or None for source-wide ids."""
        if self.cfg.id_scope == "source" or "id" not in self.mapping:
            return None
        name = repo_path(self._labels[path]) if path in self._labels else os.path.relpath(path, self._root)
        if member is not None:
            return member if len(self.files) + len(self._labels) == 1 else f"{name}::{member}"
        return name if self._scope_files else None

    def _read_one(self, path: Path, label: str, scope: str | None) -> Iterator[Event]:
        shape = detect(path, self.opts, label, self.cfg.columns.columns_read())
        self.stats[f"files_{shape.format}"] += 1
        named = format_by_name(label)
        if shape.by == "content" and named and named != shape.format and {named, shape.format} != {"json", "jsonl"}:
            yield Notice(f"{label}: read as {shape.describe()}, not as {named} as its name says")
        elif shape.by == "content" and named in ("json", "jsonl") and named != shape.format:
            self.stats["files_json_lines_by_content" if shape.format == "jsonl" else "files_json_by_content"] += 1
        declared = self.cfg.encoding
        encoding = encoding_for(path, shape, declared)
        if _codec_family(encoding) != _codec_family(declared):
            self.stats["files_encoding_from_bom"] += 1
            yield Notice(f"{label}: read as {encoding}: its byte order mark says so (`encoding` is {declared!r})")
        seen: Counter[str] = Counter()
        n_rows = n_bad = n_undecodable = n_collisions = 0
        first_bad_line: int | None = None
        first_collision = ""
        checked = False
        file_key = label if label != str(path) else str(path.resolve())
        notes: list[str] = []
        first_kind: type | None = None
        check_bytes = shape.format in DECODED_WITH_SURROGATES
        for row in read_records(path, shape, shape_options(self.cfg, encoding), encoding, label, notes):
            if row.n == 0:  # a table's header
                repeated = self._check_header(label, row.data, shape)
                if repeated:
                    yield Notice(repeated)
                continue
            if row.error is not None:
                n_bad += 1
                yield BadItem(label, row.n, row.error, clip_raw(row.raw), row.unit)
                continue
            n_rows += 1
            if first_kind is None and isinstance(row.data, dict | str | list):
                first_kind = type(row.data)
                if isinstance(row.data, list):
                    self.stats["records_as_arrays"] += 1
            if first_kind is list and isinstance(row.data, list):
                row.data = positional(row.data)
            elif first_kind is None or not isinstance(row.data, first_kind):
                want = _WANTED.get(first_kind or dict, "a record")
                got = _JSON_NAMES.get(type(row.data), type(row.data).__name__)
                yield BadItem(label, row.n, f"expected {want}, got {got}", clip_raw(row.data), row.unit)
                continue
            if not checked:
                self._check_first(label, row, shape)
                checked = True
            if check_bytes and has_surrogates(row.data):
                n_undecodable += 1
                first_bad_line = first_bad_line or row.n
                yield BadItem(label, row.n, f"bytes not valid in encoding {encoding!r}", _lossless(row.data), row.unit)
                continue
            data = row.data
            if self._sidecar is not None:
                match = self._sidecar.get(_key(dig(data, self.mapping["id"])))
                if match is not None:
                    data = {**data, "_join": match} if isinstance(data, dict) else {".": data, "_join": match}
                    self.stats["joined"] += 1
            ev = RawItem("", data, label, row.n, row.unit)
            self.ids.assign(ev, seen, file_key, scope)
            if ev.note == "id_collision":
                n_collisions += 1
                first_collision = first_collision or f"{ev.unit} {ev.line}, id {ev.source_id.split('~')[0]!r}"
            yield ev
        for note in notes:
            yield Notice(note)
        if n_rows == 0 and n_bad == 0:
            yield Notice(
                f"{label}: read as {shape.describe()}, it holds no records; check `format`/`records_path`", "error"
            )
        elif n_undecodable and n_undecodable >= max(1, n_rows // 10):
            yield Notice(
                f"{label}: {n_undecodable} of {n_rows} rows are not valid {encoding} (first at "
                f"line {first_bad_line}); set `encoding` for source {self.name!r} (e.g. 'cp1251')",
                "error",
            )
        elif n_undecodable:
            yield Notice(
                f"{label}: {n_undecodable} rows not valid {encoding} were quarantined (first at line {first_bad_line})"
            )
        if n_collisions:
            self.stats["id_collisions"] += n_collisions
            yield Notice(
                f"{label}: {n_collisions} rows reuse an id already given to a different text (first: {first_collision})"
                "; each is kept as a record of its own with id '<id>~<hash of its text>' (README 'Ids of table rows')"
            )

    def _check_header(self, label: str, header: list[str], shape: Shape) -> str | None:
        """Raise :class:`SourceError` when a mapped column is not in the header; a warning for repeated names."""
        dups = sorted({c for c in header if header.count(c) > 1})
        missing = [f"{col!r} (for {field!r})" for field, col in self._all_columns() if col not in header and col != "."]
        if missing:
            raise SourceError(
                f"{label}: line 1: mapped column {', '.join(missing)} not in the header "
                f"{header!r} (delimiter {shape.delimiter!r}); fix `columns` or `delimiter` for "
                f"source {self.name!r}"
            )
        if dups:
            shown = ", ".join(map(repr, dups))
            return f"{label}: line 1: the header repeats column(s) {shown}; only the last of each is kept"
        return None

    def _all_columns(self) -> list[tuple[str, str]]:
        votes = self.cfg.columns.votes or {}
        return [*self.mapping.items(), *((f"votes.{k}", c) for k, c in votes.items())]

    def _check_first(self, label: str, row: Row, shape: Shape) -> None:
        """The first record must hold the mapped text: raise :class:`SourceError` saying what was expected."""
        where = f"{row.unit} {row.n}"
        if isinstance(row.data, str):
            if "." not in self.text_columns:
                what = "a line of text" if shape.format in ("text", "csv", "tsv") else f"a {shape.format} string"
                raise SourceError(
                    f"{label}: {where} is {what}, not an object with the mapped keys {self.text_columns!r}: "
                    f'map `columns = {{ text = "." }}` (or leave `columns` out) for source {self.name!r}'
                )
            return
        if not isinstance(row.data, dict):
            return
        if self.text_columns == ["."]:
            keys = sorted(map(str, row.data))
            raise SourceError(
                f"{label}: {where} is an object (keys {keys[:12]!r}), not a text: map its columns, e.g. "
                f"`columns = {{ text = {_guess_text(keys)!r} }}`, for source {self.name!r} "
                "(`jokemine sources inspect` suggests a mapping)"
            )
        present = [c for c in self.text_columns if has_path(row.data, c)]
        if not present:
            raise SourceError(
                f"{label}: {where}: mapped key(s) {self.text_columns!r} not found; keys are "
                f"{sorted(map(str, row.data))[:20]!r}; fix `columns` for source {self.name!r}"
            )

    def _load_sidecar(self) -> tuple[dict[str, Any], str]:
        """The sidecar rows by id (``join.on``), and a digest of the sidecar file's fingerprint."""
        join = self.cfg.join
        assert join is not None
        sidecar = TableSource(
            name=f"{self.name}-join",
            kind="table",
            path=join.path,
            format=join.format,
            delimiter=join.delimiter,
            encoding=self.cfg.encoding,
        )
        paths = sidecar.files(self.base_dir)
        out: dict[str, Any] = {}
        digest = hashlib.blake2b(digest_size=8)
        for path in paths:
            try:
                digest.update(repr(sorted(fingerprint(path).items())).encode())
                shape = detect(path, shape_options(sidecar), str(path), [join.on])
                encoding = encoding_for(path, shape, sidecar.encoding)
                for row in read_records(path, shape, shape_options(sidecar, encoding), encoding, str(path)):
                    if row.n == 0 and join.on not in row.data:
                        raise SourceError(
                            f"{path}: the sidecar's header {row.data!r} has no `join.on` column {join.on!r}"
                        )
                    if row.n and row.error is None and isinstance(row.data, dict):
                        key = _key(dig(row.data, join.on))
                        if key:
                            out[key] = {f: dig(row.data, c) for f, c in join.columns.items()}
            except OSError as e:
                raise SourceError(f"{path}: cannot read the `join` sidecar: {e.strerror or e}") from None
        self.stats["sidecar_rows"] = len(out)
        return out, digest.hexdigest()

    def row_ids_of(self, envelopes: Iterable[dict[str, Any]]) -> list[tuple[str, str, str]]:
        """``(source_id, file, text digest)`` of stored raw envelopes with a mapped id, for a data dir whose earlier
        scrapes kept none (the ``row_ids`` table is newer than its raw parts): the runner fills it once from them,
        so files added later are checked against these too."""
        if not self.mapping.get("id"):
            return []
        out = []
        for env in envelopes:
            data = env.get("data")
            origin = env.get("origin")
            if isinstance(data, dict) and origin:
                file_key = origin if "::" in origin else str(Path(origin).resolve())
                out.append((str(env["source_id"]), file_key, text_digest(data, self.id_columns)))
        return out


def digest_columns(mapping: dict[str, str]) -> list[str]:
    """The columns a row's content digest (its id without a mapped ``id``) is made of: the mapped text columns,
    and the ``thread`` column when mapped (one caption in two contests is two rows)."""
    return [mapping[f] for f in (*TEXT_FIELDS, "thread") if f in mapping]


def text_digest(row: Any, text_columns: list[str]) -> str:
    """BLAKE2b-64 (hex) of a row's mapped text columns (dotted paths allowed), each followed by ``\\x1f``."""
    h = hashlib.blake2b(digest_size=8)
    for col in text_columns:
        h.update(str(dig(row, col) or "").encode("utf-8", "surrogateescape"))
        h.update(b"\x1f")
    return h.hexdigest()


@dataclass
class RowIdPolicy:
    """The ids of rows read by one run (the module docstring's rules): ``id_column`` (a mapped id, or None for
    content-hash ids), the ``text_columns`` hashed, the committed ids of earlier runs (``row_ids``)."""

    id_column: str | None
    text_columns: list[str]
    row_ids: RowIds = field(default_factory=NoRowIds)
    run_ids: dict[str, tuple[str, str]] = field(default_factory=dict)  # id -> (file, text digest), this run

    def assign(self, ev: RawItem, seen: Counter[str], file_key: str, scope: str | None = None) -> None:
        """Set ``ev.source_id`` (and ``note``/``row_key`` for mapped ids); ``seen`` counts content hashes in the
        file so far, ``scope`` prefixes mapped ids (``id_scope = "file"``)."""
        digest = text_digest(ev.data, self.text_columns)
        sid = _key(dig(ev.data, self.id_column)) if self.id_column else ""
        if not sid:
            seen[digest] += 1
            ev.source_id = digest if seen[digest] == 1 else f"{digest}~{seen[digest]}"
            return
        if scope is not None:
            sid = f"{scope}:{sid}"
        this_run = self.run_ids.get(sid)
        prev = this_run or self.row_ids.get(sid)
        if prev is not None and prev[1] != digest and (this_run is not None or prev[0] != file_key):
            sid, ev.note = f"{sid}~{digest}", "id_collision"
        ev.source_id = sid
        ev.row_key = (file_key, digest)
        self.run_ids[sid] = (file_key, digest)


_WANTED: dict[type, str] = {dict: "a JSON object", str: "a string", list: "an array"}
_JSON_NAMES: dict[type, str] = {
    dict: "object",
    list: "list",
    str: "str",
    int: "int",
    float: "float",
    bool: "bool",
    type(None): "null",
}


def _key(v: Any) -> str:
    """An id value as a join key (``3`` and ``"3"`` and ``3.0`` match)."""
    if v is None:
        return ""
    if isinstance(v, float) and v.is_integer():
        v = int(v)
    return str(v).strip()


def _guess_text(keys: list[str]) -> str:
    for want in ("text", "joke", "body", "content", "caption", "setup", "title", "question"):
        for k in keys:
            if k.lower() == want:
                return k
    return keys[0] if keys else "text"


def _lossless(data: Any) -> str:
    """A record with undecodable bytes (lone surrogates) as base64 of its original bytes, for the quarantine."""
    values = data.values() if isinstance(data, dict) else [data]
    raw = "".join(str(v) for v in values).encode("utf-8", "surrogateescape")
    return "base64:" + base64.b64encode(raw).decode("ascii")


def _codec_family(name: str) -> str:
    return "-".join(codecs.lookup(name).name.split("-")[:2])
