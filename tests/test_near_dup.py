"""Near-duplicate detection: shingles and MinHash against datasketch, LSH banding, verification, clusters."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from jokemine.cleaning import minhash as mh
from jokemine.cleaning.dedup import (
    PRE_COLUMNS,
    NearDupParams,
    accept_pairs,
    candidate_probability,
    dedup_punchline,
    deduplicate,
    lsh_params,
    near_duplicate_clusters,
    near_duplicate_labels,
    pre_plausible,
)
from jokemine.cleaning.text import fix_text
from jokemine.splits.assign import split_groups


@pytest.fixture(scope="module")
def qa_texts(real: Path) -> list[str]:
    """1,500 real Kaggle QA jokes (question + newline + answer), cleaned like the pipeline does."""
    with open(real / "qa-jokes-jiriroz" / "jokes.csv", newline="", encoding="utf-8") as fh:
        rows = [r for r in csv.DictReader(fh) if r["Question"] and r["Answer"]][:1500]
    return [fix_text(f"{r['Question']}\n{r['Answer']}") for r in rows]


def test_shingle_form() -> None:
    assert mh.shingle_form("Why did the chicken... cross?!") == "why did the chicken cross"
    assert mh.shingle_form("ＦＵＬＬ width_and—dash") == "full width and dash"
    assert mh.shingle_form("?!...") == ""


@pytest.mark.parametrize(("unit", "n"), [("char", 5), ("char", 3), ("word", 2)])
def test_vectorized_shingles_equal_reference_and_datasketch_signatures(qa_texts: list[str], unit: str, n: int) -> None:
    from datasketch import MinHash

    forms = [mh.shingle_form(t) for t in qa_texts]
    forms += ["ab", "", "x y"]  # shorter than n, empty
    sh = mh.shingle_hashes(forms, n, unit, threads=2, chunk_chars=3000)  # small chunks: many chunk boundaries
    whole = mh.shingle_hashes(forms, n, unit, threads=1, chunk_chars=1 << 30)
    assert (sh.offsets == whole.offsets).all() and (sh.hashes == whole.hashes).all()
    sig = mh.signatures(sh, 64, seed=7, chunk_elems=5000, threads=2)
    assert (sig == mh.signatures(whole, 64, seed=7, chunk_elems=1 << 30, threads=1)).all()
    for i in [*range(0, len(qa_texts), 7), len(forms) - 3, len(forms) - 2, len(forms) - 1]:
        shingles = mh.reference_shingles(forms[i], n, unit)
        expected = sorted({mh.shingle_hash32(s, unit) for s in shingles})
        assert sh.hashes[sh.offsets[i] : sh.offsets[i + 1]].tolist() == expected, forms[i]
        m = MinHash(num_perm=64, seed=7, hashfunc=lambda b, u=unit: mh.shingle_hash32(b, u))
        m.update_batch([s.encode() for s in shingles])
        assert m.hashvalues.tolist() == sig[i].tolist(), forms[i]
    assert sh.sizes()[-3:].tolist() == [1, 0, 1]  # shorter than n: one shingle; no letters: none
    assert (sig[-2] == 2**32 - 1).all()


def test_exact_jaccard_matches_python_sets(qa_texts: list[str]) -> None:
    forms = [mh.shingle_form(t) for t in qa_texts[:300]]
    sh = mh.shingle_hashes(forms, 4)
    rng = np.random.default_rng(0)
    pairs = np.sort(rng.integers(0, len(forms), size=(500, 2)), axis=1)
    pairs[:5] = [[0, 0], [1, 1], [2, 3], [4, 5], [6, 7]]
    got = mh.jaccard_pairs(mh.shingle_matrix(sh), pairs, batch=97)
    for (i, j), g in zip(pairs.tolist(), got, strict=True):
        a = {mh.shingle_hash32(s) for s in mh.reference_shingles(forms[i], 4)}
        b = {mh.shingle_hash32(s) for s in mh.reference_shingles(forms[j], 4)}
        assert g == pytest.approx(len(a & b) / len(a | b))


def test_lsh_params_and_s_curve() -> None:
    assert lsh_params(0.5, 128) == (42, 3)
    assert candidate_probability(0.5, 42, 3) >= 0.995
    assert candidate_probability(0.2, 42, 3) < 0.3  # far below the threshold: rarely a candidate
    assert lsh_params(0.55) == (56, 4)  # the default: 224 permutations
    assert candidate_probability(0.55, 56, 4) >= 0.995 and candidate_probability(0.2, 56, 4) < 0.1
    b, r = lsh_params(0.8, 128)
    assert r > 3 and candidate_probability(0.8, b, r) >= 0.995
    with pytest.raises(ValueError, match="no banding"):
        lsh_params(0.1, 8)


def test_band_pairs_cover_every_pair_of_large_buckets_in_chunks() -> None:
    sig = np.zeros((300, 4), dtype=np.uint32)  # one bucket of 300 equal signatures
    sig[250:, :] = 1  # and one of 50
    chunks = list(mh.band_pairs(sig, 0, 4, max_pairs=1000))
    assert len(chunks) > 20 and max(len(c) for c in chunks) < 2 * 1000 + 250
    pairs = np.concatenate(chunks)
    assert len(pairs) == len(np.unique(pairs, axis=0)) == 250 * 249 // 2 + 50 * 49 // 2
    assert (pairs[:, 0] < pairs[:, 1]).all()
    assert ((pairs < 250).all(axis=1) | (pairs >= 250).all(axis=1)).all()


def test_band_pairs_with_labels_star_first_then_only_mixed_buckets() -> None:
    sig = np.array([[1, 1], [2, 2], [1, 1], [3, 3], [2, 2], [1, 1]], dtype=np.uint32)  # buckets {0,2,5}, {1,4}
    star, rest = mh.band_pairs(sig, 0, 2, labels=lambda: np.arange(6))  # nothing merged: every pair follows
    assert star.tolist() == [[0, 2], [0, 5], [1, 4]]
    assert sorted(rest.tolist()) == [[0, 2], [0, 5], [1, 4], [2, 5]]
    merged = np.array([0, 1, 0, 3, 1, 0])  # the star verified both buckets into one cluster each
    assert [c.tolist() for c in mh.band_pairs(sig, 0, 2, labels=lambda: merged)] == [[[0, 2], [0, 5], [1, 4]]]
    half = np.array([0, 1, 2, 3, 1, 0])  # 2 not merged: its bucket gives all its pairs again
    assert [sorted(c.tolist()) for c in mh.band_pairs(sig, 0, 2, labels=lambda: half)][1] == [[0, 2], [0, 5], [2, 5]]


def test_near_duplicate_clusters_reposts_and_templates() -> None:
    texts = [
        "There are 10 types of people in this world...\nthose who understand binary, and those who don't",
        "There are 10 kinds of people in the world:\nThose who understand binary and those who don't.",
        "Why did the chicken cross the road?\nTo get to the other side.",
        "Never trust atoms....\nthey make up everything.",
        "Never trust an atom.\nThey make up everything!",
    ]
    assert near_duplicate_clusters(texts) == [0, 0, 2, 3, 3]
    assert near_duplicate_clusters([]) == []
    assert near_duplicate_clusters(["only one"]) == [0]


def test_same_setup_different_punchline_stays_apart() -> None:
    # real r/Jokes / QA pairs labeled "different joke" (tests/data/near_dup_pairs.csv has their ids)
    setups = "How many redditors does it take to change a light bulb?"
    texts = [
        f"{setups}\nTwo. One to screw it in and one to take credit for it.",
        f"{setups}\nDoesn't matter. They will just keep reposting the same lightbulb.",
        "How many redditors does it take to change a lightbulb?\nTwo. One to screw it in, one to take credit.",
        "How many redditors does it take to change a light bulb?",  # a bare setup is not either joke
    ]
    punchlines = [t.split("\n", 1)[1] if "\n" in t else None for t in texts]
    labels = near_duplicate_clusters(texts, punchlines=punchlines)
    assert labels[0] == labels[2]
    assert len({labels[0], labels[1], labels[3]}) == 3


def _accept(texts: list[str], punchlines: list[str | None], params: NearDupParams) -> tuple[list[bool], list[float]]:
    """accept_pairs on every pair (i, i + 1) of the texts, with their exact Jaccard."""
    forms = [mh.shingle_form(t) for t in texts]
    pforms = [mh.shingle_form(p) if p else "" for p in punchlines]
    matrix = mh.shingle_matrix(mh.shingle_hashes(forms, 5, "char"))
    pmatrix = mh.shingle_matrix(mh.shingle_hashes(pforms, 5, "char"))
    cand = np.array([[i, i + 1] for i in range(0, len(texts), 2)], dtype=np.int64)
    jac = mh.jaccard_pairs(matrix, cand)
    two = np.array([p is not None for p in punchlines])
    ok, _ = accept_pairs(cand, jac, two, pmatrix, matrix, params)
    return ok.tolist(), jac.round(3).tolist()


def test_second_pass_cross_and_mixed_containment_on_real_pairs() -> None:
    """Issue 19, pairs of tests/data/near_dup_heldout.csv (dev half): the second pass joins a reworded repost
    with the same punchline; cross containment joins one joke cut at two places; a bare setup stays apart."""
    texts = [
        "What kind of computer can sing?\nA Dell.",  # labeled dup, J 0.54 < 0.55: second pass
        "What kind of computer sings?\nA Dell",
        # dup, cut at another place
        "I went to the zoo the other day and the only animal there was a dog.\nIt was a Shih tzu.",
        "Bad Zoo\nI went to a one time and the only animal there was a dog. It was a shih tzu.",
        "I like my women like I like my coffee\nI hate coffee.",  # diff: the other is only the setup
        "I like my women like I like my coffee.",
        "Why did the chicken cross the beach?\nTo get to the other tide",  # diff, J 0.49: punchlines differ
        "Why did the chicken cross the road?\nTo get to turkey!",
    ]
    zoo = "I went to a one time and the only animal there was a dog. It was a shih tzu."
    punch = ["A Dell.", "A Dell", "It was a Shih tzu.", zoo, "I hate coffee.", None,
             "To get to the other tide", "To get to turkey!"]  # fmt: skip
    ok, jac = _accept(texts, punch, NearDupParams())
    assert jac[0] < 0.55 and jac[1] > 0.55
    assert ok == [True, True, False, False]
    before = NearDupParams(low_threshold=0, cross_containment=0, mixed_containment=0.3)
    assert _accept(texts, punch, before)[0] == [False, False, True, False]  # the old rules: the reverse mistakes
    assert NearDupParams().floor() == 0.4 and NearDupParams(low_threshold=0).floor() == 0.55
    assert NearDupParams(punchline_threshold=0).floor() == 0.55  # no punchlines, no second pass
    off = _accept(texts, punch, NearDupParams(punchline_threshold=0))[0]  # checks off: text Jaccard alone,
    assert off == [j >= 0.55 for j in jac]  # as the staged search does


def test_a_one_liner_cut_inside_its_sentence_is_one_part_for_dedup() -> None:
    assert dedup_punchline("but I lost interest.", "turn") is None
    assert dedup_punchline("but I lost interest.", "body:turn") is None
    assert dedup_punchline("A stick.", "question") == "A stick."
    assert dedup_punchline(None, "title_body") is None


def test_near_duplicate_labels_is_order_independent(qa_texts: list[str]) -> None:
    forms = [mh.shingle_form(t) for t in qa_texts]
    p = NearDupParams()
    base = near_duplicate_labels(forms, p).labels
    perm = np.random.default_rng(3).permutation(len(forms))
    shuffled = near_duplicate_labels([forms[i] for i in perm], p).labels
    # same partition: map labels of the shuffled run back to original positions
    back = np.empty_like(shuffled)
    back[perm] = perm[shuffled]
    canon = pd.Series(back).groupby(base).nunique()
    assert (canon == 1).all()


def test_deduplicate_survivor_and_also_in() -> None:
    df = pd.DataFrame(
        {
            "id": ["reddit:a", "qa:1", "qa:2", "reddit:b", "other:x"],
            "source": ["rjokes", "qa_jokes", "qa_jokes", "rjokes", "bfinan_qa"],
            "text_key": ["k1", "k1", "k2", "k3", "k2"],
            "score_norm": [0.4, np.nan, np.nan, 0.9, np.nan],
            "created_at": pd.to_datetime(["2014-01-01", None, None, "2013-01-01", None], utc=True),
            "shard": 0,
            "row": range(5),
        }
    )
    texts = {
        "k1": ("Never trust atoms.\nThey make up everything.", "They make up everything."),
        "k2": ("Never trust an atom!\nThey make up everything!!", "They make up everything!!"),
        "k3": ("Why did the chicken cross the road?\nTo get to the other side.", "To get to the other side."),
    }

    def load(reps: pd.DataFrame) -> tuple[list[str], list[str | None]]:
        return [texts[k][0] for k in reps.text_key], [texts[k][1] for k in reps.text_key]

    out = deduplicate(df, load, NearDupParams())
    assert out.survivor.tolist() == ["reddit:a"] * 3 + ["reddit:b", "reddit:a"]
    assert out.drop_reason.tolist() == [None, "exact_duplicate", "near_duplicate", None, "near_duplicate"]
    assert out.size.tolist() == [4, 4, 4, 1, 4]
    assert out.also_in[0] == ["bfinan_qa", "qa_jokes"] and out.also_in[3] == [] and out.also_in[1] is None
    # any input order gives the same survivors
    rev = df.iloc[::-1].reset_index(drop=True)
    out2 = deduplicate(rev, load, NearDupParams())
    assert out2.survivor.tolist()[::-1] == out.survivor.tolist()
    # exact only
    exact = deduplicate(df, load, None)
    assert exact.drop_reason.tolist() == [None, "exact_duplicate", "exact_duplicate", None, None]  # "other:x" < "qa:2"


def test_split_groups_join_setups_and_clusters() -> None:
    group = pd.Series(["g3", "g1", "g2", "g4", "g3"], index=[10, 11, 12, 13, 14])
    cluster = pd.Series([0, 1, 1, 3, 4], index=group.index)  # 11 and 12 are one joke; 10 and 14 share a setup
    assert split_groups(group, cluster).tolist() == ["g3", "g1", "g1", "g4", "g3"]


def _pairs_at(jaccard_shared: int, own: int, n_pairs: int, seed: int) -> np.ndarray:
    """MinHash signatures (224 columns) of ``n_pairs`` pairs of random shingle sets sharing ``jaccard_shared``
    hashes, each with ``own`` more of its own: rows ``2i`` and ``2i + 1`` are a pair."""
    rng = np.random.default_rng(seed)
    size = jaccard_shared + own
    hashes = rng.choice(1 << 31, size=n_pairs * (jaccard_shared + 2 * own), replace=False).astype(np.uint32)
    rows = []
    for i, lo in enumerate(range(0, len(hashes), jaccard_shared + 2 * own)):
        block = hashes[lo : lo + jaccard_shared + 2 * own]
        shared = block[:jaccard_shared]
        rows += [np.sort(np.r_[shared, block[jaccard_shared : jaccard_shared + own]])]
        rows += [np.sort(np.r_[shared, block[jaccard_shared + own :]])]
        assert i < n_pairs
    offsets = np.arange(len(rows) + 1, dtype=np.int64) * size
    return mh.signatures(mh.Shingles(offsets, np.concatenate(rows)), 224, seed=1, threads=1)


def test_the_wider_pre_tier_rejects_far_pairs_and_keeps_pairs_at_the_threshold() -> None:
    # pairs exactly at the default threshold 0.55 (110 shared of 200) are lost with probability ~2e-4 per tier
    sig = _pairs_at(110, 45, 20_000, seed=3)
    a, b = np.arange(0, len(sig), 2), np.arange(1, len(sig), 2)
    assert np.mean(~pre_plausible(sig[:, :PRE_COLUMNS], a, b, 0.55)) < 1e-3
    # pairs at Jaccard 0.25 (50 shared of 200): the 32-column tier keeps about half, the 96-column one ~0.3%
    sig = _pairs_at(50, 75, 20_000, seed=4)
    kept = pre_plausible(sig[:, :PRE_COLUMNS], a, b, 0.55)
    first_tier_only = pre_plausible(sig[:, :32], a, b, 0.55)
    assert first_tier_only.mean() > 0.3
    assert kept.mean() < 0.02
    assert not (kept & ~first_tier_only).any()


def test_staged_components_equal_scipys_on_the_whole_graph(tmp_path: Path) -> None:
    """Clusters (cluster edges) and split groups (those plus group edges), the edge files read one at a time and
    groups built from the clusters, equal scipy's components of the whole graphs."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    from jokemine.cleaning.clusters import LINK_EDGE_SCHEMA, ComponentTask, components
    from jokemine.cleaning.near_stages import LABEL_SCHEMA
    from jokemine.cleaning.shuffle import Work

    rng = np.random.default_rng(0)
    ids = rng.integers(0, 2**63, 5000, dtype=np.uint64)
    work = Work(str(tmp_path), 3)

    def edges(k: int) -> pd.DataFrame:
        i = rng.integers(0, len(ids), (k, 2))
        return pd.DataFrame({"a": ids[i[:, 0]], "b": ids[i[:, 1]]})

    e1, e2, g = edges(1500), edges(800), edges(700)
    for name, df in (("e1", e1), ("e2", e2), ("g", g)):
        work.write(name, "x", df, LINK_EDGE_SCHEMA)
    components(ComponentTask(work, ("e1", "e2"), ("g",), "labels"))
    got = work.read_all("labels", LABEL_SCHEMA)

    def smallest(df: pd.DataFrame) -> dict[int, int]:
        nodes = np.unique(np.r_[df["a"], df["b"]])
        ia, ib = np.searchsorted(nodes, df["a"]), np.searchsorted(nodes, df["b"])
        graph = coo_matrix((np.ones(len(ia)), (ia, ib)), shape=(len(nodes), len(nodes)))
        comp = connected_components(graph, directed=False)[1]
        low = np.full(comp.max() + 1, np.iinfo(np.uint64).max, np.uint64)
        np.minimum.at(low, comp, nodes)
        return dict(zip(nodes.tolist(), low[comp].tolist(), strict=True))

    clusters, groups = smallest(pd.concat([e1, e2])), smallest(pd.concat([e1, e2, g]))
    assert len(got) == len(groups) > 3000 and len(set(got["group"])) < len(set(got["cluster"]))
    for node, cluster, group in zip(got["node"].tolist(), got["cluster"].tolist(), got["group"].tolist(), strict=True):
        assert clusters.get(node, node) == cluster and groups[node] == group


