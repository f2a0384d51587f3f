"""What every command of the CLI shares: error handling, consoles, common options.

Library errors become `error: <message>` on stderr and an exit code (2 bad input or an OS
error such as a full disk, 1 a check that ran and failed, 130 interrupted, 3 an internal
error; 141, silently, when the reader of stdout went away); `--debug` re-raises instead.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer

Debug = Annotated[
    bool, typer.Option("--debug", help="Show the full traceback of errors (for bug reports).")
]
Overrides = Annotated[
    list[str] | None,
    typer.Argument(
        help="Config overrides key.path=value, typed by the schema (optimizer.lr=0.05).",
        show_default=False,
    ),
]
SetOption = Annotated[
    list[str] | None,
    typer.Option("--set", "-s", help="A config override key.path=value (repeatable).",
                 show_default=False),
]


def console(stderr: bool = False, on_broken_pipe: Callable[[], None] | None = None):
    """A rich console on stdout (or stderr). When the reader of stdout goes away (EPIPE:
    `mlptrain ... | head -1`) it falls silent, stdout is pointed at /dev/null, and it calls
    `on_broken_pipe`; without one it raises BrokenPipeError, which `user_errors` turns into
    exit 141 (128 + SIGPIPE, what a shell reports for a process a closed pipe stopped)."""
    from rich.console import Console

    made = Console(stderr=stderr, highlight=False, soft_wrap=True)
    made.on_broken_pipe = lambda: _broken_pipe(made, on_broken_pipe)  # type: ignore[method-assign]
    return made


PIPE_CLOSED = 141  # the exit code when standard output's reader went away (128 + SIGPIPE)


def _broken_pipe(made, callback: Callable[[], None] | None) -> None:
    import errno

    made.quiet = True
    silence_stdout()
    if callback is None:
        raise BrokenPipeError(errno.EPIPE, "Broken pipe", STDOUT_NAME)
    callback()


def silence_stdout() -> None:
    """Point file descriptor 1 at /dev/null, so that later writes and the interpreter's flush
    at exit cannot fail again (after the reader of a pipe went away)."""
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.close(devnull)
    except OSError:
        pass


def fail(message: str, code: int = 2) -> None:
    """Print `error: message` on stderr and exit with `code`."""
    console(stderr=True).print(f"[bold red]error:[/] {message}", markup=True)
    raise typer.Exit(code)


@contextmanager
def user_errors(debug: bool):
    """Turn library errors into a message and an exit code; unexpected ones too, briefly."""
    from mlptrain.errors import MlptrainError

    try:
        with _data_warnings():
            yield
    except MlptrainError as err:
        if debug:
            raise
        fail(_escape(str(err)), err.exit_code)
    except KeyboardInterrupt:
        if debug:
            raise
        fail("interrupted", 130)
    except typer.Exit:
        raise
    except BrokenPipeError:  # stdout's reader went away: not a failure of the command
        if debug:
            raise
        silence_stdout()
        raise typer.Exit(PIPE_CLOSED) from None
    except OSError as err:  # the machine, not the code: a full disk, a read-only folder, ...
        if debug:
            raise
        where = f"{err.filename}: " if err.filename else ""
        fail(_escape(f"{where}{err.strerror or err}"), 2)
    except UnicodeEncodeError as err:  # a class name the terminal's encoding cannot show
        if debug:
            raise
        fail(f"cannot print {err.object[err.start:err.end]!a} in this terminal's encoding "
             f"({err.encoding}); set PYTHONIOENCODING=utf-8, or write to a file with --out", 2)
    except Exception as err:  # a bug: say so in one line, the traceback is behind --debug
        if debug:
            raise
        fail(f"internal error (a bug in mlptrain): {type(err).__name__}: "
             f"{_escape(_first_line(str(err)))}\n{REPORT_HINT}", 3)


@contextmanager
def _data_warnings():
    """Show the library's DataWarnings as `warning: <message>` on stderr, each time."""
    import warnings

    from mlptrain.errors import DataWarning

    with warnings.catch_warnings():
        shown = warnings.showwarning

        def show(message, category, filename, lineno, file=None, line=None):
            if issubclass(category, DataWarning):
                console(stderr=True).print(f"[yellow]warning:[/] {_escape(str(message))}",
                                           markup=True)
            else:
                shown(message, category, filename, lineno, file, line)

        warnings.simplefilter("always", DataWarning)
        warnings.showwarning = show
        yield


REPORT_HINT = ("  please report it: rerun the same command with --debug and include the "
               "traceback,\n  the command line and `mlptrain --version` in the bug report")


def _first_line(text: str, limit: int = 300) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line if len(line) <= limit else line[: limit - 3] + "..."


# ---- standard output that cannot be written -----------------------------------------------------

STDOUT_NAME = "<standard output>"


class NamedStdout:
    """sys.stdout, with write errors (a full disk, /dev/full) naming it: OSError.filename is
    "<standard output>", so the message says which output failed."""

    def __init__(self, stream):
        self._stream = stream

    def __getattr__(self, name):
        return getattr(self._stream, name)

    def write(self, text):
        return self._named(self._stream.write, text)

    def flush(self):
        return self._named(self._stream.flush)

    @staticmethod
    def _named(call, *args):
        try:
            return call(*args)
        except OSError as err:
            if err.filename is not None:
                raise
            raise type(err)(err.errno, err.strerror, STDOUT_NAME) from None


def stdout_works() -> bool:
    """False when standard output is closed, or flushing it fails (a full disk, /dev/full)."""
    import sys

    if sys.stdout is None:
        return False
    try:
        sys.stdout.flush()
    except (OSError, ValueError):
        return False
    return True


def output_failed(err: OSError | None) -> None:
    """Exit 2 with one line on stderr when standard output cannot be written; stdout is then
    pointed at /dev/null so that the interpreter's own flush at exit cannot fail again."""
    import os
    import sys

    why = f": {err.strerror}" if err is not None and err.strerror else " (it is closed)"
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.close(devnull)
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 (lives until exit)
    except OSError:
        pass
    fail(f"cannot write to standard output{why}", 2)


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)


JsonOut = Annotated[bool, typer.Option("--json", help="Print one JSON object instead of tables.")]
Target = Annotated[
    Path, typer.Argument(help="A checkpoint file, or a run directory (its best checkpoint).",
                         show_default=False)
]


def echo_json(value: Any) -> None:
    """Print `value` as one indented JSON object (non-JSON values via str)."""
    import json

    typer.echo(json.dumps(value, indent=2, default=str))
