"""The Python API: use a saved model, or train one on arrays held in memory.

    model = mlptrain.load("runs/spiral-20261124-211307")   # a run directory (its best) or a checkpoint
    model.predict(X)           # class names (n,); regression: values (n,) or (n, k)
    model.predict_proba(X)     # (n, n_classes), columns in the order of model.class_names
    model.evaluate(X, y)       # the metrics training reports: loss, accuracy, ... (or mse, r2)

    model = mlptrain.fit("configs/spiral.yaml", X, y)      # or a config dict; X_val=, y_val=

X is a 2-D array (n, n_features) of raw feature values, or a pandas DataFrame (its columns are
picked by the model's feature names when it has them). Every prediction goes through the
preprocessing fitted at training time (feature scaling; the targets' scaling for regression),
never refitted, exactly as `mlptrain predict` does.

`fit` trains with the config's model, loss, optimizer, schedule and loop, on the arrays
instead of `data.source`: the config's data keys about targets, splitting and scaling apply
(`task`, `val_fraction` when no X_val is given, `scale`, `target_scale`, `nan_policy`,
`limit`, `stratify`); no test split is carved (evaluate on your own test data). Nothing is
written to disk. The model returned holds the best weights by `train.checkpoint.monitor`, as
`load(RUN_DIR)` does, and `model.history` the metrics row of every evaluation. BLAS threads
follow `train.threads` as in `mlptrain train` (auto by default).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import numpy as np

from mlptrain.errors import ConfigError, DataError

IN_MEMORY = "<arrays>"  # data.path of a config trained on arrays: the data is not on disk


class Model:
    """A trained network with its fitted preprocessing; predicts on raw features."""

    def __init__(self, net, preprocessor, cfg, *, path: Path | None = None,
                 history: list[dict[str, Any]] | None = None, status: str | None = None):
        self.net = net
        self.preprocessor = preprocessor
        self.cfg = cfg
        self.path = path  # the checkpoint it was loaded from; None when trained in memory
        self.history = history or []
        self.status = status

    @property
    def task(self) -> str:
        return self.preprocessor.task

    @property
    def class_names(self) -> list[str] | None:
        return self.preprocessor.class_names

    @property
    def feature_names(self) -> list[str] | None:
        return self.preprocessor.feature_names

    @property
    def n_features(self) -> int:
        return self.preprocessor.n_features

    def _outputs(self, X) -> np.ndarray:
        """Outputs (n, n_out): probabilities, or regression values in the targets' units."""
        from mlptrain.data.arrays import feature_matrix
        from mlptrain.data.dataset import RawData
        from mlptrain.data.loader import clean
        from mlptrain.metrics import predict_outputs

        features, _ = feature_matrix(X, "X", self.feature_names)
        self.preprocessor.check_width(features, "X")
        features = clean(RawData(X=features, y=None, path="X"), "error").X
        return predict_outputs(self.net, self.preprocessor, features, self.net.dtype)[1]

    def predict(self, X) -> np.ndarray:
        """Class names (n,) for classification; 0/1 (n, k) for multilabel; values (n,) for
        one regression target, (n, k) for several."""
        from mlptrain.metrics import MULTILABEL_THRESHOLD, predicted_classes

        outputs = self._outputs(X)
        if self.task == "regression":
            return outputs[:, 0] if outputs.shape[1] == 1 else outputs
        if self.task == "multilabel":
            return (outputs >= MULTILABEL_THRESHOLD).astype(np.int64)
        names = self.class_names or [str(i) for i in range(max(outputs.shape[1], 2))]
        return np.asarray(names)[predicted_classes(outputs)]

    def predict_proba(self, X) -> np.ndarray:
        """(n, n_classes) class probabilities, columns in `class_names` order (a binary
        sigmoid model's p gives [1 - p, p]); multilabel: (n, k) per-label probabilities."""
        from mlptrain.metrics import class_probabilities

        if self.task == "regression":
            raise DataError("predict_proba needs a classifier; this model is a regression "
                            "model (use predict)")
        outputs = self._outputs(X)
        return outputs if self.task == "multilabel" else class_probabilities(outputs)

    def evaluate(self, X, y) -> dict[str, float]:
        """The loss and quality metrics training reports (metrics.evaluate), on X and its
        targets y (class names or ids as in the training data; values for regression)."""
        from mlptrain.builders import adapt_targets, build_loss
        from mlptrain.data.arrays import feature_matrix, raw_from_arrays
        from mlptrain.data.loader import bundle_from_raws
        from mlptrain.metrics import evaluate

        features, _ = feature_matrix(X, "X", self.feature_names)
        raw = raw_from_arrays(features, y)
        raw.feature_names = self.feature_names
        data_cfg = self.cfg.data.model_copy(update={"val_fraction": 0.0, "test_fraction": 0.0,
                                                    "limit": None})
        bundle = bundle_from_raws({"train": raw}, data_cfg, self.cfg.seed, self.cfg.loss.kind,
                                  preprocessor=self.preprocessor, source="arrays")
        bundle = adapt_targets(bundle, self.cfg.loss.kind)
        return evaluate(self.net, build_loss(self.cfg, bundle), self.preprocessor,
                        bundle.train.X, bundle.train.y, self.task)

    def __repr__(self) -> str:
        where = f", path={str(self.path)!r}" if self.path else ""
        return f"Model({self.task}, layers={self.net.layer_sizes}{where})"


