"""Benchmark: jokemine's near-duplicate stage vs datatrove's MinHash pipeline (and datasketch), side by side.

Corpora (built in the same run):

* ``real``: every record that enters deduplication in a clean run of configs/real-offline.toml (r/Jokes + other
  subreddits + QA jokes + bfinan + CleanComedy; exact duplicates included) plus the 5,407 wonhyukchoi 2019 reposts,
  so every labeled pair of tests/data/near_dup_pairs.csv is in it;
* ``1m``: the real corpus replicated to 1,000,000 rows; the originals stay, the added copies get 1-3 random small
  edits (a character deleted or replaced, two words swapped, a word dropped or repeated, a case change, trailing
  punctuation, a framing phrase), seed 0.

Contenders, each in its own process (wall time and peak PSS of the process tree, sampled every 250 ms):

* ``jokemine``: :func:`jokemine.cleaning.dedup.near_duplicate_labels` with the default settings (char 5-grams,
  exact-Jaccard verification at 0.55, punchline check 0.3 / cross containment 0.6 / mixed containment 0.5, second
  pass at 0.4 with punchline Jaccard >= 0.5, LSH 56 x 4 of 224 permutations), one process with a thread per core,
  as in ``clean``;
* ``jokemine@recall``: the same code with settings that reach datatrove's recall on the labeled pairs
  (``AT_RECALL``: Jaccard 0.35, punchline 0.2, LSH 42 x 3), for the "at equal or better recall" comparison
  (real corpus only: at 1M rows its low threshold makes it verify hundreds of millions of template pairs);
* ``datatrove``: datatrove 0.10 MinhashDedupSignature/Buckets/Cluster (+ Filter, timed apart) with the same char
  5-grams (a character tokenizer over the same normalized text) and an LSH of 20 buckets x 5 hashes, whose
  S-curve threshold (1/20)**(1/5) = 0.55 equals ours (datatrove has no verification step), 2 tasks / 2 workers;
* ``datasketch`` (real corpus only): datasketch MinHash (same shingle hashes, identity hashfunc) +
  MinHashLSH(56 x 4) inserts and queries, no verification: the library peer for the signature and LSH steps.

Reported: wall time, peak memory, duplicates found (rows minus clusters), precision/recall on the labeled pairs,
agreement with datatrove (pair-counting precision/recall of one clustering against the other), ratios.
Writes the "Near-duplicates" section of bench/RESULTS.md.
Usage: python bench/dedup_vs_datatrove.py [--rows 1000000] [--skip-1m] [--keep DIR]
"""

from __future__ import annotations

import argparse
import datetime as dt
import glob
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from pipeline import machine, run_measured, update_results  # noqa: E402

from jokemine.cleaning import minhash as mh  # noqa: E402
from jokemine.cleaning.dedup import NearDupParams, near_duplicate_labels  # noqa: E402

REAL = REPO.parent / "shared" / "data" / "real"
PAIRS = REPO / "tests" / "data" / "near_dup_pairs.csv"
DT_BUCKETS, DT_ROWS = 20, 5
_FRAMES = ["My dad told me this one: ", "Heard this today. ", "Not mine, but ", "Old one: "]


# --- corpora ------------------------------------------------------------------------------------------------
def build_real(work: Path) -> Path:
    from jokemine.cleaning.dedup_eval import labeled_corpus

    out = work / "real.parquet"
    if out.exists():  # --keep DIR: reuse the corpus of an earlier run
        return out
    data = work / "data"
    for stage in ("scrape", "clean"):
        subprocess.run(
            [sys.executable, "-m", "jokemine", "--config", "configs/real-offline.toml", "--data-dir", str(data), stage],
            cwd=REPO,
            check=True,
            capture_output=True,
        )
    parts = sorted(glob.glob(str(data / "clean" / "latest" / "part-*.parquet")))
    clean = pd.concat(
        [pd.read_parquet(p, columns=["id", "text", "punchline", "structure", "dup_cluster"]) for p in parts]
    )
    corpus = labeled_corpus(clean, REAL).reset_index(drop=True)
    corpus.to_parquet(out)
    return out


