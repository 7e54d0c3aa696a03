"""The ``jokemine`` command: ``scrape``, ``clean``, ``publish``, ``finetune``, ``refresh``, ``schedule``, ``status``,
``sources inspect``.

Global options (before the command): ``--config PATH`` (default: ``./jokemine.toml``, else
``./configs/default.toml``), ``--data-dir PATH`` (overrides ``[paths] data_dir``), ``--verbose``.
Exit codes: 0 done; 1 a run failed or finished partially (the message says what); 2 a user error (bad config,
nothing to do); 3 ``finetune`` found a regression against the previous release. User errors print one line,
never a traceback.
"""

from __future__ import annotations

import functools
import logging
import sys
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Annotated, ParamSpec

import typer

from jokemine.config import Config, load_config
from jokemine.errors import JokemineError

app = typer.Typer(
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # help texts name config sections ("[clean] workers"): no markup to eat them
    help="Mine, clean, deduplicate and publish humor datasets.",
)
log = logging.getLogger("jokemine")
P = ParamSpec("P")


def failure(e: BaseException) -> tuple[int, str] | None:
    """Exit code and one-line message for an error a user can act on: a :class:`JokemineError` (its own exit code),
    an OS error (a full disk, a file that vanished: 1, naming the file) or an SQLite error (``state.sqlite`` or the
    HTTP cache: 1); None for anything else (a bug: its traceback is shown)."""
    import sqlite3

    if isinstance(e, JokemineError):
        return e.exit_code, " ".join(str(e).split("\n"))
    if isinstance(e, OSError):
        where = f"{e.filename}: " if e.filename else ""
        return 1, f"{where}{e.strerror or e}"
    if isinstance(e, sqlite3.Error):
        return 1, f"SQLite database error: {e}"
    return None


