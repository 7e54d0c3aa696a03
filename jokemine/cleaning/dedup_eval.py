"""Precision and recall of near-duplicate clusters on labeled real pairs: ``tests/data/near_dup_pairs.csv`` (the
pairs the settings were chosen on), ``tests/data/near_dup_heldout.csv`` and ``near_dup_heldout_2.csv`` (held out:
dev/test halves; their corpus adds three New Yorker caption contests, :func:`caption_rows`).

The corpus is every record that entered deduplication in a clean run of ``configs/real-offline.toml`` (rows with a
``dup_cluster``) plus the 5,407 rows of ``wonhyukchoi-2019-reposts/2019_jokes_reposts.csv`` (ids
``wonhyuk:<reddit id>``). A labeled pair counts as predicted ``dup`` when both texts end in one cluster of
:func:`jokemine.cleaning.dedup.near_duplicate_labels` over the whole corpus (so transitive clusters count, as in a
release). Precision and recall are reported plain (over the sampled pairs) and weighted by each stratum's
``weight`` (an estimate over the whole candidate pool, which is dominated by low-similarity pairs).
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from jokemine.cleaning import minhash as mh
from jokemine.cleaning.dedup import NearDupParams, NearDupResult, dedup_punchline, near_duplicate_labels
from jokemine.cleaning.near_stages import NOT_SEARCHED
from jokemine.cleaning.text import fix_text

_REDDIT_ID = re.compile(r"/comments/([a-z0-9]+)/")


@dataclass(frozen=True)
class PairMetrics:
    """Counts and rates over labeled pairs (``*_w``: stratum-weighted)."""

    pairs: int
    tp: int
    fp: int
    fn: int
    precision: float
    recall: float
    precision_w: float
    recall_w: float


def wonhyuk_rows(real: Path) -> pd.DataFrame:
    """The 2019 repost table as ``id``, ``text``, ``punchline`` (title + newline + content; cleaned by fix_text)."""
    path = real / "wonhyukchoi-2019-reposts" / "2019_jokes_reposts.csv"
    rows = []
    with open(path, newline="", encoding="utf-8") as fh:
        for r in csv.DictReader(fh):
            m = _REDDIT_ID.search(r["url"])
            if not m:
                continue
            title, content = fix_text(r["title"]), fix_text(r["content"])
            rows.append((f"wonhyuk:{m.group(1)}", f"{title}\n{content}" if content else title, content or None))
    return pd.DataFrame(rows, columns=["id", "text", "punchline"])


CAPTION_CONTESTS = ("520", "600", "650")
"""New Yorker caption contests whose captions join the held-out corpus (``tests/data/near_dup_heldout.csv``)."""


def caption_rows(real: Path, contests: tuple[str, ...] = CAPTION_CONTESTS) -> pd.DataFrame:
    """Captions of ``contests`` from ``real/../extra/newyorker-caption-contest/summaries.tar.zst`` as ``id``
    (``nyc:<contest>:<target_id, or rank in files without it>``), ``text`` (fix_text), ``punchline`` (None)."""
    import io
    import tarfile

    import zstandard

    rows = []
    path = real.parent / "extra" / "newyorker-caption-contest" / "summaries.tar.zst"
    with path.open("rb") as fh, tarfile.open(fileobj=zstandard.ZstdDecompressor().stream_reader(fh), mode="r|") as tar:
        for m in tar:
            name = Path(m.name).name
            contest = name.split("_")[0]
            f = tar.extractfile(m) if m.isfile() and name.endswith(".csv") and contest in contests else None
            if f is None:
                continue
            for r in csv.DictReader(io.StringIO(f.read().decode("utf-8"))):
                rows.append((f"nyc:{contest}:{r.get('target_id') or r['rank']}", fix_text(r["caption"]), None))
    return pd.DataFrame(rows, columns=["id", "text", "punchline"]).drop_duplicates("id")


def labeled_corpus(clean: pd.DataFrame, real: Path, captions: bool = False) -> pd.DataFrame:
    """``id``, ``text``, ``punchline`` of every deduplicated record of ``clean`` (a clean run as a frame with
    ``id``, ``structure``; punchlines as :func:`jokemine.cleaning.dedup.dedup_punchline` gives them) plus the
    wonhyuk rows, and with ``captions`` the New Yorker captions of :data:`CAPTION_CONTESTS` (the held-out sets'
    corpus); ``searched`` is false for the rows the pipeline leaves out of the near-duplicate search (replies in a
    thread, :data:`jokemine.cleaning.near_stages.NOT_SEARCHED`)."""
    base = clean.loc[clean["dup_cluster"].notna(), ["id", "text", "punchline", "structure"]]
    punch = [dedup_punchline(p, s) for p, s in zip(base.punchline, base.structure, strict=True)]
    base = base.assign(
        punchline=pd.Series(punch, index=base.index, dtype="object"), searched=~base.structure.isin(NOT_SEARCHED)
    )
    base = base.drop(columns="structure")
    parts = [base, wonhyuk_rows(real)] + ([caption_rows(real)] if captions else [])
    out = pd.concat(parts, ignore_index=True).drop_duplicates("id")
    return out.assign(searched=out["searched"].fillna(True).astype(bool))


@dataclass(frozen=True)
class SearchNodes:
    """What :func:`cluster_corpus` searches: ``codes`` (int64 per row: its shingle form), ``rows`` (int64 per
    searched form: the row that stands for it, its first searched row), ``forms`` (int64 per searched form: its
    code), ``texts`` and ``punchlines`` (shingle forms of those rows; ``None``: one-part)."""

    codes: np.ndarray
    rows: np.ndarray
    forms: np.ndarray
    texts: list[str]
    punchlines: list[str | None]


def search_nodes(corpus: pd.DataFrame) -> SearchNodes:
    """The distinct shingle forms of ``corpus`` that have a row with ``searched`` true (all rows when the column is
    absent; see :func:`cluster_corpus`), each with the punchline of its first searched row."""
    codes, uniq = pd.factorize(pd.Series([mh.shingle_form(t) for t in corpus["text"]]))
    searched = corpus["searched"].to_numpy(bool) if "searched" in corpus else np.ones(len(corpus), dtype=bool)
    order = np.argsort(~searched, kind="stable")  # searched rows first, each group in input order
    first = pd.Series(order).groupby(codes[order]).first().to_numpy()
    forms = np.flatnonzero(searched[first])
    rows = first[forms]
    raw = corpus["punchline"].to_numpy()[rows]
    return SearchNodes(
        codes.astype(np.int64),
        rows,
        forms,
        [str(t) for t in np.asarray(uniq, dtype=object)[forms]],
        [None if not isinstance(p, str) else mh.shingle_form(p) for p in raw],
    )


def cluster_corpus(corpus: pd.DataFrame, params: NearDupParams) -> tuple[np.ndarray, NearDupResult]:
    """Near-duplicate labels for every row of ``corpus`` (rows with one shingle form share one label; each form is
    searched with the punchline of its first row, its first searched row when it has one: :func:`search_nodes`).
    As in the pipeline, rows whose ``searched`` is false (replies in a thread, see
    :data:`jokemine.cleaning.near_stages.NOT_SEARCHED`) are left out of the search: a reply shares a label only with
    the rows of its exact text, and through a searched one with that row's cluster. Labels are int64
    ``(len(corpus),)``."""
    nodes = search_nodes(corpus)
    labels = np.arange(int(nodes.codes.max()) + 1 if len(nodes.codes) else 0, dtype=np.int64)
    if not len(nodes.forms):
        return labels[nodes.codes], NearDupResult(labels, np.zeros((0, 2), np.int64), np.zeros(0))
    res = near_duplicate_labels(nodes.texts, params, nodes.punchlines if params.punchline_threshold > 0 else None)
    labels[nodes.forms] = nodes.forms[res.labels]
    return labels[nodes.codes], res


def pair_metrics(ids: pd.Series, labels: np.ndarray, pairs: pd.DataFrame) -> PairMetrics:
    """Metrics of cluster ``labels`` (aligned with ``ids``) on labeled ``pairs`` (the columns of
    ``tests/data/near_dup_pairs.csv``); raises KeyError naming labeled ids missing from ``ids``."""
    pos = pd.Series(np.arange(len(ids)), index=ids.to_numpy())
    missing = sorted(set(pairs.a_id).union(pairs.b_id) - set(pos.index))
    if missing:
        raise KeyError(f"{len(missing)} labeled ids not in the corpus, e.g. {missing[:3]}")
    pred = labels[pos[pairs.a_id].to_numpy()] == labels[pos[pairs.b_id].to_numpy()]
    y = (pairs.label == "dup").to_numpy()
    w = pairs.weight.to_numpy()
    tp, fp, fn = int((pred & y).sum()), int((pred & ~y).sum()), int((~pred & y).sum())
    tpw, fpw, fnw = (w * (pred & y)).sum(), (w * (pred & ~y)).sum(), (w * (~pred & y)).sum()
    return PairMetrics(
        len(pairs),
        tp,
        fp,
        fn,
        tp / (tp + fp) if tp + fp else 1.0,
        tp / (tp + fn) if tp + fn else 1.0,
        float(tpw / (tpw + fpw)) if tpw + fpw else 1.0,
        float(tpw / (tpw + fnw)) if tpw + fnw else 1.0,
    )
