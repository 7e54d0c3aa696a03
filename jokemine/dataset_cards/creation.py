"""The dataset card's prose sections that follow the Hub's dataset card template
(``huggingface_hub/templates/datasetcard_template.md``, https://huggingface.co/docs/hub/datasets-cards): Uses,
Curation Rationale, source data producers, Annotations, Personal and Sensitive Information, Bias, Risks and
Limitations with Recommendations. Each function returns Markdown lines filled from the config and the clean run's
``stats.json`` (no placeholders); the numbers quoted in :data:`LIMITATIONS` are the README's held-out measurements.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from jokemine.config import Config
from jokemine.scrapers.registry import kind_of

SCORE_KINDS = {
    "upvotes": "Reddit score: up-votes minus down-votes by Reddit users (fuzzed by Reddit), when the origin read it",
    "net_votes": "plus votes minus minus votes on the origin site (anekdot.ru's rating)",
    "likes": "likes by the origin site's users",
    "mean_rating": "mean of the ratings annotators gave (the origin's scale)",
    "caption_votes": "mean vote of caption-contest voters (1 unfunny, 2 somewhat funny, 3 funny), counts in "
    "`vote_counts`",
}
"""What each ``score_kind`` of :data:`jokemine.schema.SCORE_KINDS` means, for the Annotations section."""

DIRECT_USE = [
    "- **Joke generation**: fine-tune a causal or seq2seq LM (GPT-2, ruGPT-3, T5) on `setup_punch` (setup -> "
    "punchline) or `qa` (question -> answer); the Baseline section below is such a fine-tune of this release.",
    "- **Humor rating**: regress `score_norm` (per-source percentile) from `jokes`, or rank the punchlines of one "
    "setup in `setup_punches` (best first).",
    "- **Reward models and preference tuning** (DPO, RLHF): `preference` has TRL's `prompt`/`chosen`/`rejected` "
    "columns with both raw scores, dates and `score_ratio`.",
    "- **Research** on joke structure, humor across sources, languages and time (`structure`, `created_at`, `lang`).",
]

OUT_OF_SCOPE = [
    "- Commercial model training where a source's terms forbid it: Reddit's Data API terms restrict training "
    "machine-learning models on Reddit content without Reddit's permission, and several upstream dumps are for "
    "research only (see Dataset Sources).",
    "- Reading scores as absolute funniness, or comparing raw scores across sources, audiences or years: they are "
    "votes of one audience at one time; use `score_norm` within a source.",
    "- Deploying a generator trained on this data without a safety filter: many jokes are offensive and `nsfw` "
    "misses much of it.",
    "- Re-identifying authors: `author_hash` exists to group a user's jokes, not to find the user.",
    "- Claims about humor in general: the sources are a few communities, mostly English-speaking Reddit users "
    "and Russian anecdote sites.",
]

CURATION_RATIONALE = (
    "People who train joke generators and humor raters need many clean, deduplicated jokes with like scores, "
    "shaped as setup -> punchline and question -> answer pairs, and setups with many scored punchlines. Public "
    "joke sets are scattered across formats, overlap heavily (the same joke reposted for years), carry site "
    "markup, edit notes and bot text, and rarely keep their scores comparable. jokemine mines the sources below, "
    "normalizes and filters them with a counted reason for every dropped record, removes exact and near-duplicate "
    "copies across sources (keeping the best-scored one), splits one-piece jokes into setup and punchline, "
    "normalizes scores per source and month, and assigns splits so that no joke or setup leaks across them."
)

PERSONAL_INFO = [
    "- **Authors are pseudonymised, not anonymised**: `author_hash` is BLAKE2b-64 of a secret per-data-dir salt "
    "and the author name; raw user names never leave the scrape's raw files, and the salt is not published. The "
    "same author gets the same hash within this release series, so a user's jokes can be linked to each other.",
    "- **Identifiers in texts** (e-mail addresses, links, `u/` mentions and @handles, phone numbers) are replaced "
    "by placeholders (`[email]`, `[url]`, `[user]`, `[phone]`) before release (counts below). Names "
    "of public figures and people mentioned in jokes are kept: they are the jokes' content.",
    "- **Sensitive content**: jokes touch on religion, ethnicity, sexuality, health and politics, often "
    "offensively; `nsfw` marks Reddit's over-18 posts (`nsfw_over_18`) and word-list hits (`nsfw_wordlist`), "
    "nothing is removed for it.",
]

LIMITATIONS = [
    "- Humor is subjective and scores measure one audience: Reddit votes reflect each subreddit's users (mostly "
    "young, English-speaking, US-centric) and the time a post was seen; ratings are a few annotators' means. "
    "`score_norm` makes scores comparable within a source and month, not across audiences.",
    "- Many jokes are offensive (sexist, racist, about violence). `nsfw` marks Reddit's over-18 posts and "
    "English/Russian word-list hits (each signal is its own column); word lists miss innuendo and offensive jokes "
    "without swear words, and Reddit posters often leave over_18 off.",
    "- Near-duplicate removal is approximate: on held-out hand-labeled real pairs, precision 0.97 and recall 0.80 "
    "(README, Deduplication); reworded reposts remain, and template families (light bulbs, 'walks into a bar') "
    "are kept as different jokes.",
    "- Setup/punchline boundaries of one-piece jokes come from a learned model over rule candidates: exactly right "
    "on 0.77 of held-out English and 0.76 of held-out Russian labeled texts; `structure_confidence` says how sure "
    "it is (reliability figure below). Two-part origins (Reddit title/body, Q&A tables) keep the origin's split.",
    "- Language ID is unreliable on very short texts: texts outside the configured languages are kept as `und`.",
    "- Sources cover the years of their dumps only (see the sources table); the data is not a sample of humor in "
    "general.",
]

RECOMMENDATIONS = [
    "- Filter on `nsfw` (and your own classifier) before training anything user-facing.",
    "- Use `score_norm` (or `preference` pairs from one source) rather than raw `score` across sources; for "
    "thread replies, `score_norm_thread` ranks a reply among its siblings.",
    "- Keep the splits: they are built so that no setup or duplicate cluster is in two splits, and stay stable "
    "across releases; pin `revision=` to the release you evaluated on.",
    "- Check each source's terms in Dataset Sources before any use beyond research; drop sources you may not use "
    "by `source`.",
]


def producers(cfg: Config) -> list[str]:
    """ "Who are the source data producers?": one bullet per enabled source (its ``producers``, else its kind's
    ``card_producers``, else the upstream it names)."""
    groups: dict[str, list[str]] = defaultdict(list)
    for src in cfg.sources:
        if not src.enabled:
            continue
        text = src.producers or kind_of(src).card_producers
        if not text:
            upstream = src.source_dataset or src.homepage
            text = (
                f"The compilers of {upstream} and the people whose jokes they collected (see the source's terms)."
                if upstream
                else "Not stated by the configuration: see the source's terms in Dataset Sources."
            )
        groups[text].append(src.name)
    return [f"- {', '.join(f'`{n}`' for n in names)}: {text}" for text, names in groups.items()]


def annotations_section(stats: dict[str, Any]) -> list[str]:
    """The Annotations section (process and annotators): the scores are the origin's votes, per score kind with the
    sources and records that carry it; jokemine's own labels are machine labels. ``stats``: the card statistics
    (:func:`jokemine.dataset_cards.stats.card_stats`)."""
    kinds: dict[str, list[tuple[str, int]]] = defaultdict(list)
    for source, s in stats.get("sources", {}).items():
        for kind in s.get("scores", {}):
            kinds[kind].append((source, int(s.get("records", 0))))
    lines = [
        "### Annotations",
        "",
        "#### Annotation process",
        "",
        "jokemine hires no annotators. The scores are the annotations: votes and ratings the origin collected from "
        "its users, kept raw in `score` (with `score_kind`, and `votes_up`/`votes_down`/`vote_counts` where the "
        "origin gives them) and as `score_norm`, their percentile within source and month.",
        "",
        "| score_kind | what it is | sources |",
        "|---|---|---|",
    ]
    for kind, rows in sorted(kinds.items()):
        names = ", ".join(f"`{s}`" for s, _ in rows)
        lines.append(f"| `{kind}` | {SCORE_KINDS.get(kind, kind)} | {names} |")
    unscored = [s for s, v in stats.get("sources", {}).items() if not v.get("scores")]
    if unscored:
        lines += ["", f"Sources without scores (`score` null): {', '.join(f'`{s}`' for s in unscored)}."]
    lines += [
        "",
        "Machine labels added by jokemine: `lang` (fastText lid.176), `structure` and `structure_confidence` (a "
        "learned boundary model), `nsfw_wordlist` (word lists), `dup_cluster` (MinHash LSH, verified Jaccard).",
        "",
        "#### Who are the annotators?",
        "",
        "The users of each origin who voted (see the source data producers above); for rated datasets, the "
        "annotators their authors recruited.",
        "",
    ]
    return lines


def pii_counts(clean_stats: dict[str, Any]) -> list[str]:
    """One line: identifiers replaced by placeholders per kind, summed over sources (none: a line saying so)."""
    total: dict[str, int] = defaultdict(int)
    for s in clean_stats.get("per_source", {}).values():
        for kind, n in (s.get("pii") or {}).items():
            total[kind] += int(n)
    if not any(total.values()):
        return ["", "Identifiers replaced in this release: none found.", ""]
    found = ", ".join(f"{k} {v:,}" for k, v in sorted(total.items()) if v)
    return ["", f"Identifiers replaced in this release, by kind: {found}.", ""]
