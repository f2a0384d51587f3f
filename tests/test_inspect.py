"""`mlptrain inspect`: the architecture table with parameter counts and FLOPs, activation
statistics on real data at initialization, and the warnings of the weight-initialization
slide (saturated sigmoid with N(0, 1) weights, vanishing tanh with a tiny init)."""

from __future__ import annotations

from tools_helpers import (
    assert_clean_error,
    assert_ok,
    run,
    stdout_json,
    write_config,
)

DEEP = "data: {source: blobs, n_samples: 400, n_features: 20}\nmodel: {hidden: [64, 64, 64]}\n"


def test_inspect_config_shows_shapes_parameters_and_flops(tmp_path):
    cfg = write_config(tmp_path, "data: {source: spiral, n_samples: 200}\nmodel: {hidden: [16, 8]}\n")
    out = assert_ok(run("inspect", cfg))
    for fragment in ("2 x 16", "16 x 8", "8 x 3", "FLOPs", "total", "activations at initialization"):
        assert fragment in out
    data = stdout_json(run("inspect", cfg, "--json"))
    assert data["n_params"] == (2 * 16 + 16) + (16 * 8 + 8) + (8 * 3 + 3)
    assert data["memory_bytes"] == 4 * data["n_params"]  # float32
    assert data["flops_per_sample"] == 2 * (2 * 16 + 16 * 8 + 8 * 3)
    assert [a["name"] for a in data["activations"]] == ["layers.0", "layers.1"]


def test_sigmoid_with_unit_normal_init_warns_saturation_and_xavier_does_not(tmp_path):
    cfg = write_config(tmp_path, DEEP)
    bad = run("inspect", cfg, "model.activation=sigmoid", "model.init=normal",
              "model.init_scale=1.0", "--json")
    warnings = stdout_json(bad)["warnings"]
    assert any("saturated" in w for w in warnings)
    good = run("inspect", cfg, "model.activation=sigmoid", "model.init=xavier_normal", "--json")
    assert stdout_json(good)["warnings"] == []


def test_tiny_init_warns_that_activations_vanish(tmp_path):
    cfg = write_config(tmp_path, DEEP)
    result = run("inspect", cfg, "model.activation=tanh", "model.init=normal",
                 "model.init_scale=0.01")
    out = assert_ok(result)
    assert "warning:" in out and "activations vanish" in out and "layers.2" in out


def test_huge_init_warns_that_activations_explode(tmp_path):
    cfg = write_config(tmp_path, DEEP)
    data = stdout_json(run("inspect", cfg, "model.activation=relu", "model.init=normal",
                           "model.init_scale=3.0", "--json"))
    assert any("explode" in w or "grows" in w for w in data["warnings"])


def test_inspect_checkpoint_uses_its_weights(spiral_run):
    data = stdout_json(run("inspect", spiral_run, "--json"))
    assert data["weights"] == "checkpoint"
    assert data["layers"][0]["shape"] == [2, 16]


def test_inspect_missing_target_is_a_clean_error(tmp_path):
    assert_clean_error(run("inspect", tmp_path / "absent.yaml"), "absent.yaml")
    assert_clean_error(run("inspect", tmp_path / "absent.safetensors"), "no such checkpoint")


def test_inspect_bad_config_key_is_a_clean_error(tmp_path):
    cfg = write_config(tmp_path, "model: {hiden: [4]}\n")
    assert_clean_error(run("inspect", cfg), "model.hiden")


def test_inspect_help_has_an_example():
    out = assert_ok(run("inspect", "--help"))
    assert "Examples:" in out and "mlptrain inspect configs/" in out