def load(target: str | Path) -> Model:
    """The model of a checkpoint file, or of a run directory's best checkpoint.

    Raises CheckpointError (or RunDirError) when it is not a readable mlptrain checkpoint."""
    from mlptrain.evaluation import load_model

    loaded = load_model(target)
    return Model(loaded.net, loaded.preprocessor, loaded.cfg, path=loaded.path,
                 status=None)


def fit(config: str | Path | dict, X, y, X_val=None, y_val=None, *,
        overrides: list[str] | None = None) -> Model:
    """Train the config's model on X, y (validation on X_val, y_val, or on a
    `data.val_fraction` share of X) in memory; see the module docstring.

    config: a config file or a mapping like a config file's; overrides: `key=value` strings
    as on the command line. Raises ConfigError, DataError, DivergenceError.
    """
    from mlptrain.assembly import build_trainer
    from mlptrain.data.arrays import raw_from_arrays
    from mlptrain.data.loader import bundle_from_raws
    from mlptrain.threads import blas_threads, cpu_times, run_threads

    if (X_val is None) != (y_val is None):
        raise DataError("give both X_val and y_val, or neither")
    started = cpu_times()  # auto's load window: preparing the data is not waited for
    cfg = in_memory_config(config, overrides or [])
    raws = {"train": raw_from_arrays(X, y)}
    if X_val is not None:
        raws["val"] = raw_from_arrays(X_val, y_val, "X_val")
        width, val_width = raws["train"].X.shape[1], raws["val"].X.shape[1]
        if val_width != width:
            raise DataError(f"X_val has {val_width} feature columns, X has {width}")
    bundle = bundle_from_raws(raws, cfg.data, cfg.seed, cfg.loss.kind, source="arrays")
    history = _BestInMemory()
    trainer = build_trainer(cfg, bundle, history)
    threads, _ = run_threads(cfg.train.threads, trainer.net.layer_sizes, trainer.batch_size,
                             started)
    with blas_threads(threads):
        status = trainer.fit()
    if history.best:
        trainer.net.load_state_arrays(history.best)
    return Model(trainer.net, trainer.bundle.preprocessor, trainer.cfg, history=history.rows,
                 status=status)


class _BestInMemory:
    """Callbacks of in-memory training: every metrics row, and a copy of the weights each
    time `best` improves (what a run directory's best checkpoint would hold)."""

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []
        self.best: dict[str, np.ndarray] = {}

    def begin(self, trainer) -> None:
        pass

    def checkpoint(self, trainer, tags: set[str]) -> None:
        if "best" in tags:
            self.best = {k: v.copy() for k, v in trainer.net.state_arrays().items()}

    def record(self, trainer, row: dict[str, Any], layer_stats) -> None:
        self.rows.append(dict(row))


def in_memory_config(config: str | Path | dict, overrides: list[str]):
    """The validated config for training on arrays: the file's (or mapping's) keys with
    `overrides` applied, its data source replaced by the arrays, and no test split."""
    from mlptrain.config import apply_overrides, read_config_file, validate_config

    if isinstance(config, (str, Path)):
        raw, _ = read_config_file(config)
        source = str(config)
    elif isinstance(config, dict):
        raw, source = copy.deepcopy(config), "config"
    else:
        raise ConfigError(f"config must be a file path or a mapping, got {type(config).__name__}")
    apply_overrides(raw, overrides)
    section = raw.get("data")
    data: dict[str, Any] = dict(section) if isinstance(section, dict) else {}
    for key in ("path", "train_path", "val_path", "test_path"):
        data.pop(key, None)
    # "npz" stands for a file source: the task comes from the targets and the loss, as for
    # a file, and no synthetic generator runs; IN_MEMORY says where the data really is.
    raw["data"] = {**data, "source": "npz", "path": IN_MEMORY, "test_fraction": 0.0}
    return validate_config(raw, source=source)
