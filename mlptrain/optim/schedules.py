"""Learning-rate schedules: ``lr = sched.lr_at(step, steps_per_epoch)``.

``lr_at`` is a pure function of the global step (``epoch = step / steps_per_epoch``, fractional,
so the lr may change every batch); ``end_epoch(metric)`` is called by the loop at each epoch end
and only ``plateau`` uses it. ``state_dict()`` / ``load_state_dict()`` restore exactly
(``{"arrays": {}, "scalars": {...}}``, strict about keys).

=================  ==========================================================================
constant           ``lr``
step               ``lr * gamma ** floor(epoch / step_size)``
exponential        ``lr * gamma ** epoch``
cosine             warm-up ``lr * min(1, (step + 1) / (warmup_epochs * steps_per_epoch))``, then
                   ``min_lr + (lr - min_lr) * (1 + cos(pi * q)) / 2``,
                   ``q = clip((epoch - warmup_epochs) / (epochs - warmup_epochs), 0, 1)``
inverse_time       ``lr / (1 + decay * epoch) ** power``
plateau            PyTorch ``ReduceLROnPlateau`` (rel threshold): after more than ``patience``
                   epochs without improvement, ``lr = max(lr * factor, min_lr)``
=================  ==========================================================================

``SCHEDULES`` registers each (mlptrain/registry.py): the config's ``schedule`` section, the
builder and the config reference follow it. A constructor argument named ``epochs`` (the
training length) is filled by the builder from ``train.epochs``.
"""

from __future__ import annotations

import math
from typing import Any, Literal

from mlptrain.registry import Param, Registry

SCHEDULES: Registry[Schedule] = Registry("schedule", shared=[
    Param("min_lr", "the lowest learning rate.", ge=0.0),
])
"""Every schedule by name; `register` adds one (see mlptrain/registry.py)."""


def _check_step(step: int, steps_per_epoch: int) -> float:
    if steps_per_epoch < 1:
        raise ValueError(f"steps_per_epoch must be >= 1, got {steps_per_epoch!r}")
    if step < 0:
        raise ValueError(f"step must be >= 0, got {step!r}")
    return step / steps_per_epoch


def _positive(name: str, value) -> float:
    if not float(value) > 0:
        raise ValueError(f"{name} must be > 0, got {value!r}")
    return float(value)


class Schedule:
    """Base class: stateless schedules have empty state."""

    name = "schedule"

    def __init__(self, lr: float):
        self.lr = _positive("lr", lr)

    def lr_at(self, step: int, steps_per_epoch: int) -> float:
        raise NotImplementedError

    def end_epoch(self, metric: float | None = None) -> None:
        """Called at every epoch end; a no-op except for plateau schedules."""

    def _scalars(self) -> dict:
        return {}

    def state_dict(self) -> dict:
        return {"arrays": {}, "scalars": {"name": self.name, **self._scalars()}}

    def load_state_dict(self, state: dict) -> None:
        if not isinstance(state, dict) or set(state) != {"arrays", "scalars"} or state["arrays"]:
            raise ValueError("schedule state must be {'arrays': {}, 'scalars': {...}}")
        s = state["scalars"]
        if s.get("name") == getattr(self, "_legacy_name", None):
            s = {**s, "name": self.name}
        if s.get("name") != self.name:
            raise ValueError(f"schedule state is for {s.get('name')!r}, not {self.name!r}")
        want = set(self._scalars()) | {"name"}
        if set(s) != want:
            raise ValueError(f"schedule scalars must have keys {sorted(want)}, got {sorted(s)}")
        self._load(s)

    def _load(self, s: dict) -> None:
        pass


@SCHEDULES.register("constant")
class Constant(Schedule):
    """``lr``."""

    name = "constant"

    def lr_at(self, step, steps_per_epoch):
        _check_step(step, steps_per_epoch)
        return self.lr


