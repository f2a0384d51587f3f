"""The Trainer on its own: built by `assembly.build_trainer` from a config and in-memory
arrays, trained with no run directory and no files; its callbacks protocol; the run summary
built from the rows kept in memory; the map of random streams."""

from __future__ import annotations

import csv
import os
import tempfile
from pathlib import Path

import numpy as np
import pytest

from mlptrain.assembly import build_trainer
from mlptrain.config import validate_config
from mlptrain.data import DataBundle, Preprocessor, Split, load_data
from mlptrain.experiment import resume_run, start_run
from mlptrain.training import History, NoCallbacks, SilentObserver, Trainer


def _two_blobs(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Two Gaussian clouds (float32 (n, 2)) 4 standard deviations apart; labels int64 (n,)."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2
    X = rng.normal(size=(n, 2)) + np.where(y[:, None] == 1, 2.0, -2.0)
    return X.astype(np.float32), y.astype(np.int64)


def _bundle(n_train: int = 400, n_val: int = 100) -> DataBundle:
    X, y = _two_blobs(n_train, 0)
    X_val, y_val = _two_blobs(n_val, 1)
    pre = Preprocessor.fit(X, "standard", task="classification", n_outputs=2,
                           class_names=["a", "b"])
    return DataBundle(train=Split(X, y), val=Split(X_val, y_val), test=None,
                      task="classification", n_features=2, n_outputs=2, class_names=["a", "b"],
                      preprocessor=pre, source="arrays")


def _cfg(**train):
    return validate_config({"model": {"hidden": [8]}, "optimizer": {"kind": "sgd", "lr": 0.1},
                            "train": {"epochs": 5, "batch_size": 32, **train}})


def _listing(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def test_trainer_fits_in_memory_arrays_without_writing_a_file(tmp_path, monkeypatch):
    work, tmp = tmp_path / "cwd", tmp_path / "tmp"
    work.mkdir()
    tmp.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.setenv("TMPDIR", str(tmp))
    monkeypatch.setattr(tempfile, "tempdir", None)  # gettempdir() reads TMPDIR again
    assert tempfile.gettempdir() == str(tmp)
    history = History()
    trainer = build_trainer(_cfg(), _bundle(), callbacks=history)
    status = trainer.fit()
    assert status == "completed"
    assert [row["epoch"] for row in history.rows] == [1, 2, 3, 4, 5]
    losses = [row["train_loss"] for row in history.rows]
    assert losses[-1] < 0.5 * losses[0]
    assert history.rows[-1]["val_accuracy"] >= 0.95  # clouds 4 sigma apart: ~2% overlap
    assert trainer.last_row is history.rows[-1]
    assert trainer.state.step == 5 * 13  # ceil(400 / 32) steps per epoch
    assert _listing(work) == [] and _listing(tmp) == []
    assert os.listdir(work) == []


def test_a_trainer_without_callbacks_trains_and_keeps_only_the_last_row():
    trainer = build_trainer(_cfg(epochs=2), _bundle())
    assert isinstance(trainer.callbacks, NoCallbacks)
    assert trainer.fit() == "completed"
    assert trainer.last_row is not None and trainer.last_row["epoch"] == 2


def test_build_trainer_resolves_a_copy_and_leaves_the_callers_config_alone():
    cfg = validate_config({"model": {"hidden": [4]}, "train": {"epochs": 1}})
    bundle = _bundle()
    bundle.val = None  # no validation split: the monitors fall back to training metrics
    messages = []

    class Messages(SilentObserver):
        def message(self, text: str) -> None:
            messages.append(text)

    trainer = build_trainer(cfg, bundle, observer=Messages())
    assert trainer.cfg.train.checkpoint.monitor == "train_loss"
    assert cfg.train.checkpoint.monitor == "val_loss"
    assert messages == ["no validation split: train.checkpoint.monitor uses train_loss "
                        "instead of val_loss"]


def test_in_memory_training_is_bit_identical_to_a_run_on_the_same_data(tmp_path):
    from mlptrain.checkpoint import load_checkpoint

    raw = {"data": {"source": "spiral", "n_samples": 200},
           "model": {"hidden": [8, 8], "dropout": 0.2, "batchnorm": True},
           "train": {"epochs": 3, "batch_size": 16}, "run": {"root": str(tmp_path)}}
    cfg = validate_config(raw)
    trainer = build_trainer(cfg, load_data(cfg.data, seed=cfg.seed, loss_kind=cfg.loss.kind))
    trainer.fit()
    result = start_run(validate_config(raw))
    saved = load_checkpoint(result.run_dir / "checkpoints/last.safetensors").group("model")
    for name, value in trainer.net.state_arrays().items():
        assert np.array_equal(saved[name], value), name


class _Log(NoCallbacks):
    """Records what the loop hands to its callbacks, in order."""

    def __init__(self) -> None:
        self.events: list[tuple] = []

    def begin(self, trainer: Trainer) -> None:
        self.events.append(("begin", trainer.state.step))

    def checkpoint(self, trainer: Trainer, tags: set[str]) -> None:
        self.events.append(("checkpoint", trainer.state.epoch, sorted(tags)))

    def record(self, trainer, row, layer_stats) -> None:
        self.events.append(("record", row["epoch"], layer_stats is not None))


def test_callbacks_begin_then_get_each_row_then_best_then_the_epoch_end_checkpoints():
    log = _Log()
    cfg = _cfg(epochs=4, checkpoint={"every": 2, "min_interval_s": 0})
    trainer = build_trainer(cfg, _bundle(), callbacks=log)
    trainer.fit()
    assert log.events[:4] == [("begin", 0), ("record", 1, True), ("checkpoint", 1, ["best"]),
                              ("checkpoint", 1, ["last"])]
    ends = [e for e in log.events if e[0] == "checkpoint" and "last" in e[2]]
    assert ends == [("checkpoint", 1, ["last"]), ("checkpoint", 2, ["epoch-0002", "last"]),
                    ("checkpoint", 3, ["last"]), ("checkpoint", 4, ["epoch-0004", "last"])]
    assert [e[1] for e in log.events if e[0] == "record"] == [1, 2, 3, 4]


# ---- the summary's final row, from memory ----------------------------------------------------


def _csv_last_row(run_dir: Path) -> dict:
    """metrics.csv's last row, parsed here: int where the cell is an integer, else float."""
    with open(run_dir / "metrics.csv", newline="") as handle:
        last = list(csv.DictReader(handle))[-1]

    def number(text: str):
        if text == "":
            return None
        return int(text) if text.lstrip("-").isdigit() else float(text)

    return {k: number(v) for k, v in last.items()}


@pytest.mark.parametrize("data", [{"source": "spiral", "n_samples": 200},
                                  {"source": "sine", "n_samples": 200}])
def test_summary_final_row_is_metrics_csv_last_row(tmp_path, data):
    raw = {"data": data, "model": {"hidden": [8]},
           "train": {"epochs": 2, "batch_size": 32, "eval_every": 3},
           "run": {"root": str(tmp_path)}}
    result = start_run(validate_config(raw))
    assert result.summary["final"] == _csv_last_row(result.run_dir)
    assert result.summary["final"]["epoch"] == 2


def test_a_resume_with_nothing_left_to_train_reports_the_row_before_the_resume(tmp_path):
    raw = {"data": {"source": "spiral", "n_samples": 200}, "model": {"hidden": [8]},
           "train": {"epochs": 2, "batch_size": 32}, "run": {"root": str(tmp_path)}}
    first = start_run(validate_config(raw))
    resumed = resume_run(first.run_dir)
    assert resumed.summary["final"] == _csv_last_row(first.run_dir)
    assert resumed.summary["final"] == first.summary["final"]
    assert resumed.summary["steps"] == first.summary["steps"]


def test_a_config_that_does_not_fit_the_data_leaves_no_folder(tmp_path):
    from mlptrain.errors import ConfigError

    # val_roc_auc passes the config's own check (a CSV's classes are known only once read);
    # flowers.csv has 3 (a config's task alone, e.g. val_accuracy on sine, or its classes, as
    # spiral's, is refused by validate_config)
    flowers = Path(__file__).resolve().parents[1] / "data" / "flowers.csv"
    raw = {"data": {"source": "csv", "path": str(flowers)}, "model": {"hidden": [4]},
           "train": {"checkpoint": {"monitor": "val_roc_auc"}}, "run": {"root": str(tmp_path)}}
    with pytest.raises(ConfigError, match="train.checkpoint.monitor: 'val_roc_auc' is not a "
                                          "metric of this run"):
        start_run(validate_config(raw))
    assert list(tmp_path.iterdir()) == []


def test_a_checkpoint_taken_in_memory_restores_into_a_fresh_trainer_exactly(tmp_path):
    """checkpoint.trainer_checkpoint / save / load / restore_trainer, with no run directory:
    2 epochs, saved, restored into a new Trainer, 2 more epochs == 4 epochs straight."""
    from mlptrain.checkpoint import (
        load_checkpoint,
        restore_trainer,
        save_checkpoint,
        saved_preprocessor,
        trainer_checkpoint,
    )

    raw = {"data": {"source": "spiral", "n_samples": 200},
           "model": {"hidden": [8], "dropout": 0.2, "batchnorm": True},
           "optimizer": {"kind": "adam", "lr": 0.01}, "train": {"epochs": 2, "batch_size": 16}}
    cfg = validate_config(raw)
    bundle = load_data(cfg.data, seed=cfg.seed, loss_kind=cfg.loss.kind)
    first = build_trainer(cfg, bundle)
    first.fit()
    path = tmp_path / "two.safetensors"
    save_checkpoint(path, trainer_checkpoint(first, first.cfg.model_dump(mode="json"), {}))

    longer = validate_config({**raw, "train": {**raw["train"], "epochs": 4}})
    saved = load_checkpoint(path)
    resumed = build_trainer(longer, load_data(longer.data, seed=longer.seed,
                                              preprocessor=saved_preprocessor(saved, path)))
    restore_trainer(resumed, saved, path)
    assert resumed.state.epoch == 2
    resumed.fit()
    straight = build_trainer(longer, bundle)
    straight.fit()
    assert resumed.state.step == straight.state.step
    for name, value in straight.net.state_arrays().items():
        assert np.array_equal(resumed.net.state_arrays()[name], value), name
