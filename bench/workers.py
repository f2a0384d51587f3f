"""One benchmark job per process: train one trainer at one batch size and print one JSON line.

    python bench/workers.py TRAINER --batch 128 --epochs 4 [--data DIR | --synthetic N]

TRAINER is one of ``WORKERS``. Every trainer trains 784-256-128-10 ReLU with softmax cross
entropy in float32 on the SAME training rows (mlptrain's loader: MNIST's 60,000 training
images minus the 10% validation split, scaled to [0, 1]) and reports seconds per epoch. The
first epoch is a warm-up that the caller drops. Peak RSS is the whole process's
``ru_maxrss``, so each job runs in a fresh process (``bench.py`` starts them).

BLAS threads are set by the caller through OPENBLAS_NUM_THREADS / OMP_NUM_THREADS /
MKL_NUM_THREADS (read when numpy and torch load); torch also gets ``set_num_threads``, and
JAX's XLA gets ``PJRT_NPROC`` (and one-thread Eigen for 1 thread: ``jax_scan.thread_env``).
``train_loss`` is the mean training loss over the last epoch's steps (mlptrain's
``train_loss`` column), a quick check that every trainer learns the same thing.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

HIDDEN = [256, 128]
N_CLASSES = 10


def base_config(args) -> dict:
    """The experiment config every trainer's data comes from (mlptrain's configs/mnist.yaml)."""
    if args.synthetic:  # a tiny stand-in for smoke tests: 784 features, 10 classes
        data = {"source": "blobs", "n_samples": args.synthetic, "n_features": 784,
                "n_classes": N_CLASSES, "val_fraction": 0.1, "test_fraction": 0.1}
    else:
        data = {"source": "mnist", "path": args.data, "val_fraction": 0.1, "scale": "minmax"}
    if args.limit:
        data["limit"] = args.limit
    opt = ({"kind": "sgd", "lr": 0.1, "momentum": 0.9} if args.optimizer == "sgd"
           else {"kind": "adam", "lr": 1e-3})
    return {
        "name": f"bench-{args.optimizer}-{args.batch}",
        "data": data,
        "model": {"hidden": HIDDEN, "activation": "relu", "dtype": "float32"},
        "loss": "cross_entropy",
        "optimizer": opt,
        "train": {"epochs": args.epochs, "batch_size": args.batch, "threads": args.threads},
    }


def load_arrays(args):
    """Training features as float32 (n, 784) and int64 labels (n,), via mlptrain's loader."""
    import numpy as np

    from mlptrain.config import validate_config
    from mlptrain.data import load_data

    cfg = validate_config(base_config(args), source="bench")
    bundle = load_data(cfg.data, seed=cfg.seed, loss_kind="cross_entropy")
    X = bundle.preprocessor.transform(bundle.train.X, dtype=np.float32)  # one float copy
    return X, bundle.train.y.astype(np.int64)


# ---- trainers -------------------------------------------------------------------------------


def run_mlptrain(args) -> dict:
    """mlptrain's real training path: a validated config in, a run directory out."""
    import mlptrain.experiment as experiment
    from mlptrain.config import validate_config
    from mlptrain.experiment import start_run

    marks: list[tuple[str, float]] = []
    saving = [0.0]  # seconds spent writing checkpoints (timed, still written)
    save = experiment.save_checkpoint

    def timed_save(*a, **kw):
        started = time.perf_counter()
        try:
            return save(*a, **kw)
        finally:
            saving[0] += time.perf_counter() - started

    experiment.save_checkpoint = timed_save

    class Clock:  # an Observer that timestamps epoch starts and epoch-end evaluations
        def epoch_started(self, epoch, n_batches, start_batch):
            marks.append(("start", time.perf_counter()))
            marks.append(("saving", saving[0]))

        def batches_done(self, count, running_loss):
            pass

        def evaluated(self, row):
            marks.append(("end", time.perf_counter()))

        def message(self, text):
            pass

    with tempfile.TemporaryDirectory(prefix="mlptrain-bench-") as root:
        raw = base_config(args)
        raw["run"] = {"root": root}
        cfg = validate_config(raw, source="bench")
        result = start_run(cfg, argv=["bench"], observer_factory=lambda epochs: Clock())
        with open(Path(result.run_dir) / "metrics.csv", newline="") as handle:
            rows = [r for r in csv.DictReader(handle) if r.get("epoch_time")]
        epoch_times = [float(r["epoch_time"]) for r in rows]
        train_loss = float(rows[-1]["train_loss"]) if rows else None
    starts = [t for kind, t in marks if kind == "start"]
    saved = [t for kind, t in marks if kind == "saving"]
    # wall time per epoch: from one epoch's start to the next (training, evaluation, per-layer
    # statistics, checkpoints); the last epoch has no successor and is left out.
    walls = [b - a for a, b in zip(starts, starts[1:], strict=False)]
    checkpoint_seconds = [b - a for a, b in zip(saved, saved[1:], strict=False)]
    return {"epoch_times": epoch_times, "epoch_walls": walls,
            "epoch_checkpoint_seconds": checkpoint_seconds,
            "n_rows": result.summary["data"]["sizes"]["train"], "train_loss": train_loss,
            "test_accuracy": (result.summary.get("test") or {}).get("accuracy")}


