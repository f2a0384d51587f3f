"""The MLP against a forward pass written here in NumPy (dense, batch norm with its running
statistics, activations, dropout masks drawn from the same seeded Generator), its gradients
against centered differences (mlptrain.gradcheck), and its monitoring, layout, state and error
messages computed by hand: written to kill mutmut's mutants of mlptrain/nn/network.py and
layers.py (see the README's contributing section)."""

from __future__ import annotations

import copy
import math
import pickle

import numpy as np
import pytest

from mlptrain.gradcheck import Problem, check_problem
from mlptrain.nn import MLP, get_loss
from mlptrain.nn.network import aligned_empty

X = np.random.default_rng(7).normal(size=(6, 3))  # (6, 3)


def _net(**kw):
    base = {"activation": ["tanh", "relu"], "output": "softmax", "dtype": "float64", "seed": 3}
    return MLP([3, 4, 5, 2], **{**base, **kw})


def _reference_forward(net, X, training, seed=None, bn_state=None):
    """logits of `net` (dense -> [bn] -> act -> [dropout]) written from its parameter arrays."""
    p = net.parameters()
    rng = np.random.default_rng(seed) if seed is not None else None
    acts = {"tanh": np.tanh, "relu": lambda z: np.maximum(z, 0), "sigmoid": lambda z: 1 / (1 + np.exp(-z)),
            "identity": lambda z: z}
    h = X.copy()
    cfg = net.get_config()
    if training and cfg["input_dropout"] > 0:
        keep = rng.random(h.shape) >= cfg["input_dropout"]
        h = h * keep / (1 - cfg["input_dropout"])
    names = cfg["activation"] if isinstance(cfg["activation"], list) else [cfg["activation"]] * (
        len(net.layer_sizes) - 2)
    drops = cfg["dropout"] if isinstance(cfg["dropout"], list) else [cfg["dropout"]] * len(names)
    for i, act in enumerate(names):
        z = h @ p[f"layers.{i}.weight"]
        if f"layers.{i}.bias" in p:
            z = z + p[f"layers.{i}.bias"]
        else:  # batch norm
            if training:
                mu, var = z.mean(axis=0), z.var(axis=0)
                n = len(z)
                rm, rv = bn_state[i]
                bn_state[i] = (0.9 * rm + 0.1 * mu, 0.9 * rv + 0.1 * var * n / (n - 1))
            else:
                mu, var = bn_state[i]
            z = (z - mu) / np.sqrt(var + 1e-5) * p[f"layers.{i}.bn.weight"] + p[f"layers.{i}.bn.bias"]
        h = acts[act](z)
        if training and drops[i] > 0:
            keep = rng.random(h.shape) >= drops[i]
            h = h * keep / (1 - drops[i])
    last = len(names)
    return h @ p[f"layers.{last}.weight"] + p[f"layers.{last}.bias"]


def test_forward_matches_the_reference_in_eval_and_training_mode_with_dropout():
    net = _net(dropout=[0.5, 0.25], input_dropout=0.2, bias_init=0.1)
    np.testing.assert_allclose(net.forward(X), _reference_forward(net, X, False), rtol=1e-12)
    logits = net.forward(X, training=True, rng=np.random.default_rng(11))
    np.testing.assert_allclose(logits, _reference_forward(net, X, True, seed=11), rtol=1e-12)
    assert np.all(net.parameters()["layers.0.bias"] == 0.1)


def test_batch_norm_forward_and_running_statistics_match_the_reference():
    net = _net(batchnorm=True, activation="tanh")
    net.parameters()["layers.0.bn.weight"][:] = [1.5, 0.5, 2.0, 1.0]
    net.parameters()["layers.1.bn.bias"][:] = [0.1, -0.2, 0.3, 0.0, 0.5]
    state = {0: (np.zeros(4), np.ones(4)), 1: (np.zeros(5), np.ones(5))}
    for k in range(2):  # two training steps move the running statistics
        Xk = X + k
        np.testing.assert_allclose(net.forward(Xk, training=True),
                                   _reference_forward(net, Xk, True, bn_state=state), rtol=1e-10)
    buffers = net.buffers()
    for i in (0, 1):
        np.testing.assert_allclose(buffers[f"layers.{i}.bn.running_mean"], state[i][0], rtol=1e-12)
        np.testing.assert_allclose(buffers[f"layers.{i}.bn.running_var"], state[i][1], rtol=1e-12)
    np.testing.assert_allclose(net.forward(X), _reference_forward(net, X, False, bn_state=state),
                               rtol=1e-10)


