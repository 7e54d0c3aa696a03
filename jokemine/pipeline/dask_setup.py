"""The Dask worker plugin of :class:`jokemine.pipeline.executor.DaskExecutor` (imported only when Dask is used)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from distributed.diagnostics.plugin import WorkerPlugin


class SetupPlugin(WorkerPlugin):
    """Runs the executor's setup functions once on every worker, also on workers that join later
    (https://distributed.dask.org/en/stable/plugins.html#worker-plugins)."""

    name = "jokemine-setup"

    def __init__(self, setup: Sequence[Callable[[], None]]) -> None:
        self.setup_fns = tuple(setup)

    def setup(self, worker: Any) -> None:
        """Called by the worker as the plugin is registered (or as the worker starts)."""
        for fn in self.setup_fns:
            fn()
