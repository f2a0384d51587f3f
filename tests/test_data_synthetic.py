"""Synthetic sets: deterministic from the seed, the right shapes, and the spiral is not
linearly separable."""

from __future__ import annotations

import numpy as np
import pytest
from data_helpers import data_config

from mlptrain.data import GENERATORS, SyntheticSpec, load_data, make_synthetic
from mlptrain.errors import DataError


@pytest.mark.parametrize("name", sorted(GENERATORS))
def test_generator_is_deterministic_from_its_generator(name):
    spec = SyntheticSpec(n_samples=101, n_classes=3, n_features=2, noise=0.1)
    X1, y1 = make_synthetic(name, spec, np.random.default_rng(7))
    X2, y2 = make_synthetic(name, spec, np.random.default_rng(7))
    X3, _ = make_synthetic(name, spec, np.random.default_rng(8))
    np.testing.assert_array_equal(X1, X2)
    np.testing.assert_array_equal(y1, y2)
    assert not np.array_equal(X1, X3)
    assert X1.shape == (101, 2) and X1.dtype == np.float32


@pytest.mark.parametrize("name,k", [("spiral", 4), ("xor", 2), ("moons", 2), ("circles", 2), ("blobs", 5)])
def test_classification_sets_have_balanced_int_classes(name, k):
    X, y = make_synthetic(name, SyntheticSpec(n_samples=400, n_classes=k), np.random.default_rng(0))
    assert y.dtype == np.int64 and set(np.unique(y)) == set(range(k))
    assert np.bincount(y).min() >= 400 // k - 70


def test_samples_come_out_shuffled_not_class_by_class():
    _, y = make_synthetic("spiral", SyntheticSpec(n_samples=300), np.random.default_rng(0))
    assert len(np.unique(y[:30])) == 3


def test_spiral_defeats_a_linear_classifier():
    X, y = make_synthetic("spiral", SyntheticSpec(n_samples=900, n_classes=3), np.random.default_rng(0))
    A = np.column_stack([X, np.ones(len(X))])
    W, *_ = np.linalg.lstsq(A, np.eye(3)[y], rcond=None)
    assert (np.argmax(A @ W, axis=1) == y).mean() < 0.7


def test_blobs_live_in_n_features_dimensions():
    X, _ = make_synthetic("blobs", SyntheticSpec(n_samples=50, n_features=7), np.random.default_rng(0))
    assert X.shape == (50, 7)


def test_sine_is_float32_regression_of_one_or_two_inputs():
    for d in (1, 2):
        X, y = make_synthetic("sine", SyntheticSpec(n_samples=60, n_features=d, noise=0.0),
                              np.random.default_rng(0))
        assert X.shape == (60, d) and y.shape == (60, 1) and y.dtype == np.float32
    np.testing.assert_allclose(y[:, 0], np.sin(X[:, 0]) * np.cos(X[:, 1]), atol=1e-6)
    with pytest.raises(DataError, match="sine supports data.n_features 1 or 2, got 3"):
        make_synthetic("sine", SyntheticSpec(n_features=3), np.random.default_rng(0))


def test_noise_zero_moons_lie_on_their_half_circles():
    X, y = make_synthetic("moons", SyntheticSpec(n_samples=100, noise=0.0), np.random.default_rng(0))
    outer = X[y == 0]
    np.testing.assert_allclose(np.hypot(outer[:, 0], outer[:, 1]), 1.0, atol=1e-6)


def test_binary_cross_entropy_on_a_two_class_source_is_a_two_class_classification():
    from mlptrain.builders import adapt_targets, output_width

    bundle = load_data(data_config(source="xor", n_samples=100), seed=0,
                       loss_kind="binary_cross_entropy")
    assert bundle.task == "classification" and bundle.n_outputs == 2
    assert bundle.class_names == ["0", "1"] and bundle.train.y.ndim == 1
    assert output_width(bundle, "binary_cross_entropy") == 1  # one sigmoid unit
    adapted = adapt_targets(bundle, "binary_cross_entropy")
    assert adapted.train.y.shape == (len(bundle.train), 1)
    np.testing.assert_array_equal(adapted.train.y[:, 0], bundle.train.y)


def test_load_data_sizes_add_up_to_n_samples():
    bundle = load_data(data_config(source="circles", n_samples=500), seed=0)
    assert sum(bundle.describe()["sizes"].values()) == 500
