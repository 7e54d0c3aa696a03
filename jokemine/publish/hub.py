"""Push one local release folder (``releases/<version>/``) to a Hugging Face Hub dataset repo: one commit, one tag.

Flow of :func:`push_release`, all through the real ``huggingface_hub`` client (:class:`~huggingface_hub.HfApi`):

1. read ``MANIFEST.json`` (version, data files; each listed file must exist and match its sha256);
2. ``create_repo(..., repo_type="dataset", exist_ok=True)``;
3. ``list_repo_refs``: when tag ``v<version>`` is already there the release is on the Hub and nothing is uploaded
   (status ``unchanged``). A tag is treated as immutable: a release is never re-pushed under a version whose tag
   exists, and this module never moves or deletes tags;
4. ``list_repo_tree(recursive=True)`` at the head of ``main`` (paths, git blob ids, LFS sha256); the remote
   ``README.md`` is downloaded (``hf_hub_download`` into a
   throw-away cache) when a ``merge_card`` function is given, and the card uploaded is ``merge_card(local, remote)``;
5. one ``create_commit`` on ``main`` with a :class:`~huggingface_hub.CommitOperationAdd` for every file of the
   release whose bytes the Hub does not already have at that path (:func:`unchanged_paths`: the stable file layout
   of :mod:`jokemine.publish.layout` keeps unchanged data files byte-identical, so a small delta uploads little) and
   a :class:`~huggingface_hub.CommitOperationDelete` for every stale remote file under a config folder
   (a top-level folder holding ``.parquet`` files on the Hub) or ``figures/``, so those folders mirror the release
   exactly while other remote files (``.gitattributes``, files a user added at the top level) are kept. The commit
   names the head it was computed from (``parent_commit``), so a concurrent change to the repo makes it fail instead
   of silently mixing two releases. See https://huggingface.co/docs/huggingface_hub/guides/upload (section
   "create_commit"): the client asks the Hub how to send each file (preupload), uploads large/binary files first
   (Xet or LFS), then posts a single commit that adds and deletes everything at once;
6. ``create_tag(tag="v<version>", revision=<commit oid>)``: the tag names that exact commit, so
   ``load_dataset(repo_id, revision="v<version>")`` reads this release even after later pushes move ``main``.

The commit (step 5) is retried on a 5xx answer or a network error, ``max_attempts`` times in all, waiting
0.2 s x attempt in between; ``huggingface_hub`` itself retries preupload and LFS transfers but posts the commit
once. If the commit finally fails no tag is created. Every failure is a :class:`~jokemine.errors.JokemineError`
with one line naming the repo and the HTTP status. The token is never logged, put in an error message or in the
report (any text that could echo it is redacted).

With an explicit ``endpoint`` every request goes there: huggingface_hub 2.4's User-Agent telemetry (a one-off
``GET {HF_ENDPOINT}/api/agent-harnesses`` on the *default* endpoint) is switched off for the push.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import huggingface_hub
from huggingface_hub import CommitOperationAdd, CommitOperationDelete, HfApi, RepoFile
from huggingface_hub.errors import HfHubHTTPError, OfflineModeIsEnabled

from jokemine.errors import JokemineError
from jokemine.hf import READ_ERRORS, TRANSPORT_ERRORS

log = logging.getLogger(__name__)

MANIFEST = "MANIFEST.json"
CARD = "README.md"
FIGURES = "figures"
BACKOFF_S = 0.2
"""Wait ``BACKOFF_S * attempt`` seconds before retrying a failed commit."""

_VERSION = re.compile(r"[0-9A-Za-z][0-9A-Za-z._+-]*")


_TRANSPORT_ERRORS = TRANSPORT_ERRORS
_PUSH_ERRORS: tuple[type[BaseException], ...] = (HfHubHTTPError, RuntimeError, ValueError, *_TRANSPORT_ERRORS)
_READ_ERRORS = READ_ERRORS


@dataclass
class HubPushReport:
    """Outcome of :func:`push_release`.

    ``status``: ``pushed``; ``unchanged`` (tag ``v<version>`` already on the Hub, nothing uploaded, ``files`` empty);
    or ``dry-run`` (nothing contacted; ``files`` is what would be uploaded). ``files``: repo paths uploaded (sorted,
    posix); ``unchanged``: release paths the Hub already had byte for byte, left out of the commit;
    ``bytes_uploaded``: their size in bytes. ``deleted``: stale repo paths the commit removed. Never holds the
    token.
    """

    repo_id: str
    version: str
    status: str
    commit_url: str | None
    files: list[str]
    deleted: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    bytes_uploaded: int = 0

    def lines(self) -> list[str]:
        """Human summary, one item per line (never contains the token)."""
        tag = f"v{self.version}"
        if self.status == "unchanged":
            out = [f"release {self.version} is already on dataset repo {self.repo_id} (tag {tag}); nothing uploaded"]
        elif self.status == "dry-run":
            out = [f"dry run: would push release {self.version} to dataset repo {self.repo_id} and tag it {tag}"]
        else:
            out = [f"pushed release {self.version} to dataset repo {self.repo_id}, tagged {tag}"]
        if self.commit_url:
            out.append(f"commit: {self.commit_url}")
        if self.status == "dry-run":
            out.append(f"{len(self.files)} files would be uploaded:")
            out.extend(f"  {p}" for p in self.files)
        elif self.status == "pushed":
            deleted = f", {len(self.deleted)} stale files deleted" if self.deleted else ""
            same = f", {len(self.unchanged)} unchanged files not sent" if self.unchanged else ""
            out.append(f"{len(self.files)} files committed ({self.bytes_uploaded:,} bytes){same}{deleted}")
        return out


def resolve_token(token: str | None = None) -> str | None:
    """The token to push with: ``token`` when given, else env ``HF_TOKEN``, else ``huggingface_hub``'s stored login
    (:func:`huggingface_hub.get_token`); None when there is none. Nothing is logged."""
    if token:
        return token
    env = os.environ.get("HF_TOKEN", "").strip()
    if env:
        return env
    return huggingface_hub.get_token()


def read_manifest(release: Path) -> tuple[str, list[dict[str, Any]]]:
    """``(version, files)`` of the release folder ``release``, each listed file checked to exist (and to match its
    ``sha256`` when the manifest gives one).

    Raises :class:`JokemineError` naming the path when the folder or ``MANIFEST.json`` is missing, is not valid JSON,
    lacks ``version``/``files``, or a listed file is missing or altered."""
    path = release / MANIFEST
    if not release.is_dir():
        raise JokemineError(f"{release}: release folder not found")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise JokemineError(f"{path}: release manifest not found (is {release} a release folder?)") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise JokemineError(f"{path}: unreadable release manifest ({err})") from None
    if not isinstance(manifest, dict):
        raise JokemineError(f"{path}: release manifest is not a JSON object")
    version = manifest.get("version")
    if not isinstance(version, str) or not _VERSION.fullmatch(version):
        raise JokemineError(f"{path}: 'version' must be a string like 2026.11.21, not {version!r}")
    files = manifest.get("files")
    if not isinstance(files, list) or not all(isinstance(f, dict) and isinstance(f.get("path"), str) for f in files):
        raise JokemineError(f"{path}: 'files' must be a list of objects with a 'path'")
    for f in files:
        data = release / f["path"]
        if not data.is_file():
            raise JokemineError(f"{path}: lists {f['path']}, which is missing from {release}")
        if isinstance(f.get("sha256"), str) and _sha256(data) != f["sha256"]:
            raise JokemineError(f"{path}: {f['path']} does not match its sha256 (the release was altered)")
    return version, files


def release_files(release: Path) -> list[str]:
    """Every file under ``release`` as a sorted list of relative posix paths (README.md and MANIFEST.json
    included): the repo paths a push uploads."""
    return sorted(p.relative_to(release).as_posix() for p in release.rglob("*") if p.is_file())


def git_blob_oid(content: bytes) -> str:
    """The git blob id (SHA-1 of ``blob <size>\\0`` + content): a regular file's ``oid`` in the Hub's tree API."""
    return hashlib.sha1(b"blob %d\x00" % len(content) + content).hexdigest()


def unchanged_paths(tree: list[RepoFile], release: Path, replaced: dict[str, bytes]) -> list[str]:
    """Paths of ``release`` whose bytes the Hub already has at the same path: an LFS file's ``sha256`` or a
    regular file's git blob id equals the local one's (``replaced``: contents uploaded instead of the local file,
    e.g. the merged card). Sorted."""
    out = []
    for e in tree:
        local, content = release / e.path, replaced.get(e.path)
        if content is None and not local.is_file():
            continue
        if e.lfs is not None:
            same = e.lfs.sha256 == (_sha256(local) if content is None else hashlib.sha256(content).hexdigest())
        else:
            same = e.blob_id == git_blob_oid(local.read_bytes() if content is None else content)
        if same:
            out.append(e.path)
    return sorted(out)


def stale_paths(remote: list[str], local: list[str]) -> list[str]:
    """Remote paths a push deletes: those under a config folder (a top-level folder holding ``.parquet`` files on
    the Hub) or ``figures/`` that are not in the release ``local``. Sorted."""
    keep = set(local)
    folders = {PurePosixPath(p).parts[0] for p in remote if p.endswith(".parquet") and "/" in p} | {FIGURES}
    return sorted(p for p in remote if "/" in p and PurePosixPath(p).parts[0] in folders and p not in keep)


def push_release(
    release: Path,
    repo_id: str,
    *,
    token: str | None = None,
    endpoint: str | None = None,
    private: bool = False,
    dry_run: bool = False,
    max_attempts: int = 3,
    merge_card: Callable[[str, str | None], str] | None = None,
) -> HubPushReport:
    """Push the release folder ``release`` to the Hub dataset repo ``repo_id`` as one commit tagged ``v<version>``
    (see the module docstring for the flow).

    ``token``: see :func:`resolve_token`. ``endpoint``: Hub base URL (None: ``huggingface_hub``'s default, i.e.
    ``HF_ENDPOINT`` or https://huggingface.co). ``private``: visibility when the repo is created (an existing repo
    keeps its own). ``dry_run``: contact nothing, return the files that would be uploaded. ``max_attempts``: tries of
    the commit on 5xx / network errors. ``merge_card(local_readme, remote_readme_or_None) -> readme`` builds the
    uploaded card; without it the local README.md is uploaded as is.

    Returns a :class:`HubPushReport` (status ``pushed``, ``unchanged`` or ``dry-run``). Raises
    :class:`JokemineError` (one line, naming the repo, and the HTTP status when there is one; never the token) on
    a bad release folder, a missing token, offline mode, or any Hub failure."""
    release = Path(release)
    version, _ = read_manifest(release)
    files = release_files(release)
    if dry_run:
        log.info("dry run: release %s -> dataset repo %s, %d files, nothing contacted", version, repo_id, len(files))
        return HubPushReport(repo_id, version, "dry-run", None, files)
    if max_attempts < 1:
        raise JokemineError(f"max_attempts must be at least 1, not {max_attempts}")
    token = resolve_token(token)
    if not token:
        raise JokemineError(
            f"no Hugging Face token to push to {repo_id}: pass one, set HF_TOKEN or log in with `hf auth login`"
        )
    if huggingface_hub.constants.is_offline_mode():
        raise JokemineError(f"cannot push to {repo_id}: HF_HUB_OFFLINE is set (unset it to reach the Hub)")

    with _requests_only_to(endpoint):
        return _push(release, repo_id, version, files, token, endpoint, private, max_attempts, merge_card)


def _push(
    release: Path,
    repo_id: str,
    version: str,
    files: list[str],
    token: str,
    endpoint: str | None,
    private: bool,
    max_attempts: int,
    merge_card: Callable[[str, str | None], str] | None,
) -> HubPushReport:
    """Steps 2-6 of the module docstring (arguments already checked, token resolved)."""
    tag = f"v{version}"
    api = HfApi(endpoint=endpoint, token=token)
    with _hub_errors(repo_id, token, "preparing the push"):
        api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
        refs = api.list_repo_refs(repo_id, repo_type="dataset")
        tagged = next((t.target_commit for t in refs.tags if t.name == tag), None)
        if tagged is not None:
            log.info("release %s is already on dataset repo %s (tag %s): nothing uploaded", version, repo_id, tag)
            url = _redact(f"{api.endpoint}/datasets/{repo_id}/commit/{tagged}", token)
            return HubPushReport(repo_id, version, "unchanged", url, [])
        head = next((b.target_commit for b in refs.branches if b.name == "main"), None)
        tree = [
            e
            for e in (api.list_repo_tree(repo_id, repo_type="dataset", revision=head, recursive=True) if head else [])
            if isinstance(e, RepoFile)
        ]
        remote = [e.path for e in tree]
        card = (release / CARD).read_bytes() if (release / CARD).is_file() else None
        if merge_card is not None and card is not None:
            remote_card = _download_card(api, repo_id, head) if CARD in remote else None
            card = merge_card(_text(card, release / CARD), remote_card).encode("utf-8")
    deleted = stale_paths(remote, files)
    unchanged = unchanged_paths(tree, release, {CARD: card} if card is not None else {})
    upload = [p for p in files if p not in unchanged]
    nbytes = sum(len(card) if p == CARD and card is not None else (release / p).stat().st_size for p in upload)

    log.info(
        "pushing release %s to dataset repo %s: %d files (%d bytes), %d unchanged, %d stale files deleted",
        version,
        repo_id,
        len(upload),
        nbytes,
        len(unchanged),
        len(deleted),
    )

    def operations() -> list[CommitOperationAdd | CommitOperationDelete]:
        """Fresh operations for each attempt (huggingface_hub mutates them while committing)."""
        ops: list[CommitOperationAdd | CommitOperationDelete] = [
            CommitOperationAdd(path, card if path == CARD and card is not None else str(release / path))
            for path in upload
        ]
        ops += [CommitOperationDelete(path, is_folder=False) for path in deleted]
        return ops

    commit_oid, commit_url = _commit(api, repo_id, version, operations, head, token, max_attempts)
    with _hub_errors(repo_id, token, f"tagging commit {commit_oid} as {tag}"):
        api.create_tag(repo_id, tag=tag, repo_type="dataset", revision=commit_oid)
    log.info("pushed release %s to dataset repo %s as commit %s, tagged %s", version, repo_id, commit_oid, tag)
    return HubPushReport(repo_id, version, "pushed", _redact(commit_url, token), upload, deleted, unchanged, nbytes)


def _commit(
    api: HfApi,
    repo_id: str,
    version: str,
    operations: Callable[[], list[CommitOperationAdd | CommitOperationDelete]],
    parent: str | None,
    token: str,
    max_attempts: int,
) -> tuple[str, str]:
    """Create the release commit, retrying 5xx and network errors; returns ``(oid, url)``."""
    for attempt in range(1, max_attempts + 1):
        try:
            info = api.create_commit(
                repo_id,
                operations(),
                commit_message=f"jokemine release {version}",
                repo_type="dataset",
                parent_commit=parent,
            )
            return info.oid, info.commit_url
        except _PUSH_ERRORS as err:
            if isinstance(err, OfflineModeIsEnabled):
                raise JokemineError(f"cannot push to {repo_id}: HF_HUB_OFFLINE is set") from None
            status = _status(err)
            if status == 412:
                raise JokemineError(
                    f"commit to dataset repo {repo_id} rejected (HTTP 412): the repo changed during the push; "
                    "run the push again"
                ) from None
            if isinstance(err, ValueError):  # e.g. README metadata refused by the Hub's validate-yaml (HTTP 400)
                why = _one_line(err) if status is None else f"HTTP {status}: {_one_line(err)} {_detail(err)}"
                raise JokemineError(_redact(f"commit to dataset repo {repo_id} refused: {why}", token)) from None
            transient = (status is not None and status >= 500) or (status is None and _is_network(err))
            if not transient or attempt == max_attempts:
                what = _what(err, status)
                tries = f" after {attempt} attempts" if transient and attempt > 1 else ""
                raise JokemineError(
                    _redact(f"commit to dataset repo {repo_id} failed{tries}: {what}: {_detail(err)}", token)
                ) from None
            wait = BACKOFF_S * attempt
            log.warning(
                "commit to dataset repo %s failed (%s); retrying in %.1f s (attempt %d of %d)",
                repo_id,
                f"HTTP {status}" if status is not None else type(_root(err)).__name__,
                wait,
                attempt + 1,
                max_attempts,
            )
            time.sleep(wait)
    raise AssertionError("unreachable")  # pragma: no cover


def _download_card(api: HfApi, repo_id: str, revision: str | None) -> str:
    """The remote README.md at ``revision`` (downloaded into a throw-away cache; the user's cache is untouched)."""
    with tempfile.TemporaryDirectory(prefix="jokemine-hub-card-") as tmp:
        path = api.hf_hub_download(repo_id, CARD, repo_type="dataset", revision=revision, cache_dir=tmp)
        return _text(Path(path).read_bytes(), f"{CARD} of dataset repo {repo_id}")


def _text(data: bytes, what: object) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise JokemineError(f"{what}: not UTF-8 text") from None


@contextmanager
def _requests_only_to(endpoint: str | None) -> Iterator[None]:
    """Keep every request of the push on ``endpoint``.

    huggingface_hub 2.4 builds its User-Agent with ``detect_agent()``, whose first call in a process fetches
    ``{HF_ENDPOINT or https://huggingface.co}/api/agent-harnesses``: the default endpoint, not the one given to
    :class:`HfApi`. With an explicit other endpoint (a mirror, a test server), that telemetry is switched off for
    the duration of the push (it is skipped when ``HF_HUB_DISABLE_TELEMETRY`` is set) and restored afterwards."""
    constants = huggingface_hub.constants
    if endpoint is None or endpoint.rstrip("/") == constants.ENDPOINT.rstrip("/"):
        yield
        return
    before = constants.HF_HUB_DISABLE_TELEMETRY
    constants.HF_HUB_DISABLE_TELEMETRY = True
    try:
        yield
    finally:
        constants.HF_HUB_DISABLE_TELEMETRY = before


@contextmanager
def _hub_errors(repo_id: str, token: str, doing: str) -> Iterator[None]:
    """Turn Hub / network errors raised inside the block into one-line :class:`JokemineError` (token redacted)."""
    try:
        yield
    except OfflineModeIsEnabled:
        raise JokemineError(f"cannot push to {repo_id}: HF_HUB_OFFLINE is set") from None
    except _READ_ERRORS as err:
        status = _status(err)
        raise JokemineError(
            _redact(f"dataset repo {repo_id}: {doing} failed: {_what(err, status)}: {_detail(err)}", token)
        ) from None


def _chain(err: BaseException) -> list[BaseException]:
    """``err`` and its causes / contexts, outermost first."""
    out: list[BaseException] = []
    cur: BaseException | None = err
    while cur is not None and cur not in out:
        out.append(cur)
        cur = cur.__cause__ or cur.__context__
    return out


def _root(err: BaseException) -> BaseException:
    return _chain(err)[-1]


def _status(err: BaseException) -> int | None:
    """HTTP status of the first Hub HTTP error in the chain of ``err`` (None when it was not an HTTP answer)."""
    for e in _chain(err):
        response = getattr(e, "response", None) if isinstance(e, HfHubHTTPError) else None
        if response is not None:
            return int(response.status_code)
    return None


def _what(err: BaseException, status: int | None) -> str:
    if status is not None:
        return f"HTTP {status}"
    kind = type(_root(err)).__name__
    return f"network error ({kind})" if _is_network(err) else kind


def _is_network(err: BaseException) -> bool:
    return any(isinstance(e, _TRANSPORT_ERRORS) and not isinstance(e, OfflineModeIsEnabled) for e in _chain(err))


def _detail(err: BaseException) -> str:
    """The server's message when it sent one, else the first line of the innermost error."""
    for e in _chain(err):
        if isinstance(e, HfHubHTTPError) and e.server_message:
            return _one_line(e.server_message)
    return _one_line(_root(err))


def _one_line(text: object) -> str:
    lines = [line.strip() for line in str(text).splitlines() if line.strip()]
    return (lines[0] if lines else type(text).__name__)[:300]


def _redact(text: str, token: str | None) -> str:
    return text.replace(token, "***") if token else text


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
