"""`train.threads`: a count, null (every core) or auto (one thread below a step's FLOPs
threshold); the choice is applied inside the training process (threadpoolctl) and said in
train.log and summary.json."""

from __future__ import annotations

import pytest
import yaml
from threadpoolctl import threadpool_info
from typer.testing import CliRunner

from mlptrain.cli import app
from mlptrain.config import validate_config
from mlptrain.experiment import resume_run, start_run
from mlptrain.threads import AUTO_ONE_THREAD_BELOW, choose_threads, cores, step_flops
from mlptrain.training import SilentObserver


@pytest.fixture(autouse=True)
def _no_thread_caps_in_the_environment(monkeypatch):
    """auto keeps to OPENBLAS_NUM_THREADS & co. when set (threads.environment_limit); another
    test in the same worker (joblib, for one) may have set them."""
    from mlptrain.threads import THREAD_VARIABLES

    for name in THREAD_VARIABLES:
        monkeypatch.delenv(name, raising=False)



def test_step_flops_counts_forward_weight_and_input_gradients_by_hand():
    # 784-256-128-10, one row: forward 2*(784*256 + 256*128 + 128*10) = 469,504; weight
    # gradients the same; input gradients of the last two layers 2*(256*128 + 128*10) = 68,096
    assert step_flops([784, 256, 128, 10], 1) == 1_007_104
    # 2-3, 5 rows: 2*5*(2*6 + 0) = 120 (no input gradient for the only layer)
    assert step_flops([2, 3], 5) == 120


def test_an_explicit_count_and_null_are_taken_as_they_are():
    assert choose_threads(3, [2, 3], 5, n_cores=2) == (3, "train.threads")
    assert choose_threads(None, [2, 3], 5, n_cores=4) == (4, "train.threads null: every core")


def test_auto_takes_one_thread_just_below_the_threshold_and_every_core_at_it():
    width = int(AUTO_ONE_THREAD_BELOW) // 4  # [1, width], one row: 2*(2*width) FLOPs
    assert step_flops([1, width], 1) == AUTO_ONE_THREAD_BELOW
    threads, why = choose_threads("auto", [1, width], 1, n_cores=2)
    assert threads == 2 and why.startswith("auto:") and "every core (2)" in why
    threads, why = choose_threads("auto", [1, width - 1], 1, n_cores=2)
    assert threads == 1 and "where a second thread does not pay off" in why
    assert f"{(4 * width - 4) / 1e6:.3g} MFLOP per step" in why


def test_auto_on_one_core_is_one_thread():
    assert choose_threads("auto", [784, 4096, 10], 512, n_cores=1)[0] == 1


