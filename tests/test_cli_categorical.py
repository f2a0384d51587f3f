"""The shipped example with text columns (configs/csv-categorical.yaml, data/customers.csv)
through the CLI: it trains with no preprocessing by the user; predict, eval, export and a
tampered checkpoint handle its categorical encoding as the README says."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
import pytest
from corpus_helpers import read_safetensors, safetensors_bytes
from tools_helpers import assert_clean_error, assert_ok, best_checkpoint, run, stdout_json

REPO = Path(__file__).resolve().parents[1]
CONFIG = REPO / "configs" / "csv-categorical.yaml"
NEW = REPO / "data" / "customers-new.csv"
WARN_PLAN = (f"warning: {NEW}: feature column 'plan': 1 row holds a category not seen in "
             "training ('enterprise'; first at row 3); encoded as all zeros")
WARN_PAYMENT = (f"warning: {NEW}: feature column 'payment': 1 row holds a category not seen "
                "in training ('crypto'; first at row 4); encoded as all zeros")


def _train(root: Path, *overrides: str) -> Path:
    assert_ok(run("train", CONFIG, "--out", root, "-q", "train.epochs=3",
                  "run.name_template=r", *overrides))
    return root / "r"


@pytest.fixture(scope="module", name="customers_run")
def fixture_customers_run(tmp_path_factory) -> Path:
    return _train(tmp_path_factory.mktemp("customers"))


def test_the_example_trains_with_its_text_columns_one_hot_encoded(customers_run):
    from mlptrain.evaluation import load_model

    model = load_model(customers_run)
    pre = model.preprocessor
    # tenure, monthly_fee + plan (3) + region (4 and missing) + payment (3) = 13 inputs
    assert model.net.layer_sizes[0] == 13
    assert pre.input_names == [
        "tenure", "monthly_fee", "plan=basic", "plan=premium", "plan=standard",
        "region=east", "region=north", "region=south", "region=west", "region=",
        "payment=card", "payment=cash", "payment=invoice"]
    assert pre.n_features == 13


def test_predict_on_unseen_categories_warns_and_predicts_every_row(customers_run):
    result = run("predict", customers_run, NEW, "--proba")
    assert_ok(result)
    table = list(csv.DictReader(io.StringIO(result.stdout)))
    assert len(table) == 3 and list(table[0]) == ["prediction", "p_no", "p_yes"]
    assert WARN_PLAN in result.output
    assert WARN_PAYMENT in result.output
    assert result.output.count("warning:") == 2


def test_predict_of_an_unseen_category_equals_the_model_on_all_zero_inputs(customers_run):
    from mlptrain.evaluation import load_model

    model = load_model(customers_run)
    raw = np.zeros((1, 13), dtype=np.float32)
    raw[0, [0, 1, 6, 10]] = [60, 25.5, 1, 1]  # plan enterprise: no plan input set
    expected = model.net.predict_proba(model.preprocessor.transform(raw, dtype=model.net.dtype))
    table = list(csv.DictReader(io.StringIO(run("predict", customers_run, NEW, "--proba").stdout)))
    assert float(table[1]["p_yes"]) == pytest.approx(float(expected[0, 1]), abs=1e-6)


def test_with_unknown_category_error_predict_refuses_in_one_message(tmp_path):
    strict = _train(tmp_path, "data.unknown_category=error")
    assert_clean_error(run("predict", strict, NEW),
                       "feature column 'plan': 1 row holds a category not seen in training "
                       "('enterprise'; first at row 3)", "data.unknown_category: warn")


def test_eval_on_a_labelled_file_with_an_unseen_category_warns_and_reports(customers_run, tmp_path):
    labelled = tmp_path / "labelled.csv"
    labelled.write_text(NEW.read_text().replace("payment\n", "payment,churned\n", 1)
                        .replace("cash\n", "cash,yes\n").replace("card\n", "card,no\n")
                        .replace("crypto\n", "crypto,yes\n"))
    result = run("eval", customers_run, "--data", labelled, "--json")
    assert result.exit_code == 0, result.output
    assert "feature column 'plan': 1 row holds a category not seen in training" in result.output
    strict = run("eval", customers_run, "--data", labelled, "data.unknown_category=error")
    assert_clean_error(strict, "'enterprise'", "data.unknown_category: warn")


def test_a_text_column_the_model_took_as_numeric_is_refused(tmp_path):
    plain = tmp_path / "plain.csv"
    plain.write_text("a,b,y\n" + "".join(f"{i},{i % 3},{i % 2}\n" for i in range(40)))
    config = tmp_path / "plain.yaml"
    config.write_text(f"data: {{source: csv, path: {plain}}}\ntrain: {{epochs: 1}}\n")
    assert_ok(run("train", config, "--out", tmp_path, "-q", "run.name_template=p"))
    text = tmp_path / "text.csv"
    text.write_text("a,b\n1,red\n2,blue\n")
    assert_clean_error(run("predict", tmp_path / "p", text), "'red' is not a number")


def test_export_onnx_writes_the_encoding_and_the_graph_takes_the_encoded_inputs(customers_run,
                                                                               tmp_path):
    pytest.importorskip("onnxruntime")
    from export_helpers import run_onnx

    out = tmp_path / "model.onnx"
    assert_ok(run("export", customers_run, "--format", "onnx", "--out", out))
    encoding = json.loads((tmp_path / "model.encoding.json").read_text())
    assert encoding["format"] == "mlptrain.input-encoding"
    assert encoding["feature_columns"] == ["tenure", "monthly_fee", "plan", "region", "payment"]
    assert encoding["inputs"][2] == {"column": "plan", "category": "basic"}
    assert encoding["inputs"][9] == {"column": "region", "category": None}
    X = _encode_by_the_document(encoding, NEW)  # (3, 13), built from the JSON alone
    probs = run_onnx(out.read_bytes(), X)
    table = list(csv.DictReader(io.StringIO(run("predict", customers_run, NEW, "--proba").stdout)))
    expected = np.array([[float(r["p_no"]), float(r["p_yes"])] for r in table])
    np.testing.assert_allclose(probs, expected, atol=1e-6)


def test_export_torch_writes_the_encoding_beside_the_model(customers_run, tmp_path):
    out = tmp_path / "torch-model"
    assert_ok(run("export", customers_run, "--format", "torch", "--out", out))
    encoding = json.loads((out / "encoding.json").read_text())
    assert len(encoding["inputs"]) == 13
    assert "FEATURE_NAMES = ['tenure', 'monthly_fee', 'plan=basic'" in (out / "model.py").read_text()


def _encode_by_the_document(encoding: dict, path: Path) -> np.ndarray:
    """The model's inputs for a CSV, following the export's encoding.json rules."""
    missing = ("", "na", "n/a", "nan", "null", "none", "?")
    rows = list(csv.DictReader(io.StringIO(path.read_text())))
    X = np.zeros((len(rows), len(encoding["inputs"])), dtype=np.float32)
    for i, row in enumerate(rows):
        for j, entry in enumerate(encoding["inputs"]):
            cell = row[entry["column"]].strip()
            if "category" not in entry:
                X[i, j] = float(cell)
            else:
                value = None if cell.lower() in missing else cell
                X[i, j] = 1.0 if value == entry["category"] else 0.0
    return X


def test_a_checkpoint_with_tampered_categories_is_refused_in_one_message(customers_run,
                                                                        tmp_path):
    tensors, header = read_safetensors(best_checkpoint(customers_run))
    for bad, message in (
        ({"positions": [2, 3, 4], "categories": [["a"], ["b"], ["c"]], "n_raw": 5},
         "makes 5 inputs, not n_features 13"),
        ({"positions": [2], "categories": [[7]], "n_raw": 5}, "lists of strings"),
        ("everything", "must be an object"),
    ):
        meta = json.loads(header["meta"])
        meta["preprocessor"]["categorical"] = bad
        path = tmp_path / "bad.safetensors"
        path.write_bytes(safetensors_bytes(tensors, {**header, "meta": json.dumps(meta)}))
        assert_clean_error(run("eval", path), message)
        assert_clean_error(run("predict", path, NEW), message)


def test_eval_json_of_the_example_reports_its_test_split(customers_run):
    result = stdout_json(run("eval", customers_run, "--json"))
    assert result["split"] == "test" and result["n_samples"] == 120


def test_inspect_reads_the_encoded_inputs_of_the_run_and_of_the_config(customers_run):
    assert "13 x 16" in assert_ok(run("inspect", customers_run))
    assert "13 x 16" in assert_ok(run("inspect", CONFIG))
