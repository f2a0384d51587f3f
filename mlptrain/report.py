"""Terminal rendering: the tqdm progress bar, per-epoch lines and summary tables.

With this module and `mlptrain.cli`, the only code that writes to the terminal. On a terminal an
epoch shows a tqdm bar over its batches with the running loss, then one compact line; when
stdout is not a terminal (CI, nohup, a pipe) each epoch is one plain log line and there is no
bar. `quiet` prints nothing here (the CLI then prints the run directory alone).
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # rich is imported where a table is made: `train --quiet` never loads it
    from rich.console import Console
    from rich.table import Table
    from tqdm import tqdm

# Metric names shown on the per-epoch line, in order, with their formats.
_EPOCH_COLUMNS = (
    ("train_loss", "loss", "{:.4f}"),
    ("train_accuracy", "acc", "{:.2%}"),
    ("val_loss", "val_loss", "{:.4f}"),
    ("val_accuracy", "val_acc", "{:.2%}"),
    ("val_mse", "val_mse", "{:.4g}"),
    ("val_r2", "val_r2", "{:.4f}"),
    ("lr", "lr", "{:.3g}"),
    ("epoch_time", "time", "seconds"),
)


def format_seconds(seconds: float) -> str:
    """A duration for a log line: milliseconds below a second (`340ms`, `4.2ms`), else
    seconds with two decimals (`1.25s`)."""
    return f"{seconds * 1000:.3g}ms" if seconds < 1 else f"{seconds:.2f}s"


def format_value(value: Any, fmt: str = "{:.4g}") -> str:
    if value is None or value == "":
        return "-"
    if fmt == "seconds" and isinstance(value, int | float):
        return format_seconds(value)
    try:
        return fmt.format(value)
    except (ValueError, TypeError):
        return str(value)


class ConsoleObserver:
    """Renders training progress; implements `training.Observer`. `console` may be None when
    `quiet` (nothing is printed then)."""

    def __init__(self, console: Console | None, total_epochs: int, quiet: bool = False):
        self.console = console
        self.total_epochs = total_epochs
        self.quiet = quiet or console is None
        self.interactive = console is not None and not self.quiet and console.is_terminal
        self._bar: tqdm[Any] | None = None
        self._done = 0
        self._epoch = 0
        self._n_batches = 0

    def epoch_started(self, epoch: int, n_batches: int, start_batch: int) -> None:
        self._epoch, self._done, self._n_batches = epoch, start_batch, n_batches
        if self.interactive:
            from tqdm import tqdm

            self._bar = tqdm(
                total=n_batches, initial=start_batch, desc=f"epoch {epoch}/{self.total_epochs}",
                unit="batch", leave=False, dynamic_ncols=True, file=sys.stderr,
            )

    def batches_done(self, count: int, running_loss: float) -> None:
        if self._bar is not None:
            self._bar.update(count - self._done)
            self._bar.set_postfix_str(f"loss {running_loss:.4f}", refresh=False)
        self._done = count

    def evaluated(self, row: Mapping[str, Any]) -> None:
        self._close_bar()
        if self.quiet:
            return
        parts = [self._where(row["epoch"])] + [
            f"{label} {format_value(row[key], fmt)}"
            for key, label, fmt in _EPOCH_COLUMNS if row.get(key) is not None
        ]
        self._print("  ".join(parts))

    def _where(self, epoch: float) -> str:
        """`epoch 3/10` at an epoch's end; `epoch 1/3 step 5/17` for an evaluation within
        one (metrics.csv's epoch is then fractional: 0.294118 = 5 of 17 steps of epoch 1)."""
        if not isinstance(epoch, float) or epoch == int(epoch):
            return f"epoch {int(epoch)}/{self.total_epochs}"
        done = int(epoch)
        step = round((epoch - done) * self._n_batches)
        return f"epoch {done + 1}/{self.total_epochs} step {step}/{self._n_batches}"

    def download_progress(self, total: int | None, desc: str):
        """A byte-counting bar for one file download (the data layer's `progress` hook)."""
        from tqdm import tqdm

        return tqdm(total=total, desc=f"download {desc}", unit="B", unit_scale=True,
                    unit_divisor=1024, leave=self.interactive, disable=self.quiet,
                    mininterval=0.2 if self.interactive else 5.0, file=sys.stderr)

    def message(self, text: str) -> None:
        self._close_bar()
        if not self.quiet:
            self._print(text)

    def _print(self, text: str) -> None:
        if self.console is not None:  # None only when quiet
            self.console.print(text, highlight=False, soft_wrap=True)

    def _close_bar(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


def metrics_table(title: str, metrics: Mapping[str, Any]) -> Table:
    """A two-column table of metric name and value."""
    from rich.table import Table

    table = Table(title=title, show_header=True, header_style="bold")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for name, value in metrics.items():
        if isinstance(value, float):
            shown = format_value(value, "{:.2%}" if name.endswith("accuracy") else "{:.6g}")
        else:
            shown = format_value(value, "{}")
        table.add_row(name, shown)
    return table


def rows_table(title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> Table:
    """A table with the given header and already formatted rows."""
    from rich.table import Table

    table = Table(title=title, show_header=True, header_style="bold")
    for i, column in enumerate(columns):
        table.add_column(column, justify="left" if i == 0 else "right")
    for row in rows:
        table.add_row(*[str(cell) for cell in row])
    return table


def format_metric(name: str, value: Any) -> str:
    """A metric for a table: accuracies as percentages, seconds with two decimals, other
    floats with four significant digits; None as '-'."""
    if value is None:
        return "-"
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    if name.endswith("accuracy"):
        return format_value(value, "{:.2%}")
    if name == "seconds":
        return format_value(value, "{:.2f}")
    return format_value(value, "{:.4g}") if isinstance(value, float) else str(value)


def plain_table(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """Columns padded with spaces, no box drawing (for pipes and files)."""
    cells = [[str(c) for c in columns]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(columns))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
                     for row in cells)


def loss_curves(rows: Sequence[Mapping[str, Any]], width: int = 40) -> dict[str, str]:
    """Sparklines of train_loss and val_loss (where present) on one shared log scale, so
    the two can be compared: {"train": "▇▅▃▂▁▁", "val": "▇▅▃▃▂▂"}."""
    from mlptrain.sparkline import bounds, sparkline

    series = {name: [_number(r.get(f"{name}_loss")) for r in rows] for name in ("train", "val")}
    series = {k: v for k, v in series.items() if any(x == x for x in v)}
    scale = bounds(list(series.values()), log=True)
    if scale is None:
        return {}
    return {k: sparkline(v, width, *scale, log=True) for k, v in series.items()}


def _number(value: Any) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return float("nan")


def print_loss_curves(console: Console, rows: Sequence[Mapping[str, Any]], width: int = 60) -> None:
    """The loss curves at the end of `train`, on a terminal only (nothing in a pipe or file)."""
    if not console.is_terminal or not rows:
        return
    curves = loss_curves(rows, width)
    for name, line in curves.items():
        values = [_number(r.get(f"{name}_loss")) for r in rows]
        finite = [v for v in values if v == v]
        console.print(f"{name:>5} loss {line}  {finite[0]:.4g} → {finite[-1]:.4g}",
                      highlight=False, soft_wrap=True)
