"""The benchmark script runs end to end on a tiny synthetic dataset (no timing is asserted)."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench" / "bench.py"


def _run_bench(tmp_path: Path, trainers: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, str(BENCH), "--quick", "--synthetic", "300", "--batches", "32",
           "--trainers", trainers, "--threads", "1", "--no-startup", "--out", str(tmp_path)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300)


def test_bench_quick_writes_a_table_and_json_for_mlptrain_and_the_gemm_bound(tmp_path):
    done = _run_bench(tmp_path, "mlptrain,gemm")
    assert done.returncode == 0, done.stderr
    assert "| mlptrain, sgd momentum 0.9 |" in done.stdout
    assert "fraction of the GEMM-only bound" in done.stdout
    table = (tmp_path / "latest.md").read_text()
    assert "batch 32" in table
    [result] = list(tmp_path.glob("bench-*.json"))
    data = json.loads(result.read_text())
    assert set(data["epochs"]) == {"mlptrain", "gemm"}
    assert all(len(times) == 1 for times in data["epochs"]["mlptrain"].values())
    assert data["peak_rss_mib"]["mlptrain"] > 0
    # the BLAS each job ran, read by threadpoolctl inside the job, and the sgemm ceiling
    assert data["blas"]["mlptrain"] and data["blas"]["mlptrain"][0]["num_threads"] == 1
    assert "kernel" in table and "physical floor" in table
    assert data["sgemm_gflops"] > 0


def test_bench_jobs_run_without_the_forced_coretype_unless_kept(monkeypatch):
    """Both variables are unset together for the jobs, and only with --keep-coretype kept."""
    sys.path.insert(0, str(BENCH.parent))
    try:
        import bench
    finally:
        sys.path.remove(str(BENCH.parent))
    monkeypatch.setenv("OPENBLAS_CORETYPE", "Haswell")
    monkeypatch.setenv("OPENBLAS_L2_SIZE", "1048576")
    native = bench.thread_env(2)
    assert "OPENBLAS_CORETYPE" not in native and "OPENBLAS_L2_SIZE" not in native
    assert native["OPENBLAS_NUM_THREADS"] == "2"
    kept = bench.thread_env(2, keep_coretype=True)
    assert kept["OPENBLAS_CORETYPE"] == "Haswell" and kept["OPENBLAS_L2_SIZE"] == "1048576"
    assert bench.forced_coretype() == {"OPENBLAS_CORETYPE": "Haswell",
                                       "OPENBLAS_L2_SIZE": "1048576"}


def test_flops_per_epoch_counts_the_eight_gemms_by_hand():
    sys.path.insert(0, str(BENCH.parent))
    try:
        import bench
    finally:
        sys.path.remove(str(BENCH.parent))
    # per sample: forward 2*(784*256 + 256*128 + 128*10) = 469,504; weight gradients the same;
    # input gradients 2*(256*128 + 128*10) = 68,096; total 1,007,104
    assert bench.flops_per_epoch(1) == 1_007_104
    assert bench.flops_per_epoch(54_000) == 54_383_616_000


@pytest.mark.parametrize("trainer,module", [("torch", "torch"), ("sklearn", "sklearn")])
def test_bench_quick_runs_the_reference_trainers_when_installed(tmp_path, trainer, module):
    if importlib.util.find_spec(module) is None:
        pytest.skip(f"{module} is not installed (the bench extra)")
    done = _run_bench(tmp_path, f"mlptrain,{trainer}")
    assert done.returncode == 0, done.stderr
    assert "mlptrain /" in done.stdout
