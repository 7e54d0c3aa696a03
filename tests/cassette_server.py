"""A loopback server that replays real recorded Reddit API exchanges (PRAW's betamax cassettes in
``shared/data/real/praw-comment-cassettes``) to a real PRAW client.

Requests are matched to recordings by method and path, and for ``POST /api/morechildren`` by the set of comment
ids asked for (the form body's ``children``), so the client's parameter order does not matter. The token endpoint
answers any client-credentials request. ``GET /r/<sub>/<listing>`` serves a listing of the recorded posts (the
``t3`` of every recorded comment page). A request with no recording gets 404. Faults are queued per path prefix
(a status with headers and body, or a dropped connection), optionally after letting ``skip`` matching requests
through. Every request is logged (method, path, status).
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class Fault:
    method: str
    prefix: str
    status: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    drop: bool = False
    times: int = 1
    skip: int = 0


def _key(method: str, path: str, body: str) -> tuple[str, str, frozenset[str]]:
    path = "/" + path.strip("/") + "/"
    children: frozenset[str] = frozenset()
    if path == "/api/morechildren/":
        form = parse_qs(body)
        children = frozenset(c for v in form.get("children", []) for c in v.split(",") if c)
    return method, path, children


class CassetteReddit:
    """The server; a context manager. ``url`` is its base URL on 127.0.0.1 (random port)."""

    def __init__(self, cassettes: list[Path]) -> None:
        self.recorded: dict[tuple[str, str, frozenset[str]], bytes] = {}
        self.posts: dict[str, dict[str, Any]] = {}
        for path in cassettes:
            for i in json.loads(path.read_text(encoding="utf-8"))["interactions"]:
                rq, rs = i["request"], i["response"]
                if rs["status"]["code"] != 200 or "access_token" in rq["uri"]:
                    continue
                raw = rq.get("body") or ""
                body = raw.get("string") or "" if isinstance(raw, dict) else str(raw)
                text = rs["body"]["string"]
                self.recorded.setdefault(_key(rq["method"], urlsplit(rq["uri"]).path, body), text.encode())
                if rq["method"] == "GET" and "/comments/" in rq["uri"] and "/_/" not in rq["uri"]:
                    page = json.loads(text)
                    for child in page[0]["data"]["children"]:
                        self.posts.setdefault(child["data"]["id"], child["data"])
        self.rewrite: Any = None  # payload (parsed JSON) -> payload, applied to every replayed answer
        self.log: list[tuple[str, str, int]] = []
        self._faults: list[Fault] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def fault(self, method: str, prefix: str, **kw: Any) -> None:
        """Queue a fault for requests whose path starts with ``prefix``."""
        with self._lock:
            self._faults.append(Fault(method, prefix, **kw))

    def requests(self, prefix: str = "") -> list[tuple[str, str, int]]:
        """The logged requests whose path starts with ``prefix``."""
        with self._lock:
            return [r for r in self.log if r[1].startswith(prefix)]

    def take_fault(self, method: str, path: str) -> Fault | None:
        with self._lock:
            for f in self._faults:
                if f.method == method and path.startswith(f.prefix):
                    if f.skip:
                        f.skip -= 1
                        return None
                    f.times -= 1
                    if f.times <= 0:
                        self._faults.remove(f)
                    return f
        return None

    def listing(self) -> bytes:
        children = [{"kind": "t3", "data": p} for p in self.posts.values()]
        return json.dumps({"kind": "Listing", "data": {"after": None, "before": None, "children": children}}).encode()

    def __enter__(self) -> CassetteReddit:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


def _handler(server: CassetteReddit) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            pass

        def _answer(self, method: str) -> None:
            parts = urlsplit(self.path)
            n = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(n).decode() if n else ""
            status, payload, headers = 404, b'{"message": "Not Found", "error": 404}', {}
            fault = server.take_fault(method, parts.path)
            if fault is not None and fault.drop:
                with server._lock:
                    server.log.append((method, parts.path, 0))
                self.send_response(200)
                self.send_header("content-length", "100000")
                self.end_headers()
                self.wfile.write(b'{"kind": "Listing", "da')
                self.close_connection = True
                return
            if fault is not None:
                status, payload, headers = fault.status or 500, fault.body or b"{}", fault.headers
            elif parts.path == "/api/v1/access_token":
                status, payload = (
                    200,
                    b'{"access_token": "cassette-token", "token_type": "bearer", "expires_in": 3600, "scope": "*"}',
                )
            elif parts.path.startswith("/r/"):
                status, payload = 200, server.listing()
            else:
                got = server.recorded.get(_key(method, parts.path, body))
                if got is not None:
                    status, payload = 200, got
                    if server.rewrite is not None:
                        payload = json.dumps(server.rewrite(json.loads(got))).encode()
            with server._lock:
                server.log.append((method, parts.path, status))
            self.send_response(status)
            self.send_header("content-type", "application/json; charset=UTF-8")
            self.send_header("content-length", str(len(payload)))
            for k, v in headers.items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(payload)

        def do_GET(self) -> None:
            self._answer("GET")

        def do_POST(self) -> None:
            self._answer("POST")

    return Handler
