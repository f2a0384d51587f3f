"""A sweep worker: takes trials from the study until the budget is spent, training each one
in-process as an ordinary run directory (`SWEEP_DIR/trials/trial-0003`).

One trial, step by step: claim the next slot (or a queued retry), draw its parameters, build
its config (the base config, the parameters, its run directory, the worker's BLAS threads),
then train. A retry finds the run directory of the trial it retries and continues it from its
last checkpoint with the existing exact resume, so a trial killed at any instant ends
bit-identical to an uninterrupted one. Each epoch's objective goes to `trial.report`; when the
pruner says prune, the trainer's stop signal is set, the run stops at the next step boundary
with a checkpoint and the trial is marked pruned. A trial's value is the best epoch-end value of
the objective column of its metrics.csv (mid-epoch evaluations, `train.eval_every`, are not
counted).
"""

from __future__ import annotations

import copy
import json
import math
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlptrain.errors import DivergenceError, UserError
from mlptrain.sweep import study as st
from mlptrain.sweep.spec import SweepSpec, set_key

TRIALS_DIR = "trials"
FINISHED = ("completed", "early_stopped", "diverged")
SWEEP_DIR_ATTR = "mlptrain_sweep_dir"  # study user attribute: where the trials go


def trial_name(slot: int) -> str:
    return f"trial-{slot:04d}"


class TrialFailed(Exception):
    """A trial that ends as failed (it diverged): the sweep goes on."""


class OverBudget(Exception):
    """A fresh trial created after the budget was spent (two workers raced for the last slot)."""


class Interrupted(KeyboardInterrupt):
    """The trial's run was interrupted (Ctrl-C, SIGTERM): a retry is queued, the worker stops."""


@dataclass
class WorkerResult:
    trials_run: int
    interrupted: bool = False


def trial_config(spec: SweepSpec, params: dict[str, Any], sweep_dir: Path, slot: int,
                 threads: int | None):
    """The validated config of one trial: base + params, its run directory, the threads."""
    from mlptrain.config import validate_config
    from mlptrain.config.paths import keys_under, resolve_paths

    raw = copy.deepcopy(spec.base)
    for key, value in params.items():
        set_key(raw, key, value)
    resolve_paths(raw, Path(spec.source).parent, keys_under([tuple(k.split(".")) for k in params]))
    set_key(raw, "run.root", str(Path(sweep_dir).absolute() / TRIALS_DIR))
    set_key(raw, "run.name_template", trial_name(slot))
    set_key(raw, "train.threads", threads)
    return validate_config(raw, source=f"trial {slot} of {spec.source}")


def best_value(run_dir: Path, metric: str, direction: str) -> float | None:
    """The best epoch-end value of `metric` in the run's metrics.csv (None: no such value)."""
    values = [v for _, v in epoch_values(run_dir, metric)]
    if not values:
        return None
    return min(values) if direction == "minimize" else max(values)


def epoch_values(run_dir: Path, metric: str) -> list[tuple[int, float]]:
    """(epoch, value) of every epoch-end row of metrics.csv with a finite `metric`."""
    from mlptrain.runs import read_metrics

    out = []
    for row in read_metrics(run_dir):
        epoch, value = row.get("epoch"), row.get(metric)
        if epoch is None or value is None or not float(epoch).is_integer():
            continue
        if math.isfinite(value):
            out.append((int(epoch), float(value)))
    return out


class TrialReporter:
    """The observer of a trial's run: reports each epoch's objective, and asks the pruner."""

    def __init__(self, trial, metric: str, run_dir: Path):
        from mlptrain.training import StopSignal

        self.trial, self.metric, self.run_dir = trial, metric, run_dir
        self.stop = StopSignal()
        self.pruned = False
        self._reported: set[int] = set()
        self._caught_up = False

    def factory(self, total_epochs: int) -> TrialReporter:
        return self

    def catch_up(self) -> None:
        """Report the epochs already in metrics.csv (a resumed run's history), then decide."""
        for epoch, value in epoch_values(self.run_dir, self.metric):
            self._report(epoch, value)
        self._decide()

    def epoch_started(self, epoch: int, n_batches: int, start_batch: int) -> None:
        if not self._caught_up:  # the first epoch of this process: after resume's truncation
            self._caught_up = True
            self.catch_up()

    def batches_done(self, count: int, running_loss: float) -> None:
        pass

    def evaluated(self, row: dict[str, Any]) -> None:
        epoch, value = row.get("epoch"), row.get(self.metric)
        if isinstance(epoch, int) and isinstance(value, float) and math.isfinite(value):
            self._report(epoch, value)
            self._decide()

    def message(self, text: str) -> None:
        pass

    def _report(self, epoch: int, value: float) -> None:
        if epoch not in self._reported:
            self._reported.add(epoch)
            self.trial.report(value, epoch)

    def _decide(self) -> None:
        if self._reported and not self.pruned and self.trial.should_prune():
            self.pruned = True
            self.stop.requested = True  # stop at the next step boundary, with a checkpoint


