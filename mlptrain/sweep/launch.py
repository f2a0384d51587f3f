"""The coordinator of a local sweep: the sweep directory, the study, N worker processes.

    sweeps/<name>-<timestamp>/
      sweep.yaml       the validated sweep (base config resolved, space, objective, budget)
      sweep.json       where its study lives: storage URL (password left out) and study name
      study.db         the SQLite study (the default storage)
      trials/          one ordinary run directory per trial slot: trial-0000, trial-0001, ...
      workers/         each worker process's log
      sweep.csv        one row per trial; best.yaml: the best trial's config, trainable as is

The study (and its schema) is created before any worker starts. Each worker is a real process
(`python -m mlptrain sweep worker`) with `train.threads` set so that workers x threads does not
exceed the cores. A worker killed by a signal is replaced, and its trial is retried from its
run directory; the sweep ends when every slot of the budget has finished.
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from mlptrain.errors import MlptrainError, RunDirError, UserError
from mlptrain.sweep import study as st
from mlptrain.sweep.results import TrialRow, best_row, trial_rows, write_outputs
from mlptrain.sweep.spec import SweepSpec, load_sweep
from mlptrain.sweep.worker import SWEEP_DIR_ATTR
from mlptrain.threads import cores

SPEC_FILE = "sweep.yaml"
STUDY_FILE = "sweep.json"
DB_FILE = "study.db"
WORKERS_DIR = "workers"
LOCK_FILE = ".sweep.lock"
STORAGE_ENV = "MLPTRAIN_SWEEP_STORAGE"  # how a worker gets the URL (not on its command line)
MAX_RESPAWNS_PER_WORKER = 3


class SweepError(MlptrainError):
    """A worker process failed; carries the worker's exit code (2 bad input, 3 a bug)."""

    def __init__(self, message: str, exit_code: int, **kwargs: Any):
        super().__init__(message, **kwargs)
        self.exit_code = exit_code


@dataclass
class SweepResult:
    """A finished (or interrupted) sweep."""

    sweep_dir: Path
    study_name: str
    storage: str  # the URL without its password
    status: str  # "completed" or "interrupted"
    spec: SweepSpec
    rows: list[TrialRow] = field(default_factory=list)
    best: TrialRow | None = None
    best_config: Path | None = None
    workers: int = 1
    threads: int | None = None

    @property
    def reproduce(self) -> str | None:
        return None if self.best_config is None else f"mlptrain train {self.best_config}"


Progress = Callable[[list[TrialRow]], None]


def run_sweep(sweep_file: str | Path, overrides: list[str] | None = None, *, workers: int = 1,
              trials: int | None = None, storage: str | None = None,
              out: str | Path | None = None, study_name: str | None = None,
              on_update: Progress | None = None) -> SweepResult:
    """Validate the sweep file, create the sweep directory and study, run `workers` local
    worker processes until the budget is spent; write sweep.csv and best.yaml."""
    spec = load_sweep(sweep_file, overrides, trials)
    st.require_optuna()
    if storage is not None:
        st.check_storage_url(storage)
    _check_workers(workers)
    sweep_dir = _create_sweep_dir(Path(out or "sweeps"), spec.name)
    try:
        url = storage or st.sqlite_url(sweep_dir / DB_FILE)
        name = study_name or sweep_dir.name
        handle = st.open_storage(url, None)
        study = st.create_study(handle, spec, name)
        study.set_user_attr(SWEEP_DIR_ATTR, str(sweep_dir))
        _write_files(sweep_dir, spec, url, name)
    except BaseException:
        import shutil

        shutil.rmtree(sweep_dir, ignore_errors=True)
        raise
    return _supervise(sweep_dir, spec, url, name, workers, on_update)