def run_torch(args, flush_denormal: bool = False, compiled: bool = False) -> dict:
    """The plain PyTorch loop: a float tensor of the data, randperm, index, step.

    ``compiled``: the model wrapped in ``torch.compile``; it is compiled (and timed, as
    ``compile_seconds``) before the first epoch by a forward and backward pass on a full and
    on the last partial batch's shape, without an optimizer step, so the training itself is
    the plain loop's. When compilation fails the result says why instead of raising.
    """
    import torch

    torch.set_num_threads(args.threads)
    if flush_denormal:
        torch.set_flush_denormal(True)
    X, y = load_arrays(args)
    X, y = torch.from_numpy(X), torch.from_numpy(y)
    torch.manual_seed(0)
    sizes = [X.shape[1], *HIDDEN, N_CLASSES]
    layers: list = []
    for i in range(len(sizes) - 1):
        layers.append(torch.nn.Linear(sizes[i], sizes[i + 1]))
        if i < len(sizes) - 2:
            layers.append(torch.nn.ReLU())
    model = torch.nn.Sequential(*layers)
    loss_fn = torch.nn.CrossEntropyLoss()
    n, bs = X.shape[0], args.batch
    extra = {}
    if compiled:
        model = torch.compile(model)
        started = time.perf_counter()
        try:
            for m in sorted({bs, n % bs} - {0}):
                loss_fn(model(X[:m]), y[:m]).backward()
            model.zero_grad(set_to_none=True)
        except Exception as err:  # any compiler failure becomes the row's note
            reason = (str(err).strip().splitlines() or [""])[0][:200]
            return {"epoch_times": [], "n_rows": n,
                    "error": f"torch.compile failed: {type(err).__name__}: {reason}"}
        extra["compile_seconds"] = time.perf_counter() - started
    if args.optimizer == "sgd":
        opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    else:
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    times = []
    for _ in range(args.epochs):
        started = time.perf_counter()
        order = torch.randperm(n)
        losses = []  # detached step losses (an alias each, no copy), summed after the clock
        for b in range(math.ceil(n / bs)):
            rows = order[b * bs : (b + 1) * bs]
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(X[rows]), y[rows])
            loss.backward()
            opt.step()
            losses.append(loss.detach())
        times.append(time.perf_counter() - started)
    sizes_ = [min(bs, n - b * bs) for b in range(len(losses))]
    train_loss = sum(float(v) * m for v, m in zip(losses, sizes_, strict=True)) / n
    return {"epoch_times": times, "n_rows": n, "train_loss": train_loss, **extra}


def run_sklearn(args) -> dict:
    """scikit-learn's MLPClassifier, one ``partial_fit`` pass per epoch (alpha = 0: no L2)."""
    import numpy as np
    from sklearn.neural_network import MLPClassifier

    X, y = load_arrays(args)
    common = {"hidden_layer_sizes": tuple(HIDDEN), "activation": "relu", "alpha": 0.0,
              "batch_size": args.batch, "shuffle": True, "random_state": 0}
    if args.optimizer == "sgd":
        clf = MLPClassifier(solver="sgd", learning_rate_init=0.1, momentum=0.9,
                            nesterovs_momentum=False, **common)
    else:
        clf = MLPClassifier(solver="adam", learning_rate_init=1e-3, **common)
    classes = np.arange(N_CLASSES)
    times = []
    for _ in range(args.epochs):
        started = time.perf_counter()
        clf.partial_fit(X, y, classes=classes)
        times.append(time.perf_counter() - started)
    return {"epoch_times": times, "n_rows": len(y), "dtype": str(clf.coefs_[0].dtype),
            "train_loss": float(clf.loss_)}


def run_jax(args) -> dict:
    """JAX: ``jit`` with the whole epoch as one ``lax.scan`` (bench/jax_scan.py), on XLA's
    CPU client with ``args.threads`` threads; compilation is timed apart (``compile_seconds``).
    Its ``blas`` entry names XLA (which runs its own kernels, not NumPy's OpenBLAS), the thread
    settings and the CPU seconds per wall second it used over the measured epochs."""
    import jax_scan

    if args.optimizer != "sgd":
        raise SystemExit("the jax job trains with sgd momentum 0.9 only")
    os.environ.update(jax_scan.thread_env(args.threads))  # before JAX starts its CPU client
    X, y = load_arrays(args)
    result = jax_scan.train(X, y, [X.shape[1], *HIDDEN, N_CLASSES], args.batch, args.epochs)
    import jax
    import jaxlib

    settings = ", ".join(f"{k}={v}" for k, v in sorted(jax_scan.thread_env(args.threads).items()))
    result["blas"] = [{"internal_api": "XLA:CPU", "version": f"jax {jax.__version__}, jaxlib "
                       f"{jaxlib.__version__}", "architecture": "XLA's own (host CPU features)",
                       "num_threads": args.threads, "settings": settings,
                       "cpu_per_wall": result["cpu_per_wall"]}]
    return result


