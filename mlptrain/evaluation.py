"""A saved model, loaded back for use: evaluate it on a split, or on another dataset.

`load_model(path)` turns a checkpoint file (or a run directory: its `best` checkpoint) into the
network, its config and its preprocessor, strictly: anything that is not a readable mlptrain
checkpoint is a `CheckpointError`. `evaluate_checkpoint` then computes exactly what training
reported for the same checkpoint and split (the same `metrics.evaluate`, the same dtype, the
preprocessing fitted when the run started, never refitted), plus, for classification, the
confusion matrix and per-class precision / recall / F1::

    precision_c = TP_c / (TP_c + FP_c)    recall_c = TP_c / (TP_c + FN_c)
    F1_c = 2 precision_c recall_c / (precision_c + recall_c)
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mlptrain.checkpoint import Checkpoint, load_checkpoint, write_atomic
from mlptrain.errors import CheckpointError, ConfigError, DataError

SPLITS = ("test", "val", "train")


@dataclass
class LoadedModel:
    """A checkpoint's network, validated config and fitted preprocessor."""

    path: Path  # the checkpoint file
    checkpoint: Checkpoint
    cfg: Any  # ExperimentConfig
    net: Any  # MLP, in the checkpoint's dtype (or the one asked for)
    preprocessor: Any  # data.Preprocessor

    @property
    def task(self) -> str:
        return self.preprocessor.task

    @property
    def class_names(self) -> list[str] | None:
        return self.preprocessor.class_names


def resolve_checkpoint(target: str | Path) -> Path:
    """A checkpoint file as given, or the `best` checkpoint of a run directory."""
    from mlptrain.rundir import find_run_checkpoint

    target = Path(target)
    return find_run_checkpoint(target, "best") if target.is_dir() else target


def load_model(target: str | Path, dtype: str | None = None) -> LoadedModel:
    """Load a checkpoint (or a run directory's best) into a ready network.

    dtype: None keeps the saved dtype; "float64" rebuilds the network in float64 and casts the
    saved weights (gradcheck).
    """
    from mlptrain.config import validate_config
    from mlptrain.experiment import saved_preprocessor
    from mlptrain.nn import MLP

    path = resolve_checkpoint(target)
    checkpoint = load_checkpoint(path)
    meta = checkpoint.meta
    if not isinstance(meta.get("config"), dict) or not isinstance(meta.get("model"), dict):
        raise CheckpointError("holds no config or model description", path=path)
    try:
        cfg = validate_config(meta["config"], source=str(path))
    except ConfigError as err:
        raise CheckpointError(f"holds an invalid config: {err.message}", path=path) from None
    model_cfg = dict(meta["model"])
    if dtype is not None:
        model_cfg["dtype"] = dtype
    try:
        net = MLP.from_config(model_cfg)
        arrays = checkpoint.group("model")
        if dtype is not None:
            arrays = {k: v.astype(net.dtype) for k, v in arrays.items()}
        net.load_state_arrays(arrays)
    except (ValueError, TypeError) as err:
        raise CheckpointError(f"its model does not match its weights: {err}", path=path) from None
    return LoadedModel(path, checkpoint, cfg, net, saved_preprocessor(checkpoint, path))


def data_overrides(cfg, data: str | Path | None, overrides: list[str]):
    """The config with `--data FILE` and `data.*` overrides applied (a new, validated config).

    `--data FILE` evaluates a whole file: its format from the suffix, no split carved off.
    Only `data.*` keys may change: the model is the checkpoint's.
    """
    from mlptrain.config import apply_overrides, validate_config

    if data is None and not overrides:
        return cfg
    raw = cfg.model_dump(mode="json")
    applied = apply_overrides(raw, overrides)
    bad = [".".join(k) for k in applied if k[0] != "data"]
    if bad:
        raise ConfigError(f"only data.* keys can be overridden for a saved model, not {bad[0]}")
    if data is not None:
        raw["data"].update(source=_file_source(Path(data)), path=str(data), train_path=None,
                           val_path=None, test_path=None, val_fraction=0.0, test_fraction=0.0,
                           limit=None)
    return validate_config(raw, source="overrides")


def _file_source(path: Path) -> str:
    name = path.name.lower()
    if name.endswith(".npz"):
        return "npz"
    if "idx" in name or "ubyte" in name:
        return "idx"
    return "csv"


def load_split(model: LoadedModel, cfg, split: str):
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


def evaluate_checkpoint(target: str | Path, split: str = "test", data: str | Path | None = None,
                        overrides: list[str] | None = None, write: bool = True) -> dict[str, Any]:
    """Evaluate a saved model; the result is also written next to the checkpoint as
    `<checkpoint>.eval-<split>.json` (atomically) unless `write` is False."""
    from mlptrain.metrics import evaluate, predict_outputs

    if split not in SPLITS:
        raise DataError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}")
    model = load_model(target)
    cfg = data_overrides(model.cfg, data, list(overrides or []))
    split_name = split if data is None else "train"
    X, y, loss_fn = load_split(model, cfg, split_name)
    metrics = evaluate(model.net, loss_fn, model.preprocessor, X, y, model.task)
    label = split if data is None else Path(data).stem
    result: dict[str, Any] = {
        "checkpoint": str(model.path), "split": label, "task": model.task,
        "n_samples": int(len(X)), "metrics": metrics,
    }
    if model.task == "classification":
        _, outputs = predict_outputs(model.net, model.preprocessor, X, model.net.dtype)
        result.update(classification_details(outputs, y, model.class_names))
    if write:
        out = model.path.with_name(f"{model.path.stem}.eval-{_safe(label)}.json")
        write_atomic(out, (json.dumps(result, indent=2) + "\n").encode("utf-8"))
        result["written"] = str(out)
    return result


def classification_details(outputs: np.ndarray, y: np.ndarray,
                           class_names: list[str] | None) -> dict[str, Any]:
    """Confusion matrix (row = actual, column = predicted) and the per-class report."""
    from mlptrain.metrics import (
        class_ids,
        classification_report,
        confusion_matrix,
        predicted_classes,
    )

    n_classes = len(class_names) if class_names else max(outputs.shape[1], 2)
    names = list(class_names) if class_names else [str(c) for c in range(n_classes)]
    matrix = confusion_matrix(predicted_classes(outputs), class_ids(y), n_classes)
    report = classification_report(matrix)
    for row in report:
        row["class"] = names[row["class"]]
    return {"class_names": names, "confusion_matrix": matrix.tolist(), "per_class": report}


def _safe(label: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in label)
