"""The MLP: layout (flat views), batch norm and dropout semantics, the float32 path, state and
config round trips, monitoring helpers."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mlptrain.nn import MLP, get_loss


def _data(n=8, d=4, k=3, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, d)).astype(dtype), rng.integers(0, k, n)


def test_parameters_are_views_of_one_aligned_flat_buffer():
    net = MLP([4, 5, 3], seed=0)
    p = net.parameters()
    assert list(p) == ["layers.0.weight", "layers.0.bias", "layers.1.weight", "layers.1.bias"]
    assert p["layers.0.weight"].shape == (4, 5) and p["layers.1.bias"].shape == (3,)
    assert net.params.ctypes.data % 64 == 0 and net.grads.ctypes.data % 64 == 0
    p["layers.1.bias"][:] = 7.0
    assert np.all(net.params[-3:] == 7.0)
    X, _ = _data()
    assert np.all(net.forward(X) == net.forward(X))  # deterministic
    logits = net.forward(X).copy()
    p["layers.1.bias"][:] += 1.0  # mutating the view changes the model
    np.testing.assert_allclose(net.forward(X), logits + 1.0, rtol=1e-6)


def test_decay_mask_covers_dense_weights_only():
    net = MLP([3, 4, 2], batchnorm=True, seed=0)
    mask = dict(zip(net.parameters(), np.split(net.decay_mask, np.cumsum(
        [v.size for v in net.parameters().values()])[:-1]), strict=True))
    assert set(mask) == {"layers.0.weight", "layers.0.bn.weight", "layers.0.bn.bias",
                         "layers.1.weight", "layers.1.bias"}
    for name, m in mask.items():
        assert np.all(m == (1.0 if name.endswith("0.weight") or name.endswith("1.weight") else 0.0))


def test_zero_hidden_layers_is_logistic_regression_with_gradient_a_minus_y_times_x():
    X, _ = _data(6, 3)
    y = np.array([1.0, 0, 1, 1, 0, 0])
    net = MLP([3, 1], output="sigmoid", seed=0, dtype="float64")
    W, b = net.parameters()["layers.0.weight"], net.parameters()["layers.0.bias"]
    a = 1 / (1 + np.exp(-(X @ W + b).ravel()))
    loss, g = net.loss_and_grads(X, y, loss="binary_cross_entropy")
    assert loss == pytest.approx(np.mean(-y * np.log(a) - (1 - y) * np.log(1 - a)))
    np.testing.assert_allclose(g["layers.0.weight"].ravel(), X.T @ (a - y) / 6, rtol=1e-12)
    np.testing.assert_allclose(g["layers.0.bias"], [np.mean(a - y)], rtol=1e-12)


def test_batchnorm_running_stats_follow_pytorch_formulas():
    X, _ = _data(5, 3)
    net = MLP([3, 4, 2], activation="relu", batchnorm=True, seed=0, dtype="float64")
    W = net.parameters()["layers.0.weight"]
    rm, rv = net.buffers()["layers.0.bn.running_mean"], net.buffers()["layers.0.bn.running_var"]
    expected_m, expected_v = np.zeros(4), np.ones(4)
    for _ in range(3):
        net.forward(X, training=True)
        z = X @ W
        expected_m = 0.9 * expected_m + 0.1 * z.mean(0)
        expected_v = 0.9 * expected_v + 0.1 * z.var(0, ddof=1)  # unbiased for the running var
    np.testing.assert_allclose(rm, expected_m, rtol=1e-12)
    np.testing.assert_allclose(rv, expected_v, rtol=1e-12)
    # train mode normalizes with the biased batch variance
    net.forward(X, training=True)
    z = X @ W
    a = np.maximum((z - z.mean(0)) / np.sqrt(z.var(0) + 1e-5), 0)
    np.testing.assert_allclose(net.hidden_activations()[0], a, rtol=1e-10, atol=1e-12)
    # eval mode uses the running statistics and does not change them
    before = (rm.copy(), rv.copy())
    net.forward(X, training=False)
    a_eval = np.maximum((z - rm) / np.sqrt(rv + 1e-5), 0)
    np.testing.assert_allclose(net.hidden_activations()[0], a_eval, rtol=1e-10, atol=1e-12)
    np.testing.assert_array_equal(rm, before[0])
    np.testing.assert_array_equal(rv, before[1])


def test_batchnorm_training_needs_two_samples():
    net = MLP([3, 4, 2], batchnorm=True, seed=0)
    with pytest.raises(ValueError, match="at least 2, got 1"):
        net.forward(np.zeros((1, 3)), training=True)
    net.forward(np.zeros((1, 3)), training=False)  # eval is fine


def test_dropout_is_identity_at_eval_and_preserves_the_mean_in_training():
    X = np.ones((2000, 50))
    net = MLP([50, 200, 2], activation="relu", dropout=0.4, seed=0, dtype="float64")
    eval_logits = net.forward(X, training=False).copy()
    ref = MLP([50, 200, 2], activation="relu", seed=0, dtype="float64")
    np.testing.assert_array_equal(eval_logits, ref.forward(X))
    a = net.hidden_activations()[0].copy()
    train_logits = net.forward(X, training=True, rng=np.random.default_rng(0))
    mask, drop = net._ws[0]["mask"][:2000], net._ws[0]["drop"][:2000]
    kept = mask != 0
    assert kept.mean() == pytest.approx(0.6, abs=0.01)  # 400k draws: std 0.0008
    np.testing.assert_allclose(mask[kept], 1 / 0.6, rtol=1e-12)
    np.testing.assert_allclose(drop, a * mask, rtol=1e-12)
    assert drop.mean() == pytest.approx(a.mean(), rel=0.01)  # inverted scaling keeps the mean
    # inverted scaling: the expected logits equal the eval logits (sample mean over 2000 rows)
    np.testing.assert_allclose(train_logits.mean(0), eval_logits.mean(0), atol=0.05 * np.abs(eval_logits).max() + 0.02)


def test_dropout_mask_is_reproduced_by_a_same_seed_generator_and_rng_is_required():
    X, y = _data()
    net = MLP([4, 6, 3], dropout=0.5, seed=0, dtype="float64")
    l1, g1 = net.loss_and_grads(X, y, rng=np.random.default_rng(5))
    l2, g2 = net.loss_and_grads(X, y, rng=np.random.default_rng(5))
    l3, _ = net.loss_and_grads(X, y, rng=np.random.default_rng(6))
    assert l1 == l2 and l1 != l3
    np.testing.assert_array_equal(g1["layers.0.weight"], g2["layers.0.weight"])
    with pytest.raises(ValueError, match="needs rng"):
        net.forward(X, training=True)


@pytest.mark.parametrize("loss,output", [("cross_entropy", "softmax"), ("binary_cross_entropy", "sigmoid"),
                                          ("mse", "identity"), ("huber", "sigmoid")])
def test_float32_path_produces_only_float32_arrays(loss, output):
    X, y = _data(dtype=np.float32)
    if loss != "cross_entropy":
        y = np.random.default_rng(0).random((8, 3))
    net = MLP([4, 5, 5, 3], activation="gelu", output=output, dropout=0.2, batchnorm=[True, False], seed=0)
    logits = net.forward(X, training=True, rng=np.random.default_rng(0))
    lf = get_loss(loss, output=output, **({"class_weight": [1.0, 2.0, 1.0]} if loss == "cross_entropy" else {}))
    value, dlogits = lf.value_and_grad(logits, y, sample_weight=np.ones(8))
    net.backward(dlogits)
    assert isinstance(value, float)
    for arr in (logits, dlogits, net.params, net.grads, net.decay_mask, *net.buffers().values(),
                *net.hidden_activations(), net.output(logits), net.predict_proba(X)):
        assert arr.dtype == np.float32


def test_forward_does_not_copy_a_ready_float32_input_and_reuses_its_buffers():
    X, _ = _data(dtype=np.float32)
    net = MLP([4, 5, 3], seed=0)
    out1 = net.forward(X)
    assert net.hidden[0].dense._x is X
    out2 = net.forward(X[:5])
    assert np.shares_memory(out1, out2)  # same workspace, row slice


def test_state_arrays_round_trip_and_loading_is_strict():
    X, _ = _data()
    net = MLP([4, 5, 3], batchnorm=True, seed=0, dtype="float64")
    net.forward(X, training=True)
    state = net.state_arrays()
    assert "layers.0.bn.running_var" in state and "layers.0.bn.running_var" not in net.parameters()
    other = MLP.from_config(net.get_config() | {"seed": 99})
    other.load_state_arrays(state)
    np.testing.assert_array_equal(other.forward(X), net.forward(X))
    with pytest.raises(ValueError, match="missing array 'layers.1.bias'"):
        other.load_state_arrays({k: v for k, v in state.items() if k != "layers.1.bias"})
    with pytest.raises(ValueError, match="unexpected array 'extra'"):
        other.load_state_arrays(state | {"extra": np.zeros(1)})
    with pytest.raises(ValueError, match="'layers.0.weight' has shape"):
        other.load_state_arrays(state | {"layers.0.weight": np.zeros((5, 4))})
    with pytest.raises(ValueError, match="'layers.0.weight' has dtype float32"):
        other.load_state_arrays(state | {"layers.0.weight": state["layers.0.weight"].astype(np.float32)})


def test_config_is_json_and_from_config_is_symmetric():
    net = MLP([4, 6, 5, 2], activation=["relu", {"name": "leaky_relu", "negative_slope": 0.2}],
              output="sigmoid", init={"name": "normal", "std": 0.1}, dropout=[0.1, 0.0],
              batchnorm=[False, True], seed=3, dtype="float64")
    cfg = json.loads(json.dumps(net.get_config()))
    again = MLP.from_config(cfg)
    assert again.get_config() == net.get_config()
    np.testing.assert_array_equal(again.params, net.params)
    with pytest.raises(ValueError, match="unknown MLP config key 'width'"):
        MLP.from_config(cfg | {"width": 3})


@pytest.mark.parametrize("kwargs,match", [
    ({"layer_sizes": [4]}, "layer_sizes"),
    ({"layer_sizes": [4, 3], "output": "tanh"}, "unknown output 'tanh'"),
    ({"layer_sizes": [4, 5, 3], "dropout": 1.0}, r"dropout must be in \[0, 1\), got 1.0"),
    ({"layer_sizes": [4, 5, 3], "activation": ["relu", "tanh"]}, "2 entries for 1 hidden"),
    ({"layer_sizes": [4, 3], "dtype": "float16"}, "dtype must be"),
])
def test_bad_constructor_arguments_name_the_value(kwargs, match):
    with pytest.raises(ValueError, match=match):
        MLP(**kwargs)


def test_predict_per_output_kind():
    X, _ = _data()
    soft = MLP([4, 3], output="softmax", seed=0)
    assert soft.predict(X).shape == (8,)
    np.testing.assert_array_equal(soft.predict(X), soft.predict_proba(X).argmax(1))
    sig = MLP([4, 1], output="sigmoid", seed=0)
    np.testing.assert_array_equal(sig.predict(X), (sig.predict_proba(X)[:, 0] >= 0.5).astype(int))
    reg = MLP([4, 2], output="identity", seed=0)
    np.testing.assert_array_equal(reg.predict(X), reg.predict_proba(X))


def test_loss_and_grads_rejects_an_incompatible_loss():
    with pytest.raises(ValueError, match="'mse' is not compatible with output 'softmax'"):
        MLP([4, 3], seed=0).loss_and_grads(*_data(), loss="mse")


def test_activation_stats_dead_and_saturated_fractions():
    X = np.abs(_data(10, 3)[0])
    net = MLP([3, 4, 4, 2], activation=["relu", "tanh"], seed=0, dtype="float64")
    p = net.parameters()
    p["layers.0.weight"][:, :2] = -1.0  # units 0, 1 dead: X >= 0
    p["layers.0.weight"][:, 2:] = 1.0
    p["layers.1.weight"][:] = 100.0  # tanh saturates
    net.forward(X)
    s0, s1 = net.activation_stats()
    assert s0["dead_fraction"] == 0.5 and s0["saturated_fraction"] is None
    assert s1["saturated_fraction"] == 1.0 and s1["dead_fraction"] is None
    assert s0["mean"] == pytest.approx(net.hidden_activations()[0].mean())


def test_layer_norms_and_summaries():
    X, y = _data()
    net = MLP([4, 6, 3], seed=0, dtype="float64")
    net.loss_and_grads(X, y)
    norms = net.layer_norms()
    assert [n["name"] for n in norms] == ["layers.0", "layers.1"]
    assert norms[0]["weight_norm"] == pytest.approx(np.linalg.norm(net.parameters()["layers.0.weight"]))
    assert norms[1]["grad_norm"] == pytest.approx(np.linalg.norm(net.gradients()["layers.1.weight"]))
    s = net.layer_summaries()
    assert s[0] | {} == {"name": "layers.0", "fan_in": 4, "fan_out": 6, "activation": "relu",
                         "batchnorm": False, "dropout": 0.0, "n_params": 30, "flops": 48}
    assert s[1]["activation"] == "softmax" and sum(r["n_params"] for r in s) == net.n_params


def test_input_dropout_gradients_match_finite_differences_with_a_fixed_mask():
    from mlptrain.gradcheck import STRICT, Problem, check_entries

    rng = np.random.default_rng(3)
    net = MLP([6, 5, 3], activation="tanh", output="softmax", input_dropout=0.4, seed=1,
              dtype="float64")
    X, y = rng.standard_normal((7, 6)), rng.integers(0, 3, 7)
    loss = get_loss("cross_entropy", output="softmax")
    result = check_entries(Problem("input dropout", net, X, y, loss, dropout_seed=5), **STRICT)
    assert result.max_rel < 1e-6
    # the mask really drops inputs: the first layer's gradient differs from the undropped one
    plain = MLP([6, 5, 3], activation="tanh", output="softmax", seed=1, dtype="float64")
    _, with_drop = net.loss_and_grads(X, y, rng=np.random.default_rng(5))
    _, without = plain.loss_and_grads(X, y)
    assert not np.allclose(with_drop["layers.0.weight"], without["layers.0.weight"])


def test_input_dropout_is_the_identity_at_eval_and_survives_get_config():
    net = MLP([4, 3, 2], input_dropout=0.5, seed=2, dtype="float64")
    plain = MLP([4, 3, 2], seed=2, dtype="float64")
    X = np.random.default_rng(0).standard_normal((5, 4))
    assert np.array_equal(net.predict_proba(X), plain.predict_proba(X))
    again = MLP.from_config(net.get_config())
    assert again.get_config()["input_dropout"] == 0.5 and again.in_drop is not None
    with pytest.raises(ValueError, match="dropout must be in"):
        MLP([4, 2], input_dropout=1.0)
