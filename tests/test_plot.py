"""`mlptrain plot`: one PNG of a run's curves (default RUN_DIR/plot.png), several runs
overlaid, and clean errors for a missing matplotlib or a directory that is not a run."""

from __future__ import annotations

import sys

from tools_helpers import (
    assert_clean_error,
    assert_ok,
    fixture_sine_run,  # noqa: F401 (the sine_run fixture)
    fixture_spiral_run,  # noqa: F401 (the spiral_run fixture)
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


def test_plot_curves_are_drawn(spiral_run):
    import matplotlib

    matplotlib.use("Agg")
    from mlptrain.plotting import read_history

    history = read_history(spiral_run)
    assert len(history["metrics"]["train_loss"]) == len(history["layers"]) == 6


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
