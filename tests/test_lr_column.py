"""The `lr` column of metrics.csv is the rate the row's last optimizer step used (issue 13,
item 6): a step decay shows in the first epoch trained at the decayed rate, not one epoch
early; cosine annealing is not 0 on the last epoch. Expected values are computed by hand."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import pytest
from process_helpers import spiral_raw

from mlptrain.config import validate_config
from mlptrain.experiment import start_run

TRAIN_ROWS = 240  # spiral n_samples=300, the default 80/10/10 split


def lr_column(tmp_path: Path, batch_size: int, epochs: int, schedule: dict,
              eval_every: int = 0) -> list[tuple[float, float]]:
    raw = spiral_raw(tmp_path, epochs=epochs, n_samples=300, eval_every=eval_every)
    raw["train"]["batch_size"] = batch_size
    raw["optimizer"] = {"kind": "sgd", "lr": 0.1}
    raw["schedule"] = schedule
    run_dir = start_run(validate_config(raw)).run_dir
    with open(run_dir / "metrics.csv", newline="") as handle:
        return [(float(r["epoch"]), float(r["lr"])) for r in csv.DictReader(handle)]


def test_a_step_decay_every_2_epochs_shows_in_epochs_3_and_5(tmp_path):
    # one step per epoch; lr 0.1 halved after every 2 epochs
    rows = lr_column(tmp_path, TRAIN_ROWS, 6, {"kind": "step", "step_size": 2, "gamma": 0.5})
    assert rows == [(1, 0.1), (2, 0.1), (3, 0.05), (4, 0.05), (5, 0.025), (6, 0.025)]


def test_mid_epoch_rows_show_the_rate_of_their_last_step(tmp_path):
    # two steps per epoch, a row after every step; lr 0.1 halved every epoch
    rows = lr_column(tmp_path, TRAIN_ROWS // 2, 3, {"kind": "step", "step_size": 1,
                                                     "gamma": 0.5}, eval_every=1)
    assert rows == [(0.5, 0.1), (1, 0.1), (1.5, 0.05), (2, 0.05), (2.5, 0.025), (3, 0.025)]


def test_cosine_over_4_epochs_is_not_zero_on_the_last_epoch(tmp_path):
    # one step per epoch: epoch e trains with step e - 1, at q = (e - 1) / 4 of the cosine
    rows = lr_column(tmp_path, TRAIN_ROWS, 4, {"kind": "cosine"})
    half = math.sqrt(2) / 2  # cos(pi / 4)
    expected = [0.1, 0.05 * (1 + half), 0.05, 0.05 * (1 - half)]
    assert [epoch for epoch, _ in rows] == [1, 2, 3, 4]
    assert [lr for _, lr in rows] == pytest.approx(expected, rel=1e-12)
    assert rows[-1][1] > 0.014
