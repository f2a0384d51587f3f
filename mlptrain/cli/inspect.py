"""`mlptrain inspect`: architecture and activation statistics of a config or checkpoint."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mlptrain.cli.common import Debug, JsonOut, Overrides, console, echo_json, user_errors


def inspect(
    target: Annotated[Path, typer.Argument(help="A config (.yaml) or a checkpoint / run "
                                           "directory.", show_default=False)],
    overrides: Overrides = None,
    batch: Annotated[int, typer.Option("--batch", min=1, help="Samples pushed through for the "
                                       "activation statistics.")] = 512,
    json_out: JsonOut = False,
    debug: Debug = False,
) -> None:
    """Show the architecture (shapes, parameters, FLOPs, memory) and the mean and std of every
    layer's activations on a batch of real data, warning when they vanish or explode.

    A config is looked at at initialization; a checkpoint at its saved weights.
    """
    with user_errors(debug):
        from mlptrain.inspection import inspect_target

        result = inspect_target(target, list(overrides or []), batch=batch)
        if json_out:
            echo_json(result.to_dict())
        else:
            _print_inspection(result)


def _print_inspection(result) -> None:
    from mlptrain.report import rows_table

    out = console()
    rows = []
    for r in result.layers:
        extras = [x for x in ("bn" if r["batchnorm"] else "",
                              f"dropout {r['dropout']:g}" if r["dropout"] else "") if x]
        act = r["activation"] + (f" ({', '.join(extras)})" if extras else "")
        rows.append([r["name"], f"{r['fan_in']} x {r['fan_out']}", act, f"{r['n_params']:,}",
                     f"{r['flops']:,}"])
    rows.append(["total", "", "", f"{result.n_params:,}", f"{result.flops:,}"])
    out.print(rows_table(f"architecture of {result.source}",
                         ["layer", "shape", "activation", "parameters", "FLOPs/sample"], rows))
    out.print(f"parameters: {result.n_params:,} ({result.dtype}: {_bytes(result.memory_bytes)})")
    stats = [["input", "", f"{result.input_stats['mean']:+.4f}",
              f"{result.input_stats['std']:.4f}", ""]]
    for s in result.activations:
        flag = s["dead_fraction"] if s["dead_fraction"] is not None else s["saturated_fraction"]
        what = "dead" if s["dead_fraction"] is not None else "saturated"
        stats.append([s["name"], s["activation"], f"{s['mean']:+.4f}", f"{s['std']:.4f}",
                      "" if flag is None else f"{flag:.0%} {what}"])
    out.print(rows_table(f"activations at {result.weights}",
                         ["layer", "activation", "mean", "std", "units"], stats))
    for warning in result.warnings:
        console(stderr=True).print(f"[yellow]warning:[/] {warning}", markup=True)


def _bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB"):
        if n < 1024:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"


def register(app: typer.Typer) -> None:
    """Add `inspect` to `app`."""
    app.command(epilog="Examples:\n\n  mlptrain inspect configs/spiral.yaml\n\n  mlptrain "
                "inspect configs/spiral.yaml model.activation=sigmoid model.init=normal "
                "model.init_scale=1.0\n\n  mlptrain inspect runs/spiral-20260101-120000 --json"
                )(inspect)
