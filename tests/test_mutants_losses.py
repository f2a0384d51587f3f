"""Losses against a naive reference written here (per-sample loops in float64, the textbook
formulas), and their gradients against centered differences of that reference: written to kill
mutmut's mutants of mlptrain/nn/losses.py (see the README's contributing section)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mlptrain.nn import get_loss
from mlptrain.nn.losses import balanced_class_weights


def _sigmoid(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-z))


def _reference(name, output, z, y, sample_weight=None, class_weight=None, delta=1.0) -> float:
    """The loss of logits z (n, k), one sample and one element at a time."""
    n, k = z.shape
    num = den = 0.0
    for i in range(n):
        s = 1.0 if sample_weight is None else float(sample_weight[i])
        if name == "cross_entropy":
            lse = math.log(sum(math.exp(v) for v in z[i]))
            row = np.eye(k)[int(y[i])] if np.ndim(y) == 1 else y[i]
            loss = sum(row[c] * (lse - z[i, c]) for c in range(k))  # -sum_c y_c log p_c
            c = 1.0 if class_weight is None else float(np.dot(class_weight, row))
            num, den = num + s * c * loss, den + s * c
            continue
        for j in range(k):
            target = float(y[i, j])
            if name == "binary_cross_entropy":
                p = _sigmoid(z[i, j])
                loss = -(target * math.log(p) + (1 - target) * math.log(1 - p))
                c = 1.0 if class_weight is None else (
                    class_weight[0] * (1 - target) + class_weight[1] * target)
            else:
                yhat = _sigmoid(z[i, j]) if output == "sigmoid" else z[i, j]
                r = yhat - target
                loss = {"mse": r * r, "mae": abs(r),
                        "huber": 0.5 * r * r if abs(r) <= delta else delta * (abs(r) - delta / 2)
                        }[name]
                c = 1.0
            num, den = num + s * c * loss, den + s * c
    return num / den


def _numeric_grad(f, z: np.ndarray, h: float = 1e-6) -> np.ndarray:
    g = np.zeros_like(z)
    for idx in np.ndindex(z.shape):
        plus, minus = z.copy(), z.copy()
        plus[idx] += h
        minus[idx] -= h
        g[idx] = (f(plus) - f(minus)) / (2 * h)
    return g


RNG = np.random.default_rng(20261203)
Z3 = RNG.normal(0.0, 1.5, (5, 3))  # (5, 3) logits
Z2 = RNG.normal(0.0, 1.5, (5, 2))
IDS = np.array([0, 2, 1, 2, 2])
SOFT = RNG.dirichlet(np.ones(3), 5)  # (5, 3) probability rows
UNNORMALIZED = SOFT * np.array([[1.0], [2.0], [0.5], [1.0], [3.0]])  # rows not summing to 1
BITS = np.array([[1.0, 0.0], [0.0, 0.0], [1.0, 1.0], [0.0, 1.0], [1.0, 0.0]])
REAL = RNG.normal(0.0, 1.0, (5, 2))
UNIT = RNG.uniform(0.1, 0.9, (5, 2))
SW = np.array([0.5, 2.0, 1.0, 0.0, 3.0])

CASES = [  # (id, name, output, z, y, kwargs, sample_weight)
    ("ce-ids", "cross_entropy", "softmax", Z3, IDS, {}, None),
    ("ce-ids-float", "cross_entropy", "softmax", Z3, IDS.astype(float), {}, None),
    ("ce-ids-weighted", "cross_entropy", "softmax", Z3, IDS, {}, SW),
    ("ce-ids-class", "cross_entropy", "softmax", Z3, IDS, {"class_weight": [0.5, 1.0, 3.0]}, None),
    ("ce-ids-both", "cross_entropy", "softmax", Z3, IDS, {"class_weight": [2.0, 1.0, 0.25]}, SW),
    ("ce-soft", "cross_entropy", "softmax", Z3, SOFT, {}, None),
    ("ce-unnormalized", "cross_entropy", "softmax", Z3, UNNORMALIZED, {}, None),
    ("ce-soft-both", "cross_entropy", "softmax", Z3, SOFT, {"class_weight": [0.5, 1.0, 3.0]}, SW),
    ("bce", "binary_cross_entropy", "sigmoid", Z2, BITS, {}, None),
    ("bce-soft-weighted", "binary_cross_entropy", "sigmoid", Z2, UNIT, {}, SW),
    ("bce-class", "binary_cross_entropy", "sigmoid", Z2, BITS, {"class_weight": [3.0, 0.5]}, None),
    ("bce-both", "binary_cross_entropy", "sigmoid", Z2, BITS, {"class_weight": [3.0, 0.5]}, SW),
    ("mse", "mse", "identity", Z2, REAL, {}, None),
    ("mse-sigmoid-weighted", "mse", "sigmoid", Z2, UNIT, {}, SW),
    ("mae", "mae", "identity", Z2, REAL, {}, None),
    ("mae-sigmoid-weighted", "mae", "sigmoid", Z2, UNIT, {}, SW),
    ("huber", "huber", "identity", Z2, REAL, {"delta": 0.7}, None),
    ("huber-weighted", "huber", "identity", 2.5 * Z2, REAL, {"delta": 1.5}, SW),
    ("huber-sigmoid", "huber", "sigmoid", Z2, UNIT, {"delta": 0.1}, SW),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_loss_value_and_gradient_match_the_naive_reference(case):
    _, name, output, z, y, kwargs, sw = case
    loss = get_loss(name, output=output, **kwargs)
    ref_kwargs = {"class_weight": kwargs.get("class_weight"), "delta": kwargs.get("delta", 1.0)}

    def reference(logits):
        return _reference(name, output, logits, y, sw, **ref_kwargs)

    value, grad = loss.value_and_grad(z.copy(), y, sample_weight=sw)
    assert value == pytest.approx(reference(z), rel=1e-12)
    assert loss.value(z.copy(), y, sample_weight=sw) == pytest.approx(reference(z), rel=1e-12)
    assert grad.shape == z.shape and grad.dtype == z.dtype
    np.testing.assert_allclose(grad, _numeric_grad(reference, z), rtol=1e-6, atol=1e-9)


def test_float32_logits_give_a_float32_gradient_close_to_the_float64_one():
    for name, output, z, y in (("cross_entropy", "softmax", Z3, IDS),
                               ("binary_cross_entropy", "sigmoid", Z2, BITS),
                               ("mse", "identity", Z2, REAL)):
        loss = get_loss(name, output=output)
        v64, g64 = loss.value_and_grad(z, y)
        g64 = g64.copy()
        v32, g32 = loss.value_and_grad(z.astype(np.float32), y)
        assert g32.dtype == np.float32
        assert v32 == pytest.approx(v64, rel=1e-5)
        np.testing.assert_allclose(g32, g64, rtol=1e-4, atol=1e-6)


def test_gradient_buffer_is_reused_and_reallocated_for_another_shape():
    loss = get_loss("mse")
    _, g1 = loss.value_and_grad(Z2, REAL)
    _, g2 = loss.value_and_grad(Z2 + 1.0, REAL)
    assert g2 is g1  # the same buffer, overwritten
    _, g3 = loss.value_and_grad(Z2[:3], REAL[:3])
    assert g3.shape == (3, 2)
    np.testing.assert_allclose(g3, 2 * (Z2[:3] - REAL[:3]) / 6)


def test_one_output_targets_may_be_a_flat_vector():
    z = Z2[:, :1]
    loss = get_loss("binary_cross_entropy")
    assert loss.value(z, BITS[:, 0]) == pytest.approx(_reference(
        "binary_cross_entropy", "sigmoid", z, BITS[:, :1]), rel=1e-12)


def test_huber_is_quadratic_inside_delta_and_linear_outside_by_hand():
    loss = get_loss("huber", delta=2.0)
    z = np.array([[1.0, -3.0, 2.0, 5.0]])  # residuals against y = 0
    # 0.5, 2 * (3 - 1) = 4, exactly delta: 0.5 * 4 = 2, 2 * (5 - 1) = 8
    value, grad = loss.value_and_grad(z, np.zeros((1, 4)))
    assert value == pytest.approx((0.5 + 4.0 + 2.0 + 8.0) / 4)
    np.testing.assert_allclose(grad, [[1.0 / 4, -2.0 / 4, 2.0 / 4, 2.0 / 4]])
    assert loss.get_config() == {"name": "huber", "output": "identity", "delta": 2.0}


def test_mae_gradient_is_zero_at_a_zero_residual():
    value, grad = get_loss("mae").value_and_grad(np.array([[1.0, 0.5]]), np.array([[1.0, 0.0]]))
    assert value == pytest.approx(0.25)
    np.testing.assert_array_equal(grad, [[0.0, 0.5]])


def test_balanced_class_weights_by_hand():
    # counts 1, 3, 2 of n = 6: c_k = 6 / (3 * count_k)
    expected = [2.0, 2.0 / 3.0, 1.0]
    ids = np.array([1, 0, 1, 2, 1, 2])
    np.testing.assert_allclose(balanced_class_weights(ids, 3), expected, rtol=1e-15)
    np.testing.assert_allclose(balanced_class_weights(ids.astype(float), 3), expected, rtol=1e-15)
    weights = balanced_class_weights(np.eye(3)[ids], 3)
    assert weights.dtype == np.float64
    np.testing.assert_allclose(weights, expected, rtol=1e-15)


@pytest.mark.parametrize("call,message", [
    (lambda: balanced_class_weights(np.eye(3), 4), "one-hot y has 3 columns, expected 4"),
    (lambda: balanced_class_weights(np.array([0, 0, 2]), 3),
     "class 1 has no samples; cannot balance class weights"),
    (lambda: balanced_class_weights(np.array([0.0, 1.5]), 2), "class labels must be integers"),
    (lambda: balanced_class_weights(np.array(["a", "b"]), 2),
     "class labels must be integers, got dtype <U1"),
    (lambda: balanced_class_weights(np.array([0, 3, 1]), 3), "class label 3 out of range [0, 3)"),
    (lambda: balanced_class_weights(np.array([0, -1]), 2), "class label -1 out of range [0, 2)"),
    (lambda: get_loss("mse", output="softmax"),
     "loss 'mse' cannot be used with output 'softmax'; compatible outputs: ['identity', 'sigmoid']"),
    (lambda: get_loss("hinge"), "unknown loss 'hinge'; choose one of "
     "['binary_cross_entropy', 'cross_entropy', 'huber', 'mae', 'mse']"),
    (lambda: get_loss("mse", delta=1.0), "bad options for loss 'mse': "),
    (lambda: get_loss("huber", delta=0), "huber delta must be > 0, got 0"),
    (lambda: get_loss("cross_entropy", class_weight=[[1.0]]),
     "class_weight must be a 1-D array of weights >= 0, got [[1.0]]"),
    (lambda: get_loss("cross_entropy", class_weight=[1.0, -1.0]),
     "class_weight must be a 1-D array of weights >= 0, got [1.0, -1.0]"),
    (lambda: get_loss("binary_cross_entropy", class_weight=[1.0, 2.0, 3.0]),
     "binary class_weight must be two weights >= 0, got [1.0, 2.0, 3.0]"),
    (lambda: get_loss("binary_cross_entropy", class_weight=[1.0, -2.0]),
     "binary class_weight must be two weights >= 0, got [1.0, -2.0]"),
    (lambda: get_loss("cross_entropy").value(Z3[0], IDS[:1]),
     "logits must be 2-D (batch, n_out), got shape (3,)"),
    (lambda: get_loss("cross_entropy").value(Z3, IDS[:4].reshape(2, 2)),
     "cross_entropy y must be (5,) indices or (5, 3) rows, got (2, 2)"),
    (lambda: get_loss("cross_entropy", class_weight=[1.0, 2.0]).value(Z3, np.array([0, 1, 1, 0, 1])),
     "class_weight has 2 entries, expected 3"),
    (lambda: get_loss("mse").value(Z2, REAL[:, :1]), "mse targets must have shape (5, 2), got (5, 1)"),
    (lambda: get_loss("mse").value(Z2, REAL, sample_weight=SW[:4]),
     "sample_weight must have shape (5,), got (4,)"),
    (lambda: get_loss("mse").value(Z2, REAL, sample_weight=-SW),
     "sample_weight must be finite and >= 0"),
    (lambda: get_loss("mse").value(Z2, REAL, sample_weight=np.array([1.0, np.inf, 1.0, 1.0, 1.0])),
     "sample_weight must be finite and >= 0"),
    (lambda: get_loss("mse").value(Z2, REAL, sample_weight=np.zeros(5)),
     "the sum of the sample weights is zero"),
])
def test_loss_errors_name_the_bad_value(call, message):
    with pytest.raises(ValueError) as info:
        call()
    assert str(info.value).startswith(message), str(info.value)


def test_default_outputs_and_configs():
    assert get_loss("cross_entropy").get_config() == {"name": "cross_entropy", "output": "softmax"}
    assert get_loss("binary_cross_entropy").output == "sigmoid"
    for name in ("mse", "mae", "huber"):
        assert get_loss(name).output == "identity"
        assert get_loss(name, output="sigmoid").output == "sigmoid"


def test_kink_sides_of_mae_and_huber_by_hand():
    """The masks the gradient check compares across a finite-difference step: r = y_hat - y
    with r exactly 0 and |r| exactly delta at the edges."""
    from mlptrain.nn.losses import get_loss

    logits = np.array([[0.0, 1.5, -2.0, 0.5]])  # (1, 4)
    y = np.array([[0.0, 0.5, -1.0, 1.0]])  # r = [0, 1, -1, -0.5]
    [mae_side] = get_loss("mae", output="identity").kink_sides(logits, y)
    np.testing.assert_array_equal(mae_side, [[False, True, False, False]])
    positive, inside = get_loss("huber", output="identity", delta=1.0).kink_sides(logits, y)
    np.testing.assert_array_equal(positive, [[False, True, False, False]])
    np.testing.assert_array_equal(inside, [[True, True, True, True]])  # |r| <= delta = 1
    _, inside_half = get_loss("huber", output="identity", delta=0.5).kink_sides(logits, y)
    np.testing.assert_array_equal(inside_half, [[True, False, False, True]])


@pytest.mark.parametrize("weights", [None, np.ones(2)], ids=["plain", "weighted"])
def test_cross_entropy_shifts_each_row_by_its_own_maximum(weights):
    """Rows on very different scales: shifting by the batch's maximum would underflow every
    exp of the second row (log 0); per row, l = lse(z) - z_y is exact: here log(1 + e^-1).
    Class ids alone take the loop's fast path, with weights the general one."""
    from mlptrain.nn.losses import get_loss

    logits = np.array([[1000.0, 999.0], [-1000.0, -1001.0]])  # (2, 2)
    value, grad = get_loss("cross_entropy").value_and_grad(logits, np.array([0, 0]),
                                                           sample_weight=weights)
    assert value == pytest.approx(math.log1p(math.exp(-1.0)), rel=1e-14)
    p = 1.0 / (1.0 + math.exp(-1.0))  # softmax probability of class 0 in each row
    np.testing.assert_allclose(grad, np.array([[p - 1, 1 - p], [p - 1, 1 - p]]) / 2, rtol=1e-14)


