"""A loopback stand-in for the Hugging Face Hub, speaking the HTTP API that ``huggingface_hub`` 2.4 uses to create a
dataset repo, list its refs and files, commit to it, tag it and read files back, and that ``datasets`` (5.x)
``load_dataset(repo_id, config, revision=...)`` uses to load a dataset from it (``HF_ENDPOINT`` set to ``url``),
streamed or not, and ``HfFileSystem`` to list, inspect and read files.

Endpoints (``{repo}`` is ``namespace/name``; revisions are a branch (``main``), a tag or a 40-hex commit oid)::

    POST /api/repos/create                                create a repo (409 when it exists); initial commit holds
                                                          .gitattributes, as on the real Hub
    GET  /api/{type}s/{repo}[/revision/{rev}]             repo info (id, sha, siblings)
    GET  /api/{type}s/{repo}/refs                         branches / converts / tags
    GET  /api/{type}s/{repo}/tree/{rev}[/{path}]          file and folder entries (``?recursive=true``;
                                                          ``?expand=true`` adds ``lastCommit``)
    POST /api/{type}s/{repo}/paths-info/{rev}             the entries of the form's ``paths`` (missing ones left
                                                          out), as ``tree`` lists them
    POST /api/validate-yaml                               README front matter check (400 + errors on bad YAML)
    POST /api/{type}s/{repo}/preupload/{rev}              upload mode per file ("regular", or "lfs" for binary
                                                          suffixes when ``lfs=True``) and the oid already there
    POST /api/{type}s/{repo}/commit/{rev}                 ndjson commit: header, file (base64), lfsFile,
                                                          deletedFile, deletedFolder; honours parentCommit (412)
    POST /api/{type}s/{repo}/tag/{rev}                    create a tag (409 when it exists)
    HEAD|GET /[{type}s/]{repo}/resolve/{rev}/{path}       a regular file: its bytes (206 for a ``Range``) with
                                                          X-Repo-Commit, ETag (git blob id), Content-Length,
                                                          Accept-Ranges; an LFS file: 302 to the storage host with
                                                          X-Repo-Commit, X-Linked-Etag (sha256), X-Linked-Size
    HEAD|GET /lfs-cdn/{sha256}                            the storage host (``cdn_url``: 127.0.0.1 on another port,
                                                          so another origin, which huggingface_hub does not follow
                                                          on HEAD): LFS object bytes, ``Range`` a-b, a- or -n
    POST /[{type}s/]{repo}.git/info/lfs/objects/batch     LFS batch API, always answers transfer "basic"
    PUT  /lfs-storage/{sha256}                            LFS basic upload (the "S3" URL the batch hands out)
    POST /[{type}s/]{repo}.git/info/lfs/objects/verify    LFS verify

Everything is recorded: per repo the current files ``{path: bytes}``, each commit (message, paths added, deleted,
which were LFS, oid, parent) and the tags; per server every request (method, path, query, headers, body size,
status, route ``kind``). ``fail_next(kind, status=500, times=1)`` makes the next request(s) of a route fail;
``drop=True`` instead closes the connection without answering (a network error for the client). With ``token``
set, every Hub API write must carry ``Authorization: Bearer <token>`` (401 otherwise); as on the real Hub, reads
(info, refs, tree, paths-info, resolve) of a public repo need none, those of a private repo answer 401
RepoNotFound, and a wrong token is refused everywhere. LFS storage URLs (upload, ``lfs-cdn``) need none.

Only what the flow needs is implemented; the real API is documented at https://huggingface.co/docs/hub/api.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

import yaml

GITATTRIBUTES = b"*.parquet filter=lfs diff=lfs merge=lfs -text\n*.png filter=lfs diff=lfs merge=lfs -text\n"
LFS_SUFFIXES = (".parquet", ".png", ".arrow", ".bin", ".zip", ".gz", ".zst")
REPO_TYPES = {"models": "model", "datasets": "dataset", "spaces": "space"}
READ_KINDS = frozenset({"info", "refs", "tree", "paths-info", "resolve"})  # routes a public repo answers anyone


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def git_oid(content: bytes) -> str:
    """The git blob sha1 of ``content`` (what the Hub calls a regular file's oid)."""
    return hashlib.sha1(b"blob %d\0" % len(content) + content).hexdigest()


@dataclass
class HubFile:
    content: bytes
    lfs: bool = False

    @property
    def oid(self) -> str:
        """sha256 for LFS files (the LFS oid), git sha1 otherwise: what preupload and ETag report."""
        return hashlib.sha256(self.content).hexdigest() if self.lfs else git_oid(self.content)


@dataclass
class HubCommit:
    oid: str
    message: str
    description: str
    parent: str | None
    added: list[str]
    deleted: list[str]
    lfs: list[str]  # the added paths that arrived as lfsFile entries
    snapshot: dict[str, HubFile]
    date: str = field(default_factory=_now)  # ISO 8601, UTC


@dataclass
class HubRepo:
    repo_id: str
    repo_type: str
    private: bool
    commits: list[HubCommit] = field(default_factory=list)
    tags: dict[str, str] = field(default_factory=dict)  # tag -> commit oid

    @property
    def head(self) -> HubCommit:
        return self.commits[-1]

    @property
    def files(self) -> dict[str, bytes]:
        """Current files of ``main``: ``{path: bytes}``."""
        return {p: f.content for p, f in self.head.snapshot.items()}

    def resolve(self, rev: str) -> HubCommit | None:
        """The commit a branch, tag or commit oid names (None when unknown)."""
        if rev in ("main", "refs/heads/main"):
            return self.head
        name = rev.removeprefix("refs/tags/")
        if name in self.tags:
            return self.commit(self.tags[name])
        return self.commit(rev)

    def commit(self, oid: str) -> HubCommit | None:
        return next((c for c in self.commits if c.oid == oid), None)


@dataclass
class HubRequest:
    method: str
    path: str  # decoded
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-case names
    body_size: int
    kind: str
    status: int = 0


@dataclass
class HubFault:
    kind: str
    status: int = 500
    times: int = 1
    message: str = "Internal Error - We're working hard to fix this as soon as possible!"
    drop: bool = False


class FakeHub:
    """The server; a context manager. ``url`` is its base URL on 127.0.0.1 (random port)."""

    def __init__(self, *, token: str | None = None, lfs: bool = False) -> None:
        self.token = token
        self.lfs = lfs
        self.repos: dict[tuple[str, str], HubRepo] = {}
        self.lfs_objects: dict[str, bytes] = {}  # sha256 -> bytes
        self.requests: list[HubRequest] = []
        self.faults: list[HubFault] = []
        self.lock = threading.Lock()
        self._counter = 0
        self._server: ThreadingHTTPServer | None = None
        self._cdn: ThreadingHTTPServer | None = None

    # --- test helpers ------------------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        assert self._server is not None, "server not started"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def cdn_url(self) -> str:
        """Base URL of the LFS storage host that LFS files' resolve URLs redirect to (127.0.0.1, another port)."""
        assert self._cdn is not None, "server not started"
        return f"http://127.0.0.1:{self._cdn.server_address[1]}"

    def fail_next(self, kind: str, *, status: int = 500, times: int = 1, drop: bool = False, message: str = "") -> None:
        """Answer the next ``times`` requests of route ``kind`` (e.g. "commit", "preupload", "tag") with ``status``
        (or, with ``drop``, close the connection unanswered)."""
        fault = HubFault(kind, status, times, drop=drop)
        if message:
            fault.message = message
        with self.lock:
            self.faults.append(fault)

    def repo(self, repo_id: str, repo_type: str = "dataset") -> HubRepo:
        """The stored repo (KeyError when it was never created)."""
        return self.repos[(repo_type, repo_id)]

    def calls(self, kind: str | None = None) -> list[HubRequest]:
        """Requests received, optionally only those of route ``kind``."""
        with self.lock:
            return [r for r in self.requests if kind is None or r.kind == kind]

    def seed(
        self,
        repo_id: str,
        files: dict[str, bytes],
        *,
        repo_type: str = "dataset",
        message: str = "seed",
        tag: str | None = None,
    ) -> HubCommit:
        """Create the repo if needed and commit ``files`` to it directly (no HTTP, nothing logged)."""
        with self.lock:
            repo = self.repos.get((repo_type, repo_id)) or self._create(repo_id, repo_type, private=False)
            snapshot = dict(repo.head.snapshot)
            for path, content in files.items():
                snapshot[path] = HubFile(content, lfs=self._is_lfs(path))
            commit = self._commit(repo, message, "", list(files), [], [], snapshot)
            if tag is not None:
                repo.tags[tag] = commit.oid
            return commit

    # --- lifecycle ---------------------------------------------------------------------------------------------

    def __enter__(self) -> FakeHub:
        handler = type("Handler", (_Handler,), {"hub": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._cdn = ThreadingHTTPServer(("127.0.0.1", 0), handler)  # the LFS storage host: another origin
        for server in (self._server, self._cdn):
            server.daemon_threads = True
            threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        for server in (self._server, self._cdn):
            if server is not None:
                server.shutdown()
                server.server_close()
        self._server = self._cdn = None

    # --- state (callers hold self.lock) ------------------------------------------------------------------------

    def _is_lfs(self, path: str) -> bool:
        return self.lfs and path.lower().endswith(LFS_SUFFIXES)

    def _lfs_object(self, oid: str) -> bytes | None:
        """The bytes of LFS object ``oid``: uploaded, or an LFS file of any commit (``seed`` stores no object)."""
        if oid in self.lfs_objects:
            return self.lfs_objects[oid]
        files = (f for repo in self.repos.values() for c in repo.commits for f in c.snapshot.values())
        return next((f.content for f in files if f.lfs and f.oid == oid), None)

    def _create(self, repo_id: str, repo_type: str, private: bool) -> HubRepo:
        repo = HubRepo(repo_id, repo_type, private)
        self.repos[(repo_type, repo_id)] = repo
        self._commit(repo, "initial commit", "", [".gitattributes"], [], [], {".gitattributes": HubFile(GITATTRIBUTES)})
        return repo

    def _commit(
        self,
        repo: HubRepo,
        message: str,
        description: str,
        added: list[str],
        deleted: list[str],
        lfs: list[str],
        snapshot: dict[str, HubFile],
    ) -> HubCommit:
        self._counter += 1
        parent = repo.commits[-1].oid if repo.commits else None
        seed = json.dumps([parent, message, self._counter, sorted((p, f.oid) for p, f in snapshot.items())])
        oid = hashlib.sha1(seed.encode()).hexdigest()
        commit = HubCommit(oid, message, description, parent, added, deleted, lfs, snapshot)
        repo.commits.append(commit)
        return commit


def _file_entry(path: str, f: HubFile) -> dict[str, Any]:
    """A file as ``tree`` and ``paths-info`` list it (``oid``: git blob id; ``lfs``: sha256, size, pointer size)."""
    entry: dict[str, Any] = {"type": "file", "oid": git_oid(f.content), "size": len(f.content), "path": path}
    if f.lfs:
        entry["lfs"] = {"oid": f.oid, "size": len(f.content), "pointerSize": 134}
    return entry


def _last_commit(commit: HubCommit) -> dict[str, str]:
    """``lastCommit`` of an expanded entry (the commit asked about, not the one that last touched the path)."""
    return {"id": commit.oid, "title": commit.message, "date": commit.date}


class _Handler(BaseHTTPRequestHandler):
    hub: FakeHub
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body leave in one flush, no 40 ms delayed-ACK stalls
    wbufsize = -1

    def log_message(self, *args: Any) -> None:
        pass

    # --- plumbing ----------------------------------------------------------------------------------------------

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            out = bytearray()
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return bytes(out)
                out += self.rfile.read(size)
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send(self, status: int, body: bytes = b"", content_type: str = "application/json", **headers: str) -> None:
        self._request.status = status
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers.items():
            self.send_header(name.replace("_", "-"), value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        self.wfile.flush()

    def _json(self, status: int, data: Any, **headers: str) -> None:
        self._send(status, json.dumps(data).encode(), **headers)

    def _error(self, status: int, message: str, code: str | None = None, **headers: str) -> None:
        if code is not None:
            headers["X_Error_Code"] = code
        headers["X_Error_Message"] = message
        self._json(status, {"error": message}, **headers)

    def _handle(self) -> None:
        hub = self.hub
        raw = urlsplit(self.path)
        segments = [unquote(s) for s in raw.path.split("/")[1:]]  # split before unquoting: %2F stays in a segment
        body = self._body()
        kind, route = self._route(segments)
        self._request = HubRequest(
            method=self.command,
            path=unquote(raw.path),
            query=parse_qs(raw.query),
            headers={k.lower(): v for k, v in self.headers.items()},
            body_size=len(body),
            kind=kind,
        )
        with hub.lock:
            hub.requests.append(self._request)
            fault = next((f for f in hub.faults if f.kind == kind), None)
            if fault is not None:
                fault.times -= 1
                if fault.times <= 0:
                    hub.faults.remove(fault)
        if fault is not None and fault.drop:
            self._request.status = -1
            self.close_connection = True
            self.connection.shutdown(2)
            return
        if fault is not None:
            self._error(fault.status, fault.message)
            return
        if route is None:
            self._error(404, f"no route for {self.command} {raw.path}")
            return
        refused = self._refused(kind, segments) if hub.token is not None else None
        if refused is not None:
            self._error(401, *refused)
            return
        try:
            route(segments, body)
        except (ValueError, KeyError) as err:
            self._error(400, f"bad request: {err}")

    do_GET = do_HEAD = do_POST = do_PUT = _handle

    def _refused(self, kind: str, s: list[str]) -> tuple[str, str | None] | None:
        """Why this request lacks the credentials it needs (message, error code), None when it does not. LFS storage
        URLs are pre-signed and verify carries the batch headers; a wrong token is refused anywhere else; without
        one, as on the real Hub, reads of a public repo are answered, a private repo is "not found" and every
        write is refused."""
        if kind.startswith("lfs-"):
            return None
        auth = self.headers.get("Authorization")
        if auth is not None:
            return None if auth == f"Bearer {self.hub.token}" else ("Invalid credentials in Authorization header", None)
        if kind not in READ_KINDS:
            return ("Invalid credentials in Authorization header", None)
        with self.hub.lock:
            repo = self.hub.repos.get(self._repo_key(s))
        return ("Repository not found", "RepoNotFound") if repo is not None and repo.private else None

    def _route(self, s: list[str]) -> tuple[str, Any]:
        method = self.command
        if s[:1] == ["api"]:
            if s[1:] == ["repos", "create"] and method == "POST":
                return "create", self._create
            if s[1:] == ["validate-yaml"] and method == "POST":
                return "validate-yaml", self._validate_yaml
            if len(s) >= 4 and s[1] in REPO_TYPES:
                rest = s[4:]
                if not rest and method == "GET":
                    return "info", self._info
                if rest[:1] == ["revision"] and len(rest) == 2 and method == "GET":
                    return "info", self._info
                if rest == ["refs"] and method == "GET":
                    return "refs", self._refs
                if rest[:1] == ["tree"] and len(rest) >= 2 and method == "GET":
                    return "tree", self._tree
                if rest[:1] == ["paths-info"] and len(rest) == 2 and method == "POST":
                    return "paths-info", self._paths_info
                if rest[:1] == ["preupload"] and len(rest) == 2 and method == "POST":
                    return "preupload", self._preupload
                if rest[:1] == ["commit"] and len(rest) == 2 and method == "POST":
                    return "commit", self._commit
                if rest[:1] == ["tag"] and len(rest) == 2 and method == "POST":
                    return "tag", self._tag
            return "unknown", None
        if s[:1] == ["lfs-storage"] and len(s) == 2 and method == "PUT":
            return "lfs-upload", self._lfs_upload
        if s[:1] == ["lfs-cdn"] and len(s) == 2 and method in ("GET", "HEAD"):
            return "lfs-cdn", self._cdn
        prefix = 1 if s[:1] and s[0] in REPO_TYPES else 0
        if len(s) >= prefix + 5 and s[prefix + 2] == "resolve" and method in ("GET", "HEAD"):
            return "resolve", self._resolve
        if (
            len(s) == prefix + 6
            and s[prefix + 1].endswith(".git")
            and s[prefix + 2 : prefix + 5]
            == [
                "info",
                "lfs",
                "objects",
            ]
        ):
            if s[-1] == "batch" and method == "POST":
                return "lfs-batch", self._lfs_batch
            if s[-1] == "verify" and method == "POST":
                return "lfs-verify", self._lfs_verify
        return "unknown", None

    @staticmethod
    def _repo_key(s: list[str]) -> tuple[str, str]:
        """(type, id) of an /api/{type}s/{ns}/{name}/... or /[{type}s/]{ns}/{name}/... path."""
        if s[:1] == ["api"]:
            return REPO_TYPES[s[1]], f"{s[2]}/{s[3]}"
        prefix = 1 if s[0] in REPO_TYPES else 0
        return (REPO_TYPES[s[0]] if prefix else "model"), f"{s[prefix]}/{s[prefix + 1]}"

    def _api_repo(self, s: list[str]) -> HubRepo | None:
        """The repo of an /api/{type}s/{ns}/{name}/... path, or None after answering 404."""
        key = self._repo_key(s)
        with self.hub.lock:
            repo = self.hub.repos.get(key)
        if repo is None:
            self._error(404, "Repository not found", "RepoNotFound")
        return repo

    def _repo_commit(self, repo: HubRepo, rev: str) -> HubCommit | None:
        with self.hub.lock:
            commit = repo.resolve(rev)
        if commit is None:
            self._error(404, f"Invalid rev id: {rev}", "RevisionNotFound")
        return commit

    def _api_repo_commit(self, s: list[str], rev: str) -> tuple[HubRepo, HubCommit] | None:
        """The API path's repo and its commit at ``rev``; None after answering 401/404 (see the two lookups)."""
        repo = self._api_repo(s)
        commit = None if repo is None else self._repo_commit(repo, rev)
        return None if repo is None or commit is None else (repo, commit)

    # --- Hub API -----------------------------------------------------------------------------------------------

    def _create(self, s: list[str], body: bytes) -> None:
        payload = json.loads(body)
        name, org = payload["name"], payload.get("organization")
        repo_id = f"{org}/{name}" if org else name
        repo_type = payload.get("type") or "model"
        prefix = "" if repo_type == "model" else f"{repo_type}s/"
        url = f"{self.hub.url}/{prefix}{repo_id}"
        with self.hub.lock:
            exists = (repo_type, repo_id) in self.hub.repos
            if not exists:
                private = payload.get("visibility") == "private" or bool(payload.get("private"))
                self.hub._create(repo_id, repo_type, private)
        if exists:
            self._json(409, {"error": "You already created this dataset repo", "url": url})
        else:
            self._json(200, {"url": url, "name": repo_id, "id": repo_id})

    def _info(self, s: list[str], body: bytes) -> None:
        found = self._api_repo_commit(s, s[5] if len(s) > 5 else "main")
        if found is None:
            return
        repo, commit = found
        siblings = [{"rfilename": p} for p in sorted(commit.snapshot)]
        self._json(200, {"id": repo.repo_id, "sha": commit.oid, "private": repo.private,
                         "lastModified": commit.date, "siblings": siblings, "tags": []})  # fmt: skip

    def _refs(self, s: list[str], body: bytes) -> None:
        repo = self._api_repo(s)
        if repo is None:
            return
        with self.hub.lock:
            branches = [{"name": "main", "ref": "refs/heads/main", "targetCommit": repo.head.oid}]
            tags = [{"name": t, "ref": f"refs/tags/{t}", "targetCommit": oid} for t, oid in sorted(repo.tags.items())]
        self._json(200, {"branches": branches, "converts": [], "tags": tags})

    def _tree(self, s: list[str], body: bytes) -> None:
        found = self._api_repo_commit(s, s[5])
        if found is None:
            return
        _, commit = found
        base = "/".join(s[6:]).strip("/")
        recursive = self._flag("recursive")
        prefix = f"{base}/" if base else ""
        files = {p: f for p, f in commit.snapshot.items() if p.startswith(prefix)}
        if base and not files:
            self._error(404, f"{base} does not exist on {s[5]}", "EntryNotFound")
            return
        entries: dict[str, dict[str, Any]] = {}
        for path, f in sorted(files.items()):
            parts = path[len(prefix) :].split("/")
            for depth in range(1, len(parts)):  # folders on the way
                if not recursive and depth > 1:
                    break
                folder = prefix + "/".join(parts[:depth])
                entries.setdefault(folder, {"type": "directory", "oid": git_oid(folder.encode()), "path": folder})
            if recursive or len(parts) == 1:
                entries[path] = _file_entry(path, f)
        if self._flag("expand"):
            for entry in entries.values():
                entry["lastCommit"] = _last_commit(commit)
        self._json(200, list(entries.values()))

    def _paths_info(self, s: list[str], body: bytes) -> None:
        """The entries (as in ``tree``) of the files and folders named by the form field ``paths`` (repeated); as on
        the real Hub, paths that do not exist are left out."""
        found = self._api_repo_commit(s, s[5])
        if found is None:
            return
        _, commit = found
        form = parse_qs(body.decode(), keep_blank_values=True)
        expand = form.get("expand", ["false"])[0].lower() in ("1", "true")
        out: list[dict[str, Any]] = []
        for path in (p.strip("/") for p in form.get("paths", [])):
            if path in commit.snapshot:
                out.append(_file_entry(path, commit.snapshot[path]))
            elif path and any(p.startswith(f"{path}/") for p in commit.snapshot):
                out.append({"type": "directory", "oid": git_oid(path.encode()), "path": path})
            else:
                continue
            if expand:
                out[-1]["lastCommit"] = _last_commit(commit)
        self._json(200, out)

    def _flag(self, name: str) -> bool:
        return self._request.query.get(name, ["false"])[0].lower() in ("1", "true")

    def _validate_yaml(self, s: list[str], body: bytes) -> None:
        content = json.loads(body)["content"]
        if content.startswith("---"):
            end = content.find("\n---", 3)
            try:
                if end < 0:
                    raise yaml.YAMLError("front matter is not closed by ---")
                data = yaml.safe_load(content[3:end])
                if data is not None and not isinstance(data, dict):
                    raise yaml.YAMLError("front matter is not a mapping")
            except yaml.YAMLError as err:
                self._json(400, {"errors": [{"message": f"Invalid YAML: {err}"}], "warnings": []})
                return
        self._json(200, {"errors": [], "warnings": []})

    def _preupload(self, s: list[str], body: bytes) -> None:
        found = self._api_repo_commit(s, s[5])
        if found is None:
            return
        _, commit = found
        out = []
        for f in json.loads(body)["files"]:
            base64.b64decode(f["sample"], validate=True)
            lfs = self.hub._is_lfs(f["path"]) and int(f["size"]) > 0
            existing = commit.snapshot.get(f["path"])
            oid = existing.oid if existing is not None and existing.lfs == lfs else None
            out.append(
                {"path": f["path"], "uploadMode": "lfs" if lfs else "regular", "shouldIgnore": False, "oid": oid}
            )
        self._json(200, {"files": out, "commitOid": commit.oid})

    def _commit(self, s: list[str], body: bytes) -> None:
        repo = self._api_repo(s)
        if repo is None:
            return
        if s[5] != "main":
            self._error(400, f"this fake Hub commits to main only, not {s[5]}")
            return
        lines = [json.loads(line) for line in body.splitlines() if line.strip()]
        if not lines or lines[0].get("key") != "header":
            self._error(400, "the first ndjson line must be the header")
            return
        header = lines[0]["value"]
        hub = self.hub
        with hub.lock:
            parent = header.get("parentCommit")
            if parent is not None and not repo.head.oid.startswith(parent):
                self._error(412, "A commit has happened since. Please refresh and try again.")
                return
            snapshot = dict(repo.head.snapshot)
            added: list[str] = []
            deleted: list[str] = []
            lfs: list[str] = []
            for line in lines[1:]:
                key, value = line["key"], line["value"]
                path = value["path"]
                if key == "file":
                    snapshot[path] = HubFile(base64.b64decode(value["content"]))
                    added.append(path)
                elif key == "lfsFile":
                    content = hub.lfs_objects.get(value["oid"])
                    if content is None:
                        self._error(422, f"Your push was rejected because an LFS pointer ({path}) has no object")
                        return
                    snapshot[path] = HubFile(content, lfs=True)
                    added.append(path)
                    lfs.append(path)
                elif key == "deletedFile":
                    if path not in snapshot:
                        self._error(404, f"A file with this name doesn't exist: {path}", "EntryNotFound")
                        return
                    del snapshot[path]
                    deleted.append(path)
                elif key == "deletedFolder":
                    gone = [p for p in snapshot if p.startswith(path.rstrip("/") + "/")]
                    for p in gone:
                        del snapshot[p]
                    deleted.extend(gone)
                else:
                    self._error(400, f"unknown ndjson key {key!r}")
                    return
            commit = hub._commit(repo, header["summary"], header.get("description", ""), added, deleted, lfs, snapshot)
        prefix = "" if repo.repo_type == "model" else f"{repo.repo_type}s/"
        url = f"{hub.url}/{prefix}{repo.repo_id}/commit/{commit.oid}"
        self._json(200, {"success": True, "commitOid": commit.oid, "commitUrl": url, "hookOutput": ""})

    def _tag(self, s: list[str], body: bytes) -> None:
        found = self._api_repo_commit(s, s[5])
        if found is None:
            return
        repo, commit = found
        tag = json.loads(body)["tag"]
        with self.hub.lock:
            exists = tag in repo.tags
            if not exists:
                repo.tags[tag] = commit.oid
        if exists:
            self._error(409, f"Tag {tag} already exists")
        else:
            self._json(200, {"name": tag, "ref": f"refs/tags/{tag}", "targetCommit": commit.oid})

    # --- file read-back ----------------------------------------------------------------------------------------

    def _resolve(self, s: list[str], body: bytes) -> None:
        """A file at a revision. A regular file is answered here (200, or 206 for a ``Range``); an LFS file, as on the
        real Hub, by a 302 to the storage host whose response carries the file's metadata (X-Linked-Etag: its sha256,
        X-Linked-Size) and which huggingface_hub therefore does not follow on HEAD (another origin)."""
        with self.hub.lock:
            repo = self.hub.repos.get(self._repo_key(s))
        if repo is None:
            self._error(404, "Repository not found", "RepoNotFound")
            return
        prefix = 1 if s[0] in REPO_TYPES else 0
        commit = self._repo_commit(repo, s[prefix + 3])
        if commit is None:
            return
        path = "/".join(s[prefix + 4 :])
        f = commit.snapshot.get(path)
        if f is None:
            self._error(404, "Entry not found", "EntryNotFound", X_Repo_Commit=commit.oid)
            return
        headers = {"X_Repo_Commit": commit.oid, "ETag": f'"{f.oid}"', "Accept_Ranges": "bytes"}
        if not f.lfs:
            self._send_bytes(f.content, headers)
            return
        name = path.rsplit("/", 1)[-1]
        location = f"{self.hub.cdn_url}/lfs-cdn/{f.oid}?filename={quote(name)}"
        headers.update(X_Linked_Etag=f'"{f.oid}"', X_Linked_Size=str(len(f.content)), Location=location)
        self._send(302, f"Found. Redirecting to {location}".encode(), "text/plain; charset=utf-8", **headers)

    def _cdn(self, s: list[str], body: bytes) -> None:
        """An LFS object by its sha256 on the storage host (pre-signed in real life: no token needed)."""
        with self.hub.lock:
            content = self.hub._lfs_object(s[1])
        if content is None:
            self._error(404, f"object {s[1]} not found")
            return
        self._send_bytes(content, {"ETag": f'"{s[1]}"', "Accept_Ranges": "bytes"})

    def _send_bytes(self, content: bytes, headers: dict[str, str]) -> None:
        """``content`` whole (200), or the part a GET's ``Range: bytes=a-b | a- | -n`` asks for (206; 416 when it
        starts past the end)."""
        byte_range = self.headers.get("Range", "")
        if not (byte_range.startswith("bytes=") and self.command == "GET"):
            self._send(200, content, "application/octet-stream", **headers)
            return
        start_s, _, end_s = byte_range[6:].split(",")[0].strip().partition("-")
        size = len(content)
        if start_s:
            start, end = int(start_s), min(int(end_s) if end_s else size - 1, size - 1)
        else:  # a suffix: the last n bytes
            start, end = max(size - int(end_s), 0), size - 1
        if start >= size or end < start:
            self._error(416, f"range {byte_range} not satisfiable for {size} bytes", Content_Range=f"bytes */{size}")
            return
        headers["Content_Range"] = f"bytes {start}-{end}/{size}"
        self._send(206, content[start : end + 1], "application/octet-stream", **headers)

    # --- LFS ---------------------------------------------------------------------------------------------------

    def _lfs_batch(self, s: list[str], body: bytes) -> None:
        prefix = 1 if s[0] in REPO_TYPES else 0
        repo_type = REPO_TYPES[s[0]] if prefix else "model"
        repo_id = f"{s[prefix]}/{s[prefix + 1].removesuffix('.git')}"
        with self.hub.lock:
            repo = self.hub.repos.get((repo_type, repo_id))
        if repo is None:
            self._error(404, "Repository not found", "RepoNotFound")
            return
        payload = json.loads(body)
        if payload.get("operation") != "upload" or "basic" not in payload.get("transfers", ["basic"]):
            self._error(400, "this fake Hub only supports basic LFS uploads")
            return
        objects = []
        verify = f"{self.hub.url}/{'/'.join(s[: prefix + 2])}/info/lfs/objects/verify"
        for obj in payload["objects"]:
            entry: dict[str, Any] = {"oid": obj["oid"], "size": obj["size"], "authenticated": True}
            with self.hub.lock:
                stored = obj["oid"] in self.hub.lfs_objects
            if not stored:
                entry["actions"] = {
                    "upload": {"href": f"{self.hub.url}/lfs-storage/{obj['oid']}"},
                    "verify": {"href": verify, "header": {}},
                }
            objects.append(entry)
        self._send(200, json.dumps({"transfer": "basic", "objects": objects}).encode(), "application/vnd.git-lfs+json")

    def _lfs_upload(self, s: list[str], body: bytes) -> None:
        oid = s[1]
        if hashlib.sha256(body).hexdigest() != oid:
            self._error(400, f"content does not hash to {oid}")
            return
        with self.hub.lock:
            self.hub.lfs_objects[oid] = body
        self._send(200, b"", "text/plain", ETag=f'"{oid}"')

    def _lfs_verify(self, s: list[str], body: bytes) -> None:
        payload = json.loads(body)
        with self.hub.lock:
            content = self.hub.lfs_objects.get(payload["oid"])
        if content is None or len(content) != payload["size"]:
            self._error(404, f"object {payload['oid']} not found")
            return
        self._json(200, {"success": True})
