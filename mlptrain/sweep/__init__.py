"""`mlptrain sweep`: hyper-parameter search on Optuna, from one laptop to a cluster.

    spec.py     the sweep file: base config, objective, space; validated against the schema
    study.py    Optuna: storage, study, samplers seeded per trial slot, budget, retries
    worker.py   a worker process's loop: one trial = one run directory, pruning, resume
    launch.py   the coordinator: sweep directory, study, N local worker processes
    results.py  the rows of the sweep, sweep.csv and best.yaml
    plots.py    `mlptrain plot SWEEP_DIR`: the top trials' curves and value vs parameter

Optuna (the `sweep` extra) is imported only when a sweep runs; the sweep file is validated
without it. From Python:

    from mlptrain.sweep import run_sweep
    result = run_sweep("configs/sweeps/spiral.yaml", workers=2)
    print(result.best.value, result.best.params, result.reproduce)
"""

from __future__ import annotations

from typing import Any

__all__ = ["load_sweep", "resume_sweep", "run_sweep", "run_worker"]


def __getattr__(name: str) -> Any:  # lazy: `import mlptrain.sweep` stays light
    if name in ("run_sweep", "resume_sweep", "SweepResult"):
        from mlptrain.sweep import launch

        return getattr(launch, name)
    if name == "run_worker":
        from mlptrain.sweep.worker import run_worker

        return run_worker
    if name == "load_sweep":
        from mlptrain.sweep.spec import load_sweep

        return load_sweep
    raise AttributeError(name)
