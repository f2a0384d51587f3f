"""`mlptrain runs`: every run directory under the roots (sweeps too), the config keys that
differ, sorting, filtering, JSON, plain text off a terminal, `runs diff`, and bad run
directories named one line each while the good ones are still listed (exit 2)."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import pytest
from tools_helpers import assert_clean_error, assert_ok, run, summary, train_run

LRS = (0.003, 0.01, 0.03)


@pytest.fixture(scope="module", name="root")
def fixture_root(tmp_path_factory) -> Path:
    """Three runs that differ only in optimizer.lr."""
    root = tmp_path_factory.mktemp("runs")
    for lr in LRS:
        train_run(root, optimizer={"lr": lr}).rename(root / f"lr{lr}")
    return root


@pytest.fixture(name="copy")
def fixture_copy(root, tmp_path) -> Path:
    """A writable copy of the three runs."""
    target = tmp_path / "runs"
    shutil.copytree(root, target)
    return target


def plain_rows(output: str) -> list[dict[str, str]]:
    """The plain-text table as dicts (columns are separated by two or more spaces)."""
    lines = [ln for ln in output.splitlines() if ln.strip()]
    header = re.split(r"\s{2,}", lines[0].strip())
    return [dict(zip(header, re.split(r"\s{2,}", ln.strip()), strict=True)) for ln in lines[1:]]


def json_runs(*args) -> list[dict]:
    result = run("runs", *args, "--json")
    assert_ok(result)
    return json.loads(result.stdout)


def test_runs_lists_each_run_with_optimizer_lr_as_the_differing_column(root):
    rows = plain_rows(assert_ok(run("runs", root)))
    assert [r["name"] for r in rows] == [f"lr{lr}" for lr in LRS]
    assert [float(r["optimizer.lr"]) for r in rows] == list(LRS)
    header = set(rows[0])
    assert {"name", "status", "epochs", "best val_loss", "test_accuracy", "duration"} <= header
    config_columns = {c for c in header - {"name", "status", "epochs", "best val_loss", "duration"}
                      if not c.startswith("test_")}  # test_loss, test_accuracy, test_f1_macro...
    assert config_columns == {"optimizer.lr"}
    for r in rows:
        s = summary(root / r["name"])
        assert r["status"] == s["status"] == "completed"
        assert int(r["epochs"]) == s["epochs_completed"] == 4
        assert r["best val_loss"] == f"{s['best_value']:.4g}"
        assert r["test_accuracy"] == f"{s['test']['accuracy']:.2%}"


def test_runs_output_off_a_terminal_is_plain_text(root):
    out = assert_ok(run("runs", root, "--curves"))
    assert not set(out) & set("┃━│─┏┡") and not set(out) & set("▁▂▃▄▅▆▇█")


def test_runs_json_is_a_list_of_objects_matching_the_summaries(root):
    listed = json_runs(root)
    assert len(listed) == 3
    for item in listed:
        s = summary(Path(item["run_dir"]))
        assert item["status"] == s["status"]
        assert item["epochs"] == s["epochs_completed"]
        assert item["best"] == s["best_value"]
        assert item["test"] == s["test"]
        assert item["duration"] == s["train_seconds"]
        assert item["differs"] == {"optimizer.lr": item["config"]["optimizer.lr"]}


def test_runs_sort_by_a_config_key_and_by_a_test_metric(root):
    by_lr = [r["config"]["optimizer.lr"] for r in json_runs(root, "--sort", "optimizer.lr",
                                                            "--desc")]
    assert by_lr == sorted(LRS, reverse=True)
    accuracies = [summary(root / f"lr{lr}")["test"]["accuracy"] for lr in LRS]
    by_acc = [r["test"]["accuracy"] for r in json_runs(root, "--sort", "test_accuracy")]
    assert by_acc == sorted(accuracies)


@pytest.mark.parametrize(("condition", "expected"), [
    ("optimizer.lr=0.01", [0.01]),
    ("optimizer.lr!=0.01", [0.003, 0.03]),
    ("optimizer.lr<0.01", [0.003]),
    ("optimizer.lr>=0.01", [0.01, 0.03]),
    ("status=completed", list(LRS)),
    ("status=running", []),
])
def test_runs_where_keeps_the_matching_runs(root, condition, expected):
    kept = json_runs(root, "--where", condition, "--sort", "optimizer.lr")
    assert [r["config"]["optimizer.lr"] for r in kept] == expected


def test_runs_where_conditions_combine_with_and(root):
    kept = json_runs(root, "-w", "optimizer.lr>0.001", "-w", "optimizer.lr<0.02")
    assert sorted(r["config"]["optimizer.lr"] for r in kept) == [0.003, 0.01]


@pytest.mark.parametrize(("args", "fragment"), [
    (["--sort", "nosuch"], "--sort nosuch: no run has such a column or config key"),
    (["--where", "nosuch.key=1"], "--where nosuch.key: no run has such a column"),
    (["--where", "optimizer.lr~1"], "expected KEY=VALUE"),
])
def test_runs_bad_sort_or_filter_is_a_clean_error(root, args, fragment):
    assert_clean_error(run("runs", root, *args), fragment)


def test_runs_of_a_folder_without_runs(tmp_path):
    (tmp_path / "not-a-run").mkdir()
    (tmp_path / "not-a-run" / "config.yaml").write_text("name: x\n")  # no metrics, no checkpoints
    assert_clean_error(run("runs", tmp_path), "no run directories found")


def test_runs_of_a_missing_folder(tmp_path):
    assert_clean_error(run("runs", tmp_path / "absent"), "absent: no such folder")


def test_runs_finds_runs_inside_sweep_folders_and_takes_a_run_dir_as_root(root, tmp_path):
    nested = tmp_path / "sweeps" / "sweep-a"
    shutil.copytree(root / "lr0.01", nested / "trial-0001")
    shutil.copytree(root / "lr0.03", nested / "trial-0002")
    names = [r["name"] for r in json_runs(tmp_path / "sweeps")]
    assert names == ["sweep-a/trial-0001", "sweep-a/trial-0002"]
    assert [r["name"] for r in json_runs(root / "lr0.01")] == ["lr0.01"]


def test_runs_does_not_follow_a_symlink_loop(copy):
    os.symlink(copy, copy / "loop")
    assert len(json_runs(copy)) == 3


def test_runs_of_a_run_without_summary_is_incomplete_with_epochs_from_metrics(copy):
    (copy / "lr0.01" / "summary.json").unlink()
    (item,) = json_runs(copy, "--where", "optimizer.lr=0.01")
    assert item["status"] == "incomplete"
    assert item["epochs"] == 4
    assert item["test"] is None
    rows = (copy / "lr0.01" / "metrics.csv").read_text().splitlines()
    assert item["best"] == float(rows[-1].split(",")[-1])


def _corrupt_json(run_dir: Path) -> None:
    (run_dir / "summary.json").write_text('{"status": "completed", ')


def _summary_list(run_dir: Path) -> None:
    (run_dir / "summary.json").write_text("[1, 2]")


def _summary_bad_status(run_dir: Path) -> None:
    s = summary(run_dir)
    s["status"] = 7
    (run_dir / "summary.json").write_text(json.dumps(s))


def _summary_huge(run_dir: Path) -> None:
    with open(run_dir / "summary.json", "wb") as handle:
        handle.truncate(5_000_000)


def _config_not_yaml(run_dir: Path) -> None:
    (run_dir / "config.yaml").write_text("model: [unclosed\n")


def _config_a_list(run_dir: Path) -> None:
    (run_dir / "config.yaml").write_text("- 1\n- 2\n")


def _summary_binary(run_dir: Path) -> None:
    (run_dir / "summary.json").write_bytes(b"\xff\xfe\x00garbage")


@pytest.mark.parametrize(("damage", "reason"), [
    (_corrupt_json, "summary.json is not valid JSON"),
    (_summary_list, "summary.json must hold a JSON object, got list"),
    (_summary_bad_status, "summary.json: 'status' must be a str, got 7"),
    (_summary_huge, "summary.json is 5000000 bytes, more than the 4000000 allowed"),
    (_config_not_yaml, "config.yaml"),
    (_config_a_list, "config.yaml must be a mapping"),
    (_summary_binary, "summary.json is not UTF-8 text"),
])
def test_runs_with_a_corrupt_run_lists_the_good_ones_and_names_the_bad_one(copy, damage, reason):
    bad = copy / "lr0.01"
    damage(bad)
    result = run("runs", copy)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    names = [r["name"] for r in plain_rows(result.stdout)]
    assert names == ["lr0.003", "lr0.03"]
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(f"skipped {bad}: ") and reason in line, line


def test_runs_json_with_a_corrupt_run_still_parses(copy):
    _corrupt_json(copy / "lr0.03")
    result = run("runs", copy, "--json")
    assert result.exit_code == 2
    assert [r["name"] for r in json.loads(result.stdout)] == ["lr0.003", "lr0.01"]
    assert "skipped" in result.stderr


def test_runs_diff_names_the_config_key_and_the_metrics_that_differ(root):
    a, b = root / "lr0.003", root / "lr0.03"
    out = assert_ok(run("runs", "diff", a, b))
    assert "optimizer.lr" in out and "0.003" in out and "0.03" in out
    result = run("runs", "diff", a, b, "--json")
    assert_ok(result)
    diff = json.loads(result.stdout)
    assert diff["config"] == [{"key": "optimizer.lr", "a": 0.003, "b": 0.03}]
    metrics = {m["key"]: (m["a"], m["b"]) for m in diff["metrics"]}
    sa, sb = summary(a), summary(b)
    assert metrics["best"] == (sa["best_value"], sb["best_value"])
    assert metrics["final_train_loss"] == (sa["final"]["train_loss"], sb["final"]["train_loss"])
    assert "final_epoch" not in metrics  # the same in both


def test_runs_diff_of_a_run_with_itself_is_empty(root):
    diff = json.loads(assert_ok(run("runs", "diff", root / "lr0.01", root / "lr0.01", "--json")))
    assert diff["config"] == [] and diff["metrics"] == []


@pytest.mark.parametrize(("args", "fragment"), [
    (["diff", "only-one"], "runs diff takes two run directories, got 1"),
    (["diff"], "runs diff takes two run directories, got 0"),
])
def test_runs_diff_needs_two_run_directories(args, fragment):
    assert_clean_error(run("runs", *args), fragment)


def test_runs_diff_of_a_folder_that_is_not_a_run(root, tmp_path):
    assert_clean_error(run("runs", "diff", root / "lr0.01", tmp_path), "is not a run directory")
