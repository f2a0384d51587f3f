"""A class name the terminal's encoding cannot show (PYTHONIOENCODING=ascii): `eval` exits 2
with one line saying how to fix it, not a UnicodeEncodeError traceback; `predict` writes its
CSV in UTF-8 whatever the terminal's encoding (a data file, not terminal text)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from mlptrain.config import load_config
from mlptrain.experiment import start_run


@pytest.fixture(scope="module")
def accented_run(tmp_path_factory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("accented")
    rng = np.random.default_rng(0)
    rows = [f"{a:.3f},{b:.3f},{'café' if a > b else 'thé'}" for a, b in rng.random((60, 2))]
    data = folder / "drinks.csv"
    data.write_text("a,b,drink\n" + "\n".join(rows) + "\n", encoding="utf-8")
    (folder / "c.yaml").write_text(
        f"data: {{source: csv, path: {data}, target: drink}}\nmodel: {{hidden: [4]}}\n"
        f"train: {{epochs: 1}}\nrun: {{root: {folder / 'runs'}}}\n")
    return start_run(load_config(folder / "c.yaml")).run_dir, data


def mlptrain(*args: str, encoding: str = "ascii") -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONIOENCODING": encoding}
    return subprocess.run([sys.executable, "-m", "mlptrain", *map(str, args)],
                          capture_output=True, env=env, timeout=120)


def test_eval_on_an_ascii_terminal_is_one_line_and_exit_2(accented_run):
    run_dir, _ = accented_run
    result = mlptrain("eval", run_dir)
    err = result.stderr.decode("utf-8")
    assert result.returncode == 2, err
    assert err.strip() == ("error: cannot print '\\xe9' in this terminal's encoding (ascii); "
                           "set PYTHONIOENCODING=utf-8, or write to a file with --out")
    assert "Traceback" not in err


def test_predict_on_an_ascii_terminal_writes_utf8_csv(accented_run):
    run_dir, data = accented_run
    result = mlptrain("predict", run_dir, data)
    assert result.returncode == 0, result.stderr.decode()
    lines = result.stdout.decode("utf-8").splitlines()
    assert lines[0] == "prediction" and len(lines) == 61
    assert set(lines[1:]) <= {"café", "thé"}
