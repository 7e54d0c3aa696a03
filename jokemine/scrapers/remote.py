"""Files on the Hugging Face Hub as paths of any file source: ``hf://datasets/<owner>/<name>[@<revision>]/<path>``,
globs allowed (``hf://datasets/alice/jokes/data/*.csv``), the URL form of huggingface_hub's fsspec file system
(https://huggingface.co/docs/huggingface_hub/guides/hf_file_system).

:func:`fetch` lists the matching files with :class:`huggingface_hub.HfFileSystem` and keeps a local copy of each
in the data dir (``cache/hub/``), downloaded again only when the file's blob id on the Hub changes; the reader then
reads the copy like a local file, and provenance and messages name the ``hf://`` URL. The endpoint and the token
are huggingface_hub's own settings (``HF_ENDPOINT``, ``HF_TOKEN`` or ``hf auth login``); jokemine never stores
the token. A pattern that cannot be listed or downloaded (offline, a missing repo) is one error line naming it.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
from pathlib import Path

PREFIX = "hf://"


def is_remote(pattern: str) -> bool:
    """Whether a configured path is a Hub URL (``hf://...``)."""
    return pattern.startswith(PREFIX)


def fetch(patterns: list[str], cache: Path) -> tuple[list[tuple[str, Path]], list[str]]:
    """``([(url, local copy), ...], [error line, ...])`` for the ``hf://`` ``patterns`` (sorted per pattern).

    Network and Hub errors (:data:`jokemine.hf.READ_ERRORS`, a repo or revision that does not exist) become error
    lines naming the pattern; the other patterns are still fetched."""
    from huggingface_hub import HfFileSystem

    from jokemine.hf import READ_FAILURES, one_line

    fs = HfFileSystem(skip_instance_cache=True)
    out: list[tuple[str, Path]] = []
    errors: list[str] = []
    for pattern in patterns:
        target = pattern.removeprefix(PREFIX)
        try:
            matches = sorted(fs.glob(target)) if glob.has_magic(target) else [target]
            if not matches:
                errors.append(f"{pattern}: no file on the Hugging Face Hub matches")
                continue
            for m in matches:
                info = fs.info(m)
                if info.get("type") != "file":
                    continue
                out.append((PREFIX + m, _copy(fs, m, info, cache)))
        except READ_FAILURES as e:
            errors.append(f"{pattern}: cannot read from the Hugging Face Hub ({one_line(e)})")
    return out, errors


def _copy(fs: object, path: str, info: dict[str, object], cache: Path) -> Path:
    """The local copy of Hub file ``path`` (downloaded when missing or when its blob id changed)."""
    lfs = info.get("lfs")
    blob = str((lfs or {}).get("sha256") if isinstance(lfs, dict) else info.get("blob_id") or "")
    key = hashlib.blake2b(path.encode("utf-8"), digest_size=8).hexdigest()
    folder = cache / key
    local = folder / path.rsplit("/", 1)[-1]
    marker = folder / ".source.json"
    if local.is_file() and marker.is_file():
        try:
            if json.loads(marker.read_text()).get("blob") == blob and blob:
                return local
        except ValueError:
            pass
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".{local.name}.part"
    fs.get_file(path, str(tmp))  # type: ignore[attr-defined]
    os.replace(tmp, local)
    marker.write_text(json.dumps({"path": path, "blob": blob}))
    return local


def with_remote(
    files: list[Path], remote: list[str], data_dir: Path | None
) -> tuple[list[Path], dict[Path, str], list[str]]:
    """A file source's local ``files`` plus local copies of its ``remote`` patterns: ``(files, {copy: url},
    [error line, ...])``. Copies live in ``<data_dir>/cache/hub`` (a temporary folder without a data dir)."""
    if not remote:
        return files, {}, []
    import tempfile

    cache = (data_dir / "cache" / "hub") if data_dir else Path(tempfile.gettempdir()) / "jokemine-hub-cache"
    fetched, errors = fetch(remote, cache)
    return [*files, *(p for _, p in fetched)], {p: url for url, p in fetched}, errors


def repo_path(url: str) -> str:
    """The path of a Hub file inside its repo: ``hf://datasets/alice/jokes@v1/data/a.csv`` -> ``data/a.csv``."""
    parts = url.removeprefix(PREFIX).split("/", 3)
    return parts[3] if len(parts) == 4 else url
