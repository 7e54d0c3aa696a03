"""The dedup report written next to the clean output: ``dedup.json`` (machine-readable) and ``dedup.md``.

Contents: settings, cluster counts, a size histogram, removed records per source and reason, clusters that span
sources, the near-duplicate run's counters and timings, and a sample of clusters with their texts (the largest
ones and a seeded random draw) for inspection.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from jokemine.cleaning.dedup import DedupOutcome
from jokemine.config import DedupConfig

SIZE_BINS = [(2, 2), (3, 3), (4, 5), (6, 10), (11, 20), (21, 50), (51, 100), (101, None)]
SAMPLE_LARGEST = 5
SAMPLE_RANDOM = 15
SAMPLE_SEED = 20261121
TEXT_CHARS = 300


def _bin_name(lo: int, hi: int | None) -> str:
    return f"{lo}+" if hi is None else (str(lo) if lo == hi else f"{lo}-{hi}")


def dedup_report(df: pd.DataFrame, outcome: DedupOutcome, cfg: DedupConfig) -> dict[str, Any]:
    """The report for live rows ``df`` (columns ``id``, ``source``, ``text_key``, ``score_norm``) and their
    :class:`DedupOutcome`. Returns a JSON-ready dict with ``summary`` (also copied into ``stats.json``),
    ``removed_per_source``, ``cross_source``, ``near`` and ``sample``."""
    d = df.assign(cluster=outcome.cluster, drop=outcome.drop_reason, survivor=outcome.survivor)
    sizes = d.groupby("cluster").size()
    multi = sizes[sizes > 1]
    hist = {}
    for lo, hi in SIZE_BINS:
        sel = (multi >= lo) & (multi <= hi) if hi is not None else multi >= lo
        hist[_bin_name(lo, hi)] = int(sel.sum())
    removed = {
        "exact_duplicate": int((d["drop"] == "exact_duplicate").sum()),
        "near_duplicate": int((d["drop"] == "near_duplicate").sum()),
    }
    per_source = (
        d.loc[d["drop"].notna()].groupby(["source", "drop"]).size().unstack(fill_value=0).astype(int).to_dict("index")
    )
    span = d.loc[d["cluster"].isin(multi.index)].groupby("cluster")["source"].agg(lambda s: " + ".join(sorted(set(s))))
    cross = span[span.str.contains(r" \+ ", regex=True)].value_counts()
    near_clusters = d.loc[d["drop"] == "near_duplicate", "cluster"].nunique()
    summary = {
        "records": len(d),
        "clusters": len(multi),
        "clusters_with_near_duplicates": int(near_clusters),
        "cross_source_clusters": int(cross.sum()),
        "largest_cluster": int(multi.max()) if len(multi) else 1,
        "removed": removed,
        "kept": int(d["drop"].isna().sum()),
        "size_histogram": hist,
    }
    near: dict[str, Any] = {"enabled": cfg.near_duplicates}
    if outcome.near is not None:
        r = outcome.near
        near |= {
            "shingle": f"{cfg.shingle} {cfg.ngram}-grams",
            "threshold": cfg.threshold,
            "punchline_threshold": cfg.punchline_threshold,
            "bands": r.bands,
            "rows": r.rows,
            "texts": len(r.labels),
            "candidate_pairs": r.candidates,
            "verified_pairs": r.checked,
            "accepted_pairs": len(r.pairs),
            "rejected_text_jaccard": r.rejected_text,
            "rejected_punchline": r.rejected_punchline,
            "seconds": {k: round(v, 2) for k, v in r.seconds.items()},
        }
    return {
        "summary": summary,
        "removed_per_source": per_source,
        "cross_source": {k: int(v) for k, v in cross.head(20).items()},
        "near": near,
        "sample": _sample(d, multi, outcome.texts),
    }


def _sample(d: pd.DataFrame, multi: pd.Series, texts: pd.Series) -> list[dict[str, Any]]:
    if not len(multi):
        return []
    largest = list(multi.sort_values(ascending=False, kind="mergesort").index[:SAMPLE_LARGEST])
    rest = np.setdiff1d(multi.index.to_numpy(), largest)
    rng = np.random.default_rng(SAMPLE_SEED)
    drawn = list(rng.choice(rest, size=min(SAMPLE_RANDOM, len(rest)), replace=False)) if len(rest) else []
    out = []
    for c in largest + sorted(drawn):
        members = d.loc[d["cluster"] == c].sort_values(["drop", "id"], na_position="first")
        shown = members.drop_duplicates("text_key").head(8)
        out.append(
            {
                "size": len(members),
                "survivor": members["survivor"].iloc[0],
                "sources": dict(members["source"].value_counts().astype(int)),
                "members": [
                    {
                        "id": m.id,
                        "source": m.source,
                        "drop_reason": m.drop,
                        "score_norm": None if pd.isna(m.score_norm) else round(float(m.score_norm), 3),
                        "text": short(texts.get(m.Index)),
                    }
                    for m in shown.itertuples()
                ],
                "distinct_texts": int(members["text_key"].nunique()),
            }
        )
    return out


def short(text: Any) -> str | None:
    """``text`` cut to :data:`TEXT_CHARS` characters (with an ellipsis); ``None`` for a non-string."""
    if not isinstance(text, str):
        return None
    return text if len(text) <= TEXT_CHARS else text[: TEXT_CHARS - 1] + "…"


def dedup_markdown(doc: dict[str, Any]) -> str:
    """``dedup.md``: the report as Markdown for reading."""
    s = doc["summary"]
    lines = [
        "# Deduplication report",
        "",
        f"- records considered: {s['records']}",
        f"- duplicate clusters: {s['clusters']} ({s['clusters_with_near_duplicates']} with near-duplicates, "
        f"{s['cross_source_clusters']} across sources; largest {s['largest_cluster']})",
        f"- removed: {s['removed']['exact_duplicate']} exact duplicates, {s['removed']['near_duplicate']} "
        f"near-duplicates; kept {s['kept']}",
        "",
        "## Cluster sizes",
        "",
        "| members | clusters |",
        "|---|---|",
        *[f"| {k} | {v} |" for k, v in s["size_histogram"].items()],
        "",
        "## Removed per source",
        "",
        "| source | exact_duplicate | near_duplicate |",
        "|---|---|---|",
        *[
            f"| {src} | {v.get('exact_duplicate', 0)} | {v.get('near_duplicate', 0)} |"
            for src, v in sorted(doc["removed_per_source"].items())
        ],
        "",
        "## Clusters across sources",
        "",
        *[f"- {k}: {v}" for k, v in doc["cross_source"].items()],
        "",
        "## Near-duplicate search",
        "",
        *[f"- {k}: {v}" for k, v in doc["near"].items()],
        "",
        "## Sample clusters",
        "",
    ]
    for i, c in enumerate(doc["sample"], 1):
        lines += [
            f"### {i}. {c['size']} members, {c['distinct_texts']} distinct texts; survivor `{c['survivor']}`",
            "",
        ]
        for m in c["members"]:
            mark = "kept" if m["drop_reason"] is None else m["drop_reason"]
            text = (m["text"] or "").replace("\n", " / ")
            lines.append(f"- `{m['id']}` ({m['source']}, {mark}, score_norm {m['score_norm']}): {text}")
        lines.append("")
    return "\n".join(lines)
