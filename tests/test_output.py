"""What `train`, `plot` and the run directory show (issue 13, item 11): --quiet prints the run
directory alone, short epochs in milliseconds, evaluations within an epoch by their step,
regression curves on scales that show them, and a config.yaml that is resolved, in one style,
and re-loads into the same run."""

from __future__ import annotations

import csv
import io
import re
from inspect import cleandoc
from pathlib import Path

import numpy as np
import pytest
import yaml
from rich.console import Console
from rich.text import Text
from tools_helpers import assert_ok, run

from mlptrain import report
from mlptrain.checkpoint import load_checkpoint
from mlptrain.config import load_config
from mlptrain.report import ConsoleObserver

REPO = Path(__file__).resolve().parents[1]


def write_config(tmp_path: Path, text: str, name: str = "cfg.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


SMALL = ("name: small\ndata: {source: spiral, n_samples: 300}\nmodel: {hidden: [8]}\n"
         "train: {epochs: 2, batch_size: 32}\n")


# ---- the console ------------------------------------------------------------------------------


def test_quiet_prints_the_run_directory_alone_on_stdout(tmp_path):
    result = run("train", write_config(tmp_path, SMALL), "--quiet", "--out", tmp_path / "runs")
    assert_ok(result)
    (run_dir,) = (tmp_path / "runs").iterdir()
    assert result.stdout == f"{run_dir}\n"


@pytest.mark.parametrize(("seconds", "shown"), [
    (0.0318, "31.8ms"), (0.0042, "4.2ms"), (0.999, "999ms"), (0.0, "0ms"), (1.0, "1.00s"),
    (12.345, "12.35s"),
])
def test_durations_below_a_second_are_milliseconds(seconds, shown):
    assert report.format_seconds(seconds) == shown


def observed_lines(rows, n_batches: int = 17, total: int = 3) -> list[str]:
    out = io.StringIO()
    observer = ConsoleObserver(Console(file=out, width=200), total)
    for epoch, row in rows:
        observer.epoch_started(epoch, n_batches, 0)
        observer.evaluated(row)
    return out.getvalue().splitlines()


def test_an_evaluation_within_an_epoch_shows_its_epoch_and_step():
    lines = observed_lines([(1, {"epoch": 5 / 17, "step": 5, "train_loss": 0.5}),
                            (1, {"epoch": 1, "step": 17, "train_loss": 0.4, "epoch_time": 0.0042}),
                            (2, {"epoch": 1 + 16 / 17, "step": 33, "train_loss": 0.3})])
    assert lines[0].startswith("epoch 1/3 step 5/17  loss 0.5000")
    assert lines[1].startswith("epoch 1/3  loss 0.4000") and lines[1].endswith("time 4.2ms")
    assert lines[2].startswith("epoch 2/3 step 16/17  loss 0.3000")


def test_train_with_eval_every_never_prints_a_fractional_epoch(tmp_path):
    # 300 samples: 240 after the test split, 216 after validation; 216 / 32 -> 7 steps an epoch
    result = run("train", write_config(tmp_path, SMALL), "train.eval_every=3",
                 "--out", tmp_path / "runs")
    output = assert_ok(result)
    assert not re.search(r"epoch \d+\.\d", output), output
    heads = [" ".join(line.split()[:4]) for line in output.splitlines()
             if line.startswith("epoch ")]
    assert [h.rsplit(" loss", 1)[0] for h in heads] == [  # steps 3, 6, 7 (end), 9, 12, 14 (end)
        "epoch 1/2 step 3/7", "epoch 1/2 step 6/7", "epoch 1/2", "epoch 2/2 step 2/7",
        "epoch 2/2 step 5/7", "epoch 2/2"], heads
    assert re.search(r"time \d+(\.\d+)?(ms|s)\b", output) and "time 0.00s" not in output


# ---- the regression plot ----------------------------------------------------------------------


def test_the_regression_plot_has_log_losses_and_r2_on_its_own_axis(tmp_path, monkeypatch):
    pytest.importorskip("matplotlib")
    from mlptrain import plotting

    figures = []
    monkeypatch.setattr(plotting, "_save", lambda plt, fig, out: figures.append(fig) or Path(out))
    root = tmp_path / "runs"
    result = run("train", REPO / "configs" / "sine.yaml", "train.epochs=3", "--quiet",
                 "--out", root)
    run_dir = Path(assert_ok(result).strip())
    plotting.plot_runs([run_dir], tmp_path / "p.png")
    (fig,) = figures
    by_lines = {tuple(line.get_label() for line in ax.lines): ax for ax in fig.axes}
    loss_ax = by_lines[("train_loss", "val_loss")]
    mse_ax, r2_ax = by_lines[("val_mse",)], by_lines[("val_r2",)]
    assert loss_ax.get_yscale() == "log" and mse_ax.get_yscale() == "log"
    assert r2_ax.get_yscale() == "linear" and r2_ax is not mse_ax
    assert r2_ax.get_shared_x_axes().joined(r2_ax, mse_ax)  # the twin of the MSE panel
    legend = r2_ax.get_legend()
    assert [t.get_text() for t in legend.get_texts()] == ["val_mse", "val_r2"]


# ---- the resolved config.yaml ---------------------------------------------------------------


def train_quietly(tmp_path: Path, config: Path, *overrides: str) -> Path:
    result = run("train", config, *overrides, "--quiet", "--out", tmp_path / "runs")
    return Path(assert_ok(result).strip())


def test_config_yaml_is_block_style_with_flow_lists_only(tmp_path):
    run_dir = train_quietly(tmp_path, REPO / "configs" / "csv-classification.yaml",
                            "train.epochs=1")
    text = (run_dir / "config.yaml").read_text()
    assert not re.search(r"\{\w+: ", text), text  # no flow-style mapping anywhere
    assert "\n  hidden: [16]\n" in text and "\n  betas: [0.9, 0.999]\n" in text
    assert re.search(r"\ndata:\n  source: csv\n", text)


def test_config_yaml_of_a_csv_run_has_no_synthetic_keys_and_a_spiral_run_no_file_keys(tmp_path):
    csv_run = train_quietly(tmp_path, REPO / "configs" / "csv-classification.yaml",
                            "train.epochs=1")
    data = yaml.safe_load((csv_run / "config.yaml").read_text())["data"]
    assert not {"n_samples", "n_classes", "n_features", "noise", "mirrors"} & set(data)
    assert data["target"] == "species" and data["path"].endswith("flowers.csv")
    spiral = yaml.safe_load((train_quietly(tmp_path, write_config(tmp_path, SMALL))
                             / "config.yaml").read_text())["data"]
    assert not {"path", "train_path", "delimiter", "x_key", "target", "mirrors"} & set(spiral)
    assert spiral["n_samples"] == 300


def test_config_yaml_resolves_auto_choices(tmp_path):
    relu = yaml.safe_load((train_quietly(tmp_path, write_config(tmp_path, SMALL))
                           / "config.yaml").read_text())
    text = (train_quietly(tmp_path, write_config(tmp_path, SMALL), "model.activation=tanh",
                          "train.early_stopping.monitor=val_accuracy") / "config.yaml").read_text()
    tanh = yaml.safe_load(text)
    # relu hidden layers get he_normal and the output layer xavier_uniform: no single name
    assert relu["model"]["init"] == "auto"
    assert relu["train"]["checkpoint"]["mode"] == "min"  # val_loss
    assert tanh["model"]["init"] == "xavier_uniform"  # every layer's: one name says it
    assert tanh["train"]["early_stopping"]["mode"] == "max"  # val_accuracy
    assert not re.search(r": auto\b", text), text


def test_a_relu_config_yaml_names_the_initializers_in_a_comment(tmp_path):
    text = (train_quietly(tmp_path, write_config(tmp_path, SMALL)) / "config.yaml").read_text()
    assert ("  init: auto  # he_normal for the relu hidden layers, xavier_uniform for the "
            "output layer\n") in text


def metrics_without_times(run_dir: Path) -> list[dict[str, str]]:
    rows = list(csv.DictReader(io.StringIO((run_dir / "metrics.csv").read_text())))
    for row in rows:
        for key in ("epoch_time", "samples_per_sec", "wall_time"):
            row.pop(key, None)
    return rows


@pytest.mark.parametrize(("config", "overrides"), [
    ("csv-classification.yaml", ["train.epochs=2"]),
    ("csv-regression.yaml", ["train.epochs=2"]),
    (None, ["model.activation=[relu, tanh]", "model.hidden=[8, 8]"]),  # mixed initializers
    (None, ["model.activation=tanh", "train.early_stopping.patience=1"]),
])
def test_a_runs_config_yaml_trains_the_same_run_again(tmp_path, config, overrides):
    source = REPO / "configs" / config if config else write_config(tmp_path, SMALL)
    first = train_quietly(tmp_path, source, *overrides)
    saved = first / "config.yaml"
    assert load_config(saved).model_dump() == load_config(saved).model_dump()
    second = train_quietly(tmp_path, saved)
    assert second != first
    assert metrics_without_times(second) == metrics_without_times(first)
    a, b = (load_checkpoint(r / "checkpoints" / "best.safetensors").tensors
            for r in (first, second))
    assert a.keys() == b.keys()
    for key in a:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)
    again = (second / "config.yaml").read_text().replace(str(second.parent), "ROOT")
    assert again == saved.read_text().replace(str(first.parent), "ROOT")


