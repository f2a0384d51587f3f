"""TensorBoard event files (run.tensorboard / --tensorboard), read back with TensorBoard's own
EventAccumulator: every metrics.csv column and layers.jsonl statistic with the same values
(as float32) at the same steps, histograms of the final weights, the config as text and
hparams, the train/val overlay layout; a resumed run (also after SIGKILL) has each step once;
without tensorboardX, a clean exit 2 that says how to install it."""

from __future__ import annotations

import csv
import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from tools_helpers import assert_clean_error, run, train_run

from mlptrain.tensorboard import (
    EventWriter,
    flat_hparams,
    overlay_layout,
    read_records,
    scalar_tag,
)

pytest.importorskip("tensorboard")
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # noqa: E402

CONFIG = Path(__file__).parents[1] / "configs" / "spiral.yaml"
EVERYTHING = {"scalars": 0, "histograms": 0, "tensors": 0}


def accumulator(run_dir: Path) -> EventAccumulator:
    acc = EventAccumulator(str(run_dir / "tb"), size_guidance=EVERYTHING)
    acc.Reload()
    return acc


def metrics(run_dir: Path) -> list[dict[str, str]]:
    with open(run_dir / "metrics.csv", newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def f32(text) -> float:
    return float(np.float32(float(text)))


def same(a: float, b: float) -> bool:
    return a == b or (math.isnan(a) and math.isnan(b))


def assert_events_equal_metrics_csv(run_dir: Path) -> None:
    """Every column of metrics.csv (but step, the x axis) is a scalar with one event per row,
    at the row's step, with the row's value as float32."""
    acc, rows = accumulator(run_dir), metrics(run_dir)
    assert rows
    for column in rows[0]:
        if column == "step":
            continue
        expected = [(int(r["step"]), f32(r[column])) for r in rows if r[column] != ""]
        events = [(e.step, e.value) for e in acc.Scalars(scalar_tag(column))]
        assert len(events) == len(expected), column
        for (step, value), (want_step, want) in zip(events, expected, strict=True):
            assert step == want_step and same(value, want), (column, step, value, want)


def assert_each_step_once(run_dir: Path) -> None:
    acc = accumulator(run_dir)
    tags = acc.Tags()
    for tag in tags["scalars"]:
        steps = [e.step for e in acc.Scalars(tag)]
        assert steps == sorted(set(steps)), (tag, steps)
    for tag in tags["histograms"]:
        steps = [e.step for e in acc.Histograms(tag)]
        assert steps == sorted(set(steps)), (tag, steps)


# ---- names ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("column", "tag"), [
    ("train_loss", "loss/train"), ("val_loss", "loss/val"), ("train_accuracy", "accuracy/train"),
    ("val_r2", "r2/val"), ("best_val_loss", "best/val_loss"), ("lr", "optim/lr"),
    ("grad_norm", "optim/grad_norm"), ("epoch", "progress/epoch"),
    ("epoch_time", "time/epoch_seconds"), ("wall_time", "time/train_seconds"),
    ("something_new", "something_new"),
])
def test_scalar_tags_put_train_and_val_under_one_name(column, tag):
    assert scalar_tag(column) == tag


def test_overlay_layout_pairs_train_and_val_columns():
    layout = overlay_layout(["epoch", "train_loss", "val_loss", "train_accuracy", "val_mse"])
    assert layout == {"train vs val": {"loss": ["Multiline", ["loss/train", "loss/val"]]}}


def test_flat_hparams_flattens_keys_and_keeps_only_scalar_types():
    cfg = {"seed": 0, "optimizer": {"lr": 0.01, "betas": [0.9, 0.999], "nesterov": False},
           "data": {"path": None, "source": "spiral"}}
    assert flat_hparams(cfg) == {"seed": 0, "optimizer.lr": 0.01, "optimizer.betas": "[0.9, 0.999]",
                                 "optimizer.nesterov": False, "data.path": "null",
                                 "data.source": "spiral"}


# ---- a trained run --------------------------------------------------------------------------


@pytest.fixture(scope="module", name="tb_run")
def fixture_tb_run(tmp_path_factory) -> Path:
    return train_run(tmp_path_factory.mktemp("tb"), run={"tensorboard": True},
                     model={"hidden": [16, 8]}, train={"epochs": 5, "eval_every": 7})


