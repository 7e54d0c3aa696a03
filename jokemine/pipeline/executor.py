"""Executors run one function over many shards. Per-shard work must not depend on global state: everything a
shard needs travels in its task object (picklable), so the same tasks run in-process, on a local process
pool or (later) on a distributed executor."""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import TypeVar

from tqdm import tqdm

T = TypeVar("T")
R = TypeVar("R")


def default_workers() -> int:
    """Cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


class LocalExecutor:
    """Runs shards on this machine: in-process for one worker, else a fork-based process pool.

    ``map`` returns results in task order. Tasks are submitted largest first (``weight``), which keeps cores
    busy when shard sizes differ. A failing task raises in the caller after the pool is shut down.
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
            with ProcessPoolExecutor(max_workers=min(self.workers, len(tasks)), mp_context=ctx) as pool:
                futures = {pool.submit(fn, tasks[i]): i for i in order}
                for fut in as_completed(futures):
                    results[futures[fut]] = fut.result()
                    bar.update()
            return [results[i] for i in range(len(tasks))]
        finally:
            bar.close()