def test_batch_norm_of_a_fresh_net_has_unit_gamma_zero_beta_and_identity_running_stats():
    net = _net(batchnorm=True)
    p, b = net.parameters(), net.buffers()
    assert "layers.0.bias" not in p and "layers.2.bias" in p
    np.testing.assert_array_equal(p["layers.1.bn.weight"], np.ones(5))
    np.testing.assert_array_equal(p["layers.1.bn.bias"], np.zeros(5))
    np.testing.assert_array_equal(b["layers.0.bn.running_mean"], np.zeros(4))
    np.testing.assert_array_equal(b["layers.0.bn.running_var"], np.ones(4))


@pytest.mark.parametrize("kw,training", [
    ({"batchnorm": True, "dropout": 0.3, "input_dropout": 0.2}, True),
    ({"batchnorm": True}, False),  # eval-mode batch norm: running statistics are constants
    ({"activation": "sigmoid", "output": "sigmoid"}, True),
])
def test_gradients_of_every_tensor_match_finite_differences(kw, training):
    net = _net(**kw)
    if not training:
        for name, buf in net.buffers().items():
            buf[:] = np.linspace(0.5, 1.5, buf.size) if name.endswith("var") else 0.3
    output = kw.get("output", "softmax")
    loss = get_loss("cross_entropy" if output == "softmax" else "binary_cross_entropy", output=output)
    y = np.array([0, 1, 1, 0, 1, 0]) if output == "softmax" else np.array(
        [[0.0, 1.0], [1.0, 1.0], [0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    result = check_problem(Problem("net", net, X, y, loss, training=training, dropout_seed=5))
    assert sum(t.checked for t in result.tensors) > 40
    assert result.max_rel < 1e-6, [(t.name, t.max_rel) for t in result.tensors]


def test_gradients_are_those_of_a_hand_computed_one_layer_net():
    net = MLP([2, 1], output="identity", dtype="float64")
    net.parameters()["layers.0.weight"][:] = [[2.0], [-1.0]]
    net.parameters()["layers.0.bias"][:] = [0.5]
    x = np.array([[1.0, 3.0], [2.0, 0.0]])
    logits = net.forward(x)  # [[-0.5], [4.5]]
    np.testing.assert_allclose(logits, [[-0.5], [4.5]])
    grads = net.backward(np.array([[1.0], [2.0]]))
    np.testing.assert_allclose(net.gradients()["layers.0.weight"], [[5.0], [3.0]])  # x.T @ d
    np.testing.assert_allclose(net.gradients()["layers.0.bias"], [3.0])
    assert grads is net.grads


def test_a_larger_batch_after_a_smaller_one_gives_the_same_rows():
    net = _net(dropout=0.5)
    small = net.forward(X[:2]).copy()
    big = net.forward(np.vstack([X, X]))
    np.testing.assert_allclose(big[:2], small, rtol=1e-14)
    np.testing.assert_allclose(big[6:8], small, rtol=1e-14)
    np.testing.assert_allclose(net.forward(X[:2]), small, rtol=1e-14)


def test_float32_net_takes_float64_and_non_contiguous_input():
    net, reference = _net(dtype="float32"), _net()
    net.params[:] = reference.params
    expected = reference.forward(X)
    logits = net.forward(np.asfortranarray(X))
    assert logits.dtype == np.float32
    np.testing.assert_allclose(logits, expected, rtol=1e-5, atol=1e-6)


def test_predictions_by_hand():
    net = MLP([1, 2], output="softmax", dtype="float64")
    net.parameters()["layers.0.weight"][:] = [[1.0, -1.0]]
    net.parameters()["layers.0.bias"][:] = 0.0
    x = np.array([[math.log(3.0) / 2], [-1.0]])
    np.testing.assert_allclose(net.predict_proba(x)[0], [0.75, 0.25])
    np.testing.assert_array_equal(net.predict(x), [0, 1])
    sig = MLP([1, 1], output="sigmoid", dtype="float64")
    sig.parameters()["layers.0.weight"][:] = 1.0
    sig.parameters()["layers.0.bias"][:] = 0.0
    np.testing.assert_array_equal(sig.predict(np.array([[0.0], [-0.5], [2.0]])), [1, 0, 1])
    np.testing.assert_allclose(sig.predict_proba(np.array([[0.0]])), [[0.5]])
    two = MLP([1, 2], output="sigmoid", dtype="float64")
    two.parameters()["layers.0.weight"][:] = [[1.0, -1.0]]
    two.parameters()["layers.0.bias"][:] = 0.0
    np.testing.assert_array_equal(two.predict(np.array([[1.0]])), [[1, 0]])
    reg = MLP([1, 1], output="identity", dtype="float64")
    reg.parameters()["layers.0.weight"][:] = 2.0
    reg.parameters()["layers.0.bias"][:] = 1.0
    np.testing.assert_allclose(reg.predict(np.array([[1.0], [2.0]])), [3.0, 5.0])
    wide = MLP([1, 2], output="identity", dtype="float64")
    assert wide.predict(np.array([[1.0]])).shape == (1, 2)


def test_loss_and_grads_returns_copies_and_passes_weights():
    net = _net()
    y = np.array([0, 1, 1, 0, 1, 0])
    value, grads = net.loss_and_grads(X, y, class_weight=[1.0, 3.0], training=False)
    loss = get_loss("cross_entropy", class_weight=[1.0, 3.0])
    assert value == pytest.approx(loss.value(_reference_forward(net, X, False), y), rel=1e-12)
    assert set(grads) == set(net.parameters())
    net.grads[:] = 0
    assert any(np.any(g != 0) for g in grads.values())
    with pytest.raises(ValueError) as info:
        net.loss_and_grads(X, y, loss="mse")
    assert str(info.value) == "loss 'mse' is not compatible with output 'softmax'"


def test_layout_decay_mask_and_alignment():
    net = _net(batchnorm=[True, False])
    names = list(net.parameters())
    assert names == ["layers.0.weight", "layers.0.bn.weight", "layers.0.bn.bias",
                     "layers.1.weight", "layers.1.bias", "layers.2.weight", "layers.2.bias"]
    expected_mask = np.concatenate([np.ones(12), np.zeros(8), np.ones(20), np.zeros(5),
                                    np.ones(10), np.zeros(2)])
    np.testing.assert_array_equal(net.decay_mask, expected_mask)
    assert net.n_params == 57 == net.params.size == net.grads.size
    assert net.params.ctypes.data % 64 == 0 and net.grads.ctypes.data % 64 == 0
    for n, dtype in ((1, np.float32), (7, np.float64), (13, np.float32)):
        a = aligned_empty(n, dtype)
        assert a.shape == (n,) and a.dtype == dtype and a.ctypes.data % 64 == 0
    assert np.shares_memory(net.parameters()["layers.1.weight"], net.params)
    assert np.shares_memory(net.gradients()["layers.1.weight"], net.grads)


def test_monitoring_by_hand():
    net = MLP([2, 3, 2, 1], activation=["relu", "tanh"], output="sigmoid", dtype="float64",
              dropout=[0.5, 0.0], batchnorm=[False, True])
    rows = net.layer_summaries()
    assert rows == [
        {"name": "layers.0", "fan_in": 2, "fan_out": 3, "activation": "relu", "batchnorm": False,
         "dropout": 0.5, "n_params": 9, "flops": 12},
        {"name": "layers.1", "fan_in": 3, "fan_out": 2, "activation": "tanh", "batchnorm": True,
         "dropout": 0.0, "n_params": 10, "flops": 12},
        {"name": "layers.2", "fan_in": 2, "fan_out": 1, "activation": "sigmoid",
         "batchnorm": False, "dropout": 0.0, "n_params": 3, "flops": 4},
    ]
    p = net.parameters()
    p["layers.0.weight"][:] = [[1.0, -1.0, 0.0], [0.0, 0.0, -1.0]]
    p["layers.0.bias"][:] = 0.0
    x = np.array([[1.0, 1.0], [2.0, 0.5]])  # relu rows: [1, 0, 0], [2, 0, 0]: units 2, 3 dead
    net.forward(x)
    stats = net.activation_stats()
    assert stats[0]["name"] == "layers.0" and stats[0]["activation"] == "relu"
    assert stats[0]["mean"] == pytest.approx(0.5) and stats[0]["std"] == pytest.approx(
        np.std([1, 0, 0, 2, 0, 0]))
    assert stats[0]["dead_fraction"] == pytest.approx(2 / 3)
    assert stats[0]["saturated_fraction"] is None
    tanh_a = net.hidden_activations()[1]
    assert stats[1]["saturated_fraction"] == pytest.approx(np.mean(np.abs(tanh_a) > 0.97))
    assert stats[1]["dead_fraction"] is None
    norms = net.layer_norms()
    assert norms[0] == {"name": "layers.0", "weight_norm": pytest.approx(math.sqrt(3)),
                        "grad_norm": 0.0}
    assert [n["name"] for n in norms] == ["layers.0", "layers.1", "layers.2"]
    assert repr(net) == "MLP([2, 3, 2, 1], output='sigmoid', dtype='float64')"


def test_saturation_of_sigmoid_units_by_hand():
    net = MLP([1, 2, 1], activation="sigmoid", output="identity", dtype="float64")
    net.parameters()["layers.0.weight"][:] = [[10.0, 0.0]]
    net.parameters()["layers.0.bias"][:] = 0.0
    net.forward(np.array([[1.0], [-1.0], [0.0], [0.5]]))  # unit 0: 0.99995, 4.5e-5, 0.5, 0.993
    assert net.activation_stats()[0]["saturated_fraction"] == pytest.approx(3 / 8)
    leaky = MLP([1, 2, 1], activation="leaky_relu", dtype="float64")
    leaky.parameters()["layers.0.weight"][:] = [[1.0, -1.0]]
    leaky.parameters()["layers.0.bias"][:] = 0.0
    leaky.forward(np.array([[1.0], [2.0]]))
    assert leaky.activation_stats()[0]["dead_fraction"] == pytest.approx(0.5)


def test_state_config_and_pickle_round_trips():
    net = _net(batchnorm=True, dropout=[0.1, 0.2], init={"name": "normal", "std": 0.3})
    net.forward(X, training=True, rng=np.random.default_rng(0))
    config = net.get_config()
    assert config == {"layer_sizes": [3, 4, 5, 2], "activation": ["tanh", "relu"],
                      "output": "softmax", "init": {"name": "normal", "std": 0.3},
                      "bias_init": 0.0, "dropout": [0.1, 0.2], "batchnorm": True, "seed": 3,
                      "dtype": "float64", "input_dropout": 0.0}
    config["layer_sizes"].append(9)  # a deep copy
    assert net.get_config()["layer_sizes"] == [3, 4, 5, 2]
    rebuilt = MLP.from_config(net.get_config())
    rebuilt.load_state_arrays(net.state_arrays())
    np.testing.assert_array_equal(rebuilt.forward(X), net.forward(X))
    clone = pickle.loads(pickle.dumps(net))
    np.testing.assert_array_equal(clone.forward(X), net.forward(X))
    deep = copy.deepcopy(net)
    deep.params[:] = 0  # an update of the flat vector reaches the layers
    assert np.all(deep.forward(X) == 0)


def _message(call, kind=ValueError) -> str:
    with pytest.raises(kind) as info:
        call()
    return str(info.value)


def test_errors_name_what_is_wrong():
    net = _net(batchnorm=True)
    state = net.state_arrays()
    assert _message(lambda: net.load_state_arrays(
        {k: v for k, v in state.items() if k != "layers.0.bn.running_var"})) == (
        "state is missing array 'layers.0.bn.running_var'")
    assert _message(lambda: net.load_state_arrays({**state, "layers.9.weight": np.ones(1)})) == (
        "state has unexpected array 'layers.9.weight'")
    assert _message(lambda: net.load_state_arrays({**state, "layers.2.bias": np.ones(3)})) == (
        "array 'layers.2.bias' has shape (3,), expected (2,)")
    assert _message(lambda: net.load_state_arrays(
        {**state, "layers.2.bias": np.ones(2, np.float32)})) == (
        "array 'layers.2.bias' has dtype float32, expected float64")
    before = net.params.copy()
    with pytest.raises(ValueError):
        net.load_state_arrays({**state, "layers.0.weight": np.zeros(12).reshape(3, 4),
                               "layers.2.bias": np.ones(3)})
    np.testing.assert_array_equal(net.params, before)  # nothing copied before every check passed
    assert _message(lambda: MLP.from_config({"layer_sizes": [2, 1], "width": 3})) == (
        "unknown MLP config key 'width'")
    assert _message(lambda: MLP.from_config({"output": "softmax"})) == (
        "MLP config needs 'layer_sizes'")
    assert _message(lambda: MLP([3])) == "layer_sizes must be >= 2 positive ints, got [3]"
    assert _message(lambda: MLP([3, 0])) == "layer_sizes must be >= 2 positive ints, got [3, 0]"
    assert _message(lambda: MLP([3, 2.0])) == "layer_sizes must be >= 2 positive ints, got [3, 2.0]"
    assert _message(lambda: MLP([3, 2], output="tanh")) == (
        "unknown output 'tanh'; choose one of ['identity', 'sigmoid', 'softmax']")
    assert _message(lambda: MLP([3, 2], dtype="float16")) == (
        "dtype must be 'float32' or 'float64', got 'float16'")
    assert _message(lambda: MLP([3, 2], seed=1.5)) == "seed must be an int, got 1.5"
    assert _message(lambda: MLP([3, 4, 2], dropout=[0.1, 0.2])) == (
        "dropout list has 2 entries for 1 hidden layers")
    assert _message(lambda: MLP([3, 4, 2], activation=["tanh", "relu"])) == (
        "activation list has 2 entries for 1 hidden layers")
    assert _message(lambda: net.forward(X[:, :2])) == (
        "X must have shape (batch >= 1, 3), got (6, 2)")
    assert _message(lambda: net.forward(X[:0])) == "X must have shape (batch >= 1, 3), got (0, 3)"
    assert _message(lambda: net.forward(X[0])) == "X must have shape (batch >= 1, 3), got (3,)"
    fresh = _net()
    assert _message(lambda: fresh.backward(np.zeros((6, 2))), RuntimeError) == (
        "backward() needs a forward() first")
    assert _message(fresh.hidden_activations, RuntimeError) == (
        "hidden_activations() needs a forward() first")
    fresh.forward(X)
    assert _message(lambda: fresh.backward(np.zeros((5, 2)))) == (
        "dlogits must have shape (6, 2), got (5, 2)")
    assert _message(lambda: net.forward(X[:1], training=True)) == (
        "batch norm in training mode needs a batch of at least 2, got 1")
    drop = _net(dropout=0.5)
    assert _message(lambda: drop.forward(X, training=True)) == (
        "dropout in training mode needs rng=np.random.Generator, got None")
    assert _message(lambda: _net(dropout=1.0)) == "dropout must be in [0, 1), got 1.0"
    pickled = net.__getstate__()
    pickled["params"] = pickled["params"][:-1]
    assert _message(lambda: MLP.__new__(MLP).__setstate__(pickled)).startswith(
        "pickled MLP array has (61,)/float64, the config needs (62,)/float64")


def test_dropout_zero_is_no_layer_and_eval_mode_needs_no_rng():
    net = _net(dropout=0.0, input_dropout=0.0)
    np.testing.assert_array_equal(net.forward(X, training=True), net.forward(X))
    assert all(s["dropout"] == 0.0 for s in net.layer_summaries())


def test_dead_and_saturated_fractions_at_their_thresholds():
    net = MLP([1, 2, 1], activation="relu", output="identity", dtype="float64")
    net.parameters()["layers.0.weight"][:] = [[0.5, -1.0]]
    net.parameters()["layers.0.bias"][:] = 0.0
    net.forward(np.array([[1.0], [0.2]]))  # unit 0: 0.5, 0.1 (alive, below 1); unit 1 dead
    assert net.activation_stats()[0]["dead_fraction"] == 0.5
    for activation, values, expected in (
            ("sigmoid", [[0.03, 0.97], [0.0299, 0.9701]], 0.5),  # strict: 0.03 and 0.97 are not
            ("tanh", [[0.97, -0.97], [0.9701, -0.9701]], 0.5)):
        net = MLP([1, 2, 1], activation=activation, output="identity", dtype="float64")
        net.forward(np.zeros((2, 1)))
        net.hidden_activations()[0][:] = values  # the cached activations the stats read
        assert net.activation_stats()[0]["saturated_fraction"] == expected, activation


def test_predict_runs_in_eval_mode_and_sigmoid_classes_are_integers():
    net = _net(dropout=0.5, batchnorm=True, output="sigmoid")
    before = {k: v.copy() for k, v in net.buffers().items()}
    expected = (net.forward(X) >= 0).astype(np.int64)
    predicted = net.predict(X)  # no rng: dropout off; batch norm uses (and keeps) running stats
    assert predicted.dtype == np.int64
    np.testing.assert_array_equal(predicted, expected)
    np.testing.assert_allclose(net.predict_proba(X), 1 / (1 + np.exp(-net.forward(X))))
    for k, v in net.buffers().items():
        np.testing.assert_array_equal(v, before[k])


def test_loss_and_grads_uses_the_networks_output_and_the_sample_weights():
    """A sigmoid-output network with MSE (whose default output is identity) and per-sample
    weights: the loss is sum_i w_i mean_k (sigmoid(z_ik) - y_ik)^2 / sum_i w_i, by hand."""
    net = MLP([3, 4, 2], activation="tanh", output="sigmoid", dtype="float64", seed=0)
    X = np.random.default_rng(1).normal(size=(5, 3))  # (5, 3)
    y = np.random.default_rng(2).uniform(size=(5, 2))  # (5, 2)
    w = np.array([1.0, 2.0, 0.5, 0.0, 3.0])  # (5,)
    value, grads = net.loss_and_grads(X, y, loss="mse", sample_weight=w, training=False)
    yhat = 1.0 / (1.0 + np.exp(-net.forward(X)))  # (5, 2)
    expected = float(np.sum(w[:, None] * (yhat - y) ** 2) / (w.sum() * 2))
    assert value == pytest.approx(expected, rel=1e-14)
    assert set(grads) == set(net.parameters())


def test_uniform_init_refuses_a_zero_limit():
    from mlptrain.nn.initializers import Uniform

    with pytest.raises(ValueError, match="uniform init limit must be > 0, got 0"):
        Uniform(0)


def test_a_float32_network_keeps_every_buffer_and_output_in_float32():
    """Input dropout, batch norm and dropout in training mode: the workspace, the outputs and
    the gradients stay float32 (a float64 buffer would silently widen the arithmetic)."""
    net = MLP([3, 5, 4, 2], activation="elu", dropout=0.3, batchnorm=True, input_dropout=0.2,
              dtype="float32", seed=0)
    X = np.random.default_rng(1).normal(size=(6, 3)).astype(np.float32)  # (6, 3)
    logits = net.forward(X, training=True, rng=np.random.default_rng(2))
    assert logits.dtype == np.float32
    net.backward(np.ones_like(logits))
    assert all(g.dtype == np.float32 for g in net.gradients().values())
    buffers = [a for ws in net._ws for a in ws.values() if a is not None] + list(net._in_ws)
    assert buffers and all(a.dtype == np.float32 for a in buffers)
    assert all(a.dtype == np.float32 for a in net.hidden_activations())


def test_a_batch_of_the_same_size_reuses_the_workspace():
    net = MLP([3, 4, 2], dtype="float64", seed=0)
    X = np.ones((5, 3))
    net.forward(X)
    first = net._ws[0]["z"]
    net.forward(X + 1)
    assert net._ws[0]["z"] is first


def test_float64_input_to_a_float32_network_is_cast_before_the_arithmetic():
    """The same bits as feeding the float32 copy: the products are float32 products."""
    net = MLP([7, 16, 3], dtype="float32", seed=0)
    X = np.random.default_rng(3).normal(size=(9, 7))  # (9, 7) float64
    np.testing.assert_array_equal(net.forward(X), net.forward(X.astype(np.float32)))
    np.testing.assert_array_equal(net.forward(np.asfortranarray(X.astype(np.float32))),
                                  net.forward(X.astype(np.float32)))


def test_default_seed_is_zero_and_the_config_keeps_scalar_settings_as_given():
    np.testing.assert_array_equal(MLP([3, 4, 2]).params, MLP([3, 4, 2], seed=0).params)
    assert not np.array_equal(MLP([3, 4, 2]).params, MLP([3, 4, 2], seed=1).params)
    config = MLP([3, 4, 4, 2], dropout=0.5, batchnorm=True).get_config()
    assert (config["dropout"], config["batchnorm"], config["seed"]) == (0.5, True, 0)
    listed = MLP([3, 4, 4, 2], dropout=[0.5, 0.0], batchnorm=[True, False]).get_config()
    assert (listed["dropout"], listed["batchnorm"]) == ([0.5, 0.0], [True, False])


def test_a_per_layer_list_of_the_wrong_length_names_the_setting():
    with pytest.raises(ValueError, match="^batchnorm list has 1 entries for 2 hidden layers$"):
        MLP([3, 4, 4, 2], batchnorm=[True])


@pytest.mark.parametrize("training", [True, False])
def test_batch_norm_gradients_with_a_scale_and_shift_away_from_their_init(training):
    """gamma = 1 and beta = 0 at init hide a gamma missing from (or dividing) the backward:
    check with gamma in [0.5, 2] and beta != 0 (eval mode: set running statistics)."""
    net = MLP([3, 5, 4, 2], activation="tanh", batchnorm=True, dtype="float64", seed=3)
    params = net.parameters()
    for name in ("layers.0.bn.weight", "layers.1.bn.weight"):
        params[name][:] = np.linspace(0.5, 2.0, params[name].size)
    for name in ("layers.0.bn.bias", "layers.1.bn.bias"):
        params[name][:] = np.linspace(-0.4, 0.7, params[name].size)
    if not training:
        for name, buf in net.buffers().items():
            buf[:] = np.linspace(0.5, 1.5, buf.size) if name.endswith("var") else 0.3
    y = np.array([0, 1, 1, 0, 1, 0])
    result = check_problem(Problem("bn", net, X, y, get_loss("cross_entropy"), training=training))
    assert sum(t.checked for t in result.tensors) == net.n_params
    assert result.max_rel < 1e-6, [(t.name, t.max_rel) for t in result.tensors]


def test_batch_norm_trains_on_a_batch_of_two():
    net = MLP([3, 4, 2], batchnorm=True, dtype="float64", seed=0)
    logits = net.forward(X[:2], training=True)
    assert logits.shape == (2, 2) and np.isfinite(logits).all()
    with pytest.raises(ValueError, match="at least 2"):
        net.forward(X[:1], training=True)
