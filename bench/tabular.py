"""mlptrain vs scikit-learn's MLP on scikit-learn's bundled tables, trained through the CLI.

    .venv/bin/python bench/tabular.py                    # 4 datasets x 3 seeds, both protocols
    .venv/bin/python bench/tabular.py --datasets wine --seeds 0 --protocols fixed --epochs 20

For each dataset (breast cancer, digits, wine: test accuracy; diabetes: test R²) one fixed
split (``train_test_split(test_size=0.25, random_state=0)``, stratified for classification)
is written as ``train.csv`` / ``test.csv`` with a header (``x0..x{d-1},target``). Then, per
seed:

- **mlptrain**: ``mlptrain train CONFIG`` in a subprocess with the config ``CONFIG`` below
  (data.train_path / data.test_path the two CSVs), then ``mlptrain eval
  RUN/checkpoints/best.safetensors --json`` on the test file. Features are standardized on
  the training split (data.scale standard, the default); regression targets too
  (data.target_scale standard, the default). Two settings differ from mlptrain's defaults,
  both to match scikit-learn: the initialization (model.init xavier_uniform: scikit-learn's
  Glorot uniform, U(+-sqrt(6 / (fan_in + fan_out)))) and the batch size (200).
- **scikit-learn**: ``make_pipeline(StandardScaler(), MLPClassifier | MLPRegressor)`` with the
  same hidden layer (100,), relu, adam lr 1e-3, batch min(200, n), L2 ``alpha`` 1e-4: its
  defaults except as the protocol says. It scales no targets (MLPRegressor has no option).

Two protocols (``--protocols``), each the same for both libraries:

- **fixed**: ``EPOCHS`` epochs on all the training rows (mlptrain val_fraction 0, the last
  epoch's model; scikit-learn ``max_iter=EPOCHS``, its default, with its default stop when the
  training loss stalls). scikit-learn's regressor on raw targets is far from converged after
  200 epochs at lr 1e-3, so this protocol says little about diabetes.
- **early**: each holds out 10% of the training rows for validation and stops after 10
  epochs without improvement, keeping the best epoch's model (mlptrain data.val_fraction 0.1,
  train.early_stopping.patience 10, the best checkpoint by val_loss; scikit-learn
  ``early_stopping=True, validation_fraction=0.1, n_iter_no_change=10``, which restores the
  best validation score's weights), at most ``MAX_EPOCHS`` epochs.

The table prints the mean over the seeds (and the min-max), and the difference
mlptrain - scikit-learn; "ok" when mlptrain is at least as good within 0.01.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

DATASETS = {  # name: (sklearn loader, task, metric)
    "breast_cancer": ("load_breast_cancer", "classification", "accuracy"),
    "digits": ("load_digits", "classification", "accuracy"),
    "wine": ("load_wine", "classification", "accuracy"),
    "diabetes": ("load_diabetes", "regression", "r2"),
}
HIDDEN = 100  # scikit-learn's default hidden_layer_sizes=(100,)
EPOCHS = 200  # scikit-learn's default max_iter
MAX_EPOCHS = 5000  # the early-stopping protocol's cap
BATCH = 200  # scikit-learn's default batch_size: min(200, n_samples)
LR = 1e-3  # scikit-learn's default learning_rate_init (adam)
TEST_SIZE = 0.25
TOLERANCE = 0.01

CONFIG = """\
name: {name}
seed: {seed}
data:
  source: csv
  train_path: {train}
  test_path: {test}
  target: target
  task: {task}
  val_fraction: {val_fraction}
model:
  hidden: [{hidden}]
  activation: relu
  init: xavier_uniform
optimizer:
  kind: adam
  lr: {lr}
train:
  epochs: {epochs}
  batch_size: {batch}
{train_extra}run:
  root: {root}
  name_template: "{name}-{seed}"
