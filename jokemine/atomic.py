"""Atomic outputs: write to a temporary name in the same directory, then ``os.replace``.

A crash at any point leaves either the old file/dir/pointer or the new one, never a half-written one.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any


def tmp_name(path: Path) -> Path:
    """A hidden temporary sibling of ``path`` (``.<name>.tmp-<random>``); same filesystem, so rename is atomic."""
    return path.with_name(f".{path.name}.tmp-{uuid.uuid4().hex[:8]}")


def fsync_dir(path: Path) -> None:
    """Flush a directory entry (so a rename survives power loss)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_tree(root: Path) -> None:
    """Flush every file and directory under ``root`` (before renaming it into place)."""
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            fd = os.open(os.path.join(dirpath, name), os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        fsync_dir(Path(dirpath))


def write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = tmp_name(path)
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def write_text(path: Path, text: str) -> None:
    """Write UTF-8 ``text`` to ``path`` atomically."""
    write_bytes(path, text.encode("utf-8"))


def write_json(path: Path, obj: Any) -> None:
    """Write ``obj`` as indented UTF-8 JSON to ``path`` atomically."""
    write_text(path, json.dumps(obj, indent=2, ensure_ascii=False, sort_keys=False, default=str) + "\n")


@contextlib.contextmanager
def staged_dir(final: Path) -> Iterator[Path]:
    """Yield a temporary directory that becomes ``final`` when the block exits without error.

    ``final`` must not exist yet. On error the temporary directory is removed and ``final`` is untouched.
    """
    final.parent.mkdir(parents=True, exist_ok=True)
    if final.exists():
        raise FileExistsError(final)
    tmp = tmp_name(final)
    tmp.mkdir()
    try:
        yield tmp
        fsync_tree(tmp)
        os.replace(tmp, final)
        fsync_dir(final.parent)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def point(link: Path, target: str) -> None:
    """Make the symlink ``link`` point at ``target`` (a name relative to the link's directory), atomically."""
    tmp = tmp_name(link)
    os.symlink(target, tmp)
    try:
        os.replace(tmp, link)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def read_pointer(link: Path) -> str | None:
    """The target name of a pointer made by :func:`point`, or None when there is none."""
    try:
        return os.readlink(link)
    except (FileNotFoundError, OSError):
        return None


def remove_stale_tmp(directory: Path) -> int:
    """Delete ``.*.tmp-*`` leftovers of crashed runs in ``directory``; returns how many were removed."""
    n = 0
    if not directory.is_dir():
        return 0
    for p in directory.glob(".*.tmp-*"):
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p, ignore_errors=True)
        else:
            with contextlib.suppress(FileNotFoundError):
                p.unlink()
        n += 1
    return n
