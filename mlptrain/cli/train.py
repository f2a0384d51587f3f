"""`mlptrain train`: train from a config, or continue a run with --resume."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from mlptrain.cli.common import PIPE_CLOSED, Debug, Overrides, SetOption, console, user_errors


def _set_threads(threads: int | str | None) -> None:
    """Pin BLAS threads before numpy is imported (the env vars are read at import). `train`
    has imported numpy by then (loading a config does): the run itself applies the count in
    its process (experiment._train_in)."""
    if not isinstance(threads, int):  # null or auto
        return
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(threads)


def train(
    config: Annotated[
        Path | None, typer.Argument(help="The experiment config (YAML).", show_default=False)
    ] = None,
    overrides: Overrides = None,
    set_: SetOption = None,
    resume: Annotated[
        Path | None,
        typer.Option("--resume", help="Continue the run in this run directory from its last "
                     "checkpoint (no CONFIG needed).", show_default=False),
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", help="Output root for the run directory "
                                     "(overrides run.root).", show_default=False)
    ] = None,
    threads: Annotated[
        int | None, typer.Option("--threads", min=1, help="BLAS threads (overrides "
                                    "train.threads; default: auto, one thread for small "
                                    "networks, else every core).", show_default=False)
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print only the run directory "
                                        "(on stdout, for scripts) and errors.")] = False,
    tensorboard: Annotated[
        bool, typer.Option("--tensorboard", help="Also write TensorBoard event files to "
                           "RUN/tb/ (run.tensorboard=true); needs the tensorboard extra.")
    ] = False,
    debug: Debug = False,
) -> None:
    """Train a model from CONFIG and write a run directory.

    The run directory (runs/<name>-<timestamp>/ by default) holds the resolved config.yaml,
    metrics.csv, layers.jsonl, checkpoints/ (last, best), summary.json and train.log. Ctrl-C
    or SIGTERM (exit 130 or 143), or a closed standard output (exit 141), stops the run at
    the next step with a checkpoint and prints the command that resumes it.
    """
    extra = list(overrides or []) + list(set_ or [])
    if tensorboard:
        extra.append("run.tensorboard=true")
    with user_errors(debug):
        from mlptrain.errors import ConfigError
        from mlptrain.training import StopSignal

        stop = StopSignal()

        if resume is not None:
            if config is not None and "=" in str(config):
                extra.insert(0, str(config))
                config = None
            if config is not None:
                raise ConfigError("give either CONFIG or --resume RUN_DIR, not both")
            _set_threads(threads or _run_threads(resume))
            from mlptrain.experiment import resume_run

            result = resume_run(resume, overrides=extra, observer_factory=_observer(quiet, stop),
                                stop=stop, threads=threads)
        else:
            if config is None:
                raise ConfigError("missing CONFIG: give a config file, or --resume RUN_DIR",
                                  hint="mlptrain train configs/spiral.yaml")
            from mlptrain.config import load_config

            cfg = load_config(config, extra)
            if out is not None:
                cfg.run.root = str(out)
            if threads is not None:
                cfg.train.threads = threads  # config.yaml records the count the run used
            _set_threads(cfg.train.threads)
            from mlptrain.experiment import start_run

            result = start_run(cfg, argv=sys.argv, observer_factory=_observer(quiet, stop),
                               stop=stop)
        _finish_training(result, quiet, stop)


def _run_threads(run_dir: Path) -> int | str | None:
    """train.threads of the run being resumed, from its resolved config.yaml (read before
    numpy is imported); None if it cannot be read (resume_run then reports why)."""
    from mlptrain.config import load_config
    from mlptrain.errors import MlptrainError

    try:
        return load_config(run_dir / "config.yaml").train.threads
    except MlptrainError:
        return None


def _observer(quiet: bool, stop) -> Callable[[int], Any]:
    """The progress printer; when stdout's reader goes away it falls silent and asks the run
    to stop at the next step (a checkpoint, then exit 141)."""

    def make(total_epochs: int):
        from mlptrain.report import ConsoleObserver

        if quiet:  # prints nothing: no console (and no rich import) needed
            return ConsoleObserver(None, total_epochs, quiet=True)
        out = console(on_broken_pipe=lambda: stop.request(BROKEN_PIPE))
        return ConsoleObserver(out, total_epochs)

    return make


BROKEN_PIPE = "broken pipe"
# why a run stopped early -> (what the message says, the exit code: 128 + the signal's number)
STOPPED = {"SIGINT": ("interrupted", 130), "SIGTERM": ("terminated (SIGTERM)", 143),
           BROKEN_PIPE: ("standard output was closed", PIPE_CLOSED)}


def _finish_training(result, quiet: bool, stop) -> None:
    from mlptrain.report import metrics_table

    if result.already_ended:
        console().print(_ended_message(result), highlight=False, soft_wrap=True)
        return
    if result.status == "interrupted":
        why, code = STOPPED.get(result.stopped_by or "", ("stopped", 130))
        s = result.summary
        console(stderr=True).print(
            f"{why}: checkpoint saved at epoch {s['epochs_completed']}, step {s['steps']}. "
            f"Resume with:\n  mlptrain train --resume {result.run_dir}"
        )
        raise typer.Exit(code)
    if stop.reason == BROKEN_PIPE:  # the run ended while nobody read its output
        console(stderr=True).print(f"standard output was closed; the run {result.status}: "
                                   f"{result.run_dir}")
        raise typer.Exit(PIPE_CLOSED)
    if quiet:
        typer.echo(str(result.run_dir))  # alone, so that RUN=$(mlptrain train -q ...) works
    else:
        from mlptrain.report import print_loss_curves
        from mlptrain.runs import read_metrics

        out = console()
        out.print(metrics_table(f"run {result.run_dir} ({result.status})", result.table()))
        print_loss_curves(out, read_metrics(result.run_dir))  # on a terminal only
        out.print(f"run directory: {result.run_dir}")


def _ended_message(result) -> str:
    """What `--resume` of a run that had already ended says (it trains and writes nothing)."""
    s, run_dir = result.summary, result.run_dir
    head = (f"{run_dir}: the run has already ended ({result.status.replace('_', ' ')} after "
            f"{s.get('epochs_completed')} epochs); nothing was trained or changed.")
    if result.status == "early_stopped":
        return (f"{head}\nEarly stopping ended it: a resume continues a run exactly, and an "
                "uninterrupted run would have stopped here too, whatever train.epochs is.")
    return (f"{head}\nTo train more epochs: mlptrain train --resume {run_dir} "
            f"train.epochs=N (N > {s.get('epochs_completed')})")


def register(app: typer.Typer) -> None:
    """Add `train` to `app`."""
    app.command(epilog="Examples:\n\n  mlptrain train configs/spiral.yaml\n\n"
                "  mlptrain train configs/mnist.yaml optimizer.lr=0.05 train.epochs=5\n\n"
                "  mlptrain train --resume runs/spiral-20260101-120000")(train)
