"""Tests written to kill mutants that used to survive the whole suite (issue 17).

Each test names the mutant it kills; each expected value is computed by hand here, never by
the code under test:

- the update-to-weight ratio with ||W|| in place of ||dW|| (training.update_ratios);
- weight decay built from a config without the network's decay mask (biases and batch-norm
  parameters decayed too) or with no decay at all (builders.build_optimizer).

R² with its sign flipped and F1 without its factor 2 are killed by the hand-computed tests of
tests/test_metrics_report.py (test_regression_metrics_per_target_and_overall_by_hand,
test_per_class_precision_recall_f1_support_by_hand).
"""

from __future__ import annotations

import numpy as np
import pytest

from mlptrain.builders import build_model, build_optimizer
from mlptrain.config import validate_config
from mlptrain.data import load_data
from mlptrain.nn import MLP
from mlptrain.training import update_ratios


def test_update_ratio_is_the_norm_of_the_change_over_the_norm_of_the_weights_before():
    # kills: ||W_after|| / ||W_before|| (which is ~1 whatever the step) for ||dW|| / ||W_before||
    net = MLP([2, 2, 1], activation="tanh", output="sigmoid", dtype="float64", seed=0)
    w0 = np.array([[3.0, 0.0], [0.0, 4.0]])  # ||w0|| = 5
    w1 = np.array([[1.0], [2.0]])  # ||w1|| = sqrt(5)
    net.parameters()["layers.0.weight"][:] = w0
    net.parameters()["layers.1.weight"][:] = w1
    net.parameters()["layers.0.bias"][:] = [7.0, -7.0]  # biases take no part in the ratio
    previous = net.params.copy()
    net.parameters()["layers.0.weight"][:] = w0 + [[0.3, 0.0], [0.0, -0.4]]  # ||dW|| = 0.5
    net.parameters()["layers.1.weight"][:] = w1 * 3.0  # dW = 2 w1, ||dW|| = 2 sqrt(5)
    net.parameters()["layers.0.bias"][:] = 100.0
    ratios = update_ratios(net, previous)
    assert ratios == pytest.approx([0.5 / 5.0, 2.0])


def test_update_ratio_is_none_before_the_first_step_and_for_all_zero_weights():
    net = MLP([2, 2, 1], output="sigmoid", dtype="float64", seed=0)
    assert update_ratios(net, None) == [None, None]
    net.parameters()["layers.1.weight"][:] = 0.0
    previous = net.params.copy()
    net.parameters()["layers.1.weight"][:] = 1.0
    ratios = update_ratios(net, previous)
    assert ratios[0] == 0.0 and ratios[1] is None


def _built(kind: str, weight_decay: float, lr: float, tmp_path):
    """The network and optimizer a config builds: spiral data, two hidden layers with batch
    norm (their dense layers have no bias), float64."""
    raw = {"data": {"source": "spiral", "n_samples": 60},
           "model": {"hidden": [4, 3], "batchnorm": True, "dtype": "float64",
                     "output": "softmax"},
           "loss": "cross_entropy",
           "optimizer": {"kind": kind, "lr": lr, "weight_decay": weight_decay},
           "run": {"root": str(tmp_path)}}
    cfg = validate_config(raw)
    bundle = load_data(cfg.data, seed=cfg.seed, loss_kind=cfg.loss.kind)
    net = build_model(cfg, bundle)
    return net, build_optimizer(cfg, net)


def _decayed(name: str) -> bool:
    """The documented rule: dense weights decay; biases and batch-norm parameters do not."""
    return name.endswith(".weight") and ".bn." not in name


@pytest.mark.parametrize("kind", ["sgd", "adam", "adamw"])
def test_weight_decay_from_a_config_shrinks_dense_weights_only(kind, tmp_path):
    # kills: build_optimizer passing decay_mask=None (every parameter decayed) or no decay
    lr, wd = 0.1, 0.5
    net, opt = _built(kind, wd, lr, tmp_path)
    names = list(net.parameters())
    assert {"layers.0.bn.weight", "layers.1.bn.bias", "layers.2.bias", "layers.2.weight"} <= set(names)
    for v in net.parameters().values():  # no parameter is 0, so a missed decay shows
        v[np.abs(v) < 1e-3] = 0.5
    before = {k: v.copy() for k, v in net.parameters().items()}
    opt.step(net.params, np.zeros_like(net.params), lr)  # the data gradient is 0: decay only
    for name in names:
        p0, p1 = before[name], net.parameters()[name]
        if not _decayed(name):
            np.testing.assert_array_equal(p1, p0, err_msg=name)
        elif kind == "sgd":  # p - lr * wd * p
            np.testing.assert_allclose(p1, p0 * (1 - lr * wd), rtol=1e-12, err_msg=name)
        elif kind == "adamw":  # decoupled: p * (1 - lr * wd), then an Adam step of m = 0
            np.testing.assert_allclose(p1, p0 * (1 - lr * wd), rtol=1e-12, err_msg=name)
        else:  # adam, coupled: g = wd * p, m_hat = g, v_hat = g², p - lr * g / (|g| + eps)
            g = wd * p0
            np.testing.assert_allclose(p1, p0 - lr * g / (np.abs(g) + 1e-8), rtol=1e-12,
                                       err_msg=name)
