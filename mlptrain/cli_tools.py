"""The commands used after (and before) training: eval, gradcheck, predict, inspect, plot.

Each command parses its options, calls one library function, and renders the result;
`register_tools(app)` adds them to the main Typer app (see `cli.py`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from mlptrain.cli_common import Debug, Overrides, console, user_errors


def eval_(
    checkpoint: Annotated[
        Path, typer.Argument(help="A checkpoint file, or a run directory (its best checkpoint).")
    ],
    split: Annotated[str, typer.Option("--split", help="test, val or train.")] = "test",
    json_out: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    debug: Debug = False,
) -> None:
    """Evaluate a saved model on a split of its own data (preprocessing from the checkpoint)."""
    with user_errors(debug):
        from mlptrain.evaluation import evaluate_checkpoint

        result = evaluate_checkpoint(checkpoint, split=split)
        _print_eval(result, json_out)


def _print_eval(result: dict[str, Any], json_out: bool) -> None:
    import json

    from mlptrain.report import metrics_table

    if json_out:
        typer.echo(json.dumps(result, indent=2))
        return
    console().print(metrics_table(f"{result['split']} split of {result['checkpoint']}",
                                  result["metrics"]))


def gradcheck(
    target: Annotated[
        Path | None, typer.Argument(help="A config or a checkpoint; none: the built-in matrix "
                                    "of small networks.", show_default=False)
    ] = None,
    overrides: Overrides = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    debug: Debug = False,
) -> None:
    """Check the analytic gradients against centered finite differences in float64."""
    with user_errors(debug):
        from mlptrain.gradcheck import run_gradcheck

        raise typer.Exit(run_gradcheck(target, overrides or [], json_out=json_out))


def register_tools(app: typer.Typer) -> None:
    """Add the commands of this module to `app`."""
    app.command(name="eval", epilog="Examples:\n\n  mlptrain eval runs/spiral-20260101-120000\n\n"
                "  mlptrain eval runs/x/checkpoints/last.safetensors --split val --json")(eval_)
    app.command(epilog="Examples:\n\n  mlptrain gradcheck\n\n  mlptrain gradcheck configs/spiral.yaml"
                )(gradcheck)
