"""`mlptrain runs`: one row per run directory found under the roots, and `runs diff A B`.

Exit codes: 0 every run directory found was read (a filter that leaves none prints an empty
table, or `[]`); 2 a root does not exist, no run directory was found, a bad --sort/--where,
or some run directory could not be read (the readable ones are still listed, each
unreadable one gets one line on stderr saying why).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from mlptrain.cli.common import Debug, console, echo_json, user_errors

CURVE_WIDTH = 16


def runs(
    roots: Annotated[
        list[str] | None,
        typer.Argument(help="Run directories or folders holding them (searched at any depth, "
                       "sweeps too); default: runs. `runs diff A B` compares two runs.",
                       show_default=False),
    ] = None,
    sort: Annotated[
        str | None, typer.Option("--sort", help="Sort by a column (best, epochs, duration, "
                                 "test_accuracy, final_val_loss, ...) or a config key "
                                 "(optimizer.lr); runs without it come last.",
                                 show_default=False)
    ] = None,
    desc: Annotated[bool, typer.Option("--desc", help="Sort in descending order.")] = False,
    where: Annotated[
        list[str] | None,
        typer.Option("--where", "-w", help="Keep runs where KEY=VALUE (also !=, <, <=, >, >=) "
                     "holds for a column or config key; repeatable (all must hold).",
                     show_default=False),
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print a JSON list (one object per "
                                           "run) instead of a table.")] = False,
    curves: Annotated[bool, typer.Option("--curves", help="Add a sparkline of each run's "
                                         "validation loss (on a terminal only).")] = False,
    debug: Debug = False,
) -> None:
    """List runs: name, status, epochs, best monitored value, test metrics, training time and
    the config keys that differ between the listed runs. Plain text when stdout is not a
    terminal. Exit 0, or 2 (bad input; unreadable runs are named on stderr, one line each)."""
    with user_errors(debug):
        args = list(roots or [])
        if args[:1] == ["diff"]:
            _diff(args[1:], json_out)
            return
        _list(args or ["runs"], sort, desc, list(where or []), json_out, curves)


def _list(roots: list[str], sort: str | None, desc: bool, where: list[str], json_out: bool,
          curves: bool) -> None:
    from mlptrain import runs as lib
    from mlptrain.errors import RunDirError

    found, bad = lib.load_runs(roots)
    if not found and not bad:
        raise RunDirError(
            "no run directories found (a run directory holds config.yaml and checkpoints/ "
            "or metrics.csv)", path=", ".join(roots))
    differing = lib.differing_keys(found)
    shown = lib.filter_runs(found, [lib.Condition.parse(w) for w in where])
    if sort is not None:
        shown = lib.sort_runs(shown, sort, descending=desc, known=found)
    if json_out:
        echo_json([{**r.to_json(), "differs": {k: r.config.get(k) for k in differing}}
                   for r in shown])
    else:
        _print_table(shown, differing, curves)
    _report_bad(bad)


def _report_bad(bad) -> None:
    if not bad:
        return
    err = console(stderr=True)
    for item in bad:
        err.print(f"skipped {item.run_dir}: {item.reason}", markup=False, highlight=False)
    raise typer.Exit(2)


def _print_table(shown, differing: list[str], curves: bool) -> None:
    from mlptrain import runs as lib
    from mlptrain.report import format_metric, plain_table, rows_table

    out = console()
    monitors = {r.monitor for r in shown if r.monitor}
    best = f"best {monitors.pop()}" if len(monitors) == 1 else "best"
    tests = lib.columns_of_test(shown)
    columns = ["name", "status", "epochs", best, *tests, "duration", *differing]
    show_curves = curves and out.is_terminal
    if show_curves:
        columns.append("loss")
    rows = []
    for r in shown:
        row = [r.name, r.status, r.epochs,
               format_metric(r.monitor or "", r.best) if len(monitors) <= 1 or r.monitor is None
               else f"{r.monitor} {format_metric(r.monitor, r.best)}",
               *[format_metric(t, r.value(t)) for t in tests],
               format_metric("seconds", r.duration), *[_cell(r.config.get(k)) for k in differing]]
        if show_curves:
            row.append(_curve_cell(r.run_dir))
        rows.append(["-" if v is None else v for v in row])
    if out.is_terminal:
        out.print(rows_table(f"{len(shown)} runs", columns, rows))
    else:
        typer.echo(plain_table(columns, rows))


def _cell(value: Any) -> str:
    import json

    return "-" if value is None else value if isinstance(value, str) else json.dumps(value)


def _curve_cell(run_dir: Path) -> str:
    """The validation loss (the training loss without a validation split) as a sparkline."""
    from mlptrain.report import loss_curves
    from mlptrain.runs import read_metrics

    curves = loss_curves(read_metrics(run_dir), CURVE_WIDTH)
    return curves.get("val", curves.get("train", "-"))


def _diff(args: list[str], json_out: bool) -> None:
    from mlptrain import runs as lib
    from mlptrain.errors import UserError

    if len(args) != 2:
        raise UserError(f"runs diff takes two run directories, got {len(args)}",
                        hint="mlptrain runs diff runs/a runs/b")
    a, b = (lib.read_run(p) for p in args)
    result = lib.diff_runs(a, b)
    if json_out:
        echo_json({"a": str(a.run_dir), "b": str(b.run_dir),
                   **{part: [{"key": k, "a": x, "b": y} for k, x, y in items]
                      for part, items in result.items()}})
        return
    from mlptrain.report import format_metric, plain_table, rows_table

    out = console()
    names = [str(a.run_dir), str(b.run_dir)]
    config = [[k, _cell(x), _cell(y)] for k, x, y in result["config"]]
    metrics = [[k, format_metric(k, x), format_metric(k, y)] for k, x, y in result["metrics"]]
    for title, rows in (("config keys that differ", config), ("metrics that differ", metrics)):
        if out.is_terminal:
            out.print(rows_table(title, ["key", *names], rows) if rows else f"{title}: none")
        else:
            typer.echo(f"{title}:\n" + (plain_table(["key", *names], rows) if rows else "  none"))


def register(app: typer.Typer) -> None:
    """Add `runs` to `app`."""
    app.command(epilog="Examples:\n\n  mlptrain runs\n\n  mlptrain runs runs/ sweeps/ --sort "
                "test_accuracy --desc\n\n  mlptrain runs --where optimizer.lr<=0.01 --json\n\n"
                "  mlptrain runs diff runs/a runs/b")(runs)
