"""Small tables: the whole `mlptrain train` process against scikit-learn's `fit`, same epochs.

    .venv/bin/python bench/small_data.py                 # 3 tables x 3 interleaved rounds
    .venv/bin/python bench/small_data.py --quick         # 1 round of 20 epochs: a smoke run
    .venv/bin/python bench/small_data.py --datasets digits --epochs 500 --rounds 5 --threads 1

scikit-learn's bundled copies of digits (1,797 x 64, 10 classes), breast cancer (569 x 30,
2 classes) and diabetes (442 x 10, regression) are written to one CSV each (no network). On
every row of it, with the same network, epochs, batch size and solver, with the same BLAS
threads (``--threads``, default every core, as mlptrain's own default):

- **mlptrain**: ``mlptrain train CONFIG --quiet --threads T`` as a whole process (subprocess;
  wall time from start to exit: interpreter, imports, CSV parsing, training, the final
  summary). Twice: with the default ``train.checkpoint.min_interval_s`` (``last`` at most
  every few seconds) and with 0 (``last`` and ``best`` written, fsync'd, after every epoch).
  From the run's summary.json: ``train_seconds`` (the training steps only) and
  ``wall_seconds`` (the training loop with everything around the steps: per-layer
  statistics, checkpoints, metric rows, the final summary), so the per-epoch overhead is
  (wall_seconds - train_seconds) / epochs, and the start-up is the process time less
  wall_seconds.
- **scikit-learn**: ``MLPClassifier`` / ``MLPRegressor(hidden_layer_sizes, solver="adam",
  learning_rate_init, batch_size, max_iter=EPOCHS, tol=0, n_iter_no_change=EPOCHS + 1,
  alpha=0)`` in a fresh process with the same environment; only ``fit`` is timed. ``tol=0`` and
  ``n_iter_no_change`` past the budget make it run every epoch (checked: ``n_iter_ ==
  EPOCHS``).

Both standardize the features (mlptrain: data.scale standard, its default; scikit-learn: the
CSV is standardized in the worker before ``fit``, outside the timing), use no validation split
(``--val-fraction F``: mlptrain holds out F and evaluates it every epoch, scikit-learn
``early_stopping=True, validation_fraction=F`` scores it every epoch and never stops) and no
L2 penalty. Rounds are interleaved (round r runs every job once before round r + 1), and each
cell is the median (min-max) over the rounds.

The **floor** is a fresh ``python -c "import numpy"`` with the same environment, timed the
same way in every round: the least any Python process that trains with NumPy pays before its
first step (the interpreter and NumPy with its OpenBLAS threads).

As ``bench.py``: the children run NumPy's native OpenBLAS kernel (``OPENBLAS_CORETYPE`` and
``OPENBLAS_L2_SIZE`` are unset together for them only; ``--keep-coretype`` keeps them), and
the table header says which BLAS, kernel and threads the children loaded (threadpoolctl).
The children keep compiled bytecode as an installed package does: ``PYTHONDONTWRITEBYTECODE``
is unset for them and ``PYTHONPYCACHEPREFIX`` points into the benchmark's temporary folder,
filled by one uncounted warm-up round (1 epoch of every job). Without it, in an environment
that sets ``PYTHONDONTWRITEBYTECODE`` with mlptrain installed in editable mode, every mlptrain
module is compiled from source at every start (~0.1 s here); ``--no-bytecode-cache`` measures
that.
Results go to bench/results/small-<time>.json and .md, and small-latest.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from bench import blas_lines, forced_coretype, thread_env  # noqa: E402 (bench/ is on the path)

DATASETS = {  # name: (scikit-learn loader, task)
    "digits": ("load_digits", "classification"),
    "breast_cancer": ("load_breast_cancer", "classification"),
    "diabetes": ("load_diabetes", "regression"),
}
HIDDEN = (100,)  # scikit-learn's default hidden_layer_sizes
EPOCHS = 200  # scikit-learn's default max_iter
QUICK_EPOCHS = 20
BATCH = 200  # scikit-learn's default batch_size: min(200, n_samples)
LR = 1e-3  # scikit-learn's default learning_rate_init (adam)
JOBS = ("sklearn", "mlptrain", "mlptrain-every", "floor")
FLOOR_CODE = "import numpy"  # the floor job: `python -c FLOOR_CODE`


def default_min_interval() -> float:
    """mlptrain's default `train.checkpoint.min_interval_s`, from its schema (its one place)."""
    from mlptrain.config.schema import CheckpointConfig

    return float(CheckpointConfig.model_fields["min_interval_s"].default)