def resume_sweep(sweep_dir: str | Path, *, workers: int = 1, trials: int | None = None,
                 storage: str | None = None, on_update: Progress | None = None) -> SweepResult:
    """Continue a sweep toward its total budget (`trials` sets a new total)."""
    sweep_dir = Path(sweep_dir).absolute()
    info = _read_study_file(sweep_dir)
    url = storage or info["storage"]
    if "***" in url:
        raise UserError(f"{sweep_dir / STUDY_FILE}: the storage URL's password is not stored; "
                        "give it with --storage URL")
    _check_workers(workers)
    handle = st.open_storage(url, None)
    study = st.load_study(handle, info["study"])
    spec = st.study_spec(study)
    if trials is not None:
        if trials < 1:
            raise UserError(f"--trials must be at least 1, got {trials}")
        study.set_user_attr(st.BUDGET_ATTR, trials)
    st.wait_for_unknown_running(study, handle, spec.heartbeat)
    return _supervise(sweep_dir, spec, url, info["study"], workers, on_update)


def _check_workers(workers: int) -> None:
    if workers < 1:
        raise UserError(f"--workers must be at least 1, got {workers}")


def threads_per_worker(spec: SweepSpec, workers: int) -> int:
    """BLAS threads of each worker: workers x threads <= cores (and <= base's train.threads)."""
    share = max(1, cores() // workers)
    wanted = (spec.base.get("train") or {}).get("threads")
    return min(share, wanted) if isinstance(wanted, int) else share


def _create_sweep_dir(root: Path, name: str) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise RunDirError(f"cannot create the output root: {err.strerror}", path=root) from None
    for attempt in range(1000):
        candidate = root / (f"{name}-{stamp}" + (f"-{attempt}" if attempt else ""))
        try:
            candidate.mkdir()
        except FileExistsError:
            continue
        except OSError as err:
            raise RunDirError(f"cannot create the sweep directory: {err.strerror}",
                              path=candidate) from None
        return candidate.absolute()
    raise RunDirError(f"1000 sweep directories named {name}-{stamp}-* already exist", path=root)


def _write_files(sweep_dir: Path, spec: SweepSpec, url: str, name: str) -> None:
    from mlptrain.checkpoint import write_atomic

    shown = spec.to_json()
    write_atomic(sweep_dir / SPEC_FILE,
                 yaml.safe_dump(shown, sort_keys=False, default_flow_style=None).encode())
    stored = url if url.startswith("sqlite") else st.redact(url)
    write_atomic(sweep_dir / STUDY_FILE,
                 (json.dumps({"storage": stored, "study": name}, indent=2) + "\n").encode())


def _read_study_file(sweep_dir: Path) -> dict[str, str]:
    path = sweep_dir / STUDY_FILE
    if not path.is_file():
        raise RunDirError(f"is not a sweep directory ({STUDY_FILE} is missing)", path=sweep_dir)
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise RunDirError(f"cannot be read: {err}", path=path) from None
    if not isinstance(info, dict) or not all(isinstance(info.get(k), str)
                                             for k in ("storage", "study")):
        raise RunDirError("must hold the strings storage and study", path=path)
    return info


# ---- supervising the workers ----------------------------------------------------------------


def _supervise(sweep_dir: Path, spec: SweepSpec, url: str, name: str, workers: int,
               on_update: Progress | None) -> SweepResult:
    threads = threads_per_worker(spec, workers)
    lock = _lock(sweep_dir)
    study = st.load_study(st.open_storage(url, None), name)  # the coordinator only reads
    pool = _WorkerPool(sweep_dir, url, name, threads)
    status = "completed"
    try:
        for i in range(workers):
            pool.spawn(i)
        while True:
            pool.check()  # first: a worker killed by a signal is replaced
            if not pool.running():
                break
            _notify(study, spec, on_update)
            time.sleep(0.5)
    except KeyboardInterrupt:
        pool.interrupt()
        status = "interrupted"
    finally:
        pool.wait()
        lock.close()
    if pool.interrupted:
        status = "interrupted"
    rows = _rows(study, spec)
    best_config = write_outputs(sweep_dir, spec, rows)
    if on_update is not None:
        on_update(rows)
    if pool.failure is not None:
        raise pool.failure
    return SweepResult(sweep_dir=sweep_dir, study_name=name, storage=st.redact(url),
                       status=status, spec=spec, rows=rows,
                       best=best_row(rows, spec.direction), best_config=best_config,
                       workers=workers, threads=threads)


def _lock(sweep_dir: Path):
    handle = open(sweep_dir / LOCK_FILE, "a")  # noqa: SIM115 (held until the sweep ends)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        raise RunDirError("another mlptrain sweep is running in it", path=sweep_dir) from None
    return handle


def _rows(study, spec: SweepSpec) -> list[TrialRow]:
    return trial_rows(study.get_trials(deepcopy=False), spec, now=datetime.now())


def _notify(study, spec: SweepSpec, on_update: Progress | None) -> None:
    if on_update is None:
        return
    import sqlalchemy.exc

    try:
        rows = _rows(study, spec)
    except sqlalchemy.exc.OperationalError:  # a busy database: the next poll shows it
        return
    on_update(rows)


class _WorkerPool:
    """The local worker processes: spawned, replaced when a signal kills one, stopped."""

    def __init__(self, sweep_dir: Path, url: str, name: str, threads: int):
        self.sweep_dir, self.url, self.name, self.threads = sweep_dir, url, name, threads
        self.procs: dict[int, subprocess.Popen] = {}
        self.respawns: dict[int, int] = {}
        self.failure: SweepError | None = None
        self.interrupted = False
        (sweep_dir / WORKERS_DIR).mkdir(exist_ok=True)

    def log_path(self, i: int) -> Path:
        return self.sweep_dir / WORKERS_DIR / f"worker-{i}.log"

    def spawn(self, i: int) -> None:
        env = {**os.environ, STORAGE_ENV: self.url}
        for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            env[var] = str(self.threads)
        cmd = [sys.executable, "-m", "mlptrain", "sweep", "worker", "--study", self.name,
               "--threads", str(self.threads), "--dir", str(self.sweep_dir)]
        with open(self.log_path(i), "ab") as log:
            self.procs[i] = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT,
                                             stdin=subprocess.DEVNULL, start_new_session=True,
                                             preexec_fn=_die_with_parent)

    def running(self) -> bool:
        return any(p.poll() is None for p in self.procs.values())

    def pids(self) -> list[int]:
        return [p.pid for p in self.procs.values() if p.poll() is None]

    def check(self) -> None:
        """Replace a worker killed by a signal; stop all on a worker's error."""
        for i, proc in list(self.procs.items()):
            code = proc.poll()
            if code is None or code == 0 or self.failure is not None or self.interrupted:
                continue
            if code < 0 and self.respawns.get(i, 0) < MAX_RESPAWNS_PER_WORKER:
                self.respawns[i] = self.respawns.get(i, 0) + 1
                self.spawn(i)
                continue
            if code == 130:
                self.interrupt()
                continue
            self.failure = SweepError(self._failure_message(i, code), 2 if code < 0 else code)
            self.procs.pop(i)
            self.interrupt()

    def _failure_message(self, i: int, code: int) -> str:
        why = f"was killed by signal {-code}" if code < 0 else f"exited with code {code}"
        last = _last_lines(self.log_path(i))
        return f"worker {i} {why}: {last}" if last else f"worker {i} {why}"

    def interrupt(self) -> None:
        """Ask every worker to stop at the next step boundary (SIGINT: a checkpoint is
        written and the trial is queued to continue on --resume)."""
        self.interrupted = self.interrupted or self.failure is None
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)

    def wait(self) -> None:
        for proc in self.procs.values():
            try:
                proc.wait()
            except KeyboardInterrupt:  # a second Ctrl-C: stop the workers now
                for other in self.procs.values():
                    if other.poll() is None:
                        other.kill()
                proc.wait()


def _last_lines(path: Path, count: int = 3) -> str:
    try:
        lines = [ln for ln in path.read_text(errors="replace").splitlines() if ln.strip()]
    except OSError:
        return ""
    return " / ".join(lines[-count:])[-600:]


def _die_with_parent() -> None:
    """In the child before exec: get SIGKILL when the coordinator dies (Linux), so a killed
    sweep leaves no orphan worker writing into it."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
