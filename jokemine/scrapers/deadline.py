"""A total deadline per HTTP request (connect + headers + body), for every session jokemine makes with requests.

requests and urllib3 time out per socket operation (connect, then each read): a server that sends one byte every
half second never trips a read timeout, so one page can take minutes, and retries multiply that. Here every
request made inside :func:`deadline` gets a watchdog timer. The session's connections are
:class:`urllib3.connection.HTTPConnection` subclasses (installed by :class:`DeadlineAdapter` through urllib3's
public ``ConnectionCls`` and ``pool_classes_by_scheme``) that tell the active deadline which connection a request
uses; when the timer fires, that connection's socket is shut down, the blocked read returns at once and the
request fails with a connection error. :attr:`Deadline.expired` tells the caller it was the deadline, so it can
report it as such (and not retry it in the same run: a slow server stays slow).

Usage::

    session.mount("http://", DeadlineAdapter()); session.mount("https://", DeadlineAdapter())
    with deadline(60.0) as d:
        try:
            resp = session.get(url, timeout=(10, 30))
        except requests.RequestException:
            if d.expired: ...  # no complete answer within 60 s
    if d.expired: ...  # the body may have been cut by the deadline (an answer ended by closing the connection)

The TCP connect and a TLS handshake are bounded by the connect timeout (per socket operation) only: the socket is
handed to the watchdog once it is connected.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

_local = threading.local()


class DeadlineExceeded(requests.exceptions.RequestException):
    """A request had no complete answer within its total deadline."""


class Deadline:
    """The deadline of the requests made in one :func:`deadline` block (one thread). ``expired`` once it fired.

    ``expired`` is set before any socket is shut down, so a response whose body ended because of the shutdown (an
    answer without a length, ended by the connection closing) is recognised by checking ``expired`` after reading
    it: a cut body is never taken for a whole one."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.expired = False
        self._closed = False
        self._socks: list[socket.socket] = []
        self._lock = threading.Lock()

    def attach(self, sock: socket.socket | None) -> None:
        """Watch ``sock`` (called when a request starts on a connection, and when it connects). The socket itself
        is kept: http.client drops the connection's reference to it once the headers of a ``Connection: close``
        answer are read, while the body is still being read from it."""
        if sock is None:
            return
        with self._lock:
            if self._closed:
                return
            if all(s is not sock for s in self._socks):
                self._socks.append(sock)
            if self.expired:
                _shut(sock)

    def fire(self) -> None:
        """Mark the deadline passed and shut down the watched sockets (a blocked read then returns at once). Does
        nothing once the block has ended (its connections may be serving other requests by then)."""
        with self._lock:
            if self._closed:
                return
            self.expired = True
            for sock in self._socks:
                _shut(sock)

    def close(self) -> None:
        """End the watch (the block is over)."""
        with self._lock:
            self._closed = True
            self._socks.clear()


def current() -> Deadline | None:
    """The deadline of the innermost :func:`deadline` block of this thread, if any."""
    return getattr(_local, "deadline", None)


def _shut(sock: socket.socket) -> None:
    # the plain socket's shutdown, also for an SSLSocket: its TLS state stays, so a read after it fails cleanly
    with contextlib.suppress(OSError):
        socket.socket.shutdown(sock, socket.SHUT_RDWR)


def _watch(conn: HTTPConnection) -> None:
    d = getattr(_local, "deadline", None)
    if d is not None:
        d.attach(conn.sock)


class _WatchedHTTPConnection(HTTPConnection):
    def connect(self) -> None:
        super().connect()
        _watch(self)

    def request(self, *args: Any, **kwargs: Any) -> None:
        _watch(self)  # a kept-alive connection: its socket is there already
        super().request(*args, **kwargs)


class _WatchedHTTPSConnection(HTTPSConnection):
    def connect(self) -> None:
        super().connect()
        _watch(self)

    def request(self, *args: Any, **kwargs: Any) -> None:
        _watch(self)
        super().request(*args, **kwargs)


class _WatchedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection


class _WatchedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


class DeadlineAdapter(HTTPAdapter):
    """A requests transport adapter whose connections can be cut by :func:`deadline` (keyword arguments as
    :class:`requests.adapters.HTTPAdapter`). Requests outside a :func:`deadline` block behave as usual."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _WatchedHTTPPool, "https": _WatchedHTTPSPool}


@contextlib.contextmanager
def deadline(seconds: float) -> Iterator[Deadline]:
    """Cut the requests this thread makes (through a :class:`DeadlineAdapter`) when ``seconds`` have passed since
    the block started. Blocks nest; the innermost one applies."""
    d = Deadline(seconds)
    outer = getattr(_local, "deadline", None)
    _local.deadline = d
    timer = threading.Timer(seconds, d.fire)
    timer.daemon = True
    timer.start()
    try:
        yield d
    finally:
        timer.cancel()
        d.close()
        _local.deadline = outer
