"""A saved model evaluated on a split, or on another dataset.

`load_model(path)` (checkpoint/model.py, re-exported here) turns a checkpoint file (or a run
directory: its `best` checkpoint) into the network, its config and its preprocessor, strictly.
`evaluate_checkpoint` then computes exactly what training reported for the same checkpoint
and split (the same `metrics.evaluate`, the same dtype, the preprocessing fitted when the run
started, never refitted), plus, for classification, the confusion matrix and per-class
precision / recall / F1::

    precision_c = TP_c / (TP_c + FP_c)    recall_c = TP_c / (TP_c + FN_c)
    F1_c = 2 precision_c recall_c / (precision_c + recall_c)
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mlptrain.checkpoint import LoadedModel, load_model, write_atomic
from mlptrain.errors import ConfigError, DataError

if TYPE_CHECKING:
    from mlptrain.config.schema import ExperimentConfig
    from mlptrain.data.target_scaling import ScaledTargetLoss
    from mlptrain.nn.losses import Loss

SPLITS = ("test", "val", "train")


def data_overrides(cfg: ExperimentConfig, data: str | Path | None,
                   overrides: list[str]) -> ExperimentConfig:
    """The config with `--data PATH` and `data.*` overrides applied (a new, validated config).

    `--data FILE` evaluates a whole CSV, NPZ or IDX images file (its format from its name, no
    split carved off); `--data FOLDER` a folder of IDX files, whose test (t10k) or train files
    `--split` picks. Only `data.*` keys may change: the model is the checkpoint's. Relative
    paths are relative to the working directory.
    """
    from mlptrain.config import apply_overrides, validate_config
    from mlptrain.config.paths import absolute, keys_under, resolve_paths
    from mlptrain.data.loader import file_format

    if data is None and not overrides:
        return cfg
    raw = cfg.model_dump(mode="json")
    applied = apply_overrides(raw, overrides)
    bad = [".".join(k) for k in applied if k[0] != "data"]
    if bad:
        raise ConfigError(f"only data.* keys can be overridden for a saved model, not {bad[0]}")
    resolve_paths(raw, Path.cwd(), keys_under(applied))
    if data is not None:
        path = absolute(str(data), Path.cwd())
        folder = Path(path).is_dir()
        raw["data"].update(source=file_format(Path(path), cfg.data),
                           path=path if folder else None, train_path=None if folder else path,
                           val_path=None, test_path=None, val_fraction=0.0, test_fraction=0.0,
                           limit=None)
    return validate_config(raw, source="overrides")


def data_changes(saved: ExperimentConfig, cfg: ExperimentConfig) -> dict[str, Any]:
    """{data.key: value} of every data setting of `cfg` that differs from the saved config's;
    empty when the data is the run's own."""
    old, new = saved.data.model_dump(mode="json"), cfg.data.model_dump(mode="json")
    return {f"data.{k}": v for k, v in new.items() if old.get(k) != v}


def load_split(model: LoadedModel, cfg: ExperimentConfig,
               split: str) -> tuple[np.ndarray, np.ndarray, Loss | ScaledTargetLoss]:
    """(X raw (n, n_features), y targets adapted to the loss, the loss object) of `split`."""
    from mlptrain.builders import adapt_targets, build_loss
    from mlptrain.data import load_data

    if split not in SPLITS:
        raise DataError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}")
    bundle = load_data(cfg.data, seed=cfg.seed, loss_kind=cfg.loss.kind,
                       preprocessor=model.preprocessor)
    bundle = adapt_targets(bundle, cfg.loss.kind)
    part = bundle.splits().get(split)
    if part is None:
        raise DataError(f"this data has no {split} split (data.{split}_fraction is 0)")
    return part.X, part.y, build_loss(cfg, bundle)


def _split_of(split: str | None, data: str | Path | None) -> str:
    """The split evaluated: --split (default test); a --data file is one whole "train" part."""
    if split is not None and split not in SPLITS:
        raise DataError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}")
    if data is None or Path(data).is_dir():
        return split or "test"
    if split not in (None, "train"):
        raise DataError(f"--split {split}: a --data file is evaluated whole; --split picks a "
                        "split of the run's own data or of a folder of IDX files")
    return "train"


