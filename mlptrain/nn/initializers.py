"""Weight initializers: fill a ``(fan_in, fan_out)`` weight view in place from a Generator.

=================  ==========================================  ======================
name (aliases)     distribution                                variance
=================  ==========================================  ======================
xavier_normal      N(0, std^2), std = sqrt(2 / (in + out))      2 / (in + out)
 (glorot_normal)
xavier_uniform     U(-L, L), L = sqrt(6 / (in + out))           2 / (in + out)
 (glorot_uniform)
he_normal          N(0, std^2), std = sqrt(2 / in)              2 / in
 (kaiming_normal)
he_uniform         U(-L, L), L = sqrt(6 / in)                   2 / in
 (kaiming_uniform)
lecun_normal       N(0, std^2), std = sqrt(1 / in)              1 / in
normal(std=0.01)   N(0, std^2)                                  std^2
uniform(limit=.01) U(-limit, limit)                             limit^2 / 3
=================  ==========================================  ======================

(Plain, not truncated, normals; PyTorch's ``xavier_*_`` / ``kaiming_*_(mode='fan_in')``
conventions.) ``"auto"`` resolves per layer through :func:`default_init` to the activation's
``default_init``: ``he_normal`` for the relu family (relu, leaky_relu, elu, gelu),
``xavier_uniform`` otherwise (sigmoid, tanh, softplus, identity, and the output layer).
Each initializer is registered in ``INITIALIZERS`` (mlptrain/registry.py), aliases included;
``std`` and ``limit`` are the config's ``model.init_scale``. Biases are not touched here: they start at the
constant ``bias_init`` (default 0). Draws are made directly in the array's dtype
(``standard_normal(out=)``, ``random(out=)``), so no float64 array is created.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from mlptrain.nn.activations import ACTIVATIONS, Activation
from mlptrain.registry import Param, Registry

INITIALIZERS: Registry[Initializer] = Registry("init")
"""Every initializer by name (aliases included); `register` adds one (mlptrain/registry.py)."""


class Initializer:
    """Base class: ``init(w, rng)`` fills ``w: (fan_in, fan_out)`` in place and returns it."""

    name = "initializer"

    def get_config(self) -> dict:
        return {"name": self.name}

    def variance(self, fan_in: int, fan_out: int) -> float:
        raise NotImplementedError

    def __call__(self, w: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        raise NotImplementedError


class _NormalBase(Initializer):
    def __call__(self, w, rng):
        fan_in, fan_out = w.shape
        rng.standard_normal(dtype=w.dtype, out=w)
        w *= math.sqrt(self.variance(fan_in, fan_out))
        return w


class _UniformBase(Initializer):
    def __call__(self, w, rng):
        fan_in, fan_out = w.shape
        limit = math.sqrt(3.0 * self.variance(fan_in, fan_out))  # var of U(-L, L) is L^2 / 3
        rng.random(dtype=w.dtype, out=w)  # [0, 1)
        w *= 2.0 * limit
        w -= limit
        return w


@INITIALIZERS.register("xavier_normal", aliases=("glorot_normal",))
class XavierNormal(_NormalBase):
    """``N(0, 2 / (fan_in + fan_out))`` (Glorot & Bengio 2010)."""

    name = "xavier_normal"

    def variance(self, fan_in, fan_out):
        return 2.0 / (fan_in + fan_out)


@INITIALIZERS.register("xavier_uniform", aliases=("glorot_uniform",))
class XavierUniform(_UniformBase):
    """``U(-sqrt(6 / (fan_in + fan_out)), +...)``, variance ``2 / (fan_in + fan_out)``."""

    name = "xavier_uniform"

    def variance(self, fan_in, fan_out):
        return 2.0 / (fan_in + fan_out)


@INITIALIZERS.register("he_normal", aliases=("kaiming_normal",))
class HeNormal(_NormalBase):
    """``N(0, 2 / fan_in)`` (He et al. 2015)."""

    name = "he_normal"

    def variance(self, fan_in, fan_out):
        return 2.0 / fan_in


@INITIALIZERS.register("he_uniform", aliases=("kaiming_uniform",))
class HeUniform(_UniformBase):
    """``U(-sqrt(6 / fan_in), +...)``, variance ``2 / fan_in``."""

    name = "he_uniform"

    def variance(self, fan_in, fan_out):
        return 2.0 / fan_in


@INITIALIZERS.register("lecun_normal")
class LecunNormal(_NormalBase):
    """``N(0, 1 / fan_in)``."""

    name = "lecun_normal"

    def variance(self, fan_in, fan_out):
        return 1.0 / fan_in


@INITIALIZERS.register("normal", params=(
    Param("std", "std of N(0, std^2)", key="init_scale", gt=0.0),
))
class Normal(_NormalBase):
    """``N(0, std^2)``."""

    name = "normal"

    def __init__(self, std: float = 0.01):
        if not float(std) > 0:
            raise ValueError(f"normal init std must be > 0, got {std!r}")
        self.std = float(std)

    def get_config(self):
        return {"name": self.name, "std": self.std}

    def variance(self, fan_in, fan_out):
        return self.std**2


@INITIALIZERS.register("uniform", params=(
    Param("limit", "limit of U(-limit, limit)", key="init_scale", gt=0.0),
))
class Uniform(_UniformBase):
    """``U(-limit, limit)``, variance ``limit^2 / 3``."""

    name = "uniform"

    def __init__(self, limit: float = 0.01):
        if not float(limit) > 0:
            raise ValueError(f"uniform init limit must be > 0, got {limit!r}")
        self.limit = float(limit)

    def get_config(self):
        return {"name": self.name, "limit": self.limit}

    def variance(self, fan_in, fan_out):
        return self.limit**2 / 3.0


def default_init(activation: str) -> str:
    """The ``"auto"`` choice: the activation's ``default_init`` (``he_normal`` for the relu
    family, ``xavier_uniform`` otherwise, and for names that are not hidden activations)."""
    cls = ACTIVATIONS.get(activation)
    return cls.default_init if cls is not None else Activation.default_init


def get_initializer(spec: str | dict[str, Any], activation: str = "identity") -> Initializer:
    """An initializer from a name or ``{"name": ..., **kwargs}``; ``"auto"`` uses ``activation``."""
    from mlptrain.registry import parse_spec

    name, kwargs = parse_spec(spec, "init")
    if name == "auto":
        name = default_init(activation)
    if name not in INITIALIZERS:
        raise ValueError(f"unknown init {name!r}; choose one of {sorted([*INITIALIZERS, 'auto'])}")
    return INITIALIZERS.create(name, **kwargs)
