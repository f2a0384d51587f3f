"""`mlptrain plot SWEEP_DIR`: the curves of the best trials overlaid, and the objective
against each searched parameter.

Two PNGs: OUT (default SWEEP_DIR/plot.png) holds the training curves of the TOP complete
trials (`plotting.plot_runs`, labelled by the keys that differ); OUT's stem + "-values.png"
holds one panel per searched key, the value of every complete trial against the key's value
(a log axis for log ranges; choices as categories), pruned trials marked at the bottom.
Everything comes from sweep.csv and sweep.yaml, so no database is opened.
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Any

from mlptrain.errors import RunDirError

TOP = 5


def is_sweep_dir(path: Path) -> bool:
    from mlptrain.sweep.launch import STUDY_FILE
    from mlptrain.sweep.results import CSV_FILE

    return (path / CSV_FILE).is_file() and (path / STUDY_FILE).is_file()


def plot_sweep(sweep_dir: Path, out: Path | None = None,
               metrics: list[str] | None = None) -> list[Path]:
    """Write the two PNGs; return their paths."""
    from mlptrain.plotting import plot_runs

    spec, rows = _read(sweep_dir)
    done = [r for r in rows if r["state"] == "complete" and r["value"] != ""]
    if not done:
        raise RunDirError("no trial of this sweep has completed yet; nothing to plot",
                          path=sweep_dir)
    sign = 1 if spec["direction"] == "minimize" else -1
    top = sorted(done, key=lambda r: sign * float(r["value"]))[:TOP]
    out = Path(out) if out is not None else sweep_dir / "plot.png"
    curves = plot_runs([sweep_dir / r["run_dir"] for r in top], out, metrics=metrics)
    values = values_plot(spec, rows, out.with_name(out.stem + "-values.png"))
    return [curves, values]


def _read(sweep_dir: Path) -> tuple[dict[str, Any], list[dict[str, str]]]:
    from mlptrain.config import read_config_file
    from mlptrain.sweep.launch import SPEC_FILE
    from mlptrain.sweep.results import CSV_FILE

    spec, _ = read_config_file(sweep_dir / SPEC_FILE)
    try:
        with open(sweep_dir / CSV_FILE, newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
    except (OSError, csv.Error, UnicodeDecodeError) as err:
        raise RunDirError(f"cannot read {CSV_FILE}: {err}", path=sweep_dir) from None
    if not isinstance(spec.get("space"), dict) or spec.get("direction") not in ("minimize",
                                                                                "maximize"):
        raise RunDirError(f"{SPEC_FILE} is not an mlptrain sweep", path=sweep_dir)
    return spec, rows


def values_plot(spec: dict[str, Any], rows: list[dict[str, str]], out: Path) -> Path:
    from mlptrain.plotting import _pyplot, _save

    plt = _pyplot()
    keys = list(spec["space"])
    fig, axes = plt.subplots(1, len(keys), figsize=(4.5 * len(keys), 4), squeeze=False,
                             constrained_layout=True)
    done = [r for r in rows if r["state"] == "complete" and r["value"] != ""]
    floor = min(float(r["value"]) for r in done)
    for ax, key in zip(axes[0], keys, strict=True):
        kind = next(iter(spec["space"][key]))
        xs, labels = _positions(key, rows, kind)
        for state, marker, color in (("complete", "o", "tab:blue"), ("pruned", "x", "tab:gray")):
            points = [(xs[i], float(r["value"]) if r["value"] else floor)
                      for i, r in enumerate(rows) if r["state"] == state and xs[i] is not None]
            if points:
                ax.scatter(*zip(*points, strict=True), marker=marker, color=color, label=state)
        if labels:
            ax.set_xticks(range(len(labels)), labels, rotation=30, fontsize="small")
        elif kind.startswith("log_"):
            ax.set_xscale("log")
        ax.set_xlabel(key)
        ax.set_ylabel(spec["metric"])
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize="small")
    fig.suptitle(f"{spec['metric']} ({spec['direction']}) of {len(done)} complete trials; "
                 "pruned trials at the bottom")
    return _save(plt, fig, out)


def _positions(key: str, rows: list[dict[str, str]], kind: str) -> tuple[list, list[str]]:
    """x of each row: the number, or the index of its choice (with the choices as labels)."""
    if kind == "choice":
        labels = sorted({r[key] for r in rows if r[key] != ""}, key=_order)
        return [labels.index(r[key]) if r[key] in labels else None for r in rows], labels
    xs = []
    for r in rows:
        try:
            value = float(r[key])
        except ValueError:
            value = math.nan
        xs.append(value if math.isfinite(value) else None)
    return xs, []


def _order(text: str) -> tuple[int, Any]:
    try:
        value = json.loads(text)
    except ValueError:
        return (1, text)
    return (0, value) if isinstance(value, (int, float)) else (1, text)
