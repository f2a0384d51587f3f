"""`train.checkpoint.min_interval_s`: `last` at most every N seconds, plus after the first
epoch, at the end, on a stop, before an early stop and with a periodic checkpoint; `best`
held in memory until then. A throttled run ends with the same files as an unthrottled one,
and a SIGKILL at a random point followed by --resume still ends bit-identical."""

from __future__ import annotations

import signal
import time

import numpy as np
import pytest
from process_helpers import assert_same_run, metrics_rows, run, spawn, wait_until, write_config

from mlptrain.assembly import build_trainer
from mlptrain.checkpoint import load_checkpoint
from mlptrain.config import validate_config
from mlptrain.errors import DivergenceError
from mlptrain.experiment import start_run
from mlptrain.training import LastWrites, NoCallbacks, StopSignal, Trainer

NEVER = 1e9  # seconds: no `last` is due by time within a test


# ---- when `last` is due -------------------------------------------------------------------


def test_last_writes_with_no_interval_are_always_due():
    writes = LastWrites(0.0)
    assert writes.due()
    writes.written()
    assert writes.due()


def test_last_writes_are_due_first_then_only_after_the_interval():
    writes = LastWrites(0.05)
    assert writes.due()  # nothing written yet by this process
    writes.written()
    written_at = writes.written_at
    while time.monotonic() - written_at < 0.05:
        time.sleep(0.01)
    assert writes.due()
    never = LastWrites(NEVER)
    never.written()
    assert not never.due()


class _Checkpoints(NoCallbacks):
    """The tags of every checkpoint the loop asks for, with the epoch it was asked at."""

    def __init__(self) -> None:
        self.calls: list[tuple[int, list[str]]] = []

    def checkpoint(self, trainer: Trainer, tags: set[str]) -> None:
        self.calls.append((trainer.state.epoch, sorted(tags)))


def _spiral(**train) -> dict:
    return {"data": {"source": "spiral", "n_samples": 300}, "model": {"hidden": [8]},
            "optimizer": {"kind": "adam", "lr": 0.01},
            "train": {"epochs": 7, "batch_size": 32, **train}}


def _lasts(raw: dict, stop_at_step: int | None = None) -> tuple[str, list[tuple[int, list[str]]]]:
    from mlptrain.data import load_data

    cfg = validate_config(raw)
    log = _Checkpoints()
    trainer = build_trainer(cfg, load_data(cfg.data, seed=cfg.seed, loss_kind=cfg.loss.kind),
                            callbacks=log)
    stop = StopSignal()
    if stop_at_step is not None:  # ask to stop once the loop has taken that many steps
        step = trainer._train_step

        def counted(rows, keep_previous):
            step(rows, keep_previous)
            if trainer.state.step == stop_at_step:
                stop.request("test")
        trainer._train_step = counted  # type: ignore[method-assign]
    status = trainer.fit(stop=stop)
    return status, [c for c in log.calls if "last" in c[1]]


def test_without_an_interval_last_is_written_after_every_epoch():
    status, lasts = _lasts(_spiral(checkpoint={"min_interval_s": 0}))
    assert status == "completed"
    assert lasts == [(e, ["last"]) for e in range(1, 8)]


def test_throttled_last_comes_after_the_first_epoch_with_periodic_tags_and_at_the_end():
    status, lasts = _lasts(_spiral(checkpoint={"min_interval_s": NEVER, "every": 3}))
    assert status == "completed"
    assert lasts == [(1, ["last"]), (3, ["epoch-0003", "last"]), (6, ["epoch-0006", "last"]),
                     (7, ["last"])]


def test_throttled_last_is_written_before_an_early_stop():
    # min_delta 10 on accuracy: nothing after the first evaluation improves; stop after 1 + 2
    raw = _spiral(checkpoint={"min_interval_s": NEVER}, epochs=20,
                  early_stopping={"monitor": "val_accuracy", "patience": 2, "min_delta": 10.0})
    status, lasts = _lasts(raw)
    assert status == "early_stopped"
    assert lasts == [(1, ["last"]), (3, ["last"])]


