"""The card's "Baseline" section: written by ``jokemine finetune`` from ``validation/metrics.json``.

The section lives between ``<!-- jokemine:baseline -->`` and ``<!-- jokemine:end baseline -->``; ``publish`` writes
a placeholder there and ``finetune`` replaces it (cards without the markers get the section before "## Bias, Risks,
and Limitations" or "## Known limitations and biases", or at the end).
"""

from __future__ import annotations

import re
from typing import Any

START = "<!-- jokemine:baseline -->"
END = "<!-- jokemine:end baseline -->"
BLOCK = re.compile(re.escape(START) + r".*?" + re.escape(END), re.DOTALL)
PLACEHOLDER = (
    f"{START}\nNo baseline yet: `jokemine finetune --release <this folder>` trains one and writes its numbers "
    f"here.\n{END}"
)


def _f(x: float | None, fmt: str = ".3f") -> str:
    return "n/a" if x is None else format(x, fmt)


def render_baseline(m: dict[str, Any]) -> str:
    """The Markdown of the Baseline block (markers included) for the metrics ``m`` (``validation/metrics.json``)."""
    r, t, hw = m["recipe"], m["training"], m["hardware"]
    pair = "question -> answer" if r["config"] == "qa" else "setup -> punchline"
    lines = [
        START,
        f"A causal language model trained on the `{r['config']}` config ({pair}) validates this release "
        f"(`validation/metrics.json`). Model: {m['model']['description']}. Recipe: `<bos> prompt <sep> target <eos>`, "
        f"loss on {'all tokens' if r['loss_on'] == 'all' else 'the target tokens only'}, "
        f"{'packed' if r['packing'] else 'one example per row'} rows of {r['block_size']} tokens, "
        f"{t['steps']:,} steps of {r['batch_size']} rows ({t['epochs']:.2f} epochs, {t['tokens']:,} tokens), "
        f"AdamW lr {r['lr']:g} cosine, seed {r['seed']}"
        + (f", train sample {r['max_train_examples']:,}" if r.get("max_train_examples") else "")
        + (f", eval sample {r['max_eval_examples']:,} per split" if r.get("max_eval_examples") else "")
        + ".",
        "",
        f"Hardware: {hw['count']} x {hw['name']} ({hw['device']}, {hw['dtype']}"
        + (", torch.compile" if hw["compiled"] else "")
        + f"), torch {hw['torch']}, transformers {hw['transformers']}. Training {t['train_s']:.1f} s, "
        f"{t['tokens_per_s']:,.0f} tokens/s" + (f", MFU {t['mfu']:.1%}" if t.get("mfu") is not None else "") + ".",
        "",
        "| split | examples | loss | perplexity | bits/byte | punchline bits/byte | pairing signal (nats/token) |",
        "|---|---|---|---|---|---|---|",
    ]
    rows = dict(m["splits"])
    if m.get("previous_test"):
        rows[f"test of {m['previous_test']['release']}"] = m["previous_test"]
    for name, s in rows.items():
        p = s["pairing"]
        sig = "n/a" if p["signal"] is None else f"{p['signal']:+.3f} ± {p['se']:.3f}"
        lines.append(
            f"| {name} | {s['examples']:,} | {s['loss']:.3f} | {s['perplexity']:.1f} | {s['bpb']:.3f} | "
            f"{s['punchline_bpb']:.3f} | {sig} |"
        )
    per = m["splits"]["test"].get("per_source", {})
    if per:
        lines += ["", "Test bits per byte by source:", "", "| source | examples | bits/byte | punchline bits/byte |",
                  "|---|---|---|---|"]  # fmt: skip
        lines += [f"| {k} | {v['examples']:,} | {v['bpb']:.3f} | {v['punchline_bpb']:.3f} |" for k, v in per.items()]
    c = m.get("comparison")
    lines.append("")
    if c:
        verdict = {True: "**regression**", False: "no regression", None: "not comparable"}[c["regression"]]
        where = f"the test split of {c['previous']}" if c["fixed_test_set"] else "each release's own test split"
        lines.append(
            f"Against {c['previous']} on {where}: bits per byte {_f(c['bpb']['previous'])} -> "
            f"{_f(c['bpb']['current'])}"
            + (f" ({c['bpb']['change']:+.1%}; margin {c['margin']:.0%})" if c["bpb"]["change"] is not None else "")
            + f": {verdict}"
            + (f" (recipe differs: {', '.join(c['recipe_differs'])})." if c["recipe_differs"] else ".")
        )
    else:
        lines.append("No previous baseline to compare with.")
    lines += [
        "",
        "Bits per byte = total loss / (ln 2 x UTF-8 bytes), comparable across tokenizers. The pairing signal is the "
        "punchline loss with setups shuffled across jokes (within source and language) minus with the true setups: "
        "clearly positive when setups and punchlines are correctly paired.",
        END,
    ]
    return "\n".join(lines)


def patch_card(card: str, block: str) -> str:
    """``card`` with its Baseline block replaced by ``block`` (inserted as a "## Baseline" section when absent)."""
    if BLOCK.search(card):
        return BLOCK.sub(lambda _: block, card, count=1)
    heading = re.search(r"^## Baseline[ \t]*\n+", card, re.MULTILINE)
    if heading:
        return card[: heading.end()] + block + "\n\n" + card[heading.end() :]
    section = f"## Baseline\n\n{block}\n\n"
    found = re.search(r"^## (Bias, Risks, and Limitations|Known limitations and biases)", card, re.MULTILINE)
    anchor = found.start() if found else -1
    if anchor < 0:
        return card.rstrip("\n") + "\n\n" + section
    return card[:anchor] + section + card[anchor:]
