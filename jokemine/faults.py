"""Crash points for crash-safety tests.

:func:`crash_point` kills the current process with SIGKILL (no cleanup, no ``finally``, like a power cut or the OOM
killer) when the environment variable ``JOKEMINE_KILL_AT`` names that point. Points: ``scrape.committed`` (after a
source's first committed raw part), ``clean.written`` (a clean run complete on disk, ``clean/latest`` not moved),
``publish.built`` (release built in its temporary folder), ``publish.renamed`` (release in place, ``latest`` not
moved), ``refresh.scraped`` and ``refresh.cleaned`` (between refresh stages), ``clean.pass1`` (in a clean worker, as it
starts a shard). ``JOKEMINE_PAUSE_AT=<point>:<seconds>`` sleeps there instead (to hold the data dir lock in overlap
tests, or to kill a driver while its workers run). Both unset in normal use.
"""

from __future__ import annotations

import os
import signal
import time

ENV = "JOKEMINE_KILL_AT"
PAUSE_ENV = "JOKEMINE_PAUSE_AT"


def crash_point(name: str) -> None:
    """SIGKILL this process if ``$JOKEMINE_KILL_AT == name``; sleep if ``$JOKEMINE_PAUSE_AT == name:<seconds>``;
    otherwise do nothing."""
    if os.environ.get(ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)
    pause = os.environ.get(PAUSE_ENV, "")
    if pause.startswith(name + ":"):
        time.sleep(float(pause.rsplit(":", 1)[1]))
