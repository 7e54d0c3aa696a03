"""Models for the baseline fine-tune: Llama-style presets built from a config, or a pretrained causal LM.

Presets (``[finetune] preset``) are built with ``transformers.LlamaConfig`` (RMSNorm, SwiGLU, rotary positions,
tied input/output embeddings) and ``AutoModelForCausalLM.from_config``: no download. Training FLOPs per token follow
PaLM (Chowdhery et al. 2022, https://arxiv.org/abs/2204.02311, appendix B): ``6 N + 12 L d T`` with N the
parameters taking part in matrix multiplies (input embeddings excluded, the output head included), L layers, d the
hidden size, T the sequence length. MFU = achieved FLOP/s / the device's peak dense bf16 FLOP/s.
"""

from __future__ import annotations

import logging
import os
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from jokemine.errors import JokemineError

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Preset:
    """A model size and its recipe defaults: ``layers`` x ``hidden`` (``heads`` attention heads, SwiGLU width
    ``ffn``), ``vocab_size``, ``block_size`` (tokens per row), ``batch_size`` (rows per step), peak ``lr``."""

    layers: int
    hidden: int
    heads: int
    ffn: int
    vocab_size: int
    block_size: int
    batch_size: int
    lr: float


PRESETS: dict[str, Preset] = {
    "tiny": Preset(layers=2, hidden=64, heads=4, ffn=192, vocab_size=2048, block_size=128, batch_size=16, lr=3e-3),
    "mini": Preset(layers=4, hidden=256, heads=4, ffn=768, vocab_size=8192, block_size=256, batch_size=32, lr=1e-3),
    "small": Preset(
        layers=12, hidden=768, heads=12, ffn=2048, vocab_size=16384, block_size=512, batch_size=64, lr=6e-4
    ),
}

PEAK_BF16_TFLOPS = {"H200": 989.4, "H100": 989.4, "H800": 989.4, "GH200": 989.4, "A100": 312.0, "A800": 312.0}
"""Dense bf16 peak TFLOP/s of known GPUs by a substring of their name (vendor datasheets; the SXM parts)."""


def build_model(preset: Preset, tok: PreTrainedTokenizerBase, seed: int) -> PreTrainedModel:
    """A freshly initialized Llama-style causal LM of ``preset`` for the tokenizer ``tok`` (seeded)."""
    from transformers import AutoModelForCausalLM, LlamaConfig, set_seed

    set_seed(seed)
    cfg = LlamaConfig(
        vocab_size=len(tok),
        hidden_size=preset.hidden,
        intermediate_size=preset.ffn,
        num_hidden_layers=preset.layers,
        num_attention_heads=preset.heads,
        num_key_value_heads=preset.heads,
        max_position_embeddings=preset.block_size,
        tie_word_embeddings=True,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
        use_cache=False,
    )
    return AutoModelForCausalLM.from_config(cfg)


def load_pretrained(name: str, seed: int) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """``(model, tokenizer)`` of a pretrained causal LM from a local folder or a Hub id (``distilgpt2``,
    ``ai-forever/rugpt3small_based_on_gpt2``), via ``AutoModelForCausalLM``/``AutoTokenizer``. Hub ids are fetched
    only when the Hub is reachable (``HF_HUB_OFFLINE`` unset) or already cached. Raises :class:`JokemineError`
    naming the model when it cannot be loaded."""
    from transformers import AutoModelForCausalLM, AutoTokenizer, set_seed

    set_seed(seed)
    local = os.path.isdir(os.path.expanduser(name))
    path = os.path.expanduser(name) if local else name
    try:
        tok = AutoTokenizer.from_pretrained(path)
        model = AutoModelForCausalLM.from_pretrained(path)
    except (OSError, ValueError) as e:
        where = "folder" if local else "Hub model (offline, or not cached?)"
        raise JokemineError(f"--model {name}: cannot load this {where}: {str(e).splitlines()[0]}") from None
    model.config.use_cache = False
    return model, tok


def matmul_params(model: PreTrainedModel) -> int:
    """Parameters that take part in matrix multiplies per token: all, less the input embedding table (a lookup),
    but with the output head counted even when it shares the embedding's weights."""
    total = sum(p.numel() for p in model.parameters())
    emb = sum(p.numel() for p in model.get_input_embeddings().parameters())
    head = model.get_output_embeddings()
    tied = head is not None and head.weight is model.get_input_embeddings().weight
    return total - emb + (head.weight.numel() if tied else 0)


def flops_per_token(model: PreTrainedModel, seq_len: int) -> float:
    """Training FLOPs per token (forward + backward), PaLM's ``6 N + 12 L d T``."""
    c = model.config
    layers = int(getattr(c, "num_hidden_layers", None) or getattr(c, "n_layer", None) or 0)
    hidden = int(getattr(c, "hidden_size", None) or getattr(c, "n_embd", None) or 0)
    return 6.0 * matmul_params(model) + 12.0 * layers * hidden * seq_len


@dataclass
class Hardware:
    """Where training ran: ``device`` (``cpu``/``cuda``), ``name`` (GPU name or CPU model), ``count`` (GPUs or
    cores), ``dtype`` (``bfloat16``/``float32``), ``compiled``, ``peak_tflops`` (None on CPU or unknown GPUs),
    ``torch``/``transformers`` versions."""

    device: str
    name: str
    count: int
    dtype: str
    compiled: bool
    peak_tflops: float | None
    torch: str
    transformers: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def pick_hardware(device: str, compile_: str, peak_tflops: float | None) -> Hardware:
    """Resolve ``[finetune] device``/``compile``/``peak_tflops``: CUDA when asked or available (bf16 when the GPU
    supports it), else CPU (float32). ``torch.compile`` only when ``compile = "on"``: ``auto`` means off, because
    on an H200 (preset small, bench/RESULTS.md 2026-12-04) compiled steps were slower in steady state (396 ms vs
    132 ms) on top of the compiling itself. Raises :class:`JokemineError` when ``device = "cuda"`` and none is
    available."""
    import platform

    import torch
    import transformers

    cuda = torch.cuda.is_available()
    if device == "cuda" and not cuda:
        raise JokemineError("[finetune] device = 'cuda' but torch sees no CUDA device (CPU-only torch build?)")
    if device != "cpu" and cuda:
        name = torch.cuda.get_device_name(0)
        peak = peak_tflops or next((v for k, v in PEAK_BF16_TFLOPS.items() if k in name), None)
        dtype = "bfloat16" if torch.cuda.is_bf16_supported() else "float32"
        return Hardware(
            "cuda", name, torch.cuda.device_count(), dtype, compile_ == "on", peak, torch.__version__,
            transformers.__version__,
        )  # fmt: skip
    cpu = _cpu_name() or platform.processor() or platform.machine()
    return Hardware(
        "cpu", cpu, torch.get_num_threads(), "float32", compile_ == "on", peak_tflops, torch.__version__,
        transformers.__version__,
    )  # fmt: skip


def _cpu_name() -> str | None:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        return None
    return None


def autocast(hw: Hardware) -> torch.autocast:
    """The autocast context for evaluation on ``hw`` (bf16 on CUDA when supported; a no-op on CPU)."""
    import torch

    if hw.device == "cuda" and hw.dtype == "bfloat16":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return torch.autocast("cpu", enabled=False)
