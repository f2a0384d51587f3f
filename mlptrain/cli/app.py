"""The Typer app every command registers on, with the top-level help and `--version`."""

from __future__ import annotations

from typing import Annotated

import typer


def new_app() -> typer.Typer:
    """A Typer app with mlptrain's settings, top-level help and --version, and no command
    (`app` below holds every command; `cli.main` may run one holding just the one invoked)."""
    made = typer.Typer(
        name="mlptrain",
        epilog="Example: mlptrain train configs/spiral.yaml optimizer.lr=0.01",
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
        context_settings={"help_option_names": ["-h", "--help"]},
    )
    made.callback()(main_callback)
    return made


def _version_callback(value: bool) -> None:
    if value:
        from mlptrain import __version__

        typer.echo(f"mlptrain {__version__}")
        raise typer.Exit()


def main_callback(
    version: Annotated[
        bool | None,
        typer.Option("--version", "-V", callback=_version_callback, is_eager=True,
                     help="Print the version and exit."),
    ] = None,
) -> None:
    """Train multi-layer perceptrons from YAML configs on a hand-written NumPy backprop core.

    Start with `mlptrain train configs/spiral.yaml`, which needs no download and trains in
    seconds. Exit codes: 0 success, 1 a check that ran and failed (gradcheck, a diverged run),
    2 bad input (config, data, checkpoint), 130 Ctrl-C, 143 SIGTERM, 141 stdout closed.
    """


app = new_app()
