"""The Optuna side of a sweep: storage, study, samplers seeded per trial slot, budget, retries.

Slots. A sweep of N trials has N slots, 0..N-1; each slot is one trial directory
(`trials/trial-0003`) and one row of sweep.csv. A trial that died with its worker is failed and
retried (Optuna's `RetryHeartbeatStaleTrialCallback` queues a copy with the same parameters),
and the retry keeps the slot of the trial it retries, so it resumes the same run directory.
A fresh trial's slot is its Optuna number minus the retries (and over-budget trials) numbered
before it, so the slots of fresh trials count 0, 1, 2, ... whatever died on the way.

Determinism. The sampler of slot s is seeded with SeedSequence([seed, s]) and, with one
worker, sees the finished trials of slots 0..s-1 in slot order (a retry runs before any fresh
trial; retried, failed originals are invisible to TPE and random sampling): so a sweep
killed at any instant and resumed proposes the same parameters as an uninterrupted one. With
several workers, which trials have finished when a slot is sampled depends on timing, so the
proposals do too; each trial is still exactly reproducible from its own parameters.
"""

from __future__ import annotations

import json
import os
import socket
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlptrain.errors import ConfigError, UserError
from mlptrain.sweep.spec import Range, SweepSpec

SPEC_ATTR = "mlptrain_sweep"  # study user attribute holding the SweepSpec as JSON
BUDGET_ATTR = "mlptrain_trials"  # study user attribute: the total number of slots
SLOT_ATTR = "slot"
WORKER_ATTR = "worker"
OVER_BUDGET_ATTR = "over_budget"
MAX_RETRY = 3  # a trial that kills its worker more often than this stays failed
SQLITE_TIMEOUT = 60  # seconds a SQLite writer waits for the lock (several workers write)


class OptunaMissing(UserError):
    """The sweep extra is not installed."""


def require_optuna():
    try:
        import optuna
    except ImportError:
        raise OptunaMissing("mlptrain sweep needs Optuna: pip install -e '.[sweep]' "
                            "(or pip install 'mlptrain[sweep]')") from None
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    warnings.filterwarnings("ignore", message=".*is already reported.*")
    return optuna


def sqlite_url(path: str | Path) -> str:
    return f"sqlite:///{Path(path).absolute()}"


def open_storage(url: str, heartbeat: int | None):
    """An RDBStorage with heartbeats (a trial is stale after 4 missed beats) and retries;
    heartbeat None: a storage that only reads and writes (the coordinator's)."""
    optuna = require_optuna()
    kwargs: dict[str, Any] = {}
    if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
        kwargs["creator"] = _sqlite_connector(url.removeprefix("sqlite:///"))
    elif url.startswith("sqlite"):
        kwargs["connect_args"] = {"timeout": SQLITE_TIMEOUT}
    else:
        kwargs["pool_pre_ping"] = True
    try:
        return optuna.storages.RDBStorage(
            driver_url(url), engine_kwargs=kwargs, heartbeat_interval=heartbeat,
            grace_period=None if heartbeat is None else 4 * heartbeat,
            heartbeat_stale_trial_callback=None if heartbeat is None else retry_callback(),
        )
    except ImportError as err:
        raise UserError(f"storage {redact(url)}: needs a driver that is not installed ({err}); "
                        "PostgreSQL needs psycopg2: pip install -e '.[sweep]'") from None
    except Exception as err:  # sqlalchemy's errors: a bad URL, a refused connection
        raise UserError(f"cannot open storage {redact(url)}: {_first_line(err)}") from None


def _sqlite_connector(path: str):
    """SQLite connections that wait up to SQLITE_TIMEOUT s for the lock (several workers
    write) and use a write-ahead log with synchronous=NORMAL: a commit then needs no fsync,
    which was most of a trial's storage time, and the database stays consistent when a
    process is killed (only a power loss can drop the last commits)."""
    import sqlite3

    def connect():
        connection = sqlite3.connect(path, timeout=SQLITE_TIMEOUT, check_same_thread=False)
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=NORMAL")
        return connection

    return connect


