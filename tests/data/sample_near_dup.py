"""Draw the second held-out near-duplicate pair sample (``tests/data/near_dup_heldout_2.csv``; see
tests/data/README.md).

Run once, before any labeling: ``python tests/data/sample_near_dup.py CLEAN_DIR ../shared/data/real OUT_DIR``
(``CLEAN_DIR``: a clean run of ``configs/real-offline.toml``, e.g. ``data/real-offline/clean/latest``) writes
``OUT_DIR/sample.csv`` (``pid``, ``a_id``, ``b_id``, ``jaccard``, ``stratum``, ``weight``, ``half``) and
``OUT_DIR/items.jsonl`` (``pid``, ``A``, ``B``: the two texts, for the readers). The pool and the strata are those of
``near_dup_heldout.csv``: every pair of distinct text/punchline nodes of the held-out corpus
(:func:`jokemine.cleaning.dedup_eval.labeled_corpus` with captions) that LSH 64 x 3 of 192 permutations (seed
12345) makes a candidate, with exact char 5-gram Jaccard >= 0.2, minus the pairs of both earlier sets; per stratum
0.9 x the earlier set's count, seed :data:`SEED`.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from jokemine.cleaning import minhash as mh
from jokemine.cleaning.dedup_eval import labeled_corpus

SEED = 20261208
DATA = Path(__file__).resolve().parent
EDGES = [0.2, 0.3, 0.4, 0.5, 0.55, 0.6, 0.7, 0.8, 1.01]


def half_of(a: str, b: str) -> str:
    """``dev`` or ``test``: BLAKE2b-32 (big-endian) of ``a|b``, even = dev."""
    h = int.from_bytes(hashlib.blake2b(f"{a}|{b}".encode(), digest_size=4).digest(), "big")
    return "dev" if h % 2 == 0 else "test"


def main(clean_dir: Path, real: Path, out: Path) -> None:
    clean = pq.ParquetDataset(sorted(clean_dir.glob("part-*.parquet"))).read().to_pandas()
    corpus = labeled_corpus(clean, real, captions=True)
    forms = [mh.shingle_form(t) for t in corpus.text]
    pforms = [None if not isinstance(p, str) else mh.shingle_form(p) for p in corpus.punchline]
    node, _ = pd.factorize(
        pd.Series([f + "\x00" + ("\x01" if p is None else p) for f, p in zip(forms, pforms, strict=True)])
    )
    first = pd.Series(np.arange(len(node))).groupby(node).first().to_numpy()
    nf = [forms[i] for i in first]
    sh = mh.shingle_hashes(nf, 5, "char")
    sig = mh.signatures(sh, 192, 12345)
    matrix = mh.shingle_matrix(sh)
    n = len(nf)
    keys = np.unique(np.concatenate([np.unique(c[:, 0] * n + c[:, 1]) for c in mh.lsh_candidates(sig, 64, 3)]))
    pairs = np.stack([keys // n, keys % n], axis=1)
    jac = mh.jaccard_pairs(matrix, pairs)
    pairs, jac = pairs[jac >= 0.2], jac[jac >= 0.2]
    print(f"{n} nodes, pool {len(pairs)} pairs")
    ids = corpus.id.to_numpy()[first]
    cap = np.array([i.startswith("nyc:") for i in ids])
    two = np.array([pforms[i] is not None for i in first])
    size = np.array([len(f) for f in nf])
    a, b = pairs[:, 0], pairs[:, 1]
    shape = np.select(
        [cap[a] & cap[b], cap[a] | cap[b], two[a] != two[b], np.minimum(size[a], size[b]) < 60],
        ["caption", "capmix", "mixed", "short"],
        "long",
    )
    pool = pd.DataFrame(
        {
            "a_id": ids[a],
            "b_id": ids[b],
            "jaccard": jac.round(3),
            "stratum": [f"{s}|{k}" for s, k in zip(shape, np.digitize(jac, EDGES), strict=True)],
        }
    )
    node_of = pd.Series(node, index=corpus.id.to_numpy())
    old = pd.concat([pd.read_csv(DATA / "near_dup_pairs.csv"), pd.read_csv(DATA / "near_dup_heldout.csv")])
    old = old[old.a_id.isin(node_of.index) & old.b_id.isin(node_of.index)]
    oa, ob = node_of[old.a_id].to_numpy(), node_of[old.b_id].to_numpy()
    seen = set(zip(np.minimum(oa, ob).tolist(), np.maximum(oa, ob).tolist(), strict=True))
    pool = pool[[(x, y) not in seen for x, y in zip(a.tolist(), b.tolist(), strict=True)]].reset_index(drop=True)
    counts = pd.read_csv(DATA / "near_dup_heldout.csv").groupby("stratum").size()
    rng = np.random.default_rng(SEED)
    drawn = []
    for stratum, g in pool.groupby("stratum"):
        k = int(np.rint(counts.get(stratum, 0) * 0.9))
        if k:
            take = g.iloc[np.sort(rng.choice(len(g), size=min(k, len(g)), replace=False))]
            drawn.append(take.assign(weight=round(len(g) / len(take), 3)))
    sample = pd.concat(drawn, ignore_index=True)
    sample["half"] = [half_of(x, y) for x, y in zip(sample.a_id, sample.b_id, strict=True)]
    sample = sample.sample(frac=1, random_state=7).reset_index(drop=True)
    sample.insert(0, "pid", [f"p{i:04d}" for i in range(len(sample))])
    out.mkdir(parents=True, exist_ok=True)
    sample.to_csv(out / "sample.csv", index=False)
    text = corpus.set_index("id").text
    with open(out / "items.jsonl", "w", encoding="utf-8") as fh:
        for r in sample.itertuples():
            fh.write(json.dumps({"pid": r.pid, "A": text[r.a_id], "B": text[r.b_id]}, ensure_ascii=False) + "\n")
    print(f"{len(sample)} pairs: {sample.half.value_counts().to_dict()}")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]))
