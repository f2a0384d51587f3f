"""BLAS threads of a run: `train.threads` is a count, null (every core) or auto.

auto gives one thread when a training step's matrix products are too small for a second
thread to pay off, and every core otherwise:

    threads = 1      if step_flops(layer_sizes, batch) < AUTO_ONE_THREAD_BELOW
              cores  otherwise

The rule reads only the network, the batch size and the core count (not the machine's load),
so a run and its resume on the same machine get the same count. The count is applied in the
training process itself (threadpoolctl), because NumPy's OpenBLAS has read its environment
variables long before a config is loaded.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

# FLOPs per training step below which auto uses one BLAS thread. A second OpenBLAS thread
# costs a fork-join per product (8 products per step with two hidden layers) and saves at
# most half of the step's arithmetic. bench/threads.py on 2 cores (OpenBLAS 0.3.31, load
# average ~1, 2026-12-03), step time with 1 thread / with 2: 0.98-1.00 at 1-8 MFLOP per
# step, 1.04-1.06 at 15-16, 1.13-1.17 at 30-32, 1.26-1.57 at 63-516. Below 20 MFLOP a
# second thread gains under ~10% at best. With one competing CPU-bound process (--busy) two
# threads were 1.7-11x slower than one at every size, 1 to 516 MFLOP: auto, which does not
# look at the load (a thread count changes the bits), keeps that cost above the threshold.
# To be re-checked on an idle machine.
AUTO_ONE_THREAD_BELOW = 20e6


def cores() -> int:
    """The CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def step_flops(layer_sizes: Sequence[int], batch: int) -> float:
    """FLOPs of the matrix products of one training step on `batch` rows:
    2 * batch * (2 * sum(fan_in * fan_out) + sum over layers but the first of fan_in * fan_out),
    i.e. the forward products, the weight gradients, and the input gradients of every layer
    but the first (whose input gradient is not needed)."""
    pairs = [a * b for a, b in zip(layer_sizes, layer_sizes[1:], strict=False)]
    return 2.0 * batch * (2 * sum(pairs) + sum(pairs[1:]))


def choose_threads(setting: int | str | None, layer_sizes: Sequence[int], batch: int,
                   n_cores: int) -> tuple[int, str]:
    """(BLAS threads, why) for `train.threads` = `setting` on this network and batch."""
    if isinstance(setting, int):
        return setting, "train.threads"
    if setting is None:
        return n_cores, "train.threads null: every core"
    flops = step_flops(layer_sizes, batch)
    per_step = f"{flops / 1e6:.3g} MFLOP per step"
    if n_cores == 1:
        return 1, f"auto: one core ({per_step})"
    if flops < AUTO_ONE_THREAD_BELOW:
        return 1, (f"auto: {per_step}, below {AUTO_ONE_THREAD_BELOW / 1e6:.3g} MFLOP, where a "
                   "second thread does not pay off")
    return n_cores, f"auto: {per_step}, every core ({n_cores})"


@contextmanager
def blas_threads(n: int) -> Iterator[None]:
    """Limit the BLAS libraries loaded in this process to `n` threads inside the block."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=n, user_api="blas"):
        yield
