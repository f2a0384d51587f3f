"""`mlptrain plot`: training curves of one or more runs as one PNG."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mlptrain.cli.common import Debug, console, user_errors


def plot(
    run_dirs: Annotated[list[Path], typer.Argument(help="Run directories, or folders of them "
                                                   "(every run under the folder); several "
                                                   "overlay their curves, labelled by the "
                                                   "config keys that differ.")],
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="The PNG to write (default: "
                                  "RUN_DIR/plot.png for one run, plot.png for several).",
                                  show_default=False)
    ] = None,
    metric: Annotated[
        list[str] | None,
        typer.Option("--metric", "-m", help="Draw only this metrics.csv column (val_loss, "
                     "val_accuracy, lr, ...), one panel each; repeatable.", show_default=False),
    ] = None,
    debug: Debug = False,
) -> None:
    """Plot loss, accuracy (or MSE/R²), learning rate and per-layer gradient norms and
    activation std over epochs as one PNG; with --metric, only the metrics named. A sweep
    directory draws its best trials' curves and a second PNG (-values.png) of the objective
    against each searched key. Needs
    matplotlib: pip install 'mlptrain\\[plot]'. Exit 2 when a run under a folder cannot be
    plotted (the others are drawn; each skipped run is named on stderr)."""
    with user_errors(debug):
        from mlptrain.errors import RunDirError
        from mlptrain.plotting import plot_runs
        from mlptrain.runs import plottable_runs
        from mlptrain.sweep.plots import is_sweep_dir, plot_sweep

        if len(run_dirs) == 1 and is_sweep_dir(run_dirs[0]):  # the top trials, value vs keys
            for written in plot_sweep(run_dirs[0], out, list(metric or [])):
                console().print(f"written: {written}")
            return

        paths, bad = plottable_runs(run_dirs)
        for item in bad:
            console(stderr=True).print(f"skipped {item.run_dir}: {item.reason}", markup=False)
        if not paths:
            raise RunDirError("no run under it has metrics to plot yet",
                              path=", ".join(map(str, run_dirs)))
        target = out or (run_dirs[0] / "plot.png" if len(run_dirs) == 1 else Path("plot.png"))
        written = plot_runs(paths, target, metrics=list(metric or []))
        console().print(f"written: {written}")
        if bad:
            raise typer.Exit(2)


def register(app: typer.Typer) -> None:
    """Add `plot` to `app`."""
    app.command(epilog="Examples:\n\n  mlptrain plot runs/spiral-20260101-120000\n\n  "
                "mlptrain plot runs/a runs/b --out compare.png\n\n  "
                "mlptrain plot runs/ --metric val_loss --metric val_accuracy")(plot)
