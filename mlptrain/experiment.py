"""One training run end to end: config -> data -> model -> loop -> run directory.

`start_run` creates a new run directory and trains; `resume_run` continues a run directory
from its last checkpoint with nothing but the directory. Both end by evaluating the `best`
checkpoint (read back from disk) on the test split and writing `summary.json`.

The Trainer itself knows nothing of run directories: it is built by `assembly.build_trainer`
with a `RunFiles` object as its callbacks, which writes the checkpoints, metrics.csv,
layers.jsonl, train.log and TensorBoard events. The summary's final row is the Trainer's
last row in memory (on resume, metrics.csv's last row, read once).
"""

from __future__ import annotations

import copy
import json
import platform
import signal
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

import numpy as np

from mlptrain import __version__
from mlptrain.assembly import build_trainer
from mlptrain.assembly import resolve_against_data as resolve_against_data  # gradcheck's import
from mlptrain.checkpoint import (
    Checkpoint,
    load_checkpoint,
    restore_trainer,
    restore_weights,
    save_checkpoint,
    saved_preprocessor,
    trainer_checkpoint,
)
from mlptrain.config import config_to_yaml, validate_config, with_absolute_paths
from mlptrain.errors import CheckpointError, ConfigError, DivergenceError, RunDirError
from mlptrain.metrics import evaluate, is_binary, metric_names
from mlptrain.rundir import (
    CONFIG_FILE,
    LAYERS_FILE,
    SUMMARY_FILE,
    RunDir,
    RunLock,
    create_run_dir,
)
from mlptrain.threads import CpuTimes, LoadWatch, cores, cpu_times
from mlptrain.training import Callbacks, Observer, StopSignal, Trainer

if TYPE_CHECKING:
    from mlptrain.config.schema import ExperimentConfig
    from mlptrain.data.dataset import DataBundle, Split
    from mlptrain.data.preprocessing import Preprocessor
    from mlptrain.tensorboard import EventWriter

METRIC_COLUMNS_ORDER = (
    "epoch", "step", "lr", "train_loss", "train_accuracy", "val_loss", "val_accuracy",
    "val_balanced_accuracy", "val_f1_macro", "val_roc_auc", "val_average_precision", "val_mse", "val_mae", "val_r2", "grad_norm", "epoch_time", "samples_per_sec", "wall_time",
)


@dataclass
class RunResult:
    """What a finished (or interrupted) run reports back to the CLI."""

    run_dir: Path
    status: str
    summary: dict[str, Any]
    stopped_by: str | None = None  # with status "interrupted": the StopSignal's reason
    already_ended: bool = False  # a resume of a run that had ended: nothing was trained or written

    def table(self) -> dict[str, Any]:
        """The headline numbers for the final summary table."""
        s = self.summary
        rows: dict[str, Any] = {"epochs": s["epochs_completed"], "best epoch": s["best_epoch"],
                                f"best {s['monitor']}": s["best_value"]}
        rows.update({f"final {k}": v for k, v in s["final"].items() if k in _HEADLINE})
        rows.update({f"test {k}": v for k, v in (s.get("test") or {}).items()})
        rows["train time (s)"] = round(s["train_seconds"], 2)
        return rows


_HEADLINE = ("train_loss", "train_accuracy", "val_loss", "val_accuracy", "val_mse", "val_r2")

ObserverFactory = Callable[[int], Observer]  # epochs -> an observer (report.py's)


def prepare(cfg: ExperimentConfig, observer: Observer, preprocessor: Preprocessor | None = None,
            callbacks: Callbacks | None = None) -> tuple[ExperimentConfig, Trainer]:
    """Load the data and build the Trainer for `cfg` (not yet trained); (resolved cfg, trainer)."""
    trainer = build_trainer(cfg, _load_data(cfg, observer, preprocessor), callbacks, observer)
    return trainer.cfg, trainer


