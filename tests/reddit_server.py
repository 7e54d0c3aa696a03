"""A loopback stand-in for the part of Reddit's OAuth API that PRAW uses, serving real r/Jokes posts.

Endpoints: ``POST /api/v1/access_token`` (client-credentials grant, HTTP Basic), ``GET /r/{sub}/{new,hot,rising,
top,controversial}`` (``limit``, ``after``, ``t``) and ``GET /api/info`` (``id=t3_a,t3_b``). Payloads use the
wire format of the recorded responses in ``shared/data/real/praw-cassettes`` (``Listing`` of ``t3`` things,
``after`` cursors); posts are the real kampta/reddit-jokes records with PRAW's pickling fields removed. Like
Reddit, a listing serves at most ``listing_cap`` (1000) posts. Responses carry ``x-ratelimit-*`` headers
(``ratelimit=None`` turns them off). Every request is logged; faults can be queued per path: a status (with
headers, e.g. 429 + Retry-After, and a raw body), a dropped connection mid-body, a delay, or an answer dripped one
byte every ``drip`` seconds. ``cursor_loop = (a, b)`` makes the listing page asked for with ``after=a`` answer
``after=b`` (a cursor that loops back). Waiting uses ``Event.wait`` so tests may patch ``time.sleep`` without
touching the server.
"""

from __future__ import annotations

import base64
import io
import json
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import zstandard

DROP_KEYS = {"reddit_session", "json_dict"}
WINDOWS = {"hour": 3600, "day": 86400, "week": 7 * 86400, "month": 30 * 86400, "year": 365 * 86400, "all": None}


def load_posts(
    real: Path, subreddit_file: str = "r_jokes_submissions.ndjson.zst", last: int | None = None, self_only: bool = False
) -> list[dict[str, Any]]:
    """Real submissions from a kampta dump as API objects (newest ``last`` ones when given)."""
    dctx = zstandard.ZstdDecompressor(max_window_size=2**31)
    posts = []
    with open(real / "kampta-reddit-jokes" / subreddit_file, "rb") as fh:
        for line in io.BufferedReader(dctx.stream_reader(fh)):
            d = json.loads(line)
            if self_only and not (d.get("is_self") and d.get("selftext") not in ("", "[deleted]", "[removed]")):
                continue
            posts.append(api_object(d))
    posts.sort(key=lambda p: (p["created_utc"], p["id"]))
    return posts[-last:] if last else posts


def api_object(d: dict[str, Any]) -> dict[str, Any]:
    """A dump record as Reddit's API serves it: no PRAW internals, relative permalink."""
    out = {k: v for k, v in d.items() if not k.startswith("_") and k not in DROP_KEYS}
    link = urlsplit(out.get("permalink") or "").path
    out["permalink"] = link or f"/r/{out['subreddit']}/comments/{out['id']}/"
    out.setdefault("name", f"t3_{out['id']}")
    return out


@dataclass
class Fault:
    method: str
    path: str
    status: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    drop: bool = False
    delay: float = 0.0
    drip: float = 0.0
    times: int = 1
    skip: int = 0  # let this many matching requests through first


