"""Activations: values match their formulas; derivatives (from cached values) match finite
differences elementwise; in-place operation is safe where allowed."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mlptrain.nn.activations import ACTIVATIONS, get_activation

Z = np.linspace(-4, 4, 161)
Z = Z[np.abs(Z) > 1e-3]  # away from the kink at 0

REFERENCE = {
    "identity": lambda z: z,
    "sigmoid": lambda z: 1 / (1 + np.exp(-z)),
    "tanh": np.tanh,
    "relu": lambda z: np.maximum(z, 0),
    "leaky_relu": lambda z: np.where(z > 0, z, 0.01 * z),
    "elu": lambda z: np.where(z > 0, z, np.exp(z) - 1),
    "softplus": lambda z: np.log1p(np.exp(z)),
    "gelu": lambda z: 0.5 * z * (1 + np.tanh(math.sqrt(2 / math.pi) * (z + 0.044715 * z**3))),
}


def _fwd(act, z):
    out = np.empty_like(z) if act.needs_input else z.copy()
    return act.forward(z if act.needs_input else out, out)


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_forward_matches_formula(name):
    a = _fwd(get_activation(name), Z.reshape(4, -1).copy())
    np.testing.assert_allclose(a.ravel(), REFERENCE[name](Z), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_backward_matches_centered_difference(name):
    act = get_activation(name)
    z = Z.reshape(4, -1).copy()
    _fwd(act, z)
    d = act.backward(np.ones_like(z))
    h = 1e-6
    numeric = (REFERENCE[name](Z + h) - REFERENCE[name](Z - h)) / (2 * h)
    np.testing.assert_allclose(d.ravel(), numeric, rtol=1e-7, atol=1e-9)


def test_leaky_relu_slope_is_configurable_and_validated():
    act = get_activation({"name": "leaky_relu", "negative_slope": 0.2})
    a = _fwd(act, np.array([[-1.0, 2.0]]))
    np.testing.assert_allclose(a, [[-0.2, 2.0]])
    np.testing.assert_allclose(act.backward(np.ones((1, 2))), [[0.2, 1.0]])
    with pytest.raises(ValueError, match="negative_slope must be in \\[0, 1\\), got -0.5"):
        get_activation({"name": "leaky_relu", "negative_slope": -0.5})


def test_gelu_refuses_in_place_because_its_derivative_needs_z():
    z = np.zeros((1, 2))
    with pytest.raises(ValueError, match="in place"):
        get_activation("gelu").forward(z, z)


def test_unknown_activation_is_named():
    with pytest.raises(ValueError, match="unknown activation 'swish'"):
        get_activation("swish")


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_float32_stays_float32(name):
    act = get_activation(name)
    z = Z.reshape(4, -1).astype(np.float32)
    a = _fwd(act, z)
    d = act.backward(np.ones_like(z))
    assert a.dtype == np.float32 and d.dtype == np.float32