def _load_data(cfg: ExperimentConfig, observer: Observer,
               preprocessor: Preprocessor | None = None) -> DataBundle:
    from mlptrain.data import load_data

    if cfg.run.tensorboard:  # before any data is loaded or folder made: exit 2 with the fix
        from mlptrain.tensorboard import require_tensorboardx

        require_tensorboardx()
    return load_data(cfg.data, seed=cfg.seed, loss_kind=cfg.loss.kind,
                     progress=getattr(observer, "download_progress", None),
                     preprocessor=preprocessor)


# ---- checkpoints ----------------------------------------------------------------------------


class RunFiles:
    """The Trainer's callbacks in a run directory: checkpoints under checkpoints/, every
    evaluation row in metrics.csv and train.log, layer statistics in layers.jsonl, and the
    same in TensorBoard event files (RUN/tb/) when the config's run.tensorboard is on."""

    def __init__(self, run: RunDir | None = None, resumed: bool = False):
        # a new run's directory is set once the config has passed every check (start_run)
        self.run, self.resumed = run, resumed
        self.cfg_dict: dict[str, Any] = {}  # the rest is set by `begin`
        self.data_info: dict[str, Any] = {}
        self.columns: list[str] = []
        self.tb: EventWriter | None = None
        # with train.checkpoint.min_interval_s > 0: the best state, not yet written
        self.held_best: _HeldCheckpoint | None = None
        self.load_watch: LoadWatch | None = None  # set by _train_in: competing processes
        self.say: Callable[[str], None] = lambda text: None  # and the observer's message

    def begin(self, trainer: Trainer) -> None:
        """Fix what every checkpoint and row repeats; open the TensorBoard writer, which on
        resume continues after the checkpoint's step (events recorded after it are dropped)."""
        self._run()
        self.cfg_dict = trainer.cfg.model_dump(mode="json")
        self.data_info = trainer.bundle.describe()
        self.columns = _metric_columns(trainer)
        if trainer.cfg.run.tensorboard and self.tb is None:
            from mlptrain.tensorboard import EventWriter

            self.tb = EventWriter.open(self._run().path, self.cfg_dict, self.columns,
                                       resume_step=trainer.state.step if self.resumed else None)

    def _run(self) -> RunDir:
        if self.run is None:
            raise RuntimeError("RunFiles has no run directory: set .run before fit()")
        return self.run

    def close(self) -> None:
        """Write a best state still held in memory (a diverged run's), close TensorBoard."""
        try:
            self._flush_best()
        finally:
            if self.tb is not None:
                self.tb.close()
                self.tb = None

    def checkpoint(self, trainer: Trainer, tags: set[str]) -> None:
        """Write one serialized state to every tag's file, then prune periodic ones.

        With `train.checkpoint.min_interval_s` > 0 a `best` alone is held in memory (a
        detached copy) and written just before the next `last`, so that the `best` on disk
        is never older than the `last` a resume starts from."""
        checkpoint = trainer_checkpoint(trainer, self.cfg_dict, self.data_info)
        if tags == {"best"} and trainer.cfg.train.checkpoint.min_interval_s > 0:
            self.held_best = _HeldCheckpoint.of(checkpoint)
            return
        if "best" not in tags:
            self._flush_best()
        self.held_best = None
        for tag in sorted(tags):
            self._write(tag, checkpoint)
        _prune_periodic(self._run(), trainer.cfg.train.checkpoint.keep_last)

    def _flush_best(self) -> None:
        if self.held_best is not None:
            self._write("best", self.held_best.checkpoint())
            self.held_best = None

    def _write(self, tag: str, checkpoint: Checkpoint) -> None:
        target = self._run().checkpoint(tag)
        existed = target.exists()
        try:
            save_checkpoint(target, checkpoint)
        except OSError as err:
            kept = (f"the previous {tag} checkpoint is intact" if existed
                    else f"no {tag} checkpoint had been written yet")
            raise RunDirError(
                f"could not write checkpoint {tag} ({err.strerror or err}); {kept}",
                path=target,
            ) from None

    def record(self, trainer: Trainer, row: dict[str, Any],
               layer_stats: dict[str, Any] | None) -> None:
        run, columns = self._run(), self.columns
        try:
            run.append_metrics(row, columns)
            run.log(" ".join(f"{k}={row[k]:.6g}" if isinstance(row[k], float) else f"{k}={row[k]}"
                             for k in columns if row.get(k) is not None))
            if self.load_watch is not None and "epoch_time" in row:
                if (competing := self.load_watch.epoch_ended(row["epoch"])) is not None:
                    run.log(competing)
                    self.say(competing)
            if layer_stats is not None:
                run.append_jsonl(LAYERS_FILE, layer_stats)
            if self.tb is not None:  # the same columns as metrics.csv, then flushed to disk
                self.tb.record({k: row.get(k) for k in columns}, layer_stats, trainer.net)
        except OSError as err:  # a full disk: the checkpoints already written stay loadable
            kept = ("the checkpoints written so far are intact"
                    if any(run.checkpoints.glob("*.safetensors")) else "no checkpoint yet")
            raise RunDirError(
                f"could not record the metrics of epoch {row.get('epoch')} "
                f"({err.strerror or err}); {kept}",
                path=run.path,
            ) from None


