"""Work arrays reused from one training step to the next, so that a step allocates nothing.

A layer, loss or activation asks its ``Workspace`` for a named array of the shape it needs
(``get``); the first request allocates it, later ones return the same memory. When a larger
batch comes the array is reallocated for it, and a smaller batch (an epoch's last, partial one)
gets a row slice, which is still C-contiguous. The contents are whatever the previous step left
there: a caller overwrites before it reads, or records in ``tags[name]`` what it wrote there
and checks that record (an array that is reallocated, or a copy of the workspace, forgets it).
"""

from __future__ import annotations

import numpy as np


class Workspace:
    """Named work arrays; ``get(name, shape, dtype)`` returns one of exactly ``shape``."""

    def __init__(self) -> None:
        self._arrays: dict[str, np.ndarray] = {}
        self.tags: dict[str, object] = {}  # name -> what its caller last wrote there

    def get(self, name: str, shape: tuple[int, ...], dtype) -> np.ndarray:
        """The array kept under ``name``, sliced to ``shape[0]`` rows; allocated (uninitialized)
        when there is none yet, or when it has fewer rows, other trailing dimensions or another
        dtype than asked for."""
        dtype = np.dtype(dtype)
        kept = self._arrays.get(name)
        if (kept is None or kept.dtype != dtype or kept.ndim != len(shape)
                or kept.shape[1:] != tuple(shape[1:]) or kept.shape[0] < shape[0]):
            kept = self._arrays[name] = np.empty(shape, dtype)
            self.tags.pop(name, None)
        return kept if kept.shape[0] == shape[0] else kept[: shape[0]]

    def like(self, name: str, array: np.ndarray, dtype=None) -> np.ndarray:
        """``get(name, array.shape, dtype or array.dtype)``."""
        return self.get(name, array.shape, array.dtype if dtype is None else dtype)

    def __getstate__(self) -> dict:
        return {}  # work arrays are scratch: a copy starts without them

    def __setstate__(self, state: dict) -> None:
        self._arrays, self.tags = {}, {}


class OwnWorkspace:
    """A class attribute ``work = OwnWorkspace()`` gives each instance its own ``Workspace``,
    created on first use (subclasses need not call an ``__init__`` for it)."""

    def __set_name__(self, owner: type, name: str) -> None:
        self._key = f"_{name}"

    def __get__(self, obj, owner: type | None = None):
        if obj is None:
            return self
        work = obj.__dict__.get(self._key)
        if work is None:
            work = obj.__dict__[self._key] = Workspace()
        return work
