"""The sweep file: a base config, an objective and a search space, validated before anything runs.

    base: ../spiral.yaml                    # relative to this file
    set: {train.epochs: 10}                 # fixed changes to the base (dotted keys)
    objective: {metric: val_loss}           # any metrics.csv column; direction from the metric
    trials: 12
    seed: 0                                 # seeds the sampler (the trials train with base's seed)
    sampler: tpe                            # tpe, random, grid, cmaes; or {tpe: {n_startup_trials: 4}}
    pruner: median                          # median, hyperband, none; or {median: {...}}
    space:
      optimizer.lr: {log_uniform: [1.0e-4, 1.0e-1]}
      model.hidden: {choice: [[32], [64, 64]]}

Every failure is a ConfigError naming the file, the key (and its line) and what is allowed.
A range is checked against the config schema at both ends (and inside, for float ranges, so
that a float range on an integer key is caught) and every choice is checked, each with the
other searched keys at their base values; when the product is small, every combination of
those probe values is checked too (cross-key rules such as one activation per hidden layer).
"""

from __future__ import annotations

import copy
import difflib
import itertools
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlptrain.errors import ConfigError

TOP_KEYS = ("base", "set", "name", "objective", "trials", "seed", "sampler", "pruner", "space",
            "heartbeat")
SAMPLERS: dict[str, tuple[str, ...]] = {  # kind -> the options it takes
    "tpe": ("n_startup_trials", "multivariate", "constant_liar"),
    "random": (),
    "grid": (),
    "cmaes": ("n_startup_trials",),
}
PRUNERS: dict[str, tuple[str, ...]] = {
    "median": ("n_startup_trials", "n_warmup_steps"),
    "hyperband": ("min_resource", "reduction_factor"),
    "none": (),
}
RANGE_KINDS = ("uniform", "log_uniform", "int", "log_int", "choice")
MAX_TRIALS = 100_000
MAX_CHOICES = 1000
MAX_PROBE_COMBINATIONS = 256
# Keys the sweep sets itself: where each trial's run directory goes, and the BLAS threads.
RESERVED_KEYS = {"run.root": "each trial's run directory is set by the sweep",
                 "run.name_template": "each trial's run directory is set by the sweep",
                 "train.threads": "the sweep sets it from --workers and the cores",
                 "name": "the trials are named by the sweep"}
NOT_OBJECTIVES = ("epoch", "step", "lr", "epoch_time", "samples_per_sec", "wall_time")
DEFAULT_HEARTBEAT = 5  # seconds between a running trial's heartbeats in the storage


@dataclass
class Range:
    """One searched key: `kind` in RANGE_KINDS; `low`/`high` (and `step`) or `choices`."""

    key: str
    kind: str
    low: float | int | None = None
    high: float | int | None = None
    step: float | int | None = None
    choices: list[Any] = field(default_factory=list)

    @property
    def is_float(self) -> bool:
        return self.kind in ("uniform", "log_uniform")

    @property
    def log(self) -> bool:
        return self.kind.startswith("log_")

    def bounds(self) -> tuple[float | int, float | int]:
        """(low, high) of a numeric range: every kind but choice has both (`_range` sets them)."""
        assert self.low is not None and self.high is not None, f"{self.key}: {self.kind} bounds"
        return self.low, self.high

    def probes(self) -> list[tuple[str, Any]]:
        """(what, value) pairs that stand for every value the range can produce."""
        if self.kind == "choice":
            return [("choice", c) for c in self.choices]
        low, high = self.bounds()
        probes: list[tuple[str, Any]] = [("lower end", low), ("upper end", high)]
        if self.is_float and self.step is None:  # a fractional value: is the key a float?
            inside = low + (high - low) * 0.377
            probes.append(("value inside the range", inside))
        return probes

    def grid(self) -> list[Any]:
        """Every value of a grid: the choices, or low..high by step (int ranges by 1)."""
        if self.kind == "choice":
            return list(self.choices)
        low, high = self.bounds()
        step = self.step if self.step is not None else 1
        count = int(math.floor((high - low) / step + 1e-9)) + 1
        values = [low + i * step for i in range(count)]
        return [int(v) for v in values] if self.kind == "int" else values

    def to_json(self) -> dict[str, Any]:
        if self.kind == "choice":
            return {"choice": self.choices}
        out: dict[str, Any] = {self.kind: [self.low, self.high]}
        if self.step is not None:
            out["step"] = self.step
        return out


