"""A training step allocates no arrays: its temporaries live in reused work arrays.

tracemalloc sees every NumPy data allocation. The peak of traced memory during one step,
above what was held before it, is measured at a small and at a large batch: an array
temporary the size of a batch (or of a layer's activations) makes the large batch's peak
grow by at least its size, and one the size of the parameters exceeds the absolute bound.
What remains is a few hundred bytes of Python objects and NumPy's fixed 32 KiB iteration
buffer for broadcasting operations (the bias add, the softmax normalization), both
independent of the batch.
"""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from mlptrain.assembly import build_trainer
from mlptrain.config import validate_config
from mlptrain.data import load_data

SMALL, LARGE = 256, 8192
GROWTH_LIMIT = 2048  # bytes: a (LARGE,) bool temporary alone adds 7,936
PEAK_LIMIT = 96 * 1024  # bytes: the flat parameters of WIDE are 72,803 floats, 291 KB in float32
WIDE = [256, 256]


def _trainer(batch: int, model: dict, optimizer: dict):
    raw = {"data": {"source": "blobs", "n_samples": LARGE + 100, "n_features": 24, "n_classes": 3,
                    "val_fraction": 0.0, "test_fraction": 0.0},
           "model": {"hidden": [64, 32], **model}, "optimizer": optimizer,
           "train": {"epochs": 1, "batch_size": batch, "threads": 1}}
    cfg = validate_config(raw)
    return build_trainer(cfg, load_data(cfg.data, seed=cfg.seed, loss_kind=cfg.loss.kind))


def _step_peak(batch: int, model: dict, optimizer: dict) -> int:
    """Bytes traced at the peak of one training step, above those held before it."""
    trainer = _trainer(batch, model, optimizer)
    order = trainer._epoch_order()
    rows = order[:batch]
    for _ in range(3):  # work arrays and optimizer state are allocated by the first steps
        trainer._train_step(rows, keep_previous=True)
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        trainer._train_step(rows, keep_previous=True)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return peak - before


MODELS = {
    "relu": {"activation": "relu"},
    "leaky_relu": {"activation": "leaky_relu"},
    "tanh": {"activation": "tanh"},
    "sigmoid": {"activation": "sigmoid"},
    "elu": {"activation": "elu"},
    "softplus": {"activation": "softplus"},
    "gelu": {"activation": "gelu"},
    "batchnorm+dropout": {"activation": "relu", "batchnorm": True, "dropout": 0.2,
                          "input_dropout": 0.1},
    "float64": {"activation": "relu", "dtype": "float64"},
}
OPTIMIZERS = {
    "sgd": {"kind": "sgd", "lr": 0.1, "momentum": 0.9, "nesterov": True, "weight_decay": 1e-4},
    "adam": {"kind": "adam", "lr": 1e-3, "weight_decay": 1e-4},
    "adamw": {"kind": "adamw", "lr": 1e-3},
    "rmsprop": {"kind": "rmsprop", "lr": 1e-3},
}


@pytest.mark.parametrize("model", MODELS.values(), ids=MODELS.keys())
def test_a_step_allocates_nothing_that_grows_with_the_batch(model):
    optimizer = OPTIMIZERS["sgd"]
    small, large = _step_peak(SMALL, model, optimizer), _step_peak(LARGE, model, optimizer)
    assert large - small <= GROWTH_LIMIT, (small, large)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("optimizer", OPTIMIZERS.values(), ids=OPTIMIZERS.keys())
def test_a_step_allocates_nothing_the_size_of_the_parameters(optimizer, dtype):
    model = {"activation": "relu", "hidden": WIDE, "dtype": dtype}
    assert _step_peak(SMALL, model, optimizer) <= PEAK_LIMIT


def test_the_check_can_fail_a_step_with_a_batch_sized_temporary_is_caught(monkeypatch):
    """The same measurement on a step that makes one (batch, width) copy."""
    from mlptrain.nn.activations import ReLU

    def copying_backward(self, d):
        d *= (self._a > 0).astype(d.dtype)  # a (batch, width) temporary
        return d

    monkeypatch.setattr(ReLU, "backward", copying_backward)
    small = _step_peak(SMALL, MODELS["relu"], OPTIMIZERS["sgd"])
    large = _step_peak(LARGE, MODELS["relu"], OPTIMIZERS["sgd"])
    assert large - small > GROWTH_LIMIT


def test_the_check_can_fail_an_optimizer_that_copies_the_parameters_is_caught(monkeypatch):
    from mlptrain.optim.optimizers import SGD

    update = SGD._update

    def copying_update(self, p, grads, lr):
        update(self, p, grads.copy(), lr)

    monkeypatch.setattr(SGD, "_update", copying_update)
    model = {"activation": "relu", "hidden": WIDE}
    assert _step_peak(SMALL, model, OPTIMIZERS["sgd"]) > PEAK_LIMIT


def test_work_arrays_keep_their_memory_and_grow_for_a_larger_batch():
    from mlptrain.nn.workspace import Workspace

    work = Workspace()
    a = work.get("x", (8, 3), np.float32)
    a[:] = 1
    b = work.get("x", (5, 3), np.float32)
    assert np.shares_memory(a, b) and b.shape == (5, 3) and b.flags.c_contiguous
    c = work.get("x", (9, 3), np.float32)
    assert c.shape == (9, 3) and not np.shares_memory(a, c)
    assert work.get("x", (9, 3), np.float64).dtype == np.float64
    assert work.get("x", (9, 4), np.float64).shape == (9, 4)


def test_count_correct_with_work_arrays_counts_by_hand():
    from mlptrain.nn.workspace import Workspace
    from mlptrain.training import count_correct

    logits = np.array([[0.1, 0.9, 0.0], [2.0, 2.0, 1.0], [0.0, 0.0, 3.0], [5.0, 1.0, 1.0]], np.float32)
    y = np.array([1, 1, 2, 1])  # right, wrong (the tie goes to class 0), right, wrong
    work = Workspace()
    assert count_correct(logits, y, "classification", work) == 2
    assert count_correct(logits[:3], y[:3], "classification", work) == 2  # a smaller batch
    assert count_correct(logits, y, "classification") == 2


def test_a_copied_or_pickled_loss_computes_what_the_original_does():
    """A copy starts with empty work arrays and must not trust what the original wrote there
    (sklearn's clone, joblib and deepcopy of a fitted estimator copy its loss)."""
    import copy
    import pickle

    from mlptrain.nn.losses import get_loss

    rng = np.random.default_rng(0)
    logits = rng.standard_normal((5, 3))
    y = np.array([0, 2, 1, 1, 0])
    loss = get_loss("cross_entropy", output="softmax")
    value, grad = loss.value_and_grad(logits, y)
    expected = (grad.copy(), value)
    p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)  # by hand: (p - onehot) / n
    onehot = np.eye(3)[y]
    np.testing.assert_allclose(expected[0], (p - onehot) / 5, rtol=1e-12)
    for copied in (copy.deepcopy(loss), pickle.loads(pickle.dumps(loss))):
        value, grad = copied.value_and_grad(logits, y)
        assert value == expected[1]
        np.testing.assert_array_equal(grad, expected[0])
    for n in (4, 5, 3):  # smaller and larger batches after each other reuse and regrow the arrays
        value, grad = loss.value_and_grad(logits[:n], y[:n])
        np.testing.assert_allclose(grad, (p[:n] - onehot[:n]) / n, rtol=1e-12)
