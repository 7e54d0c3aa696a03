"""``jokemine finetune``: train the baseline on a release, evaluate it, write ``validation/metrics.json`` and the
card's "Baseline" section.

Flow: read the config's splits -> tokenizer (byte-level BPE trained on the train split, or the pretrained model's)
-> token ids -> packed rows -> ``transformers.Trainer`` (AdamW, fused on CUDA; cosine schedule with warmup; bf16 on
CUDA, ``torch.compile`` only with ``compile = "on"``) -> metrics on validation and test, per source, with the
pairing signal -> the previous release's test split scored by this model and compared with the previous baseline
(regression flag).
"""

from __future__ import annotations

import importlib.util
import json
import logging
import math
import os
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from jokemine import atomic
from jokemine.config import FinetuneConfig
from jokemine.errors import ConfigError, JokemineError, NotWritable
from jokemine.finetune import data as D
from jokemine.finetune.metrics import compare, evaluate, token_nll
from jokemine.finetune.model import PRESETS, Hardware, build_model, flops_per_token, load_pretrained, pick_hardware
from jokemine.finetune.progress import ProgressLines, eval_line, print_every

log = logging.getLogger(__name__)

METRICS = Path("validation") / "metrics.json"
"""Where a release keeps its baseline metrics (relative to the release folder)."""

INTEGRATIONS = {"tensorboard": ("tensorboard", "tensorboardX"), "wandb": ("wandb",)}
"""``[finetune] report_to`` names and the modules that make each available (any one of them), as ``transformers``
checks them."""

TENSORBOARD_DIR = Path("runs")
"""Where TensorBoard event files go (``runs/<release>-<UTC time>``, relative to the working directory) unless
``TENSORBOARD_LOGGING_DIR`` is set."""


@dataclass
class FinetuneReport:
    """What a fine-tune did: ``metrics`` (the content of ``validation/metrics.json``) and where it was written."""

    release: Path
    metrics: dict[str, Any]
    path: Path

    def lines(self) -> list[str]:
        """A few lines for the terminal."""
        m = self.metrics
        out = [f"baseline of {self.release.name} ({m['recipe']['config']}): {m['model']['description']}"]
        t = m["training"]
        out.append(
            f"  trained {t['steps']} steps ({t['epochs']:.2f} epochs, {t['tokens']:,} tokens) in {t['train_s']:.1f} s: "
            f"{t['tokens_per_s']:,.0f} tokens/s" + (f", MFU {t['mfu']:.1%}" if t.get("mfu") is not None else "")
            + f"; train loss {t['loss_first']:.3f} -> {t['loss_last']:.3f}"
        )  # fmt: skip
        for split, s in m["splits"].items():
            p = s["pairing"]
            sig = f"{p['signal']:+.3f} nats/token (z {p['z']:.1f})" if p["signal"] is not None else "n/a"
            out.append(
                f"  {split}: loss {s['loss']:.3f}, perplexity {s['perplexity']:.1f}, {s['bpb']:.3f} bits/byte; "
                f"punchline {s['punchline_bpb']:.3f} bits/byte; pairing signal {sig}"
            )
        c = m.get("comparison")
        if c:
            verdict = {True: "REGRESSION", False: "ok", None: "not comparable"}[c["regression"]]
            change = c["bpb"]["change"]
            out.append(
                f"  vs {c['previous']}: test bits/byte {c['bpb']['previous']:.3f} -> {c['bpb']['current']:.3f} "
                + (f"({change:+.1%}, margin {c['margin']:.0%}): {verdict}" if change is not None else verdict)
                + (f" (recipe differs: {', '.join(c['recipe_differs'])})" if c["recipe_differs"] else "")
            )
        out.append(f"  metrics: {self.path}")
        return out


def resolve(fcfg: FinetuneConfig) -> dict[str, Any]:
    """The recipe with every preset default filled in (the ``recipe`` of ``metrics.json``)."""
    p = PRESETS[fcfg.preset]
    r = fcfg.model_dump(exclude={"report_to"})  # where logs go is not part of the recipe
    for key in ("vocab_size", "block_size", "batch_size", "lr"):
        if r[key] is None:
            r[key] = getattr(p, key)
    return r


