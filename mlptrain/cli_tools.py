"""The commands used after (and before) training: eval, gradcheck, predict, inspect, plot.

Each command parses its options, calls one library function (evaluation, gradcheck,
prediction, inspection, plotting), and renders the result as rich tables or one JSON object;
`register_tools(app)` adds them to the main Typer app (see `cli.py`). numpy and the library
are imported inside the commands so that `mlptrain --help` stays fast.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from mlptrain.cli_common import Debug, Overrides, console, user_errors

JsonOut = Annotated[bool, typer.Option("--json", help="Print one JSON object instead of tables.")]
Target = Annotated[
    Path, typer.Argument(help="A checkpoint file, or a run directory (its best checkpoint).",
                         show_default=False)
]


def _echo_json(value: Any) -> None:
    typer.echo(json.dumps(value, indent=2, default=str))


# ---- eval -----------------------------------------------------------------------------------


def eval_(
    checkpoint: Target,
    overrides: Overrides = None,
    split: Annotated[str, typer.Option("--split", help="test, val or train.")] = "test",
    data: Annotated[
        Path | None, typer.Option("--data", help="Evaluate this whole file (CSV/NPZ/IDX) "
                                  "instead of a split of the run's own data.", show_default=False)
    ] = None,
    json_out: JsonOut = False,
    debug: Debug = False,
) -> None:
    """Evaluate a saved model on a split of its own data, or on another dataset.

    Preprocessing comes from the checkpoint, never refitted; the numbers equal those training
    reported for the same checkpoint and split. Data overrides (data.noise=0.3) change the
    dataset. The result is also written next to the checkpoint (<name>.eval-<split>.json).
    """
    with user_errors(debug):
        from mlptrain.evaluation import evaluate_checkpoint

        result = evaluate_checkpoint(checkpoint, split=split, data=data,
                                     overrides=list(overrides or []))
        if json_out:
            _echo_json(result)
        else:
            _print_eval(result)


def _print_eval(result: dict[str, Any]) -> None:
    from mlptrain.report import metrics_table, rows_table

    out = console()
    title = f"{result['split']} ({result['n_samples']} samples) of {result['checkpoint']}"
    out.print(metrics_table(title, result["metrics"]))
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


# ---- gradcheck ------------------------------------------------------------------------------


def gradcheck(
    target: Annotated[
        Path | None, typer.Argument(help="A config (.yaml), a checkpoint or a run directory; "
                                    "none: the built-in matrix of small networks.",
                                    show_default=False)
    ] = None,
    overrides: Overrides = None,
    eps: Annotated[float, typer.Option("--eps", help="Finite-difference step (float64).")] = 1e-5,
    threshold: Annotated[
        float, typer.Option("--threshold", help="Largest relative error that passes.")
    ] = 1e-5,
    samples: Annotated[
        int, typer.Option("--samples", help="Entries checked per tensor (a seeded random "
                          "sample when a tensor is larger).")
    ] = 200,
    batch: Annotated[int, typer.Option("--batch", help="Samples in the checked batch.")] = 16,
    random_data: Annotated[
        bool, typer.Option("--random-data", help="Random inputs and targets of the right "
                           "shape instead of the config's data (no download).")
    ] = False,
    json_out: JsonOut = False,
    debug: Debug = False,
) -> None:
    """Check backprop's gradients against centered finite differences in float64.

    relative error = |a - n| / max(|a| + |n|, 1e-6). Around 1e-7 is right, above 1e-4 is
    wrong. Entries whose step crosses a relu kink are counted apart, not as failures. Exit
    code 0: every check passed; 1: some failed; 2: bad input.
    """
    with user_errors(debug):
        from mlptrain.errors import CheckFailed
        from mlptrain.gradcheck import run_gradcheck

        report = run_gradcheck(target, list(overrides or []), eps=eps, threshold=threshold,
                               samples=samples, batch=batch, random_data=random_data)
        if json_out:
            _echo_json(report.to_dict())
        else:
            _print_gradcheck(report)
        if not report.passed:
            raise CheckFailed(f"gradient check failed: {', '.join(report.failed)} "
                              f"(relative error above {report.threshold:g})")


def _print_gradcheck(report) -> None:
    from mlptrain.report import rows_table

    verdict = {True: "[green]pass[/]", False: "[bold red]FAIL[/]"}
    if report.target is None:
        rows = [[c.name, f"{c.max_rel:.2e}", c.checked, c.kinks,
                 verdict[report.component_passed(c)]] for c in report.components]
        title = "gradient check: built-in matrix"
        columns = ["component", "max rel. error", "entries", "at a kink", "result"]
    else:
        rows = [[t.name, "x".join(map(str, t.shape)), f"{t.max_rel:.2e}", t.checked, t.kinks,
                 verdict[t.passed(report.threshold)]]
                for c in report.components for t in c.tensors]
        title = f"gradient check: {report.target}"
        columns = ["tensor", "shape", "max rel. error", "entries", "at a kink", "result"]
    out = console()
    out.print(rows_table(title, columns, rows), markup=True)
    out.print(f"eps {report.eps:g}, threshold {report.threshold:g}; "
              f"max relative error {max(c.max_rel for c in report.components):.2e}")


# ---- predict --------------------------------------------------------------------------------


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
    debug: Debug = False,
) -> None:
    """Predict every row of INPUT with a saved model (its own preprocessing) as CSV."""
    with user_errors(debug):
        from mlptrain.prediction import predict_file, write_predictions

        text = predict_file(checkpoint, input_path, proba=proba, ids=ids)
        if out is None:
            typer.echo(text, nl=False)
        else:
            write_predictions(out, text)
            console(stderr=True).print(f"written: {out} ({text.count(chr(10)) - 1} rows)")


# ---- inspect --------------------------------------------------------------------------------


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
            _echo_json(result.to_dict())
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


def _bytes(n: int) -> str:
    for unit in ("B", "KiB", "MiB"):
        if n < 1024:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"


# ---- plot -----------------------------------------------------------------------------------


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


def register_tools(app: typer.Typer) -> None:
    """Add the commands of this module to `app`."""
    app.command(name="eval", epilog="Examples:\n\n  mlptrain eval runs/spiral-20260101-120000\n\n"
                "  mlptrain eval runs/x/checkpoints/last.safetensors --split val --json\n\n"
                "  mlptrain eval runs/x --data other.csv")(eval_)
    app.command(epilog="Examples:\n\n  mlptrain gradcheck\n\n  mlptrain gradcheck "
                "configs/spiral.yaml model.dropout=0.3\n\n  mlptrain gradcheck "
                "runs/spiral-20260101-120000 --samples 50 --json")(gradcheck)
    app.command(epilog="Examples:\n\n  mlptrain predict runs/spiral-20260101-120000 points.csv"
                "\n\n  mlptrain predict runs/x images.idx --proba --out predictions.csv")(predict)
    app.command(epilog="Examples:\n\n  mlptrain inspect configs/spiral.yaml\n\n  mlptrain "
                "inspect configs/spiral.yaml model.activation=sigmoid model.init=normal "
                "model.init_scale=1.0\n\n  mlptrain inspect runs/spiral-20260101-120000 --json"
                )(inspect)
    app.command(epilog="Examples:\n\n  mlptrain plot runs/spiral-20260101-120000\n\n  "
                "mlptrain plot runs/a runs/b --out compare.png")(plot)
