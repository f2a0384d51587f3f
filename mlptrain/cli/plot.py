"""`mlptrain plot`: training curves of one or more runs as one PNG."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mlptrain.cli.common import Debug, console, user_errors


def plot(
    run_dirs: Annotated[list[Path], typer.Argument(help="One or more run directories; "
                                                   "several overlay their curves.")],
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="The PNG to write (default: "
                                  "RUN_DIR/plot.png for one run, plot.png for several).",
                                  show_default=False)
    ] = None,
    debug: Debug = False,
) -> None:
    """Plot loss, accuracy (or MSE/R²), learning rate and per-layer gradient norms and
    activation std over epochs as one PNG. Needs matplotlib: pip install 'mlptrain\\[plot]'."""
    with user_errors(debug):
        from mlptrain.plotting import plot_runs

        target = out or (run_dirs[0] / "plot.png" if len(run_dirs) == 1 else Path("plot.png"))
        written = plot_runs(run_dirs, target)
        console().print(f"written: {written}")


def register(app: typer.Typer) -> None:
    """Add `plot` to `app`."""
    app.command(epilog="Examples:\n\n  mlptrain plot runs/spiral-20260101-120000\n\n  "
                "mlptrain plot runs/a runs/b --out compare.png")(plot)
