"""Relative paths: a config file's own paths resolve against its folder, command-line ones
against the working directory, and the run directory stores them absolute, so that `eval`,
`inspect` and `--resume` of a run work from any folder."""

from __future__ import annotations

from pathlib import Path

import yaml
from tools_helpers import assert_ok, run, stdout_json

from mlptrain.config import load_config

REPO = Path(__file__).resolve().parents[1]


def _points_csv(path: Path) -> Path:
    rows = [f"{i / 10},{(i * 7 % 10) / 10},{'ab'[i % 2]}" for i in range(60)]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("x0,x1,label\n" + "\n".join(rows) + "\n")
    return path


def test_a_path_in_a_config_file_is_relative_to_the_files_folder(tmp_path, monkeypatch):
    _points_csv(tmp_path / "project" / "data" / "points.csv")
    config = tmp_path / "project" / "configs" / "points.yaml"
    config.parent.mkdir()
    config.write_text("data: {source: csv, path: ../data/points.csv, test_path: held.csv}\n")
    monkeypatch.chdir(tmp_path)  # neither the config's folder nor the data's
    cfg = load_config(config)
    assert cfg.data.path == str(tmp_path / "project" / "data" / "points.csv")
    assert cfg.data.test_path == str(tmp_path / "project" / "configs" / "held.csv")
    assert cfg.run.root == str(tmp_path / "runs")  # a default: the working directory's


def test_a_path_given_as_an_override_is_relative_to_the_working_directory(tmp_path, monkeypatch):
    config = tmp_path / "configs" / "c.yaml"
    config.parent.mkdir()
    config.write_text("data: {source: csv, path: a.csv}\nrun: {root: out}\n")
    monkeypatch.chdir(tmp_path)
    cfg = load_config(config, ["data.path=here.csv", "data={source: csv, path: p.csv, val_path: v.csv}"])
    assert (cfg.data.path, cfg.data.val_path) == (str(tmp_path / "p.csv"), str(tmp_path / "v.csv"))
    cfg = load_config(config, ["data.path=here.csv"])
    assert cfg.data.path == str(tmp_path / "here.csv")
    assert cfg.run.root == str(tmp_path / "configs" / "out")
    assert load_config(config, ["data.path=/abs/x.csv"]).data.path == "/abs/x.csv"


def test_the_shipped_csv_config_trains_from_another_folder_and_its_run_is_self_contained(
        tmp_path, monkeypatch):
    work, elsewhere = tmp_path / "work", tmp_path / "elsewhere"
    work.mkdir()
    elsewhere.mkdir()
    monkeypatch.chdir(work)
    config = REPO / "configs" / "csv-classification.yaml"
    assert_ok(run("train", config, "train.epochs=2", "--quiet", "--out", "myruns"))
    (run_dir,) = (work / "myruns").iterdir()
    saved = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert saved["data"]["path"] == str(REPO / "data" / "flowers.csv")
    assert saved["run"]["root"] == str(work / "myruns")
    monkeypatch.chdir(elsewhere)
    result = run("eval", run_dir, "--json")
    assert_ok(result)
    assert stdout_json(result)["n_samples"] > 0
    assert_ok(run("inspect", run_dir))
    assert_ok(run("train", "--resume", run_dir, "train.epochs=3", "--quiet"))
    assert len((run_dir / "metrics.csv").read_text().splitlines()) == 1 + 3


def test_a_run_from_the_python_api_stores_absolute_paths(tmp_path, monkeypatch):
    from mlptrain.config import validate_config
    from mlptrain.experiment import start_run

    monkeypatch.chdir(tmp_path)
    _points_csv(tmp_path / "points.csv")
    cfg = validate_config({"data": {"source": "csv", "path": "points.csv"},
                           "model": {"hidden": [4]}, "train": {"epochs": 1},
                           "run": {"root": "r"}})
    result = start_run(cfg)
    saved = yaml.safe_load((result.run_dir / "config.yaml").read_text())
    assert saved["data"]["path"] == str(tmp_path / "points.csv")
    assert saved["run"]["root"] == str(tmp_path / "r")