# ---- the README's config reference ------------------------------------------------------------


def test_early_stopping_is_off_by_default_and_a_section_turns_it_on_with_patience_10(tmp_path):
    readme = (REPO / "README.md").read_text()
    row = next(line for line in readme.splitlines() if line.startswith("| **`train.early_stopping`"))
    assert "off by default (null)" in row
    assert load_config(write_config(tmp_path, "name: x\n")).train.early_stopping is None
    on = load_config(write_config(tmp_path, "train: {early_stopping: {}}\n", "on.yaml"))
    assert on.train.early_stopping is not None and on.train.early_stopping.patience == 10
    assert "| `train.early_stopping.patience` | `10` |" in readme


# ---- --help ----------------------------------------------------------------------------------


def _documented_commands() -> list[tuple[list[str], str]]:
    """(the words that name a command, or none for the top level; its docstring as written)."""
    import typer

    from mlptrain.cli import app

    def walk(group: typer.Typer, words: list[str]):
        if group.registered_callback is not None and group.registered_callback.callback:
            yield words, group.registered_callback.callback.__doc__
        for command in group.registered_commands:
            yield [*words, command.name or command.callback.__name__], command.callback.__doc__
        for sub in group.registered_groups:
            yield from walk(sub.typer_instance, [*words, sub.name])

    return [(words, doc) for words, doc in walk(app, []) if doc]


DOCUMENTED = _documented_commands()


@pytest.mark.parametrize("words, doc", DOCUMENTED, ids=[" ".join(w) or "top" for w, _ in DOCUMENTED])
def test_help_wraps_each_paragraph_at_the_terminal_not_at_the_source_lines(words, doc):
    # On a terminal wider than any paragraph, each paragraph of the docstring is one line (it
    # was broken wherever the source line ended, which on 80 columns left short ragged lines).
    from typer.testing import CliRunner

    from mlptrain.cli import app

    result = CliRunner().invoke(app, [*words, "--help"], env={"COLUMNS": "3000"})
    assert result.exit_code == 0, result.output
    lines = [" ".join(line.split()) for line in result.output.splitlines()]
    for paragraph in cleandoc(doc).split("\n\n"):
        flat = " ".join(Text.from_markup(paragraph).plain.split())  # rich markup: \\[plot]
        assert any(flat in line for line in lines), (flat, result.output)
