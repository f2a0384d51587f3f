"""The benchmark's optional anchor rows: JAX jit + lax.scan (bench/jax_scan.py) and
torch.compile. No timing is asserted; the JAX tests skip when jax (the bench-jax extra) is
absent."""

from __future__ import annotations

import importlib.util
import json
import math
import subprocess
import sys
from argparse import Namespace
from pathlib import Path

import numpy as np
import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"
needs_jax = pytest.mark.skipif(importlib.util.find_spec("jax") is None,
                               reason="jax is not installed (the bench-jax extra)")


def _bench_module(name: str):
    sys.path.insert(0, str(BENCH))
    try:
        return importlib.import_module(name)
    finally:
        sys.path.remove(str(BENCH))


def _reference_step(params, velocity, x, y):
    """One SGD-momentum step (lr 0.1, momentum 0.9, PyTorch's rule) of a ReLU MLP with softmax
    cross-entropy, backprop written out by hand in float64. Returns the batch's mean loss."""
    hs = [x]  # h_0 = x (m, fan_in)
    for W, b in params[:-1]:
        hs.append(np.maximum(hs[-1] @ W + b, 0.0))
    z = hs[-1] @ params[-1][0] + params[-1][1]  # (m, classes)
    p = np.exp(z - z.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    m = len(y)
    loss = -np.mean(np.log(p[np.arange(m), y]))
    d = p.copy()
    d[np.arange(m), y] -= 1.0
    d /= m  # dloss/dz (m, classes)
    for i in reversed(range(len(params))):
        W, b = params[i]
        gW, gb = hs[i].T @ d, d.sum(axis=0)
        if i > 0:
            d = (d @ W.T) * (hs[i] > 0)  # through the ReLU of layer i
        for j, g in ((0, gW), (1, gb)):
            velocity[i][j][...] = 0.9 * velocity[i][j] + g
            params[i][j][...] -= 0.1 * velocity[i][j]
    return loss


@needs_jax
def test_the_jax_epoch_matches_hand_written_sgd_momentum_steps_including_the_partial_batch():
    jax_scan = _bench_module("jax_scan")
    import jax.numpy as jnp

    rng = np.random.default_rng(7)
    sizes, n, batch = [3, 4, 4, 2], 5, 2  # steps of 2, 2 and the partial 1
    X = rng.standard_normal((n, sizes[0])).astype(np.float32)
    y = np.array([0, 1, 1, 0, 1])
    order = np.array([3, 0, 4, 1, 2], dtype=np.int32)
    init = jax_scan.init_params(sizes, seed=1)
    for (W, b), fan_in in zip(init, sizes, strict=False):  # torch.nn.Linear's bounds
        assert np.abs(W).max() <= 1 / math.sqrt(fan_in) and np.abs(b).max() <= 1 / math.sqrt(fan_in)
    ref = [(W.astype(np.float64), b.astype(np.float64)) for W, b in init]
    ref_v = [(np.zeros_like(W), np.zeros_like(b)) for W, b in ref]
    losses = [_reference_step(ref, ref_v, X[rows].astype(np.float64), y[rows]) * len(rows)
              for rows in (order[0:2], order[2:4], order[4:5])]

    params = [(jnp.asarray(W), jnp.asarray(b)) for W, b in init]
    velocity = [(jnp.zeros_like(W), jnp.zeros_like(b)) for W, b in params]
    epoch = jax_scan.make_epoch(n, batch)
    params, velocity, total = epoch(params, velocity, jnp.asarray(X), jnp.asarray(y, jnp.int32),
                                    jnp.asarray(order))
    for (W, b), (rW, rb) in zip(params, ref, strict=True):
        np.testing.assert_allclose(np.asarray(W), rW, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(np.asarray(b), rb, rtol=1e-5, atol=1e-6)
    assert float(total) == pytest.approx(sum(losses), rel=1e-5)


def test_xla_gets_the_thread_count_through_pjrt_nproc_and_one_thread_eigen_for_one(monkeypatch):
    jax_scan = _bench_module("jax_scan")
    monkeypatch.setenv("XLA_FLAGS", "--xla_cpu_enable_fast_math=false")
    assert jax_scan.thread_env(2) == {"PJRT_NPROC": "2"}
    assert jax_scan.thread_env(1) == {
        "PJRT_NPROC": "1",
        "XLA_FLAGS": "--xla_cpu_enable_fast_math=false --xla_cpu_multi_thread_eigen=false"}


@needs_jax
def test_the_jax_worker_trains_a_tiny_synthetic_epoch_and_reports_xla_and_its_compile_time():
    cmd = [sys.executable, str(BENCH / "workers.py"), "jax", "--synthetic", "300", "--batch", "32",
           "--epochs", "2", "--threads", "1"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert len(result["epoch_times"]) == 2 and min(result["epoch_times"]) > 0
    assert result["compile_seconds"] > 0 and result["n_rows"] == 243  # 300 minus val and test
    assert 0 < result["train_loss"] < math.log(10)  # below chance after training on blobs
    [xla] = result["blas"]
    assert xla["internal_api"] == "XLA:CPU" and xla["num_threads"] == 1
    assert "PJRT_NPROC=1" in xla["settings"] and xla["cpu_per_wall"] > 0


def test_the_table_has_the_jax_and_torch_compile_ratios_and_a_failed_compile_says_why():
    bench = _bench_module("bench")
    args = Namespace(batches=[32, 128], epochs=2, repeats=1, threads=1, keep_coretype=False)
    results = {
        "when": "2026-12-03 10:00", "n_rows": [54000],
        "epochs": {"mlptrain": {32: [0.5, 0.4, 0.6], 128: [0.2, 0.3]},
                   "jax": {32: [0.4, 0.3, 0.2], 128: [0.25, 0.25]}},
        "errors": {"torch-compile": "torch.compile failed: InvalidCxxCompiler: no compiler"},
        "compile_seconds": {"jax": {32: [1.0, 3.0], 128: [2.5]}},
        "blas": {"jax": [{"internal_api": "XLA:CPU", "version": "jax 0.10.2",
                          "architecture": "XLA's own", "num_threads": 1,
                          "settings": "PJRT_NPROC=1", "cpu_per_wall": 0.98}]},
        "peak_rss_mib": {"mlptrain": 160.0, "jax": 420.0},
    }
    table = bench.render(results, args, startup={})
    # medians: mlptrain 0.5 and 0.25, JAX 0.3 and 0.25 -> 1.67x and 1.00x
    assert "| **mlptrain / JAX** jit + lax.scan | 1.67× | 1.00× |" in table
    assert ("| PyTorch plain loop, torch.compile | torch.compile failed: InvalidCxxCompiler: "
            "no compiler | — |") in table
    assert "mlptrain / PyTorch torch.compile" not in table
    assert "JAX jit, the epoch as one lax.scan batch 32: 2.0, batch 128: 2.5" in table
    assert "(PJRT_NPROC=1; 0.98 CPU s per wall s in the measured epochs)" in table
