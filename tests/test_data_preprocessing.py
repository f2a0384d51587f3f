"""Preprocessing: statistics from the training split only, guards, images, round trips."""

from __future__ import annotations

import json

import numpy as np
import pytest
from data_helpers import data_config, write_text

from mlptrain.data import Preprocessor, load_data
from mlptrain.errors import DataError


def test_statistics_come_from_the_training_split_alone(tmp_path):
    train = "a,b,y\n" + "".join(f"{i},{2 * i},{i % 2}\n" for i in range(10))
    val = "a,b,y\n" + "".join(f"{1000 + i},{-500 - i},{i % 2}\n" for i in range(10))
    cfg = data_config(
        source="csv", path=str(write_text(tmp_path / "t.csv", train)),
        val_path=str(write_text(tmp_path / "v.csv", val)), test_fraction=0.0, scale="standard",
    )
    pre = load_data(cfg, seed=0).preprocessor
    np.testing.assert_allclose(pre.offset, [4.5, 9.0])
    np.testing.assert_allclose(pre.divisor, [np.std(np.arange(10)), np.std(2 * np.arange(10))])


def test_carved_validation_does_not_leak_into_the_statistics():
    bundle = load_data(data_config(source="blobs", n_samples=400, scale="minmax"), seed=0)
    pre = bundle.preprocessor
    np.testing.assert_allclose(pre.offset, bundle.train.X.min(axis=0), rtol=1e-6)
    scaled = pre.transform(bundle.train.X)
    assert scaled.min() == 0.0 and scaled.max() == pytest.approx(1.0)


def test_constant_feature_is_centred_not_divided_by_zero():
    X = np.column_stack([np.full(5, 3.0), np.arange(5.0)]).astype(np.float32)
    for scale in ("minmax", "standard"):
        pre = Preprocessor.fit(X, scale)
        out = pre.transform(X)
        assert np.isfinite(out).all() and np.all(out[:, 0] == 0.0)


def test_images_use_one_global_statistic():
    X = np.array([[0, 255], [0, 255], [51, 102]], dtype=np.uint8)
    mm = Preprocessor.fit(X, "minmax", global_stats=True)
    np.testing.assert_allclose(mm.transform(X)[2], [0.2, 0.4], rtol=1e-6)
    std = Preprocessor.fit(X, "standard", global_stats=True)
    values = X.astype(np.float64).ravel()
    assert std.offset[0] == pytest.approx(values.mean()) and std.divisor[0] == pytest.approx(values.std())


def test_chunked_statistics_match_numpy_on_more_rows_than_a_chunk():
    X = np.random.default_rng(0).normal(3.0, 2.0, size=(20_000, 3)).astype(np.float32)
    pre = Preprocessor.fit(X, "standard")
    np.testing.assert_allclose(pre.offset, X.astype(np.float64).mean(axis=0), rtol=1e-10)
    np.testing.assert_allclose(pre.divisor, X.astype(np.float64).std(axis=0), rtol=1e-10)


def test_transform_converts_uint8_batches_into_out_and_dtype():
    X = np.arange(12, dtype=np.uint8).reshape(3, 4)
    pre = Preprocessor.fit(X, "minmax", global_stats=True)
    out = np.empty((3, 4), np.float64)
    result = pre.transform(X, out=out)
    assert result is out and out[0, 0] == 0.0 and out[-1, -1] == 1.0
    assert pre.transform(X, dtype=np.float64).dtype == np.float64
    assert X.dtype == np.uint8  # the raw data is untouched


def test_state_dict_round_trip_is_exact_and_json_able_outside_arrays():
    X = np.random.default_rng(1).normal(size=(50, 3)).astype(np.float32)
    pre = Preprocessor.fit(X, "standard", task="classification", n_outputs=3,
                           class_names=["a", "b", "c"], feature_names=["x", "y", "z"])
    state = pre.state_dict()
    meta = {k: v for k, v in state.items() if k != "arrays"}
    json.dumps(meta)
    again = Preprocessor.from_state_dict(json.loads(json.dumps(meta)) | {"arrays": state["arrays"]})
    np.testing.assert_array_equal(again.transform(X), pre.transform(X))
    assert again.class_names == ["a", "b", "c"] and again.n_features == 3
    listed = Preprocessor.from_state_dict(
        meta | {"arrays": {k: v.tolist() for k, v in state["arrays"].items()}}
    )
    np.testing.assert_array_equal(listed.offset, pre.offset)


def test_from_state_dict_is_strict():
    state = Preprocessor.fit(np.ones((2, 2), np.float32), "none").state_dict()
    with pytest.raises(DataError, match="version 99"):
        Preprocessor.from_state_dict(state | {"version": 99})
    for unhashable in ([], {}, [1]):
        with pytest.raises(DataError, match="reads versions"):
            Preprocessor.from_state_dict(state | {"version": unhashable})
    with pytest.raises(DataError, match="unknown \\['extra'\\]"):
        Preprocessor.from_state_dict(state | {"extra": 1})
    bad = state | {"arrays": {"offset": np.zeros(3), "divisor": np.ones(2)}}
    with pytest.raises(DataError, match="offset must have shape"):
        Preprocessor.from_state_dict(bad)


def test_check_width_names_the_source_and_both_counts():
    pre = Preprocessor.fit(np.ones((2, 4), np.float32), "none")
    with pytest.raises(DataError, match="new.csv: has 5 feature columns, the model expects 4"):
        pre.check_width(np.ones((1, 5)), "new.csv")
