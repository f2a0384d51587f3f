"""A trained MLP as one ONNX graph: saved preprocessing, every layer, the output activation.

The graph, for raw features ``features (batch, n_features)`` in the model's dtype::

    x = (features - offset) / divisor                    # the saved scaling (skipped for none)
    per hidden layer:  z = x @ W + b                     # MatMul, Add (no Add before batch norm)
                       z = BatchNormalization(z)         # eval form: running mean and variance
                       x = act(z)                        # Relu, Tanh, Sigmoid, LeakyRelu, Elu,
                                                         # Softplus, Gelu
    output  = softmax | sigmoid | identity(x @ W + b)    # named "probabilities" or "values"

Inference only: dropout is the identity. The batch dimension is symbolic (``batch``). Opset 17
with IR version 8 is the default: older onnxruntime releases reject IR versions newer than
they know, and 17 has every operator used here. Below opset 20 (which added ``Gelu``) GELU is
written with primitives, ``0.5 z (1 + tanh(sqrt(2/pi) (z + 0.044715 z^3)))``, mlptrain's tanh
form. onnxruntime has only float32 kernels for LeakyRelu, Elu and Softplus, so a float64 model
writes them with primitives too: ``max(z, slope z)``, ``relu(z) + alpha (exp(min(z, 0)) - 1)``
and ``relu(z) + log(1 + exp(-|z|))``. The model's metadata holds the task, the class names and the feature names as JSON.

Needs the ``onnx`` package (``pip install -e ".[onnx]"``), imported by this module only.
"""

from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING

import numpy as np

from mlptrain.errors import UserError

if TYPE_CHECKING:
    from onnx import NodeProto, TensorProto

DEFAULT_OPSET = 17
MIN_OPSET = 13  # Softmax over the last axis and BatchNormalization's eval signature
GELU_OPSET = 20  # the first opset with a Gelu operator
INPUT_NAME = "features"


def output_name(output: str) -> str:
    """The graph output's name: ``probabilities`` (softmax, sigmoid) or ``values`` (identity)."""
    return "values" if output == "identity" else "probabilities"


def supported_opsets() -> range:
    """Opsets this exporter writes: 13 up to the newest the installed onnx knows."""
    onnx = _onnx()
    return range(MIN_OPSET, onnx.defs.onnx_opset_version() + 1)


def ir_version_for(opset: int) -> int:
    """The oldest IR version whose onnx release supports ``opset`` (17 -> 8): the newest
    consumers can read, the oldest still accept."""
    from onnx.helper import VERSION_TABLE

    return min(row[1] for row in VERSION_TABLE if row[2] >= opset)


class _Graph:
    """Collects nodes and initializers; ``name()`` hands out unique value names."""

    def __init__(self, dtype: np.dtype):
        self.dtype, self._n = dtype, 0
        self.nodes: list[NodeProto] = []
        self.inits: list[TensorProto] = []  # the constants

    def name(self, stem: str) -> str:
        self._n += 1
        return f"{stem}_{self._n}"

    def const(self, stem: str, value) -> str:
        from onnx import numpy_helper

        name = self.name(stem)
        self.inits.append(numpy_helper.from_array(np.asarray(value, dtype=self.dtype), name))
        return name

    def op(self, op_type: str, inputs: list[str], out: str | None = None, **attrs) -> str:
        from onnx import helper

        out = out or self.name(op_type.lower())
        self.nodes.append(helper.make_node(op_type, inputs, [out], name=out, **attrs))
        return out


def _gelu_primitives(g: _Graph, z: str) -> str:
    """``0.5 z (1 + tanh(c (z + k z^3)))`` with c = sqrt(2/pi), k = 0.044715."""
    cube = g.op("Mul", [g.op("Mul", [z, z]), z])
    inner = g.op("Add", [z, g.op("Mul", [cube, g.const("gelu_k", 0.044715)])])
    t = g.op("Tanh", [g.op("Mul", [inner, g.const("gelu_c", math.sqrt(2.0 / math.pi))])])
    half_z = g.op("Mul", [z, g.const("half", 0.5)])
    return g.op("Mul", [half_z, g.op("Add", [t, g.const("one", 1.0)])])