def step_gemms(hs, ds, Ws, dWs) -> None:
    """The 8 products of one backprop step: forward ``h_{l+1} = h_l @ W_l``, weight gradients
    ``dW_l = h_l.T @ d_{l+1}``, input gradients ``d_l = d_{l+1} @ W_l.T`` (not for the first)."""
    import numpy as np

    for i, W in enumerate(Ws):
        np.matmul(hs[i], W, out=hs[i + 1])
    for i in reversed(range(len(Ws))):
        np.matmul(hs[i].T, ds[i + 1], out=dWs[i])
        if i > 0:
            np.matmul(ds[i + 1], Ws[i].T, out=ds[i])


def run_gemm(args) -> dict:
    """The GEMM-only lower bound: per step, only the matrix products backprop needs.

    Forward ``h_l = h_{l-1} @ W_l`` (3), weight gradients ``dW_l = h_{l-1}.T @ d_l`` (3) and
    input gradients ``d_{l-1} = d_l @ W_l.T`` for every layer but the first (2): 8 GEMMs on
    the shapes of an epoch's steps (the last batch partial), float32, ``np.matmul(out=)``.
    """
    import numpy as np

    rng = np.random.default_rng(0)
    X, _ = load_arrays(args)
    sizes = [X.shape[1], *HIDDEN, N_CLASSES]
    Ws = [(rng.standard_normal((a, b)) * 0.05).astype(np.float32) for a, b in zip(sizes, sizes[1:], strict=False)]
    dWs = [np.empty_like(W) for W in Ws]
    bs, n = args.batch, X.shape[0]
    hs = [np.empty((bs, s), np.float32) for s in sizes]  # h_0 = the batch, h_3 = the logits
    ds = [rng.standard_normal((bs, s)).astype(np.float32) * 0.01 for s in sizes]
    times = []
    for _ in range(args.epochs):
        started = time.perf_counter()
        for start in range(0, n, bs):
            m = min(bs, n - start)
            h = [a[:m] for a in hs]
            d = [a[:m] for a in ds]
            h[0][...] = X[start : start + m]  # not timed separately; a copy is part of any step
            step_gemms(h, d, Ws, dWs)
        times.append(time.perf_counter() - started)
    return {"epoch_times": times, "n_rows": n}


def run_sgemm(args) -> dict:
    """The physical ceiling: the best GFLOP/s of one large float32 GEMM (2048 x 2048 x 2048,
    2 * 2048**3 FLOPs) over a few repeats, with the same BLAS threads as the other jobs.

    Reported as ``epoch_times`` of one pseudo-epoch each (seconds of one GEMM) so that the
    caller's bookkeeping applies; ``gflops`` is the best repeat.
    """
    import numpy as np

    n = 2048
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    out = np.empty((n, n), np.float32)
    times = []
    for _ in range(max(args.epochs, 3) + 1):
        started = time.perf_counter()
        np.matmul(a, b, out=out)
        times.append(time.perf_counter() - started)
    return {"epoch_times": times, "n_rows": n, "gflops": 2 * n**3 / min(times[1:]) / 1e9}


def blas_info() -> list[dict]:
    """The BLAS libraries loaded in this process (threadpoolctl): library, version, the kernel
    (``architecture``: e.g. Haswell = AVX2, SkylakeX/Cooperlake = AVX-512) and threads."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return []
    keys = ("internal_api", "version", "architecture", "num_threads", "filepath")
    return [{k: info.get(k) for k in keys} for info in threadpool_info()
            if info.get("user_api") == "blas"]


WORKERS = {
    "sgemm": run_sgemm,
    "mlptrain": run_mlptrain,
    "torch": run_torch,
    "torch-ftz": lambda args: run_torch(args, flush_denormal=True),
    "torch-compile": lambda args: run_torch(args, compiled=True),
    "jax": run_jax,
    "sklearn": run_sklearn,
    "gemm": run_gemm,
}


def peak_rss_mib() -> float:
    """The process's peak resident set (VmHWM), MiB; ru_maxrss (KiB on Linux) as a fallback."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("trainer", choices=sorted(WORKERS))
    parser.add_argument("--batch", type=int, required=True)
    parser.add_argument("--epochs", type=int, required=True, help="including the warm-up epoch")
    parser.add_argument("--optimizer", choices=("sgd", "adam"), default="sgd")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--data", default=None, help="MNIST folder; none: mlptrain's search path")
    parser.add_argument("--synthetic", type=int, default=0, help="blobs with N samples, not MNIST")
    parser.add_argument("--limit", type=int, default=0, help="use the first N training rows")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    result = WORKERS[args.trainer](args)
    result.update({"trainer": args.trainer, "batch": args.batch, "optimizer": args.optimizer,
                   "threads": args.threads, "peak_rss_mib": peak_rss_mib(),
                   "blas": result.get("blas") or blas_info(),
                   "coretype_env": {k: os.environ.get(k)
                                    for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")},
                   "process_seconds": time.perf_counter() - started})
    sys.stdout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
