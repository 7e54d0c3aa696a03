"""`make scrape clean publish CONFIG=configs/real-offline.toml DATA_DIR=<tmp>` on the full real files."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import zstandard

from jokemine.cleaning import minhash as mh
from jokemine.cleaning.dedup import (
    NearDupParams,
    dedup_punchline,
    join_labels,
    near_duplicate_clusters,
    near_duplicate_labels,
    survivors,
)
from jokemine.cleaning.dedup_eval import cluster_corpus, labeled_corpus, pair_metrics
from jokemine.cleaning.text import fix_text, normalize_key
from jokemine.config import load_config
from jokemine.schema import RELEASE_CONFIGS
from jokemine.splits.assign import split_of
from tests.conftest import REPO

pytestmark = pytest.mark.e2e

READ = {
    "rjokes": 91484,
    "reddit_subs": 13078,
    "reddit_daily": 148,
    "taivop_sample": 48,
    "qa_jokes": 38233,
    "bfinan_qa": 38269,
    "bfinan_lightbulbs": 2640,
    "cleancomedy_en": 1000,
    "cleancomedy_ru": 1000,
    "askreddit_thread": 1516,  # top-level replies of the URS thread
    "praw_threads": 720,  # top-level replies of the humour subreddits' threads in PRAW's cassettes
}


@pytest.fixture(scope="module")
def run(real_pipeline: dict[str, object]) -> dict[str, object]:
    data = real_pipeline["data"]
    assert isinstance(data, Path)
    clean_dir = (data / "clean" / "latest").resolve()
    clean = pq.ParquetDataset(sorted(clean_dir.glob("part-*.parquet"))).read().to_pandas()
    return {
        "data": data,
        "stdout": real_pipeline["stdout"],
        "stderr": real_pipeline["stderr"],
        "clean": clean,
        "stats": json.loads((clean_dir / "stats.json").read_text()),
        "release": (data / "releases" / "latest").resolve(),
    }


def _dump(real: Path, name: str) -> list[dict]:
    dctx = zstandard.ZstdDecompressor(max_window_size=2**31)
    with open(real / "kampta-reddit-jokes" / name, "rb") as fh:
        return [json.loads(line) for line in io.BufferedReader(dctx.stream_reader(fh))]


def test_rows_read_per_source(run: dict) -> None:
    assert "fontManager" not in run["stderr"]  # matplotlib's first-run log line stays out of the output
    per_source = run["stats"]["per_source"]
    assert {k: v["read"] for k, v in per_source.items()} == READ
    for name, n in READ.items():
        quarantined = 1 if name == "qa_jokes" else 0  # one malformed CSV row (line 24)
        assert f"{name}: ok: {n} records stored" in run["stdout"]
        assert f"{quarantined} quarantined" in run["stdout"].split(f"{name}: ok:")[1].splitlines()[0]
    # the daily arrays repeat posts of the NDJSON dumps: one record per Reddit id
    assert run["stats"]["totals"]["merged_same_id"] == 149
    # every daily-array post is also in the NDJSON dumps, which are listed first: they win the merge
    assert run["stats"]["per_source"]["reddit_daily"]["merged_same_id"] == 148
    clean = run["clean"]
    assert clean.id.is_unique and len(clean) == sum(READ.values()) - 149


def _sentinel(text: str) -> str | None:
    """ "deleted"/"removed" when ``text`` is Reddit's sentinel, any case, with punctuation or an "Edit:" note after
    it ("[deleted]\n\nEDIT: Yes! That's the joke!", "[Removed]"); the test's own reading of the rule."""
    head = re.split(r"(?i)\bedit\b", text)[0]
    m = re.fullmatch(r"\W*\[\s*(deleted|removed)[^\]]*\]\W*", head.strip(), re.IGNORECASE)
    return m.group(1).lower() if m else None