def test_binary_cross_entropy_names_itself_for_targets_of_the_wrong_shape():
    from mlptrain.nn.losses import get_loss

    with pytest.raises(ValueError, match=r"^binary_cross_entropy targets must have shape \(2, 1\), got \(3, 1\)$"):
        get_loss("binary_cross_entropy").value_and_grad(np.zeros((2, 1)), np.zeros(3))


def test_sample_targets_are_what_each_loss_accepts():
    """The gradient check's random targets: class ids over every class (0 included) or
    probability rows; 0/1 or (0, 1) values for binary cross-entropy; (0.1, 0.9) after a
    sigmoid, N(0, 1) otherwise for regression."""
    from mlptrain.nn.losses import LOSSES

    rng = np.random.default_rng(0)
    ce = LOSSES["cross_entropy"]
    ids = ce.sample_targets("softmax", 400, 3, rng)
    assert ids.shape == (400,) and set(np.unique(ids)) == {0, 1, 2}
    rows = ce.sample_targets("softmax", 50, 4, rng, soft=True)
    assert rows.shape == (50, 4) and np.allclose(rows.sum(axis=1), 1.0) and (rows > 0).all()
    bce = LOSSES["binary_cross_entropy"]
    hard = bce.sample_targets("sigmoid", 400, 2, rng)
    assert hard.shape == (400, 2) and set(np.unique(hard)) == {0.0, 1.0}
    assert 0.4 < hard.mean() < 0.6
    soft = bce.sample_targets("sigmoid", 400, 2, rng, soft=True)
    assert soft.shape == (400, 2) and (soft > 0).all() and (soft < 1).all()
    assert len(np.unique(soft)) > 700
    mse = LOSSES["mse"]
    squashed = mse.sample_targets("sigmoid", 400, 2, rng)
    assert squashed.shape == (400, 2) and squashed.min() >= 0.1 and squashed.max() < 0.9
    assert squashed.max() > 0.85
    plain = mse.sample_targets("identity", 400, 2, rng)
    assert plain.min() < -1.5 and plain.max() > 1.5  # N(0, 1), not (0.1, 0.9)


@pytest.mark.parametrize("loss, weights", [("cross_entropy", [0.0, 1.0, 2.0]),
                                           ("binary_cross_entropy", [0.0, 1.0])])
def test_a_class_weight_of_zero_is_allowed(loss, weights):
    from mlptrain.nn.losses import get_loss

    assert get_loss(loss, class_weight=np.array(weights)).class_weight[0] == 0.0
