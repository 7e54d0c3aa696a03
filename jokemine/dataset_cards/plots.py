"""The dataset card's figures: PNG files drawn with matplotlib (Agg backend, no display needed).

:func:`write_figures` draws, from the kept records (columns as for :func:`jokemine.dataset_cards.stats.card_stats`):

- ``lengths.png``: characters per joke per source (box plots, log axis), and the length of setups vs punchlines of
  two-part records (step histograms on log-spaced bins);
- ``scores.png``: ``score_norm`` per source (box plots; sources without scores drawn as "unscored"), and per source
  the records with and without a score;
- ``per_month.png``: records per month of ``created_at`` per source; a source's last month is marked partial
  (hollow marker) when its data ends inside it, and undated sources are named with their counts;
- ``languages.png``: records per language (share of the release on the bars);
- ``clusters.png``: duplicate clusters per size bin (the clean run's ``stats.json``);
- ``nsfw.png``: per source, the share flagged by Reddit's over_18 mark, by the word lists, and by both;
- ``structure_reliability.png``: reliability diagram of ``structure_confidence`` (stated confidence per bin vs
  the share of exactly right boundaries on the held-out test half of the labeled structure texts, from
  ``jokemine/cleaning/boundary_model.json``; DeGroot & Fienberg 1983, https://doi.org/10.2307/2987588).
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import matplotlib.ticker
import numpy as np
import pandas as pd

FIGURES = {
    "lengths": "Joke length per source, and setup vs punchline length",
    "scores": "score_norm per source, and which sources have no score",
    "per_month": "Records per month per source (undated sources noted, partial months marked)",
    "languages": "Language shares",
    "clusters": "Duplicate cluster sizes",
    "nsfw": "NSFW share per source, by signal",
    "structure_reliability": "Reliability of structure_confidence (held-out labeled texts)",
}
"""File stem -> caption of each figure (the card and ``report.html`` embed ``figures/<stem>.png``)."""

DPI = 110
MAX_SOURCES = 16
"""Most sources drawn per per-source panel (the largest); the figure notes how many smaller ones are left out."""


def _save(fig: plt.Figure, path: Path, rect: tuple[float, float, float, float] = (0, 0, 1, 1)) -> None:
    fig.tight_layout(rect=rect)
    tmp = path.with_name(f".{path.name}.tmp")
    fig.savefig(tmp, dpi=DPI, format="png")
    plt.close(fig)
    tmp.replace(path)


def _top_sources(kept: pd.DataFrame) -> list[str]:
    """Sources by records, most first, at most :data:`MAX_SOURCES`."""
    return [str(s) for s in kept["source"].value_counts().index[:MAX_SOURCES]]


def _left_out(fig: plt.Figure, kept: pd.DataFrame) -> None:
    """A note at the figure's foot when sources beyond :data:`MAX_SOURCES` are not drawn."""
    counts = kept["source"].value_counts()
    if len(counts) > MAX_SOURCES:
        rest = counts.iloc[MAX_SOURCES:]
        fig.text(0.01, 0.005, f"{len(rest)} smaller sources not shown ({int(rest.sum()):,} records)", fontsize=8,
                 color="0.3")  # fmt: skip


def _lengths(kept: pd.DataFrame, path: Path, stats: dict[str, Any]) -> None:
    del stats
    sources = _top_sources(kept)
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 0.32 * max(len(sources), 6) + 1.6))
    data = [kept.loc[kept["source"] == s, "chars"].dropna().clip(lower=1).to_numpy() for s in sources]
    if sources:
        a.boxplot(data, orientation="horizontal", showfliers=False, whis=(5, 95))
        a.set_yticks(range(1, len(sources) + 1), [f"{s} ({len(d):,})" for s, d in zip(sources, data, strict=True)])
        a.invert_yaxis()
        a.set_xscale("log")
    a.set(title="Characters per joke, per source", xlabel="characters (log; box: quartiles, whiskers: 5th-95th)")
    setup, punch = kept["setup_chars"].dropna(), kept["punchline_chars"].dropna()
    if len(setup):
        bins = np.logspace(0, np.log10(max(setup.max(), punch.max(), 10)), 50)
        for col, label, color in ((setup, "setup", "#4C72B0"), (punch, "punchline", "#DD8452")):
            b.hist(col.clip(lower=1), bins=bins, histtype="step", lw=1.6, color=color,
                   label=f"{label} (median {col.median():.0f})")  # fmt: skip
        b.set_xscale("log")
        b.legend()
        b.set_title(f"Setup vs punchline length ({len(setup):,} two-part records)")
    else:
        b.text(0.5, 0.5, "no two-part records", ha="center", va="center", transform=b.transAxes)
        b.set_title("Setup vs punchline length")
    b.set(xlabel="characters (log scale)", ylabel="records")
    _left_out(fig, kept)
    _save(fig, path)