def previous_release(release: Path) -> Path | None:
    """The release this one was built after (``CHANGELOG.json`` ``previous``, a sibling folder), if it still
    exists."""
    try:
        prev = json.loads((release / "CHANGELOG.json").read_text(encoding="utf-8")).get("previous")
    except (OSError, ValueError):
        return None
    path = release.parent / prev if prev else None
    return path if path and path.is_dir() else None


def finetune(
    release: Path,
    fcfg: FinetuneConfig,
    *,
    previous: Path | None = None,
    save_model: Path | None = None,
    write: bool = True,
    echo: Callable[[str], None] | None = None,
) -> FinetuneReport:
    """Train and evaluate the baseline on ``release`` (a release folder) with the recipe ``fcfg``.

    ``previous``: the release to compare with (default: :func:`previous_release`); its test split is scored by the
    new model (ids in the new train split are left out) and compared with its own ``validation/metrics.json``.
    ``save_model``: a folder to save the trained model and tokenizer in (never inside the release, which is
    pushed as is). ``write``: write ``validation/metrics.json`` and the card's Baseline section (atomically).
    ``echo``: gets the progress lines (:mod:`jokemine.finetune.progress`: the initial validation loss, a line with
    step, training loss, learning rate and seconds about every 5% of the steps, one line per evaluated split);
    default: the ``jokemine.finetune.train`` logger at INFO. ``fcfg.report_to``: trackers that also get the
    training logs (TensorBoard event files go to :data:`TENSORBOARD_DIR` unless ``TENSORBOARD_LOGGING_DIR`` is set).

    Raises :class:`JokemineError` for a folder that is not a release, a config it lacks, a model that cannot be
    loaded, or a ``save_model`` inside the release; :class:`ConfigError` (before any work) when a ``report_to``
    integration is not installed."""
    release = Path(release).resolve()
    if not (release / "MANIFEST.json").is_file():
        raise JokemineError(f"{release}: not a release folder (no MANIFEST.json)")
    if save_model is not None and Path(save_model).resolve().is_relative_to(release):
        raise JokemineError(f"--save-model {save_model}: must be outside the release (the release is pushed as is)")
    check_report_to(fcfg.report_to)
    if write:
        _check_writable(release)
    say = echo or log.info
    manifest = json.loads((release / "MANIFEST.json").read_text(encoding="utf-8"))
    recipe = resolve(fcfg)
    hw = pick_hardware(fcfg.device, fcfg.compile, fcfg.peak_tflops)
    t_start = time.perf_counter()
    frames = {
        "train": D.load_split(release, fcfg.config, "train", limit=fcfg.max_train_examples, seed=fcfg.seed),
        **{
            s: D.load_split(release, fcfg.config, s, limit=fcfg.max_eval_examples, seed=fcfg.seed)
            for s in ("validation", "test")
        },
    }
    previous = previous if previous is not None else previous_release(release)
    prev_metrics = _read_metrics(previous) if previous else None
    excluded = 0
    if previous and (previous / fcfg.config).is_dir():
        prev_test = D.load_split(previous, fcfg.config, "test", limit=fcfg.max_eval_examples, seed=fcfg.seed)
        leak = prev_test["id"].isin(D.split_ids(release, fcfg.config, "train"))
        excluded = int(leak.sum())
        frames["previous_test"] = prev_test[~leak].reset_index(drop=True)

    t0 = time.perf_counter()
    if fcfg.model:
        model, tok = load_pretrained(fcfg.model, fcfg.seed)
        if len(tok) < 2:
            raise JokemineError(f"--model {fcfg.model}: tokenizer has no vocabulary")
        recipe["vocab_size"] = len(tok)
    else:
        texts = (t for col in ("prompt", "target") for t in frames["train"][col])
        tok = D.train_tokenizer(texts, recipe["vocab_size"])
        model = build_model(PRESETS[fcfg.preset], tok, fcfg.seed)
    tokenizer_s = time.perf_counter() - t0
    markers = D.Markers.of(tok)
    block = recipe["block_size"]
    t0 = time.perf_counter()
    enc = {k: D.encode(tok, f["prompt"].tolist(), f["target"].tolist(), block, markers) for k, f in frames.items()}
    packed = D.pack(enc["train"], markers, block, loss_on=fcfg.loss_on, packing=fcfg.packing, seed=fcfg.seed)
    encode_s = time.perf_counter() - t0
    if len(packed) == 0:
        raise JokemineError(f"{release}/{fcfg.config}: the train split is empty")

    steps_per_epoch = math.ceil(len(packed) / recipe["batch_size"])
    steps = fcfg.max_steps or max(1, math.ceil(fcfg.epochs * steps_per_epoch))
    budget = 65536 if hw.device == "cuda" else 4096
    if hw.device == "cpu" and not fcfg.model and fcfg.preset == "small" and fcfg.max_steps is None:
        log.warning(
            "preset small on a CPU: %d steps of %d x %d tokens will take hours; for a quick check use --preset tiny "
            "--max-steps 200 (README 'Baseline fine-tune')", steps, recipe["batch_size"], block,
        )  # fmt: skip
    import torch

    torch.nn.Module.to(model, hw.device)  # (transformers' wrapped `to` confuses type checkers)
    initial = _quick_loss(model, enc["validation"], markers, hw, block, budget)
    say(eval_line("validation (before training)", initial))
    say(
        f"training {steps} steps of {recipe['batch_size']} rows x {block} tokens ({len(packed):,} rows, "
        f"{steps * recipe['batch_size'] / len(packed):.2f} epochs) on {hw.device}"
    )
    tb_dir = TENSORBOARD_DIR / f"{release.name}-{datetime.now(UTC):%Y%m%dT%H%M%SZ}"
    train = _train(model, tok, packed, recipe, steps, hw, say, fcfg.report_to, tb_dir, release.name)
    epochs_done = steps * recipe["batch_size"] / len(packed)
    trained_tokens = round(packed.tokens * epochs_done)
    fpt = flops_per_token(model, block)
    tps = trained_tokens / train["train_s"] if train["train_s"] > 0 else float("nan")
    mfu = tps * fpt / (hw.peak_tflops * 1e12) if hw.peak_tflops and hw.device == "cuda" else None

    t0 = time.perf_counter()
    splits: dict[str, Any] = {}
    kw = {"block_size": block, "shuffles": fcfg.shuffles, "seed": fcfg.seed, "token_budget": budget}
    for split in ("validation", "test"):
        t1 = time.perf_counter()
        splits[split] = evaluate(model, frames[split], enc[split], markers, hw, **kw)
        say(_eval_split_line(split, splits[split], time.perf_counter() - t1))
    metrics: dict[str, Any] = {
        "release": release.name,
        "data_hash": manifest.get("data_hash"),
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "recipe": recipe,
        "model": _model_info(model, tok, fcfg, recipe),
        "hardware": hw.as_dict(),
        "training": {
            "steps": steps,
            "epochs": epochs_done,
            "rows": len(packed),
            "examples": len(frames["train"]),
            "truncated": enc["train"].truncated,
            "fill": packed.fill,
            "tokens": trained_tokens,
            "scored_tokens_per_epoch": packed.scored,
            "train_s": train["train_s"],
            "tokens_per_s": tps,
            "flops_per_token": fpt,
            "mfu": mfu,
            "loss_first": train["loss_first"],
            "loss_last": train["loss_last"],
            "loss_curve": train["curve"],
            "initial_validation_loss": initial,
        },
        "splits": splits,
    }
    if "previous_test" in frames:
        t1 = time.perf_counter()
        pt = evaluate(model, frames["previous_test"], enc["previous_test"], markers, hw, **kw)
        say(_eval_split_line(f"test of {previous.name if previous else 'previous'}", pt, time.perf_counter() - t1))
        pt.pop("per_source")
        pt["release"] = previous.name if previous else None
        pt["excluded_in_train"] = excluded
        metrics["previous_test"] = pt
    eval_s = time.perf_counter() - t0
    total_s = time.perf_counter() - t_start
    metrics["timing"] = {
        "tokenizer_s": tokenizer_s,
        "encode_s": encode_s,
        "train_s": train["train_s"],
        "eval_s": eval_s,
        "total_s": total_s,
        "epoch_wall_s": (tokenizer_s + encode_s + train["train_s"]) / epochs_done if epochs_done else None,
    }
    metrics["comparison"] = compare(metrics, prev_metrics, fcfg.regression_margin)
    metrics["regression"] = (metrics["comparison"] or {}).get("regression")
    path = release / METRICS
    if write:
        _write(release, metrics)
    if save_model is not None:
        Path(save_model).mkdir(parents=True, exist_ok=True)
        model.save_pretrained(save_model)
        tok.save_pretrained(save_model)
    return FinetuneReport(release, metrics, path)