def driver_url(url: str) -> str:
    """`postgresql://` (and `postgres://`) with the installed driver: SQLAlchemy 2.1 picks
    psycopg 3 for the bare scheme, while the sweep extra installs psycopg2."""
    scheme, sep, rest = url.partition("://")
    if not sep or scheme not in ("postgresql", "postgres"):
        return url
    import importlib.util

    if importlib.util.find_spec("psycopg") is not None:
        return f"postgresql+psycopg://{rest}"
    return f"postgresql+psycopg2://{rest}"


def retry_callback():
    optuna = require_optuna()
    return optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=MAX_RETRY)


def redact(url: str) -> str:
    """The URL without its password (for messages and files)."""
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        creds, host = rest.rsplit("@", 1)
        return f"{scheme}://{creds.split(':', 1)[0]}:***@{host}" if ":" in creds else url
    return url


def _first_line(err: Exception) -> str:
    text = str(err).strip().splitlines()
    return text[0][:300] if text else type(err).__name__


def create_study(storage, spec: SweepSpec, study_name: str):
    """Create the study (and the schema) before any worker starts: several workers creating
    the tables of a fresh database at once crash (optuna issue 1092)."""
    optuna = require_optuna()
    try:
        study = optuna.create_study(storage=storage, study_name=study_name,
                                    direction=spec.direction, load_if_exists=False)
    except optuna.exceptions.DuplicatedStudyError:
        raise UserError(f"a study named {study_name!r} already exists in this storage; "
                        "resume it with --resume, or pick another --study name") from None
    study.set_user_attr(SPEC_ATTR, spec.to_json())
    study.set_user_attr(BUDGET_ATTR, spec.trials)
    return study


def load_study(storage, study_name: str, sampler=None, pruner=None):
    optuna = require_optuna()
    try:
        return optuna.load_study(study_name=study_name, storage=storage, sampler=sampler,
                                 pruner=pruner)
    except KeyError:
        raise UserError(f"no study named {study_name!r} in the storage") from None


def study_spec(study) -> SweepSpec:
    data = study.user_attrs.get(SPEC_ATTR)
    if not isinstance(data, dict):
        raise UserError(f"study {study.study_name!r} is not an mlptrain sweep (no {SPEC_ATTR} "
                        "attribute)")
    return SweepSpec.from_json(data)


def budget(study) -> int:
    return int(study.user_attrs[BUDGET_ATTR])


# ---- samplers and pruners -------------------------------------------------------------------


def slot_seed(seed: int, slot: int) -> int:
    import numpy as np

    return int(np.random.SeedSequence([seed, slot]).generate_state(1)[0])


def make_sampler(spec: SweepSpec):
    """The sampler of the spec, re-seeded for each trial by its slot (see the module doc)."""
    optuna = require_optuna()
    if spec.sampler == "grid":
        return SlotGridSampler(spec)
    options = spec.sampler_options

    def build(seed: int):
        if spec.sampler == "tpe":
            return optuna.samplers.TPESampler(seed=seed, **options)
        if spec.sampler == "random":
            return optuna.samplers.RandomSampler(seed=seed)
        return optuna.samplers.CmaEsSampler(seed=seed, **options)

    return slot_seeded(build, spec.seed)


def make_pruner(spec: SweepSpec):
    optuna = require_optuna()
    options = spec.pruner_options
    if spec.pruner == "median":
        return optuna.pruners.MedianPruner(**options)
    if spec.pruner == "hyperband":
        return optuna.pruners.HyperbandPruner(**options)
    return optuna.pruners.NopPruner()


