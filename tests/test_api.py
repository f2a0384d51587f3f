"""The Python API (mlptrain.api): `load` a run or checkpoint and predict / evaluate on arrays
and DataFrames with the saved preprocessing; `fit` a config on arrays in memory."""

from __future__ import annotations

import numpy as np
import pytest

import mlptrain as mt
from mlptrain.errors import CheckpointError, DataError

POINTS = np.array([[0.1, 0.2], [-0.5, 0.3], [0.8, -0.9], [0.0, 0.0]], dtype=np.float32)


def reference_outputs(run_dir, X):
    """Outputs computed by hand from the checkpoint: (x - offset) / divisor, forward, output."""
    from mlptrain.evaluation import load_model

    loaded = load_model(run_dir)
    pre = loaded.preprocessor
    scaled = ((X - pre.offset) / pre.divisor).astype(loaded.net.dtype)
    return loaded.net.output(loaded.net.forward(scaled))


def test_load_of_a_run_directory_predicts_class_names_from_the_saved_scaling(spiral_run):
    model = mt.load(spiral_run)
    expected = reference_outputs(spiral_run, POINTS)  # (4, 3)
    np.testing.assert_allclose(model.predict_proba(POINTS), expected, rtol=1e-5, atol=1e-7)
    assert model.predict(POINTS).tolist() == [str(i) for i in expected.argmax(axis=1)]
    assert model.path.name == "best.safetensors" and model.task == "classification"


def test_load_of_a_checkpoint_file_equals_load_of_its_run(spiral_run):
    by_file = mt.load(spiral_run / "checkpoints" / "best.safetensors")
    np.testing.assert_array_equal(by_file.predict_proba(POINTS),
                                  mt.load(spiral_run).predict_proba(POINTS))


def test_binary_model_gives_its_string_class_names_and_both_probabilities(binary_run):
    model = mt.load(binary_run)
    p = reference_outputs(binary_run, POINTS)[:, 0]  # (4,) probability of "stay"
    proba = model.predict_proba(POINTS)
    np.testing.assert_allclose(proba, np.stack([1 - p, p], axis=1), rtol=1e-5, atol=1e-7)
    assert model.class_names == ["churn", "stay"]
    assert model.predict(POINTS).tolist() == ["stay" if q >= 0.5 else "churn" for q in p]


def test_a_dataframe_is_matched_to_the_feature_names_in_any_column_order(binary_run):
    pd = pytest.importorskip("pandas")
    model = mt.load(binary_run)  # trained on a CSV with columns a, b
    frame = pd.DataFrame({"b": POINTS[:, 1], "extra": 0.0, "a": POINTS[:, 0]})
    np.testing.assert_array_equal(model.predict_proba(frame), model.predict_proba(POINTS))
    with pytest.raises(DataError, match="has no column 'a'"):
        model.predict(pd.DataFrame({"x": POINTS[:, 0], "b": POINTS[:, 1]}))


def test_evaluate_matches_hand_computed_accuracy_and_cross_entropy(spiral_run):
    model = mt.load(spiral_run)
    rng = np.random.default_rng(3)
    X = rng.normal(size=(50, 2)).astype(np.float32)
    y = rng.integers(0, 3, size=50)
    proba = reference_outputs(spiral_run, X).astype(np.float64)  # (50, 3)
    result = model.evaluate(X, y)
    assert result["accuracy"] == pytest.approx(np.mean(proba.argmax(axis=1) == y))
    assert result["loss"] == pytest.approx(-np.mean(np.log(proba[np.arange(50), y])), rel=1e-4)


def test_regression_predicts_values_in_target_units_and_refuses_predict_proba(sine_run):
    model = mt.load(sine_run)
    X = np.array([[0.3, 0.1], [-1.2, 0.5]], dtype=np.float32)
    values = reference_outputs(sine_run, X)  # (2, 1), scaled target units
    scaling = model.preprocessor.target_scaling
    expected = values[:, 0] * scaling.divisor[0] + scaling.offset[0]
    np.testing.assert_allclose(model.predict(X), expected, rtol=1e-5, atol=1e-6 * scaling.divisor[0])
    assert model.predict(X).shape == (2,)
    with pytest.raises(DataError, match="regression model"):
        model.predict_proba(X)