@dataclass
class _HeldCheckpoint:
    """A checkpoint held in memory to be written later, sharing nothing with the trainer:
    copies of its tensors and its metadata as the JSON text the file will hold (the metadata
    is JSON by contract; dumping it takes a third of a deep copy's time, and a best that is
    replaced before it is written is never parsed back)."""

    tensors: dict[str, np.ndarray]
    meta_json: str

    @classmethod
    def of(cls, checkpoint: Checkpoint) -> _HeldCheckpoint:
        return cls({k: np.array(v, copy=True) for k, v in checkpoint.tensors.items()},
                   json.dumps(checkpoint.meta, allow_nan=True))

    def checkpoint(self) -> Checkpoint:
        return Checkpoint(tensors=self.tensors, meta=json.loads(self.meta_json))


def _prune_periodic(run: RunDir, keep_last: int) -> None:
    periodic = sorted(run.checkpoints.glob("epoch-*.safetensors"))
    for old in periodic[:-keep_last]:
        old.unlink(missing_ok=True)


# ---- runs -----------------------------------------------------------------------------------


def start_run(cfg: ExperimentConfig, argv: list[str] | None = None, observer_factory: ObserverFactory | None = None,
              stop: StopSignal | None = None) -> RunResult:
    """Create a run directory for `cfg` and train in it. The directory is made once the data
    has loaded and the config has passed every check against it. `stop` (a StopSignal the
    caller may set, e.g. from another thread) stops the run at the next step boundary, as
    Ctrl-C and SIGTERM do."""
    cfg = with_absolute_paths(cfg)
    observer = _make_observer(observer_factory, cfg.train.epochs)
    files = RunFiles()
    started = cpu_times()  # auto measures the load from here: loading the data is not waited for
    cfg, trainer = prepare(cfg, observer, callbacks=files)
    threads = _blas_threads(trainer, None, started)
    cfg.train.threads = threads[0]  # auto resolved: config.yaml and checkpoints hold the count
    path = create_run_dir(cfg.run.root, cfg.run.name_template, cfg.name, cfg.seed)
    run = files.run = RunDir(path)
    with RunLock(path).acquire(" ".join(argv or sys.argv)):
        try:
            run.write_text(CONFIG_FILE, config_to_yaml(cfg))
            run.log(f"started: {' '.join(argv or sys.argv)}")
            observer.message(f"run directory: {path}")
            return _train_in(run, cfg, trainer, observer, argv or sys.argv, resumed_from=None,
                             threads=threads, stop=stop)
        except (OSError, RunDirError) as err:
            run.close()
            _remove_if_nothing_to_resume(run, err)
            raise
        finally:
            run.close()


def _remove_if_nothing_to_resume(run: RunDir, err: Exception) -> None:
    """A disk that fills before the first checkpoint leaves no run directory behind: without a
    checkpoint there is nothing to resume, and an empty run would look like a real one."""
    import shutil

    if any(run.checkpoints.glob("*.safetensors")):
        return
    shutil.rmtree(run.path, ignore_errors=True)
    if isinstance(err, RunDirError):
        err.message += "; the new run directory was removed (nothing to resume)"


