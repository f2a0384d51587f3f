"""Every shipped config, trained briefly, exports to ONNX and PyTorch, and both runtimes agree
with mlptrain (checkpoint -> load_model -> predict_outputs, preprocessing included) to <= 1e-5
on 1,000 random raw rows. MNIST configs run on the shared copy when it is present."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from data_helpers import SHARED_MNIST
from export_helpers import TOLERANCE, max_error, run_onnx, run_torch

REPO = Path(__file__).resolve().parents[1]
CONFIGS = sorted(p.name for p in (REPO / "configs").glob("*.yaml"))
MNIST = Path(os.environ.get("MLPTRAIN_SHARED_MNIST", SHARED_MNIST))


def _train(config: str, root: Path) -> Path:
    from mlptrain.config import load_config
    from mlptrain.experiment import start_run

    overrides = [f"run.root={root}", "train.epochs=2"]
    cfg = load_config(REPO / "configs" / config, overrides)
    if cfg.data.source in ("mnist", "fashion-mnist", "kmnist"):
        if not (MNIST / "train-images-idx3-ubyte.gz").exists():
            pytest.skip("the shared MNIST copy is not present")
        overrides += [f"data.path={MNIST}", "data.limit=1000", "data.download=false"]
        cfg = load_config(REPO / "configs" / config, overrides)
    return start_run(cfg).run_dir


def _random_rows(preprocessor, rng) -> np.ndarray:
    """1,000 raw rows spread like the training data: offset + divisor * N(0, 1)."""
    width = preprocessor.n_features
    offset = np.broadcast_to(preprocessor.offset, (width,))
    divisor = np.broadcast_to(preprocessor.divisor, (width,))
    return (offset + divisor * rng.normal(size=(1000, width))).astype(np.float32)


@pytest.mark.parametrize("config", CONFIGS)
def test_a_model_trained_by_each_shipped_config_exports_to_onnx_and_torch(config, tmp_path,
                                                                           monkeypatch):
    from mlptrain.evaluation import load_model
    from mlptrain.export import export_model
    from mlptrain.metrics import predict_outputs

    monkeypatch.chdir(REPO)  # the CSV configs name data/*.csv
    run_dir = _train(config, tmp_path / "runs")
    model = load_model(run_dir)
    X = _random_rows(model.preprocessor, np.random.default_rng(0)).astype(model.net.dtype)
    _, expected = predict_outputs(model.net, model.preprocessor, X, model.net.dtype)

    onnx_file = tmp_path / "model.onnx"
    result = export_model(run_dir, "onnx", onnx_file)
    categorical = model.preprocessor.categorical is not None  # + the inputs' encoding
    assert result.files == [onnx_file] + (
        [tmp_path / "model.encoding.json"] if categorical else []) and result.opset == 17
    onnx_error = max_error(run_onnx(onnx_file.read_bytes(), X), expected)
    assert onnx_error <= TOLERANCE

    result = export_model(run_dir, "torch", tmp_path / "torch")
    assert [f.name for f in result.files] == ["model.safetensors", "model.py"] + (
        ["encoding.json"] if categorical else [])
    if _has_torch():  # CI installs the CPU wheel when it can
        assert max_error(run_torch(tmp_path / "torch", X), expected) <= TOLERANCE


def _has_torch() -> bool:
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True
