"""Monitors of a metric over evaluations: the best-so-far tracker and early stopping.

Both keep their whole state in a small dict so that a resumed run continues with the same
best value and patience counter (the peers lose these, and their users file bugs about it).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, TypeGuard


def improves(
    value: float | None, best: float | None, mode: str, min_delta: float = 0.0
) -> TypeGuard[float]:
    """True when `value` is a number that beats `best` by more than `min_delta` in direction
    `mode` (a missing or non-finite value never does)."""
    if value is None or not math.isfinite(value):
        return False
    if best is None:
        return True
    return value < best - min_delta if mode == "min" else value > best + min_delta


def _saved_best(value: Any) -> float | None:
    """A best value read back from a checkpoint (untrusted): None or a real number."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
        raise ValueError(f"a monitor's saved best value must be a number or null, not {value!r}")
    return float(value)


def _saved_count(value: Any, what: str) -> int:
    """A counter read back from a checkpoint (untrusted): an integer >= 0."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"a monitor's saved {what} must be an integer >= 0, not {value!r}")
    return value


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
        epoch = state["best_epoch"]
        self.best = _saved_best(state["best"])
        self.best_epoch = None if epoch is None else _saved_count(epoch, "best epoch")


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
        self.best = _saved_best(state["best"])
        self.bad_evaluations = _saved_count(state["bad_evaluations"], "count of bad evaluations")
