"""Finding, reading and comparing run directories (the library of `mlptrain runs` and of
`mlptrain plot ROOT`).

A run directory is a folder holding `config.yaml` and `checkpoints/` or `metrics.csv`;
`discover` finds them under any number of roots, at any depth (so also the trials inside a
sweep directory), without descending into a run directory. Run directories are untrusted
input: every file is read with a size limit and checked for type, and a run that cannot be
read becomes a `BadRun` with one line saying why, never an exception that hides the others.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlptrain.errors import MlptrainError, RunDirError, UserError
from mlptrain.rundir import CHECKPOINT_DIR, CONFIG_FILE, METRICS_FILE, SUMMARY_FILE

MAX_JSON_BYTES = 4_000_000  # a summary.json is a few kB
MAX_METRICS_BYTES = 64_000_000  # one row per evaluation: ~200 bytes a row
# Columns of the table (besides the differing config keys), in order. `test_*` are added per
# test metric found.
BASE_COLUMNS = ("name", "status", "epochs", "best", "duration")
FILTER_PATTERN = re.compile(r"^\s*([A-Za-z0-9_.]+)\s*(<=|>=|!=|=|<|>)\s*(.*?)\s*$")


@dataclass
class RunInfo:
    """What one run directory says about itself."""

    run_dir: Path
    name: str  # the path relative to its root (a sweep's trial: sweep-x/trial-0003)
    status: str  # summary.json's status; "incomplete" when there is no summary yet
    epochs: int | None
    monitor: str | None
    best: float | None
    test: dict[str, float] | None
    duration: float | None  # seconds of training (summary.json's train_seconds)
    final: dict[str, Any] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)  # flattened: {"optimizer.lr": 0.01}

    def value(self, key: str) -> Any:
        """A table column (`best`, `test_accuracy`, `final_val_loss`) or a config key."""
        if key in BASE_COLUMNS or key == "monitor":
            return getattr(self, key)
        if key.startswith("test_") and self.test is not None and key[5:] in self.test:
            return self.test[key[5:]]
        if key.startswith("final_") and key[6:] in self.final:
            return self.final[key[6:]]
        return self.config.get(key)

    def to_json(self) -> dict[str, Any]:
        return {"run_dir": str(self.run_dir), "name": self.name, "status": self.status,
                "epochs": self.epochs, "monitor": self.monitor, "best": self.best,
                "test": self.test, "duration": self.duration, "final": self.final,
                "config": self.config}


@dataclass
class BadRun:
    """A run directory that could not be read, and why (one line)."""

    run_dir: Path
    reason: str


# ---- discovery ------------------------------------------------------------------------------


def is_run_dir(path: Path) -> bool:
    return (path / CONFIG_FILE).is_file() and (
        (path / CHECKPOINT_DIR).is_dir() or (path / METRICS_FILE).is_file()
    )


def discover(roots: Sequence[str | Path]) -> list[tuple[Path, Path]]:
    """(root, run_dir) of every run directory under `roots`, sorted by path.

    A root may itself be a run directory. Symbolic links to folders are not followed (no
    cycles). Raises RunDirError for a root that does not exist or is not a folder.
    """
    found: list[tuple[Path, Path]] = []
    for root in map(Path, roots):
        if not root.exists():
            raise RunDirError("no such folder", path=root)
        if not root.is_dir():
            raise RunDirError("is not a folder (give a run directory or a folder of runs)",
                              path=root)
        if is_run_dir(root):
            found.append((root.parent, root))
            continue
        for folder, subfolders, _ in os.walk(root, onerror=None, followlinks=False):
            here = Path(folder)
            subfolders.sort()
            if here != root and is_run_dir(here):
                found.append((root, here))
                subfolders.clear()  # checkpoints/, tb/: never runs of their own
    return sorted(found, key=lambda pair: str(pair[1]))


def load_runs(roots: Sequence[str | Path]) -> tuple[list[RunInfo], list[BadRun]]:
    """Every run under `roots`, read; the unreadable ones apart, each with its reason."""
    runs, bad = [], []
    for root, path in discover(roots):
        try:
            runs.append(read_run(path, root))
        except MlptrainError as err:
            bad.append(BadRun(path, err.message))
    return runs, bad


# ---- reading one run ------------------------------------------------------------------------


def read_run(path: str | Path, root: str | Path | None = None) -> RunInfo:
    """Read one run directory; RunDirError (with the file and the reason) if it cannot be."""
    path = Path(path)
    if not is_run_dir(path):
        raise RunDirError(f"is not a run directory (no {CONFIG_FILE} with {CHECKPOINT_DIR}/ "
                          f"or {METRICS_FILE})", path=path)
    config = flatten(_read_config(path))
    summary = _read_summary(path)
    rows = read_metrics(path)
    name = _relative_name(path, root)
    if summary is None:
        last = rows[-1] if rows else {}
        epochs = _as_int(last.get("epoch"))
        monitor = next((k[5:] for k in last if k.startswith("best_")), None)
        best = _as_float(last.get(f"best_{monitor}")) if monitor else None
        return RunInfo(path, name, "incomplete", epochs, monitor, best, None, None,
                       final=last, config=config)
    return RunInfo(
        run_dir=path, name=name,
        status=_field(summary, "status", str, path),
        epochs=_field(summary, "epochs_completed", int, path),
        monitor=_field(summary, "monitor", str, path, optional=True),
        best=_as_float(summary.get("best_value")),
        test=_numbers(summary.get("test"), path, "test"),
        duration=_as_float(summary.get("train_seconds")),
        final=_numbers(summary.get("final"), path, "final") or {},
        config=config,
    )


def _relative_name(path: Path, root: str | Path | None) -> str:
    if root is None:
        return path.name
    try:
        return str(path.relative_to(root))
    except ValueError:
        return path.name


def _read_config(path: Path) -> dict[str, Any]:
    from mlptrain.config import read_config_file

    try:
        raw, _ = read_config_file(path / CONFIG_FILE)
    except MlptrainError as err:
        raise RunDirError(f"{CONFIG_FILE} {err.message}", path=path) from None
    return raw


def _read_bounded(path: Path, limit: int, run: Path) -> str:
    from mlptrain.bounded import read_bounded

    try:
        size = path.stat().st_size
        if size > limit:
            raise RunDirError(f"{path.name} is {size} bytes, more than the {limit} allowed",
                              path=run)
        # only a regular file: a FIFO or /dev/zero (size 0) would never end
        return read_bounded(path, limit, RunDirError, "run-directory file").decode("utf-8")
    except OSError as err:
        raise RunDirError(f"{path.name} cannot be read: {err.strerror or err}", path=run) from None
    except UnicodeDecodeError:
        raise RunDirError(f"{path.name} is not UTF-8 text", path=run) from None


def _read_summary(path: Path) -> dict[str, Any] | None:
    target = path / SUMMARY_FILE
    if not target.exists():
        return None
    text = _read_bounded(target, MAX_JSON_BYTES, path)
    try:
        value = json.loads(text)
    except ValueError as err:
        raise RunDirError(f"{SUMMARY_FILE} is not valid JSON ({err})", path=path) from None
    if not isinstance(value, dict):
        raise RunDirError(f"{SUMMARY_FILE} must hold a JSON object, got "
                          f"{type(value).__name__}", path=path)
    return value


def read_metrics(path: str | Path) -> list[dict[str, Any]]:
    """metrics.csv as rows of numbers (an unparsable cell is None; a row cut short by a crash
    is dropped); [] when there is no file."""
    path = Path(path)
    target = path / METRICS_FILE
    if not target.exists():
        return []
    text = _read_bounded(target, MAX_METRICS_BYTES, path)
    try:
        rows = list(csv.DictReader(io.StringIO(text)))
    except csv.Error as err:
        raise RunDirError(f"{METRICS_FILE} is not valid CSV ({err})", path=path) from None
    return [{k: _as_float(v) if k not in ("epoch", "step") else _as_number(v)
             for k, v in row.items() if k is not None}
            for row in rows if None not in row.values()]


def _field(summary: Mapping, key: str, kind: type, path: Path, optional: bool = False) -> Any:
    value = summary.get(key)
    if value is None and optional:
        return None
    if not isinstance(value, kind) or isinstance(value, bool):
        raise RunDirError(f"{SUMMARY_FILE}: {key!r} must be a {kind.__name__}, got {value!r:.40}",
                          path=path)
    return value


def _numbers(value: Any, path: Path, key: str) -> dict[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise RunDirError(f"{SUMMARY_FILE}: {key!r} must be an object of metrics, got "
                          f"{type(value).__name__}", path=path)
    return {str(k): v for k, v in value.items()
            if isinstance(v, int | float | str) and not isinstance(v, bool)}


def _as_float(value: Any) -> float | None:
    if isinstance(value, bool) or value is None or value == "":
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _as_int(value: Any) -> int | None:
    number = _as_float(value)
    return int(number) if number is not None and math.isfinite(number) else None


def _as_number(text: Any) -> int | float | None:
    number = _as_float(text)
    if number is not None and number.is_integer() and math.isfinite(number):
        return int(number)
    return number


# ---- comparing ------------------------------------------------------------------------------


def flatten(cfg: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """{"optimizer": {"lr": 0.01}} -> {"optimizer.lr": 0.01}; lists stay values."""
    out: dict[str, Any] = {}
    for key, value in cfg.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            out.update(flatten(value, name + "."))
        else:
            out[name] = value
    return out


def differing_keys(runs: Sequence[RunInfo]) -> list[str]:
    """The config keys whose values are not the same in every run (a key missing from some
    run counts as differing), in the order of the first run's config."""
    return differing_config_keys([r.config for r in runs])


