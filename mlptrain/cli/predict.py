"""`mlptrain predict`: predict every row of a file with a saved model, as CSV."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mlptrain.cli.common import Debug, Target, console, user_errors


def predict(
    checkpoint: Target,
    input_path: Annotated[Path, typer.Argument(help="Features to predict on: CSV, NPZ or IDX.",
                                               show_default=False)],
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Write the CSV here (atomically) "
                                  "instead of stdout.", show_default=False)
    ] = None,
    proba: Annotated[bool, typer.Option("--proba", help="Add one probability column per "
                                        "class.")] = False,
    ids: Annotated[bool, typer.Option("--ids", help="Class ids instead of class names.")] = False,
    threshold: Annotated[
        float | None, typer.Option("--threshold", help="Binary classifiers: predict the second "
                                   "class when its probability is at least this (default: the "
                                   "config's data.decision_threshold).", show_default=False)
    ] = None,
    debug: Debug = False,
) -> None:
    """Predict every row of INPUT with a saved model (its own preprocessing) as CSV."""
    with user_errors(debug):
        from mlptrain.prediction import predict_file, write_predictions

        text = predict_file(checkpoint, input_path, proba=proba, ids=ids, threshold=threshold)
        if out is None:
            typer.echo(text, nl=False)
        else:
            write_predictions(out, text)
            console(stderr=True).print(f"written: {out} ({text.count(chr(10)) - 1} rows)")


def register(app: typer.Typer) -> None:
    """Add `predict` to `app`."""
    app.command(epilog="Examples:\n\n  mlptrain predict runs/spiral-20260101-120000 points.csv"
                "\n\n  mlptrain predict runs/x images.idx --proba --out predictions.csv")(predict)