def _scores(kept: pd.DataFrame, path: Path, stats: dict[str, Any]) -> None:
    del stats
    sources = _top_sources(kept)
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 0.32 * max(len(sources), 6) + 1.6), sharey=True)
    norm = [kept.loc[kept["source"] == s, "score_norm"].dropna().to_numpy() for s in sources]
    pos = [i + 1 for i, d in enumerate(norm) if len(d)]
    if pos:
        a.boxplot([norm[i - 1] for i in pos], positions=pos, orientation="horizontal", showfliers=False, whis=(5, 95))
    for i, d in enumerate(norm, start=1):
        if not len(d):
            a.text(0.5, i, "unscored", ha="center", va="center", color="#C44E52", fontsize=9)
    a.set_yticks(range(1, len(sources) + 1), sources)
    a.set_ylim(len(sources) + 0.5, 0.5)
    a.set(xlim=(0, 1), title="score_norm (percentile of the score within source x month)",
          xlabel="score_norm (box: quartiles, whiskers: 5th-95th)")  # fmt: skip
    scored = np.array([len(d) for d in norm])
    total = np.array([int((kept["source"] == s).sum()) for s in sources])
    y = np.arange(1, len(sources) + 1)
    b.barh(y, scored, color="#55A868", label="scored")
    b.barh(y, total - scored, left=scored, color="#C44E52", label="unscored")
    for yi, n, t in zip(y, scored, total, strict=True):
        b.text(float(t), float(yi), f" {1 - n / max(t, 1):.0%} unscored" if t - n else "", va="center", fontsize=8)
    b.set_xscale("symlog", linthresh=100)
    b.set_xlim(0, max(int(total.max()) if len(total) else 1, 1) * 4)
    n_un = int(kept["score_norm"].isna().sum())
    b.set(title=f"Records with and without a score ({n_un / max(len(kept), 1):.0%} of all unscored)",
          xlabel="records (symlog)")  # fmt: skip
    b.legend(loc="lower right", fontsize=8)
    _left_out(fig, kept)
    _save(fig, path)


def _per_month(kept: pd.DataFrame, path: Path, stats: dict[str, Any]) -> None:
    del stats
    created = pd.to_datetime(kept["created_at"], utc=True)
    frame = kept.assign(created=created.dt.tz_localize(None))
    dated = frame.dropna(subset=["created"])
    undated = frame.loc[frame["created"].isna(), "source"].value_counts()
    fig, ax = plt.subplots(figsize=(11, 4.4))
    partial_any = False
    for source, g in dated.groupby("source", sort=True):
        month = g["created"].dt.to_period("M")
        counts = month.value_counts().sort_index()
        x = pd.PeriodIndex(counts.index).to_timestamp()
        (line,) = ax.plot(x, counts.to_numpy(), marker=".", ms=3, lw=1, label=f"{source} ({len(g):,})")
        last = g["created"].max()
        if last.day < last.days_in_month:  # the source's data ends inside its last month: that month is partial
            partial_any = True
            ax.plot(x[-1:], counts.to_numpy()[-1:], marker="o", ms=7, mfc="white", color=line.get_color(), lw=0)
    if len(dated):
        ax.set_yscale("log")
        ax.legend(fontsize=7, ncol=3, loc="lower right")
    else:
        ax.text(0.5, 0.5, "no dated records", ha="center", va="center", transform=ax.transAxes)
    notes = []
    if partial_any:
        notes.append("hollow marker: the source's last month is partial (its data ends inside that month)")
    if len(undated):
        names = ", ".join(f"{s} {n:,}" for s, n in undated.items())
        notes.append(f"undated, not shown ({int(undated.sum()):,} records): {textwrap.shorten(names, 150)}")
    for i, note in enumerate(notes):
        fig.text(0.01, 0.01 + 0.045 * i, note, fontsize=8, color="0.3")
    ax.set(title="Records per month (created_at, UTC)", xlabel="month", ylabel="records (log scale)")
    _save(fig, path, rect=(0, 0.045 * len(notes), 1, 1))