def user_errors(fn: Callable[P, None]) -> Callable[P, None]:
    """Turn errors a user can act on (:func:`failure`) into one ``error:`` line on stderr and an exit code, instead
    of a traceback."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> None:
        try:
            fn(*args, **kwargs)
        except Exception as e:
            known = failure(e)
            if known is None:
                raise
            typer.echo(f"error: {known[1]}", err=True)
            raise typer.Exit(known[0]) from None

    return wrapper


@dataclass
class Ctx:
    config_path: str | None
    data_dir: str | None

    def load(self) -> tuple[Config, Path]:
        cfg = load_config(self.config_path)
        return cfg, cfg.data_dir(self.data_dir)


def _version(value: bool) -> None:
    if value:
        from jokemine import __version__

        typer.echo(f"jokemine {__version__}")
        raise typer.Exit()


class PrintKind(StrEnum):
    """``schedule --print`` choices."""

    cron = "cron"
    systemd = "systemd"
    github = "github"


class Preset(StrEnum):
    """``finetune --preset`` choices (:data:`jokemine.finetune.model.PRESETS`)."""

    tiny = "tiny"
    mini = "mini"
    small = "small"


class Device(StrEnum):
    """``finetune --device`` choices."""

    auto = "auto"
    cpu = "cpu"
    cuda = "cuda"


class LossOn(StrEnum):
    """``finetune --loss-on`` choices."""

    all = "all"
    punchline = "punchline"


class ReportTo(StrEnum):
    """``finetune --report-to`` choices (``[finetune] report_to``; ``none``: no tracker)."""

    tensorboard = "tensorboard"
    wandb = "wandb"
    none = "none"


class TrainConfig(StrEnum):
    """``finetune --config-name`` choices: the release configs with a prompt and a target that ``[finetune]``
    accepts."""

    setup_punch = "setup_punch"
    qa = "qa"


@app.callback()
def _main(
    ctx: typer.Context,
    config: Annotated[
        str | None, typer.Option("--config", "-c", help="Config TOML file.", envvar="JOKEMINE_CONFIG")
    ] = None,
    data_dir: Annotated[
        str | None,
        typer.Option("--data-dir", help="Data directory (overrides the config).", envvar="JOKEMINE_DATA_DIR"),
    ] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logging.")] = False,
    version: Annotated[
        bool, typer.Option("--version", help="Print the version and exit.", callback=_version, is_eager=True)
    ] = False,
) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s" if verbose else "%(levelname)s: %(message)s",
        stream=sys.stderr,
    )
    for noisy in ("urllib3", "fsspec", "filelock", "datasets", "huggingface_hub", "httpx", "httpx2", "matplotlib"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    ctx.obj = Ctx(config or None, data_dir or None)


@app.command()
@user_errors
def scrape(
    ctx: typer.Context,
    source: Annotated[list[str] | None, typer.Option("--source", "-s", help="Only this source (repeatable).")] = None,
    force: Annotated[bool, typer.Option("--force", help="Re-read inputs already read completely.")] = False,
    recheck_all: Annotated[
        bool, typer.Option("--recheck-all", help="Live sources: re-read every stored post (scores, deletions).")
    ] = False,
) -> None:
    """Read every enabled source (or --source NAME) into raw/, incrementally."""
    from jokemine.scrapers.run import scrape as run

    cfg, data_dir = ctx.obj.load()
    reports = run(cfg, data_dir, source or None, force=force, recheck_all=recheck_all)
    for r in reports:
        typer.echo(r.line())
    failed = [r for r in reports if r.status in ("failed", "partial")]
    if failed:
        for r in failed:
            for e in r.errors:
                typer.echo(f"error: {r.name}: {e}", err=True)
        raise typer.Exit(1)


ExecutorOpt = Annotated[
    str | None, typer.Option("--executor", help="Where the stages run: local or dask (default: [executor] kind).")
]
SchedulerOpt = Annotated[
    str | None, typer.Option("--scheduler", help="Address of a running Dask scheduler, e.g. tcp://host:8786.")
]


@app.command()
@user_errors
def clean(
    ctx: typer.Context,
    workers: Annotated[int | None, typer.Option(help="Workers (default: [executor] workers, 0 = all cores).")] = None,
    executor: ExecutorOpt = None,
    scheduler: SchedulerOpt = None,
    resplit: Annotated[
        bool,
        typer.Option(
            "--resplit",
            help="Assign every split afresh (ignore the splits of earlier releases); publishing it moves ids.",
        ),
    ] = False,
    full: Annotated[
        bool,
        typer.Option(
            "--full",
            help="Search every near-duplicate pair again and rebuild the index (default: only around what changed).",
        ),
    ] = False,
) -> None:
    """Normalize, filter, deduplicate, identify languages and assign splits: raw/ -> clean/."""
    from jokemine.cleaning.stage import build_executor
    from jokemine.cleaning.stage import clean as run

    cfg, data_dir = ctx.obj.load()
    ex = build_executor(cfg, kind=executor, address=scheduler, workers=workers)
    report = run(cfg, data_dir, executor=ex, echo=typer.echo, resplit=resplit, full=full)
    for line in report.lines():
        typer.echo(line)


@app.command()
@user_errors
def publish(
    ctx: typer.Context,
    version: Annotated[str | None, typer.Option(help="Release version (default: YYYY.MM.DD[.N]).")] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Build and validate in a temp folder, print the plan, write nothing.")
    ] = False,
    push: Annotated[
        bool, typer.Option("--push/--no-push", help="Push to the Hub when [publish] repo_id is set.")
    ] = True,
    workers: Annotated[int | None, typer.Option(help="Workers (default: [executor] workers, 0 = all cores).")] = None,
    executor: ExecutorOpt = None,
    scheduler: SchedulerOpt = None,
) -> None:
    """Write a versioned release in Hugging Face layout from the latest clean run, validate it, move `latest`,
    and push it to the Hub when `[publish] repo_id` is set (token from HF_TOKEN or the huggingface_hub login)."""
    from jokemine.cleaning.stage import build_executor
    from jokemine.pipeline.executor import describe
    from jokemine.publish.release import publish as run

    cfg, data_dir = ctx.obj.load()
    ex = build_executor(cfg, kind=executor, address=scheduler, workers=workers, warm=False)
    if executor or scheduler:
        typer.echo(describe(ex))
    report = run(cfg, data_dir, version=version, dry_run=dry_run, push=push, executor=ex)
    for line in report.lines():
        typer.echo(line)


@app.command()
@user_errors
def finetune(
    ctx: typer.Context,
    release: Annotated[
        str | None, typer.Option("--release", "-r", help="Release folder (default: releases/latest of the data dir).")
    ] = None,
    config: Annotated[TrainConfig | None, typer.Option("--config-name", help="Release config to train on.")] = None,
    model: Annotated[
        str | None, typer.Option("--model", help="Pretrained causal LM to fine-tune: a local folder or a Hub id.")
    ] = None,
    preset: Annotated[Preset | None, typer.Option(help="Model size when no --model.")] = None,
    max_steps: Annotated[int | None, typer.Option(help="Optimizer steps (default: [finetune] epochs).")] = None,
    max_train_examples: Annotated[int | None, typer.Option(help="Train on a seeded sample of this many.")] = None,
    max_eval_examples: Annotated[int | None, typer.Option(help="Evaluate on a seeded sample per split.")] = None,
    loss_on: Annotated[LossOn | None, typer.Option(help="Tokens the loss is on (punchline: target only).")] = None,
    device: Annotated[Device | None, typer.Option(help="Where to train.")] = None,
    seed: Annotated[int | None, typer.Option(help="Seed of data order, sampling and initialization.")] = None,
    previous: Annotated[
        str | None, typer.Option(help="Release to compare with (default: the one this release was built after).")
    ] = None,
    save_model: Annotated[Path | None, typer.Option(help="Save the trained model and tokenizer here.")] = None,
    report_to: Annotated[
        list[ReportTo] | None,
        typer.Option(help="Also log training to this tracker (repeatable; default: [finetune] report_to)."),
    ] = None,
) -> None:
    """Train the baseline causal LM on a release and write validation/metrics.json and the card's Baseline section
    (needs the finetune extra). Prints the training loss as it goes (step, loss, learning rate, seconds) and each
    evaluated split. Exit code 3 when the release regressed against the previous one."""
    from pydantic import ValidationError

    from jokemine.config import FinetuneConfig, format_validation_error
    from jokemine.errors import BadArgument, ConfigError

    cfg, data_dir = ctx.obj.load()
    overrides = {
        "config": config and config.value, "model": model, "preset": preset and preset.value, "max_steps": max_steps,
        "max_train_examples": max_train_examples, "max_eval_examples": max_eval_examples,
        "loss_on": loss_on and loss_on.value, "device": device and device.value, "seed": seed,
        "report_to": [r.value for r in report_to] if report_to else None,
    }  # fmt: skip
    data = cfg.finetune.model_dump() | {k: v for k, v in overrides.items() if v is not None}
    try:
        fcfg = FinetuneConfig(**data)
    except ValidationError as e:
        raise ConfigError(format_validation_error("[finetune] or command line", e, data)) from None
    try:
        from jokemine.finetune.train import finetune as run
    except ImportError as e:
        raise BadArgument(f"finetune needs the finetune extra: pip install 'jokemine[finetune]' ({e})") from None
    folder = _release_folder("--release", release) if release else data_dir / "releases" / "latest"
    if not (folder / "MANIFEST.json").exists():
        raise BadArgument(f"--release {folder}: not a jokemine release folder (no MANIFEST.json)")
    before = _release_folder("--previous", previous) if previous else None
    report = run(folder, fcfg, previous=before, save_model=save_model, echo=typer.echo)
    for line in report.lines():
        typer.echo(line)
    if report.metrics.get("regression"):
        raise typer.Exit(3)


def _release_folder(option: str, value: str) -> Path:
    """A local release folder from a command-line value; ``hf://`` and URLs are refused with a way out."""
    from jokemine.errors import BadArgument

    if "://" in value:
        raise BadArgument(
            f"{option} {value}: remote releases are not supported; download one first, e.g. "
            "`hf download <owner>/<name> --repo-type dataset --revision v<version> --local-dir <folder>`"
        )
    return Path(value).expanduser()


