"""The `mlptrain` command line: parse, call the library, render. The only place that exits.

One module per command (or command group), each a thin layer over one library function:

    app.py        the Typer app, the top-level help, --version
    common.py     the shared error boundary (`user_errors`), consoles and common options
    train.py      mlptrain train
    sweep.py      mlptrain sweep, sweep worker (Optuna)
    evaluate.py   mlptrain eval
    gradcheck.py  mlptrain gradcheck
    predict.py    mlptrain predict
    inspect.py    mlptrain inspect
    plot.py       mlptrain plot
    runs.py       mlptrain runs, runs diff
    export.py     mlptrain export (onnx, torch)
    config.py     mlptrain config show|schema|reference

Library code raises typed errors (`errors.py`); `common.user_errors` turns them into a message
of one or two lines on stderr and an exit code: 2 for bad input, 1 for a check that ran and
failed, 130 / 143 for a run stopped by Ctrl-C / SIGTERM, 141 when stdout was closed, 3 for
a bug. `--debug` shows the traceback instead.
Heavy modules (numpy, pydantic, the training code) are imported inside the commands so that
`mlptrain --help` starts fast: a command module imports only typer and `common` at the top.

Adding a command takes one new module and one line here:

1. Write `mlptrain/cli/mycommand.py` with the command function (wrapping its body in
   `with user_errors(debug):`) and a `register(app: typer.Typer) -> None` that adds it, e.g.
   `app.command(epilog="Example:\\n\\n  mlptrain mycommand ...")(mycommand)`, or
   `app.add_typer(group, name="mygroup")` for a group of subcommands.
2. Add the module to `COMMANDS` below (the order is the order of `mlptrain --help`).
"""

from __future__ import annotations

from inspect import cleandoc

import typer

from mlptrain.cli import (
    config,
    evaluate,
    export,
    gradcheck,
    inspect,
    plot,
    predict,
    runs,
    sweep,
    train,
)
from mlptrain.cli.app import app, new_app

COMMANDS = (
    train,
    sweep,
    evaluate,
    gradcheck,
    predict,
    inspect,
    plot,
    runs,
    export,
    config,
)

for _command in COMMANDS:
    _command.register(app)


def _paragraphs_as_lines(text: str) -> str:
    """`text` (a docstring) with each paragraph's lines joined into one line; a blank line
    still separates paragraphs."""
    paragraphs = cleandoc(text).split("\n\n")
    return "\n\n".join(" ".join(p.split("\n")) for p in paragraphs)


def _reflow_help(group: typer.Typer) -> None:
    """Give every command of `group` (and `group` itself) its docstring as help with one line
    per paragraph: Typer's rich help keeps a docstring's line breaks, so a terminal narrower
    than the source lines showed each of them as a short ragged line; now the terminal wraps."""
    callback = group.registered_callback
    if callback is not None and callback.callback is not None and callback.callback.__doc__:
        callback.help = _paragraphs_as_lines(callback.callback.__doc__)
    for command in group.registered_commands:
        text = command.help if command.help is not None else command.callback.__doc__
        if text:
            command.help = _paragraphs_as_lines(text)
    for sub in group.registered_groups:
        if sub.typer_instance is not None:
            _reflow_help(sub.typer_instance)


_reflow_help(app)


def app_for(argv: list[str]) -> typer.Typer:
    """The app that runs `mlptrain ARGV`: when ARGV's first word names a command exactly, an
    app holding that command alone, else `app`. Typer builds the parser of every command it
    holds on each call (all of mlptrain's: ~20-40 ms of a `train` process's start-up; one:
    2-4 ms), and a command's parsing, help, output and errors do not depend on the others;
    anything else (no command, a misspelt one, --help, --version) gets the full app."""
    from typer.main import get_command_name

    name = argv[0] if argv else ""
    commands = [c for c in app.registered_commands
                if (c.name or get_command_name(c.callback.__name__ if c.callback else "")) == name]
    groups = [g for g in app.registered_groups if g.name == name]
    if not commands and not groups:
        return app
    only = new_app()
    only.registered_commands, only.registered_groups = commands, groups
    _reflow_help(only)  # its callback's help (the commands' is set already)
    return only


def main() -> None:
    """Console-script entry point (`mlptrain = "mlptrain.cli:main"`). Output that cannot be
    written (stdout closed, /dev/full) is exit 2 with one line on stderr, wherever it happens
    (help and version text too); a closed pipe (EPIPE) is left to click."""
    import errno
    import sys

    from mlptrain.cli.common import NamedStdout, output_failed, stdout_works

    if sys.stdout is None:
        _exit_with(output_failed, None)
    sys.stdout = NamedStdout(sys.stdout)
    try:
        app_for(sys.argv[1:])()
    except SystemExit as done:
        if not stdout_works():
            _exit_with(output_failed, None)
        raise done from None
    except OSError as err:  # from click's own printing (help, version), outside any command
        if err.errno == errno.EPIPE:
            raise
        _exit_with(output_failed, err)


def _exit_with(report, err) -> None:
    import sys

    import typer

    try:
        report(err)
    except typer.Exit as done:
        sys.exit(done.exit_code)


__all__ = ["COMMANDS", "app", "app_for", "main"]
