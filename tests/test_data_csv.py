"""CSV files: header detection, column selection, label mapping, task resolution, and the
errors that name the file, row and column of bad data."""

from __future__ import annotations

import numpy as np
import pytest
from data_helpers import data_config, write_text

from mlptrain.data import Preprocessor, load_data, load_features
from mlptrain.data.csvfile import read_csv
from mlptrain.errors import DataError

IRIS_LIKE = """sepal_length,sepal_width,species
5.1,3.5,setosa
7.0,3.2,versicolor
6.3,3.3,virginica
4.9,3.0,setosa
6.4,3.2,versicolor
5.8,2.7,virginica
"""


def _csv(tmp_path, text, name="d.csv"):
    return str(write_text(tmp_path / name, text))


def _load(path, loss_kind="auto", **fields):
    fields.setdefault("val_fraction", 0.0)
    fields.setdefault("test_fraction", 0.0)
    return load_data(data_config(source="csv", path=path, **fields), seed=0, loss_kind=loss_kind)


def test_header_is_detected_and_string_labels_map_in_sorted_order(tmp_path):
    bundle = _load(_csv(tmp_path, IRIS_LIKE))
    assert bundle.task == "classification"
    assert bundle.class_names == ["setosa", "versicolor", "virginica"]
    assert bundle.train.y.tolist() == [0, 1, 2, 0, 1, 2]
    assert bundle.train.y.dtype == np.int64 and bundle.train.X.dtype == np.float32
    assert bundle.preprocessor.feature_names == ["sepal_length", "sepal_width"]


def test_file_without_header_keeps_its_first_row_as_data(tmp_path):
    raw = read_csv(_csv(tmp_path, "1.0,2.0,0\n3.0,4.0,1\n5.0,6.0,1\n"))
    assert raw.X.tolist() == [[1, 2], [3, 4], [5, 6]]
    assert raw.feature_names is None


def test_target_and_features_are_chosen_by_name_or_index(tmp_path):
    path = _csv(tmp_path, "a,b,label,c\n1,2,x,3\n4,5,y,6\n7,8,x,9\n")
    by_name = read_csv(path, target="label", features=["c", "a"])
    assert by_name.X.tolist() == [[3, 1], [6, 4], [9, 7]]
    by_index = read_csv(path, target=2)
    assert by_index.X.tolist() == [[1, 2, 3], [4, 5, 6], [7, 8, 9]]


def test_unknown_target_column_lists_the_columns(tmp_path):
    with pytest.raises(DataError, match="has no target column 'kind'; columns: a, b, label"):
        read_csv(_csv(tmp_path, "a,b,label\n1,2,x\n"), target="kind")


def test_ragged_row_is_named_with_its_field_count(tmp_path):
    text = "a,b,c\n1,2,0\n3,4,1\n5,6\n"
    with pytest.raises(DataError, match="row 4 has 2 fields, expected 3") as info:
        read_csv(_csv(tmp_path, text))
    assert str(info.value).startswith(str(tmp_path / "d.csv"))


def test_non_numeric_feature_names_row_and_column(tmp_path):
    text = "a,b,c\n1,2,0\n3,oops,1\n"
    with pytest.raises(DataError, match=r"row 3, column 'b' \(1\): 'oops' is not a number"):
        read_csv(_csv(tmp_path, text))


def test_nan_feature_is_an_error_naming_row_and_column(tmp_path):
    path = _csv(tmp_path, "a,b,y\n1,2,0\n3,,1\n5,6,1\n7,8,0\n")
    with pytest.raises(DataError, match=r"row 3: feature column 'b' is nan") as info:
        _load(path)
    assert "nan_policy: drop" in str(info.value)
    assert "(1 such row)" in str(info.value)
    path = _csv(tmp_path, "a,b,y\n1,2,0\n3,,1\n5,inf,1\n7,8,0\n")
    with pytest.raises(DataError, match=r"\(2 such rows\)"):
        _load(path)


def test_nan_policy_drop_removes_rows_with_nan_or_inf(tmp_path):
    path = _csv(tmp_path, "a,b,y\n1,2,0\n3,NA,1\n5,inf,1\n7,8,1\n9,1,0\n")
    bundle = _load(path, nan_policy="drop")
    assert bundle.train.X.tolist() == [[1, 2], [7, 8], [9, 1]]


def test_empty_file_and_header_only_file_are_errors(tmp_path):
    with pytest.raises(DataError, match="is empty"):
        read_csv(_csv(tmp_path, "\n\n", "empty.csv"))
    with pytest.raises(DataError, match="has a header but no data rows"):
        read_csv(_csv(tmp_path, "a,b,y\n", "header.csv"))


def test_missing_file_is_named(tmp_path):
    with pytest.raises(DataError, match="no such file") as info:
        _load(str(tmp_path / "absent.csv"))
    assert "absent.csv" in str(info.value)


def test_two_target_columns_make_a_float32_regression(tmp_path):
    path = _csv(tmp_path, "x,t1,t2\n0.5,1.5,2.5\n1.5,2.25,3.0\n2.5,0.1,0.2\n")
    bundle = _load(path, target=["t1", "t2"])
    assert bundle.task == "regression" and bundle.n_outputs == 2
    assert bundle.train.y.dtype == np.float32 and bundle.train.y.shape == (3, 2)


