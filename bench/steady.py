"""How steady are mlptrain's epochs? Seconds of each epoch of MNIST's 784-256-128-10, with
how busy other processes kept the cores during it, at 1 BLAS thread, every core and auto.

    .venv/bin/python bench/steady.py --data ../shared/data/mnist     # 8 epochs, batch 32 and 128
    .venv/bin/python bench/steady.py --synthetic 6000 --epochs 3     # a smoke run, any machine

The network trains with mlptrain's real loop (`Trainer.fit`, float32, sgd with momentum 0.9,
the config of configs/mnist.yaml) in a child process without OPENBLAS_CORETYPE /
OPENBLAS_L2_SIZE (as bench.py); an epoch's time is its metrics row's epoch_time (the training
steps only). The first epoch is a warm-up and is left out of min / median / max and of the
spread (max / min). Beside each epoch the child records the cores other processes kept busy
during it (/proc/stat minus this process's CPU time: threads.others_busy): an epoch that was
slow while they were busy says nothing about mlptrain, and on a shared machine the spread over
the epochs they left alone ("idle epochs") is the one to read.
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

IDLE_BELOW = 0.1  # other processes' busy cores under which an epoch counts as idle


def epochs(data: dict, batch: int, threads: int, n_epochs: int) -> list[dict]:
    """[{"seconds", "others"}] of each epoch of one run with `threads` BLAS threads."""
    from threadpoolctl import threadpool_limits

    from mlptrain.assembly import build_trainer
    from mlptrain.config import validate_config
    from mlptrain.data import load_data
    from mlptrain.threads import cpu_times, others_busy
    from mlptrain.training import SilentObserver

    class Probe(SilentObserver):  # the load from each epoch's start to its metrics row
        def __init__(self) -> None:
            self.rows: list[dict] = []
            self.start = cpu_times()

        def epoch_started(self, epoch: int, n_batches: int, start_batch: int) -> None:
            self.start = cpu_times()

        def evaluated(self, row: dict) -> None:
            end = cpu_times()
            if "epoch_time" in row and self.start is not None and end is not None:
                self.rows.append({"seconds": row["epoch_time"],
                                  "others": others_busy(self.start, end)})

    raw = {"data": {**data, "val_fraction": 0.1, "scale": "minmax"},
           "model": {"hidden": [256, 128]},
           "optimizer": {"kind": "sgd", "lr": 0.1, "momentum": 0.9},
           "schedule": {"kind": "cosine"}, "train": {"epochs": n_epochs, "batch_size": batch}}
    cfg = validate_config(raw)
    trainer = build_trainer(cfg, load_data(cfg.data, seed=0, loss_kind=cfg.loss.kind))
    probe = Probe()
    with threadpool_limits(limits=threads, user_api="blas"):
        trainer.fit(probe)
    return probe.rows


def child(argv: list[str]) -> int:
    """The measurement, in a process of its own: one JSON line."""
    from workers import blas_info

    from mlptrain.threads import choose_threads, cores, measure_others_busy

    args = json.loads(argv[0])
    all_cores = cores()
    runs = []
    for batch in args["batches"]:
        auto, why = choose_threads("auto", [784, 256, 128, 10], batch, all_cores,
                                   load=lambda: measure_others_busy(None))
        for label, n in (("1", 1), (str(all_cores), all_cores), ("auto", auto)):
            runs.append({"batch": batch, "threads": label, "count": n, "why": why,
                         "epochs": epochs(args["data"], batch, n, args["epochs"])})
    print(json.dumps({"runs": runs, "cores": all_cores, "blas": blas_info()}))
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["child"]:
        return child(argv[1:])
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--data", type=Path, help="the folder with MNIST's four idx files")
    source.add_argument("--synthetic", type=int, help="N random 784-feature rows instead")
    p.add_argument("--epochs", type=int, default=8, help="epochs per run, the warm-up included")
    p.add_argument("--batch", type=int, nargs="+", default=[32, 128], help="batch sizes")
    p.add_argument("--keep-coretype", action="store_true",
                   help="keep OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE (default: unset both)")
    args = p.parse_args(argv)
    data = ({"source": "mnist", "path": str(args.data.resolve()), "download": False}
            if args.data else {"source": "blobs", "n_samples": args.synthetic,
                               "n_features": 784, "n_classes": 10})
    spec = {"data": data, "batches": args.batch, "epochs": args.epochs}
    load = os.getloadavg()
    done = subprocess.run([sys.executable, str(Path(__file__).resolve()), "child",
                           json.dumps(spec)], capture_output=True, text=True,
                          env=thread_env(os.cpu_count() or 1, args.keep_coretype))
    if done.returncode != 0:
        print(done.stderr[-3000:], file=sys.stderr)
        return 1
    result = json.loads(done.stdout.strip().splitlines()[-1])
    print(render(result, args.epochs, load))
    return 0


def render(result: dict, n_epochs: int, load: tuple[float, float, float]) -> str:
    blas = "; ".join(f"{b.get('internal_api')} {b.get('version')}, kernel "
                     f"{b.get('architecture')}" for b in result["blas"]) or "unknown"
    lines = [f"seconds per epoch (training steps), epochs 2-{n_epochs} of {n_epochs}; "
             f"{result['cores']} cores; {blas}; load average before "
             f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; {time.strftime('%Y-%m-%d %H:%M %Z')}",
             "", "| batch | threads | min / median / max | spread | other processes' busy "
             "cores, each epoch | idle epochs: min / max | idle spread |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for run in result["runs"]:
        measured = run["epochs"][1:]
        seconds = [e["seconds"] for e in measured]
        idle = [e["seconds"] for e in measured if e["others"] < IDLE_BELOW]
        if not seconds:
            continue
        threads = run["threads"] + (f" ({run['count']})" if run["threads"] == "auto" else "")
        spread = f"{max(seconds) / min(seconds):.2f}"
        idle_cells = (f"{min(idle):.3f} / {max(idle):.3f} | {max(idle) / min(idle):.2f}"
                      if len(idle) >= 2 else f"{len(idle)} idle epoch(s) | -")
        others = " ".join(f"{e['others']:.2f}" for e in measured)
        lines.append(
            f"| {run['batch']} | {threads} | {min(seconds):.3f} / "
            f"{statistics.median(seconds):.3f} / {max(seconds):.3f} | {spread} | {others} | "
            f"{idle_cells} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
