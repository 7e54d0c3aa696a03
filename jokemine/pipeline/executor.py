"""Executors run one function over many tasks (partitions). Per-task work must not depend on global state:
everything a task needs travels in its task object (picklable, module-level function), and tasks hand their
output to later stages through files, so the same tasks run in-process, on a local process pool or on a Dask
cluster (the pattern of huggingface/datatrove's executors: https://github.com/huggingface/datatrove).

:class:`Executor` is the protocol ``clean`` is given. Each :meth:`Executor.map` call is one *stage*: when it is
given a ``completions`` folder, every finished task leaves a marker there (``<folder>/<stage>/<task>.pkl``, its
pickled result, written atomically by the worker that ran it), and a later run of the same stage skips the
tasks that have one (datatrove's ``completions/`` folder). A run killed anywhere therefore redoes only the tasks
that had not finished. Workers run the executor's ``setup`` functions once each (warm-ups that used to rely on
``fork``).

Implementations: :class:`LocalExecutor` (this machine: in-process for one worker, else a persistent ``spawn``
process pool) and :class:`DaskExecutor` (a ``dask.distributed`` cluster, or a ``LocalCluster`` it starts).
"""

from __future__ import annotations

import ctypes
import functools
import gc
import logging
import multiprocessing
import os
import pickle
import select
import signal
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

import pyarrow as pa
from tqdm import tqdm

from jokemine.errors import JokemineError
from jokemine.faults import crash_point
from jokemine.pipeline import storage

log = logging.getLogger(__name__)
T = TypeVar("T")
R = TypeVar("R")
Setup = Callable[[], None]

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


class TaskFailed(JokemineError):
    """A task of a stage failed (on every try the executor allows)."""


def die_with_parent(driver_pid: int) -> None:
    """Worker initializer: this worker gets SIGKILL when its parent dies (Linux ``prctl(PR_SET_PDEATHSIG)``,
    https://man7.org/linux/man-pages/man2/prctl.2.html), so a killed driver (``kill -9``, the OOM killer) leaves no
    worker behind to hold its files or the data dir lock. The parent is the driver (``spawn``) or multiprocessing's
    fork server, which exits as soon as the driver's end of its pipe closes. Exits at once if the parent or the
    driver ``driver_pid`` is already gone. A no-op where ``prctl`` does not exist (not Linux): the pool's own
    shutdown is then the only guard."""
    parent = os.getppid()
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):  # pragma: no cover - not Linux
        pass
    try:
        os.kill(driver_pid, 0)
    except ProcessLookupError:
        os._exit(1)
    except PermissionError:  # pragma: no cover - alive, another user
        pass
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)
    threading.Thread(target=_watch, args=(driver_pid,), name="jokemine-driver-watch", daemon=True).start()


def _watch(driver_pid: int) -> None:
    """Kill this worker when the driver exits. The fork server outlives the driver while any worker holds its pipe,
    so PR_SET_PDEATHSIG alone does not fire there; a pidfd (Linux >= 5.3, ``os.pidfd_open``) becomes readable
    when the process exits, else the driver is polled twice a second."""
    try:
        fd = os.pidfd_open(driver_pid)
    except (AttributeError, OSError):
        fd = None
    if fd is not None:
        select.select([fd], [], [])
    else:  # pragma: no cover - old kernels
        while True:
            time.sleep(0.5)
            try:
                os.kill(driver_pid, 0)
            except ProcessLookupError:
                break
    os.kill(os.getpid(), signal.SIGKILL)


