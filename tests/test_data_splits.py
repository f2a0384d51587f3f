"""Splits: seeded, stratified hold-outs; official test splits kept; limit; empty splits."""

from __future__ import annotations

import numpy as np
import pytest
from data_helpers import data_config, write_text

from mlptrain.data import load_data
from mlptrain.data.splits import holdout, holdout_count
from mlptrain.errors import DataError


def test_stratified_holdout_keeps_each_class_share():
    labels = np.repeat([0, 1, 2], [700, 200, 100])
    kept, held = holdout(1000, 0.2, np.random.default_rng(0), labels)
    assert len(held) == 200 and len(kept) == 800
    assert np.bincount(labels[held]).tolist() == [140, 40, 20]
    assert np.intersect1d(kept, held).size == 0 and len(np.union1d(kept, held)) == 1000


def test_stratified_holdout_shares_rounding_by_largest_remainder():
    labels = np.repeat([0, 1, 2], [5, 5, 5])
    _, held = holdout(15, 0.2, np.random.default_rng(0), labels)
    assert len(held) == 3 and np.bincount(labels[held], minlength=3).tolist() == [1, 1, 1]


def test_holdout_is_seeded_and_sorted():
    a = holdout(100, 0.3, np.random.default_rng(5))
    b = holdout(100, 0.3, np.random.default_rng(5))
    c = holdout(100, 0.3, np.random.default_rng(6))
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert not np.array_equal(a[1], c[1])
    assert np.all(np.diff(a[0]) > 0) and np.all(np.diff(a[1]) > 0)


def test_holdout_count_is_at_least_one_for_a_positive_fraction():
    assert holdout_count(5, 0.01) == 1 and holdout_count(5, 0.0) == 0


def test_synthetic_splits_carve_test_then_val_stratified():
    bundle = load_data(
        data_config(source="blobs", n_samples=1000, n_classes=4, test_fraction=0.2, val_fraction=0.25),
        seed=3,
    )
    sizes = bundle.describe()["sizes"]
    assert sizes == {"train": 600, "val": 200, "test": 200}
    assert np.bincount(bundle.val.y).tolist() == [50, 50, 50, 50]


def test_same_seed_same_splits_other_seed_other_splits():
    cfg = data_config(source="moons", n_samples=200)
    a, b, c = (load_data(cfg, seed=s) for s in (1, 1, 2))
    np.testing.assert_array_equal(a.val.X, b.val.X)
    assert not np.array_equal(a.val.X, c.val.X)


def test_val_fraction_zero_gives_no_validation_split():
    bundle = load_data(data_config(source="xor", n_samples=100, val_fraction=0.0), seed=0)
    assert bundle.val is None and len(bundle.train) == 80


def test_limit_keeps_the_first_n_training_samples_after_the_split():
    full = load_data(data_config(source="spiral", n_samples=300), seed=0)
    limited = load_data(data_config(source="spiral", n_samples=300, limit=50), seed=0)
    np.testing.assert_array_equal(limited.train.X, full.train.X[:50])
    np.testing.assert_array_equal(limited.val.X, full.val.X)


def test_a_split_without_samples_is_an_error(tmp_path):
    path = write_text(tmp_path / "one.csv", "x,y\n1,0\n")
    with pytest.raises(DataError, match="the train split has no samples"):
        load_data(data_config(source="csv", path=str(path), task="regression"), seed=0)


def test_regression_split_is_not_stratified_but_sized():
    bundle = load_data(data_config(source="sine", n_samples=100, n_features=1), seed=0)
    assert bundle.describe()["sizes"] == {"train": 72, "val": 8, "test": 20}
