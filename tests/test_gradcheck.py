"""`mlptrain gradcheck`: the built-in matrix passes tightly, a deliberately broken derivative
is caught with exit code 1, configs and checkpoints are checked tensor by tensor, relu kinks
are reported apart, and bad input exits 2."""

from __future__ import annotations

import numpy as np
import pytest
from tools_helpers import (
    assert_clean_error,
    assert_ok,
    bad_checkpoints,
    best_checkpoint,
    run,
    stdout_json,
    write_config,
)

from mlptrain.gradcheck import Problem, check_problem, rel_error


def test_builtin_matrix_passes_below_1e_6():
    result = run("gradcheck", "--json")
    assert_ok(result)
    report = stdout_json(result)
    assert report["passed"] is True
    assert report["max_rel_error"] < 1e-6
    names = " ".join(c["name"] for c in report["components"])
    from mlptrain.nn import ACTIVATIONS, LOSSES

    for name in list(ACTIVATIONS) + list(LOSSES):
        assert name in names
    for name in ("dropout", "batch norm"):
        assert name in names


def test_builtin_matrix_table_shows_each_component_and_its_result():
    out = assert_ok(run("gradcheck"))
    assert "activation tanh" in out and "pass" in out and "FAIL" not in out
    assert "max relative error" in out


def test_broken_tanh_derivative_fails_with_exit_code_1(monkeypatch):
    from mlptrain.nn.activations import Tanh

    def wrong_backward(self, d):  # forgets the square: d * (1 - a) instead of d * (1 - a^2)
        d -= d * self._a
        return d

    monkeypatch.setattr(Tanh, "backward", wrong_backward)
    result = run("gradcheck")
    assert_clean_error(result, "FAIL", "gradient check failed", "activation tanh", code=1)
    assert "activation relu" in result.output  # the other components still ran


def test_broken_derivative_fails_in_json_mode_too(monkeypatch):
    from mlptrain.nn.activations import Sigmoid

    monkeypatch.setattr(Sigmoid, "backward", lambda self, d: d)
    result = run("gradcheck", "--json")
    assert result.exit_code == 1
    report = stdout_json(result)
    failed = {c["name"] for c in report["components"] if not c["passed"]}
    assert "activation sigmoid" in failed
    assert "activation relu" not in failed


def test_a_threshold_no_float_can_meet_fails_with_exit_code_1():
    assert_clean_error(run("gradcheck", "--threshold", "1e-15"), "gradient check failed", code=1)


def test_config_is_checked_tensor_by_tensor(tmp_path):
    cfg = write_config(tmp_path, "data: {source: spiral, n_samples: 200}\n"
                       "model: {hidden: [8, 6], activation: tanh, dropout: 0.2, batchnorm: true}\n")
    result = run("gradcheck", cfg, "--json")
    assert_ok(result)
    tensors = stdout_json(result)["components"][0]["tensors"]
    names = [t["name"] for t in tensors]
    assert "layers.0.bn.weight" in names and "layers.2.weight" in names
    assert all(t["passed"] for t in tensors)


def test_config_overrides_apply(tmp_path):
    cfg = write_config(tmp_path, "data: {source: spiral, n_samples: 200}\nmodel: {hidden: [8]}\n")
    out = assert_ok(run("gradcheck", cfg, "model.hidden=[5,3]"))
    assert "layers.2.weight" in out and "5x3" in out


def test_random_data_of_an_image_set_needs_no_download(tmp_path, monkeypatch):
    monkeypatch.setenv("MLPTRAIN_DATA", str(tmp_path / "empty-cache"))
    cfg = write_config(tmp_path, "data: {source: mnist, download: false}\nmodel: {hidden: [8]}\n")
    result = run("gradcheck", cfg, "--random-data", "--samples", "20", "--json")
    assert_ok(result)
    tensors = stdout_json(result)["components"][0]["tensors"]
    assert tensors[0]["shape"] == [784, 8]
    assert tensors[0]["checked"] + tensors[0]["kinks"] == 20  # a sample of the 6272 entries


def test_checkpoint_is_checked_at_its_weights(spiral_run):
    result = run("gradcheck", spiral_run, "--samples", "5", "--json")
    assert_ok(result)
    report = stdout_json(result)
    assert report["passed"]
    for t in report["components"][0]["tensors"]:
        assert t["checked"] + t["kinks"] == min(5, int(np.prod(t["shape"])))


def test_checkpoint_with_random_data(spiral_run):
    assert stdout_json(run("gradcheck", best_checkpoint(spiral_run), "--random-data",
                           "--json"))["passed"]


def test_entries_at_a_relu_kink_are_reported_apart_not_failed():
    from mlptrain.nn import MLP, get_loss

    net = MLP([2, 3, 2], activation="relu", seed=1, dtype="float64")
    X = np.array([[0.5, -1.0], [1.0, 2.0], [-0.3, 0.7]])
    z = X @ net.parameters()["layers.0.weight"]  # (3, 3) pre-activations, bias 0
    net.parameters()["layers.0.bias"][0] = -z[0, 0] + 1e-7  # unit 0 of sample 0 at the kink
    problem = Problem("kink", net, X, np.array([0, 1, 1]), get_loss("cross_entropy"))
    result = check_problem(problem, eps=1e-5)
    bias = next(t for t in result.tensors if t.name == "layers.0.bias")
    assert bias.kinks >= 1
    assert result.kinks >= 1 and result.max_rel < 1e-5


def test_relative_error_formula():
    a, n = np.array([1.0, 0.0, 1e-9]), np.array([1.0 + 1e-6, 0.0, 2e-9])
    expected = [1e-6 / (2 + 1e-6), 0.0, 1e-9 / 1e-6]
    assert rel_error(a, n, tiny=1e-6) == pytest.approx(expected)


@pytest.mark.parametrize("args, fragment", [
    (["--eps", "0"], "eps must be in (0, 1)"),
    (["--threshold", "-1"], "threshold must be > 0"),
    (["--samples", "0"], "samples must be >= 1"),
])
def test_bad_settings_exit_2(args, fragment):
    assert_clean_error(run("gradcheck", *args), fragment)


def test_missing_config_exits_2(tmp_path):
    assert_clean_error(run("gradcheck", tmp_path / "nope.yaml"), "nope.yaml")


def test_corrupt_checkpoint_exits_2(spiral_run, tmp_path):
    files = bad_checkpoints(tmp_path, best_checkpoint(spiral_run))
    assert_clean_error(run("gradcheck", files["truncated"]), "not a readable safetensors")
    assert_clean_error(run("gradcheck", files["foreign"]), "not an mlptrain checkpoint")


def test_overrides_without_config_exit_2():
    assert_clean_error(run("gradcheck", "model.hidden=[4]"), "overrides need a CONFIG")


def test_gradcheck_help_has_an_example():
    out = assert_ok(run("gradcheck", "--help"))
    assert "Examples:" in out and "mlptrain gradcheck configs/" in out