def test_event_reader_returns_the_values_of_metrics_csv(tb_run):
    rows = metrics(tb_run)
    assert any("." in r["epoch"] for r in rows)  # mid-epoch evaluations (eval_every) too
    assert_events_equal_metrics_csv(tb_run)


def test_layer_statistics_are_scalars_with_the_values_of_layers_jsonl(tb_run):
    acc = accumulator(tb_run)
    records = [json.loads(line) for line in (tb_run / "layers.jsonl").read_text().splitlines()]
    checked = 0
    for key, prefix in (("grad_norm", "grad_norm"), ("weight_norm", "weight_norm"),
                        ("std", "activation_std"), ("update_ratio", "update_ratio")):
        for layer in range(len(records[0]["layers"])):
            expected = [(r["step"], f32(r["layers"][layer][key])) for r in records
                        if r["layers"][layer].get(key) is not None]
            if not expected:
                continue
            got = [(e.step, e.value) for e in acc.Scalars(f"{prefix}/layer{layer}")]
            assert got == expected
            checked += 1
    assert checked == 3 + 3 + 2 + 3  # std: hidden layers only


def test_histograms_of_the_last_epoch_describe_the_final_weights(tb_run):
    from mlptrain.checkpoint import load_checkpoint

    acc = accumulator(tb_run)
    weights = load_checkpoint(tb_run / "checkpoints" / "last.safetensors").group("model")
    last_step = int(metrics(tb_run)[-1]["step"])
    for layer, shape in enumerate([(2, 16), (16, 8), (8, 3)]):
        w = weights[f"layers.{layer}.weight"].astype(np.float64)
        assert w.shape == shape
        histo = acc.Histograms(f"weights/layer{layer}")[-1]
        assert histo.step == last_step
        h = histo.histogram_value
        assert h.num == w.size
        assert h.min == w.min() and h.max == w.max()
        assert h.sum == pytest.approx(w.sum(), rel=1e-9, abs=1e-9)
        assert sum(h.bucket) == w.size
    assert len(acc.Histograms("gradients/layer2")) == 5  # one per epoch
    assert len(acc.Histograms("activations/layer1")) == 5


def test_config_is_written_as_text_and_hparams(tb_run):
    from tensorboard.plugins.hparams import plugin_data_pb2
    from tensorboard.util import tensor_util

    acc = accumulator(tb_run)
    (text,) = acc.Tensors("config/text_summary")
    shown = tensor_util.make_ndarray(text.tensor_proto).item().decode()
    assert "optimizer:" in shown and "lr: 0.01" in shown
    content = acc.PluginTagToContent("hparams")
    start = plugin_data_pb2.HParamsPluginData.FromString(
        content["_hparams_/session_start_info"]).session_start_info
    assert start.hparams["optimizer.lr"].number_value == 0.01
    assert start.hparams["model.hidden"].string_value == "[16, 8]"
    assert start.hparams["run.tensorboard"].bool_value is True
    experiment = plugin_data_pb2.HParamsPluginData.FromString(
        content["_hparams_/experiment"]).experiment
    assert {m.name.tag for m in experiment.metric_infos} >= {"loss/val", "accuracy/val"}


def test_the_layout_overlays_train_and_val_loss(tb_run):
    from tensorboard.plugins.custom_scalar import layout_pb2
    from tensorboard.util import tensor_util

    (event,) = accumulator(tb_run).Tensors("custom_scalars__config__")
    layout = layout_pb2.Layout.FromString(tensor_util.make_ndarray(event.tensor_proto).item())
    charts = {c.title: list(c.multiline.tag) for cat in layout.category for c in cat.chart}
    assert charts == {"loss": ["loss/train", "loss/val"],
                      "accuracy": ["accuracy/train", "accuracy/val"]}


# ---- resuming -------------------------------------------------------------------------------


def test_a_resumed_run_has_each_step_once_and_still_equals_metrics_csv(tmp_path):
    from mlptrain.experiment import resume_run

    run_dir = train_run(tmp_path, run={"tensorboard": True}, train={"epochs": 3})
    resume_run(run_dir, ["train.epochs=6"])  # usually within the same second as the first
    assert len(list((run_dir / "tb").iterdir())) == 1
    assert_each_step_once(run_dir)
    assert_events_equal_metrics_csv(run_dir)
    assert len(accumulator(run_dir).Scalars("loss/train")) == 6


