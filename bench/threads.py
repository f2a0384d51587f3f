"""Where does a second BLAS thread pay off? Seconds per training step at 1 thread, at every
core and with what `train.threads: auto` picks, over a grid of network and batch sizes.

    .venv/bin/python bench/threads.py            # the grid, 5 repeats; about a minute idle
    .venv/bin/python bench/threads.py --busy     # the same with one competing CPU-bound process
    .venv/bin/python bench/threads.py --quick    # 2 shapes, 2 repeats: a smoke run

Each shape trains mlptrain's real loop (`Trainer.fit` on synthetic blobs, float32, adam) for a
few epochs in this process, under `threadpoolctl.threadpool_limits(n)`; a step's time is the
run's `train_seconds / steps` (the training steps only). Thread counts alternate within each
repeat (1, every core, auto); auto decides afresh before each of its measurements, as a run
does when it starts (threads.choose_threads with the load measured from /proc/stat). Each cell
is min / median / max over the repeats; "auto / best" divides auto's minimum by the smaller
minimum of 1 and every core, and the same for the medians (where auto picked the count of a
column, the ratio is that column's noise). `--busy` starts one process spinning in a pure-Python loop for the
whole measurement, the situation where OpenBLAS's spinning threads get descheduled. As bench.py, the measurement runs
in a child process without OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE (native kernel) unless
--keep-coretype; the BLAS it loaded is printed first.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from bench import thread_env  # noqa: E402 (bench/ is on the path)

# (n_features, hidden, n_classes, batch): small tables up to MNIST's network
SHAPES = [
    (10, [100], 2, 200),
    (64, [100], 10, 200),
    (64, [256, 256], 10, 64),
    (784, [256, 128], 10, 32),
    (784, [256, 128], 10, 128),
    (784, [256, 128], 10, 512),
]
QUICK_SHAPES = [SHAPES[1], SHAPES[4]]


def measure(shape: tuple, threads: int, steps: int) -> float:
    """Seconds per training step of `shape` with `threads` BLAS threads (in this process)."""
    from threadpoolctl import threadpool_limits

    from mlptrain.assembly import build_trainer
    from mlptrain.config import validate_config
    from mlptrain.data import load_data

    n_features, hidden, n_classes, batch = shape
    epochs = 3
    n = max(batch * steps // epochs, batch)
    raw = {"data": {"source": "blobs", "n_samples": int(n / 0.72) + 1, "n_features": n_features,
                    "n_classes": n_classes, "val_fraction": 0.1, "test_fraction": 0.2},
           "model": {"hidden": hidden}, "optimizer": {"kind": "adam"},
           "train": {"epochs": epochs, "batch_size": batch}}
    cfg = validate_config(raw)
    trainer = build_trainer(cfg, load_data(cfg.data, seed=0, loss_kind=cfg.loss.kind))
    with threadpool_limits(limits=threads, user_api="blas"):
        trainer.fit()
    return trainer.state.train_seconds / trainer.state.step


def child(argv: list[str]) -> int:
    """The measurement, in a process of its own: one JSON line."""
    from workers import blas_info

    from mlptrain.threads import choose_threads, cores, measure_others_busy, step_flops

    args = json.loads(argv[0])
    all_cores = cores()
    rows = []
    for shape in map(tuple, args["shapes"]):
        sizes = [shape[0], *shape[1], shape[2]]
        times: dict[str, list[float]] = {"1": [], str(all_cores): [], "auto": []}
        picked = []
        for _ in range(args["repeats"]):
            for n in (1, all_cores):
                times[str(n)].append(measure(shape, n, args["steps"]))
            auto, _why = choose_threads("auto", sizes, shape[3], all_cores,
                                        load=lambda: measure_others_busy(None))
            picked.append(auto)
            times["auto"].append(measure(shape, auto, args["steps"]))
        rows.append({"shape": shape, "flops": step_flops(sizes, shape[3]), "times": times,
                     "auto": picked})
    print(json.dumps({"rows": rows, "cores": all_cores, "blas": blas_info()}))
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["child"]:
        return child(argv[1:])
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=None, help="repeats (default 5; --quick 2)")
    p.add_argument("--steps", type=int, default=300, help="training steps per measurement")
    p.add_argument("--busy", action="store_true", help="one competing CPU-bound process")
    p.add_argument("--quick", action="store_true", help="2 shapes, 2 repeats, 60 steps")
    p.add_argument("--keep-coretype", action="store_true",
                   help="keep OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE (default: unset both)")
    args = p.parse_args(argv)
    repeats = args.repeats or (2 if args.quick else 5)
    steps = 60 if args.quick else args.steps
    spec = {"shapes": QUICK_SHAPES if args.quick else SHAPES, "repeats": repeats, "steps": steps}
    busy = None
    if args.busy:
        busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        done = subprocess.run([sys.executable, str(Path(__file__).resolve()), "child",
                               json.dumps(spec)], capture_output=True, text=True,
                              env=thread_env(os.cpu_count() or 1, args.keep_coretype))
    finally:
        if busy is not None:
            busy.kill()
            busy.wait()
    if done.returncode != 0:
        print(done.stderr[-3000:], file=sys.stderr)
        return 1
    result = json.loads(done.stdout.strip().splitlines()[-1])
    print(render(result, repeats, steps, args.busy))
    return 0


def render(result: dict, repeats: int, steps: int, busy: bool) -> str:
    all_cores = result["cores"]
    blas = "; ".join(f"{b.get('internal_api')} {b.get('version')}, kernel "
                     f"{b.get('architecture')}" for b in result["blas"]) or "unknown"
    lines = [f"ms per training step, min / median / max over {repeats} repeats of {steps} "
             f"steps; {all_cores} cores; {'one competing CPU-bound process; ' if busy else ''}"
             f"{blas}; {time.strftime('%Y-%m-%d %H:%M %Z')}", "",
             f"| network | batch | MFLOP/step | 1 thread | {all_cores} threads | auto | "
             "auto's counts | auto / best: min; median |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for row in result["rows"]:
        n_features, hidden, n_classes, batch = row["shape"]
        one, many, auto = (row["times"][k] for k in ("1", str(all_cores), "auto"))
        best_min = min(min(one), min(many))
        best_median = min(statistics.median(one), statistics.median(many))
        picked = " ".join(map(str, row["auto"]))  # auto's count in each repeat
        lines.append(
            f"| {'-'.join(map(str, [n_features, *hidden, n_classes]))} | {batch} | "
            f"{row['flops'] / 1e6:.3g} | {_ms(one)} | {_ms(many)} | {_ms(auto)} | {picked} | "
            f"{min(auto) / best_min:.2f}; {statistics.median(auto) / best_median:.2f} |")
    return "\n".join(lines) + "\n"


def _ms(times: list[float]) -> str:
    return " / ".join(f"{t * 1e3:.3f}" for t in (min(times), statistics.median(times), max(times)))


if __name__ == "__main__":
    sys.exit(main())
