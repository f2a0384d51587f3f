"""mlptrain: train multi-layer perceptrons from YAML configs on a hand-written NumPy core.

``import mlptrain`` stays cheap: ``MLP`` and the other public names are imported on first use.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

_LAZY = {
    "MLP": "mlptrain.nn.network",
    "get_loss": "mlptrain.nn.losses",
    "balanced_class_weights": "mlptrain.nn.losses",
    "OPTIMIZERS": "mlptrain.optim.optimizers",
    "get_optimizer": "mlptrain.optim.optimizers",
    "SCHEDULES": "mlptrain.optim.schedules",
    "get_schedule": "mlptrain.optim.schedules",
    "clip_grad_norm_": "mlptrain.optim.clipping",
    "load": "mlptrain.api",
    "fit": "mlptrain.api",
    "Model": "mlptrain.api",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'mlptrain' has no attribute {name!r}")


def __dir__():
    return sorted([*globals(), *_LAZY])
