"""Examples for the baseline fine-tune: release rows -> token ids -> packed training rows and eval batches.

An example is ``<bos> prompt <sep> target <eos>``: prompt/target = setup/punchline (config ``setup_punch``) or
question/answer (``qa``). The prompt and the target are tokenized separately, so a target's token ids do not depend
on the prompt in front of it (the pairing signal swaps prompts and scores the same target ids).

Bytes (for bits per byte): the UTF-8 bytes of the prompt and target, plus one byte each for ``<sep>`` and ``<eos>``
(they stand for a line break and an end of text), so ``all`` scores ``len(prompt) + len(target) + 2`` bytes and
``punchline`` scores ``len(target) + 1``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from jokemine.errors import JokemineError
from jokemine.schema import release_config

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

log = logging.getLogger(__name__)

SPECIAL_TOKENS = ["<|endoftext|>", "<|sep|>", "<|pad|>"]
"""Special tokens of the tokenizer trained per release: bos = eos, separator, padding (ids 0, 1, 2)."""


def load_split(release: Path, config: str, split: str, *, limit: int | None = None, seed: int = 0) -> pd.DataFrame:
    """The rows of ``release/<config>/<split>-*.parquet`` as a DataFrame with columns ``id``, ``source``, ``lang``,
    ``prompt``, ``target`` (rows with an empty prompt or target are left out and logged).

    ``limit``: a seeded random sample of that many rows (same rows for the same seed and release). Raises
    :class:`JokemineError` naming the folder when the config or split has no Parquet files."""
    pt = release_config(config).prompt_target
    if pt is None:
        raise JokemineError(f"config {config!r} has no prompt and target column to fine-tune on")
    prompt_col, target_col = pt
    files = sorted((release / config).glob(f"{split}-*.parquet"))
    if not files:
        raise JokemineError(f"{release / config}: no {split}-*.parquet files (is {release} a jokemine release?)")
    cols = ["id", "source", "lang", prompt_col, target_col]
    try:
        frame = pq.ParquetDataset(files).read(columns=cols).to_pandas()
    except (OSError, KeyError, ValueError) as e:
        raise JokemineError(f"{release / config}: cannot read {split} split: {e}") from None
    frame = frame.rename(columns={prompt_col: "prompt", target_col: "target"})
    ok = frame["prompt"].fillna("").str.strip().ne("") & frame["target"].fillna("").str.strip().ne("")
    if not ok.all():
        log.warning("%s/%s %s: %d rows without a %s or %s left out", release, config, split, (~ok).sum(), *cols[3:])
    frame = frame[ok]
    if limit is not None and len(frame) > limit:
        # drawn from the rows in id order, so the sample does not depend on how the release lays out its files
        frame = frame.sort_values("id", kind="mergesort").reset_index(drop=True)
        frame = frame.sample(n=limit, random_state=seed).sort_index()
    return frame.reset_index(drop=True)


def split_ids(release: Path, config: str, split: str) -> pd.Series:
    """The ``id`` column of ``release/<config>/<split>-*.parquet`` (only that column is read; empty when absent)."""
    files = sorted((release / config).glob(f"{split}-*.parquet"))
    if not files:
        return pd.Series([], dtype=object)
    return pq.ParquetDataset(files).read(columns=["id"]).column("id").to_pandas()


def train_tokenizer(texts: Iterable[str], vocab_size: int) -> PreTrainedTokenizerBase:
    """A byte-level BPE tokenizer (GPT-2's scheme, https://github.com/openai/gpt-2) trained with ``tokenizers`` on
    ``texts``, ``vocab_size`` entries including the 256 byte symbols and :data:`SPECIAL_TOKENS`, wrapped as a
    ``transformers`` fast tokenizer (``bos_token`` = ``eos_token`` = ``<|endoftext|>``, ``sep_token``,
    ``pad_token``). Deterministic for the same texts in the same order."""
    from tokenizers import ByteLevelBPETokenizer
    from transformers import PreTrainedTokenizerFast

    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(  # no progress bar: off a terminal it writes bare newlines into stdout
        texts, vocab_size=vocab_size, min_frequency=2, special_tokens=SPECIAL_TOKENS, show_progress=False
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=bpe._tokenizer,
        bos_token=SPECIAL_TOKENS[0],
        eos_token=SPECIAL_TOKENS[0],
        sep_token=SPECIAL_TOKENS[1],
        pad_token=SPECIAL_TOKENS[2],
    )


@dataclass
class Markers:
    """Token ids framing an example: ``bos`` (one id), ``sep`` (one or more ids: a pretrained tokenizer without a
    separator token uses the ids of a line break), ``eos``, ``pad``."""

    bos: int
    sep: list[int]
    eos: int
    pad: int

    @classmethod
    def of(cls, tok: PreTrainedTokenizerBase) -> Markers:
        """The markers of ``tok``. Raises :class:`JokemineError` when it has no end-of-text token."""
        eos = tok.eos_token_id
        if eos is None:
            raise JokemineError(f"tokenizer {tok.name_or_path!r} has no eos token; cannot mark where a joke ends")
        bos = tok.bos_token_id if tok.bos_token_id is not None else eos
        sep = [tok.sep_token_id] if tok.sep_token_id is not None else tok.encode("\n", add_special_tokens=False)
        pad = tok.pad_token_id if tok.pad_token_id is not None else eos
        return cls(bos=int(bos), sep=[int(i) for i in sep], eos=int(eos), pad=int(pad))


@dataclass
class Encoded:
    """Examples as token ids. ``prompt[i]``/``target[i]``: ids of example i's prompt and target (no markers), cut to
    fit ``block_size`` (the prompt loses its start first); ``prompt_bytes``/``target_bytes``: UTF-8 bytes of what
    was kept; ``truncated``: examples that were cut."""

    prompt: list[list[int]]
    target: list[list[int]]
    prompt_bytes: np.ndarray
    target_bytes: np.ndarray
    truncated: int


def encode(
    tok: PreTrainedTokenizerBase, prompts: Sequence[str], targets: Sequence[str], block_size: int, markers: Markers
) -> Encoded:
    """Tokenize prompts and targets (separately, in batches) and cut each example to ``block_size`` tokens with its
    markers. Raises :class:`JokemineError` when ``block_size`` leaves no room for a target token."""
    room = block_size - 2 - len(markers.sep)  # bos, sep..., eos
    if room < 2:
        raise JokemineError(f"block_size {block_size} leaves no room for a joke")
    p_ids = tok(list(prompts), add_special_tokens=False)["input_ids"]
    t_ids = tok(list(targets), add_special_tokens=False)["input_ids"]
    p_bytes = np.array([len(p.encode("utf-8")) for p in prompts], dtype=np.int64)
    t_bytes = np.array([len(t.encode("utf-8")) for t in targets], dtype=np.int64)
    truncated = 0
    for i, (p, t) in enumerate(zip(p_ids, t_ids, strict=True)):
        if len(p) + len(t) <= room:
            continue
        truncated += 1
        t_keep = min(len(t), max(room // 2, room - len(p)))
        if t_keep < len(t):
            t_ids[i] = t[:t_keep]
            t_bytes[i] = len(str(tok.decode(t_ids[i])).encode("utf-8"))
        p_keep = room - len(t_ids[i])
        if p_keep < len(p):
            p_ids[i] = p[len(p) - p_keep :] if p_keep > 0 else []
            p_bytes[i] = len(str(tok.decode(p_ids[i])).encode("utf-8"))
    return Encoded(p_ids, t_ids, p_bytes, t_bytes, truncated)


def example_ids(prompt: list[int], target: list[int], markers: Markers, loss_on: str) -> tuple[list[int], list[int]]:
    """``(input_ids, labels)`` of one example: ``<bos> prompt <sep> target <eos>``; labels are the input ids where
    the token is scored (everything after ``<bos>``, or only ``target <eos>`` when ``loss_on == "punchline"``) and
    -100 elsewhere (Hugging Face's ignore index; the model shifts labels by one)."""
    ids = [markers.bos, *prompt, *markers.sep, *target, markers.eos]
    head = 1 if loss_on == "all" else 1 + len(prompt) + len(markers.sep)
    return ids, [-100] * head + ids[head:]


@dataclass
class Packed:
    """Training rows, all ``block_size`` long: ``input_ids``, ``position_ids`` (restart at 0 at each example, which
    keeps examples from attending to each other: ``transformers.masking_utils.find_packed_sequence_indices``),
    ``labels``; ``tokens``: real (non-padding) tokens; ``scored``: tokens with a label."""

    input_ids: np.ndarray
    position_ids: np.ndarray
    labels: np.ndarray
    tokens: int
    scored: int

    def __len__(self) -> int:
        return len(self.input_ids)

    @property
    def fill(self) -> float:
        """Share of the rows' positions holding real tokens."""
        return self.tokens / max(1, self.input_ids.size)


def pack(
    enc: Encoded, markers: Markers, block_size: int, *, loss_on: str, packing: bool = True, seed: int = 0
) -> Packed:
    """Training rows of ``block_size`` tokens. With ``packing``: best-fit decreasing bin packing (longest example
    first, into the fullest row it fits; ties in a seeded random order), so rows are ~99% real tokens; without: one
    example per row. The rest of a row is padding (label -100, positions of its own). Row order is seeded too
    (the trainer shuffles rows again each epoch)."""
    import bisect

    rng = np.random.default_rng(seed)
    n = len(enc.prompt)
    examples = [example_ids(enc.prompt[i], enc.target[i], markers, loss_on) for i in range(n)]
    lengths = np.array([len(ids) for ids, _ in examples], dtype=np.int64)
    order = rng.permutation(n)
    order = order[np.argsort(-lengths[order], kind="stable")] if packing else order
    rows: list[list[int]] = []
    free: list[tuple[int, int]] = []  # (room left, row) sorted, rows with room only
    for i in order:
        k = int(lengths[i])
        pos = bisect.bisect_left(free, (k, -1)) if packing else len(free)
        if pos < len(free):
            room, r = free.pop(pos)
            rows[r].append(int(i))
            if room - k > 0:
                bisect.insort(free, (room - k, r))
        else:
            rows.append([int(i)])
            if packing and block_size - k > 0:
                bisect.insort(free, (block_size - k, len(rows) - 1))
    rows = [rows[r] for r in rng.permutation(len(rows))]
    input_ids = np.full((len(rows), block_size), markers.pad, dtype=np.int64)
    position_ids = np.tile(np.arange(block_size, dtype=np.int64), (len(rows), 1))
    labels = np.full((len(rows), block_size), -100, dtype=np.int64)
    tokens = scored = 0
    for r, members in enumerate(rows):
        at = 0
        for i in members:
            ids, lab = examples[i]
            input_ids[r, at : at + len(ids)] = ids
            position_ids[r, at : at + len(ids)] = np.arange(len(ids))
            labels[r, at : at + len(ids)] = lab
            at += len(ids)
            scored += sum(1 for v in lab if v != -100)
        position_ids[r, at:] = np.arange(block_size - at)
        tokens += at
    return Packed(input_ids, position_ids, labels, tokens, scored)


class RowDataset:
    """``torch.utils.data.Dataset``-style view of :class:`Packed` for ``transformers.Trainer``: item i is a dict of
    ``input_ids``, ``position_ids``, ``labels`` (int64 tensors of ``block_size``)."""

    def __init__(self, packed: Packed) -> None:
        self.packed = packed

    def __len__(self) -> int:
        return len(self.packed)

    def __getitem__(self, i: int) -> dict[str, Any]:
        import torch

        p = self.packed
        return {
            "input_ids": torch.from_numpy(p.input_ids[i]),
            "position_ids": torch.from_numpy(p.position_ids[i]),
            "labels": torch.from_numpy(p.labels[i]),
        }