def test_cluster_corpus_leaves_thread_replies_out_of_the_search_as_the_pipeline_does() -> None:
    """Two real replies under one r/AskReddit post (tests/data/near_dup_heldout_2.csv, labeled diff) share the post
    as setup: searched, they would be joined; as replies only their exact copies join them."""
    from jokemine.cleaning.dedup_eval import cluster_corpus

    setup = "If you're belly button was a real button, what would you want it to do?"
    punch = ["Every time I push it I instantly shit myself", "every time I push it, I heal myself"]
    binary = "There are 10 types of people in the world: those who understand binary and those who don't."
    corpus = pd.DataFrame(
        {
            "id": ["r1", "r2", "r3", "p1", "p2"],
            "text": [f"{setup}\n{punch[0]}", f"{setup}\n{punch[1]}", f"{setup}\n{punch[0]}", binary,
                     "There are 10 kinds of people - those who understand binary, and those who don't!"],
            "punchline": [punch[0], punch[1], punch[0], None, None],
            "searched": [False, False, False, True, True],
        }
    )  # fmt: skip
    labels = cluster_corpus(corpus, NearDupParams())[0]
    assert labels[0] != labels[1] and labels[0] == labels[2] and labels[3] == labels[4]
    assert len(set(labels.tolist())) == 3  # the replies' labels are not the searched cluster's
    # a form whose first row is a reply is searched with the punchline of its searched row
    first_reply = pd.concat([corpus.iloc[[3]].assign(punchline="x", searched=False), corpus.iloc[3:]])
    assert len(set(cluster_corpus(first_reply, NearDupParams())[0].tolist())) == 1
    joined = cluster_corpus(corpus.assign(searched=True), NearDupParams())[0]
    assert joined[0] == joined[1] == joined[2]
