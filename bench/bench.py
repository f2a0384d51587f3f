"""Benchmark mlptrain against PyTorch and scikit-learn on MNIST 784-256-128-10, one command.

    .venv/bin/python bench/bench.py                       # the default run, under ~10 minutes
    .venv/bin/python bench/bench.py --quick               # a one-epoch smoke run
    .venv/bin/python bench/bench.py --epochs 5 --batches 32,128,512 --repeats 3 --threads 2

Each (trainer, batch size) job runs in its own process (``workers.py``) with the same BLAS
threads; jobs are interleaved (round r runs every job once before round r + 1 starts) so that
a slow stretch of a noisy machine hits every trainer alike. The first epoch of each job is a
warm-up and is dropped; the table shows the median seconds per epoch over the remaining epochs
of all rounds, with the min-max range, and the ratios mlptrain / PyTorch, mlptrain /
scikit-learn (same optimizer) and GEMM-only bound / mlptrain. It also reports each trainer's
peak RSS, the wall time of ``mlptrain --help`` and the per-epoch overhead of mlptrain's
evaluation, per-layer statistics and checkpoints. Two optional anchor rows: JAX ``jit`` with
the whole epoch as one ``lax.scan`` (bench/jax_scan.py, the ``bench-jax`` extra) and the
PyTorch loop with ``torch.compile``; their compilation is timed apart, not in the epochs.
Results go to bench/results/ (JSON and a markdown table); PyTorch and scikit-learn (the
``bench`` extra) and JAX (``bench-jax``) are skipped with a note when absent.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _default_data() -> str | None:
    shared = HERE.parent.parent / "shared" / "data" / "mnist"
    return str(shared) if shared.is_dir() else None
WORKER = HERE / "workers.py"

# (job name, worker trainer, optimizer, batch sizes: None = every --batches entry)
JOBS = [
    ("mlptrain", "mlptrain", "sgd", None),
    ("torch", "torch", "sgd", None),
    ("torch-ftz", "torch-ftz", "sgd", None),
    ("torch-compile", "torch-compile", "sgd", None),
    ("jax", "jax", "sgd", None),
    ("gemm", "gemm", "sgd", None),
    ("sklearn", "sklearn", "sgd", [128]),
    ("mlptrain-adam", "mlptrain", "adam", [128]),
    ("torch-adam", "torch", "adam", [128]),
    ("sklearn-adam", "sklearn", "adam", [128]),
]
LABELS = {
    "mlptrain": "mlptrain, sgd momentum 0.9",
    "torch": "PyTorch CPU, plain loop",
    "torch-ftz": "PyTorch, flush-denormal on",
    "torch-compile": "PyTorch plain loop, torch.compile",
    "jax": "JAX jit, the epoch as one lax.scan",
    "sklearn": "scikit-learn MLPClassifier, sgd",
    "mlptrain-adam": "mlptrain, adam",
    "torch-adam": "PyTorch plain loop, adam",
    "sklearn-adam": "scikit-learn MLPClassifier, adam",
    "gemm": "GEMM-only lower bound (NumPy, 8 GEMMs/step)",
}
NEEDS = {"torch": "torch", "torch-ftz": "torch", "torch-adam": "torch", "torch-compile": "torch",
         "sklearn": "sklearn", "sklearn-adam": "sklearn", "jax": "jax"}
EXTRA = {"jax": "bench-jax"}  # the pyproject extra that installs a job's package; else "bench"


def parse_args(argv):
    p = argparse.ArgumentParser(description="mlptrain vs PyTorch vs scikit-learn on MNIST.")
    p.add_argument("--epochs", type=int, default=None,
                   help="measured epochs per job and round, after one warm-up (default 3; quick 1)")
    p.add_argument("--repeats", type=int, default=None, help="interleaved rounds (default 2; quick 1)")
    p.add_argument("--batches", default=None, help="comma-separated batch sizes (default 32,128,512)")
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="BLAS/torch threads")
    p.add_argument("--trainers", default=None,
                   help=f"comma-separated subset of: {', '.join(j[0] for j in JOBS)}")
    p.add_argument("--data", default=_default_data(),
                   help="the MNIST folder (IDX, .gz or raw); default ../shared/data/mnist beside "
                   "the repository if present, else mlptrain's own search path and download cache")
    p.add_argument("--synthetic", type=int, default=0,
                   help="N random 784-feature samples instead of MNIST (for smoke tests)")
    p.add_argument("--limit", type=int, default=0, help="train on the first N rows only")
    p.add_argument("--quick", action="store_true",
                   help="1 epoch after the warm-up, 1 round, batch 128, 10,000 rows")
    p.add_argument("--no-startup", action="store_true",
                   help="skip the start-up timings (mlptrain --help, imports)")
    p.add_argument("--out", default=str(HERE / "results"), help="where results are written")
    p.add_argument("--keep-coretype", action="store_true",
                   help="keep OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE for the jobs (default: "
                   "unset both, so NumPy's OpenBLAS runs the processor's native kernel)")
    args = p.parse_args(argv)
    args.epochs = args.epochs or (1 if args.quick else 3)
    args.repeats = args.repeats or (1 if args.quick else 2)
    args.batches = [int(b) for b in (args.batches or ("128" if args.quick else "32,128,512")).split(",")]
    if args.quick and not args.limit and not args.synthetic:
        args.limit = 10_000
    return args


def available(job: str) -> bool:
    module = NEEDS.get(job)
    return module is None or importlib.util.find_spec(module) is not None


# Some machines force OpenBLAS to an older kernel through these two variables (e.g.
# OPENBLAS_CORETYPE=Haswell, AVX2 only, on an AVX-512 processor). They are unset together, for
# the benchmark's child processes only, so that NumPy runs the processor's native kernel, as
# PyTorch's own MKL already does; --keep-coretype keeps them. Tests and CI never touch them.
CORETYPE_VARS = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")


def thread_env(threads: int, keep_coretype: bool = False) -> dict[str, str]:
    env = dict(os.environ)
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env[var] = str(threads)
    if not keep_coretype:
        for var in CORETYPE_VARS:
            env.pop(var, None)
    return env


def forced_coretype() -> dict[str, str]:
    """The kernel-forcing variables set in this environment (unset for the children)."""
    return {v: os.environ[v] for v in CORETYPE_VARS if v in os.environ}


def flops_per_epoch(n_rows: int) -> float:
    """FLOPs of one epoch of 784-256-128-10: per sample 2 * sum(fan_in * fan_out) forward,
    as much again for the weight gradients, and 2 * fan_in * fan_out for the input gradients of
    every layer but the first (the 8 GEMMs of the GEMM-only bound)."""
    sizes = [784, 256, 128, 10]
    pairs = [a * b for a, b in zip(sizes, sizes[1:], strict=False)]
    return n_rows * (2 * sum(pairs) * 2 + 2 * sum(pairs[1:]))


def run_job(args, trainer: str, optimizer: str, batch: int) -> dict:
    cmd = [sys.executable, str(WORKER), trainer, "--batch", str(batch),
           "--epochs", str(args.epochs + 1), "--optimizer", optimizer,
           "--threads", str(args.threads)]
    if args.data:
        cmd += ["--data", args.data]
    if args.synthetic:
        cmd += ["--synthetic", str(args.synthetic)]
    if args.limit:
        cmd += ["--limit", str(args.limit)]
    done = subprocess.run(cmd, capture_output=True, text=True,
                          env=thread_env(args.threads, args.keep_coretype))
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def command_seconds(cmd: list[str], repeats: int) -> float:
    """Median wall time of a command (a fresh process each time)."""
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        subprocess.run(cmd, capture_output=True, check=True)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def startup_times(args) -> dict[str, float]:
    repeats = 3 if args.quick else 7
    exe = shutil.which("mlptrain", path=str(Path(sys.executable).parent)) or shutil.which("mlptrain")
    out = {}
    if exe:
        out["mlptrain --help"] = command_seconds([exe, "--help"], repeats)
    for name, stmt in (("import numpy", "import numpy"), ("import torch", "import torch"),
                       ("import sklearn MLP", "import sklearn.neural_network")):
        module = stmt.split()[1].split(".")[0]
        if importlib.util.find_spec(module) is not None:
            out[name] = command_seconds([sys.executable, "-c", stmt], repeats)
    out["python -c pass"] = command_seconds([sys.executable, "-c", "pass"], repeats)
    return out


# ---- the table ------------------------------------------------------------------------------


def cell(times: list[float] | None) -> str:
    if not times:
        return "—"
    return f"{statistics.median(times):.3f} ({min(times):.2f}–{max(times):.2f})"


def ratio(a: list[float] | None, b: list[float] | None, invert: bool = False) -> str:
    if not a or not b:
        return "—"
    value = statistics.median(a) / statistics.median(b)
    return f"{1 / value:.0%}" if invert else f"{value:.2f}×"


def blas_lines(results: dict, args) -> list[str]:
    """Which BLAS each job ran (threadpoolctl, from inside the job) and the kernel environment."""
    forced = results.get("forced_coretype") or {}
    if forced and not args.keep_coretype:
        env = (f"this environment sets {', '.join(f'{k}={v}' for k, v in forced.items())}; "
               "both were unset for the benchmark's jobs (native kernel)")
    elif forced:
        env = f"jobs kept {', '.join(f'{k}={v}' for k, v in forced.items())} (--keep-coretype)"
    else:
        env = "no OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE in the environment"
    lines = ["", f"BLAS ({env}):", ""]
    for job, libs in sorted(results.get("blas", {}).items()):
        text = "; ".join(f"{b.get('internal_api')} {b.get('version')}, kernel "
                         f"{b.get('architecture')}, {b.get('num_threads')} threads"
                         + (f" ({b['settings']}" + (f"; {b['cpu_per_wall']:.2f} CPU s per "
                            "wall s in the measured epochs" if b.get("cpu_per_wall") else "")
                            + ")" if b.get("settings") else "")
                         for b in libs) or "not reported (threadpoolctl absent)"
        lines.append(f"- {job}: {text}")
    return lines


def render(results: dict, args, startup: dict) -> str:
    epochs = results["epochs"]
    batches = args.batches
    head = "| trainer | " + " | ".join(f"batch {b}" for b in batches) + " |"
    lines = [
        f"MNIST 784-256-128-10 ReLU, softmax cross-entropy, float32, {'/'.join(map(str, results['n_rows']))} "
        f"training rows; seconds per epoch after a warm-up epoch: median (min–max) of {args.epochs} "
        f"epochs × {args.repeats} interleaved rounds; {args.threads} BLAS threads; "
        f"{platform.processor() or platform.machine()}, {results['when']}.",
    ]
    lines += blas_lines(results, args)
    lines += ["", head, "| --- |" + " --- |" * len(batches)]
    failed = results.get("errors", {})
    for job, *_ in JOBS:
        if job in epochs:
            lines.append(f"| {LABELS[job]} | "
                         + " | ".join(cell(epochs[job].get(b)) for b in batches) + " |")
        elif job in failed:
            lines.append(f"| {LABELS[job]} | {failed[job]} |" + " — |" * (len(batches) - 1))
    e = epochs
    def row(label, fn):
        lines.append(f"| {label} | " + " | ".join(fn(b) for b in batches) + " |")
    m = e.get("mlptrain", {})
    if "torch" in e:
        row("**mlptrain / PyTorch** (plain loop)", lambda b: ratio(m.get(b), e["torch"].get(b)))
    if "torch-ftz" in e:
        row("mlptrain / PyTorch flush-denormal", lambda b: ratio(m.get(b), e["torch-ftz"].get(b)))
    if "torch-compile" in e:
        row("mlptrain / PyTorch torch.compile",
            lambda b: ratio(m.get(b), e["torch-compile"].get(b)))
    if "jax" in e:
        row("**mlptrain / JAX** jit + lax.scan", lambda b: ratio(m.get(b), e["jax"].get(b)))
    if "sklearn" in e:
        row("**mlptrain / scikit-learn**, sgd", lambda b: ratio(m.get(b), e["sklearn"].get(b)))
    if "sklearn-adam" in e and "mlptrain-adam" in e:
        row("**mlptrain / scikit-learn**, adam",
            lambda b: ratio(e["mlptrain-adam"].get(b), e["sklearn-adam"].get(b)))
    if "torch-adam" in e and "mlptrain-adam" in e:
        row("mlptrain / PyTorch, adam",
            lambda b: ratio(e["mlptrain-adam"].get(b), e["torch-adam"].get(b)))
    if "gemm" in e:
        row("**fraction of the GEMM-only bound** (bound / mlptrain)",
            lambda b: ratio(m.get(b), e["gemm"].get(b), invert=True))
    ceiling = results.get("sgemm_gflops")
    if ceiling:
        floor = {b: flops_per_epoch(results["n_rows"][-1]) / (ceiling * 1e9) for b in batches}
        row(f"physical floor: epoch FLOPs / sgemm ceiling ({ceiling:.0f} GFLOP/s)",
            lambda b: f"{floor[b]:.3f}")
        row("**fraction of the physical floor** (floor / mlptrain)",
            lambda b: f"{floor[b] / statistics.median(m[b]):.0%}" if m.get(b) else "—")
    compiled = results.get("compile_seconds") or {}
    if compiled:
        lines += ["", "Compilation, before the first epoch and not in the epoch times (median "
                  "seconds): " + "; ".join(
                      f"{LABELS[job]} " + ", ".join(f"batch {b}: {statistics.median(v):.1f}"
                                                    for b, v in sorted(per.items()))
                      for job, per in compiled.items())]
    lines += ["", "| process | peak RSS (MiB, max over jobs) |", "| --- | --- |"]
    for job, rss in results["peak_rss_mib"].items():
        lines.append(f"| {LABELS[job]} | {rss:.0f} |")
    over = results.get("mlptrain_epoch_overhead")
    if over:
        lines += ["", "mlptrain per-epoch overhead beyond `epoch_time` (median, as a fraction of "
                  "epoch_time): evaluation and per-layer statistics "
                  + ", ".join(f"batch {b}: {e:+.1%}" for b, (e, _) in sorted(over.items()))
                  + "; writing the checkpoints (last, best) "
                  + ", ".join(f"batch {b}: {c:+.1%}" for b, (_, c) in sorted(over.items()))]
    if startup:
        lines += ["", "| start-up (median wall time of a fresh process) | seconds |", "| --- | --- |"]
        lines += [f"| `{k}` | {v:.3f} |" for k, v in startup.items()]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    wanted = set(args.trainers.split(",")) if args.trainers else {j[0] for j in JOBS}
    unknown = wanted - {j[0] for j in JOBS}
    if unknown:
        print(f"unknown trainers: {', '.join(sorted(unknown))}", file=sys.stderr)
        return 2
    jobs = []
    for name, trainer, optimizer, sizes in JOBS:
        if name not in wanted:
            continue
        if not available(name):
            print(f"skipping {name}: {NEEDS[name]} is not installed "
                  f"(pip install -e '.[{EXTRA.get(name, 'bench')}]')", file=sys.stderr)
            continue
        if sizes is not None:  # single-batch jobs: batch 128, or the middle size asked for
            sizes = [b for b in sizes if b in args.batches] or [args.batches[len(args.batches) // 2]]
        for batch in args.batches if sizes is None else sizes:
            jobs.append((name, trainer, optimizer, batch))
    epochs: dict[str, dict[int, list[float]]] = {}
    rss: dict[str, float] = {}
    overhead: dict[int, list[float]] = {}
    blas: dict[str, list[dict]] = {}
    compile_seconds: dict[str, dict[int, list[float]]] = {}
    train_loss: dict[str, dict[int, list[float]]] = {}
    errors: dict[str, str] = {}
    raw = []
    started = time.perf_counter()
    for r in range(args.repeats):
        for name, trainer, optimizer, batch in jobs:
            result = run_job(args, trainer, optimizer, batch)
            raw.append({"job": name, "round": r, **result})
            if result.get("error"):  # e.g. torch.compile without a working compiler
                errors[name] = result["error"]
                print(f"round {r + 1}/{args.repeats}  {name:14s} batch {batch:4d}  "
                      f"{result['error']}", file=sys.stderr, flush=True)
                continue
            measured = result["epoch_times"][1:]  # drop the warm-up epoch
            epochs.setdefault(name, {}).setdefault(batch, []).extend(measured)
            rss[name] = max(rss.get(name, 0.0), result["peak_rss_mib"])
            blas[name] = result.get("blas", [])
            if "compile_seconds" in result:
                compile_seconds.setdefault(name, {}).setdefault(batch, []).append(
                    result["compile_seconds"])
            if result.get("train_loss") is not None:
                train_loss.setdefault(name, {}).setdefault(batch, []).append(result["train_loss"])
            if name == "mlptrain" and result.get("epoch_walls"):
                walls, times = result["epoch_walls"][1:], result["epoch_times"][1:]
                saving = result["epoch_checkpoint_seconds"][1:]
                overhead.setdefault(batch, []).extend(
                    ((w - c) / t - 1, c / t) for w, c, t in zip(walls, saving, times, strict=False))
            loss = result.get("train_loss")
            print(f"round {r + 1}/{args.repeats}  {name:14s} batch {batch:4d}  "
                  f"{statistics.median(measured):.3f} s/epoch  peak {result['peak_rss_mib']:.0f} MiB"
                  + (f"  train loss {loss:.4f}" if loss is not None else "")
                  + f"  [{time.perf_counter() - started:.0f}s]", file=sys.stderr, flush=True)
    ceiling = run_job(args, "sgemm", "sgd", 0)
    blas["sgemm"] = ceiling.get("blas", [])
    startup = {} if args.no_startup else startup_times(args)
    n_rows = sorted({r["n_rows"] for r in raw})
    results = {
        "when": time.strftime("%Y-%m-%d %H:%M"),
        "args": {k: v for k, v in vars(args).items()},
        "n_rows": n_rows,
        "epochs": epochs,
        "peak_rss_mib": rss,
        "blas": blas,
        "forced_coretype": forced_coretype(),
        "sgemm_gflops": ceiling["gflops"],
        "compile_seconds": compile_seconds,
        # the mean training loss over each job's last epoch, per round: a look at whether
        # every trainer learns alike (mlptrain's train_loss column)
        "train_loss": train_loss,
        "errors": errors,
        "mlptrain_epoch_overhead": {
            b: (statistics.median(e for e, _ in v), statistics.median(c for _, c in v))
            for b, v in overhead.items() if v},
        "startup_seconds": startup,
        "raw": raw,
        "python": platform.python_version(),
        "total_seconds": time.perf_counter() - started,
    }
    table = render(results, args, startup)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    (out / f"bench-{stamp}.json").write_text(json.dumps(results, indent=1, default=str))
    (out / f"bench-{stamp}.md").write_text(table)
    (out / "latest.md").write_text(table)
    print(table)
    print(f"written: {out / f'bench-{stamp}.md'} (and .json); total "
          f"{results['total_seconds']:.0f}s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