@dataclass
class SweepSpec:
    """A validated sweep: the resolved base config (a raw mapping) and how to search it."""

    source: str  # the sweep file, for messages
    name: str
    base_path: str  # the base config file (absolute)
    base: dict[str, Any]  # the base config, overrides applied, paths absolute, validated
    metric: str
    direction: str  # "minimize" or "maximize"
    trials: int
    seed: int
    sampler: str
    sampler_options: dict[str, Any]
    pruner: str
    pruner_options: dict[str, Any]
    space: list[Range]
    heartbeat: int = DEFAULT_HEARTBEAT

    def to_json(self) -> dict[str, Any]:
        """What a worker needs, stored in the study (so any machine can join)."""
        return {"source": self.source, "name": self.name, "base_path": self.base_path,
                "base": self.base, "metric": self.metric, "direction": self.direction,
                "trials": self.trials, "seed": self.seed, "sampler": self.sampler,
                "sampler_options": self.sampler_options, "pruner": self.pruner,
                "pruner_options": self.pruner_options,
                "space": {r.key: r.to_json() for r in self.space}, "heartbeat": self.heartbeat}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SweepSpec:
        space = [parse_range(key, value, data["source"], {}) for key, value in data["space"].items()]
        return cls(**{**data, "space": space})

    @property
    def keys(self) -> list[str]:
        return [r.key for r in self.space]


# ---- reading --------------------------------------------------------------------------------


def load_sweep(path: str | Path, overrides: list[str] | None = None,
               trials: int | None = None) -> SweepSpec:
    """Read and validate a sweep file; `overrides` apply to the base config (key=value),
    `trials` replaces the file's budget."""
    from mlptrain.config import read_config_file

    source = str(path)
    raw, lines = read_config_file(path)  # safe YAML, size-limited, a mapping
    _check_top_keys(raw, source, lines)
    for required in ("base", "objective", "space"):
        if required not in raw:
            raise ConfigError(f"'{required}' is required; a sweep file names base, objective "
                              "and space", path=source)
    space = _parse_space(raw["space"], source, lines)
    fixed = _parse_set(raw.get("set", {}), space, Path(path).parent, source, lines)
    base_path, base = _load_base(raw["base"], Path(path).parent, fixed + list(overrides or []),
                                 source, lines)
    sampler, sampler_options = _parse_choice_with_options(
        raw.get("sampler", "tpe"), "sampler", SAMPLERS, source, lines)
    pruner, pruner_options = _parse_choice_with_options(
        raw.get("pruner", "median"), "pruner", PRUNERS, source, lines)
    metric, direction = _parse_objective(raw["objective"], base, source, lines)
    budget = _int_field(raw, "trials", 1, MAX_TRIALS, source, lines,
                        default=_default_trials(sampler, space))
    if trials is not None:
        budget = _check_int(trials, "--trials", 1, MAX_TRIALS, source)
    seed = _int_field(raw, "seed", 0, 2**63 - 1, source, lines, default=0)
    heartbeat = _int_field(raw, "heartbeat", 1, 3600, source, lines, default=DEFAULT_HEARTBEAT)
    name = raw.get("name", f"{base.get('name', 'experiment')}-sweep")
    _check_name(name, source, lines)
    spec = SweepSpec(source=source, name=name, base_path=base_path, base=base, metric=metric,
                     direction=direction, trials=budget, seed=seed, sampler=sampler,
                     sampler_options=sampler_options, pruner=pruner,
                     pruner_options=pruner_options, space=space, heartbeat=heartbeat)
    _check_sampler_fits(spec, lines)
    _check_overrides_not_searched(spec, overrides or [])
    check_space_against_schema(spec, lines)
    return spec


