"""ONNX export: onnxruntime reproduces mlptrain's predict_proba to <= 1e-5 on 1,000 random
rows for every activation, with and without batch norm, for softmax, sigmoid and identity
outputs; opset 17 / IR 8 by default; a dynamic batch; GELU as primitives below opset 20."""

from __future__ import annotations

import json

import numpy as np
import pytest
from export_helpers import (
    ACTIVATIONS,
    N_ROWS,
    OUTPUTS,
    TOLERANCE,
    act_id,
    max_error,
    random_model,
    reference,
    run_onnx,
)

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from mlptrain.errors import UserError  # noqa: E402
from mlptrain.export.onnx import build_onnx, ir_version_for  # noqa: E402


def _ops(model) -> set[str]:
    return {node.op_type for node in model.graph.node}


@pytest.mark.parametrize("output,n_out", OUTPUTS, ids=[f"{o}{n}" for o, n in OUTPUTS])
@pytest.mark.parametrize("batchnorm", [False, True], ids=["plain", "bn"])
@pytest.mark.parametrize("activation", ACTIVATIONS, ids=act_id)
def test_onnxruntime_matches_predict_proba(activation, batchnorm, output, n_out):
    net, prep, X = random_model(activation, output, n_out, batchnorm=batchnorm)
    model = build_onnx(net, prep)
    got = run_onnx(model.SerializeToString(), X)
    assert got.shape == (N_ROWS, n_out)
    assert max_error(got, reference(net, prep, X)) <= TOLERANCE


@pytest.mark.parametrize("batchnorm", [False, True], ids=["plain", "bn"])
@pytest.mark.parametrize("activation", ACTIVATIONS, ids=act_id)
def test_float64_models_export_as_double_and_match(activation, batchnorm):
    net, prep, X = random_model(activation, "softmax", 4, batchnorm=batchnorm, dtype="float64")
    model = build_onnx(net, prep)
    X64 = X.astype(np.float64)
    assert max_error(run_onnx(model.SerializeToString(), X64), reference(net, prep, X64)) <= 1e-12


@pytest.mark.parametrize("opset", [13, 17, 19, 20, 21])
def test_gelu_is_primitives_below_opset_20_and_the_gelu_operator_from_20(opset):
    net, prep, X = random_model("gelu", "softmax", 4, batchnorm=False)
    model = build_onnx(net, prep, opset=opset)
    assert ("Gelu" in _ops(model)) == (opset >= 20)
    assert model.opset_import[0].version == opset
    assert max_error(run_onnx(model.SerializeToString(), X), reference(net, prep, X)) <= TOLERANCE


def test_default_is_opset_17_ir_8_with_a_dynamic_batch_and_documented_names():
    net, prep, X = random_model("relu", "softmax", 4, batchnorm=True, dropout=0.3,
                                input_dropout=0.2)
    model = build_onnx(net, prep, meta={"class_names": ["a", "b", "c", "d"]})
    assert model.ir_version == 8
    assert [(o.domain, o.version) for o in model.opset_import] == [("", 17)]
    (inp,), (out,) = model.graph.input, model.graph.output
    assert inp.name == "features" and out.name == "probabilities"
    assert inp.type.tensor_type.shape.dim[0].dim_param == "batch"
    assert inp.type.tensor_type.shape.dim[1].dim_value == 6
    assert json.loads({p.key: p.value for p in model.metadata_props}["class_names"]) == list("abcd")
    assert not _ops(model) & {"Dropout", "RandomUniformLike"}  # inference graph only
    expected = reference(net, prep, X)
    data = model.SerializeToString()
    for rows in (slice(0, 1), slice(0, 7), slice(None)):  # any batch size
        assert max_error(run_onnx(data, X[rows]), expected[rows]) <= TOLERANCE


def test_batch_norm_is_exported_in_eval_form_with_the_running_statistics():
    net, prep, X = random_model("tanh", "identity", 2, batchnorm=True)
    model = build_onnx(net, prep)
    bn_nodes = [n for n in model.graph.node if n.op_type == "BatchNormalization"]
    assert len(bn_nodes) == 2
    inits = {t.name: onnx.numpy_helper.to_array(t) for t in model.graph.initializer}
    np.testing.assert_array_equal(inits[bn_nodes[0].input[3]], net.buffers()["layers.0.bn.running_mean"])
    np.testing.assert_array_equal(inits[bn_nodes[0].input[4]], net.buffers()["layers.0.bn.running_var"])
    assert model.graph.output[0].name == "values"


def test_scaling_is_in_the_graph_and_none_scaling_adds_no_node():
    from mlptrain.data import Preprocessor

    net, prep, X = random_model("relu", "softmax", 4, batchnorm=False)
    assert {"Sub", "Div"} <= _ops(build_onnx(net, prep))
    plain = Preprocessor.fit(X, "none")
    model = build_onnx(net, plain)
    assert not {"Sub", "Div"} & _ops(model)
    assert max_error(run_onnx(model.SerializeToString(), X), reference(net, plain, X)) <= TOLERANCE


def test_ir_version_follows_the_opset():
    assert ir_version_for(17) == 8 and ir_version_for(13) == 7
    assert ir_version_for(21) == 10


@pytest.mark.parametrize("opset", [12, 10_000, "17"])
def test_an_unsupported_opset_is_a_user_error_naming_the_range(opset):
    net, prep, _ = random_model("relu", "softmax", 4, batchnorm=False)
    with pytest.raises(UserError, match=r"--opset .* is not supported; choose 13\.\."):
        build_onnx(net, prep, opset=opset)
