"""`mlptrain plot`: one PNG of a run's curves (default RUN_DIR/plot.png), several runs
overlaid, and clean errors for a missing matplotlib or a directory that is not a run."""

from __future__ import annotations

import csv
import json
import sys

import numpy as np
from tools_helpers import (
    assert_clean_error,
    assert_ok,
    run,
)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_plot_one_run_writes_plot_png_in_the_run_dir(spiral_run):
    target = spiral_run / "plot.png"
    target.unlink(missing_ok=True)
    out = assert_ok(run("plot", spiral_run))
    assert "plot.png" in out
    assert target.read_bytes().startswith(PNG_MAGIC)


def test_plot_overlays_several_runs_into_one_file(spiral_run, sine_run, tmp_path):
    target = tmp_path / "both.png"
    assert_ok(run("plot", spiral_run, sine_run, "--out", target))
    assert target.read_bytes().startswith(PNG_MAGIC)


def _metrics_columns(run_dir) -> dict[str, list[float]]:
    with open(run_dir / "metrics.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    return {key: [float(r[key]) for r in rows] for key in rows[0]}


def test_plot_curves_are_drawn_from_the_runs_metrics(spiral_run, tmp_path, monkeypatch):
    """The six panels hold the run's curves, read here from metrics.csv and layers.jsonl."""
    import matplotlib

    matplotlib.use("Agg")
    from mlptrain import plotting

    figures = []
    real_save = plotting._save

    def keep_figure(plt, fig, out):  # the real save, which also closes the figure
        figures.append(fig)
        return real_save(plt, fig, out)

    monkeypatch.setattr(plotting, "_save", keep_figure)
    plotting.plot_runs([spiral_run], tmp_path / "plot.png")
    (fig,) = figures
    loss, quality, lr, grad, std, weight = fig.axes[:6]
    columns = _metrics_columns(spiral_run)
    epochs = columns["epoch"]
    assert len(epochs) == 6

    def curves(ax):
        return {line.get_label(): (list(line.get_xdata()), list(line.get_ydata()))
                for line in ax.lines}

    assert curves(loss) == {k: (epochs, columns[k]) for k in ("train_loss", "val_loss")}
    assert curves(quality) == {k: (epochs, columns[k]) for k in ("train_accuracy", "val_accuracy")}
    assert curves(lr) == {"lr": (epochs, columns["lr"])}
    records = [json.loads(line) for line in (spiral_run / "layers.jsonl").read_text().splitlines()]
    for ax, key, n_layers in ((grad, "grad_norm", 2), (weight, "weight_norm", 2), (std, "std", 1)):
        expected = {f"layer {j}": ([r["epoch"] for r in records],
                                   [r["layers"][j][key] for r in records]) for j in range(n_layers)}
        assert curves(ax) == expected, key


def test_plot_png_has_curve_pixels_in_every_panel(spiral_run, tmp_path):
    """The written image, decoded: each of the 2 x 3 panels holds pixels of the first curve
    color, opaque or at the layer curves' alpha (a figure without curves has none: axes, grid
    and text are black and grey)."""
    from matplotlib import image

    target = tmp_path / "plot.png"
    assert_ok(run("plot", spiral_run, "--out", target))
    pixels = (image.imread(target)[:, :, :3] * 255).round()  # (900, 1600, 3)
    first_color = np.array([0x1F, 0x77, 0xB4])  # matplotlib's C0, every run-0 / layer-0 curve
    on_white = 0.9 * first_color + 0.1 * 255  # the layer curves are drawn with alpha 0.9
    is_curve = np.zeros(pixels.shape[:2], dtype=bool)  # (900, 1600)
    for color in (first_color, on_white):
        is_curve |= np.all(np.abs(pixels - color) <= 8, axis=2)
    height, width = is_curve.shape
    for row in range(2):
        for col in range(3):
            panel = is_curve[row * height // 2 : (row + 1) * height // 2,
                             col * width // 3 : (col + 1) * width // 3]
            assert panel.sum() > 100, (row, col, int(panel.sum()))


def test_plot_without_matplotlib_says_how_to_install_it(spiral_run, monkeypatch):
    for name in ("matplotlib", "matplotlib.pyplot"):
        monkeypatch.setitem(sys.modules, name, None)  # import raises ImportError
    assert_clean_error(run("plot", spiral_run), "matplotlib", "pip install 'mlptrain[plot]'")


def test_plot_of_a_directory_that_is_not_a_run(tmp_path):
    assert_clean_error(run("plot", tmp_path), "holds no metrics.csv")


def test_plot_of_a_missing_directory(tmp_path):
    assert_clean_error(run("plot", tmp_path / "absent"), "no such run directory")


def test_plot_help_has_an_example():
    out = assert_ok(run("plot", "--help"))
    assert "Examples:" in out and "mlptrain plot runs/" in out
