"""Optimizers: hand-computed steps, decay mask, exact state restore, clipping, subnormal flush."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mlptrain.optim import OPTIMIZERS, clip_grad_norm_, get_optimizer
from mlptrain.optim.optimizers import FLUSH_EVERY

P0 = np.array([1.0, -2.0, 0.5])
G1 = np.array([0.1, 0.2, -0.3])
G2 = np.array([-0.2, 0.4, 0.1])
MASK = np.array([1.0, 0.0, 1.0])


def _run(name, grads, lr=0.1, **kw):
    p = P0.copy()
    opt = get_optimizer(name, **kw)
    for g in grads:
        opt.step(p, g, lr)
    return p


def test_sgd_plain_and_momentum_two_steps():
    np.testing.assert_allclose(_run("sgd", [G1, G2], momentum=0.0), P0 - 0.1 * G1 - 0.1 * G2)
    buf = G1
    p = P0 - 0.1 * buf
    buf = 0.9 * buf + G2
    np.testing.assert_allclose(_run("sgd", [G1, G2], momentum=0.9), p - 0.1 * buf)


def test_sgd_nesterov_two_steps():
    buf = G1
    p = P0 - 0.1 * (G1 + 0.9 * buf)
    buf = 0.9 * buf + G2
    p = p - 0.1 * (G2 + 0.9 * buf)
    np.testing.assert_allclose(_run("sgd", [G1, G2], momentum=0.9, nesterov=True), p)


def test_sgd_weight_decay_respects_the_mask():
    g = G1 + 0.01 * MASK * P0
    np.testing.assert_allclose(_run("sgd", [G1], momentum=0.0, weight_decay=0.01, decay_mask=MASK),
                               P0 - 0.1 * g)


def _adam_ref(grads, lr, b1=0.9, b2=0.999, eps=1e-8, wd=0.0, decoupled=False, mask=None):
    p, m, v = P0.copy(), np.zeros(3), np.zeros(3)
    mask = np.ones(3) if mask is None else mask
    for t, g in enumerate(grads, 1):
        if decoupled:
            p = p * (1 - lr * wd * mask)
        else:
            g = g + wd * mask * p
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        mhat, vhat = m / (1 - b1**t), v / (1 - b2**t)
        p = p - lr * mhat / (np.sqrt(vhat) + eps)
    return p


def test_adam_two_steps_and_first_step_is_lr_times_sign():
    np.testing.assert_allclose(_run("adam", [G1]), P0 - 0.1 * np.sign(G1), rtol=1e-6)
    np.testing.assert_allclose(_run("adam", [G1, G2], betas=(0.8, 0.99)),
                               _adam_ref([G1, G2], 0.1, 0.8, 0.99), rtol=1e-12)


def test_adam_coupled_vs_adamw_decoupled_decay():
    adam = _run("adam", [G1, G2], weight_decay=0.1, decay_mask=MASK)
    adamw = _run("adamw", [G1, G2], weight_decay=0.1, decay_mask=MASK)
    np.testing.assert_allclose(adam, _adam_ref([G1, G2], 0.1, wd=0.1, mask=MASK), rtol=1e-12)
    np.testing.assert_allclose(adamw, _adam_ref([G1, G2], 0.1, wd=0.1, decoupled=True, mask=MASK), rtol=1e-12)
    assert not np.allclose(adam, adamw)
    # masked entry: no decay in either
    np.testing.assert_allclose(adamw[1], _adam_ref([G1, G2], 0.1)[1], rtol=1e-12)


def test_rmsprop_two_steps_with_and_without_momentum():
    v = 0.01 * G1**2
    p = P0 - 0.1 * G1 / (np.sqrt(v) + 1e-8)
    v = 0.99 * v + 0.01 * G2**2
    p = p - 0.1 * G2 / (np.sqrt(v) + 1e-8)
    np.testing.assert_allclose(_run("rmsprop", [G1, G2], momentum=0.0), p, rtol=1e-12)
    v = 0.01 * G1**2
    buf = G1 / (np.sqrt(v) + 1e-8)
    p = P0 - 0.1 * buf
    v = 0.99 * v + 0.01 * G2**2
    buf = 0.5 * buf + G2 / (np.sqrt(v) + 1e-8)
    np.testing.assert_allclose(_run("rmsprop", [G1, G2], momentum=0.5), p - 0.1 * buf, rtol=1e-12)


def test_adagrad_two_steps():
    """With the default eps, 1e-8 (the config's; PyTorch's is 1e-10)."""
    s = G1**2
    p = P0 - 0.1 * G1 / (np.sqrt(s) + 1e-8)
    s = s + G2**2
    p = p - 0.1 * G2 / (np.sqrt(s) + 1e-8)
    np.testing.assert_allclose(_run("adagrad", [G1, G2]), p, rtol=1e-12)


KWARGS = {"sgd": {"momentum": 0.9, "nesterov": True}, "adam": {}, "adamw": {},
          "rmsprop": {"momentum": 0.3}, "adagrad": {}}


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_continue_after_restore_equals_continue_without(name, dtype):
    if getattr(OPTIMIZERS[name], "needs_closure", False):
        pytest.skip("a full-batch optimizer steps with a closure: see test_optim_lbfgs.py")
    rng = np.random.default_rng(0)
    grads = rng.standard_normal((6, 5)).astype(dtype)
    p = rng.standard_normal(5).astype(dtype)
    opt = get_optimizer(name, weight_decay=0.01, **KWARGS[name])
    for g in grads[:3]:
        opt.step(p, g, 0.05)
    state, p_saved = opt.state_dict(), p.copy()
    for g in grads[3:]:
        opt.step(p, g, 0.05)
    fresh = get_optimizer(name, weight_decay=0.01, **KWARGS[name])
    fresh.load_state_dict(state)
    q = p_saved
    for g in grads[3:]:
        fresh.step(q, g, 0.05)
    np.testing.assert_array_equal(q, p)
    assert q.dtype == dtype and all(a.dtype == dtype for a in state["arrays"].values())


def test_state_dict_is_arrays_plus_json_scalars_and_loading_is_strict():
    import json

    opt = get_optimizer("adam")
    opt.step(P0.copy(), G1, 0.1)
    state = opt.state_dict()
    json.dumps(state["scalars"])
    assert set(state["arrays"]) == {"exp_avg", "exp_avg_sq"}
    other = get_optimizer("adam")
    with pytest.raises(ValueError, match="keys"):
        other.load_state_dict({"arrays": {"exp_avg": state["arrays"]["exp_avg"]}, "scalars": state["scalars"]})
    with pytest.raises(ValueError, match="one shape"):
        other.load_state_dict({"arrays": {"exp_avg": np.zeros(3), "exp_avg_sq": np.zeros(4)},
                               "scalars": state["scalars"]})
    with pytest.raises(ValueError, match="dtype"):
        other.load_state_dict({"arrays": {"exp_avg": np.zeros(3), "exp_avg_sq": np.zeros(3, np.float32)},
                               "scalars": state["scalars"]})
    with pytest.raises(ValueError, match="is for 'adam', not 'sgd'"):
        get_optimizer("sgd").load_state_dict(state)
    opt.load_state_dict(state)
    with pytest.raises(ValueError, match="expected"):
        opt.load_state_dict({"arrays": {k: np.zeros(4) for k in state["arrays"]}, "scalars": state["scalars"]})


def test_step_does_not_modify_grads_or_allocate_new_state():
    p, g = P0.copy(), G1.copy()
    opt = get_optimizer("adam", weight_decay=0.1)
    opt.step(p, g, 0.1)
    bufs = {k: v.ctypes.data for k, v in opt.state.items()}
    opt.step(p, g, 0.1)
    np.testing.assert_array_equal(g, G1)
    assert bufs == {k: v.ctypes.data for k, v in opt.state.items()}


def test_subnormal_state_entries_are_flushed_every_256_steps():
    p = np.zeros(2, np.float32)
    opt = get_optimizer("sgd", momentum=0.5)
    zero = np.zeros(2, np.float32)
    for _ in range(FLUSH_EVERY - 2):
        opt.step(p, zero, 0.0)
    buf = opt.state["momentum_buffer"]
    buf[:] = [4e-40, 1.0]  # subnormal in float32
    opt.step(p, zero, 0.0)  # step 255: no flush yet
    assert 0 < buf[0] < np.finfo(np.float32).tiny
    opt.step(p, zero, 0.0)  # step 256 flushes
    assert opt.t == FLUSH_EVERY
    np.testing.assert_array_equal(buf, np.array([0.0, 0.25], np.float32))


def test_flush_zeroes_subnormals_only():
    opt = get_optimizer("adam")
    p = np.zeros(3, np.float32)
    opt.step(p, np.zeros(3, np.float32), 0.0)
    sub = np.float32(1e-40)
    opt.state["exp_avg"][:] = [sub, 1e-30, -sub]
    opt._flush_subnormals()
    np.testing.assert_array_equal(opt.state["exp_avg"], np.array([0, 1e-30, 0], np.float32))


def test_clip_grad_norm_scales_to_max_norm_and_returns_the_original_norm():
    g = np.array([3.0, 4.0])
    assert clip_grad_norm_(g, 1.0) == pytest.approx(5.0)
    np.testing.assert_allclose(g, [0.6, 0.8], rtol=1e-6)
    h = np.array([0.3, 0.4])
    assert clip_grad_norm_(h, 1.0) == pytest.approx(0.5)
    np.testing.assert_array_equal(h, [0.3, 0.4])
    bad = np.array([np.inf, 1.0])
    assert math.isinf(clip_grad_norm_(bad, 1.0))
    with pytest.raises(ValueError, match="max_norm must be > 0, got 0"):
        clip_grad_norm_(h, 0)


@pytest.mark.parametrize("name,kw,match", [
    ("sgd", {"momentum": 1.5}, "momentum must be in"),
    ("sgd", {"nesterov": True, "momentum": 0.0}, "nesterov needs momentum"),
    ("adam", {"betas": (0.9, 1.0)}, "betas must be in"),
    ("rmsprop", {"alpha": -1}, "alpha must be in"),
    ("adamw", {"weight_decay": -1}, "weight_decay must be >= 0, got -1"),
    ("no_such_optimizer", {}, "unknown optimizer 'no_such_optimizer'"),
    ("adam", {"momentum": 0.9}, "bad options for optimizer 'adam'"),
])
def test_bad_optimizer_arguments_are_named(name, kw, match):
    with pytest.raises(ValueError, match=match):
        get_optimizer(name, **kw)


@pytest.mark.parametrize("name", sorted(set(OPTIMIZERS.names()) - {"lbfgs"}))  # see test_optim_lbfgs
def test_state_slots_count_the_state_arrays_for_the_memory_estimate(name):
    """`state_slots` (read by the memory check) is the number of parameter-sized state arrays
    the optimizer keeps in its largest configuration (momentum on)."""
    kw = {"momentum": 0.9} if "momentum" in {p.name for p in OPTIMIZERS.entry(name).params} else {}
    opt = get_optimizer(name, **kw)
    opt.step(P0.copy(), G1, 0.1)
    assert len(opt.state) == OPTIMIZERS[name].state_slots
    assert all(a.shape == P0.shape for a in opt.state.values())
