"""Training curves of one or more run directories as one PNG (matplotlib, Agg backend).

Six panels over epochs: loss on a log scale (train solid, validation dashed), accuracy (or
validation MSE on a log scale with R² on its own right-hand axis, for regression), learning rate, and from layers.jsonl per-layer gradient norms, activation
std and weight norms. Several runs overlay their curves, one color per run. matplotlib is the
optional `plot` extra: without it `PlotUnavailable` says how to install it.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mlptrain.errors import RunDirError, UserError

INSTALL_HINT = "pip install 'mlptrain[plot]'"


class PlotUnavailable(UserError):
    """matplotlib is not installed."""


def _pyplot():
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise PlotUnavailable("plotting needs matplotlib, which is not installed",
                              hint=INSTALL_HINT) from None
    return plt


def read_history(run_dir: str | Path) -> dict[str, Any]:
    """metrics.csv as columns of floats (epoch-end rows only) and layers.jsonl as records."""
    from mlptrain.rundir import LAYERS_FILE, METRICS_FILE

    run = Path(run_dir)
    if not run.is_dir():
        raise RunDirError("no such run directory", path=run)
    metrics = run / METRICS_FILE
    if not metrics.exists():
        raise RunDirError(f"holds no {METRICS_FILE} (not a run directory, or no epoch ended)",
                          path=run)
    from mlptrain.rundir import read_run_text

    try:
        rows = list(csv.DictReader(io.StringIO(read_run_text(metrics), newline="")))
    except csv.Error as err:
        raise RunDirError(f"is not valid CSV ({err})", path=metrics) from None
    if not rows:
        raise RunDirError(f"its {METRICS_FILE} holds no rows yet", path=run)
    columns = {key: [_float(r.get(key)) for r in rows] for key in rows[0] if key is not None}
    layers = []
    path = run / LAYERS_FILE
    if path.exists():
        for line in read_run_text(path).splitlines():
            if line.strip():
                try:
                    record = json.loads(line)
                except (ValueError, RecursionError):
                    continue  # a line cut by a crash
                if _layer_record_ok(record):
                    layers.append(record)
    return {"name": run.name, "metrics": columns, "layers": layers}


def _layer_record_ok(record: Any) -> bool:
    """A layers.jsonl record as mlptrain writes it: {"epoch": n, "layers": [{...}, ...]} with
    numbers (or null) as values; anything else (a hand-edited or damaged line) is skipped."""
    if not isinstance(record, dict) or not isinstance(record.get("layers"), list):
        return False
    if not isinstance(record.get("epoch"), (int, float)) or isinstance(record["epoch"], bool):
        return False
    return all(isinstance(layer, dict) and all(
        v is None or (isinstance(v, (int, float)) and not isinstance(v, bool))
        or k in ("activation", "name") for k, v in layer.items()) for layer in record["layers"])


def _float(text: str | None) -> float:
    if not isinstance(text, str):  # None, or the list of a row longer than the header
        return float("nan")
    try:
        return float(text) if text not in (None, "") else float("nan")
    except ValueError:
        return float("nan")


def plot_runs(run_dirs: Sequence[str | Path], out: str | Path,
              metrics: list[str] | None = None) -> Path:
    """Draw the runs' curves into one PNG at `out` (written atomically). A folder that is not
    a run directory stands for every run under it; several runs are labelled by the config
    keys that differ. `metrics` (metrics.csv columns): one panel each instead of the six."""
    from mlptrain.runs import expand_run_dirs, legend_labels

    plt = _pyplot()
    if not run_dirs:
        raise UserError("give at least one run directory")
    paths = expand_run_dirs(run_dirs)
    histories = [read_history(r) for r in paths]
    for history, label in zip(histories, legend_labels(paths), strict=True):
        history["name"] = label
    if metrics:
        return _save(plt, _metric_figure(plt, histories, metrics), out)
    fig, axes = plt.subplots(2, 3, figsize=(16, 9), constrained_layout=True)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    regression = _is_regression(histories)
    r2_ax = axes[0][1].twinx() if regression else None  # R² on its own (right) axis
    for i, history in enumerate(histories):
        color = colors[i % len(colors)]
        _curves(axes[0], history, color, several=len(histories) > 1, r2_ax=r2_ax)
        _layer_curves(axes[1], history, colors, i, several=len(histories) > 1)
    titles = ["loss (log scale)", _quality_title(histories), "learning rate",
              "gradient norm per layer", "activation std per layer", "weight norm per layer"]
    for ax, title in zip(axes.flat, titles, strict=True):
        ax.set_title(title)
        ax.set_xlabel("epoch")
        ax.grid(True, alpha=0.3)
    log_axes = [axes[0][0], axes[1][0], axes[1][2]] + ([axes[0][1]] if regression else [])
    for ax in log_axes:
        _log_scale_if_positive(ax)
    if r2_ax is not None:
        axes[0][1].set_ylabel("MSE (log scale)")
        r2_ax.set_ylabel("R²")
    for ax in axes.flat:
        _legend(ax, r2_ax if ax is axes[0][1] else None)
    fig.suptitle(", ".join(h["name"] for h in histories))
    return _save(plt, fig, out)


def _save(plt, fig, out: str | Path) -> Path:
    from mlptrain.checkpoint import write_atomic

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    plt.close(fig)
    out = Path(out)
    write_atomic(out, buffer.getvalue())
    return out


def _metric_figure(plt, histories, metrics: list[str]):
    """One panel per metric, one curve per run, over epochs."""
    available = sorted({k for h in histories for k in h["metrics"]} - {"epoch", "step"})
    for metric in metrics:
        if metric not in available:
            raise UserError(f"--metric {metric}: no run has such a metrics.csv column",
                            hint=f"available: {', '.join(available)}")
    fig, axes = plt.subplots(1, len(metrics), figsize=(6 * len(metrics) + 1, 5),
                             constrained_layout=True, squeeze=False)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, metric in zip(axes[0], metrics, strict=True):
        for i, history in enumerate(histories):
            m = history["metrics"]
            if metric in m:
                ax.plot(m["epoch"], m[metric], color=colors[i % len(colors)],
                        label=history["name"])
        ax.set_title(metric)
        ax.set_xlabel("epoch")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize="small")
    return fig


def _is_regression(histories) -> bool:
    return all("train_accuracy" not in h["metrics"] for h in histories)


def _quality_title(histories) -> str:
    return "validation MSE (left, log scale) and R² (right)" if _is_regression(histories) else (
        "accuracy")


def _log_scale_if_positive(ax) -> None:
    """A log y axis for curves spanning orders of magnitude (losses, MSE, norms), when every
    value drawn is positive (NaN gaps allowed)."""
    values = [v for line in ax.lines for v in line.get_ydata() if v == v]
    if values and min(values) > 0:
        ax.set_yscale("log")


def _legend(ax, twin=None) -> None:
    """One legend for the curves of `ax` and of its twin axis, if any."""
    lines = list(ax.lines) + (list(twin.lines) if twin is not None else [])
    if lines:  # on the twin, drawn last, so that its curves do not cover the legend
        (twin or ax).legend(lines, [line.get_label() for line in lines], fontsize="small")


def _label(history, what: str, several: bool) -> str:
    return f"{history['name']}: {what}" if several else what


def _curves(row, history, color: str, several: bool, r2_ax=None) -> None:
    m = history["metrics"]
    epochs = m["epoch"]
    loss_ax, quality_ax, lr_ax = row
    for key, style in (("train_loss", "-"), ("val_loss", "--")):
        if key in m:
            loss_ax.plot(epochs, m[key], style, color=color, label=_label(history, key, several))
    if "train_accuracy" in m:
        for key, style in (("train_accuracy", "-"), ("val_accuracy", "--")):
            if key in m:
                quality_ax.plot(epochs, m[key], style, color=color,
                                label=_label(history, key, several))
    else:
        for key, style, ax in (("val_mse", "--", quality_ax), ("val_r2", ":", r2_ax or quality_ax)):
            if key in m:
                ax.plot(epochs, m[key], style, color=color, label=_label(history, key, several))
    if "lr" in m:
        lr_ax.plot(epochs, m["lr"], color=color, label=_label(history, "lr", several))


_LAYER_STYLES = ("-", "--", ":", "-.")


def _layer_curves(row, history, colors: list[str], run: int, several: bool) -> None:
    """One run: a color per layer. Several runs: a color per run, a line style per layer."""
    records = history["layers"]
    if not records:
        return
    epochs = [r["epoch"] for r in records]
    n_layers = max(len(r["layers"]) for r in records)
    for j in range(n_layers):
        style = _LAYER_STYLES[j % len(_LAYER_STYLES)] if several else "-"
        color = colors[(run if several else j) % len(colors)]
        for ax, key in zip(row, ("grad_norm", "std", "weight_norm"), strict=True):
            values = [_layer_value(r, j, key) for r in records]
            if all(v != v for v in values):  # all NaN: the output layer has no activation std
                continue
            ax.plot(epochs, values, style, color=color, alpha=0.9,
                    label=_label(history, f"layer {j}", several))


def _layer_value(record, j: int, key: str) -> float:
    layers = record["layers"]
    if j >= len(layers) or layers[j].get(key) is None:
        return float("nan")
    return float(layers[j][key])
