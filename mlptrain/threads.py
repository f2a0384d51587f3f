"""BLAS threads of a run: `train.threads` is a count, null (every core) or auto.

auto gives one thread when a training step's matrix products are too small for a second
thread to pay off, or when other processes already keep the cores busy; every core otherwise:

    threads = 1                                          if step_flops < AUTO_ONE_THREAD_BELOW
              clip(floor(cores - busy + 0.5), 1, cores)  otherwise

and never more than OPENBLAS_NUM_THREADS (else GOTO_NUM_THREADS, else OMP_NUM_THREADS) allows
when the environment sets one: the user's cap for OpenBLAS, which auto would otherwise override.

where `busy` is how many cores other processes kept busy while the run was starting: the busy
time of this process's CPUs in /proc/stat (user, system, irq, softirq, steal; not nice, which
counts processes at a positive nice value that give way to the run) minus this process's own CPU
time, over at least LOAD_WINDOW seconds, divided by that wall time. OpenBLAS threads spin while
waiting for each other, so a thread that shares a core with another busy process makes every
product wait for it: two threads against one CPU-bound process on 2 cores were 1.7-11x slower
than one thread (bench/threads.py --busy).

The count is decided ONCE, when a run starts, and recorded in its config.yaml, so a resume (and
`mlptrain train` on that config.yaml) uses the same count. It cannot change during a run: with
float32 a thread count changes the bits. With OpenBLAS 0.3.31's sgemm (Haswell kernel) 1 and 2
threads round differently in most products of MNIST's 784-256-128-10 step (at batch 32, 45% of
the entries of the first layer's forward product differ; 3-19% in most others; only the
smallest, e.g. 32x128 @ 128x10, agree), so after one epoch of 6,400 rows the parameters
differ by up to 6e-6 (batch 32) and a run's last digit of accuracy can move. dgemm gave
identical bits at every shape tried (batch 32-512, with batch norm and dropout too), but that
is one build on one machine, not a promise.
The price of deciding once: a process that starts competing after the run has started is not
avoided (the run keeps its count; train.log says so at the first epoch it happens, with the
`--resume ... --threads N` that avoids it: LoadWatch), and the same config started on a busy
and on an idle machine can train with different counts, which config.yaml and train.log say.

The count is applied in the training process itself (threadpoolctl), because NumPy's OpenBLAS
has read its environment variables long before a config is loaded.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import NamedTuple

# FLOPs per training step below which auto uses one BLAS thread. A second OpenBLAS thread
# costs a fork-join per product (8 products per step with two hidden layers) and saves at
# most half of the step's arithmetic. bench/threads.py on 2 cores (OpenBLAS 0.3.31, load
# average ~1, 2026-12-03), step time with 1 thread / with 2: 0.98-1.00 at 1-8 MFLOP per
# step, 1.04-1.06 at 15-16, 1.13-1.17 at 30-32, 1.26-1.57 at 63-516. Below 20 MFLOP a
# second thread gains under ~10% at best.
AUTO_ONE_THREAD_BELOW = 20e6

# Seconds over which auto measures how busy the other processes keep the cores (the time the
# run spends loading its data counts; only the rest is waited for).
LOAD_WINDOW = 0.25

PROC_STAT = Path("/proc/stat")
# /proc/stat's columns after the cpu name: user nice system idle iowait irq softirq steal ...
_BUSY_COLUMNS = (0, 2, 5, 6, 7)


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


# ---- how busy the other processes keep the cores ------------------------------------------


class CpuTimes(NamedTuple):
    """A snapshot: busy seconds of our CPUs (every process), our own CPU seconds, the clock."""

    busy: float
    own: float
    wall: float


def busy_seconds(stat_text: str, cpus: set[int] | None, ticks_per_second: float) -> float:
    """Seconds the CPUs in `cpus` (None: all) have been busy, from /proc/stat's text: the sum of
    the user, system, irq, softirq and steal columns of their `cpuN` lines (of the `cpu` line
    when there are no per-CPU lines), in ticks of 1 / ticks_per_second."""
    every: float | None = None
    ours: list[float] = []
    for line in stat_text.splitlines():
        name, *fields = line.split() or [""]
        if not name.startswith("cpu"):
            continue
        ticks = sum(int(fields[i]) for i in _BUSY_COLUMNS if i < len(fields))
        if name == "cpu":
            every = ticks
        elif cpus is None or int(name[3:]) in cpus:
            ours.append(ticks)
    if not ours and every is None:
        raise ValueError("no cpu lines in /proc/stat")
    return (sum(ours) if ours else every or 0.0) / ticks_per_second


def cpu_times() -> CpuTimes | None:
    """This moment's CpuTimes, or None where /proc/stat cannot be read (not Linux)."""
    try:
        text = PROC_STAT.read_text()
        cpus: set[int] | None = os.sched_getaffinity(0)
        busy = busy_seconds(text, cpus, os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, AttributeError):
        return None
    return CpuTimes(busy, time.process_time(), time.monotonic())


def others_busy(before: CpuTimes, after: CpuTimes) -> float:
    """Cores other processes kept busy between two snapshots:
    (busy_after - busy_before - (own_after - own_before)) / (wall_after - wall_before), >= 0."""
    wall = after.wall - before.wall
    if wall <= 0:
        return 0.0
    return max(0.0, (after.busy - before.busy - (after.own - before.own)) / wall)


