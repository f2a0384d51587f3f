"""`mlptrain sweep`: hyper-parameter search on Optuna (a thin layer over mlptrain.sweep)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from mlptrain.cli.common import Debug, Overrides, console, user_errors

if TYPE_CHECKING:
    from rich.live import Live

WORKER = "worker"  # `mlptrain sweep worker ...` joins a running study


def sweep(
    sweep_file: Annotated[
        Path | None, typer.Argument(help="The sweep file (YAML), or `worker` to join a running "
                                    "study (with --storage and --study).", show_default=False)
    ] = None,
    overrides: Overrides = None,
    workers: Annotated[int, typer.Option("--workers", "-w", help="Local worker processes; "
                                         "each gets cores / workers BLAS threads.")] = 1,
    trials: Annotated[
        int | None, typer.Option("--trials", "-n", help="The total number of trials (overrides "
                                 "the file's; with --resume: the new total).", show_default=False)
    ] = None,
    storage: Annotated[
        str | None, typer.Option("--storage", envvar="MLPTRAIN_SWEEP_STORAGE",
                                 help="A database URL for the study (default: SQLite in the "
                                 "sweep directory), e.g. postgresql://user@host/db.",
                                 show_default=False)
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", help="Output root of the sweep directory "
                                  "(default: sweeps).", show_default=False)
    ] = None,
    resume: Annotated[
        Path | None, typer.Option("--resume", help="Continue this sweep directory toward its "
                                  "total budget.", show_default=False)
    ] = None,
    study: Annotated[
        str | None, typer.Option("--study", help="The study name (default: the sweep "
                                 "directory's name; required by `worker`).", show_default=False)
    ] = None,
    threads: Annotated[
        int | None, typer.Option("--threads", min=1, help="worker: BLAS threads (default: the "
                                 "base config's train.threads, else every core).",
                                 show_default=False)
    ] = None,
    directory: Annotated[
        Path | None, typer.Option("--dir", help="worker: the sweep directory as this machine "
                                  "sees it (default: the one the study records).",
                                  show_default=False)
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print only errors.")] = False,
    debug: Debug = False,
) -> None:
    """Search hyper-parameters of a base config with Optuna; every trial is a run directory.

    The sweep directory (sweeps/<name>-<timestamp>/) holds the study (SQLite by default), one
    run directory per trial under trials/, sweep.csv (one row per trial) and best.yaml (the best
    trial's config: `mlptrain train best.yaml` reproduces its value exactly). A worker killed at
    any moment is replaced and its trial continues from its last checkpoint. Needs Optuna:
    pip install -e '.\\[sweep]'.
    """
    with user_errors(debug):
        from mlptrain.errors import ConfigError

        if sweep_file is not None and str(sweep_file) == WORKER:
            _worker(storage, study, threads, directory, overrides)
            return
        if resume is not None and sweep_file is not None:
            raise ConfigError("give either SWEEP.yaml or --resume SWEEP_DIR, not both")
        if resume is None and sweep_file is None:
            raise ConfigError("missing SWEEP.yaml: give a sweep file, or --resume SWEEP_DIR",
                              hint="mlptrain sweep configs/sweeps/spiral.yaml --workers 2")
        report = _Report(quiet)
        try:
            if resume is not None:
                if overrides:
                    raise ConfigError("config overrides cannot change a sweep being resumed")
                from mlptrain.sweep import resume_sweep

                result = resume_sweep(resume, workers=workers, trials=trials, storage=storage,
                                      on_update=report.update)
            else:
                from mlptrain.sweep import run_sweep

                result = run_sweep(sweep_file, list(overrides or []), workers=workers,
                                   trials=trials, storage=storage, out=out, study_name=study,
                                   on_update=report.update)
        finally:
            report.close()
        _finish(result, quiet)


def _worker(storage: str | None, study: str | None, threads: int | None,
            directory: Path | None, overrides: list[str] | None) -> None:
    from mlptrain.cli.train import _set_threads
    from mlptrain.errors import ConfigError

    if storage is None or study is None:
        raise ConfigError("sweep worker needs --storage URL and --study NAME",
                          hint="mlptrain sweep worker --storage postgresql://host/db --study NAME")
    if overrides:
        raise ConfigError(f"sweep worker takes no config overrides, got {overrides[0]!r}")
    from mlptrain.threads import cores

    chosen = threads or cores()
    _set_threads(chosen)  # before numpy (optuna imports it)
    from mlptrain.sweep import run_worker

    result = run_worker(storage, study, threads=chosen, sweep_dir=directory)
    if result.interrupted:
        raise typer.Exit(130)


def _finish(result, quiet: bool) -> None:
    out = console()
    if result.status == "interrupted":
        console(stderr=True).print(f"interrupted: resume with\n  mlptrain sweep --resume "
                                   f"{result.sweep_dir}", markup=False)
        raise typer.Exit(130)
    if quiet:
        return
    counts: dict[str, int] = {}
    for row in result.rows:
        counts[row.state] = counts.get(row.state, 0) + 1
    out.print(f"{len(result.rows)} trials: " + ", ".join(f"{n} {s}" for s, n in counts.items()),
              markup=False)
    if result.best is None:
        out.print("no trial completed, so there is no best.yaml", markup=False)
    else:
        best = result.best
        out.print(f"best: trial {best.trial}, {result.spec.metric} = {best.value:.6g}  "
                  + _params_text(best.params), markup=False)
        out.print(f"reproduce: {result.reproduce}", markup=False)
    out.print(f"study {result.study_name} in {result.storage}", markup=False)
    out.print(f"sweep directory: {result.sweep_dir}", markup=False)


def _params_text(params: dict[str, Any]) -> str:
    return " ".join(f"{k}={_short(v)}" for k, v in params.items())


def _short(value: Any) -> str:
    import json

    if isinstance(value, float):
        return f"{value:.4g}"
    return json.dumps(value) if isinstance(value, (list, dict)) else str(value)


class _Report:
    """The trials as they go: a live table on a terminal, one plain line per finished trial
    off one."""

    FINAL = ("complete", "pruned", "fail")

    def __init__(self, quiet: bool):
        self.quiet = quiet
        self.out = console()
        self.live: Live | None = None
        self.printed: set[tuple[int, int]] = set()
        self.started = time.monotonic()

    def update(self, rows) -> None:
        if self.quiet:
            return
        if self.out.is_terminal:
            self._live(rows)
            return
        for row in rows:
            key = (row.trial, row.number)
            if row.state in self.FINAL and key not in self.printed:
                self.printed.add(key)
                value = "" if row.value is None else f" value={row.value:.6g}"
                took = "" if row.duration is None else f" {row.duration:.1f}s"
                self.out.print(f"trial {row.trial} {row.state}{value} {_params_text(row.params)}"
                               f"{took}", markup=False, highlight=False)

    def _live(self, rows) -> None:
        from rich.live import Live

        table = sweep_table(rows)
        if self.live is None:
            self.live = Live(table, console=self.out, refresh_per_second=4, transient=False)
            self.live.start()
        else:
            self.live.update(table)

    def close(self) -> None:
        if self.live is not None:
            self.live.stop()
            self.live = None


def sweep_table(rows):
    """A rich table of the trials: trial, state, value, parameters, duration."""
    from rich.table import Table

    keys = sorted({k for r in rows for k in r.params})
    table = Table(title=f"{len(rows)} trials", title_justify="left")
    for name in ("trial", "state", "value", *keys, "time (s)"):
        table.add_column(name, justify="right" if name not in ("state", *keys) else "left")
    for r in rows:
        table.add_row(str(r.trial), r.state + (f" (retry {r.retries})" if r.retries else ""),
                      "" if r.value is None else f"{r.value:.6g}",
                      *[_short(r.params[k]) if k in r.params else "" for k in keys],
                      "" if r.duration is None else f"{r.duration:.1f}")
    return table


def register(app: typer.Typer) -> None:
    """Add `sweep` to `app`."""
    app.command(epilog="Examples:\n\n  mlptrain sweep configs/sweeps/spiral.yaml --workers 2\n\n"
                "  mlptrain sweep --resume sweeps/spiral-sweep-20260101-120000\n\n"
                "  mlptrain sweep worker --storage postgresql://user@db/optuna --study NAME\n\n"
                "  mlptrain train sweeps/spiral-sweep-20260101-120000/best.yaml")(sweep)
