"""NPZ files: named arrays, no pickle, clear errors for missing keys and bad arrays."""

from __future__ import annotations

import numpy as np
import pytest
from data_helpers import data_config

from mlptrain.data import load_data, load_features
from mlptrain.data.npzfile import read_npz
from mlptrain.errors import DataError


def _load(path, **fields):
    fields.setdefault("val_fraction", 0.0)
    fields.setdefault("test_fraction", 0.0)
    return load_data(data_config(source="npz", path=str(path), **fields), seed=0)


def test_arrays_named_by_keys_become_features_and_class_ids(tmp_path):
    path = tmp_path / "d.npz"
    np.savez(path, feats=np.arange(12.0).reshape(6, 2), labels=np.array([0, 1, 2, 0, 1, 2]))
    bundle = _load(path, x_key="feats", y_key="labels")
    assert bundle.train.X.dtype == np.float32 and bundle.train.X.shape == (6, 2)
    assert bundle.task == "classification" and bundle.train.y.tolist() == [0, 1, 2, 0, 1, 2]


def test_missing_key_lists_the_arrays_present(tmp_path):
    path = tmp_path / "d.npz"
    np.savez(path, x_train=np.zeros((2, 2)), y_train=np.zeros(2))
    with pytest.raises(DataError, match=r"has no array 'X' \(data.x_key\); arrays present: x_train, y_train"):
        _load(path)


def test_object_arrays_are_refused_without_unpickling(tmp_path):
    path = tmp_path / "d.npz"
    np.savez(path, X=np.array([{"a": 1}, None], dtype=object), y=np.zeros(2))
    with pytest.raises(DataError, match="holds Python objects"):
        read_npz(path)


def test_uint8_images_stay_uint8_flattened_with_one_global_statistic(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "img.npz"
    np.savez(path, X=rng.integers(0, 256, (20, 3, 3), dtype=np.uint8), y=np.arange(20) % 2)
    bundle = _load(path, scale="minmax")
    assert bundle.train.X.dtype == np.uint8 and bundle.train.X.shape == (20, 9)
    assert bundle.preprocessor.global_stats and bundle.preprocessor.offset.shape == (1,)


def test_sample_count_mismatch_names_both_arrays(tmp_path):
    path = tmp_path / "d.npz"
    np.savez(path, X=np.zeros((5, 2)), y=np.zeros(4))
    with pytest.raises(DataError, match="'X' holds 5 samples but 'y' holds 4"):
        read_npz(path)


def test_not_an_npz_and_missing_file_are_errors(tmp_path):
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"not a zip")
    with pytest.raises(DataError, match="not a readable .npz"):
        read_npz(junk)
    with pytest.raises(DataError, match="no such file"):
        read_npz(tmp_path / "absent.npz")


def test_infinite_value_names_the_sample(tmp_path):
    path = tmp_path / "d.npz"
    X = np.zeros((4, 2))
    X[2, 1] = np.inf
    np.savez(path, X=X, y=np.array([0, 1, 0, 1]))
    with pytest.raises(DataError, match="sample 2: feature column 1 is inf"):
        _load(path)


def test_load_features_reads_x_key_only(tmp_path):
    path = tmp_path / "d.npz"
    np.savez(path, X=np.ones((4, 3)), y=np.array([0, 1, 0, 1]))
    pre = _load(path).preprocessor
    new = tmp_path / "new.npz"
    np.savez(new, X=np.ones((2, 3)))
    assert load_features(new, data_config(source="npz", path=str(path)), pre).shape == (2, 3)
    np.savez(new, X=np.ones((2, 5)))
    with pytest.raises(DataError, match="has 5 feature columns, the model expects 3"):
        load_features(new, data_config(source="npz", path=str(path)), pre)