def write_csv(name: str, folder: Path) -> Path:
    """Dataset `name` as folder/NAME.csv: a header x0..x{d-1},target, then every row."""
    import numpy as np
    import sklearn.datasets as sets

    loader, task = DATASETS[name]
    X, y = getattr(sets, loader)(return_X_y=True)
    path = folder / f"{name}.csv"
    header = ",".join([f"x{j}" for j in range(X.shape[1])] + ["target"])
    fmt = ["%.17g"] * X.shape[1] + ["%d" if task == "classification" else "%.17g"]
    np.savetxt(path, np.column_stack([X, y]), delimiter=",", header=header, comments="", fmt=fmt)
    return path


def mlptrain_config(name: str, csv: Path, epochs: int, root: Path, min_interval_s: float | None,
                    val_fraction: float = 0.0) -> dict:
    """The config of mlptrain's run on `csv`: the network, optimizer, epochs and batch of
    `sklearn_params`; `min_interval_s` None leaves mlptrain's default."""
    _, task = DATASETS[name]
    train: dict = {"epochs": epochs, "batch_size": BATCH}
    if min_interval_s is not None:
        train["checkpoint"] = {"min_interval_s": min_interval_s}
    return {
        "name": name,
        "data": {"source": "csv", "path": str(csv), "target": "target", "task": task,
                 "val_fraction": val_fraction, "test_fraction": 0.0},
        "model": {"hidden": list(HIDDEN), "activation": "relu", "init": "xavier_uniform"},
        "optimizer": {"kind": "adam", "lr": LR},
        "train": train,
        "run": {"root": str(root), "name_template": "{name}-{timestamp}"},
    }


def sklearn_params(epochs: int, val_fraction: float = 0.0) -> dict:
    """scikit-learn MLP parameters for exactly `epochs` epochs of adam at mlptrain's settings:
    tol 0 and n_iter_no_change beyond the budget, so that no epoch ends the fit early."""
    params = {"hidden_layer_sizes": HIDDEN, "activation": "relu", "solver": "adam",
              "learning_rate_init": LR, "batch_size": BATCH, "max_iter": epochs, "tol": 0.0,
              "n_iter_no_change": epochs + 1, "alpha": 0.0, "shuffle": True, "random_state": 0}
    if val_fraction:
        params.update(early_stopping=True, validation_fraction=val_fraction)
    return params


def epoch_overhead(summary: dict) -> dict[str, float]:
    """Per-epoch seconds from a run's summary.json: `step` (the training steps, train_seconds
    / epochs) and `overhead` (the rest of the loop's wall time, (wall_seconds -
    train_seconds) / epochs), and `fraction` = overhead / step."""
    epochs = max(int(summary["epochs_completed"]), 1)
    step = float(summary["train_seconds"]) / epochs
    overhead = (float(summary["wall_seconds"]) - float(summary["train_seconds"])) / epochs
    return {"step": step, "overhead": overhead,
            "fraction": overhead / step if step > 0 else float("nan")}


def cell(values: list[float], digits: int = 2) -> str:
    """median (min-max) of `values`, or the one value."""
    if not values:
        return "—"
    median = statistics.median(values)
    if len(values) == 1:
        return f"{median:.{digits}f}"
    return f"{median:.{digits}f} ({min(values):.{digits}f}–{max(values):.{digits}f})"


def ratio(a: list[float], b: list[float]) -> str:
    """median(a) / median(b) as `0.87×`."""
    if not a or not b:
        return "—"
    return f"{statistics.median(a) / statistics.median(b):.2f}×"


# ---- the jobs (each a fresh process) ----------------------------------------------------------


