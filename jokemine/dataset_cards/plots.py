"""The dataset card's figures: PNG files drawn with matplotlib (Agg backend, no display needed).

:func:`write_figures` draws, from the kept records (columns as for :func:`jokemine.dataset_cards.stats.card_stats`):

- ``lengths.png``: histogram of joke length in characters (log-spaced bins) and in words;
- ``scores.png``: per source, the distribution of the raw score (one panel per ``score_kind``; Reddit upvotes on a
  symlog axis because they span 0 to tens of thousands);
- ``per_month.png``: records per month of ``created_at`` per source (sources without dates left out);
- ``languages.png``: records per language (share of the release on the bars);
- ``structure_reliability.png``: reliability diagram of ``structure_confidence`` (stated confidence per bin vs
  the share of exactly right boundaries on the held-out test half of the labeled structure texts, from
  ``jokemine/cleaning/boundary_model.json``; DeGroot & Fienberg 1983, https://doi.org/10.2307/2987588).
"""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

FIGURES = {
    "lengths": "Joke length",
    "scores": "Score distribution per source",
    "per_month": "Records per month per source",
    "languages": "Language shares",
    "structure_reliability": "Reliability of structure_confidence (held-out labeled texts)",
}
"""File stem -> caption of each figure (the card embeds ``figures/<stem>.png``)."""

DPI = 110


def _save(fig: plt.Figure, path: Path) -> None:
    fig.tight_layout()
    tmp = path.with_name(f".{path.name}.tmp")
    fig.savefig(tmp, dpi=DPI, format="png")
    plt.close(fig)
    tmp.replace(path)


def _lengths(kept: pd.DataFrame, path: Path) -> None:
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.6))
    chars = kept["chars"].dropna().clip(lower=1)
    if len(chars):
        bins = np.logspace(0, np.log10(max(chars.max(), 10)), 50)
        a.hist(chars, bins=bins, color="#4C72B0")
        a.set_xscale("log")
        a.axvline(chars.median(), color="k", ls="--", lw=1, label=f"median {chars.median():.0f}")
        a.legend()
    a.set(title="Characters per joke", xlabel="characters (log scale)", ylabel="jokes")
    words = kept["words"].dropna()
    if len(words):
        top = int(np.quantile(words, 0.99)) + 1
        b.hist(words.clip(upper=top), bins=min(60, max(top, 2)), color="#55A868")
        b.axvline(words.median(), color="k", ls="--", lw=1, label=f"median {words.median():.0f}")
        b.legend()
    b.set(title="Words per joke (last bin: >= 99th pct.)", xlabel="words", ylabel="jokes")
    _save(fig, path)


def _scores(kept: pd.DataFrame, path: Path) -> None:
    scored = kept[kept["score"].notna()]
    kinds = sorted(scored["score_kind"].dropna().unique())
    fig, axes = plt.subplots(1, max(len(kinds), 1), figsize=(5 * max(len(kinds), 1), 3.8), squeeze=False)
    for ax, kind in zip(axes[0], kinds, strict=False):
        g = scored[scored["score_kind"] == kind]
        sources = sorted(g["source"].unique())
        data = [g.loc[g["source"] == s, "score"].to_numpy() for s in sources]
        ax.boxplot(data, orientation="horizontal", showfliers=False, whis=(5, 95))
        ax.set_yticks(range(1, len(sources) + 1), [f"{s} (n={len(d):,})" for s, d in zip(sources, data, strict=True)])
        if kind in ("upvotes", "net_votes", "likes"):
            ax.set_xscale("symlog", linthresh=10)
            ax.set_xlim(left=0)
        ax.set(title=f"score_kind = {kind}", xlabel="score (box: quartiles; whiskers: 5th-95th pct.)")
    if not kinds:
        axes[0][0].text(0.5, 0.5, "no scored records", ha="center", va="center")
        axes[0][0].set_axis_off()
    _save(fig, path)


def _per_month(kept: pd.DataFrame, path: Path) -> None:
    created = pd.to_datetime(kept["created_at"], utc=True)
    dated = kept.assign(month=created.dt.tz_localize(None).dt.to_period("M")).dropna(subset=["month"])
    fig, ax = plt.subplots(figsize=(10, 3.8))
    for source, g in dated.groupby("source", sort=True):
        counts = g["month"].value_counts().sort_index()
        months = pd.PeriodIndex(counts.index).to_timestamp()
        ax.plot(months, counts.to_numpy(), marker=".", ms=3, lw=1, label=f"{source} ({len(g):,})")
    if len(dated):
        ax.set_yscale("log")
        ax.legend(fontsize=8, ncol=2)
    else:
        ax.text(0.5, 0.5, "no dated records", ha="center", va="center", transform=ax.transAxes)
    ax.set(title="Records per month (created_at, UTC)", xlabel="month", ylabel="records (log scale)")
    _save(fig, path)


def _languages(kept: pd.DataFrame, path: Path) -> None:
    counts = kept["lang"].fillna("und").value_counts()
    top = counts.head(12)
    fig, ax = plt.subplots(figsize=(7, 0.45 * len(top) + 1.2))
    bars = ax.barh(range(len(top)), top.to_numpy(), color="#8172B2")
    ax.set_yticks(range(len(top)), list(top.index))
    ax.invert_yaxis()
    total = max(int(counts.sum()), 1)
    for bar, n in zip(bars, top.to_numpy(), strict=True):
        ax.text(bar.get_width(), bar.get_y() + bar.get_height() / 2, f" {n / total:.1%}", va="center", fontsize=8)
    ax.set_xlim(0, max(top.max(), 1) * 1.15)
    ax.set(title="Records per language (`und`: undetermined)", xlabel="records")
    _save(fig, path)


def _structure_reliability(kept: pd.DataFrame, path: Path) -> None:
    from jokemine.cleaning.boundary import MODEL_PATH

    del kept  # the diagram describes the model, measured on labeled texts, not the release's rows
    rel = json.loads(MODEL_PATH.read_text(encoding="utf-8")).get("test", {}).get("reliability")
    fig, ax = plt.subplots(figsize=(5, 4.2))
    ax.plot([0, 1], [0, 1], color="0.6", ls="--", lw=1, label="perfect calibration")
    if rel:
        conf, acc, cnt = (np.asarray(rel[k], dtype=float) for k in ("confidence", "accuracy", "count"))
        ok = cnt > 0
        ax.plot(conf[ok], acc[ok], "o-", color="#C44E52", label="test half")
        for c, a, n in zip(conf[ok], acc[ok], cnt[ok], strict=True):
            ax.annotate(f"n={int(n)}", (c, a), textcoords="offset points", xytext=(4, -10), fontsize=8)
    ax.set(xlim=(0, 1), ylim=(0, 1), xlabel="structure_confidence (bin value)", ylabel="boundary exactly right",
           title="Punchline boundary: reliability")  # fmt: skip
    ax.legend(loc="upper left")
    _save(fig, path)


def write_figures(kept: pd.DataFrame, out_dir: Path) -> dict[str, Path]:
    """Draw every figure of :data:`FIGURES` into ``out_dir`` (created); returns stem -> path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    drawers = {
        "lengths": _lengths,
        "scores": _scores,
        "per_month": _per_month,
        "languages": _languages,
        "structure_reliability": _structure_reliability,
    }
    paths = {}
    for stem, draw in drawers.items():
        paths[stem] = out_dir / f"{stem}.png"
        draw(kept, paths[stem])
    return paths
