"""auto's look at the load: /proc/stat's busy columns, other processes' cores (our own CPU time
taken off), and the count auto picks for them; then a real run started beside a real CPU-bound
process, recorded once in config.yaml and kept on resume. No time is asserted."""

from __future__ import annotations

import subprocess
import sys

import pytest
import yaml

from mlptrain.config import validate_config
from mlptrain.experiment import resume_run, start_run
from mlptrain.threads import (
    AUTO_ONE_THREAD_BELOW,
    CpuTimes,
    LoadWatch,
    busy_seconds,
    choose_threads,
    competing,
    cores,
    cpu_times,
    measure_others_busy,
    others_busy,
    step_flops,
)
from mlptrain.training import SilentObserver

# columns: user nice system idle iowait irq softirq steal guest guest_nice
STAT = """cpu  100 50 20 1000 7 1 2 3 0 0
cpu0 60 40 10 500 3 1 1 2 0 0
cpu1 40 10 10 500 4 0 1 1 0 0
intr 12345 0 0
ctxt 999
"""

@pytest.fixture(autouse=True)
def _no_thread_caps_in_the_environment(monkeypatch):
    """auto keeps to OPENBLAS_NUM_THREADS & co. when set (threads.environment_limit); another
    test in the same worker (joblib, for one) may have set them."""
    from mlptrain.threads import THREAD_VARIABLES

    for name in THREAD_VARIABLES:
        monkeypatch.delenv(name, raising=False)



def test_busy_seconds_sums_user_system_irq_softirq_and_steal_but_not_nice_idle_or_iowait():
    # cpu0: 60 + 10 + 1 + 1 + 2 = 74 ticks; cpu1: 40 + 10 + 0 + 1 + 1 = 52 ticks
    assert busy_seconds(STAT, {0, 1}, ticks_per_second=100) == pytest.approx(1.26)
    assert busy_seconds(STAT, None, ticks_per_second=100) == pytest.approx(1.26)
    assert busy_seconds(STAT, {1}, ticks_per_second=100) == pytest.approx(0.52)


def test_busy_seconds_falls_back_to_the_cpu_line_without_per_cpu_lines():
    # cpu: 100 + 20 + 1 + 2 + 3 = 126 ticks
    assert busy_seconds(STAT.splitlines()[0], {0}, ticks_per_second=10) == pytest.approx(12.6)
    with pytest.raises(ValueError, match="no cpu lines"):
        busy_seconds("intr 1 2\n", None, ticks_per_second=100)


def test_others_busy_takes_our_own_cpu_time_off_and_is_never_negative():
    before = CpuTimes(busy=10.0, own=1.0, wall=100.0)
    # 3 busy seconds in 2 s of which 1 s was ours: others kept (3 - 1) / 2 = 1 core busy
    assert others_busy(before, CpuTimes(busy=13.0, own=2.0, wall=102.0)) == pytest.approx(1.0)
    # we were busier than /proc/stat's ticks say (rounding): 0, not below
    assert others_busy(before, CpuTimes(busy=10.5, own=2.0, wall=101.0)) == 0.0
    assert others_busy(before, before) == 0.0  # no time passed


BIG = [784, 256, 128, 10]  # 129 MFLOP per step at batch 128


@pytest.mark.parametrize(("n_cores", "busy", "expected"), [
    (2, 0.0, 2), (2, 0.49, 2), (2, 0.51, 1), (2, 1.0, 1), (2, 1.9, 1), (2, 7.0, 1),
    (4, 1.0, 3), (4, 1.6, 2), (4, 0.4, 4),
])
def test_auto_leaves_the_cores_other_processes_keep_busy(n_cores, busy, expected):
    threads, why = choose_threads("auto", BIG, 128, n_cores, load=lambda: busy)
    assert threads == expected
    assert f"other processes kept {busy:.2f} of the {n_cores} cores busy" in why
    assert ("every core" in why) == (expected == n_cores)


def test_auto_does_not_look_at_the_load_when_one_thread_is_chosen_anyway():
    def load():
        raise AssertionError("the load was measured")

    width = int(AUTO_ONE_THREAD_BELOW) // 4 - 1  # [1, width] at one row: just below
    assert choose_threads("auto", [1, width], 1, n_cores=2, load=load)[0] == 1
    assert choose_threads("auto", BIG, 128, n_cores=1, load=load)[0] == 1
    assert choose_threads(2, BIG, 128, n_cores=2, load=load) == (2, "train.threads")


def test_an_unknown_load_gives_every_core_and_says_so():
    assert choose_threads("auto", BIG, 128, 2, load=lambda: None) == (
        2, "auto: 129 MFLOP per step, every core (2); the load is unknown")


