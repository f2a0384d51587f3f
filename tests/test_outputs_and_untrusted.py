"""Outputs that cannot be written, through real processes (stdout is /dev/full, closed, or an
ASCII-only terminal), and a checkpoint that is untrusted: its embedded mirrors are never
followed by `eval` unless the command line asks for a download."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from corpus_helpers import idx_bytes, read_safetensors, safetensors_bytes
from data_helpers import http_server
from typer.testing import CliRunner

from mlptrain.cli import app
from mlptrain.config import validate_config
from mlptrain.experiment import start_run

runner = CliRunner()


def _mlptrain(args: list[str], **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mlptrain", *args], capture_output=True,
                          text=True, timeout=300, **kwargs)


def _one_line_exit_2(done, *fragments: str) -> None:
    err = done.stderr.strip()
    assert done.returncode == 2, (done.returncode, err)
    assert "Traceback" not in err and "Exception ignored" not in err, err
    assert len(err.splitlines()) == 1, err
    for fragment in fragments:
        assert fragment in err, (fragment, err)


@pytest.fixture(scope="module")
def french_run(tmp_path_factory) -> Path:
    """A finished run whose class names are not ASCII ('été', 'hiver')."""
    root = tmp_path_factory.mktemp("fr")
    rng = np.random.default_rng(0)
    rows = ["a,b,season"]
    for a, b in rng.normal(size=(80, 2)):
        rows.append(f"{a:.3f},{b:.3f},{'été' if a > b else 'hiver'}")
    (root / "fr.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    raw = {"name": "fr", "data": {"source": "csv", "path": str(root / "fr.csv")},
           "model": {"hidden": [4]}, "train": {"epochs": 1}, "run": {"root": str(root / "runs")}}
    return start_run(validate_config(raw)).run_dir


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
@pytest.mark.parametrize("args", [["config", "schema"], ["config", "reference"], ["--help"],
                                  ["--version"], ["eval", "@RUN"]])
def test_stdout_on_a_full_device_is_exit_2_in_one_line(args, french_run):
    argv = [a.replace("@RUN", str(french_run)) for a in args]
    with open("/dev/full", "w") as full:
        done = subprocess.run([sys.executable, "-m", "mlptrain", *argv], stdout=full,
                              stderr=subprocess.PIPE, text=True, timeout=300)
    _one_line_exit_2(done, "standard output", "No space left on device")


@pytest.mark.parametrize("args", [["config", "schema"], ["--help"], ["eval", "@RUN"]])
def test_a_closed_stdout_is_exit_2_in_one_line(args, french_run):
    argv = [a.replace("@RUN", str(french_run)) for a in args]
    done = subprocess.run([sys.executable, "-m", "mlptrain", *argv], stderr=subprocess.PIPE,
                          text=True, timeout=300, stdout=subprocess.DEVNULL,
                          preexec_fn=lambda: os.close(1))
    _one_line_exit_2(done, "cannot write to standard output", "closed")


def test_a_non_ascii_class_name_on_an_ascii_terminal_is_exit_2_in_one_line(french_run, tmp_path):
    env = {**os.environ, "PYTHONIOENCODING": "ascii"}
    done = _mlptrain(["eval", str(french_run)], env=env)  # rich tables of class names
    _one_line_exit_2(done, "'\\xe9'", "PYTHONIOENCODING=utf-8")


def test_predict_on_an_ascii_terminal_still_writes_the_names_in_utf8(french_run, tmp_path):
    """click's echo falls back to UTF-8 on a misconfigured ASCII stream: no crash, no loss."""
    points = tmp_path / "p.csv"
    points.write_text("5,-5\n-5,5\n")
    env = {**os.environ, "PYTHONIOENCODING": "ascii"}
    done = subprocess.run([sys.executable, "-m", "mlptrain", "predict", str(french_run),
                           str(points), "--proba"], capture_output=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.decode("utf-8").split()
    assert sorted(lines[0].split(",")) == ["p_hiver", "p_été", "prediction"], lines
    assert {line.split(",")[0] for line in lines[1:]} <= {"été", "hiver"}
    out = tmp_path / "pred.csv"
    done = _mlptrain(["predict", str(french_run), str(points), "--proba", "--out", str(out)],
                     env=env)
    assert done.returncode == 0, done.stderr
    assert out.read_text(encoding="utf-8").split() == lines


def test_eval_of_a_checkpoint_never_follows_its_embedded_mirrors(tmp_path, monkeypatch):
    """A checkpoint naming mnist and an attacker's mirror: eval asks nothing of the mirror and
    writes nothing outside the run; the command line can still ask for a download."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLPTRAIN_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("MLPTRAIN_DATA", raising=False)
    raw = {"name": "m", "data": {"source": "spiral", "n_samples": 200},
           "model": {"hidden": [4]}, "train": {"epochs": 1}, "run": {"root": str(tmp_path / "runs")}}
    run = start_run(validate_config(raw)).run_dir
    best = run / "checkpoints" / "best.safetensors"
    tensors, header = read_safetensors(best)
    meta = json.loads(header["meta"])
    images = gzip.compress(idx_bytes(np.zeros((5, 28, 28), np.uint8), 2051))
    routes = {f"/m/{n}.gz": (images, "ok") for n in ("train-images-idx3-ubyte",
              "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}
    with http_server(routes) as (base, hits):
        meta["config"]["data"] = {"source": "mnist", "mirrors": [f"{base}/m/"], "download": True}
        header["meta"] = json.dumps(meta)
        best.write_bytes(safetensors_bytes(tensors, header))
        result = runner.invoke(app, ["eval", str(run)])
        assert result.exit_code == 2, result.output
        assert "data.download is false" in result.output
        assert hits == [], "eval followed a mirror named inside the checkpoint"
        asked = runner.invoke(app, ["eval", str(run), "data.download=true",
                                    f"data.mirrors=['{base}/m/']"])
        assert hits, "a download asked for on the command line did not happen"
        assert asked.exit_code == 2  # the served files are not MNIST: verified and refused
    assert not list(tmp_path.rglob("*.eval-*.json"))