def default_workers() -> int:
    """Cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def marker_path(completions: str, stage: str, index: int) -> str:
    """The completion marker of task ``index`` of ``stage`` under the ``completions`` folder (path or URL)."""
    return f"{completions}/{stage}/{index:05d}.pkl"


@dataclass(frozen=True)
class Call:
    """One task as shipped to a worker: ``fn(task)``, then the marker (when ``marker`` is set)."""

    fn: Callable[[Any], Any]
    task: Any
    marker: str | None
    name: str = ""

    def __call__(self) -> Any:
        crash_point(f"task.{self.name}")  # tests: JOKEMINE_PAUSE_AT=task.<stage>.<index>:<s> holds one task
        result = self.fn(self.task)
        if self.marker:
            storage.write_bytes(self.marker, pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL))
        return result


def release_memory(full: bool = True) -> None:
    """Give the memory a finished task freed back to the operating system, so that a long-lived worker's footprint
    is what its current task needs, not the peak of every task it ran: Python's garbage collector, Arrow's
    memory pool (``release_unused``) and glibc's heap (``malloc_trim(0)``,
    https://man7.org/linux/man-pages/man3/malloc_trim.3.html; skipped where libc has no such function).
    ``full=False`` (a task run in the driver's own process) collects only the young generations: a full collection
    walks every object of the caller too (0.12 s per task inside a test process, 19 of 24 s of a small refresh)."""
    gc.collect(2 if full else 1)
    pa.default_memory_pool().release_unused()
    trim = getattr(_libc(), "malloc_trim", None)
    if trim is not None:
        trim(0)


M_MMAP_THRESHOLD = -3  # glibc's mallopt(3) parameter number (malloc.h)
MMAP_THRESHOLD = 256 * 1024  # bytes


@functools.cache
def fix_mmap_threshold() -> bool:
    """Make glibc serve every allocation of at least :data:`MMAP_THRESHOLD` bytes with a mapping of its own, given
    back to the operating system when freed. glibc's default threshold is dynamic: it rises (up to 32 MiB on 64-bit)
    whenever a mapped block is freed (mallopt(3), ``M_MMAP_THRESHOLD``,
    https://man7.org/linux/man-pages/man3/mallopt.3.html), after which a task's large temporaries (NumPy arrays,
    pandas columns) come from the heap and fragment it, and a long-lived worker's footprint creeps up from task to
    task: measured over one clean of 300,000 rows, its floor between tasks grew from ~300 to ~610 MiB, and stayed
    at ~350 MiB with the threshold fixed. Setting the threshold turns the dynamic adjustment off. Once per process;
    returns whether it was set (``False`` where the C library has no ``mallopt``)."""
    fn = getattr(_libc(), "mallopt", None)
    return bool(fn is not None and fn(M_MMAP_THRESHOLD, MMAP_THRESHOLD))


@functools.cache
def _libc() -> Any:
    try:
        return ctypes.CDLL(None)
    except OSError:  # pragma: no cover - no C library to load
        return None


def run_call(call: Call, in_process: bool = False) -> Any:
    """Module-level entry point for pools and Dask workers (pickled by reference): the worker's allocator keeps a
    fixed mmap threshold (:func:`fix_mmap_threshold`), and gives back the memory the task freed
    (:func:`release_memory`; ``in_process``: the task ran in the driver, see ``full`` there)."""
    fix_mmap_threshold()
    try:
        return call()
    finally:
        release_memory(full=not in_process)


@dataclass
class StageLog:
    """What one stage cost: tasks, tasks skipped because a marker showed them finished, seconds, and when it
    started (Unix time, for benchmarks that attribute memory samples to stages)."""

    tasks: int = 0
    resumed: int = 0
    seconds: float = 0.0
    started: float = 0.0


class Executor(Protocol):
    """What a pipeline needs from an engine: a context manager whose :meth:`map` runs a stage."""

    workers: int
    stages: dict[str, StageLog]

    def __enter__(self) -> Executor: ...

    def __exit__(self, *exc: object) -> None: ...

    def map(
        self,
        fn: Callable[[T], R],
        tasks: Sequence[T],
        *,
        stage: str,
        completions: str | None = None,
        weight: Callable[[T], float] | None = None,
    ) -> list[R]:
        """``[fn(t) for t in tasks]`` in task order; tasks with a completion marker under ``completions`` are not
        run again (their stored result is returned). Raises :class:`TaskFailed` naming the stage and task."""
        ...


@dataclass
class _Base:
    """Shared bookkeeping: completion markers, ordering, progress bar, the stage log."""

    workers: int = 0
    progress: bool | None = None
    setup: Sequence[Setup] = ()
    stages: dict[str, StageLog] = field(default_factory=dict)

    def _plan(
        self, fn: Callable[[Any], Any], tasks: Sequence[Any], stage: str, completions: str | None
    ) -> tuple[dict[int, Any], list[tuple[int, Call]]]:
        done: dict[int, Any] = {}
        todo: list[tuple[int, Call]] = []
        for i, t in enumerate(tasks):
            marker = marker_path(completions, stage, i) if completions else None
            if marker and storage.exists(marker):
                try:
                    done[i] = pickle.loads(storage.read_bytes(marker))
                    continue
                except Exception:  # a marker that cannot be read is not a finished task
                    log.warning("%s: unreadable completion marker %s; running the task again", stage, marker)
            todo.append((i, Call(fn, t, marker, f"{stage}.{i:05d}")))
        self.stages[stage] = StageLog(tasks=len(tasks), resumed=len(done), started=time.time())
        if done:
            log.info("%s: %d of %d tasks already finished, skipped", stage, len(done), len(tasks))
        return done, todo

    def _bar(self, total: int, stage: str) -> tqdm[Any]:
        disable = None if self.progress is None else not self.progress
        return tqdm(total=total, desc=stage, unit=" task", disable=disable, leave=False)

    @staticmethod
    def _order(todo: list[tuple[int, Call]], weight: Callable[[Any], float] | None) -> list[tuple[int, Call]]:
        """Largest tasks first: keeps every worker busy to the end when task sizes differ."""
        return sorted(todo, key=lambda ic: -(weight(ic[1].task) if weight else 0))


def _pool_init(parent_pid: int, setup: Sequence[Setup]) -> None:
    # a forked worker inherits the driver's objects: frozen, no collection walks (or copies on write) them again
    # (https://docs.python.org/3/library/gc.html#gc.freeze)
    gc.freeze()
    die_with_parent(parent_pid)
    for fn in setup:
        fn()


PRELOAD = (
    "jokemine.cleaning.stage",
    *(f"jokemine.scrapers.{k}" for k in ("reddit_dump", "table", "reddit_api", "anekdot_ru", "html_spec")),
)
"""Modules the fork server imports once, so each worker starts without importing pandas, pyarrow and the rest."""


class LocalExecutor(_Base):
    """Runs tasks on this machine: in-process for one worker, else a pool of processes that lives as long as the
    ``with`` block, so workers start and run ``setup`` once per run, not once per stage. ``start_method``:
    ``fork`` (default: starts in milliseconds; tasks never rely on what a fork inherits, everything travels in
    the task and ``setup``), ``forkserver`` (workers fork from a server that has imported :data:`PRELOAD`; safe
    with threads in the driver) or ``spawn``; the output is the same (tested). Workers die with the driver
    (:func:`die_with_parent`).
    A failing task raises :class:`TaskFailed` after the running tasks finish (their markers are kept)."""

    def __init__(
        self,
        workers: int = 0,
        progress: bool | None = None,
        setup: Sequence[Setup] = (),
        start_method: str = "fork",
    ) -> None:
        super().__init__(workers or default_workers(), progress, tuple(setup))
        if start_method not in multiprocessing.get_all_start_methods():
            raise JokemineError(f"start method {start_method!r} is not available here")
        self.start_method = start_method
        self._pool: ProcessPoolExecutor | None = None
        self._set_up = False

    def __enter__(self) -> LocalExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def _get_pool(self) -> ProcessPoolExecutor:
        if self._pool is None:
            ctx = multiprocessing.get_context(self.start_method)
            if self.start_method == "forkserver":
                ctx.set_forkserver_preload(list(PRELOAD))
            self._pool = ProcessPoolExecutor(
                max_workers=self.workers,
                mp_context=ctx,
                initializer=_pool_init,
                initargs=(os.getpid(), tuple(self.setup)),
            )
        return self._pool

    def map(
        self,
        fn: Callable[[T], R],
        tasks: Sequence[T],
        *,
        stage: str,
        completions: str | None = None,
        weight: Callable[[T], float] | None = None,
    ) -> list[R]:
        """See :meth:`Executor.map`."""
        t0 = time.perf_counter()
        done, todo = self._plan(fn, tasks, stage, completions)
        bar = self._bar(len(todo), stage)
        try:
            if self.workers <= 1:
                if not self._set_up:
                    for s in self.setup:
                        s()
                    self._set_up = True
                for i, call in todo:
                    done[i] = _guarded(call, stage, i)
                    bar.update()
            else:
                pool = self._get_pool()
                futures: dict[Future[Any], int] = {
                    pool.submit(run_call, call): i for i, call in self._order(todo, weight)
                }
                failure: BaseException | None = None
                for fut in as_completed(futures):
                    try:
                        done[futures[fut]] = fut.result()
                    except BaseException as e:
                        failure = failure or _failed(stage, futures[fut], e)
                        for f in futures:
                            f.cancel()
                    bar.update()
                if failure:
                    raise failure
        finally:
            bar.close()
            self.stages[stage].seconds = time.perf_counter() - t0
        return [done[i] for i in range(len(tasks))]


def _guarded(call: Call, stage: str, index: int) -> Any:
    """One task in this process, as a worker runs it (:func:`run_call`), its failure turned into the driver's error."""
    try:
        return run_call(call, in_process=True)
    except JokemineError:
        raise
    except Exception as e:
        raise _failed(stage, index, e) from e


def _failed(stage: str, index: int, e: BaseException) -> BaseException:
    """The error a failed task raises in the driver: a :class:`JokemineError` as it is (it is one line already),
    anything else as :class:`TaskFailed` naming stage and task, with the worker's traceback as its cause."""
    if isinstance(e, JokemineError | KeyboardInterrupt):
        return e
    failed = TaskFailed(f"{stage}: task {index} failed: {type(e).__name__}: {e}")
    failed.__cause__ = e
    return failed


class DaskExecutor(_Base):
    """Runs tasks on a ``dask.distributed`` cluster (https://distributed.dask.org): ``address`` (e.g.
    ``tcp://10.0.0.5:8786``) connects a ``Client`` to a running scheduler; without it a ``LocalCluster`` of
    ``workers`` processes (one thread each, ``memory_limit`` each, e.g. ``"2GB"``) is started on 127.0.0.1 and
    stopped at the end. Each task is retried ``retries`` times (a worker that dies, e.g. killed by its memory
    limit, makes the scheduler run its tasks elsewhere). Paths in tasks must be reachable from every worker
    (shared storage; see README "Run on a cluster").

    Raises :class:`JokemineError` when the scheduler cannot be reached within ``connect_timeout_s``."""

    def __init__(
        self,
        address: str | None = None,
        workers: int = 0,
        memory_limit: str | None = None,
        progress: bool | None = None,
        setup: Sequence[Setup] = (),
        retries: int = 2,
        connect_timeout_s: float = 30.0,
    ) -> None:
        super().__init__(workers or default_workers(), progress, tuple(setup))
        self.address = address
        self.memory_limit = memory_limit
        self.retries = retries
        self.connect_timeout_s = connect_timeout_s
        self.client: Any = None
        self.cluster: Any = None
        self.dashboard_link: str | None = None

    def __enter__(self) -> DaskExecutor:
        try:
            from distributed import Client, LocalCluster
        except ImportError:  # pragma: no cover - the dask extra is part of `make install`
            raise JokemineError("executor 'dask' needs the dask extra: pip install 'jokemine[dask]'") from None
        try:
            if self.address:
                self.client = Client(self.address, timeout=self.connect_timeout_s)
            else:
                import dask

                # the workers' statistical profiler samples every task's stack every 10 ms (for the dashboard's
                # profile page); the tasks are long CPU-bound NumPy and Python loops, where it only costs time
                with dask.config.set({"distributed.worker.profile.enabled": False}):
                    self.cluster = LocalCluster(
                        n_workers=self.workers,
                        threads_per_worker=1,
                        processes=True,
                        memory_limit=self.memory_limit or "auto",
                        host="127.0.0.1",
                        dashboard_address="127.0.0.1:0",
                    )
                self.client = Client(self.cluster)
        except OSError as e:
            self.__exit__()
            raise JokemineError(f"dask scheduler {self.address or '(local cluster)'}: cannot connect: {e}") from None
        from jokemine.pipeline.dask_setup import SetupPlugin

        self.client.register_plugin(SetupPlugin(self.setup), name=SetupPlugin.name)
        self.dashboard_link = self.client.dashboard_link
        n = len(self.client.scheduler_info(n_workers=-1).get("workers", {}))
        self.workers = n or self.workers
        return self

    def __exit__(self, *exc: object) -> None:
        if self.client is not None:
            self.client.close()
            self.client = None
        if self.cluster is not None:
            self.cluster.close()
            self.cluster = None

    def map(
        self,
        fn: Callable[[T], R],
        tasks: Sequence[T],
        *,
        stage: str,
        completions: str | None = None,
        weight: Callable[[T], float] | None = None,
    ) -> list[R]:
        """See :meth:`Executor.map`."""
        from distributed import as_completed as dask_completed

        t0 = time.perf_counter()
        done, todo = self._plan(fn, tasks, stage, completions)
        bar = self._bar(len(todo), stage)
        try:
            ordered = self._order(todo, weight)
            token = os.urandom(4).hex()
            futures = [
                self.client.submit(
                    run_call,
                    call,
                    key=f"{stage}-{i:05d}-{token}",
                    retries=self.retries,
                    pure=False,
                    priority=len(ordered) - rank,
                )
                for rank, (i, call) in enumerate(ordered)
            ]
            index = {f.key: i for f, (i, _) in zip(futures, ordered, strict=True)}
            for fut in dask_completed(futures):
                try:
                    done[index[fut.key]] = fut.result()
                except BaseException as e:
                    self.client.cancel(futures)
                    raise _failed(stage, index[fut.key], e) from None
                bar.update()
        finally:
            bar.close()
            self.stages[stage].seconds = time.perf_counter() - t0
        return [done[i] for i in range(len(tasks))]


def make_executor(
    kind: str,
    *,
    workers: int = 0,
    address: str | None = None,
    memory_limit: str | None = None,
    progress: bool | None = None,
    setup: Sequence[Setup] = (),
    start_method: str = "fork",
) -> LocalExecutor | DaskExecutor:
    """The executor named ``kind`` (``"local"`` or ``"dask"``; ``[executor]`` in the config). Raises
    :class:`JokemineError` for another kind."""
    if kind == "local":
        return LocalExecutor(workers, progress, setup, start_method)
    if kind == "dask":
        return DaskExecutor(address, workers, memory_limit, progress, setup)
    raise JokemineError(f"unknown executor {kind!r}; use 'local' or 'dask'")


def describe(ex: LocalExecutor | DaskExecutor) -> str:
    """One line for the terminal: the engine, its workers and (Dask) the dashboard link."""
    if isinstance(ex, DaskExecutor):
        where = ex.address or "local cluster"
        dash = f", dashboard {ex.dashboard_link}" if ex.dashboard_link else ""
        return f"executor: dask ({where}, {ex.workers} workers{dash})"
    return f"executor: local ({ex.workers} workers)"


__all__ = [
    "Call",
    "DaskExecutor",
    "Executor",
    "LocalExecutor",
    "StageLog",
    "TaskFailed",
    "default_workers",
    "describe",
    "die_with_parent",
    "make_executor",
    "marker_path",
]
