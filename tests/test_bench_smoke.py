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


@pytest.mark.parametrize("trainer,module", [("torch", "torch"), ("sklearn", "sklearn")])
def test_bench_quick_runs_the_reference_trainers_when_installed(tmp_path, trainer, module):
    if importlib.util.find_spec(module) is None:
        pytest.skip(f"{module} is not installed (the bench extra)")
    done = _run_bench(tmp_path, f"mlptrain,{trainer}")
    assert done.returncode == 0, done.stderr
    assert "mlptrain /" in done.stdout