def resume_run(run_dir: str | Path, overrides: list[str] | None = None,
               observer_factory: ObserverFactory | None = None,
               stop: StopSignal | None = None, threads: int | None = None) -> RunResult:
    """Continue the run in `run_dir` from its `last` checkpoint, exactly (`stop`: as in
    `start_run`; `threads`: BLAS threads for this process instead of the run's
    train.threads)."""
    from mlptrain.rundir import find_run_checkpoint

    run = RunDir(run_dir)
    find_run_checkpoint(run.path, "last")
    with RunLock(run.path).acquire(" ".join(sys.argv)):  # then nobody else writes to it
        try:
            return _resume_locked(run, overrides, observer_factory, stop, threads)
        finally:
            run.close()


def _resume_locked(run: RunDir, overrides: list[str] | None,
                   observer_factory: ObserverFactory | None, stop: StopSignal | None,
                   threads: int | None = None) -> RunResult:
    from mlptrain.rundir import find_run_checkpoint

    path = find_run_checkpoint(run.path, "last")
    checkpoint = load_checkpoint(path)
    saved = checkpoint.meta.get("config")
    if not isinstance(saved, dict):
        raise CheckpointError("holds no config", path=path)
    raw = _resume_overrides(copy.deepcopy(saved), overrides) if overrides else saved
    cfg = validate_config(raw, source=str(path))
    observer = _make_observer(observer_factory, cfg.train.epochs)
    preprocessor = saved_preprocessor(checkpoint, path)
    cfg, trainer = prepare(cfg, observer, preprocessor, RunFiles(run, resumed=True))
    restore_trainer(trainer, checkpoint, path)
    if trainer.state.status not in ("running", "interrupted", "completed", "early_stopped"):
        raise RunDirError(f"cannot resume a run whose status is {trainer.state.status!r}",
                          path=run.path)
    _check_epoch_budget(trainer, path)
    ended = trainer.ended()
    if ended is not None:
        summary = _recorded_summary(run, trainer, ended)
        if summary is not None:  # ended and recorded: nothing to do, nothing is written
            return RunResult(run_dir=run.path, status=ended, summary=summary, already_ended=True)
    run.truncate_history(trainer.state.step)
    trainer.last_row = _last_recorded_row(run)  # read once: the row before the resume point
    run.remove_stale_temp_files()
    _commit_config(run, cfg, trainer, changed=raw != saved)
    run.log(f"resumed at epoch {trainer.state.epoch}, step {trainer.state.step}")
    observer.message(f"resuming {run.path} at epoch {trainer.state.epoch}, step {trainer.state.step}")
    trainer.state.status = "running"
    return _train_in(run, cfg, trainer, observer, sys.argv, resumed_from=str(path),
                     threads=_blas_threads(trainer, threads), stop=stop)


def _check_epoch_budget(trainer: Trainer, path: Path) -> None:
    """train.epochs may not fall below the epochs a run has done (nor end inside the epoch
    a checkpoint is in): config.yaml and summary.json would disagree about the run."""
    state, epochs = trainer.state, trainer.cfg.train.epochs
    least = state.epoch + (1 if state.batch_in_epoch else 0)
    if epochs < least:
        under_way = f" and is inside epoch {least}" if state.batch_in_epoch else ""
        raise ConfigError(f"train.epochs={epochs} is below the {state.epoch} epochs this run "
                          f"has completed{under_way}; give train.epochs={least} or more "
                          "(a resume only continues a run)", path=path.parent.parent)


def _recorded_summary(run: RunDir, trainer: Trainer, ended: str) -> dict[str, Any] | None:
    """summary.json when it records the run as ended at the checkpoint's step; None when it
    is missing or stale (the process was killed between the last checkpoint and the summary:
    the resume then writes it, training nothing)."""

    from mlptrain.rundir import read_run_text

    target = run.file(SUMMARY_FILE)
    try:
        summary = json.loads(read_run_text(target, limit=16 * 1024 * 1024))
    except (RunDirError, ValueError, RecursionError):
        return None
    if not isinstance(summary, dict):
        return None
    recorded = (summary.get("status"), summary.get("epochs_completed"), summary.get("steps"))
    return summary if recorded == (ended, trainer.state.epoch, trainer.state.step) else None


