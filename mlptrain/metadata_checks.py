"""Checks of a checkpoint's metadata before any of it is used: a checkpoint is untrusted input.

A checkpoint may come from anywhere, and its JSON metadata drives what gets allocated,
indexed and printed. Each field is checked for type, range and depth here, with a
`CheckpointError` naming the file and the field, so that a tampered or corrupted checkpoint is
bad input (exit 2), never an internal error or an allocation of terabytes:

- the document nests at most `MAX_DEPTH` levels;
- the model description: `layer_sizes` a list of 2..`MAX_LAYERS` ints in [1, `MAX_WIDTH`],
  whose training state fits in memory;
- the preprocessor's facts: a known task, output and feature counts that agree with the
  model, class names that are strings, one per output;
- the loop state: every counter a non-negative int, sums finite floats, a known status.
"""

from __future__ import annotations

import math
from dataclasses import fields
from pathlib import Path
from typing import Any, TypeGuard

from mlptrain.errors import CheckpointError

MAX_DEPTH = 32
MAX_LAYERS = 1000
MAX_WIDTH = 2**31 - 1
TASKS = ("classification", "regression", "multilabel")
STATUSES = ("running", "interrupted", "completed", "early_stopped", "diverged")


def depth_of(value: Any, limit: int = MAX_DEPTH) -> int:
    """Nesting depth of a JSON value, counted without recursion and only up to `limit` + 1."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        if deepest > limit:
            return deepest
        children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else ()
        stack.extend((child, depth + 1) for child in children)
    return deepest


def check_depth(meta: Any, path: Path) -> None:
    if depth_of(meta) > MAX_DEPTH:
        raise CheckpointError(f"its metadata nests more than {MAX_DEPTH} levels deep", path=path)


def _is_int(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_real(value: Any) -> TypeGuard[int | float]:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def check_model_meta(model: dict, path: Path, dtype: str | None = None) -> list[int]:
    """The model description's layer sizes, checked (and checked to fit in memory)."""
    from mlptrain.bounded import check_memory, model_bytes

    sizes = model.get("layer_sizes")
    if not isinstance(sizes, list) or not 2 <= len(sizes) <= MAX_LAYERS or not all(
        _is_int(s) and 1 <= s <= MAX_WIDTH for s in sizes
    ):
        raise CheckpointError(
            f"model.layer_sizes must be a list of 2 to {MAX_LAYERS} integers in "
            f"[1, {MAX_WIDTH}], got {_short(sizes)}",
            path=path,
        )
    dtype = dtype or model.get("dtype", "float32")
    itemsize = 8 if dtype == "float64" else 4
    check_memory(model_bytes(sizes, itemsize), "model.layer_sizes",
                 f"the checkpoint's {' x '.join(map(str, sizes))} network", CheckpointError, path)
    return sizes


def check_preprocessor_meta(state: dict, sizes: list[int] | None, path: Path) -> None:
    """The data facts of the saved preprocessor agree with each other and with the model."""
    task, n_out, n_feat = state.get("task"), state.get("n_outputs"), state.get("n_features")
    if task not in TASKS:
        raise CheckpointError(f"preprocessor.task must be one of {', '.join(TASKS)}, got "
                              f"{_short(task)}", path=path)
    for name, value in (("n_outputs", n_out), ("n_features", n_feat)):
        if not _is_int(value) or not 1 <= value <= MAX_WIDTH:
            raise CheckpointError(f"preprocessor.{name} must be a positive integer, got "
                                  f"{_short(value)}", path=path)
    for name in ("class_names", "feature_names", "target_names"):
        names = state.get(name)
        if names is not None and (not isinstance(names, list)
                                  or not all(isinstance(n, str) for n in names)):
            raise CheckpointError(f"preprocessor.{name} must be a list of strings or null, "
                                  f"got {_short(names)}", path=path)
    names = state.get("class_names")
    if names is not None and task != "regression" and len(names) != n_out:
        raise CheckpointError(f"preprocessor.class_names holds {len(names)} names for "
                              f"{n_out} classes", path=path)
    if sizes is None:
        return
    if sizes[0] != n_feat:
        raise CheckpointError(f"its preprocessor has {n_feat} features but its model takes "
                              f"{sizes[0]} inputs", path=path)
    single_sigmoid = task == "classification" and n_out == 2 and sizes[-1] == 1
    if sizes[-1] != n_out and not single_sigmoid:
        raise CheckpointError(f"its preprocessor has {n_out} outputs but its model has "
                              f"{sizes[-1]}", path=path)


def check_loop_state(loop: Any, state_type: type, path: Path) -> None:
    """The training loop's counters: the dataclass `state_type`'s fields, typed and in range."""
    if not isinstance(loop, dict):
        raise CheckpointError(f"trainer.loop must be an object, got {_short(loop)}", path=path)
    known = {f.name: f for f in fields(state_type)}
    unknown = sorted(set(loop) - set(known))
    if unknown:
        raise CheckpointError(f"trainer.loop has an unknown field {unknown[0]!r}", path=path)
    for name, value in loop.items():
        default = known[name].default
        ok = _field_ok(name, value, default)
        if not ok:
            raise CheckpointError(f"trainer.loop.{name} has an invalid value {_short(value)}",
                                  path=path)


def _field_ok(name: str, value: Any, default: Any) -> bool:
    if name == "status":
        return value in STATUSES
    if name == "shuffle_state_at_epoch_start":
        return value is None or isinstance(value, dict)
    if value is None:
        return default is None
    if _is_int(default):
        return _is_int(value) and 0 <= value < 2**63
    if isinstance(default, float) or default is None:
        return _is_real(value) and math.isfinite(value)
    return True


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
