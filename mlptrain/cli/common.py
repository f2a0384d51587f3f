"""What every command of the CLI shares: error handling, consoles, common options.

Library errors become `error: <message>` on stderr and an exit code (2 bad input or an OS
error such as a full disk, 1 a check that ran and failed, 130 interrupted, 3 an internal
error); `--debug` re-raises instead.
"""

from __future__ import annotations

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


def console(stderr: bool = False):
    from rich.console import Console

    return Console(stderr=stderr, highlight=False, soft_wrap=True)


def fail(message: str, code: int = 2) -> None:
    """Print `error: message` on stderr and exit with `code`."""
    console(stderr=True).print(f"[bold red]error:[/] {message}", markup=True)
    raise typer.Exit(code)


@contextmanager
def user_errors(debug: bool):
    """Turn library errors into a message and an exit code; unexpected ones too, briefly."""
    from mlptrain.errors import MlptrainError

    try:
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
    except OSError as err:  # the machine, not the code: a full disk, a read-only folder, ...
        if debug:
            raise
        where = f"{err.filename}: " if err.filename else ""
        fail(_escape(f"{where}{err.strerror or err}"), 2)
    except Exception as err:  # a bug: say so in one line, the traceback is behind --debug
        if debug:
            raise
        fail(
            f"internal error: {type(err).__name__}: {_escape(str(err))}\n"
            "  rerun with --debug for the traceback, and please report it",
            3,
        )


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
