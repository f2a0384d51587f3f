"""What one training step of mlptrain costs beyond its matrix products, one command.

    .venv/bin/python bench/step_profile.py                 # MNIST 784-256-128-10, sgd and adam
    .venv/bin/python bench/step_profile.py --threads 2 --batches 32,128
    .venv/bin/python bench/step_profile.py --synthetic     # random 784-feature data, no files

For each batch size and optimizer, in a child process with one BLAS thread by default (so that
the numbers are those of one core, and a busy machine disturbs them least) and the processor's
native OpenBLAS kernel (as bench.py):

- **time per step** of the real ``Trainer._train_step`` (min and median over 5 repeats of 200
  steps), split into its parts (batch gather and scaling, forward, loss, backward, gradient
  norm, optimizer update), each timed alone on the same arrays, and the **8 GEMMs** of the
  step timed alone: "beyond the GEMMs" is step minus GEMMs, the elementwise and per-call work
  a faster step has to cut;
- **calls per step**: Python function calls and calls of C functions made from Python
  (``sys.setprofile``: NumPy functions and methods such as ``take``, ``copyto``, ``argmax``;
  ufunc calls such as ``np.multiply`` are invisible to it). With ``--perf`` (Linux ``perf``
  with uprobes, usually root) also NumPy's own counts: ufunc calls (operators included),
  reductions, array objects created (views too) and array-data allocations;
- **transient memory of a step** (tracemalloc): the peak above what was held before it.

Results are printed as a markdown table; nothing is written.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from workers import step_gemms  # noqa: E402

from bench import _default_data, thread_env  # noqa: E402 (bench/ is on the path)

STEPS, REPEATS, WARMUP = 200, 5, 30
PROBES = ("ufunc_generic_fastcall", "PyUFunc_GenericReduction", "PyArray_NewFromDescr_int",
          "PyDataMem_UserNEW")
PROBE_LABELS = {"ufunc_generic_fastcall": "ufunc calls", "PyUFunc_GenericReduction": "reductions",
                "PyArray_NewFromDescr_int": "array objects", "PyDataMem_UserNEW": "data allocations"}


def parse_args(argv):
    p = argparse.ArgumentParser(description="mlptrain's per-step cost beyond the GEMMs.")
    p.add_argument("--batches", default="32,128,512")
    p.add_argument("--optimizers", default="sgd,adam")
    p.add_argument("--threads", type=int, default=1, help="BLAS threads (default 1)")
    p.add_argument("--data", default=_default_data(), help="the MNIST folder")
    p.add_argument("--synthetic", action="store_true", help="random 784-feature rows instead")
    p.add_argument("--perf", action="store_true", help="count NumPy's calls with perf uprobes")
    p.add_argument("--child", default=None, help=argparse.SUPPRESS)
    return p.parse_args(argv)


# ---- the child: one (batch, optimizer) ------------------------------------------------------


def build_trainer(batch: int, optimizer: str, data: str | None, synthetic: bool):
    from mlptrain.assembly import build_trainer as build
    from mlptrain.config import validate_config
    from mlptrain.data import load_data

    source = ({"source": "blobs", "n_samples": 20_000, "n_features": 784, "n_classes": 10}
              if synthetic or not data else
              {"source": "mnist", "path": data, "val_fraction": 0.1, "scale": "minmax"})
    opt = ({"kind": "sgd", "lr": 0.1, "momentum": 0.9} if optimizer == "sgd"
           else {"kind": "adam", "lr": 1e-3})
    cfg = validate_config({"data": source, "optimizer": opt,
                           "model": {"hidden": [256, 128], "activation": "relu", "dtype": "float32"},
                           "train": {"epochs": 1, "batch_size": batch}})
    return build(cfg, load_data(cfg.data, seed=cfg.seed, loss_kind=cfg.loss.kind))


def best_and_median(fn, steps: int = STEPS) -> tuple[float, float]:
    """(min, median) seconds per call of `fn` over REPEATS runs of `steps` calls."""
    runs = []
    for _ in range(REPEATS):
        started = time.perf_counter()
        for _ in range(steps):
            fn()
        runs.append((time.perf_counter() - started) / steps)
    runs.sort()
    return runs[0], runs[len(runs) // 2]


def step_parts(trainer, rows):
    """The parts of `_train_step`, each a no-argument callable on the same arrays."""
    import numpy as np

    from mlptrain.optim.clipping import global_norm

    net, loss_fn = trainer.net, trainer.loss_fn
    X = trainer._batch_features(rows)
    y = trainer._gather("y", trainer.bundle.train.y, rows)
    logits = net.forward(X, training=True, rng=trainer.dropout_rng)
    _, dlogits = loss_fn.value_and_grad(logits, y)
    saved = net.params.copy()  # the update part runs with lr 0 on copies of the gradients
    grads = net.grads.copy()

    def update():
        trainer.optimizer.step(net.params, grads, 0.0)

    parts = {
        "batch": lambda: trainer._batch_features(rows),
        "forward": lambda: net.forward(X, training=True, rng=trainer.dropout_rng),
        "loss": lambda: loss_fn.value_and_grad(logits, y),
        "backward": lambda: net.backward(dlogits),
        "norm": lambda: global_norm(net.grads),
        "update": update,
    }
    return parts, lambda: np.copyto(net.params, saved)


def gemm_only(trainer, rows):
    """The 8 matrix products of the step on its shapes (3 forward, 3 weight gradients, 2
    input gradients), float32, ``np.matmul(out=)``."""
    import numpy as np

    sizes, n = trainer.net.layer_sizes, rows.shape[0]
    rng = np.random.default_rng(0)
    Ws = [rng.standard_normal((a, b), dtype=np.float32) for a, b in zip(sizes, sizes[1:], strict=False)]
    dWs = [np.empty_like(W) for W in Ws]
    hs = [rng.random((n, s), dtype=np.float32) for s in sizes]
    ds = [rng.standard_normal((n, s), dtype=np.float32) for s in sizes]

    return lambda: step_gemms(hs, ds, Ws, dWs)


def python_calls(step) -> tuple[int, int]:
    """(Python function calls, C function calls from Python) of one `step()`."""
    counts = {"call": 0, "c_call": 0}

    def profile(frame, event, arg):
        if event in counts:
            counts[event] += 1

    sys.setprofile(profile)
    try:
        step()
    finally:
        sys.setprofile(None)
    return counts["call"] - 1, counts["c_call"] - 1  # less the setprofile(None) call itself


def transient_bytes(step) -> int:
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        step()
        return tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()


def child(spec: dict) -> dict:
    from threadpoolctl import threadpool_info, threadpool_limits

    threadpool_limits(spec["threads"], user_api="blas")
    trainer = build_trainer(spec["batch"], spec["optimizer"], spec["data"], spec["synthetic"])
    order = trainer._epoch_order()
    batch, spe = spec["batch"], trainer.steps_per_epoch
    position = [0]

    def step():
        b = position[0] % (spe - 1)  # whole batches only
        trainer._train_step(order[b * batch : (b + 1) * batch], keep_previous=False)
        position[0] += 1

    for _ in range(WARMUP):
        step()
    if spec.get("steps_only") is not None:  # for perf: exactly this many steps, nothing else
        for _ in range(spec["steps_only"]):
            step()
        return {}
    result = {"step": best_and_median(step), "calls": python_calls(step),
              "transient_bytes": transient_bytes(step)}
    rows = order[:batch]
    parts, restore = step_parts(trainer, rows)
    result["parts"] = {name: best_and_median(fn)[0] for name, fn in parts.items()}
    restore()
    result["gemm"] = best_and_median(gemm_only(trainer, rows))[0]
    result["blas"] = [f"{i.get('internal_api')} {i.get('version')} {i.get('architecture')}, "
                      f"{i.get('num_threads')} threads" for i in threadpool_info()
                      if i.get("user_api") == "blas"]
    return result


# ---- the parent -----------------------------------------------------------------------------


def run_child(spec: dict, args) -> dict:
    cmd = [sys.executable, __file__, "--child", json.dumps(spec)]
    out = subprocess.run(cmd, env=thread_env(args.threads), capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def perf_counts(spec: dict, args) -> dict[str, float] | None:
    """NumPy's own calls per step from perf uprobes: (count over 105 steps - over 5) / 100."""
    if shutil.which("perf") is None:
        return None
    import numpy._core._multiarray_umath as umath

    library = umath.__file__
    events = []
    for probe in PROBES:
        subprocess.run(["perf", "probe", "-q", "-x", library, probe], capture_output=True)
        events.append(f"probe__multiarray_umath:{probe}")
    totals = {}
    for steps in (5, 105):
        cmd = ["perf", "stat", "-x,", "-e", ",".join(events), sys.executable, __file__, "--child",
               json.dumps({**spec, "steps_only": steps})]
        done = subprocess.run(cmd, env=thread_env(args.threads), capture_output=True, text=True)
        if done.returncode != 0:
            return None
        for line in done.stderr.splitlines():
            fields = line.split(",")
            if len(fields) > 2 and fields[2].startswith("probe__multiarray_umath:") and fields[0].isdigit():
                totals.setdefault(fields[2].split(":")[1], []).append(int(fields[0]))
    if any(len(v) != 2 for v in totals.values()) or not totals:
        return None
    return {PROBE_LABELS[k]: (v[1] - v[0]) / 100 for k, v in totals.items()}


