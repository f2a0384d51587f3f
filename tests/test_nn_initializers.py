"""Initializers: empirical mean/variance match each scheme's formula; 'auto' picks by activation."""

from __future__ import annotations

import numpy as np
import pytest

from mlptrain.nn import INITIALIZERS, MLP, default_init, get_initializer

FAN_IN, FAN_OUT = 300, 200  # 60,000 draws per matrix

# (name, kwargs, variance formula)
CASES = [
    ("xavier_normal", {}, 2 / (FAN_IN + FAN_OUT)),
    ("glorot_normal", {}, 2 / (FAN_IN + FAN_OUT)),
    ("xavier_uniform", {}, 2 / (FAN_IN + FAN_OUT)),
    ("glorot_uniform", {}, 2 / (FAN_IN + FAN_OUT)),
    ("he_normal", {}, 2 / FAN_IN),
    ("kaiming_normal", {}, 2 / FAN_IN),
    ("he_uniform", {}, 2 / FAN_IN),
    ("kaiming_uniform", {}, 2 / FAN_IN),
    ("lecun_normal", {}, 1 / FAN_IN),
    ("normal", {"std": 0.3}, 0.09),
    ("uniform", {"limit": 0.2}, 0.04 / 3),
]


def test_every_registered_initializer_is_tested():
    assert {c[0] for c in CASES} == set(INITIALIZERS)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(("name", "kwargs", "var"), CASES)
def test_empirical_variance_matches_formula(name, kwargs, var, dtype):
    """With N = 60,000 draws the sample variance has relative std sqrt(2/N) = 0.58% (normal) or
    sqrt(0.8/N) = 0.37% (uniform, kurtosis 1.8); 3% is > 5 sigma. The mean's std is
    sqrt(var/N); 6 of those bound it."""
    w = np.empty((FAN_IN, FAN_OUT), dtype)
    get_initializer({"name": name, **kwargs})(w, np.random.default_rng(0))
    n = w.size
    assert w.dtype == dtype
    assert abs(w.mean(dtype=np.float64)) < 6 * np.sqrt(var / n)
    assert w.var(dtype=np.float64) == pytest.approx(var, rel=0.03)
    if "uniform" in name:
        assert np.abs(w).max() <= np.sqrt(3 * var) * (1 + 1e-6)


def test_same_generator_seed_gives_same_weights():
    a, b = np.empty((5, 4)), np.empty((5, 4))
    get_initializer("he_normal")(a, np.random.default_rng(3))
    get_initializer("he_normal")(b, np.random.default_rng(3))
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(("act", "expected"), [
    ("relu", "he_normal"), ("leaky_relu", "he_normal"), ("elu", "he_normal"), ("gelu", "he_normal"),
    ("tanh", "xavier_uniform"), ("sigmoid", "xavier_uniform"), ("softplus", "xavier_uniform"),
    ("identity", "xavier_uniform"),
])
def test_auto_init_follows_the_activation(act, expected):
    assert default_init(act) == expected


def test_auto_init_in_a_network_uses_he_for_relu_layers_and_zero_biases():
    net = MLP([400, 300, 10], activation="relu", seed=0, dtype="float64")
    p = net.parameters()
    assert p["layers.0.weight"].var() == pytest.approx(2 / 400, rel=0.03)
    assert p["layers.1.weight"].var() == pytest.approx(2 / 310, rel=0.1)  # xavier_uniform
    assert not p["layers.0.bias"].any() and not p["layers.1.bias"].any()
    net2 = MLP([4, 3, 2], bias_init=0.1, seed=0)
    assert np.all(net2.parameters()["layers.0.bias"] == np.float32(0.1))


def test_unknown_init_and_bad_std_are_named():
    with pytest.raises(ValueError, match="unknown init 'orthogonal'"):
        get_initializer("orthogonal")
    with pytest.raises(ValueError, match="std must be > 0, got -1"):
        get_initializer({"name": "normal", "std": -1})
