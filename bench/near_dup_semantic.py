"""Experiment: does a sentence-embedding check raise near-duplicate recall at unchanged precision? (issue 19)

The lexical search (:func:`jokemine.cleaning.dedup_eval.cluster_corpus`, default settings) is run on the held-out
corpus (a clean run of configs/real-offline.toml + the wonhyuk reposts + three New Yorker caption contests). Then
a semantic pass looks at every LSH candidate pair (the same 56 x 4 banding of 224 permutations) that the lexical
tests left in two clusters although its text Jaccard reaches the second pass's floor (0.4), keeps the pairs of two
Latin-script texts of the same shape (both one-part or both two-part) whose shorter shingle form has >= 40
characters, and joins them when the WordLlama embeddings (``l2_supercat``, 256 dimensions, weights shipped in the
``wordllama`` wheel: https://github.com/dleemiller/WordLlama) of the two texts have cosine >= 0.8 and of their
punchlines (a one-part text stands for itself) >= 0.6. Those settings were chosen on the pairs of
tests/data/near_dup_pairs.csv and near_dup_heldout.csv (all halves: both test halves were already spent) by
clustering the whole corpus; this script scores them against the lexical default on all three labeled sets, the
fresh tests/data/near_dup_heldout_2.csv halves included. The connected components equal those of running the same
check inside the search (an edge the search skips joins nodes already connected).

WordLlama is the only sentence-embedding model found whose weights install from a package registry (pip or npm);
sentence-transformers, fastembed, model2vec and the like download weights from the Hub at first use, which this
machine cannot reach. Needs ``pip install wordllama`` (``make bench-semantic`` does it).
Writes the "Near-duplicates: semantic check" section of bench/RESULTS.md.
Usage: python bench/near_dup_semantic.py [--clean CLEAN_DIR]
"""

from __future__ import annotations

import argparse
import datetime as dt
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from pipeline import machine, update_results  # noqa: E402

from jokemine.cleaning import minhash as mh  # noqa: E402
from jokemine.cleaning.dedup import NearDupParams, plausible_pairs  # noqa: E402
from jokemine.cleaning.dedup_eval import cluster_corpus, labeled_corpus, pair_metrics, search_nodes  # noqa: E402

REAL = REPO.parent / "shared" / "data" / "real"
DATA = REPO / "tests" / "data"
TEXT_COS, PUNCH_COS, MIN_CHARS = 0.8, 0.6, 40
_LETTER, _LATIN = re.compile(r"[^\W\d_]"), re.compile(r"[a-z]")


def latin(form: str) -> bool:
    """>= 90% of the letters of a casefolded form are a-z (the model is English-trained)."""
    letters = len(_LETTER.findall(form))
    return letters > 0 and len(_LATIN.findall(form)) >= 0.9 * letters


def embed(texts: list[str]) -> np.ndarray:
    """Unit WordLlama embeddings, float32 ``(n, 256)``, zero rows for texts without tokens; loaded from the wheel's
    own files (its lookup of the bundled tokenizer misses, so the package folder is given as cache; no download)."""
    import wordllama
    from wordllama import WordLlama

    model = WordLlama.load(cache_dir=Path(wordllama.__file__).parent, disable_download=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.nan_to_num(np.asarray(model.embed(texts, norm=True), dtype=np.float32))


def clean_frame(clean_dir: Path | None) -> pd.DataFrame:
    if clean_dir is None:
        work = Path(tempfile.mkdtemp(prefix="jokemine-semantic-"))
        for stage in ("scrape", "clean"):
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "jokemine",
                    "--config",
                    "configs/real-offline.toml",
                    "--data-dir",
                    str(work),
                    stage,
                ],
                cwd=REPO,
                check=True,
                capture_output=True,
            )
        clean_dir = work / "clean" / "latest"
    return pq.ParquetDataset(sorted(clean_dir.glob("part-*.parquet"))).read().to_pandas()