def test_deleted_and_removed_posts_dropped_with_their_reason(run: dict, real: Path) -> None:
    expected = {}
    for d in _dump(real, "r_jokes_submissions.ndjson.zst"):
        body, title = d["selftext"], d["title"]
        if title in ("[deleted]", "[removed]"):
            expected[f"reddit:{d['id']}"] = title.strip("[]")
        elif body and _sentinel(body):
            expected[f"reddit:{d['id']}"] = _sentinel(body)
    assert len(expected) == 55  # 45 exact sentinels, 10 with other case, punctuation or an "Edit:" note
    clean = run["clean"].set_index("id")
    got = clean.loc[list(expected), "drop_reason"].to_dict()
    assert got == expected
    rj = run["clean"][run["clean"].source == "rjokes"]
    assert (rj.drop_reason == "deleted").sum() == 40 and (rj.drop_reason == "removed").sum() == 15
    # Reddit-derived tables carry the sentinels too: bfinan Q/A rows with a [deleted]/[removed] side
    with open(real / "bfinan-qa-jokes" / "reddit_qa.csv", encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    sentinel = [r for r in rows if _sentinel(r["Answer"]) or r["Question"].strip() in ("[deleted]", "[removed]")]
    bf = run["clean"][run["clean"].source == "bfinan_qa"]
    assert len(sentinel) == 52 and bf.drop_reason.isin(["deleted", "removed"]).sum() == len(sentinel)


# The defect classes of text left dirty (issue 19), as the test reads them: independent of the cleaning's own
# patterns (jokemine.cleaning.notes), written from the rows found in the real release before the fix.
DEFECTS = {
    "edit note": (r"(?im)^[\s*_(\[~\"'-]*(?:ninja |obligatory |quick )?(?:edit|update|upd)\s*\d*\s*[*_)\]]*\s*:|"
                  r"(?:[.!?)]\s*|\s)\(?\*?edit\s*\d*\s*:", ("text",)),
    "sentinel body": (r"(?i)^\W*\[\s*(?:removed|deleted)[^\]]*\]\W*$", ("punchline", "body", "answer")),
    "removed by reddit": (r"(?i)removed by reddit", ("text",)),
    "markdown bold": (r"(?<![\w*])\*\*[^*\n]*[A-Za-z][^*\n]*\*\*|(?<!\w)__[A-Za-z][^_\n]*__", ("text",)),
    "markdown strike": (r"~~[^~\s][^~\n]*~~", ("text",)),
    "markdown link": (r"\]\s*\(\s*(?:https?:|www\.|\[url\])|\[[^\]\n]*\]\(\s*\)", ("text",)),
    "signature": (r"(?im)^\W*(?:sources?|credits?)\s*(?::|$)|"
                  r"^\W*(?:courtesy of|stolen from|x-?post|credit goes to|credits? to)\b", ("text",)),
    "sign-off": (r"(?i)(?:see|show|let) myself out|get my coat|\bba+ ?dum+ ?ts", ("text",)),
    "title tag": (r"(?i)^\s*[\[(](?:oc|nsfw|serious|long|repost|meta|spoilers?)[\])]|[\[(](?:oc|nsfw)[\])]\s*$",
                  ("setup", "title")),
    "label title": (r"(?i)^\W*spoiler alert\W*$", ("setup",)),
    "placeholder setup": (r"^(?:\W|_|\[url\]|\[user\])*$", ("setup",)),
}  # fmt: skip


def test_release_scan_finds_no_text_defect(run: dict) -> None:
    """Every published row of the real release, scanned for each defect class: none left, except a sign-off
    that is the whole punchline of a question (the joke itself: "... out-of-body experience?" / "I'll see myself
    out")."""
    jokes = pq.read_table(run["release"] / "jokes").to_pandas()
    assert len(jokes) > 95_000
    found = {}
    for name, (pattern, fields) in DEFECTS.items():
        rx = re.compile(pattern)
        hit = pd.Series(False, index=jokes.index)
        for f in fields:
            hit |= jokes[f].notna() & jokes[f].fillna("").str.contains(rx)
        if name == "sign-off":
            punch_only = jokes.punchline.fillna("").str.fullmatch(r"(?i)\W*i'?ll (?:see|show) myself out.{0,20}")
            hit &= ~(punch_only & jokes.setup.fillna("").str.endswith("?"))
        found[name] = jokes.id[hit].tolist()
    assert found == {name: [] for name in DEFECTS}
    two = jokes[jokes.setup.notna() & jokes.punchline.notna()]
    assert len(two) > 50_000 and not (two.setup.map(normalize_key) == two.punchline.map(normalize_key)).any()


def test_text_cleaned_per_defect_class_on_real_rows(run: dict) -> None:
    """One real row (or more) per defect class, as published: the joke kept, the note, tag or markup gone."""
    c = run["clean"].set_index("id")
    # edit notes: at the start of a line, inline in a table row whose line breaks were lost, the only body
    assert c.loc["bfinan_qa:55533d99672bee76", "answer"] == "Four words."
    assert c.loc["bfinan_qa:38cfac115420107f", "answer"] == "Because he goes to Pizza Hutt a lot."
    assert c.loc["reddit:2z4cpk", "text"] == "The worlds worst joke..."  # body "EDIT: Thanks for the gold!"
    # sentinel bodies: dropped; a sentinel inside a sentence is the joke
    assert c.loc[["bfinan_qa:36e229b6fd6e24e3", "bfinan_qa:128fec0fd0459202"], "drop_reason"].tolist() == [
        "removed", "deleted"
    ]  # fmt: skip
    assert c.loc["reddit:3cx236", "punchline"] == "The [deleted] was delicious!"
    # markdown leftovers: a link with parentheses in its URL, one with a space before "(", a nested "[...]"
    assert c.loc["reddit:1pfqiz", "punchline"] == "...the mace"
    assert c.loc["reddit:21m5z4", "text"].endswith("Video Interview with Q&A [54:26]")
    assert c.loc["reddit:126ver", "setup"] == "What do you call it when an asian family has a feud"  # **title**
    assert c.loc["reddit:ugyof", "punchline"].startswith("CandY\n")  # Cand**Y**
    # signatures and sign-offs
    assert c.loc["reddit:2188x7", "punchline"] == "Ovalsheen."  # "Credit goes to my cousin on this one."
    assert c.loc["reddit:2wmo0x", "punchline"] == "I don't know, but you better keep it away from your ass!"
    assert c.loc["reddit:1l7pm9", "punchline"] == "A bad Habit."  # "I'll see myself out."
    assert c.loc["reddit:3124ym", "punchline"] == "i'll see myself out...."  # after a question: the punchline
    # label titles: tags off the setup and kept as tags; "Spoiler Alert" is no setup
    assert c.loc["reddit:19plly", "setup"].startswith("Did you hear about the two fruits")
    assert "OC" in list(c.loc["reddit:19plly", "tags"])
    assert c.loc["reddit:2q5olg", "structure"].startswith("body:")
    # setup == punchline: a question without its answer
    assert c.loc["bfinan_qa:7659cbcf0efbbf4f", "drop_reason"] == "incomplete"
    # a placeholder setup ("[url]" line before a joke): one text, no setup
    assert c.loc["reddit:10e3nu", "kind"] == "single" and pd.isna(c.loc["reddit:10e3nu", "setup"])


def test_records_with_u2028_parsed_intact(run: dict, real: Path) -> None:
    clean = run["clean"].set_index("id")
    n = 0
    for d in _dump(real, "r_jokes_submissions.ndjson.zst"):
        raw = d["title"] + d["selftext"]
        if "\u2028" not in raw:
            continue
        n += 1
        rec = clean.loc[f"reddit:{d['id']}"]
        tail = fix_text(max(raw.split("\u2028")[1:], key=len))[:25]
        assert tail and tail in rec.text, d["id"]  # the part after U+2028 is in the same record
        assert "\u2028" not in rec.text  # normalized to a newline
    assert n == 14


def test_qa_rows_duplicating_reddit_posts_are_caught_across_sources(run: dict) -> None:
    clean = run["clean"].set_index("id")
    hipster = clean.loc["qa_jokes:24"]
    assert hipster.drop_reason in ("exact_duplicate", "near_duplicate") and hipster.dup_cluster.startswith("reddit:")
    survivor = clean.loc[hipster.dup_cluster]
    assert pd.isna(survivor.drop_reason) and survivor.dup_cluster == hipster.dup_cluster
    assert clean.loc["reddit:330i7d"].dup_cluster == hipster.dup_cluster
    assert normalize_key(clean.loc["reddit:330i7d"].text) == normalize_key(hipster.text)
    qa = run["clean"][run["clean"].source == "qa_jokes"]
    to_reddit = qa[qa.dup_cluster.str.startswith("reddit:", na=False) & qa.drop_reason.str.endswith("duplicate")]
    assert len(to_reddit) > 17000
    # every cluster keeps exactly one member, and it is the best-scored one
    kept = run["clean"][run["clean"].drop_reason.isna()]
    assert kept.groupby("dup_cluster").size().max() == 1
    assert (kept.dup_cluster == kept.id).all()
    dups = run["clean"][run["clean"].drop_reason.isin(["exact_duplicate", "near_duplicate"])]
    assert dups.dup_cluster.isin(set(kept.id) | set(run["clean"][run["clean"].drop_reason == "language"].id)).all()
    members = run["clean"][run["clean"].dup_cluster.notna()]
    best = members.sort_values(["score_norm", "created_at", "id"], ascending=[False, True, True], na_position="last")
    assert (best.groupby("dup_cluster").id.first() == best.groupby("dup_cluster").dup_cluster.first()).all()


def test_same_joke_in_reddit_kaggle_qa_bfinan_and_cleancomedy_is_one_cluster(run: dict) -> None:
    clean = run["clean"].set_index("id")
    ids = ["reddit:1c51aq", "qa_jokes:33696", "bfinan_qa:41f22643b4fd3bff", "cleancomedy_en:131e98189ca85345"]
    rows = clean.loc[ids]
    assert rows.text.str.contains("haunted restaurant").all()
    assert rows.dup_cluster.nunique() == 1 and (rows.dup_cluster_size == 4).all()
    survivor = rows.loc[rows.dup_cluster.iloc[0]]
    assert survivor.name == "cleancomedy_en:131e98189ca85345"  # score_norm 0.95 beats r/Jokes' 0.80
    assert list(survivor.also_in) == ["bfinan_qa", "qa_jokes", "rjokes"]
    assert rows.drop(survivor.name).drop_reason.eq("near_duplicate").all()  # crêped vs creped: not exact
    doc = json.loads((run["data"] / "clean" / "latest" / "dedup.json").read_text())
    assert doc["summary"]["removed"]["near_duplicate"] == int((run["clean"].drop_reason == "near_duplicate").sum())
    assert doc["summary"]["cross_source_clusters"] > 30000
    md = (run["data"] / "clean" / "latest" / "dedup.md").read_text()
    assert "## Sample clusters" in md and md.count("### ") == 20
    assert "near-duplicates" in run["stdout"]


def test_near_duplicate_precision_recall_on_labeled_real_pairs(run: dict, real: Path) -> None:
    corpus = labeled_corpus(run["clean"], real)
    labels, res = cluster_corpus(corpus, NearDupParams())
    pairs = pd.read_csv(REPO / "tests" / "data" / "near_dup_pairs.csv")
    # a record the cleaning drops before deduplication is in no cluster: one labeled pair has one (an answer that
    # is only Reddit's "[Removed]", dropped as `removed` since 2026-12-04)
    clean = run["clean"].set_index("id")
    gone = set(clean.index[clean.drop_reason.isin(["deleted", "removed", "incomplete"])])
    keep = ~(pairs.a_id.isin(gone) | pairs.b_id.isin(gone))
    assert (~keep).sum() == 1
    m = pair_metrics(corpus.id, labels, pairs[keep])
    # measured 2026-12-04 (README "Deduplication"): P 0.984 (10 FP), R 0.863 (98 FN) on 980 pairs; the rules before
    # issue 19 (no second pass, no cross containment, mixed containment 0.3): P 0.988 (7 FP), R 0.818 (130 FN)
    assert m.pairs == 980
    assert m.precision >= 0.98 and m.fp <= 12
    assert m.recall >= 0.85 and m.fn <= 105
    assert res.rejected_punchline > 1000  # same setup, other punchline: kept apart


@pytest.fixture(scope="module")
def heldout(run: dict, real: Path) -> tuple[pd.DataFrame, np.ndarray]:
    """The held-out pair sets' corpus (the clean run + wonhyuk + three caption contests) and its default clusters."""
    corpus = labeled_corpus(run["clean"], real, captions=True)
    return corpus, cluster_corpus(corpus, NearDupParams())[0]


def test_near_duplicates_on_held_out_labeled_pairs(heldout: tuple[pd.DataFrame, np.ndarray]) -> None:
    """Issue 19: the held-out pairs (tests/data/near_dup_heldout.csv; corpus with three New Yorker caption contests),
    test half only: the settings were chosen on the dev half."""
    corpus, labels = heldout
    pairs = pd.read_csv(REPO / "tests" / "data" / "near_dup_heldout.csv")
    assert len(pairs) == 805 and (pairs.half == "test").sum() == 394
    assert (pairs.label == pairs.label_2).sum() == 80  # the 80 pairs read twice agreed
    test = pairs[pairs.half == "test"]
    m = pair_metrics(corpus.id, labels, test)
    # measured 2026-12-04: P 0.969 (6 FP), R 0.799 (47 FN), F1 0.876; the targets (P >= 0.97, F1 >= 0.95)
    # are not met (README "Deduplication")
    assert (m.tp, m.fp, m.fn) == (187, 6, 47)  # the rules before issue 19's: 177, 5, 57 (recall 0.756)


def test_near_duplicates_on_second_held_out_set(heldout: tuple[pd.DataFrame, np.ndarray]) -> None:
    """Issue 19: tests/data/near_dup_heldout_2.csv, drawn and labeled after the first held-out set was spent (same
    pool and strata; 133 of its pairs involve replies of a thread, which the search leaves out as the pipeline
    does). Test half only; no setting was chosen on it."""
    corpus, labels = heldout
    pairs = pd.read_csv(REPO / "tests" / "data" / "near_dup_heldout_2.csv")
    assert len(pairs) == 723 and (pairs.half == "test").sum() == 337
    assert pairs.label_2.notna().sum() == 60 and (pairs.label == pairs.label_2).sum() == 59
    replies = set(corpus.id[~corpus.searched])
    assert (pairs.a_id.isin(replies) | pairs.b_id.isin(replies)).sum() == 133
    m = pair_metrics(corpus.id, labels, pairs[pairs.half == "test"])
    # measured 2026-12-04: P 0.941 (8 FP), R 0.825 (27 FN), F1 0.879: below the targets (README "Deduplication")
    assert (m.tp, m.fp, m.fn) == (127, 8, 27)


def test_pipeline_clusters_equal_public_api(run: dict) -> None:
    """The pipeline's clusters are the public API's near-duplicate clusters joined with exact (text_key) ones;
    replies in threads are not searched for near-duplicates (exact ones only)."""
    members = run["clean"][run["clean"].dup_cluster.notna()].reset_index(drop=True)
    searched = (members.structure != "thread_reply").to_numpy()
    punch = list(map(dedup_punchline, members.punchline, members.structure))  # a turn split is one part
    punch_searched = [p for p, s in zip(punch, searched, strict=True) if s]
    near = near_duplicate_clusters(list(members.text[searched]), punchlines=punch_searched)
    labels = np.arange(len(members)) + len(members)  # a reply alone (until joined by its text_key)
    labels[searched] = np.asarray(near)
    api = join_labels(members.text_key.to_numpy(), labels)
    both = pd.DataFrame({"pipeline": members.dup_cluster, "api": api})
    assert both.groupby("api").pipeline.nunique().max() == 1
    assert both.groupby("pipeline").api.nunique().max() == 1
    # and the staged stages pick the in-memory survivors, labels and sizes (issue 17)
    survivor = survivors(members.assign(api=api), "api")
    assert (survivor == members.dup_cluster).all()
    key = members.set_index("id").loc[survivor, "text_key"].to_numpy()
    label = np.where(
        survivor == members.id, None, np.where(key == members.text_key, "exact_duplicate", "near_duplicate")
    )
    reason = members.drop_reason.where(members.drop_reason.isin(["exact_duplicate", "near_duplicate"]), None)
    assert (pd.Series(label).fillna("-") == reason.fillna("-").to_numpy()).all()
    assert (pd.Series(api).map(pd.Series(api).value_counts()).to_numpy() == members.dup_cluster_size.to_numpy()).all()
    assert (reason == "near_duplicate").sum() > 20_000


def test_splits_disjoint_by_setup_group_and_duplicate_cluster(run: dict) -> None:
    kept = run["clean"][run["clean"].drop_reason.isna()]
    assert kept.groupby("group_key").split.nunique().max() == 1
    members = run["clean"][run["clean"].dup_cluster.notna()]
    assert members.groupby("dup_cluster").split_key.nunique().max() == 1
    assert members.groupby("group_key").split_key.nunique().max() == 1
    cfg = load_config(REPO / "configs" / "real-offline.toml")
    sample = kept.sample(500, random_state=0)
    assert all(split_of(g, cfg.splits) == s for g, s in zip(sample.split_key, sample.split, strict=True))
    shares = kept.split.value_counts(normalize=True)
    assert abs(shares["train"] - 0.9) < 0.015 and abs(shares["test"] - 0.05) < 0.015


def test_no_near_duplicate_pair_across_splits(run: dict) -> None:
    """An independent LSH draw (other seed, more sensitive banding) over the released rows finds no pair with
    verified Jaccard >= the threshold (punchline check included) in two different splits."""
    kept = run["clean"][run["clean"].drop_reason.isna()].reset_index(drop=True)
    forms = [mh.shingle_form(t) for t in kept.text]
    punch = [
        mh.shingle_form(p) if isinstance(p, str) else None for p in map(dedup_punchline, kept.punchline, kept.structure)
    ]
    # other permutations; candidate at J=0.55 w.p. > 0.9999. The second pass (J in [0.4, 0.55) with matching
    # punchlines) finds its pairs only as LSH candidates (p = 0.77 at 0.4), so only the first pass is guaranteed.
    params = NearDupParams(seed=7, bands=50, rows=3, low_threshold=0)
    res = near_duplicate_labels(forms, params, punch)
    split = kept.split.to_numpy()
    crossing = [(i, j) for i, j in res.pairs.tolist() if split[i] != split[j]]
    assert crossing == [], kept.loc[[i for p in crossing[:3] for i in p], ["id", "split", "text"]]


def test_load_dataset_opens_every_config_offline(run: dict) -> None:
    from datasets import load_dataset

    release = run["release"]
    manifest = json.loads((release / "MANIFEST.json").read_text())
    kept = run["clean"][run["clean"].drop_reason.isna()]
    for config in ("setup_punch", "qa", "jokes"):
        ds = load_dataset(str(release)) if config == "setup_punch" else load_dataset(str(release), config)
        assert set(ds) == {"train", "validation", "test"}
        assert {s: ds[s].num_rows for s in ds} == manifest["counts"][config]
        assert ds["train"].column_names == RELEASE_CONFIGS[config].column_names
        ids = [i for s in ds for i in ds[s]["id"]]
        assert len(ids) == len(set(ids))  # no id in two splits
    assert sum(manifest["counts"]["jokes"].values()) == len(kept)
    assert sum(manifest["counts"]["qa"].values()) == kept.question.notna().sum()
    sp = load_dataset(str(release))
    # the best-scored of the 135 "... before it was cool" hipster jokes (reddit:330i7d, qa_jokes:24 ... removed)
    split = kept.set_index("id").loc["reddit:j0j3x", "split"]
    row = sp[split].filter(lambda r: r["id"] == "reddit:j0j3x")
    r0 = row[0]
    assert (r0["setup"], r0["punchline"]) == (
        "Why did the hipster's mouth hurt?",
        "Because he ate pizza before it was cool.",
    )
    assert (r0["kind"], r0["source"], r0["score_kind"], r0["lang"]) == ("qa", "rjokes", "upvotes", "en")
    jokes = load_dataset(str(release), "jokes")
    ru = [jokes[s].filter(lambda r: r["source"] == "cleancomedy_ru") for s in jokes]
    assert sum(d.num_rows for d in ru) == 1000  # none dropped: declared Russian, no duplicates
    assert {lang for d in ru for lang in d["lang"]} == {"ru"}


def test_release_card_and_no_raw_usernames(run: dict, real: Path) -> None:
    release = run["release"]
    card = (release / "README.md").read_text()
    assert card.startswith("---\n") and "config_name: setup_punch\n  default: true" in card
    assert "| `rjokes` | reddit_dump | 91,484 |" in card
    authors = {d["author"] for d in _dump(real, "r_cleanjokes_submissions.ndjson.zst")} - {"[deleted]"}
    jokes = pd.concat(pq.read_table(p).to_pandas() for p in (release / "jokes").glob("*.parquet"))
    assert not authors & set(jokes.author_hash.dropna())
    strings = jokes.select_dtypes(["object", "string"]).astype(str)
    for name in list(authors)[:50]:
        if len(name) > 6:
            assert not strings.apply(lambda col, n=name: col.str.fullmatch(n)).any().any()


def test_pii_scrubbed_and_counted(run: dict) -> None:
    from jokemine.cleaning.pii import _EMAIL, _URL, _USER

    pii = {k: v["pii"] for k, v in run["stats"]["per_source"].items() if v["pii"]}
    # measured on this corpus (2026-11-21): links and u/ mentions dominate; 3 dialable phone numbers in all
    # 2026-12-04: fewer links and users since signatures ("Source: <link>", "Credit: u/...") are cut
    assert pii["rjokes"] == {"email": 12, "handle": 34, "phone": 2, "url": 346, "user": 74}
    assert sum(s.get("phone", 0) for s in pii.values()) == 3
    kept = run["clean"][run["clean"].drop_reason.isna()]
    for col in ("text", "setup", "punchline", "title", "body", "question", "answer"):
        values = kept[col].dropna()
        for rx in (_EMAIL, _URL, _USER):
            assert not values.str.contains(rx).any(), (col, rx.pattern)
    assert kept.text.str.contains("[url]", regex=False).sum() > 290


def test_grouped_configs_setup_punches_and_preference(run: dict) -> None:
    """Setups with many punchlines and the preference pairs built from them, checked against the clean records
    and with an independent Jaccard (Python sets of character 5-grams): no pair is a near-duplicate."""
    from datasets import load_dataset

    release = run["release"]
    manifest = json.loads((release / "MANIFEST.json").read_text())
    kept = run["clean"][run["clean"].drop_reason.isna()].set_index("id")
    sp = load_dataset(str(release), "setup_punches")
    pref = load_dataset(str(release), "preference")
    assert {s: sp[s].num_rows for s in sp} == manifest["counts"]["setup_punches"]
    assert {s: pref[s].num_rows for s in pref} == manifest["counts"]["preference"]
    setups = pd.concat([sp[s].to_pandas().assign(split=s) for s in sp], ignore_index=True)
    # measured 2026-12-04 on the real-offline corpus: 135 setups with >= 5 distinct punchlines (3 of them threads)
    assert (setups.num_punchlines >= 5).sum() == 135
    assert manifest["grouped"]["setup_punches"]["setups_by_distinct_punchlines"] == {
        "1": 91448, "2": 1424, "3-4": 390, "5-9": 97, ">=10": 38
    }  # fmt: skip
    belly = setups[setups.setup.str.startswith("If you're belly button was a real button")].iloc[0]
    assert belly.num_punchlines == 1403 and len(belly.punchlines) == 1000  # one thread: hundreds of punchlines
    chicken = setups[setups.setup == "Why did the chicken cross the road?"].iloc[0]
    assert chicken.num_punchlines == 70 and chicken.split == "validation"
    best = chicken.punchlines[0]
    assert (best["id"], best["punchline"]) == ("reddit:1q1nfa", "To see why /r/jokes is screwing in lightbulbs")
    for row in setups.itertuples():
        ids = [p["id"] for p in row.punchlines]
        assert (kept.loc[ids, "split"] == row.split).all()  # a setup's jokes stay in its split
        assert (kept.loc[ids, "group_key"] == row.group_key).all()
        assert len({normalize_key(p["punchline"]) for p in row.punchlines}) == min(row.num_punchlines, 1000)
    pairs = pd.concat([pref[s].to_pandas().assign(split=s) for s in pref], ignore_index=True)
    info = manifest["grouped"]["preference"]
    # 3,036 pairs of reposts and 166 of thread replies (siblings ranked among themselves; SHP's per-post cap only)
    assert len(pairs) == info["pairs"] == 3202 and info["setups"] == 1065
    assert pairs.thread_id.notna().sum() == 166 and pairs.groupby("thread_id").size().max() <= 50
    reposts = pairs[pairs.thread_id.isna()]
    assert (reposts.score_norm_chosen - reposts.score_norm_rejected >= 0.2 - 1e-9).all()
    replies = pairs[pairs.thread_id.notna()]  # siblings are ranked among themselves, by raw score
    assert (replies.score_chosen > replies.score_rejected).all()
    assert (kept.loc[pairs.id_chosen, "split"].to_numpy() == pairs.split.to_numpy()).all()
    assert (kept.loc[pairs.id_rejected, "group_key"].to_numpy() == pairs.group_key.to_numpy()).all()
    for side in ("chosen", "rejected"):  # raw scores and dates of the jokes themselves
        joke = kept.loc[pairs[f"id_{side}"]]
        assert (joke.score.to_numpy() == pairs[f"score_{side}"].to_numpy()).all()
        when, got = joke.created_at.reset_index(drop=True), pairs[f"created_at_{side}"]
        assert ((when == got) | (when.isna() & got.isna())).all() and got.notna().sum() > 2800
    votes = pairs[pairs.score_kind == "upvotes"]
    pos = votes.score_rejected > 0
    assert len(votes) > 2000 and (votes.score_ratio[pos] == votes.score_chosen[pos] / votes.score_rejected[pos]).all()
    assert votes.score_ratio[~pos].isna().all() and (~pos).sum() > 0  # 0 votes: no ratio
    # the split-scaled cap: validation and test lose most pairs of the few huge setups (measured 2026-12-04:
    # 52/74 prompts, caps 1/3, 52/121 pairs); no 10 prompts make more than a quarter of any split
    got = {s: (x["prompts"], x["cap_per_prompt"], x["pairs"]) for s, x in info["splits"].items()}
    assert got == {"train": (932, 50, 2863), "validation": (52, 1, 52), "test": (74, 3, 121)}
    for split, sub in pairs[pairs.thread_id.isna()].groupby("split"):
        per_prompt = sub.groupby("group_key").size().sort_values(ascending=False)
        assert per_prompt.iloc[:10].sum() <= 0.25 * len(sub), split
        assert len(per_prompt) == info["splits"][split]["prompts"]
        assert per_prompt.max() == info["splits"][split]["cap_per_prompt"]

    def grams(s: str) -> set[str]:
        f = mh.shingle_form(s)
        return {f[i : i + 5] for i in range(len(f) - 4)} or {f}

    sides = zip(pairs.chosen, pairs.rejected, strict=True)
    sims = [len(grams(a) & grams(b)) / len(grams(a) | grams(b)) for a, b in sides]
    assert max(sims) < 0.55


def test_shp_preference_rule_on_real_reposts(run: dict) -> None:
    """Stanford SHP's rule on the kept two-part jokes, checked pair by pair against the records: same setup and
    split, vote counts only, both scores >= 2, the chosen one at least twice the votes and posted no earlier."""
    from jokemine.publish.groups import INPUT_COLUMNS, preference_pairs

    clean = run["clean"]
    rows = clean[clean.drop_reason.isna() & clean.setup.notna() & clean.punchline.notna()][INPUT_COLUMNS]
    pairs, stats = preference_pairs(rows, rule="shp")
    kept = rows.set_index("id")
    chosen, rejected = kept.loc[pairs.id_chosen], kept.loc[pairs.id_rejected]
    assert (chosen.group_key.to_numpy() == rejected.group_key.to_numpy()).all()
    assert (chosen.split.to_numpy() == rejected.split.to_numpy()).all()
    assert set(pairs.score_kind) <= {"upvotes", "net_votes", "likes"}
    assert (rejected.score.to_numpy() >= 2).all() and (chosen.score.to_numpy() >= 2 * rejected.score.to_numpy()).all()
    assert (chosen.created_at.to_numpy() >= rejected.created_at.to_numpy()).all()
    assert (pairs.score_ratio >= 2).all()
    # measured 2026-12-04 on the real-offline corpus (the margin rule makes 3,202); threads' siblings give 151
    assert (len(pairs), stats.setups) == (794, 337)
    assert pairs.thread_id.notna().sum() == 151
    # validation and test have fewer than 40 prompts: 1 pair each, the closest to the 25% rule
    caps = [stats.splits[s]["cap_per_prompt"] for s in ("train", "validation", "test")]
    assert caps[1:] == [1, 1] and caps[0] >= 10, caps


def test_nsfw_is_over_18_or_word_lists_and_both_signals_are_kept(run: dict) -> None:
    """Issue 19: ``nsfw`` = over_18 OR the word lists, each signal in its own column (measured 2026-12-03)."""
    stats = {k: v["nsfw"] for k, v in run["stats"]["per_source"].items()}
    assert stats["rjokes"] == {
        "over_18": {"nsfw": 1528, "sfw": 72318},
        "wordlist": {"nsfw": 15548, "sfw": 58298},
        "nsfw": {"nsfw": 16002, "sfw": 57844},
    }
    assert stats["cleancomedy_ru"] == {
        "over_18": {"unknown": 1000},
        "wordlist": {"nsfw": 1, "sfw": 999},
        "nsfw": {"nsfw": 1, "sfw": 999},
    }
    kept = run["clean"][run["clean"].drop_reason.isna()]
    assert kept.nsfw_wordlist.notna().all()  # und texts use the list of their script; no kept record is unknown
    reddit = ["rjokes", "reddit_subs", "askreddit_thread", "praw_threads"]  # replies: their post's over_18
    assert (kept.nsfw_over_18.notna() == kept.source.isin(reddit)).all()
    either = kept.nsfw_over_18.fillna(False).astype(bool) | kept.nsfw_wordlist.astype(bool)
    assert (kept.nsfw.astype(bool) == either).all()
    rj = kept[kept.source == "rjokes"]
    unmarked = rj[rj.nsfw_over_18 == False]  # noqa: E712
    assert (len(unmarked), int(unmarked.nsfw.sum())) == (72318, 14474)  # 20% of over_18 = false rows hit a list
    nsfw_dropped = run["clean"][run["clean"].nsfw.fillna(False)]
    assert nsfw_dropped.drop_reason.isna().sum() == kept.nsfw.sum()  # flagged, never dropped for it


def test_language_id_on_held_out_labeled_texts(run: dict, extra: Path) -> None:
    """The default language ID ([clean] langid = fasttext, langid_prefer = 0.1, chosen on the dev half) on the
    test half of tests/data/langid_labels.csv, texts rebuilt as the pipeline sees them (README "Language ID")."""
    from jokemine.cleaning.langid import detect_batch
    from jokemine.cleaning.text import html_text
    from jokemine.config import CleanConfig

    labels = pd.read_csv(REPO / "tests" / "data" / "langid_labels.csv", dtype=str)
    assert len(labels) == 1834 and labels.half.value_counts().to_dict() == {"test": 938, "dev": 896}
    texts = run["clean"].set_index("id").text
    baneks = json.loads((extra / "baneks-ru" / "baneks_ru_data.json").read_text(encoding="utf-8"))
    labels["text"] = [
        html_text(baneks[int(k)]) if g == "baneks" else texts[k] for g, k in zip(labels.group, labels.key, strict=True)
    ]
    test = labels[labels.half == "test"].copy()
    cfg = CleanConfig()
    test["got"] = detect_batch(test.text.tolist(), cfg.langid_chars, cfg.langid, cfg.languages, cfg.langid_prefer)
    ok = test.got == test.lang
    short_en = test[(test.lang == "en") & test.bucket.isin(["<40", "40-99"])]
    assert (short_en.got == "en").mean() >= 0.995 and len(short_en) == 312  # measured: 311/312
    assert ok[test.lang == "ru"].all() and (test.lang == "ru").sum() == 409
    assert ok[~test.lang.isin(["en", "ru"])].all()  # 17 jokes in other languages keep their language


def test_score_norm_monotonic_in_score_within_cohort(run: dict) -> None:
    kept = run["clean"][run["clean"].score.notna() & run["clean"].drop_reason.isna()]
    cohort = [kept.source, kept.score_kind, kept.created_at.dt.strftime("%Y-%m").fillna("undated")]
    checked = 0
    for _, g in kept.groupby(cohort):
        g = g.sort_values(["score", "score_norm"])
        assert (np.diff(g.score_norm.to_numpy()) >= 0).all()
        assert (g.groupby("score").score_norm.nunique() == 1).all()  # ties share a percentile
        checked += len(g) > 1
    assert checked > 100


def test_card_yaml_snippets_figures_and_counts(run: dict) -> None:
    """The real release's card: YAML parses with the Hub metadata, every load_dataset snippet in it runs, the
    figures are real PNGs, and every count in the card equals the rows in the Parquet files."""
    import re

    import yaml
    from datasets import DatasetDict
    from PIL import Image

    release = run["release"]
    card = (release / "README.md").read_text()
    meta = yaml.safe_load(card.split("---\n")[1])
    for key in ("pretty_name", "license", "language", "size_categories", "task_categories", "tags", "source_datasets"):
        assert meta[key], key
    assert meta["language"] == ["en", "ru"] and meta["size_categories"] == ["10K<n<100K"]
    rows = {}
    for cfg_dir in sorted(p for p in release.iterdir() if p.is_dir() and p.name != "figures"):
        for f in cfg_dir.glob("*.parquet"):
            split = f.name.split("-", 1)[0]
            rows.setdefault(cfg_dir.name, {}).setdefault(split, 0)
            rows[cfg_dir.name][split] += pq.ParquetFile(f).metadata.num_rows
    info = {d["config_name"]: {s["name"]: s["num_examples"] for s in d["splits"]} for d in meta["dataset_info"]}
    assert info == rows and set(rows) == {"setup_punch", "qa", "jokes", "setup_punches", "preference"}
    section = card.split("## Configs and splits")[1].split("\n## ")[0]
    table = re.findall(r"^\| `(\w+)` \| [^|]+ \| ([\d,]+) \| ([\d,]+) \| ([\d,]+) \|$", section, re.M)
    assert {c: dict(zip(("train", "validation", "test"), (int(x.replace(",", "")) for x in n), strict=True))
            for c, *n in table} == rows  # fmt: skip
    assert f"| `rjokes` | reddit_dump | 91,484 | {run['stats']['per_source']['rjokes']['kept']:,} | 2011-01-01" in card

    code = re.search(r"## Load it\n\n```python\n(.*?)```", card, re.S).group(1)
    code = code.replace(f"path/to/releases/{release.name}", str(release))
    scope: dict = {}
    exec(code, scope)
    for config, splits in rows.items():
        ds = scope[config]
        assert isinstance(ds, DatasetDict) and {s: ds[s].num_rows for s in ds} == splits

    for stem in ("lengths", "scores", "per_month", "languages", "clusters", "nsfw"):
        png = release / "figures" / f"{stem}.png"
        assert f"](figures/{stem}.png)" in card
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
        with Image.open(png) as im:
            assert im.width >= 700 and im.height >= 250
    log = json.loads((release / "CHANGELOG.json").read_text())
    assert log["previous"] is None and log["configs"]["jokes"]["added"] == sum(rows["jokes"].values())