@app.command()
def refresh(
    ctx: typer.Context,
    push: Annotated[
        bool, typer.Option("--push/--no-push", help="Push a new release to the Hub when [publish] repo_id is set.")
    ] = True,
    executor: ExecutorOpt = None,
    scheduler: SchedulerOpt = None,
) -> None:
    """The nightly job: scrape every enabled source incrementally, clean, publish a new release only when rows
    changed, prune old releases. Exit codes: 0 no change, 10 published, 11 published with stale sources, 12 no
    change but some sources failed, 1 failed, 2 bad config or a read-only data dir, 75 another jokemine command holds
    the data dir."""
    from jokemine.lock import Busy
    from jokemine.refresh import refresh as run

    try:
        cfg, data_dir = ctx.obj.load()
        if executor or scheduler:
            kind = executor or "dask"
            update = {"kind": kind} | ({"address": scheduler} if scheduler else {})
            cfg = cfg.model_copy(update={"executor": cfg.executor.model_validate(cfg.executor.model_dump() | update)})
        report = run(cfg, data_dir, push=push)
    except Busy as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(75) from None
    except Exception as e:
        known = failure(e)
        if known is None:
            raise
        typer.echo(f"error: {known[1]}", err=True)
        raise typer.Exit(known[0]) from None
    for line in report.lines():
        typer.echo(line)
    raise typer.Exit(report.exit_code)


