"""``hub_dataset``: a dataset on the Hugging Face Hub as a source, streamed with ``datasets`` and mapped like a table.

The reader asks the Hub (``huggingface_hub.HfApi.dataset_info``) which commit ``revision`` names; when the committed
cursor (``hub:<repo>/<config>/<split>``) holds the same commit and settings, nothing is read. Otherwise the split is
streamed (``datasets.load_dataset(repo, config, split=split, revision=<commit>, streaming=True)``, see
https://huggingface.co/docs/datasets/stream), each row stored as read (values that are not JSON, such as dates,
become strings; binary values such as images are left out and counted), with ids as a table's
(:class:`jokemine.scrapers.table.RowIdPolicy`: the mapped ``id``, else a hash of the mapped text). Provenance is
``hf://datasets/<repo>@<commit>/<config>/<split>`` and the row number. The endpoint and token are
huggingface_hub's (``HF_ENDPOINT``, ``HF_TOKEN``); an unreachable Hub or a missing repo, config or split fails the
source with one line naming it.
"""

from __future__ import annotations

import base64
import datetime as dt
import decimal
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from jokemine.cleaning.filters import record_steps
from jokemine.cleaning.parse import table_records
from jokemine.config import HttpConfig, HubDatasetSource
from jokemine.errors import SourceError
from jokemine.hf import READ_FAILURES, one_line
from jokemine.scrapers.base import Checkpoint, Event, Notice, RawItem, ReadContext
from jokemine.scrapers.registry import register
from jokemine.scrapers.table import TEXT_FIELDS, RowIdPolicy, digest_columns

PARSER_VERSION = "hub_dataset/1"
CHECK_FIRST = 1  # the mapping is checked against the first row's columns


def jsonable(value: Any, dropped: Counter[str], key: str = "") -> Any:
    """A row value as JSON can store it: dates and decimals as strings, nested lists/dicts converted; bytes and
    other binary values (images, audio) are left out (None) and counted in ``dropped[key]``."""
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, dict):
        return {str(k): jsonable(v, dropped, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v, dropped, key) for v in value]
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, bytes) and len(value) <= 256:
        return "base64:" + base64.b64encode(value).decode("ascii")
    dropped[key] += 1
    return None


@register("hub_dataset", config=HubDatasetSource, parse=table_records, steps=record_steps)
class HubDataset:
    """Reads one ``hub_dataset`` source (see the module docstring)."""

    parser_version = PARSER_VERSION
    track_ids = False

    @classmethod
    def from_config(cls, cfg: HubDatasetSource, base_dir: Path, http: HttpConfig) -> HubDataset:
        """The reader of one configured source (:mod:`jokemine.scrapers.registry`)."""
        return cls(cfg)

    def __init__(self, cfg: HubDatasetSource) -> None:
        self.cfg = cfg
        self.name = cfg.name
        self.mapping = cfg.columns.mapped()
        self.text_columns = [self.mapping[f] for f in TEXT_FIELDS if f in self.mapping]
        self.stats: Counter[str] = Counter()
        config = f"config {cfg.config!r}, " if cfg.config else ""
        self.where = f"hf://datasets/{cfg.repo} ({config}split {cfg.split!r})"

    def _commit(self) -> str:
        from huggingface_hub import HfApi

        try:
            info = HfApi().dataset_info(self.cfg.repo, revision=self.cfg.revision)
        except READ_FAILURES as e:
            raise SourceError(
                f"{self.where}: cannot read the dataset from the Hugging Face Hub ({one_line(e)})"
            ) from None
        if not info.sha:
            raise SourceError(f"{self.where}: the Hub gave no commit for revision {self.cfg.revision or 'main'!r}")
        return str(info.sha)

    def read(self, ctx: ReadContext) -> Iterator[Event]:
        """Yield every row of the split when its commit (or the settings) changed since the last committed read."""
        sha = self._commit()
        key = f"hub:{self.cfg.repo}/{self.cfg.config or 'default'}/{self.cfg.split}"
        cursor = {"commit": sha, "settings": self.cfg.read_settings()}
        if not ctx.force and ctx.cursors.get(key) == cursor:
            self.stats["unchanged"] += 1
            return
        origin = f"hf://datasets/{self.cfg.repo}@{sha}/{self.cfg.config or 'default'}/{self.cfg.split}"
        ids = RowIdPolicy(self.mapping.get("id"), digest_columns(self.mapping), ctx.row_ids)
        seen: Counter[str] = Counter()
        dropped: Counter[str] = Counter()
        n = 0
        for n, row in enumerate(self._rows(sha), 1):
            data = jsonable(row, dropped)
            if n == CHECK_FIRST:
                self._check_columns(data)
            ev = RawItem("", data, origin, n, "row")
            ids.assign(ev, seen, origin)
            yield ev
            if self.cfg.max_rows and n >= self.cfg.max_rows:
                self.stats["stopped_at_max_rows"] += 1
                break
        if n == 0:
            raise SourceError(f"{self.where}: the split holds no rows")
        for col, k in dropped.items():
            self.stats["values_left_out"] += k
            yield Notice(f"{self.where}: {k} values of column {col!r} are not text or numbers (left out)")
        self.stats["rows"] += n
        yield Checkpoint({key: cursor})

    def _rows(self, sha: str) -> Iterator[dict[str, Any]]:
        import datasets

        try:
            ds = datasets.load_dataset(
                self.cfg.repo, self.cfg.config, split=self.cfg.split, revision=sha, streaming=True
            )
            yield from ds
        except (datasets.exceptions.DatasetNotFoundError, *READ_FAILURES) as e:
            raise SourceError(f"{self.where}: cannot stream the split ({one_line(e)})") from None

    def _check_columns(self, row: Any) -> None:
        if not isinstance(row, dict):
            return
        cols = [c for c in self.cfg.columns.columns_read() if c != "." and c.split(".")[0] not in row]
        if self.text_columns == ["."] or cols:
            raise SourceError(
                f"{self.where}: mapped column(s) {cols or ['.']!r} not in the dataset's columns "
                f"{sorted(row)[:20]!r}; set `columns` for source {self.name!r}"
            )
