"""One writer per data dir: an exclusive ``flock`` on ``<data_dir>/.jokemine.lock`` held by each stage.

A second command on the same data dir fails at once with a message naming the holder (pid, command, start
time). The kernel releases the lock when its process dies, so a lock left by a killed run never blocks the
next one. Re-entrant within a process (a refresh holds it across scrape, clean and publish).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path

from jokemine.errors import JokemineError
from jokemine.state import utcnow

LOCK_NAME = ".jokemine.lock"
_held: dict[str, tuple[int, int]] = {}  # path -> (fd, depth)


class Busy(JokemineError):
    """Another jokemine command holds the data dir."""


@contextlib.contextmanager
def data_dir_lock(root: Path, what: str) -> Iterator[None]:
    """Hold the lock of data dir ``root`` for the block; :class:`Busy` if another process holds it."""
    root.mkdir(parents=True, exist_ok=True)
    path = str((root / LOCK_NAME).resolve())
    if path in _held:
        fd, depth = _held[path]
        _held[path] = (fd, depth + 1)
        try:
            yield
        finally:
            fd, depth = _held[path]
            _held[path] = (fd, depth - 1)
        return
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 4096, 0).decode("utf-8", "replace")
        os.close(fd)
        try:
            h = json.loads(holder)
            who = f"pid {h['pid']} (jokemine {h['what']}, started {h['started_at']})"
        except (ValueError, KeyError, TypeError):
            who = "another process"
        raise Busy(f"data dir {root} is in use by {who}; try again when it has finished") from None
    info = json.dumps(
        {"pid": os.getpid(), "what": what, "started_at": utcnow().isoformat(timespec="seconds"), "argv": sys.argv[1:3]}
    )
    os.ftruncate(fd, 0)
    os.pwrite(fd, info.encode(), 0)
    _held[path] = (fd, 1)
    try:
        yield
    finally:
        if _held[path][1] <= 1:
            del _held[path]
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)