def run_mlptrain(name: str, csv: Path, args, folder: Path, min_interval_s: float | None) -> dict:
    import yaml

    with tempfile.TemporaryDirectory(dir=folder) as root:
        raw = mlptrain_config(name, csv, args.epochs, Path(root), min_interval_s, args.val_fraction)
        config = Path(root) / "config.yaml"
        config.write_text(yaml.safe_dump(raw))
        cmd = [sys.executable, "-m", "mlptrain", "train", str(config), "--quiet",
               "--threads", str(args.threads)]
        seconds, _ = timed_run(cmd, args)
        [run_dir] = [p for p in Path(root).iterdir() if p.is_dir()]
        summary = json.loads((run_dir / "summary.json").read_text())
    if summary["epochs_completed"] != args.epochs:
        raise RuntimeError(f"mlptrain trained {summary['epochs_completed']} epochs, not {args.epochs}")
    return {"process_seconds": seconds, "startup_seconds": seconds - summary["wall_seconds"],
            **epoch_overhead(summary)}


def run_floor(args) -> dict:
    """A fresh `python -c "import numpy"` (the floor of any NumPy process), whole process."""
    seconds, _ = timed_run([sys.executable, "-c", FLOOR_CODE], args)
    return {"process_seconds": seconds}


def run_sklearn(name: str, csv: Path, args) -> dict:
    cmd = [sys.executable, str(Path(__file__).resolve()), "sklearn-fit", name, str(csv),
           "--epochs", str(args.epochs), "--val-fraction", str(args.val_fraction)]
    seconds, stdout = timed_run(cmd, args)
    return {"process_seconds": seconds, **json.loads(stdout.strip().splitlines()[-1])}


def timed_run(cmd: list[str], args) -> tuple[float, str]:
    """(wall seconds, stdout) of `cmd` as a child process with the benchmark's BLAS
    environment; a failure raises with the end of its stderr."""
    started = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, env=child_env(args))
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return seconds, done.stdout


def child_env(args) -> dict[str, str]:
    """The jobs' environment: `thread_env` (BLAS threads, native kernel), and, unless
    --no-bytecode-cache, compiled bytecode kept in `args.pycache` (PYTHONPYCACHEPREFIX) with
    PYTHONDONTWRITEBYTECODE unset, as for an installed package."""
    env = thread_env(args.threads, args.keep_coretype)
    if args.pycache is not None:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(args.pycache)
    return env


def sklearn_fit(argv: list[str]) -> int:
    """The scikit-learn job, in its own process: load the CSV, standardize, time `fit`, print
    one JSON line (fit seconds, epochs run, the BLAS this process loaded)."""
    import warnings

    import numpy as np
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier, MLPRegressor
    from workers import blas_info

    p = argparse.ArgumentParser(prog="small_data.py sklearn-fit")
    p.add_argument("name", choices=list(DATASETS))
    p.add_argument("csv")
    p.add_argument("--epochs", type=int, required=True)
    p.add_argument("--val-fraction", type=float, default=0.0)
    args = p.parse_args(argv)
    data = np.loadtxt(args.csv, delimiter=",", skiprows=1)
    X, y = data[:, :-1], data[:, -1]
    X = (X - X.mean(axis=0)) / np.where(X.std(axis=0) > 0, X.std(axis=0), 1.0)
    classifier = DATASETS[args.name][1] == "classification"
    model = (MLPClassifier if classifier else MLPRegressor)(
        **sklearn_params(args.epochs, args.val_fraction))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        started = time.perf_counter()
        model.fit(X, y.astype(np.int64) if classifier else y)
        seconds = time.perf_counter() - started
    if model.n_iter_ != args.epochs:
        print(f"scikit-learn ran {model.n_iter_} epochs, not {args.epochs}", file=sys.stderr)
        return 1
    print(json.dumps({"fit_seconds": seconds, "epochs": model.n_iter_, "blas": blas_info()}))
    return 0


def mlptrain_blas(args) -> list[dict]:
    """The BLAS a child process with the jobs' environment loads (numpy, threadpoolctl)."""
    code = "import json, numpy; from workers import blas_info; print(json.dumps(blas_info()))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=HERE, env=child_env(args))
    return json.loads(done.stdout) if done.returncode == 0 else []


# ---- the table --------------------------------------------------------------------------------


