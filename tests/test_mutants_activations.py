"""Activations, output functions and initializers against closed forms written here with the
math module (values, derivatives by centered differences of those closed forms, variances),
and their configs and error messages: written to kill mutmut's mutants of mlptrain/nn/
activations.py and initializers.py (see the README's contributing section)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from mutant_helpers import defaults_applied

from mlptrain.nn import get_activation
from mlptrain.nn.activations import identity, sigmoid, softmax
from mlptrain.nn.initializers import default_init, get_initializer

CLOSED_FORMS = {
    "identity": lambda z: z,
    "sigmoid": lambda z: 1.0 / (1.0 + math.exp(-z)),
    "tanh": math.tanh,
    "relu": lambda z: max(z, 0.0),
    "leaky_relu": lambda z: z if z > 0 else 0.2 * z,
    "elu": lambda z: z if z > 0 else 0.5 * (math.exp(z) - 1.0),
    "softplus": lambda z: math.log(1.0 + math.exp(z)),
    "gelu": lambda z: 0.5 * z * (1.0 + math.tanh(math.sqrt(2.0 / math.pi)
                                                  * (z + 0.044715 * z**3))),
}
SPECS = {"leaky_relu": {"name": "leaky_relu", "negative_slope": 0.2},
         "elu": {"name": "elu", "alpha": 0.5}}
Z = np.array([[-3.1, -1.2, -0.4, 0.3], [0.9, 1.7, 2.6, -2.2]])  # (2, 4), no entry at a kink


@pytest.mark.parametrize("name", sorted(CLOSED_FORMS))
def test_activation_value_and_derivative_match_the_closed_form(name):
    f = CLOSED_FORMS[name]
    act = get_activation(SPECS.get(name, name))
    a = act.forward(Z.copy(), np.empty_like(Z))
    np.testing.assert_allclose(a, np.vectorize(f)(Z), rtol=1e-13, atol=1e-15)
    upstream = np.arange(1.0, 9.0).reshape(2, 4)  # dL/da
    d = act.backward(upstream.copy())
    h = 1e-6
    slope = np.vectorize(lambda z: (f(z + h) - f(z - h)) / (2 * h))(Z)
    np.testing.assert_allclose(d, upstream * slope, rtol=1e-7)


@pytest.mark.parametrize("name", sorted(set(CLOSED_FORMS) - {"gelu"}))
def test_activation_may_run_in_place(name):
    act = get_activation(SPECS.get(name, name))
    z = Z.copy()
    out = act.forward(z, z)
    assert out is z
    np.testing.assert_allclose(out, np.vectorize(CLOSED_FORMS[name])(Z), rtol=1e-13, atol=1e-15)


def test_relu_derivative_is_zero_at_the_kink_and_leaky_relu_takes_its_slope():
    z = np.array([[0.0, -1.0, 2.0]])
    relu = get_activation("relu")
    relu.forward(z.copy(), np.empty_like(z))
    np.testing.assert_array_equal(relu.backward(np.ones_like(z)), [[0.0, 0.0, 1.0]])
    leaky = get_activation({"name": "leaky_relu", "negative_slope": 0.01})
    np.testing.assert_allclose(leaky.forward(z.copy(), np.empty_like(z)), [[0.0, -0.01, 2.0]])
    np.testing.assert_allclose(leaky.backward(np.ones_like(z)), [[0.01, 0.01, 1.0]])
    elu = get_activation({"name": "elu", "alpha": 1.0})  # slope 1 at 0 from both sides
    np.testing.assert_allclose(elu.forward(z.copy(), np.empty_like(z)), [[0.0, math.exp(-1) - 1, 2.0]])
    np.testing.assert_allclose(elu.backward(np.ones_like(z)), [[1.0, math.exp(-1), 1.0]])


def test_sigmoid_and_softplus_stay_finite_for_large_inputs():
    z = np.array([[-800.0, 800.0]])
    np.testing.assert_allclose(get_activation("sigmoid").forward(z.copy(), np.empty_like(z)),
                               [[0.0, 1.0]])
    np.testing.assert_allclose(get_activation("softplus").forward(z.copy(), np.empty_like(z)),
                               [[0.0, 800.0]])


def test_activation_configs_reprs_and_copies():
    elu = get_activation({"name": "elu", "alpha": 0.5})
    assert elu.get_config() == {"name": "elu", "alpha": 0.5}
    assert repr(elu) == "ELU(alpha=0.5)"
    leaky = get_activation({"name": "leaky_relu", "negative_slope": 0.2})
    assert leaky.get_config() == {"name": "leaky_relu", "negative_slope": 0.2}
    assert repr(leaky) == "LeakyReLU(negative_slope=0.2)"
    assert get_activation("tanh").get_config() == {"name": "tanh"}
    assert repr(get_activation("tanh")) == "Tanh()"
    copy = get_activation(elu)
    assert copy is not elu and copy.get_config() == elu.get_config()
    assert get_activation("gelu").needs_input and not get_activation("tanh").needs_input
    assert get_activation("relu").kinks == (0.0,) and get_activation("tanh").kinks == ()


@pytest.mark.parametrize("call,message", [
    (lambda: get_activation("swish"), "unknown activation 'swish'; choose one of ['elu', 'gelu', "
     "'identity', 'leaky_relu', 'relu', 'sigmoid', 'softplus', 'tanh']"),
    (lambda: get_activation(3), "activation must be a name or a dict with a 'name', got 3"),
    (lambda: get_activation({"alpha": 1.0}),
     "activation must be a name or a dict with a 'name', got {'alpha': 1.0}"),
    (lambda: get_activation({"name": "tanh", "alpha": 1.0}),
     "bad options for activation 'tanh': {'alpha': 1.0}"),
    (lambda: get_activation({"name": "leaky_relu", "negative_slope": 1.0}),
     "leaky_relu negative_slope must be in [0, 1), got 1.0"),
    (lambda: get_activation({"name": "leaky_relu", "negative_slope": -0.1}),
     "leaky_relu negative_slope must be in [0, 1), got -0.1"),
    (lambda: get_activation({"name": "elu", "alpha": 0}), "elu alpha must be > 0, got 0"),
    (lambda: get_activation("gelu").forward(Z, Z), "gelu cannot run in place: its derivative needs z"),
])
def test_activation_errors_name_the_bad_value(call, message):
    with pytest.raises(ValueError) as info:
        call()
    assert str(info.value).startswith(message), str(info.value)


def test_leaky_relu_slope_zero_is_allowed():
    assert get_activation({"name": "leaky_relu", "negative_slope": 0.0}).negative_slope == 0.0


# ---- output functions -------------------------------------------------------------------------


def test_softmax_by_hand_and_shift_invariant():
    logits = np.array([[0.0, math.log(2.0), math.log(5.0)], [1000.0, 1000.0, 1000.0]])
    expected = [[1 / 8, 2 / 8, 5 / 8], [1 / 3, 1 / 3, 1 / 3]]
    np.testing.assert_allclose(softmax(logits), expected, rtol=1e-14)
    out = np.empty_like(logits)
    assert softmax(logits, out=out) is out
    np.testing.assert_allclose(out, expected, rtol=1e-14)


def test_sigmoid_output_by_hand_with_full_precision_for_large_negative_logits():
    z = np.array([[0.0, math.log(3.0), -math.log(3.0), -40.0, 40.0]])
    expected = [[0.5, 0.75, 0.25, math.exp(-40) / (1 + math.exp(-40)), 1 / (1 + math.exp(-40))]]
    np.testing.assert_allclose(sigmoid(z), expected, rtol=1e-14)
    out = np.empty_like(z)
    assert sigmoid(z, out=out) is out
    np.testing.assert_allclose(out, expected, rtol=1e-14)


def test_identity_output_copies_or_fills():
    z = np.array([[1.0, -2.0]])
    copy = identity(z)
    assert copy is not z
    np.testing.assert_array_equal(copy, z)
    out = np.zeros_like(z)
    assert identity(z, out=out) is out
    np.testing.assert_array_equal(out, z)


# ---- initializers -------------------------------------------------------------------------------

FAN_IN, FAN_OUT = 300, 200
VARIANCES = {  # the table of the initializers' docstring
    "xavier_normal": 2 / (FAN_IN + FAN_OUT), "glorot_normal": 2 / (FAN_IN + FAN_OUT),
    "xavier_uniform": 2 / (FAN_IN + FAN_OUT), "glorot_uniform": 2 / (FAN_IN + FAN_OUT),
    "he_normal": 2 / FAN_IN, "kaiming_normal": 2 / FAN_IN,
    "he_uniform": 2 / FAN_IN, "kaiming_uniform": 2 / FAN_IN,
    "lecun_normal": 1 / FAN_IN,
}


@pytest.mark.parametrize("name", sorted(VARIANCES))
def test_initializer_variance_formula_and_sample(name):
    init = get_initializer(name)
    assert init.variance(FAN_IN, FAN_OUT) == pytest.approx(VARIANCES[name], rel=1e-15)
    w = init(np.empty((FAN_IN, FAN_OUT)), np.random.default_rng(0))
    assert w.var() == pytest.approx(VARIANCES[name], rel=0.03)  # 60,000 draws
    assert abs(w.mean()) < 4 * math.sqrt(VARIANCES[name] / w.size)
    if name.endswith("uniform"):
        limit = math.sqrt(3 * VARIANCES[name])
        assert -limit <= w.min() < -0.99 * limit and 0.99 * limit < w.max() < limit


def test_normal_and_uniform_take_their_scale_and_say_it_in_their_config():
    rng = np.random.default_rng(1)
    w = get_initializer({"name": "normal", "std": 0.5})(np.empty((300, 200)), rng)
    assert w.std() == pytest.approx(0.5, rel=0.02)
    w = get_initializer({"name": "uniform", "limit": 0.3})(np.empty((300, 200)), rng)
    assert -0.3 <= w.min() < -0.299 and 0.299 < w.max() < 0.3
    assert get_initializer({"name": "uniform", "limit": 0.3}).variance(1, 1) == pytest.approx(0.03)
    assert get_initializer({"name": "normal", "std": 0.2}).get_config() == {"name": "normal",
                                                                            "std": 0.2}
    assert get_initializer({"name": "uniform", "limit": 0.3}).get_config() == {
        "name": "uniform", "limit": 0.3}
    assert get_initializer("he_normal").get_config() == {"name": "he_normal"}
    assert get_initializer({"name": "normal", "std": 0.01}).variance(3, 4) == pytest.approx(1e-4)


def test_initializer_draws_in_the_arrays_dtype_and_auto_follows_the_activation():
    w = get_initializer("xavier_uniform")(np.empty((4, 3), np.float32), np.random.default_rng(0))
    assert w.dtype == np.float32
    for activation in ("relu", "leaky_relu", "elu", "gelu"):
        assert default_init(activation) == "he_normal"
        assert get_initializer("auto", activation).name == "he_normal"
    for activation in ("tanh", "sigmoid", "softplus", "identity"):
        assert default_init(activation) == "xavier_uniform"
    assert get_initializer("auto").name == "xavier_uniform"


@pytest.mark.parametrize("spec,message", [
    ("orthogonal", "unknown init 'orthogonal'; choose one of ['auto', 'glorot_normal', "
     "'glorot_uniform', 'he_normal', 'he_uniform', 'kaiming_normal', 'kaiming_uniform', "
     "'lecun_normal', 'normal', 'uniform', 'xavier_normal', 'xavier_uniform']"),
    (7, "init must be a name or a dict with a 'name', got 7"),
    ({"std": 1.0}, "init must be a name or a dict with a 'name', got {'std': 1.0}"),
    ({"name": "he_normal", "std": 1.0}, "bad options for init 'he_normal': {'std': 1.0}"),
    ({"name": "normal", "std": 0}, "normal init std must be > 0, got 0"),
    ({"name": "uniform", "limit": -1}, "uniform init limit must be > 0, got -1"),
])
def test_initializer_errors_name_the_bad_value(spec, message):
    with pytest.raises(ValueError) as info:
        get_initializer(spec)
    assert str(info.value).startswith(message), str(info.value)


def test_default_constructed_activations_initializers_and_losses_hold_the_documented_defaults():
    from mlptrain.nn import ACTIVATIONS, INITIALIZERS, LOSSES

    assert defaults_applied(ACTIVATIONS, {}) >= 2  # leaky_relu's slope, elu's alpha
    assert defaults_applied(INITIALIZERS, {}) >= 2  # normal's std, uniform's limit
    assert defaults_applied(LOSSES, {}, resolved=("output",)) >= 1  # huber's delta


def test_the_init_auto_sentence_lists_the_relu_family_then_the_rest():
    from mlptrain.nn.activations import default_init_sentence

    assert default_init_sentence() == (
        "he_normal for relu, leaky_relu, elu, gelu; xavier_uniform otherwise")


def test_repr_of_an_activation_with_two_options_separates_them_with_a_comma():
    from mlptrain.nn.activations import Activation

    class Scaled(Activation):
        name = "scaled"

        def get_config(self):
            return {"name": self.name, "scale": 2.0, "shift": "x"}

    assert repr(Scaled()) == "Scaled(scale=2.0, shift='x')"


def test_elu_derivative_at_zero_is_alpha_as_in_pytorch():
    """At z = 0 exactly ELU's derivative is taken from the left: alpha (PyTorch's elu_backward
    takes the x <= 0 branch); with alpha = 0.5 the right-hand 1 would differ."""
    act = get_activation({"name": "elu", "alpha": 0.5})
    z = np.array([[0.0, 1.0, -1.0]])
    act.forward(z.copy(), np.empty_like(z))
    d = act.backward(np.ones_like(z))
    np.testing.assert_allclose(d, [[0.5, 1.0, 0.5 * math.exp(-1.0)]], rtol=1e-15)


def test_identity_writes_into_a_separate_output_buffer():
    z = np.array([[1.5, -2.0]])
    out = np.full_like(z, np.nan)
    result = get_activation("identity").forward(z, out)
    assert result is out
    np.testing.assert_array_equal(out, z)


def test_dropout_of_zero_is_allowed_and_keeps_every_value():
    from mlptrain.nn.layers import Dropout

    x = np.array([[1.0, 2.0, 3.0]])
    kept = Dropout(0.0).forward(x, np.random.default_rng(0), np.empty_like(x), np.empty_like(x))
    np.testing.assert_array_equal(kept, x)