def slot_seeded(build: Callable[[int], Any], seed: int):
    """A sampler delegating to `build(slot_seed(seed, slot))`, made anew for every trial."""
    require_optuna()
    from optuna.samplers import BaseSampler

    class SlotSeededSampler(BaseSampler):
        def __init__(self) -> None:
            self._inner = build(slot_seed(seed, 0))

        def before_trial(self, study, trial) -> None:
            self._inner = build(slot_seed(seed, slot_of(study.get_trials(deepcopy=False),
                                                        trial.number)))
            self._inner.before_trial(study, trial)

        def infer_relative_search_space(self, study, trial):
            return self._inner.infer_relative_search_space(study, trial)

        def sample_relative(self, study, trial, search_space):
            return self._inner.sample_relative(study, trial, search_space)

        def sample_independent(self, study, trial, param_name, param_distribution):
            return self._inner.sample_independent(study, trial, param_name, param_distribution)

        def after_trial(self, study, trial, state, values) -> None:
            self._inner.after_trial(study, trial, state, values)

        def reseed_rng(self) -> None:
            pass  # the seed of each trial comes from its slot

    return SlotSeededSampler()


def SlotGridSampler(spec: SweepSpec):  # noqa: N802 (a class made on demand: optuna is lazy)
    """Grid search: slot s takes the s-th point of the grid in a seeded shuffled order, so
    parallel workers never pick the same point and a retry keeps its point."""
    import itertools

    import numpy as np
    require_optuna()
    from optuna.samplers import RandomSampler

    points = list(itertools.product(*[encoded_grid(r) for r in spec.space]))
    order = np.random.default_rng(spec.seed).permutation(len(points))
    index = {r.key: i for i, r in enumerate(spec.space)}

    class _Grid(RandomSampler):
        def sample_independent(self, study, trial, param_name, param_distribution):
            slot = slot_of(study.get_trials(deepcopy=False), trial.number)
            return points[int(order[slot % len(points)])][index[param_name]]

    return _Grid(seed=spec.seed)


def encoded_grid(r: Range) -> list[Any]:
    return [encode_choice(v) for v in r.grid()] if r.kind == "choice" else r.grid()


# ---- parameters -----------------------------------------------------------------------------


def encode_choice(value: Any) -> Any:
    """Optuna's categorical values are scalars: a list or mapping choice is its JSON text."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return json.dumps(value)


def suggest(trial, r: Range) -> Any:
    """The value of `r` for `trial` (a retry gets the same value back from the storage)."""
    if r.kind == "choice":
        encoded = [encode_choice(c) for c in r.choices]
        picked = trial.suggest_categorical(r.key, encoded)
        return r.choices[encoded.index(picked)]
    if r.kind in ("int", "log_int"):
        return trial.suggest_int(r.key, r.low, r.high, step=r.step or 1, log=r.log)
    return trial.suggest_float(r.key, r.low, r.high, step=r.step, log=r.log)


def decode_params(params: dict[str, Any], space: list[Range]) -> dict[str, Any]:
    """Optuna's stored params -> config values (JSON text of list choices decoded)."""
    out = {}
    for r in space:
        if r.key not in params:
            continue
        value = params[r.key]
        if r.kind == "choice":
            encoded = [encode_choice(c) for c in r.choices]
            value = r.choices[encoded.index(value)] if value in encoded else value
        out[r.key] = value
    return out


# ---- slots, budget, retries -----------------------------------------------------------------


def is_retry(trial) -> bool:
    return trial.system_attrs.get("failed_trial") is not None


def slot_of(trials, number: int) -> int:
    """The slot of trial `number` (see the module doc); `trials`: every trial of the study."""
    by_number = {t.number: t for t in trials}
    trial = by_number.get(number)
    if trial is not None and is_retry(trial):
        number = trial.system_attrs["failed_trial"]
    skipped = sum(1 for t in trials if t.number < number and (
        is_retry(t) or t.user_attrs.get(OVER_BUDGET_ATTR)))
    return number - skipped


def retried_numbers(trials) -> set[int]:
    """Numbers of trials that a later trial retries."""
    out: set[int] = set()
    for t in trials:
        out.update(t.system_attrs.get("retry_history", []))
    return out


@dataclass
class SlotView:
    """The trial that currently stands for one slot."""

    slot: int
    trial: Any  # FrozenTrial


