"""`mlptrain plot ROOT`: every run under a folder overlaid, labelled by the config keys that
differ; `--metric` draws only the named columns; a run that cannot be plotted is named and
skipped (exit 2) while the others are drawn."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest
from tools_helpers import assert_clean_error, assert_ok, run, train_run

from mlptrain.plotting import _metric_figure, _pyplot, read_history
from mlptrain.runs import expand_run_dirs, legend_labels

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
LRS = (0.003, 0.01, 0.03)


@pytest.fixture(scope="module", name="root")
def fixture_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("plotroot")
    for lr in LRS:
        train_run(root / "runs", optimizer={"lr": lr}).rename(root / "runs" / f"lr{lr}")
    return root / "runs"


def column(run_dir: Path, name: str) -> list[float]:
    with open(run_dir / "metrics.csv", newline="", encoding="utf-8") as handle:
        return [float(r[name]) for r in csv.DictReader(handle)]


def test_a_folder_stands_for_every_run_under_it(root, tmp_path):
    assert expand_run_dirs([root]) == [root / f"lr{lr}" for lr in LRS]
    nested = tmp_path / "sweep" / "trial-1"
    shutil.copytree(root / "lr0.01", nested)
    assert expand_run_dirs([tmp_path, root / "lr0.03"]) == [nested, root / "lr0.03"]


def test_legend_labels_name_the_differing_config_key(root):
    runs = expand_run_dirs([root])
    assert legend_labels(runs) == [f"optimizer.lr={lr}" for lr in LRS]
    assert legend_labels(runs[:1]) == ["lr0.003"]  # one run: nothing differs, its name


def test_plot_root_writes_one_png_in_the_folder(root):
    target = root / "plot.png"
    target.unlink(missing_ok=True)
    out = assert_ok(run("plot", root))
    assert "plot.png" in out
    assert target.read_bytes().startswith(PNG_MAGIC)
    target.unlink()


def test_plot_metric_overlays_each_run_with_its_values(root):
    plt = _pyplot()
    runs = expand_run_dirs([root])
    histories = [read_history(r) for r in runs]
    for history, label in zip(histories, legend_labels(runs), strict=True):
        history["name"] = label
    fig = _metric_figure(plt, histories, ["val_loss", "lr"])
    loss_ax, lr_ax = fig.axes[:2]
    assert [line.get_label() for line in loss_ax.lines] == [f"optimizer.lr={lr}" for lr in LRS]
    for line, run_dir in zip(loss_ax.lines, runs, strict=True):
        assert list(line.get_ydata()) == column(run_dir, "val_loss")
        assert list(line.get_xdata()) == column(run_dir, "epoch")
    assert [line.get_ydata()[0] for line in lr_ax.lines] == list(LRS)
    plt.close(fig)


def test_plot_metric_through_the_cli(root, tmp_path):
    target = tmp_path / "m.png"
    assert_ok(run("plot", root, "--metric", "val_loss", "-m", "val_accuracy", "--out", target))
    assert target.read_bytes().startswith(PNG_MAGIC)


def test_plot_unknown_metric_is_a_clean_error(root, tmp_path):
    assert_clean_error(run("plot", root, "--metric", "val_nosuch", "--out", tmp_path / "x.png"),
                       "--metric val_nosuch: no run has such a metrics.csv column",
                       "available:")


def test_plot_root_with_a_broken_run_draws_the_others_and_names_it(root, tmp_path):
    folder = tmp_path / "runs"
    shutil.copytree(root, folder)
    (folder / "lr0.01" / "metrics.csv").write_text("epoch,step\n")  # no row
    result = run("plot", folder, "--out", tmp_path / "p.png")
    assert result.exit_code == 2, result.output
    assert (tmp_path / "p.png").read_bytes().startswith(PNG_MAGIC)
    assert f"skipped {folder / 'lr0.01'}: metrics.csv is missing or has no rows yet" in result.stderr


def test_plot_root_where_no_run_has_metrics(root, tmp_path):
    folder = tmp_path / "runs"
    shutil.copytree(root / "lr0.01", folder / "only")
    (folder / "only" / "metrics.csv").unlink()
    assert_clean_error(run("plot", folder, "--out", tmp_path / "p.png"),
                       "no run under it has metrics to plot yet")
    assert not (tmp_path / "p.png").exists()