class _BlasThreads(SilentObserver):
    """Records the BLAS thread count in force at every evaluation (threadpoolctl)."""

    def __init__(self) -> None:
        self.seen: set[int] = set()

    def evaluated(self, row) -> None:
        self.seen |= {i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"}


def _raw(tmp_path, threads="auto") -> dict:
    return {"name": "t", "data": {"source": "spiral", "n_samples": 200},
            "model": {"hidden": [8]}, "train": {"epochs": 2, "batch_size": 32, "threads": threads},
            "run": {"root": str(tmp_path / "runs")}}


@pytest.mark.parametrize("threads", ["auto", 1, 2])
def test_the_chosen_count_is_in_force_during_training_and_said_in_the_log(tmp_path, threads):
    if cores() < 2 and threads == 2:
        pytest.skip("one core: OpenBLAS caps its threads at 1")
    observer = _BlasThreads()
    result = start_run(validate_config(_raw(tmp_path, threads)),
                       observer_factory=lambda epochs: observer)
    expected = 1 if threads == "auto" else threads  # auto: spiral 2-8-3 at batch 32 is tiny
    assert observer.seen == {expected}
    assert result.summary["blas_threads"] == expected
    log = (result.run_dir / "train.log").read_text()
    if threads == "auto":
        assert f"BLAS threads: 1 (auto: {step_flops([2, 8, 3], 32) / 1e6:.3g} MFLOP per step" in log
    else:
        assert f"BLAS threads: {threads} (train.threads)" in log
    # the count is the run's: config.yaml (and so every resume, on any machine) holds it
    config = yaml.safe_load((result.run_dir / "config.yaml").read_text())
    assert config["train"]["threads"] == expected


def test_the_cli_threads_option_is_recorded_in_the_config_and_used_on_resume(tmp_path):
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(yaml.safe_dump(_raw(tmp_path)))
    result = CliRunner().invoke(app, ["train", str(cfg), "-q", "--threads", "1"])
    assert result.exit_code == 0, result.output
    run_dir = next((tmp_path / "runs").iterdir())
    assert yaml.safe_load((run_dir / "config.yaml").read_text())["train"]["threads"] == 1
    assert "BLAS threads: 1 (train.threads)" in (run_dir / "train.log").read_text()
    resumed = resume_run(run_dir, overrides=["train.epochs=3"], threads=1)
    assert resumed.summary["blas_threads"] == 1
    assert "BLAS threads: 1 (--threads)" in (run_dir / "train.log").read_text()


def test_a_threads_value_that_is_not_a_count_auto_or_null_is_refused(tmp_path):
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(yaml.safe_dump(_raw(tmp_path, threads="many")))
    result = CliRunner().invoke(app, ["train", str(cfg)])
    assert result.exit_code == 2
    assert "train.threads" in result.output and "auto" in result.output
    assert not (tmp_path / "runs").exists()


def test_auto_keeps_to_the_thread_count_the_environment_sets(monkeypatch):
    from mlptrain.threads import environment_limit

    for name in ("OPENBLAS_NUM_THREADS", "GOTO_NUM_THREADS", "OMP_NUM_THREADS"):
        monkeypatch.delenv(name, raising=False)
    big = [784, 4096, 10]
    assert choose_threads("auto", big, 512, n_cores=2)[0] == 2
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert choose_threads("auto", big, 512, n_cores=2) == (
        1, "auto: OMP_NUM_THREADS=1 in the environment (6.7e+03 MFLOP per step)")
    # 2 * 512 * (2 * (784 * 4096 + 4096 * 10) + 4096 * 10) = 6.70e9 FLOPs
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "2")  # read first, as OpenBLAS does
    assert environment_limit() == ("OPENBLAS_NUM_THREADS", 2)
    assert choose_threads("auto", big, 512, n_cores=2)[0] == 2  # a cap above the cores: no cap
    assert choose_threads(2, big, 512, n_cores=2)[0] == 2  # an explicit count is the run's own
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "0")  # not a positive count: the next variable
    assert environment_limit() == ("OMP_NUM_THREADS", 1)
    assert environment_limit({"OPENBLAS_NUM_THREADS": "two"}) is None


@pytest.mark.parametrize("threads", [1, 2])
def test_the_python_api_fit_trains_with_train_threads(monkeypatch, threads):
    """mlptrain.fit applies train.threads as `mlptrain train` does (it used to keep whatever
    count the process had)."""
    import numpy as np

    import mlptrain
    from mlptrain.training import Trainer

    if cores() < 2 and threads == 2:
        pytest.skip("one core: OpenBLAS caps its threads at 1")
    seen: set[int] = set()
    run_epoch = Trainer._run_epoch

    def recording(self, observer, stop):
        seen.update(i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas")
        return run_epoch(self, observer, stop)

    monkeypatch.setattr(Trainer, "_run_epoch", recording)
    other = 3 - threads  # the process's own count before the fit: the other one
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((64, 2)), rng.integers(0, 2, 64)
    from threadpoolctl import threadpool_limits

    with threadpool_limits(other, user_api="blas"):
        mlptrain.fit({"model": {"hidden": [4]}, "train": {"epochs": 2, "threads": threads}}, X, y)
        after = {i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"}
    assert seen == {threads}
    assert after == {other}  # restored after the fit