def test_throttled_last_is_written_on_a_stop():
    steps_per_epoch = 8  # 240 training rows (300 less 20% test) less 10% val = 216; / 32
    status, lasts = _lasts(_spiral(checkpoint={"min_interval_s": NEVER}),
                           stop_at_step=3 * steps_per_epoch + 2)
    assert status == "interrupted"
    assert lasts == [(1, ["last"]), (3, ["last"])]  # the stop: 2 steps into epoch 4


# ---- a throttled run writes the same files ------------------------------------------------


def _config(tmp_path, raw: dict, name: str, interval: float):
    """`raw` named `name` with `min_interval_s` `interval`, its run under tmp_path/runs."""
    cfg = {**raw, "name": name, "run": {"root": str(tmp_path / "runs")}}
    cfg["train"] = {**raw["train"], "checkpoint": {"min_interval_s": interval}}
    return validate_config(cfg)


def _run_pair(tmp_path, raw: dict) -> tuple:
    """The run of `raw` with `last` after every epoch and with writes held back."""
    return (start_run(_config(tmp_path, raw, "every", 0)),
            start_run(_config(tmp_path, raw, "held", NEVER)))


def test_a_throttled_run_ends_with_the_same_checkpoints_rows_and_summary(tmp_path):
    # eval_every: `best` also improves mid-epoch, and is held in memory until `last`
    raw = {"data": {"source": "spiral", "n_samples": 300},
           "model": {"hidden": [16], "dropout": 0.1, "batchnorm": True},
           "optimizer": {"kind": "adam", "lr": 0.01},
           "train": {"epochs": 6, "batch_size": 16, "eval_every": 5}}
    every, held = _run_pair(tmp_path, raw)
    assert_same_run(every.run_dir, held.run_dir)
    assert every.summary["best_epoch"] > 1  # best was held across epochs


def test_a_diverged_throttled_run_writes_its_held_best(tmp_path):
    # sgd warming up to lr 0.5 diverges in epoch 5; its best epoch is 2, after the first
    # `last` (epoch 1): that best exists only in memory when the loss explodes
    raw = {"data": {"source": "spiral", "n_samples": 300}, "model": {"hidden": [16, 16]},
           "optimizer": {"kind": "sgd", "lr": 0.5, "momentum": 0.9},
           "schedule": {"kind": "cosine", "warmup_epochs": 8},
           "train": {"epochs": 10, "batch_size": 16, "divergence_factor": 3}}
    for name, interval in (("every", 0), ("held", NEVER)):
        with pytest.raises(DivergenceError, match=r"the best checkpoint \(epoch 2\) is kept"):
            start_run(_config(tmp_path, raw, name, interval))
    runs = {p.name.split("-")[0]: p for p in (tmp_path / "runs").iterdir()}
    every, held = runs["every"], runs["held"]
    a = load_checkpoint(every / "checkpoints/best.safetensors")
    b = load_checkpoint(held / "checkpoints/best.safetensors")
    assert b.meta["trainer"]["loop"]["epoch"] == 2
    for key in a.tensors:
        assert np.array_equal(a.tensors[key], b.tensors[key]), key
    assert load_checkpoint(every / "checkpoints/last.safetensors").meta["trainer"]["loop"]["epoch"] == 4
    assert load_checkpoint(held / "checkpoints/last.safetensors").meta["trainer"]["loop"]["epoch"] == 1
    assert metrics_rows(every) == metrics_rows(held)


# ---- SIGKILL and resume with throttling ---------------------------------------------------


def _checkpoint_step(run_dir) -> int:
    """The step of RUN's `last` checkpoint; -1 before there is one."""
    path = run_dir / "checkpoints/last.safetensors"
    if not path.exists():
        return -1
    return load_checkpoint(path).meta["trainer"]["loop"]["step"]


def _rows_after(run_dir, step: int) -> int:
    rows = metrics_rows(run_dir)
    return sum(1 for r in rows if r.get("step") and int(r["step"]) > step)