def check_report_to(names: Sequence[str]) -> None:
    """Raise :class:`ConfigError` naming ``[finetune] report_to`` when one of ``names`` (keys of
    :data:`INTEGRATIONS`) is not installed."""
    for name in names:
        modules = INTEGRATIONS.get(name)
        if modules is None:
            raise ConfigError(f"[finetune] report_to: unknown integration {name!r}; use {' or '.join(INTEGRATIONS)}")
        if not any(_installed(m) for m in modules):
            raise ConfigError(
                f"[finetune] report_to: {name} is not installed (pip install {modules[0]}); install it or leave it "
                "out of report_to"
            )


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def _eval_split_line(what: str, s: dict[str, Any], seconds: float) -> str:
    return eval_line(what, s["loss"], f"{s['bpb']:.3f} bits/byte  {s['examples']:,} examples  {seconds:.1f} s")


def _read_metrics(release: Path) -> dict[str, Any] | None:
    try:
        return json.loads((release / METRICS).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as e:
        log.warning("%s: unreadable, not compared: %s", release / METRICS, e)
        return None


def _quick_loss(model: Any, enc: D.Encoded, markers: D.Markers, hw: Hardware, block: int, budget: int) -> float:
    nll, tok, *_ = token_nll(model, enc.prompt, enc.target, markers, hw, block_size=block, token_budget=budget)
    return float(nll.sum() / max(1, tok.sum()))


def _train(
    model: Any, tok: Any, packed: D.Packed, recipe: dict[str, Any], steps: int, hw: Hardware,
    echo: Callable[[str], None], report_to: Sequence[str], tb_dir: Path, run_name: str,
) -> dict[str, Any]:  # fmt: skip
    """Run ``transformers.Trainer`` for ``steps`` optimizer steps, writing progress lines to ``echo`` and the logs to
    the ``report_to`` trackers (TensorBoard into ``tb_dir`` unless ``TENSORBOARD_LOGGING_DIR`` is set); returns wall
    seconds and the loss curve."""
    import torch
    from transformers import PrinterCallback, Trainer, TrainingArguments, default_data_collator

    if hw.device == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    logging_steps = max(1, steps // 100)
    with tempfile.TemporaryDirectory(prefix="jokemine-finetune-") as tmp:
        args = TrainingArguments(
            output_dir=tmp,
            per_device_train_batch_size=recipe["batch_size"],
            max_steps=steps,
            learning_rate=recipe["lr"],
            lr_scheduler_type="cosine",
            warmup_steps=recipe["warmup"],
            weight_decay=recipe["weight_decay"],
            max_grad_norm=1.0,
            logging_steps=logging_steps,
            save_strategy="no",
            report_to=list(report_to) or "none",
            run_name=f"jokemine {run_name}",
            seed=recipe["seed"],
            data_seed=recipe["seed"],
            bf16=hw.dtype == "bfloat16",
            torch_compile=hw.compiled,
            optim="adamw_torch_fused" if hw.device == "cuda" else "adamw_torch",
            use_cpu=hw.device == "cpu",
            disable_tqdm=True,
            remove_unused_columns=False,
            dataloader_num_workers=2 if hw.device == "cuda" else 0,
            dataloader_pin_memory=hw.device == "cuda",
        )
        trainer = Trainer(
            model=model,
            args=args,
            train_dataset=D.RowDataset(packed),
            data_collator=default_data_collator,
            processing_class=tok,
        )
        trainer.remove_callback(PrinterCallback)  # logs go to the metrics and the progress lines, not as dicts
        trainer.add_callback(ProgressLines(echo, print_every(steps, logging_steps)).callback())
        for cb in trainer.callback_handler.callbacks:
            if type(cb).__name__ == "TensorBoardCallback" and getattr(cb, "logging_dir", None) is None:
                cb.logging_dir = str(tb_dir)  # not the temporary output_dir, removed below
                echo(f"TensorBoard logs: {tb_dir}")
        if hw.device == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        trainer.train()
        if hw.device == "cuda":
            torch.cuda.synchronize()
        train_s = time.perf_counter() - t0
    curve = [(int(h["step"]), float(h["loss"])) for h in trainer.state.log_history if "loss" in h]
    if not curve:
        raise JokemineError("training logged no loss")
    head = [v for _, v in curve[: max(1, len(curve) // 10)]]
    tail = [v for _, v in curve[-max(1, len(curve) // 10) :]]
    return {"train_s": train_s, "curve": curve, "loss_first": float(np.mean(head)), "loss_last": float(np.mean(tail))}


def _model_info(model: Any, tok: Any, fcfg: FinetuneConfig, recipe: dict[str, Any]) -> dict[str, Any]:
    from jokemine.finetune.model import matmul_params

    params = sum(p.numel() for p in model.parameters())
    c = model.config
    if fcfg.model:
        desc = f"{fcfg.model} ({c.model_type}, {params / 1e6:.1f}M parameters), fine-tuned"
    else:
        p = PRESETS[fcfg.preset]
        desc = (
            f"preset {fcfg.preset}: Llama-style, {p.layers} layers x {p.hidden} hidden, {p.heads} heads, "
            f"{params / 1e6:.1f}M parameters, byte-level BPE ({len(tok):,} tokens) trained on the train split"
        )
    return {
        "description": desc,
        "type": c.model_type,
        "pretrained": fcfg.model,
        "parameters": params,
        "matmul_parameters": matmul_params(model),
        "vocab_size": len(tok),
        "block_size": recipe["block_size"],
    }


def _check_writable(release: Path) -> None:
    """Raise :class:`NotWritable` before any training when the metrics and card could not be written."""
    target = release / METRICS.parent if (release / METRICS.parent).is_dir() else release
    try:
        with tempfile.NamedTemporaryFile(dir=target, prefix=".write-check-"):
            pass
        if (release / "README.md").is_file() and not os.access(release / "README.md", os.W_OK):
            raise PermissionError(13, "Permission denied", str(release / "README.md"))
    except OSError as e:
        raise NotWritable(
            f"{release}: cannot write the metrics and card there ({e.strerror}: {e.filename or target}); "
            "make it writable, or train without writing (the Python API's write=False)"
        ) from None


def _write(release: Path, metrics: dict[str, Any]) -> None:
    from jokemine.dataset_cards.baseline import patch_card, render_baseline

    (release / METRICS.parent).mkdir(exist_ok=True)
    atomic.write_text(release / METRICS, json.dumps(metrics, indent=2, ensure_ascii=False) + "\n")
    card = release / "README.md"
    if card.is_file():
        atomic.write_text(card, patch_card(card.read_text(encoding="utf-8"), render_baseline(metrics)))


__all__ = ["INTEGRATIONS", "METRICS", "FinetuneReport", "check_report_to", "finetune", "previous_release", "resolve"]
