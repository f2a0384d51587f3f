"""Losses: stable values, fused gradients, weighting conventions, output compatibility."""

from __future__ import annotations

import numpy as np
import pytest

from mlptrain.nn import COMPATIBLE_OUTPUTS, MLP, balanced_class_weights, get_loss
from mlptrain.nn.activations import sigmoid, softmax


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cross_entropy_is_finite_at_logits_of_1e4(dtype):
    z = np.array([[1e4, -1e4, 0.0], [-1e4, -1e4, 1e4]], dtype)
    loss = get_loss("cross_entropy")
    value, g = loss.value_and_grad(z, np.array([1, 2]))
    assert np.isfinite(value) and np.all(np.isfinite(g))
    assert value == pytest.approx(2e4 / 2, rel=1e-6)  # sample 0 pays 2e4, sample 1 pays 0
    np.testing.assert_allclose(g, np.array([[1, -1, 0], [0, 0, 0]]) / 2, atol=1e-7)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_binary_cross_entropy_is_finite_at_extreme_logits(dtype):
    z = np.array([[1e4], [-1e4], [1e4], [-1e4]], dtype)
    y = np.array([0.0, 1.0, 1.0, 0.0])
    value, g = get_loss("binary_cross_entropy").value_and_grad(z, y)
    assert np.isfinite(value) and np.all(np.isfinite(g))
    assert value == pytest.approx(2e4 / 4, rel=1e-6)
    np.testing.assert_allclose(g.ravel(), [0.25, -0.25, 0, 0], atol=1e-7)


def test_softmax_rows_sum_to_one_even_for_huge_logits():
    z = np.random.default_rng(0).standard_normal((50, 7)) * 1e4
    p = softmax(z)
    assert np.all(np.isfinite(p))
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-12)


def test_sigmoid_is_stable_and_exact_in_both_tails():
    z = np.array([-1e4, -40.0, 0.0, 40.0, 1e4])
    s = sigmoid(z)
    np.testing.assert_allclose(s, [0.0, np.exp(-40.0) / (1 + np.exp(-40.0)), 0.5, 1.0, 1.0], rtol=1e-14)


def test_cross_entropy_matches_minus_log_softmax_and_gradient_is_p_minus_y():
    rng = np.random.default_rng(1)
    z, y = rng.standard_normal((6, 4)), rng.integers(0, 4, 6)
    value, g = get_loss("cross_entropy").value_and_grad(z, y)
    p = np.exp(z) / np.exp(z).sum(1, keepdims=True)
    assert value == pytest.approx(-np.log(p[np.arange(6), y]).mean(), rel=1e-12)
    np.testing.assert_allclose(g, (p - np.eye(4)[y]) / 6, rtol=1e-12, atol=1e-15)


def test_class_indices_and_one_hot_rows_give_identical_loss_and_gradient():
    rng = np.random.default_rng(2)
    z, y = rng.standard_normal((5, 3)), rng.integers(0, 3, 5)
    cw = np.array([0.5, 2.0, 1.0])
    loss = get_loss("cross_entropy", class_weight=cw)
    v1, g1 = loss.value_and_grad(z, y)
    g1 = g1.copy()
    v2, g2 = loss.value_and_grad(z, np.eye(3)[y])
    assert v1 == pytest.approx(v2, rel=1e-14)
    np.testing.assert_allclose(g1, g2, rtol=1e-13, atol=1e-16)


def test_weighted_mean_is_sum_w_l_over_sum_w():
    rng = np.random.default_rng(3)
    z, y = rng.standard_normal((6, 3)), rng.integers(0, 3, 6)
    sw, cw = rng.random(6) + 0.1, np.array([1.0, 3.0, 0.5])
    per = -np.log(softmax(z)[np.arange(6), y])
    w = sw * cw[y]
    value = get_loss("cross_entropy", class_weight=cw).value(z, y, sample_weight=sw)
    assert value == pytest.approx((w * per).sum() / w.sum(), rel=1e-13)


def test_binary_class_weights_weight_negatives_and_positives():
    z = np.array([[0.3], [-1.2], [2.0]])
    y = np.array([1.0, 0.0, 1.0])
    per = np.logaddexp(0, z.ravel()) - z.ravel() * y
    w = np.where(y == 1, 4.0, 1.0)
    value = get_loss("binary_cross_entropy", class_weight=[1.0, 4.0]).value(z, y)
    assert value == pytest.approx((w * per).sum() / w.sum(), rel=1e-13)


