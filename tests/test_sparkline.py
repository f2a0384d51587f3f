"""Terminal curves: sparklines computed by hand, the shared train/val scale, and nothing at all
when stdout is not a terminal (the end of `train` in a pipe)."""

from __future__ import annotations

import io
import math
from pathlib import Path

from rich.console import Console
from tools_helpers import assert_ok, run

from mlptrain.report import loss_curves, print_loss_curves
from mlptrain.sparkline import BLOCKS, resample, sparkline


def test_eight_evenly_spaced_values_give_the_eight_blocks_in_order():
    assert sparkline([0, 1, 2, 3, 4, 5, 6, 7]) == "▁▂▃▄▅▆▇█"


def test_levels_round_to_the_nearest_block():
    # (v - 0) / 10 * 7: 1 -> 0.7 -> 1, 2 -> 1.4 -> 1, 5 -> 3.5 -> 4 (round half to even), 10 -> 7
    assert sparkline([0, 1, 2, 5, 10]) == BLOCKS[0] + BLOCKS[1] + BLOCKS[1] + BLOCKS[4] + BLOCKS[7]


def test_a_constant_series_is_the_lowest_block_and_nan_is_a_blank():
    assert sparkline([3.0, 3.0, 3.0]) == "▁▁▁"
    assert sparkline([0.0, math.nan, 7.0]) == "▁ █"
    assert sparkline([math.nan, math.inf]) == "  "


def test_log_scale_spaces_decades_evenly():
    # log10: 0, 1, 2 over [0, 2] -> 0, 3.5 -> 4, 7
    assert sparkline([1.0, 10.0, 100.0], log=True) == BLOCKS[0] + BLOCKS[4] + BLOCKS[7]


def test_fixed_bounds_clip_values_outside_them():
    assert sparkline([-5.0, 0.0, 7.0, 20.0], low=0.0, high=7.0) == "▁▁██"


def test_resample_takes_the_mean_of_equal_slices():
    # n = 6, width = 3: slices [0:2], [2:4], [4:6]
    assert resample([1, 3, 5, 7, 9, 11], 3) == [2.0, 6.0, 10.0]
    # n = 5, width = 2: slices [0:2], [2:5]
    assert resample([1, 3, 5, 7, 9], 2) == [2.0, 7.0]
    assert resample([1, 2], 10) == [1.0, 2.0]


def test_resampled_sparkline_has_the_requested_width():
    assert len(sparkline(list(range(1000)), width=25)) == 25


def test_train_and_val_loss_share_one_scale():
    rows = [{"train_loss": 1.0, "val_loss": 10.0}, {"train_loss": 10.0, "val_loss": 100.0}]
    curves = loss_curves(rows)
    # log scale over [1, 100]: 1 -> 0, 10 -> 3.5 -> 4, 100 -> 7
    assert curves == {"train": BLOCKS[0] + BLOCKS[4], "val": BLOCKS[4] + BLOCKS[7]}


def test_loss_curves_without_validation_have_only_train():
    assert set(loss_curves([{"train_loss": 1.0, "val_loss": None}])) == {"train"}


def test_curves_are_printed_on_a_terminal_only():
    rows = [{"train_loss": 1.0, "val_loss": 2.0}, {"train_loss": 0.5, "val_loss": 0.7}]
    buffer = io.StringIO()
    print_loss_curves(Console(file=buffer, force_terminal=True, width=120), rows)
    lines = buffer.getvalue().splitlines()
    assert len(lines) == 2
    assert lines[0].split()[:2] == ["train", "loss"] and lines[0].endswith("1 → 0.5")
    assert lines[1].split()[:2] == ["val", "loss"] and lines[1].endswith("2 → 0.7")
    buffer = io.StringIO()
    print_loss_curves(Console(file=buffer, force_terminal=False), rows)
    assert buffer.getvalue() == ""


def test_train_in_a_pipe_prints_no_curve(tmp_path):
    config = Path(__file__).parents[1] / "configs" / "spiral.yaml"
    out = assert_ok(run("train", config, "--out", tmp_path, "--set", "data.n_samples=200",
                        "--set", "train.epochs=2", "--set", "model.hidden=[8]"))
    assert not set(out) & set(BLOCKS)
    assert "run directory:" in out
