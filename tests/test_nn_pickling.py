"""An MLP survives pickling (joblib, GridSearchCV with n_jobs, process pools, deepcopy) with
its per-layer views still sharing memory with the flat ``params``, so training continues."""

from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest

from mlptrain.nn import MLP, get_loss
from mlptrain.optim import get_optimizer


def _net(**kwargs) -> MLP:
    options = {"activation": "tanh", "batchnorm": True, "dropout": 0.2, "seed": 3,
               "dtype": "float64"}
    return MLP([5, 12, 8, 3], **{**options, **kwargs})


def _data(n=96):
    rng = np.random.default_rng(7)
    return rng.normal(size=(n, 5)), rng.integers(0, 3, n)


def _train(net, opt, rng, steps, X, y):
    """`steps` SGD steps on fixed batches; returns the loss of each step."""
    loss = get_loss("cross_entropy", output="softmax")
    losses = []
    for s in range(steps):
        rows = slice((s * 32) % len(X), (s * 32) % len(X) + 32)
        value, dlogits = loss.value_and_grad(net.forward(X[rows], training=True, rng=rng), y[rows])
        net.backward(dlogits)
        opt.step(net.params, net.grads, 0.05)
        losses.append(value)
    return losses


def _assert_views_share_the_flat_arrays(net):
    for name, view in net.parameters().items():
        assert np.shares_memory(view, net.params), name
    for name, view in net.gradients().items():
        assert np.shares_memory(view, net.grads), name
    for hl in net.hidden:  # what forward/backward actually read and write
        assert np.shares_memory(hl.dense.W, net.params)
        assert np.shares_memory(hl.dense.dW, net.grads)
        assert np.shares_memory(hl.bn.running_mean, net._buffer_flat)
    assert np.shares_memory(net.out_dense.W, net.params)


@pytest.mark.parametrize("roundtrip", [lambda n: pickle.loads(pickle.dumps(n)), copy.deepcopy],
                         ids=["pickle", "deepcopy"])
def test_training_after_a_round_trip_follows_the_same_trajectory(roundtrip):
    X, y = _data()
    net, opt, rng = _net(), get_optimizer("sgd", momentum=0.9), np.random.default_rng(1)
    _train(net, opt, rng, 5, X, y)
    twin, twin_opt = roundtrip(net), copy.deepcopy(opt)
    twin_rng = np.random.default_rng(1)
    twin_rng.bit_generator.state = rng.bit_generator.state
    _assert_views_share_the_flat_arrays(twin)
    np.testing.assert_array_equal(twin.params, net.params)
    np.testing.assert_array_equal(twin._buffer_flat, net._buffer_flat)  # BN running stats
    before = twin.params.copy()
    expected = _train(net, opt, rng, 30, X, y)
    got = _train(twin, twin_opt, twin_rng, 30, X, y)
    assert got == expected  # bit for bit, step by step
    np.testing.assert_array_equal(twin.params, net.params)
    assert not np.array_equal(twin.params, before)  # the bug: params moved, the model did not
    assert got[-1] < got[0]


def test_a_round_trip_keeps_config_outputs_and_alignment():
    X, _ = _data(10)
    net = _net(activation=["gelu", {"name": "leaky_relu", "negative_slope": 0.1}],
               input_dropout=0.1, dtype="float32")
    net.params[:] = np.random.default_rng(0).normal(size=net.params.size)
    twin = pickle.loads(pickle.dumps(net))
    assert twin.get_config() == net.get_config()
    assert twin.params.ctypes.data % 64 == 0 and twin.params.dtype == np.float32
    np.testing.assert_array_equal(twin.predict_proba(X), net.predict_proba(X))


def test_read_only_arrays_from_a_joblib_memmap_give_a_trainable_model(tmp_path, monkeypatch):
    joblib = pytest.importorskip("joblib")
    X, y = _data()
    net, opt, rng = _net(), get_optimizer("sgd"), np.random.default_rng(1)
    _train(net, opt, rng, 3, X, y)
    joblib.dump(net, tmp_path / "net.joblib")
    arrived = []
    setstate = MLP.__setstate__
    monkeypatch.setattr(MLP, "__setstate__", lambda self, state: (
        arrived.append(state["params"].flags.writeable), setstate(self, state))[-1])
    loaded = joblib.load(tmp_path / "net.joblib", mmap_mode="r")
    assert arrived == [False]  # the arrays really came in as read-only memory maps
    assert loaded.params.flags.writeable and not isinstance(loaded.params, np.memmap)
    _assert_views_share_the_flat_arrays(loaded)
    twin_rng = np.random.default_rng(1)
    twin_rng.bit_generator.state = rng.bit_generator.state
    twin_opt = copy.deepcopy(opt)
    assert _train(loaded, twin_opt, twin_rng, 20, X, y) == _train(net, opt, rng, 20, X, y)
    np.testing.assert_array_equal(loaded.params, net.params)


def test_setstate_copies_read_only_arrays_and_rejects_a_mismatched_layout():
    net = _net()
    state = net.__getstate__()
    for key in ("params", "grads", "buffers"):
        state[key] = state[key].copy()
        state[key].setflags(write=False)
    twin = MLP.__new__(MLP)
    twin.__setstate__(state)
    twin.params += 1.0  # writeable
    _assert_views_share_the_flat_arrays(twin)
    state["params"] = state["params"][:-1]
    with pytest.raises(ValueError, match="pickled MLP array has"):
        MLP.__new__(MLP).__setstate__(state)