def us(seconds: float) -> str:
    return f"{seconds * 1e6:.0f}"


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.child:
        print(json.dumps(child(json.loads(args.child))))
        return 0
    batches = [int(b) for b in args.batches.split(",")]
    optimizers = args.optimizers.split(",")
    load = os.getloadavg()[0]
    print(f"mlptrain step, 784-256-128-10 relu float32, {args.threads} BLAS thread(s); "
          f"{'synthetic' if args.synthetic or not args.data else 'MNIST'}; load average "
          f"{load:.2f} at the start; {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}\n")
    header = ("| batch | optimizer | step µs (min / median) | 8 GEMMs µs | beyond the GEMMs µs | "
              "batch / fwd / loss / bwd / norm / update µs | Python calls | C calls | "
              "transient bytes |")
    print(header)
    print("| --- " * 9 + "|")
    perf_rows = []
    blas = None
    for batch in batches:
        for optimizer in optimizers:
            spec = {"batch": batch, "optimizer": optimizer, "threads": args.threads,
                    "data": args.data, "synthetic": args.synthetic}
            r = run_child(spec, args)
            blas = r["blas"]
            p = r["parts"]
            parts = " / ".join(us(p[k]) for k in ("batch", "forward", "loss", "backward", "norm", "update"))
            print(f"| {batch} | {optimizer} | {us(r['step'][0])} / {us(r['step'][1])} | {us(r['gemm'])} | "
                  f"{us(r['step'][0] - r['gemm'])} | {parts} | {r['calls'][0]} | {r['calls'][1]} | "
                  f"{r['transient_bytes']:,} |")
            if args.perf:
                perf_rows.append((batch, optimizer, perf_counts(spec, args)))
    print(f"\nBLAS: {'; '.join(blas or [])}")
    if args.perf:
        print("\nNumPy's own counts per step (perf uprobes on _multiarray_umath):\n")
        print("| batch | optimizer | " + " | ".join(PROBE_LABELS.values()) + " |")
        print("| --- " * (2 + len(PROBE_LABELS)) + "|")
        for batch, optimizer, counts in perf_rows:
            cells = (" | ".join(f"{counts.get(v, 0):.0f}" for v in PROBE_LABELS.values())
                     if counts else " | ".join(["n/a (perf uprobes unavailable)"] * len(PROBE_LABELS)))
            print(f"| {batch} | {optimizer} | {cells} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