class FakeReddit:
    """The server; use as a context manager. ``url`` is its base URL on 127.0.0.1 (random port)."""

    def __init__(
        self,
        posts: Iterable[dict[str, Any]],
        *,
        client_id: str = "test-client-id",
        client_secret: str = "test-client-secret",
        token: str = "tok-0123456789abcdef",
        ratelimit: dict[str, str] | None = None,
        listing_cap: int = 1000,
    ) -> None:
        self.posts: dict[str, dict[str, Any]] = {p["id"]: dict(p) for p in posts}
        self.client_id, self.client_secret, self.token = client_id, client_secret, token
        self.ratelimit = (
            ratelimit
            if ratelimit is not None
            else {"x-ratelimit-remaining": "599", "x-ratelimit-used": "1", "x-ratelimit-reset": "300"}
        )
        self.listing_cap = listing_cap
        self.log: list[dict[str, Any]] = []
        self.faults: list[Fault] = []
        self.empty_subreddits: set[str] = set()
        self.cursor_loop: tuple[str, str] | None = None
        self.holding = threading.Event()  # set while a delay fault holds a request
        self.lock = threading.RLock()
        self._version = 0  # bumped by every change, invalidates the sorted-listing cache
        self._cache: dict[tuple[Any, ...], tuple[list[dict[str, Any]], dict[str, int]]] = {}
        self.now = max((p["created_utc"] for p in self.posts.values()), default=0.0) + 3600
        self._server: ThreadingHTTPServer | None = None

    # --- control ---------------------------------------------------------------------------------------------
    def fault(self, method: str, path: str, **kw: Any) -> None:
        """Queue a fault for the next ``times`` requests to ``path`` (exact path, no query)."""
        self.faults.append(Fault(method, path, **kw))

    def add(self, posts: Iterable[dict[str, Any]]) -> None:
        with self.lock:
            self._version += 1
            for p in posts:
                self.posts[p["id"]] = dict(p)
            self.now = max(self.now, *(p["created_utc"] + 3600 for p in self.posts.values()))

    def set_score(self, post_id: str, score: int, upvote_ratio: float | None = None) -> None:
        with self.lock:
            self._version += 1
            self.posts[post_id]["score"] = score
            self.posts[post_id]["ups"] = score
            if upvote_ratio is not None:
                self.posts[post_id]["upvote_ratio"] = upvote_ratio

    def delete(self, post_id: str, how: str = "deleted") -> None:
        """``deleted`` (by the author) or ``removed`` (by moderators), as the API then shows it."""
        with self.lock:
            self._version += 1
            p = self.posts[post_id]
            p["selftext"] = f"[{how}]"
            p["author"] = "[deleted]"
            if how == "removed":
                p["removed_by_category"] = "moderator"

    def requests(self, path_prefix: str = "") -> list[dict[str, Any]]:
        """Logged requests whose path starts with ``path_prefix``."""
        return [r for r in self.log if r["path"].startswith(path_prefix)]

    # --- lifecycle -----------------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> FakeReddit:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        handler = type("Handler", (_Handler,), {"fake": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    # --- content -------------------------------------------------------------------------------------------
    def _sorted(self, sub: str, kind: str, t: str) -> tuple[list[dict[str, Any]], dict[str, int]]:
        key = (sub.lower(), kind, t, self._version, len(self.posts), frozenset(self.empty_subreddits))
        if key not in self._cache:
            posts = [
                p
                for p in self.posts.values()
                if p.get("subreddit", "").lower() == sub.lower() and sub.lower() not in self.empty_subreddits
            ]
            window = WINDOWS.get(t)
            if kind in ("top", "controversial") and window is not None:
                posts = [p for p in posts if p["created_utc"] >= self.now - window]
            order = {
                "new": lambda p: (p["created_utc"], p["id"]),
                "hot": lambda p: (p["score"] + p["created_utc"] / 45000, p["id"]),
                "rising": lambda p: (p["created_utc"], p["id"]),
                "top": lambda p: (p["score"], p["id"]),
                "controversial": lambda p: (p.get("num_comments", 0), p["id"]),
            }[kind]
            posts = sorted(posts, key=order, reverse=True)[: self.listing_cap]
            self._cache = {key: (posts, {p["name"]: i for i, p in enumerate(posts)})}
        return self._cache[key]

    def listing(self, sub: str, kind: str, params: dict[str, str]) -> dict[str, Any]:
        with self.lock:
            t = params.get("t", "day" if kind in ("top", "controversial") else "all")
            posts, index = self._sorted(sub, kind, t)
            limit = min(int(params.get("limit", "25")), 100)
            start = 0
            if params.get("after"):
                start = index[params["after"]] + 1 if params["after"] in index else len(posts)
            page = posts[start : start + limit]
            after = page[-1]["name"] if page and start + limit < len(posts) else None
            if self.cursor_loop and params.get("after") == self.cursor_loop[0]:
                after = self.cursor_loop[1]
            return _listing([json.loads(json.dumps(p)) for p in page], after)

    def info(self, ids: str) -> dict[str, Any]:
        with self.lock:
            wanted = [i.removeprefix("t3_") for i in ids.split(",") if i]
            return _listing([json.loads(json.dumps(self.posts[i])) for i in wanted if i in self.posts], None)


