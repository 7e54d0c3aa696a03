"""Crash points for crash-safety tests.

:func:`crash_point` kills the current process with SIGKILL (no cleanup, no ``finally``, like a power cut or the OOM
killer) when the environment variable ``JOKEMINE_KILL_AT`` names that point. Points: ``scrape.committed`` (after a
source's first committed raw part), ``clean.written`` (a clean run complete on disk, ``clean/latest`` not moved),
``publish.built`` (release built in its temporary folder), ``publish.renamed`` (release in place, ``latest`` not
moved), ``refresh.scraped`` and ``refresh.cleaned`` (between refresh stages), ``clean.pass1`` (in a clean worker, as
it starts a shard), ``clean.after.<stage>`` (in clean's driver, after a stage), ``clean.index.moved`` (a clean's
files moved into the near-duplicate index, its node list not switched), ``clean.indexed`` (the index switched, the
work folder kept) and ``task.<stage>.<index>`` (in the worker, as it starts that task of a stage; index zero-padded
to 5 digits). ``JOKEMINE_PAUSE_AT=<point>:<seconds>`` (the point may be a glob, e.g. ``task.sign.*``) sleeps there
instead (to hold the data dir lock in overlap tests, or to kill a driver while its workers run). Both unset in
normal use.
"""

from __future__ import annotations

import fnmatch
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
    pattern, _, seconds = os.environ.get(PAUSE_ENV, "").rpartition(":")
    if pattern and fnmatch.fnmatchcase(name, pattern):
        time.sleep(float(seconds))
