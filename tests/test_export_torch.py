"""PyTorch export: model.safetensors with PyTorch's names and layouts plus a generated model.py
whose build() loads them with strict=True and reproduces predict_proba to <= 1e-5. Skipped
where torch is not installed (CI installs the CPU wheel torch==2.13.0 when it can)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from export_helpers import (
    ACTIVATIONS,
    OUTPUTS,
    TOLERANCE,
    act_id,
    max_error,
    random_model,
    reference,
    run_torch,
)

from mlptrain.export.torch import build_torch, torch_layout


def _write(folder, net, prep, **kwargs):
    weights, source = build_torch(net, prep, **kwargs)
    folder.mkdir(exist_ok=True)
    (folder / "model.safetensors").write_bytes(weights)
    (folder / "model.py").write_text(source)
    return folder


def test_layout_uses_pytorch_names_and_out_in_weights():
    net, prep, _ = random_model("relu", "softmax", 4, batchnorm=True, dropout=0.5,
                                input_dropout=0.2)
    lines, state = torch_layout(net, prep, num_batches_tracked=12)
    assert lines[:5] == ["nn.Dropout(p=0.2)", "nn.Linear(6, 16, bias=False)",
                         "nn.BatchNorm1d(16, eps=1e-05, momentum=0.1)", "nn.ReLU()",
                         "nn.Dropout(p=0.5)"]
    assert lines[-2:] == ["nn.Linear(8, 4)", "nn.Softmax(dim=1)"]
    W = net.parameters()["layers.0.weight"]  # mlptrain (in, out)
    np.testing.assert_array_equal(state["layers.1.weight"], W.T)
    assert state["layers.1.weight"].shape == (16, 6) and state["layers.1.weight"].flags.c_contiguous
    assert "layers.1.bias" not in state  # no bias before batch norm
    assert state["layers.2.num_batches_tracked"].dtype == np.int64
    assert state["layers.2.num_batches_tracked"].shape == () and state["layers.2.num_batches_tracked"] == 12
    np.testing.assert_array_equal(state["offset"], prep.offset.astype(np.float32))


def test_the_files_hold_no_pickle(tmp_path):
    from safetensors import safe_open

    net, prep, _ = random_model("tanh", "softmax", 4, batchnorm=True)
    folder = _write(tmp_path / "m", net, prep, meta={"class_names": list("abcd")})
    header_len = int.from_bytes((folder / "model.safetensors").read_bytes()[:8], "little")
    json.loads((folder / "model.safetensors").read_bytes()[8 : 8 + header_len])  # plain JSON
    with safe_open(str(folder / "model.safetensors"), framework="np") as handle:
        assert handle.metadata()["format"] == "pt"
        assert json.loads(handle.metadata()["mlptrain"])["class_names"] == list("abcd")
    source = (folder / "model.py").read_text()
    assert "pickle" not in source and "torch.load" not in source
    compile(source, "model.py", "exec")


@pytest.mark.parametrize("output,n_out", OUTPUTS, ids=[f"{o}{n}" for o, n in OUTPUTS])
@pytest.mark.parametrize("batchnorm", [False, True], ids=["plain", "bn"])
@pytest.mark.parametrize("activation", ACTIVATIONS, ids=act_id)
def test_torch_matches_predict_proba(tmp_path, activation, batchnorm, output, n_out):
    pytest.importorskip("torch")
    net, prep, X = random_model(activation, output, n_out, batchnorm=batchnorm, dropout=0.2,
                                input_dropout=0.1)
    folder = _write(tmp_path / "m", net, prep)
    got = run_torch(folder, X)
    assert got.shape == (X.shape[0], n_out)
    assert max_error(got, reference(net, prep, X)) <= TOLERANCE


@pytest.mark.parametrize("activation", ACTIVATIONS, ids=act_id)
def test_float64_models_build_a_float64_module(tmp_path, activation):
    pytest.importorskip("torch")
    net, prep, X = random_model(activation, "softmax", 4, batchnorm=True, dtype="float64")
    folder = _write(tmp_path / "m", net, prep)
    X64 = X.astype(np.float64)
    assert max_error(run_torch(folder, X64), reference(net, prep, X64)) <= 1e-12


def test_strict_loading_rejects_a_state_with_a_missing_key(tmp_path):
    torch = pytest.importorskip("torch")
    from safetensors.torch import load_file

    net, prep, _ = random_model("relu", "softmax", 4, batchnorm=True)
    folder = _write(tmp_path / "m", net, prep)
    import importlib.util

    spec = importlib.util.spec_from_file_location("exported_strict", folder / "model.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    model = module.build()
    assert not model.training  # build() returns eval mode
    state = load_file(str(folder / "model.safetensors"))
    assert set(state) == set(model.state_dict())  # the exact key set PyTorch expects
    state.pop("layers.1.running_var")
    with pytest.raises(RuntimeError, match="layers.1.running_var"):
        model.load_state_dict(state, strict=True)
    assert torch.is_tensor(model.offset)