def _listing(posts: list[dict[str, Any]], after: str | None) -> dict[str, Any]:
    return {
        "kind": "Listing",
        "data": {"modhash": "", "children": [{"kind": "t3", "data": p} for p in posts], "after": after, "before": None},
    }


class _Handler(BaseHTTPRequestHandler):
    fake: FakeReddit
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:  # keep test output clean
        pass

    def _send(self, status: int, payload: Any, headers: dict[str, str] | None = None, raw: bytes | None = None) -> None:
        body = raw if raw is not None else json.dumps(payload).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(body)))
        for k, v in {**self.fake.ratelimit, **(headers or {})}.items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def _fault(self, method: str, path: str) -> int | None:
        """Apply a queued fault; returns the status sent (0 for a dropped connection, -1 for a drip, logged as it
        starts), None to serve normally."""
        fake = self.fake
        with fake.lock:
            fault = next((f for f in fake.faults if f.method == method and f.path == path), None)
            if fault is not None and fault.skip > 0:
                fault.skip -= 1
                fault = None
            elif fault is not None:
                fault.times -= 1
                if fault.times <= 0:
                    fake.faults.remove(fault)
        if fault is None:
            return None
        if fault.delay:
            fake.holding.set()
            threading.Event().wait(fault.delay)
            fake.holding.clear()
        if fault.drip:
            self._record(method, path, {}, 0)
            body = fault.body or b'{"kind": "Listing", "data": {"children": [], "after": null}}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json; charset=UTF-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.flush()
            try:
                for i in range(len(body)):
                    self.wfile.write(body[i : i + 1])
                    self.wfile.flush()
                    threading.Event().wait(fault.drip)
            except OSError:
                pass
            self.close_connection = True
            return -1
        if fault.drop:
            body = b'{"kind": "Listing", "data": {"children": [{"kind": "t3", "data": {"id": "'
            self.send_response(200)
            self.send_header("Content-Type", "application/json; charset=UTF-8")
            self.send_header("Content-Length", "50000")
            self.end_headers()
            self.wfile.write(body)
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(2)
            return 0
        if fault.status is not None:
            self._send(fault.status, {"message": "fault", "error": fault.status}, fault.headers, fault.body or None)
            return fault.status
        return None  # a pure delay: serve normally afterwards

    def _record(self, method: str, path: str, query: dict[str, str], status: int) -> None:
        with self.fake.lock:
            self.fake.log.append(
                {
                    "method": method,
                    "path": path,
                    "query": query,
                    "status": status,
                    "authorization": self.headers.get("Authorization", ""),
                }
            )

    def do_POST(self) -> None:
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        form = parse_qs(self.rfile.read(length).decode())
        status = self._fault("POST", parts.path)
        if status is not None:
            if status >= 0:
                self._record("POST", parts.path, {}, status)
            return
        if parts.path != "/api/v1/access_token":
            self._record("POST", parts.path, {}, 404)
            self._send(404, {"message": "Not Found", "error": 404})
            return
        expected = "Basic " + base64.b64encode(f"{self.fake.client_id}:{self.fake.client_secret}".encode()).decode()
        if self.headers.get("Authorization") != expected or form.get("grant_type") != ["client_credentials"]:
            self._record("POST", parts.path, {}, 401)
            self._send(401, {"message": "Unauthorized", "error": 401})
            return
        self._record("POST", parts.path, {}, 200)
        self._send(200, {"access_token": self.fake.token, "token_type": "bearer", "expires_in": 86400, "scope": "*"})

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        status = self._fault("GET", parts.path)
        if status is not None:
            if status >= 0:
                self._record("GET", parts.path, query, status)
            return
        if self.headers.get("Authorization") != f"bearer {self.fake.token}":
            self._record("GET", parts.path, query, 401)
            self._send(401, {"message": "Unauthorized", "error": 401})
            return
        segs = parts.path.strip("/").split("/")
        if len(segs) == 3 and segs[0] == "r" and segs[2] in ("new", "hot", "rising", "top", "controversial"):
            payload = self.fake.listing(segs[1], segs[2], query)
        elif parts.path == "/api/info":
            payload = self.fake.info(query.get("id", ""))
        else:
            self._record("GET", parts.path, query, 404)
            self._send(404, {"message": "Not Found", "error": 404})
            return
        self._record("GET", parts.path, query, 200)
        self._send(200, payload)
