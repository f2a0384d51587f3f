"""Gradient clipping by global norm, on the flat gradient vector."""

from __future__ import annotations

import math

import numpy as np


def global_norm(grads: np.ndarray) -> float:
    """``sqrt(sum(g * g))`` over the whole flat vector (no temporary array)."""
    g = grads.ravel()
    return math.sqrt(float(np.dot(g, g)))


def clip_grad_norm_(grads: np.ndarray, max_norm: float) -> float:
    """Scale ``grads`` in place so that its global norm is at most ``max_norm`` (PyTorch's
    ``clip_grad_norm_``)::

        norm = sqrt(sum(g * g))
        if norm > max_norm: g *= max_norm / (norm + 1e-6)

    Returns the norm BEFORE clipping. A non-finite norm leaves ``grads`` untouched (the caller's
    divergence check sees it).
    """
    if not float(max_norm) > 0:
        raise ValueError(f"max_norm must be > 0, got {max_norm!r}")
    norm = global_norm(grads)
    if math.isfinite(norm) and norm > max_norm:
        grads *= float(max_norm) / (norm + 1e-6)
    return norm