def result_path(model: LoadedModel, label: str, changes: dict[str, Any]) -> Path:
    """`<checkpoint>.eval-<split>.json` on the run's own data; on other data
    `<checkpoint>.eval-<label>-<digest of the changes>.json` (label: the split or the --data
    name), so a result on other data never replaces the run's own."""
    if not changes:
        return model.path.with_name(f"{model.path.stem}.eval-{label}.json")
    digest = hashlib.sha256(json.dumps(changes, sort_keys=True).encode()).hexdigest()[:8]
    return model.path.with_name(f"{model.path.stem}.eval-{_safe(label)}-{digest}.json")


def evaluate_checkpoint(target: str | Path, split: str | None = None,
                        data: str | Path | None = None, overrides: list[str] | None = None,
                        write: bool = True, threshold: float | None = None) -> dict[str, Any]:
    """Evaluate a saved model on `split` (default test) of its data, or of `data` and `data.*`
    overrides. The result is also written next to the checkpoint (atomically) unless `write`
    is False: `<checkpoint>.eval-<split>.json` on the run's own data; on other data a file of
    its own that records it under "data" (see `result_path`).

    threshold: the decision threshold of a binary classifier (probability of the positive
    class, the second class name, at or above which a sample is predicted positive); None:
    the config's data.decision_threshold. A binary classifier's accuracy, balanced accuracy
    and macro F1 in "metrics" are those at this threshold, which "metrics" also reports.
    """
    from mlptrain.metrics import evaluate, predict_outputs, regression_report

    split_name = _split_of(split, data)
    if threshold is not None and not 0.0 <= threshold <= 1.0:
        raise ConfigError(f"the decision threshold must be in [0, 1], got {threshold!r}")
    model = load_model(target)
    overrides = list(overrides or [])
    cfg = data_overrides(model.cfg, data, overrides)
    changes = data_changes(model.cfg, cfg)
    threshold = cfg.data.decision_threshold if threshold is None else threshold
    X, y, loss_fn = load_split(model, cfg, split_name)
    metrics = evaluate(model.net, loss_fn, model.preprocessor, X, y, model.task)
    whole_file = data is not None and split_name == "train" and not Path(data).is_dir()
    result: dict[str, Any] = {
        "checkpoint": str(model.path), "split": "all" if whole_file else split_name,
        "data": {"own": not changes, "file": None if data is None else str(Path(data).absolute()),
                 "overrides": overrides, "changes": changes},
        "task": model.task, "n_samples": int(len(X)), "metrics": metrics,
    }
    _, outputs = predict_outputs(model.net, model.preprocessor, X, model.net.dtype)
    if model.task == "classification":
        details = classification_details(outputs, y, model.class_names, threshold)
        result.update(details)
        if "threshold" in details:  # binary: the headline metrics at the threshold
            metrics.update(accuracy=details["accuracy"],
                           balanced_accuracy=details["balanced_accuracy"],
                           f1_macro=details["averages"]["macro"]["f1"], threshold=threshold)
    elif model.task == "regression":
        result["per_target"] = regression_report(outputs, y, model.preprocessor.target_names)
    if write:
        out = result_path(model, split_name if data is None else Path(data).name, changes)
        write_atomic(out, (json.dumps(result, indent=2) + "\n").encode("utf-8"))
        result["written"] = str(out)
    return result


def classification_details(outputs: np.ndarray, y: np.ndarray, class_names: list[str] | None,
                           threshold: float = 0.5) -> dict[str, Any]:
    """The classification report (see `metrics.classification_summary`) with class names:
    the confusion matrix (row = actual, column = predicted), per-class and averaged
    precision / recall / F1, balanced accuracy, log-loss; ROC-AUC, average precision and the
    threshold for two classes."""
    from mlptrain.metrics import class_ids, classification_summary

    n_classes = len(class_names) if class_names else max(outputs.shape[1], 2)
    names = list(class_names) if class_names else [str(c) for c in range(n_classes)]
    report = classification_summary(outputs, class_ids(y), n_classes, threshold)
    for row in report["per_class"]:
        row["class"] = names[row["class"]]
    return {"class_names": names, **report}


def _safe(label: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in label)
