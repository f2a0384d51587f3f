"""`mlptrain export`: the written files run in onnxruntime / PyTorch and agree with `predict`;
every bad input (format, opset, checkpoint, output path) exits 2 with a short message and
leaves nothing written."""

from __future__ import annotations

import os

import numpy as np
import pytest
from export_helpers import TOLERANCE, max_error, run_onnx, run_torch
from tools_helpers import (
    BAD_CHECKPOINT_MESSAGES,
    assert_clean_error,
    assert_ok,
    bad_checkpoints,
    best_checkpoint,
    run,
)


def _expected(run_dir, X):
    from mlptrain.evaluation import load_model
    from mlptrain.metrics import predict_outputs

    model = load_model(run_dir)
    return predict_outputs(model.net, model.preprocessor, X, model.net.dtype)[1]


def _rows(n_features=2):
    return np.random.default_rng(5).normal(size=(1000, n_features)).astype(np.float32)


def test_export_onnx_of_a_run_directory_matches_predict(spiral_run, tmp_path):
    pytest.importorskip("onnxruntime")
    out = tmp_path / "spiral.onnx"
    output = assert_ok(run("export", spiral_run, "--format", "onnx", "--out", out))
    assert f"written: {out} (opset 17)" in output
    X = _rows()
    assert max_error(run_onnx(out.read_bytes(), X), _expected(spiral_run, X)) <= TOLERANCE


def test_export_onnx_with_another_opset(sine_run, tmp_path):
    onnx = pytest.importorskip("onnx")
    out = tmp_path / "sine.onnx"
    assert_ok(run("export", best_checkpoint(sine_run), "-f", "onnx", "-o", out, "--opset", "20"))
    model = onnx.load(str(out))
    assert model.opset_import[0].version == 20 and model.ir_version == 9
    assert model.graph.output[0].name == "values"
    X = _rows(2)  # the sine fixture has 2 features
    assert max_error(run_onnx(out.read_bytes(), X), _expected(sine_run, X)) <= TOLERANCE


def test_export_torch_writes_a_folder_that_pytorch_loads_strictly(spiral_run, tmp_path):
    out = tmp_path / "torch-model"
    output = assert_ok(run("export", spiral_run, "--format", "torch", "--out", out))
    assert sorted(p.name for p in out.iterdir()) == ["model.py", "model.safetensors"]
    assert "written:" in output and "model.py" in output
    pytest.importorskip("torch")
    X = _rows()
    assert max_error(run_torch(out, X), _expected(spiral_run, X)) <= TOLERANCE


@pytest.mark.parametrize("fmt", ["onnx", "torch"])
def test_exporting_again_replaces_the_files(spiral_run, sine_run, tmp_path, fmt):
    out = tmp_path / ("m.onnx" if fmt == "onnx" else "m")
    assert_ok(run("export", spiral_run, "-f", fmt, "-o", out))
    first = sorted(p.stat().st_size for p in ([out] if fmt == "onnx" else out.iterdir()))
    assert_ok(run("export", sine_run, "-f", fmt, "-o", out))
    second = sorted(p.stat().st_size for p in ([out] if fmt == "onnx" else out.iterdir()))
    assert first != second
    assert not [p for p in tmp_path.rglob(".*tmp*")]  # no temporary file left


def test_an_unknown_format_exits_2(spiral_run, tmp_path):
    result = run("export", spiral_run, "--format", "tflite", "--out", tmp_path / "m")
    assert_clean_error(result, "unknown export format 'tflite'; choose one of onnx, torch")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("opset", ["12", "999"])
def test_an_unsupported_opset_exits_2_and_leaves_the_old_file(spiral_run, tmp_path, opset):
    pytest.importorskip("onnx")
    out = tmp_path / "m.onnx"
    out.write_bytes(b"previous export")
    result = run("export", spiral_run, "-f", "onnx", "-o", out, "--opset", opset)
    assert_clean_error(result, f"--opset {opset} is not supported; choose 13..")
    assert out.read_bytes() == b"previous export"
    assert len(result.output.strip().splitlines()) <= 2


def test_opset_with_torch_exits_2(spiral_run, tmp_path):
    result = run("export", spiral_run, "-f", "torch", "-o", tmp_path / "m", "--opset", "17")
    assert_clean_error(result, "--opset applies to --format onnx only")
    assert not (tmp_path / "m").exists()


@pytest.mark.parametrize("kind", sorted(BAD_CHECKPOINT_MESSAGES))
@pytest.mark.parametrize("fmt", ["onnx", "torch"])
def test_a_bad_checkpoint_exits_2_and_writes_nothing(spiral_run, tmp_path, kind, fmt):
    bad = bad_checkpoints(tmp_path / "bad", best_checkpoint(spiral_run))[kind]
    out = tmp_path / "out" / ("m.onnx" if fmt == "onnx" else "m")
    out.parent.mkdir()
    result = run("export", bad, "-f", fmt, "-o", out)
    assert_clean_error(result, BAD_CHECKPOINT_MESSAGES[kind], str(bad))
    assert list(out.parent.iterdir()) == []


def test_output_paths_that_cannot_be_written_exit_2(spiral_run, tmp_path):
    missing = tmp_path / "no-such-folder"
    result = run("export", spiral_run, "-f", "onnx", "-o", missing / "m.onnx")
    assert_clean_error(result, "the output folder does not exist", str(missing))
    result = run("export", spiral_run, "-f", "onnx", "-o", tmp_path)
    assert_clean_error(result, "is a folder; --format onnx writes one file")
    (tmp_path / "file").write_text("x")
    result = run("export", spiral_run, "-f", "torch", "-o", tmp_path / "file")
    assert_clean_error(result, "is a file; --format torch writes a folder")
    assert (tmp_path / "file").read_text() == "x"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores permissions")
def test_a_read_only_output_folder_exits_2(spiral_run, tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        result = run("export", spiral_run, "-f", "onnx", "-o", folder / "m.onnx")
        assert_clean_error(result, "the output folder is not writable")
    finally:
        folder.chmod(0o700)
