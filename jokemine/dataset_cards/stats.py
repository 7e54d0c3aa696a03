"""Statistics of a release for its dataset card: per source date range, language shares, score and length
distributions, NSFW share, records per month, computed from the kept records (the ``jokes`` config rows).

Input: a DataFrame with one row per kept record and the columns :data:`CARD_COLUMNS`. Output: plain dicts and
lists (JSON-serializable), so the card text and the plots (:mod:`jokemine.dataset_cards.plots`) read the same
numbers.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

CARD_COLUMNS = ["id", "source", "lang", "created_at", "score", "score_kind", "nsfw", "split", "kind"]
"""Columns of the kept records the card statistics read, besides ``chars`` and ``words`` (:func:`lengths`)."""

QUANTILES = (0.1, 0.5, 0.9, 0.99)


def _q(values: pd.Series) -> dict[str, float]:
    v = values.dropna().to_numpy(dtype="float64")
    if len(v) == 0:
        return {}
    out = {f"p{int(q * 100)}": float(np.quantile(v, q)) for q in QUANTILES}
    out.update(min=float(v.min()), max=float(v.max()), mean=float(v.mean()))
    return out


def lengths(texts: pd.Series) -> pd.DataFrame:
    """``chars`` (Unicode code points) and ``words`` (whitespace-separated tokens) of each text."""
    return pd.DataFrame({"chars": texts.str.len(), "words": texts.str.count(r"\S+")}, index=texts.index)


def card_stats(kept: pd.DataFrame) -> dict[str, Any]:
    """Statistics of the kept records ``kept`` (:data:`CARD_COLUMNS` + ``chars``, ``words``).

    Returns ``{"records", "sources": {source: {records, first, last (ISO dates or None), languages {lang: n},
    nsfw (share of flagged among known, or None), scores {score_kind: quantiles}}}, "languages": {lang: n},
    "chars": quantiles, "words": quantiles, "per_month": {source: {YYYY-MM: n}}, "kinds": {kind: n}}``.
    Quantiles are dicts ``p10, p50, p90, p99, min, max, mean``.
    """
    chars, words = kept["chars"], kept["words"]
    created = pd.to_datetime(kept["created_at"], utc=True)
    out: dict[str, Any] = {
        "records": len(kept),
        "languages": {str(k): int(v) for k, v in kept["lang"].fillna("und").value_counts().items()},
        "kinds": {str(k): int(v) for k, v in kept["kind"].value_counts().items()},
        "chars": _q(chars),
        "words": _q(words),
        "sources": {},
        "per_month": {},
    }
    for source, g in kept.groupby("source", sort=True):
        c = created.loc[g.index].dropna()
        known = g["nsfw"].dropna()
        out["sources"][source] = {
            "records": len(g),
            "first": c.min().date().isoformat() if len(c) else None,
            "last": c.max().date().isoformat() if len(c) else None,
            "languages": {str(k): int(v) for k, v in g["lang"].fillna("und").value_counts().items()},
            "nsfw": float(known.astype(bool).mean()) if len(known) else None,
            "scores": {str(k): _q(s["score"]) for k, s in g.groupby("score_kind", sort=True)},
        }
        if len(c):
            months = c.dt.strftime("%Y-%m").value_counts().sort_index()
            out["per_month"][source] = {str(k): int(v) for k, v in months.items()}
    nsfw = kept["nsfw"].dropna()
    out["nsfw"] = float(nsfw.astype(bool).mean()) if len(nsfw) else None
    return out
