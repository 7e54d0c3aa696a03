"""Streaming readers for dump files: plain, zstd (long window) or gzip, detected by magic bytes.

Lines are split on ``\\n`` only: real Reddit records contain U+2028/U+2029/U+0085 inside strings, which
``str.splitlines()`` would treat as line breaks. A zstd file that ends inside a frame raises
:class:`TruncatedError` after yielding every complete line (the zstandard stream reader itself would just stop).
"""

from __future__ import annotations

import codecs
import gzip
import hashlib
import io
import os
import re
import zlib
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

import zstandard

from jokemine.errors import SourceError
from jokemine.scrapers.base import BadItem, Checkpoint, Event, Notice, RawItem

_SURROGATES = re.compile("[\udc80-\udcff]")
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
GZIP_MAGIC = b"\x1f\x8b"
CHUNK = 1 << 20
ZSTD_MAX_WINDOW = 2**31  # Pushshift/Arctic Shift dumps are written with --long=31


class TruncatedError(SourceError):
    """The compressed stream ended before its last frame did (the file was cut short)."""


class ChunkStream(io.RawIOBase):
    """A read-only file object over an iterator of byte chunks (for ijson)."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._buf = b""

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        while not self._buf:
            try:
                self._buf = next(self._chunks)
            except StopIteration:
                return 0
        n = min(len(b), len(self._buf))
        b[:n] = self._buf[:n]
        self._buf = self._buf[n:]
        return n


def open_checked(path: Path) -> IO[bytes]:
    """Open ``path`` for binary reading; :class:`SourceError` naming the path if it is missing or unreadable."""
    try:
        if path.is_dir():
            raise SourceError(f"{path}: is a directory, expected a file")
        return open(path, "rb")
    except FileNotFoundError:
        raise SourceError(f"{path}: no such file") from None
    except PermissionError:
        raise SourceError(f"{path}: permission denied") from None
    except OSError as e:
        raise SourceError(f"{path}: cannot open: {e.strerror}") from None


def _zstd_chunks(fh: IO[bytes], path: Path) -> Iterator[bytes]:
    dctx = zstandard.ZstdDecompressor(max_window_size=ZSTD_MAX_WINDOW)
    dobj = dctx.decompressobj()
    fed = False
    while chunk := fh.read(CHUNK):
        while chunk:
            try:
                out = dobj.decompress(chunk)
            except zstandard.ZstdError as e:
                raise SourceError(f"{path}: corrupt zstd data near byte {fh.tell()}: {e}") from None
            fed = True
            if out:
                yield out
            if dobj.eof:
                chunk = dobj.unused_data
                dobj = dctx.decompressobj()
                fed = False
            else:
                chunk = b""
    if fed:
        raise TruncatedError(f"{path}: truncated zstd file (the last frame is incomplete)")


def _gzip_chunks(fh: IO[bytes], path: Path) -> Iterator[bytes]:
    gz = gzip.GzipFile(fileobj=fh)
    try:
        while chunk := gz.read(CHUNK):
            yield chunk
    except EOFError:
        raise TruncatedError(f"{path}: truncated gzip file") from None
    except (OSError, zlib.error) as e:
        raise SourceError(f"{path}: corrupt gzip data: {e}") from None


def iter_chunks(path: Path) -> Iterator[bytes]:
    """Decompressed bytes of ``path`` in chunks (compression detected from the first bytes, not the name)."""
    with open_checked(path) as fh:
        magic = fh.read(4)
        fh.seek(0)
        if magic == ZSTD_MAGIC:
            yield from _zstd_chunks(fh, path)
        elif magic[:2] == GZIP_MAGIC:
            yield from _gzip_chunks(fh, path)
        else:
            while chunk := fh.read(CHUNK):
                yield chunk


def iter_lines(path: Path) -> Iterator[tuple[int, bytes]]:
    """``(line_number, line_bytes)`` for each line of ``path`` (1-based, ``\\n`` removed, split on ``\\n`` only).

    Raises :class:`TruncatedError` after the last complete line when a compressed file is cut short; the
    partial last line is then not yielded (see :func:`iter_lines_with_tail`).
    """
    tail: list[bytes] = []
    yield from iter_lines_with_tail(path, tail)


def iter_lines_with_tail(path: Path, tail: list[bytes]) -> Iterator[tuple[int, bytes]]:
    """Like :func:`iter_lines`; on truncation, the incomplete last line is appended to ``tail`` before the
    error is raised, so the caller can quarantine it."""
    buf = b""
    n = 0
    try:
        for chunk in iter_chunks(path):
            buf += chunk
            if b"\n" not in chunk:
                continue
            lines = buf.split(b"\n")
            buf = lines.pop()
            for line in lines:
                n += 1
                yield n, line
    except TruncatedError:
        if buf:
            tail.append(buf)
        raise
    if buf:
        yield n + 1, buf


def first_byte(path: Path) -> bytes:
    """The first non-whitespace byte of the decompressed content (``b""`` for an empty file)."""
    chunks = iter_chunks(path)
    try:
        for i, chunk in enumerate(chunks):
            stripped = (chunk.removeprefix(b"\xef\xbb\xbf") if i == 0 else chunk).lstrip()
            if stripped:
                return stripped[:1]
    finally:
        chunks.close()
    return b""


def fingerprint(path: Path) -> dict[str, object]:
    """Identity of a file's content for incremental runs: size, mtime and SHA-256 of its first and last MiB."""
    st = os.stat(path)
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        h.update(fh.read(CHUNK))
        if st.st_size > 2 * CHUNK:
            fh.seek(-CHUNK, os.SEEK_END)
            h.update(fh.read(CHUNK))
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256_ends": h.hexdigest()}


