"""Evaluation of the baseline: loss, perplexity, bits per byte, the pairing signal, and the regression check.

* loss = mean token negative log-likelihood in nats; perplexity = exp(loss).
* bits per byte = total NLL / (ln 2 x UTF-8 bytes scored) (Gao et al. 2020, The Pile, https://arxiv.org/abs/2101.00027,
  section 4): comparable across tokenizers, so across releases that train their own.
* ``punchline_*``: the same over the target tokens (punchline or answer, plus ``<eos>``) given the true prompt.
* **pairing signal** = mean punchline loss with the prompts shuffled across examples minus with the true prompts,
  in nats per punchline token. Prompts are permuted (a derangement) within each (source, language) group, so the
  signal measures the pairing of setup and punchline, not a guess of the source's style or language. Positive and
  many standard errors above 0 when setups and punchlines are correctly paired; ~0 when they are not.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from jokemine.finetune.data import Encoded, Markers

if TYPE_CHECKING:
    from transformers import PreTrainedModel

    from jokemine.finetune.model import Hardware

LN2 = math.log(2.0)


def token_nll(
    model: PreTrainedModel,
    prompts: Sequence[list[int]],
    targets: Sequence[list[int]],
    markers: Markers,
    hw: Hardware,
    *,
    block_size: int,
    token_budget: int = 8192,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Score each example ``<bos> prompt <sep> target <eos>`` (the prompt's start cut to fit ``block_size``).

    Returns float64/int64 arrays of shape ``(n,)``: NLL (nats) and token count over every token after ``<bos>``,
    and over the target tokens + ``<eos>``. Examples are batched by length (right padding, which causal attention
    never sees) up to ``token_budget`` tokens per forward pass."""
    import torch

    n = len(prompts)
    nll_all = np.zeros(n)
    nll_tgt = np.zeros(n)
    tok_all = np.zeros(n, dtype=np.int64)
    tok_tgt = np.zeros(n, dtype=np.int64)
    seqs: list[list[int]] = []
    starts: list[int] = []
    for p, t in zip(prompts, targets, strict=True):
        room = block_size - 2 - len(markers.sep) - len(t)
        p = p[len(p) - room :] if len(p) > room else p
        seqs.append([markers.bos, *p, *markers.sep, *t, markers.eos])
        starts.append(1 + len(p) + len(markers.sep))
    order = sorted(range(n), key=lambda i: len(seqs[i]))
    device = torch.device(hw.device)
    model.eval()
    i = 0
    with torch.no_grad(), _autocast(hw):
        while i < n:
            width = len(seqs[order[min(n - 1, i)]])
            j = i
            while j < n and (j - i + 1) * len(seqs[order[j]]) <= max(token_budget, width):
                j += 1
            batch = order[i:j]
            width = len(seqs[batch[-1]])
            ids = torch.full((len(batch), width), markers.pad, dtype=torch.long)
            for r, k in enumerate(batch):
                ids[r, : len(seqs[k])] = torch.tensor(seqs[k])
            ids = ids.to(device)
            logits = model(input_ids=ids).logits[:, :-1].float()
            nll = torch.nn.functional.cross_entropy(
                logits.reshape(-1, logits.shape[-1]), ids[:, 1:].reshape(-1), reduction="none"
            ).view(len(batch), width - 1)
            nll_np = nll.double().cpu().numpy()
            for r, k in enumerate(batch):
                m = len(seqs[k]) - 1  # predicted positions: tokens 1..len-1
                nll_all[k] = nll_np[r, :m].sum()
                tok_all[k] = m
                nll_tgt[k] = nll_np[r, starts[k] - 1 : m].sum()
                tok_tgt[k] = m - (starts[k] - 1)
            i = j
    return nll_all, tok_all, nll_tgt, tok_tgt


def _autocast(hw: Hardware) -> Any:
    from jokemine.finetune.model import autocast

    return autocast(hw)


def summarize(
    nll_all: np.ndarray,
    tok_all: np.ndarray,
    bytes_all: np.ndarray,
    nll_tgt: np.ndarray,
    tok_tgt: np.ndarray,
    bytes_tgt: np.ndarray,
) -> dict[str, float | int]:
    """Loss (nats/token), perplexity and bits per byte over all scored tokens and over the punchline tokens."""
    out: dict[str, float | int] = {
        "examples": len(nll_all),
        "tokens": int(tok_all.sum()),
        "bytes": int(bytes_all.sum()),
    }
    for prefix, nll, tok, nbytes in (("", nll_all, tok_all, bytes_all), ("punchline_", nll_tgt, tok_tgt, bytes_tgt)):
        loss = float(nll.sum() / max(1, tok.sum()))
        out[f"{prefix}loss"] = loss
        out[f"{prefix}perplexity"] = math.exp(loss)
        out[f"{prefix}bpb"] = float(nll.sum() / (LN2 * max(1, nbytes.sum())))
    return out


def derangement(groups: Sequence[Any], rng: np.random.Generator) -> np.ndarray:
    """A permutation ``perm`` of ``range(len(groups))`` with ``groups[perm[i]] == groups[i]`` and ``perm[i] != i``
    for every i in a group of two or more (a random order of the group, each member taking the next one's place);
    members of a group of one keep their own index (``perm[i] == i``)."""
    perm = np.arange(len(groups))
    index = pd.Series(range(len(groups))).groupby(pd.Series(list(groups), dtype=object)).indices
    for members in index.values():
        if len(members) < 2:
            continue
        shuffled = rng.permutation(members)
        perm[shuffled] = np.roll(shuffled, -1)
    return perm


