"""Categorical feature columns: detection, one-hot encoding learned on the training split,
unknown categories, the saved state read back strictly, and the refusals."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from data_helpers import data_config

from mlptrain.data import Preprocessor, load_data
from mlptrain.data.categorical import CategoricalEncoder, column_codes
from mlptrain.data.csvfile import read_csv
from mlptrain.errors import DataError, DataWarning


def _csv(tmp_path, text: str, name: str = "d.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


# ---- reading: codes, vocabulary, missing ------------------------------------------------------

def test_column_codes_number_texts_in_order_of_first_appearance_with_one_missing_category():
    cells = np.array([" red", "blue", "", "red", "NA", "?", "blue "])
    codes, vocab = column_codes(cells)
    assert vocab == ["red", "blue", None]
    assert codes.tolist() == [0, 1, 2, 0, 2, 2, 1]


def test_a_text_column_is_detected_and_numeric_columns_stay_numbers(tmp_path):
    raw = read_csv(_csv(tmp_path, "x,color,y\n1.5,red,0\n2.5,blue,1\n3.5,red,1\n"))
    assert sorted(raw.vocab) == [1]
    assert raw.vocab[1] == ["red", "blue"]
    np.testing.assert_array_equal(raw.X, [[1.5, 0], [2.5, 1], [3.5, 0]])


def test_a_numeric_column_with_one_stray_word_is_an_error_with_the_categorical_hint(tmp_path):
    path = _csv(tmp_path, "a,b,y\n1,2,0\n3,oops,1\n4,5,1\n")
    with pytest.raises(DataError, match=r"row 3, column 'b' \(1\): 'oops' is not a number") as info:
        read_csv(path)
    assert "data.categorical" in str(info.value)


def test_a_declared_numeric_column_is_categorical(tmp_path):
    raw = read_csv(_csv(tmp_path, "zip,x,y\n75001,1,0\n10115,2,1\n75001,3,1\n"),
                   categorical=["zip"])
    assert raw.vocab == {0: ["75001", "10115"]}


def test_an_all_distinct_text_column_is_refused_as_an_identifier(tmp_path):
    body = "".join(f"id{i},{i % 2}\n" for i in range(12))
    path = _csv(tmp_path, "customer,y\n" + body)
    with pytest.raises(DataError, match="'customer' .* all 12 values distinct: it looks like an "
                                        "identifier") as info:
        read_csv(path)
    assert "data.features" in str(info.value)
    declared = read_csv(path, categorical=["customer"])  # declared: encoded anyway
    assert len(declared.vocab[0]) == 12


def test_a_column_with_more_categories_than_max_categories_is_refused(tmp_path):
    body = "".join(f"c{i % 5},{i % 2}\n" for i in range(20))
    path = _csv(tmp_path, "city,y\n" + body)
    with pytest.raises(DataError, match=r"'city' \(0\) has 5 distinct values, more than "
                                        r"data.max_categories \(4\)"):
        read_csv(path, max_categories=4)
    assert len(read_csv(path, max_categories=5).vocab[0]) == 5


def test_declaring_a_target_column_categorical_is_an_error(tmp_path):
    path = _csv(tmp_path, "x,y\n1,0\n2,1\n")
    with pytest.raises(DataError, match="data.categorical names column 'y' .* not a feature"):
        read_csv(path, categorical=["y"])


# ---- the encoder ------------------------------------------------------------------------------

def test_fit_keeps_only_categories_seen_in_training_sorted_with_missing_last():
    vocab = {1: ["red", None, "blue", "green"]}
    X = np.array([[0.5, 0], [1.5, 1], [2.5, 2], [3.5, 0]], dtype=np.float32)  # no green
    enc = CategoricalEncoder.fit(X, vocab)
    assert enc.categories == [["blue", "red", None]]
    assert enc.n_inputs == 1 + 3
    assert enc.input_names(["x", "color"]) == ["x", "color=blue", "color=red", "color="]
    assert enc.one_hot_mask().tolist() == [False, True, True, True]


def test_expand_writes_one_hot_columns_in_place_and_unknown_rows_as_zeros_with_a_warning():
    enc = CategoricalEncoder([1], [["blue", "red", None]], 3)
    vocab = {1: ["red", "purple", None, "blue"]}  # another file's own vocabulary
    X = np.array([[1, 0, 7], [2, 1, 8], [3, 2, 9], [4, 3, 6]], dtype=np.float32)
    with pytest.warns(DataWarning, match=r"f.csv: feature column 'color': 1 row holds a "
                                         r"category not seen in training \('purple'; first at "
                                         r"row 3\); encoded as all zeros"):
        out = enc.expand(X, vocab, path="f.csv", rows=np.array([2, 3, 4, 5]),
                         names=["x", "color", "z"])
    np.testing.assert_array_equal(out, [[1, 0, 1, 0, 7],
                                        [2, 0, 0, 0, 8],
                                        [3, 0, 0, 1, 9],
                                        [4, 1, 0, 0, 6]])
    assert out.dtype == np.float32


def test_expand_with_policy_error_refuses_unknown_categories():
    enc = CategoricalEncoder([0], [["a", "b"]], 1)
    X = np.array([[0], [1], [1]], dtype=np.float32)
    with pytest.raises(DataError, match=r"2 rows hold a category not seen in training "
                                        r"\('c'; first at sample 1\)") as info:
        enc.expand(X, {0: ["a", "c"]}, policy="error")
    assert "unknown_category: warn" in str(info.value)


def test_expand_without_unknown_categories_warns_nothing():
    enc = CategoricalEncoder([0], [["a", "b"]], 1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = enc.expand(np.array([[1], [0]], dtype=np.float32), {0: ["b", "a"]})
    np.testing.assert_array_equal(out, [[1, 0], [0, 1]])


def test_the_encoder_state_round_trips():
    enc = CategoricalEncoder([0, 2], [["a", None], ["x", "y", "z"]], 4)
    back = CategoricalEncoder.from_dict(enc.to_dict())
    assert (back.positions, back.categories, back.n_raw) == (enc.positions, enc.categories, 4)


@pytest.mark.parametrize("state,message", [
    ("no", "must be an object"),
    ({"positions": [0], "categories": [["a"]]}, "must be an object"),
    ({"positions": [0], "categories": [["a"]], "n_raw": 0}, "positive integer"),
    ({"positions": [0], "categories": [["a"]], "n_raw": True}, "positive integer"),
    ({"positions": ["0"], "categories": [["a"]], "n_raw": 2}, "list of integers"),
    ({"positions": [0], "categories": [[1]], "n_raw": 2}, "lists of strings"),
    ({"positions": [0], "categories": [[]], "n_raw": 2}, "lists of strings"),
    ({"positions": [0], "categories": ["ab"], "n_raw": 2}, "lists of strings"),
    ({"positions": [0], "categories": [["a", "a"]], "n_raw": 2}, "distinct categories"),
    ({"positions": [2], "categories": [["a"]], "n_raw": 2}, "increasing in"),
    ({"positions": [1, 0], "categories": [["a"], ["b"]], "n_raw": 2}, "increasing in"),
    ({"positions": [0], "categories": [["a"], ["b"]], "n_raw": 2}, "one list of categories"),
])
def test_a_bad_saved_encoder_state_is_a_data_error(state, message):
    with pytest.raises(DataError, match=message):
        CategoricalEncoder.from_dict(state)


# ---- through load_data: training split only, scaling leaves one-hot columns alone -----------

def _files(tmp_path):
    train = _csv(tmp_path, "x,color,y\n" + "".join(
        f"{i},{['red', 'blue', ''][i % 3]},{i % 2}\n" for i in range(30)), "train.csv")
    test = _csv(tmp_path, "x,color,y\n1,red,0\n2,green,1\n3,,0\n", "test.csv")
    return train, test


def test_categories_come_from_the_training_split_and_unknown_test_rows_are_zeros(tmp_path):
    train, test = _files(tmp_path)
    cfg = data_config(source="csv", train_path=str(train), test_path=str(test), val_fraction=0)
    with pytest.warns(DataWarning, match=r"test.csv \(test split\): feature column 'color': "
                                         r"1 row holds .*'green'"):
        bundle = load_data(cfg)
    pre = bundle.preprocessor
    assert pre.categorical.categories == [["blue", "red", None]]
    assert pre.n_features == bundle.n_features == 4
    assert pre.input_names == ["x", "color=blue", "color=red", "color="]
    np.testing.assert_array_equal(bundle.test.X[:, 1:], [[0, 1, 0], [0, 0, 0], [0, 0, 1]])
    scaled = pre.transform(bundle.train.X)
    np.testing.assert_array_equal(scaled[:, 1:], bundle.train.X[:, 1:])  # still 0/1
    x = bundle.train.X[:, 0]
    np.testing.assert_allclose(scaled[:, 0], (x - x.mean()) / x.std(), rtol=1e-5)


def test_unknown_category_error_policy_refuses_the_test_file(tmp_path):
    train, test = _files(tmp_path)
    cfg = data_config(source="csv", train_path=str(train), test_path=str(test), val_fraction=0,
                      unknown_category="error")
    with pytest.raises(DataError, match="'green'"):
        load_data(cfg)


def test_a_fitted_preprocessor_encodes_another_file_with_its_own_categories(tmp_path):
    train, test = _files(tmp_path)
    cfg = data_config(source="csv", train_path=str(train), val_fraction=0, test_fraction=0.2)
    pre = load_data(cfg).preprocessor
    other = data_config(source="csv", train_path=str(test), val_fraction=0, test_fraction=0)
    with pytest.warns(DataWarning, match="'green'"):
        bundle = load_data(other, preprocessor=pre)
    np.testing.assert_array_equal(bundle.train.X[:, 1:], [[0, 1, 0], [0, 0, 0], [0, 0, 1]])


def test_the_preprocessor_state_carries_the_encoder_and_reads_back(tmp_path):
    train, _ = _files(tmp_path)
    pre = load_data(data_config(source="csv", train_path=str(train))).preprocessor
    state = pre.state_dict()
    assert state["version"] == 3
    assert state["categorical"] == {"positions": [1], "categories": [["blue", "red", None]],
                                    "n_raw": 2}
    back = Preprocessor.from_state_dict(state)
    assert back.categorical.categories == pre.categorical.categories
    assert back.input_names == pre.input_names
    state["categorical"] = {"positions": [1], "categories": [["blue"]], "n_raw": 2}
    with pytest.raises(DataError, match="makes 2 inputs, not n_features 4"):
        Preprocessor.from_state_dict(state)
    state["categorical"] = {"positions": [1], "categories": "blue", "n_raw": 2}
    with pytest.raises(DataError, match="lists of strings"):
        Preprocessor.from_state_dict(state)