def _activation(g: _Graph, act, z: str, opset: int) -> str:
    name = act.name
    if name == "identity":
        return z
    simple = {"relu": "Relu", "tanh": "Tanh", "sigmoid": "Sigmoid"}
    if name in simple:
        return g.op(simple[name], [z])
    if name == "gelu":
        if opset >= GELU_OPSET:
            return g.op("Gelu", [z], approximate="tanh")
        return _gelu_primitives(g, z)
    if g.dtype == np.float32:  # onnxruntime has float32 kernels only for these three
        named = {"leaky_relu": ("LeakyRelu", "negative_slope"), "elu": ("Elu", "alpha"),
                 "softplus": ("Softplus", None)}
        op, attr = named[name]
        return g.op(op, [z], **({"alpha": getattr(act, attr)} if attr else {}))
    relu = g.op("Relu", [z])
    if name == "leaky_relu":  # max(z, slope z), slope in [0, 1)
        return g.op("Max", [z, g.op("Mul", [z, g.const("slope", act.negative_slope)])])
    if name == "elu":  # relu(z) + alpha (exp(min(z, 0)) - 1)
        neg = g.op("Sub", [g.op("Exp", [g.op("Min", [z, g.const("zero", 0.0)])]),
                           g.const("one", 1.0)])
        return g.op("Add", [relu, g.op("Mul", [neg, g.const("alpha", act.alpha)])])
    if name == "softplus":  # relu(z) + log(1 + exp(-|z|)), stable for any z
        tail = g.op("Exp", [g.op("Neg", [g.op("Abs", [z])])])
        return g.op("Add", [relu, g.op("Log", [g.op("Add", [tail, g.const("one", 1.0)])])])
    raise UserError(f"activation {name!r} has no ONNX export")


def _dense(g: _Graph, dense, x: str, stem: str) -> str:
    z = g.op("MatMul", [x, g.const(f"{stem}.weight", dense.W)])  # (batch, fan_out)
    return g.op("Add", [z, g.const(f"{stem}.bias", dense.b)]) if dense.use_bias else z


def _preprocess(g: _Graph, preprocessor, x: str) -> str:
    """mlptrain's transform in the model dtype: subtract a non-zero offset, divide."""
    if preprocessor is None or preprocessor.scale == "none":
        return x
    if preprocessor.offset.any():
        x = g.op("Sub", [x, g.const("offset", preprocessor.offset)])
    return g.op("Div", [x, g.const("divisor", preprocessor.divisor)])


def build_onnx(net, preprocessor=None, *, opset: int = DEFAULT_OPSET, meta: dict | None = None):
    """The ``onnx.ModelProto`` of ``net`` (and its fitted ``preprocessor``), checked."""
    onnx = _onnx()
    from onnx import TensorProto, helper

    check_opset(opset)
    g = _Graph(net.dtype)
    x = _preprocess(g, preprocessor, INPUT_NAME)
    for i, hl in enumerate(net.hidden):
        z = _dense(g, hl.dense, x, f"layers.{i}")
        if hl.bn is not None:
            bn, stem = hl.bn, f"layers.{i}.bn"
            z = g.op("BatchNormalization", [z, g.const(f"{stem}.weight", bn.gamma),
                                            g.const(f"{stem}.bias", bn.beta),
                                            g.const(f"{stem}.running_mean", bn.running_mean),
                                            g.const(f"{stem}.running_var", bn.running_var)],
                     epsilon=bn.eps)
        x = _activation(g, hl.act, z, opset)
    logits = _dense(g, net.out_dense, x, f"layers.{len(net.hidden)}")
    out = output_name(net.output_name)
    scaling = getattr(preprocessor, "target_scaling", None)
    if scaling is not None:  # regression on scaled targets: back to the targets' units
        y = g.op("Sigmoid", [logits]) if net.output_name == "sigmoid" else logits
        y = g.op("Mul", [y, g.const("target_divisor", scaling.divisor)])
        g.op("Add", [y, g.const("target_offset", scaling.offset)], out=out)
    elif net.output_name == "softmax":
        g.op("Softmax", [logits], out=out, axis=-1)
    elif net.output_name == "sigmoid":
        g.op("Sigmoid", [logits], out=out)
    else:
        g.op("Identity", [logits], out=out)
    elem = TensorProto.DOUBLE if net.dtype == np.float64 else TensorProto.FLOAT
    graph = helper.make_graph(
        g.nodes, "mlptrain",
        [helper.make_tensor_value_info(INPUT_NAME, elem, ["batch", net.layer_sizes[0]])],
        [helper.make_tensor_value_info(out, elem, ["batch", net.layer_sizes[-1]])],
        initializer=g.inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)],
                              ir_version=ir_version_for(opset), producer_name="mlptrain")
    for key, value in (meta or {}).items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, json.dumps(value)
    onnx.checker.check_model(model, full_check=True)
    return model


def check_opset(opset: int) -> None:
    known = supported_opsets()
    if not isinstance(opset, int) or opset not in known:
        raise UserError(f"--opset {opset!r} is not supported; choose {known.start}..{known.stop - 1} "
                        f"(default {DEFAULT_OPSET})")


def _onnx():
    try:
        import onnx
    except ImportError:
        raise UserError("exporting to ONNX needs the onnx package",
                        hint='pip install "mlptrain[onnx]"') from None
    return onnx