def differing_config_keys(configs: Sequence[Mapping[str, Any]]) -> list[str]:
    """`differing_keys` of flattened configs."""
    if len(configs) < 2:
        return []
    keys: dict[str, None] = {}
    for config in configs:
        keys.update(dict.fromkeys(config))
    return [k for k in keys if len({_key_of(c.get(k, _MISSING)) for c in configs}) > 1]


def expand_run_dirs(paths: Sequence[str | Path]) -> list[Path]:
    """Each path that is a run directory (or not a folder at all: the caller reports it)
    as is, and each other folder replaced by the run directories under it, if any."""
    return plottable_runs(paths, check=False)[0]


def plottable_runs(paths: Sequence[str | Path], check: bool = True
                   ) -> tuple[list[Path], list[BadRun]]:
    """`expand_run_dirs`, and (with `check`) without the runs found inside a folder whose
    metrics.csv cannot be read or has no row yet: those are returned apart, with the reason.
    Paths given explicitly are kept whatever they hold (plotting them reports the problem)."""
    out: list[Path] = []
    bad: list[BadRun] = []
    for path in map(Path, paths):
        inside = [] if not path.is_dir() or is_run_dir(path) else discover([path])
        if not inside:
            out.append(path)
        for _, run in inside:
            reason = _unplottable(run) if check else None
            if reason is None:
                out.append(run)
            else:
                bad.append(BadRun(run, reason))
    return out, bad