def _line(lines: dict, *path: str) -> str:
    line = lines.get(tuple(path))
    return f" (line {line})" if line else ""


def _check_top_keys(raw: dict, source: str, lines: dict) -> None:
    for key in raw:
        if key not in TOP_KEYS:
            raise ConfigError(f"unknown key {str(key)!r}{_line(lines, str(key))}; "
                              + _suggest(str(key), TOP_KEYS), path=source)


def _suggest(word: str, allowed: tuple[str, ...] | list[str]) -> str:
    close = difflib.get_close_matches(word, list(allowed), n=1, cutoff=0.6)
    return f"did you mean '{close[0]}'?" if close else "allowed: " + ", ".join(allowed)


def _load_base(value: Any, folder: Path, overrides: list[str], source: str,
               lines: dict) -> tuple[str, dict]:
    from mlptrain.config import apply_overrides, read_config_file, validate_config
    from mlptrain.config.paths import absolute, keys_under, resolve_paths

    if not isinstance(value, str) or not value:
        raise ConfigError(f"base{_line(lines, 'base')}: must be the path of a config file, "
                          f"got {value!r}", path=source)
    base_path = absolute(value, folder)
    if not Path(base_path).is_file():
        raise ConfigError(f"base{_line(lines, 'base')}: no such config file {base_path} "
                          "(relative paths are relative to the sweep file's folder)", path=source)
    raw, base_lines = read_config_file(base_path)
    resolve_paths(raw, Path(base_path).parent)
    applied = apply_overrides(raw, overrides)
    resolve_paths(raw, Path.cwd(), keys_under(applied))
    cfg = validate_config(raw, source=base_path, lines=base_lines, overrides=applied)
    # Kept unresolved (auto stays auto, so a searched loss or source still resolves), but
    # with every path absolute, the default run.root too: workers may run anywhere.
    set_key(raw, "run.root", absolute(cfg.run.root, Path.cwd()))
    return base_path, raw


def _parse_set(value: Any, space: list[Range], folder: Path, source: str,
               lines: dict) -> list[str]:
    """`set: {train.epochs: 10}` -> override texts (applied before the command line's); a
    relative path is relative to the sweep file's folder."""
    from mlptrain.config.paths import PATH_KEYS, absolute

    if not isinstance(value, dict):
        raise ConfigError(f"set{_line(lines, 'set')}: must be a mapping of config keys to "
                          f"values, got {value!r}", path=source)
    keys = config_keys()
    searched = {r.key for r in space}
    out = []
    for key, item in value.items():
        key = str(key)
        where = f"set.{key}{_line(lines, 'set', key)}"
        if key not in keys:
            raise ConfigError(f"{where}: {key!r} is not a config key; "
                              + _suggest(key, sorted(keys)), path=source)
        if key in searched:
            raise ConfigError(f"{where}: {key} is also searched in space", path=source)
        if tuple(key.split(".")) in PATH_KEYS and isinstance(item, str) and item:
            item = absolute(item, folder)
        out.append(f"{key}={json.dumps(item)}")
    return out


def _check_name(name: Any, source: str, lines: dict) -> None:
    from mlptrain.config.schema import _SAFE_NAME

    if not isinstance(name, str) or not _SAFE_NAME.match(name) or len(name) > 100:
        raise ConfigError(f"name{_line(lines, 'name')}: must be 1-100 letters, digits, '.', '_' "
                          f"or '-', starting with a letter or digit, got {name!r}", path=source)


def _int_field(raw: dict, key: str, low: int, high: int, source: str, lines: dict,
               default: int) -> int:
    if key not in raw:
        return default
    return _check_int(raw[key], f"{key}{_line(lines, key)}", low, high, source)