def _edit(text: str, rng: np.random.Generator) -> str:
    lines = text.split("\n")
    for _ in range(int(rng.integers(1, 4))):
        li = int(rng.integers(len(lines)))
        words = lines[li].split(" ")
        op = int(rng.integers(8))
        k = int(rng.integers(len(words)))
        w = words[k]
        if op == 0 and len(w) > 1:  # delete a character
            j = int(rng.integers(len(w)))
            words[k] = w[:j] + w[j + 1 :]
        elif op == 1 and w:  # replace a character
            j = int(rng.integers(len(w)))
            words[k] = w[:j] + chr(int(rng.integers(97, 123))) + w[j + 1 :]
        elif op == 2 and len(words) > 1:  # swap two neighbours
            j = min(k, len(words) - 2)
            words[j], words[j + 1] = words[j + 1], words[j]
        elif op == 3 and len(words) > 3:  # drop a word
            del words[k]
        elif op == 4:  # repeat a word
            words.insert(k, w)
        elif op == 5:  # case
            words[k] = w.upper() if rng.random() < 0.5 else w.lower()
        elif op == 6:  # punctuation
            words[-1] = words[-1].rstrip(".!?") + str(rng.choice(["!", "...", "?!", "."]))
        else:  # framing
            words[0] = str(rng.choice(_FRAMES)) + words[0]
        lines[li] = " ".join(words)
    return "\n".join(lines)


def build_scaled(real: Path, rows: int, work: Path) -> Path:
    base = pd.read_parquet(real)
    rng = np.random.default_rng(0)
    src = rng.integers(0, len(base), size=rows - len(base))
    texts, punch, ids = list(base.text), list(base.punchline), list(base.id)
    for n, i in enumerate(src.tolist()):
        t = _edit(base.text.iat[i], rng)
        has = isinstance(base.punchline.iat[i], str) and "\n" in t
        texts.append(t)
        punch.append(t.split("\n", 1)[1] if has else None)
        ids.append(f"{base.id.iat[i]}#{n}")
    out = work / f"scaled-{rows}.parquet"
    pd.DataFrame({"id": ids, "text": texts, "punchline": punch}).to_parquet(out)
    return out


# --- contenders (run in a child process) --------------------------------------------------------------------
def _forms(path: Path) -> tuple[pd.DataFrame, list[str], list[str | None]]:
    """``(ids frame, text forms, punchline forms)``, read in record batches so the raw texts never sit in memory
    all at once (only the normalized forms stay, as in ``clean``)."""
    import pyarrow.parquet as pq

    forms: list[str] = []
    punch: list[str | None] = []
    f = pq.ParquetFile(path)
    for batch in f.iter_batches(batch_size=50_000, columns=["text", "punchline"]):
        forms += [mh.shingle_form(t) for t in batch.column("text").to_pylist()]
        punch += [mh.shingle_form(p) if isinstance(p, str) else None for p in batch.column("punchline").to_pylist()]
    return pd.read_parquet(path, columns=["id"]), forms, punch


# jokemine tuned to datatrove's recall on the labeled pairs (R 0.924 on the real corpus): lower text and punchline
# thresholds, banding 42 x 3 of 126 permutations (found on the real corpus: README "Deduplication").
AT_RECALL = NearDupParams(threshold=0.35, punchline_threshold=0.2, num_perm=126, bands=42, rows=3)


def run_jokemine(inp: Path, out: Path, params: NearDupParams | None = None) -> None:
    t0 = time.perf_counter()
    _, forms, punch = _forms(inp)
    t1 = time.perf_counter()
    res = near_duplicate_labels(forms, params or NearDupParams(), punch)
    t2 = time.perf_counter()
    np.save(out / "labels.npy", res.labels)
    info = {"normalize_s": t1 - t0, "dedup_s": t2 - t1, **{f"{k}_s": v for k, v in res.seconds.items()}}
    info |= {"candidates": res.candidates, "verified": res.checked, "accepted": len(res.pairs)}
    (out / "info.json").write_text(json.dumps(info))


