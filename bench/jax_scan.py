"""The JAX anchor of the benchmark: one whole epoch as one compiled ``lax.scan``.

``workers.py jax`` trains the benchmark's network with this module. The network, loss and
optimizer are the other jobs'::

    h_1 = relu(x @ W_1 + b_1); h_2 = relu(h_1 @ W_2 + b_2); z = h_2 @ W_3 + b_3   # (batch, 10)
    loss = mean_i(logsumexp(z_i) - z_i[y_i])                  # softmax cross-entropy, float32
    buf = 0.9 * buf + grad;  p = p - 0.1 * buf                # SGD momentum (PyTorch's rule)

initialized as ``torch.nn.Linear`` does (W and b uniform in +-1/sqrt(fan_in)), from a seeded
NumPy Generator. ``epoch`` is ``jax.jit``-compiled once per (rows, batch size): the shuffled
row indices come in, the full batches run as one ``lax.scan`` (a gather, forward, backward and
update per step) and the last partial batch, if any, as one more step inside the same
compiled function, so every row is trained once per epoch, as in the other jobs.

XLA's CPU threads are set through the environment before JAX starts its CPU client
(``thread_env``): ``PJRT_NPROC`` sizes the client's intra-op pool, and with one thread
``--xla_cpu_multi_thread_eigen=false`` keeps Eigen's contractions on the calling thread.
"""

from __future__ import annotations

import os
import resource
import time

LR, MOMENTUM = 0.1, 0.9


def thread_env(threads: int) -> dict[str, str]:
    """The environment settings that give XLA's CPU client ``threads`` threads."""
    env = {"PJRT_NPROC": str(threads)}
    if threads == 1:
        flags = os.environ.get("XLA_FLAGS", "")
        if "xla_cpu_multi_thread_eigen" not in flags:
            flags = f"{flags} --xla_cpu_multi_thread_eigen=false".strip()
        env["XLA_FLAGS"] = flags
    return env


def init_params(sizes: list[int], seed: int = 0) -> list[tuple]:
    """[(W (fan_in, fan_out), b (fan_out,)), ...], float32, each uniform in +-1/sqrt(fan_in)
    (``torch.nn.Linear``'s default), drawn from ``np.random.default_rng(seed)``."""
    import numpy as np

    rng = np.random.default_rng(seed)
    params = []
    for fan_in, fan_out in zip(sizes, sizes[1:], strict=False):
        bound = 1.0 / np.sqrt(fan_in)
        W = rng.uniform(-bound, bound, (fan_in, fan_out)).astype(np.float32)
        b = rng.uniform(-bound, bound, fan_out).astype(np.float32)
        params.append((W, b))
    return params


def make_epoch(n: int, batch: int):
    """The jitted ``epoch(params, velocity, X, y, order) -> (params, velocity, loss_sum)`` for
    ``n`` rows in batches of ``batch`` (the last one partial when ``batch`` does not divide
    ``n``). ``loss_sum`` is the sum over steps of batch size x batch mean loss, so
    ``loss_sum / n`` is the epoch's mean training loss as mlptrain's ``train_loss`` reports it."""
    import jax
    import jax.numpy as jnp

    def loss_fn(params, xb, yb):  # xb (m, 784), yb (m,)
        h = xb
        for W, b in params[:-1]:
            h = jax.nn.relu(h @ W + b)  # (m, fan_out)
        W, b = params[-1]
        z = h @ W + b  # (m, 10)
        logp = jax.nn.log_softmax(z, axis=1)
        return -jnp.mean(jnp.take_along_axis(logp, yb[:, None], axis=1))

    grad_fn = jax.value_and_grad(loss_fn)

    def step(params, velocity, X, y, rows):  # rows (m,) int32
        loss, grads = grad_fn(params, X[rows], y[rows])
        velocity = jax.tree.map(lambda v, g: MOMENTUM * v + g, velocity, grads)
        params = jax.tree.map(lambda p, v: p - LR * v, params, velocity)
        return params, velocity, loss * rows.shape[0]

    full, rest = divmod(n, batch)

    def epoch(params, velocity, X, y, order):  # order (n,) int32: a permutation of the rows
        def body(carry, rows):
            params, velocity, total = carry
            params, velocity, loss = step(params, velocity, X, y, rows)
            return (params, velocity, total + loss), None

        steps = order[: full * batch].reshape(full, batch)  # (full, batch)
        (params, velocity, total), _ = jax.lax.scan(body, (params, velocity, jnp.float32(0)),
                                                    steps)
        if rest:
            params, velocity, loss = step(params, velocity, X, y, order[full * batch :])
            total = total + loss
        return params, velocity, total

    return jax.jit(epoch, donate_argnums=(0, 1))


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def train(X, y, sizes: list[int], batch: int, epochs: int, seed: int = 0) -> dict:
    """Train ``epochs`` epochs (the first is the caller's warm-up); compilation is done and
    timed before the first epoch. Each epoch's time covers drawing the permutation (NumPy,
    outside the compiled function), copying it to the device, and the compiled epoch."""
    import jax
    import jax.numpy as jnp
    import numpy as np

    n = X.shape[0]
    rng = np.random.default_rng(seed)
    Xd, yd = jnp.asarray(X, jnp.float32), jnp.asarray(y, jnp.int32)
    params = [(jnp.asarray(W), jnp.asarray(b)) for W, b in init_params(sizes, seed)]
    velocity = [(jnp.zeros_like(W), jnp.zeros_like(b)) for W, b in params]
    started = time.perf_counter()
    compiled = make_epoch(n, batch).lower(params, velocity, Xd, yd,
                                          jnp.zeros(n, jnp.int32)).compile()
    compile_seconds = time.perf_counter() - started
    times, cpu, total = [], [], None
    for _ in range(epochs):
        cpu_started, started = _cpu_seconds(), time.perf_counter()
        order = jnp.asarray(rng.permutation(n).astype(np.int32))
        params, velocity, total = compiled(params, velocity, Xd, yd, order)
        jax.block_until_ready((params, velocity, total))
        times.append(time.perf_counter() - started)
        cpu.append(_cpu_seconds() - cpu_started)
    measured = slice(1, None) if epochs > 1 else slice(None)
    return {"epoch_times": times, "n_rows": n, "compile_seconds": compile_seconds,
            "train_loss": float(total) / n,
            "cpu_per_wall": sum(cpu[measured]) / sum(times[measured])}