def test_auto_task_reads_integer_labels_as_classes_and_reals_as_regression(tmp_path):
    ints = _load(_csv(tmp_path, "x,y\n0.1,0\n0.2,2\n0.3,1\n0.4,2\n", "ints.csv"))
    assert ints.task == "classification" and ints.n_outputs == 3
    reals = _load(_csv(tmp_path, "x,y\n0.1,0.5\n0.2,2.25\n0.3,1\n", "reals.csv"))
    assert reals.task == "regression"
    by_loss = _load(_csv(tmp_path, "x,y\n0.1,0\n0.2,2\n0.3,1\n", "loss.csv"), loss_kind="mse")
    assert by_loss.task == "regression"


def test_string_target_for_regression_names_row_and_column(tmp_path):
    path = _csv(tmp_path, "x,price\n1,2.5\n2,cheap\n")
    with pytest.raises(DataError, match=r"row 3, column 'price': 'cheap' is not a number"):
        _load(path, task="regression")


def test_negative_integer_label_is_out_of_range(tmp_path):
    path = _csv(tmp_path, "x,y\n1,0\n2,1\n3,-1\n")
    with pytest.raises(DataError, match="row 4: label -1 is out of range"):
        _load(path, task="classification")


@pytest.mark.parametrize("task", ["auto", "multilabel", "classification"])
def test_binary_cross_entropy_makes_two_string_labels_a_two_class_classification(tmp_path, task):
    path = _csv(tmp_path, "x,ok\n1,yes\n2,no\n3,yes\n")
    bundle = _load(path, task=task, loss_kind="binary_cross_entropy")
    assert bundle.task == "classification" and bundle.n_outputs == 2
    assert bundle.class_names == ["no", "yes"]
    assert bundle.train.y.tolist() == [1, 0, 1]


def test_binary_labels_other_than_0_1_map_in_sorted_order(tmp_path):
    path = _csv(tmp_path, "x,y\n1,2\n2,-1\n3,2\n")
    bundle = _load(path, loss_kind="binary_cross_entropy")
    assert bundle.class_names == ["-1", "2"] and bundle.train.y.tolist() == [1, 0, 1]


def test_several_0_1_columns_stay_multilabel(tmp_path):
    path = _csv(tmp_path, "x,a,b\n1,0,1\n2,1,1\n3,0,0\n")
    bundle = _load(path, target=["a", "b"], loss_kind="binary_cross_entropy")
    assert bundle.task == "multilabel" and bundle.n_outputs == 2 and bundle.class_names is None


def test_explicit_split_files_use_the_training_label_mapping(tmp_path):
    train = _csv(tmp_path, IRIS_LIKE, "train.csv")
    val = _csv(tmp_path, "sepal_length,sepal_width,species\n5,3,virginica\n", "val.csv")
    bundle = _load(train, val_path=val)
    assert bundle.val.y.tolist() == [2]
    bad = _csv(tmp_path, "sepal_length,sepal_width,species\n5,3,daisy\n", "bad.csv")
    with pytest.raises(DataError, match="row 2: label 'daisy' is not one of the training classes"):
        _load(train, test_path=bad)


def test_evaluation_with_a_fitted_preprocessor_keeps_the_saved_mapping(tmp_path):
    fitted = _load(_csv(tmp_path, IRIS_LIKE, "train.csv")).preprocessor
    only_virginica = _csv(tmp_path, "sepal_length,sepal_width,species\n5,3,virginica\n6,3,virginica\n", "e.csv")
    bundle = load_data(
        data_config(source="csv", path=only_virginica, val_fraction=0, test_fraction=0),
        seed=0, preprocessor=fitted,
    )
    assert bundle.preprocessor is fitted and bundle.train.y.tolist() == [2, 2]


def test_load_features_accepts_files_with_or_without_the_target(tmp_path):
    pre = _load(_csv(tmp_path, IRIS_LIKE, "train.csv")).preprocessor
    cfg = data_config(source="csv", path="train.csv")
    labelled = load_features(_csv(tmp_path, IRIS_LIKE, "p1.csv"), cfg, pre)
    assert labelled.shape == (6, 2)
    reordered = _csv(tmp_path, "sepal_width,sepal_length\n3.5,5.1\n", "p2.csv")
    np.testing.assert_array_equal(load_features(reordered, cfg, pre), np.float32([[5.1, 3.5]]))
    bare = _csv(tmp_path, "5.1,3.5\n7.0,3.2\n", "p3.csv")
    assert load_features(bare, cfg, pre).shape == (2, 2)


def test_load_features_width_mismatch_is_a_clear_error(tmp_path):
    # 6 columns for a 4-feature model: neither the features alone nor features + target
    pre = Preprocessor.fit(np.zeros((3, 4), np.float32), "none")
    path = _csv(tmp_path, "1,2,3,4,5,6\n", "wide.csv")
    with pytest.raises(DataError, match=r"has 6 columns; the model expects 4 feature columns \(or 5 with"):
        load_features(path, data_config(source="csv", path=path), pre)


def test_load_features_accepts_a_labelled_file_and_drops_the_target(tmp_path):
    pre = Preprocessor.fit(np.zeros((3, 2), np.float32), "none")
    path = _csv(tmp_path, "1,2,0\n3,4,1\n", "labelled.csv")
    X = load_features(path, data_config(source="csv", path=path), pre)
    assert X.tolist() == [[1.0, 2.0], [3.0, 4.0]]
