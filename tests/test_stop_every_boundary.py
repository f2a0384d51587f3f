"""A stop request is exact at every step boundary (issue 13, item 9): a small run is stopped
after each of its steps in turn (the epoch ends included, and at the moment its metrics rows
are reported), resumed, and compared with an uninterrupted run: bit-identical weights and
optimizer state, the same loop, RNG, schedule and monitor state, the same metrics rows
(timing columns aside). Deterministic: the stop is set by an observer at step k, no timing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from process_helpers import assert_same_run, spiral_raw

from mlptrain.checkpoint import load_checkpoint
from mlptrain.config import validate_config
from mlptrain.experiment import resume_run, start_run
from mlptrain.training import SilentObserver, StopSignal

EPOCHS, STEPS_PER_EPOCH = 3, 3
PERIODIC = ("epoch-0001", "epoch-0002", "epoch-0003")


class StopAtStep(SilentObserver):
    """Requests a stop once global step `k` is done: right after the step (`batches_done`),
    or when the metrics row of step k is reported (`evaluated`, after its evaluation)."""

    def __init__(self, stop: StopSignal, k: int, when: str, steps_per_epoch: int):
        self.stop, self.k, self.when, self.per_epoch = stop, k, when, steps_per_epoch
        self.epoch = 0

    def epoch_started(self, epoch: int, n_batches: int, start_batch: int) -> None:
        assert n_batches == self.per_epoch
        self.epoch = epoch

    def batches_done(self, count: int, running_loss: float) -> None:
        if self.when == "step" and (self.epoch - 1) * self.per_epoch + count == self.k:
            self.stop.request("test")

    def evaluated(self, row: dict[str, Any]) -> None:
        if self.when == "row" and row["step"] == self.k:
            self.stop.request("test")


def raw_config(root: Path) -> dict:
    # 300 spiral points: 240 training rows (80/10/10 split) in 3 batches of 80 (the last 80);
    # dropout, batch norm, Adam, a cosine schedule, shuffling, a mid-epoch evaluation every
    # 2 steps and periodic checkpoints: every piece of state a resume must restore.
    raw = spiral_raw(root, epochs=EPOCHS, n_samples=300, eval_every=2,
                     checkpoint={"every": 1, "keep_last": 10})
    raw["train"]["batch_size"] = 80
    raw["schedule"] = {"kind": "cosine", "warmup_epochs": 1}
    return raw


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("reference")
    result = start_run(validate_config(raw_config(root)))
    assert result.status == "completed"
    assert result.summary["steps"] == EPOCHS * STEPS_PER_EPOCH
    return result.run_dir


# after each step but the last; and when a row is reported: mid-epoch (steps 2, 4, 8) and at
# the epoch ends (3, 6), after the evaluation and before the checkpoints
BOUNDARIES = [(k, "step") for k in range(1, EPOCHS * STEPS_PER_EPOCH)]
BOUNDARIES += [(k, "row") for k in (2, 3, 4, 6, 8)]


@pytest.mark.parametrize(("k", "when"), BOUNDARIES)
def test_a_stop_after_step_k_then_resume_equals_the_uninterrupted_run(tmp_path, reference,
                                                                      k, when):
    stop = StopSignal()
    first = start_run(validate_config(raw_config(tmp_path)), stop=stop,
                      observer_factory=lambda _: StopAtStep(stop, k, when, STEPS_PER_EPOCH))
    assert first.status == "interrupted" and first.stopped_by == "test"
    assert first.summary["steps"] == k, "the stop came later than the next step boundary"
    saved = load_checkpoint(first.run_dir / "checkpoints/last.safetensors")
    assert saved.meta["trainer"]["loop"]["step"] == k
    assert saved.meta["trainer"]["loop"]["status"] == "interrupted"
    resumed = resume_run(first.run_dir)
    assert resumed.status == "completed"
    assert_same_run(reference, first.run_dir, PERIODIC)


def test_a_stop_after_the_last_step_lets_the_run_complete(tmp_path, reference):
    stop = StopSignal()
    last = EPOCHS * STEPS_PER_EPOCH
    result = start_run(validate_config(raw_config(tmp_path)), stop=stop,
                       observer_factory=lambda _: StopAtStep(stop, last, "step", STEPS_PER_EPOCH))
    assert stop.requested and result.status == "completed"
    assert_same_run(reference, result.run_dir, PERIODIC)