@SCHEDULES.register("step", params=(
    Param("step_size", "epochs between decays.", ge=1),
    Param("gamma", "factor per decay.", gt=0.0, le=1.0),
))
class StepDecay(Schedule):
    """``lr * gamma ** floor(epoch / step_size)`` (PyTorch ``StepLR`` per epoch)."""

    name = "step"

    def __init__(self, lr: float, step_size: int = 10, gamma: float = 0.1):
        super().__init__(lr)
        if not (isinstance(step_size, int) and step_size >= 1):
            raise ValueError(f"step_size must be an int >= 1, got {step_size!r}")
        self.step_size, self.gamma = step_size, _positive("gamma", gamma)

    def lr_at(self, step, steps_per_epoch):
        epoch = _check_step(step, steps_per_epoch)
        return self.lr * self.gamma ** math.floor(epoch / self.step_size + 1e-12)


@SCHEDULES.register("exponential", params=(
    Param("gamma", "factor per epoch.", gt=0.0, le=1.0),
))
class Exponential(Schedule):
    """``lr * gamma ** epoch`` (fractional epochs interpolate geometrically)."""

    name = "exponential"

    def __init__(self, lr: float, gamma: float = 0.1):
        super().__init__(lr)
        self.gamma = _positive("gamma", gamma)

    def lr_at(self, step, steps_per_epoch):
        return self.lr * self.gamma ** _check_step(step, steps_per_epoch)


@SCHEDULES.register("cosine", params=(
    Param("warmup_epochs", "linear warm-up from 0 over this many epochs.", ge=0.0), "min_lr",
), summary="cosine (optional warm-up)")
class Cosine(Schedule):
    """Linear warm-up for ``warmup_epochs``, then cosine annealing to ``min_lr`` at ``epochs``."""

    name = "cosine"

    def __init__(self, lr: float, epochs: float, min_lr: float = 0.0, warmup_epochs: float = 0.0):
        super().__init__(lr)
        self.epochs = _positive("epochs", epochs)
        if not 0.0 <= float(min_lr) <= self.lr:
            raise ValueError(f"min_lr must be in [0, lr], got {min_lr!r}")
        if not 0.0 <= float(warmup_epochs) < self.epochs:
            raise ValueError(f"warmup_epochs must be in [0, epochs), got {warmup_epochs!r}")
        self.min_lr, self.warmup_epochs = float(min_lr), float(warmup_epochs)

    def lr_at(self, step, steps_per_epoch):
        epoch = _check_step(step, steps_per_epoch)
        warm_steps = self.warmup_epochs * steps_per_epoch
        if step < warm_steps:
            return self.lr * min(1.0, (step + 1) / warm_steps)
        q = (epoch - self.warmup_epochs) / (self.epochs - self.warmup_epochs)
        q = min(max(q, 0.0), 1.0)
        return self.min_lr + (self.lr - self.min_lr) * 0.5 * (1.0 + math.cos(math.pi * q))


@SCHEDULES.register("inverse_time", params=(
    Param("decay", "lr = lr0 / (1 + decay * epoch)^power.", ge=0.0),
    Param("power", "the exponent power.", gt=0.0),
), summary="inverse_time (lr0 / (1 + decay * epoch)^power, the classic SGD decay)")
class InverseTime(Schedule):
    """``lr / (1 + decay * epoch) ** power``."""

    name = "inverse_time"

    def __init__(self, lr: float, decay: float = 1.0, power: float = 0.5):
        super().__init__(lr)
        if not float(decay) >= 0:
            raise ValueError(f"decay must be >= 0, got {decay!r}")
        self.decay, self.power = float(decay), _positive("power", power)

    def lr_at(self, step, steps_per_epoch):
        return self.lr / (1.0 + self.decay * _check_step(step, steps_per_epoch)) ** self.power


MonitorMode = Literal["auto", "min", "max"]


@SCHEDULES.register("plateau", params=(
    Param("factor", "factor on each reduction.", gt=0.0, lt=1.0),
    Param("patience", "epochs without improvement to wait.", ge=0),
    Param("threshold", "relative improvement that counts.", ge=0.0),
    "min_lr",
    Param("monitor", "the metric watched."),
    Param("mode", "min or max; auto: from the metric.", annotation=MonitorMode),
), summary="plateau (reduce on plateau of a monitored metric)", aliases=("reduce_on_plateau",),
   pytorch={"patience": 10, "mode": "min"})