def slot_views(trials) -> dict[int, SlotView]:
    """slot -> its latest trial (a retry replaces the trial it retries); over-budget trials
    are left out."""
    views: dict[int, SlotView] = {}
    for t in sorted(trials, key=lambda t: t.number):
        if t.user_attrs.get(OVER_BUDGET_ATTR):
            continue
        slot = slot_of(trials, t.number)
        views[slot] = SlotView(slot, t)
    return views


def next_action(trials, total: int) -> str:
    """What a worker should do now: "run" (a queued retry, or a fresh slot is left), "wait"
    (every slot is taken but some still run) or "done"."""
    optuna = require_optuna()
    states = optuna.trial.TrialState
    views = slot_views(trials)
    if any(v.trial.state == states.WAITING for v in views.values()):
        return "run"
    if len(views) < total:
        return "run"
    if any(v.trial.state == states.RUNNING for v in views.values() if v.slot < total):
        return "wait"
    return "done"


# ---- workers: who runs a trial, and are they alive ------------------------------------------


def worker_identity() -> dict[str, Any]:
    """This process, identified well enough to tell later whether it still runs."""
    return {"host": socket.gethostname(), "boot": _boot_id(), "pid": os.getpid(),
            "start": _start_time(os.getpid())}


def _boot_id() -> str | None:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return None


def _start_time(pid: int) -> str | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]  # field 22, after the command name


def is_dead_here(identity: Any) -> bool:
    """True when `identity` is a process of this machine (same boot) that no longer runs."""
    if not isinstance(identity, dict) or identity.get("host") != socket.gethostname():
        return False
    if identity.get("boot") != _boot_id():
        return identity.get("boot") is not None  # this machine rebooted since
    pid = identity.get("pid")
    if not isinstance(pid, int):
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        pass
    start = identity.get("start")
    return start is not None and _start_time(pid) not in (None, start)


def reap_dead_local_trials(study, storage, heartbeat: int) -> list[int]:
    """Fail the running trials whose worker was a process of this machine that has died, and
    queue their retries at once (the heartbeat would do it only after its grace period); also
    those that never said who runs them (a worker killed right after creating the trial) once
    they are older than the grace period."""
    import datetime

    optuna = require_optuna()
    reaped = []
    study_id = storage.get_study_id_from_name(study.study_name)
    old = datetime.datetime.now() - datetime.timedelta(seconds=4 * heartbeat)
    for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
        identity = t.user_attrs.get(WORKER_ATTR)
        anonymous = identity is None and t.datetime_start is not None and t.datetime_start < old
        if not (anonymous or is_dead_here(identity)):
            continue
        trial_id = storage.get_trial_id_from_study_id_trial_number(study_id, t.number)
        try:
            if not storage.set_trial_state_values(trial_id, state=optuna.trial.TrialState.FAIL):
                continue
        except optuna.exceptions.UpdateFinishedTrialError:
            continue  # another worker got there first
        retry_callback()(study, storage.get_trial(trial_id))
        reaped.append(t.number)
    return reaped


def fail_stale(study) -> None:
    optuna = require_optuna()
    optuna.storages.fail_stale_trials(study)


def wait_for_unknown_running(study, storage, heartbeat: int, deadline_factor: int = 5) -> None:
    """Before a resumed sweep starts fresh trials: reap dead local trials, and wait for the
    heartbeats of running trials of other machines to go stale (so that a retry runs before any
    fresh trial, as it would have without the crash). Trials still beating are left alone."""
    optuna = require_optuna()
    reap_dead_local_trials(study, storage, heartbeat)
    deadline = time.monotonic() + deadline_factor * heartbeat
    while time.monotonic() < deadline:
        running = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,))
        if not any(t.user_attrs.get(WORKER_ATTR) is None for t in running):
            return
        time.sleep(min(1.0, heartbeat))
        fail_stale(study)


def check_storage_url(url: str) -> None:
    if "://" not in url:
        raise ConfigError(f"--storage {url!r} is not a database URL (sqlite:///path/study.db, "
                          "postgresql://user@host/db)")
