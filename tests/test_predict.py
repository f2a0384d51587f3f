"""`mlptrain predict`: CSV/NPZ input through the checkpoint's own preprocessing, class names or
ids, probabilities, stdout or an atomically written file, and clean refusals of bad input."""

from __future__ import annotations

import csv
import io

import numpy as np
import pytest
from tools_helpers import (
    BAD_CHECKPOINT_MESSAGES,
    assert_clean_error,
    assert_ok,
    bad_checkpoints,
    best_checkpoint,
    empty_run_dir,
    run,
    train_run,
)

POINTS = np.array([[0.1, 0.2], [-0.5, 0.3], [0.8, -0.9], [0.0, 0.0]], dtype=np.float32)


def write_points(path, header=True):
    lines = (["x0,x1"] if header else []) + [f"{a},{b}" for a, b in POINTS.tolist()]
    path.write_text("\n".join(lines) + "\n")
    return path


def rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def expected_proba(run_dir):
    from mlptrain.evaluation import load_model

    model = load_model(run_dir)
    return model.net.output(model.net.forward(
        model.preprocessor.transform(POINTS, dtype=model.net.dtype)))


def test_predict_csv_to_stdout_with_class_names_and_probabilities(spiral_run, tmp_path):
    result = run("predict", spiral_run, write_points(tmp_path / "in.csv"), "--proba")
    table = rows(assert_ok(result))
    assert list(table[0]) == ["prediction", "p_0", "p_1", "p_2"]
    probs = np.array([[float(r[f"p_{k}"]) for k in range(3)] for r in table])
    np.testing.assert_allclose(probs, expected_proba(spiral_run), rtol=1e-6)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-6)
    assert [r["prediction"] for r in table] == [str(i) for i in probs.argmax(axis=1)]


def test_predict_of_a_binary_sigmoid_model_gives_class_names_and_both_probabilities(
        binary_run, tmp_path):
    source = tmp_path / "in.csv"
    source.write_text("a,b\n" + "\n".join(f"{a},{b}" for a, b in POINTS.tolist()) + "\n")
    text = assert_ok(run("predict", binary_run, source, "--proba"))
    lines = list(csv.reader(io.StringIO(text)))
    assert lines[0] == ["prediction", "p_churn", "p_stay"]
    assert all(len(line) == 3 for line in lines)  # every row as wide as the header
    table = rows(text)
    p_stay = expected_proba(binary_run)[:, 0]  # the single sigmoid unit: P(class 1 = stay)
    np.testing.assert_allclose([float(r["p_stay"]) for r in table], p_stay, rtol=1e-6)
    np.testing.assert_allclose([float(r["p_churn"]) for r in table], 1 - p_stay, rtol=1e-6)
    assert [r["prediction"] for r in table] == ["stay" if p >= 0.5 else "churn" for p in p_stay]
    ids = rows(assert_ok(run("predict", binary_run, source, "--ids")))
    assert [r["prediction"] for r in ids] == ["1" if p >= 0.5 else "0" for p in p_stay]


def test_predict_csv_without_header_and_ids(spiral_run, tmp_path):
    result = run("predict", spiral_run, write_points(tmp_path / "in.csv", header=False), "--ids")
    table = rows(assert_ok(result))
    assert len(table) == len(POINTS) and list(table[0]) == ["prediction"]


def test_predict_npz_to_a_file(spiral_run, tmp_path):
    source = tmp_path / "in.npz"
    np.savez(source, X=POINTS)
    out = tmp_path / "pred.csv"
    result = run("predict", spiral_run, source, "--out", out)
    assert_ok(result)
    assert "written" in result.output
    assert len(rows(out.read_text())) == len(POINTS)
    assert not list(tmp_path.glob(".pred.csv.tmp-*"))  # the atomic write left no temp file


def test_predict_regression_writes_values(sine_run, tmp_path):
    source = tmp_path / "x.csv"
    source.write_text("x0,x1\n0.0,0.5\n1.5,-1\n-1.5,2\n")  # sine has 2 features by default
    table = rows(assert_ok(run("predict", sine_run, source)))
    assert len(table) == 3
    assert all(np.isfinite(float(v)) for r in table for v in r.values())


@pytest.mark.parametrize("width", [4, 5])
def test_predict_refuses_the_wrong_width(spiral_run, tmp_path, width):
    source = tmp_path / "wide.npz"
    np.savez(source, X=np.zeros((3, width), np.float32))
    assert_clean_error(run("predict", spiral_run, source),
                       f"has {width} feature columns, the model expects 2")


def test_predict_refuses_a_csv_of_the_wrong_width(spiral_run, tmp_path):
    source = tmp_path / "wide.csv"
    source.write_text("1,2,3,4,5\n6,7,8,9,10\n")
    assert_clean_error(run("predict", spiral_run, source), "the model expects 2")


def test_predict_refuses_a_csv_that_is_too_narrow(spiral_run, tmp_path):
    source = tmp_path / "narrow.csv"
    source.write_text("0.1\n0.2\n")
    assert_clean_error(run("predict", spiral_run, source), "narrow.csv", "feature columns")


def test_predict_missing_input_is_a_clean_error(spiral_run, tmp_path):
    assert_clean_error(run("predict", spiral_run, tmp_path / "absent.csv"), "absent.csv")


@pytest.mark.parametrize("kind", sorted(BAD_CHECKPOINT_MESSAGES))
def test_predict_bad_checkpoint_is_a_clean_error(spiral_run, tmp_path, kind):
    path = bad_checkpoints(tmp_path, best_checkpoint(spiral_run))[kind]
    source = write_points(tmp_path / "in.csv")
    assert_clean_error(run("predict", path, source), BAD_CHECKPOINT_MESSAGES[kind])


def test_predict_run_dir_without_checkpoint_is_a_clean_error(tmp_path):
    source = write_points(tmp_path / "in.csv")
    assert_clean_error(run("predict", empty_run_dir(tmp_path), source), "holds no best checkpoint")


def test_predict_help_has_an_example():
    out = assert_ok(run("predict", "--help"))
    assert "Examples:" in out and "mlptrain predict runs/" in out


def test_predict_idx_images(tmp_path):
    from data_helpers import write_idx

    from mlptrain.data.idx import IMAGES_MAGIC

    run_dir = train_run(tmp_path / "runs", data={"source": "blobs", "n_samples": 120,
                                                  "n_features": 4})
    images = np.random.default_rng(0).integers(0, 256, (5, 2, 2)).astype(np.uint8)
    source = write_idx(tmp_path / "images-idx3-ubyte", images, IMAGES_MAGIC)
    table = rows(assert_ok(run("predict", run_dir, source, "--proba")))
    assert len(table) == 5 and "p_0" in table[0]
    wrong = write_idx(tmp_path / "wide-idx3-ubyte", np.zeros((2, 3, 3), np.uint8), IMAGES_MAGIC)
    assert_clean_error(run("predict", run_dir, wrong), "has 9 feature columns, the model expects 4")
