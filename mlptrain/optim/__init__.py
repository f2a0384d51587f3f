"""Optimizers on one flat parameter vector, learning-rate schedules and gradient clipping."""

from mlptrain.optim.clipping import clip_grad_norm_, global_norm
from mlptrain.optim.lbfgs import LBFGS  # registers "lbfgs"
from mlptrain.optim.optimizers import OPTIMIZERS, Optimizer, get_optimizer
from mlptrain.optim.schedules import SCHEDULES, Schedule, get_schedule

__all__ = [
    "LBFGS",
    "OPTIMIZERS",
    "SCHEDULES",
    "Optimizer",
    "Schedule",
    "clip_grad_norm_",
    "get_optimizer",
    "get_schedule",
    "global_norm",
]
