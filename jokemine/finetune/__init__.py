"""Baseline fine-tune that validates a release (``jokemine finetune``; needs the ``finetune`` extra).

Modules: :mod:`~jokemine.finetune.data` (examples, tokenizer, packing), :mod:`~jokemine.finetune.model` (presets,
pretrained models, FLOPs/MFU), :mod:`~jokemine.finetune.metrics` (perplexity, bits per byte, pairing signal,
regression check), :mod:`~jokemine.finetune.train` (the command).
"""
