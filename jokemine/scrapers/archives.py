"""Archives of joke files (``.zip``, ``.tar``, ``.tar.gz``, ``.tar.zst``, ``.tar.bz2``, ``.tar.xz``): each member is a
file of its own, read with the same shape detection as a plain file.

An archive is recognised by its (decompressed) content: a ZIP local-file header, or the ``ustar`` magic of a tar
header (POSIX.1-1988, https://pubs.opengroup.org/onlinepubs/9699919799/utilities/pax.html#tag_20_92_13_06).
Tars are streamed (``tarfile`` mode ``r|``, no seeking, so a ``.tar.zst`` is decompressed once); each selected
member is copied to a temporary file while it is read and removed after. Members are named in provenance and
messages as ``<archive>::<member>`` (:func:`member_origin`), and are their own files for ids (``id_scope``).

Which members are read: those matching ``members`` (a glob on the member path, ``fnmatch`` rules; a pattern
without ``/`` also matches the base name), else every member whose extension names a format of records
(:data:`jokemine.scrapers.shapes.EXTENSIONS`) except ``.txt`` (licences and read-me files are text too);
hidden files, ``__MACOSX/`` and ``LICENSE``/``README``/``COPYING`` files never are.
"""

from __future__ import annotations

import fnmatch
import io
import os
import shutil
import tarfile
import tempfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import IO

from jokemine.errors import SourceError
from jokemine.scrapers.files import CHUNK, MEMBER_SEPARATOR, ChunkStream, head_bytes, iter_chunks, open_checked
from jokemine.scrapers.shapes import format_by_name

SEPARATOR = MEMBER_SEPARATOR
_OFFICE = (".xlsx", ".xlsm", ".docx", ".pptx", ".odt", ".ods", ".epub", ".jar", ".apk")
_NEVER = ("license", "licence", "readme", "copying", "notice", "changelog")


def member_origin(archive: str | os.PathLike[str], member: str) -> str:
    """How a member is named in provenance and messages: ``<archive>::<member>``."""
    return f"{archive}{SEPARATOR}{member}"


def is_member(origin: str) -> bool:
    """Whether ``origin`` names an archive member (:func:`member_origin`)."""
    return SEPARATOR in origin


def archive_kind(path: Path) -> str | None:
    """``zip`` or ``tar`` when the decompressed content of ``path`` is such an archive, else None. Raises
    :class:`SourceError` for an office document (a ZIP archive of XML parts, not of records)."""
    head = head_bytes(path, 512)
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        name = path.name.lower()
        if name.endswith(_OFFICE) or b"[Content_Types].xml" in head or b"mimetypemimetype" in head.replace(b"\0", b""):
            raise SourceError(
                f"{path}: is a ZIP archive of an office document (an .xlsx workbook is one): save the sheet as CSV"
            )
        return "zip"
    if head[257:262] == b"ustar":
        return "tar"
    return None


def wanted(name: str, pattern: str | None, text_ok: bool) -> bool:
    """Whether member ``name`` is read (see the module docstring); ``text_ok``: ``.txt`` members count as data
    (the source's ``format`` is ``text``)."""
    p = PurePosixPath(name)
    if any(part.startswith(".") or part == "__MACOSX" for part in p.parts):
        return False
    if pattern:
        return fnmatch.fnmatchcase(name, pattern) or ("/" not in pattern and fnmatch.fnmatchcase(p.name, pattern))
    if p.stem.lower() in _NEVER or p.name.lower() in _NEVER:
        return False
    fmt = format_by_name(name)
    return fmt is not None and (fmt != "text" or text_ok)


@contextmanager
def _spill_dir() -> Iterator[Path]:
    d = Path(tempfile.mkdtemp(prefix="jokemine-member-"))
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


def _copy(src: IO[bytes], dest: Path) -> None:
    with dest.open("wb") as out:
        while chunk := src.read(CHUNK):
            out.write(chunk)


def iter_members(path: Path, kind: str, pattern: str | None, text_ok: bool) -> Iterator[tuple[str, Path | None]]:
    """``(member name, local copy)`` for every regular member of the archive, in archive order; the copy is None
    for a member that is not read (see :func:`wanted`) and is deleted once the caller asks for the next member.
    Raises :class:`SourceError` naming the archive for a corrupt one."""
    with _spill_dir() as tmp:
        if kind == "zip":
            yield from _zip_members(path, pattern, text_ok, tmp)
        else:
            yield from _tar_members(path, pattern, text_ok, tmp)


def _target(tmp: Path, i: int, name: str) -> Path:
    d = tmp / str(i)
    d.mkdir()
    return d / (PurePosixPath(name).name or "member")


def _tar_members(path: Path, pattern: str | None, text_ok: bool, tmp: Path) -> Iterator[tuple[str, Path | None]]:
    chunks = iter_chunks(path)
    stream = io.BufferedReader(ChunkStream(chunks), buffer_size=1 << 20)
    try:
        with tarfile.open(fileobj=stream, mode="r|") as tf:
            for i, m in enumerate(tf):
                if not m.isfile():
                    continue
                if not wanted(m.name, pattern, text_ok):
                    yield m.name, None
                    continue
                src = tf.extractfile(m)
                if src is None:
                    continue
                dest = _target(tmp, i, m.name)
                _copy(src, dest)
                yield m.name, dest
                shutil.rmtree(dest.parent, ignore_errors=True)
    except tarfile.TarError as e:
        raise SourceError(f"{path}: corrupt tar archive: {e}") from None
    finally:
        chunks.close()


def _zip_members(path: Path, pattern: str | None, text_ok: bool, tmp: Path) -> Iterator[tuple[str, Path | None]]:
    source: Path = path
    with open_checked(path) as fh:
        compressed = fh.read(2) != b"PK"
    if compressed:  # a .zip.gz: zipfile needs to seek, so the archive itself is unpacked first
        source = tmp / "archive.zip"
        with source.open("wb") as out:
            for chunk in iter_chunks(path):
                out.write(chunk)
    try:
        with open_checked(source) as fh, zipfile.ZipFile(fh) as zf:
            for i, info in enumerate(zf.infolist()):
                if info.is_dir():
                    continue
                if not wanted(info.filename, pattern, text_ok):
                    yield info.filename, None
                    continue
                dest = _target(tmp, i, info.filename)
                with zf.open(info) as src:
                    _copy(src, dest)
                yield info.filename, dest
                shutil.rmtree(dest.parent, ignore_errors=True)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, EOFError) as e:
        raise SourceError(f"{path}: corrupt or unsupported ZIP archive: {e}") from None