def _wait_or_end(condition, proc, timeout: float = 120.0) -> bool:
    """Poll `condition()` until it holds (True) or `proc` has ended (False)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        if proc.poll() is not None:
            return False
        time.sleep(0.005)
    raise AssertionError("timed out")


def test_sigkill_at_random_points_with_throttled_checkpoints_resumes_bit_identical(tmp_path):
    # `last` only after each process's first epoch, every 4 epochs and at the end: each kill
    # comes once metrics.csv is ahead of the checkpoint (rows the resume truncates and
    # replays), after a random extra delay
    raw = {"name": "p", "data": {"source": "spiral", "n_samples": 1500},
           "model": {"hidden": [16], "dropout": 0.1, "batchnorm": True},
           "optimizer": {"kind": "adam", "lr": 0.01},
           "schedule": {"kind": "cosine", "warmup_epochs": 1},
           "train": {"epochs": 12, "batch_size": 8,
                     "checkpoint": {"min_interval_s": NEVER, "every": 4}},
           "run": {"root": str(tmp_path / "runs")}}
    cfg = write_config(tmp_path / "cfg.yaml", raw)
    reference = run(["train", str(cfg), "name=reference"], tmp_path)
    assert reference.returncode == 0, reference.stderr
    rng = np.random.default_rng(4)
    proc = spawn(["train", str(cfg), "name=killed"], tmp_path)
    runs = tmp_path / "runs"
    wait_until(lambda: any(runs.glob("killed-*")), proc, what="the run directory")
    run_dir = next(runs.glob("killed-*"))
    truncated, previous = 0, -1
    for _ in range(3):
        # this process has written a checkpoint of its own (so it has truncated the rows a
        # killed one left), then a metrics row after it
        if not (_wait_or_end(lambda p=previous: _checkpoint_step(run_dir) > p, proc) and
                _wait_or_end(lambda: _rows_after(run_dir, _checkpoint_step(run_dir)) > 0, proc)):
            break  # the run finished first
        time.sleep(rng.uniform(0.0, 0.1))
        if proc.poll() is not None:
            break
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        previous = _checkpoint_step(run_dir)
        truncated += _rows_after(run_dir, previous) > 0
        proc = spawn(["train", "--resume", str(run_dir)], tmp_path)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    assert truncated >= 1, "no kill left metrics rows after the checkpoint"
    reference_dir = next(runs.glob("reference-*"))
    assert_same_run(reference_dir, run_dir, extra_tags=("epoch-0004", "epoch-0008", "epoch-0012"))


def test_a_held_best_shares_nothing_with_the_state_it_was_taken_from(tmp_path):
    import json
    import math

    from mlptrain.checkpoint import Checkpoint, save_checkpoint
    from mlptrain.experiment import _HeldCheckpoint

    weights = np.arange(6, dtype=np.float32).reshape(2, 3)
    meta = {"trainer": {"loop": {"epoch": 2, "losses": [0.5, math.nan]}, "rng": {"s": 1 << 70}},
            "config": {"name": "p", "train": {"epochs": 3}}}
    original = Checkpoint(tensors={"model.w": weights}, meta=meta)
    save_checkpoint(tmp_path / "at_hold.safetensors", original)
    held = _HeldCheckpoint.of(original)
    weights += 100.0  # training goes on: the trainer's arrays and state change in place
    meta["trainer"]["loop"]["epoch"] = 3
    meta["config"]["train"]["epochs"] = 9
    restored = held.checkpoint()
    assert np.array_equal(restored.tensors["model.w"], np.arange(6, dtype=np.float32).reshape(2, 3))
    assert restored.meta["trainer"]["loop"]["epoch"] == 2
    assert restored.meta["config"]["train"]["epochs"] == 3
    assert restored.meta["trainer"]["rng"]["s"] == 1 << 70
    save_checkpoint(tmp_path / "held.safetensors", restored)
    # what is written later is what writing it at once would have written (the header's
    # key order is safetensors' own, so the files are compared as read back)
    later, at_once = (load_checkpoint(tmp_path / f"{n}.safetensors") for n in ("held", "at_hold"))
    assert json.dumps(later.meta) == json.dumps(at_once.meta)  # NaN compares by its text
    assert later.tensors.keys() == at_once.tensors.keys()
    assert np.array_equal(later.tensors["model.w"], at_once.tensors["model.w"])