def render(results: dict, args) -> str:
    jobs, sizes, default_s = results["jobs"], results["sizes"], results["default_min_interval_s"]
    lines = [
        f"Whole `mlptrain train` process vs scikit-learn's `fit`: hidden {list(HIDDEN)} relu, "
        f"adam lr {LR:g}, batch {BATCH}, {args.epochs} epochs, every row, no validation split"
        + (f" (--val-fraction {args.val_fraction}: both evaluate a held-out share every epoch)"
           if args.val_fraction else "")
        + f"; {args.threads} BLAS threads; median (min–max) of {args.rounds} interleaved rounds; "
        f"{platform.processor() or platform.machine()}, {results['when']}.",
    ]
    lines += blas_lines(results, args)
    lines += ["", f"| table | rows × features | scikit-learn `fit` (s) | mlptrain process, "
              f"`last` at most every {default_s:g} s (default) | ratio | mlptrain process, `last` "
              "every epoch | ratio | scikit-learn process (s) |",
              "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for name in results["datasets"]:
        fit = [r["fit_seconds"] for r in jobs[name]["sklearn"]]
        default = [r["process_seconds"] for r in jobs[name]["mlptrain"]]
        every = [r["process_seconds"] for r in jobs[name]["mlptrain-every"]]
        sk_process = [r["process_seconds"] for r in jobs[name]["sklearn"]]
        lines.append(f"| {name} | {sizes[name]} | {cell(fit)} | {cell(default)} | "
                     f"{ratio(default, fit)} | {cell(every)} | {ratio(every, fit)} | "
                     f"{cell(sk_process)} |")
    floor = [r["process_seconds"] for r in results.get("floor", [])]
    lines += ["", f"Floor: a fresh `python -c \"{FLOOR_CODE}\"` with the same environment takes "
              f"{cell(floor)} s (every round), the least any NumPy process pays before training; "
              f"{results.get('bytecode', '')}."]
    lines += ["", "mlptrain per epoch (ms): the training steps, and the loop's overhead beyond "
              "them (per-layer statistics, metric rows, checkpoints; (wall_seconds - "
              "train_seconds) / epochs from summary.json), with its share of the same run's step "
              "time; "
              "start-up: the process time less the loop's wall time (interpreter, imports, CSV, "
              "run directory), and that start-up less the floor's median.", "",
              "| table | steps per epoch (ms) | overhead, default | overhead, `last` every "
              "epoch | start-up (s) | start-up beyond the floor (s) |",
              "| --- | --- | --- | --- | --- | --- |"]
    floor_median = statistics.median(floor) if floor else None
    for name in results["datasets"]:
        runs = jobs[name]
        steps = [r["step"] * 1000 for r in runs["mlptrain"]]
        startup = [r["startup_seconds"] for r in runs["mlptrain"]]
        beyond = [s - floor_median for s in startup] if floor_median is not None else []
        lines.append(f"| {name} | {cell(steps)} | {_overhead_cell(runs['mlptrain'])} | "
                     f"{_overhead_cell(runs['mlptrain-every'])} | {cell(startup)} | "
                     f"{cell(beyond)} |")
    return "\n".join(lines) + "\n"


def _overhead_cell(runs: list[dict]) -> str:
    """Per-epoch overhead in ms, median (min-max), and its median share of the step time."""
    share = statistics.median(r["fraction"] for r in runs)
    return f"{cell([r['overhead'] * 1000 for r in runs])} ({share:.0%})"


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--datasets", default=",".join(DATASETS),
                   help="comma-separated subset of " + ", ".join(DATASETS))
    p.add_argument("--epochs", type=int, default=None,
                   help=f"epochs of every fit (default {EPOCHS}; --quick {QUICK_EPOCHS})")
    p.add_argument("--rounds", type=int, default=None, help="interleaved rounds (default 3; --quick 1)")
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1,
                   help="BLAS threads of every job (default: every core)")
    p.add_argument("--val-fraction", type=float, default=0.0,
                   help="hold out this share and evaluate it every epoch, in both (default 0)")
    p.add_argument("--quick", action="store_true", help=f"1 round of {QUICK_EPOCHS} epochs")
    p.add_argument("--out", default=str(HERE / "results"), help="where results are written")
    p.add_argument("--no-bytecode-cache", action="store_true",
                   help="give the jobs no bytecode cache (default: one in the temporary folder, "
                   "as an installed package has)")
    p.add_argument("--keep-coretype", action="store_true",
                   help="keep OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE for the jobs (default: "
                   "unset both, so NumPy's OpenBLAS runs the processor's native kernel)")
    args = p.parse_args(argv)
    args.epochs = args.epochs or (QUICK_EPOCHS if args.quick else EPOCHS)
    args.rounds = args.rounds or (1 if args.quick else 3)
    args.datasets = [n for n in args.datasets.split(",") if n]
    unknown = [n for n in args.datasets if n not in DATASETS]
    if unknown:
        p.error(f"unknown dataset {unknown[0]!r}; choose from {', '.join(DATASETS)}")
    return args


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["sklearn-fit"]:
        return sklearn_fit(argv[1:])
    args = parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    jobs: dict[str, dict[str, list[dict]]] = {n: {j: [] for j in JOBS if j != "floor"}
                                              for n in args.datasets}
    floor: list[dict] = []
    sizes = {}
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="mlptrain-small-") as tmp:
        folder = Path(tmp)
        args.pycache = None if args.no_bytecode_cache else folder / "pycache"
        csvs = {name: write_csv(name, folder) for name in args.datasets}
        for name, csv in csvs.items():
            header, *rows = csv.read_text().splitlines()
            sizes[name] = f"{len(rows):,} × {header.count(',')}"
        if args.pycache is not None:  # compile every module the jobs import, uncounted
            warm_up(next(iter(csvs.items())), args, folder)
        for r in range(args.rounds):
            for name, csv in csvs.items():
                for job in JOBS:
                    if job == "floor":
                        result = run_floor(args)
                        floor.append(result)
                    elif job == "sklearn":
                        result = run_sklearn(name, csv, args)
                    else:
                        interval = 0.0 if job == "mlptrain-every" else None
                        result = run_mlptrain(name, csv, args, folder, interval)
                    if job != "floor":
                        jobs[name][job].append(result)
                    shown = result.get("fit_seconds", result["process_seconds"])
                    print(f"round {r + 1}/{args.rounds}  {name:14s} {job:15s} {shown:.3f} s"
                          f"  [{time.perf_counter() - started:.0f}s]", file=sys.stderr, flush=True)
        blas = {"mlptrain": mlptrain_blas(args),
                "sklearn": jobs[args.datasets[0]]["sklearn"][0].get("blas", [])}
    results = {
        "when": time.strftime("%Y-%m-%d %H:%M %Z"),
        "args": vars(args),
        "datasets": args.datasets,
        "sizes": sizes,
        "default_min_interval_s": default_min_interval(),
        "jobs": jobs,
        "floor": floor,
        "blas": blas,
        "forced_coretype": forced_coretype(),
        "bytecode": bytecode_note(args),
        "python": platform.python_version(),
        "total_seconds": time.perf_counter() - started,
    }
    table = render(results, args)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    (out / f"small-{stamp}.json").write_text(json.dumps(results, indent=1, default=str))
    (out / f"small-{stamp}.md").write_text(table)
    (out / "small-latest.md").write_text(table)
    print(table)
    print(f"written: {out / f'small-{stamp}.md'} (and .json); total "
          f"{results['total_seconds']:.0f}s", file=sys.stderr)
    return 0


def warm_up(table: tuple[str, Path], args, folder: Path) -> None:
    """One epoch of every job on one table, not counted: fills the bytecode cache."""
    name, csv = table
    quick = argparse.Namespace(**{**vars(args), "epochs": 1})
    run_floor(quick)
    run_sklearn(name, csv, quick)
    run_mlptrain(name, csv, quick, folder, None)


def bytecode_note(args) -> str:
    """How the jobs found compiled bytecode, for the table header."""
    forced = "PYTHONDONTWRITEBYTECODE" in os.environ
    if args.pycache is None:
        return ("no bytecode cache (--no-bytecode-cache)"
                + ("; this environment sets PYTHONDONTWRITEBYTECODE" if forced else ""))
    return ("compiled bytecode kept between jobs (PYTHONPYCACHEPREFIX in the benchmark's "
            "temporary folder, filled by an uncounted warm-up round"
            + ("; PYTHONDONTWRITEBYTECODE, set in this environment, unset for the jobs)"
               if forced else ")"))


if __name__ == "__main__":
    sys.exit(main())
