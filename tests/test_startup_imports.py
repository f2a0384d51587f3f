"""What a `mlptrain train` process imports: only what the run needs. On a table of a few
hundred rows the process's start-up is most of its time, so `train --quiet` on a local CSV
must not load the terminal UI (rich, tqdm), HTTP/TLS (downloads) or numpy.ma; the same run
without --quiet, or on a set it may download, still loads what it prints or fetches with."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

# imported by a quiet run on a local CSV: none of these
NOT_NEEDED = ("rich", "tqdm", "http.client", "ssl", "urllib.request", "numpy.ma")

# run `python -m mlptrain ARGS` and print, at exit, which of the watched modules were loaded
PROBE = """
import atexit, json, runpy, sys
watched = json.loads(sys.argv[1])
atexit.register(lambda: print("LOADED " + json.dumps([m for m in watched if m in sys.modules])))
sys.argv = ["mlptrain", *sys.argv[2:]]
runpy.run_module("mlptrain", run_name="__main__")
"""


def _loaded(args: list[str], cwd: Path,
            **env_vars: str) -> tuple[subprocess.CompletedProcess, list[str]]:
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", **env_vars}
    done = subprocess.run([sys.executable, "-c", PROBE, json.dumps(NOT_NEEDED), *args],
                          cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    [line] = [ln for ln in done.stdout.splitlines() if ln.startswith("LOADED ")]
    return done, json.loads(line.removeprefix("LOADED "))


def _csv_config(tmp_path: Path) -> Path:
    rows = ["a,b,label"] + [f"{i % 7},{(i * 3) % 5},{'yes' if i % 2 else 'no'}"
                            for i in range(40)]
    (tmp_path / "t.csv").write_text("\n".join(rows) + "\n")
    raw = {"name": "t", "data": {"source": "csv", "path": "t.csv", "target": "label"},
           "model": {"hidden": [4]}, "train": {"epochs": 2, "batch_size": 8},
           "run": {"root": "runs"}}
    (tmp_path / "t.yaml").write_text(yaml.safe_dump(raw))
    return tmp_path / "t.yaml"


def test_a_quiet_run_on_a_local_csv_loads_no_ui_http_or_masked_arrays(tmp_path):
    config = _csv_config(tmp_path)
    done, loaded = _loaded(["train", str(config), "-q"], tmp_path)
    assert done.returncode == 0, done.stderr
    [run_dir] = [p for p in (tmp_path / "runs").iterdir() if p.is_dir()]
    assert done.stdout.splitlines()[0] == str(run_dir)  # --quiet prints the run directory alone
    assert loaded == []


def test_the_same_run_without_quiet_still_loads_what_it_prints_with(tmp_path):
    config = _csv_config(tmp_path)
    done, loaded = _loaded(["train", str(config)], tmp_path)
    assert done.returncode == 0, done.stderr
    assert "rich" in loaded  # the epoch lines and the summary table
    assert "epoch 2/2" in done.stdout and "run directory:" in done.stdout
    assert "http.client" not in loaded and "numpy.ma" not in loaded


def test_a_run_that_must_download_still_loads_http(tmp_path):
    # MNIST in an empty folder, downloads allowed but only from a closed local port: the
    # download is attempted (so HTTP is loaded) and fails with a clean message
    raw = {"name": "m", "data": {"source": "mnist", "path": str(tmp_path / "empty"),
                                 "mirrors": ["http://127.0.0.1:9/"]},
           "run": {"root": "runs"}}
    (tmp_path / "empty").mkdir()
    config = tmp_path / "m.yaml"
    config.write_text(yaml.safe_dump(raw))
    done, loaded = _loaded(["train", str(config), "-q"], tmp_path,
                           MLPTRAIN_CACHE=str(tmp_path / "cache"),
                           MLPTRAIN_DATA=str(tmp_path / "empty"))
    assert done.returncode == 2, done.stderr
    assert "download failed" in done.stderr
    assert "http.client" in loaded and "urllib.request" in loaded