def _clusters(kept: pd.DataFrame, path: Path, stats: dict[str, Any]) -> None:
    del kept
    dedup = stats.get("dedup") or {}
    hist = {str(k): int(v) for k, v in (dedup.get("size_histogram") or {}).items()}
    fig, ax = plt.subplots(figsize=(7, 3.6))
    if any(hist.values()):
        bars = ax.bar(list(hist), list(hist.values()), color="#8172B2")
        for bar, n in zip(bars, hist.values(), strict=True):
            if n:
                ax.text(bar.get_x() + bar.get_width() / 2, n, f"{n:,}", ha="center", va="bottom", fontsize=8)
        ax.set_yscale("log")
        removed = dedup.get("removed") or {}
        ax.set_title(f"Duplicate clusters by size (largest {int(dedup.get('largest_cluster', 0)):,}; removed "
                     f"{int(removed.get('exact_duplicate', 0)):,} exact, {int(removed.get('near_duplicate', 0)):,} "
                     "near)", fontsize=10)  # fmt: skip
    else:
        ax.text(0.5, 0.5, "no duplicate clusters", ha="center", va="center", transform=ax.transAxes)
    ax.set(xlabel="records in the cluster (kept copy included)", ylabel="clusters (log scale)")
    _save(fig, path)


def _nsfw(kept: pd.DataFrame, path: Path, stats: dict[str, Any]) -> None:
    del stats
    sources = _top_sources(kept)
    fig, ax = plt.subplots(figsize=(9, 0.32 * max(len(sources), 6) + 1.4))
    y = np.arange(len(sources))
    left = np.zeros(len(sources))
    o18 = kept["nsfw_over_18"].astype("boolean")
    words = kept["nsfw_wordlist"].astype("boolean")
    parts = (
        ("over_18 and word list", o18 & words, "#8C1C13"),
        ("over_18 only", o18 & ~words.fillna(False), "#C44E52"),
        ("word list only", words & ~o18.fillna(False), "#F2A541"),
    )
    for label, mask, color in parts:
        share = np.array([float(mask[kept["source"] == s].fillna(False).mean()) for s in sources])
        ax.barh(y, share, left=left, color=color, label=label)
        left += share
    for yi, s, total in zip(y, sources, left, strict=True):
        has = kept.loc[kept["source"] == s, "nsfw_over_18"].notna().any()
        label = f" {total:.1%}" + ("" if has else " (no over_18 mark)")
        ax.text(float(total), float(yi), label, va="center", fontsize=8)
    ax.set_yticks(y, sources)
    ax.invert_yaxis()
    ax.set_xlim(0, min(max(float(left.max()) if len(left) else 0, 0.05) * 1.45, 1.2))
    ax.xaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0))
    ax.set(title="NSFW share per source (nsfw = over_18 OR word list)", xlabel="share of the source's records")
    ax.legend(fontsize=8, loc="lower right")
    _left_out(fig, kept)
    _save(fig, path)


def _languages(kept: pd.DataFrame, path: Path, stats: dict[str, Any]) -> None:
    del stats
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


def _structure_reliability(kept: pd.DataFrame, path: Path, stats: dict[str, Any]) -> None:
    from jokemine.cleaning.boundary import MODEL_PATH

    del kept, stats  # the diagram describes the model, measured on labeled texts, not the release's rows
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


def write_figures(kept: pd.DataFrame, out_dir: Path, clean_stats: dict[str, Any] | None = None) -> dict[str, Path]:
    """Draw every figure of :data:`FIGURES` into ``out_dir`` (created); returns stem -> path. ``kept``: the kept
    records (:data:`jokemine.dataset_cards.stats.CARD_COLUMNS` and the lengths); ``clean_stats``: the clean run's
    ``stats.json`` (the cluster sizes)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    stats = clean_stats or {}
    drawers = {
        "lengths": _lengths,
        "scores": _scores,
        "per_month": _per_month,
        "languages": _languages,
        "clusters": _clusters,
        "nsfw": _nsfw,
        "structure_reliability": _structure_reliability,
    }
    paths = {}
    for stem, draw in drawers.items():
        paths[stem] = out_dir / f"{stem}.png"
        draw(kept, paths[stem], stats)
    return paths