def run_datatrove(inp: Path, out: Path, workers: int = 2) -> None:
    from datatrove.executor import LocalPipelineExecutor
    from datatrove.pipeline.dedup import MinhashDedupBuckets, MinhashDedupCluster, MinhashDedupFilter
    from datatrove.pipeline.dedup.minhash import MinhashConfig, MinhashDedupSignature
    from datatrove.pipeline.readers import JsonlReader
    from datatrove.pipeline.writers import JsonlWriter
    from datatrove.utils.hashing import HashConfig
    from datatrove.utils.text import TextNormConfig
    from datatrove.utils.word_tokenizers import WordTokenizer

    class CharTokenizer(WordTokenizer):
        """Characters as tokens: datatrove's n-grams become char n-grams (joined by spaces before hashing)."""

        def word_tokenize(self, text: str) -> list[str]:
            return list(text)

        def sent_tokenize(self, text: str) -> list[str]:
            return [text]

        def span_tokenize(self, text: str) -> list[tuple[int, int]]:
            return [(0, len(text))]

    t0 = time.perf_counter()
    df, forms, _ = _forms(inp)
    src = out / "input"
    src.mkdir()
    half = (len(df) + 1) // 2
    for k, lo in enumerate(range(0, len(df), half)):  # datatrove shards by input file: one file per task
        pd.DataFrame({"id": df.id[lo : lo + half], "text": forms[lo : lo + half]}).to_json(
            src / f"part-{k}.jsonl", orient="records", lines=True, force_ascii=False
        )
    t1 = time.perf_counter()
    norm = TextNormConfig(False, False, False, False, False)
    cfg = MinhashConfig(n_grams=5, num_buckets=DT_BUCKETS, hashes_per_bucket=DT_ROWS, norm_config=norm,
                        hash_config=HashConfig(precision=32))  # fmt: skip
    logs = str(out / "logs")
    ntasks = len(list(src.glob("*.jsonl")))
    reader = JsonlReader(str(src))
    LocalPipelineExecutor(
        [reader, MinhashDedupSignature(output_folder=str(out / "sigs"), config=cfg, language=CharTokenizer())],
        tasks=ntasks,
        workers=workers,
        logging_dir=f"{logs}/1",
    ).run()
    LocalPipelineExecutor(
        [MinhashDedupBuckets(input_folder=str(out / "sigs"), output_folder=str(out / "buckets"), config=cfg)],
        tasks=cfg.num_buckets,
        workers=workers,
        logging_dir=f"{logs}/2",
    ).run()
    LocalPipelineExecutor(
        [
            MinhashDedupCluster(
                input_folder=str(out / "buckets"), output_folder=str(out / "remove"), config=cfg, save_cluster_id=True
            )
        ],
        tasks=1,
        logging_dir=f"{logs}/3",
    ).run()
    t2 = time.perf_counter()
    LocalPipelineExecutor(
        [
            JsonlReader(str(src)),
            MinhashDedupFilter(
                input_folder=str(out / "remove"),
                exclusion_writer=JsonlWriter(str(out / "removed")),
                load_cluster_ids=True,
            ),
            JsonlWriter(str(out / "kept")),
        ],
        tasks=ntasks,
        workers=workers,
        logging_dir=f"{logs}/4",
    ).run()
    t3 = time.perf_counter()
    cl: dict[str, int] = {}
    for f in [*glob.glob(str(out / "kept" / "*")), *glob.glob(str(out / "removed" / "*"))]:
        for doc in pd.read_json(f, lines=True, compression="infer", dtype=False).itertuples():
            cl[str(doc.id)] = int(doc.metadata.get("minhash_cluster_id", -1))
    # datatrove's reader skips documents whose text is empty (a joke without letters or digits normalizes to ""):
    # they are singletons
    raw = np.array([cl.get(i, -1) for i in df.id], dtype=np.int64)
    labels = np.where(raw < 0, np.arange(len(raw)), raw + len(raw))  # singletons get their own label
    np.save(out / "labels.npy", labels)
    info = {"write_input_s": t1 - t0, "dedup_s": t2 - t1, "filter_s": t3 - t2, "skipped_empty": len(df) - len(cl)}
    (out / "info.json").write_text(json.dumps(info))


def run_datasketch(inp: Path, out: Path) -> None:
    from datasketch import MinHash, MinHashLSH

    t0 = time.perf_counter()
    _, forms, _ = _forms(inp)
    sh = mh.shingle_hashes(forms, 5)
    t1 = time.perf_counter()
    bands, rows = NearDupParams().banding()
    perms = bands * rows
    lsh = MinHashLSH(num_perm=perms, params=(bands, rows))
    sigs = []
    for i in range(len(forms)):
        m = MinHash(num_perm=perms, hashfunc=int)
        m.update_batch(sh.hashes[sh.offsets[i] : sh.offsets[i + 1]].tolist())
        sigs.append(m.hashvalues)
    t2 = time.perf_counter()
    pairs = []
    for i, hv in enumerate(sigs):
        m = MinHash(num_perm=perms, hashvalues=hv, scheme="affine32")
        pairs += [(j, i) for j in lsh.query(m)]
        lsh.insert(i, m)
    t3 = time.perf_counter()
    ours = mh.signatures(sh, perms)
    same = bool(np.array_equal(np.vstack(sigs).astype(np.uint32), ours))
    info = {"shingles_s": t1 - t0, "minhash_s": t2 - t1, "lsh_s": t3 - t2, "dedup_s": t3 - t1}
    info |= {"candidates": len(pairs), "signatures_identical_to_jokemine": same}
    (out / "info.json").write_text(json.dumps(info))