def train_trial(cfg, run_dir: Path, reporter: TrialReporter) -> str:
    """Train (or finish, or leave as it is) the trial's run directory; return its status."""
    from mlptrain.experiment import resume_run, start_run

    summary = _read_status(run_dir)
    try:
        if summary in FINISHED:
            status = summary
        elif (run_dir / "checkpoints" / "last.safetensors").is_file():
            status = resume_run(run_dir, observer_factory=reporter.factory,
                                stop=reporter.stop).status
        else:
            if run_dir.exists():  # died before its first checkpoint: nothing to resume
                shutil.rmtree(run_dir)
            result = start_run(cfg, observer_factory=reporter.factory, stop=reporter.stop)
            if result.run_dir != run_dir:
                raise UserError(f"trial run directory {result.run_dir} is not {run_dir}")
            status = result.status
    except DivergenceError:
        status = "diverged"
    reporter.catch_up()
    return status


def _read_status(run_dir: Path) -> str | None:
    try:
        summary = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return summary.get("status") if isinstance(summary, dict) else None


class Worker:
    """One worker process's loop over the study."""

    def __init__(self, storage_url: str, study_name: str, threads: int | None,
                 sweep_dir: str | Path | None = None):
        optuna = st.require_optuna()
        probe = st.load_study(st.open_storage(storage_url, None), study_name)
        self.spec = st.study_spec(probe)
        self.storage = st.open_storage(storage_url, self.spec.heartbeat)
        self.study = st.load_study(self.storage, study_name, sampler=st.make_sampler(self.spec),
                                   pruner=st.make_pruner(self.spec))
        recorded = self.study.user_attrs.get(SWEEP_DIR_ATTR)
        if sweep_dir is None and recorded is None:
            raise UserError(f"study {study_name!r} records no sweep directory; give --dir")
        self.sweep_dir = Path(sweep_dir or recorded).absolute()
        self.threads = threads
        self.optuna = optuna

    def run(self, max_trials: int | None = None) -> WorkerResult:
        done = 0
        beat = self.spec.heartbeat
        while max_trials is None or done < max_trials:
            st.reap_dead_local_trials(self.study, self.storage, beat)
            action = st.next_action(self.study.get_trials(deepcopy=False), st.budget(self.study))
            if action == "done":
                break
            if action == "wait":
                time.sleep(min(1.0, beat))
                st.fail_stale(self.study)
                continue
            try:
                self.study.optimize(self.objective, n_trials=1, catch=(TrialFailed, OverBudget))
            except Interrupted:
                return WorkerResult(done, interrupted=True)
            done += 1
        return WorkerResult(done)

    def objective(self, trial) -> float:
        trial.set_user_attr(st.WORKER_ATTR, st.worker_identity())
        trials = self.study.get_trials(deepcopy=False)
        frozen = next(t for t in trials if t.number == trial.number)
        slot = st.slot_of(trials, trial.number)
        trial.set_user_attr(st.SLOT_ATTR, slot)
        if not st.is_retry(frozen) and slot >= st.budget(self.study):
            trial.set_user_attr(st.OVER_BUDGET_ATTR, True)
            raise OverBudget()
        params = {r.key: st.suggest(trial, r) for r in self.spec.space}
        run_dir = self.sweep_dir / TRIALS_DIR / trial_name(slot)
        trial.set_user_attr("run_dir", f"{TRIALS_DIR}/{trial_name(slot)}")
        cfg = trial_config(self.spec, params, self.sweep_dir, slot, self.threads)
        reporter = TrialReporter(trial, self.spec.metric, run_dir)
        try:
            status = train_trial(cfg, run_dir, reporter)
        except KeyboardInterrupt:
            self._queue_retry(trial)
            raise Interrupted() from None
        trial.set_user_attr("status", status)
        if status == "diverged":
            raise TrialFailed("diverged")
        if reporter.pruned:
            raise self.optuna.TrialPruned()
        if status == "interrupted":  # Ctrl-C or SIGTERM: continue this run on --resume
            self._queue_retry(trial)
            raise Interrupted()
        value = best_value(run_dir, self.spec.metric, self.spec.direction)
        if value is None:
            raise UserError(f"{run_dir}: metrics.csv has no epoch-end value of the objective "
                            f"{self.spec.metric!r}")
        return value

    def _queue_retry(self, trial) -> None:
        frozen = next(t for t in self.study.get_trials(deepcopy=False) if t.number == trial.number)
        st.retry_callback()(self.study, frozen)


def run_worker(storage_url: str, study_name: str, threads: int | None = None,
               sweep_dir: str | Path | None = None, max_trials: int | None = None) -> WorkerResult:
    """Join the study and run trials until its budget is spent (the CLI's `sweep worker`)."""
    return Worker(storage_url, study_name, threads, sweep_dir).run(max_trials)
