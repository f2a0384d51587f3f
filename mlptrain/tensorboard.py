"""TensorBoard event files of a run, in RUN/tb/, without TensorFlow or torch.

Written with tensorboardX's protocol buffers (the optional `tensorboard` extra, imported only
here and only when `run.tensorboard` is on). What goes in:

- every metrics.csv column as a scalar at global step = the row's `step` (optimizer steps):
  `train_X` -> `X/train`, `val_X` -> `X/val` (so TensorBoard shows them side by side, and a
  custom-scalars layout draws each train/val pair on one chart), `best_X` -> `best/X`, and
  the rest under `optim/`, `time/` and `progress/` (see `scalar_tag`);
- per-layer statistics of layers.jsonl as scalars (`grad_norm/layer0`, ...) and the weights,
  gradients and hidden activations of each dense layer as histograms (`weights/layer0`, ...);
- the resolved config as text (`config`) and as hparams (flattened keys, `optimizer.lr`).

Why not `SummaryWriter`: it queues events for a background thread, so `flush()` does not
promise that the rows recorded before a checkpoint are on disk when the process is killed,
and two writers opened in the same second with the same host name get the same file name,
which it opens with "wb" (truncating the first). `EventWriter` writes synchronously, flushes
(fsync) after every recorded row, and names the file of a resumed run apart.

Resuming from a checkpoint at step T: the events of the old files with step <= T are copied
into the new file (a record cut by a crash and everything after it are dropped), the old files
are removed, and a SessionLog.START event at step T + 1 follows (what
SummaryWriter(purge_step=T + 1) writes, so readers that purge orphaned data agree). The directory so holds one event file with each step once.
"""

from __future__ import annotations

import json
import struct
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mlptrain.errors import RunDirError, UserError

TB_DIR = "tb"
HISTOGRAM_BINS = 30
INSTALL_HINT = "pip install 'mlptrain[tensorboard]'"
CONFIG_TAG = "config"
_CONFIG_TEXT_TAG = CONFIG_TAG + "/text_summary"  # the tag tensorboardX's text() writes
_PREFIXED = {  # metrics.csv columns that are neither train_X, val_X nor best_X
    "lr": "optim/lr",
    "grad_norm": "optim/grad_norm",
    "epoch": "progress/epoch",
    "epoch_time": "time/epoch_seconds",
    "samples_per_sec": "time/samples_per_sec",
    "wall_time": "time/train_seconds",
}
_LAYER_SCALARS = {  # layers.jsonl key -> tag prefix
    "weight_norm": "weight_norm",
    "grad_norm": "grad_norm",
    "update_ratio": "update_ratio",
    "mean": "activation_mean",
    "std": "activation_std",
    "dead_fraction": "dead_fraction",
    "saturated_fraction": "saturated_fraction",
}


class TensorBoardUnavailable(UserError):
    """tensorboardX is not installed."""


def require_tensorboardx() -> None:
    """Raise TensorBoardUnavailable (exit 2, with the install command) without tensorboardX."""
    try:
        import tensorboardX  # noqa: F401
    except ImportError:
        raise TensorBoardUnavailable(
            "run.tensorboard (--tensorboard) needs tensorboardX, which is not installed",
            hint=INSTALL_HINT,
        ) from None


def scalar_tag(column: str) -> str:
    """The TensorBoard tag of a metrics.csv column: train_loss -> loss/train, ..."""
    for prefix, suffix in (("train_", "train"), ("val_", "val")):
        if column.startswith(prefix):
            return f"{column[len(prefix):]}/{suffix}"
    if column.startswith("best_"):
        return f"best/{column[len('best_'):]}"
    return _PREFIXED.get(column, column)


def overlay_layout(columns: Sequence[str]) -> dict[str, dict[str, list]]:
    """Custom-scalars layout: one chart per metric that has both a train and a val column."""
    pairs = {c[len("train_"):] for c in columns if c.startswith("train_")}
    both = [m for m in sorted(pairs) if f"val_{m}" in columns]
    return {"train vs val": {m: ["Multiline", [f"{m}/train", f"{m}/val"]] for m in both}}


def flat_hparams(cfg: Mapping[str, Any], prefix: str = "") -> dict[str, bool | int | float | str]:
    """The resolved config as {"optimizer.lr": 0.01, "model.hidden": "[64, 64]", ...}."""
    out: dict[str, bool | int | float | str] = {}
    for key, value in cfg.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(flat_hparams(value, name + "."))
        elif isinstance(value, bool | int | float | str):
            out[name] = value
        else:  # lists and null
            out[name] = json.dumps(value)
    return out