# --- comparison ---------------------------------------------------------------------------------------------
def pair_agreement(a: np.ndarray, b: np.ndarray) -> dict[str, float]:
    """Pair-counting agreement of two clusterings: of the pairs ``a`` puts together, the share ``b`` also does,
    and the reverse."""

    def together(x: pd.Series) -> int:
        return int((x * (x - 1) // 2).sum())

    both = together(pd.DataFrame({"a": a, "b": b}).value_counts())
    na, nb = together(pd.Series(a).value_counts()), together(pd.Series(b).value_counts())
    return {"a_pairs": na, "b_pairs": nb, "both": both, "b_given_a": both / na if na else 1.0,
            "a_given_b": both / nb if nb else 1.0}  # fmt: skip


def measure(name: str, inp: Path, work: Path) -> dict:
    out = work / f"{name.replace('@', '-at-')}-{inp.stem}"
    out.mkdir()
    wall, pss, _, _ = run_measured([sys.executable, str(Path(__file__).resolve()), "_run", name, str(inp), str(out)])
    info = json.loads((out / "info.json").read_text())
    labels = np.load(out / "labels.npy") if (out / "labels.npy").exists() else None
    return {"name": name, "wall_s": wall, "pss_mib": pss, "info": info, "labels": labels}


def evaluate(corpus: Path, results: list[dict]) -> list[str]:
    from jokemine.cleaning.dedup_eval import pair_metrics

    ids = pd.read_parquet(corpus, columns=["id"]).id
    pairs = pd.read_csv(PAIRS)
    pairs = pairs[pairs.a_id.isin(ids) & pairs.b_id.isin(ids)]  # one record ("[Removed]") is dropped before dedup
    lines = []
    ref = next(r for r in results if r["name"] == "jokemine")
    for r in results:
        extra = ""
        if r["labels"] is not None:
            lab = r["labels"]
            dups = len(lab) - len(np.unique(lab))
            m = pair_metrics(ids, lab, pairs)
            extra = (
                f"duplicates {dups:,}; labeled pairs P {m.precision:.3f} R {m.recall:.3f} "
                f"(FP {m.fp}, FN {m.fn}; pool-weighted P {m.precision_w:.3f} R {m.recall_w:.3f})"
            )
            if r is not ref:
                ag = pair_agreement(ref["labels"], lab)
                extra += (
                    f"; of jokemine's {ag['a_pairs']:,} same-cluster pairs it has {ag['b_given_a']:.1%}, "
                    f"of its {ag['b_pairs']:,} jokemine has {ag['a_given_b']:.1%}"
                )
        ratio = r["info"]["dedup_s"] / ref["info"]["dedup_s"]
        lines.append(
            f"| {r['name']} | {r['wall_s']:.1f} | {r['info']['dedup_s']:.1f} | {ratio:.2f}x | {r['pss_mib']:.0f} | "
            f"{extra} |"
        )
    return lines


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--skip-1m", action="store_true")
    ap.add_argument("--keep")
    args = ap.parse_args()
    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="jm-dedup-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    real = build_real(work)
    n_real = len(pd.read_parquet(real, columns=["id"]))
    header = [
        "| contender | wall s (process) | dedup s | dedup time vs jokemine | peak PSS MiB | results |",
        "|---|---|---|---|---|---|",
    ]
    res = [measure(n, real, work) for n in ("jokemine", "jokemine@recall", "datatrove", "datasketch")]
    body = [f"### Real corpus ({n_real:,} texts)", "", *header, *evaluate(real, res), ""]
    ds = res[3]["info"]
    body += [
        f"datasketch: MinHash {ds['minhash_s']:.1f} s + LSH {ds['lsh_s']:.1f} s vs jokemine signatures "
        f"{res[0]['info']['signatures_s']:.1f} s + LSH/verify {res[0]['info']['lsh_verify_s']:.1f} s; "
        f"signatures identical: {ds['signatures_identical_to_jokemine']}.",
        "",
    ]
    if not args.skip_1m:
        scaled = build_scaled(real, args.rows, work)
        res = [measure(n, scaled, work) for n in ("jokemine", "datatrove")]
        body += [f"### Replicated corpus ({args.rows:,} rows)", "", *header, *evaluate(scaled, res), ""]
    section = "\n".join(
        [
            "## Near-duplicates (bench/dedup_vs_datatrove.py)",
            "",
            f"{dt.date.today().isoformat()}, {machine()}. `dedup s` excludes process start and corpus loading "
            "(jokemine: normalize + shingle + MinHash + LSH + verify; datatrove: its signature, bucket and cluster "
            "stages, input already written as JSONL; datasketch: MinHash + LSH). Peak PSS is the whole process "
            "tree. Same char 5-grams of the same normalized text everywhere.",
            "",
            *body,
        ]
    )
    update_results("## Near-duplicates", section)
    print(section)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "_run":
        fn = {
            "jokemine": run_jokemine,
            "jokemine@recall": lambda i, o: run_jokemine(i, o, AT_RECALL),
            "datatrove": run_datatrove,
            "datasketch": run_datasketch,
        }[sys.argv[2]]
        fn(Path(sys.argv[3]), Path(sys.argv[4]))
    else:
        main()
