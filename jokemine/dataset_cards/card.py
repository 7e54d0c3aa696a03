"""The dataset card (``README.md`` of a release): YAML metadata Hugging Face ``datasets`` reads, and a body
with the sources, counts, processing and schema.

The YAML follows the Hub dataset card spec (https://huggingface.co/docs/hub/datasets-cards) and is built with
``huggingface_hub.DatasetCardData``; ``configs[].data_files`` (https://huggingface.co/docs/hub/datasets-manual-
configuration) is what lets ``load_dataset("<release dir>", "<config>")`` find each config's splits.
"""

from __future__ import annotations

from typing import Any

from huggingface_hub import DatasetCard, DatasetCardData

from jokemine.config import Config
from jokemine.schema import GROUPED_FIELDS, RELEASE_CONFIGS, markdown_table

CONFIG_DOCS = {
    "setup_punch": "two-part jokes: `setup` -> `punchline` (Reddit title -> body, question -> answer)",
    "qa": "question -> answer jokes (`question`, `answer`)",
    "jokes": "one row per joke with the whole `text` and every field",
    "setup_punches": "one row per setup with its distinct punchlines and their scores (rating models)",
    "preference": "`prompt`, `chosen`, `rejected`: two punchlines of one setup, scores a margin apart (reward models)",
}


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


def card_data(cfg: Config, counts: dict[str, dict[str, int]], languages: list[str]) -> DatasetCardData:
    """YAML metadata; ``counts[config][split]`` = rows (configs/splits with no rows are left out)."""
    configs = []
    for name in RELEASE_CONFIGS:
        splits = {s: n for s, n in counts.get(name, {}).items() if n}
        if not splits:
            continue
        entry: dict[str, Any] = {"config_name": name}
        if name == "setup_punch" or (not configs and "setup_punch" not in counts):
            entry["default"] = True
        entry["data_files"] = [{"split": s, "path": f"{name}/{s}-*"} for s in splits]
        configs.append(entry)
    total = sum(counts.get("jokes", {}).values())
    return DatasetCardData(
        pretty_name=cfg.publish.pretty_name,
        license=cfg.publish.license,
        language=languages or None,
        size_categories=[size_category(total)],
        task_categories=["text-generation", "text-classification"],
        tags=["humor", "jokes", "reddit"],
        configs=configs,
    )


def render(
    cfg: Config,
    version: str,
    counts: dict[str, dict[str, int]],
    languages: list[str],
    clean_stats: dict[str, Any],
) -> str:
    """The whole ``README.md`` text of a release."""
    data = card_data(cfg, counts, languages)
    splits = ["train", "validation", "test"]
    lines = [
        f"# {cfg.publish.pretty_name}",
        "",
        cfg.publish.description,
        "",
        f"Release `{version}`, built by jokemine from the sources below.",
        "",
        "## Load it",
        "",
        "```python",
        "from datasets import load_dataset",
        "",
    ]
    for c in data.configs or []:
        name = c["config_name"]
        arg = "" if c.get("default") else f', "{name}"'
        lines.append(f'{name} = load_dataset("<path or repo id>"{arg})')
    lines += [
        "```",
        "",
        "## Configs and splits",
        "",
        "| config | what | " + " | ".join(splits) + " |",
        "|---|---|" + "---|" * len(splits),
    ]
    for name in RELEASE_CONFIGS:
        if name in counts:
            lines.append(
                f"| `{name}` | {CONFIG_DOCS[name]} | "
                + " | ".join(f"{counts[name].get(s, 0):,}" for s in splits)
                + " |"
            )
    lines += [
        "",
        "Splits are assigned by a salted hash of the normalized setup (or question, or text), so every "
        "punchline of one setup is in one split and a joke keeps its split in later releases.",
        "",
        "## Sources",
        "",
        "| source | read | kept | license / terms |",
        "|---|---|---|---|",
    ]
    per_source = clean_stats.get("per_source", {})
    for src in cfg.sources:
        s = per_source.get(src.name)
        if not s:
            continue
        terms = " ".join(x for x in (src.license, src.terms) if x) or "not stated"
        lines.append(f"| `{src.name}` | {s['read']:,} | {s['kept']:,} | {terms} |")
    lines += [
        "",
        "Reddit content is user-generated and falls under Reddit's Data API terms, which restrict "
        "using it to train machine-learning models without Reddit's permission; several source dumps are "
        "for research use only. Check each source's terms before use.",
        "",
        "## Processing",
        "",
        "ftfy + NFC + whitespace normalization; Reddit markdown and HTML entities to plain text; trailing "
        '"Edit:" notes removed; deleted/removed, moderator and link posts dropped; length bounds; exact '
        "duplicates across sources removed (the best-scored copy kept); language identified with "
        "langdetect (seeded).",
        "",
        "| drop reason | records |",
        "|---|---|",
    ]
    for reason, n in clean_stats.get("drop_reasons", {}).items():
        lines.append(f"| `{reason}` | {n:,} |")
    totals = clean_stats.get("totals", {})
    lines += [
        "",
        f"Read {totals.get('read', 0):,} records, kept {totals.get('kept', 0):,}.",
        "",
        "## Fields",
        "",
        markdown_table(),
        "",
    ]
    for name, fields in GROUPED_FIELDS.items():
        if name in counts:
            lines += [f"Config `{name}`:", "", markdown_table(fields), ""]
    body = "\n".join(lines)
    return DatasetCard("---\n" + data.to_yaml() + "\n---\n\n" + body).content