def test_events_after_the_checkpoint_and_a_torn_record_are_dropped_on_resume(tmp_path):
    cfg, columns = {"name": "x"}, ["epoch", "step", "train_loss"]
    writer = EventWriter.open(tmp_path, cfg, columns)
    for epoch in range(1, 5):
        writer.record({"epoch": epoch, "step": 10 * epoch, "train_loss": 1.0 / epoch})
    writer.close()
    with open(writer.path, "ab") as handle:  # a record cut short by a crash
        handle.write(b"\x40\x00\x00\x00\x00\x00\x00\x00\x01\x02")
    resumed = EventWriter.open(tmp_path, cfg, columns, resume_step=20)  # checkpoint at step 20
    resumed.record({"epoch": 3, "step": 30, "train_loss": 0.25})
    resumed.close()
    assert [p.name for p in (tmp_path / "tb").iterdir()] == [resumed.path.name]
    assert len(list(read_records(resumed.path))) > 0
    got = [(e.step, e.value) for e in accumulator(tmp_path).Scalars("loss/train")]
    assert got == [(10, 1.0), (20, 0.5), (30, 0.25)]
    (text,) = accumulator(tmp_path).Tensors("config/text_summary")  # copied once, not twice
    assert text.step == 0


def test_read_records_stops_at_a_corrupt_crc(tmp_path):
    writer = EventWriter.open(tmp_path, {"name": "x"}, ["epoch", "step", "train_loss"])
    writer.record({"epoch": 1, "step": 1, "train_loss": 1.0})
    writer.close()
    data = bytearray(writer.path.read_bytes())
    intact = len(list(read_records(writer.path)))
    data[-1] ^= 0xFF  # the last record's payload CRC
    writer.path.write_bytes(bytes(data))
    assert len(list(read_records(writer.path))) == intact - 1


def test_a_sigkilled_then_resumed_run_has_each_step_once(tmp_path):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    cmd = [sys.executable, "-m", "mlptrain", "train", str(CONFIG), "--tensorboard", "--quiet",
           "--out", str(tmp_path), "train.epochs=100000", "train.early_stopping=null",
           "data.n_samples=600", "model.hidden=[16]"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            found = list(tmp_path.glob("*/metrics.csv"))
            if found and len(found[0].read_text().splitlines()) > 8:
                break
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=120)
    assert proc.returncode == -signal.SIGKILL  # killed mid-run, not finished
    (run_dir,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    epochs_seen = len(metrics(run_dir))
    done = subprocess.run([sys.executable, "-m", "mlptrain", "train", "--resume", str(run_dir),
                           f"train.epochs={epochs_seen + 3}", "--quiet"], env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert len(list((run_dir / "tb").iterdir())) == 1
    assert_each_step_once(run_dir)
    assert_events_equal_metrics_csv(run_dir)
    assert len(accumulator(run_dir).Scalars("loss/train")) == epochs_seen + 3


# ---- without tensorboardX -------------------------------------------------------------------


def test_without_tensorboardx_train_says_how_to_install_it(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "tensorboardX", None)  # import raises ImportError
    result = run("train", CONFIG, "--tensorboard", "--out", tmp_path)
    assert_clean_error(result, "needs tensorboardX, which is not installed",
                       "pip install 'mlptrain[tensorboard]'")
    assert list(tmp_path.iterdir()) == []  # no run directory was made


def test_resume_with_tensorboard_switches_it_on_for_the_rest_of_the_run(tmp_path):
    run_dir = train_run(tmp_path, train={"epochs": 2})
    result = run("train", "--resume", run_dir, "--tensorboard", "train.epochs=4", "--quiet")
    assert result.exit_code == 0, result.output
    steps = [int(r["step"]) for r in metrics(run_dir)]
    assert [e.step for e in accumulator(run_dir).Scalars("loss/train")] == steps[2:]


def test_resume_still_refuses_other_overrides(tmp_path):
    run_dir = train_run(tmp_path, train={"epochs": 2})
    assert_clean_error(run("train", "--resume", run_dir, "optimizer.lr=0.5"),
                       "only train.epochs (and run.tensorboard) can be overridden when "
                       "resuming, not optimizer.lr")
