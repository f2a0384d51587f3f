"""`mlptrain gradcheck`: backprop's gradients against centered finite differences."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mlptrain.cli.common import Debug, JsonOut, Overrides, console, echo_json, user_errors


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
            echo_json(report.to_dict())
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


def register(app: typer.Typer) -> None:
    """Add `gradcheck` to `app`."""
    app.command(epilog="Examples:\n\n  mlptrain gradcheck\n\n  mlptrain gradcheck "
                "configs/spiral.yaml model.dropout=0.3\n\n  mlptrain gradcheck "
                "runs/spiral-20260101-120000 --samples 50 --json")(gradcheck)