def _commit_config(run: RunDir, cfg: ExperimentConfig, trainer: Trainer, changed: bool) -> None:
    """Make the resumed config the run's, in an order a kill cannot break: an override (a new
    epoch budget) goes into the `last` checkpoint first, which is what every resume reads;
    then config.yaml, which is rewritten whenever it differs from the checkpoint's config
    (so a kill between the two writes is repaired by the next resume)."""
    if changed:
        checkpoint = trainer_checkpoint(trainer, cfg.model_dump(mode="json"),
                                        trainer.bundle.describe())
        target = run.checkpoint("last")
        try:
            save_checkpoint(target, checkpoint)
        except OSError as err:
            raise RunDirError(f"could not write checkpoint last ({err.strerror or err}); "
                              "the previous last checkpoint is intact", path=target) from None
    from mlptrain.rundir import read_run_text

    text = config_to_yaml(cfg)
    try:
        current = read_run_text(run.file(CONFIG_FILE), limit=4 * len(text) + 4096)
    except RunDirError:  # missing, too large, not a file, not UTF-8: rewritten
        current = None
    if current != text:
        run.write_text(CONFIG_FILE, text)


def _resume_overrides(raw: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Only the epoch budget may change on resume (anything else would break exactness), and
    TensorBoard files may be switched on."""
    from mlptrain.config import apply_overrides

    applied = apply_overrides(raw, overrides)
    changed = [".".join(k) for k in applied if k not in (("train", "epochs"), ("run", "tensorboard"))]
    if changed:
        raise ConfigError(f"only train.epochs (and run.tensorboard) can be overridden when "
                          f"resuming, not {changed[0]}")
    return raw


def _make_observer(factory: ObserverFactory | None, epochs: int) -> Observer:
    from mlptrain.training import SilentObserver

    return factory(epochs) if factory is not None else SilentObserver()


def _blas_threads(trainer: Trainer, given: int | None,
                  since: CpuTimes | None = None) -> tuple[int, str]:
    """(BLAS threads, why) of a run: `given` (--threads), else its train.threads (auto
    resolved for its network, batch and the load measured from `since`:
    threads.choose_threads)."""
    from mlptrain.threads import run_threads

    if given is not None:
        return given, "--threads"
    return run_threads(trainer.cfg.train.threads, trainer.net.layer_sizes, trainer.batch_size,
                       since)


def _train_in(run: RunDir, cfg: ExperimentConfig, trainer: Trainer, observer: Observer,
              argv: list[str], resumed_from: str | None, threads: tuple[int, str],
              stop: StopSignal | None = None) -> RunResult:
    """Train with `threads` = (BLAS threads, why) in force, then write summary.json."""
    from mlptrain.threads import blas_threads

    started = time.time()
    error: DivergenceError | None = None
    stop = stop or StopSignal()
    n_threads, why = threads
    run.log(f"BLAS threads: {n_threads} ({why})")
    if isinstance(trainer.callbacks, RunFiles):
        trainer.callbacks.load_watch = LoadWatch(n_threads, cores())
        trainer.callbacks.say = observer.message
    with blas_threads(n_threads), _stop_on_signals(stop):
        try:
            status = trainer.fit(observer, stop)
        except DivergenceError as err:
            status, error = "diverged", err
    if isinstance(trainer.callbacks, RunFiles):
        trainer.callbacks.close()
    if status == "interrupted":
        run.log(f"interrupted ({stop.reason or 'stop requested'}) at epoch "
                f"{trainer.state.epoch}, step {trainer.state.step}")
    summary = _summary(run, cfg, trainer, status, argv, started, resumed_from, n_threads)
    run.write_json(SUMMARY_FILE, summary)
    run.log(f"finished: {status}")
    if error is not None:
        raise error
    return RunResult(run_dir=run.path, status=status, summary=summary,
                     stopped_by=stop.reason if status == "interrupted" else None)


def _metric_columns(trainer: Trainer) -> list[str]:
    bundle = trainer.bundle
    names = set(metric_names(bundle.task, bundle.val is not None,
                             is_binary(bundle.task, bundle.n_outputs)))
    names |= {"epoch", "step", "lr", "grad_norm", "epoch_time", "samples_per_sec", "wall_time"}
    ordered = [c for c in METRIC_COLUMNS_ORDER if c in names]
    return ordered + ["best_" + trainer.best.monitor]


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextmanager
def _stop_on_signals(stop: StopSignal) -> Iterator[StopSignal]:
    """The first Ctrl-C or SIGTERM (what `timeout`, `kill`, SLURM and Kubernetes send) sets
    `stop`: the loop stops cleanly at the next step boundary and checkpoints. A second one
    stops at once: Ctrl-C raises KeyboardInterrupt, SIGTERM takes its default action.
    Outside the main thread no handler can be installed and `stop` is only the caller's."""
    try:
        previous = {sig: signal.getsignal(sig) for sig in STOP_SIGNALS}
        for sig in STOP_SIGNALS:
            signal.signal(sig, _stop_handler(stop))
    except ValueError:  # not the main thread
        yield stop
        return
    try:
        yield stop
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _stop_handler(stop: StopSignal) -> Callable[[int, FrameType | None], None]:
    import os

    def handle(signum: int, frame: FrameType | None) -> None:
        if not stop.requested:
            stop.request(signal.Signals(signum).name)
        elif signum == signal.SIGINT:
            raise KeyboardInterrupt
        else:  # a second SIGTERM: die of it, as without a handler
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)

    return handle


