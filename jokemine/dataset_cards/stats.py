"""Statistics of a release for its dataset card: per source date range, language shares, score and length
distributions, NSFW share, records per month, computed from the kept records (the ``jokes`` config rows).

Input: a DataFrame with one row per kept record and the columns :data:`CARD_COLUMNS`. Output: plain dicts and
lists (JSON-serializable), so the card text and the plots (:mod:`jokemine.dataset_cards.plots`) read the same
numbers.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

CARD_COLUMNS = [
    "id",
    "source",
    "lang",
    "created_at",
    "score",
    "score_kind",
    "score_norm",
    "nsfw",
    "nsfw_over_18",
    "nsfw_wordlist",
    "split",
    "kind",
]
"""Columns of the kept records the card statistics and figures read, besides the lengths of :func:`lengths`."""

QUANTILES = (0.1, 0.5, 0.9, 0.99)


def _q(values: pd.Series) -> dict[str, float]:
    v = values.dropna().to_numpy(dtype="float64")
    if len(v) == 0:
        return {}
    out = {f"p{int(q * 100)}": float(np.quantile(v, q)) for q in QUANTILES}
    out.update(min=float(v.min()), max=float(v.max()), mean=float(v.mean()))
    return out


def lengths(texts: pd.Series, setups: pd.Series | None = None, punchlines: pd.Series | None = None) -> pd.DataFrame:
    """``chars`` (Unicode code points) and ``words`` (whitespace-separated tokens) of each text, and
    ``setup_chars``/``punchline_chars`` of its parts (null for one-part records or when not given)."""
    out = pd.DataFrame({"chars": texts.str.len(), "words": texts.str.count(r"\S+")}, index=texts.index)
    for name, part in (("setup_chars", setups), ("punchline_chars", punchlines)):
        out[name] = part.str.len().astype("float64") if part is not None else float("nan")
    return out


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


EXAMPLE_SCAN = 5_000
"""Rows of a split :func:`example_row` looks at (evenly spaced over the split)."""


def jsonable(value: Any) -> Any:
    """``value`` (a row as ``pyarrow.Table.to_pylist`` gives it) with datetimes as ISO 8601 strings, for JSON."""
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [jsonable(v) for v in value]
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def example_row(table: pa.Table, max_chars: int = 1_500) -> dict[str, Any] | None:
    """A real row of ``table`` (one config's split) to show as the card's example instance: among
    :data:`EXAMPLE_SCAN` evenly spaced rows, those not flagged ``nsfw`` (all rows when every one is), then those
    whose JSON is at most ``max_chars`` long (or at most 1.5 x the shortest one's, when none is), the best by
    ``score_norm`` (``score_norm_chosen`` for pairs; ties: the shorter, then the first); None for an empty table.
    Returned JSON-ready (:func:`jsonable`)."""
    step = max(table.num_rows // EXAMPLE_SCAN, 1)
    rows = [jsonable(r) for r in table.take(np.arange(0, table.num_rows, step)[:EXAMPLE_SCAN]).to_pylist()]
    if not rows:
        return None
    sizes = [len(json.dumps(r, ensure_ascii=False)) for r in rows]
    safe = [i for i, r in enumerate(rows) if not r.get("nsfw")] or list(range(len(rows)))
    limit = max(max_chars, int(1.5 * min(sizes[i] for i in safe)))
    ok = [i for i in safe if sizes[i] <= limit]

    def rank(i: int) -> tuple[float, int, int]:
        r = rows[i]
        norm = r.get("score_norm", r.get("score_norm_chosen"))
        return (-(norm if isinstance(norm, int | float) else -1.0), sizes[i], i)

    return rows[min(ok, key=rank)]
