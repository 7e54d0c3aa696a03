"""Benchmark: the baseline fine-tune (``jokemine finetune``) on the real release.

* ``--mode cpu``: the CI smoke configuration (preset tiny, 200 steps, 20,000 train examples, 500 per eval split)
  with ``--seeds`` seeds (seed noise of bits per byte and of the pairing signal, which the regression margin must
  exceed), and a peer in the same run: the same recipe without packing (one joke per row).
* ``--mode gpu``: the default model (preset small) for one epoch over the full release, bf16 (``compile = "auto"``):
  tokens/s, MFU, wall time per epoch (tokenizer training and tokenization included), validation perplexity and
  pairing signal; peer in the same run: the same epoch with ``torch.compile`` forced on (the default does not
  compile), and the steady-state step time of both. Targets (issue 8): MFU >= 40%,
  one epoch <= 2 minutes wall on one H100/H200-class GPU.

The release is ``--release`` or ``data/real-offline/releases/latest`` (built with ``make scrape clean publish
CONFIG=configs/real-offline.toml`` when missing). Nothing is written into the release. Writes its section of
bench/RESULTS.md. Usage: python bench/finetune.py [--mode auto|cpu|gpu] [--release DIR] [--seeds 3]
"""

from __future__ import annotations

import argparse
import datetime as dt
import re
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from pipeline import machine, update_results  # noqa: E402

from jokemine.config import FinetuneConfig  # noqa: E402
from jokemine.finetune.train import finetune  # noqa: E402

SMOKE = {"preset": "tiny", "device": "cpu", "max_steps": 200, "max_train_examples": 20000, "max_eval_examples": 500}


def release_dir(arg: str | None) -> Path:
    if arg:
        return Path(arg).resolve()
    release = REPO / "data" / "real-offline" / "releases" / "latest"
    if not release.exists():
        subprocess.run(
            ["make", "scrape", "clean", "publish", "CONFIG=configs/real-offline.toml", f"PY={sys.executable}"],
            cwd=REPO,
            check=True,
        )
    return release.resolve()


STEP = re.compile(r"^step (\d+)/\d+ .*  (\d+\.\d) s$")


def run(release: Path, **kw: Any) -> dict[str, Any]:
    return finetune(release, FinetuneConfig(**kw), write=False, previous=release).metrics


def run_timed(release: Path, **kw: Any) -> tuple[dict[str, Any], float | None]:
    """A run and its steady-state seconds per optimizer step: from the progress lines (step, seconds since the start
    of training), between the second step line and the last, so compilation and warm-up are left out."""
    lines: list[str] = []

    def echo(line: str) -> None:
        print(line, flush=True)
        lines.append(line)

    m = finetune(release, FinetuneConfig(**kw), write=False, previous=release, echo=echo).metrics
    points = [(int(g[1]), float(g[2])) for g in (STEP.match(x) for x in lines) if g]
    if len(points) < 3:
        return m, None
    (s0, t0), (s1, t1) = points[1], points[-1]
    return m, (t1 - t0) / (s1 - s0)


def row(label: str, m: dict[str, Any]) -> str:
    t, v, s = m["training"], m["splits"]["validation"], m["splits"]["test"]
    p = s["pairing"]
    mfu = f"{t['mfu']:.1%}" if t.get("mfu") is not None else "-"
    return (
        f"| {label} | {t['steps']:,} | {t['tokens']:,} | {t['fill']:.1%} | {t['train_s']:.1f} | "
        f"{m['timing']['epoch_wall_s']:.1f} | {t['tokens_per_s']:,.0f} | {mfu} | {v['perplexity']:.1f} | "
        f"{s['bpb']:.4f} | {p['signal']:+.4f} (z {p['z']:.1f}) |"
    )


HEADER = [
    "| run | steps | tokens | row fill | train s | wall s per epoch | tokens/s | MFU | val perplexity | test bits/byte "
    "| test pairing signal nats/token |",
    "|---|---|---|---|---|---|---|---|---|---|---|",
]


