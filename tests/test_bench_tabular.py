"""bench/tabular.py runs end to end on one tiny dataset (wine, one seed, a few epochs)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench" / "tabular.py"


def test_tabular_bench_writes_the_split_trains_both_and_prints_a_row(tmp_path):
    pytest.importorskip("sklearn")
    cmd = [sys.executable, str(BENCH), "--datasets", "wine", "--seeds", "0", "--protocols",
           "fixed", "--epochs", "5", "--out", str(tmp_path)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode in (0, 1), done.stderr  # 1: mlptrain behind after 5 epochs
    assert "| dataset | metric | protocol | mlptrain | scikit-learn |" in done.stdout
    [row] = [line for line in done.stdout.splitlines() if line.startswith("| wine |")]
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[:3] == ["wine", "accuracy", "fixed 5"]
    assert 0.0 <= float(cells[3]) <= 1.0 and 0.0 <= float(cells[4]) <= 1.0
    assert cells[6] == ("ok" if done.returncode == 0 else "BEHIND")
    train = (tmp_path / "wine" / "train.csv").read_text().splitlines()
    test = (tmp_path / "wine" / "test.csv").read_text().splitlines()
    assert train[0].endswith(",target") and len(train) - 1 == 133 and len(test) - 1 == 45
    assert (tmp_path / "wine" / "runs" / "wine-fixed-0" / "checkpoints" / "last.safetensors").exists()


def test_tabular_bench_refuses_an_unknown_dataset():
    done = subprocess.run([sys.executable, str(BENCH), "--datasets", "iris"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "unknown dataset 'iris'" in done.stderr
