"""Sweeps with real worker processes on a real SQLite study: the budget, unique trials,
determinism, best.yaml reproducing its value, a SIGKILLed worker whose trial ends bit-identical,
a killed sweep resumed to exactly its budget, pruning, the plot of a sweep directory."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest
from sweep_helpers import (
    SWEEP,
    assert_same_checkpoints,
    best_epoch_value,
    cli,
    kill,
    only_sweep_dir,
    read_csv,
    run_cli,
    trial_in_progress,
    wait_for,
    worker_pids,
    write_sweep,
)

pytest.importorskip("optuna")

KEYS = ["optimizer.lr", "model.dropout", "train.batch_size"]


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    """One uninterrupted single-worker sweep of SWEEP (the yardstick of the crash tests)."""
    folder = tmp_path_factory.mktemp("reference")
    done = run_cli("sweep", str(write_sweep(folder)), "--out", str(folder / "out"))
    assert done.returncode == 0, done.stderr
    return only_sweep_dir(folder / "out")


def study_trials(sweep_dir: Path):
    import optuna

    info = json.loads((sweep_dir / "sweep.json").read_text())
    return optuna.load_study(study_name=info["study"], storage=info["storage"]).get_trials()


def test_a_sweep_writes_every_trial_to_sweep_csv_and_a_best_yaml(reference):
    rows = read_csv(reference / "sweep.csv")
    assert list(rows[0]) == ["trial", "state", "value", *KEYS, "run_dir"]
    assert [r["trial"] for r in rows] == ["0", "1", "2", "3"]
    assert {r["state"] for r in rows} <= {"complete", "pruned"}
    for r in rows:
        run = reference / r["run_dir"]
        assert (run / "summary.json").is_file() and (run / "checkpoints" / "last.safetensors").is_file()
        if r["state"] == "complete":  # the value is the best epoch-end val_loss of the run
            assert float(r["value"]) == best_epoch_value(run)
    complete = [r for r in rows if r["state"] == "complete"]
    best = min(complete, key=lambda r: float(r["value"]))
    text = (reference / "best.yaml").read_text()
    assert f"trial ({best['trial']}, val_loss={best['value']})" in text


def test_sweep_csv_reads_with_pandas(reference):
    pd = pytest.importorskip("pandas")
    frame = pd.read_csv(reference / "sweep.csv")
    assert list(frame.columns) == ["trial", "state", "value", *KEYS, "run_dir"]
    assert len(frame) == 4


def test_training_best_yaml_reproduces_the_best_value_exactly(reference, tmp_path):
    rows = read_csv(reference / "sweep.csv")
    best = min((r for r in rows if r["state"] == "complete"), key=lambda r: float(r["value"]))
    done = run_cli("train", str(reference / "best.yaml"), "--out", str(tmp_path / "again"), "-q",
                   cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    again = only_sweep_dir(tmp_path / "again")
    assert best_epoch_value(again) == float(best["value"])
    assert_same_checkpoints(again, reference / best["run_dir"])


def test_the_same_seed_gives_the_same_sweep(reference, tmp_path):
    done = run_cli("sweep", str(write_sweep(tmp_path)), "--out", str(tmp_path / "out"))
    assert done.returncode == 0, done.stderr
    again = only_sweep_dir(tmp_path / "out")
    assert read_csv(again / "sweep.csv") == read_csv(reference / "sweep.csv")


def test_the_plain_output_has_one_line_per_trial_and_the_command_to_reproduce(tmp_path):
    done = run_cli("sweep", str(write_sweep(tmp_path)), "--out", str(tmp_path / "out"),
                   "--trials", "2")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert [ln.split()[:2] for ln in lines[:2]] == [["trial", "0"], ["trial", "1"]]
    sweep_dir = only_sweep_dir(tmp_path / "out")
    assert f"reproduce: mlptrain train {sweep_dir / 'best.yaml'}" in done.stdout
    assert "\x1b[" not in done.stdout  # no terminal escapes off a terminal


@pytest.mark.parametrize("workers", [3])
def test_several_workers_share_one_study_with_unique_trials_and_the_full_budget(tmp_path,
                                                                               workers):
    sweep = write_sweep(tmp_path, SWEEP.replace("trials: 4", "trials: 6"))
    done = run_cli("sweep", str(sweep), "--out", str(tmp_path / "out"), "--workers", str(workers))
    assert done.returncode == 0, done.stderr
    sweep_dir = only_sweep_dir(tmp_path / "out")
    every = study_trials(sweep_dir)
    numbers = [t.number for t in every]
    assert sorted(numbers) == list(range(len(numbers)))  # unique
    # Two workers may race for the last slot: the loser's trial is marked over budget and
    # failed before it trains, and is no trial of the sweep.
    extra = [t for t in every if t.user_attrs.get("over_budget")]
    assert all(t.state.name == "FAIL" and "run_dir" not in t.user_attrs for t in extra)
    trials = [t for t in every if t not in extra]
    finished = [t for t in trials if t.state.name in ("COMPLETE", "PRUNED")]
    assert len(finished) == 6 == len(trials)
    assert sorted(t.user_attrs["slot"] for t in finished) == list(range(6))
    assert len({t.user_attrs["worker"]["pid"] for t in trials}) >= 2  # really in parallel
    rows = read_csv(sweep_dir / "sweep.csv")
    assert len(rows) == 6 and len({r["run_dir"] for r in rows}) == 6
    for r in rows:  # workers x threads <= cores: each trial trained with cores // 3 threads
        import os

        config = (sweep_dir / r["run_dir"] / "config.yaml").read_text()
        assert f"threads: {max(1, len(os.sched_getaffinity(0)) // workers)}" in config


def test_a_worker_killed_mid_trial_is_replaced_and_its_trial_ends_bit_identical(reference,
                                                                                tmp_path):
    proc = cli("sweep", str(write_sweep(tmp_path)), "--out", str(tmp_path / "out"))
    try:
        sweep_dir = wait_for(lambda: next((tmp_path / "out").glob("*"), None)
                             if (tmp_path / "out").exists() else None)
        victim = wait_for(lambda: trial_in_progress(sweep_dir, min_slot=1))
        pids = worker_pids(sweep_dir)
        assert len(pids) == 1
        kill(pids[0])
        out, err = proc.communicate(timeout=300)
    finally:
        kill(-proc.pid)
    assert proc.returncode == 0, err
    trials = study_trials(sweep_dir)
    failed = [t for t in trials if t.state.name == "FAIL"]
    assert len(failed) == 1 and failed[0].user_attrs["run_dir"] == f"trials/{victim.name}"
    retry = [t for t in trials if t.system_attrs.get("failed_trial") == failed[0].number]
    assert len(retry) == 1 and retry[0].state.name in ("COMPLETE", "PRUNED")
    assert "resumed at epoch" in (victim / "train.log").read_text()
    assert read_csv(sweep_dir / "sweep.csv") == read_csv(reference / "sweep.csv")
    for run in sorted((reference / "trials").iterdir()):
        assert_same_checkpoints(sweep_dir / "trials" / run.name, run)


def test_a_killed_sweep_resumes_to_exactly_its_budget(reference, tmp_path):
    proc = cli("sweep", str(write_sweep(tmp_path)), "--out", str(tmp_path / "out"))
    sweep_dir = wait_for(lambda: next((tmp_path / "out").glob("*"), None)
                         if (tmp_path / "out").exists() else None)
    wait_for(lambda: trial_in_progress(sweep_dir, min_slot=2))
    kill(-proc.pid)  # the coordinator; its workers die with it (PR_SET_PDEATHSIG)
    proc.wait(timeout=60)
    wait_for(lambda: not worker_pids(sweep_dir), timeout=30)
    assert not (sweep_dir / "sweep.csv").exists()
    done = run_cli("sweep", "--resume", str(sweep_dir))
    assert done.returncode == 0, done.stderr
    rows = read_csv(sweep_dir / "sweep.csv")
    assert len(rows) == 4 and all(r["state"] in ("complete", "pruned") for r in rows)
    assert rows == read_csv(reference / "sweep.csv")
    for run in sorted((reference / "trials").iterdir()):
        assert_same_checkpoints(sweep_dir / "trials" / run.name, run)
    again = run_cli("sweep", "--resume", str(sweep_dir), "--trials", "5")  # a new total
    assert again.returncode == 0, again.stderr
    assert len(read_csv(sweep_dir / "sweep.csv")) == 5


def test_ctrl_c_stops_the_sweep_with_a_checkpoint_and_resume_finishes_it(reference, tmp_path):
    proc = cli("sweep", str(write_sweep(tmp_path)), "--out", str(tmp_path / "out"))
    sweep_dir = wait_for(lambda: next((tmp_path / "out").glob("*"), None)
                         if (tmp_path / "out").exists() else None)
    wait_for(lambda: trial_in_progress(sweep_dir, min_slot=1))
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert f"mlptrain sweep --resume {sweep_dir}" in err
    done = run_cli("sweep", "--resume", str(sweep_dir))
    assert done.returncode == 0, done.stderr
    assert read_csv(sweep_dir / "sweep.csv") == read_csv(reference / "sweep.csv")
    for run in sorted((reference / "trials").iterdir()):
        assert_same_checkpoints(sweep_dir / "trials" / run.name, run)


def test_pruning_stops_a_bad_trial_early_with_a_loadable_checkpoint(tmp_path):
    sweep = ("base: base.yaml\nobjective: val_loss\ntrials: 6\nseed: 0\nsampler: random\n"
             "pruner: {median: {n_startup_trials: 1, n_warmup_steps: 0}}\n"
             "space:\n  optimizer.lr: {choice: [0.01, 1.0e-7]}\n")
    done = run_cli("sweep", str(write_sweep(tmp_path, sweep)), "--out", str(tmp_path / "out"))
    assert done.returncode == 0, done.stderr
    sweep_dir = only_sweep_dir(tmp_path / "out")
    rows = read_csv(sweep_dir / "sweep.csv")
    seen_good = False
    checked = 0
    for r in rows:
        good = float(r["optimizer.lr"]) == 0.01
        if good:
            assert r["state"] == "complete"
            seen_good = True
        elif seen_good:  # a bad trial after a complete good one: worse than the median
            assert r["state"] == "pruned"
            run = sweep_dir / r["run_dir"]
            epochs = [m for m in read_csv(run / "metrics.csv")]
            assert len(epochs) < 8  # stopped before train.epochs
            from mlptrain.checkpoint import load_checkpoint

            ckpt = load_checkpoint(run / "checkpoints" / "last.safetensors")
            assert ckpt.meta["trainer"]["loop"]["epoch"] == len(epochs)
            assert json.loads((run / "summary.json").read_text())["status"] == "interrupted"
            evaluated = run_cli("eval", str(run), "--json")
            assert evaluated.returncode == 0, evaluated.stderr
            checked += 1
    assert checked >= 1, rows  # the seed gives at least one bad trial after a good one


def test_run_sweep_from_python_returns_the_results(tmp_path, monkeypatch):
    from mlptrain.sweep import run_sweep

    monkeypatch.chdir(tmp_path)
    seen = []
    result = run_sweep(write_sweep(tmp_path), workers=1, trials=2, out=tmp_path / "out",
                       on_update=seen.append)
    assert result.status == "completed" and len(result.rows) == 2
    assert result.best is not None and result.best.value == min(
        r.value for r in result.rows if r.value is not None)
    assert result.reproduce == f"mlptrain train {result.sweep_dir / 'best.yaml'}"
    assert seen and len(seen[-1]) == 2
    assert set(result.best.params) == set(KEYS)


def test_mlptrain_runs_lists_the_trials_of_a_sweep(reference):
    done = run_cli("runs", str(reference), "--json")
    assert done.returncode == 0, done.stderr
    names = sorted(r["name"] for r in json.loads(done.stdout))
    assert names == [f"trials/trial-000{i}" for i in range(4)]


def test_plot_of_a_sweep_directory_draws_the_top_trials_and_value_vs_parameter(reference,
                                                                              tmp_path):
    pytest.importorskip("matplotlib")
    out = tmp_path / "sweep.png"
    done = run_cli("plot", str(reference), "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    values = tmp_path / "sweep-values.png"
    assert values.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_sweep_dir_holds_the_spec_and_the_study(reference):
    import yaml

    spec = yaml.safe_load((reference / "sweep.yaml").read_text())
    assert spec["trials"] == 4 and spec["seed"] == 11
    info = json.loads((reference / "sweep.json").read_text())
    assert info["storage"] == f"sqlite:///{reference / 'study.db'}"
    assert (reference / "study.db").is_file()
