"""A loopback stand-in for anekdot.ru serving the real saved page (shared/data/real/html-anekdot-ru) under the
URLs the crawler asks for: ``/release/<category>/day/<date>/``, ``/tags/<tag>[/<n>]``, ``/id/<id>/`` and
``/robots.txt``. Every request is logged (path, query, User-Agent, status). Faults are queued per path: a
status (with headers, e.g. 429 + Retry-After), a delay, a body cut short (``truncate``), an answer dripped one byte
every ``drip`` seconds (``drip_headers``: the status line and headers too); ``encodings`` serves
chosen paths as windows-1251 bytes; ``missing`` paths answer 404; ``loops`` paths redirect to themselves.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote, urlsplit


@dataclass
class SiteFault:
    path: str
    status: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    truncate: bool = False
    drip: float = 0.0
    drip_headers: bool = False
    length: bool = True  # False: no Content-Length, the body ends when the connection closes
    times: int = 1
    skip: int = 0


class FakeSite:
    """The server; a context manager. ``url`` is its base URL on 127.0.0.1 (random port)."""

    def __init__(self, page: bytes, robots: str = "User-agent: *\nAllow: /\n") -> None:
        self.page = page
        self.robots = robots
        self.pages: dict[str, bytes] = {}  # path -> body overriding the default page
        self.encodings: dict[str, str] = {}  # path -> "windows-1251"
        self.missing: set[str] = set()
        self.loops: set[str] = set()
        self.redirects: dict[str, str] = {}  # path -> Location
        self.robots_status = 200
        self.faults: list[SiteFault] = []
        self.log: list[dict[str, Any]] = []
        self.arrivals: list[str] = []  # every request path, logged when it arrives
        self.holding = threading.Event()
        self.lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    def fault(self, path: str, **kw: Any) -> None:
        self.faults.append(SiteFault(path, **kw))

    def paths(self, status: int | None = None) -> list[str]:
        """Requested paths (decoded), optionally only those answered with ``status``."""
        return [r["path"] for r in self.log if status is None or r["status"] == status]

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> FakeSite:
        handler = type("Handler", (_Handler,), {"site": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


class _Handler(BaseHTTPRequestHandler):
    site: FakeSite
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:
        pass

    def _log(self, path: str, status: int) -> None:
        with self.site.lock:
            self.site.log.append({"path": path, "status": status, "ua": self.headers.get("User-Agent", "")})

    def _send(
        self,
        status: int,
        body: bytes,
        content_type: str = "text/html; charset=utf-8",
        headers: dict[str, str] | None = None,
        declared: int | None = None,
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(declared if declared is not None else len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()

    def _drip(self, body: bytes, content_type: str, fault: SiteFault) -> None:
        length = f"Content-Length: {len(body)}\r\n" if fault.length else ""
        head = f"HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\n{length}Connection: close\r\n\r\n".encode()
        out = head + body
        start = 0
        if not fault.drip_headers:
            self.wfile.write(head)
            self.wfile.flush()
            start = len(head)
        try:
            for i in range(start, len(out)):
                self.wfile.write(out[i : i + 1])
                self.wfile.flush()
                threading.Event().wait(fault.drip)
        except OSError:  # the client gave up
            pass
        self.close_connection = True

    def do_GET(self) -> None:
        site = self.site
        path = unquote(urlsplit(self.path).path)
        with site.lock:
            site.arrivals.append(path)
            fault = next((f for f in site.faults if f.path == path), None)
            if fault is not None and fault.skip > 0:
                fault.skip -= 1
                fault = None
            elif fault is not None:
                fault.times -= 1
                if fault.times <= 0:
                    site.faults.remove(fault)
        if fault is not None and fault.delay:
            site.holding.set()
            threading.Event().wait(fault.delay)
            site.holding.clear()
        if fault is not None and fault.status is not None:
            self._log(path, fault.status)
            self._send(fault.status, b"<html>fault</html>", headers=fault.headers)
            return
        if path == "/robots.txt":
            self._log(path, site.robots_status)
            self._send(site.robots_status, site.robots.encode(), "text/plain; charset=utf-8")
            return
        if path in site.redirects:
            self._log(path, 302)
            self._send(302, b"", headers={"Location": site.redirects[path]})
            return
        if path in site.loops:
            self._log(path, 302)
            self._send(302, b"", headers={"Location": self.path})
            return
        known = path.startswith(("/release/", "/tags/", "/id/", "/secret/")) or path in site.pages
        if path in site.missing or not known:
            self._log(path, 404)
            self._send(404, b"<html>not found</html>")
            return
        body = site.pages.get(path, site.page)
        content_type = "text/html; charset=utf-8"
        if site.encodings.get(path) == "windows-1251":
            body = body.decode("utf-8").encode("windows-1251", "replace")
            content_type = "text/html; charset=windows-1251"
        if fault is not None and fault.drip:
            self._log(path, -1)
            self._drip(body, content_type, fault)
            return
        if fault is not None and fault.truncate:
            self._log(path, 0)
            self._send(200, body[: len(body) // 3], content_type, declared=len(body))
            self.close_connection = True
            self.connection.shutdown(2)
            return
        self._log(path, 200)
        self._send(200, body, content_type)