def test_balanced_class_weights_are_n_over_k_count():
    y = np.array([0, 0, 0, 1, 2, 2])
    np.testing.assert_allclose(balanced_class_weights(y, 3), [6 / 9, 6 / 3, 6 / 6])
    np.testing.assert_allclose(balanced_class_weights(np.eye(3)[y], 3), [6 / 9, 6 / 3, 6 / 6])
    with pytest.raises(ValueError, match="class 3 has no samples"):
        balanced_class_weights(y, 4)


def test_mse_is_the_mean_over_samples_and_outputs():
    z = np.array([[1.0, 2.0], [3.0, 5.0]])
    y = np.array([[0.0, 2.0], [1.0, 1.0]])
    value, g = get_loss("mse").value_and_grad(z, y)
    assert value == pytest.approx((1 + 0 + 4 + 16) / 4)
    np.testing.assert_allclose(g, 2 * (z - y) / 4)


def test_mse_with_sigmoid_output_goes_through_sigma_prime():
    z, y = np.array([[0.4], [-0.7]]), np.array([0.9, 0.1])
    a = 1 / (1 + np.exp(-z.ravel()))
    value, g = get_loss("mse", output="sigmoid").value_and_grad(z, y)
    assert value == pytest.approx(np.mean((a - y) ** 2))
    np.testing.assert_allclose(g.ravel(), 2 * (a - y) * a * (1 - a) / 2, rtol=1e-12)


def test_mae_and_huber_values_follow_pytorch_definitions():
    z = np.array([[0.5], [3.0], [-2.0]])
    y = np.zeros(3)
    assert get_loss("mae").value(z, y) == pytest.approx((0.5 + 3 + 2) / 3)
    huber = (0.5 * 0.25 + (3 - 0.5) + (2 - 0.5)) / 3
    assert get_loss("huber").value(z, y) == pytest.approx(huber)
    _, g = get_loss("huber", delta=1.0).value_and_grad(z, y)
    np.testing.assert_allclose(g.ravel(), [0.5 / 3, 1 / 3, -1 / 3])


@pytest.mark.parametrize("loss", sorted(COMPATIBLE_OUTPUTS))
def test_incompatible_output_is_rejected_with_the_pair_named(loss):
    bad = sorted({"softmax", "sigmoid", "identity"} - COMPATIBLE_OUTPUTS[loss])[0]
    with pytest.raises(ValueError, match=rf"{loss}.*{bad}"):
        get_loss(loss, output=bad)


def test_cross_entropy_rejects_out_of_range_labels():
    with pytest.raises(ValueError, match="class label 3 out of range"):
        get_loss("cross_entropy").value(np.zeros((2, 3)), np.array([0, 3]))


def test_two_class_softmax_equals_sigmoid_with_weight_difference():
    """The notes' "sigmoid is a special case of softmax": w = w1 - w0, b = b1 - b0."""
    rng = np.random.default_rng(4)
    soft = MLP([3, 4, 2], activation="tanh", output="softmax", seed=1, dtype="float64")
    sig = MLP([3, 4, 1], activation="tanh", output="sigmoid", seed=2, dtype="float64")
    ps, pg = soft.parameters(), sig.parameters()
    pg["layers.0.weight"][:] = ps["layers.0.weight"]
    pg["layers.0.bias"][:] = ps["layers.0.bias"]
    W, b = ps["layers.1.weight"], ps["layers.1.bias"]
    b[:] = rng.standard_normal(2)
    pg["layers.1.weight"][:, 0] = W[:, 1] - W[:, 0]
    pg["layers.1.bias"][0] = b[1] - b[0]
    X, y = rng.standard_normal((7, 3)), rng.integers(0, 2, 7)
    np.testing.assert_allclose(soft.predict_proba(X)[:, 1], sig.predict_proba(X)[:, 0], rtol=1e-12)
    l_soft, _ = soft.loss_and_grads(X, y, loss="cross_entropy")
    l_sig, _ = sig.loss_and_grads(X, y.astype(float), loss="binary_cross_entropy")
    assert l_soft == pytest.approx(l_sig, rel=1e-12)
    np.testing.assert_array_equal(soft.predict(X), sig.predict(X))