class EventWriter:
    """Writes one run's events to RUN/tb/; `open` it, `record` each row, `close` it."""

    def __init__(self, tb_dir: Path, suffix: str):
        from tensorboardX.event_file_writer import EventsWriter

        self.tb_dir = tb_dir
        self._writer = EventsWriter(str(tb_dir / "events"), filename_suffix=suffix)
        self.path = Path(self._writer._file_name)

    @classmethod
    def open(cls, run_dir: str | Path, cfg: Mapping[str, Any], columns: Sequence[str],
             resume_step: int | None = None) -> EventWriter:
        """Start RUN/tb/ (a new run), or continue it after the checkpoint at optimizer step
        `resume_step` (its events up to that step are kept, later ones dropped)."""
        require_tensorboardx()
        tb_dir = Path(run_dir) / TB_DIR
        try:
            tb_dir.mkdir(exist_ok=True)
            old = sorted(p for p in tb_dir.iterdir() if ".tfevents." in p.name)
            kept = _compacted(old, resume_step) if resume_step is not None else []
            suffix = "" if resume_step is None else f".resume-{resume_step:012d}"
            writer = cls(tb_dir, suffix)
            for event in kept:
                writer._writer.write_event(event)
            if resume_step is not None:
                writer._purge_from(resume_step + 1)
            if not any(_tags(e) & {_CONFIG_TEXT_TAG} for e in kept):
                writer._write_run_info(cfg, columns)
            writer._writer.flush()
            for path in old:
                if path != writer.path:
                    path.unlink(missing_ok=True)
        except OSError as err:
            raise RunDirError(f"cannot write TensorBoard events: {err.strerror or err}",
                              path=tb_dir) from None
        return writer

    def record(self, row: Mapping[str, Any], layer_stats: Mapping[str, Any] | None = None,
               net: Any = None) -> None:
        """One metrics.csv row (and, at an epoch's end, its layer statistics and the
        network's weights, gradients and activations as histograms), then flush to disk."""
        from tensorboardX.summary import scalar

        step = int(row["step"])
        for column, value in row.items():
            if column != "step" and _is_number(value):
                self._add(scalar(scalar_tag(column), float(value)), step)
        if layer_stats is not None:
            for entry in layer_stats.get("layers", []):
                for key, prefix in _LAYER_SCALARS.items():
                    if _is_number(entry.get(key)):
                        self._add(scalar(f"{prefix}/layer{entry['layer']}", float(entry[key])),
                                  step)
        if net is not None and layer_stats is not None:
            self._histograms(net, step)
        self._writer.flush()

    def close(self) -> None:
        self._writer.close()

    # ---- internals ------------------------------------------------------------------------

    def _add(self, summary, step: int) -> None:
        from tensorboardX.proto.event_pb2 import Event

        self._writer.write_event(Event(wall_time=time.time(), step=step, summary=summary))

    def _histograms(self, net, step: int) -> None:
        """weights/layerI and gradients/layerI of each dense layer; activations/layerI of each
        hidden layer (from the last forward pass, the validation batch)."""
        from tensorboardX.summary import histogram

        params, grads = net.parameters(), net.gradients()
        dense = [k[: -len(".weight")] for k in params if k.endswith(".weight") and ".bn." not in k]
        arrays = []
        for i, name in enumerate(dense):
            arrays += [(f"weights/layer{i}", params[name + ".weight"]),
                       (f"gradients/layer{i}", grads[name + ".weight"])]
        for i, a in enumerate(net.hidden_activations()):
            arrays.append((f"activations/layer{i}", a))
        for tag, values in arrays:
            if values is not None and values.size and np.all(np.isfinite(values)):
                self._add(histogram(tag, np.asarray(values, np.float64), HISTOGRAM_BINS), step)

    def _purge_from(self, step: int) -> None:
        from tensorboardX.proto.event_pb2 import Event, SessionLog

        self._writer.write_event(Event(wall_time=time.time(), step=step,
                                       session_log=SessionLog(status=SessionLog.START)))

    def _write_run_info(self, cfg: Mapping[str, Any], columns: Sequence[str]) -> None:
        """The config as text and hparams, and the train/val overlay layout, at step 0."""
        import yaml
        from tensorboardX.summary import custom_scalars, hparams, text

        listing = yaml.safe_dump(dict(cfg), sort_keys=False)
        self._add(text(CONFIG_TAG, "    " + listing.replace("\n", "\n    ")), 0)
        metrics = {scalar_tag(c): 0.0 for c in columns if c.startswith(("train_", "val_"))}
        experiment, session_start, _ = hparams(flat_hparams(cfg), metrics)
        self._add(experiment, 0)
        self._add(session_start, 0)
        self._add(custom_scalars(overlay_layout(columns)), 0)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float | np.number) and not isinstance(value, bool)


def _tags(event) -> set[str]:
    return {v.tag for v in event.summary.value}


def _compacted(paths: Sequence[Path], last_step: int) -> list:
    """The events of `paths` (in file order) with step <= `last_step`, each (step, tags)
    once (the last copy wins: a crash between copying and removing leaves two), without the
    files' own version and session-log events."""
    from tensorboardX.proto.event_pb2 import Event

    chosen: dict[tuple[int, tuple[str, ...]], Any] = {}
    for path in paths:
        for record in read_records(path):
            event = Event.FromString(record)
            if event.HasField("summary") and event.step <= last_step:
                chosen[(event.step, tuple(sorted(_tags(event))))] = event
    return sorted(chosen.values(), key=lambda e: e.step)


def read_records(path: Path) -> Iterator[bytes]:
    """The TFRecord payloads of an event file, stopping at the first record that is cut
    short or fails its CRC-32C (a crash mid-write): u64 length, u32 masked crc of the length,
    payload, u32 masked crc of the payload, little-endian."""
    from tensorboardX.record_writer import masked_crc32c

    data = path.read_bytes()
    pos = 0
    while pos + 12 <= len(data):
        header = data[pos : pos + 8]
        (length,) = struct.unpack("<Q", header)
        (header_crc,) = struct.unpack("<I", data[pos + 8 : pos + 12])
        end = pos + 12 + length + 4
        if header_crc != masked_crc32c(header) or end > len(data):
            return
        payload = data[pos + 12 : end - 4]
        if struct.unpack("<I", data[end - 4 : end])[0] != masked_crc32c(payload):
            return
        yield payload
        pos = end