@app.command()
@user_errors
def schedule(
    ctx: typer.Context,
    print_: Annotated[PrintKind, typer.Option("--print", help="What to print.")] = PrintKind.cron,
    at: Annotated[str, typer.Option(help="Time of day (UTC for github), HH:MM.")] = "03:17",
) -> None:
    """Print a ready crontab line, systemd service + timer, or GitHub Actions workflow that runs `jokemine refresh`
    for this checkout, config and data dir."""
    from jokemine.schedule import render

    cfg, data_dir = ctx.obj.load()
    typer.echo(render(print_.value, cfg, data_dir, at=at), nl=False)


@app.command()
@user_errors
def status(
    ctx: typer.Context,
    json_: Annotated[
        bool, typer.Option("--json", help="Print one JSON document (the same facts) instead of text.")
    ] = False,
) -> None:
    """What is in raw/, clean/ and releases/, with counts, the last runs, whether the latest release is on the Hub,
    and the command to run next. Writes nothing."""
    import json

    from jokemine.status import status_facts, status_lines

    cfg, data_dir = ctx.obj.load()
    if json_:
        typer.echo(json.dumps(status_facts(cfg, data_dir), indent=2, ensure_ascii=False))
        return
    for line in status_lines(cfg, data_dir):
        typer.echo(line)


sources_app = typer.Typer(
    no_args_is_help=True,
    rich_markup_mode=None,
    help="Look at joke files before configuring a source (`sources inspect PATH`).",
)
app.add_typer(sources_app, name="sources")


@sources_app.command("inspect")
@user_errors
def sources_inspect(
    path: Annotated[
        str, typer.Argument(help="A joke file or archive (any shape a table source reads), or an hf:// URL.")
    ],
    format_: Annotated[str | None, typer.Option("--format", help="Read as this format instead of detecting.")] = None,
    records_path: Annotated[
        str | None, typer.Option("--records-path", help="JSON/YAML key path or XML element path of the records.")
    ] = None,
    delimiter: Annotated[str | None, typer.Option("--delimiter", help="CSV delimiter (sniffed when unset).")] = None,
    members: Annotated[str | None, typer.Option("--members", help="Glob of the archive members to read.")] = None,
    encoding: Annotated[str, typer.Option("--encoding", help="Text encoding (a byte order mark wins).")] = "utf-8",
) -> None:
    """Print the detected shape of PATH, its record count, columns with examples, what would be quarantined, and a
    [[sources]] block to start from."""
    import os
    import tempfile

    from jokemine.errors import BadArgument, SourceError
    from jokemine.scrapers.files import check_regular
    from jokemine.scrapers.remote import fetch, is_remote
    from jokemine.scrapers.shapes import FORMATS, ShapeOptions
    from jokemine.scrapers.survey import inspect_file, render

    if format_ is not None and format_ not in FORMATS:
        raise BadArgument(f"--format {format_!r}: use one of {', '.join(FORMATS)}")
    opts = ShapeOptions(format=format_, delimiter=delimiter, records_path=records_path, encoding=encoding)
    if not is_remote(path):
        if not os.path.lexists(path):
            raise BadArgument(f"{path}: no such file")
        check_regular(Path(path))
        for line in render(Path(path), inspect_file(Path(path), opts, members), opts, members):
            typer.echo(line)
        return
    with tempfile.TemporaryDirectory(prefix="jokemine-inspect-") as tmp:
        fetched, errors = fetch([path], Path(tmp))
        if errors:
            raise SourceError(errors[0])
        for url, local in fetched:
            lines = render(local, inspect_file(local, opts, members), opts, members)
            for line in lines:
                typer.echo(line.replace(str(local), url))


def main() -> None:
    """Entry point (``jokemine``)."""
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
