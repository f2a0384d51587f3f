"""Shared pieces of the export tests: networks with non-trivial weights and scaling, the
agreement measure, and running an exported model in onnxruntime or PyTorch."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np

from mlptrain.data import Preprocessor
from mlptrain.nn import MLP

ACTIVATIONS = ["relu", "tanh", "sigmoid", {"name": "leaky_relu", "negative_slope": 0.1},
               {"name": "elu", "alpha": 0.7}, "softplus", "gelu", "identity"]
OUTPUTS = [("softmax", 4), ("sigmoid", 1), ("sigmoid", 3), ("identity", 2)]
N_ROWS = 1000
TOLERANCE = 1e-5


def act_id(act) -> str:
    return act if isinstance(act, str) else act["name"]


def random_model(activation, output: str, n_out: int, *, batchnorm: bool, dtype="float32",
                 dropout=0.0, input_dropout=0.0, seed=0):
    """An MLP 6-16-8-n_out with perturbed weights, random BN statistics and fitted standard
    scaling of shifted data, plus 1,000 raw rows: (net, preprocessor, X (1000, 6) float32)."""
    rng = np.random.default_rng(seed)
    net = MLP([6, 16, 8, n_out], activation=activation, output=output, batchnorm=batchnorm,
              dtype=dtype, seed=seed, dropout=dropout, input_dropout=input_dropout)
    net.params[:] += 0.3 * rng.normal(size=net.params.size)
    for name, buffer in net.buffers().items():
        buffer[:] = rng.uniform(0.5, 2.0, buffer.shape) if "var" in name else rng.normal(size=buffer.shape)
    X = (3.0 * rng.normal(size=(N_ROWS, 6)) + rng.normal(size=6) * 5).astype(np.float32)
    preprocessor = Preprocessor.fit(X[:200], "standard", task="classification", n_outputs=n_out)
    return net, preprocessor, X


def reference(net, preprocessor, X) -> np.ndarray:
    """mlptrain's own answer: predict_proba of the scaled rows (batch, n_out)."""
    return net.predict_proba(preprocessor.transform(X, dtype=net.dtype))


def max_error(got, expected) -> float:
    """max |got - expected| / max(1, max |expected column|): absolute for probabilities,
    relative to each output's magnitude for regression values in their own units. float32
    carries ~7 significant digits, and a regression output near 0 is computed as
    z * std + mean, so its rounding error scales with the column's magnitude, not its own."""
    got, expected = np.asarray(got, np.float64), np.asarray(expected, np.float64)
    assert got.shape == expected.shape, (got.shape, expected.shape)
    scale = np.maximum(1.0, np.abs(expected).max(axis=0, keepdims=True))  # (1, outputs)
    return float(np.max(np.abs(got - expected) / scale))


def run_onnx(model_bytes: bytes, X: np.ndarray, input_name="features") -> np.ndarray:
    import onnxruntime as ort

    session = ort.InferenceSession(model_bytes, providers=["CPUExecutionProvider"])
    return session.run(None, {input_name: X})[0]


def run_torch(folder: Path, X: np.ndarray) -> np.ndarray:
    """Import folder/model.py, build(), load_state_dict(strict=True), forward X."""
    import torch
    from safetensors.torch import load_file

    name = f"exported_model_{abs(hash(str(folder)))}"
    spec = importlib.util.spec_from_file_location(name, folder / "model.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
        model = module.build()
        model.load_state_dict(load_file(str(folder / "model.safetensors")), strict=True)
        dtype = next(model.parameters()).dtype
        with torch.no_grad():
            return model(torch.as_tensor(X, dtype=dtype)).numpy()
    finally:
        sys.modules.pop(name, None)
