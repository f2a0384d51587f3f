"""A validated config and a `DataBundle` -> a ready `Trainer`, in one call.

    from mlptrain.assembly import build_trainer
    trainer = build_trainer(cfg, bundle)          # no run directory, nothing written
    status = trainer.fit()                         # "completed", "early_stopped", ...
    trainer.last_row["train_loss"], trainer.net   # the latest evaluation row; the trained MLP

`build_trainer` is what `mlptrain train` uses (experiment.py passes callbacks that write the
run directory); a scikit-learn estimator or a sweep worker calls it on in-memory data. It
resolves the config against the data (`data.task`, `loss.kind: auto`, `model.output: auto`),
gives a classification trained without cross-entropy float targets, checks that every
monitored metric exists, and builds the model, loss, optimizer and schedule with the run's
`shuffle` and `dropout` streams (see streams.py). `trainer.cfg` is the resolved config.

A bundle from arrays: `DataBundle(train=Split(X, y), val=..., test=None, task=...,
n_features=X.shape[1], n_outputs=..., class_names=..., preprocessor=Preprocessor.fit(X, scale,
task=..., n_outputs=...), source="arrays")` (data/dataset.py states the shapes and dtypes).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mlptrain.errors import ConfigError
from mlptrain.metrics import is_binary, metric_names
from mlptrain.streams import generator
from mlptrain.training import Callbacks, NoCallbacks, Observer, SilentObserver, Trainer

if TYPE_CHECKING:
    from mlptrain.config.schema import ExperimentConfig
    from mlptrain.data.dataset import DataBundle


def build_trainer(cfg: ExperimentConfig, bundle: DataBundle, callbacks: Callbacks | None = None,
                  observer: Observer | None = None) -> Trainer:
    """A Trainer for `cfg` on `bundle`, at initialization (see the module docstring).

    observer: told when a monitor falls back to a training metric (no validation split).
    Raises ConfigError when a monitored metric does not exist for this data.
    """
    from mlptrain.builders import (
        adapt_targets,
        build_loss,
        build_model,
        build_optimizer,
        build_schedule,
    )

    cfg = resolve_against_data(cfg, bundle).model_copy(deep=True)  # the caller's cfg is kept
    bundle = adapt_targets(bundle, cfg.loss.kind)
    check_monitors(cfg, bundle, observer or SilentObserver())
    net = build_model(cfg, bundle)
    return Trainer(
        cfg=cfg, bundle=bundle, net=net, loss_fn=build_loss(cfg, bundle),
        optimizer=build_optimizer(cfg, net), schedule=build_schedule(cfg),
        shuffle_rng=generator(cfg.seed, "shuffle"), dropout_rng=generator(cfg.seed, "dropout"),
        callbacks=callbacks or NoCallbacks(),
    )


def resolve_against_data(cfg: ExperimentConfig, bundle: DataBundle) -> ExperimentConfig:
    """Record the data's task in `data.task` (and fill the loss and output that depend on it):
    auto resolved, and a one-column multilabel task is the binary classification it loads as."""
    from mlptrain.config import validate_config

    resolved = cfg.data.task == bundle.task and "auto" not in (cfg.loss.kind, cfg.model.output)
    if resolved:
        return cfg
    raw = cfg.model_dump(mode="json")
    raw["data"]["task"] = bundle.task
    return validate_config(raw, source="config")


def check_monitors(cfg: ExperimentConfig, bundle: DataBundle, observer: Observer) -> None:
    """Every monitored metric must exist; with no validation split, val_X falls back to
    train_X (training on all the data, e.g. MNIST's 60,000 images, is a valid choice)."""
    names = metric_names(bundle.task, bundle.val is not None, is_binary(bundle.task, bundle.n_outputs))
    watched: list[tuple[str, Any]] = [("train.checkpoint", cfg.train.checkpoint)]
    if cfg.train.early_stopping is not None:
        watched.append(("train.early_stopping", cfg.train.early_stopping))
    if cfg.schedule.kind == "plateau":
        watched.append(("schedule", cfg.schedule))
    for key, section in watched:
        name: str = section.monitor
        fallback = "train_" + name[4:] if name.startswith("val_") else None
        if name not in names and bundle.val is None and fallback in names:
            observer.message(f"no validation split: {key}.monitor uses {fallback} instead of {name}")
            section.monitor = fallback
        elif name not in names:
            raise ConfigError(f"{key}.monitor: {name!r} is not a metric of this run; "
                              f"available: {', '.join(names)}")