def measure_others_busy(since: CpuTimes | None, window: float = LOAD_WINDOW) -> float | None:
    """Cores other processes keep busy, measured from `since` (a snapshot taken earlier, e.g.
    before the data loaded; None: now) until at least `window` seconds have passed (sleeping
    for the rest). None where the CPU times cannot be read."""
    start = since or cpu_times()
    if start is None:
        return None
    time.sleep(max(0.0, window - (time.monotonic() - start.wall)))
    end = cpu_times()
    return None if end is None else others_busy(start, end)


# ---- the choice ------------------------------------------------------------------------------


def fitting_threads(n_cores: int, busy: float) -> int:
    """The threads that fit beside other processes keeping `busy` cores busy:
    clip(floor(n_cores - busy + 0.5), 1, n_cores)."""
    return min(n_cores, max(1, math.floor(n_cores - busy + 0.5)))


def choose_threads(setting: int | str | None, layer_sizes: Sequence[int], batch: int,
                   n_cores: int, load: Callable[[], float | None] = lambda: None
                   ) -> tuple[int, str]:
    """(BLAS threads, why) for `train.threads` = `setting` on this network and batch. `load`
    gives the cores other processes keep busy (None: unknown); auto asks it only when the step
    is large enough for more than one thread."""
    if isinstance(setting, int):
        return setting, "train.threads"
    if setting is None:
        return n_cores, "train.threads null: every core"
    flops = step_flops(layer_sizes, batch)
    per_step = f"{flops / 1e6:.3g} MFLOP per step"
    limit = environment_limit()
    if limit is not None and limit[1] < n_cores:
        name, count = limit
        return count, f"auto: {name}={count} in the environment ({per_step})"
    if n_cores == 1:
        return 1, f"auto: one core ({per_step})"
    if flops < AUTO_ONE_THREAD_BELOW:
        return 1, (f"auto: {per_step}, below {AUTO_ONE_THREAD_BELOW / 1e6:.3g} MFLOP, where a "
                   "second thread does not pay off")
    busy = load()
    if busy is None:
        return n_cores, f"auto: {per_step}, every core ({n_cores}); the load is unknown"
    threads = fitting_threads(n_cores, busy)
    seen = f"other processes kept {busy:.2f} of the {n_cores} cores busy as the run started"
    if threads == n_cores:
        return n_cores, f"auto: {per_step}, every core ({n_cores}); {seen}"
    return threads, (f"auto: {per_step}; {seen}, and a BLAS thread sharing a core with a busy "
                     f"process slows every product: {threads} of {n_cores} cores")


def competing(threads: int, n_cores: int, busy: float, epoch: int) -> str | None:
    """What train.log says when other processes kept `busy` cores busy during `epoch` of a
    run that trains with `threads` BLAS threads, more than fit beside them; else None."""
    fit = fitting_threads(n_cores, busy)
    if threads <= fit:
        return None
    return (f"epoch {epoch}: other processes kept {busy:.2f} of the {n_cores} cores busy, and "
            f"this run's {threads} BLAS threads compete with them for the cores, which can make "
            f"epochs many times slower; the run keeps its count (another count changes the "
            f"bits of float32 training): to go on with {fit}, stop it (Ctrl-C) and resume "
            f"with --threads {fit}")


class LoadWatch:
    """Measures, epoch by epoch, how busy other processes keep the cores while a run trains
    with `threads` BLAS threads, and gives `competing`'s message the first time they compete
    (once per process: the log says it once)."""

    def __init__(self, threads: int, n_cores: int,
                 clock: Callable[[], CpuTimes | None] = cpu_times):
        self.threads, self.n_cores, self.clock = threads, n_cores, clock
        self.last = clock()
        self.said = False

    def epoch_ended(self, epoch: int) -> str | None:
        now = self.clock()
        before, self.last = self.last, now
        if self.said or before is None or now is None:
            return None
        message = competing(self.threads, self.n_cores, others_busy(before, now), epoch)
        self.said = message is not None
        return message


def run_threads(setting: int | str | None, layer_sizes: Sequence[int], batch: int,
                since: CpuTimes | None = None) -> tuple[int, str]:
    """(BLAS threads, why) of a run on this machine: `choose_threads` with its cores and, for
    auto, the load other processes put on them from `since` (None: from now) on."""
    return choose_threads(setting, layer_sizes, batch, cores(),
                          load=lambda: measure_others_busy(since))


# The variables by which a user caps OpenBLAS's threads, in the order OpenBLAS reads them.
THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "GOTO_NUM_THREADS", "OMP_NUM_THREADS")


def environment_limit(environ: Mapping[str, str] = os.environ) -> tuple[str, int] | None:
    """(variable, count) of the first of THREAD_VARIABLES set to a positive count, or None.
    auto never uses more threads than the environment allows (an explicit count or null in
    train.threads, or --threads, still win: they are the run's own setting)."""
    for name in THREAD_VARIABLES:
        value = environ.get(name, "").strip()
        if value.isdigit() and int(value) > 0:
            return name, int(value)
    return None


@contextmanager
def blas_threads(n: int) -> Iterator[None]:
    """Limit the BLAS libraries loaded in this process to `n` threads inside the block."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=n, user_api="blas"):
        yield
