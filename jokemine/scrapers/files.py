"""Streaming readers for dump files: plain, zstd (long window), gzip, bzip2 or xz, detected by magic bytes.

Lines are split on ``\\n`` only: real Reddit records contain U+2028/U+2029/U+0085 inside strings, which
``str.splitlines()`` would treat as line breaks. A zstd file that ends inside a frame raises
:class:`TruncatedError` after yielding every complete line (the zstandard stream reader itself would just stop).
"""

from __future__ import annotations

import bz2
import codecs
import contextlib
import errno
import fcntl
import gzip
import hashlib
import io
import lzma
import os
import re
import stat
import zlib
from collections import Counter
from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from typing import IO, Any

import numpy as np
import zstandard

from jokemine.errors import SourceError
from jokemine.scrapers.base import BadItem, Checkpoint, Event, Notice, RawItem

_SURROGATES = re.compile("[\udc80-\udcff]")
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
GZIP_MAGIC = b"\x1f\x8b"
CHUNK = 1 << 20
BZ2_MAGIC = b"BZh"
XZ_MAGIC = b"\xfd7zXZ\x00"
ZSTD_MAX_WINDOW = 2**31  # Pushshift/Arctic Shift dumps are written with --long=31
MAX_LINE_BYTES = 64 * CHUNK  # a "line" longer than this is not a record: the file is not line-delimited
BINARY_KINDS = (
    (0, b"PK\x03\x04", "a ZIP archive (an .xlsx workbook is one: save the sheet as CSV, or unpack the archive)"),
    (0, b"SQLite format 3\x00", "an SQLite database"),
    (0, b"PAR1", "a Parquet file"),
    (0, b"%PDF", "a PDF document"),
    (0, b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive (unpack it)"),
    (0, b"Rar!", "a RAR archive (unpack it)"),
    (0, b"\xd0\xcf\x11\xe0", "an OLE2 document (an old .xls workbook?: save the sheet as CSV)"),
    (0, b"\x89HDF", "an HDF5 file"),
    (257, b"ustar", "a tar archive (unpack it and point `path` at its files)"),
)
"""(offset, magic, what it is) of binary formats that are not records, named in the error instead of being parsed."""


MEMBER_SEPARATOR = "::"
"""Joins an archive's path and a member's name in provenance (``<archive>::<member>``)."""


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


_KINDS = {
    stat.S_IFIFO: "a FIFO (named pipe)",
    stat.S_IFSOCK: "a socket",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
}


def _os_error(path: Path, e: OSError, verb: str = "cannot read") -> SourceError:
    if isinstance(e, FileNotFoundError):
        return SourceError(f"{path}: no such file (check the source's 'path')")
    if e.errno == errno.ELOOP:
        return SourceError(f"{path}: {verb}: too many levels of symbolic links (a symlink loop)")
    if isinstance(e, PermissionError):
        return SourceError(f"{path}: {verb}: permission denied")
    return SourceError(f"{path}: {verb}: {e.strerror or e}")


def _require_regular(path: Path, st: os.stat_result) -> None:
    if stat.S_ISDIR(st.st_mode):
        raise SourceError(f"{path}: is a directory, expected a file")
    if not stat.S_ISREG(st.st_mode):
        kind = _KINDS.get(stat.S_IFMT(st.st_mode), "not a regular file")
        raise SourceError(f"{path}: is {kind}, expected a regular file (jokemine reads only regular files)")


def check_regular(path: Path) -> os.stat_result:
    """``os.stat(path)`` (symlinks followed) of a regular file. Raises :class:`SourceError` naming ``path`` when
    it is missing, unreadable, a symlink loop, a directory, or anything but a regular file (a FIFO would block a
    reader forever; a device never ends)."""
    try:
        st = os.stat(path)
    except OSError as e:
        raise _os_error(path, e) from None
    _require_regular(path, st)
    return st


def open_checked(path: Path) -> IO[bytes]:
    """Open the regular file ``path`` for binary reading, never blocking: it is opened with ``O_NONBLOCK`` (a FIFO
    without a writer opens at once) and checked with ``fstat`` before anything is read, so a path swapped for a
    FIFO between a check and the open cannot hang the run. Raises :class:`SourceError` naming the path (see
    :func:`check_regular`)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as e:
        raise _os_error(path, e, "cannot open") from None
    try:
        _require_regular(path, os.fstat(fd))
        fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) & ~os.O_NONBLOCK)
    except BaseException:
        os.close(fd)
        raise
    return os.fdopen(fd, "rb")


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


def _stdlib_chunks(fh: IO[bytes], path: Path, name: str) -> Iterator[bytes]:
    """bzip2 or xz (both multi-stream) through the standard library."""
    opener = bz2.BZ2File if name == "bzip2" else lzma.LZMAFile
    try:
        with opener(fh) as f:
            while chunk := f.read(CHUNK):
                yield chunk
    except EOFError:
        raise TruncatedError(f"{path}: truncated {name} file") from None
    except (OSError, lzma.LZMAError, ValueError) as e:
        raise SourceError(f"{path}: corrupt {name} data: {e}") from None


def iter_chunks(path: Path) -> Generator[bytes, None, None]:
    """Decompressed bytes of ``path`` in chunks (compression detected from the first bytes, not the name: zstd,
    gzip, bzip2, xz, else plain)."""
    with open_checked(path) as fh:
        magic = fh.read(6)
        fh.seek(0)
        if magic[:4] == ZSTD_MAGIC:
            yield from _zstd_chunks(fh, path)
        elif magic[:2] == GZIP_MAGIC:
            yield from _gzip_chunks(fh, path)
        elif magic[:3] == BZ2_MAGIC:
            yield from _stdlib_chunks(fh, path, "bzip2")
        elif magic == XZ_MAGIC:
            yield from _stdlib_chunks(fh, path, "xz")
        else:
            while chunk := fh.read(CHUNK):
                yield chunk


_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


def head_bytes(path: Path, n: int = 4096) -> bytes:
    """The first ``n`` decompressed bytes of ``path`` (fewer when it is shorter, or cut short: the reader reports a
    truncated file itself, after keeping what comes before the cut)."""
    chunks = iter_chunks(path)
    out = b""
    try:
        for chunk in chunks:
            out += chunk
            if len(out) >= n:
                break
    except TruncatedError:
        pass
    finally:
        chunks.close()
    return out[:n]


def sniff_encoding(path: Path, declared: str, *, configurable: bool = True) -> str:
    """The encoding to read ``path`` with: the one its byte order mark names, else ``declared``.

    Raises :class:`SourceError` when the file has no byte order mark but looks like UTF-16 (over a quarter of its
    first bytes are NUL) while ``declared`` is a single-byte or UTF-8 encoding; the message suggests the source's
    ``encoding`` option when it has one (``configurable``), else converting the file."""
    head = head_bytes(path)
    for bom, enc in _BOMS:
        if head.startswith(bom):
            return enc
    for offset, magic, what in BINARY_KINDS:
        if head[offset : offset + len(magic)] == magic:
            raise SourceError(f"{path}: is {what}, not a file of records")
    wide = codecs.lookup(declared).name.startswith(("utf-16", "utf-32"))
    if not wide and len(head) >= 16 and head.count(0) > len(head) // 4:
        guess = "utf-16-le" if head[1::2].count(0) > head[0::2].count(0) else "utf-16-be"
        fix = (
            f'set `encoding = "{guess}"` for this source'
            if configurable
            else f"convert it to UTF-8 first, e.g. `iconv -f {guess.upper()} -t UTF-8`"
        )
        raise SourceError(f"{path}: mostly NUL bytes, so probably {guess.upper()} without a byte order mark; {fix}")
    return declared


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
                if len(buf) > MAX_LINE_BYTES:
                    raise SourceError(
                        f"{path}: line {n + 1} is longer than {MAX_LINE_BYTES >> 20} MiB: not one record per line"
                    )
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
    """The first non-whitespace byte of the decompressed content (``b""`` for an empty file). Raises
    :class:`TruncatedError` for a compressed file cut short before any content."""
    chunks = iter_chunks(path)
    try:
        for i, chunk in enumerate(chunks):
            stripped = (chunk.removeprefix(b"\xef\xbb\xbf") if i == 0 else chunk).lstrip()
            if stripped:
                return stripped[:1]
    finally:
        chunks.close()
    return b""


def _ends_digest(fh: IO[bytes], size: int) -> str:
    """SHA-256 of the first MiB and (when ``size`` > 2 MiB) the MiB ending at ``size``."""
    h = hashlib.sha256()
    fh.seek(0)
    h.update(fh.read(min(CHUNK, size)))
    if size > 2 * CHUNK:
        fh.seek(size - CHUNK)
        h.update(fh.read(CHUNK))
    return h.hexdigest()


def fingerprint(path: Path) -> dict[str, Any]:
    """Identity of a file's content for incremental runs: size, mtime and SHA-256 of its first and last MiB.

    Raises :class:`SourceError` for anything but a readable regular file (see :func:`open_checked`)."""
    with open_checked(path) as fh:
        st = os.fstat(fh.fileno())
        return {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256_ends": _ends_digest(fh, st.st_size)}


def prefix_info(path: Path, size: int, sha256_ends: str) -> dict[str, Any] | None:
    """What a later run needs to recognise ``path``'s first ``size`` bytes inside a grown file: ``size``, the
    SHA-256 of those bytes (``sha256``), of their sampled ends (``sha256_ends``, cheap to check first), the number
    of complete lines in them (``newlines``) and whether the file is compressed. None when those bytes are no longer
    the ones that were read (their sampled digest is not ``sha256_ends``: the file was replaced meanwhile)."""
    h, newlines = hashlib.sha256(), 0
    with open_checked(path) as fh:
        magic = fh.read(4)
        ends = _ends_digest(fh, size)
        if ends != sha256_ends or os.fstat(fh.fileno()).st_size < size:
            return None
        fh.seek(0)
        left = size
        while left > 0 and (chunk := fh.read(min(CHUNK, left))):
            h.update(chunk)
            newlines += chunk.count(b"\n")
            left -= len(chunk)
    compressed = magic == ZSTD_MAGIC or magic[:2] == GZIP_MAGIC or magic[:3] == BZ2_MAGIC or magic == XZ_MAGIC[:4]
    return {"size": size, "sha256": h.hexdigest(), "sha256_ends": ends, "newlines": newlines, "compressed": compressed}


def starts_with(path: Path, prefix: dict[str, Any]) -> bool:
    """Whether ``path`` begins with the bytes :func:`prefix_info` described (a file that grew: appended to, or a
    truncated download completed)."""
    size = int(prefix.get("size", -1))
    try:
        with open_checked(path) as fh:
            if size <= 0 or os.fstat(fh.fileno()).st_size < size or _ends_digest(fh, size) != prefix.get("sha256_ends"):
                return False
            h, left = hashlib.sha256(), size
            fh.seek(0)
            while left > 0 and (chunk := fh.read(min(CHUNK, left))):
                h.update(chunk)
                left -= len(chunk)
            return h.hexdigest() == prefix.get("sha256")
    except (SourceError, OSError):
        return False


def _resume_point(prev: Any, done: dict[str, Any], path: Path) -> int:
    """Units (lines or items) of ``path`` a previous run already stored, from its cursor ``prev``: all it read when
    the file is the one it read (a truncated file not yet repaired), or when the file grew from the prefix it read
    (``resume`` in the cursor: see :func:`prefix_info`); 0 otherwise (a new or rewritten file)."""
    if not isinstance(prev, dict):
        return 0
    identity = prev.get("partial_of", prev)
    if not isinstance(identity, dict) or identity.get("settings") != done["settings"]:
        return 0
    if "partial_of" in prev and prev["partial_of"] == done:
        return int(prev.get("lines", 0))
    resume = prev.get("resume")
    if isinstance(resume, dict) and starts_with(path, resume.get("prefix") or {}):
        return int(resume.get("lines", 0))
    return 0


def _skipped(stats: Counter[str]) -> int:
    """Records a source read fine and left out on purpose (its ``skipped_*`` counters, e.g. other subreddits)."""
    return sum(v for k, v in stats.items() if k.startswith("skipped_"))


def _same_file(prev: Any, done: dict[str, Any]) -> bool:
    if not isinstance(prev, dict) or "partial_of" in prev:
        return False
    return {k: v for k, v in prev.items() if k != "resume"} == done


def walk_files(
    files: list[Path],
    cursors: dict[str, object],
    force: bool,
    read_one: Callable[[Path], Iterator[Event]],
    stats: Counter[str],
    settings: str = "",
    labels: dict[Path, str] | None = None,
) -> Iterator[Event]:
    """Read each file with ``read_one`` unless the committed cursor ``file:<path>`` says it is done.

    The cursor of a completely read file is its :func:`fingerprint` plus ``settings`` (a digest of the source
    options that change what is read, e.g. ``encoding`` or ``columns``): the same file read with other settings
    is read again. A file that failed part-way (truncated, undecodable) is committed with what was read and a
    resume point, ``{"partial_of": <cursor>, "lines": N}``: the next run of the same file skips the first N
    lines (or items) instead of storing them twice. A cursor of a file from which something was read also keeps
    ``resume``: the prefix that was read (:func:`prefix_info`) and how many units of it are done, so a file that grew
    from it (a truncated download completed, a dump appended to) is read from where the last run stopped; a file
    rewritten in place is read from the start. In a plain (uncompressed) text file only the records stored whole on
    lines that ended count as done: a record cut by the end of the file is read again. Only regular files are read
    (:func:`check_regular`).

    Per file, a :class:`SourceError` or an I/O error (missing file, symlink loop, FIFO, corrupt data) becomes an error
    :class:`Notice` and the next file is read; so does a file most of whose records could not be read (more
    quarantined than read, where records a source leaves out on purpose, its ``skipped_*`` counters, count as read):
    such a file is not marked done, and is reported again by every run until it is fixed. After each file a
    :class:`Checkpoint` commits what was read.
    """
    if not files:
        raise SourceError("no input files configured")
    labels = labels or {}
    for path in files:
        if path in labels:  # a local copy of a Hub file: provenance, messages and cursor name its URL
            mapped = {**cursors, f"file:{path.resolve()}": cursors.get(f"file:{labels[path]}")}
            yield from _relabel(walk_files([path], mapped, force, read_one, stats, settings), path, labels[path])
            continue
        try:
            check_regular(path)
            done = {**fingerprint(path), "settings": settings}
        except SourceError as e:
            yield Notice(str(e), "error")
            continue
        except OSError as e:  # an I/O error while reading its first and last MiB
            yield Notice(str(_os_error(path, e)), "error")
            continue
        key = f"file:{path.resolve()}"
        prev = cursors.get(key)
        if not force and _same_file(prev, done):
            stats["files_unchanged"] += 1
            continue
        resume = 0 if force else _resume_point(prev, done, path)
        if resume:
            stats["files_resumed"] += 1
        complete, last, last_good, line_unit = True, resume, resume, False
        good = bad = 0
        first_bad = ""
        skipped_before = _skipped(stats)
        try:
            for ev in read_one(path):
                if isinstance(ev, RawItem):
                    good += 1
                elif isinstance(ev, BadItem):
                    bad += 1
                    first_bad = first_bad or f"{ev.unit} {ev.line}: {ev.error}"
                if isinstance(ev, RawItem | BadItem) and ev.line is not None and MEMBER_SEPARATOR not in ev.origin:
                    # (an archive's members number their own lines: an archive read part-way is read again whole)
                    line_unit = ev.unit == "line"
                    if ev.line <= resume:
                        continue  # stored by an earlier run of this same file (or of its prefix)
                    last = max(last, ev.line)
                    if isinstance(ev, RawItem):
                        last_good = max(last_good, ev.line)
                if isinstance(ev, Notice) and ev.level == "error":
                    complete = False
                yield ev
        except SourceError as e:
            complete = False
            yield Notice(str(e), "error")
        except OSError as e:  # an I/O error part-way: what was read before it is kept
            complete = False
            yield Notice(str(_os_error(path, e)), "error")
        good += _skipped(stats) - skipped_before  # read fine, left out by the source's own filter
        if bad > good and complete:  # (an error about the file itself already explains the bad records)
            complete = False
            yield Notice(
                f"{path}: {bad} of {good + bad} records could not be read and were quarantined (first: {first_bad}); "
                "check the source's format, columns and encoding",
                "error",
            )
        stats["files_read"] += 1
        cursor: dict[str, Any] = dict(done) if complete else {"partial_of": done, "lines": last}
        if last:
            with contextlib.suppress(SourceError, OSError):
                prefix = prefix_info(path, int(done["size"]), str(done["sha256_ends"]))
                lines = last
                if prefix is not None and line_unit and not prefix["compressed"]:
                    # a plain file may have been cut inside its last record: only records stored complete, on
                    # lines that ended, are skipped when it grows
                    lines = min(last_good, int(prefix["newlines"]))
                if prefix is not None:
                    cursor["resume"] = {"prefix": prefix, "lines": lines}
        if complete or last:
            yield Checkpoint({key: cursor})
        else:
            yield Checkpoint({})


def _relabel(events: Iterator[Event], path: Path, label: str) -> Iterator[Event]:
    """``events`` of the local copy ``path`` with its name replaced by ``label`` (the Hub URL), cursor keys too."""
    local, key = str(path), f"file:{path.resolve()}"
    for ev in events:
        if isinstance(ev, RawItem | BadItem):
            ev.origin = ev.origin.replace(local, label)
        elif isinstance(ev, Notice):
            ev.message = ev.message.replace(local, label)
        elif isinstance(ev, Checkpoint):
            ev.cursors = {(f"file:{label}" if k == key else k): v for k, v in ev.cursors.items()}
        yield ev


MAX_JSON_DEPTH = 1000
_BRACKETS = np.zeros(256, np.int8)
_BRACKETS[[ord("["), ord("{")]] = 1
_BRACKETS[[ord("]"), ord("}")]] = -1


class JsonDepth:
    """Nesting depth of a JSON text fed in chunks, with brackets inside strings ignored (quotes escaped by an odd
    number of backslashes do not end a string). Vectorised with NumPy; the state (depth, inside a string, trailing
    backslashes) carries over chunk ends, so any chunking gives the same answer."""

    def __init__(self) -> None:
        self.depth = 0
        self.in_string = False
        self.backslashes = 0  # length of the run of backslashes ending the previous chunk

    def feed(self, chunk: bytes, limit: int | None = None) -> tuple[int, int]:
        """Consume ``chunk``; returns (the deepest level reached in it, its offset in the chunk; -1 if none). With
        ``limit``, the offset is that of the first bracket going deeper than ``limit`` when one does.

        Works on the positions of quotes, backslashes and brackets only (a few passes over the bytes)."""
        if not chunk:
            return self.depth, -1
        arr = np.frombuffer(chunk, np.uint8)
        n = len(arr)
        quotes = np.flatnonzero(arr == 0x22)
        bs = np.flatnonzero(arr == 0x5C)
        if len(bs):  # runs of consecutive backslashes: where each ends, how long it is
            cut = np.flatnonzero(np.diff(bs) != 1)
            run_end = np.concatenate((bs[cut], bs[-1:]))
            run_len = run_end - np.concatenate((bs[:1], bs[cut + 1])) + 1
            if bs[0] == 0:
                run_len[0] += self.backslashes  # a run that began in the previous chunk
        else:
            run_end = run_len = np.zeros(0, np.int64)
        before = np.zeros(len(quotes), np.int64)  # backslashes right before each quote
        if len(run_end):
            k = np.minimum(np.searchsorted(run_end, quotes - 1), len(run_end) - 1)
            before = np.where(run_end[k] == quotes - 1, run_len[k], 0)
        before[quotes == 0] = self.backslashes
        real = quotes[before % 2 == 0]
        brackets = np.flatnonzero(_BRACKETS[arr])
        outside = (np.searchsorted(real, brackets) + int(self.in_string)) % 2 == 0
        brackets = brackets[outside]
        self.in_string = bool((len(real) + int(self.in_string)) % 2)
        self.backslashes = int(run_len[-1]) if len(run_end) and run_end[-1] == n - 1 else 0
        if not len(brackets):
            return self.depth, -1
        levels = np.cumsum(_BRACKETS[arr[brackets]], dtype=np.int64) + self.depth
        self.depth = int(levels[-1])
        deepest = int(levels.max())
        at = int(np.argmax(levels > limit)) if limit is not None and deepest > limit else int(np.argmax(levels))
        return deepest, int(brackets[at])


def guard_json_depth(chunks: Iterator[bytes], path: Path, limit: int = MAX_JSON_DEPTH) -> Generator[bytes, None, None]:
    """``chunks`` of a JSON document, passed on unchanged; :class:`SourceError` once brackets outside strings nest
    deeper than ``limit`` (:class:`JsonDepth`). ijson's C parser needs memory quadratic in the nesting depth (about
    2 GB at 30,000 levels), so a hostile file must be refused before it is parsed that deep; no record of jokes
    nests anywhere near the limit."""
    scan = JsonDepth()
    seen = 0
    for chunk in chunks:
        deepest, at = scan.feed(chunk, limit)
        if deepest > limit:
            raise SourceError(f"{path}: JSON nested deeper than {limit} levels (near byte {seen + at:,}): not records")
        seen += len(chunk)
        yield chunk


def iter_utf8_chunks(path: Path, encoding: str, replaced: Counter[str]) -> Generator[bytes, None, None]:
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