def _summary(run: RunDir, cfg: ExperimentConfig, trainer: Trainer, status: str,
             argv: list[str], started: float, resumed_from: str | None,
             blas_threads: int) -> dict[str, Any]:
    test = None
    if status in ("completed", "early_stopped", "diverged") and trainer.bundle.test is not None:
        test = _evaluate_best_on_test(run, trainer, trainer.bundle.test)
    best = trainer.best
    return {
        "status": status,
        "name": cfg.name,
        "seed": cfg.seed,
        "epochs_completed": trainer.state.epoch,
        "steps": trainer.state.step,
        "monitor": best.monitor,
        "best_value": best.best,
        "best_epoch": best.best_epoch,
        "final": _final_row(trainer.last_row, _metric_columns(trainer)),
        "test": test,
        "train_seconds": trainer.state.train_seconds,
        "blas_threads": blas_threads,
        "wall_seconds": time.time() - started,
        "data": trainer.bundle.describe(),
        "n_params": int(trainer.net.params.size),
        "command": list(argv),
        "resumed_from": resumed_from,
        "versions": {
            "mlptrain": __version__, "numpy": np.__version__, "python": platform.python_version(),
        },
        "platform": platform.platform(),
    }


def _evaluate_best_on_test(run: RunDir, trainer: Trainer, test: Split) -> dict[str, float] | None:
    """Evaluate the `best` checkpoint, as read back from disk, on the test split."""
    target = run.checkpoint("best")
    if not target.exists():
        return None
    restore_weights(trainer.net, target)
    bundle = trainer.bundle
    return evaluate(trainer.net, trainer.loss_fn, bundle.preprocessor, test.X, test.y,
                    bundle.task)


def _final_row(last: dict[str, Any] | None, columns: list[str]) -> dict[str, Any]:
    """The last evaluation row as metrics.csv holds it: its columns, None where empty
    (values are ints and floats, which the CSV holds exactly)."""
    return {} if last is None else {k: last.get(k) for k in columns}


def _last_recorded_row(run: RunDir) -> dict[str, Any] | None:
    """metrics.csv's last row, as numbers (None where a cell is empty); None without rows."""
    import csv
    import io

    from mlptrain.rundir import METRICS_FILE, read_run_text

    path = run.file(METRICS_FILE)
    if not path.exists():
        return None
    rows = list(csv.DictReader(io.StringIO(read_run_text(path), newline="")))
    return {k: _number(v) for k, v in rows[-1].items()} if rows else None


def _number(text: str) -> Any:
    try:
        value = float(text)
    except (TypeError, ValueError):
        return text or None
    return int(value) if value.is_integer() and "." not in text and "e" not in text else value
