"""Progress lines of ``jokemine finetune``: the training loss as it goes, then each evaluated split.

Line formats (``echo`` gets each line, without a newline)::

    step 20/200  loss 3.412  lr 4.90e-05  12.3 s
    eval step 100: loss 3.305  perplexity 27.2
    eval validation: loss 3.291  perplexity 26.9  2.713 bits/byte  1,000 examples  1.4 s

``loss`` is the mean training loss (nats per scored token) over the optimizer steps since the previous log entry,
``lr`` the learning rate at ``step``, and the seconds count from the start of training. The ``eval step`` line
appears when the Trainer itself evaluates (not in the default recipe); the ``eval <split>`` lines come from
:func:`jokemine.finetune.train.finetune` after training.

Only :meth:`ProgressLines.callback` imports ``transformers`` (the finetune extra).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

Echo = Callable[[str], None]
"""Where progress lines go: a function taking one line (``typer.echo``, ``logging.Logger.info``, ``list.append``)."""

MAX_LINES = 20
"""About this many step lines per run (plus the first logged step and the last step)."""

MIN_INTERVAL_S = 60.0
"""A step line is written at least this often (wall seconds) while loss is logged, whatever the step."""


def step_line(step: int, max_steps: int, loss: float, lr: float | None, elapsed_s: float) -> str:
    """``step 20/200  loss 3.412  lr 4.90e-05  12.3 s`` (``lr`` left out when unknown)."""
    return (
        f"step {step}/{max_steps}  loss {loss:.3f}"
        + (f"  lr {lr:.2e}" if lr is not None else "")
        + f"  {elapsed_s:.1f} s"
    )


def eval_line(what: str, loss: float, extra: str = "") -> str:
    """``eval <what>: loss 3.291  perplexity 26.9`` followed by ``extra`` (two spaces between items)."""
    ppl = math.exp(loss) if loss < 700 else math.inf
    return f"eval {what}: loss {loss:.3f}  perplexity {ppl:.1f}" + (f"  {extra}" if extra else "")


def print_every(max_steps: int, logging_steps: int) -> int:
    """Steps between two step lines: a multiple of ``logging_steps`` (the Trainer only reports loss at those) close
    to ``max_steps / MAX_LINES``, at least ``logging_steps``."""
    target = max(1, max_steps // MAX_LINES)
    return max(1, round(target / logging_steps)) * logging_steps


class ProgressLines:
    """Decides which Trainer log entries become lines: :func:`step_line` for the first logged step, every ``every``
    steps, the last step, and whenever ``min_interval_s`` passed since the previous line; :func:`eval_line` for each
    evaluation the Trainer logs (``eval_loss``). Lines go to ``echo``. :meth:`callback` wraps it for
    ``transformers.Trainer``."""

    def __init__(self, echo: Echo, every: int, min_interval_s: float = MIN_INTERVAL_S) -> None:
        self.echo = echo
        self.every = max(1, every)
        self.min_interval_s = min_interval_s
        self.t0 = time.perf_counter()
        self.last_line = self.t0
        self.lines = 0

    def start(self) -> None:
        """Start the clock (training begins)."""
        self.t0 = self.last_line = time.perf_counter()

    def log(self, step: int, max_steps: int, logs: dict[str, Any]) -> None:
        """One Trainer log entry at optimizer step ``step`` of ``max_steps``: a step line for a training loss
        (``loss``, ``learning_rate``) when one is due, an eval line for an ``eval_loss``."""
        now = time.perf_counter()
        if "loss" in logs:
            due = (
                self.lines == 0
                or step % self.every == 0
                or step >= max_steps
                or now - self.last_line >= self.min_interval_s
            )
            if due:
                lr = logs.get("learning_rate")
                self.echo(
                    step_line(step, max_steps, float(logs["loss"]), None if lr is None else float(lr), now - self.t0)
                )
                self.last_line = now
                self.lines += 1
        if "eval_loss" in logs:
            self.echo(eval_line(f"step {step}", float(logs["eval_loss"])))

    def callback(self) -> Any:
        """A ``transformers.TrainerCallback`` feeding this object (main process only)."""
        from transformers import TrainerCallback

        progress = self

        class _Callback(TrainerCallback):
            def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
                progress.start()

            def on_log(
                self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **kw: Any
            ) -> None:
                if logs and state.is_world_process_zero:
                    progress.log(state.global_step, state.max_steps, logs)

        return _Callback()


__all__ = ["Echo", "ProgressLines", "eval_line", "print_every", "step_line"]