def cpu(release: Path, seeds: int) -> None:
    runs = [run(release, **SMOKE, seed=s) for s in range(seeds)]
    peer = run(release, **SMOKE, packing=False)
    bpb = [m["splits"]["test"]["bpb"] for m in runs]
    sig = [m["splits"]["test"]["pairing"]["signal"] for m in runs]
    hw = runs[0]["hardware"]
    ratio = runs[0]["training"]["tokens_per_s"] / peer["training"]["tokens_per_s"]
    lines = [
        "## Baseline fine-tune, CPU smoke configuration (bench/finetune.py --mode cpu)",
        "",
        f"Run {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC on {machine()}; torch {hw['torch']}, transformers "
        f"{hw['transformers']}, {hw['count']} threads. Release: the real-offline release (`setup_punch`). Recipe: "
        f"preset tiny (Llama-style 2 x 64, {runs[0]['model']['parameters']:,} parameters, byte-level BPE "
        f"{runs[0]['model']['vocab_size']:,}), {SMOKE['max_steps']} steps of 16 rows x 128 tokens, a 20,000-joke "
        "train sample, 500 jokes per eval split; the CI smoke test runs this recipe.",
        "",
        *HEADER,
        *(row(f"seed {s}", m) for s, m in enumerate(runs)),
        row("peer: no packing, seed 0", peer),
        "",
        f"Seed noise over {seeds} seeds: test bits/byte {min(bpb):.4f}..{max(bpb):.4f} (spread "
        f"{(max(bpb) - min(bpb)) / statistics.mean(bpb):.2%} of the mean; the default regression margin is 2%); "
        f"pairing signal {min(sig):+.4f}..{max(sig):+.4f} nats/token.",
        f"Peer, same run: packing trains {ratio:.2f}x the real tokens per second of one-joke-per-row training "
        f"(rows {runs[0]['training']['fill']:.1%} vs {peer['training']['fill']:.1%} full).",
        "",
    ]
    update_results("## Baseline fine-tune, CPU smoke configuration", "\n".join(lines))
    print("\n".join(lines))


def gpu(release: Path) -> None:
    main, step_s = run_timed(release, preset="small", device="cuda")
    peer, peer_step_s = run_timed(release, preset="small", device="cuda", compile="on")
    hw = main["hardware"]
    t = main["training"]
    steps = t["steps"]
    if step_s is None or peer_step_s is None:  # too few progress lines to time steady steps
        steady = "Steady-state step: not measured (fewer than 3 progress lines)."
    else:  # the compiled run's time beyond its steady steps, less the eager run's own warm-up
        extra = (peer["training"]["train_s"] - steps * peer_step_s) - (t["train_s"] - steps * step_s)
        saved = step_s - peer_step_s
        breakeven = f"after {extra / saved:,.0f} steps" if saved > 0 else "never: compiled steps are not faster"
        steady = (
            f"Steady-state step (progress lines, second to last): default {1000 * step_s:.1f} ms, compiled "
            f"{1000 * peer_step_s:.1f} ms; compiling and warm-up cost about {extra:.0f} s more; compile pays off "
            f'{breakeven} (`compile = "auto"` does not compile).'
        )
    lines = [
        "## Baseline fine-tune, GPU (bench/finetune.py --mode gpu)",
        "",
        f"Run {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC on {hw['count']} x {hw['name']} (peak dense bf16 "
        f"{hw['peak_tflops']} TFLOP/s), host {machine()}; torch {hw['torch']}, transformers {hw['transformers']}, "
        f"{hw['dtype']}. Release: the real-offline release (`setup_punch`, all "
        f"{t['examples']:,} train jokes, one epoch). Model: {main['model']['description']}; "
        f"{t['flops_per_token'] / 1e6:,.0f} MFLOP per token (PaLM's 6N + 12LdT).",
        "",
        *HEADER,
        row("default: bf16" + (" + torch.compile" if hw["compiled"] else f", no compile ({steps} steps)"), main),
        row("peer: bf16 + torch.compile forced on", peer),
        "",
        "Targets (issue 8): MFU >= 40%, one epoch <= 120 s wall (tokenization included): "
        f"MFU {t['mfu']:.1%}, epoch {main['timing']['epoch_wall_s']:.1f} s.",
        steady,
        "",
    ]
    update_results("## Baseline fine-tune, GPU", "\n".join(lines))
    print("\n".join(lines))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mode", choices=["auto", "cpu", "gpu"], default="auto")
    ap.add_argument("--release")
    ap.add_argument("--seeds", type=int, default=3)
    args = ap.parse_args()
    import torch

    mode = args.mode if args.mode != "auto" else ("gpu" if torch.cuda.is_available() else "cpu")
    release = release_dir(args.release)
    if mode == "gpu":
        gpu(release)
    else:
        cpu(release, args.seeds)


if __name__ == "__main__":
    main()