def _unplottable(run: Path) -> str | None:
    try:
        rows = read_metrics(run)
    except MlptrainError as err:
        return err.message
    return None if rows else f"{METRICS_FILE} is missing or has no rows yet"


def legend_labels(run_dirs: Sequence[Path], max_keys: int = 3) -> list[str]:
    """A label per run from the config keys that differ ("optimizer.lr=0.003"), at most
    `max_keys` of them; the folder name when nothing differs or a config cannot be read."""
    configs = []
    for path in run_dirs:
        try:
            configs.append(flatten(_read_config(path)))
        except MlptrainError:
            configs.append({})
    keys = differing_config_keys([c for c in configs if c])
    labels = []
    for path, config in zip(run_dirs, configs, strict=True):
        parts = [f"{k}={_label_value(config.get(k))}" for k in keys[:max_keys]]
        more = ", ..." if len(keys) > max_keys else ""
        labels.append(", ".join(parts) + more if parts and config else path.name)
    return labels


def _label_value(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


_MISSING = object()


def _key_of(value: Any) -> str:
    return "<missing>" if value is _MISSING else json.dumps(value, sort_keys=True, default=str)


def columns_of_test(runs: Sequence[RunInfo]) -> list[str]:
    """`test_<metric>` for every test metric of any run, in first-seen order."""
    names: dict[str, None] = {}
    for run in runs:
        names.update(dict.fromkeys(f"test_{k}" for k in (run.test or {})))
    return list(names)


def sort_runs(runs: Sequence[RunInfo], key: str, descending: bool = False,
              known: Sequence[RunInfo] | None = None) -> list[RunInfo]:
    """Sorted by a column or config key; runs without that value last, either way.
    UserError if no run of `known` (default: `runs`) has the key."""
    check_key(runs if known is None else known, key, "--sort")
    present = [r for r in runs if r.value(key) is not None]
    absent = [r for r in runs if r.value(key) is None]
    return sorted(present, key=lambda r: _sort_key(r.value(key)), reverse=descending) + absent


def _sort_key(value: Any) -> tuple[int, Any]:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return (0, value)
    return (1, json.dumps(value, default=str))


@dataclass
class Condition:
    """One `--where key<op>value` filter."""

    key: str
    op: str
    value: str

    @classmethod
    def parse(cls, text: str) -> Condition:
        match = FILTER_PATTERN.match(text)
        if match is None:
            raise UserError(f"--where {text!r}: expected KEY=VALUE (or !=, <, <=, >, >=), "
                            "e.g. optimizer.lr=0.01 or status=completed")
        return cls(*match.groups())

    def holds(self, run: RunInfo) -> bool:
        actual = run.value(self.key)
        if actual is None and self.key not in run.config:
            return False
        wanted, number = _parse_scalar(self.value), _as_float(actual)
        if self.op in ("<", "<=", ">", ">="):
            if number is None or not isinstance(wanted, int | float):
                return False
            return {"<": number < wanted, "<=": number <= wanted,
                    ">": number > wanted, ">=": number >= wanted}[self.op]
        equal = _equal(actual, wanted)
        return equal if self.op == "=" else not equal


def _parse_scalar(text: str) -> Any:
    import yaml

    try:
        return yaml.safe_load(text) if text else ""
    except yaml.YAMLError:
        return text


def _equal(actual: Any, wanted: Any) -> bool:
    if _is_number(actual) and _is_number(wanted):
        return float(actual) == float(wanted)
    return _key_of(actual) == _key_of(wanted) or str(actual) == str(wanted)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def filter_runs(runs: Sequence[RunInfo], conditions: Sequence[Condition]) -> list[RunInfo]:
    """The runs for which every condition holds."""
    for condition in conditions:
        check_key(runs, condition.key, "--where")
    return [r for r in runs if all(c.holds(r) for c in conditions)]


def check_key(runs: Sequence[RunInfo], key: str, option: str) -> None:
    """UserError unless `key` is a column or a config key of at least one run."""
    known = set(BASE_COLUMNS) | {"monitor"} | set(columns_of_test(runs))
    finals = {f"final_{k}" for r in runs for k in r.final}
    if key in known or key in finals or any(key in r.config for r in runs):
        return
    raise UserError(f"{option} {key}: no run has such a column or config key",
                    hint=f"columns: {', '.join(sorted(known))}, final_<metric>, or a config "
                    "key such as optimizer.lr")


def diff_runs(a: RunInfo, b: RunInfo) -> dict[str, list[tuple[str, Any, Any]]]:
    """The config keys and the final, best and test metrics whose values differ."""
    config = [(k, a.config.get(k), b.config.get(k)) for k in differing_keys([a, b])]
    metrics = []
    for key in ["best", *_union(columns_of_test([a, b]), [f"final_{k}" for k in a.final],
                                [f"final_{k}" for k in b.final])]:
        left, right = a.value(key), b.value(key)
        if _key_of(left) != _key_of(right):
            metrics.append((key, left, right))
    return {"config": config, "metrics": metrics}


def _union(*lists: Sequence[str]) -> list[str]:
    out: dict[str, None] = {}
    for items in lists:
        out.update(dict.fromkeys(items))
    return list(out)