class ReduceOnPlateau(Schedule):
    """PyTorch ``ReduceLROnPlateau`` (threshold_mode "rel")::

        better = m < best * (1 - threshold)  (mode "min");  m > best * (1 + threshold)  ("max")
        if better: best, bad = m, 0  else: bad += 1
        if cooldown_left > 0: cooldown_left -= 1; bad = 0
        if bad > patience: lr = max(lr * factor, min_lr); cooldown_left = cooldown; bad = 0

    A non-finite metric never counts as an improvement. ``lr_at`` returns the current lr.
    ``monitor`` names the metric the loop passes to ``end_epoch``; ``mode`` "auto" is "max"
    for accuracies, r2, F1, ROC-AUC and average precision, "min" otherwise.
    """

    name = "plateau"
    _legacy_name = "reduce_on_plateau"  # the state's name before 2026-12 (still loaded)

    def __init__(self, lr: float, mode: str = "auto", factor: float = 0.1, patience: int = 5,
                 threshold: float = 1e-4, min_lr: float = 0.0, cooldown: int = 0,
                 monitor: str = "val_loss"):
        from mlptrain.metrics import monitor_mode

        super().__init__(lr)
        self.monitor = str(monitor)
        mode = monitor_mode(self.monitor, mode)
        if mode not in ("min", "max"):
            raise ValueError(f"mode must be 'min' or 'max', got {mode!r}")
        if not 0.0 < float(factor) < 1.0:
            raise ValueError(f"factor must be in (0, 1), got {factor!r}")
        if not (isinstance(patience, int) and patience >= 0):
            raise ValueError(f"patience must be an int >= 0, got {patience!r}")
        if not (isinstance(cooldown, int) and cooldown >= 0):
            raise ValueError(f"cooldown must be an int >= 0, got {cooldown!r}")
        if not float(threshold) >= 0 or not float(min_lr) >= 0:
            raise ValueError(f"threshold and min_lr must be >= 0, got {threshold!r}, {min_lr!r}")
        self.mode, self.factor, self.patience = mode, float(factor), patience
        self.threshold, self.min_lr, self.cooldown = float(threshold), float(min_lr), cooldown
        self.current_lr, self.num_bad, self.cooldown_left = self.lr, 0, 0
        self.best: float | None = None

    def lr_at(self, step, steps_per_epoch):
        _check_step(step, steps_per_epoch)
        return self.current_lr

    def _better(self, m: float) -> bool:
        if not math.isfinite(m):
            return False
        if self.best is None:
            return True
        if self.mode == "min":
            return m < self.best * (1.0 - self.threshold) if self.best >= 0 else m < self.best - abs(self.best) * self.threshold
        return m > self.best * (1.0 + self.threshold) if self.best >= 0 else m > self.best + abs(self.best) * self.threshold

    def end_epoch(self, metric: float | None = None) -> None:
        if metric is None:
            raise ValueError("plateau needs the monitored metric at every epoch end")
        m = float(metric)
        if self._better(m):
            self.best, self.num_bad = m, 0
        else:
            self.num_bad += 1
        if self.cooldown_left > 0:
            self.cooldown_left -= 1
            self.num_bad = 0
        if self.num_bad > self.patience:
            self.current_lr = max(self.current_lr * self.factor, self.min_lr)
            self.cooldown_left, self.num_bad = self.cooldown, 0

    def _scalars(self):
        return {"current_lr": self.current_lr, "best": self.best, "num_bad": self.num_bad,
                "cooldown_left": self.cooldown_left}

    def _load(self, s):
        self.current_lr = float(s["current_lr"])
        self.best = None if s["best"] is None else float(s["best"])
        self.num_bad, self.cooldown_left = int(s["num_bad"]), int(s["cooldown_left"])


def get_schedule(name: str, lr: float, **kwargs: Any) -> Schedule:
    """A schedule by name with base learning rate ``lr``."""
    return SCHEDULES.create(name, lr, **kwargs)
