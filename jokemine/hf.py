"""The errors huggingface_hub raises when the Hub cannot be reached or answers with an error, in one place (pushes
in :mod:`jokemine.publish.hub`, reads in :mod:`jokemine.scrapers.remote` and :mod:`jokemine.scrapers.hub_dataset`)."""

from __future__ import annotations

import importlib

from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError


def transport_errors() -> tuple[type[BaseException], ...]:
    """Network-level errors of the HTTP library ``huggingface_hub`` uses (httpx2 in 2.x, httpx in 1.x)."""
    errors: list[type[BaseException]] = [ConnectionError, TimeoutError]
    for module in ("httpx2", "httpx"):
        try:
            errors.append(importlib.import_module(module).TransportError)
            break
        except (ImportError, AttributeError):
            continue
    return tuple(errors)


TRANSPORT_ERRORS = transport_errors()
READ_ERRORS: tuple[type[BaseException], ...] = (HfHubHTTPError, LocalEntryNotFoundError, *TRANSPORT_ERRORS)
"""What a read from the Hub raises for a network failure, an HTTP error (401, 404...) or a file it cannot find."""


def one_line(e: BaseException) -> str:
    """An exception as one short line: ``Type: message`` (whitespace collapsed, 300 characters at most)."""
    text = " ".join(str(e).split())
    return f"{type(e).__name__}: {text[:300]}" if text else type(e).__name__


READ_FAILURES: tuple[type[BaseException], ...] = (OSError, ValueError, *READ_ERRORS)
""":data:`READ_ERRORS` plus the OS and value errors a read of a missing repo, revision, config or file gives."""
