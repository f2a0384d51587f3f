"""`mlptrain eval`: evaluate a saved model on a split of its data or on another file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from mlptrain.cli.common import Debug, JsonOut, Overrides, Target, console, echo_json, user_errors


def eval_(
    checkpoint: Target,
    overrides: Overrides = None,
    split: Annotated[
        str | None, typer.Option("--split", help="test, val or train (default: test; a --data "
                                 "file is evaluated whole).", show_default=False)
    ] = None,
    data: Annotated[
        Path | None, typer.Option("--data", help="Evaluate this whole file (CSV, NPZ or IDX "
                                  "images with their labels file) or a folder of IDX files "
                                  "instead of the run's own data.", show_default=False)
    ] = None,
    threshold: Annotated[
        float | None, typer.Option("--threshold", help="Binary classifiers: the decision "
                                   "threshold on the second class's probability (default: the "
                                   "config's data.decision_threshold).", show_default=False)
    ] = None,
    json_out: JsonOut = False,
    debug: Debug = False,
) -> None:
    """Evaluate a saved model on a split of its own data, or on another dataset.

    Preprocessing comes from the checkpoint, never refitted; the numbers equal those training
    reported for the same checkpoint and split. Data overrides (data.noise=0.3) change the
    dataset. The result is also written next to the checkpoint: <name>.eval-<split>.json on
    the run's own data; on other data (--data, overrides) <name>.eval-<split or file>-<hash>.json,
    which records that data under "data".
    """
    with user_errors(debug):
        from mlptrain.evaluation import evaluate_checkpoint

        result = evaluate_checkpoint(checkpoint, split=split, data=data,
                                     overrides=list(overrides or []), threshold=threshold)
        if json_out:
            echo_json(result)
        else:
            _print_eval(result)


def _print_eval(result: dict[str, Any]) -> None:
    from mlptrain.report import metrics_table, rows_table

    out = console()
    title = f"{result['split']} ({result['n_samples']} samples) of {result['checkpoint']}"
    out.print(metrics_table(title, result["metrics"]))
    data = result["data"]
    if not data["own"]:
        on = [f"--data {data['file']}"] if data["file"] else []
        out.print("on other data: " + ", ".join(on + data["overrides"]))
    if "per_class" in result:
        rows = [[r["class"], f"{r['precision']:.3f}", f"{r['recall']:.3f}", f"{r['f1']:.3f}",
                 r["support"]] for r in result["per_class"]]
        out.print(rows_table("per class", ["class", "precision", "recall", "F1", "support"], rows))
        names = result["class_names"]
        matrix = [[f"actual {n}", *row] for n, row in zip(names, result["confusion_matrix"],
                                                          strict=True)]
        out.print(rows_table("confusion matrix (rows: actual, columns: predicted)",
                             ["", *names], matrix))
    if "written" in result:
        out.print(f"written: {result['written']}")


def register(app: typer.Typer) -> None:
    """Add `eval` to `app`."""
    app.command(name="eval", epilog="Examples:\n\n  mlptrain eval runs/spiral-20260101-120000\n\n"
                "  mlptrain eval runs/x/checkpoints/last.safetensors --split val --json\n\n"
                "  mlptrain eval runs/x --data other.csv")(eval_)
