"""What a sweep reports: one row per trial slot, sweep.csv and best.yaml.

sweep.csv has the columns `trial` (the slot), `state` (complete, pruned, fail, running,
waiting), `value` (the objective of complete trials; repr of the float, so it reads back
exactly), one column per searched key named by its dotted key (a list choice as its JSON
text) and `run_dir` (relative to the sweep directory).

best.yaml is the resolved config of the best complete trial, read from its run directory, with
only the run's own placement put back to the base config's (run.root, run.name_template):
the seed, the BLAS threads (summation order) and every absolute data path stay, so
`mlptrain train best.yaml` trains the same model bit for bit and reproduces the value.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from mlptrain.sweep.spec import SweepSpec

CSV_FILE = "sweep.csv"
BEST_FILE = "best.yaml"


@dataclass
class TrialRow:
    """One slot of the sweep, as its latest trial stands."""

    trial: int  # the slot
    number: int  # Optuna's trial number (a retry has a later one)
    state: str
    value: float | None
    params: dict[str, Any] = field(default_factory=dict)
    duration: float | None = None  # seconds, from the storage's start/complete times
    run_dir: str | None = None  # relative to the sweep directory
    retries: int = 0


def trial_rows(trials, spec: SweepSpec, now: datetime | None = None) -> list[TrialRow]:
    """The rows of every slot, in slot order, from the study's trials."""
    from mlptrain.sweep.study import decode_params, slot_views

    rows = []
    for slot, view in sorted(slot_views(trials).items()):
        t = view.trial
        end = t.datetime_complete or now
        duration = (end - t.datetime_start).total_seconds() if t.datetime_start and end else None
        state = t.state.name.lower()
        rows.append(TrialRow(
            trial=slot, number=t.number, state=state,
            value=t.value if state == "complete" else None,
            params=decode_params(t.params, spec.space), duration=duration,
            run_dir=t.user_attrs.get("run_dir"),
            retries=len(t.system_attrs.get("retry_history", [])),
        ))
    return rows


def best_row(rows: list[TrialRow], direction: str) -> TrialRow | None:
    done = [(r.value, r) for r in rows if r.state == "complete" and r.value is not None]
    if not done:
        return None
    sign = 1 if direction == "minimize" else -1
    return min(done, key=lambda pair: (sign * pair[0], pair[1].trial))[1]


def csv_text(rows: list[TrialRow], keys: list[str]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["trial", "state", "value", *keys, "run_dir"])
    for r in rows:
        writer.writerow([r.trial, r.state, "" if r.value is None else repr(float(r.value)),
                         *[_cell(r.params.get(k)) for k in keys], r.run_dir or ""])
    return out.getvalue()


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, (list, dict)):
        return json.dumps(value)
    return str(value)


def best_config_text(sweep_dir: Path, spec: SweepSpec, best: TrialRow) -> str:
    """best.yaml: the best trial's resolved config, trainable as is (see the module doc)."""
    from mlptrain.config import config_to_yaml, read_config_file, validate_config

    run_dir = sweep_dir / (best.run_dir or "")
    raw, _ = read_config_file(run_dir / "config.yaml")
    base_run = spec.base.get("run") or {}
    raw["run"]["root"] = base_run.get("root", "runs")
    raw["run"]["name_template"] = base_run.get("name_template", "{name}-{timestamp}")
    cfg = validate_config(raw, source=str(run_dir / "config.yaml"))
    value = f"{spec.metric}={best.value!r}"
    header = (f"# The best trial ({best.trial}, {value}) of the sweep {sweep_dir}.\n"
              f"# Reproduce it exactly with: mlptrain train {sweep_dir / BEST_FILE}\n")
    return header + config_to_yaml(cfg)


def write_outputs(sweep_dir: Path, spec: SweepSpec, rows: list[TrialRow]) -> Path | None:
    """Write sweep.csv and (when a trial completed) best.yaml; return best.yaml's path."""
    from mlptrain.checkpoint import write_atomic

    write_atomic(sweep_dir / CSV_FILE, csv_text(rows, spec.keys).encode("utf-8"))
    best = best_row(rows, spec.direction)
    if best is None:
        return None
    target = sweep_dir / BEST_FILE
    write_atomic(target, best_config_text(sweep_dir, spec, best).encode("utf-8"))
    return target