def semantic_labels(corpus: pd.DataFrame, lexical: np.ndarray) -> tuple[np.ndarray, dict[str, float]]:
    """Row labels after the semantic pass over the lexical row labels ``lexical``, and counters."""
    t0 = time.perf_counter()
    params = NearDupParams()
    found_nodes = search_nodes(corpus)
    nodes, punch, first_rows = found_nodes.texts, found_nodes.punchlines, found_nodes.rows
    node_label = lexical[first_rows]
    n = len(nodes)
    sh = mh.shingle_hashes(nodes, params.ngram, params.unit)
    bands, rows = params.banding()
    sig = mh.signatures(sh, bands * rows, params.seed)
    matrix = mh.shingle_matrix(sh, reuse=True)
    found = []
    for cand in mh.lsh_candidates(sig, bands, rows):
        cand = cand[node_label[cand[:, 0]] != node_label[cand[:, 1]]]
        cand = np.unique(cand[:, 0] * n + cand[:, 1])
        cand = np.stack([cand // n, cand % n], axis=1)
        cand = cand[plausible_pairs(sig, cand, params.floor())]
        found.append(cand[mh.jaccard_pairs(matrix, cand) >= params.floor()])
    both = np.concatenate(found)
    keys = np.unique(both[:, 0] * n + both[:, 1])
    pairs = np.stack([keys // n, keys % n], axis=1)
    ends = np.unique(pairs)
    fit = np.zeros(n, dtype=bool)
    fit[ends] = [latin(nodes[i]) for i in ends]
    size = np.array([len(f) for f in nodes])
    two = np.array([p is not None for p in punch])
    a, b = pairs[:, 0], pairs[:, 1]
    pairs = pairs[fit[a] & fit[b] & (np.minimum(size[a], size[b]) >= MIN_CHARS) & (two[a] == two[b])]
    t1 = time.perf_counter()
    need = np.unique(pairs)
    text = np.zeros((n, 256), np.float32)
    punch_e = np.zeros_like(text)
    text[need] = embed([nodes[i] for i in need])
    punch_e[need] = embed([punch[i] or nodes[i] for i in need])
    a, b = pairs[:, 0], pairs[:, 1]
    ok = (np.einsum("ij,ij->i", text[a], text[b]) >= TEXT_COS) & (
        np.einsum("ij,ij->i", punch_e[a], punch_e[b]) >= PUNCH_COS
    )
    t2 = time.perf_counter()
    # components of a graph of rows (0..m-1) and lexical labels (m + label): each row joined to its label, plus
    # the semantic edges between the nodes' first rows
    edges = pairs[ok]
    m = len(lexical)
    src = np.r_[np.arange(m), first_rows[edges[:, 0]]]
    dst = np.r_[m + lexical, first_rows[edges[:, 1]]]
    size_g = int(m + lexical.max() + 1)
    graph = coo_matrix((np.ones(len(src)), (src, dst)), shape=(size_g, size_g))
    comp = connected_components(graph, directed=False)[1][:m]
    stats = {
        "rejected_in_band": float(len(keys)),
        "looked_at": float(len(pairs)),
        "embedded_texts": float(len(need)),
        "semantic_edges": float(len(edges)),
        "seconds_candidates": t1 - t0,
        "seconds_embed": t2 - t1,
    }
    return comp, stats


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--clean", type=Path, help="a clean run of configs/real-offline.toml (default: run one)")
    args = ap.parse_args()
    corpus = labeled_corpus(clean_frame(args.clean), REAL, captions=True)
    t0 = time.perf_counter()
    lexical = cluster_corpus(corpus, NearDupParams())[0]
    t_lex = time.perf_counter() - t0
    semantic, stats = semantic_labels(corpus, lexical)
    sets = {
        "tuning: near_dup_pairs + near_dup_heldout (all)": pd.concat(
            [pd.read_csv(DATA / "near_dup_pairs.csv"), pd.read_csv(DATA / "near_dup_heldout.csv")]
        ),
        "near_dup_heldout_2 dev": pd.read_csv(DATA / "near_dup_heldout_2.csv").query("half == 'dev'"),
        "near_dup_heldout_2 test": pd.read_csv(DATA / "near_dup_heldout_2.csv").query("half == 'test'"),
    }
    rows = []
    for name, pairs in sets.items():
        pairs = pairs[pairs.a_id.isin(corpus.id) & pairs.b_id.isin(corpus.id) & (pairs.label != "unsure")]
        for method, labels in (("lexical (default)", lexical), ("+ semantic check", semantic)):
            m = pair_metrics(corpus.id, labels, pairs)
            f1 = 2 * m.precision * m.recall / (m.precision + m.recall)
            rows.append(
                f"| {name} | {method} | {m.pairs} | {m.precision:.3f} | {m.recall:.3f} | {f1:.3f} | {m.fp} | {m.fn} "
                f"| {m.precision_w:.3f} | {m.recall_w:.3f} |"
            )
    top = [pd.Series(x).value_counts().head(3).tolist() for x in (lexical, semantic)]
    section = "\n".join(
        [
            "## Near-duplicates: semantic check (bench/near_dup_semantic.py)",
            "",
            f"{dt.date.today().isoformat()}, {machine()}. Held-out corpus: {len(corpus):,} rows.",
            "",
            "| labeled pairs | method | pairs | precision | recall | F1 | false pos. | false neg. | weighted P | "
            "weighted R |",
            "|---|---|---|---|---|---|---|---|---|---|",
            *rows,
            "",
            f"Lexical search {t_lex:.1f} s. Semantic pass: {int(stats['rejected_in_band']):,} candidate pairs left in "
            f"two clusters with Jaccard >= 0.4, {int(stats['looked_at']):,} of them Latin-script, same shape and "
            f"long enough, {int(stats['embedded_texts']):,} texts embedded, {int(stats['semantic_edges']):,} edges "
            f"added; {stats['seconds_candidates']:.1f} s finding candidates, {stats['seconds_embed']:.1f} s "
            f"embedding. Largest clusters: lexical {top[0]}, with the semantic check {top[1]}.",
            "",
        ]
    )
    print(section)
    update_results("## Near-duplicates: semantic check", section)


if __name__ == "__main__":
    main()