def _check_int(value: Any, what: str, low: int, high: int, source: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ConfigError(f"{what}: must be an integer from {low} to {high}, got {value!r}",
                          path=source)
    return value


def _parse_choice_with_options(value: Any, key: str, kinds: dict[str, tuple[str, ...]],
                               source: str, lines: dict) -> tuple[str, dict[str, Any]]:
    """`tpe` or `{tpe: {n_startup_trials: 4}}` -> ("tpe", {...}), options checked by name."""
    where = f"{key}{_line(lines, key)}"
    options: Any = {}
    if isinstance(value, dict) and len(value) == 1:
        value, options = next(iter(value.items()))
        options = {} if options is None else options
    if not isinstance(value, str) or value not in kinds:
        raise ConfigError(f"{where}: {value!r} is not a {key}; allowed: {', '.join(kinds)}",
                          path=source)
    if not isinstance(options, dict):
        raise ConfigError(f"{where}: the options of {value} must be a mapping, got "
                          f"{type(options).__name__}", path=source)
    for name, option in options.items():
        if name not in kinds[value]:
            allowed = kinds[value] or ("(none)",)
            raise ConfigError(f"{where}: unknown option {str(name)!r} of {value}; "
                              + _suggest(str(name), allowed), path=source)
        if isinstance(option, bool) != (name in ("multivariate", "constant_liar")) or (
                not isinstance(option, bool) and (not isinstance(option, int) or option < 0)):
            kind = "true or false" if name in ("multivariate", "constant_liar") else \
                "a non-negative integer"
            raise ConfigError(f"{where}: {value}.{name} must be {kind}, got {option!r}",
                              path=source)
    if key == "pruner" and value == "hyperband" and options.get("reduction_factor", 3) < 2:
        raise ConfigError(f"{where}: hyperband.reduction_factor must be >= 2", path=source)
    return value, dict(options)


def _parse_objective(value: Any, base: dict, source: str, lines: dict) -> tuple[str, str]:
    from mlptrain.metrics import monitor_mode

    where = f"objective{_line(lines, 'objective')}"
    if isinstance(value, str):
        value = {"metric": value}
    if not isinstance(value, dict) or "metric" not in value:
        raise ConfigError(f"{where}: must be {{metric: NAME, direction: minimize|maximize}}, "
                          f"got {value!r}", path=source)
    for key in value:
        if key not in ("metric", "direction"):
            raise ConfigError(f"{where}: unknown key {str(key)!r}; "
                              + _suggest(str(key), ("metric", "direction")), path=source)
    metric = value["metric"]
    allowed = objective_metrics(base)
    if not isinstance(metric, str) or metric not in allowed:
        raise ConfigError(f"{where}: {metric!r} is not a metric of this config's runs; "
                          + _suggest(str(metric), allowed), path=source)
    default = "maximize" if monitor_mode(metric, "auto") == "max" else "minimize"
    direction = value.get("direction", default)
    if direction not in ("minimize", "maximize"):
        raise ConfigError(f"{where}: direction must be minimize or maximize, got {direction!r}",
                          path=source)
    return metric, direction


def objective_metrics(base: dict) -> list[str]:
    """The metrics.csv columns a run of the base config can have (binary or not)."""
    from mlptrain.config import validate_config
    from mlptrain.metrics import metric_names

    data = validate_config(base, source="config").data
    task = data.task
    has_val = data.val_fraction > 0 or data.val_path is not None
    tasks = [task] if task != "auto" else ["classification", "regression", "multilabel"]
    names: list[str] = []
    for t in tasks:
        for binary in (False, True):
            names += [n for n in metric_names(t, has_val, binary) if n not in names]
    return names


def _default_trials(sampler: str, space: list[Range]) -> int:
    if sampler == "grid":
        return math.prod(len(r.grid()) for r in space if _is_discrete(r)) or 1
    return 20


# ---- the space ------------------------------------------------------------------------------


def _parse_space(value: Any, source: str, lines: dict) -> list[Range]:
    if not isinstance(value, dict) or not value:
        raise ConfigError(f"space{_line(lines, 'space')}: must be a non-empty mapping of "
                          "config keys to ranges, e.g. optimizer.lr: {log_uniform: [1e-4, 0.1]}",
                          path=source)
    keys = config_keys()
    ranges = []
    for key, spec in value.items():
        key = str(key)
        where = f"space.{key}{_line(lines, 'space', key)}"
        if key in RESERVED_KEYS or key.startswith("run."):
            why = RESERVED_KEYS.get(key, "each trial's run directory is set by the sweep")
            raise ConfigError(f"{where}: cannot be searched ({why})", path=source)
        if key not in keys:
            raise ConfigError(f"{where}: {key!r} is not a config key; "
                              + _suggest(key, sorted(keys)), path=source)
        ranges.append(parse_range(key, spec, source, lines))
    return ranges


def config_keys() -> list[str]:
    """Every dotted key of the config schema that holds a value (sections excluded; `loss`,
    whose bare name is its kind, included)."""
    from pydantic import BaseModel

    from mlptrain.config import ExperimentConfig
    from mlptrain.config.loading import _model_of

    def walk(model: type[BaseModel], prefix: str) -> list[str]:
        out = []
        for name, info in model.model_fields.items():
            sub = _model_of(info.annotation)
            if sub is None:
                out.append(prefix + name)
            else:
                out += walk(sub, f"{prefix}{name}.")
        return out

    return walk(ExperimentConfig, "") + ["loss"]


def parse_range(key: str, spec: Any, source: str, lines: dict) -> Range:
    where = f"space.{key}{_line(lines, 'space', key)}"
    forms = "{uniform: [lo, hi]}, {log_uniform: [lo, hi]}, {int: [lo, hi]}, {log_int: [lo, hi]} " \
        "or {choice: [a, b, ...]}"
    if not isinstance(spec, dict):
        raise ConfigError(f"{where}: must be a range such as {forms}, got {spec!r}", path=source)
    kinds = [k for k in spec if k in RANGE_KINDS]
    extra = [str(k) for k in spec if k not in RANGE_KINDS and k != "step"]
    if extra:
        raise ConfigError(f"{where}: unknown range {extra[0]!r}; "
                          + _suggest(extra[0], RANGE_KINDS + ("step",)), path=source)
    if len(kinds) != 1:
        raise ConfigError(f"{where}: give exactly one of {', '.join(RANGE_KINDS)}", path=source)
    kind = kinds[0]
    if kind == "choice":
        return _parse_choice(key, spec, where, source)
    ends = spec[kind]
    if not isinstance(ends, list) or len(ends) != 2 or not all(_is_number(v) for v in ends):
        raise ConfigError(f"{where}: {kind} takes [low, high], two numbers, got {ends!r}",
                          path=source)
    low, high = ends
    if kind in ("int", "log_int") and not all(isinstance(v, int) for v in ends):
        raise ConfigError(f"{where}: {kind} takes two integers, got {ends!r}", path=source)
    if not low < high:
        raise ConfigError(f"{where}: low must be below high, got [{low}, {high}]", path=source)
    if kind.startswith("log_") and low <= 0:
        raise ConfigError(f"{where}: a log range needs low > 0, got {low}", path=source)
    step = spec.get("step")
    if step is not None:
        if kind.startswith("log_"):
            raise ConfigError(f"{where}: step cannot be combined with a log range", path=source)
        if not _is_number(step) or step <= 0 or (kind == "int" and not isinstance(step, int)):
            raise ConfigError(f"{where}: step must be a positive {'integer' if kind == 'int' else 'number'}, "
                              f"got {step!r}", path=source)
        if step > high - low:
            raise ConfigError(f"{where}: step {step} is larger than the range", path=source)
    return Range(key=key, kind=kind, low=low, high=high, step=step)


def _parse_choice(key: str, spec: dict, where: str, source: str) -> Range:
    if "step" in spec:
        raise ConfigError(f"{where}: step belongs to uniform and int ranges, not choice",
                          path=source)
    choices = spec["choice"]
    if not isinstance(choices, list) or not choices or len(choices) > MAX_CHOICES:
        raise ConfigError(f"{where}: choice takes a list of 1 to {MAX_CHOICES} values, got "
                          f"{choices!r}"[:200], path=source)
    texts = [json.dumps(c, sort_keys=True) for c in choices]
    for i, text in enumerate(texts):
        if text in texts[:i]:
            raise ConfigError(f"{where}: choice {text} is listed twice", path=source)
    return Range(key=key, kind="choice", choices=choices)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _is_discrete(r: Range) -> bool:
    return r.kind == "choice" or r.kind == "int" or r.step is not None


def _check_sampler_fits(spec: SweepSpec, lines: dict) -> None:
    if spec.sampler == "grid":
        for r in spec.space:
            if not _is_discrete(r):
                raise ConfigError(f"space.{r.key}{_line(lines, 'space', r.key)}: the grid sampler "
                                  f"needs choice, int or a step; {r.kind} has no grid",
                                  path=spec.source)
        size = math.prod(len(r.grid()) for r in spec.space)
        if spec.trials > size:
            raise ConfigError(f"trials{_line(lines, 'trials')}: {spec.trials} exceeds the grid's "
                              f"{size} points (each trial is one point)", path=spec.source)
    if spec.sampler == "cmaes":
        try:
            import cmaes  # noqa: F401
        except ImportError:
            raise ConfigError(f"sampler{_line(lines, 'sampler')}: cmaes needs the cmaes package "
                              "(pip install cmaes)", path=spec.source) from None


def _check_overrides_not_searched(spec: SweepSpec, overrides: list[str]) -> None:
    for text in overrides:
        key = text.partition("=")[0].strip()
        for r in spec.space:
            if key == r.key or r.key.startswith(key + ".") or key.startswith(r.key + "."):
                raise ConfigError(f"override {text!r} sets {r.key}, which the sweep searches",
                                  path=spec.source)


def check_space_against_schema(spec: SweepSpec, lines: dict | None = None) -> None:
    """Every value each range can produce must make a valid config (see the module doc)."""
    lines = lines or {}
    for r in spec.space:
        for what, value in r.probes():
            message = _config_problem(spec.base, {r.key: value})
            if message is not None:
                hint = ""
                if r.is_float and "integer" in message:
                    hint = f"; {r.key} takes integers: use {{int: [{r.low}, {r.high}]}}"
                raise ConfigError(f"space.{r.key}{_line(lines, 'space', r.key)}: the {what} "
                                  f"{_short(value)} is not valid: {message}{hint}",
                                  path=spec.source)
    probe_sets = [r.probes() for r in spec.space]
    if len(spec.space) < 2 or math.prod(len(p) for p in probe_sets) > MAX_PROBE_COMBINATIONS:
        return
    for combo in itertools.product(*probe_sets):
        values = {r.key: value for r, (_, value) in zip(spec.space, combo, strict=True)}
        message = _config_problem(spec.base, values)
        if message is not None:
            shown = ", ".join(f"{k}={_short(v)}" for k, v in values.items())
            raise ConfigError(f"space: the combination {shown} is not a valid config: {message}",
                              path=spec.source)


def _config_problem(base: dict, values: dict[str, Any]) -> str | None:
    from mlptrain.config import validate_config

    raw = copy.deepcopy(base)
    for key, value in values.items():
        set_key(raw, key, value)
    try:
        validate_config(raw, source="config")
    except ConfigError as err:
        return err.message.splitlines()[0]
    return None


def set_key(raw: dict, key: str, value: Any) -> None:
    """raw[a][b][c] = value for key "a.b.c" (sections made as needed; a null section too)."""
    node = raw
    parts = key.split(".")
    for part in parts[:-1]:
        if not isinstance(node.get(part), dict):
            node[part] = {}
        node = node[part]
    node[parts[-1]] = copy.deepcopy(value)


def _short(value: Any) -> str:
    text = f"{value:.6g}" if isinstance(value, float) else json.dumps(value)
    return text if len(text) <= 60 else text[:57] + "..."