def walk_files(
    files: list[Path],
    cursors: dict[str, object],
    force: bool,
    read_one: Callable[[Path], Iterator[Event]],
    stats: Counter[str],
    settings: str = "",
) -> Iterator[Event]:
    """Read each file with ``read_one`` unless the committed cursor ``file:<path>`` says it is done.

    The cursor of a completely read file is its :func:`fingerprint` plus ``settings`` (a digest of the source
    options that change what is read, e.g. ``encoding`` or ``columns``): the same file read with other settings
    is read again. A file that failed part-way (truncated, undecodable) is committed with what was read and a
    resume point, ``{"partial_of": <cursor>, "lines": N}``: the next run of the same file skips the first N
    lines (or items) instead of storing them twice; a repaired file (new fingerprint) is read from the start.
    A :class:`SourceError` from one file becomes an error :class:`Notice` and the next file is read. After each
    file a :class:`Checkpoint` commits what was read.
    """
    if not files:
        raise SourceError("no input files configured")
    for path in files:
        key = f"file:{path.resolve()}"
        if path.is_dir():
            yield Notice(f"{path}: is a directory, expected a file", "error")
            continue
        try:
            done = {**fingerprint(path), "settings": settings}
        except FileNotFoundError:
            yield Notice(f"{path}: no such file (check the source's 'path')", "error")
            continue
        except OSError as e:
            yield Notice(f"{path}: cannot read: {e.strerror}", "error")
            continue
        prev = cursors.get(key)
        if not force and prev == done:
            stats["files_unchanged"] += 1
            continue
        resume = 0
        if not force and isinstance(prev, dict) and prev.get("partial_of") == done:
            resume = int(prev.get("lines", 0))
        complete, last = True, resume
        try:
            for ev in read_one(path):
                if isinstance(ev, RawItem | BadItem) and ev.line is not None:
                    if ev.line <= resume:
                        continue  # stored by an earlier run of this same file
                    last = max(last, ev.line)
                if isinstance(ev, Notice) and ev.level == "error":
                    complete = False
                yield ev
        except SourceError as e:
            complete = False
            yield Notice(str(e), "error")
        stats["files_read"] += 1
        if complete:
            yield Checkpoint({key: done})
        else:
            yield Checkpoint({key: {"partial_of": done, "lines": last}} if last else {})


def iter_utf8_chunks(path: Path, encoding: str, replaced: Counter[str]) -> Iterator[bytes]:
    """The content of ``path`` decoded from ``encoding`` and re-encoded as UTF-8 (for byte-level JSON parsers),
    a leading BOM dropped; undecodable bytes become U+FFFD and are counted in ``replaced["bytes"]``."""
    dec = codecs.getincrementaldecoder(encoding)("surrogateescape")
    first = True
    for chunk in iter_chunks(path):
        text = dec.decode(chunk)
        if first and text:
            text, first = text.removeprefix("\ufeff"), False
        bad = len(_SURROGATES.findall(text))
        if bad:
            replaced["bytes"] += bad
            text = _SURROGATES.sub("\ufffd", text)
        yield text.encode("utf-8", "replace")
    tail = dec.decode(b"", final=True)
    if tail:
        yield tail.encode("utf-8", "replace")
