"""Monitors of a metric over evaluations: the best-so-far tracker and early stopping.

Both keep their whole state in a small dict so that a resumed run continues with the same
best value and patience counter (the peers lose these, and their users file bugs about it).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any


def improves(value: float, best: float | None, mode: str, min_delta: float = 0.0) -> bool:
    """True when `value` beats `best` by more than `min_delta` in direction `mode`."""
    if value is None or not math.isfinite(value):
        return False
    if best is None:
        return True
    return value < best - min_delta if mode == "min" else value > best + min_delta


@dataclass
class ImprovementTracker:
    """Tracks the best value of `monitor` and the epoch it was reached at."""

    monitor: str
    mode: str  # "min" or "max"
    best: float | None = None
    best_epoch: int | None = None

    def update(self, value: float | None, epoch: int) -> bool:
        """Record an evaluation; True if it is a new best."""
        if not improves(value, self.best, self.mode):
            return False
        self.best, self.best_epoch = float(value), epoch
        return True

    def state_dict(self) -> dict[str, Any]:
        return asdict(self)

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.best, self.best_epoch = state["best"], state["best_epoch"]


@dataclass
class EarlyStopping:
    """Stop after `patience` evaluations without an improvement larger than `min_delta`."""

    monitor: str
    mode: str
    patience: int
    min_delta: float = 0.0
    best: float | None = None
    bad_evaluations: int = 0

    def update(self, value: float | None) -> None:
        if improves(value, self.best, self.mode, self.min_delta):
            self.best, self.bad_evaluations = float(value), 0
        else:
            self.bad_evaluations += 1

    @property
    def should_stop(self) -> bool:
        return self.bad_evaluations >= self.patience

    def state_dict(self) -> dict[str, Any]:
        return {"best": self.best, "bad_evaluations": self.bad_evaluations}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.best, self.bad_evaluations = state["best"], state["bad_evaluations"]
