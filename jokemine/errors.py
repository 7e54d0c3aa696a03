"""Errors a user can act on.

Every error a user can cause (bad config, missing file, unreadable dump) is a :class:`JokemineError`; the CLI
prints its message as one line and exits non-zero, never with a traceback. Anything else is a bug.
"""

from __future__ import annotations


class JokemineError(Exception):
    """A user-facing error. ``str(err)`` is one line that names the file, key, line or URL at fault."""

    exit_code = 1


class ConfigError(JokemineError):
    """The config file is missing, is not valid TOML, or fails validation (the message names file and key)."""

    exit_code = 2


class NothingToDo(JokemineError):
    """A stage has no input (no sources configured, no raw data, no clean data); nothing was written."""

    exit_code = 2


class SourceError(JokemineError):
    """A source cannot be read as a whole (unreadable path, missing mapped column, wrong encoding, truncation)."""


class BadArgument(JokemineError):
    """A command-line value is malformed (the message names the option)."""

    exit_code = 2


class NotWritable(JokemineError):
    """A folder jokemine must write (the data dir, a release) is read-only or not ours: nothing was changed."""

    exit_code = 2


class StateError(JokemineError):
    """``state.sqlite`` cannot be opened or written (read-only, corrupt, or not a database); the message names it."""