"""
TRAIN_EXTRA = {
    "fixed": "  checkpoint:\n    monitor: train_loss\n",  # no val split; last.safetensors is read
    "early": "  early_stopping:\n    monitor: val_loss\n    patience: 10\n",
}
PROTOCOLS = tuple(TRAIN_EXTRA)


def write_split(name: str, folder: Path) -> tuple[Path, Path]:
    """train.csv and test.csv of dataset `name` (fixed split) in `folder`."""
    import numpy as np
    import sklearn.datasets as sets
    from sklearn.model_selection import train_test_split

    loader, task, _ = DATASETS[name]
    X, y = getattr(sets, loader)(return_X_y=True)
    stratify = y if task == "classification" else None
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=TEST_SIZE, random_state=0,
                                              stratify=stratify)
    paths = []
    header = ",".join([f"x{j}" for j in range(X.shape[1])] + ["target"])
    for part, (Xs, ys) in (("train", (X_tr, y_tr)), ("test", (X_te, y_te))):
        path = folder / f"{part}.csv"
        fmt = ["%.17g"] * X.shape[1] + ["%d" if task == "classification" else "%.17g"]
        np.savetxt(path, np.column_stack([Xs, ys]), delimiter=",", header=header,
                   comments="", fmt=fmt)
        paths.append(path)
    return paths[0], paths[1]


def run_mlptrain(name: str, train: Path, test: Path, seed: int, epochs: int, folder: Path,
                 protocol: str) -> float:
    """The test metric of mlptrain trained through its CLI."""
    _, task, metric = DATASETS[name]
    config = folder / f"{name}-{protocol}-{seed}.yaml"
    early = protocol == "early"
    config.write_text(CONFIG.format(
        name=f"{name}-{protocol}", seed=seed, train=train, test=test, task=task, hidden=HIDDEN,
        lr=LR, epochs=MAX_EPOCHS if early else epochs, batch=BATCH, root=folder / "runs",
        val_fraction=0.1 if early else 0, train_extra=TRAIN_EXTRA[protocol]))
    cli = [sys.executable, "-m", "mlptrain"]
    done = subprocess.run([*cli, "train", str(config), "--quiet", "--threads", "1"],
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"mlptrain train {config} failed:\n{done.stderr}")
    which = "best" if early else "last"
    checkpoint = folder / "runs" / f"{name}-{protocol}-{seed}" / "checkpoints" / f"{which}.safetensors"
    done = subprocess.run([*cli, "eval", str(checkpoint), "--json"], capture_output=True,
                          text=True)
    if done.returncode != 0:
        raise SystemExit(f"mlptrain eval {checkpoint} failed:\n{done.stderr}")
    return float(json.loads(done.stdout)["metrics"][metric])


def run_sklearn(name: str, train: Path, test: Path, seed: int, epochs: int,
                protocol: str) -> float:
    """The test metric of scikit-learn's MLP of the same size on the same split."""
    import warnings

    import numpy as np
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier, MLPRegressor
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    _, task, _ = DATASETS[name]
    tr = np.loadtxt(train, delimiter=",", skiprows=1)
    te = np.loadtxt(test, delimiter=",", skiprows=1)
    kind = MLPClassifier if task == "classification" else MLPRegressor
    early = protocol == "early"
    mlp = kind(hidden_layer_sizes=(HIDDEN,), max_iter=MAX_EPOCHS if early else epochs,
               random_state=seed, early_stopping=early, validation_fraction=0.1,
               n_iter_no_change=10)
    model = make_pipeline(StandardScaler(), mlp)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(tr[:, :-1], tr[:, -1])
    return float(model.score(te[:, :-1], te[:, -1]))  # accuracy, or R²


def _cell(values: list[float]) -> str:
    mean = statistics.fmean(values)
    return f"{mean:.4f}" if len(values) == 1 else f"{mean:.4f} ({min(values):.3f}-{max(values):.3f})"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default=",".join(DATASETS),
                        help="comma-separated subset of " + ", ".join(DATASETS))
    parser.add_argument("--seeds", default="0,1,2", help="comma-separated seeds (default 0,1,2)")
    parser.add_argument("--epochs", type=int, default=EPOCHS,
                        help=f"epochs of the fixed protocol (default {EPOCHS})")
    parser.add_argument("--protocols", default=",".join(PROTOCOLS),
                        help="comma-separated subset of " + ", ".join(PROTOCOLS))
    parser.add_argument("--out", type=Path, default=None,
                        help="keep the CSVs, configs and runs here (default: a temporary folder)")
    args = parser.parse_args(argv)
    names = [n for n in args.datasets.split(",") if n]
    unknown = [n for n in names if n not in DATASETS]
    if unknown:
        parser.error(f"unknown dataset {unknown[0]!r}; choose from {', '.join(DATASETS)}")
    protocols = [p for p in args.protocols.split(",") if p]
    if any(p not in PROTOCOLS for p in protocols):
        parser.error(f"unknown protocol in {args.protocols!r}; choose from {', '.join(PROTOCOLS)}")
    seeds = [int(s) for s in args.seeds.split(",")]
    print(f"hidden ({HIDDEN},) relu, adam lr {LR:g}, batch {BATCH}, test size {TEST_SIZE}, "
          f"seeds {args.seeds}; test metric, mean (min-max) over the seeds\n")
    print("| dataset | metric | protocol | mlptrain | scikit-learn | difference | within 0.01 |")
    print("| --- | --- | --- | --- | --- | --- | --- |", flush=True)
    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        root = args.out or Path(tmp)
        for name in names:
            folder = root / name
            folder.mkdir(parents=True, exist_ok=True)
            train, test = write_split(name, folder)
            for protocol in protocols:
                ours = [run_mlptrain(name, train, test, s, args.epochs, folder, protocol)
                        for s in seeds]
                theirs = [run_sklearn(name, train, test, s, args.epochs, protocol) for s in seeds]
                diff = statistics.fmean(ours) - statistics.fmean(theirs)
                good = diff >= -TOLERANCE
                ok &= good
                label = f"fixed {args.epochs}" if protocol == "fixed" else "early stopping"
                print(f"| {name} | {DATASETS[name][2]} | {label} | {_cell(ours)} | "
                      f"{_cell(theirs)} | {diff:+.4f} | {'ok' if good else 'BEHIND'} |",
                      flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