def test_bad_inputs_name_what_is_wrong(spiral_run, tmp_path):
    model = mt.load(spiral_run)
    with pytest.raises(DataError, match="has 3 feature columns, the model expects 2"):
        model.predict(np.zeros((2, 3)))
    with pytest.raises(DataError, match=r"must be 2-D \(n_samples, n_features\)"):
        model.predict(np.zeros(2))
    with pytest.raises(DataError, match="NaN and infinite values are not allowed"):
        model.predict(np.array([[0.0, np.nan]]))
    with pytest.raises(DataError, match="not numbers"):
        model.predict(np.array([["a", "b"]], dtype=object))
    with pytest.raises(CheckpointError):
        mt.load(tmp_path / "missing.safetensors")


# ---- fit on arrays in memory ------------------------------------------------------------------


def blobs(n=240, seed=0):
    """Three well separated Gaussian blobs in 2-D, labelled by name."""
    rng = np.random.default_rng(seed)
    centres = np.array([[0.0, 3.0], [3.0, -2.0], [-3.0, -2.0]])
    ids = rng.integers(0, 3, size=n)
    X = centres[ids] + rng.normal(scale=0.5, size=(n, 2))
    return X, np.array(["red", "green", "blue"])[ids]


CONFIG = {"model": {"hidden": [16]}, "optimizer": {"lr": 0.02}, "train": {"epochs": 8}}


def test_fit_trains_in_memory_writes_nothing_and_returns_the_best_weights(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    X, y = blobs()
    model = mt.fit(CONFIG, X[:200], y[:200], X[200:], y[200:])
    assert list(tmp_path.iterdir()) == []  # no run directory, no file
    assert model.class_names == ["blue", "green", "red"]  # sorted names, as for a CSV
    assert len(model.history) == 8 and model.status == "completed"
    best = min(row["val_loss"] for row in model.history)
    assert model.evaluate(X[200:], y[200:])["loss"] == pytest.approx(best, rel=1e-5)
    accuracy = np.mean(model.predict(X[200:]) == y[200:])
    assert accuracy >= 0.95


def test_fit_is_reproducible_and_the_seed_matters():
    X, y = blobs()
    a, b = mt.fit(CONFIG, X, y), mt.fit(CONFIG, X, y)
    np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X))
    c = mt.fit({**CONFIG, "seed": 1}, X, y)
    assert not np.array_equal(a.predict_proba(X), c.predict_proba(X))


def test_fit_from_a_config_file_replaces_its_data_source_with_the_arrays(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("data: {source: spiral, val_fraction: 0.25}\nmodel: {hidden: [8]}\n"
                    "train: {epochs: 2}\n")
    X, y = blobs(n=100)
    model = mt.fit(path, X, y, overrides=["optimizer.lr=0.05"])
    assert model.cfg.optimizer.lr == 0.05 and model.cfg.data.val_fraction == 0.25
    assert model.n_features == 2 and len(model.history) == 2


def test_fit_regression_on_a_dataframe_keeps_feature_names():
    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"u": rng.normal(size=300), "v": rng.normal(size=300)})
    target = pd.Series(3.0 * frame["u"] - frame["v"] + 10.0, name="t")
    model = mt.fit({"model": {"hidden": []}, "optimizer": {"lr": 0.05},
                    "train": {"epochs": 40}}, frame, target)
    assert model.task == "regression" and model.feature_names == ["u", "v"]
    assert model.preprocessor.target_names == ["t"]
    predicted = model.predict(frame[["v", "u"]])  # reordered by name
    np.testing.assert_allclose(predicted, target.to_numpy(), atol=0.1)


def test_fit_refuses_bad_arrays_with_a_clear_message():
    X, y = blobs(n=50)
    with pytest.raises(DataError, match="X has 50 rows but its targets have 49"):
        mt.fit(CONFIG, X, y[:49])
    with pytest.raises(DataError, match="give both X_val and y_val"):
        mt.fit(CONFIG, X, y, X_val=X)
    with pytest.raises(DataError, match="X_val has 1 feature columns, X has 2"):
        mt.fit(CONFIG, X, y, X[:, :1], y)
    from mlptrain.errors import ConfigError

    with pytest.raises(ConfigError, match="optimizer.lr"):
        mt.fit({"optimizer": {"lr": -1}}, X, y)