def pairing_signal(
    true_nll: np.ndarray, tok: np.ndarray, shuffled_nll: Sequence[np.ndarray], included: np.ndarray
) -> dict[str, Any]:
    """The pairing signal from per-example punchline NLL with true prompts (``true_nll``) and with each shuffle of
    the prompts (``shuffled_nll``), over the ``included`` examples (boolean mask: those that got another prompt).

    ``signal``: nats per punchline token, averaged over shuffles; ``se``: its standard error over examples (ratio
    estimator); ``z`` = signal / se; ``per_shuffle``: the signal of each shuffle (their spread is the shuffle noise);
    ``relative``: signal / true punchline loss."""
    tok_in = tok[included].astype(float)
    total = tok_in.sum()
    if not included.any() or total == 0:
        return {"signal": None, "se": None, "z": None, "per_shuffle": [], "examples": 0, "relative": None}
    shuf = np.mean([s[included] for s in shuffled_nll], axis=0)
    diff = shuf - true_nll[included]
    signal = float(diff.sum() / total)
    n = int(included.sum())
    resid = diff - signal * tok_in
    se = float(math.sqrt(n / max(1, n - 1) * (resid**2).sum()) / total) if n > 1 else float("nan")
    true_loss = float(true_nll[included].sum() / total)
    return {
        "signal": signal,
        "se": se,
        "z": signal / se if se and se > 0 else None,
        "per_shuffle": [float((s[included] - true_nll[included]).sum() / total) for s in shuffled_nll],
        "examples": n,
        "relative": signal / true_loss if true_loss else None,
    }


def evaluate(
    model: PreTrainedModel,
    frame: pd.DataFrame,
    enc: Encoded,
    markers: Markers,
    hw: Hardware,
    *,
    block_size: int,
    shuffles: int,
    seed: int,
    token_budget: int,
) -> dict[str, Any]:
    """Metrics of one split: :func:`summarize` overall and per source, plus the pairing signal (``shuffles``
    seeded derangements of the prompts within (source, language) groups)."""
    nll_all, tok_all, nll_tgt, tok_tgt = token_nll(
        model, enc.prompt, enc.target, markers, hw, block_size=block_size, token_budget=token_budget
    )
    bytes_all = enc.prompt_bytes + enc.target_bytes + 2
    bytes_tgt = enc.target_bytes + 1
    out: dict[str, Any] = summarize(nll_all, tok_all, bytes_all, nll_tgt, tok_tgt, bytes_tgt)
    sources = frame["source"].to_numpy()
    out["per_source"] = {
        str(s): summarize(*(a[sources == s] for a in (nll_all, tok_all, bytes_all, nll_tgt, tok_tgt, bytes_tgt)))
        for s in sorted(set(sources))
    }
    groups = list(zip(frame["source"], frame["lang"], strict=True))
    rng = np.random.default_rng(seed)
    shuffled = []
    included = np.zeros(len(frame), dtype=bool)
    for _ in range(shuffles):
        perm = derangement(groups, rng)
        included |= perm != np.arange(len(frame))
        _, _, s_tgt, _ = token_nll(
            model,
            [enc.prompt[k] for k in perm],
            enc.target,
            markers,
            hw,
            block_size=block_size,
            token_budget=token_budget,
        )
        shuffled.append(s_tgt)
    out["pairing"] = pairing_signal(nll_tgt, tok_tgt, shuffled, included)
    return out


RECIPE_KEYS = ("config", "model", "preset", "vocab_size", "block_size", "packing", "loss_on", "epochs", "max_steps",
               "batch_size", "lr", "warmup", "weight_decay", "max_train_examples", "max_eval_examples")  # fmt: skip
"""Recipe keys that must match for two releases' baselines to be compared (the seed and hardware may differ)."""


def compare(current: dict[str, Any], previous: dict[str, Any] | None, margin: float) -> dict[str, Any] | None:
    """Compare this release's baseline with the previous release's ``metrics.json`` (None when there is none).

    The test set is the previous release's test split: this model's ``previous_test`` bits per byte against the
    previous model's ``test`` bits per byte on it (``fixed_test_set`` true); without ``previous_test``, each
    release's own test split (``fixed_test_set`` false). ``regression`` is true when the recipes match and bits per
    byte rose by more than ``margin`` (relative); None when the recipes differ (not comparable)."""
    if not previous:
        return None
    prev_test = previous.get("splits", {}).get("test", {})
    fixed = "previous_test" in current
    cur = current["previous_test"] if fixed else current["splits"]["test"]
    recipe_now = {k: current["recipe"].get(k) for k in RECIPE_KEYS}
    recipe_then = {k: previous.get("recipe", {}).get(k) for k in RECIPE_KEYS}
    differs = sorted(k for k in RECIPE_KEYS if recipe_now[k] != recipe_then[k])
    out: dict[str, Any] = {"previous": previous.get("release"), "fixed_test_set": fixed, "margin": margin}
    for key in ("bpb", "punchline_bpb"):
        a, b = prev_test.get(key), cur.get(key)
        out[key] = {"previous": a, "current": b, "change": (b - a) / a if a and b is not None else None}
    prev_sig = (prev_test.get("pairing") or {}).get("signal")
    out["pairing_signal"] = {"previous": prev_sig, "current": current["splits"]["test"]["pairing"]["signal"]}
    out["recipe_differs"] = differs
    change = out["bpb"]["change"]
    out["regression"] = None if differs or change is None else bool(change > margin)
    return out
