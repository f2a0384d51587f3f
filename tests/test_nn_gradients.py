"""Analytic gradients of the MLP match finite differences, for every activation x loss x output,
with dropout (mask fixed by a same-seed Generator) and batch norm, in float64."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from mlptrain.gradcheck import STRICT, Problem, check_entries, random_targets
from mlptrain.nn import ACTIVATIONS, COMPATIBLE_OUTPUTS, MLP, get_loss

PAIRS = [(loss, out) for loss, outs in COMPATIBLE_OUTPUTS.items() for out in sorted(outs)]
TOL = 1e-6


@st.composite
def cases(draw):
    loss, out = draw(st.sampled_from(PAIRS))
    bn = draw(st.booleans())
    return {
        "activation": draw(st.sampled_from(sorted(ACTIVATIONS.names()))),
        "loss": loss,
        "output": out,
        "hidden": draw(st.lists(st.integers(1, 5), min_size=0, max_size=2)),
        "n_in": draw(st.integers(1, 5)),
        "n_out": draw(st.integers(2 if out == "softmax" else 1, 5)),
        # BN on 2 samples maps every input to +-1 (up to eps): the gradients flowing below it
        # are ~1e-12, pure roundoff for any finite difference; 3+ samples keep them measurable.
        "batch": draw(st.integers(3 if bn else 1, 6)),
        "dropout": draw(st.sampled_from([0.0, 0.3])),
        "batchnorm": bn,
        "soft": draw(st.booleans()),
        "seed": draw(st.integers(0, 2**31 - 1)),
    }


def _run(case, **extra):
    rng = np.random.default_rng(case["seed"])
    net = MLP([case["n_in"], *case["hidden"], case["n_out"]], activation=case["activation"],
              output=case["output"], dropout=case["dropout"], batchnorm=case["batchnorm"],
              seed=case["seed"] % 1000, dtype="float64")
    X = rng.standard_normal((case["batch"], case["n_in"]))
    y = random_targets(case["loss"], case["output"], case["batch"], case["n_out"], rng,
                       case["soft"])
    loss = get_loss(case["loss"], output=case["output"], **extra.pop("loss_kwargs", {}))
    problem = Problem("case", net, X, y, loss, dropout_seed=case["seed"], **extra)
    return check_entries(problem, **STRICT), rng


def _assert_matches(r):
    checked = ~r.skipped
    assert checked.sum() >= r.rel.size // 2, f"too many kink skips: {r.skipped.sum()} of {r.rel.size}"
    bad = np.flatnonzero((r.rel > TOL) & checked)
    assert bad.size == 0, (
        f"{bad.size} entries off, worst rel {r.rel[bad].max():.3g}: "
        f"analytic {r.analytic[bad][:3]}, numeric {r.numeric[bad][:3]}"
    )


def _assert_matches_where_informative(r):
    """`_assert_matches` for a generated case, which is set aside (hypothesis draws another)
    when kinks make most of it unverifiable: a net without hidden layers and one output,
    with one sample's residual within a finite-difference step of MAE's kink, moves every
    weight across it. How often kinks are skipped is tested on a fixed sweep below."""
    assume((~r.skipped).sum() >= r.rel.size // 2)
    _assert_matches(r)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases())
def test_every_gradient_entry_matches_finite_differences(case):
    r, _ = _run(case)
    _assert_matches_where_informative(r)


@settings(max_examples=80, deadline=None)
@given(cases())
@example(case={"activation": "elu", "loss": "mae", "output": "sigmoid", "hidden": [], "n_in": 3,
               "n_out": 1, "batch": 3, "dropout": 0.0, "batchnorm": False, "soft": False,
               "seed": 39229206})  # all 4 weights cross MAE's kink: set aside, not failed
def test_sample_weighted_gradients_match_finite_differences(case):
    rng = np.random.default_rng(case["seed"] + 1)
    sw = rng.random(case["batch"]) + 0.1
    r, _ = _run(case, sample_weight=sw)
    _assert_matches_where_informative(r)


@settings(max_examples=80, deadline=None)
@given(cases().filter(lambda c: c["loss"] in ("cross_entropy", "binary_cross_entropy")))
def test_class_weighted_gradients_match_finite_differences(case):
    rng = np.random.default_rng(case["seed"] + 2)
    k = case["n_out"] if case["loss"] == "cross_entropy" else 2
    cw = rng.random(k) + 0.2
    sw = rng.random(case["batch"]) + 0.1
    r, _ = _run(case, sample_weight=sw, loss_kwargs={"class_weight": cw})
    _assert_matches_where_informative(r)


@pytest.mark.parametrize("activation", ["relu", "leaky_relu", "elu"])
def test_kink_skips_are_rare_and_reported(activation, record_property):
    """Over a fixed sweep, entries skipped for crossing a kink stay below 2% (and are recorded)."""
    skipped = total = 0
    for seed in range(40):
        case = {"activation": activation, "loss": "cross_entropy", "output": "softmax",
                "hidden": [5, 4], "n_in": 4, "n_out": 3, "batch": 6, "dropout": 0.0,
                "batchnorm": seed % 2 == 1, "soft": False, "seed": seed}
        r, _ = _run(case)
        _assert_matches(r)
        skipped += int(r.skipped.sum())
        total += r.rel.size
    record_property("gradcheck_kink_skips", f"{skipped}/{total}")
    assert skipped / total < 0.02, f"{skipped} of {total} entries skipped at kinks"


def test_eval_mode_gradients_match_finite_differences():
    """backward after an eval-mode forward (BN on running stats, no dropout) is exact too."""
    case = {"activation": "tanh", "loss": "cross_entropy", "output": "softmax", "hidden": [4, 3],
            "n_in": 3, "n_out": 3, "batch": 5, "dropout": 0.3, "batchnorm": True, "soft": False,
            "seed": 7}
    r, _ = _run(case, training=False)
    _assert_matches(r)


def test_gradient_check_detects_a_wrong_derivative(monkeypatch):
    """The checker can fail: a tanh derivative off by 1% is caught."""
    from mlptrain.nn import activations

    def bad_backward(self, d):
        d -= d * self._a * self._a
        d *= 1.01
        return d

    monkeypatch.setattr(activations.Tanh, "backward", bad_backward)
    case = {"activation": "tanh", "loss": "mse", "output": "identity", "hidden": [3],
            "n_in": 2, "n_out": 2, "batch": 4, "dropout": 0.0, "batchnorm": False, "soft": False,
            "seed": 3}
    r, _ = _run(case)
    assert r.max_rel > 1e-3
