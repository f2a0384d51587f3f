"""The storage's cost per sweep trial, without training: what a worker asks of the database.

For each of N trials, the same calls a sweep worker makes: reap check and budget check
(get_trials), ask (with the slot-seeded TPE sampler), the user attributes (worker, slot,
run_dir, status), the suggestions of the spiral example's 4 keys, E reports and prune
decisions (one per epoch) and tell. Prints the median and mean milliseconds per trial.

    python bench/sweep_overhead.py                         # SQLite in a temporary folder
    python bench/sweep_overhead.py --storage postgresql://postgres@127.0.0.1:5432/postgres
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--storage", help="database URL (default: a fresh SQLite file)")
    parser.add_argument("--trials", type=int, default=40)
    parser.add_argument("--epochs", type=int, default=15)
    args = parser.parse_args()

    from mlptrain.sweep import study as st
    from mlptrain.sweep.spec import load_sweep

    spec = load_sweep(REPO / "configs" / "sweeps" / "spiral.yaml", trials=args.trials)
    with tempfile.TemporaryDirectory() as tmp:
        url = args.storage or st.sqlite_url(Path(tmp) / "study.db")
        name = f"overhead-{time.time_ns()}"
        st.create_study(st.open_storage(url, None), spec, name)
        storage = st.open_storage(url, None)  # ask() runs no heartbeat thread
        study = st.load_study(storage, name, sampler=st.make_sampler(spec),
                              pruner=st.make_pruner(spec))
        per_trial = [one_trial(st, study, storage, spec, args.epochs, i)
                     for i in range(args.trials)]
    where = "SQLite" if url.startswith("sqlite") else st.redact(url)
    print(f"{where}: {args.trials} trials, {args.epochs} reports each: median "
          f"{statistics.median(per_trial) * 1e3:.1f} ms, mean "
          f"{statistics.mean(per_trial) * 1e3:.1f} ms per trial")


def one_trial(st, study, storage, spec, epochs: int, i: int) -> float:
    started = time.perf_counter()
    st.reap_dead_local_trials(study, storage, spec.heartbeat)
    st.next_action(study.get_trials(deepcopy=False), st.budget(study))
    trial = study.ask()
    trial.set_user_attr(st.WORKER_ATTR, st.worker_identity())
    trials = study.get_trials(deepcopy=False)
    slot = st.slot_of(trials, trial.number)
    trial.set_user_attr(st.SLOT_ATTR, slot)
    for r in spec.space:
        st.suggest(trial, r)
    trial.set_user_attr("run_dir", f"trials/trial-{slot:04d}")
    for epoch in range(1, epochs + 1):
        trial.report(1.0 / (epoch + i), epoch)
        trial.should_prune()
    trial.set_user_attr("status", "completed")
    study.tell(trial, 1.0 / (epochs + i))
    return time.perf_counter() - started


if __name__ == "__main__":
    main()
