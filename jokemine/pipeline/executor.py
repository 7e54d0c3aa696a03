"""Executors run one function over many shards. Per-shard work must not depend on global state: everything a
shard needs travels in its task object (picklable), so the same tasks run in-process, on a local process
pool or (later) on a distributed executor."""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import signal
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import TypeVar

from tqdm import tqdm

T = TypeVar("T")
R = TypeVar("R")


PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def die_with_parent(parent_pid: int) -> None:
    """Process-pool initializer: this worker gets SIGKILL when its parent dies (Linux ``prctl(PR_SET_PDEATHSIG)``,
    https://man7.org/linux/man-pages/man2/prctl.2.html), so a killed driver (``kill -9``, the OOM killer) leaves no
    worker behind to hold its files or the data dir lock. Exits at once if the parent is already gone. A no-op
    where ``prctl`` does not exist (not Linux): the pool's own shutdown is then the only guard."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):  # pragma: no cover - not Linux
        pass
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        os._exit(1)


def default_workers() -> int:
    """Cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


class LocalExecutor:
    """Runs shards on this machine: in-process for one worker, else a fork-based process pool.

    ``map`` returns results in task order. Tasks are submitted largest first (``weight``), which keeps cores
    busy when shard sizes differ. A failing task raises in the caller after the pool is shut down. Workers die
    with the process that started them (:func:`die_with_parent`).
    """

    def __init__(self, workers: int = 0, progress: bool | None = None) -> None:
        self.workers = workers or default_workers()
        self.progress = progress

    def map(
        self,
        fn: Callable[[T], R],
        tasks: Sequence[T],
        *,
        desc: str = "",
        weight: Callable[[T], float] | None = None,
    ) -> list[R]:
        """``[fn(t) for t in tasks]``, in parallel."""
        disable = None if self.progress is None else not self.progress
        bar = tqdm(total=len(tasks), desc=desc, unit=" shard", disable=disable, leave=False)
        try:
            if self.workers <= 1 or len(tasks) <= 1:
                out = []
                for t in tasks:
                    out.append(fn(t))
                    bar.update()
                return out
            order = sorted(range(len(tasks)), key=lambda i: -(weight(tasks[i]) if weight else 0))
            results: dict[int, R] = {}
            ctx = multiprocessing.get_context("fork")
            with ProcessPoolExecutor(
                max_workers=min(self.workers, len(tasks)),
                mp_context=ctx,
                initializer=die_with_parent,
                initargs=(os.getpid(),),
            ) as pool:
                futures = {pool.submit(fn, tasks[i]): i for i in order}
                for fut in as_completed(futures):
                    results[futures[fut]] = fut.result()
                    bar.update()
            return [results[i] for i in range(len(tasks))]
        finally:
            bar.close()
