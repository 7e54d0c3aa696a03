"""One writer per data dir: an exclusive ``flock`` on ``<data_dir>/.jokemine.lock`` held by each stage.

A second command on the same data dir fails at once with a message naming the holder (pid, command, start
time). The kernel releases the lock when its process dies, so a lock left by a killed run never blocks the
next one. Re-entrant within a process (a refresh holds it across scrape, clean and publish).

Only the process that took the lock holds it. An ``flock`` belongs to the open file description, which a forked
child shares (https://man7.org/linux/man-pages/man2/flock.2.html), so a worker process that outlived a killed
parent would keep the data dir locked. Two guards: every forked child closes its copy of the lock's file
descriptor at once (:func:`os.register_at_fork`; closing a copy never releases the parent's lock), and the
executors' workers die with their parent (:mod:`jokemine.pipeline.executor`). A lock still held although the
process named in it has exited (its children dying) is waited for up to :data:`DEAD_HOLDER_GRACE_S` seconds; a holder
on another host (a data dir on a network file system) is never taken for dead.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from jokemine.errors import JokemineError, NotWritable
from jokemine.state import utcnow

LOCK_NAME = ".jokemine.lock"
DEAD_HOLDER_GRACE_S = 5.0
HOLDER_INFO_WAIT_S = 1.0  # how long a contender waits for a fresh holder to write its pid, host, command
_held: dict[str, tuple[int, int, int]] = {}  # path -> (fd, depth, owner pid)


class Busy(JokemineError):
    """Another jokemine command holds the data dir."""


class DataDirNotWritable(NotWritable):
    """The data dir (or its lock file) cannot be written: a read-only file system, or missing permissions."""


def _forget_inherited_locks() -> None:
    """In a forked child: close the copies of the lock file descriptors (the parent keeps its lock)."""
    for fd, _depth, _owner in _held.values():
        with contextlib.suppress(OSError):
            os.close(fd)
    _held.clear()


os.register_at_fork(after_in_child=_forget_inherited_locks)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by another user
    return True


def _holder(fd: int) -> dict[str, Any] | None:
    try:
        h = json.loads(os.pread(fd, 4096, 0).decode("utf-8", "replace"))
    except (ValueError, OSError):
        return None
    return h if isinstance(h, dict) and {"pid", "what", "started_at"} <= h.keys() else None


def _try_lock(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    except OSError:
        os.close(fd)
        raise
    return True


def _open_lock_file(root: Path) -> int:
    try:
        root.mkdir(parents=True, exist_ok=True)
        return os.open(root / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as e:
        if e.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
            raise DataDirNotWritable(
                f"data dir {root} is not writable ({e.strerror}: {e.filename}); give this user write access, "
                "or point --data-dir / [paths] data_dir elsewhere"
            ) from None
        raise JokemineError(f"data dir {root}: cannot create its lock file: {e.strerror}") from None


@contextlib.contextmanager
def data_dir_lock(root: Path, what: str) -> Iterator[None]:
    """Hold the lock of data dir ``root`` for the block.

    Raises :class:`Busy` if another process holds it, :class:`DataDirNotWritable` if the lock file cannot be
    created or opened for writing (the data dir is read-only).
    """
    try:
        key = str((root / LOCK_NAME).resolve())
    except (OSError, RuntimeError):  # a symlink loop in the path: the open below reports it
        key = str((root / LOCK_NAME).absolute())
    if key in _held:
        fd, depth, owner = _held[key]
        _held[key] = (fd, depth + 1, owner)
        try:
            yield
        finally:
            if key in _held and os.getpid() == owner:
                fd, depth, owner = _held[key]
                _held[key] = (fd, depth - 1, owner)
        return
    fd = _open_lock_file(root)
    if not _try_lock(fd):
        h = _holder(fd)
        until = time.monotonic() + HOLDER_INFO_WAIT_S
        while h is None and time.monotonic() < until:  # the holder writes who it is just after locking
            time.sleep(0.05)
            h = _holder(fd)
        here = h is not None and h.get("host", socket.gethostname()) == socket.gethostname()
        dead = h is not None and here and isinstance(h.get("pid"), int) and not _alive(h["pid"])
        got = False
        if dead:  # its processes are dying; the kernel frees the lock when the last one has exited
            until = time.monotonic() + DEAD_HOLDER_GRACE_S
            while not got and time.monotonic() < until:
                time.sleep(0.05)
                got = _try_lock(fd)
        if not got:
            os.close(fd)
            if h is None:
                who = "another process"
            elif dead:
                who = (
                    f"processes left behind by pid {h['pid']} (jokemine {h['what']}, started {h['started_at']}), "
                    "which has exited"
                )
            else:
                on = "" if here else f" on host {h.get('host')}"
                who = f"pid {h['pid']}{on} (jokemine {h['what']}, started {h['started_at']})"
            raise Busy(f"data dir {root} is in use by {who}; try again when it has finished")
    info = {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "what": what,
        "started_at": utcnow().isoformat(timespec="seconds"),
        "argv": sys.argv[1:3],
    }
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(info).encode(), 0)
    except OSError:
        os.close(fd)  # (closing the only descriptor releases the lock too)
        raise
    owner = os.getpid()
    _held[key] = (fd, 1, owner)
    try:
        yield
    finally:
        # a forked child that unwinds through this block owns nothing here: its copy was closed at the fork
        if os.getpid() == owner and _held.get(key, (fd, 0, owner))[1] <= 1:
            _held.pop(key, None)
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)
            with contextlib.suppress(OSError):
                fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)