@pytest.fixture
def spinner():
    """A real CPU-bound process (a pure-Python loop at nice 0), running when yielded."""
    proc = subprocess.Popen([sys.executable, "-c", "print('go', flush=True)\nwhile True: pass"],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline() == "go\n"
    yield proc
    proc.kill()
    proc.wait()


def test_a_spinning_process_is_seen_as_at_least_half_a_core(spinner):
    if cpu_times() is None:
        pytest.skip("no /proc/stat")
    busy = measure_others_busy(None, window=0.3)
    assert busy is not None and busy >= 0.5


def _big_raw(tmp_path) -> dict:
    # 200-1024-3 at batch 64: 2*64*(2*(200*1024 + 1024*3) + 1024*3) = 53.6 MFLOP per step
    return {"name": "big", "data": {"source": "blobs", "n_samples": 300, "n_features": 200,
                                    "n_classes": 3},
            "model": {"hidden": [1024]}, "train": {"epochs": 1, "batch_size": 64},
            "run": {"root": str(tmp_path / "runs")}}


def test_a_run_started_beside_a_busy_process_records_fewer_threads_and_keeps_them(
        tmp_path, spinner):
    if cores() < 2 or cpu_times() is None:
        pytest.skip("needs 2 cores and /proc/stat")
    assert step_flops([200, 1024, 3], 64) >= AUTO_ONE_THREAD_BELOW
    result = start_run(validate_config(_big_raw(tmp_path)))
    config = yaml.safe_load((result.run_dir / "config.yaml").read_text())
    assert config["train"]["threads"] == result.summary["blas_threads"] < cores()
    log = (result.run_dir / "train.log").read_text()
    assert "other processes kept" in log and "a BLAS thread sharing a core" in log
    spinner.kill()  # the load is gone; the resume keeps the count config.yaml holds
    spinner.wait()
    resumed = resume_run(result.run_dir, overrides=["train.epochs=2"])
    assert resumed.summary["blas_threads"] == config["train"]["threads"]
    log = (result.run_dir / "train.log").read_text()
    assert f"BLAS threads: {config['train']['threads']} (train.threads)" in log


# ---- a process that starts competing during a run ------------------------------------------


def test_competing_speaks_only_when_the_run_has_more_threads_than_fit_beside_the_others():
    message = competing(threads=2, n_cores=2, busy=1.0, epoch=3)
    assert message is not None
    assert message.startswith("epoch 3: other processes kept 1.00 of the 2 cores busy")
    assert "stop it (Ctrl-C) and resume with --threads 1" in message
    assert competing(threads=2, n_cores=2, busy=0.3, epoch=3) is None  # 2 still fit
    assert competing(threads=1, n_cores=2, busy=1.8, epoch=3) is None  # one always fits
    assert "with --threads 2" in (competing(threads=4, n_cores=4, busy=2.0, epoch=1) or "")


def test_load_watch_measures_each_epoch_from_the_last_and_says_it_once():
    # busy, own, wall: epoch 1 others 0.2 cores; epoch 2 (3.0 - 1.0) / 2 s = 1.0; epoch 3 again
    snapshots = iter([CpuTimes(0.0, 0.0, 0.0), CpuTimes(1.2, 1.0, 1.0),
                      CpuTimes(4.2, 2.0, 3.0), CpuTimes(7.2, 3.0, 5.0)])
    watch = LoadWatch(threads=2, n_cores=2, clock=lambda: next(snapshots))
    assert watch.epoch_ended(1) is None
    assert (watch.epoch_ended(2) or "").startswith("epoch 2: other processes kept 1.00")
    assert watch.epoch_ended(3) is None  # said once


def test_load_watch_without_cpu_times_says_nothing():
    watch = LoadWatch(threads=2, n_cores=2, clock=lambda: None)
    assert watch.epoch_ended(1) is None


def test_a_run_with_two_threads_logs_a_process_that_competes_during_its_epoch(tmp_path, spinner):
    if cores() != 2 or cpu_times() is None:
        pytest.skip("needs 2 cores and /proc/stat")
    raw = {"name": "t", "data": {"source": "spiral", "n_samples": 8000},  # ~0.3 s
           "model": {"hidden": [8]}, "train": {"epochs": 3, "batch_size": 4, "threads": 2},
           "run": {"root": str(tmp_path / "runs")}}
    observer = _Messages()
    result = start_run(validate_config(raw), observer_factory=lambda epochs: observer)
    log = (result.run_dir / "train.log").read_text()
    assert "other processes kept" in log and "resume with --threads 1" in log  # 3 epochs to see it
    said = [m for m in observer.messages if "other processes kept" in m]  # and on the console
    assert len(said) == 1 and said[0] in log


class _Messages(SilentObserver):
    def __init__(self) -> None:
        self.messages: list[str] = []

    def message(self, text: str) -> None:
        self.messages.append(text)
